//! The SMPP 3.4 wire format for the handful of PDUs the adapter uses.
//!
//! Every PDU is a 16-byte header — `command_length` (the whole PDU, header
//! included), `command_id`, `command_status` and `sequence_number`, each a
//! big-endian `u32` — followed by a body of mandatory fields (integers, and
//! NUL-terminated "C-Octet strings" with a maximum length that counts the NUL) and
//! optional TLVs (`u16` tag, `u16` length, value).
//!
//! The PDUs understood here: `bind_receiver`/`bind_transmitter`/`bind_transceiver`
//! and their responses, `submit_sm`(+`_resp`), `deliver_sm`(+`_resp`),
//! `enquire_link`(+`_resp`), `unbind`(+`_resp`) and `generic_nack`. Any other command
//! decodes as [`Body::Other`] with its raw body, so the session can answer it with
//! `generic_nack`. A response whose `command_status` is not `ESME_ROK` may come
//! without a body (SMPP 3.4 §4.4.2); it decodes with empty fields and encodes the
//! same way.
//!
//! Decoding never panics: lengths are checked before every read, a PDU may not
//! announce more than [`MAX_PDU_LEN`] bytes, and strings must be UTF-8 within their
//! field's limit.

use std::fmt;

/// Bytes in a PDU header.
pub const HEADER_LEN: usize = 16;
/// The largest PDU accepted or written (node-smpp uses the same bound).
pub const MAX_PDU_LEN: usize = 16 * 1024;
/// The most bytes `short_message` can hold (its length is one octet; 255 is reserved).
pub const MAX_SHORT_MESSAGE: usize = 254;
/// The SMPP version spoken, sent in binds as `interface_version`.
pub const INTERFACE_VERSION: u8 = 0x34;

/// Command ids.
pub mod command {
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    pub const BIND_RECEIVER_RESP: u32 = 0x8000_0001;
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    pub const BIND_TRANSMITTER_RESP: u32 = 0x8000_0002;
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    pub const DELIVER_SM: u32 = 0x0000_0005;
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    pub const UNBIND: u32 = 0x0000_0006;
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
    /// The bit that marks a response.
    pub const RESPONSE_BIT: u32 = 0x8000_0000;
}

/// `command_status` values (SMPP 3.4 §5.1.3).
pub mod status {
    pub const ESME_ROK: u32 = 0x00;
    pub const ESME_RINVMSGLEN: u32 = 0x01;
    pub const ESME_RINVCMDLEN: u32 = 0x02;
    pub const ESME_RINVCMDID: u32 = 0x03;
    pub const ESME_RINVBNDSTS: u32 = 0x04;
    pub const ESME_RALYBND: u32 = 0x05;
    pub const ESME_RINVPRTFLG: u32 = 0x06;
    pub const ESME_RINVREGDLVFLG: u32 = 0x07;
    pub const ESME_RSYSERR: u32 = 0x08;
    pub const ESME_RINVSRCADR: u32 = 0x0A;
    pub const ESME_RINVDSTADR: u32 = 0x0B;
    pub const ESME_RINVMSGID: u32 = 0x0C;
    pub const ESME_RBINDFAIL: u32 = 0x0D;
    pub const ESME_RINVPASWD: u32 = 0x0E;
    pub const ESME_RINVSYSID: u32 = 0x0F;
    pub const ESME_RMSGQFUL: u32 = 0x14;
    pub const ESME_RINVSERTYP: u32 = 0x15;
    pub const ESME_RINVESMCLASS: u32 = 0x43;
    pub const ESME_RSUBMITFAIL: u32 = 0x45;
    pub const ESME_RINVSRCTON: u32 = 0x48;
    pub const ESME_RINVSRCNPI: u32 = 0x49;
    pub const ESME_RINVDSTTON: u32 = 0x50;
    pub const ESME_RINVDSTNPI: u32 = 0x51;
    pub const ESME_RINVSYSTYP: u32 = 0x53;
    pub const ESME_RTHROTTLED: u32 = 0x58;
    pub const ESME_RINVSCHED: u32 = 0x61;
    pub const ESME_RINVEXPIRY: u32 = 0x62;
    pub const ESME_RX_T_APPN: u32 = 0x64;
    pub const ESME_RX_P_APPN: u32 = 0x65;
    pub const ESME_RX_R_APPN: u32 = 0x66;
    pub const ESME_RINVOPTPARSTREAM: u32 = 0xC0;
    pub const ESME_ROPTPARNOTALLWD: u32 = 0xC1;
    pub const ESME_RINVPARLEN: u32 = 0xC2;
    pub const ESME_RDELIVERYFAILURE: u32 = 0xFE;
    pub const ESME_RUNKNOWNERR: u32 = 0xFF;

