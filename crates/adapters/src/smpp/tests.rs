//! The SMPP adapter against a real SMPP server (node-smpp, see [`super::testing`]),
//! plus the failure paths that need no server.

use super::sms::{self, Encoding};
use super::testing::{SmppServer, SmppServerOptions};
use super::{SmppConfig, SmppSms, pdu::status};
use lineout_app::ports::{OutgoingSms, SmsTransport};
use lineout_domain::values::Msisdn;
use std::time::Duration;

const NUMBER: &str = "+15551234567";
const DIGITS: &str = "15551234567";

fn sms(to: &str, text: &str) -> OutgoingSms {
    OutgoingSms { to: Msisdn::from_stored(to).unwrap(), text: text.to_owned() }
}

fn ucs2_text(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
    String::from_utf16(&units).unwrap()
}

async fn started(server: &SmppServer, config: SmppConfig) -> SmppSms {
    let adapter = SmppSms::start(config);
    assert!(adapter.wait_bound(Duration::from_secs(5)).await, "never bound; server log:\n{}", server.log());
    adapter
}

#[tokio::test]
async fn an_english_text_is_one_gsm7_part() {
    let Some(server) = SmppServer::start(SmppServerOptions::default()) else { return };
    let adapter = started(&server, server.config()).await;
    let text = "Your line ending 4567 is cancelled. Questions? Call 611 (free) & quote C01.";
    let out = adapter.send_sms("C01.1.0", &sms(NUMBER, text)).await.unwrap();
    assert_eq!(out.encoding, "gsm7");
    assert_eq!(out.segments, 1);
    assert_eq!(out.message_ids.len(), 1);

    let submits = server.submits();
    assert_eq!(submits.len(), 1, "{submits:?}");
    let s = &submits[0];
    assert_eq!(s.status, 0);
    assert_eq!(s.message_id.as_deref(), Some(out.message_ids[0].as_str()));
    assert_eq!((s.destination_addr.as_str(), s.dest_addr_ton, s.dest_addr_npi), (DIGITS, 1, 1));
    assert_eq!((s.source_addr.as_str(), s.source_addr_ton), ("Lineout", 5));
    assert_eq!((s.esm_class, s.data_coding, s.registered_delivery), (0x00, 0x00, 1));
    assert_eq!(s.udh, None);
    assert_eq!(s.short_message, sms::encode_gsm7(text).unwrap());
    let binds = server.binds();
    assert_eq!(binds.len(), 1);
    assert_eq!((binds[0].bind.as_str(), binds[0].interface_version, binds[0].status), ("transceiver", 0x34, 0));
}

#[tokio::test]
async fn a_chinese_text_is_ucs2_with_the_right_segment_count() {
    let Some(server) = SmppServer::start(SmppServerOptions::default()) else { return };
    let adapter = started(&server, server.config()).await;
    // 30 × 3 characters = 90 UTF-16 units: more than 70, so 2 parts of at most 67.
    let text = "您好！您的线路将于明天注销。如有疑问，请致电客服热线，我们将竭诚为您服务。谢谢！".repeat(2)
        + &"注销".repeat(4);
    let plan = sms::plan(&text);
    assert_eq!((plan.encoding, plan.segments), (Encoding::Ucs2, 2));
    let out = adapter.send_sms("C02.1.0", &sms(NUMBER, &text)).await.unwrap();
    assert_eq!((out.encoding.as_str(), out.segments, out.message_ids.len()), ("ucs2", 2, 2));

    let parts = server.accepted();
    assert_eq!(parts.len(), 2);
    let mut joined = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.data_coding, 0x08);
        assert_eq!(p.esm_class & 0x40, 0x40);
        let c = p.concat.unwrap();
        assert_eq!((c.total, usize::from(c.seq)), (2, i + 1));
        assert!(p.payload.len() <= 134);
        joined.extend_from_slice(&p.payload);
    }
    assert_eq!(ucs2_text(&joined), text);
    // A short Chinese text is one UCS-2 part without a UDH.
    let out = adapter.send_sms("C02.2.0", &sms(NUMBER, "您的线路已注销。")).await.unwrap();
    assert_eq!((out.encoding.as_str(), out.segments), ("ucs2", 1));
    let last = server.accepted().pop().unwrap();
    assert_eq!((last.esm_class, last.data_coding), (0, 8));
    assert_eq!(ucs2_text(&last.short_message), "您的线路已注销。");
}

