//! The final statement of a cancellation case, in English or Simplified Chinese, as
//! an HTML page ([`statement_html`]) and as a Letter-size PDF ([`statement_pdf`]):
//! the opening balance, each ledger line with its sign and the running balance
//! after it, the closing balance in a sentence ("You owe…", "We owe you…",
//! "Nothing is owed."), the refund method, the authenticity code and the anti-scam
//! sentence.
//!
//! The arithmetic is on integer cents ([`totals`], [`format_money`]); nothing here
//! reads a clock or a file: a Chinese PDF is drawn with a TrueType font the caller
//! loads and passes as bytes.

mod html;
mod pdf;
mod text;

pub use html::statement_html;
pub use pdf::{MAX_DATE_CHARS, MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS, MAX_LINES, statement_pdf};

/// The language a statement is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    En,
    /// Simplified Chinese.
    ZhHans,
}

impl Lang {
    /// The BCP 47 tag of the language, as HTML's `lang` attribute takes it.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhHans => "zh-Hans",
        }
    }
}

/// What a statement line records; the kind gives the direction of its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    Charge,
    Fee,
    Payment,
    Credit,
    WriteOff,
    Refund,
    Forfeit,
}

impl LineKind {
    pub const ALL: [LineKind; 7] = [
        LineKind::Charge,
        LineKind::Fee,
        LineKind::Payment,
        LineKind::Credit,
        LineKind::WriteOff,
        LineKind::Refund,
        LineKind::Forfeit,
    ];

    /// +1 when the line adds to what the customer owes (a charge, a fee, money
    /// refunded to them, prepaid money forfeited), −1 when it takes away from it (a
    /// payment, a credit, a write-off). The same signs as the account ledger.
    pub fn sign(self) -> i64 {
        match self {
            LineKind::Charge | LineKind::Fee | LineKind::Refund | LineKind::Forfeit => 1,
            LineKind::Payment | LineKind::Credit | LineKind::WriteOff => -1,
        }
    }
}

/// One line of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// The day of the line, already formatted (e.g. "2026-11-30").
    pub date: String,
    pub kind: LineKind,
    pub description: String,
    /// Never negative: the kind gives the direction.
    pub amount_cents: i64,
}

/// What a final statement says. Dates are given already formatted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statement {
    pub language: Lang,
    pub operator_name: String,
    pub case_id: String,
    pub customer_name: String,
    pub account_id: String,
    /// The last four digits of the line's number.
    pub msisdn_last4: String,
    pub opened_on: String,
    /// `None` while the case is not closed.
    pub closed_on: Option<String>,
    /// The ISO 4217 code the amounts are in (e.g. "USD"), printed after them.
    pub currency: String,
    /// What the customer owed minus what they had prepaid when the case opened;
    /// negative when we owed them (a credit).
    pub opening_balance_cents: i64,
    pub lines: Vec<StatementLine>,
    /// How money we owe is paid back (e.g. "card ending in 4242"), if known.
    pub refund_method: Option<String>,
    /// The statement's authenticity code, which the customer can check with us.
    pub auth_code: Option<String>,
}

/// The running balance: the opening balance, then the balance after each line in
/// order, so the last one is the closing balance (`lines.len() + 1` values).
/// Positive: the customer owes us; negative: we owe them. Sums saturate at the
/// limits of `i64`, as the account ledger's balance does.
pub fn totals(statement: &Statement) -> Vec<i64> {
    let mut balance = statement.opening_balance_cents;
    let mut out = Vec::with_capacity(statement.lines.len() + 1);
    out.push(balance);
    for line in &statement.lines {
        balance = balance.saturating_add(line.kind.sign().saturating_mul(line.amount_cents));
        out.push(balance);
    }
    out
}

/// An amount in cents as text, exactly: `18.50 USD`, `-1,234.05 USD`, `0.00 USD`
/// (thousands separated by commas, a minus sign when negative).
pub fn format_money(cents: i64, currency: &str) -> String {
    format!("{}{} {currency}", if cents < 0 { "-" } else { "" }, magnitude(cents))
}

/// A line's amount with the sign it is counted with: `+3.00 USD`, `-15.50 USD`.
pub fn format_signed(cents: i64, currency: &str) -> String {
    format!("{}{} {currency}", if cents < 0 { "-" } else { "+" }, magnitude(cents))
}

