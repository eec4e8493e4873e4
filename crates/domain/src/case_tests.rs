//! Tests of the case state machine: every status, every illegal transition, and a
//! property test driving random command sequences against the invariants.

use super::*;
use crate::chain;
use crate::values::luhn_check_digit;
use proptest::prelude::*;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-02 10:00 UTC);

fn facts(owed: i64, prepaid: i64, device: bool) -> CaseFacts {
    let imei = format!("35693803564380{}", luhn_check_digit("35693803564380"));
    CaseFacts {
        account_id: AccountId::parse("A1").unwrap_or_else(|_| unreachable!()),
        account_kind: AccountKind::Residential,
        line_id: LineId::parse("L1").unwrap_or_else(|_| unreachable!()),
        msisdn: Msisdn::parse("4155550100").unwrap_or_else(|_| unreachable!()),
        iccid: None,
        imsi: Imsi::parse("310260000000001").ok(),
        eid: None,
        plan: Plan::Prepaid,
        line_status: LineStatus::Active,
        language: Language::En,
        billing_cycle_day: 15,
        cancellation_locked: false,
        port_out_locked: false,
        owed: Money::usd(owed),
        prepaid_balance: Money::usd(prepaid),
        device: device.then(|| DeviceFact {
            device_id: DeviceId::parse("D1").unwrap_or_else(|_| unreachable!()),
            imei: Imei::parse(&imei).unwrap_or_else(|_| unreachable!()),
            price: Money::usd(79_900),
            model: "Pixel 9".into(),
        }),
        monthly_charge_cents: 0,
        remaining_installments_cents: 0,
    }
}

fn device_imei() -> Imei {
    Imei::parse(&format!("35693803564380{}", luhn_check_digit("35693803564380"))).unwrap_or_else(|_| unreachable!())
}

/// A case with its full history, driven through decide/apply like the engine does.
#[derive(Clone)]
struct Harness {
    case: Case,
    events: Vec<Event>,
    policy: Policy,
    now: OffsetDateTime,
}

impl Harness {
    fn open(f: CaseFacts, channel: Channel, policy: Policy) -> Harness {
        Harness::open_kind(CaseKind::Cancellation, f, channel, policy)
    }

    fn open_kind(kind: CaseKind, f: CaseFacts, channel: Channel, mut policy: Policy) -> Harness {
        // The state-machine tests verify by PIN on any channel; `verification_tests` checks
        // the default per-channel policy.
        for methods in [&mut policy.verification.methods.web, &mut policy.verification.methods.store] {
            methods.push(VerificationMethod::Pin);
        }
        let req = OpenCase { callback: false, kind, channel, timing: Timing::Immediate, facts: f, note: None };
        let kinds = open(&req, &Actor::Customer, &policy, T0).unwrap_or_else(|e| panic!("open: {e}"));
        let mut events = Vec::new();
        let mut case: Option<Case> = None;
        for (i, kind) in kinds.into_iter().enumerate() {
            let e = Event { seq: i as u64 + 1, at: T0, actor: Actor::Customer, kind };
            match case.as_mut() {
                None => case = Case::from_opened(CaseId::parse("C1").unwrap_or_else(|_| unreachable!()), &e),
                Some(c) => c.apply(&e),
            }
            events.push(e);
        }
        Harness { case: case.unwrap_or_else(|| unreachable!()), events, policy, now: T0 }
    }

    fn try_cmd(&mut self, cmd: Command, actor: Actor) -> Result<Vec<EventKind>, Error> {
        let kinds = decide(&self.case, &cmd, &actor, &self.policy, self.now)?;
        for kind in &kinds {
            let e = Event { seq: self.case.version + 1, at: self.now, actor: actor.clone(), kind: kind.clone() };
            self.case.apply(&e);
            self.events.push(e);
        }
        Ok(kinds)
    }

    fn cmd(&mut self, cmd: Command, actor: Actor) -> &mut Self {
        let name = cmd.name();
        if let Err(e) = self.try_cmd(cmd, actor) {
            panic!("{name} refused in {:?}: {e}", self.case.status);
        }
        self
    }

    fn staff(&mut self, cmd: Command) -> &mut Self {
        self.cmd(cmd, Actor::Staff(ActorId::parse("agent7").unwrap_or_else(|_| unreachable!())))
    }
    fn system(&mut self, cmd: Command) -> &mut Self {
        self.cmd(cmd, Actor::System)
    }
    fn names(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.kind.name()).collect()
    }
}

/// Photo ID checked by staff in a store.
fn photo_id_check() -> Command {
    use crate::verification::{DocumentType, PhotoId};
    let document = PhotoId {
        document_type: DocumentType::DriversLicense,
        last4: "K42Z".into(),
        expires_on: time::macros::date!(2031 - 01 - 31),
    };
    Command::VerifyIdentity { proof: Proof::PhotoId { document }, client: None }
}

fn verify() -> Command {
    Command::VerifyIdentity { proof: Proof::Pin { outcome: PinOutcome::Correct }, client: None }
}

fn no_auto() -> Policy {
    let mut p = Policy::default();
    p.auto_approve.enabled = false;
    p
}

