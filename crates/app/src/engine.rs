//! The case engine: use cases that load, decide and save in one transaction each,
//! the read side, and the timer and outbox workers' steps.
//!
//! Writes go through the group-commit [`Writer`]; reads use a small bounded pool of
//! reader connections on blocking threads.

use crate::error::Error;
use crate::ports::{
    AdapterError, CaseFilter, CaseRecord, Clock, Conn, Delivery, DeprovisionRequest, DueTimer, IdGen, Message,
    MessageRecord, Network, Notifier, NumberFilter, NumberRecord, NumberState, OutboxRow, OutboxStats, OutboxStatus,
    Payments, Recipient, Role, Store, StoredEvent, TokenRecord, Upsert, WebhookTransport,
};
use crate::writer::{Writer, WriterConfig};
use lineout_domain::account::{Account, Device, Line, LineStatus};
use lineout_domain::case::{
    self, Actor, Case, CaseFacts, CaseKind, Command, DeviceFact, Event, EventKind, OpenCase, Proof,
};
use lineout_domain::chain;
use lineout_domain::effects::{self, Effect, TimerOp};
use lineout_domain::values::{AccountId, CaseId, DeviceId, LineId, Msisdn};
use lineout_domain::{Channel, Policy, Timing};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;

#[path = "fraud.rs"]
pub mod fraud;

/// The outside world the engine talks to.
#[derive(Clone)]
pub struct Adapters {
    pub network: Arc<dyn Network>,
    pub notifier: Arc<dyn Notifier>,
    pub payments: Arc<dyn Payments>,
    /// Signed webhooks; `None` when no endpoint is configured.
    pub webhooks: Option<Arc<dyn WebhookTransport>>,
}

/// Limits and tuning; every queue, batch and page is bounded.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub policy: Policy,
    pub writer: WriterConfig,
    /// Reader connections at most.
    pub readers: usize,
    /// How long a worker's claim on a timer or outbox row lasts.
    pub lease_ms: i64,
    /// Timers fired per worker step.
    pub timer_batch: u32,
    /// Outbox rows delivered per worker step (also the adapter concurrency).
    pub outbox_batch: u32,
    /// Largest page of a list.
    pub max_page: u32,
    /// Names of the webhook endpoints every case event is sent to (CloudEvents).
    pub webhook_endpoints: Vec<String>,
    /// The CloudEvents `source` of this installation.
    pub webhook_source: String,
    /// The key of the keyed hashes of one-time codes and client addresses (HMAC-SHA256).
    /// Empty: a random key per process (codes sent before a restart no longer verify).
    pub verification_key: String,
    /// The trusted proxy header carrying the client address (e.g. `x-forwarded-for`);
    /// empty: the TCP peer address. Read by the web layer.
    pub client_address_header: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            writer: WriterConfig::default(),
            readers: 8,
            lease_ms: 60_000,
            timer_batch: 500,
            outbox_batch: 256,
            max_page: 500,
            webhook_endpoints: Vec::new(),
            webhook_source: "/lineout".into(),
            verification_key: String::new(),
            client_address_header: String::new(),
        }
    }
}

/// How a case names its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineRef {
    Id(LineId),
    Msisdn(Msisdn),
}

/// The request to open a cancellation case.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRequest {
    /// Cancellation (the default) or port-out.
    pub kind: CaseKind,
    pub line: LineRef,
    pub channel: Channel,
    pub timing: Timing,
    pub note: Option<String>,
    /// Left by voicemail for a callback: an agent must call back within 24 hours.
    pub callback: bool,
}

/// A case with everything recorded about it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseDetail {
    pub case: Case,
    pub events: Vec<Event>,
    pub timers: Vec<DueTimer>,
    pub outbox: Vec<OutboxRow>,
}

/// The result of walking every hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditReport {
    pub cases: u64,
    pub events: u64,
    /// Cases of erased accounts checked for leftover personal data.
    pub erased_cases: u64,
    /// The first broken case and what broke.
    pub first_break: Option<(CaseId, String)>,
}

/// The result of one outbox worker step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStep {
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
}

struct Readers {
    store: Arc<dyn Store>,
    idle: Mutex<Vec<Box<dyn Conn>>>,
    permits: Semaphore,
}

struct Inner {
    store: Arc<dyn Store>,
    writer: Writer,
    readers: Readers,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    adapters: Adapters,
    config: EngineConfig,
    /// The key of one-time code and client address hashes.
    verification_key: Vec<u8>,
}

/// The case engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Truncates to whole milliseconds, the precision the store keeps.
pub fn to_millis(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000_000).unwrap_or(t)
}

