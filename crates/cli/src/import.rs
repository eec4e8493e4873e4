//! `lineout import`: streams a CSV or JSON file of accounts, lines or devices into the
//! store in bounded batches, one savepoint per row, so a million-row file needs no more
//! memory than one batch and a row is never half-imported.
//!
//! Bad rows are reported as `line N: field: reason` (N is the file's line number; a CSV
//! header is line 1; a JSON row is the line its object starts on). Importing the same
//! file again changes nothing and reports every row as unchanged.

use crate::cli::FileFormat;
use crate::error::{Error, Result};
use crate::rows::{self, Defaults, FieldError, Fields, RecordKind};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lineout_app::Engine;
use lineout_app::ledger_import::ImportRow;
use lineout_app::ports::Upsert;
use lineout_domain::account::{Account, Device, Line};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Largest batch (rows per transaction).
pub const MAX_BATCH: usize = 10_000;
/// Rejections kept in the [`Summary`] (all are printed as they happen).
pub const KEPT_REJECTIONS: usize = 100;

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    pub kind: RecordKind,
    /// `None`: from the file's extension.
    pub format: Option<FileFormat>,
    pub stop_on_error: bool,
    /// Rows per transaction (clamped to 1..=[`MAX_BATCH`]).
    pub batch_size: usize,
    /// Show a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Print each rejected row to stderr as it is found.
    pub print_rejections: bool,
}

impl Options {
    /// Quiet defaults: batches of 1000, no progress bar, no printing.
    pub fn new(kind: RecordKind) -> Self {
        Self { kind, format: None, stop_on_error: false, batch_size: 1000, progress: false, print_rejections: false }
    }
}

/// A rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows read (good and bad).
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// With `stop_on_error`: the line of the first rejected row.
    pub stopped_at_line: Option<u64>,
    /// The first [`KEPT_REJECTIONS`] problems in the order found (a row the store refuses
    /// is found when its batch is written, after the parse errors of later rows in that batch).
    pub rejections: Vec<RowError>,
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "{} rows: {} inserted, {} updated, {} unchanged, {} rejected",
            self.rows, self.inserted, self.updated, self.unchanged, self.rejected
        )?;
        if secs > 0.0 {
            write!(f, " in {secs:.1}s ({:.0} rows/s)", self.rows as f64 / secs)?;
        }
        if let Some(line) = self.stopped_at_line {
            write!(f, "; stopped at line {line}, rows before it were imported")?;
        }
        Ok(())
    }
}

/// The file format: as given, else from the extension.
pub fn format_of(path: &Path, explicit: Option<FileFormat>) -> Result<FileFormat> {
    if let Some(f) = explicit {
        return Ok(f);
    }
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Ok(FileFormat::Csv),
        Some("json") => Ok(FileFormat::Json),
        _ => Err(Error::Usage(format!(
            "{}: cannot tell the format from the file name; pass --format csv or --format json",
            path.display()
        ))),
    }
}

/// Imports `path`. Must run outside the async runtime (it waits on the writer).
pub fn run(engine: &Engine, path: &Path, opts: &Options) -> Result<Summary> {
    let format = format_of(path, opts.format)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let defaults = Defaults { currency: engine.policy().currency };
    match opts.kind {
        RecordKind::Accounts => Importer::<Account>::new(engine, opts, defaults, len).read(path, file, format),
        RecordKind::Lines => Importer::<LineRow>::new(engine, opts, defaults, len).read(path, file, format),
        RecordKind::Devices => Importer::<Device>::new(engine, opts, defaults, len).read(path, file, format),
        RecordKind::Ledger => Importer::<ImportRow>::new(engine, opts, defaults, len).read(path, file, format),
    }
}

/// A record type the importer can parse and upsert.
trait Record: Sized + Send + 'static {
    fn parse<F: Fields + ?Sized>(fields: &F, defaults: &Defaults) -> Result<Self, Vec<FieldError>>;
    fn upsert(engine: &Engine, rows: Vec<Self>) -> Result<Vec<Result<Upsert, lineout_app::Error>>, lineout_app::Error>;
}

impl Record for Account {
    fn parse<F: Fields + ?Sized>(fields: &F, defaults: &Defaults) -> Result<Self, Vec<FieldError>> {
        rows::account(fields, defaults)
    }
    fn upsert(engine: &Engine, rows: Vec<Self>) -> Result<Vec<Result<Upsert, lineout_app::Error>>, lineout_app::Error> {
        engine.upsert_accounts_blocking(rows)
    }
}

