//! `lineout export|privacy|legal-hold|retention` and `lineout audit export`: the records
//! tools, and the worker step `serve` runs for them (exports, privacy timers, the daily
//! retention run).

use crate::Outcome;
use crate::error::{Error, Result};
use clap::Subcommand;
use lineout_app::Engine;
use lineout_app::records::{PrivacyStep, Requester};
use lineout_domain::privacy::RequestKind;
use lineout_domain::values::{AccountId, CaseId};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Request an export of everything about an account, produce it now, and write the zip.
    Request {
        /// The account id.
        #[arg(long)]
        account: String,
        /// Where to write the zip.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// The exports recorded on an account.
    List {
        #[arg(long)]
        account: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Record an access or deletion request (CCPA timers start now).
    Open {
        #[arg(long)]
        account: String,
        /// `access` or `deletion`.
        #[arg(long)]
        kind: String,
    },
    /// List requests; --overdue lists those past a deadline (and exits 1 when there are any).
    List {
        #[arg(long)]
        overdue: bool,
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
    /// Acknowledge a request.
    Acknowledge { id: String },
    /// Extend a request once by the policy's days, with the notice sent to the requester.
    Extend {
        id: String,
        #[arg(long)]
        notice: String,
    },
    /// Complete a request: a deletion erases (except what must be kept); an access request makes an export.
    Complete { id: String },
    /// Fire due privacy timers now (the server does this continuously).
    Tick,
}

#[derive(Debug, Subcommand)]
pub enum LegalHoldCommand {
    /// Put an account under legal hold: nothing of it is erased until cleared.
    Set {
        #[arg(long)]
        account: String,
        #[arg(long)]
        reason: String,
    },
    /// Clear an account's legal hold.
    Clear {
        #[arg(long)]
        account: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Apply the retention policy now: erase closed accounts past the policy's days.
    Run,
}

fn account(s: &str) -> Result<AccountId> {
    AccountId::parse(s).map_err(|e| Error::Usage(format!("--account: {e}")))
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub fn export(engine: Engine, cmd: ExportCommand) -> Result<Outcome> {
    crate::block_on_engine(engine, async |engine| match cmd {
        ExportCommand::Request { account: a, out } => {
            let requested = engine.request_export(account(&a)?, Requester::Operator("cli".into())).await?;
            engine.run_exports().await?;
            let (row, bytes) = engine.download_export(requested.token).await?;
            std::fs::write(&out, &bytes).map_err(|source| Error::Io { path: out.clone(), source })?;
            println!("export {} of {}: {} bytes written to {}", row.id, row.account_id, bytes.len(), out.display());
            Ok(Outcome::Success)
        }
        ExportCommand::List { account: a } => {
            for e in engine.account_exports(account(&a)?).await? {
                println!(
                    "{} {} requested {} by {} expires {} downloaded {}",
                    e.id,
                    e.status.as_str(),
                    e.requested_at,
                    e.requested_by,
                    e.expires_at,
                    e.downloaded_at.map_or_else(|| "-".to_owned(), |t| t.to_string())
                );
            }
            Ok(Outcome::Success)
        }
    })
}

fn print_request(r: &lineout_app::records_port::PrivacyRow) {
    println!(
        "{} {} {} {} ack by {}{} complete by {}{}{}",
        r.id,
        r.account_id,
        r.kind.as_str(),
        r.status.as_str(),
        r.deadlines.ack_due_at,
        if r.ack_overdue { " (OVERDUE)" } else { "" },
        r.deadlines.due_at,
        if r.overdue { " (OVERDUE)" } else { "" },
        r.outcome.as_deref().map(|o| format!("\n  outcome: {o}")).unwrap_or_default()
    );
}

pub fn privacy(engine: Engine, cmd: PrivacyCommand) -> Result<Outcome> {
    crate::block_on_engine(engine, async |engine| {
        let step = |id: String, step: PrivacyStep| async move {
            let r = engine.privacy_step(id, step).await?;
            print_request(&r);
            Ok::<_, Error>(Outcome::Success)
        };
        match cmd {
            PrivacyCommand::Open { account: a, kind } => {
                let kind = RequestKind::parse(&kind)
                    .ok_or_else(|| Error::Usage("--kind must be access or deletion".into()))?;
                print_request(&engine.open_privacy_request(account(&a)?, kind).await?);
                Ok(Outcome::Success)
            }
            PrivacyCommand::List { overdue, limit } => {
                let rows = engine.privacy_requests(overdue, None, limit).await?;
                rows.iter().for_each(print_request);
                Ok(if overdue && !rows.is_empty() { Outcome::Failure } else { Outcome::Success })
            }
            PrivacyCommand::Acknowledge { id } => step(id, PrivacyStep::Acknowledge).await,
            PrivacyCommand::Extend { id, notice } => step(id, PrivacyStep::Extend { notice }).await,
            PrivacyCommand::Complete { id } => step(id, PrivacyStep::Complete).await,
            PrivacyCommand::Tick => {
                let n = engine.run_privacy_timers().await?;
                println!("{n} privacy timers fired");
                Ok(Outcome::Success)
            }
        }
    })
}

pub fn legal_hold(engine: Engine, cmd: LegalHoldCommand) -> Result<Outcome> {
    crate::block_on_engine(engine, async |engine| {
        let (a, hold, reason) = match cmd {
            LegalHoldCommand::Set { account: a, reason } => (a, true, Some(reason)),
            LegalHoldCommand::Clear { account: a } => (a, false, None),
        };
        let s = engine.set_legal_hold(account(&a)?, hold, reason).await?;
        println!("{a}: legal hold {}", if s.legal_hold { "set" } else { "cleared" });
        Ok(Outcome::Success)
    })
}

pub fn retention(engine: Engine, RetentionCommand::Run: RetentionCommand) -> Result<Outcome> {
    crate::block_on_engine(engine, async |engine| {
        let report = engine.run_retention().await?;
        println!("{}", json(&report));
        Ok(Outcome::Success)
    })
}

/// `lineout audit export --case ID [--out FILE]`: the case's chained events with hashes.
pub fn audit_export(engine: &Engine, case: &str, out: Option<PathBuf>) -> Result<Outcome> {
    let id = CaseId::parse(case).map_err(|e| Error::Usage(format!("--case: {e}")))?;
    let doc = json(&engine.audit_export_blocking(&id)?);
    match out {
        Some(path) => std::fs::write(&path, doc).map_err(|source| Error::Io { path, source })?,
        None => println!("{doc}"),
    }
    Ok(Outcome::Success)
}

/// One records step of the server's worker: produce pending exports, fire privacy
/// timers, and run retention when its daily schedule is due. Returns (busy, failed).
pub async fn worker_step(engine: &Engine) -> (bool, bool) {
    let mut busy = false;
    let mut failed = false;
    match engine.run_exports().await {
        Ok(n) => busy |= n > 0,
        Err(e) => {
            failed = true;
            tracing::error!(code = e.code(), "export step failed");
        }
    }
    match engine.run_privacy_timers().await {
        Ok(n) => busy |= n > 0,
        Err(e) => {
            failed = true;
            tracing::error!(code = e.code(), "privacy timer step failed");
        }
    }
    match engine.run_retention_if_due().await {
        Ok(Some(report)) => {
            tracing::info!(erased = report.erased.len(), expired = report.records_expired.len(), "retention ran");
        }
        Ok(None) => {}
        Err(e) => {
            failed = true;
            tracing::error!(code = e.code(), "retention step failed");
        }
    }
    (busy, failed)
}