/// One harness per status, reached the way a real case would reach it.
fn in_status(status: Status) -> Harness {
    let mut h = Harness::open(facts(1_000, 20_000, true), Channel::Web, no_auto());
    match status {
        Status::Verifying => {}
        Status::AwaitingPort => {
            h = Harness::open_kind(CaseKind::PortOut, facts(1_000, 0, false), Channel::Web, no_auto());
            h.system(Command::IssueTransferPin { pin_id: "pin1".into() });
        }
        Status::Preparing => {
            h.staff(verify());
        }
        Status::InReview => {
            h.staff(verify())
                .cmd(
                    Command::RecordPayment { amount: Money::usd(1_000), reference: "P1".into(), account_id: None },
                    Actor::Customer,
                )
                .staff(Command::received(device_imei(), DeviceCondition::Good));
        }
        Status::Approved | Status::Terminating | Status::Closing | Status::Closed => {
            h = in_status(Status::InReview);
            h.staff(Command::Approve { note: None });
            if status != Status::Approved {
                h.now += Duration::hours(25);
                h.system(Command::TimerFired { timer: TimerKind::TerminationDue });
            }
            if matches!(status, Status::Closing | Status::Closed) {
                h.system(Command::DeprovisioningConfirmed { effect_id: "e1".into() });
            }
            if status == Status::Closed {
                h.system(Command::RefundIssued { effect_id: "e3".into(), reference: "RF".into() });
                h.system(Command::NoticeDelivered {
                    effect_id: "e2".into(),
                    notice: Notice::Terminated,
                    channel: "sms".into(),
                });
            }
        }
        Status::Rejected => {
            h.staff(Command::Reject { reason: RejectReason::LineNotEligible, note: None });
        }
        Status::Withdrawn => {
            h.cmd(Command::Withdraw, Actor::Customer);
        }
        Status::Expired => {
            h.now += Duration::days(8);
            h.system(Command::TimerFired { timer: TimerKind::VerificationExpiry });
        }
        Status::Frozen => {
            h.cmd(Command::ReportFraud { note: Some("not me".into()) }, Actor::Customer);
        }
    }
    assert_eq!(h.case.status, status, "harness for {status:?}");
    h
}

fn all_commands() -> Vec<(Command, Actor)> {
    let staff = Actor::Staff(ActorId::parse("s1").unwrap_or_else(|_| unreachable!()));
    vec![
        (verify(), staff.clone()),
        (Command::RecordPayment { amount: Money::usd(100), reference: "R".into(), account_id: None }, Actor::Customer),
        (Command::WriteOff { reason: "small".into() }, staff.clone()),
        (Command::received(device_imei(), DeviceCondition::Good), staff.clone()),
        (Command::WaiveDeviceReturn { reason: "lost".into() }, staff.clone()),
        (Command::Approve { note: None }, staff.clone()),
        (Command::Reject { reason: RejectReason::Other, note: None }, staff.clone()),
        (Command::Withdraw, Actor::Customer),
        (Command::ReportFraud { note: None }, Actor::Customer),
        (Command::Close { note: "manual".into() }, staff.clone()),
        (Command::ConfirmOutcome, Actor::Customer),
        (Command::DeprovisioningConfirmed { effect_id: "x".into() }, Actor::System),
        (Command::RefundIssued { effect_id: "x".into(), reference: "r".into() }, Actor::System),
        (Command::IssueTransferPin { pin_id: "p2".into() }, Actor::System),
        (
            Command::RequestPort {
                new_operator: "Other Mobile".into(),
                account_matches: true,
                pin_matches: true,
                port_out_locked: false,
            },
            Actor::System,
        ),
        (Command::Supersede { by_case: CaseId::parse("C9").unwrap_or_else(|_| unreachable!()) }, Actor::System),
    ]
}

/// The commands each status accepts (by name); every other one is an illegal transition.
fn allowed(status: Status) -> &'static [&'static str] {
    match status {
        Status::Verifying => &[
            "verify_identity",
            "record_payment",
            "write_off",
            "receive_device",
            "waive_device_return",
            "reject",
            "withdraw",
            "report_fraud",
            "supersede",
        ],
        Status::Preparing => &[
            "record_payment",
            "write_off",
            "receive_device",
            "waive_device_return",
            "reject",
            "withdraw",
            "report_fraud",
            "supersede",
        ],
        Status::InReview => &["approve", "reject", "withdraw", "report_fraud", "supersede"],
        Status::Approved => &["withdraw", "report_fraud", "supersede"],
        Status::AwaitingPort => &["withdraw", "report_fraud", "issue_transfer_pin", "request_port"],
        Status::Terminating => &["deprovisioning_confirmed"],
        Status::Closing => &["close", "confirm_outcome", "refund_issued"],
        Status::Closed => &["confirm_outcome"],
        Status::Rejected | Status::Withdrawn | Status::Expired | Status::Frozen => &[],
    }
}

#[test]
fn every_status_is_reachable_and_refuses_what_it_must() {
    for status in Status::ALL {
        let h = in_status(status);
        for (cmd, actor) in all_commands() {
            let name = cmd.name();
            let result = decide(&h.case, &cmd, &actor, &h.policy, h.now);
            let illegal = matches!(result, Err(Error::IllegalTransition { .. } | Error::TooLateToWithdraw));
            if allowed(status).contains(&name) {
                assert!(!illegal, "{name} should be allowed in {status:?}: {result:?}");
            } else {
                assert!(illegal, "{name} should be illegal in {status:?}: {result:?}");
            }
        }
    }
}

