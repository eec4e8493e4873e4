//! [`HttpWebhooks`] against a test receiver: a small HTTP/1.1 server on tokio (this
//! crate uses no server framework) that checks each POST with [`verify`], as a real
//! receiver would, records it, deduplicates events on `webhook-id`, and answers as
//! scripted.

use super::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lineout_app::clock::ManualClock;
use lineout_app::cloudevents::event_json;
use lineout_domain::case::{Actor, Event, EventKind};
use lineout_domain::values::CaseId;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use time::macros::datetime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const KEY: &str = "C01JD3K5M2X7Q4T9A.7.1";
const NOW: time::OffsetDateTime = datetime!(2025-03-01 09:30:00 UTC);

fn secret() -> String {
    format!("whsec_{}", STANDARD.encode([42u8; 32]))
}

fn body() -> String {
    let case = CaseId::parse("C01JD3K5M2X7Q4T9A").unwrap();
    let event = Event { seq: 7, at: NOW, actor: Actor::System, kind: EventKind::Terminated };
    event_json(&case, &event, "/lineout/operator-x")
}

/// What the receiver answers to the next request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Keep the connection open without answering (until the receiver is dropped).
    Hang,
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    /// Header names lower-cased.
    headers: HashMap<String, String>,
    body: Vec<u8>,
    verified: Result<(), VerifyError>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Received>,
    /// Verified events, each `webhook-id` once (a receiver's deduplication).
    events: Vec<Value>,
    seen_ids: HashSet<String>,
}

struct Receiver {
    url: String,
    state: Arc<Mutex<State>>,
    _shutdown: watch::Sender<bool>,
}

impl Receiver {
    async fn start(secret: String, clock: Arc<ManualClock>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/lineout", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, rx) = watch::channel(false);
        let served = state.clone();
        tokio::spawn(async move {
            let mut stop = rx.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { return };
                        tokio::spawn(handle(stream, served.clone(), secret.clone(), clock.clone(), rx.clone()));
                    }
                    _ = stop.changed() => return,
                }
            }
        });
        Receiver { url, state, _shutdown: tx }
    }

    fn script(&self, reply: Reply) {
        self.state.lock().unwrap().script.push_back(reply);
    }
    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
    fn events(&self) -> Vec<Value> {
        self.state.lock().unwrap().events.clone()
    }
}

async fn handle(
    mut stream: TcpStream,
    state: Arc<Mutex<State>>,
    secret: String,
    clock: Arc<ManualClock>,
    mut stop: watch::Receiver<bool>,
) {
    let Some((method, headers, body)) = read_request(&mut stream).await else { return };
    let h = |name: &str| headers.get(name).map_or("", String::as_str).to_owned();
    let verified = verify(
        &secret,
        &h(HEADER_ID),
        &h(HEADER_TIMESTAMP),
        &body,
        &h(HEADER_SIGNATURE),
        clock.now(),
        DEFAULT_TOLERANCE_SECS,
    );
    let reply = {
        let mut s = state.lock().unwrap();
        let scripted = s.script.pop_front();
        s.received.push(Received { method, headers: headers.clone(), body: body.clone(), verified });
        let id = h(HEADER_ID);
        if verified.is_ok() && scripted.is_none() && s.seen_ids.insert(id) {
            s.events.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
        scripted.unwrap_or(Reply::Status(if verified.is_ok() { 204 } else { 401 }))
    };
    match reply {
        Reply::Status(code) => {
            let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Reply::Hang => {
            let _ = stop.changed().await;
        }
    }
}

/// Reads one HTTP/1.1 request with a `content-length` body.
async fn read_request(stream: &mut TcpStream) -> Option<(String, HashMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 16 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let method = lines.next()?.split(' ').next()?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some((method, headers, body))
}

async fn setup() -> (HttpWebhooks, Receiver, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    let receiver = Receiver::start(secret(), clock.clone()).await;
    let hooks =
        HttpWebhooks::new(vec![WebhookEndpoint::new("crm", receiver.url.clone(), secret())], clock.clone()).unwrap();
    (hooks, receiver, clock)
}

#[tokio::test]
async fn a_signed_event_arrives_and_verifies() {
    let (hooks, receiver, _) = setup().await;
    let body = body();
    hooks.post(KEY, "crm", &body).await.unwrap();

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.verified, Ok(()));
    assert_eq!(r.header("content-type"), "application/cloudevents+json; charset=utf-8");
    assert_eq!(r.header(HEADER_ID), KEY);
    assert_eq!(r.header(HEADER_TIMESTAMP), NOW.unix_timestamp().to_string());
    assert!(r.header(HEADER_SIGNATURE).starts_with("v1,"));
    assert_eq!(r.body, body.as_bytes());

    let events = receiver.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["specversion"], "1.0");
    assert_eq!(events[0]["type"], "com.lineout.case.terminated");
    assert_eq!(events[0]["id"], "C01JD3K5M2X7Q4T9A.7");
}

