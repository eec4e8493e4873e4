//! `lineout bulk terminate FILE`: every number in a CSV (`msisdn,reason,effective_date`)
//! becomes a normal cancellation case with channel `bulk` — verified by policy as
//! operator-initiated, notified, deprovisioned and recorded like any other.
//!
//! The file is streamed by a reader thread into a bounded queue; up to `concurrency`
//! opens are in flight at once, so the group-commit writer batches them. Memory stays
//! bounded whatever the file size. Re-running the same file is safe and resumes: a line
//! that already has an open case, or is no longer active, is skipped, never duplicated.

use crate::error::{Error, Result};
use crate::import::RowError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lineout_app::{Engine, LineRef, OpenRequest};
use lineout_domain::case::{Actor, Error as CaseError};
use lineout_domain::values::{ActorId, Msisdn, parse_text};
use lineout_domain::{Channel, Timing};
use std::fmt;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// Most opens in flight at once.
pub const MAX_CONCURRENCY: usize = 16_384;
/// Rows parsed ahead of the opens.
const QUEUE_ROWS: usize = 8_192;
/// Rejections kept in the summary (all are printed when asked).
const KEPT_REJECTIONS: usize = 100;

/// How to run a bulk termination.
#[derive(Debug, Clone)]
pub struct Options {
    /// Show a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Opens in flight at once (clamped to 1..=[`MAX_CONCURRENCY`]).
    pub concurrency: usize,
    /// Stop reading at the first rejected row (opens already sent still complete).
    pub stop_on_error: bool,
    /// Print each rejected row to stderr.
    pub print_rejections: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { progress: false, concurrency: 4_096, stop_on_error: false, print_rejections: false }
    }
}

/// What a bulk termination did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub opened: u64,
    /// The line already had an open case (e.g. from an earlier, interrupted run).
    pub skipped_already_open: u64,
    /// The line is no longer active (already terminated or ported out).
    pub skipped_not_eligible: u64,
    pub rejected: u64,
    pub rejections: Vec<RowError>,
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows: {} cases opened, {} already open, {} not eligible (already ended), {} rejected",
            self.rows, self.opened, self.skipped_already_open, self.skipped_not_eligible, self.rejected
        )?;
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            write!(f, " in {secs:.1}s ({:.0} rows/s)", self.rows as f64 / secs)?;
        }
        Ok(())
    }
}

/// One parsed row.
struct Row {
    line: u64,
    request: OpenRequest,
}

enum Parsed {
    Row(Row),
    Bad(RowError),
}

fn bad(line: u64, field: &str, reason: impl fmt::Display) -> Parsed {
    Parsed::Bad(RowError { line, field: field.to_owned(), reason: reason.to_string() })
}

/// Parses one CSV record (`msisdn,reason,effective_date`) into an open request.
fn parse_row(line: u64, record: &csv::StringRecord, columns: &Columns) -> Parsed {
    let get = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim).unwrap_or("");
    let msisdn = match Msisdn::parse(get(Some(columns.msisdn))) {
        Ok(m) => m,
        Err(e) => return bad(line, "msisdn", e),
    };
    let reason = match parse_text(get(columns.reason), 500) {
        Ok(r) => r,
        Err(e) => return bad(line, "reason", e),
    };
    let timing = match get(columns.effective_date) {
        "" => Timing::Immediate,
        date => match time::Date::parse(date, time::macros::format_description!("[year]-[month]-[day]")) {
            Ok(d) => Timing::OnDate(d),
            Err(_) => return bad(line, "effective_date", "must be a date like 2026-12-31"),
        },
    };
    Parsed::Row(Row {
        line,
        request: OpenRequest {
            callback: false,
            kind: lineout_domain::case::CaseKind::Cancellation,
            line: LineRef::Msisdn(msisdn),
            channel: Channel::Bulk,
            timing,
            note: Some(reason),
        },
    })
}

struct Columns {
    msisdn: usize,
    reason: Option<usize>,
    effective_date: Option<usize>,
}

fn columns(headers: &csv::StringRecord) -> Result<Columns> {
    let find = |name: &str| headers.iter().position(|h| h.trim() == name);
    let msisdn = find("msisdn").ok_or_else(|| Error::Usage("the bulk file needs a 'msisdn' column".into()))?;
    let reason = find("reason");
    if reason.is_none() {
        return Err(Error::Usage("the bulk file needs a 'reason' column".into()));
    }
    for h in headers {
        if !matches!(h.trim(), "msisdn" | "reason" | "effective_date") {
            return Err(Error::Usage(format!("unknown column '{h}' (expected msisdn,reason,effective_date)")));
        }
    }
    Ok(Columns { msisdn, reason, effective_date: find("effective_date") })
}

