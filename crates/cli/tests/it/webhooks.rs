//! Signed CloudEvents webhooks end to end: every case event reaches a receiver that
//! verifies the signature with the documented recipe.

use crate::support::{Real, spawn_app_custom};
use axum::http::{HeaderMap, StatusCode};
use lineout_adapters::webhook::{HttpWebhooks, WebhookEndpoint, verify};
use lineout_app::EngineConfig;
use lineout_app::ports::Clock;
use serde_json::json;
use std::sync::{Arc, Mutex};
use time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Seen = Arc<Mutex<Vec<(HeaderMap, String)>>>;

async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_event_reaches_the_receiver_signed() {
    let (url, seen) = receiver().await;
    let config = EngineConfig {
        webhook_endpoints: vec!["crm".into()],
        webhook_source: "/lineout/test-operator".into(),
        ..EngineConfig::default()
    };
    // The transport signs with a clock of its own; the receiver checks against the same time.
    let clock_probe = Arc::new(lineout_app::clock::ManualClock::new(time::macros::datetime!(2026-11-02 09:30 UTC)));
    let transport = HttpWebhooks::new(vec![WebhookEndpoint::new("crm", url, SECRET)], clock_probe.clone()).unwrap();
    let app = spawn_app_custom(config, Real { webhooks: Some(Arc::new(transport)), ..Real::default() }).await;
    app.post_ok("/api/v1/accounts", json!({"id": "ACC-W", "holder_name": "Kim"}), StatusCode::CREATED).await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-W", "account_id": "ACC-W", "msisdn": "4155550166", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-W", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    let events = case["timeline"].as_array().unwrap().len();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), events, "one webhook per event");
    let now = clock_probe.now();
    for (headers, body) in &seen {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        verify(SECRET, &h("webhook-id"), &h("webhook-timestamp"), body.as_bytes(), &h("webhook-signature"), now, 300)
            .unwrap_or_else(|e| panic!("signature did not verify: {e:?}"));
        let event: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["subject"], id);
        assert!(!body.contains("4155550166"), "no phone numbers in webhooks");
        // A tampered body fails.
        let tampered = body.replace("1.0", "9.9");
        assert!(
            verify(
                SECRET,
                &h("webhook-id"),
                &h("webhook-timestamp"),
                tampered.as_bytes(),
                &h("webhook-signature"),
                now,
                300
            )
            .is_err()
        );
    }
    let types: Vec<String> = seen
        .iter()
        .map(|(_, b)| serde_json::from_str::<serde_json::Value>(b).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        types.contains(&"com.lineout.case.opened".to_owned()) && types.contains(&"com.lineout.case.closed".to_owned())
    );
}