pub(crate) fn hash_secret(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

impl Engine {
    /// Starts the engine: the writer thread and the reader pool. The schema must exist.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        adapters: Adapters,
        config: EngineConfig,
    ) -> Result<Engine, Error> {
        config.policy.validate().map_err(|problems| {
            Error::invalid("policy", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        })?;
        let writer = Writer::start(&store, config.writer)?;
        let readers = Readers {
            store: Arc::clone(&store),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(config.readers.max(1)),
        };
        let verification_key = if config.verification_key.is_empty() {
            ids.secret().into_bytes()
        } else {
            config.verification_key.clone().into_bytes()
        };
        Ok(Engine { inner: Arc::new(Inner { store, writer, readers, clock, ids, adapters, config, verification_key }) })
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.config.policy
    }
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }
    /// The clock (records use cases run outside this module).
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }
    /// The id and secret generator.
    pub fn ids(&self) -> Arc<dyn IdGen> {
        Arc::clone(&self.inner.ids)
    }
    pub fn writer(&self) -> &Writer {
        &self.inner.writer
    }
    pub fn backend(&self) -> &'static str {
        self.inner.store.backend()
    }
    pub fn now(&self) -> OffsetDateTime {
        to_millis(self.inner.clock.now())
    }

    /// Runs a read on a pooled reader connection on a blocking thread.
    pub async fn read<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<R, Error> + Send + 'static,
    {
        let _permit = self.inner.readers.permits.acquire().await.map_err(|_| Error::Overloaded)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.idle.lock().map_err(|_| Error::Internal("reader pool poisoned".into()))?.pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => inner.readers.store.connect(Role::Reader)?,
            };
            let result = f(conn.as_mut());
            if let Ok(mut idle) = inner.readers.idle.lock() {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| Error::Internal(format!("reader task failed: {e}")))?
    }

    /// Runs a read on a blocking thread outside the runtime (CLI tools).
    pub fn read_blocking<R>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<R, Error>) -> Result<R, Error> {
        let mut conn = self.inner.readers.store.connect(Role::Reader)?;
        f(conn.as_mut())
    }

    // ---- Commands -------------------------------------------------------------------------

    /// Opens a cancellation case for a line.
    pub async fn open_case(&self, req: OpenRequest, actor: Actor) -> Result<Case, Error> {
        let started = Instant::now();
        let inner = Arc::clone(&self.inner);
        let result = self.inner.writer.run(move |conn| open_in(conn, &inner, &req, &actor, None)).await;
        crate::metrics::command(crate::metrics::OPEN, started, &result);
        result
    }

    /// Blocking form of [`Engine::open_case`] for threads outside the runtime.
    pub fn open_case_blocking(&self, req: OpenRequest, actor: Actor) -> Result<Case, Error> {
        let started = Instant::now();
        let inner = Arc::clone(&self.inner);
        let result = self.inner.writer.run_blocking(move |conn| open_in(conn, &inner, &req, &actor, None));
        crate::metrics::command(crate::metrics::OPEN, started, &result);
        result
    }

    /// Opens a case for a request that came from a client address (risk: bursts per address).
    /// Only the address's keyed hash is kept (`Engine::client_key`), never the address.
    pub async fn open_case_from(
        &self,
        req: OpenRequest,
        actor: Actor,
        client_addr: Option<String>,
    ) -> Result<Case, Error> {
        let client_addr = client_addr.map(|a| self.client_key(&ClientAddress(a)));
        let started = Instant::now();
        let inner = Arc::clone(&self.inner);
        let result =
            self.inner.writer.run(move |conn| open_in(conn, &inner, &req, &actor, client_addr.as_deref())).await;
        crate::metrics::command(crate::metrics::OPEN, started, &result);
        result
    }

    /// Sends a command to a case.
    pub async fn command(&self, id: CaseId, cmd: Command, actor: Actor) -> Result<Case, Error> {
        let started = Instant::now();
        let name = cmd.name();
        let inner = Arc::clone(&self.inner);
        let result = self
            .inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                if matches!(cmd, Command::Approve { .. } | Command::VerifyIdentity { .. }) {
                    // The risk may have changed since the case opened (failed verification attempts).
                    fraud::reassess(conn, &inner, &id, now)?;
                }
                // A recorded refusal commits its event, then answers with its error.
                let (case, refused) = execute_reporting(conn, &inner.config, &id, &cmd, &actor, now)?;
                Ok(match refused {
                    Some(e) => Err(Error::Case(e)),
                    None => Ok(case),
                })
            })
            .await
            .and_then(|r| r);
        crate::metrics::command(name, started, &result);
        result
    }

    // ---- Accounts, lines, devices ----------------------------------------------------------

    /// Creates or updates accounts, each in its own savepoint: one bad row never half-imports.
    pub async fn upsert_accounts(&self, rows: Vec<Account>) -> Result<Vec<Result<Upsert, Error>>, Error> {
        let clock = Arc::clone(&self.inner.clock);
        self.inner
            .writer
            .run(move |conn| Ok(each_row(conn, rows, |c, a| fraud::upsert_keeping_locks(c, a, to_millis(clock.now())))))
            .await
    }
    pub async fn upsert_lines(&self, rows: Vec<Line>) -> Result<Vec<Result<Upsert, Error>>, Error> {
        let clock = Arc::clone(&self.inner.clock);
        self.inner
            .writer
            .run(move |conn| Ok(each_row(conn, rows, |c, l| c.upsert_line(l, to_millis(clock.now())))))
            .await
    }
    pub async fn upsert_devices(&self, rows: Vec<Device>) -> Result<Vec<Result<Upsert, Error>>, Error> {
        let clock = Arc::clone(&self.inner.clock);
        self.inner
            .writer
            .run(move |conn| Ok(each_row(conn, rows, |c, d| c.upsert_device(d, to_millis(clock.now())))))
            .await
    }
    /// Blocking forms for the CLI importer.
    pub fn upsert_accounts_blocking(&self, rows: Vec<Account>) -> Result<Vec<Result<Upsert, Error>>, Error> {
        let clock = Arc::clone(&self.inner.clock);
        self.inner.writer.run_blocking(move |conn| {
            Ok(each_row(conn, rows, |c, a| fraud::upsert_keeping_locks(c, a, to_millis(clock.now()))))
        })
    }
    pub fn upsert_lines_blocking(&self, rows: Vec<Line>) -> Result<Vec<Result<Upsert, Error>>, Error> {
        let clock = Arc::clone(&self.inner.clock);
        self.inner
            .writer
            .run_blocking(move |conn| Ok(each_row(conn, rows, |c, l| c.upsert_line(l, to_millis(clock.now())))))
    }
    pub fn upsert_devices_blocking(&self, rows: Vec<Device>) -> Result<Vec<Result<Upsert, Error>>, Error> {
        let clock = Arc::clone(&self.inner.clock);
        self.inner
            .writer
            .run_blocking(move |conn| Ok(each_row(conn, rows, |c, d| c.upsert_device(d, to_millis(clock.now())))))
    }

    pub async fn account(&self, id: AccountId) -> Result<Account, Error> {
        self.read(move |c| c.get_account(&id)?.ok_or_else(|| not_found("account", id.as_str()))).await
    }
    pub async fn line(&self, id: LineId) -> Result<Line, Error> {
        self.read(move |c| c.get_line(&id)?.ok_or_else(|| not_found("line", id.as_str()))).await
    }
    pub async fn device(&self, id: DeviceId) -> Result<Device, Error> {
        self.read(move |c| c.get_device(&id)?.ok_or_else(|| not_found("device", id.as_str()))).await
    }

    // ---- Reads -----------------------------------------------------------------------------

    pub async fn case(&self, id: CaseId) -> Result<Case, Error> {
        self.read(move |c| Ok(c.get_case(&id)?.ok_or_else(|| not_found("case", id.as_str()))?.case)).await
    }

    /// A case with its timeline, timers and outbox, read in one snapshot.
    pub async fn case_detail(&self, id: CaseId) -> Result<CaseDetail, Error> {
        self.read(move |c| {
            c.begin()?;
            let result = detail_in(c, &id);
            let _ = c.commit();
            result
        })
        .await
    }

    /// Lists cases; the limit is clamped to the configured maximum page.
    pub async fn list_cases(&self, mut filter: CaseFilter) -> Result<Vec<Case>, Error> {
        filter.limit = filter.limit.clamp(1, self.inner.config.max_page);
        self.read(move |c| Ok(c.list_cases(&filter)?)).await
    }

    pub async fn outbox_stats(&self) -> Result<OutboxStats, Error> {
        self.read(|c| Ok(c.outbox_stats()?)).await
    }

    /// How many cases are in each status.
    pub async fn case_counts(&self) -> Result<Vec<(lineout_domain::Status, u64)>, Error> {
        self.read(|c| Ok(c.case_counts()?)).await
    }

    /// The due time of the earliest timer, if any.
    pub async fn earliest_timer(&self) -> Result<Option<OffsetDateTime>, Error> {
        self.read(|c| Ok(c.earliest_timer()?)).await
    }

    /// Checks that a case's stored projection equals the replay of its events.
    pub async fn projection_matches_replay(&self, id: CaseId) -> Result<bool, Error> {
        self.read(move |c| {
            let detail = detail_in(c, &id)?;
            Ok(Case::replay(id, &detail.events).as_ref() == Some(&detail.case))
        })
        .await
    }

    // ---- Tokens ------------------------------------------------------------------------------

    /// Issues an API token; returns the record and the secret, shown once.
    pub async fn create_token(&self, scopes: Vec<String>, label: String) -> Result<(TokenRecord, String), Error> {
        let secret = format!("lo_{}", self.inner.ids.secret());
        let record = TokenRecord {
            id: format!("tok_{}", &hash_secret(&secret)[..12]),
            secret_hash: hash_secret(&secret),
            scopes,
            label,
            created_at: self.now(),
        };
        let stored = record.clone();
        self.inner.writer.run(move |c| Ok(c.insert_token(&stored)?)).await?;
        Ok((record, secret))
    }

    /// Finds the token for a presented secret.
    pub async fn authenticate(&self, secret: String) -> Result<Option<TokenRecord>, Error> {
        if secret.len() > 200 {
            return Ok(None);
        }
        self.read(move |c| Ok(c.find_token(&hash_secret(&secret))?)).await
    }

    // ---- Audit -------------------------------------------------------------------------------

    /// Walks every case's hash chain and projection; stops at the first break.
    pub fn audit_blocking(&self) -> Result<AuditReport, Error> {
        let mut conn = self.inner.store.connect(Role::Reader)?;
        let mut report = AuditReport::default();
        let mut after: Option<CaseId> = None;
        loop {
            let ids = conn.case_ids(after.as_ref(), 1_000)?;
            if ids.is_empty() {
                return Ok(report);
            }
            for id in ids {
                let events = conn.events(&id)?;
                report.cases += 1;
                report.events += events.len() as u64;
                let links: Vec<chain::Link> = events
                    .iter()
                    .map(|e| chain::Link {
                        seq: e.seq,
                        body: e.body.clone(),
                        prev_hash: e.prev_hash.clone(),
                        hash: e.hash.clone(),
                    })
                    .collect();
                if let Err(b) = chain::verify(id.as_str(), &links) {
                    report.first_break = Some((id, b.to_string()));
                    return Ok(report);
                }
                // A case of an erased account: no personal value left but what must be kept.
                if let Some(problem) = crate::records::audit_erased_case(conn.as_mut(), &id, &events)? {
                    report.erased_cases += 1;
                    if !problem.is_empty() {
                        report.first_break = Some((id, problem));
                        return Ok(report);
                    }
                }
                after = Some(id);
            }
        }
    }

    // ---- Workers -----------------------------------------------------------------------------

    /// Fires the timers due now (one batch, one transaction); returns how many fired.
    pub async fn run_due_timers(&self) -> Result<usize, Error> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let lease = now + Duration::milliseconds(inner.config.lease_ms);
                let due = conn.claim_due_timers(now, lease, inner.config.timer_batch)?;
                let mut fired = 0;
                for timer in due {
                    conn.savepoint()?;
                    let outcome = fire_in(conn, &inner.config, &timer, now);
                    match outcome {
                        Ok(true) => fired += 1,
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(case = %timer.case_id, timer = timer.kind.as_str(), code = e.code(), "timer refused");
                            conn.rollback_to_savepoint()?;
                            // The timer did its job even if the case moved on: drop it.
                            let _ = conn.fire_timer(&timer);
                        }
                    }
                    conn.release_savepoint()?;
                }
                // Lifts of account locks whose cooling period ended take effect here too.
                fired += fraud::lift_due_locks(conn, &*inner.ids, now)?;
                Ok(fired)
            })
            .await
    }

    /// Claims one batch of due outbox rows, carries them out through the adapters
    /// concurrently, and records each outcome in one transaction.
    pub async fn run_outbox(&self) -> Result<OutboxStep, Error> {
        let inner = Arc::clone(&self.inner);
        let claimed = self
            .inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let lease = now + Duration::milliseconds(inner.config.lease_ms);
                let rows = conn.claim_outbox(now, lease, inner.config.outbox_batch)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let work = if row.kind == WEBHOOK_KIND {
                        serde_json::from_str::<WebhookPayload>(&row.payload)
                            .map(Work::Webhook)
                            .map_err(|e| e.to_string())
                    } else {
                        match serde_json::from_str::<Effect>(&row.payload) {
                            Ok(Effect::Notify { notice, account_id, msisdn, language, details }) => {
                                let account = conn.get_account(&account_id)?;
                                let to = match details.destination {
                                    None => Some(Recipient {
                                        email: account.as_ref().and_then(|a| a.email.clone()),
                                        sms: account.and_then(|a| a.alt_phone).or_else(|| Some(msisdn.clone())),
                                    }),
                                    Some(destination) => verification::recipient(destination, account, msisdn),
                                };
                                match to {
                                    Some(to) => {
                                        let code = message_code(conn, &inner, &row.id, &row.case_id, notice, now)?;
                                        let fraud_code = if row.kind != fraud::ACCOUNT_NOTIFY_KIND
                                            && fraud::carries_fraud_code(notice)
                                        {
                                            Some(fraud::issue_fraud_code(conn, &inner, &row.case_id, now)?)
                                        } else {
                                            None
                                        };
                                        Ok(Work::Notify { notice, language, details, to, code, fraud_code })
                                    }
                                    // A copy for a contact the account does not have: nothing to send.
                                    None => Ok(Work::Skip),
                                }
                            }
                            Ok(effect) => Ok(Work::Effect(effect)),
                            Err(e) => Err(e.to_string()),
                        }
                    };
                    out.push((row, work));
                }
                Ok(out)
            })
            .await?;
        if claimed.is_empty() {
            return Ok(OutboxStep::default());
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (row, work) in claimed {
            let adapters = self.inner.adapters.clone();
            tasks.spawn(async move {
                let outcome = match work {
                    Ok(work) => deliver(&adapters, &row, work).await,
                    Err(e) => Err(AdapterError::permanent(format!("unreadable effect: {e}"))),
                };
                (row, outcome)
            });
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(pair) => outcomes.push(pair),
                Err(e) => tracing::error!(error = %e, "outbox delivery task failed; the lease will expire and retry"),
            }
        }
        let inner = Arc::clone(&self.inner);
        self.inner.writer.run(move |conn| record_outcomes(conn, &inner, outcomes)).await
    }

    /// Runs timers and the outbox until both are idle or `max_rounds` pass (tests, demo).
    pub async fn drain(&self, max_rounds: usize) -> Result<(), Error> {
        for _ in 0..max_rounds {
            let fired = self.run_due_timers().await?;
            let step = self.run_outbox().await?;
            if fired == 0 && step.delivered + step.retried + step.dead == 0 {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// What a delivered effect reports back to its case.
/// The outbox kind of webhook rows (their payload is a [`WebhookPayload`], not an effect).
pub const WEBHOOK_KIND: &str = "webhook";
/// Characters in a message's authenticity code (32^10 codes: collisions are rare and retried).
pub const AUTH_CODE_LEN: usize = 10;

/// The message's authenticity code: drawn once, kept across retries. A code already
/// used by another message is drawn again (each try in its own savepoint, since a
/// failed statement aborts a PostgreSQL transaction).
fn message_code(
    conn: &mut dyn Conn,
    inner: &Inner,
    effect_id: &str,
    case_id: &CaseId,
    notice: lineout_domain::case::Notice,
    now: OffsetDateTime,
) -> Result<String, Error> {
    for _ in 0..5 {
        let secret = inner.ids.secret();
        let candidate: String = secret.chars().skip(secret.chars().count().saturating_sub(AUTH_CODE_LEN)).collect();
        conn.savepoint()?;
        match conn.ensure_message(effect_id, case_id, notice, &candidate, now) {
            Ok(code) => {
                conn.release_savepoint()?;
                return Ok(code);
            }
            Err(crate::ports::StoreError::Conflict("message_code")) => {
                conn.rollback_to_savepoint()?;
                conn.release_savepoint()?;
            }
            Err(e) => {
                conn.rollback_to_savepoint()?;
                conn.release_savepoint()?;
                return Err(e.into());
            }
        }
    }
    Err(Error::Internal("could not draw a free authenticity code".into()))
}

/// A webhook row's payload: the endpoint's name and the CloudEvents body.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WebhookPayload {
    pub endpoint: String,
    pub body: String,
}

/// One claimed outbox row, ready for its adapter.
enum Work {
    Effect(Effect),
    Notify {
        notice: lineout_domain::case::Notice,
        language: lineout_domain::values::Language,
        details: lineout_domain::effects::NoticeDetails,
        to: Recipient,
        code: String,
        fraud_code: Option<String>,
    },
    Webhook(WebhookPayload),
    /// Nothing to do (e.g. a per-contact notice for a contact the account lacks).
    Skip,
}

/// What a delivered effect reports back to its case.
enum Delivered {
    Deprovisioned,
    Refunded(String),
    Notified(lineout_domain::case::Notice, Delivery),
    Posted,
    Skipped,
}

async fn deliver(adapters: &Adapters, row: &OutboxRow, work: Work) -> Result<Delivered, AdapterError> {
    match work {
        Work::Effect(effect @ Effect::Deprovision { .. }) => {
            let req = DeprovisionRequest { case_id: row.case_id.clone(), effect };
            adapters.network.deprovision(&row.id, &req).await.map(|()| Delivered::Deprovisioned)
        }
        Work::Effect(Effect::Refund { account_id, amount, payout }) => {
            adapters.payments.refund(&row.id, &account_id, amount, &payout).await.map(Delivered::Refunded)
        }
        Work::Effect(Effect::Notify { .. }) => Err(AdapterError::permanent("notify rows are prepared as messages")),
        Work::Notify { notice, language, details, to, code, fraud_code } => {
            let ctx = crate::notices::NoticeContext {
                case_id: &row.case_id,
                language,
                auth_code: &code,
                details: &details,
                fraud_code: fraud_code.as_deref(),
            };
            let r = crate::notices::render(notice, ctx);
            let message = Message {
                case_id: row.case_id.clone(),
                notice,
                language,
                to,
                subject: r.subject,
                body: r.email_text,
                sms_text: r.sms_text,
                auth_code: code,
            };
            adapters.notifier.send(&row.id, &message).await.map(|d| Delivered::Notified(notice, d))
        }
        Work::Skip => Ok(Delivered::Skipped),
        Work::Webhook(payload) => match &adapters.webhooks {
            Some(w) => w.post(&row.id, &payload.endpoint, &payload.body).await.map(|()| Delivered::Posted),
            None => Err(AdapterError::permanent("no webhook transport is configured")),
        },
    }
}

fn record_outcomes(
    conn: &mut dyn Conn,
    inner: &Inner,
    outcomes: Vec<(OutboxRow, Result<Delivered, AdapterError>)>,
) -> Result<OutboxStep, Error> {
    let now = to_millis(inner.clock.now());
    let policy = &inner.config.policy;
    let mut step = OutboxStep::default();
    for (row, outcome) in outcomes {
        let attempts = row.attempts.saturating_add(1);
        conn.savepoint()?;
        let result: Result<(), Error> = (|| {
            let followup = match outcome {
                Ok(delivered) => {
                    conn.complete_outbox(&row.id, attempts, now)?;
                    step.delivered += 1;
                    match delivered {
                        Delivered::Deprovisioned => {
                            Some(Command::DeprovisioningConfirmed { effect_id: row.id.clone() })
                        }
                        Delivered::Refunded(reference) => {
                            Some(Command::RefundIssued { effect_id: row.id.clone(), reference })
                        }
                        Delivered::Notified(notice, delivery) => {
                            conn.message_sent(&row.id, &delivery.provider_ids, now)?;
                            Some(Command::NoticeDelivered {
                                effect_id: row.id.clone(),
                                notice,
                                channel: delivery.channel,
                            })
                        }
                        // Webhook deliveries are not case events (that would feed more webhooks).
                        Delivered::Posted | Delivered::Skipped => None,
                    }
                    .filter(|_| row.kind != fraud::ACCOUNT_NOTIFY_KIND)
                }
                Err(e) if e.retryable && attempts < policy.retry.max_attempts => {
                    let delay = i64::try_from(policy.retry_delay_ms(attempts)).unwrap_or(i64::MAX);
                    conn.retry_outbox(&row.id, attempts, now + Duration::milliseconds(delay), &clip(&e.message))?;
                    step.retried += 1;
                    (row.kind != WEBHOOK_KIND && row.kind != fraud::ACCOUNT_NOTIFY_KIND).then(|| {
                        Command::EffectFailed {
                            effect_id: row.id.clone(),
                            effect: row.kind.clone(),
                            attempt: attempts,
                            error: clip(&e.message),
                        }
                    })
                }
                Err(e) => {
                    conn.dead_letter_outbox(&row.id, attempts, &clip(&e.message), now)?;
                    step.dead += 1;
                    crate::metrics::dead_letter(&row.kind);
                    tracing::error!(case = %row.case_id, effect = %row.id, kind = %row.kind, "effect dead-lettered");
                    (row.kind != WEBHOOK_KIND && row.kind != fraud::ACCOUNT_NOTIFY_KIND).then(|| {
                        Command::EffectDeadLettered {
                            effect_id: row.id.clone(),
                            effect: row.kind.clone(),
                            error: clip(&e.message),
                        }
                    })
                }
            };
            if let Some(cmd) = followup {
                match execute(conn, &inner.config, &row.case_id, &cmd, &Actor::System, now) {
                    Ok(_) => {}
                    // The effect happened; if the case cannot take the result, keep the row done and say so.
                    Err(Error::Case(e)) => {
                        tracing::warn!(case = %row.case_id, effect = %row.id, code = e.code(), "effect result refused by case");
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => conn.release_savepoint()?,
            Err(e) => {
                tracing::error!(case = %row.case_id, effect = %row.id, code = e.code(), "recording an effect outcome failed; the lease will expire and retry");
                conn.rollback_to_savepoint()?;
                conn.release_savepoint()?;
            }
        }
    }
    Ok(step)
}

fn clip(s: &str) -> String {
    s.chars().take(500).collect()
}

fn not_found(kind: &'static str, id: &str) -> Error {
    Error::NotFound { kind, id: id.to_owned() }
}

fn each_row<T>(
    conn: &mut dyn Conn,
    rows: Vec<T>,
    f: impl Fn(&mut dyn Conn, &T) -> Result<Upsert, crate::ports::StoreError>,
) -> Vec<Result<Upsert, Error>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let r = (|| {
            conn.savepoint()?;
            match f(conn, row) {
                Ok(u) => {
                    conn.release_savepoint()?;
                    Ok(u)
                }
                Err(e) => {
                    conn.rollback_to_savepoint()?;
                    conn.release_savepoint()?;
                    Err(Error::from(e))
                }
            }
        })();
        out.push(r);
    }
    out
}

fn detail_in(conn: &mut dyn Conn, id: &CaseId) -> Result<CaseDetail, Error> {
    let record = conn.get_case(id)?.ok_or_else(|| not_found("case", id.as_str()))?;
    let events = crate::records::read_events(conn, id)?;
    let timers = conn.timers(id)?;
    let outbox = conn.outbox_for_case(id)?;
    Ok(CaseDetail { case: record.case, events, timers, outbox })
}

fn open_in(
    conn: &mut dyn Conn,
    inner: &Inner,
    req: &OpenRequest,
    actor: &Actor,
    client_addr: Option<&str>,
) -> Result<Case, Error> {
    let now = to_millis(inner.clock.now());
    let line = match &req.line {
        LineRef::Id(id) => conn.get_line(id)?.ok_or_else(|| not_found("line", id.as_str()))?,
        LineRef::Msisdn(m) => conn.find_line_by_msisdn(m)?.ok_or_else(|| not_found("line", m.last4()))?,
    };
    if let Some(existing) = conn.open_case_for_line(&line.id, req.kind)? {
        return Err(Error::CaseAlreadyOpen(existing.as_str().to_owned()));
    }
    let account = conn.get_account(&line.account_id)?.ok_or_else(|| Error::Internal("line without account".into()))?;
    let devices = conn.devices_for_line(&line.id)?;
    // Installments left on the line's financed devices become due on the final bill.
    let remaining_installments_cents = devices
        .iter()
        .filter(|d| d.ownership == lineout_domain::Ownership::Financed)
        .fold(0i64, |sum, d| sum.saturating_add(d.remaining_installments_cents.max(0)));
    let device = devices.into_iter().find(|d| d.must_return).map(|d| DeviceFact {
        device_id: d.id,
        imei: d.imei,
        price: d.price,
        model: d.model,
    });
    let facts = CaseFacts {
        account_id: account.id.clone(),
        account_kind: account.kind,
        line_id: line.id.clone(),
        msisdn: line.msisdn.clone(),
        iccid: line.iccid.clone(),
        imsi: line.imsi.clone(),
        eid: line.eid.clone(),
        plan: line.plan,
        line_status: line.status,
        language: account.language,
        billing_cycle_day: account.billing_cycle_day,
        cancellation_locked: account.locks.cancellation,
        port_out_locked: account.locks.port_out,
        owed: account.owed,
        prepaid_balance: account.prepaid_balance,
        device,
        monthly_charge_cents: line.monthly_charge_cents,
        remaining_installments_cents,
    };
    let open = OpenCase {
        callback: req.callback,
        kind: req.kind,
        channel: req.channel,
        timing: req.timing,
        facts,
        note: req.note.clone(),
    };
    let kinds = case::open(&open, actor, &inner.config.policy, now)?;
    let id = inner.ids.case_id(now);
    let case = persist(conn, &inner.config, None, &id, kinds, actor, now).map_err(|e| match e {
        Error::CaseAlreadyOpen(_) => Error::CaseAlreadyOpen(String::new()),
        other => other,
    })?;
    // Fraud guards: where the request came from, and its risk, before any verification.
    let case = fraud::assess_new(conn, inner, &case, actor, client_addr, now)?;
    if req.channel == Channel::Bulk {
        // Bulk terminations are operator-initiated: verified by policy, in the same transaction.
        // Only lineout itself may record an operator-initiated verification.
        return verified(conn, &inner.config, case, Proof::OperatorInitiated, &Actor::System, now);
    }
    Ok(case)
}

/// Records the verification of a case just opened, in the same transaction (unless the
/// opening already verified it), by the actor who verified (the agent, the caller).
fn verified(
    conn: &mut dyn Conn,
    config: &EngineConfig,
    case: Case,
    proof: Proof,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Case, Error> {
    if case.verification == lineout_domain::case::Step::Done {
        return Ok(case);
    }
    let (case, refused) =
        execute_reporting(conn, config, &case.id, &Command::VerifyIdentity { proof, client: None }, actor, now)?;
    match refused {
        Some(e) => Err(Error::Case(e)),
        None => Ok(case),
    }
}

/// Loads a case, decides, and saves the outcome (events, projection, timers, outbox).
fn execute(
    conn: &mut dyn Conn,
    config: &EngineConfig,
    id: &CaseId,
    cmd: &Command,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Case, Error> {
    execute_reporting(conn, config, id, cmd, actor, now).map(|(case, _)| case)
}

/// Like [`execute`], and also says whether the command was a recorded refusal (e.g. a
/// wrong device at receipt): the events are saved, and the caller reports the refusal.
fn execute_reporting(
    conn: &mut dyn Conn,
    config: &EngineConfig,
    id: &CaseId,
    cmd: &Command,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(Case, Option<case::Error>), Error> {
    let record = conn.get_case(id)?.ok_or_else(|| not_found("case", id.as_str()))?;
    let kinds = case::decide(&record.case, cmd, actor, &config.policy, now)?;
    let refused = kinds.iter().find_map(|k| match k {
        EventKind::DeviceReceiptRefused => Some(case::Error::DeviceMismatch),
        _ => None,
    });
    let verification_refused = kinds.iter().find_map(|k| match k {
        EventKind::VerificationFailed { reason, .. } => Some(*reason),
        _ => None,
    });
    // The attempt that reaches the limit answers with the lock it caused.
    let verification_refused = match kinds.iter().any(|k| matches!(k, EventKind::VerificationLocked { .. })) {
        true => Some(lineout_domain::verification::Refusal::Locked),
        false => verification_refused,
    };
    let ported = kinds.iter().any(|k| matches!(k, EventKind::PortedOut));
    let case = persist(conn, config, Some(record), id, kinds, actor, now)?;
    // A failed verification attempt is recorded, then reported (with the lock, if any).
    let refused = refused.or_else(|| verification_refused.map(|r| r.error(case.verification_locked_until)));
    if ported && let Some(open) = conn.open_case_for_line(&case.facts.line_id, CaseKind::Cancellation)? {
        // The number left: an open cancellation of the same line ends with it.
        let supersede = Command::Supersede { by_case: id.clone() };
        execute(conn, config, &open, &supersede, &Actor::System, now)?;
    }
    Ok((case, refused))
}

fn fire_in(conn: &mut dyn Conn, config: &EngineConfig, timer: &DueTimer, now: OffsetDateTime) -> Result<bool, Error> {
    if !conn.fire_timer(timer)? {
        return Ok(false);
    }
    execute(conn, config, &timer.case_id, &Command::TimerFired { timer: timer.kind }, &Actor::System, now)?;
    Ok(true)
}

fn persist(
    conn: &mut dyn Conn,
    config: &EngineConfig,
    before: Option<CaseRecord>,
    id: &CaseId,
    kinds: Vec<EventKind>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Case, Error> {
    let policy = &config.policy;
    let is_new = before.is_none();
    let (mut case, mut last_hash) = match before {
        Some(r) => (Some(r.case), r.last_hash),
        None => (None, chain::GENESIS.to_owned()),
    };
    let expected_version = case.as_ref().map_or(0, |c| c.version);
    let line_status_before = case.as_ref().map(|c| c.line_status);
    if kinds.is_empty() {
        return case.ok_or_else(|| Error::Internal("a new case needs events".into()));
    }
    let mut stored = Vec::with_capacity(kinds.len());
    let mut outbox = Vec::new();
    let mut timer_ops = Vec::new();
    let mut ledger = Vec::new();
    let mut personal = Vec::new();
    for kind in kinds {
        let seq = case.as_ref().map_or(0, |c| c.version) + 1;
        let event = Event { seq, at: now, actor: actor.clone(), kind };
        let next = match case.take() {
            None => Case::from_opened(id.clone(), &event)
                .ok_or_else(|| Error::Internal("first event must be opened".into()))?,
            Some(mut c) => {
                c.apply(&event);
                c
            }
        };
        // Personal values leave the chained body for the erasable side table (see `records`).
        let (body, taken) = crate::records::chained_body(&event)?;
        personal.extend(taken);
        let hash = chain::event_hash(&last_hash, id.as_str(), seq, &body);
        let (effects, timers) = effects::consequences(&next, &event.kind, policy);
        for (i, effect) in effects.into_iter().enumerate() {
            outbox.push(OutboxRow {
                id: effects::effect_id(id, seq, i),
                case_id: id.clone(),
                kind: effect.kind().to_owned(),
                payload: serde_json::to_string(&effect).map_err(|e| Error::Internal(e.to_string()))?,
                status: OutboxStatus::Pending,
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                created_at: now,
                done_at: None,
            });
        }
        for endpoint in &config.webhook_endpoints {
            // Every case event goes to every configured endpoint as a CloudEvent.
            let payload = WebhookPayload {
                endpoint: endpoint.clone(),
                body: crate::cloudevents::event_json(id, &event, &config.webhook_source),
            };
            outbox.push(OutboxRow {
                id: format!("{}.{}.wh.{}", id.as_str(), seq, endpoint),
                case_id: id.clone(),
                kind: WEBHOOK_KIND.to_owned(),
                payload: serde_json::to_string(&payload).map_err(|e| Error::Internal(e.to_string()))?,
                status: OutboxStatus::Pending,
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                created_at: now,
                done_at: None,
            });
        }
        timer_ops.extend(timers);
        ledger.extend(lineout_domain::ledger::entries_for(&next, seq, &event.kind));
        stored.push(StoredEvent {
            case_id: id.clone(),
            seq,
            at: now,
            kind: event.kind.name().to_owned(),
            body,
            prev_hash: std::mem::replace(&mut last_hash, hash.clone()),
            hash,
        });
        case = Some(next);
    }
    let case = case.ok_or_else(|| Error::Internal("no case after events".into()))?;
    let record = CaseRecord { case, last_hash };
    if is_new {
        conn.insert_case(&record)?;
    } else {
        conn.update_case(&record, expected_version)?;
    }
    conn.append_events(&stored)?;
    if !personal.is_empty() {
        conn.records().put_personal(id, &record.case.facts.account_id, &personal)?;
    }
    for op in timer_ops {
        match op {
            TimerOp::Set(kind, due_at) => conn.set_timer(crate::ports::TimerRow { case_id: id, kind, due_at })?,
            TimerOp::Cancel(kind) => conn.cancel_timer(id, kind)?,
            TimerOp::CancelAll => conn.cancel_all_timers(id)?,
        }
    }
    if !outbox.is_empty() {
        conn.insert_outbox(&outbox)?;
    }
    if !ledger.is_empty() {
        // Money a case moves lands in the account's ledger in the same transaction.
        conn.append_ledger(&ledger, now)?;
    }
    if line_status_before != Some(record.case.line_status)
        && !(is_new && record.case.line_status == record.case.facts.line_status)
    {
        conn.set_line_status(&record.case.facts.line_id, record.case.line_status, now)?;
        let msisdn = &record.case.facts.msisdn;
        match (record.case.line_status, record.case.kind) {
            (LineStatus::Terminated, _) => {
                // The number rests in aging (47 CFR 52.15(f)(1)(ii)) before it may be reassigned.
                let days = i64::from(policy.aging_days(record.case.facts.account_kind));
                conn.record_disconnect(msisdn, now, now + Duration::days(days), id)?;
            }
            (LineStatus::PortedOut, CaseKind::PortOut) => conn.record_port_out(msisdn, now, id)?,
            _ => {}
        }
    }
    Ok(record.case)
}

#[path = "portal.rs"]
pub mod portal;
#[path = "verification.rs"]
mod verification;
pub use verification::{ClientAddress, CodeSent, VerificationRequest};

// ---- Port-out: Number Transfer PINs and the new operator's port request ---------------------

/// A transfer PIN just issued: shown once, only its hash is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedPin {
    pub case: Case,
    pub pin: String,
}

/// The new operator's port request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub msisdn: Msisdn,
    pub account_id: AccountId,
    pub pin: String,
    pub new_operator: String,
}

/// Digits in a Number Transfer PIN.
pub const TRANSFER_PIN_DIGITS: usize = 8;

impl Engine {
    /// Issues a Number Transfer PIN for a line: opens its port-out case if none is open,
    /// otherwise voids the previous PIN. Every contact of the account is told at once.
    pub async fn issue_transfer_pin(&self, line: LineRef, channel: Channel, actor: Actor) -> Result<IssuedPin, Error> {
        let pin = self.inner.ids.digits(TRANSFER_PIN_DIGITS);
        let salt = self.inner.ids.salt();
        let secret = pin.clone();
        // Hashing is slow on purpose: never on the writer thread.
        let hash = tokio::task::spawn_blocking(move || crate::secrets::hash(&secret, salt))
            .await
            .map_err(|e| Error::Internal(format!("hash task: {e}")))??;
        let pin_id = hash_secret(&hash)[..16].to_owned();
        let inner = Arc::clone(&self.inner);
        let case = self
            .inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let line = resolve_line(conn, &line)?;
                // The account lock blocks port-out, new transfer PINs included (an open case too).
                let account = conn
                    .get_account(&line.account_id)?
                    .ok_or_else(|| Error::Internal("line without account".into()))?;
                if account.locks.port_out {
                    return Err(Error::Case(case::Error::AccountLocked));
                }
                let case_id = match conn.open_case_for_line(&line.id, CaseKind::PortOut)? {
                    Some(id) => id,
                    None => {
                        let req = OpenRequest {
                            callback: false,
                            kind: CaseKind::PortOut,
                            line: LineRef::Id(line.id.clone()),
                            channel,
                            timing: Timing::Immediate,
                            note: None,
                        };
                        open_in(conn, &inner, &req, &actor, None)?.id
                    }
                };
                conn.put_transfer_pin(&case_id, &pin_id, &hash)?;
                let issue = Command::IssueTransferPin { pin_id };
                execute(conn, &inner.config, &case_id, &issue, &Actor::System, now)
            })
            .await?;
        Ok(IssuedPin { case, pin })
    }

    /// Checks the new operator's port request against the line, its account and the PIN.
    /// A refused request is recorded on the case (and counts toward voiding the PIN), then
    /// reported as [`Error::PortRefused`].
    pub async fn request_port(&self, request: PortRequest) -> Result<Case, Error> {
        let lookup = request.msisdn.clone();
        let (line, case_id, stored) = self
            .read(move |c| {
                let line = c.find_line_by_msisdn(&lookup)?.ok_or_else(|| not_found("line", lookup.last4()))?;
                let case = c.open_case_for_line(&line.id, CaseKind::PortOut)?.ok_or(Error::NoTransferPin)?;
                let pin = c.get_transfer_pin(&case)?;
                Ok((line, case, pin))
            })
            .await?;
        let candidate = request.pin.clone();
        let checked = tokio::task::spawn_blocking(move || {
            stored.and_then(|(pin_id, hash)| crate::secrets::verify(&candidate, &hash).then_some(pin_id))
        })
        .await
        .map_err(|e| Error::Internal(format!("verify task: {e}")))?;
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let account = conn
                    .get_account(&line.account_id)?
                    .ok_or_else(|| Error::Internal("line without account".into()))?;
                let current = conn.get_case(&case_id)?.ok_or_else(|| not_found("case", case_id.as_str()))?;
                // The PIN must still be the one that was checked (a new PIN voids the old).
                let pin_matches =
                    matches!((&checked, &current.case.transfer_pin), (Some(id), Some(pin)) if *id == pin.pin_id);
                let cmd = Command::RequestPort {
                    new_operator: request.new_operator.clone(),
                    account_matches: account.id == request.account_id,
                    pin_matches,
                    port_out_locked: account.locks.port_out,
                };
                let kinds = case::decide(&current.case, &cmd, &Actor::System, &inner.config.policy, now)?;
                let refused = kinds.iter().find_map(|k| match k {
                    EventKind::TransferPinVoided { reason } => Some(*reason),
                    _ => None,
                });
                let refused = refused.or_else(|| {
                    kinds.iter().find_map(|k| match k {
                        EventKind::PortRequestRefused { reason, .. } => Some(*reason),
                        _ => None,
                    })
                });
                let case = persist(conn, &inner.config, Some(current), &case_id, kinds, &Actor::System, now)?;
                // The refusal is recorded (committed) and then reported.
                Ok(match refused {
                    Some(reason) => Err(Error::PortRefused(reason)),
                    None => Ok(case),
                })
            })
            .await?
    }

    // ---- Numbers -------------------------------------------------------------------------

    /// A number's end-of-line record and its state now.
    pub async fn number(&self, msisdn: Msisdn) -> Result<(NumberRecord, NumberState), Error> {
        let now = self.now();
        self.read(move |c| {
            let rec = c.get_number(&msisdn)?.ok_or_else(|| not_found("number", msisdn.last4()))?;
            let state = rec.state(now);
            Ok((rec, state))
        })
        .await
    }

    /// Numbers in a state now, by number after the cursor (the page is bounded).
    pub async fn list_numbers(
        &self,
        state: Option<NumberState>,
        after: Option<Msisdn>,
        limit: u32,
    ) -> Result<Vec<NumberRecord>, Error> {
        let filter = NumberFilter { state, now: self.now(), after, limit: limit.clamp(1, self.inner.config.max_page) };
        self.read(move |c| Ok(c.list_numbers(&filter)?)).await
    }

    /// Every permanent disconnection with `from <= at < to`, read page by page (blocking).
    pub fn disconnections_blocking(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, Msisdn)>, Error> {
        let mut conn = self.inner.store.connect(Role::Reader)?;
        let mut out = Vec::new();
        let mut after: Option<(OffsetDateTime, Msisdn)> = None;
        loop {
            let page = conn.disconnections(from, to, after.as_ref(), 1_000)?;
            let Some(last) = page.last().cloned() else { return Ok(out) };
            out.extend(page);
            after = Some(last);
        }
    }
}

fn resolve_line(conn: &mut dyn Conn, line: &LineRef) -> Result<Line, Error> {
    match line {
        LineRef::Id(id) => conn.get_line(id)?.ok_or_else(|| not_found("line", id.as_str())),
        LineRef::Msisdn(m) => conn.find_line_by_msisdn(m)?.ok_or_else(|| not_found("line", m.last4())),
    }
}

// ---- eSIM download progress from the SM-DP+ ---------------------------------------------

impl Engine {
    /// Records an ES2+ download-progress notification on the open case of the line with
    /// this ICCID (a cancellation first, else a port-out); `None` when no case is open.
    pub async fn record_esim_progress(
        &self,
        iccid: lineout_domain::values::Iccid,
        notification_point: String,
        status: String,
    ) -> Result<Option<CaseId>, Error> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let Some(line) = conn.find_line_by_iccid(&iccid)? else { return Ok(None) };
                let open = match conn.open_case_for_line(&line.id, CaseKind::Cancellation)? {
                    Some(id) => Some(id),
                    None => conn.open_case_for_line(&line.id, CaseKind::PortOut)?,
                };
                let Some(case_id) = open else { return Ok(None) };
                let cmd = Command::RecordEsimProgress { notification_point, status };
                execute(conn, &inner.config, &case_id, &cmd, &Actor::System, now)?;
                Ok(Some(case_id))
            })
            .await
    }
}

