//! The pages' words in English and Simplified Chinese: one table, looked up by key.
//!
//! The language comes from the `lo_lang` cookie (set by the switch on every page), else
//! from the browser's `Accept-Language`, else English.

use axum::http::HeaderMap;

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhHans,
}

impl Lang {
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhHans => "zh-Hans",
        }
    }

    pub fn parse(tag: &str) -> Option<Self> {
        match tag {
            "en" => Some(Self::En),
            "zh-Hans" => Some(Self::ZhHans),
            _ => None,
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::ZhHans,
            Self::ZhHans => Self::En,
        }
    }

    /// The language's own name, shown on the switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::ZhHans => "简体中文",
        }
    }

    /// From the `lo_lang` cookie, else the first supported `Accept-Language` entry.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        if let Some(l) = super::cookie(headers, LANG_COOKIE).and_then(|v| Self::parse(&v)) {
            return l;
        }
        let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',').take(20) {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag.starts_with("zh") {
                Some(Self::ZhHans)
            } else if tag.starts_with("en") {
                Some(Self::En)
            } else {
                None
            };
            if let Some(lang) = lang
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Self::En, |(_, l)| l)
    }
}

/// The cookie remembering the chosen language.
pub const LANG_COOKIE: &str = "lo_lang";

/// (key, English, Chinese).
const WORDS: &[(&str, &str, &str)] = &[
    ("console", "Staff console", "员工控制台"),
    ("sign_in", "Sign in", "登录"),
    ("sign_out", "Sign out", "退出"),
    ("username", "Username", "用户名"),
    ("password", "Password", "密码"),
    ("signed_in_as", "Signed in as", "当前用户"),
    ("overview", "Overview", "概览"),
    ("review_queue", "Review queue", "审核队列"),
    ("warehouse", "Warehouse", "仓库"),
    ("intake", "In-store intake", "门店受理"),
    ("case", "Case", "案件"),
    ("status", "Status", "状态"),
    ("opened", "Opened", "创建时间"),
    ("due", "Due", "截止时间"),
    ("overdue", "Overdue", "已逾期"),
    ("channel", "Channel", "渠道"),
    ("number", "Number", "号码"),
    ("holder", "Account holder", "账户持有人"),
    ("timeline", "Timeline", "时间线"),
    ("approve", "Approve", "批准"),
    ("reject", "Reject", "拒绝"),
    ("reason", "Reason", "原因"),
    ("note", "Note (optional)", "备注（可选）"),
    ("no_cases", "No cases here.", "这里没有案件。"),
    ("open_cases_by_state", "Open cases by state", "按状态统计的未结案件"),
    ("dead_letters", "Messages and effects that failed for good", "彻底失败的消息和操作"),
    ("pending_effects", "Effects waiting to run", "等待执行的操作"),
    ("receive", "Receive device", "接收设备"),
    ("inspect", "Inspect device", "检测设备"),
    ("imei", "IMEI read from the device", "从设备读取的 IMEI"),
    ("condition", "Condition", "状况"),
    ("missing_accessories", "Missing accessories (comma-separated)", "缺少的配件（逗号分隔）"),
    ("model_matches", "The model matches", "型号相符"),
    ("awaiting_device", "Devices expected back", "等待退回的设备"),
    ("arrived", "Arrived, to inspect", "已到达，待检测"),
    ("rma", "Return authorization", "退货授权号"),
    ("deadline", "Deadline", "截止日期"),
    ("find_line", "Find the line", "查找线路"),
    ("phone_number", "Phone number", "电话号码"),
    ("find", "Find", "查找"),
    ("verify_and_open", "Verify the customer and open the cancellation", "核实客户身份并提交销号"),
    ("photo_id_type", "Photo ID type", "证件类型"),
    ("photo_id_last4", "Last 4 characters of the ID number", "证件号码后 4 位"),
    ("photo_id_expiry", "ID expiry date", "证件有效期"),
    (
        "attest",
        "I checked the photo ID in person and it matches the account holder",
        "我已当面核对证件，与账户持有人一致",
    ),
    ("timing", "When", "时间"),
    ("timing_asap", "As soon as possible", "尽快"),
    ("timing_end_of_cycle", "At the end of the billing cycle", "本计费周期结束时"),
    (
        "line_masked",
        "Before verification only the masked number and the holder's name are shown.",
        "核实身份前，只显示部分隐藏的号码和持有人姓名。",
    ),
    ("not_found_line", "No line has this number.", "没有找到该号码的线路。"),
    ("case_opened", "Case opened", "案件已创建"),
    ("done", "Done.", "已完成。"),
    ("error", "Something went wrong", "出错了"),
    ("error_code", "Error code", "错误代码"),
    ("request_id", "Request id", "请求编号"),
    ("back", "Back", "返回"),
    ("four_eyes", "High risk: needs a second reviewer", "高风险：需要第二位审核人"),
    ("risk", "Risk score", "风险评分"),
    ("effect", "Effect", "操作"),
    ("attempts", "Attempts", "尝试次数"),
    ("or_code", "Or verify with a code texted to the line", "或用发送到该号码的验证码核实"),
    ("send_code_to_line", "Open the request and text a code to the line", "提交申请并向该号码发送验证码"),
    ("code_received", "Code the customer received", "客户收到的验证码"),
    ("first_approval", "first approval by", "第一次批准人"),
    ("language", "Language", "语言"),
    ("skip", "Skip to content", "跳到正文"),
    ("verification", "Verification", "身份核实"),
    ("settlement", "Settlement", "结清欠款"),
    ("device_return", "Device return", "设备退回"),
    ("refund", "Refund", "退款"),
    ("owed", "Owed", "欠款"),
    ("actions", "Actions", "操作"),
    // The customer portal.
    ("portal", "My line", "我的线路"),
    (
        "portal_intro",
        "Enter your phone number. We will text a 6-digit code to that line.",
        "请输入您的电话号码。我们会向该号码发送 6 位验证码短信。",
    ),
    ("send_code", "Text me a code", "发送验证码"),
    ("code", "6-digit code", "6 位验证码"),
    (
        "code_sent",
        "If this number is one of our active lines, we texted a code to it. It is valid for 10 minutes.",
        "如果该号码是我们的有效线路，我们已向其发送验证码，10 分钟内有效。",
    ),
    (
        "code_invalid",
        "The code is wrong, expired or already used. Ask for a new code if needed.",
        "验证码错误、已过期或已使用。如有需要请重新获取。",
    ),
    ("code_locked", "Too many wrong codes. Ask for a new code.", "错误次数过多。请重新获取验证码。"),
    ("new_code", "Ask for a new code", "重新获取验证码"),
    ("plan", "Plan", "套餐"),
    ("balance", "Remaining prepaid balance", "剩余预付余额"),
    ("cancel_my_line", "Cancel my line", "注销我的线路"),
    (
        "keep_number",
        "Want to keep your number? Move it to another operator instead (port out).",
        "想保留号码？可以改为携号转网。",
    ),
    ("get_transfer_pin", "Get a Number Transfer PIN", "获取携号转网 PIN 码"),
    (
        "transfer_pin_is",
        "Your Number Transfer PIN — give it only to your new operator. It is shown once.",
        "您的携号转网 PIN 码——只告诉新运营商。仅显示一次。",
    ),
    ("before_cancel", "Before you cancel", "注销前请确认"),
    (
        "backup",
        "Back up your data first: contacts, photos and messages on your phone, and everything that sends codes to this number (banks, apps). After the line ends nothing can be recovered.",
        "请先备份资料：手机里的联系人、照片和短信，以及向此号码发送验证码的服务（银行、应用）。线路注销后无法恢复。",
    ),
    (
        "refund_info",
        "What is left of your prepaid balance is refunded after the line ends, minus the fee in our refund policy.",
        "线路注销后，剩余预付余额将按退款政策扣除手续费后退还。",
    ),
    (
        "owed_info",
        "You owe this amount; it must be paid before the line can be cancelled.",
        "您尚欠此金额；注销前需要先付清。",
    ),
    (
        "device_info",
        "Your phone must come back. After you submit, we send a prepaid return label and the deadline.",
        "您的手机需要退回。提交后，我们会发送预付邮寄标签和截止日期。",
    ),
    (
        "anti_scam",
        "We never ask for payments, gift cards or codes over chat, social media or unsolicited calls.",
        "我们绝不会通过聊天、社交媒体或陌生来电向您索要付款、礼品卡或验证码。",
    ),
    ("send_confirmation_to", "Send the confirmation code to", "确认码发送至"),
    ("to_line", "This line (text message)", "本号码（短信）"),
    ("to_email", "My email", "我的电子邮箱"),
    ("to_alt_phone", "My other phone", "我的另一个电话"),
    ("submit_cancel", "Submit cancellation", "提交注销申请"),
    ("confirm_title", "Confirm it is you", "确认是您本人"),
    (
        "confirm_intro",
        "We sent you a 6-digit code. Enter it to confirm the cancellation.",
        "我们已向您发送 6 位验证码。请输入以确认注销。",
    ),
    ("confirm", "Confirm", "确认"),
    ("your_case", "Your cancellation", "您的注销申请"),
    ("reference", "Reference", "编号"),
    ("next_step", "What happens next", "下一步"),
    ("next_verifying", "Confirm it is you with the code we sent.", "请输入我们发送的验证码，确认是您本人。"),
    ("next_preparing", "Pay what is owed and return your device if we asked for it.", "请付清欠款，并按要求退回设备。"),
    (
        "next_in_review",
        "We are reviewing your request and will text you the result.",
        "我们正在审核您的申请，结果将以短信通知您。",
    ),
    (
        "next_approved",
        "Approved. The line ends at the time shown; until then you can still withdraw.",
        "已批准。线路将在所示时间终止；在此之前您仍可撤回。",
    ),
    ("next_done", "Finished. Keep this page's reference for your records.", "已完成。请保留本页编号备查。"),
    ("line_ends", "Line ends", "线路终止时间"),
    ("withdraw", "Withdraw my request", "撤回申请"),
    ("withdrawn_done", "Your request is withdrawn. Your line stays active.", "您的申请已撤回，线路继续有效。"),
    ("not_me", "This wasn't me — freeze this request", "不是我本人操作——冻结此申请"),
    ("statement", "Final statement", "最终账单"),
    ("return_label", "Return label (PDF)", "退货标签（PDF）"),
    ("check_code", "Check a message's authenticity code", "核验消息真伪码"),
    ("auth_code", "Authenticity code", "真伪码"),
    ("check", "Check", "核验"),
    ("auth_ours", "This code is ours. We sent that message on", "此代码属实。该消息由我们发送于"),
    (
        "auth_not_ours",
        "This code is not one of ours: the message did not come from us. Do not reply, pay or share any code.",
        "此代码不属于我们：该消息并非我们发送。请勿回复、付款或提供任何验证码。",
    ),
    ("no_case", "You have no open cancellation.", "您没有进行中的注销申请。"),
    ("view_case", "View my cancellation", "查看我的注销申请"),
    ("download_data", "Download my data", "下载我的资料"),
    (
        "export_requested",
        "We are preparing a file with everything we hold about your account. The link below works once and expires in 3 days; if the file is not ready yet, try again in a minute.",
        "我们正在准备一份包含您账户全部资料的文件。下面的链接只能使用一次，3 天后失效；如果文件尚未准备好，请稍后再试。",
    ),
    (
        "export_not_ready",
        "The file is not ready yet. Try the link again in a minute.",
        "文件尚未准备好。请稍后再点击链接。",
    ),
    ("refund_method", "How should we refund your balance?", "余额如何退还给您？"),
    ("refund_original_payment", "To the payment method I used", "退回原支付方式"),
    ("refund_check", "By check to my billing address", "以支票寄到账单地址"),
    ("refund_account_credit", "Keep it as credit on my account", "保留为账户余额"),
];

