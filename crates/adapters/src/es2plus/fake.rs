//! A fake SM-DP+ for tests: a real HTTP/1.1 server on 127.0.0.1 that speaks ES2+
//! `cancelOrder` and `releaseProfile` as SGP.22 describes them, keeps each profile's
//! state, can be scripted to misbehave, and records every call.
//!
//! It checks what a strict SM-DP+ checks: `POST`, the path, `X-Admin-Protocol`
//! (`gsma/rsp/v2.*`, else HTTP 400), `Content-Type: application/json` (else 415), a
//! JSON object body (else 400), the request `header` (both identifiers present and
//! non-empty, else `Failed` 1.6 / 2.2 or 2.1), the function's mandatory fields (same
//! codes), and that a `functionCallIdentifier` is reused only for the very same call
//! (a retry); reusing it for a different call is refused with `Failed` 1.6 / 3.3.
//!
//! Profile states follow SGP.22's SM-DP+ inventory: `cancelOrder` succeeds for an
//! order in progress (Allocated, Linked, Confirmed, Released, Error) and leaves the
//! profile Available or Unavailable; otherwise (Available, Unavailable, Downloaded,
//! Installed) it fails with 8.2.1 / 3.5. `releaseProfile` moves Confirmed → Released and
//! fails with 8.2.1 / 3.5 in every other state. An unknown ICCID fails with 8.2.1 / 3.9.
//!
//! The server is written on tokio directly: this crate must not depend on an HTTP
//! server framework (see the architecture test), and a hand-written server can also
//! answer in the broken ways a test needs.

use super::wire::{
    ADMIN_PROTOCOL_HEADER, CONTENT_TYPE_JSON, DEFAULT_ADMIN_PROTOCOL, ExecutionStatus, Function, PATH_PREFIX,
    StatusCode, answer_value, codes,
};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A profile's state in the SM-DP+'s inventory (SGP.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileState {
    Available,
    Allocated,
    Linked,
    Confirmed,
    Released,
    Downloaded,
    Installed,
    Error,
    Unavailable,
}

impl ProfileState {
    /// Whether an order is in progress (what `cancelOrder` may cancel).
    pub fn is_pending_order(self) -> bool {
        matches!(self, Self::Allocated | Self::Linked | Self::Confirmed | Self::Released | Self::Error)
    }
}

/// A profile as the fake knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub state: ProfileState,
    /// The EID the order is linked to, if any (`cancelOrder` with another EID fails 8.1.1 / 3.10).
    pub eid: Option<String>,
    /// The order's Matching ID, if any (`cancelOrder` with another one fails 8.2.6 / 3.10).
    pub matching_id: Option<String>,
}

/// One scripted answer, used for the next call of a function instead of the state machine.
/// The request is still validated first (a bad request is refused, not scripted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// HTTP 200 with this function execution status (state untouched).
    Status { status: ExecutionStatus, code: Option<StatusCode> },
    /// This HTTP status with a short text body.
    Http(u16),
    /// Never answer: hold the connection until the client gives up (at most 60 s).
    Hang,
    /// Apply the call to the profile's state, then hang (a lost answer).
    ApplyThenHang,
    /// HTTP 200, `application/json`, with a truncated JSON body.
    Malformed,
    /// HTTP 200 with `{"header": {}}` (no functionExecutionStatus).
    MissingStatus,
    /// HTTP 200 with a JSON body of about this many bytes.
    Oversized(usize),
}

impl Reply {
    pub fn success() -> Self {
        Self::Status { status: ExecutionStatus::Success, code: None }
    }
    pub fn warning(subject: &str, reason: &str) -> Self {
        Self::Status { status: ExecutionStatus::WithWarning, code: Some(StatusCode::new(subject, reason)) }
    }
    pub fn failed(subject: &str, reason: &str) -> Self {
        Self::Status { status: ExecutionStatus::Failed, code: Some(StatusCode::new(subject, reason)) }
    }
    pub fn expired() -> Self {
        Self::Status { status: ExecutionStatus::Expired, code: None }
    }
}