#[test]
fn prepaid_line_without_device_runs_to_closed_with_auto_approval() {
    let mut h = Harness::open(facts(0, 1_500, false), Channel::Web, Policy::default());
    h.staff(verify());
    assert_eq!(h.case.status, Status::Approved, "auto-approved: {:?}", h.names());
    assert_eq!(h.case.termination_at, Some(T0 + Duration::hours(24)));
    h.now += Duration::hours(24);
    h.system(Command::TimerFired { timer: TimerKind::TerminationDue });
    assert_eq!(h.case.status, Status::Terminating);
    h.system(Command::DeprovisioningConfirmed { effect_id: "e".into() });
    assert_eq!(h.case.status, Status::Closing);
    assert_eq!(h.case.refund_amount, Money::usd(1_500));
    h.system(Command::RefundIssued { effect_id: "r".into(), reference: "RF1".into() });
    h.system(Command::NoticeDelivered { effect_id: "n".into(), notice: Notice::Terminated, channel: "email".into() });
    assert_eq!(h.case.status, Status::Closed);
    assert_eq!(h.case.line_status, LineStatus::Terminated);
    assert_eq!(
        h.names(),
        [
            "opened",
            "identity_verified",
            "review_started",
            "approved",
            "termination_started",
            "deprovisioning_confirmed",
            "terminated",
            "refund_decided",
            "refund_issued",
            "notice_delivered",
            "closed"
        ]
    );
}

#[test]
fn settlement_and_device_return_run_in_parallel_and_gate_review() {
    let mut h = Harness::open(facts(2_000, 0, true), Channel::Store, no_auto());
    // Device received before verification completes, payment after: review waits for both and verification.
    h.staff(Command::received(device_imei(), DeviceCondition::Damaged));
    assert_eq!(h.case.status, Status::Verifying);
    h.staff(verify());
    assert_eq!(h.case.status, Status::Preparing);
    h.cmd(
        Command::RecordPayment { amount: Money::usd(500), reference: "P1".into(), account_id: None },
        Actor::Customer,
    );
    assert_eq!(h.case.settlement, Step::Pending);
    assert_eq!(h.case.owed, Money::usd(1_500));
    h.cmd(
        Command::RecordPayment { amount: Money::usd(1_500), reference: "P2".into(), account_id: None },
        Actor::Customer,
    );
    assert_eq!(h.case.status, Status::InReview);
    // $799 device: $70 restocking + $50 damage.
    assert_eq!(h.case.fees, Money::usd(12_000));
}

#[test]
fn write_off_follows_the_policy_limit() {
    let mut h = Harness::open(facts(400, 0, false), Channel::Web, no_auto());
    h.staff(verify());
    h.staff(Command::WriteOff { reason: "small balance".into() });
    assert_eq!(h.case.status, Status::InReview);
    let mut big = Harness::open(facts(50_000, 0, false), Channel::Web, no_auto());
    big.staff(verify());
    let err = big.try_cmd(Command::WriteOff { reason: "x".into() }, Actor::System);
    assert!(matches!(err, Err(Error::WriteOffNotAllowed { .. })), "{err:?}");
}

#[test]
fn wrong_device_missing_timers_and_permissions() {
    let mut h = in_status(Status::Preparing);
    let other = Imei::parse("490154203237518").unwrap_or_else(|_| unreachable!());
    let r = h.try_cmd(Command::received(other, DeviceCondition::Good), Actor::System);
    // A wrong device is refused and the refusal recorded; the step stays pending.
    assert_eq!(r, Ok(vec![EventKind::DeviceReceiptRefused]));
    assert_eq!(h.case.device_return, Step::Pending);
    // A customer cannot approve or fire timers.
    assert_eq!(h.try_cmd(Command::WaiveDeviceReturn { reason: "x".into() }, Actor::Customer), Err(Error::NotPermitted));
    assert_eq!(
        h.try_cmd(Command::TimerFired { timer: TimerKind::VerificationExpiry }, Actor::Customer),
        Err(Error::NotPermitted)
    );
    // A stale timer does nothing.
    assert_eq!(h.try_cmd(Command::TimerFired { timer: TimerKind::VerificationExpiry }, Actor::System), Ok(vec![]));
    // The device deadline charges the non-return fee and lets the case continue.
    h.system(Command::TimerFired { timer: TimerKind::DeviceReturnDeadline });
    assert_eq!(h.case.device_return, Step::Done);
    assert_eq!(h.case.fees, Money::usd(25_000));
}

#[test]
fn withdrawal_is_refused_once_termination_started() {
    let mut h = in_status(Status::Approved);
    assert_eq!(h.case.line_status, LineStatus::PendingTermination);
    let mut w = h.clone();
    w.cmd(Command::Withdraw, Actor::Customer);
    assert_eq!(w.case.line_status, LineStatus::Active);
    h.now += Duration::hours(25);
    h.system(Command::TimerFired { timer: TimerKind::TerminationDue });
    assert_eq!(h.try_cmd(Command::Withdraw, Actor::Customer), Err(Error::TooLateToWithdraw));
}

