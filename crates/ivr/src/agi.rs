//! The AGI wire protocol as pure functions: the `agi_*` variables Asterisk sends first,
//! rendering the menu's commands, and reading Asterisk's replies into menu events.
//!
//! What this relies on, from Asterisk's `res/res_agi.c` (`launch_netscript`, `setup_env`,
//! `handle_streamfile`, `handle_getdata`, `handle_exec`, `handle_hangup`,
//! `agi_handle_command`, `run_agi`) and its documentation (AGI commands `GET DATA`,
//! `STREAM FILE`, `SAY ALPHA`, `SAY DIGITS`, `EXEC`, `HANGUP`; the `AGI()` application's
//! note that a FastAGI server receives `HANGUP` inline):
//!
//! - A FastAGI session opens with `agi_network: yes`, `agi_network_script: <path>` (only
//!   when the URL has a path: `agi://host:4573/hotline`), then the channel's variables
//!   (`agi_request`, `agi_channel`, `agi_language`, `agi_type`, `agi_uniqueid`,
//!   `agi_version`, `agi_callerid` — `unknown` when the caller ID is not valid —,
//!   `agi_calleridname`, …, `agi_arg_<n>`), each `name: value\n`, and a blank line.
//! - Each command is one line ending in `\n`; arguments are split on blanks, and `""` is
//!   an empty argument (so `STREAM FILE x ""` permits no escape digits).
//! - Replies: `200 result=<n>[ (<extra>)][ endpos=<n>]`; `510 Invalid or unknown command`;
//!   `511 Command Not Permitted on a dead channel…`; `520 Invalid command syntax…`, or
//!   `520-…` continued on further lines up to `520 End of proper usage.`.
//! - `STREAM FILE`, `SAY DIGITS`, `SAY ALPHA`: `result=0` when played to the end, the
//!   ASCII code of the key that interrupted it, or `-1` on error or hang-up (a prompt
//!   file that cannot be opened is also `-1`).
//! - `GET DATA`: `result=<digits>` (the terminating `#` not included), with ` (timeout)`
//!   when the input timed out (`result= (timeout)` when nothing was keyed), or `-1` on
//!   hang-up. `SAY DIGITS` needs a number as its argument.
//! - `EXEC <app> <options>` returns the application's result (`-2` when it is missing);
//!   `Dial` returns when the bridged call ends. `HANGUP` answers `result=1`.
//! - When the caller hangs up, Asterisk writes `HANGUP` on a line of its own into the
//!   dialogue (unless `AGISIGHUP=no`), and later commands fail (`-1` or `511`).

use crate::menu::{Command, Event};
use std::fmt::Write as _;

/// A protocol violation by the peer: the call is hung up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("malformed agi variable line")]
    BadVariable,
    #[error("too many agi variables")]
    TooManyVariables,
    #[error("unexpected reply line")]
    BadReply,
    #[error("reply does not fit the command")]
    BadResult,
    #[error("asterisk rejected a command (code {0})")]
    Rejected(u16),
}

/// Variables at most before the blank line (Asterisk sends about 25 plus the arguments).
pub const MAX_VARIABLES: usize = 128;
/// Continuation lines of a `520-` usage reply at most.
pub const MAX_USAGE_LINES: usize = 64;

/// What the menu needs from the `agi_*` variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `agi_network_script`, without any `?query`.
    pub script: Option<String>,
    /// `agi_callerid` (may be `unknown`, `anonymous`, empty…).
    pub callerid: Option<String>,
    /// `agi_uniqueid`, if it looks like one (digits and dots): safe to log.
    pub uniqueid: Option<String>,
}

impl Env {
    /// Takes one variable line (not the blank line that ends them).
    pub fn take(&mut self, line: &str) -> Result<(), ProtocolError> {
        let (name, value) = line.split_once(':').ok_or(ProtocolError::BadVariable)?;
        let plain = name.strip_prefix("agi_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if !plain {
            return Err(ProtocolError::BadVariable);
        }
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "agi_network_script" => {
                let path = value.split('?').next().unwrap_or_default();
                self.script = Some(path.trim_matches('/').to_owned());
            }
            "agi_callerid" => self.callerid = Some(value.to_owned()),
            "agi_uniqueid" => {
                let ok =
                    !value.is_empty() && value.len() <= 40 && value.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                self.uniqueid = ok.then(|| value.to_owned());
            }
            _ => {}
        }
        Ok(())
    }
}

