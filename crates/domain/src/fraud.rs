//! Fraud guards as pure functions: when a case's verification opens the account's CPNI,
//! and the risk score of a case from its signals.
//!
//! The shell gathers the signals (SIM and contact changes, failed verification attempts,
//! how many requests one agent or client address made lately) and records the score as
//! a `risk_assessed` event; the case then needs two reviewers when the score is high.

use crate::case::{Case, Channel, Step};
use crate::policy::{Fraud, RiskWeights};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Whether these cases of one account open its CPNI now: an open case whose customer
/// was verified does, and so does a verified case that ended less than the policy
/// window ago. Anything else (no verification at all) keeps the CPNI hidden.
pub fn cpni_open<'a>(cases: impl IntoIterator<Item = &'a Case>, policy: &Fraud, now: OffsetDateTime) -> bool {
    let window = Duration::minutes(i64::from(policy.cpni_window_minutes));
    cases.into_iter().any(|c| c.verification == Step::Done && (!c.status.is_terminal() || c.updated_at + window > now))
}

/// What the shell knows about a case when it scores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskSignals {
    pub channel: Channel,
    /// When the line's SIM (ICCID, IMSI or EID) last changed.
    pub sim_changed_at: Option<OffsetDateTime>,
    /// When the account's email or alternate phone last changed.
    pub contacts_changed_at: Option<OffsetDateTime>,
    /// Failed verification attempts recorded on the case (`verification_failed` events).
    pub failed_verifications: u32,
    /// Cases opened by the same agent or API client within the burst window (this one included).
    pub requests_by_agent: u32,
    /// Cases opened from the same client address within the burst window (this one included).
    pub requests_by_address: u32,
}

/// One reason a case scored points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskReason {
    /// `recent_sim_change`, `recent_contact_change`, `failed_verifications`, `channel`,
    /// `agent_burst` or `address_burst`.
    pub code: String,
    pub points: u32,
}

/// A case's risk: the score, whether it is high (two reviewers), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub score: u32,
    pub high: bool,
    pub reasons: Vec<RiskReason>,
}

/// Scores a case from its signals under the policy's weights.
pub fn score(signals: &RiskSignals, weights: &RiskWeights, now: OffsetDateTime) -> Risk {
    let mut reasons = Vec::new();
    let mut add = |code: &str, points: u32| {
        if points > 0 {
            reasons.push(RiskReason { code: code.to_owned(), points });
        }
    };
    let recent = |at: Option<OffsetDateTime>, days: u32| {
        at.is_some_and(|t| t <= now && now - t < Duration::days(i64::from(days)))
    };
    if recent(signals.sim_changed_at, weights.sim_change_days) {
        add("recent_sim_change", weights.sim_change_points);
    }
    if recent(signals.contacts_changed_at, weights.contacts_change_days) {
        add("recent_contact_change", weights.contacts_change_points);
    }
    let failed = signals
        .failed_verifications
        .saturating_mul(weights.failed_attempt_points)
        .min(weights.failed_attempts_max_points);
    add("failed_verifications", failed);
    add("channel", weights.channel_points.of(signals.channel));
    if signals.requests_by_agent >= weights.burst_requests {
        add("agent_burst", weights.burst_points);
    }
    if signals.requests_by_address >= weights.burst_requests {
        add("address_burst", weights.burst_points);
    }
    let score = reasons.iter().fold(0u32, |sum, r| sum.saturating_add(r.points));
    Risk { score, high: score >= weights.high_score, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-02 12:00 UTC);

    fn quiet() -> RiskSignals {
        RiskSignals {
            channel: Channel::Store,
            sim_changed_at: None,
            contacts_changed_at: None,
            failed_verifications: 0,
            requests_by_agent: 1,
            requests_by_address: 0,
        }
    }

    fn codes(r: &Risk) -> Vec<&str> {
        r.reasons.iter().map(|x| x.code.as_str()).collect()
    }

    #[test]
    fn a_quiet_store_request_scores_nothing() {
        let r = score(&quiet(), &RiskWeights::default(), NOW);
        assert_eq!((r.score, r.high, r.reasons.len()), (0, false, 0));
    }

    #[test]
    fn a_recent_sim_change_and_contact_change_make_a_case_high_risk() {
        let s = RiskSignals {
            sim_changed_at: Some(NOW - Duration::days(2)),
            contacts_changed_at: Some(NOW - Duration::days(1)),
            ..quiet()
        };
        let r = score(&s, &RiskWeights::default(), NOW);
        assert_eq!(codes(&r), ["recent_sim_change", "recent_contact_change"]);
        assert_eq!((r.score, r.high), (70, true));
    }

    #[test]
    fn old_changes_do_not_count() {
        let s = RiskSignals {
            sim_changed_at: Some(NOW - Duration::days(8)),
            contacts_changed_at: Some(NOW - Duration::days(31)),
            ..quiet()
        };
        assert_eq!(score(&s, &RiskWeights::default(), NOW).score, 0);
    }

    #[test]
    fn failed_attempts_are_capped_and_channels_weigh() {
        let s = RiskSignals { failed_verifications: 9, channel: Channel::Chat, ..quiet() };
        let r = score(&s, &RiskWeights::default(), NOW);
        assert_eq!(codes(&r), ["failed_verifications", "channel"]);
        assert_eq!(r.score, 40 + 10);
        assert!(r.high);
    }

    #[test]
    fn bursts_from_one_agent_or_address_add_points_at_the_threshold() {
        let w = RiskWeights::default();
        let below = RiskSignals { requests_by_agent: 4, requests_by_address: 4, ..quiet() };
        assert_eq!(score(&below, &w, NOW).score, 0);
        let at = RiskSignals { requests_by_agent: 5, requests_by_address: 5, ..quiet() };
        let r = score(&at, &w, NOW);
        assert_eq!(codes(&r), ["agent_burst", "address_burst"]);
        assert_eq!((r.score, r.high), (60, true));
    }

    #[test]
    fn the_threshold_is_policy() {
        let w = RiskWeights { high_score: 5, ..RiskWeights::default() };
        let s = RiskSignals { channel: Channel::Chat, ..quiet() };
        assert!(score(&s, &w, NOW).high);
    }
}
