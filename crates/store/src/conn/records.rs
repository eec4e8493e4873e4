//! The records port over both backends: personal data side table, account flags,
//! exports, privacy requests and schedules (schema version 7).

use super::{SqlConn, limit, message_record};
use crate::codec::{from_ms, ms};
use crate::db::{Db, Row, Val, corrupt};
use crate::schema::terminal_statuses;
use lineout_app::ports::{MessageRecord, StoreError, StoreResult};
use lineout_app::records_port::{AccountState, ExportRow, ExportStatus, PrivacyRow, RecordsConn, RetentionCandidate};
use lineout_domain::personal::{ERASED, Personal};
use lineout_domain::privacy::{Deadlines, RequestKind, RequestStatus};
use lineout_domain::values::{AccountId, CaseId};
use time::OffsetDateTime;

const PERSONAL_ERRORS: &[(&str, StoreError)] = &[("personal_data_pkey", StoreError::Conflict("personal_ref"))];
const EXPORT_ERRORS: &[(&str, StoreError)] = &[
    ("exports_pkey", StoreError::Conflict("export_id")),
    ("exports_token_hash_key", StoreError::Conflict("export_token")),
];
const PRIVACY_ERRORS: &[(&str, StoreError)] = &[("privacy_requests_pkey", StoreError::Conflict("privacy_request_id"))];

const INSERT_PERSONAL: &str =
    "INSERT INTO personal_data (case_id, ref, account_id, key, value) VALUES ($1, $2, $3, $4, $5)";
const PERSONAL_OF_CASE: &str = "SELECT ref, key, value FROM personal_data WHERE case_id = $1 ORDER BY ref";
const ERASE_PERSONAL_ALL: &str = "DELETE FROM personal_data WHERE case_id = $1";
const ERASE_PERSONAL_EXCEPT: &str = "DELETE FROM personal_data WHERE case_id = $1 AND key <> $2";

const ACCOUNT_STATE: &str =
    "SELECT legal_hold, hold_reason, erased_at, kept_until FROM account_records WHERE account_id = $1";
const SET_HOLD: &str = "INSERT INTO account_records (account_id, legal_hold, hold_reason, updated_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET legal_hold = $2, hold_reason = $3, updated_at = $4";
const SET_ERASED: &str = "INSERT INTO account_records (account_id, legal_hold, erased_at, kept_until, updated_at) \
    VALUES ($1, $2, $3, $4, $3) ON CONFLICT (account_id) DO UPDATE SET erased_at = $3, kept_until = $4, updated_at = $3";
const ANON_ACCOUNT: &str = "UPDATE accounts SET holder_name = $2, email = NULL, alt_phone = NULL, pin_hash = NULL, \
    updated_at = $3 WHERE id = $1";
// The number column is unique: each erased line keeps a distinct marker.
const ANON_LINES: &str = "UPDATE lines SET msisdn = $2 || ':' || id, iccid = NULL, imsi = NULL, eid = NULL, \
    updated_at = $3 WHERE account_id = $1";
const ANON_DEVICES: &str =
    "UPDATE devices SET imei = $2, updated_at = $3 WHERE line_id IN (SELECT id FROM lines WHERE account_id = $1)";
const ANON_PIN_ATTEMPTS: &str =
    "DELETE FROM pin_attempts WHERE line_id IN (SELECT id FROM lines WHERE account_id = $1)";
const ANON_EXPORTS: &str = "UPDATE exports SET data = NULL WHERE account_id = $1";
const PURGE_OUTBOX: &str = "DELETE FROM outbox WHERE case_id = $1 AND status <> 'pending'";
const RETENTION_CANDIDATES: &str = concat!(
    "SELECT a.id, (SELECT MAX(c.updated_at) FROM cases c WHERE c.account_id = a.id), ",
    "COALESCE(r.legal_hold, $2), r.hold_reason, r.erased_at, r.kept_until ",
    "FROM accounts a LEFT JOIN account_records r ON r.account_id = a.id ",
    "WHERE a.id > $1 AND (r.account_id IS NULL OR (r.legal_hold = $2 AND (r.erased_at IS NULL OR r.kept_until IS NOT NULL))) ",
    "AND EXISTS (SELECT 1 FROM lines l WHERE l.account_id = a.id) ",
    "AND NOT EXISTS (SELECT 1 FROM lines l WHERE l.account_id = a.id AND l.status NOT IN ('terminated', 'ported_out')) ",
    "AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.account_id = a.id AND c.status NOT IN ",
    terminal_statuses!(),
    ") ORDER BY a.id LIMIT $3"
);
const MESSAGES_OF_CASE: &str = "SELECT effect_id, case_id, notice, auth_code, state, created_at, sent_at \
    FROM messages WHERE case_id = $1 ORDER BY created_at, effect_id";

