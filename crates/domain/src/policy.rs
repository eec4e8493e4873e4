//! The operator's policy: every number the case engine decides with, with documented defaults.
//!
//! The shell loads it from TOML and `LINEOUT_POLICY__…` variables; [`Policy::validate`]
//! names every bad key so startup fails with a clear message.

use crate::case::{Channel, VerificationMethod};
use crate::values::{Currency, Money};
use serde::{Deserialize, Serialize};

/// All policy settings. Field names are the config keys under `[policy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Currency of all amounts below.
    pub currency: Currency,
    /// Days a case may wait for identity verification before it expires.
    pub verification_expiry_days: u32,
    /// Hours within which a manual review should be decided; overdue reviews are flagged.
    pub review_sla_hours: u32,
    /// When a case is approved without a reviewer.
    pub auto_approve: AutoApprove,
    /// Hours after approval during which the customer may still withdraw.
    pub withdrawal_window_hours: u32,
    /// Days the customer has to return a device after verification.
    pub device_return_window_days: u32,
    /// Device fees (restocking bands, damage, non-return).
    pub fees: Fees,
    /// Unpaid balances up to this amount may be written off by an agent (0 = never).
    pub write_off_max_cents: i64,
    /// What happens to unused prepaid money at termination.
    pub refund: Refund,
    /// Days a number rests after disconnection before reuse.
    pub number_aging: NumberAging,
    /// Delivery retries for outbox effects (messages, network calls, refunds).
    pub retry: Retry,
    /// Number Transfer PINs for port-out.
    pub port_out: PortOut,
    /// Device returns: what comes back, where it goes, and the reminders.
    pub device_return: DeviceReturn,
    /// Identity verification: one-time codes, attempt limits, and the methods per channel.
    pub verification: Verification,
}

/// Identity verification (FCC 23-95 style): codes, lockout, rate limits, methods per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Verification {
    /// Minutes a one-time code stays valid.
    pub code_validity_minutes: u32,
    /// Wrong attempts (codes or PIN) before the case's verification is locked.
    pub max_failed_attempts: u32,
    /// Minutes verification stays locked after too many wrong attempts.
    pub lock_minutes: u32,
    /// Codes sent per line within `code_send_window_minutes`.
    pub code_sends_per_window: u32,
    pub code_send_window_minutes: u32,
    /// Verification attempts per client address (across cases) within `client_window_minutes`.
    pub client_attempts_per_window: u32,
    pub client_window_minutes: u32,
    /// Which methods verify a case, per channel.
    pub methods: ChannelMethods,
}

/// The verification methods each channel accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelMethods {
    pub ivr: Vec<VerificationMethod>,
    pub web: Vec<VerificationMethod>,
    pub chat: Vec<VerificationMethod>,
    pub store: Vec<VerificationMethod>,
    pub api: Vec<VerificationMethod>,
    pub bulk: Vec<VerificationMethod>,
}

impl Default for Verification {
    fn default() -> Self {
        Self {
            code_validity_minutes: 10,
            max_failed_attempts: 5,
            lock_minutes: 30,
            code_sends_per_window: 3,
            code_send_window_minutes: 15,
            client_attempts_per_window: 20,
            client_window_minutes: 15,
            methods: ChannelMethods::default(),
        }
    }
}

impl Default for ChannelMethods {
    fn default() -> Self {
        use crate::verification::default_methods;
        Self {
            ivr: default_methods(Channel::Ivr),
            web: default_methods(Channel::Web),
            chat: default_methods(Channel::Chat),
            store: default_methods(Channel::Store),
            api: default_methods(Channel::Api),
            bulk: default_methods(Channel::Bulk),
        }
    }
}

impl ChannelMethods {
    pub fn of(&self, channel: Channel) -> &[VerificationMethod] {
        match channel {
            Channel::Ivr => &self.ivr,
            Channel::Web => &self.web,
            Channel::Chat => &self.chat,
            Channel::Store => &self.store,
            Channel::Api => &self.api,
            Channel::Bulk => &self.bulk,
        }
    }
}

impl Verification {
    /// Whether `method` verifies a case opened on `channel`.
    pub fn allows(&self, channel: Channel, method: VerificationMethod) -> bool {
        // The foundation's say-so method never verifies, whatever the configuration.
        method != VerificationMethod::AgentAttested && self.methods.of(channel).contains(&method)
    }

