//! The ES2+ client and the eSIM deprovisioning path against the fake SM-DP+, over real
//! HTTP on loopback; and the fake's own strictness (which proves what the client sends).

use super::fake::{FakeSmdp, Profile, ProfileState, Reply};
use super::*;
use lineout_app::ports::{AdapterError, DeprovisionRequest, Network};
use lineout_domain::effects::Effect;
use lineout_domain::values::{CaseId, Eid, Iccid, Msisdn};
use serde_json::{Value, json};
use std::time::Duration;

const ICCID: &str = "8944500102198304826";
const EID: &str = "89049032123451234512345678901235";
const OTHER_EID: &str = "89049032123451234512345678909999";
const KEY: &str = "C01JD3K5M2X7Q4T9A.7.0";
const REQUESTER: &str = "OP-TEST";

fn request(iccid: Option<&str>, eid: Option<&str>) -> DeprovisionRequest {
    DeprovisionRequest {
        case_id: CaseId::parse("C01JD3K5M2X7Q4T9A").unwrap(),
        effect: Effect::Deprovision {
            msisdn: Msisdn::parse("+442079460958").unwrap(),
            imsi: None,
            iccid: iccid.map(|s| Iccid::parse(s).unwrap()),
            eid: eid.map(|s| Eid::parse(s).unwrap()),
        },
    }
}

fn esim() -> DeprovisionRequest {
    request(Some(ICCID), Some(EID))
}

fn config(fake: &FakeSmdp) -> Es2PlusConfig {
    let mut c = Es2PlusConfig::new(&fake.base_url, REQUESTER);
    c.require_https = false;
    c.connect_timeout = Duration::from_secs(2);
    c.request_timeout = Duration::from_secs(2);
    c
}

fn network(fake: &FakeSmdp) -> Es2PlusNetwork {
    Es2PlusNetwork::new(config(fake)).unwrap()
}

fn network_with(fake: &FakeSmdp, edit: impl FnOnce(&mut Es2PlusConfig)) -> Es2PlusNetwork {
    let mut c = config(fake);
    edit(&mut c);
    Es2PlusNetwork::new(c).unwrap()
}

/// An error must never carry the subscriber's identifiers.
fn assert_no_personal_data(e: &AdapterError) {
    assert!(!e.message.contains(ICCID) && !e.message.contains(EID), "{}", e.message);
}

#[tokio::test]
async fn a_pending_order_is_cancelled_with_every_field_the_protocol_asks_for() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Released);
    let outcome = network(&fake).deprovision_esim(KEY, &esim()).await.unwrap();
    assert_eq!(outcome, EsimOutcome::OrderCancelled { warning: None });
    assert_eq!(fake.state(ICCID), Some(ProfileState::Unavailable));

    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.path, "/gsma/rsp2/es2plus/cancelOrder");
    assert_eq!(call.admin_protocol.as_deref(), Some("gsma/rsp/v2.5.0"));
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    assert_eq!(call.function_requester_identifier.as_deref(), Some(REQUESTER));
    assert_eq!(call.function_call_identifier.as_deref(), Some("C01JD3K5M2X7Q4T9A.7.0.cancelOrder"));
    assert_eq!(call.answer, "Executed-Success");
    let body = call.body.as_ref().unwrap();
    assert_eq!(body["iccid"], ICCID);
    assert_eq!(body["finalProfileStatusIndicator"], "Unavailable");
    assert!(body.get("eid").is_none(), "the EID is not sent unless configured");
    assert!(body.get("matchingId").is_none());
}