const EXPORT_COLUMNS: &str = "id, account_id, status, requested_at, requested_by, token_hash, expires_at, ready_at, \
    downloaded_at, size_bytes, error";
const INSERT_EXPORT: &str = "INSERT INTO exports (id, account_id, status, requested_at, requested_by, token_hash, \
    expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const FINISH_EXPORT: &str = "UPDATE exports SET status = $2, data = $3, size_bytes = $4, error = $5, ready_at = $6 \
    WHERE id = $1 AND status = 'pending'";
const TAKE_EXPORT: &str =
    "UPDATE exports SET downloaded_at = $2 WHERE id = $1 AND downloaded_at IS NULL AND status = 'ready'";
const EXPORT_DATA: &str = "SELECT data FROM exports WHERE id = $1";

const PRIVACY_COLUMNS: &str = "id, account_id, kind, status, received_at, ack_due_at, due_at, extended, \
    extension_notice, acknowledged_at, completed_at, ack_overdue, overdue, next_check_at, outcome";
const INSERT_PRIVACY: &str = "INSERT INTO privacy_requests (id, account_id, kind, status, received_at, ack_due_at, \
    due_at, extended, extension_notice, acknowledged_at, completed_at, ack_overdue, overdue, next_check_at, outcome) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
const UPDATE_PRIVACY: &str = "UPDATE privacy_requests SET status = $4, ack_due_at = $6, due_at = $7, extended = $8, \
    extension_notice = $9, acknowledged_at = $10, completed_at = $11, ack_overdue = $12, overdue = $13, \
    next_check_at = $14, outcome = $15 WHERE id = $1 AND account_id = $2 AND kind = $3 AND received_at = $5";
const COUNT_OVERDUE: &str =
    "SELECT COUNT(*) FROM privacy_requests WHERE status <> 'completed' AND (ack_overdue = $1 OR overdue = $1)";

const SCHEDULE: &str = "SELECT at FROM schedules WHERE name = $1";
const SET_SCHEDULE: &str = "INSERT INTO schedules (name, at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET at = $2";

fn account_id(r: &dyn Row, idx: usize) -> StoreResult<AccountId> {
    AccountId::parse(&r.text(idx)?).map_err(|e| corrupt(format!("account id: {e}")))
}

fn opt_time(r: &dyn Row, idx: usize) -> StoreResult<Option<OffsetDateTime>> {
    r.opt_int(idx)?.map(from_ms).transpose()
}

fn export_row(r: &dyn Row) -> StoreResult<ExportRow> {
    let status = r.text(2)?;
    Ok(ExportRow {
        id: r.text(0)?,
        account_id: account_id(r, 1)?,
        status: ExportStatus::parse(&status).ok_or_else(|| corrupt(format!("export status {status}")))?,
        requested_at: from_ms(r.int(3)?)?,
        requested_by: r.text(4)?,
        token_hash: r.text(5)?,
        expires_at: from_ms(r.int(6)?)?,
        ready_at: opt_time(r, 7)?,
        downloaded_at: opt_time(r, 8)?,
        size_bytes: r.opt_int(9)?.map(|n| u64::try_from(n).map_err(|_| corrupt("export size"))).transpose()?,
        error: r.opt_text(10)?,
    })
}

fn privacy_row(r: &dyn Row) -> StoreResult<PrivacyRow> {
    let kind = r.text(2)?;
    let status = r.text(3)?;
    Ok(PrivacyRow {
        id: r.text(0)?,
        account_id: account_id(r, 1)?,
        kind: RequestKind::parse(&kind).ok_or_else(|| corrupt(format!("privacy kind {kind}")))?,
        status: RequestStatus::parse(&status).ok_or_else(|| corrupt(format!("privacy status {status}")))?,
        received_at: from_ms(r.int(4)?)?,
        deadlines: Deadlines { ack_due_at: from_ms(r.int(5)?)?, due_at: from_ms(r.int(6)?)?, extended: r.flag(7)? },
        extension_notice: r.opt_text(8)?,
        acknowledged_at: opt_time(r, 9)?,
        completed_at: opt_time(r, 10)?,
        ack_overdue: r.flag(11)?,
        overdue: r.flag(12)?,
        next_check_at: opt_time(r, 13)?,
        outcome: r.opt_text(14)?,
    })
}

fn size(n: u64) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Backend("export too large".into()))
}

impl<D: Db> SqlConn<D> {
    fn privacy_params<'a>(row: &'a PrivacyRow) -> [Val<'a>; 15] {
        let d = &row.deadlines;
        [
            row.id.as_str().into(),
            row.account_id.as_str().into(),
            row.kind.as_str().into(),
            row.status.as_str().into(),
            ms(row.received_at).into(),
            ms(d.ack_due_at).into(),
            ms(d.due_at).into(),
            d.extended.into(),
            row.extension_notice.as_deref().into(),
            row.acknowledged_at.map(ms).into(),
            row.completed_at.map(ms).into(),
            row.ack_overdue.into(),
            row.overdue.into(),
            row.next_check_at.map(ms).into(),
            row.outcome.as_deref().into(),
        ]
    }
}

