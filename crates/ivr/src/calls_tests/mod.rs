//! Whole calls through the FastAGI server, played by a scripted Asterisk, against an
//! engine on a temporary SQLite database.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use crate::IvrConfig;
use crate::menu::status_prompt;
use lineout_app::{LineRef, OpenRequest};
use lineout_domain::case::{Actor, CaseKind, Command, EventKind, Step, TimerKind, VerificationMethod};
use lineout_domain::values::CaseId;
use lineout_domain::{Channel, Status, Timing};
use std::time::Duration;
use support::{Asterisk, PIN, config, line_id, national, number, start};
use time::Duration as Span;

/// Cancels line `n` by phone in English, from the line's own number; returns the reference heard.
async fn cancel_in_english(call: &mut Asterisk, n: u32) -> String {
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.hear("en/confirm-cancel-number").await;
    call.answer(&format!("SAY DIGITS {} \"\"", national(n)), "200 result=0").await;
    call.key("en/confirm", 1, "1").await;
    call.hear("en/request-received").await;
    let reference = call.say_alpha().await;
    call.hear("en/reference-repeat").await;
    assert_eq!(call.say_alpha().await, reference, "the reference is read twice");
    call.hear("en/confirmation-sent").await;
    call.hear("en/goodbye").await;
    call.hung_up_by_server().await;
    reference
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_in_english_opens_a_verified_ivr_case() {
    let mut h = start(config()).await;
    let mut call = h.call(&number(1)).await;
    let reference = cancel_in_english(&mut call, 1).await;

    let case = h.engine.case(CaseId::parse(&reference).unwrap()).await.unwrap();
    assert_eq!(case.channel, Channel::Ivr);
    assert_eq!(case.facts.line_id, line_id(1));
    assert_eq!(case.verification, Step::Done);
    assert_eq!(case.verification_method, Some(VerificationMethod::Pin));
    assert_eq!(case.timing, Timing::Immediate);
    assert!(!case.callback_pending);
    let detail = h.engine.case_detail(case.id.clone()).await.unwrap();
    assert_eq!(detail.events[0].actor, Actor::Customer);
    assert!(matches!(detail.events[0].kind, EventKind::Opened { channel: Channel::Ivr, .. }));
    assert!(detail.events.iter().any(|e| matches!(
        e.kind,
        EventKind::IdentityVerified { method: VerificationMethod::Pin, channel: Some(Channel::Ivr), .. }
    )));
    assert_eq!(h.case_count().await, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_in_chinese_from_an_anonymous_caller_keys_the_number() {
    let mut h = start(config()).await;
    let mut call = h.call("anonymous").await;
    call.chinese().await;
    call.key("zh/main-menu", 1, "3").await;
    // A short number is refused, then the number is keyed in full (the timeout keeps the digits).
    call.key("zh/enter-number", 15, "555").await;
    call.hear("zh/invalid-number").await;
    call.answer("GET DATA lineout/zh/enter-number 6000 15", &format!("200 result={} (timeout)", national(2))).await;
    call.key("zh/enter-pin", 16, PIN).await;
    call.hear("zh/confirm-cancel-number").await;
    call.answer(&format!("SAY DIGITS {} \"\"", national(2)), "200 result=0").await;
    call.key("zh/confirm", 1, "1").await;
    call.hear("zh/request-received").await;
    let reference = call.say_alpha().await;
    call.hear("zh/reference-repeat").await;
    assert_eq!(call.say_alpha().await, reference);
    call.hear("zh/confirmation-sent").await;
    call.hear("zh/goodbye").await;
    call.hung_up_by_server().await;

    let case = h.engine.case(CaseId::parse(&reference).unwrap()).await.unwrap();
    assert_eq!((case.channel, case.facts.line_id.clone()), (Channel::Ivr, line_id(2)));
    assert_eq!(case.verification_method, Some(VerificationMethod::Pin));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pins_count_down_to_the_lock_and_the_lock_outlives_the_call() {
    let mut h = start(config()).await;
    let mut call = h.call(&number(1)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    for left in (1..=4).rev() {
        call.key("en/enter-pin", 16, "9999").await;
        call.hear("en/pin-wrong").await;
        call.answer(&format!("SAY DIGITS {left} \"\""), "200 result=0").await;
    }
    call.key("en/enter-pin", 16, "9999").await;
    call.hear("en/pin-locked").await;
    call.hear("en/goodbye").await;
    call.hung_up_by_server().await;

    // Even the right PIN is refused while the lock lasts, on a new call.
    let mut again = h.call(&number(1)).await;
    again.english().await;
    again.key("en/main-menu", 1, "4").await;
    again.key("en/enter-pin", 16, PIN).await;
    again.hear("en/pin-locked").await;
    again.hear("en/goodbye").await;
    again.hung_up_by_server().await;

    // After the lock, the right PIN works again.
    h.clock.advance(Span::minutes(31));
    let mut later = h.call(&number(1)).await;
    later.english().await;
    later.key("en/main-menu", 1, "4").await;
    later.key("en/enter-pin", 16, PIN).await;
    later.hear("en/no-open-request").await;
    later.hear("en/goodbye").await;
    later.hung_up_by_server().await;
    assert_eq!(h.case_count().await, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_before_confirming_leaves_no_case() {
    let mut h = start(config()).await;
    // Hung up during the confirmation question: GET DATA fails, then Asterisk's notice.
    let mut call = h.call(&number(1)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.hear("en/confirm-cancel-number").await;
    call.answer(&format!("SAY DIGITS {} \"\"", national(1)), "200 result=0").await;
    call.answer("GET DATA lineout/en/confirm 6000 1", "200 result=-1\nHANGUP").await;
    call.expect_end().await;

    // Hung up while the number was read back: the notice comes in place of the reply.
    let mut call = h.call(&number(1)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.hear("en/confirm-cancel-number").await;
    call.answer(&format!("SAY DIGITS {} \"\"", national(1)), "HANGUP").await;
    call.expect_end().await;

    // The connection drops with no word.
    let mut call = h.call(&number(1)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.expect("GET DATA lineout/en/enter-pin 6000 16").await;
    drop(call);

    h.stop().await;
    assert_eq!(h.case_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_then_withdrawal_by_phone() {
    let mut h = start(config()).await;
    let mut first = h.call(&number(1)).await;
    let reference = cancel_in_english(&mut first, 1).await;
    let status = h.engine.case(CaseId::parse(&reference).unwrap()).await.unwrap().status;
    assert!(matches!(status, Status::Preparing | Status::InReview | Status::Approved), "{status:?}");

    let mut call = h.call(&number(1)).await;
    call.english().await;
    call.key("en/main-menu", 1, "4").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.hear("en/status-intro").await;
    assert_eq!(call.say_alpha().await, reference);
    call.hear(&format!("en/{}", status_prompt(status).name())).await;
    call.key("en/withdraw-offer", 1, "7").await;
    call.hear("en/invalid").await;
    call.key("en/withdraw-offer", 1, "9").await;
    call.hear("en/withdrawn").await;
    call.hear("en/goodbye").await;
    call.hung_up_by_server().await;

    let case = h.engine.case(CaseId::parse(&reference).unwrap()).await.unwrap();
    assert_eq!(case.status, Status::Withdrawn);
    let detail = h.engine.case_detail(case.id).await.unwrap();
    let last = detail.events.last().unwrap();
    assert_eq!((&last.kind, &last.actor), (&EventKind::Withdrawn, &Actor::Customer));

    // Asking to cancel again opens a new case (the withdrawn one is over).
    let mut again = h.call(&number(1)).await;
    assert_ne!(cancel_in_english(&mut again, 1).await, reference);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_cancellation_hears_the_open_cases_status() {
    let mut h = start(config()).await;
    let mut first = h.call(&number(1)).await;
    let reference = cancel_in_english(&mut first, 1).await;
    let status = h.engine.case(CaseId::parse(&reference).unwrap()).await.unwrap().status;

    let mut call = h.call(&number(1)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.hear("en/confirm-cancel-number").await;
    call.answer(&format!("SAY DIGITS {} \"\"", national(1)), "200 result=0").await;
    call.key("en/confirm", 1, "1").await;
    call.hear("en/already-open").await;
    call.hear("en/status-intro").await;
    assert_eq!(call.say_alpha().await, reference);
    call.hear(&format!("en/{}", status_prompt(status).name())).await;
    call.key("en/withdraw-offer", 1, "1").await;
    call.hear("en/goodbye").await;
    call.hung_up_by_server().await;
    assert_eq!(h.case_count().await, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_request_opens_an_unverified_case_with_the_24_hour_timer() {
    let mut h = start(config()).await;
    let mut call = h.call(&number(2)).await;
    call.english().await;
    call.key("en/main-menu", 1, "5").await;
    call.hear("en/confirm-callback-number").await;
    call.answer(&format!("SAY DIGITS {} \"\"", national(2)), "200 result=0").await;
    call.key("en/confirm", 1, "1").await;
    call.hear("en/callback-received").await;
    let reference = call.say_alpha().await;
    call.hear("en/reference-repeat").await;
    assert_eq!(call.say_alpha().await, reference);
    call.hear("en/goodbye").await;
    call.hung_up_by_server().await;

    let detail = h.engine.case_detail(CaseId::parse(&reference).unwrap()).await.unwrap();
    let case = &detail.case;
    assert_eq!((case.channel, case.status), (Channel::Ivr, Status::Verifying));
    assert!(case.callback_pending);
    assert_eq!(case.verification_method, None, "a callback request is not verified");
    let due = detail.timers.iter().find(|t| t.kind == TimerKind::CallbackDue).expect("callback timer");
    assert_eq!(due.due_at, case.opened_at + Span::hours(24));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_pin_the_caller_is_offered_a_callback_or_an_agent() {
    // No agent queue: the callback request is offered.
    let mut h = start(config()).await;
    let mut call = h.call(&number(3)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.hear("en/no-pin").await;
    call.key("en/no-pin-callback", 1, "5").await;
    call.hear("en/confirm-callback-number").await;
    call.answer(&format!("SAY DIGITS {} \"\"", national(3)), "200 result=0").await;
    call.key("en/confirm", 1, "2").await;
    call.hear("en/not-changed").await;
    call.hear("en/goodbye").await;
    call.hung_up_by_server().await;
    assert_eq!(h.case_count().await, 0, "the caller stopped at the confirmation");
    h.stop().await;

    // With an agent queue: transferred.
    let mut h = start(IvrConfig { agent_dial: Some("PJSIP/agents".into()), ..config() }).await;
    let mut call = h.call(&number(3)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.hear("en/no-pin").await;
    call.hear("en/transfer").await;
    call.answer("EXEC Dial PJSIP/agents", "200 result=0").await;
    call.hung_up_by_server().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_account_is_told_so() {
    let mut h = start(config()).await;
    let mut call = h.call(&number(4)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.hear("en/confirm-cancel-number").await;
    call.answer(&format!("SAY DIGITS {} \"\"", national(4)), "200 result=0").await;
    call.key("en/confirm", 1, "1").await;
    call.hear("en/cancellation-locked").await;
    call.hear("en/goodbye").await;
    call.hung_up_by_server().await;
    assert_eq!(h.case_count().await, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_at_the_menu_ends_in_a_transfer_after_three_re_prompts() {
    let mut h = start(IvrConfig { agent_dial: Some("PJSIP/agents".into()), ..config() }).await;
    let mut call = h.call("unknown").await;
    call.english().await;
    for _ in 0..3 {
        call.key("en/main-menu", 1, " (timeout)").await;
        call.hear("en/no-input").await;
    }
    call.key("en/main-menu", 1, " (timeout)").await;
    call.hear("en/transfer").await;
    // The agent's call lasts longer than a line may: only the call's limit applies.
    call.expect("EXEC Dial PJSIP/agents").await;
    call.send("200 result=0\n").await;
    call.hung_up_by_server().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_lines_hang_up_cleanly() {
    let mut h = start(config()).await;
    // Not AGI at all.
    let mut call = Asterisk::connect(h.addr).await;
    call.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    call.expect("HANGUP").await;
    call.expect_end().await;

    // A variable line longer than max_line_bytes, without or with its newline.
    let mut call = Asterisk::connect(h.addr).await;
    call.send(&format!("agi_network: yes\nagi_callerid: {}", "1".repeat(5000))).await;
    call.expect("HANGUP").await;
    call.expect_end().await;

    // A reply that is not one.
    let mut call = h.call(&number(1)).await;
    call.answer("ANSWER", "hello there").await;
    call.expect("HANGUP").await;
    call.expect_end().await;

    // A reply line longer than max_line_bytes.
    let mut call = h.call(&number(1)).await;
    call.answer("ANSWER", &format!("200 result=0 {}", "x".repeat(5000))).await;
    call.expect("HANGUP").await;
    call.expect_end().await;

    // Keys that no phone has, and a reply that does not fit the command.
    let mut call = h.call(&number(1)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3; DROP TABLE").await;
    call.expect("HANGUP").await;
    call.expect_end().await;

    // Asterisk refusing a command (usage on several lines) ends the call too.
    let mut call = h.call(&number(1)).await;
    call.answer(
        "ANSWER",
        "520-Invalid command syntax.  Proper usage follows:\n Usage: ANSWER\n520 End of proper usage.",
    )
    .await;
    call.expect("HANGUP").await;
    call.expect_end().await;

    h.stop().await;
    assert_eq!(h.case_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_script_is_refused_without_a_command() {
    let mut h = start(config()).await;
    let mut call = Asterisk::dial(h.addr, "voicemail", &number(1)).await;
    call.expect_end().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_hung_up_after_the_line_timeout() {
    let quick =
        IvrConfig { line_timeout: Duration::from_millis(300), input_timeout: Duration::from_millis(100), ..config() };
    let mut h = start(quick).await;
    // Says nothing at all.
    let mut call = Asterisk::connect(h.addr).await;
    call.expect("HANGUP").await;
    call.expect_end().await;
    // Sends its variables, then never answers.
    let mut call = h.call(&number(1)).await;
    call.expect("ANSWER").await;
    call.expect("HANGUP").await;
    call.expect_end().await;
    // Half a variable line, then silence.
    let mut call = Asterisk::connect(h.addr).await;
    call.send("agi_network: y").await;
    call.expect("HANGUP").await;
    call.expect_end().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_max_calls_are_refused_and_the_others_complete() {
    let mut h = start(IvrConfig { max_calls: 2, ..config() }).await;
    // Two calls hold both slots (each is answered, so the server has taken it).
    let mut held = Vec::new();
    for n in [5, 6] {
        let mut call = h.call(&number(n)).await;
        call.expect("ANSWER").await;
        held.push((n, call));
    }
    // Many more at once: each hears "busy" in both languages, or is simply closed when
    // as many are already being refused; at least the first is told.
    let extra: Vec<_> = (0..6)
        .map(|_| {
            let addr = h.addr;
            tokio::spawn(async move {
                let mut call = Asterisk::dial(addr, "hotline", "unknown").await;
                match call.next().await.as_deref() {
                    None => false,
                    Some("ANSWER") => {
                        call.send("200 result=0\n").await;
                        call.hear("en/busy").await;
                        call.hear("zh/busy").await;
                        call.hung_up_by_server().await;
                        true
                    }
                    Some(other) => panic!("unexpected {other}"),
                }
            })
        })
        .collect();
    let mut told = 0;
    for task in extra {
        told += usize::from(task.await.unwrap());
    }
    assert!(told >= 1, "refused calls are told so");
    assert_eq!(h.case_count().await, 0);

    // The held calls go on to the end.
    let mut done = Vec::new();
    for (n, mut call) in held {
        done.push(tokio::spawn(async move {
            call.send("200 result=0\n").await;
            call.answer("STREAM FILE lineout/en/language \"12\"", "200 result=49 endpos=5120").await;
            call.hear("en/welcome").await;
            call.key("en/main-menu", 1, "3").await;
            call.key("en/enter-pin", 16, PIN).await;
            call.hear("en/confirm-cancel-number").await;
            call.answer(&format!("SAY DIGITS {} \"\"", national(n)), "200 result=0").await;
            call.key("en/confirm", 1, "1").await;
            call.hear("en/request-received").await;
            call.say_alpha().await;
            call.hear("en/reference-repeat").await;
            call.say_alpha().await;
            call.hear("en/confirmation-sent").await;
            call.hear("en/goodbye").await;
            call.hung_up_by_server().await;
        }));
    }
    for task in done {
        task.await.unwrap();
    }
    assert_eq!(h.case_count().await, 2);
    for n in [5, 6] {
        assert!(h.engine.open_case_of_line(line_id(n)).await.unwrap().is_some());
    }

    // The slots are free again.
    let mut call = h.call(&number(7)).await;
    call.english().await;
    call.key("en/main-menu", 1, "3").await;
    call.key("en/enter-pin", 16, PIN).await;
    call.expect("STREAM FILE lineout/en/confirm-cancel-number \"\"").await;
    call.send("HANGUP\n").await;
    call.expect_end().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_opened_by_phone_differs_from_one_opened_online_only_by_its_channel() {
    let mut h = start(config()).await;
    let mut call = h.call(&number(1)).await;
    let by_phone = CaseId::parse(&cancel_in_english(&mut call, 1).await).unwrap();

    let request = OpenRequest {
        kind: CaseKind::Cancellation,
        line: LineRef::Id(line_id(2)),
        channel: Channel::Web,
        timing: Timing::Immediate,
        note: None,
        callback: false,
    };
    let online = h.engine.open_case(request, Actor::Customer).await.unwrap().id;
    let verify = Command::VerifyIdentity {
        proof: lineout_domain::case::Proof::Pin { outcome: lineout_domain::case::PinOutcome::Correct },
        client: None,
    };
    // The caller proved the PIN: the verification is the customer's, as on the phone.
    h.engine.command(online.clone(), verify, Actor::Customer).await.unwrap();

    let phone = h.engine.case_detail(by_phone.clone()).await.unwrap();
    let web = h.engine.case_detail(online.clone()).await.unwrap();
    // The same case, once id, channel and line are set aside.
    let mut normal = web.case.clone();
    normal.id = phone.case.id.clone();
    normal.channel = Channel::Ivr;
    normal.facts.line_id = phone.case.facts.line_id.clone();
    normal.facts.msisdn = phone.case.facts.msisdn.clone();
    assert_eq!(normal, phone.case);
    // The same timeline: events, their actors and times.
    assert_eq!(phone.events.len(), web.events.len());
    for (p, w) in phone.events.iter().zip(&web.events) {
        assert_eq!((p.seq, p.at, &p.actor), (w.seq, w.at, &w.actor));
        match (&p.kind, &w.kind) {
            (
                EventKind::Opened { kind, channel: Channel::Ivr, timing, facts, note },
                EventKind::Opened { kind: wk, channel: Channel::Web, timing: wt, facts: wf, note: wn },
            ) => {
                assert_eq!((kind, timing, note), (wk, wt, wn));
                assert_eq!(facts.account_id, wf.account_id);
            }
            // The verification record names the channel too.
            (
                EventKind::IdentityVerified { method, channel: Some(Channel::Ivr), client, code_id, photo_id },
                EventKind::IdentityVerified {
                    method: wm,
                    channel: Some(Channel::Web),
                    client: wc,
                    code_id: wi,
                    photo_id: wp,
                },
            ) => assert_eq!((method, client, code_id, photo_id), (wm, wc, wi, wp)),
            (pk, wk) => assert_eq!(pk, wk),
        }
    }
    // The same timers and effects.
    let timers = |d: &lineout_app::CaseDetail| d.timers.iter().map(|t| (t.kind, t.due_at)).collect::<Vec<_>>();
    assert_eq!(timers(&phone), timers(&web));
    let effects = |d: &lineout_app::CaseDetail| {
        d.outbox
            .iter()
            .map(|o| (o.kind.clone(), o.id.split_once('.').map(|(_, rest)| rest.to_owned())))
            .collect::<Vec<_>>()
    };
    assert_eq!(effects(&phone), effects(&web));
    h.stop().await;
}
