//! Handlers for cancellation cases: open one, read one with its timeline, send it a
//! command, and list cases with filters and keyset paging.

use crate::dto::{CaseDetailOut, CaseList, CaseOut, CaseQuery, CommandIn, MAX_TEXT_CHARS, OpenCaseIn, parse_date};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, CaseActor, CasesRead, JsonBody, PathId, QueryParams};
use crate::fraud::{CaseViewer, GatedCaseOut, GatedOut};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lineout_app::ports::CaseFilter;
use lineout_domain::values::{AccountId, CaseId, LineId, parse_text};
use lineout_domain::{Channel, Status};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Open a cancellation case for a line.
///
/// The actor is the calling client, or the customer when the client sends
/// `X-Lineout-On-Behalf-Of: customer` (scope `cases:customer`).
#[utoipa::path(
    post, path = "/api/v1/cases", tag = "cases", request_body = OpenCaseIn,
    params(("X-Lineout-On-Behalf-Of" = Option<String>, Header, description = "`customer` to act for the customer.")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new case.", body = CaseOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `cases:write`, or `cases:customer` on behalf of the customer).", body = ErrorBody),
        (status = 404, description = "`line_not_found`.", body = ErrorBody),
        (status = 409, description = "`case_already_open`, `account_locked`, `line_not_eligible`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 422, description = "`invalid_date`, `invalid_text`, `invalid_amount`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn open_case(
    State(state): State<AppState>,
    CaseActor(actor): CaseActor,
    crate::fraud::ClientAddr(addr): crate::fraud::ClientAddr,
    JsonBody(input): JsonBody<OpenCaseIn>,
) -> ApiResult<(StatusCode, Json<CaseOut>)> {
    let texts = vec![("note", input.note.clone())];
    let request = input.into_domain()?;
    // The client address feeds the risk score (many requests from one address).
    let case = state.engine.open_case_from(request, actor, addr).await.map_err(|e| name_text_field(e, &texts))?;
    Ok((StatusCode::CREATED, Json(CaseOut::from(&case))))
}

/// Read a case with its timeline, timers and outbox.
#[utoipa::path(
    get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "The case id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The case; `GatedCaseOut` (`cpni: gated`) for a client acting for the customer until the customer is verified.", body = CaseDetailOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `cases:read`).", body = ErrorBody),
        (status = 404, description = "`case_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn get_case(
    State(state): State<AppState>,
    CaseViewer(viewer): CaseViewer,
    PathId(id): PathId<CaseId>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let detail = state.engine.case_detail(id).await?;
    let account = detail.case.facts.account_id.clone();
    if !viewer.sees(&state, &account).await? {
        // CPNI gating: only what verification needs until the customer is verified.
        let holder = state.engine.account(account).await.ok().map(|a| a.holder_name);
        return Ok(Json(GatedCaseOut::of(&detail.case, holder)).into_response());
    }
    Ok(Json(CaseDetailOut::from(&detail)).into_response())
}

