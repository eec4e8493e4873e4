//! Fraud guards over HTTP: CPNI gating of reads, the account lock and its lift, and the
//! public "this wasn't me" endpoint.
//!
//! **Who sees CPNI.** A token holding `admin` or `accounts:read` is a back-office
//! integration (billing, reporting) and always sees full records. Every other token that
//! may read cases or accounts — `cases:read` (staff and agent tools), `cases:customer`
//! (clients acting for the customer) — acts for a customer and sees only what
//! verification needs (the masked number, the holder's name) until the account has a
//! verification within the policy window: an open case whose customer was verified, or
//! a verified case that ended less than `policy.fraud.cpni_window_minutes` ago. Give
//! agent tools `cases:*` scopes, never `accounts:read`.

use crate::dto::{LocksDto, rfc3339};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathId, authenticate, has_scope};
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use lineout_app::engine::fraud::{LiftProof, LockStatus};
use lineout_domain::values::{AccountId, LineId, Msisdn};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

/// The marker of a gated view.
pub const GATED: &str = "gated";

/// A reader of cases or accounts, and whether it may see CPNI without a verification.
pub struct Viewer {
    /// `admin` or `accounts:read`: a back-office integration.
    pub privileged: bool,
}

/// A reader of cases: `cases:read` or `cases:customer` (gated), with `accounts:read` or
/// `admin` as well (full).
pub struct CaseViewer(pub Viewer);

/// A reader of accounts, lines, devices and ledgers: `accounts:read` or `admin` (full),
/// or `cases:read` / `cases:customer` (gated until verification).
pub struct AccountViewer(pub Viewer);

impl FromRequestParts<AppState> for CaseViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = authenticate(parts, state).await?;
        if has_scope(&token, "cases:read") || has_scope(&token, "cases:customer") {
            Ok(CaseViewer(Viewer { privileged: has_scope(&token, "accounts:read") }))
        } else {
            Err(ApiError::new("forbidden", "this token lacks the 'cases:read' scope").with("scope", "cases:read"))
        }
    }
}

impl FromRequestParts<AppState> for AccountViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = authenticate(parts, state).await?;
        let privileged = has_scope(&token, "accounts:read");
        if privileged || has_scope(&token, "cases:read") || has_scope(&token, "cases:customer") {
            Ok(AccountViewer(Viewer { privileged }))
        } else {
            Err(ApiError::new("forbidden", "this token lacks the 'accounts:read' scope").with("scope", "accounts:read"))
        }
    }
}

impl Viewer {
    /// Whether this viewer sees the account's CPNI now.
    pub async fn sees(&self, state: &AppState, account: &AccountId) -> ApiResult<bool> {
        Ok(self.privileged || state.engine.cpni_open_for_account(account.clone()).await?)
    }
}

/// A client that may lock an account or manage the lock's lift: `cases:customer` (acting
/// for the customer), `cases:write` (an agent) or `accounts:write`.
pub struct LockClient;

impl FromRequestParts<AppState> for LockClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = authenticate(parts, state).await?;
        if ["cases:customer", "cases:write", "accounts:write"].iter().any(|s| has_scope(&token, s)) {
            Ok(LockClient)
        } else {
            Err(ApiError::new("forbidden", "this token lacks the 'cases:customer' or 'cases:write' scope")
                .with("scope", "cases:customer"))
        }
    }
}

/// A number shown before verification: `•••• 1234`.
pub fn masked(msisdn: &Msisdn) -> String {
    format!("•••• {}", msisdn.last4())
}

/// A case as seen before the customer is verified.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatedCaseOut {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub channel: String,
    #[schema(format = DateTime)]
    pub opened_at: String,
    /// `pending` until the customer is verified.
    pub verification: String,
    /// `•••• 1234`.
    pub msisdn_masked: String,
    /// The holder's name (case reads only, not lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    /// Always `gated`.
    pub cpni: String,
}

impl GatedCaseOut {
    pub fn of(case: &lineout_domain::Case, holder_name: Option<String>) -> Self {
        Self {
            id: case.id.to_string(),
            kind: case.kind.as_str().to_owned(),
            status: case.status.as_str().to_owned(),
            channel: case.channel.as_str().to_owned(),
            opened_at: rfc3339(case.opened_at),
            verification: match case.verification {
                lineout_domain::case::Step::Done => "done",
                lineout_domain::case::Step::Pending => "pending",
                lineout_domain::case::Step::NotNeeded => "not_needed",
            }
            .to_owned(),
            msisdn_masked: masked(&case.facts.msisdn),
            holder_name,
            cpni: GATED.to_owned(),
        }
    }
}

