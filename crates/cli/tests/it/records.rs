//! Records end to end with a manual clock: data exports (exactly the account's data,
//! single-use expiring links), retention (erases what it should, keeps what it must,
//! respects legal holds), hash chains that still verify after erasure, privacy request
//! timers that flag overdue requests, and the documented chain-verification procedure.

use crate::support::{TestApp, spawn_app, spawn_app_on_postgres};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lineout_app::records_zip;
use lineout_domain::case::{Event, EventKind};
use lineout_domain::values::CaseId;
use serde_json::{Value, json};
use time::Duration;
use tower::ServiceExt;

const ICCID_A: &str = "8910042348144559361";
const ICCID_B: &str = "8910042348144559379";

/// A GET or POST with optional bearer token and extra headers; the raw body.
async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).map(|v| v["code"].as_str().unwrap_or("").to_owned()).unwrap_or_default()
}

/// An account with one prepaid line (number, ICCID, IMSI), and its closed cancellation case.
async fn closed_account(app: &TestApp, acc: &str, name: &str, msisdn: &str, iccid: &str) -> String {
    let id = open_account(app, acc, name, msisdn, iccid).await;
    app.verify(&id).await;
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    id
}

async fn open_account(app: &TestApp, acc: &str, name: &str, msisdn: &str, iccid: &str) -> String {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": acc, "holder_name": name, "email": format!("{}@example.com", acc.to_lowercase()),
               "prepaid_balance_cents": 1200}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": format!("L-{acc}"), "account_id": acc, "msisdn": msisdn, "iccid": iccid,
               "imsi": "310150123456789", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": format!("L-{acc}"), "channel": "web", "timing": {"kind": "immediate"},
                   "note": format!("call {name} after 5pm")}),
            StatusCode::CREATED,
        )
        .await;
    case["id"].as_str().unwrap().to_owned()
}

async fn request_export(app: &TestApp, acc: &str) -> String {
    let body = app.post_ok(&format!("/api/v1/accounts/{acc}/exports"), json!(null), StatusCode::ACCEPTED).await;
    body["download_path"].as_str().unwrap().to_owned()
}

/// Blocking engine calls run off the runtime (the PostgreSQL client has its own).
async fn audit_ok(app: &TestApp) -> lineout_app::engine::AuditReport {
    let engine = app.engine.clone();
    let report = tokio::task::spawn_blocking(move || engine.audit_blocking()).await.unwrap().unwrap();
    assert_eq!(report.first_break, None, "{report:?}");
    report
}

async fn chain_hashes(app: &TestApp, case: &str) -> Vec<String> {
    let engine = app.engine.clone();
    let id = CaseId::parse(case).unwrap();
    let doc = tokio::task::spawn_blocking(move || engine.audit_export_blocking(&id)).await.unwrap().unwrap();
    doc["events"].as_array().unwrap().iter().map(|e| e["hash"].as_str().unwrap().to_owned()).collect()
}

async fn events(app: &TestApp, case: &str) -> Vec<Event> {
    app.engine.case_detail(CaseId::parse(case).unwrap()).await.unwrap().events
}