/// A command as sent on the wire, `\n` included.
pub fn render(command: &Command, prompts_dir: &str) -> String {
    let mut line = String::new();
    // Writing to a String cannot fail.
    let _ = match command {
        Command::Answer => write!(line, "ANSWER"),
        Command::Play { prompt, lang, escape } => {
            write!(line, "STREAM FILE {prompts_dir}/{}/{} \"{escape}\"", lang.dir(), prompt.name())
        }
        Command::Ask { prompt, lang, timeout_ms, max_digits } => {
            write!(line, "GET DATA {prompts_dir}/{}/{} {timeout_ms} {max_digits}", lang.dir(), prompt.name())
        }
        Command::SayDigits(digits) => write!(line, "SAY DIGITS {digits} \"\""),
        Command::SayAlpha(text) => write!(line, "SAY ALPHA {text} \"\""),
        Command::Dial(target) => write!(line, "EXEC Dial {target}"),
        Command::Hangup => write!(line, "HANGUP"),
    };
    line.push('\n');
    line
}

/// The first line of a reply, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyLine {
    /// `200 result=<value> <rest>`.
    Result { value: String, rest: String },
    /// Asterisk's hang-up notice, or `511` (the channel is dead).
    Hangup,
    /// `510`, or a one-line `520`.
    Rejected(u16),
    /// `520-…`: usage lines follow up to `520 End of proper usage.`.
    UsageFollows,
}

