//! The staff console: server-rendered pages under `/console` for agents, reviewers,
//! warehouse staff and administrators.
//!
//! Sign-in sets an HttpOnly, SameSite=Strict session cookie (Secure unless configured
//! off for plain-HTTP development); the session's CSRF token is a hidden field of
//! every form and is checked on every POST (the sign-in form itself uses a
//! double-submit cookie). Every action runs as a command with `Actor::Staff(id)`, so
//! the case's events name the member of staff. Roles gate every page on the server.

// Page handlers refuse with a ready HTML page (an axum `Response`, moved once per
// request); boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

pub(crate) mod i18n;
pub(crate) mod pages;

use crate::routes::RequestId;
use crate::state::AppState;
use axum::Router;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
pub use i18n::Lang;
use lineout_app::Error as AppError;
use lineout_app::staff::{SignInThrottle, StaffRole};
use lineout_app::{LineRef, OpenRequest};
use lineout_domain::case::CaseKind;
use lineout_domain::case::{Actor, Command, DeviceCondition, Inspection, RejectReason};
use lineout_domain::values::{ActorId, CaseId, Imei, Msisdn};
use lineout_domain::verification::{DocumentType, PhotoId, Proof};
use lineout_domain::{Channel, Status, Timing};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Mutex;
use time::Duration;

/// The console's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// How long a session lasts from sign-in.
    pub session_minutes: i64,
    /// Mark cookies `Secure` (turn off only for plain-HTTP development on another host
    /// than localhost; browsers accept Secure cookies from http://localhost).
    pub secure_cookies: bool,
    /// Failed sign-ins per username or client address before a pause.
    pub max_failed_sign_ins: u32,
    /// How long that pause lasts.
    pub sign_in_pause_minutes: i64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { session_minutes: 480, secure_cookies: true, max_failed_sign_ins: 5, sign_in_pause_minutes: 15 }
    }
}

/// The console's shared state: settings and the sign-in throttle.
#[derive(Debug)]
pub struct ConsoleState {
    config: ConsoleConfig,
    throttle: Mutex<SignInThrottle>,
}

impl ConsoleState {
    /// Whether cookies are marked `Secure` (shared with the portal).
    pub fn secure_cookies(&self) -> bool {
        self.config.secure_cookies
    }

    pub fn new(config: ConsoleConfig) -> Self {
        let throttle =
            SignInThrottle::new(config.max_failed_sign_ins, Duration::minutes(config.sign_in_pause_minutes), 10_000);
        Self { config, throttle: Mutex::new(throttle) }
    }
}

const SESSION_COOKIE: &str = "lo_session";
/// The sign-in forms' double-submit nonce (console and portal).
pub(crate) const PRE_COOKIE: &str = "lo_pre";
/// Most cases a console list shows.
const LIST_LIMIT: u32 = 200;

/// The console's routes (merged into the application router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/lang", get(switch_language))
        .route("/console/overview", get(overview))
        .route("/console/review", get(review_queue))
        .route("/console/warehouse", get(warehouse))
        .route("/console/intake", get(intake).post(intake_open))
        .route("/console/intake/code", post(intake_by_code))
        .route("/console/cases/{id}/verify-code", post(verify_code))
        .route("/console/cases/{id}", get(case_page))
        .route("/console/cases/{id}/approve", post(approve))
        .route("/console/cases/{id}/reject", post(reject))
        .route("/console/cases/{id}/receive", post(receive))
        .route("/console/cases/{id}/inspect", post(inspect))
}

// ---- Request context, cookies, errors ----------------------------------------------------

/// What every page needs: the language, the request id and the path.
pub struct Ctx {
    pub lang: Lang,
    pub request_id: String,
    pub path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            lang: Lang::from_headers(&parts.headers),
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default(),
            path: parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        })
    }
}

/// The value of cookie `name`, if the request has it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

pub(crate) fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")).ok()
}

/// A refusal rendered as an HTML page with a stable code and the request id.
pub struct PageError {
    code: &'static str,
    message: String,
}

impl PageError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
    pub(crate) fn render(self, ctx: &Ctx) -> Response {
        let status =
            StatusCode::from_u16(lineout_app::error::status_of(self.code)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, pages::error_page(ctx, self.code, &self.message)).page()
    }
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        if matches!(e, AppError::Storage(_) | AppError::Internal(_)) {
            tracing::error!(code = e.code(), "console request failed");
        }
        Self { code: e.code(), message: e.public_message() }
    }
}

