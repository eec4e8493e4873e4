//! The wire format: request and response bodies, separate from the domain types.
//!
//! Inputs take plain strings and numbers and are parsed here into domain values, so a
//! malformed value is an `invalid_field` error naming its field; every input struct
//! denies unknown fields. Outputs use snake_case fields, RFC 3339 timestamps and
//! money as `*_cents` integers with a `currency`.

use crate::error::ApiError;
use lineout_app::ports::{DueTimer, OutboxRow, Upsert};
use lineout_app::{CaseDetail, LineRef, OpenRequest};
use lineout_domain::account::{Account, AccountKind, Device, Line, LineStatus, Locks, Ownership, Plan};
use lineout_domain::case::{
    Actor, Case, Command, DeviceCondition, Event, EventKind, Notice, RejectReason, Step, VerificationMethod,
};
use lineout_domain::values::{
    AccountId, Currency, DeviceId, Eid, Email, Iccid, Imei, Imsi, Language, LineId, Money, Msisdn, parse_text,
};
use lineout_domain::{Channel, Policy, Status, Timing};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// Formats a timestamp as RFC 3339.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<time::Date> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

// ---- Enumerations ---------------------------------------------------------------------------

/// Defines a wire enum mirroring a domain enum, with conversions both ways.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident <=> $domain:ty { $($variant:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }
        impl From<$domain> for $name {
            fn from(d: $domain) -> Self {
                match d { $(<$domain>::$variant => Self::$variant),* }
            }
        }
        impl From<$name> for $domain {
            fn from(w: $name) -> Self {
                match w { $($name::$variant => Self::$variant),* }
            }
        }
    };
}

wire_enum!(
    /// A parcel carrier.
    CarrierDto <=> lineout_domain::case::Carrier { Ups, Usps, Fedex, Other }
);

fn yes() -> bool {
    true
}

wire_enum!(
    /// Residential or business.
    AccountKindDto <=> AccountKind { Residential, Business }
);
wire_enum!(
    /// Prepaid or postpaid.
    PlanDto <=> Plan { Prepaid, Postpaid }
);
wire_enum!(
    /// A line's service status.
    LineStatusDto <=> LineStatus { Active, Suspended, PendingTermination, Terminated, PortedOut }
);
wire_enum!(
    /// How the customer holds a device.
    OwnershipDto <=> Ownership { Owned, Financed, Leased }
);
wire_enum!(
    /// How the customer reached the operator.
    ChannelDto <=> Channel { Ivr, Web, Chat, Store, Api, Bulk }
);
wire_enum!(
    /// Where a case stands.
    StatusDto <=> Status {
        Verifying, Preparing, InReview, Approved, AwaitingPort, Terminating, Closing, Closed, Rejected, Withdrawn,
        Expired, Frozen
    }
);
wire_enum!(
    /// Progress of a step of a case.
    StepDto <=> Step { NotNeeded, Pending, Done }
);
wire_enum!(
    /// How the customer's identity was established.
    VerificationMethodDto <=> VerificationMethod {
        AgentAttested, OneTimeCode, Pin, PhotoId, OperatorToken, OperatorInitiated
    }
);
wire_enum!(
    /// A device's condition at inspection.
    DeviceConditionDto <=> DeviceCondition { LikeNew, Good, Damaged, Broken }
);
wire_enum!(
    /// Why a case was rejected.
    RejectReasonDto <=> RejectReason {
        IdentityNotVerified, UnpaidBalance, LineNotEligible, DuplicateRequest, SuspectedFraud, ContractTerms, Other
    }
);

/// A customer's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum LanguageDto {
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-Hans")]
    ZhHans,
}

impl From<Language> for LanguageDto {
    fn from(l: Language) -> Self {
        match l {
            Language::En => Self::En,
            Language::ZhHans => Self::ZhHans,
        }
    }
}

impl From<LanguageDto> for Language {
    fn from(l: LanguageDto) -> Self {
        match l {
            LanguageDto::En => Self::En,
            LanguageDto::ZhHans => Self::ZhHans,
        }
    }
}

fn notice_name(n: Notice) -> &'static str {
    n.as_str()
}

// ---- Field parsing helpers -----------------------------------------------------------------

fn field<T, E: std::fmt::Display>(name: &str, r: Result<T, E>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::field(name, e))
}

