//! The menu driven event by event, and explored exhaustively.

use super::*;
use crate::prompts::PROMPTS;
use std::collections::{HashSet, VecDeque};
use time::macros::datetime;

fn settings(agent: Option<&str>) -> MenuSettings {
    MenuSettings { max_retries: 3, input_timeout_ms: 6000, agent_dial: agent.map(str::to_owned) }
}

fn number() -> Msisdn {
    Msisdn::parse("+14152000101").unwrap()
}
fn line() -> LineId {
    LineId::parse("L1").unwrap()
}
fn case_id() -> CaseId {
    CaseId::parse("C000007").unwrap()
}

fn play(prompt: Prompt, lang: Lang) -> Action {
    Action::Agi(Command::Play { prompt, lang, escape: "" })
}
fn ask(prompt: Prompt, lang: Lang, max_digits: u8) -> Action {
    Action::Agi(Command::Ask { prompt, lang, timeout_ms: 6000, max_digits })
}
fn keys(k: &str) -> Event {
    Event::Digits(k.into())
}
fn engine(reply: Reply) -> Event {
    Event::Engine(reply)
}

/// Feeds events one by one, checking each action.
fn script(menu: &mut Menu, steps: Vec<(Event, Action)>) {
    for (i, (event, expected)) in steps.into_iter().enumerate() {
        let got = menu.on(event.clone());
        assert_eq!(got, expected, "step {i}: after {event:?}");
    }
}

/// Answer, choose English with the key that interrupts the language prompt, main menu.
fn to_main_menu(menu: &mut Menu) {
    assert_eq!(menu.start(), Action::Agi(Command::Answer));
    script(
        menu,
        vec![
            (Event::Done, Action::Agi(Command::Play { prompt: Prompt::Language, lang: Lang::En, escape: "12" })),
            (keys("1"), play(Prompt::Welcome, Lang::En)),
            (Event::Done, ask(Prompt::MainMenu, Lang::En, 1)),
        ],
    );
}

#[test]
fn a_cancellation_from_the_callers_own_number() {
    let mut menu = Menu::new(settings(None), Some(number()));
    to_main_menu(&mut menu);
    script(
        &mut menu,
        vec![
            (keys("3"), Action::Engine(Request::FindLine(number()))),
            (engine(Reply::Line(Some((line(), number())))), ask(Prompt::EnterPin, Lang::En, 16)),
            (keys("1234"), Action::Engine(Request::CheckPin { line: line(), pin: Pin("1234".into()) })),
            (engine(Reply::Pin(PinCheck::Correct)), play(Prompt::ConfirmCancelNumber, Lang::En)),
            (Event::Done, Action::Agi(Command::SayDigits("4152000101".into()))),
            (Event::Done, ask(Prompt::Confirm, Lang::En, 1)),
            (keys("1"), Action::Engine(Request::OpenVerified { line: line() })),
            (engine(Reply::Opened(Ok(case_id()))), play(Prompt::RequestReceived, Lang::En)),
            (Event::Done, Action::Agi(Command::SayAlpha("C000007".into()))),
            (Event::Done, play(Prompt::ReferenceRepeat, Lang::En)),
            (Event::Done, Action::Agi(Command::SayAlpha("C000007".into()))),
            (Event::Done, play(Prompt::ConfirmationSent, Lang::En)),
            (Event::Done, play(Prompt::Goodbye, Lang::En)),
            (Event::Done, Action::Agi(Command::Hangup)),
            (Event::Done, Action::Close),
        ],
    );
    assert_eq!(menu.outcome(), Outcome::CancellationRequested);
}

