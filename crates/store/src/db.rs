//! The narrow seam between the shared SQL logic ([`crate::conn`]) and each driver:
//! statement parameters, row access, transaction control and classified errors.
//!
//! Statements use PostgreSQL's `$1, $2, …` placeholders; the SQLite driver rewrites
//! them to its positional `?1, ?2, …` once per statement text.

use lineout_app::ports::{StoreError, StoreResult};

/// Which SQL dialect a driver speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement parameter. The optional variants carry their type so PostgreSQL can
/// check NULLs against the column type like any other value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Text(&'a str),
    OptText(Option<&'a str>),
    Bool(bool),
}

impl<'a> From<&'a str> for Val<'a> {
    fn from(v: &'a str) -> Self {
        Val::Text(v)
    }
}
impl<'a> From<Option<&'a str>> for Val<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Val::OptText(v)
    }
}
impl From<i64> for Val<'_> {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<Option<i64>> for Val<'_> {
    fn from(v: Option<i64>) -> Self {
        Val::OptInt(v)
    }
}
impl From<bool> for Val<'_> {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}

/// One result row; a value of the wrong type is a corrupt row, never a panic.
pub(crate) trait Row {
    fn int(&self, idx: usize) -> StoreResult<i64>;
    fn opt_int(&self, idx: usize) -> StoreResult<Option<i64>>;
    fn text(&self, idx: usize) -> StoreResult<String>;
    fn opt_text(&self, idx: usize) -> StoreResult<Option<String>>;
    fn flag(&self, idx: usize) -> StoreResult<bool>;
}

/// Transaction control statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxOp {
    /// A writer's BEGIN takes the write lock up front (SQLite `BEGIN IMMEDIATE`).
    Begin,
    Commit,
    Rollback,
    Savepoint,
    Release,
    RollbackTo,
}

/// A driver error, classified so constraint violations can be mapped by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DbError {
    /// A unique or primary key constraint, by its schema name (e.g. `lines_msisdn_key`).
    Unique(String),
    /// A foreign key; SQLite does not say which one, so the name is optional.
    ForeignKey(Option<String>),
    /// Anything else, as text for operators (never containing row values).
    Other(String),
}

impl DbError {
    /// Maps a violation through `known` (constraint name → port error); anything not
    /// listed becomes a backend error.
    pub(crate) fn mapped(self, known: &[(&str, StoreError)]) -> StoreError {
        let hit = match &self {
            DbError::Unique(name) => known.iter().find(|(n, _)| n == name),
            DbError::ForeignKey(name) => {
                known.iter().find(|(n, _)| n.ends_with("_fkey") && name.as_deref().is_none_or(|actual| actual == *n))
            }
            DbError::Other(_) => None,
        };
        match hit {
            Some((_, e)) => e.clone(),
            None => self.into_store(),
        }
    }

    pub(crate) fn into_store(self) -> StoreError {
        match self {
            DbError::Unique(name) => StoreError::Backend(format!("unexpected unique violation: {name}")),
            DbError::ForeignKey(name) => {
                StoreError::Backend(format!("unexpected foreign key violation: {}", name.as_deref().unwrap_or("?")))
            }
            DbError::Other(msg) => StoreError::Backend(msg),
        }
    }
}

/// What a driver offers the shared logic. Statements are prepared once per
/// connection and cached by their text.
pub(crate) trait Db: Send {
    fn dialect(&self) -> Dialect;
    /// Runs a statement that returns no rows; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Val<'_>]) -> Result<u64, DbError>;
    /// Runs a statement and hands each row to `each` (whose error stops the walk).
    fn query(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        each: &mut dyn FnMut(&dyn Row) -> StoreResult<()>,
    ) -> StoreResult<()>;
    /// Runs several statements without parameters (migrations).
    fn script(&mut self, sql: &str) -> Result<(), DbError>;
    fn tx(&mut self, op: TxOp) -> Result<(), DbError>;
}

/// The error for a stored value that does not parse back.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt row: {what}"))
}
