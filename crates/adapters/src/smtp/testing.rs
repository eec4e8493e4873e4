//! A throwaway SMTP server for tests: [`SmtpServer::start`] runs a small Python
//! script on `aiosmtpd` (Debian `python3-aiosmtpd`) on `127.0.0.1:<free port>` and
//! kills it on drop. Compiled for this crate's tests and, for other crates, behind the
//! cargo feature `smtp-harness`.
//!
//! The server keeps every message it accepts as two files in a temporary directory:
//! the raw data (`.eml`) and what Python's `email` package made of it (`.json`: the
//! envelope, the decoded headers and body, whether TLS and AUTH were used).
//! [`SmtpServer::messages`] reads them back as [`ReceivedMail`]. Its answers can be
//! steered by the recipient's domain: any address at [`REJECT_DOMAIN`] gets `550`
//! (mailbox unavailable), any at [`TEMPFAIL_DOMAIN`] gets `451` (try later); both
//! replies quote the address, so tests can check it stays out of errors and logs.
//! [`SmtpServer::stop`] and [`SmtpServer::restart`] (same port, same mailbox) simulate
//! an outage. [`ServerOptions`] add STARTTLS or implicit TLS (a throwaway CA and
//! server certificate made with the `openssl` command) and required AUTH.
//!
//! The interpreter is the first of `$LINEOUT_SMTP_PYTHON`, `/usr/bin/python3` (where
//! Debian's package installs the module) and `python3` on the `PATH` that can import
//! `aiosmtpd`. When there is none (or, for TLS, no `openssl`), `start` prints a skip
//! note and returns `None`, unless `LINEOUT_REQUIRE_SMTP=1` is set (as in CI): then it
//! panics. Being test support, the harness panics on any other failure, with the
//! server's log.

use super::{SmtpConfig, SmtpEmail, SmtpSecurity};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set to `1` to make a missing Python/aiosmtpd (or openssl) fail the tests instead of skipping them.
pub const REQUIRE_ENV: &str = "LINEOUT_REQUIRE_SMTP";
/// Overrides the Python interpreter to try first.
pub const PYTHON_ENV: &str = "LINEOUT_SMTP_PYTHON";
/// Recipients at this domain are refused with `550 5.1.1`.
pub const REJECT_DOMAIN: &str = "reject.invalid";
/// Recipients at this domain are refused with `451 4.3.0`.
pub const TEMPFAIL_DOMAIN: &str = "tempfail.invalid";
/// The sender mailbox of [`SmtpServer::config`].
pub const FROM: &str = "Lineout Test <no-reply@lineout.test>";

const START_TIMEOUT: Duration = Duration::from_secs(15);
const ATTEMPTS: usize = 5;

/// TLS on the test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HarnessTls {
    /// Plain SMTP.
    #[default]
    None,
    /// `STARTTLS` offered and required before `MAIL`.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// How the test server behaves beyond the defaults (plain, no AUTH).
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub tls: HarnessTls,
    /// Require AUTH (PLAIN or LOGIN) with this username and password.
    pub credentials: Option<(String, String)>,
}

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The accepted envelope recipients (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// The message exactly as received (after dot-unstuffing).
    pub raw: Vec<u8>,
    /// Every header in order, RFC 2047 words decoded (Python's `email.policy.default`).
    pub headers: Vec<(String, String)>,
    /// The decoded `Subject`.
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub content_language: Option<String>,
    /// The text body, transfer encoding and charset decoded, line ends as `\n`.
    pub body: String,
    /// What Python's parser found wrong with the message (empty for a clean one).
    pub defects: Vec<String>,
    /// Whether the message came over TLS (STARTTLS or implicit).
    pub tls: bool,
    /// Whether the session had authenticated.
    pub authenticated: bool,
}