fn opened_facts(events: &[Event]) -> Value {
    let EventKind::Opened { facts, .. } = &events[0].kind else { panic!("first event is not opened") };
    serde_json::to_value(facts).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_holds_exactly_the_accounts_data_through_a_single_use_link() {
    let app = spawn_app().await;
    let case_a = closed_account(&app, "ACC-A", "Ada Lovelace", "4155550101", ICCID_A).await;
    let case_b = closed_account(&app, "ACC-B", "Bo Zhang", "4155550202", ICCID_B).await;
    let link = request_export(&app, "ACC-A").await;
    // Not produced yet: a clear refusal, and the link is not used up.
    let (status, body) = raw(&app, "GET", &link, None, &[]).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::CONFLICT, "export_not_ready"));
    assert_eq!(app.engine.run_exports().await.unwrap(), 1);
    let (status, zip) = raw(&app, "GET", &link, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let files = records_zip::read(&zip).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for table in ["account", "lines", "devices", "ledger", "payments", "refunds", "cases", "timeline", "messages"] {
        assert!(names.contains(&format!("{table}.json").as_str()), "{names:?}");
        assert!(names.contains(&format!("{table}.csv").as_str()), "{names:?}");
    }
    let file = |n: &str| files.iter().find(|(name, _)| name == n).unwrap().1.clone();
    let json_of = |n: &str| serde_json::from_str::<Value>(&file(n)).unwrap();
    assert_eq!(json_of("account.json")[0]["id"], "ACC-A");
    assert!(json_of("account.json")[0].get("pin_hash").is_none());
    assert_eq!(json_of("lines.json")[0]["msisdn"], "+14155550101");
    let cases = json_of("cases.json");
    assert_eq!(cases.as_array().unwrap().len(), 1);
    assert_eq!(cases[0]["id"], case_a.as_str());
    // The timeline carries the personal values put back from the side table.
    assert_eq!(cases[0]["timeline"][0]["facts"]["iccid"], ICCID_A);
    assert!(file("timeline.csv").contains("opened"));
    assert_eq!(json_of("refunds.json")[0]["amount_cents"], 1200);
    assert!(!json_of("messages.json").as_array().unwrap().is_empty());
    // Nothing of the other account anywhere in the file.
    for (name, text) in &files {
        for other in ["ACC-B", "Bo Zhang", "4155550202", ICCID_B, "acc-b@example.com", case_b.as_str()] {
            assert!(!text.contains(other), "{name} leaks {other}");
        }
    }
    // The link works once.
    let (status, body) = raw(&app, "GET", &link, None, &[]).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::GONE, "export_token_used"));
    // An unknown token, and an expired one.
    let (status, body) = raw(&app, "GET", "/api/v1/exports/lx_nope", None, &[]).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::NOT_FOUND, "export_not_found"));
    let link2 = request_export(&app, "ACC-A").await;
    app.engine.run_exports().await.unwrap();
    app.clock.advance(Duration::hours(72));
    let (status, body) = raw(&app, "GET", &link2, None, &[]).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::GONE, "export_token_expired"));
    // Every export is recorded on the account.
    let (_, list) = app.get("/api/v1/accounts/ACC-A/exports").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let downloaded = items.iter().filter(|e| e["downloaded_at"].is_string()).count();
    assert_eq!(downloaded, 1, "{list}");
    assert_eq!(app.get("/api/v1/accounts/ACC-B/exports").await.1["items"], json!([]));
    // Exports stay available for 90 days after the account closed, then are refused.
    let closed_a = app.engine.case(CaseId::parse(&case_a).unwrap()).await.unwrap().updated_at;
    app.clock.set(closed_a + Duration::days(90));
    request_export(&app, "ACC-A").await;
    app.clock.set(closed_a + Duration::days(90) + Duration::minutes(1));
    let (status, body) = app.post("/api/v1/accounts/ACC-A/exports", json!(null)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("export_window_closed")), "{body}");
    let (status, body) = app.post("/api/v1/accounts/ACC-Z/exports", json!(null)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("account_not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_may_export_only_their_own_account() {
    let app = spawn_app().await;
    closed_account(&app, "ACC-A", "Ada Lovelace", "4155550101", ICCID_A).await;
    closed_account(&app, "ACC-B", "Bo Zhang", "4155550202", ICCID_B).await;
    let (_, portal) = app.engine.create_token(vec!["cases:customer".into()], "portal".into()).await.unwrap();
    let customer_b = [("x-lineout-on-behalf-of", "customer"), ("x-lineout-customer-account", "ACC-B")];
    let (status, body) = raw(&app, "POST", "/api/v1/accounts/ACC-A/exports", Some(&portal), &customer_b).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::FORBIDDEN, "export_account_mismatch"));
    // Without the customer's account the request is refused too; with the right one it works.
    let (status, body) =
        raw(&app, "POST", "/api/v1/accounts/ACC-A/exports", Some(&portal), &[("x-lineout-on-behalf-of", "customer")])
            .await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::BAD_REQUEST, "invalid_field"));
    let (status, _) = raw(&app, "POST", "/api/v1/accounts/ACC-B/exports", Some(&portal), &customer_b).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The portal's token alone is no operator: it cannot export without acting for the customer.
    let (status, body) = raw(&app, "POST", "/api/v1/accounts/ACC-A/exports", Some(&portal), &[]).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    let (_, a) = app.get("/api/v1/accounts/ACC-A/exports").await;
    assert_eq!(a["items"], json!([]), "nothing was recorded for the refused requests");
    let (_, b) = app.get("/api/v1/accounts/ACC-B/exports").await;
    assert_eq!(b["items"][0]["requested_by"], "customer");
}