/// A line with the date its SIM last changed, when the file has one (fraud guards).
type LineRow = (Line, Option<time::OffsetDateTime>);

impl Record for LineRow {
    fn parse<F: Fields + ?Sized>(fields: &F, _defaults: &Defaults) -> Result<Self, Vec<FieldError>> {
        match (rows::line(fields), rows::sim_changed_at(fields)) {
            (Ok(line), Ok(at)) => Ok((line, at)),
            (line, at) => Err(line.err().unwrap_or_default().into_iter().chain(at.err().unwrap_or_default()).collect()),
        }
    }
    fn upsert(engine: &Engine, rows: Vec<Self>) -> Result<Vec<Result<Upsert, lineout_app::Error>>, lineout_app::Error> {
        engine.upsert_lines_with_sim_changes_blocking(rows)
    }
}

impl Record for Device {
    fn parse<F: Fields + ?Sized>(fields: &F, defaults: &Defaults) -> Result<Self, Vec<FieldError>> {
        rows::device(fields, defaults)
    }
    fn upsert(engine: &Engine, rows: Vec<Self>) -> Result<Vec<Result<Upsert, lineout_app::Error>>, lineout_app::Error> {
        engine.upsert_devices_blocking(rows)
    }
}

impl Record for ImportRow {
    fn parse<F: Fields + ?Sized>(fields: &F, defaults: &Defaults) -> Result<Self, Vec<FieldError>> {
        rows::ledger_entry(fields, defaults)
    }
    fn upsert(engine: &Engine, rows: Vec<Self>) -> Result<Vec<Result<Upsert, lineout_app::Error>>, lineout_app::Error> {
        engine.import_ledger_blocking(rows)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Phrases a store's refusal of one row in terms of the file's fields.
fn refused(line: u64, e: lineout_app::Error) -> RowError {
    use lineout_app::Error as E;
    let (field, reason) = match e {
        E::MissingReference("account") => {
            ("account_id".into(), "no account has this id (import accounts first)".into())
        }
        E::MissingReference("line") => ("line_id".into(), "no line has this id (import lines first)".into()),
        E::MsisdnTaken => ("msisdn".into(), "another line already has this number".into()),
        e @ E::LedgerCurrencyMismatch { .. } => {
            ("currency".into(), format!("{}: {}", e.code(), e.to_string().trim_start_matches("currency: ")))
        }
        e @ E::LedgerReferenceConflict => {
            ("reference".into(), format!("{}: {}", e.code(), e.to_string().trim_start_matches("reference: ")))
        }
        E::Invalid { field, message } => (field, message),
        E::Storage(detail) => ("row".into(), format!("storage failure: {detail}")),
        other => ("row".into(), other.to_string()),
    };
    RowError { line, field, reason }
}

struct Importer<'a, T> {
    engine: &'a Engine,
    opts: &'a Options,
    defaults: Defaults,
    batch_size: usize,
    pending: Vec<T>,
    pending_lines: Vec<u64>,
    summary: Summary,
    progress: ProgressBar,
    started: Instant,
}

impl<'a, T: Record> Importer<'a, T> {
    fn new(engine: &'a Engine, opts: &'a Options, defaults: Defaults, file_len: u64) -> Self {
        let batch_size = opts.batch_size.clamp(1, MAX_BATCH);
        let progress = if opts.progress && std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(file_len), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} {msg} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            engine,
            opts,
            defaults,
            batch_size,
            pending: Vec::with_capacity(batch_size),
            pending_lines: Vec::with_capacity(batch_size),
            summary: Summary::default(),
            progress,
            started: Instant::now(),
        }
    }

    fn read(mut self, path: &Path, file: File, format: FileFormat) -> Result<Summary> {
        let reader = BufReader::with_capacity(256 * 1024, file);
        let read = match format {
            FileFormat::Csv => self.read_csv(path, reader),
            FileFormat::Json => self.read_json(path, reader),
        };
        // Rows already parsed are committed even when the file turns out broken further on.
        let flushed = if self.summary.stopped_at_line.is_none() { self.flush().map(|_| ()) } else { Ok(()) };
        self.progress.finish_and_clear();
        self.summary.elapsed = self.started.elapsed();
        match (read, flushed) {
            (Ok(()), Ok(())) => Ok(self.summary),
            (Err(e), _) | (Ok(()), Err(e)) => Err(Error::Failed(format!("{e} (so far: {})", self.summary))),
        }
    }

    /// Takes one row: parses it and queues it for the next batch, or rejects it.
    fn row<F: Fields + ?Sized>(&mut self, line: u64, fields: &F) -> Result<Flow> {
        match T::parse(fields, &self.defaults) {
            Ok(record) => {
                self.summary.rows += 1;
                self.pending.push(record);
                self.pending_lines.push(line);
                if self.pending.len() >= self.batch_size { self.flush() } else { Ok(Flow::Continue) }
            }
            Err(errors) => self.reject(line, errors),
        }
    }

    /// Records a row that could not be parsed.
    fn reject(&mut self, line: u64, errors: Vec<FieldError>) -> Result<Flow> {
        self.summary.rows += 1;
        self.summary.rejected += 1;
        for e in errors {
            self.note(RowError { line, field: e.field, reason: e.reason });
        }
        if self.opts.stop_on_error {
            // The rows before this one are imported; nothing after it is.
            self.flush()?;
            self.summary.stopped_at_line.get_or_insert(line);
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }

    fn note(&mut self, e: RowError) {
        if self.opts.print_rejections {
            self.progress.suspend(|| eprintln!("{e}"));
        }
        if self.summary.rejections.len() < KEPT_REJECTIONS {
            self.summary.rejections.push(e);
        }
    }

    /// Upserts the queued rows in one transaction, each in its own savepoint.
    fn flush(&mut self) -> Result<Flow> {
        if self.pending.is_empty() {
            return Ok(Flow::Continue);
        }
        let rows = std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch_size));
        let lines = std::mem::replace(&mut self.pending_lines, Vec::with_capacity(self.batch_size));
        let results = T::upsert(self.engine, rows)?;
        let mut flow = Flow::Continue;
        for (line, result) in lines.into_iter().zip(results) {
            match result {
                Ok(Upsert::Inserted) => self.summary.inserted += 1,
                Ok(Upsert::Updated) => self.summary.updated += 1,
                Ok(Upsert::Unchanged) => self.summary.unchanged += 1,
                Err(e) => {
                    self.summary.rejected += 1;
                    self.note(refused(line, e));
                    if self.opts.stop_on_error {
                        // Later rows of this batch were already written in their own savepoints.
                        self.summary.stopped_at_line.get_or_insert(line);
                        flow = Flow::Stop;
                    }
                }
            }
        }
        self.progress.set_message(format!("{} rows", self.summary.rows));
        Ok(flow)
    }

    fn read_csv(&mut self, path: &Path, reader: BufReader<File>) -> Result<()> {
        let kind = self.opts.kind;
        let mut csv =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(reader);
        let mut record = csv::StringRecord::new();
        let header_ok = csv.read_record(&mut record).map_err(|e| csv_error(path, &e))?;
        if !header_ok {
            return Err(Error::Failed(format!("{}: the file is empty (expected a header line)", path.display())));
        }
        let header: Vec<String> = record
            .iter()
            .enumerate()
            .map(|(i, h)| if i == 0 { h.trim_start_matches('\u{feff}') } else { h }.to_owned())
            .collect();
        let index =
            header_index(kind, &header).map_err(|m| Error::Failed(format!("{}: line 1: {m}", path.display())))?;
        loop {
            match csv.read_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => {
                    let line = record.position().map_or(0, csv::Position::line);
                    let flow = if record.len() != header.len() {
                        self.reject(
                            line,
                            vec![FieldError::new(
                                "row",
                                format!("has {} fields but the header has {}", record.len(), header.len()),
                            )],
                        )?
                    } else {
                        self.row(line, &CsvRow { columns: kind.columns(), index: &index, record: &record })?
                    };
                    self.progress.set_position(csv.position().byte());
                    if flow == Flow::Stop {
                        return Ok(());
                    }
                }
                Err(e) => match e.kind() {
                    csv::ErrorKind::Utf8 { pos, .. } => {
                        let line = pos.as_ref().map_or(0, csv::Position::line);
                        if self.reject(line, vec![FieldError::new("row", "is not valid UTF-8")])? == Flow::Stop {
                            return Ok(());
                        }
                    }
                    _ => return Err(csv_error(path, &e)),
                },
            }
        }
    }

    fn read_json(&mut self, path: &Path, reader: BufReader<File>) -> Result<()> {
        let lines = Rc::new(Cell::new(0u64));
        let bytes = Rc::new(Cell::new(0u64));
        let counting = CountingReader { inner: reader, lines: Rc::clone(&lines), bytes: Rc::clone(&bytes) };
        let mut de = serde_json::Deserializer::from_reader(counting);
        let mut outcome: Option<Result<()>> = None;
        let kind = self.opts.kind;
        let visitor = RowsVisitor { importer: self, kind, lines, bytes, outcome: &mut outcome };
        let parsed = (&mut de).deserialize_seq(visitor);
        match (outcome, parsed) {
            (Some(done), _) => done,
            (None, Ok(())) => de.end().map_err(|e| json_error(path, &e)),
            (None, Err(e)) => Err(json_error(path, &e)),
        }
    }
}