#[test]
fn opening_checks_locks_status_and_dates() {
    let p = Policy::default();
    let mut f = facts(0, 0, false);
    f.cancellation_locked = true;
    let req = |f: CaseFacts, timing| OpenCase {
        callback: false,
        kind: CaseKind::Cancellation,
        channel: Channel::Web,
        timing,
        facts: f,
        note: None,
    };
    assert_eq!(open(&req(f.clone(), Timing::Immediate), &Actor::Customer, &p, T0), Err(Error::AccountLocked));
    f.cancellation_locked = false;
    f.line_status = LineStatus::Terminated;
    assert_eq!(
        open(&req(f.clone(), Timing::Immediate), &Actor::Customer, &p, T0),
        Err(Error::LineNotEligible("terminated"))
    );
    f.line_status = LineStatus::Active;
    let past = Timing::OnDate(T0.date() - Duration::days(1));
    assert_eq!(open(&req(f.clone(), past), &Actor::Customer, &p, T0), Err(Error::InvalidDate));
    assert!(open(&req(f, Timing::EndOfCycle), &Actor::Customer, &p, T0).is_ok());
}

#[test]
fn end_of_cycle_and_dates_set_termination_time() {
    assert_eq!(next_cycle_start(T0, 15), datetime!(2026-11-15 0:00 UTC));
    assert_eq!(next_cycle_start(T0, 1), datetime!(2026-12-01 0:00 UTC));
    assert_eq!(next_cycle_start(datetime!(2026-12-20 0:00 UTC), 3), datetime!(2027-01-03 0:00 UTC));
}

#[test]
fn refund_policy_fee_minimum_and_forfeit() {
    let mut p = Policy::default();
    p.refund.fee_cents = 300;
    p.refund.minimum_cents = 500;
    let mut h = Harness::open(facts(0, 700, false), Channel::Web, p.clone());
    assert_eq!(refund_of(&h.case, &p, 0), (Money::usd(0), Money::usd(300), Money::usd(400)));
    h.case.facts.prepaid_balance = Money::usd(5_000);
    assert_eq!(refund_of(&h.case, &p, 0), (Money::usd(4_700), Money::usd(300), Money::usd(0)));
    p.refund.mode = RefundMode::Forfeit;
    assert_eq!(refund_of(&h.case, &p, 0), (Money::usd(0), Money::usd(0), Money::usd(5_000)));
}

// ---- Property test -------------------------------------------------------------------------

