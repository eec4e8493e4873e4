//! Fraud guards through the API with a manual clock: CPNI gating before verification,
//! the account lock and its cooling period, the "this wasn't me" freeze, four-eyes on
//! high-risk cases, and the authenticity check of every notice.

use crate::support::{TestApp, spawn_app, spawn_app_on_postgres, spawn_app_with};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lineout_app::EngineConfig;
use lineout_domain::case::Notice;
use serde_json::{Value, json};
use time::Duration;
use tower::ServiceExt;

/// A token with these scopes.
async fn token(app: &TestApp, scopes: &[&str]) -> String {
    let (_, secret) =
        app.engine.create_token(scopes.iter().map(|s| (*s).to_owned()).collect(), "fraud tests".into()).await.unwrap();
    secret
}

/// A request with a given token (or none) and headers.
async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn seed(app: &TestApp, account: &str, line: &str, number: &str) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": account, "holder_name": "Grace Hopper", "email": "grace@example.com",
               "alt_phone": "+1 917 555 0142", "prepaid_balance_cents": 2_500}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": line, "account_id": account, "msisdn": number, "iccid": "8901260882310000010",
               "imsi": "310260000000442", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
}

fn config_without_auto_approval() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.policy.auto_approve.enabled = false;
    config
}

// ---- CPNI gating -----------------------------------------------------------------------

