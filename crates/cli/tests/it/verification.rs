//! Identity verification through the API with a manual clock: one-time codes (sent to
//! the account's own contacts, wrong, expired, reused, another case's), the account PIN,
//! photo ID, the operator's token, knowledge answers, the lockout and its end, the rate
//! limits, the notices, per-channel refusals, and brute force that never verifies.

use crate::support::{TestApp, spawn_app_with};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lineout_app::EngineConfig;
use lineout_app::engine::{ClientAddress, VerificationRequest};
use lineout_domain::case::{Actor, Notice};
use lineout_domain::values::CaseId;
use serde_json::{Value, json};
use time::Duration;
use tower::ServiceExt;

const PIN: &str = "4321";

/// An app whose client address comes from `x-forwarded-for` (a trusted proxy).
async fn app() -> TestApp {
    let config = EngineConfig { client_address_header: "x-forwarded-for".into(), ..EngineConfig::default() };
    spawn_app_with(config).await
}

/// An account with email, alternate phone and a PIN, and its line `LINE-{n}`.
async fn seed(app: &TestApp, n: u32, alt_phone: bool) {
    let mut account =
        json!({"id": format!("ACC-{n}"), "holder_name": "Ana Ruiz", "email": format!("ana{n}@example.com")});
    if alt_phone {
        account["alt_phone"] = json!("+1 415 555 0177");
    }
    app.post_ok("/api/v1/accounts", account, StatusCode::CREATED).await;
    let msisdn = format!("+1 415 555 {:04}", 1000 + n);
    let line =
        json!({"id": format!("LINE-{n}"), "account_id": format!("ACC-{n}"), "msisdn": msisdn, "plan": "prepaid"});
    app.post_ok("/api/v1/lines", line, StatusCode::CREATED).await;
}

/// Gives account `ACC-{n}` the PIN (set by the operator's systems as argon2id, not by this API).
async fn set_pin(app: &TestApp, n: u32) {
    let id = lineout_domain::values::AccountId::parse(&format!("ACC-{n}")).unwrap();
    let mut stored = app.engine.account(id).await.unwrap();
    stored.pin_hash = Some(lineout_app::secrets::hash(PIN, [9; 16]).unwrap());
    app.engine.upsert_accounts(vec![stored]).await.unwrap().pop().unwrap().unwrap();
}

async fn open(app: &TestApp, n: u32, channel: &str) -> String {
    let body = json!({"line_id": format!("LINE-{n}"), "channel": channel, "timing": {"kind": "immediate"}});
    let case = app.post_ok("/api/v1/cases", body, StatusCode::CREATED).await;
    case["id"].as_str().unwrap().to_owned()
}

/// A request with the app's admin token, from a client address.
async fn call(app: &TestApp, path: &str, body: Value, from: &str, token: Option<&str>) -> (StatusCode, Value) {
    let token = token.unwrap_or(&app.token);
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", format!("198.51.100.77, {from}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn attempt(app: &TestApp, case: &str, body: Value, from: &str) -> (StatusCode, Value) {
    call(app, &format!("/api/v1/cases/{case}/verification"), body, from, None).await
}

async fn code_attempt(app: &TestApp, case: &str, code: &str, from: &str) -> (StatusCode, Value) {
    attempt(app, case, json!({"method": "one_time_code", "code": code}), from).await
}

async fn timeline(app: &TestApp, case: &str) -> Vec<Value> {
    let (_, detail) = app.get(&format!("/api/v1/cases/{case}")).await;
    detail["timeline"].as_array().unwrap().clone()
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

/// A code that is not `code`.
fn other(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

#[tokio::test]
async fn a_code_sent_to_the_line_verifies_once_and_the_customer_gets_it_by_sms() {
    let app = app().await;
    seed(&app, 1, true).await;
    let id = open(&app, 1, "web").await;
    let code = app.send_code(&id, "line").await;
    app.drain().await;
    let sent = app.notifier.sent();
    let message = sent.iter().find(|m| m.notice == Notice::VerificationCode).unwrap();
    // Only to the line itself, by SMS, with the code, the authenticity code and the anti-scam sentence.
    assert_eq!(message.to.email, None);
    assert_eq!(message.to.sms.as_ref().map(|m| m.as_str().to_owned()), Some("+14155551001".to_owned()));
    assert!(message.sms_text.contains(&code) && message.sms_text.contains(&message.auth_code));
    assert!(message.sms_text.contains(lineout_app::notices::SCAM_EN));

    let (status, case) = code_attempt(&app, &id, &code, "203.0.113.5").await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["verification"], "done");
    // Used once: presenting it again is refused as used.
    let (status, err) = code_attempt(&app, &id, &code, "203.0.113.5").await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("code_used")));
    // The record: method, channel, the client as a keyed hash, never the code or the address.
    let events = timeline(&app, &id).await;
    let verified = events.iter().find(|e| e["type"] == "identity_verified").unwrap();
    assert_eq!(verified["data"]["method"], "one_time_code");
    assert_eq!(verified["data"]["channel"], "web");
    let client = verified["data"]["client"].as_str().unwrap();
    assert_eq!(client.len(), 16);
    let detail = app.engine.case_detail(CaseId::parse(&id).unwrap()).await.unwrap();
    for e in &detail.events {
        let body = serde_json::to_string(e).unwrap();
        assert!(!body.contains(&code) && !body.contains("203.0.113.5"), "{body}");
    }
}

