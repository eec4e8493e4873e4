//! Extractors that answer with coded errors: JSON bodies, query strings, path ids and
//! bearer-token authentication with scopes.
//!
//! Authentication runs before the body is read (it is a `FromRequestParts` extractor
//! placed first), so an unauthenticated client never learns whether its body was valid.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use lineout_app::ports::TokenRecord;
use lineout_domain::case::Actor;
use lineout_domain::values::ActorId;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// A JSON body: wrong content type → `unsupported_media_type`, too large →
/// `payload_too_large`, anything else wrong → `invalid_json`.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(match rejection.status().as_u16() {
                413 => ApiError::new("payload_too_large", "the request body exceeds the size limit"),
                415 => {
                    ApiError::new("unsupported_media_type", "the body must be JSON with Content-Type: application/json")
                }
                _ => ApiError::new("invalid_json", rejection.body_text()),
            }),
        }
    }
}

/// A query string: anything wrong → `invalid_query`.
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| QueryParams(q))
            .map_err(|rejection| ApiError::new("invalid_query", rejection.body_text()))
    }
}

/// The `{id}` segment of a path, parsed by `parse`; invalid → `invalid_field` naming `id`.
pub struct PathId<T>(pub T);

/// Types a path id parses into.
pub trait ParseId: Sized {
    fn parse_id(s: &str) -> Result<Self, lineout_domain::values::ValueError>;
}

macro_rules! parse_id {
    ($($t:ty),*) => {$(
        impl ParseId for $t {
            fn parse_id(s: &str) -> Result<Self, lineout_domain::values::ValueError> {
                <$t>::parse(s)
            }
        }
    )*};
}
parse_id!(
    lineout_domain::values::AccountId,
    lineout_domain::values::LineId,
    lineout_domain::values::DeviceId,
    lineout_domain::values::CaseId,
    lineout_domain::values::Msisdn
);

impl<T, S> FromRequestParts<S> for PathId<T>
where
    T: ParseId,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::field("id", rejection.body_text()))?;
        T::parse_id(&raw).map(PathId).map_err(|e| ApiError::field("id", e))
    }
}

/// A scope a token may hold. `admin` implies every scope.
pub trait Scope {
    const NAME: &'static str;
}

macro_rules! scope {
    ($($t:ident => $name:literal),*) => {$(
        #[doc = concat!("The `", $name, "` scope.")]
        pub struct $t;
        impl Scope for $t {
            const NAME: &'static str = $name;
        }
    )*};
}
scope!(
    CasesRead => "cases:read",
    AccountsRead => "accounts:read",
    AccountsWrite => "accounts:write",
    PortRequest => "port:request",
    EsimNotify => "esim:notify"
);

/// Every scope a token can hold, for documentation and token creation.
pub const SCOPES: &[&str] = &[
    "cases:read",
    "cases:write",
    "cases:customer",
    "cases:verify",
    "accounts:read",
    "accounts:write",
    "port:request",
    "esim:notify",
    "admin",
];

/// The header with which a client acts for the customer (value `customer`).
pub const ON_BEHALF_OF: &str = "x-lineout-on-behalf-of";

/// An authenticated client holding scope `S`.
pub struct Auth<S> {
    scope: PhantomData<S>,
}

pub(crate) fn has_scope(token: &TokenRecord, scope: &str) -> bool {
    token.scopes.iter().any(|s| s == scope || s == "admin")
}

fn require(token: &TokenRecord, scope: &str) -> Result<(), ApiError> {
    if has_scope(token, scope) {
        Ok(())
    } else {
        Err(ApiError::new("forbidden", format!("this token lacks the '{scope}' scope")).with("scope", scope))
    }
}

/// Finds the token for the request's bearer secret, through the cache.
pub(crate) async fn authenticate(parts: &Parts, state: &AppState) -> Result<TokenRecord, ApiError> {
    let unauthorized = || ApiError::new("unauthorized", "a valid bearer token is required");
    let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(unauthorized)?;
    let value = header.to_str().map_err(|_| unauthorized())?;
    let (scheme, secret) = value.trim().split_once(' ').ok_or_else(unauthorized)?;
    let secret = secret.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || !secret.starts_with("lo_") || secret.len() > 200 {
        return Err(unauthorized());
    }
    let now = state.engine.now();
    if let Some(token) = state.tokens.get(secret, now) {
        return Ok(token);
    }
    let token = state.engine.authenticate(secret.to_owned()).await?.ok_or_else(unauthorized)?;
    state.tokens.put(secret.to_owned(), token.clone(), now, &state.limits);
    Ok(token)
}

impl<S: Scope> FromRequestParts<AppState> for Auth<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = authenticate(parts, state).await?;
        require(&token, S::NAME)?;
        Ok(Auth { scope: PhantomData })
    }
}

/// Who a write to a case acts as: the client itself (scope `cases:write`), or the
/// customer when the client sends `X-Lineout-On-Behalf-Of: customer` (scope `cases:customer`).
pub struct CaseActor(pub Actor);

impl FromRequestParts<AppState> for CaseActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = authenticate(parts, state).await?;
        match parts.headers.get(ON_BEHALF_OF) {
            None => {
                require(&token, "cases:write")?;
                let id = ActorId::parse(&token.id)
                    .map_err(|_| ApiError::new("internal_error", "an internal error occurred"))?;
                Ok(CaseActor(Actor::Client(id)))
            }
            Some(v) if v.as_bytes() == b"customer" => {
                require(&token, "cases:customer")?;
                Ok(CaseActor(Actor::Customer))
            }
            Some(_) => Err(ApiError::field("X-Lineout-On-Behalf-Of", "the only accepted value is 'customer'")),
        }
    }
}
