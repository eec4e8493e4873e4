//! The account ledger: append-only money entries in integer cents. The balance is
//! derived from the entries (plus the opening balance imported with the account),
//! never stored as the only truth.
//!
//! Sign convention: a positive balance is money the customer owes; a negative one is
//! credit held for the customer.

use crate::case::{Case, EventKind};
use crate::values::{AccountId, CaseId, Money};
use serde::{Deserialize, Serialize};

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Charge,
    Fee,
    Payment,
    Credit,
    WriteOff,
    Refund,
    /// Prepaid money kept by policy (no refund).
    Forfeit,
}

impl EntryKind {
    pub const ALL: [EntryKind; 7] =
        [Self::Charge, Self::Fee, Self::Payment, Self::Credit, Self::WriteOff, Self::Refund, Self::Forfeit];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Charge => "charge",
            Self::Fee => "fee",
            Self::Payment => "payment",
            Self::Credit => "credit",
            Self::WriteOff => "write_off",
            Self::Refund => "refund",
            Self::Forfeit => "forfeit",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// +1 when the entry increases what the customer owes, -1 when it decreases it.
    pub fn sign(self) -> i64 {
        match self {
            Self::Charge | Self::Fee | Self::Refund | Self::Forfeit => 1,
            Self::Payment | Self::Credit | Self::WriteOff => -1,
        }
    }
}

/// One ledger entry. `amount` is never negative; the kind gives the direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique and stable: derived from the case event that caused it.
    pub id: String,
    pub account_id: AccountId,
    pub case_id: Option<CaseId>,
    pub kind: EntryKind,
    pub amount: Money,
    pub description: String,
}

/// The balance after `entries`, from an opening balance (owed minus prepaid money).
pub fn balance(opening: Money, entries: &[Entry]) -> Money {
    let cents =
        entries.iter().fold(opening.cents, |sum, e| sum.saturating_add(e.kind.sign().saturating_mul(e.amount.cents)));
    Money::new(cents, opening.currency)
}

/// The ledger entries a case event causes (the event's seq makes the ids stable).
pub fn entries_for(case: &Case, seq: u64, event: &EventKind) -> Vec<Entry> {
    let id = case.id.as_str();
    let entry = |n: usize, kind: EntryKind, amount: Money, description: String| Entry {
        id: format!("{id}.{seq}.{n}"),
        account_id: case.facts.account_id.clone(),
        case_id: Some(case.id.clone()),
        kind,
        amount,
        description,
    };
    match event {
        EventKind::PaymentRecorded { amount, reference } => {
            vec![entry(0, EntryKind::Payment, *amount, format!("payment {reference}"))]
        }
        EventKind::BalanceWrittenOff { amount, reason, .. } if amount.is_positive() => {
            vec![entry(0, EntryKind::WriteOff, *amount, format!("write-off: {reason}"))]
        }
        EventKind::DeviceInspected { fees, .. } => fees
            .iter()
            .enumerate()
            .filter(|(_, f)| f.amount.is_positive())
            .map(|(n, f)| entry(n, EntryKind::Fee, f.amount, format!("device return: {}", f.label)))
            .collect(),
        EventKind::DeviceReceived { fee, .. } if fee.is_positive() => {
            vec![entry(0, EntryKind::Fee, *fee, "device return fee".into())]
        }
        EventKind::DeviceNotReturned { fee } if fee.is_positive() => {
            vec![entry(0, EntryKind::Fee, *fee, "device not returned".into())]
        }
        EventKind::RefundDecided { fee, forfeited, .. } => {
            let mut out = Vec::new();
            if fee.is_positive() {
                out.push(entry(0, EntryKind::Fee, *fee, "refund fee".into()));
            }
            if forfeited.is_positive() {
                out.push(entry(1, EntryKind::Forfeit, *forfeited, "remaining balance forfeited by policy".into()));
            }
            out
        }
        EventKind::RefundIssued { amount, reference, .. } if amount.is_positive() => {
            vec![entry(0, EntryKind::Refund, *amount, format!("refund {reference}"))]
        }
        EventKind::FinalBillIssued { bill } => bill
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.amount.is_positive())
            .map(|(n, l)| {
                let kind = if l.kind.is_credit() { EntryKind::Credit } else { EntryKind::Charge };
                entry(n, kind, l.amount, format!("final bill: {}", l.label))
            })
            .collect(),
        // The remaining balance leaves the prepaid balance and stays on the account as a
        // credit: two entries that cancel out, so no value is created or lost.
        EventKind::RefundCredited { amount } if amount.is_positive() => vec![
            entry(0, EntryKind::Refund, *amount, "refund to account credit".into()),
            entry(1, EntryKind::Credit, *amount, "account credit from refund".into()),
        ],
        _ => Vec::new(),
    }
}

