//! Tests of the SMTP adapter: configuration checks, Message-IDs and redaction, and
//! deliveries to a real SMTP server (aiosmtpd, through the harness): English and
//! Chinese messages, redelivery, an outage, 550 / 451 replies, a bad address, a
//! server that never answers, STARTTLS and implicit TLS with AUTH.

use super::testing::{FROM, HarnessTls, REJECT_DOMAIN, ServerOptions, SmtpServer, TEMPFAIL_DOMAIN};
use super::*;
use lineout_app::clock::ManualClock;
use lineout_domain::values::{Email, Language};
use time::macros::datetime;

fn email(to: &str, language: Language, subject: &str, text: &str) -> OutgoingEmail {
    OutgoingEmail { to: Email::parse(to).unwrap(), subject: subject.to_owned(), text: text.to_owned(), language }
}

fn english(to: &str) -> OutgoingEmail {
    email(
        to,
        Language::En,
        "Your line cancellation is confirmed",
        "Hello,\n\nYour line will be cancelled on 2025-07-01.\nCase: C01JD3K5M2X7Q4T9A\n",
    )
}

const ZH_SUBJECT: &str = "您的线路注销已确认（案件 C01JD3K5M2X7Q4T9A）";
const ZH_TEXT: &str = "您好：\n\n您的线路将于2025年7月1日注销。如有疑问，请回复此邮件或致电客服。\n谢谢！\n";

// --- configuration ----------------------------------------------------------

#[test]
fn plain_smtp_to_a_remote_host_is_refused_at_config_time() {
    let plain = |host: &str| SmtpConfig {
        security: SmtpSecurity::Plain,
        port: 25,
        ..SmtpConfig::new(host, "Operator <no-reply@example.com>")
    };
    for host in ["smtp.example.com", "10.0.0.5", "192.0.2.7"] {
        let err = SmtpEmail::new(plain(host)).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid("security", _)), "{host}: {err}");
    }
    for host in ["localhost", "127.0.0.1", "127.1.2.3", "::1", "relay.localhost"] {
        SmtpEmail::new(plain(host)).unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    // The operator can insist ...
    SmtpEmail::new(SmtpConfig { allow_plain: true, ..plain("smtp.example.com") }).unwrap();
    // ... but never with credentials.
    let with_password = SmtpConfig {
        allow_plain: true,
        username: Some("lineout".into()),
        password: Some("s3cret".into()),
        ..plain("smtp.example.com")
    };
    assert!(matches!(SmtpEmail::new(with_password).unwrap_err(), ConfigError::Invalid("security", _)));
}

#[test]
fn other_settings_are_checked() {
    let ok = SmtpConfig::new("smtp.example.com", "Operator <no-reply@example.com>");
    SmtpEmail::new(ok.clone()).unwrap();
    SmtpEmail::new(SmtpConfig { from: "no-reply@example.com".into(), ..ok.clone() }).unwrap();
    let bad = [
        (SmtpConfig { from: "not a mailbox".into(), ..ok.clone() }, "from"),
        (SmtpConfig { host: "".into(), ..ok.clone() }, "host"),
        (SmtpConfig { host: "smtp.example.com:25".into(), ..ok.clone() }, "host"),
        (SmtpConfig { host: "[::1]".into(), ..ok.clone() }, "host"),
        (SmtpConfig { port: 0, ..ok.clone() }, "port"),
        (SmtpConfig { password: Some("x".into()), ..ok.clone() }, "username"),
        (SmtpConfig { username: Some("x".into()), ..ok.clone() }, "username"),
        (SmtpConfig { connect_timeout: Duration::ZERO, ..ok.clone() }, "connect_timeout"),
        (SmtpConfig { send_timeout: Duration::from_secs(1), ..ok.clone() }, "send_timeout"),
        (SmtpConfig { max_connections: 0, ..ok.clone() }, "max_connections"),
        (SmtpConfig { hello_name: Some("a b".into()), ..ok.clone() }, "hello_name"),
        (SmtpConfig { root_ca_pem: Some(b"nope".to_vec()), ..ok.clone() }, "root_ca_pem"),
    ];
    for (config, key) in bad {
        match SmtpEmail::new(config) {
            Err(ConfigError::Invalid(k, _)) => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        }
    }
    assert_eq!(SmtpSecurity::parse("starttls"), Some(SmtpSecurity::StartTls));
    assert_eq!(SmtpSecurity::Tls.default_port(), 465);
}

