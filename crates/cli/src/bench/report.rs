//! The benchmark's report: the machine, the settings, every workload's figures, the
//! targets with how far each was met or missed, printed for people and written as JSON.

use super::bulk::Bulk;
use super::e2e::E2e;
use super::intake::{Intake, Phase};
use super::memory::MemoryReport;
use super::reference::Reference;
use super::{BenchArgs, BenchDb, proc};
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// Intake target: created cases per second, closed loop, 64 connections.
pub const INTAKE_TARGET_PER_S: f64 = 15_000.0;
/// Intake target: p99 latency at half that load.
pub const INTAKE_P99_TARGET_MS: f64 = 20.0;
/// End-to-end target: closed cases per second.
pub const E2E_TARGET_PER_S: f64 = 5_000.0;
/// Bulk target: import + terminate of 1,000,000 lines, in seconds.
pub const BULK_TARGET_SECONDS: f64 = 180.0;
pub const BULK_TARGET_LINES: u64 = 1_000_000;
/// Memory target: the server holding 1,000,000 lines and cases, in MB (10^6 bytes).
pub const MEMORY_TARGET_MB: f64 = 100.0;

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: Option<String>,
    pub memory_total_mib: Option<u64>,
    pub kernel: Option<String>,
    pub load_average_at_start: Option<[f64; 3]>,
    pub load_average_at_end: Option<[f64; 3]>,
}

impl Machine {
    fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned()),
            memory_total_mib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kib| kib / 1024),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
            load_average_at_start: proc::load_average(),
            load_average_at_end: None,
        }
    }
}

/// A target and how the measurement compares.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub measured: f64,
    pub target: f64,
    pub unit: &'static str,
    /// `at_least` or `at_most`.
    pub kind: &'static str,
    pub met: bool,
    /// How far short of the target, in percent of the target (0 when met).
    pub missed_by_percent: f64,
    pub note: Option<String>,
}

impl Target {
    fn at_least(name: &str, measured: f64, target: f64, unit: &'static str, note: Option<String>) -> Self {
        let met = measured >= target;
        let missed = if met { 0.0 } else { (target - measured) / target * 100.0 };
        Self { name: name.into(), measured, target, unit, kind: "at_least", met, missed_by_percent: missed, note }
    }
    fn at_most(name: &str, measured: f64, target: f64, unit: &'static str, note: Option<String>) -> Self {
        let met = measured <= target;
        let missed = if met { 0.0 } else { (measured - target) / target * 100.0 };
        Self { name: name.into(), measured, target, unit, kind: "at_most", met, missed_by_percent: missed, note }
    }

    /// `target met: …` or `target missed by X%: …`.
    pub fn line(&self) -> String {
        let cmp = if self.kind == "at_least" { "≥" } else { "≤" };
        let verdict =
            if self.met { "target met".to_owned() } else { format!("target missed by {:.1}%", self.missed_by_percent) };
        let note = self.note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
        format!(
            "{:<44} {:>12} {} (target {cmp} {} {}): {verdict}{note}",
            self.name,
            num(self.measured),
            self.unit,
            num(self.target),
            self.unit
        )
    }
}

/// A workload that failed to run.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadError {
    pub workload: &'static str,
    pub message: String,
}

/// Intake throughput relative to what the disk does with raw SQLite.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ratios {
    /// Intake cases/s ÷ single-row durable transactions/s.
    pub intake_vs_single_row_tx: f64,
    /// Intake cases/s ÷ rows/s in 1,000-row transactions.
    pub intake_vs_batched_rows: f64,
}

/// Everything one `lineout bench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub lineout_version: &'static str,
    /// `release` or `debug`: a debug build's figures mean little.
    pub build: &'static str,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub machine: Machine,
    pub backend: &'static str,
    pub workdir: String,
    pub workload: String,
    pub seconds: u64,
    pub connections: u32,
    /// The reference measured first, and again at the end of the run.
    pub reference: Option<Reference>,
    pub reference_after: Option<Reference>,
    pub intake: Option<Intake>,
    pub ratios: Option<Ratios>,
    pub e2e: Option<E2e>,
    pub bulk: Option<Bulk>,
    pub memory: Option<MemoryReport>,
    pub targets: Vec<Target>,
    pub errors: Vec<WorkloadError>,
    pub schemas_left: Vec<String>,
}

