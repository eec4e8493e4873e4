//! `lineout demo`: seeds a demo database (once; a seeded one is reused) with generated
//! customers and a handful of cases in various states, creates an admin API token,
//! prints how to try the API, then serves exactly like `lineout serve`.

use crate::cases::cli_actor;
use crate::config::Config;
use crate::demo_data::{DemoData, generate};
use crate::error::{Error, Result};
use lineout_app::engine::VerificationRequest;
use lineout_app::{Engine, LineRef, OpenRequest};
use lineout_domain::account::{Account, Line, LineStatus, Ownership};
use lineout_domain::case::{CodeDestination, DeviceCondition, RejectReason};
use lineout_domain::values::{AccountId, ActorId, CaseId};
use lineout_domain::verification::{DocumentType, PhotoId};
use lineout_domain::{Actor, Channel, Command, Status, Timing};
use std::collections::{HashMap, HashSet};

/// Rows per upsert while seeding.
const SEED_BATCH: usize = 1_000;

/// What seeding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// False when the database already held demo data and was reused.
    pub fresh: bool,
    pub accounts: usize,
    pub lines: usize,
    pub devices: usize,
    /// The cases opened, with what each shows.
    pub cases: Vec<(CaseId, Status, &'static str)>,
    /// The number of a line no demo case touches, for trying to open a case.
    pub free_msisdn: Option<String>,
}

/// Seeds `engine` from `seed` unless it already holds the demo's first account.
pub async fn seed(engine: &Engine, seed: u64, accounts: usize) -> Result<Seeded> {
    let data = generate(seed, accounts).map_err(|e| Error::Failed(format!("generating demo data: {e}")))?;
    let mut picker = Picker::new(&data);
    let first = data.accounts.first().map(|a| a.id.clone());
    if let Some(first) = first
        && engine.account(first).await.is_ok()
    {
        // Replaying the (deterministic) choice of demo lines finds one no demo case took.
        for plan in plans() {
            picker.pick(plan.want);
        }
        let free_msisdn = picker.pick(Want::default()).map(|l| l.msisdn.to_string());
        let filter = lineout_app::ports::CaseFilter { limit: 20, ..Default::default() };
        let cases = engine.list_cases(filter).await?.into_iter().map(|c| (c.id, c.status, "")).collect();
        return Ok(Seeded { fresh: false, accounts: 0, lines: 0, devices: 0, cases, free_msisdn });
    }
    for chunk in data.accounts.chunks(SEED_BATCH) {
        check_all("account", engine.upsert_accounts(chunk.to_vec()).await?)?;
    }
    for chunk in data.lines.chunks(SEED_BATCH) {
        check_all("line", engine.upsert_lines(chunk.to_vec()).await?)?;
    }
    for chunk in data.devices.chunks(SEED_BATCH) {
        check_all("device", engine.upsert_devices(chunk.to_vec()).await?)?;
    }
    let cases = open_cases(engine, &mut picker).await?;
    let free_msisdn = picker.pick(Want::default()).map(|l| l.msisdn.to_string());
    // Deliver the notices the new cases caused, so their timelines show them.
    engine.drain(20).await?;
    let mut shown = Vec::with_capacity(cases.len());
    for (id, what) in cases {
        let status = engine.case(id.clone()).await?.status;
        shown.push((id, status, what));
    }
    Ok(Seeded {
        fresh: true,
        accounts: data.accounts.len(),
        lines: data.lines.len(),
        devices: data.devices.len(),
        cases: shown,
        free_msisdn,
    })
}

fn check_all<T>(what: &str, results: Vec<std::result::Result<T, lineout_app::Error>>) -> Result<()> {
    match results.into_iter().find_map(std::result::Result::err) {
        Some(e) => Err(Error::Failed(format!("seeding a demo {what}: {e}"))),
        None => Ok(()),
    }
}

/// Picks distinct, cancellable lines for the demo cases.
struct Picker<'a> {
    data: &'a DemoData,
    accounts: HashMap<&'a str, &'a Account>,
    /// Lines with a device that must come back.
    returnable: HashSet<&'a str>,
    /// Accounts that already have a demo case.
    used: HashSet<&'a str>,
}

/// What a demo line needs.
#[derive(Clone, Copy, Default)]
struct Want {
    device: bool,
    owes_over: Option<i64>,
    owes_at_most: Option<i64>,
    chinese: bool,
}

impl<'a> Picker<'a> {
    fn new(data: &'a DemoData) -> Self {
        Self {
            data,
            accounts: data.accounts.iter().map(|a| (a.id.as_str(), a)).collect(),
            returnable: data.devices.iter().filter(|d| d.must_return).map(|d| d.line_id.as_str()).collect(),
            used: HashSet::new(),
        }
    }

