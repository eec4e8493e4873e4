//! Email over SMTP: [`SmtpEmail`] implements the [`EmailTransport`] port with `lettre`
//! (async on tokio; TLS through rustls with the `ring` provider and the webpki roots,
//! plus any private CA in [`SmtpConfig::root_ca_pem`]).
//!
//! ## The message
//!
//! Each email is one `text/plain; charset=utf-8` part (lettre picks 7bit,
//! quoted-printable or base64, so Chinese text arrives intact without relying on
//! 8BITMIME) with `From` (the configured mailbox), `To`, `Subject` (RFC 2047 encoded
//! when it is not ASCII), `Date` (from the [`Clock`] port), `Content-Language` (`en`
//! or `zh-Hans`), `Auto-Submitted: auto-generated` (RFC 3834: no vacation replies,
//! no mail loops) and `X-Auto-Response-Suppress: All` (the same for Exchange). Line
//! breaks at the end of the text are dropped: SMTP's end of data ends the last line.
//!
//! The `Message-ID` is derived from the outbox row's idempotency key:
//! `<{key}@{from-domain}>` (see [`message_id`]). A redelivered row therefore carries the
//! same Message-ID, and a receiver that deduplicates on it shows the customer one
//! email. SMTP itself cannot say "already sent": when the connection dies after the
//! data went out but before the server's `250`, the outbox retries and the same
//! message (same Message-ID) is sent again. [`EmailTransport::send_email`] returns that
//! Message-ID, angle brackets included, exactly as in the header.
//!
//! ## Failures
//!
//! - Retryable: no connection (refused, reset, DNS), time-outs (the connect bound
//!   [`SmtpConfig::connect_timeout`] and the whole-delivery bound
//!   [`SmtpConfig::send_timeout`], which also covers a server that stops answering), TLS
//!   failures, a server that does not offer STARTTLS when it is required, every `4xx`
//!   reply, and the `5xx` replies about our own credentials (530, 534, 535, 538): those
//!   concern the configuration, not the message, so the row waits for the operator to
//!   fix it rather than being dead-lettered.
//! - Permanent: any other `5xx` reply (550 mailbox unavailable, 553 bad address, 552
//!   too large, 554 refused) and a recipient address lettre cannot parse (refused
//!   before any connection is made).
//!
//! ## Safety
//!
//! Plain SMTP (no TLS) is refused at configuration time unless the host is a loopback
//! address or `localhost` (a local relay), or `allow_plain` is set; credentials are
//! never sent in the clear to a non-loopback host, whatever `allow_plain` says. The
//! configuration's `Debug` hides the username and password. Addresses are personal
//! data: logs and error messages name the effect's idempotency key, the reply code and
//! the server's text with every `@`-word masked, never an address.
//!
//! One SMTP connection per delivery (no pool): the adapter keeps no state, and a
//! semaphore bounds how many connections are open at once ([`SmtpConfig::max_connections`]).

mod message;
#[cfg(any(test, feature = "smtp-harness"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use message::message_id;

use crate::SystemClock;
use lettre::address::Address;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use lineout_app::ports::{AdapterError, Clock, EmailTransport, OutgoingEmail};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// No TLS at all: only sensible for a relay on this host (see [`SmtpConfig::allow_plain`]).
    Plain,
    /// Plain TCP upgraded with a required `STARTTLS` (port 587); a server that does not
    /// offer it is an error, never a silent downgrade.
    #[default]
    StartTls,
    /// TLS from the first byte ("implicit TLS", port 465).
    Tls,
}

impl SmtpSecurity {
    /// The usual port: 25 for plain, 587 for STARTTLS, 465 for implicit TLS.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Plain => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "plain" | "none" => Some(Self::Plain),
            "starttls" => Some(Self::StartTls),
            "tls" | "smtps" => Some(Self::Tls),
            _ => None,
        }
    }
}

