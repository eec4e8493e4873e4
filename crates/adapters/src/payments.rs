//! Refunds through the operator's payment service, over HTTPS.
//!
//! [`HttpPayments`] implements the [`Payments`] port. One refund is one request:
//!
//! ```text
//! POST {url}/refunds
//! Content-Type: application/json
//! Idempotency-Key: C01JD3K5M2X7Q4T9A.7.1
//! X-Lineout-Timestamp: 1740821400
//! X-Lineout-Signature: v1=3a5af726ebdf53c4c9c9018e6a05e07c9814c35e76ec1236ee0f5752b93a2213
//!
//! {"account_id":"A-1001","amount_cents":1850,"currency":"USD","method":"original_payment","reference":"C01JD3K5M2X7Q4T9A.7.1"}
//! ```
//!
//! - `Idempotency-Key` (and the body's `reference`) is the outbox row's id: the same on
//!   every retry of that refund, so the service can recognise a retry and never pay twice.
//! - `X-Lineout-Timestamp` is this attempt's unix time in seconds, from the [`Clock`] port.
//! - `X-Lineout-Signature` is `v1=` + lower-case hex of HMAC-SHA256(secret,
//!   `"{timestamp}.{body}"`) over the exact body bytes; see [`sign`] and, for the
//!   service's side, [`verify`].
//! - `amount_cents` is a positive integer in the currency's minor units; `currency` is
//!   the ISO 4217 code.
//! - `method` is how the customer chose to be paid: `original_payment` (back to the
//!   payment method they paid with; `original_payment_reference`, when present, is the
//!   reference of the payment recorded on the case) or `check` (mailed to the billing
//!   address the service holds for the account). Account credit never reaches the
//!   service: it is a ledger entry.
//!
//! Answers:
//!
//! | answer | result |
//! |---|---|
//! | 200 / 201 `{"refund_id": "…"}` | paid: `Ok(refund_id)` |
//! | 409 `{"refund_id": "…"}` | an idempotent replay: the service already paid this key; `Ok(refund_id)` of that first refund, nothing paid again |
//! | 409 with JSON but no `refund_id` | permanent: the key is in use for something else; an operator must look |
//! | 400, 422 | permanent: the service refuses this refund (e.g. `payment_method_closed`); the answer's `error` code is quoted |
//! | 401, 403 | **retryable**: the service refuses *our* credentials (secret, clock skew); nothing is wrong with the refund, so it waits, with backoff, for an operator to fix the configuration rather than being dead-lettered |
//! | 408, 429, 5xx | retryable |
//! | other 2xx (202, 204, …) | retryable: no refund id yet; the retry carries the same key |
//! | 3xx (redirects are not followed), other 4xx | permanent: misconfigured URL or a refusal |
//! | time-out, connection error, unreadable JSON, answer over `max_response_bytes` | retryable (a retry with the same key is safe) |
//!
//! A non-positive amount, or an idempotency key that cannot be a header value, is
//! permanent and nothing is sent. Logs and errors name the idempotency key, HTTP
//! statuses and the service's error codes; never the URL, the secret, the account or
//! the amount.
//!
//! `fake` (feature `fake-payments`, always on in this crate's tests) is a loopback
//! payment service for tests here and in other crates.

#[cfg(any(test, feature = "fake-payments"))]
pub mod fake;
mod sign;
#[cfg(test)]
mod tests;

pub use sign::{DEFAULT_TOLERANCE_SECS, SIGNATURE_PREFIX, VerifyError, sign, verify};

use lineout_app::ports::{AdapterError, Clock, Payments};
use lineout_domain::effects::Payout;
use lineout_domain::policy::RefundMethod;
use lineout_domain::values::{AccountId, Money};
use reqwest::Url;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The path of the refund endpoint, below the configured URL.
pub const REFUNDS_PATH: &str = "/refunds";
/// The `Content-Type` of a refund request.
pub const CONTENT_TYPE: &str = "application/json";
/// The header carrying the idempotency key (the outbox row's id).
pub const HEADER_IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The header carrying the attempt's unix time in seconds.
pub const HEADER_TIMESTAMP: &str = "X-Lineout-Timestamp";
/// The header carrying the signature (`v1=<hex>`).
pub const HEADER_SIGNATURE: &str = "X-Lineout-Signature";
/// The default time for one attempt (connect, send, read the answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest `timeout` accepted: keep it below the outbox lease (60 s by default).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to establish a connection (TCP + TLS), within `timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default largest answer read.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The range `max_response_bytes` must be in.
pub const MIN_RESPONSE_BYTES: usize = 256;
pub const MAX_RESPONSE_BYTES_LIMIT: usize = 1024 * 1024;
/// The range of a secret's length (bytes, printable ASCII without spaces).
pub const MIN_SECRET_LEN: usize = 32;
pub const MAX_SECRET_LEN: usize = 512;
/// An idempotency key or refund id is at most this long.
const MAX_ID_LEN: usize = 255;
/// A service error code quoted in messages is at most this long.
const MAX_CODE_LEN: usize = 64;

