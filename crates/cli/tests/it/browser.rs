//! The pages in a real browser: serves lineout on a real port (manual clock, fake
//! adapters, seeded staff and lines) and runs the playwright-core journeys in
//! `crates/web/tests-browser/*.mjs` against Debian's headless Chromium.
//!
//! Skipped when Chromium, Node.js or the npm packages are missing, unless
//! `LINEOUT_REQUIRE_BROWSER=1` (CI sets it), which turns a skip into a failure.
//! `LINEOUT_SCREENSHOTS=<dir>` saves screenshots of the main pages (docs/screenshots).

use crate::console::{spawn_reviewed_app, staff};
use crate::support::TestApp;
use axum::http::StatusCode;
use lineout_app::staff::StaffRole;
use serde_json::json;
use std::path::{Path, PathBuf};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests-browser")
}

/// Whether the browser journeys can run here; panics if they must but cannot.
fn ready() -> bool {
    let chromium = std::env::var("LINEOUT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<String> = [
        (Path::new(&chromium).exists(), format!("{chromium} (Debian package chromium)")),
        (std::process::Command::new("node").arg("--version").output().is_ok(), "node".into()),
        (
            browser_dir().join("node_modules/playwright-core/package.json").exists(),
            "crates/web/tests-browser/node_modules (npm install there)".into(),
        ),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("LINEOUT_REQUIRE_BROWSER").as_deref() != Ok("1"),
        "LINEOUT_REQUIRE_BROWSER=1 but missing: {}",
        missing.join(", ")
    );
    eprintln!("skipping the browser tests; missing: {}", missing.join(", "));
    false
}

async fn seed(app: &TestApp) {
    for (name, role) in [
        ("agent1", StaffRole::Agent),
        ("rev1", StaffRole::Reviewer),
        ("ware1", StaffRole::Warehouse),
        ("admin1", StaffRole::Admin),
    ] {
        staff(app, name, role).await;
    }
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-B", "holder_name": "Li Wei", "email": "li@example.com", "language": "zh-Hans"}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/accounts",
        json!({"id": "ACC-E", "holder_name": "Maria Lopez", "email": "maria@example.com", "prepaid_balance_cents": 1875}),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(
        "/api/v1/lines",
        json!({"id": "LINE-E", "account_id": "ACC-E", "msisdn": "+1 415 555 0144", "plan": "prepaid"}),
        StatusCode::CREATED,
    )
    .await;
    for (id, msisdn) in [("LINE-B1", "+1 415 555 0142"), ("LINE-B2", "+1 415 555 0143"), ("LINE-B3", "+1 415 555 0145")]
    {
        app.post_ok(
            "/api/v1/lines",
            json!({"id": id, "account_id": "ACC-B", "msisdn": msisdn, "plan": "prepaid"}),
            StatusCode::CREATED,
        )
        .await;
    }
}

/// The test's "phone": the latest one-time code the fake notifier sent to a number or
/// address (`GET /latest-code?to=+14155550144`), so the browser journeys can type it.
async fn serve_inbox(app: &TestApp, stopped: tokio::sync::watch::Receiver<bool>) -> String {
    use axum::extract::{Query, State};
    use std::collections::HashMap;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let notifier = app.notifier.clone();
    let inbox = axum::Router::new()
        .route(
            "/latest-code",
            axum::routing::get(
                |State(n): State<std::sync::Arc<lineout_adapters::fakes::FakeNotifier>>,
                 Query(q): Query<HashMap<String, String>>| async move {
                    let to = q.get("to").cloned().unwrap_or_default();
                    crate::portal::find_latest_code(&n, &to).unwrap_or_default()
                },
            ),
        )
        .with_state(notifier);
    let mut stop = stopped;
    tokio::spawn(async move {
        let _ = axum::serve(listener, inbox)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    base
}

/// Serves `app` on a free port with a worker loop; returns the base URL and a stopper.
async fn serve(app: &TestApp) -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let state = lineout_web::AppState::new(app.engine.clone());
    let mut web_stop = stopped.clone();
    tokio::spawn(lineout_web::serve(listener, state, async move {
        let _ = web_stop.wait_for(|s| *s).await;
    }));
    tokio::spawn(lineout::serve::worker_loop(app.engine.clone(), std::time::Duration::from_millis(20), stopped));
    (base, stop)
}

fn run_journeys(script: &str, base: &str, inbox: &str) -> (bool, String) {
    let mut cmd = std::process::Command::new("node");
    cmd.arg(browser_dir().join(script)).env("BASE", base).env("INBOX", inbox);
    if let Ok(c) = std::env::var("LINEOUT_CHROMIUM") {
        cmd.env("CHROMIUM", c);
    }
    if let Ok(dir) = std::env::var("LINEOUT_SCREENSHOTS") {
        cmd.env("SCREENSHOTS", dir);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_and_the_console_in_headless_chromium() {
    if !ready() {
        return;
    }
    let app = spawn_reviewed_app().await;
    seed(&app).await;
    let (base, stop) = serve(&app).await;
    let inbox = serve_inbox(&app, stop.subscribe()).await;
    let (ok, output) = tokio::task::spawn_blocking(move || run_journeys("journeys.mjs", &base, &inbox)).await.unwrap();
    let _ = stop.send(true);
    println!("{output}");
    assert!(ok, "browser journeys failed:\n{output}");
}
