//! Runs the conformance suite against both backends: one test per check per
//! backend (`sqlite::<check>` and `postgres::<check>`). SQLite uses a fresh file in
//! a temporary directory; PostgreSQL a fresh schema in the database named by
//! `LINEOUT_TEST_POSTGRES_URL`, or the test notes the skip and passes when unset.

use crate::conformance::{self, Fixture};
use crate::{PostgresStore, SqliteStore};
use lineout_app::ports::{Store, StoreResult};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming the PostgreSQL database for tests.
pub(crate) const POSTGRES_URL_VAR: &str = "LINEOUT_TEST_POSTGRES_URL";

pub(crate) struct SqliteFixture {
    pub(crate) store: SqliteStore,
    // Kept to delete the directory after the test.
    _dir: tempfile::TempDir,
}

impl Fixture for SqliteFixture {
    fn store(&self) -> &dyn Store {
        &self.store
    }
    fn exec_raw(&self, sql: &str) -> StoreResult<u64> {
        self.store.execute_raw(sql)
    }
    fn query_int_raw(&self, sql: &str) -> StoreResult<Option<i64>> {
        self.store.query_int_raw(sql)
    }
}

pub(crate) fn sqlite_fixture() -> SqliteFixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("lineout.db")).unwrap();
    SqliteFixture { store, _dir: dir }
}

/// A PostgreSQL schema of its own, dropped (best effort) when the test ends.
pub(crate) struct PostgresFixture {
    pub(crate) store: PostgresStore,
}

impl Drop for PostgresFixture {
    fn drop(&mut self) {
        if let Err(e) = self.store.drop_schema() {
            eprintln!("could not drop test schema {:?}: {e}", self.store.schema());
        }
    }
}

impl Fixture for PostgresFixture {
    fn store(&self) -> &dyn Store {
        &self.store
    }
    fn exec_raw(&self, sql: &str) -> StoreResult<u64> {
        self.store.execute_raw(sql)
    }
    fn query_int_raw(&self, sql: &str) -> StoreResult<Option<i64>> {
        self.store.query_int_raw(sql)
    }
}

pub(crate) fn postgres_fixture() -> Option<PostgresFixture> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let url = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty())?;
    // A per-process random part instead of a clock reading (tests do not read the
    // clock): a reused pid cannot collide with a schema a killed run left behind.
    let salt = std::collections::hash_map::RandomState::new().build_hasher().finish() % 1_000_000_000_000;
    let schema = format!("lineout_t_{}_{}_{salt}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let store = PostgresStore::connect(&url, Some(&schema)).unwrap();
    Some(PostgresFixture { store })
}

fn on_sqlite(check: conformance::Check) {
    check(&sqlite_fixture());
}

fn on_postgres(check: conformance::Check) {
    match postgres_fixture() {
        Some(f) => check(&f),
        None => eprintln!("skipped: set {POSTGRES_URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) to run"),
    }
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $check() { super::on_sqlite(crate::conformance::$check) } )*
        }
        mod postgres {
            $( #[test] fn $check() { super::on_postgres(crate::conformance::$check) } )*
        }
        /// A check added to the suite but not here would silently never run.
        #[test]
        fn every_check_has_tests() {
            let here = [$(stringify!($check)),*];
            let suite: Vec<&str> = conformance::CHECKS.iter().map(|(name, _)| *name).collect();
            assert_eq!(here.as_slice(), suite.as_slice());
        }
    };
}

conformance_tests!(
    migrate_is_idempotent,
    account_upserts,
    line_upserts,
    device_upserts,
    missing_references_and_conflicts,
    savepoint_rolls_back_one_step,
    rollback_discards_and_readers_see_commits,
    case_insert_get_update,
    one_open_case_per_line,
    list_cases_filters_and_pages,
    case_ids_walk_every_case,
    events_append_in_order,
    events_are_append_only,
    timers_set_claim_fire_cancel,
    outbox_lifecycle,
    case_counts_and_earliest_timer,
    numbers_and_transfer_pins,
    messages_and_dead_letters,
    ledger_appends_once_and_pages,
    money_columns_and_ledger_lookup,
    tokens_insert_find,
    corrupt_rows_are_errors,
    records_personal_data_and_erasure,
    records_exports_privacy_and_schedules,
    verification_codes_and_rate_windows,
    fraud_guard_tables,
);

#[test]
fn run_all_runs_every_check_on_fresh_sqlite_databases() {
    conformance::run_all(&|| Box::new(sqlite_fixture()));
}

#[test]
fn sqlite_connections_use_the_configured_pragmas() {
    let f = sqlite_fixture();
    assert_eq!(f.store.query_int_raw("PRAGMA synchronous").unwrap(), Some(2));
    assert_eq!(f.store.query_int_raw("PRAGMA foreign_keys").unwrap(), Some(1));
    assert_eq!(f.store.query_int_raw("PRAGMA busy_timeout").unwrap(), Some(5_000));
    // Readers keep a small page cache (the writer a larger one).
    assert_eq!(f.store.query_int_raw("PRAGMA cache_size").unwrap(), Some(-2 * 1024));
    let wal = f.store.query_int_raw("SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'").unwrap();
    assert_eq!(wal, Some(1));
}

