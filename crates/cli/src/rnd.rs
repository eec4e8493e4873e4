//! `lineout report rnd` and `lineout numbers list`: the FCC Reassigned Numbers Database
//! report of permanent disconnections, and what became of numbers whose line ended.
//!
//! Reporting window: providers report by the 15th of each month, covering through at
//! least the 10th. The report for month M covers disconnections from the 11th of the
//! previous month, 00:00 UTC, up to (not including) the 11th of M, 00:00 UTC — so
//! consecutive reports neither overlap nor leave gaps. Ported-out numbers are not
//! disconnections and never appear. Only NANP (+1) numbers are reported, as 10 digits.

use crate::error::{Error, Result};
use lineout_app::Engine;
use lineout_app::ports::NumberState;
use lineout_domain::values::Msisdn;
use std::fmt::Write as _;
use std::path::Path;
use time::{Date, Month, OffsetDateTime, Time};

/// A validated RND company id: 3-10 letters or digits.
pub fn company_id(input: &str) -> Result<String> {
    let ok = (3..=10).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(input.to_owned())
    } else {
        Err(Error::Usage(format!("--company-id must be 3-10 letters or digits, got '{input}'")))
    }
}

/// The reporting window `[from, to)` of report month `YYYY-MM`.
pub fn window(month: &str) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let bad = || Error::Usage(format!("--month must look like 2026-11, got '{month}'"));
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month_no: u8 = m.parse().map_err(|_| bad())?;
    let month = Month::try_from(month_no).map_err(|_| bad())?;
    let to = Date::from_calendar_date(year, month, 11).map_err(|_| bad())?;
    let (py, pm) = if month == Month::January { (year - 1, Month::December) } else { (year, month.previous()) };
    let from = Date::from_calendar_date(py, pm, 11).map_err(|_| bad())?;
    Ok((from.with_time(Time::MIDNIGHT).assume_utc(), to.with_time(Time::MIDNIGHT).assume_utc()))
}

/// The report: the CSV (none when there were no disconnections) and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RndReport {
    pub company_id: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    /// (10-digit number, disconnect date YYYY-MM-DD), by date then number.
    pub rows: Vec<(String, String)>,
}

impl RndReport {
    /// Builds the report from the disconnection log's entries in the window.
    pub fn new(company_id: String, from: OffsetDateTime, to: OffsetDateTime, log: &[(OffsetDateTime, Msisdn)]) -> Self {
        let rows = log
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .filter_map(|(at, n)| {
                let national = n.as_str().strip_prefix("+1").filter(|d| d.len() == 10)?;
                Some((national.to_owned(), at.date().to_string()))
            })
            .collect();
        Self { company_id, from, to, rows }
    }

    /// The CSV to upload: `company_id,telephone_number,disconnect_date`; `None` if there
    /// were no disconnections (then the month is confirmed as "no disconnects").
    pub fn csv(&self) -> Option<String> {
        if self.rows.is_empty() {
            return None;
        }
        let mut out = String::from("company_id,telephone_number,disconnect_date\n");
        for (number, date) in &self.rows {
            let _ = writeln!(out, "{},{number},{date}", self.company_id);
        }
        Some(out)
    }

    /// One line for the operator.
    pub fn summary(&self) -> String {
        let window = format!("{} to {} (exclusive)", self.from.date(), self.to.date());
        if self.rows.is_empty() {
            format!(
                "No permanent disconnections for company {} from {window}: confirm \"no disconnects\" for this month in the RND.",
                self.company_id
            )
        } else {
            format!("{} permanent disconnections for company {} from {window}.", self.rows.len(), self.company_id)
        }
    }
}

/// `lineout report rnd --month YYYY-MM --company-id ID [--out FILE]`.
pub fn report_command(engine: &Engine, month: &str, company: &str, out: Option<&Path>) -> Result<()> {
    let company = company_id(company)?;
    let (from, to) = window(month)?;
    let log = engine.disconnections_blocking(from, to)?;
    let report = RndReport::new(company, from, to, &log);
    match (report.csv(), out) {
        (Some(csv), Some(path)) => {
            std::fs::write(path, csv).map_err(|e| Error::io(path, e))?;
            eprintln!("{} Written to {}.", report.summary(), path.display());
        }
        (Some(csv), None) => {
            print!("{csv}");
            eprintln!("{}", report.summary());
        }
        (None, _) => println!("{}", report.summary()),
    }
    Ok(())
}

/// `lineout numbers list [--state aging|available|ported_out] [--limit N]`: pages through all.
pub fn list_command(engine: &Engine, state: Option<&str>, limit: usize) -> Result<()> {
    let state = match state {
        None => None,
        Some(s) => Some(
            NumberState::parse(s)
                .ok_or_else(|| Error::Usage(format!("--state must be aging, available or ported_out, got '{s}'")))?,
        ),
    };
    let engine_ref = engine.clone();
    crate::block_on_engine(engine_ref, async |engine| {
        let now = engine.now();
        let mut after = None;
        let mut shown = 0usize;
        println!("{:<16} {:<11} {:<25} {:<25} CASE", "NUMBER", "STATE", "DISCONNECTED", "AVAILABLE");
        while shown < limit {
            let page = engine.list_numbers(state, after.clone(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.msisdn.clone());
            for n in page.iter().take(limit - shown) {
                println!(
                    "{:<16} {:<11} {:<25} {:<25} {}",
                    n.msisdn,
                    n.state(now).as_str(),
                    n.disconnected_at.date().to_string(),
                    n.available_at.map(|t| t.date().to_string()).unwrap_or_else(|| "-".into()),
                    n.case_id
                );
                shown += 1;
            }
            if page.len() < 500 {
                break;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn n(s: &str) -> Msisdn {
        Msisdn::parse(s).unwrap()
    }

    #[test]
    fn the_window_runs_from_the_11th_to_the_11th() {
        let (from, to) = window("2026-11").unwrap();
        assert_eq!((from, to), (datetime!(2026-10-11 0:00 UTC), datetime!(2026-11-11 0:00 UTC)));
        let (from, _) = window("2027-01").unwrap();
        assert_eq!(from, datetime!(2026-12-11 0:00 UTC));
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-00"] {
            assert!(window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn company_ids_are_checked() {
        assert!(company_id("AB1").is_ok() && company_id("ABCDE12345").is_ok());
        for bad in ["AB", "ABCDE123456", "AB-1", "ab c"] {
            assert!(company_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_month_with_disconnections_and_one_without() {
        let (from, to) = window("2026-11").unwrap();
        let log = vec![
            (datetime!(2026-10-10 23:59 UTC), n("+14155550100")), // previous report
            (datetime!(2026-10-11 0:00 UTC), n("+14155550101")),
            (datetime!(2026-11-10 23:59:59 UTC), n("(212) 555-0142")),
            (datetime!(2026-11-11 0:00 UTC), n("+14155550102")), // next report
            (datetime!(2026-10-20 9:00 UTC), n("+442079460958")), // not NANP
        ];
        let report = RndReport::new("ACME01".into(), from, to, &log);
        assert_eq!(
            report.csv().as_deref(),
            Some(
                "company_id,telephone_number,disconnect_date\nACME01,4155550101,2026-10-11\nACME01,2125550142,2026-11-10\n"
            )
        );
        let empty = RndReport::new("ACME01".into(), from, to, &[]);
        assert_eq!(empty.csv(), None);
        assert!(empty.summary().contains("no disconnects"));
    }
}
