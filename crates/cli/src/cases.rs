//! `lineout case list|show|command|open`: the staff view of cancellation cases from a
//! terminal. Commands act as staff member `cli`; system-only commands are refused.
//! Numbers are shown by their last four digits only.

use crate::cli::{CaseCommand, CaseListArgs, CaseOpenArgs};
use crate::error::{Error, Result};
use lineout_app::ports::{CaseFilter, OutboxRow};
use lineout_app::{CaseDetail, Engine, LineRef, OpenRequest};
use lineout_domain::case::{Case, Step};
use lineout_domain::values::{ActorId, CaseId, LineId, Msisdn};
use lineout_domain::{Actor, Channel, Command, Event, Status, Timing};
use serde_json::Value;
use std::fmt::Write as _;
use time::OffsetDateTime;
use time::macros::format_description;

/// The actor of every command given through the CLI.
pub fn cli_actor() -> Actor {
    match ActorId::parse("cli") {
        Ok(id) => Actor::Staff(id),
        Err(_) => Actor::System,
    }
}

/// Commands only lineout itself may send (worker results and timers).
const SYSTEM_ONLY: &[&str] =
    &["deprovisioning_confirmed", "refund_issued", "notice_delivered", "effect_dead_lettered", "timer_fired"];

/// Parses a command given as JSON, refusing system-only commands.
pub fn parse_command(json: &str) -> Result<Command> {
    let cmd: Command = serde_json::from_str(json).map_err(|e| {
        Error::Usage(format!(
            "--json: not a valid command ({e}); examples: {{\"type\":\"verify_identity\",\"method\":\"photo_id\",\"document\":{{\"document_type\":\"passport\",\"last4\":\"1234\",\"expires_on\":\"2030-01-31\"}}}}, \
             {{\"type\":\"approve\",\"note\":null}}, {{\"type\":\"withdraw\"}}"
        ))
    })?;
    if SYSTEM_ONLY.contains(&cmd.name()) {
        return Err(Error::Usage(format!("--json: '{}' is sent only by lineout itself", cmd.name())));
    }
    // Secrets are checked by the engine, never asserted: from a terminal, staff may only
    // attest a photo ID they checked; codes, PINs and tokens go through the API.
    match &cmd {
        Command::VerifyIdentity { proof: lineout_domain::case::Proof::PhotoId { .. }, .. } => {}
        Command::VerifyIdentity { .. } | Command::SendVerificationCode { .. } => {
            return Err(Error::Usage(
                "--json: verify with a photo ID ({\"type\":\"verify_identity\",\"method\":\"photo_id\",\"document\":{…}}); \
                 codes and PINs go through POST /api/v1/cases/ID/verification"
                    .into(),
            ));
        }
        _ => {}
    }
    Ok(cmd)
}

pub fn parse_status(s: &str) -> Result<Status> {
    Status::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        Error::Usage(format!("--status: unknown status '{s}' (one of: {})", all.join(", ")))
    })
}

pub fn parse_channel(s: &str) -> Result<Channel> {
    Channel::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        Error::Usage(format!("--channel: unknown channel '{s}' (one of: {})", all.join(", ")))
    })
}

/// `immediate`, `end_of_cycle` or a date `YYYY-MM-DD`.
pub fn parse_timing(s: &str) -> Result<Timing> {
    match s {
        "immediate" => Ok(Timing::Immediate),
        "end_of_cycle" => Ok(Timing::EndOfCycle),
        other => {
            time::Date::parse(other, format_description!("[year]-[month]-[day]")).map(Timing::OnDate).map_err(|_| {
                Error::Usage(format!("--timing: '{other}' is not immediate, end_of_cycle or a date like 2030-01-31"))
            })
        }
    }
}

fn parse_id<T>(
    what: &str,
    s: &str,
    parse: impl FnOnce(&str) -> Result<T, lineout_domain::values::ValueError>,
) -> Result<T> {
    parse(s).map_err(|e| Error::Usage(format!("{what}: {e}")))
}

/// Runs a `case` subcommand.
pub fn command(engine: Engine, cmd: CaseCommand) -> Result<()> {
    crate::block_on_engine(engine, async |engine| {
        let text = match cmd {
            CaseCommand::List(args) => list(engine, &args).await?,
            CaseCommand::Show { id } => {
                let id = parse_id("case id", &id, CaseId::parse)?;
                show(&engine.case_detail(id).await?)
            }
            CaseCommand::Command { id, json } => {
                let id = parse_id("case id", &id, CaseId::parse)?;
                let cmd = parse_command(&json)?;
                let name = cmd.name();
                let case = engine.command(id, cmd, cli_actor()).await?;
                format!("{name}: case {} is now {}\n", case.id, case.status.as_str())
            }
            CaseCommand::Open(args) => {
                let case = open(engine, &args).await?;
                format!("opened case {} ({}) for line {}\n", case.id, case.status.as_str(), case.facts.line_id)
            }
        };
        print!("{text}");
        Ok(())
    })
}

