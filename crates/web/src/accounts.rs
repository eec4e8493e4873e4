//! Handlers for accounts, lines and devices: create-or-update one, read one, look a
//! line up by number, and bulk imports with a result per row.

use crate::dto::{AccountIn, AccountOut, DeviceIn, DeviceOut, ImportRow, LineIn, LineList, LineOut, LineQuery};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AccountsWrite, Auth, JsonBody, PathId, QueryParams};
use crate::fraud::{AccountViewer, GATED, GatedAccountOut, GatedLineOut, GatedOut, masked};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lineout_app::Engine;
use lineout_app::ports::Upsert;
use lineout_domain::account::{Account, Device, Line};
use lineout_domain::values::{AccountId, DeviceId, LineId, Msisdn};
use serde::de::DeserializeOwned;
use serde_json::Value;

type Upserted = Result<Upsert, lineout_app::Error>;

fn status_of(u: Upsert) -> StatusCode {
    match u {
        Upsert::Inserted => StatusCode::CREATED,
        Upsert::Updated | Upsert::Unchanged => StatusCode::OK,
    }
}

/// The one result of a single-row upsert.
fn single(mut results: Vec<Upserted>) -> ApiResult<StatusCode> {
    match results.pop() {
        Some(Ok(u)) => Ok(status_of(u)),
        Some(Err(e)) => Err(e.into()),
        None => Err(lineout_app::Error::Internal("an upsert returned no result".into()).into()),
    }
}

/// Upserts accounts, keeping each existing account's PIN (the API never carries PINs).
async fn upsert_accounts(engine: &Engine, mut rows: Vec<Account>) -> Result<Vec<Upserted>, lineout_app::Error> {
    let ids: Vec<AccountId> = rows.iter().map(|a| a.id.clone()).collect();
    let pins = engine
        .read(move |c| {
            ids.iter().map(|id| Ok(c.get_account(id)?.and_then(|a| a.pin_hash))).collect::<Result<Vec<_>, _>>()
        })
        .await?;
    for (row, pin) in rows.iter_mut().zip(pins) {
        row.pin_hash = pin;
    }
    engine.upsert_accounts(rows).await
}