/// How to reach the payment service. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentsConfig {
    /// The service's base URL: `https://…`, or `http://` to a loopback address only
    /// (tests, a local relay). Refunds are posted to `{url}/refunds`. No credentials,
    /// query or fragment (the signature authenticates).
    pub url: String,
    /// The HMAC key shared with the service: 32-512 printable ASCII characters without
    /// spaces, used as written (its bytes are the key).
    pub secret: String,
    /// Time for one attempt: connect, send, and read the answer (1 ms to 60 s).
    pub timeout: Duration,
    /// The largest answer read (256 B to 1 MiB); a larger one is a retryable error.
    pub max_response_bytes: usize,
}

impl PaymentsConfig {
    /// A configuration with the defaults: 20 s per attempt, answers up to 64 KiB.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Checks every setting; the error names the bad key, never the secret.
    pub fn validate(&self) -> Result<Url, ConfigError> {
        let invalid = |key, reason| Err(ConfigError::Invalid { key, reason });
        let Ok(url) = Url::parse(&self.url) else { return invalid("url", "not a URL") };
        if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
            return invalid("url", "needs a host and no query or fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return invalid("url", "must not carry credentials (the signature authenticates)");
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return invalid("url", "must be https (http only to a loopback address)"),
            _ => return invalid("url", "scheme must be https"),
        }
        let s = &self.secret;
        if s.len() < MIN_SECRET_LEN || s.len() > MAX_SECRET_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return invalid("secret", "must be 32-512 printable ASCII characters without spaces");
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return invalid("timeout", "must be between 1 ms and 60 s");
        }
        if !(MIN_RESPONSE_BYTES..=MAX_RESPONSE_BYTES_LIMIT).contains(&self.max_response_bytes) {
            return invalid("max_response_bytes", "must be between 256 and 1048576");
        }
        let base = url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{REFUNDS_PATH}"))
            .map_err(|_| ConfigError::Invalid { key: "url", reason: "cannot append /refunds" })
    }
}

impl std::fmt::Debug for PaymentsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentsConfig")
            .field("url", &redacted_url(&self.url))
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// A payments configuration that cannot work. Messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("payments.{key}: {reason}")]
    Invalid { key: &'static str, reason: &'static str },
    #[error("payments: cannot build the HTTP client: {0}")]
    Client(String),
}

/// A refund the service answered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The service's reference of the refund.
    pub refund_id: String,
    /// The service had already paid this key (HTTP 409): this is the first refund's id.
    pub replayed: bool,
    /// The HTTP status of the answer (200, 201 or 409).
    pub status: u16,
}

