//! The text of customer notices in English and Simplified Chinese.
//!
//! Every notice ends with the anti-scam sentence: the operator never asks for extra
//! fees by phone or message. The notifications issue replaces this with full templates.

use lineout_domain::case::Notice;
use lineout_domain::values::{CaseId, Language};

const SCAM_EN: &str =
    "We will never call or text you to ask for extra fees, gift cards or your PIN. If someone does, it is a scam.";
const SCAM_ZH: &str = "我们绝不会通过电话或短信向您索要额外费用、礼品卡或密码。如有此类要求，均为诈骗。";

/// (subject, body) of a notice for a case, in the customer's language.
pub fn render(notice: Notice, language: Language, case: &CaseId) -> (String, String) {
    let id = case.as_str();
    let (subject, text) = match language {
        Language::En => match notice {
            Notice::RequestReceived => (
                "We received your cancellation request",
                format!(
                    "Your request {id} to cancel your line was received. We will verify your identity before anything changes."
                ),
            ),
            Notice::ReturnInstructions => (
                "Please return your device",
                format!(
                    "Your line's device must be returned for request {id}. Follow the return instructions in your account."
                ),
            ),
            Notice::Approved => (
                "Your cancellation was approved",
                format!("Request {id} was approved. You can still withdraw it until the date shown in your account."),
            ),
            Notice::Rejected => (
                "Your cancellation request was declined",
                format!("Request {id} was declined. Contact support through the official channels for details."),
            ),
            Notice::Withdrawn => {
                ("Your cancellation was withdrawn", format!("Request {id} was withdrawn. Your line stays active."))
            }
            Notice::Expired => (
                "Your cancellation request expired",
                format!("Request {id} expired because identity verification was not completed."),
            ),
            Notice::Frozen => (
                "A cancellation request was stopped",
                format!("Request {id} was stopped as possibly fraudulent. Your line stays active."),
            ),
            Notice::Terminated => (
                "Your line has been cancelled",
                format!("The line of request {id} has been cancelled. Keep this message as your confirmation."),
            ),
            Notice::RefundIssued => ("Your refund was issued", format!("The refund for request {id} was issued.")),
            Notice::TransferPinIssued => (
                "A Number Transfer PIN was issued",
                format!(
                    "A Number Transfer PIN was issued for your number (request {id}). If you did not ask for it, reply STOP or call us: it can be used to move your number to another carrier."
                ),
            ),
            Notice::TransferPinVoided => (
                "Your Number Transfer PIN was cancelled",
                format!(
                    "Too many wrong port attempts were made with your Number Transfer PIN (request {id}); it no longer works. Request a new one if you are moving your number."
                ),
            ),
            Notice::PortedOut => (
                "Your number moved to another carrier",
                format!(
                    "Your number left us for another carrier (request {id}). Keep this message as your confirmation."
                ),
            ),
        },
        Language::ZhHans => match notice {
            Notice::RequestReceived => {
                ("我们已收到您的销号申请", format!("您的销号申请 {id} 已收到。在任何变更之前，我们会先核实您的身份。"))
            }
            Notice::ReturnInstructions => {
                ("请退还您的设备", format!("申请 {id} 需要退还线路绑定的设备，请按账户中的退货说明操作。"))
            }
            Notice::Approved => {
                ("您的销号申请已批准", format!("申请 {id} 已批准。在账户中显示的日期之前，您仍可撤回。"))
            }
            Notice::Rejected => ("您的销号申请未获批准", format!("申请 {id} 未获批准。详情请通过官方渠道联系客服。")),
            Notice::Withdrawn => ("您的销号申请已撤回", format!("申请 {id} 已撤回，您的线路保持正常。")),
            Notice::Expired => ("您的销号申请已过期", format!("由于未完成身份验证，申请 {id} 已过期。")),
            Notice::Frozen => ("一项销号申请已被冻结", format!("申请 {id} 疑似欺诈，已被冻结。您的线路保持正常。")),
            Notice::Terminated => ("您的线路已注销", format!("申请 {id} 对应的线路已注销。请保留此消息作为凭证。")),
            Notice::RefundIssued => ("您的退款已发放", format!("申请 {id} 的退款已发放。")),
            Notice::TransferPinIssued => (
                "已为您的号码生成携号转网密码",
                format!(
                    "已为您的号码生成携号转网密码（申请 {id}）。如非本人操作，请立即联系我们：该密码可用于将您的号码转到其他运营商。"
                ),
            ),
            Notice::TransferPinVoided => (
                "您的携号转网密码已作废",
                format!("使用您的携号转网密码（申请 {id}）的错误尝试过多，该密码已作废。如需转网，请重新申请。"),
            ),
            Notice::PortedOut => {
                ("您的号码已转至其他运营商", format!("您的号码已转至其他运营商（申请 {id}）。请保留此消息作为凭证。"))
            }
        },
    };
    let scam = match language {
        Language::En => SCAM_EN,
        Language::ZhHans => SCAM_ZH,
    };
    (subject.to_owned(), format!("{text} {scam}"))
}
