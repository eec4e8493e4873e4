//! The SQLite backend: [`SqliteStore`] opens one rusqlite connection per
//! [`Conn`], tuned for a single group-committing writer and many readers (WAL,
//! `synchronous=FULL`, foreign keys on, a busy timeout, cached statements).

use crate::conn::SqlConn;
use crate::db::{Db, DbError, Dialect, Row, TxOp, Val};
use lineout_app::ports::{Conn, Role, Store, StoreError, StoreResult};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, ToSql, ffi};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connection waits for another's lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Page cache of the writer connection, in KiB (SQLite's negative `cache_size` unit):
/// the hot index pages of every write stay cached.
const CACHE_SIZE_KIB: i64 = 16 * 1024;
/// Page cache of each reader connection, in KiB: readers are many and read little.
const READER_CACHE_SIZE_KIB: i64 = 2 * 1024;
/// Prepared statements kept per connection: the fixed statements plus every
/// combination of `list_cases` filters.
const STATEMENT_CACHE_CAPACITY: usize = 256;

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and switches it to WAL.
    /// Call [`Store::migrate`] before use.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let store = SqliteStore { path: path.to_path_buf() };
        // Opening once now reports a bad path or a locked/corrupt file at startup.
        store.open_connection()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_connection(&self) -> StoreResult<Connection> {
        let conn = Connection::open(&self.path).map_err(|e| backend("cannot open database", &e))?;
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(|e| backend("busy_timeout", &e))?;
        // `journal_mode` answers with the mode in force; anything but WAL (e.g. on a
        // file system without shared memory) would silently lose the reader/writer split.
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| backend("journal_mode", &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("database refused WAL journal mode (got {mode})")));
        }
        conn.execute_batch(&format!(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{CACHE_SIZE_KIB}; \
             PRAGMA temp_store = MEMORY;"
        ))
        .map_err(|e| backend("pragmas", &e))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(conn)
    }

    fn db(&self, role: Role) -> StoreResult<SqliteDb> {
        let conn = self.open_connection()?;
        // The writer keeps SQLite's own WAL checkpoints (every 1,000 pages): measured with
        // `lineout bench`, a background PASSIVE checkpointer let the WAL grow without bound
        // under constant writes and made every write slower.
        if role == Role::Reader {
            conn.execute_batch(&format!("PRAGMA cache_size = -{READER_CACHE_SIZE_KIB};"))
                .map_err(|e| backend("cache_size", &e))?;
        }
        Ok(SqliteDb { conn, role, positional: HashMap::new() })
    }

    /// Runs raw SQL outside the ports and returns the rows it changed; for the
    /// conformance suite's checks of what the ports cannot express.
    #[cfg(any(test, feature = "conformance"))]
    pub fn execute_raw(&self, sql: &str) -> StoreResult<u64> {
        self.db(Role::Writer)?.execute(sql, &[]).map_err(DbError::into_store)
    }

    /// A connection below the ports, for the query-plan test.
    #[cfg(test)]
    pub(crate) fn raw_db(&self) -> StoreResult<SqliteDb> {
        self.db(Role::Reader)
    }

    /// Runs a raw query returning one integer (or NULL / no row), for the conformance suite.
    #[cfg(any(test, feature = "conformance"))]
    pub fn query_int_raw(&self, sql: &str) -> StoreResult<Option<i64>> {
        let mut out = None;
        self.db(Role::Reader)?.query(sql, &[], &mut |r| {
            out = r.opt_int(0)?;
            Ok(())
        })?;
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn migrate(&self) -> StoreResult<()> {
        crate::schema::migrate(&mut self.db(Role::Writer)?)
    }

    fn connect(&self, role: Role) -> StoreResult<Box<dyn Conn>> {
        Ok(Box::new(SqlConn::new(self.db(role)?)))
    }
}

/// One SQLite connection, its role, and the `?n` form of each statement text it has
/// run (a fixed, small set: the store's statements and the `list_cases` variants).
pub(crate) struct SqliteDb {
    conn: Connection,
    role: Role,
    positional: HashMap<String, String>,
}

