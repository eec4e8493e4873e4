//! The configuration: every key with its default, loaded in layers (defaults < TOML file
//! < `LINEOUT_…` environment variables) and validated so that startup fails with one
//! clear line per bad key.
//!
//! Environment variables use `__` for nesting: `LINEOUT_POLICY__REVIEW_SLA_HOURS=48`
//! sets `policy.review_sla_hours`. `LINEOUT_CONFIG` names the file and is not a key.

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use lineout_app::EngineConfig;
use lineout_app::writer::WriterConfig;
use lineout_domain::Policy;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "LINEOUT_";
/// The variable naming the configuration file (an alternative to `--config`).
pub const ENV_CONFIG_FILE: &str = "LINEOUT_CONFIG";
/// The database `lineout demo` uses unless `--database` names another.
pub const DEMO_DATABASE_URL: &str = "sqlite://lineout-data/demo.db";

/// Everything `lineout` can be configured with. Field names are the config keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub adapters: AdaptersConfig,
    pub ivr: IvrSection,
    pub engine: EngineLimits,
    pub log: LogConfig,
    pub policy: Policy,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (relative or absolute; parent directories are created)
    /// or `postgres://user:password@host:port/dbname`.
    pub url: String,
    /// PostgreSQL schema to use (created by `migrate`); unset means the default search path.
    pub schema: Option<String>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "sqlite://lineout-data/lineout.db".into(), schema: None }
    }
}

/// The HTTP server and the background worker.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// How long the worker sleeps when it found no due timer and no outbox row.
    pub worker_interval_ms: u64,
    /// Worker loops running at once; each fires timers and delivers outbox rows, and
    /// leases keep them from taking the same row. More loops overlap adapter calls.
    pub workers: u32,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// A TrueType CJK font for Chinese PDF statements (Debian: fonts-wqy-microhei).
    pub cjk_font_path: String,
    /// The staff console's sessions and sign-in throttle.
    pub console: ConsoleSection,
    /// The key of the keyed hashes (HMAC-SHA256) of one-time codes and client addresses,
    /// 32-256 characters (never printed). Empty: a random key per process, so codes sent
    /// before a restart no longer verify; set it when several processes share a database.
    pub verification_key: String,
    /// The header a trusted reverse proxy puts the client address in (its last entry
    /// counts), e.g. `x-forwarded-for`; empty: the TCP peer address.
    pub client_address_header: String,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The verification key is never printed.
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("worker_interval_ms", &self.worker_interval_ms)
            .field("workers", &self.workers)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("cjk_font_path", &self.cjk_font_path)
            .field("client_address_header", &self.client_address_header)
            .finish_non_exhaustive()
    }
}

/// The staff console (`/console`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSection {
    /// How long a staff session lasts from sign-in (5-1440 minutes).
    pub session_minutes: i64,
    /// Mark session cookies `Secure` (browsers still accept them from http://localhost).
    pub secure_cookies: bool,
    /// Failed sign-ins per username or client address before a pause (1-100).
    pub max_failed_sign_ins: u32,
    /// How long that pause lasts (1-1440 minutes).
    pub sign_in_pause_minutes: i64,
}

impl Default for ConsoleSection {
    fn default() -> Self {
        let d = lineout_web::console::ConsoleConfig::default();
        Self {
            session_minutes: d.session_minutes,
            secure_cookies: d.secure_cookies,
            max_failed_sign_ins: d.max_failed_sign_ins,
            sign_in_pause_minutes: d.sign_in_pause_minutes,
        }
    }
}

impl ConsoleSection {
    pub fn to_web(self) -> lineout_web::console::ConsoleConfig {
        lineout_web::console::ConsoleConfig {
            session_minutes: self.session_minutes,
            secure_cookies: self.secure_cookies,
            max_failed_sign_ins: self.max_failed_sign_ins,
            sign_in_pause_minutes: self.sign_in_pause_minutes,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            worker_interval_ms: 200,
            workers: 2,
            body_limit_bytes: 1024 * 1024,
            cjk_font_path: "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc".into(),
            console: ConsoleSection::default(),
            verification_key: String::new(),
            client_address_header: String::new(),
        }
    }
}