impl ReceivedMail {
    /// The first header named `name` (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A running aiosmtpd, stopped (killed) on drop.
#[derive(Debug)]
pub struct SmtpServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    python: String,
    options: ServerOptions,
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// `None` with a note, or a panic when [`REQUIRE_ENV`] is `1`.
fn skip(why: &str) -> Option<SmtpServer> {
    if required() {
        panic!("{REQUIRE_ENV}=1 but {why}");
    }
    eprintln!("note: skipping an SMTP test: {why}");
    None
}

/// The first interpreter that can import aiosmtpd (looked up once per process).
fn python() -> Option<String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mut candidates: Vec<String> = std::env::var(PYTHON_ENV).into_iter().collect();
            candidates.extend(["/usr/bin/python3".to_owned(), "python3".to_owned()]);
            candidates.into_iter().find(|py| {
                Command::new(py)
                    .args(["-c", "import aiosmtpd.smtp"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
        })
        .clone()
}

fn free_port() -> u16 {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("smtp harness: no free port on 127.0.0.1: {e}"),
    }
}

/// Why certificates could not be made: a missing `openssl` may be skipped, the rest panics.
enum CertError {
    NoOpenssl,
    Failed(String),
}

/// A throwaway CA (`ca.pem`) and a server certificate for `localhost` and `127.0.0.1`
/// signed by it (`server.pem`, `server.key`), all in `dir`.
fn make_certificates(dir: &Path) -> Result<(), CertError> {
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .map_err(|e| CertError::Failed(format!("writing {}: {e}", ext.display())))?;
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=lineout test CA"],
        ]
        .concat(),
        [&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl").args(&args).current_dir(dir).stdin(Stdio::null()).output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(CertError::Failed(format!(
                    "openssl {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CertError::NoOpenssl),
            Err(e) => return Err(CertError::Failed(format!("running openssl: {e}"))),
        }
    }
    Ok(())
}

impl SmtpServer {
    /// Starts a plain server without AUTH; `None` (with a note on stderr) when Python
    /// or aiosmtpd is missing and [`REQUIRE_ENV`] is not `1`.
    pub fn start() -> Option<SmtpServer> {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server with TLS and/or AUTH as `options` say.
    pub fn start_with(options: ServerOptions) -> Option<SmtpServer> {
        let Some(python) = python() else {
            return skip("no python3 can import aiosmtpd (apt-get install python3-aiosmtpd)");
        };
        let dir = match tempfile::Builder::new().prefix("lineout-smtp-").tempdir() {
            Ok(dir) => dir,
            Err(e) => panic!("smtp harness: temporary directory: {e}"),
        };
        for (path, text) in [(dir.path().join("server.py"), SERVER_PY), (dir.path().join("server.log"), "")] {
            if let Err(e) = std::fs::write(&path, text) {
                panic!("smtp harness: writing {}: {e}", path.display());
            }
        }
        if let Err(e) = std::fs::create_dir(dir.path().join("mail")) {
            panic!("smtp harness: creating the mail directory: {e}");
        }
        if options.tls != HarnessTls::None {
            match make_certificates(dir.path()) {
                Ok(()) => {}
                Err(CertError::NoOpenssl) => return skip("`openssl` is not installed (needed for the TLS tests)"),
                Err(CertError::Failed(why)) => panic!("smtp harness: making certificates: {why}"),
            }
        }
        let mut server = SmtpServer { child: None, dir, port: 0, python, options };
        for _ in 0..ATTEMPTS {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => return Some(server),
                // Most likely another process took the port between the check and the bind.
                Err(true) => continue,
                Err(false) => panic!("smtp harness: not ready within {START_TIMEOUT:?}; log:\n{}", server.log()),
            }
        }
        panic!("smtp harness: the server exited at start {ATTEMPTS} times; log:\n{}", server.log());
    }

