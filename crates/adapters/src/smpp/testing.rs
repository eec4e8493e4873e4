//! A real SMPP server for tests: [`SmppServer::start`] runs node-smpp (the npm
//! package `smpp`) through the small script in `tests-peers/smpp-server/server.js`
//! on a free port of 127.0.0.1, and kills it on drop. Compiled for this crate's
//! tests and, for other crates, behind the cargo feature `smpp-harness`.
//!
//! The server accepts one account, answers `submit_sm` with message ids, sends a
//! delivery receipt for each accepted message, and appends every bind, submit,
//! `enquire_link`, `deliver_sm_resp` and `unbind` it receives to a JSON-lines file
//! that [`SmppServer::submits`], [`SmppServer::binds`] and [`SmppServer::records`]
//! read back. [`SmppServerOptions`] makes it refuse binds, throttle submits, reject
//! destinations or drop the connection.
//!
//! When `node_modules` is missing in the peer folder, `start` runs `npm install` there
//! once (under a file lock). When `node` is missing or the install fails, it prints a
//! skip note and returns `None`, unless `LINEOUT_REQUIRE_SMPP=1` is set (as in CI):
//! then it panics. Being test support, the harness panics on any other failure.

use super::{BindMode, SmppConfig};
use serde_json::Value;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// Set to `1` to make a missing node or node-smpp fail the tests instead of skipping them.
pub const REQUIRE_ENV: &str = "LINEOUT_REQUIRE_SMPP";
/// Overrides the node binary (default: `node` on the `PATH`).
pub const NODE_ENV: &str = "LINEOUT_NODE_BIN";

const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The folder with `server.js`, `package.json` and (once installed) `node_modules`.
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-peers").join("smpp-server")
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// Skips (prints a note, `None`) or, when required, panics.
fn unavailable<T>(why: &str) -> Option<T> {
    if required() {
        panic!("{REQUIRE_ENV}=1 but the SMPP test server cannot run: {why}");
    }
    eprintln!("note: skipping an SMPP test: {why}");
    None
}

/// How the server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppServerOptions {
    /// The one account accepted (another system_id gets `ESME_RBINDFAIL`).
    pub system_id: String,
    /// Its password (a wrong one gets `ESME_RINVPASWD`).
    pub password: String,
    /// Answer the first N binds with `ESME_RBINDFAIL` (and close).
    pub refuse_binds_first: u32,
    /// Answer the first N submits with `ESME_RTHROTTLED`.
    pub throttle_first: u32,
    /// Then the next N with `ESME_RMSGQFUL`.
    pub queue_full_first: u32,
    /// Destinations (digits) answered `ESME_RINVDSTADR`.
    pub invalid_destinations: Vec<String>,
    /// Delay before each delivery receipt; `None` sends none.
    pub receipt_delay: Option<Duration>,
    /// The receipts' `stat:` value.
    pub receipt_stat: String,
    /// If set, the server sends `enquire_link` this often.
    pub enquire_link: Option<Duration>,
    /// If > 0, the server drops the connection after that many accepted submits.
    pub close_after_submits: u32,
}

impl Default for SmppServerOptions {
    fn default() -> Self {
        Self {
            system_id: "lineout".into(),
            password: "secret".into(),
            refuse_binds_first: 0,
            throttle_first: 0,
            queue_full_first: 0,
            invalid_destinations: Vec::new(),
            receipt_delay: Some(Duration::from_millis(50)),
            receipt_stat: "DELIVRD".into(),
            enquire_link: None,
            close_after_submits: 0,
        }
    }
}

impl SmppServerOptions {
    fn to_json(&self) -> String {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        serde_json::json!({
            "system_id": self.system_id,
            "password": self.password,
            "refuse_binds_first": self.refuse_binds_first,
            "throttle_first": self.throttle_first,
            "queue_full_first": self.queue_full_first,
            "invalid_destinations": self.invalid_destinations,
            "receipt_delay_ms": self.receipt_delay.map_or(-1, |d| i64::try_from(ms(d)).unwrap_or(i64::MAX)),
            "receipt_stat": self.receipt_stat,
            "enquire_link_ms": self.enquire_link.map_or(0, ms),
            "close_after_submits": self.close_after_submits,
        })
        .to_string()
    }
}

