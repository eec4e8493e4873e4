//! Seeding a benchmark database quickly through the engine: generated accounts and lines
//! upserted in batches of 1,000 (one transaction each), from two threads so the
//! group-commit writer always has the next batch waiting.

use super::data::{self, Numbers};
use crate::error::{Error, Result};
use lineout_app::Engine;
use serde::Serialize;
use std::time::Instant;

/// Rows per upsert batch.
pub const BATCH: u64 = 1_000;
/// Threads generating and submitting batches.
const THREADS: u64 = 2;

/// What was seeded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Seeded {
    pub accounts: u64,
    pub lines: u64,
    pub seconds: f64,
}

/// Upserts accounts `0..ceil(lines / per_account)` and lines `0..lines`. Blocking: call
/// it outside the async runtime.
pub fn seed(engine: &Engine, lines: u64, per_account: u64, numbers: &Numbers) -> Result<Seeded> {
    let started = Instant::now();
    let per_account = per_account.max(1);
    let accounts = lines.div_ceil(per_account);
    in_batches(accounts, |from, to| {
        let rows = (from..to).map(data::account).collect::<Result<Vec<_>, _>>().map_err(invalid)?;
        check(engine.upsert_accounts_blocking(rows)?, "account", from)
    })?;
    in_batches(lines, |from, to| {
        let rows =
            (from..to).map(|n| data::line(n, per_account, numbers)).collect::<Result<Vec<_>, _>>().map_err(invalid)?;
        check(engine.upsert_lines_blocking(rows)?, "line", from)
    })?;
    Ok(Seeded { accounts, lines, seconds: started.elapsed().as_secs_f64() })
}

fn invalid(e: lineout_domain::values::ValueError) -> Error {
    Error::Failed(format!("generated benchmark data is invalid: {e}"))
}

/// Runs `work(from, to)` for every batch of `0..count`, the batches shared out over threads.
fn in_batches(count: u64, work: impl Fn(u64, u64) -> Result<()> + Sync) -> Result<()> {
    let batches = count.div_ceil(BATCH);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let work = &work;
                scope.spawn(move || {
                    let mut b = t;
                    while b < batches {
                        work(b * BATCH, ((b + 1) * BATCH).min(count))?;
                        b += THREADS;
                    }
                    Ok::<(), Error>(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| Error::Failed("a seeding thread panicked".into()))??;
        }
        Ok(())
    })
}

fn check(results: Vec<Result<lineout_app::ports::Upsert, lineout_app::Error>>, kind: &str, from: u64) -> Result<()> {
    match results.into_iter().enumerate().find_map(|(i, r)| r.err().map(|e| (i, e))) {
        Some((i, e)) => Err(Error::Failed(format!("seeding {kind} {}: {e}", from + i as u64))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{engine_on, temp_db};

    #[test]
    fn seeding_creates_every_line_once_and_is_repeatable() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        let numbers = Numbers::new()?;
        let first = seed(&engine, 2_345, 4, &numbers)?;
        assert_eq!((first.accounts, first.lines), (587, 2_345));
        seed(&engine, 2_345, 4, &numbers)?;
        let id = lineout_domain::LineId::parse(&data::line_id(2_344))?;
        let line = engine.read_blocking(move |c| Ok(c.get_line(&id)?))?;
        assert_eq!(line.map(|l| l.account_id.as_str().to_owned()), Some(data::account_id(586)));
        Ok(())
    }
}