    /// The status's name, e.g. `ESME_RTHROTTLED`, or `unknown` for values not listed here.
    pub fn name(status: u32) -> &'static str {
        match status {
            ESME_ROK => "ESME_ROK",
            ESME_RINVMSGLEN => "ESME_RINVMSGLEN",
            ESME_RINVCMDLEN => "ESME_RINVCMDLEN",
            ESME_RINVCMDID => "ESME_RINVCMDID",
            ESME_RINVBNDSTS => "ESME_RINVBNDSTS",
            ESME_RALYBND => "ESME_RALYBND",
            ESME_RINVPRTFLG => "ESME_RINVPRTFLG",
            ESME_RINVREGDLVFLG => "ESME_RINVREGDLVFLG",
            ESME_RSYSERR => "ESME_RSYSERR",
            ESME_RINVSRCADR => "ESME_RINVSRCADR",
            ESME_RINVDSTADR => "ESME_RINVDSTADR",
            ESME_RINVMSGID => "ESME_RINVMSGID",
            ESME_RBINDFAIL => "ESME_RBINDFAIL",
            ESME_RINVPASWD => "ESME_RINVPASWD",
            ESME_RINVSYSID => "ESME_RINVSYSID",
            ESME_RMSGQFUL => "ESME_RMSGQFUL",
            ESME_RINVSERTYP => "ESME_RINVSERTYP",
            ESME_RINVESMCLASS => "ESME_RINVESMCLASS",
            ESME_RSUBMITFAIL => "ESME_RSUBMITFAIL",
            ESME_RINVSRCTON => "ESME_RINVSRCTON",
            ESME_RINVSRCNPI => "ESME_RINVSRCNPI",
            ESME_RINVDSTTON => "ESME_RINVDSTTON",
            ESME_RINVDSTNPI => "ESME_RINVDSTNPI",
            ESME_RINVSYSTYP => "ESME_RINVSYSTYP",
            ESME_RTHROTTLED => "ESME_RTHROTTLED",
            ESME_RINVSCHED => "ESME_RINVSCHED",
            ESME_RINVEXPIRY => "ESME_RINVEXPIRY",
            ESME_RX_T_APPN => "ESME_RX_T_APPN",
            ESME_RX_P_APPN => "ESME_RX_P_APPN",
            ESME_RX_R_APPN => "ESME_RX_R_APPN",
            ESME_RINVOPTPARSTREAM => "ESME_RINVOPTPARSTREAM",
            ESME_ROPTPARNOTALLWD => "ESME_ROPTPARNOTALLWD",
            ESME_RINVPARLEN => "ESME_RINVPARLEN",
            ESME_RDELIVERYFAILURE => "ESME_RDELIVERYFAILURE",
            ESME_RUNKNOWNERR => "ESME_RUNKNOWNERR",
            _ => "unknown",
        }
    }
}

/// Optional-parameter tags used here.
pub mod tag {
    /// The SMSC message id a delivery receipt refers to (C-Octet string).
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    /// The message's final state in a receipt (1 octet; 2 = delivered).
    pub const MESSAGE_STATE: u16 = 0x0427;
    /// The SMSC's supported SMPP version, in bind responses.
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
}

/// Field limits: the most bytes of each C-Octet string, counting its NUL.
mod limit {
    pub const SYSTEM_ID: usize = 16;
    pub const PASSWORD: usize = 9;
    pub const SYSTEM_TYPE: usize = 13;
    pub const ADDRESS_RANGE: usize = 41;
    pub const SERVICE_TYPE: usize = 6;
    pub const ADDR: usize = 21;
    pub const TIME: usize = 17;
    pub const MESSAGE_ID: usize = 65;
}

