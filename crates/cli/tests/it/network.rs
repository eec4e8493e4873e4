//! Deprovisioning against the real peers: a case's termination deletes the subscriber
//! in a real osmo-hlr started for the test (skipped with a note when osmo-hlr is not
//! installed, unless LINEOUT_REQUIRE_OSMO_HLR=1, as in CI).

use crate::support::spawn_app_with_network;
use axum::http::StatusCode;
use lineout_adapters::hlr::testing::OsmoHlr;
use lineout_app::ports::{DeprovisionRequest, Network};
use serde_json::json;
use std::sync::Arc;
use time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_case_deletes_the_subscriber_in_osmo_hlr() {
    let Some(hlr) = tokio::task::spawn_blocking(OsmoHlr::start).await.unwrap() else { return };
    let imsi = "310260000004242";
    hlr.create_subscriber(imsi, Some("14155550142")).await;
    assert!(hlr.subscriber_exists(imsi).await);
    let network: Arc<dyn Network> = Arc::new(hlr.network());
    let app = spawn_app_with_network(network.clone()).await;
    app.post_ok("/api/v1/accounts", json!({"id": "ACC-H", "holder_name": "Sam Lee"}), StatusCode::CREATED).await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-H", "account_id": "ACC-H", "msisdn": "+1 415 555 0142", "imsi": imsi, "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-H", "channel": "ivr", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    // The HLR forgot the subscriber: GET …info answers "No such subscriber".
    assert!(!hlr.subscriber_exists(imsi).await);
    let info = hlr.subscriber_info(imsi).await;
    assert!(format!("{info:?}").contains("No such subscriber"), "{info:?}");
    // A repeated delivery of the same effect is harmless.
    let detail = app.engine.case_detail(id.parse().unwrap()).await.unwrap();
    let row = detail.outbox.iter().find(|o| o.kind == "deprovision").unwrap();
    let effect = serde_json::from_str(&row.payload).unwrap();
    let again = DeprovisionRequest { case_id: id.parse().unwrap(), effect };
    network.deprovision(&row.id, &again).await.unwrap();
}

fn eid() -> String {
    "89049032000001000000012345678901".to_owned()
}

fn iccid() -> String {
    let payload = "891004234814455936";
    let d = lineout_domain::values::luhn_check_digit(payload);
    format!("{payload}{d}")
}

async fn esim_app(smdp: &lineout_adapters::es2plus::fake::FakeSmdp) -> (crate::support::TestApp, String) {
    use lineout_adapters::es2plus::{Es2PlusConfig, Es2PlusNetwork};
    let mut config = Es2PlusConfig::new(smdp.base_url.clone(), "lineout.test");
    config.require_https = false;
    config.request_timeout = std::time::Duration::from_secs(2);
    let esim = Es2PlusNetwork::new(config).unwrap();
    let network: Arc<dyn Network> =
        Arc::new(lineout_adapters::network::RealNetwork { hlr: None, esim: Some(Box::new(esim)) });
    let app = spawn_app_with_network(network).await;
    app.post_ok("/api/v1/accounts", json!({"id": "ACC-E", "holder_name": "Ana Ruiz"}), StatusCode::CREATED).await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-E", "account_id": "ACC-E", "msisdn": "+1 415 555 0155", "iccid": iccid(), "eid": eid(),
               "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-E", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    (app, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_esim_line_cancels_its_profile_order_at_the_smdp() {
    use lineout_adapters::es2plus::Function;
    use lineout_adapters::es2plus::fake::{FakeSmdp, ProfileState};
    let smdp = FakeSmdp::start().await.unwrap();
    smdp.seed(&iccid(), ProfileState::Released);
    let (app, id) = esim_app(&smdp).await;
    // The SM-DP+ reports progress on the endpoint; it is recorded on the case.
    let body = json!({
        "header": {"functionRequesterIdentifier": "smdp.test", "functionCallIdentifier": "n-1"},
        "eid": eid(), "iccid": iccid(), "profileType": "prepaid-us", "timestamp": "2026-11-02T09:31:00Z",
        "notificationPointId": 1, "notificationPointStatus": {"status": "Executed-Success"}
    });
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/gsma/rsp2/es2plus/handleDownloadProgressInfo")
        .header("authorization", format!("Bearer {}", app.token))
        .header("content-type", "application/json")
        .header("x-admin-protocol", "gsma/rsp/v2.5.0")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // A body that breaks the ES2+ rules gets an ES2+ Failed answer.
    let bad = axum::http::Request::builder()
        .method("POST")
        .uri("/gsma/rsp2/es2plus/handleDownloadProgressInfo")
        .header("authorization", format!("Bearer {}", app.token))
        .header("content-type", "application/json")
        .header("x-admin-protocol", "gsma/rsp/v2.5.0")
        .body(axum::body::Body::from(r#"{"header":{}}"#))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), bad).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&bytes).contains("Failed"));

    // Termination cancels the pending order with finalProfileStatusIndicator Unavailable.
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    assert!(case["timeline"].as_array().unwrap().iter().any(|e| e["type"] == "esim_progress_reported"));
    let calls = smdp.calls_to(Function::CancelOrder);
    assert_eq!(calls.len(), 1);
    let sent = calls[0].body.clone().unwrap();
    assert_eq!(sent["iccid"], iccid());
    assert_eq!(sent["finalProfileStatusIndicator"], "Unavailable");
    assert_eq!(calls[0].admin_protocol.as_deref(), Some("gsma/rsp/v2.5.0"));
    assert_ne!(smdp.state(&iccid()), Some(ProfileState::Released));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smdp_failures_are_retried_or_dead_lettered_never_marked_done() {
    use lineout_adapters::es2plus::Function;
    use lineout_adapters::es2plus::fake::{FakeSmdp, ProfileState, Reply};
    let smdp = FakeSmdp::start().await.unwrap();
    smdp.seed(&iccid(), ProfileState::Released);
    // First an HTTP 500 (retryable), then a Failed refusal (permanent).
    smdp.script(Function::CancelOrder, Reply::Http(500));
    smdp.script(Function::CancelOrder, Reply::failed("8.1.1", "3.10"));
    let (app, id) = esim_app(&smdp).await;
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "terminating", "not done until the SM-DP+ says so: {case}");
    app.clock.advance(Duration::seconds(2));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "terminating");
    let dead: Vec<_> = case["outbox"].as_array().unwrap().iter().filter(|o| o["status"] == "dead").collect();
    assert_eq!(dead.len(), 1, "{case}");
    assert!(case["timeline"].as_array().unwrap().iter().any(|e| e["type"] == "effect_dead_lettered"));
    assert_eq!(smdp.calls_to(Function::CancelOrder).len(), 2);
}
