//! The PostgreSQL backend: [`PostgresStore`] opens one synchronous `postgres`
//! client per [`Conn`] (no TLS), optionally confined to one schema, with
//! statements prepared once per connection.
//!
//! The synchronous client runs its own small runtime and panics if called from a
//! thread inside a tokio runtime: use it from plain threads or `spawn_blocking`.

use crate::conn::SqlConn;
use crate::db::{Db, DbError, Dialect, Row, TxOp, Val, corrupt};
use lineout_app::ports::{Conn, Role, Store, StoreError, StoreResult};
use postgres::error::SqlState;
use postgres::types::{FromSql, ToSql};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;

/// A PostgreSQL database, optionally one schema of it.
#[derive(Clone)]
pub struct PostgresStore {
    url: String,
    schema: Option<String>,
}

/// The URL may carry a password, so it is never printed.
impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("url", &"<redacted>").field("schema", &self.schema).finish()
    }
}

/// Whether `name` is a schema name lineout accepts: 1-50 of `[a-z0-9_]`, so it
/// never needs quoting and cannot carry SQL.
fn valid_schema(name: &str) -> bool {
    (1..=50).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl PostgresStore {
    /// Connects once to check the URL and, when `schema` is given, creates that
    /// schema if missing; every connection then works inside it. Call
    /// [`Store::migrate`] before use.
    pub fn connect(url: &str, schema: Option<&str>) -> StoreResult<PostgresStore> {
        if let Some(s) = schema
            && !valid_schema(s)
        {
            return Err(StoreError::Backend(format!("invalid schema name {s:?}: use 1-50 of [a-z0-9_]")));
        }
        let store = PostgresStore { url: url.to_owned(), schema: schema.map(str::to_owned) };
        let mut client = Client::connect(url, NoTls).map_err(|e| backend("cannot connect", &e))?;
        if let Some(s) = &store.schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))
                .map_err(|e| backend("cannot create schema", &e))?;
        }
        Ok(store)
    }

    /// The schema connections work in, if one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    fn db(&self, role: Role) -> StoreResult<PgDb> {
        let mut client = Client::connect(&self.url, NoTls).map_err(|e| backend("cannot connect", &e))?;
        if let Some(s) = &self.schema {
            client.batch_execute(&format!("SET search_path TO \"{s}\"")).map_err(|e| backend("search_path", &e))?;
        }
        Ok(PgDb { client: PgClient(Some(client)), statements: HashMap::new(), role })
    }

    /// Runs raw SQL outside the ports and returns the rows it changed; for the
    /// conformance suite's checks of what the ports cannot express.
    #[cfg(any(test, feature = "conformance"))]
    pub fn execute_raw(&self, sql: &str) -> StoreResult<u64> {
        self.db(Role::Writer)?.execute(sql, &[]).map_err(DbError::into_store)
    }

    /// A connection below the ports, for the query-plan test.
    #[cfg(test)]
    pub(crate) fn raw_db(&self) -> StoreResult<PgDb> {
        self.db(Role::Reader)
    }

    /// Runs a raw query returning one BIGINT (or NULL / no row), for the conformance suite.
    #[cfg(any(test, feature = "conformance"))]
    pub fn query_int_raw(&self, sql: &str) -> StoreResult<Option<i64>> {
        let mut out = None;
        self.db(Role::Reader)?.query(sql, &[], &mut |r| {
            out = r.opt_int(0)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// Drops the schema and everything in it (tests clean up with this).
    #[cfg(any(test, feature = "conformance"))]
    pub fn drop_schema(&self) -> StoreResult<()> {
        let Some(s) = &self.schema else { return Ok(()) };
        let mut client = Client::connect(&self.url, NoTls).map_err(|e| backend("cannot connect", &e))?;
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE")).map_err(|e| backend("drop schema", &e))
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn migrate(&self) -> StoreResult<()> {
        crate::schema::migrate(&mut self.db(Role::Writer)?)
    }

    fn connect(&self, role: Role) -> StoreResult<Box<dyn Conn>> {
        Ok(Box::new(SqlConn::new(self.db(role)?)))
    }
}

/// One PostgreSQL session with its prepared statements, keyed by SQL text. The
/// set of texts is fixed (the store's statements and the `list_cases` variants),
/// so the map stays small.
pub(crate) struct PgDb {
    client: PgClient,
    statements: HashMap<String, Statement>,
    role: Role,
}

/// The sync client runs its own runtime, and closing it inside an async runtime
/// panics; so it is closed on a plain thread of its own, wherever the last owner is.
struct PgClient(Option<Client>);

impl std::ops::Deref for PgClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0.as_ref().unwrap_or_else(|| unreachable!("the client is taken only in drop"))
    }
}

impl std::ops::DerefMut for PgClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.0.as_mut().unwrap_or_else(|| unreachable!("the client is taken only in drop"))
    }
}

