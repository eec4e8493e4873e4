//! Turning one row of outside data (a CSV record, a JSON object, a form) into an
//! account, a line or a device, through the domain's parsing newtypes. Shared by every
//! import format; public so other channels can reuse it.
//!
//! A row is a set of named text fields; an empty field counts as absent. Every problem
//! in a row is reported, each naming its field.

use lineout_domain::account::{Account, AccountKind, Device, Line, LineStatus, Locks, Ownership, Plan};
use lineout_domain::values::{
    AccountId, Currency, DeviceId, Eid, Email, Iccid, Imei, Imsi, Language, LineId, Money, Msisdn, parse_text,
};
use std::fmt;

/// The named text fields of one row.
pub trait Fields {
    /// The field's text; `None` (or empty text) when absent.
    fn get(&self, name: &str) -> Option<&str>;
}

/// Fields held as name/value pairs (JSON objects, tests).
impl Fields for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

impl Fields for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One problem with one field of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self { field: field.into(), reason: reason.to_string() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// What kind of record a row holds, with its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Accounts,
    Lines,
    Devices,
    /// Historical ledger entries.
    Ledger,
}

impl RecordKind {
    /// Every column, in the documented order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Accounts => &[
                "id",
                "holder_name",
                "email",
                "alt_phone",
                "language",
                "billing_cycle_day",
                "kind",
                "lock_port_out",
                "lock_sim_change",
                "lock_cancellation",
                "owed_cents",
                "prepaid_balance_cents",
                "currency",
            ],
            Self::Lines => &[
                "id",
                "account_id",
                "msisdn",
                "iccid",
                "imsi",
                "eid",
                "plan",
                "status",
                "monthly_charge_cents",
                "sim_changed_at",
            ],
            Self::Devices => &[
                "id",
                "line_id",
                "imei",
                "model",
                "price_cents",
                "currency",
                "ownership",
                "must_return",
                "remaining_installments_cents",
            ],
            Self::Ledger => &["account_id", "kind", "amount_cents", "currency", "reference", "description", "at"],
        }
    }

    /// Columns a file must have (the others may be missing and default).
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Self::Accounts => &["id", "holder_name", "billing_cycle_day"],
            Self::Lines => &["id", "account_id", "msisdn", "plan"],
            Self::Devices => &["id", "line_id", "imei", "model", "price_cents", "ownership"],
            Self::Ledger => &["account_id", "kind", "amount_cents", "reference"],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accounts => "accounts",
            Self::Lines => "lines",
            Self::Devices => "devices",
            Self::Ledger => "ledger",
        }
    }
}

/// Values used where a row leaves a field out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// The policy's currency; amounts in any other currency are refused.
    pub currency: Currency,
}

impl Default for Defaults {
    fn default() -> Self {
        Self { currency: Currency::USD }
    }
}

/// Longest holder name accepted.
pub const HOLDER_NAME_MAX: usize = 200;
/// Longest device model accepted.
pub const MODEL_MAX: usize = 100;

/// Reads fields and gathers every problem.
struct Reader<'a, F: Fields + ?Sized> {
    fields: &'a F,
    errors: Vec<FieldError>,
}

impl<'a, F: Fields + ?Sized> Reader<'a, F> {
    fn new(fields: &'a F) -> Self {
        Self { fields, errors: Vec::new() }
    }

    fn text(&self, name: &str) -> Option<&'a str> {
        self.fields.get(name).map(str::trim).filter(|s| !s.is_empty())
    }

    /// A field that must be present; `None` when missing or invalid (the problem is recorded).
    fn required<T, E: fmt::Display>(&mut self, name: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Option<T> {
        match self.text(name) {
            None => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(s) => self.record(name, parse(s)),
        }
    }

    /// A field that may be absent: `Some(None)` when absent, `None` when invalid.
    fn optional<T, E: fmt::Display>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match self.text(name) {
            None => Some(None),
            Some(s) => self.record(name, parse(s)).map(Some),
        }
    }

    fn record<T, E: fmt::Display>(&mut self, name: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldError::new(name, e));
                None
            }
        }
    }

    fn currency(&mut self, defaults: &Defaults) -> Option<Currency> {
        let currency = self.optional("currency", Currency::parse)?.unwrap_or(defaults.currency);
        if currency != defaults.currency {
            self.errors.push(FieldError::new(
                "currency",
                format!("must be {} (the policy's currency), not {currency}", defaults.currency),
            ));
            return None;
        }
        Some(currency)
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("must be true or false, not '{}'", clip(s))),
    }
}

