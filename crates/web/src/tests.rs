//! Tests of the HTTP layer through the router (no ports, no sleeps) over a real SQLite
//! store in a temporary directory, a manual clock and fake adapters.
//!
//! Every call goes through [`TestApp::call`], which also checks that each error body has
//! a code from `CODES` with its status and a request id, and that each status a route
//! answered is documented for that route in the OpenAPI document.

use crate::routes::ROUTES;
use crate::{AppState, Limits, openapi, router};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use lineout_adapters::fakes::{FakeNetwork, FakeNotifier, FakePayments};
use lineout_app::clock::{ManualClock, SequentialIds};
use lineout_app::error::{CODES, status_of};
use lineout_app::ports::Store;
use lineout_app::{Adapters, Engine, EngineConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

struct TestApp {
    router: Router,
    engine: Engine,
    clock: Arc<ManualClock>,
    /// A token with the `admin` scope.
    admin: String,
    doc: Value,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    body: Value,
    headers: HeaderMap,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    fn field(&self) -> &str {
        self.body["details"]["field"].as_str().unwrap_or("")
    }
    #[track_caller]
    fn expect(&self, status: u16, code: &str) -> &Self {
        assert_eq!((self.status.as_u16(), self.code()), (status, code), "{}", self.body);
        self
    }
    #[track_caller]
    fn expect_field(&self, field: &str) -> &Self {
        self.expect(400, "invalid_field");
        assert_eq!(self.field(), field, "{}", self.body);
        self
    }
}

/// The engine's settings for these tests: a fixed verification key keeps sequential ids stable.
fn test_config() -> EngineConfig {
    EngineConfig { verification_key: "web-tests-verification-key-0123456789abcdef".into(), ..EngineConfig::default() }
}

async fn app() -> TestApp {
    app_with(|s| s).await
}

async fn app_with(configure: impl FnOnce(AppState) -> AppState) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(lineout_store::SqliteStore::open(&dir.path().join("db.sqlite")).unwrap());
    store.migrate().unwrap();
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-02 09:30 UTC)));
    let adapters = Adapters {
        network: Arc::new(FakeNetwork::default()),
        notifier: Arc::new(FakeNotifier::default()),
        payments: Arc::new(FakePayments::default()),
        webhooks: None,
    };
    let engine =
        Engine::start(store, clock.clone(), Arc::new(SequentialIds::default()), adapters, test_config()).unwrap();
    let (_, admin) = engine.create_token(vec!["admin".into()], "tests".into()).await.unwrap();
    let router = router(configure(AppState::new(engine.clone())));
    let doc = serde_json::to_value(openapi()).unwrap();
    TestApp { router, engine, clock, admin, doc, _dir: dir }
}

/// The route template a concrete path matches, if any.
fn template_of(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES.iter().map(|(_, p, _)| *p).find(|p| {
        let t: Vec<&str> = p.split('/').collect();
        t.len() == segments.len() && t.iter().zip(&segments).all(|(a, b)| a.starts_with('{') || a == b)
    })
}

impl TestApp {
    async fn token(&self, scopes: &[&str]) -> String {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.engine.create_token(scopes, "scoped".into()).await.unwrap().1
    }

    /// Sends a request. `body` is sent as-is with `content_type` when given.
    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = match body {
            Some((ct, text)) => {
                if !ct.is_empty() {
                    req = req.header("content-type", ct);
                }
                Body::from(text)
            }
            None => Body::empty(),
        };
        let resp = self.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        let reply = Reply { status, body, headers };
        self.check(method, path, &reply);
        reply
    }

    /// Checks what every response must satisfy.
    fn check(&self, method: &str, path: &str, reply: &Reply) {
        let request_id = reply.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(!request_id.is_empty(), "{method} {path}: no x-request-id");
        if reply.status.is_client_error() || reply.status.is_server_error() {
            let code = reply.code();
            assert!(CODES.iter().any(|(c, _, _)| *c == code), "{method} {path}: unknown code in {}", reply.body);
            assert_eq!(reply.status.as_u16(), status_of(code), "{method} {path}: {}", reply.body);
            assert!(reply.body["message"].is_string(), "{}", reply.body);
            assert_eq!(reply.body["details"]["request_id"], request_id, "{}", reply.body);
        }
        // Every status a route answers is documented for it.
        if let Some(template) = template_of(path)
            && ROUTES.iter().any(|(m, p, _)| *m == method && *p == template)
        {
            let responses = &self.doc["paths"][template][method.to_lowercase()]["responses"];
            assert!(
                responses.get(reply.status.as_str()).is_some(),
                "{method} {template} answered {} which the document does not list",
                reply.status
            );
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let token = self.admin.clone();
        self.raw(method, path, Some(&token), &[], body.map(|b| ("application/json", b.to_string()))).await
    }
    async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }
    async fn post_ok(&self, path: &str, body: Value, status: u16) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status.as_u16(), status, "POST {path}: {}", r.body);
        r.body
    }

    /// An account, a line (number 415-555-01NN) and nothing else.
    async fn seed_line(&self, n: u32) {
        self.post_ok("/api/v1/accounts", account(&format!("ACC-{n}")), 201).await;
        self.post_ok("/api/v1/lines", line(&format!("LINE-{n}"), &format!("ACC-{n}"), n), 201).await;
    }

    /// Verifies a web case by a one-time code sent to the line (read from its outbox row).
    async fn verify_by_code(&self, case: &str) -> Value {
        let sent = self
            .post_ok(&format!("/api/v1/cases/{case}/verification/codes"), json!({"destination": "line"}), 201)
            .await;
        let seq = sent["case"]["version"].as_u64().unwrap();
        let detail = self.engine.case_detail(lineout_domain::values::CaseId::parse(case).unwrap()).await.unwrap();
        let row = detail.outbox.iter().find(|r| r.id == format!("{case}.{seq}.0")).unwrap();
        let payload: Value = serde_json::from_str(&row.payload).unwrap();
        let code = payload["details"]["code"].as_str().unwrap().to_owned();
        self.post_ok(
            &format!("/api/v1/cases/{case}/verification"),
            json!({"method": "one_time_code", "code": code}),
            200,
        )
        .await
    }

    async fn open_case(&self, line: &str) -> String {
        let body = self
            .post_ok("/api/v1/cases", json!({"line_id": line, "channel": "web", "timing": {"kind": "immediate"}}), 201)
            .await;
        body["id"].as_str().unwrap().to_owned()
    }
}

