//! Handlers for records: data exports (request, list, download by token), legal holds,
//! and privacy requests (open, list overdue, read, step).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AccountsRead, AccountsWrite, Auth, JsonBody, ON_BEHALF_OF, PathId, QueryParams, Scope};
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lineout_app::records::{PrivacyStep, Requester};
use lineout_app::records_port::{ExportRow, PrivacyRow};
use lineout_domain::privacy::RequestKind;
use lineout_domain::values::AccountId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// The header naming the account the customer was authenticated for (with
/// `X-Lineout-On-Behalf-Of: customer`).
pub const CUSTOMER_ACCOUNT: &str = "x-lineout-customer-account";

/// The `admin` scope (legal holds).
pub struct Admin;
impl Scope for Admin {
    const NAME: &'static str = "admin";
}

/// Who asks for an export: an operator client (scope `accounts:write`), or the customer
/// (scope `cases:customer`, `X-Lineout-On-Behalf-Of: customer` and the account the
/// customer was authenticated for in `X-Lineout-Customer-Account`).
pub struct ExportRequester(pub Requester);

impl FromRequestParts<AppState> for ExportRequester {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = crate::extract::authenticate(parts, state).await?;
        match parts.headers.get(ON_BEHALF_OF) {
            None => {
                crate::extract::require(&token, "accounts:write")?;
                Ok(ExportRequester(Requester::Operator(format!("client:{}", token.id))))
            }
            Some(v) if v.as_bytes() == b"customer" => {
                crate::extract::require(&token, "cases:customer")?;
                let own = parts.headers.get(CUSTOMER_ACCOUNT).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                    ApiError::field("X-Lineout-Customer-Account", "required when acting for the customer")
                })?;
                let own = AccountId::parse(own).map_err(|e| ApiError::field("X-Lineout-Customer-Account", e))?;
                Ok(ExportRequester(Requester::Customer(own)))
            }
            Some(_) => Err(ApiError::field("X-Lineout-On-Behalf-Of", "the only accepted value is 'customer'")),
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// An export as recorded on the account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportOut {
    pub id: String,
    pub account_id: String,
    /// `pending`, `ready` or `failed`.
    pub status: String,
    pub requested_at: String,
    pub requested_by: String,
    /// When the download link stops working.
    pub expires_at: String,
    pub ready_at: Option<String>,
    pub downloaded_at: Option<String>,
    pub size_bytes: Option<u64>,
    pub error: Option<String>,
}

impl From<&ExportRow> for ExportOut {
    fn from(e: &ExportRow) -> Self {
        Self {
            id: e.id.clone(),
            account_id: e.account_id.to_string(),
            status: e.status.as_str().into(),
            requested_at: rfc3339(e.requested_at),
            requested_by: e.requested_by.clone(),
            expires_at: rfc3339(e.expires_at),
            ready_at: e.ready_at.map(rfc3339),
            downloaded_at: e.downloaded_at.map(rfc3339),
            size_bytes: e.size_bytes,
            error: e.error.clone(),
        }
    }
}

/// An export just requested, with its single-use download link (shown once).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportRequestedOut {
    pub export: ExportOut,
    /// `GET` this path (no bearer token: the token in it is the credential) once the export is ready.
    pub download_path: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportList {
    pub items: Vec<ExportOut>,
}