fn parse_cents(s: &str) -> Result<i64, String> {
    let cents: i64 = s.parse().map_err(|_| format!("must be a whole number of cents, not '{}'", clip(s)))?;
    Money::from_outside(cents, Currency::USD).map(|m| m.cents).map_err(|e| e.to_string())
}

fn parse_non_negative_cents(s: &str) -> Result<i64, String> {
    let cents = parse_cents(s)?;
    if cents < 0 { Err("must not be negative".into()) } else { Ok(cents) }
}

fn parse_cycle_day(s: &str) -> Result<u8, String> {
    match s.parse::<u8>() {
        Ok(d) if (1..=28).contains(&d) => Ok(d),
        _ => Err(format!("must be a day of the month from 1 to 28, not '{}'", clip(s))),
    }
}

fn parse_account_kind(s: &str) -> Result<AccountKind, String> {
    match s {
        "residential" => Ok(AccountKind::Residential),
        "business" => Ok(AccountKind::Business),
        _ => Err(format!("must be residential or business, not '{}'", clip(s))),
    }
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    match s {
        "prepaid" => Ok(Plan::Prepaid),
        "postpaid" => Ok(Plan::Postpaid),
        _ => Err(format!("must be prepaid or postpaid, not '{}'", clip(s))),
    }
}

fn parse_line_status(s: &str) -> Result<LineStatus, String> {
    LineStatus::parse(s).ok_or_else(|| {
        format!("must be active, suspended, pending_termination, terminated or ported_out, not '{}'", clip(s))
    })
}

fn parse_ownership(s: &str) -> Result<Ownership, String> {
    match s {
        "owned" => Ok(Ownership::Owned),
        "financed" => Ok(Ownership::Financed),
        "leased" => Ok(Ownership::Leased),
        _ => Err(format!("must be owned, financed or leased, not '{}'", clip(s))),
    }
}

/// Shortens echoed input so a message never repeats a huge field.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// Parses an account. The PIN is never imported.
pub fn account<F: Fields + ?Sized>(fields: &F, defaults: &Defaults) -> Result<Account, Vec<FieldError>> {
    let mut r = Reader::new(fields);
    let id = r.required("id", AccountId::parse);
    let holder_name = r.required("holder_name", |s| parse_text(s, HOLDER_NAME_MAX));
    let email = r.optional("email", Email::parse);
    let alt_phone = r.optional("alt_phone", Msisdn::parse);
    let language = r.optional("language", Language::parse);
    let billing_cycle_day = r.required("billing_cycle_day", parse_cycle_day);
    let kind = r.optional("kind", parse_account_kind);
    let port_out = r.optional("lock_port_out", parse_bool);
    let sim_change = r.optional("lock_sim_change", parse_bool);
    let cancellation = r.optional("lock_cancellation", parse_bool);
    let owed = r.optional("owed_cents", parse_cents);
    let prepaid = r.optional("prepaid_balance_cents", parse_non_negative_cents);
    let currency = r.currency(defaults);
    let (
        Some(id),
        Some(holder_name),
        Some(email),
        Some(alt_phone),
        Some(language),
        Some(billing_cycle_day),
        Some(kind),
        Some(port_out),
        Some(sim_change),
        Some(cancellation),
        Some(owed),
        Some(prepaid),
        Some(currency),
        true,
    ) = (
        id,
        holder_name,
        email,
        alt_phone,
        language,
        billing_cycle_day,
        kind,
        port_out,
        sim_change,
        cancellation,
        owed,
        prepaid,
        currency,
        r.errors.is_empty(),
    )
    else {
        return Err(r.errors);
    };
    Ok(Account {
        id,
        holder_name,
        email,
        alt_phone,
        language: language.unwrap_or_default(),
        pin_hash: None,
        locks: Locks {
            port_out: port_out.unwrap_or(false),
            sim_change: sim_change.unwrap_or(false),
            cancellation: cancellation.unwrap_or(false),
        },
        billing_cycle_day,
        kind: kind.unwrap_or_default(),
        owed: Money::new(owed.unwrap_or(0), currency),
        prepaid_balance: Money::new(prepaid.unwrap_or(0), currency),
    })
}