/// Streams `path` into cases. Blocking: call it outside an async runtime.
pub fn run(engine: &Engine, path: &Path, opts: &Options) -> Result<Summary> {
    let started = Instant::now();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(std::io::BufReader::new(file));
    let headers = reader.headers().map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?.clone();
    let columns = columns(&headers)?;
    let progress = progress_bar(opts.progress, file_len);
    let stop_on_error = opts.stop_on_error;

    // The reader thread parses rows into a bounded queue; the opens run on a runtime.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Parsed>(QUEUE_ROWS);
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let reader_bar = progress.clone();
    let reader_thread = std::thread::Builder::new()
        .name("lineout-bulk-reader".into())
        .spawn(move || -> std::result::Result<(), String> {
            let mut record = csv::StringRecord::new();
            loop {
                if stop_rx.try_recv().is_ok() {
                    return Ok(());
                }
                match reader.read_record(&mut record) {
                    Ok(false) => return Ok(()),
                    Ok(true) => {
                        let line = record.position().map_or(0, |p| p.line());
                        reader_bar.set_position(record.position().map_or(0, |p| p.byte()));
                        if tx.blocking_send(parse_row(line, &record, &columns)).is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .map_err(|e| Error::Failed(format!("cannot start the reader thread: {e}")))?;

    let concurrency = opts.concurrency.clamp(1, MAX_CONCURRENCY);
    let print = opts.print_rejections;
    let actor = Actor::Staff(ActorId::parse("bulk").map_err(|e| Error::Failed(e.to_string()))?);
    let runtime = crate::runtime()?;
    let mut summary = runtime.block_on(async {
        let mut summary = Summary::default();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut stopped = false;
        let record = |summary: &mut Summary, outcome: (u64, std::result::Result<(), lineout_app::Error>)| {
            let (line, result) = outcome;
            match result {
                Ok(()) => summary.opened += 1,
                Err(lineout_app::Error::CaseAlreadyOpen(_)) => summary.skipped_already_open += 1,
                Err(lineout_app::Error::Case(CaseError::LineNotEligible(_))) => summary.skipped_not_eligible += 1,
                Err(e) => {
                    let field = if e.code() == "line_not_found" { "msisdn" } else { "row" };
                    reject(summary, RowError { line, field: field.into(), reason: e.public_message() }, print);
                    return true;
                }
            }
            false
        };
        while let Some(parsed) = if stopped { None } else { rx.recv().await } {
            summary.rows += 1;
            match parsed {
                Parsed::Bad(e) => {
                    reject(&mut summary, e, print);
                    if stop_on_error {
                        stopped = true;
                    }
                }
                Parsed::Row(row) => {
                    while in_flight.len() >= concurrency {
                        if let Some(Ok(outcome)) = in_flight.join_next().await
                            && record(&mut summary, outcome)
                            && stop_on_error
                        {
                            stopped = true;
                        }
                    }
                    let engine = engine.clone();
                    let actor = actor.clone();
                    in_flight.spawn(async move { (row.line, engine.open_case(row.request, actor).await.map(|_| ())) });
                }
            }
            if summary.rows.is_multiple_of(1_000) {
                progress.set_message(format!("{} rows, {} opened", summary.rows, summary.opened));
            }
        }
        while let Some(joined) = in_flight.join_next().await {
            if let Ok(outcome) = joined {
                record(&mut summary, outcome);
            }
        }
        summary
    });
    let _ = stop_tx.send(());
    // Dropping the receiver unblocks a reader thread waiting on a full queue.
    drop(rx);
    drop(runtime);
    let read = reader_thread.join().map_err(|_| Error::Failed("the reader thread panicked".into()))?;
    progress.finish_and_clear();
    if let Err(e) = read
        && !(stop_on_error && summary.rejected > 0)
    {
        return Err(Error::Failed(format!("{}: {e}", path.display())));
    }
    summary.rejections.sort_by_key(|r| r.line);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn reject(summary: &mut Summary, e: RowError, print: bool) {
    summary.rejected += 1;
    if print {
        eprintln!("{e}");
    }
    if summary.rejections.len() < KEPT_REJECTIONS {
        summary.rejections.push(e);
    }
}

fn progress_bar(enabled: bool, file_len: u64) -> ProgressBar {
    if !(enabled && std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(file_len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} {msg} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `lineout bulk terminate FILE`: runs and prints the summary; failure if any row was rejected.
pub fn command(engine: &Engine, path: &Path, opts: &Options) -> Result<crate::Outcome> {
    let summary = run(engine, path, opts)?;
    println!("{summary}");
    Ok(if summary.rejected > 0 { crate::Outcome::Failure } else { crate::Outcome::Success })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{engine_on, temp_db};
    use lineout_domain::Status;
    use std::io::Write;

    fn seed(engine: &Engine, n: usize) {
        use lineout_domain::account::{Account, AccountKind, Line, LineStatus, Locks, Plan};
        use lineout_domain::values::{AccountId, Language, LineId, Money};
        let accounts: Vec<Account> = (0..n)
            .map(|i| Account {
                id: AccountId::parse(&format!("A{i}")).unwrap(),
                holder_name: "Test".into(),
                email: None,
                alt_phone: None,
                language: Language::En,
                pin_hash: None,
                locks: Locks::default(),
                billing_cycle_day: 1,
                kind: AccountKind::Residential,
                owed: Money::usd(0),
                prepaid_balance: Money::usd(0),
            })
            .collect();
        let lines: Vec<Line> = (0..n)
            .map(|i| Line {
                id: LineId::parse(&format!("L{i}")).unwrap(),
                account_id: AccountId::parse(&format!("A{i}")).unwrap(),
                msisdn: Msisdn::parse(&format!("+1415555{:04}", i)).unwrap(),
                iccid: None,
                imsi: None,
                eid: None,
                plan: Plan::Prepaid,
                status: LineStatus::Active,
                monthly_charge_cents: 0,
            })
            .collect();
        assert!(engine.upsert_accounts_blocking(accounts).unwrap().iter().all(Result::is_ok));
        assert!(engine.upsert_lines_blocking(lines).unwrap().iter().all(Result::is_ok));
    }

    #[test]
    fn bulk_opens_verified_cases_and_a_rerun_duplicates_nothing() {
        let (dir, url) = temp_db().unwrap();
        let engine = engine_on(&url).unwrap();
        seed(&engine, 50);
        let path = dir.path().join("bulk.csv");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "msisdn,reason,effective_date").unwrap();
        for i in 0..50 {
            writeln!(f, "(415) 555-{:04},number-keeping SIM batch 7,", i).unwrap();
        }
        writeln!(f, "not-a-number,x,").unwrap();
        writeln!(f, "4155559999,unknown line,").unwrap();
        writeln!(f, "4155550001,bad date,2026-13-01").unwrap();
        drop(f);
        let opts = Options { concurrency: 16, ..Options::default() };
        let first = run(&engine, &path, &opts).unwrap();
        assert_eq!((first.rows, first.opened, first.rejected), (53, 50, 3), "{first}");
        let lines: Vec<u64> = first.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, [52, 53, 54]);
        // Every case was verified by policy and approved by the auto-approve rule.
        let counts = crate::runtime().unwrap().block_on(engine.case_counts()).unwrap();
        assert_eq!(counts, vec![(Status::Approved, 50)]);
        // Running the same file again (e.g. after an interruption) opens nothing new.
        let again = run(&engine, &path, &opts).unwrap();
        assert_eq!((again.opened, again.skipped_already_open, again.rejected), (0, 50, 3), "{again}");
    }

    #[test]
    fn stop_on_error_stops_reading() {
        let (dir, url) = temp_db().unwrap();
        let engine = engine_on(&url).unwrap();
        seed(&engine, 5);
        let path = dir.path().join("bulk.csv");
        std::fs::write(&path, "msisdn,reason\n4155550000,a\nbad,b\n4155550001,c\n").unwrap();
        let opts = Options { stop_on_error: true, ..Options::default() };
        let s = run(&engine, &path, &opts).unwrap();
        assert_eq!((s.opened, s.rejected), (1, 1), "{s}");
    }

    #[test]
    fn a_file_without_the_needed_columns_is_refused() {
        let (dir, url) = temp_db().unwrap();
        let engine = engine_on(&url).unwrap();
        let path = dir.path().join("bulk.csv");
        std::fs::write(&path, "number,why\n1,2\n").unwrap();
        assert!(matches!(run(&engine, &path, &Options::default()), Err(Error::Usage(_))));
    }
}
