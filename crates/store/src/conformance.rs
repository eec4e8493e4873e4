//! The conformance suite: one set of checks every [`Store`] must pass, run against
//! SQLite and PostgreSQL by this crate's tests (and by anyone enabling the
//! `conformance` feature).
//!
//! Each check takes a [`Fixture`]: a fresh, empty database plus two raw-SQL helpers
//! for what the ports cannot express (reading `updated_at`, trying to rewrite an
//! event, corrupting a row). Checks call `migrate` themselves and panic on failure.

// This module is test code compiled into the library only for tests or the
// `conformance` feature; panicking on a failed expectation is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lineout_app::ports::{
    CaseFilter, CaseRecord, Conn, DueTimer, OutboxRow, OutboxStats, OutboxStatus, Role, Store, StoreError, StoreResult,
    StoredEvent, TimerRow, TokenRecord, Upsert,
};
use lineout_domain::account::{Account, AccountKind, Device, Line, LineStatus, Locks, Ownership, Plan};
use lineout_domain::case::{
    Actor, Case, CaseFacts, CaseKind, Channel, DeviceFact, Event, EventKind, Status, TimerKind, Timing,
};
use lineout_domain::chain;
use lineout_domain::values::{
    AccountId, CaseId, Currency, DeviceId, Email, Iccid, Imei, Imsi, Language, LineId, Money, Msisdn, luhn_check_digit,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// A fresh, empty database for one check.
pub trait Fixture {
    fn store(&self) -> &dyn Store;
    /// Runs one raw SQL statement; the rows it changed.
    fn exec_raw(&self, sql: &str) -> StoreResult<u64>;
    /// Runs a raw query whose first column of the first row is an integer (or NULL).
    fn query_int_raw(&self, sql: &str) -> StoreResult<Option<i64>>;
}

impl Fixture for crate::SqliteStore {
    fn store(&self) -> &dyn Store {
        self
    }
    fn exec_raw(&self, sql: &str) -> StoreResult<u64> {
        self.execute_raw(sql)
    }
    fn query_int_raw(&self, sql: &str) -> StoreResult<Option<i64>> {
        crate::SqliteStore::query_int_raw(self, sql)
    }
}

impl Fixture for crate::PostgresStore {
    fn store(&self) -> &dyn Store {
        self
    }
    fn exec_raw(&self, sql: &str) -> StoreResult<u64> {
        self.execute_raw(sql)
    }
    fn query_int_raw(&self, sql: &str) -> StoreResult<Option<i64>> {
        crate::PostgresStore::query_int_raw(self, sql)
    }
}

/// A check of the suite.
pub type Check = fn(&dyn Fixture);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("migrate_is_idempotent", migrate_is_idempotent),
    ("account_upserts", account_upserts),
    ("line_upserts", line_upserts),
    ("device_upserts", device_upserts),
    ("missing_references_and_conflicts", missing_references_and_conflicts),
    ("savepoint_rolls_back_one_step", savepoint_rolls_back_one_step),
    ("rollback_discards_and_readers_see_commits", rollback_discards_and_readers_see_commits),
    ("case_insert_get_update", case_insert_get_update),
    ("one_open_case_per_line", one_open_case_per_line),
    ("list_cases_filters_and_pages", list_cases_filters_and_pages),
    ("case_ids_walk_every_case", case_ids_walk_every_case),
    ("events_append_in_order", events_append_in_order),
    ("events_are_append_only", events_are_append_only),
    ("timers_set_claim_fire_cancel", timers_set_claim_fire_cancel),
    ("outbox_lifecycle", outbox_lifecycle),
    ("case_counts_and_earliest_timer", case_counts_and_earliest_timer),
    ("numbers_and_transfer_pins", numbers_and_transfer_pins),
    ("messages_and_dead_letters", messages_and_dead_letters),
    ("ledger_appends_once_and_pages", ledger_appends_once_and_pages),
    ("money_columns_and_ledger_lookup", money_columns_and_ledger_lookup),
    ("tokens_insert_find", tokens_insert_find),
    ("corrupt_rows_are_errors", corrupt_rows_are_errors),
    ("records_personal_data_and_erasure", records::records_personal_data_and_erasure),
    ("records_exports_privacy_and_schedules", records::records_exports_privacy_and_schedules),
    ("verification_codes_and_rate_windows", verification_codes_and_rate_windows),
    ("fraud_guard_tables", fraud_guard_tables),
];

mod records;
pub use records::{records_exports_privacy_and_schedules, records_personal_data_and_erasure};

/// Runs every check, each on a fresh database from `fresh`.
pub fn run_all(fresh: &dyn Fn() -> Box<dyn Fixture>) {
    for (name, check) in CHECKS {
        eprintln!("conformance: {name}");
        check(fresh().as_ref());
    }
}

// ---------------------------------------------------------------------------
// Helpers: fixed times, valid records, unwrapping with readable messages.

fn ok<T>(r: StoreResult<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected store error: {e}"),
    }
}

fn valid<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("test data does not parse: {e:?}"),
    }
}

fn t0() -> OffsetDateTime {
    datetime!(2025-01-15 10:00:00 UTC)
}

fn at(seconds: i64) -> OffsetDateTime {
    t0() + Duration::seconds(seconds)
}

fn ms_of(t: OffsetDateTime) -> i64 {
    crate::codec::ms(t)
}

fn prepared(f: &dyn Fixture, role: Role) -> Box<dyn Conn> {
    ok(f.store().migrate());
    ok(f.store().connect(role))
}

fn account_id(id: &str) -> AccountId {
    valid(AccountId::parse(id))
}
fn line_id(id: &str) -> LineId {
    valid(LineId::parse(id))
}
fn case_id(id: &str) -> CaseId {
    valid(CaseId::parse(id))
}

fn account(id: &str) -> Account {
    Account {
        id: account_id(id),
        holder_name: "Ada Lovelace".into(),
        email: Some(valid(Email::parse("ada@example.com"))),
        alt_phone: Some(valid(Msisdn::parse("+442079460958"))),
        language: Language::En,
        pin_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        locks: Locks { port_out: true, sim_change: false, cancellation: false },
        billing_cycle_day: 7,
        kind: AccountKind::Residential,
        owed: Money::usd(1_250),
        prepaid_balance: Money::usd(3_000),
    }
}

/// A second shape of account: every optional field empty, other enum values.
fn bare_account(id: &str) -> Account {
    Account {
        id: account_id(id),
        holder_name: "王小明".into(),
        email: None,
        alt_phone: None,
        language: Language::ZhHans,
        pin_hash: None,
        locks: Locks { port_out: false, sim_change: true, cancellation: true },
        billing_cycle_day: 28,
        kind: AccountKind::Business,
        owed: Money::usd(-499),
        prepaid_balance: Money::new(0, valid(Currency::parse("EUR"))),
    }
}

fn msisdn(n: u32) -> Msisdn {
    valid(Msisdn::parse(&format!("+1415555{:04}", 100 + n)))
}

fn iccid(n: u32) -> Iccid {
    let payload = format!("8901260000000{n:05}");
    valid(Iccid::parse(&format!("{payload}{}", luhn_check_digit(&payload))))
}

fn imei(n: u32) -> Imei {
    let payload = format!("490154203{n:05}");
    valid(Imei::parse(&format!("{payload}{}", luhn_check_digit(&payload))))
}

fn line(id: &str, account: &str, n: u32) -> Line {
    Line {
        id: line_id(id),
        account_id: account_id(account),
        msisdn: msisdn(n),
        iccid: Some(iccid(n)),
        imsi: Some(valid(Imsi::parse(&format!("3102600000{n:05}")))),
        eid: None,
        plan: Plan::Prepaid,
        status: LineStatus::Active,
        monthly_charge_cents: 0,
    }
}

fn device(id: &str, line: &str, n: u32) -> Device {
    Device {
        id: valid(DeviceId::parse(id)),
        line_id: line_id(line),
        imei: imei(n),
        model: "Pixel 9".into(),
        price: Money::usd(79_900),
        ownership: Ownership::Leased,
        must_return: true,
        remaining_installments_cents: 0,
    }
}

