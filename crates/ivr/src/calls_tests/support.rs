//! Test support: an engine over a fresh SQLite database with a manual clock and fake
//! adapters, the FastAGI server on 127.0.0.1:0, and a scripted Asterisk that plays
//! Asterisk's side of the protocol byte for byte.

#![allow(dead_code)]

use crate::IvrConfig;
use lineout_adapters::fakes::{FakeNetwork, FakeNotifier, FakePayments};
use lineout_app::clock::{ManualClock, SequentialIds};
use lineout_app::ports::Store;
use lineout_app::{Adapters, Engine, EngineConfig};
use lineout_domain::account::{Account, AccountKind, Line, LineStatus, Locks, Plan};
use lineout_domain::values::{AccountId, Language, LineId, Money, Msisdn};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use time::macros::datetime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The correct PIN of the seeded accounts that have one.
pub const PIN: &str = "1234";
/// How long a test waits for the server before failing (never reached when all is well).
const GUARD: Duration = Duration::from_secs(20);

pub struct Harness {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// The test configuration: 6 s input timeout (as rendered in `GET DATA`), no agent.
pub fn config() -> IvrConfig {
    IvrConfig { max_calls: 8, ..IvrConfig::default() }
}

/// The seeded lines: `(line id, number, account)`.
/// - `L1`, `L2`, `L5`..`L9`: account `A1` (PIN 1234, English)
/// - `L3`: account `A2` (no PIN)
/// - `L4`: account `A3` (PIN 1234, locked against cancellation)
pub fn number(line: u32) -> String {
    format!("+1415200010{line}")
}
pub fn national(line: u32) -> String {
    format!("415200010{line}")
}
pub fn line_id(line: u32) -> LineId {
    LineId::parse(&format!("L{line}")).unwrap()
}

fn pin_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| lineout_app::secrets::hash(PIN, [7; 16]).unwrap()).clone()
}

fn account(id: &str, pin: bool, locked: bool) -> Account {
    Account {
        id: AccountId::parse(id).unwrap(),
        holder_name: "Test Holder".into(),
        email: None,
        alt_phone: None,
        language: Language::En,
        pin_hash: pin.then(pin_hash),
        locks: Locks { cancellation: locked, ..Locks::default() },
        billing_cycle_day: 1,
        kind: AccountKind::Residential,
        owed: Money::usd(0),
        prepaid_balance: Money::usd(0),
    }
}

fn line(n: u32, account: &str) -> Line {
    Line {
        id: line_id(n),
        account_id: AccountId::parse(account).unwrap(),
        msisdn: Msisdn::parse(&number(n)).unwrap(),
        iccid: None,
        imsi: None,
        eid: None,
        plan: Plan::Prepaid,
        status: LineStatus::Active,
    }
}

pub async fn start(config: IvrConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(lineout_store::SqliteStore::open(&dir.path().join("t.db")).unwrap());
    store.migrate().unwrap();
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-02 09:30 UTC)));
    let adapters = Adapters {
        network: Arc::new(FakeNetwork::default()),
        notifier: Arc::new(FakeNotifier::default()),
        payments: Arc::new(FakePayments::default()),
        webhooks: None,
    };
    // A web case may be verified by PIN here, so that one opened online can be compared
    // with one opened by phone (the default policy asks web customers for a code).
    let mut engine_config = EngineConfig::default();
    engine_config.policy.verification.methods.web.push(lineout_domain::case::VerificationMethod::Pin);
    let engine =
        Engine::start(store, clock.clone(), Arc::new(SequentialIds::default()), adapters, engine_config).unwrap();
    let accounts = vec![account("A1", true, false), account("A2", false, false), account("A3", true, true)];
    for row in engine.upsert_accounts(accounts).await.unwrap() {
        row.unwrap();
    }
    let mut lines = vec![line(1, "A1"), line(2, "A1"), line(3, "A2"), line(4, "A3")];
    lines.extend((5..=9).map(|n| line(n, "A1")));
    for row in engine.upsert_lines(lines).await.unwrap() {
        row.unwrap();
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(listener, engine.clone(), config, async {
        let _ = stopped.await;
    }));
    Harness { engine, clock, addr, stop: Some(stop), server: Some(server), _dir: dir }
}

impl Harness {
    /// Stops the server and checks that it ends cleanly once its calls are over.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(GUARD, server).await.expect("the server stops").unwrap().unwrap();
        }
    }

    /// Cases opened so far, by status.
    pub async fn case_count(&self) -> u64 {
        self.engine.case_counts().await.unwrap().iter().map(|(_, n)| n).sum()
    }

    /// A call from `callerid` to the `hotline` script.
    pub async fn call(&self, callerid: &str) -> Asterisk {
        Asterisk::dial(self.addr, "hotline", callerid).await
    }
}

