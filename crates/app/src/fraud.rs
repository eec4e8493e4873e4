//! Fraud guards (issue 4, part B), as a child module of the engine so it shares its
//! one-transaction helpers: the case's risk assessment from its signals, the account
//! lock with its cooling period (requested lifts take effect through the timer worker),
//! "this wasn't me" codes that freeze a case, and the CPNI rule for reads.
//!
//! Account-level notices (lock on, lift requested, lift effective) are outbox rows of
//! kind [`ACCOUNT_NOTIFY_KIND`] whose `case_id` is `acct.<account id>`: they are sent
//! like case notices (authenticity code and all) but report back to no case.

use super::{Inner, execute, not_found, to_millis};
use crate::error::Error;
use crate::ports::{Conn, OutboxRow, OutboxStatus};
use lineout_domain::account::Locks;
use lineout_domain::case::{Actor, Case, Command, Notice};
use lineout_domain::effects::{Effect, NoticeDetails};
use lineout_domain::fraud::{self, RiskSignals};
use lineout_domain::values::{AccountId, CaseId, LineId};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The outbox kind of notices about an account rather than a case.
pub const ACCOUNT_NOTIFY_KIND: &str = "account_notify";
/// Characters of a "this wasn't me" code (Crockford base32: 60 bits).
pub const FRAUD_CODE_LEN: usize = 12;
/// Lifts of the account lock taken per worker step.
const LIFT_BATCH: u32 = 100;
/// Cases of one account read to decide whether its CPNI is open.
const CPNI_CASES: u32 = 200;

/// The event type part A records for a failed verification attempt.
pub const VERIFICATION_FAILED: &str = "verification_failed";

/// How the customer proves who they are when asking to lift the account lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiftProof {
    /// A case of the account whose verification is open (see [`fraud::cpni_open`]).
    VerifiedCase,
    /// The account PIN, checked against a line of the account (wrong attempts count
    /// toward the line's PIN lockout).
    Pin { line: LineId, pin: String },
}

/// An account's locks and the pending lift, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockStatus {
    pub locks: Locks,
    pub lift_effective_at: Option<OffsetDateTime>,
}

fn actor_key(actor: &Actor) -> Option<String> {
    match actor {
        Actor::Staff(id) => Some(format!("staff:{}", id.as_str())),
        Actor::Client(id) => Some(format!("client:{}", id.as_str())),
        // Customers and lineout itself are not agents: their requests are not bursts of one agent.
        Actor::Customer | Actor::System => None,
    }
}

/// Records where a new case came from and scores it, in the opening transaction.
pub(super) fn assess_new(
    conn: &mut dyn Conn,
    inner: &Inner,
    case: &Case,
    actor: &Actor,
    client_addr: Option<&str>,
    now: OffsetDateTime,
) -> Result<Case, Error> {
    // Bulk terminations are operator-initiated by design: many cases from one operator are no burst.
    let key = if case.channel == lineout_domain::Channel::Bulk { None } else { actor_key(actor) };
    conn.record_case_origin(&case.id, key.as_deref().unwrap_or("-"), client_addr, now)?;
    let weights = &inner.config.policy.fraud.risk;
    let since = now - Duration::minutes(i64::from(weights.burst_window_minutes));
    let requests_by_agent = match &key {
        Some(k) => conn.cases_opened_by(k, since, weights.burst_requests)?,
        None => 0,
    };
    let requests_by_address = match client_addr {
        Some(a) => conn.cases_opened_from(a, since, weights.burst_requests)?,
        None => 0,
    };
    assess(conn, inner, case, requests_by_agent, requests_by_address, now)
}

/// Scores a case again before a step that depends on its risk (verification, approval):
/// failed verification attempts may have happened since it opened. Burst signals keep
/// the values of the last assessment.
pub(super) fn reassess(conn: &mut dyn Conn, inner: &Inner, id: &CaseId, now: OffsetDateTime) -> Result<(), Error> {
    let Some(record) = conn.get_case(id)? else { return Ok(()) };
    if record.case.status.is_terminal() {
        return Ok(());
    }
    let had = |code: &str| record.case.risk.as_ref().is_some_and(|r| r.reasons.iter().any(|x| x.code == code));
    let burst = inner.config.policy.fraud.risk.burst_requests;
    let agent = if had("agent_burst") { burst } else { 0 };
    let address = if had("address_burst") { burst } else { 0 };
    assess(conn, inner, &record.case, agent, address, now)?;
    Ok(())
}