#[tokio::test]
async fn staff_see_only_what_verification_needs_until_the_customer_is_verified() {
    let app = spawn_app().await;
    seed(&app, "ACC-G", "LINE-G", "+1 415 555 0199").await;
    app.post_ok(
        "/api/v1/devices",
        json!({"id": "DEV-G", "line_id": "LINE-G", "imei": "490154203237518", "model": "Pixel 9",
               "price_cents": 49_900, "ownership": "owned"}),
        StatusCode::CREATED,
    )
    .await;
    let agent = token(&app, &["cases:read", "cases:write"]).await;
    let portal = token(&app, &["cases:customer"]).await;
    let billing = token(&app, &["accounts:read", "cases:read"]).await;
    let (status, case) = call(
        &app,
        Some(&agent),
        "POST",
        "/api/v1/cases",
        &[],
        Some(json!({"line_id": "LINE-G", "channel": "store", "timing": {"kind": "immediate"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap().to_owned();

    let gated_paths = [
        format!("/api/v1/cases/{id}"),
        "/api/v1/accounts/ACC-G".to_owned(),
        "/api/v1/lines/LINE-G".to_owned(),
        "/api/v1/devices/DEV-G".to_owned(),
        "/api/v1/accounts/ACC-G/ledger".to_owned(),
        format!("/api/v1/cases/{id}/statement"),
    ];
    // Before verification: the agent and the customer portal see the gated view only.
    for who in [&agent, &portal] {
        for path in &gated_paths {
            let (status, body) = call(&app, Some(who), "GET", path, &[], None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert_eq!(body["cpni"], "gated", "{path}: {body}");
            let text = body.to_string();
            for secret in ["2500", "grace@example.com", "9175550142", "4155550199", "490154203237518", "89012608823"] {
                assert!(!text.contains(secret), "{path} shows {secret}: {text}");
            }
        }
    }
    let (_, case) = call(&app, Some(&agent), "GET", &format!("/api/v1/cases/{id}"), &[], None).await;
    assert_eq!(case["msisdn_masked"], "•••• 0199");
    assert_eq!(case["holder_name"], "Grace Hopper");
    assert!(case.get("timeline").is_none(), "{case}");
    let (_, line) = call(&app, Some(&agent), "GET", "/api/v1/lines/LINE-G", &[], None).await;
    assert_eq!(line["msisdn_masked"], "•••• 0199");
    let (_, list) = call(&app, Some(&agent), "GET", "/api/v1/cases", &[], None).await;
    assert_eq!(list["items"][0]["cpni"], "gated", "{list}");
    let (_, found) = call(&app, Some(&agent), "GET", "/api/v1/lines?msisdn=4155550199", &[], None).await;
    assert_eq!(found["items"][0]["cpni"], "gated", "{found}");
    // A back-office integration with accounts:read sees everything.
    let (_, account) = call(&app, Some(&billing), "GET", "/api/v1/accounts/ACC-G", &[], None).await;
    assert_eq!(account["prepaid_balance_cents"], 2_500, "{account}");
    let (_, full) = call(&app, Some(&billing), "GET", &format!("/api/v1/cases/{id}"), &[], None).await;
    assert_eq!(full["msisdn"], "+14155550199");
    // A token with neither scope family is refused.
    let esim = token(&app, &["esim:notify"]).await;
    let (status, err) = call(&app, Some(&esim), "GET", "/api/v1/accounts/ACC-G", &[], None).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    // The agent verifies the customer (in store): every view opens.
    app.verify(&id).await;
    for path in &gated_paths {
        let (status, body) = call(&app, Some(&agent), "GET", path, &[], None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_ne!(body["cpni"], "gated", "{path}: {body}");
    }
    let (_, account) = call(&app, Some(&portal), "GET", "/api/v1/accounts/ACC-G", &[], None).await;
    assert_eq!(account["email"], "grace@example.com");
    let (_, list) = call(&app, Some(&agent), "GET", "/api/v1/cases", &[], None).await;
    assert_eq!(list["items"][0]["msisdn"], "+14155550199", "{list}");

    // The case ends: its verification keeps CPNI open for the policy window only.
    app.command(&id, json!({"type": "withdraw"})).await;
    app.clock.advance(Duration::minutes(29));
    let (_, account) = call(&app, Some(&agent), "GET", "/api/v1/accounts/ACC-G", &[], None).await;
    assert_eq!(account["email"], "grace@example.com");
    app.clock.advance(Duration::minutes(1));
    let (_, account) = call(&app, Some(&agent), "GET", "/api/v1/accounts/ACC-G", &[], None).await;
    assert_eq!(account["cpni"], "gated", "{account}");
}

// ---- The account lock --------------------------------------------------------------------

fn sent(app: &TestApp, notice: Notice) -> Vec<lineout_app::ports::Message> {
    app.notifier.sent().into_iter().filter(|m| m.notice == notice).collect()
}

#[tokio::test]
async fn the_account_lock_blocks_at_once_and_lifts_only_after_the_cooling_period() {
    account_lock_scenario(&spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fraud_guards_hold_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else { return };
    account_lock_scenario(&app).await;
    fraud_code_scenario(&app, 10).await;
}

async fn account_lock_scenario(app: &TestApp) {
    seed(app, "ACC-L", "LINE-L", "+1 415 555 0166").await;
    // A cancellation someone already asked for, approved and waiting for its termination.
    let pending = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-L", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let pending = pending["id"].as_str().unwrap().to_owned();
    app.verify(&pending).await;
    let (_, approved) = app.get(&format!("/api/v1/cases/{pending}")).await;
    assert_eq!(approved["status"], "approved", "{approved}");
    // The account has a PIN (set by the operator's systems; the API never carries PINs).
    let mut account = app.engine.account(lineout_domain::values::AccountId::parse("ACC-L").unwrap()).await.unwrap();
    account.pin_hash = Some(lineout_app::secrets::hash("2468", [3; 16]).unwrap());
    app.engine.upsert_accounts(vec![account.clone()]).await.unwrap().pop().unwrap().unwrap();
    let portal = token(app, &["cases:customer"]).await;
    let me = [("x-lineout-on-behalf-of", "customer")];

    let (status, lock) = call(app, Some(&portal), "POST", "/api/v1/accounts/ACC-L/lock", &me, None).await;
    assert_eq!(status, StatusCode::OK, "{lock}");
    assert_eq!(lock["locks"], json!({"port_out": true, "sim_change": true, "cancellation": true}));
    app.drain().await;
    // Locking again at the same instant is harmless (and told again).
    let (status, _) = call(app, Some(&portal), "POST", "/api/v1/accounts/ACC-L/lock", &me, None).await;
    assert_eq!(status, StatusCode::OK);
    app.drain().await;
    let locked = sent(app, Notice::AccountLocked);
    assert_eq!(locked.len(), 2);
    assert_eq!(locked[0].case_id.as_str(), "acct.ACC-L");
    assert_eq!(locked[0].to.email.as_ref().map(|e| e.as_str()), Some("grace@example.com"));

    // Effective at once: the pending cancellation is stopped (the line stays active)…
    let (_, stopped) = app.get(&format!("/api/v1/cases/{pending}")).await;
    assert_eq!((stopped["status"].as_str(), stopped["line_status"].as_str()), (Some("frozen"), Some("active")));
    app.clock.advance(Duration::hours(25));
    app.drain().await;
    let calls = app.network.recorder.calls();
    assert!(calls.is_empty(), "no deprovisioning: {calls:?}");
    // … and no new cancellation, transfer PIN or port request.
    let (status, err) = app
        .post("/api/v1/cases", json!({"line_id": "LINE-L", "channel": "web", "timing": {"kind": "immediate"}}))
        .await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("account_locked")));
    let (status, err) = app.post("/api/v1/lines/LINE-L/transfer-pin", json!({"channel": "web"})).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("account_locked")));
    // A re-import that says "unlocked" cannot lift the lock.
    account.locks = lineout_domain::Locks::default();
    app.engine.upsert_accounts(vec![account]).await.unwrap();
    let (_, lock) = call(app, Some(&portal), "GET", "/api/v1/accounts/ACC-L/lock", &me, None).await;
    assert_eq!(lock["locks"]["cancellation"], true, "{lock}");

    // Lifting needs strong verification: none, or a wrong PIN, changes nothing.
    let lift = "/api/v1/accounts/ACC-L/lock-lift";
    let (status, err) = call(app, Some(&portal), "POST", lift, &me, Some(json!({}))).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("verification_required")));
    let wrong = json!({"line_id": "LINE-L", "pin": "1111"});
    let (status, err) = call(app, Some(&portal), "POST", lift, &me, Some(wrong)).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("verification_required")));
    let (status, err) = call(app, Some(&portal), "POST", lift, &me, Some(json!({"pin": "2468"}))).await;
    assert_eq!((status, err["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("line_id")));
    let (_, lock) = call(app, Some(&portal), "GET", "/api/v1/accounts/ACC-L/lock", &me, None).await;
    assert_eq!(lock["lift_effective_at"], Value::Null);

    // With the PIN: the lift is pending for 24 hours, and the holder is told.
    let right = json!({"line_id": "LINE-L", "pin": "2468"});
    let (status, pending) = call(app, Some(&portal), "POST", lift, &me, Some(right.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    let expected = app.engine.now() + Duration::hours(24);
    let at = time::OffsetDateTime::parse(
        pending["lift_effective_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(at, expected);
    let (status, err) = call(app, Some(&portal), "POST", lift, &me, Some(right.clone())).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("lock_lift_pending")));
    app.drain().await;
    assert_eq!(sent(app, Notice::AccountUnlocked).len(), 1, "a notice at request");

    // The customer changes their mind during the cooling period: the lock stays.
    app.clock.advance(Duration::hours(12));
    let (status, cancelled) = call(app, Some(&portal), "DELETE", lift, &me, None).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["lift_effective_at"], Value::Null);
    let (status, err) = call(app, Some(&portal), "DELETE", lift, &me, None).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("lock_lift_not_found")));
    app.clock.advance(Duration::hours(13));
    app.drain().await;
    let (_, lock) = call(app, Some(&portal), "GET", "/api/v1/accounts/ACC-L/lock", &me, None).await;
    assert_eq!(lock["locks"]["port_out"], true, "a cancelled lift never takes effect: {lock}");

    // Asked again: nothing changes until the cooling period is over, then the lock lifts.
    let (status, _) = call(app, Some(&portal), "POST", lift, &me, Some(right)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.clock.advance(Duration::hours(24) - Duration::seconds(1));
    app.drain().await;
    let (status, err) = app
        .post("/api/v1/cases", json!({"line_id": "LINE-L", "channel": "web", "timing": {"kind": "immediate"}}))
        .await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("account_locked")));
    let before = sent(app, Notice::AccountUnlocked).len();
    app.clock.advance(Duration::seconds(1));
    app.drain().await;
    let (_, lock) = call(app, Some(&portal), "GET", "/api/v1/accounts/ACC-L/lock", &me, None).await;
    assert_eq!(lock["locks"], json!({"port_out": false, "sim_change": false, "cancellation": false}));
    assert_eq!(lock["lift_effective_at"], Value::Null);
    assert_eq!(sent(app, Notice::AccountUnlocked).len(), before + 1, "a notice at effect");
    app.post_ok(
        "/api/v1/cases",
        json!({"line_id": "LINE-L", "channel": "web", "timing": {"kind": "immediate"}}),
        StatusCode::CREATED,
    )
    .await;
    // Lifting an unlocked account is refused.
    let (status, err) =
        call(app, Some(&portal), "POST", lift, &me, Some(json!({"line_id": "LINE-L", "pin": "2468"}))).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("account_not_locked")));
}

