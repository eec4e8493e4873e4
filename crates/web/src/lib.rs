//! lineout's HTTP layer, the only place that knows HTTP and JSON: the API under
//! `/api/v1` (accounts, lines, devices, imports, cases and their commands), bearer-token
//! authentication with scopes, coded JSON errors, the OpenAPI document and Swagger UI.
//!
//! Domain types are not the wire format: [`dto`] converts in both directions.

mod accounts;
mod cases;
pub mod console;
pub mod dto;
pub mod error;
mod extract;
mod fraud;
mod ledger;
pub mod metrics;
mod numbers;
mod openapi;
mod portal;
mod records;
mod routes;
mod state;
mod verification;

#[cfg(test)]
mod tests;

pub use error::{ApiError, ErrorBody};
pub use extract::{ON_BEHALF_OF, SCOPES};
pub use openapi::openapi;
pub use routes::{DOCS_PATH, OPENAPI_PATH, router};
pub use state::{AppState, Limits};

/// Serves the application on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