fn optional<T, E: std::fmt::Display>(
    name: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, ApiError> {
    match value {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => field(name, parse(s)).map(Some),
    }
}

/// The currency of an input: the policy's, and only the policy's.
fn currency(given: Option<&str>, policy: &Policy) -> Result<Currency, ApiError> {
    match given {
        None => Ok(policy.currency),
        Some(s) => {
            let c = field("currency", Currency::parse(s))?;
            if c == policy.currency {
                Ok(c)
            } else {
                Err(ApiError::field("currency", format!("must be {} (the operator's currency)", policy.currency)))
            }
        }
    }
}

fn money(name: &str, cents: i64, currency: Currency) -> Result<Money, ApiError> {
    field(name, Money::from_outside(cents, currency))
}

// ---- Accounts ------------------------------------------------------------------------------

/// Locks the account holder set against changes to their lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocksDto {
    #[serde(default)]
    pub port_out: bool,
    #[serde(default)]
    pub sim_change: bool,
    #[serde(default)]
    pub cancellation: bool,
}

/// An account to create or update. The PIN is not part of the API.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountIn {
    /// The operator's account number: 1-64 of `[A-Za-z0-9._-]`.
    #[schema(example = "ACC-1")]
    pub id: String,
    /// 1-200 characters.
    pub holder_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Another number to reach the holder; any common shape, stored in E.164.
    #[serde(default)]
    pub alt_phone: Option<String>,
    /// `en` (default) or `zh-Hans`.
    #[serde(default)]
    pub language: Option<LanguageDto>,
    /// Day of the month (1-28) on which a billing cycle starts; 1 when omitted.
    #[serde(default = "default_cycle_day")]
    #[schema(minimum = 1, maximum = 28, default = 1)]
    pub billing_cycle_day: i64,
    /// `residential` (default) or `business`.
    #[serde(default)]
    pub kind: Option<AccountKindDto>,
    #[serde(default)]
    pub locks: Option<LocksDto>,
    /// Unpaid charges (positive) or a credit (negative), in cents.
    #[serde(default)]
    pub owed_cents: i64,
    /// Unused prepaid money, in cents (0 or more).
    #[serde(default)]
    pub prepaid_balance_cents: i64,
    /// ISO 4217; must be the operator's currency (the default).
    #[serde(default)]
    pub currency: Option<String>,
}

fn default_cycle_day() -> i64 {
    1
}

impl AccountIn {
    /// Parses into a domain account (without a PIN).
    pub fn into_domain(self, policy: &Policy) -> Result<Account, ApiError> {
        let id = field("id", AccountId::parse(&self.id))?;
        let holder_name = field("holder_name", parse_text(&self.holder_name, 200))?;
        let email = optional("email", self.email.as_deref(), Email::parse)?;
        let alt_phone = optional("alt_phone", self.alt_phone.as_deref(), Msisdn::parse)?;
        let billing_cycle_day = match u8::try_from(self.billing_cycle_day) {
            Ok(d) if (1..=28).contains(&d) => d,
            _ => return Err(ApiError::field("billing_cycle_day", "must be between 1 and 28")),
        };
        let currency = currency(self.currency.as_deref(), policy)?;
        let owed = money("owed_cents", self.owed_cents, currency)?;
        if self.prepaid_balance_cents < 0 {
            return Err(ApiError::field("prepaid_balance_cents", "must not be negative"));
        }
        let prepaid_balance = money("prepaid_balance_cents", self.prepaid_balance_cents, currency)?;
        let locks = self.locks.unwrap_or_default();
        Ok(Account {
            id,
            holder_name,
            email,
            alt_phone,
            language: self.language.map_or(Language::En, Language::from),
            pin_hash: None,
            locks: Locks { port_out: locks.port_out, sim_change: locks.sim_change, cancellation: locks.cancellation },
            billing_cycle_day,
            kind: self.kind.map_or(AccountKind::Residential, AccountKind::from),
            owed,
            prepaid_balance,
        })
    }
}

/// An account as lineout holds it (the PIN is never returned).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountOut {
    pub id: String,
    pub holder_name: String,
    pub email: Option<String>,
    /// E.164.
    pub alt_phone: Option<String>,
    pub language: LanguageDto,
    pub billing_cycle_day: u8,
    pub kind: AccountKindDto,
    pub locks: LocksDto,
    pub owed_cents: i64,
    pub prepaid_balance_cents: i64,
    pub currency: String,
}