/// Why bytes are not a PDU, or a PDU cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// `command_length` below the header size.
    #[error("command_length {0} is shorter than the header")]
    TooShort(u32),
    /// A PDU longer than the limit.
    #[error("PDU of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    /// The body ended inside a field.
    #[error("PDU body ends inside field {0}")]
    Truncated(&'static str),
    /// A C-Octet string without its NUL within the field's limit.
    #[error("field {0} is too long or not NUL-terminated")]
    BadString(&'static str),
    /// A string that is not UTF-8.
    #[error("field {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A value that cannot be written (too long, contains NUL, ...).
    #[error("field {0} cannot be encoded")]
    Unencodable(&'static str),
}

impl PduError {
    /// The `command_status` to answer a request that failed to decode with.
    pub fn status(&self) -> u32 {
        match self {
            Self::TooShort(_) | Self::TooLarge { .. } => status::ESME_RINVCMDLEN,
            _ => status::ESME_RINVMSGLEN,
        }
    }
}

/// A PDU header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub command_length: u32,
    pub command_id: u32,
    pub command_status: u32,
    pub sequence_number: u32,
}

impl Header {
    /// Reads a header from the first 16 bytes, if there are that many.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        let word = |i: usize| -> Option<u32> {
            let b = bytes.get(i * 4..i * 4 + 4)?;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        Some(Header {
            command_length: word(0)?,
            command_id: word(1)?,
            command_status: word(2)?,
            sequence_number: word(3)?,
        })
    }
}

/// An optional parameter.
#[derive(Clone, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u16,
    pub value: Vec<u8>,
}

impl fmt::Debug for Tlv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tlv({:#06x}, {} bytes)", self.tag, self.value.len())
    }
}

/// The body of a bind request.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bind {
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
}

impl fmt::Debug for Bind {
    /// Never shows the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bind")
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("system_type", &self.system_type)
            .field("interface_version", &self.interface_version)
            .field("addr_ton", &self.addr_ton)
            .field("addr_npi", &self.addr_npi)
            .field("address_range", &self.address_range)
            .finish()
    }
}

/// The body of a bind response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindResp {
    pub system_id: String,
    pub tlvs: Vec<Tlv>,
}

/// The body of `submit_sm` and `deliver_sm` (same layout).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sm {
    pub service_type: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub replace_if_present_flag: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    pub short_message: Vec<u8>,
    pub tlvs: Vec<Tlv>,
}

impl Sm {
    /// The value of the first TLV with this tag.
    pub fn tlv(&self, tag: u16) -> Option<&[u8]> {
        self.tlvs.iter().find(|t| t.tag == tag).map(|t| t.value.as_slice())
    }
}

impl fmt::Debug for Sm {
    /// Addresses and the message are personal data: only their sizes are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm")
            .field("esm_class", &self.esm_class)
            .field("data_coding", &self.data_coding)
            .field("registered_delivery", &self.registered_delivery)
            .field("short_message_len", &self.short_message.len())
            .field("tlvs", &self.tlvs)
            .finish_non_exhaustive()
    }
}

/// The body of `submit_sm_resp` / `deliver_sm_resp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageIdResp {
    pub message_id: String,
    pub tlvs: Vec<Tlv>,
}

/// What a PDU carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    BindReceiver(Bind),
    BindTransmitter(Bind),
    BindTransceiver(Bind),
    BindReceiverResp(BindResp),
    BindTransmitterResp(BindResp),
    BindTransceiverResp(BindResp),
    SubmitSm(Sm),
    SubmitSmResp(MessageIdResp),
    DeliverSm(Sm),
    DeliverSmResp(MessageIdResp),
    EnquireLink,
    EnquireLinkResp,
    Unbind,
    UnbindResp,
    GenericNack,
    /// A command not handled here, with its raw body.
    Other {
        command_id: u32,
        body: Vec<u8>,
    },
}

impl Body {
    /// The command id of this body.
    pub fn command_id(&self) -> u32 {
        use command::*;
        match self {
            Self::BindReceiver(_) => BIND_RECEIVER,
            Self::BindTransmitter(_) => BIND_TRANSMITTER,
            Self::BindTransceiver(_) => BIND_TRANSCEIVER,
            Self::BindReceiverResp(_) => BIND_RECEIVER_RESP,
            Self::BindTransmitterResp(_) => BIND_TRANSMITTER_RESP,
            Self::BindTransceiverResp(_) => BIND_TRANSCEIVER_RESP,
            Self::SubmitSm(_) => SUBMIT_SM,
            Self::SubmitSmResp(_) => SUBMIT_SM_RESP,
            Self::DeliverSm(_) => DELIVER_SM,
            Self::DeliverSmResp(_) => DELIVER_SM_RESP,
            Self::EnquireLink => ENQUIRE_LINK,
            Self::EnquireLinkResp => ENQUIRE_LINK_RESP,
            Self::Unbind => UNBIND,
            Self::UnbindResp => UNBIND_RESP,
            Self::GenericNack => GENERIC_NACK,
            Self::Other { command_id, .. } => *command_id,
        }
    }
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::BindReceiver(_) => "bind_receiver",
            Self::BindTransmitter(_) => "bind_transmitter",
            Self::BindTransceiver(_) => "bind_transceiver",
            Self::BindReceiverResp(_) => "bind_receiver_resp",
            Self::BindTransmitterResp(_) => "bind_transmitter_resp",
            Self::BindTransceiverResp(_) => "bind_transceiver_resp",
            Self::SubmitSm(_) => "submit_sm",
            Self::SubmitSmResp(_) => "submit_sm_resp",
            Self::DeliverSm(_) => "deliver_sm",
            Self::DeliverSmResp(_) => "deliver_sm_resp",
            Self::EnquireLink => "enquire_link",
            Self::EnquireLinkResp => "enquire_link_resp",
            Self::Unbind => "unbind",
            Self::UnbindResp => "unbind_resp",
            Self::GenericNack => "generic_nack",
            Self::Other { .. } => "other",
        }
    }
}

