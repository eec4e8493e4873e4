//! Identity verification: the proofs a case accepts, one-time codes, failed attempts and
//! the lockout, and the per-channel policy of which methods verify.
//!
//! The shell checks secrets (it compares a code's keyed hash or a PIN's argon2id hash)
//! and hands the domain only the outcome; the domain decides whether that outcome
//! verifies the case on its channel, counts failures, and locks verification. Nothing
//! here sees a code, a PIN or a full document number.

use crate::case::{Actor, Case, Channel, Error, EventKind, Status, VerificationMethod};
use crate::policy::Policy;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

/// Where a one-time code is sent: always one of the account's own contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeDestination {
    /// By SMS to the line being cancelled.
    Line,
    /// By email to the account's address.
    Email,
    /// By SMS to the account's alternate phone.
    AltPhone,
}

impl CodeDestination {
    pub const ALL: [CodeDestination; 3] = [Self::Line, Self::Email, Self::AltPhone];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Email => "email",
            Self::AltPhone => "alt_phone",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// The kind of photo identity document an agent checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    Passport,
    DriversLicense,
    StateId,
    NationalId,
    ResidencePermit,
    MilitaryId,
}

/// What an agent attests about a photo ID: never the full document number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoId {
    pub document_type: DocumentType,
    /// The document number's last 4 characters (letters or digits).
    pub last4: String,
    /// The document's expiry date; it must not have passed on the day of the check.
    pub expires_on: Date,
}

impl PhotoId {
    /// Whether `last4` is exactly 4 ASCII letters or digits (stored upper-case).
    pub fn last4_ok(&self) -> bool {
        self.last4.len() == 4 && self.last4.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    }
}

/// Whether the account PIN entered matched (checked by the shell off the writer thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinOutcome {
    Correct,
    Wrong,
    /// The account has no PIN: another method is needed.
    NoPin,
}

/// The evidence offered for a verification, as checked by the shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Proof {
    /// A one-time code: the id of the case's code whose keyed hash matched the code
    /// entered, or `None` when none did.
    OneTimeCode { matched: Option<String> },
    /// The account PIN.
    Pin { outcome: PinOutcome },
    /// Photo ID checked in a store by a member of staff.
    PhotoId { document: PhotoId },
    /// An API client whose token holds the verification scope (the shell checked it).
    OperatorToken,
    /// Operator-initiated bulk termination: no customer verification, a notice instead.
    OperatorInitiated,
}

impl Proof {
    pub fn method(&self) -> VerificationMethod {
        match self {
            Self::OneTimeCode { .. } => VerificationMethod::OneTimeCode,
            Self::Pin { .. } => VerificationMethod::Pin,
            Self::PhotoId { .. } => VerificationMethod::PhotoId,
            Self::OperatorToken => VerificationMethod::OperatorToken,
            Self::OperatorInitiated => VerificationMethod::OperatorInitiated,
        }
    }
}

/// A knowledge question the customer answered. Answers are risk signals only: they
/// never verify a case on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnowledgeItem {
    Name,
    Address,
    DateOfBirth,
    IdNumber,
    LastPayment,
    CallDetails,
}

/// Why a verification attempt failed (recorded in `verification_failed` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No code of this case matches.
    CodeInvalid,
    /// The code's 10 minutes have passed, or a newer code replaced it.
    CodeExpired,
    /// The code was already used.
    CodeUsed,
    PinInvalid,
    NoPin,
    PhotoIdExpired,
    /// The case's channel does not accept this method.
    MethodNotAllowed,
    /// Verification is locked after too many wrong attempts.
    Locked,
}

impl Refusal {
    /// Whether the failure counts toward the lockout (a wrong secret, i.e. a guess).
    pub fn counts(self) -> bool {
        matches!(self, Self::CodeInvalid | Self::CodeExpired | Self::CodeUsed | Self::PinInvalid)
    }

    /// The error the caller gets once the failure is recorded.
    pub fn error(self, locked_until: Option<OffsetDateTime>) -> Error {
        match self {
            Self::CodeInvalid => Error::CodeInvalid,
            Self::CodeExpired => Error::CodeExpired,
            Self::CodeUsed => Error::CodeUsed,
            Self::PinInvalid => Error::PinInvalid,
            Self::NoPin => Error::NoPin,
            Self::PhotoIdExpired => Error::PhotoIdExpired,
            Self::MethodNotAllowed => Error::MethodNotAllowed,
            Self::Locked => Error::VerificationLocked { until: locked_until },
        }
    }
}

/// The case's current one-time code (its hash lives in the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRef {
    pub code_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub used: bool,
}

/// Longest code id and client key the shell may pass.
const MAX_REF_CHARS: usize = 64;

