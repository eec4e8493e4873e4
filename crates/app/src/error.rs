//! The application's error type and the one table of stable error codes.
//!
//! Every error a client can see has a code from [`CODES`] with its HTTP status and a
//! description; the web layer maps codes to statuses only through this table.

use crate::ports::StoreError;
use lineout_domain::values::ValueError;

/// Errors from use cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The case engine refused the command.
    #[error(transparent)]
    Case(#[from] lineout_domain::case::Error),
    /// A field of the input is invalid.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{kind} '{id}' not found")]
    NotFound { kind: &'static str, id: String },
    #[error("line already has an open cancellation case: {0}")]
    CaseAlreadyOpen(String),
    #[error("the number belongs to another line")]
    MsisdnTaken,
    #[error("{0} does not exist")]
    MissingReference(&'static str),
    #[error("the case changed concurrently; retry")]
    Concurrency,
    #[error("lineout is overloaded; retry later")]
    Overloaded,
    #[error("the line has no Number Transfer PIN; the customer must request one")]
    NoTransferPin,
    #[error("port request refused: {}", .0.code())]
    PortRefused(lineout_domain::case::PortRefusal),
    /// A records request (export, privacy request, legal hold) was refused.
    #[error(transparent)]
    Records(#[from] crate::records::Refusal),
    #[error("wrong username or password")]
    SignInFailed,
    #[error("too many sign-in attempts; wait a few minutes")]
    SignInThrottled,
    #[error("a member of staff already has this username")]
    StaffUsernameTaken,
    #[error("too many requests; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: i64 },
    /// Fraud guards: the account lock, its lift and "this wasn't me" codes.
    #[error("the account has no lock to lift")]
    AccountNotLocked,
    #[error("a lift of the account lock is already pending")]
    LockLiftPending,
    #[error("no lift of the account lock is pending")]
    NoLockLift,
    #[error("lifting the account lock needs strong verification: a verified case, or the account PIN")]
    VerificationRequired,
    #[error("this code is not a valid, unused 'this wasn't me' code")]
    FraudCodeUnknown,
    #[error("storage failure")]
    Storage(String),
    #[error("internal error")]
    Internal(String),
    /// An imported ledger entry is not in the account's currency.
    #[error("currency: the account's ledger is in {expected}")]
    LedgerCurrencyMismatch { expected: String },
    /// An imported ledger entry reuses a reference of the account with other content.
    #[error("reference: this account already has a different entry with this reference")]
    LedgerReferenceConflict,
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Invalid { field: field.into(), message: message.to_string() }
    }
    pub fn value(field: impl Into<String>, e: ValueError) -> Self {
        Self::invalid(field, e)
    }

    /// The stable code of this error (a key of [`CODES`]).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Case(e) => e.code(),
            Self::Invalid { .. } => "invalid_field",
            Self::NotFound { kind, .. } => match *kind {
                "case" => "case_not_found",
                "line" => "line_not_found",
                "account" => "account_not_found",
                "device" => "device_not_found",
                "number" => "number_not_found",
                _ => "not_found",
            },
            Self::CaseAlreadyOpen(_) => "case_already_open",
            Self::MsisdnTaken => "msisdn_taken",
            Self::MissingReference(_) => "missing_reference",
            Self::Concurrency => "concurrent_update",
            Self::Overloaded => "overloaded",
            Self::NoTransferPin => "no_transfer_pin",
            Self::PortRefused(r) => r.code(),
            Self::Records(r) => r.code(),
            Self::SignInFailed => "sign_in_failed",
            Self::SignInThrottled => "sign_in_throttled",
            Self::StaffUsernameTaken => "staff_username_taken",
            Self::RateLimited { .. } => "rate_limited",
            Self::AccountNotLocked => "account_not_locked",
            Self::LockLiftPending => "lock_lift_pending",
            Self::NoLockLift => "lock_lift_not_found",
            Self::VerificationRequired => "verification_required",
            Self::FraudCodeUnknown => "fraud_code_unknown",
            Self::Storage(_) => "storage_error",
            Self::Internal(_) => "internal_error",
            Self::LedgerCurrencyMismatch { .. } => "ledger_currency_mismatch",
            Self::LedgerReferenceConflict => "ledger_reference_conflict",
        }
    }

    /// The message safe to show a client (internal details stay in logs).
    pub fn public_message(&self) -> String {
        match self {
            Self::Storage(_) => "a storage failure occurred; the request was not applied".into(),
            Self::Internal(_) => "an internal error occurred".into(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict("case_version") => Self::Concurrency,
            StoreError::Conflict("line_msisdn") => Self::MsisdnTaken,
            StoreError::Conflict("case_open_for_line") => Self::CaseAlreadyOpen(String::new()),
            StoreError::Conflict("staff_username") => Self::StaffUsernameTaken,
            StoreError::Conflict(other) => Self::Storage(format!("unexpected conflict: {other}")),
            StoreError::MissingReference(what) => Self::MissingReference(what),
            StoreError::Backend(msg) => Self::Storage(msg),
        }
    }
}

/// Every stable error code: (code, HTTP status, description). The OpenAPI document
/// and the error-code docs are generated from this table.
pub const CODES: &[(&str, u16, &str)] = &[
    ("invalid_field", 400, "A field is missing, malformed or out of range; `details.field` names it."),
    ("invalid_json", 400, "The body is not valid JSON for this endpoint (unknown field, wrong type)."),
    ("invalid_query", 400, "A query parameter is malformed."),
    ("unauthorized", 401, "No valid bearer token was given."),
    ("forbidden", 403, "The token lacks the scope this endpoint needs."),
    ("not_permitted", 403, "This actor may not issue this command."),
    ("case_not_found", 404, "No case has this id."),
    ("line_not_found", 404, "No line has this id or number."),
    ("account_not_found", 404, "No account has this id."),
    ("device_not_found", 404, "No device has this id."),
    ("number_not_found", 404, "lineout holds no end-of-line record for this number."),
    ("no_transfer_pin", 404, "The line has no Number Transfer PIN; the customer must request one."),
    ("not_found", 404, "No such resource or route."),
    ("method_not_allowed", 405, "The route exists but not with this method."),
    ("case_already_open", 409, "The line already has an open cancellation case."),
    ("msisdn_taken", 409, "Another line holds this number."),
    ("concurrent_update", 409, "The case changed at the same time; retry."),
    ("illegal_transition", 409, "The command is not allowed in the case's current status."),
    ("too_late_to_withdraw", 409, "Termination has started; the case can no longer be withdrawn."),
    ("account_locked", 409, "The account is locked against cancellation."),
    ("line_not_eligible", 409, "The line's status does not allow cancellation."),
    ("nothing_owed", 409, "The case has nothing to settle."),
    ("no_device", 409, "The case has no device return pending."),
    ("write_off_not_allowed", 409, "The balance exceeds the policy's write-off limit."),
    ("payload_too_large", 413, "The body exceeds the size limit."),
    ("unsupported_media_type", 415, "The body must be application/json."),
    ("port_account_mismatch", 422, "The account number does not match the line's account."),
    ("port_pin_invalid", 422, "The Number Transfer PIN is wrong."),
    ("port_pin_expired", 422, "The Number Transfer PIN has expired or was replaced."),
    ("port_pin_void", 422, "Too many wrong attempts: the PIN is void; the customer must request a new one."),
    ("duplicate_payment", 409, "A payment with this reference was already recorded on this case (a replayed report)."),
    ("device_not_arrived", 409, "The device has not arrived yet; receive it before inspecting it."),
    ("invalid_tracking", 422, "The tracking number does not have the carrier's format."),
    ("invalid_inspection", 422, "The inspection names an accessory not expected back, or too many photos."),
    ("device_mismatch", 422, "The device received does not match the line's device."),
    ("invalid_amount", 422, "The amount must be positive and in the account's currency."),
    ("invalid_date", 422, "The requested date is in the past or more than a year ahead."),
    ("invalid_text", 422, "A text field is empty, too long or has control characters."),
    ("missing_reference", 422, "A referenced account or line does not exist."),
    ("refund_method_not_offered", 422, "The policy does not offer this refund method."),
    ("refund_already_issued", 409, "The refund was already decided at termination; its method can no longer change."),
    ("payment_account_mismatch", 422, "The payment names another account than the case's."),
    ("ledger_currency_mismatch", 422, "The entry's currency is not the account's currency."),
    (
        "ledger_reference_conflict",
        409,
        "This account already has a ledger entry with this reference and different content.",
    ),
    // Records: exports, privacy requests, legal holds, retention.
    ("export_account_mismatch", 403, "The customer may export only their own account's data."),
    ("export_not_found", 404, "No export has this download token."),
    ("export_not_ready", 409, "The export is still being produced; retry later."),
    ("export_failed", 409, "The export could not be produced; request a new one."),
    ("export_token_expired", 410, "The download link has expired; request a new export."),
    ("export_token_used", 410, "The download link was already used; request a new export."),
    ("export_window_closed", 409, "The account closed longer ago than the policy allows exports for."),
    ("account_erased", 409, "The account's personal data has been erased."),
    ("legal_hold", 409, "The account is under legal hold: nothing is erased until the hold is cleared."),
    ("privacy_open_case", 409, "The account has an open case; deletion waits until it ends."),
    (
        "privacy_active_line",
        409,
        "The account still has a line in service; it ends (a cancellation) before its data is deleted.",
    ),
    ("privacy_request_not_found", 404, "No privacy request has this id."),
    ("privacy_request_completed", 409, "The privacy request is already completed."),
    ("privacy_already_extended", 409, "The privacy request was already extended once."),
    ("sign_in_failed", 401, "The console username or password is wrong (or the account is disabled)."),
    ("sign_in_required", 401, "The console page needs a signed-in member of staff."),
    ("role_forbidden", 403, "The signed-in member of staff's role may not use this page."),
    ("csrf_invalid", 403, "The form's anti-forgery token is missing or wrong; reload the page and try again."),
    ("staff_username_taken", 409, "A member of staff already has this username."),
    ("sign_in_throttled", 429, "Too many failed sign-ins for this username or address; wait and try again."),
    (
        "verification_locked",
        423,
        "Too many wrong verification attempts: verification is locked for a while (`details.until`).",
    ),
    ("code_invalid", 422, "The one-time code is not valid for this case."),
    ("code_expired", 422, "The one-time code has expired or a newer code replaced it; ask for a new one."),
    ("code_used", 422, "The one-time code was already used."),
    ("pin_invalid", 422, "The account PIN is wrong."),
    ("no_pin", 422, "The account has no PIN; use another verification method."),
    ("photo_id_expired", 422, "The photo ID has expired."),
    ("invalid_photo_id", 422, "A photo ID needs its type, the last 4 characters of its number and its expiry date."),
    ("verification_method_not_allowed", 422, "The case's channel does not accept this verification method."),
    (
        "rate_limited",
        429,
        "Too many requests (codes per line, attempts per client); retry after `details.retry_after_seconds`.",
    ),
    ("same_reviewer", 409, "A high-risk case needs its second approval from a different reviewer."),
    ("account_not_locked", 409, "The account has no lock to lift."),
    ("lock_lift_pending", 409, "A lift of the account lock is already pending (cooling period)."),
    ("lock_lift_not_found", 404, "No lift of the account lock is pending."),
    ("verification_required", 403, "Strong verification is needed first (a verified case, or the account PIN)."),
    ("fraud_code_unknown", 404, "The code is not a valid, unused 'this wasn't me' code; nothing changed."),
    ("overloaded", 503, "lineout is overloaded; retry later."),
    ("storage_error", 500, "The database failed; nothing was applied."),
    ("internal_error", 500, "An internal error occurred."),
];

/// The HTTP status for a code (500 for an unknown code, which is a bug).
pub fn status_of(code: &str) -> u16 {
    CODES.iter().find(|(c, _, _)| *c == code).map_or(500, |(_, s, _)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_and_known() {
        let mut seen = std::collections::HashSet::new();
        for (code, status, _) in CODES {
            assert!(seen.insert(*code), "duplicate code {code}");
            assert!((400..600).contains(status));
        }
        for e in [
            lineout_domain::case::Error::AccountLocked,
            lineout_domain::case::Error::NotPermitted,
            lineout_domain::case::Error::DeviceMismatch,
            lineout_domain::case::Error::NoDevice,
            lineout_domain::case::Error::NothingOwed,
            lineout_domain::case::Error::InvalidAmount,
            lineout_domain::case::Error::InvalidDate,
            lineout_domain::case::Error::TooLateToWithdraw,
            lineout_domain::case::Error::InvalidText,
            lineout_domain::case::Error::DeviceNotArrived,
            lineout_domain::case::Error::DuplicatePayment,
            lineout_domain::case::Error::InvalidTracking,
            lineout_domain::case::Error::InvalidInspection,
            lineout_domain::case::Error::SameReviewer,
            lineout_domain::case::Error::LineNotEligible("terminated"),
            lineout_domain::case::Error::IllegalTransition { command: "x", status: "y" },
            lineout_domain::case::Error::WriteOffNotAllowed { owed: String::new(), limit_cents: 0 },
            lineout_domain::case::Error::RefundMethodNotOffered,
            lineout_domain::case::Error::RefundAlreadyIssued,
            lineout_domain::case::Error::PaymentAccountMismatch,
        ] {
            assert!(seen.contains(e.code()), "code {} missing from CODES", e.code());
        }
    }
}
