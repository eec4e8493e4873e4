//! The application's metrics, recorded through the `metrics` facade: command latency
//! and outcomes, group-commit batch sizes and dead-lettered effects. Whoever installs
//! a recorder (the web layer's Prometheus exporter) decides where they go; with none
//! installed each call is a cheap no-op.
//!
//! Labels carry only bounded values (command names, error codes, effect kinds), never
//! ids or personal data.

use crate::error::Error;
use std::time::Instant;

/// Histogram of command latency in seconds, queueing and commit included; label `command`.
pub const COMMAND_DURATION: &str = "lineout_command_duration_seconds";
/// Counter of commands by `command` and `outcome` (`ok` or the error code).
pub const COMMANDS: &str = "lineout_commands_total";
/// Histogram of jobs per group commit.
pub const COMMIT_BATCH_SIZE: &str = "lineout_commit_batch_size";
/// Counter of group commits.
pub const COMMITS: &str = "lineout_commits_total";
/// Counter of outbox rows given up on, by `effect` kind.
pub const DEAD_LETTERS: &str = "lineout_dead_letters_total";

/// The command name under which opening a case is recorded.
pub const OPEN: &str = "open";

/// Records one command's latency since `started` and its outcome.
pub(crate) fn command<T>(command: &'static str, started: Instant, result: &Result<T, Error>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    metrics::histogram!(COMMAND_DURATION, "command" => command).record(started.elapsed().as_secs_f64());
    metrics::counter!(COMMANDS, "command" => command, "outcome" => outcome).increment(1);
}

/// Records one group commit of `jobs` jobs.
pub(crate) fn commit(jobs: usize) {
    metrics::histogram!(COMMIT_BATCH_SIZE).record(jobs as f64);
    metrics::counter!(COMMITS).increment(1);
}

/// Records an outbox row of kind `effect` dead-lettered.
pub(crate) fn dead_letter(effect: &str) {
    metrics::counter!(DEAD_LETTERS, "effect" => effect.to_owned()).increment(1);
}

/// Gauge of privacy requests past a deadline (acknowledgement or completion), set by the
/// privacy timer step.
pub const PRIVACY_OVERDUE: &str = "lineout_privacy_requests_overdue";

/// Sets the overdue privacy request gauge.
pub(crate) fn privacy_overdue(n: u64) {
    metrics::gauge!(PRIVACY_OVERDUE).set(n as f64);
}