// ---- "This wasn't me" ------------------------------------------------------------------------

/// The "this wasn't me" code printed in an English notice.
fn fraud_code(text: &str) -> String {
    let at = text.find("report the code ").expect("the notice carries a fraud code") + "report the code ".len();
    text[at..at + 12].to_owned()
}

#[tokio::test]
async fn the_code_in_the_immediate_notice_freezes_the_request_and_a_wrong_code_changes_nothing() {
    let mut config = EngineConfig::default();
    config.policy.fraud.reports_per_window = 4;
    fraud_code_scenario(&spawn_app_with(config).await, 4).await;
}

/// `limit`: the policy's reports per window (this scenario makes 4 reports first).
async fn fraud_code_scenario(app: &TestApp, limit: u32) {
    seed(app, "ACC-F", "LINE-F", "+1 415 555 0133").await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-F", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.drain().await;
    // At once, to every contact other than the line being cancelled, with the code.
    let received: Vec<_> =
        sent(app, Notice::RequestReceived).into_iter().filter(|m| m.case_id.as_str() == id).collect();
    assert_eq!(received.len(), 1);
    let m = &received[0];
    assert_eq!(m.to.email.as_ref().map(|e| e.as_str()), Some("grace@example.com"));
    assert_eq!(m.to.sms.as_ref().map(|p| p.as_str()), Some("+19175550142"), "the alternate phone, not the line");
    let code = fraud_code(&m.body);
    assert!(m.sms_text.contains(&code), "{}", m.sms_text);

    let (_, before) = app.get(&format!("/api/v1/cases/{id}")).await;
    let reports = "/api/v1/fraud-reports";
    let (status, err) = call(app, None, "POST", reports, &[], Some(json!({"code": "ZZZZZZZZZZZZ"}))).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("fraud_code_unknown")));
    let (status, err) = call(app, None, "POST", reports, &[], Some(json!({"code": "not a code!"}))).await;
    assert_eq!((status, err["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("code")));
    let (_, unchanged) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(unchanged["status"], "verifying");
    assert_eq!(unchanged["version"], before["version"]);

    let (status, frozen) = call(app, None, "POST", reports, &[], Some(json!({"code": code.to_lowercase()}))).await;
    assert_eq!(status, StatusCode::OK, "{frozen}");
    assert_eq!((frozen["case_id"].as_str(), frozen["status"].as_str()), (Some(id.as_str()), Some("frozen")));
    let (_, detail) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(detail["status"], "frozen");
    let last = detail["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["type"].as_str(), last["actor"]["kind"].as_str()), (Some("frozen"), Some("customer")));
    app.drain().await;
    let told = sent(app, Notice::Frozen).into_iter().filter(|m| m.case_id.as_str() == id).count();
    assert_eq!(told, 1, "the customer is told");
    // A code works once; then the per-address limit answers 429.
    for _ in 3..limit {
        let (status, err) = call(app, None, "POST", reports, &[], Some(json!({"code": code}))).await;
        assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("fraud_code_unknown")));
    }
    let (status, err) = call(app, None, "POST", reports, &[], Some(json!({"code": code}))).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    app.clock.advance(Duration::minutes(15));
    let (status, _) = call(app, None, "POST", reports, &[], Some(json!({"code": code}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the window passed");
}

#[tokio::test]
async fn a_port_out_request_is_announced_with_a_fraud_code_too() {
    let app = spawn_app().await;
    seed(&app, "ACC-O", "LINE-O", "+1 415 555 0144").await;
    let pin = app.post_ok("/api/v1/lines/LINE-O/transfer-pin", json!({"channel": "web"}), StatusCode::CREATED).await;
    app.drain().await;
    let issued = sent(&app, Notice::TransferPinIssued);
    assert_eq!(issued.len(), 1);
    let code = fraud_code(&issued[0].body);
    let (status, frozen) = call(&app, None, "POST", "/api/v1/fraud-reports", &[], Some(json!({"code": code}))).await;
    assert_eq!(status, StatusCode::OK, "{frozen}");
    assert_eq!(frozen["case_id"], pin["case_id"]);
    // The frozen port-out takes no port request.
    let (status, _) = app
        .post(
            "/api/v1/port-requests",
            json!({"msisdn": "4155550144", "account_id": "ACC-O", "pin": pin["pin"], "new_operator": "Mint"}),
        )
        .await;
    assert_ne!(status, StatusCode::OK);
}

// ---- Risk and four-eyes ---------------------------------------------------------------------

#[tokio::test]
async fn a_high_risk_case_needs_two_different_reviewers_and_a_low_risk_case_one() {
    let app = spawn_app_with(config_without_auto_approval()).await;
    seed(&app, "ACC-R", "LINE-R", "+1 415 555 0155").await;
    seed(&app, "ACC-Q", "LINE-Q", "+1 415 555 0156").await;
    // A SIM swap and a new email yesterday: the classic account-takeover pattern.
    app.clock.advance(Duration::days(1));
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-R", "account_id": "ACC-R", "msisdn": "+1 415 555 0155", "iccid": "8901260882310000028",
               "imsi": "310260000000443", "plan": "prepaid"}),
        StatusCode::OK,
    )
    .await;
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-R", "holder_name": "Grace Hopper", "email": "new-owner@example.com",
               "alt_phone": "+1 917 555 0142", "prepaid_balance_cents": 2_500}),
        StatusCode::OK,
    )
    .await;
    app.clock.advance(Duration::days(1));
    let first = token(&app, &["cases:read", "cases:write"]).await;
    let second = token(&app, &["cases:read", "cases:write"]).await;
    let open = |line: &'static str| json!({"line_id": line, "channel": "store", "timing": {"kind": "immediate"}});
    let (_, risky) = call(&app, Some(&first), "POST", "/api/v1/cases", &[], Some(open("LINE-R"))).await;
    let risky_id = risky["id"].as_str().unwrap().to_owned();
    assert_eq!(risky["risk"]["score"], 70, "{risky}");
    assert_eq!(risky["risk"]["high"], true);
    let reasons: Vec<&str> =
        risky["risk"]["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["recent_sim_change", "recent_contact_change"]);
    let (_, calm) = call(&app, Some(&first), "POST", "/api/v1/cases", &[], Some(open("LINE-Q"))).await;
    let calm_id = calm["id"].as_str().unwrap().to_owned();
    assert_eq!((calm["risk"]["score"].as_u64(), calm["risk"]["high"].as_bool()), (Some(0), Some(false)));

    let command = |id: &str| format!("/api/v1/cases/{id}/commands");
    let approve = json!({"type": "approve"});
    for id in [&risky_id, &calm_id] {
        let case = app.verify(id).await;
        assert_eq!(case["status"].as_str(), Some("in_review"), "{case}");
    }
    // High risk: the first approval is recorded, the same reviewer again is refused, a
    // second reviewer approves.
    let (status, case) = call(&app, Some(&first), "POST", &command(&risky_id), &[], Some(approve.clone())).await;
    assert_eq!((status, case["status"].as_str()), (StatusCode::OK, Some("in_review")), "{case}");
    assert_eq!(case["first_approval_by"]["kind"], "client");
    let (status, err) = call(&app, Some(&first), "POST", &command(&risky_id), &[], Some(approve.clone())).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("same_reviewer")));
    let (status, case) = call(&app, Some(&second), "POST", &command(&risky_id), &[], Some(approve.clone())).await;
    assert_eq!((status, case["status"].as_str()), (StatusCode::OK, Some("approved")), "{case}");
    let (_, detail) = app.get(&format!("/api/v1/cases/{risky_id}")).await;
    let types: Vec<&str> = detail["timeline"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"risk_assessed") && types.contains(&"approval_recorded"), "{types:?}");
    // Low risk: one reviewer is enough.
    let (status, case) = call(&app, Some(&first), "POST", &command(&calm_id), &[], Some(approve)).await;
    assert_eq!((status, case["status"].as_str()), (StatusCode::OK, Some("approved")), "{case}");
}

