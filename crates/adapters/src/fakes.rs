//! Fake adapters for the demo, simulations and tests. Each records every call with
//! its idempotency key (so tests can prove an effect was never delivered twice) and
//! can be told to fail the next N calls, retryably or for good.

use lineout_app::ports::{AdapterError, DeprovisionRequest, Message, Network, Notifier, Payments};
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
}

impl Recorder {
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

    fn call(&self, key: &str) -> Result<bool, AdapterError> {
        if let Ok(mut c) = self.calls.lock() {
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
        let n = delivered.entry(key.to_owned()).or_insert(0);
        *n += 1;
        Ok(*n == 1)
    }
}

/// A network that forgets lines instantly; a repeated key answers "already done" (success).
#[derive(Debug, Default)]
pub struct FakeNetwork {
    pub recorder: Recorder,
}

#[async_trait::async_trait]
impl Network for FakeNetwork {
    async fn deprovision(&self, key: &str, _request: &DeprovisionRequest) -> Result<(), AdapterError> {
        self.recorder.call(key).map(|_| ())
    }
}

/// A notifier that keeps messages in memory instead of sending them.
#[derive(Debug, Default)]
pub struct FakeNotifier {
    pub recorder: Recorder,
    sent: Mutex<Vec<Message>>,
}

impl FakeNotifier {
    pub fn sent(&self) -> Vec<Message> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Notifier for FakeNotifier {
    async fn send(&self, key: &str, message: &Message) -> Result<String, AdapterError> {
        let first = self.recorder.call(key)?;
        if first && let Ok(mut s) = self.sent.lock() {
            s.push(message.clone());
        }
        Ok(if message.to.email.is_some() { "email" } else { "sms" }.to_owned())
    }
}

/// A payment system that accepts every refund and answers a reference derived from the key.
#[derive(Debug, Default)]
pub struct FakePayments {
    pub recorder: Recorder,
}

#[async_trait::async_trait]
impl Payments for FakePayments {
    async fn refund(&self, key: &str, _account: &AccountId, _amount: Money) -> Result<String, AdapterError> {
        self.recorder.call(key)?;
        Ok(format!("RF-{key}"))
    }
}
