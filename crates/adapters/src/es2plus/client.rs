//! The ES2+ client: configuration, the two functions lineout calls on an SM-DP+
//! (`cancelOrder`, `releaseProfile`), and how an answer is judged (done, retry, give up).
//!
//! Transport failures and answers that cannot be read are retryable; an SM-DP+ that
//! refuses the request itself (HTTP 4xx other than 408/429, or a redirect) is a
//! configuration problem and permanent. Errors carry codes and HTTP statuses only,
//! never an ICCID or EID.

use super::wire::{
    ADMIN_PROTOCOL_HEADER, CONTENT_TYPE_JSON, DEFAULT_ADMIN_PROTOCOL, ExecutionStatus, Function, FunctionAnswer,
    PATH_PREFIX, StatusCode, codes, parse_answer,
};
use lineout_app::ports::AdapterError;
use lineout_domain::values::{Eid, Iccid};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// `finalProfileStatusIndicator` of `cancelOrder`: what becomes of the profile in the
/// SM-DP+'s inventory once its order is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalProfileStatus {
    /// The profile may be ordered again (reused for another subscriber).
    Available,
    /// The profile is retired (the default: a cancelled number's profile is not reused).
    #[default]
    Unavailable,
}

impl FinalProfileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::Unavailable => "Unavailable",
        }
    }
    /// Parses `Available` / `Unavailable` (also lower-case, for configuration files).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Available" | "available" => Some(Self::Available),
            "Unavailable" | "unavailable" => Some(Self::Unavailable),
            _ => None,
        }
    }
}

/// What [`super::Es2PlusNetwork`] does when `cancelOrder` answers that the profile is no
/// longer in an order state (already cancelled, or downloaded / installed on a device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Es2PlusMode {
    /// `cancelOrder` only (the default). A profile past its order is left alone: ES2+
    /// v2.5 has no function that removes an installed profile from a device, and the
    /// subscription itself ends at the HLR. The outcome is logged as `not_cancellable`.
    #[default]
    CancelOrder,
    /// `cancelOrder`, then `releaseProfile` when the order cannot be cancelled. Note: in
    /// SGP.22 `releaseProfile` moves a *Confirmed* profile to *Released*, i.e. makes it
    /// downloadable; a conformant SM-DP+ refuses it for a downloaded or installed profile
    /// (8.2.1 / 3.5, which counts as done). Only for SM-DP+s whose contract documents it.
    CancelOrderThenRelease,
}

impl Es2PlusMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CancelOrder => "cancel_order",
            Self::CancelOrderThenRelease => "cancel_order_then_release",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cancel_order" => Some(Self::CancelOrder),
            "cancel_order_then_release" => Some(Self::CancelOrderThenRelease),
            _ => None,
        }
    }
}

/// How to reach and talk to one SM-DP+. Its `Debug` leaves the PEM contents out.
#[derive(Clone, PartialEq, Eq)]
pub struct Es2PlusConfig {
    /// The SM-DP+'s base URL, e.g. `https://smdp.example.com` (functions are below
    /// `/gsma/rsp2/es2plus/`).
    pub base_url: String,
    /// `functionRequesterIdentifier`: the operator's id as agreed with the SM-DP+.
    pub function_requester_identifier: String,
    /// `X-Admin-Protocol`, default `gsma/rsp/v2.5.0`.
    pub admin_protocol: String,
    pub mode: Es2PlusMode,
    pub final_profile_status: FinalProfileStatus,
    /// Send the line's EID in `cancelOrder` (the SM-DP+ then checks the association and
    /// refuses with 8.1.1 / 3.10 when another EID is linked). Off by default: the ICCID
    /// alone names the profile, and the EID on record may be stale.
    pub send_eid: bool,
    /// Time to establish a connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Time for the whole call: connect, send, and read the answer. A deprovisioning
    /// makes at most two calls; keep twice this below the outbox lease (60 s by default).
    pub request_timeout: Duration,
    /// Largest answer body read; a larger one is a (retryable) error.
    pub max_response_bytes: usize,
    /// Refuse `http://` base URLs (on by default; tests against a loopback fake turn it off).
    pub require_https: bool,
    /// Extra trusted root certificates (PEM), e.g. the SM-DP+'s private CA.
    pub root_ca_pem: Option<Vec<u8>>,
    /// The operator's TLS client identity (PEM: certificate chain and private key) for
    /// mutually authenticated TLS.
    pub client_identity_pem: Option<Vec<u8>>,
}