impl ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Val::Int(v) | Val::OptInt(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Val::Text(s) | Val::OptText(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(b))),
            Val::OptInt(None) | Val::OptText(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn backend(what: &str, e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite {what}: {e}"))
}

/// SQLite reports which columns a unique constraint covers, not its name; this
/// table maps them back to the constraint names the schema declares.
const UNIQUE_COLUMNS: &[(&str, &str)] = &[
    ("accounts.id", "accounts_pkey"),
    ("lines.id", "lines_pkey"),
    ("lines.msisdn", "lines_msisdn_key"),
    ("devices.id", "devices_pkey"),
    ("cases.id", "cases_pkey"),
    ("cases.line_id, cases.kind", "cases_open_line_key"),
    ("events.case_id, events.seq", "events_pkey"),
    ("timers.case_id, timers.kind", "timers_pkey"),
    ("outbox.id", "outbox_pkey"),
    ("messages.auth_code", "messages_auth_code_key"),
    ("messages.effect_id", "messages_pkey"),
    ("api_tokens.id", "api_tokens_pkey"),
    ("api_tokens.secret_hash", "api_tokens_secret_hash_key"),
    ("schema_migrations.version", "schema_migrations_pkey"),
    // Records (schema version 7).
    ("personal_data.case_id, personal_data.ref", "personal_data_pkey"),
    ("exports.id", "exports_pkey"),
    ("exports.token_hash", "exports_token_hash_key"),
    ("privacy_requests.id", "privacy_requests_pkey"),
];

fn classify(e: rusqlite::Error) -> DbError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        match f.extended_code {
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                let columns =
                    msg.as_deref().and_then(|m| m.strip_prefix("UNIQUE constraint failed: ")).unwrap_or_default();
                let name = UNIQUE_COLUMNS
                    .iter()
                    .find(|(cols, _)| *cols == columns)
                    .map_or_else(|| columns.to_owned(), |(_, name)| (*name).to_owned());
                return DbError::Unique(name);
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return DbError::ForeignKey(None),
            _ => {}
        }
    }
    DbError::Other(format!("sqlite: {e}"))
}

/// Rewrites PostgreSQL-style `$n` parameters as SQLite's positional `?n` (SQLite
/// would read `$n` as a *named* parameter numbered by first appearance). The
/// store's statements have no `$` anywhere else.
fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

impl SqliteDb {
    /// The cached statement for `sql`, translating its parameters once per text.
    fn statement(&mut self, sql: &str) -> rusqlite::Result<CachedStatement<'_>> {
        if !sql.contains('$') {
            return self.conn.prepare_cached(sql);
        }
        if let Some(text) = self.positional.get(sql) {
            return self.conn.prepare_cached(text);
        }
        let text = positional(sql);
        let stmt = self.conn.prepare_cached(&text);
        self.positional.insert(sql.to_owned(), text);
        stmt
    }
}

impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Val<'_>]) -> Result<u64, DbError> {
        let mut stmt = self.statement(sql).map_err(classify)?;
        let n = stmt.execute(rusqlite::params_from_iter(params)).map_err(classify)?;
        Ok(n as u64)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        each: &mut dyn FnMut(&dyn Row) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut stmt = self.statement(sql).map_err(|e| classify(e).into_store())?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params)).map_err(|e| classify(e).into_store())?;
        while let Some(row) = rows.next().map_err(|e| classify(e).into_store())? {
            each(&SqliteRow(row))?;
        }
        Ok(())
    }

    fn script(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(classify)
    }

    fn tx(&mut self, op: TxOp) -> Result<(), DbError> {
        let sql = match op {
            TxOp::Begin if self.role == Role::Writer => "BEGIN IMMEDIATE",
            TxOp::Begin => "BEGIN DEFERRED",
            TxOp::Commit => "COMMIT",
            TxOp::Rollback => "ROLLBACK",
            TxOp::Savepoint => "SAVEPOINT lineout_sp",
            TxOp::Release => "RELEASE SAVEPOINT lineout_sp",
            TxOp::RollbackTo => "ROLLBACK TO SAVEPOINT lineout_sp",
        };
        self.conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(classify)
    }
}

struct SqliteRow<'a, 'b>(&'a rusqlite::Row<'b>);

fn column<T: rusqlite::types::FromSql>(row: &rusqlite::Row<'_>, idx: usize) -> StoreResult<T> {
    row.get(idx).map_err(|e| crate::db::corrupt(format!("column {idx}: {e}")))
}

impl Row for SqliteRow<'_, '_> {
    fn int(&self, idx: usize) -> StoreResult<i64> {
        column(self.0, idx)
    }
    fn opt_int(&self, idx: usize) -> StoreResult<Option<i64>> {
        column(self.0, idx)
    }
    fn text(&self, idx: usize) -> StoreResult<String> {
        column(self.0, idx)
    }
    fn opt_text(&self, idx: usize) -> StoreResult<Option<String>> {
        column(self.0, idx)
    }
    fn flag(&self, idx: usize) -> StoreResult<bool> {
        column(self.0, idx)
    }
}

#[cfg(test)]
mod tests {
    use super::positional;

    #[test]
    fn parameters_become_positional() {
        assert_eq!(
            positional("UPDATE t SET a = $2, b = $10 WHERE id = $1 AND c = 'x'"),
            "UPDATE t SET a = ?2, b = ?10 WHERE id = ?1 AND c = 'x'"
        );
        assert_eq!(positional("SELECT $ FROM t"), "SELECT $ FROM t");
    }
}