fn account(id: &str) -> Value {
    json!({"id": id, "holder_name": "Ada Lovelace", "email": "ada@example.com", "language": "en",
           "billing_cycle_day": 12, "owed_cents": 0, "prepaid_balance_cents": 1850})
}

fn line(id: &str, account: &str, n: u32) -> Value {
    json!({"id": id, "account_id": account, "msisdn": format!("(415) 555-{:04}", 100 + n),
           "iccid": "89012600000000000078", "imsi": "310260000000001", "plan": "prepaid"})
}

fn device(id: &str, line: &str) -> Value {
    json!({"id": id, "line_id": line, "imei": "490154203237518", "model": "Phone 12", "price_cents": 79900,
           "ownership": "leased"})
}

// ---- System ------------------------------------------------------------------------------

#[tokio::test]
async fn health_needs_no_token_and_names_the_backend() {
    let app = app().await;
    let r = app.raw("GET", "/health", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ok", "backend": "sqlite"}));
}

#[tokio::test]
async fn a_plain_incoming_request_id_is_kept_and_a_strange_one_replaced() {
    let app = app().await;
    let r = app.raw("GET", "/api/v1/nope", None, &[("x-request-id", "abc-123")], None).await;
    assert_eq!(r.headers["x-request-id"], "abc-123");
    assert_eq!(r.body["details"]["request_id"], "abc-123");
    let r = app.raw("GET", "/health", None, &[("x-request-id", "has space")], None).await;
    assert_ne!(r.headers["x-request-id"], "has space");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_coded_errors() {
    let app = app().await;
    app.get("/api/v1/nope").await.expect(404, "not_found");
    app.get("/").await.expect(404, "not_found");
    app.call("DELETE", "/api/v1/accounts/ACC-1", None).await.expect(405, "method_not_allowed");
    app.call("PUT", "/api/v1/cases", Some(json!({}))).await.expect(405, "method_not_allowed");
}

#[tokio::test]
async fn metrics_are_served_without_a_token_by_route_template() {
    let app = app().await;
    app.seed_line(1).await;
    app.seed_line(2).await;
    let id = app.open_case("LINE-1").await;
    // A refused open and a refused command count with their error codes.
    app.post("/api/v1/cases", json!({"line_id": "LINE-1", "channel": "web", "timing": {"kind": "immediate"}}))
        .await
        .expect(409, "case_already_open");
    app.post(&format!("/api/v1/cases/{id}/commands"), json!({"type": "confirm_outcome"})).await;
    app.get("/api/v1/accounts/ACC-2").await.expect(200, "");
    app.get("/api/v1/no-such-thing-42").await.expect(404, "not_found");
    app.engine.drain(10).await.unwrap();

    let r = app.raw("GET", "/metrics", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    // The body is text, so fetch it again as text.
    let req = Request::builder().uri("/metrics").body(Body::empty()).unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    for want in [
        // Requests by route template, never by concrete path.
        r#"lineout_http_requests_total{route="/api/v1/cases",method="POST",status="201"}"#,
        r#"lineout_http_requests_total{route="/api/v1/cases",method="POST",status="409"}"#,
        r#"lineout_http_requests_total{route="/api/v1/accounts/{id}",method="GET",status="200"}"#,
        r#"lineout_http_requests_total{route="unmatched",method="GET",status="404"}"#,
        r#"lineout_http_request_duration_seconds_bucket{route="/api/v1/cases",method="POST",le="0.0005"}"#,
        // Commands: latency and outcomes.
        r#"lineout_command_duration_seconds_bucket{command="open",le="5"}"#,
        r#"lineout_commands_total{command="open",outcome="ok"}"#,
        r#"lineout_commands_total{command="open",outcome="case_already_open"}"#,
        r#"lineout_commands_total{command="confirm_outcome","#,
        // Group commits.
        "lineout_commits_total ",
        r#"lineout_commit_batch_size_bucket{le="1024"}"#,
        // Gauges read from the store at scrape time.
        "lineout_outbox_pending ",
        "lineout_outbox_dead ",
        "lineout_outbox_oldest_pending_age_seconds ",
        "lineout_timer_lag_seconds ",
        r#"lineout_cases{status="verifying"}"#,
        r#"lineout_cases{status="closed"}"#,
        "lineout_store_up 1",
        "# HELP lineout_http_requests_total ",
    ] {
        assert!(text.contains(want), "/metrics lacks {want}:\n{text}");
    }
    assert!(!text.contains("ACC-2") && !text.contains("no-such-thing") && !text.contains(&id), "{text}");
}

// ---- Auth --------------------------------------------------------------------------------

#[tokio::test]
async fn a_missing_or_unknown_token_is_refused_before_the_body_is_read() {
    let app = app().await;
    let bad_body = Some(("application/json", "{not json".to_owned()));
    app.raw("POST", "/api/v1/accounts", None, &[], bad_body.clone()).await.expect(401, "unauthorized");
    app.raw("POST", "/api/v1/accounts", Some("lo_wrong"), &[], bad_body.clone()).await.expect(401, "unauthorized");
    app.raw("GET", "/api/v1/cases", Some("not-a-lineout-token"), &[], None).await.expect(401, "unauthorized");
    let basic = [("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")];
    app.raw("GET", "/api/v1/cases", None, &basic, None).await.expect(401, "unauthorized");
    app.raw("GET", "/api/v1/cases/C000001", None, &[], None).await.expect(401, "unauthorized");
}

#[tokio::test]
async fn a_token_without_the_scope_is_forbidden() {
    let app = app().await;
    app.seed_line(1).await;
    let reader = app.token(&["cases:read"]).await;
    let r = app
        .raw(
            "POST",
            "/api/v1/cases",
            Some(&reader),
            &[],
            Some((
                "application/json",
                json!({"line_id": "LINE-1", "channel": "web", "timing": {"kind": "immediate"}}).to_string(),
            )),
        )
        .await;
    r.expect(403, "forbidden");
    assert_eq!(r.body["details"]["scope"], "cases:write");
    // A case reader acts for a customer: it sees the gated account until verification (CPNI).
    let r = app.raw("GET", "/api/v1/accounts/ACC-1", Some(&reader), &[], None).await;
    assert_eq!((r.status, r.body["cpni"].as_str()), (StatusCode::OK, Some("gated")), "{}", r.body);
    assert!(r.body.get("prepaid_balance_cents").is_none(), "{}", r.body);
    let r = app.raw("GET", "/api/v1/cases", Some(&reader), &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    // Nothing was opened.
    assert_eq!(app.get("/api/v1/cases").await.body["items"], json!([]));

    let accounts = app.token(&["accounts:read", "accounts:write"]).await;
    let r = app.raw("GET", "/api/v1/accounts/ACC-1", Some(&accounts), &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    app.raw("GET", "/api/v1/cases", Some(&accounts), &[], None).await.expect(403, "forbidden");
}

#[tokio::test]
async fn a_cached_token_keeps_working_after_the_cache_expires() {
    let app = app().await;
    let reader = app.token(&["cases:read"]).await;
    for _ in 0..3 {
        assert_eq!(app.raw("GET", "/api/v1/cases", Some(&reader), &[], None).await.status, StatusCode::OK);
    }
    app.clock.advance(time::Duration::minutes(5));
    assert_eq!(app.raw("GET", "/api/v1/cases", Some(&reader), &[], None).await.status, StatusCode::OK);
}

// ---- Accounts, lines, devices ----------------------------------------------------------

#[tokio::test]
async fn accounts_lines_and_devices_are_created_updated_and_read() {
    let app = app().await;
    let created = app.post_ok("/api/v1/accounts", account("ACC-1"), 201).await;
    assert_eq!(
        created,
        json!({"id": "ACC-1", "holder_name": "Ada Lovelace", "email": "ada@example.com", "alt_phone": null,
               "language": "en", "billing_cycle_day": 12, "kind": "residential",
               "locks": {"port_out": false, "sim_change": false, "cancellation": false},
               "owed_cents": 0, "prepaid_balance_cents": 1850, "currency": "USD"})
    );
    assert_eq!(app.post_ok("/api/v1/accounts", account("ACC-1"), 200).await, created);
    let mut changed = account("ACC-1");
    changed["language"] = json!("zh-Hans");
    changed["locks"] = json!({"port_out": true});
    app.post_ok("/api/v1/accounts", changed, 200).await;
    let read = app.get("/api/v1/accounts/ACC-1").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["language"], "zh-Hans");
    assert_eq!(read.body["locks"]["port_out"], true);
    assert!(read.body.get("pin_hash").is_none());

    let l = app.post_ok("/api/v1/lines", line("LINE-1", "ACC-1", 1), 201).await;
    assert_eq!(l["msisdn"], "+14155550101");
    assert_eq!(l["status"], "active");
    assert_eq!(app.get("/api/v1/lines/LINE-1").await.body, l);
    let found = app.get("/api/v1/lines?msisdn=415-555-0101").await;
    assert_eq!(found.body, json!({"items": [l]}));
    assert_eq!(app.get("/api/v1/lines?msisdn=4155550199").await.body, json!({"items": []}));

    let d = app.post_ok("/api/v1/devices", device("DEV-1", "LINE-1"), 201).await;
    assert_eq!(d["must_return"], true);
    assert_eq!(d["price_cents"], 79900);
    assert_eq!(app.get("/api/v1/devices/DEV-1").await.body, d);
}

#[tokio::test]
async fn the_api_keeps_an_accounts_pin_and_a_lines_status_it_was_not_given() {
    let app = app().await;
    app.seed_line(1).await;
    let mut acc = app.engine.account("ACC-1".parse().unwrap()).await.unwrap();
    acc.pin_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    app.engine.upsert_accounts(vec![acc]).await.unwrap().pop().unwrap().unwrap();
    let mut changed = account("ACC-1");
    changed["holder_name"] = json!("Ada King");
    app.post_ok("/api/v1/accounts", changed, 200).await;
    let acc = app.engine.account("ACC-1".parse().unwrap()).await.unwrap();
    assert_eq!(acc.holder_name, "Ada King");
    assert!(acc.pin_hash.is_some());

    let mut suspended = line("LINE-1", "ACC-1", 1);
    suspended["status"] = json!("suspended");
    app.post_ok("/api/v1/lines", suspended, 200).await;
    let l = app.post_ok("/api/v1/lines", line("LINE-1", "ACC-1", 1), 200).await;
    assert_eq!(l["status"], "suspended");
}

#[tokio::test]
async fn bad_inputs_name_their_field_and_change_nothing() {
    let app = app().await;
    app.seed_line(1).await;
    let before = app.get("/api/v1/lines/LINE-1").await.body;

    for (field, value) in [
        ("msisdn", json!("555-CALL-NOW")),
        ("iccid", json!("8901260000000000009")),
        ("imsi", json!("1234")),
        ("id", json!("no spaces allowed")),
        ("account_id", json!("")),
    ] {
        let mut body = line("LINE-1", "ACC-1", 1);
        body[field] = value;
        app.post("/api/v1/lines", body).await.expect_field(field);
    }
    let mut body = device("DEV-1", "LINE-1");
    body["imei"] = json!("490154203237519");
    app.post("/api/v1/devices", body).await.expect_field("imei");
    for (field, value) in [
        ("email", json!("not-an-email")),
        ("billing_cycle_day", json!(29)),
        ("holder_name", json!("")),
        ("currency", json!("EUR")),
        ("prepaid_balance_cents", json!(-1)),
        ("alt_phone", json!("12")),
    ] {
        let mut body = account("ACC-1");
        body[field] = value;
        app.post("/api/v1/accounts", body).await.expect_field(field);
    }
    // Unknown fields and wrong types are refused as invalid JSON.
    let mut body = account("ACC-1");
    body["pin_hash"] = json!("x");
    app.post("/api/v1/accounts", body).await.expect(400, "invalid_json");
    let mut body = line("LINE-1", "ACC-1", 1);
    body["plan"] = json!("forever");
    app.post("/api/v1/lines", body).await.expect(400, "invalid_json");
    app.raw("POST", "/api/v1/lines", Some(&app.admin), &[], Some(("application/json", "{".into())))
        .await
        .expect(400, "invalid_json");
    // The body must be JSON.
    let text = line("LINE-1", "ACC-1", 1).to_string();
    app.raw("POST", "/api/v1/lines", Some(&app.admin), &[], Some(("text/plain", text.clone())))
        .await
        .expect(415, "unsupported_media_type");
    app.raw("POST", "/api/v1/lines", Some(&app.admin), &[], Some(("", text)))
        .await
        .expect(415, "unsupported_media_type");
    // References and uniqueness.
    let r = app.post("/api/v1/lines", line("LINE-2", "ACC-404", 2)).await;
    r.expect(422, "missing_reference");
    assert_eq!(r.field(), "account_id");
    app.post("/api/v1/lines", line("LINE-2", "ACC-1", 1)).await.expect(409, "msisdn_taken");
    app.post("/api/v1/devices", device("DEV-1", "LINE-404")).await.expect(422, "missing_reference");

    assert_eq!(app.get("/api/v1/lines/LINE-1").await.body, before);
    app.get("/api/v1/lines/LINE-2").await.expect(404, "line_not_found");
    app.get("/api/v1/devices/DEV-1").await.expect(404, "device_not_found");
    assert_eq!(app.get("/api/v1/accounts/ACC-1").await.body["email"], "ada@example.com");
}

#[tokio::test]
async fn unknown_and_malformed_ids_answer_404_and_400() {
    let app = app().await;
    let r = app.get("/api/v1/accounts/ACC-404").await;
    r.expect(404, "account_not_found");
    assert_eq!(r.body["details"]["id"], "ACC-404");
    app.get("/api/v1/lines/LINE-404").await.expect(404, "line_not_found");
    app.get("/api/v1/devices/DEV-404").await.expect(404, "device_not_found");
    app.get("/api/v1/cases/C999999").await.expect(404, "case_not_found");
    app.get("/api/v1/cases/bad%20id").await.expect_field("id");
    app.get(&format!("/api/v1/accounts/{}", "A".repeat(65))).await.expect_field("id");
    app.post("/api/v1/cases/C999999/commands", json!({"type": "withdraw"})).await.expect(404, "case_not_found");
    app.get("/api/v1/lines").await.expect(400, "invalid_query");
    let r = app.get("/api/v1/lines?msisdn=12").await;
    r.expect(400, "invalid_query");
    assert_eq!(r.field(), "msisdn");
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let app = app_with(|s| s.with_body_limit(512)).await;
    let mut body = account("ACC-1");
    body["holder_name"] = json!("x".repeat(600));
    app.post("/api/v1/accounts", body).await.expect(413, "payload_too_large");
    app.get("/api/v1/accounts/ACC-1").await.expect(404, "account_not_found");
    // Under the limit is fine.
    app.post_ok("/api/v1/accounts", account("ACC-1"), 201).await;
}

#[tokio::test]
async fn imports_answer_per_row_and_refuse_too_many_rows() {
    let app = app_with(|s| s.with_limits(Limits { import_rows: 3, ..Limits::default() })).await;
    let mut bad = account("ACC-2");
    bad["email"] = json!("nope");
    let mut unknown = account("ACC-3");
    unknown["extra"] = json!(1);
    let rows = json!([account("ACC-1"), bad, unknown]);
    let r = app.post("/api/v1/import/accounts", rows).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body[0], json!({"row": 1, "result": "inserted", "code": null, "message": null, "field": null}));
    assert_eq!(
        (r.body[1]["result"].clone(), r.body[1]["code"].clone(), r.body[1]["field"].clone()),
        (json!("error"), json!("invalid_field"), json!("email"))
    );
    assert_eq!((r.body[2]["result"].clone(), r.body[2]["code"].clone()), (json!("error"), json!("invalid_json")));
    app.get("/api/v1/accounts/ACC-2").await.expect(404, "account_not_found");

    let r = app.post("/api/v1/import/lines", json!([line("LINE-1", "ACC-1", 1), line("LINE-2", "ACC-9", 2)])).await;
    assert_eq!(r.body[0]["result"], "inserted");
    assert_eq!(r.body[1]["code"], "missing_reference");
    let r = app.post("/api/v1/import/devices", json!([device("DEV-1", "LINE-1")])).await;
    assert_eq!(r.body[0]["result"], "inserted");
    let r = app.post("/api/v1/import/devices", json!([device("DEV-1", "LINE-1")])).await;
    assert_eq!(r.body[0]["result"], "unchanged");

    let four = json!([account("ACC-5"), account("ACC-6"), account("ACC-7"), account("ACC-8")]);
    let r = app.post("/api/v1/import/accounts", four).await;
    r.expect(413, "payload_too_large");
    assert_eq!(r.body["details"]["max_rows"], 3);
    app.get("/api/v1/accounts/ACC-5").await.expect(404, "account_not_found");
    app.post("/api/v1/import/accounts", account("ACC-9")).await.expect(400, "invalid_json");
    assert_eq!(app.post("/api/v1/import/lines", json!([])).await.body, json!([]));
}

// ---- Cases -------------------------------------------------------------------------------

#[tokio::test]
async fn a_case_opens_once_per_line() {
    let app = app().await;
    app.seed_line(1).await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"msisdn": "(415) 555-0101", "channel": "web", "timing": {"kind": "immediate"}}),
            201,
        )
        .await;
    assert_eq!(case["status"], "verifying");
    assert_eq!(case["line_id"], "LINE-1");
    assert_eq!(case["msisdn"], "+14155550101");
    assert_eq!(case["timing"], json!({"kind": "immediate"}));
    assert_eq!(case["opened_at"], "2026-11-02T09:30:00Z");

    let again = json!({"line_id": "LINE-1", "channel": "ivr", "timing": {"kind": "end_of_cycle"}});
    let r = app.post("/api/v1/cases", again).await;
    r.expect(409, "case_already_open");
    assert_eq!(r.body["details"]["case_id"], case["id"]);
    let list = app.get("/api/v1/cases").await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bad_open_requests_are_refused_and_open_nothing() {
    let app = app().await;
    app.seed_line(1).await;
    let a = &app;
    let open = |body: Value| async move { a.post("/api/v1/cases", body).await };
    let immediate = json!({"kind": "immediate"});
    open(json!({"channel": "web", "timing": immediate.clone()})).await.expect_field("line_id");
    open(json!({"line_id": "LINE-1", "msisdn": "4155550101", "channel": "web", "timing": immediate.clone()}))
        .await
        .expect_field("line_id");
    open(json!({"msisdn": "12", "channel": "web", "timing": immediate.clone()})).await.expect_field("msisdn");
    open(json!({"line_id": "LINE-9", "channel": "web", "timing": immediate.clone()}))
        .await
        .expect(404, "line_not_found");
    open(json!({"line_id": "LINE-1", "channel": "fax", "timing": immediate.clone()})).await.expect(400, "invalid_json");
    open(json!({"line_id": "LINE-1", "channel": "web", "timing": {"kind": "on_date", "date": "31/12/2026"}}))
        .await
        .expect_field("timing.date");
    open(json!({"line_id": "LINE-1", "channel": "web", "timing": {"kind": "on_date", "date": "2026-01-01"}}))
        .await
        .expect(422, "invalid_date");
    open(json!({"line_id": "LINE-1", "channel": "web", "timing": {"kind": "immediate", "date": "2026-12-01"}}))
        .await
        .expect(400, "invalid_json");
    let r = open(json!({"line_id": "LINE-1", "channel": "web", "timing": immediate.clone(), "note": ""})).await;
    r.expect(422, "invalid_text");
    assert_eq!(r.field(), "note");
    open(json!({"line_id": "LINE-1", "channel": "web", "timing": immediate.clone(), "urgent": true}))
        .await
        .expect(400, "invalid_json");
    assert_eq!(app.get("/api/v1/cases").await.body["items"], json!([]));
    // A date in range works.
    let case =
        open(json!({"line_id": "LINE-1", "channel": "web", "timing": {"kind": "on_date", "date": "2026-12-31"}})).await;
    assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);
    assert_eq!(case.body["timing"], json!({"kind": "on_date", "date": "2026-12-31"}));
}