/// Send a command to a case.
///
/// With `X-Lineout-On-Behalf-Of: customer` (scope `cases:customer`) the customer is the
/// actor and may `withdraw`, `report_fraud`, `confirm_outcome`, `record_payment` and
/// `choose_refund_method`;
/// other commands then answer `not_permitted`.
#[utoipa::path(
    post, path = "/api/v1/cases/{id}/commands", tag = "cases", request_body = CommandIn,
    params(
        ("id" = String, Path, description = "The case id."),
        ("X-Lineout-On-Behalf-Of" = Option<String>, Header, description = "`customer` to act for the customer."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The case after the command.", body = CaseOut),
        (status = 400, description = "`invalid_field`, `invalid_json` (including worker-only command types).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (scope), `not_permitted` (this actor may not issue this command).", body = ErrorBody),
        (status = 404, description = "`case_not_found`.", body = ErrorBody),
        (status = 409, description = "`illegal_transition`, `too_late_to_withdraw`, `nothing_owed`, `no_device`, `write_off_not_allowed`, `duplicate_payment`, `refund_already_issued`, `concurrent_update`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 422, description = "`device_mismatch`, `invalid_amount`, `invalid_text`, `payment_account_mismatch`, `refund_method_not_offered`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn command_case(
    State(state): State<AppState>,
    CaseActor(actor): CaseActor,
    PathId(id): PathId<CaseId>,
    JsonBody(input): JsonBody<CommandIn>,
) -> ApiResult<Json<CaseOut>> {
    let texts = input.texts();
    let command = input.into_domain(state.engine.policy())?;
    let case = state.engine.command(id, command, actor).await.map_err(|e| name_text_field(e, &texts))?;
    Ok(Json(CaseOut::from(&case)))
}

/// The domain says only that some text was invalid; name the field that was.
fn name_text_field(e: lineout_app::Error, texts: &[(&'static str, Option<String>)]) -> ApiError {
    let error = ApiError::from(e);
    if error.code != "invalid_text" {
        return error;
    }
    let bad = texts.iter().find(|(_, text)| text.as_deref().is_some_and(|t| parse_text(t, MAX_TEXT_CHARS).is_err()));
    match bad {
        Some((name, _)) => error.with("field", *name),
        None => error,
    }
}

/// A timestamp bound of the list: RFC 3339, or a date meaning its midnight UTC.
fn parse_bound(name: &str, s: &str) -> ApiResult<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    parse_date(s)
        .map(|d| d.midnight().assume_utc())
        .ok_or_else(|| ApiError::query(name, "must be an RFC 3339 timestamp or a date YYYY-MM-DD"))
}

/// Turns the query into a store filter.
fn filter_of(q: CaseQuery, page_default: u32, page_max: u32) -> ApiResult<(CaseFilter, u32)> {
    let limit = match q.limit.as_deref() {
        None => page_default,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=page_max).contains(&n) => n,
            _ => return Err(ApiError::query("limit", format!("must be a whole number from 1 to {page_max}"))),
        },
    };
    let filter = CaseFilter {
        status: match q.status.as_deref() {
            None => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| ApiError::query("status", "unknown status"))?),
        },
        channel: match q.channel.as_deref() {
            None => None,
            Some(s) => Some(Channel::parse(s).ok_or_else(|| ApiError::query("channel", "unknown channel"))?),
        },
        line_id: q.line_id.as_deref().map(LineId::parse).transpose().map_err(|e| ApiError::query("line_id", e))?,
        account_id: q
            .account_id
            .as_deref()
            .map(AccountId::parse)
            .transpose()
            .map_err(|e| ApiError::query("account_id", e))?,
        opened_from: q.opened_from.as_deref().map(|s| parse_bound("opened_from", s)).transpose()?,
        opened_to: q.opened_to.as_deref().map(|s| parse_bound("opened_to", s)).transpose()?,
        after: q.after.as_deref().map(CaseId::parse).transpose().map_err(|e| ApiError::query("after", e))?,
        limit,
    };
    Ok((filter, limit))
}

/// List cases, oldest first, with keyset paging.
#[utoipa::path(
    get, path = "/api/v1/cases", tag = "cases",
    params(CaseQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of cases; for a client acting for the customer, items whose customer is not verified are `GatedCaseOut`.", body = CaseList),
        (status = 400, description = "`invalid_query`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `cases:read`).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn list_cases(
    State(state): State<AppState>,
    CaseViewer(viewer): CaseViewer,
    QueryParams(query): QueryParams<CaseQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let page_max = state.limits.page_max.min(state.engine.config().max_page).max(1);
    let (mut filter, limit) = filter_of(query, state.limits.page_default.clamp(1, page_max), page_max)?;
    // Ask for one more than the page to learn whether another page follows; at the
    // engine's maximum page that is not possible, so a full page says "maybe more".
    filter.limit = limit.saturating_add(1).min(state.engine.config().max_page);
    let mut cases = state.engine.list_cases(filter).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = cases.len() > limit || (cases.len() == limit && filter_limit_is_page(limit, &state));
    cases.truncate(limit);
    let next_after = if more { cases.last().map(|c| c.id.to_string()) } else { None };
    if !viewer.privileged {
        // CPNI gating per item: a case shows in full only while its own verification opens it.
        let items: Vec<serde_json::Value> = cases
            .iter()
            .map(|c| {
                if state.engine.cpni_open_for_case(c) {
                    serde_json::to_value(CaseOut::from(c))
                } else {
                    serde_json::to_value(GatedCaseOut::of(c, None))
                }
            })
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::new("internal_error", "an internal error occurred"))?;
        return Ok(Json(serde_json::json!({ "items": items, "next_after": next_after })).into_response());
    }
    Ok(Json(CaseList { items: cases.iter().map(CaseOut::from).collect(), next_after }).into_response())
}

/// Whether the engine could not be asked for one extra row.
fn filter_limit_is_page(limit: usize, state: &AppState) -> bool {
    usize::try_from(state.engine.config().max_page).is_ok_and(|max| limit >= max)
}