#[test]
fn debug_hides_credentials() {
    let config = SmtpConfig {
        username: Some("mailer-user".into()),
        password: Some("hunter2-password".into()),
        ..SmtpConfig::new("smtp.example.com", "Operator <no-reply@example.com>")
    };
    let adapter = SmtpEmail::new(config.clone()).unwrap();
    for text in [format!("{config:?}"), format!("{adapter:?}")] {
        assert!(!text.contains("mailer-user") && !text.contains("hunter2"), "{text}");
        assert!(text.contains("smtp.example.com"), "{text}");
    }
}

// --- Message-ID and redaction ---------------------------------------------------

#[test]
fn message_ids_come_from_the_key() {
    assert_eq!(message_id("C01JD3K5M2X7Q4T9A.3.0", "example.com"), "<C01JD3K5M2X7Q4T9A.3.0@example.com>");
    assert_eq!(message_id("a b=c", "x.org"), "<a=20b=3Dc@x.org>");
    assert_eq!(message_id(".a..b.", "x.org"), "<=2Ea.=2Eb=2E@x.org>");
    assert_eq!(message_id("", "x.org"), "<=@x.org>");
    assert_eq!(message_id("é<>", "x.org"), "<=C3=A9=3C=3E@x.org>");
    // One-to-one on tricky neighbours.
    let keys = ["a.b", "a=2Eb", "a..b", "a.=2Eb", "a b", "a_b", "a-b", "=", "", "a=3Db", "a=b"];
    let ids: std::collections::BTreeSet<String> = keys.iter().map(|k| message_id(k, "d")).collect();
    assert_eq!(ids.len(), keys.len());
    // Long keys are cut and hashed, still distinct and bounded.
    let long_a = "k".repeat(300);
    let long_b = format!("{}x", "k".repeat(299));
    let (a, b) = (message_id(&long_a, "d"), message_id(&long_b, "d"));
    assert_ne!(a, b);
    assert!(a.len() < 140, "{a}");
    assert!(a.contains('+'));
    // Every id is a valid msg-id: "<" dot-atom-text "@" domain ">".
    for id in ids.iter().chain([&a, &b]) {
        let inner = id.strip_prefix('<').and_then(|s| s.strip_suffix("@d>")).unwrap();
        assert!(!inner.starts_with('.') && !inner.ends_with('.') && !inner.contains(".."), "{id}");
        assert!(inner.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.=+".contains(&b)), "{id}");
    }
}

#[test]
fn redaction_masks_addresses() {
    let text = "permanent error (550): 5.1.1 <jane.doe@example.com>: Recipient\r\n address rejected";
    assert_eq!(redact(text), "permanent error (550): 5.1.1 <address> Recipient address rejected");
    assert!(redact(&"x".repeat(500)).chars().count() <= 201);
}

// --- against a real SMTP server ---------------------------------------------------

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(datetime!(2025-06-30 14:05:09 UTC)))
}

fn adapter(server: &SmtpServer) -> SmtpEmail {
    SmtpEmail::new(server.config()).unwrap().with_clock(clock())
}

