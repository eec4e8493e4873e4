//! The intake workload: `POST /api/v1/cases` over HTTP against a `lineout serve` child
//! process, each request acknowledged only after its commit is on disk.
//!
//! Phase 1 is a closed loop (every connection sends its next request as soon as the
//! previous one is answered) and gives the sustained throughput. Phase 2 is an open
//! loop at a fixed rate (half of phase 1's by default) and gives latency measured from
//! each request's intended start time. Between the phases the server's outbox (the
//! "request received" notices of phase 1) is left to drain, so phase 2 sees a steady
//! server rather than phase 1's backlog.

use super::histogram::{Histogram, Latency};
use super::http::{self, Client};
use super::pacer::Schedule;
use super::proc::{self, Memory, MemorySampler, Server};
use super::seed::{self, Seeded};
use super::{BenchDb, data};
use crate::config::Config;
use crate::error::{Error, Result};
use lineout_app::ports::Role;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lines per seeded account.
const LINES_PER_ACCOUNT: u64 = 4;
/// Longest wait for the server's outbox to drain between the phases.
const DRAIN_LIMIT: Duration = Duration::from_secs(180);
/// A request sent this much after its intended time counts as late. The runtime's timer
/// has a 1 ms granularity, so an on-time request may wake up to about 1 ms after its slot.
const LATE: Duration = Duration::from_millis(2);

/// How to run the intake workload.
#[derive(Debug, Clone)]
pub struct IntakeOptions {
    pub seconds: u64,
    pub connections: usize,
    /// Lines seeded; each request uses a new one.
    pub lines: u64,
    /// Phase 2's rate; `None`: half of phase 1's throughput.
    pub rate: Option<f64>,
    pub exe: std::path::PathBuf,
    pub config_file: Option<std::path::PathBuf>,
}

/// The figures of one load phase.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Phase {
    /// `closed` or `open`.
    pub mode: &'static str,
    pub connections: usize,
    /// Open loop: the rate asked for (requests/s).
    pub target_rate: Option<f64>,
    pub seconds: f64,
    /// Requests answered 201 Created.
    pub created: u64,
    /// Created per second.
    pub throughput: f64,
    /// Every other status, with its count.
    pub other_statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connection errors).
    pub transport_errors: u64,
    pub first_error: Option<String>,
    /// Open loop: from the intended start; closed loop: from the send.
    pub latency: Latency,
    /// From the moment the request was written (both loops).
    pub service_time: Latency,
    /// Open loop: requests sent more than 2 ms after their intended time.
    pub late_sends: u64,
    /// The phase stopped early because every seeded line had been used.
    pub ran_out_of_lines: bool,
    /// CPU cores used on average by the server and by the load generator.
    pub server_cores: Option<f64>,
    pub client_cores: Option<f64>,
    /// Share of one core used by the server's group-commit writer thread (1.0 = saturated).
    pub writer_thread_busy: Option<f64>,
}

/// Everything the intake workload measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Intake {
    pub seeded: Seeded,
    pub closed: Phase,
    /// Outbox rows pending after phase 1, and how long the server took to deliver them.
    pub backlog_after_closed: u64,
    pub drain_seconds: f64,
    pub open: Phase,
    /// The server's resident memory: largest VmRSS sampled and its VmHWM at the end.
    pub server_memory: Memory,
    pub server_shutdown_seconds: f64,
    pub server_shutdown_clean: bool,
}

/// Runs the intake workload on `db`.
pub fn run(db: &BenchDb, base: &Config, opts: &IntakeOptions) -> Result<Intake> {
    let config = db.config(base);
    let numbers = data::Numbers::new().map_err(|e| Error::Failed(format!("number plan: {e}")))?;
    eprintln!("intake: seeding {} lines …", opts.lines);
    let engine = crate::db::start_engine(&config)?;
    let seeded = seed::seed(&engine, opts.lines, LINES_PER_ACCOUNT, &numbers)?;
    eprintln!(
        "intake: seeded {} accounts and {} lines in {:.1} s; starting lineout serve …",
        seeded.accounts, seeded.lines, seeded.seconds
    );
    let (_, token) = crate::block_on_engine(engine, async |e| {
        Ok(e.create_token(vec!["admin".into()], "bench intake".into()).await?)
    })?;
    let server = Server::start(&opts.exe, opts.config_file.as_deref(), &db.child())?;
    let sampler = MemorySampler::start(Some(server.pid()), Duration::from_millis(100));
    let result = drive(&server, &config, &token, &seeded, opts);
    let mut server_memory = sampler.finish();
    if let Some(m) = server.memory() {
        server_memory.hwm_kib = server_memory.hwm_kib.max(m.hwm_kib);
    }
    let (shutdown, clean) = server.stop(Duration::from_secs(60));
    let mut intake = result?;
    intake.seeded = seeded;
    intake.server_memory = server_memory;
    intake.server_shutdown_seconds = shutdown.as_secs_f64();
    intake.server_shutdown_clean = clean;
    Ok(intake)
}

