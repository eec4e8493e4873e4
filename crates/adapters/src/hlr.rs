//! The HLR adapter: deprovisions a line in an Osmocom osmo-hlr through its CTRL
//! interface (TCP, default port 4259; framing in [`ipa`]).
//!
//! For a line with an IMSI, [`OsmoHlrNetwork`] opens one connection per delivery and
//! sends, in order:
//!
//! 1. `SET subscriber.by-imsi-<IMSI>.cs-enabled 0` (bar circuit-switched service),
//! 2. `SET subscriber.by-imsi-<IMSI>.ps-enabled 0` (bar packet-switched service),
//! 3. `SET subscriber.by-imsi-<IMSI>.msisdn none` (release the number),
//! 4. `SET subscriber.delete <IMSI>` (answered `SET_REPLY <id> subscriber.delete <db id>`).
//!
//! Barring first means a delivery cut short still leaves the line unable to attach.
//! Repeated delivery is safe: a subscriber that is already gone ends the delivery with
//! success. osmo-hlr says so in different words per command (`Subscriber doesn't
//! exist.` for delete, `No such subscriber.` for GET and msisdn, but only the generic
//! `An error has occurred.` for cs/ps-enabled), so when a step answers any other
//! `ERROR`, the adapter asks `GET subscriber.by-imsi-<IMSI>.cs-enabled`: `No such
//! subscriber.` means the work is done.
//!
//! Failures: no connection, a reset, a timeout or a malformed reply leave the outcome
//! unknown and are retryable (the outbox backs off and tries again; every step is
//! idempotent). An `ERROR` that looks transient (database trouble, osmo-hlr's generic
//! error) is retryable; any other `ERROR` (unknown command, invalid value) is
//! permanent, since trying again cannot help. A line without an IMSI (eSIM-only) has
//! nothing in the HLR and succeeds at once.
//!
//! One connection per delivery keeps the adapter stateless (no stale connection, no
//! late reply from an earlier delivery); deprovisioning is rare and osmo-hlr is on the
//! operator's network, so the connect costs little. A semaphore bounds how many
//! connections are open at once (the outbox delivers a whole batch concurrently).
//!
//! IMSIs and MSISDNs are personal data: logs and error messages carry the case id,
//! the effect's idempotency key and the step only, and text from the HLR has digit
//! runs masked before it is kept.

mod client;
pub mod ipa;
#[cfg(any(test, feature = "osmo-hlr-harness"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use client::{CtrlClient, CtrlError, CtrlReply, MAX_REPLY_LEN};

use lineout_app::ports::{AdapterError, DeprovisionRequest, Network};
use lineout_domain::effects::Effect;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The default CTRL port of osmo-hlr.
pub const DEFAULT_CTRL_PORT: u16 = 4259;

/// Where and how patiently to talk to osmo-hlr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsmoHlrConfig {
    /// `host:port` of the CTRL interface, e.g. `10.0.0.5:4259`.
    pub addr: String,
    /// Bound on name resolution plus the TCP connect.
    pub connect_timeout: Duration,
    /// Bound on each request, from sending it to its whole reply.
    pub request_timeout: Duration,
    /// Most connections open at once; further deliveries wait for a turn.
    pub max_connections: usize,
    /// Bound on waiting for a turn; a delivery that waits longer is retried later.
    pub queue_timeout: Duration,
}

impl OsmoHlrConfig {
    /// The address with default limits: 3 s to connect, 5 s per request, 4
    /// connections, 30 s waiting for a turn.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            max_connections: 4,
            queue_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for OsmoHlrConfig {
    /// osmo-hlr on this host at its default port.
    fn default() -> Self {
        Self::new(format!("127.0.0.1:{DEFAULT_CTRL_PORT}"))
    }
}

/// The [`Network`] adapter for osmo-hlr.
#[derive(Debug)]
pub struct OsmoHlrNetwork {
    config: OsmoHlrConfig,
    turns: Semaphore,
}

impl OsmoHlrNetwork {
    pub fn new(config: OsmoHlrConfig) -> Self {
        let turns = Semaphore::new(config.max_connections.max(1));
        Self { config, turns }
    }
    pub fn config(&self) -> &OsmoHlrConfig {
        &self.config
    }
}

/// What an `ERROR` text from osmo-hlr means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The subscriber is not in the HLR: the work is done.
    Gone,
    /// Worth trying again later.
    Transient,
    /// Trying again cannot help.
    Permanent,
}

