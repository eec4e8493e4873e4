//! Every customer notice in English and Simplified Chinese: an email (subject and plain
//! text) and a short SMS, each carrying the message's authenticity code and the fixed
//! anti-scam sentence.
//!
//! Rendering never fails: every notice has a text in every language, and a missing
//! detail (a deadline, an amount) is simply left out. A test renders every notice in
//! every language.

use lineout_domain::case::Notice;
use lineout_domain::effects::NoticeDetails;
use lineout_domain::values::{CaseId, Language};
use time::OffsetDateTime;

/// The fixed anti-scam sentence (issue: protect customers from impersonators).
pub const SCAM_EN: &str = "We never ask for payments, gift cards or codes by chat, social media or unsolicited calls.";
pub const SCAM_ZH: &str = "我们绝不会通过聊天、社交媒体或陌生来电索要付款、礼品卡或验证码。";

/// What a notice needs to be rendered.
#[derive(Debug, Clone, Copy)]
pub struct NoticeContext<'a> {
    pub case_id: &'a CaseId,
    pub language: Language,
    /// The message's authenticity code (the customer can check it with the operator).
    pub auth_code: &'a str,
    pub details: &'a NoticeDetails,
    /// The "this wasn't me" code of a notice about a new cancellation or port-out request.
    pub fraud_code: Option<&'a str>,
}

/// A rendered notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub email_text: String,
    /// Short by design: at most two SMS parts in either encoding.
    pub sms_text: String,
}

fn when(t: Option<OffsetDateTime>) -> String {
    t.map(|t| {
        format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
    })
    .unwrap_or_default()
}