fn drive(server: &Server, config: &Config, token: &str, seeded: &Seeded, opts: &IntakeOptions) -> Result<Intake> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("load generator runtime: {e}")))?;
    runtime.block_on(wait_healthy(server))?;
    let next = Arc::new(AtomicU64::new(0));
    let window = Duration::from_secs(opts.seconds);
    eprintln!("intake: phase 1, closed loop, {} connections, {} s …", opts.connections, opts.seconds);
    let closed = measured(server, || {
        runtime.block_on(load(server.addr, token, &next, seeded.lines, opts.connections, None, window))
    });
    eprintln!("intake: phase 1: {:.0} created/s; waiting for the server's outbox to drain …", closed.throughput);
    let (backlog, drain) = wait_for_outbox(config)?;
    let rate = opts.rate.unwrap_or(closed.throughput / 2.0).max(1.0);
    eprintln!("intake: phase 2, open loop at {rate:.0} requests/s, {} s …", opts.seconds);
    let open = measured(server, || {
        runtime.block_on(load(server.addr, token, &next, seeded.lines, opts.connections, Some(rate), window))
    });
    Ok(Intake { closed, backlog_after_closed: backlog, drain_seconds: drain.as_secs_f64(), open, ..Intake::default() })
}

/// Runs a phase and adds the CPU used by the server and by this process meanwhile.
fn measured(server: &Server, phase: impl FnOnce() -> Phase) -> Phase {
    let (server_before, own_before) = (server.cpu_seconds(), proc::own_cpu_seconds());
    let writer_before = server.writer_cpu_seconds();
    let mut p = phase();
    let secs = p.seconds.max(1e-9);
    p.server_cores = server.cpu_seconds().zip(server_before).map(|(a, b)| (a - b) / secs);
    p.client_cores = proc::own_cpu_seconds().zip(own_before).map(|(a, b)| (a - b) / secs);
    p.writer_thread_busy = server.writer_cpu_seconds().zip(writer_before).map(|(a, b)| (a - b) / secs);
    p
}