/// Texts (lower case) that mean the subscriber is not there.
const GONE: &[&str] = &["doesn't exist", "does not exist", "no such subscriber", "unknown in hlr"];
/// Texts that mean the request itself is wrong (checked before the transient ones).
const PERMANENT: &[&str] = &["invalid", "not found", "verification", "incomplete", "not a known", "type unknown"];
/// Texts that suggest a passing problem in the HLR (its database, memory, a race).
const TRANSIENT: &[&str] = &[
    "database",
    "cannot delete",
    "failed",
    "error has occurred",
    "unknown error",
    "allocate",
    "busy",
    "locked",
    "timeout",
    "timed out",
    "try again",
    "temporar",
    "unavailable",
];

fn classify(text: &str) -> Verdict {
    let t = text.to_ascii_lowercase();
    if GONE.iter().any(|m| t.contains(m)) {
        Verdict::Gone
    } else if PERMANENT.iter().any(|m| t.contains(m)) {
        Verdict::Permanent
    } else if TRANSIENT.iter().any(|m| t.contains(m)) {
        Verdict::Transient
    } else {
        Verdict::Permanent
    }
}

/// Text from the HLR made safe to keep: at most 100 characters, one line, and
/// runs of 5 or more digits (IMSIs, MSISDNs) masked.
fn redact(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 5 {
            out.push_str("<digits>");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.trim().chars().take(100) {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(if c.is_control() { ' ' } else { c });
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// One step of the deprovisioning.
struct Step {
    name: &'static str,
    var: String,
    value: String,
}

fn steps(imsi: &str) -> [Step; 4] {
    let sub = format!("subscriber.by-imsi-{imsi}");
    [
        Step { name: "bar CS", var: format!("{sub}.cs-enabled"), value: "0".into() },
        Step { name: "bar PS", var: format!("{sub}.ps-enabled"), value: "0".into() },
        Step { name: "clear MSISDN", var: format!("{sub}.msisdn"), value: "none".into() },
        Step { name: "delete", var: "subscriber.delete".into(), value: imsi.to_owned() },
    ]
}

fn transport_error(step: &str, e: &CtrlError) -> AdapterError {
    AdapterError::retryable(format!("osmo-hlr {step}: {e}"))
}

impl OsmoHlrNetwork {
    /// Runs the steps; `Ok(true)` when the subscriber was deleted now, `Ok(false)` when
    /// it was already gone.
    async fn run(&self, imsi: &str) -> Result<bool, AdapterError> {
        let c = &self.config;
        let _turn = match tokio::time::timeout(c.queue_timeout, self.turns.acquire()).await {
            Ok(Ok(turn)) => turn,
            Ok(Err(_)) => return Err(AdapterError::retryable("osmo-hlr: adapter closed")),
            Err(_) => return Err(AdapterError::retryable("osmo-hlr: timed out waiting for a free connection")),
        };
        let mut client = CtrlClient::connect(&c.addr, c.connect_timeout, c.request_timeout)
            .await
            .map_err(|e| transport_error("connect", &e))?;
        for step in steps(imsi) {
            let text = match client.set(&step.var, &step.value).await {
                Ok(CtrlReply::Value(_)) => continue,
                Ok(CtrlReply::Error(text)) => text,
                Err(e) => return Err(transport_error(step.name, &e)),
            };
            let verdict = classify(&text);
            if verdict == Verdict::Gone {
                return Ok(false);
            }
            // Not obviously "gone": ask whether the subscriber still exists.
            let probe = format!("subscriber.by-imsi-{imsi}.cs-enabled");
            match client.get(&probe).await {
                Ok(CtrlReply::Error(t)) if classify(&t) == Verdict::Gone => return Ok(false),
                Ok(_) => {}
                Err(e) => return Err(transport_error("existence check", &e)),
            }
            let message = format!("osmo-hlr {}: {}", step.name, redact(&text));
            return Err(match verdict {
                Verdict::Transient => AdapterError::retryable(message),
                _ => AdapterError::permanent(message),
            });
        }
        Ok(true)
    }
}

#[async_trait::async_trait]
impl Network for OsmoHlrNetwork {
    async fn deprovision(&self, idempotency_key: &str, request: &DeprovisionRequest) -> Result<(), AdapterError> {
        let case = &request.case_id;
        let Effect::Deprovision { imsi, .. } = &request.effect else {
            return Err(AdapterError::permanent("osmo-hlr: not a deprovisioning effect"));
        };
        let Some(imsi) = imsi else {
            tracing::debug!(%case, effect = idempotency_key, "line has no IMSI; nothing to remove from the HLR");
            return Ok(());
        };
        match self.run(imsi.as_str()).await {
            Ok(true) => {
                tracing::info!(%case, effect = idempotency_key, "subscriber removed from osmo-hlr");
                Ok(())
            }
            Ok(false) => {
                tracing::info!(%case, effect = idempotency_key, "subscriber already absent from osmo-hlr");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(%case, effect = idempotency_key, retryable = e.retryable, error = %e.message, "osmo-hlr deprovisioning failed");
                Err(e)
            }
        }
    }
}
