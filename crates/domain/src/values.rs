//! Value types that parse rather than validate: once one of these exists, it is valid.
//!
//! Every constructor from outside data is `parse`, returning a [`ValueError`]
//! naming what was wrong; serde deserialisation goes through the same parser.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why an outside value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not a valid phone number: {0}")]
    Msisdn(String),
    #[error("ICCID must be 19 or 20 digits with a valid Luhn check digit: {0}")]
    Iccid(String),
    #[error("IMSI must be exactly 15 digits: {0}")]
    Imsi(String),
    #[error("EID must be exactly 32 digits: {0}")]
    Eid(String),
    #[error("IMEI must be 15 digits with a valid Luhn check digit: {0}")]
    Imei(String),
    #[error("not a valid email address: {0}")]
    Email(String),
    #[error("currency must be three upper-case letters (ISO 4217): {0}")]
    Currency(String),
    #[error("not a valid amount of money: {0}")]
    Money(String),
    #[error("currencies differ: {0} and {1}")]
    CurrencyMismatch(String, String),
    #[error("amount out of range")]
    Overflow,
    #[error("identifier must be 1-64 characters of letters, digits, '-', '_' or '.': {0}")]
    Id(String),
    #[error("language must be 'en' or 'zh-Hans': {0}")]
    Language(String),
    #[error("text must be 1-{max} characters without control characters")]
    Text { max: usize },
}

/// Shortens an offending input so error messages never echo megabytes.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// Luhn check over a string of ASCII digits (the last digit is the check digit).
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Computes the Luhn check digit to append to `payload` (ASCII digits).
pub fn luhn_check_digit(payload: &str) -> u8 {
    for d in 0..10u8 {
        let candidate = format!("{payload}{d}");
        if luhn_valid(&candidate) {
            return d;
        }
    }
    0
}

macro_rules! string_newtype_serde {
    ($t:ident, erasable) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                // Stored data may hold an erased value (see `personal`); outside input never does.
                if s == crate::personal::ERASED {
                    return Ok($t(s));
                }
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
        impl $t {
            /// The value that stands for an erased one (read back from storage only).
            pub fn erased() -> Self {
                $t(crate::personal::ERASED.to_owned())
            }
            pub fn is_erased(&self) -> bool {
                self.0 == crate::personal::ERASED
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                <$t>::parse(s)
            }
        }
    };
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                <$t>::parse(s)
            }
        }
    };
}

/// A phone number in E.164 form (`+14155550100`).
///
/// Outside input goes through [`Msisdn::parse`]. Deserialisation with serde is for
/// lineout's own stored data (case snapshots, events, outbox payloads) and checks only
/// the E.164 shape, because the full numbering-plan check costs microseconds per call.
///
/// Input may be international (`+44 20 7946 0958`) or a US national number
/// (`(415) 555-0100`, `415-555-0100`, `4155550100`, `1 415 555 0100`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn(String);

impl Msisdn {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > 32 {
            return Err(ValueError::Msisdn(clip(input)));
        }
        let parsed = phonenumber::parse(Some(phonenumber::country::Id::US), trimmed)
            .map_err(|_| ValueError::Msisdn(clip(input)))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(ValueError::Msisdn(clip(input)));
        }
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        Ok(Self(e164))
    }
    /// Re-reads a number lineout itself stored after parsing it: checks only the
    /// E.164 shape (`+` and 8-15 digits), skipping the costly numbering-plan check.
    pub fn from_stored(stored: &str) -> Result<Self, ValueError> {
        // An erased number (see `personal`) reads back as the erased marker; the store may
        // suffix it to keep its column unique.
        if stored.starts_with(crate::personal::ERASED) {
            return Ok(Self(crate::personal::ERASED.to_owned()));
        }
        let digits = stored.strip_prefix('+').unwrap_or("");
        if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(stored.to_owned()))
        } else {
            Err(ValueError::Msisdn(clip(stored)))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The value that stands for an erased number (read back from storage only).
    pub fn erased() -> Self {
        Self(crate::personal::ERASED.to_owned())
    }
    pub fn is_erased(&self) -> bool {
        self.0 == crate::personal::ERASED
    }
    /// The last four digits, the only part safe to show before authentication.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len().saturating_sub(4)..]
    }
    /// The national significant number for NANP numbers (10 digits), else the digits after '+'.
    pub fn national_digits(&self) -> &str {
        self.0.strip_prefix("+1").unwrap_or(&self.0[1..])
    }
}
impl Serialize for Msisdn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> Deserialize<'de> for Msisdn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Msisdn::from_stored(&s).map_err(serde::de::Error::custom)
    }
}
impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl std::str::FromStr for Msisdn {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        Msisdn::parse(s)
    }
}

/// A SIM card's ICCID: 19 or 20 digits, the last being a Luhn check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iccid(String);

impl Iccid {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        let ok = (s.len() == 19 || s.len() == 20)
            && s.bytes().all(|b| b.is_ascii_digit())
            && s.starts_with("89")
            && luhn_valid(s);
        if ok { Ok(Self(s.to_owned())) } else { Err(ValueError::Iccid(clip(input))) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Iccid, erasable);

/// A subscriber identity (IMSI): exactly 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Imsi(String);

impl Imsi {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        if s.len() == 15 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::Imsi(clip(input)))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Imsi, erasable);

