//! The SMS adapter: SMPP 3.4 to the operator's SMSC.
//!
//! [`SmppSms::start`] spawns a background task that keeps **one bound session**
//! (`bind_transmitter`, or `bind_transceiver` to also receive delivery receipts) and
//! reconnects with exponential backoff (with jitter) when the connection drops, an
//! `enquire_link` goes unanswered, or the bind fails. The task sends `enquire_link`
//! keep-alives, answers the SMSC's `enquire_link`, and answers every `deliver_sm` with
//! `deliver_sm_resp`; delivery receipts (`esm_class` 0x04) are parsed and published
//! on a bounded channel ([`SmppSms::receipts`]).
//!
//! [`SmppSms`] implements [`SmsTransport`]. `send_sms` picks GSM-7 or UCS-2 and splits
//! long texts into concatenated parts ([`sms`]), then sends one `submit_sm` per part
//! to the E.164 digits of the number (TON 1 international, NPI 1 ISDN) with
//! `registered_delivery` 1, and returns the SMSC's message id of each part:
//!
//! * `ESME_RTHROTTLED` / `ESME_RMSGQFUL`: wait ([`SmppConfig::throttle_base`],
//!   doubling up to [`SmppConfig::throttle_max`]) and try the part again, at most
//!   [`SmppConfig::throttle_retries`] times; then a retryable error.
//! * Not bound (within [`SmppConfig::bind_wait`]), connection lost, no answer within
//!   [`SmppConfig::response_timeout`], or a transient SMSC status (`ESME_RSYSERR`,
//!   `ESME_RSUBMITFAIL`, ...): a retryable error.
//! * Any other status (`ESME_RINVDSTADR`, `ESME_RINVSRCADR`, ...): a permanent error.
//!
//! A retry with the same idempotency key resumes where the last attempt stopped: parts
//! the SMSC already accepted are not sent again, and a message that was sent whole is
//! answered from memory (a bounded map, so this holds within one process and for
//! recent keys). The concatenation reference also comes from the key, so a handset
//! joins parts from both attempts.
//!
//! Phone numbers and texts are personal data: logs carry the idempotency key,
//! statuses, encodings and part counts only, and the password never appears in a
//! `Debug` output.

pub mod pdu;
pub mod receipt;
mod session;
pub mod sms;
#[cfg(any(test, feature = "smpp-harness"))]
pub mod testing;
#[cfg(test)]
mod tests;

use lineout_app::ports::{AdapterError, DeliveryReceipt, OutgoingSms, SmsSubmitted, SmsTransport};
use pdu::{Sm, status};
use session::{Failure, Shared, Submit};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// The usual SMPP port.
pub const DEFAULT_PORT: u16 = 2775;
/// TON international, for destinations.
pub const TON_INTERNATIONAL: u8 = 0x01;
/// NPI ISDN/E.164, for destinations.
pub const NPI_ISDN: u8 = 0x01;
/// TON alphanumeric, for a sender name as the source address.
pub const TON_ALPHANUMERIC: u8 = 0x05;

/// How the adapter binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Submit only (no receipts on this session).
    Transmitter,
    /// Submit and receive (`deliver_sm`: receipts) on one session.
    Transceiver,
}

impl BindMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transmitter => "transmitter",
            Self::Transceiver => "transceiver",
        }
    }
}

/// Where the SMSC is, who we are, and how patient to be.
#[derive(Clone, PartialEq, Eq)]
pub struct SmppConfig {
    /// `host:port` of the SMSC.
    pub addr: String,
    /// The account (at most 15 characters).
    pub system_id: String,
    /// The account's password (at most 8 characters). Never printed.
    pub password: String,
    /// Sent in the bind; usually empty (at most 12 characters).
    pub system_type: String,
    pub bind: BindMode,
    /// The sender: a short code, a number, or an alphanumeric name (at most 20 characters);
    /// empty lets the SMSC choose.
    pub source_addr: String,
    pub source_ton: u8,
    pub source_npi: u8,
    /// Bound on the TCP connect.
    pub connect_timeout: Duration,
    /// Bound on each response (bind, submit, enquire_link) and on each write.
    pub response_timeout: Duration,
    /// How often an idle-or-not session sends `enquire_link`.
    pub enquire_link_interval: Duration,
    /// First reconnect delay; doubles per failed attempt up to `reconnect_max`.
    pub reconnect_base: Duration,
    pub reconnect_max: Duration,
    /// First wait after `ESME_RTHROTTLED`/`ESME_RMSGQFUL`; doubles up to `throttle_max`.
    pub throttle_base: Duration,
    pub throttle_max: Duration,
    /// Throttled answers tolerated per part before giving up (retryable).
    pub throttle_retries: u32,
    /// Most `submit_sm` in flight on the session (the SMPP window).
    pub window: usize,
    /// Most submits waiting for the window; more wait in `send_sms` up to `response_timeout`.
    pub queue: usize,
    /// How long `send_sms` waits for a bound session before failing (retryable).
    pub bind_wait: Duration,
    /// Most parts one message may have (at most 255).
    pub max_parts: usize,
    /// Capacity of the receipts channel.
    pub receipts_capacity: usize,
}

