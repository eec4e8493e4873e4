//! The customer portal under `/portal`: sign in with the line's number and a one-time
//! code, cancel the line in at most four screens (my line → before you cancel →
//! confirm with a code → the case), follow the case, withdraw, report "this wasn't
//! me", download the statement and the return label, and check a message's
//! authenticity code without signing in.
//!
//! Cookies and CSRF work as in the console: an HttpOnly SameSite=Strict session cookie,
//! the session's token in every form, a double-submit nonce on the sign-in forms.

// Page handlers refuse with a ready HTML page (an axum `Response`, moved once per
// request); boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod pages;

use crate::console::i18n::t;
use crate::console::{
    ClientAddr, Ctx, IntoPage, PRE_COOKIE, PageError, PageResult, check_form_token, check_sign_in_nonce, cookie,
    parse_timing, see_other, set_cookie,
};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use lineout_app::engine::portal::SignInRefusal;
use lineout_app::{ClientAddress, Error as AppError, LineRef, OpenRequest, VerificationRequest};
use lineout_domain::account::Line;
use lineout_domain::case::{Actor, CaseKind, Command};
use lineout_domain::policy::RefundMethod;
use lineout_domain::values::Msisdn;
use lineout_domain::verification::CodeDestination;
use lineout_domain::{Case, Channel, Status};
use serde::Deserialize;
use time::Duration;

const SESSION_COOKIE: &str = "lo_customer";
/// A customer session lasts this long from sign-in.
const SESSION_MINUTES: i64 = 30;

/// The portal's routes (merged into the application router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(home))
        .route("/portal/code", post(send_code))
        .route("/portal/sign-in", post(sign_in))
        .route("/portal/logout", post(logout))
        .route("/portal/lang", get(switch_language))
        .route("/portal/cancel", get(before_cancel).post(submit_cancel))
        .route("/portal/confirm", get(confirm_page).post(confirm))
        .route("/portal/transfer-pin", post(transfer_pin))
        .route("/portal/case", get(case_page))
        .route("/portal/case/withdraw", post(withdraw))
        .route("/portal/case/not-me", post(not_me))
        .route("/portal/case/statement", get(statement))
        .route("/portal/case/label", get(label))
        .route("/portal/authenticity", get(authenticity))
        .route("/portal/export", post(request_export))
        .route("/portal/export/{token}", get(download_export))
}

/// The signed-in customer and their line.
pub struct Customer {
    pub line: Line,
    csrf: String,
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(see_other("/portal")) };
        match state.engine.portal_session(secret).await {
            Ok(Some((session, line))) => Ok(Customer { line, csrf: session.csrf }),
            Ok(None) => Err(see_other("/portal")),
            Err(e) => {
                let ctx = Ctx::from_request_parts(parts, state).await.unwrap_or_else(|e| match e {});
                Err(PageError::from(e).render(&ctx))
            }
        }
    }
}

fn check_csrf(customer: &Customer, presented: &str, ctx: &Ctx) -> Result<(), Response> {
    check_form_token(&customer.csrf, presented, ctx)
}

fn client(addr: ClientAddr) -> Option<ClientAddress> {
    addr.0.map(|ip| ClientAddress(ip.to_string()))
}

fn secure(state: &AppState) -> bool {
    state.console.secure_cookies()
}

/// The line's latest cancellation case, open or not.
async fn latest_case(state: &AppState, line: &Line) -> Result<Option<Case>, PageError> {
    let filter = lineout_app::ports::CaseFilter {
        status: None,
        channel: None,
        line_id: Some(line.id.clone()),
        account_id: None,
        opened_from: None,
        opened_to: None,
        after: None,
        limit: 100,
    };
    let cases = state.engine.list_cases(filter).await?;
    Ok(cases.into_iter().filter(|c| c.kind == CaseKind::Cancellation).max_by(|a, b| a.opened_at.cmp(&b.opened_at)))
}

// ---- Sign-in -------------------------------------------------------------------------------

