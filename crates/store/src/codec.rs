//! Conversions between domain values and column values: timestamps as Unix
//! milliseconds, enums as their plain strings, and one decoder per table that turns
//! a row (selected with the matching `*_columns!()` list) back into a domain record.
//!
//! Decoders parse with the domain's own parsers, so a row that does not parse back
//! is reported as a corrupt row rather than trusted.

use crate::db::{Row, corrupt};
use lineout_app::ports::{DueTimer, OutboxRow, OutboxStatus, StoreError, StoreResult, StoredEvent, TokenRecord};
use lineout_domain::account::{Account, AccountKind, Device, Line, LineStatus, Locks, Ownership, Plan};
use lineout_domain::case::TimerKind;
use lineout_domain::values::{
    AccountId, CaseId, Currency, DeviceId, Eid, Email, Iccid, Imei, Imsi, Language, LineId, Money, Msisdn,
};
use time::OffsetDateTime;

/// A timestamp as Unix milliseconds (UTC), rounded down; callers pass millisecond times.
pub(crate) fn ms(t: OffsetDateTime) -> i64 {
    let millis = t.unix_timestamp_nanos().div_euclid(1_000_000);
    // Every representable OffsetDateTime (years ±9999) fits in i64 milliseconds.
    i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
}

/// The time at `millis` Unix milliseconds, UTC.
pub(crate) fn from_ms(millis: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map_err(|_| corrupt(format!("timestamp out of range: {millis}")))
}

/// A counter (version, seq) as a column value.
pub(crate) fn int_of(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("{what} out of range: {v}")))
}

fn u64_of(v: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| corrupt(format!("{what} negative: {v}")))
}

fn parsed<T, E>(r: Result<T, E>, what: &str) -> StoreResult<T> {
    r.map_err(|_| corrupt(format!("bad {what}")))
}

fn some<T>(o: Option<T>, what: &str) -> StoreResult<T> {
    o.ok_or_else(|| corrupt(format!("bad {what}")))
}

fn opt<T, E>(v: Option<String>, parse: impl Fn(&str) -> Result<T, E>, what: &str) -> StoreResult<Option<T>> {
    v.map(|s| parsed(parse(&s), what)).transpose()
}

pub(crate) fn account_kind_str(k: AccountKind) -> &'static str {
    match k {
        AccountKind::Residential => "residential",
        AccountKind::Business => "business",
    }
}

fn account_kind_parse(s: &str) -> Option<AccountKind> {
    [AccountKind::Residential, AccountKind::Business].into_iter().find(|k| account_kind_str(*k) == s)
}

fn plan_parse(s: &str) -> Option<Plan> {
    [Plan::Prepaid, Plan::Postpaid].into_iter().find(|p| p.as_str() == s)
}

pub(crate) fn ownership_str(o: Ownership) -> &'static str {
    match o {
        Ownership::Owned => "owned",
        Ownership::Financed => "financed",
        Ownership::Leased => "leased",
    }
}

fn ownership_parse(s: &str) -> Option<Ownership> {
    [Ownership::Owned, Ownership::Financed, Ownership::Leased].into_iter().find(|o| ownership_str(*o) == s)
}

fn money(cents: i64, currency: &str) -> StoreResult<Money> {
    Ok(Money::new(cents, parsed(Currency::parse(currency), "currency")?))
}

/// The columns [`account`] decodes, in order (a macro so SQL can `concat!` it).
macro_rules! account_columns {
    () => {
        concat!(
            "id, holder_name, email, alt_phone, language, pin_hash, lock_port_out, lock_sim_change, ",
            "lock_cancellation, billing_cycle_day, kind, owed_cents, owed_currency, prepaid_cents, prepaid_currency"
        )
    };
}
pub(crate) use account_columns;

pub(crate) fn account(r: &dyn Row) -> StoreResult<Account> {
    Ok(Account {
        id: parsed(AccountId::parse(&r.text(0)?), "account id")?,
        holder_name: r.text(1)?,
        email: opt(r.opt_text(2)?, Email::parse, "email")?,
        alt_phone: opt(r.opt_text(3)?, Msisdn::from_stored, "alt_phone")?,
        language: parsed(Language::parse(&r.text(4)?), "language")?,
        pin_hash: r.opt_text(5)?,
        locks: Locks { port_out: r.flag(6)?, sim_change: r.flag(7)?, cancellation: r.flag(8)? },
        billing_cycle_day: parsed(u8::try_from(r.int(9)?), "billing_cycle_day")?,
        kind: some(account_kind_parse(&r.text(10)?), "account kind")?,
        owed: money(r.int(11)?, &r.text(12)?)?,
        prepaid_balance: money(r.int(13)?, &r.text(14)?)?,
    })
}

/// The columns [`line`] decodes, in order (a macro so SQL can `concat!` it).
macro_rules! line_columns {
    () => {
        "id, account_id, msisdn, iccid, imsi, eid, plan, status, monthly_charge_cents"
    };
}
pub(crate) use line_columns;

