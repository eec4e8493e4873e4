//! The FastAGI server: accepts Asterisk's connections (at most `max_calls` served at
//! once), reads lines under the configured limits, runs each call's menu, and performs
//! the menu's engine requests.

use crate::agi::{self, Env, MAX_USAGE_LINES, MAX_VARIABLES, ProtocolError, ReplyLine};
use crate::menu::{Action, Command, Event, Menu, MenuSettings, OpenRefusal, Reply, Request, WithdrawRefusal};
use crate::{IvrConfig, SCRIPT};
use lineout_app::{Engine, Error as AppError, LineRef, OpenRequest};
use lineout_domain::case::{self, Actor, CaseKind, PinOutcome, Proof};
use lineout_domain::values::{CaseId, LineId, Msisdn};
use lineout_domain::{Channel, Timing};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tracing::{debug, info, warn};

/// Serves the hotline to Asterisk on `listener` until `shutdown` completes; then stops
/// accepting and waits for the calls in progress (each bounded by `call_timeout`).
///
/// Fails at once, with [`io::ErrorKind::InvalidInput`], if `config` is not valid.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    config: IvrConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    config.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let settings = MenuSettings {
        max_retries: config.max_retries,
        input_timeout_ms: u32::try_from(config.input_timeout.as_millis()).unwrap_or(u32::MAX),
        agent_dial: config.agent_dial.clone(),
    };
    let prompts_dir = config.prompts_dir.trim_end_matches('/').to_owned();
    let calls = Arc::new(Semaphore::new(config.max_calls));
    // Calls being told "busy" are bounded too; beyond them a connection is just closed.
    let refusals = Arc::new(Semaphore::new(config.max_calls));
    let shared = Arc::new(Shared { engine, config, settings, prompts_dir });
    let mut tasks = JoinSet::new();
    let mut seq: u64 = 0;
    tokio::pin!(shutdown);
    info!(max_calls = shared.config.max_calls, "ivr: serving FastAGI");
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = joined {
                    warn!(error = %e, "ivr: a call task failed");
                }
            }
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of descriptors and the like: back off a little rather than spin.
                        warn!(error = %e, "ivr: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                seq += 1;
                if let Ok(permit) = Arc::clone(&calls).try_acquire_owned() {
                    tasks.spawn(call(stream, Arc::clone(&shared), seq, false, permit));
                } else if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
                    tasks.spawn(call(stream, Arc::clone(&shared), seq, true, permit));
                } else {
                    info!(call = seq, outcome = "busy_closed", "ivr call refused");
                    drop(stream);
                }
            }
        }
    }
    drop(listener);
    info!(calls = tasks.len(), "ivr: stopped accepting; finishing the calls in progress");
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            warn!(error = %e, "ivr: a call task failed");
        }
    }
    Ok(())
}

struct Shared {
    engine: Engine,
    config: IvrConfig,
    settings: MenuSettings,
    prompts_dir: String,
}

/// Why a call stopped early.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    #[error("closed by the peer")]
    Eof,
    #[error("no line within line_timeout")]
    LineTimeout,
    #[error("the call lasted call_timeout")]
    CallTimeout,
    #[error("line longer than max_line_bytes")]
    TooLong,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

impl CallError {
    fn code(&self) -> &'static str {
        match self {
            Self::Io(_) => "io_error",
            Self::Eof => "peer_closed",
            Self::LineTimeout => "line_timeout",
            Self::CallTimeout => "call_timeout",
            Self::TooLong => "line_too_long",
            Self::Protocol(ProtocolError::Rejected(_)) => "agi_rejected",
            Self::Protocol(_) => "protocol_error",
        }
    }
    /// Whether the channel may still be up, so we should ask Asterisk to hang it up.
    fn hang_up(&self) -> bool {
        matches!(self, Self::LineTimeout | Self::CallTimeout | Self::TooLong | Self::Protocol(_))
    }
}

/// What the log says about a call: no number, no PIN.
struct CallLog {
    seq: u64,
    uniqueid: Option<String>,
    step: &'static str,
    outcome: &'static str,
    transferred: bool,
}

