//! The wire format of the Osmocom CTRL interface: IPA frames carrying ASCII
//! commands.
//!
//! An IPA frame is a 3-byte header — a big-endian `u16` length, then a stream id —
//! followed by `length` bytes of data. CTRL uses the Osmocom extension stream
//! (`0xEE`) whose first data byte is the extension id (`0x00` = CTRL), so a CTRL
//! message `SET 1 x 0` travels as
//!
//! ```text
//! 00 0A  EE  00  53 45 54 20 31 20 78 20 30
//! len=10 |   |   "SET 1 x 0" (9 bytes)
//!        |   extension id: CTRL
//!        stream id: OSMO extension
//! ```
//!
//! The length counts everything after the 3-byte header, i.e. the extension byte
//! plus the text (checked against osmo-hlr 1.5.0). Commands are `GET <id> <var>`
//! and `SET <id> <var> <value>`; the server answers `GET_REPLY <id> <var> <value>`,
//! `SET_REPLY <id> <var> <value>` or `ERROR <id> <text>` (with id `err` when it
//! could not even read the request), and may push `TRAP <id> <var> <value>` at
//! any time. Values run to the end of the frame and may contain spaces and newlines.

/// The IPA stream id of Osmocom extensions.
pub const STREAM_OSMO: u8 = 0xEE;
/// The IPA stream id of connection management (ping/pong, identity).
pub const STREAM_CCM: u8 = 0xFE;
/// The Osmocom extension id of CTRL.
pub const EXT_CTRL: u8 = 0x00;
/// CCM message types.
pub const CCM_PING: u8 = 0x00;
pub const CCM_PONG: u8 = 0x01;
/// Bytes before a frame's data.
pub const HEADER_LEN: usize = 3;
/// The largest data length the `u16` length field can express.
pub const MAX_DATA_LEN: usize = u16::MAX as usize;

/// One IPA frame: its stream id and its data (for CTRL: the extension byte, then text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub stream: u8,
    pub data: Vec<u8>,
}

impl Frame {
    /// The CTRL text of this frame, if it is a CTRL frame.
    pub fn ctrl_payload(&self) -> Option<&[u8]> {
        match self.data.split_first() {
            Some((&EXT_CTRL, rest)) if self.stream == STREAM_OSMO => Some(rest),
            _ => None,
        }
    }
    /// Whether this is an IPA keep-alive ping (which a peer answers with a pong).
    pub fn is_ping(&self) -> bool {
        self.stream == STREAM_CCM && self.data.first() == Some(&CCM_PING)
    }
}

/// Why bytes are not a frame (or a frame cannot be written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame announces (or would need) more data than allowed.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
}

/// Writes one frame.
pub fn encode(stream: u8, data: &[u8]) -> Result<Vec<u8>, FrameError> {
    let len = u16::try_from(data.len()).map_err(|_| FrameError::TooLarge { len: data.len(), max: MAX_DATA_LEN })?;
    let mut out = Vec::with_capacity(HEADER_LEN + data.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.push(stream);
    out.extend_from_slice(data);
    Ok(out)
}

/// Writes one CTRL message (`text` is the ASCII command).
pub fn encode_ctrl(text: &str) -> Result<Vec<u8>, FrameError> {
    let mut data = Vec::with_capacity(1 + text.len());
    data.push(EXT_CTRL);
    data.extend_from_slice(text.as_bytes());
    encode(STREAM_OSMO, &data)
}

/// Reads the first frame of `buf`: `Ok(None)` when more bytes are needed, else the
/// frame and how many bytes it used. A frame announcing more than `max_data` bytes is
/// refused as soon as its header arrives, so a peer cannot make us buffer it.
pub fn decode(buf: &[u8], max_data: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    let [hi, lo, stream, ..] = *buf else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > max_data {
        return Err(FrameError::TooLarge { len, max: max_data });
    }
    let end = HEADER_LEN + len;
    match buf.get(HEADER_LEN..end) {
        Some(data) => Ok(Some((Frame { stream, data: data.to_vec() }, end))),
        None => Ok(None),
    }
}

/// A parsed CTRL message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrlMessage {
    Get { id: String, var: String },
    Set { id: String, var: String, value: String },
    GetReply { id: String, var: String, value: String },
    SetReply { id: String, var: String, value: String },
    Error { id: String, text: String },
    Trap { id: String, var: String, value: String },
}

