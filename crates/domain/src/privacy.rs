//! Privacy requests (CCPA regs §7021): access and deletion requests with their timers.
//!
//! A request must be acknowledged within 10 business days and completed within 45
//! calendar days of receipt, extendable once by up to 45 days with notice to the
//! requester. Everything here is pure: `now` is a parameter. Business days skip
//! Saturdays and Sundays (public holidays are not modelled: the deadline errs early).

use crate::policy::Records;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, Weekday};

/// What the requester asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A copy of everything held about the account (answered with a data export).
    Access,
    /// Erasure of the account's personal data, except what must be kept.
    Deletion,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Deletion => "deletion",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(Self::Access),
            "deletion" => Some(Self::Deletion),
            _ => None,
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Received,
    Acknowledged,
    Completed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Acknowledged => "acknowledged",
            Self::Completed => "completed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "received" => Some(Self::Received),
            "acknowledged" => Some(Self::Acknowledged),
            "completed" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// A privacy request's timers and flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    #[serde(with = "time::serde::rfc3339")]
    pub ack_due_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub extended: bool,
}

/// `n` business days (Monday to Friday) after `from`, at the same time of day.
pub fn add_business_days(from: OffsetDateTime, n: u32) -> OffsetDateTime {
    let mut t = from;
    let mut left = n;
    while left > 0 {
        t += Duration::days(1);
        if !matches!(t.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    t
}

/// The deadlines of a request received at `received_at`.
pub fn deadlines(received_at: OffsetDateTime, policy: &Records) -> Deadlines {
    Deadlines {
        ack_due_at: add_business_days(received_at, policy.privacy_ack_business_days),
        due_at: received_at + Duration::days(i64::from(policy.privacy_complete_days)),
        extended: false,
    }
}

/// Why a request's deadlines cannot change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the request was already extended once")]
    AlreadyExtended,
    #[error("the request is completed")]
    Completed,
}

impl Error {
    pub fn code(self) -> &'static str {
        match self {
            Self::AlreadyExtended => "privacy_already_extended",
            Self::Completed => "privacy_request_completed",
        }
    }
}

/// Extends the completion deadline once, by the policy's extension days.
pub fn extend(d: &Deadlines, status: RequestStatus, policy: &Records) -> Result<Deadlines, Error> {
    if status == RequestStatus::Completed {
        return Err(Error::Completed);
    }
    if d.extended {
        return Err(Error::AlreadyExtended);
    }
    Ok(Deadlines {
        due_at: d.due_at + Duration::days(i64::from(policy.privacy_extension_days)),
        extended: true,
        ..d.clone()
    })
}

/// The overdue flags of a request at `now`: (acknowledgement overdue, completion overdue).
pub fn overdue(d: &Deadlines, status: RequestStatus, now: OffsetDateTime) -> (bool, bool) {
    match status {
        RequestStatus::Completed => (false, false),
        RequestStatus::Acknowledged => (false, now >= d.due_at),
        RequestStatus::Received => (now >= d.ack_due_at, now >= d.due_at),
    }
}

/// When the timer of a request should next fire: the earliest deadline still ahead.
pub fn next_check(d: &Deadlines, status: RequestStatus, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let candidates = match status {
        RequestStatus::Completed => vec![],
        RequestStatus::Acknowledged => vec![d.due_at],
        RequestStatus::Received => vec![d.ack_due_at, d.due_at],
    };
    candidates.into_iter().filter(|t| *t > now).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ten_business_days_skip_weekends_and_extension_is_once() {
        let p = Records::default();
        // Monday 2026-11-30: ten business days later is Monday 2026-12-14.
        let d = deadlines(datetime!(2026-11-30 09:00 UTC), &p);
        assert_eq!(d.ack_due_at, datetime!(2026-12-14 09:00 UTC));
        assert_eq!(d.due_at, datetime!(2027-01-14 09:00 UTC));
        // A Saturday request: the count starts on Monday.
        assert_eq!(add_business_days(datetime!(2026-12-05 09:00 UTC), 1), datetime!(2026-12-07 09:00 UTC));
        let e = extend(&d, RequestStatus::Acknowledged, &p).unwrap();
        assert_eq!(e.due_at, datetime!(2027-02-28 09:00 UTC));
        assert_eq!(extend(&e, RequestStatus::Acknowledged, &p), Err(Error::AlreadyExtended));
        assert_eq!(extend(&d, RequestStatus::Completed, &p), Err(Error::Completed));
    }

    #[test]
    fn overdue_flags_and_next_check_follow_the_status() {
        let d = deadlines(datetime!(2026-11-30 09:00 UTC), &Records::default());
        let before = datetime!(2026-12-01 00:00 UTC);
        assert_eq!(overdue(&d, RequestStatus::Received, before), (false, false));
        assert_eq!(next_check(&d, RequestStatus::Received, before), Some(d.ack_due_at));
        assert_eq!(overdue(&d, RequestStatus::Received, d.ack_due_at), (true, false));
        assert_eq!(next_check(&d, RequestStatus::Received, d.ack_due_at), Some(d.due_at));
        assert_eq!(overdue(&d, RequestStatus::Acknowledged, d.due_at), (false, true));
        assert_eq!(next_check(&d, RequestStatus::Acknowledged, d.due_at), None);
        assert_eq!(overdue(&d, RequestStatus::Completed, d.due_at), (false, false));
    }
}