/// One request as the fake received it, and what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    pub method: String,
    pub path: String,
    pub function: Option<Function>,
    /// The `X-Admin-Protocol` header, if sent.
    pub admin_protocol: Option<String>,
    /// The `Content-Type` header, if sent.
    pub content_type: Option<String>,
    /// The body, if it was JSON.
    pub body: Option<Value>,
    pub function_requester_identifier: Option<String>,
    pub function_call_identifier: Option<String>,
    /// The same `functionCallIdentifier` and body were seen before.
    pub retry: bool,
    /// What was answered: `Executed-Success`, `Failed 8.2.1/3.5`, `HTTP 500`, `hang`, ...
    pub answer: String,
}

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1024 * 1024;
const MAX_CALLS_KEPT: usize = 10_000;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HANG: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    profiles: HashMap<String, Profile>,
    script: HashMap<Function, VecDeque<Reply>>,
    calls: Vec<RecordedCall>,
    /// functionCallIdentifier → (function, body) of its first use.
    call_ids: HashMap<String, (Function, Value)>,
    expected_requester: Option<String>,
}

/// A running fake SM-DP+. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeSmdp {
    /// `http://127.0.0.1:<port>`: use as `Es2PlusConfig::base_url` (with `require_https` off).
    pub base_url: String,
    state: Arc<Mutex<State>>,
    shutdown: watch::Sender<bool>,
}

impl FakeSmdp {
    /// Starts the server on the current tokio runtime.
    pub async fn start() -> std::io::Result<FakeSmdp> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = watch::channel(false);
        let state = Arc::new(Mutex::new(State::default()));
        tokio::spawn(serve(listener, state.clone(), rx));
        Ok(FakeSmdp { base_url, state, shutdown: tx })
    }

    /// Starts the server on a thread of its own (for tests without a runtime, e.g. ones
    /// that run the `lineout` binary against it).
    pub fn start_blocking() -> std::io::Result<FakeSmdp> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = watch::channel(false);
        let state = Arc::new(Mutex::new(State::default()));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let served = state.clone();
        std::thread::Builder::new().name("fake-smdp".into()).spawn(move || {
            runtime.block_on(async move {
                if let Ok(listener) = TcpListener::from_std(listener) {
                    serve(listener, served, rx).await;
                }
            });
        })?;
        Ok(FakeSmdp { base_url, state, shutdown: tx })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds (or replaces) a profile in `state`, linked to no EID and no Matching ID.
    pub fn seed(&self, iccid: &str, state: ProfileState) {
        self.seed_profile(iccid, Profile { state, eid: None, matching_id: None });
    }
    pub fn seed_profile(&self, iccid: &str, profile: Profile) {
        self.lock().profiles.insert(iccid.trim_end_matches(['F', 'f']).to_owned(), profile);
    }
    /// The profile's current state.
    pub fn state(&self, iccid: &str) -> Option<ProfileState> {
        self.lock().profiles.get(iccid.trim_end_matches(['F', 'f'])).map(|p| p.state)
    }
    /// Queues `reply` for the next call of `function` (replies queue up in order).
    pub fn script(&self, function: Function, reply: Reply) {
        self.lock().script.entry(function).or_default().push_back(reply);
    }
    /// Refuses (`Failed` 1.1 / 1.1) every `functionRequesterIdentifier` but this one.
    pub fn expect_requester(&self, id: &str) {
        self.lock().expected_requester = Some(id.to_owned());
    }
    /// Every request received, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }
    /// The requests for one function, in order.
    pub fn calls_to(&self, function: Function) -> Vec<RecordedCall> {
        self.lock().calls.iter().filter(|c| c.function == Some(function)).cloned().collect()
    }
}

impl Drop for FakeSmdp {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
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
    Respond { status: u16, json: bool, body: Vec<u8> },
    Hang,
}