/// Limits on what a configuration may say.
pub const MAX_RESPONSE_BYTES_LIMIT: usize = 1024 * 1024;
const MAX_IDENTIFIER_LEN: usize = 128;

impl Es2PlusConfig {
    /// A configuration with the defaults: v2.5.0, `cancel_order` mode, `Unavailable`,
    /// no EID, 5 s to connect, 20 s per call, answers up to 64 KiB, HTTPS only.
    pub fn new(base_url: impl Into<String>, function_requester_identifier: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            function_requester_identifier: function_requester_identifier.into(),
            admin_protocol: DEFAULT_ADMIN_PROTOCOL.to_owned(),
            mode: Es2PlusMode::default(),
            final_profile_status: FinalProfileStatus::default(),
            send_eid: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            max_response_bytes: 64 * 1024,
            require_https: true,
            root_ca_pem: None,
            client_identity_pem: None,
        }
    }

    /// Checks every setting; the error names the bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&self.base_url).map_err(|_| ConfigError::Invalid("base_url", "not a URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if !self.require_https => {}
            "http" => return Err(ConfigError::Invalid("base_url", "must be https (require_https is on)")),
            _ => return Err(ConfigError::Invalid("base_url", "scheme must be https or http")),
        }
        if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Invalid("base_url", "needs a host and no query or fragment"));
        }
        if !is_identifier(&self.function_requester_identifier) {
            return Err(ConfigError::Invalid(
                "function_requester_identifier",
                "must be 1-128 printable ASCII characters",
            ));
        }
        if !self.admin_protocol.starts_with("gsma/rsp/v")
            || self.admin_protocol.len() > 32
            || !self.admin_protocol.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ConfigError::Invalid("admin_protocol", "must look like gsma/rsp/v2.5.0"));
        }
        if self.connect_timeout.is_zero() || self.connect_timeout > Duration::from_secs(300) {
            return Err(ConfigError::Invalid("connect_timeout", "must be between 1 ms and 300 s"));
        }
        if self.request_timeout.is_zero() || self.request_timeout > Duration::from_secs(600) {
            return Err(ConfigError::Invalid("request_timeout", "must be between 1 ms and 600 s"));
        }
        if self.max_response_bytes < 256 || self.max_response_bytes > MAX_RESPONSE_BYTES_LIMIT {
            return Err(ConfigError::Invalid("max_response_bytes", "must be between 256 and 1048576"));
        }
        Ok(())
    }

    /// The base URL without a trailing slash.
    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

impl std::fmt::Debug for Es2PlusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pem = |p: &Option<Vec<u8>>| p.as_ref().map(|b| format!("<{} bytes>", b.len()));
        f.debug_struct("Es2PlusConfig")
            .field("base_url", &self.base_url)
            .field("function_requester_identifier", &self.function_requester_identifier)
            .field("admin_protocol", &self.admin_protocol)
            .field("mode", &self.mode)
            .field("final_profile_status", &self.final_profile_status)
            .field("send_eid", &self.send_eid)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("require_https", &self.require_https)
            .field("root_ca_pem", &pem(&self.root_ca_pem))
            .field("client_identity_pem", &pem(&self.client_identity_pem))
            .finish()
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_IDENTIFIER_LEN && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// A configuration the client cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("es2plus.{0}: {1}")]
    Invalid(&'static str, &'static str),
    #[error("es2plus: cannot build the HTTP client: {0}")]
    Client(String),
}