// ---- Messages: delivery receipts, authenticity codes, dead letters ------------------------

impl Engine {
    /// Records an SMSC delivery receipt on the case of the message it refers to.
    /// Receipts for unknown message ids (e.g. another system's) are ignored.
    pub async fn record_delivery_receipt(&self, receipt: crate::ports::DeliveryReceipt) -> Result<bool, Error> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let Some(message) = conn.message_receipt(&receipt.message_id, receipt.delivered, now)? else {
                    return Ok(false);
                };
                let cmd = Command::RecordNoticeReceipt {
                    effect_id: message.effect_id.clone(),
                    delivered: receipt.delivered,
                    status: receipt.status.chars().take(20).collect(),
                };
                execute(conn, &inner.config, &message.case_id, &cmd, &Actor::System, now)?;
                Ok(true)
            })
            .await
    }

    /// "Is this code one of ours?": the message that carried an authenticity code.
    pub async fn message_by_code(&self, code: String) -> Result<Option<MessageRecord>, Error> {
        if code.len() > 32 {
            return Ok(None);
        }
        self.read(move |c| Ok(c.message_by_code(&code.to_ascii_uppercase())?)).await
    }

    /// Outbox rows with a status (staff tools), by id after the cursor.
    pub async fn list_outbox(
        &self,
        status: OutboxStatus,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, Error> {
        let limit = limit.clamp(1, self.inner.config.max_page);
        self.read(move |c| Ok(c.list_outbox(status, after.as_deref(), limit)?)).await
    }

    /// Puts a dead-lettered effect back in the queue; false if it is not dead.
    pub async fn retry_dead_letter(&self, id: String) -> Result<bool, Error> {
        let inner = Arc::clone(&self.inner);
        self.inner.writer.run(move |conn| Ok(conn.requeue_outbox(&id, to_millis(inner.clock.now()))?)).await
    }
}