/// An account as seen before the customer is verified: no contacts, balances or locks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatedAccountOut {
    pub id: String,
    pub holder_name: String,
    /// Always `gated`.
    pub cpni: String,
}

/// A line as seen before the customer is verified: the masked number only.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatedLineOut {
    pub id: String,
    pub account_id: String,
    pub msisdn_masked: String,
    pub cpni: String,
}

/// A device, a ledger or a statement before the customer is verified: nothing but the id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatedOut {
    pub id: String,
    pub cpni: String,
}

impl GatedOut {
    pub fn of(id: &str) -> Self {
        Self { id: id.to_owned(), cpni: GATED.to_owned() }
    }
}

// ---- The account lock ------------------------------------------------------------------

/// The account's free lock and the pending lift of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LockOut {
    pub account_id: String,
    pub locks: LocksDto,
    /// When a requested lift takes effect (end of the cooling period); null when none is pending.
    #[schema(format = DateTime)]
    pub lift_effective_at: Option<String>,
}

fn lock_out(account: &AccountId, s: &LockStatus) -> LockOut {
    LockOut {
        account_id: account.to_string(),
        locks: LocksDto {
            port_out: s.locks.port_out,
            sim_change: s.locks.sim_change,
            cancellation: s.locks.cancellation,
        },
        lift_effective_at: s.lift_effective_at.map(rfc3339),
    }
}

/// How the customer proves who they are to lift the lock: with no body fields, a
/// verified case of the account; or the account PIN with one of the account's lines.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockLiftIn {
    #[serde(default)]
    pub line_id: Option<String>,
    /// The account PIN (4-16 digits); never stored or logged.
    #[serde(default)]
    pub pin: Option<String>,
}

/// Switch the account's free lock on: port-out (port requests and transfer PINs), SIM
/// change and cancellation are blocked at once. A pending lift is cancelled.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/lock", tag = "accounts",
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lock is on.", body = LockOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `cases:customer`, `cases:write` or `accounts:write`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn lock_account(
    State(state): State<AppState>,
    _client: LockClient,
    PathId(id): PathId<AccountId>,
) -> ApiResult<Json<LockOut>> {
    let status = state.engine.lock_account(id.clone()).await?;
    Ok(Json(lock_out(&id, &status)))
}

/// The account's locks and any pending lift.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}/lock", tag = "accounts",
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The locks.", body = LockOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden`.", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn get_lock(
    State(state): State<AppState>,
    _client: LockClient,
    PathId(id): PathId<AccountId>,
) -> ApiResult<Json<LockOut>> {
    let status = state.engine.lock_status(id.clone()).await?;
    Ok(Json(lock_out(&id, &status)))
}

/// Ask to lift the account lock. Needs strong verification (a verified case of the
/// account, or the account PIN with one of its lines); the lift takes effect after the
/// cooling period (`policy.fraud.lock_cooling_hours`, 24 h by default). The holder is
/// told now and when it takes effect.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/lock-lift", tag = "accounts", request_body = LockLiftIn,
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The lift is pending.", body = LockOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden`, `verification_required`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 404, description = "`account_not_found`, `line_not_found`.", body = ErrorBody),
        (status = 409, description = "`account_not_locked`, `lock_lift_pending`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn request_lock_lift(
    State(state): State<AppState>,
    _client: LockClient,
    PathId(id): PathId<AccountId>,
    JsonBody(input): JsonBody<LockLiftIn>,
) -> ApiResult<(axum::http::StatusCode, Json<LockOut>)> {
    let proof = match (input.line_id, input.pin) {
        (None, None) => LiftProof::VerifiedCase,
        (Some(line), Some(pin)) => {
            let line = LineId::parse(&line).map_err(|e| ApiError::field("line_id", e))?;
            if !(4..=16).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::field("pin", "must be 4-16 digits"));
            }
            LiftProof::Pin { line, pin }
        }
        (None, Some(_)) => return Err(ApiError::field("line_id", "is required with a PIN")),
        (Some(_), None) => return Err(ApiError::field("pin", "is required with a line")),
    };
    let status = state.engine.request_lock_lift(id.clone(), proof).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(lock_out(&id, &status))))
}