    fn validate(&self, check: &mut dyn FnMut(bool, &str, &str)) {
        use VerificationMethod as M;
        check((1..=60).contains(&self.code_validity_minutes), "verification.code_validity_minutes", "must be 1-60");
        check((1..=20).contains(&self.max_failed_attempts), "verification.max_failed_attempts", "must be 1-20");
        check((1..=24 * 60).contains(&self.lock_minutes), "verification.lock_minutes", "must be 1-1440");
        check((1..=20).contains(&self.code_sends_per_window), "verification.code_sends_per_window", "must be 1-20");
        check(
            (1..=24 * 60).contains(&self.code_send_window_minutes),
            "verification.code_send_window_minutes",
            "must be 1-1440",
        );
        check(
            (1..=1_000).contains(&self.client_attempts_per_window),
            "verification.client_attempts_per_window",
            "must be 1-1000",
        );
        check(
            (1..=24 * 60).contains(&self.client_window_minutes),
            "verification.client_window_minutes",
            "must be 1-1440",
        );
        for channel in Channel::ALL {
            let methods = self.methods.of(channel);
            let key = format!("verification.methods.{}", channel.as_str());
            check(methods.len() <= 5, &key, "at most 5 methods");
            check(!methods.contains(&M::AgentAttested), &key, "agent_attested no longer verifies; remove it");
            check(
                channel == Channel::Bulk || !methods.contains(&M::OperatorInitiated),
                &key,
                "operator_initiated belongs to the bulk channel only",
            );
            check(
                channel != Channel::Bulk || methods.iter().all(|m| *m == M::OperatorInitiated),
                &key,
                "the bulk channel accepts operator_initiated only",
            );
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceReturn {
    /// Accessories expected back with a device.
    pub accessories: Vec<String>,
    /// The warehouse return address printed on labels (1-6 lines).
    pub return_address: Vec<String>,
    /// Reminders this many days before the return deadline (descending).
    pub reminder_days: Vec<u32>,
}

impl Default for DeviceReturn {
    fn default() -> Self {
        Self {
            accessories: vec!["charging cable".into(), "SIM ejector tool".into(), "original box".into()],
            return_address: vec![
                "lineout Returns Center".into(),
                "4100 Warehouse Way, Dock 7".into(),
                "Fremont, CA 94538".into(),
            ],
            reminder_days: vec![7, 2],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortOut {
    /// Days a Number Transfer PIN stays valid (Verizon, T-Mobile: 7; Google Fi: 14).
    pub pin_validity_days: u32,
    /// Wrong port requests (account number or PIN) before the PIN is void.
    pub max_attempts: u32,
}

impl Default for PortOut {
    fn default() -> Self {
        Self { pin_validity_days: 7, max_attempts: 5 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoApprove {
    pub enabled: bool,
    /// Channels whose cases may be approved automatically.
    pub channels: Vec<Channel>,
    /// Cases whose refund exceeds this are reviewed by a person.
    pub max_refund_cents: i64,
    /// Cases with a device return are reviewed by a person when true.
    pub require_no_device: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fees {
    /// Restocking fee bands by device price, ascending by `below_cents`; the last band has no upper bound.
    pub restocking: Vec<FeeBand>,
    /// Extra fee for a device received damaged.
    pub damaged_cents: i64,
    /// Extra fee for a device received broken.
    pub broken_cents: i64,
    /// Fee charged when a device is not returned by its deadline.
    pub non_return_cents: i64,
    /// Fee for each accessory expected back but missing.
    pub missing_accessory_cents: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeBand {
    /// Upper bound (exclusive) of the device price for this band; `None` for the last band.
    pub below_cents: Option<i64>,
    pub fee_cents: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundMode {
    Refund,
    Forfeit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Refund {
    pub mode: RefundMode,
    /// Fee deducted from a refund.
    pub fee_cents: i64,
    /// Refunds (after the fee) below this are forfeited.
    pub minimum_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberAging {
    pub residential_days: u32,
    pub business_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retry {
    /// Attempts before an effect is dead-lettered.
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            currency: Currency::USD,
            verification_expiry_days: 7,
            review_sla_hours: 72,
            auto_approve: AutoApprove::default(),
            withdrawal_window_hours: 24,
            device_return_window_days: 30,
            fees: Fees::default(),
            write_off_max_cents: 500,
            refund: Refund::default(),
            number_aging: NumberAging::default(),
            retry: Retry::default(),
            port_out: PortOut::default(),
            device_return: DeviceReturn::default(),
            verification: Verification::default(),
        }
    }
}

impl Default for AutoApprove {
    fn default() -> Self {
        Self {
            enabled: true,
            channels: vec![Channel::Ivr, Channel::Web, Channel::Chat, Channel::Store, Channel::Api, Channel::Bulk],
            max_refund_cents: 10_000,
            require_no_device: true,
        }
    }
}

impl Default for Fees {
    fn default() -> Self {
        // T-Mobile's published restocking bands: $20 / $40 / $70 for devices under $300 / $300-599 / $600 and over.
        Self {
            restocking: vec![
                FeeBand { below_cents: Some(30_000), fee_cents: 2_000 },
                FeeBand { below_cents: Some(60_000), fee_cents: 4_000 },
                FeeBand { below_cents: None, fee_cents: 7_000 },
            ],
            damaged_cents: 5_000,
            broken_cents: 15_000,
            non_return_cents: 25_000,
            missing_accessory_cents: 1_500,
        }
    }
}

impl Default for Refund {
    fn default() -> Self {
        Self { mode: RefundMode::Refund, fee_cents: 0, minimum_cents: 100 }
    }
}

impl Default for NumberAging {
    fn default() -> Self {
        Self { residential_days: 90, business_days: 365 }
    }
}

impl Default for Retry {
    fn default() -> Self {
        Self { max_attempts: 8, base_delay_ms: 1_000, max_delay_ms: 300_000 }
    }
}

/// One problem with a policy value, naming its config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "policy.{}: {}", self.key, self.message)
    }
}

impl Policy {
    /// Checks every value; returns all problems, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(PolicyProblem { key: key.to_owned(), message: message.to_owned() });
            }
        };
        check((1..=90).contains(&self.verification_expiry_days), "verification_expiry_days", "must be 1-90");
        check((1..=24 * 30).contains(&self.review_sla_hours), "review_sla_hours", "must be 1-720");
        check(self.withdrawal_window_hours <= 24 * 30, "withdrawal_window_hours", "must be 0-720");
        check((1..=365).contains(&self.device_return_window_days), "device_return_window_days", "must be 1-365");
        let money_ok = |c: i64| (0..=crate::values::MONEY_LIMIT_CENTS).contains(&c);
        check(money_ok(self.write_off_max_cents), "write_off_max_cents", "must be 0 or more");
        check(money_ok(self.auto_approve.max_refund_cents), "auto_approve.max_refund_cents", "must be 0 or more");
        check(money_ok(self.refund.fee_cents), "refund.fee_cents", "must be 0 or more");
        check(money_ok(self.refund.minimum_cents), "refund.minimum_cents", "must be 0 or more");
        check(money_ok(self.fees.damaged_cents), "fees.damaged_cents", "must be 0 or more");
        check(money_ok(self.fees.broken_cents), "fees.broken_cents", "must be 0 or more");
        check(money_ok(self.fees.non_return_cents), "fees.non_return_cents", "must be 0 or more");
        let bands = &self.fees.restocking;
        let bands_ok = !bands.is_empty()
            && bands.iter().all(|b| money_ok(b.fee_cents))
            && bands.last().is_some_and(|b| b.below_cents.is_none())
            && bands[..bands.len() - 1].iter().all(|b| b.below_cents.is_some())
            && bands.windows(2).all(|w| match (w[0].below_cents, w[1].below_cents) {
                (Some(a), Some(b)) => a < b,
                _ => true,
            });
        check(
            bands_ok,
            "fees.restocking",
            "must list bands in ascending order of below_cents, the last without below_cents",
        );
        check(
            (45..=90).contains(&self.number_aging.residential_days),
            "number_aging.residential_days",
            "must be 45-90 (47 CFR 52.15(f)(1)(ii))",
        );
        check(
            (45..=365).contains(&self.number_aging.business_days),
            "number_aging.business_days",
            "must be 45-365 (47 CFR 52.15(f)(1)(ii))",
        );
        check((1..=100).contains(&self.retry.max_attempts), "retry.max_attempts", "must be 1-100");
        check((1..=3_600_000).contains(&self.retry.base_delay_ms), "retry.base_delay_ms", "must be 1-3600000");
        check(
            self.retry.max_delay_ms >= self.retry.base_delay_ms && self.retry.max_delay_ms <= 86_400_000,
            "retry.max_delay_ms",
            "must be at least base_delay_ms and at most 86400000",
        );
        check((1..=30).contains(&self.port_out.pin_validity_days), "port_out.pin_validity_days", "must be 1-30");
        check((1..=20).contains(&self.port_out.max_attempts), "port_out.max_attempts", "must be 1-20");
        check(money_ok(self.fees.missing_accessory_cents), "fees.missing_accessory_cents", "must be 0 or more");
        let r = &self.device_return;
        check(
            r.accessories.len() <= 20 && r.accessories.iter().all(|a| (1..=60).contains(&a.chars().count())),
            "device_return.accessories",
            "at most 20 names of 1-60 characters",
        );
        check(
            (1..=6).contains(&r.return_address.len())
                && r.return_address.iter().all(|l| (1..=80).contains(&l.chars().count())),
            "device_return.return_address",
            "1-6 lines of 1-80 characters",
        );
        check(
            r.reminder_days.len() <= 5
                && r.reminder_days.windows(2).all(|w| w[0] > w[1])
                && r.reminder_days.iter().all(|d| *d >= 1 && *d < self.device_return_window_days),
            "device_return.reminder_days",
            "at most 5 descending day counts, each 1 or more and below device_return_window_days",
        );
        self.verification.validate(&mut check);
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// The restocking fee for a device of this price.
    pub fn restocking_fee(&self, price: Money) -> Money {
        let fee = self
            .fees
            .restocking
            .iter()
            .find(|b| b.below_cents.is_none_or(|limit| price.cents < limit))
            .map_or(0, |b| b.fee_cents);
        Money::new(fee, price.currency)
    }

    /// Days a disconnected number of this kind of account rests before reuse.
    pub fn aging_days(&self, kind: crate::account::AccountKind) -> u32 {
        match kind {
            crate::account::AccountKind::Residential => self.number_aging.residential_days,
            crate::account::AccountKind::Business => self.number_aging.business_days,
        }
    }

    /// Delay before retry number `attempt` (1-based): base * 2^(attempt-1), capped.
    pub fn retry_delay_ms(&self, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(40);
        self.retry.base_delay_ms.saturating_mul(1u64 << shift).min(self.retry.max_delay_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut p = Policy::default();
        p.number_aging.residential_days = 30;
        p.retry.max_attempts = 0;
        let problems = p.validate().err().unwrap_or_default();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["number_aging.residential_days", "retry.max_attempts"]);
    }

    #[test]
    fn verification_defaults_and_bad_values() {
        let p = Policy::default();
        assert!(p.verification.allows(Channel::Web, VerificationMethod::OneTimeCode));
        assert!(!p.verification.allows(Channel::Web, VerificationMethod::Pin));
        assert!(p.verification.allows(Channel::Store, VerificationMethod::PhotoId));
        assert!(p.verification.allows(Channel::Ivr, VerificationMethod::Pin));
        assert!(p.verification.allows(Channel::Api, VerificationMethod::OperatorToken));
        assert!(!p.verification.allows(Channel::Api, VerificationMethod::AgentAttested));
        let mut bad = Policy::default();
        bad.verification.max_failed_attempts = 0;
        bad.verification.methods.web.push(VerificationMethod::AgentAttested);
        bad.verification.methods.store.push(VerificationMethod::OperatorInitiated);
        let problems = bad.validate().err().unwrap_or_default();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["verification.max_failed_attempts", "verification.methods.web", "verification.methods.store"]
        );
    }

    #[test]
    fn restocking_bands_follow_price() {
        let p = Policy::default();
        assert_eq!(p.restocking_fee(Money::usd(29_999)).cents, 2_000);
        assert_eq!(p.restocking_fee(Money::usd(30_000)).cents, 4_000);
        assert_eq!(p.restocking_fee(Money::usd(60_000)).cents, 7_000);
    }

    #[test]
    fn retry_delay_is_bounded() {
        let p = Policy::default();
        assert_eq!(p.retry_delay_ms(1), 1_000);
        assert_eq!(p.retry_delay_ms(3), 4_000);
        assert_eq!(p.retry_delay_ms(99), 300_000);
    }
}