/// Kinds a historical entry may be imported as (a forfeit only ever comes from a case).
pub const IMPORTABLE: [EntryKind; 6] =
    [EntryKind::Charge, EntryKind::Payment, EntryKind::Credit, EntryKind::Refund, EntryKind::WriteOff, EntryKind::Fee];

/// Longest reference of an imported entry.
pub const REFERENCE_MAX: usize = 64;
/// Longest description of an imported entry.
pub const DESCRIPTION_MAX: usize = 200;

/// Why an imported entry is refused (each names the field at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("kind: must be one of charge, payment, credit, refund, write_off, fee")]
    Kind,
    #[error("amount_cents: must be a positive whole number of cents, at most 10^13")]
    Amount,
    #[error("reference: 1-64 letters, digits, '-', '_', '.', ':' or '/'")]
    Reference,
    #[error("description: at most 200 characters without control characters")]
    Description,
}

impl ImportError {
    /// The field the problem is in.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Kind => "kind",
            Self::Amount => "amount_cents",
            Self::Reference => "reference",
            Self::Description => "description",
        }
    }
}

/// A historical entry from the operator's billing system. Its id derives from the account
/// and the reference, so references are unique per account and a re-import adds nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub entry: Entry,
    pub reference: String,
}

impl Imported {
    /// Checks one imported entry. The currency is checked against the account by the shell,
    /// which has the account.
    pub fn new(
        account_id: AccountId,
        kind: &str,
        amount: Money,
        reference: &str,
        description: Option<&str>,
    ) -> Result<Imported, ImportError> {
        let kind = EntryKind::parse(kind).filter(|k| IMPORTABLE.contains(k)).ok_or(ImportError::Kind)?;
        if amount.cents <= 0 || amount.cents > crate::values::MONEY_LIMIT_CENTS {
            return Err(ImportError::Amount);
        }
        let reference = reference.trim();
        let reference_ok = (1..=REFERENCE_MAX).contains(&reference.len())
            && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
        if !reference_ok {
            return Err(ImportError::Reference);
        }
        let description = match description.map(str::trim).filter(|d| !d.is_empty()) {
            None => format!("imported {} {reference}", kind.as_str()),
            Some(d) => crate::values::parse_text(d, DESCRIPTION_MAX).map_err(|_| ImportError::Description)?,
        };
        let entry = Entry {
            id: format!("{}.import.{reference}", account_id.as_str()),
            account_id,
            case_id: None,
            kind,
            amount,
            description,
        };
        Ok(Imported { entry, reference: reference.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(kind: EntryKind, cents: i64) -> Entry {
        Entry {
            id: "x".into(),
            account_id: AccountId::parse("A").unwrap_or_else(|_| unreachable!()),
            case_id: None,
            kind,
            amount: Money::usd(cents),
            description: String::new(),
        }
    }

    #[test]
    fn the_balance_follows_the_sign_of_each_kind() {
        let entries = [e(EntryKind::Fee, 7_000), e(EntryKind::Payment, 2_000), e(EntryKind::WriteOff, 500)];
        assert_eq!(balance(Money::usd(1_000), &entries), Money::usd(5_500));
    }

    #[test]
    fn imported_entries_are_checked_and_keyed_by_account_and_reference() {
        let acc = AccountId::parse("A-1").unwrap_or_else(|_| unreachable!());
        let ok = Imported::new(acc.clone(), "charge", Money::usd(1_999), "INV-2024-01", None);
        let ok = ok.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.entry.id, "A-1.import.INV-2024-01");
        assert_eq!(ok.entry.kind, EntryKind::Charge);
        let err = |kind: &str, cents: i64, reference: &str| {
            Imported::new(acc.clone(), kind, Money::usd(cents), reference, None).err()
        };
        assert_eq!(err("forfeit", 1, "R"), Some(ImportError::Kind));
        assert_eq!(err("charge", 0, "R"), Some(ImportError::Amount));
        assert_eq!(err("charge", -5, "R"), Some(ImportError::Amount));
        assert_eq!(err("charge", 5, "bad ref"), Some(ImportError::Reference));
        assert_eq!(err("charge", 5, ""), Some(ImportError::Reference));
    }

    proptest! {
        #[test]
        fn no_value_is_created_or_lost(amounts in prop::collection::vec((0usize..7, 0i64..1_000_000), 0..50)) {
            // Splitting the entries anywhere and summing the parts gives the same balance.
            let entries: Vec<Entry> = amounts.iter().map(|(k, c)| e(EntryKind::ALL[*k], *c)).collect();
            let whole = balance(Money::usd(0), &entries);
            let mid = entries.len() / 2;
            let first = balance(Money::usd(0), &entries[..mid]);
            let rest = balance(first, &entries[mid..]);
            prop_assert_eq!(whole, rest);
            let expected: i64 = amounts.iter().map(|(k, c)| EntryKind::ALL[*k].sign() * c).sum();
            prop_assert_eq!(whole.cents, expected);
        }
    }
}
