//! The ports: traits the shell implements (store, clock, ids, adapters) and the
//! records that cross them. Storage is synchronous and runs on dedicated threads;
//! adapters are async.

use lineout_domain::account::{Account, Device, Line, LineStatus};
use lineout_domain::case::{Case, CaseKind, Notice, TimerKind};
use lineout_domain::values::{AccountId, CaseId, DeviceId, Email, Language, LineId, Money, Msisdn};
use lineout_domain::{Channel, Status};
use time::OffsetDateTime;

/// The source of time. Only the clock adapter reads the system clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The source of identifiers and secrets (random in production, sequential in tests).
pub trait IdGen: Send + Sync {
    /// A new case reference, unique and roughly time-ordered.
    fn case_id(&self, now: OffsetDateTime) -> CaseId;
    /// A fresh high-entropy secret for an API token (the caller stores only its hash).
    fn secret(&self) -> String;
    /// `n` random decimal digits from a CSPRNG (transfer PINs, one-time codes).
    fn digits(&self, n: usize) -> String;
    /// 16 random bytes for a password-hash salt.
    fn salt(&self) -> [u8; 16];
}

/// Errors from the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or version constraint refused the write; the name says which.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A referenced row does not exist (e.g. a line's account).
    #[error("missing reference: {0}")]
    MissingReference(&'static str),
    /// The database failed; the text is for operators' logs, never for clients.
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Inserted,
    Updated,
    Unchanged,
}

/// A case's projection with the hash of its latest event.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    pub case: Case,
    pub last_hash: String,
}

/// One event as stored: the exact JSON body and its chain hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub case_id: CaseId,
    pub seq: u64,
    pub at: OffsetDateTime,
    /// The event's type name (e.g. `opened`), for queries.
    pub kind: String,
    /// The serialised [`lineout_domain::Event`], hashed as stored.
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A durable timer: at most one of each kind per case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerRow<'a> {
    pub case_id: &'a CaseId,
    pub kind: TimerKind,
    pub due_at: OffsetDateTime,
}

/// A timer as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub case_id: CaseId,
    pub kind: TimerKind,
    pub due_at: OffsetDateTime,
}

/// Delivery state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    Done,
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "done" => Self::Done,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// An effect waiting to be (or already) carried out. `id` is its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub case_id: CaseId,
    /// `notify`, `deprovision` or `refund`.
    pub kind: String,
    /// The serialised [`lineout_domain::effects::Effect`].
    pub payload: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub done_at: Option<OffsetDateTime>,
}

/// Filters for listing cases; results are ordered by case id (time-ordered), after the cursor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseFilter {
    pub status: Option<Status>,
    pub channel: Option<Channel>,
    pub line_id: Option<LineId>,
    pub account_id: Option<AccountId>,
    pub opened_from: Option<OffsetDateTime>,
    pub opened_to: Option<OffsetDateTime>,
    /// Return cases with ids greater than this (keyset pagination).
    pub after: Option<CaseId>,
    /// At most this many (the caller bounds it).
    pub limit: u32,
}

/// What became of a number whose line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFate {
    /// Permanently disconnected: ages until `available_at`, then may be reassigned.
    Disconnected,
    /// Ported out to another operator: not aged, not reported to the RND.
    PortedOut,
}

/// A number's latest end-of-line record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRecord {
    pub msisdn: Msisdn,
    pub fate: NumberFate,
    /// The latest permanent-disconnect (or port-out) time.
    pub disconnected_at: OffsetDateTime,
    /// When aging ends (disconnected numbers only).
    pub available_at: Option<OffsetDateTime>,
    pub case_id: CaseId,
}

/// A number's state as seen at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberState {
    Aging,
    Available,
    PortedOut,
}

impl NumberState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aging => "aging",
            Self::Available => "available",
            Self::PortedOut => "ported_out",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aging" => Some(Self::Aging),
            "available" => Some(Self::Available),
            "ported_out" => Some(Self::PortedOut),
            _ => None,
        }
    }
}

