//! Tests of the osmo-hlr adapter: error classification, fake CTRL servers that
//! misbehave (hang, garble, hang up), and the real osmo-hlr through the harness.

use super::ipa::{self, CtrlMessage};
use super::testing::OsmoHlr;
use super::*;
use lineout_domain::values::{CaseId, Imsi, Msisdn};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn request(imsi: Option<&str>) -> DeprovisionRequest {
    DeprovisionRequest {
        case_id: CaseId::parse("C01JD3K5M2X7Q4T9A").unwrap(),
        effect: Effect::Deprovision {
            msisdn: Msisdn::from_stored("+14155550100").unwrap(),
            imsi: imsi.map(|i| Imsi::parse(i).unwrap()),
            iccid: None,
            eid: None,
        },
    }
}

fn quick(addr: impl Into<String>) -> OsmoHlrNetwork {
    OsmoHlrNetwork::new(OsmoHlrConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_millis(300),
        ..OsmoHlrConfig::new(addr)
    })
}

const IMSI: &str = "901700000000042";

// --- classification ---------------------------------------------------------

#[test]
fn classifies_osmo_hlr_error_texts() {
    for gone in ["Subscriber doesn't exist.", "No such subscriber.", "Subscriber Unknown in HLR"] {
        assert_eq!(classify(gone), Verdict::Gone, "{gone}");
    }
    for transient in [
        "An error has occurred.",
        "Cannot delete subscriber.",
        "Update MSISDN failed",
        "Error retrieving data from database.",
        "An unknown error has occurred during get_subscriber().",
    ] {
        assert_eq!(classify(transient), Verdict::Transient, "{transient}");
    }
    for permanent in [
        "Command not found",
        "Value failed verification.",
        "Invalid IMSI value.",
        "SET incomplete",
        "Invalid message ID number",
        "Request type unknown",
        "something new",
    ] {
        assert_eq!(classify(permanent), Verdict::Permanent, "{permanent}");
    }
}

#[test]
fn redacts_digit_runs_and_control_characters() {
    assert_eq!(redact("bad imsi 901700000000042\nmsisdn 1234 x"), "bad imsi <digits> msisdn 1234 x");
    assert_eq!(redact(&"9".repeat(500)), "<digits>");
    assert!(redact(&"a".repeat(500)).len() <= 100);
}

// --- fake CTRL servers ------------------------------------------------------

/// What a fake server does with one request.
enum Act {
    /// Sends these bytes and waits for the next request.
    Send(Vec<u8>),
    /// Sends these bytes and hangs up.
    SendAndClose(Vec<u8>),
    /// Never answers.
    Hang,
}

fn frame(text: &str) -> Vec<u8> {
    ipa::encode_ctrl(text).unwrap()
}

fn ok(msg: &CtrlMessage) -> Vec<u8> {
    match msg {
        CtrlMessage::Get { id, var } => frame(&format!("GET_REPLY {id} {var} 1")),
        CtrlMessage::Set { id, var, .. } => frame(&format!("SET_REPLY {id} {var} OK")),
        other => panic!("not a request: {other:?}"),
    }
}

fn err(msg: &CtrlMessage, text: &str) -> Vec<u8> {
    let id = match msg {
        CtrlMessage::Get { id, .. } | CtrlMessage::Set { id, .. } => id,
        other => panic!("not a request: {other:?}"),
    };
    frame(&format!("ERROR {id} {text}"))
}

type Seen = Arc<Mutex<Vec<String>>>;

/// A CTRL server on a free loopback port that answers each request as `script` says
/// and records the variables it was asked about.
async fn fake(script: impl Fn(&CtrlMessage) -> Act + Send + Sync + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let (script, log) = (Arc::new(script), Arc::clone(&seen));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, Arc::clone(&script), Arc::clone(&log)));
        }
    });
    (addr, seen)
}

