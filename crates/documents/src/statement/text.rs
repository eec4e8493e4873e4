//! Every text of a statement in English and Simplified Chinese: headings, labels,
//! the kinds of line, the closing sentence, the authenticity code and the anti-scam
//! sentence (the same as the notices').

use super::{Lang, LineKind, magnitude};

/// The fixed texts of a statement in one language.
pub(crate) struct Texts {
    pub(crate) title: &'static str,
    pub(crate) case: &'static str,
    pub(crate) customer: &'static str,
    pub(crate) account: &'static str,
    pub(crate) line: &'static str,
    pub(crate) opened: &'static str,
    pub(crate) closed: &'static str,
    pub(crate) not_closed: &'static str,
    pub(crate) details: &'static str,
    pub(crate) date: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) description: &'static str,
    pub(crate) amount: &'static str,
    pub(crate) balance: &'static str,
    pub(crate) opening_balance: &'static str,
    pub(crate) closing_balance: &'static str,
    /// What the sign of a balance means.
    pub(crate) negative_note: &'static str,
    pub(crate) refund_method: &'static str,
    /// The fixed anti-scam sentence.
    pub(crate) scam: &'static str,
}

const EN: Texts = Texts {
    title: "Final statement",
    case: "Case",
    customer: "Customer",
    account: "Account",
    line: "Line",
    opened: "Opened",
    closed: "Closed",
    not_closed: "not yet closed",
    details: "Statement details",
    date: "Date",
    kind: "Type",
    description: "Description",
    amount: "Amount",
    balance: "Balance",
    opening_balance: "Opening balance",
    closing_balance: "Closing balance",
    negative_note: "A positive balance is what you owe us; a negative balance is what we owe you.",
    refund_method: "Refund method",
    scam: "We never ask for payments, gift cards or codes by chat, social media or unsolicited calls.",
};

const ZH: Texts = Texts {
    title: "最终账单",
    case: "案件编号",
    customer: "客户",
    account: "账户",
    line: "号码",
    opened: "受理日期",
    closed: "结案日期",
    not_closed: "尚未结案",
    details: "账单信息",
    date: "日期",
    kind: "类型",
    description: "说明",
    amount: "金额",
    balance: "余额",
    opening_balance: "期初余额",
    closing_balance: "期末余额",
    negative_note: "余额为正数表示您应付给我们的金额；为负数表示我们应退还您的金额。",
    refund_method: "退款方式",
    scam: "我们绝不会通过聊天、社交媒体或陌生来电索要付款、礼品卡或验证码。",
};