/// (subject, email sentence, SMS sentence) of a notice in a language.
fn texts(notice: Notice, language: Language, id: &str, d: &NoticeDetails) -> (String, String, String) {
    let deadline = when(d.deadline);
    let amount = d.amount.map(|m| m.to_string()).unwrap_or_default();
    let code = d.code.clone().unwrap_or_default();
    let t = |s: &str, e: String, m: String| (s.to_owned(), e, m);
    match language {
        Language::En => match notice {
            Notice::RequestReceived => t(
                "We received your cancellation request",
                format!(
                    "We received your request {id} to cancel your line. Nothing changes until we have verified that it is really you."
                ),
                format!("Cancellation request {id} received."),
            ),
            Notice::VerificationCode => t(
                "Your verification code",
                format!(
                    "Your verification code for request {id} is {code}. It is valid until {deadline}. Never share it with anyone who calls you."
                ),
                format!("Your code for request {id}: {code}. Valid until {deadline}. Never share it."),
            ),
            Notice::PortalSignInCode => t(
                "Your sign-in code",
                format!(
                    "Your code to sign in to manage your line is {code}. It is valid until {deadline}. Never share it with anyone who calls you."
                ),
                format!("Your sign-in code: {code}. Valid until {deadline}. Never share it."),
            ),
            Notice::VerificationLocked => t(
                "Verification locked after wrong attempts",
                format!(
                    "There were too many wrong verification attempts on request {id}. Verification is locked until {deadline}. If this was not you, contact us through official channels."
                ),
                format!("Too many wrong attempts on {id}: locked until {deadline}. Not you? Contact us."),
            ),
            Notice::AccountLocked => t(
                "Your account lock is on",
                "Your account is now locked against cancellation, port-out and SIM changes.".to_owned(),
                "Your account lock is on.".to_owned(),
            ),
            Notice::AccountUnlocked => t(
                "Your account lock was removed",
                format!(
                    "The lock on your account is removed as of {deadline}. If you did not ask for this, contact us now."
                ),
                "Your account lock was removed. Not you? Contact us now.".to_owned(),
            ),
            Notice::FraudReportReceived => t(
                "We stopped a request you did not make",
                format!(
                    "You told us request {id} was not yours. We froze it; your line stays active while we review it."
                ),
                format!("Request {id} frozen as you asked. Your line stays active."),
            ),
            Notice::ReturnInstructions => t(
                "Please return your device",
                format!(
                    "Request {id} needs your device back by {deadline}. The return label and address are in your account."
                ),
                format!("Please return your device for {id} by {deadline}."),
            ),
            Notice::ReturnReminder => t(
                "Reminder: return your device",
                format!("Your device for request {id} is due back by {deadline}. A fee applies if it does not arrive."),
                format!("Reminder: device for {id} due by {deadline}."),
            ),
            Notice::Approved => t(
                "Your cancellation was approved",
                format!("Request {id} was approved. You can still withdraw it until {deadline}."),
                format!("Request {id} approved. Withdraw until {deadline} if you change your mind."),
            ),
            Notice::Rejected => t(
                "Your cancellation request was declined",
                format!("Request {id} was declined. Contact us through official channels for the reason."),
                format!("Request {id} was declined. Contact us for details."),
            ),
            Notice::Withdrawn => t(
                "Your cancellation was withdrawn",
                format!("Request {id} was withdrawn. Your line stays active."),
                format!("Request {id} withdrawn. Your line stays active."),
            ),
            Notice::Expired => t(
                "Your cancellation request expired",
                format!("Request {id} expired because identity verification was not completed."),
                format!("Request {id} expired: identity not verified."),
            ),
            Notice::Frozen => t(
                "A cancellation request was stopped",
                format!("Request {id} was stopped as possibly fraudulent. Your line stays active."),
                format!("Request {id} stopped as possible fraud. Line stays active."),
            ),
            Notice::Terminated => t(
                "Your line has been cancelled",
                format!("The line of request {id} has been cancelled. Keep this message as your confirmation."),
                format!("Your line is cancelled ({id}). Keep this as confirmation."),
            ),
            Notice::RefundIssued => t(
                "Your refund was issued",
                format!("We issued your refund of {amount} for request {id}."),
                format!("Refund {amount} issued for {id}."),
            ),
            Notice::FinalStatementReady => t(
                "Your final statement is ready",
                format!("The final statement for request {id} is ready in your account."),
                format!("Final statement for {id} is ready in your account."),
            ),
            Notice::TransferPinIssued => t(
                "A Number Transfer PIN was issued",
                format!(
                    "A Number Transfer PIN for your number was issued (request {id}), valid until {deadline}. If you did not ask for it, contact us now: it can move your number to another carrier."
                ),
                format!("Transfer PIN issued ({id}). Not you? Contact us now."),
            ),
            Notice::TransferPinVoided => t(
                "Your Number Transfer PIN was cancelled",
                format!(
                    "Too many wrong port attempts were made with your Number Transfer PIN (request {id}); it no longer works."
                ),
                format!("Transfer PIN for {id} cancelled after wrong attempts."),
            ),
            Notice::PortedOut => t(
                "Your number moved to another carrier",
                format!(
                    "Your number left us for another carrier (request {id}). Keep this message as your confirmation."
                ),
                format!("Your number moved to another carrier ({id})."),
            ),
        },
        Language::ZhHans => match notice {
            Notice::RequestReceived => t(
                "我们已收到您的销号申请",
                format!("我们已收到您的销号申请 {id}。在核实是您本人之前，不会做任何变更。"),
                format!("已收到销号申请 {id}。"),
            ),
            Notice::VerificationCode => t(
                "您的验证码",
                format!("申请 {id} 的一次性验证码是 {code}，有效期至 {deadline}。切勿告诉任何来电者。"),
                format!("申请 {id} 的一次性验证码：{code}，有效至 {deadline}，切勿告诉他人。"),
            ),
            Notice::PortalSignInCode => t(
                "您的登录验证码",
                format!("您用于登录管理线路的验证码是 {code}，有效期至 {deadline}。切勿告诉任何来电者。"),
                format!("登录验证码：{code}，有效至 {deadline}，切勿告诉他人。"),
            ),
            Notice::VerificationLocked => t(
                "验证错误次数过多，已锁定",
                format!(
                    "申请 {id} 的验证错误次数过多，验证已锁定至 {deadline}。如非本人操作，请通过官方渠道联系我们。"
                ),
                format!("{id} 验证错误过多，锁定至{deadline}。非本人请联系我们。"),
            ),
            Notice::AccountLocked => t(
                "您的账户锁已开启",
                "您的账户已锁定，不能销号、转网或换卡。".to_owned(),
                "您的账户锁已开启。".to_owned(),
            ),
            Notice::AccountUnlocked => t(
                "您的账户锁已解除",
                format!("您的账户锁已于 {deadline} 解除。如非本人申请，请立即联系我们。"),
                "您的账户锁已解除。非本人请立即联系我们。".to_owned(),
            ),
            Notice::FraudReportReceived => t(
                "我们已冻结一项非您本人的申请",
                format!("您告知申请 {id} 并非本人提出。我们已冻结该申请，审核期间您的线路保持正常。"),
                format!("申请 {id} 已按您的要求冻结，线路保持正常。"),
            ),
            Notice::ReturnInstructions => t(
                "请退还您的设备",
                format!("申请 {id} 需要您在 {deadline} 前退还设备。退货标签和地址在您的账户中。"),
                format!("请在 {deadline} 前退还申请 {id} 的设备。"),
            ),
            Notice::ReturnReminder => t(
                "提醒：请退还设备",
                format!("申请 {id} 的设备须在 {deadline} 前寄回，逾期将收取费用。"),
                format!("提醒：{id} 的设备须在 {deadline} 前寄回。"),
            ),
            Notice::Approved => t(
                "您的销号申请已批准",
                format!("申请 {id} 已批准。在 {deadline} 之前您仍可撤回。"),
                format!("申请 {id} 已批准，{deadline} 前可撤回。"),
            ),
            Notice::Rejected => t(
                "您的销号申请未获批准",
                format!("申请 {id} 未获批准。详情请通过官方渠道联系我们。"),
                format!("申请 {id} 未获批准，详情请联系我们。"),
            ),
            Notice::Withdrawn => t(
                "您的销号申请已撤回",
                format!("申请 {id} 已撤回，您的线路保持正常。"),
                format!("申请 {id} 已撤回，线路保持正常。"),
            ),
            Notice::Expired => t(
                "您的销号申请已过期",
                format!("由于未完成身份验证，申请 {id} 已过期。"),
                format!("申请 {id} 因未验证身份已过期。"),
            ),
            Notice::Frozen => t(
                "一项销号申请已被冻结",
                format!("申请 {id} 疑似欺诈，已被冻结。您的线路保持正常。"),
                format!("申请 {id} 疑似欺诈已冻结，线路正常。"),
            ),
            Notice::Terminated => t(
                "您的线路已注销",
                format!("申请 {id} 对应的线路已注销。请保留此消息作为凭证。"),
                format!("您的线路已注销（{id}），请保留作凭证。"),
            ),
            Notice::RefundIssued => t(
                "您的退款已发放",
                format!("申请 {id} 的退款 {amount} 已发放。"),
                format!("申请 {id} 退款 {amount} 已发放。"),
            ),
            Notice::FinalStatementReady => t(
                "您的最终账单已生成",
                format!("申请 {id} 的最终账单已可在您的账户中查看。"),
                format!("{id} 的最终账单已生成。"),
            ),
            Notice::TransferPinIssued => t(
                "已为您的号码生成携号转网密码",
                format!(
                    "已为您的号码生成携号转网密码（申请 {id}），有效期至 {deadline}。如非本人申请，请立即联系我们：该密码可将您的号码转到其他运营商。"
                ),
                format!("已生成转网密码（{id}）。非本人请立即联系我们。"),
            ),
            Notice::TransferPinVoided => t(
                "您的携号转网密码已作废",
                format!("使用您的携号转网密码（申请 {id}）的错误尝试过多，该密码已作废。"),
                format!("{id} 的转网密码因错误尝试过多已作废。"),
            ),
            Notice::PortedOut => t(
                "您的号码已转至其他运营商",
                format!("您的号码已转至其他运营商（申请 {id}）。请保留此消息作为凭证。"),
                format!("您的号码已转至其他运营商（{id}）。"),
            ),
        },
    }
}

