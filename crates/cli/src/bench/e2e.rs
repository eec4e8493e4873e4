//! The end-to-end workload: cases that run the whole workflow in-process, without HTTP.
//!
//! Every case is opened (channel `api`) and verified by an API client; having no
//! balance and no device it is settled at once, reviewed and approved by the default
//! auto-approve rule; with `withdrawal_window_hours = 0` its termination timer is due
//! immediately; the timer worker starts termination, the outbox workers deprovision
//! through the fake network, send the notices through the fake notifier, and the case
//! closes. Openers keep many cases in flight so the group-commit writer batches them;
//! the workers batch their claims and writes. The figure is closed cases per second
//! from the first open to the moment the last case was seen closed.

use super::histogram::{Histogram, Latency};
use super::seed::{self, Seeded};
use super::{BenchDb, data, proc};
use crate::config::Config;
use crate::error::{Error, Result};
use lineout_app::{Engine, LineRef, OpenRequest};
use lineout_domain::case::Actor;
use lineout_domain::values::{ActorId, LineId};
use lineout_domain::{Channel, Status, Timing};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often completion is polled.
const POLL: Duration = Duration::from_millis(200);
/// A worker that found nothing to do waits this long before asking again, rather than
/// flooding the writer with empty claim transactions.
const IDLE_PAUSE: Duration = Duration::from_millis(2);
/// The run is given up when no case changed status for this long.
const STALL: Duration = Duration::from_secs(60);

/// How to run the end-to-end workload.
#[derive(Debug, Clone, Copy)]
pub struct E2eOptions {
    pub cases: u64,
    /// Cases being opened and verified at once.
    pub in_flight: usize,
    pub outbox_workers: usize,
}

/// Case counts by status at a moment of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub seconds: f64,
    pub counts: BTreeMap<&'static str, u64>,
}

/// Everything the end-to-end workload measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct E2e {
    pub seeded: Seeded,
    pub cases: u64,
    pub in_flight: usize,
    pub outbox_workers: usize,
    pub opened: u64,
    pub verified: u64,
    pub open_failures: u64,
    pub verify_failures: u64,
    pub first_failure: Option<String>,
    /// From the first open until every open and verify was answered.
    pub intake_seconds: f64,
    /// Opens + verifies answered per second during intake (cases/s).
    pub intake_rate: f64,
    /// From the first open until the last case was seen closed (±0.2 s).
    pub seconds: f64,
    pub closed: u64,
    /// Closed cases per second over `seconds`.
    pub throughput: f64,
    /// Every case reached `closed`.
    pub completed: bool,
    pub final_counts: BTreeMap<&'static str, u64>,
    /// Counts by status about once a second.
    pub samples: Vec<Sample>,
    pub open_latency: Latency,
    pub verify_latency: Latency,
    pub timers_fired: u64,
    pub outbox_delivered: u64,
    pub outbox_retried: u64,
    pub outbox_dead: u64,
    pub worker_errors: u64,
    /// Group commits during the run and write jobs per commit.
    pub commits: u64,
    pub jobs: u64,
    pub jobs_per_commit: f64,
    pub largest_batch: u64,
    /// CPU cores this process used on average during the run.
    pub cores: Option<f64>,
    /// Share of one core used by the group-commit writer thread (1.0 = saturated).
    pub writer_thread_busy: Option<f64>,
    pub peak_rss_kib: Option<u64>,
}

fn counts_map(counts: &[(Status, u64)]) -> BTreeMap<&'static str, u64> {
    counts.iter().map(|(s, n)| (s.as_str(), *n)).collect()
}

fn count_of(counts: &[(Status, u64)], status: Status) -> u64 {
    counts.iter().filter(|(s, _)| *s == status).map(|(_, n)| n).sum()
}

#[derive(Default)]
struct WorkerTally {
    timers: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    errors: AtomicU64,
}

/// Runs the end-to-end workload on `db`.
pub fn run(db: &BenchDb, base: &Config, opts: E2eOptions) -> Result<E2e> {
    let mut config = db.config(base);
    config.policy.withdrawal_window_hours = 0;
    let numbers = data::Numbers::new().map_err(|e| Error::Failed(format!("number plan: {e}")))?;
    eprintln!("e2e: seeding {} lines …", opts.cases);
    let engine = crate::db::start_engine(&config)?;
    let seeded = seed::seed(&engine, opts.cases, 4, &numbers)?;
    eprintln!(
        "e2e: seeded in {:.1} s; running {} cases with {} in flight, 1 timer and {} outbox workers …",
        seeded.seconds, opts.cases, opts.in_flight, opts.outbox_workers
    );
    let mut e2e = crate::block_on_engine(engine, async |engine| drive(engine, opts).await)?;
    e2e.seeded = seeded;
    Ok(e2e)
}