impl NumberRecord {
    /// The number's state at `now`.
    pub fn state(&self, now: OffsetDateTime) -> NumberState {
        match (self.fate, self.available_at) {
            (NumberFate::PortedOut, _) => NumberState::PortedOut,
            (NumberFate::Disconnected, Some(t)) if t > now => NumberState::Aging,
            (NumberFate::Disconnected, _) => NumberState::Available,
        }
    }
}

/// Which numbers to list: those in `state` at `now`, after the cursor, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberFilter {
    pub state: Option<NumberState>,
    pub now: OffsetDateTime,
    pub after: Option<Msisdn>,
    pub limit: u32,
}

/// An API token as stored: only the SHA-256 of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub label: String,
    pub created_at: OffsetDateTime,
}

/// A member of staff of the console: only the argon2id hash of the password is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecord {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// `agent`, `reviewer`, `warehouse` or `admin` (see `crate::staff::StaffRole`).
    pub role: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
    pub disabled: bool,
}

/// A signed-in staff session: only the SHA-256 of the cookie's secret is kept, with the
/// session's CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub secret_hash: String,
    pub staff_id: String,
    pub csrf: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The portal's current sign-in code of a line: only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalCode {
    pub line_id: String,
    pub code_hash: String,
    pub expires_at: OffsetDateTime,
    /// Wrong codes entered against this code.
    pub attempts: u32,
    pub used: bool,
}

/// A customer signed in to the portal for one line: only the SHA-256 of the cookie's
/// secret, with the session's CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    pub secret_hash: String,
    pub line_id: String,
    pub csrf: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Counts for health and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: u64,
    pub dead: u64,
    pub oldest_pending_at: Option<OffsetDateTime>,
}

/// Which role a connection plays: the single writer takes write locks up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Writer,
    Reader,
}

/// A database: the only place with SQL. One `Conn` per thread.
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Creates or upgrades the schema (idempotent).
    fn migrate(&self) -> StoreResult<()>;
    /// Opens a connection.
    fn connect(&self, role: Role) -> StoreResult<Box<dyn Conn>>;
}

/// A connection with small per-table read/write methods. Writes happen between
/// `begin` and `commit`; savepoints let one command fail inside a group commit
/// without undoing the others.
pub trait Conn: Send {
    fn begin(&mut self) -> StoreResult<()>;
    fn commit(&mut self) -> StoreResult<()>;
    fn rollback(&mut self) -> StoreResult<()>;
    fn savepoint(&mut self) -> StoreResult<()>;
    fn release_savepoint(&mut self) -> StoreResult<()>;
    fn rollback_to_savepoint(&mut self) -> StoreResult<()>;

    // Accounts, lines, devices.
    fn upsert_account(&mut self, account: &Account, now: OffsetDateTime) -> StoreResult<Upsert>;
    fn get_account(&mut self, id: &AccountId) -> StoreResult<Option<Account>>;
    /// Fails with `MissingReference("account")` when the account does not exist,
    /// `Conflict("line_msisdn")` when another line has the number.
    fn upsert_line(&mut self, line: &Line, now: OffsetDateTime) -> StoreResult<Upsert>;
    fn get_line(&mut self, id: &LineId) -> StoreResult<Option<Line>>;
    fn find_line_by_msisdn(&mut self, msisdn: &Msisdn) -> StoreResult<Option<Line>>;
    fn find_line_by_iccid(&mut self, iccid: &lineout_domain::values::Iccid) -> StoreResult<Option<Line>>;
    fn set_line_status(&mut self, id: &LineId, status: LineStatus, now: OffsetDateTime) -> StoreResult<()>;
    /// Fails with `MissingReference("line")` when the line does not exist.
    fn upsert_device(&mut self, device: &Device, now: OffsetDateTime) -> StoreResult<Upsert>;
    fn get_device(&mut self, id: &DeviceId) -> StoreResult<Option<Device>>;
    fn devices_for_line(&mut self, line: &LineId) -> StoreResult<Vec<Device>>;

