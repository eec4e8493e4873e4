//! The notifier that sends a customer message on every contact channel the account has:
//! email over an [`EmailTransport`] and SMS over an [`SmsTransport`].
//!
//! Each channel gets its own idempotency key (`<key>:email`, `<key>:sms`). When one channel
//! succeeds and the other fails retryably, the success is remembered, so the retry sends
//! only the missing part. A permanent failure of one channel (an invalid address) does
//! not fail a message that reached the customer on the other.

use lineout_app::ports::{
    AdapterError, Delivery, EmailTransport, Message, Notifier, OutgoingEmail, OutgoingSms, SmsTransport,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Remembered channel successes at most (older ones are forgotten first by clearing).
const REMEMBERED: usize = 100_000;

pub struct MessagingNotifier {
    email: Option<Arc<dyn EmailTransport>>,
    sms: Option<Arc<dyn SmsTransport>>,
    sent: Mutex<HashMap<String, Vec<String>>>,
}

impl MessagingNotifier {
    pub fn new(email: Option<Arc<dyn EmailTransport>>, sms: Option<Arc<dyn SmsTransport>>) -> Self {
        Self { email, sms, sent: Mutex::new(HashMap::new()) }
    }

    fn remembered(&self, key: &str) -> Option<Vec<String>> {
        self.sent.lock().ok().and_then(|s| s.get(key).cloned())
    }

    fn remember(&self, key: String, ids: Vec<String>) {
        if let Ok(mut s) = self.sent.lock() {
            if s.len() >= REMEMBERED {
                s.clear();
            }
            s.insert(key, ids);
        }
    }
}

#[async_trait::async_trait]
impl Notifier for MessagingNotifier {
    async fn send(&self, key: &str, message: &Message) -> Result<Delivery, AdapterError> {
        let mut channels = Vec::new();
        let mut ids = Vec::new();
        let mut failures: Vec<AdapterError> = Vec::new();
        if let (Some(transport), Some(to)) = (&self.email, &message.to.email) {
            let k = format!("{key}:email");
            let sent = match self.remembered(&k) {
                Some(done) => Ok(done),
                None => {
                    let email = OutgoingEmail {
                        to: to.clone(),
                        subject: message.subject.clone(),
                        text: message.body.clone(),
                        language: message.language,
                    };
                    transport.send_email(&k, &email).await.map(|id| vec![id])
                }
            };
            match sent {
                Ok(done) => {
                    self.remember(k, done.clone());
                    channels.push("email");
                    ids.extend(done);
                }
                Err(e) => failures.push(e),
            }
        }
        if let (Some(transport), Some(to)) = (&self.sms, &message.to.sms) {
            let k = format!("{key}:sms");
            let sent = match self.remembered(&k) {
                Some(done) => Ok(done),
                None => {
                    let sms = OutgoingSms { to: to.clone(), text: message.sms_text.clone() };
                    transport.send_sms(&k, &sms).await.map(|s| s.message_ids)
                }
            };
            match sent {
                Ok(done) => {
                    self.remember(k, done.clone());
                    channels.push("sms");
                    ids.extend(done);
                }
                Err(e) => failures.push(e),
            }
        }
        // Retry while a channel may still succeed; give up only when nothing can.
        if let Some(e) = failures.iter().find(|e| e.retryable) {
            return Err(e.clone());
        }
        if channels.is_empty() {
            return Err(failures
                .into_iter()
                .next()
                .unwrap_or_else(|| AdapterError::permanent("the account has no contact channel that is configured")));
        }
        Ok(Delivery { channel: channels.join("+"), provider_ids: ids })
    }
}
