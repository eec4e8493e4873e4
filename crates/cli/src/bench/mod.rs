//! `lineout bench`: measures this machine's throughput, latency and memory with
//! lineout's own workloads, and prints (and optionally writes as JSON) the figures next
//! to the targets. Figures, not pass/fail: nothing here fails because a target is missed.
//!
//! Workloads (see BENCHMARKS.md): `reference` (raw SQLite on this disk, always first),
//! `intake` (HTTP `POST /api/v1/cases` against a `lineout serve` child), `e2e` (cases
//! through the whole workflow in-process), `bulk` (import + bulk terminate, followed by
//! `memory`: a server holding all of it). By default every workload gets a fresh SQLite
//! database in a temporary directory that is removed afterwards; with
//! `--database postgres://…` each gets a fresh schema on that server instead.

pub mod bulk;
pub mod data;
pub mod e2e;
pub mod histogram;
pub mod http;
pub mod intake;
pub mod memory;
pub mod pacer;
pub mod proc;
pub mod reference;
pub mod report;
pub mod seed;

use crate::config::{Config, DatabaseUrl};
use crate::error::{Error, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which workloads to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// HTTP intake: durable `POST /api/v1/cases` with N connections (closed, then open loop).
    Intake,
    /// Cases through the whole workflow, in-process, with timer and outbox workers.
    E2e,
    /// Import N lines and bulk-terminate them, then a server's memory holding them all.
    Bulk,
    /// Only the raw SQLite reference of this disk.
    Reference,
    /// Everything: reference, bulk (+ memory), intake, e2e. Bulk runs first so its
    /// in-process memory peaks start from a small process, not from e2e's heap.
    All,
}

/// `lineout bench` flags (the database is the global `--database`).
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to measure.
    pub workload: Workload,
    /// Also write every figure to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Duration of each timed phase (intake's two load phases; memory's idle period).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub seconds: u64,
    /// HTTP connections of the intake load generator.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4_096))]
    pub connections: u32,
    /// Intake: the open-loop rate in requests/s (default: half the closed-loop throughput).
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Intake: lines seeded (each request opens a case on a new line).
    #[arg(long, default_value_t = 400_000, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    pub intake_lines: u64,
    /// End-to-end: cases run through the whole workflow.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub cases: u64,
    /// End-to-end: cases being opened and verified at once.
    #[arg(long, default_value_t = 4_096, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub in_flight: u32,
    /// End-to-end: outbox worker loops (besides one timer loop).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub outbox_workers: u32,
    /// Bulk: lines imported and then terminated.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    pub lines: u64,
    /// Bulk: opens in flight during the termination (default: the bulk command's).
    #[arg(long)]
    pub bulk_concurrency: Option<u32>,
    /// Where to put the temporary databases and files (default: the system's temp dir).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the temporary directory and the workloads' SQLite databases (the path is printed).
    #[arg(long)]
    pub keep: bool,
}

/// One workload's database.
#[derive(Debug, Clone)]
pub struct BenchDb {
    pub url: String,
    pub schema: Option<String>,
}

impl BenchDb {
    /// A fresh SQLite file `<name>.db` in `dir`.
    pub fn sqlite(dir: &Path, name: &str) -> Self {
        Self { url: format!("sqlite://{}", dir.join(format!("{name}.db")).display()), schema: None }
    }

    /// A fresh schema on the PostgreSQL server at `url`.
    pub fn postgres(url: &str, name: &str) -> Self {
        Self { url: url.to_owned(), schema: Some(format!("lineout_bench_{}_{name}", std::process::id())) }
    }

    /// `base` with this database.
    pub fn config(&self, base: &Config) -> Config {
        let mut c = base.clone();
        c.database.url.clone_from(&self.url);
        c.database.schema.clone_from(&self.schema);
        c
    }

    pub fn child(&self) -> proc::ChildDatabase {
        proc::ChildDatabase { url: self.url.clone(), schema: self.schema.clone() }
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match DatabaseUrl::parse(&self.url) {
            Ok(DatabaseUrl::Sqlite(p)) => Some(p),
            _ => None,
        }
    }

    /// How the report names it (no password).
    pub fn label(&self) -> String {
        match &self.schema {
            Some(s) => format!("{} (schema {s})", crate::config::mask_url(&self.url)),
            None => self.url.clone(),
        }
    }
}