/// A freshly opened case for `line`, built through the domain's own constructor.
fn case_for(id: &str, line: &Line, channel: Channel, opened_at: OffsetDateTime) -> Case {
    let facts = CaseFacts {
        account_id: line.account_id.clone(),
        account_kind: AccountKind::Residential,
        line_id: line.id.clone(),
        msisdn: line.msisdn.clone(),
        iccid: line.iccid.clone(),
        imsi: line.imsi.clone(),
        eid: line.eid.clone(),
        plan: line.plan,
        line_status: line.status,
        language: Language::En,
        billing_cycle_day: 7,
        cancellation_locked: false,
        port_out_locked: false,
        owed: Money::usd(0),
        prepaid_balance: Money::usd(1_000),
        device: Some(DeviceFact {
            device_id: valid(DeviceId::parse("dev-x")),
            imei: imei(99),
            price: Money::usd(10),
            model: "Test phone".into(),
        }),
        monthly_charge_cents: 0,
        remaining_installments_cents: 0,
    };
    let opened = Event {
        seq: 1,
        at: opened_at,
        actor: Actor::Customer,
        kind: EventKind::Opened {
            kind: Default::default(),
            channel,
            timing: Timing::Immediate,
            facts: facts.into(),
            note: None,
        },
    };
    match Case::from_opened(case_id(id), &opened) {
        Some(c) => c,
        None => panic!("from_opened refused an Opened event"),
    }
}

fn record(case: &Case) -> CaseRecord {
    CaseRecord { case: case.clone(), last_hash: format!("hash-{}-{}", case.id.as_str(), case.version) }
}

/// The case advanced by one version into `status`.
fn moved(case: &Case, status: Status, when: OffsetDateTime) -> Case {
    let mut next = case.clone();
    next.status = status;
    next.version += 1;
    next.updated_at = when;
    next
}

fn ids(cases: &[Case]) -> Vec<&str> {
    cases.iter().map(|c| c.id.as_str()).collect()
}

fn is_backend(r: &StoreResult<impl std::fmt::Debug>) -> bool {
    matches!(r, Err(StoreError::Backend(_)))
}

// ---------------------------------------------------------------------------
// The checks.

pub fn migrate_is_idempotent(f: &dyn Fixture) {
    ok(f.store().migrate());
    ok(f.store().migrate());
    let versions = ok(f.query_int_raw("SELECT COUNT(*) FROM schema_migrations"));
    let latest = crate::schema::migrations(match f.store().backend() {
        "postgres" => crate::db::Dialect::Postgres,
        _ => crate::db::Dialect::Sqlite,
    })
    .len();
    assert_eq!(versions, Some(latest as i64));
    let applied_at = ok(f.query_int_raw("SELECT MIN(applied_at) FROM schema_migrations"));
    // Stamped by the database clock in milliseconds: after 2020, before 2100.
    assert!(applied_at.is_some_and(|t| t > 1_577_836_800_000 && t < 4_102_444_800_000), "{applied_at:?}");
    // Both roles connect and can run a transaction.
    for role in [Role::Writer, Role::Reader] {
        let mut c = ok(f.store().connect(role));
        ok(c.begin());
        assert_eq!(ok(c.get_account(&account_id("nobody"))), None);
        ok(c.commit());
    }
}

pub fn account_upserts(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let a = account("acc-1");
    assert_eq!(ok(c.upsert_account(&a, at(0))), Upsert::Inserted);
    assert_eq!(ok(c.get_account(&a.id)), Some(a.clone()));
    // Re-importing the same record changes nothing, not even updated_at.
    assert_eq!(ok(c.upsert_account(&a, at(60))), Upsert::Unchanged);
    let updated_at = "SELECT updated_at FROM accounts WHERE id = 'acc-1'";
    assert_eq!(ok(f.query_int_raw(updated_at)), Some(ms_of(at(0))));
    // Each field on its own counts as a change.
    type Change = Box<dyn Fn(&mut Account)>;
    let changes: Vec<Change> = vec![
        Box::new(|a: &mut Account| a.holder_name = "Ada King".into()),
        Box::new(|a: &mut Account| a.email = None),
        Box::new(|a: &mut Account| a.alt_phone = None),
        Box::new(|a: &mut Account| a.language = Language::ZhHans),
        Box::new(|a: &mut Account| a.pin_hash = None),
        Box::new(|a: &mut Account| a.locks.port_out = false),
        Box::new(|a: &mut Account| a.locks.sim_change = true),
        Box::new(|a: &mut Account| a.locks.cancellation = true),
        Box::new(|a: &mut Account| a.billing_cycle_day = 1),
        Box::new(|a: &mut Account| a.kind = AccountKind::Business),
        Box::new(|a: &mut Account| a.owed = Money::usd(-5)),
        Box::new(|a: &mut Account| a.owed.currency = valid(Currency::parse("CAD"))),
        Box::new(|a: &mut Account| a.prepaid_balance = Money::usd(0)),
        Box::new(|a: &mut Account| a.prepaid_balance.currency = valid(Currency::parse("GBP"))),
    ];
    let mut current = a.clone();
    for (i, change) in changes.iter().enumerate() {
        let when = at(100 + i as i64);
        change(&mut current);
        assert_eq!(ok(c.upsert_account(&current, when)), Upsert::Updated, "change {i}");
        assert_eq!(ok(c.get_account(&current.id)), Some(current.clone()), "change {i}");
        assert_eq!(ok(f.query_int_raw(updated_at)), Some(ms_of(when)), "change {i}");
        assert_eq!(ok(c.upsert_account(&current, at(1_000))), Upsert::Unchanged, "change {i}");
    }
    let created_at = ok(f.query_int_raw("SELECT created_at FROM accounts WHERE id = 'acc-1'"));
    assert_eq!(created_at, Some(ms_of(at(0))));
    // Every optional field empty, other enum values, non-ASCII text.
    let b = bare_account("acc-2");
    assert_eq!(ok(c.upsert_account(&b, at(0))), Upsert::Inserted);
    assert_eq!(ok(c.get_account(&b.id)), Some(b.clone()));
    assert_eq!(ok(c.upsert_account(&b, at(5))), Upsert::Unchanged);
    assert_eq!(ok(c.get_account(&account_id("acc-3"))), None);
}

pub fn line_upserts(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    ok(c.upsert_account(&account("acc-1"), at(0)));
    ok(c.upsert_account(&account("acc-2"), at(0)));
    let l = line("line-1", "acc-1", 1);
    assert_eq!(ok(c.upsert_line(&l, at(0))), Upsert::Inserted);
    assert_eq!(ok(c.get_line(&l.id)), Some(l.clone()));
    assert_eq!(ok(c.find_line_by_msisdn(&l.msisdn)), Some(l.clone()));
    assert_eq!(ok(c.find_line_by_msisdn(&msisdn(2))), None);
    assert_eq!(ok(c.upsert_line(&l, at(10))), Upsert::Unchanged);
    let updated_at = "SELECT updated_at FROM lines WHERE id = 'line-1'";
    assert_eq!(ok(f.query_int_raw(updated_at)), Some(ms_of(at(0))));
    // An eSIM line on another account with a new number.
    let mut esim = l.clone();
    esim.account_id = account_id("acc-2");
    esim.msisdn = msisdn(3);
    esim.imsi = None;
    esim.eid = Some(valid(lineout_domain::values::Eid::parse(&"8".repeat(32))));
    esim.plan = Plan::Postpaid;
    esim.status = LineStatus::Suspended;
    assert_eq!(ok(c.upsert_line(&esim, at(20))), Upsert::Updated);
    assert_eq!(ok(c.get_line(&l.id)), Some(esim.clone()));
    assert_eq!(ok(c.find_line_by_msisdn(&msisdn(1))), None);
    assert_eq!(ok(f.query_int_raw(updated_at)), Some(ms_of(at(20))));
    // Status changes bump updated_at only when the status changes.
    ok(c.set_line_status(&l.id, LineStatus::Terminated, at(30)));
    assert_eq!(ok(c.get_line(&l.id)).map(|l| l.status), Some(LineStatus::Terminated));
    assert_eq!(ok(f.query_int_raw(updated_at)), Some(ms_of(at(30))));
    ok(c.set_line_status(&l.id, LineStatus::Terminated, at(40)));
    assert_eq!(ok(f.query_int_raw(updated_at)), Some(ms_of(at(30))));
    assert_eq!(
        c.set_line_status(&line_id("line-none"), LineStatus::Active, at(40)),
        Err(StoreError::MissingReference("line"))
    );
    // A line with no SIM identifiers at all.
    let mut bare = line("line-2", "acc-1", 4);
    bare.iccid = None;
    bare.imsi = None;
    assert_eq!(ok(c.upsert_line(&bare, at(0))), Upsert::Inserted);
    assert_eq!(ok(c.get_line(&bare.id)), Some(bare));
}