#[tokio::test]
async fn english_and_chinese_messages_arrive_intact() {
    let Some(server) = SmtpServer::start() else { return };
    let smtp = adapter(&server);

    let en = english("customer@example.com");
    let id_en = smtp.send_email("C01JD3K5M2X7Q4T9A.1.0", &en).await.unwrap();
    let zh = email("客户@example.com", Language::ZhHans, ZH_SUBJECT, ZH_TEXT);
    let zh = OutgoingEmail { to: Email::parse("zh.customer@example.com").unwrap(), ..zh };
    let id_zh = smtp.send_email("C01JD3K5M2X7Q4T9A.2.0", &zh).await.unwrap();
    assert_eq!(id_en, "<C01JD3K5M2X7Q4T9A.1.0@lineout.test>");
    assert_eq!(id_zh, "<C01JD3K5M2X7Q4T9A.2.0@lineout.test>");

    let mail = server.messages();
    assert_eq!(mail.len(), 2, "{mail:#?}");
    let (m_en, m_zh) = (&mail[0], &mail[1]);
    for (m, sent, id, lang, to) in
        [(m_en, &en, &id_en, "en", "customer@example.com"), (m_zh, &zh, &id_zh, "zh-Hans", "zh.customer@example.com")]
    {
        assert!(m.defects.is_empty(), "{:?}", m.defects);
        assert_eq!(m.mail_from, "no-reply@lineout.test");
        assert_eq!(m.rcpt_to, vec![to.to_owned()]);
        assert_eq!(m.subject.as_deref(), Some(sent.subject.as_str()));
        // Line ends survive; a final line break is the transport's (base64 may carry none).
        assert_eq!(m.body.trim_end_matches('\n'), sent.text.trim_end_matches('\n'));
        assert!(!m.body.ends_with("\n\n"), "{:?}", m.body);
        assert_eq!(m.message_id.as_deref(), Some(id.as_str()));
        assert_eq!(m.content_language.as_deref(), Some(lang));
        assert_eq!(m.header("Auto-Submitted"), Some("auto-generated"));
        assert_eq!(m.header("From"), Some(FROM));
        assert_eq!(m.header("To"), Some(to));
        assert_eq!(m.header("Date"), Some("Mon, 30 Jun 2025 14:05:09 +0000"));
        let content_type = m.header("Content-Type").unwrap().to_ascii_lowercase().replace([' ', '"'], "");
        assert_eq!(content_type, "text/plain;charset=utf-8");
        assert_eq!(m.header("MIME-Version"), Some("1.0"));
        // Nothing relies on 8BITMIME: the wire form is plain ASCII.
        assert!(m.raw.is_ascii(), "{}", String::from_utf8_lossy(&m.raw));
        assert!(!m.tls && !m.authenticated);
    }
    // The Chinese text travelled encoded (quoted-printable or base64), subject as RFC 2047 words.
    let raw_zh = String::from_utf8_lossy(&m_zh.raw);
    let cte = m_zh.header("Content-Transfer-Encoding").unwrap().to_ascii_lowercase();
    assert!(cte == "base64" || cte == "quoted-printable", "{cte}");
    assert!(raw_zh.contains("Subject: =?utf-8?"), "{raw_zh}");
}

#[tokio::test]
async fn a_redelivered_message_keeps_its_message_id() {
    let Some(server) = SmtpServer::start() else { return };
    let smtp = adapter(&server);
    let message = english("customer@example.com");
    let first = smtp.send_email("C01JD3K5M2X7Q4T9A.5.1", &message).await.unwrap();
    let second = smtp.send_email("C01JD3K5M2X7Q4T9A.5.1", &message).await.unwrap();
    let other = smtp.send_email("C01JD3K5M2X7Q4T9A.6.1", &message).await.unwrap();
    assert_eq!(first, second);
    assert_ne!(first, other);
    assert_eq!(first, smtp.message_id_for("C01JD3K5M2X7Q4T9A.5.1"));
    let ids: Vec<_> = server.messages().into_iter().map(|m| m.message_id.unwrap()).collect();
    assert_eq!(ids, vec![first.clone(), first, other]);
}