async fn home(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> PageResult {
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(secret) => state.engine.portal_session(secret).await.map_err(|e| PageError::from(e).render(&ctx))?,
        None => None,
    };
    let Some((session, line)) = session else {
        let nonce = state.engine.fresh_nonce();
        let mut response = pages::sign_in(&ctx, &nonce, None).page();
        if let Some(c) = set_cookie(PRE_COOKIE, &nonce, 1800, secure(&state)) {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
        return Ok(response);
    };
    let customer = Customer { line, csrf: session.csrf };
    let account =
        state.engine.account(customer.line.account_id.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?;
    let case = latest_case(&state, &customer.line).await.map_err(|e| e.render(&ctx))?;
    Ok(pages::my_line(&ctx, &customer, &account, case.as_ref(), None).page())
}

#[derive(Deserialize)]
struct SendCodeForm {
    msisdn: String,
    #[serde(default)]
    pre: String,
}

async fn send_code(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    addr: ClientAddr,
    Form(form): Form<SendCodeForm>,
) -> PageResult {
    check_sign_in_nonce(&headers, &form.pre, &ctx)?;
    let msisdn = match Msisdn::parse(form.msisdn.trim()) {
        Ok(m) => m,
        Err(e) => {
            let err = ("invalid_field", format!("msisdn: {e}"));
            return Ok((StatusCode::BAD_REQUEST, pages::sign_in(&ctx, &form.pre, Some(err))).page());
        }
    };
    match state.engine.portal_send_code(msisdn.clone(), client(addr)).await {
        Ok(_) => Ok(pages::enter_code(&ctx, &form.pre, msisdn.as_str(), None).page()),
        Err(e @ AppError::RateLimited { .. }) => {
            Ok((StatusCode::TOO_MANY_REQUESTS, pages::sign_in(&ctx, &form.pre, Some((e.code(), e.public_message()))))
                .page())
        }
        Err(e) => Err(PageError::from(e).render(&ctx)),
    }
}

#[derive(Deserialize)]
struct SignInForm {
    msisdn: String,
    code: String,
    #[serde(default)]
    pre: String,
}

async fn sign_in(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    addr: ClientAddr,
    Form(form): Form<SignInForm>,
) -> PageResult {
    check_sign_in_nonce(&headers, &form.pre, &ctx)?;
    let msisdn = Msisdn::parse(form.msisdn.trim())
        .map_err(|e| PageError::new("invalid_field", format!("msisdn: {e}")).render(&ctx))?;
    let ttl = Duration::minutes(SESSION_MINUTES);
    let outcome = match state.engine.portal_sign_in(msisdn.clone(), form.code, client(addr), ttl).await {
        Ok(o) => o,
        Err(e @ AppError::RateLimited { .. }) => {
            let err = Some((e.code(), e.public_message()));
            return Ok((StatusCode::TOO_MANY_REQUESTS, pages::enter_code(&ctx, &form.pre, msisdn.as_str(), err)).page());
        }
        Err(e) => return Err(PageError::from(e).render(&ctx)),
    };
    match outcome {
        Ok(signed) => {
            tracing::info!(line = %signed.line.id, "customer signed in to the portal");
            let mut response = see_other("/portal");
            let secure = secure(&state);
            if let Some(c) = set_cookie(SESSION_COOKIE, &signed.secret, SESSION_MINUTES * 60, secure) {
                response.headers_mut().append(header::SET_COOKIE, c);
            }
            if let Some(c) = set_cookie(PRE_COOKIE, "", 0, secure) {
                response.headers_mut().append(header::SET_COOKIE, c);
            }
            Ok(response)
        }
        Err(refusal) => {
            let (code, key) = match refusal {
                SignInRefusal::Invalid => ("code_invalid", "code_invalid"),
                SignInRefusal::Locked => ("verification_locked", "code_locked"),
            };
            let err = Some((code, t(ctx.lang, key).to_owned()));
            let status = StatusCode::from_u16(lineout_app::error::status_of(code)).unwrap_or(StatusCode::BAD_REQUEST);
            Ok((status, pages::enter_code(&ctx, &form.pre, msisdn.as_str(), err)).page())
        }
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
    customer: Customer,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&customer, &form.csrf, &ctx)?;
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        state.engine.portal_sign_out(secret).await.map_err(|e| PageError::from(e).render(&ctx))?;
    }
    let mut response = see_other("/portal");
    if let Some(c) = set_cookie(SESSION_COOKIE, "", 0, secure(&state)) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
    next: Option<String>,
}

async fn switch_language(State(state): State<AppState>, ctx: Ctx, Query(q): Query<LangQuery>) -> Response {
    crate::console::remember_language(&state, &ctx, &q.to, q.next.as_deref(), "/portal")
}

// ---- Cancelling ------------------------------------------------------------------------------

async fn before_cancel(State(state): State<AppState>, ctx: Ctx, customer: Customer) -> PageResult {
    let account =
        state.engine.account(customer.line.account_id.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?;
    if let Some(case) =
        state.engine.open_case_of_line(customer.line.id.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?
    {
        let _ = case;
        return Ok(see_other("/portal/case"));
    }
    let device =
        state.engine.devices_of_line(customer.line.id.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?;
    let must_return = device.iter().any(|d| d.must_return);
    let policy = state.engine.policy();
    let methods = if policy.refund.methods.len() > 1 { policy.refund.methods.clone() } else { Vec::new() };
    Ok(pages::before_cancel(&ctx, &customer, &account, must_return, &methods, policy.refund.default_method).page())
}

#[derive(Deserialize)]
struct CancelForm {
    csrf: String,
    timing: String,
    destination: String,
    /// Present when the policy offers a choice of refund methods.
    #[serde(default)]
    refund_method: Option<String>,
}

async fn submit_cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    customer: Customer,
    addr: ClientAddr,
    Form(form): Form<CancelForm>,
) -> PageResult {
    check_csrf(&customer, &form.csrf, &ctx)?;
    let bad = |field: &str, msg: &str| PageError::new("invalid_field", format!("{field}: {msg}")).render(&ctx);
    let Some(timing) = parse_timing(&form.timing) else { return Err(bad("timing", "choose when the line ends")) };
    let destination = match form.destination.as_str() {
        "line" => CodeDestination::Line,
        "email" => CodeDestination::Email,
        "alt_phone" => CodeDestination::AltPhone,
        _ => return Err(bad("destination", "choose where the code goes")),
    };
    let offered = &state.engine.policy().refund.methods;
    let refund_method = match form.refund_method.as_deref() {
        None | Some("") => None,
        Some(m) => match RefundMethod::parse(m).filter(|m| offered.contains(m)) {
            Some(m) => Some(m),
            None => return Err(bad("refund_method", "choose one of the refund methods offered")),
        },
    };
    let request = OpenRequest {
        kind: CaseKind::Cancellation,
        line: LineRef::Id(customer.line.id.clone()),
        channel: Channel::Web,
        timing,
        note: None,
        callback: false,
    };
    // The client address feeds the risk score's burst signal (only its keyed hash is kept).
    let client_addr = addr.0.map(|ip| ip.to_string());
    let case = match state.engine.open_case_from(request, Actor::Customer, client_addr).await {
        Ok(case) => case,
        Err(AppError::CaseAlreadyOpen(_)) => return Ok(see_other("/portal/case")),
        Err(e) => return Err(PageError::from(e).render(&ctx)),
    };
    if let Some(method) = refund_method {
        state
            .engine
            .command(case.id.clone(), Command::ChooseRefundMethod { method }, Actor::Customer)
            .await
            .map_err(|e| PageError::from(e).render(&ctx))?;
    }
    state
        .engine
        .send_verification_code(case.id.clone(), destination, Actor::Customer)
        .await
        .map_err(|e| PageError::from(e).render(&ctx))?;
    Ok(see_other("/portal/confirm"))
}

async fn open_case(state: &AppState, ctx: &Ctx, customer: &Customer) -> Result<Case, Response> {
    match state.engine.open_case_of_line(customer.line.id.clone()).await {
        Ok(Some(case)) => Ok(case),
        Ok(None) => Err(see_other("/portal")),
        Err(e) => Err(PageError::from(e).render(ctx)),
    }
}

async fn confirm_page(State(state): State<AppState>, ctx: Ctx, customer: Customer) -> PageResult {
    let case = open_case(&state, &ctx, &customer).await?;
    if case.status != Status::Verifying {
        return Ok(see_other("/portal/case"));
    }
    Ok(pages::confirm(&ctx, &customer, &case, None).page())
}

#[derive(Deserialize)]
struct ConfirmForm {
    csrf: String,
    code: String,
}

async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    customer: Customer,
    addr: ClientAddr,
    Form(form): Form<ConfirmForm>,
) -> PageResult {
    check_csrf(&customer, &form.csrf, &ctx)?;
    let case = open_case(&state, &ctx, &customer).await?;
    let request = VerificationRequest::Code(form.code);
    match state.engine.verify_identity(case.id.clone(), request, client(addr), Actor::Customer).await {
        Ok(_) => Ok(see_other("/portal/case")),
        Err(e @ (AppError::Storage(_) | AppError::Internal(_))) => Err(PageError::from(e).render(&ctx)),
        Err(e) => {
            let status =
                StatusCode::from_u16(lineout_app::error::status_of(e.code())).unwrap_or(StatusCode::BAD_REQUEST);
            Ok((status, pages::confirm(&ctx, &customer, &case, Some((e.code(), e.public_message())))).page())
        }
    }
}

async fn transfer_pin(
    State(state): State<AppState>,
    ctx: Ctx,
    customer: Customer,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&customer, &form.csrf, &ctx)?;
    let issued = state
        .engine
        .issue_transfer_pin(LineRef::Id(customer.line.id.clone()), Channel::Web, Actor::Customer)
        .await
        .map_err(|e| PageError::from(e).render(&ctx))?;
    let account =
        state.engine.account(customer.line.account_id.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?;
    let case = latest_case(&state, &customer.line).await.map_err(|e| e.render(&ctx))?;
    let mut response = pages::my_line(&ctx, &customer, &account, case.as_ref(), Some(&issued.pin)).page();
    // The PIN is on this page only: never cached.
    response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

// ---- Following the case ----------------------------------------------------------------------

async fn case_page(State(state): State<AppState>, ctx: Ctx, customer: Customer) -> PageResult {
    let Some(case) = latest_case(&state, &customer.line).await.map_err(|e| e.render(&ctx))? else {
        return Ok(see_other("/portal"));
    };
    let detail = state.engine.case_detail(case.id.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?;
    Ok(pages::case(&ctx, &customer, &detail, None).page())
}

async fn customer_command(state: &AppState, ctx: &Ctx, customer: &Customer, cmd: Command) -> PageResult {
    let case = open_case(state, ctx, customer).await?;
    match state.engine.command(case.id.clone(), cmd, Actor::Customer).await {
        Ok(_) => Ok(see_other("/portal/case")),
        Err(e @ (AppError::Storage(_) | AppError::Internal(_))) => Err(PageError::from(e).render(ctx)),
        Err(e) => {
            let detail = state.engine.case_detail(case.id).await.map_err(|e| PageError::from(e).render(ctx))?;
            let status = StatusCode::from_u16(lineout_app::error::status_of(e.code())).unwrap_or(StatusCode::CONFLICT);
            Ok((status, pages::case(ctx, customer, &detail, Some((e.code(), e.public_message())))).page())
        }
    }
}

async fn withdraw(
    State(state): State<AppState>,
    ctx: Ctx,
    customer: Customer,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&customer, &form.csrf, &ctx)?;
    customer_command(&state, &ctx, &customer, Command::Withdraw).await
}

async fn not_me(State(state): State<AppState>, ctx: Ctx, customer: Customer, Form(form): Form<CsrfForm>) -> PageResult {
    check_csrf(&customer, &form.csrf, &ctx)?;
    let note = Some("reported in the customer portal".to_owned());
    customer_command(&state, &ctx, &customer, Command::ReportFraud { note }).await
}

async fn statement(State(state): State<AppState>, ctx: Ctx, customer: Customer) -> PageResult {
    let Some(case) = latest_case(&state, &customer.line).await.map_err(|e| e.render(&ctx))? else {
        return Ok(see_other("/portal"));
    };
    let q = crate::cases::StatementQuery { format: Some("html".into()), lang: Some(ctx.lang.tag().into()) };
    // The customer signed in with a code sent to this very line: their own records are open.
    let viewer = crate::fraud::Viewer { privileged: true };
    crate::cases::statement_response(&state, &viewer, case.id, q)
        .await
        .map_err(|e| PageError::new(e.code, e.message).render(&ctx))
}

async fn label(State(state): State<AppState>, ctx: Ctx, customer: Customer) -> PageResult {
    let Some(case) = latest_case(&state, &customer.line).await.map_err(|e| e.render(&ctx))? else {
        return Ok(see_other("/portal"));
    };
    crate::cases::label_response(&state, case.id).await.map_err(|e| PageError::new(e.code, e.message).render(&ctx))
}

#[derive(Deserialize)]
struct AuthQuery {
    code: Option<String>,
}

/// "Is this code one of ours?" — no sign-in needed.
async fn authenticity(State(state): State<AppState>, ctx: Ctx, Query(q): Query<AuthQuery>) -> PageResult {
    let code = q.code.map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty());
    let Some(code) = code else { return Ok(pages::authenticity(&ctx, None).page()) };
    if code.len() > 32 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok((StatusCode::BAD_REQUEST, pages::authenticity(&ctx, Some((&code, None)))).page());
    }
    let found = state.engine.message_by_code(code.clone()).await.map_err(|e| PageError::from(e).render(&ctx))?;
    let status = if found.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    Ok((status, pages::authenticity(&ctx, Some((&code, found.as_ref())))).page())
}

// ---- Data export ---------------------------------------------------------------------------

/// "Download my data": records an export of the customer's own account; the worker
/// produces it and the page links to it with its single-use token (shown only here).
async fn request_export(
    State(state): State<AppState>,
    ctx: Ctx,
    customer: Customer,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&customer, &form.csrf, &ctx)?;
    let account = customer.line.account_id.clone();
    let requested = state
        .engine
        .request_export(account.clone(), lineout_app::records::Requester::Customer(account))
        .await
        .map_err(|e| PageError::from(e).render(&ctx))?;
    let mut response = pages::export_requested(&ctx, &customer, &requested.token, false).page();
    response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The export's zip once it is ready (the link works once); until then a page that says so.
async fn download_export(
    State(state): State<AppState>,
    ctx: Ctx,
    customer: Customer,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> PageResult {
    match state.engine.download_export(token.clone()).await {
        Ok((row, bytes)) => {
            if row.account_id != customer.line.account_id {
                return Err(
                    PageError::new("export_account_mismatch", "this export is not for your account").render(&ctx)
                );
            }
            let name = format!("attachment; filename=\"lineout-export-{}.zip\"", row.id);
            let headers = [
                (header::CONTENT_TYPE, "application/zip".to_owned()),
                (header::CONTENT_DISPOSITION, name),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ];
            Ok(axum::response::IntoResponse::into_response((headers, bytes)))
        }
        Err(e) if e.code() == "export_not_ready" => {
            Ok((StatusCode::CONFLICT, pages::export_requested(&ctx, &customer, &token, true)).page())
        }
        Err(e) => Err(PageError::from(e).render(&ctx)),
    }
}
