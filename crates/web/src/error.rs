//! The one error type of the HTTP layer and its JSON body.
//!
//! Every error a client sees is `{"code", "message", "details"}` with a code from
//! [`lineout_app::error::CODES`]; the HTTP status comes only from
//! [`lineout_app::error::status_of`]. Internal failures keep their detail in the logs
//! and show the client [`lineout_app::Error::public_message`] only.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lineout_app::error::status_of;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// A code from `CODES`.
    pub code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code; the list of codes and their statuses is in this schema's description.
    pub code: String,
    /// A human-readable explanation, safe to show (never internal details).
    pub message: String,
    /// Extra facts: `field` names the offending field, `request_id` the request.
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: Map::new() }
    }

    /// Adds one entry to `details`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// A field of the body is invalid; `details.field` names it.
    pub fn field(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new("invalid_field", format!("{field}: {message}")).with("field", field)
    }

    /// A query parameter is invalid; `details.field` names it.
    pub fn query(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new("invalid_query", format!("{field}: {message}")).with("field", field)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(status_of(self.code)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.code.to_owned(), message: self.message.clone(), details: self.details.clone() }
    }
}

impl From<lineout_app::Error> for ApiError {
    fn from(e: lineout_app::Error) -> Self {
        use lineout_app::Error as E;
        let code = e.code();
        match &e {
            E::Storage(internal) | E::Internal(internal) => {
                // Internal messages go to the log (they carry no personal data: the store
                // reports constraint and driver errors, not values), never to the client.
                tracing::error!(code, error = %internal, "request failed");
                Self::new(code, e.public_message())
            }
            E::Invalid { field, message } => {
                Self::new(code, format!("{field}: {message}")).with("field", field.clone())
            }
            E::NotFound { kind, id } => Self::new(code, e.public_message()).with("kind", *kind).with("id", id.clone()),
            E::CaseAlreadyOpen(existing) if !existing.is_empty() => {
                Self::new(code, e.public_message()).with("case_id", existing.clone())
            }
            E::MissingReference(what) => Self::new(code, e.public_message()).with("field", reference_field(what)),
            _ => Self::new(code, e.public_message()),
        }
    }
}

/// The input field that names a missing reference.
fn reference_field(what: &str) -> String {
    match what {
        "account" => "account_id".into(),
        "line" => "line_id".into(),
        other => other.to_owned(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        // The request-id middleware re-renders the body with `details.request_id`.
        response.extensions_mut().insert(self);
        response
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
