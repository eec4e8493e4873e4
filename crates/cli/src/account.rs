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