// ---- PIN checks and cases opened already verified (IVR) -----------------------------------

/// The outcome of a PIN check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    Correct,
    /// Wrong; this many attempts remain before the lock.
    Wrong {
        attempts_left: u32,
    },
    /// Too many wrong attempts: no PIN is accepted until then (a correct one neither).
    Locked {
        until: OffsetDateTime,
    },
    /// The account has no PIN: another method is needed.
    NoPin,
}

/// Wrong PIN attempts in a row before the line's PIN checks are locked.
pub const PIN_MAX_ATTEMPTS: u32 = 5;
/// How long the lock lasts.
pub const PIN_LOCK_MINUTES: i64 = 30;

impl Engine {
    /// The line with this number, if any.
    pub async fn find_line(&self, msisdn: Msisdn) -> Result<Option<Line>, Error> {
        self.read(move |c| Ok(c.find_line_by_msisdn(&msisdn)?)).await
    }

    /// Checks a PIN against the line's account. Wrong attempts are counted durably per
    /// line; after [`PIN_MAX_ATTEMPTS`] the line is locked for [`PIN_LOCK_MINUTES`].
    pub async fn check_pin(&self, line: LineId, pin: String) -> Result<PinCheck, Error> {
        let lookup = line.clone();
        let (hash, failures, locked_until) = self
            .read(move |c| {
                let line = c.get_line(&lookup)?.ok_or_else(|| not_found("line", lookup.as_str()))?;
                let account =
                    c.get_account(&line.account_id)?.ok_or_else(|| Error::Internal("line without account".into()))?;
                let (failures, locked) = c.pin_attempts(&lookup)?;
                Ok((account.pin_hash, failures, locked))
            })
            .await?;
        let now = self.now();
        if let Some(until) = locked_until.filter(|t| *t > now) {
            return Ok(PinCheck::Locked { until });
        }
        let Some(hash) = hash else { return Ok(PinCheck::NoPin) };
        let pin_ok = pin.len() <= 16 && pin.bytes().all(|b| b.is_ascii_digit());
        let correct = pin_ok
            && tokio::task::spawn_blocking(move || crate::secrets::verify(&pin, &hash))
                .await
                .map_err(|e| Error::Internal(format!("verify task: {e}")))?;
        let previous = if locked_until.is_some() { 0 } else { failures };
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                if correct {
                    conn.set_pin_attempts(&line, 0, None)?;
                    return Ok(PinCheck::Correct);
                }
                let failures = previous + 1;
                if failures >= PIN_MAX_ATTEMPTS {
                    let until = now + Duration::minutes(PIN_LOCK_MINUTES);
                    conn.set_pin_attempts(&line, failures, Some(until))?;
                    Ok(PinCheck::Locked { until })
                } else {
                    conn.set_pin_attempts(&line, failures, None)?;
                    Ok(PinCheck::Wrong { attempts_left: PIN_MAX_ATTEMPTS - failures })
                }
            })
            .await
    }

    /// Opens a case and records its verification in the same transaction, so a caller
    /// who hangs up never leaves half a request behind.
    pub async fn open_verified_case(&self, req: OpenRequest, proof: Proof, actor: Actor) -> Result<Case, Error> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run(move |conn| {
                let now = to_millis(inner.clock.now());
                let case = open_in(conn, &inner, &req, &actor, None)?;
                verified(conn, &inner.config, case, proof, &actor, now)
            })
            .await
    }

    /// The line's open cancellation case, if any.
    pub async fn open_case_of_line(&self, line: LineId) -> Result<Option<Case>, Error> {
        self.read(move |c| {
            let Some(id) = c.open_case_for_line(&line, CaseKind::Cancellation)? else { return Ok(None) };
            Ok(c.get_case(&id)?.map(|r| r.case))
        })
        .await
    }
}