fn now_text() -> String {
    use lineout_app::ports::Clock;
    lineout_adapters::SystemClock.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Report {
    pub fn new(dir: &Path, postgres: Option<&str>, args: &BenchArgs) -> Self {
        Self {
            lineout_version: env!("CARGO_PKG_VERSION"),
            build: if cfg!(debug_assertions) { "debug" } else { "release" },
            started_at: now_text(),
            finished_at: None,
            machine: Machine::read(),
            backend: if postgres.is_some() { "postgres" } else { "sqlite" },
            workdir: dir.display().to_string(),
            workload: format!("{:?}", args.workload).to_lowercase(),
            seconds: args.seconds,
            connections: args.connections,
            reference: None,
            reference_after: None,
            intake: None,
            ratios: None,
            e2e: None,
            bulk: None,
            memory: None,
            targets: Vec::new(),
            errors: Vec::new(),
            schemas_left: Vec::new(),
        }
    }

    pub fn failed(&mut self, workload: &'static str, e: &Error) {
        eprintln!("bench: {workload} failed: {e}");
        self.errors.push(WorkloadError { workload, message: e.to_string() });
    }

    pub fn note_schema(&mut self, db: &BenchDb) {
        if let Some(s) = &db.schema {
            self.schemas_left.push(s.clone());
        }
    }

    /// Works out the ratios and the targets (SQLite only: PostgreSQL has none).
    pub fn finish(&mut self) {
        self.finished_at = Some(now_text());
        self.machine.load_average_at_end = proc::load_average();
        if let (Some(i), Some(r)) = (&self.intake, &self.reference) {
            self.ratios = Some(Ratios {
                intake_vs_single_row_tx: i.closed.throughput / r.single_row_tx_per_s.max(1e-9),
                intake_vs_batched_rows: i.closed.throughput / r.batched_rows_per_s.max(1e-9),
            });
        }
        if self.backend != "sqlite" {
            return;
        }
        let mut t = Vec::new();
        if let Some(i) = &self.intake {
            let note = (i.closed.connections != 64)
                .then(|| format!("{} connections; the target is for 64", i.closed.connections));
            t.push(Target::at_least(
                "durable intake, closed loop",
                i.closed.throughput,
                INTAKE_TARGET_PER_S,
                "cases/s",
                note,
            ));
            let rate = i.open.target_rate.unwrap_or(0.0);
            let note = format!(
                "open loop at {} req/s; the target's load is {} req/s",
                num(rate),
                num(INTAKE_TARGET_PER_S / 2.0)
            );
            t.push(Target::at_most(
                "durable intake p99 at half load",
                i.open.latency.p99_ms,
                INTAKE_P99_TARGET_MS,
                "ms",
                Some(note),
            ));
        }
        if let Some(e) = &self.e2e {
            let note = (!e.completed).then(|| format!("only {} of {} cases closed", e.closed, e.cases));
            t.push(Target::at_least("end-to-end, open to closed", e.throughput, E2E_TARGET_PER_S, "cases/s", note));
        }
        if let Some(b) = &self.bulk {
            let note =
                (b.lines != BULK_TARGET_LINES).then(|| format!("{} lines; the target is for 1,000,000", b.lines));
            t.push(Target::at_most(
                "bulk import lines + bulk terminate",
                b.total_seconds,
                BULK_TARGET_SECONDS,
                "s",
                note,
            ));
        }
        if let (Some(m), Some(b)) = (&self.memory, &self.bulk) {
            let peak_mb = m.peak.hwm_kib.max(m.peak.rss_kib) as f64 * 1024.0 / 1e6;
            let note =
                (b.lines != BULK_TARGET_LINES).then(|| format!("{} lines; the target is for 1,000,000", b.lines));
            t.push(Target::at_most(
                "server RSS holding the bulk lines and cases",
                peak_mb,
                MEMORY_TARGET_MB,
                "MB",
                note,
            ));
        }
        self.targets = t;
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Failed(format!("report as JSON: {e}")))?;
        std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
    }
}