/// One PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub command_status: u32,
    pub sequence_number: u32,
    pub body: Body,
}

impl Pdu {
    /// A request (status 0).
    pub fn request(sequence_number: u32, body: Body) -> Pdu {
        Pdu { command_status: status::ESME_ROK, sequence_number, body }
    }
    /// A response with a status.
    pub fn response(sequence_number: u32, command_status: u32, body: Body) -> Pdu {
        Pdu { command_status, sequence_number, body }
    }
    /// Whether this PDU is a response (the high bit of its command id).
    pub fn is_response(&self) -> bool {
        self.body.command_id() & command::RESPONSE_BIT != 0
    }

    /// Writes the PDU.
    pub fn encode(&self) -> Result<Vec<u8>, PduError> {
        let mut out = vec![0u8; HEADER_LEN];
        let failed = self.command_status != status::ESME_ROK;
        match &self.body {
            Body::BindReceiver(b) | Body::BindTransmitter(b) | Body::BindTransceiver(b) => {
                put_cstr(&mut out, &b.system_id, limit::SYSTEM_ID, "system_id")?;
                put_cstr(&mut out, &b.password, limit::PASSWORD, "password")?;
                put_cstr(&mut out, &b.system_type, limit::SYSTEM_TYPE, "system_type")?;
                out.extend_from_slice(&[b.interface_version, b.addr_ton, b.addr_npi]);
                put_cstr(&mut out, &b.address_range, limit::ADDRESS_RANGE, "address_range")?;
            }
            Body::BindReceiverResp(r) | Body::BindTransmitterResp(r) | Body::BindTransceiverResp(r) => {
                if !(failed && r.system_id.is_empty() && r.tlvs.is_empty()) {
                    put_cstr(&mut out, &r.system_id, limit::SYSTEM_ID, "system_id")?;
                    put_tlvs(&mut out, &r.tlvs)?;
                }
            }
            Body::SubmitSm(sm) | Body::DeliverSm(sm) => put_sm(&mut out, sm)?,
            Body::SubmitSmResp(r) | Body::DeliverSmResp(r) => {
                if !(failed && r.message_id.is_empty() && r.tlvs.is_empty()) {
                    put_cstr(&mut out, &r.message_id, limit::MESSAGE_ID, "message_id")?;
                    put_tlvs(&mut out, &r.tlvs)?;
                }
            }
            Body::EnquireLink | Body::EnquireLinkResp | Body::Unbind | Body::UnbindResp | Body::GenericNack => {}
            Body::Other { body, .. } => out.extend_from_slice(body),
        }
        if out.len() > MAX_PDU_LEN {
            return Err(PduError::TooLarge { len: out.len(), max: MAX_PDU_LEN });
        }
        let len = u32::try_from(out.len()).map_err(|_| PduError::TooLarge { len: out.len(), max: MAX_PDU_LEN })?;
        out[0..4].copy_from_slice(&len.to_be_bytes());
        out[4..8].copy_from_slice(&self.body.command_id().to_be_bytes());
        out[8..12].copy_from_slice(&self.command_status.to_be_bytes());
        out[12..16].copy_from_slice(&self.sequence_number.to_be_bytes());
        Ok(out)
    }