pub fn device_upserts(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    ok(c.upsert_account(&account("acc-1"), at(0)));
    ok(c.upsert_line(&line("line-1", "acc-1", 1), at(0)));
    ok(c.upsert_line(&line("line-2", "acc-1", 2), at(0)));
    let d2 = device("dev-2", "line-1", 2);
    let mut d1 = device("dev-1", "line-1", 1);
    assert_eq!(ok(c.upsert_device(&d2, at(0))), Upsert::Inserted);
    assert_eq!(ok(c.upsert_device(&d1, at(0))), Upsert::Inserted);
    assert_eq!(ok(c.get_device(&d1.id)), Some(d1.clone()));
    assert_eq!(ok(c.devices_for_line(&line_id("line-1"))), vec![d1.clone(), d2.clone()]);
    assert_eq!(ok(c.upsert_device(&d1, at(5))), Upsert::Unchanged);
    assert_eq!(ok(f.query_int_raw("SELECT updated_at FROM devices WHERE id = 'dev-1'")), Some(ms_of(at(0))));
    d1.line_id = line_id("line-2");
    d1.ownership = Ownership::Financed;
    d1.must_return = false;
    d1.price = Money::usd(1);
    d1.model = "Galaxy S25".into();
    assert_eq!(ok(c.upsert_device(&d1, at(10))), Upsert::Updated);
    assert_eq!(ok(c.get_device(&d1.id)), Some(d1.clone()));
    assert_eq!(ok(c.devices_for_line(&line_id("line-1"))), vec![d2]);
    assert_eq!(ok(c.devices_for_line(&line_id("line-2"))), vec![d1]);
    assert_eq!(ok(c.devices_for_line(&line_id("line-3"))), vec![]);
    assert_eq!(ok(c.get_device(&valid(DeviceId::parse("dev-9")))), None);
}

pub fn missing_references_and_conflicts(f: &dyn Fixture) {
    // Outside a transaction every statement stands alone, so an error aborts nothing else.
    let mut c = prepared(f, Role::Writer);
    assert_eq!(c.upsert_line(&line("line-1", "acc-1", 1), at(0)), Err(StoreError::MissingReference("account")));
    assert_eq!(ok(c.get_line(&line_id("line-1"))), None);
    assert_eq!(c.upsert_device(&device("dev-1", "line-1", 1), at(0)), Err(StoreError::MissingReference("line")));
    ok(c.upsert_account(&account("acc-1"), at(0)));
    ok(c.upsert_line(&line("line-1", "acc-1", 1), at(0)));
    // Another line may not take the number, neither as a new line nor by an update.
    assert_eq!(c.upsert_line(&line("line-2", "acc-1", 1), at(0)), Err(StoreError::Conflict("line_msisdn")));
    assert_eq!(ok(c.get_line(&line_id("line-2"))), None);
    ok(c.upsert_line(&line("line-2", "acc-1", 2), at(0)));
    assert_eq!(c.upsert_line(&line("line-2", "acc-1", 1), at(0)), Err(StoreError::Conflict("line_msisdn")));
    // Moving a line or a device to a parent that does not exist.
    assert_eq!(c.upsert_line(&line("line-2", "acc-9", 2), at(0)), Err(StoreError::MissingReference("account")));
    assert_eq!(ok(c.get_line(&line_id("line-2"))), Some(line("line-2", "acc-1", 2)));
    ok(c.upsert_device(&device("dev-1", "line-1", 1), at(0)));
    assert_eq!(c.upsert_device(&device("dev-1", "line-9", 1), at(0)), Err(StoreError::MissingReference("line")));
    // The same errors inside a transaction, each recovered through a savepoint.
    ok(c.begin());
    ok(c.savepoint());
    assert_eq!(c.upsert_line(&line("line-3", "acc-1", 2), at(0)), Err(StoreError::Conflict("line_msisdn")));
    ok(c.rollback_to_savepoint());
    ok(c.release_savepoint());
    ok(c.upsert_line(&line("line-3", "acc-1", 3), at(0)));
    ok(c.commit());
    assert_eq!(ok(c.get_line(&line_id("line-3"))), Some(line("line-3", "acc-1", 3)));
}

pub fn savepoint_rolls_back_one_step(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    ok(c.begin());
    // Step 1 succeeds.
    ok(c.savepoint());
    ok(c.upsert_account(&account("acc-1"), at(0)));
    ok(c.release_savepoint());
    // Step 2 writes, then fails: its own write is undone with it.
    ok(c.savepoint());
    ok(c.upsert_account(&account("acc-2"), at(0)));
    assert_eq!(c.upsert_line(&line("line-1", "acc-9", 1), at(0)), Err(StoreError::MissingReference("account")));
    ok(c.rollback_to_savepoint());
    ok(c.release_savepoint());
    // Step 3 succeeds after the failure.
    ok(c.savepoint());
    ok(c.upsert_line(&line("line-1", "acc-1", 1), at(0)));
    ok(c.release_savepoint());
    ok(c.commit());
    let mut r = ok(f.store().connect(Role::Reader));
    assert_eq!(ok(r.get_account(&account_id("acc-1"))), Some(account("acc-1")));
    assert_eq!(ok(r.get_account(&account_id("acc-2"))), None);
    assert_eq!(ok(r.get_line(&line_id("line-1"))), Some(line("line-1", "acc-1", 1)));
}

pub fn rollback_discards_and_readers_see_commits(f: &dyn Fixture) {
    let mut w = prepared(f, Role::Writer);
    let mut r = ok(f.store().connect(Role::Reader));
    ok(w.begin());
    ok(w.upsert_account(&account("acc-1"), at(0)));
    assert_eq!(ok(w.get_account(&account_id("acc-1"))), Some(account("acc-1")));
    ok(w.rollback());
    assert_eq!(ok(w.get_account(&account_id("acc-1"))), None);
    // A reader sees a write only once it is committed.
    ok(w.begin());
    ok(w.upsert_account(&account("acc-2"), at(0)));
    assert_eq!(ok(r.get_account(&account_id("acc-2"))), None);
    ok(w.commit());
    ok(r.begin());
    assert_eq!(ok(r.get_account(&account_id("acc-2"))), Some(account("acc-2")));
    ok(r.commit());
}

pub fn case_insert_get_update(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let l = line("line-1", "acc-1", 1);
    let v1 = case_for("case-1", &l, Channel::Web, at(0));
    ok(c.insert_case(&record(&v1)));
    assert_eq!(ok(c.get_case(&v1.id)), Some(record(&v1)));
    assert_eq!(ok(c.get_case(&case_id("case-9"))), None);
    let v2 = moved(&v1, Status::Preparing, at(10));
    ok(c.update_case(&record(&v2), 1));
    assert_eq!(ok(c.get_case(&v1.id)), Some(record(&v2)));
    // A writer that read version 1 loses.
    let stale = moved(&v1, Status::Rejected, at(20));
    assert_eq!(c.update_case(&record(&stale), 1), Err(StoreError::Conflict("case_version")));
    assert_eq!(ok(c.get_case(&v1.id)), Some(record(&v2)));
    assert_eq!(
        c.update_case(&record(&case_for("case-9", &l, Channel::Web, at(0))), 0),
        Err(StoreError::Conflict("case_version"))
    );
    // The same id again, once the line is free, is a duplicate case id.
    let v3 = moved(&v2, Status::Withdrawn, at(30));
    ok(c.update_case(&record(&v3), 2));
    assert_eq!(c.insert_case(&record(&v1)), Err(StoreError::Conflict("case_id")));
    assert_eq!(ok(c.get_case(&v1.id)), Some(record(&v3)));
}

