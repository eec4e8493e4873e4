//! Signed webhooks: case events posted as CloudEvents to the operator's own systems.
//!
//! [`HttpWebhooks`] implements the [`WebhookTransport`] port over HTTPS. Each POST
//! carries one CloudEvents 1.0 event in structured mode (built by
//! `lineout_app::cloudevents`) and the Standard Webhooks headers:
//!
//! - `Content-Type: application/cloudevents+json; charset=utf-8`
//! - `webhook-id`: the outbox row's idempotency key, the same on every delivery of it
//! - `webhook-timestamp`: unix seconds of this attempt, from the [`Clock`] port
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
//!   the key being the endpoint's `whsec_…` secret decoded (see [`sign`])
//!
//! Receivers check it with [`verify`] (or any Standard Webhooks library) and
//! deduplicate on `webhook-id`: delivery is at least once.
//!
//! Answers: 2xx → done. 408, 429, 5xx, time-outs and connection errors → retry.
//! Other statuses (3xx, since redirects are not followed, and other 4xx) → permanent:
//! the endpoint refuses, or is misconfigured. An endpoint name that is not configured
//! is permanent too. Each call is bounded by the endpoint's `timeout`, and at most
//! [`MAX_RESPONSE_BYTES`] of an answer are read. Logs and errors name the idempotency
//! key, the endpoint's name and HTTP statuses, never the URL, the secret or the body.

mod sign;
#[cfg(test)]
mod tests;

pub use sign::{
    DEFAULT_TOLERANCE_SECS, MAX_SECRET_BYTES, MIN_SECRET_BYTES, SECRET_PREFIX, SIGNATURE_VERSION, SecretError,
    VerifyError, WebhookSecret, verify,
};

use lineout_app::ports::{AdapterError, Clock, WebhookTransport};
use reqwest::Url;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The `Content-Type` of every POST (CloudEvents structured mode).
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";
/// The header carrying the idempotency key.
pub const HEADER_ID: &str = "webhook-id";
/// The header carrying the attempt's unix time in seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header carrying the signature(s).
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// The default time for one delivery attempt (connect, send, answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest `timeout` accepted: keep it below the outbox lease (60 s by default).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to establish a connection (TCP + TLS), within the endpoint's `timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest body posted; a larger one is refused (permanent).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// At most this much of an answer's body is read (and then ignored).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The most endpoints one configuration may name.
pub const MAX_ENDPOINTS: usize = 64;
const MAX_NAME_LEN: usize = 64;
const MAX_ID_LEN: usize = 255;

/// One receiver of webhooks. Its `Debug` shows neither the secret nor the URL's query.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// What outbox rows name it by (it ends their ids): 1-64 of `A-Z a-z 0-9 _ -`.
    pub name: String,
    /// `https://…`; `http://` only to a loopback address (tests, a local relay).
    pub url: String,
    /// `whsec_` + base64 of 24-64 random bytes, shared with the receiver only.
    pub secret: String,
    /// Time for one attempt: connect, send, and read the answer (1 ms to 60 s).
    pub timeout: Duration,
}

impl WebhookEndpoint {
    /// An endpoint with the default timeout ([`DEFAULT_TIMEOUT`]).
    pub fn new(name: impl Into<String>, url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self { name: name.into(), url: url.into(), secret: secret.into(), timeout: DEFAULT_TIMEOUT }
    }
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("name", &self.name)
            .field("url", &redacted_url(&self.url))
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The URL without credentials, query or fragment (which may hold tokens).
fn redacted_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            let rest = if u.query().is_some() { "?<redacted>" } else { "" };
            format!("{}{}{rest}", u.origin().ascii_serialization(), u.path())
        }
        Err(_) => "<not a URL>".to_owned(),
    }
}

/// A webhook configuration that cannot work. Messages name the endpoint and the key,
/// never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("webhooks: no endpoint is configured")]
    NoEndpoints,
    #[error("webhooks: more than {MAX_ENDPOINTS} endpoints")]
    TooMany,
    #[error("webhooks: endpoint {0:?} is configured twice")]
    Duplicate(String),
    #[error("webhooks.{endpoint}.{key}: {reason}")]
    Invalid { endpoint: String, key: &'static str, reason: String },
    #[error("webhooks: cannot build the HTTP client: {0}")]
    Client(String),
}

/// A checked endpoint.
struct Endpoint {
    url: Url,
    secret: WebhookSecret,
    timeout: Duration,
}

/// Posts signed CloudEvents to named endpoints. Cheap to share (one connection pool).
pub struct HttpWebhooks {
    http: reqwest::Client,
    endpoints: HashMap<String, Endpoint>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HttpWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.endpoints.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("HttpWebhooks").field("endpoints", &names).finish_non_exhaustive()
    }
}

