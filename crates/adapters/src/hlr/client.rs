//! A minimal CTRL client: one TCP connection, one request at a time, every wait
//! bounded. Replies are matched to requests by id; unsolicited TRAPs, stale replies
//! and non-CTRL frames are skipped (an IPA ping is answered with a pong).

use super::ipa::{self, CtrlMessage, Frame};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

/// The largest reply frame the client accepts. osmo-hlr's largest answers
/// (`subscriber.by-imsi-….info-all`) are a few hundred bytes.
pub const MAX_REPLY_LEN: usize = 16 * 1024;

/// How many unrelated frames (traps, stale replies, pings) one request may skip.
const MAX_SKIPPED_FRAMES: usize = 64;

/// The server's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrlReply {
    /// `GET_REPLY` / `SET_REPLY`: the value.
    Value(String),
    /// `ERROR`: the server's text.
    Error(String),
}

/// A transport or protocol failure: the request's outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtrlError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("connection failed: {0}")]
    Io(String),
    #[error("connection closed before the reply")]
    Closed,
    #[error("malformed reply: {0}")]
    Malformed(String),
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
}

/// A connection to a CTRL server. After a [`CtrlError`] the connection's state is
/// unknown (a late reply may still arrive): drop it and connect again.
#[derive(Debug)]
pub struct CtrlClient {
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: u32,
    request_timeout: Duration,
}

impl CtrlClient {
    /// Connects to `addr` (`host:port`), resolving and connecting within `connect_timeout`;
    /// each later request must be answered within `request_timeout`.
    pub async fn connect(addr: &str, connect_timeout: Duration, request_timeout: Duration) -> Result<Self, CtrlError> {
        let stream = match timeout(connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(CtrlError::Timeout("connecting")),
            Ok(Err(e)) => return Err(CtrlError::Connect(e.kind().to_string())),
            Ok(Ok(s)) => s,
        };
        // Small requests, one at a time: send each at once.
        let _ = stream.set_nodelay(true);
        Ok(Self { stream, buf: Vec::new(), next_id: 1, request_timeout })
    }

    /// `GET <id> <var>`.
    pub async fn get(&mut self, var: &str) -> Result<CtrlReply, CtrlError> {
        self.request("GET", var, None).await
    }

    /// `SET <id> <var> <value>`.
    pub async fn set(&mut self, var: &str, value: &str) -> Result<CtrlReply, CtrlError> {
        self.request("SET", var, Some(value)).await
    }

    async fn request(&mut self, kind: &str, var: &str, value: Option<&str>) -> Result<CtrlReply, CtrlError> {
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CtrlError::InvalidRequest("variable must be non-empty printable ASCII without spaces"));
        }
        if value.is_some_and(|v| !v.bytes().all(|b| b.is_ascii_graphic() || b == b' ')) {
            return Err(CtrlError::InvalidRequest("value must be printable ASCII"));
        }
        let id = self.next_id.to_string();
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let text = match value {
            Some(v) => format!("{kind} {id} {var} {v}"),
            None => format!("{kind} {id} {var}"),
        };
        let frame = ipa::encode_ctrl(&text).map_err(|_| CtrlError::InvalidRequest("request too large"))?;
        let deadline = Instant::now() + self.request_timeout;
        match timeout_at(deadline, self.stream.write_all(&frame)).await {
            Err(_) => return Err(CtrlError::Timeout("sending the request")),
            Ok(Err(e)) => return Err(CtrlError::Io(e.kind().to_string())),
            Ok(Ok(())) => {}
        }
        for _ in 0..MAX_SKIPPED_FRAMES {
            let frame = self.read_frame(deadline).await?;
            if frame.is_ping() {
                let pong = ipa::encode(ipa::STREAM_CCM, &[ipa::CCM_PONG]).map_err(|e| CtrlError::Io(e.to_string()))?;
                match timeout_at(deadline, self.stream.write_all(&pong)).await {
                    Err(_) => return Err(CtrlError::Timeout("answering a ping")),
                    Ok(Err(e)) => return Err(CtrlError::Io(e.kind().to_string())),
                    Ok(Ok(())) => continue,
                }
            }
            let Some(payload) = frame.ctrl_payload() else { continue };
            let message = ipa::parse(payload).map_err(|e| CtrlError::Malformed(e.to_string()))?;
            match message {
                CtrlMessage::GetReply { id: got, var: got_var, value } if got == id => {
                    return matching(kind == "GET" && got_var == var, value);
                }
                CtrlMessage::SetReply { id: got, var: got_var, value } if got == id => {
                    return matching(kind == "SET" && got_var == var, value);
                }
                // `err` is the id osmo-hlr uses when it could not read the request's
                // id; with one request in flight, that error is about this request.
                CtrlMessage::Error { id: got, text } if got == id || got == "err" => {
                    return Ok(CtrlReply::Error(text));
                }
                CtrlMessage::Get { .. } | CtrlMessage::Set { .. } => {
                    return Err(CtrlError::Malformed("server sent a request".into()));
                }
                // Traps and replies to earlier requests.
                _ => continue,
            }
        }
        Err(CtrlError::Malformed("too many unrelated frames before the reply".into()))
    }

    async fn read_frame(&mut self, deadline: Instant) -> Result<Frame, CtrlError> {
        loop {
            match ipa::decode(&self.buf, MAX_REPLY_LEN) {
                Err(e) => return Err(CtrlError::Malformed(e.to_string())),
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    return Ok(frame);
                }
                Ok(None) => {}
            }
            let mut chunk = [0u8; 4096];
            let n = match timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(CtrlError::Timeout("waiting for the reply")),
                Ok(Err(e)) => return Err(CtrlError::Io(e.kind().to_string())),
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                return Err(CtrlError::Closed);
            }
            self.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// A reply with our id must answer our request (same type and variable).
fn matching(matches: bool, value: String) -> Result<CtrlReply, CtrlError> {
    if matches {
        Ok(CtrlReply::Value(value))
    } else {
        Err(CtrlError::Malformed("reply does not match the request".into()))
    }
}