#[tokio::test]
async fn a_tampered_body_fails_verification() {
    let (hooks, receiver, clock) = setup().await;
    hooks.post(KEY, "crm", &body()).await.unwrap();
    let r = receiver.received().remove(0);
    let check = |body: &[u8], id: &str, ts: &str| {
        verify(&secret(), id, ts, body, r.header(HEADER_SIGNATURE), clock.now(), DEFAULT_TOLERANCE_SECS)
    };
    let (id, ts) = (r.header(HEADER_ID), r.header(HEADER_TIMESTAMP));
    assert_eq!(check(&r.body, id, ts), Ok(()));
    let tampered = String::from_utf8(r.body.clone()).unwrap().replace("terminated", "withdrawn");
    assert_eq!(check(tampered.as_bytes(), id, ts), Err(VerifyError::Mismatch));
    let mut flipped = r.body.clone();
    flipped[10] ^= 1;
    assert_eq!(check(&flipped, id, ts), Err(VerifyError::Mismatch));
    assert_eq!(check(&r.body, "C01JD3K5M2X7Q4T9A.7.2", ts), Err(VerifyError::Mismatch));
    let later = (NOW.unix_timestamp() + 1).to_string();
    assert_eq!(check(&r.body, id, &later), Err(VerifyError::Mismatch));
    // A replay after the tolerance fails even with the untouched body.
    clock.advance(time::Duration::minutes(6));
    assert_eq!(check(&r.body, id, ts), Err(VerifyError::TooOld));
}

#[tokio::test]
async fn a_receiver_with_another_secret_refuses() {
    let clock = Arc::new(ManualClock::new(NOW));
    let receiver = Receiver::start(format!("whsec_{}", STANDARD.encode([7u8; 32])), clock.clone()).await;
    let hooks =
        HttpWebhooks::new(vec![WebhookEndpoint::new("crm", receiver.url.clone(), secret())], clock.clone()).unwrap();
    let err = hooks.post(KEY, "crm", &body()).await.unwrap_err();
    assert!(!err.retryable, "401 is permanent: {err:?}");
    assert_eq!(receiver.received()[0].verified, Err(VerifyError::Mismatch));
    assert!(receiver.events().is_empty());
}

#[tokio::test]
async fn statuses_decide_retry_or_give_up() {
    let (hooks, receiver, _) = setup().await;
    let cases: [(u16, Option<bool>); 13] = [
        (200, None),
        (202, None),
        (204, None),
        (500, Some(true)),
        (502, Some(true)),
        (503, Some(true)),
        (408, Some(true)),
        (429, Some(true)),
        (400, Some(false)),
        (401, Some(false)),
        (404, Some(false)),
        (410, Some(false)),
        (302, Some(false)),
    ];
    for (status, expected) in cases {
        receiver.script(Reply::Status(status));
        let outcome = hooks.post(KEY, "crm", &body()).await;
        match expected {
            None => assert_eq!(outcome, Ok(()), "{status}"),
            Some(retryable) => {
                let e = outcome.unwrap_err();
                assert_eq!(e.retryable, retryable, "{status}: {e:?}");
                assert!(e.message.contains(&status.to_string()) && !e.message.contains("127.0.0.1"), "{e:?}");
            }
        }
    }
    assert_eq!(receiver.received().len(), cases.len());
}

#[tokio::test]
async fn a_timeout_is_retryable() {
    let clock = Arc::new(ManualClock::new(NOW));
    let receiver = Receiver::start(secret(), clock.clone()).await;
    let mut endpoint = WebhookEndpoint::new("crm", receiver.url.clone(), secret());
    endpoint.timeout = Duration::from_millis(300);
    let hooks = HttpWebhooks::new(vec![endpoint], clock).unwrap();
    receiver.script(Reply::Hang);
    let e = hooks.post(KEY, "crm", &body()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("timed out"), "{e:?}");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    drop(listener);
    let clock = Arc::new(ManualClock::new(NOW));
    let hooks = HttpWebhooks::new(vec![WebhookEndpoint::new("crm", url, secret())], clock).unwrap();
    let e = hooks.post(KEY, "crm", &body()).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
}