#[test]
fn chinese_callers_hear_chinese_and_an_unknown_caller_keys_the_number() {
    let mut menu = Menu::new(settings(None), None);
    assert_eq!(menu.start(), Action::Agi(Command::Answer));
    script(
        &mut menu,
        vec![
            (Event::Done, Action::Agi(Command::Play { prompt: Prompt::Language, lang: Lang::En, escape: "12" })),
            (Event::Done, ask(Prompt::Language, Lang::Zh, 1)),
            (keys("2"), play(Prompt::Welcome, Lang::Zh)),
            (Event::Done, ask(Prompt::MainMenu, Lang::Zh, 1)),
            (keys("3"), ask(Prompt::EnterNumber, Lang::Zh, 15)),
            (keys("12"), play(Prompt::InvalidNumber, Lang::Zh)),
            (Event::Done, ask(Prompt::EnterNumber, Lang::Zh, 15)),
            // Digits keyed before the timeout count.
            (Event::Timeout("4152000101".into()), Action::Engine(Request::FindLine(number()))),
            (engine(Reply::Line(None)), play(Prompt::NumberNotFound, Lang::Zh)),
            (Event::Done, ask(Prompt::EnterNumber, Lang::Zh, 15)),
            (keys("4152000101"), Action::Engine(Request::FindLine(number()))),
            (engine(Reply::Line(Some((line(), number())))), ask(Prompt::EnterPin, Lang::Zh, 16)),
        ],
    );
    assert_eq!(menu.lang(), Lang::Zh);
}

#[test]
fn silence_re_prompts_three_times_then_transfers_to_an_agent() {
    let mut menu = Menu::new(settings(Some("PJSIP/agents")), None);
    to_main_menu(&mut menu);
    let mut steps = Vec::new();
    for _ in 0..3 {
        steps.push((Event::Timeout(String::new()), play(Prompt::NoInput, Lang::En)));
        steps.push((Event::Done, ask(Prompt::MainMenu, Lang::En, 1)));
    }
    steps.extend([
        (Event::Timeout(String::new()), play(Prompt::Transfer, Lang::En)),
        (Event::Done, Action::Agi(Command::Dial("PJSIP/agents".into()))),
        (Event::Done, Action::Agi(Command::Hangup)),
        (Event::Done, Action::Close),
    ]);
    script(&mut menu, steps);
    assert_eq!(menu.outcome(), Outcome::GaveUp);
    assert!(menu.transferred());
}

#[test]
fn wrong_keys_re_prompt_then_goodbye_without_an_agent() {
    let mut menu = Menu::new(settings(None), None);
    to_main_menu(&mut menu);
    let mut steps = Vec::new();
    for _ in 0..3 {
        steps.push((keys("7"), play(Prompt::Invalid, Lang::En)));
        steps.push((Event::Done, ask(Prompt::MainMenu, Lang::En, 1)));
    }
    steps.extend([
        (keys("#"), play(Prompt::Goodbye, Lang::En)),
        (Event::Done, Action::Agi(Command::Hangup)),
        (Event::Done, Action::Close),
    ]);
    script(&mut menu, steps);
    assert!(!menu.transferred());
}

#[test]
fn wrong_pins_say_the_attempts_left_until_the_lock() {
    let mut menu = Menu::new(settings(None), Some(number()));
    to_main_menu(&mut menu);
    let pin = |p: &str| Action::Engine(Request::CheckPin { line: line(), pin: Pin(p.into()) });
    let mut steps = vec![
        (keys("3"), Action::Engine(Request::FindLine(number()))),
        (engine(Reply::Line(Some((line(), number())))), ask(Prompt::EnterPin, Lang::En, 16)),
    ];
    // More wrong PINs than re-prompts: the engine's lock decides, not max_retries.
    for left in (1..=4).rev() {
        steps.push((keys("0000"), pin("0000")));
        steps.push((engine(Reply::Pin(PinCheck::Wrong { attempts_left: left })), play(Prompt::PinWrong, Lang::En)));
        steps.push((Event::Done, Action::Agi(Command::SayDigits(left.to_string()))));
        steps.push((Event::Done, ask(Prompt::EnterPin, Lang::En, 16)));
    }
    steps.extend([
        (keys("0000"), pin("0000")),
        (
            engine(Reply::Pin(PinCheck::Locked { until: datetime!(2026-11-02 10:00 UTC) })),
            play(Prompt::PinLocked, Lang::En),
        ),
        (Event::Done, play(Prompt::Goodbye, Lang::En)),
        (Event::Done, Action::Agi(Command::Hangup)),
    ]);
    script(&mut menu, steps);
    assert_eq!(menu.outcome(), Outcome::PinLocked);
}

