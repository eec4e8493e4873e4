//! Identity verification use cases: sending one-time codes, checking codes and PINs,
//! photo ID and operator tokens, with the rate limits (code sends per line, attempts
//! per client address) and the keyed hashes that keep codes and addresses out of events.
//!
//! A code is 6 digits from the [`IdGen`](crate::ports::IdGen) (a CSPRNG in production),
//! stored only as HMAC-SHA256 over (case, purpose, code) under the engine's verification
//! key, valid for the policy's minutes, used once. The code travels to the customer in
//! the one outbox row written here beside its event: it is the only effect not derived
//! by `effects::consequences`, because the code is in no event.
//!
//! PINs are argon2id: checked on a blocking thread, never on the writer thread, and only
//! after a cheap read has found the client and the case not already refused.

use super::{Engine, Inner, not_found, persist, to_millis};
use crate::error::Error;
use crate::ports::{Conn, OutboxRow, OutboxStatus, Recipient};
use hmac::{Hmac, KeyInit, Mac};
use lineout_domain::account::Account;
use lineout_domain::case::{self, Actor, Case, CodeDestination, Command, EventKind, PhotoId, PinOutcome, Proof};
use lineout_domain::effects::{self, Effect, NoticeDetails};
use lineout_domain::values::{CaseId, Msisdn};
use sha2::Sha256;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Digits in a one-time code.
pub const CODE_DIGITS: usize = 6;
/// What one-time codes are for (bound into their hash).
const PURPOSE: &str = "verify_identity";

/// The client's network address as the web layer saw it (raw; hashed before use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

/// A verification attempt with its secret (which never leaves this module).
#[derive(Clone, PartialEq, Eq)]
pub enum VerificationRequest {
    /// The one-time code the customer received.
    Code(String),
    /// The account PIN.
    Pin(String),
    /// Photo ID checked in a store (the actor must be staff).
    PhotoId(PhotoId),
    /// The API client's token holds the verification scope (checked by the web layer).
    OperatorToken,
}

impl std::fmt::Debug for VerificationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        match self {
            Self::Code(_) => f.write_str("Code(..)"),
            Self::Pin(_) => f.write_str("Pin(..)"),
            Self::PhotoId(p) => write!(f, "PhotoId({:?})", p.document_type),
            Self::OperatorToken => f.write_str("OperatorToken"),
        }
    }
}

/// A code just sent: where and until when (never the code).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeSent {
    pub case: Case,
    pub code_id: String,
    pub destination: CodeDestination,
    pub expires_at: OffsetDateTime,
}

/// The recipient of a per-contact message, or `None` when the account lacks that contact.
pub(super) fn recipient(destination: CodeDestination, account: Option<Account>, line: Msisdn) -> Option<Recipient> {
    match destination {
        CodeDestination::Line => Some(Recipient { email: None, sms: Some(line) }),
        CodeDestination::Email => account.and_then(|a| a.email).map(|e| Recipient { email: Some(e), sms: None }),
        CodeDestination::AltPhone => account.and_then(|a| a.alt_phone).map(|p| Recipient { email: None, sms: Some(p) }),
    }
}

pub(super) fn keyed_hash(key: &[u8], parts: &[&str]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        // HMAC accepts keys of any length; this cannot happen.
        return String::new();
    };
    for p in parts {
        mac.update(p.as_bytes());
        mac.update(&[0]);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// A code's keyed hash, bound to its case and purpose.
fn code_hash(key: &[u8], case: &CaseId, code: &str) -> String {
    keyed_hash(key, &["code", case.as_str(), PURPOSE, code])
}

/// The start of the current window and whether one more use fits (`Err(retry_at)` if not).
fn window(
    conn: &mut dyn Conn,
    key: &str,
    now: OffsetDateTime,
    length: Duration,
    limit: u32,
) -> Result<Result<(OffsetDateTime, u32), OffsetDateTime>, Error> {
    let (start, count) = match conn.rate_window(key)? {
        Some((start, count)) if start + length > now => (start, count),
        _ => (now, 0),
    };
    Ok(if count >= limit { Err(start + length) } else { Ok((start, count)) })
}

/// Takes one use of a rate-limit window, or says when the next use is allowed.
pub(super) fn take(
    conn: &mut dyn Conn,
    key: &str,
    now: OffsetDateTime,
    length: Duration,
    limit: u32,
) -> Result<(), Error> {
    match window(conn, key, now, length, limit)? {
        Ok((start, count)) => Ok(conn.set_rate_window(key, start, count + 1)?),
        Err(retry_at) => Err(Error::RateLimited { retry_after_seconds: (retry_at - now).whole_seconds().max(1) }),
    }
}

fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
}

