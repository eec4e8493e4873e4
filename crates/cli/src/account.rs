//! `lineout account lock|unlock|cancel-unlock|status`: the account holder's free lock
//! from a terminal (an agent acting on the holder's request). Lifting needs the account
//! PIN, read from standard input so it never lands in shell history, and takes effect
//! after the policy's cooling period through the timer worker of `lineout serve`.

use crate::cli::AccountCommand;
use crate::error::{Error, Result};
use lineout_app::Engine;
use lineout_app::engine::fraud::{LiftProof, LockStatus};
use lineout_domain::values::{AccountId, LineId};
use std::io::BufRead as _;

fn parse_account(s: &str) -> Result<AccountId> {
    AccountId::parse(s).map_err(|e| Error::Usage(format!("account id: {e}")))
}

/// One line of the lock's state, e.g. `ACC-1: locked (port_out, sim_change, cancellation); lift at …`.
pub fn describe(id: &AccountId, s: &LockStatus) -> String {
    let mut on = Vec::new();
    for (name, set) in
        [("port_out", s.locks.port_out), ("sim_change", s.locks.sim_change), ("cancellation", s.locks.cancellation)]
    {
        if set {
            on.push(name);
        }
    }
    let state = if on.is_empty() { "unlocked".to_owned() } else { format!("locked ({})", on.join(", ")) };
    match s.lift_effective_at {
        Some(at) => format!("{id}: {state}; lift takes effect at {at}\n"),
        None => format!("{id}: {state}\n"),
    }
}

/// Reads the PIN (one line) from standard input.
fn read_pin() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| Error::Failed(format!("reading the PIN: {e}")))?;
    let pin = line.trim().to_owned();
    if !(4..=16).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Usage("the PIN on standard input must be 4-16 digits".into()));
    }
    Ok(pin)
}

/// Runs an `account` subcommand.
pub fn command(engine: Engine, cmd: AccountCommand) -> Result<()> {
    let pin = match &cmd {
        AccountCommand::Unlock { .. } => Some(read_pin()?),
        _ => None,
    };
    crate::block_on_engine(engine, async |engine| {
        let text = match cmd {
            AccountCommand::Lock { id } => {
                let id = parse_account(&id)?;
                describe(&id, &engine.lock_account(id.clone()).await?)
            }
            AccountCommand::Unlock { id, line } => {
                let id = parse_account(&id)?;
                let line = LineId::parse(&line).map_err(|e| Error::Usage(format!("--line: {e}")))?;
                let proof = LiftProof::Pin { line, pin: pin.unwrap_or_default() };
                describe(&id, &engine.request_lock_lift(id.clone(), proof).await?)
            }
            AccountCommand::CancelUnlock { id } => {
                let id = parse_account(&id)?;
                describe(&id, &engine.cancel_lock_lift(id.clone()).await?)
            }
            AccountCommand::Status { id } => {
                let id = parse_account(&id)?;
                describe(&id, &engine.lock_status(id.clone()).await?)
            }
        };
        print!("{text}");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{engine_on, temp_db};
    use lineout_domain::account::{Account, AccountKind, Locks};
    use lineout_domain::values::{Language, Money};

    #[test]
    fn lock_and_status_from_the_cli() -> Result<()> {
        let (_dir, url) = temp_db().map_err(|e| Error::Failed(e.to_string()))?;
        let engine = engine_on(&url)?;
        let account = Account {
            id: parse_account("ACC-CLI")?,
            holder_name: "Ada".into(),
            email: None,
            alt_phone: None,
            language: Language::En,
            pin_hash: None,
            locks: Locks::default(),
            billing_cycle_day: 1,
            kind: AccountKind::Residential,
            owed: Money::usd(0),
            prepaid_balance: Money::usd(0),
        };
        engine.upsert_accounts_blocking(vec![account])?.pop().transpose()?;
        command(engine, AccountCommand::Lock { id: "ACC-CLI".into() })?;
        let engine = engine_on(&url)?;
        let status = crate::block_on_engine(engine, async |e| Ok(e.lock_status(parse_account("ACC-CLI")?).await?))?;
        assert!(status.locks.port_out && status.locks.sim_change && status.locks.cancellation);
        let text = describe(&parse_account("ACC-CLI")?, &status);
        assert_eq!(text, "ACC-CLI: locked (port_out, sim_change, cancellation)\n");
        // Cancelling a lift that was never asked for is an error with its code.
        let err = command(engine_on(&url)?, AccountCommand::CancelUnlock { id: "ACC-CLI".into() }).err();
        assert!(err.is_some_and(|e| e.to_string().contains("lock_lift_not_found")));
        let bad = command(engine_on(&url)?, AccountCommand::Status { id: "bad id!".into() }).err();
        assert!(bad.is_some_and(|e| e.exit_code() == crate::error::EXIT_USAGE));
        Ok(())
    }
}