impl Drop for PgClient {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            let closer = std::thread::Builder::new().name("lineout-pg-close".into()).spawn(move || drop(client));
            if let Ok(handle) = closer {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Statements refer to the client's connection; let them go first.
        self.statements.clear();
    }
}

impl PgDb {
    fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

fn backend(what: &str, e: &postgres::Error) -> StoreError {
    StoreError::Backend(format!("postgres {what}: {}", describe(e)))
}

/// The error without its DETAIL line, which can quote row values (personal data).
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

fn classify(e: postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let name = db.constraint().map(str::to_owned);
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            return DbError::Unique(name.unwrap_or_default());
        }
        if *db.code() == SqlState::FOREIGN_KEY_VIOLATION {
            return DbError::ForeignKey(name);
        }
    }
    DbError::Other(format!("postgres: {}", describe(&e)))
}

/// Each parameter as the driver's typed value, so the client checks it against
/// the column type (a NULL carries its type too).
fn as_sql<'a>(v: &'a Val<'_>) -> &'a (dyn ToSql + Sync) {
    match v {
        Val::Int(i) => i,
        Val::OptInt(i) => i,
        Val::Text(s) => s,
        Val::OptText(s) => s,
        Val::Bool(b) => b,
    }
}

impl Db for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Val<'_>]) -> Result<u64, DbError> {
        let stmt = self.prepared(sql).map_err(classify)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(as_sql).collect();
        self.client.execute(&stmt, &params).map_err(classify)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        each: &mut dyn FnMut(&dyn Row) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let stmt = self.prepared(sql).map_err(|e| classify(e).into_store())?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(as_sql).collect();
        let rows = self.client.query(&stmt, &params).map_err(|e| classify(e).into_store())?;
        for row in &rows {
            each(&PgRow(row))?;
        }
        Ok(())
    }

    fn script(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).map_err(classify)
    }

    fn tx(&mut self, op: TxOp) -> Result<(), DbError> {
        // READ COMMITTED for both roles: writes are guarded by constraints, versions and
        // row locks (claims), not by serializable snapshots.
        let sql = match op {
            TxOp::Begin if self.role == Role::Writer => "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE",
            TxOp::Begin => "BEGIN",
            TxOp::Commit => "COMMIT",
            TxOp::Rollback => "ROLLBACK",
            TxOp::Savepoint => "SAVEPOINT lineout_sp",
            TxOp::Release => "RELEASE SAVEPOINT lineout_sp",
            TxOp::RollbackTo => "ROLLBACK TO SAVEPOINT lineout_sp",
        };
        self.client.batch_execute(sql).map_err(classify)
    }
}

struct PgRow<'a>(&'a postgres::Row);

fn column<'a, T: FromSql<'a>>(row: &'a postgres::Row, idx: usize) -> StoreResult<T> {
    row.try_get(idx).map_err(|e| corrupt(format!("column {idx}: {e}")))
}

impl Row for PgRow<'_> {
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
    use super::valid_schema;

    #[test]
    fn schema_names_are_checked() {
        assert!(valid_schema("lineout_t_1_2_3"));
        assert!(valid_schema(&"a".repeat(50)));
        assert!(!valid_schema(&"a".repeat(51)));
        assert!(!valid_schema(""));
        assert!(!valid_schema("Public"));
        assert!(!valid_schema("x\"; DROP TABLE cases; --"));
    }
}
