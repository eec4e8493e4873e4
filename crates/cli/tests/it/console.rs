//! The staff console through HTTP (in-process, manual clock): sign-in and its throttle,
//! sessions and their expiry, CSRF, roles, in-store intake, review and warehouse
//! actions recorded with the member of staff, HTML error pages, languages.
//! (The same journeys in a real browser are in `browser.rs`.)

use crate::support::{TestApp, spawn_app, spawn_app_with};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lineout_app::staff::StaffRole;
use serde_json::json;
use std::collections::HashMap;
use time::Duration;
use tower::ServiceExt;

/// A cookie-keeping client of the console.
pub struct Visitor<'a> {
    app: &'a TestApp,
    cookies: HashMap<String, String>,
    lang: Option<&'static str>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The value of the first hidden input `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap_or_default().to_owned()
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, cookies: HashMap::new(), lang: None }
    }

    async fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut req = Request::builder().method(method).uri(path);
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !cookie.is_empty() {
            req = req.header("cookie", cookie.join("; "));
        }
        if let Some(l) = self.lang {
            req = req.header("accept-language", l);
        }
        let body = match form {
            Some(fields) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                Body::from(fields.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&"))
            }
            None => Body::empty(),
        };
        let resp = self.app.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = resp.status();
        let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        // Lossy: a downloaded file (a zip) is not text; pages are.
        let body = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned();
        Page { status, location, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send("POST", path, Some(form)).await
    }

    pub async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        let login = self.get("/console/login").await;
        let pre = login.hidden("pre");
        self.post("/console/login", &[("username", username), ("password", password), ("pre", &pre)]).await
    }

    /// The CSRF token of the page at `path`.
    pub async fn csrf(&mut self, path: &str) -> String {
        self.get(path).await.hidden("csrf")
    }
}

/// An app whose cases all go to a person for review (no automatic approval).
pub async fn spawn_reviewed_app() -> TestApp {
    let mut config = lineout_app::EngineConfig::default();
    config.policy.auto_approve.enabled = false;
    spawn_app_with(config).await
}

pub async fn staff(app: &TestApp, username: &str, role: StaffRole) {
    app.engine
        .create_staff(username.into(), format!("Staff {username}"), role, format!("{username}-long-password"))
        .await
        .unwrap();
}