#[test]
fn a_newer_schema_is_refused() {
    let f = sqlite_fixture();
    f.store.migrate().unwrap();
    f.store.execute_raw("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)").unwrap();
    let err = f.store.migrate().unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn bad_schema_names_are_refused_before_connecting() {
    let err = PostgresStore::connect("postgres://nobody@127.0.0.1:1/none", Some("Bad-Name")).unwrap_err();
    assert!(err.to_string().contains("invalid schema name"), "{err}");
}

#[test]
fn an_unreachable_database_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    assert!(SqliteStore::open(&dir.path().join("missing-dir").join("x.db")).is_err());
    assert!(PostgresStore::connect("postgres://nobody@127.0.0.1:1/none", None).is_err());
}

/// A rough throughput figure for the engine's hot write path on SQLite (run with
/// `cargo test -p lineout-store --release -- --ignored --nocapture throughput`).
#[test]
#[ignore = "benchmark"]
fn throughput_of_case_creation_on_sqlite() {
    use lineout_app::ports::{CaseRecord, OutboxRow, OutboxStatus, Role, StoredEvent, TimerRow};
    use lineout_domain::account::{Account, AccountKind, Line, LineStatus, Locks, Plan};
    use lineout_domain::case::{Actor, Case, CaseFacts, Channel, Event, EventKind, TimerKind, Timing};
    use lineout_domain::values::{AccountId, CaseId, Language, LineId, Money, Msisdn};
    use time::macros::datetime;

    const CASES: u32 = 20_000;
    const BATCH: u32 = 1_000;
    let f = sqlite_fixture();
    f.store.migrate().unwrap();
    let mut c = f.store.connect(Role::Writer).unwrap();
    let now = datetime!(2025-01-15 10:00:00 UTC);
    let account = Account {
        id: AccountId::parse("acc").unwrap(),
        holder_name: "Ada".into(),
        email: None,
        alt_phone: None,
        language: Language::En,
        pin_hash: None,
        locks: Locks::default(),
        billing_cycle_day: 1,
        kind: AccountKind::Residential,
        owed: Money::usd(0),
        prepaid_balance: Money::usd(0),
    };
    c.begin().unwrap();
    c.upsert_account(&account, now).unwrap();
    for i in 0..CASES {
        let line = Line {
            id: LineId::parse(&format!("line-{i}")).unwrap(),
            account_id: account.id.clone(),
            msisdn: Msisdn::parse(&format!("+1415{:07}", 2_000_000 + i)).unwrap(),
            iccid: None,
            imsi: None,
            eid: None,
            plan: Plan::Prepaid,
            status: LineStatus::Active,
            monthly_charge_cents: 0,
        };
        c.upsert_line(&line, now).unwrap();
    }
    c.commit().unwrap();
    let started = std::time::Instant::now();
    for batch in 0..CASES / BATCH {
        c.begin().unwrap();
        for j in 0..BATCH {
            let i = batch * BATCH + j;
            c.savepoint().unwrap();
            let line = c.get_line(&LineId::parse(&format!("line-{i}")).unwrap()).unwrap().unwrap();
            let acc = c.get_account(&line.account_id).unwrap().unwrap();
            assert!(c.devices_for_line(&line.id).unwrap().is_empty());
            assert!(c.open_case_for_line(&line.id, lineout_domain::case::CaseKind::Cancellation).unwrap().is_none());
            let facts = CaseFacts {
                account_id: acc.id.clone(),
                account_kind: acc.kind,
                line_id: line.id.clone(),
                msisdn: line.msisdn.clone(),
                iccid: None,
                imsi: None,
                eid: None,
                plan: line.plan,
                line_status: line.status,
                language: acc.language,
                billing_cycle_day: acc.billing_cycle_day,
                cancellation_locked: false,
                port_out_locked: false,
                owed: acc.owed,
                prepaid_balance: acc.prepaid_balance,
                device: None,
                monthly_charge_cents: 0,
                remaining_installments_cents: 0,
            };
            let id = CaseId::parse(&format!("case-{i:08}")).unwrap();
            let event = Event {
                seq: 1,
                at: now,
                actor: Actor::Customer,
                kind: EventKind::Opened {
                    kind: Default::default(),
                    channel: Channel::Web,
                    timing: Timing::Immediate,
                    facts: facts.into(),
                    note: None,
                },
            };
            let body = serde_json::to_string(&event).unwrap();
            let hash = lineout_domain::chain::event_hash(lineout_domain::chain::GENESIS, id.as_str(), 1, &body);
            let case = Case::from_opened(id.clone(), &event).unwrap();
            c.insert_case(&CaseRecord { case, last_hash: hash.clone() }).unwrap();
            c.append_events(&[StoredEvent {
                case_id: id.clone(),
                seq: 1,
                at: now,
                kind: "opened".into(),
                body,
                prev_hash: lineout_domain::chain::GENESIS.into(),
                hash,
            }])
            .unwrap();
            c.set_timer(TimerRow { case_id: &id, kind: TimerKind::VerificationExpiry, due_at: now }).unwrap();
            c.insert_outbox(&[OutboxRow {
                id: format!("{}:1:notify", id.as_str()),
                case_id: id.clone(),
                kind: "notify".into(),
                payload: "{}".into(),
                status: OutboxStatus::Pending,
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                created_at: now,
                done_at: None,
            }])
            .unwrap();
            c.release_savepoint().unwrap();
        }
        c.commit().unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{CASES} case creations in {secs:.2}s: {:.0}/s", f64::from(CASES) / secs);
    let started = std::time::Instant::now();
    for i in 0..CASES {
        c.get_line(&LineId::parse(&format!("line-{i}")).unwrap()).unwrap().unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{CASES} get_line in {secs:.2}s: {:.1} µs each", secs * 1e6 / f64::from(CASES));
}
