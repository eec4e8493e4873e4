//! [`HttpPayments`] against [`FakePaymentService`]: what goes on the wire, that a key
//! is paid once however often it is delivered, and how each answer is judged.

use super::fake::{FakePaymentService, Reply};
use super::*;
use lineout_app::clock::ManualClock;
use lineout_domain::effects::Payout;
use lineout_domain::values::Currency;
use time::macros::datetime;

const KEY: &str = "C01JD3K5M2X7Q4T9A.7.1";
const NOW: time::OffsetDateTime = datetime!(2025-03-01 09:30:00 UTC);
const SECRET: &str = "pay_test_secret_0123456789abcdefghijklmnop";

fn account() -> AccountId {
    AccountId::parse("A-1001").unwrap()
}

/// The fake and a client sharing one manual clock.
async fn setup() -> (HttpPayments, FakePaymentService, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    let fake = FakePaymentService::start_with(SECRET, clock.clone()).await.unwrap();
    let payments = HttpPayments::new(fake.config(), clock.clone()).unwrap();
    (payments, fake, clock)
}

fn with_timeout(fake: &FakePaymentService, clock: Arc<ManualClock>, timeout: Duration) -> HttpPayments {
    HttpPayments::new(PaymentsConfig { timeout, ..fake.config() }, clock).unwrap()
}

#[tokio::test]
async fn a_refund_is_paid_once_and_returns_its_id() {
    let (payments, fake, _) = setup().await;
    let id = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    assert_eq!(id, "rf_000001");

    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!((c.method.as_str(), c.path.as_str(), c.answer.as_str()), ("POST", "/refunds", "201"));
    assert_eq!(c.verified, Ok(()));
    assert_eq!(c.content_type.as_deref(), Some("application/json"));
    assert_eq!(c.idempotency_key.as_deref(), Some(KEY));
    assert_eq!(c.timestamp.as_deref(), Some("1740821400"));
    assert_eq!(
        c.body,
        r#"{"account_id":"A-1001","amount_cents":1850,"currency":"USD","method":"original_payment","reference":"C01JD3K5M2X7Q4T9A.7.1"}"#
    );
    // The documented example: this exact request carries this exact signature.
    assert_eq!(c.signature.as_deref(), Some("v1=3a5af726ebdf53c4c9c9018e6a05e07c9814c35e76ec1236ee0f5752b93a2213"));

    let paid = fake.payments();
    assert_eq!(paid.len(), 1);
    assert_eq!(
        paid[0],
        fake::Payment {
            refund_id: "rf_000001".into(),
            idempotency_key: KEY.into(),
            account_id: "A-1001".into(),
            amount_cents: 1850,
            currency: "USD".into(),
            method: "original_payment".into(),
            original_payment_reference: None,
        }
    );
}