pub(crate) fn line(r: &dyn Row) -> StoreResult<Line> {
    Ok(Line {
        id: parsed(LineId::parse(&r.text(0)?), "line id")?,
        account_id: parsed(AccountId::parse(&r.text(1)?), "account id")?,
        msisdn: parsed(Msisdn::from_stored(&r.text(2)?), "msisdn")?,
        iccid: opt(r.opt_text(3)?, Iccid::parse, "iccid")?,
        imsi: opt(r.opt_text(4)?, Imsi::parse, "imsi")?,
        eid: opt(r.opt_text(5)?, Eid::parse, "eid")?,
        plan: some(plan_parse(&r.text(6)?), "plan")?,
        status: some(LineStatus::parse(&r.text(7)?), "line status")?,
        monthly_charge_cents: r.int(8)?,
    })
}

/// The columns [`device`] decodes, in order (a macro so SQL can `concat!` it).
macro_rules! device_columns {
    () => {
        "id, line_id, imei, model, price_cents, currency, ownership, must_return, remaining_installments_cents"
    };
}
pub(crate) use device_columns;

pub(crate) fn device(r: &dyn Row) -> StoreResult<Device> {
    Ok(Device {
        id: parsed(DeviceId::parse(&r.text(0)?), "device id")?,
        line_id: parsed(LineId::parse(&r.text(1)?), "line id")?,
        imei: {
            // An erased device (records) keeps the erased marker in place of its IMEI.
            let imei = r.text(2)?;
            if imei == lineout_domain::personal::ERASED { Imei::erased() } else { parsed(Imei::parse(&imei), "imei")? }
        },
        model: r.text(3)?,
        price: money(r.int(4)?, &r.text(5)?)?,
        ownership: some(ownership_parse(&r.text(6)?), "ownership")?,
        must_return: r.flag(7)?,
        remaining_installments_cents: r.int(8)?,
    })
}

pub(crate) fn case_id(r: &dyn Row, idx: usize) -> StoreResult<CaseId> {
    parsed(CaseId::parse(&r.text(idx)?), "case id")
}

/// The columns [`event`] decodes, in order (a macro so SQL can `concat!` it).
macro_rules! event_columns {
    () => {
        "case_id, seq, at, kind, body, prev_hash, hash"
    };
}
pub(crate) use event_columns;

pub(crate) fn event(r: &dyn Row) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        case_id: case_id(r, 0)?,
        seq: u64_of(r.int(1)?, "seq")?,
        at: from_ms(r.int(2)?)?,
        kind: r.text(3)?,
        body: r.text(4)?,
        prev_hash: r.text(5)?,
        hash: r.text(6)?,
    })
}

/// The columns [`timer`] decodes, in order (a macro so SQL can `concat!` it).
macro_rules! timer_columns {
    () => {
        "case_id, kind, due_at"
    };
}
pub(crate) use timer_columns;

pub(crate) fn timer(r: &dyn Row) -> StoreResult<DueTimer> {
    Ok(DueTimer {
        case_id: case_id(r, 0)?,
        kind: some(TimerKind::parse(&r.text(1)?), "timer kind")?,
        due_at: from_ms(r.int(2)?)?,
    })
}

/// The columns [`outbox`] decodes, in order (a macro so SQL can `concat!` it).
macro_rules! outbox_columns {
    () => {
        "id, case_id, kind, payload, status, attempts, next_attempt_at, last_error, created_at, done_at"
    };
}
pub(crate) use outbox_columns;

pub(crate) fn outbox(r: &dyn Row) -> StoreResult<OutboxRow> {
    Ok(OutboxRow {
        id: r.text(0)?,
        case_id: case_id(r, 1)?,
        kind: r.text(2)?,
        payload: r.text(3)?,
        status: some(OutboxStatus::parse(&r.text(4)?), "outbox status")?,
        attempts: parsed(u32::try_from(r.int(5)?), "attempts")?,
        next_attempt_at: from_ms(r.int(6)?)?,
        last_error: r.opt_text(7)?,
        created_at: from_ms(r.int(8)?)?,
        done_at: r.opt_int(9)?.map(from_ms).transpose()?,
    })
}

/// The columns [`token`] decodes, in order (a macro so SQL can `concat!` it).
macro_rules! token_columns {
    () => {
        "id, secret_hash, scopes, label, created_at"
    };
}
pub(crate) use token_columns;

pub(crate) fn token(r: &dyn Row) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: r.text(0)?,
        secret_hash: r.text(1)?,
        scopes: r.text(2)?.split_whitespace().map(str::to_owned).collect(),
        label: r.text(3)?,
        created_at: from_ms(r.int(4)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn milliseconds_round_trip_and_round_down() {
        let t = datetime!(2025-03-01 12:34:56.789 UTC);
        assert_eq!(from_ms(ms(t)), Ok(t));
        let before_epoch = datetime!(1969-12-31 23:59:59.999 UTC);
        assert_eq!(from_ms(ms(before_epoch)), Ok(before_epoch));
        assert_eq!(ms(datetime!(1970-01-01 00:00:00.0019 UTC)), 1);
        assert!(from_ms(i64::MAX).is_err());
    }

    #[test]
    fn enum_strings_round_trip() {
        for k in [AccountKind::Residential, AccountKind::Business] {
            assert_eq!(account_kind_parse(account_kind_str(k)), Some(k));
        }
        for o in [Ownership::Owned, Ownership::Financed, Ownership::Leased] {
            assert_eq!(ownership_parse(ownership_str(o)), Some(o));
        }
        for p in [Plan::Prepaid, Plan::Postpaid] {
            assert_eq!(plan_parse(p.as_str()), Some(p));
        }
    }
}