/// The word for `key` in `lang` (the key itself if the table lacks it; a test checks
/// every key used by the pages is in the table).
pub fn t(lang: Lang, key: &str) -> &'static str {
    WORDS.iter().find(|(k, _, _)| *k == key).map_or("?", |(_, en, zh)| match lang {
        Lang::En => en,
        Lang::ZhHans => zh,
    })
}

/// Whether the table has `key`.
#[cfg(test)]
pub fn has(key: &str) -> bool {
    WORDS.iter().any(|(k, _, _)| *k == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn keys_are_unique_and_translated() {
        for (i, (k, en, zh)) in WORDS.iter().enumerate() {
            assert!(!en.is_empty() && !zh.is_empty(), "{k}");
            assert!(WORDS[i + 1..].iter().all(|(other, _, _)| other != k), "duplicate key {k}");
        }
    }

    #[test]
    fn accept_language_picks_the_best_supported() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert("accept-language", HeaderValue::from_static("zh-CN,zh;q=0.9,en;q=0.8"));
        assert_eq!(Lang::from_headers(&h), Lang::ZhHans);
        h.insert("accept-language", HeaderValue::from_static("fr, en;q=0.5, zh;q=0.4"));
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert("cookie", HeaderValue::from_static("a=b; lo_lang=zh-Hans"));
        assert_eq!(Lang::from_headers(&h), Lang::ZhHans);
    }
}
