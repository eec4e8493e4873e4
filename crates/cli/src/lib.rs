//! The `lineout` command line as a library: configuration loading, the database and
//! engine setup, and one module per subcommand, each callable (and tested) as plain
//! functions. `main.rs` only parses arguments and maps the outcome to an exit code.

pub mod account;
pub mod audit;
pub mod bench;
pub mod bulk;
pub mod cases;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod demo_data;
pub mod error;
pub mod import;
pub mod logging;
pub mod outbox;
pub mod records;
pub mod rnd;
pub mod rows;
pub mod serve;
pub mod staff;
pub mod token;

pub use error::{Error, Result};

use crate::cli::{AuditCommand, Cli, Command, ConfigCommand, ImportKind, TokenCommand};
use crate::config::{Config, DEMO_DATABASE_URL, EnvVars};
use std::path::PathBuf;

/// How a command that ran to the end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// It ran, but reported a failure (rejected rows, a broken audit chain): exit code 1.
    Failure,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => error::EXIT_FAILURE,
        }
    }
}

/// A multi-threaded async runtime for the commands that serve or talk to the engine's async API.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lineout")
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))
}

/// Runs `work` on a fresh runtime, then drops the runtime and only then the engine.
///
/// The engine must not be dropped on an async thread: closing a PostgreSQL connection
/// blocks (the sync client runs its own runtime), which panics inside another runtime.
/// So the caller's engine outlives every clone handed to async tasks.
pub fn block_on_engine<T>(
    engine: lineout_app::Engine,
    work: impl AsyncFnOnce(&lineout_app::Engine) -> Result<T>,
) -> Result<T> {
    let runtime = runtime()?;
    let result = runtime.block_on(work(&engine));
    drop(runtime);
    drop(engine);
    result
}

/// Loads the configuration for `cli` from `env`: the file (`--config` or `LINEOUT_CONFIG`),
/// the environment, then the command-line overrides, and validates the result.
pub fn load_config(cli: &Cli, env: &EnvVars) -> Result<Config> {
    let file: Option<PathBuf> = cli.config.clone();
    let mut config = Config::load_unvalidated(file.as_deref(), env).map_err(Error::Config)?;
    if let Some(url) = &cli.database {
        config.database.url.clone_from(url);
    }
    if let Command::Demo(_) = &cli.command {
        // The demo never writes into the configured (possibly production) database by accident.
        if cli.database.is_none() {
            config.database.url = DEMO_DATABASE_URL.to_owned();
            config.database.schema = None;
        }
    }
    match &cli.command {
        Command::Serve(args) => {
            if let Some(listen) = &args.listen {
                config.server.listen.clone_from(listen);
            }
        }
        Command::Demo(args) => {
            if let Some(listen) = &args.listen {
                config.server.listen.clone_from(listen);
            }
        }
        _ => {}
    }
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    config.validate().map_err(Error::Config)?;
    Ok(config)
}