async fn call(stream: TcpStream, shared: Arc<Shared>, seq: u64, busy: bool, permit: OwnedSemaphorePermit) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn { io: BufReader::new(stream), max_line: shared.config.max_line_bytes };
    let deadline = Instant::now() + shared.config.call_timeout;
    let mut log = CallLog { seq, uniqueid: None, step: "start", outcome: "in_progress", transferred: false };
    let result = timeout_at(deadline, session(&mut conn, &shared, busy, deadline, &mut log)).await;
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(CallError::CallTimeout),
    };
    if error.as_ref().is_some_and(CallError::hang_up) {
        conn.send_hangup(shared.config.line_timeout).await;
    }
    // Free the slot before the socket closes: whoever sees the close can call again.
    drop(permit);
    conn.close(shared.config.line_timeout).await;
    info!(
        call = log.seq,
        uniqueid = log.uniqueid.as_deref().unwrap_or("-"),
        step = log.step,
        outcome = log.outcome,
        error = error.as_ref().map_or("-", CallError::code),
        transferred = log.transferred,
        "ivr call ended"
    );
}

async fn session(
    conn: &mut Conn,
    shared: &Shared,
    busy: bool,
    deadline: Instant,
    log: &mut CallLog,
) -> Result<(), CallError> {
    let line_timeout = shared.config.line_timeout;
    let env = read_env(conn, line_timeout).await?;
    log.uniqueid = env.uniqueid.clone();
    let mut menu = if busy {
        Menu::busy(shared.settings.clone())
    } else {
        if env.script.as_deref() != Some(SCRIPT) {
            // Not ours: send nothing, so the dialplan that sent the call keeps control.
            log.outcome = "unknown_script";
            return Ok(());
        }
        let caller = env.callerid.as_deref().and_then(|c| Msisdn::parse(c).ok());
        Menu::new(shared.settings.clone(), caller)
    };
    let mut action = menu.start();
    loop {
        log.step = menu.step();
        log.outcome = menu.outcome().as_str();
        log.transferred = menu.transferred();
        action = match action {
            Action::Close => return Ok(()),
            Action::Agi(command) => {
                debug!(call = log.seq, step = log.step, "ivr: command");
                conn.send(&agi::render(&command, &shared.prompts_dir), line_timeout).await?;
                // A transfer lasts as long as the agent's call: only the call's own limit applies.
                let wait = match command {
                    Command::Dial(_) => deadline,
                    _ => Instant::now() + line_timeout,
                };
                let event = conn.reply(&command, wait).await?;
                menu.on(event)
            }
            Action::Engine(request) => {
                let reply = perform(&shared.engine, request, log).await;
                menu.on(Event::Engine(reply))
            }
        };
    }
}

async fn read_env(conn: &mut Conn, line_timeout: Duration) -> Result<Env, CallError> {
    let mut env = Env::default();
    for _ in 0..=MAX_VARIABLES {
        let line = conn.read_line(Instant::now() + line_timeout).await?.ok_or(CallError::Eof)?;
        if line.is_empty() {
            return Ok(env);
        }
        env.take(&line)?;
    }
    Err(ProtocolError::TooManyVariables.into())
}

/// The engine side of the menu's requests. Errors are logged by stable code only.
async fn perform(engine: &Engine, request: Request, log: &CallLog) -> Reply {
    match request {
        Request::FindLine(number) => match engine.find_line(number).await {
            Ok(line) => Reply::Line(line.map(|l| (l.id, l.msisdn))),
            Err(e) => failed(log, "find_line", &e),
        },
        Request::CheckPin { line, pin } => match engine.check_pin(line, pin.0).await {
            Ok(check) => Reply::Pin(check),
            Err(e) => failed(log, "check_pin", &e),
        },
        Request::OpenVerified { line } => {
            // The menu asks for this only after `check_pin` answered Correct on this call.
            let proof = Proof::Pin { outcome: PinOutcome::Correct };
            let opened = engine.open_verified_case(open_request(line, false), proof, Actor::Customer);
            opened_reply(opened.await, log)
        }
        Request::OpenCallback { line } => {
            opened_reply(engine.open_case(open_request(line, true), Actor::Customer).await, log)
        }
        Request::CaseOf { line } => match engine.open_case_of_line(line).await {
            Ok(case) => Reply::Case(case.map(|c| (c.id, c.status))),
            Err(e) => failed(log, "case_of_line", &e),
        },
        Request::Withdraw { case } => withdraw(engine, case, log).await,
    }
}

fn open_request(line: LineId, callback: bool) -> OpenRequest {
    OpenRequest {
        kind: CaseKind::Cancellation,
        line: LineRef::Id(line),
        channel: Channel::Ivr,
        timing: Timing::Immediate,
        note: None,
        callback,
    }
}

