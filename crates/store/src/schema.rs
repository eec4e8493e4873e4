//! The schema: numbered migration scripts per backend and the runner that applies
//! the missing ones, each in its own transaction, recording them in
//! `schema_migrations`.
//!
//! Both backends hold the same tables and columns. Timestamps are BIGINT Unix
//! milliseconds (UTC); booleans are INTEGER 0/1 in SQLite and BOOLEAN in PostgreSQL;
//! PostgreSQL compares identifiers with the "C" collation so ordering by id matches
//! SQLite's byte order (keyset pagination depends on it). Constraint names are
//! explicit because the store maps violations to port errors by name.
//!
//! Migrations are append-only: never edit a released script, add the next number.

use crate::db::{Db, Dialect, TxOp};
use lineout_app::ports::{StoreError, StoreResult};

/// The statuses in which a case is finished, as an SQL list; keep in step with
/// `Status::is_terminal` (a test checks). The partial unique index
/// `cases_open_line_key` spells the same list, so queries that repeat it can use it.
macro_rules! terminal_statuses {
    () => {
        "('closed', 'rejected', 'withdrawn', 'expired', 'frozen')"
    };
}
pub(crate) use terminal_statuses;

const SQLITE_V1: &str = r#"
CREATE TABLE accounts (
    id                TEXT NOT NULL,
    holder_name       TEXT NOT NULL,
    email             TEXT,
    alt_phone         TEXT,
    language          TEXT NOT NULL,
    pin_hash          TEXT,
    lock_port_out     INTEGER NOT NULL,
    lock_sim_change   INTEGER NOT NULL,
    lock_cancellation INTEGER NOT NULL,
    billing_cycle_day INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    owed_cents        INTEGER NOT NULL,
    owed_currency     TEXT NOT NULL,
    prepaid_cents     INTEGER NOT NULL,
    prepaid_currency  TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    CONSTRAINT accounts_pkey PRIMARY KEY (id)
) STRICT;

CREATE TABLE lines (
    id         TEXT NOT NULL,
    account_id TEXT NOT NULL,
    msisdn     TEXT NOT NULL,
    iccid      TEXT,
    imsi       TEXT,
    eid        TEXT,
    plan       TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT lines_pkey PRIMARY KEY (id),
    CONSTRAINT lines_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT lines_msisdn_key UNIQUE (msisdn)
) STRICT;
CREATE INDEX lines_account_id_idx ON lines (account_id);

CREATE TABLE devices (
    id          TEXT NOT NULL,
    line_id     TEXT NOT NULL,
    imei        TEXT NOT NULL,
    model       TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    ownership   TEXT NOT NULL,
    must_return INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT devices_pkey PRIMARY KEY (id),
    CONSTRAINT devices_line_id_fkey FOREIGN KEY (line_id) REFERENCES lines (id)
) STRICT;
CREATE INDEX devices_line_id_idx ON devices (line_id);

CREATE TABLE cases (
    id         TEXT NOT NULL,
    status     TEXT NOT NULL,
    channel    TEXT NOT NULL,
    line_id    TEXT NOT NULL,
    account_id TEXT NOT NULL,
    opened_at  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    last_hash  TEXT NOT NULL,
    state      TEXT NOT NULL,
    CONSTRAINT cases_pkey PRIMARY KEY (id)
) STRICT;
CREATE UNIQUE INDEX cases_open_line_key ON cases (line_id)
    WHERE status NOT IN ('closed', 'rejected', 'withdrawn', 'expired', 'frozen');
CREATE INDEX cases_status_idx ON cases (status, id);
CREATE INDEX cases_channel_idx ON cases (channel, id);
CREATE INDEX cases_line_id_idx ON cases (line_id, id);
CREATE INDEX cases_account_id_idx ON cases (account_id, id);
CREATE INDEX cases_opened_at_idx ON cases (opened_at);