#[tokio::test]
async fn the_same_key_delivered_twice_pays_once_and_returns_the_same_id() {
    let (payments, fake, clock) = setup().await;
    let first = payments.request_refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    clock.advance(time::Duration::seconds(30));
    let again = payments.request_refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    assert_eq!((first.status, first.replayed), (201, false));
    assert_eq!((again.status, again.replayed), (409, true));
    assert_eq!(first.refund_id, again.refund_id);
    assert_eq!(fake.payments().len(), 1, "the service paid once");

    // Each attempt is signed at its own time.
    let calls = fake.calls();
    assert_ne!(calls[0].timestamp, calls[1].timestamp);
    assert_ne!(calls[0].signature, calls[1].signature);

    // Another key is another refund.
    let other =
        payments.refund("C01JD3K5M2X7Q4T9A.9.0", &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    assert_ne!(other, first.refund_id);
    assert_eq!(fake.payments().len(), 2);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_key_pay_once() {
    let (payments, fake, _) = setup().await;
    let payments = Arc::new(payments);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let p = payments.clone();
            tokio::spawn(async move { p.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(fake.payments().len(), 1);
}

#[tokio::test]
async fn a_500_is_retryable_then_the_retry_succeeds() {
    let (payments, fake, _) = setup().await;
    fake.script(Reply::Status(500), 1);
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("HTTP 500"), "{e:?}");
    assert!(fake.payments().is_empty());
    let id = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    assert_eq!(fake.payments().len(), 1);
    assert_eq!(fake.payment(KEY).unwrap().refund_id, id);
}

#[tokio::test]
async fn a_422_is_permanent() {
    let (payments, fake, _) = setup().await;
    fake.script(Reply::Status(422), 1);
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(e.message.contains("HTTP 422: payment_method_closed"), "{e:?}");
    assert!(fake.payments().is_empty());

    // The same refusal from the fake's own rule, not a script.
    fake.close_payment_method("A-1001");
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(!e.retryable && e.message.contains("payment_method_closed"), "{e:?}");
    assert!(fake.payments().is_empty());
}

#[tokio::test]
async fn a_timeout_is_retryable() {
    let (_, fake, clock) = setup().await;
    let payments = with_timeout(&fake, clock, Duration::from_millis(300));
    fake.script(Reply::Hang, 1);
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("timed out"), "{e:?}");
    assert!(fake.payments().is_empty());
}

#[tokio::test]
async fn a_lost_answer_is_retried_without_paying_twice() {
    let (_, fake, clock) = setup().await;
    let payments = with_timeout(&fake, clock, Duration::from_millis(300));
    fake.script(Reply::PayThenHang, 1);
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("timed out"), "{e:?}");
    assert_eq!(fake.payments().len(), 1, "the service paid, but the answer was lost");
    let refund = payments.request_refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    assert!(refund.replayed);
    assert_eq!(refund.refund_id, fake.payments()[0].refund_id);
    assert_eq!(fake.payments().len(), 1);
}

#[tokio::test]
async fn unreadable_or_oversized_answers_are_retryable() {
    let (payments, fake, _) = setup().await;
    fake.script(Reply::PayThenMalformed, 1);
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("unreadable JSON"), "{e:?}");
    fake.script(Reply::PayThenOversized(DEFAULT_MAX_RESPONSE_BYTES + 1), 1);
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("larger than"), "{e:?}");
    let id = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    assert_eq!(fake.payments().len(), 1);
    assert_eq!(fake.payments()[0].refund_id, id);
}

#[tokio::test]
async fn statuses_decide_retry_or_give_up() {
    let (payments, fake, _) = setup().await;
    let cases: [(u16, bool); 13] = [
        (400, false),
        (401, true),
        (403, true),
        (404, false),
        (405, false),
        (408, true),
        (422, false),
        (429, true),
        (500, true),
        (502, true),
        (503, true),
        (202, true),
        (302, false),
    ];
    for (status, retryable) in cases {
        fake.script(Reply::Status(status), 1);
        let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
        assert_eq!(e.retryable, retryable, "{status}: {e:?}");
        assert!(e.message.contains(&status.to_string()) && e.message.contains(KEY), "{e:?}");
        assert!(!e.message.contains("127.0.0.1") && !e.message.contains("A-1001"), "{e:?}");
    }
    assert_eq!(fake.calls().len(), cases.len());
    assert!(fake.payments().is_empty());
}

