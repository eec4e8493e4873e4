//! The background task that keeps one bound SMPP session: connect, bind, serve
//! (submits, keep-alives, receipts), and reconnect with exponential backoff when the
//! connection drops or the bind fails.
//!
//! All waiting is bounded: the connect, the bind, every write and every response
//! has a timeout; at most `window` submits are in flight; receipts go out on a
//! bounded channel, and when it is full the SMSC is told to try again later
//! (`deliver_sm_resp` with `ESME_RX_T_APPN`) rather than the receipt being dropped.

use super::pdu::{self, Bind, Body, Header, MAX_PDU_LEN, MessageIdResp, Pdu, PduError, Sm, status};
use super::{BindMode, SmppConfig, receipt};
use lineout_app::ports::DeliveryReceipt;
use rand::RngExt;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// A submit handed to the session.
pub(super) struct Submit {
    pub sm: Sm,
    pub reply: oneshot::Sender<Result<Answer, Failure>>,
}

/// The SMSC's answer to one `submit_sm` (any status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Answer {
    pub status: u32,
    pub message_id: String,
}

/// Why a submit got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// No bound session right now.
    NotBound,
    /// The connection ended before the answer came.
    ConnectionLost,
    /// No answer within the response timeout.
    Timeout,
    /// The PDU could not be written (a field too long).
    Encode(PduError),
    /// The answer could not be read.
    Malformed,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotBound => f.write_str("no bound SMPP session"),
            Self::ConnectionLost => f.write_str("SMPP connection lost before the answer"),
            Self::Timeout => f.write_str("no submit_sm_resp within the response timeout"),
            Self::Encode(e) => write!(f, "submit_sm cannot be encoded: {e}"),
            Self::Malformed => f.write_str("malformed submit_sm_resp"),
        }
    }
}

/// What the task shares with the adapter.
pub(super) struct Shared {
    /// True while a session is bound.
    pub bound: watch::Sender<bool>,
    /// Where receipts go.
    pub receipts: mpsc::Sender<DeliveryReceipt>,
    /// Whether anyone took the receipts' receiver (if not, receipts are acknowledged and dropped).
    pub receipts_taken: Arc<AtomicBool>,
    /// Changes (or closes) when the adapter stops.
    pub stop: watch::Receiver<bool>,
}

/// Why a connection attempt or a session ended.
#[derive(Debug)]
enum SessionError {
    Connect(std::io::Error),
    Io(&'static str, std::io::Error),
    Timeout(&'static str),
    BindRefused(u32),
    Protocol(PduError),
    ClosedByPeer,
    UnboundByPeer,
    KeepAliveUnanswered,
    Config(PduError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Io(stage, e) => write!(f, "{stage}: {e}"),
            Self::Timeout(stage) => write!(f, "timed out: {stage}"),
            Self::BindRefused(s) => write!(f, "bind refused: {} ({s:#04x})", status::name(*s)),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::ClosedByPeer => f.write_str("connection closed by the SMSC"),
            Self::UnboundByPeer => f.write_str("unbound by the SMSC"),
            Self::KeepAliveUnanswered => f.write_str("enquire_link unanswered"),
            Self::Config(e) => write!(f, "bind cannot be encoded (check the configuration): {e}"),
        }
    }
}

/// `base * 2^attempt`, capped at `max`, with jitter in its upper half.
pub(super) fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX)).min(max);
    let half = exp / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(if jitter_ms == 0 { 0 } else { rand::rng().random_range(0..=jitter_ms) })
}

/// A bound connection.
struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    buf: Vec<u8>,
    next_seq: u32,
}

impl Conn {
    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }
}

async fn write(wr: &mut OwnedWriteHalf, pdu: &Pdu, limit: Duration) -> Result<(), SessionError> {
    let bytes = pdu.encode().map_err(SessionError::Protocol)?;
    match tokio::time::timeout(limit, wr.write_all(&bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SessionError::Io("write", e)),
        Err(_) => Err(SessionError::Timeout("write")),
    }
}

