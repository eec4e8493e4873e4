//! Opening the database named by `database.url` and starting the engine on it with the
//! configured adapters. Everything here is synchronous: call it outside the async
//! runtime (the PostgreSQL client blocks and must not run inside an async task).

use crate::config::{
    AdaptersConfig, Config, DatabaseConfig, DatabaseUrl, NetworkAdapterName, NotifierAdapterName, PaymentsAdapterName,
};
use crate::error::{Error, Result};
use lineout_adapters::fakes::{FakeNetwork, FakeNotifier, FakePayments};
use lineout_adapters::{RandomIds, SystemClock};
use lineout_app::ports::{Network, Notifier, Payments, Store};
use lineout_app::{Adapters, Engine};
use std::sync::Arc;

/// Opens (without migrating) the database named by the configuration.
pub fn open_store(db: &DatabaseConfig) -> Result<Arc<dyn Store>> {
    match DatabaseUrl::parse(&db.url).map_err(|m| Error::Usage(format!("database.url: {m}")))? {
        DatabaseUrl::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            Ok(Arc::new(lineout_store::SqliteStore::open(&path)?))
        }
        DatabaseUrl::Postgres(url) => Ok(Arc::new(lineout_store::PostgresStore::connect(&url, db.schema.as_deref())?)),
    }
}

/// The adapters the configuration names (only the fakes exist so far).
pub fn adapters(config: &AdaptersConfig) -> Result<Adapters> {
    let journal = |name: &str| -> Result<Option<std::path::PathBuf>> {
        let Some(dir) = &config.fake_journal_dir else { return Ok(None) };
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Some(std::path::Path::new(dir).join(name)))
    };
    let network: Arc<dyn Network> = match (config.network, journal("network.log")?) {
        (NetworkAdapterName::Fake, None) => Arc::new(FakeNetwork::default()),
        (NetworkAdapterName::Fake, Some(p)) => Arc::new(FakeNetwork::with_journal(&p).map_err(|e| Error::io(&p, e))?),
        (NetworkAdapterName::Real, _) => Arc::new(real_network(config)?),
    };
    let notifier: Arc<dyn Notifier> = match (config.notifier, journal("notifier.log")?) {
        (NotifierAdapterName::Fake, None) if config.fake_notifier_echo => Arc::new(FakeNotifier::default().echoing()),
        (NotifierAdapterName::Fake, None) => Arc::new(FakeNotifier::default()),
        (NotifierAdapterName::Fake, Some(p)) => {
            let fake = FakeNotifier::with_journal(&p).map_err(|e| Error::io(&p, e))?;
            Arc::new(if config.fake_notifier_echo { fake.echoing() } else { fake })
        }
        (NotifierAdapterName::Real, _) => Arc::new(real_notifier(config)?),
    };
    let payments: Arc<dyn Payments> = match (config.payments, journal("payments.log")?) {
        (PaymentsAdapterName::Fake, None) => Arc::new(FakePayments::default()),
        (PaymentsAdapterName::Fake, Some(p)) => Arc::new(FakePayments::with_journal(&p).map_err(|e| Error::io(&p, e))?),
        (PaymentsAdapterName::Http, _) => {
            let Some(section) = &config.payments_http else {
                return Err(Error::Usage("adapters.payments = \"http\" needs [adapters.payments_http]".into()));
            };
            let mut c = lineout_adapters::payments::PaymentsConfig::new(section.url.clone(), section.secret.clone());
            c.timeout = std::time::Duration::from_millis(section.timeout_ms);
            let clock: Arc<dyn lineout_app::ports::Clock> = Arc::new(SystemClock);
            Arc::new(
                lineout_adapters::payments::HttpPayments::new(c, clock)
                    .map_err(|e| Error::Usage(format!("adapters.{e}")))?,
            )
        }
    };
    let webhooks = if config.webhooks.is_empty() {
        None
    } else {
        let endpoints = config
            .webhooks
            .iter()
            .map(|w| {
                let mut e =
                    lineout_adapters::webhook::WebhookEndpoint::new(w.name.clone(), w.url.clone(), w.secret.clone());
                e.timeout = std::time::Duration::from_millis(w.timeout_ms);
                e
            })
            .collect();
        let clock: Arc<dyn lineout_app::ports::Clock> = Arc::new(SystemClock);
        let transport = lineout_adapters::webhook::HttpWebhooks::new(endpoints, clock)
            .map_err(|e| Error::Usage(format!("adapters.webhooks: {e}")))?;
        Some(Arc::new(transport) as Arc<dyn lineout_app::ports::WebhookTransport>)
    };
    Ok(Adapters { network, notifier, payments, webhooks })
}

