//! Query plans of the hot statements: every statement the engine, the workers and the
//! metrics scrape issue is EXPLAINed on both backends, and none may read a big table
//! from end to end. SQLite (no statistics, so its planner assumes big tables) must not
//! `SCAN` a big table without an index; PostgreSQL, with sequential scans priced out
//! (`enable_seqscan = off`), must not fall back to a `Seq Scan` on one: if it still
//! does, no index serves the statement.
//!
//! A statement that needs a new index gets it from a new numbered migration.

use crate::conn::{self, list_cases_query};
use crate::db::{Db, Dialect, Val};
use crate::tests::{POSTGRES_URL_VAR, postgres_fixture, sqlite_fixture};
use lineout_app::ports::{CaseFilter, Store};
use lineout_domain::Status;
use lineout_domain::case::Channel;
use lineout_domain::values::{AccountId, CaseId, LineId};
use time::macros::datetime;

/// Tables that grow with the business; a full scan of one is a bug on a hot path.
const BIG_TABLES: &[&str] = &[
    "accounts",
    "lines",
    "devices",
    "cases",
    "events",
    "timers",
    "outbox",
    "api_tokens",
    "verification_codes",
    "rate_windows",
    "case_origins",
    "fraud_codes",
    "account_lock_lifts",
];

/// Statement parameters of each SQL type, for PostgreSQL's typed binding.
const ID: Val<'static> = Val::Text("x-1");
const TEXT: Val<'static> = Val::Text("text");
const INT: Val<'static> = Val::Int(1_736_935_200_000);
const NO_TEXT: Val<'static> = Val::OptText(None);
const NO_INT: Val<'static> = Val::OptInt(None);

