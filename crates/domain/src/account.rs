//! Accounts, lines and devices: the records a cancellation is about.

use crate::values::{AccountId, DeviceId, Eid, Email, Iccid, Imei, Imsi, Language, LineId, Money, Msisdn};
use serde::{Deserialize, Serialize};

/// Residential or business: number aging periods differ (47 CFR 52.15(f)(1)(ii)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    #[default]
    Residential,
    Business,
}

/// Free locks the account holder can set against changes to their lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Locks {
    #[serde(default)]
    pub port_out: bool,
    #[serde(default)]
    pub sim_change: bool,
    #[serde(default)]
    pub cancellation: bool,
}

/// The billing relationship: holder, contacts, language, PIN, locks, balances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub holder_name: String,
    pub email: Option<Email>,
    pub alt_phone: Option<Msisdn>,
    pub language: Language,
    /// An argon2id PHC string; never shown, never logged.
    pub pin_hash: Option<String>,
    pub locks: Locks,
    /// Day of the month (1-28) on which a billing cycle starts.
    pub billing_cycle_day: u8,
    pub kind: AccountKind,
    /// Unpaid charges the customer owes (positive) or a credit (negative).
    pub owed: Money,
    /// Unused prepaid money held for the customer.
    pub prepaid_balance: Money,
}

/// Prepaid or postpaid service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Prepaid,
    Postpaid,
}

/// A line's service status (TMF637: active → pendingTerminate → terminated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    Active,
    Suspended,
    PendingTermination,
    Terminated,
    PortedOut,
}

impl LineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::PendingTermination => "pending_termination",
            Self::Terminated => "terminated",
            Self::PortedOut => "ported_out",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "pending_termination" => Self::PendingTermination,
            "terminated" => Self::Terminated,
            "ported_out" => Self::PortedOut,
            _ => return None,
        })
    }
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepaid => "prepaid",
            Self::Postpaid => "postpaid",
        }
    }
}

/// One subscription: a number with a SIM (ICCID, IMSI) or an eSIM (EID + ICCID).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub id: LineId,
    pub account_id: AccountId,
    pub msisdn: Msisdn,
    pub iccid: Option<Iccid>,
    pub imsi: Option<Imsi>,
    pub eid: Option<Eid>,
    pub plan: Plan,
    pub status: LineStatus,
    /// The recurring plan charge per billing cycle, in cents of the account's currency (0: none).
    #[serde(default)]
    pub monthly_charge_cents: i64,
}

/// How the customer holds the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    Owned,
    Financed,
    Leased,
}

/// A handset bound to a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: DeviceId,
    pub line_id: LineId,
    pub imei: Imei,
    pub model: String,
    pub price: Money,
    pub ownership: Ownership,
    /// Whether the device must come back when the line ends (leased, operator-owned, trade-in).
    pub must_return: bool,
    /// Installments still owed on a financed device, in cents of the account's currency;
    /// they become due on the final bill.
    #[serde(default)]
    pub remaining_installments_cents: i64,
}