    /// Reads one whole PDU (`bytes` is exactly one PDU: header and body).
    pub fn decode(bytes: &[u8]) -> Result<Pdu, PduError> {
        let header = Header::parse(bytes).ok_or(PduError::Truncated("header"))?;
        let len = header.command_length as usize;
        if len < HEADER_LEN {
            return Err(PduError::TooShort(header.command_length));
        }
        if len > MAX_PDU_LEN {
            return Err(PduError::TooLarge { len, max: MAX_PDU_LEN });
        }
        let Some(body) = bytes.get(HEADER_LEN..len) else {
            return Err(PduError::Truncated("body"));
        };
        let mut r = Reader { bytes: body, pos: 0 };
        use command::*;
        let body = match header.command_id {
            BIND_RECEIVER => Body::BindReceiver(r.bind()?),
            BIND_TRANSMITTER => Body::BindTransmitter(r.bind()?),
            BIND_TRANSCEIVER => Body::BindTransceiver(r.bind()?),
            BIND_RECEIVER_RESP => Body::BindReceiverResp(r.bind_resp()?),
            BIND_TRANSMITTER_RESP => Body::BindTransmitterResp(r.bind_resp()?),
            BIND_TRANSCEIVER_RESP => Body::BindTransceiverResp(r.bind_resp()?),
            SUBMIT_SM => Body::SubmitSm(r.sm()?),
            DELIVER_SM => Body::DeliverSm(r.sm()?),
            SUBMIT_SM_RESP => Body::SubmitSmResp(r.message_id_resp()?),
            DELIVER_SM_RESP => Body::DeliverSmResp(r.message_id_resp()?),
            // Bodiless PDUs: stray trailing bytes are ignored.
            ENQUIRE_LINK => Body::EnquireLink,
            ENQUIRE_LINK_RESP => Body::EnquireLinkResp,
            UNBIND => Body::Unbind,
            UNBIND_RESP => Body::UnbindResp,
            GENERIC_NACK => Body::GenericNack,
            command_id => Body::Other { command_id, body: body.to_vec() },
        };
        Ok(Pdu { command_status: header.command_status, sequence_number: header.sequence_number, body })
    }
}