#[test]
fn a_pin_with_a_star_is_an_invalid_entry_not_a_check() {
    let mut menu = Menu::new(settings(None), Some(number()));
    to_main_menu(&mut menu);
    script(
        &mut menu,
        vec![
            (keys("4"), Action::Engine(Request::FindLine(number()))),
            (engine(Reply::Line(Some((line(), number())))), ask(Prompt::EnterPin, Lang::En, 16)),
            (keys("12*4"), play(Prompt::Invalid, Lang::En)),
            (Event::Done, ask(Prompt::EnterPin, Lang::En, 16)),
        ],
    );
}

#[test]
fn without_a_pin_a_cancellation_is_offered_as_a_callback_request() {
    let mut menu = Menu::new(settings(None), Some(number()));
    to_main_menu(&mut menu);
    script(
        &mut menu,
        vec![
            (keys("3"), Action::Engine(Request::FindLine(number()))),
            (engine(Reply::Line(Some((line(), number())))), ask(Prompt::EnterPin, Lang::En, 16)),
            (keys("1234"), Action::Engine(Request::CheckPin { line: line(), pin: Pin("1234".into()) })),
            (engine(Reply::Pin(PinCheck::NoPin)), play(Prompt::NoPin, Lang::En)),
            (Event::Done, ask(Prompt::NoPinCallback, Lang::En, 1)),
            (keys("5"), play(Prompt::ConfirmCallbackNumber, Lang::En)),
            (Event::Done, Action::Agi(Command::SayDigits("4152000101".into()))),
            (Event::Done, ask(Prompt::Confirm, Lang::En, 1)),
            (keys("1"), Action::Engine(Request::OpenCallback { line: line() })),
            (engine(Reply::Opened(Ok(case_id()))), play(Prompt::CallbackReceived, Lang::En)),
        ],
    );
    assert_eq!(menu.outcome(), Outcome::CallbackRequested);
}

#[test]
fn without_a_pin_and_with_an_agent_queue_the_caller_is_transferred() {
    let mut menu = Menu::new(settings(Some("PJSIP/agents")), Some(number()));
    to_main_menu(&mut menu);
    script(
        &mut menu,
        vec![
            (keys("3"), Action::Engine(Request::FindLine(number()))),
            (engine(Reply::Line(Some((line(), number())))), ask(Prompt::EnterPin, Lang::En, 16)),
            (keys("1"), Action::Engine(Request::CheckPin { line: line(), pin: Pin("1".into()) })),
            (engine(Reply::Pin(PinCheck::NoPin)), play(Prompt::NoPin, Lang::En)),
            (Event::Done, play(Prompt::Transfer, Lang::En)),
            (Event::Done, Action::Agi(Command::Dial("PJSIP/agents".into()))),
        ],
    );
}

#[test]
fn status_then_withdrawal() {
    let mut menu = Menu::new(settings(None), Some(number()));
    to_main_menu(&mut menu);
    script(
        &mut menu,
        vec![
            (keys("4"), Action::Engine(Request::FindLine(number()))),
            (engine(Reply::Line(Some((line(), number())))), ask(Prompt::EnterPin, Lang::En, 16)),
            (keys("1234"), Action::Engine(Request::CheckPin { line: line(), pin: Pin("1234".into()) })),
            (engine(Reply::Pin(PinCheck::Correct)), Action::Engine(Request::CaseOf { line: line() })),
            (engine(Reply::Case(Some((case_id(), Status::InReview)))), play(Prompt::StatusIntro, Lang::En)),
            (Event::Done, Action::Agi(Command::SayAlpha("C000007".into()))),
            (Event::Done, play(Prompt::StatusInReview, Lang::En)),
            (Event::Done, ask(Prompt::WithdrawOffer, Lang::En, 1)),
            (keys("9"), Action::Engine(Request::Withdraw { case: case_id() })),
            (engine(Reply::Withdrawn(Ok(()))), play(Prompt::Withdrawn, Lang::En)),
            (Event::Done, play(Prompt::Goodbye, Lang::En)),
            (Event::Done, Action::Agi(Command::Hangup)),
        ],
    );
    assert_eq!(menu.outcome(), Outcome::Withdrawn);
}

