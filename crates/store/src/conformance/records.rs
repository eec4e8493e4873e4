//! Conformance checks of the records port (schema version 7): the personal-data side
//! table and erasure, account flags, retention candidates, exports, privacy requests
//! and schedules.

use super::{account, account_id, at, bare_account, case_id, device, line, ok, prepared};
use lineout_app::ports::{Role, StoreError};
use lineout_app::records_port::{ExportRow, ExportStatus, PrivacyRow};
use lineout_domain::account::LineStatus;
use lineout_domain::personal::{ERASED, Personal};
use lineout_domain::privacy::{Deadlines, RequestKind, RequestStatus};
use lineout_domain::values::{DeviceId, LineId};
use serde_json::json;

fn personal(reference: &str, key: &str, value: serde_json::Value) -> Personal {
    Personal { reference: reference.into(), key: key.into(), value }
}

pub fn records_personal_data_and_erasure(f: &dyn super::Fixture) {
    let mut c = prepared(f, Role::Writer);
    let acc = account_id("acc-1");
    ok(c.upsert_account(&account("acc-1"), at(0)));
    ok(c.upsert_account(&bare_account("acc-2"), at(0)));
    ok(c.upsert_line(&line("line-1", "acc-1", 1), at(0)));
    ok(c.upsert_line(&line("line-2", "acc-2", 2), at(0)));
    ok(c.upsert_device(&device("dev-1", "line-1", 1), at(0)));
    let (c1, c2) = (case_id("case-1"), case_id("case-2"));
    let values = [personal("1.0", "msisdn", json!("+14155550101")), personal("1.1", "iccid", json!("8901"))];
    ok(c.records().put_personal(&c1, &acc, &values));
    ok(c.records().put_personal(&c2, &account_id("acc-2"), &[personal("1.0", "note", json!("hi"))]));
    assert_eq!(
        c.records().put_personal(&c1, &acc, &values[..1]),
        Err(StoreError::Conflict("personal_ref")),
        "a reference is written once"
    );
    let held = ok(c.records().personal_of_case(&c1));
    assert_eq!(
        held,
        vec![
            ("1.0".to_owned(), "msisdn".to_owned(), "\"+14155550101\"".to_owned()),
            ("1.1".to_owned(), "iccid".to_owned(), "\"8901\"".to_owned())
        ]
    );
    assert_eq!(ok(c.records().erase_personal(&c1, Some("msisdn"))), 1);
    assert_eq!(ok(c.records().personal_of_case(&c1)).len(), 1);
    assert_eq!(ok(c.records().erase_personal(&c1, None)), 1);
    assert!(ok(c.records().personal_of_case(&c1)).is_empty());
    assert_eq!(ok(c.records().personal_of_case(&c2)).len(), 1, "another case's values stay");

    // Flags: none by default; a hold; erasure with a kept-until date.
    assert_eq!(ok(c.records().account_state(&acc)), Default::default());
    ok(c.records().set_legal_hold(&acc, true, Some("litigation"), at(1)));
    let s = ok(c.records().account_state(&acc));
    assert_eq!((s.legal_hold, s.hold_reason.as_deref()), (true, Some("litigation")));
    ok(c.records().set_legal_hold(&acc, false, None, at(2)));
    ok(c.records().set_erased(&acc, at(3), Some(at(100))));
    let s = ok(c.records().account_state(&acc));
    assert_eq!((s.legal_hold, s.erased_at, s.kept_until), (false, Some(at(3)), Some(at(100))));

    // Anonymising touches only this account's rows; the erased rows read back.
    ok(c.records().anonymise_account(&acc, at(4)));
    let a = ok(c.get_account(&acc)).unwrap_or_else(|| panic!("account"));
    assert_eq!((a.holder_name.as_str(), a.email, a.alt_phone, a.pin_hash), (ERASED, None, None, None));
    let l = ok(c.get_line(&LineId::parse("line-1").unwrap_or_else(|_| panic!("id")))).unwrap_or_else(|| panic!("line"));
    assert!(l.msisdn.is_erased() && l.iccid.is_none() && l.imsi.is_none());
    let d =
        ok(c.get_device(&DeviceId::parse("dev-1").unwrap_or_else(|_| panic!("id")))).unwrap_or_else(|| panic!("dev"));
    assert!(d.imei.is_erased());
    assert_eq!(ok(c.get_account(&account_id("acc-2"))), Some(bare_account("acc-2")));
    assert!(
        !ok(c.get_line(&LineId::parse("line-2").unwrap_or_else(|_| panic!("id"))))
            .unwrap_or_else(|| panic!("l"))
            .msisdn
            .is_erased()
    );

    // Retention candidates: every line ended, no hold, data still held (or kept records).
    ok(c.set_line_status(&LineId::parse("line-2").unwrap_or_else(|_| panic!("id")), LineStatus::Terminated, at(5)));
    let found: Vec<String> =
        ok(c.records().retention_candidates(None, 10)).into_iter().map(|r| r.account_id.to_string()).collect();
    assert_eq!(found, vec!["acc-2".to_owned()], "acc-1 still has an active line");
    ok(c.set_line_status(&LineId::parse("line-1").unwrap_or_else(|_| panic!("id")), LineStatus::PortedOut, at(5)));
    let found = ok(c.records().retention_candidates(None, 10));
    assert_eq!(found.len(), 2, "acc-1 keeps records until a date: still a candidate");
    assert_eq!(found[0].state.kept_until, Some(at(100)));
    ok(c.records().set_erased(&acc, at(6), None));
    ok(c.records().set_legal_hold(&account_id("acc-2"), true, Some("hold"), at(6)));
    assert!(ok(c.records().retention_candidates(None, 10)).is_empty(), "fully erased, or held");
    assert_eq!(ok(c.records().lines_of_account(&acc)).len(), 1);
}

