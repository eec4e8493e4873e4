//! A throwaway osmo-hlr for tests: [`OsmoHlr::start`] runs the real `osmo-hlr`
//! binary with a temporary directory (config file, database, log) and kills it on
//! drop. Compiled for this crate's tests and, for other crates, behind the cargo
//! feature `osmo-hlr-harness`.
//!
//! osmo-hlr 1.5 cannot move its CTRL (4259) or GSUP (4222) ports, only their
//! addresses, so each instance gets its own random loopback address `127.x.y.z`
//! (Linux routes all of 127.0.0.0/8 to `lo`) with the default ports. That keeps
//! parallel tests apart and never touches a system instance on 127.0.0.1:4259 (or
//! anything else on 127.0.0.1:4222). Where only 127.0.0.1 exists it is used if free.
//!
//! When the binary is missing, `start` prints a skip note and returns `None`, unless
//! `LINEOUT_REQUIRE_OSMO_HLR=1` is set (as in CI): then it panics. Being test
//! support, the harness panics on any other failure, with osmo-hlr's log.

use super::{CtrlClient, CtrlReply, OsmoHlrConfig, OsmoHlrNetwork};
use rand::RngExt;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set to `1` to make a missing `osmo-hlr` binary fail the tests instead of skipping them.
pub const REQUIRE_ENV: &str = "LINEOUT_REQUIRE_OSMO_HLR";
/// Overrides the binary to run (default: `osmo-hlr` on the `PATH`).
pub const BIN_ENV: &str = "OSMO_HLR_BIN";

const CTRL_PORT: u16 = super::DEFAULT_CTRL_PORT;
const GSUP_PORT: u16 = 4222;
const VTY_PORT: u16 = 4258;
const START_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPTS: usize = 5;

/// A running osmo-hlr, stopped (killed) on drop.
#[derive(Debug)]
pub struct OsmoHlr {
    child: Child,
    dir: tempfile::TempDir,
    ip: Ipv4Addr,
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// A loopback address on which osmo-hlr's three ports are free.
fn free_loopback() -> Option<Ipv4Addr> {
    let mut rng = rand::rng();
    for _ in 0..20 {
        let ip = Ipv4Addr::new(127, rng.random_range(1..=254), rng.random(), rng.random_range(1..=254));
        match ports_free(ip) {
            Ok(true) => return Some(ip),
            Ok(false) => continue,
            // This system has only 127.0.0.1 (e.g. macOS): use it when it is free.
            Err(_) => break,
        }
    }
    match ports_free(Ipv4Addr::LOCALHOST) {
        Ok(true) => Some(Ipv4Addr::LOCALHOST),
        _ => None,
    }
}

/// Whether osmo-hlr's ports are free on `ip`; an error when `ip` cannot be bound at all.
fn ports_free(ip: Ipv4Addr) -> std::io::Result<bool> {
    for port in [CTRL_PORT, GSUP_PORT, VTY_PORT] {
        match TcpListener::bind((ip, port)) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AddrInUse => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn config_text(ip: Ipv4Addr) -> String {
    format!(
        "! written by lineout's test harness\n\
         log stderr\n logging filter all 1\n logging color 0\n logging print category 1\n\
         \x20logging level main notice\n logging level db notice\n logging level linp error\n\
         line vty\n bind {ip}\n\
         ctrl\n bind {ip}\n\
         hlr\n gsup\n  bind ip {ip}\n"
    )
}

impl OsmoHlr {
    /// Starts osmo-hlr and waits until its CTRL port answers; `None` (with a note on
    /// stderr) when the binary is not installed and [`REQUIRE_ENV`] is not `1`.
    pub fn start() -> Option<OsmoHlr> {
        let bin = std::env::var(BIN_ENV).unwrap_or_else(|_| "osmo-hlr".to_owned());
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let Some(ip) = free_loopback() else {
                panic!("osmo-hlr harness: no loopback address with ports {CTRL_PORT}, {GSUP_PORT}, {VTY_PORT} free");
            };
            let dir = match tempfile::Builder::new().prefix("lineout-osmo-hlr-").tempdir() {
                Ok(dir) => dir,
                Err(e) => panic!("osmo-hlr harness: temporary directory: {e}"),
            };
            let cfg = dir.path().join("osmo-hlr.cfg");
            let log = dir.path().join("osmo-hlr.log");
            let db = dir.path().join("hlr.db");
            if let Err(e) = std::fs::write(&cfg, config_text(ip)) {
                panic!("osmo-hlr harness: writing {}: {e}", cfg.display());
            }
            let (out, err) = match std::fs::File::create(&log).and_then(|f| Ok((f.try_clone()?, f))) {
                Ok(files) => files,
                Err(e) => panic!("osmo-hlr harness: creating {}: {e}", log.display()),
            };
            let spawned = Command::new(&bin)
                .arg("-c")
                .arg(&cfg)
                .arg("-l")
                .arg(&db)
                .arg("-s")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    if required() {
                        panic!("{REQUIRE_ENV}=1 but `{bin}` is not installed (apt-get install osmo-hlr)");
                    }
                    eprintln!("note: skipping an osmo-hlr test: `{bin}` is not installed (apt-get install osmo-hlr)");
                    return None;
                }
                Err(e) => panic!("osmo-hlr harness: starting `{bin}`: {e}"),
            };
            let mut hlr = OsmoHlr { child, dir, ip };
            match hlr.wait_ready() {
                Ok(()) => return Some(hlr),
                // Most likely another process took a port between the check and the bind: try elsewhere.
                Err(exited) if exited => last_log = hlr.log(),
                Err(_) => {
                    panic!("osmo-hlr harness: CTRL did not come up within {START_TIMEOUT:?}; log:\n{}", hlr.log())
                }
            }
        }
        panic!("osmo-hlr harness: osmo-hlr exited at start {ATTEMPTS} times; last log:\n{last_log}");
    }

