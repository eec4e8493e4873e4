//! Test support: an app on a fresh database with a manual clock and fake adapters,
//! driven through the HTTP router in-process.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lineout_adapters::fakes::{FakeNetwork, FakeNotifier, FakePayments};
use lineout_app::clock::{ManualClock, SequentialIds};
use lineout_app::ports::Store;
use lineout_app::{Adapters, Engine, EngineConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

pub struct TestApp {
    pub router: axum::Router,
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub network: Arc<FakeNetwork>,
    pub notifier: Arc<FakeNotifier>,
    pub payments: Arc<FakePayments>,
    pub token: String,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(EngineConfig::default()).await
}

/// An app on PostgreSQL in a fresh schema, when `LINEOUT_TEST_POSTGRES_URL` is set.
pub async fn spawn_app_on_postgres() -> Option<TestApp> {
    let Ok(url) = std::env::var("LINEOUT_TEST_POSTGRES_URL") else {
        eprintln!("LINEOUT_TEST_POSTGRES_URL is not set: skipping the PostgreSQL variant");
        return None;
    };
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let schema = format!(
        "lineout_it_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        rand_suffix()
    );
    let store = tokio::task::spawn_blocking(move || {
        let store = lineout_store::PostgresStore::connect(&url, Some(&schema)).unwrap();
        store.migrate().unwrap();
        store
    })
    .await
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    Some(build(store, EngineConfig::default(), tempfile::tempdir().unwrap()).await)
}

fn rand_suffix() -> u32 {
    // Distinct per run without reading the clock: the address of a fresh allocation varies.
    let b = Box::new(0u8);
    (&*b as *const u8 as usize % 1_000_000) as u32
}

pub async fn spawn_app_with(config: EngineConfig) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(lineout_store::SqliteStore::open(&dir.path().join("t.db")).unwrap());
    store.migrate().unwrap();
    build(store, config, dir).await
}

/// An app on SQLite whose network adapter is `real` (e.g. the osmo-hlr adapter).
pub async fn spawn_app_with_network(real: Arc<dyn lineout_app::ports::Network>) -> TestApp {
    spawn_app_custom(EngineConfig::default(), Real { network: Some(real), ..Real::default() }).await
}

/// Real adapters to use instead of the fakes.
#[derive(Default)]
pub struct Real {
    pub network: Option<Arc<dyn lineout_app::ports::Network>>,
    pub notifier: Option<Arc<dyn lineout_app::ports::Notifier>>,
    pub webhooks: Option<Arc<dyn lineout_app::ports::WebhookTransport>>,
    pub payments: Option<Arc<dyn lineout_app::ports::Payments>>,
}

/// An app on SQLite with some real adapters.
pub async fn spawn_app_custom(config: EngineConfig, real: Real) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(lineout_store::SqliteStore::open(&dir.path().join("t.db")).unwrap());
    store.migrate().unwrap();
    build_with(store, config, dir, real).await
}

async fn build(store: Arc<dyn Store>, config: EngineConfig, dir: tempfile::TempDir) -> TestApp {
    build_with(store, config, dir, Real::default()).await
}

async fn build_with(store: Arc<dyn Store>, config: EngineConfig, dir: tempfile::TempDir, real: Real) -> TestApp {
    let mut config = config;
    if config.verification_key.is_empty() {
        // A fixed key keeps the sequential ids of tests where they were (an empty key draws one).
        config.verification_key = "integration-tests-verification-key-0123456789".into();
    }
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-02 09:30 UTC)));
    let network = Arc::new(FakeNetwork::default());
    let notifier = Arc::new(FakeNotifier::default());
    let payments = Arc::new(FakePayments::default());
    let used_network: Arc<dyn lineout_app::ports::Network> = match real.network {
        Some(n) => n,
        None => network.clone(),
    };
    let used_notifier: Arc<dyn lineout_app::ports::Notifier> = match real.notifier {
        Some(n) => n,
        None => notifier.clone(),
    };
    let used_payments: Arc<dyn lineout_app::ports::Payments> = match real.payments {
        Some(p) => p,
        None => payments.clone(),
    };
    let adapters =
        Adapters { network: used_network, notifier: used_notifier, payments: used_payments, webhooks: real.webhooks };
    let engine = Engine::start(store, clock.clone(), Arc::new(SequentialIds::default()), adapters, config).unwrap();
    let (_, token) = engine.create_token(vec!["admin".into()], "tests".into()).await.unwrap();
    let router = lineout_web::router(lineout_web::AppState::new(engine.clone()));
    TestApp { router, engine, clock, network, notifier, payments, token, _dir: dir }
}