/// Retention with a manual clock; run on SQLite and (when configured) PostgreSQL.
async fn retention_scenario(app: TestApp) {
    let case_a = closed_account(&app, "ACC-A", "Ada Lovelace", "4155550101", ICCID_A).await;
    let case_b = closed_account(&app, "ACC-B", "Bo Zhang", "4155550202", ICCID_B).await;
    // ACC-C keeps an active line: it is not closed and never erased.
    open_account(&app, "ACC-C", "Cy Active", "4155550303", "8910042348144559387").await;
    app.post_ok(
        "/api/v1/accounts/ACC-B/legal-hold",
        json!({"hold": true, "reason": "litigation 24-118"}),
        StatusCode::OK,
    )
    .await;
    let before_a = app.get("/api/v1/accounts/ACC-A").await.1;
    let hashes_before = chain_hashes(&app, &case_a).await;
    // One day before the policy's 120 days after ACC-A closed: nothing is erased early.
    let closed_a = app.engine.case(CaseId::parse(&case_a).unwrap()).await.unwrap().updated_at;
    app.clock.set(closed_a + Duration::days(119));
    let report = app.engine.run_retention().await.unwrap();
    assert!(report.erased.is_empty(), "{report:?}");
    assert_eq!(app.get("/api/v1/accounts/ACC-A").await.1, before_a);
    // Past it: ACC-A is erased; ACC-B (legal hold) and ACC-C (active) are not.
    app.clock.set(closed_a + Duration::days(120));
    let report = app.engine.run_retention().await.unwrap();
    assert_eq!(report.erased, vec!["ACC-A".to_owned()], "{report:?}");
    let a = app.get("/api/v1/accounts/ACC-A").await.1;
    assert_eq!((a["holder_name"].as_str(), a["email"].is_null()), (Some("[erased]"), true), "{a}");
    assert_eq!(app.get("/api/v1/accounts/ACC-B").await.1["holder_name"], "Bo Zhang");
    assert_eq!(app.get("/api/v1/accounts/ACC-C").await.1["holder_name"], "Cy Active");
    // The cancellation record keeps its number for 3 years; everything else personal is gone.
    let ev = events(&app, &case_a).await;
    let facts = opened_facts(&ev);
    assert_eq!(facts["msisdn"], "+14155550101");
    assert_eq!((facts["iccid"].as_str(), facts["imsi"].as_str()), (Some("[erased]"), Some("[erased]")));
    let EventKind::Opened { note, .. } = &ev[0].kind else { unreachable!() };
    assert_eq!(note.as_deref(), Some("[erased]"));
    assert_eq!(app.get(&format!("/api/v1/cases/{case_a}")).await.1["msisdn"], "+14155550101");
    let line = app.get("/api/v1/lines/L-ACC-A").await.1;
    assert_eq!((line["msisdn"].as_str(), line["iccid"].is_null()), (Some("[erased]"), true), "{line}");
    // Required records are kept: the number's aging record and the ledger.
    assert_eq!(app.get("/api/v1/numbers/4155550101").await.0, StatusCode::OK);
    assert!(!app.get("/api/v1/accounts/ACC-A/ledger").await.1["entries"].as_array().unwrap().is_empty());
    // Every chain verifies, unchanged, and erased accounts hold nothing they should not.
    let report = audit_ok(&app).await;
    assert!(report.erased_cases >= 1, "{report:?}");
    let hashes_after = chain_hashes(&app, &case_a).await;
    assert_eq!(hashes_before, hashes_after);
    assert!(app.engine.projection_matches_replay(CaseId::parse(&case_a).unwrap()).await.unwrap());
    // The audit notices a personal value that outlived the erasure (here: put back by hand).
    let (id, acc) = (CaseId::parse(&case_a).unwrap(), lineout_domain::values::AccountId::parse("ACC-A").unwrap());
    let stray =
        lineout_domain::personal::Personal { reference: "99.0".into(), key: "iccid".into(), value: json!(ICCID_A) };
    let (sid, sacc, sp) = (id.clone(), acc.clone(), stray.clone());
    app.engine.writer().run(move |c| Ok(c.records().put_personal(&sid, &sacc, &[sp])?)).await.unwrap();
    let engine = app.engine.clone();
    let report = tokio::task::spawn_blocking(move || engine.audit_blocking()).await.unwrap().unwrap();
    let (broken, what) = report.first_break.expect("the audit finds the stray value");
    assert_eq!((broken.as_str(), what.contains("outlived")), (case_a.as_str(), true), "{what}");
    app.engine.writer().run(move |c| Ok(c.records().erase_personal(&id, Some("msisdn"))?)).await.unwrap();
    audit_ok(&app).await;
    // An erased account cannot be exported any more.
    let (status, body) = app.post("/api/v1/accounts/ACC-A/exports", json!(null)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("account_erased")));
    // Three years later the kept number goes too; the chain still verifies.
    app.clock.set(closed_a + Duration::days(1095) - Duration::minutes(1));
    let report = app.engine.run_retention().await.unwrap();
    assert!(report.records_expired.is_empty(), "kept for the whole period: {report:?}");
    app.clock.set(closed_a + Duration::days(1095));
    let report = app.engine.run_retention().await.unwrap();
    assert_eq!(report.records_expired, vec!["ACC-A".to_owned()], "{report:?}");
    assert_eq!(opened_facts(&events(&app, &case_a).await)["msisdn"], "[erased]");
    assert!(app.engine.projection_matches_replay(CaseId::parse(&case_a).unwrap()).await.unwrap());
    // The hold is cleared: ACC-B goes at the next run, which finds nothing left of ACC-A.
    app.post_ok("/api/v1/accounts/ACC-B/legal-hold", json!({"hold": false}), StatusCode::OK).await;
    let report = app.engine.run_retention().await.unwrap();
    assert_eq!(report.erased, vec!["ACC-B".to_owned()], "{report:?}");
    assert_eq!(opened_facts(&events(&app, &case_b).await)["iccid"], "[erased]");
    audit_ok(&app).await;
    let report = app.engine.run_retention().await.unwrap();
    assert!(report.erased.is_empty() && report.records_expired.is_empty(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_erases_what_it_should_keeps_what_it_must_and_chains_still_verify() {
    retention_scenario(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_postgres() {
    if let Some(app) = spawn_app_on_postgres().await {
        retention_scenario(app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_retention_timer_runs_once_a_day() {
    let app = spawn_app().await;
    closed_account(&app, "ACC-A", "Ada Lovelace", "4155550101", ICCID_A).await;
    assert!(app.engine.run_retention_if_due().await.unwrap().is_some());
    assert!(app.engine.run_retention_if_due().await.unwrap().is_none(), "not twice the same day");
    app.clock.advance(Duration::days(121));
    let report = app.engine.run_retention_if_due().await.unwrap().unwrap();
    assert_eq!(report.erased, vec!["ACC-A".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_timers_fire_and_flag_overdue_requests() {
    let app = spawn_app().await;
    closed_account(&app, "ACC-A", "Ada Lovelace", "4155550101", ICCID_A).await;
    // Bad input: deletion with an open case, or under legal hold; nothing is recorded.
    open_account(&app, "ACC-C", "Cy Active", "4155550303", "8910042348144559387").await;
    let (status, body) = app.post("/api/v1/privacy-requests", json!({"account_id": "ACC-C", "kind": "deletion"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("privacy_open_case")), "{body}");
    // A line still in service (its case withdrawn): deleting its data would stop it working.
    let open_d = open_account(&app, "ACC-D", "Di Live", "4155550404", "8910042348144559395").await;
    app.command(&open_d, json!({"type": "withdraw"})).await;
    let (status, body) = app.post("/api/v1/privacy-requests", json!({"account_id": "ACC-D", "kind": "deletion"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("privacy_active_line")), "{body}");
    closed_account(&app, "ACC-B", "Bo Zhang", "4155550202", ICCID_B).await;
    app.post_ok("/api/v1/accounts/ACC-B/legal-hold", json!({"hold": true, "reason": "subpoena"}), StatusCode::OK).await;
    let (status, body) = app.post("/api/v1/privacy-requests", json!({"account_id": "ACC-B", "kind": "deletion"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("legal_hold")));
    let (status, body) = app.post("/api/v1/privacy-requests", json!({"account_id": "ACC-A", "kind": "erase"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field")));
    assert_eq!(app.get("/api/v1/privacy-requests").await.1["items"], json!([]));

    // Acknowledge within 10 business days of receipt, complete within 45 days.
    // The access request is about the account still active (exports stay available), the deletion about the closed one.
    let access = app
        .post_ok("/api/v1/privacy-requests", json!({"account_id": "ACC-C", "kind": "access"}), StatusCode::CREATED)
        .await;
    let deletion = app
        .post_ok("/api/v1/privacy-requests", json!({"account_id": "ACC-A", "kind": "deletion"}), StatusCode::CREATED)
        .await;
    let (acc_id, del_id) = (access["id"].as_str().unwrap(), deletion["id"].as_str().unwrap());
    let received = time::OffsetDateTime::parse(
        access["received_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ack_due = lineout_domain::privacy::add_business_days(received, 10);
    assert_eq!(
        access["ack_due_at"].as_str().unwrap(),
        ack_due.format(&time::format_description::well_known::Rfc3339).unwrap()
    );
    assert!(ack_due - received >= Duration::days(14), "weekends do not count");
    // Just before the deadline nothing is flagged; at it, the timer flags both.
    app.clock.set(ack_due - Duration::minutes(1));
    app.engine.run_privacy_timers().await.unwrap();
    assert_eq!(app.get("/api/v1/privacy-requests?overdue=true").await.1["items"], json!([]));
    app.clock.set(ack_due);
    assert_eq!(app.engine.run_privacy_timers().await.unwrap(), 2);
    let overdue = app.get("/api/v1/privacy-requests?overdue=true").await.1;
    assert_eq!(overdue["items"].as_array().unwrap().len(), 2, "{overdue}");
    assert_eq!(overdue["items"][0]["ack_overdue"], true);
    let (_, metrics) = raw(&app, "GET", "/metrics", None, &[]).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("lineout_privacy_requests_overdue 2"), "{metrics}");

    // Staff acknowledge and extend the access request once, with notice.
    let steps = |id: &str| format!("/api/v1/privacy-requests/{id}/steps");
    app.post_ok(&steps(acc_id), json!({"step": "acknowledge"}), StatusCode::OK).await;
    let ext = app
        .post_ok(
            &steps(acc_id),
            json!({"step": "extend", "notice": "We need 45 more days to gather your records."}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(ext["extended"], true);
    assert_eq!(ext["ack_overdue"], false);
    let (status, body) = app.post(&steps(acc_id), json!({"step": "extend", "notice": "again"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("privacy_already_extended")));
    let (status, body) = app.post(&steps(acc_id), json!({"step": "extend"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field")));
    // At 45 days the unextended deletion is overdue; the extended access request is not.
    let due = received + Duration::days(45);
    app.clock.set(due);
    app.engine.run_privacy_timers().await.unwrap();
    let overdue = app.get("/api/v1/privacy-requests?overdue=true").await.1;
    let ids: Vec<&str> = overdue["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![del_id]);
    assert_eq!(overdue["items"][0]["overdue"], true);
    // At 90 days the extended one is overdue too.
    app.clock.set(received + Duration::days(90));
    app.engine.run_privacy_timers().await.unwrap();
    assert_eq!(app.get("/api/v1/privacy-requests?overdue=true").await.1["items"].as_array().unwrap().len(), 2);

    // Completing: the access request yields an export; the deletion erases and says what was kept.
    let done = app.post_ok(&steps(acc_id), json!({"step": "complete"}), StatusCode::OK).await;
    assert_eq!((done["status"].as_str(), done["overdue"].as_bool()), (Some("completed"), Some(false)));
    let token = done["outcome"]["download_token"].as_str().unwrap().to_owned();
    app.engine.run_exports().await.unwrap();
    let (status, _) = raw(&app, "GET", &format!("/api/v1/exports/{token}"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let done = app.post_ok(&steps(del_id), json!({"step": "complete"}), StatusCode::OK).await;
    let kept = done["outcome"]["kept"].as_array().unwrap();
    assert!(kept[0]["record"].as_str().unwrap().starts_with("cancellation record"), "{done}");
    assert!(kept[0]["why"].as_str().unwrap().contains("3 years"));
    assert_eq!(app.get("/api/v1/accounts/ACC-A").await.1["holder_name"], "[erased]");
    let (status, body) = app.post(&steps(del_id), json!({"step": "complete"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("privacy_request_completed")));
    assert_eq!(app.get("/api/v1/privacy-requests?overdue=true").await.1["items"], json!([]));
    audit_ok(&app).await;
}

/// The script in docs/audit.md, extracted between its markers.
fn documented_script() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/audit.md")).unwrap();
    let start = doc.find("<!-- verify-script:start -->").unwrap();
    let end = doc.find("<!-- verify-script:end -->").unwrap();
    let block = &doc[start..end];
    let code = block.split("```python\n").nth(1).unwrap();
    code.split("```").next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_procedure_verifies_an_exported_chain_after_erasure() {
    let app = spawn_app().await;
    let case = closed_account(&app, "ACC-A", "Ada Lovelace", "4155550101", ICCID_A).await;
    app.clock.advance(Duration::days(121));
    app.engine.run_retention().await.unwrap();
    let id = CaseId::parse(&case).unwrap();
    let engine = app.engine.clone();
    let doc = tokio::task::spawn_blocking(move || engine.audit_export_blocking(&id)).await.unwrap().unwrap();
    let text = doc.to_string();
    // The chained bodies hold references, never the personal values.
    for personal in ["4155550101", ICCID_A, "Ada", "310150123456789"] {
        assert!(!text.contains(personal), "the exported chain leaks {personal}");
    }
    assert!(text.contains("$personal"));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("verify_chain.py");
    std::fs::write(&script, documented_script()).unwrap();
    let file = dir.path().join("case.json");
    std::fs::write(&file, &text).unwrap();
    let Ok(out) = std::process::Command::new("python3").arg(&script).arg(&file).output() else {
        eprintln!("python3 is not installed: skipping the script run");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.starts_with("OK"), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    // Tampering with one body is caught by the same script.
    let mut tampered = doc.clone();
    let body = tampered["events"][1]["body"].as_str().unwrap().replace("web", "ivr");
    tampered["events"][1]["body"] = Value::String(body.replace("\"type\"", "\"type\" "));
    std::fs::write(&file, tampered.to_string()).unwrap();
    let out = std::process::Command::new("python3").arg(&script).arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BROKEN at event 2"));
}

#[test]
fn the_records_commands_export_hold_request_audit_and_retain() {
    use lineout_adapters::fakes::{FakeNetwork, FakeNotifier, FakePayments};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rec.db").display());
    let mut config = lineout::config::Config::default();
    config.database.url = url.clone();
    let store = lineout::db::open_store(&config.database).unwrap();
    store.migrate().unwrap();
    let adapters = lineout_app::Adapters {
        network: Arc::new(FakeNetwork::default()),
        notifier: Arc::new(FakeNotifier::default()),
        payments: Arc::new(FakePayments::default()),
        webhooks: None,
    };
    let engine = lineout_app::Engine::start(
        store,
        Arc::new(lineout_adapters::SystemClock),
        Arc::new(lineout_adapters::RandomIds),
        adapters,
        config.engine_config(),
    )
    .unwrap();
    let case_id = lineout::block_on_engine(engine, async |e| {
        use lineout_domain::account::{Account, AccountKind, Line, LineStatus, Locks, Plan};
        use lineout_domain::values::{AccountId, Language, LineId, Money, Msisdn};
        let account = |id: &str, name: &str| Account {
            id: AccountId::parse(id).unwrap(),
            holder_name: name.into(),
            email: None,
            alt_phone: None,
            language: Language::En,
            pin_hash: None,
            locks: Locks::default(),
            billing_cycle_day: 1,
            kind: AccountKind::Residential,
            owed: Money::usd(0),
            prepaid_balance: Money::usd(0),
        };
        e.upsert_accounts(vec![account("A1", "Dee Export"), account("A2", "Eve Other")]).await.unwrap();
        let line = |id: &str, acc: &str, n: &str| Line {
            id: LineId::parse(id).unwrap(),
            account_id: AccountId::parse(acc).unwrap(),
            msisdn: Msisdn::parse(n).unwrap(),
            iccid: None,
            imsi: None,
            eid: None,
            plan: Plan::Prepaid,
            status: LineStatus::Active,
            monthly_charge_cents: 0,
        };
        e.upsert_lines(vec![line("L1", "A1", "4155550123"), line("L2", "A2", "4155550124")]).await.unwrap();
        let req = lineout_app::OpenRequest {
            callback: false,
            kind: lineout_domain::case::CaseKind::Cancellation,
            line: lineout_app::LineRef::Id(LineId::parse("L1").unwrap()),
            channel: lineout_domain::Channel::Web,
            timing: lineout_domain::Timing::Immediate,
            note: None,
        };
        Ok(e.open_case(req, lineout_domain::case::Actor::Customer).await.unwrap().id.to_string())
    })
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lineout"))
            .args(["--database", &url])
            .args(args)
            .env("LINEOUT_LOG__LEVEL", "error")
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    let zip = dir.path().join("a1.zip");
    let out = run(&["export", "request", "--account", "A1", "--out", zip.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let files = records_zip::read(&std::fs::read(&zip).unwrap()).unwrap();
    assert!(files.iter().any(|(_, t)| t.contains("Dee Export")));
    assert!(files.iter().all(|(_, t)| !t.contains("Eve Other") && !t.contains("4155550124")));
    let out = run(&["export", "list", "--account", "A1"]);
    assert!(out.status.success() && text(&out).contains("ready"), "{}", text(&out));
    let out = run(&["export", "request", "--account", "NOPE", "--out", zip.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("account_not_found"), "{}", text(&out));

    let out = run(&["legal-hold", "set", "--account", "A2", "--reason", "litigation"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["privacy", "open", "--account", "A2", "--kind", "deletion"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("legal_hold"), "{}", text(&out));
    let out = run(&["privacy", "open", "--account", "A1", "--kind", "deletion"]);
    assert!(text(&out).contains("privacy_open_case"), "{}", text(&out));
    let out = run(&["privacy", "open", "--account", "A1", "--kind", "access"]);
    assert!(out.status.success() && text(&out).contains("PRQ-"), "{}", text(&out));
    let out = run(&["privacy", "list", "--overdue"]);
    assert!(out.status.success(), "nothing is overdue yet: {}", text(&out));

    let chain = dir.path().join("case.json");
    let out = run(&["audit", "export", "--case", &case_id, "--out", chain.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&chain).unwrap()).unwrap();
    assert_eq!(doc["case_id"], case_id.as_str());
    assert!(!doc.to_string().contains("4155550123"), "the chain holds no number");
    let out = run(&["audit", "verify"]);
    assert!(out.status.success() && text(&out).contains("audit ok"), "{}", text(&out));
    let out = run(&["retention", "run"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["erased"], json!([]), "nothing is closed: nothing is erased");
}