/// Which network adapter deprovisions lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NetworkAdapterName {
    /// In memory: nothing leaves the process (demo, tests).
    #[default]
    Fake,
    /// The real network: osmo-hlr (`[adapters.hlr]`) for SIM lines and a GSMA ES2+ SM-DP+
    /// (`[adapters.es2plus]`) for eSIM lines; each only when its section is set.
    Real,
}

/// The osmo-hlr CTRL interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlrConfig {
    /// `host:port` of osmo-hlr's CTRL interface.
    pub address: String,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Connections open at once at most.
    pub max_connections: usize,
}

impl Default for HlrConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:4259".into(),
            connect_timeout_ms: 3_000,
            request_timeout_ms: 5_000,
            max_connections: 4,
        }
    }
}

/// The operator's SM-DP+ (GSMA SGP.22 ES2+).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Es2PlusSection {
    /// Base URL, e.g. `https://smdp.example.com` (functions are under `/gsma/rsp2/es2plus/`).
    pub url: String,
    /// Our `functionRequesterIdentifier` as registered with the SM-DP+.
    pub requester_id: String,
    /// `cancel_order` or `cancel_order_then_release`.
    pub mode: String,
    /// `unavailable` (default: the profile is never reused) or `available`.
    pub final_profile_status: String,
    /// Refuse plain http (keep true outside tests).
    pub require_https: bool,
    /// PEM file of the CA that signs the SM-DP+'s certificate (optional).
    pub root_ca_file: Option<String>,
    /// PEM file with our client certificate and key for mutual TLS (optional).
    pub client_identity_file: Option<String>,
    pub request_timeout_ms: u64,
}

impl Default for Es2PlusSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            requester_id: String::new(),
            mode: "cancel_order".into(),
            final_profile_status: "unavailable".into(),
            require_https: true,
            root_ca_file: None,
            client_identity_file: None,
            request_timeout_ms: 20_000,
        }
    }
}

/// The hotline: a FastAGI server for Asterisk (`AGI(agi://HOST:4573/hotline)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IvrSection {
    /// Serve the hotline in `lineout serve`.
    pub enabled: bool,
    /// Address and port of the FastAGI server.
    pub listen: String,
    /// Calls served at once at most; more are told the line is busy.
    pub max_calls: usize,
    /// Seconds to wait for each line from Asterisk.
    pub line_timeout_secs: u64,
    /// Seconds a whole call may last.
    pub call_timeout_secs: u64,
    /// Seconds a caller has to key digits after a prompt.
    pub input_timeout_secs: u64,
    /// Re-prompts after invalid or missing input before transferring or hanging up.
    pub max_retries: u32,
    /// The `Dial` target of the agent queue (e.g. `PJSIP/agents`); unset: goodbye instead.
    pub agent_dial: Option<String>,
    /// The sound files' folder (prompts are `<prompts_dir>/<en|zh>/<name>`; see docs/ivr-prompts.md).
    pub prompts_dir: String,
}

impl Default for IvrSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:4573".into(),
            max_calls: 64,
            line_timeout_secs: 60,
            call_timeout_secs: 1_200,
            input_timeout_secs: 6,
            max_retries: 3,
            agent_dial: None,
            prompts_dir: "lineout".into(),
        }
    }
}

impl IvrSection {
    /// The FastAGI server's settings.
    pub fn server_config(&self) -> lineout_ivr::IvrConfig {
        lineout_ivr::IvrConfig {
            max_calls: self.max_calls,
            line_timeout: std::time::Duration::from_secs(self.line_timeout_secs),
            call_timeout: std::time::Duration::from_secs(self.call_timeout_secs),
            input_timeout: std::time::Duration::from_secs(self.input_timeout_secs),
            max_retries: self.max_retries,
            agent_dial: self.agent_dial.clone(),
            prompts_dir: self.prompts_dir.clone(),
            ..lineout_ivr::IvrConfig::default()
        }
    }
}

/// Which payment system issues refunds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PaymentsAdapterName {
    /// In memory: nothing leaves the process (demo, tests).
    #[default]
    Fake,
    /// The operator's payment service over HTTP (`[adapters.payments_http]`).
    Http,
}

