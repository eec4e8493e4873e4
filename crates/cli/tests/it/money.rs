//! Money end to end through the API with a manual clock: the final bill by policy, the
//! financed device's installments, device fees, refund or forfeit, the refund method, and
//! bad input that must leave the ledger unchanged.

use crate::support::{Real, TestApp, spawn_app_custom};
use axum::http::StatusCode;
use lineout_adapters::payments::HttpPayments;
use lineout_adapters::payments::fake::FakePaymentService;
use lineout_app::EngineConfig;
use lineout_app::ports::Payments;
use lineout_domain::policy::{FinalBillMode, RefundMethod, RefundMode};
use serde_json::{Value, json};
use std::sync::Arc;
use time::Duration;

/// A leased device that must come back (fees when it comes back damaged).
const LEASED_IMEI: &str = "490154203237518";
/// A financed device the customer keeps (installments become due).
const FINANCED_IMEI: &str = "356938035643809";

const PREPAID: i64 = 6_000;
const MONTHLY: i64 = 5_000;
const INSTALLMENTS: i64 = 2_400;
/// $250 leased device returned damaged: $20 restocking + $50 damage.
const FEES: i64 = 2_000 + 5_000;
/// The clock starts 2026-11-02 09:30 UTC; termination is 24 h later (the withdrawal
/// window), on Nov 3, in the cycle Oct 15 - Nov 15 (31 days): 20 days used, 11 unused.
/// floor(5000 × 11 / 31) = floor(1774.19…) = 1774.
const CREDIT: i64 = 1_774;

#[derive(Debug, Clone, Copy)]
struct Scenario {
    forfeit: bool,
    prorated: bool,
    fees: bool,
    financed: bool,
}

/// An app under this policy whose refunds go over HTTP to a fake payment service.
async fn app_with(policy_mut: impl FnOnce(&mut lineout_domain::Policy)) -> (TestApp, FakePaymentService) {
    let mut config = EngineConfig::default();
    policy_mut(&mut config.policy);
    let service = FakePaymentService::start().await.unwrap();
    let clock: Arc<dyn lineout_app::ports::Clock> = Arc::new(lineout_adapters::SystemClock);
    let http: Arc<dyn Payments> = Arc::new(HttpPayments::new(service.config(), clock).unwrap());
    let app = spawn_app_custom(config, Real { payments: Some(http), ..Real::default() }).await;
    (app, service)
}

/// The refunds the fake payment service paid: (amount, method).
fn paid(service: &FakePaymentService) -> Vec<(i64, String)> {
    service.payments().into_iter().map(|p| (p.amount_cents, p.method)).collect()
}

async fn seed(app: &TestApp, fees: bool, financed: bool) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-M", "holder_name": "Mei Chen", "email": "mei@example.com", "billing_cycle_day": 15,
               "prepaid_balance_cents": PREPAID}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-M", "account_id": "ACC-M", "msisdn": "+1 415 555 0190", "plan": "prepaid",
               "monthly_charge_cents": MONTHLY}),
        StatusCode::CREATED,
    )
    .await;
    if fees {
        app.post_ok(
            "/api/v1/devices",
            json!({"id": "DEV-L", "line_id": "LINE-M", "imei": LEASED_IMEI, "model": "Moto G", "price_cents": 25_000,
                   "ownership": "leased", "must_return": true}),
            StatusCode::CREATED,
        )
        .await;
    }
    if financed {
        let device = app
            .post_ok(
                "/api/v1/devices",
                json!({"id": "DEV-F", "line_id": "LINE-M", "imei": FINANCED_IMEI, "model": "Pixel 9",
                       "price_cents": 79_900, "ownership": "financed", "must_return": false,
                       "remaining_installments_cents": INSTALLMENTS}),
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(device["remaining_installments_cents"], INSTALLMENTS);
    }
}

/// Opens and drives a case to its end; returns its id.
async fn drive(app: &TestApp, fees: bool) -> String {
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-M", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    if fees {
        app.command(&id, json!({"type": "receive_device", "imei": LEASED_IMEI, "condition": "damaged"})).await;
        // A case with a device is reviewed by a person.
        app.command(&id, json!({"type": "approve"})).await;
    }
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    id
}