#[test]
fn a_second_cancellation_hears_the_open_cases_status() {
    let mut menu = Menu::new(settings(None), Some(number()));
    to_main_menu(&mut menu);
    script(
        &mut menu,
        vec![
            (keys("3"), Action::Engine(Request::FindLine(number()))),
            (engine(Reply::Line(Some((line(), number())))), ask(Prompt::EnterPin, Lang::En, 16)),
            (keys("1234"), Action::Engine(Request::CheckPin { line: line(), pin: Pin("1234".into()) })),
            (engine(Reply::Pin(PinCheck::Correct)), play(Prompt::ConfirmCancelNumber, Lang::En)),
            (Event::Done, Action::Agi(Command::SayDigits("4152000101".into()))),
            (Event::Done, ask(Prompt::Confirm, Lang::En, 1)),
            (keys("1"), Action::Engine(Request::OpenVerified { line: line() })),
            (engine(Reply::Opened(Err(OpenRefusal::AlreadyOpen))), play(Prompt::AlreadyOpen, Lang::En)),
            (Event::Done, Action::Engine(Request::CaseOf { line: line() })),
            (engine(Reply::Case(Some((case_id(), Status::Terminating)))), play(Prompt::StatusIntro, Lang::En)),
            (Event::Done, Action::Agi(Command::SayAlpha("C000007".into()))),
            (Event::Done, play(Prompt::StatusTerminating, Lang::En)),
            // Not withdrawable any more: no offer.
            (Event::Done, play(Prompt::Goodbye, Lang::En)),
        ],
    );
}

#[test]
fn a_hang_up_ends_the_menu_at_any_point() {
    let mut menu = Menu::new(settings(None), Some(number()));
    to_main_menu(&mut menu);
    assert_eq!(menu.on(keys("3")), Action::Engine(Request::FindLine(number())));
    assert_eq!(menu.on(Event::Hangup), Action::Close);
    assert_eq!(menu.outcome(), Outcome::CallerHungUp);
    assert_eq!(menu.on(Event::Done), Action::Close, "nothing after the end");
}

#[test]
fn a_busy_call_hears_both_languages_and_is_hung_up() {
    let mut menu = Menu::busy(settings(Some("PJSIP/agents")));
    assert_eq!(menu.start(), Action::Agi(Command::Answer));
    script(
        &mut menu,
        vec![
            (Event::Done, play(Prompt::Busy, Lang::En)),
            (Event::Done, play(Prompt::Busy, Lang::Zh)),
            (Event::Done, Action::Agi(Command::Hangup)),
            (Event::Done, Action::Close),
        ],
    );
    assert_eq!(menu.outcome(), Outcome::Busy);
}

#[test]
fn every_status_has_its_own_prompt() {
    let prompts: HashSet<Prompt> = Status::ALL.iter().map(|s| status_prompt(*s)).collect();
    assert_eq!(prompts.len(), Status::ALL.len());
}