/// The operator's payment service, for refunds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsHttpSection {
    /// Base URL; refunds are POSTed to `{url}/refunds` (https, or http to loopback).
    pub url: String,
    /// The HMAC signing secret, 32-512 characters (never printed).
    pub secret: String,
    pub timeout_ms: u64,
}

impl Default for PaymentsHttpSection {
    fn default() -> Self {
        Self { url: String::new(), secret: String::new(), timeout_ms: 20_000 }
    }
}

impl std::fmt::Debug for PaymentsHttpSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentsHttpSection").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Which notifier sends customer messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NotifierAdapterName {
    /// In memory: nothing leaves the process (demo, tests).
    #[default]
    Fake,
    /// Email over SMTP (`[adapters.smtp]`) and SMS over SMPP (`[adapters.smpp]`), each when set.
    Real,
}

/// The SMTP server for email.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    /// 0 = the security mode's default (25 plain, 587 STARTTLS, 465 TLS).
    pub port: u16,
    /// `starttls`, `tls` or `plain` (plain only to loopback unless allow_plain).
    pub security: String,
    pub allow_plain: bool,
    pub username: Option<String>,
    /// Never printed.
    pub password: Option<String>,
    /// The sender, e.g. `"Operator <no-reply@example.com>"`.
    pub from: String,
    pub connect_timeout_ms: u64,
    pub send_timeout_ms: u64,
}

impl Default for SmtpSection {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 0,
            security: "starttls".into(),
            allow_plain: false,
            username: None,
            password: None,
            from: String::new(),
            connect_timeout_ms: 10_000,
            send_timeout_ms: 60_000,
        }
    }
}

impl std::fmt::Debug for SmtpSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSection").field("host", &self.host).field("port", &self.port).finish_non_exhaustive()
    }
}

/// The SMSC for SMS (SMPP 3.4).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmppSection {
    /// `host:port` of the SMSC.
    pub address: String,
    pub system_id: String,
    /// Never printed.
    pub password: String,
    pub system_type: String,
    /// `transceiver` (submit and receive delivery receipts) or `transmitter`.
    pub bind: String,
    /// The sender shown to customers (a short code or a number).
    pub source_addr: String,
    pub enquire_link_interval_ms: u64,
    pub response_timeout_ms: u64,
}

impl Default for SmppSection {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:2775".into(),
            system_id: String::new(),
            password: String::new(),
            system_type: String::new(),
            bind: "transceiver".into(),
            source_addr: String::new(),
            enquire_link_interval_ms: 30_000,
            response_timeout_ms: 10_000,
        }
    }
}

impl std::fmt::Debug for SmppSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppSection")
            .field("address", &self.address)
            .field("system_id", &self.system_id)
            .finish_non_exhaustive()
    }
}

/// A webhook endpoint: every case event is POSTed to it, signed with its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// A short name (letters, digits, '-', '_'); it appears in outbox ids.
    pub name: String,
    pub url: String,
    /// The signing secret (never printed).
    pub secret: String,
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_webhook_timeout_ms() -> u64 {
    10_000
}

impl std::fmt::Debug for WebhookSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSection").field("name", &self.name).field("url", &self.url).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptersConfig {
    /// HLR/HSS and SM-DP+ deprovisioning: `fake` or `real`.
    pub network: NetworkAdapterName,
    /// osmo-hlr, used by `network = "real"` when set.
    pub hlr: Option<HlrConfig>,
    /// The SM-DP+, used by `network = "real"` when set.
    pub es2plus: Option<Es2PlusSection>,
    /// Endpoints that receive every case event as a signed CloudEvent.
    pub webhooks: Vec<WebhookSection>,
    /// Email, used by `notifier = "real"` when set.
    pub smtp: Option<SmtpSection>,
    /// SMS, used by `notifier = "real"` when set.
    pub smpp: Option<SmppSection>,
    /// The payment service, used by `payments = "http"`.
    pub payments_http: Option<PaymentsHttpSection>,
    /// The CloudEvents `source` of this installation.
    pub webhook_source: String,
    /// SMS and email to customers: `fake` or `real`.
    pub notifier: NotifierAdapterName,
    /// Refunds: `fake` or `http`.
    pub payments: PaymentsAdapterName,
    /// Fakes only: a directory where each fake appends the effects it applied
    /// (network.log, notifier.log, payments.log) and remembers them across restarts.
    pub fake_journal_dir: Option<String>,
    /// Fakes only: print each message the fake notifier "sends" to standard output (the
    /// demo turns it on so its sign-in and confirmation codes can be read).
    pub fake_notifier_echo: bool,
}

