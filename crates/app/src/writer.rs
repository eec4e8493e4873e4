//! The group-commit writer: one thread owns the write connection, gathers the jobs
//! that arrive while the previous commit is flushing, runs each inside its own
//! savepoint, commits them together, and only then answers each caller.
//!
//! A job that fails is rolled back to its savepoint and answered with its error;
//! the others in the batch still commit. If the commit itself fails, every job in
//! the batch gets the error: nothing is acknowledged that is not on disk.

use crate::error::Error;
use crate::ports::{Conn, Role, Store};
use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

type Output = Box<dyn Any + Send>;
type JobFn = Box<dyn FnOnce(&mut dyn Conn) -> Result<Output, Error> + Send>;

struct Job {
    work: JobFn,
    reply: oneshot::Sender<Result<Output, Error>>,
}

/// Limits of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Jobs waiting for the writer; senders wait when it is full (backpressure).
    pub queue_capacity: usize,
    /// Most jobs committed in one transaction.
    pub max_batch: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self { queue_capacity: 16_384, max_batch: 1_024 }
    }
}

/// Figures about commits, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub max_batch_seen: AtomicU64,
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer thread with its own connection.
    pub fn start(store: &Arc<dyn Store>, config: WriterConfig) -> Result<Writer, Error> {
        let (tx, rx) = mpsc::channel::<Job>(config.queue_capacity.max(1));
        let stats = Arc::new(WriterStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread_store = Arc::clone(store);
        // The connection is opened on the writer thread itself: some drivers (the sync
        // PostgreSQL client) must not be used from inside the async runtime.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), Error>>(1);
        std::thread::Builder::new()
            .name("lineout-writer".into())
            .spawn(move || match thread_store.connect(Role::Writer) {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    run(conn, rx, config.max_batch.max(1), &thread_stats);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(Error::from(e)));
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start writer thread: {e}")))?;
        ready_rx.recv().map_err(|_| Error::Internal("writer thread ended during start".into()))??;
        Ok(Writer { tx, stats })
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Runs `work` in the next group commit and returns its result once committed.
    pub async fn run<R, F>(&self, work: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<R, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job { work: Box::new(move |c| work(c).map(|r| Box::new(r) as Output)), reply };
        self.tx.send(job).await.map_err(|_| Error::Internal("writer stopped".into()))?;
        let out = answer.await.map_err(|_| Error::Internal("writer dropped a job".into()))??;
        out.downcast::<R>().map(|b| *b).map_err(|_| Error::Internal("writer returned the wrong type".into()))
    }

    /// The blocking form of [`Writer::run`], for threads outside the async runtime.
    pub fn run_blocking<R, F>(&self, work: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<R, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job { work: Box::new(move |c| work(c).map(|r| Box::new(r) as Output)), reply };
        self.tx.blocking_send(job).map_err(|_| Error::Internal("writer stopped".into()))?;
        let out = answer.blocking_recv().map_err(|_| Error::Internal("writer dropped a job".into()))??;
        out.downcast::<R>().map(|b| *b).map_err(|_| Error::Internal("writer returned the wrong type".into()))
    }
}

fn run(mut conn: Box<dyn Conn>, mut rx: mpsc::Receiver<Job>, max_batch: usize, stats: &WriterStats) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = commit_batch(conn.as_mut(), &mut batch);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(results.len() as u64, Ordering::Relaxed);
        stats.max_batch_seen.fetch_max(results.len() as u64, Ordering::Relaxed);
        crate::metrics::commit(results.len());
        for (reply, result) in results {
            // A caller that gave up (e.g. a closed HTTP connection) no longer listens; its write stands.
            let _ = reply.send(result);
        }
    }
}

type Replies = Vec<(oneshot::Sender<Result<Output, Error>>, Result<Output, Error>)>;

fn commit_batch(conn: &mut dyn Conn, batch: &mut Vec<Job>) -> Replies {
    let mut replies: Replies = Vec::with_capacity(batch.len());
    if let Err(e) = conn.begin() {
        let err = Error::from(e);
        return batch.drain(..).map(|j| (j.reply, Err(err.clone()))).collect();
    }
    for job in batch.drain(..) {
        let result = run_in_savepoint(conn, job.work);
        replies.push((job.reply, result));
    }
    match conn.commit() {
        Ok(()) => replies,
        Err(e) => {
            let _ = conn.rollback();
            tracing::error!(error = %e, "group commit failed; every job in the batch is refused");
            let err = Error::from(e);
            replies.into_iter().map(|(r, _)| (r, Err(err.clone()))).collect()
        }
    }
}

fn run_in_savepoint(conn: &mut dyn Conn, work: JobFn) -> Result<Output, Error> {
    conn.savepoint()?;
    // A panic in one job is a bug; it must not take the writer (and every later request) down.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut *conn)))
        .unwrap_or_else(|_| Err(Error::Internal("a write job panicked".into())));
    match outcome {
        Ok(out) => {
            conn.release_savepoint()?;
            Ok(out)
        }
        Err(e) => {
            conn.rollback_to_savepoint()?;
            conn.release_savepoint()?;
            Err(e)
        }
    }
}
