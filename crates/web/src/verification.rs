//! Identity verification over HTTP: send a one-time code to one of the account's
//! contacts, and verify a case by code, account PIN, photo ID (a store's staff member)
//! or the operator's token; record knowledge answers as risk signals.
//!
//! The client address (the TCP peer, or the configured trusted proxy header's last
//! entry) is passed to the engine, which keeps only its keyed hash. Codes and PINs are
//! never echoed, logged or stored.

use crate::dto::{CaseOut, parse_date, rfc3339};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, ON_BEHALF_OF, PathId, authenticate, has_scope};
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use lineout_app::engine::{ClientAddress, VerificationRequest};
use lineout_domain::case::{Actor, CodeDestination, Command, KnowledgeItem, PhotoId};
use lineout_domain::values::{ActorId, CaseId};
use lineout_domain::verification::DocumentType;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use utoipa::ToSchema;

/// The token scope that lets an API client verify cases of the `api` channel.
pub const VERIFY_SCOPE: &str = "cases:verify";

/// Who is verifying: the client (scope `cases:write`) or the customer through it
/// (`cases:customer`), whether the token holds `cases:verify`, and the client address.
pub struct Verifier {
    actor: Actor,
    may_verify: bool,
    client: Option<ClientAddress>,
}

impl FromRequestParts<AppState> for Verifier {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let crate::extract::CaseActor(actor) = crate::extract::CaseActor::from_request_parts(parts, state).await?;
        let token = authenticate(parts, state).await?;
        let on_behalf = parts.headers.contains_key(ON_BEHALF_OF);
        let may_verify = !on_behalf && has_scope(&token, VERIFY_SCOPE);
        let client = client_address(parts, &state.engine.config().client_address_header);
        Ok(Verifier { actor, may_verify, client })
    }
}

/// The client's address: the trusted proxy header's last entry (the one the proxy
/// added) when configured and well-formed, else the TCP peer.
fn client_address(parts: &Parts, header: &str) -> Option<ClientAddress> {
    if !header.is_empty()
        && let Some(value) = parts.headers.get(header).and_then(|v| v.to_str().ok())
        && let Some(last) = value.rsplit(',').next()
        && let Ok(ip) = last.trim().parse::<IpAddr>()
    {
        return Some(ClientAddress(ip.to_string()));
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| ClientAddress(c.0.ip().to_string()))
}

/// Where to send a one-time code: one of the account's own contacts.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCodeIn {
    /// `line` (SMS to the line), `email` or `alt_phone` (the account's contacts).
    pub destination: String,
}

/// A code sent: where and until when (never the code).
#[derive(Serialize, ToSchema)]
pub struct CodeSentOut {
    pub code_id: String,
    pub destination: String,
    pub expires_at: String,
    pub case: CaseOut,
}

/// A verification attempt, by `method`.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum VerifyIn {
    /// The 6-digit code the customer received.
    OneTimeCode { code: String },
    /// The account PIN (4-16 digits).
    Pin { pin: String },
    /// A store's staff member checked a photo ID (the full document number is never sent).
    PhotoId {
        staff_id: String,
        /// `passport`, `drivers_license`, `state_id`, `national_id`, `residence_permit`, `military_id`.
        document_type: String,
        /// The last 4 letters or digits of the document number.
        last4: String,
        /// `YYYY-MM-DD`; it must not have passed.
        expires_on: String,
    },
    /// The calling client's token holds `cases:verify` (cases of the `api` channel).
    OperatorToken {},
    /// A knowledge answer as judged by the agent: a risk signal, never a verification.
    Knowledge {
        /// `name`, `address`, `date_of_birth`, `id_number`, `last_payment`, `call_details`.
        item: String,
        matched: bool,
        #[serde(default)]
        staff_id: Option<String>,
    },
}

fn staff(id: &str) -> ApiResult<Actor> {
    ActorId::parse(id).map(Actor::Staff).map_err(|e| ApiError::field("staff_id", e))
}

fn enum_field<T: serde::de::DeserializeOwned>(name: &str, value: &str, expected: &str) -> ApiResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| ApiError::field(name, format!("must be one of {expected}")))
}

