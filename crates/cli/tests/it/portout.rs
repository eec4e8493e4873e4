//! Port-out instead of cancelling, number aging and the RND report, through the API
//! with a manual clock.

use crate::support::{TestApp, spawn_app};
use axum::http::StatusCode;
use serde_json::{Value, json};
use time::Duration;

async fn seed(app: &TestApp, account: &str, line: &str, number: &str, owed_cents: i64, kind: &str) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": account, "holder_name": "李伟", "email": "wei@example.com", "alt_phone": "+1 917 555 0111",
               "language": "zh-Hans", "owed_cents": owed_cents, "kind": kind}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": line, "account_id": account, "msisdn": number, "imsi": "310260000000777", "plan": "postpaid"}),
        StatusCode::CREATED,
    )
    .await;
}

async fn port(app: &TestApp, number: &str, account: &str, pin: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/port-requests",
        json!({"msisdn": number, "account_id": account, "pin": pin, "new_operator": "Mint Mobile"}),
    )
    .await
}

#[tokio::test]
async fn a_port_out_validates_the_pin_and_ports_despite_an_unpaid_balance() {
    let app = spawn_app().await;
    seed(&app, "ACC-P", "LINE-P", "(415) 555-0177", 12_345, "residential").await;
    // A cancellation is already open for the line; the port-out will end it.
    let cancel = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-P", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let (status, err) = port(&app, "4155550177", "ACC-P", "12345678").await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_transfer_pin")));

    let first = app.post_ok("/api/v1/lines/LINE-P/transfer-pin", json!({"channel": "web"}), StatusCode::CREATED).await;
    let first_pin = first["pin"].as_str().unwrap().to_owned();
    assert_eq!(first_pin.len(), 8);
    // A new PIN voids the old one.
    let second = app.post_ok("/api/v1/lines/LINE-P/transfer-pin", json!({"channel": "web"}), StatusCode::CREATED).await;
    assert_eq!(second["case_id"], first["case_id"]);
    let pin = second["pin"].as_str().unwrap().to_owned();
    assert_ne!(pin, first_pin);
    let (status, err) = port(&app, "4155550177", "ACC-P", &first_pin).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("port_pin_invalid")));
    let (status, err) = port(&app, "4155550177", "ACC-OTHER", &pin).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("port_account_mismatch")));
    // The account lock blocks the port, and does not count as a guess.
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-P", "holder_name": "李伟", "email": "wei@example.com", "alt_phone": "+1 917 555 0111",
               "language": "zh-Hans", "owed_cents": 12_345, "locks": {"port_out": true}}),
        StatusCode::OK,
    )
    .await;
    let (status, err) = port(&app, "4155550177", "ACC-P", &pin).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("account_locked")));
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-P", "holder_name": "李伟", "email": "wei@example.com", "alt_phone": "+1 917 555 0111",
               "language": "zh-Hans", "owed_cents": 12_345}),
        StatusCode::OK,
    )
    .await;
    // The right PIN ports the number although 123.45 USD is owed (FCC).
    let (status, case) = port(&app, "+14155550177", "ACC-P", &pin).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["status"], "terminating");
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await;
    assert_eq!(case["status"], "closed", "{case}");
    let (_, line) = app.get("/api/v1/lines/LINE-P").await;
    assert_eq!(line["status"], "ported_out");
    let (_, cancel) = app.get(&format!("/api/v1/cases/{}", cancel["id"].as_str().unwrap())).await;
    assert_eq!(cancel["status"], "closed");
    assert!(cancel["timeline"].as_array().unwrap().iter().any(|e| e["type"] == "superseded"));
    // A ported-out number is not aged and is not a disconnection.
    let (status, number) = app.get("/api/v1/numbers/+14155550177").await;
    assert_eq!((status, number["state"].as_str()), (StatusCode::OK, Some("ported_out")));
    let (from, to) = lineout::rnd::window("2026-11").unwrap();
    assert!(app.engine.disconnections_blocking(from, to).unwrap().is_empty());
    // Every contact heard of each PIN and of the port, in Chinese.
    let notices: Vec<_> = app.notifier.sent().iter().map(|m| m.notice).collect();
    use lineout_domain::case::Notice;
    assert_eq!(notices.iter().filter(|n| **n == Notice::TransferPinIssued).count(), 2);
    assert!(notices.contains(&Notice::PortedOut));
    // After the port the line cannot get a new PIN.
    let (status, err) = app.post("/api/v1/lines/LINE-P/transfer-pin", json!({"channel": "web"})).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("line_not_eligible")));
}

