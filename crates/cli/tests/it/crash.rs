//! The crash test: `lineout serve` is killed with SIGKILL at random moments while
//! clients open and verify cases, then restarted, many times. Afterwards every case
//! whose creation was acknowledged exists exactly once, every hash chain verifies,
//! every projection equals its replay, and the fake adapters' journals show that no
//! effect was applied twice (a redelivery after a crash carries the same idempotency
//! key and is answered "already done").
//!
//! Iterations: `LINEOUT_CRASH_ITERATIONS` (default 20); seed: `LINEOUT_CRASH_SEED`
//! (printed, so a failure replays). Process start-up and the random kill moment are
//! real time: this test is about real processes, so it polls with short waits.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 6;
const LINES_PER_CLIENT: usize = 2_000;

/// A tiny deterministic generator for kill moments.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_server(db_url: &str, journal: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lineout"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("LINEOUT_DATABASE__URL", db_url)
        .env("LINEOUT_ADAPTERS__FAKE_JOURNAL_DIR", journal)
        .env("LINEOUT_SERVER__WORKER_INTERVAL_MS", "5")
        .env("LINEOUT_ENGINE__LEASE_MS", "1000")
        .env("LINEOUT_POLICY__WITHDRAWAL_WINDOW_HOURS", "0")
        .env("LINEOUT_LOG__LEVEL", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut c) = Client::connect(port)
            && c.request("GET", "/health", "", None).is_ok_and(|(s, _)| s == 200)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("lineout serve did not become healthy on port {port}");
}