/// An eUICC identifier (EID): exactly 32 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Eid(String);

impl Eid {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::Eid(clip(input)))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Eid, erasable);

/// A handset identity (IMEI): 15 digits, the last a Luhn check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Imei(String);

impl Imei {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        if s.len() == 15 && luhn_valid(s) { Ok(Self(s.to_owned())) } else { Err(ValueError::Imei(clip(input))) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Imei, erasable);

/// An email address, checked for shape only (delivery proves the rest).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        let ok = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && local.len() <= 64
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains('@')
                }
                None => false,
            };
        if ok { Ok(Self(s.to_owned())) } else { Err(ValueError::Email(clip(input))) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(Email, erasable);

/// An identifier chosen by the operator or by lineout: 1-64 of `[A-Za-z0-9._-]`.
macro_rules! id_type {
    ($(#[$m:meta])* $t:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $t(String);
        impl $t {
            pub fn parse(input: &str) -> Result<Self, ValueError> {
                let ok = !input.is_empty()
                    && input.len() <= 64
                    && input
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
                if ok { Ok(Self(input.to_owned())) } else { Err(ValueError::Id(clip(input))) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        string_newtype_serde!($t);
    };
}
id_type!(
    /// An account's identifier (the operator's account number).
    AccountId
);
id_type!(
    /// A line's identifier.
    LineId
);
id_type!(
    /// A device's identifier.
    DeviceId
);
id_type!(
    /// A cancellation case's identifier (its public reference).
    CaseId
);
id_type!(
    /// A staff member, API client or system component acting on a case.
    ActorId
);

/// Free text from outside (names, models, notes): bounded, no control characters.
pub fn parse_text(input: &str, max: usize) -> Result<String, ValueError> {
    let s = input.trim();
    if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(ValueError::Text { max });
    }
    Ok(s.to_owned())
}

/// A customer's preferred language for every message and page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Language {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-Hans")]
    ZhHans,
}

impl Language {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        match input.trim() {
            "en" | "EN" | "en-US" => Ok(Self::En),
            "zh-Hans" | "zh-hans" | "zh-CN" | "zh" => Ok(Self::ZhHans),
            other => Err(ValueError::Language(clip(other))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhHans => "zh-Hans",
        }
    }
}

/// An ISO 4217 currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let b = input.trim().as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Self([b[0], b[1], b[2]]))
        } else {
            Err(ValueError::Currency(clip(input)))
        }
    }
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}
string_newtype_serde!(Currency);

/// An amount of money in integer minor units (cents) with its currency. Never floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub cents: i64,
    pub currency: Currency,
}

/// The largest amount lineout accepts from outside: 10^13 cents (100 billion units).
pub const MONEY_LIMIT_CENTS: i64 = 10_000_000_000_000;

