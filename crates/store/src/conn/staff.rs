//! Staff of the console and their sessions; the customer portal's sign-in codes and sessions.

use super::{SqlConn, limit};
use crate::codec::{from_ms, ms};
use crate::db::{Db, Row};
use lineout_app::ports::{PortalCode, PortalSession, StaffRecord, StaffSession, StoreError, StoreResult};
use time::OffsetDateTime;

const STAFF_ERRORS: &[(&str, StoreError)] =
    &[("staff_pkey", StoreError::Conflict("staff_id")), ("staff_username_key", StoreError::Conflict("staff_username"))];
const SESSION_ERRORS: &[(&str, StoreError)] = &[
    ("staff_sessions_pkey", StoreError::Conflict("staff_session")),
    ("staff_sessions_staff_id_fkey", StoreError::MissingReference("staff")),
];

const STAFF_COLUMNS: &str = "s.id, s.username, s.display_name, s.role, s.password_hash, s.created_at, s.disabled";

fn staff_row(r: &dyn Row, at: usize) -> StoreResult<StaffRecord> {
    Ok(StaffRecord {
        id: r.text(at)?,
        username: r.text(at + 1)?,
        display_name: r.text(at + 2)?,
        role: r.text(at + 3)?,
        password_hash: r.text(at + 4)?,
        created_at: from_ms(r.int(at + 5)?)?,
        disabled: r.int(at + 6)? != 0,
    })
}

pub(super) fn insert_staff<D: Db>(c: &mut SqlConn<D>, s: &StaffRecord) -> StoreResult<()> {
    c.exec_mapped(
        "INSERT INTO staff (id, username, display_name, role, password_hash, created_at, disabled) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            s.id.as_str().into(),
            s.username.as_str().into(),
            s.display_name.as_str().into(),
            s.role.as_str().into(),
            s.password_hash.as_str().into(),
            ms(s.created_at).into(),
            i64::from(s.disabled).into(),
        ],
        STAFF_ERRORS,
    )?;
    Ok(())
}

pub(super) fn find_staff_by_username<D: Db>(c: &mut SqlConn<D>, username: &str) -> StoreResult<Option<StaffRecord>> {
    let sql = format!("SELECT {STAFF_COLUMNS} FROM staff s WHERE s.username = $1");
    c.row(&sql, &[username.into()], |r| staff_row(r, 0))
}

pub(super) fn insert_session<D: Db>(c: &mut SqlConn<D>, s: &StaffSession) -> StoreResult<()> {
    c.exec_mapped(
        "INSERT INTO staff_sessions (secret_hash, staff_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            s.secret_hash.as_str().into(),
            s.staff_id.as_str().into(),
            s.csrf.as_str().into(),
            ms(s.created_at).into(),
            ms(s.expires_at).into(),
        ],
        SESSION_ERRORS,
    )?;
    Ok(())
}

pub(super) fn find_session<D: Db>(
    c: &mut SqlConn<D>,
    secret_hash: &str,
    now: OffsetDateTime,
) -> StoreResult<Option<(StaffSession, StaffRecord)>> {
    let sql = format!(
        "SELECT x.secret_hash, x.staff_id, x.csrf, x.created_at, x.expires_at, {STAFF_COLUMNS} \
         FROM staff_sessions x JOIN staff s ON s.id = x.staff_id \
         WHERE x.secret_hash = $1 AND x.expires_at > $2 AND s.disabled = 0"
    );
    c.row(&sql, &[secret_hash.into(), ms(now).into()], |r| {
        let session = StaffSession {
            secret_hash: r.text(0)?,
            staff_id: r.text(1)?,
            csrf: r.text(2)?,
            created_at: from_ms(r.int(3)?)?,
            expires_at: from_ms(r.int(4)?)?,
        };
        Ok((session, staff_row(r, 5)?))
    })
}

pub(super) fn delete_session<D: Db>(c: &mut SqlConn<D>, secret_hash: &str) -> StoreResult<bool> {
    Ok(c.exec("DELETE FROM staff_sessions WHERE secret_hash = $1", &[secret_hash.into()])? > 0)
}

pub(super) fn purge_sessions<D: Db>(c: &mut SqlConn<D>, now: OffsetDateTime, n: u32) -> StoreResult<u64> {
    c.exec(
        "DELETE FROM staff_sessions WHERE secret_hash IN \
         (SELECT secret_hash FROM staff_sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
        &[ms(now).into(), limit(n)],
    )
}

pub(super) fn put_portal_code<D: Db>(c: &mut SqlConn<D>, p: &PortalCode) -> StoreResult<()> {
    c.exec(
        "INSERT INTO portal_codes (line_id, code_hash, expires_at, attempts, used) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (line_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, \
         attempts = excluded.attempts, used = excluded.used",
        &[
            p.line_id.as_str().into(),
            p.code_hash.as_str().into(),
            ms(p.expires_at).into(),
            i64::from(p.attempts).into(),
            i64::from(p.used).into(),
        ],
    )?;
    Ok(())
}

pub(super) fn get_portal_code<D: Db>(c: &mut SqlConn<D>, line_id: &str) -> StoreResult<Option<PortalCode>> {
    c.row(
        "SELECT line_id, code_hash, expires_at, attempts, used FROM portal_codes WHERE line_id = $1",
        &[line_id.into()],
        |r| {
            Ok(PortalCode {
                line_id: r.text(0)?,
                code_hash: r.text(1)?,
                expires_at: from_ms(r.int(2)?)?,
                attempts: u32::try_from(r.int(3)?).unwrap_or(u32::MAX),
                used: r.int(4)? != 0,
            })
        },
    )
}

pub(super) fn insert_portal_session<D: Db>(c: &mut SqlConn<D>, s: &PortalSession) -> StoreResult<()> {
    c.exec(
        "INSERT INTO portal_sessions (secret_hash, line_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            s.secret_hash.as_str().into(),
            s.line_id.as_str().into(),
            s.csrf.as_str().into(),
            ms(s.created_at).into(),
            ms(s.expires_at).into(),
        ],
    )?;
    Ok(())
}

pub(super) fn find_portal_session<D: Db>(
    c: &mut SqlConn<D>,
    secret_hash: &str,
    now: OffsetDateTime,
) -> StoreResult<Option<PortalSession>> {
    c.row(
        "SELECT secret_hash, line_id, csrf, created_at, expires_at FROM portal_sessions \
         WHERE secret_hash = $1 AND expires_at > $2",
        &[secret_hash.into(), ms(now).into()],
        |r| {
            Ok(PortalSession {
                secret_hash: r.text(0)?,
                line_id: r.text(1)?,
                csrf: r.text(2)?,
                created_at: from_ms(r.int(3)?)?,
                expires_at: from_ms(r.int(4)?)?,
            })
        },
    )
}

pub(super) fn delete_portal_session<D: Db>(c: &mut SqlConn<D>, secret_hash: &str) -> StoreResult<bool> {
    Ok(c.exec("DELETE FROM portal_sessions WHERE secret_hash = $1", &[secret_hash.into()])? > 0)
}

pub(super) fn purge_portal_sessions<D: Db>(c: &mut SqlConn<D>, now: OffsetDateTime, n: u32) -> StoreResult<u64> {
    c.exec(
        "DELETE FROM portal_sessions WHERE secret_hash IN \
         (SELECT secret_hash FROM portal_sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
        &[ms(now).into(), limit(n)],
    )
}