#[tokio::test]
async fn commands_move_a_case_and_illegal_ones_change_nothing() {
    let app = app().await;
    app.seed_line(1).await;
    app.post_ok("/api/v1/devices", device("DEV-1", "LINE-1"), 201).await;
    let id = app.open_case("LINE-1").await;
    let path = format!("/api/v1/cases/{id}/commands");

    let r = app.post(&path, json!({"type": "approve"})).await;
    r.expect(409, "illegal_transition");
    // Worker-only commands, unknown fields and unknown types are not accepted from the API.
    app.post(&path, json!({"type": "timer_fired", "timer": "verification_expiry"})).await.expect(400, "invalid_json");
    app.post(&path, json!({"type": "deprovisioning_confirmed", "effect_id": "x"})).await.expect(400, "invalid_json");
    app.post(&path, json!({"type": "withdraw", "why": "x"})).await.expect(400, "invalid_json");
    // Verification has its own endpoint; the say-so method is gone from the API.
    app.post(&path, json!({"type": "verify_identity", "method": "agent_attested"})).await.expect(400, "invalid_json");
    app.post(&format!("/api/v1/cases/{id}/verification"), json!({"method": "agent_attested"}))
        .await
        .expect(400, "invalid_json");
    app.post(&path, json!({"method": "agent_attested"})).await.expect(400, "invalid_json");
    app.post(&path, json!({"type": "receive_device", "imei": "123", "condition": "good"})).await.expect_field("imei");
    app.post(&path, json!({"type": "record_payment", "amount_cents": 100, "reference": "R1"}))
        .await
        .expect(409, "nothing_owed");
    let r = app.post(&path, json!({"type": "reject", "reason": "other", "note": "x".repeat(501)})).await;
    r.expect(422, "invalid_text");
    assert_eq!(r.field(), "note");
    let unchanged = app.get(&format!("/api/v1/cases/{id}")).await.body;
    assert_eq!(unchanged["version"], 1);
    assert_eq!(unchanged["status"], "verifying");

    let case = app.verify_by_code(&id).await;
    assert_eq!(case["status"], "preparing");
    assert_eq!(case["device_return"], "pending");
    app.post(&path, json!({"type": "receive_device", "imei": "356938035643809", "condition": "good"}))
        .await
        .expect(422, "device_mismatch");
    let case = app
        .post_ok(&path, json!({"type": "receive_device", "imei": "490154203237518", "condition": "good"}), 200)
        .await;
    assert_eq!(case["device_return"], "done");

    let detail = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    let timeline = detail.body["timeline"].as_array().unwrap();
    assert_eq!(timeline[0]["type"], "opened");
    assert_eq!(timeline[0]["seq"], 1);
    assert_eq!(timeline[0]["at"], "2026-11-02T09:30:00Z");
    assert_eq!(timeline[0]["actor"]["kind"], "client");
    assert!(timeline[0]["actor"]["id"].as_str().unwrap().starts_with("tok_"));
    assert_eq!(timeline[0]["data"]["channel"], "web");
    assert_eq!(timeline[1]["type"], "verification_code_sent");
    assert_eq!(timeline[1]["data"]["destination"], "line");
    assert_eq!(timeline[2]["type"], "identity_verified");
    assert_eq!(timeline[2]["data"]["method"], "one_time_code");
    assert_eq!(timeline[2]["data"]["code_id"], timeline[1]["data"]["code_id"]);
    assert!(timeline.iter().any(|e| e["type"] == "device_inspected"));
    assert!(detail.body["outbox"].as_array().is_some_and(|o| !o.is_empty()), "{}", detail.body);
    let outbox = &detail.body["outbox"][0];
    for key in ["id", "kind", "status", "attempts", "next_attempt_at", "last_error"] {
        assert!(outbox.get(key).is_some(), "outbox row lacks {key}: {outbox}");
    }
    assert!(detail.body["timers"].is_array());
}

