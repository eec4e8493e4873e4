//! Importing historical ledger entries (charges, payments, credits, refunds, write-offs,
//! fees) from the operator's billing system: one savepoint per row, idempotent by the
//! entry's reference (unique per account), the currency checked against the account's.

use crate::engine::Engine;
use crate::error::Error;
use crate::ports::{Conn, Upsert};
use lineout_domain::ledger::Imported;
use time::OffsetDateTime;

/// The most rows one import call accepts (the CLI batches a file into calls of this size or less).
pub const MAX_ROWS: usize = 10_000;

/// One entry to import, checked by the domain, with when it happened (None: now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub imported: Imported,
    pub at: Option<OffsetDateTime>,
}

/// Imports one row inside the caller's savepoint. `Inserted` when new, `Unchanged` when the
/// same entry is already there; a different entry under the same reference is refused.
fn import_row(conn: &mut dyn Conn, row: &ImportRow, now: OffsetDateTime) -> Result<Upsert, Error> {
    let entry = &row.imported.entry;
    let account = conn.get_account(&entry.account_id)?.ok_or(Error::MissingReference("account"))?;
    let currency = account.owed.currency;
    if entry.amount.currency != currency {
        return Err(Error::LedgerCurrencyMismatch { expected: currency.to_string() });
    }
    if let Some((existing, _)) = conn.ledger_entry(&entry.id)? {
        return if existing == *entry { Ok(Upsert::Unchanged) } else { Err(Error::LedgerReferenceConflict) };
    }
    conn.append_ledger(std::slice::from_ref(entry), row.at.unwrap_or(now))?;
    Ok(Upsert::Inserted)
}

fn import_rows(conn: &mut dyn Conn, rows: &[ImportRow], now: OffsetDateTime) -> Vec<Result<Upsert, Error>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        // One savepoint per row: a refused row leaves nothing behind.
        let result = conn.savepoint().map_err(Error::from).and_then(|()| match import_row(conn, row, now) {
            Ok(u) => conn.release_savepoint().map(|()| u).map_err(Error::from),
            Err(e) => {
                let _ = conn.rollback_to_savepoint();
                let _ = conn.release_savepoint();
                Err(e)
            }
        });
        out.push(result);
    }
    out
}

impl Engine {
    /// Imports ledger entries (at most [`MAX_ROWS`]); one result per row, in order.
    pub async fn import_ledger(&self, rows: Vec<ImportRow>) -> Result<Vec<Result<Upsert, Error>>, Error> {
        check_size(&rows)?;
        let now = self.now();
        self.writer().run(move |conn| Ok(import_rows(conn, &rows, now))).await
    }

    /// The blocking form for the CLI importer.
    pub fn import_ledger_blocking(&self, rows: Vec<ImportRow>) -> Result<Vec<Result<Upsert, Error>>, Error> {
        check_size(&rows)?;
        let now = self.now();
        self.writer().run_blocking(move |conn| Ok(import_rows(conn, &rows, now)))
    }
}

fn check_size(rows: &[ImportRow]) -> Result<(), Error> {
    if rows.len() > MAX_ROWS {
        return Err(Error::invalid("rows", format!("at most {MAX_ROWS} entries per import")));
    }
    Ok(())
}