#[tokio::test]
async fn the_final_status_protocol_version_and_eid_follow_the_configuration() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed_profile(ICCID, Profile { state: ProfileState::Linked, eid: Some(EID.into()), matching_id: None });
    let net = network_with(&fake, |c| {
        c.final_profile_status = FinalProfileStatus::Available;
        c.send_eid = true;
        c.admin_protocol = "gsma/rsp/v2.2.0".into();
    });
    assert_eq!(net.deprovision_esim(KEY, &esim()).await.unwrap(), EsimOutcome::OrderCancelled { warning: None });
    assert_eq!(fake.state(ICCID), Some(ProfileState::Available));
    let call = &fake.calls()[0];
    assert_eq!(call.admin_protocol.as_deref(), Some("gsma/rsp/v2.2.0"));
    let body = call.body.as_ref().unwrap();
    assert_eq!(body["eid"], EID);
    assert_eq!(body["finalProfileStatusIndicator"], "Available");
}

#[tokio::test]
async fn an_installed_profile_is_left_alone_in_cancel_order_mode() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Installed);
    let outcome = network(&fake).deprovision_esim(KEY, &esim()).await.unwrap();
    assert_eq!(outcome, EsimOutcome::NotCancellable { code: StatusCode::new("8.2.1", "3.5") });
    assert_eq!(fake.calls_to(Function::ReleaseProfile).len(), 0);
    assert_eq!(fake.state(ICCID), Some(ProfileState::Installed));
    // Through the port, that is success.
    assert_eq!(network(&fake).deprovision(&format!("{KEY}x"), &esim()).await, Ok(()));
}

#[tokio::test]
async fn release_mode_falls_back_to_release_profile_for_an_installed_profile() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Installed);
    let net = network_with(&fake, |c| c.mode = Es2PlusMode::CancelOrderThenRelease);
    let outcome = net.deprovision_esim(KEY, &esim()).await.unwrap();
    // A conformant SM-DP+ cannot release an installed profile either: done, nothing changed.
    assert_eq!(outcome, EsimOutcome::NotReleasable { code: StatusCode::new("8.2.1", "3.5") });
    let release = fake.calls_to(Function::ReleaseProfile);
    assert_eq!(release.len(), 1);
    assert_eq!(release[0].function_call_identifier.as_deref(), Some("C01JD3K5M2X7Q4T9A.7.0.releaseProfile"));
    assert_eq!(release[0].body.as_ref().unwrap()["iccid"], ICCID);
    assert_eq!(release[0].answer, "Failed 8.2.1/3.5");
    assert_eq!(fake.state(ICCID), Some(ProfileState::Installed));
}

#[tokio::test]
async fn release_mode_releases_when_the_sm_dp_allows_it() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Confirmed);
    fake.script(Function::CancelOrder, Reply::failed("8.2.1", "3.5"));
    let net = network_with(&fake, |c| c.mode = Es2PlusMode::CancelOrderThenRelease);
    assert_eq!(net.deprovision_esim(KEY, &esim()).await.unwrap(), EsimOutcome::ProfileReleased { warning: None });
    assert_eq!(fake.state(ICCID), Some(ProfileState::Released));
    // The release step's own failures are judged like cancelOrder's.
    fake.seed(ICCID, ProfileState::Confirmed);
    fake.script(Function::CancelOrder, Reply::failed("8.2.1", "3.5"));
    fake.script(Function::ReleaseProfile, Reply::Http(503));
    let e = net.deprovision_esim("C2.1.0", &esim()).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
    fake.script(Function::CancelOrder, Reply::failed("8.2.1", "3.5"));
    fake.script(Function::ReleaseProfile, Reply::failed("8.2.1", "1.2"));
    let e = net.deprovision_esim("C3.1.0", &esim()).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
}

#[tokio::test]
async fn a_repeated_delivery_is_harmless() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Allocated);
    let net = network(&fake);
    assert_eq!(net.deprovision(KEY, &esim()).await, Ok(()));
    assert_eq!(net.deprovision(KEY, &esim()).await, Ok(()));
    let calls = fake.calls_to(Function::CancelOrder);
    assert_eq!(calls.len(), 2);
    assert!(!calls[0].retry);
    assert!(calls[1].retry, "the second delivery carries the same functionCallIdentifier and body");
    assert_eq!(calls[1].answer, "Failed 8.2.1/3.5");
    assert_eq!(fake.state(ICCID), Some(ProfileState::Unavailable));
}

