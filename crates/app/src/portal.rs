//! The customer portal's sign-in: phone number + one-time code sent by SMS to that line.
//!
//! A sign-in code belongs to no case, so it is the one customer message not sent through
//! the outbox: it is rendered, registered with its authenticity code, and handed to the
//! notifier while the customer waits (a failure is shown at once and the customer asks
//! again; nothing else depends on it). Codes are 6 digits from the CSPRNG, kept only as
//! a keyed hash bound to the line and purpose, valid for the verification policy's
//! minutes, used once, and void after the policy's wrong attempts. Sends are limited per
//! line and attempts per client address, with the verification policy's windows.
//!
//! Signing in proves possession of the line; it does not verify a cancellation: a case
//! opened in the portal is verified with its own one-time code (step-up).

use super::verification::{ClientAddress, keyed_hash, take};
use super::{Engine, hash_secret, message_code, to_millis};
use crate::error::Error;
use crate::ports::{Message, PortalCode, PortalSession, Recipient};
use lineout_domain::account::Line;
use lineout_domain::case::Notice;
use lineout_domain::effects::NoticeDetails;
use lineout_domain::values::{CaseId, Msisdn};
use time::{Duration, OffsetDateTime};

/// The reference messages outside any case carry (in the notifier's records and the
/// authenticity register).
pub const SIGN_IN_REFERENCE: &str = "sign-in";
const PURPOSE: &str = "portal_sign_in";

/// Why a sign-in code was not accepted (all look alike to the customer except `Locked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// No code, a wrong one, an expired one or one already used.
    Invalid,
    /// Too many wrong codes: ask for a new code.
    Locked,
}

/// A signed-in customer session.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalSignedIn {
    pub secret: String,
    pub csrf: String,
    pub line: Line,
    pub expires_at: OffsetDateTime,
}

fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
}

impl Engine {
    fn portal_code_hash(&self, line_id: &str, code: &str) -> String {
        keyed_hash(&self.inner.verification_key, &["portal", line_id, PURPOSE, code])
    }

    /// Sends a sign-in code by SMS to the line with this number. Returns `Ok(None)` when
    /// no active line has the number (the page says the same either way, so numbers
    /// cannot be probed). Limited per line and per client address.
    pub async fn portal_send_code(
        &self,
        msisdn: Msisdn,
        client: Option<ClientAddress>,
    ) -> Result<Option<OffsetDateTime>, Error> {
        let client = client.map(|c| self.client_key(&c));
        let Some(line) = self.find_line(msisdn).await? else {
            // Still counts against the client, so probing many numbers is slowed down.
            if let Some(k) = client {
                let inner = std::sync::Arc::clone(&self.inner);
                self.inner
                    .writer
                    .run(move |conn| {
                        let v = &inner.config.policy.verification;
                        let now = to_millis(inner.clock.now());
                        take(
                            conn,
                            &format!("client:{k}"),
                            now,
                            minutes(v.client_window_minutes),
                            v.client_attempts_per_window,
                        )
                    })
                    .await?;
            }
            return Ok(None);
        };
        if matches!(
            line.status,
            lineout_domain::account::LineStatus::Terminated | lineout_domain::account::LineStatus::PortedOut
        ) {
            return Ok(None);
        }
        let account = self.account(line.account_id.clone()).await?;
        let code = self.inner.ids.digits(super::verification::CODE_DIGITS);
        let hash = self.portal_code_hash(line.id.as_str(), &code);
        let secret = self.inner.ids.secret();
        let effect_id = format!("signin.{}", &secret[secret.len().saturating_sub(16)..]);
        let reference = CaseId::parse(SIGN_IN_REFERENCE).map_err(|e| Error::Internal(e.to_string()))?;
        let inner = std::sync::Arc::clone(&self.inner);
        let (line_id, reference_w, effect_w) = (line.id.to_string(), reference.clone(), effect_id.clone());
        let (expires_at, auth_code) = self
            .inner
            .writer
            .run(move |conn| {
                let v = &inner.config.policy.verification;
                let now = to_millis(inner.clock.now());
                if let Some(k) = &client {
                    take(
                        conn,
                        &format!("client:{k}"),
                        now,
                        minutes(v.client_window_minutes),
                        v.client_attempts_per_window,
                    )?;
                }
                take(
                    conn,
                    &format!("signin:{line_id}"),
                    now,
                    minutes(v.code_send_window_minutes),
                    v.code_sends_per_window,
                )?;
                let expires_at = now + minutes(v.code_validity_minutes);
                conn.put_portal_code(&PortalCode { line_id, code_hash: hash, expires_at, attempts: 0, used: false })?;
                let auth = message_code(conn, &inner, &effect_w, &reference_w, Notice::PortalSignInCode, now)?;
                Ok((expires_at, auth))
            })
            .await?;
        let details = NoticeDetails { deadline: Some(expires_at), code: Some(code), ..NoticeDetails::default() };
        let ctx = crate::notices::NoticeContext {
            case_id: &reference,
            language: account.language,
            auth_code: &auth_code,
            details: &details,
            fraud_code: None,
        };
        let rendered = crate::notices::render(Notice::PortalSignInCode, ctx);
        let message = Message {
            case_id: reference,
            notice: Notice::PortalSignInCode,
            language: account.language,
            to: Recipient { email: None, sms: Some(line.msisdn.clone()) },
            subject: rendered.subject,
            body: rendered.email_text,
            sms_text: rendered.sms_text,
            auth_code,
        };
        match self.inner.adapters.notifier.send(&effect_id, &message).await {
            Ok(_) => {
                tracing::info!(effect = %effect_id, "portal sign-in code sent");
                Ok(Some(expires_at))
            }
            Err(e) => {
                tracing::warn!(effect = %effect_id, error = %e.message, "portal sign-in code not sent");
                Err(Error::Overloaded)
            }
        }
    }