#[tokio::test]
async fn many_requests_from_one_agent_raise_the_risk() {
    let app = spawn_app().await;
    let agent = token(&app, &["cases:read", "cases:write"]).await;
    let mut last = Value::Null;
    for i in 0..5 {
        let (account, line) = (format!("ACC-B{i}"), format!("LINE-B{i}"));
        seed(&app, &account, &line, &format!("+1 415 555 02{i:02}")).await;
        let body = json!({"line_id": line, "channel": "chat", "timing": {"kind": "immediate"}});
        let (status, case) = call(&app, Some(&agent), "POST", "/api/v1/cases", &[], Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{case}");
        let codes: Vec<String> = case["risk"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes.contains(&"agent_burst".to_owned()), i == 4, "case {i}: {codes:?}");
        last = case;
    }
    assert_eq!(last["risk"]["score"], 40, "chat 10 + burst 30: {last}");
    // An hour later the window has passed.
    app.clock.advance(Duration::minutes(61));
    seed(&app, "ACC-B9", "LINE-B9", "+1 415 555 0299").await;
    let body = json!({"line_id": "LINE-B9", "channel": "chat", "timing": {"kind": "immediate"}});
    let (_, case) = call(&app, Some(&agent), "POST", "/api/v1/cases", &[], Some(body)).await;
    assert_eq!(case["risk"]["score"], 10, "{case}");
}

// ---- Anti-scam: authenticity codes --------------------------------------------------------

#[tokio::test]
async fn every_notice_sent_carries_an_authenticity_code_the_public_endpoint_confirms() {
    let app = spawn_app().await;
    seed(&app, "ACC-A", "LINE-A", "+1 415 555 0177").await;
    let portal = token(&app, &["cases:customer"]).await;
    let me = [("x-lineout-on-behalf-of", "customer")];
    app.post_ok(
        "/api/v1/cases",
        json!({"line_id": "LINE-A", "channel": "web", "timing": {"kind": "immediate"}}),
        StatusCode::CREATED,
    )
    .await;
    app.drain().await;
    call(&app, Some(&portal), "POST", "/api/v1/accounts/ACC-A/lock", &me, None).await;
    app.drain().await;
    let messages = app.notifier.sent();
    assert!(!messages.is_empty());
    for m in &messages {
        let scam = lineout_app::notices::SCAM_EN;
        assert!(m.body.contains(&m.auth_code) && m.body.contains(scam), "{}", m.body);
        assert!(m.sms_text.contains(&m.auth_code) && m.sms_text.contains(scam), "{}", m.sms_text);
        let (status, check) =
            call(&app, None, "GET", &format!("/api/v1/authenticity/{}", m.auth_code), &[], None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(check["ours"], true, "{check}");
        assert_eq!(check["case_id"].as_str(), Some(m.case_id.as_str()));
        assert_eq!(check["sent_at"], "2026-11-02T09:30:00Z");
        let masked = if m.case_id.as_str().starts_with("acct.") { Value::Null } else { json!("•••• 0177") };
        assert_eq!(check["msisdn_masked"], masked, "{check}");
    }
    let (_, check) = call(&app, None, "GET", "/api/v1/authenticity/QQQQQQQQQQ", &[], None).await;
    assert_eq!((check["ours"].as_bool(), check["case_id"].as_str()), (Some(false), None));
}

/// Opens a case as `token` from client address `ip` (as `lineout serve` sees the peer).
async fn open_from(app: &TestApp, token: &str, ip: [u8; 4], line: &str) -> Value {
    let addr = std::net::SocketAddr::from((ip, 40_000));
    let body = json!({"line_id": line, "channel": "web", "timing": {"kind": "immediate"}});
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/cases")
        .header("authorization", format!("Bearer {token}"))
        .header("x-lineout-on-behalf-of", "customer")
        .header("content-type", "application/json")
        .extension(axum::extract::ConnectInfo(addr))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

#[tokio::test]
async fn many_requests_from_one_client_address_raise_the_risk() {
    let app = spawn_app().await;
    let portal = token(&app, &["cases:customer"]).await;
    for i in 0..6 {
        seed(&app, &format!("ACC-N{i}"), &format!("LINE-N{i}"), &format!("+1 415 555 03{i:02}")).await;
    }
    // Customers are not agents: only the shared address counts, from its 5th request on.
    for i in 0..4 {
        let case = open_from(&app, &portal, [203, 0, 113, 7], &format!("LINE-N{i}")).await;
        assert_eq!(case["risk"]["score"], 0, "{case}");
    }
    let other = open_from(&app, &portal, [198, 51, 100, 1], "LINE-N4").await;
    assert_eq!(other["risk"]["score"], 0, "{other}");
    let fifth = open_from(&app, &portal, [203, 0, 113, 7], "LINE-N5").await;
    assert_eq!(fifth["risk"]["reasons"], json!([{"code": "address_burst", "points": 30}]), "{fifth}");
}

#[tokio::test]
async fn an_account_with_the_longest_id_can_be_locked_and_is_told() {
    let app = spawn_app().await;
    let id = "A".repeat(64);
    seed(&app, &id, "LINE-64", "+1 415 555 0164").await;
    let (status, lock) = call(&app, Some(&app.token), "POST", &format!("/api/v1/accounts/{id}/lock"), &[], None).await;
    assert_eq!(status, StatusCode::OK, "{lock}");
    let (status, err) = call(&app, Some(&app.token), "POST", "/api/v1/accounts/nobody/lock", &[], None).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("account_not_found")));
    app.drain().await;
    let told = sent(&app, Notice::AccountLocked);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].case_id.as_str().len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_sim_change_date_is_a_risk_signal() {
    use lineout::import::{Options, run};
    use lineout::rows::RecordKind;
    let app = spawn_app().await;
    app.post_ok("/api/v1/accounts", json!({"id": "ACC-I", "holder_name": "Ida"}), StatusCode::CREATED).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lines.csv");
    // The operator's systems swapped one SIM yesterday and the other long ago; one date is bad.
    std::fs::write(
        &path,
        "id,account_id,msisdn,plan,sim_changed_at\n\
         LINE-I1,ACC-I,+14155550411,prepaid,2026-11-01T12:00:00Z\n\
         LINE-I2,ACC-I,+14155550412,prepaid,2025-01-01\n\
         LINE-I3,ACC-I,+14155550413,prepaid,yesterday\n",
    )
    .unwrap();
    let engine = app.engine.clone();
    let summary = tokio::task::spawn_blocking(move || run(&engine, &path, &Options::new(RecordKind::Lines)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((summary.inserted, summary.rejected), (2, 1));
    assert!(summary.rejections[0].to_string().contains("sim_changed_at"), "{:?}", summary.rejections);
    let open = |line: &str| json!({"line_id": line, "channel": "store", "timing": {"kind": "immediate"}});
    let recent = app.post_ok("/api/v1/cases", open("LINE-I1"), StatusCode::CREATED).await;
    assert_eq!(recent["risk"]["reasons"], json!([{"code": "recent_sim_change", "points": 40}]), "{recent}");
    let old = app.post_ok("/api/v1/cases", open("LINE-I2"), StatusCode::CREATED).await;
    assert_eq!(old["risk"]["score"], 0, "{old}");
}
