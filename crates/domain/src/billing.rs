//! The final bill: what the line's recurring plan charge and a financed device add to
//! (or take from) the account when the line's service ends. Pure functions only.
//!
//! Billing cycles start at midnight UTC on the account's `billing_cycle_day` (1-28) and
//! run to the same day of the next month (exclusive). The day on which service ends
//! counts as a used day; the unused days are the rest of the cycle.
//!
//! Rounding rule (documented in docs/money.md): the credit for the unused days is
//! `floor(charge × unused_days / days_in_cycle)` in integer cents, and the used part is
//! `charge − credit`, so the two parts always add up to the charge exactly and any
//! rounding remainder (less than one cent) stays with the operator.

use crate::policy::{FinalBillMode, FinalBillPolicy};
use crate::values::{Currency, Money};
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time};

/// One billing cycle: `[start, end)` in whole days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    pub start: Date,
    pub end: Date,
}

impl Cycle {
    /// Days in the cycle (28-31).
    pub fn days(&self) -> i64 {
        (self.end - self.start).whole_days()
    }
}

/// The cycle-start date `cycle_day` of the given month (the day is clamped to 1-28).
fn cycle_date(year: i32, month: Month, cycle_day: u8) -> Option<Date> {
    Date::from_calendar_date(year, month, cycle_day.clamp(1, 28)).ok()
}

/// The billing cycle that contains `day`. `None` only at the ends of the calendar.
pub fn cycle_containing(day: Date, cycle_day: u8) -> Option<Cycle> {
    let this = cycle_date(day.year(), day.month(), cycle_day)?;
    let (start, next_month) = if day >= this {
        (this, this.month().next())
    } else {
        let prev = day.month().previous();
        let year = if prev == Month::December { day.year() - 1 } else { day.year() };
        (cycle_date(year, prev, cycle_day)?, day.month())
    };
    let end_year = if next_month == Month::January { start.year() + 1 } else { start.year() };
    let end = cycle_date(end_year, next_month, cycle_day)?;
    Some(Cycle { start, end })
}

/// Splits a cycle's charge into (used, unused) parts by day count with the documented
/// rounding: unused = floor(charge × unused_days / days_in_cycle), used = charge − unused.
/// Out-of-range inputs are clamped (a negative charge counts as zero; unused days lie in
/// 0..=days_in_cycle), so the result is never negative and never exceeds the charge.
pub fn prorate(charge_cents: i64, unused_days: i64, days_in_cycle: i64) -> (i64, i64) {
    let charge = charge_cents.max(0);
    if days_in_cycle <= 0 {
        return (charge, 0);
    }
    let unused_days = unused_days.clamp(0, days_in_cycle);
    let unused = i128::from(charge) * i128::from(unused_days) / i128::from(days_in_cycle);
    // unused <= charge because unused_days <= days_in_cycle, so it fits in an i64.
    let unused = i64::try_from(unused).unwrap_or(charge);
    (charge - unused, unused)
}

/// What a final bill line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillLineKind {
    /// The plan charge for (part of) the current cycle, when billed in arrears.
    PlanCharge,
    /// A credit for the unused days of a cycle billed in advance.
    ProrationCredit,
    /// Installments left on a financed device, due now.
    DeviceInstallments,
}

impl BillLineKind {
    /// Whether the line adds to what the customer owes (a charge) or takes from it (a credit).
    pub fn is_credit(self) -> bool {
        matches!(self, Self::ProrationCredit)
    }
}

/// One line of a final bill. `amount` is never negative; the kind gives the direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLine {
    pub kind: BillLineKind,
    pub amount: Money,
    pub label: String,
}

/// The final bill of a line whose service ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalBill {
    pub mode: FinalBillMode,
    #[serde(with = "time::serde::rfc3339")]
    pub cycle_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub cycle_end: OffsetDateTime,
    pub days_in_cycle: u32,
    pub unused_days: u32,
    pub lines: Vec<BillLine>,
}

impl FinalBill {
    /// Charges minus credits: what the bill adds to the customer's balance (may be negative).
    pub fn net_cents(&self) -> i64 {
        self.lines.iter().fold(0i64, |sum, l| {
            if l.kind.is_credit() { sum.saturating_sub(l.amount.cents) } else { sum.saturating_add(l.amount.cents) }
        })
    }
}

