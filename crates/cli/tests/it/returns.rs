//! Device returns through the API with a manual clock: every path and its fees.

use crate::support::{TestApp, spawn_app};
use axum::http::StatusCode;
use serde_json::{Value, json};
use time::Duration;

const IMEI: &str = "490154203237518";
const OTHER_IMEI: &str = "356938035643809";

async fn seed(app: &TestApp, price_cents: i64) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-D", "holder_name": "Ana Silva", "email": "ana@example.com"}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-D", "account_id": "ACC-D", "msisdn": "+1 408 555 0161", "plan": "postpaid"}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/devices",
        json!({"id": "DEV-D", "line_id": "LINE-D", "imei": IMEI, "model": "Galaxy S25", "price_cents": price_cents,
               "ownership": "leased", "must_return": true}),
        StatusCode::CREATED,
    )
    .await;
}

async fn opened(app: &TestApp, channel: &str) -> String {
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-D", "channel": channel, "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    id
}

async fn case(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/cases/{id}")).await.1
}

fn types(case: &Value) -> Vec<String> {
    let timeline = case["timeline"].as_array().unwrap_or_else(|| panic!("no timeline in {case}"));
    timeline.iter().map(|e| e["type"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn refused(app: &TestApp, id: &str, body: Value) -> (StatusCode, String) {
    let (status, err) = app.post(&format!("/api/v1/cases/{id}/commands"), body).await;
    (status, err["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_device_returned_in_good_condition_pays_only_restocking() {
    let app = spawn_app().await;
    seed(&app, 79_900).await;
    let id = opened(&app, "web").await;
    let c = case(&app, &id).await;
    let requested =
        c["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "device_return_requested").unwrap().clone();
    assert_eq!(requested["data"]["rma"], format!("RMA-{id}"));
    assert_eq!(requested["data"]["deadline"], "2026-12-02T09:30:00Z");
    // Inspection before receipt, and a tracking number of the wrong shape, are refused.
    let inspect = json!({"type": "inspect_device", "condition": "good"});
    assert_eq!(refused(&app, &id, inspect.clone()).await, (StatusCode::CONFLICT, "device_not_arrived".into()));
    let bad = json!({"type": "record_shipment", "carrier": "ups", "tracking": "1Z12345"});
    assert_eq!(refused(&app, &id, bad).await, (StatusCode::UNPROCESSABLE_ENTITY, "invalid_tracking".into()));
    app.command(&id, json!({"type": "record_shipment", "carrier": "ups", "tracking": "1Z999AA10123456784"})).await;
    app.command(&id, json!({"type": "receive_device", "imei": IMEI})).await;
    // A second receipt is refused.
    let again = json!({"type": "receive_device", "imei": IMEI});
    assert_eq!(refused(&app, &id, again).await, (StatusCode::CONFLICT, "illegal_transition".into()));
    app.command(&id, inspect).await;
    let c = case(&app, &id).await;
    assert_eq!(c["status"], "in_review");
    assert_eq!(c["fees_cents"], 7_000, "a $799 device: the $70 restocking band");
    let (_, ledger) = app.get("/api/v1/accounts/ACC-D/ledger").await;
    assert_eq!((ledger["entries"].as_array().unwrap().len(), ledger["balance_cents"].as_i64()), (1, Some(7_000)));
    assert!(types(&c).ends_with(&[
        "device_arrived".to_owned(),
        "device_inspected".to_owned(),
        "review_started".to_owned()
    ]));
}

#[tokio::test]
async fn damage_and_missing_accessories_add_their_fees() {
    let app = spawn_app().await;
    seed(&app, 25_000).await;
    let id = opened(&app, "web").await;
    app.command(&id, json!({"type": "receive_device", "imei": IMEI})).await;
    let unknown = json!({"type": "inspect_device", "condition": "good", "missing_accessories": ["jetpack"]});
    assert_eq!(refused(&app, &id, unknown).await, (StatusCode::UNPROCESSABLE_ENTITY, "invalid_inspection".into()));
    app.command(
        &id,
        json!({"type": "inspect_device", "condition": "damaged", "missing_accessories": ["charging cable", "original box"],
               "notes": "cracked back glass", "photos": ["returns/2026/11/dev-d-1.jpg"]}),
    )
    .await;
    let c = case(&app, &id).await;
    // $250 device: $20 restocking + $50 damage + 2 x $15 missing accessories.
    assert_eq!(c["fees_cents"], 2_000 + 5_000 + 2 * 1_500);
    let inspected = c["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "device_inspected").unwrap().clone();
    assert_eq!(inspected["data"]["fees"].as_array().unwrap().len(), 4);
    // Each fee is a line in the account's ledger, and the balance is derived from them.
    let (_, ledger) = app.get("/api/v1/accounts/ACC-D/ledger").await;
    let fees: Vec<(String, i64)> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["description"].as_str().unwrap().to_owned(), e["amount_cents"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        fees,
        [
            ("device return: restocking".to_owned(), 2_000),
            ("device return: damage".to_owned(), 5_000),
            ("device return: missing accessory: charging cable".to_owned(), 1_500),
            ("device return: missing accessory: original box".to_owned(), 1_500),
        ]
    );
    assert_eq!(ledger["balance_cents"], 10_000);
}

#[tokio::test]
async fn a_wrong_device_is_refused_and_recorded() {
    let app = spawn_app().await;
    seed(&app, 79_900).await;
    let id = opened(&app, "web").await;
    let wrong = json!({"type": "receive_device", "imei": OTHER_IMEI, "condition": "good"});
    assert_eq!(refused(&app, &id, wrong).await, (StatusCode::UNPROCESSABLE_ENTITY, "device_mismatch".into()));
    let c = case(&app, &id).await;
    assert_eq!(types(&c).last().map(String::as_str), Some("device_receipt_refused"));
    assert_eq!(c["status"], "preparing");
    assert_eq!(c["fees_cents"], 0);
}

#[tokio::test]
async fn reminders_then_a_late_return_then_never_returned() {
    // Late but before the deadline: two reminders, then the device arrives, no non-return fee.
    let app = spawn_app().await;
    seed(&app, 79_900).await;
    let id = opened(&app, "web").await;
    app.drain().await;
    app.clock.advance(Duration::days(23));
    app.drain().await;
    app.clock.advance(Duration::days(5));
    app.drain().await;
    let c = case(&app, &id).await;
    assert_eq!(types(&c).iter().filter(|t| *t == "return_reminder_due").count(), 2, "7 and 2 days before");
    let reminders =
        app.notifier.sent().iter().filter(|m| m.notice == lineout_domain::case::Notice::ReturnReminder).count();
    assert_eq!(reminders, 2);
    app.command(&id, json!({"type": "receive_device", "imei": IMEI, "condition": "good"})).await;
    app.clock.advance(Duration::days(5));
    app.drain().await;
    let c = case(&app, &id).await;
    assert!(!types(&c).contains(&"device_not_returned".to_owned()));
    assert_eq!(c["fees_cents"], 7_000);

    // Never returned: the deadline charges the non-return fee and the case moves on.
    let app = spawn_app().await;
    seed(&app, 79_900).await;
    let id = opened(&app, "web").await;
    app.clock.advance(Duration::days(30));
    app.drain().await;
    let c = case(&app, &id).await;
    assert!(types(&c).contains(&"device_not_returned".to_owned()));
    assert_eq!(c["fees_cents"], 25_000);
    let (_, ledger) = app.get("/api/v1/accounts/ACC-D/ledger").await;
    assert_eq!(ledger["entries"][0]["kind"], "fee");
    assert_eq!(ledger["entries"][0]["description"], "device not returned");
    assert_eq!(ledger["balance_cents"], 25_000);
    assert_eq!(c["status"], "in_review");
}

#[tokio::test]
async fn a_device_handed_over_in_store_is_received_and_inspected_in_one_step() {
    let app = spawn_app().await;
    seed(&app, 65_000).await;
    let id = opened(&app, "store").await;
    app.command(&id, json!({"type": "receive_device", "imei": IMEI, "condition": "like_new"})).await;
    let c = case(&app, &id).await;
    assert_eq!(c["fees_cents"], 7_000, "$650 device: the $70 band");
    let (_, ledger) = app.get("/api/v1/accounts/ACC-D/ledger").await;
    assert_eq!(ledger["balance_cents"], 7_000);
    assert_eq!(c["status"], "in_review");
    assert!(types(&c).contains(&"device_arrived".to_owned()) && types(&c).contains(&"device_inspected".to_owned()));
}

#[tokio::test]
async fn the_return_label_carries_the_rma_as_a_barcode() {
    let app = spawn_app().await;
    seed(&app, 79_900).await;
    let id = opened(&app, "web").await;
    let req = axum::http::Request::builder()
        .uri(format!("/api/v1/cases/{id}/return-label"))
        .header("authorization", format!("Bearer {}", app.token))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let pdf = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    let widths = lineout_documents::label_barcode_widths(&pdf).unwrap();
    assert_eq!(lineout_documents::code128::decode(&widths).unwrap(), format!("RMA-{id}"));
    let text = lineout_documents::pdf_text(&pdf).join(" ");
    assert!(text.contains("Fremont, CA 94538") && text.contains("2026-12-02") && text.contains("Galaxy S25"), "{text}");
    // A case without a device return has no label.
    let app = spawn_app().await;
    app.post_ok("/api/v1/accounts", json!({"id": "ACC-X", "holder_name": "Bo"}), StatusCode::CREATED).await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-X", "account_id": "ACC-X", "msisdn": "4085550199", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-X", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let (status, err) = app.get(&format!("/api/v1/cases/{}/return-label", case["id"].as_str().unwrap())).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("no_device")));
}

#[tokio::test]
async fn the_final_statement_renders_in_both_languages_and_matches_the_ledger() {
    let app = spawn_app().await;
    seed(&app, 25_000).await;
    let id = opened(&app, "store").await;
    app.command(&id, json!({"type": "receive_device", "imei": IMEI, "condition": "damaged", "missing_accessories": ["charging cable"]}))
        .await;
    let fetch = |uri: String| {
        let router = app.router.clone();
        let token = app.token.clone();
        async move {
            let req = axum::http::Request::builder()
                .uri(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = tower::ServiceExt::oneshot(router, req).await.unwrap();
            let status = resp.status();
            let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
            (status, ctype, body)
        }
    };
    let (_, ledger) = app.get("/api/v1/accounts/ACC-D/ledger").await;
    let balance = ledger["balance_cents"].as_i64().unwrap();
    assert_eq!(balance, 2_000 + 5_000 + 1_500);
    let money = |c: i64| lineout_documents::statement::format_money(c, "USD");
    // English HTML: every ledger line and the closing balance.
    let (status, ctype, html) = fetch(format!("/api/v1/cases/{id}/statement?lang=en")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/html"));
    let html = String::from_utf8(html.to_vec()).unwrap();
    for e in ledger["entries"].as_array().unwrap() {
        assert!(html.contains(&money(e["amount_cents"].as_i64().unwrap())), "{html}");
    }
    assert!(html.contains(&money(balance)) && html.contains("lang=\"en\""));
    // Chinese HTML, and a Chinese PDF when the CJK font is installed (CI installs it).
    let (_, _, zh) = fetch(format!("/api/v1/cases/{id}/statement?lang=zh-Hans")).await;
    let zh = String::from_utf8(zh.to_vec()).unwrap();
    assert!(zh.contains("lang=\"zh-Hans\"") && zh.contains(&money(balance)));
    let (status, ctype, pdf) = fetch(format!("/api/v1/cases/{id}/statement?format=pdf&lang=en")).await;
    assert_eq!((status, ctype.as_str()), (StatusCode::OK, "application/pdf"));
    assert!(lineout_documents::pdf_text(&pdf).join(" ").contains(&money(balance)));
    let (status, _, _) = fetch(format!("/api/v1/cases/{id}/statement?format=doc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