#[tokio::test]
async fn an_outage_is_retryable_and_nothing_is_lost_after_restart() {
    let Some(mut server) = SmtpServer::start() else { return };
    let smtp = adapter(&server);
    smtp.send_email("C01JD3K5M2X7Q4T9A.1.0", &english("a@example.com")).await.unwrap();

    server.stop();
    let pending = ["C01JD3K5M2X7Q4T9A.2.0", "C01JD3K5M2X7Q4T9A.3.0"];
    for key in pending {
        let err = smtp.send_email(key, &english("b@example.com")).await.unwrap_err();
        assert!(err.retryable, "{err:?}");
        assert!(!err.message.contains("b@example.com"), "{err:?}");
    }
    assert_eq!(server.messages().len(), 1);

    // The outbox tries again once the server is back: every pending email arrives.
    server.restart();
    for key in pending {
        smtp.send_email(key, &english("b@example.com")).await.unwrap();
    }
    let ids: Vec<_> = server.messages().into_iter().map(|m| m.message_id.unwrap()).collect();
    assert_eq!(
        ids,
        ["1.0", "2.0", "3.0"].map(|s| format!("<C01JD3K5M2X7Q4T9A.{s}@lineout.test>")).to_vec(),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn a_550_is_permanent_and_a_451_retryable() {
    let Some(server) = SmtpServer::start() else { return };
    let smtp = adapter(&server);

    let rejected = format!("jane.doe@{REJECT_DOMAIN}");
    let err = smtp.send_email("k.1", &english(&rejected)).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("550"), "{err:?}");
    assert!(!err.message.contains("jane.doe"), "the address leaked: {err:?}");

    let later = format!("john.roe@{TEMPFAIL_DOMAIN}");
    let err = smtp.send_email("k.2", &english(&later)).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("451"), "{err:?}");
    assert!(!err.message.contains("john.roe"), "the address leaked: {err:?}");

    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn an_address_lettre_cannot_parse_is_permanent() {
    let Some(server) = SmtpServer::start() else { return };
    let smtp = adapter(&server);
    for bad in ["bad<>@example.com", "a\"b@example.com", "a(b)@example.com", "x@exa..mple.com"] {
        assert!(!is_sendable(bad), "{bad}");
        let err = smtp.send_email("k.1", &english(bad)).await.unwrap_err();
        assert!(!err.retryable, "{bad}: {err:?}");
        assert!(!err.message.contains(bad), "{err:?}");
    }
    assert!(is_sendable("customer@example.com"));
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_retryably() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept and hold connections without a greeting.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let config = SmtpConfig {
        security: SmtpSecurity::Plain,
        port: addr.port(),
        connect_timeout: Duration::from_millis(300),
        send_timeout: Duration::from_millis(800),
        ..SmtpConfig::new("127.0.0.1", FROM)
    };
    let smtp = SmtpEmail::new(config).unwrap();
    let started = std::time::Instant::now();
    let err = smtp.send_email("k.1", &english("a@example.com")).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("no answer"), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    holder.abort();
}

#[tokio::test]
async fn starttls_with_auth_delivers_and_bad_credentials_are_retryable() {
    let options =
        ServerOptions { tls: HarnessTls::StartTls, credentials: Some(("lineout".into(), "correct horse".into())) };
    let Some(server) = SmtpServer::start_with(options) else { return };
    let smtp = adapter(&server);
    let zh = email("zh@example.com", Language::ZhHans, ZH_SUBJECT, ZH_TEXT);
    smtp.send_email("C01JD3K5M2X7Q4T9A.1.0", &zh).await.unwrap();
    let mail = server.messages();
    assert_eq!(mail.len(), 1, "{}", server.log());
    assert!(mail[0].tls && mail[0].authenticated);
    assert_eq!(mail[0].subject.as_deref(), Some(ZH_SUBJECT));
    assert_eq!(mail[0].body.trim_end_matches('\n'), ZH_TEXT.trim_end_matches('\n'));

    // A wrong password is the configuration's fault, not the message's: retry later.
    let wrong = SmtpConfig { password: Some("wrong".into()), ..server.config() };
    let err = SmtpEmail::new(wrong).unwrap().send_email("k.2", &zh).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("535"), "{err:?}");

    // Without the test CA the certificate is not trusted.
    let untrusted = SmtpConfig { root_ca_pem: None, ..server.config() };
    let err = SmtpEmail::new(untrusted).unwrap().send_email("k.3", &zh).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let Some(server) = SmtpServer::start_with(ServerOptions { tls: HarnessTls::Implicit, credentials: None }) else {
        return;
    };
    let smtp = adapter(&server);
    smtp.send_email("k.1", &english("customer@example.com")).await.unwrap();
    let mail = server.messages();
    assert_eq!(mail.len(), 1, "{}", server.log());
    assert!(mail[0].tls);
}

#[tokio::test]
async fn starttls_is_required_not_opportunistic() {
    // A server that does not offer STARTTLS: nothing is sent in the clear.
    let Some(server) = SmtpServer::start() else { return };
    let config = SmtpConfig { security: SmtpSecurity::StartTls, ..server.config() };
    let err = SmtpEmail::new(config).unwrap().send_email("k.1", &english("a@example.com")).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(server.messages().is_empty());
}
