//! Records: personal data kept out of the hash chain, data exports, privacy requests
//! (CCPA timers), legal holds, retention (erasure of closed accounts) and the audit of
//! erased accounts and of one case's chain.
//!
//! Every use case runs in one transaction on the writer (or one snapshot on a reader).
//! Erasure deletes rows of `personal_data` and anonymises the account's rows; it never
//! touches `events`, so every hash chain still verifies.

use crate::engine::{Engine, to_millis};
use crate::error::Error;
use crate::ports::{CaseFilter, Conn, StoredEvent};
use crate::records_port::{ExportRow, ExportStatus, PrivacyRow, RetentionCandidate};
use crate::records_zip::{self, Table};
use lineout_domain::case::{Case, CaseKind, Event};
use lineout_domain::personal::{self, RECORD_KEYS};
use lineout_domain::privacy::{self, RequestKind, RequestStatus};
use lineout_domain::values::{AccountId, CaseId};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// Cases, ledger entries and messages an export reads at most.
pub const EXPORT_MAX_CASES: usize = 1_000;
pub const EXPORT_MAX_LEDGER: usize = 10_000;
/// Exports produced per worker step.
pub const EXPORT_BATCH: u32 = 4;
/// Accounts examined per retention page, and pages per run.
pub const RETENTION_PAGE: u32 = 200;
pub const RETENTION_MAX_PAGES: usize = 50;
/// Privacy request timers fired per worker step.
pub const PRIVACY_BATCH: u32 = 200;
/// The schedule name of the daily retention run.
pub const RETENTION_SCHEDULE: &str = "retention";

/// Why a records request was refused; each has a stable code in `CODES`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the customer may export only their own account's data")]
    AccountMismatch,
    #[error("no export has this download token")]
    ExportNotFound,
    #[error("the export is still being produced; retry later")]
    ExportNotReady,
    #[error("the export could not be produced; request a new one")]
    ExportFailed,
    #[error("the download link has expired; request a new export")]
    TokenExpired,
    #[error("the download link was already used; request a new export")]
    TokenUsed,
    #[error("the account closed more than {0} days ago; its data can no longer be exported")]
    WindowClosed(u32),
    #[error("the account's personal data has been erased")]
    AccountErased,
    #[error("the account is under legal hold; nothing is erased until the hold is cleared")]
    LegalHold,
    #[error("the account has an open case ({0}); deletion waits until it ends")]
    OpenCase(String),
    #[error("the account still has a line in service ({0}); end it before deleting the account's data")]
    ActiveLine(String),
    #[error("no privacy request has this id")]
    PrivacyNotFound,
    #[error("{0}")]
    Privacy(privacy::Error),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccountMismatch => "export_account_mismatch",
            Self::ExportNotFound => "export_not_found",
            Self::ExportNotReady => "export_not_ready",
            Self::ExportFailed => "export_failed",
            Self::TokenExpired => "export_token_expired",
            Self::TokenUsed => "export_token_used",
            Self::WindowClosed(_) => "export_window_closed",
            Self::AccountErased => "account_erased",
            Self::LegalHold => "legal_hold",
            Self::OpenCase(_) => "privacy_open_case",
            Self::ActiveLine(_) => "privacy_active_line",
            Self::PrivacyNotFound => "privacy_request_not_found",
            Self::Privacy(e) => e.code(),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// An export's id, derived from (but not revealing part of) its token's hash.
