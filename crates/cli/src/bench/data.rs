//! Benchmark data: millions of distinct, valid accounts and lines, generated from an
//! index (so no state, no duplicate check, no memory growth) and written as the same
//! CSV files an operator would import.
//!
//! Numbers are US numbers `+1 AAA EEE SSSS`: real area codes, exchanges 200-999 without
//! N11 and 555, each (area code, exchange) pair checked once with [`Msisdn::parse`].
//! ICCIDs are `8901260…` with a Luhn check digit, IMSIs `310260…`.

use lineout_domain::account::{Account, AccountKind, Line, LineStatus, Locks, Plan};
use lineout_domain::values::{AccountId, Currency, Iccid, Imsi, Language, LineId, Money, Msisdn, ValueError};
use std::io::{BufWriter, Write};
use std::path::Path;

const AREA_CODES: &[u16] = &[
    212, 646, 718, 917, 347, 213, 323, 626, 415, 510, 408, 650, 206, 312, 617, 713, 202, 404, 503, 602, 702, 801, 919,
];

const FIRST: &[&str] = &["Ana", "James", "Mei", "Carlos", "Priya", "John", "Grace", "Luis", "Aisha", "Kevin"];
const LAST: &[&str] = &["Diaz", "Smith", "Nguyen", "Garcia", "Patel", "Lee", "Johnson", "Brown", "Wilson", "Lopez"];
const ZH: &[&str] = &["王芳", "李伟", "张静", "刘洋", "陈敏", "杨磊", "黄丽", "赵强"];

/// Hands out the `n`-th distinct valid US number for any `n` below [`Numbers::capacity`].
#[derive(Debug, Clone)]
pub struct Numbers {
    /// Valid (area code, exchange) pairs.
    pairs: Vec<(u16, u16)>,
}

impl Numbers {
    /// Checks every candidate (area code, exchange) pair once (a few thousand parses).
    pub fn new() -> Result<Self, ValueError> {
        let mut pairs = Vec::new();
        for &area in AREA_CODES {
            for exchange in 200..=999u16 {
                if exchange % 100 == 11 || exchange == 555 || exchange == 950 || exchange == 958 || exchange == 959 {
                    continue;
                }
                let ok = ["0000", "5678", "9999"]
                    .iter()
                    .all(|sub| Msisdn::parse(&format!("+1{area}{exchange}{sub}")).is_ok());
                if ok {
                    pairs.push((area, exchange));
                }
            }
        }
        if pairs.is_empty() {
            return Err(ValueError::Msisdn("no valid exchange found".into()));
        }
        Ok(Self { pairs })
    }

    /// How many distinct numbers there are.
    pub fn capacity(&self) -> u64 {
        self.pairs.len() as u64 * 10_000
    }

    /// The `n`-th number in E.164 form; consecutive `n` fall in different exchanges.
    pub fn e164(&self, n: u64) -> String {
        let p = self.pairs.len().max(1) as u64;
        let (area, exchange) = self.pairs.get((n % p) as usize).copied().unwrap_or((212, 200));
        format!("+1{area}{exchange}{:04}", (n / p) % 10_000)
    }
}

/// The Luhn check digit for a string of ASCII digits.
pub fn luhn_digit(payload: &str) -> u8 {
    // Doubling starts at the rightmost payload digit (it sits left of the check digit).
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.wrapping_sub(b'0'));
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A 19-digit ICCID for index `n`.
pub fn iccid(n: u64) -> String {
    let payload = format!("8901260{:011}", 50_000_000_000 + n % 40_000_000_000);
    let check = luhn_digit(&payload);
    format!("{payload}{check}")
}

/// A 15-digit IMSI for index `n`.
pub fn imsi(n: u64) -> String {
    format!("310260{:09}", 100_000_000 + n % 900_000_000)
}

pub fn account_id(n: u64) -> String {
    format!("BA{n:08}")
}

pub fn line_id(n: u64) -> String {
    format!("BL{n:08}")
}