/// Connects and binds; answers the SMSC's `enquire_link` while waiting.
async fn connect_and_bind(config: &SmppConfig) -> Result<Conn, SessionError> {
    let stream = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(&config.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(SessionError::Connect(e)),
        Err(_) => return Err(SessionError::Timeout("connect")),
    };
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut conn = Conn { rd, wr, buf: Vec::new(), next_seq: 1 };
    let bind = Bind {
        system_id: config.system_id.clone(),
        password: config.password.clone(),
        system_type: config.system_type.clone(),
        interface_version: pdu::INTERFACE_VERSION,
        addr_ton: 0,
        addr_npi: 0,
        address_range: String::new(),
    };
    let body = match config.bind {
        BindMode::Transmitter => Body::BindTransmitter(bind),
        BindMode::Transceiver => Body::BindTransceiver(bind),
    };
    let seq = conn.seq();
    let request = Pdu::request(seq, body);
    request.encode().map_err(SessionError::Config)?;
    write(&mut conn.wr, &request, config.response_timeout).await?;
    let deadline = Instant::now() + config.response_timeout;
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(frame) = pdu::take_frame(&mut conn.buf, MAX_PDU_LEN).map_err(SessionError::Protocol)? {
            let Ok(pdu) = Pdu::decode(&frame) else { continue };
            match pdu.body {
                Body::BindTransmitterResp(_) | Body::BindTransceiverResp(_) | Body::GenericNack
                    if pdu.sequence_number == seq =>
                {
                    return match pdu.command_status {
                        status::ESME_ROK if !matches!(pdu.body, Body::GenericNack) => Ok(conn),
                        s => Err(SessionError::BindRefused(s)),
                    };
                }
                Body::EnquireLink => {
                    let resp = Pdu::response(pdu.sequence_number, status::ESME_ROK, Body::EnquireLinkResp);
                    write(&mut conn.wr, &resp, config.response_timeout).await?;
                }
                _ => {}
            }
        }
        let n = match tokio::time::timeout_at(deadline, conn.rd.read(&mut chunk)).await {
            Ok(Ok(0)) => return Err(SessionError::ClosedByPeer),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(SessionError::Io("read", e)),
            Err(_) => return Err(SessionError::Timeout("bind response")),
        };
        conn.buf.extend_from_slice(&chunk[..n]);
    }
}

enum Waiting {
    Submit(oneshot::Sender<Result<Answer, Failure>>),
    EnquireLink,
}

struct Pending {
    what: Waiting,
    deadline: Instant,
}

/// How a served session ended.
enum End {
    /// The adapter stopped (after an unbind).
    Stopped,
    /// The connection is gone; reconnect.
    Lost(SessionError),
}

/// Runs until the adapter stops.
pub(super) async fn run(config: Arc<SmppConfig>, mut requests: mpsc::Receiver<Submit>, mut shared: Shared) {
    let mut failures: u32 = 0;
    loop {
        let attempt = tokio::select! {
            r = connect_and_bind(&config) => Some(r),
            _ = shared.stop.changed() => None,
        };
        match attempt {
            None => return,
            Some(Ok(conn)) => {
                failures = 0;
                tracing::info!(bind = config.bind.as_str(), "SMPP session bound");
                shared.bound.send_replace(true);
                let end = serve(conn, &config, &mut requests, &mut shared).await;
                shared.bound.send_replace(false);
                match end {
                    End::Stopped => {
                        tracing::info!("SMPP session unbound");
                        return;
                    }
                    End::Lost(e) => tracing::warn!(error = %e, "SMPP session lost; reconnecting"),
                }
            }
            Some(Err(e)) => {
                failures = failures.saturating_add(1);
                tracing::warn!(attempt = failures, error = %e, "SMPP connect/bind failed");
            }
        }
        // Submits queued meanwhile wait for the next session (their callers bound the wait;
        // one whose caller gave up is skipped, not sent late).
        let delay = backoff(config.reconnect_base, config.reconnect_max, failures.saturating_sub(1))
            .max(Duration::from_millis(10));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.stop.changed() => return,
        }
    }
}

