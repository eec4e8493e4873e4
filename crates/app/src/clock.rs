//! Clocks and id generators that need no system access: a manual clock for tests and
//! simulations, sequential ids for reproducible snapshots.

use crate::ports::{Clock, IdGen};
use lineout_domain::values::CaseId;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use time::{Duration, OffsetDateTime};

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }
    pub fn set(&self, t: OffsetDateTime) {
        if let Ok(mut now) = self.0.lock() {
            *now = t;
        }
    }
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.0.lock().map_or(OffsetDateTime::UNIX_EPOCH, |t| *t)
    }
}

/// Ids `C000001`, `C000002`, … and predictable secrets, for snapshot tests.
#[derive(Debug, Default)]
pub struct SequentialIds(AtomicU64);

impl IdGen for SequentialIds {
    fn case_id(&self, _now: OffsetDateTime) -> CaseId {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        CaseId::parse(&format!("C{n:06}")).unwrap_or_else(|_| unreachable!("generated ids are valid"))
    }
    fn secret(&self) -> String {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        format!("test{n:028}")
    }
    fn digits(&self, n: usize) -> String {
        let k = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{k:0>n$}").chars().rev().take(n).collect::<Vec<_>>().into_iter().rev().collect()
    }
    fn salt(&self) -> [u8; 16] {
        let k = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        let mut salt = [7u8; 16];
        salt[..8].copy_from_slice(&k.to_le_bytes());
        salt
    }
}