#[tokio::test]
async fn a_lost_answer_is_retried_and_the_retry_is_done() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Released);
    fake.script(Function::CancelOrder, Reply::ApplyThenHang);
    let net = network(&fake);
    let e = net.deprovision(KEY, &esim()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("timed out"), "{e:?}");
    assert_eq!(fake.state(ICCID), Some(ProfileState::Unavailable));
    assert_eq!(
        net.deprovision_esim(KEY, &esim()).await.unwrap(),
        EsimOutcome::NotCancellable { code: StatusCode::new("8.2.1", "3.5") }
    );
}

#[tokio::test]
async fn an_unknown_profile_is_done() {
    let fake = FakeSmdp::start().await.unwrap();
    let outcome = network(&fake).deprovision_esim(KEY, &esim()).await.unwrap();
    assert_eq!(outcome, EsimOutcome::ProfileUnknown { code: StatusCode::new("8.2.1", "3.9") });
}

#[tokio::test]
async fn a_warning_is_done_and_kept() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.script(Function::CancelOrder, Reply::warning("8.2.1", "4.3"));
    let outcome = network(&fake).deprovision_esim(KEY, &esim()).await.unwrap();
    assert_eq!(outcome, EsimOutcome::OrderCancelled { warning: Some(StatusCode::new("8.2.1", "4.3")) });
}

#[tokio::test]
async fn other_failures_are_permanent() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed_profile(ICCID, Profile { state: ProfileState::Linked, eid: Some(OTHER_EID.into()), matching_id: None });
    let net = network_with(&fake, |c| c.send_eid = true);
    let e = net.deprovision(KEY, &esim()).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(e.message.contains("subjectCode=8.1.1 reasonCode=3.10"), "{}", e.message);
    assert_no_personal_data(&e);
    assert_eq!(fake.state(ICCID), Some(ProfileState::Linked));

    for (subject, reason) in [("8.2.1", "1.2"), ("1.1", "1.2"), ("1.6", "2.1")] {
        fake.script(Function::CancelOrder, Reply::failed(subject, reason));
        let e = network(&fake).deprovision(&format!("C9.{reason}.0"), &esim()).await.unwrap_err();
        assert!(!e.retryable && e.message.contains(subject), "{e:?}");
        assert_no_personal_data(&e);
    }
    fake.script(Function::CancelOrder, Reply::Status { status: ExecutionStatus::Failed, code: None });
    assert!(!network(&fake).deprovision("C9.9.9", &esim()).await.unwrap_err().retryable);
}

#[tokio::test]
async fn http_errors_time_outs_and_bad_answers_are_retryable() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Released);
    let net = network(&fake);
    let replies = [
        (Reply::Http(500), "HTTP 500"),
        (Reply::Http(503), "HTTP 503"),
        (Reply::Http(429), "HTTP 429"),
        (Reply::Hang, "timed out"),
        (Reply::Malformed, "malformed answer: not JSON"),
        (Reply::MissingStatus, "malformed answer: no header.functionExecutionStatus"),
        (Reply::Oversized(100_000), "larger than 65536 bytes"),
        (Reply::expired(), "Expired"),
        (Reply::failed("1.2", "4.4"), "subjectCode=1.2 reasonCode=4.4"),
        (Reply::failed("1.2", "4.2"), "subjectCode=1.2 reasonCode=4.2"),
    ];
    for (i, (reply, said)) in replies.into_iter().enumerate() {
        fake.script(Function::CancelOrder, reply.clone());
        let e = net.deprovision(&format!("C5.{i}.0"), &esim()).await.unwrap_err();
        assert!(e.retryable, "{reply:?}: {e:?}");
        assert!(e.message.contains(said), "{reply:?}: {}", e.message);
        assert_no_personal_data(&e);
    }
    // None of them touched the profile; the next delivery cancels it.
    assert_eq!(fake.state(ICCID), Some(ProfileState::Released));
    assert_eq!(net.deprovision(KEY, &esim()).await, Ok(()));
    assert_eq!(fake.state(ICCID), Some(ProfileState::Unavailable));
}