/// Posts signed refund requests to the operator's payment service. Cheap to share (one
/// connection pool).
pub struct HttpPayments {
    http: reqwest::Client,
    refunds_url: Url,
    secret: String,
    max_response_bytes: usize,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HttpPayments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPayments")
            .field("refunds_url", &redacted_url(self.refunds_url.as_str()))
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpPayments {
    /// Checks the configuration (the error names the bad key) and builds the client.
    /// Timestamps are read from `clock`.
    pub fn new(config: PaymentsConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let refunds_url = config.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(config.timeout))
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(refunds_url.scheme() == "https")
            .no_proxy()
            .user_agent(concat!("lineout/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self { http, refunds_url, secret: config.secret, max_response_bytes: config.max_response_bytes, clock })
    }

    /// Requests one refund and says how the service answered. The same
    /// `idempotency_key` must be used on every retry of the same refund.
    pub async fn request_refund(
        &self,
        idempotency_key: &str,
        account: &AccountId,
        amount: Money,
        payout: &Payout,
    ) -> Result<Refund, AdapterError> {
        if !is_header_id(idempotency_key) {
            return Err(AdapterError::permanent("payments: unusable idempotency key"));
        }
        if !amount.is_positive() {
            return Err(AdapterError::permanent(format!(
                "payments {idempotency_key}: a refund amount must be positive"
            )));
        }
        if payout.method == RefundMethod::AccountCredit {
            return Err(AdapterError::permanent(format!(
                "payments {idempotency_key}: account credit is a ledger entry, not a payout"
            )));
        }
        let body = request_body(idempotency_key, account, amount, payout);
        let timestamp = self.clock.now().unix_timestamp();
        let signature = sign(&self.secret, timestamp, body.as_bytes());
        let response = self
            .http
            .post(self.refunds_url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::ACCEPT, CONTENT_TYPE)
            .header(HEADER_IDEMPOTENCY_KEY, idempotency_key)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(idempotency_key, &e))?;
        let status = response.status().as_u16();
        let answer = match status {
            200 | 201 | 400 | 409 | 422 => read_bounded(response, self.max_response_bytes, idempotency_key).await,
            _ => Ok(Vec::new()), // the body is not needed; dropping the response closes it
        };
        judge(idempotency_key, status, answer)
    }
}

#[async_trait::async_trait]
impl Payments for HttpPayments {
    async fn refund(
        &self,
        idempotency_key: &str,
        account: &AccountId,
        amount: Money,
        payout: &Payout,
    ) -> Result<String, AdapterError> {
        match self.request_refund(idempotency_key, account, amount, payout).await {
            Ok(refund) => {
                tracing::info!(
                    key = idempotency_key,
                    status = refund.status,
                    replayed = refund.replayed,
                    "refund paid"
                );
                Ok(refund.refund_id)
            }
            Err(e) => {
                tracing::warn!(key = idempotency_key, retryable = e.retryable, error = %e.message, "refund failed");
                Err(e)
            }
        }
    }
}

/// The request body: `{"account_id", "amount_cents", "currency", "method", "reference"}`
/// (keys sorted), plus `original_payment_reference` when the payout names one.
pub fn request_body(idempotency_key: &str, account: &AccountId, amount: Money, payout: &Payout) -> String {
    let mut body = serde_json::json!({
        "account_id": account.as_str(),
        "amount_cents": amount.cents,
        "currency": amount.currency.as_str(),
        "reference": idempotency_key,
        "method": payout.method.as_str(),
    });
    if let (Some(reference), Some(map)) = (&payout.original_reference, body.as_object_mut()) {
        map.insert("original_payment_reference".into(), Value::String(reference.clone()));
    }
    body.to_string()
}

/// What an answer means (pure). `body` is the answer's body as read, or why it could
/// not be read (always a retryable error). See the module's table.
pub fn judge(key: &str, status: u16, body: Result<Vec<u8>, AdapterError>) -> Result<Refund, AdapterError> {
    match status {
        200 | 201 | 409 => {
            let bytes = body?;
            let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
                return Err(AdapterError::retryable(format!("payments {key}: HTTP {status} with unreadable JSON")));
            };
            match value.get("refund_id") {
                Some(Value::String(id)) if is_header_id(id) => {
                    Ok(Refund { refund_id: id.clone(), replayed: status == 409, status })
                }
                None if status == 409 => Err(AdapterError::permanent(format!(
                    "payments {key}: HTTP 409 without a refund_id: the key is in use for something else{}",
                    quoted_code(&value)
                ))),
                _ => Err(AdapterError::retryable(format!("payments {key}: HTTP {status} without a usable refund_id"))),
            }
        }
        400 | 422 => {
            let code = body.ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()).map(|v| quoted_code(&v));
            Err(AdapterError::permanent(format!(
                "payments {key}: refund refused with HTTP {status}{}",
                code.unwrap_or_default()
            )))
        }
        401 | 403 => Err(AdapterError::retryable(format!(
            "payments {key}: HTTP {status}: the service refuses our credentials (check payments.secret and the clock); \
             retrying until an operator fixes it"
        ))),
        408 | 429 | 500..=599 => Err(AdapterError::retryable(format!("payments {key}: HTTP {status}"))),
        202..=299 => Err(AdapterError::retryable(format!(
            "payments {key}: unexpected HTTP {status} without a refund; retrying with the same key"
        ))),
        300..=399 => Err(AdapterError::permanent(format!(
            "payments {key}: HTTP {status} (redirects are not followed; configure the final URL)"
        ))),
        _ => Err(AdapterError::permanent(format!("payments {key}: refused with HTTP {status}"))),
    }
}

/// `: <code>` when the answer carries an `error` (or `code`) that is a plain short token.
fn quoted_code(answer: &Value) -> String {
    let code = answer.get("error").or_else(|| answer.get("code")).and_then(Value::as_str).filter(|c| {
        !c.is_empty()
            && c.len() <= MAX_CODE_LEN
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    });
    code.map(|c| format!(": {c}")).unwrap_or_default()
}

/// Reads the body, refusing more than `max` bytes (retryable).
async fn read_bounded(mut response: reqwest::Response, max: usize, key: &str) -> Result<Vec<u8>, AdapterError> {
    let too_large = || AdapterError::retryable(format!("payments {key}: answer larger than {max} bytes"));
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(key, &e))? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Every transport failure is retryable; the message says which kind (no URL).
fn transport_error(key: &str, e: &reqwest::Error) -> AdapterError {
    if e.is_builder() {
        return AdapterError::permanent(format!("payments {key}: request could not be built"));
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "answer interrupted"
    } else {
        "request failed"
    };
    AdapterError::retryable(format!("payments {key}: {kind}"))
}

/// Usable as a header value and an id: 1-255 printable ASCII characters, no spaces.
fn is_header_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The URL's origin and path (credentials, query and fragment dropped).
fn redacted_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            let rest = if u.query().is_some() { "?<redacted>" } else { "" };
            format!("{}{}{rest}", u.origin().ascii_serialization(), u.path())
        }
        Err(_) => "<not a URL>".to_owned(),
    }
}