    /// Checks a sign-in code for the line with this number and opens a session of `ttl`.
    pub async fn portal_sign_in(
        &self,
        msisdn: Msisdn,
        code: String,
        client: Option<ClientAddress>,
        ttl: Duration,
    ) -> Result<Result<PortalSignedIn, SignInRefusal>, Error> {
        let client = client.map(|c| self.client_key(&c));
        let line = self.find_line(msisdn).await?;
        let code = code.trim().to_owned();
        let hash = match &line {
            Some(l) if code.len() == super::verification::CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit()) => {
                Some(self.portal_code_hash(l.id.as_str(), &code))
            }
            _ => None,
        };
        let secret = format!("cus_{}", self.inner.ids.secret());
        let csrf = self.inner.ids.secret();
        let inner = std::sync::Arc::clone(&self.inner);
        let (secret_w, csrf_w) = (secret.clone(), csrf.clone());
        let line_id = line.as_ref().map(|l| l.id.to_string());
        let outcome = self
            .inner
            .writer
            .run(move |conn| {
                let v = &inner.config.policy.verification;
                let now = to_millis(inner.clock.now());
                if let Some(k) = &client {
                    take(
                        conn,
                        &format!("client:{k}"),
                        now,
                        minutes(v.client_window_minutes),
                        v.client_attempts_per_window,
                    )?;
                }
                let Some(line_id) = line_id else { return Ok(Err(SignInRefusal::Invalid)) };
                let Some(mut stored) = conn.get_portal_code(&line_id)? else { return Ok(Err(SignInRefusal::Invalid)) };
                if stored.attempts >= v.max_failed_attempts {
                    return Ok(Err(SignInRefusal::Locked));
                }
                let matches = hash.as_deref().is_some_and(|h| {
                    h.len() == stored.code_hash.len()
                        && h.bytes().zip(stored.code_hash.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
                });
                if !matches || stored.used || stored.expires_at <= now {
                    if !matches {
                        stored.attempts += 1;
                        conn.put_portal_code(&stored)?;
                        if stored.attempts >= v.max_failed_attempts {
                            return Ok(Err(SignInRefusal::Locked));
                        }
                    }
                    return Ok(Err(SignInRefusal::Invalid));
                }
                stored.used = true;
                conn.put_portal_code(&stored)?;
                conn.purge_portal_sessions(now, 100)?;
                let session = PortalSession {
                    secret_hash: hash_secret(&secret_w),
                    line_id,
                    csrf: csrf_w,
                    created_at: now,
                    expires_at: now + ttl,
                };
                let expires_at = session.expires_at;
                conn.insert_portal_session(&session)?;
                Ok(Ok(expires_at))
            })
            .await?;
        Ok(match (outcome, line) {
            (Ok(expires_at), Some(line)) => Ok(PortalSignedIn { secret, csrf, line, expires_at }),
            (Ok(_), None) => Err(SignInRefusal::Invalid),
            (Err(r), _) => Err(r),
        })
    }

    /// The live portal session for a cookie's secret, with its line.
    pub async fn portal_session(&self, secret: String) -> Result<Option<(PortalSession, Line)>, Error> {
        if secret.len() > 200 {
            return Ok(None);
        }
        let now = self.now();
        self.read(move |c| {
            let Some(session) = c.find_portal_session(&hash_secret(&secret), now)? else { return Ok(None) };
            let line_id = lineout_domain::values::LineId::parse(&session.line_id)
                .map_err(|e| Error::Internal(format!("portal session line: {e}")))?;
            Ok(c.get_line(&line_id)?.map(|line| (session, line)))
        })
        .await
    }

    /// The devices of a line (what the portal shows before a cancellation).
    pub async fn devices_of_line(
        &self,
        line: lineout_domain::values::LineId,
    ) -> Result<Vec<lineout_domain::account::Device>, Error> {
        self.read(move |c| Ok(c.devices_for_line(&line)?)).await
    }

    /// Ends a portal session.
    pub async fn portal_sign_out(&self, secret: String) -> Result<(), Error> {
        if secret.len() > 200 {
            return Ok(());
        }
        self.writer().run(move |c| Ok(c.delete_portal_session(&hash_secret(&secret)).map(|_| ())?)).await
    }
}