    // Cases and events.
    fn get_case(&mut self, id: &CaseId) -> StoreResult<Option<CaseRecord>>;
    /// The line's case of this kind that is not yet terminal, if any.
    fn open_case_for_line(&mut self, line: &LineId, kind: CaseKind) -> StoreResult<Option<CaseId>>;
    /// Fails with `Conflict("case_open_for_line")` when the line already has an open case of the same kind.
    fn insert_case(&mut self, record: &CaseRecord) -> StoreResult<()>;
    /// Fails with `Conflict("case_version")` unless the stored version is `expected_version`.
    fn update_case(&mut self, record: &CaseRecord, expected_version: u64) -> StoreResult<()>;
    fn list_cases(&mut self, filter: &CaseFilter) -> StoreResult<Vec<Case>>;
    /// Appends events; `(case_id, seq)` is unique, so a forked history is refused.
    fn append_events(&mut self, events: &[StoredEvent]) -> StoreResult<()>;
    fn events(&mut self, case: &CaseId) -> StoreResult<Vec<StoredEvent>>;
    /// Case ids in order after `after`, for walking every chain.
    fn case_ids(&mut self, after: Option<&CaseId>, limit: u32) -> StoreResult<Vec<CaseId>>;

    // Timers.
    fn set_timer(&mut self, timer: TimerRow<'_>) -> StoreResult<()>;
    fn cancel_timer(&mut self, case: &CaseId, kind: TimerKind) -> StoreResult<()>;
    fn cancel_all_timers(&mut self, case: &CaseId) -> StoreResult<()>;
    /// Leases up to `limit` due timers (due_at <= now, lease expired) until `lease_until`.
    fn claim_due_timers(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<DueTimer>>;
    /// Deletes the timer if it is still the one claimed (same due time); false if it changed.
    fn fire_timer(&mut self, timer: &DueTimer) -> StoreResult<bool>;
    fn timers(&mut self, case: &CaseId) -> StoreResult<Vec<DueTimer>>;

    // Outbox.
    fn insert_outbox(&mut self, rows: &[OutboxRow]) -> StoreResult<()>;
    /// Leases up to `limit` pending rows due at `now` until `lease_until`, earliest due first
    /// (walking the `(status, next_attempt_at)` index, so a large backlog costs no sort).
    fn claim_outbox(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OutboxRow>>;
    fn complete_outbox(&mut self, id: &str, attempts: u32, now: OffsetDateTime) -> StoreResult<()>;
    fn retry_outbox(
        &mut self,
        id: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> StoreResult<()>;
    fn dead_letter_outbox(&mut self, id: &str, attempts: u32, error: &str, now: OffsetDateTime) -> StoreResult<()>;
    fn outbox_for_case(&mut self, case: &CaseId) -> StoreResult<Vec<OutboxRow>>;
    fn outbox_stats(&mut self) -> StoreResult<OutboxStats>;
    /// How many cases are in each status (statuses with none are left out).
    fn case_counts(&mut self) -> StoreResult<Vec<(Status, u64)>>;
    /// The due time of the earliest timer, if any (for timer-lag metrics).
    fn earliest_timer(&mut self) -> StoreResult<Option<OffsetDateTime>>;

    // Numbers after their line ended (aging, FCC RND), and port-out PINs.
    /// Records a permanent disconnection: the number's latest disconnect date (kept per number)
    /// and one row in the append-only disconnection log the RND report reads.
    fn record_disconnect(
        &mut self,
        msisdn: &Msisdn,
        at: OffsetDateTime,
        available_at: OffsetDateTime,
        case: &CaseId,
    ) -> StoreResult<()>;
    /// Records that the number left for another operator (not a disconnection; no aging).
    fn record_port_out(&mut self, msisdn: &Msisdn, at: OffsetDateTime, case: &CaseId) -> StoreResult<()>;
    fn get_number(&mut self, msisdn: &Msisdn) -> StoreResult<Option<NumberRecord>>;
    /// Numbers in a state at `now`, ordered by number, after the cursor.
    fn list_numbers(&mut self, filter: &NumberFilter) -> StoreResult<Vec<NumberRecord>>;
    /// Permanent disconnections with `from <= at < to`, ordered by (at, number), after the cursor.
    fn disconnections(
        &mut self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        after: Option<&(OffsetDateTime, Msisdn)>,
        limit: u32,
    ) -> StoreResult<Vec<(OffsetDateTime, Msisdn)>>;
    /// Stores (replacing any earlier one) the hash of a port-out case's transfer PIN.
    fn put_transfer_pin(&mut self, case: &CaseId, pin_id: &str, pin_hash: &str) -> StoreResult<()>;
    /// The (pin_id, hash) of a port-out case's current transfer PIN.
    fn get_transfer_pin(&mut self, case: &CaseId) -> StoreResult<Option<(String, String)>>;

    // Messages to customers: authenticity codes and delivery state.
    /// Records a message about to be sent (once per effect) and returns its authenticity
    /// code: the stored one if the message exists, else `candidate_code`.
    fn ensure_message(
        &mut self,
        effect_id: &str,
        case: &CaseId,
        notice: Notice,
        candidate_code: &str,
        now: OffsetDateTime,
    ) -> StoreResult<String>;
    fn message_sent(&mut self, effect_id: &str, provider_ids: &[String], now: OffsetDateTime) -> StoreResult<()>;
    /// Marks delivered or failed from a receipt; returns the message if the provider id is known.
    fn message_receipt(
        &mut self,
        provider_id: &str,
        delivered: bool,
        now: OffsetDateTime,
    ) -> StoreResult<Option<MessageRecord>>;
    fn message_by_code(&mut self, code: &str) -> StoreResult<Option<MessageRecord>>;
    /// Outbox rows with a status, by id after the cursor (staff tools).
    fn list_outbox(&mut self, status: OutboxStatus, after: Option<&str>, limit: u32) -> StoreResult<Vec<OutboxRow>>;
    /// Puts a dead row back in the queue (attempts reset); false if it was not dead.
    fn requeue_outbox(&mut self, id: &str, now: OffsetDateTime) -> StoreResult<bool>;

    // PIN attempts per line (IVR and other PIN checks).
    /// The line's wrong PIN attempts in a row and its lock, if any.
    fn pin_attempts(&mut self, line: &LineId) -> StoreResult<(u32, Option<OffsetDateTime>)>;
    /// Stores the line's wrong-attempt count and lock (0 and None clear them).
    fn set_pin_attempts(
        &mut self,
        line: &LineId,
        failures: u32,
        locked_until: Option<OffsetDateTime>,
    ) -> StoreResult<()>;

    // Identity verification: one-time code hashes and rate-limit windows.
    /// Stores a one-time code's keyed hash for a case (the code itself is never stored).
    fn put_verification_code(
        &mut self,
        case: &CaseId,
        code_id: &str,
        code_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The id of the case's code with this keyed hash, if any.
    fn find_verification_code(&mut self, case: &CaseId, code_hash: &str) -> StoreResult<Option<String>>;
    /// A rate-limit window by key: its start and the count in it (`None`: never used).
    fn rate_window(&mut self, key: &str) -> StoreResult<Option<(OffsetDateTime, u32)>>;
    /// Stores a rate-limit window.
    fn set_rate_window(&mut self, key: &str, start: OffsetDateTime, count: u32) -> StoreResult<()>;

    // The account ledger (append-only).
    /// Appends entries; an entry whose id exists is left as it is (replays are harmless).
    fn append_ledger(&mut self, entries: &[lineout_domain::ledger::Entry], at: OffsetDateTime) -> StoreResult<()>;
    /// An account's entries in order, with their times, after the cursor (an entry id).
    fn ledger(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<(lineout_domain::ledger::Entry, OffsetDateTime)>>;
    /// One entry by id (an import checks whether its reference is already there).
    fn ledger_entry(&mut self, id: &str) -> StoreResult<Option<(lineout_domain::ledger::Entry, OffsetDateTime)>>;

    // API tokens.
    fn insert_token(&mut self, token: &TokenRecord) -> StoreResult<()>;
    fn find_token(&mut self, secret_hash: &str) -> StoreResult<Option<TokenRecord>>;

    // Records: personal data, legal holds, exports, privacy requests (see `records_port`).
    fn records(&mut self) -> &mut dyn crate::records_port::RecordsConn;
    // Fraud guards (migration 6): risk facts, case origins, the account lock's lift, fraud codes.
    /// When the line's SIM last changed and when its account's contacts last changed.
    fn risk_facts(&mut self, line: &LineId) -> StoreResult<(Option<OffsetDateTime>, Option<OffsetDateTime>)>;
    /// Records who opened a case (an actor key such as `client:tok_1`) and from which client address.
    fn record_case_origin(
        &mut self,
        case: &CaseId,
        actor: &str,
        client_addr: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Cases opened by this actor at or after `since`.
    /// (Counts at most `at_most`: the burst signal only asks whether a threshold is reached.)
    fn cases_opened_by(&mut self, actor: &str, since: OffsetDateTime, at_most: u32) -> StoreResult<u32>;
    /// Cases opened from this client address at or after `since`.
    fn cases_opened_from(&mut self, client_addr: &str, since: OffsetDateTime, at_most: u32) -> StoreResult<u32>;
    /// Sets an account's locks; false when there is no such account.
    fn set_account_locks(
        &mut self,
        account: &AccountId,
        locks: lineout_domain::account::Locks,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Records a request to lift the account's lock at `effective_at`; false if one is pending.
    fn put_lock_lift(
        &mut self,
        account: &AccountId,
        requested_at: OffsetDateTime,
        effective_at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// The pending lift's effective time, if any.
    fn lock_lift(&mut self, account: &AccountId) -> StoreResult<Option<OffsetDateTime>>;
    /// Cancels a pending lift; false if there was none.
    fn cancel_lock_lift(&mut self, account: &AccountId) -> StoreResult<bool>;
    /// Takes (removes and returns) up to `limit` lifts due at `now`; another node skips them.
    fn take_due_lock_lifts(&mut self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<AccountId>>;
    /// Stores the hash of a "this wasn't me" code bound to a case.
    fn insert_fraud_code(&mut self, code_hash: &str, case: &CaseId, now: OffsetDateTime) -> StoreResult<()>;
    /// Uses an unused code: marks it used and returns its case; `None` if unknown or used.
    fn use_fraud_code(&mut self, code_hash: &str, now: OffsetDateTime) -> StoreResult<Option<CaseId>>;
    /// Records when a line's SIM last changed (an imported date from the operator's systems).
    fn set_sim_changed_at(&mut self, line: &LineId, at: OffsetDateTime) -> StoreResult<()>;
    /// The numbers of an account's lines, by line id (at most `limit`).
    fn account_msisdns(&mut self, account: &AccountId, limit: u32) -> StoreResult<Vec<Msisdn>>;
    // Staff of the console and their sessions.
    fn insert_staff(&mut self, staff: &StaffRecord) -> StoreResult<()>;
    fn find_staff_by_username(&mut self, username: &str) -> StoreResult<Option<StaffRecord>>;
    fn insert_staff_session(&mut self, session: &StaffSession) -> StoreResult<()>;
    /// The unexpired session with this secret hash and its staff member (enabled only).
    fn find_staff_session(
        &mut self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(StaffSession, StaffRecord)>>;
    fn delete_staff_session(&mut self, secret_hash: &str) -> StoreResult<bool>;
    /// Deletes at most `limit` sessions expired before `now`; returns how many.
    fn purge_staff_sessions(&mut self, now: OffsetDateTime, limit: u32) -> StoreResult<u64>;

    // The customer portal: one sign-in code per line (replaced by the next) and sessions.
    fn put_portal_code(&mut self, code: &PortalCode) -> StoreResult<()>;
    fn get_portal_code(&mut self, line_id: &str) -> StoreResult<Option<PortalCode>>;
    fn insert_portal_session(&mut self, session: &PortalSession) -> StoreResult<()>;
    /// The unexpired portal session with this secret hash.
    fn find_portal_session(&mut self, secret_hash: &str, now: OffsetDateTime) -> StoreResult<Option<PortalSession>>;
    fn delete_portal_session(&mut self, secret_hash: &str) -> StoreResult<bool>;
    /// Deletes at most `limit` portal sessions expired before `now`; returns how many.
    fn purge_portal_sessions(&mut self, now: OffsetDateTime, limit: u32) -> StoreResult<u64>;
}

/// An adapter's failure: retryable ones are retried with backoff, others dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdapterError {
    pub retryable: bool,
    pub message: String,
}

impl AdapterError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { retryable: true, message: message.into() }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { retryable: false, message: message.into() }
    }
}

/// Where a message can go, from the account's contacts at sending time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub email: Option<Email>,
    pub sms: Option<Msisdn>,
}

/// A message to a customer, rendered for every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub case_id: CaseId,
    pub notice: Notice,
    pub language: Language,
    pub to: Recipient,
    pub subject: String,
    /// The email's plain-text body.
    pub body: String,
    /// The SMS text (short by design).
    pub sms_text: String,
    /// The message's authenticity code, printed in both texts.
    pub auth_code: String,
}

/// How a message went out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// `email`, `sms` or `email+sms`.
    pub channel: String,
    /// The Message-ID and the SMSC message ids, for delivery receipts.
    pub provider_ids: Vec<String>,
}

/// A message as recorded: its authenticity code and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub effect_id: String,
    pub case_id: CaseId,
    pub notice: Notice,
    pub auth_code: String,
    /// `queued`, `sent`, `delivered` or `failed`.
    pub state: String,
    pub created_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
}

/// An email ready to send (already rendered in the customer's language).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: Email,
    pub subject: String,
    /// Plain-text body (UTF-8).
    pub text: String,
    pub language: Language,
}

/// An SMS ready to send: the transport picks the encoding (GSM-7 when every character
/// allows, else UCS-2) and splits long texts into concatenated parts (UDH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    pub to: Msisdn,
    pub text: String,
}

/// What the SMSC accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSubmitted {
    /// The SMSC's message id of each part, in order.
    pub message_ids: Vec<String>,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
    pub segments: u32,
}

/// A delivery receipt the SMSC sent back (`deliver_sm` with a receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The SMSC message id it refers to.
    pub message_id: String,
    /// True for `DELIVRD`.
    pub delivered: bool,
    /// The receipt's `stat:` value (`DELIVRD`, `UNDELIV`, `EXPIRED`, `REJECTD`, ...).
    pub status: String,
}

