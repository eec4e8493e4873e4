//! Refunds through the operator's payment service over HTTP (a signed fake service on
//! loopback): paid once however often the outbox delivers, failures retried or recorded.

use crate::support::{Real, spawn_app_custom};
use axum::http::StatusCode;
use lineout_adapters::payments::HttpPayments;
use lineout_adapters::payments::fake::{FakePaymentService, Reply};
use lineout_app::EngineConfig;
use lineout_app::ports::Payments;
use serde_json::json;
use std::sync::Arc;
use time::Duration;

async fn prepaid_case(app: &crate::support::TestApp) -> String {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-R", "holder_name": "Lee", "prepaid_balance_cents": 1850}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-R", "account_id": "ACC-R", "msisdn": "4155550177", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-R", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_is_paid_once_even_when_delivered_twice() {
    let service = FakePaymentService::start().await.unwrap();
    let clock: Arc<dyn lineout_app::ports::Clock> = Arc::new(lineout_adapters::SystemClock);
    let http: Arc<dyn Payments> = Arc::new(HttpPayments::new(service.config(), clock).unwrap());
    let app = spawn_app_custom(EngineConfig::default(), Real { payments: Some(http.clone()), ..Real::default() }).await;
    let id = prepaid_case(&app).await;
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    let paid = service.payments();
    assert_eq!(paid.len(), 1);
    assert_eq!((paid[0].account_id.as_str(), paid[0].amount_cents), ("ACC-R", 1850));
    // The outbox delivers the same refund again (e.g. after a crash): the service pays nothing more.
    let row = case["outbox"].as_array().unwrap().iter().find(|o| o["kind"] == "refund").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = http
        .refund(
            &row,
            &lineout_domain::values::AccountId::parse("ACC-R").unwrap(),
            lineout_domain::values::Money::usd(1850),
        )
        .await
        .unwrap();
    assert_eq!(again, paid[0].refund_id);
    assert_eq!(service.payments().len(), 1);
    let issued = case["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "refund_issued").unwrap().clone();
    assert_eq!(issued["data"]["reference"], paid[0].refund_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_failures_are_retried_then_recorded_for_staff() {
    let service = FakePaymentService::start().await.unwrap();
    let clock: Arc<dyn lineout_app::ports::Clock> = Arc::new(lineout_adapters::SystemClock);
    let http: Arc<dyn Payments> = Arc::new(HttpPayments::new(service.config(), clock).unwrap());
    let app = spawn_app_custom(EngineConfig::default(), Real { payments: Some(http), ..Real::default() }).await;
    let id = prepaid_case(&app).await;
    service.script(Reply::Status(500), 1);
    service.script(Reply::Status(422), 1);
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    app.clock.advance(Duration::seconds(5));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    let types: Vec<&str> = case["timeline"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"effect_failed") && types.contains(&"effect_dead_lettered"), "{types:?}");
    assert_eq!(case["status"], "closing", "not closed while the refund is not paid");
    assert!(service.payments().is_empty());
}