async fn list(engine: &Engine, args: &CaseListArgs) -> Result<String> {
    let filter = CaseFilter {
        status: args.status.as_deref().map(parse_status).transpose()?,
        channel: args.channel.as_deref().map(parse_channel).transpose()?,
        line_id: args.line.as_deref().map(|l| parse_id("--line", l, LineId::parse)).transpose()?,
        limit: args.limit,
        ..CaseFilter::default()
    };
    Ok(table(&engine.list_cases(filter).await?))
}

async fn open(engine: &Engine, args: &CaseOpenArgs) -> Result<Case> {
    let line = match (&args.line, &args.msisdn) {
        (Some(id), _) => LineRef::Id(parse_id("--line", id, LineId::parse)?),
        (None, Some(n)) => LineRef::Msisdn(parse_id("--msisdn", n, Msisdn::parse)?),
        (None, None) => return Err(Error::Usage("give --line or --msisdn".into())),
    };
    let req = OpenRequest {
        callback: false,
        kind: lineout_domain::case::CaseKind::Cancellation,
        line,
        channel: parse_channel(&args.channel)?,
        timing: parse_timing(&args.timing)?,
        note: args.note.clone(),
    };
    Ok(engine.open_case(req, cli_actor()).await?)
}

fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z")).unwrap_or_else(|_| t.to_string())
}

fn masked(m: &Msisdn) -> String {
    format!("…{}", m.last4())
}

/// Cases as an aligned table.
pub fn table(cases: &[Case]) -> String {
    if cases.is_empty() {
        return "no cases\n".into();
    }
    let rows: Vec<[String; 7]> = cases
        .iter()
        .map(|c| {
            [
                c.id.to_string(),
                c.status.as_str().to_owned(),
                c.channel.as_str().to_owned(),
                c.facts.line_id.to_string(),
                masked(&c.facts.msisdn),
                when(c.opened_at),
                when(c.updated_at),
            ]
        })
        .collect();
    let header = ["ID", "STATUS", "CHANNEL", "LINE", "NUMBER", "OPENED", "UPDATED"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&header.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    out
}

fn step(s: Step) -> &'static str {
    match s {
        Step::NotNeeded => "not needed",
        Step::Pending => "pending",
        Step::Done => "done",
    }
}

pub fn actor(a: &Actor) -> String {
    match a {
        Actor::Customer => "customer".into(),
        Actor::Staff(id) => format!("staff:{id}"),
        Actor::Client(id) => format!("client:{id}"),
        Actor::System => "system".into(),
    }
}

/// A case with its timeline, timers and outbox as readable text.
pub fn show(detail: &CaseDetail) -> String {
    let c = &detail.case;
    let f = &c.facts;
    let mut out = String::new();
    let _ = writeln!(out, "case {}  {}", c.id, c.status.as_str());
    let timing = match c.timing {
        Timing::Immediate => "immediate".to_owned(),
        Timing::EndOfCycle => "end of billing cycle".to_owned(),
        Timing::OnDate(d) => format!("on {d}"),
    };
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<20}{value}");
    };
    field("channel", c.channel.as_str().to_owned());
    field("timing", timing);
    field(
        "line",
        format!("{} (number {}, {}, {})", f.line_id, masked(&f.msisdn), f.plan.as_str(), c.line_status.as_str()),
    );
    field("account", format!("{} ({})", f.account_id, f.language.as_str()));
    field("opened", when(c.opened_at));
    field("updated", format!("{} (version {})", when(c.updated_at), c.version));
    let method = c.verification_method.map(|m| format!(" ({})", json_word(&m))).unwrap_or_default();
    field("verification", format!("{}{method}", step(c.verification)));
    let owed = if c.settlement == Step::Pending { format!(" (owes {})", c.owed) } else { String::new() };
    field("settlement", format!("{}{owed}", step(c.settlement)));
    field("device return", step(c.device_return).to_owned());
    field("fees", c.fees.to_string());
    if c.review_overdue {
        field("review", "overdue".to_owned());
    }
    if let Some(t) = c.withdrawal_deadline {
        field("withdrawal until", when(t));
    }
    if let Some(t) = c.termination_at {
        field("termination at", when(t));
    }
    field("deprovisioning", step(c.deprovisioning).to_owned());
    field("refund", format!("{} ({})", step(c.refund), c.refund_amount));
    field("customer notified", if c.customer_notified { "yes" } else { "no" }.to_owned());
    if let Some(r) = c.reject_reason {
        field("rejected because", json_word(&r));
    }
    if c.dead_letters > 0 {
        field("dead letters", c.dead_letters.to_string());
    }
    let _ = writeln!(out, "\ntimeline");
    for e in &detail.events {
        let _ = writeln!(out, "  {}", timeline_line(e));
    }
    if !detail.timers.is_empty() {
        let _ = writeln!(out, "\ntimers");
        for t in &detail.timers {
            let _ = writeln!(out, "  {:<24}due {}", t.kind.as_str(), when(t.due_at));
        }
    }
    if !detail.outbox.is_empty() {
        let _ = writeln!(out, "\noutbox");
        for row in &detail.outbox {
            let _ = writeln!(out, "  {}", outbox_line(row));
        }
    }
    out
}