fn csv_error(path: &Path, e: &csv::Error) -> Error {
    match e.position() {
        Some(pos) => Error::Failed(format!("{}: line {}: {e}", path.display(), pos.line())),
        None => Error::Failed(format!("{}: {e}", path.display())),
    }
}

fn json_error(path: &Path, e: &serde_json::Error) -> Error {
    Error::Failed(format!("{}: invalid JSON: {e}", path.display()))
}

/// Maps each known column to its position in the header; refuses unknown, repeated and
/// missing required columns.
fn header_index(kind: RecordKind, header: &[String]) -> Result<Vec<Option<usize>>, String> {
    let columns = kind.columns();
    let mut index = vec![None; columns.len()];
    for (pos, name) in header.iter().enumerate() {
        let Some(col) = columns.iter().position(|c| c == name) else {
            return Err(format!("unknown column '{name}' (the {} columns are: {})", kind.as_str(), columns.join(",")));
        };
        if index[col].replace(pos).is_some() {
            return Err(format!("column '{name}' appears twice"));
        }
    }
    for required in kind.required() {
        if let Some(col) = columns.iter().position(|c| c == required)
            && index[col].is_none()
        {
            return Err(format!("missing required column '{required}'"));
        }
    }
    Ok(index)
}

/// One CSV record seen through the header.
struct CsvRow<'a> {
    columns: &'static [&'static str],
    index: &'a [Option<usize>],
    record: &'a csv::StringRecord,
}