/// Every hot statement with sample parameters of the right types.
fn hot_statements(dialect: Dialect) -> Vec<(&'static str, String, Vec<Val<'static>>)> {
    let sqlite = dialect == Dialect::Sqlite;
    let fixed: Vec<(&'static str, &'static str, Vec<Val<'static>>)> = vec![
        ("get account", conn::GET_ACCOUNT, vec![ID]),
        ("get line", conn::GET_LINE, vec![ID]),
        ("find line by msisdn", conn::FIND_LINE_BY_MSISDN, vec![TEXT]),
        ("set line status", conn::SET_LINE_STATUS, vec![ID, TEXT, INT]),
        ("get device", conn::GET_DEVICE, vec![ID]),
        ("devices for line", conn::DEVICES_FOR_LINE, vec![ID]),
        ("get case", conn::GET_CASE, vec![ID]),
        ("open case for line", conn::OPEN_CASE_FOR_LINE, vec![ID, TEXT]),
        ("find line by iccid", conn::FIND_LINE_BY_ICCID, vec![TEXT]),
        ("insert case", conn::INSERT_CASE, vec![ID, TEXT, TEXT, ID, ID, INT, INT, INT, TEXT, TEXT, TEXT]),
        ("update case", conn::UPDATE_CASE, vec![ID, TEXT, TEXT, ID, ID, INT, INT, INT, TEXT, TEXT, INT]),
        ("append event", conn::APPEND_EVENT, vec![ID, INT, INT, TEXT, TEXT, TEXT, TEXT]),
        ("events for case", conn::EVENTS_FOR_CASE, vec![ID]),
        ("case ids", conn::CASE_IDS, vec![ID, INT]),
        ("set timer", conn::SET_TIMER, vec![ID, TEXT, INT]),
        ("cancel timer", conn::CANCEL_TIMER, vec![ID, TEXT]),
        ("cancel all timers", conn::CANCEL_ALL_TIMERS, vec![ID]),
        (
            "claim due timers",
            if sqlite { conn::SQLITE_CLAIM_TIMERS } else { conn::POSTGRES_CLAIM_TIMERS },
            vec![INT, INT, INT],
        ),
        ("fire timer", conn::FIRE_TIMER, vec![ID, TEXT, INT]),
        ("timers for case", conn::TIMERS_FOR_CASE, vec![ID]),
        ("insert outbox", conn::INSERT_OUTBOX, vec![ID, ID, TEXT, TEXT, TEXT, INT, INT, NO_TEXT, INT, NO_INT]),
        (
            "claim outbox",
            if sqlite { conn::SQLITE_CLAIM_OUTBOX } else { conn::POSTGRES_CLAIM_OUTBOX },
            vec![INT, INT, INT],
        ),
        ("complete outbox", conn::COMPLETE_OUTBOX, vec![ID, INT, INT]),
        ("retry outbox", conn::RETRY_OUTBOX, vec![ID, INT, INT, TEXT]),
        ("dead-letter outbox", conn::DEAD_LETTER_OUTBOX, vec![ID, INT, TEXT, INT]),
        ("outbox for case", conn::OUTBOX_FOR_CASE, vec![ID]),
        ("outbox stats", conn::OUTBOX_STATS, vec![]),
        ("case counts", conn::CASE_COUNTS, vec![]),
        ("earliest timer", conn::EARLIEST_TIMER, vec![]),
        ("find token", conn::FIND_TOKEN, vec![TEXT]),
        ("find verification code", conn::FIND_VERIFICATION_CODE, vec![ID, TEXT]),
        ("rate window", conn::RATE_WINDOW, vec![TEXT]),
        ("set rate window", conn::SET_RATE_WINDOW, vec![TEXT, INT, INT]),
        // Fraud guards (migration 6).
        ("risk facts", conn::RISK_FACTS, vec![ID]),
        ("insert case origin", conn::INSERT_CASE_ORIGIN, vec![ID, TEXT, NO_TEXT, INT]),
        ("cases opened by", conn::CASES_OPENED_BY, vec![TEXT, INT, INT]),
        ("cases opened from", conn::CASES_OPENED_FROM, vec![TEXT, INT, INT]),
        (
            "set account locks",
            conn::SET_ACCOUNT_LOCKS,
            vec![ID, Val::Bool(true), Val::Bool(true), Val::Bool(true), INT],
        ),
        ("put lock lift", conn::PUT_LOCK_LIFT, vec![ID, INT, INT]),
        ("lock lift", conn::LOCK_LIFT, vec![ID]),
        ("cancel lock lift", conn::CANCEL_LOCK_LIFT, vec![ID]),
        (
            "take due lock lifts",
            if sqlite { conn::SQLITE_TAKE_LOCK_LIFTS } else { conn::POSTGRES_TAKE_LOCK_LIFTS },
            vec![INT, INT],
        ),
        ("insert fraud code", conn::INSERT_FRAUD_CODE, vec![TEXT, ID, INT]),
        ("use fraud code", conn::USE_FRAUD_CODE, vec![TEXT, INT]),
        ("account msisdns", conn::ACCOUNT_MSISDNS, vec![ID, INT]),
        ("set sim changed at", conn::SET_SIM_CHANGED_AT, vec![ID, INT]),
    ];
    let mut all: Vec<(&'static str, String, Vec<Val<'static>>)> =
        fixed.into_iter().map(|(name, sql, params)| (name, sql.to_owned(), params)).collect();
    for (name, filter) in list_filters() {
        let (sql, params) = list_cases_query(&filter);
        // The parameters borrow the filter; the plan only needs their types.
        let params = params.iter().map(|v| owned(*v)).collect();
        all.push((name, sql, params));
    }
    all
}

