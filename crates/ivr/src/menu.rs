//! The hotline menu as a pure state machine: an [`Event`] in, an [`Action`] out.
//!
//! No I/O here: the server sends each [`Command`] to Asterisk, turns its reply into an
//! event, and performs each engine [`Request`], handing the [`Reply`] back as an event.
//! The menu therefore runs the same way in unit tests as on a live call.
//!
//! The flow (see `docs/ivr-prompts.md` for every prompt's words):
//!
//! 1. `ANSWER`; language: `en/language` (keys 1 or 2 interrupt it), then `zh/language`.
//! 2. `welcome`, then the main menu: 3 cancel, 4 status of a request, 5 callback request.
//! 3. The line: the caller ID's, if it names a line; otherwise the number keyed in.
//! 4. Cancel and status: the account PIN (wrong → attempts left; locked → give up; no
//!    PIN → an agent, or for a cancellation the offer of a callback request).
//! 5. Cancel and callback: the number read back, "1 to confirm, 2 to stop"; then the
//!    case is opened (verified by PIN in the same transaction, or unverified awaiting
//!    the callback) and its reference read out twice.
//! 6. Status: the open case's reference and a prompt per status; 9 withdraws it while
//!    it can still be withdrawn.
//!
//! Missing or invalid input re-prompts at most `max_retries` times; then the call is
//! transferred to the agent queue (if configured) or ends with goodbye and `HANGUP`.

use crate::prompts::{Lang, Prompt};
use lineout_app::engine::PinCheck;
use lineout_domain::Status;
use lineout_domain::values::{CaseId, LineId, Msisdn};
use std::collections::VecDeque;
use std::fmt;

/// What the menu wants done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this AGI command and report its reply as an [`Event`].
    Agi(Command),
    /// Ask the engine and report its answer as [`Event::Engine`].
    Engine(Request),
    /// The call is over: close the connection.
    Close,
}

/// An AGI command, before rendering (the server adds the prompts directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Answer,
    /// `STREAM FILE <dir>/<lang>/<name> "<escape>"`.
    Play {
        prompt: Prompt,
        lang: Lang,
        escape: &'static str,
    },
    /// `GET DATA <dir>/<lang>/<name> <timeout_ms> <max_digits>`.
    Ask {
        prompt: Prompt,
        lang: Lang,
        timeout_ms: u32,
        max_digits: u8,
    },
    /// `SAY DIGITS <digits> ""` (digits only).
    SayDigits(String),
    /// `SAY ALPHA <text> ""` (a case reference: `[A-Za-z0-9._-]`).
    SayAlpha(String),
    /// `EXEC Dial <target>`.
    Dial(String),
    Hangup,
}

/// What happened: the reply to the last command, or the engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The command finished without input (playback ended, answered, dial returned).
    Done,
    /// Digits entered (`GET DATA`), or the key that interrupted a playback.
    Digits(String),
    /// `GET DATA` ended on its timeout, with what was keyed before it (maybe nothing).
    Timeout(String),
    /// The caller hung up.
    Hangup,
    Engine(Reply),
}

/// A PIN as keyed in; never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(pub String);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// A question for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    FindLine(Msisdn),
    CheckPin {
        line: LineId,
        pin: Pin,
    },
    /// Open a cancellation, verified by PIN in the same transaction.
    OpenVerified {
        line: LineId,
    },
    /// Open a cancellation awaiting an agent's callback (unverified).
    OpenCallback {
        line: LineId,
    },
    /// The line's open cancellation case, if any.
    CaseOf {
        line: LineId,
    },
    Withdraw {
        case: CaseId,
    },
}

/// The engine's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Line(Option<(LineId, Msisdn)>),
    Pin(PinCheck),
    Opened(Result<CaseId, OpenRefusal>),
    Case(Option<(CaseId, Status)>),
    Withdrawn(Result<(), WithdrawRefusal>),
    /// A technical failure (storage, overload, anything unexpected).
    Failed,
}

/// Why a case was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenRefusal {
    AlreadyOpen,
    CancellationLocked,
    NotEligible,
}

/// Why a case was not withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithdrawRefusal {
    TooLate,
}

/// The menu's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuSettings {
    /// Re-prompts after missing or invalid input, per question, before giving up.
    pub max_retries: u32,
    /// `GET DATA`'s timeout.
    pub input_timeout_ms: u32,
    /// The `Dial` target of the agent queue, if there is one.
    pub agent_dial: Option<String>,
}

