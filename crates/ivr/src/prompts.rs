//! Every recorded prompt of the hotline, with its English and Simplified Chinese text.
//!
//! The server only names sound files (`<prompts_dir>/<lang>/<name>`, `lang` being `en`
//! or `zh`); the operator records or synthesises each file from the text here.
//! [`PROMPTS`] is the one list: the [`Prompt`] enum the menu uses is generated from the
//! same declarations, so the menu cannot name a file that is not in the table, and
//! `docs/ivr-prompts.md` is checked against [`markdown_table`] by a test.

/// The language a caller chose; also the prompt subdirectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// The prompt subdirectory (`en`, `zh`).
    pub fn dir(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh",
        }
    }
}

macro_rules! prompts {
    ($($(#[$m:meta])* $variant:ident = $name:literal, $en:literal, $zh:literal;)+) => {
        /// A recorded prompt, by the file name it is stored under.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Prompt {
            $($(#[$m])* $variant,)+
        }

        impl Prompt {
            /// Every prompt, in table order.
            pub const ALL: &'static [Prompt] = &[$(Prompt::$variant,)+];

            /// The sound file's name (without extension or language directory).
            pub fn name(self) -> &'static str {
                match self {
                    $(Prompt::$variant => $name,)+
                }
            }

            /// The prompt's text in a language.
            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Prompt::$variant, Lang::En) => $en, (Prompt::$variant, Lang::Zh) => $zh,)+
                }
            }
        }

        /// Every prompt: (file name, English text, Simplified Chinese text).
        pub const PROMPTS: &[(&str, &str, &str)] = &[$(($name, $en, $zh),)+];
    };
}