// ---- Device returns: the label ------------------------------------------------------------

/// What a return label shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnLabelData {
    pub rma: String,
    pub customer_name: String,
    pub return_address: Vec<String>,
    pub device_model: String,
    pub deadline: OffsetDateTime,
    pub accessories: Vec<String>,
}

impl Engine {
    /// The return label of a case whose device must come back.
    pub async fn return_label(&self, id: CaseId) -> Result<ReturnLabelData, Error> {
        let address = self.inner.config.policy.device_return.return_address.clone();
        self.read(move |c| {
            let record = c.get_case(&id)?.ok_or_else(|| not_found("case", id.as_str()))?;
            let case = record.case;
            let (Some(rma), Some(deadline), Some(device)) =
                (case.rma.clone(), case.return_deadline, case.facts.device.clone())
            else {
                return Err(Error::Case(case::Error::NoDevice));
            };
            let account =
                c.get_account(&case.facts.account_id)?.ok_or_else(|| Error::Internal("case without account".into()))?;
            let accessories = crate::records::read_events(c, &id)?
                .into_iter()
                .find_map(|e| match e.kind {
                    EventKind::DeviceReturnRequested { accessories, .. } => Some(accessories),
                    _ => None,
                })
                .unwrap_or_default();
            Ok(ReturnLabelData {
                rma,
                customer_name: account.holder_name,
                return_address: address,
                device_model: device.model,
                deadline,
                accessories,
            })
        })
        .await
    }
}