/// A number with thousands separators (no decimals above 100).
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.abs() < 100.0 && x.fract() != 0.0 {
        return format!("{x:.2}");
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn print_reference(r: &Reference) {
    println!("== reference: raw SQLite on this disk (WAL, synchronous=FULL)");
    println!(
        "  1 row per transaction:       {:>10} tx/s  ({:.3} ms per durable commit)",
        num(r.single_row_tx_per_s),
        r.single_commit_ms
    );
    println!("  {} rows per transaction:   {:>10} rows/s", num(r.batch_rows as f64), num(r.batched_rows_per_s));
}

fn print_phase(name: &str, p: &Phase) {
    let rate = p.target_rate.map(|r| format!(" at {} req/s", num(r))).unwrap_or_default();
    println!("  {name} ({} connections{rate}, {:.1} s):", p.connections, p.seconds);
    println!("    created:    {:>10} cases  = {} cases/s", num(p.created as f64), num(p.throughput));
    let l = &p.latency;
    let label = if p.mode == "open" { "latency (from intended start)" } else { "latency" };
    println!(
        "    {label}: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
    );
    if p.mode == "open" {
        let s = &p.service_time;
        println!(
            "    service time (from send):      p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms; {} sent > 2 ms late",
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            num(p.late_sends as f64)
        );
    }
    if !p.other_statuses.is_empty() || p.transport_errors > 0 {
        println!(
            "    not created: {:?} by status, {} transport errors{}",
            p.other_statuses,
            p.transport_errors,
            p.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        );
    }
    if p.ran_out_of_lines {
        println!("    stopped early: every seeded line was used (raise --intake-lines)");
    }
    if let (Some(s), Some(c)) = (p.server_cores, p.client_cores) {
        let writer = p.writer_thread_busy.map(|w| format!(" (its writer thread {:.0}% busy)", w * 100.0));
        println!("    CPU: server {s:.2} cores{}, load generator {c:.2} cores", writer.unwrap_or_default());
    }
}

pub fn print_intake(i: &Intake, reference: Option<&Reference>) {
    println!("== intake: POST /api/v1/cases over HTTP, durable (lineout serve as a child process)");
    println!(
        "  seeded {} accounts, {} lines in {:.1} s",
        num(i.seeded.accounts as f64),
        num(i.seeded.lines as f64),
        i.seeded.seconds
    );
    print_phase("closed loop", &i.closed);
    println!(
        "  outbox backlog after the closed loop: {} rows, delivered by the server in {:.1} s",
        num(i.backlog_after_closed as f64),
        i.drain_seconds
    );
    print_phase("open loop", &i.open);
    println!(
        "  server memory: peak RSS {} (VmHWM {}); shutdown on SIGTERM {:.1} s{}",
        mib(i.server_memory.rss_kib),
        mib(i.server_memory.hwm_kib),
        i.server_shutdown_seconds,
        if i.server_shutdown_clean { "" } else { " (not clean)" }
    );
    if let Some(r) = reference {
        println!(
            "  ratios: intake ÷ single-row tx/s = {:.2}; intake ÷ 1000-row rows/s = {:.3}",
            i.closed.throughput / r.single_row_tx_per_s.max(1e-9),
            i.closed.throughput / r.batched_rows_per_s.max(1e-9)
        );
    }
}

pub fn print_e2e(e: &E2e) {
    println!("== e2e: open → verify → approve → deprovision → notify → closed (in-process, fake adapters)");
    println!("  seeded {} lines in {:.1} s", num(e.seeded.lines as f64), e.seeded.seconds);
    println!(
        "  opened+verified {} cases in {:.1} s ({} cases/s, {} in flight); open p50 {:.1} ms p99 {:.1} ms; verify p99 {:.1} ms",
        num(e.verified as f64),
        e.intake_seconds,
        num(e.intake_rate),
        e.in_flight,
        e.open_latency.p50_ms,
        e.open_latency.p99_ms,
        e.verify_latency.p99_ms
    );
    println!(
        "  closed {} of {} cases in {:.1} s = {} cases/s{}",
        num(e.closed as f64),
        num(e.cases as f64),
        e.seconds,
        num(e.throughput),
        if e.completed { "" } else { " (INCOMPLETE)" }
    );
    println!("  final counts: {:?}", e.final_counts);
    println!(
        "  workers: {} timers fired, {} effects delivered ({} retried, {} dead), {} worker errors",
        num(e.timers_fired as f64),
        num(e.outbox_delivered as f64),
        e.outbox_retried,
        e.outbox_dead,
        e.worker_errors
    );
    println!(
        "  writer: {} commits, {} jobs, {:.1} jobs per commit, largest batch {}",
        num(e.commits as f64),
        num(e.jobs as f64),
        e.jobs_per_commit,
        e.largest_batch
    );
    if let Some(c) = e.cores {
        let writer = e.writer_thread_busy.map(|w| format!(" (writer thread {:.0}% busy)", w * 100.0));
        println!(
            "  CPU: {c:.2} cores{}; peak RSS {}",
            writer.unwrap_or_default(),
            e.peak_rss_kib.map(mib).unwrap_or_default()
        );
    }
    if let Some(f) = &e.first_failure {
        println!("  failures: {} opens, {} verifies (first: {f})", e.open_failures, e.verify_failures);
    }
}

pub fn print_bulk(b: &Bulk) {
    println!("== bulk: import lines + bulk terminate (in-process, the subcommands' functions)");
    println!(
        "  generated {} accounts, {} lines, {} terminations ({:.0} MB of CSV) in {:.1} s",
        num(b.accounts as f64),
        num(b.lines as f64),
        num(b.lines as f64),
        b.csv_bytes as f64 / 1e6,
        b.generate_seconds
    );
    for (name, p) in [
        ("import accounts (setup)", &b.import_accounts),
        ("import lines", &b.import_lines),
        ("bulk terminate", &b.terminate),
    ] {
        println!(
            "  {name:<24} {:>9} rows in {:>6.1} s = {:>9} rows/s; peak RSS {} (from {}); {}",
            num(p.rows as f64),
            p.seconds,
            num(p.rows_per_s),
            p.peak_rss_kib.map(mib).unwrap_or_default(),
            p.rss_before_kib.map(mib).unwrap_or_default(),
            p.summary
        );
    }
    println!(
        "  import lines + terminate: {:.1} s (effective date {}, {} opens in flight){}",
        b.total_seconds,
        b.effective_date,
        b.concurrency,
        b.database_bytes.map(|d| format!("; database {:.0} MB", d as f64 / 1e6)).unwrap_or_default()
    );
    if !b.peak_reset_worked {
        println!("  note: the kernel refused to reset the peak-RSS counter; peaks are the whole process's");
    }
}

pub fn print_memory(m: &MemoryReport, lines: u64) {
    println!("== memory: lineout serve holding {} lines and their cases", num(lines as f64));
    println!(
        "  RSS after start {}, after {} requests {}, peak {} (VmHWM {}) over {:.0} s with its workers running",
        mib(m.after_start.rss_kib),
        m.requests,
        mib(m.after_requests.rss_kib),
        mib(m.peak.rss_kib),
        mib(m.peak.hwm_kib),
        m.idle_seconds
    );
    if let (Some(before), Some(after)) = (m.outbox_pending_before, m.outbox_pending_after) {
        let timeline: Vec<String> = m.rss_timeline_kib.iter().map(|k| format!("{:.0}", *k as f64 / 1024.0)).collect();
        println!(
            "  meanwhile its workers delivered {} of {} pending effects; RSS each second (MiB): {}",
            num(before.saturating_sub(after) as f64),
            num(before as f64),
            timeline.join(" ")
        );
    }
    if m.failed_requests > 0 {
        println!("  {} requests failed (first: {})", m.failed_requests, m.first_failure.clone().unwrap_or_default());
    }
}

pub fn print_targets(r: &Report) {
    println!("== targets ({} build, {} backend)", r.build, r.backend);
    if r.build == "debug" {
        println!("  note: a debug build; run `cargo run --release -p lineout -- bench …` for real figures");
    }
    if let Some(l) = r.machine.load_average_at_start {
        println!("  load average at start: {:.2} {:.2} {:.2} on {} CPUs", l[0], l[1], l[2], r.machine.cpus);
    }
    if r.backend != "sqlite" {
        println!("  no targets on PostgreSQL: figures only");
    }
    for t in &r.targets {
        println!("  {}", t.line());
    }
    for e in &r.errors {
        println!("  {} did not run to the end: {}", e.workload, e.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_separators() {
        assert_eq!(num(15_000.0), "15,000");
        assert_eq!(num(1_234_567.4), "1,234,567");
        assert_eq!(num(999.0), "999");
        assert_eq!(num(12.345), "12.35");
        assert_eq!(num(-4_000.0), "-4,000");
    }

    #[test]
    fn targets_say_how_far_they_were_missed() {
        let t = Target::at_least("x", 12_000.0, 15_000.0, "cases/s", None);
        assert!(!t.met && (t.missed_by_percent - 20.0).abs() < 1e-9);
        assert!(t.line().contains("target missed by 20.0%"), "{}", t.line());
        let t = Target::at_most("y", 25.0, 20.0, "ms", Some("n".into()));
        assert!(!t.met && (t.missed_by_percent - 25.0).abs() < 1e-9);
        let t = Target::at_most("z", 19.0, 20.0, "ms", None);
        assert!(t.met && t.line().contains("target met"), "{}", t.line());
    }
}
