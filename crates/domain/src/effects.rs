//! What events cause outside the case: outbox effects and timer changes.
//!
//! These are derived from events, so the shell stores them in the same transaction
//! as the events that caused them and never performs an effect without its event.

use crate::case::{Case, EventKind, Notice, TimerKind};
use crate::values::{AccountId, CaseId, Eid, Iccid, Imsi, Language, Money, Msisdn};
use crate::verification::CodeDestination;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Something to do outside lineout, carried out by the outbox worker through an adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Effect {
    /// A message to the customer; the worker looks up the account's contacts when sending.
    Notify {
        notice: Notice,
        account_id: AccountId,
        msisdn: Msisdn,
        language: Language,
        /// What the message needs to say beyond the notice itself.
        #[serde(default)]
        details: NoticeDetails,
    },
    /// Remove the line from the network (HLR, SM-DP+).
    Deprovision { msisdn: Msisdn, imsi: Option<Imsi>, iccid: Option<Iccid>, eid: Option<Eid> },
    /// Pay the remaining balance back.
    Refund { account_id: AccountId, amount: Money },
}

impl Effect {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Notify { .. } => "notify",
            Self::Deprovision { .. } => "deprovision",
            Self::Refund { .. } => "refund",
        }
    }
}

/// Facts a notice's text mentions (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoticeDetails {
    /// A deadline: the end of the withdrawal window, a PIN's expiry, a return deadline.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deadline: Option<OffsetDateTime>,
    /// An amount: the refund.
    #[serde(default)]
    pub amount: Option<Money>,
    /// Send to this one contact only (a one-time code, or one copy of a lockout notice
    /// per contact); `None`: the account's usual contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<CodeDestination>,
    /// The one-time code itself. Never in an event: only the message that carries it
    /// has it (see `Engine::send_verification_code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A change to a case's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerOp {
    Set(TimerKind, OffsetDateTime),
    Cancel(TimerKind),
    CancelAll,
}

/// The idempotency key of the `index`-th effect caused by event `seq` of a case.
pub fn effect_id(case: &CaseId, seq: u64, index: usize) -> String {
    format!("{}.{}.{}", case.as_str(), seq, index)
}