prompts! {
    /// Played in both languages, one after the other: each version names its own key.
    Language = "language", "For English, press 1.", "中文服务，请按2。";
    Welcome = "welcome",
        "Welcome to the service cancellation line. We will never ask you to pay a fee over the phone to cancel your service.",
        "欢迎致电服务取消专线。我们绝不会在电话中要求您支付任何费用来取消服务。";
    MainMenu = "main-menu",
        "To cancel your service, press 3. For the status of a request, press 4. To leave a cancellation request for a callback, press 5.",
        "取消服务，请按3。查询申请进度，请按4。留下取消申请并等待客服回电，请按5。";
    NoInput = "no-input", "Sorry, we did not receive your entry.", "抱歉，我们没有收到您的输入。";
    Invalid = "invalid", "Sorry, that is not a valid choice.", "抱歉，您的选择无效。";
    EnterNumber = "enter-number",
        "Please enter the mobile number of the line, followed by the pound key.",
        "请输入该线路的手机号码，并以井号键结束。";
    InvalidNumber = "invalid-number", "Sorry, that is not a valid phone number.", "抱歉，该电话号码无效。";
    NumberNotFound = "number-not-found",
        "Sorry, we could not find a line with that number.",
        "抱歉，我们找不到该号码对应的线路。";
    EnterPin = "enter-pin",
        "Please enter your account PIN, followed by the pound key.",
        "请输入您的账户密码，并以井号键结束。";
    /// Followed by the number of attempts left, read digit by digit.
    PinWrong = "pin-wrong", "That PIN is not correct. Attempts left:", "密码不正确。剩余尝试次数：";
    PinLocked = "pin-locked",
        "Too many wrong attempts. For your security, PIN checks for this line are locked for now. Please try again later.",
        "错误次数过多。为保障您的安全，该线路的密码验证已暂时锁定，请稍后再试。";
    NoPin = "no-pin",
        "Your account has no PIN, so we cannot verify you by phone.",
        "您的账户未设置密码，因此无法通过电话核实您的身份。";
    NoPinCallback = "no-pin-callback",
        "To leave a cancellation request and have an agent call you back, press 5. Otherwise, you may hang up.",
        "如需留下取消申请并由客服给您回电，请按5。否则，您可以挂断电话。";
    /// Followed by the number, read digit by digit.
    ConfirmCancelNumber = "confirm-cancel-number",
        "You asked to cancel the service of the number",
        "您要求取消以下号码的服务：";
    /// Followed by the number, read digit by digit.
    ConfirmCallbackNumber = "confirm-callback-number",
        "You are leaving a cancellation request, for an agent to call you back, for the number",
        "您将为以下号码留下取消申请，并等待客服回电：";
    Confirm = "confirm",
        "To confirm, press 1. To stop without any change, press 2.",
        "确认请按1。不做任何更改并退出，请按2。";
    NotChanged = "not-changed", "Nothing has been changed.", "您的服务未做任何更改。";
    /// Followed by the case reference, read character by character.
    RequestReceived = "request-received",
        "Your cancellation request has been received. Your reference is",
        "您的取消申请已受理。您的申请编号是：";
    /// Followed by the case reference, read character by character.
    ReferenceRepeat = "reference-repeat", "Again, your reference is", "再重复一遍，您的申请编号是：";
    ConfirmationSent = "confirmation-sent",
        "We will confirm your request by text message or email, and tell you the result the same way. Please keep your reference.",
        "我们会通过短信或电子邮件确认您的申请，并以同样方式告知处理结果。请保存好您的申请编号。";
    /// Followed by the case reference, read character by character.
    CallbackReceived = "callback-received",
        "Your request has been received. An agent will call you back within 24 hours. Your reference is",
        "您的申请已收到，客服将在24小时内给您回电。您的申请编号是：";
    AlreadyOpen = "already-open",
        "A cancellation request for this number is already open.",
        "该号码已有一项正在处理的取消申请。";
    AlreadyOpenCallback = "already-open-callback",
        "A cancellation request for this number is already open. To hear its status, call again and press 4.",
        "该号码已有一项正在处理的取消申请。如需查询进度，请重新来电并按4。";
    CancellationLocked = "cancellation-locked",
        "This account is locked against cancellation. The account holder must first remove the lock, online or in a store.",
        "该账户已开启防取消保护锁。账户持有人须先在网上或门店解除该锁。";
    LineNotEligible = "line-not-eligible",
        "This line can no longer be cancelled, because it is not active.",
        "该线路已不处于有效状态，无法办理取消。";
    NoOpenRequest = "no-open-request",
        "There is no open cancellation request for this number.",
        "该号码目前没有正在处理的取消申请。";
    /// Followed by the case reference, then by the status prompt.
    StatusIntro = "status-intro",
        "Here is the status of your request. Its reference is",
        "以下是您的申请进度。申请编号：";
    StatusVerifying = "status-verifying",
        "We are waiting to verify your identity.",
        "我们正在等待核实您的身份。";
    StatusPreparing = "status-preparing",
        "Your identity is verified. We are settling your balance and any device return.",
        "您的身份已核实。我们正在处理账户结算及设备退还事宜。";
    StatusInReview = "status-in-review",
        "Your request is being reviewed. This usually takes a few days, and up to about a week.",
        "您的申请正在审核中，通常需要几天，最长约一周。";
    StatusApproved = "status-approved",
        "Your request is approved. Your service will end on the scheduled date. Until then, you can still withdraw it.",
        "您的申请已获批准，服务将在预定日期终止。在此之前，您仍可撤回申请。";
    StatusAwaitingPort = "status-awaiting-port",
        "Your number is waiting to be transferred to your new operator.",
        "您的号码正在等待转入新的运营商。";
    StatusTerminating = "status-terminating", "Your service is being ended now.", "您的服务正在终止。";
    StatusClosing = "status-closing",
        "Your service has ended. We are completing your final bill and any refund.",
        "您的服务已终止。我们正在处理最终账单及退款事宜。";
    StatusClosed = "status-closed", "Your request is complete.", "您的申请已办结。";
    StatusRejected = "status-rejected",
        "Your request was not approved. We have sent you the reason by text message or email.",
        "您的申请未获批准，原因已通过短信或电子邮件发送给您。";
    StatusWithdrawn = "status-withdrawn",
        "Your request was withdrawn. Your service continues.",
        "您的申请已撤回，服务将继续。";
    StatusExpired = "status-expired",
        "Your request expired before it could be completed.",
        "您的申请已在完成前过期。";
    StatusFrozen = "status-frozen",
        "Your request is on hold for a security review. An agent will contact you.",
        "出于安全审查，您的申请已暂停处理，客服将与您联系。";
    WithdrawOffer = "withdraw-offer",
        "To withdraw this request and keep your service, press 9. To end this call, press 1.",
        "如需撤回该申请并保留服务，请按9。结束通话，请按1。";
    Withdrawn = "withdrawn",
        "Done. Your request has been withdrawn, and your service continues.",
        "已办理。您的申请已撤回，服务将继续。";
    TooLateToWithdraw = "too-late-to-withdraw",
        "Sorry, your service is already being ended, so the request can no longer be withdrawn.",
        "抱歉，您的服务已进入终止程序，申请已无法撤回。";
    TechnicalProblem = "technical-problem",
        "Sorry, we cannot complete this right now because of a technical problem.",
        "抱歉，由于技术问题，目前无法完成您的请求。";
    Transfer = "transfer", "Please hold while we connect you to an agent.", "正在为您转接人工客服，请稍候。";
    Goodbye = "goodbye", "Thank you for calling. Goodbye.", "感谢您的来电，再见。";
    /// Played in both languages to a call beyond the concurrent-call limit.
    Busy = "busy", "All our lines are busy. Please call again later. Goodbye.", "所有线路正忙，请稍后再拨。再见。";
}