#[tokio::test]
async fn a_bad_signature_is_refused_by_the_fake() {
    let clock = Arc::new(ManualClock::new(NOW));
    let fake = FakePaymentService::start_with(SECRET, clock.clone()).await.unwrap();

    // A client with another secret: the fake refuses (401), so we do sign with the secret.
    let wrong = PaymentsConfig { secret: SECRET.replace("pay", "bad"), ..fake.config() };
    let payments = HttpPayments::new(wrong, clock.clone()).unwrap();
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("credentials"), "401 waits for an operator fix: {e:?}");
    let call = fake.calls().remove(0);
    assert_eq!(call.verified, Err(VerifyError::Mismatch));
    assert_eq!(call.answer, "401 bad_signature");

    // A client whose clock is 10 minutes behind: refused as stale.
    let late = Arc::new(ManualClock::new(NOW - time::Duration::minutes(10)));
    let payments = HttpPayments::new(fake.config(), late).unwrap();
    assert!(payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err().retryable);
    assert_eq!(fake.calls()[1].verified, Err(VerifyError::TooOld));

    // An unsigned request, and a signed one whose body was changed in transit.
    let http = reqwest::Client::new();
    let url = format!("{}/refunds", fake.url);
    let body = request_body(KEY, &account(), Money::usd(1850), &Payout::default());
    let unsigned = http
        .post(&url)
        .header("content-type", CONTENT_TYPE)
        .header(HEADER_IDEMPOTENCY_KEY, KEY)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let signature = sign(SECRET, NOW.unix_timestamp(), body.as_bytes());
    let tampered = http
        .post(&url)
        .header("content-type", CONTENT_TYPE)
        .header(HEADER_IDEMPOTENCY_KEY, KEY)
        .header(HEADER_TIMESTAMP, NOW.unix_timestamp().to_string())
        .header(HEADER_SIGNATURE, signature.clone())
        .body(body.replace("1850", "185000"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status().as_u16(), 401);
    assert_eq!(fake.calls()[3].verified, Err(VerifyError::Mismatch));

    // The untouched request is accepted: the only difference was the signature.
    let signed = http
        .post(&url)
        .header("content-type", CONTENT_TYPE)
        .header(HEADER_IDEMPOTENCY_KEY, KEY)
        .header(HEADER_TIMESTAMP, NOW.unix_timestamp().to_string())
        .header(HEADER_SIGNATURE, signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status().as_u16(), 201);
    assert_eq!(fake.payments().len(), 1);
}

#[tokio::test]
async fn a_key_reused_for_another_refund_is_permanent() {
    let (payments, fake, _) = setup().await;
    payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    let e = payments.refund(KEY, &account(), Money::usd(999), &Payout::default()).await.unwrap_err();
    assert!(!e.retryable && e.message.contains("idempotency_key_reused"), "{e:?}");
    assert_eq!(fake.payments().len(), 1);
}

