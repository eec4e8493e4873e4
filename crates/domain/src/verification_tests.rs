//! Tests of verification: each method on each channel, codes (wrong, expired, reused,
//! replaced), the lockout and its end, and the events each attempt records.

use super::*;
use crate::account::{AccountKind, LineStatus, Plan};
use crate::case::{CaseFacts, CaseKind, Command, Event, OpenCase, TimerKind, Timing, decide, open};
use crate::effects::consequences;
use crate::values::{AccountId, ActorId, CaseId, Language, LineId, Money, Msisdn};
use time::macros::{date, datetime};

const T0: OffsetDateTime = datetime!(2026-11-02 10:00 UTC);

fn case_on(channel: Channel) -> Case {
    let facts = CaseFacts {
        account_id: AccountId::parse("A1").unwrap_or_else(|_| unreachable!()),
        account_kind: AccountKind::Residential,
        line_id: LineId::parse("L1").unwrap_or_else(|_| unreachable!()),
        msisdn: Msisdn::parse("4155550100").unwrap_or_else(|_| unreachable!()),
        iccid: None,
        imsi: None,
        eid: None,
        plan: Plan::Prepaid,
        line_status: LineStatus::Active,
        language: Language::En,
        billing_cycle_day: 1,
        cancellation_locked: false,
        port_out_locked: false,
        owed: Money::usd(0),
        prepaid_balance: Money::usd(0),
        device: None,
    };
    let req = OpenCase {
        kind: CaseKind::Cancellation,
        callback: false,
        channel,
        timing: Timing::Immediate,
        facts,
        note: None,
    };
    let kinds = open(&req, &Actor::Customer, &Policy::default(), T0).unwrap_or_default();
    let mut case: Option<Case> = None;
    for (i, kind) in kinds.into_iter().enumerate() {
        let e = Event { seq: i as u64 + 1, at: T0, actor: Actor::Customer, kind };
        match case.as_mut() {
            None => case = Case::from_opened(CaseId::parse("C1").unwrap_or_else(|_| unreachable!()), &e),
            Some(c) => c.apply(&e),
        }
    }
    case.unwrap_or_else(|| unreachable!())
}

/// Decides and applies; returns the event names (or the error).
fn run(case: &mut Case, cmd: Command, actor: &Actor, now: OffsetDateTime) -> Result<Vec<EventKind>, Error> {
    let kinds = decide(case, &cmd, actor, &Policy::default(), now)?;
    for kind in &kinds {
        let e = Event { seq: case.version + 1, at: now, actor: actor.clone(), kind: kind.clone() };
        case.apply(&e);
    }
    Ok(kinds)
}

