//! The [`Conn`] port implemented once for both backends: each method is one or two
//! statements over the [`Db`] seam, with constraint violations mapped to port
//! errors by constraint name.
//!
//! A failed statement leaves the transaction usable in SQLite but aborts it in
//! PostgreSQL; callers that want to continue after an error wrap the work in a
//! savepoint and roll back to it (as the group-commit writer does).

use crate::codec::{
    self, account_columns, device_columns, event_columns, from_ms, int_of, line_columns, ms, outbox_columns,
    timer_columns, token_columns,
};
use crate::db::{Db, DbError, Dialect, Row, TxOp, Val, corrupt};
use crate::schema::terminal_statuses;
use lineout_app::ports::{
    CaseFilter, CaseRecord, Conn, DueTimer, MessageRecord, NumberFate, NumberFilter, NumberRecord, NumberState,
    OutboxRow, OutboxStats, OutboxStatus, PortalCode, PortalSession, StaffRecord, StaffSession, StoreError,
    StoreResult, StoredEvent, TimerRow, TokenRecord, Upsert,
};
use lineout_domain::account::{Account, Device, Line, LineStatus};
use lineout_domain::case::{Case, CaseKind, Notice, Status, TimerKind};
use lineout_domain::values::{AccountId, CaseId, DeviceId, LineId, Msisdn};
use time::OffsetDateTime;

mod records;
mod staff;

/// A connection of either backend.
pub(crate) struct SqlConn<D> {
    db: D,
}

const ACCOUNT_ERRORS: &[(&str, StoreError)] = &[("accounts_pkey", StoreError::Conflict("account_id"))];
const LINE_ERRORS: &[(&str, StoreError)] = &[
    ("lines_account_id_fkey", StoreError::MissingReference("account")),
    ("lines_msisdn_key", StoreError::Conflict("line_msisdn")),
    ("lines_pkey", StoreError::Conflict("line_id")),
];
const DEVICE_ERRORS: &[(&str, StoreError)] = &[
    ("devices_line_id_fkey", StoreError::MissingReference("line")),
    ("devices_pkey", StoreError::Conflict("device_id")),
];
const CASE_ERRORS: &[(&str, StoreError)] = &[
    ("cases_open_line_key", StoreError::Conflict("case_open_for_line")),
    ("cases_pkey", StoreError::Conflict("case_id")),
];
const EVENT_ERRORS: &[(&str, StoreError)] = &[("events_pkey", StoreError::Conflict("event_seq"))];
const OUTBOX_ERRORS: &[(&str, StoreError)] = &[("outbox_pkey", StoreError::Conflict("outbox_id"))];
const TOKEN_ERRORS: &[(&str, StoreError)] = &[
    ("api_tokens_pkey", StoreError::Conflict("token_id")),
    ("api_tokens_secret_hash_key", StoreError::Conflict("token_secret")),
];

impl<D: Db> SqlConn<D> {
    pub(crate) fn new(db: D) -> Self {
        Self { db }
    }

    fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.db.dialect() {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    fn exec(&mut self, sql: &str, params: &[Val<'_>]) -> StoreResult<u64> {
        self.db.execute(sql, params).map_err(DbError::into_store)
    }

    fn exec_mapped(&mut self, sql: &str, params: &[Val<'_>], known: &[(&str, StoreError)]) -> StoreResult<u64> {
        self.db.execute(sql, params).map_err(|e| e.mapped(known))
    }

    fn tx(&mut self, op: TxOp) -> StoreResult<()> {
        self.db.tx(op).map_err(DbError::into_store)
    }

    fn rows<T>(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        decode: impl Fn(&dyn Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        self.db.query(sql, params, &mut |r| {
            out.push(decode(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn row<T>(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        decode: impl Fn(&dyn Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let mut out = None;
        self.db.query(sql, params, &mut |r| {
            if out.is_none() {
                out = Some(decode(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Inserts a row unless its id exists, else updates it only if some column
    /// differs: re-importing the same data changes nothing, not even `updated_at`.
    fn upsert(
        &mut self,
        insert: &str,
        update: &str,
        params: &[Val<'_>],
        known: &[(&str, StoreError)],
    ) -> StoreResult<Upsert> {
        if self.exec_mapped(insert, params, known)? == 1 {
            return Ok(Upsert::Inserted);
        }
        Ok(if self.exec_mapped(update, params, known)? == 0 { Upsert::Unchanged } else { Upsert::Updated })
    }
}

fn limit(n: u32) -> Val<'static> {
    Val::Int(i64::from(n))
}

fn message_record(r: &dyn Row) -> StoreResult<MessageRecord> {
    let notice = r.text(2)?;
    Ok(MessageRecord {
        effect_id: r.text(0)?,
        case_id: codec::case_id(r, 1)?,
        notice: Notice::parse(&notice).ok_or_else(|| corrupt(format!("unknown notice {notice}")))?,
        auth_code: r.text(3)?,
        state: r.text(4)?,
        created_at: from_ms(r.int(5)?)?,
        sent_at: r.opt_int(6)?.map(from_ms).transpose()?,
    })
}

fn number_record(r: &dyn Row) -> StoreResult<NumberRecord> {
    let msisdn = Msisdn::from_stored(&r.text(0)?).map_err(|e| corrupt(format!("msisdn: {e}")))?;
    let fate = match r.text(1)?.as_str() {
        "disconnected" => NumberFate::Disconnected,
        "ported_out" => NumberFate::PortedOut,
        other => return Err(corrupt(format!("unknown number fate {other}"))),
    };
    Ok(NumberRecord {
        msisdn,
        fate,
        disconnected_at: from_ms(r.int(2)?)?,
        available_at: r.opt_int(3)?.map(from_ms).transpose()?,
        case_id: codec::case_id(r, 4)?,
    })
}

fn case_state(r: &dyn Row) -> StoreResult<Case> {
    serde_json::from_str(&r.text(0)?).map_err(|e| corrupt(format!("case state: {e}")))
}

fn case_record(r: &dyn Row) -> StoreResult<CaseRecord> {
    Ok(CaseRecord { case: case_state(r)?, last_hash: r.text(1)? })
}

/// The column values of a case's projection, in the order of `INSERT_CASE`.
struct CaseColumns {
    state: String,
    opened_at: i64,
    updated_at: i64,
    version: i64,
}

impl CaseColumns {
    fn of(case: &Case) -> StoreResult<Self> {
        Ok(Self {
            state: serde_json::to_string(case).map_err(|e| StoreError::Backend(format!("case state: {e}")))?,
            opened_at: ms(case.opened_at),
            updated_at: ms(case.updated_at),
            version: int_of(case.version, "case version")?,
        })
    }
}

// Upserts: the insert's `$n` and the update's `$n` are the same parameters.
const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, holder_name, email, alt_phone, language, pin_hash, \
    lock_port_out, lock_sim_change, lock_cancellation, billing_cycle_day, kind, owed_cents, owed_currency, \
    prepaid_cents, prepaid_currency, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) \
    ON CONFLICT (id) DO NOTHING";
const UPDATE_ACCOUNT: &str = "UPDATE accounts SET holder_name = $2, email = $3, alt_phone = $4, language = $5, \
    pin_hash = $6, lock_port_out = $7, lock_sim_change = $8, lock_cancellation = $9, billing_cycle_day = $10, \
    kind = $11, owed_cents = $12, owed_currency = $13, prepaid_cents = $14, prepaid_currency = $15, updated_at = $16 \
    WHERE id = $1 AND (holder_name IS DISTINCT FROM $2 OR email IS DISTINCT FROM $3 \
    OR alt_phone IS DISTINCT FROM $4 OR language IS DISTINCT FROM $5 OR pin_hash IS DISTINCT FROM $6 \
    OR lock_port_out IS DISTINCT FROM $7 OR lock_sim_change IS DISTINCT FROM $8 \
    OR lock_cancellation IS DISTINCT FROM $9 OR billing_cycle_day IS DISTINCT FROM $10 OR kind IS DISTINCT FROM $11 \
    OR owed_cents IS DISTINCT FROM $12 OR owed_currency IS DISTINCT FROM $13 \
    OR prepaid_cents IS DISTINCT FROM $14 OR prepaid_currency IS DISTINCT FROM $15)";

const INSERT_LINE: &str = "INSERT INTO lines (id, account_id, msisdn, iccid, imsi, eid, plan, status, created_at, \
    updated_at, monthly_charge_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) ON CONFLICT (id) DO NOTHING";
const UPDATE_LINE: &str = "UPDATE lines SET account_id = $2, msisdn = $3, iccid = $4, imsi = $5, eid = $6, \
    plan = $7, status = $8, updated_at = $9, monthly_charge_cents = $10 \
    WHERE id = $1 AND (account_id IS DISTINCT FROM $2 OR msisdn IS DISTINCT FROM $3 OR iccid IS DISTINCT FROM $4 \
    OR imsi IS DISTINCT FROM $5 OR eid IS DISTINCT FROM $6 OR plan IS DISTINCT FROM $7 OR status IS DISTINCT FROM $8 \
    OR monthly_charge_cents IS DISTINCT FROM $10)";

const INSERT_DEVICE: &str = "INSERT INTO devices (id, line_id, imei, model, price_cents, currency, ownership, \
    must_return, created_at, updated_at, remaining_installments_cents) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) ON CONFLICT (id) DO NOTHING";
const UPDATE_DEVICE: &str = "UPDATE devices SET line_id = $2, imei = $3, model = $4, price_cents = $5, \
    currency = $6, ownership = $7, must_return = $8, updated_at = $9, remaining_installments_cents = $10 \
    WHERE id = $1 AND (line_id IS DISTINCT FROM $2 OR imei IS DISTINCT FROM $3 OR model IS DISTINCT FROM $4 \
    OR price_cents IS DISTINCT FROM $5 OR currency IS DISTINCT FROM $6 OR ownership IS DISTINCT FROM $7 \
    OR must_return IS DISTINCT FROM $8 OR remaining_installments_cents IS DISTINCT FROM $10)";

pub(crate) const INSERT_CASE: &str = "INSERT INTO cases (id, status, channel, line_id, account_id, opened_at, updated_at, \
    version, last_hash, state, kind) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub(crate) const UPDATE_CASE: &str = "UPDATE cases SET status = $2, channel = $3, line_id = $4, account_id = $5, \
    opened_at = $6, updated_at = $7, version = $8, last_hash = $9, state = $10 WHERE id = $1 AND version = $11";

// Claims: SQLite has one writer at a time, so a rowid subquery is enough; PostgreSQL
// skips rows another node is claiming right now instead of waiting for them.
pub(crate) const SQLITE_CLAIM_TIMERS: &str = concat!(
    "UPDATE timers SET lease_until = $1 WHERE rowid IN (",
    "SELECT rowid FROM timers WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) ",
    "ORDER BY due_at LIMIT $3) RETURNING ",
    timer_columns!()
);
pub(crate) const POSTGRES_CLAIM_TIMERS: &str = concat!(
    "UPDATE timers SET lease_until = $1 WHERE (case_id, kind) IN (",
    "SELECT case_id, kind FROM timers WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) ",
    "ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING ",
    timer_columns!()
);
pub(crate) const SQLITE_CLAIM_OUTBOX: &str = concat!(
    "UPDATE outbox SET lease_until = $1 WHERE rowid IN (",
    "SELECT rowid FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 ",
    "AND (lease_until IS NULL OR lease_until <= $2) ORDER BY next_attempt_at, id LIMIT $3) RETURNING ",
    outbox_columns!()
);
pub(crate) const POSTGRES_CLAIM_OUTBOX: &str = concat!(
    "UPDATE outbox SET lease_until = $1 WHERE id IN (",
    "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 ",
    "AND (lease_until IS NULL OR lease_until <= $2) ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) ",
    "RETURNING ",
    outbox_columns!()
);

// The other statements, named so the query-plan test (`plans`) can EXPLAIN each one.
pub(crate) const GET_ACCOUNT: &str = concat!("SELECT ", account_columns!(), " FROM accounts WHERE id = $1");
pub(crate) const GET_LINE: &str = concat!("SELECT ", line_columns!(), " FROM lines WHERE id = $1");
pub(crate) const FIND_LINE_BY_MSISDN: &str = concat!("SELECT ", line_columns!(), " FROM lines WHERE msisdn = $1");
pub(crate) const SET_LINE_STATUS: &str =
    "UPDATE lines SET updated_at = CASE WHEN status = $2 THEN updated_at ELSE $3 END, status = $2 WHERE id = $1";
pub(crate) const GET_DEVICE: &str = concat!("SELECT ", device_columns!(), " FROM devices WHERE id = $1");
pub(crate) const DEVICES_FOR_LINE: &str =
    concat!("SELECT ", device_columns!(), " FROM devices WHERE line_id = $1 ORDER BY id");
pub(crate) const GET_CASE: &str = "SELECT state, last_hash FROM cases WHERE id = $1";
pub(crate) const OPEN_CASE_FOR_LINE: &str = concat!(
    "SELECT id FROM cases WHERE line_id = $1 AND kind = $2 AND status NOT IN ",
    terminal_statuses!(),
    " LIMIT 1"
);
pub(crate) const RECORD_DISCONNECT: &str = "INSERT INTO numbers (msisdn, fate, disconnected_at, available_at, case_id) \
    VALUES ($1, 'disconnected', $2, $3, $4) ON CONFLICT (msisdn) DO UPDATE SET fate = 'disconnected', \
    disconnected_at = $2, available_at = $3, case_id = $4";
pub(crate) const LOG_DISCONNECT: &str =
    "INSERT INTO disconnections (at, msisdn, case_id) VALUES ($1, $2, $3) ON CONFLICT (at, msisdn) DO NOTHING";
pub(crate) const RECORD_PORT_OUT: &str = "INSERT INTO numbers (msisdn, fate, disconnected_at, available_at, case_id) \
    VALUES ($1, 'ported_out', $2, NULL, $3) ON CONFLICT (msisdn) DO UPDATE SET fate = 'ported_out', \
    disconnected_at = $2, available_at = NULL, case_id = $3";
pub(crate) const FIND_LINE_BY_ICCID: &str =
    concat!("SELECT ", line_columns!(), " FROM lines WHERE iccid = $1 ORDER BY updated_at DESC LIMIT 1");
pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages (effect_id, case_id, notice, auth_code, state, \
    created_at) VALUES ($1, $2, $3, $4, 'queued', $5) ON CONFLICT (effect_id) DO NOTHING";
pub(crate) const MESSAGE_COLUMNS_BY_EFFECT: &str =
    "SELECT effect_id, case_id, notice, auth_code, state, created_at, sent_at FROM messages WHERE effect_id = $1";
pub(crate) const MESSAGE_BY_CODE: &str =
    "SELECT effect_id, case_id, notice, auth_code, state, created_at, sent_at FROM messages WHERE auth_code = $1";
pub(crate) const MESSAGE_SENT: &str = "UPDATE messages SET state = CASE WHEN state = 'queued' THEN 'sent' ELSE state END, sent_at = $2 WHERE effect_id = $1";
pub(crate) const INSERT_MESSAGE_PART: &str =
    "INSERT INTO message_parts (provider_id, effect_id) VALUES ($1, $2) ON CONFLICT (provider_id) DO NOTHING";
pub(crate) const MESSAGE_PART: &str = "SELECT effect_id FROM message_parts WHERE provider_id = $1";
pub(crate) const MESSAGE_RECEIPT: &str = "UPDATE messages SET state = $2, delivered_at = $3 WHERE effect_id = $1";
pub(crate) const LIST_OUTBOX: &str =
    concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3");
pub(crate) const REQUEUE_OUTBOX: &str = "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, \
    lease_until = NULL, done_at = NULL WHERE id = $1 AND status = 'dead'";
pub(crate) const PIN_ATTEMPTS: &str = "SELECT failures, locked_until FROM pin_attempts WHERE line_id = $1";
pub(crate) const SET_PIN_ATTEMPTS: &str = "INSERT INTO pin_attempts (line_id, failures, locked_until) \
    VALUES ($1, $2, $3) ON CONFLICT (line_id) DO UPDATE SET failures = $2, locked_until = $3";
pub(crate) const PUT_VERIFICATION_CODE: &str =
    "INSERT INTO verification_codes (code_id, case_id, code_hash, created_at) VALUES ($1, $2, $3, $4)";
pub(crate) const FIND_VERIFICATION_CODE: &str =
    "SELECT code_id FROM verification_codes WHERE case_id = $1 AND code_hash = $2 ORDER BY created_at DESC LIMIT 1";
pub(crate) const RATE_WINDOW: &str = "SELECT window_start, count FROM rate_windows WHERE key = $1";
pub(crate) const SET_RATE_WINDOW: &str = "INSERT INTO rate_windows (key, window_start, count) VALUES ($1, $2, $3) \
    ON CONFLICT (key) DO UPDATE SET window_start = $2, count = $3";
pub(crate) const APPEND_LEDGER: &str = "INSERT INTO ledger_entries (id, account_id, case_id, kind, amount_cents, \
    currency, description, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING";
pub(crate) const LEDGER: &str = "SELECT id, account_id, case_id, kind, amount_cents, currency, description, at \
    FROM ledger_entries WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3";
pub(crate) const LEDGER_ENTRY: &str = "SELECT id, account_id, case_id, kind, amount_cents, currency, description, at \
    FROM ledger_entries WHERE id = $1";
pub(crate) const GET_NUMBER: &str =
    "SELECT msisdn, fate, disconnected_at, available_at, case_id FROM numbers WHERE msisdn = $1";
pub(crate) const DISCONNECTIONS: &str = "SELECT at, msisdn FROM disconnections WHERE at >= $1 AND at < $2 \
    AND (at > $3 OR (at = $3 AND msisdn > $4)) ORDER BY at, msisdn LIMIT $5";
pub(crate) const PUT_TRANSFER_PIN: &str = "INSERT INTO transfer_pins (case_id, pin_id, pin_hash) VALUES ($1, $2, $3) \
    ON CONFLICT (case_id) DO UPDATE SET pin_id = $2, pin_hash = $3";
pub(crate) const GET_TRANSFER_PIN: &str = "SELECT pin_id, pin_hash FROM transfer_pins WHERE case_id = $1";
pub(crate) const APPEND_EVENT: &str =
    "INSERT INTO events (case_id, seq, at, kind, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const EVENTS_FOR_CASE: &str =
    concat!("SELECT ", event_columns!(), " FROM events WHERE case_id = $1 ORDER BY seq");
pub(crate) const CASE_IDS: &str = "SELECT id FROM cases WHERE id > $1 ORDER BY id LIMIT $2";
pub(crate) const SET_TIMER: &str = "INSERT INTO timers (case_id, kind, due_at, lease_until) VALUES ($1, $2, $3, NULL) \
    ON CONFLICT (case_id, kind) DO UPDATE SET due_at = excluded.due_at, lease_until = NULL";
pub(crate) const CANCEL_TIMER: &str = "DELETE FROM timers WHERE case_id = $1 AND kind = $2";
pub(crate) const CANCEL_ALL_TIMERS: &str = "DELETE FROM timers WHERE case_id = $1";
pub(crate) const FIRE_TIMER: &str = "DELETE FROM timers WHERE case_id = $1 AND kind = $2 AND due_at = $3";
pub(crate) const TIMERS_FOR_CASE: &str =
    concat!("SELECT ", timer_columns!(), " FROM timers WHERE case_id = $1 ORDER BY due_at, kind");
pub(crate) const INSERT_OUTBOX: &str = "INSERT INTO outbox (id, case_id, kind, payload, status, attempts, \
    next_attempt_at, lease_until, last_error, created_at, done_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, $10)";
pub(crate) const COMPLETE_OUTBOX: &str =
    "UPDATE outbox SET status = 'done', attempts = $2, done_at = $3, lease_until = NULL WHERE id = $1";
pub(crate) const RETRY_OUTBOX: &str =
    "UPDATE outbox SET attempts = $2, next_attempt_at = $3, last_error = $4, lease_until = NULL WHERE id = $1";
/// `done_at` records when delivery was given up.
pub(crate) const DEAD_LETTER_OUTBOX: &str = "UPDATE outbox SET status = 'dead', attempts = $2, last_error = $3, \
    done_at = $4, lease_until = NULL WHERE id = $1";
pub(crate) const OUTBOX_FOR_CASE: &str =
    concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE case_id = $1 ORDER BY created_at, id");
/// Three index lookups on (status, …) rather than one scan of every row ever sent.
pub(crate) const OUTBOX_STATS: &str = "SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'pending'), \
    (SELECT COUNT(*) FROM outbox WHERE status = 'dead'), \
    (SELECT MIN(created_at) FROM outbox WHERE status = 'pending')";
pub(crate) const CASE_COUNTS: &str = "SELECT status, COUNT(*) FROM cases GROUP BY status ORDER BY status";
pub(crate) const EARLIEST_TIMER: &str = "SELECT MIN(due_at) FROM timers";
pub(crate) const INSERT_TOKEN: &str =
    "INSERT INTO api_tokens (id, secret_hash, scopes, label, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const FIND_TOKEN: &str = concat!("SELECT ", token_columns!(), " FROM api_tokens WHERE secret_hash = $1");

/// The `list_cases` statement for `filter` and its parameters: one statement per
/// combination of filters (at most 2^6, each prepared once), so each can use its index
/// instead of a catch-all `$n IS NULL OR …` plan.
pub(crate) fn list_cases_query(filter: &CaseFilter) -> (String, Vec<Val<'_>>) {
    let mut sql = String::from("SELECT state FROM cases WHERE id > $1");
    // `opened_from` is inclusive and `opened_to` exclusive, so adjacent ranges do not overlap.
    let mut params: Vec<Val<'_>> = vec![filter.after.as_ref().map_or("", |a| a.as_str()).into()];
    let conditions: [(&str, Option<Val<'_>>); 6] = [
        ("status =", filter.status.map(|s| s.as_str().into())),
        ("channel =", filter.channel.map(|c| c.as_str().into())),
        ("line_id =", filter.line_id.as_ref().map(|l| l.as_str().into())),
        ("account_id =", filter.account_id.as_ref().map(|a| a.as_str().into())),
        ("opened_at >=", filter.opened_from.map(|t| ms(t).into())),
        ("opened_at <", filter.opened_to.map(|t| ms(t).into())),
    ];
    for (clause, value) in conditions {
        if let Some(v) = value {
            params.push(v);
            sql.push_str(&format!(" AND {clause} ${}", params.len()));
        }
    }
    params.push(limit(filter.limit));
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", params.len()));
    (sql, params)
}

impl<D: Db> Conn for SqlConn<D> {
    fn begin(&mut self) -> StoreResult<()> {
        // The driver knows its role: a writer takes the write lock up front.
        self.tx(TxOp::Begin)
    }
    fn commit(&mut self) -> StoreResult<()> {
        self.tx(TxOp::Commit)
    }
    fn rollback(&mut self) -> StoreResult<()> {
        self.tx(TxOp::Rollback)
    }
    fn savepoint(&mut self) -> StoreResult<()> {
        self.tx(TxOp::Savepoint)
    }
    fn release_savepoint(&mut self) -> StoreResult<()> {
        self.tx(TxOp::Release)
    }
    fn rollback_to_savepoint(&mut self) -> StoreResult<()> {
        self.tx(TxOp::RollbackTo)
    }

    fn upsert_account(&mut self, a: &Account, now: OffsetDateTime) -> StoreResult<Upsert> {
        let params = [
            a.id.as_str().into(),
            a.holder_name.as_str().into(),
            a.email.as_ref().map(|e| e.as_str()).into(),
            a.alt_phone.as_ref().map(|p| p.as_str()).into(),
            a.language.as_str().into(),
            a.pin_hash.as_deref().into(),
            a.locks.port_out.into(),
            a.locks.sim_change.into(),
            a.locks.cancellation.into(),
            i64::from(a.billing_cycle_day).into(),
            codec::account_kind_str(a.kind).into(),
            a.owed.cents.into(),
            a.owed.currency.as_str().into(),
            a.prepaid_balance.cents.into(),
            a.prepaid_balance.currency.as_str().into(),
            ms(now).into(),
        ];
        self.upsert(INSERT_ACCOUNT, UPDATE_ACCOUNT, &params, ACCOUNT_ERRORS)
    }

    fn get_account(&mut self, id: &AccountId) -> StoreResult<Option<Account>> {
        self.row(GET_ACCOUNT, &[id.as_str().into()], codec::account)
    }

    fn upsert_line(&mut self, l: &Line, now: OffsetDateTime) -> StoreResult<Upsert> {
        let params = [
            l.id.as_str().into(),
            l.account_id.as_str().into(),
            l.msisdn.as_str().into(),
            l.iccid.as_ref().map(|v| v.as_str()).into(),
            l.imsi.as_ref().map(|v| v.as_str()).into(),
            l.eid.as_ref().map(|v| v.as_str()).into(),
            l.plan.as_str().into(),
            l.status.as_str().into(),
            ms(now).into(),
            l.monthly_charge_cents.into(),
        ];
        self.upsert(INSERT_LINE, UPDATE_LINE, &params, LINE_ERRORS)
    }

    fn get_line(&mut self, id: &LineId) -> StoreResult<Option<Line>> {
        self.row(GET_LINE, &[id.as_str().into()], codec::line)
    }

    fn find_line_by_msisdn(&mut self, msisdn: &Msisdn) -> StoreResult<Option<Line>> {
        self.row(FIND_LINE_BY_MSISDN, &[msisdn.as_str().into()], codec::line)
    }

    fn find_line_by_iccid(&mut self, iccid: &lineout_domain::values::Iccid) -> StoreResult<Option<Line>> {
        self.row(FIND_LINE_BY_ICCID, &[iccid.as_str().into()], codec::line)
    }

    fn set_line_status(&mut self, id: &LineId, status: LineStatus, now: OffsetDateTime) -> StoreResult<()> {
        // An unchanged status leaves `updated_at` alone, like an unchanged upsert.
        let n = self.exec(SET_LINE_STATUS, &[id.as_str().into(), status.as_str().into(), ms(now).into()])?;
        if n == 0 { Err(StoreError::MissingReference("line")) } else { Ok(()) }
    }

    fn upsert_device(&mut self, d: &Device, now: OffsetDateTime) -> StoreResult<Upsert> {
        let params = [
            d.id.as_str().into(),
            d.line_id.as_str().into(),
            d.imei.as_str().into(),
            d.model.as_str().into(),
            d.price.cents.into(),
            d.price.currency.as_str().into(),
            codec::ownership_str(d.ownership).into(),
            d.must_return.into(),
            ms(now).into(),
            d.remaining_installments_cents.into(),
        ];
        self.upsert(INSERT_DEVICE, UPDATE_DEVICE, &params, DEVICE_ERRORS)
    }

    fn get_device(&mut self, id: &DeviceId) -> StoreResult<Option<Device>> {
        self.row(GET_DEVICE, &[id.as_str().into()], codec::device)
    }

    fn devices_for_line(&mut self, line: &LineId) -> StoreResult<Vec<Device>> {
        self.rows(DEVICES_FOR_LINE, &[line.as_str().into()], codec::device)
    }

    fn get_case(&mut self, id: &CaseId) -> StoreResult<Option<CaseRecord>> {
        self.row(GET_CASE, &[id.as_str().into()], case_record)
    }

    fn open_case_for_line(&mut self, line: &LineId, kind: CaseKind) -> StoreResult<Option<CaseId>> {
        self.row(OPEN_CASE_FOR_LINE, &[line.as_str().into(), kind.as_str().into()], |r| codec::case_id(r, 0))
    }

    fn insert_case(&mut self, record: &CaseRecord) -> StoreResult<()> {
        let c = &record.case;
        let cols = CaseColumns::of(c)?;
        self.exec_mapped(
            INSERT_CASE,
            &[
                c.id.as_str().into(),
                c.status.as_str().into(),
                c.channel.as_str().into(),
                c.facts.line_id.as_str().into(),
                c.facts.account_id.as_str().into(),
                cols.opened_at.into(),
                cols.updated_at.into(),
                cols.version.into(),
                record.last_hash.as_str().into(),
                cols.state.as_str().into(),
                c.kind.as_str().into(),
            ],
            CASE_ERRORS,
        )?;
        Ok(())
    }

    fn update_case(&mut self, record: &CaseRecord, expected_version: u64) -> StoreResult<()> {
        let c = &record.case;
        let cols = CaseColumns::of(c)?;
        let n = self.exec_mapped(
            UPDATE_CASE,
            &[
                c.id.as_str().into(),
                c.status.as_str().into(),
                c.channel.as_str().into(),
                c.facts.line_id.as_str().into(),
                c.facts.account_id.as_str().into(),
                cols.opened_at.into(),
                cols.updated_at.into(),
                cols.version.into(),
                record.last_hash.as_str().into(),
                cols.state.as_str().into(),
                int_of(expected_version, "expected version")?.into(),
            ],
            CASE_ERRORS,
        )?;
        if n == 0 { Err(StoreError::Conflict("case_version")) } else { Ok(()) }
    }

    fn list_cases(&mut self, filter: &CaseFilter) -> StoreResult<Vec<Case>> {
        let (sql, params) = list_cases_query(filter);
        self.rows(&sql, &params, case_state)
    }

    fn append_events(&mut self, events: &[StoredEvent]) -> StoreResult<()> {
        for e in events {
            self.exec_mapped(
                APPEND_EVENT,
                &[
                    e.case_id.as_str().into(),
                    int_of(e.seq, "event seq")?.into(),
                    ms(e.at).into(),
                    e.kind.as_str().into(),
                    e.body.as_str().into(),
                    e.prev_hash.as_str().into(),
                    e.hash.as_str().into(),
                ],
                EVENT_ERRORS,
            )?;
        }
        Ok(())
    }

    fn events(&mut self, case: &CaseId) -> StoreResult<Vec<StoredEvent>> {
        self.rows(EVENTS_FOR_CASE, &[case.as_str().into()], codec::event)
    }

    fn case_ids(&mut self, after: Option<&CaseId>, limit_n: u32) -> StoreResult<Vec<CaseId>> {
        // Ids are non-empty, so "" sorts before every one of them.
        self.rows(CASE_IDS, &[after.map_or("", |a| a.as_str()).into(), limit(limit_n)], |r| codec::case_id(r, 0))
    }

    fn set_timer(&mut self, timer: TimerRow<'_>) -> StoreResult<()> {
        self.exec(SET_TIMER, &[timer.case_id.as_str().into(), timer.kind.as_str().into(), ms(timer.due_at).into()])?;
        Ok(())
    }

    fn cancel_timer(&mut self, case: &CaseId, kind: TimerKind) -> StoreResult<()> {
        self.exec(CANCEL_TIMER, &[case.as_str().into(), kind.as_str().into()])?;
        Ok(())
    }

    fn cancel_all_timers(&mut self, case: &CaseId) -> StoreResult<()> {
        self.exec(CANCEL_ALL_TIMERS, &[case.as_str().into()])?;
        Ok(())
    }

    fn claim_due_timers(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit_n: u32,
    ) -> StoreResult<Vec<DueTimer>> {
        let sql = self.pick(SQLITE_CLAIM_TIMERS, POSTGRES_CLAIM_TIMERS);
        let mut timers = self.rows(sql, &[ms(lease_until).into(), ms(now).into(), limit(limit_n)], codec::timer)?;
        // RETURNING does not promise an order.
        timers.sort_by(|a, b| (a.due_at, &a.case_id, a.kind).cmp(&(b.due_at, &b.case_id, b.kind)));
        Ok(timers)
    }

    fn fire_timer(&mut self, timer: &DueTimer) -> StoreResult<bool> {
        let n = self
            .exec(FIRE_TIMER, &[timer.case_id.as_str().into(), timer.kind.as_str().into(), ms(timer.due_at).into()])?;
        Ok(n > 0)
    }

    fn timers(&mut self, case: &CaseId) -> StoreResult<Vec<DueTimer>> {
        self.rows(TIMERS_FOR_CASE, &[case.as_str().into()], codec::timer)
    }

    fn insert_outbox(&mut self, rows: &[OutboxRow]) -> StoreResult<()> {
        for o in rows {
            self.exec_mapped(
                INSERT_OUTBOX,
                &[
                    o.id.as_str().into(),
                    o.case_id.as_str().into(),
                    o.kind.as_str().into(),
                    o.payload.as_str().into(),
                    o.status.as_str().into(),
                    i64::from(o.attempts).into(),
                    ms(o.next_attempt_at).into(),
                    o.last_error.as_deref().into(),
                    ms(o.created_at).into(),
                    o.done_at.map(ms).into(),
                ],
                OUTBOX_ERRORS,
            )?;
        }
        Ok(())
    }

    fn claim_outbox(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit_n: u32,
    ) -> StoreResult<Vec<OutboxRow>> {
        let sql = self.pick(SQLITE_CLAIM_OUTBOX, POSTGRES_CLAIM_OUTBOX);
        let mut rows = self.rows(sql, &[ms(lease_until).into(), ms(now).into(), limit(limit_n)], codec::outbox)?;
        rows.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(rows)
    }

    fn complete_outbox(&mut self, id: &str, attempts: u32, now: OffsetDateTime) -> StoreResult<()> {
        let n = self.exec(COMPLETE_OUTBOX, &[id.into(), i64::from(attempts).into(), ms(now).into()])?;
        if n == 0 { Err(StoreError::MissingReference("outbox")) } else { Ok(()) }
    }

    fn retry_outbox(
        &mut self,
        id: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> StoreResult<()> {
        let n = self
            .exec(RETRY_OUTBOX, &[id.into(), i64::from(attempts).into(), ms(next_attempt_at).into(), error.into()])?;
        if n == 0 { Err(StoreError::MissingReference("outbox")) } else { Ok(()) }
    }

    fn dead_letter_outbox(&mut self, id: &str, attempts: u32, error: &str, now: OffsetDateTime) -> StoreResult<()> {
        let n =
            self.exec(DEAD_LETTER_OUTBOX, &[id.into(), i64::from(attempts).into(), error.into(), ms(now).into()])?;
        if n == 0 { Err(StoreError::MissingReference("outbox")) } else { Ok(()) }
    }

    fn outbox_for_case(&mut self, case: &CaseId) -> StoreResult<Vec<OutboxRow>> {
        self.rows(OUTBOX_FOR_CASE, &[case.as_str().into()], codec::outbox)
    }

    fn outbox_stats(&mut self) -> StoreResult<OutboxStats> {
        let stats = self.row(OUTBOX_STATS, &[], |r| {
            Ok(OutboxStats {
                pending: u64::try_from(r.int(0)?).map_err(|_| corrupt("negative count"))?,
                dead: u64::try_from(r.int(1)?).map_err(|_| corrupt("negative count"))?,
                oldest_pending_at: r.opt_int(2)?.map(from_ms).transpose()?,
            })
        })?;
        Ok(stats.unwrap_or_default())
    }

    fn case_counts(&mut self) -> StoreResult<Vec<(Status, u64)>> {
        self.rows(CASE_COUNTS, &[], |r| {
            let status = r.text(0)?;
            let status = Status::parse(&status).ok_or_else(|| corrupt("unknown case status"))?;
            Ok((status, u64::try_from(r.int(1)?).map_err(|_| corrupt("negative count"))?))
        })
    }

    fn earliest_timer(&mut self) -> StoreResult<Option<OffsetDateTime>> {
        let due = self.row(EARLIEST_TIMER, &[], |r| r.opt_int(0))?;
        due.flatten().map(from_ms).transpose()
    }

    fn record_disconnect(
        &mut self,
        msisdn: &Msisdn,
        at: OffsetDateTime,
        available_at: OffsetDateTime,
        case: &CaseId,
    ) -> StoreResult<()> {
        let number = msisdn.as_str();
        self.exec(RECORD_DISCONNECT, &[number.into(), ms(at).into(), ms(available_at).into(), case.as_str().into()])?;
        self.exec(LOG_DISCONNECT, &[ms(at).into(), number.into(), case.as_str().into()])?;
        Ok(())
    }

    fn record_port_out(&mut self, msisdn: &Msisdn, at: OffsetDateTime, case: &CaseId) -> StoreResult<()> {
        self.exec(RECORD_PORT_OUT, &[msisdn.as_str().into(), ms(at).into(), case.as_str().into()])?;
        Ok(())
    }

    fn get_number(&mut self, msisdn: &Msisdn) -> StoreResult<Option<NumberRecord>> {
        self.row(GET_NUMBER, &[msisdn.as_str().into()], number_record)
    }

    fn list_numbers(&mut self, filter: &NumberFilter) -> StoreResult<Vec<NumberRecord>> {
        // `$1` (now) is bound in every variant; where the state needs no time it is only typed.
        let condition = match filter.state {
            None => "CAST($1 AS BIGINT) IS NOT NULL",
            Some(NumberState::Aging) => "fate = 'disconnected' AND available_at > $1",
            Some(NumberState::Available) => "fate = 'disconnected' AND available_at <= $1",
            Some(NumberState::PortedOut) => "fate = 'ported_out' AND CAST($1 AS BIGINT) IS NOT NULL",
        };
        let sql = format!(
            "SELECT msisdn, fate, disconnected_at, available_at, case_id FROM numbers \
             WHERE {condition} AND msisdn > $2 ORDER BY msisdn LIMIT $3"
        );
        let after = filter.after.as_ref().map_or("", Msisdn::as_str);
        self.rows(&sql, &[ms(filter.now).into(), after.into(), limit(filter.limit)], number_record)
    }

    fn disconnections(
        &mut self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        after: Option<&(OffsetDateTime, Msisdn)>,
        limit_n: u32,
    ) -> StoreResult<Vec<(OffsetDateTime, Msisdn)>> {
        let (after_at, after_number) = match after {
            Some((at, number)) => (ms(*at), number.as_str()),
            None => (ms(from) - 1, ""),
        };
        self.rows(
            DISCONNECTIONS,
            &[ms(from).into(), ms(to).into(), after_at.into(), after_number.into(), limit(limit_n)],
            |r| {
                let number = Msisdn::from_stored(&r.text(1)?).map_err(|e| corrupt(format!("msisdn: {e}")))?;
                Ok((from_ms(r.int(0)?)?, number))
            },
        )
    }

    fn put_transfer_pin(&mut self, case: &CaseId, pin_id: &str, pin_hash: &str) -> StoreResult<()> {
        self.exec(PUT_TRANSFER_PIN, &[case.as_str().into(), pin_id.into(), pin_hash.into()])?;
        Ok(())
    }

    fn get_transfer_pin(&mut self, case: &CaseId) -> StoreResult<Option<(String, String)>> {
        self.row(GET_TRANSFER_PIN, &[case.as_str().into()], |r| Ok((r.text(0)?, r.text(1)?)))
    }

    fn ensure_message(
        &mut self,
        effect_id: &str,
        case: &CaseId,
        notice: Notice,
        candidate_code: &str,
        now: OffsetDateTime,
    ) -> StoreResult<String> {
        self.exec_mapped(
            INSERT_MESSAGE,
            &[effect_id.into(), case.as_str().into(), notice.as_str().into(), candidate_code.into(), ms(now).into()],
            &[("messages_auth_code_key", StoreError::Conflict("message_code"))],
        )?;
        let existing = self.row(MESSAGE_COLUMNS_BY_EFFECT, &[effect_id.into()], message_record)?;
        existing.map(|m| m.auth_code).ok_or_else(|| corrupt("message vanished"))
    }

    fn message_sent(&mut self, effect_id: &str, provider_ids: &[String], now: OffsetDateTime) -> StoreResult<()> {
        self.exec(MESSAGE_SENT, &[effect_id.into(), ms(now).into()])?;
        for id in provider_ids {
            self.exec(INSERT_MESSAGE_PART, &[id.as_str().into(), effect_id.into()])?;
        }
        Ok(())
    }

    fn message_receipt(
        &mut self,
        provider_id: &str,
        delivered: bool,
        now: OffsetDateTime,
    ) -> StoreResult<Option<MessageRecord>> {
        let Some(effect_id) = self.row(MESSAGE_PART, &[provider_id.into()], |r| r.text(0))? else { return Ok(None) };
        let state = if delivered { "delivered" } else { "failed" };
        self.exec(MESSAGE_RECEIPT, &[effect_id.as_str().into(), state.into(), ms(now).into()])?;
        self.row(MESSAGE_COLUMNS_BY_EFFECT, &[effect_id.as_str().into()], message_record)
    }

    fn message_by_code(&mut self, code: &str) -> StoreResult<Option<MessageRecord>> {
        self.row(MESSAGE_BY_CODE, &[code.into()], message_record)
    }

    fn list_outbox(&mut self, status: OutboxStatus, after: Option<&str>, limit_n: u32) -> StoreResult<Vec<OutboxRow>> {
        self.rows(LIST_OUTBOX, &[status.as_str().into(), after.unwrap_or("").into(), limit(limit_n)], codec::outbox)
    }

    fn requeue_outbox(&mut self, id: &str, now: OffsetDateTime) -> StoreResult<bool> {
        Ok(self.exec(REQUEUE_OUTBOX, &[id.into(), ms(now).into()])? > 0)
    }

    fn pin_attempts(&mut self, line: &LineId) -> StoreResult<(u32, Option<OffsetDateTime>)> {
        let row = self.row(PIN_ATTEMPTS, &[line.as_str().into()], |r| {
            let failures = u32::try_from(r.int(0)?).map_err(|_| corrupt("pin failures"))?;
            Ok((failures, r.opt_int(1)?.map(from_ms).transpose()?))
        })?;
        Ok(row.unwrap_or((0, None)))
    }

    fn set_pin_attempts(
        &mut self,
        line: &LineId,
        failures: u32,
        locked_until: Option<OffsetDateTime>,
    ) -> StoreResult<()> {
        self.exec(
            SET_PIN_ATTEMPTS,
            &[line.as_str().into(), i64::from(failures).into(), Val::OptInt(locked_until.map(ms))],
        )?;
        Ok(())
    }

    fn put_verification_code(
        &mut self,
        case: &CaseId,
        code_id: &str,
        code_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.exec(PUT_VERIFICATION_CODE, &[code_id.into(), case.as_str().into(), code_hash.into(), ms(now).into()])?;
        Ok(())
    }

    fn find_verification_code(&mut self, case: &CaseId, code_hash: &str) -> StoreResult<Option<String>> {
        self.row(FIND_VERIFICATION_CODE, &[case.as_str().into(), code_hash.into()], |r| r.text(0))
    }

    fn rate_window(&mut self, key: &str) -> StoreResult<Option<(OffsetDateTime, u32)>> {
        self.row(RATE_WINDOW, &[key.into()], |r| {
            let count = u32::try_from(r.int(1)?).map_err(|_| corrupt("rate window count"))?;
            Ok((from_ms(r.int(0)?)?, count))
        })
    }

    fn set_rate_window(&mut self, key: &str, start: OffsetDateTime, count: u32) -> StoreResult<()> {
        self.exec(SET_RATE_WINDOW, &[key.into(), ms(start).into(), i64::from(count).into()])?;
        Ok(())
    }

    fn append_ledger(&mut self, entries: &[lineout_domain::ledger::Entry], at: OffsetDateTime) -> StoreResult<()> {
        for e in entries {
            self.exec(
                APPEND_LEDGER,
                &[
                    e.id.as_str().into(),
                    e.account_id.as_str().into(),
                    Val::OptText(e.case_id.as_ref().map(CaseId::as_str)),
                    e.kind.as_str().into(),
                    e.amount.cents.into(),
                    e.amount.currency.as_str().into(),
                    e.description.as_str().into(),
                    ms(at).into(),
                ],
            )?;
        }
        Ok(())
    }

    fn ledger(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
        limit_n: u32,
    ) -> StoreResult<Vec<(lineout_domain::ledger::Entry, OffsetDateTime)>> {
        self.rows(LEDGER, &[account.as_str().into(), after.unwrap_or("").into(), limit(limit_n)], ledger_row)
    }

    fn ledger_entry(&mut self, id: &str) -> StoreResult<Option<(lineout_domain::ledger::Entry, OffsetDateTime)>> {
        self.row(LEDGER_ENTRY, &[id.into()], ledger_row)
    }

    fn insert_token(&mut self, token: &TokenRecord) -> StoreResult<()> {
        let scopes = token.scopes.join(" ");
        self.exec_mapped(
            INSERT_TOKEN,
            &[
                token.id.as_str().into(),
                token.secret_hash.as_str().into(),
                scopes.as_str().into(),
                token.label.as_str().into(),
                ms(token.created_at).into(),
            ],
            TOKEN_ERRORS,
        )?;
        Ok(())
    }

    fn find_token(&mut self, secret_hash: &str) -> StoreResult<Option<TokenRecord>> {
        self.row(FIND_TOKEN, &[secret_hash.into()], codec::token)
    }

    fn insert_staff(&mut self, staff: &StaffRecord) -> StoreResult<()> {
        staff::insert_staff(self, staff)
    }

    fn find_staff_by_username(&mut self, username: &str) -> StoreResult<Option<StaffRecord>> {
        staff::find_staff_by_username(self, username)
    }

    fn insert_staff_session(&mut self, session: &StaffSession) -> StoreResult<()> {
        staff::insert_session(self, session)
    }

    fn find_staff_session(
        &mut self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(StaffSession, StaffRecord)>> {
        staff::find_session(self, secret_hash, now)
    }

    fn delete_staff_session(&mut self, secret_hash: &str) -> StoreResult<bool> {
        staff::delete_session(self, secret_hash)
    }

    fn purge_staff_sessions(&mut self, now: OffsetDateTime, limit: u32) -> StoreResult<u64> {
        staff::purge_sessions(self, now, limit)
    }

    fn put_portal_code(&mut self, code: &PortalCode) -> StoreResult<()> {
        staff::put_portal_code(self, code)
    }

    fn get_portal_code(&mut self, line_id: &str) -> StoreResult<Option<PortalCode>> {
        staff::get_portal_code(self, line_id)
    }

    fn insert_portal_session(&mut self, session: &PortalSession) -> StoreResult<()> {
        staff::insert_portal_session(self, session)
    }

    fn find_portal_session(&mut self, secret_hash: &str, now: OffsetDateTime) -> StoreResult<Option<PortalSession>> {
        staff::find_portal_session(self, secret_hash, now)
    }

    fn delete_portal_session(&mut self, secret_hash: &str) -> StoreResult<bool> {
        staff::delete_portal_session(self, secret_hash)
    }

    fn purge_portal_sessions(&mut self, now: OffsetDateTime, limit: u32) -> StoreResult<u64> {
        staff::purge_portal_sessions(self, now, limit)
    }

    fn risk_facts(&mut self, line: &LineId) -> StoreResult<(Option<OffsetDateTime>, Option<OffsetDateTime>)> {
        let row = self.row(RISK_FACTS, &[line.as_str().into()], |r| {
            Ok((r.opt_int(0)?.map(from_ms).transpose()?, r.opt_int(1)?.map(from_ms).transpose()?))
        })?;
        Ok(row.unwrap_or((None, None)))
    }

    fn record_case_origin(
        &mut self,
        case: &CaseId,
        actor: &str,
        client_addr: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.exec(INSERT_CASE_ORIGIN, &[case.as_str().into(), actor.into(), client_addr.into(), ms(at).into()])?;
        Ok(())
    }

    fn cases_opened_by(&mut self, actor: &str, since: OffsetDateTime, at_most: u32) -> StoreResult<u32> {
        let n =
            self.row(CASES_OPENED_BY, &[actor.into(), ms(since).into(), limit(at_most)], |r| r.int(0))?.unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn cases_opened_from(&mut self, client_addr: &str, since: OffsetDateTime, at_most: u32) -> StoreResult<u32> {
        let n = self
            .row(CASES_OPENED_FROM, &[client_addr.into(), ms(since).into(), limit(at_most)], |r| r.int(0))?
            .unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn set_account_locks(
        &mut self,
        account: &AccountId,
        locks: lineout_domain::account::Locks,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let n = self.exec(
            SET_ACCOUNT_LOCKS,
            &[
                account.as_str().into(),
                locks.port_out.into(),
                locks.sim_change.into(),
                locks.cancellation.into(),
                ms(now).into(),
            ],
        )?;
        Ok(n > 0)
    }

    fn put_lock_lift(
        &mut self,
        account: &AccountId,
        requested_at: OffsetDateTime,
        effective_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let n =
            self.exec(PUT_LOCK_LIFT, &[account.as_str().into(), ms(requested_at).into(), ms(effective_at).into()])?;
        Ok(n > 0)
    }

    fn lock_lift(&mut self, account: &AccountId) -> StoreResult<Option<OffsetDateTime>> {
        self.row(LOCK_LIFT, &[account.as_str().into()], |r| from_ms(r.int(0)?))
    }

    fn cancel_lock_lift(&mut self, account: &AccountId) -> StoreResult<bool> {
        Ok(self.exec(CANCEL_LOCK_LIFT, &[account.as_str().into()])? > 0)
    }

    fn take_due_lock_lifts(&mut self, now: OffsetDateTime, limit_n: u32) -> StoreResult<Vec<AccountId>> {
        let sql = self.pick(SQLITE_TAKE_LOCK_LIFTS, POSTGRES_TAKE_LOCK_LIFTS);
        let mut ids = self.rows(sql, &[ms(now).into(), limit(limit_n)], |r| {
            AccountId::parse(&r.text(0)?).map_err(|_| corrupt("lock lift account id"))
        })?;
        ids.sort();
        Ok(ids)
    }

    fn insert_fraud_code(&mut self, code_hash: &str, case: &CaseId, now: OffsetDateTime) -> StoreResult<()> {
        self.exec(INSERT_FRAUD_CODE, &[code_hash.into(), case.as_str().into(), ms(now).into()])?;
        Ok(())
    }

    fn use_fraud_code(&mut self, code_hash: &str, now: OffsetDateTime) -> StoreResult<Option<CaseId>> {
        self.row(USE_FRAUD_CODE, &[code_hash.into(), ms(now).into()], |r| {
            CaseId::parse(&r.text(0)?).map_err(|_| corrupt("fraud code case id"))
        })
    }

    fn set_sim_changed_at(&mut self, line: &LineId, at: OffsetDateTime) -> StoreResult<()> {
        self.exec(SET_SIM_CHANGED_AT, &[line.as_str().into(), ms(at).into()])?;
        Ok(())
    }

    fn account_msisdns(&mut self, account: &AccountId, limit_n: u32) -> StoreResult<Vec<Msisdn>> {
        self.rows(ACCOUNT_MSISDNS, &[account.as_str().into(), limit(limit_n)], |r| {
            Msisdn::parse(&r.text(0)?).map_err(|_| corrupt("line msisdn"))
        })
    }
    fn records(&mut self) -> &mut dyn lineout_app::records_port::RecordsConn {
        self
    }
}

/// Decodes a ledger row (the columns of [`LEDGER`]).
fn ledger_row(r: &dyn Row) -> StoreResult<(lineout_domain::ledger::Entry, OffsetDateTime)> {
    let kind = r.text(3)?;
    let currency = lineout_domain::values::Currency::parse(&r.text(5)?).map_err(|e| corrupt(e.to_string()))?;
    let entry = lineout_domain::ledger::Entry {
        id: r.text(0)?,
        account_id: AccountId::parse(&r.text(1)?).map_err(|e| corrupt(e.to_string()))?,
        case_id: r.opt_text(2)?.map(|c| CaseId::parse(&c)).transpose().map_err(|e| corrupt(e.to_string()))?,
        kind: lineout_domain::ledger::EntryKind::parse(&kind).ok_or_else(|| corrupt("ledger kind"))?,
        amount: lineout_domain::values::Money::new(r.int(4)?, currency),
        description: r.text(6)?,
    };
    Ok((entry, from_ms(r.int(7)?)?))
}

// Fraud guards (migration 6).
pub(crate) const RISK_FACTS: &str = "SELECT l.sim_changed_at, a.contacts_changed_at FROM lines l \
    JOIN accounts a ON a.id = l.account_id WHERE l.id = $1";
pub(crate) const INSERT_CASE_ORIGIN: &str = "INSERT INTO case_origins (case_id, actor, client_addr, opened_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (case_id) DO NOTHING";
// Bounded counts: a burst is "at least N", so counting stops at N (an agent with many
// cases in the window would otherwise cost a longer index range on every open).
pub(crate) const CASES_OPENED_BY: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM case_origins \
    WHERE actor = $1 AND opened_at >= $2 LIMIT $3) AS recent";
pub(crate) const CASES_OPENED_FROM: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM case_origins \
    WHERE client_addr = $1 AND opened_at >= $2 LIMIT $3) AS recent";
pub(crate) const SET_ACCOUNT_LOCKS: &str = "UPDATE accounts SET lock_port_out = $2, lock_sim_change = $3, \
    lock_cancellation = $4, updated_at = $5 WHERE id = $1";
pub(crate) const PUT_LOCK_LIFT: &str = "INSERT INTO account_lock_lifts (account_id, requested_at, effective_at) \
    VALUES ($1, $2, $3) ON CONFLICT (account_id) DO NOTHING";
pub(crate) const LOCK_LIFT: &str = "SELECT effective_at FROM account_lock_lifts WHERE account_id = $1";
pub(crate) const CANCEL_LOCK_LIFT: &str = "DELETE FROM account_lock_lifts WHERE account_id = $1";
pub(crate) const SQLITE_TAKE_LOCK_LIFTS: &str = "DELETE FROM account_lock_lifts WHERE account_id IN (\
    SELECT account_id FROM account_lock_lifts WHERE effective_at <= $1 ORDER BY effective_at LIMIT $2) \
    RETURNING account_id";
pub(crate) const POSTGRES_TAKE_LOCK_LIFTS: &str = "DELETE FROM account_lock_lifts WHERE account_id IN (\
    SELECT account_id FROM account_lock_lifts WHERE effective_at <= $1 ORDER BY effective_at LIMIT $2 \
    FOR UPDATE SKIP LOCKED) RETURNING account_id";
pub(crate) const INSERT_FRAUD_CODE: &str =
    "INSERT INTO fraud_codes (code_hash, case_id, created_at, used_at) VALUES ($1, $2, $3, NULL)";
pub(crate) const SET_SIM_CHANGED_AT: &str = "UPDATE lines SET sim_changed_at = $2 WHERE id = $1";
pub(crate) const ACCOUNT_MSISDNS: &str = "SELECT msisdn FROM lines WHERE account_id = $1 ORDER BY id LIMIT $2";
pub(crate) const USE_FRAUD_CODE: &str =
    "UPDATE fraud_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL RETURNING case_id";