/// The device return label of a case, as a 4x6 in PDF: the return address, the
/// customer, the RMA number as text and as a Code 128 barcode, the deadline and the
/// accessories to include.
#[utoipa::path(
    get, path = "/api/v1/cases/{id}/return-label", tag = "cases",
    params(("id" = String, Path, description = "The case id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The label.", content_type = "application/pdf", body = Vec<u8>),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `cases:read`).", body = ErrorBody),
        (status = 404, description = "`case_not_found`.", body = ErrorBody),
        (status = 409, description = "`no_device` (the case has no device return).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn return_label(
    State(state): State<AppState>,
    _auth: Auth<CasesRead>,
    PathId(id): PathId<CaseId>,
) -> ApiResult<axum::response::Response> {
    label_response(&state, id).await
}

/// The return label PDF of a case (also served by the customer portal).
pub(crate) async fn label_response(state: &AppState, id: CaseId) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let data = state.engine.return_label(id.clone()).await?;
    let label = lineout_documents::ReturnLabel {
        rma: data.rma,
        customer_name: data.customer_name,
        to_address: data.return_address,
        device_model: data.device_model,
        deadline: data.deadline.date().to_string(),
        accessories: data.accessories,
        ..lineout_documents::ReturnLabel::default()
    };
    let pdf = lineout_documents::return_label_pdf(&label).map_err(|e| {
        tracing::error!(error = %e, "return label could not be made");
        ApiError::new("internal_error", "the label could not be made")
    })?;
    let name = format!("attachment; filename=\"return-label-{}.pdf\"", id.as_str());
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/pdf".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, name),
        ],
        pdf,
    )
        .into_response())
}

/// How to render a statement.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    /// `html` (default) or `pdf`.
    pub format: Option<String>,
    /// `en` or `zh-Hans`; the customer's language when omitted.
    pub lang: Option<String>,
}

/// The case's final statement: opening balance, every charge, fee, payment, write-off,
/// refund and forfeit with the running balance line by line, and the closing balance,
/// in English or Simplified Chinese, as HTML or PDF. The numbers are the ledger's.
#[utoipa::path(
    get, path = "/api/v1/cases/{id}/statement", tag = "cases",
    params(("id" = String, Path, description = "The case id."), StatementQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The statement (text/html or application/pdf); JSON `GatedOut` (`cpni: gated`) for a client acting for the customer until the customer is verified.", content_type = "text/html", body = String),
        (status = 400, description = "`invalid_field` (the id), `invalid_query` (format, lang).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `cases:read`).", body = ErrorBody),
        (status = 404, description = "`case_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error` (e.g. no CJK font for a Chinese PDF).", body = ErrorBody),
    )
)]
pub async fn statement(
    State(state): State<AppState>,
    CaseViewer(viewer): CaseViewer,
    PathId(id): PathId<CaseId>,
    QueryParams(q): QueryParams<StatementQuery>,
) -> ApiResult<axum::response::Response> {
    statement_response(&state, &viewer, id, q).await
}