impl From<&Account> for AccountOut {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.to_string(),
            holder_name: a.holder_name.clone(),
            email: a.email.as_ref().map(ToString::to_string),
            alt_phone: a.alt_phone.as_ref().map(ToString::to_string),
            language: a.language.into(),
            billing_cycle_day: a.billing_cycle_day,
            kind: a.kind.into(),
            locks: LocksDto {
                port_out: a.locks.port_out,
                sim_change: a.locks.sim_change,
                cancellation: a.locks.cancellation,
            },
            owed_cents: a.owed.cents,
            prepaid_balance_cents: a.prepaid_balance.cents,
            currency: a.owed.currency.to_string(),
        }
    }
}

// ---- Lines ---------------------------------------------------------------------------------

/// A line to create or update.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineIn {
    #[schema(example = "LINE-1")]
    pub id: String,
    pub account_id: String,
    /// Any common shape (`(415) 555-0100`, `+44 20 7946 0958`); stored in E.164.
    #[schema(example = "(415) 555-0100")]
    pub msisdn: String,
    /// 19-20 digits starting 89, with a Luhn check digit.
    #[serde(default)]
    pub iccid: Option<String>,
    /// 15 digits.
    #[serde(default)]
    pub imsi: Option<String>,
    /// 32 digits (eSIM).
    #[serde(default)]
    pub eid: Option<String>,
    pub plan: PlanDto,
    /// Defaults to `active` for a new line and to the current status for an existing one.
    #[serde(default)]
    pub status: Option<LineStatusDto>,
}

impl LineIn {
    /// Parses into a domain line and whether the status was given.
    pub fn into_domain(self) -> Result<(Line, bool), ApiError> {
        let line = Line {
            id: field("id", LineId::parse(&self.id))?,
            account_id: field("account_id", AccountId::parse(&self.account_id))?,
            msisdn: field("msisdn", Msisdn::parse(&self.msisdn))?,
            iccid: optional("iccid", self.iccid.as_deref(), Iccid::parse)?,
            imsi: optional("imsi", self.imsi.as_deref(), Imsi::parse)?,
            eid: optional("eid", self.eid.as_deref(), Eid::parse)?,
            plan: self.plan.into(),
            status: self.status.map_or(LineStatus::Active, LineStatus::from),
        };
        Ok((line, self.status.is_some()))
    }
}

/// A line as lineout holds it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineOut {
    pub id: String,
    pub account_id: String,
    /// E.164.
    #[schema(example = "+14155550100")]
    pub msisdn: String,
    pub iccid: Option<String>,
    pub imsi: Option<String>,
    pub eid: Option<String>,
    pub plan: PlanDto,
    pub status: LineStatusDto,
}

impl From<&Line> for LineOut {
    fn from(l: &Line) -> Self {
        Self {
            id: l.id.to_string(),
            account_id: l.account_id.to_string(),
            msisdn: l.msisdn.to_string(),
            iccid: l.iccid.as_ref().map(ToString::to_string),
            imsi: l.imsi.as_ref().map(ToString::to_string),
            eid: l.eid.as_ref().map(ToString::to_string),
            plan: l.plan.into(),
            status: l.status.into(),
        }
    }
}

/// Lines found by a query.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineList {
    pub items: Vec<LineOut>,
}

// ---- Devices -------------------------------------------------------------------------------

/// A device to create or update.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceIn {
    #[schema(example = "DEV-1")]
    pub id: String,
    pub line_id: String,
    /// 15 digits with a Luhn check digit.
    #[schema(example = "490154203237518")]
    pub imei: String,
    /// 1-100 characters.
    pub model: String,
    /// The device's price in cents (0 or more).
    pub price_cents: i64,
    /// ISO 4217; must be the operator's currency (the default).
    #[serde(default)]
    pub currency: Option<String>,
    pub ownership: OwnershipDto,
    /// Whether the device must come back when the line ends; defaults to true for leased devices.
    #[serde(default)]
    pub must_return: Option<bool>,
}

impl DeviceIn {
    pub fn into_domain(self, policy: &Policy) -> Result<Device, ApiError> {
        let id = field("id", DeviceId::parse(&self.id))?;
        let line_id = field("line_id", LineId::parse(&self.line_id))?;
        let imei = field("imei", Imei::parse(&self.imei))?;
        let model = field("model", parse_text(&self.model, 100))?;
        let currency = currency(self.currency.as_deref(), policy)?;
        if self.price_cents < 0 {
            return Err(ApiError::field("price_cents", "must not be negative"));
        }
        let price = money("price_cents", self.price_cents, currency)?;
        Ok(Device {
            id,
            line_id,
            imei,
            model,
            price,
            ownership: self.ownership.into(),
            must_return: self.must_return.unwrap_or(self.ownership == OwnershipDto::Leased),
        })
    }
}