    fn pick(&mut self, want: Want) -> Option<&'a Line> {
        let line = self.data.lines.iter().find(|l| {
            let Some(account) = self.accounts.get(l.account_id.as_str()) else { return false };
            let owed = account.owed.cents;
            !self.used.contains(account.id.as_str())
                && l.status == LineStatus::Active
                && !account.locks.cancellation
                && self.returnable.contains(l.id.as_str()) == want.device
                && want.owes_over.map_or(owed <= 0, |min| owed > min)
                && want.owes_at_most.is_none_or(|max| owed <= max)
                && (!want.chinese || account.language == lineout_domain::values::Language::ZhHans)
                && account.prepaid_balance.cents <= 5_000
        })?;
        // One case per account keeps the stories apart.
        self.used.insert(line.account_id.as_str());
        Some(line)
    }

    fn imei(&self, line: &Line) -> Option<lineout_domain::values::Imei> {
        self.data
            .devices
            .iter()
            .find(|d| d.line_id == line.id && d.ownership != Ownership::Owned)
            .map(|d| d.imei.clone())
    }
}

/// One demo case: what it shows, the line it needs, how it was opened, and the steps after.
struct Plan {
    what: &'static str,
    want: Want,
    channel: Channel,
    timing: Timing,
    steps: Vec<(Actor, DemoStep)>,
    /// Receive the line's device (in good condition) after the steps.
    return_device: bool,
}

impl Plan {
    fn new(what: &'static str, want: Want, channel: Channel, timing: Timing, steps: Vec<(Actor, DemoStep)>) -> Self {
        Self { what, want, channel, timing, steps, return_device: false }
    }
}

/// A step of a demo case: a command, a code sent, or a verification with its proof.
enum DemoStep {
    Command(Command),
    SendCode(CodeDestination),
    Verify(VerificationRequest),
}

fn demo_client() -> Actor {
    ActorId::parse("demo-api").map(Actor::Client).unwrap_or(Actor::System)
}

fn demo_agent() -> Actor {
    ActorId::parse("demo-agent").map(Actor::Staff).unwrap_or(Actor::System)
}

/// The demo cases, in the order their lines are chosen.
fn plans() -> Vec<Plan> {
    use Command as C;
    let staff = cli_actor();
    let agent = demo_agent();
    // A store agent checks a driver's license valid for years yet.
    let photo_id = || {
        let expires_on = time::Date::from_calendar_date(2036, time::Month::June, 30).unwrap_or(time::Date::MIN);
        let document = PhotoId { document_type: DocumentType::DriversLicense, last4: "4821".into(), expires_on };
        (agent.clone(), DemoStep::Verify(VerificationRequest::PhotoId(document)))
    };
    let by_token = || (demo_client(), DemoStep::Verify(VerificationRequest::OperatorToken));
    let device = Want { device: true, ..Want::default() };
    vec![
        Plan::new("waiting for the caller to verify", Want::default(), Channel::Ivr, Timing::Immediate, vec![]),
        Plan::new(
            "verified by the operator's API client and approved by rule",
            Want::default(),
            Channel::Api,
            Timing::Immediate,
            vec![by_token()],
        ),
        Plan::new(
            "verified in store; unpaid balance to settle",
            Want { owes_over: Some(2_000), ..Want::default() },
            Channel::Store,
            Timing::Immediate,
            vec![photo_id()],
        ),
        Plan::new(
            "small balance written off, then approved",
            Want { owes_over: Some(0), owes_at_most: Some(500), ..Want::default() },
            Channel::Store,
            Timing::Immediate,
            vec![
                photo_id(),
                (agent.clone(), DemoStep::Command(C::WriteOff { reason: "below the write-off limit".into() })),
            ],
        ),
        Plan::new(
            "verified; leased or financed device to return",
            device,
            Channel::Store,
            Timing::Immediate,
            vec![photo_id()],
        ),
        Plan {
            return_device: true,
            ..Plan::new(
                "device returned; waiting for a reviewer",
                device,
                Channel::Store,
                Timing::EndOfCycle,
                vec![photo_id()],
            )
        },
        Plan::new(
            "Chinese-speaking customer online: code sent by SMS, not yet entered",
            Want { chinese: true, ..Want::default() },
            Channel::Web,
            Timing::EndOfCycle,
            vec![(Actor::Customer, DemoStep::SendCode(CodeDestination::Line))],
        ),
        Plan::new(
            "withdrawn by the customer",
            Want::default(),
            Channel::Chat,
            Timing::Immediate,
            vec![(Actor::Customer, DemoStep::Command(C::Withdraw))],
        ),
        Plan::new(
            "rejected: suspected fraud",
            Want::default(),
            Channel::Ivr,
            Timing::Immediate,
            vec![(
                staff,
                DemoStep::Command(C::Reject {
                    reason: RejectReason::SuspectedFraud,
                    note: Some("caller could not verify".into()),
                }),
            )],
        ),
    ]
}

