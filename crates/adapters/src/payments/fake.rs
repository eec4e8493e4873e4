//! A fake payment service for tests: a real HTTP/1.1 server on 127.0.0.1 that takes
//! `POST /refunds` as [`super::HttpPayments`] sends it, checks what a strict service
//! checks, keeps a ledger of the refunds it paid, can be scripted to misbehave, and
//! records every request.
//!
//! Checks, in order (a refused request pays nothing and consumes no script):
//! path `/refunds` (else 404), `POST` (else 405), the timestamp within
//! [`DEFAULT_TOLERANCE_SECS`] of the fake's clock and the signature (else 401
//! `{"error":"stale_timestamp"}` / `{"error":"bad_signature"}`), `Content-Type:
//! application/json` (else 415), an `Idempotency-Key` header (else 400), and a JSON body
//! with a non-empty `account_id`, a positive integer `amount_cents`, a three-letter
//! `currency` and a `reference` equal to the key (else 400 `{"error":"invalid_request"}`).
//!
//! Then a scripted reply, if one is queued ([`FakePaymentService::script`]); else:
//!
//! - a new key pays: the ledger gains one [`Payment`]; 201 `{"refund_id":"rf_000001"}`;
//! - **a repeated key with the same account, amount and currency never pays again: it
//!   answers 409 with the first refund's body** (`{"refund_id": …}`, the id of the first
//!   payment), which the client takes as success;
//! - a repeated key with other parameters: 422 `{"error":"idempotency_key_reused"}`;
//! - an account whose payment method was closed ([`FakePaymentService::close_payment_method`]):
//!   422 `{"error":"payment_method_closed"}`, nothing paid.
//!
//! Keys are handled under one lock, so concurrent retries of one key pay once.
//!
//! The server is written on tokio directly: this crate must not depend on an HTTP
//! server framework (see the architecture test), and a hand-written server can also
//! answer in the broken ways a test needs.

use super::{
    CONTENT_TYPE, DEFAULT_TOLERANCE_SECS, HEADER_IDEMPOTENCY_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, PaymentsConfig,
    REFUNDS_PATH, VerifyError, verify,
};
use lineout_app::ports::Clock;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The secret of a fake started with [`FakePaymentService::start`].
pub const TEST_SECRET: &str = "fake-payments-secret-0123456789abcdefghijklmnopqrstuv";

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
const MAX_CALLS_KEPT: usize = 10_000;
const MAX_PAYMENTS: usize = 100_000;
const MAX_SCRIPTED: usize = 10_000;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HANG: Duration = Duration::from_secs(60);

/// A scripted answer for the next accepted request (signed, well-formed), instead of
/// the ledger's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This HTTP status with `{"error": "<code>"}` (e.g. 422 `payment_method_closed`,
    /// 500 `internal_error`); nothing is paid.
    Status(u16),
    /// Never answer: hold the connection until the client gives up (at most 60 s);
    /// nothing is paid.
    Hang,
    /// Pay (or find the key's refund), then never answer: a lost answer.
    PayThenHang,
    /// Pay (or find the key's refund), then answer 201 with a truncated JSON body.
    PayThenMalformed,
    /// Pay (or find the key's refund), then answer 201 with a JSON body of about this
    /// many bytes.
    PayThenOversized(usize),
}

/// A refund the fake paid: one per idempotency key, ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub refund_id: String,
    pub idempotency_key: String,
    pub account_id: String,
    pub amount_cents: i64,
    pub currency: String,
    /// `original_payment` or `check`.
    pub method: String,
    pub original_payment_reference: Option<String>,
}

/// One request as the fake received it, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    /// The raw body (lossy UTF-8).
    pub body: String,
    /// The outcome of the timestamp and signature check.
    pub verified: Result<(), VerifyError>,
    /// What was answered: `201`, `409`, `401 bad_signature`, `500 internal_error`, `hang`, …
    pub answer: String,
}

