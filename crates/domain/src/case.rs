//! The cancellation case: a state machine driven by commands and recorded as events.
//!
//! [`open`] starts a case, [`decide`] turns a command on an existing case into events
//! (or an error with a stable code), and [`Case::apply`] folds one event into the
//! state. Nothing here reads a clock or does I/O: `now` is a parameter.

use crate::account::{AccountKind, LineStatus, Plan};
use crate::billing::FinalBill;
use crate::policy::{Policy, RefundMethod, RefundMode};
use crate::values::{AccountId, ActorId, CaseId, DeviceId, Eid, Iccid, Imei, Imsi, Language, LineId, Money, Msisdn};
pub use crate::verification::{CodeDestination, CodeRef, KnowledgeItem, PhotoId, PinOutcome, Proof};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, Time};

/// How the customer reached the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Ivr,
    Web,
    Chat,
    Store,
    Api,
    Bulk,
}

impl Channel {
    pub const ALL: [Channel; 6] = [Self::Ivr, Self::Web, Self::Chat, Self::Store, Self::Api, Self::Bulk];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ivr => "ivr",
            Self::Web => "web",
            Self::Chat => "chat",
            Self::Store => "store",
            Self::Api => "api",
            Self::Bulk => "bulk",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What a case is for: ending the line, or letting its number leave for another operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    #[default]
    Cancellation,
    /// The number ports out to another operator instead of being cancelled.
    PortOut,
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancellation => "cancellation",
            Self::PortOut => "port_out",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cancellation" => Some(Self::Cancellation),
            "port_out" => Some(Self::PortOut),
            _ => None,
        }
    }
}

/// When the customer wants service to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "date")]
pub enum Timing {
    /// As soon as the withdrawal window allows.
    Immediate,
    /// At the end of the current billing cycle.
    EndOfCycle,
    /// On a given date (UTC midnight).
    OnDate(Date),
}

/// Who issued a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Actor {
    /// The account holder (authenticated by the channel).
    Customer,
    /// A member of staff, by staff id.
    Staff(ActorId),
    /// An API client, by token id.
    Client(ActorId),
    /// lineout itself: timers, workers, rules.
    System,
}

impl Actor {
    fn is_operator(&self) -> bool {
        matches!(self, Actor::Staff(_) | Actor::Client(_) | Actor::System)
    }
}

/// What the case knows about the line, account and device, copied when the case opens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFacts {
    pub account_id: AccountId,
    pub account_kind: AccountKind,
    pub line_id: LineId,
    pub msisdn: Msisdn,
    pub iccid: Option<Iccid>,
    pub imsi: Option<Imsi>,
    pub eid: Option<Eid>,
    pub plan: Plan,
    pub line_status: LineStatus,
    pub language: Language,
    pub billing_cycle_day: u8,
    pub cancellation_locked: bool,
    /// The account holder's free lock against port-out.
    #[serde(default)]
    pub port_out_locked: bool,
    /// Unpaid charges (positive) or credit (negative) when the case opened.
    pub owed: Money,
    pub prepaid_balance: Money,
    /// The device to return, if the line has one that must come back.
    pub device: Option<DeviceFact>,
    /// The line's recurring plan charge per billing cycle, in the account's currency.
    #[serde(default)]
    pub monthly_charge_cents: i64,
    /// Installments still owed on the line's financed devices (due on the final bill), in the
    /// account's currency. Kept here rather than on [`DeviceFact`] because a financed device
    /// that need not come back has no device fact.
    #[serde(default)]
    pub remaining_installments_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceFact {
    pub device_id: DeviceId,
    pub imei: Imei,
    pub price: Money,
    #[serde(default)]
    pub model: String,
}

/// What warehouse staff (or a store agent) found when inspecting a returned device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    pub condition: DeviceCondition,
    /// Accessories expected back but missing (names from the return authorization).
    #[serde(default)]
    pub missing_accessories: Vec<String>,
    /// Whether the model matches the line's device.
    #[serde(default = "yes")]
    pub model_matches: bool,
    #[serde(default)]
    pub notes: Option<String>,
    /// References to photos kept elsewhere (e.g. object-store keys), at most 10.
    #[serde(default)]
    pub photos: Vec<String>,
}

fn yes() -> bool {
    true
}

/// One fee with what it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLine {
    pub label: String,
    pub amount: Money,
}

/// A parcel carrier, for tracking number checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    Ups,
    Usps,
    Fedex,
    Other,
}

impl Carrier {
    /// Whether a tracking number has the carrier's shape (UPS `1Z` + 16 characters,
    /// USPS 20-22 digits, FedEx 12 or 15 digits; others 1-40 letters, digits or '-').
    pub fn tracking_ok(self, tracking: &str) -> bool {
        let digits = |n: &[usize]| n.contains(&tracking.len()) && tracking.bytes().all(|b| b.is_ascii_digit());
        match self {
            Self::Ups => {
                tracking.len() == 18
                    && tracking.starts_with("1Z")
                    && tracking.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            }
            Self::Usps => digits(&[20, 21, 22]),
            Self::Fedex => digits(&[12, 15]),
            Self::Other => {
                (1..=40).contains(&tracking.len()) && tracking.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }
        }
    }
}

/// How the customer's identity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// The foundation's "an agent says so". It verifies nothing any more; kept so that
    /// old events still read.
    AgentAttested,
    OneTimeCode,
    Pin,
    PhotoId,
    /// An API client whose token scope covers verification.
    OperatorToken,
    /// Operator-initiated bulk termination: no customer verification, a notice instead.
    OperatorInitiated,
}

/// The device's condition as graded at inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceCondition {
    LikeNew,
    Good,
    Damaged,
    Broken,
}

/// Why a case was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    IdentityNotVerified,
    UnpaidBalance,
    LineNotEligible,
    DuplicateRequest,
    SuspectedFraud,
    ContractTerms,
    Other,
}

/// Messages to the customer that the case causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    RequestReceived,
    ReturnInstructions,
    Approved,
    Rejected,
    Withdrawn,
    Expired,
    Frozen,
    Terminated,
    RefundIssued,
    TransferPinIssued,
    TransferPinVoided,
    PortedOut,
    /// A one-time verification code (sent by the verification step).
    VerificationCode,
    /// A code to sign in to the customer portal (belongs to no case).
    PortalSignInCode,
    /// Too many wrong verification attempts: verification is locked for a while.
    VerificationLocked,
    /// The account's free lock was switched on, or its removal takes effect.
    AccountLocked,
    AccountUnlocked,
    /// "This wasn't me" was received: the case is frozen for review.
    FraudReportReceived,
    /// The device return deadline is near.
    ReturnReminder,
    /// The final statement can be downloaded.
    FinalStatementReady,
}

impl Notice {
    pub const ALL: [Notice; 20] = [
        Self::RequestReceived,
        Self::ReturnInstructions,
        Self::Approved,
        Self::Rejected,
        Self::Withdrawn,
        Self::Expired,
        Self::Frozen,
        Self::Terminated,
        Self::RefundIssued,
        Self::TransferPinIssued,
        Self::TransferPinVoided,
        Self::PortedOut,
        Self::VerificationCode,
        Self::PortalSignInCode,
        Self::VerificationLocked,
        Self::AccountLocked,
        Self::AccountUnlocked,
        Self::FraudReportReceived,
        Self::ReturnReminder,
        Self::FinalStatementReady,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestReceived => "request_received",
            Self::ReturnInstructions => "return_instructions",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::Frozen => "frozen",
            Self::Terminated => "terminated",
            Self::RefundIssued => "refund_issued",
            Self::TransferPinIssued => "transfer_pin_issued",
            Self::TransferPinVoided => "transfer_pin_voided",
            Self::PortedOut => "ported_out",
            Self::VerificationCode => "verification_code",
            Self::PortalSignInCode => "portal_sign_in_code",
            Self::VerificationLocked => "verification_locked",
            Self::AccountLocked => "account_locked",
            Self::AccountUnlocked => "account_unlocked",
            Self::FraudReportReceived => "fraud_report_received",
            Self::ReturnReminder => "return_reminder",
            Self::FinalStatementReady => "final_statement_ready",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

/// Why a port request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortRefusal {
    AccountMismatch,
    PinInvalid,
    PinExpired,
    AccountLocked,
    /// Too many wrong attempts: the PIN is void; the customer must request a new one.
    TooManyAttempts,
}

impl PortRefusal {
    /// The stable error code a refused port request answers with.
    pub fn code(self) -> &'static str {
        match self {
            Self::AccountMismatch => "port_account_mismatch",
            Self::PinInvalid => "port_pin_invalid",
            Self::PinExpired => "port_pin_expired",
            Self::AccountLocked => "account_locked",
            Self::TooManyAttempts => "port_pin_void",
        }
    }
}