impl SmppConfig {
    /// The SMSC and account with default limits: transceiver bind, SMSC-chosen sender,
    /// 5 s connect, 10 s per response, `enquire_link` every 30 s, reconnect after 1 s
    /// doubling to 60 s, throttle backoff from 1 s doubling to 10 s with 5 retries,
    /// window 10, queue 100, 5 s waiting for a bound session, 10 parts, 1024 receipts.
    pub fn new(addr: impl Into<String>, system_id: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            bind: BindMode::Transceiver,
            source_addr: String::new(),
            source_ton: 0,
            source_npi: 0,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            reconnect_base: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            throttle_base: Duration::from_secs(1),
            throttle_max: Duration::from_secs(10),
            throttle_retries: 5,
            window: 10,
            queue: 100,
            bind_wait: Duration::from_secs(5),
            max_parts: 10,
            receipts_capacity: 1024,
        }
    }

    /// Checks what the SMSC would refuse or the adapter could not encode; names the bad key.
    pub fn validate(&self) -> Result<(), String> {
        let fits = |name: &str, value: &str, max: usize| {
            if value.len() > max || value.contains('\0') || !value.is_ascii() {
                Err(format!("smpp.{name}: at most {max} ASCII characters"))
            } else {
                Ok(())
            }
        };
        fits("system_id", &self.system_id, 15)?;
        fits("password", &self.password, 8)?;
        fits("system_type", &self.system_type, 12)?;
        fits("source_addr", &self.source_addr, 20)?;
        if self.addr.is_empty() {
            return Err("smpp.addr: required (host:port)".into());
        }
        if self.window == 0 || self.queue == 0 || self.receipts_capacity == 0 {
            return Err("smpp.window, smpp.queue and smpp.receipts_capacity must be at least 1".into());
        }
        if !(1..=sms::MAX_PARTS).contains(&self.max_parts) {
            return Err(format!("smpp.max_parts: between 1 and {}", sms::MAX_PARTS));
        }
        if self.response_timeout.is_zero() || self.connect_timeout.is_zero() || self.enquire_link_interval.is_zero() {
            return Err("smpp timeouts and the enquire_link interval must be positive".into());
        }
        if self.reconnect_base.is_zero() || self.reconnect_max < self.reconnect_base {
            return Err("smpp.reconnect_base must be positive and at most smpp.reconnect_max".into());
        }
        if self.throttle_max < self.throttle_base {
            return Err("smpp.throttle_base must be at most smpp.throttle_max".into());
        }
        Ok(())
    }
}

impl fmt::Debug for SmppConfig {
    /// Everything but the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppConfig")
            .field("addr", &self.addr)
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("system_type", &self.system_type)
            .field("bind", &self.bind)
            .field("source_addr", &self.source_addr)
            .field("source_ton", &self.source_ton)
            .field("source_npi", &self.source_npi)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("enquire_link_interval", &self.enquire_link_interval)
            .field("reconnect_base", &self.reconnect_base)
            .field("reconnect_max", &self.reconnect_max)
            .field("throttle_base", &self.throttle_base)
            .field("throttle_max", &self.throttle_max)
            .field("throttle_retries", &self.throttle_retries)
            .field("window", &self.window)
            .field("queue", &self.queue)
            .field("bind_wait", &self.bind_wait)
            .field("max_parts", &self.max_parts)
            .field("receipts_capacity", &self.receipts_capacity)
            .finish()
    }
}

/// Whether an SMSC status may clear up by itself (so the outbox should retry).
pub fn is_transient(s: u32) -> bool {
    matches!(
        s,
        status::ESME_RTHROTTLED
            | status::ESME_RMSGQFUL
            | status::ESME_RSYSERR
            | status::ESME_RINVBNDSTS
            | status::ESME_RSUBMITFAIL
            | status::ESME_RX_T_APPN
            | status::ESME_RDELIVERYFAILURE
            | status::ESME_RUNKNOWNERR
    )
}

/// How many keys' progress is remembered for resuming retries.
const PROGRESS_CAPACITY: usize = 4096;

/// What the SMSC accepted so far for one idempotency key.
struct Progress {
    /// Fingerprint of (number, text): a reused key with other content starts afresh.
    fingerprint: u64,
    message_ids: Vec<String>,
    segments: usize,
}