async fn serve(mut socket: TcpStream, script: Arc<impl Fn(&CtrlMessage) -> Act>, seen: Seen) {
    let mut buf = Vec::new();
    loop {
        let (frame, used) = loop {
            if let Some(done) = ipa::decode(&buf, ipa::MAX_DATA_LEN).unwrap() {
                break done;
            }
            let mut chunk = [0u8; 1024];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..used);
        // Pongs (answers to the pings some scripts send) are not requests.
        let Some(payload) = frame.ctrl_payload() else { continue };
        let msg = ipa::parse(payload).unwrap();
        if let CtrlMessage::Get { var, .. } | CtrlMessage::Set { var, .. } = &msg {
            seen.lock().unwrap().push(var.clone());
        }
        match script(&msg) {
            Act::Send(bytes) => {
                if socket.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Act::SendAndClose(bytes) => {
                let _ = socket.write_all(&bytes).await;
                return;
            }
            Act::Hang => std::future::pending::<()>().await,
        }
    }
}

fn is_delete(msg: &CtrlMessage) -> bool {
    matches!(msg, CtrlMessage::Set { var, .. } if var == "subscriber.delete")
}

fn deleted(seen: &Seen) -> bool {
    seen.lock().unwrap().iter().any(|v| v == "subscriber.delete")
}

#[tokio::test]
async fn a_line_without_imsi_needs_nothing_from_the_hlr() {
    // Nothing listens on port 1; an eSIM-only line must not even try.
    quick("127.0.0.1:1").deprovision("k", &request(None)).await.unwrap();
}

#[tokio::test]
async fn refused_connection_is_retryable() {
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = quick(addr.to_string()).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(e.message.contains("connect"), "{e:?}");
    assert!(!e.message.contains(IMSI));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_retryably() {
    let (addr, seen) = fake(|_| Act::Hang).await;
    let started = std::time::Instant::now();
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(e.retryable && e.message.contains("timed out"), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!deleted(&seen));
}

#[tokio::test]
async fn a_malformed_reply_is_retryable_and_nothing_is_deleted() {
    let (addr, seen) = fake(|_| Act::Send(frame("HELLO 1 x y"))).await;
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(e.retryable && e.message.contains("malformed"), "{e:?}");
    assert!(!deleted(&seen));

    let (addr, _) = fake(|_| Act::Send(b"\x00\x05\xee\x00\xff\xfe\xfd".to_vec())).await;
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(e.retryable, "{e:?}");

    // A reply to another variable is not an answer to ours.
    let (addr, _) = fake(|msg| match msg {
        CtrlMessage::Set { id, .. } => Act::Send(frame(&format!("SET_REPLY {id} other.var OK"))),
        _ => Act::Hang,
    })
    .await;
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(e.retryable && e.message.contains("does not match"), "{e:?}");
}

#[tokio::test]
async fn an_oversized_reply_is_refused_without_reading_it() {
    let (addr, _) = fake(|_| Act::Send(vec![0xFF, 0xFF, 0xEE, 0x00])).await;
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(e.retryable && e.message.contains("exceeds"), "{e:?}");
}

#[tokio::test]
async fn hanging_up_mid_reply_is_retryable_and_the_delete_is_not_counted() {
    // Answers the barring steps, then cuts the delete's reply in half.
    let (addr, seen) = fake(|msg| {
        if is_delete(msg) {
            let whole = ok(msg);
            Act::SendAndClose(whole[..whole.len() / 2].to_vec())
        } else {
            Act::Send(ok(msg))
        }
    })
    .await;
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(e.retryable && e.message.contains("delete") && e.message.contains("closed"), "{e:?}");
    assert!(deleted(&seen));
}

#[tokio::test]
async fn traps_pings_and_stale_replies_are_skipped() {
    let (addr, seen) = fake(|msg| {
        let mut bytes = frame("TRAP 0 subscriber.location 1");
        bytes.extend(ipa::encode(ipa::STREAM_CCM, &[ipa::CCM_PING]).unwrap());
        bytes.extend(frame("SET_REPLY 999 subscriber.delete 1"));
        bytes.extend(ok(msg));
        Act::Send(bytes)
    })
    .await;
    quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap();
    let sub = format!("subscriber.by-imsi-{IMSI}");
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("{sub}.cs-enabled"), format!("{sub}.ps-enabled"), format!("{sub}.msisdn"), "subscriber.delete".into()]
    );
}

#[tokio::test]
async fn errors_are_judged_after_checking_whether_the_subscriber_exists() {
    // Generic error, subscriber gone: done (a repeated delivery).
    let (addr, seen) = fake(|msg| match msg {
        CtrlMessage::Set { .. } => Act::Send(err(msg, "An error has occurred.")),
        _ => Act::Send(err(msg, "No such subscriber.")),
    })
    .await;
    quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap();
    assert!(!deleted(&seen));

    // Generic error, subscriber still there: retry later.
    let (addr, _) = fake(|msg| match msg {
        CtrlMessage::Set { .. } => Act::Send(err(msg, "An error has occurred.")),
        _ => Act::Send(ok(msg)),
    })
    .await;
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(e.retryable && e.message == "osmo-hlr bar CS: An error has occurred.", "{e:?}");

    // An HLR without these commands: permanent.
    let (addr, _) = fake(|msg| match msg {
        CtrlMessage::Set { .. } => Act::Send(err(msg, "Command not found")),
        _ => Act::Send(err(msg, "Command not found")),
    })
    .await;
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");

    // A request the server could not read at all (id `err`): permanent.
    let (addr, _) = fake(|msg| match msg {
        CtrlMessage::Set { .. } => Act::Send(frame("ERROR err Invalid message ID number")),
        _ => Act::Send(ok(msg)),
    })
    .await;
    let e = quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");

    // "Doesn't exist" on the delete: done.
    let (addr, _) =
        fake(|msg| if is_delete(msg) { Act::Send(err(msg, "Subscriber doesn't exist.")) } else { Act::Send(ok(msg)) })
            .await;
    quick(addr).deprovision("k", &request(Some(IMSI))).await.unwrap();
}