impl Default for AdaptersConfig {
    fn default() -> Self {
        Self {
            network: NetworkAdapterName::default(),
            hlr: None,
            es2plus: None,
            webhooks: Vec::new(),
            webhook_source: "/lineout".into(),
            smtp: None,
            smpp: None,
            payments_http: None,
            notifier: NotifierAdapterName::default(),
            payments: PaymentsAdapterName::default(),
            fake_journal_dir: None,
            fake_notifier_echo: false,
        }
    }
}

/// Engine limits; every queue, batch and page is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineLimits {
    /// Reader connections at most.
    pub readers: usize,
    /// How long a worker's claim on a timer or outbox row lasts.
    pub lease_ms: i64,
    /// Timers fired per worker step.
    pub timer_batch: u32,
    /// Outbox rows delivered per worker step (also the adapter concurrency).
    pub outbox_batch: u32,
    /// Largest page of a list.
    pub max_page: u32,
    /// Write jobs waiting for the writer before callers are made to wait.
    pub writer_queue_capacity: usize,
    /// Most write jobs committed in one transaction.
    pub writer_max_batch: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        let engine = EngineConfig::default();
        Self {
            readers: engine.readers,
            lease_ms: engine.lease_ms,
            timer_batch: engine.timer_batch,
            outbox_batch: engine.outbox_batch,
            max_page: engine.max_page,
            writer_queue_capacity: engine.writer.queue_capacity,
            writer_max_batch: engine.writer.max_batch,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter: `info`, `warn`, or directives such as `info,lineout_app=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

/// One problem with the configuration, naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key (`policy.review_sla_hours`), or the file / variable when no key applies.
    pub key: String,
    pub message: String,
}

impl Problem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Where the configuration came from, for `config check`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    /// Names of the `LINEOUT_…` variables that set keys.
    pub env: Vec<String>,
}

/// The environment variables that configure lineout, as a figment provider. Built from
/// the process environment in production and from explicit pairs in tests (so tests
/// never race on the process environment).
///
/// Every key lives in a section, so a configuration variable always has a `__`
/// (`LINEOUT_SERVER__LISTEN`). Other `LINEOUT_…` variables (`LINEOUT_CONFIG`, or ones
/// other tools use, such as `LINEOUT_TEST_POSTGRES_URL`) are not keys: they are set
/// aside and listed by `lineout config check`, never an error.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    vars: Vec<(String, String)>,
    ignored: Vec<String>,
}

impl EnvVars {
    /// The `LINEOUT_…` variables of this process.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }

    /// Keeps the pairs named `LINEOUT_<SECTION>__<KEY>`; sets other `LINEOUT_…` names aside.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut env = Self::default();
        for (k, v) in pairs {
            let (k, v) = (k.into(), v.into());
            match k.strip_prefix(ENV_PREFIX) {
                Some(rest) if rest.contains("__") => env.vars.push((k, v)),
                Some(_) if k != ENV_CONFIG_FILE => env.ignored.push(k),
                _ => {}
            }
        }
        env.vars.sort();
        env.ignored.sort();
        env
    }

    /// `LINEOUT_…` variables that are not configuration keys (no `__`).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    pub fn names(&self) -> Vec<String> {
        self.vars.iter().map(|(k, _)| k.clone()).collect()
    }

    /// `policy.review_sla_hours` → `LINEOUT_POLICY__REVIEW_SLA_HOURS`.
    pub fn var_name(key: &str) -> String {
        format!("{ENV_PREFIX}{}", key.replace('.', "__").to_ascii_uppercase())
    }

    fn key_of(name: &str) -> Option<String> {
        let rest = name.strip_prefix(ENV_PREFIX)?;
        let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if parts.iter().any(|p| p.is_empty() || p.contains('.')) {
            return None;
        }
        Some(parts.join("."))
    }
}

const ENV_SOURCE: &str = "environment";

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE).interpolater(|_: &Profile, keys: &[&str]| EnvVars::var_name(&keys.join(".")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (name, raw) in &self.vars {
            let key = Self::key_of(name).ok_or_else(|| {
                figment::Error::from(format!(
                    "environment variable {name}: not a config key (use `__` between sections, e.g. LINEOUT_DATABASE__URL)"
                ))
            })?;
            let value: Value = match raw.parse() {
                Ok(v) => v,
                Err(never) => match never {},
            };
            if let Value::Dict(_, nested) = figment::util::nest(&key, value) {
                merge_dicts(&mut dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Merges `from` into `into`, recursing into tables; later values win.
fn merge_dicts(into: &mut Dict, from: Dict) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, incoming)) => merge_dicts(existing, incoming),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Loads defaults < `file` < `env`, then validates. Every problem names its key.
    pub fn load(file: Option<&Path>, env: &EnvVars) -> Result<Config, Vec<Problem>> {
        let config = Self::load_unvalidated(file, env)?;
        config.validate()?;
        Ok(config)
    }

    /// Loads the layers without validating values (still refuses unknown keys and wrong types).
    pub fn load_unvalidated(file: Option<&Path>, env: &EnvVars) -> Result<Config, Vec<Problem>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(vec![Problem::new(path.display().to_string(), "configuration file not found")]);
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(env.clone()).extract::<Config>().map_err(figment_problems)
    }

    /// Checks every value; returns all problems, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(Problem::new(key, message));
            }
        };
        match DatabaseUrl::parse(&self.database.url) {
            Ok(DatabaseUrl::Sqlite(_)) => {
                check(self.database.schema.is_none(), "database.schema", "applies only to PostgreSQL; remove it");
            }
            Ok(DatabaseUrl::Postgres(_)) => {}
            Err(message) => check(false, "database.url", &message),
        }
        if let Some(schema) = &self.database.schema {
            check(
                valid_schema_name(schema),
                "database.schema",
                "must be 1-63 lower-case letters, digits or '_', starting with a letter or '_'",
            );
        }
        check(
            self.server.listen.parse::<std::net::SocketAddr>().is_ok(),
            "server.listen",
            "must be an IP address and port, e.g. 127.0.0.1:8080 or [::]:8080",
        );
        check((1..=60_000).contains(&self.server.worker_interval_ms), "server.worker_interval_ms", "must be 1-60000");
        check((1..=64).contains(&self.server.workers), "server.workers", "must be 1-64");
        let console = &self.server.console;
        check((5..=1440).contains(&console.session_minutes), "server.console.session_minutes", "must be 5-1440");
        check((1..=100).contains(&console.max_failed_sign_ins), "server.console.max_failed_sign_ins", "must be 1-100");
        check(
            (1..=1440).contains(&console.sign_in_pause_minutes),
            "server.console.sign_in_pause_minutes",
            "must be 1-1440",
        );
        check(
            (1024..=64 * 1024 * 1024).contains(&self.server.body_limit_bytes),
            "server.body_limit_bytes",
            "must be 1024-67108864",
        );
        let key = self.server.verification_key.chars().count();
        check(key == 0 || (32..=256).contains(&key), "server.verification_key", "must be empty or 32-256 characters");
        let header = &self.server.client_address_header;
        check(
            header.len() <= 64 && header.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "server.client_address_header",
            "must be empty or a lower-case header name of at most 64 characters, e.g. x-forwarded-for",
        );
        let e = &self.engine;
        check((1..=256).contains(&e.readers), "engine.readers", "must be 1-256");
        check((1_000..=3_600_000).contains(&e.lease_ms), "engine.lease_ms", "must be 1000-3600000");
        check((1..=10_000).contains(&e.timer_batch), "engine.timer_batch", "must be 1-10000");
        check((1..=10_000).contains(&e.outbox_batch), "engine.outbox_batch", "must be 1-10000");
        check((1..=10_000).contains(&e.max_page), "engine.max_page", "must be 1-10000");
        check((1..=1_000_000).contains(&e.writer_queue_capacity), "engine.writer_queue_capacity", "must be 1-1000000");
        check((1..=100_000).contains(&e.writer_max_batch), "engine.writer_max_batch", "must be 1-100000");
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            problems.push(Problem::new("log.level", format!("not a valid filter ({err}); use e.g. info or warn")));
        }
        if let Err(e) = self.ivr.server_config().validate() {
            problems.push(Problem::new("ivr", e.to_string()));
        }
        if let Err(policy_problems) = self.policy.validate() {
            problems.extend(policy_problems.into_iter().map(|p| Problem::new(format!("policy.{}", p.key), p.message)));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// The engine's settings from this configuration.
    pub fn engine_config(&self) -> EngineConfig {
        let e = &self.engine;
        EngineConfig {
            policy: self.policy.clone(),
            writer: WriterConfig { queue_capacity: e.writer_queue_capacity, max_batch: e.writer_max_batch },
            readers: e.readers,
            lease_ms: e.lease_ms,
            timer_batch: e.timer_batch,
            outbox_batch: e.outbox_batch,
            max_page: e.max_page,
            webhook_endpoints: self.adapters.webhooks.iter().map(|w| w.name.clone()).collect(),
            webhook_source: self.adapters.webhook_source.clone(),
            verification_key: self.server.verification_key.clone(),
            client_address_header: self.server.client_address_header.clone(),
        }
    }

    /// The effective configuration as TOML, with the database password masked.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = mask_url(&shown.database.url);
        if !shown.server.verification_key.is_empty() {
            shown.server.verification_key = "********".into();
        }
        match serde_json::to_value(&shown) {
            Ok(value) => toml_text::render(&value),
            Err(e) => format!("# cannot render the configuration: {e}\n"),
        }
    }
}

fn valid_schema_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok && s.len() <= 63 && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Turns figment's errors into problems naming the key and where the value came from.
fn figment_problems(error: figment::Error) -> Vec<Problem> {
    error
        .into_iter()
        .map(|e| {
            let mut path = e.path.clone();
            let message = match &e.kind {
                figment::error::Kind::UnknownField(field, expected) => {
                    if path.last() != Some(field) {
                        path.push(field.clone());
                    }
                    format!("unknown key (expected one of: {})", expected.join(", "))
                }
                figment::error::Kind::UnknownVariant(found, expected) => {
                    format!("unknown value '{found}' (expected one of: {})", expected.join(", "))
                }
                other => other.to_string(),
            };
            let key = path.join(".");
            let source = match &e.metadata {
                Some(md) if md.name == ENV_SOURCE => format!(" (from {})", EnvVars::var_name(&key)),
                Some(md) => match md.source.as_ref().and_then(|s| s.file_path()) {
                    Some(file) => format!(" (in {})", file.display()),
                    None => String::new(),
                },
                None => String::new(),
            };
            let key = if key.is_empty() { "config".to_owned() } else { key };
            Problem::new(key, format!("{message}{source}"))
        })
        .collect()
}

/// A parsed `database.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// The SQLite file.
    Sqlite(PathBuf),
    /// The PostgreSQL connection URL as given.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://lineout-data/lineout.db".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        Err("must start with sqlite:// or postgres://".into())
    }
}