fn holder_name(n: u64) -> (String, Language) {
    if n.is_multiple_of(3) {
        (ZH[(n / 3) as usize % ZH.len()].to_owned(), Language::ZhHans)
    } else {
        (format!("{} {}", FIRST[n as usize % FIRST.len()], LAST[(n / 7) as usize % LAST.len()]), Language::En)
    }
}

fn billing_day(n: u64) -> u8 {
    (n % 28 + 1) as u8
}

/// Account `n`: no balance owed, no prepaid balance, no locks.
pub fn account(n: u64) -> Result<Account, ValueError> {
    let (holder_name, language) = holder_name(n);
    Ok(Account {
        id: AccountId::parse(&account_id(n))?,
        holder_name,
        email: None,
        alt_phone: None,
        language,
        pin_hash: None,
        locks: Locks::default(),
        billing_cycle_day: billing_day(n),
        kind: AccountKind::Residential,
        owed: Money::new(0, Currency::USD),
        prepaid_balance: Money::new(0, Currency::USD),
    })
}

fn plan(n: u64) -> Plan {
    if n.is_multiple_of(2) { Plan::Prepaid } else { Plan::Postpaid }
}

/// Line `n`, the `n % per_account`-th line of account `n / per_account`.
pub fn line(n: u64, per_account: u64, numbers: &Numbers) -> Result<Line, ValueError> {
    Ok(Line {
        id: LineId::parse(&line_id(n))?,
        account_id: AccountId::parse(&account_id(n / per_account.max(1)))?,
        msisdn: Msisdn::parse(&numbers.e164(n))?,
        iccid: Some(Iccid::parse(&iccid(n))?),
        imsi: Some(Imsi::parse(&imsi(n))?),
        eid: None,
        plan: plan(n),
        status: LineStatus::Active,
        monthly_charge_cents: 0,
    })
}

/// Writes `count` accounts as an import CSV; returns the bytes written.
pub fn write_accounts_csv(path: &Path, count: u64) -> std::io::Result<u64> {
    let mut out = Counting::create(path)?;
    writeln!(out, "id,holder_name,language,billing_cycle_day,kind,owed_cents,prepaid_balance_cents,currency")?;
    for n in 0..count {
        let (name, language) = holder_name(n);
        writeln!(out, "{},{name},{},{},residential,0,0,USD", account_id(n), language.as_str(), billing_day(n))?;
    }
    out.finish()
}

/// Writes `count` lines (`per_account` per account) as an import CSV; returns the bytes written.
pub fn write_lines_csv(path: &Path, count: u64, per_account: u64, numbers: &Numbers) -> std::io::Result<u64> {
    let mut out = Counting::create(path)?;
    writeln!(out, "id,account_id,msisdn,iccid,imsi,plan,status")?;
    for n in 0..count {
        writeln!(
            out,
            "{},{},{},{},{},{},active",
            line_id(n),
            account_id(n / per_account.max(1)),
            numbers.e164(n),
            iccid(n),
            imsi(n),
            plan(n).as_str()
        )?;
    }
    out.finish()
}

/// Writes a bulk-termination file for lines `0..count`: `msisdn,reason,effective_date`.
pub fn write_terminate_csv(
    path: &Path,
    count: u64,
    numbers: &Numbers,
    reason: &str,
    effective_date: &str,
) -> std::io::Result<u64> {
    let mut out = Counting::create(path)?;
    writeln!(out, "msisdn,reason,effective_date")?;
    for n in 0..count {
        writeln!(out, "{},{reason},{effective_date}", numbers.e164(n))?;
    }
    out.finish()
}

/// A buffered file writer that counts bytes.
struct Counting {
    inner: BufWriter<std::fs::File>,
    bytes: u64,
}