#[tokio::test]
async fn refused_requests_and_unreachable_peers() {
    let fake = FakeSmdp::start().await.unwrap();
    // A wrong base path: the SM-DP+ answers 404, a configuration error.
    let wrong = network_with(&fake, |c| c.base_url = format!("{}/other", fake.base_url));
    let e = wrong.deprovision(KEY, &esim()).await.unwrap_err();
    assert!(!e.retryable && e.message.contains("HTTP 404"), "{e:?}");
    fake.script(Function::CancelOrder, Reply::Http(401));
    assert!(!network(&fake).deprovision(KEY, &esim()).await.unwrap_err().retryable);

    // Nobody listening: retryable.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = config(&fake);
    c.base_url = format!("http://127.0.0.1:{port}");
    let e = Es2PlusNetwork::new(c).unwrap().deprovision(KEY, &esim()).await.unwrap_err();
    assert!(e.retryable && e.message.contains("could not connect"), "{e:?}");
}

#[tokio::test]
async fn lines_without_an_eid_are_not_the_sm_dps_business() {
    let fake = FakeSmdp::start().await.unwrap();
    let net = network(&fake);
    assert_eq!(net.deprovision_esim(KEY, &request(Some(ICCID), None)).await.unwrap(), EsimOutcome::NotEsim);
    assert_eq!(net.deprovision(KEY, &request(None, None)).await, Ok(()));
    let e = net.deprovision(KEY, &request(None, Some(EID))).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    let refund = DeprovisionRequest {
        case_id: CaseId::parse("C01JD3K5M2X7Q4T9A").unwrap(),
        effect: Effect::Refund {
            account_id: lineout_domain::values::AccountId::parse("A1").unwrap(),
            amount: lineout_domain::values::Money::usd(0),
            payout: lineout_domain::effects::Payout::default(),
        },
    };
    assert!(!net.deprovision(KEY, &refund).await.unwrap_err().retryable);
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn the_client_functions_can_be_called_directly() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed_profile(ICCID, Profile { state: ProfileState::Allocated, eid: None, matching_id: Some("MID-1".into()) });
    fake.seed("8901260713156280780", ProfileState::Confirmed);
    let client = Es2PlusClient::new(config(&fake)).unwrap();
    let iccid = Iccid::parse(ICCID).unwrap();
    let eid = Eid::parse(EID).unwrap();
    let a = client.cancel_order("fc-1", &iccid, Some(&eid), Some("MID-2"), FinalProfileStatus::Unavailable).await;
    assert_eq!(
        a.unwrap(),
        FunctionAnswer { status: ExecutionStatus::Failed, code: Some(StatusCode::new("8.2.6", "3.10")) }
    );
    assert_eq!(fake.calls()[0].body.as_ref().unwrap()["matchingId"], "MID-2");
    let a = client.cancel_order("fc-2", &iccid, Some(&eid), Some("MID-1"), FinalProfileStatus::Unavailable).await;
    assert_eq!(a.unwrap().status, ExecutionStatus::Success);
    let confirmed = Iccid::parse("8901260713156280780").unwrap();
    assert_eq!(client.release_profile("fc-3", &confirmed).await.unwrap().status, ExecutionStatus::Success);
    assert_eq!(fake.state("8901260713156280780"), Some(ProfileState::Released));
    assert_eq!(client.release_profile("fc-4", &confirmed).await.unwrap().code, Some(StatusCode::new("8.2.1", "3.5")));
    let e = client.release_profile("bad\nid", &confirmed).await.unwrap_err();
    assert!(!e.retryable);
}

// --- The fake's strictness: every check a client could fail. ---

struct Raw {
    http: reqwest::Client,
    base: String,
}