/// The effects and timer changes an event causes, given the case state after it.
pub fn consequences(after: &Case, event: &EventKind, policy: &crate::Policy) -> (Vec<Effect>, Vec<TimerOp>) {
    let policy_verification_days = policy.verification_expiry_days;
    // The first reminder time before `deadline` that is still ahead of `now`.
    let next_reminder = |deadline: OffsetDateTime, now: OffsetDateTime| {
        policy
            .device_return
            .reminder_days
            .iter()
            .map(|d| deadline - time::Duration::days(i64::from(*d)))
            .find(|t| *t > now)
    };
    use EventKind as E;
    let notify_with = |notice, details| Effect::Notify {
        notice,
        account_id: after.facts.account_id.clone(),
        msisdn: after.facts.msisdn.clone(),
        language: after.facts.language,
        details,
    };
    let notify = |notice| notify_with(notice, NoticeDetails::default());
    let mut effects = Vec::new();
    let mut timers = Vec::new();
    match event {
        E::Opened { .. } => {
            effects.push(notify(Notice::RequestReceived));
            timers.push(TimerOp::Set(
                TimerKind::VerificationExpiry,
                after.opened_at + time::Duration::days(i64::from(policy_verification_days)),
            ));
        }
        E::IdentityVerified { .. } => {
            timers.push(TimerOp::Cancel(TimerKind::VerificationExpiry));
            timers.push(TimerOp::Cancel(TimerKind::VerificationUnlock));
        }
        // The code's message is written by the engine (the code is in no event).
        E::VerificationCodeSent { .. } | E::VerificationFailed { .. } | E::KnowledgeAnswerRecorded { .. } => {}
        E::VerificationLocked { until } => {
            // Every contact of the account hears of the lockout, each on its own.
            for destination in CodeDestination::ALL {
                effects.push(notify_with(
                    Notice::VerificationLocked,
                    NoticeDetails {
                        deadline: Some(*until),
                        destination: Some(destination),
                        ..NoticeDetails::default()
                    },
                ));
            }
            timers.push(TimerOp::Set(TimerKind::VerificationUnlock, *until));
        }
        E::VerificationUnlocked => timers.push(TimerOp::Cancel(TimerKind::VerificationUnlock)),
        E::DeviceReturnRequested { deadline, .. } => {
            effects.push(notify_with(
                Notice::ReturnInstructions,
                NoticeDetails { deadline: Some(*deadline), ..NoticeDetails::default() },
            ));
            timers.push(TimerOp::Set(TimerKind::DeviceReturnDeadline, *deadline));
            if let Some(at) = next_reminder(*deadline, after.updated_at) {
                timers.push(TimerOp::Set(TimerKind::ReturnReminder, at));
            }
        }
        E::ReturnReminderDue { deadline } => {
            effects.push(notify_with(
                Notice::ReturnReminder,
                NoticeDetails { deadline: Some(*deadline), ..NoticeDetails::default() },
            ));
            if let Some(at) = next_reminder(*deadline, after.updated_at) {
                timers.push(TimerOp::Set(TimerKind::ReturnReminder, at));
            }
        }
        E::DeviceReceived { .. }
        | E::DeviceArrived
        | E::DeviceInspected { .. }
        | E::DeviceReturnWaived { .. }
        | E::DeviceNotReturned { .. } => {
            timers.push(TimerOp::Cancel(TimerKind::DeviceReturnDeadline));
            timers.push(TimerOp::Cancel(TimerKind::ReturnReminder));
        }
        E::ShipmentRecorded { .. } | E::DeviceReceiptRefused => {}
        E::ReviewStarted { due_at } => timers.push(TimerOp::Set(TimerKind::ReviewSla, *due_at)),
        E::ReviewOverdue => timers.push(TimerOp::Cancel(TimerKind::ReviewSla)),
        E::CallbackRequested { due_at } => timers.push(TimerOp::Set(TimerKind::CallbackDue, *due_at)),
        E::CallbackOverdue => {}
        E::CallbackMade => timers.push(TimerOp::Cancel(TimerKind::CallbackDue)),
        E::Approved { termination_at, withdrawal_deadline, .. } => {
            effects.push(notify_with(
                Notice::Approved,
                NoticeDetails { deadline: Some(*withdrawal_deadline), ..NoticeDetails::default() },
            ));
            timers.push(TimerOp::Cancel(TimerKind::ReviewSla));
            timers.push(TimerOp::Set(TimerKind::TerminationDue, *termination_at));
        }
        E::Rejected { .. } => {
            effects.push(notify(Notice::Rejected));
            timers.push(TimerOp::CancelAll);
        }
        E::Withdrawn => {
            effects.push(notify(Notice::Withdrawn));
            timers.push(TimerOp::CancelAll);
        }
        E::Frozen { .. } => {
            effects.push(notify(Notice::Frozen));
            timers.push(TimerOp::CancelAll);
        }
        E::Expired => {
            effects.push(notify(Notice::Expired));
            timers.push(TimerOp::CancelAll);
        }
        E::TerminationStarted => {
            timers.push(TimerOp::Cancel(TimerKind::TerminationDue));
            effects.push(Effect::Deprovision {
                msisdn: after.facts.msisdn.clone(),
                imsi: after.facts.imsi.clone(),
                iccid: after.facts.iccid.clone(),
                eid: after.facts.eid.clone(),
            });
        }
        E::Terminated => effects.push(notify(Notice::Terminated)),
        E::RefundDecided { refund, .. } => {
            if refund.is_positive() {
                effects.push(Effect::Refund { account_id: after.facts.account_id.clone(), amount: *refund });
            }
        }
        E::RefundIssued { amount, .. } => effects.push(notify_with(
            Notice::RefundIssued,
            NoticeDetails { amount: Some(*amount), ..NoticeDetails::default() },
        )),
        E::Closed { .. } | E::Superseded { .. } => timers.push(TimerOp::CancelAll),
        E::TransferPinIssued { expires_at, .. } => {
            effects.push(notify_with(
                Notice::TransferPinIssued,
                NoticeDetails { deadline: Some(*expires_at), ..NoticeDetails::default() },
            ));
            timers.push(TimerOp::Set(TimerKind::TransferPinExpiry, *expires_at));
        }
        E::TransferPinVoided { .. } => {
            effects.push(notify(Notice::TransferPinVoided));
            timers.push(TimerOp::Cancel(TimerKind::TransferPinExpiry));
        }
        E::PortValidated { .. } => timers.push(TimerOp::Cancel(TimerKind::TransferPinExpiry)),
        E::PortedOut => effects.push(notify(Notice::PortedOut)),
        E::PortRequestRefused { .. }
        | E::EsimProgressReported { .. }
        | E::EffectFailed { .. }
        | E::NoticeReceipt { .. } => {}
        E::SettlementRequired { .. }
        | E::PaymentRecorded { .. }
        | E::BalanceWrittenOff { .. }
        | E::Settled
        | E::DeprovisioningConfirmed { .. }
        | E::NoticeDelivered { .. }
        | E::EffectDeadLettered { .. }
        | E::OutcomeConfirmed => {}
    }
    (effects, timers)
}