/// Reads the first line of a reply.
pub fn parse_reply(line: &str) -> Result<ReplyLine, ProtocolError> {
    if line == "HANGUP" {
        return Ok(ReplyLine::Hangup);
    }
    if let Some(rest) = line.strip_prefix("200 result=") {
        let (value, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        return Ok(ReplyLine::Result { value: value.to_owned(), rest: rest.to_owned() });
    }
    if line.starts_with("520-") {
        return Ok(ReplyLine::UsageFollows);
    }
    let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
    let separated = line.len() == 3 || line.as_bytes().get(3) == Some(&b' ');
    match code {
        Some(511) if separated => Ok(ReplyLine::Hangup),
        Some(c @ (510 | 520)) if separated => Ok(ReplyLine::Rejected(c)),
        _ => Err(ProtocolError::BadReply),
    }
}

/// Whether a line ends a `520-` usage reply.
pub fn ends_usage(line: &str) -> bool {
    line.starts_with("520 ")
}

/// Turns a `200 result=…` reply into the menu's event, for the command it answers.
pub fn event_for(command: &Command, value: &str, rest: &str) -> Result<Event, ProtocolError> {
    match command {
        Command::Ask { .. } => {
            if value == "-1" {
                return Ok(Event::Hangup);
            }
            let keys = value.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'A'..=b'D'));
            if !keys {
                return Err(ProtocolError::BadResult);
            }
            Ok(if rest.contains("(timeout)") {
                Event::Timeout(value.to_owned())
            } else {
                Event::Digits(value.to_owned())
            })
        }
        Command::Play { .. } | Command::SayDigits(_) | Command::SayAlpha(_) => {
            match value.parse::<i32>().map_err(|_| ProtocolError::BadResult)? {
                0 => Ok(Event::Done),
                n if n < 0 => Ok(Event::Hangup),
                n => match u8::try_from(n).ok().map(char::from) {
                    Some(key) if key.is_ascii_digit() || key == '*' || key == '#' => Ok(Event::Digits(key.to_string())),
                    _ => Err(ProtocolError::BadResult),
                },
            }
        }
        Command::Answer | Command::Dial(_) => match value.parse::<i32>().map_err(|_| ProtocolError::BadResult)? {
            -1 => Ok(Event::Hangup),
            _ => Ok(Event::Done),
        },
        Command::Hangup => Ok(Event::Hangup),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::{Lang, Prompt};

    #[test]
    fn commands_render_as_asterisk_reads_them() {
        let cases = [
            (Command::Answer, "ANSWER\n"),
            (
                Command::Play { prompt: Prompt::Language, lang: Lang::En, escape: "12" },
                "STREAM FILE lineout/en/language \"12\"\n",
            ),
            (
                Command::Play { prompt: Prompt::Goodbye, lang: Lang::Zh, escape: "" },
                "STREAM FILE lineout/zh/goodbye \"\"\n",
            ),
            (
                Command::Ask { prompt: Prompt::EnterPin, lang: Lang::Zh, timeout_ms: 6000, max_digits: 16 },
                "GET DATA lineout/zh/enter-pin 6000 16\n",
            ),
            (Command::SayDigits("4152000101".into()), "SAY DIGITS 4152000101 \"\"\n"),
            (Command::SayAlpha("C000001".into()), "SAY ALPHA C000001 \"\"\n"),
            (Command::Dial("PJSIP/agents".into()), "EXEC Dial PJSIP/agents\n"),
            (Command::Hangup, "HANGUP\n"),
        ];
        for (command, wire) in cases {
            assert_eq!(render(&command, "lineout"), wire);
        }
    }

    #[test]
    fn variables_are_read_and_garbage_is_refused() {
        let mut env = Env::default();
        for line in [
            "agi_network: yes",
            "agi_network_script: hotline?lang=en",
            "agi_request: agi://127.0.0.1:4573/hotline",
            "agi_callerid: +14152000101",
            "agi_uniqueid: 1437920906.0",
            "agi_accountcode: ",
            "agi_arg_1: x",
        ] {
            env.take(line).unwrap();
        }
        assert_eq!(env.script.as_deref(), Some("hotline"));
        assert_eq!(env.callerid.as_deref(), Some("+14152000101"));
        assert_eq!(env.uniqueid.as_deref(), Some("1437920906.0"));
        for bad in ["hello", "GET DATA x", "agi_: x", "AGI_CALLERID: 1", "agi callerid: 1", ": x"] {
            assert_eq!(Env::default().take(bad), Err(ProtocolError::BadVariable), "{bad}");
        }
        let mut odd = Env::default();
        odd.take("agi_uniqueid: SIP/+1415").unwrap();
        assert_eq!(odd.uniqueid, None, "a unique id that is not one is not logged");
    }

    #[test]
    fn replies_are_read() {
        assert_eq!(parse_reply("HANGUP"), Ok(ReplyLine::Hangup));
        assert_eq!(
            parse_reply("200 result=49 endpos=1234"),
            Ok(ReplyLine::Result { value: "49".into(), rest: "endpos=1234".into() })
        );
        assert_eq!(
            parse_reply("200 result= (timeout)"),
            Ok(ReplyLine::Result { value: "".into(), rest: "(timeout)".into() })
        );
        assert_eq!(parse_reply("200 result="), Ok(ReplyLine::Result { value: "".into(), rest: "".into() }));
        assert_eq!(parse_reply("510 Invalid or unknown command"), Ok(ReplyLine::Rejected(510)));
        assert_eq!(parse_reply("511 Command Not Permitted on a dead channel"), Ok(ReplyLine::Hangup));
        assert_eq!(
            parse_reply("520 Invalid command syntax.  Proper usage not available."),
            Ok(ReplyLine::Rejected(520))
        );
        assert_eq!(parse_reply("520-Invalid command syntax.  Proper usage follows:"), Ok(ReplyLine::UsageFollows));
        assert!(ends_usage("520 End of proper usage."));
        for bad in ["", "200", "200 result", "OK", "5100 x", "hangup", "agi_callerid: 1"] {
            assert_eq!(parse_reply(bad), Err(ProtocolError::BadReply), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// No line from the peer panics the reader: it is read, or refused.
        #[test]
        fn any_line_is_read_or_refused(line in "\\PC{0,80}", value in "[-0-9A-Za-z*#]{0,6}") {
            let _ = Env::default().take(&line);
            let _ = parse_reply(&line);
            for command in [
                Command::Answer,
                Command::Play { prompt: Prompt::Welcome, lang: Lang::En, escape: "" },
                Command::Ask { prompt: Prompt::MainMenu, lang: Lang::En, timeout_ms: 1, max_digits: 1 },
                Command::Dial("x".into()),
                Command::Hangup,
            ] {
                let _ = event_for(&command, &value, &line);
            }
        }
    }

    #[test]
    fn results_become_events() {
        let ask = Command::Ask { prompt: Prompt::MainMenu, lang: Lang::En, timeout_ms: 1, max_digits: 1 };
        let play = Command::Play { prompt: Prompt::Language, lang: Lang::En, escape: "12" };
        assert_eq!(event_for(&ask, "3", ""), Ok(Event::Digits("3".into())));
        assert_eq!(event_for(&ask, "", "(timeout)"), Ok(Event::Timeout(String::new())));
        assert_eq!(event_for(&ask, "41520", "(timeout)"), Ok(Event::Timeout("41520".into())));
        assert_eq!(event_for(&ask, "", ""), Ok(Event::Digits(String::new())));
        assert_eq!(event_for(&ask, "-1", ""), Ok(Event::Hangup));
        assert_eq!(event_for(&ask, "12x", ""), Err(ProtocolError::BadResult));
        assert_eq!(event_for(&play, "0", "endpos=9"), Ok(Event::Done));
        assert_eq!(event_for(&play, "50", "endpos=9"), Ok(Event::Digits("2".into())));
        assert_eq!(event_for(&play, "-1", "endpos=0"), Ok(Event::Hangup));
        assert_eq!(event_for(&play, "300", ""), Err(ProtocolError::BadResult));
        assert_eq!(event_for(&play, "x", ""), Err(ProtocolError::BadResult));
        assert_eq!(event_for(&Command::Answer, "0", ""), Ok(Event::Done));
        assert_eq!(event_for(&Command::Answer, "-1", ""), Ok(Event::Hangup));
        assert_eq!(event_for(&Command::Dial("x".into()), "-2", ""), Ok(Event::Done));
        assert_eq!(event_for(&Command::Hangup, "1", ""), Ok(Event::Hangup));
    }
}