/// Upserts lines; a line given without a status keeps its current one (a case may have changed it).
async fn upsert_lines(engine: &Engine, rows: Vec<(Line, bool)>) -> Result<Vec<Upserted>, lineout_app::Error> {
    let unknown: Vec<LineId> = rows.iter().filter(|(_, given)| !*given).map(|(l, _)| l.id.clone()).collect();
    let current = engine
        .read(move |c| {
            unknown.iter().map(|id| Ok(c.get_line(id)?.map(|l| (l.id, l.status)))).collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let rows = rows
        .into_iter()
        .map(|(mut line, given)| {
            if !given && let Some((_, status)) = current.iter().flatten().find(|(id, _)| *id == line.id) {
                line.status = *status;
            }
            line
        })
        .collect();
    engine.upsert_lines(rows).await
}

/// Create or update an account.
#[utoipa::path(
    post, path = "/api/v1/accounts", tag = "accounts", request_body = AccountIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = AccountOut),
        (status = 200, description = "Updated or unchanged.", body = AccountOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn put_account(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    JsonBody(input): JsonBody<AccountIn>,
) -> ApiResult<(StatusCode, Json<AccountOut>)> {
    let account = input.into_domain(state.engine.policy())?;
    let out = AccountOut::from(&account);
    let status = single(upsert_accounts(&state.engine, vec![account]).await?)?;
    Ok((status, Json(out)))
}

/// Read an account.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account. Without `accounts:read`, `GatedAccountOut` (`cpni: gated`) until the customer is verified.", body = AccountOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`, or `cases:read`/`cases:customer` for the gated view).", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn get_account(
    State(state): State<AppState>,
    AccountViewer(viewer): AccountViewer,
    PathId(id): PathId<AccountId>,
) -> ApiResult<Response> {
    let account = state.engine.account(id).await?;
    if !viewer.sees(&state, &account.id).await? {
        let gated =
            GatedAccountOut { id: account.id.to_string(), holder_name: account.holder_name, cpni: GATED.into() };
        return Ok(Json(gated).into_response());
    }
    Ok(Json(AccountOut::from(&account)).into_response())
}

/// Create or update a line.
#[utoipa::path(
    post, path = "/api/v1/lines", tag = "accounts", request_body = LineIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = LineOut),
        (status = 200, description = "Updated or unchanged.", body = LineOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 409, description = "`msisdn_taken`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 422, description = "`missing_reference` (the account).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn put_line(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    JsonBody(input): JsonBody<LineIn>,
) -> ApiResult<(StatusCode, Json<LineOut>)> {
    let row = input.into_domain()?;
    let id = row.0.id.clone();
    let status = single(upsert_lines(&state.engine, vec![row]).await?)?;
    let line = state.engine.line(id).await?;
    Ok((status, Json(LineOut::from(&line))))
}

/// Read a line.
#[utoipa::path(
    get, path = "/api/v1/lines/{id}", tag = "accounts",
    params(("id" = String, Path, description = "The line id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The line. Without `accounts:read`, `GatedLineOut` (`cpni: gated`) until the customer is verified.", body = LineOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`, or `cases:read`/`cases:customer` for the gated view).", body = ErrorBody),
        (status = 404, description = "`line_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn get_line(
    State(state): State<AppState>,
    AccountViewer(viewer): AccountViewer,
    PathId(id): PathId<LineId>,
) -> ApiResult<Response> {
    let line = state.engine.line(id).await?;
    if !viewer.sees(&state, &line.account_id).await? {
        return Ok(Json(gated_line(&line)).into_response());
    }
    Ok(Json(LineOut::from(&line)).into_response())
}

fn gated_line(line: &Line) -> GatedLineOut {
    GatedLineOut {
        id: line.id.to_string(),
        account_id: line.account_id.to_string(),
        msisdn_masked: masked(&line.msisdn),
        cpni: GATED.into(),
    }
}

/// Find the line with a number (0 or 1 items).
#[utoipa::path(
    get, path = "/api/v1/lines", tag = "accounts",
    params(LineQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lines with this number (none or one). Without `accounts:read`, `GatedLineOut` (`cpni: gated`) until the customer is verified.", body = LineList),
        (status = 400, description = "`invalid_query` (`msisdn` missing or malformed).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`, or `cases:read`/`cases:customer` for the gated view).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn find_lines(
    State(state): State<AppState>,
    AccountViewer(viewer): AccountViewer,
    QueryParams(query): QueryParams<LineQuery>,
) -> ApiResult<Response> {
    let raw = query.msisdn.ok_or_else(|| ApiError::query("msisdn", "is required"))?;
    let msisdn = Msisdn::parse(&raw).map_err(|e| ApiError::query("msisdn", e))?;
    let line = state.engine.read(move |c| Ok(c.find_line_by_msisdn(&msisdn)?)).await?;
    if let Some(l) = &line
        && !viewer.sees(&state, &l.account_id).await?
    {
        return Ok(Json(serde_json::json!({ "items": [gated_line(l)] })).into_response());
    }
    Ok(Json(LineList { items: line.iter().map(LineOut::from).collect() }).into_response())
}

/// Create or update a device.
#[utoipa::path(
    post, path = "/api/v1/devices", tag = "accounts", request_body = DeviceIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = DeviceOut),
        (status = 200, description = "Updated or unchanged.", body = DeviceOut),
        (status = 400, description = "`invalid_field`, `invalid_json`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 422, description = "`missing_reference` (the line).", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn put_device(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    JsonBody(input): JsonBody<DeviceIn>,
) -> ApiResult<(StatusCode, Json<DeviceOut>)> {
    let device = input.into_domain(state.engine.policy())?;
    let out = DeviceOut::from(&device);
    let status = single(state.engine.upsert_devices(vec![device]).await?)?;
    Ok((status, Json(out)))
}

/// Read a device.
#[utoipa::path(
    get, path = "/api/v1/devices/{id}", tag = "accounts",
    params(("id" = String, Path, description = "The device id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The device. Without `accounts:read`, `GatedOut` (`cpni: gated`) until the customer is verified.", body = DeviceOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`, or `cases:read`/`cases:customer` for the gated view).", body = ErrorBody),
        (status = 404, description = "`device_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn get_device(
    State(state): State<AppState>,
    AccountViewer(viewer): AccountViewer,
    PathId(id): PathId<DeviceId>,
) -> ApiResult<Response> {
    let device = state.engine.device(id).await?;
    if !viewer.privileged {
        let line = state.engine.line(device.line_id.clone()).await?;
        if !viewer.sees(&state, &line.account_id).await? {
            return Ok(Json(GatedOut::of(device.id.as_str())).into_response());
        }
    }
    Ok(Json(DeviceOut::from(&device)).into_response())
}

// ---- Imports -----------------------------------------------------------------------------

/// The outcome of parsing an import: each row's error (or `None` for a valid row) and the
/// valid rows with their positions.
type Parsed<T> = (Vec<Option<ImportRow>>, Vec<(usize, T)>);

/// Parses each row; returns the rows' outcomes so far and the valid rows with their positions.
pub(crate) fn parse_rows<I: DeserializeOwned, T>(
    rows: Vec<Value>,
    max: usize,
    parse: impl Fn(I) -> Result<T, ApiError>,
) -> ApiResult<Parsed<T>> {
    if rows.len() > max {
        return Err(ApiError::new("payload_too_large", format!("an import takes at most {max} rows"))
            .with("max_rows", max)
            .with("rows", rows.len()));
    }
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut valid = Vec::with_capacity(rows.len());
    for (i, value) in rows.into_iter().enumerate() {
        let parsed = serde_json::from_value::<I>(value)
            .map_err(|e| ApiError::new("invalid_json", e.to_string()))
            .and_then(&parse);
        match parsed {
            Ok(row) => {
                outcomes.push(None);
                valid.push((i, row));
            }
            Err(e) => outcomes.push(Some(ImportRow::error(i + 1, &e))),
        }
    }
    Ok((outcomes, valid))
}

/// Fills in the outcomes of the rows that reached the store.
pub(crate) fn merge(
    mut outcomes: Vec<Option<ImportRow>>,
    positions: Vec<usize>,
    results: Vec<Upserted>,
) -> Vec<ImportRow> {
    for (i, result) in positions.into_iter().zip(results) {
        let row = match result {
            Ok(u) => ImportRow::ok(i + 1, u),
            Err(e) => ImportRow::error(i + 1, &ApiError::from(e)),
        };
        if let Some(slot) = outcomes.get_mut(i) {
            *slot = Some(row);
        }
    }
    outcomes.into_iter().flatten().collect()
}

/// Import accounts: a JSON array of account objects, at most 1,000; each row succeeds or fails alone.
#[utoipa::path(
    post, path = "/api/v1/import/accounts", tag = "import", request_body = Vec<AccountIn>,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per row, in order.", body = Vec<ImportRow>),
        (status = 400, description = "`invalid_json` (the body is not an array).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large` (body size or more than 1,000 rows).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn import_accounts(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    JsonBody(rows): JsonBody<Vec<Value>>,
) -> ApiResult<Json<Vec<ImportRow>>> {
    let policy = state.engine.policy().clone();
    let (outcomes, valid) = parse_rows(rows, state.limits.import_rows, |a: AccountIn| a.into_domain(&policy))?;
    let (positions, rows): (Vec<_>, Vec<_>) = valid.into_iter().unzip();
    let results = if rows.is_empty() { Vec::new() } else { upsert_accounts(&state.engine, rows).await? };
    Ok(Json(merge(outcomes, positions, results)))
}

/// Import lines: a JSON array of line objects, at most 1,000; each row succeeds or fails alone.
#[utoipa::path(
    post, path = "/api/v1/import/lines", tag = "import", request_body = Vec<LineIn>,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per row, in order.", body = Vec<ImportRow>),
        (status = 400, description = "`invalid_json` (the body is not an array).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large` (body size or more than 1,000 rows).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn import_lines(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    JsonBody(rows): JsonBody<Vec<Value>>,
) -> ApiResult<Json<Vec<ImportRow>>> {
    let (outcomes, valid) = parse_rows(rows, state.limits.import_rows, LineIn::into_domain)?;
    let (positions, rows): (Vec<_>, Vec<_>) = valid.into_iter().unzip();
    let results = if rows.is_empty() { Vec::new() } else { upsert_lines(&state.engine, rows).await? };
    Ok(Json(merge(outcomes, positions, results)))
}

/// Import devices: a JSON array of device objects, at most 1,000; each row succeeds or fails alone.
#[utoipa::path(
    post, path = "/api/v1/import/devices", tag = "import", request_body = Vec<DeviceIn>,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per row, in order.", body = Vec<ImportRow>),
        (status = 400, description = "`invalid_json` (the body is not an array).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large` (body size or more than 1,000 rows).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn import_devices(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    JsonBody(rows): JsonBody<Vec<Value>>,
) -> ApiResult<Json<Vec<ImportRow>>> {
    let policy = state.engine.policy().clone();
    let (outcomes, valid) = parse_rows(rows, state.limits.import_rows, |d: DeviceIn| d.into_domain(&policy))?;
    let (positions, rows): (Vec<usize>, Vec<Device>) = valid.into_iter().unzip();
    let results = if rows.is_empty() { Vec::new() } else { state.engine.upsert_devices(rows).await? };
    Ok(Json(merge(outcomes, positions, results)))
}

/// One ledger entry on the wire.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LedgerEntryOut {
    pub id: String,
    pub case_id: Option<String>,
    /// `charge`, `fee`, `payment`, `credit`, `write_off`, `refund` or `forfeit`.
    pub kind: String,
    /// Never negative; the kind gives the direction.
    pub amount_cents: i64,
    pub currency: String,
    pub description: String,
    pub at: String,
}

/// An account's ledger and its derived balance.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LedgerOut {
    /// The balance imported with the account (owed minus prepaid money).
    pub opening_cents: i64,
    pub entries: Vec<LedgerEntryOut>,
    /// Opening plus every entry: positive is owed by the customer, negative is credit.
    pub balance_cents: i64,
    pub currency: String,
}

/// An account's ledger: every charge, fee, payment, write-off, refund and forfeit, and
/// the balance derived from them.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}/ledger", tag = "accounts",
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ledger. Without `accounts:read`, `GatedOut` (`cpni: gated`) until the customer is verified.", body = LedgerOut),
        (status = 400, description = "`invalid_field` (the id).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:read`, or `cases:read`/`cases:customer` for the gated view).", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
    )
)]
pub async fn get_ledger(
    State(state): State<AppState>,
    AccountViewer(viewer): AccountViewer,
    PathId(id): PathId<AccountId>,
) -> ApiResult<Response> {
    if !viewer.sees(&state, &id).await? {
        // Existence first, so a gated answer never confirms a made-up account.
        state.engine.account(id.clone()).await?;
        return Ok(Json(GatedOut::of(id.as_str())).into_response());
    }
    let ledger = state.engine.account_ledger(id).await?;
    let entries = ledger
        .entries
        .iter()
        .map(|(e, at)| LedgerEntryOut {
            id: e.id.clone(),
            case_id: e.case_id.as_ref().map(|c| c.as_str().to_owned()),
            kind: e.kind.as_str().to_owned(),
            amount_cents: e.amount.cents,
            currency: e.amount.currency.as_str().to_owned(),
            description: e.description.clone(),
            at: crate::dto::rfc3339(*at),
        })
        .collect();
    Ok(Json(LedgerOut {
        opening_cents: ledger.opening.cents,
        entries,
        balance_cents: ledger.balance.cents,
        currency: ledger.balance.currency.as_str().to_owned(),
    })
    .into_response())
}