/// The prompt table as Markdown (file name, English, Chinese): the body of
/// `docs/ivr-prompts.md`'s table, generated so the document lists exactly [`PROMPTS`].
pub fn markdown_table() -> String {
    let mut out = String::from("| file | English | 中文 (Simplified Chinese) |\n|---|---|---|\n");
    for (name, en, zh) in PROMPTS {
        out.push_str(&format!("| `{name}` | {} | {} |\n", cell(en), cell(zh)));
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_file_names_and_texts_are_complete() {
        let mut seen = HashSet::new();
        for (name, en, zh) in PROMPTS {
            assert!(seen.insert(*name), "duplicate prompt {name}");
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "prompt names are plain file names: {name}"
            );
            assert!(!en.trim().is_empty() && !zh.trim().is_empty(), "{name} needs both texts");
            assert!(en.is_ascii(), "{name}: the English text is plain ASCII");
            assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{name}: the Chinese text is Chinese");
        }
        assert_eq!(Prompt::ALL.len(), PROMPTS.len());
        for (p, (name, en, zh)) in Prompt::ALL.iter().zip(PROMPTS) {
            assert_eq!((p.name(), p.text(Lang::En), p.text(Lang::Zh)), (*name, *en, *zh));
        }
    }

    /// `docs/ivr-prompts.md` lists exactly the table. Run with `LINEOUT_BLESS=1` to rewrite it.
    #[test]
    fn the_document_lists_exactly_the_table() {
        const BEGIN: &str = "<!-- prompts:begin (generated from crates/ivr/src/prompts.rs; LINEOUT_BLESS=1 cargo test -p lineout-ivr rewrites it) -->\n";
        const END: &str = "<!-- prompts:end -->";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ivr-prompts.md");
        let doc = std::fs::read_to_string(&path).expect("docs/ivr-prompts.md exists");
        let start = doc.find(BEGIN).expect("the begin marker") + BEGIN.len();
        let end = doc[start..].find(END).expect("the end marker") + start;
        let expected = markdown_table();
        if doc[start..end] != expected {
            if std::env::var_os("LINEOUT_BLESS").is_some() {
                let updated = format!("{}{}{}", &doc[..start], expected, &doc[end..]);
                std::fs::write(&path, updated).expect("rewrite the document");
            } else {
                panic!(
                    "docs/ivr-prompts.md does not list exactly PROMPTS; rerun with LINEOUT_BLESS=1. Expected:\n{expected}"
                );
            }
        }
    }
}