fn staff() -> Actor {
    Actor::Staff(ActorId::parse("agent7").unwrap_or_else(|_| unreachable!()))
}
fn client() -> Actor {
    Actor::Client(ActorId::parse("tok1").unwrap_or_else(|_| unreachable!()))
}
fn send(code_id: &str) -> Command {
    Command::SendVerificationCode { code_id: code_id.into(), destination: CodeDestination::Line }
}
fn code(matched: Option<&str>) -> Command {
    Command::VerifyIdentity {
        proof: Proof::OneTimeCode { matched: matched.map(str::to_owned) },
        client: Some("c1".into()),
    }
}
fn pin(outcome: PinOutcome) -> Command {
    Command::VerifyIdentity { proof: Proof::Pin { outcome }, client: None }
}
fn photo(expires_on: Date) -> Command {
    let document = PhotoId { document_type: DocumentType::DriversLicense, last4: "7K2Q".into(), expires_on };
    Command::VerifyIdentity { proof: Proof::PhotoId { document }, client: None }
}
fn refusal(kinds: &[EventKind]) -> Option<Refusal> {
    kinds.iter().find_map(|k| match k {
        EventKind::VerificationFailed { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn a_code_verifies_once_within_its_validity() {
    let mut case = case_on(Channel::Web);
    run(&mut case, send("k1"), &Actor::Customer, T0).unwrap_or_default();
    let kinds = run(&mut case, code(Some("k1")), &Actor::Customer, T0 + Duration::minutes(9)).unwrap_or_default();
    assert!(
        matches!(&kinds[0], EventKind::IdentityVerified { method: VerificationMethod::OneTimeCode, code_id: Some(c), client: Some(k), .. } if c == "k1" && k == "c1")
    );
    assert_eq!(case.verification, crate::case::Step::Done);
    // Reused: plainly refused.
    assert_eq!(run(&mut case, code(Some("k1")), &Actor::Customer, T0), Err(Error::CodeUsed));
}

#[test]
fn wrong_expired_and_replaced_codes_fail_and_are_recorded() {
    let mut case = case_on(Channel::Web);
    run(&mut case, send("k1"), &Actor::Customer, T0).unwrap_or_default();
    let wrong = run(&mut case, code(None), &Actor::Customer, T0).unwrap_or_default();
    assert_eq!(refusal(&wrong), Some(Refusal::CodeInvalid));
    let late = run(&mut case, code(Some("k1")), &Actor::Customer, T0 + Duration::minutes(10)).unwrap_or_default();
    assert_eq!(refusal(&late), Some(Refusal::CodeExpired));
    run(&mut case, send("k2"), &Actor::Customer, T0 + Duration::minutes(11)).unwrap_or_default();
    let old = run(&mut case, code(Some("k1")), &Actor::Customer, T0 + Duration::minutes(11)).unwrap_or_default();
    assert_eq!(refusal(&old), Some(Refusal::CodeExpired));
    assert_eq!(case.verification_failures, 3);
    assert_eq!(case.status, Status::Verifying);
    // The failure event names the method, channel and client; never a code.
    let body = serde_json::to_string(&wrong[0]).unwrap_or_default();
    assert_eq!(
        body,
        r#"{"type":"verification_failed","method":"one_time_code","reason":"code_invalid","channel":"web","client":"c1","failures":1}"#
    );
}

#[test]
fn five_wrong_attempts_lock_verification_until_the_timer() {
    let mut case = case_on(Channel::Ivr);
    let policy = Policy::default();
    for i in 1..=4 {
        let kinds = run(&mut case, pin(PinOutcome::Wrong), &Actor::Customer, T0).unwrap_or_default();
        assert_eq!(refusal(&kinds), Some(Refusal::PinInvalid));
        assert_eq!(case.verification_failures, i);
    }
    let kinds = run(&mut case, pin(PinOutcome::Wrong), &Actor::Customer, T0).unwrap_or_default();
    let until = T0 + Duration::minutes(30);
    assert_eq!(kinds.last(), Some(&EventKind::VerificationLocked { until }));
    // Locked: the right PIN is refused too, and the refusal does not count.
    let locked =
        run(&mut case, pin(PinOutcome::Correct), &Actor::Customer, T0 + Duration::minutes(29)).unwrap_or_default();
    assert_eq!(refusal(&locked), Some(Refusal::Locked));
    assert_eq!(case.status, Status::Verifying);
    // The lock notifies every contact and sets the unlock timer.
    let (effects, timers) = consequences(&case, &EventKind::VerificationLocked { until }, &policy);
    assert_eq!(effects.len(), 3);
    assert!(timers.contains(&crate::effects::TimerOp::Set(TimerKind::VerificationUnlock, until)));
    let fired = run(&mut case, Command::TimerFired { timer: TimerKind::VerificationUnlock }, &Actor::System, until)
        .unwrap_or_default();
    assert_eq!(fired, vec![EventKind::VerificationUnlocked]);
    run(&mut case, pin(PinOutcome::Correct), &Actor::Customer, until).unwrap_or_default();
    assert_eq!(case.verification, crate::case::Step::Done);
}

#[test]
fn each_channel_accepts_only_its_methods() {
    // Web: a PIN or a photo ID is not enough.
    let mut web = case_on(Channel::Web);
    let kinds = run(&mut web, pin(PinOutcome::Correct), &Actor::Customer, T0).unwrap_or_default();
    assert_eq!(refusal(&kinds), Some(Refusal::MethodNotAllowed));
    let kinds = run(&mut web, photo(date!(2030 - 01 - 01)), &staff(), T0).unwrap_or_default();
    assert_eq!(refusal(&kinds), Some(Refusal::MethodNotAllowed));
    assert_eq!(web.verification_failures, 0, "policy refusals are not guesses");
    let token = Command::VerifyIdentity { proof: Proof::OperatorToken, client: None };
    let kinds = run(&mut web, token.clone(), &client(), T0).unwrap_or_default();
    assert_eq!(refusal(&kinds), Some(Refusal::MethodNotAllowed));
    // Store: photo ID by staff, not expired on the clock's date.
    let mut store = case_on(Channel::Store);
    assert_eq!(run(&mut store, photo(date!(2030 - 01 - 01)), &Actor::Customer, T0), Err(Error::NotPermitted));
    let kinds = run(&mut store, photo(date!(2026 - 11 - 01)), &staff(), T0).unwrap_or_default();
    assert_eq!(refusal(&kinds), Some(Refusal::PhotoIdExpired));
    let kinds = run(&mut store, photo(date!(2026 - 11 - 02)), &staff(), T0).unwrap_or_default();
    assert!(matches!(&kinds[0], EventKind::IdentityVerified { photo_id: Some(p), .. } if p.last4 == "7K2Q"));
    // API: the operator's token, only as an API client.
    let mut api = case_on(Channel::Api);
    assert_eq!(run(&mut api, token.clone(), &staff(), T0), Err(Error::NotPermitted));
    run(&mut api, token, &client(), T0).unwrap_or_default();
    assert_eq!(api.verification, crate::case::Step::Done);
    // Bulk: operator-initiated, by lineout itself only.
    let mut bulk = case_on(Channel::Bulk);
    let initiated = Command::VerifyIdentity { proof: Proof::OperatorInitiated, client: None };
    assert_eq!(run(&mut bulk, initiated.clone(), &staff(), T0), Err(Error::NotPermitted));
    run(&mut bulk, initiated, &Actor::System, T0).unwrap_or_default();
    assert_eq!(bulk.verification, crate::case::Step::Done);
    // A photo ID must name 4 characters of the number, nothing more.
    let mut store = case_on(Channel::Store);
    let document =
        PhotoId { document_type: DocumentType::Passport, last4: "123456789".into(), expires_on: date!(2030 - 01 - 01) };
    let long = Command::VerifyIdentity { proof: Proof::PhotoId { document }, client: None };
    assert_eq!(run(&mut store, long, &staff(), T0), Err(Error::InvalidPhotoId));
}

#[test]
fn knowledge_answers_never_verify() {
    let mut case = case_on(Channel::Web);
    for item in [
        KnowledgeItem::Name,
        KnowledgeItem::Address,
        KnowledgeItem::DateOfBirth,
        KnowledgeItem::IdNumber,
        KnowledgeItem::LastPayment,
        KnowledgeItem::CallDetails,
    ] {
        run(&mut case, Command::RecordKnowledgeAnswer { item, matched: true }, &staff(), T0).unwrap_or_default();
    }
    assert_eq!(case.status, Status::Verifying);
    assert_eq!(
        run(
            &mut case,
            Command::RecordKnowledgeAnswer { item: KnowledgeItem::Name, matched: true },
            &Actor::Customer,
            T0
        ),
        Err(Error::NotPermitted)
    );
}

#[test]
fn sending_a_code_needs_the_channel_and_no_lock() {
    let mut api = case_on(Channel::Api);
    assert_eq!(run(&mut api, send("k1"), &client(), T0), Err(Error::MethodNotAllowed));
    let mut web = case_on(Channel::Web);
    for _ in 0..5 {
        run(&mut web, code(None), &Actor::Customer, T0).unwrap_or_default();
    }
    assert_eq!(
        run(&mut web, send("k1"), &Actor::Customer, T0),
        Err(Error::VerificationLocked { until: Some(T0 + Duration::minutes(30)) })
    );
    assert_eq!(run(&mut web, send("bad id!"), &Actor::Customer, T0 + Duration::hours(1)), Err(Error::InvalidText));
}

#[test]
fn old_agent_attested_events_still_read_and_never_verify_now() {
    let old = r#"{"seq":3,"at":"2026-11-02T09:35:00Z","actor":{"kind":"staff","id":"a"},"type":"identity_verified","method":"agent_attested"}"#;
    let event: Event = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(event.kind, EventKind::IdentityVerified { method: VerificationMethod::AgentAttested, .. }));
    for channel in Channel::ALL {
        assert!(!Policy::default().verification.allows(channel, VerificationMethod::AgentAttested));
    }
    // A command naming it no longer parses.
    let cmd = serde_json::from_str::<Command>(r#"{"type":"verify_identity","method":"agent_attested"}"#);
    assert!(cmd.is_err());
}