#[tokio::test]
async fn non_positive_amounts_and_bad_keys_are_permanent_and_send_nothing() {
    let (payments, fake, _) = setup().await;
    for cents in [0, -1850] {
        let e = payments.refund(KEY, &account(), Money::usd(cents), &Payout::default()).await.unwrap_err();
        assert!(!e.retryable && e.message.contains("positive"), "{e:?}");
    }
    for key in ["", "has space", "line\nbreak", &"k".repeat(256)] {
        let e = payments.refund(key, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
        assert!(!e.retryable, "{key:?}: {e:?}");
    }
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn other_currencies_are_sent_as_they_are() {
    let (payments, fake, _) = setup().await;
    let eur = Money::new(500, Currency::parse("EUR").unwrap());
    payments.refund(KEY, &account(), eur, &Payout::default()).await.unwrap();
    assert_eq!((fake.payments()[0].amount_cents, fake.payments()[0].currency.as_str()), (500, "EUR"));
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let payments = HttpPayments::new(PaymentsConfig::new(url, SECRET), Arc::new(ManualClock::new(NOW))).unwrap();
    let e = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
}

#[tokio::test]
async fn the_fake_started_plainly_uses_the_test_secret_and_the_system_clock() {
    let fake = FakePaymentService::start().await.unwrap();
    let payments = HttpPayments::new(fake.config(), Arc::new(crate::SystemClock)).unwrap();
    let id = payments.refund(KEY, &account(), Money::usd(1850), &Payout::default()).await.unwrap();
    assert_eq!(fake.payment(KEY).map(|p| p.refund_id), Some(id));
}

#[test]
fn the_blocking_fake_serves_without_a_runtime_of_the_callers() {
    let fake = FakePaymentService::start_blocking().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let payments = HttpPayments::new(fake.config(), Arc::new(crate::SystemClock)).unwrap();
    let id = runtime.block_on(payments.refund(KEY, &account(), Money::usd(1850), &Payout::default())).unwrap();
    assert_eq!(fake.payments()[0].refund_id, id);
}

#[test]
fn answers_are_judged_by_the_table() {
    let ok = |s: &str| Ok(s.as_bytes().to_vec());
    assert_eq!(judge(KEY, 200, ok(r#"{"refund_id":"re_1"}"#)).unwrap().refund_id, "re_1");
    assert!(!judge(KEY, 201, ok(r#"{"refund_id":"re_1","status":"pending"}"#)).unwrap().replayed);
    assert!(judge(KEY, 409, ok(r#"{"refund_id":"re_1"}"#)).unwrap().replayed);
    // A 409 that names no refund is a conflict a human must look at.
    let e = judge(KEY, 409, ok(r#"{"error":"key_in_use"}"#)).unwrap_err();
    assert!(!e.retryable && e.message.contains("key_in_use"), "{e:?}");
    for body in [r#"{"refund_id":""}"#, r#"{"refund_id":42}"#, r#"{"refund_id":"a b"}"#, "{}", "[", ""] {
        assert!(judge(KEY, 200, ok(body)).unwrap_err().retryable, "{body}");
    }
    assert!(judge(KEY, 409, ok("not json")).unwrap_err().retryable);
    assert!(judge(KEY, 200, Err(AdapterError::retryable("cut off"))).unwrap_err().retryable);
    // Codes are quoted only when they are plain tokens (never free text from the service).
    let e = judge(KEY, 422, ok(r#"{"error":"card for John Smith expired"}"#)).unwrap_err();
    assert!(!e.retryable && !e.message.contains("John"), "{e:?}");
    let e = judge(KEY, 400, ok(r#"{"code":"amount_too_large"}"#)).unwrap_err();
    assert!(e.message.ends_with("HTTP 400: amount_too_large"), "{e:?}");
    assert!(!judge(KEY, 422, Err(AdapterError::retryable("cut off"))).unwrap_err().retryable);
}

#[test]
fn configuration_is_checked() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(NOW));
    let ok = PaymentsConfig::new("https://pay.example.com/api/v2/", SECRET);
    let build = |c: PaymentsConfig| HttpPayments::new(c, clock.clone());
    let p = build(ok.clone()).unwrap();
    assert_eq!(p.refunds_url.as_str(), "https://pay.example.com/api/v2/refunds");
    for url in ["http://127.0.0.1:8080", "http://localhost/pay", "http://[::1]:9", "https://pay.example.com"] {
        assert!(build(PaymentsConfig { url: url.into(), ..ok.clone() }).is_ok(), "{url}");
    }
    let key_of = |c: PaymentsConfig| match build(c) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("{other:?}"),
    };
    for url in [
        "http://pay.example.com",
        "http://10.0.0.7:8080",
        "http://127.0.0.1.example.com",
        "ftp://pay.example.com",
        "https://u:p@pay.example.com",
        "https://pay.example.com/?token=abc",
        "https://pay.example.com/#x",
        "nonsense",
    ] {
        assert_eq!(key_of(PaymentsConfig { url: url.into(), ..ok.clone() }), "url", "{url}");
    }
    let e = build(PaymentsConfig { url: "http://pay.example.com".into(), ..ok.clone() }).unwrap_err();
    assert_eq!(e.to_string(), "payments.url: must be https (http only to a loopback address)");
    for secret in ["short".to_owned(), format!("{SECRET} with spaces"), "x".repeat(513), "é".repeat(20)] {
        let e = build(PaymentsConfig { secret: secret.clone(), ..ok.clone() }).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { key: "secret", .. }), "{e:?}");
        assert!(!e.to_string().contains(&secret), "{e}");
    }
    assert_eq!(key_of(PaymentsConfig { timeout: Duration::ZERO, ..ok.clone() }), "timeout");
    assert_eq!(key_of(PaymentsConfig { timeout: Duration::from_secs(61), ..ok.clone() }), "timeout");
    assert_eq!(key_of(PaymentsConfig { max_response_bytes: 255, ..ok.clone() }), "max_response_bytes");
    assert_eq!(key_of(PaymentsConfig { max_response_bytes: 2 << 20, ..ok.clone() }), "max_response_bytes");
}

#[test]
fn the_secret_is_never_printed() {
    let config = PaymentsConfig::new("https://pay.example.com/api", SECRET);
    let shown = format!("{config:?}");
    assert!(!shown.contains(SECRET) && !shown.contains("pay_test") && shown.contains("<redacted>"), "{shown}");
    assert!(shown.contains("https://pay.example.com/api"), "{shown}");
    let payments = HttpPayments::new(config, Arc::new(ManualClock::new(NOW))).unwrap();
    let shown = format!("{payments:?}");
    assert!(!shown.contains("pay_test"), "{shown}");
}