    /// Runs the script on `self.port`; `Err(true)` if it exited, `Err(false)` on timeout.
    fn spawn(&mut self) -> Result<(), bool> {
        let dir = self.dir.path();
        let ready = dir.join("ready");
        let _ = std::fs::remove_file(&ready);
        let tls = match self.options.tls {
            HarnessTls::None => "none",
            HarnessTls::StartTls => "starttls",
            HarnessTls::Implicit => "implicit",
        };
        let config = serde_json::json!({
            "port": self.port,
            "store": dir.join("mail"),
            "ready": ready,
            "tls": tls,
            "cert": dir.join("server.pem"),
            "key": dir.join("server.key"),
            "credentials": self.options.credentials,
            "reject_domain": REJECT_DOMAIN,
            "tempfail_domain": TEMPFAIL_DOMAIN,
        });
        let config_path = dir.join("config.json");
        if let Err(e) = std::fs::write(&config_path, config.to_string()) {
            panic!("smtp harness: writing {}: {e}", config_path.display());
        }
        let log = dir.join("server.log");
        let files = std::fs::OpenOptions::new().append(true).open(&log).and_then(|f| Ok((f.try_clone()?, f)));
        let (out, err) = match files {
            Ok(files) => files,
            Err(e) => panic!("smtp harness: opening {}: {e}", log.display()),
        };
        let spawned = Command::new(&self.python)
            .arg(dir.join("server.py"))
            .arg(&config_path)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => panic!("smtp harness: starting `{}`: {e}", self.python),
        };
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < START_TIMEOUT {
            if let Some(child) = self.child.as_mut()
                && matches!(child.try_wait(), Ok(Some(_)))
            {
                self.child = None;
                return Err(true);
            }
            if ready.exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(false)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The test CA's certificate (PEM) when the server runs TLS.
    pub fn ca_pem(&self) -> Option<Vec<u8>> {
        if self.options.tls == HarnessTls::None {
            return None;
        }
        match std::fs::read(self.dir.path().join("ca.pem")) {
            Ok(pem) => Some(pem),
            Err(e) => panic!("smtp harness: reading the CA certificate: {e}"),
        }
    }

    /// An adapter config for this server: security matching its TLS (trusting the test
    /// CA), its credentials, sender [`FROM`], and short timeouts (2 s to connect, 10 s
    /// per delivery).
    pub fn config(&self) -> SmtpConfig {
        let security = match self.options.tls {
            HarnessTls::None => SmtpSecurity::Plain,
            HarnessTls::StartTls => SmtpSecurity::StartTls,
            HarnessTls::Implicit => SmtpSecurity::Tls,
        };
        let (username, password) = match &self.options.credentials {
            Some((u, p)) => (Some(u.clone()), Some(p.clone())),
            None => (None, None),
        };
        SmtpConfig {
            port: self.port,
            security,
            username,
            password,
            hello_name: Some("lineout.test".to_owned()),
            root_ca_pem: self.ca_pem(),
            connect_timeout: Duration::from_secs(2),
            send_timeout: Duration::from_secs(10),
            ..SmtpConfig::new(Ipv4Addr::LOCALHOST.to_string(), FROM)
        }
    }

    /// The adapter pointed at this server.
    pub fn transport(&self) -> SmtpEmail {
        match SmtpEmail::new(self.config()) {
            Ok(t) => t,
            Err(e) => panic!("smtp harness: {e}"),
        }
    }

    /// Every message accepted so far (across restarts), oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let store = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&store) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect(),
            Err(e) => panic!("smtp harness: reading {}: {e}", store.display()),
        };
        names.sort();
        names.iter().map(|json| read_mail(json)).collect()
    }

    /// Kills the server (an outage); the port stays reserved for [`SmtpServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same mailbox.
    pub fn restart(&mut self) {
        self.stop();
        let start = Instant::now();
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(true) if start.elapsed() < START_TIMEOUT => std::thread::sleep(Duration::from_millis(100)),
                Err(_) => panic!("smtp harness: could not restart on port {}; log:\n{}", self.port, self.log()),
            }
        }
    }

    /// What the server has logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_mail(json: &Path) -> ReceivedMail {
    let text = match std::fs::read_to_string(json) {
        Ok(text) => text,
        Err(e) => panic!("smtp harness: reading {}: {e}", json.display()),
    };
    let meta: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("smtp harness: {} is not JSON: {e}", json.display()),
    };
    let raw = match std::fs::read(json.with_extension("eml")) {
        Ok(raw) => raw,
        Err(e) => panic!("smtp harness: reading the raw message of {}: {e}", json.display()),
    };
    let string = |key: &str| meta[key].as_str().unwrap_or_default().to_owned();
    let strings = |key: &str| -> Vec<String> {
        meta[key]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let headers: Vec<(String, String)> = meta["headers"]
        .as_array()
        .map(|a| {
            a.iter().filter_map(|pair| Some((pair[0].as_str()?.to_owned(), pair[1].as_str()?.to_owned()))).collect()
        })
        .unwrap_or_default();
    let find = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    ReceivedMail {
        mail_from: string("mail_from"),
        rcpt_to: strings("rcpt_to"),
        raw,
        subject: find("Subject"),
        message_id: find("Message-ID"),
        content_language: find("Content-Language"),
        headers,
        body: string("body"),
        defects: strings("defects"),
        tls: meta["tls"].as_bool().unwrap_or(false),
        authenticated: meta["authenticated"].as_bool().unwrap_or(false),
    }
}