impl TestApp {
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req =
            Request::builder().method(method).uri(path).header("authorization", format!("Bearer {}", self.token));
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let resp = self.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        (status, value)
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(body)).await
    }
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None).await
    }
    /// POSTs and asserts the status, returning the body.
    pub async fn post_ok(&self, path: &str, body: Value, expect: StatusCode) -> Value {
        let (status, value) = self.post(path, body).await;
        assert_eq!(status, expect, "POST {path}: {value}");
        value
    }
    pub async fn command(&self, case: &str, body: Value) -> Value {
        self.post_ok(&format!("/api/v1/cases/{case}/commands"), body, StatusCode::OK).await
    }
    /// Verifies a case the way its channel allows: `api` by the token, `store` by a
    /// photo ID, others by a one-time code sent to the line (read from its outbox row).
    pub async fn verify(&self, case: &str) -> Value {
        let (_, detail) = self.get(&format!("/api/v1/cases/{case}")).await;
        let path = format!("/api/v1/cases/{case}/verification");
        let body = match detail["channel"].as_str().unwrap_or("?") {
            "api" => json!({"method": "operator_token"}),
            "store" => json!({
                "method": "photo_id", "staff_id": "agent-7", "document_type": "drivers_license",
                "last4": "4821", "expires_on": "2031-05-31"
            }),
            _ => json!({"method": "one_time_code", "code": self.send_code(case, "line").await}),
        };
        self.post_ok(&path, body, StatusCode::OK).await
    }
    /// Sends a one-time code for a case and returns it, read from the message's outbox row.
    pub async fn send_code(&self, case: &str, destination: &str) -> String {
        let path = format!("/api/v1/cases/{case}/verification/codes");
        let sent = self.post_ok(&path, json!({"destination": destination}), StatusCode::CREATED).await;
        let seq = sent["case"]["version"].as_u64().unwrap();
        let id = lineout_domain::CaseId::parse(case).unwrap();
        let detail = self.engine.case_detail(id).await.unwrap();
        let row = detail.outbox.iter().find(|r| r.id == format!("{case}.{seq}.0")).unwrap();
        let payload: Value = serde_json::from_str(&row.payload).unwrap();
        payload["details"]["code"].as_str().unwrap().to_owned()
    }
    /// Runs timers and the outbox until idle.
    pub async fn drain(&self) {
        self.engine.drain(50).await.unwrap();
    }
}

/// The case's timeline and outbox as readable text, for snapshots.
pub fn render_case(case: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!("status: {}\n", case["status"].as_str().unwrap_or("?")));
    out.push_str("timeline:\n");
    for e in case["timeline"].as_array().into_iter().flatten() {
        let mut data = e["data"].clone();
        if let Some(obj) = data.as_object_mut() {
            obj.remove("facts");
        }
        let data = if data.is_null() || data.as_object().is_some_and(|o| o.is_empty()) {
            String::new()
        } else {
            format!(" {data}")
        };
        out.push_str(&format!(
            "  {:>2} {} {:<8} {}{}\n",
            e["seq"],
            e["at"].as_str().unwrap_or("?"),
            actor(&e["actor"]),
            e["type"].as_str().unwrap_or("?"),
            data
        ));
    }
    out.push_str("outbox:\n");
    for o in case["outbox"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {} {} {} attempts={}\n",
            o["id"].as_str().unwrap_or("?"),
            o["kind"].as_str().unwrap_or("?"),
            o["status"].as_str().unwrap_or("?"),
            o["attempts"]
        ));
    }
    out
}

fn actor(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => match (o.get("kind"), o.get("id")) {
            (Some(k), Some(id)) => format!("{}:{}", k.as_str().unwrap_or("?"), id.as_str().unwrap_or("?")),
            (Some(k), None) => k.as_str().unwrap_or("?").to_owned(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}