async fn drive(engine: &Engine, opts: E2eOptions) -> Result<E2e> {
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(WorkerTally::default());
    let stats = engine.writer().stats();
    let (commits_before, jobs_before) = (stats.commits.load(Ordering::Relaxed), stats.jobs.load(Ordering::Relaxed));
    let cpu_before = proc::own_cpu_seconds();
    let writer_before = proc::thread_cpu_seconds(None, proc::WRITER_THREAD);
    let sampler = proc::MemorySampler::start(None, Duration::from_millis(200));
    let mut workers = tokio::task::JoinSet::new();
    {
        let (engine, stop, tally) = (engine.clone(), Arc::clone(&stop), Arc::clone(&tally));
        workers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match engine.run_due_timers().await {
                    Ok(0) => tokio::time::sleep(IDLE_PAUSE).await,
                    Ok(n) => {
                        tally.timers.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(code = e.code(), error = ?e, "bench timer step failed");
                        tokio::time::sleep(IDLE_PAUSE).await;
                    }
                }
            }
        });
    }
    for _ in 0..opts.outbox_workers.max(1) {
        let (engine, stop, tally) = (engine.clone(), Arc::clone(&stop), Arc::clone(&tally));
        workers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match engine.run_outbox().await {
                    Ok(step) if step.delivered + step.retried + step.dead == 0 => {
                        tokio::time::sleep(IDLE_PAUSE).await;
                    }
                    Ok(step) => {
                        tally.delivered.fetch_add(step.delivered as u64, Ordering::Relaxed);
                        tally.retried.fetch_add(step.retried as u64, Ordering::Relaxed);
                        tally.dead.fetch_add(step.dead as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(code = e.code(), error = ?e, "bench outbox step failed");
                        tokio::time::sleep(IDLE_PAUSE).await;
                    }
                }
            }
        });
    }

    let started = Instant::now();
    let opener = tokio::spawn(open_all(engine.clone(), opts));
    let mut e2e =
        E2e { cases: opts.cases, in_flight: opts.in_flight, outbox_workers: opts.outbox_workers, ..E2e::default() };
    let mut last_counts: Vec<(Status, u64)> = Vec::new();
    let mut last_change = Instant::now();
    let mut next_sample = Duration::ZERO;
    let mut opener = Some(opener);
    loop {
        tokio::time::sleep(POLL).await;
        if let Some(handle) = opener.take_if(|h| h.is_finished()) {
            let opened = handle.await.map_err(|e| Error::Failed(format!("opener task failed: {e}")))?;
            e2e.intake_seconds = started.elapsed().as_secs_f64();
            e2e.opened = opened.opened;
            e2e.verified = opened.verified;
            e2e.open_failures = opened.open_failures;
            e2e.verify_failures = opened.verify_failures;
            e2e.first_failure = opened.first_failure;
            e2e.open_latency = opened.open_latency.summary();
            e2e.verify_latency = opened.verify_latency.summary();
            e2e.intake_rate = opened.verified as f64 / e2e.intake_seconds.max(1e-9);
            eprintln!("e2e: {} cases opened and verified in {:.1} s", opened.verified, e2e.intake_seconds);
        }
        let counts = engine.case_counts().await?;
        let elapsed = started.elapsed();
        if elapsed >= next_sample {
            e2e.samples.push(Sample { seconds: elapsed.as_secs_f64(), counts: counts_map(&counts) });
            next_sample += Duration::from_secs(1);
        }
        if counts != last_counts {
            last_change = Instant::now();
            last_counts = counts;
        }
        let closed = count_of(&last_counts, Status::Closed);
        let terminal: u64 = last_counts.iter().filter(|(s, _)| s.is_terminal()).map(|(_, n)| n).sum();
        let opener_done = opener.is_none();
        if closed >= opts.cases || (opener_done && terminal >= e2e.verified.max(1) && terminal > 0) {
            e2e.completed = closed >= opts.cases;
            break;
        }
        if last_change.elapsed() > STALL {
            eprintln!("e2e: no case moved for {} s; giving up", STALL.as_secs());
            break;
        }
    }
    e2e.seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    if let Some(handle) = opener {
        handle.abort();
    }
    while workers.join_next().await.is_some() {}
    e2e.closed = count_of(&last_counts, Status::Closed);
    e2e.throughput = e2e.closed as f64 / e2e.seconds.max(1e-9);
    e2e.final_counts = counts_map(&last_counts);
    e2e.timers_fired = tally.timers.load(Ordering::Relaxed);
    e2e.outbox_delivered = tally.delivered.load(Ordering::Relaxed);
    e2e.outbox_retried = tally.retried.load(Ordering::Relaxed);
    e2e.outbox_dead = tally.dead.load(Ordering::Relaxed);
    e2e.worker_errors = tally.errors.load(Ordering::Relaxed);
    e2e.commits = stats.commits.load(Ordering::Relaxed) - commits_before;
    e2e.jobs = stats.jobs.load(Ordering::Relaxed) - jobs_before;
    e2e.jobs_per_commit = e2e.jobs as f64 / (e2e.commits.max(1)) as f64;
    e2e.largest_batch = stats.max_batch_seen.load(Ordering::Relaxed);
    e2e.cores = proc::own_cpu_seconds().zip(cpu_before).map(|(a, b)| (a - b) / e2e.seconds.max(1e-9));
    e2e.writer_thread_busy = proc::thread_cpu_seconds(None, proc::WRITER_THREAD)
        .zip(writer_before)
        .map(|(a, b)| (a - b) / e2e.seconds.max(1e-9));
    e2e.peak_rss_kib = Some(sampler.finish().rss_kib);
    Ok(e2e)
}