#[tokio::test]
async fn an_unknown_endpoint_or_a_bad_key_is_permanent_and_sends_nothing() {
    let (hooks, receiver, _) = setup().await;
    let e = hooks.post(KEY, "billing", &body()).await.unwrap_err();
    assert!(!e.retryable && e.message.contains("billing"), "{e:?}");
    for key in ["", "has space", "line\nbreak"] {
        let e = hooks.post(key, "crm", &body()).await.unwrap_err();
        assert!(!e.retryable, "{key:?}: {e:?}");
    }
    let huge = "x".repeat(MAX_BODY_BYTES + 1);
    assert!(!hooks.post(KEY, "crm", &huge).await.unwrap_err().retryable);
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_redelivery_carries_the_same_webhook_id_and_a_fresh_signature() {
    let (hooks, receiver, clock) = setup().await;
    let body = body();
    receiver.script(Reply::Status(503));
    assert!(hooks.post(KEY, "crm", &body).await.unwrap_err().retryable);
    clock.advance(time::Duration::seconds(30));
    hooks.post(KEY, "crm", &body).await.unwrap();
    clock.advance(time::Duration::seconds(30));
    hooks.post(KEY, "crm", &body).await.unwrap(); // e.g. the answer was lost: at least once

    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.header(HEADER_ID) == KEY && r.verified.is_ok()));
    let timestamps: HashSet<&str> = got.iter().map(|r| r.header(HEADER_TIMESTAMP)).collect();
    let signatures: HashSet<&str> = got.iter().map(|r| r.header(HEADER_SIGNATURE)).collect();
    assert_eq!((timestamps.len(), signatures.len()), (3, 3), "each attempt is signed at its own time");
    assert_eq!(receiver.events().len(), 1, "the receiver deduplicated on webhook-id");
}

#[test]
fn configuration_is_checked_endpoint_by_endpoint() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(NOW));
    let ok = WebhookEndpoint::new("crm", "https://crm.example.com/hooks?token=abc", secret());
    let build = |endpoints: Vec<WebhookEndpoint>| HttpWebhooks::new(endpoints, clock.clone());
    assert!(build(vec![ok.clone()]).is_ok());
    for url in ["http://127.0.0.1:8080/h", "http://localhost/h", "http://[::1]:9/h"] {
        assert!(build(vec![WebhookEndpoint { url: url.into(), ..ok.clone() }]).is_ok(), "{url}");
    }
    let key_of = |e: WebhookEndpoint| match build(vec![e]) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("{other:?}"),
    };
    assert_eq!(key_of(WebhookEndpoint { name: String::new(), ..ok.clone() }), "name");
    assert_eq!(key_of(WebhookEndpoint { name: "a b".into(), ..ok.clone() }), "name");
    assert_eq!(key_of(WebhookEndpoint { name: "crm.v2".into(), ..ok.clone() }), "name");
    assert_eq!(key_of(WebhookEndpoint { url: "http://crm.example.com/h".into(), ..ok.clone() }), "url");
    assert_eq!(key_of(WebhookEndpoint { url: "ftp://crm.example.com/h".into(), ..ok.clone() }), "url");
    assert_eq!(key_of(WebhookEndpoint { url: "https://u:p@crm.example.com/h".into(), ..ok.clone() }), "url");
    assert_eq!(key_of(WebhookEndpoint { url: "nonsense".into(), ..ok.clone() }), "url");
    assert_eq!(key_of(WebhookEndpoint { timeout: Duration::ZERO, ..ok.clone() }), "timeout");
    assert_eq!(key_of(WebhookEndpoint { timeout: Duration::from_secs(61), ..ok.clone() }), "timeout");
    let short = WebhookEndpoint { secret: format!("whsec_{}", STANDARD.encode(b"0123456789")), ..ok.clone() };
    match build(vec![short]) {
        Err(e @ ConfigError::Invalid { key: "secret", .. }) => assert!(!e.to_string().contains("MDEy"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(build(vec![ok.clone(), ok.clone()]), Err(ConfigError::Duplicate(n)) if n == "crm"));
    assert!(matches!(build(Vec::new()), Err(ConfigError::NoEndpoints)));

    let other = WebhookEndpoint::new("billing-v2", "https://billing.example.com/", secret());
    let hooks = build(vec![ok.clone(), other]).unwrap();
    assert_eq!(hooks.endpoint_names(), ["billing-v2", "crm"]);
}

#[test]
fn secrets_and_url_tokens_are_never_printed() {
    let e = WebhookEndpoint::new("crm", "https://crm.example.com/hooks?token=abc", secret());
    let shown = format!("{e:?}");
    assert!(!shown.contains(&secret()) && !shown.contains("whsec") && !shown.contains("token=abc"), "{shown}");
    assert!(shown.contains("https://crm.example.com/hooks?<redacted>"), "{shown}");
    let hooks = HttpWebhooks::new(vec![e], Arc::new(ManualClock::new(NOW))).unwrap();
    let shown = format!("{hooks:?}");
    assert!(!shown.contains("whsec") && !shown.contains("KioqKio"), "{shown}");
}