/// Durable timers a case can hold, at most one of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    VerificationExpiry,
    DeviceReturnDeadline,
    ReviewSla,
    TerminationDue,
    TransferPinExpiry,
    /// A callback requested by voicemail must be handled within 24 hours (AB 2863).
    CallbackDue,
    /// The next reminder to return the device.
    ReturnReminder,
    /// The end of a verification lockout.
    VerificationUnlock,
}

impl TimerKind {
    pub const ALL: [TimerKind; 8] = [
        Self::VerificationUnlock,
        Self::ReturnReminder,
        Self::VerificationExpiry,
        Self::DeviceReturnDeadline,
        Self::ReviewSla,
        Self::TerminationDue,
        Self::TransferPinExpiry,
        Self::CallbackDue,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerificationExpiry => "verification_expiry",
            Self::DeviceReturnDeadline => "device_return_deadline",
            Self::ReviewSla => "review_sla",
            Self::TerminationDue => "termination_due",
            Self::TransferPinExpiry => "transfer_pin_expiry",
            Self::CallbackDue => "callback_due",
            Self::ReturnReminder => "return_reminder",
            Self::VerificationUnlock => "verification_unlock",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a case stands. Terminal statuses accept no further step commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Opened; waiting for the customer to prove who they are.
    Verifying,
    /// Verified; settlement and device return proceed in parallel.
    Preparing,
    /// Waiting for a reviewer's decision.
    InReview,
    /// Approved; the withdrawal window runs until termination is due.
    Approved,
    /// Port-out: a transfer PIN is out; waiting for the new operator's port request.
    AwaitingPort,
    /// Deprovisioning requested from the network.
    Terminating,
    /// Service ended; refund and final notice pending.
    Closing,
    Closed,
    Rejected,
    Withdrawn,
    Expired,
    Frozen,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Self::Verifying,
        Self::Preparing,
        Self::InReview,
        Self::Approved,
        Self::AwaitingPort,
        Self::Terminating,
        Self::Closing,
        Self::Closed,
        Self::Rejected,
        Self::Withdrawn,
        Self::Expired,
        Self::Frozen,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verifying => "verifying",
            Self::Preparing => "preparing",
            Self::InReview => "in_review",
            Self::Approved => "approved",
            Self::AwaitingPort => "awaiting_port",
            Self::Terminating => "terminating",
            Self::Closing => "closing",
            Self::Closed => "closed",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::Frozen => "frozen",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// A terminal case is finished; a line with only terminal cases may get a new one.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Closed | Self::Rejected | Self::Withdrawn | Self::Expired | Self::Frozen)
    }
    /// Before termination starts the customer can still withdraw or be frozen.
    fn before_termination(self) -> bool {
        matches!(self, Self::Verifying | Self::Preparing | Self::InReview | Self::Approved | Self::AwaitingPort)
    }
}

/// A command to a case. `Open` is separate: see [`open`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Command {
    /// A verification attempt with its proof (secrets already checked by the shell) and
    /// the keyed hash of the client's address, if it came over the network.
    VerifyIdentity {
        #[serde(flatten)]
        proof: Proof,
        #[serde(default)]
        client: Option<String>,
    },
    /// A one-time code was drawn (the shell keeps only its keyed hash) and goes to one
    /// of the account's contacts.
    SendVerificationCode {
        code_id: String,
        destination: CodeDestination,
    },
    /// An answer to a knowledge question, as judged by the agent: a risk signal only.
    RecordKnowledgeAnswer {
        item: KnowledgeItem,
        matched: bool,
    },
    RecordPayment {
        amount: Money,
        reference: String,
        /// The account the payment system says it paid for; refused when it is not the case's.
        #[serde(default)]
        account_id: Option<AccountId>,
    },
    WriteOff {
        reason: String,
    },
    /// The device arrived (the IMEI read from it); with an inspection, it is also
    /// inspected in the same step (a device handed over in a store).
    ReceiveDevice {
        imei: Imei,
        #[serde(default)]
        inspection: Option<Inspection>,
    },
    /// Warehouse staff inspect a device that arrived.
    InspectDevice {
        inspection: Inspection,
    },
    /// The customer (or an agent) records the parcel's carrier and tracking number.
    RecordShipment {
        carrier: Carrier,
        tracking: String,
    },
    WaiveDeviceReturn {
        reason: String,
    },
    Approve {
        note: Option<String>,
    },
    Reject {
        reason: RejectReason,
        note: Option<String>,
    },
    Withdraw,
    ReportFraud {
        note: Option<String>,
    },
    /// Staff closes a case whose final steps cannot complete (e.g. a notice dead-lettered).
    Close {
        note: String,
    },
    /// The customer confirms the outcome (a record; the case closes on its own).
    ConfirmOutcome,
    /// An agent called back a customer who asked for a callback.
    RecordCallback,
    /// Port-out: a new transfer PIN was issued (the shell keeps only its hash); it voids the old one.
    IssueTransferPin {
        pin_id: String,
    },
    /// Port-out: the new operator's port request, as checked by the shell against the stored PIN.
    RequestPort {
        new_operator: String,
        account_matches: bool,
        pin_matches: bool,
        port_out_locked: bool,
    },
    /// The line ported out through another case: this cancellation ends without terminating.
    Supersede {
        by_case: CaseId,
    },
    /// The SM-DP+ reported download progress of the line's eSIM profile (ES2+ handleDownloadProgressInfo).
    RecordEsimProgress {
        notification_point: String,
        status: String,
    },
    /// An effect's delivery failed and will be retried.
    EffectFailed {
        effect_id: String,
        effect: String,
        attempt: u32,
        error: String,
    },
    /// The SMSC's delivery receipt for a notice sent by SMS.
    RecordNoticeReceipt {
        effect_id: String,
        delivered: bool,
        status: String,
    },
    /// The customer (or an agent for them) chooses how a refund is paid, among the policy's methods.
    ChooseRefundMethod {
        method: RefundMethod,
    },
    /// Worker results and timers (system only).
    DeprovisioningConfirmed {
        effect_id: String,
    },
    RefundIssued {
        effect_id: String,
        reference: String,
    },
    NoticeDelivered {
        effect_id: String,
        notice: Notice,
        channel: String,
    },
    EffectDeadLettered {
        effect_id: String,
        effect: String,
        error: String,
    },
    TimerFired {
        timer: TimerKind,
    },
    /// The shell scored the case's risk from its signals (system only).
    AssessRisk {
        risk: crate::fraud::Risk,
    },
}

impl Command {
    /// Receipt and inspection in one step (a store hand-over), with no missing accessory.
    pub fn received(imei: Imei, condition: DeviceCondition) -> Command {
        Command::ReceiveDevice {
            imei,
            inspection: Some(Inspection {
                condition,
                missing_accessories: Vec::new(),
                model_matches: true,
                notes: None,
                photos: Vec::new(),
            }),
        }
    }