#[tokio::test]
async fn waiting_for_a_connection_turn_is_bounded() {
    let (addr, _) = fake(|_| Act::Hang).await;
    let network = OsmoHlrNetwork::new(OsmoHlrConfig {
        request_timeout: Duration::from_millis(500),
        max_connections: 1,
        queue_timeout: Duration::from_millis(50),
        ..OsmoHlrConfig::new(addr)
    });
    let req = request(Some(IMSI));
    let (a, b) = tokio::join!(network.deprovision("a", &req), network.deprovision("b", &req));
    let messages = [a.unwrap_err(), b.unwrap_err()].map(|e| (e.retryable, e.message));
    assert!(messages.iter().all(|(retryable, _)| *retryable));
    assert!(messages.iter().any(|(_, m)| m.contains("free connection")), "{messages:?}");
}

// --- the real osmo-hlr ------------------------------------------------------

#[tokio::test]
async fn deprovisions_a_subscriber_in_osmo_hlr_once_and_again() {
    let Some(hlr) = OsmoHlr::start() else { return };
    hlr.create_subscriber(IMSI, Some("14155550100")).await;
    match hlr.subscriber_info(IMSI).await {
        CtrlReply::Value(info) => assert!(info.contains("msisdn\t14155550100"), "{info}"),
        other => panic!("{other:?}"),
    }
    let network = hlr.network();
    network.deprovision("C1.1.0", &request(Some(IMSI))).await.unwrap();
    assert_eq!(hlr.subscriber_info(IMSI).await, CtrlReply::Error("No such subscriber.".into()));
    // Repeated delivery (e.g. after a crash before the outbox row was marked done).
    network.deprovision("C1.1.0", &request(Some(IMSI))).await.unwrap();
    assert!(!hlr.subscriber_exists(IMSI).await);
}

#[tokio::test]
async fn osmo_hlr_answers_as_the_adapter_expects() {
    let Some(hlr) = OsmoHlr::start() else { return };
    let imsi = "901700000000043";
    let mut c = hlr.client().await;
    // The protocol facts the adapter relies on, as osmo-hlr states them.
    assert!(
        matches!(c.set("subscriber.create", imsi).await.unwrap(), CtrlReply::Value(id) if id.parse::<u32>().is_ok())
    );
    assert_eq!(c.set("subscriber.create", imsi).await.unwrap(), CtrlReply::Error("Subscriber already exists.".into()));
    assert_eq!(c.set("subscriber.delete", imsi).await.unwrap(), CtrlReply::Value("1".into()));
    assert_eq!(c.set("subscriber.delete", imsi).await.unwrap(), CtrlReply::Error("Subscriber doesn't exist.".into()));
    let cs = format!("subscriber.by-imsi-{imsi}.cs-enabled");
    assert_eq!(c.set(&cs, "0").await.unwrap(), CtrlReply::Error("An error has occurred.".into()));
    assert_eq!(c.get(&cs).await.unwrap(), CtrlReply::Error("No such subscriber.".into()));
}

#[tokio::test]
async fn a_subscriber_the_hlr_never_had_counts_as_deprovisioned() {
    let Some(hlr) = OsmoHlr::start() else { return };
    hlr.network().deprovision("k", &request(Some("901700000000044"))).await.unwrap();
}

#[tokio::test]
async fn completes_a_half_done_deprovisioning_and_survives_concurrent_deliveries() {
    let Some(hlr) = OsmoHlr::start() else { return };
    let imsi = "901700000000045";
    hlr.create_subscriber(imsi, Some("14155550101")).await;
    let mut c = hlr.client().await;
    c.set(&format!("subscriber.by-imsi-{imsi}.cs-enabled"), "0").await.unwrap();
    c.set(&format!("subscriber.by-imsi-{imsi}.msisdn"), "none").await.unwrap();
    let network = hlr.network();
    let req = request(Some(imsi));
    let (a, b, d) =
        tokio::join!(network.deprovision("k", &req), network.deprovision("k", &req), network.deprovision("k", &req));
    assert_eq!((a, b, d), (Ok(()), Ok(()), Ok(())));
    assert!(!hlr.subscriber_exists(imsi).await);
}
