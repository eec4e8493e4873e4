//! The CLI's error type and its exit codes: 2 for a bad configuration or bad usage,
//! 1 for everything that went wrong while running.

use crate::config::Problem;
use lineout_app::ports::StoreError;
use std::path::PathBuf;

/// Exit code for a command that ran but failed (rejected rows, a broken audit chain, a refused command).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a bad configuration or bad arguments.
pub const EXIT_USAGE: u8 = 2;

/// Errors from the CLI's commands.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; every problem names its key.
    #[error("invalid configuration:{}", list(.0))]
    Config(Vec<Problem>),
    /// The arguments make no sense together.
    #[error("{0}")]
    Usage(String),
    /// The engine refused or failed.
    #[error("{}", describe_app(.0))]
    App(#[from] lineout_app::Error),
    /// The database could not be opened or migrated.
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Anything else, already phrased for the operator.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) | Self::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("\n  {p}")).collect()
}

/// The CLI is an operator's tool: unlike HTTP clients, it may see storage details.
fn describe_app(e: &lineout_app::Error) -> String {
    match e {
        lineout_app::Error::Storage(detail) => format!("storage failure: {detail}"),
        lineout_app::Error::Internal(detail) => format!("internal error: {detail}"),
        other => format!("{other} [{}]", other.code()),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