/// Why a CTRL text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("CTRL message is not ASCII text")]
    NotText,
    #[error("CTRL message has an unknown type")]
    UnknownType,
    #[error("CTRL message is incomplete")]
    Incomplete,
}

/// Splits off the next space-separated token (which must be non-empty).
fn token(s: &str) -> Result<(&str, &str), ParseError> {
    let (tok, rest) = s.split_once(' ').unwrap_or((s, ""));
    if tok.is_empty() || tok.contains(['\n', '\r', '\t']) {
        return Err(ParseError::Incomplete);
    }
    Ok((tok, rest))
}

/// Parses a CTRL message. Ids and variables are single tokens; values and error
/// texts are the rest of the message (possibly empty, possibly multi-line).
pub fn parse(payload: &[u8]) -> Result<CtrlMessage, ParseError> {
    if !payload.is_ascii() {
        return Err(ParseError::NotText);
    }
    let text = std::str::from_utf8(payload).map_err(|_| ParseError::NotText)?;
    let (kind, rest) = text.split_once(' ').unwrap_or((text, ""));
    let (id, rest) = token(rest)?;
    let id = id.to_owned();
    if kind == "ERROR" {
        return Ok(CtrlMessage::Error { id, text: rest.to_owned() });
    }
    let (var, value) = token(rest)?;
    let (var, value) = (var.to_owned(), value.to_owned());
    Ok(match kind {
        "GET" if value.is_empty() => CtrlMessage::Get { id, var },
        "GET" => return Err(ParseError::Incomplete),
        "SET" => CtrlMessage::Set { id, var, value },
        "GET_REPLY" => CtrlMessage::GetReply { id, var, value },
        "SET_REPLY" => CtrlMessage::SetReply { id, var, value },
        "TRAP" => CtrlMessage::Trap { id, var, value },
        _ => return Err(ParseError::UnknownType),
    })
}