/// Parses a line (status defaults to active).
pub fn line<F: Fields + ?Sized>(fields: &F) -> Result<Line, Vec<FieldError>> {
    let mut r = Reader::new(fields);
    let id = r.required("id", LineId::parse);
    let account_id = r.required("account_id", AccountId::parse);
    let msisdn = r.required("msisdn", Msisdn::parse);
    let iccid = r.optional("iccid", Iccid::parse);
    let imsi = r.optional("imsi", Imsi::parse);
    let eid = r.optional("eid", Eid::parse);
    let plan = r.required("plan", parse_plan);
    let status = r.optional("status", parse_line_status);
    // Optional (default 0): the recurring plan charge per billing cycle, in the account's currency.
    let monthly = r.optional("monthly_charge_cents", parse_non_negative_cents);
    if let (Some(Some(_)), Some(None)) = (&eid, &iccid) {
        r.errors.push(FieldError::new("iccid", "is required for an eSIM line (one with an eid)"));
    }
    let (Some(id), Some(account_id), Some(msisdn), Some(iccid), Some(imsi), Some(eid), Some(plan), Some(status), true) =
        (id, account_id, msisdn, iccid, imsi, eid, plan, status, r.errors.is_empty())
    else {
        return Err(r.errors);
    };
    let Some(monthly) = monthly else { return Err(r.errors) };
    Ok(Line {
        id,
        account_id,
        msisdn,
        iccid,
        imsi,
        eid,
        plan,
        status: status.unwrap_or(LineStatus::Active),
        monthly_charge_cents: monthly.unwrap_or(0),
    })
}

/// The optional `sim_changed_at` of a line row: when the operator's systems last changed
/// its SIM (RFC 3339, or a date meaning its midnight UTC). A risk signal.
pub fn sim_changed_at<F: Fields + ?Sized>(fields: &F) -> Result<Option<time::OffsetDateTime>, Vec<FieldError>> {
    let mut r = Reader::new(fields);
    let at = r.optional("sim_changed_at", |s| {
        use time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::parse(s, &Rfc3339)
            .or_else(|_| {
                time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                    .map(|d| d.midnight().assume_utc())
            })
            .map_err(|_| "must be an RFC 3339 timestamp or a date YYYY-MM-DD")
    });
    match (at, r.errors.is_empty()) {
        (Some(at), true) => Ok(at),
        _ => Err(r.errors),
    }
}

/// Parses a device. `must_return` defaults to true for financed and leased devices.
pub fn device<F: Fields + ?Sized>(fields: &F, defaults: &Defaults) -> Result<Device, Vec<FieldError>> {
    let mut r = Reader::new(fields);
    let id = r.required("id", DeviceId::parse);
    let line_id = r.required("line_id", LineId::parse);
    let imei = r.required("imei", Imei::parse);
    let model = r.required("model", |s| parse_text(s, MODEL_MAX));
    let price = r.required("price_cents", parse_non_negative_cents);
    let currency = r.currency(defaults);
    let ownership = r.required("ownership", parse_ownership);
    let must_return = r.optional("must_return", parse_bool);
    // Optional (default 0): installments left on a financed device, due on the final bill.
    let installments = r.optional("remaining_installments_cents", parse_non_negative_cents);
    if let (Some(Some(n)), Some(o)) = (&installments, &ownership)
        && *n > 0
        && *o != Ownership::Financed
    {
        r.errors.push(FieldError::new("remaining_installments_cents", "only a financed device has installments"));
    }
    let (
        Some(id),
        Some(line_id),
        Some(imei),
        Some(model),
        Some(price),
        Some(currency),
        Some(ownership),
        Some(must_return),
        true,
    ) = (id, line_id, imei, model, price, currency, ownership, must_return, r.errors.is_empty())
    else {
        return Err(r.errors);
    };
    let Some(installments) = installments else { return Err(r.errors) };
    Ok(Device {
        id,
        line_id,
        imei,
        model,
        price: Money::new(price, currency),
        ownership,
        must_return: must_return.unwrap_or(ownership != Ownership::Owned),
        remaining_installments_cents: installments.unwrap_or(0),
    })
}