async fn wait_healthy(server: &Server) -> Result<()> {
    let mut client = Client::new(server.addr);
    let req = http::request("GET", "/health", &client.host(), None, None);
    let started = Instant::now();
    loop {
        if let Ok(r) = client.send(&req).await
            && r.status == 200
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(Error::Failed(format!(
                "lineout serve did not answer /health; its stderr:\n{}",
                server.stderr_tail()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the server has delivered every pending outbox row; returns the backlog
/// found and how long it took. Reads through the store's port, outside the runtime.
fn wait_for_outbox(config: &Config) -> Result<(u64, Duration)> {
    let store = crate::db::open_store(&config.database)?;
    let mut conn = store.connect(Role::Reader)?;
    let started = Instant::now();
    let backlog = conn.outbox_stats()?.pending;
    loop {
        let pending = conn.outbox_stats()?.pending;
        if pending == 0 || started.elapsed() > DRAIN_LIMIT {
            return Ok((backlog, started.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One connection's tally.
#[derive(Default)]
struct Tally {
    created: u64,
    other: BTreeMap<u16, u64>,
    transport_errors: u64,
    first_error: Option<String>,
    latency: Histogram,
    service: Histogram,
    late: u64,
    ran_out: bool,
    last_done: Option<Instant>,
}

fn body_for(n: u64) -> String {
    format!(r#"{{"line_id":"{}","channel":"api","timing":{{"kind":"immediate"}}}}"#, data::line_id(n))
}

/// Runs `connections` connections for `window`: closed loop when `rate` is `None`,
/// else open loop at `rate` requests/s in total.
async fn load(
    addr: SocketAddr,
    token: &str,
    next: &Arc<AtomicU64>,
    lines: u64,
    connections: usize,
    rate: Option<f64>,
    window: Duration,
) -> Phase {
    let start = Instant::now();
    let deadline = start + window;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..connections {
        let next = Arc::clone(next);
        let token = token.to_owned();
        let schedule = rate.map(|r| Schedule::new(i as u64, connections as u64, r));
        tasks.spawn(async move {
            let mut client = Client::new(addr);
            let host = client.host();
            let mut t = Tally::default();
            let mut k = 0u64;
            loop {
                let intended = match schedule {
                    Some(s) => {
                        let due = start + s.due(k);
                        k += 1;
                        if due >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        now
                    }
                };
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= lines {
                    t.ran_out = true;
                    break;
                }
                let req = http::request("POST", "/api/v1/cases", &host, Some(&token), Some(&body_for(n)));
                let sent = Instant::now();
                if sent.duration_since(intended) > LATE {
                    t.late += 1;
                }
                let outcome = client.send(&req).await.map(|r| r.status);
                let done = Instant::now();
                t.last_done = Some(done);
                match outcome {
                    Ok(status) => {
                        t.latency.record(done.duration_since(intended).as_micros() as u64);
                        t.service.record(done.duration_since(sent).as_micros() as u64);
                        if status == 201 {
                            t.created += 1;
                        } else {
                            *t.other.entry(status).or_insert(0) += 1;
                        }
                    }
                    Err(e) => {
                        t.transport_errors += 1;
                        t.first_error.get_or_insert_with(|| e.to_string());
                        // Do not spin on a server that is gone.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            t
        });
    }
    let mut all = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let Ok(t) = joined else {
            all.transport_errors += 1;
            all.first_error.get_or_insert_with(|| "a connection task failed".into());
            continue;
        };
        all.created += t.created;
        for (status, count) in t.other {
            *all.other.entry(status).or_insert(0) += count;
        }
        all.transport_errors += t.transport_errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
        all.latency.merge(&t.latency);
        all.service.merge(&t.service);
        all.late += t.late;
        all.ran_out |= t.ran_out;
        all.last_done = all.last_done.max(t.last_done);
    }
    let seconds = all.last_done.map_or(window, |d| d.duration_since(start)).as_secs_f64().max(1e-9);
    Phase {
        mode: if rate.is_some() { "open" } else { "closed" },
        connections,
        target_rate: rate,
        seconds,
        created: all.created,
        throughput: all.created as f64 / seconds,
        other_statuses: all.other,
        transport_errors: all.transport_errors,
        first_error: all.first_error,
        latency: all.latency.summary(),
        service_time: all.service.summary(),
        late_sends: all.late,
        ran_out_of_lines: all.ran_out,
        server_cores: None,
        client_cores: None,
        writer_thread_busy: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_name_a_distinct_line() {
        assert_eq!(body_for(7), r#"{"line_id":"BL00000007","channel":"api","timing":{"kind":"immediate"}}"#);
        let parsed: serde_json::Value = serde_json::from_str(&body_for(12)).unwrap_or_default();
        assert_eq!(parsed["line_id"], "BL00000012");
    }

    #[tokio::test]
    async fn the_load_generator_counts_statuses_and_stops_when_lines_run_out() -> Result<(), Box<dyn std::error::Error>>
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // A fake server: answers each request 201, except every third 409.
        tokio::spawn(async move {
            let mut served = 0u32;
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        buf.drain(..end + 4 + len);
                        served += 1;
                        let status = if served.is_multiple_of(3) { "409 Conflict" } else { "201 Created" };
                        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\n{{}}");
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let next = Arc::new(AtomicU64::new(0));
        let phase = load(addr, "t", &next, 30, 3, None, Duration::from_secs(5)).await;
        assert!(phase.ran_out_of_lines);
        assert_eq!(phase.created + phase.other_statuses.values().sum::<u64>(), 30, "{phase:?}");
        assert_eq!(phase.other_statuses.get(&409), Some(&10));
        assert_eq!(phase.transport_errors, 0);
        assert_eq!(phase.latency.count, 30);
        let next = Arc::new(AtomicU64::new(0));
        let open = load(addr, "t", &next, 1_000, 2, Some(100.0), Duration::from_millis(200)).await;
        assert_eq!(open.created + open.other_statuses.values().sum::<u64>(), 20, "{open:?}");
        assert_eq!(open.mode, "open");
        Ok(())
    }
}
