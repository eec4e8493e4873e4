//! Adapters behind the application's ports: the system clock (the only place that
//! reads the time), random ids, and fake network / notifier / payment adapters that
//! record every call with its idempotency key and fail on command.

pub mod es2plus;
pub mod fakes;
pub mod hlr;
pub mod messaging;
pub mod network;
pub mod payments;
pub mod smpp;
pub mod smtp;
pub mod webhook;

use lineout_app::ports::{Clock, IdGen};
use lineout_domain::values::CaseId;
use rand::RngExt;
use time::OffsetDateTime;

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Case ids like `C01JD3K5M2X7Q4T9A`: 'C', 9 characters of milliseconds since 1970
/// (so ids sort by time), then 6 random characters; secrets of 32 random characters.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

fn base32(mut n: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(n & 31) as usize];
        n >>= 5;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl IdGen for RandomIds {
    fn case_id(&self, now: OffsetDateTime) -> CaseId {
        let ms = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let random: u64 = rand::rng().random();
        let text = format!("C{}{}", base32(ms, 9), base32(random, 6));
        CaseId::parse(&text).unwrap_or_else(|_| unreachable!("generated ids are valid"))
    }
    fn secret(&self) -> String {
        let mut rng = rand::rng();
        (0..32).map(|_| CROCKFORD[rng.random_range(0..32usize)] as char).collect()
    }
    fn digits(&self, n: usize) -> String {
        let mut rng = rand::rng();
        (0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
    }
    fn salt(&self) -> [u8; 16] {
        rand::rng().random()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_sort_by_time_and_are_valid() {
        let t1 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let t2 = t1 + time::Duration::milliseconds(1);
        let a = RandomIds.case_id(t1);
        let b = RandomIds.case_id(t2);
        assert!(a < b);
        assert_eq!(a.as_str().len(), 16);
        assert_ne!(RandomIds.secret(), RandomIds.secret());
    }
}