    /// Polls the CTRL port; `Err(true)` if the process exited, `Err(false)` on timeout.
    fn wait_ready(&mut self) -> Result<(), bool> {
        let start = Instant::now();
        while start.elapsed() < START_TIMEOUT {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return Err(true);
            }
            if TcpStream::connect_timeout(&self.ctrl_addr(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(false)
    }

    /// The CTRL interface's address.
    pub fn ctrl_addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, CTRL_PORT))
    }

    /// An adapter config for this instance, with short timeouts for tests.
    pub fn config(&self) -> OsmoHlrConfig {
        OsmoHlrConfig {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(2),
            ..OsmoHlrConfig::new(self.ctrl_addr().to_string())
        }
    }

    /// The adapter pointed at this instance.
    pub fn network(&self) -> OsmoHlrNetwork {
        OsmoHlrNetwork::new(self.config())
    }

    /// A CTRL connection to this instance.
    pub async fn client(&self) -> CtrlClient {
        let c = self.config();
        match CtrlClient::connect(&c.addr, c.connect_timeout, c.request_timeout).await {
            Ok(client) => client,
            Err(e) => panic!("osmo-hlr harness: connecting to CTRL: {e}; log:\n{}", self.log()),
        }
    }

    /// Creates a subscriber (IMSI, optional MSISDN digits) through CTRL.
    pub async fn create_subscriber(&self, imsi: &str, msisdn: Option<&str>) {
        let mut client = self.client().await;
        match client.set("subscriber.create", imsi).await {
            Ok(CtrlReply::Value(_)) => {}
            other => panic!("osmo-hlr harness: subscriber.create answered {other:?}"),
        }
        if let Some(msisdn) = msisdn {
            match client.set(&format!("subscriber.by-imsi-{imsi}.msisdn"), msisdn).await {
                Ok(CtrlReply::Value(v)) if v == "OK" => {}
                other => panic!("osmo-hlr harness: setting the msisdn answered {other:?}"),
            }
        }
    }

    /// `GET subscriber.by-imsi-<IMSI>.info`: the subscriber's fields, or the error
    /// text (`No such subscriber.`).
    pub async fn subscriber_info(&self, imsi: &str) -> CtrlReply {
        match self.client().await.get(&format!("subscriber.by-imsi-{imsi}.info")).await {
            Ok(reply) => reply,
            Err(e) => panic!("osmo-hlr harness: reading subscriber info: {e}"),
        }
    }

    /// Whether the HLR knows the IMSI.
    pub async fn subscriber_exists(&self, imsi: &str) -> bool {
        match self.subscriber_info(imsi).await {
            CtrlReply::Value(_) => true,
            CtrlReply::Error(text) if text.starts_with("No such subscriber") => false,
            CtrlReply::Error(text) => panic!("osmo-hlr harness: unexpected answer to info: {text}"),
        }
    }

    /// What osmo-hlr has logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("osmo-hlr.log")).unwrap_or_default()
    }
}

impl Drop for OsmoHlr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