pub fn one_open_case_per_line(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let l = line("line-1", "acc-1", 1);
    let other = line("line-2", "acc-1", 2);
    assert_eq!(ok(c.open_case_for_line(&l.id, CaseKind::Cancellation)), None);
    let terminal: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_terminal()).collect();
    assert_eq!(terminal.len(), 5);
    for (i, end) in terminal.iter().enumerate() {
        let open = case_for(&format!("case-{i}"), &l, Channel::Ivr, at(i as i64));
        ok(c.insert_case(&record(&open)));
        assert_eq!(ok(c.open_case_for_line(&l.id, CaseKind::Cancellation)), Some(open.id.clone()));
        // A second open case for the line is refused, in any open status.
        for (j, status) in Status::ALL.into_iter().filter(|s| !s.is_terminal()).enumerate() {
            let mut second = case_for(&format!("dup-{i}-{j}"), &l, Channel::Web, at(0));
            second.status = status;
            assert_eq!(c.insert_case(&record(&second)), Err(StoreError::Conflict("case_open_for_line")));
        }
        // Another line is independent.
        let elsewhere = case_for(&format!("other-{i}"), &other, Channel::Web, at(0));
        ok(c.insert_case(&record(&elsewhere)));
        ok(c.update_case(&record(&moved(&elsewhere, Status::Closed, at(1))), 1));
        // Once the case ends, the line is free again.
        ok(c.update_case(&record(&moved(&open, *end, at(100))), 1));
        assert_eq!(ok(c.open_case_for_line(&l.id, CaseKind::Cancellation)), None, "after {end:?}");
    }
    // Reopening a finished case while another is open would also break the rule.
    let current = case_for("case-current", &l, Channel::Store, at(0));
    ok(c.insert_case(&record(&current)));
    let finished = moved(&case_for("case-0", &l, Channel::Ivr, at(0)), Status::Closed, at(100));
    let reopened = moved(&finished, Status::Verifying, at(200));
    assert_eq!(c.update_case(&record(&reopened), 2), Err(StoreError::Conflict("case_open_for_line")));
    // A port-out case is a different kind: it may be open beside the cancellation, once.
    let mut port = case_for("port-1", &l, Channel::Web, at(300));
    port.kind = CaseKind::PortOut;
    port.status = Status::AwaitingPort;
    ok(c.insert_case(&record(&port)));
    assert_eq!(ok(c.open_case_for_line(&l.id, CaseKind::PortOut)), Some(port.id.clone()));
    assert_eq!(ok(c.open_case_for_line(&l.id, CaseKind::Cancellation)), Some(current.id.clone()));
    let mut port2 = case_for("port-2", &l, Channel::Web, at(301));
    port2.kind = CaseKind::PortOut;
    assert_eq!(c.insert_case(&record(&port2)), Err(StoreError::Conflict("case_open_for_line")));
}

pub fn numbers_and_transfer_pins(f: &dyn Fixture) {
    use lineout_app::ports::{NumberFate, NumberFilter, NumberState};
    let mut c = prepared(f, Role::Writer);
    let (a, b, p) = (msisdn(1), msisdn(2), msisdn(3));
    let (c1, c2, c3) = (case_id("case-1"), case_id("case-2"), case_id("case-3"));
    assert_eq!(ok(c.get_number(&a)), None);
    ok(c.record_disconnect(&a, at(0), at(90 * 86_400), &c1));
    ok(c.record_disconnect(&b, at(10), at(10 + 45 * 86_400), &c2));
    ok(c.record_port_out(&p, at(20), &c3));
    let rec = ok(c.get_number(&a)).unwrap_or_else(|| panic!("number a"));
    assert_eq!(
        (rec.fate, rec.disconnected_at, rec.available_at),
        (NumberFate::Disconnected, at(0), Some(at(90 * 86_400)))
    );
    assert_eq!(rec.state(at(1)), NumberState::Aging);
    assert_eq!(rec.state(at(90 * 86_400)), NumberState::Available);
    let list = |c: &mut Box<dyn Conn>, state, now| -> Vec<Msisdn> {
        let filter = NumberFilter { state, now, after: None, limit: 10 };
        ok(c.list_numbers(&filter)).into_iter().map(|n| n.msisdn).collect()
    };
    assert_eq!(list(&mut c, Some(NumberState::Aging), at(50 * 86_400)), vec![a.clone()]);
    assert_eq!(list(&mut c, Some(NumberState::Available), at(50 * 86_400)), vec![b.clone()]);
    assert_eq!(list(&mut c, Some(NumberState::PortedOut), at(50 * 86_400)), vec![p.clone()]);
    assert_eq!(list(&mut c, None, at(0)), vec![a.clone(), b.clone(), p.clone()]);
    let page = ok(c.list_numbers(&NumberFilter { state: None, now: at(0), after: Some(a.clone()), limit: 1 }));
    assert_eq!(page.into_iter().map(|n| n.msisdn).collect::<Vec<_>>(), vec![b.clone()]);
    // A later disconnection of the same number keeps the latest date; the log keeps both.
    ok(c.record_disconnect(&a, at(200 * 86_400), at(290 * 86_400), &case_id("case-4")));
    assert_eq!(ok(c.get_number(&a)).map(|n| n.disconnected_at), Some(at(200 * 86_400)));
    // Ported-out numbers are not disconnections; the window is half-open and pages.
    assert_eq!(ok(c.disconnections(at(0), at(11), None, 10)), vec![(at(0), a.clone()), (at(10), b.clone())]);
    assert_eq!(ok(c.disconnections(at(0), at(10), None, 10)), vec![(at(0), a.clone())]);
    assert_eq!(ok(c.disconnections(at(0), at(11), Some(&(at(0), a.clone())), 10)), vec![(at(10), b.clone())]);
    assert_eq!(ok(c.disconnections(at(0), at(300 * 86_400), None, 10)).len(), 3);
    // Transfer PINs: one per case, replaced by the next.
    assert_eq!(ok(c.get_transfer_pin(&c3)), None);
    ok(c.put_transfer_pin(&c3, "pin-1", "$argon2id$one"));
    ok(c.put_transfer_pin(&c3, "pin-2", "$argon2id$two"));
    assert_eq!(ok(c.get_transfer_pin(&c3)), Some(("pin-2".to_owned(), "$argon2id$two".to_owned())));
}

pub fn list_cases_filters_and_pages(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let lines = [line("line-a", "acc-1", 1), line("line-b", "acc-1", 2), line("line-c", "acc-2", 3)];
    let ended = [Status::Closed, Status::Rejected, Status::Expired];
    let channels = [Channel::Ivr, Channel::Web, Channel::Api];
    let mut all = Vec::new();
    for i in 0..12_usize {
        let l = &lines[i % 3];
        // Only the last case of each line stays open.
        let status = if i >= 9 { Status::Verifying } else { ended[i % 3] };
        let mut case = case_for(&format!("c-{i:02}"), l, channels[i % 2 + (i / 6)], at(i as i64 * 60));
        case.status = status;
        ok(c.insert_case(&record(&case)));
        all.push(case);
    }
    let check = |c: &mut Box<dyn Conn>, filter: CaseFilter| {
        let expected: Vec<&Case> = all
            .iter()
            .filter(|k| filter.status.is_none_or(|s| k.status == s))
            .filter(|k| filter.channel.is_none_or(|ch| k.channel == ch))
            .filter(|k| filter.line_id.as_ref().is_none_or(|l| &k.facts.line_id == l))
            .filter(|k| filter.account_id.as_ref().is_none_or(|a| &k.facts.account_id == a))
            .filter(|k| filter.opened_from.is_none_or(|t| k.opened_at >= t))
            .filter(|k| filter.opened_to.is_none_or(|t| k.opened_at < t))
            .filter(|k| filter.after.as_ref().is_none_or(|a| &k.id > a))
            .take(filter.limit as usize)
            .collect();
        let got = ok(c.list_cases(&filter));
        assert_eq!(ids(&got), expected.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), "{filter:?}");
        assert_eq!(got.iter().collect::<Vec<_>>(), expected, "{filter:?}");
        got
    };
    let base = CaseFilter { limit: 100, ..CaseFilter::default() };
    assert_eq!(check(&mut c, base.clone()).len(), 12);
    assert_eq!(check(&mut c, CaseFilter { limit: 0, ..base.clone() }).len(), 0);
    assert_eq!(check(&mut c, CaseFilter { status: Some(Status::Verifying), ..base.clone() }).len(), 3);
    assert_eq!(check(&mut c, CaseFilter { status: Some(Status::InReview), ..base.clone() }).len(), 0);
    assert!(!check(&mut c, CaseFilter { channel: Some(Channel::Web), ..base.clone() }).is_empty());
    assert_eq!(check(&mut c, CaseFilter { line_id: Some(line_id("line-b")), ..base.clone() }).len(), 4);
    assert_eq!(check(&mut c, CaseFilter { account_id: Some(account_id("acc-2")), ..base.clone() }).len(), 4);
    assert_eq!(
        check(&mut c, CaseFilter { opened_from: Some(at(120)), opened_to: Some(at(300)), ..base.clone() }).len(),
        3
    );
    assert_eq!(check(&mut c, CaseFilter { opened_to: Some(at(0)), ..base.clone() }).len(), 0);
    check(
        &mut c,
        CaseFilter {
            status: Some(Status::Closed),
            channel: Some(Channel::Web),
            line_id: Some(line_id("line-a")),
            account_id: Some(account_id("acc-1")),
            opened_from: Some(at(0)),
            opened_to: Some(at(10_000)),
            after: Some(case_id("c-00")),
            limit: 5,
        },
    );
    // Keyset pages of 5 walk every case once, in id order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = check(&mut c, CaseFilter { after: after.clone(), limit: 5, ..base.clone() });
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        seen.extend(page.iter().map(|k| k.id.as_str().to_owned()));
    }
    assert_eq!(seen, all.iter().map(|k| k.id.as_str().to_owned()).collect::<Vec<_>>());
    // Paging within a filter.
    let page = check(&mut c, CaseFilter { account_id: Some(account_id("acc-1")), limit: 3, ..base.clone() });
    check(&mut c, CaseFilter { account_id: Some(account_id("acc-1")), after: Some(page[2].id.clone()), ..base });
}

