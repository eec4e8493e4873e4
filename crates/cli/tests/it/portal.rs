//! The customer portal through HTTP (in-process, manual clock): sign-in with a code
//! texted to the line, the four screens to a submitted and confirmed cancellation,
//! withdrawal, "this wasn't me", CSRF, the authenticity check, languages.
//! (The same journeys in a real browser are in `browser.rs`.)

use crate::console::{Page, Visitor, spawn_reviewed_app};
use crate::support::TestApp;
use axum::http::StatusCode;
use serde_json::json;
use time::Duration;

pub const NUMBER: &str = "+1 415 555 0150";

pub async fn seed_customer(app: &TestApp) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-P", "holder_name": "Wang Fang", "email": "fang@example.com", "language": "zh-Hans",
               "prepaid_balance_cents": 1250}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-P", "account_id": "ACC-P", "msisdn": NUMBER, "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
}

/// The 6-digit code in the latest message the fake notifier sent to `to` (E.164).
pub fn latest_code(app: &TestApp, to: &str) -> String {
    find_latest_code(&app.notifier, to).unwrap_or_else(|| panic!("no code sent to {to}"))
}

/// The 6-digit code in the latest code message sent to `to`, if any.
pub fn find_latest_code(notifier: &lineout_adapters::fakes::FakeNotifier, to: &str) -> Option<String> {
    let sent = notifier.sent();
    let msg = sent.iter().rev().find(|m| {
        matches!(
            m.notice,
            lineout_domain::case::Notice::VerificationCode | lineout_domain::case::Notice::PortalSignInCode
        ) && (m.to.sms.as_ref().is_some_and(|s| s.as_str() == to)
            || m.to.email.as_ref().is_some_and(|e| e.as_str() == to))
    })?;
    let text = &msg.sms_text;
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5))
        .find(|&i| {
            bytes[i..i + 6].iter().all(u8::is_ascii_digit)
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                && bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit())
        })
        .map(|i| text[i..i + 6].to_owned())
}

pub async fn portal_sign_in(v: &mut Visitor<'_>, app: &TestApp) -> Page {
    let start = v.get("/portal").await;
    let pre = start.hidden("pre");
    let sent = v.post("/portal/code", &[("msisdn", NUMBER), ("pre", &pre)]).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let code = latest_code(app, "+14155550150");
    v.post("/portal/sign-in", &[("msisdn", NUMBER), ("code", &code), ("pre", &pre)]).await
}

