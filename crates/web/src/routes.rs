//! The router: one table of routes ([`ROUTES`]) builds it and is checked against the
//! OpenAPI document; plus health, the document itself, the fallbacks and the
//! request-id and metrics middleware.

use crate::dto::Health;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{accounts, cases, fraud, ledger, numbers, verification};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use std::sync::OnceLock;

/// A route: method, path (axum and OpenAPI share the `{param}` syntax) and its handler.
pub type Route = (&'static str, &'static str, fn() -> MethodRouter<AppState>);

/// Every route of the API. The router is built from this table, and a test checks the
/// OpenAPI document describes exactly these (method, path) pairs.
pub const ROUTES: &[Route] = &[
    ("GET", "/health", || get(health)),
    ("GET", "/api/v1/openapi.json", || get(openapi_json)),
    ("GET", "/metrics", || get(crate::metrics::scrape)),
    ("POST", "/api/v1/accounts", || post(accounts::put_account)),
    ("GET", "/api/v1/accounts/{id}", || get(accounts::get_account)),
    ("GET", "/api/v1/accounts/{id}/ledger", || get(accounts::get_ledger)),
    ("POST", "/api/v1/accounts/{id}/ledger/entries", || post(ledger::import_ledger_entries)),
    ("POST", "/api/v1/lines", || post(accounts::put_line)),
    ("GET", "/api/v1/lines", || get(accounts::find_lines)),
    ("GET", "/api/v1/lines/{id}", || get(accounts::get_line)),
    ("POST", "/api/v1/devices", || post(accounts::put_device)),
    ("GET", "/api/v1/devices/{id}", || get(accounts::get_device)),
    ("POST", "/api/v1/import/accounts", || post(accounts::import_accounts)),
    ("POST", "/api/v1/import/lines", || post(accounts::import_lines)),
    ("POST", "/api/v1/import/devices", || post(accounts::import_devices)),
    ("POST", "/api/v1/cases", || post(cases::open_case)),
    ("GET", "/api/v1/cases", || get(cases::list_cases)),
    ("GET", "/api/v1/cases/{id}", || get(cases::get_case)),
    ("POST", "/api/v1/cases/{id}/commands", || post(cases::command_case)),
    ("POST", "/api/v1/lines/{id}/transfer-pin", || post(numbers::issue_transfer_pin)),
    ("POST", "/api/v1/port-requests", || post(numbers::request_port)),
    ("GET", "/api/v1/numbers", || get(numbers::list_numbers)),
    ("GET", "/api/v1/numbers/{msisdn}", || get(numbers::get_number)),
    ("POST", "/gsma/rsp2/es2plus/handleDownloadProgressInfo", || post(numbers::download_progress)),
    ("GET", "/api/v1/authenticity/{code}", || get(numbers::check_authenticity)),
    ("GET", "/api/v1/cases/{id}/return-label", || get(cases::return_label)),
    ("GET", "/api/v1/cases/{id}/statement", || get(cases::statement)),
    // Records: exports, legal holds, privacy requests.
    ("POST", "/api/v1/accounts/{id}/exports", || post(crate::records::request_export)),
    ("GET", "/api/v1/accounts/{id}/exports", || get(crate::records::list_exports)),
    ("GET", "/api/v1/exports/{token}", || get(crate::records::download_export)),
    ("POST", "/api/v1/accounts/{id}/legal-hold", || post(crate::records::legal_hold)),
    ("POST", "/api/v1/privacy-requests", || post(crate::records::open_privacy_request)),
    ("GET", "/api/v1/privacy-requests", || get(crate::records::list_privacy_requests)),
    ("GET", "/api/v1/privacy-requests/{id}", || get(crate::records::get_privacy_request)),
    ("POST", "/api/v1/privacy-requests/{id}/steps", || post(crate::records::privacy_step)),
    ("POST", "/api/v1/cases/{id}/verification/codes", || post(verification::send_code)),
    ("POST", "/api/v1/cases/{id}/verification", || post(verification::verify)),
    ("POST", "/api/v1/accounts/{id}/lock", || post(fraud::lock_account)),
    ("GET", "/api/v1/accounts/{id}/lock", || get(fraud::get_lock)),
    ("POST", "/api/v1/accounts/{id}/lock-lift", || post(fraud::request_lock_lift)),
    ("DELETE", "/api/v1/accounts/{id}/lock-lift", || axum::routing::delete(fraud::cancel_lock_lift)),
    ("POST", "/api/v1/fraud-reports", || post(fraud::report_fraud)),
];

/// Where Swagger UI is served (not part of the API document).
pub const DOCS_PATH: &str = "/api/docs";
/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The whole application: API routes, the document, Swagger UI, fallbacks and middleware.
pub fn router(state: AppState) -> Router {
    crate::metrics::install();
    let mut api = Router::new();
    for (_, path, handler) in ROUTES {
        api = api.route(path, handler());
    }
    let docs = utoipa_swagger_ui::SwaggerUi::new(DOCS_PATH).config(utoipa_swagger_ui::Config::from(OPENAPI_PATH));
    let api = api.merge(crate::console::routes()).merge(crate::portal::routes());
    api.method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .merge(Router::<AppState>::from(docs))
        .layer(DefaultBodyLimit::max(state.limits.body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), request_context))
        .layer(middleware::from_fn(crate::metrics::track))
        .with_state(state)
}

/// Liveness: the process answers and knows its database backend.
#[utoipa::path(
    get, path = "/health", tag = "system",
    responses((status = 200, description = "The process is up.", body = Health))
)]
pub async fn health(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health { status: "ok".into(), backend: state.engine.backend().into() })
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| crate::openapi().to_json().unwrap_or_else(|_| "{}".into()));
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str()).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new("not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new("method_not_allowed", "this route does not take this method")
}

/// The request's id, for handlers that render it themselves (HTML error pages).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An incoming request id is kept if it is short and plain; otherwise one is made.
fn incoming_id(req: &Request) -> Option<String> {
    let v = req.headers().get("x-request-id")?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| v.to_owned())
}

/// Gives every request an id (`x-request-id`), puts it in error bodies as
/// `details.request_id`, and logs one line per request without personal data: the
/// route template (not the concrete path), the status and the error code.
async fn request_context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = incoming_id(&req).unwrap_or_else(|| state.request_ids.next());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "-".to_owned(), |m| m.as_str().to_owned());
    let mut response = next.run(req).await;
    let status = response.status().as_u16();
    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        let code = error.code;
        if let Ok(bytes) = serde_json::to_vec(&error.with("request_id", id.clone()).body()) {
            response.headers_mut().remove(header::CONTENT_LENGTH);
            *response.body_mut() = Body::from(bytes);
        }
        if status >= 500 {
            tracing::error!(request_id = %id, %method, route, status, code, "request failed");
        } else {
            tracing::info!(request_id = %id, %method, route, status, code, "request refused");
        }
    } else {
        tracing::debug!(request_id = %id, %method, route, status, "request served");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