#[tokio::test]
async fn a_client_acts_for_the_customer_only_with_the_customer_scope() {
    let app = app().await;
    app.seed_line(1).await;
    let id = app.open_case("LINE-1").await;
    let path = format!("/api/v1/cases/{id}/commands");
    let for_customer = [("x-lineout-on-behalf-of", "customer")];
    let body = |v: Value| Some(("application/json", v.to_string()));

    let writer = app.token(&["cases:write"]).await;
    app.raw("POST", &path, Some(&writer), &for_customer, body(json!({"type": "withdraw"})))
        .await
        .expect(403, "forbidden");
    let portal = app.token(&["cases:customer"]).await;
    app.raw("POST", &path, Some(&portal), &[], body(json!({"type": "withdraw"}))).await.expect(403, "forbidden");
    app.raw("POST", &path, Some(&portal), &[("x-lineout-on-behalf-of", "staff")], body(json!({"type": "withdraw"})))
        .await
        .expect_field("X-Lineout-On-Behalf-Of");
    app.raw("POST", &path, Some(&portal), &for_customer, body(json!({"type": "approve"})))
        .await
        .expect(403, "not_permitted");
    assert_eq!(app.get(&format!("/api/v1/cases/{id}")).await.body["version"], 1);

    let r = app.raw("POST", &path, Some(&portal), &for_customer, body(json!({"type": "withdraw"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "withdrawn");
    let detail = app.get(&format!("/api/v1/cases/{id}")).await.body;
    assert_eq!(detail["timeline"][1]["type"], "withdrawn");
    assert_eq!(detail["timeline"][1]["actor"], json!({"kind": "customer"}));
    app.post(&path, json!({"type": "withdraw"})).await.expect(409, "illegal_transition");
    // The line is free for a new case.
    app.open_case("LINE-1").await;
}

#[tokio::test]
async fn the_case_list_filters_and_pages() {
    let app = app().await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        app.seed_line(n).await;
        ids.push(app.open_case(&format!("LINE-{n}")).await);
    }
    app.post_ok(&format!("/api/v1/cases/{}/commands", ids[1]), json!({"type": "withdraw"}), 200).await;

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let path = match &after {
            Some(a) => format!("/api/v1/cases?limit=2&after={a}"),
            None => "/api/v1/cases?limit=2".to_owned(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page.body["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let withdrawn = app.get("/api/v1/cases?status=withdrawn").await.body;
    assert_eq!(withdrawn["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(withdrawn["items"][0]["id"], ids[1].as_str());
    assert_eq!(withdrawn["next_after"], Value::Null);
    let on_line = app.get("/api/v1/cases?line_id=LINE-3&channel=web").await.body;
    assert_eq!(on_line["items"][0]["id"], ids[2].as_str());
    let on_account = app.get("/api/v1/cases?account_id=ACC-4").await.body;
    assert_eq!(on_account["items"][0]["id"], ids[3].as_str());
    let dated = app.get("/api/v1/cases?opened_from=2026-11-02&opened_to=2026-11-03T00:00:00Z").await.body;
    assert_eq!(dated["items"].as_array().map(Vec::len), Some(5));
    let none = app.get("/api/v1/cases?opened_from=2026-11-03").await.body;
    assert_eq!(none["items"], json!([]));
    let max = app.get("/api/v1/cases?limit=500").await.body;
    assert_eq!(max["items"].as_array().map(Vec::len), Some(5));

    for (query, field) in [
        ("status=open", "status"),
        ("channel=fax", "channel"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("opened_from=yesterday", "opened_from"),
        ("after=bad%20id", "after"),
    ] {
        let r = app.get(&format!("/api/v1/cases?{query}")).await;
        r.expect(400, "invalid_query");
        assert_eq!(r.field(), field, "{query}");
    }
    app.get("/api/v1/cases?colour=red").await.expect(400, "invalid_query");
}

// ---- Errors and documentation ------------------------------------------------------------

#[test]
fn internal_errors_never_show_their_detail() {
    for e in [
        lineout_app::Error::Storage("disk /var/secret full".into()),
        lineout_app::Error::Internal("index out of bounds in secret".into()),
    ] {
        let api = crate::ApiError::from(e);
        assert_eq!(api.status().as_u16(), 500);
        assert!(!api.message.contains("secret"), "{}", api.message);
    }
}

#[tokio::test]
async fn the_document_describes_exactly_the_routes() {
    let app = app().await;
    let doc = &app.doc;
    let paths = doc["paths"].as_object().unwrap();
    for (method, path, _) in ROUTES {
        let op = &paths.get(*path).unwrap_or_else(|| panic!("{path} is not documented"))[method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        let secured = op.get("security").is_some();
        let public = matches!(
            *path,
            "/health"
                | "/api/v1/openapi.json"
                | "/metrics"
                | "/api/v1/authenticity/{code}"
                | "/api/v1/exports/{token}"
                | "/api/v1/fraud-reports"
        );
        assert_eq!(secured, !public, "{method} {path}: security");
        if secured {
            for status in ["401", "403", "500"] {
                assert!(op["responses"].get(status).is_some(), "{method} {path} lacks {status}");
            }
        }
        if *method == "POST" {
            for status in ["400", "413", "415"] {
                assert!(op["responses"].get(status).is_some(), "{method} {path} lacks {status}");
            }
        }
    }
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete", "head", "options", "trace"] {
            if item.get(method).is_some() {
                assert!(
                    ROUTES.iter().any(|(m, p, _)| m.eq_ignore_ascii_case(method) && p == path),
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }
    // Every route is reachable in the router: no fallback 404 and no 405.
    for (method, path, _) in ROUTES {
        let concrete = path.replace("{id}", "X1");
        let r = app.raw(method, &concrete, None, &[], None).await;
        assert!(!matches!(r.code(), "not_found" | "method_not_allowed"), "{method} {path} is not routed: {}", r.body);
    }
    // The error schema lists every code; the bearer scheme exists.
    let codes = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"].as_array().unwrap();
    let want: Vec<Value> = CODES.iter().map(|(c, _, _)| json!(c)).collect();
    assert_eq!(codes, &want);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn the_document_and_swagger_ui_are_served_without_a_token() {
    let app = app().await;
    let r = app.raw("GET", "/api/v1/openapi.json", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, app.doc);
    let r = app.raw("GET", "/api/docs/", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let r = app.raw("GET", "/api/docs", None, &[], None).await;
    assert!(r.status.is_redirection());
}

#[tokio::test]
async fn a_prepaid_line_without_a_device_goes_from_opened_to_closed() {
    let app = app().await;
    app.seed_line(1).await;
    let id = app.open_case("LINE-1").await;
    app.engine.drain(50).await.unwrap();
    app.clock.advance(time::Duration::minutes(5));
    let case = app.verify_by_code(&id).await;
    assert_eq!(case["status"], "approved", "{case}");
    app.engine.drain(50).await.unwrap();
    assert_eq!(app.get("/api/v1/lines/LINE-1").await.body["status"], "pending_termination");
    app.clock.advance(time::Duration::hours(24));
    app.engine.drain(50).await.unwrap();
    assert_eq!(app.get("/api/v1/lines/LINE-1").await.body["status"], "terminated");

    let detail = app.get(&format!("/api/v1/cases/{id}")).await.body;
    let mut timeline = String::new();
    for e in detail["timeline"].as_array().unwrap() {
        timeline.push_str(&format!(
            "{} {} {} {}\n",
            e["seq"],
            e["actor"]["kind"].as_str().unwrap(),
            e["type"].as_str().unwrap(),
            e["data"]
        ));
    }
    assert_eq!(detail["status"], "closed", "{timeline}");
    assert!(timeline.contains("refund_decided"), "{timeline}");
    assert!(detail["outbox"].as_array().unwrap().iter().all(|o| o["status"] == "done"), "{}", detail["outbox"]);
}
