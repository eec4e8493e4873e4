//! `lineout import ledger`: historical entries from CSV and JSON, checked per row,
//! idempotent by reference, and part of the derived balance.

use super::*;
use crate::test_support::{engine_on, temp_db};
use std::io::Write;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    if let Ok(mut f) = File::create(&path) {
        let _ = f.write_all(text.as_bytes());
    }
    path
}

const ACCOUNTS: &str = "\
id,holder_name,billing_cycle_day,owed_cents,prepaid_balance_cents
A1,Ana Diaz,5,0,1500
A2,Wang Fang,12,0,0
";

const LEDGER: &str = "\
account_id,kind,amount_cents,currency,reference,description,at
A1,charge,4500,USD,INV-2026-10,October plan,2026-10-05
A1,payment,4500,,PAY-881,,2026-10-09T10:00:00Z
A1,fee,250,USD,FEE-1,late fee,
A1,charge,12.345,USD,INV-X,,
A1,charge,-100,USD,INV-Y,,
A1,charge,100,EUR,INV-Z,,
A1,forfeit,100,USD,F-1,,
NOPE,charge,100,USD,INV-N,,
A2,credit,700,USD,CR-7,goodwill,2026-11-01
";

fn ledger_of(engine: &Engine, id: &str) -> lineout_app::engine::AccountLedger {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let Ok(runtime) = runtime else { panic!("runtime") };
    let id = lineout_domain::values::AccountId::parse(id).unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(engine.account_ledger(id)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn ledger_rows_are_checked_imported_once_and_counted_in_the_balance()
-> std::result::Result<(), Box<dyn std::error::Error>> {
    let (dir, url) = temp_db()?;
    let engine = engine_on(&url)?;
    run(&engine, &write(&dir, "a.csv", ACCOUNTS), &Options::new(RecordKind::Accounts))?;
    let path = write(&dir, "ledger.csv", LEDGER);
    let opts = Options::new(RecordKind::Ledger);
    let first = run(&engine, &path, &opts)?;
    assert_eq!((first.rows, first.inserted, first.rejected), (9, 4, 5), "{first:?}");
    let shown: Vec<String> = first.rejections.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "line 5: amount_cents: must be a whole number of cents, not '12.345'",
            "line 6: amount_cents: must be a positive whole number of cents, at most 10^13",
            "line 8: kind: must be one of charge, payment, credit, refund, write_off, fee",
            "line 7: currency: ledger_currency_mismatch: the account's ledger is in USD",
            "line 9: account_id: no account has this id (import accounts first)",
        ]
    );
    // The balance: opening -1500 (prepaid) + 4500 - 4500 + 250 = -1250.
    let ledger = ledger_of(&engine, "A1");
    assert_eq!(ledger.entries.len(), 3);
    assert_eq!(ledger.balance.cents, -1_250);
    assert_eq!(ledger.entries[0].0.description, "October plan");
    assert_eq!(ledger_of(&engine, "A2").balance.cents, -700);

    // A second import of the same file adds nothing.
    let second = run(&engine, &path, &opts)?;
    assert_eq!((second.inserted, second.unchanged, second.rejected), (0, 4, 5), "{second:?}");
    assert_eq!(ledger_of(&engine, "A1").entries.len(), 3);

    // The same reference with other content is refused, and the first entry stays.
    let changed =
        "account_id,kind,amount_cents,reference,description,at\nA1,charge,9999,INV-2026-10,October plan,2026-10-05\n";
    let third = run(&engine, &write(&dir, "changed.csv", changed), &opts)?;
    assert_eq!((third.inserted, third.rejected), (0, 1), "{third:?}");
    assert!(third.rejections[0].to_string().contains("ledger_reference_conflict"), "{third:?}");
    assert_eq!(ledger_of(&engine, "A1").balance.cents, -1_250);
    Ok(())
}

#[test]
fn ledger_rows_import_from_json_too() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let (dir, url) = temp_db()?;
    let engine = engine_on(&url)?;
    run(&engine, &write(&dir, "a.csv", ACCOUNTS), &Options::new(RecordKind::Accounts))?;
    let json = r#"[
  {"account_id": "A2", "kind": "charge", "amount_cents": 3000, "reference": "INV-1", "at": "2026-10-12"},
  {"account_id": "A2", "kind": "write_off", "amount_cents": 500, "reference": "WO-1"},
  {"account_id": "A2", "kind": "charge", "amount_cents": 12.345, "reference": "INV-2"}
]"#;
    let summary = run(&engine, &write(&dir, "ledger.json", json), &Options::new(RecordKind::Ledger))?;
    assert_eq!((summary.rows, summary.inserted, summary.rejected), (3, 2, 1), "{summary:?}");
    assert_eq!(summary.rejections[0].line, 4);
    assert_eq!(summary.rejections[0].field, "amount_cents");
    assert_eq!(ledger_of(&engine, "A2").balance.cents, 2_500);
    Ok(())
}