fn export_id(token_hash: &str) -> String {
    format!("EXP-{}", &sha256_hex(&format!("export-id:{token_hash}"))[..16])
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

// ---- Personal data out of the chain -------------------------------------------------------

/// The chained body of an event (personal values replaced by references) and the values.
pub(crate) fn chained_body(event: &Event) -> Result<(String, Vec<personal::Personal>), Error> {
    let mut value = serde_json::to_value(event).map_err(internal)?;
    let taken = personal::split(&mut value, event.seq);
    let body = serde_json::to_string(&value).map_err(internal)?;
    Ok((body, taken))
}

/// A case's events with their personal values put back ([`ERASED`] where erased).
pub(crate) fn read_events(conn: &mut dyn Conn, id: &CaseId) -> Result<Vec<Event>, Error> {
    let stored = conn.events(id)?;
    let values = conn.records().personal_of_case(id)?;
    let lookup = |r: &str| {
        values.iter().find(|(reference, _, _)| reference == r).and_then(|(_, _, v)| serde_json::from_str(v).ok())
    };
    stored
        .iter()
        .map(|e| {
            let mut body: Value =
                serde_json::from_str(&e.body).map_err(|err| Error::Storage(format!("unreadable event: {err}")))?;
            personal::join(&mut body, &lookup);
            serde_json::from_value::<Event>(body).map_err(|err| Error::Storage(format!("unreadable event: {err}")))
        })
        .collect()
}

/// For a case of an erased account: `Some("")` when nothing personal is left but what must
/// be kept, `Some(problem)` otherwise; `None` when the account is not erased.
pub(crate) fn audit_erased_case(
    conn: &mut dyn Conn,
    id: &CaseId,
    events: &[StoredEvent],
) -> Result<Option<String>, Error> {
    let Some(record) = conn.get_case(id)? else { return Ok(None) };
    let state = conn.records().account_state(&record.case.facts.account_id)?;
    if state.erased_at.is_none() {
        return Ok(None);
    }
    for e in events {
        let body: Value = serde_json::from_str(&e.body).map_err(|err| Error::Storage(err.to_string()))?;
        let leaks = personal::leaks(&body);
        if !leaks.is_empty() {
            return Ok(Some(format!("event {}: personal data in the chained body ({})", e.seq, leaks.join(", "))));
        }
    }
    let keep: &[&str] = if state.kept_until.is_some() { RECORD_KEYS } else { &[] };
    for (reference, key, _) in conn.records().personal_of_case(id)? {
        if !keep.contains(&key.as_str()) {
            return Ok(Some(format!("personal value {reference} ({key}) outlived the account's erasure")));
        }
    }
    let mut projection = serde_json::to_value(&record.case).map_err(internal)?;
    let before = projection.clone();
    personal::erase(&mut projection, keep);
    if projection != before {
        return Ok(Some("the case projection still holds personal data".into()));
    }
    Ok(Some(String::new()))
}

// ---- Closed accounts -------------------------------------------------------------------------

/// Whether every line of the account ended and no case is open, and when it closed (the
/// last change of one of its cases).
fn closed_at(conn: &mut dyn Conn, account: &AccountId) -> Result<(Option<OffsetDateTime>, Vec<Case>), Error> {
    let cases = account_cases(conn, account)?;
    let lines = conn.records().lines_of_account(account)?;
    let ended = !lines.is_empty()
        && lines.iter().all(|l| {
            matches!(l.status, lineout_domain::LineStatus::Terminated | lineout_domain::LineStatus::PortedOut)
        })
        && cases.iter().all(|c| c.status.is_terminal());
    let at = ended.then(|| cases.iter().map(|c| c.updated_at).max()).flatten();
    Ok((at, cases))
}

fn account_cases(conn: &mut dyn Conn, account: &AccountId) -> Result<Vec<Case>, Error> {
    let mut out: Vec<Case> = Vec::new();
    loop {
        let filter = CaseFilter {
            account_id: Some(account.clone()),
            after: out.last().map(|c| c.id.clone()),
            limit: 500,
            ..CaseFilter::default()
        };
        let page = conn.list_cases(&filter)?;
        let done = page.len() < 500 || out.len() + page.len() >= EXPORT_MAX_CASES;
        out.extend(page);
        if done {
            out.truncate(EXPORT_MAX_CASES);
            return Ok(out);
        }
    }
}

// ---- Data exports ---------------------------------------------------------------------------

/// An export just requested: the record and the download token, shown once.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequested {
    pub export: ExportRow,
    pub token: String,
}

/// Who may ask for an account's export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// Operator staff or an operator client (by label, e.g. `client:tok_…`, `cli`).
    Operator(String),
    /// The account holder, authenticated by the channel as the holder of this account.
    Customer(AccountId),
}

fn export_refusal(conn: &mut dyn Conn, engine: &Engine, account: &AccountId, now: OffsetDateTime) -> Result<(), Error> {
    if conn.get_account(account)?.is_none() {
        return Err(Error::NotFound { kind: "account", id: account.as_str().to_owned() });
    }
    if conn.records().account_state(account)?.erased_at.is_some() {
        return Err(Refusal::AccountErased.into());
    }
    let days = engine.policy().records.export_after_close_days;
    if let (Some(closed), _) = closed_at(conn, account)?
        && now > closed + Duration::days(i64::from(days))
    {
        return Err(Refusal::WindowClosed(days).into());
    }
    Ok(())
}