impl HttpWebhooks {
    /// Checks every endpoint (the error names the bad one and key) and builds the client.
    /// Timestamps are read from `clock`.
    pub fn new(endpoints: Vec<WebhookEndpoint>, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        if endpoints.is_empty() {
            return Err(ConfigError::NoEndpoints);
        }
        if endpoints.len() > MAX_ENDPOINTS {
            return Err(ConfigError::TooMany);
        }
        let mut checked = HashMap::with_capacity(endpoints.len());
        for e in endpoints {
            let endpoint = check(&e)?;
            if checked.insert(e.name.clone(), endpoint).is_some() {
                return Err(ConfigError::Duplicate(e.name));
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("lineout/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self { http, endpoints: checked, clock })
    }

    /// The configured endpoint names, sorted (to check effects' targets at start-up).
    pub fn endpoint_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.endpoints.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Posts `body` to `endpoint` once and returns the HTTP status of a 2xx answer.
    pub async fn deliver(&self, idempotency_key: &str, endpoint: &str, body: &str) -> Result<u16, AdapterError> {
        let Some(target) = self.endpoints.get(endpoint) else {
            return Err(AdapterError::permanent(format!("webhook: no endpoint named {endpoint:?} is configured")));
        };
        if !is_webhook_id(idempotency_key) {
            return Err(AdapterError::permanent(format!("webhook {endpoint}: unusable idempotency key")));
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(AdapterError::permanent(format!(
                "webhook {endpoint}: body of {} bytes is over {MAX_BODY_BYTES}",
                body.len()
            )));
        }
        let timestamp = self.clock.now().unix_timestamp();
        let signature = target.secret.sign(idempotency_key, timestamp, body.as_bytes());
        let response = self
            .http
            .post(target.url.clone())
            .timeout(target.timeout)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(HEADER_ID, idempotency_key)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| transport_error(endpoint, &e))?;
        let status = response.status().as_u16();
        judge(endpoint, status)?;
        drain(response).await;
        Ok(status)
    }
}

#[async_trait::async_trait]
impl WebhookTransport for HttpWebhooks {
    async fn post(&self, idempotency_key: &str, endpoint: &str, body: &str) -> Result<(), AdapterError> {
        match self.deliver(idempotency_key, endpoint, body).await {
            Ok(status) => {
                tracing::info!(key = idempotency_key, endpoint, status, "webhook delivered");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(key = idempotency_key, endpoint, retryable = e.retryable, error = %e.message, "webhook failed");
                Err(e)
            }
        }
    }
}

/// What an HTTP status means: 2xx done; 408, 429 and 5xx retry; anything else permanent.
pub fn judge(endpoint: &str, status: u16) -> Result<(), AdapterError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(AdapterError::retryable(format!("webhook {endpoint}: HTTP {status}"))),
        300..=399 => Err(AdapterError::permanent(format!(
            "webhook {endpoint}: HTTP {status} (redirects are not followed; configure the final URL)"
        ))),
        _ => Err(AdapterError::permanent(format!("webhook {endpoint}: refused with HTTP {status}"))),
    }
}

/// Reads (and drops) at most [`MAX_RESPONSE_BYTES`] of the answer, so that a short
/// answer leaves the connection reusable; a longer or broken one is simply cut off.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0usize;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > MAX_RESPONSE_BYTES {
            break;
        }
    }
}

/// Every transport failure is retryable; the message says which kind (no URL).
fn transport_error(endpoint: &str, e: &reqwest::Error) -> AdapterError {
    if e.is_builder() {
        return AdapterError::permanent(format!("webhook {endpoint}: request could not be built"));
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    AdapterError::retryable(format!("webhook {endpoint}: {kind}"))
}

/// A usable `webhook-id`: 1-255 printable ASCII characters, no spaces.
fn is_webhook_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

fn check(e: &WebhookEndpoint) -> Result<Endpoint, ConfigError> {
    let invalid = |key, reason: &str| ConfigError::Invalid { endpoint: e.name.clone(), key, reason: reason.to_owned() };
    let name_ok = !e.name.is_empty()
        && e.name.len() <= MAX_NAME_LEN
        && e.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if !name_ok {
        return Err(invalid("name", "must be 1-64 of A-Z a-z 0-9 _ -"));
    }
    let url = Url::parse(&e.url).map_err(|_| invalid("url", "not a URL"))?;
    if url.host().is_none() || url.fragment().is_some() {
        return Err(invalid("url", "needs a host and no fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("url", "must not carry credentials (the signature authenticates)"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(invalid("url", "must be https (http only to a loopback address)")),
        _ => return Err(invalid("url", "scheme must be https")),
    }
    let secret = WebhookSecret::parse(&e.secret).map_err(|err| invalid("secret", &err.to_string()))?;
    if e.timeout.is_zero() || e.timeout > MAX_TIMEOUT {
        return Err(invalid("timeout", "must be between 1 ms and 60 s"));
    }
    Ok(Endpoint { url, secret, timeout: e.timeout })
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}
