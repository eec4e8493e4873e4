//! Handlers for port-out and numbers: issue a Number Transfer PIN, take the new
//! operator's port request, and query what became of a number (aging, available,
//! ported out).

use crate::dto::{CaseOut, ChannelDto, rfc3339};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{
    AccountsRead, Auth, CaseActor, EsimNotify, JsonBody, PathId, PortRequest as PortScope, QueryParams,
};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lineout_app::LineRef;
use lineout_app::engine::PortRequest;
use lineout_app::ports::{NumberRecord, NumberState};
use lineout_domain::Channel;
use lineout_domain::values::{AccountId, LineId, Msisdn, parse_text};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// How the customer asked for a Number Transfer PIN.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferPinIn {
    /// The channel the customer used (`web`, `chat`, `ivr`, `store`, `api`).
    pub channel: ChannelDto,
}

/// A Number Transfer PIN, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferPinOut {
    /// The port-out case that carries the PIN.
    pub case_id: String,
    /// The PIN: give it to the new operator. lineout keeps only its hash.
    pub pin: String,
    pub expires_at: String,
}

/// The new operator's port request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortRequestIn {
    /// The number to port, any common shape.
    pub msisdn: String,
    /// The customer's account number with the losing operator.
    pub account_id: String,
    /// The Number Transfer PIN the customer got.
    pub pin: String,
    /// The gaining operator (name or SPID), 1-500 characters.
    pub new_operator: String,
}

/// What became of a number.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberOut {
    pub msisdn: String,
    /// `aging`, `available` or `ported_out`.
    pub state: String,
    /// The latest permanent disconnection (or port-out).
    pub disconnected_at: String,
    /// When aging ends (disconnected numbers only).
    pub available_at: Option<String>,
    pub case_id: String,
}

/// A page of numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberList {
    pub items: Vec<NumberOut>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<String>,
}

/// Filters for listing numbers.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NumberQuery {
    /// `aging`, `available` or `ported_out`; all when omitted.
    pub state: Option<String>,
    /// The last number of the previous page.
    pub after: Option<String>,
    /// 1-500, default 50.
    pub limit: Option<u32>,
}

fn number_out(n: &NumberRecord, state: NumberState) -> NumberOut {
    NumberOut {
        msisdn: n.msisdn.as_str().to_owned(),
        state: state.as_str().to_owned(),
        disconnected_at: rfc3339(n.disconnected_at),
        available_at: n.available_at.map(rfc3339),
        case_id: n.case_id.as_str().to_owned(),
    }
}

/// Issue a Number Transfer PIN for a line (port-out instead of cancelling).
///
/// Opens the line's port-out case, or voids its previous PIN. Every contact of the
/// account is notified at once. The PIN is shown only in this answer.
#[utoipa::path(
    post, path = "/api/v1/lines/{id}/transfer-pin", tag = "port-out", request_body = TransferPinIn,
    params(
        ("id" = String, Path, description = "The line id."),
        ("X-Lineout-On-Behalf-Of" = Option<String>, Header, description = "`customer` to act for the customer."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The PIN, shown once.", body = TransferPinOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `cases:write`, or `cases:customer` on behalf of the customer).", body = ErrorBody),
        (status = 404, description = "`line_not_found`.", body = ErrorBody),
        (status = 409, description = "`account_locked`, `line_not_eligible`, `illegal_transition`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn issue_transfer_pin(
    State(state): State<AppState>,
    CaseActor(actor): CaseActor,
    PathId(line): PathId<LineId>,
    JsonBody(input): JsonBody<TransferPinIn>,
) -> ApiResult<(StatusCode, Json<TransferPinOut>)> {
    let channel: Channel = input.channel.into();
    if channel == Channel::Bulk {
        return Err(ApiError::field("channel", "a transfer PIN is requested by the customer, never in bulk"));
    }
    let issued = state.engine.issue_transfer_pin(LineRef::Id(line), channel, actor).await?;
    let expires_at = issued.case.transfer_pin.as_ref().map(|p| rfc3339(p.expires_at)).unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(TransferPinOut { case_id: issued.case.id.as_str().to_owned(), pin: issued.pin, expires_at }),
    ))
}

