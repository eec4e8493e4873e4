//! The reference workload: what this disk can do at all with SQLite's durable settings,
//! so lineout's figures can be read as a fraction of the hardware's.
//!
//! Why SQL lives here, outside `crates/store`: this file measures raw SQLite on a
//! scratch table of its own — not lineout's schema, not through the ports — with the
//! store's pragmas (WAL, `synchronous=FULL`), in the benchmark's temporary directory.
//! It is the one exception to "no SQL outside the store", and the architecture test
//! (`tests/it/architecture.rs`) names exactly this file.

use crate::error::{Error, Result};
use rusqlite::{Connection, params};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Rows per transaction in the batched phase.
pub const BATCH_ROWS: u64 = 1_000;
/// A payload about the size of a small case row.
const PAYLOAD: &str = "{\"status\":\"verifying\",\"channel\":\"api\",\"line_id\":\"BL00000001\",\"facts\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";

/// What the disk did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Reference {
    /// One row per transaction: durable commits per second (each waits for fsync).
    pub single_row_tx_per_s: f64,
    /// Rows per second in transactions of [`BATCH_ROWS`] rows.
    pub batched_rows_per_s: f64,
    pub batch_rows: u64,
    /// Mean time of one durable commit of one row, in milliseconds.
    pub single_commit_ms: f64,
    pub seconds_per_phase: f64,
}

fn sql(context: &str, e: &rusqlite::Error) -> Error {
    Error::Failed(format!("reference workload: {context}: {e}"))
}

/// Runs both phases for about `phase` each on a scratch database in `dir`.
pub fn run(dir: &Path, phase: Duration) -> Result<Reference> {
    let path = dir.join("reference.db");
    let conn = Connection::open(&path).map_err(|e| sql("open", &e))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| sql("wal", &e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Failed(format!("reference workload: the disk refused WAL (got {mode})")));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE scratch (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, body TEXT NOT NULL, at INTEGER NOT NULL);",
    )
    .map_err(|e| sql("create", &e))?;
    let mut next: u64 = 0;
    let single = {
        let started = Instant::now();
        let mut rows = 0u64;
        while started.elapsed() < phase {
            conn.execute_batch("BEGIN").map_err(|e| sql("begin", &e))?;
            insert(&conn, next)?;
            next += 1;
            conn.execute_batch("COMMIT").map_err(|e| sql("commit", &e))?;
            rows += 1;
        }
        rows as f64 / started.elapsed().as_secs_f64()
    };
    let batched = {
        let started = Instant::now();
        let mut rows = 0u64;
        while started.elapsed() < phase {
            conn.execute_batch("BEGIN").map_err(|e| sql("begin", &e))?;
            for _ in 0..BATCH_ROWS {
                insert(&conn, next)?;
                next += 1;
            }
            conn.execute_batch("COMMIT").map_err(|e| sql("commit", &e))?;
            rows += BATCH_ROWS;
        }
        rows as f64 / started.elapsed().as_secs_f64()
    };
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("reference.db{suffix}")));
    }
    Ok(Reference {
        single_row_tx_per_s: single,
        batched_rows_per_s: batched,
        batch_rows: BATCH_ROWS,
        single_commit_ms: if single > 0.0 { 1000.0 / single } else { 0.0 },
        seconds_per_phase: phase.as_secs_f64(),
    })
}

fn insert(conn: &Connection, n: u64) -> Result<()> {
    let mut stmt = conn
        .prepare_cached("INSERT INTO scratch (key, body, at) VALUES (?1, ?2, ?3)")
        .map_err(|e| sql("prepare", &e))?;
    stmt.execute(params![format!("K{n:010}"), PAYLOAD, n as i64]).map_err(|e| sql("insert", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_phases_report_rates_and_clean_up() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let r = run(dir.path(), Duration::from_millis(150))?;
        assert!(r.single_row_tx_per_s > 0.0 && r.batched_rows_per_s > 0.0, "{r:?}");
        assert!(!dir.path().join("reference.db").exists());
        Ok(())
    }
}