    /// The command's stable name, used in errors and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::VerifyIdentity { .. } => "verify_identity",
            Self::SendVerificationCode { .. } => "send_verification_code",
            Self::RecordKnowledgeAnswer { .. } => "record_knowledge_answer",
            Self::RecordPayment { .. } => "record_payment",
            Self::WriteOff { .. } => "write_off",
            Self::ReceiveDevice { .. } => "receive_device",
            Self::InspectDevice { .. } => "inspect_device",
            Self::RecordShipment { .. } => "record_shipment",
            Self::WaiveDeviceReturn { .. } => "waive_device_return",
            Self::Approve { .. } => "approve",
            Self::Reject { .. } => "reject",
            Self::Withdraw => "withdraw",
            Self::ReportFraud { .. } => "report_fraud",
            Self::Close { .. } => "close",
            Self::ConfirmOutcome => "confirm_outcome",
            Self::RecordCallback => "record_callback",
            Self::IssueTransferPin { .. } => "issue_transfer_pin",
            Self::RequestPort { .. } => "request_port",
            Self::Supersede { .. } => "supersede",
            Self::RecordEsimProgress { .. } => "record_esim_progress",
            Self::EffectFailed { .. } => "effect_failed",
            Self::RecordNoticeReceipt { .. } => "record_notice_receipt",
            Self::DeprovisioningConfirmed { .. } => "deprovisioning_confirmed",
            Self::RefundIssued { .. } => "refund_issued",
            Self::NoticeDelivered { .. } => "notice_delivered",
            Self::EffectDeadLettered { .. } => "effect_dead_lettered",
            Self::TimerFired { .. } => "timer_fired",
            Self::ChooseRefundMethod { .. } => "choose_refund_method",
            Self::AssessRisk { .. } => "assess_risk",
        }
    }
}

/// The request to open a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenCase {
    #[serde(default)]
    pub kind: CaseKind,
    /// The customer left the request for a callback (voicemail): an agent must call back
    /// within 24 hours.
    #[serde(default)]
    pub callback: bool,
    pub channel: Channel,
    pub timing: Timing,
    pub facts: CaseFacts,
    pub note: Option<String>,
}

/// What happened to a case. Events are facts: never changed, never removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum EventKind {
    Opened {
        #[serde(default)]
        kind: CaseKind,
        channel: Channel,
        timing: Timing,
        facts: Box<CaseFacts>,
        note: Option<String>,
    },
    IdentityVerified {
        method: VerificationMethod,
        /// The case's channel, the client address's keyed hash, the code used and the
        /// photo ID checked (type, last 4, expiry), where they apply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        photo_id: Option<PhotoId>,
    },
    VerificationCodeSent {
        code_id: String,
        destination: CodeDestination,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// A verification attempt that failed; `failures` counts wrong secrets since the last lock.
    VerificationFailed {
        method: VerificationMethod,
        reason: crate::verification::Refusal,
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        failures: u32,
    },
    VerificationLocked {
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    VerificationUnlocked,
    KnowledgeAnswerRecorded {
        item: KnowledgeItem,
        matched: bool,
    },
    SettlementRequired {
        owed: Money,
    },
    PaymentRecorded {
        amount: Money,
        reference: String,
    },
    BalanceWrittenOff {
        amount: Money,
        reason: String,
        limit_cents: i64,
    },
    Settled,
    DeviceReturnRequested {
        /// The return authorization number printed on the label.
        #[serde(default)]
        rma: String,
        /// Accessories expected back.
        #[serde(default)]
        accessories: Vec<String>,
        device_id: DeviceId,
        deadline: OffsetDateTime,
    },
    DeviceReceived {
        imei: Imei,
        condition: DeviceCondition,
        fee: Money,
    },
    ShipmentRecorded {
        carrier: Carrier,
        tracking: String,
    },
    DeviceArrived,
    /// The device read at receipt is not the line's device: refused and recorded.
    DeviceReceiptRefused,
    DeviceInspected {
        inspection: Inspection,
        fees: Vec<FeeLine>,
        fee: Money,
    },
    ReturnReminderDue {
        #[serde(with = "time::serde::rfc3339")]
        deadline: OffsetDateTime,
    },
    DeviceReturnWaived {
        reason: String,
    },
    DeviceNotReturned {
        fee: Money,
    },
    ReviewStarted {
        due_at: OffsetDateTime,
    },
    ReviewOverdue,
    CallbackRequested {
        #[serde(with = "time::serde::rfc3339")]
        due_at: OffsetDateTime,
    },
    CallbackOverdue,
    /// An agent called the customer back.
    CallbackMade,
    Approved {
        by_rule: bool,
        note: Option<String>,
        withdrawal_deadline: OffsetDateTime,
        termination_at: OffsetDateTime,
    },
    Rejected {
        reason: RejectReason,
        note: Option<String>,
    },
    Withdrawn,
    Frozen {
        note: Option<String>,
    },
    Expired,
    TerminationStarted,
    DeprovisioningConfirmed {
        effect_id: String,
    },
    Terminated,
    RefundDecided {
        balance: Money,
        fee: Money,
        refund: Money,
        forfeited: Money,
        /// How the refund is paid (the customer's choice or the policy's default); absent
        /// in events recorded before the choice existed (original payment).
        #[serde(default)]
        method: Option<RefundMethod>,
    },
    RefundIssued {
        effect_id: String,
        amount: Money,
        reference: String,
    },
    NoticeDelivered {
        effect_id: String,
        notice: Notice,
        channel: String,
    },
    EffectDeadLettered {
        effect_id: String,
        effect: String,
        error: String,
    },
    OutcomeConfirmed,
    TransferPinIssued {
        pin_id: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    PortRequestRefused {
        reason: PortRefusal,
        attempts: u32,
    },
    TransferPinVoided {
        reason: PortRefusal,
    },
    PortValidated {
        new_operator: String,
    },
    PortedOut,
    EsimProgressReported {
        notification_point: String,
        status: String,
    },
    EffectFailed {
        effect_id: String,
        effect: String,
        attempt: u32,
        error: String,
    },
    NoticeReceipt {
        effect_id: String,
        delivered: bool,
        status: String,
    },
    Superseded {
        by_case: CaseId,
    },
    Closed {
        note: Option<String>,
    },
    /// The customer chose how a refund is paid.
    RefundMethodChosen {
        method: RefundMethod,
    },
    /// The final bill at termination: plan charge or proration credit, remaining installments.
    FinalBillIssued {
        bill: FinalBill,
    },
    /// The refund stays on the account as a credit (no payout).
    RefundCredited {
        amount: Money,
    },
    /// The case's risk score and its reasons.
    RiskAssessed {
        risk: crate::fraud::Risk,
    },
    /// The first of the two approvals a high-risk case needs (four-eyes).
    ApprovalRecorded {
        by: Actor,
        note: Option<String>,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Opened { .. } => "opened",
            Self::IdentityVerified { .. } => "identity_verified",
            Self::VerificationCodeSent { .. } => "verification_code_sent",
            Self::VerificationFailed { .. } => "verification_failed",
            Self::VerificationLocked { .. } => "verification_locked",
            Self::VerificationUnlocked => "verification_unlocked",
            Self::KnowledgeAnswerRecorded { .. } => "knowledge_answer_recorded",
            Self::SettlementRequired { .. } => "settlement_required",
            Self::PaymentRecorded { .. } => "payment_recorded",
            Self::BalanceWrittenOff { .. } => "balance_written_off",
            Self::Settled => "settled",
            Self::DeviceReturnRequested { .. } => "device_return_requested",
            Self::ShipmentRecorded { .. } => "shipment_recorded",
            Self::DeviceArrived => "device_arrived",
            Self::DeviceReceiptRefused => "device_receipt_refused",
            Self::DeviceInspected { .. } => "device_inspected",
            Self::ReturnReminderDue { .. } => "return_reminder_due",
            Self::DeviceReceived { .. } => "device_received",
            Self::DeviceReturnWaived { .. } => "device_return_waived",
            Self::DeviceNotReturned { .. } => "device_not_returned",
            Self::ReviewStarted { .. } => "review_started",
            Self::ReviewOverdue => "review_overdue",
            Self::CallbackRequested { .. } => "callback_requested",
            Self::CallbackOverdue => "callback_overdue",
            Self::CallbackMade => "callback_made",
            Self::Approved { .. } => "approved",
            Self::Rejected { .. } => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Frozen { .. } => "frozen",
            Self::Expired => "expired",
            Self::TerminationStarted => "termination_started",
            Self::DeprovisioningConfirmed { .. } => "deprovisioning_confirmed",
            Self::Terminated => "terminated",
            Self::RefundDecided { .. } => "refund_decided",
            Self::RefundIssued { .. } => "refund_issued",
            Self::NoticeDelivered { .. } => "notice_delivered",
            Self::EffectDeadLettered { .. } => "effect_dead_lettered",
            Self::OutcomeConfirmed => "outcome_confirmed",
            Self::TransferPinIssued { .. } => "transfer_pin_issued",
            Self::PortRequestRefused { .. } => "port_request_refused",
            Self::TransferPinVoided { .. } => "transfer_pin_voided",
            Self::PortValidated { .. } => "port_validated",
            Self::PortedOut => "ported_out",
            Self::EsimProgressReported { .. } => "esim_progress_reported",
            Self::EffectFailed { .. } => "effect_failed",
            Self::NoticeReceipt { .. } => "notice_receipt",
            Self::Superseded { .. } => "superseded",
            Self::Closed { .. } => "closed",
            Self::RefundMethodChosen { .. } => "refund_method_chosen",
            Self::FinalBillIssued { .. } => "final_bill_issued",
            Self::RefundCredited { .. } => "refund_credited",
            Self::RiskAssessed { .. } => "risk_assessed",
            Self::ApprovalRecorded { .. } => "approval_recorded",
        }
    }
}

/// An event with its place in the case's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// 1-based position in the case's history.
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: Actor,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Progress of a step that may not apply to every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    NotNeeded,
    Pending,
    Done,
}