/// A minimal HTTP/1.1 keep-alive client.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Client { reader: BufReader::new(stream.try_clone()?), writer: stream })
    }

    fn request(&mut self, method: &str, path: &str, body: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(req.as_bytes())?;
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad status"))?;
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            self.reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn field(json: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v[name].as_str().map(str::to_owned)
}

/// Opens and verifies cases on its own lines until told to stop or the server dies.
fn client_loop(
    port: u16,
    token: String,
    lines: Arc<Mutex<Vec<String>>>,
    acked: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
) {
    let Ok(mut client) = Client::connect(port) else { return };
    while !stop.load(Ordering::Relaxed) {
        let Some(line) = lines.lock().unwrap().pop() else { return };
        let body = format!(r#"{{"line_id":"{line}","channel":"api","timing":{{"kind":"immediate"}}}}"#);
        match client.request("POST", "/api/v1/cases", &body, Some(&token)) {
            Ok((201, resp)) => {
                let id = field(&resp, "id").unwrap();
                acked.lock().unwrap().push((id.clone(), line));
                let verify = r#"{"method":"operator_token"}"#;
                if client.request("POST", &format!("/api/v1/cases/{id}/verification"), verify, Some(&token)).is_err() {
                    return;
                }
            }
            // Refused (e.g. the line got a case just before a crash that was not acknowledged): skip the line.
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// `n` accounts with one prepaid line each, no balances, no devices.
fn plain_lines(n: usize) -> (Vec<lineout_domain::Account>, Vec<lineout_domain::Line>) {
    use lineout_domain::account::{Account, AccountKind, Line, LineStatus, Locks, Plan};
    use lineout_domain::values::{AccountId, Language, LineId, Money, Msisdn};
    let mut accounts = Vec::with_capacity(n);
    let mut lines = Vec::with_capacity(n);
    for i in 0..n {
        let account = AccountId::parse(&format!("CA{i}")).unwrap();
        accounts.push(Account {
            id: account.clone(),
            holder_name: "Crash Test".into(),
            email: None,
            alt_phone: None,
            language: Language::En,
            pin_hash: None,
            locks: Locks::default(),
            billing_cycle_day: 1,
            kind: AccountKind::Residential,
            owed: Money::usd(0),
            prepaid_balance: Money::usd(0),
        });
        lines.push(Line {
            id: LineId::parse(&format!("CL{i}")).unwrap(),
            account_id: account,
            msisdn: Msisdn::parse(&format!("+1415{:07}", 2_000_000 + i)).unwrap(),
            iccid: None,
            imsi: None,
            eid: None,
            plan: Plan::Prepaid,
            status: LineStatus::Active,
        });
    }
    (accounts, lines)
}

#[test]
fn killing_the_server_loses_no_acknowledged_case_and_applies_no_effect_twice() {
    let iterations: u64 = std::env::var("LINEOUT_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("LINEOUT_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5EED_1234);
    println!("crash test: {iterations} iterations, LINEOUT_CRASH_SEED={seed}");
    let mut rng = Lcg(seed);
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let journal = dir.path().join("journal");

    // Seed accounts and lines, and a token, in-process; then let go of the database.
    let mut config = lineout::config::Config::default();
    config.database.url = db_url.clone();
    let engine = lineout::db::start_engine(&config).unwrap();
    let total = CLIENTS * LINES_PER_CLIENT;
    let rows = plain_lines(total);
    assert!(engine.upsert_accounts_blocking(rows.0).unwrap().iter().all(Result::is_ok));
    let line_ids: Vec<String> = rows.1.iter().map(|l| l.id.as_str().to_owned()).collect();
    assert!(engine.upsert_lines_blocking(rows.1).unwrap().iter().all(Result::is_ok));
    let token = lineout::block_on_engine(engine, async |e| {
        Ok(e.create_token(vec!["admin".into()], "crash".into()).await.unwrap().1)
    })
    .unwrap();

    let lines = Arc::new(Mutex::new(line_ids));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    for i in 0..iterations {
        let port = free_port();
        let mut server = start_server(&db_url, &journal, port);
        wait_healthy(port);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (token, lines, acked, stop) = (token.clone(), lines.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || client_loop(port, token, lines, acked, stop))
            })
            .collect();
        let kill_after = Duration::from_millis(20 + rng.next(400));
        std::thread::sleep(kill_after);
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        println!(
            "iteration {i}: killed after {kill_after:?}; {} cases acknowledged so far",
            acked.lock().unwrap().len()
        );
    }

    // A last, clean run lets the workers finish what the crashes interrupted.
    let port = free_port();
    let mut server = start_server(&db_url, &journal, port);
    wait_healthy(port);
    let mut config = lineout::config::Config::default();
    config.database.url = db_url.clone();
    let engine = lineout::db::start_engine(&config).unwrap();
    let runtime = lineout::runtime().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = runtime.block_on(engine.outbox_stats()).unwrap();
        let timer = runtime.block_on(engine.earliest_timer()).unwrap();
        let due_timer = timer.is_some_and(|t| t <= engine.now());
        if stats.pending == 0 && !due_timer {
            break;
        }
        assert!(Instant::now() < deadline, "the workers did not drain: {stats:?}, timer {timer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "no case was acknowledged: the test did not exercise anything");
    let ids: HashSet<&str> = acked.iter().map(|(id, _)| id.as_str()).collect();
    let acked_lines: HashSet<&str> = acked.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(ids.len(), acked.len(), "a case id was acknowledged twice");
    assert_eq!(acked_lines.len(), acked.len(), "a line got two acknowledged cases");
    for (id, line) in &acked {
        let case = runtime
            .block_on(engine.case(id.parse().unwrap()))
            .unwrap_or_else(|e| panic!("acknowledged case {id} lost: {e}"));
        assert_eq!(case.facts.line_id.as_str(), line);
        assert!(
            runtime.block_on(engine.projection_matches_replay(id.parse().unwrap())).unwrap(),
            "{id}: projection differs from replay"
        );
    }
    let report = engine.audit_blocking().unwrap();
    assert_eq!(report.first_break, None);
    let stats = runtime.block_on(engine.outbox_stats()).unwrap();
    assert_eq!((stats.pending, stats.dead), (0, 0));

    // No effect applied twice: one deprovisioning per case, one notice of each kind per case.
    let mut applied = 0;
    for log in ["network.log", "notifier.log", "payments.log"] {
        let text = std::fs::read_to_string(journal.join(log)).unwrap_or_default();
        let mut keys = HashSet::new();
        let mut subjects: HashMap<String, u32> = HashMap::new();
        for line in text.lines() {
            let (key, subject) = line.split_once('\t').unwrap();
            assert!(keys.insert(key.to_owned()), "{log}: effect {key} applied twice");
            *subjects.entry(subject.to_owned()).or_default() += 1;
            applied += 1;
        }
        let twice: Vec<_> = subjects.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{log}: applied more than once: {twice:?}");
    }
    let closed = runtime.block_on(engine.case_counts()).unwrap();
    println!(
        "crash test done: {} acknowledged cases, {applied} effects applied once each, statuses {closed:?}",
        acked.len()
    );
    drop(runtime);
    drop(engine);
}

#[test]
fn lineout_serve_answers_the_hotline_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("ivr.db").display());
    let (http, agi) = (free_port(), free_port());
    let mut server = Command::new(env!("CARGO_BIN_EXE_lineout"))
        .args(["serve", "--listen", &format!("127.0.0.1:{http}")])
        .env("LINEOUT_DATABASE__URL", &db_url)
        .env("LINEOUT_IVR__ENABLED", "true")
        .env("LINEOUT_IVR__LISTEN", format!("127.0.0.1:{agi}"))
        .env("LINEOUT_LOG__LEVEL", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(http);
    // Play Asterisk: the agi_* variables, a blank line, then expect the first command.
    let stream = TcpStream::connect(("127.0.0.1", agi)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    writer
        .write_all(b"agi_network: yes\nagi_network_script: hotline\nagi_request: agi://127.0.0.1/hotline\nagi_channel: PJSIP/test-1\nagi_callerid: unknown\nagi_uniqueid: 1700000000.1\n\n")
        .unwrap();
    let mut first = String::new();
    BufReader::new(stream).read_line(&mut first).unwrap();
    assert_eq!(first.trim_end(), "ANSWER");
    server.kill().unwrap();
    server.wait().unwrap();
}