/// A device as lineout holds it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceOut {
    pub id: String,
    pub line_id: String,
    pub imei: String,
    pub model: String,
    pub price_cents: i64,
    pub currency: String,
    pub ownership: OwnershipDto,
    pub must_return: bool,
}

impl From<&Device> for DeviceOut {
    fn from(d: &Device) -> Self {
        Self {
            id: d.id.to_string(),
            line_id: d.line_id.to_string(),
            imei: d.imei.to_string(),
            model: d.model.clone(),
            price_cents: d.price.cents,
            currency: d.price.currency.to_string(),
            ownership: d.ownership.into(),
            must_return: d.must_return,
        }
    }
}

// ---- Imports -------------------------------------------------------------------------------

/// What an import did with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowResult {
    Inserted,
    Updated,
    Unchanged,
    Error,
}

impl From<Upsert> for RowResult {
    fn from(u: Upsert) -> Self {
        match u {
            Upsert::Inserted => Self::Inserted,
            Upsert::Updated => Self::Updated,
            Upsert::Unchanged => Self::Unchanged,
        }
    }
}

/// The outcome of one imported row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportRow {
    /// 1-based position in the request's array.
    pub row: usize,
    pub result: RowResult,
    /// The error code when `result` is `error`.
    pub code: Option<String>,
    pub message: Option<String>,
    /// The offending field, when one is known.
    pub field: Option<String>,
}

impl ImportRow {
    pub fn ok(row: usize, u: Upsert) -> Self {
        Self { row, result: u.into(), code: None, message: None, field: None }
    }
    pub fn error(row: usize, e: &ApiError) -> Self {
        Self {
            row,
            result: RowResult::Error,
            code: Some(e.code.to_owned()),
            message: Some(e.message.clone()),
            field: e.details.get("field").and_then(Value::as_str).map(ToOwned::to_owned),
        }
    }
}

// ---- Cases: input --------------------------------------------------------------------------

/// When service should end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimingDto {
    /// As soon as the withdrawal window allows.
    Immediate {},
    /// At the start of the next billing cycle.
    EndOfCycle {},
    /// On a date (midnight UTC), today to one year ahead.
    OnDate {
        #[schema(example = "2026-12-31", format = Date)]
        date: String,
    },
}

impl TimingDto {
    pub fn into_domain(self) -> Result<Timing, ApiError> {
        Ok(match self {
            Self::Immediate {} => Timing::Immediate,
            Self::EndOfCycle {} => Timing::EndOfCycle,
            Self::OnDate { date } => match parse_date(&date) {
                Some(d) => Timing::OnDate(d),
                None => return Err(ApiError::field("timing.date", "must be a date YYYY-MM-DD")),
            },
        })
    }
}

impl From<Timing> for TimingDto {
    fn from(t: Timing) -> Self {
        match t {
            Timing::Immediate => Self::Immediate {},
            Timing::EndOfCycle => Self::EndOfCycle {},
            Timing::OnDate(d) => Self::OnDate { date: d.to_string() },
        }
    }
}

/// The request to open a cancellation case. Name the line by exactly one of `line_id` and `msisdn`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCaseIn {
    #[serde(default)]
    pub line_id: Option<String>,
    /// The line's number in any common shape.
    #[serde(default)]
    pub msisdn: Option<String>,
    pub channel: ChannelDto,
    pub timing: TimingDto,
    /// 1-500 characters.
    #[serde(default)]
    pub note: Option<String>,
}

impl OpenCaseIn {
    pub fn into_domain(self) -> Result<OpenRequest, ApiError> {
        let line = match (self.line_id.as_deref(), self.msisdn.as_deref()) {
            (Some(id), None) => LineRef::Id(field("line_id", LineId::parse(id))?),
            (None, Some(m)) => LineRef::Msisdn(field("msisdn", Msisdn::parse(m))?),
            _ => return Err(ApiError::field("line_id", "give exactly one of line_id and msisdn")),
        };
        Ok(OpenRequest {
            callback: false,
            kind: lineout_domain::case::CaseKind::Cancellation,
            line,
            channel: self.channel.into(),
            timing: self.timing.into_domain()?,
            note: self.note,
        })
    }
}