fn opened_reply(result: Result<case::Case, AppError>, log: &CallLog) -> Reply {
    match result {
        Ok(case) => {
            info!(call = log.seq, case = case.id.as_str(), callback = case.callback_pending, "ivr: case opened");
            Reply::Opened(Ok(case.id))
        }
        Err(AppError::CaseAlreadyOpen(_)) => Reply::Opened(Err(OpenRefusal::AlreadyOpen)),
        Err(AppError::Case(case::Error::AccountLocked)) => Reply::Opened(Err(OpenRefusal::CancellationLocked)),
        Err(AppError::Case(case::Error::LineNotEligible(_))) => Reply::Opened(Err(OpenRefusal::NotEligible)),
        Err(e) => failed(log, "open_case", &e),
    }
}

async fn withdraw(engine: &Engine, case: CaseId, log: &CallLog) -> Reply {
    match engine.command(case.clone(), case::Command::Withdraw, Actor::Customer).await {
        Ok(_) => {
            info!(call = log.seq, case = case.as_str(), "ivr: case withdrawn");
            Reply::Withdrawn(Ok(()))
        }
        Err(AppError::Case(case::Error::TooLateToWithdraw)) => Reply::Withdrawn(Err(WithdrawRefusal::TooLate)),
        Err(e) => failed(log, "withdraw", &e),
    }
}

fn failed(log: &CallLog, request: &'static str, error: &AppError) -> Reply {
    warn!(call = log.seq, request, code = error.code(), "ivr: engine request failed");
    Reply::Failed
}

/// One FastAGI connection: capped line reads, bounded writes.
struct Conn {
    io: BufReader<TcpStream>,
    max_line: usize,
}

impl Conn {
    /// The next line without its `\n` (and `\r`), or `None` at a clean end of stream.
    async fn read_line(&mut self, deadline: Instant) -> Result<Option<String>, CallError> {
        timeout_at(deadline, self.read_line_now()).await.unwrap_or(Err(CallError::LineTimeout))
    }

    async fn read_line_now(&mut self) -> Result<Option<String>, CallError> {
        let mut line = Vec::new();
        loop {
            let buf = self.io.fill_buf().await?;
            if buf.is_empty() {
                return if line.is_empty() { Ok(None) } else { Err(CallError::Eof) };
            }
            let (take, found) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if line.len() + take > self.max_line {
                return Err(CallError::TooLong);
            }
            line.extend_from_slice(&buf[..take]);
            self.io.consume(take + usize::from(found));
            if found {
                break;
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).map(Some).map_err(|_| CallError::Protocol(ProtocolError::BadReply))
    }

    async fn send(&mut self, line: &str, limit: Duration) -> Result<(), CallError> {
        let write = async {
            let stream = self.io.get_mut();
            stream.write_all(line.as_bytes()).await?;
            stream.flush().await
        };
        match tokio::time::timeout(limit, write).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CallError::LineTimeout),
        }
    }

    /// Reads the reply to `command` as the menu's event.
    async fn reply(&mut self, command: &Command, deadline: Instant) -> Result<Event, CallError> {
        let Some(line) = self.read_line(deadline).await? else { return Ok(Event::Hangup) };
        match agi::parse_reply(&line)? {
            ReplyLine::Hangup => Ok(Event::Hangup),
            ReplyLine::Result { value, rest } => Ok(agi::event_for(command, &value, &rest)?),
            ReplyLine::Rejected(code) => Err(ProtocolError::Rejected(code).into()),
            ReplyLine::UsageFollows => {
                for _ in 0..MAX_USAGE_LINES {
                    match self.read_line(deadline).await? {
                        None => return Ok(Event::Hangup),
                        Some(l) if agi::ends_usage(&l) => return Err(ProtocolError::Rejected(520).into()),
                        Some(_) => {}
                    }
                }
                Err(ProtocolError::BadReply.into())
            }
        }
    }

    /// Asks Asterisk to hang the channel up, without waiting for the answer.
    async fn send_hangup(&mut self, limit: Duration) {
        let _ = self.send(&agi::render(&Command::Hangup, ""), limit).await;
    }

    /// Closes our side, then reads what Asterisk still sends (its `HANGUP` notice) until
    /// it closes too, so the connection ends cleanly rather than with a reset. Bounded
    /// in bytes and time: Asterisk leaves the AGI as soon as it sees our end.
    async fn close(mut self, limit: Duration) {
        let limit = limit.min(Duration::from_secs(5));
        let drain = async {
            self.io.get_mut().shutdown().await?;
            let mut scratch = [0u8; 1024];
            let mut left: usize = 64 * 1024;
            while left > 0 {
                let n = self.io.read(&mut scratch).await?;
                if n == 0 {
                    break;
                }
                left = left.saturating_sub(n);
            }
            Ok::<(), io::Error>(())
        };
        let _ = tokio::time::timeout(limit, drain).await;
    }
}