/// Opens the demo cases; a step the rules refuse is logged and skipped, never fatal.
async fn open_cases(engine: &Engine, picker: &mut Picker<'_>) -> Result<Vec<(CaseId, &'static str)>> {
    let agent = demo_agent();
    let mut opened = Vec::new();
    for plan in plans() {
        let what = plan.what;
        let Some(line) = picker.pick(plan.want) else {
            tracing::warn!(case = what, "no demo line fits; skipped");
            continue;
        };
        let req = OpenRequest {
            callback: false,
            kind: lineout_domain::case::CaseKind::Cancellation,
            line: LineRef::Id(line.id.clone()),
            channel: plan.channel,
            timing: plan.timing,
            note: None,
        };
        let case = match engine.open_case(req, agent.clone()).await {
            Ok(case) => case,
            Err(e) => {
                tracing::warn!(case = what, code = e.code(), "demo case not opened");
                continue;
            }
        };
        let mut commands = plan.steps;
        if plan.return_device
            && let Some(imei) = picker.imei(line)
        {
            commands.push((agent.clone(), DemoStep::Command(Command::received(imei, DeviceCondition::Good))));
        }
        for (actor, step) in commands {
            let (name, result) = match step {
                DemoStep::Command(cmd) => (cmd.name(), engine.command(case.id.clone(), cmd, actor).await.map(|_| ())),
                DemoStep::SendCode(to) => (
                    "send_verification_code",
                    engine.send_verification_code(case.id.clone(), to, actor).await.map(|_| ()),
                ),
                DemoStep::Verify(request) => {
                    ("verify_identity", engine.verify_identity(case.id.clone(), request, None, actor).await.map(|_| ()))
                }
            };
            if let Err(e) = result {
                tracing::warn!(case = what, command = name, code = e.code(), "demo step refused");
            }
        }
        opened.push((case.id, what));
    }
    Ok(opened)
}

/// `lineout demo`.
pub fn command(config: &Config, seed_value: u64, accounts: usize) -> Result<()> {
    // The demo's phones and inboxes are the terminal: codes are printed there.
    let mut config = config.clone();
    if config.adapters.notifier == crate::config::NotifierAdapterName::Fake {
        config.adapters.fake_notifier_echo = true;
    }
    let config = &config;
    let engine = crate::db::start_engine(config)?;
    crate::block_on_engine(engine, async |engine| {
        let listener = crate::serve::bind(&config.server.listen).await?;
        let addr = listener.local_addr().map_err(|e| Error::Failed(format!("listener: {e}")))?;
        eprintln!("preparing the demo database {} …", crate::config::mask_url(&config.database.url));
        let seeded = seed(engine, seed_value, accounts).await?;
        let (_, token) = crate::token::create(engine, vec!["admin".into()], "demo admin".into()).await?;
        print!("{}", banner(&addr.to_string(), &config.database.url, &seeded, &token));
        let free = seeded.free_msisdn.as_deref().unwrap_or("(408) 555-0100");
        print!("{}", staff_banner(&addr.to_string(), free, &demo_staff(engine).await?));
        let hotline = crate::serve::bind_hotline(&config.ivr).await?;
        crate::serve::serve(engine.clone(), &config.server, listener, crate::serve::shutdown_signal(), hotline).await
    })
}

/// The demo's staff accounts: (username, role, password). Demo data only: a real
/// installation creates its staff with `lineout staff create`.
pub const DEMO_STAFF: &[(&str, &str, &str)] = &[
    ("admin", "admin", "demo-admin-password"),
    ("agent", "agent", "demo-agent-password"),
    ("reviewer", "reviewer", "demo-reviewer-password"),
    ("reviewer2", "reviewer", "demo-reviewer2-password"),
    ("warehouse", "warehouse", "demo-warehouse-password"),
];