fn assess(
    conn: &mut dyn Conn,
    inner: &Inner,
    case: &Case,
    requests_by_agent: u32,
    requests_by_address: u32,
    now: OffsetDateTime,
) -> Result<Case, Error> {
    let (sim_changed_at, contacts_changed_at) = conn.risk_facts(&case.facts.line_id)?;
    let failed = conn.events(&case.id)?.iter().filter(|e| e.kind == VERIFICATION_FAILED).count();
    let signals = RiskSignals {
        channel: case.channel,
        sim_changed_at,
        contacts_changed_at,
        failed_verifications: u32::try_from(failed).unwrap_or(u32::MAX),
        requests_by_agent,
        requests_by_address,
    };
    let risk = fraud::score(&signals, &inner.config.policy.fraud.risk, now);
    if case.risk.as_ref() == Some(&risk) {
        return Ok(case.clone());
    }
    execute(conn, &inner.config, &case.id, &Command::AssessRisk { risk }, &Actor::System, now)
}

/// Draws a "this wasn't me" code for a notice about a new request and stores its hash,
/// bound to the case. A retried notice gets a new code; earlier ones stay valid.
pub(super) fn issue_fraud_code(
    conn: &mut dyn Conn,
    inner: &Inner,
    case: &CaseId,
    now: OffsetDateTime,
) -> Result<String, Error> {
    let secret = inner.ids.secret();
    let code: String = secret.chars().skip(secret.chars().count().saturating_sub(FRAUD_CODE_LEN)).collect();
    let code = code.to_ascii_uppercase();
    conn.insert_fraud_code(&super::hash_secret(&code), case, now)?;
    Ok(code)
}

/// Whether a notice tells of a new cancellation or port-out request (it carries a fraud code).
pub(super) fn carries_fraud_code(notice: Notice) -> bool {
    matches!(notice, Notice::RequestReceived | Notice::TransferPinIssued)
}

/// An outbox row with a notice about an account (not a case).
fn account_notice(
    conn: &mut dyn Conn,
    ids: &dyn crate::ports::IdGen,
    account: &AccountId,
    notice: Notice,
    deadline: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let acc = conn.get_account(account)?.ok_or_else(|| not_found("account", account.as_str()))?;
    let Some(msisdn) = conn.account_msisdns(account, 1)?.into_iter().next() else {
        // An account without a line is told through its alternate phone (which the notice
        // needs as its number), with its email alongside; without one, there is no notice.
        return account_notice_to(conn, ids, &acc, acc.alt_phone.clone(), notice, deadline, now);
    };
    account_notice_to(conn, ids, &acc, Some(msisdn), notice, deadline, now)
}

fn account_notice_to(
    conn: &mut dyn Conn,
    ids: &dyn crate::ports::IdGen,
    account: &lineout_domain::account::Account,
    msisdn: Option<lineout_domain::values::Msisdn>,
    notice: Notice,
    deadline: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let Some(msisdn) = msisdn else { return Ok(()) };
    let effect = Effect::Notify {
        notice,
        account_id: account.id.clone(),
        msisdn,
        language: account.language,
        details: NoticeDetails { deadline, ..NoticeDetails::default() },
    };
    // Shown by the authenticity check; a case id holds at most 64 characters.
    let label: String = format!("acct.{}", account.id.as_str()).chars().take(64).collect();
    let case_id = CaseId::parse(&label).map_err(|_| Error::Internal("account notice id".into()))?;
    let row = OutboxRow {
        // Unique even for two notices of one kind in the same millisecond.
        id: format!("acct.{}.{}.{}.{}", account.id.as_str(), notice.as_str(), now.unix_timestamp(), nonce(ids)),
        case_id,
        kind: ACCOUNT_NOTIFY_KIND.to_owned(),
        payload: serde_json::to_string(&effect).map_err(|e| Error::Internal(e.to_string()))?,
        status: OutboxStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        done_at: None,
    };
    conn.insert_outbox(&[row])?;
    Ok(())
}