fn ref_ok(s: &str) -> bool {
    (1..=MAX_REF_CHARS).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether verification is locked at `now`.
pub fn locked(case: &Case, now: OffsetDateTime) -> Option<OffsetDateTime> {
    case.verification_locked_until.filter(|until| *until > now)
}

/// Decides a verification attempt. A failed attempt is recorded (`verification_failed`,
/// and `verification_locked` at the limit); the shell reports the refusal after commit.
pub fn decide_verify(
    case: &Case,
    proof: &Proof,
    client: Option<&str>,
    actor: &Actor,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<Vec<EventKind>, Error> {
    let method = proof.method();
    if case.status != Status::Verifying {
        // A code presented again after it verified the case: say so plainly.
        if let (Proof::OneTimeCode { matched: Some(id) }, Some(code)) = (proof, &case.verification_code)
            && code.code_id == *id
            && code.used
        {
            return Err(Error::CodeUsed);
        }
        return Err(Error::IllegalTransition { command: "verify_identity", status: case.status.as_str() });
    }
    if client.is_some_and(|c| !ref_ok(c)) {
        return Err(Error::InvalidText);
    }
    // Who may offer which proof: staff attest photo IDs, API clients stand on their token,
    // only lineout itself initiates bulk terminations; codes and PINs anyone may enter.
    let actor_ok = match proof {
        Proof::PhotoId { .. } => matches!(actor, Actor::Staff(_)),
        Proof::OperatorToken => matches!(actor, Actor::Client(_)),
        Proof::OperatorInitiated => *actor == Actor::System,
        Proof::OneTimeCode { matched } => matched.as_deref().is_none_or(ref_ok),
        Proof::Pin { .. } => true,
    };
    if !actor_ok {
        return Err(Error::NotPermitted);
    }
    if let Proof::PhotoId { document } = proof
        && !document.last4_ok()
    {
        return Err(Error::InvalidPhotoId);
    }
    let failed = |reason: Refusal| EventKind::VerificationFailed {
        method,
        reason,
        channel: case.channel,
        client: client.map(str::to_owned),
        failures: case.verification_failures + u32::from(reason.counts()),
    };
    if locked(case, now).is_some() {
        return Ok(vec![failed(Refusal::Locked)]);
    }
    if !policy.verification.allows(case.channel, method) {
        return Ok(vec![failed(Refusal::MethodNotAllowed)]);
    }
    let refusal = match proof {
        Proof::OneTimeCode { matched: None } => Some(Refusal::CodeInvalid),
        Proof::OneTimeCode { matched: Some(id) } => match &case.verification_code {
            Some(code) if code.code_id == *id && code.used => Some(Refusal::CodeUsed),
            Some(code) if code.code_id == *id && code.expires_at > now => None,
            // Expired, or replaced by a newer code.
            _ => Some(Refusal::CodeExpired),
        },
        Proof::Pin { outcome: PinOutcome::Correct } => None,
        Proof::Pin { outcome: PinOutcome::Wrong } => Some(Refusal::PinInvalid),
        Proof::Pin { outcome: PinOutcome::NoPin } => Some(Refusal::NoPin),
        Proof::PhotoId { document } if document.expires_on < now.date() => Some(Refusal::PhotoIdExpired),
        Proof::PhotoId { .. } | Proof::OperatorToken | Proof::OperatorInitiated => None,
    };
    if let Some(reason) = refusal {
        let mut events = vec![failed(reason)];
        if reason.counts() && case.verification_failures + 1 >= policy.verification.max_failed_attempts {
            let until = now + Duration::minutes(i64::from(policy.verification.lock_minutes));
            events.push(EventKind::VerificationLocked { until });
        }
        return Ok(events);
    }
    Ok(vec![EventKind::IdentityVerified {
        method,
        channel: Some(case.channel),
        client: client.map(str::to_owned),
        code_id: match proof {
            Proof::OneTimeCode { matched } => matched.clone(),
            _ => None,
        },
        photo_id: match proof {
            Proof::PhotoId { document } => Some(document.clone()),
            _ => None,
        },
    }])
}

/// Decides sending a new one-time code (it replaces any earlier one).
pub fn decide_send_code(
    case: &Case,
    code_id: &str,
    destination: CodeDestination,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<Vec<EventKind>, Error> {
    if case.status != Status::Verifying {
        return Err(Error::IllegalTransition { command: "send_verification_code", status: case.status.as_str() });
    }
    if !ref_ok(code_id) {
        return Err(Error::InvalidText);
    }
    if let Some(until) = locked(case, now) {
        return Err(Error::VerificationLocked { until: Some(until) });
    }
    if !policy.verification.allows(case.channel, VerificationMethod::OneTimeCode) {
        return Err(Error::MethodNotAllowed);
    }
    let expires_at = now + Duration::minutes(i64::from(policy.verification.code_validity_minutes));
    Ok(vec![EventKind::VerificationCodeSent { code_id: code_id.to_owned(), destination, expires_at }])
}

/// The methods each channel accepts by default (see the policy).
pub fn default_methods(channel: Channel) -> Vec<VerificationMethod> {
    use VerificationMethod as M;
    match channel {
        Channel::Web | Channel::Chat => vec![M::OneTimeCode],
        Channel::Store => vec![M::PhotoId, M::OneTimeCode],
        Channel::Ivr => vec![M::Pin, M::OneTimeCode],
        Channel::Api => vec![M::OperatorToken],
        Channel::Bulk => vec![M::OperatorInitiated],
    }
}

#[cfg(test)]
#[path = "verification_tests.rs"]
mod tests;