impl Engine {
    /// Records an export request on the account; a worker step produces the file.
    pub async fn request_export(&self, account: AccountId, by: Requester) -> Result<ExportRequested, Error> {
        let requested_by = match &by {
            Requester::Customer(own) if *own != account => return Err(Refusal::AccountMismatch.into()),
            Requester::Customer(_) => "customer".to_owned(),
            Requester::Operator(label) => label.chars().take(80).collect(),
        };
        let token = format!("lx_{}", self.ids().secret());
        let engine = self.clone();
        let token_hash = sha256_hex(&token);
        let export = self
            .writer()
            .run(move |conn| {
                let now = to_millis(engine.clock().now());
                export_refusal(conn, &engine, &account, now)?;
                let row = ExportRow {
                    id: export_id(&token_hash),
                    account_id: account,
                    status: ExportStatus::Pending,
                    requested_at: now,
                    requested_by,
                    token_hash,
                    expires_at: now + Duration::hours(i64::from(engine.policy().records.export_link_hours)),
                    ready_at: None,
                    downloaded_at: None,
                    size_bytes: None,
                    error: None,
                };
                conn.records().insert_export(&row)?;
                Ok(row)
            })
            .await?;
        Ok(ExportRequested { export, token })
    }

    /// The exports recorded on an account (at most the configured page).
    pub async fn account_exports(&self, account: AccountId) -> Result<Vec<ExportRow>, Error> {
        let limit = self.config().max_page;
        self.read(move |c| {
            if c.get_account(&account)?.is_none() {
                return Err(Error::NotFound { kind: "account", id: account.as_str().to_owned() });
            }
            Ok(c.records().exports_of_account(&account, limit)?)
        })
        .await
    }

    /// Produces pending exports (one bounded batch): reads each account in one snapshot,
    /// writes the zip, and stores it. Returns how many were produced.
    pub async fn run_exports(&self) -> Result<usize, Error> {
        let pending = self.read(|c| Ok(c.records().pending_exports(EXPORT_BATCH)?)).await?;
        let mut done = 0;
        for export in pending {
            let account = export.account_id.clone();
            let gathered = self
                .read(move |c| {
                    c.begin()?;
                    let r = gather(c, &account);
                    let _ = c.commit();
                    r
                })
                .await;
            let file = gathered
                .and_then(|tables| records_zip::write(README, &tables).map_err(|e| Error::Internal(e.to_string())));
            let id = export.id.clone();
            let engine = self.clone();
            self.writer()
                .run(move |conn| {
                    let now = to_millis(engine.clock().now());
                    match file {
                        Ok(bytes) => {
                            use base64::Engine as _;
                            let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
                            let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                            conn.records().finish_export(
                                &id,
                                ExportStatus::Ready,
                                Some(&data),
                                Some(size),
                                None,
                                now,
                            )?;
                        }
                        Err(e) => {
                            tracing::error!(export = %id, code = e.code(), "export failed");
                            let msg = e.public_message();
                            conn.records().finish_export(&id, ExportStatus::Failed, None, None, Some(&msg), now)?;
                        }
                    }
                    Ok(())
                })
                .await?;
            done += 1;
        }
        Ok(done)
    }

    /// The export file for a download token: once, before it expires.
    pub async fn download_export(&self, token: String) -> Result<(ExportRow, Vec<u8>), Error> {
        if token.len() > 100 || !token.starts_with("lx_") {
            return Err(Refusal::ExportNotFound.into());
        }
        let engine = self.clone();
        let hash = sha256_hex(&token);
        let (row, data) = self
            .writer()
            .run(move |conn| {
                let now = to_millis(engine.clock().now());
                let row = conn.records().export_by_token(&hash)?.ok_or(Refusal::ExportNotFound)?;
                if row.downloaded_at.is_some() {
                    return Err(Refusal::TokenUsed.into());
                }
                if now >= row.expires_at {
                    return Err(Refusal::TokenExpired.into());
                }
                match row.status {
                    ExportStatus::Pending => return Err(Refusal::ExportNotReady.into()),
                    ExportStatus::Failed => return Err(Refusal::ExportFailed.into()),
                    ExportStatus::Ready => {}
                }
                if conn.records().account_state(&row.account_id)?.erased_at.is_some() {
                    return Err(Refusal::AccountErased.into());
                }
                let data = conn.records().take_export(&row.id, now)?.ok_or(Refusal::TokenUsed)?;
                Ok((row, data))
            })
            .await?;
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(internal)?;
        Ok((row, bytes))
    }
}