/// Runs a parsed command line against the process environment.
pub fn run(cli: Cli) -> Result<Outcome> {
    let env = EnvVars::from_process();
    let config = load_config(&cli, &env)?;
    logging::init(&config.log);
    match cli.command {
        Command::Serve(_) => serve::command(&config).map(|()| Outcome::Success),
        Command::Migrate => db::migrate(&config).map(|()| Outcome::Success),
        Command::Import(args) => {
            // Refuse a missing file or unknown format before touching the database.
            import::format_of(&args.file, args.format)?;
            std::fs::metadata(&args.file).map_err(|e| Error::io(&args.file, e))?;
            let engine = db::start_engine(&config)?;
            let opts = import::Options {
                kind: match args.kind {
                    ImportKind::Accounts => rows::RecordKind::Accounts,
                    ImportKind::Lines => rows::RecordKind::Lines,
                    ImportKind::Devices => rows::RecordKind::Devices,
                    ImportKind::Ledger => rows::RecordKind::Ledger,
                },
                format: args.format,
                stop_on_error: args.stop_on_error,
                batch_size: args.batch_size as usize,
                progress: true,
                print_rejections: true,
            };
            import::command(&engine, &args.file, &opts)
        }
        Command::Outbox(cli::OutboxCommand::List { dead, pending, limit }) => {
            let status = match (dead, pending) {
                (true, _) => lineout_app::ports::OutboxStatus::Dead,
                (false, true) => lineout_app::ports::OutboxStatus::Pending,
                (false, false) => lineout_app::ports::OutboxStatus::Done,
            };
            outbox::list(db::start_engine(&config)?, status, limit).map(|()| Outcome::Success)
        }
        Command::Outbox(cli::OutboxCommand::Retry { id }) => {
            outbox::retry(db::start_engine(&config)?, id).map(|()| Outcome::Success)
        }
        Command::Numbers(cli::NumbersCommand::List { state, limit }) => {
            rnd::list_command(&db::start_engine(&config)?, state.as_deref(), limit).map(|()| Outcome::Success)
        }
        Command::Report(cli::ReportCommand::Rnd { month, company_id, out }) => {
            // Refuse bad arguments before touching the database.
            rnd::company_id(&company_id)?;
            rnd::window(&month)?;
            rnd::report_command(&db::start_engine(&config)?, &month, &company_id, out.as_deref())
                .map(|()| Outcome::Success)
        }
        Command::Bulk(cli::BulkCommand::Terminate(args)) => {
            std::fs::metadata(&args.file).map_err(|e| Error::io(&args.file, e))?;
            let engine = db::start_engine(&config)?;
            let opts = bulk::Options {
                progress: true,
                concurrency: args.concurrency as usize,
                stop_on_error: args.stop_on_error,
                print_rejections: true,
            };
            bulk::command(&engine, &args.file, &opts)
        }
        Command::Demo(args) => demo::command(&config, args.seed, args.accounts as usize).map(|()| Outcome::Success),
        Command::Case(cmd) => cases::command(db::start_engine(&config)?, cmd).map(|()| Outcome::Success),
        Command::Account(cmd) => account::command(db::start_engine(&config)?, cmd).map(|()| Outcome::Success),
        Command::Audit(AuditCommand::Verify) => audit::verify(&db::start_engine(&config)?),
        Command::Audit(AuditCommand::Export { case, out }) => {
            records::audit_export(&db::start_engine(&config)?, &case, out)
        }
        Command::Export(cmd) => records::export(db::start_engine(&config)?, cmd),
        Command::Privacy(cmd) => records::privacy(db::start_engine(&config)?, cmd),
        Command::LegalHold(cmd) => records::legal_hold(db::start_engine(&config)?, cmd),
        Command::Retention(cmd) => records::retention(db::start_engine(&config)?, cmd),
        Command::Staff(cli::StaffCommand::Create { username, name, role }) => {
            staff::command(db::start_engine(&config)?, username, name, role).map(|()| Outcome::Success)
        }
        Command::Token(TokenCommand::Create { scopes, label }) => {
            token::command(db::start_engine(&config)?, scopes, label).map(|()| Outcome::Success)
        }
        Command::Config(ConfigCommand::Check) => {
            let file = cli.config.as_ref().map_or_else(|| "no file".to_owned(), |p| p.display().to_string());
            let vars = env.names();
            let vars = if vars.is_empty() { "no LINEOUT_ variables".to_owned() } else { vars.join(", ") };
            println!("configuration is valid (defaults < {file} < {vars})");
            for name in env.ignored() {
                println!("note: {name} is not a configuration variable (they are LINEOUT_<SECTION>__<KEY>); ignored");
            }
            Ok(Outcome::Success)
        }
        Command::Bench(args) => bench::command(&config, cli.config.as_deref(), cli.database.as_deref(), &args),
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.to_masked_toml());
            Ok(Outcome::Success)
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers for the crate's tests: a fresh SQLite database per test.

    use crate::config::Config;
    use lineout_app::Engine;

    /// A temporary directory and the URL of a database file inside it.
    pub fn temp_db() -> std::io::Result<(tempfile::TempDir, String)> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("data/test.db").display());
        Ok((dir, url))
    }

    /// A migrated engine on `url` with the default configuration.
    pub fn engine_on(url: &str) -> crate::Result<Engine> {
        let mut config = Config::default();
        config.database.url = url.to_owned();
        crate::db::start_engine(&config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Cli {
        match Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn flags_override_the_configuration() -> Result<()> {
        let cli = parse(&[
            "lineout",
            "--database",
            "sqlite://x/y.db",
            "--log-format",
            "json",
            "serve",
            "--listen",
            "0.0.0.0:1",
        ]);
        let config = load_config(&cli, &EnvVars::from_pairs([("LINEOUT_DATABASE__URL", "sqlite://env.db")]))?;
        assert_eq!(config.database.url, "sqlite://x/y.db");
        assert_eq!(config.server.listen, "0.0.0.0:1");
        assert_eq!(config.log.format, config::LogFormat::Json);
        Ok(())
    }

    #[test]
    fn the_demo_uses_its_own_database_unless_told_otherwise() -> Result<()> {
        let env = EnvVars::from_pairs([("LINEOUT_DATABASE__URL", "postgres://prod/db")]);
        let config = load_config(&parse(&["lineout", "demo"]), &env)?;
        assert_eq!(config.database.url, DEMO_DATABASE_URL);
        let config = load_config(&parse(&["lineout", "demo", "--database", "sqlite://d.db"]), &env)?;
        assert_eq!(config.database.url, "sqlite://d.db");
        Ok(())
    }

    #[test]
    fn a_bad_override_is_reported_with_its_key_and_exit_code_2() {
        let cli = parse(&["lineout", "serve", "--listen", "nowhere"]);
        let err = load_config(&cli, &EnvVars::default()).err();
        assert!(matches!(&err, Some(Error::Config(p)) if p[0].key == "server.listen"), "{err:?}");
        assert_eq!(err.map(|e| e.exit_code()), Some(2));
    }
}