fn arb_command() -> impl Strategy<Value = (Command, u8, i64)> {
    let cmd = prop_oneof![
        Just(verify()),
        (1i64..5_000).prop_map(|c| Command::RecordPayment {
            amount: Money::usd(c),
            reference: "P".into(),
            account_id: None
        }),
        Just(Command::WriteOff { reason: "w".into() }),
        prop_oneof![Just(DeviceCondition::Good), Just(DeviceCondition::Broken)]
            .prop_map(|condition| Command::received(device_imei(), condition)),
        Just(Command::WaiveDeviceReturn { reason: "lost".into() }),
        Just(Command::Approve { note: None }),
        Just(Command::Reject { reason: RejectReason::Other, note: None }),
        Just(Command::Withdraw),
        Just(Command::ReportFraud { note: None }),
        Just(Command::Close { note: "c".into() }),
        Just(Command::ConfirmOutcome),
        Just(Command::DeprovisioningConfirmed { effect_id: "d".into() }),
        Just(Command::RefundIssued { effect_id: "r".into(), reference: "R".into() }),
        Just(Command::NoticeDelivered { effect_id: "n".into(), notice: Notice::Terminated, channel: "sms".into() }),
        Just(Command::EffectDeadLettered { effect_id: "x".into(), effect: "notify".into(), error: "e".into() }),
        prop::sample::select(TimerKind::ALL.to_vec()).prop_map(|timer| Command::TimerFired { timer }),
    ];
    // (command, actor selector, hours to advance first)
    (cmd, 0u8..4, 0i64..400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn random_command_sequences_keep_the_invariants(
        owed in 0i64..3_000, prepaid in 0i64..20_000, device in any::<bool>(), auto in any::<bool>(),
        cmds in prop::collection::vec(arb_command(), 0..40),
    ) {
        let mut policy = Policy::default();
        policy.auto_approve.enabled = auto;
        let mut h = Harness::open(facts(owed, prepaid, device), Channel::Web, policy);
        for (cmd, who, hours) in cmds {
            h.now += Duration::hours(hours);
            let actor = match who {
                0 => Actor::Customer,
                1 => Actor::Staff(ActorId::parse("s").unwrap_or_else(|_| unreachable!())),
                2 => Actor::Client(ActorId::parse("t").unwrap_or_else(|_| unreachable!())),
                _ => Actor::System,
            };
            let before = h.clone();
            let terminal_before = before.case.status.is_terminal();
            match h.try_cmd(cmd, actor) {
                Ok(_) => {}
                // A refused command records nothing and changes nothing.
                Err(_) => {
                    prop_assert_eq!(&h.case, &before.case);
                    prop_assert_eq!(h.events.len(), before.events.len());
                }
            }
            // Events only append: the old history is a prefix of the new one.
            prop_assert_eq!(&h.events[..before.events.len()], &before.events[..]);
            // A terminal case stays terminal.
            if terminal_before {
                prop_assert_eq!(h.case.status, before.case.status);
            }
            // The line is terminated exactly when the case ended service.
            prop_assert_eq!(
                h.case.line_status == LineStatus::Terminated,
                matches!(h.case.status, Status::Closing | Status::Closed)
                    || (h.case.status == Status::Closed)
            );
        }
        // The projection equals a replay of the events.
        let replayed = Case::replay(h.case.id.clone(), &h.events);
        prop_assert_eq!(replayed.as_ref(), Some(&h.case));
        prop_assert_eq!(h.case.version, h.events.len() as u64);
        // Events survive serialisation, and their hash chain verifies.
        let mut prev = chain::GENESIS.to_owned();
        let mut links = Vec::new();
        for e in &h.events {
            let body = serde_json::to_string(e).unwrap_or_default();
            let back: Event = serde_json::from_str(&body).unwrap_or_else(|err| panic!("{err}: {body}"));
            prop_assert_eq!(&back, e);
            let hash = chain::event_hash(&prev, h.case.id.as_str(), e.seq, &body);
            links.push(chain::Link { seq: e.seq, body, prev_hash: prev.clone(), hash: hash.clone() });
            prev = hash;
        }
        prop_assert_eq!(chain::verify(h.case.id.as_str(), &links), Ok(()));
    }
}

#[test]
fn a_port_out_ignores_the_unpaid_balance_and_counts_wrong_pins() {
    let mut policy = Policy::default();
    policy.port_out.max_attempts = 2;
    let mut h = Harness::open_kind(CaseKind::PortOut, facts(9_999, 500, false), Channel::Web, policy);
    assert_eq!(h.case.status, Status::AwaitingPort);
    assert_eq!(h.case.settlement, Step::NotNeeded, "an unpaid balance never blocks a port-out");
    h.system(Command::IssueTransferPin { pin_id: "p1".into() });
    let port = |account_matches, pin_matches, port_out_locked| Command::RequestPort {
        new_operator: "Mint".into(),
        account_matches,
        pin_matches,
        port_out_locked,
    };
    h.system(port(true, true, true));
    assert_eq!(h.case.port_attempts, 0, "a lock refusal is not a guess");
    h.system(port(true, false, false));
    h.system(port(false, true, false));
    assert_eq!(h.case.transfer_pin, None, "two wrong attempts void the PIN");
    h.system(port(true, true, false));
    assert_eq!(h.case.status, Status::AwaitingPort, "a void PIN never validates");
    // A new PIN works; the port completes and the line is ported out, not terminated.
    h.system(Command::IssueTransferPin { pin_id: "p2".into() });
    h.system(port(true, true, false));
    assert_eq!(h.case.status, Status::Terminating);
    h.system(Command::DeprovisioningConfirmed { effect_id: "d".into() });
    assert_eq!((h.case.status, h.case.line_status), (Status::Closing, LineStatus::PortedOut));
    assert!(h.names().contains(&"ported_out") && !h.names().contains(&"terminated"));
}

#[test]
fn an_unused_transfer_pin_expires_and_a_port_out_cannot_open_when_locked() {
    let mut h = Harness::open_kind(CaseKind::PortOut, facts(0, 0, false), Channel::Web, Policy::default());
    h.system(Command::IssueTransferPin { pin_id: "p1".into() });
    h.now += Duration::days(7);
    let late = Command::RequestPort {
        new_operator: "Mint".into(),
        account_matches: true,
        pin_matches: true,
        port_out_locked: false,
    };
    h.system(late);
    assert!(matches!(
        h.events.last().map(|e| &e.kind),
        Some(EventKind::PortRequestRefused { reason: PortRefusal::PinExpired, .. })
    ));
    h.system(Command::TimerFired { timer: TimerKind::TransferPinExpiry });
    assert_eq!(h.case.status, Status::Expired);
    let mut f = facts(0, 0, false);
    f.port_out_locked = true;
    let req = OpenCase {
        callback: false,
        kind: CaseKind::PortOut,
        channel: Channel::Web,
        timing: Timing::Immediate,
        facts: f,
        note: None,
    };
    assert_eq!(open(&req, &Actor::Customer, &Policy::default(), T0), Err(Error::AccountLocked));
}

#[test]
fn a_voicemail_callback_must_be_made_within_24_hours() {
    let p = Policy::default();
    let req = OpenCase {
        callback: true,
        kind: CaseKind::Cancellation,
        channel: Channel::Ivr,
        timing: Timing::Immediate,
        facts: facts(0, 0, false),
        note: None,
    };
    let kinds = open(&req, &Actor::Customer, &p, T0).unwrap_or_default();
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EventKind::CallbackRequested { due_at } if *due_at == T0 + Duration::hours(24)))
    );
    let mut h = Harness::open(facts(0, 0, false), Channel::Ivr, p);
    // A case opened without a callback owes none.
    assert_eq!(
        h.try_cmd(Command::RecordCallback, Actor::System),
        Err(Error::IllegalTransition { command: "record_callback", status: "verifying" })
    );
    let callback = EventKind::CallbackRequested { due_at: T0 + Duration::hours(24) };
    let e = Event { seq: h.case.version + 1, at: T0, actor: Actor::Customer, kind: callback };
    h.case.apply(&e);
    h.events.push(e);
    h.now += Duration::hours(24);
    h.system(Command::TimerFired { timer: TimerKind::CallbackDue });
    assert!(h.case.callback_overdue);
    h.staff(Command::RecordCallback);
    assert!(!h.case.callback_pending && !h.case.callback_overdue);
    // Customers cannot mark their own callback as made.
    assert_eq!(h.try_cmd(Command::RecordCallback, Actor::Customer), Err(Error::NotPermitted));
}