/// The state of a case: a fold of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: CaseId,
    #[serde(default)]
    pub kind: CaseKind,
    /// The number of events applied (the seq of the last one).
    pub version: u64,
    pub status: Status,
    pub channel: Channel,
    pub timing: Timing,
    pub facts: CaseFacts,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub verification: Step,
    pub verification_method: Option<VerificationMethod>,
    pub settlement: Step,
    /// What is still owed (positive) while settlement is pending.
    pub owed: Money,
    pub device_return: Step,
    /// The device arrived and awaits inspection.
    #[serde(default)]
    pub device_arrived: bool,
    /// The return authorization, once requested.
    #[serde(default)]
    pub rma: Option<String>,
    #[serde(default)]
    pub return_deadline: Option<OffsetDateTime>,
    /// Device fees charged on the final bill.
    pub fees: Money,
    pub review_overdue: bool,
    /// When the review is due under the SLA (set when the review starts).
    #[serde(default)]
    pub review_due_at: Option<OffsetDateTime>,
    /// References of the payments recorded on this case (a replayed report is refused).
    #[serde(default)]
    pub payment_references: Vec<String>,
    /// A callback is owed to the customer (voicemail request), and whether it is late.
    #[serde(default)]
    pub callback_pending: bool,
    #[serde(default)]
    pub callback_overdue: bool,
    pub withdrawal_deadline: Option<OffsetDateTime>,
    pub termination_at: Option<OffsetDateTime>,
    pub deprovisioning: Step,
    pub refund: Step,
    pub refund_amount: Money,
    pub customer_notified: bool,
    /// The line's status as this case leaves it.
    pub line_status: LineStatus,
    pub reject_reason: Option<RejectReason>,
    /// Effects that failed for good and need a person.
    pub dead_letters: u32,
    /// Port-out: the current transfer PIN's id and expiry (None once void or used).
    #[serde(default)]
    pub transfer_pin: Option<TransferPin>,
    /// Port-out: wrong port requests against the current PIN.
    #[serde(default)]
    pub port_attempts: u32,
    /// Port-out: the operator the number left for.
    #[serde(default)]
    pub new_operator: Option<String>,
    /// How the customer chose to be refunded (None: the policy's default).
    #[serde(default)]
    pub refund_method: Option<RefundMethod>,
    /// The final bill's net amount (charges minus credits), once issued.
    #[serde(default)]
    pub final_bill_cents: i64,
    /// Wrong verification secrets since the last lock.
    #[serde(default)]
    pub verification_failures: u32,
    /// Verification is locked until then (after too many wrong attempts).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub verification_locked_until: Option<OffsetDateTime>,
    /// The current one-time code, if one was sent.
    #[serde(default)]
    pub verification_code: Option<CodeRef>,
    /// The latest risk assessment.
    #[serde(default)]
    pub risk: Option<crate::fraud::Risk>,
    /// Who gave the first of the two approvals a high-risk case needs.
    #[serde(default)]
    pub first_approval_by: Option<Actor>,
}