/// Asterisk's side of one FastAGI connection.
pub struct Asterisk {
    io: BufReader<TcpStream>,
}

/// The variables Asterisk 20 sends, in its order (`res_agi.c`: `launch_netscript`, `setup_env`).
pub fn variables(script: &str, callerid: &str) -> String {
    format!(
        "agi_network: yes\n\
         agi_network_script: {script}\n\
         agi_request: agi://127.0.0.1:4573/{script}\n\
         agi_channel: PJSIP/trunk-00000001\n\
         agi_language: en\n\
         agi_type: PJSIP\n\
         agi_uniqueid: 1730539800.1\n\
         agi_version: 20.5.0\n\
         agi_callerid: {callerid}\n\
         agi_calleridname: unknown\n\
         agi_callingpres: 0\n\
         agi_callingani2: 0\n\
         agi_callington: 0\n\
         agi_callingtns: 0\n\
         agi_dnid: 8005550199\n\
         agi_rdnis: unknown\n\
         agi_context: hotline\n\
         agi_extension: 8005550199\n\
         agi_priority: 1\n\
         agi_enhanced: 0.0\n\
         agi_accountcode: \n\
         agi_threadid: 140536432477952\n\
         \n"
    )
}

impl Asterisk {
    /// Connects without sending anything.
    pub async fn connect(addr: SocketAddr) -> Self {
        Asterisk { io: BufReader::new(TcpStream::connect(addr).await.unwrap()) }
    }

    pub async fn dial(addr: SocketAddr, script: &str, callerid: &str) -> Self {
        let mut call = Self::connect(addr).await;
        call.send(&variables(script, callerid)).await;
        call
    }

    /// Writes raw bytes (a write to a connection the server closed is not an error here).
    pub async fn send(&mut self, raw: &str) {
        let _ = self.io.get_mut().write_all(raw.as_bytes()).await;
    }

    /// The next command line without its `\n`, or `None` once the server has closed.
    pub async fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        match tokio::time::timeout(GUARD, self.io.read_line(&mut line)).await.expect("the server answers in time") {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.strip_suffix('\n').expect("commands end with a newline").to_owned()),
        }
    }

    pub async fn expect(&mut self, command: &str) {
        assert_eq!(self.next().await.as_deref(), Some(command));
    }

    /// Expects a command and answers it.
    pub async fn answer(&mut self, command: &str, reply: &str) {
        self.expect(command).await;
        self.send(&format!("{reply}\n")).await;
    }

    /// A `STREAM FILE` of `<lang>/<name>` with no escape digits, played to the end.
    pub async fn hear(&mut self, file: &str) {
        self.answer(&format!("STREAM FILE lineout/{file} \"\""), "200 result=0 endpos=16000").await;
    }

    /// A `GET DATA` of `<lang>/<name>`, answered with the keys pressed.
    pub async fn key(&mut self, file: &str, max_digits: u8, keys: &str) {
        self.answer(&format!("GET DATA lineout/{file} 6000 {max_digits}"), &format!("200 result={keys}")).await;
    }

    /// A `SAY ALPHA`, answered; returns what was said.
    pub async fn say_alpha(&mut self) -> String {
        let line = self.next().await.expect("SAY ALPHA");
        let text =
            line.strip_prefix("SAY ALPHA ").and_then(|t| t.strip_suffix(" \"\"")).expect("SAY ALPHA <text> \"\"");
        self.send("200 result=0\n").await;
        text.to_owned()
    }

    /// The server's `HANGUP`, answered as Asterisk does (`result=1`, then its own
    /// `HANGUP` notice once the channel is down), and the connection's end.
    pub async fn hung_up_by_server(&mut self) {
        self.answer("HANGUP", "200 result=1").await;
        self.send("HANGUP\n").await;
        self.expect_end().await;
    }

    /// The server sends nothing more and closes; then this side closes too, as Asterisk
    /// does when it reads the end of the AGI stream.
    pub async fn expect_end(&mut self) {
        assert_eq!(self.next().await, None, "the server should have closed the call");
        let _ = self.io.get_mut().shutdown().await;
    }

    /// ANSWER, English chosen by key 1 during the language prompt, welcome.
    pub async fn english(&mut self) {
        self.answer("ANSWER", "200 result=0").await;
        self.answer("STREAM FILE lineout/en/language \"12\"", "200 result=49 endpos=5120").await;
        self.hear("en/welcome").await;
    }

    /// ANSWER, no key during the English prompt, 2 at the Chinese one, welcome.
    pub async fn chinese(&mut self) {
        self.answer("ANSWER", "200 result=0").await;
        self.answer("STREAM FILE lineout/en/language \"12\"", "200 result=0 endpos=20480").await;
        self.key("zh/language", 1, "2").await;
        self.hear("zh/welcome").await;
    }
}
