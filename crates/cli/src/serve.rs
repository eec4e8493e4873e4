//! `lineout serve`: the HTTP API and the timer/outbox worker in one process, until
//! Ctrl-C or SIGTERM. On shutdown the server stops accepting, finishes the requests in
//! flight, and the worker finishes its current step.

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use lineout_app::Engine;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Longest pause after repeated worker failures (the database may be down).
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(30);

/// Binds the listen address, with a clear message when it cannot.
pub async fn bind(listen: &str) -> Result<TcpListener> {
    TcpListener::bind(listen).await.map_err(|e| Error::Failed(format!("cannot listen on {listen}: {e}")))
}

/// Serves HTTP on `listener` and runs the worker until `shutdown` completes.
pub async fn serve(
    engine: Engine,
    server: &ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    hotline: Option<(TcpListener, lineout_ivr::IvrConfig)>,
) -> Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let trigger = {
        let stop_tx = Arc::clone(&stop_tx);
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested; finishing requests in flight");
            let _ = stop_tx.send(true);
        })
    };
    let workers: Vec<_> = (0..server.workers.max(1))
        .map(|_| {
            tokio::spawn(worker_loop(engine.clone(), Duration::from_millis(server.worker_interval_ms), stop_rx.clone()))
        })
        .collect();
    let receipts = tokio::spawn(receipt_loop(engine.clone()));
    let hotline = match hotline {
        Some((listener, config)) => {
            let mut ivr_stop = stop_rx.clone();
            let engine = engine.clone();
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = ivr_stop.wait_for(|stop| *stop).await;
                };
                if let Err(e) = lineout_ivr::serve(listener, engine, config, stopped).await {
                    tracing::error!(error = %e, "the hotline (FastAGI) server failed");
                }
            }))
        }
        None => None,
    };
    let font = match std::fs::read(&server.cjk_font_path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(path = %server.cjk_font_path, error = %e, "no CJK font: Chinese PDF statements are unavailable");
            None
        }
    };
    let state = lineout_web::AppState::new(engine)
        .with_body_limit(server.body_limit_bytes)
        .with_cjk_font(font)
        .with_console(server.console.to_web());
    let mut web_stop = stop_rx;
    let served = lineout_web::serve(listener, state, async move {
        let _ = web_stop.wait_for(|stop| *stop).await;
    })
    .await;
    // Whatever ended the server also ends the worker.
    let _ = stop_tx.send(true);
    trigger.abort();
    receipts.abort();
    if let Some(h) = hotline {
        let _ = h.await;
    }
    for worker in workers {
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "a worker task failed");
        }
    }
    tracing::info!("stopped");
    served.map_err(|e| Error::Failed(format!("HTTP server: {e}")))
}