#[tokio::test]
async fn a_long_text_goes_as_concatenated_parts_with_a_consistent_udh() {
    let Some(server) = SmppServer::start(SmppServerOptions::default()) else { return };
    let adapter = started(&server, server.config()).await;
    let text = "Cancellation notice: your line will be disconnected at the end of the billing period. \
                Any remaining balance of €12 {incl. taxes} will be refunded to your card within 10 days. "
        .repeat(2);
    let key = "C03.1.0";
    let out = adapter.send_sms(key, &sms(NUMBER, &text)).await.unwrap();
    let plan = sms::plan(&text);
    assert_eq!(plan.encoding, Encoding::Gsm7);
    assert!(plan.segments >= 3, "{plan:?}");
    assert_eq!(out.segments as usize, plan.segments);
    assert_eq!(out.message_ids.len(), plan.segments);

    let parts = server.accepted();
    assert_eq!(parts.len(), plan.segments);
    let reference = u16::from(sms::reference_for(key));
    let mut joined = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.esm_class, 0x40);
        assert_eq!(p.data_coding, 0x00);
        assert_eq!(p.udh.as_deref().map(<[u8]>::len), Some(6));
        let c = p.concat.unwrap();
        assert_eq!((c.reference, usize::from(c.total), usize::from(c.seq)), (reference, plan.segments, i + 1));
        assert!(p.payload.len() <= 153);
        assert_eq!(p.message_id.as_deref(), Some(out.message_ids[i].as_str()));
        joined.extend_from_slice(&p.payload);
    }
    assert_eq!(sms::decode_gsm7(&joined), text);

    // A retry with the same key is answered from memory: nothing is sent again.
    let again = adapter.send_sms(key, &sms(NUMBER, &text)).await.unwrap();
    assert_eq!(again, out);
    assert_eq!(server.submits().len(), plan.segments);
}

#[tokio::test]
async fn delivery_receipts_arrive_with_the_message_ids() {
    let Some(server) = SmppServer::start(SmppServerOptions::default()) else { return };
    let adapter = started(&server, server.config()).await;
    let mut receipts = adapter.receipts().unwrap();
    assert!(adapter.receipts().is_none(), "receipts can be taken once");
    let mut ids = Vec::new();
    ids.extend(adapter.send_sms("C04.1.0", &sms(NUMBER, "First")).await.unwrap().message_ids);
    ids.extend(adapter.send_sms("C04.2.0", &sms(NUMBER, &"long ".repeat(40))).await.unwrap().message_ids);
    assert_eq!(ids.len(), 3);
    let mut got = Vec::new();
    while got.len() < ids.len() {
        let r = tokio::time::timeout(Duration::from_secs(5), receipts.recv()).await.expect("receipt in time").unwrap();
        assert!(r.delivered);
        assert_eq!(r.status, "DELIVRD");
        got.push(r.message_id);
    }
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    // Each deliver_sm was answered with an OK deliver_sm_resp.
    assert!(
        server
            .wait_until(Duration::from_secs(2), |r| r.iter().filter(|x| x["kind"] == "deliver_sm_resp").count() == 3)
            .await
    );
    assert!(server.records().iter().filter(|x| x["kind"] == "deliver_sm_resp").all(|x| x["status"] == 0));
}