pub fn case_ids_walk_every_case(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    assert_eq!(ok(c.case_ids(None, 10)), vec![]);
    let mut expected = Vec::new();
    for i in 0..7_u32 {
        let mut case = case_for(&format!("k-{i}"), &line(&format!("l-{i}"), "acc-1", i), Channel::Bulk, at(0));
        case.status = Status::Closed;
        ok(c.insert_case(&record(&case)));
        expected.push(case.id);
    }
    // Ids sort byte-wise in both backends: upper case before lower case, '-' before digits.
    for odd in ["K-0", "k-", "k-10"] {
        let mut case = case_for(odd, &line(odd, "acc-1", 50), Channel::Bulk, at(0));
        case.status = Status::Closed;
        ok(c.insert_case(&record(&case)));
        expected.push(case.id);
    }
    expected.sort();
    let mut walked = Vec::new();
    let mut after: Option<CaseId> = None;
    loop {
        let page = ok(c.case_ids(after.as_ref(), 3));
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.clone());
        walked.extend(page);
    }
    assert_eq!(walked, expected);
    assert_eq!(ok(c.case_ids(None, 0)), vec![]);
}

/// A real chain of `n` events for a case, as the engine would store them.
fn chain_of(case: &str, from_seq: u64, n: u64, prev: &str) -> Vec<StoredEvent> {
    let mut prev_hash = prev.to_owned();
    (from_seq..from_seq + n)
        .map(|seq| {
            let event = Event {
                seq,
                at: at(seq as i64) + Duration::milliseconds(7),
                actor: Actor::System,
                kind: EventKind::Settled,
            };
            let body = valid(serde_json::to_string(&event));
            let hash = chain::event_hash(&prev_hash, case, seq, &body);
            let stored = StoredEvent {
                case_id: case_id(case),
                seq,
                at: event.at,
                kind: event.kind.name().to_owned(),
                body,
                prev_hash: prev_hash.clone(),
                hash: hash.clone(),
            };
            prev_hash = hash;
            stored
        })
        .collect()
}

fn links(events: &[StoredEvent]) -> Vec<chain::Link> {
    events
        .iter()
        .map(|e| chain::Link { seq: e.seq, body: e.body.clone(), prev_hash: e.prev_hash.clone(), hash: e.hash.clone() })
        .collect()
}

pub fn events_append_in_order(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let history = chain_of("case-1", 1, 12, chain::GENESIS);
    // Appended in three batches; read back in seq order (10 after 9, not after 1).
    ok(c.append_events(&history[..2]));
    ok(c.append_events(&history[2..9]));
    ok(c.append_events(&history[9..]));
    ok(c.append_events(&chain_of("case-2", 1, 1, chain::GENESIS)));
    let stored = ok(c.events(&case_id("case-1")));
    assert_eq!(stored, history);
    assert_eq!(chain::verify("case-1", &links(&stored)), Ok(()));
    // A forked history (a second event 5) is refused, and the batch with it.
    let fork = chain_of("case-1", 5, 1, "forked");
    assert_eq!(c.append_events(&fork), Err(StoreError::Conflict("event_seq")));
    ok(c.begin());
    ok(c.savepoint());
    let mut batch = chain_of("case-1", 13, 1, &history[11].hash);
    batch.push(fork[0].clone());
    assert_eq!(c.append_events(&batch), Err(StoreError::Conflict("event_seq")));
    ok(c.rollback_to_savepoint());
    ok(c.release_savepoint());
    ok(c.commit());
    assert_eq!(ok(c.events(&case_id("case-1"))), history);
    assert_eq!(ok(c.events(&case_id("case-2"))).len(), 1);
    assert_eq!(ok(c.events(&case_id("case-3"))), vec![]);
}

pub fn events_are_append_only(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let history = chain_of("case-1", 1, 3, chain::GENESIS);
    ok(c.append_events(&history));
    assert!(is_backend(&f.exec_raw("UPDATE events SET body = '{}' WHERE case_id = 'case-1' AND seq = 2")));
    assert!(is_backend(&f.exec_raw("UPDATE events SET seq = seq + 10")));
    assert!(is_backend(&f.exec_raw("DELETE FROM events WHERE case_id = 'case-1' AND seq = 3")));
    assert!(is_backend(&f.exec_raw("DELETE FROM events")));
    if f.store().backend() == "postgres" {
        assert!(is_backend(&f.exec_raw("TRUNCATE events")));
    }
    assert_eq!(ok(c.events(&case_id("case-1"))), history);
    // Appending still works.
    ok(c.append_events(&chain_of("case-1", 4, 1, &history[2].hash)));
    assert_eq!(ok(c.events(&case_id("case-1"))).len(), 4);
}

fn due(case: &str, kind: TimerKind, at_: OffsetDateTime) -> DueTimer {
    DueTimer { case_id: case_id(case), kind, due_at: at_ }
}

fn set(c: &mut Box<dyn Conn>, t: &DueTimer) {
    ok(c.set_timer(TimerRow { case_id: &t.case_id, kind: t.kind, due_at: t.due_at }));
}

pub fn timers_set_claim_fire_cancel(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let a = due("case-1", TimerKind::VerificationExpiry, at(10));
    let b = due("case-1", TimerKind::ReviewSla, at(20));
    let other = due("case-2", TimerKind::TerminationDue, at(30));
    set(&mut c, &a);
    set(&mut c, &other);
    set(&mut c, &b);
    assert_eq!(ok(c.timers(&case_id("case-1"))), vec![a.clone(), b.clone()]);
    // Setting a kind again moves it rather than adding one.
    let a_later = due("case-1", TimerKind::VerificationExpiry, at(15) + Duration::milliseconds(250));
    set(&mut c, &a_later);
    set(&mut c, &a);
    assert_eq!(ok(c.timers(&case_id("case-1"))), vec![a.clone(), b.clone()]);
    // Nothing is due before the first due time; due_at == now is due.
    assert_eq!(ok(c.claim_due_timers(at(9), at(70), 10)), vec![]);
    assert_eq!(ok(c.claim_due_timers(at(10), at(70), 10)), vec![a.clone()]);
    // A leased timer is not claimed again until its lease passes, not even by another connection.
    let mut c2 = ok(f.store().connect(Role::Writer));
    assert_eq!(ok(c2.claim_due_timers(at(25), at(85), 10)), vec![b.clone()]);
    assert_eq!(ok(c.claim_due_timers(at(69), at(129), 10)), vec![other.clone()]);
    assert_eq!(ok(c.claim_due_timers(at(69), at(129), 10)), vec![]);
    // After the leases pass they come back, oldest first, up to the limit.
    assert_eq!(ok(c.claim_due_timers(at(200), at(260), 2)), vec![a.clone(), b.clone()]);
    assert_eq!(ok(c.claim_due_timers(at(200), at(260), 2)), vec![other.clone()]);
    assert_eq!(ok(c.claim_due_timers(at(200), at(260), 0)), vec![]);
    // Setting a timer clears its lease: a re-armed timer is claimable at once.
    set(&mut c, &b);
    assert_eq!(ok(c.claim_due_timers(at(201), at(261), 10)), vec![b.clone()]);
    // Firing a timer that moved since it was claimed does nothing.
    let moved_a = due("case-1", TimerKind::VerificationExpiry, at(500));
    set(&mut c, &moved_a);
    assert!(!ok(c.fire_timer(&a)));
    assert_eq!(ok(c.timers(&case_id("case-1"))), vec![b.clone(), moved_a.clone()]);
    assert!(ok(c.fire_timer(&moved_a)));
    assert!(!ok(c.fire_timer(&moved_a)));
    assert_eq!(ok(c.timers(&case_id("case-1"))), vec![b.clone()]);
    // Cancelling.
    set(&mut c, &a);
    ok(c.cancel_timer(&case_id("case-1"), TimerKind::ReviewSla));
    ok(c.cancel_timer(&case_id("case-1"), TimerKind::DeviceReturnDeadline));
    assert_eq!(ok(c.timers(&case_id("case-1"))), vec![a.clone()]);
    set(&mut c, &b);
    ok(c.cancel_all_timers(&case_id("case-1")));
    assert_eq!(ok(c.timers(&case_id("case-1"))), vec![]);
    assert_eq!(ok(c.timers(&case_id("case-2"))), vec![other]);
    if f.store().backend() == "postgres" {
        skip_locked_timers(f);
    }
}

