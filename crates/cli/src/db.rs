//! Opening the database named by `database.url` and starting the engine on it with the
//! configured adapters. Everything here is synchronous: call it outside the async
//! runtime (the PostgreSQL client blocks and must not run inside an async task).

use crate::config::{AdapterName, AdaptersConfig, Config, DatabaseConfig, DatabaseUrl};
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
        (AdapterName::Fake, None) => Arc::new(FakeNetwork::default()),
        (AdapterName::Fake, Some(p)) => Arc::new(FakeNetwork::with_journal(&p).map_err(|e| Error::io(&p, e))?),
    };
    let notifier: Arc<dyn Notifier> = match (config.notifier, journal("notifier.log")?) {
        (AdapterName::Fake, None) => Arc::new(FakeNotifier::default()),
        (AdapterName::Fake, Some(p)) => Arc::new(FakeNotifier::with_journal(&p).map_err(|e| Error::io(&p, e))?),
    };
    let payments: Arc<dyn Payments> = match (config.payments, journal("payments.log")?) {
        (AdapterName::Fake, None) => Arc::new(FakePayments::default()),
        (AdapterName::Fake, Some(p)) => Arc::new(FakePayments::with_journal(&p).map_err(|e| Error::io(&p, e))?),
    };
    Ok(Adapters { network, notifier, payments })
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