/// The final bill for a line with this recurring charge and these remaining installments
/// whose service ends at `ended_at`. `None` when nothing is billed (or at the ends of the calendar).
pub fn final_bill(
    policy: &FinalBillPolicy,
    monthly_charge: Money,
    remaining_installments: Money,
    cycle_day: u8,
    ended_at: OffsetDateTime,
) -> Option<FinalBill> {
    let cur: Currency = monthly_charge.currency;
    let cycle = cycle_containing(ended_at.date(), cycle_day)?;
    let days = cycle.days();
    if days <= 0 {
        return None;
    }
    // The day service ends counts as used.
    let used_days = ((ended_at.date() - cycle.start).whole_days() + 1).clamp(0, days);
    let unused_days = days - used_days;
    let (used, unused) = prorate(monthly_charge.cents, unused_days, days);
    let mut lines = Vec::new();
    let mut push = |kind, cents: i64, label: String| {
        if cents > 0 {
            lines.push(BillLine { kind, amount: Money::new(cents, cur), label });
        }
    };
    match (policy.mode, policy.billed_in_advance) {
        // Paid ahead for the whole cycle; service runs to its end; nothing more to charge.
        (FinalBillMode::EndOfCycle, true) => {}
        (FinalBillMode::EndOfCycle, false) => push(
            BillLineKind::PlanCharge,
            monthly_charge.cents.max(0),
            format!("plan charge to cycle end ({days} days)"),
        ),
        (FinalBillMode::ImmediateProrated, true) => {
            push(BillLineKind::ProrationCredit, unused, format!("credit for {unused_days} unused of {days} days"))
        }
        (FinalBillMode::ImmediateProrated, false) => {
            push(BillLineKind::PlanCharge, used, format!("plan charge for {used_days} used of {days} days"))
        }
    }
    push(
        BillLineKind::DeviceInstallments,
        remaining_installments.cents.max(0),
        "remaining device installments".to_owned(),
    );
    if lines.is_empty() {
        return None;
    }
    let midnight = |d: Date| d.with_time(Time::MIDNIGHT).assume_utc();
    Some(FinalBill {
        mode: policy.mode,
        cycle_start: midnight(cycle.start),
        cycle_end: midnight(cycle.end),
        days_in_cycle: u32::try_from(days).unwrap_or(0),
        unused_days: u32::try_from(unused_days).unwrap_or(0),
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::Duration;
    use time::macros::{date, datetime};

    fn policy(mode: FinalBillMode, billed_in_advance: bool) -> FinalBillPolicy {
        FinalBillPolicy { mode, billed_in_advance }
    }

    #[test]
    fn cycles_start_on_the_cycle_day() {
        let c = cycle_containing(date!(2026 - 11 - 20), 15).unwrap_or_else(|| unreachable!());
        assert_eq!((c.start, c.end, c.days()), (date!(2026 - 11 - 15), date!(2026 - 12 - 15), 30));
        let c = cycle_containing(date!(2026 - 11 - 14), 15).unwrap_or_else(|| unreachable!());
        assert_eq!((c.start, c.end), (date!(2026 - 10 - 15), date!(2026 - 11 - 15)));
        let c = cycle_containing(date!(2027 - 01 - 03), 28).unwrap_or_else(|| unreachable!());
        assert_eq!((c.start, c.end), (date!(2026 - 12 - 28), date!(2027 - 01 - 28)));
        let c = cycle_containing(date!(2027 - 02 - 01), 1).unwrap_or_else(|| unreachable!());
        assert_eq!((c.start, c.end, c.days()), (date!(2027 - 02 - 01), date!(2027 - 03 - 01), 28));
    }

    #[test]
    fn the_credit_is_rounded_down_and_the_parts_add_up() {
        // $50.00 over 30 days, 11 unused: 5000 × 11 / 30 = 1833.33… → 1833; used = 3167.
        assert_eq!(prorate(5_000, 11, 30), (3_167, 1_833));
        assert_eq!(prorate(1, 29, 30), (1, 0));
        assert_eq!(prorate(5_000, 0, 30), (5_000, 0));
        assert_eq!(prorate(5_000, 30, 30), (0, 5_000));
        assert_eq!(prorate(-5, 3, 30), (0, 0));
    }

    #[test]
    fn each_mode_bills_what_the_policy_says() {
        let charge = Money::usd(5_000);
        let none = Money::usd(0);
        // Service ends on Nov 20 in a cycle Nov 15 - Dec 15 (30 days): 6 used days, 24 unused.
        let at = datetime!(2026-11-20 10:00 UTC);
        let bill = |mode, adv, inst| final_bill(&policy(mode, adv), charge, inst, 15, at);
        assert_eq!(bill(FinalBillMode::EndOfCycle, true, none), None);
        let b = bill(FinalBillMode::ImmediateProrated, true, none).unwrap_or_else(|| unreachable!());
        assert_eq!((b.days_in_cycle, b.unused_days), (30, 24));
        assert_eq!(b.lines[0].kind, BillLineKind::ProrationCredit);
        assert_eq!(b.lines[0].amount.cents, 4_000);
        assert_eq!(b.net_cents(), -4_000);
        let b = bill(FinalBillMode::ImmediateProrated, false, none).unwrap_or_else(|| unreachable!());
        assert_eq!((b.lines[0].kind, b.lines[0].amount.cents), (BillLineKind::PlanCharge, 1_000));
        let b = bill(FinalBillMode::EndOfCycle, false, Money::usd(30_000)).unwrap_or_else(|| unreachable!());
        assert_eq!(b.lines.len(), 2);
        assert_eq!(b.net_cents(), 35_000);
        let b = bill(FinalBillMode::EndOfCycle, true, Money::usd(30_000)).unwrap_or_else(|| unreachable!());
        assert_eq!(b.lines.iter().map(|l| l.kind).collect::<Vec<_>>(), [BillLineKind::DeviceInstallments]);
    }

    proptest! {
        #[test]
        fn proration_never_exceeds_the_charge_nor_goes_negative_and_sums_exactly(
            charge in 0i64..=crate::values::MONEY_LIMIT_CENTS,
            days in 28i64..=31,
            unused in 0i64..=31,
        ) {
            let (used, credit) = prorate(charge, unused, days);
            prop_assert!(credit >= 0 && used >= 0);
            prop_assert!(credit <= charge && used <= charge);
            prop_assert_eq!(used + credit, charge);
            // The documented rule, checked against exact rational arithmetic.
            let unused = unused.min(days);
            prop_assert!(i128::from(credit) * i128::from(days) <= i128::from(charge) * i128::from(unused));
            prop_assert!(i128::from(credit + 1) * i128::from(days) > i128::from(charge) * i128::from(unused));
        }

        #[test]
        fn a_final_bill_credit_is_within_the_cycle_charge(
            charge in 0i64..10_000_000,
            day_offset in 0i64..3_000,
            cycle_day in 1u8..=28,
            minutes in 0i64..1_440,
        ) {
            let at = datetime!(2025-01-01 00:00 UTC) + Duration::days(day_offset) + Duration::minutes(minutes);
            let advance = final_bill(&policy(FinalBillMode::ImmediateProrated, true), Money::usd(charge), Money::usd(0), cycle_day, at);
            let arrears = final_bill(&policy(FinalBillMode::ImmediateProrated, false), Money::usd(charge), Money::usd(0), cycle_day, at);
            for b in advance.iter().chain(arrears.iter()) {
                prop_assert!((28..=31).contains(&b.days_in_cycle));
                prop_assert!(b.unused_days < b.days_in_cycle);
                prop_assert!(b.cycle_start <= at && at < b.cycle_end);
            }
            // In advance: a credit for the unused days; in arrears: a charge for the used days.
            let credit = advance.map_or(0, |b| -b.net_cents());
            let used = arrears.map_or(0, |b| b.net_cents());
            prop_assert!((0..=charge).contains(&credit) && (0..=charge).contains(&used));
            prop_assert_eq!(used + credit, charge);
        }
    }
}