#[test]
fn a_replayed_payment_report_is_refused_and_changes_nothing() {
    let mut h = Harness::open(facts(3_000, 0, false), Channel::Web, no_auto());
    h.staff(verify());
    h.cmd(
        Command::RecordPayment { amount: Money::usd(1_000), reference: "PAY-1".into(), account_id: None },
        Actor::System,
    );
    let before = h.case.clone();
    let replay = Command::RecordPayment { amount: Money::usd(1_000), reference: "PAY-1".into(), account_id: None };
    assert_eq!(h.try_cmd(replay, Actor::System), Err(Error::DuplicatePayment));
    assert_eq!(h.case, before);
    assert_eq!(h.case.owed, Money::usd(2_000));
}

proptest! {
    #[test]
    fn a_refund_is_never_negative_and_nothing_is_created_or_lost(
        prepaid in 0i64..1_000_000, credit in 0i64..100_000, fees in 0i64..200_000,
        fee_cents in 0i64..10_000, minimum in 0i64..10_000, forfeit in any::<bool>(),
        bill in -100_000i64..300_000,
    ) {
        let mut p = Policy::default();
        p.refund.fee_cents = fee_cents;
        p.refund.minimum_cents = minimum;
        p.refund.mode = if forfeit { RefundMode::Forfeit } else { RefundMode::Refund };
        let mut h = Harness::open(facts(-credit, prepaid, false), Channel::Web, p.clone());
        h.case.fees = Money::usd(fees);
        let (refund, fee, forfeited) = refund_of(&h.case, &p, bill);
        prop_assert!(refund.cents >= 0 && fee.cents >= 0 && forfeited.cents >= 0);
        // What the customer had (prepaid + credit - device fees - the final bill's net
        // charge, floored at zero) is exactly split between the refund, the refund fee and
        // what is forfeited.
        let had = (prepaid + credit - fees - bill).max(0);
        prop_assert_eq!(refund.cents + fee.cents + forfeited.cents, had);
    }
}

// ---- Final bill and refund method (issue #5) ----------------------------------------------

/// A prepaid case driven to termination under `policy` (no device), at T0 + 25h (Nov 3).
fn terminated_with(policy: Policy, f: CaseFacts, method: Option<crate::policy::RefundMethod>) -> Harness {
    let mut h = Harness::open(f, Channel::Web, policy);
    h.staff(verify());
    if let Some(method) = method {
        h.cmd(Command::ChooseRefundMethod { method }, Actor::Customer);
    }
    if h.case.status == Status::InReview {
        h.staff(Command::Approve { note: None });
    }
    h.now += Duration::hours(25);
    h.system(Command::TimerFired { timer: TimerKind::TerminationDue });
    h.system(Command::DeprovisioningConfirmed { effect_id: "d".into() });
    h
}

// ---- Four-eyes on high-risk cases --------------------------------------------------------

fn reviewer(id: &str) -> Actor {
    Actor::Staff(ActorId::parse(id).unwrap_or_else(|_| unreachable!()))
}

fn risk(score: u32, high: bool) -> crate::fraud::Risk {
    crate::fraud::Risk {
        score,
        high,
        reasons: vec![crate::fraud::RiskReason { code: "recent_sim_change".into(), points: score }],
    }
}

/// A case scored with `risk`, verified, and waiting for review.
fn in_review_with(risk: crate::fraud::Risk) -> Harness {
    let mut h = Harness::open(facts(0, 0, false), Channel::Store, Policy::default());
    h.try_cmd(Command::AssessRisk { risk }, Actor::System).unwrap_or_else(|e| panic!("{e}"));
    h.try_cmd(photo_id_check(), reviewer("S1")).unwrap_or_else(|e| panic!("{e}"));
    h
}