/// A parameter of the same type with a `'static` value.
fn owned(v: Val<'_>) -> Val<'static> {
    match v {
        Val::Text(_) | Val::OptText(Some(_)) => TEXT,
        Val::OptText(None) => NO_TEXT,
        Val::Int(i) => Val::Int(i),
        Val::OptInt(i) => Val::OptInt(i),
        Val::Bool(b) => Val::Bool(b),
    }
}

/// `list_cases` with no filter, each filter alone, an opened range, and a cursor.
fn list_filters() -> Vec<(&'static str, CaseFilter)> {
    let base = CaseFilter { limit: 50, ..CaseFilter::default() };
    let from = datetime!(2025-01-01 00:00 UTC);
    let to = datetime!(2025-02-01 00:00 UTC);
    let id = |s: &str| CaseId::parse(s).ok();
    vec![
        ("list cases", base.clone()),
        ("list cases after a cursor", CaseFilter { after: id("c-1"), ..base.clone() }),
        ("list cases by status", CaseFilter { status: Some(Status::Verifying), ..base.clone() }),
        ("list cases by channel", CaseFilter { channel: Some(Channel::Web), ..base.clone() }),
        ("list cases by line", CaseFilter { line_id: LineId::parse("l-1").ok(), ..base.clone() }),
        ("list cases by account", CaseFilter { account_id: AccountId::parse("a-1").ok(), ..base.clone() }),
        ("list cases opened from", CaseFilter { opened_from: Some(from), ..base.clone() }),
        ("list cases opened before", CaseFilter { opened_to: Some(to), ..base.clone() }),
        ("list cases opened between", CaseFilter { opened_from: Some(from), opened_to: Some(to), ..base.clone() }),
        (
            "list cases by status and channel after a cursor",
            CaseFilter { status: Some(Status::Closed), channel: Some(Channel::Bulk), after: id("c-9"), ..base },
        ),
    ]
}

/// The plan of `sql` as lines of text.
fn plan(db: &mut dyn Db, sql: &str, params: &[Val<'_>]) -> Vec<String> {
    let (explain, column) = match db.dialect() {
        Dialect::Sqlite => ("EXPLAIN QUERY PLAN ", 3),
        Dialect::Postgres => ("EXPLAIN ", 0),
    };
    let mut lines = Vec::new();
    let result = db.query(&format!("{explain}{sql}"), params, &mut |r| {
        lines.push(r.text(column)?);
        Ok(())
    });
    if let Err(e) = result {
        panic!("cannot explain {sql}: {e}");
    }
    lines
}

/// The big table a plan line reads from end to end, if it does.
fn full_scan(dialect: Dialect, line: &str) -> Option<&'static str> {
    match dialect {
        // `SCAN t`, `SCAN t USING INDEX i`, `SCAN t USING COVERING INDEX i`; the last two
        // walk an index (a covering one reads no row), which the rule allows.
        Dialect::Sqlite => {
            let rest = line.trim().strip_prefix("SCAN ")?;
            let table = rest.split_whitespace().next()?;
            let big = BIG_TABLES.iter().find(|t| **t == table)?;
            (!rest.contains(" USING INDEX ") && !rest.contains(" USING COVERING INDEX ")).then_some(*big)
        }
        Dialect::Postgres => {
            let rest = &line[line.find("Seq Scan on ")? + "Seq Scan on ".len()..];
            let table = rest.split_whitespace().next()?;
            BIG_TABLES.iter().find(|t| **t == table).copied()
        }
    }
}

/// Explains every hot statement and fails naming each one that scans a big table.
fn check_plans(db: &mut dyn Db) {
    let dialect = db.dialect();
    if dialect == Dialect::Postgres
        && let Err(e) = db.script("SET enable_seqscan = off")
    {
        panic!("cannot price out sequential scans: {e:?}");
    }
    let mut report = String::new();
    let mut scans = Vec::new();
    for (name, sql, params) in hot_statements(dialect) {
        let lines = plan(db, &sql, &params);
        report.push_str(&format!("{name}: {sql}\n"));
        for line in &lines {
            report.push_str(&format!("    {line}\n"));
            if let Some(table) = full_scan(dialect, line) {
                scans.push(format!("{name} scans {table}: {line}"));
            }
        }
    }
    eprintln!("{report}");
    assert!(scans.is_empty(), "full scans of big tables:\n{}\n\nplans:\n{report}", scans.join("\n"));
}

#[test]
fn hot_statements_use_indexes_on_sqlite() {
    let f = sqlite_fixture();
    f.store.migrate().unwrap();
    check_plans(&mut f.store.raw_db().unwrap());
}

#[test]
fn hot_statements_use_indexes_on_postgres() {
    let Some(f) = postgres_fixture() else {
        eprintln!("skipped: set {POSTGRES_URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) to run");
        return;
    };
    f.store.migrate().unwrap();
    check_plans(&mut f.store.raw_db().unwrap());
}

#[test]
fn the_scan_rule_reads_both_dialects() {
    assert_eq!(full_scan(Dialect::Sqlite, "SCAN cases"), Some("cases"));
    assert_eq!(full_scan(Dialect::Sqlite, "SCAN cases USING COVERING INDEX cases_status_idx"), None);
    assert_eq!(full_scan(Dialect::Sqlite, "SCAN outbox USING INDEX outbox_status_next_idx"), None);
    assert_eq!(full_scan(Dialect::Sqlite, "SEARCH cases USING INDEX cases_status_idx (status=? AND id>?)"), None);
    assert_eq!(full_scan(Dialect::Sqlite, "SCAN schema_migrations"), None);
    assert_eq!(full_scan(Dialect::Sqlite, "SCAN CONSTANT ROW"), None);
    assert_eq!(
        full_scan(Dialect::Postgres, "  ->  Seq Scan on timers  (cost=0.00..1.01 rows=1 width=8)"),
        Some("timers")
    );
    assert_eq!(full_scan(Dialect::Postgres, "Index Scan using cases_pkey on cases  (cost=0.15..8.17 rows=1)"), None);
}