/// Creates the demo's staff accounts (kept if the database already has them).
pub async fn demo_staff(engine: &lineout_app::Engine) -> Result<Vec<(&'static str, &'static str, &'static str)>> {
    for (username, role, password) in DEMO_STAFF {
        let role = crate::staff::role(role)?;
        let name = format!("Demo {username}");
        match crate::staff::create(engine, (*username).into(), name, role, (*password).into()).await {
            Ok(_) => {}
            Err(Error::App(lineout_app::Error::StaffUsernameTaken)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(DEMO_STAFF.to_vec())
}

/// Where the portal and the console are, and the demo staff accounts.
pub fn staff_banner(addr: &str, free_msisdn: &str, staff: &[(&str, &str, &str)]) -> String {
    let mut out = format!(
        "\ncustomer portal: http://{addr}/portal   (sign in with a demo line, e.g. {free_msisdn}; the code is printed here)\n"
    );
    out.push_str(&format!("staff console:   http://{addr}/console   (demo accounts: username / password)\n"));
    for (username, role, password) in staff {
        out.push_str(&format!("  {username:<10} {password:<26} {role}\n"));
    }
    out
}

/// What the demo prints: where it runs, the token, and commands to try.
pub fn banner(addr: &str, database: &str, seeded: &Seeded, token: &str) -> String {
    let base = format!("http://{addr}");
    let mut out = String::new();
    out.push_str(&format!("\nlineout demo is running at {base}\n"));
    if seeded.fresh {
        out.push_str(&format!(
            "  database    {} (new: {} accounts, {} lines, {} devices, {} cases)\n",
            crate::config::mask_url(database),
            seeded.accounts,
            seeded.lines,
            seeded.devices,
            seeded.cases.len()
        ));
    } else {
        out.push_str(&format!(
            "  database    {} (reused; delete it for fresh data)\n",
            crate::config::mask_url(database)
        ));
    }
    out.push_str(&format!("  Swagger UI  {base}{}\n", lineout_web::DOCS_PATH));
    out.push_str(&format!("  OpenAPI     {base}{}\n", lineout_web::OPENAPI_PATH));
    out.push_str(&format!("  API token   {token}   (scope admin; shown once)\n"));
    if !seeded.cases.is_empty() {
        out.push_str("\ndemo cases:\n");
        for (id, status, what) in &seeded.cases {
            out.push_str(format!("  {id}  {:<12}{what}", status.as_str()).trim_end());
            out.push('\n');
        }
    }
    let msisdn = seeded.free_msisdn.as_deref().unwrap_or("(212) 555-0100");
    let example_case = seeded.cases.first().map_or_else(|| "CASE_ID".to_owned(), |(id, _, _)| id.to_string());
    out.push_str(&format!(
        "\ntry:\n  export TOKEN={token}\n  curl -H \"Authorization: Bearer $TOKEN\" {base}/api/v1/cases\n  \
         curl -H \"Authorization: Bearer $TOKEN\" {base}/api/v1/cases/{example_case}\n  \
         curl -H \"Authorization: Bearer $TOKEN\" {base}/api/v1/accounts/{}\n  \
         curl -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n    \
         -d '{{\"msisdn\":\"{msisdn}\",\"channel\":\"web\",\"timing\":{{\"kind\":\"immediate\"}}}}' {base}/api/v1/cases\n  \
         lineout case list --database {}\n\nCtrl-C stops the demo.\n",
        AccountId::parse("A100001").map_or_else(|_| "A100001".to_owned(), |a| a.to_string()),
        database,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{engine_on, temp_db};

    #[test]
    fn seeding_opens_cases_in_various_states_and_is_reused_the_second_time()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        let (_dir, url) = temp_db()?;
        let engine = engine_on(&url)?;
        let runtime = crate::runtime()?;
        let first = runtime.block_on(seed(&engine, 42, 120))?;
        assert!(first.fresh);
        assert_eq!(first.accounts, 120);
        let statuses: HashSet<Status> = first.cases.iter().map(|(_, s, _)| *s).collect();
        for expected in [
            Status::Verifying,
            Status::Approved,
            Status::Preparing,
            Status::InReview,
            Status::Withdrawn,
            Status::Rejected,
        ] {
            assert!(statuses.contains(&expected), "no {expected:?} case in {:?}", first.cases);
        }
        let again = runtime.block_on(seed(&engine, 42, 120))?;
        assert!(!again.fresh);
        assert_eq!(again.cases.len(), first.cases.len());
        assert_eq!(again.free_msisdn, first.free_msisdn);
        // The number the banner suggests really can get a case.
        let free = first.free_msisdn.clone().unwrap_or_default();
        let req = OpenRequest {
            callback: false,
            kind: lineout_domain::case::CaseKind::Cancellation,
            line: LineRef::Msisdn(lineout_domain::Msisdn::parse(&free)?),
            channel: Channel::Web,
            timing: Timing::Immediate,
            note: None,
        };
        runtime.block_on(engine.open_case(req, Actor::Customer))?;
        let report = engine.audit_blocking()?;
        assert_eq!(report.first_break, None);
        assert_eq!(report.cases, first.cases.len() as u64 + 1);
        let banner = banner("127.0.0.1:8080", &url, &first, "lo_secret");
        assert!(banner.contains("lo_secret") && banner.contains("/api/docs"), "{banner}");
        Ok(())
    }
}
