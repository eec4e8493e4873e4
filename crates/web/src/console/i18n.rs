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
    ("language", "Language", "语言"),
    ("skip", "Skip to content", "跳到正文"),
    ("verification", "Verification", "身份核实"),
    ("settlement", "Settlement", "结清欠款"),
    ("device_return", "Device return", "设备退回"),
    ("refund", "Refund", "退款"),
    ("owed", "Owed", "欠款"),
    ("actions", "Actions", "操作"),
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