impl Fields for CsvRow<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        let col = self.columns.iter().position(|c| *c == name)?;
        self.record.get((*self.index.get(col)?)?)
    }
}

/// Counts bytes and newlines read, for progress and JSON line numbers. serde_json reads
/// one byte at a time, so the count is exact when a row starts.
struct CountingReader<R> {
    inner: R,
    lines: Rc<Cell<u64>>,
    bytes: Rc<Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        self.lines.set(self.lines.get() + newlines);
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

/// Reads one array element, noting the line it starts on (its first byte has been read).
struct RowSeed {
    lines: Rc<Cell<u64>>,
}

impl<'de> DeserializeSeed<'de> for RowSeed {
    type Value = (u64, serde_json::Value);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let line = self.lines.get() + 1;
        let value = serde::Deserialize::deserialize(d)?;
        Ok((line, value))
    }
}

/// Hands each element of the top-level array to the importer as soon as it is read.
struct RowsVisitor<'i, 'a, T> {
    importer: &'i mut Importer<'a, T>,
    kind: RecordKind,
    lines: Rc<Cell<u64>>,
    bytes: Rc<Cell<u64>>,
    /// Set when the importer stopped (Ok) or failed (Err); the parse error that unwinds is then not the cause.
    outcome: &'i mut Option<Result<()>>,
}

const STOPPED: &str = "import stopped";

impl<'de, T: Record> Visitor<'de> for RowsVisitor<'_, '_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {} objects", self.kind.as_str())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((line, value)) = seq.next_element_seed(RowSeed { lines: Rc::clone(&self.lines) })? {
            let flow = match json_fields(self.kind, value) {
                Ok(fields) => self.importer.row(line, &fields),
                Err(errors) => self.importer.reject(line, errors),
            };
            self.importer.progress.set_position(self.bytes.get());
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => {
                    *self.outcome = Some(Ok(()));
                    return Err(de::Error::custom(STOPPED));
                }
                Err(e) => {
                    *self.outcome = Some(Err(e));
                    return Err(de::Error::custom(STOPPED));
                }
            }
        }
        Ok(())
    }
}