/// What to do with a receipt; the status to answer the `deliver_sm` with.
fn publish(sm: &Sm, shared: &Shared) -> u32 {
    let Some(r) = receipt::parse(sm) else {
        if receipt::is_receipt(sm) {
            tracing::warn!("unreadable SMPP delivery receipt acknowledged and dropped");
        } else {
            tracing::debug!("mobile-originated SMS ignored");
        }
        return status::ESME_ROK;
    };
    if !shared.receipts_taken.load(Ordering::Acquire) {
        tracing::debug!("SMPP delivery receipt dropped: nobody takes receipts");
        return status::ESME_ROK;
    }
    match shared.receipts.try_send(r) {
        Ok(()) => status::ESME_ROK,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!("SMPP receipt queue full; asking the SMSC to retry the receipt later");
            status::ESME_RX_T_APPN
        }
        Err(mpsc::error::TrySendError::Closed(_)) => status::ESME_ROK,
    }
}

fn fail_all(pending: &mut HashMap<u32, Pending>, failure: Failure) {
    for (_, p) in pending.drain() {
        if let Waiting::Submit(reply) = p.what {
            let _ = reply.send(Err(failure.clone()));
        }
    }
}

async fn serve(mut conn: Conn, config: &SmppConfig, requests: &mut mpsc::Receiver<Submit>, shared: &mut Shared) -> End {
    let mut pending: HashMap<u32, Pending> = HashMap::new();
    let end = serve_inner(&mut conn, config, requests, shared, &mut pending).await;
    fail_all(&mut pending, Failure::ConnectionLost);
    if matches!(end, End::Stopped) {
        unbind(&mut conn, config).await;
    }
    end
}

