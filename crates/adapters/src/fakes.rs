//! Fake adapters for the demo, simulations and tests. Each records every call with
//! its idempotency key (so tests can prove an effect was never delivered twice) and
//! can be told to fail the next N calls, retryably or for good.
//!
//! With a journal file, a fake also survives restarts: every effect it applies is
//! appended as one line (`key<TAB>subject`), and keys already in the journal answer
//! "already done" without applying again, like a real idempotent peer. Crash tests
//! read the journal to prove no effect was applied twice.

use lineout_app::ports::{AdapterError, Delivery, DeprovisionRequest, Message, Network, Notifier, Payments};
use lineout_domain::values::{AccountId, Money};
use std::collections::HashMap;
use std::sync::Mutex;

/// A scriptable failure plan shared by the fakes.
#[derive(Debug, Default)]
struct Script {
    fail_next: u32,
    retryable: bool,
}

/// What a fake saw: every call's idempotency key, in order, and how many times each key succeeded.
#[derive(Debug, Default)]
pub struct Recorder {
    calls: Mutex<Vec<String>>,
    delivered: Mutex<HashMap<String, u32>>,
    script: Mutex<Script>,
    journal: Option<Mutex<std::fs::File>>,
}

/// Most calls (and sent messages) kept in memory for inspection; later ones are not kept.
/// The fakes also serve the demo and the benchmarks, which deliver millions of effects.
const MAX_CALLS_KEPT: usize = 10_000;
/// Most delivered keys remembered for "already done" answers; past this the memory is
/// cleared (a journal file, when set, still dedupes across everything).
const MAX_KEYS_REMEMBERED: usize = 200_000;

impl Recorder {
    /// A recorder that appends applied effects to `path` and treats keys already there as done.
    pub fn with_journal(path: &std::path::Path) -> std::io::Result<Recorder> {
        let mut delivered = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                if let Some(key) = line.split('\t').next().filter(|k| !k.is_empty()) {
                    delivered.insert(key.to_owned(), 1);
                }
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Recorder { delivered: Mutex::new(delivered), journal: Some(Mutex::new(file)), ..Recorder::default() })
    }

    /// Fails the next `n` calls (retryable or permanent).
    pub fn fail_next(&self, n: u32, retryable: bool) {
        if let Ok(mut s) = self.script.lock() {
            *s = Script { fail_next: n, retryable };
        }
    }
    /// Every call's key, in order (including failed calls).
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
    /// How many distinct keys were delivered successfully.
    pub fn delivered_keys(&self) -> usize {
        self.delivered.lock().map(|d| d.len()).unwrap_or(0)
    }
    /// Keys that succeeded more than once (a fake that dedupes would have applied them once).
    pub fn delivered_twice(&self) -> Vec<String> {
        self.delivered
            .lock()
            .map(|d| d.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    fn call(&self, key: &str, subject: &str) -> Result<bool, AdapterError> {
        if let Ok(mut c) = self.calls.lock()
            && c.len() < MAX_CALLS_KEPT
        {
            c.push(key.to_owned());
        }
        if let Ok(mut s) = self.script.lock()
            && s.fail_next > 0
        {
            s.fail_next -= 1;
            return Err(if s.retryable {
                AdapterError::retryable("scripted failure")
            } else {
                AdapterError::permanent("scripted failure")
            });
        }
        let mut delivered = self.delivered.lock().map_err(|_| AdapterError::retryable("recorder poisoned"))?;
        if delivered.len() >= MAX_KEYS_REMEMBERED && !delivered.contains_key(key) {
            delivered.clear();
        }
        let n = delivered.entry(key.to_owned()).or_insert(0);
        *n += 1;
        let first = *n == 1;
        if first && let Some(journal) = &self.journal {
            use std::io::Write;
            let mut file = journal.lock().map_err(|_| AdapterError::retryable("journal poisoned"))?;
            // One write per line, so a crash leaves whole lines only.
            file.write_all(format!("{key}\t{subject}\n").as_bytes())
                .map_err(|e| AdapterError::retryable(format!("journal: {e}")))?;
        }
        Ok(first)
    }
}

/// A network that forgets lines instantly; a repeated key answers "already done" (success).
#[derive(Debug, Default)]
pub struct FakeNetwork {
    pub recorder: Recorder,
}

impl FakeNetwork {
    pub fn with_journal(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self { recorder: Recorder::with_journal(path)? })
    }
}

#[async_trait::async_trait]
impl Network for FakeNetwork {
    async fn deprovision(&self, key: &str, request: &DeprovisionRequest) -> Result<(), AdapterError> {
        self.recorder.call(key, &format!("{} deprovision", request.case_id)).map(|_| ())
    }
}

/// A notifier that keeps messages in memory instead of sending them.
#[derive(Debug, Default)]
pub struct FakeNotifier {
    pub recorder: Recorder,
    sent: Mutex<Vec<Message>>,
    /// Print each message to standard output (the demo's stand-in for phones and inboxes).
    echo: bool,
}

impl FakeNotifier {
    /// Prints every message it would send to standard output, so a person trying the
    /// demo can read their sign-in and confirmation codes.
    pub fn echoing(mut self) -> Self {
        self.echo = true;
        self
    }
    pub fn with_journal(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self { recorder: Recorder::with_journal(path)?, sent: Mutex::default(), echo: false })
    }
    pub fn sent(&self) -> Vec<Message> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Notifier for FakeNotifier {
    async fn send(&self, key: &str, message: &Message) -> Result<Delivery, AdapterError> {
        let notice = serde_notice(message.notice);
        let first = self.recorder.call(key, &format!("{} notice {notice}", message.case_id))?;
        if first
            && let Ok(mut s) = self.sent.lock()
            && s.len() < MAX_CALLS_KEPT
        {
            s.push(message.clone());
        }
        let channel = if message.to.email.is_some() { "email" } else { "sms" };
        if first && self.echo {
            let to = match (&message.to.email, &message.to.sms) {
                (Some(e), _) => e.as_str().to_owned(),
                (None, Some(m)) => m.as_str().to_owned(),
                (None, None) => "nobody".to_owned(),
            };
            let text = if channel == "sms" { &message.sms_text } else { &message.subject };
            println!("[demo {channel} to {to}] {text}");
        }
        Ok(Delivery { channel: channel.to_owned(), provider_ids: vec![format!("fake-{key}")] })
    }
}

/// A payment system that accepts every refund and answers a reference derived from the key.
#[derive(Debug, Default)]
pub struct FakePayments {
    pub recorder: Recorder,
}

impl FakePayments {
    pub fn with_journal(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self { recorder: Recorder::with_journal(path)? })
    }
}

fn serde_notice(n: lineout_domain::case::Notice) -> String {
    format!("{n:?}")
}

#[async_trait::async_trait]
impl Payments for FakePayments {
    async fn refund(
        &self,
        key: &str,
        account: &AccountId,
        amount: Money,
        payout: &lineout_domain::effects::Payout,
    ) -> Result<String, AdapterError> {
        self.recorder.call(key, &format!("{account} refund {} by {}", amount.cents, payout.method.as_str()))?;
        Ok(format!("RF-{key}"))
    }
}