#[tokio::test]
async fn guessing_voids_the_pin_and_an_unused_pin_expires() {
    let app = spawn_app().await;
    seed(&app, "ACC-G", "LINE-G", "+1 212 555 0190", 0, "residential").await;
    let issued =
        app.post_ok("/api/v1/lines/LINE-G/transfer-pin", json!({"channel": "chat"}), StatusCode::CREATED).await;
    let pin = issued["pin"].as_str().unwrap().to_owned();
    let wrong = if pin == "00000000" { "11111111" } else { "00000000" };
    for _ in 0..4 {
        let (_, err) = port(&app, "2125550190", "ACC-G", wrong).await;
        assert_eq!(err["code"], "port_pin_invalid");
    }
    let (status, err) = port(&app, "2125550190", "ACC-G", wrong).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("port_pin_void")));
    // Even the right PIN no longer works.
    let (_, err) = port(&app, "2125550190", "ACC-G", &pin).await;
    assert_eq!(err["code"], "port_pin_expired");
    // A new PIN, unused for 7 days, expires with the case.
    app.post_ok("/api/v1/lines/LINE-G/transfer-pin", json!({"channel": "chat"}), StatusCode::CREATED).await;
    app.clock.advance(Duration::days(7));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{}", issued["case_id"].as_str().unwrap())).await;
    assert_eq!(case["status"], "expired");
}

#[tokio::test]
async fn terminated_numbers_age_then_become_available_and_are_reported() {
    let app = spawn_app().await;
    seed(&app, "ACC-R", "LINE-R", "(646) 555-0123", 0, "residential").await;
    seed(&app, "ACC-B", "LINE-B", "(646) 555-0124", 0, "business").await;
    for line in ["LINE-R", "LINE-B"] {
        let case = app
            .post_ok(
                "/api/v1/cases",
                json!({"line_id": line, "channel": "store", "timing": {"kind": "immediate"}}),
                StatusCode::CREATED,
            )
            .await;
        app.verify(case["id"].as_str().unwrap()).await;
    }
    let (status, _) = app.get("/api/v1/numbers/+16465550123").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, residential) = app.get("/api/v1/numbers/6465550123").await;
    assert_eq!(residential["state"], "aging", "{residential}");
    assert_eq!(residential["available_at"], "2027-02-01T09:30:00Z");
    let (_, business) = app.get("/api/v1/numbers/6465550124").await;
    assert_eq!(business["available_at"], "2027-11-03T09:30:00Z");
    // 90 days later the residential number is available, the business one still aging.
    app.clock.advance(Duration::days(90));
    let (_, list) = app.get("/api/v1/numbers?state=available").await;
    let available: Vec<_> = list["items"].as_array().unwrap().iter().map(|n| n["msisdn"].clone()).collect();
    assert_eq!(available, vec![json!("+16465550123")]);
    let (_, list) = app.get("/api/v1/numbers?state=aging").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, err) = app.get("/api/v1/numbers?state=sleeping").await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    // Both disconnections (3 Nov 2026) fall in the November report; December has none.
    let (from, to) = lineout::rnd::window("2026-11").unwrap();
    let log = app.engine.disconnections_blocking(from, to).unwrap();
    let report = lineout::rnd::RndReport::new("ACME01".into(), from, to, &log);
    assert_eq!(
        report.csv().as_deref(),
        Some(
            "company_id,telephone_number,disconnect_date\nACME01,6465550123,2026-11-03\nACME01,6465550124,2026-11-03\n"
        )
    );
    let (from, to) = lineout::rnd::window("2026-12").unwrap();
    let log = app.engine.disconnections_blocking(from, to).unwrap();
    assert_eq!(lineout::rnd::RndReport::new("ACME01".into(), from, to, &log).csv(), None);
}