fn export(id: &str, acc: &str, token_hash: &str) -> ExportRow {
    ExportRow {
        id: id.into(),
        account_id: account_id(acc),
        status: ExportStatus::Pending,
        requested_at: at(0),
        requested_by: "cli".into(),
        token_hash: token_hash.into(),
        expires_at: at(3600),
        ready_at: None,
        downloaded_at: None,
        size_bytes: None,
        error: None,
    }
}

fn request(id: &str, acc: &str) -> PrivacyRow {
    PrivacyRow {
        id: id.into(),
        account_id: account_id(acc),
        kind: RequestKind::Deletion,
        status: RequestStatus::Received,
        received_at: at(0),
        deadlines: Deadlines { ack_due_at: at(10), due_at: at(45), extended: false },
        extension_notice: None,
        acknowledged_at: None,
        completed_at: None,
        ack_overdue: false,
        overdue: false,
        next_check_at: Some(at(10)),
        outcome: None,
    }
}

pub fn records_exports_privacy_and_schedules(f: &dyn super::Fixture) {
    let mut c = prepared(f, Role::Writer);
    ok(c.records().insert_export(&export("EXP-1", "acc-1", "h1")));
    ok(c.records().insert_export(&export("EXP-2", "acc-2", "h2")));
    assert_eq!(c.records().insert_export(&export("EXP-3", "acc-1", "h1")), Err(StoreError::Conflict("export_token")));
    assert_eq!(ok(c.records().pending_exports(10)).len(), 2);
    assert!(ok(c.records().take_export("EXP-1", at(1))).is_none(), "not ready yet");
    assert!(ok(c.records().finish_export("EXP-1", ExportStatus::Ready, Some("UEsF"), Some(3), None, at(2))));
    assert!(!ok(c.records().finish_export("EXP-1", ExportStatus::Failed, None, None, Some("x"), at(2))));
    let row = ok(c.records().export_by_token("h1")).unwrap_or_else(|| panic!("export"));
    assert_eq!((row.status, row.ready_at, row.size_bytes), (ExportStatus::Ready, Some(at(2)), Some(3)));
    assert_eq!(ok(c.records().take_export("EXP-1", at(3))).as_deref(), Some("UEsF"));
    assert_eq!(ok(c.records().take_export("EXP-1", at(4))), None, "once");
    let mine = ok(c.records().exports_of_account(&account_id("acc-1"), 10));
    assert_eq!((mine.len(), mine[0].downloaded_at), (1, Some(at(3))));
    assert_eq!(ok(c.records().pending_exports(10)).len(), 1);

    let mut r = request("PRQ-1", "acc-1");
    ok(c.records().insert_privacy_request(&r));
    ok(c.records().insert_privacy_request(&request("PRQ-2", "acc-2")));
    assert_eq!(ok(c.records().get_privacy_request("PRQ-1")), Some(r.clone()));
    assert!(ok(c.records().due_privacy_requests(at(9), 10)).is_empty());
    assert_eq!(ok(c.records().due_privacy_requests(at(10), 10)).len(), 2);
    r.ack_overdue = true;
    r.next_check_at = Some(at(45));
    r.deadlines.extended = true;
    r.extension_notice = Some("more time".into());
    ok(c.records().update_privacy_request(&r));
    assert_eq!(ok(c.records().get_privacy_request("PRQ-1")), Some(r.clone()));
    assert_eq!(ok(c.records().count_overdue_privacy_requests()), 1);
    let overdue: Vec<String> =
        ok(c.records().list_privacy_requests(true, None, 10)).into_iter().map(|r| r.id).collect();
    assert_eq!(overdue, vec!["PRQ-1".to_owned()]);
    assert_eq!(ok(c.records().list_privacy_requests(false, Some("PRQ-1"), 10)).len(), 1);
    r.status = RequestStatus::Completed;
    r.outcome = Some("{}".into());
    ok(c.records().update_privacy_request(&r));
    assert_eq!(ok(c.records().count_overdue_privacy_requests()), 0, "completed requests are not overdue");

    assert_eq!(ok(c.records().schedule("retention")), None);
    ok(c.records().set_schedule("retention", at(86_400)));
    ok(c.records().set_schedule("retention", at(2 * 86_400)));
    assert_eq!(ok(c.records().schedule("retention")), Some(at(2 * 86_400)));
}