impl Raw {
    fn new(fake: &FakeSmdp) -> Self {
        Self { http: reqwest::Client::new(), base: fake.base_url.clone() }
    }
    async fn send(&self, method: &str, function: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}/gsma/rsp2/es2plus/{function}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.body(body.to_owned()).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    async fn post(&self, function: &str, body: &Value) -> (u16, Value) {
        let headers = [("X-Admin-Protocol", "gsma/rsp/v2.5.0"), ("Content-Type", "application/json")];
        self.send("POST", function, &headers, &body.to_string()).await
    }
}

fn code_of(answer: &Value) -> (String, String, String) {
    let fes = &answer["header"]["functionExecutionStatus"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (s(&fes["status"]), s(&fes["statusCodeData"]["subjectCode"]), s(&fes["statusCodeData"]["reasonCode"]))
}

fn cancel_body(call_id: &str) -> Value {
    json!({
        "header": {"functionRequesterIdentifier": REQUESTER, "functionCallIdentifier": call_id},
        "iccid": ICCID,
        "finalProfileStatusIndicator": "Unavailable",
    })
}

#[tokio::test]
async fn the_fake_refuses_requests_without_the_protocol_headers() {
    let fake = FakeSmdp::start().await.unwrap();
    let raw = Raw::new(&fake);
    let body = cancel_body("fc-1").to_string();
    let json = ("Content-Type", "application/json");
    let v25 = ("X-Admin-Protocol", "gsma/rsp/v2.5.0");
    assert_eq!(raw.send("POST", "cancelOrder", &[json], &body).await.0, 400);
    assert_eq!(raw.send("POST", "cancelOrder", &[json, ("X-Admin-Protocol", "v2")], &body).await.0, 400);
    assert_eq!(raw.send("POST", "cancelOrder", &[v25], &body).await.0, 415);
    assert_eq!(raw.send("POST", "cancelOrder", &[v25, ("Content-Type", "text/plain")], &body).await.0, 415);
    assert_eq!(raw.send("GET", "cancelOrder", &[v25, json], "").await.0, 405);
    assert_eq!(raw.send("POST", "downloadOrder", &[v25, json], &body).await.0, 404);
    assert_eq!(raw.send("POST", "handleDownloadProgressInfo", &[v25, json], &body).await.0, 404);
    assert_eq!(raw.send("POST", "cancelOrder", &[v25, json], "{not json").await.0, 400);
    assert_eq!(raw.send("POST", "cancelOrder", &[v25, json], "[]").await.0, 400);
    // The same request with both headers is accepted (unknown profile, but executed as a function).
    let (status, answer) = raw.send("POST", "cancelOrder", &[v25, json], &body).await;
    assert_eq!((status, code_of(&answer)), (200, ("Failed".into(), "8.2.1".into(), "3.9".into())));
    assert_eq!(fake.calls().len(), 10);
    assert_eq!(fake.calls()[0].answer, "HTTP 400");
}

#[tokio::test]
async fn the_fake_refuses_missing_or_bad_fields() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Released);
    let raw = Raw::new(&fake);
    let missing = |s: &str| ("Failed".to_owned(), "1.6".to_owned(), s.to_owned());
    let cases: Vec<(&str, Value, &str)> = vec![
        ("cancelOrder", json!({"iccid": ICCID, "finalProfileStatusIndicator": "Unavailable"}), "2.2"),
        (
            "cancelOrder",
            json!({"header": {"functionCallIdentifier": "a1"}, "iccid": ICCID, "finalProfileStatusIndicator": "Unavailable"}),
            "2.2",
        ),
        (
            "cancelOrder",
            json!({"header": {"functionRequesterIdentifier": REQUESTER}, "iccid": ICCID, "finalProfileStatusIndicator": "Unavailable"}),
            "2.2",
        ),
        (
            "cancelOrder",
            json!({"header": {"functionRequesterIdentifier": "", "functionCallIdentifier": "a2"}, "iccid": ICCID, "finalProfileStatusIndicator": "Unavailable"}),
            "2.1",
        ),
        (
            "cancelOrder",
            json!({"header": {"functionRequesterIdentifier": REQUESTER, "functionCallIdentifier": "a3"}, "finalProfileStatusIndicator": "Unavailable"}),
            "2.2",
        ),
        (
            "cancelOrder",
            json!({"header": {"functionRequesterIdentifier": REQUESTER, "functionCallIdentifier": "a4"}, "iccid": "12345", "finalProfileStatusIndicator": "Unavailable"}),
            "2.1",
        ),
        (
            "cancelOrder",
            json!({"header": {"functionRequesterIdentifier": REQUESTER, "functionCallIdentifier": "a5"}, "iccid": ICCID}),
            "2.2",
        ),
        (
            "cancelOrder",
            json!({"header": {"functionRequesterIdentifier": REQUESTER, "functionCallIdentifier": "a6"}, "iccid": ICCID, "finalProfileStatusIndicator": "Gone"}),
            "2.1",
        ),
        (
            "cancelOrder",
            json!({"header": {"functionRequesterIdentifier": REQUESTER, "functionCallIdentifier": "a7"}, "iccid": ICCID, "finalProfileStatusIndicator": "Unavailable", "eid": "42"}),
            "2.1",
        ),
        (
            "releaseProfile",
            json!({"header": {"functionRequesterIdentifier": REQUESTER, "functionCallIdentifier": "a8"}}),
            "2.2",
        ),
    ];
    for (function, body, reason) in cases {
        let (status, answer) = raw.post(function, &body).await;
        assert_eq!((status, code_of(&answer)), (200, missing(reason)), "{body}");
    }
    // None of the refused calls changed the profile.
    assert_eq!(fake.state(ICCID), Some(ProfileState::Released));
}

