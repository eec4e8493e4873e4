//! The bulk workload: `lineout import lines` of a generated N-row CSV (1,000,000 by
//! default; its accounts, one per four lines, are imported first as untimed setup),
//! then `lineout bulk terminate` of a file naming every one of those numbers.
//!
//! Both phases run in this process through the same functions the subcommands call
//! (`import::run`, `bulk::run`). Before each phase the process's peak-RSS counter is
//! reset (`/proc/self/clear_refs`), so the VmHWM read after it is that phase's peak.

use super::data::{self, Numbers};
use super::proc::{self, Memory};
use super::{BenchDb, today_plus_days};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::import;
use crate::rows::RecordKind;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Lines per generated account.
const LINES_PER_ACCOUNT: u64 = 4;
/// The reason written on every row of the termination file.
pub const REASON: &str = "number-keeping SIM batch closed by the operator";
/// Days ahead of today for the effective date of the bulk terminations.
pub const EFFECTIVE_IN_DAYS: i64 = 30;

/// How to run the bulk workload.
#[derive(Debug, Clone, Copy)]
pub struct BulkOptions {
    pub lines: u64,
    /// Opens in flight during the termination (`None`: the subcommand's default).
    pub concurrency: Option<usize>,
}

/// One timed phase.
#[derive(Debug, Clone, Serialize, Default)]
pub struct BulkPhase {
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_s: f64,
    /// What the command reported (its summary line).
    pub summary: String,
    pub rejected: u64,
    /// This process's peak RSS during the phase (VmHWM after a reset), and its RSS before.
    pub peak_rss_kib: Option<u64>,
    pub rss_before_kib: Option<u64>,
}

/// Everything the bulk workload measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Bulk {
    pub lines: u64,
    pub accounts: u64,
    pub generate_seconds: f64,
    pub csv_bytes: u64,
    /// Untimed setup, reported anyway.
    pub import_accounts: BulkPhase,
    pub import_lines: BulkPhase,
    pub terminate: BulkPhase,
    pub effective_date: String,
    pub concurrency: usize,
    /// Import lines + terminate.
    pub total_seconds: f64,
    /// Whether the kernel let the peak-RSS counter be reset between phases (else the
    /// peaks are those of the whole process so far).
    pub peak_reset_worked: bool,
    /// The database's size on disk after both phases (SQLite only).
    pub database_bytes: Option<u64>,
}

/// Runs the bulk workload on `db`, generating its files in `dir`; returns the figures
/// and an admin token on that database (for the memory workload).
pub fn run(db: &BenchDb, base: &Config, dir: &Path, opts: BulkOptions) -> Result<(Bulk, String)> {
    let config = db.config(base);
    let numbers = Numbers::new().map_err(|e| Error::Failed(format!("number plan: {e}")))?;
    if opts.lines > numbers.capacity() {
        return Err(Error::Usage(format!("--lines: at most {} lines can be generated", numbers.capacity())));
    }
    let accounts = opts.lines.div_ceil(LINES_PER_ACCOUNT);
    let (accounts_csv, lines_csv, terminate_csv) =
        (dir.join("bulk-accounts.csv"), dir.join("bulk-lines.csv"), dir.join("bulk-terminate.csv"));
    let effective_date = today_plus_days(EFFECTIVE_IN_DAYS);
    eprintln!("bulk: generating {accounts} accounts, {} lines and the termination file …", opts.lines);
    let started = Instant::now();
    let mut csv_bytes = data::write_accounts_csv(&accounts_csv, accounts).map_err(|e| Error::io(&accounts_csv, e))?;
    csv_bytes += data::write_lines_csv(&lines_csv, opts.lines, LINES_PER_ACCOUNT, &numbers)
        .map_err(|e| Error::io(&lines_csv, e))?;
    csv_bytes += data::write_terminate_csv(&terminate_csv, opts.lines, &numbers, REASON, &effective_date)
        .map_err(|e| Error::io(&terminate_csv, e))?;
    let generate_seconds = started.elapsed().as_secs_f64();

    let engine = crate::db::start_engine(&config)?;
    let peak_reset_worked = proc::reset_own_peak();
    eprintln!("bulk: importing {accounts} accounts (setup) …");
    let import_accounts = timed(|| {
        let s = import::run(&engine, &accounts_csv, &import::Options::new(RecordKind::Accounts))?;
        Ok((s.rows, s.rejected, s.to_string()))
    })?;
    eprintln!("bulk: {}\nbulk: importing {} lines (timed) …", import_accounts.summary, opts.lines);
    let import_lines = timed(|| {
        let s = import::run(&engine, &lines_csv, &import::Options::new(RecordKind::Lines))?;
        Ok((s.rows, s.rejected, s.to_string()))
    })?;
    eprintln!("bulk: {}\nbulk: terminating {} lines (timed) …", import_lines.summary, opts.lines);
    let mut bulk_opts = crate::bulk::Options::default();
    if let Some(c) = opts.concurrency {
        bulk_opts.concurrency = c;
    }
    let terminate = timed(|| {
        let s = crate::bulk::run(&engine, &terminate_csv, &bulk_opts)?;
        Ok((s.rows, s.rejected, s.to_string()))
    })?;
    eprintln!("bulk: {}", terminate.summary);
    let (_, token) = crate::block_on_engine(engine, async |e| {
        Ok(e.create_token(vec!["admin".into()], "bench memory".into()).await?)
    })?;
    let database_bytes = db.sqlite_path().map(|p| {
        ["", "-wal"].iter().filter_map(|s| std::fs::metadata(format!("{}{s}", p.display())).ok()).map(|m| m.len()).sum()
    });
    for f in [&accounts_csv, &lines_csv, &terminate_csv] {
        let _ = std::fs::remove_file(f);
    }
    let bulk = Bulk {
        lines: opts.lines,
        accounts,
        generate_seconds,
        csv_bytes,
        total_seconds: import_lines.seconds + terminate.seconds,
        import_accounts,
        import_lines,
        terminate,
        effective_date,
        concurrency: bulk_opts.concurrency,
        peak_reset_worked,
        database_bytes,
    };
    Ok((bulk, token))
}

/// Runs one phase with the peak-RSS counter reset first.
fn timed(phase: impl FnOnce() -> Result<(u64, u64, String)>) -> Result<BulkPhase> {
    proc::reset_own_peak();
    let before = proc::own_memory();
    let started = Instant::now();
    let (rows, rejected, summary) = phase()?;
    let seconds = started.elapsed().as_secs_f64();
    let after: Option<Memory> = proc::own_memory();
    Ok(BulkPhase {
        rows,
        seconds,
        rows_per_s: rows as f64 / seconds.max(1e-9),
        summary,
        rejected,
        peak_rss_kib: after.map(|m| m.hwm_kib),
        rss_before_kib: before.map(|m| m.rss_kib),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_bulk_run_imports_and_terminates_every_line() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let db = BenchDb::sqlite(dir.path(), "bulk");
        let (bulk, token) = run(&db, &Config::default(), dir.path(), BulkOptions { lines: 2_000, concurrency: None })?;
        assert_eq!((bulk.import_lines.rows, bulk.import_lines.rejected), (2_000, 0), "{bulk:?}");
        assert_eq!((bulk.terminate.rows, bulk.terminate.rejected), (2_000, 0), "{bulk:?}");
        assert!(bulk.terminate.summary.contains("2000 cases opened"), "{}", bulk.terminate.summary);
        assert_eq!(bulk.accounts, 500);
        assert!(token.starts_with("lo_"));
        assert!(!dir.path().join("bulk-lines.csv").exists());
        Ok(())
    }
}