/// A case's final statement as HTML or PDF (also served by the customer portal).
pub(crate) async fn statement_response(
    state: &AppState,
    viewer: &crate::fraud::Viewer,
    id: CaseId,
    q: StatementQuery,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    use lineout_documents::statement::{Lang, LineKind, Statement, StatementLine, statement_html, statement_pdf};
    use lineout_domain::ledger::EntryKind;
    let invalid =
        |field: &str, msg: &str| ApiError::new("invalid_query", format!("{field}: {msg}")).with("field", field);
    let pdf = match q.format.as_deref() {
        None | Some("html") => false,
        Some("pdf") => true,
        Some(_) => return Err(invalid("format", "must be html or pdf")),
    };
    let data = state.engine.case_statement(id.clone()).await?;
    if !viewer.sees(state, &data.case.facts.account_id).await? {
        // CPNI gating: no money lines before the customer is verified.
        return Ok(Json(GatedOut::of(id.as_str())).into_response());
    }
    let lang = match q.lang.as_deref() {
        None => match data.case.facts.language {
            lineout_domain::values::Language::En => Lang::En,
            lineout_domain::values::Language::ZhHans => Lang::ZhHans,
        },
        Some("en") => Lang::En,
        Some("zh-Hans") => Lang::ZhHans,
        Some(_) => return Err(invalid("lang", "must be en or zh-Hans")),
    };
    let day = |t: time::OffsetDateTime| t.date().to_string();
    let lines = data
        .entries
        .iter()
        .map(|(e, at)| StatementLine {
            date: day(*at),
            kind: match e.kind {
                EntryKind::Charge => LineKind::Charge,
                EntryKind::Fee => LineKind::Fee,
                EntryKind::Payment => LineKind::Payment,
                EntryKind::Credit => LineKind::Credit,
                EntryKind::WriteOff => LineKind::WriteOff,
                EntryKind::Refund => LineKind::Refund,
                EntryKind::Forfeit => LineKind::Forfeit,
            },
            description: statement_description(&e.description, lang),
            amount_cents: e.amount.cents,
        })
        .collect();
    let closed = matches!(data.case.status, lineout_domain::Status::Closed);
    let refund_method = statement_refund_method(&data, lang);
    let statement = Statement {
        language: lang,
        operator_name: "lineout".into(),
        case_id: id.as_str().to_owned(),
        customer_name: data.customer_name,
        account_id: data.case.facts.account_id.as_str().to_owned(),
        msisdn_last4: data.case.facts.msisdn.last4().to_owned(),
        opened_on: day(data.case.opened_at),
        closed_on: closed.then(|| day(data.case.updated_at)),
        currency: data.opening.currency.as_str().to_owned(),
        opening_balance_cents: data.opening.cents,
        lines,
        refund_method,
        auth_code: None,
    };
    if !pdf {
        let html = statement_html(&statement);
        return Ok(([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response());
    }
    let font = state.cjk_font.as_ref().map(|f| f.as_slice());
    let bytes = statement_pdf(&statement, font).map_err(|e| {
        tracing::error!(error = %e, "statement PDF could not be made");
        ApiError::new("internal_error", "the statement PDF could not be made")
    })?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/pdf")], bytes).into_response())
}

/// How the refund is paid, in the statement's language: the method recorded when the refund
/// was decided (or the customer's choice before that); nothing when no refund is paid.
fn statement_refund_method(
    data: &lineout_app::engine::StatementData,
    lang: lineout_documents::statement::Lang,
) -> Option<String> {
    use lineout_documents::statement::Lang;
    use lineout_domain::ledger::EntryKind;
    use lineout_domain::policy::RefundMethod as M;
    let decided = data.entries.iter().any(|(e, _)| e.kind == EntryKind::Refund);
    if !decided && data.case.refund_amount.cents <= 0 {
        return None;
    }
    let method = data.case.refund_method.unwrap_or(M::OriginalPayment);
    Some(
        match (lang, method) {
            (Lang::En, M::OriginalPayment) => "to the original payment method",
            (Lang::En, M::Check) => "by check to the billing address",
            (Lang::En, M::AccountCredit) => "kept as account credit",
            (Lang::ZhHans, M::OriginalPayment) => "退回原付款方式",
            (Lang::ZhHans, M::Check) => "以支票寄至账单地址",
            (Lang::ZhHans, M::AccountCredit) => "保留为账户抵扣额",
        }
        .to_owned(),
    )
}

/// A ledger line's description in the statement's language. The final bill's lines and
/// the account-credit refund have Chinese wording; other descriptions are shown as recorded.
fn statement_description(recorded: &str, lang: lineout_documents::statement::Lang) -> String {
    use lineout_documents::statement::Lang;
    if lang == Lang::En {
        return recorded.to_owned();
    }
    // "N unused of M days" / "N used of M days": the two numbers, in order.
    let numbers =
        |s: &str| -> Vec<u32> { s.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect() };
    let zh = match recorded.strip_prefix("final bill: ") {
        Some("remaining device installments") => Some("最终账单：设备剩余分期款".to_owned()),
        Some(rest) if rest.starts_with("credit for ") => match numbers(rest)[..] {
            [unused, days] => Some(format!("最终账单：本计费周期 {days} 天中未使用的 {unused} 天退费")),
            _ => None,
        },
        Some(rest) if rest.starts_with("plan charge for ") => match numbers(rest)[..] {
            [used, days] => Some(format!("最终账单：本计费周期 {days} 天中已使用 {used} 天的套餐费")),
            _ => None,
        },
        Some(rest) if rest.starts_with("plan charge to cycle end") => match numbers(rest)[..] {
            [days] => Some(format!("最终账单：至计费周期结束的套餐费（{days} 天）")),
            _ => None,
        },
        _ => match recorded {
            "refund to account credit" => Some("退款转为账户抵扣额".to_owned()),
            "account credit from refund" => Some("由退款转入的账户抵扣额".to_owned()),
            _ => None,
        },
    };
    zh.unwrap_or_else(|| recorded.to_owned())
}