/// An imported or API-updated account may switch locks on but never off: lifting a
/// lock goes through the cooling period ([`super::Engine::request_lock_lift`]).
pub(super) fn upsert_keeping_locks(
    conn: &mut dyn Conn,
    account: &lineout_domain::account::Account,
    now: OffsetDateTime,
) -> crate::ports::StoreResult<crate::ports::Upsert> {
    let mut next = account.clone();
    if let Some(current) = conn.get_account(&account.id)? {
        next.locks.port_out |= current.locks.port_out;
        next.locks.sim_change |= current.locks.sim_change;
        next.locks.cancellation |= current.locks.cancellation;
    }
    conn.upsert_account(&next, now)
}

/// The lock is effective at once: cancellations and port-outs of the account that have
/// not started terminating are frozen (stopped for review, the line stays active).
fn stop_open_requests(
    conn: &mut dyn Conn,
    inner: &Inner,
    account: &AccountId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let filter = crate::ports::CaseFilter {
        account_id: Some(account.clone()),
        limit: CPNI_CASES,
        ..crate::ports::CaseFilter::default()
    };
    let open: Vec<CaseId> = conn
        .list_cases(&filter)?
        .into_iter()
        .filter(|c| {
            use lineout_domain::Status as S;
            matches!(c.status, S::Verifying | S::Preparing | S::InReview | S::Approved | S::AwaitingPort)
        })
        .map(|c| c.id)
        .collect();
    let note = Some("stopped: the account holder switched the account lock on".to_owned());
    for id in open {
        execute(conn, &inner.config, &id, &Command::ReportFraud { note: note.clone() }, &Actor::System, now)?;
    }
    Ok(())
}

/// A short unique part for an outbox row id.
fn nonce(ids: &dyn crate::ports::IdGen) -> String {
    let secret = ids.secret();
    secret.chars().skip(secret.chars().count().saturating_sub(10)).collect()
}

const ALL_LOCKED: Locks = Locks { port_out: true, sim_change: true, cancellation: true };
const UNLOCKED: Locks = Locks { port_out: false, sim_change: false, cancellation: false };

/// Takes the lifts whose cooling period ended and unlocks their accounts, each with a
/// notice, in the worker's transaction. Returns how many took effect.
pub(super) fn lift_due_locks(
    conn: &mut dyn Conn,
    ids: &dyn crate::ports::IdGen,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let due = conn.take_due_lock_lifts(now, LIFT_BATCH)?;
    let mut n = 0;
    for account in due {
        if conn.set_account_locks(&account, UNLOCKED, now)? {
            account_notice(conn, ids, &account, Notice::AccountUnlocked, Some(now), now)?;
            n += 1;
        }
    }
    Ok(n)
}

impl super::Engine {
    /// Upserts lines, each with the date its SIM last changed when the operator's systems
    /// know it (the import's `sim_changed_at` column), each row in its own savepoint.
    pub fn upsert_lines_with_sim_changes_blocking(
        &self,
        rows: Vec<(lineout_domain::account::Line, Option<OffsetDateTime>)>,
    ) -> Result<Vec<Result<crate::ports::Upsert, Error>>, Error> {
        let clock = Arc::clone(&self.inner.clock);
        self.inner.writer.run_blocking(move |conn| {
            Ok(super::each_row(conn, rows, |c, (line, changed)| {
                let upsert = c.upsert_line(line, to_millis(clock.now()))?;
                if let Some(at) = changed {
                    c.set_sim_changed_at(&line.id, to_millis(*at))?;
                }
                Ok(upsert)
            }))
        })
    }