pub(crate) type PageResult = Result<Response, Response>;

/// Markup (optionally with a status) as an HTML response.
pub(crate) trait IntoPage {
    fn page(self) -> Response;
}

impl IntoPage for maud::Markup {
    fn page(self) -> Response {
        Html(self.into_string()).into_response()
    }
}

impl IntoPage for (StatusCode, maud::Markup) {
    fn page(self) -> Response {
        (self.0, Html(self.1.into_string())).into_response()
    }
}

/// The client's address when the server was started with connection info.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip())))
    }
}

/// The signed-in member of staff, or a redirect to the sign-in page.
pub struct Staff {
    pub id: String,
    pub name: String,
    pub role: StaffRole,
    csrf: String,
}

impl Staff {
    fn actor(&self) -> Result<Actor, PageError> {
        ActorId::parse(&self.id)
            .map(Actor::Staff)
            .map_err(|_| PageError::new("internal_error", "the staff id is not a valid actor id"))
    }
    fn may(&self, roles: &[StaffRole]) -> bool {
        self.role == StaffRole::Admin || roles.contains(&self.role)
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let next = parts.uri.path().to_owned();
        let to_login = || Redirect::to(&format!("/console/login?next={}", url_encode(&next))).into_response();
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        match state.engine.staff_session(secret).await {
            Ok(Some((session, staff))) => match StaffRole::parse(&staff.role) {
                Some(role) => Ok(Staff { id: staff.id, name: staff.display_name, role, csrf: session.csrf }),
                None => Err(to_login()),
            },
            Ok(None) => Err(to_login()),
            Err(e) => {
                let ctx = Ctx::from_request_parts(parts, state).await.unwrap_or_else(|e| match e {});
                Err(PageError::from(e).render(&ctx))
            }
        }
    }
}

/// Refuses a role that may not use the page.
fn allow(staff: &Staff, roles: &[StaffRole], ctx: &Ctx) -> Result<(), Response> {
    if staff.may(roles) {
        Ok(())
    } else {
        Err(PageError::new("role_forbidden", format!("the role '{}' may not use this page", staff.role.as_str()))
            .render(ctx))
    }
}

/// Constant-time comparison of the form's token with the session's.
fn check_csrf(staff: &Staff, presented: &str, ctx: &Ctx) -> Result<(), Response> {
    check_form_token(&staff.csrf, presented, ctx)
}

/// A form's anti-forgery token against its session's (console and portal).
pub(crate) fn check_form_token(expected: &str, presented: &str, ctx: &Ctx) -> Result<(), Response> {
    if constant_eq(expected.as_bytes(), presented.as_bytes()) {
        Ok(())
    } else {
        Err(PageError::new("csrf_invalid", "the form's anti-forgery token is missing or wrong").render(ctx))
    }
}

/// A sign-in form's double-submit nonce against its cookie (console and portal).
pub(crate) fn check_sign_in_nonce(headers: &HeaderMap, nonce: &str, ctx: &Ctx) -> Result<(), Response> {
    let presented = cookie(headers, PRE_COOKIE).unwrap_or_default();
    if presented.is_empty() || !constant_eq(presented.as_bytes(), nonce.as_bytes()) {
        return Err(
            PageError::new("csrf_invalid", "the sign-in form expired; reload the page and try again").render(ctx)
        );
    }
    Ok(())
}

/// When the line ends, from a form's `timing` field.
pub(crate) fn parse_timing(raw: &str) -> Option<Timing> {
    match raw {
        "immediate" => Some(Timing::Immediate),
        "end_of_cycle" => Some(Timing::EndOfCycle),
        _ => None,
    }
}

pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A local path to go back to: only `/console…` or `/portal…` paths, never another
/// origin; `fallback` otherwise.
fn safe_next_or(next: Option<&str>, fallback: &str) -> String {
    match next {
        Some(n)
            if (n.starts_with("/console") || n.starts_with("/portal"))
                && !n.contains("//")
                && !n.contains('\\')
                && n.len() <= 200 =>
        {
            n.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

fn safe_next(next: Option<&str>) -> String {
    safe_next_or(next, "/console")
}

/// The language switch of every page: remembers the choice for a year and goes back.
pub(crate) fn remember_language(state: &AppState, ctx: &Ctx, to: &str, next: Option<&str>, home: &str) -> Response {
    let Some(lang) = Lang::parse(to) else {
        return PageError::new("invalid_query", "to: 'en' or 'zh-Hans'").render(ctx);
    };
    let mut response = see_other(&safe_next_or(next, home));
    let secure = if state.console.config.secure_cookies { "; Secure" } else { "" };
    let value = format!("{}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}", i18n::LANG_COOKIE, lang.tag());
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn case_id(raw: &str, ctx: &Ctx) -> Result<CaseId, Response> {
    CaseId::parse(raw).map_err(|_| PageError::new("case_not_found", "no case has this id").render(ctx))
}

// ---- Sign-in -------------------------------------------------------------------------------

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(State(state): State<AppState>, ctx: Ctx, Query(q): Query<NextQuery>) -> Response {
    let nonce = state.engine.fresh_nonce();
    let mut response = pages::login(&ctx, &nonce, &safe_next(q.next.as_deref()), None).page();
    if let Some(c) = set_cookie(PRE_COOKIE, &nonce, 1800, state.console.config.secure_cookies) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    pre: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ClientAddr(client): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(refused) = check_sign_in_nonce(&headers, &form.pre, &ctx) {
        return refused;
    }
    let user_key = format!("u:{}", form.username.to_ascii_lowercase());
    let addr_key = client.map(|ip| format!("a:{ip}"));
    let now = state.engine.now();
    let allowed = state
        .console
        .throttle
        .lock()
        .is_ok_and(|t| t.allows(&user_key, now) && addr_key.as_deref().is_none_or(|k| t.allows(k, now)));
    let next = safe_next(form.next.as_deref());
    if !allowed {
        return PageError::from(AppError::SignInThrottled).render(&ctx);
    }
    let ttl = Duration::minutes(state.console.config.session_minutes);
    match state.engine.sign_in(form.username, form.password, ttl).await {
        Ok(signed) => {
            if let Ok(mut t) = state.console.throttle.lock() {
                t.succeeded(&user_key);
            }
            tracing::info!(staff = %signed.staff.id, "staff signed in");
            let mut response = see_other(&next);
            let max_age = state.console.config.session_minutes * 60;
            if let Some(c) = set_cookie(SESSION_COOKIE, &signed.secret, max_age, state.console.config.secure_cookies) {
                response.headers_mut().append(header::SET_COOKIE, c);
            }
            if let Some(c) = set_cookie(PRE_COOKIE, "", 0, state.console.config.secure_cookies) {
                response.headers_mut().append(header::SET_COOKIE, c);
            }
            response
        }
        Err(AppError::SignInFailed) => {
            if let Ok(mut t) = state.console.throttle.lock() {
                t.failed(&user_key, now);
                if let Some(k) = &addr_key {
                    t.failed(k, now);
                }
            }
            let error = AppError::SignInFailed;
            (
                StatusCode::UNAUTHORIZED,
                pages::login(&ctx, &form.pre, &next, Some((error.code(), error.public_message()))),
            )
                .page()
        }
        Err(e) => PageError::from(e).render(&ctx),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    staff: Staff,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&staff, &form.csrf, &ctx)?;
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        state.engine.sign_out(secret).await.map_err(|e| PageError::from(e).render(&ctx))?;
    }
    let mut response = see_other("/console/login");
    if let Some(c) = set_cookie(SESSION_COOKIE, "", 0, state.console.config.secure_cookies) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
    next: Option<String>,
}

/// The language switch.
async fn switch_language(State(state): State<AppState>, ctx: Ctx, Query(q): Query<LangQuery>) -> Response {
    remember_language(&state, &ctx, &q.to, q.next.as_deref(), "/console")
}

// ---- Pages ---------------------------------------------------------------------------------

async fn home(staff: Staff) -> Response {
    see_other(match staff.role {
        StaffRole::Admin => "/console/overview",
        StaffRole::Reviewer => "/console/review",
        StaffRole::Warehouse => "/console/warehouse",
        StaffRole::Agent => "/console/intake",
    })
}

async fn overview(State(state): State<AppState>, ctx: Ctx, staff: Staff) -> PageResult {
    allow(&staff, &[], &ctx)?;
    let e = &state.engine;
    let counts = e.case_counts().await.map_err(|e| PageError::from(e).render(&ctx))?;
    let stats = e.outbox_stats().await.map_err(|e| PageError::from(e).render(&ctx))?;
    let overdue = list(&state, Some(Status::InReview)).await.map_err(|e| e.render(&ctx))?;
    let overdue: Vec<_> = overdue.into_iter().filter(|c| c.review_overdue).collect();
    let dead = e
        .list_outbox(lineout_app::ports::OutboxStatus::Dead, None, 20)
        .await
        .map_err(|e| PageError::from(e).render(&ctx))?;
    Ok(pages::overview(&ctx, &staff, &counts, &stats, &overdue, &dead).page())
}

async fn list(state: &AppState, status: Option<Status>) -> Result<Vec<lineout_domain::Case>, PageError> {
    let filter = lineout_app::ports::CaseFilter {
        status,
        channel: None,
        line_id: None,
        account_id: None,
        opened_from: None,
        opened_to: None,
        after: None,
        limit: LIST_LIMIT,
    };
    Ok(state.engine.list_cases(filter).await?)
}

async fn review_queue(State(state): State<AppState>, ctx: Ctx, staff: Staff) -> PageResult {
    allow(&staff, &[StaffRole::Reviewer], &ctx)?;
    let mut cases = list(&state, Some(Status::InReview)).await.map_err(|e| e.render(&ctx))?;
    // By SLA: the soonest due first (overdue ones are the earliest).
    cases.sort_by_key(|c| (c.review_due_at.unwrap_or(c.opened_at), c.id.clone()));
    Ok(pages::review_queue(&ctx, &staff, &cases, state.engine.now()).page())
}

async fn warehouse(State(state): State<AppState>, ctx: Ctx, staff: Staff) -> PageResult {
    allow(&staff, &[StaffRole::Warehouse], &ctx)?;
    let mut cases = Vec::new();
    for status in [Status::Verifying, Status::Preparing] {
        let found = list(&state, Some(status)).await.map_err(|e| e.render(&ctx))?;
        cases.extend(found.into_iter().filter(|c| c.device_return == lineout_domain::case::Step::Pending));
    }
    cases.sort_by_key(|c| (!c.device_arrived, c.return_deadline, c.id.clone()));
    Ok(pages::warehouse(&ctx, &staff, &cases).page())
}

async fn case_page(State(state): State<AppState>, ctx: Ctx, staff: Staff, Path(id): Path<String>) -> PageResult {
    let id = case_id(&id, &ctx)?;
    let detail = state.engine.case_detail(id).await.map_err(|e| PageError::from(e).render(&ctx))?;
    let holder = state.engine.account(detail.case.facts.account_id.clone()).await.ok().map(|a| a.holder_name);
    Ok(pages::case_page(&ctx, &staff, &detail, holder.as_deref(), None).page())
}

/// Runs a staff command on a case and shows the case again (with the refusal, if any).
async fn act(state: &AppState, ctx: &Ctx, staff: &Staff, id: CaseId, cmd: Command) -> PageResult {
    let actor = staff.actor().map_err(|e| e.render(ctx))?;
    let outcome = state.engine.command(id.clone(), cmd, actor).await.map(|_| ());
    case_outcome(state, ctx, staff, id, outcome).await
}

/// Back to the case after an action, or the case page with the refusal's code and
/// message (internal failures get the error page).
async fn case_outcome(
    state: &AppState,
    ctx: &Ctx,
    staff: &Staff,
    id: CaseId,
    outcome: Result<(), AppError>,
) -> PageResult {
    match outcome {
        Ok(()) => Ok(see_other(&format!("/console/cases/{id}"))),
        Err(e @ (AppError::Storage(_) | AppError::Internal(_))) => Err(PageError::from(e).render(ctx)),
        Err(e) => {
            let detail = state.engine.case_detail(id).await.map_err(|e| PageError::from(e).render(ctx))?;
            let status = StatusCode::from_u16(lineout_app::error::status_of(e.code())).unwrap_or(StatusCode::CONFLICT);
            let holder = state.engine.account(detail.case.facts.account_id.clone()).await.ok().map(|a| a.holder_name);
            Ok((status, pages::case_page(ctx, staff, &detail, holder.as_deref(), Some((e.code(), e.public_message()))))
                .page())
        }
    }
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

fn note(raw: Option<String>, ctx: &Ctx) -> Result<Option<String>, Response> {
    let n = raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(s) = &n
        && (s.chars().count() > 500 || s.chars().any(|c| c.is_control() && c != '\n' && c != '\r'))
    {
        return Err(PageError::new("invalid_text", "the note must be at most 500 characters").render(ctx));
    }
    Ok(n)
}

async fn approve(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    allow(&staff, &[StaffRole::Reviewer], &ctx)?;
    check_csrf(&staff, &form.csrf, &ctx)?;
    let id = case_id(&id, &ctx)?;
    let note = note(form.note, &ctx)?;
    act(&state, &ctx, &staff, id, Command::Approve { note }).await
}

async fn reject(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    allow(&staff, &[StaffRole::Reviewer], &ctx)?;
    check_csrf(&staff, &form.csrf, &ctx)?;
    let id = case_id(&id, &ctx)?;
    let reason = match form.reason.as_deref().and_then(|r| pages::REJECT_REASONS.iter().find(|(k, _, _)| *k == r)) {
        Some((key, _, _)) => parse_reason(key),
        None => None,
    };
    let Some(reason) = reason else {
        return Err(PageError::new("invalid_field", "reason: choose one of the listed reasons").render(&ctx));
    };
    let note = note(form.note, &ctx)?;
    act(&state, &ctx, &staff, id, Command::Reject { reason, note }).await
}

fn parse_reason(key: &str) -> Option<RejectReason> {
    serde_json::from_value(serde_json::Value::String(key.to_owned())).ok()
}

#[derive(Deserialize)]
struct ReceiveForm {
    csrf: String,
    imei: String,
}

async fn receive(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<ReceiveForm>,
) -> PageResult {
    allow(&staff, &[StaffRole::Warehouse], &ctx)?;
    check_csrf(&staff, &form.csrf, &ctx)?;
    let id = case_id(&id, &ctx)?;
    let imei = Imei::parse(form.imei.trim())
        .map_err(|e| PageError::new("invalid_field", format!("imei: {e}")).render(&ctx))?;
    act(&state, &ctx, &staff, id, Command::ReceiveDevice { imei, inspection: None }).await
}

#[derive(Deserialize)]
struct InspectForm {
    csrf: String,
    condition: String,
    #[serde(default)]
    missing: String,
    #[serde(default)]
    model_matches: Option<String>,
    #[serde(default)]
    notes: Option<String>,
}

async fn inspect(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<InspectForm>,
) -> PageResult {
    allow(&staff, &[StaffRole::Warehouse], &ctx)?;
    check_csrf(&staff, &form.csrf, &ctx)?;
    let id = case_id(&id, &ctx)?;
    let condition: DeviceCondition = serde_json::from_value(serde_json::Value::String(form.condition.clone()))
        .map_err(|_| PageError::new("invalid_field", "condition: choose one of the listed conditions").render(&ctx))?;
    let missing: Vec<String> =
        form.missing.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).take(20).collect();
    let inspection = Inspection {
        condition,
        missing_accessories: missing,
        model_matches: form.model_matches.is_some(),
        notes: note(form.notes, &ctx)?,
        photos: Vec::new(),
    };
    act(&state, &ctx, &staff, id, Command::InspectDevice { inspection }).await
}

// ---- In-store intake -------------------------------------------------------------------------

#[derive(Deserialize)]
struct IntakeQuery {
    msisdn: Option<String>,
}

async fn intake(State(state): State<AppState>, ctx: Ctx, staff: Staff, Query(q): Query<IntakeQuery>) -> PageResult {
    allow(&staff, &[StaffRole::Agent], &ctx)?;
    let Some(raw) = q.msisdn.filter(|s| !s.trim().is_empty()) else {
        return Ok(pages::intake(&ctx, &staff, None, None).page());
    };
    let msisdn = match Msisdn::parse(raw.trim()) {
        Ok(m) => m,
        Err(e) => {
            let err = ("invalid_field", format!("msisdn: {e}"));
            return Ok((StatusCode::BAD_REQUEST, pages::intake(&ctx, &staff, None, Some(err))).page());
        }
    };
    let found = state.engine.find_line(msisdn).await.map_err(|e| PageError::from(e).render(&ctx))?;
    let Some(line) = found else {
        let err = ("line_not_found", i18n::t(ctx.lang, "not_found_line").to_owned());
        return Ok((StatusCode::NOT_FOUND, pages::intake(&ctx, &staff, None, Some(err))).page());
    };
    let account = state.engine.account(line.account_id.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?;
    // CPNI: before verification only the masked number and the holder's name.
    let found = pages::FoundLine {
        line_id: line.id.to_string(),
        masked: format!("••• ••• {}", line.msisdn.last4()),
        holder: account.holder_name,
    };
    Ok(pages::intake(&ctx, &staff, Some(&found), None).page())
}

#[derive(Deserialize)]
struct IntakeForm {
    csrf: String,
    line_id: String,
    id_type: String,
    id_last4: String,
    id_expiry: String,
    #[serde(default)]
    attest: Option<String>,
    timing: String,
}

async fn intake_open(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    Form(form): Form<IntakeForm>,
) -> PageResult {
    allow(&staff, &[StaffRole::Agent], &ctx)?;
    check_csrf(&staff, &form.csrf, &ctx)?;
    let bad = |field: &str, msg: &str| PageError::new("invalid_field", format!("{field}: {msg}")).render(&ctx);
    let line = lineout_domain::values::LineId::parse(&form.line_id).map_err(|_| bad("line_id", "not a line id"))?;
    let document_type: DocumentType = pages::ID_TYPES
        .iter()
        .find(|(k, _, _)| *k == form.id_type)
        .and_then(|(k, _, _)| serde_json::from_value(serde_json::Value::String((*k).to_owned())).ok())
        .ok_or_else(|| bad("id_type", "choose one of the listed document types"))?;
    let last4 = form.id_last4.trim().to_ascii_uppercase();
    if last4.len() != 4 || !last4.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad("id_last4", "exactly 4 letters or digits"));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let expires_on =
        time::Date::parse(form.id_expiry.trim(), &format).map_err(|_| bad("id_expiry", "a date YYYY-MM-DD"))?;
    if expires_on < state.engine.now().date() {
        return Err(
            PageError::new("photo_id_expired", "the photo ID has expired; it cannot verify the customer").render(&ctx)
        );
    }
    if form.attest.is_none() {
        return Err(bad("attest", "confirm that you checked the photo ID in person"));
    }
    let request = store_request(line, &form.timing, &ctx)?;
    let actor = staff.actor().map_err(|e| e.render(&ctx))?;
    let case = state
        .engine
        .open_verified_case(request, Proof::PhotoId { document: PhotoId { document_type, last4, expires_on } }, actor)
        .await
        .map_err(|e| PageError::from(e).render(&ctx))?;
    Ok(see_other(&format!("/console/cases/{}", case.id)))
}

/// A cancellation asked for in a store, for a line, ending when the form says.
fn store_request(line: lineout_domain::values::LineId, timing: &str, ctx: &Ctx) -> Result<OpenRequest, Response> {
    let timing = parse_timing(timing)
        .ok_or_else(|| PageError::new("invalid_field", "timing: choose when the line ends").render(ctx))?;
    Ok(OpenRequest {
        kind: CaseKind::Cancellation,
        line: LineRef::Id(line),
        channel: Channel::Store,
        timing,
        note: None,
        callback: false,
    })
}

#[derive(Deserialize)]
struct IntakeCodeForm {
    csrf: String,
    line_id: String,
    timing: String,
}

/// In-store intake verified by a one-time code texted to the line: opens the case and
/// sends the code; the agent types what the customer received on the case page.
async fn intake_by_code(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    Form(form): Form<IntakeCodeForm>,
) -> PageResult {
    allow(&staff, &[StaffRole::Agent], &ctx)?;
    check_csrf(&staff, &form.csrf, &ctx)?;
    let bad = |field: &str, msg: &str| PageError::new("invalid_field", format!("{field}: {msg}")).render(&ctx);
    let line = lineout_domain::values::LineId::parse(&form.line_id).map_err(|_| bad("line_id", "not a line id"))?;
    let request = store_request(line, &form.timing, &ctx)?;
    let actor = staff.actor().map_err(|e| e.render(&ctx))?;
    let case = state.engine.open_case(request, actor.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?;
    state
        .engine
        .send_verification_code(case.id.clone(), lineout_domain::verification::CodeDestination::Line, actor)
        .await
        .map_err(|e| PageError::from(e).render(&ctx))?;
    Ok(see_other(&format!("/console/cases/{}", case.id)))
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

/// The code the customer received, typed by the agent in the store.
async fn verify_code(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    addr: ClientAddr,
    Path(id): Path<String>,
    Form(form): Form<CodeForm>,
) -> PageResult {
    allow(&staff, &[StaffRole::Agent], &ctx)?;
    check_csrf(&staff, &form.csrf, &ctx)?;
    let id = case_id(&id, &ctx)?;
    let actor = staff.actor().map_err(|e| e.render(&ctx))?;
    let client = addr.0.map(|ip| lineout_app::ClientAddress(ip.to_string()));
    let request = lineout_app::VerificationRequest::Code(form.code);
    let outcome = state.engine.verify_identity(id.clone(), request, client, actor).await.map(|_| ());
    case_outcome(&state, &ctx, &staff, id, outcome).await
}
