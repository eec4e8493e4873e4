//! lineout's storage: the only place with SQL. [`SqliteStore`] (the default, one
//! file) and [`PostgresStore`] (several lineout processes sharing one database)
//! implement the app's [`Store`](lineout_app::ports::Store) and
//! [`Conn`](lineout_app::ports::Conn) ports with one schema and one shared
//! implementation of every port method.
//!
//! Code map: `db` is the seam between the shared logic and the drivers; `conn`
//! implements the port methods over it; `codec` converts columns to domain values;
//! `schema` holds the migrations; `sqlite` and `postgres` are the drivers;
//! `conformance` is the suite both backends pass; `plans` checks with EXPLAIN
//! that every hot statement uses an index.

mod codec;
mod conn;
mod db;
mod postgres;
mod schema;
mod sqlite;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

#[cfg(test)]
mod plans;
#[cfg(test)]
mod tests;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