impl Engine {
    /// The keyed hash recorded for a client address (16 hex digits): attempts from one
    /// address can be counted and linked without keeping the address.
    pub fn client_key(&self, address: &ClientAddress) -> String {
        keyed_hash(&self.inner.verification_key, &["client", address.0.trim()])[..16].to_owned()
    }

    /// Sends a new one-time code for a case to one of the account's contacts. At most
    /// the policy's number of codes per line per window; a new code replaces the old.
    pub async fn send_verification_code(
        &self,
        id: CaseId,
        destination: CodeDestination,
        actor: Actor,
    ) -> Result<CodeSent, Error> {
        let code = self.inner.ids.digits(CODE_DIGITS);
        let secret = self.inner.ids.secret();
        let code_id = format!("vc{}", &secret[secret.len().saturating_sub(16)..]);
        let hash = code_hash(&self.inner.verification_key, &id, &code);
        let inner = Arc::clone(&self.inner);
        self.inner.writer.run(move |conn| send_in(conn, &inner, &id, destination, &actor, code_id, code, hash)).await
    }

    /// Checks a verification attempt and records it on the case. A failed attempt is
    /// committed (and may lock verification) before its error is returned; an attempt
    /// over the client's rate limit is refused without being evaluated.
    pub async fn verify_identity(
        &self,
        id: CaseId,
        request: VerificationRequest,
        client: Option<ClientAddress>,
        actor: Actor,
    ) -> Result<Case, Error> {
        let policy = &self.inner.config.policy.verification;
        let client = client.map(|c| self.client_key(&c));
        let now = self.now();
        // A cheap look first: a refused client or a locked case costs no PIN hashing.
        let (lookup, client_key) = (id.clone(), client.clone());
        let (window_len, limit) = (minutes(policy.client_window_minutes), policy.client_attempts_per_window);
        let (case, pin_hash, over) = self
            .read(move |c| {
                let record = c.get_case(&lookup)?.ok_or_else(|| not_found("case", lookup.as_str()))?;
                let over = match &client_key {
                    Some(k) => window(c, &format!("client:{k}"), now, window_len, limit)?.err(),
                    None => None,
                };
                let pin = match c.get_account(&record.case.facts.account_id)? {
                    Some(a) => a.pin_hash,
                    None => None,
                };
                Ok((record.case, pin, over))
            })
            .await?;
        if let Some(retry_at) = over {
            return Err(Error::RateLimited { retry_after_seconds: (retry_at - now).whole_seconds().max(1) });
        }
        let locked = lineout_domain::verification::locked(&case, now).is_some();
        let secret = match request {
            VerificationRequest::Code(code) => Secret::Code(code_hash(&self.inner.verification_key, &id, code.trim())),
            VerificationRequest::Pin(pin) => {
                let outcome = match pin_hash {
                    None => PinOutcome::NoPin,
                    // Locked: the domain refuses anyway; don't spend a hash on it.
                    Some(_) if locked => PinOutcome::Wrong,
                    Some(_) if pin.is_empty() || pin.len() > 16 || !pin.bytes().all(|b| b.is_ascii_digit()) => {
                        PinOutcome::Wrong
                    }
                    Some(hash) => {
                        let ok = tokio::task::spawn_blocking(move || crate::secrets::verify(&pin, &hash))
                            .await
                            .map_err(|e| Error::Internal(format!("verify task: {e}")))?;
                        if ok { PinOutcome::Correct } else { PinOutcome::Wrong }
                    }
                };
                Secret::Proof(Proof::Pin { outcome })
            }
            VerificationRequest::PhotoId(mut document) => {
                document.last4 = document.last4.trim().to_ascii_uppercase();
                Secret::Proof(Proof::PhotoId { document })
            }
            VerificationRequest::OperatorToken => Secret::Proof(Proof::OperatorToken),
        };
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let policy = &inner.config.policy.verification;
                if let Some(k) = &client {
                    let (length, limit) = (minutes(policy.client_window_minutes), policy.client_attempts_per_window);
                    take(conn, &format!("client:{k}"), now, length, limit)?;
                }
                let proof = match secret {
                    Secret::Code(hash) => Proof::OneTimeCode { matched: conn.find_verification_code(&id, &hash)? },
                    Secret::Proof(p) => p,
                };
                let cmd = Command::VerifyIdentity { proof, client };
                let (case, refused) = super::execute_reporting(conn, &inner.config, &id, &cmd, &actor, now)?;
                Ok(match refused {
                    Some(e) => Err(Error::Case(e)),
                    None => Ok(case),
                })
            })
            .await
            .and_then(|r| r)
    }
}