/// Every event a menu can receive, for the exploration below.
fn alphabet() -> Vec<Event> {
    let mut events = vec![Event::Done, Event::Timeout(String::new()), Event::Digits(String::new())];
    for k in ["0", "1", "2", "3", "4", "5", "7", "9", "*", "1234", "4152000101", "12"] {
        events.push(keys(k));
    }
    events.push(Event::Timeout("4152000101".into()));
    let replies = [
        Reply::Line(Some((line(), number()))),
        Reply::Line(None),
        Reply::Pin(PinCheck::Correct),
        Reply::Pin(PinCheck::Wrong { attempts_left: 2 }),
        Reply::Pin(PinCheck::Locked { until: datetime!(2026-11-02 10:00 UTC) }),
        Reply::Pin(PinCheck::NoPin),
        Reply::Opened(Ok(case_id())),
        Reply::Opened(Err(OpenRefusal::AlreadyOpen)),
        Reply::Opened(Err(OpenRefusal::CancellationLocked)),
        Reply::Opened(Err(OpenRefusal::NotEligible)),
        Reply::Case(None),
        Reply::Withdrawn(Ok(())),
        Reply::Withdrawn(Err(WithdrawRefusal::TooLate)),
        Reply::Failed,
    ];
    events.extend(replies.into_iter().map(Event::Engine));
    events.extend(Status::ALL.iter().map(|s| engine(Reply::Case(Some((case_id(), *s))))));
    events
}

fn prompt_of(action: &Action) -> Option<(Prompt, Lang)> {
    match action {
        Action::Agi(Command::Play { prompt, lang, .. } | Command::Ask { prompt, lang, .. }) => Some((*prompt, *lang)),
        _ => None,
    }
}

/// Walks every menu state reachable with the events above (callers with and without a
/// caller ID, with and without an agent queue): every prompt named is in [`PROMPTS`],
/// every prompt of the table is named in both languages somewhere, every command is
/// sendable as it is, a hang-up always ends the menu, and a silent caller always
/// reaches the end.
#[test]
fn exploration_names_exactly_the_table_and_always_ends() {
    let table: HashSet<&str> = PROMPTS.iter().map(|(name, _, _)| *name).collect();
    let mut used: HashSet<(Prompt, Lang)> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut todo: VecDeque<Menu> = VecDeque::new();
    for agent in [None, Some("PJSIP/agents")] {
        for caller in [None, Some(number())] {
            let mut menu = Menu::new(settings(agent), caller);
            let first = menu.start();
            assert_eq!(first, Action::Agi(Command::Answer));
            todo.push_back(menu);
        }
        let mut busy = Menu::busy(settings(agent));
        busy.start();
        todo.push_back(busy);
    }
    let events = alphabet();
    while let Some(menu) = todo.pop_front() {
        if !seen.insert(format!("{menu:?}")) {
            continue;
        }
        assert!(seen.len() < 500_000, "the state space should be small");
        let mut hung = menu.clone();
        assert_eq!(hung.on(Event::Hangup), Action::Close);
        assert_ends_for_a_silent_caller(menu.clone());
        for event in &events {
            let mut next = menu.clone();
            let action = next.on(event.clone());
            if let Some((prompt, lang)) = prompt_of(&action) {
                assert!(table.contains(prompt.name()), "{} is not in PROMPTS", prompt.name());
                used.insert((prompt, lang));
            }
            match &action {
                Action::Agi(Command::SayDigits(d)) => assert!(!d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
                Action::Agi(Command::SayAlpha(t)) => assert!(!t.is_empty() && !t.contains([' ', '"', '\\'])),
                Action::Close => continue,
                _ => {}
            }
            todo.push_back(next);
        }
    }
    for prompt in Prompt::ALL {
        for lang in [Lang::En, Lang::Zh] {
            assert!(used.contains(&(*prompt, lang)), "{} ({}) is never used", prompt.name(), lang.dir());
        }
    }
}

fn assert_ends_for_a_silent_caller(mut menu: Menu) {
    let mut event = Event::Timeout(String::new());
    for _ in 0..200 {
        match menu.on(event) {
            Action::Close => return,
            Action::Engine(_) => event = Event::Engine(Reply::Failed),
            Action::Agi(Command::Ask { .. }) => event = Event::Timeout(String::new()),
            Action::Agi(_) => event = Event::Done,
        }
    }
    panic!("a silent caller is never hung up: {menu:?}");
}