#[tokio::test]
async fn undelivered_receipts_say_so() {
    let options = SmppServerOptions { receipt_stat: "UNDELIV".into(), ..SmppServerOptions::default() };
    let Some(server) = SmppServer::start(options) else { return };
    let adapter = started(&server, server.config()).await;
    let mut receipts = adapter.receipts().unwrap();
    let out = adapter.send_sms("C05.1.0", &sms(NUMBER, "Hi")).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), receipts.recv()).await.unwrap().unwrap();
    assert_eq!(
        (r.message_id.as_str(), r.delivered, r.status.as_str()),
        (out.message_ids[0].as_str(), false, "UNDELIV")
    );
}

#[tokio::test]
async fn throttling_backs_off_then_delivers() {
    let options = SmppServerOptions { throttle_first: 2, queue_full_first: 1, ..SmppServerOptions::default() };
    let Some(server) = SmppServer::start(options) else { return };
    let adapter = started(&server, server.config()).await;
    let started_at = std::time::Instant::now();
    let out = adapter.send_sms("C06.1.0", &sms(NUMBER, "Hello")).await.unwrap();
    assert_eq!(out.message_ids.len(), 1);
    // Three waits of at least half of 20, 40 and 80 ms.
    assert!(started_at.elapsed() >= Duration::from_millis(70), "{:?}", started_at.elapsed());
    let statuses: Vec<u32> = server.submits().iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![status::ESME_RTHROTTLED, status::ESME_RTHROTTLED, status::ESME_RMSGQFUL, 0]);
}

#[tokio::test]
async fn endless_throttling_is_retryable_after_the_budget() {
    let options = SmppServerOptions { throttle_first: 100, ..SmppServerOptions::default() };
    let Some(server) = SmppServer::start(options) else { return };
    let config = SmppConfig { throttle_retries: 2, ..server.config() };
    let adapter = started(&server, config).await;
    let err = adapter.send_sms("C07.1.0", &sms(NUMBER, "Hello")).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("ESME_RTHROTTLED"), "{}", err.message);
    assert!(!err.message.contains(DIGITS));
    assert_eq!(server.submits().len(), 3);
}

#[tokio::test]
async fn refused_binds_are_retried_with_backoff_then_messages_go_through() {
    let options = SmppServerOptions { refuse_binds_first: 2, ..SmppServerOptions::default() };
    let Some(server) = SmppServer::start(options) else { return };
    // send_sms waits (bind_wait) for the session the task keeps trying to bind.
    let adapter = SmppSms::start(server.config());
    let out = adapter.send_sms("C08.1.0", &sms(NUMBER, "Hello")).await.unwrap();
    assert_eq!(out.message_ids.len(), 1);
    let statuses: Vec<u32> = server.binds().iter().map(|b| b.status).collect();
    assert_eq!(statuses, vec![status::ESME_RBINDFAIL, status::ESME_RBINDFAIL, 0]);
}

#[tokio::test]
async fn a_wrong_password_never_binds_and_sends_fail_retryably() {
    let Some(server) = SmppServer::start(SmppServerOptions::default()) else { return };
    let config = SmppConfig { password: "wrong".into(), bind_wait: Duration::from_millis(500), ..server.config() };
    assert!(!format!("{config:?}").contains("wrong"), "the password is never printed");
    let adapter = SmppSms::start(config);
    let err = adapter.send_sms("C09.1.0", &sms(NUMBER, "Hello")).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(server.binds().len() >= 2, "it keeps trying: {:?}", server.binds());
    assert!(server.binds().iter().all(|b| b.status == status::ESME_RINVPASWD));
    assert_eq!(server.submits().len(), 0);
}

#[tokio::test]
async fn an_invalid_destination_is_permanent() {
    let options =
        SmppServerOptions { invalid_destinations: vec!["15550000000".into()], ..SmppServerOptions::default() };
    let Some(server) = SmppServer::start(options) else { return };
    let adapter = started(&server, server.config()).await;
    let err = adapter.send_sms("C10.1.0", &sms("+15550000000", "Hello")).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("ESME_RINVDSTADR"), "{}", err.message);
    assert!(!err.message.contains("15550000000"), "no number in errors: {}", err.message);
    // The session is still fine for others.
    adapter.send_sms("C10.2.0", &sms(NUMBER, "Hello")).await.unwrap();
}