/// Parses a historical ledger entry. The currency defaults to the policy's; the engine
/// checks it against the account's. `at` is RFC 3339 or a date (its midnight UTC).
pub fn ledger_entry<F: Fields + ?Sized>(
    fields: &F,
    defaults: &Defaults,
) -> Result<lineout_app::ledger_import::ImportRow, Vec<FieldError>> {
    use lineout_domain::ledger::Imported;
    let mut r = Reader::new(fields);
    let account_id = r.required("account_id", AccountId::parse);
    let kind = r.required("kind", |s| Ok::<_, String>(s.to_owned()));
    let amount = r.required("amount_cents", parse_cents);
    let currency = r.optional("currency", Currency::parse);
    let reference = r.required("reference", |s| Ok::<_, String>(s.to_owned()));
    let at = r.optional("at", parse_time);
    let description = r.text("description");
    let (Some(account_id), Some(kind), Some(amount), Some(currency), Some(reference), Some(at), true) =
        (account_id, kind, amount, currency, reference, at, r.errors.is_empty())
    else {
        return Err(r.errors);
    };
    let amount = Money::new(amount, currency.unwrap_or(defaults.currency));
    match Imported::new(account_id, &kind, amount, &reference, description) {
        Ok(imported) => Ok(lineout_app::ledger_import::ImportRow { imported, at }),
        Err(e) => Err(vec![FieldError::new(e.field(), e.to_string().split_once(": ").map_or("", |(_, m)| m))]),
    }
}