/// How the call ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    InProgress,
    CancellationRequested,
    CallbackRequested,
    StatusGiven,
    Withdrawn,
    /// The caller pressed 2 at the confirmation.
    Declined,
    /// Too many missing or invalid inputs.
    GaveUp,
    PinLocked,
    NoPin,
    /// Refused by the case rules (already open, account locked, line not eligible).
    NotAllowed,
    TechnicalProblem,
    CallerHungUp,
    /// Beyond the concurrent-call limit.
    Busy,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::CancellationRequested => "cancellation_requested",
            Self::CallbackRequested => "callback_requested",
            Self::StatusGiven => "status_given",
            Self::Withdrawn => "withdrawn",
            Self::Declined => "declined",
            Self::GaveUp => "gave_up",
            Self::PinLocked => "pin_locked",
            Self::NoPin => "no_pin",
            Self::NotAllowed => "not_allowed",
            Self::TechnicalProblem => "technical_problem",
            Self::CallerHungUp => "caller_hung_up",
            Self::Busy => "busy",
        }
    }
}

/// What the caller asked for in the main menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Cancel,
    Status,
    Callback,
}

/// The line the call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    line: LineId,
    number: Msisdn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Start,
    Answering,
    LanguageEn {
        tries: u32,
    },
    LanguageZh {
        tries: u32,
    },
    Main {
        tries: u32,
    },
    FindCaller {
        intent: Intent,
        number: Msisdn,
    },
    EnterNumber {
        intent: Intent,
        tries: u32,
    },
    FindEntered {
        intent: Intent,
        tries: u32,
    },
    EnterPin {
        intent: Intent,
        target: Target,
        tries: u32,
    },
    CheckingPin {
        intent: Intent,
        target: Target,
        tries: u32,
    },
    NoPinOffer {
        target: Target,
        tries: u32,
    },
    /// Reads the number back, then asks.
    Confirm {
        intent: Intent,
        target: Target,
        tries: u32,
    },
    ConfirmAsk {
        intent: Intent,
        target: Target,
        tries: u32,
    },
    Opening {
        intent: Intent,
        target: Target,
    },
    FetchingCase {
        target: Target,
    },
    WithdrawOffer {
        case: CaseId,
        tries: u32,
    },
    Withdrawing {
        case: CaseId,
    },
    /// Playing the queued commands, then `then`.
    Playing {
        then: Box<State>,
    },
    /// Transfer if an agent queue is configured, else goodbye.
    GiveUp,
    Dialing,
    HangingUp,
    Ended,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Answering => "answer",
            Self::LanguageEn { .. } | Self::LanguageZh { .. } => "language",
            Self::Main { .. } => "main_menu",
            Self::FindCaller { .. } => "find_caller_line",
            Self::EnterNumber { .. } => "enter_number",
            Self::FindEntered { .. } => "find_entered_line",
            Self::EnterPin { .. } => "enter_pin",
            Self::CheckingPin { .. } => "check_pin",
            Self::NoPinOffer { .. } => "no_pin_offer",
            Self::Confirm { .. } | Self::ConfirmAsk { .. } => "confirm",
            Self::Opening { .. } => "open_case",
            Self::FetchingCase { .. } => "case_status",
            Self::WithdrawOffer { .. } => "withdraw_offer",
            Self::Withdrawing { .. } => "withdraw",
            Self::Playing { .. } => "playing",
            Self::GiveUp => "give_up",
            Self::Dialing => "transfer",
            Self::HangingUp => "hangup",
            Self::Ended => "ended",
        }
    }
}

/// One call's menu.
#[derive(Debug, Clone)]
pub struct Menu {
    settings: MenuSettings,
    caller: Option<Msisdn>,
    lang: Lang,
    state: State,
    queue: VecDeque<Command>,
    outcome: Outcome,
    transferred: bool,
    busy: bool,
}

/// The keys the language prompt accepts while it plays.
const LANGUAGE_KEYS: &str = "12";
const NUMBER_DIGITS: u8 = 15;
const PIN_DIGITS: u8 = 16;

impl Menu {
    /// A hotline call; `caller` is the caller ID, if it parsed as a number.
    pub fn new(settings: MenuSettings, caller: Option<Msisdn>) -> Self {
        Self {
            settings,
            caller,
            lang: Lang::En,
            state: State::Start,
            queue: VecDeque::new(),
            outcome: Outcome::InProgress,
            transferred: false,
            busy: false,
        }
    }