/// Fires due timers and delivers outbox rows; sleeps `idle` only when both found
/// nothing to do, and backs off exponentially while steps fail.
pub async fn worker_loop(engine: Engine, idle: Duration, mut stop: watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    while !*stop.borrow() {
        let mut busy = false;
        let mut failed = false;
        match engine.run_due_timers().await {
            Ok(fired) => busy |= fired > 0,
            Err(e) => {
                failed = true;
                tracing::error!(code = e.code(), error = ?e, "timer step failed");
            }
        }
        match engine.run_outbox().await {
            Ok(step) => busy |= step.delivered + step.retried + step.dead > 0,
            Err(e) => {
                failed = true;
                tracing::error!(code = e.code(), error = ?e, "outbox step failed");
            }
        }
        // Records: exports, privacy timers, the daily retention run.
        let (records_busy, records_failed) = crate::records::worker_step(&engine).await;
        busy |= records_busy;
        failed |= records_failed;
        let pause = if failed {
            failures = failures.saturating_add(1);
            idle.saturating_mul(1u32 << failures.min(16)).min(MAX_FAILURE_BACKOFF).max(idle)
        } else {
            failures = 0;
            if busy { Duration::ZERO } else { idle }
        };
        if pause.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// `lineout serve`: migrates, starts the engine, and serves until a signal.
pub fn command(config: &crate::config::Config) -> Result<()> {
    let engine = crate::db::start_engine(config)?;
    crate::block_on_engine(engine, async |engine| {
        let listener = bind(&config.server.listen).await?;
        let addr = listener.local_addr().map_err(|e| Error::Failed(format!("listener: {e}")))?;
        tracing::info!(%addr, backend = engine.backend(), "serving lineout");
        eprintln!("lineout is serving on http://{addr} (Ctrl-C to stop)");
        let hotline = bind_hotline(&config.ivr).await?;
        serve(engine.clone(), &config.server, listener, shutdown_signal(), hotline).await
    })
}

/// The SMPP session, started on first use inside the runtime (adapters are built before
/// the runtime exists). `serve` takes its delivery receipts from here.
pub struct LazySmpp {
    config: lineout_adapters::smpp::SmppConfig,
    started: std::sync::OnceLock<lineout_adapters::smpp::SmppSms>,
}

impl LazySmpp {
    fn get(&self) -> &lineout_adapters::smpp::SmppSms {
        self.started.get_or_init(|| lineout_adapters::smpp::SmppSms::start(self.config.clone()))
    }
}

#[async_trait::async_trait]
impl lineout_app::ports::SmsTransport for LazySmpp {
    async fn send_sms(
        &self,
        key: &str,
        sms: &lineout_app::ports::OutgoingSms,
    ) -> std::result::Result<lineout_app::ports::SmsSubmitted, lineout_app::ports::AdapterError> {
        self.get().send_sms(key, sms).await
    }
}

/// The configured SMPP transport of this process, for the receipt consumer in `serve`.
static SMPP: std::sync::OnceLock<Arc<LazySmpp>> = std::sync::OnceLock::new();

/// The SMS transport the configuration names (SMPP), if any.
pub fn sms_transport(
    config: &crate::config::AdaptersConfig,
) -> Result<Option<Arc<dyn lineout_app::ports::SmsTransport>>> {
    use lineout_adapters::smpp::{BindMode, SmppConfig};
    let Some(s) = &config.smpp else { return Ok(None) };
    let mut c = SmppConfig::new(s.address.clone(), s.system_id.clone(), s.password.clone());
    c.system_type.clone_from(&s.system_type);
    c.source_addr.clone_from(&s.source_addr);
    c.bind = match s.bind.as_str() {
        "transceiver" => BindMode::Transceiver,
        "transmitter" => BindMode::Transmitter,
        other => return Err(Error::Usage(format!("adapters.smpp.bind: unknown '{other}'"))),
    };
    c.enquire_link_interval = Duration::from_millis(s.enquire_link_interval_ms);
    c.response_timeout = Duration::from_millis(s.response_timeout_ms);
    c.validate().map_err(|e| Error::Usage(format!("adapters.{e}")))?;
    let lazy = SMPP.get_or_init(|| Arc::new(LazySmpp { config: c, started: std::sync::OnceLock::new() })).clone();
    Ok(Some(lazy))
}

/// Feeds the SMSC's delivery receipts to the engine until the channel closes.
async fn receipt_loop(engine: Engine) {
    let Some(smpp) = SMPP.get() else { return };
    let Some(mut receipts) = smpp.get().receipts() else { return };
    while let Some(receipt) = receipts.recv().await {
        if let Err(e) = engine.record_delivery_receipt(receipt).await {
            tracing::error!(code = e.code(), "recording a delivery receipt failed");
        }
    }
}

/// Binds the hotline's FastAGI port when `[ivr] enabled = true`.
pub async fn bind_hotline(ivr: &crate::config::IvrSection) -> Result<Option<(TcpListener, lineout_ivr::IvrConfig)>> {
    if !ivr.enabled {
        return Ok(None);
    }
    let listener = TcpListener::bind(&ivr.listen)
        .await
        .map_err(|e| Error::Failed(format!("cannot listen on {} for the hotline: {e}", ivr.listen)))?;
    if let Ok(addr) = listener.local_addr() {
        eprintln!("hotline (FastAGI) on agi://{addr}/{}", lineout_ivr::SCRIPT);
    }
    Ok(Some((listener, ivr.server_config())))
}
