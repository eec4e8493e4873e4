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
    app.verify(&id).await;
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

/// Reassembles the SMS texts the SMPP server received: (text, encoding, parts), by message.
fn reassemble(submits: &[lineout_adapters::smpp::testing::RecordedSubmit]) -> Vec<(String, u8, usize)> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(String, u16), Vec<&lineout_adapters::smpp::testing::RecordedSubmit>> = BTreeMap::new();
    let mut singles = Vec::new();
    for s in submits {
        match &s.concat {
            Some(c) => groups.entry((s.destination_addr.clone(), c.reference)).or_default().push(s),
            None => singles.push(vec![s]),
        }
    }
    let decode = |parts: &[&lineout_adapters::smpp::testing::RecordedSubmit]| {
        let coding = parts[0].data_coding;
        let mut text = String::new();
        for p in parts {
            if coding == 0x08 {
                let units: Vec<u16> = p.payload.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                text.push_str(&String::from_utf16_lossy(&units));
            } else {
                text.push_str(&lineout_adapters::smpp::sms::decode_gsm7(&p.payload));
            }
        }
        (text, coding, parts.len())
    };
    let mut out: Vec<_> = singles.iter().map(|p| decode(p)).collect();
    for (_, mut parts) in groups {
        parts.sort_by_key(|p| p.concat.as_ref().map(|c| c.seq));
        out.push(decode(&parts));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_case_leaves_its_sms_at_the_smpp_server_with_the_right_encoding_and_parts() {
    use lineout_adapters::smpp::testing::{SmppServer, SmppServerOptions};
    use lineout_adapters::smpp::{SmppSms, sms};
    let Some(server) = tokio::task::spawn_blocking(|| SmppServer::start(SmppServerOptions::default())).await.unwrap()
    else {
        return;
    };
    let transport = SmppSms::start(server.config());
    let mut receipts = transport.receipts().unwrap();
    let sms_transport: Arc<dyn lineout_app::ports::SmsTransport> = Arc::new(transport);
    let notifier = Arc::new(MessagingNotifier::new(None, Some(sms_transport)));
    let app = spawn_app_custom(EngineConfig::default(), Real { notifier: Some(notifier), ..Real::default() }).await;
    // A Chinese-speaking customer without email: notices go by SMS to the line.
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-S", "holder_name": "黄敏", "language": "zh-Hans"}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-S", "account_id": "ACC-S", "msisdn": "+1 415 555 0199", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-S", "channel": "ivr", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    app.clock.advance(Duration::hours(24));
    app.drain().await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed", "{case}");
    let submits = server.accepted();
    let messages = reassemble(&submits);
    assert_eq!(messages.len(), 4, "request received, the one-time code, approved, terminated: {messages:?}");
    for (text, coding, parts) in &messages {
        assert_eq!(*coding, 0x08, "Chinese goes as UCS-2");
        assert!(text.contains(lineout_app::notices::SCAM_ZH), "{text}");
        let plan = sms::plan(text);
        assert_eq!(plan.segments as usize, *parts, "segment count for {text}");
        assert!(*parts <= 3, "kept short: {text}");
    }
    assert!(submits.iter().all(|s| s.destination_addr == "14155550199"));
    // Delivery receipts come back and are recorded on the case.
    let mut recorded = 0;
    while recorded < submits.len() {
        let receipt = tokio::time::timeout(std::time::Duration::from_secs(10), receipts.recv()).await.unwrap().unwrap();
        if app.engine.record_delivery_receipt(receipt).await.unwrap() {
            recorded += 1;
        }
    }
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    let receipts = case["timeline"].as_array().unwrap().iter().filter(|e| e["type"] == "notice_receipt").count();
    assert_eq!(receipts, submits.len());
}

#[test]
fn the_dead_letter_commands_list_and_requeue() {
    use lineout_adapters::fakes::{FakeNetwork, FakeNotifier, FakePayments};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dl.db").display());
    let mut config = lineout::config::Config::default();
    config.database.url = url.clone();
    let store = lineout::db::open_store(&config.database).unwrap();
    store.migrate().unwrap();
    let notifier = Arc::new(FakeNotifier::default());
    notifier.recorder.fail_next(1, false);
    let adapters = lineout_app::Adapters {
        network: Arc::new(FakeNetwork::default()),
        notifier,
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
    let dead_id = lineout::block_on_engine(engine, async |e| {
        use lineout_domain::account::{Account, AccountKind, Line, LineStatus, Locks, Plan};
        use lineout_domain::values::{AccountId, Language, LineId, Money, Msisdn};
        let account = Account {
            id: AccountId::parse("A1").unwrap(),
            holder_name: "Dee".into(),
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
        e.upsert_accounts(vec![account]).await.unwrap();
        let line = Line {
            id: LineId::parse("L1").unwrap(),
            account_id: AccountId::parse("A1").unwrap(),
            msisdn: Msisdn::parse("4155550123").unwrap(),
            iccid: None,
            imsi: None,
            eid: None,
            plan: Plan::Prepaid,
            status: LineStatus::Active,
        };
        e.upsert_lines(vec![line]).await.unwrap();
        let req = lineout_app::OpenRequest {
            callback: false,
            kind: lineout_domain::case::CaseKind::Cancellation,
            line: lineout_app::LineRef::Id(LineId::parse("L1").unwrap()),
            channel: lineout_domain::Channel::Web,
            timing: lineout_domain::Timing::Immediate,
            note: None,
        };
        e.open_case(req, lineout_domain::case::Actor::Customer).await.unwrap();
        e.run_outbox().await.unwrap();
        let dead = e.list_outbox(lineout_app::ports::OutboxStatus::Dead, None, 10).await.unwrap();
        Ok(dead[0].id.clone())
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
    let listed = run(&["outbox", "list", "--dead"]);
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&dead_id), "{}", String::from_utf8_lossy(&listed.stdout));
    let retried = run(&["outbox", "retry", &dead_id]);
    assert!(retried.status.success(), "{}", String::from_utf8_lossy(&retried.stderr));
    let again = run(&["outbox", "retry", &dead_id]);
    assert_eq!(again.status.code(), Some(1), "a row that is not dead cannot be retried");
    let pending = run(&["outbox", "list", "--pending"]);
    assert!(String::from_utf8_lossy(&pending.stdout).contains(&dead_id));
}