/// Where and how to send email. Its `Debug` hides the username and password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The SMTP server's host name or IP address (no brackets, no port).
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Permit [`SmtpSecurity::Plain`] to a host that is not loopback (off by default).
    pub allow_plain: bool,
    /// SMTP AUTH (PLAIN or LOGIN, whichever the server offers); set both or neither.
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender mailbox, e.g. `Operator <no-reply@example.com>`; its domain is the
    /// right-hand side of every Message-ID.
    pub from: String,
    /// The name sent in `EHLO` (default: lettre's address literal `[127.0.0.1]`).
    pub hello_name: Option<String>,
    /// Extra trusted root certificates (PEM), e.g. a private CA of the operator's relay.
    pub root_ca_pem: Option<Vec<u8>>,
    /// Bound on the TCP connect (lettre's async transport applies its timeout there only).
    pub connect_timeout: Duration,
    /// Bound on a whole delivery: waiting for a free connection, connect, TLS, AUTH,
    /// every command and the data. A delivery cut short is retried.
    pub send_timeout: Duration,
    /// Most SMTP connections open at once.
    pub max_connections: usize,
}

impl SmtpConfig {
    /// STARTTLS on port 587, 10 s to connect, 60 s per delivery, 4 connections, no AUTH.
    pub fn new(host: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: SmtpSecurity::StartTls.default_port(),
            security: SmtpSecurity::StartTls,
            allow_plain: false,
            username: None,
            password: None,
            from: from.into(),
            hello_name: None,
            root_ca_pem: None,
            connect_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
            max_connections: 4,
        }
    }

    /// Checks every setting; the error names the bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let host = self.host.as_str();
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !name_ok && host.parse::<IpAddr>().is_err() {
            return Err(ConfigError::Invalid("host", "must be a host name or an IP address (no brackets, no port)"));
        }
        if self.port == 0 {
            return Err(ConfigError::Invalid("port", "must be 1-65535"));
        }
        if self.from.parse::<Mailbox>().is_err() {
            return Err(ConfigError::Invalid("from", "must be a mailbox like `Operator <no-reply@example.com>`"));
        }
        match (&self.username, &self.password) {
            (Some(u), Some(_)) if !u.is_empty() => {}
            (None, None) => {}
            _ => return Err(ConfigError::Invalid("username", "set both username and password, or neither")),
        }
        if self.security == SmtpSecurity::Plain && !is_loopback(host) {
            if self.username.is_some() {
                return Err(ConfigError::Invalid(
                    "security",
                    "credentials are never sent over plain SMTP to a non-loopback host",
                ));
            }
            if !self.allow_plain {
                return Err(ConfigError::Invalid(
                    "security",
                    "plain SMTP is only allowed to a loopback host (set allow_plain to override)",
                ));
            }
        }
        if let Some(name) = &self.hello_name
            && (name.is_empty() || name.len() > 253 || !name.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ConfigError::Invalid("hello_name", "must be 1-253 printable ASCII characters"));
        }
        if let Some(pem) = &self.root_ca_pem
            && !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(ConfigError::Invalid("root_ca_pem", "not PEM certificates"));
        }
        if self.connect_timeout.is_zero() || self.connect_timeout > Duration::from_secs(300) {
            return Err(ConfigError::Invalid("connect_timeout", "must be between 1 ms and 300 s"));
        }
        if self.send_timeout < self.connect_timeout || self.send_timeout > Duration::from_secs(600) {
            return Err(ConfigError::Invalid("send_timeout", "must be at least connect_timeout and at most 600 s"));
        }
        if self.max_connections == 0 || self.max_connections > 64 {
            return Err(ConfigError::Invalid("max_connections", "must be 1-64"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<hidden>");
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("allow_plain", &self.allow_plain)
            .field("username", &hidden(&self.username))
            .field("password", &hidden(&self.password))
            .field("from", &self.from)
            .field("hello_name", &self.hello_name)
            .field("root_ca_pem", &self.root_ca_pem.as_ref().map(|b| format!("<{} bytes>", b.len())))
            .field("connect_timeout", &self.connect_timeout)
            .field("send_timeout", &self.send_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `localhost` (or a name under `.localhost`) or a loopback IP address.
fn is_loopback(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A configuration the adapter cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("smtp.{0}: {1}")]
    Invalid(&'static str, &'static str),
    #[error("smtp: cannot set up TLS: {0}")]
    Tls(String),
}

/// The [`EmailTransport`] over SMTP.
pub struct SmtpEmail {
    config: SmtpConfig,
    from: Mailbox,
    /// The sender's domain (lower case), the right-hand side of Message-IDs.
    domain: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    turns: Semaphore,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SmtpEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpEmail").field("config", &self.config).finish_non_exhaustive()
    }
}

impl SmtpEmail {
    /// Validates the configuration and prepares the transport (no connection is made).
    /// `Date` headers come from the system clock; see [`SmtpEmail::with_clock`].
    pub fn new(config: SmtpConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let from: Mailbox = config.from.parse().map_err(|_| ConfigError::Invalid("from", "must be a mailbox"))?;
        let domain = from.email.domain().to_ascii_lowercase();
        let tls = match config.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters(&config)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(&config)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.connect_timeout));
        if let Some(name) = &config.hello_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder
                .credentials(Credentials::new(user.clone(), password.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        let transport = builder.build();
        let turns = Semaphore::new(config.max_connections);
        Ok(Self { config, from, domain, transport, turns, clock: Arc::new(SystemClock) })
    }

    /// The same adapter with `Date` headers taken from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    /// The Message-ID this adapter gives the email sent under `idempotency_key`.
    pub fn message_id_for(&self, idempotency_key: &str) -> String {
        message_id(idempotency_key, &self.domain)
    }

    async fn deliver(&self, email: lettre::Message) -> Result<(), AdapterError> {
        let _turn = self.turns.acquire().await.map_err(|_| AdapterError::retryable("smtp: adapter closed"))?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| classify(&e))
    }
}

fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, ConfigError> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(pem) = &config.root_ca_pem {
        let cert =
            Certificate::from_pem(pem).map_err(|_| ConfigError::Invalid("root_ca_pem", "not PEM certificates"))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| ConfigError::Tls(e.to_string()))
}