impl Lang {
    pub(crate) fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::ZhHans => &ZH,
        }
    }

    /// The name of a kind of line.
    pub(crate) fn kind(self, kind: LineKind) -> &'static str {
        match (self, kind) {
            (Lang::En, LineKind::Charge) => "Charge",
            (Lang::En, LineKind::Fee) => "Fee",
            (Lang::En, LineKind::Payment) => "Payment",
            (Lang::En, LineKind::Credit) => "Credit",
            (Lang::En, LineKind::WriteOff) => "Write-off",
            (Lang::En, LineKind::Refund) => "Refund",
            (Lang::En, LineKind::Forfeit) => "Forfeit",
            (Lang::ZhHans, LineKind::Charge) => "费用",
            (Lang::ZhHans, LineKind::Fee) => "手续费",
            (Lang::ZhHans, LineKind::Payment) => "付款",
            (Lang::ZhHans, LineKind::Credit) => "抵扣",
            (Lang::ZhHans, LineKind::WriteOff) => "核销",
            (Lang::ZhHans, LineKind::Refund) => "退款",
            (Lang::ZhHans, LineKind::Forfeit) => "余额作废",
        }
    }

    /// The line's number, by its last digits.
    pub(crate) fn line_ending(self, last4: &str) -> String {
        match self {
            Lang::En => format!("ending in {last4}"),
            Lang::ZhHans => format!("尾号 {last4}"),
        }
    }

    /// The caption of the table of lines.
    pub(crate) fn caption(self, currency: &str) -> String {
        match self {
            Lang::En => format!("Account activity, in {currency}"),
            Lang::ZhHans => format!("账户明细（币种：{currency}）"),
        }
    }

    /// The sentence that says who owes what at the end.
    pub(crate) fn closing(self, closing_cents: i64, currency: &str) -> String {
        let amount = format!("{} {currency}", magnitude(closing_cents));
        match (self, closing_cents.signum()) {
            (Lang::En, 1) => format!("You owe {amount}."),
            (Lang::En, -1) => format!("We owe you {amount}."),
            (Lang::En, _) => "Nothing is owed.".to_owned(),
            (Lang::ZhHans, 1) => format!("您尚需支付 {amount}。"),
            (Lang::ZhHans, -1) => format!("我们应退还您 {amount}。"),
            (Lang::ZhHans, _) => "无任何欠款。".to_owned(),
        }
    }

    /// The sentence giving the statement's authenticity code.
    pub(crate) fn auth(self, code: &str) -> String {
        match self {
            Lang::En => {
                format!("Authenticity code: {code}. Anyone can check with us that this statement is ours by this code.")
            }
            Lang::ZhHans => format!("真实性验证码：{code}。可凭此码向我们核实本账单确由我们发出。"),
        }
    }

    /// A label and its value on one line: "Refund method: card".
    pub(crate) fn labelled(self, label: &str, value: &str) -> String {
        match self {
            Lang::En => format!("{label}: {value}"),
            Lang::ZhHans => format!("{label}：{value}"),
        }
    }

    /// "Page 1 of 2".
    pub(crate) fn page_of(self, page: usize, pages: usize) -> String {
        match self {
            Lang::En => format!("Page {page} of {pages}"),
            Lang::ZhHans => format!("第 {page} 页，共 {pages} 页"),
        }
    }

    /// The document's title: the operator, the statement and the case.
    pub(crate) fn document_title(self, operator: &str, case_id: &str) -> String {
        match self {
            Lang::En => format!("{operator}: final statement, case {case_id}"),
            Lang::ZhHans => format!("{operator}：最终账单（案件 {case_id}）"),
        }
    }

    /// Every character the fixed texts use, so a font can be checked before use.
    pub(crate) fn fixed_text(self) -> String {
        let t = self.texts();
        let mut all: Vec<String> = [
            t.title,
            t.case,
            t.customer,
            t.account,
            t.line,
            t.opened,
            t.closed,
            t.not_closed,
            t.details,
            t.date,
            t.kind,
            t.description,
            t.amount,
            t.balance,
            t.opening_balance,
            t.closing_balance,
            t.negative_note,
            t.refund_method,
            t.scam,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        all.extend(LineKind::ALL.iter().map(|&kind| self.kind(kind).to_owned()));
        all.extend([
            self.line_ending("0123456789"),
            self.caption("USD"),
            self.closing(1, "-+,."),
            self.closing(-1, ""),
            self.closing(0, ""),
            self.auth(""),
            self.page_of(1, 2),
            self.document_title("", ""),
            self.labelled("", ""),
        ]);
        all.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scam_sentence_is_the_notices_one() {
        assert_eq!(
            Lang::En.texts().scam,
            "We never ask for payments, gift cards or codes by chat, social media or unsolicited calls."
        );
        assert_eq!(Lang::ZhHans.texts().scam, "我们绝不会通过聊天、社交媒体或陌生来电索要付款、礼品卡或验证码。");
    }

    #[test]
    fn closing_sentences() {
        assert_eq!(Lang::En.closing(1850, "USD"), "You owe 18.50 USD.");
        assert_eq!(Lang::En.closing(-1850, "USD"), "We owe you 18.50 USD.");
        assert_eq!(Lang::En.closing(0, "USD"), "Nothing is owed.");
        assert_eq!(Lang::ZhHans.closing(1850, "USD"), "您尚需支付 18.50 USD。");
        assert_eq!(Lang::ZhHans.closing(-1850, "USD"), "我们应退还您 18.50 USD。");
        assert_eq!(Lang::ZhHans.closing(0, "USD"), "无任何欠款。");
        assert_eq!(Lang::En.closing(i64::MIN, "USD"), "We owe you 92,233,720,368,547,758.08 USD.");
    }

    #[test]
    fn english_texts_are_latin() {
        // English statements are drawn with the standard fonts: no character of
        // their fixed texts may be lost.
        let text = Lang::En.fixed_text();
        assert_eq!(crate::winansi::decode(&crate::winansi::encode(&text)), text);
    }
}