impl Counting {
    fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self { inner: BufWriter::with_capacity(256 * 1024, std::fs::File::create(path)?), bytes: 0 })
    }
    fn finish(mut self) -> std::io::Result<u64> {
        self.inner.flush()?;
        Ok(self.bytes)
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{self, Defaults};
    use lineout_domain::values::luhn_valid;
    use std::collections::HashSet;

    fn numbers() -> Numbers {
        match Numbers::new() {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn there_are_enough_distinct_valid_numbers() {
        let numbers = numbers();
        assert!(numbers.capacity() >= 10_000_000, "{}", numbers.capacity());
        let sample: Vec<u64> = (0..20_000).chain((0..2_000).map(|i| 20_000 + i * 4_999 + 17)).collect();
        let mut seen = HashSet::new();
        for n in sample {
            let text = numbers.e164(n);
            let parsed = Msisdn::parse(&text).map(|m| m.as_str().to_owned());
            assert_eq!(parsed.as_deref(), Ok(text.as_str()), "number {n}");
            seen.insert(text);
        }
        assert_eq!(seen.len(), 22_000, "numbers are distinct");
    }

    #[test]
    fn luhn_digits_agree_with_the_domain() {
        for payload in ["7992739871", "8901260000000000007", "0", "89012605000000000"] {
            let full = format!("{payload}{}", luhn_digit(payload));
            assert!(luhn_valid(&full), "{full}");
            assert_eq!(luhn_digit(payload), lineout_domain::values::luhn_check_digit(payload));
        }
        for n in [0, 1, 999_999, 39_999_999_999] {
            assert!(Iccid::parse(&iccid(n)).is_ok(), "{}", iccid(n));
            assert!(Imsi::parse(&imsi(n)).is_ok(), "{}", imsi(n));
        }
        assert_ne!(iccid(1), iccid(2));
    }

    #[test]
    fn generated_records_are_valid_domain_values() -> Result<(), ValueError> {
        let numbers = numbers();
        for n in [0, 1, 2, 3, 999_999] {
            let a = account(n)?;
            assert_eq!(a.id.as_str(), account_id(n));
            let l = line(n, 4, &numbers)?;
            assert_eq!(l.account_id.as_str(), account_id(n / 4));
        }
        Ok(())
    }

    #[test]
    fn csv_files_parse_back_through_the_import_parsers() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let numbers = numbers();
        let (a, l, t) = (dir.path().join("a.csv"), dir.path().join("l.csv"), dir.path().join("t.csv"));
        let bytes = write_accounts_csv(&a, 30)?;
        assert_eq!(bytes, std::fs::metadata(&a)?.len());
        write_lines_csv(&l, 120, 4, &numbers)?;
        write_terminate_csv(&t, 120, &numbers, "non-payment", "2027-01-31")?;
        let d = Defaults::default();
        let mut csv = csv::Reader::from_path(&a)?;
        let header: Vec<String> = csv.headers()?.iter().map(str::to_owned).collect();
        let mut count = 0;
        for (n, record) in csv.records().enumerate() {
            let row: Vec<(String, String)> = header.iter().cloned().zip(record?.iter().map(str::to_owned)).collect();
            assert_eq!(rows::account(&row, &d).as_ref(), Ok(&account(n as u64)?));
            count += 1;
        }
        assert_eq!(count, 30);
        let mut csv = csv::Reader::from_path(&l)?;
        let header: Vec<String> = csv.headers()?.iter().map(str::to_owned).collect();
        for (n, record) in csv.records().enumerate() {
            let row: Vec<(String, String)> = header.iter().cloned().zip(record?.iter().map(str::to_owned)).collect();
            assert_eq!(rows::line(&row).as_ref(), Ok(&line(n as u64, 4, &numbers)?));
        }
        let text = std::fs::read_to_string(&t)?;
        let mut rows = text.lines();
        assert_eq!(rows.next(), Some("msisdn,reason,effective_date"));
        let first = rows.next().unwrap_or_default();
        assert_eq!(first, format!("{},non-payment,2027-01-31", numbers.e164(0)));
        assert_eq!(rows.count(), 119);
        Ok(())
    }
}