impl<D: Db> RecordsConn for SqlConn<D> {
    fn put_personal(&mut self, case: &CaseId, account: &AccountId, values: &[Personal]) -> StoreResult<()> {
        for p in values {
            let value = serde_json::to_string(&p.value).map_err(|e| StoreError::Backend(format!("personal: {e}")))?;
            self.exec_mapped(
                INSERT_PERSONAL,
                &[
                    case.as_str().into(),
                    p.reference.as_str().into(),
                    account.as_str().into(),
                    p.key.as_str().into(),
                    value.as_str().into(),
                ],
                PERSONAL_ERRORS,
            )?;
        }
        Ok(())
    }

    fn personal_of_case(&mut self, case: &CaseId) -> StoreResult<Vec<(String, String, String)>> {
        self.rows(PERSONAL_OF_CASE, &[case.as_str().into()], |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
    }

    fn erase_personal(&mut self, case: &CaseId, keep_key: Option<&str>) -> StoreResult<u64> {
        match keep_key {
            Some(k) => self.exec(ERASE_PERSONAL_EXCEPT, &[case.as_str().into(), k.into()]),
            None => self.exec(ERASE_PERSONAL_ALL, &[case.as_str().into()]),
        }
    }

    fn account_state(&mut self, account: &AccountId) -> StoreResult<AccountState> {
        let row = self.row(ACCOUNT_STATE, &[account.as_str().into()], |r| {
            Ok(AccountState {
                legal_hold: r.flag(0)?,
                hold_reason: r.opt_text(1)?,
                erased_at: opt_time(r, 2)?,
                kept_until: opt_time(r, 3)?,
            })
        })?;
        Ok(row.unwrap_or_default())
    }

    fn set_legal_hold(
        &mut self,
        account: &AccountId,
        hold: bool,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.exec(SET_HOLD, &[account.as_str().into(), hold.into(), reason.into(), ms(now).into()])?;
        Ok(())
    }

    fn set_erased(
        &mut self,
        account: &AccountId,
        erased_at: OffsetDateTime,
        kept_until: Option<OffsetDateTime>,
    ) -> StoreResult<()> {
        self.exec(
            SET_ERASED,
            &[account.as_str().into(), false.into(), ms(erased_at).into(), kept_until.map(ms).into()],
        )?;
        Ok(())
    }

    fn anonymise_account(&mut self, account: &AccountId, now: OffsetDateTime) -> StoreResult<()> {
        let p: [Val<'_>; 3] = [account.as_str().into(), ERASED.into(), ms(now).into()];
        self.exec(ANON_ACCOUNT, &p)?;
        self.exec(ANON_LINES, &p)?;
        self.exec(ANON_DEVICES, &p)?;
        self.exec(ANON_PIN_ATTEMPTS, &[account.as_str().into()])?;
        self.exec(ANON_EXPORTS, &[account.as_str().into()])?;
        Ok(())
    }

    fn purge_finished_outbox(&mut self, case: &CaseId) -> StoreResult<u64> {
        self.exec(PURGE_OUTBOX, &[case.as_str().into()])
    }

    fn retention_candidates(
        &mut self,
        after: Option<&AccountId>,
        limit_n: u32,
    ) -> StoreResult<Vec<RetentionCandidate>> {
        let after = after.map_or("", AccountId::as_str);
        self.rows(RETENTION_CANDIDATES, &[after.into(), false.into(), limit(limit_n)], |r| {
            Ok(RetentionCandidate {
                account_id: account_id(r, 0)?,
                closed_at: opt_time(r, 1)?,
                state: AccountState {
                    legal_hold: r.flag(2)?,
                    hold_reason: r.opt_text(3)?,
                    erased_at: opt_time(r, 4)?,
                    kept_until: opt_time(r, 5)?,
                },
            })
        })
    }

    fn lines_of_account(&mut self, account: &AccountId) -> StoreResult<Vec<lineout_domain::account::Line>> {
        let sql = concat!(
            "SELECT ",
            crate::codec::line_columns!(),
            " FROM lines WHERE account_id = $1 ORDER BY id LIMIT 1000"
        );
        self.rows(sql, &[account.as_str().into()], crate::codec::line)
    }

    fn messages_of_case(&mut self, case: &CaseId) -> StoreResult<Vec<MessageRecord>> {
        self.rows(MESSAGES_OF_CASE, &[case.as_str().into()], message_record)
    }

    fn insert_export(&mut self, row: &ExportRow) -> StoreResult<()> {
        self.exec_mapped(
            INSERT_EXPORT,
            &[
                row.id.as_str().into(),
                row.account_id.as_str().into(),
                row.status.as_str().into(),
                ms(row.requested_at).into(),
                row.requested_by.as_str().into(),
                row.token_hash.as_str().into(),
                ms(row.expires_at).into(),
            ],
            EXPORT_ERRORS,
        )?;
        Ok(())
    }

    fn pending_exports(&mut self, limit_n: u32) -> StoreResult<Vec<ExportRow>> {
        let sql = format!("SELECT {EXPORT_COLUMNS} FROM exports WHERE status = 'pending' ORDER BY id LIMIT $1");
        self.rows(&sql, &[limit(limit_n)], export_row)
    }

    fn finish_export(
        &mut self,
        id: &str,
        status: ExportStatus,
        data_base64: Option<&str>,
        size_bytes: Option<u64>,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let size_bytes = size_bytes.map(size).transpose()?;
        let n = self.exec(
            FINISH_EXPORT,
            &[id.into(), status.as_str().into(), data_base64.into(), size_bytes.into(), error.into(), ms(now).into()],
        )?;
        Ok(n > 0)
    }

    fn export_by_token(&mut self, token_hash: &str) -> StoreResult<Option<ExportRow>> {
        let sql = format!("SELECT {EXPORT_COLUMNS} FROM exports WHERE token_hash = $1");
        self.row(&sql, &[token_hash.into()], export_row)
    }

    fn take_export(&mut self, id: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        if self.exec(TAKE_EXPORT, &[id.into(), ms(now).into()])? == 0 {
            return Ok(None);
        }
        Ok(self.row(EXPORT_DATA, &[id.into()], |r| r.opt_text(0))?.flatten())
    }

    fn exports_of_account(&mut self, account: &AccountId, limit_n: u32) -> StoreResult<Vec<ExportRow>> {
        let sql =
            format!("SELECT {EXPORT_COLUMNS} FROM exports WHERE account_id = $1 ORDER BY requested_at, id LIMIT $2");
        self.rows(&sql, &[account.as_str().into(), limit(limit_n)], export_row)
    }

    fn insert_privacy_request(&mut self, row: &PrivacyRow) -> StoreResult<()> {
        self.exec_mapped(INSERT_PRIVACY, &Self::privacy_params(row), PRIVACY_ERRORS)?;
        Ok(())
    }

    fn get_privacy_request(&mut self, id: &str) -> StoreResult<Option<PrivacyRow>> {
        let sql = format!("SELECT {PRIVACY_COLUMNS} FROM privacy_requests WHERE id = $1");
        self.row(&sql, &[id.into()], privacy_row)
    }

    fn update_privacy_request(&mut self, row: &PrivacyRow) -> StoreResult<()> {
        self.exec(UPDATE_PRIVACY, &Self::privacy_params(row))?;
        Ok(())
    }

    fn due_privacy_requests(&mut self, now: OffsetDateTime, limit_n: u32) -> StoreResult<Vec<PrivacyRow>> {
        let sql = format!(
            "SELECT {PRIVACY_COLUMNS} FROM privacy_requests WHERE next_check_at <= $1 ORDER BY next_check_at LIMIT $2"
        );
        self.rows(&sql, &[ms(now).into(), limit(limit_n)], privacy_row)
    }

    fn list_privacy_requests(
        &mut self,
        overdue_only: bool,
        after: Option<&str>,
        limit_n: u32,
    ) -> StoreResult<Vec<PrivacyRow>> {
        let filter = if overdue_only {
            "AND status <> 'completed' AND (ack_overdue = $3 OR overdue = $3)"
        } else {
            "AND (ack_overdue = $3 OR ack_overdue <> $3)"
        };
        let sql = format!("SELECT {PRIVACY_COLUMNS} FROM privacy_requests WHERE id > $1 {filter} ORDER BY id LIMIT $2");
        self.rows(&sql, &[after.unwrap_or("").into(), limit(limit_n), true.into()], privacy_row)
    }

    fn count_overdue_privacy_requests(&mut self) -> StoreResult<u64> {
        let n = self.row(COUNT_OVERDUE, &[true.into()], |r| r.int(0))?.unwrap_or(0);
        u64::try_from(n).map_err(|_| corrupt("count"))
    }

    fn schedule(&mut self, name: &str) -> StoreResult<Option<OffsetDateTime>> {
        self.row(SCHEDULE, &[name.into()], |r| from_ms(r.int(0)?))
    }

    fn set_schedule(&mut self, name: &str, at: OffsetDateTime) -> StoreResult<()> {
        self.exec(SET_SCHEDULE, &[name.into(), ms(at).into()])?;
        Ok(())
    }
}