/// Says goodbye: `unbind`, then waits briefly for `unbind_resp`.
async fn unbind(conn: &mut Conn, config: &SmppConfig) {
    let seq = conn.seq();
    let limit = config.response_timeout.min(Duration::from_secs(2));
    if write(&mut conn.wr, &Pdu::request(seq, Body::Unbind), limit).await.is_err() {
        return;
    }
    let deadline = Instant::now() + limit;
    let mut chunk = [0u8; 1024];
    loop {
        while let Ok(Some(frame)) = pdu::take_frame(&mut conn.buf, MAX_PDU_LEN) {
            if let Ok(Pdu { body: Body::UnbindResp, sequence_number, .. }) = Pdu::decode(&frame)
                && sequence_number == seq
            {
                let _ = conn.wr.shutdown().await;
                return;
            }
        }
        match tokio::time::timeout_at(deadline, conn.rd.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => conn.buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
}

async fn serve_inner(
    conn: &mut Conn,
    config: &SmppConfig,
    requests: &mut mpsc::Receiver<Submit>,
    shared: &mut Shared,
    pending: &mut HashMap<u32, Pending>,
) -> End {
    let t = config.response_timeout;
    let period = config.enquire_link_interval.max(Duration::from_millis(10));
    let mut keepalive = tokio::time::interval_at(Instant::now() + period, period);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let sweep_every = (t / 4).clamp(Duration::from_millis(10), Duration::from_millis(500));
    let mut sweep = tokio::time::interval(sweep_every);
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let window = config.window.max(1);
    let mut chunk = vec![0u8; 4096];
    loop {
        let in_flight = pending.values().filter(|p| matches!(p.what, Waiting::Submit(_))).count();
        tokio::select! {
            _ = shared.stop.changed() => return End::Stopped,
            read = conn.rd.read(&mut chunk) => {
                let n = match read {
                    Ok(0) => return End::Lost(SessionError::ClosedByPeer),
                    Ok(n) => n,
                    Err(e) => return End::Lost(SessionError::Io("read", e)),
                };
                conn.buf.extend_from_slice(&chunk[..n]);
                loop {
                    let frame = match pdu::take_frame(&mut conn.buf, MAX_PDU_LEN) {
                        Ok(Some(frame)) => frame,
                        Ok(None) => break,
                        Err(e) => return End::Lost(SessionError::Protocol(e)),
                    };
                    if let Err(e) = handle(conn, &frame, config, shared, pending).await {
                        return End::Lost(e);
                    }
                }
            }
            request = requests.recv(), if in_flight < window => {
                let Some(Submit { sm, reply }) = request else { return End::Stopped };
                if reply.is_closed() {
                    // The caller gave up while the request waited: do not send it late.
                    continue;
                }
                let seq = conn.seq();
                let pdu = Pdu::request(seq, Body::SubmitSm(sm));
                if let Err(e) = pdu.encode() {
                    let _ = reply.send(Err(Failure::Encode(e)));
                    continue;
                }
                pending.insert(seq, Pending { what: Waiting::Submit(reply), deadline: Instant::now() + t });
                if let Err(e) = write(&mut conn.wr, &pdu, t).await {
                    return End::Lost(e);
                }
            }
            _ = keepalive.tick() => {
                if !pending.values().any(|p| matches!(p.what, Waiting::EnquireLink)) {
                    let seq = conn.seq();
                    pending.insert(seq, Pending { what: Waiting::EnquireLink, deadline: Instant::now() + t });
                    if let Err(e) = write(&mut conn.wr, &Pdu::request(seq, Body::EnquireLink), t).await {
                        return End::Lost(e);
                    }
                }
            }
            _ = sweep.tick() => {
                let now = Instant::now();
                let overdue: Vec<u32> = pending.iter().filter(|(_, p)| p.deadline <= now).map(|(s, _)| *s).collect();
                for seq in overdue {
                    match pending.remove(&seq).map(|p| p.what) {
                        Some(Waiting::Submit(reply)) => {
                            tracing::warn!(sequence = seq, "submit_sm_resp overdue");
                            let _ = reply.send(Err(Failure::Timeout));
                        }
                        Some(Waiting::EnquireLink) => return End::Lost(SessionError::KeepAliveUnanswered),
                        None => {}
                    }
                }
            }
        }
    }
}

/// Handles one PDU from the SMSC.
async fn handle(
    conn: &mut Conn,
    frame: &[u8],
    config: &SmppConfig,
    shared: &Shared,
    pending: &mut HashMap<u32, Pending>,
) -> Result<(), SessionError> {
    let t = config.response_timeout;
    let Some(header) = Header::parse(frame) else { return Ok(()) };
    let seq = header.sequence_number;
    let pdu = match Pdu::decode(frame) {
        Ok(pdu) => pdu,
        Err(e) => {
            tracing::warn!(command_id = header.command_id, error = %e, "malformed PDU from the SMSC");
            if header.command_id & pdu::command::RESPONSE_BIT == 0 {
                let nack = Pdu::response(seq, e.status(), Body::GenericNack);
                write(&mut conn.wr, &nack, t).await?;
            } else if let Some(Pending { what: Waiting::Submit(reply), .. }) = pending.remove(&seq) {
                let _ = reply.send(Err(Failure::Malformed));
            }
            return Ok(());
        }
    };
    match pdu.body {
        Body::SubmitSmResp(MessageIdResp { message_id, .. }) => {
            if let Some(Pending { what: Waiting::Submit(reply), .. }) = pending.remove(&seq) {
                let _ = reply.send(Ok(Answer { status: pdu.command_status, message_id }));
            }
        }
        Body::GenericNack => match pending.remove(&seq).map(|p| p.what) {
            Some(Waiting::Submit(reply)) => {
                let status = match pdu.command_status {
                    status::ESME_ROK => status::ESME_RUNKNOWNERR,
                    s => s,
                };
                let _ = reply.send(Ok(Answer { status, message_id: String::new() }));
            }
            // An SMSC that refuses enquire_link is still alive.
            Some(Waiting::EnquireLink) | None => {}
        },
        Body::EnquireLinkResp => {
            if matches!(pending.get(&seq), Some(Pending { what: Waiting::EnquireLink, .. })) {
                pending.remove(&seq);
            }
        }
        Body::EnquireLink => {
            write(&mut conn.wr, &Pdu::response(seq, status::ESME_ROK, Body::EnquireLinkResp), t).await?;
        }
        Body::DeliverSm(sm) => {
            let answer = publish(&sm, shared);
            let resp = Pdu::response(seq, answer, Body::DeliverSmResp(MessageIdResp::default()));
            write(&mut conn.wr, &resp, t).await?;
        }
        Body::Unbind => {
            write(&mut conn.wr, &Pdu::response(seq, status::ESME_ROK, Body::UnbindResp), t).await?;
            return Err(SessionError::UnboundByPeer);
        }
        _ if !pdu.is_response() => {
            tracing::debug!(command = pdu.body.name(), "unsupported SMPP request answered with generic_nack");
            write(&mut conn.wr, &Pdu::response(seq, status::ESME_RINVCMDID, Body::GenericNack), t).await?;
        }
        _ => {}
    }
    Ok(())
}
