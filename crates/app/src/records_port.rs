//! The records port: the erasable personal-data side table, account record flags
//! (legal hold, erasure), data exports, privacy requests and the retention schedule.
//! Reached through [`crate::ports::Conn::records`], so the case tables' trait stays small.

use crate::ports::{MessageRecord, StoreResult};
use lineout_domain::personal::Personal;
use lineout_domain::privacy::{Deadlines, RequestKind, RequestStatus};
use lineout_domain::values::{AccountId, CaseId};
use time::OffsetDateTime;

/// An account's record-keeping state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountState {
    pub legal_hold: bool,
    pub hold_reason: Option<String>,
    /// When the account's personal data was erased (except records kept for their period).
    pub erased_at: Option<OffsetDateTime>,
    /// Personal data of required records is kept until then; `None` once nothing is kept.
    pub kept_until: Option<OffsetDateTime>,
}

/// An account retention may have to act on: every line ended, no case open, not on hold,
/// and personal data still held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionCandidate {
    pub account_id: AccountId,
    /// The last time one of its cases changed (the account closed then).
    pub closed_at: Option<OffsetDateTime>,
    pub state: AccountState,
}

/// Where an export stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    Pending,
    Ready,
    Failed,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "ready" => Some(Self::Ready),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A data export as recorded on the account. The download token is stored only as its
/// SHA-256; the zip (base64) only until the account's data is erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub id: String,
    pub account_id: AccountId,
    pub status: ExportStatus,
    pub requested_at: OffsetDateTime,
    /// Who asked (`client:<token id>`, `staff:<id>`, `privacy:<request id>`, `cli`).
    pub requested_by: String,
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
    pub ready_at: Option<OffsetDateTime>,
    pub downloaded_at: Option<OffsetDateTime>,
    pub size_bytes: Option<u64>,
    pub error: Option<String>,
}

/// A privacy request with its timers, flags and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyRow {
    pub id: String,
    pub account_id: AccountId,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub received_at: OffsetDateTime,
    pub deadlines: Deadlines,
    pub extension_notice: Option<String>,
    pub acknowledged_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub ack_overdue: bool,
    pub overdue: bool,
    /// When the request's timer fires next (`None`: no deadline ahead).
    pub next_check_at: Option<OffsetDateTime>,
    /// What was done, kept and why (JSON), once completed.
    pub outcome: Option<String>,
}

/// The records tables. Every list is bounded by its caller.
pub trait RecordsConn {
    // The erasable personal values of chained events.
    fn put_personal(&mut self, case: &CaseId, account: &AccountId, values: &[Personal]) -> StoreResult<()>;
    /// A case's personal values still held: (reference, key, value JSON).
    fn personal_of_case(&mut self, case: &CaseId) -> StoreResult<Vec<(String, String, String)>>;
    /// Erases a case's personal values, except those under `keep_key`; returns how many.
    fn erase_personal(&mut self, case: &CaseId, keep_key: Option<&str>) -> StoreResult<u64>;

    // Account flags.
    fn account_state(&mut self, account: &AccountId) -> StoreResult<AccountState>;
    fn set_legal_hold(
        &mut self,
        account: &AccountId,
        hold: bool,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    fn set_erased(
        &mut self,
        account: &AccountId,
        erased_at: OffsetDateTime,
        kept_until: Option<OffsetDateTime>,
    ) -> StoreResult<()>;
    /// Replaces the account's and its lines' and devices' personal columns by the erased
    /// marker (or NULL), clears its PIN and PIN attempts, and drops its export files.
    fn anonymise_account(&mut self, account: &AccountId, now: OffsetDateTime) -> StoreResult<()>;
    /// Deletes a case's finished outbox rows (their payloads name the number).
    fn purge_finished_outbox(&mut self, case: &CaseId) -> StoreResult<u64>;
    /// Accounts with every line ended, no open case, no legal hold, and personal data
    /// still held, by id after the cursor.
    fn retention_candidates(&mut self, after: Option<&AccountId>, limit: u32) -> StoreResult<Vec<RetentionCandidate>>;
    /// The account's lines, by id (an account has few).
    fn lines_of_account(&mut self, account: &AccountId) -> StoreResult<Vec<lineout_domain::account::Line>>;
    /// The messages sent about a case.
    fn messages_of_case(&mut self, case: &CaseId) -> StoreResult<Vec<MessageRecord>>;

    // Data exports.
    fn insert_export(&mut self, row: &ExportRow) -> StoreResult<()>;
    fn pending_exports(&mut self, limit: u32) -> StoreResult<Vec<ExportRow>>;
    /// Stores a finished export (only if still pending); false if it was not pending.
    fn finish_export(
        &mut self,
        id: &str,
        status: ExportStatus,
        data_base64: Option<&str>,
        size_bytes: Option<u64>,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    fn export_by_token(&mut self, token_hash: &str) -> StoreResult<Option<ExportRow>>;
    /// Marks the export downloaded and returns its file, once; `None` if already downloaded.
    fn take_export(&mut self, id: &str, now: OffsetDateTime) -> StoreResult<Option<String>>;
    fn exports_of_account(&mut self, account: &AccountId, limit: u32) -> StoreResult<Vec<ExportRow>>;

    // Privacy requests.
    fn insert_privacy_request(&mut self, row: &PrivacyRow) -> StoreResult<()>;
    fn get_privacy_request(&mut self, id: &str) -> StoreResult<Option<PrivacyRow>>;
    fn update_privacy_request(&mut self, row: &PrivacyRow) -> StoreResult<()>;
    /// Requests whose timer is due (`next_check_at <= now`), at most `limit`.
    fn due_privacy_requests(&mut self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<PrivacyRow>>;
    /// Requests by id after the cursor; only overdue ones (either flag) when asked.
    fn list_privacy_requests(
        &mut self,
        overdue_only: bool,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<PrivacyRow>>;
    fn count_overdue_privacy_requests(&mut self) -> StoreResult<u64>;

    // Schedules kept in the database (e.g. the next daily retention run).
    fn schedule(&mut self, name: &str) -> StoreResult<Option<OffsetDateTime>>;
    fn set_schedule(&mut self, name: &str, at: OffsetDateTime) -> StoreResult<()>;
}