#[test]
fn the_final_bill_credits_unused_days_and_adds_installments_before_the_refund() {
    use crate::billing::BillLineKind;
    use crate::policy::FinalBillMode;
    let mut p = Policy::default();
    p.final_bill.mode = FinalBillMode::ImmediateProrated;
    let mut f = facts(0, 2_000, false);
    // Cycle day 15: service ends Nov 3 in the cycle Oct 15 - Nov 15 (31 days): 20 used days
    // (Oct 15 - Nov 3, the last day counts as used), 11 unused.
    f.monthly_charge_cents = 3_100;
    f.remaining_installments_cents = 500;
    let h = terminated_with(p, f, None);
    let bill = h
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::FinalBillIssued { bill } => Some(bill.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no final bill: {:?}", h.names()));
    assert_eq!((bill.days_in_cycle, bill.unused_days), (31, 11));
    let lines: Vec<_> = bill.lines.iter().map(|l| (l.kind, l.amount.cents)).collect();
    assert_eq!(lines, [(BillLineKind::ProrationCredit, 1_100), (BillLineKind::DeviceInstallments, 500)]);
    // Refund = prepaid 2000 + credit 1100 - installments 500.
    assert_eq!(h.case.refund_amount, Money::usd(2_600));
    let entries: Vec<_> = h
        .events
        .iter()
        .flat_map(|e| crate::ledger::entries_for(&h.case, e.seq, &e.kind))
        .map(|e| (e.kind, e.amount.cents))
        .collect();
    use crate::ledger::EntryKind as K;
    assert_eq!(entries, [(K::Credit, 1_100), (K::Charge, 500)]);
}

#[test]
fn installments_larger_than_the_balance_leave_the_customer_owing_and_refund_nothing() {
    let mut f = facts(0, 2_000, false);
    f.remaining_installments_cents = 30_000;
    let h = terminated_with(Policy::default(), f, None);
    assert_eq!(h.case.refund_amount, Money::usd(0));
    assert!(h.names().contains(&"final_bill_issued"));
    assert!(matches!(
        h.events.iter().find(|e| e.kind.name() == "refund_decided").map(|e| &e.kind),
        Some(EventKind::RefundDecided { refund, .. }) if refund.cents == 0
    ));
}

#[test]
fn the_refund_method_is_chosen_among_the_policy_offers_and_only_before_the_refund() {
    use crate::effects::{Effect, consequences};
    use crate::policy::RefundMethod as M;
    let mut p = Policy::default();
    p.refund.methods = vec![M::OriginalPayment, M::Check, M::AccountCredit];
    // A method the policy does not offer is refused.
    let mut h = Harness::open(facts(0, 2_000, false), Channel::Web, Policy::default());
    assert_eq!(
        h.try_cmd(Command::ChooseRefundMethod { method: M::Check }, Actor::Customer),
        Err(Error::RefundMethodNotOffered)
    );
    // A check: the refund effect carries the method.
    let h = terminated_with(p.clone(), facts(0, 2_000, false), Some(M::Check));
    let decided = h.events.iter().find(|e| e.kind.name() == "refund_decided").unwrap_or_else(|| unreachable!());
    let (effects, _) = consequences(&h.case, &decided.kind, &p);
    assert!(matches!(&effects[..], [Effect::Refund { payout, .. }] if payout.method == M::Check), "{effects:?}");
    // Too late once the refund was decided at termination.
    let mut h = h;
    assert_eq!(
        h.try_cmd(Command::ChooseRefundMethod { method: M::OriginalPayment }, Actor::Customer),
        Err(Error::RefundAlreadyIssued)
    );
    // Account credit: no payout; a refund and a credit entry that cancel out; the refund is done.
    let h = terminated_with(p.clone(), facts(0, 2_000, false), Some(M::AccountCredit));
    assert!(h.names().ends_with(&["refund_decided", "refund_credited"]), "{:?}", h.names());
    assert_eq!(h.case.refund, Step::Done);
    let decided = h.events.iter().find(|e| e.kind.name() == "refund_decided").unwrap_or_else(|| unreachable!());
    assert!(consequences(&h.case, &decided.kind, &p).0.is_empty());
    let net: i64 = h
        .events
        .iter()
        .flat_map(|e| crate::ledger::entries_for(&h.case, e.seq, &e.kind))
        .map(|e| e.kind.sign() * e.amount.cents)
        .sum();
    assert_eq!(net, 0);
}

proptest! {
    /// Through a whole case: whatever the policy, the final bill, the device fees and the
    /// refund (or forfeit) leave the account at zero, or owing exactly what the fees and
    /// charges exceed the customer's money by; the refund is never negative.
    #[test]
    fn the_final_bill_and_refund_create_or_lose_no_value(
        prepaid in 0i64..50_000, credit in 0i64..5_000, monthly in 0i64..20_000, installments in 0i64..60_000,
        device in any::<bool>(), prorated in any::<bool>(), in_advance in any::<bool>(), forfeit in any::<bool>(),
        refund_fee in 0i64..1_000, hours in 24i64..24 * 60,
    ) {
        use crate::policy::FinalBillMode;
        let mut p = Policy::default();
        p.final_bill.mode = if prorated { FinalBillMode::ImmediateProrated } else { FinalBillMode::EndOfCycle };
        p.final_bill.billed_in_advance = in_advance;
        p.refund.mode = if forfeit { RefundMode::Forfeit } else { RefundMode::Refund };
        p.refund.fee_cents = refund_fee;
        let mut f = facts(-credit, prepaid, device);
        f.monthly_charge_cents = monthly;
        f.remaining_installments_cents = installments;
        let mut h = Harness::open(f, Channel::Web, p);
        h.staff(verify());
        if device {
            h.staff(Command::received(device_imei(), DeviceCondition::Damaged));
        }
        if h.case.status == Status::InReview {
            h.staff(Command::Approve { note: None });
        }
        h.now += Duration::hours(hours);
        h.system(Command::TimerFired { timer: TimerKind::TerminationDue });
        h.system(Command::DeprovisioningConfirmed { effect_id: "d".into() });
        if h.case.refund == Step::Pending {
            // The payments worker reports the payout.
            h.system(Command::RefundIssued { effect_id: "r".into(), reference: "RF-1".into() });
        }
        let entries: Vec<_> = h.events.iter().flat_map(|e| crate::ledger::entries_for(&h.case, e.seq, &e.kind)).collect();
        prop_assert!(entries.iter().all(|e| e.amount.cents > 0));
        let opening = Money::usd(-(prepaid + credit));
        let end = crate::ledger::balance(opening, &entries).cents;
        // What the customer's money could not cover: device fees and the final bill's net charge.
        let bill = h.case.final_bill_cents;
        let available = prepaid + credit - h.case.fees.cents - bill;
        prop_assert_eq!(end, (-available).max(0));
        prop_assert!(h.case.refund_amount.cents >= 0);
        prop_assert!(h.case.refund_amount.cents <= available.max(0));
    }
}

#[test]
fn a_port_out_gets_its_final_bill_too() {
    let mut f = facts(0, 1_000, false);
    f.remaining_installments_cents = 400;
    let mut h = Harness::open_kind(CaseKind::PortOut, f, Channel::Web, Policy::default());
    h.system(Command::IssueTransferPin { pin_id: "pin1".into() });
    h.system(Command::RequestPort {
        new_operator: "Other Mobile".into(),
        account_matches: true,
        pin_matches: true,
        port_out_locked: false,
    });
    h.system(Command::DeprovisioningConfirmed { effect_id: "d".into() });
    assert!(h.names().ends_with(&["ported_out", "final_bill_issued", "refund_decided"]), "{:?}", h.names());
    assert_eq!((h.case.final_bill_cents, h.case.refund_amount), (400, Money::usd(600)));
}

#[test]
fn a_high_risk_case_is_never_approved_by_rule() {
    let h = in_review_with(risk(70, true));
    assert_eq!(h.case.status, Status::InReview);
    assert_eq!(h.case.risk.as_ref().map(|r| r.score), Some(70));
}

#[test]
fn a_high_risk_case_needs_two_different_reviewers() {
    let mut h = in_review_with(risk(70, true));
    let first = h.try_cmd(Command::Approve { note: None }, reviewer("S1")).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(first.as_slice(), [EventKind::ApprovalRecorded { .. }]));
    assert_eq!(h.case.status, Status::InReview);
    let again = h.try_cmd(Command::Approve { note: None }, reviewer("S1"));
    assert_eq!(again.map_err(|e| e.code()), Err("same_reviewer"));
    assert_eq!(h.case.status, Status::InReview);
    h.try_cmd(Command::Approve { note: Some("checked ID twice".into()) }, reviewer("S2"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.case.status, Status::Approved);
}

#[test]
fn the_system_cannot_be_a_reviewer_of_a_high_risk_case() {
    let mut h = in_review_with(risk(70, true));
    let r = h.try_cmd(Command::Approve { note: None }, Actor::System);
    assert_eq!(r.map_err(|e| e.code()), Err("not_permitted"));
}

#[test]
fn a_low_risk_case_needs_one_reviewer() {
    let mut policy = Policy::default();
    policy.auto_approve.enabled = false;
    let mut h = Harness::open(facts(0, 0, false), Channel::Store, policy);
    h.try_cmd(Command::AssessRisk { risk: risk(10, false) }, Actor::System).unwrap_or_else(|e| panic!("{e}"));
    h.try_cmd(photo_id_check(), reviewer("S1")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.case.status, Status::InReview);
    h.try_cmd(Command::Approve { note: None }, reviewer("S1")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.case.status, Status::Approved);
}

#[test]
fn the_same_risk_twice_records_nothing_and_only_the_system_assesses() {
    let mut h = Harness::open(facts(0, 0, false), Channel::Store, Policy::default());
    assert_eq!(h.try_cmd(Command::AssessRisk { risk: risk(10, false) }, Actor::System).map(|k| k.len()), Ok(1));
    assert_eq!(h.try_cmd(Command::AssessRisk { risk: risk(10, false) }, Actor::System).map(|k| k.len()), Ok(0));
    let r = h.try_cmd(Command::AssessRisk { risk: risk(99, true) }, reviewer("S1"));
    assert_eq!(r.map_err(|e| e.code()), Err("not_permitted"));
}

#[test]
fn cpni_opens_with_a_verified_open_case_and_closes_after_the_window() {
    let policy = Policy::default();
    let h = Harness::open(facts(0, 0, false), Channel::Store, policy.clone());
    assert!(!crate::fraud::cpni_open([&h.case], &policy.fraud, T0));
    let mut v = h.clone();
    v.try_cmd(photo_id_check(), reviewer("S1")).unwrap_or_else(|e| panic!("{e}"));
    assert!(crate::fraud::cpni_open([&v.case], &policy.fraud, T0));
    v.try_cmd(Command::Withdraw, Actor::Customer).unwrap_or_else(|e| panic!("{e}"));
    assert!(crate::fraud::cpni_open([&v.case], &policy.fraud, T0 + Duration::minutes(29)));
    assert!(!crate::fraud::cpni_open([&v.case], &policy.fraud, T0 + Duration::minutes(30)));
}