impl CtrlMessage {
    /// The message as CTRL text (what [`parse`] reads back).
    pub fn to_text(&self) -> String {
        match self {
            Self::Get { id, var } => format!("GET {id} {var}"),
            Self::Set { id, var, value } => format!("SET {id} {var} {value}"),
            Self::GetReply { id, var, value } => format!("GET_REPLY {id} {var} {value}"),
            Self::SetReply { id, var, value } => format!("SET_REPLY {id} {var} {value}"),
            Self::Error { id, text } => format!("ERROR {id} {text}"),
            Self::Trap { id, var, value } => format!("TRAP {id} {var} {value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_ctrl_frames_as_osmo_hlr_expects() {
        // Bytes as captured from osmo-hlr 1.5.0's answer to `SET 9 subscriber.delete …`.
        let frame = encode_ctrl("SET 1 x 0").unwrap();
        assert_eq!(frame, b"\x00\x0a\xee\x00SET 1 x 0");
        let reply = b"\x00\x22\xee\x00ERROR 9 Subscriber doesn't exist.";
        let (frame, used) = decode(reply, MAX_DATA_LEN).unwrap().unwrap();
        assert_eq!(used, reply.len());
        let msg = parse(frame.ctrl_payload().unwrap()).unwrap();
        assert_eq!(msg, CtrlMessage::Error { id: "9".into(), text: "Subscriber doesn't exist.".into() });
    }

    #[test]
    fn decodes_incrementally_and_refuses_big_frames_early() {
        let bytes = encode_ctrl("SET_REPLY 4 subscriber.delete 1").unwrap();
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], MAX_DATA_LEN).unwrap(), None, "cut at {cut}");
        }
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        let (_, used) = decode(&two, MAX_DATA_LEN).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(decode(&[0xFF, 0xFF, 0xEE], 1024), Err(FrameError::TooLarge { len: 65535, max: 1024 }));
        assert!(encode(STREAM_OSMO, &vec![0; MAX_DATA_LEN + 1]).is_err());
    }

    #[test]
    fn parses_replies_with_multiline_values() {
        let info = "GET_REPLY 3 subscriber.by-imsi-901700000000001.info \nid\t1\nimsi\t901700000000001";
        match parse(info.as_bytes()).unwrap() {
            CtrlMessage::GetReply { id, var, value } => {
                assert_eq!((id.as_str(), var.as_str()), ("3", "subscriber.by-imsi-901700000000001.info"));
                assert!(value.starts_with("\nid\t1"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(b"SET_REPLY 8 subscriber.delete 1").unwrap(),
            CtrlMessage::SetReply { id: "8".into(), var: "subscriber.delete".into(), value: "1".into() }
        );
        assert_eq!(
            parse(b"ERROR err Invalid message ID number").unwrap(),
            CtrlMessage::Error { id: "err".into(), text: "Invalid message ID number".into() }
        );
        assert!(matches!(parse(b"TRAP 0 bts.0.location 1,2,3").unwrap(), CtrlMessage::Trap { .. }));
        assert_eq!(parse(b"GET 7 a.b").unwrap(), CtrlMessage::Get { id: "7".into(), var: "a.b".into() });
        assert_eq!(parse(b"HELLO 1 x 1"), Err(ParseError::UnknownType));
        assert_eq!(parse(b"SET_REPLY"), Err(ParseError::Incomplete));
        assert_eq!(parse(b"SET_REPLY 1"), Err(ParseError::Incomplete));
        assert_eq!(parse(b"GET_REPLY  x 1"), Err(ParseError::Incomplete));
        assert_eq!(parse(b"ERROR 1 \xff"), Err(ParseError::NotText));
        assert_eq!(parse(b""), Err(ParseError::Incomplete));
    }

    fn token_strategy() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._-]{1,20}"
    }

    proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), max in 0usize..70_000) {
            if let Ok(Some((frame, used))) = decode(&bytes, max) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(used, HEADER_LEN + frame.data.len());
                if let Some(payload) = frame.ctrl_payload() {
                    let _ = parse(payload);
                }
            }
            let _ = parse(&bytes);
        }

        #[test]
        fn frames_round_trip(stream in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..2000),
                             tail in proptest::collection::vec(any::<u8>(), 0..10)) {
            let mut bytes = encode(stream, &data).unwrap();
            let len = bytes.len();
            bytes.extend_from_slice(&tail);
            let (frame, used) = decode(&bytes, MAX_DATA_LEN).unwrap().unwrap();
            prop_assert_eq!(used, len);
            prop_assert_eq!(frame, Frame { stream, data });
        }

        #[test]
        fn messages_round_trip(id in token_strategy(), var in token_strategy(), value in "[ -~\n]{0,40}", kind in 0u8..6) {
            let msg = match kind {
                0 => CtrlMessage::Get { id, var },
                1 => CtrlMessage::Set { id, var, value },
                2 => CtrlMessage::GetReply { id, var, value },
                3 => CtrlMessage::SetReply { id, var, value },
                4 => CtrlMessage::Error { id, text: value },
                _ => CtrlMessage::Trap { id, var, value },
            };
            let frame = encode_ctrl(&msg.to_text()).unwrap();
            let (frame, _) = decode(&frame, MAX_DATA_LEN).unwrap().unwrap();
            prop_assert_eq!(parse(frame.ctrl_payload().unwrap()).unwrap(), msg);
        }
    }
}