async fn seed_line(app: &TestApp) {
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-C", "holder_name": "Li Wei", "email": "li@example.com"}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-C", "account_id": "ACC-C", "msisdn": "+1 415 555 0142", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn pages_need_a_session_and_sign_in_checks_the_password() {
    let app = spawn_app().await;
    staff(&app, "ana", StaffRole::Reviewer).await;
    let mut v = Visitor::new(&app);
    let page = v.get("/console/review").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/console/login?next=/console/review"));

    let wrong = v.sign_in("ana", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("sign_in_failed"));
    assert!(!v.cookies.contains_key("lo_session"));
    let unknown = v.sign_in("nobody", "ana-long-password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let ok = v.sign_in("ana", "ana-long-password").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert!(v.cookies.contains_key("lo_session"));
    let queue = v.get("/console/review").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains("Review queue"));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_secure() {
    let app = spawn_app().await;
    staff(&app, "ana", StaffRole::Reviewer).await;
    let mut v = Visitor::new(&app);
    let login = v.get("/console/login").await;
    let pre = login.hidden("pre");
    let req = Request::builder()
        .method("POST")
        .uri("/console/login")
        .header("cookie", format!("lo_pre={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("username=ana&password=ana-long-password&pre={pre}")))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("lo_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
}

#[tokio::test]
async fn sign_in_without_the_form_nonce_is_refused() {
    let app = spawn_app().await;
    staff(&app, "ana", StaffRole::Reviewer).await;
    let mut v = Visitor::new(&app);
    let page = v.post("/console/login", &[("username", "ana"), ("password", "ana-long-password"), ("pre", "x")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("csrf_invalid"));
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_then_allowed_after_the_pause() {
    let app = spawn_app().await;
    staff(&app, "ana", StaffRole::Reviewer).await;
    let mut v = Visitor::new(&app);
    for _ in 0..5 {
        assert_eq!(v.sign_in("ana", "wrong-password-1").await.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused during the pause.
    let throttled = v.sign_in("ana", "ana-long-password").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.body.contains("sign_in_throttled"));
    app.clock.advance(Duration::minutes(15));
    assert_eq!(v.sign_in("ana", "ana-long-password").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sessions_expire_and_sign_out_ends_them() {
    let app = spawn_app().await;
    staff(&app, "ana", StaffRole::Reviewer).await;
    let mut v = Visitor::new(&app);
    v.sign_in("ana", "ana-long-password").await;
    let session = v.cookies["lo_session"].clone();
    app.clock.advance(Duration::hours(8) + Duration::seconds(1));
    assert_eq!(v.get("/console/review").await.status, StatusCode::SEE_OTHER);

    v.sign_in("ana", "ana-long-password").await;
    assert_ne!(v.cookies["lo_session"], session);
    let csrf = v.csrf("/console/review").await;
    let out = v.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    // The old cookie no longer opens anything, even if the browser kept it.
    let mut replay = Visitor::new(&app);
    replay.cookies.insert("lo_session".into(), session);
    assert_eq!(replay.get("/console/review").await.status, StatusCode::SEE_OTHER);
    assert_eq!(v.get("/console/review").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn each_role_is_refused_the_others_pages() {
    let app = spawn_app().await;
    for (name, role) in [
        ("agent1", StaffRole::Agent),
        ("rev1", StaffRole::Reviewer),
        ("ware1", StaffRole::Warehouse),
        ("admin1", StaffRole::Admin),
    ] {
        staff(&app, name, role).await;
    }
    let pages = ["/console/intake", "/console/review", "/console/warehouse", "/console/overview"];
    let allowed: [(&str, &[&str]); 4] = [
        ("agent1", &["/console/intake"]),
        ("rev1", &["/console/review"]),
        ("ware1", &["/console/warehouse"]),
        ("admin1", &pages),
    ];
    for (name, ok) in allowed {
        let mut v = Visitor::new(&app);
        v.sign_in(name, &format!("{name}-long-password")).await;
        for page in pages {
            let got = v.get(page).await;
            if ok.contains(&page) {
                assert_eq!(got.status, StatusCode::OK, "{name} {page}");
            } else {
                assert_eq!(got.status, StatusCode::FORBIDDEN, "{name} {page}");
                assert!(got.body.contains("role_forbidden"), "{}", got.body);
                assert!(got.body.contains("Request id"));
            }
        }
    }
}

#[tokio::test]
async fn in_store_intake_review_and_refusals_name_the_staff_member() {
    let app = spawn_reviewed_app().await;
    seed_line(&app).await;
    staff(&app, "agent1", StaffRole::Agent).await;
    staff(&app, "rev1", StaffRole::Reviewer).await;

    let mut agent = Visitor::new(&app);
    agent.sign_in("agent1", "agent1-long-password").await;
    // Before verification: the masked number and the holder's name, nothing else.
    let found = agent.get("/console/intake?msisdn=%2B14155550142").await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.body.contains("••• ••• 0142"));
    assert!(found.body.contains("Li Wei"));
    assert!(!found.body.contains("4155550142"));
    assert!(!found.body.contains("li@example.com"));
    let missing = agent.get("/console/intake?msisdn=%2B14155550999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let csrf = found.hidden("csrf");
    let line = found.hidden("line_id");
    let form = |csrf: &str, expiry: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("line_id", line.clone()),
            ("id_type", "drivers_license".to_owned()),
            ("id_last4", "K42Z".to_owned()),
            ("id_expiry", expiry.to_owned()),
            ("attest", "yes".to_owned()),
            ("timing", "immediate".to_owned()),
        ]
    };
    let as_refs = |f: &Vec<(&'static str, String)>| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    // A forged form (no valid CSRF token) is refused and opens nothing.
    let forged = as_refs(&form("forged", "2030-01-31"));
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = agent.post("/console/intake", &forged).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("csrf_invalid"));
    // An expired photo ID cannot verify.
    let expired = as_refs(&form(&csrf, "2026-01-31"));
    let expired: Vec<(&str, &str)> = expired.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(agent.post("/console/intake", &expired).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.get("/api/v1/cases?line_id=LINE-C").await.1["items"].as_array().unwrap().is_empty());

    let good = as_refs(&form(&csrf, "2030-01-31"));
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let opened = agent.post("/console/intake", &good).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let case_path = opened.location.unwrap();
    let case_id = case_path.rsplit('/').next().unwrap().to_owned();
    let (_, case) = app.get(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(case["channel"], "store");
    let timeline = case["timeline"].as_array().unwrap();
    assert!(timeline.iter().any(|e| e["type"] == "identity_verified" && e["actor"]["kind"] == "staff"), "{case}");

    // The agent may not approve.
    app.drain().await;
    let csrf = agent.csrf(&case_path).await;
    let denied = agent.post(&format!("{case_path}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    let mut reviewer = Visitor::new(&app);
    reviewer.sign_in("rev1", "rev1-long-password").await;
    let queue = reviewer.get("/console/review").await;
    assert!(queue.body.contains(&case_id), "{}", queue.body);
    let page = reviewer.get(&case_path).await;
    let csrf = page.hidden("csrf");
    let approved = reviewer.post(&format!("{case_path}/approve"), &[("csrf", &csrf), ("note", "ok")]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let (_, case) = app.get(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(case["status"], "approved");
    let approval = case["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "approved").unwrap().clone();
    assert_eq!(approval["actor"]["kind"], "staff");
    assert!(approval["actor"]["id"].as_str().unwrap().starts_with("stf_"));
    // Approving twice is refused on the case page with the command's code.
    let again = reviewer.post(&format!("{case_path}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("illegal_transition"));
}

#[tokio::test]
async fn review_queue_orders_by_sla_and_highlights_overdue() {
    let app = spawn_reviewed_app().await;
    seed_line(&app).await;
    staff(&app, "rev1", StaffRole::Reviewer).await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-C", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    app.drain().await;
    let mut v = Visitor::new(&app);
    v.sign_in("rev1", "rev1-long-password").await;
    let before = v.get("/console/review").await;
    assert!(before.body.contains(&id));
    assert!(!before.body.contains("Overdue"));
    app.clock.advance(Duration::days(4));
    app.drain().await;
    v.sign_in("rev1", "rev1-long-password").await; // the 8-hour session ended meanwhile
    let after = v.get("/console/review").await;
    assert!(after.body.contains("Overdue"), "{}", after.body);
}

#[tokio::test]
async fn pages_speak_chinese_by_accept_language_or_the_switch() {
    let app = spawn_app().await;
    let mut v = Visitor::new(&app);
    v.lang = Some("zh-CN,zh;q=0.9");
    let login = v.get("/console/login").await;
    assert!(login.body.contains("lang=\"zh-Hans\""));
    assert!(login.body.contains("登录"));
    v.lang = None;
    assert!(v.get("/console/login").await.body.contains("Sign in"));
    let switched = v.get("/console/lang?to=zh-Hans&next=/console/login").await;
    assert_eq!(switched.location.as_deref(), Some("/console/login"));
    assert!(v.get("/console/login").await.body.contains("登录"));
    // Never a redirect off the site.
    let off = v.get("/console/lang?to=en&next=//evil.example").await;
    assert_eq!(off.location.as_deref(), Some("/console"));
}

#[tokio::test]
async fn warehouse_receives_and_inspects_a_device() {
    let app = spawn_app().await;
    app.post_ok("/api/v1/accounts", json!({"id": "ACC-W", "holder_name": "Bo Chen"}), StatusCode::CREATED).await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-W", "account_id": "ACC-W", "msisdn": "+1 408 555 0177", "plan": "postpaid"}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/devices",
        json!({"id": "DEV-W", "line_id": "LINE-W", "imei": "490154203237518", "model": "Pixel", "price_cents": 45000,
               "ownership": "leased", "must_return": true}),
        StatusCode::CREATED,
    )
    .await;
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-W", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.verify(&id).await;
    staff(&app, "ware1", StaffRole::Warehouse).await;
    let mut v = Visitor::new(&app);
    v.sign_in("ware1", "ware1-long-password").await;
    let list = v.get("/console/warehouse").await;
    assert!(list.body.contains(&id), "{}", list.body);
    let path = format!("/console/cases/{id}");
    let csrf = v.csrf(&path).await;
    let wrong = v.post(&format!("{path}/receive"), &[("csrf", &csrf), ("imei", "356938035643809")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("device_mismatch"));
    let ok = v.post(&format!("{path}/receive"), &[("csrf", &csrf), ("imei", "490154203237518")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let inspected =
        v.post(&format!("{path}/inspect"), &[("csrf", &csrf), ("condition", "good"), ("model_matches", "yes")]).await;
    assert_eq!(inspected.status, StatusCode::SEE_OTHER, "{}", inspected.body);
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["device_return"], "done", "{case}");
}

#[tokio::test]
async fn a_high_risk_case_shows_its_risk_and_needs_two_reviewers_in_the_console() {
    let mut config = lineout_app::EngineConfig::default();
    config.policy.auto_approve.enabled = false;
    // Every store request scores high here, so the in-store case needs four eyes.
    config.policy.fraud.risk.channel_points.store = 60;
    let app = spawn_app_with(config).await;
    seed_line(&app).await;
    staff(&app, "agent1", StaffRole::Agent).await;
    staff(&app, "rev1", StaffRole::Reviewer).await;
    staff(&app, "rev2", StaffRole::Reviewer).await;
    let mut agent = Visitor::new(&app);
    agent.sign_in("agent1", "agent1-long-password").await;
    let found = agent.get("/console/intake?msisdn=%2B14155550142").await;
    let (csrf, line) = (found.hidden("csrf"), found.hidden("line_id"));
    let opened = agent
        .post(
            "/console/intake",
            &[
                ("csrf", &csrf),
                ("line_id", &line),
                ("id_type", "passport"),
                ("id_last4", "X9Y8"),
                ("id_expiry", "2030-06-30"),
                ("attest", "yes"),
                ("timing", "immediate"),
            ],
        )
        .await;
    let case_path = opened.location.unwrap_or_else(|| panic!("{}", opened.body));
    app.drain().await;

    let mut first = Visitor::new(&app);
    first.sign_in("rev1", "rev1-long-password").await;
    let page = first.get(&case_path).await;
    assert!(page.body.contains("id=\"risk\"") && page.body.contains("channel +60"), "{}", page.body);
    assert!(page.body.contains("needs a second reviewer"));
    let csrf = page.hidden("csrf");
    let once = first.post(&format!("{case_path}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(once.status, StatusCode::SEE_OTHER, "{}", once.body);
    let after = first.get(&case_path).await;
    assert!(after.body.contains("first approval by staff stf_"), "{}", after.body);
    let twice = first.post(&format!("{case_path}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(twice.body.contains("same_reviewer"));

    let mut second = Visitor::new(&app);
    second.sign_in("rev2", "rev2-long-password").await;
    let csrf = second.csrf(&case_path).await;
    let approved = second.post(&format!("{case_path}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let id = case_path.rsplit('/').next().unwrap();
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "approved", "{case}");
}

#[tokio::test]
async fn an_agent_can_verify_in_store_with_a_code_texted_to_the_line() {
    let app = spawn_reviewed_app().await;
    seed_line(&app).await;
    staff(&app, "agent1", StaffRole::Agent).await;
    let mut agent = Visitor::new(&app);
    agent.sign_in("agent1", "agent1-long-password").await;
    let found = agent.get("/console/intake?msisdn=%2B14155550142").await;
    let (csrf, line) = (found.hidden("csrf"), found.hidden("line_id"));
    let opened =
        agent.post("/console/intake/code", &[("csrf", &csrf), ("line_id", &line), ("timing", "immediate")]).await;
    let case_path = opened.location.unwrap_or_else(|| panic!("{}", opened.body));
    app.drain().await;
    let page = agent.get(&case_path).await;
    assert!(page.body.contains("id=\"verify-code\""), "{}", page.body);
    let wrong = agent.post(&format!("{case_path}/verify-code"), &[("csrf", &csrf), ("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("code_invalid"));
    let code = crate::portal::latest_code(&app, "+14155550142");
    let ok = agent.post(&format!("{case_path}/verify-code"), &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let id = case_path.rsplit('/').next().unwrap();
    let (_, case) = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["verification_method"], "one_time_code", "{case}");
    let verified =
        case["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "identity_verified").unwrap().clone();
    assert_eq!(verified["actor"]["kind"], "staff");
}

#[tokio::test]
async fn the_overview_lists_dead_letters_for_an_admin() {
    let app = spawn_reviewed_app().await;
    seed_line(&app).await;
    staff(&app, "admin1", StaffRole::Admin).await;
    app.notifier.recorder.fail_next(100, false);
    let case = app
        .post_ok(
            "/api/v1/cases",
            json!({"line_id": "LINE-C", "channel": "web", "timing": {"kind": "immediate"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    app.drain().await;
    let mut admin = Visitor::new(&app);
    admin.sign_in("admin1", "admin1-long-password").await;
    let page = admin.get("/console/overview").await;
    assert_eq!(page.status, StatusCode::OK);
    let dead = page.body.split("id=\"dead-letters\"").nth(1).unwrap();
    assert!(dead.contains(&format!("href=\"/console/cases/{id}\"")) && dead.contains("notify"), "{dead}");
}