struct State {
    secret: String,
    clock: Arc<dyn Clock>,
    script: VecDeque<Reply>,
    payments: Vec<Payment>,
    /// Idempotency key → index in `payments`.
    by_key: HashMap<String, usize>,
    closed_accounts: HashSet<String>,
    calls: Vec<RecordedCall>,
}

/// A running fake payment service. Dropping it stops the server.
pub struct FakePaymentService {
    /// `http://127.0.0.1:<port>`: use as [`PaymentsConfig::url`] (see [`Self::config`]).
    pub url: String,
    secret: String,
    state: Arc<Mutex<State>>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for FakePaymentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePaymentService").field("url", &self.url).finish_non_exhaustive()
    }
}

impl FakePaymentService {
    /// Starts the server on the current tokio runtime, with [`TEST_SECRET`], checking
    /// timestamps against the system clock.
    pub async fn start() -> std::io::Result<FakePaymentService> {
        Self::start_with(TEST_SECRET, Arc::new(crate::SystemClock)).await
    }

    /// Starts the server on the current tokio runtime with this secret, checking
    /// timestamps against `clock` (share the client's clock in tests with a manual one).
    pub async fn start_with(secret: &str, clock: Arc<dyn Clock>) -> std::io::Result<FakePaymentService> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = watch::channel(false);
        let state = new_state(secret, clock);
        tokio::spawn(serve(listener, state.clone(), rx));
        Ok(FakePaymentService { url, secret: secret.to_owned(), state, shutdown: tx })
    }

    /// Starts the server on a thread of its own (for tests without a runtime, e.g. ones
    /// that run the `lineout` binary against it), with [`TEST_SECRET`] and the system clock.
    pub fn start_blocking() -> std::io::Result<FakePaymentService> {
        Self::start_blocking_with(TEST_SECRET, Arc::new(crate::SystemClock))
    }

    /// [`Self::start_blocking`] with this secret and clock.
    pub fn start_blocking_with(secret: &str, clock: Arc<dyn Clock>) -> std::io::Result<FakePaymentService> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = watch::channel(false);
        let state = new_state(secret, clock);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let served = state.clone();
        std::thread::Builder::new().name("fake-payments".into()).spawn(move || {
            runtime.block_on(async move {
                if let Ok(listener) = TcpListener::from_std(listener) {
                    serve(listener, served, rx).await;
                }
            });
        })?;
        Ok(FakePaymentService { url, secret: secret.to_owned(), state, shutdown: tx })
    }

    /// A client configuration for this fake: its URL and secret, 5 s per attempt.
    pub fn config(&self) -> PaymentsConfig {
        PaymentsConfig { timeout: Duration::from_secs(5), ..PaymentsConfig::new(self.url.clone(), self.secret.clone()) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers the next `times` accepted requests with `reply` (after any already queued).
    pub fn script(&self, reply: Reply, times: usize) {
        let mut s = self.lock();
        let room = MAX_SCRIPTED.saturating_sub(s.script.len());
        s.script.extend(std::iter::repeat_n(reply, times.min(room)));
    }

    /// Refuses every later refund to `account_id` with 422 `payment_method_closed`.
    pub fn close_payment_method(&self, account_id: &str) {
        self.lock().closed_accounts.insert(account_id.to_owned());
    }

    /// The refunds paid, in order (one per idempotency key).
    pub fn payments(&self) -> Vec<Payment> {
        self.lock().payments.clone()
    }

    /// The refund paid for an idempotency key, if any.
    pub fn payment(&self, idempotency_key: &str) -> Option<Payment> {
        let s = self.lock();
        s.by_key.get(idempotency_key).and_then(|&i| s.payments.get(i)).cloned()
    }

    /// Every request received, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }
}

impl Drop for FakePaymentService {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

fn new_state(secret: &str, clock: Arc<dyn Clock>) -> Arc<Mutex<State>> {
    Arc::new(Mutex::new(State {
        secret: secret.to_owned(),
        clock,
        script: VecDeque::new(),
        payments: Vec::new(),
        by_key: HashMap::new(),
        closed_accounts: HashSet::new(),
        calls: Vec::new(),
    }))
}

async fn serve(listener: TcpListener, state: Arc<Mutex<State>>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(connection(stream, state.clone(), shutdown.clone()));
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What to do with a request.
enum Action {
    Respond { status: u16, body: Vec<u8> },
    Hang,
}

async fn connection(mut stream: TcpStream, state: Arc<Mutex<State>>, mut shutdown: watch::Receiver<bool>) {
    let request = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(r)) => r,
        Ok(Err(status)) => {
            let _ = write_response(&mut stream, status, &error_body("bad_http")).await;
            return;
        }
        Err(_) => return,
    };
    let action = {
        let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        handle(&mut s, &request)
    };
    match action {
        Action::Respond { status, body } => {
            let _ = write_response(&mut stream, status, &body).await;
        }
        Action::Hang => {
            tokio::select! {
                _ = tokio::time::sleep(MAX_HANG) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Reads one request (head bounded, body by Content-Length); `Err` is the HTTP status to answer.
async fn read_request(stream: &mut TcpStream) -> Result<Request, u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
        let n = stream.read(&mut chunk).await.map_err(|_| 400u16)?;
        if n == 0 {
            return Err(400);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| 400u16)?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (method, path) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), Some(v)) if v.starts_with("HTTP/1.") => (m.to_owned(), p.to_owned()),
        _ => return Err(400),
    };
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = Request { method, path, headers, body: Vec::new() };
    if request.header("transfer-encoding").is_some() {
        return Err(411);
    }
    let length = match request.header("content-length") {
        Some(v) => v.parse::<usize>().map_err(|_| 400u16)?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(413);
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.map_err(|_| 400u16)?;
        if n == 0 {
            return Err(400);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    request.body = body;
    Ok(request)
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn write_response(stream: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    stream.shutdown().await
}

fn error_body(code: &str) -> Vec<u8> {
    json!({ "error": code }).to_string().into_bytes()
}

fn refund_body(refund_id: &str) -> Vec<u8> {
    json!({ "refund_id": refund_id }).to_string().into_bytes()
}

/// The error code the fake puts in a scripted status's body.
fn scripted_code(status: u16) -> &'static str {
    match status {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        408 => "request_timeout",
        409 => "conflict",
        422 => "payment_method_closed",
        429 => "rate_limited",
        500..=599 => "internal_error",
        _ => "scripted",
    }
}

fn refuse(status: u16, code: &str) -> (Action, String) {
    (Action::Respond { status, body: error_body(code) }, format!("{status} {code}"))
}

/// Validates, records and answers one request.
fn handle(state: &mut State, request: &Request) -> Action {
    let header = |name: &str| request.header(name).map(str::to_owned);
    let verified = verify(
        &state.secret,
        request.header(HEADER_TIMESTAMP).unwrap_or_default(),
        &request.body,
        request.header(HEADER_SIGNATURE).unwrap_or_default(),
        state.clock.now(),
        DEFAULT_TOLERANCE_SECS,
    );
    let (action, answer) = decide(state, request, verified);
    if state.calls.len() < MAX_CALLS_KEPT {
        state.calls.push(RecordedCall {
            method: request.method.clone(),
            path: request.path.clone(),
            content_type: header("content-type"),
            idempotency_key: header(HEADER_IDEMPOTENCY_KEY),
            timestamp: header(HEADER_TIMESTAMP),
            signature: header(HEADER_SIGNATURE),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            verified,
            answer,
        });
    }
    action
}

/// A well-formed refund request's fields.
struct RefundRequest {
    key: String,
    account_id: String,
    amount_cents: i64,
    currency: String,
    method: String,
    original_payment_reference: Option<String>,
}

fn parse_refund(request: &Request) -> Result<RefundRequest, &'static str> {
    let key = request.header(HEADER_IDEMPOTENCY_KEY).filter(|k| !k.is_empty()).ok_or("missing_idempotency_key")?;
    let body: Value = serde_json::from_slice(&request.body).map_err(|_| "invalid_json")?;
    let text = |name: &str| body.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let account_id = text("account_id").ok_or("invalid_request")?;
    let amount_cents = body.get("amount_cents").and_then(Value::as_i64).filter(|c| *c > 0).ok_or("invalid_request")?;
    let currency = text("currency")
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        .ok_or("invalid_request")?;
    if text("reference").as_deref() != Some(key) {
        return Err("reference_mismatch");
    }
    let method = text("method").unwrap_or_else(|| "original_payment".to_owned());
    if method != "original_payment" && method != "check" {
        return Err("invalid_method");
    }
    let original_payment_reference = text("original_payment_reference");
    Ok(RefundRequest { key: key.to_owned(), account_id, amount_cents, currency, method, original_payment_reference })
}

fn decide(state: &mut State, request: &Request, verified: Result<(), VerifyError>) -> (Action, String) {
    if request.path != REFUNDS_PATH {
        return refuse(404, "not_found");
    }
    if request.method != "POST" {
        return refuse(405, "method_not_allowed");
    }
    match verified {
        Ok(()) => {}
        Err(VerifyError::TooOld | VerifyError::TooNew | VerifyError::BadTimestamp) => {
            return refuse(401, "stale_timestamp");
        }
        Err(_) => return refuse(401, "bad_signature"),
    }
    if !request.header("content-type").is_some_and(|c| c.starts_with(CONTENT_TYPE)) {
        return refuse(415, "unsupported_media_type");
    }
    let refund = match parse_refund(request) {
        Ok(r) => r,
        Err(code) => return refuse(400, code),
    };
    match state.script.pop_front() {
        None => pay(state, &refund),
        Some(Reply::Status(status)) => refuse(status, scripted_code(status)),
        Some(Reply::Hang) => (Action::Hang, "hang".to_owned()),
        Some(Reply::PayThenHang) => {
            let (_, answer) = pay(state, &refund);
            (Action::Hang, format!("{answer} then hang"))
        }
        Some(Reply::PayThenMalformed) => {
            let (_, answer) = pay(state, &refund);
            (Action::Respond { status: 201, body: br#"{"refund_id": "#.to_vec() }, format!("{answer} then malformed"))
        }
        Some(Reply::PayThenOversized(n)) => {
            let (_, answer) = pay(state, &refund);
            let id = state.by_key.get(&refund.key).and_then(|&i| state.payments.get(i)).map(|p| p.refund_id.clone());
            let body = json!({ "refund_id": id, "padding": "x".repeat(n.min(MAX_BODY * 16)) });
            (Action::Respond { status: 201, body: body.to_string().into_bytes() }, format!("{answer} then oversized"))
        }
    }
}

/// The ledger: pays a new key once; a known key answers its first refund (409).
fn pay(state: &mut State, refund: &RefundRequest) -> (Action, String) {
    if let Some(first) = state.by_key.get(&refund.key).and_then(|&i| state.payments.get(i)) {
        let same = first.account_id == refund.account_id
            && first.amount_cents == refund.amount_cents
            && first.currency == refund.currency;
        if !same {
            return refuse(422, "idempotency_key_reused");
        }
        return (Action::Respond { status: 409, body: refund_body(&first.refund_id) }, "409".to_owned());
    }
    if state.closed_accounts.contains(&refund.account_id) {
        return refuse(422, "payment_method_closed");
    }
    if state.payments.len() >= MAX_PAYMENTS {
        return refuse(503, "ledger_full");
    }
    let refund_id = format!("rf_{:06}", state.payments.len() + 1);
    state.by_key.insert(refund.key.clone(), state.payments.len());
    state.payments.push(Payment {
        refund_id: refund_id.clone(),
        idempotency_key: refund.key.clone(),
        account_id: refund.account_id.clone(),
        amount_cents: refund.amount_cents,
        currency: refund.currency.clone(),
        method: refund.method.clone(),
        original_payment_reference: refund.original_payment_reference.clone(),
    });
    (Action::Respond { status: 201, body: refund_body(&refund_id) }, "201".to_owned())
}