/// A command to a case, by `type`. Worker and timer commands are not accepted here.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommandIn {
    /// Record a payment toward the balance owed.
    RecordPayment {
        amount_cents: i64,
        /// Defaults to the operator's currency.
        #[serde(default)]
        currency: Option<String>,
        reference: String,
    },
    /// Write off the balance owed, within the policy's limit (operators only).
    WriteOff { reason: String },
    /// Record the returned device (operators only).
    ///
    /// With `condition`, the device is also inspected in the same step (a store
    /// hand-over); without it, it awaits `inspect_device`.
    ReceiveDevice {
        imei: String,
        #[serde(default)]
        condition: Option<DeviceConditionDto>,
        #[serde(default)]
        missing_accessories: Vec<String>,
        #[serde(default)]
        notes: Option<String>,
        #[serde(default)]
        photos: Vec<String>,
        #[serde(default = "yes")]
        model_matches: bool,
    },
    /// Inspect a device that arrived (warehouse staff).
    InspectDevice {
        condition: DeviceConditionDto,
        #[serde(default)]
        missing_accessories: Vec<String>,
        #[serde(default)]
        notes: Option<String>,
        #[serde(default)]
        photos: Vec<String>,
        #[serde(default = "yes")]
        model_matches: bool,
    },
    /// Record the return parcel's carrier (`ups`, `usps`, `fedex`, `other`) and tracking number.
    RecordShipment { carrier: CarrierDto, tracking: String },
    /// Waive the device return (operators only).
    WaiveDeviceReturn { reason: String },
    /// Approve a case in review (operators only).
    Approve {
        #[serde(default)]
        note: Option<String>,
    },
    /// Reject the case (operators only).
    Reject {
        reason: RejectReasonDto,
        #[serde(default)]
        note: Option<String>,
    },
    /// Withdraw the request before termination starts.
    Withdraw {},
    /// Freeze the case on suspected fraud.
    ReportFraud {
        #[serde(default)]
        note: Option<String>,
    },
    /// Close a case whose final steps cannot complete (operators only).
    Close { note: String },
    /// The customer confirms the outcome.
    ConfirmOutcome {},
    /// An agent called back a customer who left a voicemail request (operators only).
    RecordCallback {},
}

/// The longest note, reason or reference the case engine accepts.
pub const MAX_TEXT_CHARS: usize = 500;

impl CommandIn {
    /// The free-text fields of the command, by name.
    pub fn texts(&self) -> Vec<(&'static str, Option<String>)> {
        match self {
            Self::RecordPayment { reference, .. } => vec![("reference", Some(reference.clone()))],
            Self::WriteOff { reason } | Self::WaiveDeviceReturn { reason } => vec![("reason", Some(reason.clone()))],
            Self::Approve { note } | Self::ReportFraud { note } | Self::Reject { note, .. } => {
                vec![("note", note.clone())]
            }
            Self::Close { note } => vec![("note", Some(note.clone()))],
            Self::ReceiveDevice { .. }
            | Self::InspectDevice { .. }
            | Self::RecordShipment { .. }
            | Self::Withdraw {}
            | Self::ConfirmOutcome {}
            | Self::RecordCallback {} => Vec::new(),
        }
    }

    pub fn into_domain(self, policy: &Policy) -> Result<Command, ApiError> {
        Ok(match self {
            Self::RecordPayment { amount_cents, currency: c, reference } => {
                let c = match c {
                    None => policy.currency,
                    Some(s) => field("currency", Currency::parse(&s))?,
                };
                Command::RecordPayment { amount: money("amount_cents", amount_cents, c)?, reference }
            }
            Self::WriteOff { reason } => Command::WriteOff { reason },
            Self::ReceiveDevice { imei, condition, missing_accessories, notes, photos, model_matches } => {
                Command::ReceiveDevice {
                    imei: field("imei", Imei::parse(&imei))?,
                    inspection: condition.map(|c| lineout_domain::case::Inspection {
                        condition: c.into(),
                        missing_accessories,
                        model_matches,
                        notes,
                        photos,
                    }),
                }
            }
            Self::InspectDevice { condition, missing_accessories, notes, photos, model_matches } => {
                Command::InspectDevice {
                    inspection: lineout_domain::case::Inspection {
                        condition: condition.into(),
                        missing_accessories,
                        model_matches,
                        notes,
                        photos,
                    },
                }
            }
            Self::RecordShipment { carrier, tracking } => {
                Command::RecordShipment { carrier: carrier.into(), tracking: tracking.trim().to_owned() }
            }
            Self::WaiveDeviceReturn { reason } => Command::WaiveDeviceReturn { reason },
            Self::Approve { note } => Command::Approve { note },
            Self::Reject { reason, note } => Command::Reject { reason: reason.into(), note },
            Self::Withdraw {} => Command::Withdraw,
            Self::ReportFraud { note } => Command::ReportFraud { note },
            Self::Close { note } => Command::Close { note },
            Self::ConfirmOutcome {} => Command::ConfirmOutcome,
            Self::RecordCallback {} => Command::RecordCallback,
        })
    }
}