/// PostgreSQL only: a claim in flight on one connection does not block or
/// duplicate a claim on another (`FOR UPDATE SKIP LOCKED`).
fn skip_locked_timers(f: &dyn Fixture) {
    let mut c1 = ok(f.store().connect(Role::Writer));
    let mut c2 = ok(f.store().connect(Role::Writer));
    ok(c1.cancel_all_timers(&case_id("case-2")));
    let x = due("case-8", TimerKind::ReviewSla, at(1_000));
    let y = due("case-9", TimerKind::ReviewSla, at(1_001));
    set(&mut c1, &x);
    set(&mut c1, &y);
    ok(c1.begin());
    assert_eq!(ok(c1.claim_due_timers(at(1_002), at(1_100), 1)), vec![x.clone()]);
    assert_eq!(ok(c2.claim_due_timers(at(1_002), at(1_100), 10)), vec![y]);
    ok(c1.rollback());
    assert_eq!(ok(c2.claim_due_timers(at(1_002), at(1_100), 10)), vec![x]);
}

fn outbox_row(id: &str, case: &str, created: OffsetDateTime, next: OffsetDateTime) -> OutboxRow {
    OutboxRow {
        id: id.into(),
        case_id: case_id(case),
        kind: "notify".into(),
        payload: format!("{{\"effect\":\"{id}\"}}"),
        status: OutboxStatus::Pending,
        attempts: 0,
        next_attempt_at: next,
        last_error: None,
        created_at: created,
        done_at: None,
    }
}

pub fn outbox_lifecycle(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    assert_eq!(ok(c.outbox_stats()), OutboxStats::default());
    let first = outbox_row("case-1:1:notify", "case-1", at(0), at(0));
    let second = outbox_row("case-1:2:deprovision", "case-1", at(1), at(1));
    let later = outbox_row("case-2:1:refund", "case-2", at(2), at(60));
    // Same creation time: the id breaks the tie.
    let twin = outbox_row("case-2:0:notify", "case-2", at(1), at(1));
    ok(c.insert_outbox(&[later.clone(), second.clone()]));
    ok(c.insert_outbox(&[first.clone(), twin.clone()]));
    assert_eq!(c.insert_outbox(std::slice::from_ref(&first)), Err(StoreError::Conflict("outbox_id")));
    assert_eq!(ok(c.outbox_for_case(&case_id("case-1"))), vec![first.clone(), second.clone()]);
    assert_eq!(ok(c.outbox_stats()), OutboxStats { pending: 4, dead: 0, oldest_pending_at: Some(at(0)) });
    // Claims: due rows only, earliest due first (then by id), up to the limit; leased rows are skipped.
    assert_eq!(ok(c.claim_outbox(at(5), at(35), 2)), vec![first.clone(), second.clone()]);
    assert_eq!(ok(c.claim_outbox(at(5), at(35), 10)), vec![twin.clone()]);
    assert_eq!(ok(c.claim_outbox(at(6), at(36), 10)), vec![]);
    // A lease that passes makes the row claimable again (the worker died).
    assert_eq!(ok(c.claim_outbox(at(35), at(65), 1)), vec![first.clone()]);
    // Completed.
    ok(c.complete_outbox(&first.id, 1, at(40)));
    let done = OutboxRow { status: OutboxStatus::Done, attempts: 1, done_at: Some(at(40)), ..first.clone() };
    // Retried: back to pending later, lease cleared, error kept.
    ok(c.retry_outbox(&second.id, 1, at(100), "smtp: 451 try again"));
    let retried = OutboxRow {
        attempts: 1,
        next_attempt_at: at(100),
        last_error: Some("smtp: 451 try again".into()),
        ..second.clone()
    };
    assert_eq!(ok(c.outbox_for_case(&case_id("case-1"))), vec![done.clone(), retried.clone()]);
    assert_eq!(ok(c.claim_outbox(at(99), at(130), 10)), vec![twin.clone(), later.clone()]);
    assert_eq!(ok(c.claim_outbox(at(100), at(130), 10)), vec![retried.clone()]);
    // Dead-lettered: never claimed again, counted.
    ok(c.dead_letter_outbox(&later.id, 8, "hlr: unknown subscriber format", at(120)));
    let dead = OutboxRow {
        status: OutboxStatus::Dead,
        attempts: 8,
        last_error: Some("hlr: unknown subscriber format".into()),
        done_at: Some(at(120)),
        ..later.clone()
    };
    assert_eq!(ok(c.outbox_for_case(&case_id("case-2"))), vec![twin.clone(), dead]);
    assert_eq!(ok(c.claim_outbox(at(10_000), at(10_030), 10)), vec![twin.clone(), retried.clone()]);
    assert_eq!(ok(c.outbox_stats()), OutboxStats { pending: 2, dead: 1, oldest_pending_at: Some(at(1)) });
    ok(c.complete_outbox(&twin.id, 1, at(10_001)));
    ok(c.complete_outbox(&retried.id, 2, at(10_002)));
    assert_eq!(ok(c.outbox_stats()), OutboxStats { pending: 0, dead: 1, oldest_pending_at: None });
    // Unknown ids are reported, not ignored.
    assert_eq!(c.complete_outbox("nope", 1, at(0)), Err(StoreError::MissingReference("outbox")));
    assert_eq!(c.retry_outbox("nope", 1, at(0), "x"), Err(StoreError::MissingReference("outbox")));
    assert_eq!(c.dead_letter_outbox("nope", 1, "x", at(0)), Err(StoreError::MissingReference("outbox")));
    if f.store().backend() == "postgres" {
        let mut c1 = ok(f.store().connect(Role::Writer));
        let mut c2 = ok(f.store().connect(Role::Writer));
        let x = outbox_row("x", "case-3", at(20_000), at(20_000));
        let y = outbox_row("y", "case-3", at(20_001), at(20_000));
        ok(c1.insert_outbox(&[x.clone(), y.clone()]));
        ok(c1.begin());
        assert_eq!(ok(c1.claim_outbox(at(20_002), at(20_100), 1)), vec![x]);
        assert_eq!(ok(c2.claim_outbox(at(20_002), at(20_100), 10)), vec![y]);
        ok(c1.commit());
    }
}

/// The figures the metrics scrape reads: cases per status and the earliest timer.
pub fn case_counts_and_earliest_timer(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    assert_eq!(ok(c.case_counts()), vec![]);
    assert_eq!(ok(c.earliest_timer()), None);
    // Statuses with no case are left out; the order is not promised, so compare sorted.
    let counts = |c: &mut Box<dyn Conn>| {
        let mut v = ok(c.case_counts());
        v.sort_by_key(|(s, _)| s.as_str());
        v
    };
    let statuses = [Status::Verifying, Status::Closed, Status::Verifying, Status::InReview, Status::Closed];
    let mut cases = Vec::new();
    for (i, status) in statuses.into_iter().enumerate() {
        let n = i as u32;
        let mut case = case_for(&format!("case-{i}"), &line(&format!("l-{i}"), "acc-1", n), Channel::Web, at(0));
        case.status = status;
        ok(c.insert_case(&record(&case)));
        cases.push(case);
    }
    assert_eq!(counts(&mut c), vec![(Status::Closed, 2), (Status::InReview, 1), (Status::Verifying, 2)]);
    // A status change moves a case from one count to another.
    let approved = moved(&cases[0], Status::Approved, at(5));
    ok(c.update_case(&record(&approved), cases[0].version));
    assert_eq!(
        counts(&mut c),
        vec![(Status::Approved, 1), (Status::Closed, 2), (Status::InReview, 1), (Status::Verifying, 1)]
    );
    // A reader sees the same once committed.
    let mut reader = ok(f.store().connect(Role::Reader));
    assert_eq!(ok(reader.case_counts()).iter().map(|(_, n)| n).sum::<u64>(), 5);

    // The earliest due time over every case and kind, to the millisecond.
    let review = due("case-1", TimerKind::ReviewSla, at(20) + Duration::milliseconds(250));
    let termination = due("case-2", TimerKind::TerminationDue, at(10) + Duration::milliseconds(7));
    let expiry = due("case-1", TimerKind::VerificationExpiry, at(30));
    for t in [&review, &termination, &expiry] {
        set(&mut c, t);
    }
    assert_eq!(ok(c.earliest_timer()), Some(termination.due_at));
    assert_eq!(ok(reader.earliest_timer()), Some(termination.due_at));
    // A claimed (leased) timer is still due until it fires.
    assert_eq!(ok(c.claim_due_timers(at(15), at(75), 10)), vec![termination.clone()]);
    assert_eq!(ok(c.earliest_timer()), Some(termination.due_at));
    // Firing the earliest moves it on; re-arming one earlier moves it back.
    assert!(ok(c.fire_timer(&termination)));
    assert_eq!(ok(c.earliest_timer()), Some(review.due_at));
    set(&mut c, &due("case-1", TimerKind::VerificationExpiry, at(1)));
    assert_eq!(ok(c.earliest_timer()), Some(at(1)));
    ok(c.cancel_timer(&case_id("case-1"), TimerKind::VerificationExpiry));
    assert_eq!(ok(c.earliest_timer()), Some(review.due_at));
    ok(c.cancel_all_timers(&case_id("case-1")));
    assert_eq!(ok(c.earliest_timer()), None);
}