#[tokio::test]
async fn a_customer_cancels_in_four_screens_then_withdraws() {
    let app = spawn_reviewed_app().await;
    seed_customer(&app).await;
    let mut v = Visitor::new(&app);
    let signed = portal_sign_in(&mut v, &app).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);

    // Screen 1: my line, in the account's language from the browser (English here).
    let s1 = v.get("/portal").await;
    assert_eq!(s1.status, StatusCode::OK);
    assert!(s1.body.contains("••• ••• 0150") && s1.body.contains("12.50 USD"), "{}", s1.body);
    assert!(s1.body.contains("href=\"/portal/cancel\""));
    // Screen 2: before you cancel — backup, balance and refund, anti-scam, port-out, the button.
    let s2 = v.get("/portal/cancel").await;
    for needle in
        ["id=\"backup\"", "12.50 USD", "never ask for payments", "Number Transfer PIN", "id=\"submit-cancel\""]
    {
        assert!(s2.body.contains(needle), "screen 2 lacks {needle}");
    }
    let csrf = s2.hidden("csrf");
    let forged = v.post("/portal/cancel", &[("csrf", "nope"), ("timing", "immediate"), ("destination", "line")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let submitted =
        v.post("/portal/cancel", &[("csrf", &csrf), ("timing", "immediate"), ("destination", "line")]).await;
    assert_eq!(submitted.location.as_deref(), Some("/portal/confirm"), "{}", submitted.body);
    // Screen 3: confirm with the code sent for the case.
    app.drain().await;
    let s3 = v.get("/portal/confirm").await;
    assert_eq!(s3.status, StatusCode::OK);
    let wrong = v.post("/portal/confirm", &[("csrf", &csrf), ("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("code_invalid"));
    let code = latest_code(&app, "+14155550150");
    let confirmed = v.post("/portal/confirm", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(confirmed.location.as_deref(), Some("/portal/case"), "{}", confirmed.body);
    // Screen 4: the case.
    let s4 = v.get("/portal/case").await;
    assert!(s4.body.contains("in review"), "{}", s4.body);
    let reference = s4.body.split("id=\"reference\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let (_, case) = app.get(&format!("/api/v1/cases/{reference}")).await;
    assert_eq!(case["channel"], "web");
    assert_eq!(case["verification_method"], "one_time_code", "{case}");

    let withdrawn = v.post("/portal/case/withdraw", &[("csrf", &csrf)]).await;
    assert_eq!(withdrawn.location.as_deref(), Some("/portal/case"));
    let after = v.get("/portal/case").await;
    assert!(after.body.contains("Your request is withdrawn"), "{}", after.body);
    let (_, case) = app.get(&format!("/api/v1/cases/{reference}")).await;
    assert_eq!(case["status"], "withdrawn");
    let w = case["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "withdrawn").unwrap().clone();
    assert_eq!(w["actor"]["kind"], "customer");
}

#[tokio::test]
async fn sign_in_codes_are_single_use_expire_and_lock_after_wrong_guesses() {
    let app = spawn_reviewed_app().await;
    seed_customer(&app).await;
    let mut v = Visitor::new(&app);
    let pre = v.get("/portal").await.hidden("pre");
    // An unknown number gets the same page: numbers cannot be probed.
    let unknown = v.post("/portal/code", &[("msisdn", "+1 415 555 0199"), ("pre", &pre)]).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(app.notifier.sent().is_empty());

    v.post("/portal/code", &[("msisdn", NUMBER), ("pre", &pre)]).await;
    let code = latest_code(&app, "+14155550150");
    app.clock.advance(Duration::minutes(11));
    let expired = v.post("/portal/sign-in", &[("msisdn", NUMBER), ("code", &code), ("pre", &pre)]).await;
    assert_eq!(expired.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(expired.body.contains("code_invalid"));

    v.post("/portal/code", &[("msisdn", NUMBER), ("pre", &pre)]).await;
    let code = latest_code(&app, "+14155550150");
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for _ in 0..4 {
        let page = v.post("/portal/sign-in", &[("msisdn", NUMBER), ("code", wrong), ("pre", &pre)]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let locked = v.post("/portal/sign-in", &[("msisdn", NUMBER), ("code", wrong), ("pre", &pre)]).await;
    assert_eq!(locked.status, StatusCode::LOCKED);
    // Locked: even the right code no longer works; a new code must be asked for.
    let after = v.post("/portal/sign-in", &[("msisdn", NUMBER), ("code", &code), ("pre", &pre)]).await;
    assert_eq!(after.status, StatusCode::LOCKED);

    v.post("/portal/code", &[("msisdn", NUMBER), ("pre", &pre)]).await;
    let code = latest_code(&app, "+14155550150");
    let ok = v.post("/portal/sign-in", &[("msisdn", NUMBER), ("code", &code), ("pre", &pre)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    // Used once: the same code does not open a second session.
    let mut other = Visitor::new(&app);
    let pre2 = other.get("/portal").await.hidden("pre");
    let reused = other.post("/portal/sign-in", &[("msisdn", NUMBER), ("code", &code), ("pre", &pre2)]).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Sends are limited per line (3 per 15 minutes by default; 3 were sent above, the
    // window began 11 minutes before the last two).
    let mut third = Visitor::new(&app);
    let pre3 = third.get("/portal").await.hidden("pre");
    let limited = third.post("/portal/code", &[("msisdn", NUMBER), ("pre", &pre3)]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{}", limited.body);
}

#[tokio::test]
async fn portal_pages_need_a_session_and_it_expires() {
    let app = spawn_reviewed_app().await;
    seed_customer(&app).await;
    let mut v = Visitor::new(&app);
    for path in ["/portal/cancel", "/portal/case", "/portal/confirm"] {
        assert_eq!(v.get(path).await.location.as_deref(), Some("/portal"), "{path}");
    }
    portal_sign_in(&mut v, &app).await;
    assert_eq!(v.get("/portal/cancel").await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(31));
    assert_eq!(v.get("/portal/cancel").await.location.as_deref(), Some("/portal"));
}

#[tokio::test]
async fn this_wasnt_me_freezes_the_case() {
    let app = spawn_reviewed_app().await;
    seed_customer(&app).await;
    let mut v = Visitor::new(&app);
    portal_sign_in(&mut v, &app).await;
    let csrf = v.get("/portal/cancel").await.hidden("csrf");
    v.post("/portal/cancel", &[("csrf", &csrf), ("timing", "immediate"), ("destination", "email")]).await;
    app.drain().await;
    // The code went to the email address this time.
    latest_code(&app, "fang@example.com");
    let frozen = v.post("/portal/case/not-me", &[("csrf", &csrf)]).await;
    assert_eq!(frozen.location.as_deref(), Some("/portal/case"), "{}", frozen.body);
    let page = v.get("/portal/case").await;
    let reference = page.body.split("id=\"reference\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let (_, case) = app.get(&format!("/api/v1/cases/{reference}")).await;
    assert!(case["timeline"].as_array().unwrap().iter().any(|e| e["type"] == "frozen"), "{case}");
}

#[tokio::test]
async fn the_authenticity_check_needs_no_sign_in() {
    let app = spawn_reviewed_app().await;
    seed_customer(&app).await;
    let mut v = Visitor::new(&app);
    portal_sign_in(&mut v, &app).await;
    let sent = app.notifier.sent();
    let code = sent.last().unwrap().auth_code.clone();
    let mut stranger = Visitor::new(&app);
    let ours = stranger.get(&format!("/portal/authenticity?code={code}")).await;
    assert_eq!(ours.status, StatusCode::OK);
    assert!(ours.body.contains("This code is ours"), "{}", ours.body);
    let fake = stranger.get("/portal/authenticity?code=ZZZZZZZZZZ").await;
    assert_eq!(fake.status, StatusCode::NOT_FOUND);
    assert!(fake.body.contains("not one of ours"));
}

#[tokio::test]
async fn the_portal_speaks_chinese() {
    let app = spawn_reviewed_app().await;
    seed_customer(&app).await;
    let mut v = Visitor::new(&app);
    let switched = v.get("/portal/lang?to=zh-Hans&next=/portal").await;
    assert_eq!(switched.location.as_deref(), Some("/portal"));
    portal_sign_in(&mut v, &app).await;
    let s2 = v.get("/portal/cancel").await;
    assert!(s2.body.contains("注销前请确认") && s2.body.contains("提交注销申请"), "{}", s2.body);
    assert!(s2.body.contains("lang=\"zh-Hans\""));
}

#[tokio::test]
async fn the_portal_offers_the_data_export_and_the_refund_choice() {
    use lineout_domain::policy::RefundMethod;
    let mut config = lineout_app::EngineConfig::default();
    config.policy.auto_approve.enabled = false;
    config.policy.refund.methods =
        vec![RefundMethod::OriginalPayment, RefundMethod::Check, RefundMethod::AccountCredit];
    let app = crate::support::spawn_app_with(config).await;
    seed_customer(&app).await;
    let mut v = Visitor::new(&app);
    portal_sign_in(&mut v, &app).await;
    let s2 = v.get("/portal/cancel").await;
    for option in ["value=\"original_payment\"", "value=\"check\"", "value=\"account_credit\"", "id=\"download-data\""]
    {
        assert!(s2.body.contains(option), "screen 2 lacks {option}");
    }
    let csrf = s2.hidden("csrf");

    // Download my data: a single-use link, not ready until the worker made the file.
    let requested = v.post("/portal/export", &[("csrf", &csrf)]).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let link = requested.body.split("href=\"/portal/export/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let path = format!("/portal/export/{link}");
    let early = v.get(&path).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert!(early.body.contains("not ready"));
    app.engine.run_exports().await.unwrap();
    let file = v.get(&path).await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(file.body.starts_with("PK"), "a zip file");
    let again = v.get(&path).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("export_token_used"));
    // Another customer's session cannot use someone's link either (it is single-use and theirs).
    let (_, exports) = app.get("/api/v1/accounts/ACC-P/exports").await;
    assert_eq!(exports["items"].as_array().map(Vec::len), Some(1), "{exports}");

    // A refund method the policy does not offer is refused; an offered one is recorded.
    let bad = v
        .post(
            "/portal/cancel",
            &[("csrf", &csrf), ("timing", "immediate"), ("destination", "line"), ("refund_method", "cash")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let ok = v
        .post(
            "/portal/cancel",
            &[("csrf", &csrf), ("timing", "immediate"), ("destination", "line"), ("refund_method", "check")],
        )
        .await;
    assert_eq!(ok.location.as_deref(), Some("/portal/confirm"), "{}", ok.body);
    let page = v.get("/portal/case").await;
    let reference = page.body.split("id=\"reference\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let (_, case) = app.get(&format!("/api/v1/cases/{reference}")).await;
    assert_eq!(case["refund_method"], "check", "{case}");
}