impl Money {
    pub fn new(cents: i64, currency: Currency) -> Self {
        Self { cents, currency }
    }
    pub fn zero(currency: Currency) -> Self {
        Self { cents: 0, currency }
    }
    pub fn usd(cents: i64) -> Self {
        Self::new(cents, Currency::USD)
    }
    pub fn is_positive(&self) -> bool {
        self.cents > 0
    }
    pub fn checked_add(self, other: Money) -> Result<Money, ValueError> {
        self.same_currency(&other)?;
        let cents = self.cents.checked_add(other.cents).ok_or(ValueError::Overflow)?;
        Ok(Money::new(cents, self.currency))
    }
    pub fn checked_sub(self, other: Money) -> Result<Money, ValueError> {
        self.same_currency(&other)?;
        let cents = self.cents.checked_sub(other.cents).ok_or(ValueError::Overflow)?;
        Ok(Money::new(cents, self.currency))
    }
    fn same_currency(&self, other: &Money) -> Result<(), ValueError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(ValueError::CurrencyMismatch(self.currency.to_string(), other.currency.to_string()))
        }
    }

    /// Parses a decimal amount with at most two fraction digits, e.g. `12`, `12.5`, `-0.99`.
    pub fn parse_decimal(input: &str, currency: Currency) -> Result<Money, ValueError> {
        let s = input.trim();
        let err = || ValueError::Money(clip(input));
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (whole, frac) = match body.split_once('.') {
            Some((w, f)) => (w, f),
            None => (body, ""),
        };
        if whole.is_empty()
            || whole.len() > 11
            || frac.len() > 2
            || (body.contains('.') && frac.is_empty())
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let frac_cents: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| err())? * 10,
            _ => frac.parse().map_err(|_| err())?,
        };
        let cents = whole.checked_mul(100).and_then(|c| c.checked_add(frac_cents)).ok_or(ValueError::Overflow)?;
        if cents > MONEY_LIMIT_CENTS {
            return Err(ValueError::Overflow);
        }
        Ok(Money::new(if neg { -cents } else { cents }, currency))
    }

    /// Checks an amount in cents received from outside against [`MONEY_LIMIT_CENTS`].
    pub fn from_outside(cents: i64, currency: Currency) -> Result<Money, ValueError> {
        if cents.unsigned_abs() > MONEY_LIMIT_CENTS.unsigned_abs() {
            return Err(ValueError::Overflow);
        }
        Ok(Money::new(cents, currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.cents < 0 { "-" } else { "" };
        let abs = self.cents.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn us_numbers_in_common_shapes_parse_to_e164() {
        for input in ["(415) 555-0100", "4155550100", "415-555-0100", "+1 415 555 0100", "1 415 555 0100"] {
            assert_eq!(Msisdn::parse(input).map(|m| m.0), Ok("+14155550100".to_owned()), "{input}");
        }
        assert_eq!(Msisdn::parse("+44 20 7946 0958").map(|m| m.0), Ok("+442079460958".into()));
    }

    #[test]
    fn bad_numbers_are_refused() {
        for input in ["", "123", "abc", "+1 000 000 0000", "415555010012345678901234567890123"] {
            assert!(Msisdn::parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn iccid_imei_check_digits() {
        let payload = "890126000000000000";
        let d = luhn_check_digit(payload);
        assert!(Iccid::parse(&format!("{payload}{d}")).is_ok());
        assert!(Iccid::parse(&format!("{payload}{}", (d + 1) % 10)).is_err());
        assert!(Iccid::parse("890126000000000000").is_err());
        assert!(Imei::parse("490154203237518").is_ok());
        assert!(Imei::parse("490154203237519").is_err());
        assert!(Imsi::parse("310260000000001").is_ok());
        assert!(Imsi::parse("31026000000001").is_err());
        assert!(Eid::parse(&"8".repeat(32)).is_ok());
        assert!(Eid::parse(&"8".repeat(31)).is_err());
    }

    #[test]
    fn money_display_and_mismatch() {
        assert_eq!(Money::usd(-1234).to_string(), "-12.34 USD");
        let eur = Money::new(1, Currency::parse("EUR").unwrap_or(Currency::USD));
        assert!(Money::usd(1).checked_add(eur).is_err());
        assert_eq!(Money::parse_decimal("12.5", Currency::USD), Ok(Money::usd(1250)));
        assert!(Money::parse_decimal("12.", Currency::USD).is_err());
        assert!(Money::parse_decimal("1.234", Currency::USD).is_err());
        assert!(Money::parse_decimal("1e3", Currency::USD).is_err());
    }

    proptest! {
        #[test]
        fn msisdn_parse_never_panics(s in "\\PC{0,40}") {
            let _ = Msisdn::parse(&s);
        }

        #[test]
        fn msisdn_is_idempotent(area in 201u32..990, exch in 200u32..999, sub in 0u32..10000) {
            let input = format!("({area}) {exch}-{sub:04}");
            if let Ok(m) = Msisdn::parse(&input) {
                prop_assert_eq!(Msisdn::parse(m.as_str()), Ok(m.clone()));
                prop_assert!(m.as_str().starts_with("+1"));
                prop_assert_eq!(m.as_str().len(), 12);
            }
        }

        #[test]
        fn luhn_completion_always_validates(payload in "[0-9]{14}") {
            let d = luhn_check_digit(&payload);
            let imei = format!("{payload}{d}");
            prop_assert!(Imei::parse(&imei).is_ok());
            // Changing the check digit breaks it.
            let wrong = format!("{payload}{}", (d + 1) % 10);
            prop_assert!(Imei::parse(&wrong).is_err());
        }

        #[test]
        fn iccid_parse_never_panics(s in "\\PC{0,30}") {
            let _ = Iccid::parse(&s);
            let _ = Imei::parse(&s);
            let _ = Email::parse(&s);
            let _ = Money::parse_decimal(&s, Currency::USD);
        }

        #[test]
        fn money_decimal_round_trip(cents in -MONEY_LIMIT_CENTS..MONEY_LIMIT_CENTS) {
            let m = Money::usd(cents);
            let text = m.to_string();
            let number = text.trim_end_matches(" USD");
            prop_assert_eq!(Money::parse_decimal(number, Currency::USD), Ok(m));
        }

        #[test]
        fn money_add_sub_are_inverse(a in -MONEY_LIMIT_CENTS..MONEY_LIMIT_CENTS, b in -MONEY_LIMIT_CENTS..MONEY_LIMIT_CENTS) {
            let (a, b) = (Money::usd(a), Money::usd(b));
            let sum = a.checked_add(b);
            prop_assert!(sum.is_ok());
            if let Ok(sum) = sum {
                prop_assert_eq!(sum.checked_sub(b), Ok(a));
                prop_assert_eq!(b.checked_add(a), Ok(sum));
            }
        }

        #[test]
        fn money_overflow_is_an_error_not_a_panic(a in any::<i64>(), b in any::<i64>()) {
            let _ = Money::usd(a).checked_add(Money::usd(b));
            let _ = Money::usd(a).checked_sub(Money::usd(b));
        }
    }
}