    /// A call beyond the concurrent-call limit: answer, say "busy" in both languages, hang up.
    pub fn busy(settings: MenuSettings) -> Self {
        Self { busy: true, outcome: Outcome::Busy, ..Self::new(settings, None) }
    }

    /// The first action of the call.
    pub fn start(&mut self) -> Action {
        self.enter(State::Answering)
    }

    /// The step the call is at (for logs: no personal data).
    pub fn step(&self) -> &'static str {
        match &self.state {
            State::Playing { then } => then.name(),
            other => other.name(),
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    pub fn transferred(&self) -> bool {
        self.transferred
    }
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The next action after an event.
    pub fn on(&mut self, event: Event) -> Action {
        if event == Event::Hangup {
            if self.outcome == Outcome::InProgress {
                self.outcome = Outcome::CallerHungUp;
            }
            self.queue.clear();
            self.state = State::Ended;
            return Action::Close;
        }
        let state = std::mem::replace(&mut self.state, State::Ended);
        match state {
            State::Start => self.enter(State::Answering),
            State::Answering if self.busy => {
                let both = vec![self.play_in(Prompt::Busy, Lang::En), self.play_in(Prompt::Busy, Lang::Zh)];
                self.play(both, State::HangingUp)
            }
            State::Answering => self.enter(State::LanguageEn { tries: 0 }),
            State::LanguageEn { tries } => match event {
                Event::Digits(d) => self.choose_language(&d, tries),
                _ => self.enter(State::LanguageZh { tries }),
            },
            State::LanguageZh { tries } => match input(&event) {
                Some(d) => self.choose_language(d, tries),
                None => self.retry(tries, None, State::LanguageEn { tries: tries + 1 }),
            },
            State::Main { tries } => match input(&event) {
                Some("3") => self.begin(Intent::Cancel),
                Some("4") => self.begin(Intent::Status),
                Some("5") => self.begin(Intent::Callback),
                other => self.retry(tries, Some(complaint(other)), State::Main { tries: tries + 1 }),
            },
            State::FindCaller { intent, .. } => match event {
                Event::Engine(Reply::Line(Some((line, number)))) => self.proceed(intent, Target { line, number }),
                Event::Engine(Reply::Line(None)) => self.enter(State::EnterNumber { intent, tries: 0 }),
                _ => self.technical(),
            },
            State::EnterNumber { intent, tries } => match input(&event) {
                Some(digits) => match Msisdn::parse(digits) {
                    Ok(number) => {
                        self.state = State::FindEntered { intent, tries };
                        Action::Engine(Request::FindLine(number))
                    }
                    Err(_) => {
                        self.retry(tries, Some(Prompt::InvalidNumber), State::EnterNumber { intent, tries: tries + 1 })
                    }
                },
                None => self.retry(tries, Some(Prompt::NoInput), State::EnterNumber { intent, tries: tries + 1 }),
            },
            State::FindEntered { intent, tries } => match event {
                Event::Engine(Reply::Line(Some((line, number)))) => self.proceed(intent, Target { line, number }),
                Event::Engine(Reply::Line(None)) => {
                    self.retry(tries, Some(Prompt::NumberNotFound), State::EnterNumber { intent, tries: tries + 1 })
                }
                _ => self.technical(),
            },
            State::EnterPin { intent, target, tries } => match input(&event) {
                Some(pin) if pin.bytes().all(|b| b.is_ascii_digit()) => {
                    let request = Request::CheckPin { line: target.line.clone(), pin: Pin(pin.to_owned()) };
                    self.state = State::CheckingPin { intent, target, tries };
                    Action::Engine(request)
                }
                other => {
                    self.retry(tries, Some(complaint(other)), State::EnterPin { intent, target, tries: tries + 1 })
                }
            },
            State::CheckingPin { intent, target, tries } => match event {
                Event::Engine(Reply::Pin(PinCheck::Correct)) => match intent {
                    Intent::Status => self.enter(State::FetchingCase { target }),
                    Intent::Cancel | Intent::Callback => self.enter(State::Confirm { intent, target, tries: 0 }),
                },
                Event::Engine(Reply::Pin(PinCheck::Wrong { attempts_left })) => {
                    // Wrong PINs are bounded by the engine's durable lock, not by the re-prompts.
                    let say = vec![self.say(Prompt::PinWrong), Command::SayDigits(attempts_left.to_string())];
                    self.play(say, State::EnterPin { intent, target, tries })
                }
                Event::Engine(Reply::Pin(PinCheck::Locked { .. })) => {
                    self.outcome = Outcome::PinLocked;
                    let say = vec![self.say(Prompt::PinLocked)];
                    self.play(say, State::GiveUp)
                }
                Event::Engine(Reply::Pin(PinCheck::NoPin)) => {
                    // The SMS code method is not built yet: an agent, or (cancel only) a callback.
                    self.outcome = Outcome::NoPin;
                    let say = vec![self.say(Prompt::NoPin)];
                    if intent == Intent::Cancel && self.settings.agent_dial.is_none() {
                        self.play(say, State::NoPinOffer { target, tries: 0 })
                    } else {
                        self.play(say, State::GiveUp)
                    }
                }
                _ => self.technical(),
            },
            State::NoPinOffer { target, tries } => match input(&event) {
                Some("5") => self.enter(State::Confirm { intent: Intent::Callback, target, tries: 0 }),
                other => self.retry(tries, Some(complaint(other)), State::NoPinOffer { target, tries: tries + 1 }),
            },
            State::ConfirmAsk { intent, target, tries } => match input(&event) {
                Some("1") => {
                    let line = target.line.clone();
                    let request = match intent {
                        Intent::Callback => Request::OpenCallback { line },
                        Intent::Cancel | Intent::Status => Request::OpenVerified { line },
                    };
                    self.state = State::Opening { intent, target };
                    Action::Engine(request)
                }
                Some("2") => {
                    self.outcome = Outcome::Declined;
                    let say = vec![self.say(Prompt::NotChanged), self.say(Prompt::Goodbye)];
                    self.play(say, State::HangingUp)
                }
                other => self.retry(tries, Some(complaint(other)), State::Confirm { intent, target, tries: tries + 1 }),
            },
            State::Opening { intent, target } => match event {
                Event::Engine(Reply::Opened(Ok(case))) => {
                    let (outcome, first, after) = match intent {
                        Intent::Callback => (Outcome::CallbackRequested, Prompt::CallbackReceived, None),
                        Intent::Cancel | Intent::Status => {
                            (Outcome::CancellationRequested, Prompt::RequestReceived, Some(Prompt::ConfirmationSent))
                        }
                    };
                    self.outcome = outcome;
                    let mut say = vec![
                        self.say(first),
                        Command::SayAlpha(case.as_str().to_owned()),
                        self.say(Prompt::ReferenceRepeat),
                        Command::SayAlpha(case.as_str().to_owned()),
                    ];
                    say.extend(after.map(|p| self.say(p)));
                    say.push(self.say(Prompt::Goodbye));
                    self.play(say, State::HangingUp)
                }
                Event::Engine(Reply::Opened(Err(refusal))) => {
                    self.outcome = Outcome::NotAllowed;
                    match (refusal, intent) {
                        // Verified by PIN: the caller may hear the open case's status.
                        (OpenRefusal::AlreadyOpen, Intent::Cancel | Intent::Status) => {
                            let say = vec![self.say(Prompt::AlreadyOpen)];
                            self.play(say, State::FetchingCase { target })
                        }
                        (OpenRefusal::AlreadyOpen, Intent::Callback) => self.farewell(Prompt::AlreadyOpenCallback),
                        (OpenRefusal::CancellationLocked, _) => self.farewell(Prompt::CancellationLocked),
                        (OpenRefusal::NotEligible, _) => self.farewell(Prompt::LineNotEligible),
                    }
                }
                _ => self.technical(),
            },
            State::FetchingCase { .. } => match event {
                Event::Engine(Reply::Case(None)) => self.farewell(Prompt::NoOpenRequest),
                Event::Engine(Reply::Case(Some((case, status)))) => {
                    if self.outcome == Outcome::InProgress {
                        self.outcome = Outcome::StatusGiven;
                    }
                    let say = vec![
                        self.say(Prompt::StatusIntro),
                        Command::SayAlpha(case.as_str().to_owned()),
                        self.say(status_prompt(status)),
                    ];
                    if withdrawable(status) {
                        self.play(say, State::WithdrawOffer { case, tries: 0 })
                    } else {
                        let mut say = say;
                        say.push(self.say(Prompt::Goodbye));
                        self.play(say, State::HangingUp)
                    }
                }
                _ => self.technical(),
            },
            State::WithdrawOffer { case, tries } => match input(&event) {
                Some("9") => {
                    self.state = State::Withdrawing { case: case.clone() };
                    Action::Engine(Request::Withdraw { case })
                }
                Some("1") => {
                    let say = vec![self.say(Prompt::Goodbye)];
                    self.play(say, State::HangingUp)
                }
                other => self.retry(tries, Some(complaint(other)), State::WithdrawOffer { case, tries: tries + 1 }),
            },
            State::Withdrawing { .. } => match event {
                Event::Engine(Reply::Withdrawn(Ok(()))) => {
                    self.outcome = Outcome::Withdrawn;
                    self.farewell(Prompt::Withdrawn)
                }
                Event::Engine(Reply::Withdrawn(Err(WithdrawRefusal::TooLate))) => {
                    self.farewell(Prompt::TooLateToWithdraw)
                }
                _ => self.technical(),
            },
            State::Playing { then } => match self.queue.pop_front() {
                Some(next) => {
                    self.state = State::Playing { then };
                    Action::Agi(next)
                }
                None => self.enter(*then),
            },
            State::Dialing => self.enter(State::HangingUp),
            State::HangingUp | State::Ended => Action::Close,
            // Entered only through `enter`, which moves past them at once.
            State::Confirm { .. } | State::GiveUp => self.technical(),
        }
    }

    /// Moves to a state and returns its first action.
    fn enter(&mut self, state: State) -> Action {
        let (action, state) = match state {
            State::Answering => (Action::Agi(Command::Answer), State::Answering),
            State::LanguageEn { tries } => (
                Action::Agi(Command::Play { prompt: Prompt::Language, lang: Lang::En, escape: LANGUAGE_KEYS }),
                State::LanguageEn { tries },
            ),
            State::LanguageZh { tries } => {
                (Action::Agi(self.ask_in(Prompt::Language, Lang::Zh, 1)), State::LanguageZh { tries })
            }
            State::Main { tries } => (Action::Agi(self.ask(Prompt::MainMenu, 1)), State::Main { tries }),
            State::FindCaller { intent, number } => {
                (Action::Engine(Request::FindLine(number.clone())), State::FindCaller { intent, number })
            }
            State::EnterNumber { intent, tries } => {
                (Action::Agi(self.ask(Prompt::EnterNumber, NUMBER_DIGITS)), State::EnterNumber { intent, tries })
            }
            State::EnterPin { intent, target, tries } => {
                (Action::Agi(self.ask(Prompt::EnterPin, PIN_DIGITS)), State::EnterPin { intent, target, tries })
            }
            State::NoPinOffer { target, tries } => {
                (Action::Agi(self.ask(Prompt::NoPinCallback, 1)), State::NoPinOffer { target, tries })
            }
            State::Confirm { intent, target, tries } => {
                let first = match intent {
                    Intent::Callback => Prompt::ConfirmCallbackNumber,
                    Intent::Cancel | Intent::Status => Prompt::ConfirmCancelNumber,
                };
                let say = vec![self.say(first), Command::SayDigits(target.number.national_digits().to_owned())];
                return self.play(say, State::ConfirmAsk { intent, target, tries });
            }
            State::ConfirmAsk { intent, target, tries } => {
                (Action::Agi(self.ask(Prompt::Confirm, 1)), State::ConfirmAsk { intent, target, tries })
            }
            State::FetchingCase { target } => {
                (Action::Engine(Request::CaseOf { line: target.line.clone() }), State::FetchingCase { target })
            }
            State::WithdrawOffer { case, tries } => {
                (Action::Agi(self.ask(Prompt::WithdrawOffer, 1)), State::WithdrawOffer { case, tries })
            }
            State::GiveUp => {
                return match self.settings.agent_dial.clone() {
                    Some(_) => {
                        let say = vec![self.say(Prompt::Transfer)];
                        self.play(say, State::Dialing)
                    }
                    None => {
                        let say = vec![self.say(Prompt::Goodbye)];
                        self.play(say, State::HangingUp)
                    }
                };
            }
            State::Dialing => match self.settings.agent_dial.clone() {
                Some(target) => {
                    self.transferred = true;
                    (Action::Agi(Command::Dial(target)), State::Dialing)
                }
                None => (Action::Agi(Command::Hangup), State::HangingUp),
            },
            State::HangingUp => (Action::Agi(Command::Hangup), State::HangingUp),
            State::Ended => (Action::Close, State::Ended),
            // Never entered: these states are set together with their request or queue.
            State::Start
            | State::FindEntered { .. }
            | State::CheckingPin { .. }
            | State::Opening { .. }
            | State::Withdrawing { .. }
            | State::Playing { .. } => return self.technical(),
        };
        self.state = state;
        action
    }

    /// Plays commands in order, then enters `then`.
    fn play(&mut self, commands: Vec<Command>, then: State) -> Action {
        self.queue = commands.into();
        match self.queue.pop_front() {
            Some(first) => {
                self.state = State::Playing { then: Box::new(then) };
                Action::Agi(first)
            }
            None => self.enter(then),
        }
    }

    /// Re-prompts (after saying why), or gives up after `max_retries` re-prompts.
    fn retry(&mut self, tries: u32, why: Option<Prompt>, again: State) -> Action {
        if tries >= self.settings.max_retries {
            if matches!(self.outcome, Outcome::InProgress | Outcome::StatusGiven | Outcome::NoPin) {
                self.outcome = Outcome::GaveUp;
            }
            return self.enter(State::GiveUp);
        }
        let say = why.map(|p| self.say(p)).into_iter().collect();
        self.play(say, again)
    }

    fn choose_language(&mut self, digits: &str, tries: u32) -> Action {
        self.lang = match digits {
            "1" => Lang::En,
            "2" => Lang::Zh,
            _ => return self.retry(tries, None, State::LanguageEn { tries: tries + 1 }),
        };
        let say = vec![self.say(Prompt::Welcome)];
        self.play(say, State::Main { tries: 0 })
    }

    fn begin(&mut self, intent: Intent) -> Action {
        match self.caller.clone() {
            Some(number) => self.enter(State::FindCaller { intent, number }),
            None => self.enter(State::EnterNumber { intent, tries: 0 }),
        }
    }

    fn proceed(&mut self, intent: Intent, target: Target) -> Action {
        match intent {
            Intent::Cancel | Intent::Status => self.enter(State::EnterPin { intent, target, tries: 0 }),
            Intent::Callback => self.enter(State::Confirm { intent, target, tries: 0 }),
        }
    }

    fn technical(&mut self) -> Action {
        self.outcome = Outcome::TechnicalProblem;
        let say = vec![self.say(Prompt::TechnicalProblem)];
        self.play(say, State::GiveUp)
    }

    /// Says one prompt, then goodbye, and hangs up.
    fn farewell(&mut self, prompt: Prompt) -> Action {
        let say = vec![self.say(prompt), self.say(Prompt::Goodbye)];
        self.play(say, State::HangingUp)
    }

    fn say(&self, prompt: Prompt) -> Command {
        self.play_in(prompt, self.lang)
    }
    fn play_in(&self, prompt: Prompt, lang: Lang) -> Command {
        Command::Play { prompt, lang, escape: "" }
    }
    fn ask(&self, prompt: Prompt, max_digits: u8) -> Command {
        self.ask_in(prompt, self.lang, max_digits)
    }
    fn ask_in(&self, prompt: Prompt, lang: Lang, max_digits: u8) -> Command {
        Command::Ask { prompt, lang, timeout_ms: self.settings.input_timeout_ms, max_digits }
    }
}

/// The keys entered, if any (digits typed before a timeout count).
fn input(event: &Event) -> Option<&str> {
    match event {
        Event::Digits(d) | Event::Timeout(d) if !d.is_empty() => Some(d),
        _ => None,
    }
}

/// What to say before re-prompting: nothing heard, or a wrong key.
fn complaint(input: Option<&str>) -> Prompt {
    if input.is_some() { Prompt::Invalid } else { Prompt::NoInput }
}

/// Whether the customer can still withdraw a case in this status.
fn withdrawable(status: Status) -> bool {
    matches!(status, Status::Verifying | Status::Preparing | Status::InReview | Status::Approved | Status::AwaitingPort)
}

/// The prompt that tells a caller a case's status.
pub fn status_prompt(status: Status) -> Prompt {
    match status {
        Status::Verifying => Prompt::StatusVerifying,
        Status::Preparing => Prompt::StatusPreparing,
        Status::InReview => Prompt::StatusInReview,
        Status::Approved => Prompt::StatusApproved,
        Status::AwaitingPort => Prompt::StatusAwaitingPort,
        Status::Terminating => Prompt::StatusTerminating,
        Status::Closing => Prompt::StatusClosing,
        Status::Closed => Prompt::StatusClosed,
        Status::Rejected => Prompt::StatusRejected,
        Status::Withdrawn => Prompt::StatusWithdrawn,
        Status::Expired => Prompt::StatusExpired,
        Status::Frozen => Prompt::StatusFrozen,
    }
}

#[cfg(test)]
#[path = "menu_tests.rs"]
mod tests;
