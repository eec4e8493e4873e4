//! End-to-end flows through the HTTP API with a manual clock and stepped workers.

use crate::support::{TestApp, render_case, spawn_app, spawn_app_on_postgres, spawn_app_with};
use axum::http::StatusCode;
use expect_test::expect;
use lineout_app::EngineConfig;
use serde_json::json;
use time::Duration;

async fn seed_prepaid_line(app: &TestApp) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-1", "holder_name": "王芳", "email": "fang@example.com", "language": "zh-Hans",
               "billing_cycle_day": 12, "owed_cents": 0, "prepaid_balance_cents": 1850}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-1", "account_id": "ACC-1", "msisdn": "(415) 555-0134", "iccid": "89012600000000000078",
               "imsi": "310260000000134", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn a_prepaid_line_without_a_device_goes_from_opened_to_closed() {
    let app = spawn_app().await;
    seed_prepaid_line(&app).await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"msisdn": "4155550134", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(case["status"], "verifying");

    app.drain().await;
    app.clock.advance(Duration::minutes(5));
    let case = app.verify(&id).await;
    // No balance owed, no device: review starts and the auto-approve rule approves it.
    assert_eq!(case["status"], "approved");
    app.drain().await;
    let (_, line) = app.get("/api/v1/lines/LINE-1").await;
    assert_eq!(line["status"], "pending_termination");

    // The withdrawal window (24 h) passes; the termination timer fires.
    app.clock.advance(Duration::hours(24));
    app.drain().await;

    let (status, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, line) = app.get("/api/v1/lines/LINE-1").await;
    assert_eq!(line["status"], "terminated");
    assert!(app.engine.projection_matches_replay(id.parse().unwrap()).await.unwrap());
    assert_eq!(app.network.recorder.delivered_twice(), Vec::<String>::new());
    assert_eq!(app.engine.audit_blocking().unwrap().first_break, None);
    // Every message went out once, in the customer's language, with the anti-scam sentence.
    // (request received, the one-time code, approved, terminated, refund issued)
    let sent = app.notifier.sent();
    assert_eq!(sent.len(), 5);
    assert!(sent.iter().all(|m| m.language == lineout_domain::values::Language::ZhHans
        && m.body.contains(lineout_app::notices::SCAM_ZH)
        && m.sms_text.contains(&m.auth_code)));
    // Each message's authenticity code is checkable through the API, without a token.
    let code = sent[0].auth_code.clone();
    let (status, check) = app.get(&format!("/api/v1/authenticity/{code}")).await;
    assert_eq!(
        (status, check["ours"].as_bool(), check["notice"].as_str()),
        (StatusCode::OK, Some(true), Some("request_received"))
    );
    let (_, check) = app.get("/api/v1/authenticity/ZZZZZZZZZZ").await;
    assert_eq!(check["ours"], false);
    assert_eq!(app.payments.recorder.delivered_keys(), 1);
    // The refund of the 18.50 USD prepaid balance settles the account's ledger to zero.
    let (_, ledger) = app.get("/api/v1/accounts/ACC-1/ledger").await;
    assert_eq!((ledger["opening_cents"].as_i64(), ledger["balance_cents"].as_i64()), (Some(-1850), Some(0)));
    assert_eq!(ledger["entries"][0]["kind"], "refund");
    expect![[r#"
        status: closed
        timeline:
          1 2026-11-02T09:30:00Z client:tok_bd565ed92891 opened {"account_id":"ACC-1","channel":"web","kind":"cancellation","line_id":"LINE-1","note":null,"timing":{"kind":"immediate"}}
          2 2026-11-02T09:30:00Z system   notice_delivered {"channel":"email","effect_id":"C000002.1.0","notice":"request_received"}
          3 2026-11-02T09:35:00Z client:tok_bd565ed92891 verification_code_sent {"code_id":"vc0000000000000006","destination":"line","expires_at":"2026-11-02T09:45:00Z"}
          4 2026-11-02T09:35:00Z client:tok_bd565ed92891 identity_verified {"channel":"web","code_id":"vc0000000000000006","method":"one_time_code"}
          5 2026-11-02T09:35:00Z client:tok_bd565ed92891 review_started {"due_at":"2026-11-05T09:35:00Z"}
          6 2026-11-02T09:35:00Z client:tok_bd565ed92891 approved {"by_rule":true,"note":null,"termination_at":"2026-11-03T09:35:00Z","withdrawal_deadline":"2026-11-03T09:35:00Z"}
          7 2026-11-02T09:35:00Z system   notice_delivered {"channel":"sms","effect_id":"C000002.3.0","notice":"verification_code"}
          8 2026-11-02T09:35:00Z system   notice_delivered {"channel":"email","effect_id":"C000002.6.0","notice":"approved"}
          9 2026-11-03T09:35:00Z system   termination_started
          10 2026-11-03T09:35:00Z system   deprovisioning_confirmed {"effect_id":"C000002.9.0"}
          11 2026-11-03T09:35:00Z system   terminated
          12 2026-11-03T09:35:00Z system   refund_decided {"balance_cents":1850,"fee_cents":0,"forfeited_cents":0,"method":"original_payment","refund_cents":1850}
          13 2026-11-03T09:35:00Z system   notice_delivered {"channel":"email","effect_id":"C000002.11.0","notice":"terminated"}
          14 2026-11-03T09:35:00Z system   refund_issued {"amount_cents":1850,"effect_id":"C000002.12.0","reference":"RF-C000002.12.0"}
          15 2026-11-03T09:35:00Z system   closed {"note":null}
          16 2026-11-03T09:35:00Z system   notice_delivered {"channel":"email","effect_id":"C000002.14.0","notice":"refund_issued"}
        outbox:
          C000002.1.0 notify done attempts=1
          C000002.3.0 notify done attempts=1
          C000002.6.0 notify done attempts=1
          C000002.11.0 notify done attempts=1
          C000002.12.0 refund done attempts=1
          C000002.14.0 notify done attempts=1
          C000002.9.0 deprovision done attempts=1
    "#]].assert_eq(&render_case(&case));
}

/// Runs the prepaid flow and returns the final case status (used for both backends).
async fn prepaid_flow_status(app: &TestApp) -> String {
    seed_prepaid_line(app).await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-1", "channel": "ivr", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    app.clock.advance(Duration::hours(25));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert!(app.engine.projection_matches_replay(id.parse().unwrap()).await.unwrap());
    case["status"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_flow_runs_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else { return };
    assert_eq!(prepaid_flow_status(&app).await, "closed");
    let engine = app.engine.clone();
    let report = tokio::task::spawn_blocking(move || engine.audit_blocking()).await.unwrap().unwrap();
    assert_eq!(report.first_break, None);
    assert!(report.events >= 10);
}

async fn seed_postpaid_with_device(app: &TestApp) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-2", "holder_name": "Maria Lopez", "alt_phone": "+1 212 555 0199", "owed_cents": 4200}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-2", "account_id": "ACC-2", "msisdn": "+1 646 555 0142", "plan": "postpaid"}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/devices",
        json!({"id": "DEV-2", "line_id": "LINE-2", "imei": "490154203237518", "model": "Pixel 9", "price_cents": 79900,
               "ownership": "leased", "must_return": true}),
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn a_postpaid_line_with_a_leased_device_needs_settlement_return_and_review() {
    let app = spawn_app().await;
    seed_postpaid_with_device(&app).await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-2", "channel": "store", "timing": {"kind": "end_of_cycle"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    let case = app.verify(&id).await;
    assert_eq!(case["status"], "preparing");
    // Approval is refused until settlement and return are done.
    let (status, err) = app.post(&format!("/api/v1/cases/{id}/commands"), json!({"type": "approve"})).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")));
    // A wrong device is refused and changes nothing.
    let (status, err) = app
        .post(
            &format!("/api/v1/cases/{id}/commands"),
            json!({"type": "receive_device", "imei": "356938035643809", "condition": "good"}),
        )
        .await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("device_mismatch")));
    app.command(&id, json!({"type": "receive_device", "imei": "490154203237518", "condition": "good"})).await;
    let case = app.command(&id, json!({"type": "record_payment", "amount_cents": 4200, "reference": "PAY-881"})).await;
    // A device case is reviewed by a person under the default policy.
    assert_eq!(case["status"], "in_review");
    app.drain().await;
    app.clock.advance(Duration::hours(73));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert!(case["timeline"].as_array().unwrap().iter().any(|e| e["type"] == "review_overdue"));
    let case = app.command(&id, json!({"type": "approve", "note": "checked"})).await;
    assert_eq!(case["status"], "approved");
    // End of cycle: billing day 1 by default, so termination waits for Dec 1.
    app.clock.advance(Duration::hours(30));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "approved");
    app.clock.advance(Duration::days(30));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    let (_, line) = app.get("/api/v1/lines/LINE-2").await;
    assert_eq!(line["status"], "terminated");
}