// ---- The account ledger -------------------------------------------------------------------

/// An account's ledger: the opening balance (imported), the entries, and the balance.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountLedger {
    pub opening: lineout_domain::values::Money,
    pub entries: Vec<(lineout_domain::ledger::Entry, OffsetDateTime)>,
    pub balance: lineout_domain::values::Money,
}

impl Engine {
    /// The whole ledger of an account (bounded: at most 10,000 entries are read).
    pub async fn account_ledger(&self, id: AccountId) -> Result<AccountLedger, Error> {
        self.read(move |c| {
            let account = c.get_account(&id)?.ok_or_else(|| not_found("account", id.as_str()))?;
            let opening = account.owed.checked_sub(account.prepaid_balance).unwrap_or(account.owed);
            let mut entries = Vec::new();
            let mut after: Option<String> = None;
            while entries.len() < 10_000 {
                let page = c.ledger(&id, after.as_deref(), 1_000)?;
                let Some(last) = page.last() else { break };
                after = Some(last.0.id.clone());
                entries.extend(page);
            }
            // In time order; within one moment, by case event then position.
            let order = |e: &lineout_domain::ledger::Entry| {
                let mut parts = e.id.rsplitn(3, '.');
                let n = parts.next().and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
                let seq = parts.next().and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
                (seq, n)
            };
            entries.sort_by(|(a, at_a), (b, at_b)| (at_a, order(a)).cmp(&(at_b, order(b))));
            let plain: Vec<_> = entries.iter().map(|(e, _)| e.clone()).collect();
            let balance = lineout_domain::ledger::balance(opening, &plain);
            Ok(AccountLedger { opening, entries, balance })
        })
        .await
    }
}

// ---- The final statement -------------------------------------------------------------------

/// What a case's statement shows: the money the case moved, from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementData {
    pub case: Case,
    pub customer_name: String,
    /// Owed minus prepaid when the case opened (negative: credit).
    pub opening: lineout_domain::values::Money,
    pub entries: Vec<(lineout_domain::ledger::Entry, OffsetDateTime)>,
}

impl Engine {
    /// The ledger entries of one case with the account's opening position.
    pub async fn case_statement(&self, id: CaseId) -> Result<StatementData, Error> {
        let detail = self.case_detail(id.clone()).await?;
        let account_id = detail.case.facts.account_id.clone();
        let ledger = self.account_ledger(account_id.clone()).await?;
        let account = self.account(account_id).await?;
        let facts = &detail.case.facts;
        let opening = facts.owed.checked_sub(facts.prepaid_balance).unwrap_or(facts.owed);
        let entries = ledger.entries.into_iter().filter(|(e, _)| e.case_id.as_ref() == Some(&id)).collect();
        Ok(StatementData { case: detail.case, customer_name: account.holder_name, opening, entries })
    }
}
