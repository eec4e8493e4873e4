//! `lineout audit verify`: walks every case's hash chain and reports the first break.

use crate::Outcome;
use crate::error::Result;
use lineout_app::Engine;

/// Verifies every chain; prints what was checked and the first broken event, if any.
/// Runs outside the async runtime.
pub fn verify(engine: &Engine) -> Result<Outcome> {
    let report = engine.audit_blocking()?;
    match &report.first_break {
        None => {
            println!(
                "audit ok: {} cases, {} events checked; every hash chain is intact; {} cases of erased accounts hold no personal data but what must be kept",
                report.cases, report.events, report.erased_cases
            );
            Ok(Outcome::Success)
        }
        Some((case, what)) => {
            println!("audit FAILED after {} cases, {} events: case {case}: {what}", report.cases, report.events);
            Ok(Outcome::Failure)
        }
    }
}
