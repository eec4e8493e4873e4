//! Prometheus metrics: the process-wide recorder ([`install`], once per process), the
//! middleware that counts and times every request by its route template, and the
//! `GET /metrics` handler, which adds the store's gauges at scrape time and renders
//! the text exposition format.
//!
//! Labels are bounded: the matched route template (never the concrete path, whose ids
//! would explode the series count), a known method or `other`, and the status.

use crate::routes::ROUTES;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lineout_app::Engine;
use lineout_domain::Status;
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Counter of answered requests; labels `route`, `method`, `status`.
pub const HTTP_REQUESTS: &str = "lineout_http_requests_total";
/// Histogram of request latency in seconds; labels `route`, `method`.
pub const HTTP_DURATION: &str = "lineout_http_request_duration_seconds";
pub const OUTBOX_PENDING: &str = "lineout_outbox_pending";
pub const OUTBOX_DEAD: &str = "lineout_outbox_dead";
pub const OUTBOX_OLDEST_PENDING_AGE: &str = "lineout_outbox_oldest_pending_age_seconds";
pub const TIMER_LAG: &str = "lineout_timer_lag_seconds";
/// Gauge of cases per `status`.
pub const CASES: &str = "lineout_cases";
/// Gauge: 1 when the last scrape read the store's figures, 0 when that failed.
pub const STORE_UP: &str = "lineout_store_up";

/// The `route` label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Bucket bounds of every `…_seconds` histogram.
pub const SECONDS_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Bucket bounds of the commit batch size histogram (the writer's batch is at most 1,024 by default).
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// How often histogram samples are folded into their buckets between scrapes, so
/// they do not pile up in memory when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Installs the Prometheus recorder as the process's global `metrics` recorder the
/// first time it is called and returns a handle to it; later calls return the same
/// handle. Also starts the upkeep thread.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(install_once).clone()
}

fn install_once() -> PrometheusHandle {
    let installed = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(lineout_app::metrics::COMMIT_BATCH_SIZE.into()), BATCH_BUCKETS)
        })
        .and_then(PrometheusBuilder::install_recorder);
    let handle = match installed {
        Ok(handle) => handle,
        Err(e) => {
            // Another recorder owns the process (an embedding program): /metrics then shows
            // only what this handle sees, which is nothing, rather than failing.
            tracing::warn!(error = %e, "cannot install the Prometheus recorder; /metrics will be empty");
            return PrometheusBuilder::new().build_recorder().handle();
        }
    };
    describe();
    let upkeep = handle.clone();
    let started = std::thread::Builder::new().name("lineout-metrics".into()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        }
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are folded at scrape time only");
    }
    handle
}

/// The HELP text of each metric.
fn describe() {
    use lineout_app::metrics as app;
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route template, method and status.");
    metrics::describe_histogram!(HTTP_DURATION, metrics::Unit::Seconds, "HTTP request latency by route template.");
    metrics::describe_histogram!(
        app::COMMAND_DURATION,
        metrics::Unit::Seconds,
        "Command latency including the wait for the group commit."
    );
    metrics::describe_counter!(app::COMMANDS, "Commands by name and outcome (ok or the error code).");
    metrics::describe_histogram!(app::COMMIT_BATCH_SIZE, "Jobs per group commit.");
    metrics::describe_counter!(app::COMMITS, "Group commits.");
    metrics::describe_counter!(app::DEAD_LETTERS, "Outbox rows given up on, by effect kind.");
    metrics::describe_gauge!(OUTBOX_PENDING, "Outbox rows waiting for delivery.");
    metrics::describe_gauge!(OUTBOX_DEAD, "Outbox rows dead-lettered.");
    metrics::describe_gauge!(
        OUTBOX_OLDEST_PENDING_AGE,
        metrics::Unit::Seconds,
        "Age of the oldest pending outbox row (0 when none)."
    );
    metrics::describe_gauge!(
        TIMER_LAG,
        metrics::Unit::Seconds,
        "How late the earliest due timer is (0 when none is due)."
    );
    metrics::describe_gauge!(CASES, "Cases by status.");
    metrics::describe_gauge!(STORE_UP, "1 when the last scrape could read the store's figures, else 0.");
}

/// The `route` label: the matched template, as the static text of [`ROUTES`] when it is
/// one of them (no allocation), or `unmatched`.
fn route_label(matched: Option<&MatchedPath>) -> SharedString {
    let Some(matched) = matched else { return SharedString::const_str(UNMATCHED) };
    let path = matched.as_str();
    match ROUTES.iter().find(|(_, p, _)| *p == path) {
        Some((_, p, _)) => SharedString::const_str(p),
        // Other matched templates (Swagger UI's) are few and fixed.
        None => SharedString::from_owned(path.to_owned()),
    }
}

/// The `method` label: the standard methods by name, anything else as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// The `status` label, without allocating for the statuses this API answers.
fn status_label(status: StatusCode) -> SharedString {
    let text = match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        301 => "301",
        303 => "303",
        304 => "304",
        307 => "307",
        308 => "308",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        other => return SharedString::from_owned(other.to_string()),
    };
    SharedString::const_str(text)
}

/// Counts and times each request by route template, method and status.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = route_label(req.extensions().get::<MatchedPath>());
    let response = next.run(req).await;
    let status = status_label(response.status());
    metrics::histogram!(HTTP_DURATION, "route" => route.clone(), "method" => method)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status).increment(1);
    response
}

/// Metrics in the Prometheus text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Metrics in the Prometheus text exposition format.",
               content_type = "text/plain", body = String))
)]
pub async fn scrape(State(state): State<AppState>) -> Response {
    let handle = install();
    record_store_gauges(&state.engine).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render()).into_response()
}

/// Sets the gauges read from the store. A failed read is logged and reported as
/// `lineout_store_up 0`; the request metrics are served all the same.
async fn record_store_gauges(engine: &Engine) {
    let read = tokio::try_join!(
        engine.outbox_stats(),
        engine.earliest_timer(),
        engine.case_counts(),
        engine.overdue_privacy_requests()
    );
    let (outbox, earliest, counts, privacy_overdue) = match read {
        Ok(figures) => figures,
        Err(e) => {
            tracing::warn!(code = e.code(), error = %e, "metrics: cannot read the store's figures");
            metrics::gauge!(STORE_UP).set(0.0);
            return;
        }
    };
    let now = engine.now();
    let age = |t: time::OffsetDateTime| (now - t).as_seconds_f64().max(0.0);
    metrics::gauge!(STORE_UP).set(1.0);
    metrics::gauge!(OUTBOX_PENDING).set(outbox.pending as f64);
    metrics::gauge!(OUTBOX_DEAD).set(outbox.dead as f64);
    metrics::gauge!(OUTBOX_OLDEST_PENDING_AGE).set(outbox.oldest_pending_at.map_or(0.0, age));
    metrics::gauge!(TIMER_LAG).set(earliest.map_or(0.0, age));
    metrics::gauge!(lineout_app::metrics::PRIVACY_OVERDUE).set(privacy_overdue as f64);
    // Every status, so one that empties drops to 0 instead of keeping its last count.
    for status in Status::ALL {
        let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
        metrics::gauge!(CASES, "status" => status.as_str()).set(n as f64);
    }
}