/// A secret reduced to what the writer needs: a code's keyed hash, or a checked proof.
enum Secret {
    Code(String),
    Proof(Proof),
}

#[allow(clippy::too_many_arguments)]
fn send_in(
    conn: &mut dyn Conn,
    inner: &Inner,
    id: &CaseId,
    destination: CodeDestination,
    actor: &Actor,
    code_id: String,
    code: String,
    hash: String,
) -> Result<CodeSent, Error> {
    let now = to_millis(inner.clock.now());
    let policy = &inner.config.policy;
    let record = conn.get_case(id)?.ok_or_else(|| not_found("case", id.as_str()))?;
    let cmd = Command::SendVerificationCode { code_id: code_id.clone(), destination };
    let kinds = case::decide(&record.case, &cmd, actor, policy, now)?;
    let account = conn.get_account(&record.case.facts.account_id)?;
    let line = record.case.facts.msisdn.clone();
    let language = record.case.facts.language;
    let account_id = record.case.facts.account_id.clone();
    let Some(_) = recipient(destination, account, line.clone()) else {
        return Err(Error::invalid("destination", format!("the account has no {} contact", destination.as_str())));
    };
    let v = &policy.verification;
    let line_key = format!("send:{}", record.case.facts.line_id.as_str());
    take(conn, &line_key, now, minutes(v.code_send_window_minutes), v.code_sends_per_window)?;
    let expires_at = kinds
        .iter()
        .find_map(|k| match k {
            EventKind::VerificationCodeSent { expires_at, .. } => Some(*expires_at),
            _ => None,
        })
        .ok_or_else(|| Error::Internal("no code event".into()))?;
    let case = persist(conn, &inner.config, Some(record), id, kinds, actor, now)?;
    conn.put_verification_code(id, &code_id, &hash, now)?;
    let effect = Effect::Notify {
        notice: lineout_domain::case::Notice::VerificationCode,
        account_id,
        msisdn: line,
        language,
        details: NoticeDetails {
            deadline: Some(expires_at),
            destination: Some(destination),
            code: Some(code),
            ..NoticeDetails::default()
        },
    };
    conn.insert_outbox(&[OutboxRow {
        id: effects::effect_id(id, case.version, 0),
        case_id: id.clone(),
        kind: effect.kind().to_owned(),
        payload: serde_json::to_string(&effect).map_err(|e| Error::Internal(e.to_string()))?,
        status: OutboxStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        done_at: None,
    }])?;
    Ok(CodeSent { case, code_id, destination, expires_at })
}