async fn ledger(app: &TestApp) -> Value {
    let (status, ledger) = app.get("/api/v1/accounts/ACC-M/ledger").await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    ledger
}

fn lines(ledger: &Value) -> Vec<(String, i64)> {
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["amount_cents"].as_i64().unwrap()))
        .collect()
}

async fn statement(app: &TestApp, id: &str, lang: &str) -> String {
    let req = axum::http::Request::builder()
        .uri(format!("/api/v1/cases/{id}/statement?lang={lang}"))
        .header("authorization", format!("Bearer {}", app.token))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// What the ledger must hold for a scenario, computed independently of the engine.
fn expected(s: Scenario) -> (Vec<(String, i64)>, i64, i64) {
    let mut out = Vec::new();
    if s.fees {
        out.push(("fee".to_owned(), 2_000));
        out.push(("fee".to_owned(), 5_000));
    }
    if s.prorated {
        out.push(("credit".to_owned(), CREDIT));
    }
    if s.financed {
        out.push(("charge".to_owned(), INSTALLMENTS));
    }
    let available = PREPAID + if s.prorated { CREDIT } else { 0 }
        - if s.fees { FEES } else { 0 }
        - if s.financed { INSTALLMENTS } else { 0 };
    let refund = if !s.forfeit && available >= 100 { available } else { 0 };
    if available > 0 {
        out.push((if refund > 0 { "refund" } else { "forfeit" }.to_owned(), available));
    }
    // Balance: opening (-prepaid) plus every entry; zero unless the customer owes.
    let balance = (-available).max(0);
    (out, refund, balance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_combination_bills_refunds_and_states_the_same_numbers() {
    for forfeit in [false, true] {
        for prorated in [false, true] {
            for fees in [false, true] {
                for financed in [false, true] {
                    let s = Scenario { forfeit, prorated, fees, financed };
                    scenario(s).await;
                }
            }
        }
    }
}

async fn scenario(s: Scenario) {
    let (app, service) = app_with(|p| {
        p.refund.mode = if s.forfeit { RefundMode::Forfeit } else { RefundMode::Refund };
        p.final_bill.mode = if s.prorated { FinalBillMode::ImmediateProrated } else { FinalBillMode::EndOfCycle };
    })
    .await;
    seed(&app, s.fees, s.financed).await;
    let id = drive(&app, s.fees).await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{s:?}: {case}");
    let (want_lines, want_refund, want_balance) = expected(s);
    let ledger = ledger(&app).await;
    assert_eq!(lines(&ledger), want_lines, "{s:?}");
    assert_eq!(ledger["balance_cents"], want_balance, "{s:?}");
    assert_eq!(case["refund_amount_cents"], want_refund, "{s:?}");
    // The refund is paid to the fake payments service once, or not at all.
    if want_refund > 0 {
        assert_eq!(paid(&service), [(want_refund, "original_payment".to_owned())], "{s:?}");
    } else {
        assert!(paid(&service).is_empty(), "{s:?}");
    }
    // The final bill is an event of the case when there is something on it.
    let bill = case["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "final_bill_issued").cloned();
    assert_eq!(bill.is_some(), s.prorated || s.financed, "{s:?}");
    if let Some(bill) = bill {
        assert_eq!(
            (bill["data"]["days_in_cycle"].as_i64(), bill["data"]["unused_days"].as_i64()),
            (Some(31), Some(11))
        );
    }
    // The statement shows every ledger line and the closing balance, in both languages.
    let money = |c: i64| lineout_documents::statement::format_money(c, "USD");
    for lang in ["en", "zh-Hans"] {
        let html = statement(&app, &id, lang).await;
        assert!(html.contains(&format!("lang=\"{lang}\"")), "{s:?}");
        for e in ledger["entries"].as_array().unwrap() {
            assert!(html.contains(&money(e["amount_cents"].as_i64().unwrap())), "{s:?} {lang}: {html}");
            let description = e["description"].as_str().unwrap();
            if lang == "en" || !description.starts_with("final bill: ") {
                assert!(html.contains(description), "{s:?} {lang}: {html}");
            }
        }
        assert!(html.contains(&money(want_balance)), "{s:?} {lang}");
        assert!(html.contains(&money(-PREPAID)), "{s:?} {lang}: the opening balance");
    }
    if s.prorated {
        let html = statement(&app, &id, "en").await;
        assert!(html.contains("final bill: credit for 11 unused of 31 days"), "{html}");
    }
    if s.financed {
        let html = statement(&app, &id, "en").await;
        assert!(html.contains("final bill: remaining device installments"), "{html}");
        assert!(statement(&app, &id, "zh-Hans").await.contains("最终账单：设备剩余分期款"));
    }
    if s.prorated {
        let zh = statement(&app, &id, "zh-Hans").await;
        assert!(zh.contains("最终账单：本计费周期 31 天中未使用的 11 天退费"), "{zh}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrears_billing_charges_the_used_days_and_a_check_carries_its_method() {
    let (app, service) = app_with(|p| {
        p.final_bill.mode = FinalBillMode::ImmediateProrated;
        p.final_bill.billed_in_advance = false;
        p.refund.methods = vec![RefundMethod::OriginalPayment, RefundMethod::Check, RefundMethod::AccountCredit];
    })
    .await;
    seed(&app, false, false).await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-M", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    // The customer chooses a check (the choice is recorded before review approves the case).
    let (status, chosen) = app
        .call(
            "POST",
            &format!("/api/v1/cases/{id}/commands"),
            Some(json!({"type": "choose_refund_method", "method": "check"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{chosen}");
    assert_eq!(chosen["refund_method"], "check");
    app.verify(&id).await;
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    // Used part: 5000 - floor(5000 × 11 / 31) = 3226 charged; refund 6000 - 3226 = 2774.
    let ledger = ledger(&app).await;
    assert_eq!(lines(&ledger), [("charge".to_owned(), 3_226), ("refund".to_owned(), 2_774)]);
    assert_eq!(ledger["balance_cents"], 0);
    assert_eq!(paid(&service), [(2_774, "check".to_owned())]);
    // The outbox delivers the same refund again (a crash before the answer was recorded):
    // the service recognises the key and pays nothing more.
    let (_, detail) = app.get(&format!("/api/v1/cases/{id}")).await;
    let row = detail["outbox"].as_array().unwrap().iter().find(|o| o["kind"] == "refund").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clock: Arc<dyn lineout_app::ports::Clock> = Arc::new(lineout_adapters::SystemClock);
    let again = HttpPayments::new(service.config(), clock).unwrap();
    let payout = lineout_domain::effects::Payout { method: RefundMethod::Check, original_reference: None };
    let account = lineout_domain::values::AccountId::parse("ACC-M").unwrap();
    let reference = again.refund(&row, &account, lineout_domain::values::Money::usd(2_774), &payout).await.unwrap();
    assert_eq!(reference, service.payments()[0].refund_id);
    assert_eq!(paid(&service), [(2_774, "check".to_owned())]);
    assert!(statement(&app, &id, "en").await.contains("by check to the billing address"));
    assert!(statement(&app, &id, "zh-Hans").await.contains("以支票寄至账单地址"));
    // Too late to change the method now.
    let (status, err) = app
        .post(
            &format!("/api/v1/cases/{id}/commands"),
            json!({"type": "choose_refund_method", "method": "account_credit"}),
        )
        .await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("refund_already_issued")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_credit_keeps_the_money_on_the_account_without_a_payout() {
    let (app, service) =
        app_with(|p| p.refund.methods = vec![RefundMethod::OriginalPayment, RefundMethod::AccountCredit]).await;
    seed(&app, false, false).await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-M", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    // The customer chooses, through a client acting on their behalf.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/api/v1/cases/{id}/commands"))
        .header("authorization", format!("Bearer {}", app.token))
        .header("content-type", "application/json")
        .header("x-lineout-on-behalf-of", "customer")
        .body(axum::body::Body::from(json!({"type": "choose_refund_method", "method": "account_credit"}).to_string()))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    app.verify(&id).await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    let chosen = case["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "refund_method_chosen").unwrap();
    assert_eq!(
        (chosen["actor"]["kind"].as_str(), chosen["data"]["method"].as_str()),
        (Some("customer"), Some("account_credit"))
    );
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    let ledger = ledger(&app).await;
    assert_eq!(lines(&ledger), [("refund".to_owned(), PREPAID), ("credit".to_owned(), PREPAID)]);
    // The money stays with the customer as a credit; nothing went to the payment service.
    assert_eq!(ledger["balance_cents"], -PREPAID);
    assert!(paid(&service).is_empty());
    assert!(statement(&app, &id, "en").await.contains("kept as account credit"));
    assert!(statement(&app, &id, "zh-Hans").await.contains("退款转为账户抵扣额"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_bill_works_on_postgres_too() {
    let Some(app) = crate::support::spawn_app_on_postgres().await else { return };
    seed(&app, false, true).await;
    let id = drive(&app, false).await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    // Default policy (end of cycle, billed in advance): only the installments are billed.
    let ledger = ledger(&app).await;
    assert_eq!(lines(&ledger), [("charge".to_owned(), INSTALLMENTS), ("refund".to_owned(), PREPAID - INSTALLMENTS)]);
    assert_eq!(ledger["balance_cents"], 0);
    assert_eq!(case["final_bill_cents"], INSTALLMENTS);
}

/// Sends a command that must be refused; returns (status, code) and checks the ledger did not move.
async fn refused(app: &TestApp, id: &str, body: Value) -> (StatusCode, String) {
    let before = ledger(app).await;
    let (status, err) = app.post(&format!("/api/v1/cases/{id}/commands"), body).await;
    assert_eq!(ledger(app).await, before, "the ledger moved on a refused command");
    (status, err["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_money_input_is_refused_with_stable_codes_and_changes_nothing() {
    let (app, service) = app_with(|_| {}).await;
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-M", "holder_name": "Mei Chen", "billing_cycle_day": 15, "owed_cents": 4_200}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-OTHER", "holder_name": "Someone Else", "billing_cycle_day": 1}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-M", "account_id": "ACC-M", "msisdn": "+1 415 555 0190", "plan": "postpaid"}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-M", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    let pay = |amount: Value| json!({"type": "record_payment", "amount_cents": amount, "reference": "PAY-1"});
    let bad = StatusCode::BAD_REQUEST;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    assert_eq!(refused(&app, &id, pay(json!(-100))).await, (unprocessable, "invalid_amount".into()));
    assert_eq!(refused(&app, &id, pay(json!(0))).await, (unprocessable, "invalid_amount".into()));
    assert_eq!(refused(&app, &id, pay(json!(12.345))).await, (bad, "invalid_json".into()));
    assert_eq!(refused(&app, &id, pay(json!("12.345"))).await, (bad, "invalid_json".into()));
    let eur = json!({"type": "record_payment", "amount_cents": 4_200, "currency": "EUR", "reference": "PAY-1"});
    assert_eq!(refused(&app, &id, eur).await, (unprocessable, "invalid_amount".into()));
    let other =
        json!({"type": "record_payment", "amount_cents": 4_200, "reference": "PAY-1", "account_id": "ACC-OTHER"});
    assert_eq!(refused(&app, &id, other).await, (unprocessable, "payment_account_mismatch".into()));
    let method = json!({"type": "choose_refund_method", "method": "check"});
    assert_eq!(refused(&app, &id, method).await, (unprocessable, "refund_method_not_offered".into()));
    // A worker's refund result cannot be posted by a client.
    let refund = json!({"type": "refund_issued", "effect_id": "x", "reference": "RF-1"});
    assert_eq!(refused(&app, &id, refund).await, (bad, "invalid_json".into()));
    // A partial payment, then its replay: the replay is refused and the ledger holds one payment.
    let partial = json!({"type": "record_payment", "amount_cents": 1_000, "reference": "PAY-1", "account_id": "ACC-M"});
    app.command(&id, partial.clone()).await;
    assert_eq!(refused(&app, &id, partial).await, (StatusCode::CONFLICT, "duplicate_payment".into()));
    let ledger = ledger(&app).await;
    assert_eq!(lines(&ledger), [("payment".to_owned(), 1_000)]);
    assert_eq!(ledger["balance_cents"], 3_200);
    assert!(paid(&service).is_empty());
    // Bad plan charges and installments are refused at the door.
    let (status, err) = app
        .post(
            "/api/v1/lines",
            json!({"id": "LINE-X", "account_id": "ACC-M", "msisdn": "+1 415 555 0191", "plan": "postpaid",
                   "monthly_charge_cents": -1}),
        )
        .await;
    assert_eq!((status, err["code"].as_str()), (bad, Some("invalid_field")));
    let (status, err) = app
        .post(
            "/api/v1/devices",
            json!({"id": "DEV-X", "line_id": "LINE-M", "imei": LEASED_IMEI, "model": "Moto G", "price_cents": 100,
                   "ownership": "owned", "remaining_installments_cents": 500}),
        )
        .await;
    assert_eq!((status, err["code"].as_str()), (bad, Some("invalid_field")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn historical_entries_import_through_the_api_once_and_count_in_the_balance() {
    let (app, _service) = app_with(|_| {}).await;
    seed(&app, false, false).await;
    let path = "/api/v1/accounts/ACC-M/ledger/entries";
    let rows = json!([
        {"kind": "charge", "amount_cents": 4_500, "reference": "INV-2026-10", "description": "October plan",
         "at": "2026-10-15T00:00:00Z"},
        {"kind": "payment", "amount_cents": 4_000, "reference": "PAY-77", "at": "2026-10-20T12:00:00Z"},
        {"kind": "charge", "amount_cents": -5, "reference": "INV-NEG"},
        {"kind": "charge", "amount_cents": 12.345, "reference": "INV-FRAC"},
        {"kind": "charge", "amount_cents": 100, "currency": "EUR", "reference": "INV-EUR"},
        {"kind": "forfeit", "amount_cents": 100, "reference": "F-1"},
        {"kind": "fee", "amount_cents": 300, "reference": "bad reference"}
    ]);
    let (status, results) = app.post(path, rows.clone()).await;
    assert_eq!(status, StatusCode::OK, "{results}");
    let outcome = |r: &Value| {
        r.as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["result"].as_str().unwrap(), r["code"].as_str().unwrap_or("")))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        outcome(&results),
        [
            "inserted ",
            "inserted ",
            "error invalid_field",
            "error invalid_json",
            "error ledger_currency_mismatch",
            "error invalid_field",
            "error invalid_field"
        ]
    );
    let imported = ledger(&app).await;
    assert_eq!(lines(&imported), [("charge".to_owned(), 4_500), ("payment".to_owned(), 4_000)]);
    // The derived balance counts them: -6000 (prepaid) + 4500 - 4000.
    assert_eq!(imported["balance_cents"], -PREPAID + 500);
    // A replay changes nothing; the same reference with other content is refused.
    let (_, again) = app.post(path, rows).await;
    assert_eq!(&outcome(&again)[..2], ["unchanged ", "unchanged "]);
    let changed = json!([{"kind": "charge", "amount_cents": 9_999, "reference": "INV-2026-10"}]);
    let (_, conflict) = app.post(path, changed).await;
    assert_eq!(outcome(&conflict), ["error ledger_reference_conflict"]);
    assert_eq!(ledger(&app).await, imported);
    // An unknown account is one 404.
    let (status, err) = app.post("/api/v1/accounts/NOPE/ledger/entries", json!([])).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("account_not_found")));
    // A token without accounts:write may not import.
    let (_, token) = app.engine.create_token(vec!["cases:read".into()], "reader".into()).await.unwrap();
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("[]"))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