/// An ES2+ client for one SM-DP+. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Es2PlusClient {
    http: reqwest::Client,
    config: std::sync::Arc<Es2PlusConfig>,
}

impl Es2PlusClient {
    pub fn new(config: Es2PlusConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(config.require_https)
            .user_agent(concat!("lineout/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.root_ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| ConfigError::Invalid("root_ca_pem", "not PEM certificates"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(pem) = &config.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|_| ConfigError::Invalid("client_identity_pem", "not a PEM certificate chain and key"))?;
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self { http, config: std::sync::Arc::new(config) })
    }

    pub fn config(&self) -> &Es2PlusConfig {
        &self.config
    }

    /// `ES2+.CancelOrder` (SGP.22 §5.3.3): cancels the pending download order of the
    /// profile `iccid`, leaving it `final_status` in the SM-DP+'s inventory.
    /// `call_id` is the `functionCallIdentifier`; see [`call_id`].
    pub async fn cancel_order(
        &self,
        call_id: &str,
        iccid: &Iccid,
        eid: Option<&Eid>,
        matching_id: Option<&str>,
        final_status: FinalProfileStatus,
    ) -> Result<FunctionAnswer, AdapterError> {
        let mut fields = Map::new();
        fields.insert("iccid".into(), json!(iccid.as_str()));
        if let Some(eid) = eid {
            fields.insert("eid".into(), json!(eid.as_str()));
        }
        if let Some(m) = matching_id {
            fields.insert("matchingId".into(), json!(m));
        }
        fields.insert("finalProfileStatusIndicator".into(), json!(final_status.as_str()));
        self.call(Function::CancelOrder, call_id, fields).await
    }

    /// `ES2+.ReleaseProfile` (SGP.22 §5.3.4): releases the profile `iccid` (Confirmed →
    /// Released, after which it may be downloaded).
    pub async fn release_profile(&self, call_id: &str, iccid: &Iccid) -> Result<FunctionAnswer, AdapterError> {
        let mut fields = Map::new();
        fields.insert("iccid".into(), json!(iccid.as_str()));
        self.call(Function::ReleaseProfile, call_id, fields).await
    }

    /// Sends one function call and reads its `functionExecutionStatus`. `Err` only for
    /// transport and protocol failures; a `Failed` answer is an `Ok` to be judged.
    async fn call(
        &self,
        function: Function,
        call_id: &str,
        fields: Map<String, Value>,
    ) -> Result<FunctionAnswer, AdapterError> {
        let name = function.name();
        if !is_identifier(call_id) {
            return Err(AdapterError::permanent(format!("es2plus {name}: unusable functionCallIdentifier")));
        }
        let mut body = Map::new();
        body.insert(
            "header".into(),
            json!({
                "functionRequesterIdentifier": self.config.function_requester_identifier,
                "functionCallIdentifier": call_id,
            }),
        );
        body.extend(fields);
        let url = format!("{}{PATH_PREFIX}{name}", self.config.base());
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE_JSON)
            .header(reqwest::header::ACCEPT, CONTENT_TYPE_JSON)
            .header(ADMIN_PROTOCOL_HEADER, &self.config.admin_protocol)
            .body(Value::Object(body).to_string())
            .send()
            .await
            .map_err(|e| transport_error(name, &e))?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            408 | 429 | 500..=599 => {
                return Err(AdapterError::retryable(format!("es2plus {name}: HTTP {status}")));
            }
            201..=299 => {
                return Err(AdapterError::retryable(format!("es2plus {name}: unexpected HTTP {status} (no answer)")));
            }
            _ => return Err(AdapterError::permanent(format!("es2plus {name}: refused with HTTP {status}"))),
        }
        let bytes = read_bounded(response, self.config.max_response_bytes, name).await?;
        parse_answer(&bytes)
            .map_err(|what| AdapterError::retryable(format!("es2plus {name}: malformed answer: {what}")))
    }
}