/// The length of the PDU at the start of `buf`: `Ok(None)` until its 4-byte length
/// has arrived, an error when it announces a length below 16 or above `max`.
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, PduError> {
    let Some(b) = buf.get(0..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let n = len as usize;
    if n < HEADER_LEN {
        return Err(PduError::TooShort(len));
    }
    if n > max.min(MAX_PDU_LEN) {
        return Err(PduError::TooLarge { len: n, max: max.min(MAX_PDU_LEN) });
    }
    Ok(Some(n))
}

/// Takes the first whole PDU's bytes off the front of `buf`, if it has arrived.
pub fn take_frame(buf: &mut Vec<u8>, max: usize) -> Result<Option<Vec<u8>>, PduError> {
    match frame_len(buf, max)? {
        Some(n) if buf.len() >= n => {
            let rest = buf.split_off(n);
            Ok(Some(std::mem::replace(buf, rest)))
        }
        _ => Ok(None),
    }
}

fn put_cstr(out: &mut Vec<u8>, s: &str, max: usize, field: &'static str) -> Result<(), PduError> {
    if s.len() >= max || s.as_bytes().contains(&0) {
        return Err(PduError::Unencodable(field));
    }
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}

fn put_tlvs(out: &mut Vec<u8>, tlvs: &[Tlv]) -> Result<(), PduError> {
    for t in tlvs {
        let len = u16::try_from(t.value.len()).map_err(|_| PduError::Unencodable("tlv"))?;
        out.extend_from_slice(&t.tag.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&t.value);
    }
    Ok(())
}

fn put_sm(out: &mut Vec<u8>, sm: &Sm) -> Result<(), PduError> {
    put_cstr(out, &sm.service_type, limit::SERVICE_TYPE, "service_type")?;
    out.extend_from_slice(&[sm.source_addr_ton, sm.source_addr_npi]);
    put_cstr(out, &sm.source_addr, limit::ADDR, "source_addr")?;
    out.extend_from_slice(&[sm.dest_addr_ton, sm.dest_addr_npi]);
    put_cstr(out, &sm.destination_addr, limit::ADDR, "destination_addr")?;
    out.extend_from_slice(&[sm.esm_class, sm.protocol_id, sm.priority_flag]);
    put_cstr(out, &sm.schedule_delivery_time, limit::TIME, "schedule_delivery_time")?;
    put_cstr(out, &sm.validity_period, limit::TIME, "validity_period")?;
    out.extend_from_slice(&[sm.registered_delivery, sm.replace_if_present_flag, sm.data_coding, sm.sm_default_msg_id]);
    let sm_length = u8::try_from(sm.short_message.len())
        .ok()
        .filter(|n| usize::from(*n) <= MAX_SHORT_MESSAGE)
        .ok_or(PduError::Unencodable("short_message"))?;
    out.push(sm_length);
    out.extend_from_slice(&sm.short_message);
    put_tlvs(out, &sm.tlvs)
}

/// A cursor over a PDU body that checks every read.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self, field: &'static str) -> Result<u8, PduError> {
        let b = *self.bytes.get(self.pos).ok_or(PduError::Truncated(field))?;
        self.pos += 1;
        Ok(b)
    }
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], PduError> {
        let end = self.pos.checked_add(n).ok_or(PduError::Truncated(field))?;
        let s = self.bytes.get(self.pos..end).ok_or(PduError::Truncated(field))?;
        self.pos = end;
        Ok(s)
    }
    fn cstr(&mut self, max: usize, field: &'static str) -> Result<String, PduError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let Some(nul) = rest.iter().take(max).position(|&b| b == 0) else {
            return Err(if rest.len() < max { PduError::Truncated(field) } else { PduError::BadString(field) });
        };
        let s = std::str::from_utf8(&rest[..nul]).map_err(|_| PduError::NotUtf8(field))?.to_owned();
        self.pos += nul + 1;
        Ok(s)
    }
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }
    fn tlvs(&mut self) -> Result<Vec<Tlv>, PduError> {
        let mut tlvs = Vec::new();
        while !self.at_end() {
            let h = self.take(4, "tlv")?;
            let tag = u16::from_be_bytes([h[0], h[1]]);
            let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let value = self.take(len, "tlv")?.to_vec();
            tlvs.push(Tlv { tag, value });
        }
        Ok(tlvs)
    }
    fn bind(&mut self) -> Result<Bind, PduError> {
        Ok(Bind {
            system_id: self.cstr(limit::SYSTEM_ID, "system_id")?,
            password: self.cstr(limit::PASSWORD, "password")?,
            system_type: self.cstr(limit::SYSTEM_TYPE, "system_type")?,
            interface_version: self.u8("interface_version")?,
            addr_ton: self.u8("addr_ton")?,
            addr_npi: self.u8("addr_npi")?,
            address_range: self.cstr(limit::ADDRESS_RANGE, "address_range")?,
        })
    }
    fn bind_resp(&mut self) -> Result<BindResp, PduError> {
        if self.at_end() {
            return Ok(BindResp::default());
        }
        Ok(BindResp { system_id: self.cstr(limit::SYSTEM_ID, "system_id")?, tlvs: self.tlvs()? })
    }
    fn message_id_resp(&mut self) -> Result<MessageIdResp, PduError> {
        if self.at_end() {
            return Ok(MessageIdResp::default());
        }
        Ok(MessageIdResp { message_id: self.cstr(limit::MESSAGE_ID, "message_id")?, tlvs: self.tlvs()? })
    }
    fn sm(&mut self) -> Result<Sm, PduError> {
        let service_type = self.cstr(limit::SERVICE_TYPE, "service_type")?;
        let source_addr_ton = self.u8("source_addr_ton")?;
        let source_addr_npi = self.u8("source_addr_npi")?;
        let source_addr = self.cstr(limit::ADDR, "source_addr")?;
        let dest_addr_ton = self.u8("dest_addr_ton")?;
        let dest_addr_npi = self.u8("dest_addr_npi")?;
        let destination_addr = self.cstr(limit::ADDR, "destination_addr")?;
        let esm_class = self.u8("esm_class")?;
        let protocol_id = self.u8("protocol_id")?;
        let priority_flag = self.u8("priority_flag")?;
        let schedule_delivery_time = self.cstr(limit::TIME, "schedule_delivery_time")?;
        let validity_period = self.cstr(limit::TIME, "validity_period")?;
        let registered_delivery = self.u8("registered_delivery")?;
        let replace_if_present_flag = self.u8("replace_if_present_flag")?;
        let data_coding = self.u8("data_coding")?;
        let sm_default_msg_id = self.u8("sm_default_msg_id")?;
        let sm_length = usize::from(self.u8("sm_length")?);
        if sm_length > MAX_SHORT_MESSAGE {
            return Err(PduError::BadString("short_message"));
        }
        let short_message = self.take(sm_length, "short_message")?.to_vec();
        let tlvs = self.tlvs()?;
        Ok(Sm {
            service_type,
            source_addr_ton,
            source_addr_npi,
            source_addr,
            dest_addr_ton,
            dest_addr_npi,
            destination_addr,
            esm_class,
            protocol_id,
            priority_flag,
            schedule_delivery_time,
            validity_period,
            registered_delivery,
            replace_if_present_flag,
            data_coding,
            sm_default_msg_id,
            short_message,
            tlvs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn enquire_link_is_a_bare_header() {
        let bytes = Pdu::request(7, Body::EnquireLink).encode().unwrap();
        assert_eq!(bytes, hex("00000010 00000015 00000000 00000007"));
        assert_eq!(Pdu::decode(&bytes).unwrap(), Pdu::request(7, Body::EnquireLink));
    }

    #[test]
    fn bind_transceiver_matches_the_spec_layout() {
        let bind = Bind {
            system_id: "lineout".into(),
            password: "secret".into(),
            system_type: "".into(),
            interface_version: INTERFACE_VERSION,
            addr_ton: 0,
            addr_npi: 0,
            address_range: "".into(),
        };
        let bytes = Pdu::request(1, Body::BindTransceiver(bind.clone())).encode().unwrap();
        let expected = hex("00000024 00000009 00000000 00000001
             6c696e656f757400 73656372657400 00 34 00 00 00");
        assert_eq!(bytes, expected);
        assert_eq!(Pdu::decode(&bytes).unwrap().body, Body::BindTransceiver(bind));
        // The password never appears in debug output.
        let shown = format!("{:?}", Pdu::decode(&bytes).unwrap());
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn failed_responses_may_have_no_body() {
        let bytes = hex("00000010 80000004 00000058 00000003");
        let pdu = Pdu::decode(&bytes).unwrap();
        assert_eq!(pdu.command_status, status::ESME_RTHROTTLED);
        assert_eq!(pdu.body, Body::SubmitSmResp(MessageIdResp::default()));
        assert_eq!(pdu.encode().unwrap(), bytes);
        // A successful one carries the id.
        let ok = Pdu::response(4, 0, Body::SubmitSmResp(MessageIdResp { message_id: "ab12".into(), tlvs: vec![] }));
        assert_eq!(ok.encode().unwrap(), hex("00000015 80000004 00000000 00000004 6162313200"));
    }

    #[test]
    fn submit_sm_round_trips_with_tlvs() {
        let sm = Sm {
            source_addr_ton: 5,
            source_addr: "Lineout".into(),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            destination_addr: "15551234567".into(),
            esm_class: 0x40,
            registered_delivery: 1,
            data_coding: 8,
            short_message: vec![5, 0, 3, 9, 2, 1, 0, 0x41],
            tlvs: vec![Tlv { tag: tag::RECEIPTED_MESSAGE_ID, value: b"x\0".to_vec() }],
            ..Sm::default()
        };
        let pdu = Pdu::request(9, Body::SubmitSm(sm));
        let bytes = pdu.encode().unwrap();
        assert_eq!(Pdu::decode(&bytes).unwrap(), pdu);
        // The debug output hides the number.
        assert!(!format!("{pdu:?}").contains("1555"));
    }

    #[test]
    fn oversized_and_undersized_lengths_are_refused() {
        assert_eq!(frame_len(&hex("00000008"), MAX_PDU_LEN), Err(PduError::TooShort(8)));
        assert!(matches!(frame_len(&hex("00100000"), MAX_PDU_LEN), Err(PduError::TooLarge { .. })));
        assert_eq!(frame_len(&hex("0000"), MAX_PDU_LEN), Ok(None));
        let mut buf = hex("00000010 00000015 00000000 00000001 0000");
        assert_eq!(take_frame(&mut buf, MAX_PDU_LEN).unwrap().map(|f| f.len()), Some(16));
        assert_eq!(buf, hex("0000"));
        assert_eq!(take_frame(&mut buf, MAX_PDU_LEN), Ok(None));
    }

    #[test]
    fn unencodable_fields_are_errors() {
        let long = Bind { system_id: "x".repeat(16), ..Bind::default() };
        assert_eq!(Pdu::request(1, Body::BindTransmitter(long)).encode(), Err(PduError::Unencodable("system_id")));
        let big = Sm { short_message: vec![0; 255], ..Sm::default() };
        assert_eq!(Pdu::request(1, Body::SubmitSm(big)).encode(), Err(PduError::Unencodable("short_message")));
        let nul = Sm { destination_addr: "1\u{0}2".into(), ..Sm::default() };
        assert_eq!(Pdu::request(1, Body::SubmitSm(nul)).encode(), Err(PduError::Unencodable("destination_addr")));
    }

    fn cstr(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[ -~]{{0,{}}}", max - 1)).unwrap()
    }
    fn tlvs() -> impl Strategy<Value = Vec<Tlv>> {
        proptest::collection::vec(
            (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(tag, value)| Tlv { tag, value }),
            0..3,
        )
    }
    fn bind() -> impl Strategy<Value = Bind> {
        (cstr(16), cstr(9), cstr(13), any::<u8>(), any::<u8>(), any::<u8>(), cstr(41)).prop_map(
            |(system_id, password, system_type, interface_version, addr_ton, addr_npi, address_range)| Bind {
                system_id,
                password,
                system_type,
                interface_version,
                addr_ton,
                addr_npi,
                address_range,
            },
        )
    }
    fn sm() -> impl Strategy<Value = Sm> {
        (
            (cstr(6), any::<[u8; 2]>(), cstr(21), any::<[u8; 2]>(), cstr(21)),
            (any::<[u8; 3]>(), cstr(17), cstr(17), any::<[u8; 4]>()),
            (proptest::collection::vec(any::<u8>(), 0..=254), tlvs()),
        )
            .prop_map(|((st, src, sa, dst, da), (e, sched, valid, f), (short_message, tlvs))| Sm {
                service_type: st,
                source_addr_ton: src[0],
                source_addr_npi: src[1],
                source_addr: sa,
                dest_addr_ton: dst[0],
                dest_addr_npi: dst[1],
                destination_addr: da,
                esm_class: e[0],
                protocol_id: e[1],
                priority_flag: e[2],
                schedule_delivery_time: sched,
                validity_period: valid,
                registered_delivery: f[0],
                replace_if_present_flag: f[1],
                data_coding: f[2],
                sm_default_msg_id: f[3],
                short_message,
                tlvs,
            })
    }
    fn resp() -> impl Strategy<Value = MessageIdResp> {
        (cstr(65), tlvs()).prop_map(|(message_id, tlvs)| MessageIdResp { message_id, tlvs })
    }
    fn bresp() -> impl Strategy<Value = BindResp> {
        (cstr(16), tlvs()).prop_map(|(system_id, tlvs)| BindResp { system_id, tlvs })
    }
    fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            bind().prop_map(Body::BindReceiver),
            bind().prop_map(Body::BindTransmitter),
            bind().prop_map(Body::BindTransceiver),
            bresp().prop_map(Body::BindReceiverResp),
            bresp().prop_map(Body::BindTransmitterResp),
            bresp().prop_map(Body::BindTransceiverResp),
            sm().prop_map(Body::SubmitSm),
            sm().prop_map(Body::DeliverSm),
            resp().prop_map(Body::SubmitSmResp),
            resp().prop_map(Body::DeliverSmResp),
            Just(Body::EnquireLink),
            Just(Body::EnquireLinkResp),
            Just(Body::Unbind),
            Just(Body::UnbindResp),
            Just(Body::GenericNack),
            (0x0000_0100u32..0x0001_0000, proptest::collection::vec(any::<u8>(), 0..100))
                .prop_map(|(command_id, body)| Body::Other { command_id, body }),
        ]
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut buf = bytes.clone();
            let _ = take_frame(&mut buf, MAX_PDU_LEN);
            if let Ok(pdu) = Pdu::decode(&bytes) {
                // Whatever decodes, encodes and decodes to the same PDU.
                let again = pdu.encode().map(|b| Pdu::decode(&b));
                prop_assert_eq!(again, Ok(Ok(pdu)));
            }
        }

        #[test]
        fn decoding_headers_with_plausible_lengths_never_panics(
            id in prop_oneof![Just(4u32), Just(5), Just(9), Just(0x8000_0004), Just(0x8000_0009), any::<u32>()],
            status in any::<u32>(),
            body in proptest::collection::vec(any::<u8>(), 0..400),
            claimed in 0usize..500,
        ) {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&u32::try_from(claimed).unwrap().to_be_bytes());
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(&status.to_be_bytes());
            bytes.extend_from_slice(&1u32.to_be_bytes());
            bytes.extend_from_slice(&body);
            let _ = Pdu::decode(&bytes);
        }

        #[test]
        fn pdus_round_trip(status in prop_oneof![Just(0u32), any::<u32>()], seq in any::<u32>(), body in body(),
                           tail in proptest::collection::vec(any::<u8>(), 0..20)) {
            let pdu = Pdu { command_status: status, sequence_number: seq, body };
            let bytes = pdu.encode().unwrap();
            prop_assert_eq!(frame_len(&bytes, MAX_PDU_LEN), Ok(Some(bytes.len())));
            let mut buf = bytes.clone();
            buf.extend_from_slice(&tail);
            let frame = take_frame(&mut buf, MAX_PDU_LEN).unwrap().unwrap();
            prop_assert_eq!(&buf, &tail);
            prop_assert_eq!(Pdu::decode(&frame).unwrap(), pdu);
        }
    }
}