/// A bounded map of recent keys' progress (oldest forgotten first).
#[derive(Default)]
struct ProgressMap {
    entries: HashMap<String, Progress>,
    order: VecDeque<String>,
}

impl ProgressMap {
    fn get(&self, key: &str, fingerprint: u64) -> Vec<String> {
        match self.entries.get(key) {
            Some(p) if p.fingerprint == fingerprint => p.message_ids.clone(),
            _ => Vec::new(),
        }
    }
    fn is_complete(&self, key: &str, fingerprint: u64) -> Option<Vec<String>> {
        let p = self.entries.get(key)?;
        (p.fingerprint == fingerprint && p.message_ids.len() == p.segments).then(|| p.message_ids.clone())
    }
    fn record(&mut self, key: &str, fingerprint: u64, segments: usize, message_ids: &[String]) {
        if !self.entries.contains_key(key) {
            while self.order.len() >= PROGRESS_CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.entries.remove(&old);
                }
            }
            self.order.push_back(key.to_owned());
        }
        self.entries.insert(key.to_owned(), Progress { fingerprint, message_ids: message_ids.to_vec(), segments });
    }
}

fn fingerprint(to: &str, text: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in to.bytes().chain([0u8]).chain(text.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// The SMPP [`SmsTransport`]. Dropping it (or [`SmppSms::shutdown`]) unbinds and ends
/// the background task.
pub struct SmppSms {
    config: Arc<SmppConfig>,
    requests: mpsc::Sender<Submit>,
    bound: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    receipts: Mutex<Option<mpsc::Receiver<DeliveryReceipt>>>,
    receipts_taken: Arc<AtomicBool>,
    progress: Mutex<ProgressMap>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl fmt::Debug for SmppSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppSms").field("config", &self.config).field("bound", &self.is_bound()).finish()
    }
}

impl SmppSms {
    /// Starts the session task and returns at once; the session binds in the background.
    /// Like `tokio::spawn`, it must be called from within a tokio runtime. A config that [`SmppConfig::validate`] refuses
    /// still starts, but every bind fails and is logged as such.
    pub fn start(config: SmppConfig) -> SmppSms {
        if let Err(e) = config.validate() {
            tracing::error!(error = %e, "SMPP configuration is invalid");
        }
        let config = Arc::new(config);
        let (requests, requests_rx) = mpsc::channel(config.queue.max(1));
        let (bound_tx, bound) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let (receipts_tx, receipts_rx) = mpsc::channel(config.receipts_capacity.max(1));
        let receipts_taken = Arc::new(AtomicBool::new(false));
        let shared =
            Shared { bound: bound_tx, receipts: receipts_tx, receipts_taken: receipts_taken.clone(), stop: stop_rx };
        let task = tokio::spawn(session::run(config.clone(), requests_rx, shared));
        SmppSms {
            config,
            requests,
            bound,
            stop,
            receipts: Mutex::new(Some(receipts_rx)),
            receipts_taken,
            progress: Mutex::new(ProgressMap::default()),
            task: Mutex::new(Some(task)),
        }
    }

    pub fn config(&self) -> &SmppConfig {
        &self.config
    }

    /// The delivery receipts, in arrival order; `Some` the first time only. Until it is
    /// taken, receipts are acknowledged and dropped; once taken, a full channel makes the
    /// SMSC retry the receipt later, and a dropped receiver drops them again.
    pub fn receipts(&self) -> Option<mpsc::Receiver<DeliveryReceipt>> {
        let rx = self.receipts.lock().unwrap_or_else(|e| e.into_inner()).take();
        if rx.is_some() {
            self.receipts_taken.store(true, Ordering::Release);
        }
        rx
    }

    /// Whether a session is bound right now.
    pub fn is_bound(&self) -> bool {
        *self.bound.borrow()
    }

    /// Waits up to `limit` for a bound session; true if there is one.
    pub async fn wait_bound(&self, limit: Duration) -> bool {
        let mut bound = self.bound.clone();
        matches!(tokio::time::timeout(limit, bound.wait_for(|b| *b)).await, Ok(Ok(_)))
    }

    /// Unbinds and waits (bounded) for the task to end.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let limit = self.config.response_timeout.min(Duration::from_secs(5)) + Duration::from_millis(100);
            if tokio::time::timeout(limit, task).await.is_err() {
                tracing::warn!("SMPP session task did not stop in time");
            }
        }
    }

    /// One `submit_sm`, with its answer.
    async fn submit_once(&self, sm: Sm) -> Result<session::Answer, Failure> {
        if !self.wait_bound(self.config.bind_wait).await {
            return Err(Failure::NotBound);
        }
        let (reply, answer) = oneshot::channel();
        let t = self.config.response_timeout;
        match tokio::time::timeout(t, self.requests.send(Submit { sm, reply })).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Failure::NotBound),
            Err(_) => return Err(Failure::Timeout),
        }
        // The session times out the response itself; this bound also covers waiting in the
        // queue, and for a new session if the connection dropped meanwhile.
        match tokio::time::timeout(t + self.config.bind_wait, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Failure::ConnectionLost),
            Err(_) => Err(Failure::Timeout),
        }
    }

    fn part_sm(&self, destination: &str, part: &sms::Part) -> Sm {
        Sm {
            source_addr_ton: self.config.source_ton,
            source_addr_npi: self.config.source_npi,
            source_addr: self.config.source_addr.clone(),
            dest_addr_ton: TON_INTERNATIONAL,
            dest_addr_npi: NPI_ISDN,
            destination_addr: destination.to_owned(),
            esm_class: part.esm_class,
            registered_delivery: 0x01,
            data_coding: part.data_coding,
            short_message: part.short_message.clone(),
            ..Sm::default()
        }
    }

    async fn send(&self, key: &str, sms: &OutgoingSms) -> Result<SmsSubmitted, AdapterError> {
        let destination = sms.to.as_str().trim_start_matches('+');
        if destination.is_empty() || destination.len() > 20 || !destination.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AdapterError::permanent("smpp: the destination is not an E.164 number"));
        }
        let reference = sms::reference_for(key);
        let encoded = sms::split(&sms.text, reference, self.config.max_parts)
            .map_err(|e| AdapterError::permanent(format!("smpp: {e}")))?;
        let segments = encoded.parts.len();
        let submitted = |message_ids: Vec<String>| SmsSubmitted {
            message_ids,
            encoding: encoded.encoding.as_str().to_owned(),
            segments: u32::try_from(segments).unwrap_or(u32::MAX),
        };
        let fp = fingerprint(destination, &sms.text);
        let mut ids = {
            let progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(ids) = progress.is_complete(key, fp) {
                tracing::info!(effect = key, parts = segments, "SMS already accepted by the SMSC");
                return Ok(submitted(ids));
            }
            progress.get(key, fp)
        };
        if !ids.is_empty() {
            tracing::info!(effect = key, done = ids.len(), parts = segments, "resuming a partly sent SMS");
        }
        for (i, part) in encoded.parts.iter().enumerate().skip(ids.len()) {
            let n = i + 1;
            let mut throttled = 0u32;
            loop {
                let answer = self.submit_once(self.part_sm(destination, part)).await.map_err(|f| match f {
                    Failure::Encode(_) => AdapterError::permanent(format!("smpp part {n}/{segments}: {f}")),
                    _ => AdapterError::retryable(format!("smpp part {n}/{segments}: {f}")),
                })?;
                let s = answer.status;
                if s == status::ESME_ROK {
                    ids.push(answer.message_id);
                    self.progress.lock().unwrap_or_else(|e| e.into_inner()).record(key, fp, segments, &ids);
                    break;
                }
                let what = format!("smpp part {n}/{segments}: SMSC answered {} ({s:#04x})", status::name(s));
                if s == status::ESME_RTHROTTLED || s == status::ESME_RMSGQFUL {
                    if throttled >= self.config.throttle_retries {
                        tracing::warn!(
                            effect = key,
                            status = status::name(s),
                            retries = throttled,
                            "SMSC still throttling; giving up for now"
                        );
                        return Err(AdapterError::retryable(format!("{what} after {throttled} retries")));
                    }
                    let wait = session::backoff(self.config.throttle_base, self.config.throttle_max, throttled);
                    tracing::debug!(
                        effect = key,
                        status = status::name(s),
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "SMSC throttling; backing off"
                    );
                    tokio::time::sleep(wait).await;
                    throttled += 1;
                    continue;
                }
                tracing::warn!(effect = key, status = status::name(s), part = n, "SMSC refused an SMS part");
                return Err(if is_transient(s) {
                    AdapterError::retryable(what)
                } else {
                    AdapterError::permanent(what)
                });
            }
        }
        tracing::info!(
            effect = key,
            encoding = encoded.encoding.as_str(),
            parts = segments,
            "SMS accepted by the SMSC"
        );
        Ok(submitted(ids))
    }
}

impl Drop for SmppSms {
    fn drop(&mut self) {
        // The task sees the stop, unbinds and ends by itself.
        self.stop.send_replace(true);
    }
}

#[async_trait::async_trait]
impl SmsTransport for SmppSms {
    async fn send_sms(&self, idempotency_key: &str, sms: &OutgoingSms) -> Result<SmsSubmitted, AdapterError> {
        self.send(idempotency_key, sms).await
    }
}