/// The concatenation IE of a recorded part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// A `submit_sm` as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSubmit {
    /// What the server answered.
    pub status: u32,
    /// The id it gave (accepted submits only).
    pub message_id: Option<String>,
    pub source_addr: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub destination_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub esm_class: u8,
    pub registered_delivery: u8,
    pub data_coding: u8,
    /// The whole short message (UDH included).
    pub short_message: Vec<u8>,
    /// The UDH, when `esm_class` has UDHI.
    pub udh: Option<Vec<u8>>,
    /// The short message after the UDH.
    pub payload: Vec<u8>,
    pub concat: Option<Concat>,
}

/// A bind attempt as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBind {
    /// `transmitter`, `transceiver` or `receiver`.
    pub bind: String,
    pub system_id: String,
    pub interface_version: u8,
    /// What the server answered.
    pub status: u32,
}

fn hex_bytes(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or("");
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

fn num<T: TryFrom<u64> + Default>(v: &Value) -> T {
    v.as_u64().and_then(|n| T::try_from(n).ok()).unwrap_or_default()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

/// A running node-smpp server, killed on drop.
#[derive(Debug)]
pub struct SmppServer {
    child: Child,
    /// Kept open: the server exits when its stdin closes (if this process dies).
    _stdin: Option<ChildStdin>,
    dir: tempfile::TempDir,
    port: u16,
    options: SmppServerOptions,
}

/// Installs node-smpp into the peer folder if it is missing (once, under a file lock).
fn ensure_node_modules(dir: &Path) -> Result<(), String> {
    let marker = dir.join("node_modules").join("smpp").join("package.json");
    if marker.exists() {
        return Ok(());
    }
    let lock_path = std::env::temp_dir().join("lineout-smpp-npm-install.lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| format!("lock file {}: {e}", lock_path.display()))?;
    lock.lock().map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    if marker.exists() {
        return Ok(());
    }
    eprintln!("note: installing node-smpp for the SMPP tests (npm install in {})", dir.display());
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running npm: {e}"))?;
    if !out.status.success() || !marker.exists() {
        return Err(format!(
            "npm install failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).chars().take(2000).collect::<String>()
        ));
    }
    Ok(())
}

impl SmppServer {
    /// Starts the server and waits until it listens; `None` (with a note on stderr) when
    /// node or node-smpp is not available and [`REQUIRE_ENV`] is not `1`.
    pub fn start(options: SmppServerOptions) -> Option<SmppServer> {
        let node = std::env::var(NODE_ENV).unwrap_or_else(|_| "node".to_owned());
        match Command::new(&node).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
            Ok(s) if s.success() => {}
            Ok(s) => return unavailable(&format!("`{node} --version` failed ({s})")),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return unavailable(&format!("`{node}` is not installed (apt-get install nodejs npm)"));
            }
            Err(e) => return unavailable(&format!("running `{node}`: {e}")),
        }
        let peer = peer_dir();
        if let Err(why) = ensure_node_modules(&peer) {
            return unavailable(&why);
        }
        let dir = match tempfile::Builder::new().prefix("lineout-smpp-").tempdir() {
            Ok(dir) => dir,
            Err(e) => panic!("SMPP harness: temporary directory: {e}"),
        };
        let records = dir.path().join("records.jsonl");
        let log = dir.path().join("server.log");
        if let Err(e) = std::fs::write(&records, "") {
            panic!("SMPP harness: creating {}: {e}", records.display());
        }
        let log_file = match std::fs::File::create(&log) {
            Ok(f) => f,
            Err(e) => panic!("SMPP harness: creating {}: {e}", log.display()),
        };
        let spawned = Command::new(&node)
            .arg(peer.join("server.js"))
            .arg("0")
            .arg(&records)
            .arg(options.to_json())
            .current_dir(&peer)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => panic!("SMPP harness: starting `{node} server.js`: {e}"),
        };
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            panic!("SMPP harness: no stdout from the server");
        };
        // Read the "listening <port>" line on a thread so the wait is bounded.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_default();
        let port = line.trim().strip_prefix("listening ").and_then(|p| p.parse::<u16>().ok());
        let mut server = SmppServer { child, _stdin: stdin, dir, port: port.unwrap_or(0), options };
        if port.is_none() {
            let _ = server.child.kill();
            let _ = server.child.wait();
            panic!("SMPP harness: the server did not start within {START_TIMEOUT:?}; log:\n{}", server.log());
        }
        Some(server)
    }

    /// The TCP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn options(&self) -> &SmppServerOptions {
        &self.options
    }

    /// An adapter config for this server (its account, a transceiver bind) with short
    /// timeouts and backoffs for tests.
    pub fn config(&self) -> SmppConfig {
        SmppConfig {
            bind: BindMode::Transceiver,
            source_addr: "Lineout".into(),
            source_ton: super::TON_ALPHANUMERIC,
            source_npi: 0,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(3),
            reconnect_base: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(400),
            throttle_base: Duration::from_millis(20),
            throttle_max: Duration::from_millis(100),
            bind_wait: Duration::from_secs(5),
            ..SmppConfig::new(self.addr(), self.options.system_id.clone(), self.options.password.clone())
        }
    }

    /// Every record so far (one JSON object per line, with a `kind`).
    pub fn records(&self) -> Vec<Value> {
        let path = self.dir.path().join("records.jsonl");
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// How many records of a kind (`bind`, `submit_sm`, `enquire_link`, `enquire_link_resp`,
    /// `deliver_sm_resp`, `unbind`, `closed_by_server`).
    pub fn count(&self, kind: &str) -> usize {
        self.records().iter().filter(|r| r["kind"] == kind).count()
    }

    /// The `submit_sm`s received, in order (accepted or not).
    pub fn submits(&self) -> Vec<RecordedSubmit> {
        self.records()
            .iter()
            .filter(|r| r["kind"] == "submit_sm")
            .map(|r| RecordedSubmit {
                status: num(&r["status"]),
                message_id: r["message_id"].as_str().map(str::to_owned),
                source_addr: text(&r["source_addr"]),
                source_addr_ton: num(&r["source_addr_ton"]),
                source_addr_npi: num(&r["source_addr_npi"]),
                destination_addr: text(&r["destination_addr"]),
                dest_addr_ton: num(&r["dest_addr_ton"]),
                dest_addr_npi: num(&r["dest_addr_npi"]),
                esm_class: num(&r["esm_class"]),
                registered_delivery: num(&r["registered_delivery"]),
                data_coding: num(&r["data_coding"]),
                short_message: hex_bytes(&r["short_message_hex"]),
                udh: r["udh_hex"].as_str().map(|_| hex_bytes(&r["udh_hex"])),
                payload: hex_bytes(&r["payload_hex"]),
                concat: r["concat"].is_object().then(|| Concat {
                    reference: num(&r["concat"]["ref"]),
                    total: num(&r["concat"]["total"]),
                    seq: num(&r["concat"]["seq"]),
                }),
            })
            .collect()
    }

    /// The accepted `submit_sm`s only.
    pub fn accepted(&self) -> Vec<RecordedSubmit> {
        self.submits().into_iter().filter(|s| s.status == 0).collect()
    }

    /// The bind attempts, in order.
    pub fn binds(&self) -> Vec<RecordedBind> {
        self.records()
            .iter()
            .filter(|r| r["kind"] == "bind")
            .map(|r| RecordedBind {
                bind: text(&r["bind"]),
                system_id: text(&r["system_id"]),
                interface_version: num(&r["interface_version"]),
                status: num(&r["status"]),
            })
            .collect()
    }

    /// Polls the records until `done` holds or `limit` passes; whether it held.
    pub async fn wait_until(&self, limit: Duration, done: impl Fn(&[Value]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if done(&self.records()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the server wrote to stderr (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server now (the port stops answering).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmppServer {
    fn drop(&mut self) {
        self.stop();
    }
}