/// The real notifier: email over SMTP and/or SMS over SMPP.
fn real_notifier(config: &AdaptersConfig) -> Result<lineout_adapters::messaging::MessagingNotifier> {
    use lineout_adapters::smtp::{SmtpConfig, SmtpEmail, SmtpSecurity};
    use std::time::Duration;
    let email = match &config.smtp {
        None => None,
        Some(s) => {
            let mut c = SmtpConfig::new(s.host.clone(), s.from.clone());
            c.security = SmtpSecurity::parse(&s.security)
                .ok_or_else(|| Error::Usage(format!("adapters.smtp.security: unknown '{}'", s.security)))?;
            c.port = if s.port == 0 { c.security.default_port() } else { s.port };
            c.allow_plain = s.allow_plain;
            c.username.clone_from(&s.username);
            c.password.clone_from(&s.password);
            c.connect_timeout = Duration::from_millis(s.connect_timeout_ms);
            c.send_timeout = Duration::from_millis(s.send_timeout_ms);
            let smtp = SmtpEmail::new(c).map_err(|e| Error::Usage(format!("adapters.{e}")))?;
            Some(Arc::new(smtp) as Arc<dyn lineout_app::ports::EmailTransport>)
        }
    };
    let sms = crate::serve::sms_transport(config)?;
    if email.is_none() && sms.is_none() {
        return Err(Error::Usage("adapters.notifier = \"real\" needs [adapters.smtp] and/or [adapters.smpp]".into()));
    }
    Ok(lineout_adapters::messaging::MessagingNotifier::new(email, sms))
}

/// The real network adapters the configuration names: osmo-hlr and/or an ES2+ SM-DP+.
fn real_network(config: &AdaptersConfig) -> Result<lineout_adapters::network::RealNetwork> {
    use lineout_adapters::es2plus::{Es2PlusConfig, Es2PlusMode, Es2PlusNetwork, FinalProfileStatus};
    use lineout_adapters::hlr::{OsmoHlrConfig, OsmoHlrNetwork};
    use std::time::Duration;
    let hlr = config.hlr.as_ref().map(|h| {
        let mut c = OsmoHlrConfig::new(h.address.clone());
        c.connect_timeout = Duration::from_millis(h.connect_timeout_ms);
        c.request_timeout = Duration::from_millis(h.request_timeout_ms);
        c.max_connections = h.max_connections;
        Box::new(OsmoHlrNetwork::new(c)) as Box<dyn Network>
    });
    let esim = match &config.es2plus {
        None => None,
        Some(e) => {
            let mut c = Es2PlusConfig::new(e.url.clone(), e.requester_id.clone());
            c.mode = Es2PlusMode::parse(&e.mode)
                .ok_or_else(|| Error::Usage(format!("adapters.es2plus.mode: unknown mode '{}'", e.mode)))?;
            c.final_profile_status = FinalProfileStatus::parse(&e.final_profile_status).ok_or_else(|| {
                Error::Usage(format!("adapters.es2plus.final_profile_status: unknown '{}'", e.final_profile_status))
            })?;
            c.require_https = e.require_https;
            c.request_timeout = Duration::from_millis(e.request_timeout_ms);
            let read = |path: &Option<String>| -> Result<Option<Vec<u8>>> {
                path.as_ref().map(|p| std::fs::read(p).map_err(|err| Error::io(p, err))).transpose()
            };
            c.root_ca_pem = read(&e.root_ca_file)?;
            c.client_identity_pem = read(&e.client_identity_file)?;
            let network = Es2PlusNetwork::new(c).map_err(|err| Error::Usage(format!("adapters.es2plus: {err}")))?;
            Some(Box::new(network) as Box<dyn Network>)
        }
    };
    if hlr.is_none() && esim.is_none() {
        return Err(Error::Usage("adapters.network = \"real\" needs [adapters.hlr] and/or [adapters.es2plus]".into()));
    }
    Ok(lineout_adapters::network::RealNetwork { hlr, esim })
}

/// Opens the database, creates or upgrades its schema, and starts the engine with the
/// system clock, random ids and the configured adapters.
pub fn start_engine(config: &Config) -> Result<Engine> {
    let store = open_store(&config.database)?;
    store.migrate()?;
    tracing::debug!(backend = store.backend(), "database ready");
    Ok(Engine::start(
        store,
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        adapters(&config.adapters)?,
        config.engine_config(),
    )?)
}

/// `lineout migrate`.
pub fn migrate(config: &Config) -> Result<()> {
    let store = open_store(&config.database)?;
    store.migrate()?;
    println!("{} database is up to date ({})", store.backend(), crate::config::mask_url(&config.database.url));
    Ok(())
}