/// Today (UTC) plus `days`, as `YYYY-MM-DD`.
pub fn today_plus_days(days: i64) -> String {
    use lineout_app::ports::Clock;
    let date = (lineout_adapters::SystemClock.now() + time::Duration::days(days)).date();
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// `lineout bench …`. `database` is the global `--database` flag (not the configured
/// database: a benchmark never writes into the configuration's database by accident).
pub fn command(
    config: &Config,
    config_file: Option<&Path>,
    database: Option<&str>,
    args: &BenchArgs,
) -> Result<crate::Outcome> {
    let postgres = match database.map(DatabaseUrl::parse) {
        None => None,
        Some(Ok(DatabaseUrl::Postgres(url))) => Some(url),
        Some(Ok(DatabaseUrl::Sqlite(_))) => {
            return Err(Error::Usage(
                "bench --database takes a postgres:// URL; SQLite runs use fresh files (choose where with --dir)"
                    .into(),
            ));
        }
        Some(Err(m)) => return Err(Error::Usage(format!("--database: {m}"))),
    };
    let exe = std::env::current_exe().map_err(|e| Error::Failed(format!("cannot find the lineout binary: {e}")))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix("lineout-bench-");
    let temp = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            builder.tempdir_in(d)
        }
        None => builder.tempdir(),
    }
    .map_err(|e| Error::Failed(format!("cannot create a temporary directory: {e}")))?;
    let dir = temp.path().to_path_buf();
    eprintln!("bench: working in {}", dir.display());
    let db_for = |name: &str| match &postgres {
        Some(url) => BenchDb::postgres(url, name),
        None => BenchDb::sqlite(&dir, name),
    };
    let mut report = report::Report::new(&dir, postgres.as_deref(), args);
    let save = |report: &report::Report| -> Result<()> {
        match &args.json {
            Some(path) => report.write_json(path),
            None => Ok(()),
        }
    };
    let wants = |w: Workload| args.workload == w || args.workload == Workload::All;

    eprintln!("bench: reference (raw SQLite on this disk, 2 × 2 s) …");
    match reference::run(&dir, Duration::from_secs(2)) {
        Ok(r) => {
            report.reference = Some(r);
            report::print_reference(&r);
        }
        Err(e) => report.failed("reference", &e),
    }
    save(&report)?;

    if wants(Workload::Bulk) {
        let db = db_for("bulk");
        report.note_schema(&db);
        let opts = bulk::BulkOptions { lines: args.lines, concurrency: args.bulk_concurrency.map(|c| c as usize) };
        match bulk::run(&db, config, &dir, opts) {
            Ok((b, token)) => {
                report::print_bulk(&b);
                report.bulk = Some(b);
                save(&report)?;
                let idle = Duration::from_secs(args.seconds);
                match memory::run(&db, &exe, config_file, &token, args.lines, idle) {
                    Ok(m) => {
                        report::print_memory(&m, args.lines);
                        report.memory = Some(m);
                    }
                    Err(e) => report.failed("memory", &e),
                }
            }
            Err(e) => report.failed("bulk", &e),
        }
        if !args.keep {
            remove_sqlite(&db);
        }
        save(&report)?;
    }

    if wants(Workload::Intake) {
        let db = db_for("intake");
        report.note_schema(&db);
        let opts = intake::IntakeOptions {
            seconds: args.seconds,
            connections: args.connections as usize,
            lines: args.intake_lines,
            rate: args.rate,
            exe: exe.clone(),
            config_file: config_file.map(Path::to_path_buf),
        };
        match intake::run(&db, config, &opts) {
            Ok(i) => {
                report::print_intake(&i, report.reference.as_ref());
                report.intake = Some(i);
            }
            Err(e) => report.failed("intake", &e),
        }
        if !args.keep {
            remove_sqlite(&db);
        }
        save(&report)?;
    }

    if wants(Workload::E2e) {
        let db = db_for("e2e");
        report.note_schema(&db);
        let opts = e2e::E2eOptions {
            cases: args.cases,
            in_flight: args.in_flight as usize,
            outbox_workers: args.outbox_workers as usize,
        };
        match e2e::run(&db, config, opts) {
            Ok(r) => {
                report::print_e2e(&r);
                report.e2e = Some(r);
            }
            Err(e) => report.failed("e2e", &e),
        }
        if !args.keep {
            remove_sqlite(&db);
        }
        save(&report)?;
    }

    // The disk's speed drifts on shared machines: measuring it again brackets the run.
    eprintln!("bench: reference again, to see whether the disk changed during the run …");
    match reference::run(&dir, Duration::from_secs(2)) {
        Ok(r) => {
            report.reference_after = Some(r);
            report::print_reference(&r);
        }
        Err(e) => report.failed("reference", &e),
    }
    report.finish();
    report::print_targets(&report);
    save(&report)?;
    if let Some(path) = &args.json {
        eprintln!("bench: figures written to {}", path.display());
    }
    if !report.schemas_left.is_empty() {
        eprintln!("bench: these PostgreSQL schemas were left on the server; drop them when done:");
        for s in &report.schemas_left {
            eprintln!(
                "  psql '{}' -c 'DROP SCHEMA {s} CASCADE'",
                crate::config::mask_url(database.unwrap_or_default())
            );
        }
    }
    if args.keep {
        let kept = temp.keep();
        eprintln!("bench: kept {}", kept.display());
    }
    Ok(if report.errors.is_empty() { crate::Outcome::Success } else { crate::Outcome::Failure })
}

/// Removes a workload's SQLite files as soon as it is done (the disk is not infinite).
fn remove_sqlite(db: &BenchDb) {
    if let Some(p) = db.sqlite_path() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_ahead_are_calendar_dates() {
        let d = today_plus_days(30);
        assert_eq!(d.len(), 10);
        assert!(time::Date::parse(&d, time::macros::format_description!("[year]-[month]-[day]")).is_ok(), "{d}");
    }

    #[test]
    fn workload_databases_are_fresh_and_named() {
        let s = BenchDb::sqlite(Path::new("/tmp/x"), "intake");
        assert_eq!(s.url, "sqlite:///tmp/x/intake.db");
        assert_eq!(s.sqlite_path(), Some(PathBuf::from("/tmp/x/intake.db")));
        let p = BenchDb::postgres("postgres://u:secret@h/db", "e2e");
        assert!(p.schema.as_deref().is_some_and(|s| s.starts_with("lineout_bench_") && s.ends_with("_e2e")));
        assert!(!p.label().contains("secret"), "{}", p.label());
        assert_eq!(p.config(&Config::default()).database.schema, p.schema);
    }
}