/// Email over SMTP. Returns the Message-ID of the accepted message.
#[async_trait::async_trait]
pub trait EmailTransport: Send + Sync {
    async fn send_email(&self, idempotency_key: &str, email: &OutgoingEmail) -> Result<String, AdapterError>;
}

/// SMS over SMPP.
#[async_trait::async_trait]
pub trait SmsTransport: Send + Sync {
    async fn send_sms(&self, idempotency_key: &str, sms: &OutgoingSms) -> Result<SmsSubmitted, AdapterError>;
}

/// Signed webhooks: POSTs `body` (a CloudEvents 1.0 JSON event) to the configured
/// endpoint named `endpoint`, signed with that endpoint's secret.
#[async_trait::async_trait]
pub trait WebhookTransport: Send + Sync {
    async fn post(&self, idempotency_key: &str, endpoint: &str, body: &str) -> Result<(), AdapterError>;
}

/// A request to remove a line from the network.
#[derive(Debug, Clone, PartialEq)]
pub struct DeprovisionRequest {
    pub case_id: CaseId,
    pub effect: lineout_domain::effects::Effect,
}

/// Network elements (HLR/HSS, SM-DP+). "Already gone" answers count as success.
#[async_trait::async_trait]
pub trait Network: Send + Sync {
    async fn deprovision(&self, idempotency_key: &str, request: &DeprovisionRequest) -> Result<(), AdapterError>;
}

/// Sends messages to customers on their contact channels.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, idempotency_key: &str, message: &Message) -> Result<Delivery, AdapterError>;
}

/// The operator's payment system; returns the refund's reference. `payout` says how the
/// money reaches the customer (original payment method or a check).
#[async_trait::async_trait]
pub trait Payments: Send + Sync {
    async fn refund(
        &self,
        idempotency_key: &str,
        account: &AccountId,
        amount: Money,
        payout: &lineout_domain::effects::Payout,
    ) -> Result<String, AdapterError>;
}