#[tokio::test]
async fn the_fake_allows_a_call_identifier_only_for_a_retry_of_the_same_call() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.seed(ICCID, ProfileState::Released);
    let raw = Raw::new(&fake);
    assert_eq!(code_of(&raw.post("cancelOrder", &cancel_body("fc-9")).await.1).0, "Executed-Success");
    // A retry: same identifier, same call.
    let (_, again) = raw.post("cancelOrder", &cancel_body("fc-9")).await;
    assert_eq!(code_of(&again), ("Failed".into(), "8.2.1".into(), "3.5".into()));
    assert!(fake.calls()[1].retry);
    // The same identifier for another call is refused.
    let mut other = cancel_body("fc-9");
    other["finalProfileStatusIndicator"] = json!("Available");
    assert_eq!(code_of(&raw.post("cancelOrder", &other).await.1), ("Failed".into(), "1.6".into(), "3.3".into()));
    let release =
        json!({"header": {"functionRequesterIdentifier": REQUESTER, "functionCallIdentifier": "fc-9"}, "iccid": ICCID});
    assert_eq!(code_of(&raw.post("releaseProfile", &release).await.1).2, "3.3");
}

#[tokio::test]
async fn the_fake_can_insist_on_its_requester() {
    let fake = FakeSmdp::start().await.unwrap();
    fake.expect_requester("SOMEONE-ELSE");
    let e = network(&fake).deprovision(KEY, &esim()).await.unwrap_err();
    assert!(!e.retryable && e.message.contains("subjectCode=1.1 reasonCode=1.1"), "{e:?}");
}

#[test]
fn the_fake_runs_on_its_own_thread_for_tests_without_a_runtime() {
    let fake = FakeSmdp::start_blocking().unwrap();
    fake.seed(ICCID, ProfileState::Allocated);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outcome = runtime.block_on(network(&fake).deprovision_esim(KEY, &esim())).unwrap();
    assert_eq!(outcome, EsimOutcome::OrderCancelled { warning: None });
    assert_eq!(fake.state(ICCID), Some(ProfileState::Unavailable));
}