/// Replaces the password in a database URL (userinfo or `password=` parameter) with `****`.
pub fn mask_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "****");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{base}{}", masked.join("&"));
    }
    out
}

/// A small TOML writer for `config show` (the configuration is tables of scalars,
/// arrays of scalars and arrays of tables).
mod toml_text {
    use serde_json::Value;

    pub fn render(root: &Value) -> String {
        let mut out = String::new();
        if let Value::Object(map) = root {
            table(&mut out, "", map);
        }
        out
    }

    fn table(out: &mut String, prefix: &str, map: &serde_json::Map<String, Value>) {
        for (k, v) in map {
            match v {
                Value::Object(_) => {}
                Value::Array(items) if items.iter().any(Value::is_object) => {}
                Value::Null => out.push_str(&format!("# {k} is unset\n")),
                other => out.push_str(&format!("{k} = {}\n", scalar(other))),
            }
        }
        for (k, v) in map {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                Value::Object(inner) => {
                    out.push_str(&format!("\n[{path}]\n"));
                    table(out, &path, inner);
                }
                Value::Array(items) if items.iter().any(Value::is_object) => {
                    for item in items {
                        out.push_str(&format!("\n[[{path}]]\n"));
                        if let Value::Object(inner) = item {
                            table(out, &path, inner);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn scalar(v: &Value) -> String {
        match v {
            Value::Array(items) => format!("[{}]", items.iter().map(scalar).collect::<Vec<_>>().join(", ")),
            // JSON string escapes are valid TOML basic-string escapes.
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvVars {
        EnvVars::from_pairs(pairs.iter().map(|(k, v)| (*k, *v)))
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("lineout.toml");
        std::fs::write(&path, text).ok();
        path
    }

    fn keys(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn defaults_load_and_are_valid() {
        let config = Config::load(None, &EnvVars::default());
        assert_eq!(config, Ok(Config::default()));
    }

    #[test]
    fn layers_apply_in_order_defaults_file_env() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = write(
            &dir,
            "[policy]\nreview_sla_hours = 24\nwrite_off_max_cents = 100\n[server]\nlisten = \"0.0.0.0:9000\"\n",
        );
        let vars = env(&[
            ("LINEOUT_POLICY__REVIEW_SLA_HOURS", "48"),
            ("LINEOUT_DATABASE__URL", "postgres://lineout:secret@db:5432/lineout"),
            ("LINEOUT_CONFIG", "ignored.toml"),
            ("OTHER_VAR", "ignored"),
        ]);
        let config = Config::load(Some(&file), &vars).map_err(|p| format!("{p:?}"))?;
        // The environment beats the file, the file beats the defaults, untouched keys keep defaults.
        assert_eq!(config.policy.review_sla_hours, 48);
        assert_eq!(config.policy.write_off_max_cents, 100);
        assert_eq!(config.server.listen, "0.0.0.0:9000");
        assert_eq!(config.database.url, "postgres://lineout:secret@db:5432/lineout");
        assert_eq!(config.server.worker_interval_ms, 200);
        assert_eq!(config.policy.number_aging, Policy::default().number_aging);
        Ok(())
    }

    #[test]
    fn nested_tables_and_arrays_of_tables_load_from_the_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = write(
            &dir,
            "[policy.auto_approve]\nchannels = [\"web\", \"ivr\"]\n\n[[policy.fees.restocking]]\nbelow_cents = 50000\nfee_cents = 1000\n\n[[policy.fees.restocking]]\nfee_cents = 3000\n",
        );
        let config = Config::load(Some(&file), &EnvVars::default()).map_err(|p| format!("{p:?}"))?;
        assert_eq!(config.policy.auto_approve.channels.len(), 2);
        assert_eq!(config.policy.fees.restocking.len(), 2);
        assert_eq!(config.policy.fees.restocking[1].below_cents, None);
        Ok(())
    }

    #[test]
    fn bad_values_are_reported_with_their_keys() {
        let vars = env(&[
            ("LINEOUT_POLICY__NUMBER_AGING__RESIDENTIAL_DAYS", "30"),
            ("LINEOUT_SERVER__LISTEN", "nowhere"),
            ("LINEOUT_DATABASE__URL", "mysql://x"),
            ("LINEOUT_LOG__LEVEL", "info,=bad=x"),
        ]);
        let problems = Config::load(None, &vars).err().unwrap_or_default();
        assert_eq!(
            keys(&problems),
            ["database.url", "server.listen", "log.level", "policy.number_aging.residential_days"]
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = write(&dir, "[policy]\nreview_sla_hourz = 5\n");
        let problems = Config::load(Some(&file), &EnvVars::default()).err().unwrap_or_default();
        assert_eq!(keys(&problems), ["policy.review_sla_hourz"]);
        assert!(problems[0].message.contains("unknown key"), "{}", problems[0]);
        assert!(problems[0].message.contains("lineout.toml"), "{}", problems[0]);

        let problems = Config::load(None, &env(&[("LINEOUT_SERVER__PORT", "1")])).err().unwrap_or_default();
        assert_eq!(keys(&problems), ["server.port"]);
        assert!(problems[0].message.contains("LINEOUT_SERVER__PORT"), "{}", problems[0]);

        let problems =
            Config::load(None, &env(&[("LINEOUT_POLICY__AUTO_APPROVE__ENABLD", "true")])).err().unwrap_or_default();
        assert_eq!(keys(&problems), ["policy.auto_approve.enabld"]);
        Ok(())
    }

    #[test]
    fn lineout_variables_that_are_not_keys_are_set_aside() {
        let vars = env(&[
            ("LINEOUT_DATABASE_URL", "x"),
            ("LINEOUT_TEST_POSTGRES_URL", "postgres://x"),
            ("LINEOUT_CONFIG", "a.toml"),
            ("LINEOUT_LOG__LEVEL", "warn"),
        ]);
        assert_eq!(vars.ignored(), ["LINEOUT_DATABASE_URL", "LINEOUT_TEST_POSTGRES_URL"]);
        assert_eq!(vars.names(), ["LINEOUT_LOG__LEVEL"]);
        assert_eq!(Config::load(None, &vars).map(|c| c.log.level), Ok("warn".to_owned()));
    }

    #[test]
    fn wrong_types_and_unknown_adapters_name_the_key() {
        let problems =
            Config::load(None, &env(&[("LINEOUT_POLICY__REVIEW_SLA_HOURS", "soon")])).err().unwrap_or_default();
        assert_eq!(keys(&problems), ["policy.review_sla_hours"]);
        let problems = Config::load(None, &env(&[("LINEOUT_ADAPTERS__NOTIFIER", "smtp")])).err().unwrap_or_default();
        assert_eq!(keys(&problems), ["adapters.notifier"]);
        assert!(problems[0].message.contains("fake"), "{}", problems[0]);
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let problems =
            Config::load(Some(Path::new("/nonexistent/lineout.toml")), &EnvVars::default()).err().unwrap_or_default();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("not found"));
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(mask_url("postgres://lineout:s3cret@db:5432/x"), "postgres://lineout:****@db:5432/x");
        assert_eq!(mask_url("postgres://db/x?user=a&password=s3cret"), "postgres://db/x?user=a&password=****");
        assert_eq!(mask_url("postgres://lineout@db/x"), "postgres://lineout@db/x");
        assert_eq!(mask_url("sqlite://a/b.db"), "sqlite://a/b.db");
        let mut config = Config::default();
        config.database.url = "postgres://u:topsecret@h/d".into();
        let shown = config.to_masked_toml();
        assert!(!shown.contains("topsecret"));
        assert!(shown.contains("postgres://u:****@h/d"));
    }

    #[test]
    fn shown_config_reads_back_as_the_same_config() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::default();
        config.policy.review_sla_hours = 12;
        let file = write(&dir, &config.to_masked_toml());
        assert_eq!(Config::load(Some(&file), &EnvVars::default()), Ok(config));
        Ok(())
    }

    /// Collects the dotted paths of every leaf value.
    fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    leaves(&p, v, out);
                }
            }
            serde_json::Value::Array(items) if items.iter().any(serde_json::Value::is_object) => {
                for item in items {
                    leaves(prefix, item, out);
                }
            }
            serde_json::Value::Null => {}
            _ => out.push(prefix.to_owned()),
        }
    }

    #[test]
    fn the_example_file_documents_every_key_with_its_default() -> Result<(), Box<dyn std::error::Error>> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lineout.example.toml");
        let loaded = Config::load(Some(&path), &EnvVars::default()).map_err(|p| format!("{p:?}"))?;
        assert_eq!(loaded, Config::default(), "the example must show the defaults");
        let text = std::fs::read_to_string(&path)?;
        let mut expected = Vec::new();
        leaves("", &serde_json::to_value(Config::default())?, &mut expected);
        for key in expected {
            let last = key.rsplit('.').next().unwrap_or(&key);
            assert!(text.contains(&format!("{last} =")), "{key} is not in lineout.example.toml");
        }
        assert!(text.contains("schema ="), "database.schema is not documented");
        Ok(())
    }
}