#[tokio::test]
async fn withdrawal_returns_the_line_to_active_and_a_new_case_may_open() {
    let app = spawn_app().await;
    seed_prepaid_line(&app).await;
    let open = json!({"line_id": "LINE-1", "channel": "chat", "timing": {"kind": "immediate"}});
    let case = app.post_ok("/api/v1/cases", open.clone(), StatusCode::CREATED).await;
    let id = case["id"].as_str().unwrap().to_owned();
    let (status, err) = app.post("/api/v1/cases", open.clone()).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("case_already_open")));
    app.verify(&id).await;
    let (_, line) = app.get("/api/v1/lines/LINE-1").await;
    assert_eq!(line["status"], "pending_termination");
    let case = app.command(&id, json!({"type": "withdraw"})).await;
    assert_eq!(case["status"], "withdrawn");
    let (_, line) = app.get("/api/v1/lines/LINE-1").await;
    assert_eq!(line["status"], "active");
    app.post_ok("/api/v1/cases", open, StatusCode::CREATED).await;
}

#[tokio::test]
async fn unverified_cases_expire_and_failing_effects_retry_then_dead_letter() {
    let mut config = EngineConfig::default();
    config.policy.retry.max_attempts = 3;
    let app = spawn_app_with(config).await;
    seed_prepaid_line(&app).await;
    app.notifier.recorder.fail_next(2, true);
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-1", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    // Two retryable failures, each retried after the backoff (1 s, then 2 s).
    for wait_ms in [0, 1_000, 2_000] {
        app.clock.advance(Duration::milliseconds(wait_ms));
        app.engine.run_outbox().await.unwrap();
    }
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["outbox"][0]["status"], "done");
    assert_eq!(case["outbox"][0]["attempts"], 3);
    // Verification never happens: after 7 days the case expires; its notice fails for good.
    app.notifier.recorder.fail_next(1, false);
    app.clock.advance(Duration::days(7));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "expired");
    let dead: Vec<_> = case["outbox"].as_array().unwrap().iter().filter(|o| o["status"] == "dead").collect();
    assert_eq!(dead.len(), 1);
    assert!(case["timeline"].as_array().unwrap().iter().any(|e| e["type"] == "effect_dead_lettered"));
    assert_eq!(app.engine.outbox_stats().await.unwrap().dead, 1);
}