#[tokio::test]
async fn codes_go_only_to_the_accounts_own_contacts() {
    let app = app().await;
    seed(&app, 1, false).await;
    let id = open(&app, 1, "web").await;
    let path = format!("/api/v1/cases/{id}/verification/codes");
    let (status, err) = app.post(&path, json!({"destination": "+14155550199"})).await;
    assert_eq!((status, err["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("destination")));
    // No alternate phone on this account: refused, nothing recorded.
    let (status, err) = app.post(&path, json!({"destination": "alt_phone"})).await;
    assert_eq!((status, err["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("destination")));
    assert_eq!(timeline(&app, &id).await.len(), 1);
    let code = app.send_code(&id, "email").await;
    app.drain().await;
    let message = app.notifier.sent().into_iter().find(|m| m.notice == Notice::VerificationCode).unwrap();
    assert_eq!(message.to.sms, None);
    assert_eq!(message.to.email.as_ref().map(|e| e.as_str().to_owned()), Some("ana1@example.com".to_owned()));
    assert!(message.body.contains(&code));
}

#[tokio::test]
async fn wrong_expired_replaced_and_other_cases_codes_are_refused_and_recorded() {
    let app = app().await;
    seed(&app, 1, true).await;
    seed(&app, 2, true).await;
    let first = open(&app, 1, "web").await;
    let second = open(&app, 2, "web").await;
    let code = app.send_code(&first, "line").await;
    let theirs = app.send_code(&second, "line").await;
    let from = "203.0.113.9";
    let (status, err) = code_attempt(&app, &first, &other(&code), from).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("code_invalid")));
    // Another case's code is no code of this case.
    let (_, err) = code_attempt(&app, &first, &theirs, from).await;
    assert_eq!(err["code"], "code_invalid");
    // Malformed input is a bad request that records nothing.
    let (status, _) = code_attempt(&app, &first, "12ab", from).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Ten minutes later the code has expired.
    app.clock.advance(Duration::minutes(10));
    let (_, err) = code_attempt(&app, &first, &code, from).await;
    assert_eq!(err["code"], "code_expired");
    // A new code replaces the old one.
    let fresh = app.send_code(&first, "line").await;
    let (_, err) = code_attempt(&app, &first, &code, from).await;
    assert_eq!(err["code"], "code_expired");
    let events = timeline(&app, &first).await;
    let failed: Vec<_> = events.iter().filter(|e| e["type"] == "verification_failed").collect();
    let reasons: Vec<_> = failed.iter().map(|e| e["data"]["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["code_invalid", "code_invalid", "code_expired", "code_expired"]);
    assert!(failed.iter().all(|e| e["data"]["client"].as_str().is_some_and(|c| c.len() == 16)));
    assert_eq!(failed.iter().map(|e| e["data"]["failures"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let (status, _) = code_attempt(&app, &first, &fresh, from).await;
    assert_eq!(status, StatusCode::OK);
    // The other case was never touched.
    assert_eq!(types(&timeline(&app, &second).await), ["opened", "verification_code_sent"]);
}

#[tokio::test]
async fn five_wrong_attempts_lock_the_case_notify_every_contact_and_unlock_after_30_minutes() {
    let app = app().await;
    seed(&app, 1, true).await;
    set_pin(&app, 1).await;
    let id = open(&app, 1, "ivr").await;
    let code = app.send_code(&id, "line").await;
    app.drain().await;
    let before = app.notifier.sent().len();
    for i in 1..=4 {
        let (status, err) = attempt(&app, &id, json!({"method": "pin", "pin": "9999"}), "203.0.113.1").await;
        assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("pin_invalid")), "{i}");
    }
    let (status, err) = code_attempt(&app, &id, &other(&code), "203.0.113.2").await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::LOCKED, Some("verification_locked")));
    assert_eq!(err["details"]["until"], "2026-11-02T10:00:00Z");
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["verification_locked_until"], "2026-11-02T10:00:00Z");
    // Locked: the right code and the right PIN are refused too.
    let (status, _) = code_attempt(&app, &id, &code, "203.0.113.3").await;
    assert_eq!(status, StatusCode::LOCKED);
    let (status, _) = attempt(&app, &id, json!({"method": "pin", "pin": PIN}), "203.0.113.3").await;
    assert_eq!(status, StatusCode::LOCKED);
    let (status, _) = app.post(&format!("/api/v1/cases/{id}/verification/codes"), json!({"destination": "line"})).await;
    assert_eq!(status, StatusCode::LOCKED);
    // Every contact hears of it: email, alternate phone, and the line.
    app.drain().await;
    let locked: Vec<_> =
        app.notifier.sent().into_iter().skip(before).filter(|m| m.notice == Notice::VerificationLocked).collect();
    assert_eq!(locked.len(), 3, "{locked:?}");
    assert!(locked.iter().any(|m| m.to.email.is_some()));
    assert!(locked.iter().any(|m| m.to.sms.as_ref().is_some_and(|p| p.as_str() == "+14155550177")));
    assert!(locked.iter().any(|m| m.to.sms.as_ref().is_some_and(|p| p.as_str() == "+14155551001")));
    assert!(locked.iter().all(|m| m.body.contains("2026-11-02 10:00 UTC")));
    // The lock ends by its timer; attempts are allowed again.
    app.clock.advance(Duration::minutes(30));
    app.drain().await;
    let events = timeline(&app, &id).await;
    let names = types(&events);
    assert!(names.contains(&"verification_locked".to_owned()) && names.contains(&"verification_unlocked".to_owned()));
    let (status, case) = attempt(&app, &id, json!({"method": "pin", "pin": PIN}), "203.0.113.4").await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["verification_method"], "pin");
}

#[tokio::test]
async fn code_sends_are_limited_per_line() {
    let app = app().await;
    seed(&app, 1, true).await;
    let id = open(&app, 1, "web").await;
    for _ in 0..3 {
        app.send_code(&id, "line").await;
    }
    let path = format!("/api/v1/cases/{id}/verification/codes");
    let (status, err) = app.post(&path, json!({"destination": "email"})).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    assert_eq!(err["details"]["retry_after_seconds"], 900);
    assert_eq!(types(&timeline(&app, &id).await).len(), 4, "the refusal recorded nothing");
    app.clock.advance(Duration::minutes(15));
    app.send_code(&id, "email").await;
}

#[tokio::test]
async fn attempts_per_client_address_are_limited_across_cases() {
    let app = app().await;
    let mut cases = Vec::new();
    for n in 1..=6 {
        seed(&app, n, true).await;
        let id = open(&app, n, "web").await;
        let code = app.send_code(&id, "line").await;
        cases.push((id, code));
    }
    // 20 wrong attempts from one address, 4 per case (under each case's lock limit).
    for i in 0..20 {
        let (id, code) = &cases[i / 4];
        let (status, _) = code_attempt(&app, id, &other(code), "192.0.2.66").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // The 21st, even with the right code of a fresh case, is refused before it is evaluated.
    let (id, code) = &cases[5];
    let (status, err) = code_attempt(&app, id, code, "192.0.2.66").await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    // (The sixth case opened by one client within the hour is scored for the burst.)
    assert_eq!(types(&timeline(&app, id).await), ["opened", "risk_assessed", "verification_code_sent"]);
    // Another address is not affected; after the window this one may try again.
    let (status, _) = code_attempt(&app, &cases[4].0, &cases[4].1, "192.0.2.67").await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(Duration::minutes(15));
    let fresh = app.send_code(id, "line").await;
    let (status, _) = code_attempt(&app, id, &fresh, "192.0.2.66").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn each_channel_accepts_only_its_methods() {
    let app = app().await;
    for n in 1..=4 {
        seed(&app, n, true).await;
    }
    set_pin(&app, 1).await;
    set_pin(&app, 4).await;
    let from = "203.0.113.20";
    // Web: a code only; PIN and token are refused (recorded, not counted as guesses).
    let web = open(&app, 1, "web").await;
    let (status, err) = attempt(&app, &web, json!({"method": "pin", "pin": PIN}), from).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("verification_method_not_allowed"))
    );
    let (_, err) = attempt(&app, &web, json!({"method": "operator_token"}), from).await;
    assert_eq!(err["code"], "verification_method_not_allowed");
    let failed = timeline(&app, &web).await.into_iter().filter(|e| e["type"] == "verification_failed").count();
    assert_eq!(failed, 2);
    // API: the operator's token, only with the `cases:verify` scope.
    let api = open(&app, 2, "api").await;
    let (_, writer) = app.engine.create_token(vec!["cases:write".into()], "no verify".into()).await.unwrap();
    let path = format!("/api/v1/cases/{api}/verification");
    let (status, err) = call(&app, &path, json!({"method": "operator_token"}), from, Some(&writer)).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (_, verifier) =
        app.engine.create_token(vec!["cases:write".into(), "cases:verify".into()], "verifier".into()).await.unwrap();
    let (status, case) = call(&app, &path, json!({"method": "operator_token"}), from, Some(&verifier)).await;
    assert_eq!((status, case["verification_method"].as_str()), (StatusCode::OK, Some("operator_token")));
    // Store: photo ID attested by a staff member, not expired on the clock's date.
    let store = open(&app, 3, "store").await;
    let photo = |expires: &str| json!({"method": "photo_id", "staff_id": "agent-7", "document_type": "passport", "last4": "x9k2", "expires_on": expires});
    let (status, err) = attempt(&app, &store, photo("2026-11-01"), from).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("photo_id_expired")));
    let (status, _) = attempt(&app, &store, json!({"method": "photo_id", "staff_id": "agent-7", "document_type": "passport", "last4": "X9K2345", "expires_on": "2030-01-01"}), from).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, portal) = app.engine.create_token(vec!["cases:customer".into()], "portal".into()).await.unwrap();
    let req = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/cases/{store}/verification"))
        .header("authorization", format!("Bearer {portal}"))
        .header("x-lineout-on-behalf-of", "customer")
        .header("content-type", "application/json")
        .body(Body::from(photo("2030-01-01").to_string()))
        .unwrap();
    assert_eq!(app.router.clone().oneshot(req).await.unwrap().status(), StatusCode::FORBIDDEN);
    let (status, case) = attempt(&app, &store, photo("2026-11-02"), from).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    let events = timeline(&app, &store).await;
    let verified = events.iter().find(|e| e["type"] == "identity_verified").unwrap();
    assert_eq!(verified["actor"]["kind"], "staff");
    assert_eq!(
        verified["data"]["photo_id"],
        json!({"document_type": "passport", "last4": "X9K2", "expires_on": "2026-11-02"})
    );
    // IVR: the PIN (or a code).
    let ivr = open(&app, 4, "ivr").await;
    let (status, _) = attempt(&app, &ivr, json!({"method": "pin", "pin": PIN}), from).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn knowledge_answers_are_recorded_but_never_verify() {
    let app = app().await;
    seed(&app, 1, true).await;
    let id = open(&app, 1, "web").await;
    for item in ["name", "address", "date_of_birth", "id_number", "last_payment", "call_details"] {
        let body = json!({"method": "knowledge", "item": item, "matched": true, "staff_id": "agent-7"});
        let (status, case) = attempt(&app, &id, body, "203.0.113.30").await;
        assert_eq!((status, case["status"].as_str()), (StatusCode::OK, Some("verifying")));
    }
    let events = timeline(&app, &id).await;
    assert_eq!(events.iter().filter(|e| e["type"] == "knowledge_answer_recorded").count(), 6);
    assert!(!types(&events).contains(&"identity_verified".to_owned()));
}

/// 10,000 guesses through the engine (group-committed in concurrent batches): spread
/// over many cases from one client address, then against one case from ever-new
/// addresses with the real code slipped in while locked. None verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_guesses_never_verify_a_case() {
    let app = app().await;
    let mut cases = Vec::new();
    for n in 1..=50 {
        seed(&app, n, false).await;
        let id = open(&app, n, "web").await;
        let code = app.send_code(&id, "line").await;
        cases.push((CaseId::parse(&id).unwrap(), code));
    }
    let guess = |app: &TestApp, case: CaseId, code: String, from: String| {
        let engine = app.engine.clone();
        async move {
            engine
                .verify_identity(case, VerificationRequest::Code(code), Some(ClientAddress(from)), Actor::Customer)
                .await
        }
    };
    // 1. One client address, 5,000 guesses over 50 cases; each guess names the real code.
    let mut evaluated = 0;
    let mut verified = 0;
    for batch in 0..20 {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..250 {
            let (case, code) = cases[(batch * 250 + i) % cases.len()].clone();
            // The first 20 are wrong; later ones are the right code (refused unevaluated).
            let code = if batch == 0 && i < 20 { other(&code) } else { code };
            tasks.spawn(guess(&app, case, code, "192.0.2.200".into()));
            if batch == 0 && i < 20 {
                // The first ones in order, so that the window fills deterministically.
                let r = tasks.join_next().await.unwrap().unwrap();
                assert!(matches!(&r, Err(e) if e.code() == "code_invalid"), "{r:?}");
                evaluated += 1;
            }
        }
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(_) => verified += 1,
                Err(e) if e.code() == "rate_limited" => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
    assert_eq!((evaluated, verified), (20, 0));

    // 2. One case, 5,000 guesses from 5,000 addresses: 5 wrong ones lock it for 30 minutes,
    // then the real code among 245 more is refused as locked; the clock moves 31 minutes.
    let (target, _) = cases[0].clone();
    let mut wrong_evaluated = 0;
    for round in 0..20u32 {
        app.clock.advance(Duration::minutes(31));
        let code = app.send_code(target.as_str(), "line").await;
        for k in 0..5 {
            let from = format!("10.{round}.0.{k}");
            let r = guess(&app, target.clone(), other(&code), from).await;
            assert!(matches!(&r, Err(e) if e.code() == "code_invalid" || e.code() == "verification_locked"), "{r:?}");
            wrong_evaluated += 1;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..245u32 {
            let from = format!("10.{round}.{}.{}", 1 + k / 200, k % 200);
            let c = if k == 100 { code.clone() } else { format!("{:06}", (round * 1000 + k) % 1_000_000) };
            tasks.spawn(guess(&app, target.clone(), c, from));
        }
        while let Some(r) = tasks.join_next().await {
            let e = r.unwrap().expect_err("a guess verified the case");
            assert_eq!(e.code(), "verification_locked");
        }
    }
    assert_eq!(wrong_evaluated, 100);
    let case = app.engine.case(target.clone()).await.unwrap();
    assert_eq!(case.status, lineout_domain::Status::Verifying);
    for (id, _) in &cases {
        assert_eq!(app.engine.case(id.clone()).await.unwrap().verification, lineout_domain::case::Step::Pending);
    }
    let detail = app.engine.case_detail(target).await.unwrap();
    let locks = detail.events.iter().filter(|e| e.kind.name() == "verification_locked").count();
    assert_eq!(locks, 20);
}

/// The same code, lockout and unlock on PostgreSQL (when configured).
#[tokio::test]
async fn codes_and_the_lockout_work_on_postgres() {
    let Some(app) = crate::support::spawn_app_on_postgres().await else { return };
    seed(&app, 1, true).await;
    let id = open(&app, 1, "web").await;
    let code = app.send_code(&id, "line").await;
    for _ in 0..4 {
        let (status, _) = code_attempt(&app, &id, &other(&code), "203.0.113.50").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _) = code_attempt(&app, &id, &other(&code), "203.0.113.50").await;
    assert_eq!(status, StatusCode::LOCKED);
    app.clock.advance(Duration::minutes(30));
    app.drain().await;
    let fresh = app.send_code(&id, "line").await;
    let (status, case) = code_attempt(&app, &id, &fresh, "203.0.113.50").await;
    assert_eq!(status, StatusCode::OK, "{case}");
    let names = types(&timeline(&app, &id).await);
    assert!(names.contains(&"verification_unlocked".to_owned()));
    assert!(app.engine.projection_matches_replay(CaseId::parse(&id).unwrap()).await.unwrap());
}

/// Over real TCP without a proxy header, the peer address is what is hashed and limited.
#[tokio::test]
async fn over_tcp_the_peer_address_is_recorded_as_its_keyed_hash() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::support::spawn_app().await;
    seed(&app, 1, true).await;
    let id = open(&app, 1, "web").await;
    let code = app.send_code(&id, "line").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = lineout_web::AppState::new(app.engine.clone());
    let server = tokio::spawn(lineout_web::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let body = json!({"method": "one_time_code", "code": other(&code)}).to_string();
    let request = format!(
        "POST /api/v1/cases/{id}/verification HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         X-Forwarded-For: 192.0.2.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        app.token,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    // No proxy header is configured here: the forwarded address is ignored, the peer counts.
    let events = timeline(&app, &id).await;
    let failed = events.iter().find(|e| e["type"] == "verification_failed").unwrap();
    let peer = app.engine.client_key(&ClientAddress("127.0.0.1".into()));
    assert_eq!(failed["data"]["client"], peer.as_str());
}