fn parse_time(s: &str) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, format)
        .map(|d| d.with_time(time::Time::MIDNIGHT).assume_utc())
        .map_err(|_| format!("must be an RFC 3339 time or a YYYY-MM-DD date, not '{}'", clip(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn errors<T: fmt::Debug>(r: Result<T, Vec<FieldError>>) -> Vec<String> {
        match r {
            Ok(v) => vec![format!("unexpectedly parsed: {v:?}")],
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_minimal_account_takes_defaults() {
        let row: &[(&str, &str)] = &[("id", "A1"), ("holder_name", " 王芳 "), ("billing_cycle_day", "5")];
        let a = account(row, &Defaults::default());
        assert!(a.is_ok(), "{a:?}");
        if let Ok(a) = a {
            assert_eq!(a.holder_name, "王芳");
            assert_eq!(a.language, Language::En);
            assert_eq!(a.kind, AccountKind::Residential);
            assert_eq!(a.locks, Locks::default());
            assert_eq!(a.owed, Money::usd(0));
            assert_eq!(a.prepaid_balance, Money::usd(0));
            assert_eq!(a.email, None);
        }
    }

    #[test]
    fn a_full_account_parses() {
        let row: &[(&str, &str)] = &[
            ("id", "A2"),
            ("holder_name", "Li Wei"),
            ("email", "li.wei@example.com"),
            ("alt_phone", "(415) 555-0100"),
            ("language", "zh-Hans"),
            ("billing_cycle_day", "28"),
            ("kind", "business"),
            ("lock_port_out", "yes"),
            ("lock_sim_change", "0"),
            ("lock_cancellation", "TRUE"),
            ("owed_cents", "-250"),
            ("prepaid_balance_cents", "1200"),
            ("currency", "USD"),
        ];
        let a = account(row, &Defaults::default());
        assert!(a.is_ok(), "{a:?}");
        if let Ok(a) = a {
            assert_eq!(a.alt_phone.as_ref().map(Msisdn::as_str), Some("+14155550100"));
            assert_eq!(a.language, Language::ZhHans);
            assert!(a.locks.port_out && !a.locks.sim_change && a.locks.cancellation);
            assert_eq!(a.owed, Money::usd(-250));
        }
    }

    #[test]
    fn every_bad_account_field_is_named() {
        let row: &[(&str, &str)] = &[
            ("id", "A 1"),
            ("holder_name", ""),
            ("email", "nope"),
            ("alt_phone", "123"),
            ("language", "fr"),
            ("billing_cycle_day", "31"),
            ("kind", "family"),
            ("lock_port_out", "maybe"),
            ("owed_cents", "12.50"),
            ("prepaid_balance_cents", "-1"),
            ("currency", "EUR"),
        ];
        let fields: Vec<String> = errors(account(row, &Defaults::default()))
            .iter()
            .map(|e| e.split(':').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            fields,
            [
                "id",
                "holder_name",
                "email",
                "alt_phone",
                "language",
                "billing_cycle_day",
                "kind",
                "lock_port_out",
                "owed_cents",
                "prepaid_balance_cents",
                "currency"
            ]
        );
    }

    #[test]
    fn lines_parse_and_default_to_active() {
        let row: &[(&str, &str)] = &[
            ("id", "L1"),
            ("account_id", "A1"),
            ("msisdn", "(415) 555-0100"),
            ("iccid", "8901260000000000006"),
            ("imsi", "310260000000001"),
            ("plan", "prepaid"),
        ];
        let l = line(row);
        assert!(l.is_ok(), "{l:?}");
        if let Ok(l) = l {
            assert_eq!(l.msisdn.as_str(), "+14155550100");
            assert_eq!(l.status, LineStatus::Active);
            assert_eq!(l.eid, None);
        }
    }

    #[test]
    fn bad_lines_name_their_fields() {
        let row: &[(&str, &str)] = &[
            ("id", "L1"),
            ("msisdn", "555"),
            ("iccid", "8901260000000000007"),
            ("imsi", "31026"),
            ("eid", "123"),
            ("plan", "unlimited"),
            ("status", "gone"),
        ];
        assert_eq!(
            errors(line(row)),
            [
                "account_id: is required",
                "msisdn: not a valid phone number: 555",
                "iccid: ICCID must be 19 or 20 digits with a valid Luhn check digit: 8901260000000000007",
                "imsi: IMSI must be exactly 15 digits: 31026",
                "eid: EID must be exactly 32 digits: 123",
                "plan: must be prepaid or postpaid, not 'unlimited'",
                "status: must be active, suspended, pending_termination, terminated or ported_out, not 'gone'",
            ]
        );
        let esim_without_iccid: &[(&str, &str)] = &[
            ("id", "L1"),
            ("account_id", "A"),
            ("msisdn", "4155550100"),
            ("eid", &"8".repeat(32)),
            ("plan", "postpaid"),
        ];
        assert_eq!(errors(line(esim_without_iccid)), ["iccid: is required for an eSIM line (one with an eid)"]);
    }

    #[test]
    fn devices_parse_with_must_return_from_ownership() {
        let base = [
            ("id", "D1"),
            ("line_id", "L1"),
            ("imei", "490154203237518"),
            ("model", "Pixel 8"),
            ("price_cents", "69900"),
        ];
        for (ownership, expected) in [("owned", false), ("financed", true), ("leased", true)] {
            let mut row = base.to_vec();
            row.push(("ownership", ownership));
            let d = device(row.as_slice(), &Defaults::default());
            assert_eq!(d.as_ref().map(|d| d.must_return), Ok(expected), "{d:?}");
        }
        let mut row = base.to_vec();
        row.extend([("ownership", "leased"), ("must_return", "false")]);
        assert_eq!(device(row.as_slice(), &Defaults::default()).map(|d| d.must_return), Ok(false));
    }

    #[test]
    fn bad_devices_name_their_fields() {
        let row: &[(&str, &str)] = &[
            ("id", "D1"),
            ("line_id", "L1"),
            ("imei", "490154203237519"),
            ("model", "x\u{7}"),
            ("price_cents", "abc"),
            ("ownership", "rented"),
        ];
        assert_eq!(
            errors(device(row, &Defaults::default())),
            [
                "imei: IMEI must be 15 digits with a valid Luhn check digit: 490154203237519",
                "model: text must be 1-100 characters without control characters",
                "price_cents: must be a whole number of cents, not 'abc'",
                "ownership: must be owned, financed or leased, not 'rented'",
            ]
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(values in proptest::collection::vec("\\PC{0,24}", 13)) {
            for kind in [RecordKind::Accounts, RecordKind::Lines, RecordKind::Devices] {
                let row: Vec<(String, String)> = kind
                    .columns()
                    .iter()
                    .zip(&values)
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                let _ = account(&row, &Defaults::default());
                let _ = line(&row);
                let _ = device(&row, &Defaults::default());
            }
        }
    }
}