/// Renders a notice for its channels.
pub fn render(notice: Notice, ctx: NoticeContext<'_>) -> Rendered {
    let (subject, sentence, sms) = texts(notice, ctx.language, ctx.case_id.as_str(), ctx.details);
    let code = ctx.auth_code;
    let (sentence, sms) = match (ctx.fraud_code, ctx.language) {
        (None, _) => (sentence, sms),
        (Some(f), Language::En) => (
            format!("{sentence}\n\nNot you? Stop this request at once: report the code {f} on our website."),
            format!("{sms} Not you? Report {f}."),
        ),
        (Some(f), Language::ZhHans) => (
            format!("{sentence}\n\n不是您本人？请立即在我们的网站上报此码以阻止该申请：{f}。"),
            format!("{sms}非本人？请上报{f}。"),
        ),
    };
    let (email_text, sms_text) = match ctx.language {
        Language::En => (
            format!(
                "{sentence}\n\nAuthenticity code: {code}. Anyone can check with us that this message is ours by this code.\n{SCAM_EN}\n"
            ),
            format!("{sms} Code {code}. {SCAM_EN}"),
        ),
        Language::ZhHans => (
            format!("{sentence}\n\n真实性验证码：{code}。可凭此码向我们核实本消息确由我们发出。\n{SCAM_ZH}\n"),
            format!("{sms}验证码{code}。{SCAM_ZH}"),
        ),
    };
    Rendered { subject, email_text, sms_text }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_notice_carries_the_fraud_code_in_both_languages_within_three_sms_parts() {
        let id = CaseId::parse("C01JD3K5M2X7Q4T9A").unwrap_or_else(|_| unreachable!());
        let details = NoticeDetails::default();
        for notice in [Notice::RequestReceived, Notice::TransferPinIssued] {
            for language in [Language::En, Language::ZhHans] {
                let ctx = NoticeContext {
                    case_id: &id,
                    language,
                    auth_code: "K7Q2M9XP",
                    details: &details,
                    fraud_code: Some("7XQ2M9KP4RTA"),
                };
                let r = render(notice, ctx);
                let scam = if language == Language::En { SCAM_EN } else { SCAM_ZH };
                for text in [&r.email_text, &r.sms_text] {
                    assert!(
                        text.contains("7XQ2M9KP4RTA") && text.contains("K7Q2M9XP") && text.contains(scam),
                        "{text}"
                    );
                }
                assert!(parts(&r.sms_text) <= 3, "{notice:?} {language:?}: {}", r.sms_text);
            }
        }
    }

    use super::*;
    use lineout_domain::values::Money;

    /// Counts SMS parts roughly (UCS-2 70/67, GSM-7 160/153 assuming no extension characters).
    fn parts(text: &str) -> usize {
        let ucs2 = !text.is_ascii();
        let (single, multi) = if ucs2 { (70, 67) } else { (160, 153) };
        let n = if ucs2 { text.encode_utf16().count() } else { text.len() };
        if n <= single { 1 } else { n.div_ceil(multi) }
    }

    #[test]
    fn every_notice_renders_in_every_language_with_code_and_scam_sentence() {
        let id = CaseId::parse("C01JD3K5M2X7Q4T9A").unwrap_or_else(|_| unreachable!());
        let full = NoticeDetails {
            deadline: Some(OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)),
            amount: Some(Money::usd(1_850)),
            destination: Some(lineout_domain::verification::CodeDestination::Line),
            code: Some("123456".into()),
        };
        for details in [NoticeDetails::default(), full] {
            for notice in Notice::ALL {
                for language in [Language::En, Language::ZhHans] {
                    let ctx = NoticeContext {
                        case_id: &id,
                        language,
                        auth_code: "K7Q2M9XP",
                        details: &details,
                        fraud_code: None,
                    };
                    let r = render(notice, ctx);
                    let scam = if language == Language::En { SCAM_EN } else { SCAM_ZH };
                    assert!(!r.subject.is_empty(), "{notice:?} {language:?}");
                    for text in [&r.email_text, &r.sms_text] {
                        assert!(text.contains("K7Q2M9XP") && text.contains(scam), "{notice:?} {language:?}: {text}");
                        assert!(!text.contains('{'), "unfilled placeholder in {notice:?} {language:?}: {text}");
                    }
                    assert!(
                        parts(&r.sms_text) <= 3,
                        "{notice:?} {language:?} is {} parts: {}",
                        parts(&r.sms_text),
                        r.sms_text
                    );
                    if language == Language::ZhHans {
                        assert!(!r.subject.is_ascii(), "{notice:?} has an English subject");
                    }
                }
            }
        }
    }
}