    /// Switches the account's free lock on (port-out, transfer PINs, SIM change and
    /// cancellation), at once; a pending lift is cancelled. The holder is told.
    pub async fn lock_account(&self, account: AccountId) -> Result<LockStatus, Error> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                if !conn.set_account_locks(&account, ALL_LOCKED, now)? {
                    return Err(not_found("account", account.as_str()));
                }
                conn.cancel_lock_lift(&account)?;
                stop_open_requests(conn, &inner, &account, now)?;
                account_notice(conn, &*inner.ids, &account, Notice::AccountLocked, None, now)?;
                Ok(LockStatus { locks: ALL_LOCKED, lift_effective_at: None })
            })
            .await
    }

    /// Asks to lift the account lock: needs strong verification, and takes effect after
    /// the policy's cooling period (the holder is told now and again at effect).
    pub async fn request_lock_lift(&self, account: AccountId, proof: LiftProof) -> Result<LockStatus, Error> {
        match proof {
            LiftProof::VerifiedCase => {
                if !self.cpni_open_for_account(account.clone()).await? {
                    return Err(Error::VerificationRequired);
                }
            }
            LiftProof::Pin { line, pin } => {
                let found = self.line(line.clone()).await?;
                if found.account_id != account {
                    return Err(Error::VerificationRequired);
                }
                if self.check_pin(line, pin).await? != super::PinCheck::Correct {
                    return Err(Error::VerificationRequired);
                }
            }
        }
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let acc = conn.get_account(&account)?.ok_or_else(|| not_found("account", account.as_str()))?;
                if acc.locks == UNLOCKED {
                    return Err(Error::AccountNotLocked);
                }
                let hours = i64::from(inner.config.policy.fraud.lock_cooling_hours);
                let effective_at = now + Duration::hours(hours);
                if !conn.put_lock_lift(&account, now, effective_at)? {
                    return Err(Error::LockLiftPending);
                }
                account_notice(conn, &*inner.ids, &account, Notice::AccountUnlocked, Some(effective_at), now)?;
                Ok(LockStatus { locks: acc.locks, lift_effective_at: Some(effective_at) })
            })
            .await
    }

    /// Cancels a pending lift during its cooling period: the lock stays on.
    pub async fn cancel_lock_lift(&self, account: AccountId) -> Result<LockStatus, Error> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let acc = conn.get_account(&account)?.ok_or_else(|| not_found("account", account.as_str()))?;
                if !conn.cancel_lock_lift(&account)? {
                    return Err(Error::NoLockLift);
                }
                account_notice(conn, &*inner.ids, &account, Notice::AccountLocked, None, now)?;
                Ok(LockStatus { locks: acc.locks, lift_effective_at: None })
            })
            .await
    }

    /// The account's locks and pending lift.
    pub async fn lock_status(&self, account: AccountId) -> Result<LockStatus, Error> {
        self.read(move |c| {
            let acc = c.get_account(&account)?.ok_or_else(|| not_found("account", account.as_str()))?;
            Ok(LockStatus { locks: acc.locks, lift_effective_at: c.lock_lift(&account)? })
        })
        .await
    }

    /// "This wasn't me": a valid, unused code freezes its case for review (the customer
    /// is told by the frozen notice). A wrong or used code changes nothing.
    pub async fn report_fraud_code(&self, code: String) -> Result<Case, Error> {
        let ok = code.len() == FRAUD_CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(Error::FraudCodeUnknown);
        }
        let hash = super::hash_secret(&code.to_ascii_uppercase());
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let case_id = conn.use_fraud_code(&hash, now)?.ok_or(Error::FraudCodeUnknown)?;
                let cmd =
                    Command::ReportFraud { note: Some("reported with the customer's 'this wasn't me' code".into()) };
                execute(conn, &inner.config, &case_id, &cmd, &Actor::Customer, now)
            })
            .await
    }

    /// Whether the account's CPNI may be shown to someone acting for the customer now.
    pub async fn cpni_open_for_account(&self, account: AccountId) -> Result<bool, Error> {
        let now = self.now();
        let policy = self.inner.config.policy.fraud.clone();
        self.read(move |c| {
            let filter = crate::ports::CaseFilter {
                status: None,
                channel: None,
                line_id: None,
                account_id: Some(account),
                opened_from: None,
                opened_to: None,
                after: None,
                limit: CPNI_CASES,
            };
            let cases = c.list_cases(&filter)?;
            Ok(fraud::cpni_open(cases.iter(), &policy, now))
        })
        .await
    }

    /// Whether this case's own verification opens CPNI now (lists use it per item).
    pub fn cpni_open_for_case(&self, case: &Case) -> bool {
        fraud::cpni_open([case], &self.inner.config.policy.fraud, self.now())
    }
}
