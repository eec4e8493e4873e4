//! The memory workload: `lineout serve` started as a child on the database the bulk
//! workload filled (N lines, N cases), asked for its health, case pages, single cases
//! and line look-ups, then left running for a while with its workers delivering the
//! bulk cases' notices; its resident memory is sampled all along.

use super::http::{self, Client};
use super::proc::{Memory, MemorySampler, Server};
use super::{BenchDb, data};
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Case list pages walked.
const PAGES: usize = 20;
/// Single cases and line look-ups asked for.
const LOOKUPS: u64 = 100;

/// Everything the memory workload measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MemoryReport {
    /// Right after the server said it was serving.
    pub after_start: Memory,
    /// After the requests.
    pub after_requests: Memory,
    /// Largest VmRSS sampled and the final VmHWM, over the whole run.
    pub peak: Memory,
    pub requests: u64,
    pub failed_requests: u64,
    pub first_failure: Option<String>,
    pub cases_listed: u64,
    /// How long the server was left running with its workers after the requests.
    pub idle_seconds: f64,
    /// The server's RSS (KiB) about every second while it was left running.
    pub rss_timeline_kib: Vec<u64>,
    /// Outbox rows pending before and after that time (the worker delivers the bulk
    /// cases' notices meanwhile, through the fake notifier).
    pub outbox_pending_before: Option<u64>,
    pub outbox_pending_after: Option<u64>,
    pub shutdown_seconds: f64,
    pub shutdown_clean: bool,
}

/// Runs the memory workload against the bulk database.
pub fn run(
    db: &BenchDb,
    exe: &Path,
    config_file: Option<&Path>,
    token: &str,
    lines: u64,
    idle: Duration,
) -> Result<MemoryReport> {
    eprintln!("memory: starting lineout serve on the bulk database …");
    let server = Server::start(exe, config_file, &db.child())?;
    let sampler = MemorySampler::start(Some(server.pid()), Duration::from_millis(100));
    let after_start = server.memory().unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("runtime: {e}")))?;
    let mut report = runtime.block_on(requests(&server, token, lines))?;
    report.after_start = after_start;
    report.after_requests = server.memory().unwrap_or_default();
    eprintln!(
        "memory: {} requests answered; RSS {:.1} MiB; leaving the server's workers running for {} s …",
        report.requests,
        report.after_requests.rss_mib(),
        idle.as_secs()
    );
    report.outbox_pending_before = pending(db);
    let started = Instant::now();
    while started.elapsed() < idle {
        std::thread::sleep(Duration::from_secs(1).min(idle));
        report.rss_timeline_kib.push(server.memory().map_or(0, |m| m.rss_kib));
    }
    report.idle_seconds = started.elapsed().as_secs_f64();
    report.outbox_pending_after = pending(db);
    let mut peak = sampler.finish();
    if let Some(m) = server.memory() {
        peak.hwm_kib = peak.hwm_kib.max(m.hwm_kib);
        peak.rss_kib = peak.rss_kib.max(m.rss_kib);
    }
    report.peak = peak;
    let (shutdown, clean) = server.stop(Duration::from_secs(60));
    report.shutdown_seconds = shutdown.as_secs_f64();
    report.shutdown_clean = clean;
    Ok(report)
}

/// Outbox rows pending, read through the store's port (outside the runtime).
fn pending(db: &BenchDb) -> Option<u64> {
    let store = crate::db::open_store(&db.config(&crate::config::Config::default()).database).ok()?;
    let mut conn = store.connect(lineout_app::ports::Role::Reader).ok()?;
    conn.outbox_stats().ok().map(|s| s.pending)
}

async fn requests(server: &Server, token: &str, lines: u64) -> Result<MemoryReport> {
    let mut report = MemoryReport::default();
    let mut client = Client::new(server.addr);
    let host = client.host();
    let started = Instant::now();
    loop {
        let health = http::request("GET", "/health", &host, None, None);
        if client.send(&health).await.is_ok_and(|r| r.status == 200) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(Error::Failed(format!("lineout serve did not answer /health:\n{}", server.stderr_tail())));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut get = async |path: &str, report: &mut MemoryReport| -> Option<serde_json::Value> {
        report.requests += 1;
        let req = http::request("GET", path, &host, Some(token), None);
        match client.send(&req).await {
            Ok(r) if r.status == 200 => serde_json::from_slice(r.body).ok(),
            Ok(r) => {
                report.failed_requests += 1;
                report.first_failure.get_or_insert_with(|| format!("GET {path}: status {}", r.status));
                None
            }
            Err(e) => {
                report.failed_requests += 1;
                report.first_failure.get_or_insert_with(|| format!("GET {path}: {e}"));
                None
            }
        }
    };
    let mut ids: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..PAGES {
        let path = match &after {
            Some(a) => format!("/api/v1/cases?limit=500&after={a}"),
            None => "/api/v1/cases?limit=500".to_owned(),
        };
        let Some(page) = get(&path, &mut report).await else { break };
        let items = page["items"].as_array().cloned().unwrap_or_default();
        report.cases_listed += items.len() as u64;
        ids.extend(items.iter().step_by(100).filter_map(|c| c["id"].as_str().map(str::to_owned)));
        after = page["next_after"].as_str().map(str::to_owned);
        if after.is_none() {
            break;
        }
    }
    let _ = get("/api/v1/cases?status=approved&limit=500", &mut report).await;
    for id in ids.iter().take(LOOKUPS as usize) {
        let _ = get(&format!("/api/v1/cases/{id}"), &mut report).await;
    }
    let numbers = data::Numbers::new().map_err(|e| Error::Failed(format!("number plan: {e}")))?;
    let step = (lines / LOOKUPS).max(1);
    for n in (0..lines).step_by(step as usize).take(LOOKUPS as usize) {
        let msisdn = numbers.e164(n).replace('+', "%2B");
        let _ = get(&format!("/api/v1/lines?msisdn={msisdn}"), &mut report).await;
        let _ = get(&format!("/api/v1/accounts/{}", data::account_id(n / 4)), &mut report).await;
    }
    Ok(report)
}