/// The current Number Transfer PIN of a port-out case (its hash lives in the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferPin {
    pub pin_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Why a command was refused. Each variant has a stable code (see [`Error::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("'{command}' is not allowed while the case is {status}")]
    IllegalTransition { command: &'static str, status: &'static str },
    #[error("the account is locked against cancellation; the account holder must remove the lock first")]
    AccountLocked,
    #[error("the line is {0}; only an active or suspended line can be cancelled")]
    LineNotEligible(&'static str),
    #[error("this command is not permitted for this actor")]
    NotPermitted,
    #[error("the device received does not match the line's device")]
    DeviceMismatch,
    #[error("the case has no device to return")]
    NoDevice,
    #[error("nothing is owed on this case")]
    NothingOwed,
    #[error("the amount owed ({owed}) exceeds the write-off limit ({limit_cents} cents)")]
    WriteOffNotAllowed { owed: String, limit_cents: i64 },
    #[error("payment amount must be positive and in the account's currency")]
    InvalidAmount,
    #[error("the requested date must be between today and one year ahead")]
    InvalidDate,
    #[error("termination has started; the cancellation can no longer be withdrawn")]
    TooLateToWithdraw,
    #[error("text fields must be 1-500 characters")]
    InvalidText,
    #[error("a payment with this reference was already recorded on this case")]
    DuplicatePayment,
    #[error("the device has not arrived yet; receive it before inspecting it")]
    DeviceNotArrived,
    #[error("the tracking number does not have the carrier's format")]
    InvalidTracking,
    #[error("the inspection names an accessory that was not expected back, or too many photos")]
    InvalidInspection,
    #[error("the policy does not offer this refund method")]
    RefundMethodNotOffered,
    #[error("the refund was already decided and issued at termination; its method can no longer change")]
    RefundAlreadyIssued,
    #[error("the payment is for another account than this case's")]
    PaymentAccountMismatch,
    #[error("verification is locked after too many wrong attempts; try again later")]
    VerificationLocked { until: Option<OffsetDateTime> },
    #[error("the code is not valid for this case")]
    CodeInvalid,
    #[error("the code has expired or was replaced by a newer one; ask for a new code")]
    CodeExpired,
    #[error("the code was already used")]
    CodeUsed,
    #[error("the PIN is wrong")]
    PinInvalid,
    #[error("the account has no PIN; use another verification method")]
    NoPin,
    #[error("the photo ID has expired")]
    PhotoIdExpired,
    #[error("this verification method is not accepted on the case's channel")]
    MethodNotAllowed,
    #[error("a photo ID needs its document type, the last 4 letters or digits of its number, and its expiry date")]
    InvalidPhotoId,
    #[error("this high-risk case needs a second approval by a different reviewer")]
    SameReviewer,
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Self::IllegalTransition { .. } => "illegal_transition",
            Self::AccountLocked => "account_locked",
            Self::LineNotEligible(_) => "line_not_eligible",
            Self::NotPermitted => "not_permitted",
            Self::DeviceMismatch => "device_mismatch",
            Self::NoDevice => "no_device",
            Self::NothingOwed => "nothing_owed",
            Self::WriteOffNotAllowed { .. } => "write_off_not_allowed",
            Self::InvalidAmount => "invalid_amount",
            Self::InvalidDate => "invalid_date",
            Self::TooLateToWithdraw => "too_late_to_withdraw",
            Self::InvalidText => "invalid_text",
            Self::DeviceNotArrived => "device_not_arrived",
            Self::DuplicatePayment => "duplicate_payment",
            Self::InvalidTracking => "invalid_tracking",
            Self::InvalidInspection => "invalid_inspection",
            Self::RefundMethodNotOffered => "refund_method_not_offered",
            Self::RefundAlreadyIssued => "refund_already_issued",
            Self::PaymentAccountMismatch => "payment_account_mismatch",
            Self::VerificationLocked { .. } => "verification_locked",
            Self::CodeInvalid => "code_invalid",
            Self::CodeExpired => "code_expired",
            Self::CodeUsed => "code_used",
            Self::PinInvalid => "pin_invalid",
            Self::NoPin => "no_pin",
            Self::PhotoIdExpired => "photo_id_expired",
            Self::MethodNotAllowed => "verification_method_not_allowed",
            Self::InvalidPhotoId => "invalid_photo_id",
            Self::SameReviewer => "same_reviewer",
        }
    }
}

fn illegal(cmd: &Command, case: &Case) -> Error {
    Error::IllegalTransition { command: cmd.name(), status: case.status.as_str() }
}

fn check_text(s: &str) -> Result<(), Error> {
    crate::values::parse_text(s, 500).map(|_| ()).map_err(|_| Error::InvalidText)
}

/// Midnight UTC of a date.
fn midnight(d: Date) -> OffsetDateTime {
    d.with_time(Time::MIDNIGHT).assume_utc()
}

/// The start of the next billing cycle after `now` (the cycle day at midnight UTC).
pub fn next_cycle_start(now: OffsetDateTime, cycle_day: u8) -> OffsetDateTime {
    let day = cycle_day.clamp(1, 28);
    let today = now.date();
    let this_month = today.replace_day(day).unwrap_or(today);
    if midnight(this_month) > now {
        return midnight(this_month);
    }
    let (y, m) = if today.month() == time::Month::December {
        (today.year() + 1, time::Month::January)
    } else {
        (today.year(), today.month().next())
    };
    Date::from_calendar_date(y, m, day).map_or(midnight(this_month) + Duration::days(30), midnight)
}

/// Decides the events that open a new case.
pub fn open(req: &OpenCase, actor: &Actor, policy: &Policy, now: OffsetDateTime) -> Result<Vec<EventKind>, Error> {
    let locked = match req.kind {
        CaseKind::Cancellation => req.facts.cancellation_locked,
        CaseKind::PortOut => req.facts.port_out_locked,
    };
    if locked {
        return Err(Error::AccountLocked);
    }
    if !matches!(req.facts.line_status, LineStatus::Active | LineStatus::Suspended) {
        return Err(Error::LineNotEligible(req.facts.line_status.as_str()));
    }
    if let Timing::OnDate(d) = req.timing
        && (d < now.date() || d > now.date() + Duration::days(366))
    {
        return Err(Error::InvalidDate);
    }
    if let Some(note) = &req.note {
        check_text(note)?;
    }
    if req.facts.owed.currency != policy.currency || req.facts.prepaid_balance.currency != policy.currency {
        return Err(Error::InvalidAmount);
    }
    let _ = actor;
    let mut events = vec![EventKind::Opened {
        kind: req.kind,
        channel: req.channel,
        timing: req.timing,
        facts: Box::new(req.facts.clone()),
        note: req.note.clone(),
    }];
    if req.callback {
        // AB 2863: a voicemail cancellation is processed within 24 hours.
        events.push(EventKind::CallbackRequested { due_at: now + Duration::hours(24) });
    }
    // A port-out is never blocked by an unpaid balance (FCC): the balance stays owed.
    if req.facts.owed.is_positive() && req.kind == CaseKind::Cancellation {
        events.push(EventKind::SettlementRequired { owed: req.facts.owed });
    }
    Ok(events)
}

/// Decides what a command does to a case: the events to record, or why not.
pub fn decide(
    case: &Case,
    cmd: &Command,
    actor: &Actor,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<Vec<EventKind>, Error> {
    use Command as C;
    use Status as S;
    let system_only = matches!(
        cmd,
        C::Supersede { .. }
            | C::EffectFailed { .. }
            | C::RecordNoticeReceipt { .. }
            | C::RecordEsimProgress { .. }
            | C::IssueTransferPin { .. }
            | C::RequestPort { .. }
            | C::DeprovisioningConfirmed { .. }
            | C::RefundIssued { .. }
            | C::NoticeDelivered { .. }
            | C::EffectDeadLettered { .. }
            | C::TimerFired { .. }
            | C::AssessRisk { .. }
    );
    if system_only && *actor != Actor::System {
        return Err(Error::NotPermitted);
    }
    let operator_only = matches!(
        cmd,
        C::RecordKnowledgeAnswer { .. }
            | C::WriteOff { .. }
            | C::ReceiveDevice { .. }
            | C::WaiveDeviceReturn { .. }
            | C::Approve { .. }
            | C::Reject { .. }
            | C::Close { .. }
            | C::RecordCallback
    );
    if operator_only && !actor.is_operator() {
        return Err(Error::NotPermitted);
    }

    let port_only = matches!(cmd, C::IssueTransferPin { .. } | C::RequestPort { .. });
    let shared = matches!(
        cmd,
        C::ChooseRefundMethod { .. }
            | C::Withdraw
            | C::ReportFraud { .. }
            | C::Close { .. }
            | C::ConfirmOutcome
            | C::DeprovisioningConfirmed { .. }
            | C::RefundIssued { .. }
            | C::NoticeDelivered { .. }
            | C::EffectDeadLettered { .. }
            | C::RecordEsimProgress { .. }
            | C::EffectFailed { .. }
            | C::RecordNoticeReceipt { .. }
            | C::TimerFired { .. }
            | C::AssessRisk { .. }
    );
    if !shared && port_only != (case.kind == CaseKind::PortOut) {
        return Err(illegal(cmd, case));
    }
    let mut events = Vec::new();
    match cmd {
        C::IssueTransferPin { pin_id } => {
            if case.status != S::AwaitingPort {
                return Err(illegal(cmd, case));
            }
            let expires_at = now + Duration::days(i64::from(policy.port_out.pin_validity_days));
            events.push(EventKind::TransferPinIssued { pin_id: pin_id.clone(), expires_at });
        }
        C::RequestPort { new_operator, account_matches, pin_matches, port_out_locked } => {
            if case.status != S::AwaitingPort {
                return Err(illegal(cmd, case));
            }
            check_text(new_operator)?;
            let refusal = match &case.transfer_pin {
                _ if *port_out_locked => Some(PortRefusal::AccountLocked),
                None => Some(PortRefusal::PinExpired),
                Some(pin) if pin.expires_at <= now => Some(PortRefusal::PinExpired),
                Some(_) if !*account_matches => Some(PortRefusal::AccountMismatch),
                Some(_) if !*pin_matches => Some(PortRefusal::PinInvalid),
                Some(_) => None,
            };
            match refusal {
                None => {
                    events.push(EventKind::PortValidated { new_operator: new_operator.clone() });
                    events.push(EventKind::TerminationStarted);
                }
                Some(reason) => {
                    let counts = matches!(reason, PortRefusal::AccountMismatch | PortRefusal::PinInvalid);
                    let attempts = case.port_attempts + u32::from(counts);
                    events.push(EventKind::PortRequestRefused { reason, attempts });
                    if counts && attempts >= policy.port_out.max_attempts && case.transfer_pin.is_some() {
                        events.push(EventKind::TransferPinVoided { reason: PortRefusal::TooManyAttempts });
                    }
                }
            }
        }
        C::EffectFailed { effect_id, effect, attempt, error } => {
            events.push(EventKind::EffectFailed {
                effect_id: effect_id.clone(),
                effect: effect.clone(),
                attempt: *attempt,
                error: error.clone(),
            });
        }
        C::RecordNoticeReceipt { effect_id, delivered, status } => {
            events.push(EventKind::NoticeReceipt {
                effect_id: effect_id.clone(),
                delivered: *delivered,
                status: status.clone(),
            });
        }
        C::RecordEsimProgress { notification_point, status } => {
            check_text(notification_point)?;
            check_text(status)?;
            events.push(EventKind::EsimProgressReported {
                notification_point: notification_point.clone(),
                status: status.clone(),
            });
        }
        C::Supersede { by_case } => {
            if !matches!(case.status, S::Verifying | S::Preparing | S::InReview | S::Approved) {
                return Err(illegal(cmd, case));
            }
            events.push(EventKind::Superseded { by_case: by_case.clone() });
        }
        C::SendVerificationCode { code_id, destination } => {
            events.extend(crate::verification::decide_send_code(case, code_id, *destination, policy, now)?);
        }
        C::RecordKnowledgeAnswer { item, matched } => {
            if case.status != S::Verifying {
                return Err(illegal(cmd, case));
            }
            events.push(EventKind::KnowledgeAnswerRecorded { item: *item, matched: *matched });
        }
        C::VerifyIdentity { proof, client } => {
            let decided = crate::verification::decide_verify(case, proof, client.as_deref(), actor, policy, now)?;
            let verified = decided.iter().any(|e| matches!(e, EventKind::IdentityVerified { .. }));
            events.extend(decided);
            if verified
                && let Some(device) = &case.facts.device
                && case.device_return == Step::Pending
            {
                events.push(EventKind::DeviceReturnRequested {
                    rma: format!("RMA-{}", case.id.as_str()),
                    accessories: policy.device_return.accessories.clone(),
                    device_id: device.device_id.clone(),
                    deadline: now + Duration::days(i64::from(policy.device_return_window_days)),
                });
            }
        }
        C::RecordPayment { amount, reference, account_id } => {
            if account_id.as_ref().is_some_and(|a| *a != case.facts.account_id) {
                return Err(Error::PaymentAccountMismatch);
            }
            if !matches!(case.status, S::Verifying | S::Preparing) {
                return Err(illegal(cmd, case));
            }
            check_text(reference)?;
            if case.settlement != Step::Pending {
                return Err(Error::NothingOwed);
            }
            if !amount.is_positive() || amount.currency != case.owed.currency {
                return Err(Error::InvalidAmount);
            }
            if case.payment_references.iter().any(|r| r == reference) {
                return Err(Error::DuplicatePayment);
            }
            events.push(EventKind::PaymentRecorded { amount: *amount, reference: reference.clone() });
            if amount.cents >= case.owed.cents {
                events.push(EventKind::Settled);
            }
        }
        C::WriteOff { reason } => {
            if !matches!(case.status, S::Verifying | S::Preparing) {
                return Err(illegal(cmd, case));
            }
            check_text(reason)?;
            if case.settlement != Step::Pending {
                return Err(Error::NothingOwed);
            }
            if case.owed.cents > policy.write_off_max_cents {
                return Err(Error::WriteOffNotAllowed {
                    owed: case.owed.to_string(),
                    limit_cents: policy.write_off_max_cents,
                });
            }
            events.push(EventKind::BalanceWrittenOff {
                amount: case.owed,
                reason: reason.clone(),
                limit_cents: policy.write_off_max_cents,
            });
            events.push(EventKind::Settled);
        }
        C::ReceiveDevice { imei, inspection } => {
            if !matches!(case.status, S::Verifying | S::Preparing) {
                return Err(illegal(cmd, case));
            }
            let Some(device) = &case.facts.device else { return Err(Error::NoDevice) };
            if case.device_return != Step::Pending || case.device_arrived {
                return Err(illegal(cmd, case));
            }
            if device.imei != *imei {
                // Refused, and recorded: the shell reports `device_mismatch` after commit.
                events.push(EventKind::DeviceReceiptRefused);
            } else {
                events.push(EventKind::DeviceArrived);
                if let Some(inspection) = inspection {
                    events.push(inspected(case, device, inspection, policy)?);
                }
            }
        }
        C::InspectDevice { inspection } => {
            if !matches!(case.status, S::Verifying | S::Preparing) || case.device_return != Step::Pending {
                return Err(illegal(cmd, case));
            }
            let Some(device) = &case.facts.device else { return Err(Error::NoDevice) };
            if !case.device_arrived {
                return Err(Error::DeviceNotArrived);
            }
            events.push(inspected(case, device, inspection, policy)?);
        }
        C::RecordShipment { carrier, tracking } => {
            if !matches!(case.status, S::Verifying | S::Preparing) {
                return Err(illegal(cmd, case));
            }
            if case.device_return != Step::Pending || case.device_arrived {
                return Err(Error::NoDevice);
            }
            if !carrier.tracking_ok(tracking) {
                return Err(Error::InvalidTracking);
            }
            events.push(EventKind::ShipmentRecorded { carrier: *carrier, tracking: tracking.clone() });
        }
        C::WaiveDeviceReturn { reason } => {
            if !matches!(case.status, S::Verifying | S::Preparing) {
                return Err(illegal(cmd, case));
            }
            check_text(reason)?;
            if case.device_return != Step::Pending {
                return Err(Error::NoDevice);
            }
            events.push(EventKind::DeviceReturnWaived { reason: reason.clone() });
        }
        C::Approve { note } => {
            if case.status != S::InReview {
                return Err(illegal(cmd, case));
            }
            if let Some(n) = note {
                check_text(n)?;
            }
            if case.risk.as_ref().is_some_and(|r| r.high) {
                // Four-eyes: a high-risk case needs two different reviewers.
                match &case.first_approval_by {
                    _ if *actor == Actor::System => return Err(Error::NotPermitted),
                    None => events.push(EventKind::ApprovalRecorded { by: actor.clone(), note: note.clone() }),
                    Some(first) if first == actor => return Err(Error::SameReviewer),
                    Some(_) => events.push(approval(case, policy, now, false, note.clone())),
                }
            } else {
                events.push(approval(case, policy, now, false, note.clone()));
            }
        }
        C::AssessRisk { risk } => {
            if case.status.is_terminal() {
                return Err(illegal(cmd, case));
            }
            // A case with no signal at all keeps no assessment (its score is 0).
            let nothing_new = case.risk.is_none() && risk.score == 0;
            if case.risk.as_ref() != Some(risk) && !nothing_new {
                events.push(EventKind::RiskAssessed { risk: risk.clone() });
            }
        }
        C::Reject { reason, note } => {
            if !matches!(case.status, S::Verifying | S::Preparing | S::InReview) {
                return Err(illegal(cmd, case));
            }
            if let Some(n) = note {
                check_text(n)?;
            }
            events.push(EventKind::Rejected { reason: *reason, note: note.clone() });
        }
        C::Withdraw => {
            if matches!(case.status, S::Terminating | S::Closing | S::Closed) {
                return Err(Error::TooLateToWithdraw);
            }
            if !case.status.before_termination() {
                return Err(illegal(cmd, case));
            }
            events.push(EventKind::Withdrawn);
        }
        C::ReportFraud { note } => {
            if !case.status.before_termination() {
                return Err(illegal(cmd, case));
            }
            if let Some(n) = note {
                check_text(n)?;
            }
            events.push(EventKind::Frozen { note: note.clone() });
        }
        C::Close { note } => {
            if case.status != S::Closing {
                return Err(illegal(cmd, case));
            }
            check_text(note)?;
            events.push(EventKind::Closed { note: Some(note.clone()) });
        }
        C::RecordCallback => {
            if !case.callback_pending {
                return Err(illegal(cmd, case));
            }
            events.push(EventKind::CallbackMade);
        }
        C::ConfirmOutcome => {
            if !matches!(case.status, S::Closing | S::Closed) {
                return Err(illegal(cmd, case));
            }
            events.push(EventKind::OutcomeConfirmed);
        }
        C::DeprovisioningConfirmed { effect_id } => {
            if case.status != S::Terminating {
                return Err(illegal(cmd, case));
            }
            events.push(EventKind::DeprovisioningConfirmed { effect_id: effect_id.clone() });
            events.push(if case.kind == CaseKind::PortOut { EventKind::PortedOut } else { EventKind::Terminated });
            // The final bill, then the refund of what remains (it counts the bill's net amount).
            let cur = case.facts.owed.currency;
            let bill = crate::billing::final_bill(
                &policy.final_bill,
                Money::new(case.facts.monthly_charge_cents, cur),
                Money::new(case.facts.remaining_installments_cents, cur),
                case.facts.billing_cycle_day,
                now,
            );
            let net = bill.as_ref().map_or(0, FinalBill::net_cents);
            if let Some(bill) = bill {
                events.push(EventKind::FinalBillIssued { bill });
            }
            let decision = refund_decision(case, policy, net);
            if let EventKind::RefundDecided { refund, method: Some(RefundMethod::AccountCredit), .. } = &decision
                && refund.is_positive()
            {
                let amount = *refund;
                events.push(decision);
                events.push(EventKind::RefundCredited { amount });
            } else {
                events.push(decision);
            }
        }
        C::ChooseRefundMethod { method } => {
            if matches!(case.status, S::Closing | S::Closed) {
                return Err(Error::RefundAlreadyIssued);
            }
            if case.status.is_terminal() {
                return Err(illegal(cmd, case));
            }
            if !policy.refund.methods.contains(method) {
                return Err(Error::RefundMethodNotOffered);
            }
            events.push(EventKind::RefundMethodChosen { method: *method });
        }
        C::RefundIssued { effect_id, reference } => {
            if case.status != S::Closing || case.refund != Step::Pending {
                return Err(illegal(cmd, case));
            }
            events.push(EventKind::RefundIssued {
                effect_id: effect_id.clone(),
                amount: case.refund_amount,
                reference: reference.clone(),
            });
        }
        C::NoticeDelivered { effect_id, notice, channel } => {
            events.push(EventKind::NoticeDelivered {
                effect_id: effect_id.clone(),
                notice: *notice,
                channel: channel.clone(),
            });
        }
        C::EffectDeadLettered { effect_id, effect, error } => {
            events.push(EventKind::EffectDeadLettered {
                effect_id: effect_id.clone(),
                effect: effect.clone(),
                error: error.clone(),
            });
        }
        C::TimerFired { timer } => match (timer, case.status) {
            (TimerKind::VerificationExpiry, S::Verifying) => events.push(EventKind::Expired),
            (TimerKind::VerificationUnlock, _) if case.verification_locked_until.is_some() => {
                events.push(EventKind::VerificationUnlocked)
            }
            (TimerKind::ReturnReminder, S::Preparing | S::Verifying)
                if case.device_return == Step::Pending && !case.device_arrived =>
            {
                if let Some(deadline) = case.return_deadline {
                    events.push(EventKind::ReturnReminderDue { deadline });
                }
            }
            (TimerKind::DeviceReturnDeadline, S::Preparing | S::Verifying)
                if case.device_return == Step::Pending && !case.device_arrived =>
            {
                events.push(EventKind::DeviceNotReturned {
                    fee: Money::new(policy.fees.non_return_cents, policy.currency),
                });
            }
            (TimerKind::ReviewSla, S::InReview) if !case.review_overdue => events.push(EventKind::ReviewOverdue),
            (TimerKind::TerminationDue, S::Approved) => events.push(EventKind::TerminationStarted),
            (TimerKind::TransferPinExpiry, S::AwaitingPort) => events.push(EventKind::Expired),
            (TimerKind::CallbackDue, _) if case.callback_pending && !case.status.is_terminal() => {
                events.push(EventKind::CallbackOverdue)
            }
            // A timer that no longer matters (the step moved on) does nothing.
            _ => {}
        },
    }
    // Follow-on events: once prerequisites are met, review starts (and may approve itself);
    // once the final steps are done, the case closes.
    let mut next = case.clone();
    for (i, e) in events.iter().enumerate() {
        next.apply_kind(e, now, case.version + i as u64 + 1);
    }
    if next.status == S::Preparing && next.settlement != Step::Pending && next.device_return != Step::Pending {
        let started = EventKind::ReviewStarted { due_at: now + Duration::hours(i64::from(policy.review_sla_hours)) };
        next.apply_kind(&started, now, next.version + 1);
        events.push(started);
        if auto_approvable(&next, policy) {
            events.push(approval(&next, policy, now, true, None));
        }
    }
    if next.status == S::Closing && next.refund != Step::Pending && next.customer_notified {
        events.push(EventKind::Closed { note: None });
    }
    Ok(events)
}

/// The inspection event with its fees: restocking by price band, damage grade, and
/// each missing accessory.
fn inspected(case: &Case, device: &DeviceFact, inspection: &Inspection, policy: &Policy) -> Result<EventKind, Error> {
    let expected = &policy.device_return.accessories;
    if inspection.photos.len() > 10
        || inspection.missing_accessories.iter().any(|a| !expected.contains(a))
        || inspection.photos.iter().any(|p| crate::values::parse_text(p, 200).is_err())
    {
        return Err(Error::InvalidInspection);
    }
    if let Some(n) = &inspection.notes {
        check_text(n)?;
    }
    let cur = device.price.currency;
    let mut fees = vec![FeeLine { label: "restocking".into(), amount: policy.restocking_fee(device.price) }];
    let damage = match inspection.condition {
        DeviceCondition::LikeNew | DeviceCondition::Good => 0,
        DeviceCondition::Damaged => policy.fees.damaged_cents,
        DeviceCondition::Broken => policy.fees.broken_cents,
    };
    if damage > 0 {
        fees.push(FeeLine { label: "damage".into(), amount: Money::new(damage, cur) });
    }
    for missing in &inspection.missing_accessories {
        fees.push(FeeLine {
            label: format!("missing accessory: {missing}"),
            amount: Money::new(policy.fees.missing_accessory_cents, cur),
        });
    }
    let total = fees.iter().map(|f| f.amount.cents).sum();
    let _ = case;
    Ok(EventKind::DeviceInspected { inspection: inspection.clone(), fees, fee: Money::new(total, cur) })
}

fn auto_approvable(case: &Case, policy: &Policy) -> bool {
    let rule = &policy.auto_approve;
    rule.enabled
        && !case.risk.as_ref().is_some_and(|r| r.high)
        && rule.channels.contains(&case.channel)
        && (!rule.require_no_device || case.facts.device.is_none())
        && refund_of(case, policy, 0).0.cents <= rule.max_refund_cents
}

fn approval(case: &Case, policy: &Policy, now: OffsetDateTime, by_rule: bool, note: Option<String>) -> EventKind {
    let withdrawal_deadline = now + Duration::hours(i64::from(policy.withdrawal_window_hours));
    let requested = match case.timing {
        Timing::Immediate => now,
        Timing::EndOfCycle => next_cycle_start(now, case.facts.billing_cycle_day),
        Timing::OnDate(d) => midnight(d),
    };
    EventKind::Approved { by_rule, note, withdrawal_deadline, termination_at: requested.max(withdrawal_deadline) }
}

/// (refund, fee, forfeited) for the case's remaining balance under the policy, given the
/// final bill's net amount (charges minus credits).
fn refund_of(case: &Case, policy: &Policy, final_bill_cents: i64) -> (Money, Money, Money) {
    let cur = policy.currency;
    // Unused prepaid money plus any credit on the account, less device fees and the final
    // bill's net charge. A negative result means the customer owes: nothing is refunded.
    let credit = if case.facts.owed.cents < 0 { -case.facts.owed.cents } else { 0 };
    let balance = case
        .facts
        .prepaid_balance
        .cents
        .saturating_add(credit)
        .saturating_sub(case.fees.cents)
        .saturating_sub(final_bill_cents)
        .max(0);
    if balance == 0 {
        return (Money::zero(cur), Money::zero(cur), Money::zero(cur));
    }
    match policy.refund.mode {
        RefundMode::Forfeit => (Money::zero(cur), Money::zero(cur), Money::new(balance, cur)),
        RefundMode::Refund => {
            let fee = policy.refund.fee_cents.min(balance);
            let refund = balance - fee;
            if refund < policy.refund.minimum_cents {
                (Money::zero(cur), Money::new(fee, cur), Money::new(refund, cur))
            } else {
                (Money::new(refund, cur), Money::new(fee, cur), Money::zero(cur))
            }
        }
    }
}

fn refund_decision(case: &Case, policy: &Policy, final_bill_cents: i64) -> EventKind {
    let (refund, fee, forfeited) = refund_of(case, policy, final_bill_cents);
    let balance = Money::new(refund.cents + fee.cents + forfeited.cents, policy.currency);
    let method = Some(case.refund_method.unwrap_or(policy.refund.default_method));
    EventKind::RefundDecided { balance, fee, refund, forfeited, method }
}

impl Case {
    /// Builds a case from its first event, which must be `Opened`.
    pub fn from_opened(id: CaseId, event: &Event) -> Option<Case> {
        let EventKind::Opened { kind, channel, timing, facts, .. } = &event.kind else { return None };
        let zero = Money::zero(facts.owed.currency);
        Some(Case {
            id,
            kind: *kind,
            version: event.seq,
            status: if *kind == CaseKind::PortOut { Status::AwaitingPort } else { Status::Verifying },
            channel: *channel,
            timing: *timing,
            facts: (**facts).clone(),
            opened_at: event.at,
            updated_at: event.at,
            verification: Step::Pending,
            verification_method: None,
            settlement: Step::NotNeeded,
            owed: zero,
            device_return: if facts.device.is_some() { Step::Pending } else { Step::NotNeeded },
            device_arrived: false,
            rma: None,
            return_deadline: None,
            fees: zero,
            review_overdue: false,
            review_due_at: None,
            callback_pending: false,
            callback_overdue: false,
            payment_references: Vec::new(),
            withdrawal_deadline: None,
            termination_at: None,
            deprovisioning: Step::NotNeeded,
            refund: Step::NotNeeded,
            refund_amount: zero,
            customer_notified: false,
            line_status: facts.line_status,
            reject_reason: None,
            dead_letters: 0,
            transfer_pin: None,
            port_attempts: 0,
            new_operator: None,
            refund_method: None,
            final_bill_cents: 0,
            verification_failures: 0,
            verification_locked_until: None,
            verification_code: None,
            risk: None,
            first_approval_by: None,
        })
    }

    /// Rebuilds a case from its whole history.
    pub fn replay(id: CaseId, events: &[Event]) -> Option<Case> {
        let (first, rest) = events.split_first()?;
        let mut case = Case::from_opened(id, first)?;
        for e in rest {
            case.apply(e);
        }
        Some(case)
    }

    /// Folds one event into the state.
    pub fn apply(&mut self, event: &Event) {
        self.apply_kind(&event.kind, event.at, event.seq);
    }

    fn apply_kind(&mut self, kind: &EventKind, at: OffsetDateTime, seq: u64) {
        use EventKind as E;
        self.version = seq;
        self.updated_at = at;
        match kind {
            E::Opened { .. } => {}
            E::IdentityVerified { method, code_id, .. } => {
                self.verification = Step::Done;
                self.verification_method = Some(*method);
                self.status = Status::Preparing;
                self.verification_failures = 0;
                if let (Some(used), Some(code)) = (code_id, self.verification_code.as_mut())
                    && code.code_id == *used
                {
                    code.used = true;
                }
            }
            E::VerificationCodeSent { code_id, expires_at, .. } => {
                self.verification_code =
                    Some(CodeRef { code_id: code_id.clone(), expires_at: *expires_at, used: false });
            }
            E::VerificationFailed { failures, .. } => self.verification_failures = *failures,
            E::VerificationLocked { until } => {
                self.verification_locked_until = Some(*until);
                self.verification_failures = 0;
            }
            E::VerificationUnlocked => {
                self.verification_locked_until = None;
                self.verification_failures = 0;
            }
            E::KnowledgeAnswerRecorded { .. } => {}
            E::SettlementRequired { owed } => {
                self.settlement = Step::Pending;
                self.owed = *owed;
            }
            E::PaymentRecorded { amount, reference } => {
                self.owed.cents = self.owed.cents.saturating_sub(amount.cents);
                self.payment_references.push(reference.clone());
            }
            E::BalanceWrittenOff { amount, .. } => {
                self.owed.cents = self.owed.cents.saturating_sub(amount.cents);
            }
            E::Settled => self.settlement = Step::Done,
            E::DeviceReturnRequested { rma, deadline, .. } => {
                self.rma = Some(rma.clone());
                self.return_deadline = Some(*deadline);
            }
            E::ShipmentRecorded { .. } | E::DeviceReceiptRefused | E::ReturnReminderDue { .. } => {}
            E::DeviceArrived => self.device_arrived = true,
            E::DeviceInspected { fee, .. } => {
                self.device_arrived = true;
                self.device_return = Step::Done;
                self.fees.cents = self.fees.cents.saturating_add(fee.cents);
            }
            E::DeviceReceived { fee, .. } | E::DeviceNotReturned { fee } => {
                self.device_return = Step::Done;
                self.fees.cents = self.fees.cents.saturating_add(fee.cents);
            }
            E::DeviceReturnWaived { .. } => self.device_return = Step::Done,
            E::ReviewStarted { due_at } => {
                self.status = Status::InReview;
                self.review_due_at = Some(*due_at);
            }
            E::ReviewOverdue => self.review_overdue = true,
            E::CallbackRequested { .. } => self.callback_pending = true,
            E::CallbackOverdue => self.callback_overdue = true,
            E::CallbackMade => {
                self.callback_pending = false;
                self.callback_overdue = false;
            }
            E::Approved { withdrawal_deadline, termination_at, .. } => {
                self.status = Status::Approved;
                self.withdrawal_deadline = Some(*withdrawal_deadline);
                self.termination_at = Some(*termination_at);
                self.line_status = LineStatus::PendingTermination;
            }
            E::Rejected { reason, .. } => {
                self.status = Status::Rejected;
                self.reject_reason = Some(*reason);
            }
            E::Withdrawn => {
                self.status = Status::Withdrawn;
                self.line_status = self.facts.line_status;
            }
            E::Frozen { .. } => {
                self.status = Status::Frozen;
                self.line_status = self.facts.line_status;
            }
            E::Expired => self.status = Status::Expired,
            E::TerminationStarted => {
                self.status = Status::Terminating;
                self.deprovisioning = Step::Pending;
            }
            E::DeprovisioningConfirmed { .. } => self.deprovisioning = Step::Done,
            E::Terminated => {
                self.status = Status::Closing;
                self.line_status = LineStatus::Terminated;
            }
            E::RefundDecided { refund, .. } => {
                self.refund_amount = *refund;
                self.refund = if refund.is_positive() { Step::Pending } else { Step::NotNeeded };
            }
            E::RefundIssued { .. } => self.refund = Step::Done,
            E::NoticeDelivered { notice, .. } => {
                if matches!(notice, Notice::Terminated | Notice::PortedOut) {
                    self.customer_notified = true;
                }
            }
            E::EffectDeadLettered { .. } => self.dead_letters = self.dead_letters.saturating_add(1),
            E::OutcomeConfirmed => {}
            E::TransferPinIssued { pin_id, expires_at } => {
                self.transfer_pin = Some(TransferPin { pin_id: pin_id.clone(), expires_at: *expires_at });
                self.port_attempts = 0;
            }
            E::PortRequestRefused { attempts, .. } => self.port_attempts = *attempts,
            E::TransferPinVoided { .. } => self.transfer_pin = None,
            E::EsimProgressReported { .. } | E::EffectFailed { .. } | E::NoticeReceipt { .. } => {}
            E::PortValidated { new_operator } => {
                self.transfer_pin = None;
                self.new_operator = Some(new_operator.clone());
            }
            E::PortedOut => {
                self.status = Status::Closing;
                self.line_status = LineStatus::PortedOut;
            }
            E::Superseded { .. } => {
                self.status = Status::Closed;
                self.line_status = LineStatus::PortedOut;
            }
            E::Closed { .. } => self.status = Status::Closed,
            E::RefundMethodChosen { method } => self.refund_method = Some(*method),
            E::FinalBillIssued { bill } => self.final_bill_cents = bill.net_cents(),
            E::RefundCredited { .. } => self.refund = Step::Done,
            E::RiskAssessed { risk } => self.risk = Some(risk.clone()),
            E::ApprovalRecorded { by, .. } => self.first_approval_by = Some(by.clone()),
        }
    }
}

#[cfg(test)]
#[path = "case_tests.rs"]
mod tests;