async fn connection(mut stream: TcpStream, state: Arc<Mutex<State>>, mut shutdown: watch::Receiver<bool>) {
    let request = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(r)) => r,
        Ok(Err(status)) => {
            let _ = write_response(&mut stream, status, false, status_text(status).as_bytes()).await;
            return;
        }
        Err(_) => return,
    };
    let action = {
        let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        handle(&mut s, &request)
    };
    match action {
        Action::Respond { status, json, body } => {
            let _ = write_response(&mut stream, status, json, &body).await;
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

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn write_response(stream: &mut TcpStream, status: u16, json: bool, body: &[u8]) -> std::io::Result<()> {
    let content_type = if json { CONTENT_TYPE_JSON } else { "text/plain" };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n{ADMIN_PROTOCOL_HEADER}: {DEFAULT_ADMIN_PROTOCOL}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        status_text(status),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// Validates, records and answers one request.
fn handle(state: &mut State, request: &Request) -> Action {
    let mut call = RecordedCall {
        method: request.method.clone(),
        path: request.path.clone(),
        function: None,
        admin_protocol: request.header(ADMIN_PROTOCOL_HEADER).map(str::to_owned),
        content_type: request.header("content-type").map(str::to_owned),
        body: serde_json::from_slice(&request.body).ok(),
        function_requester_identifier: None,
        function_call_identifier: None,
        retry: false,
        answer: String::new(),
    };
    let action = decide(state, request, &mut call);
    call.answer = match &action {
        Action::Hang => "hang".to_owned(),
        Action::Respond { status: 200, json: true, body } => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                let fes = v.get("header")?.get("functionExecutionStatus")?;
                let status = fes.get("status")?.as_str()?.to_owned();
                Some(match fes.get("statusCodeData") {
                    Some(d) => format!(
                        "{status} {}/{}",
                        d.get("subjectCode").and_then(Value::as_str).unwrap_or("?"),
                        d.get("reasonCode").and_then(Value::as_str).unwrap_or("?")
                    ),
                    None => status,
                })
            })
            .unwrap_or_else(|| "malformed".to_owned()),
        Action::Respond { status, .. } => format!("HTTP {status}"),
    };
    if state.calls.len() < MAX_CALLS_KEPT {
        state.calls.push(call);
    }
    action
}

fn http(status: u16) -> Action {
    Action::Respond { status, json: false, body: status_text(status).as_bytes().to_vec() }
}

fn answer(status: ExecutionStatus, code: Option<StatusCode>, message: Option<&str>) -> Action {
    let body = answer_value(status, code.as_ref(), message, Map::new()).to_string().into_bytes();
    Action::Respond { status: 200, json: true, body }
}

fn failed(subject: &str, reason: &str, message: &str) -> Action {
    answer(ExecutionStatus::Failed, Some(StatusCode::new(subject, reason)), Some(message))
}

fn decide(state: &mut State, request: &Request, call: &mut RecordedCall) -> Action {
    let Some(function) = request.path.strip_prefix(PATH_PREFIX).and_then(Function::from_name) else {
        return http(404);
    };
    if function == Function::HandleDownloadProgressInfo {
        return http(404); // served by the operator, not by the SM-DP+
    }
    call.function = Some(function);
    if request.method != "POST" {
        return http(405);
    }
    if !call.admin_protocol.as_deref().is_some_and(|p| p.starts_with("gsma/rsp/v2.")) {
        return http(400);
    }
    if !call.content_type.as_deref().is_some_and(|c| c.starts_with(CONTENT_TYPE_JSON)) {
        return http(415);
    }
    let Some(Value::Object(body)) = call.body.clone() else {
        return http(400);
    };

    // The request header.
    let Some(header) = body.get("header") else {
        return failed(codes::FUNCTION, codes::MANDATORY_ELEMENT_MISSING, "header");
    };
    let requester = match field(header, "functionRequesterIdentifier") {
        Ok(s) => s,
        Err(reason) => return failed(codes::FUNCTION, reason, "header.functionRequesterIdentifier"),
    };
    let call_id = match field(header, "functionCallIdentifier") {
        Ok(s) => s,
        Err(reason) => return failed(codes::FUNCTION, reason, "header.functionCallIdentifier"),
    };
    call.function_requester_identifier = Some(requester.clone());
    call.function_call_identifier = Some(call_id.clone());
    if state.expected_requester.as_ref().is_some_and(|e| *e != requester) {
        return failed(codes::FUNCTION_REQUESTER, "1.1", "unknown function requester");
    }
    let fingerprint = (function, Value::Object(body.clone()));
    match state.call_ids.get(&call_id) {
        Some(first) if *first == fingerprint => call.retry = true,
        Some(_) => return failed(codes::FUNCTION, codes::ALREADY_IN_USE, "functionCallIdentifier already used"),
        None => {
            state.call_ids.insert(call_id, fingerprint);
        }
    }

    // The function's own fields.
    let body = Value::Object(body);
    let iccid = match field(&body, "iccid") {
        Ok(s) if is_iccid(&s) => s.trim_end_matches(['F', 'f']).to_owned(),
        Ok(_) => return failed(codes::FUNCTION, codes::INVALID, "iccid"),
        Err(reason) => return failed(codes::FUNCTION, reason, "iccid"),
    };
    let op = match function {
        Function::CancelOrder => {
            let final_state = match field(&body, "finalProfileStatusIndicator") {
                Ok(s) if s == "Available" => ProfileState::Available,
                Ok(s) if s == "Unavailable" => ProfileState::Unavailable,
                Ok(_) => return failed(codes::FUNCTION, codes::INVALID, "finalProfileStatusIndicator"),
                Err(reason) => return failed(codes::FUNCTION, reason, "finalProfileStatusIndicator"),
            };
            let eid = match optional_field(&body, "eid") {
                Ok(Some(e)) if e.len() == 32 && e.bytes().all(|b| b.is_ascii_digit()) => Some(e),
                Ok(None) => None,
                _ => return failed(codes::FUNCTION, codes::INVALID, "eid"),
            };
            let Ok(matching_id) = optional_field(&body, "matchingId") else {
                return failed(codes::FUNCTION, codes::INVALID, "matchingId");
            };
            Op::Cancel { eid, matching_id, final_state }
        }
        _ => Op::Release,
    };

    // A scripted answer, or the state machine.
    match state.script.get_mut(&function).and_then(VecDeque::pop_front) {
        None => apply(state, &iccid, &op),
        Some(Reply::Status { status, code }) => answer(status, code, None),
        Some(Reply::Http(status)) => http(status),
        Some(Reply::Hang) => Action::Hang,
        Some(Reply::ApplyThenHang) => {
            let _ = apply(state, &iccid, &op);
            Action::Hang
        }
        Some(Reply::Malformed) => {
            Action::Respond { status: 200, json: true, body: br#"{"header": {"functionExecutionStatus": {"#.to_vec() }
        }
        Some(Reply::MissingStatus) => Action::Respond { status: 200, json: true, body: br#"{"header": {}}"#.to_vec() },
        Some(Reply::Oversized(n)) => {
            let padding = "x".repeat(n.min(MAX_BODY * 4));
            let mut fields = Map::new();
            fields.insert("padding".into(), Value::String(padding));
            let body = answer_value(ExecutionStatus::Success, None, None, fields).to_string().into_bytes();
            Action::Respond { status: 200, json: true, body }
        }
    }
}

enum Op {
    Cancel { eid: Option<String>, matching_id: Option<String>, final_state: ProfileState },
    Release,
}

/// The SM-DP+'s inventory rules.
fn apply(state: &mut State, iccid: &str, op: &Op) -> Action {
    let Some(profile) = state.profiles.get_mut(iccid) else {
        return failed(codes::PROFILE_ICCID, codes::UNKNOWN, "unknown profile");
    };
    match op {
        Op::Cancel { eid, matching_id, final_state } => {
            if let (Some(asked), Some(linked)) = (eid, &profile.eid)
                && asked != linked
            {
                return failed(codes::EID, codes::INVALID_ASSOCIATION, "a different EID is associated");
            }
            if let (Some(asked), Some(known)) = (matching_id, &profile.matching_id)
                && asked != known
            {
                return failed(codes::MATCHING_ID, codes::INVALID_ASSOCIATION, "a different Matching ID is associated");
            }
            if !profile.state.is_pending_order() {
                return failed(codes::PROFILE_ICCID, codes::INVALID_TRANSITION, "no order to cancel in this state");
            }
            profile.state = *final_state;
            answer(ExecutionStatus::Success, None, None)
        }
        Op::Release => {
            if profile.state != ProfileState::Confirmed {
                return failed(codes::PROFILE_ICCID, codes::INVALID_TRANSITION, "profile cannot be released");
            }
            profile.state = ProfileState::Released;
            answer(ExecutionStatus::Success, None, None)
        }
    }
}

/// A mandatory non-empty string; `Err` is the reason code (2.2 missing, 2.1 invalid).
fn field(obj: &Value, key: &str) -> Result<String, &'static str> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(codes::MANDATORY_ELEMENT_MISSING),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(codes::INVALID),
    }
}

/// An optional string (absent or null is `None`, a non-string is `Err`).
fn optional_field(obj: &Value, key: &str) -> Result<Option<String>, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

/// 19 or 20 digits, the 20th possibly the padding `F`.
fn is_iccid(s: &str) -> bool {
    let digits = s.strip_suffix(['F', 'f']).filter(|_| s.len() == 20).unwrap_or(s);
    (digits.len() == 19 || digits.len() == 20) && digits.bytes().all(|b| b.is_ascii_digit())
}