/// Reads the body, refusing more than `max` bytes.
async fn read_bounded(mut response: reqwest::Response, max: usize, name: &str) -> Result<Vec<u8>, AdapterError> {
    let too_large = || AdapterError::retryable(format!("es2plus {name}: answer larger than {max} bytes"));
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(name, &e))? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Every transport failure is retryable; the message says which kind (the URL is left out).
fn transport_error(name: &str, e: &reqwest::Error) -> AdapterError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "answer interrupted"
    } else {
        "request failed"
    };
    AdapterError::retryable(format!("es2plus {name}: {kind}"))
}

/// The `functionCallIdentifier` of `function` for the outbox row `idempotency_key`:
/// the same on every delivery of that row (so the SM-DP+ can recognise a retry), and
/// different per function (so `cancelOrder` and `releaseProfile` never share one).
pub fn call_id(idempotency_key: &str, function: Function) -> String {
    format!("{idempotency_key}.{}", function.name())
}

/// What an answer means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Executed (`Executed-Success`, or `Executed-WithWarning` with its code).
    Executed(Option<StatusCode>),
    /// Refused because the profile's state does not allow the function (8.2.1 / 3.5
    /// invalid transition, 8.2.1 / 3.3 not available): already in a final state, or past
    /// the order (downloaded, installed). Nothing left to do for this function.
    NotInState(StatusCode),
    /// The SM-DP+ does not know the ICCID (8.2.1 / 3.9): nothing to cancel or release.
    UnknownProfile(StatusCode),
    /// Not done, try again later (`Expired`, provider busy or internal error).
    Retry(String),
    /// Not done and retrying will not help.
    Permanent(String),
}

