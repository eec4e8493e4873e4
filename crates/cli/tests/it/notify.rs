//! Notifications through the real peers: an SMTP server (aiosmtpd) and, when present,
//! an SMPP server. Skipped with a note when a peer is missing, unless CI requires it.

use crate::support::{Real, spawn_app_custom};
use axum::http::StatusCode;
use lineout_adapters::messaging::MessagingNotifier;
use lineout_adapters::smtp::testing::SmtpServer;
use lineout_app::EngineConfig;
use lineout_app::ports::EmailTransport;
use serde_json::json;
use std::sync::Arc;
use time::Duration;

async fn seed(app: &crate::support::TestApp, email: &str, language: &str) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-N", "holder_name": "陈静", "email": email, "language": language, "prepaid_balance_cents": 1200}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-N", "account_id": "ACC-N", "msisdn": "+1 415 555 0188", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
}

async fn open_and_verify(app: &crate::support::TestApp) -> String {
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-N", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.command(&id, json!({"type": "verify_identity", "method": "one_time_code"})).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_case_leaves_its_notices_at_the_smtp_server_in_chinese() {
    let Some(smtp) = tokio::task::spawn_blocking(SmtpServer::start).await.unwrap() else { return };
    let email: Arc<dyn EmailTransport> = Arc::new(smtp.transport());
    let notifier = Arc::new(MessagingNotifier::new(Some(email), None));
    let app = spawn_app_custom(EngineConfig::default(), Real { notifier: Some(notifier), ..Real::default() }).await;
    seed(&app, "jing@example.com", "zh-Hans").await;
    let id = open_and_verify(&app).await;
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    let mails = tokio::task::spawn_blocking(move || {
        let m = smtp.messages();
        drop(smtp);
        m
    })
    .await
    .unwrap();
    // Messages of one worker batch go out concurrently: compare as a set.
    let mut subjects: Vec<String> = mails.iter().map(|m| m.subject.clone().unwrap_or_default()).collect();
    subjects.sort();
    let mut expected = ["我们已收到您的销号申请", "您的销号申请已批准", "您的线路已注销", "您的退款已发放"];
    expected.sort();
    assert_eq!(subjects, expected, "{subjects:?}");
    for mail in &mails {
        assert_eq!(mail.rcpt_to, ["jing@example.com"]);
        assert_eq!(mail.content_language.as_deref(), Some("zh-Hans"));
        assert!(mail.body.contains(lineout_app::notices::SCAM_ZH), "{}", mail.body);
        assert!(mail.defects.is_empty(), "{:?}", mail.defects);
        // The authenticity code in the mail is one of ours, for this case.
        let code: String = mail.body.split("真实性验证码：").nth(1).unwrap().chars().take(10).collect();
        let (_, check) = app.get(&format!("/api/v1/authenticity/{code}")).await;
        assert_eq!((check["ours"].as_bool(), check["case_id"].as_str()), (Some(true), Some(id.as_str())));
    }
    // The refund notice names the amount.
    let refund = mails.iter().find(|m| m.subject.as_deref() == Some("您的退款已发放")).unwrap();
    assert!(refund.body.contains("12.00 USD"), "{}", refund.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_delays_mail_but_loses_none_and_sends_none_twice() {
    let Some(mut smtp) = tokio::task::spawn_blocking(SmtpServer::start).await.unwrap() else { return };
    let email: Arc<dyn EmailTransport> = Arc::new(smtp.transport());
    let notifier = Arc::new(MessagingNotifier::new(Some(email), None));
    let app = spawn_app_custom(EngineConfig::default(), Real { notifier: Some(notifier), ..Real::default() }).await;
    seed(&app, "jing@example.com", "en").await;
    smtp = tokio::task::spawn_blocking(move || {
        smtp.stop();
        smtp
    })
    .await
    .unwrap();
    let id = open_and_verify(&app).await;
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert!(case["timeline"].as_array().unwrap().iter().any(|e| e["type"] == "effect_failed"), "{case}");
    smtp = tokio::task::spawn_blocking(move || {
        smtp.restart();
        smtp
    })
    .await
    .unwrap();
    // Backoff: the next attempts come due as the clock moves on.
    for _ in 0..6 {
        app.clock.advance(Duration::seconds(30));
        app.drain().await;
    }
    let mails = tokio::task::spawn_blocking(move || smtp.messages()).await.unwrap();
    let mut subjects: Vec<String> = mails.iter().map(|m| m.subject.clone().unwrap_or_default()).collect();
    subjects.sort();
    assert_eq!(subjects, ["We received your cancellation request", "Your cancellation was approved"], "{subjects:?}");
    let ids: std::collections::HashSet<_> = mails.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), mails.len(), "no message twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_address_is_a_permanent_failure_and_the_dead_letter_can_be_retried() {
    let Some(smtp) = tokio::task::spawn_blocking(SmtpServer::start).await.unwrap() else { return };
    let email: Arc<dyn EmailTransport> = Arc::new(smtp.transport());
    let notifier = Arc::new(MessagingNotifier::new(Some(email), None));
    let app = spawn_app_custom(EngineConfig::default(), Real { notifier: Some(notifier), ..Real::default() }).await;
    seed(&app, "nobody@reject.invalid", "en").await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-N", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.drain().await;
    let dead = app.engine.list_outbox(lineout_app::ports::OutboxStatus::Dead, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "not retried: a 550 is permanent");
    assert_eq!(dead[0].attempts, 1);
    // Staff fix the address and put the dead letter back (lineout outbox retry ID).
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-N", "holder_name": "陈静", "email": "jing@example.com", "language": "en", "prepaid_balance_cents": 1200}),
        StatusCode::OK,
    )
    .await;
    assert!(app.engine.retry_dead_letter(dead[0].id.clone()).await.unwrap());
    assert!(!app.engine.retry_dead_letter(dead[0].id.clone()).await.unwrap(), "only dead rows");
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    let types: Vec<&str> = case["timeline"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"effect_dead_lettered") && types.contains(&"notice_delivered"), "{types:?}");
    let mails = tokio::task::spawn_blocking(move || smtp.messages()).await.unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_to, ["jing@example.com"]);
}