#[tokio::test]
async fn a_dropped_connection_is_reestablished() {
    let options = SmppServerOptions { close_after_submits: 1, ..SmppServerOptions::default() };
    let Some(server) = SmppServer::start(options) else { return };
    let adapter = started(&server, server.config()).await;
    adapter.send_sms("C11.1.0", &sms(NUMBER, "one")).await.unwrap();
    // The server dropped the connection after answering. Once the adapter has noticed,
    // the next send waits (bind_wait) for the new session.
    assert!(server.wait_until(Duration::from_secs(2), |r| r.iter().any(|x| x["kind"] == "closed_by_server")).await);
    let noticed = tokio::time::Instant::now() + Duration::from_secs(2);
    while adapter.is_bound() && server.binds().len() < 2 && tokio::time::Instant::now() < noticed {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    adapter.send_sms("C11.2.0", &sms(NUMBER, "two")).await.unwrap();
    assert_eq!(server.binds().len(), 2);
    assert_eq!(server.accepted().len(), 2);
}

#[tokio::test]
async fn keep_alives_go_both_ways_and_shutdown_unbinds() {
    let options = SmppServerOptions { enquire_link: Some(Duration::from_millis(50)), ..SmppServerOptions::default() };
    let Some(server) = SmppServer::start(options) else { return };
    let config = SmppConfig { enquire_link_interval: Duration::from_millis(50), ..server.config() };
    let adapter = started(&server, config).await;
    let both = |r: &[serde_json::Value]| {
        r.iter().filter(|x| x["kind"] == "enquire_link").count() >= 2
            && r.iter().filter(|x| x["kind"] == "enquire_link_resp").count() >= 2
    };
    assert!(server.wait_until(Duration::from_secs(3), both).await, "{:?}", server.records());
    assert!(adapter.is_bound());
    adapter.shutdown().await;
    assert!(!adapter.is_bound());
    assert!(server.wait_until(Duration::from_secs(2), |r| r.iter().any(|x| x["kind"] == "unbind")).await);
    assert_eq!(server.binds().len(), 1, "keep-alives kept the one session");
}

#[tokio::test]
async fn a_server_that_is_down_gives_a_retryable_error() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = SmppConfig {
        bind_wait: Duration::from_millis(300),
        reconnect_base: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(100),
        ..SmppConfig::new(format!("127.0.0.1:{port}"), "lineout", "secret")
    };
    let adapter = SmppSms::start(config);
    let started_at = std::time::Instant::now();
    let err = adapter.send_sms("C12.1.0", &sms(NUMBER, "Hello")).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("no bound SMPP session"), "{}", err.message);
    assert!(started_at.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_server_that_goes_down_mid_way_gives_a_retryable_error() {
    let Some(mut server) = SmppServer::start(SmppServerOptions::default()) else { return };
    let config = SmppConfig { bind_wait: Duration::from_millis(300), ..server.config() };
    let adapter = started(&server, config).await;
    server.stop();
    let err = adapter.send_sms("C13.1.0", &sms(NUMBER, "Hello")).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
}

#[tokio::test]
async fn texts_that_need_too_many_parts_are_permanent() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = SmppConfig { max_parts: 2, ..SmppConfig::new(format!("127.0.0.1:{port}"), "x", "y") };
    let adapter = SmppSms::start(config);
    let err = adapter.send_sms("C14.1.0", &sms(NUMBER, &"x".repeat(400))).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
}

#[test]
fn config_validation_names_the_bad_key() {
    let ok = SmppConfig::new("127.0.0.1:2775", "lineout", "secret");
    assert_eq!(ok.validate(), Ok(()));
    let long = SmppConfig { password: "123456789".into(), ..ok.clone() };
    assert!(long.validate().unwrap_err().contains("smpp.password"));
    let parts = SmppConfig { max_parts: 0, ..ok };
    assert!(parts.validate().unwrap_err().contains("smpp.max_parts"));
}
