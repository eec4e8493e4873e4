//! lineout's hotline: an IVR voice menu that Asterisk runs over FastAGI.
//!
//! Asterisk's dialplan hands a call to the menu with
//! `AGI(agi://<lineout-host>:4573/hotline)`; [`serve`] accepts those connections and
//! runs one [`menu::Menu`] per call. The menu is a pure state machine (events in,
//! AGI commands and engine requests out); `server` does the I/O: it reads the `agi_*`
//! variables and the replies under [`IvrConfig`]'s limits and calls the
//! [`Engine`](lineout_app::Engine).
//!
//! The menu only names sound files, `<prompts_dir>/<lang>/<name>`; [`prompts::PROMPTS`]
//! lists every one with its English and Chinese words (also in `docs/ivr-prompts.md`).
//! Logs carry the call's sequence number and Asterisk unique id, the step and the
//! outcome: never a number or a PIN.

pub mod agi;
pub mod menu;
pub mod prompts;
mod server;

pub use server::serve;

use std::time::Duration;

/// The FastAGI script (`agi_network_script`) this server answers; others are refused.
pub const SCRIPT: &str = "hotline";

/// Limits and settings of the FastAGI server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvrConfig {
    /// Calls served at once; a call beyond it hears the `busy` prompt and is hung up
    /// (and when as many are already being refused, its connection is just closed).
    pub max_calls: usize,
    /// How long one line from Asterisk may take: a variable line, or a command's reply
    /// (which includes the prompt's playback and `GET DATA`'s input time). A call whose
    /// peer stays silent this long is hung up. `EXEC Dial` waits up to `call_timeout`.
    pub line_timeout: Duration,
    /// How long a whole call may last, agent transfer included.
    pub call_timeout: Duration,
    /// The longest line accepted from Asterisk; a longer one hangs the call up.
    pub max_line_bytes: usize,
    /// Re-prompts after missing or invalid input, per question, before the call is
    /// transferred to `agent_dial` or ended.
    pub max_retries: u32,
    /// `GET DATA`'s timeout: how long the caller has to key an entry after the prompt.
    pub input_timeout: Duration,
    /// The agent queue as a `Dial` target (e.g. `PJSIP/agents`); `None`: no transfer.
    pub agent_dial: Option<String>,
    /// Prefix of the sound files, relative to Asterisk's sounds directory or absolute
    /// (e.g. `lineout` → `lineout/en/welcome`).
    pub prompts_dir: String,
}

impl Default for IvrConfig {
    fn default() -> Self {
        Self {
            max_calls: 64,
            line_timeout: Duration::from_secs(60),
            call_timeout: Duration::from_secs(20 * 60),
            max_line_bytes: 4096,
            max_retries: 3,
            input_timeout: Duration::from_secs(6),
            agent_dial: None,
            prompts_dir: "lineout".into(),
        }
    }
}

/// A setting [`serve`] refuses, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ivr.{key}: {problem}")]
pub struct ConfigError {
    pub key: &'static str,
    pub problem: &'static str,
}

impl IvrConfig {
    /// Checks every setting; the first problem found names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, problem| Err(ConfigError { key, problem });
        if !(1..=10_000).contains(&self.max_calls) {
            return bad("max_calls", "must be between 1 and 10000");
        }
        if self.line_timeout.is_zero() || self.call_timeout < self.line_timeout {
            return bad("line_timeout", "must be positive and at most call_timeout");
        }
        if self.input_timeout.is_zero() || self.input_timeout >= self.line_timeout {
            return bad("input_timeout", "must be positive and shorter than line_timeout");
        }
        if u32::try_from(self.input_timeout.as_millis()).is_err() {
            return bad("input_timeout", "is too long");
        }
        if !(256..=1 << 20).contains(&self.max_line_bytes) {
            return bad("max_line_bytes", "must be between 256 and 1048576");
        }
        if self.max_retries > 10 {
            return bad("max_retries", "must be at most 10");
        }
        if !plain_argument(self.prompts_dir.trim_end_matches('/')) {
            return bad("prompts_dir", "must be a non-empty path without blanks, quotes or backslashes");
        }
        if self.agent_dial.as_deref().is_some_and(|d| !plain_argument(d)) {
            return bad("agent_dial", "must be a non-empty Dial target without blanks, quotes or backslashes");
        }
        Ok(())
    }
}

/// Whether text can be sent as one AGI argument as it is.
fn plain_argument(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        assert_eq!(IvrConfig::default().validate(), Ok(()));
        let key = |c: IvrConfig| c.validate().err().map(|e| e.key);
        assert_eq!(key(IvrConfig { max_calls: 0, ..IvrConfig::default() }), Some("max_calls"));
        assert_eq!(key(IvrConfig { max_line_bytes: 10, ..IvrConfig::default() }), Some("max_line_bytes"));
        assert_eq!(key(IvrConfig { prompts_dir: "a b".into(), ..IvrConfig::default() }), Some("prompts_dir"));
        assert_eq!(key(IvrConfig { prompts_dir: String::new(), ..IvrConfig::default() }), Some("prompts_dir"));
        assert_eq!(key(IvrConfig { agent_dial: Some("PJSIP/a\"".into()), ..IvrConfig::default() }), Some("agent_dial"));
        assert_eq!(
            key(IvrConfig { input_timeout: Duration::from_secs(60), ..IvrConfig::default() }),
            Some("input_timeout")
        );
        assert_eq!(
            key(IvrConfig { call_timeout: Duration::from_secs(1), ..IvrConfig::default() }),
            Some("line_timeout")
        );
        let ok = IvrConfig { agent_dial: Some("PJSIP/agents,30".into()), ..IvrConfig::default() };
        assert_eq!(ok.validate(), Ok(()));
    }
}

#[cfg(test)]
mod calls_tests;