/// Send a one-time code for a case to the line or one of the account's other contacts.
///
/// At most `policy.verification.code_sends_per_window` codes per line per window; a new
/// code replaces the previous one. The code is valid for 10 minutes (policy) and used once.
#[utoipa::path(
    post, path = "/api/v1/cases/{id}/verification/codes", tag = "cases", request_body = SendCodeIn,
    params(
        ("id" = String, Path, description = "The case id."),
        ("X-Lineout-On-Behalf-Of" = Option<String>, Header, description = "`customer` to act for the customer."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The code was queued for delivery.", body = CodeSentOut),
        (status = 400, description = "`invalid_field` (destination, or a contact the account lacks), `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden`.", body = ErrorBody),
        (status = 404, description = "`case_not_found`.", body = ErrorBody),
        (status = 409, description = "`illegal_transition` (the case is not waiting for verification).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 422, description = "`verification_method_not_allowed` (the channel does not take codes).", body = ErrorBody),
        (status = 423, description = "`verification_locked`.", body = ErrorBody),
        (status = 429, description = "`rate_limited` (codes per line).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn send_code(
    State(state): State<AppState>,
    verifier: Verifier,
    PathId(id): PathId<CaseId>,
    JsonBody(input): JsonBody<SendCodeIn>,
) -> ApiResult<(StatusCode, Json<CodeSentOut>)> {
    let destination = CodeDestination::parse(&input.destination)
        .ok_or_else(|| ApiError::field("destination", "must be line, email or alt_phone"))?;
    let sent = state.engine.send_verification_code(id, destination, verifier.actor).await.map_err(refusal)?;
    Ok((
        StatusCode::CREATED,
        Json(CodeSentOut {
            code_id: sent.code_id,
            destination: sent.destination.as_str().to_owned(),
            expires_at: rfc3339(sent.expires_at),
            case: CaseOut::from(&sent.case),
        }),
    ))
}

/// Verify the customer's identity for a case, or record a knowledge answer.
///
/// Which methods verify depends on the case's channel (policy): web/chat a code; store a
/// photo ID or a code; IVR the PIN or a code; api the operator's token. Every attempt is
/// recorded on the case (`identity_verified` or `verification_failed`); after 5 wrong
/// codes or PINs verification is locked for 30 minutes and every contact is told.
#[utoipa::path(
    post, path = "/api/v1/cases/{id}/verification", tag = "cases", request_body = VerifyIn,
    params(
        ("id" = String, Path, description = "The case id."),
        ("X-Lineout-On-Behalf-Of" = Option<String>, Header, description = "`customer` to act for the customer."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The case after the attempt (verified, or a knowledge answer recorded).", body = CaseOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (`operator_token` needs `cases:verify`), `not_permitted`.", body = ErrorBody),
        (status = 404, description = "`case_not_found`.", body = ErrorBody),
        (status = 409, description = "`illegal_transition`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 422, description = "`code_invalid`, `code_expired`, `code_used`, `pin_invalid`, `no_pin`, `photo_id_expired`, `invalid_photo_id`, `verification_method_not_allowed`.", body = ErrorBody),
        (status = 423, description = "`verification_locked` (`details.until`).", body = ErrorBody),
        (status = 429, description = "`rate_limited` (attempts per client address).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    verifier: Verifier,
    PathId(id): PathId<CaseId>,
    JsonBody(input): JsonBody<VerifyIn>,
) -> ApiResult<Json<CaseOut>> {
    let Verifier { actor, may_verify, client } = verifier;
    let is_client = matches!(actor, Actor::Client(_));
    let (request, actor) = match input {
        VerifyIn::OneTimeCode { code } => {
            let code = code.trim().to_owned();
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::field("code", "must be the 6 digits received"));
            }
            (VerificationRequest::Code(code), actor)
        }
        VerifyIn::Pin { pin } => {
            if !(4..=16).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::field("pin", "must be 4-16 digits"));
            }
            (VerificationRequest::Pin(pin), actor)
        }
        VerifyIn::PhotoId { staff_id, document_type, last4, expires_on } => {
            if !is_client {
                return Err(not_permitted());
            }
            let document_type: DocumentType = enum_field(
                "document_type",
                &document_type,
                "passport, drivers_license, state_id, national_id, residence_permit, military_id",
            )?;
            let last4 = last4.trim().to_ascii_uppercase();
            if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ApiError::field("last4", "must be the last 4 letters or digits of the document number"));
            }
            let expires_on =
                parse_date(&expires_on).ok_or_else(|| ApiError::field("expires_on", "must be YYYY-MM-DD"))?;
            (VerificationRequest::PhotoId(PhotoId { document_type, last4, expires_on }), staff(&staff_id)?)
        }
        VerifyIn::OperatorToken {} => {
            if !may_verify {
                return Err(ApiError::new("forbidden", format!("this token lacks the '{VERIFY_SCOPE}' scope"))
                    .with("scope", VERIFY_SCOPE));
            }
            (VerificationRequest::OperatorToken, actor)
        }
        VerifyIn::Knowledge { item, matched, staff_id } => {
            if !is_client {
                return Err(not_permitted());
            }
            let item: KnowledgeItem =
                enum_field("item", &item, "name, address, date_of_birth, id_number, last_payment, call_details")?;
            let actor = match staff_id.as_deref() {
                Some(s) => staff(s)?,
                None => actor,
            };
            let case = state.engine.command(id, Command::RecordKnowledgeAnswer { item, matched }, actor).await?;
            return Ok(Json(CaseOut::from(&case)));
        }
    };
    let case = state.engine.verify_identity(id, request, client, actor).await.map_err(refusal)?;
    Ok(Json(CaseOut::from(&case)))
}

fn not_permitted() -> ApiError {
    ApiError::from(lineout_app::Error::Case(lineout_domain::case::Error::NotPermitted))
}

/// Adds what a refused client needs to know: when to retry, until when it is locked.
fn refusal(e: lineout_app::Error) -> ApiError {
    match &e {
        lineout_app::Error::RateLimited { retry_after_seconds } => {
            let secs = *retry_after_seconds;
            ApiError::from(e).with("retry_after_seconds", secs)
        }
        lineout_app::Error::Case(lineout_domain::case::Error::VerificationLocked { until: Some(until) }) => {
            let until = rfc3339(*until);
            ApiError::from(e).with("until", until)
        }
        _ => ApiError::from(e),
    }
}
