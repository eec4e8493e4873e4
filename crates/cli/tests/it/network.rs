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
    app.command(&id, json!({"type": "verify_identity", "method": "pin"})).await;
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