/// Judges a function's answer (pure; the same table for `cancelOrder` and `releaseProfile`).
pub fn judge(function: Function, answer: &FunctionAnswer) -> Verdict {
    let name = function.name();
    match (answer.status, &answer.code) {
        (ExecutionStatus::Success, _) => Verdict::Executed(None),
        (ExecutionStatus::WithWarning, code) => Verdict::Executed(code.clone()),
        (ExecutionStatus::Expired, code) => Verdict::Retry(match code {
            Some(c) => format!("es2plus {name}: Expired ({c})"),
            None => format!("es2plus {name}: Expired"),
        }),
        (ExecutionStatus::Failed, None) => Verdict::Permanent(format!("es2plus {name}: Failed without statusCodeData")),
        (ExecutionStatus::Failed, Some(c)) => {
            if c.is(codes::PROFILE_ICCID, codes::INVALID_TRANSITION)
                || c.is(codes::PROFILE_ICCID, codes::ALREADY_IN_USE)
            {
                Verdict::NotInState(c.clone())
            } else if c.is(codes::PROFILE_ICCID, codes::UNKNOWN) {
                Verdict::UnknownProfile(c.clone())
            } else if c.is(codes::FUNCTION_PROVIDER, codes::EXECUTION_ERROR)
                || c.is(codes::FUNCTION_PROVIDER, codes::BUSY)
            {
                Verdict::Retry(format!("es2plus {name}: Failed ({c})"))
            } else {
                Verdict::Permanent(format!("es2plus {name}: Failed ({c})"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(s: &str, r: &str) -> FunctionAnswer {
        FunctionAnswer { status: ExecutionStatus::Failed, code: Some(StatusCode::new(s, r)) }
    }

    #[test]
    fn the_judgement_table() {
        let f = Function::CancelOrder;
        assert_eq!(judge(f, &FunctionAnswer { status: ExecutionStatus::Success, code: None }), Verdict::Executed(None));
        let w = StatusCode::new("8.2.1", "4.3");
        assert_eq!(
            judge(f, &FunctionAnswer { status: ExecutionStatus::WithWarning, code: Some(w.clone()) }),
            Verdict::Executed(Some(w))
        );
        assert!(matches!(judge(f, &failed("8.2.1", "3.5")), Verdict::NotInState(_)));
        assert!(matches!(judge(f, &failed("8.2.1", "3.3")), Verdict::NotInState(_)));
        assert!(matches!(judge(f, &failed("8.2.1", "3.9")), Verdict::UnknownProfile(_)));
        assert!(matches!(judge(f, &failed("1.2", "4.2")), Verdict::Retry(_)));
        assert!(matches!(judge(f, &failed("1.2", "4.4")), Verdict::Retry(_)));
        assert!(matches!(
            judge(f, &FunctionAnswer { status: ExecutionStatus::Expired, code: None }),
            Verdict::Retry(_)
        ));
        for (s, r) in [("8.1.1", "3.10"), ("8.2.1", "1.2"), ("1.6", "2.2"), ("1.1", "1.1"), ("8.2.6", "3.10")] {
            assert!(matches!(judge(f, &failed(s, r)), Verdict::Permanent(_)), "{s}/{r}");
        }
        assert!(matches!(
            judge(f, &FunctionAnswer { status: ExecutionStatus::Failed, code: None }),
            Verdict::Permanent(_)
        ));
    }

    #[test]
    fn configuration_is_checked_key_by_key() {
        let ok = Es2PlusConfig::new("https://smdp.example.com/", "OP1");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.base(), "https://smdp.example.com");
        let bad = |f: fn(&mut Es2PlusConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            match c.validate() {
                Err(ConfigError::Invalid(key, _)) => key,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(bad(|c| c.base_url = "http://smdp.example.com".into()), "base_url");
        assert_eq!(bad(|c| c.base_url = "ftp://smdp.example.com".into()), "base_url");
        assert_eq!(bad(|c| c.base_url = "nonsense".into()), "base_url");
        assert_eq!(bad(|c| c.function_requester_identifier = String::new()), "function_requester_identifier");
        assert_eq!(bad(|c| c.admin_protocol = "v2".into()), "admin_protocol");
        assert_eq!(bad(|c| c.request_timeout = Duration::ZERO), "request_timeout");
        assert_eq!(bad(|c| c.connect_timeout = Duration::ZERO), "connect_timeout");
        assert_eq!(bad(|c| c.max_response_bytes = 10), "max_response_bytes");
        let mut http = ok.clone();
        http.base_url = "http://127.0.0.1:1".into();
        http.require_https = false;
        assert_eq!(http.validate(), Ok(()));
    }

    #[test]
    fn bad_pem_is_a_configuration_error_and_pem_is_never_printed() {
        let mut c = Es2PlusConfig::new("https://smdp.example.com", "OP1");
        c.client_identity_pem = Some(b"not pem".to_vec());
        let shown = format!("{c:?}");
        assert!(shown.contains("<7 bytes>") && !shown.contains("not pem"), "{shown}");
        assert!(matches!(Es2PlusClient::new(c), Err(ConfigError::Invalid("client_identity_pem", _))));
    }

    #[test]
    fn call_ids_are_per_key_and_function() {
        assert_eq!(call_id("C1.2.0", Function::CancelOrder), "C1.2.0.cancelOrder");
        assert_ne!(call_id("C1.2.0", Function::CancelOrder), call_id("C1.2.0", Function::ReleaseProfile));
    }

    #[test]
    fn settings_parse() {
        assert_eq!(FinalProfileStatus::parse("available"), Some(FinalProfileStatus::Available));
        assert_eq!(FinalProfileStatus::parse("x"), None);
        assert_eq!(Es2PlusMode::parse("cancel_order_then_release"), Some(Es2PlusMode::CancelOrderThenRelease));
        assert_eq!(Es2PlusMode::parse(Es2PlusMode::CancelOrder.as_str()), Some(Es2PlusMode::CancelOrder));
    }
}