pub fn tokens_insert_find(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let token = TokenRecord {
        id: "tok-1".into(),
        secret_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        scopes: vec!["cases:read".into(), "cases:write".into()],
        label: "IVR integration".into(),
        created_at: at(0),
    };
    ok(c.insert_token(&token));
    assert_eq!(ok(c.find_token(&token.secret_hash)), Some(token.clone()));
    assert_eq!(ok(c.find_token("0000")), None);
    assert_eq!(ok(c.find_token("")), None);
    let same_id = TokenRecord { secret_hash: "other".into(), ..token.clone() };
    assert_eq!(c.insert_token(&same_id), Err(StoreError::Conflict("token_id")));
    let same_secret = TokenRecord { id: "tok-2".into(), ..token.clone() };
    assert_eq!(c.insert_token(&same_secret), Err(StoreError::Conflict("token_secret")));
    let no_scopes = TokenRecord { id: "tok-3".into(), secret_hash: "h3".into(), scopes: vec![], ..token };
    ok(c.insert_token(&no_scopes));
    assert_eq!(ok(c.find_token("h3")), Some(no_scopes));
}

pub fn corrupt_rows_are_errors(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    ok(c.upsert_account(&account("acc-1"), at(0)));
    ok(c.upsert_line(&line("line-1", "acc-1", 1), at(0)));
    ok(c.upsert_device(&device("dev-1", "line-1", 1), at(0)));
    let case = case_for("case-1", &line("line-1", "acc-1", 1), Channel::Web, at(0));
    ok(c.insert_case(&record(&case)));
    ok(c.insert_outbox(&[outbox_row("o-1", "case-1", at(0), at(0))]));
    ok(c.set_timer(TimerRow { case_id: &case.id, kind: TimerKind::ReviewSla, due_at: at(0) }));
    for (sql, read) in [
        ("UPDATE accounts SET language = 'klingon'", "account"),
        ("UPDATE accounts SET language = 'en', owed_currency = 'usd'", "account"),
        ("UPDATE lines SET plan = 'bogus'", "line"),
        ("UPDATE lines SET plan = 'prepaid', msisdn = '12'", "line"),
        ("UPDATE devices SET imei = '123'", "device"),
        ("UPDATE cases SET state = '{\"id\":'", "case"),
        ("UPDATE outbox SET status = 'lost'", "outbox"),
        ("UPDATE timers SET kind = 'someday'", "timer"),
    ] {
        ok(f.exec_raw(sql));
        let result = match read {
            "account" => c.get_account(&account_id("acc-1")).map(|_| ()),
            "line" => c.get_line(&line_id("line-1")).map(|_| ()),
            "device" => c.devices_for_line(&line_id("line-1")).map(|_| ()),
            "case" => c.get_case(&case.id).map(|_| ()),
            "outbox" => c.outbox_for_case(&case.id).map(|_| ()),
            _ => c.timers(&case.id).map(|_| ()),
        };
        match result {
            Err(StoreError::Backend(msg)) => assert!(msg.starts_with("corrupt row"), "{sql}: {msg}"),
            other => panic!("{sql}: expected a corrupt row error, got {other:?}"),
        }
    }
}

pub fn messages_and_dead_letters(f: &dyn Fixture) {
    use lineout_domain::case::Notice;
    let mut c = prepared(f, Role::Writer);
    let case = case_id("case-1");
    // A message keeps its first code; another message cannot take the same code.
    assert_eq!(ok(c.ensure_message("case-1.1.0", &case, Notice::RequestReceived, "AAAAAAAAAA", at(0))), "AAAAAAAAAA");
    assert_eq!(ok(c.ensure_message("case-1.1.0", &case, Notice::RequestReceived, "BBBBBBBBBB", at(1))), "AAAAAAAAAA");
    c.savepoint().unwrap_or_default();
    assert_eq!(
        c.ensure_message("case-1.2.0", &case, Notice::Approved, "AAAAAAAAAA", at(2)),
        Err(StoreError::Conflict("message_code"))
    );
    c.rollback_to_savepoint().unwrap_or_default();
    c.release_savepoint().unwrap_or_default();
    let queued = ok(c.message_by_code("AAAAAAAAAA")).unwrap_or_else(|| panic!("message"));
    assert_eq!((queued.state.as_str(), queued.sent_at, queued.notice), ("queued", None, Notice::RequestReceived));
    ok(c.message_sent("case-1.1.0", &["smsc-1".to_owned(), "smsc-2".to_owned()], at(3)));
    assert_eq!(
        ok(c.message_by_code("AAAAAAAAAA")).map(|m| (m.state, m.sent_at)),
        Some(("sent".to_owned(), Some(at(3))))
    );
    // A receipt finds its message by any part's provider id; unknown ids are not ours.
    let receipt = ok(c.message_receipt("smsc-2", true, at(4))).unwrap_or_else(|| panic!("receipt"));
    assert_eq!((receipt.effect_id.as_str(), receipt.state.as_str()), ("case-1.1.0", "delivered"));
    assert_eq!(ok(c.message_receipt("elsewhere", true, at(4))), None);
    assert_eq!(ok(c.message_by_code("ZZZZZZZZZZ")), None);
    // Dead letters are listed by status and can be queued again, once.
    let dead = outbox_row("case-1.5.0", "case-1", at(0), at(0));
    let pending = outbox_row("case-1.6.0", "case-1", at(0), at(0));
    ok(c.insert_outbox(&[dead.clone(), pending.clone()]));
    ok(c.dead_letter_outbox(&dead.id, 8, "smtp 550", at(5)));
    let listed: Vec<String> = ok(c.list_outbox(OutboxStatus::Dead, None, 10)).into_iter().map(|r| r.id).collect();
    assert_eq!(listed, vec![dead.id.clone()]);
    assert_eq!(ok(c.list_outbox(OutboxStatus::Pending, None, 10)).len(), 1);
    assert!(ok(c.requeue_outbox(&dead.id, at(6))));
    assert!(!ok(c.requeue_outbox(&dead.id, at(6))), "only a dead row can be queued again");
    assert!(!ok(c.requeue_outbox(&pending.id, at(6))));
    let again = ok(c.claim_outbox(at(7), at(37), 10));
    assert_eq!(
        again.iter().map(|r| (r.id.as_str(), r.attempts)).collect::<Vec<_>>(),
        vec![("case-1.6.0", 0), ("case-1.5.0", 0)]
    );
}

pub fn ledger_appends_once_and_pages(f: &dyn Fixture) {
    use lineout_domain::ledger::{Entry, EntryKind};
    let mut c = prepared(f, Role::Writer);
    let entry = |id: &str, kind, cents| Entry {
        id: id.into(),
        account_id: account_id("acc-1"),
        case_id: Some(case_id("case-1")),
        kind,
        amount: Money::usd(cents),
        description: id.to_string(),
    };
    let first = [entry("case-1.3.0", EntryKind::Fee, 2_000), entry("case-1.3.1", EntryKind::Fee, 5_000)];
    ok(c.append_ledger(&first, at(1)));
    // A replay of the same entries adds nothing.
    ok(c.append_ledger(&first, at(2)));
    ok(c.append_ledger(&[entry("case-1.4.0", EntryKind::Payment, 7_000)], at(3)));
    let all = ok(c.ledger(&account_id("acc-1"), None, 10));
    assert_eq!(all.iter().map(|(e, _)| e.id.as_str()).collect::<Vec<_>>(), ["case-1.3.0", "case-1.3.1", "case-1.4.0"]);
    assert_eq!(all[0], (first[0].clone(), at(1)));
    let page = ok(c.ledger(&account_id("acc-1"), Some("case-1.3.0"), 1));
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0.id, "case-1.3.1");
    assert!(ok(c.ledger(&account_id("other"), None, 10)).is_empty());
}