/// Request a data export of the account (a zip of JSON and CSV files, produced by a worker).
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/exports", tag = "records",
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Recorded; the worker produces the file.", body = ExportRequestedOut),
        (status = 400, description = "`invalid_field` (the id, or the customer account header).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`, or `cases:customer` for the customer), `export_account_mismatch`.", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 409, description = "`account_erased`, `export_window_closed`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn request_export(
    State(state): State<AppState>,
    ExportRequester(by): ExportRequester,
    PathId(id): PathId<AccountId>,
) -> ApiResult<(StatusCode, Json<ExportRequestedOut>)> {
    let done = state.engine.request_export(id, by).await?;
    let out = ExportRequestedOut {
        export: ExportOut::from(&done.export),
        download_path: format!("/api/v1/exports/{}", done.token),
    };
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// The exports recorded on an account.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}/exports", tag = "records",
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every export of the account, oldest first.", body = ExportList),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`).", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn list_exports(
    State(state): State<AppState>,
    _auth: Auth<AccountsRead>,
    PathId(id): PathId<AccountId>,
) -> ApiResult<Json<ExportList>> {
    let rows = state.engine.account_exports(id).await?;
    Ok(Json(ExportList { items: rows.iter().map(ExportOut::from).collect() }))
}

/// Download an export once with its token (the token is the credential: no bearer token).
#[utoipa::path(
    get, path = "/api/v1/exports/{token}", tag = "records",
    params(("token" = String, Path, description = "The download token from the export request.")),
    responses(
        (status = 200, description = "The zip file.", content_type = "application/zip", body = Vec<u8>),
        (status = 404, description = "`export_not_found`.", body = ErrorBody),
        (status = 409, description = "`export_not_ready`, `export_failed`, `account_erased`.", body = ErrorBody),
        (status = 410, description = "`export_token_expired`, `export_token_used`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn download_export(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Response> {
    let (row, bytes) = state.engine.download_export(token).await?;
    let disposition = format!("attachment; filename=\"lineout-{}.zip\"", row.id);
    Ok(([(header::CONTENT_TYPE, "application/zip".to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}

/// Set or clear a legal hold.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldIn {
    pub hold: bool,
    /// Why (1-500 characters), kept with the hold.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LegalHoldOut {
    pub account_id: String,
    pub legal_hold: bool,
    pub reason: Option<String>,
    pub erased_at: Option<String>,
}

/// Set or clear the account's legal hold: while it holds, nothing of the account is erased.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/legal-hold", tag = "records", request_body = LegalHoldIn,
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account's hold now.", body = LegalHoldOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `admin`).", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn legal_hold(
    State(state): State<AppState>,
    _auth: Auth<Admin>,
    PathId(id): PathId<AccountId>,
    JsonBody(input): JsonBody<LegalHoldIn>,
) -> ApiResult<Json<LegalHoldOut>> {
    let s = state.engine.set_legal_hold(id.clone(), input.hold, input.reason).await?;
    Ok(Json(LegalHoldOut {
        account_id: id.to_string(),
        legal_hold: s.legal_hold,
        reason: s.hold_reason,
        erased_at: s.erased_at.map(rfc3339),
    }))
}

/// A privacy request to open.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyIn {
    pub account_id: String,
    /// `access` or `deletion`.
    pub kind: String,
}

/// A privacy request with its timers, flags and outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrivacyOut {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    /// `received`, `acknowledged` or `completed`.
    pub status: String,
    pub received_at: String,
    /// Acknowledge by (10 business days).
    pub ack_due_at: String,
    /// Complete by (45 days, +45 once with notice).
    pub due_at: String,
    pub extended: bool,
    pub extension_notice: Option<String>,
    pub acknowledged_at: Option<String>,
    pub completed_at: Option<String>,
    pub ack_overdue: bool,
    pub overdue: bool,
    /// What was done, kept and why (deletion), or the export made (access).
    #[schema(value_type = Object)]
    pub outcome: Option<serde_json::Value>,
}

impl From<&PrivacyRow> for PrivacyOut {
    fn from(r: &PrivacyRow) -> Self {
        Self {
            id: r.id.clone(),
            account_id: r.account_id.to_string(),
            kind: r.kind.as_str().into(),
            status: r.status.as_str().into(),
            received_at: rfc3339(r.received_at),
            ack_due_at: rfc3339(r.deadlines.ack_due_at),
            due_at: rfc3339(r.deadlines.due_at),
            extended: r.deadlines.extended,
            extension_notice: r.extension_notice.clone(),
            acknowledged_at: r.acknowledged_at.map(rfc3339),
            completed_at: r.completed_at.map(rfc3339),
            ack_overdue: r.ack_overdue,
            overdue: r.overdue,
            outcome: r.outcome.as_deref().and_then(|o| serde_json::from_str(o).ok()),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrivacyList {
    pub items: Vec<PrivacyOut>,
}

/// Open a privacy request (access or deletion) with its CCPA timers.
#[utoipa::path(
    post, path = "/api/v1/privacy-requests", tag = "records", request_body = PrivacyIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded, with its deadlines.", body = PrivacyOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 409, description = "`legal_hold`, `privacy_open_case`, `privacy_active_line` (deletion).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn open_privacy_request(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    JsonBody(input): JsonBody<PrivacyIn>,
) -> ApiResult<(StatusCode, Json<PrivacyOut>)> {
    let account = AccountId::parse(&input.account_id).map_err(|e| ApiError::field("account_id", e))?;
    let kind = RequestKind::parse(&input.kind).ok_or_else(|| ApiError::field("kind", "must be access or deletion"))?;
    let row = state.engine.open_privacy_request(account, kind).await?;
    Ok((StatusCode::CREATED, Json(PrivacyOut::from(&row))))
}

/// Which privacy requests to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PrivacyQuery {
    /// Only requests past a deadline (staff's worklist).
    pub overdue: Option<bool>,
    /// Requests with ids after this one.
    pub after: Option<String>,
    pub limit: Option<u32>,
}

/// List privacy requests; `overdue=true` lists those past a deadline.
#[utoipa::path(
    get, path = "/api/v1/privacy-requests", tag = "records", params(PrivacyQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Requests by id.", body = PrivacyList),
        (status = 400, description = "`invalid_query`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn list_privacy_requests(
    State(state): State<AppState>,
    _auth: Auth<AccountsRead>,
    QueryParams(q): QueryParams<PrivacyQuery>,
) -> ApiResult<Json<PrivacyList>> {
    if q.after.as_ref().is_some_and(|a| a.len() > 64) {
        return Err(ApiError::query("after", "at most 64 characters"));
    }
    let limit = q.limit.unwrap_or(state.limits.page_default).min(state.limits.page_max);
    let rows = state.engine.privacy_requests(q.overdue.unwrap_or(false), q.after, limit).await?;
    Ok(Json(PrivacyList { items: rows.iter().map(PrivacyOut::from).collect() }))
}

fn request_id(raw: &str) -> Result<String, ApiError> {
    let ok = raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok { Ok(raw.to_owned()) } else { Err(ApiError::field("id", "not a privacy request id")) }
}

/// Read a privacy request.
#[utoipa::path(
    get, path = "/api/v1/privacy-requests/{id}", tag = "records",
    params(("id" = String, Path, description = "The request id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request.", body = PrivacyOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`).", body = ErrorBody),
        (status = 404, description = "`privacy_request_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn get_privacy_request(
    State(state): State<AppState>,
    _auth: Auth<AccountsRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<PrivacyOut>> {
    let row = state.engine.privacy_request(request_id(&id)?).await?;
    Ok(Json(PrivacyOut::from(&row)))
}

/// A step on a privacy request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyStepIn {
    /// `acknowledge`, `extend` (once, with `notice`: what the requester is told) or `complete`.
    pub step: String,
    pub notice: Option<String>,
}

/// Acknowledge, extend or complete a privacy request. Completing a deletion erases the
/// account's personal data (except what must be kept, listed in `outcome`); completing
/// an access request records an export.
#[utoipa::path(
    post, path = "/api/v1/privacy-requests/{id}/steps", tag = "records", request_body = PrivacyStepIn,
    params(("id" = String, Path, description = "The request id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request after the step.", body = PrivacyOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 404, description = "`privacy_request_not_found`.", body = ErrorBody),
        (status = 409, description = "`privacy_request_completed`, `privacy_already_extended`, `legal_hold`, `privacy_open_case`, `privacy_active_line`, `account_erased`, `export_window_closed`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn privacy_step(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<PrivacyStepIn>,
) -> ApiResult<Json<PrivacyOut>> {
    let id = request_id(&id)?;
    let step = match (input.step.as_str(), input.notice) {
        ("acknowledge", None) => PrivacyStep::Acknowledge,
        ("extend", Some(notice)) => PrivacyStep::Extend { notice },
        ("extend", None) => {
            return Err(ApiError::field("notice", "an extension needs the notice sent to the requester"));
        }
        ("complete", None) => PrivacyStep::Complete,
        (_, Some(_)) => return Err(ApiError::field("notice", "only an extension takes a notice")),
        _ => return Err(ApiError::field("step", "must be acknowledge, extend or complete")),
    };
    let row = state.engine.privacy_step(id, step).await?;
    Ok(Json(PrivacyOut::from(&row)))
}
