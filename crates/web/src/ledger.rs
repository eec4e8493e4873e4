//! Importing historical ledger entries of one account through the API (the same rules
//! as `lineout import ledger`): each row succeeds or fails alone, references are unique
//! per account so a replayed import adds nothing, the currency must be the account's.

use crate::accounts::{merge, parse_rows};
use crate::dto::ImportRow;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AccountsWrite, Auth, JsonBody, PathId};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use lineout_app::ledger_import::ImportRow as LedgerRow;
use lineout_domain::ledger::Imported;
use lineout_domain::values::{AccountId, Currency, Money};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// One historical entry to import.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntryIn {
    /// `charge`, `payment`, `credit`, `refund`, `write_off` or `fee`.
    #[schema(example = "charge")]
    pub kind: String,
    /// A positive whole number of cents.
    #[schema(example = 4500)]
    pub amount_cents: i64,
    /// ISO 4217; defaults to the operator's currency and must be the account's.
    #[serde(default)]
    pub currency: Option<String>,
    /// 1-64 letters, digits, `-_.:/`; unique per account (a replay with the same content is unchanged).
    #[schema(example = "INV-2026-10")]
    pub reference: String,
    /// At most 200 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// When it happened (RFC 3339); defaults to now.
    #[serde(default)]
    pub at: Option<String>,
}

impl LedgerEntryIn {
    fn into_row(self, account: &AccountId, default_currency: Currency) -> Result<LedgerRow, ApiError> {
        let currency = match self.currency.as_deref() {
            None => default_currency,
            Some(c) => Currency::parse(c).map_err(|e| ApiError::field("currency", e))?,
        };
        let at = match self.at.as_deref() {
            None => None,
            Some(t) => Some(
                OffsetDateTime::parse(t, &Rfc3339).map_err(|_| ApiError::field("at", "must be an RFC 3339 time"))?,
            ),
        };
        let amount = Money::new(self.amount_cents, currency);
        let imported = Imported::new(account.clone(), &self.kind, amount, &self.reference, self.description.as_deref())
            .map_err(|e| ApiError::field(e.field(), e))?;
        Ok(LedgerRow { imported, at })
    }
}

/// Import historical ledger entries of an account: a JSON array, at most 1,000 rows; each
/// row succeeds or fails alone. The derived balance includes them.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/ledger/entries", tag = "accounts", request_body = Vec<LedgerEntryIn>,
    params(("id" = String, Path, description = "The account id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per row, in order (`inserted`, `unchanged` or `error` with `invalid_field`, `ledger_currency_mismatch`, `ledger_reference_conflict`).", body = Vec<ImportRow>),
        (status = 400, description = "`invalid_json` (the body is not an array).", body = ErrorBody),
        (status = 401, description = "`unauthorized`.", body = ErrorBody),
        (status = 403, description = "`forbidden` (needs `accounts:write`).", body = ErrorBody),
        (status = 404, description = "`account_not_found`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large` (body size or more than 1,000 rows).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 500, description = "`storage_error`, `internal_error`.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn import_ledger_entries(
    State(state): State<AppState>,
    _auth: Auth<AccountsWrite>,
    PathId(id): PathId<AccountId>,
    JsonBody(rows): JsonBody<Vec<Value>>,
) -> ApiResult<Json<Vec<ImportRow>>> {
    // An unknown account is one 404, not an error per row.
    state.engine.account(id.clone()).await?;
    let currency = state.engine.policy().currency;
    let (outcomes, valid) = parse_rows(rows, state.limits.import_rows, |e: LedgerEntryIn| e.into_row(&id, currency))?;
    let (positions, rows): (Vec<_>, Vec<_>) = valid.into_iter().unzip();
    let results = if rows.is_empty() { Vec::new() } else { state.engine.import_ledger(rows).await? };
    Ok(Json(merge(outcomes, positions, results)))
}