/// Filters and paging for the case list. Every parameter is optional.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// One status, e.g. `in_review`.
    #[param(value_type = Option<StatusDto>)]
    pub status: Option<String>,
    #[param(value_type = Option<ChannelDto>)]
    pub channel: Option<String>,
    pub line_id: Option<String>,
    pub account_id: Option<String>,
    /// Cases opened at or after this time (RFC 3339, or a date meaning its midnight UTC).
    pub opened_from: Option<String>,
    /// Cases opened before this time (RFC 3339, or a date meaning its midnight UTC).
    pub opened_to: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
}

/// The query of the line lookup.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LineQuery {
    /// The number in any common shape.
    pub msisdn: Option<String>,
}

// ---- Cases: output -------------------------------------------------------------------------

/// The device a case expects back.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseDeviceOut {
    pub device_id: String,
    pub imei: String,
    pub price_cents: i64,
}

/// A cancellation case.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseOut {
    pub id: String,
    /// The number of events recorded.
    pub version: u64,
    pub status: StatusDto,
    pub channel: ChannelDto,
    pub timing: TimingDto,
    pub account_id: String,
    pub line_id: String,
    /// E.164.
    pub msisdn: String,
    pub plan: PlanDto,
    pub account_kind: AccountKindDto,
    pub language: LanguageDto,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub opened_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub verification: StepDto,
    pub verification_method: Option<VerificationMethodDto>,
    pub settlement: StepDto,
    /// Still owed while settlement is pending.
    pub owed_cents: i64,
    pub device_return: StepDto,
    pub device: Option<CaseDeviceOut>,
    /// Device fees on the final bill.
    pub fees_cents: i64,
    pub review_overdue: bool,
    /// A voicemail callback is owed to the customer, and whether it is past its 24 hours.
    pub callback_pending: bool,
    pub callback_overdue: bool,
    #[schema(format = DateTime)]
    pub withdrawal_deadline: Option<String>,
    #[schema(format = DateTime)]
    pub termination_at: Option<String>,
    pub deprovisioning: StepDto,
    pub refund: StepDto,
    pub refund_amount_cents: i64,
    pub customer_notified: bool,
    /// The line's status as this case leaves it.
    pub line_status: LineStatusDto,
    pub reject_reason: Option<RejectReasonDto>,
    /// Effects that failed for good and need a person.
    pub dead_letters: u32,
    pub currency: String,
}

impl From<&Case> for CaseOut {
    fn from(c: &Case) -> Self {
        Self {
            id: c.id.to_string(),
            version: c.version,
            status: c.status.into(),
            channel: c.channel.into(),
            timing: c.timing.into(),
            account_id: c.facts.account_id.to_string(),
            line_id: c.facts.line_id.to_string(),
            msisdn: c.facts.msisdn.to_string(),
            plan: c.facts.plan.into(),
            account_kind: c.facts.account_kind.into(),
            language: c.facts.language.into(),
            opened_at: rfc3339(c.opened_at),
            updated_at: rfc3339(c.updated_at),
            verification: c.verification.into(),
            verification_method: c.verification_method.map(Into::into),
            settlement: c.settlement.into(),
            owed_cents: c.owed.cents,
            device_return: c.device_return.into(),
            device: c.facts.device.as_ref().map(|d| CaseDeviceOut {
                device_id: d.device_id.to_string(),
                imei: d.imei.to_string(),
                price_cents: d.price.cents,
            }),
            fees_cents: c.fees.cents,
            review_overdue: c.review_overdue,
            callback_pending: c.callback_pending,
            callback_overdue: c.callback_overdue,
            withdrawal_deadline: c.withdrawal_deadline.map(rfc3339),
            termination_at: c.termination_at.map(rfc3339),
            deprovisioning: c.deprovisioning.into(),
            refund: c.refund.into(),
            refund_amount_cents: c.refund_amount.cents,
            customer_notified: c.customer_notified,
            line_status: c.line_status.into(),
            reject_reason: c.reject_reason.map(Into::into),
            dead_letters: c.dead_letters,
            currency: c.owed.currency.to_string(),
        }
    }
}