/// The absolute value of `cents` in units and cents, the units grouped by
/// thousands: `1,234.05`.
fn magnitude(cents: i64) -> String {
    let cents = cents.unsigned_abs();
    let units = (cents / 100).to_string();
    let mut grouped = String::with_capacity(units.len() + units.len() / 3);
    for (index, digit) in units.chars().enumerate() {
        if index > 0 && (units.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}.{:02}", cents % 100)
}

/// Why a statement cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("a Chinese statement needs a CJK TrueType font (e.g. fonts-wqy-microhei); none was given")]
    NoCjkFont,
    #[error("the CJK font cannot be used: {0}")]
    Font(#[from] crate::pdf::FontError),
    #[error("the font has no glyphs for the statement's Chinese text: {0}")]
    FontLacksGlyphs(String),
    #[error("{field} is longer than {max} characters")]
    FieldTooLong { field: &'static str, max: usize },
    #[error("the statement has more than {max} lines")]
    TooManyLines { max: usize },
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A closed case whose prepaid credit is refunded less a fee: opening −18.50
    /// (we owe), fee +3.00, refund +15.50, closing 0.
    pub(crate) fn sample(language: Lang) -> Statement {
        Statement {
            language,
            operator_name: "Lineout Mobile".to_owned(),
            case_id: "C01JD3K5M2X7Q4T9A".to_owned(),
            customer_name: "Dana Whitfield".to_owned(),
            account_id: "A-100234".to_owned(),
            msisdn_last4: "4821".to_owned(),
            opened_on: "2026-11-02".to_owned(),
            closed_on: Some("2026-11-30".to_owned()),
            currency: "USD".to_owned(),
            opening_balance_cents: -1850,
            lines: vec![
                StatementLine {
                    date: "2026-11-03".to_owned(),
                    kind: LineKind::Fee,
                    description: "Refund processing fee".to_owned(),
                    amount_cents: 300,
                },
                StatementLine {
                    date: "2026-11-30".to_owned(),
                    kind: LineKind::Refund,
                    description: "Refund R-7781 to card ending in 4242".to_owned(),
                    amount_cents: 1550,
                },
            ],
            refund_method: Some("card ending in 4242".to_owned()),
            auth_code: Some("K7Q2M9XP".to_owned()),
        }
    }

    #[test]
    fn running_balances_are_exact() {
        assert_eq!(totals(&sample(Lang::En)), [-1850, -1550, 0]);
        let every_kind = Statement {
            opening_balance_cents: 1000,
            lines: LineKind::ALL
                .iter()
                .map(|&kind| StatementLine { date: String::new(), kind, description: String::new(), amount_cents: 100 })
                .collect(),
            ..sample(Lang::En)
        };
        // Charge, fee: +; payment, credit, write-off: −; refund, forfeit: +.
        assert_eq!(totals(&every_kind), [1000, 1100, 1200, 1100, 1000, 900, 1000, 1100]);
        let none = Statement { lines: vec![], ..sample(Lang::En) };
        assert_eq!(totals(&none), [-1850]);
        let huge = Statement {
            opening_balance_cents: i64::MAX - 1,
            lines: vec![StatementLine { kind: LineKind::Charge, amount_cents: 5, ..sample(Lang::En).lines[0].clone() }],
            ..sample(Lang::En)
        };
        assert_eq!(totals(&huge), [i64::MAX - 1, i64::MAX]);
    }

    #[test]
    fn money_is_formatted_from_cents() {
        assert_eq!(format_money(1850, "USD"), "18.50 USD");
        assert_eq!(format_money(-1850, "USD"), "-18.50 USD");
        assert_eq!(format_money(0, "USD"), "0.00 USD");
        assert_eq!(format_money(5, "EUR"), "0.05 EUR");
        assert_eq!(format_money(-99, "USD"), "-0.99 USD");
        assert_eq!(format_money(100_000, "USD"), "1,000.00 USD");
        assert_eq!(format_money(12_345_678_901, "USD"), "123,456,789.01 USD");
        assert_eq!(format_money(i64::MIN, "USD"), "-92,233,720,368,547,758.08 USD");
        assert_eq!(format_signed(300, "USD"), "+3.00 USD");
        assert_eq!(format_signed(-1550, "USD"), "-15.50 USD");
    }

    proptest::proptest! {
        #[test]
        fn formatted_money_reads_back_as_the_same_cents(cents in proptest::prelude::any::<i64>()) {
            let text = format_money(cents, "USD");
            let digits: String = text.trim_end_matches(" USD").chars().filter(|c| *c != ',' && *c != '.').collect();
            let back: i128 = digits.parse().unwrap();
            proptest::prop_assert_eq!(back, i128::from(cents));
        }
    }
}