const README: &str = "This file holds everything lineout keeps about your account: the account, its lines \
and devices, the ledger (with payments and refunds), every case with its timeline, and the messages sent to you. \
Each table is given as JSON and as CSV.\n\n\
此文件包含 lineout 保存的有关您账户的全部数据：账户、线路和设备、账目（含付款和退款）、每个案件及其时间线，以及发送给您的消息。\
每个表格均提供 JSON 和 CSV 两种格式。\n";

fn to_json(v: &impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(internal)
}

/// Every table of one account's export, read in the caller's snapshot. Nothing of any
/// other account is read: every query is keyed by this account, its lines or its cases.
pub(crate) fn gather(conn: &mut dyn Conn, account_id: &AccountId) -> Result<Vec<Table>, Error> {
    let account =
        conn.get_account(account_id)?.ok_or_else(|| Error::NotFound { kind: "account", id: account_id.to_string() })?;
    let mut account_json = to_json(&account)?;
    if let Value::Object(m) = &mut account_json {
        // The PIN's hash is a secret of the operator's, not data about the customer.
        m.remove("pin_hash");
    }
    let lines = conn.records().lines_of_account(account_id)?;
    let mut devices = Vec::new();
    for line in &lines {
        for d in conn.devices_for_line(&line.id)? {
            devices.push(to_json(&d)?);
        }
    }
    let mut ledger = Vec::new();
    let mut after: Option<String> = None;
    while ledger.len() < EXPORT_MAX_LEDGER {
        let page = conn.ledger(account_id, after.as_deref(), 1_000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.0.id.clone());
        for (e, at) in page {
            ledger.push(json!({
                "id": e.id, "at": rfc3339(at), "case_id": e.case_id, "kind": e.kind.as_str(),
                "amount_cents": e.amount.cents, "currency": e.amount.currency.as_str(), "description": e.description,
            }));
        }
    }
    let of_kind = |k: &str| ledger.iter().filter(|e| e["kind"] == k).cloned().collect::<Vec<_>>();
    let payments = of_kind("payment");
    let refunds = of_kind("refund");
    let cases = account_cases(conn, account_id)?;
    let mut case_rows = Vec::new();
    let mut timeline = Vec::new();
    let mut messages = Vec::new();
    for case in &cases {
        let events = read_events(conn, &case.id)?;
        for e in &events {
            let mut row = to_json(e)?;
            if let Value::Object(m) = &mut row {
                m.insert("case_id".into(), Value::String(case.id.to_string()));
            }
            timeline.push(row);
        }
        let mut c = to_json(case)?;
        if let Value::Object(m) = &mut c {
            m.insert("timeline".into(), to_json(&events)?);
        }
        case_rows.push(c);
        for m in conn.records().messages_of_case(&case.id)? {
            messages.push(json!({
                "case_id": m.case_id, "notice": m.notice.as_str(), "authenticity_code": m.auth_code,
                "state": m.state, "created_at": rfc3339(m.created_at), "sent_at": m.sent_at.map(rfc3339),
            }));
        }
    }
    let lines = lines.iter().map(to_json).collect::<Result<Vec<_>, _>>()?;
    Ok(vec![
        Table { name: "account", rows: vec![account_json] },
        Table { name: "lines", rows: lines },
        Table { name: "devices", rows: devices },
        Table { name: "ledger", rows: ledger },
        Table { name: "payments", rows: payments },
        Table { name: "refunds", rows: refunds },
        Table { name: "cases", rows: case_rows },
        Table { name: "timeline", rows: timeline },
        Table { name: "messages", rows: messages },
    ])
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

// ---- Legal holds ----------------------------------------------------------------------------

impl Engine {
    /// Sets or clears an account's legal hold (admin only, checked by the caller).
    pub async fn set_legal_hold(
        &self,
        account: AccountId,
        hold: bool,
        reason: Option<String>,
    ) -> Result<crate::records_port::AccountState, Error> {
        if let Some(r) = &reason {
            lineout_domain::values::parse_text(r, 500).map_err(|e| Error::value("reason", e))?;
        }
        let engine = self.clone();
        self.writer()
            .run(move |conn| {
                let now = to_millis(engine.clock().now());
                if conn.get_account(&account)?.is_none() {
                    return Err(Error::NotFound { kind: "account", id: account.as_str().to_owned() });
                }
                conn.records().set_legal_hold(&account, hold, reason.as_deref().filter(|_| hold), now)?;
                Ok(conn.records().account_state(&account)?)
            })
            .await
    }
}

// ---- Erasure and retention ------------------------------------------------------------------

/// What an erasure did, kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Erasure {
    pub account_id: String,
    pub erased: Vec<String>,
    pub kept: Vec<Kept>,
    /// Personal values of required records are kept until then.
    #[serde(with = "time::serde::rfc3339::option")]
    pub kept_until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Kept {
    pub record: String,
    pub why: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

/// Erases the account's personal data, keeping the numbers of cancellation and port-out
/// records younger than the required period. Checks holds and open cases first.
fn erase_account(
    conn: &mut dyn Conn,
    engine: &Engine,
    account: &AccountId,
    now: OffsetDateTime,
) -> Result<Erasure, Error> {
    let state = conn.records().account_state(account)?;
    if state.legal_hold {
        return Err(Refusal::LegalHold.into());
    }
    let cases = account_cases(conn, account)?;
    if let Some(open) = cases.iter().find(|c| !c.status.is_terminal()) {
        return Err(Refusal::OpenCase(open.id.to_string()).into());
    }
    let required = Duration::days(i64::from(engine.policy().records.required_records_days));
    let mut kept = Vec::new();
    let mut kept_until: Option<OffsetDateTime> = None;
    for case in &cases {
        // Port-out and cancellation records keep the number for the required period.
        let record = matches!(case.kind, CaseKind::Cancellation | CaseKind::PortOut);
        let until = case.updated_at + required;
        let keep = record && until > now;
        conn.records().erase_personal(&case.id, keep.then_some(RECORD_KEYS[0]))?;
        conn.records().purge_finished_outbox(&case.id)?;
        if let Some(mut rec) = conn.get_case(&case.id)? {
            let expected = rec.case.version;
            let mut doc = serde_json::to_value(&rec.case).map_err(internal)?;
            personal::erase(&mut doc, if keep { RECORD_KEYS } else { &[] });
            rec.case = serde_json::from_value(doc).map_err(internal)?;
            conn.update_case(&rec, expected)?;
        }
        if keep {
            kept_until = Some(kept_until.map_or(until, |k| k.max(until)));
            kept.push(Kept {
                record: format!("{} record {} (the number)", case.kind.as_str(), case.id),
                why: "port-out and cancellation records are kept for the policy's required period \
                      (records.required_records_days, at least 3 years)"
                    .into(),
                until: Some(until),
            });
        }
    }
    conn.records().anonymise_account(account, now)?;
    conn.records().set_erased(account, now, kept_until)?;
    kept.push(Kept {
        record: "case timelines (hash-chained events, without personal data)".into(),
        why: "the tamper-evident audit trail; it holds no personal data".into(),
        until: None,
    });
    kept.push(Kept {
        record: "ledger entries (amounts and descriptions)".into(),
        why: "financial records; they hold no personal data".into(),
        until: None,
    });
    kept.push(Kept {
        record: "number aging and disconnection records".into(),
        why: "47 CFR 52.15(f) number aging and the FCC Reassigned Numbers Database report".into(),
        until: None,
    });
    Ok(Erasure {
        account_id: account.to_string(),
        erased: vec![
            "account holder name, email, alternate phone and PIN".into(),
            "line numbers, ICCIDs, IMSIs and EIDs; device IMEIs".into(),
            "personal values of case events (numbers, SIM and device identities, notes, tracking numbers)".into(),
            "finished outbox payloads and export files".into(),
        ],
        kept,
        kept_until,
    })
}

/// The outcome of a retention run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionReport {
    pub examined: u64,
    pub erased: Vec<String>,
    /// Accounts whose kept records reached the end of their period and were erased.
    pub records_expired: Vec<String>,
}

impl Engine {
    /// Applies the retention policy: accounts closed longer than `erase_after_days` are
    /// erased (except records kept for their period); kept records past their period are
    /// erased too. Accounts under legal hold are skipped. Bounded pages; one transaction.
    pub async fn run_retention(&self) -> Result<RetentionReport, Error> {
        let engine = self.clone();
        self.writer()
            .run(move |conn| {
                let now = to_millis(engine.clock().now());
                let erase_after = Duration::days(i64::from(engine.policy().records.erase_after_days));
                let mut report = RetentionReport::default();
                let mut after: Option<AccountId> = None;
                for _ in 0..RETENTION_MAX_PAGES {
                    let page = conn.records().retention_candidates(after.as_ref(), RETENTION_PAGE)?;
                    let Some(last) = page.last() else { break };
                    after = Some(last.account_id.clone());
                    for RetentionCandidate { account_id, closed_at, state } in page {
                        report.examined += 1;
                        let due = match (state.erased_at, state.kept_until) {
                            (None, _) => closed_at.is_some_and(|c| now >= c + erase_after),
                            (Some(_), Some(until)) => now >= until,
                            (Some(_), None) => false,
                        };
                        if !due {
                            continue;
                        }
                        conn.savepoint()?;
                        match erase_account(conn, &engine, &account_id, now) {
                            Ok(_) => {
                                conn.release_savepoint()?;
                                if state.erased_at.is_some() {
                                    report.records_expired.push(account_id.to_string());
                                } else {
                                    report.erased.push(account_id.to_string());
                                }
                            }
                            Err(e) => {
                                conn.rollback_to_savepoint()?;
                                conn.release_savepoint()?;
                                tracing::warn!(account = %account_id, code = e.code(), "retention skipped an account");
                            }
                        }
                    }
                }
                Ok(report)
            })
            .await
    }

    /// Runs retention if its daily schedule is due (kept in the database, so several nodes
    /// and restarts share it); returns the report when it ran.
    pub async fn run_retention_if_due(&self) -> Result<Option<RetentionReport>, Error> {
        let engine = self.clone();
        let due = self
            .writer()
            .run(move |conn| {
                let now = to_millis(engine.clock().now());
                let next = conn.records().schedule(RETENTION_SCHEDULE)?;
                if next.is_some_and(|n| now < n) {
                    return Ok(false);
                }
                conn.records().set_schedule(RETENTION_SCHEDULE, now + Duration::days(1))?;
                Ok(true)
            })
            .await?;
        if due { self.run_retention().await.map(Some) } else { Ok(None) }
    }
}

// ---- Privacy requests -----------------------------------------------------------------------

impl Engine {
    /// Records a privacy request with its CCPA timers. A deletion request for an account
    /// under legal hold or with an open case is refused and nothing is recorded.
    pub async fn open_privacy_request(&self, account: AccountId, kind: RequestKind) -> Result<PrivacyRow, Error> {
        let engine = self.clone();
        let id = format!("PRQ-{}", &sha256_hex(&self.ids().secret())[..16]);
        self.writer()
            .run(move |conn| {
                let now = to_millis(engine.clock().now());
                if conn.get_account(&account)?.is_none() {
                    return Err(Error::NotFound { kind: "account", id: account.as_str().to_owned() });
                }
                if kind == RequestKind::Deletion {
                    deletion_refusal(conn, &account)?;
                }
                let deadlines = privacy::deadlines(now, &engine.policy().records);
                let row = PrivacyRow {
                    id,
                    account_id: account,
                    kind,
                    status: RequestStatus::Received,
                    received_at: now,
                    next_check_at: privacy::next_check(&deadlines, RequestStatus::Received, now),
                    deadlines,
                    extension_notice: None,
                    acknowledged_at: None,
                    completed_at: None,
                    ack_overdue: false,
                    overdue: false,
                    outcome: None,
                };
                conn.records().insert_privacy_request(&row)?;
                Ok(row)
            })
            .await
    }

    /// Acknowledges, extends (once, with the notice sent to the requester) or completes a
    /// request. Completing a deletion erases; completing an access request records an export.
    pub async fn privacy_step(&self, id: String, step: PrivacyStep) -> Result<PrivacyRow, Error> {
        let engine = self.clone();
        let token = format!("lx_{}", self.ids().secret());
        self.writer()
            .run(move |conn| {
                let now = to_millis(engine.clock().now());
                let mut row = conn.records().get_privacy_request(&id)?.ok_or(Refusal::PrivacyNotFound)?;
                if row.status == RequestStatus::Completed {
                    return Err(Refusal::Privacy(privacy::Error::Completed).into());
                }
                let policy = &engine.policy().records;
                match step {
                    PrivacyStep::Acknowledge => {
                        if row.status == RequestStatus::Received {
                            row.status = RequestStatus::Acknowledged;
                            row.acknowledged_at = Some(now);
                        }
                    }
                    PrivacyStep::Extend { notice } => {
                        lineout_domain::values::parse_text(&notice, 500).map_err(|e| Error::value("notice", e))?;
                        row.deadlines =
                            privacy::extend(&row.deadlines, row.status, policy).map_err(Refusal::Privacy)?;
                        row.extension_notice = Some(notice);
                    }
                    PrivacyStep::Complete => {
                        let outcome = match row.kind {
                            RequestKind::Deletion => {
                                deletion_refusal(conn, &row.account_id)?;
                                serde_json::to_string(&erase_account(conn, &engine, &row.account_id, now)?)
                                    .map_err(internal)?
                            }
                            RequestKind::Access => {
                                export_refusal(conn, &engine, &row.account_id, now)?;
                                let token_hash = sha256_hex(&token);
                                let export = ExportRow {
                                    id: export_id(&token_hash),
                                    account_id: row.account_id.clone(),
                                    status: ExportStatus::Pending,
                                    requested_at: now,
                                    requested_by: format!("privacy:{}", row.id),
                                    token_hash,
                                    expires_at: now + Duration::hours(i64::from(policy.export_link_hours)),
                                    ready_at: None,
                                    downloaded_at: None,
                                    size_bytes: None,
                                    error: None,
                                };
                                conn.records().insert_export(&export)?;
                                json!({"export_id": export.id, "download_token": token}).to_string()
                            }
                        };
                        row.status = RequestStatus::Completed;
                        row.acknowledged_at = row.acknowledged_at.or(Some(now));
                        row.completed_at = Some(now);
                        row.outcome = Some(outcome);
                    }
                }
                let (ack_overdue, overdue) = privacy::overdue(&row.deadlines, row.status, now);
                row.ack_overdue = ack_overdue;
                row.overdue = overdue;
                row.next_check_at = privacy::next_check(&row.deadlines, row.status, now);
                conn.records().update_privacy_request(&row)?;
                Ok(row)
            })
            .await
    }

    /// Fires due privacy timers (one bounded batch): sets the overdue flags staff see.
    pub async fn run_privacy_timers(&self) -> Result<usize, Error> {
        let engine = self.clone();
        self.writer()
            .run(move |conn| {
                let now = to_millis(engine.clock().now());
                let due = conn.records().due_privacy_requests(now, PRIVACY_BATCH)?;
                let n = due.len();
                for mut row in due {
                    let (ack_overdue, overdue) = privacy::overdue(&row.deadlines, row.status, now);
                    if (ack_overdue && !row.ack_overdue) || (overdue && !row.overdue) {
                        tracing::warn!(request = %row.id, kind = row.kind.as_str(), "privacy request overdue");
                    }
                    row.ack_overdue = ack_overdue;
                    row.overdue = overdue;
                    row.next_check_at = privacy::next_check(&row.deadlines, row.status, now);
                    conn.records().update_privacy_request(&row)?;
                }
                crate::metrics::privacy_overdue(conn.records().count_overdue_privacy_requests()?);
                Ok(n)
            })
            .await
    }

    /// Privacy requests by id after the cursor; only overdue ones when asked.
    pub async fn privacy_requests(
        &self,
        overdue_only: bool,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<PrivacyRow>, Error> {
        let limit = limit.clamp(1, self.config().max_page);
        self.read(move |c| Ok(c.records().list_privacy_requests(overdue_only, after.as_deref(), limit)?)).await
    }

    /// How many privacy requests are past a deadline (for the metrics scrape).
    pub async fn overdue_privacy_requests(&self) -> Result<u64, Error> {
        self.read(|c| Ok(c.records().count_overdue_privacy_requests()?)).await
    }

    pub async fn privacy_request(&self, id: String) -> Result<PrivacyRow, Error> {
        self.read(move |c| Ok(c.records().get_privacy_request(&id)?.ok_or(Refusal::PrivacyNotFound)?)).await
    }
}

/// A step on a privacy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivacyStep {
    Acknowledge,
    Extend { notice: String },
    Complete,
}

fn deletion_refusal(conn: &mut dyn Conn, account: &AccountId) -> Result<(), Error> {
    let state = conn.records().account_state(account)?;
    if state.legal_hold {
        return Err(Refusal::LegalHold.into());
    }
    if let Some(open) = account_cases(conn, account)?.into_iter().find(|c| !c.status.is_terminal()) {
        return Err(Refusal::OpenCase(open.id.to_string()).into());
    }
    // Erasing a line in service would stop it working: the line ends first (a cancellation).
    let lines = conn.records().lines_of_account(account)?;
    if let Some(live) = lines
        .iter()
        .find(|l| !matches!(l.status, lineout_domain::LineStatus::Terminated | lineout_domain::LineStatus::PortedOut))
    {
        return Err(Refusal::ActiveLine(live.id.to_string()).into());
    }
    Ok(())
}

// ---- Audit export ---------------------------------------------------------------------------

impl Engine {
    /// A case's stored events with their hashes, exactly as chained (personal values are
    /// references), for verification by a customer or regulator (docs/audit.md).
    pub fn audit_export_blocking(&self, id: &CaseId) -> Result<Value, Error> {
        self.read_blocking(|c| {
            let events = c.events(id)?;
            if events.is_empty() {
                return Err(Error::NotFound { kind: "case", id: id.to_string() });
            }
            let rows: Vec<Value> = events
                .iter()
                .map(|e| json!({"seq": e.seq, "prev_hash": e.prev_hash, "hash": e.hash, "body": e.body}))
                .collect();
            Ok(json!({
                "case_id": id.as_str(),
                "hash": "sha256(prev_hash + \"\\n\" + case_id + \"\\n\" + seq + \"\\n\" + body), lowercase hex",
                "genesis": lineout_domain::chain::GENESIS,
                "events": rows,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineout_domain::personal::ERASED;

    #[test]
    fn every_refusal_has_a_code_in_the_table_with_a_client_status() {
        let all = [
            Refusal::AccountMismatch,
            Refusal::ExportNotFound,
            Refusal::ExportNotReady,
            Refusal::ExportFailed,
            Refusal::TokenExpired,
            Refusal::TokenUsed,
            Refusal::WindowClosed(90),
            Refusal::AccountErased,
            Refusal::LegalHold,
            Refusal::OpenCase("C-1".into()),
            Refusal::ActiveLine("L-1".into()),
            Refusal::PrivacyNotFound,
            Refusal::Privacy(privacy::Error::AlreadyExtended),
            Refusal::Privacy(privacy::Error::Completed),
        ];
        for r in all {
            let status = crate::error::status_of(r.code());
            assert!((400..500).contains(&status), "{} has status {status}", r.code());
            assert_eq!(Error::from(r.clone()).code(), r.code());
        }
    }

    #[test]
    fn a_chained_body_holds_references_and_reads_back_whole() {
        use lineout_domain::case::{Actor, EventKind};
        let event = Event {
            seq: 4,
            at: time::macros::datetime!(2026-11-30 09:00 UTC),
            actor: Actor::Customer,
            kind: EventKind::ShipmentRecorded {
                carrier: lineout_domain::case::Carrier::Ups,
                tracking: "1Z999AA10123456784".into(),
            },
        };
        let (body, taken) = chained_body(&event).unwrap();
        assert!(!body.contains("1Z999AA10123456784"), "{body}");
        assert_eq!(taken.len(), 1);
        let mut value: Value = serde_json::from_str(&body).unwrap();
        personal::join(&mut value, &|r| (r == taken[0].reference).then(|| taken[0].value.clone()));
        assert_eq!(serde_json::from_value::<Event>(value).unwrap(), event);
        let mut erased: Value = serde_json::from_str(&body).unwrap();
        personal::join(&mut erased, &|_| None);
        assert_eq!(erased["tracking"], ERASED);
    }
}