/// Migration 4: a line's monthly charge and a device's remaining installments round-trip
/// and take part in change detection; a ledger entry is found by id.
pub fn money_columns_and_ledger_lookup(f: &dyn Fixture) {
    use lineout_domain::ledger::{Entry, EntryKind};
    let mut c = prepared(f, Role::Writer);
    ok(c.upsert_account(&account("acc-1"), at(0)));
    let mut l = line("line-1", "acc-1", 1);
    l.monthly_charge_cents = 4_500;
    assert_eq!(ok(c.upsert_line(&l, at(0))), Upsert::Inserted);
    assert_eq!(ok(c.get_line(&l.id)).map(|l| l.monthly_charge_cents), Some(4_500));
    l.monthly_charge_cents = 5_000;
    assert_eq!(ok(c.upsert_line(&l, at(1))), Upsert::Updated);
    assert_eq!(ok(c.get_line(&l.id)), Some(l.clone()));
    let mut d = device("dev-1", "line-1", 1);
    d.ownership = lineout_domain::Ownership::Financed;
    d.remaining_installments_cents = 31_200;
    assert_eq!(ok(c.upsert_device(&d, at(0))), Upsert::Inserted);
    assert_eq!(ok(c.devices_for_line(&l.id)), vec![d.clone()]);
    d.remaining_installments_cents = 0;
    assert_eq!(ok(c.upsert_device(&d, at(1))), Upsert::Updated);
    assert_eq!(ok(c.get_device(&d.id)), Some(d));
    let e = Entry {
        id: "acc-1.import.INV-1".into(),
        account_id: account_id("acc-1"),
        case_id: None,
        kind: EntryKind::Charge,
        amount: Money::usd(1_234),
        description: "invoice".into(),
    };
    assert_eq!(ok(c.ledger_entry(&e.id)), None);
    ok(c.append_ledger(std::slice::from_ref(&e), at(2)));
    assert_eq!(ok(c.ledger_entry(&e.id)), Some((e, at(2))));
}

pub fn verification_codes_and_rate_windows(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    let (c1, c2) = (case_id("case-1"), case_id("case-2"));
    assert_eq!(ok(c.find_verification_code(&c1, "h1")), None);
    ok(c.put_verification_code(&c1, "vc-1", "h1", at(0)));
    ok(c.put_verification_code(&c1, "vc-2", "h2", at(60)));
    ok(c.put_verification_code(&c2, "vc-3", "h1", at(60)));
    // A code is found only by its own case and hash.
    assert_eq!(ok(c.find_verification_code(&c1, "h1")), Some("vc-1".to_owned()));
    assert_eq!(ok(c.find_verification_code(&c1, "h2")), Some("vc-2".to_owned()));
    assert_eq!(ok(c.find_verification_code(&c2, "h2")), None);
    assert_eq!(ok(c.find_verification_code(&c2, "h1")), Some("vc-3".to_owned()));
    // Rate windows: absent, stored, replaced.
    assert_eq!(ok(c.rate_window("client:abc")), None);
    ok(c.set_rate_window("client:abc", at(0), 1));
    ok(c.set_rate_window("client:abc", at(0), 2));
    ok(c.set_rate_window("send:LINE-1", at(5), 1));
    assert_eq!(ok(c.rate_window("client:abc")), Some((at(0), 2)));
    ok(c.set_rate_window("client:abc", at(900), 1));
    assert_eq!(ok(c.rate_window("client:abc")), Some((at(900), 1)));
    assert_eq!(ok(c.rate_window("send:LINE-1")), Some((at(5), 1)));
}

/// Migration 6: SIM and contact changes kept by triggers, case origins counted per actor
/// and address, lock lifts taken once when due, fraud codes used once.
pub fn fraud_guard_tables(f: &dyn Fixture) {
    let mut c = prepared(f, Role::Writer);
    ok(c.upsert_account(&account("acc-f"), at(0)));
    ok(c.upsert_line(&line("line-f", "acc-f", 1), at(0)));
    assert_eq!(ok(c.risk_facts(&line_id("line-f"))), (None, None));
    assert_eq!(ok(c.risk_facts(&line_id("nope"))), (None, None));
    // A new SIM and a new email are stamped with the update's time; other changes are not.
    let mut swapped = line("line-f", "acc-f", 1);
    swapped.iccid = Some(iccid(2));
    ok(c.upsert_line(&swapped, at(10)));
    let mut moved = account("acc-f");
    moved.email = Some(valid(Email::parse("new@example.com")));
    ok(c.upsert_account(&moved, at(20)));
    moved.holder_name = "Ada King".into();
    ok(c.upsert_account(&moved, at(30)));
    assert_eq!(ok(c.risk_facts(&line_id("line-f"))), (Some(at(10)), Some(at(20))));
    // An imported SIM change date wins over the trigger's.
    ok(c.set_sim_changed_at(&line_id("line-f"), at(5)));
    assert_eq!(ok(c.risk_facts(&line_id("line-f"))), (Some(at(5)), Some(at(20))));

    // Case origins.
    ok(c.record_case_origin(&case_id("case-f1"), "client:tok_1", Some("10.0.0.1"), at(0)));
    ok(c.record_case_origin(&case_id("case-f2"), "client:tok_1", None, at(50)));
    ok(c.record_case_origin(&case_id("case-f3"), "staff:s1", Some("10.0.0.1"), at(100)));
    ok(c.record_case_origin(&case_id("case-f3"), "staff:s9", Some("10.0.0.9"), at(100)));
    assert_eq!(ok(c.cases_opened_by("client:tok_1", at(0), 100)), 2);
    assert_eq!(ok(c.cases_opened_by("client:tok_1", at(1), 100)), 1);
    // The count stops at the bound.
    assert_eq!(ok(c.cases_opened_by("client:tok_1", at(0), 1)), 1);
    assert_eq!(ok(c.cases_opened_from("10.0.0.1", at(0), 100)), 2);
    assert_eq!(ok(c.cases_opened_from("10.0.0.9", at(0), 100)), 0);

    // Locks and their lifts.
    let all = Locks { port_out: true, sim_change: true, cancellation: true };
    assert!(ok(c.set_account_locks(&account_id("acc-f"), all, at(40))));
    assert!(!ok(c.set_account_locks(&account_id("nobody"), all, at(40))));
    assert_eq!(ok(c.get_account(&account_id("acc-f"))).map(|a| a.locks), Some(all));
    assert!(ok(c.put_lock_lift(&account_id("acc-f"), at(40), at(100))));
    assert!(!ok(c.put_lock_lift(&account_id("acc-f"), at(41), at(101))), "one pending lift per account");
    assert_eq!(ok(c.lock_lift(&account_id("acc-f"))), Some(at(100)));
    assert_eq!(ok(c.take_due_lock_lifts(at(99), 10)), Vec::<AccountId>::new());
    assert!(ok(c.cancel_lock_lift(&account_id("acc-f"))));
    assert!(!ok(c.cancel_lock_lift(&account_id("acc-f"))));
    assert!(ok(c.put_lock_lift(&account_id("acc-f"), at(50), at(110))));
    assert_eq!(ok(c.take_due_lock_lifts(at(110), 10)), vec![account_id("acc-f")]);
    assert_eq!(ok(c.take_due_lock_lifts(at(200), 10)), Vec::<AccountId>::new(), "taken once");
    assert_eq!(ok(c.lock_lift(&account_id("acc-f"))), None);

    // Fraud codes: bound to a case, used once; an unknown hash changes nothing.
    ok(c.insert_fraud_code("hash-1", &case_id("case-f1"), at(0)));
    assert_eq!(ok(c.use_fraud_code("hash-x", at(1))), None);
    assert_eq!(ok(c.use_fraud_code("hash-1", at(1))), Some(case_id("case-f1")));
    assert_eq!(ok(c.use_fraud_code("hash-1", at(2))), None);
    assert_eq!(ok(c.account_msisdns(&account_id("acc-f"), 5)), vec![msisdn(1)]);
}