/// Reply codes about our credentials rather than the message: retried, not dead-lettered.
const AUTH_CODES: &[&str] = &["530", "534", "535", "538"];

/// What a failed send means for the outbox row.
fn classify(e: &lettre::transport::smtp::Error) -> AdapterError {
    let detail = redact(&e.to_string());
    if let Some(code) = e.status() {
        let code = code.to_string();
        if e.is_permanent() && !AUTH_CODES.contains(&code.as_str()) {
            return AdapterError::permanent(format!("smtp: rejected with {code}: {detail}"));
        }
        return AdapterError::retryable(format!("smtp: refused for now with {code}: {detail}"));
    }
    if e.is_timeout() {
        return AdapterError::retryable(format!("smtp: timed out: {detail}"));
    }
    if e.is_tls() {
        return AdapterError::retryable(format!("smtp: TLS failed: {detail}"));
    }
    AdapterError::retryable(format!("smtp: {detail}"))
}

/// Server or library text made safe to keep: one line, at most 200 characters, and
/// every word with an `@` (an address) replaced by `<address>`.
fn redact(text: &str) -> String {
    let mut out = String::new();
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(if word.contains('@') { "<address>" } else { word });
    }
    if out.chars().count() > 200 {
        out = out.chars().take(200).collect::<String>() + "…";
    }
    out
}

#[async_trait::async_trait]
impl EmailTransport for SmtpEmail {
    async fn send_email(&self, idempotency_key: &str, email: &OutgoingEmail) -> Result<String, AdapterError> {
        let id = self.message_id_for(idempotency_key);
        let language = email.language.as_str();
        let result = match message::build(&self.from, &id, email, self.clock.now()) {
            Ok(message) => match tokio::time::timeout(self.config.send_timeout, self.deliver(message)).await {
                Ok(result) => result,
                Err(_) => Err(AdapterError::retryable(format!(
                    "smtp: no answer within {:?} (the message may or may not have been accepted)",
                    self.config.send_timeout
                ))),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                tracing::info!(effect = idempotency_key, message_id = %id, language, "email accepted by the SMTP server");
                Ok(id)
            }
            Err(e) => {
                tracing::warn!(effect = idempotency_key, retryable = e.retryable, error = %e.message, "email not sent");
                Err(e)
            }
        }
    }
}

/// Whether lettre accepts `address` as an SMTP address (what the adapter checks before
/// sending; an address it refuses is a permanent failure).
pub fn is_sendable(address: &str) -> bool {
    address.parse::<Address>().is_ok()
}