#[derive(Default)]
struct Opened {
    opened: u64,
    verified: u64,
    open_failures: u64,
    verify_failures: u64,
    first_failure: Option<String>,
    open_latency: Histogram,
    verify_latency: Histogram,
}

/// Opens and verifies every case, at most `in_flight` at once.
async fn open_all(engine: Engine, opts: E2eOptions) -> Opened {
    let mut out = Opened::default();
    let actor = match ActorId::parse("bench") {
        Ok(id) => Actor::Client(id),
        Err(e) => {
            out.first_failure = Some(e.to_string());
            return out;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..opts.cases {
        while tasks.len() >= opts.in_flight.max(1) {
            if let Some(r) = tasks.join_next().await {
                take(&mut out, r);
            }
        }
        let (engine, actor) = (engine.clone(), actor.clone());
        tasks.spawn(async move { one_case(&engine, n, actor).await });
    }
    while let Some(r) = tasks.join_next().await {
        take(&mut out, r);
    }
    out
}

fn take(out: &mut Opened, r: Result<Steps, tokio::task::JoinError>) {
    match r {
        Ok(steps) => {
            if let Some(us) = steps.open_us {
                out.opened += 1;
                out.open_latency.record(us);
            }
            if let Some(us) = steps.verify_us {
                out.verified += 1;
                out.verify_latency.record(us);
            }
            match steps.failure {
                Some((true, e)) => {
                    out.open_failures += 1;
                    out.first_failure.get_or_insert(e);
                }
                Some((false, e)) => {
                    out.verify_failures += 1;
                    out.first_failure.get_or_insert(e);
                }
                None => {}
            }
        }
        Err(e) => {
            out.open_failures += 1;
            out.first_failure.get_or_insert(e.to_string());
        }
    }
}

/// What happened to one case: open and verify times (µs), and the failure, if any
/// (`true` when opening failed).
struct Steps {
    open_us: Option<u64>,
    verify_us: Option<u64>,
    failure: Option<(bool, String)>,
}

async fn one_case(engine: &Engine, n: u64, actor: Actor) -> Steps {
    let mut steps = Steps { open_us: None, verify_us: None, failure: None };
    let line = match LineId::parse(&data::line_id(n)) {
        Ok(l) => l,
        Err(e) => {
            steps.failure = Some((true, e.to_string()));
            return steps;
        }
    };
    let req = OpenRequest {
        callback: false,
        kind: lineout_domain::case::CaseKind::Cancellation,
        line: LineRef::Id(line),
        channel: Channel::Api,
        timing: Timing::Immediate,
        note: None,
    };
    let t = Instant::now();
    let case = match engine.open_case(req, actor.clone()).await {
        Ok(c) => c,
        Err(e) => {
            steps.failure = Some((true, format!("{} [{}]", e, e.code())));
            return steps;
        }
    };
    steps.open_us = Some(t.elapsed().as_micros() as u64);
    let t = Instant::now();
    let verify = lineout_app::engine::VerificationRequest::OperatorToken;
    match engine.verify_identity(case.id, verify, None, actor).await {
        Ok(_) => steps.verify_us = Some(t.elapsed().as_micros() as u64),
        Err(e) => steps.failure = Some((false, format!("{} [{}]", e, e.code()))),
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_hundred_cases_run_to_closed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let db = BenchDb::sqlite(dir.path(), "e2e");
        let e2e = run(&db, &Config::default(), E2eOptions { cases: 300, in_flight: 64, outbox_workers: 2 })?;
        assert!(e2e.completed, "{:?}", e2e.final_counts);
        assert_eq!((e2e.opened, e2e.verified, e2e.closed), (300, 300, 300));
        assert_eq!(e2e.first_failure, None);
        assert!(e2e.timers_fired >= 300 && e2e.outbox_delivered >= 300 * 3, "{e2e:?}");
        Ok(())
    }
}