fn outbox_line(row: &OutboxRow) -> String {
    let mut s = format!("{:<28}{:<12}{:<8}attempts {}", row.id, row.kind, row.status.as_str(), row.attempts);
    if let Some(e) = &row.last_error {
        let _ = write!(s, "  last error: {e}");
    }
    s
}

/// A serde unit variant's name (`photo_id`).
fn json_word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// `#3  2025-01-02 10:00:00Z  staff:cli  identity_verified  method=photo_id`
pub fn timeline_line(e: &Event) -> String {
    let mut details = Vec::new();
    if let Ok(Value::Object(map)) = serde_json::to_value(&e.kind) {
        for (k, v) in map {
            // The opened event's facts are shown above; the type is the event's name.
            if k == "type" || k == "facts" || v.is_null() {
                continue;
            }
            details.push(format!("{k}={}", render(&v)));
        }
    }
    format!("#{:<3} {}  {:<18} {:<26}{}", e.seq, when(e.at), actor(&e.actor), e.kind.name(), details.join(" "))
        .trim_end()
        .to_owned()
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(map) => {
            if let (Some(cents), Some(currency)) =
                (map.get("cents").and_then(Value::as_i64), map.get("currency").and_then(Value::as_str))
            {
                let sign = if cents < 0 { "-" } else { "" };
                let abs = cents.unsigned_abs();
                return format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100);
            }
            // A timing: {"kind":"on_date","date":…}.
            match (map.get("kind").and_then(Value::as_str), map.get("date")) {
                (Some(kind), None) if map.len() == 1 => kind.to_owned(),
                (Some(kind), Some(date)) if map.len() == 2 => format!("{kind}:{}", render(date)),
                _ => v.to_string(),
            }
        }
        Value::Array(items) => time_text(items).unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    }
}

/// Reads `time`'s compact serde form of a date-time or date back, so timelines show
/// `2025-01-02 10:00:00Z` instead of a tuple of numbers.
fn time_text(items: &[Value]) -> Option<String> {
    let n: Vec<i64> = items.iter().map(Value::as_i64).collect::<Option<_>>()?;
    let int = |i: usize| n.get(i).and_then(|x| i32::try_from(*x).ok());
    let date = time::Date::from_ordinal_date(int(0)?, u16::try_from(int(1)?).ok()?).ok()?;
    match n.len() {
        2 => Some(date.to_string()),
        9 => {
            let t = time::Time::from_hms_nano(
                u8::try_from(int(2)?).ok()?,
                u8::try_from(int(3)?).ok()?,
                u8::try_from(int(4)?).ok()?,
                u32::try_from(int(5)?).ok()?,
            )
            .ok()?;
            let offset = time::UtcOffset::from_hms(
                i8::try_from(int(6)?).ok()?,
                i8::try_from(int(7)?).ok()?,
                i8::try_from(int(8)?).ok()?,
            )
            .ok()?;
            Some(when(date.with_time(t).assume_offset(offset)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_from_json_and_system_ones_are_refused() {
        assert!(matches!(parse_command(r#"{"type":"approve","note":null}"#), Ok(Command::Approve { .. })));
        assert!(matches!(parse_command(r#"{"type":"withdraw"}"#), Ok(Command::Withdraw)));
        let refused = parse_command(r#"{"type":"timer_fired","timer":"review_sla"}"#);
        assert!(matches!(&refused, Err(Error::Usage(m)) if m.contains("only by lineout")), "{refused:?}");
        assert!(matches!(parse_command("{"), Err(Error::Usage(_))));
        assert!(matches!(parse_command(r#"{"type":"explode"}"#), Err(Error::Usage(_))));
    }

    #[test]
    fn timeline_values_read_well() {
        let at = time::macros::datetime!(2025-03-04 05:06:07.5 UTC);
        assert_eq!(render(&serde_json::to_value(at).unwrap_or_default()), "2025-03-04 05:06:07Z");
        assert_eq!(render(&serde_json::to_value(Timing::EndOfCycle).unwrap_or_default()), "end_of_cycle");
        let on = Timing::OnDate(time::macros::date!(2030 - 01 - 31));
        assert_eq!(render(&serde_json::to_value(on).unwrap_or_default()), "on_date:2030-01-31");
        let money = lineout_domain::Money::usd(-1234);
        assert_eq!(render(&serde_json::to_value(money).unwrap_or_default()), "-12.34 USD");
    }

    #[test]
    fn timings_statuses_and_channels_parse() {
        assert_eq!(parse_timing("immediate").ok(), Some(Timing::Immediate));
        assert_eq!(parse_timing("end_of_cycle").ok(), Some(Timing::EndOfCycle));
        assert!(matches!(parse_timing("2030-01-31"), Ok(Timing::OnDate(_))));
        assert!(parse_timing("tomorrow").is_err());
        assert_eq!(parse_status("in_review").ok(), Some(Status::InReview));
        assert!(parse_status("open").is_err());
        assert_eq!(parse_channel("store").ok(), Some(Channel::Store));
        assert!(parse_channel("fax").is_err());
    }
}