/// Who did something: `{"kind": "customer"}`, `{"kind": "client", "id": "tok_…"}`, …
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActorOut {
    /// `customer`, `staff`, `client` or `system`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl From<&Actor> for ActorOut {
    fn from(a: &Actor) -> Self {
        let (kind, id) = match a {
            Actor::Customer => ("customer", None),
            Actor::Staff(id) => ("staff", Some(id.to_string())),
            Actor::Client(id) => ("client", Some(id.to_string())),
            Actor::System => ("system", None),
        };
        Self { kind: kind.to_owned(), id }
    }
}

/// One event of a case's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventOut {
    pub seq: u64,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// The event's type, e.g. `opened`, `identity_verified`.
    #[serde(rename = "type")]
    pub kind: String,
    pub actor: ActorOut,
    /// The event's facts; the keys depend on `type`.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The data of an event, in the wire format (money as cents).
fn event_data(kind: &EventKind) -> Value {
    use EventKind as K;
    match kind {
        K::Opened { kind, channel, timing, facts, note } => json!({
            "kind": kind.as_str(),
            "channel": ChannelDto::from(*channel),
            "timing": TimingDto::from(*timing),
            "line_id": facts.line_id.as_str(),
            "account_id": facts.account_id.as_str(),
            "note": note,
        }),
        // Verification records: the domain's own shape (no secret is ever in them).
        K::IdentityVerified { .. }
        | K::VerificationCodeSent { .. }
        | K::VerificationFailed { .. }
        | K::VerificationLocked { .. }
        | K::KnowledgeAnswerRecorded { .. } => {
            let mut data = serde_json::to_value(kind).unwrap_or_else(|_| json!({}));
            if let Some(map) = data.as_object_mut() {
                map.remove("type");
            }
            data
        }
        K::SettlementRequired { owed } => json!({ "owed_cents": owed.cents }),
        K::PaymentRecorded { amount, reference } => json!({ "amount_cents": amount.cents, "reference": reference }),
        K::BalanceWrittenOff { amount, reason, limit_cents } => {
            json!({ "amount_cents": amount.cents, "reason": reason, "limit_cents": limit_cents })
        }
        K::DeviceReturnRequested { rma, accessories, device_id, deadline } => {
            json!({ "rma": rma, "accessories": accessories, "device_id": device_id.as_str(), "deadline": rfc3339(*deadline) })
        }
        K::ShipmentRecorded { carrier, tracking } => {
            json!({ "carrier": CarrierDto::from(*carrier), "tracking": tracking })
        }
        K::DeviceArrived | K::DeviceReceiptRefused => json!({}),
        K::DeviceInspected { inspection, fees, fee } => json!({
            "condition": DeviceConditionDto::from(inspection.condition),
            "missing_accessories": inspection.missing_accessories,
            "model_matches": inspection.model_matches,
            "notes": inspection.notes,
            "photos": inspection.photos,
            "fees": fees.iter().map(|f| json!({"label": f.label, "amount_cents": f.amount.cents})).collect::<Vec<_>>(),
            "fee_cents": fee.cents,
        }),
        K::ReturnReminderDue { deadline } => json!({ "deadline": rfc3339(*deadline) }),
        K::DeviceReceived { imei, condition, fee } => json!({
            "imei": imei.as_str(), "condition": DeviceConditionDto::from(*condition), "fee_cents": fee.cents,
        }),
        K::DeviceReturnWaived { reason } => json!({ "reason": reason }),
        K::DeviceNotReturned { fee } => json!({ "fee_cents": fee.cents }),
        K::ReviewStarted { due_at } => json!({ "due_at": rfc3339(*due_at) }),
        K::Approved { by_rule, note, withdrawal_deadline, termination_at } => json!({
            "by_rule": by_rule,
            "note": note,
            "withdrawal_deadline": rfc3339(*withdrawal_deadline),
            "termination_at": rfc3339(*termination_at),
        }),
        K::Rejected { reason, note } => json!({ "reason": RejectReasonDto::from(*reason), "note": note }),
        K::Frozen { note } => json!({ "note": note }),
        K::DeprovisioningConfirmed { effect_id } => json!({ "effect_id": effect_id }),
        K::RefundDecided { balance, fee, refund, forfeited } => json!({
            "balance_cents": balance.cents,
            "fee_cents": fee.cents,
            "refund_cents": refund.cents,
            "forfeited_cents": forfeited.cents,
        }),
        K::RefundIssued { effect_id, amount, reference } => {
            json!({ "effect_id": effect_id, "amount_cents": amount.cents, "reference": reference })
        }
        K::NoticeDelivered { effect_id, notice, channel } => {
            json!({ "effect_id": effect_id, "notice": notice_name(*notice), "channel": channel })
        }
        K::EffectDeadLettered { effect_id, effect, error } => {
            json!({ "effect_id": effect_id, "effect": effect, "error": error })
        }
        K::Closed { note } => json!({ "note": note }),
        K::CallbackRequested { due_at } => json!({ "due_at": rfc3339(*due_at) }),
        K::TransferPinIssued { pin_id, expires_at } => json!({ "pin_id": pin_id, "expires_at": rfc3339(*expires_at) }),
        K::PortRequestRefused { reason, attempts } => json!({ "reason": reason.code(), "attempts": attempts }),
        K::TransferPinVoided { reason } => json!({ "reason": reason.code() }),
        K::PortValidated { new_operator } => json!({ "new_operator": new_operator }),
        K::EffectFailed { effect_id, effect, attempt, error } => {
            json!({ "effect_id": effect_id, "effect": effect, "attempt": attempt, "error": error })
        }
        K::NoticeReceipt { effect_id, delivered, status } => {
            json!({ "effect_id": effect_id, "delivered": delivered, "status": status })
        }
        K::EsimProgressReported { notification_point, status } => {
            json!({ "notification_point": notification_point, "status": status })
        }
        K::Superseded { by_case } => json!({ "by_case": by_case.as_str() }),
        K::Settled
        | K::ReviewOverdue
        | K::CallbackOverdue
        | K::CallbackMade
        | K::Withdrawn
        | K::Expired
        | K::TerminationStarted
        | K::Terminated
        | K::PortedOut
        | K::VerificationUnlocked
        | K::OutcomeConfirmed => json!({}),
    }
}