/// A JSON object's fields as text; nested values and unknown fields are row problems.
fn json_fields(kind: RecordKind, value: serde_json::Value) -> Result<Vec<(String, String)>, Vec<FieldError>> {
    use serde_json::Value;
    let Value::Object(map) = value else {
        return Err(vec![FieldError::new("row", "must be a JSON object")]);
    };
    let mut fields = Vec::with_capacity(map.len());
    let mut errors = Vec::new();
    for (name, value) in map {
        if !kind.columns().contains(&name.as_str()) {
            errors.push(FieldError::new(
                name,
                format!("unknown field (the {} fields are: {})", kind.as_str(), kind.columns().join(",")),
            ));
            continue;
        }
        match value {
            Value::String(s) => fields.push((name, s)),
            Value::Number(n) => fields.push((name, n.to_string())),
            Value::Bool(b) => fields.push((name, b.to_string())),
            Value::Null => {}
            Value::Array(_) | Value::Object(_) => {
                errors.push(FieldError::new(name, "must be a string, number or boolean"))
            }
        }
    }
    if errors.is_empty() { Ok(fields) } else { Err(errors) }
}

/// `lineout import …`: runs the import with a progress bar and prints the summary.
pub fn command(engine: &Engine, path: &Path, opts: &Options) -> Result<crate::Outcome> {
    let summary = run(engine, path, opts)?;
    println!("{} {}: {summary}", opts.kind.as_str(), path.display());
    if summary.rejected > 0 { Ok(crate::Outcome::Failure) } else { Ok(crate::Outcome::Success) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{engine_on, temp_db};
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        if let Ok(mut f) = File::create(&path) {
            let _ = f.write_all(text.as_bytes());
        }
        path
    }

    const ACCOUNTS: &str = "\
id,holder_name,email,alt_phone,language,billing_cycle_day,kind,lock_port_out,lock_sim_change,lock_cancellation,owed_cents,prepaid_balance_cents,currency
A1,Ana Diaz,ana@example.com,(415) 555-0100,en,5,residential,false,false,false,0,1500,USD
A2,王芳,,,zh-Hans,12,,,,,2500,,
A3,\"Smith, John\",john@example.com,,en,28,business,true,true,false,-300,0,USD
";

    fn lines_csv() -> String {
        "id,account_id,msisdn,iccid,imsi,eid,plan,status\n\
         L1,A1,(415) 555-0101,8901260000000000006,310260000000001,,prepaid,active\n\
         L2,A2,+1 212 555 0102,,,,postpaid,\n\
         L3,NOPE,212-555-0103,,,,postpaid,\n\
         L4,A3,not-a-number,,,,postpaid,\n\
         L5,A3,(718) 555-0104,,,,postpaid,suspended\n"
            .to_owned()
    }

    #[test]
    fn importing_twice_changes_nothing_the_second_time() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        let path = write(&dir, "accounts.csv", ACCOUNTS);
        let opts = Options::new(RecordKind::Accounts);
        let first = run(&engine, &path, &opts)?;
        assert_eq!((first.rows, first.inserted, first.rejected), (3, 3, 0), "{first:?}");
        let second = run(&engine, &path, &opts)?;
        assert_eq!((second.rows, second.inserted, second.updated, second.unchanged), (3, 0, 0, 3), "{second:?}");
        let edited = write(&dir, "accounts2.csv", &ACCOUNTS.replace("Ana Diaz", "Ana María Díaz"));
        let third = run(&engine, &edited, &opts)?;
        assert_eq!((third.updated, third.unchanged), (1, 2), "{third:?}");
        Ok(())
    }

    #[test]
    fn bad_rows_are_reported_with_their_line_and_field() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        run(&engine, &write(&dir, "a.csv", ACCOUNTS), &Options::new(RecordKind::Accounts))?;
        let summary = run(&engine, &write(&dir, "l.csv", &lines_csv()), &Options::new(RecordKind::Lines))?;
        assert_eq!((summary.rows, summary.inserted, summary.rejected), (5, 3, 2), "{summary:?}");
        let shown: Vec<String> = summary.rejections.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "line 5: msisdn: not a valid phone number: not-a-number",
                "line 4: account_id: no account has this id (import accounts first)",
            ]
        );
        Ok(())
    }

    #[test]
    fn stop_on_error_keeps_the_rows_before_and_nothing_after() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        let text = ACCOUNTS.replace("A2,王芳,,,zh-Hans,12", "A2,王芳,,,zh-Hans,99");
        let mut opts = Options::new(RecordKind::Accounts);
        opts.stop_on_error = true;
        let summary = run(&engine, &write(&dir, "a.csv", &text), &opts)?;
        assert_eq!(summary.stopped_at_line, Some(3));
        assert_eq!((summary.inserted, summary.rejected), (1, 1), "{summary:?}");
        assert_eq!(
            summary.rejections[0].to_string(),
            "line 3: billing_cycle_day: must be a day of the month from 1 to 28, not '99'"
        );
        // Without the flag the row after it is imported too.
        let summary = run(&engine, &write(&dir, "b.csv", &text), &Options::new(RecordKind::Accounts))?;
        assert_eq!((summary.inserted, summary.unchanged, summary.rejected), (1, 1, 1), "{summary:?}");
        Ok(())
    }

    #[test]
    fn stop_on_error_also_stops_at_a_row_the_store_refuses() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        run(&engine, &write(&dir, "a.csv", ACCOUNTS), &Options::new(RecordKind::Accounts))?;
        let mut opts = Options::new(RecordKind::Lines);
        opts.stop_on_error = true;
        opts.batch_size = 1;
        let summary = run(&engine, &write(&dir, "l.csv", &lines_csv()), &opts)?;
        assert_eq!(summary.stopped_at_line, Some(4));
        assert_eq!((summary.inserted, summary.rejected), (2, 1), "{summary:?}");
        Ok(())
    }

    #[test]
    fn json_rows_stream_with_line_numbers() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        let json = r#"[
  {"id": "A1", "holder_name": "Ana Diaz", "billing_cycle_day": 5, "owed_cents": 0},
  {"id": "A2", "holder_name": "李伟", "billing_cycle_day": "7", "language": "zh-Hans",
   "lock_cancellation": true},
  {"id": "A3", "holder_name": "Bad", "billing_cycle_day": 3, "owed_cents": 12.5},
  {"id": "A4", "holder_name": "Nested", "billing_cycle_day": 3, "email": ["x"], "colour": "red"},
  "not an object"
]"#;
        let path = write(&dir, "accounts.json", json);
        let summary = run(&engine, &path, &Options::new(RecordKind::Accounts))?;
        assert_eq!((summary.rows, summary.inserted, summary.rejected), (5, 2, 3), "{summary:?}");
        let mut shown: Vec<String> =
            summary.rejections.iter().map(|e| format!("line {}: {}", e.line, e.field)).collect();
        shown.sort();
        assert_eq!(shown, ["line 5: owed_cents", "line 6: colour", "line 6: email", "line 7: row"]);
        let again = run(&engine, &path, &Options::new(RecordKind::Accounts))?;
        assert_eq!(again.unchanged, 2);
        Ok(())
    }

    #[test]
    fn broken_files_fail_clearly_after_importing_what_came_before() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        let path = write(&dir, "a.json", r#"[{"id": "A1", "holder_name": "Ana", "billing_cycle_day": 5}, {"id": "#);
        let err =
            run(&engine, &path, &Options::new(RecordKind::Accounts)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("invalid JSON") && err.contains("1 inserted"), "{err}");

        let path = write(&dir, "bad-header.csv", "id,holder_name,billing_day\n");
        let err =
            run(&engine, &path, &Options::new(RecordKind::Accounts)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("line 1: unknown column 'billing_day'"), "{err}");

        let path = write(&dir, "missing.csv", "id,holder_name\n");
        let err =
            run(&engine, &path, &Options::new(RecordKind::Accounts)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("missing required column 'billing_cycle_day'"), "{err}");

        let path = write(&dir, "short.csv", "id,holder_name,billing_cycle_day\nA9,Ana\n");
        let summary = run(&engine, &path, &Options::new(RecordKind::Accounts))?;
        assert_eq!(summary.rejections[0].to_string(), "line 2: row: has 2 fields but the header has 3");

        assert!(format_of(Path::new("x.txt"), None).is_err());
        Ok(())
    }

    #[test]
    fn devices_import_after_their_lines() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        run(&engine, &write(&dir, "a.csv", ACCOUNTS), &Options::new(RecordKind::Accounts))?;
        run(&engine, &write(&dir, "l.csv", &lines_csv()), &Options::new(RecordKind::Lines))?;
        let devices = "id,line_id,imei,model,price_cents,currency,ownership,must_return\n\
                       D1,L1,490154203237518,Pixel 8,69900,USD,leased,\n\
                       D2,L9,490154203237518,Pixel 8,69900,,owned,\n";
        let summary = run(&engine, &write(&dir, "d.csv", devices), &Options::new(RecordKind::Devices))?;
        assert_eq!((summary.inserted, summary.rejected), (1, 1), "{summary:?}");
        assert_eq!(summary.rejections[0].field, "line_id");
        Ok(())
    }
}

#[cfg(test)]
#[path = "import_ledger_tests.rs"]
mod ledger_tests;