CREATE TABLE events (
    case_id   TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    body      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (case_id, seq)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE refused');
END;

CREATE TABLE timers (
    case_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    due_at      INTEGER NOT NULL,
    lease_until INTEGER,
    CONSTRAINT timers_pkey PRIMARY KEY (case_id, kind)
) STRICT;
CREATE INDEX timers_due_at_idx ON timers (due_at);

CREATE TABLE outbox (
    id              TEXT NOT NULL,
    case_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    done_at         INTEGER,
    CONSTRAINT outbox_pkey PRIMARY KEY (id)
) STRICT;
CREATE INDEX outbox_status_next_idx ON outbox (status, next_attempt_at);
CREATE INDEX outbox_case_id_idx ON outbox (case_id);

CREATE TABLE api_tokens (
    id          TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT api_tokens_secret_hash_key UNIQUE (secret_hash)
) STRICT;
"#;

const POSTGRES_V1: &str = r#"
CREATE TABLE accounts (
    id                TEXT COLLATE "C" NOT NULL,
    holder_name       TEXT NOT NULL,
    email             TEXT,
    alt_phone         TEXT,
    language          TEXT NOT NULL,
    pin_hash          TEXT,
    lock_port_out     BOOLEAN NOT NULL,
    lock_sim_change   BOOLEAN NOT NULL,
    lock_cancellation BOOLEAN NOT NULL,
    billing_cycle_day BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    owed_cents        BIGINT NOT NULL,
    owed_currency     TEXT NOT NULL,
    prepaid_cents     BIGINT NOT NULL,
    prepaid_currency  TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT accounts_pkey PRIMARY KEY (id)
);

CREATE TABLE lines (
    id         TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    msisdn     TEXT COLLATE "C" NOT NULL,
    iccid      TEXT,
    imsi       TEXT,
    eid        TEXT,
    plan       TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT lines_pkey PRIMARY KEY (id),
    CONSTRAINT lines_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT lines_msisdn_key UNIQUE (msisdn)
);
CREATE INDEX lines_account_id_idx ON lines (account_id);

CREATE TABLE devices (
    id          TEXT COLLATE "C" NOT NULL,
    line_id     TEXT COLLATE "C" NOT NULL,
    imei        TEXT NOT NULL,
    model       TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    ownership   TEXT NOT NULL,
    must_return BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT devices_pkey PRIMARY KEY (id),
    CONSTRAINT devices_line_id_fkey FOREIGN KEY (line_id) REFERENCES lines (id)
);
CREATE INDEX devices_line_id_idx ON devices (line_id);

CREATE TABLE cases (
    id         TEXT COLLATE "C" NOT NULL,
    status     TEXT NOT NULL,
    channel    TEXT NOT NULL,
    line_id    TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    opened_at  BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    last_hash  TEXT NOT NULL,
    state      TEXT NOT NULL,
    CONSTRAINT cases_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX cases_open_line_key ON cases (line_id)
    WHERE status NOT IN ('closed', 'rejected', 'withdrawn', 'expired', 'frozen');
CREATE INDEX cases_status_idx ON cases (status, id);
CREATE INDEX cases_channel_idx ON cases (channel, id);
CREATE INDEX cases_line_id_idx ON cases (line_id, id);
CREATE INDEX cases_account_id_idx ON cases (account_id, id);
CREATE INDEX cases_opened_at_idx ON cases (opened_at);

CREATE TABLE events (
    case_id   TEXT COLLATE "C" NOT NULL,
    seq       BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    body      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (case_id, seq)
);
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
END
$fn$;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE timers (
    case_id     TEXT COLLATE "C" NOT NULL,
    kind        TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    lease_until BIGINT,
    CONSTRAINT timers_pkey PRIMARY KEY (case_id, kind)
);
CREATE INDEX timers_due_at_idx ON timers (due_at);

CREATE TABLE outbox (
    id              TEXT COLLATE "C" NOT NULL,
    case_id         TEXT COLLATE "C" NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    done_at         BIGINT,
    CONSTRAINT outbox_pkey PRIMARY KEY (id)
);
CREATE INDEX outbox_status_next_idx ON outbox (status, next_attempt_at);
CREATE INDEX outbox_case_id_idx ON outbox (case_id);

CREATE TABLE api_tokens (
    id          TEXT COLLATE "C" NOT NULL,
    secret_hash TEXT COLLATE "C" NOT NULL,
    scopes      TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT api_tokens_secret_hash_key UNIQUE (secret_hash)
);
"#;

/// Version 2: port-out cases beside cancellations (one open case per line and kind),
/// transfer PIN hashes, and what became of numbers (aging, the RND disconnection log).
const SQLITE_V2: &str = r#"
ALTER TABLE cases ADD COLUMN kind TEXT NOT NULL DEFAULT 'cancellation';
DROP INDEX cases_open_line_key;
CREATE UNIQUE INDEX cases_open_line_key ON cases (line_id, kind)
    WHERE status NOT IN ('closed', 'rejected', 'withdrawn', 'expired', 'frozen');

CREATE TABLE transfer_pins (
    case_id  TEXT NOT NULL,
    pin_id   TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    CONSTRAINT transfer_pins_pkey PRIMARY KEY (case_id)
) STRICT;

CREATE TABLE numbers (
    msisdn          TEXT NOT NULL,
    fate            TEXT NOT NULL,
    disconnected_at INTEGER NOT NULL,
    available_at    INTEGER,
    case_id         TEXT NOT NULL,
    CONSTRAINT numbers_pkey PRIMARY KEY (msisdn)
) STRICT;
CREATE INDEX numbers_fate_idx ON numbers (fate, msisdn);
CREATE INDEX lines_iccid_idx ON lines (iccid);

CREATE TABLE disconnections (
    at      INTEGER NOT NULL,
    msisdn  TEXT NOT NULL,
    case_id TEXT NOT NULL,
    CONSTRAINT disconnections_pkey PRIMARY KEY (at, msisdn)
) STRICT, WITHOUT ROWID;
"#;

const POSTGRES_V2: &str = r#"
ALTER TABLE cases ADD COLUMN kind TEXT NOT NULL DEFAULT 'cancellation';
DROP INDEX cases_open_line_key;
CREATE UNIQUE INDEX cases_open_line_key ON cases (line_id, kind)
    WHERE status NOT IN ('closed', 'rejected', 'withdrawn', 'expired', 'frozen');

CREATE TABLE transfer_pins (
    case_id  TEXT COLLATE "C" NOT NULL,
    pin_id   TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    CONSTRAINT transfer_pins_pkey PRIMARY KEY (case_id)
);

CREATE TABLE numbers (
    msisdn          TEXT COLLATE "C" NOT NULL,
    fate            TEXT NOT NULL,
    disconnected_at BIGINT NOT NULL,
    available_at    BIGINT,
    case_id         TEXT COLLATE "C" NOT NULL,
    CONSTRAINT numbers_pkey PRIMARY KEY (msisdn)
);
CREATE INDEX numbers_fate_idx ON numbers (fate, msisdn);
CREATE INDEX lines_iccid_idx ON lines (iccid);

CREATE TABLE disconnections (
    at      BIGINT NOT NULL,
    msisdn  TEXT COLLATE "C" NOT NULL,
    case_id TEXT COLLATE "C" NOT NULL,
    CONSTRAINT disconnections_pkey PRIMARY KEY (at, msisdn)
);
"#;

/// Version 3: messages to customers (authenticity codes, delivery state) and the
/// provider ids (Message-ID, SMSC message ids) that delivery receipts refer to.
const SQLITE_V3: &str = r#"
CREATE TABLE messages (
    effect_id    TEXT NOT NULL,
    case_id      TEXT NOT NULL,
    notice       TEXT NOT NULL,
    auth_code    TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    sent_at      INTEGER,
    delivered_at INTEGER,
    CONSTRAINT messages_pkey PRIMARY KEY (effect_id),
    CONSTRAINT messages_auth_code_key UNIQUE (auth_code)
) STRICT;
CREATE TABLE message_parts (
    provider_id TEXT NOT NULL,
    effect_id   TEXT NOT NULL,
    CONSTRAINT message_parts_pkey PRIMARY KEY (provider_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX outbox_status_id_idx ON outbox (status, id);
CREATE TABLE pin_attempts (
    line_id      TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    CONSTRAINT pin_attempts_pkey PRIMARY KEY (line_id)
) STRICT;
CREATE TABLE ledger_entries (
    id           TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    case_id      TEXT,
    kind         TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    description  TEXT NOT NULL,
    at           INTEGER NOT NULL,
    CONSTRAINT ledger_entries_pkey PRIMARY KEY (id)
) STRICT;
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, at, id);
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
"#;

const POSTGRES_V3: &str = r#"
CREATE TABLE messages (
    effect_id    TEXT COLLATE "C" NOT NULL,
    case_id      TEXT COLLATE "C" NOT NULL,
    notice       TEXT NOT NULL,
    auth_code    TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    sent_at      BIGINT,
    delivered_at BIGINT,
    CONSTRAINT messages_pkey PRIMARY KEY (effect_id),
    CONSTRAINT messages_auth_code_key UNIQUE (auth_code)
);
CREATE TABLE message_parts (
    provider_id TEXT NOT NULL,
    effect_id   TEXT COLLATE "C" NOT NULL,
    CONSTRAINT message_parts_pkey PRIMARY KEY (provider_id)
);
CREATE INDEX outbox_status_id_idx ON outbox (status, id);
CREATE TABLE pin_attempts (
    line_id      TEXT COLLATE "C" NOT NULL,
    failures     BIGINT NOT NULL,
    locked_until BIGINT,
    CONSTRAINT pin_attempts_pkey PRIMARY KEY (line_id)
);
CREATE TABLE ledger_entries (
    id           TEXT COLLATE "C" NOT NULL,
    account_id   TEXT COLLATE "C" NOT NULL,
    case_id      TEXT COLLATE "C",
    kind         TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    description  TEXT NOT NULL,
    at           BIGINT NOT NULL,
    CONSTRAINT ledger_entries_pkey PRIMARY KEY (id)
);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, at, id);
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'ledger entries are append-only'; END $$;
CREATE TRIGGER ledger_entries_no_change BEFORE UPDATE OR DELETE ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
"#;

// Version 4 (money): the final bill needs each line's recurring plan charge and the
// installments left on a financed device, both in cents of the account's currency.
const SQLITE_V4: &str = r#"
ALTER TABLE lines ADD COLUMN monthly_charge_cents INTEGER NOT NULL DEFAULT 0
    CHECK (monthly_charge_cents >= 0);
ALTER TABLE devices ADD COLUMN remaining_installments_cents INTEGER NOT NULL DEFAULT 0
    CHECK (remaining_installments_cents >= 0);
"#;

const POSTGRES_V4: &str = r#"
ALTER TABLE lines ADD COLUMN monthly_charge_cents BIGINT NOT NULL DEFAULT 0
    CONSTRAINT lines_monthly_charge_check CHECK (monthly_charge_cents >= 0);
ALTER TABLE devices ADD COLUMN remaining_installments_cents BIGINT NOT NULL DEFAULT 0
    CONSTRAINT devices_remaining_installments_check CHECK (remaining_installments_cents >= 0);
"#;

/// Version 7: records. `personal_data` holds the personal values taken out of chained
/// event bodies (erasable without touching `events`); `account_records` the legal hold
/// and erasure state; `exports` the data exports (token stored hashed); `privacy_requests`
/// the CCPA requests with their timers; `schedules` named next-run times (retention).
const SQLITE_V7: &str = r#"
CREATE TABLE personal_data (
    case_id    TEXT NOT NULL,
    ref        TEXT NOT NULL,
    account_id TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    CONSTRAINT personal_data_pkey PRIMARY KEY (case_id, ref)
) STRICT, WITHOUT ROWID;
CREATE INDEX personal_data_account_idx ON personal_data (account_id);
CREATE TABLE account_records (
    account_id  TEXT NOT NULL,
    legal_hold  INTEGER NOT NULL,
    hold_reason TEXT,
    erased_at   INTEGER,
    kept_until  INTEGER,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT account_records_pkey PRIMARY KEY (account_id)
) STRICT;
CREATE TABLE exports (
    id            TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    status        TEXT NOT NULL,
    requested_at  INTEGER NOT NULL,
    requested_by  TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    ready_at      INTEGER,
    downloaded_at INTEGER,
    size_bytes    INTEGER,
    error         TEXT,
    data          TEXT,
    CONSTRAINT exports_pkey PRIMARY KEY (id),
    CONSTRAINT exports_token_hash_key UNIQUE (token_hash)
) STRICT;
CREATE INDEX exports_account_idx ON exports (account_id, id);
CREATE INDEX exports_status_idx ON exports (status, id);
CREATE TABLE privacy_requests (
    id               TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    received_at      INTEGER NOT NULL,
    ack_due_at       INTEGER NOT NULL,
    due_at           INTEGER NOT NULL,
    extended         INTEGER NOT NULL,
    extension_notice TEXT,
    acknowledged_at  INTEGER,
    completed_at     INTEGER,
    ack_overdue      INTEGER NOT NULL,
    overdue          INTEGER NOT NULL,
    next_check_at    INTEGER,
    outcome          TEXT,
    CONSTRAINT privacy_requests_pkey PRIMARY KEY (id)
) STRICT;
CREATE INDEX privacy_requests_next_idx ON privacy_requests (next_check_at);
CREATE INDEX privacy_requests_account_idx ON privacy_requests (account_id);
CREATE TABLE schedules (
    name TEXT NOT NULL,
    at   INTEGER NOT NULL,
    CONSTRAINT schedules_pkey PRIMARY KEY (name)
) STRICT;
"#;

const POSTGRES_V7: &str = r#"
CREATE TABLE personal_data (
    case_id    TEXT COLLATE "C" NOT NULL,
    ref        TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    CONSTRAINT personal_data_pkey PRIMARY KEY (case_id, ref)
);
CREATE INDEX personal_data_account_idx ON personal_data (account_id);
CREATE TABLE account_records (
    account_id  TEXT COLLATE "C" NOT NULL,
    legal_hold  BOOLEAN NOT NULL,
    hold_reason TEXT,
    erased_at   BIGINT,
    kept_until  BIGINT,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT account_records_pkey PRIMARY KEY (account_id)
);
CREATE TABLE exports (
    id            TEXT COLLATE "C" NOT NULL,
    account_id    TEXT COLLATE "C" NOT NULL,
    status        TEXT NOT NULL,
    requested_at  BIGINT NOT NULL,
    requested_by  TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    ready_at      BIGINT,
    downloaded_at BIGINT,
    size_bytes    BIGINT,
    error         TEXT,
    data          TEXT,
    CONSTRAINT exports_pkey PRIMARY KEY (id),
    CONSTRAINT exports_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX exports_account_idx ON exports (account_id, id);
CREATE INDEX exports_status_idx ON exports (status, id);
CREATE TABLE privacy_requests (
    id               TEXT COLLATE "C" NOT NULL,
    account_id       TEXT COLLATE "C" NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    received_at      BIGINT NOT NULL,
    ack_due_at       BIGINT NOT NULL,
    due_at           BIGINT NOT NULL,
    extended         BOOLEAN NOT NULL,
    extension_notice TEXT,
    acknowledged_at  BIGINT,
    completed_at     BIGINT,
    ack_overdue      BOOLEAN NOT NULL,
    overdue          BOOLEAN NOT NULL,
    next_check_at    BIGINT,
    outcome          TEXT,
    CONSTRAINT privacy_requests_pkey PRIMARY KEY (id)
);
CREATE INDEX privacy_requests_next_idx ON privacy_requests (next_check_at);
CREATE INDEX privacy_requests_account_idx ON privacy_requests (account_id);
CREATE TABLE schedules (
    name TEXT COLLATE "C" NOT NULL,
    at   BIGINT NOT NULL,
    CONSTRAINT schedules_pkey PRIMARY KEY (name)
);
"#;

/// v8: staff accounts of the console and their sessions, the portal's sign-in codes and
/// customer sessions (only hashes of passwords, codes and session secrets).
const SQLITE_V8: &str = r#"
CREATE TABLE staff (
    id            TEXT NOT NULL PRIMARY KEY,
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT staff_username_key UNIQUE (username)
) STRICT;
CREATE TABLE staff_sessions (
    secret_hash TEXT NOT NULL PRIMARY KEY,
    staff_id    TEXT NOT NULL REFERENCES staff (id),
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_sessions_expires_idx ON staff_sessions (expires_at);
CREATE TABLE portal_codes (
    line_id    TEXT NOT NULL PRIMARY KEY,
    code_hash  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    used       INTEGER NOT NULL
) STRICT;
CREATE TABLE portal_sessions (
    secret_hash TEXT NOT NULL PRIMARY KEY,
    line_id     TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX portal_sessions_expires_idx ON portal_sessions (expires_at);
"#;

const POSTGRES_V8: &str = r#"
CREATE TABLE staff (
    id            TEXT COLLATE "C" NOT NULL,
    username      TEXT COLLATE "C" NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT staff_pkey PRIMARY KEY (id),
    CONSTRAINT staff_username_key UNIQUE (username)
);
CREATE TABLE staff_sessions (
    secret_hash TEXT COLLATE "C" NOT NULL,
    staff_id    TEXT COLLATE "C" NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    CONSTRAINT staff_sessions_pkey PRIMARY KEY (secret_hash),
    CONSTRAINT staff_sessions_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES staff (id)
);
CREATE INDEX staff_sessions_expires_idx ON staff_sessions (expires_at);
CREATE TABLE portal_codes (
    line_id    TEXT COLLATE "C" NOT NULL,
    code_hash  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL,
    used       BIGINT NOT NULL,
    CONSTRAINT portal_codes_pkey PRIMARY KEY (line_id)
);
CREATE TABLE portal_sessions (
    secret_hash TEXT COLLATE "C" NOT NULL,
    line_id     TEXT COLLATE "C" NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    CONSTRAINT portal_sessions_pkey PRIMARY KEY (secret_hash)
);
CREATE INDEX portal_sessions_expires_idx ON portal_sessions (expires_at);
"#;

/// Identity verification (issue 4 part A): one-time code hashes (keyed, never the
/// code) and rate-limit windows (code sends per line, attempts per client address).
const SQLITE_V5: &str = r#"
CREATE TABLE verification_codes (
    code_id    TEXT NOT NULL,
    case_id    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT verification_codes_pkey PRIMARY KEY (code_id)
) STRICT;
CREATE INDEX verification_codes_case_idx ON verification_codes (case_id, code_hash);
CREATE TABLE rate_windows (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    CONSTRAINT rate_windows_pkey PRIMARY KEY (key)
) STRICT;
"#;

const POSTGRES_V5: &str = r#"
CREATE TABLE verification_codes (
    code_id    TEXT COLLATE "C" NOT NULL,
    case_id    TEXT COLLATE "C" NOT NULL,
    code_hash  TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT verification_codes_pkey PRIMARY KEY (code_id)
);
CREATE INDEX verification_codes_case_idx ON verification_codes (case_id, code_hash);
CREATE TABLE rate_windows (
    key          TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    CONSTRAINT rate_windows_pkey PRIMARY KEY (key)
);
"#;

/// Version 6: fraud guards. When a line's SIM and an account's contacts last changed
/// (kept by triggers, so every writer — API, importer — keeps them true), who opened
/// each case and from where (bursts), pending lifts of the account lock (cooling
/// period), and the hashes of "this wasn't me" codes.
const SQLITE_V6: &str = r#"
ALTER TABLE accounts ADD COLUMN contacts_changed_at INTEGER;
ALTER TABLE lines ADD COLUMN sim_changed_at INTEGER;
CREATE TRIGGER accounts_contacts_changed AFTER UPDATE OF email, alt_phone ON accounts
WHEN OLD.email IS NOT NEW.email OR OLD.alt_phone IS NOT NEW.alt_phone
BEGIN UPDATE accounts SET contacts_changed_at = NEW.updated_at WHERE id = NEW.id; END;
CREATE TRIGGER lines_sim_changed AFTER UPDATE OF iccid, imsi, eid ON lines
WHEN (OLD.iccid IS NOT NULL AND OLD.iccid IS NOT NEW.iccid) OR (OLD.imsi IS NOT NULL AND OLD.imsi IS NOT NEW.imsi)
  OR (OLD.eid IS NOT NULL AND OLD.eid IS NOT NEW.eid)
BEGIN UPDATE lines SET sim_changed_at = NEW.updated_at WHERE id = NEW.id; END;
CREATE TABLE case_origins (
    case_id     TEXT NOT NULL,
    actor       TEXT NOT NULL,
    client_addr TEXT,
    opened_at   INTEGER NOT NULL,
    CONSTRAINT case_origins_pkey PRIMARY KEY (case_id)
) STRICT;
CREATE INDEX case_origins_actor_idx ON case_origins (actor, opened_at);
CREATE INDEX case_origins_client_idx ON case_origins (client_addr, opened_at);
CREATE TABLE account_lock_lifts (
    account_id   TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    CONSTRAINT account_lock_lifts_pkey PRIMARY KEY (account_id)
) STRICT;
CREATE INDEX account_lock_lifts_effective_idx ON account_lock_lifts (effective_at);
CREATE TABLE fraud_codes (
    code_hash  TEXT NOT NULL,
    case_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    CONSTRAINT fraud_codes_pkey PRIMARY KEY (code_hash)
) STRICT;
"#;

const POSTGRES_V6: &str = r#"
ALTER TABLE accounts ADD COLUMN contacts_changed_at BIGINT;
ALTER TABLE lines ADD COLUMN sim_changed_at BIGINT;
CREATE FUNCTION accounts_contacts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email IS DISTINCT FROM OLD.email OR NEW.alt_phone IS DISTINCT FROM OLD.alt_phone THEN
        NEW.contacts_changed_at := NEW.updated_at;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_contacts_changed BEFORE UPDATE ON accounts
FOR EACH ROW EXECUTE FUNCTION accounts_contacts_changed();
CREATE FUNCTION lines_sim_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.iccid IS NOT NULL AND OLD.iccid IS DISTINCT FROM NEW.iccid)
        OR (OLD.imsi IS NOT NULL AND OLD.imsi IS DISTINCT FROM NEW.imsi)
        OR (OLD.eid IS NOT NULL AND OLD.eid IS DISTINCT FROM NEW.eid) THEN
        NEW.sim_changed_at := NEW.updated_at;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER lines_sim_changed BEFORE UPDATE ON lines
FOR EACH ROW EXECUTE FUNCTION lines_sim_changed();
CREATE TABLE case_origins (
    case_id     TEXT COLLATE "C" NOT NULL,
    actor       TEXT NOT NULL,
    client_addr TEXT,
    opened_at   BIGINT NOT NULL,
    CONSTRAINT case_origins_pkey PRIMARY KEY (case_id)
);
CREATE INDEX case_origins_actor_idx ON case_origins (actor, opened_at);
CREATE INDEX case_origins_client_idx ON case_origins (client_addr, opened_at);
CREATE TABLE account_lock_lifts (
    account_id   TEXT COLLATE "C" NOT NULL,
    requested_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    CONSTRAINT account_lock_lifts_pkey PRIMARY KEY (account_id)
);
CREATE INDEX account_lock_lifts_effective_idx ON account_lock_lifts (effective_at);
CREATE TABLE fraud_codes (
    code_hash  TEXT NOT NULL,
    case_id    TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    CONSTRAINT fraud_codes_pkey PRIMARY KEY (code_hash)
);
"#;

/// The numbered scripts for a dialect, in order. Never edit an applied script: add one.
pub(crate) fn migrations(dialect: Dialect) -> &'static [(i64, &'static str)] {
    match dialect {
        Dialect::Sqlite => &[
            (1, SQLITE_V1),
            (2, SQLITE_V2),
            (3, SQLITE_V3),
            (4, SQLITE_V4),
            (5, SQLITE_V5),
            (6, SQLITE_V6),
            (7, SQLITE_V7),
            (8, SQLITE_V8),
        ],
        Dialect::Postgres => &[
            (1, POSTGRES_V1),
            (2, POSTGRES_V2),
            (3, POSTGRES_V3),
            (4, POSTGRES_V4),
            (5, POSTGRES_V5),
            (6, POSTGRES_V6),
            (7, POSTGRES_V7),
            (8, POSTGRES_V8),
        ],
    }
}

const SQLITE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT";
const POSTGRES_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";
/// Serialises concurrent `migrate` runs against the same schema (several lineout
/// processes starting at once); the lock ends with the transaction.
const POSTGRES_MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('lineout.migrate.' || current_schema()))";

/// Applies every missing migration, each in its own transaction, on a writer
/// connection. The database's own
/// clock stamps `applied_at`: only the clock adapter reads the time in Rust.
pub(crate) fn migrate(db: &mut dyn Db) -> StoreResult<()> {
    let dialect = db.dialect();
    let steps = migrations(dialect);
    let latest = steps.iter().map(|(v, _)| *v).max().unwrap_or(0);
    for (version, script) in steps {
        db.tx(TxOp::Begin).map_err(|e| e.into_store())?;
        match apply_one(db, dialect, *version, script, latest) {
            Ok(()) => db.tx(TxOp::Commit).map_err(|e| e.into_store())?,
            Err(e) => {
                // The original error matters more than a failed rollback.
                let _ = db.tx(TxOp::Rollback);
                return Err(e);
            }
        }
    }
    Ok(())
}

fn apply_one(db: &mut dyn Db, dialect: Dialect, version: i64, script: &str, latest: i64) -> StoreResult<()> {
    let (table, insert) = match dialect {
        Dialect::Sqlite => (
            SQLITE_MIGRATIONS_TABLE,
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
        ),
        Dialect::Postgres => {
            db.query(POSTGRES_MIGRATION_LOCK, &[], &mut |_| Ok(()))?;
            (
                POSTGRES_MIGRATIONS_TABLE,
                "INSERT INTO schema_migrations (version, applied_at) \
                 VALUES ($1, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT))",
            )
        }
    };
    db.script(table).map_err(|e| e.into_store())?;
    let mut newest: Option<i64> = None;
    let mut applied = false;
    db.query(
        "SELECT MAX(version), MAX(CASE WHEN version = $1 THEN version END) FROM schema_migrations",
        &[version.into()],
        &mut |r| {
            newest = r.opt_int(0)?;
            applied = r.opt_int(1)?.is_some();
            Ok(())
        },
    )?;
    if let Some(n) = newest
        && n > latest
    {
        return Err(StoreError::Backend(format!(
            "the database schema is at version {n}, newer than this lineout knows ({latest}); upgrade lineout"
        )));
    }
    if applied {
        return Ok(());
    }
    db.script(script).map_err(|e| StoreError::Backend(format!("migration {version} failed: {}", e.into_store())))?;
    db.execute(insert, &[version.into()]).map_err(|e| e.into_store())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineout_domain::Status;

    #[test]
    fn terminal_list_matches_the_domain_and_the_index() {
        let terminal: Vec<String> =
            Status::ALL.iter().filter(|s| s.is_terminal()).map(|s| format!("'{}'", s.as_str())).collect();
        assert_eq!(terminal_statuses!(), format!("({})", terminal.join(", ")));
        for script in [SQLITE_V1, POSTGRES_V1] {
            assert!(script.contains(concat!("WHERE status NOT IN ", terminal_statuses!(), ";")));
        }
    }
}