impl From<&Event> for EventOut {
    fn from(e: &Event) -> Self {
        Self {
            seq: e.seq,
            at: rfc3339(e.at),
            kind: e.kind.name().to_owned(),
            actor: (&e.actor).into(),
            data: event_data(&e.kind),
        }
    }
}

/// A durable timer of a case.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimerOut {
    /// `verification_expiry`, `device_return_deadline`, `review_sla` or `termination_due`.
    pub kind: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub due_at: String,
}

/// An effect of a case (message, network call, refund) and its delivery state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxOut {
    pub id: String,
    /// `notify`, `deprovision` or `refund`.
    pub kind: String,
    /// `pending`, `done` or `dead`.
    pub status: String,
    pub attempts: u32,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub next_attempt_at: String,
    pub last_error: Option<String>,
}

impl From<&DueTimer> for TimerOut {
    fn from(t: &DueTimer) -> Self {
        Self { kind: t.kind.as_str().to_owned(), due_at: rfc3339(t.due_at) }
    }
}

impl From<&OutboxRow> for OutboxOut {
    fn from(o: &OutboxRow) -> Self {
        Self {
            id: o.id.clone(),
            kind: o.kind.clone(),
            status: o.status.as_str().to_owned(),
            attempts: o.attempts,
            next_attempt_at: rfc3339(o.next_attempt_at),
            last_error: o.last_error.clone(),
        }
    }
}

/// A case with its timeline, timers and outbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseDetailOut {
    #[serde(flatten)]
    pub case: CaseOut,
    pub timeline: Vec<EventOut>,
    pub timers: Vec<TimerOut>,
    pub outbox: Vec<OutboxOut>,
}

impl From<&CaseDetail> for CaseDetailOut {
    fn from(d: &CaseDetail) -> Self {
        Self {
            case: (&d.case).into(),
            timeline: d.events.iter().map(Into::into).collect(),
            timers: d.timers.iter().map(Into::into).collect(),
            outbox: d.outbox.iter().map(Into::into).collect(),
        }
    }
}

/// A page of cases.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseList {
    pub items: Vec<CaseOut>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<String>,
}

/// The health answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
}