/// The new operator's port request: number, account number and Number Transfer PIN.
///
/// A valid request starts the port (the line is deprovisioned and marked `ported_out`
/// when done; an unpaid balance never blocks it). A refused request is recorded on the
/// port-out case and counts toward voiding the PIN.
#[utoipa::path(
    post, path = "/api/v1/port-requests", tag = "port-out", request_body = PortRequestIn,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The port is under way.", body = CaseOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `port:request`).", body = ErrorBody),
        (status = 404, description = "`line_not_found`, `no_transfer_pin`.", body = ErrorBody),
        (status = 409, description = "`account_locked`, `illegal_transition`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 422, description = "`port_account_mismatch`, `port_pin_invalid`, `port_pin_expired`, `port_pin_void`, `invalid_text`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn request_port(
    State(state): State<AppState>,
    _auth: Auth<PortScope>,
    JsonBody(input): JsonBody<PortRequestIn>,
) -> ApiResult<Json<CaseOut>> {
    let msisdn = Msisdn::parse(&input.msisdn).map_err(|e| ApiError::field("msisdn", e))?;
    let account_id = AccountId::parse(&input.account_id).map_err(|e| ApiError::field("account_id", e))?;
    let pin_ok = (4..=16).contains(&input.pin.len()) && input.pin.bytes().all(|b| b.is_ascii_digit());
    if !pin_ok {
        return Err(ApiError::field("pin", "must be 4-16 digits"));
    }
    let new_operator = parse_text(&input.new_operator, 500).map_err(|e| ApiError::field("new_operator", e))?;
    let case = state.engine.request_port(PortRequest { msisdn, account_id, pin: input.pin, new_operator }).await?;
    Ok(Json(CaseOut::from(&case)))
}

/// What became of a number: aging until a date, available again, or ported out.
#[utoipa::path(
    get, path = "/api/v1/numbers/{msisdn}", tag = "numbers",
    params(("msisdn" = String, Path, description = "The number, E.164 (`+14155550100`) or US national.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The number's state.", body = NumberOut),
        (status = 400, description = "`invalid_field`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`).", body = ErrorBody),
        (status = 404, description = "`number_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn get_number(
    State(state): State<AppState>,
    _auth: Auth<AccountsRead>,
    PathId(msisdn): PathId<Msisdn>,
) -> ApiResult<Json<NumberOut>> {
    let (record, now_state) = state.engine.number(msisdn).await?;
    Ok(Json(number_out(&record, now_state)))
}

/// List numbers whose line ended, by state, in number order.
#[utoipa::path(
    get, path = "/api/v1/numbers", tag = "numbers", params(NumberQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of numbers.", body = NumberList),
        (status = 400, description = "`invalid_query`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn list_numbers(
    State(state): State<AppState>,
    _auth: Auth<AccountsRead>,
    QueryParams(q): QueryParams<NumberQuery>,
) -> ApiResult<Json<NumberList>> {
    let invalid =
        |field: &str, msg: &str| ApiError::new("invalid_query", format!("{field}: {msg}")).with("field", field);
    let wanted = match q.state.as_deref() {
        None => None,
        Some(s) => {
            Some(NumberState::parse(s).ok_or_else(|| invalid("state", "must be aging, available or ported_out"))?)
        }
    };
    let after = match q.after.as_deref() {
        None => None,
        Some(a) => Some(Msisdn::parse(a).map_err(|_| invalid("after", "must be a phone number"))?),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit", "must be 1-500"));
    }
    let now = state.engine.now();
    let page = state.engine.list_numbers(wanted, after, limit).await?;
    let next_after =
        (page.len() == limit as usize).then(|| page.last().map(|n| n.msisdn.as_str().to_owned())).flatten();
    let items = page.iter().map(|n| number_out(n, n.state(now))).collect();
    Ok(Json(NumberList { items, next_after }))
}

/// ES2+ `handleDownloadProgressInfo`: the SM-DP+ reports the progress of an eSIM
/// profile download (GSMA SGP.22). Recorded on the open case of the line with that ICCID.
///
/// Transport problems answer with lineout's error body; a body the ES2+ rules refuse is
/// answered 200 with an ES2+ `Failed` status naming the field; a recorded notification
/// is answered 204 without a body.
#[utoipa::path(
    post, path = "/gsma/rsp2/es2plus/handleDownloadProgressInfo", tag = "esim",
    params(("X-Admin-Protocol" = String, Header, description = "`gsma/rsp/v2.5.0` (any `gsma/rsp/v2.x`).")),
    request_body(content = Object, content_type = "application/json", description = "The ES2+ handleDownloadProgressInfo body."),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An ES2+ answer with status `Failed` (the body broke the ES2+ rules).", content_type = "application/json", body = Object),
        (status = 204, description = "Recorded."),
        (status = 400, description = "`invalid_field` (the X-Admin-Protocol header).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `esim:notify`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn download_progress(
    State(state): State<AppState>,
    _auth: Auth<EsimNotify>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    use lineout_adapters::es2plus::{ADMIN_PROTOCOL_HEADER, DEFAULT_ADMIN_PROTOCOL, parse_download_progress};
    let protocol = headers.get(ADMIN_PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !protocol.starts_with("gsma/rsp/v2.") {
        return Err(ApiError::field("X-Admin-Protocol", "must be gsma/rsp/v2.x"));
    }
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(ApiError::new("unsupported_media_type", "the body must be application/json"));
    }
    let es2_headers = [
        (axum::http::header::CONTENT_TYPE, "application/json"),
        (axum::http::header::HeaderName::from_static("x-admin-protocol"), DEFAULT_ADMIN_PROTOCOL),
    ];
    let progress = match parse_download_progress(&body) {
        Ok(p) => p,
        Err(e) => return Ok((StatusCode::OK, es2_headers, e.answer_body()).into_response()),
    };
    let point = format!("{:?}", progress.notification_point);
    state.engine.record_esim_progress(progress.iccid, point, progress.status.as_str().to_owned()).await?;
    Ok((StatusCode::NO_CONTENT, es2_headers).into_response())
}

/// Whether an authenticity code belongs to a message lineout sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthenticityOut {
    /// True when the code is one of ours.
    pub ours: bool,
    /// The case the message was about.
    pub case_id: Option<String>,
    /// Which notice it was (e.g. `approved`).
    pub notice: Option<String>,
    /// When it was sent (null if not yet sent).
    pub sent_at: Option<String>,
    /// The case's number, masked (`•••• 1234`): enough to recognise, nothing to misuse.
    pub msisdn_masked: Option<String>,
    /// What to do next, in plain words.
    pub advice: String,
}

/// Check a message's authenticity code (no token needed).
///
/// Every message lineout sends carries a short code. A customer who doubts a message
/// can check here whether it is really from the operator, for which case, and when.
#[utoipa::path(
    get, path = "/api/v1/authenticity/{code}", tag = "messages",
    params(("code" = String, Path, description = "The authenticity code printed in the message.")),
    responses(
        (status = 200, description = "Whether the code is ours.", body = AuthenticityOut),
        (status = 400, description = "`invalid_field` (the code).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn check_authenticity(
    State(state): State<AppState>,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> ApiResult<Json<AuthenticityOut>> {
    let plain = (4..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric());
    if !plain {
        return Err(ApiError::field("code", "must be 4-32 letters or digits"));
    }
    let found = state.engine.message_by_code(code).await?;
    let masked = match &found {
        // Account-level notices (`acct.…`) belong to no case.
        Some(m) => state.engine.case(m.case_id.clone()).await.ok().map(|c| crate::fraud::masked(&c.facts.msisdn)),
        None => None,
    };
    Ok(Json(match found {
        Some(m) => AuthenticityOut {
            ours: true,
            case_id: Some(m.case_id.as_str().to_owned()),
            notice: Some(m.notice.as_str().to_owned()),
            sent_at: m.sent_at.map(rfc3339),
            msisdn_masked: masked,
            advice: "This message is from us. We never ask for payments, gift cards or codes by chat, social media or unsolicited calls.".into(),
        },
        None => AuthenticityOut {
            ours: false,
            case_id: None,
            notice: None,
            sent_at: None,
            msisdn_masked: None,
            advice: "We did not send a message with this code. Do not pay, click links or share codes; contact us through official channels.".into(),
        },
    }))
}