/// Cancel a pending lift during its cooling period: the lock stays on.
#[utoipa::path(
    delete, path = "/api/v1/accounts/{id}/lock-lift", tag = "accounts",
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lift was cancelled; the lock stays on.", body = LockOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden`.", body = ErrorBody),
        (status = 404, description = "`account_not_found`, `lock_lift_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn cancel_lock_lift(
    State(state): State<AppState>,
    _client: LockClient,
    PathId(id): PathId<AccountId>,
) -> ApiResult<Json<LockOut>> {
    let status = state.engine.cancel_lock_lift(id.clone()).await?;
    Ok(Json(lock_out(&id, &status)))
}

// ---- "This wasn't me" ---------------------------------------------------------------------

/// A "this wasn't me" report: the code from the notice about the request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FraudReportIn {
    /// The 12-character code from the notice.
    pub code: String,
}

/// What a report did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FraudReportOut {
    /// The reported case (its id only).
    pub case_id: String,
    /// `frozen`: the request is stopped for review; the line stays active.
    pub status: String,
}

/// Report a cancellation or port-out request the customer did not make, with the code
/// from the notice about it. No sign-in: the code is the proof. A valid, unused code
/// freezes the case for review and notifies the customer; a wrong code changes nothing.
/// Rate-limited per client address (`policy.fraud.reports_per_window` per
/// `policy.fraud.report_window_minutes`).
#[utoipa::path(
    post, path = "/api/v1/fraud-reports", tag = "cases", request_body = FraudReportIn,
    responses(
        (status = 200, description = "The case is frozen.", body = FraudReportOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 404, description = "`fraud_code_unknown` (wrong or used code; nothing changed).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 409, description = "`illegal_transition` (the case can no longer be stopped).", body = ErrorBody),
        (status = 429, description = "`rate_limited`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn report_fraud(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(input): JsonBody<FraudReportIn>,
) -> ApiResult<Json<FraudReportOut>> {
    let policy = &state.engine.policy().fraud;
    let window = Duration::minutes(i64::from(policy.report_window_minutes));
    let key = addr.as_deref().unwrap_or("unknown");
    if !state.fraud_reports.allow(key, policy.reports_per_window, window, state.engine.now()) {
        return Err(ApiError::new("rate_limited", "too many reports from this address; retry later"));
    }
    let code = input.code.trim();
    if code.is_empty() || code.len() > 32 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::field("code", "must be the 12 letters and digits from the notice"));
    }
    let case = state.engine.report_fraud_code(code.to_owned()).await?;
    Ok(Json(FraudReportOut { case_id: case.id.to_string(), status: case.status.as_str().to_owned() }))
}

/// The client's address (the peer's IP); `None` when the server runs without
/// connection info (tests through the router).
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(ClientAddr(addr))
    }
}

/// Fixed-window counters per key, bounded in size (a full table of live windows is
/// cleared rather than grown).
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (OffsetDateTime, u32)>>,
}

/// Most keys a rate limiter tracks.
const RATE_KEYS: usize = 10_000;

impl RateLimiter {
    /// Counts one request for `key`; false when the key used up its window.
    pub fn allow(&self, key: &str, per_window: u32, window: Duration, now: OffsetDateTime) -> bool {
        let Ok(mut windows) = self.windows.lock() else { return false };
        if windows.len() >= RATE_KEYS && !windows.contains_key(key) {
            windows.retain(|_, (start, _)| *start + window > now);
            if windows.len() >= RATE_KEYS {
                windows.clear();
            }
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if entry.0 + window <= now {
            *entry = (now, 0);
        }
        if entry.1 >= per_window {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_rate_limiter_counts_per_key_and_window() {
        let r = RateLimiter::default();
        let t = datetime!(2026-11-02 10:00 UTC);
        let w = Duration::minutes(15);
        assert!(r.allow("a", 2, w, t) && r.allow("a", 2, w, t));
        assert!(!r.allow("a", 2, w, t + Duration::minutes(14)));
        assert!(r.allow("b", 2, w, t));
        assert!(r.allow("a", 2, w, t + Duration::minutes(15)));
    }

    #[test]
    fn numbers_are_masked_to_their_last_four_digits() {
        let m = Msisdn::parse("+1 415 555 0188").unwrap_or_else(|_| unreachable!());
        assert_eq!(masked(&m), "•••• 0188");
    }
}