/// The server: aiosmtpd's `SMTP` protocol on an asyncio server with `SO_REUSEADDR`
/// (so a restart gets the same port at once), a handler that steers RCPT replies by
/// domain and stores each message, and an optional authenticator.
const SERVER_PY: &str = r#"# lineout's SMTP test server (written by the Rust harness).
import asyncio, email, email.policy, json, os, ssl, sys, time
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

with open(sys.argv[1], encoding="utf-8") as f:
    CFG = json.load(f)
STORE = CFG["store"]
COUNT = [0]


def parse(raw):
    out = {"headers": [], "body": "", "defects": []}
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        out["headers"] = [[k, str(v)] for k, v in msg.items()]
        out["defects"] = [repr(d) for d in msg.defects]
        part = msg.get_body(preferencelist=("plain",)) or msg
        out["defects"] += [repr(d) for d in part.defects if part is not msg]
        out["body"] = part.get_content().replace("\r\n", "\n")
    except Exception as e:  # recorded for the test to see
        out["defects"].append("parse: " + repr(e))
    return out


def put(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rpartition("@")[2].lower()
        if domain == CFG["reject_domain"]:
            return "550 5.1.1 <%s>: Recipient address rejected: mailbox unavailable" % address
        if domain == CFG["tempfail_domain"]:
            return "451 4.3.0 <%s>: Temporary lookup failure, try again later" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        COUNT[0] += 1
        name = "%020d-%07d-%05d" % (time.time_ns(), os.getpid(), COUNT[0])
        raw = envelope.original_content if envelope.original_content is not None else envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        transport = server.transport
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_to": list(envelope.rcpt_tos),
            "tls": transport is not None and transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        meta.update(parse(raw))
        put(os.path.join(STORE, name + ".eml"), raw)
        put(os.path.join(STORE, name + ".json"), json.dumps(meta).encode("utf-8"))
        return "250 2.0.0 Ok: queued as %s" % name


def authenticator(server, session, envelope, mechanism, auth_data):
    creds = CFG.get("credentials")
    ok = (
        creds is not None
        and isinstance(auth_data, LoginPassword)
        and auth_data.login == creds[0].encode()
        and auth_data.password == creds[1].encode()
    )
    return AuthResult(success=ok, handled=False)


async def main():
    loop = asyncio.get_running_loop()
    ctx = None
    if CFG["tls"] != "none":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(CFG["cert"], CFG["key"])
    kwargs = {"enable_SMTPUTF8": True, "hostname": "lineout-harness.test", "timeout": 30, "loop": loop}
    if CFG["tls"] == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    if CFG.get("credentials"):
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=(CFG["tls"] == "starttls"))
    server = await loop.create_server(
        lambda: SMTP(Handler(), **kwargs),
        host="127.0.0.1",
        port=CFG["port"],
        reuse_address=True,
        ssl=ctx if CFG["tls"] == "implicit" else None,
    )
    put(CFG["ready"], str(os.getpid()).encode())
    async with server:
        await server.serve_forever()


asyncio.run(main())
"#;
