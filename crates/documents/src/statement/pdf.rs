//! The statement as a Letter-size PDF, as many pages as its lines need: the
//! operator and the title, the details, the table of lines (its header repeated on
//! each page, each row never split), the closing balance in a sentence, the refund
//! method, the authenticity code and the anti-scam sentence, and on every page a
//! footer with the case and "Page n of N".
//!
//! English is drawn with the standard Helvetica fonts; a piece of text they cannot
//! show (a customer's name in Chinese) is drawn with the CJK font when the caller
//! gave one. Chinese is drawn entirely with the CJK font, which is then required.

use std::collections::BTreeSet;

use super::text::Texts;
use super::{Error, Lang, Statement, format_money, format_signed, totals};
use crate::pdf::{Document, EmbeddedFont, Font, Page, PageSize};
use crate::winansi;

/// The longest name, id, refund method or authenticity code a statement takes.
pub const MAX_FIELD_CHARS: usize = 200;
/// The longest description of a line.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// The longest date (they come formatted).
pub const MAX_DATE_CHARS: usize = 40;
/// The most lines a statement takes (some forty pages).
pub const MAX_LINES: usize = 2000;
/// The longest currency code.
const MAX_CURRENCY_CHARS: usize = 8;

const PAGE: PageSize = PageSize::Letter;
const LEFT_PT: f64 = 54.0;
const RIGHT_PT: f64 = 612.0 - 54.0;
const WIDTH_PT: f64 = RIGHT_PT - LEFT_PT;
const TOP_PT: f64 = 792.0 - 54.0;
/// Nothing but the footer goes below this.
const BOTTOM_PT: f64 = 64.0;
const FOOTER_PT: f64 = 36.0;
const BODY_PT: f64 = 9.5;
const LEADING_PT: f64 = 12.5;
/// White above and below the text of a table row.
const ROW_PAD_PT: f64 = 2.5;
/// Where the details' values start, right of their labels.
const VALUE_X_PT: f64 = LEFT_PT + 100.0;

/// A column of the table: left edge, width, and whether its text is set flush
/// right (amounts).
struct Column {
    x_pt: f64,
    width_pt: f64,
    right: bool,
}

/// Date, type, description, amount, balance: 6 pt between columns.
const COLUMNS: [Column; 5] = [
    Column { x_pt: LEFT_PT, width_pt: 68.0, right: false },
    Column { x_pt: LEFT_PT + 74.0, width_pt: 66.0, right: false },
    Column { x_pt: LEFT_PT + 146.0, width_pt: 184.0, right: false },
    Column { x_pt: LEFT_PT + 336.0, width_pt: 80.0, right: true },
    Column { x_pt: LEFT_PT + 422.0, width_pt: WIDTH_PT - 422.0, right: true },
];

/// The statement as a PDF on Letter-size pages.
///
/// `cjk_font` is a TrueType font with Chinese glyphs as bytes — a `.ttf`, or a
/// `.ttc` collection whose first face is used — such as Debian's
/// `fonts-wqy-microhei` (`/usr/share/fonts/truetype/wqy/wqy-microhei.ttc`). A
/// Chinese statement needs it ([`Error::NoCjkFont`]); an English one uses it only
/// for text outside Latin, and without it shows such text as `?`. Only the glyphs
/// the statement shows are embedded (a few tens of kilobytes). A font given that
/// cannot be embedded (not TrueType, PostScript outlines, or without the Chinese
/// glyphs the fixed texts need) is an error in either language.
///
/// Errors also for fields over their limits ([`MAX_FIELD_CHARS`],
/// [`MAX_DESCRIPTION_CHARS`], [`MAX_DATE_CHARS`], [`MAX_LINES`]).
pub fn statement_pdf(statement: &Statement, cjk_font: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    check_sizes(statement)?;
    let font = cjk_font.map(EmbeddedFont::parse).transpose()?;
    if let Some(font) = &font
        && statement.language == Lang::ZhHans
    {
        let missing: BTreeSet<char> =
            Lang::ZhHans.fixed_text().chars().filter(|c| !c.is_whitespace() && !font.has_glyph(*c)).collect();
        if !missing.is_empty() {
            return Err(Error::FontLacksGlyphs(missing.into_iter().collect()));
        }
    }
    let setter = match (statement.language, &font) {
        (Lang::ZhHans, None) => return Err(Error::NoCjkFont),
        (Lang::ZhHans, Some(font)) => Setter { font: Some(font), everything: true },
        (Lang::En, font) => Setter { font: font.as_ref(), everything: false },
    };
    let mut document = match &font {
        Some(font) => Document::with_font(font),
        None => Document::new(),
    };
    for page in layout(statement, &setter) {
        document.push(page);
    }
    Ok(document.to_bytes())
}

fn check_sizes(statement: &Statement) -> Result<(), Error> {
    let limit = |field: &'static str, value: &str, max: usize| {
        if value.chars().count() > max { Err(Error::FieldTooLong { field, max }) } else { Ok(()) }
    };
    limit("operator_name", &statement.operator_name, MAX_FIELD_CHARS)?;
    limit("case_id", &statement.case_id, MAX_FIELD_CHARS)?;
    limit("customer_name", &statement.customer_name, MAX_FIELD_CHARS)?;
    limit("account_id", &statement.account_id, MAX_FIELD_CHARS)?;
    limit("msisdn_last4", &statement.msisdn_last4, MAX_DATE_CHARS)?;
    limit("opened_on", &statement.opened_on, MAX_DATE_CHARS)?;
    limit("closed_on", statement.closed_on.as_deref().unwrap_or(""), MAX_DATE_CHARS)?;
    limit("currency", &statement.currency, MAX_CURRENCY_CHARS)?;
    limit("refund_method", statement.refund_method.as_deref().unwrap_or(""), MAX_FIELD_CHARS)?;
    limit("auth_code", statement.auth_code.as_deref().unwrap_or(""), MAX_FIELD_CHARS)?;
    if statement.lines.len() > MAX_LINES {
        return Err(Error::TooManyLines { max: MAX_LINES });
    }
    for line in &statement.lines {
        limit("lines.date", &line.date, MAX_DATE_CHARS)?;
        limit("lines.description", &line.description, MAX_DESCRIPTION_CHARS)?;
    }
    Ok(())
}

/// Which font draws a piece of text: the embedded one for everything (Chinese), or
/// only for text the standard fonts cannot show (English), when there is one.
struct Setter<'f> {
    font: Option<&'f EmbeddedFont<'f>>,
    everything: bool,
}

impl Setter<'_> {
    fn embedded(&self, text: &str) -> Option<&EmbeddedFont<'_>> {
        let font = self.font?;
        (self.everything || winansi::decode(&winansi::encode(text)) != text).then_some(font)
    }

    fn width_pt(&self, weight: Font, size_pt: f64, text: &str) -> f64 {
        match self.embedded(text) {
            Some(font) => font.text_width_pt(size_pt, text),
            None => weight.text_width_pt(size_pt, text),
        }
    }

    fn draw(&self, page: &mut Page, x_pt: f64, y_pt: f64, weight: Font, size_pt: f64, text: &str) {
        if self.embedded(text).is_some() {
            page.embedded_text(x_pt, y_pt, weight, size_pt, text);
        } else {
            page.text(x_pt, y_pt, weight, size_pt, text);
        }
    }

    /// `text` broken into lines no wider than `width_pt`: at spaces, or inside a
    /// word (a run of Chinese, say) when it is too wide alone. Closing punctuation
    /// stays at the end of its line, even if it sticks out a little.
    fn wrap(&self, weight: Font, size_pt: f64, width_pt: f64, text: &str) -> Vec<String> {
        let fits = |candidate: &str| self.width_pt(weight, size_pt, candidate) <= width_pt;
        let mut lines = Vec::new();
        let mut current = String::new();
        for word in text.split_whitespace() {
            let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
            if fits(&candidate) {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            for c in word.chars() {
                current.push(c);
                if !fits(&current) && current.chars().count() > 1 && !"。，、；：！？）」』》.,;:!?)".contains(c)
                {
                    current.pop();
                    lines.push(std::mem::replace(&mut current, c.to_string()));
                }
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        lines
    }

    /// The size, at most `size_pt`, at which `text` fits in `width_pt` on one line.
    fn fitted(&self, weight: Font, size_pt: f64, width_pt: f64, text: &str) -> f64 {
        let width = self.width_pt(weight, size_pt, text);
        if width > width_pt {
            // Whole tenths of a point, rounded down so the text still fits.
            (size_pt * width_pt / width * 10.0).floor() / 10.0
        } else {
            size_pt
        }
    }
}

/// The pages being laid out, top to bottom.
struct Flow<'a> {
    setter: &'a Setter<'a>,
    texts: &'static Texts,
    pages: Vec<Page>,
    page: Page,
    y: f64,
    /// Whether a page break repeats the table's header.
    in_table: bool,
}

impl Flow<'_> {
    /// Makes room for `height_pt` more, on a new page when this one is full.
    fn room(&mut self, height_pt: f64) {
        if self.y - height_pt < BOTTOM_PT && self.y < TOP_PT {
            self.pages.push(std::mem::replace(&mut self.page, Page::new(PAGE)));
            self.y = TOP_PT;
            if self.in_table {
                self.header();
            }
        }
    }

    fn gap(&mut self, height_pt: f64) {
        self.y -= height_pt;
    }

    fn rule(&mut self, thickness_pt: f64) {
        self.page.fill_rect(LEFT_PT, self.y - thickness_pt, WIDTH_PT, thickness_pt);
    }

    /// A paragraph across the page.
    fn paragraph(&mut self, weight: Font, size_pt: f64, text: &str) {
        let leading = size_pt * 1.35;
        for line in self.setter.wrap(weight, size_pt, WIDTH_PT, text) {
            self.room(leading);
            self.setter.draw(&mut self.page, LEFT_PT, self.y - size_pt, weight, size_pt, &line);
            self.y -= leading;
        }
    }

    /// A label and its value, the value wrapped right of the label.
    fn detail(&mut self, label: &str, value: &str) {
        let lines = self.setter.wrap(Font::Helvetica, BODY_PT, RIGHT_PT - VALUE_X_PT, value);
        let height = LEADING_PT * lines.len().max(1) as f64;
        self.room(height);
        let label_size = self.setter.fitted(Font::HelveticaBold, BODY_PT, VALUE_X_PT - LEFT_PT - 6.0, label);
        self.setter.draw(&mut self.page, LEFT_PT, self.y - BODY_PT, Font::HelveticaBold, label_size, label);
        for (index, line) in lines.iter().enumerate() {
            let y = self.y - BODY_PT - LEADING_PT * index as f64;
            self.setter.draw(&mut self.page, VALUE_X_PT, y, Font::Helvetica, BODY_PT, line);
        }
        self.y -= height;
    }

    /// The table's header row, with a rule under it.
    fn header(&mut self) {
        let t = self.texts;
        self.row([t.date, t.kind, t.description, t.amount, t.balance], Font::HelveticaBold);
        self.rule(0.75);
    }

    /// One row of the table, never split across pages, with a hairline under it.
    fn row(&mut self, cells: [&str; 5], weight: Font) {
        let setter = self.setter;
        let wrapped: Vec<Vec<String>> =
            COLUMNS
                .iter()
                .zip(cells)
                .map(|(column, cell)| {
                    if column.right {
                        vec![cell.to_owned()]
                    } else {
                        setter.wrap(weight, BODY_PT, column.width_pt, cell)
                    }
                })
                .collect();
        let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let height = LEADING_PT * lines as f64 + 2.0 * ROW_PAD_PT;
        self.room(height);
        for (column, cell) in COLUMNS.iter().zip(&wrapped) {
            for (index, line) in cell.iter().enumerate() {
                let y = self.y - ROW_PAD_PT - BODY_PT - LEADING_PT * index as f64;
                if column.right {
                    let size = setter.fitted(weight, BODY_PT, column.width_pt, line);
                    let x = column.x_pt + column.width_pt - setter.width_pt(weight, size, line);
                    setter.draw(&mut self.page, x, y, weight, size, line);
                } else {
                    setter.draw(&mut self.page, column.x_pt, y, weight, BODY_PT, line);
                }
            }
        }
        self.y -= height;
        if weight == Font::Helvetica {
            self.rule(0.25);
        }
    }
}

/// The pages of the statement, footers included.
fn layout(statement: &Statement, setter: &Setter<'_>) -> Vec<Page> {
    let language = statement.language;
    let t = language.texts();
    let currency = statement.currency.as_str();
    let totals = totals(statement);
    let closing = totals.last().copied().unwrap_or(statement.opening_balance_cents);
    let mut flow = Flow { setter, texts: t, pages: Vec::new(), page: Page::new(PAGE), y: TOP_PT, in_table: false };

    let operator_size = setter.fitted(Font::HelveticaBold, 12.0, WIDTH_PT, &statement.operator_name);
    setter.draw(&mut flow.page, LEFT_PT, flow.y - 12.0, Font::HelveticaBold, operator_size, &statement.operator_name);
    flow.gap(18.0);
    flow.paragraph(Font::HelveticaBold, 20.0, t.title);
    flow.gap(8.0);
    flow.detail(t.case, &statement.case_id);
    flow.detail(t.customer, &statement.customer_name);
    flow.detail(t.account, &statement.account_id);
    flow.detail(t.line, &language.line_ending(&statement.msisdn_last4));
    flow.detail(t.opened, &statement.opened_on);
    flow.detail(t.closed, statement.closed_on.as_deref().unwrap_or(t.not_closed));
    flow.gap(16.0);

    // The caption stays on the page of the header and the first row.
    flow.room(12.0 * 1.35 + 3.0 * (LEADING_PT + 2.0 * ROW_PAD_PT));
    flow.paragraph(Font::HelveticaBold, 12.0, &language.caption(currency));
    flow.gap(2.0);
    flow.header();
    flow.in_table = true;
    let opening = format_money(statement.opening_balance_cents, currency);
    flow.row([&statement.opened_on, "", t.opening_balance, "", &opening], Font::Helvetica);
    for (line, balance) in statement.lines.iter().zip(totals.iter().skip(1)) {
        let amount = format_signed(line.kind.sign().saturating_mul(line.amount_cents), currency);
        let balance = format_money(*balance, currency);
        flow.row([&line.date, language.kind(line.kind), &line.description, &amount, &balance], Font::Helvetica);
    }
    flow.room(LEADING_PT + 2.0 * ROW_PAD_PT + 1.0);
    flow.rule(0.75);
    flow.gap(1.0);
    let closed_on = statement.closed_on.as_deref().unwrap_or("");
    let closing_text = format_money(closing, currency);
    flow.row([closed_on, "", t.closing_balance, "", &closing_text], Font::HelveticaBold);
    flow.in_table = false;
    flow.gap(14.0);

    flow.paragraph(Font::HelveticaBold, 13.0, &language.closing(closing, currency));
    flow.paragraph(Font::Helvetica, BODY_PT, t.negative_note);
    if let Some(method) = &statement.refund_method {
        flow.paragraph(Font::Helvetica, BODY_PT, &language.labelled(t.refund_method, method));
    }
    flow.gap(12.0);
    if let Some(code) = &statement.auth_code {
        flow.paragraph(Font::Helvetica, BODY_PT, &language.auth(code));
    }
    flow.paragraph(Font::HelveticaBold, BODY_PT, t.scam);

    let mut pages = flow.pages;
    pages.push(flow.page);
    let count = pages.len();
    let title = language.document_title(&statement.operator_name, &statement.case_id);
    for (index, page) in pages.iter_mut().enumerate() {
        let number = language.page_of(index + 1, count);
        let number_width = setter.width_pt(Font::Helvetica, 8.0, &number);
        page.fill_rect(LEFT_PT, FOOTER_PT + 12.0, WIDTH_PT, 0.25);
        let title_size = setter.fitted(Font::Helvetica, 8.0, WIDTH_PT - number_width - 18.0, &title);
        setter.draw(page, LEFT_PT, FOOTER_PT, Font::Helvetica, title_size, &title);
        setter.draw(page, RIGHT_PT - number_width, FOOTER_PT, Font::Helvetica, 8.0, &number);
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::truetype::tests::wqy;
    use crate::pdf::{check_structure, content_streams, pdf_text};
    use crate::statement::tests::sample;
    use crate::statement::{LineKind, StatementLine};

    /// The file as text, byte for byte (non-ASCII bytes as `?`).
    fn as_text(pdf: &[u8]) -> String {
        pdf.iter().map(|&b| if b.is_ascii() { char::from(b) } else { '?' }).collect()
    }

    fn has(text: &[String], expected: &str) -> bool {
        text.iter().any(|t| t == expected)
    }

    #[test]
    fn an_english_statement() {
        let pdf = statement_pdf(&sample(Lang::En), None).unwrap();
        check_structure(&pdf).unwrap();
        let raw = as_text(&pdf);
        assert!(raw.contains("/MediaBox [0 0 612 792]"));
        assert!(!raw.contains("/FontFile2"), "an English statement embeds no font");
        let text = pdf_text(&pdf);
        for expected in [
            "Lineout Mobile",
            "Final statement",
            "Case",
            "C01JD3K5M2X7Q4T9A",
            "ending in 4821",
            "Account activity, in USD",
            "Date",
            "Balance",
            "Opening balance",
            "-18.50 USD",
            "Fee",
            "+3.00 USD",
            "-15.50 USD",
            "+15.50 USD",
            "0.00 USD",
            "Closing balance",
            "Nothing is owed.",
            "Refund method: card ending in 4242",
            "We never ask for payments, gift cards or codes by chat, social media or unsolicited calls.",
            "Page 1 of 1",
        ] {
            assert!(has(&text, expected), "{expected:?} not in {text:?}");
        }
        assert!(text.iter().any(|t| t.starts_with("Authenticity code: K7Q2M9XP.")), "{text:?}");
        // The same font given for an English statement changes nothing.
        assert_eq!(statement_pdf(&sample(Lang::En), Some(wqy())).unwrap(), pdf);
    }

    #[test]
    fn the_balances_drawn_are_the_running_totals() {
        let statement = sample(Lang::En);
        let text = pdf_text(&statement_pdf(&statement, None).unwrap());
        let drawn: Vec<&String> = text
            .iter()
            .filter(|t| t.ends_with(" USD") && t.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']))
            .collect();
        let expected: Vec<String> = totals(&statement).iter().map(|&cents| format_money(cents, "USD")).collect();
        // Opening, after each line, and the closing balance again.
        assert_eq!(drawn, expected.iter().chain(expected.last()).collect::<Vec<_>>());
    }

    #[test]
    fn a_chinese_statement() {
        let statement = Statement { customer_name: "张伟".to_owned(), ..sample(Lang::ZhHans) };
        let pdf = statement_pdf(&statement, Some(wqy())).unwrap();
        check_structure(&pdf).unwrap();
        let raw = as_text(&pdf);
        for expected in [
            "/Subtype /Type0 /BaseFont /",
            "+WenQuanYiMicroHei /Encoding /Identity-H",
            "/Subtype /CIDFontType2",
            "/CIDToGIDMap /Identity",
            "/W [0 [",
            "/FontFile2 ",
            "/ToUnicode ",
            "/Filter /ASCII85Decode",
        ] {
            assert!(raw.contains(expected), "{expected:?}");
        }
        // Only the glyphs shown are embedded: tens of kilobytes, not the 5 MB file.
        assert!(pdf.len() < 120_000, "{} bytes", pdf.len());
        assert!(pdf[b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".len()..].is_ascii());

        let text = pdf_text(&pdf);
        for expected in [
            "Lineout Mobile",
            "最终账单",
            "案件编号",
            "张伟",
            "尾号 4821",
            "账户明细（币种：USD）",
            "期初余额",
            "手续费",
            "退款",
            "-18.50 USD",
            "+3.00 USD",
            "-15.50 USD",
            "0.00 USD",
            "期末余额",
            "无任何欠款。",
            "退款方式：card ending in 4242",
            "我们绝不会通过聊天、社交媒体或陌生来电索要付款、礼品卡或验证码。",
            "第 1 页，共 1 页",
        ] {
            assert!(has(&text, expected), "{expected:?} not in {text:?}");
        }
        assert!(text.iter().any(|t| t.starts_with("真实性验证码：K7Q2M9XP。")), "{text:?}");
        assert!(!text.iter().any(|t| t.contains('\u{FFFD}')), "{text:?}");
    }

    #[test]
    fn a_chinese_statement_needs_a_usable_font() {
        let statement = sample(Lang::ZhHans);
        assert_eq!(statement_pdf(&statement, None), Err(Error::NoCjkFont));
        assert!(matches!(statement_pdf(&statement, Some(b"not a font")), Err(Error::Font(_))));
        assert!(matches!(statement_pdf(&sample(Lang::En), Some(b"not a font")), Err(Error::Font(_))));
    }

    #[test]
    fn chinese_in_an_english_statement() {
        let statement = Statement { customer_name: "张伟 (Zhang Wei)".to_owned(), ..sample(Lang::En) };
        // With the font, the name is drawn with it; the rest stays Helvetica.
        let pdf = statement_pdf(&statement, Some(wqy())).unwrap();
        check_structure(&pdf).unwrap();
        let text = pdf_text(&pdf);
        assert!(has(&text, "张伟 (Zhang Wei)") && has(&text, "Final statement"), "{text:?}");
        assert_eq!(as_text(&pdf).matches("BT /F3 ").count(), 1, "one run of embedded text");
        // Without it, as `?`: still a sound PDF.
        let pdf = statement_pdf(&statement, None).unwrap();
        check_structure(&pdf).unwrap();
        assert!(has(&pdf_text(&pdf), "?? (Zhang Wei)"));
    }

    fn many_lines(language: Lang, count: usize) -> Statement {
        let lines = (0..count)
            .map(|n| StatementLine {
                date: format!("2026-11-{:02}", n % 28 + 1),
                kind: LineKind::ALL[n % LineKind::ALL.len()],
                description: format!("Line {n}: usage charges for the billing period, itemised"),
                amount_cents: 100 + n as i64,
            })
            .collect();
        Statement { lines, ..sample(language) }
    }

    #[test]
    fn long_statements_run_onto_more_pages() {
        for (language, font) in [(Lang::En, None), (Lang::ZhHans, Some(wqy()))] {
            let statement = many_lines(language, 150);
            let pdf = statement_pdf(&statement, font).unwrap();
            check_structure(&pdf).unwrap();
            let pages = content_streams(&pdf).unwrap().len();
            assert!(pages >= 3, "{pages} pages");
            let text = pdf_text(&pdf);
            let t = language.texts();
            // The header on every page, and "Page n of N" on every page.
            assert_eq!(text.iter().filter(|s| *s == t.balance).count(), pages);
            for page in 1..=pages {
                assert!(has(&text, &language.page_of(page, pages)), "{language:?} page {page}");
            }
            // Every running balance is there, in order.
            let closing = *totals(&statement).last().unwrap();
            assert!(has(&text, &format_money(closing, "USD")));
            let at = |s: &str| text.iter().position(|t| t == s).unwrap();
            assert!(at(t.opening_balance) < at(t.closing_balance));
            assert!(at(t.closing_balance) < at(t.scam));
        }
    }

    #[test]
    fn long_text_wraps_inside_its_column() {
        let description = "A very long description of a charge that cannot possibly fit on one line of its column";
        let mut statement = sample(Lang::En);
        statement.lines[0].description = description.to_owned();
        let pdf = statement_pdf(&statement, None).unwrap();
        let text = pdf_text(&pdf);
        let pieces: Vec<&String> = text.iter().filter(|t| description.contains(t.as_str()) && t.len() > 6).collect();
        assert!(pieces.len() >= 2, "{text:?}");
        for piece in pieces {
            assert!(Font::Helvetica.text_width_pt(BODY_PT, piece) <= COLUMNS[2].width_pt, "{piece}");
        }

        let font = EmbeddedFont::parse(wqy()).unwrap();
        let setter = Setter { font: Some(&font), everything: true };
        let lines = setter.wrap(Font::Helvetica, BODY_PT, 100.0, Lang::ZhHans.texts().scam);
        assert!(lines.len() >= 3 && lines.concat() == Lang::ZhHans.texts().scam, "{lines:?}");
        // Punctuation never starts a line.
        assert!(lines.iter().all(|line| !line.starts_with(['、', '。', '，'])), "{lines:?}");
    }

    #[test]
    fn the_same_statement_gives_the_same_bytes() {
        let zh = many_lines(Lang::ZhHans, 60);
        assert_eq!(statement_pdf(&zh, Some(wqy())).unwrap(), statement_pdf(&zh, Some(wqy())).unwrap());
        assert_eq!(statement_pdf(&sample(Lang::En), None).unwrap(), statement_pdf(&sample(Lang::En), None).unwrap());
        let other = Statement { opening_balance_cents: -1851, ..sample(Lang::En) };
        assert_ne!(statement_pdf(&other, None).unwrap(), statement_pdf(&sample(Lang::En), None).unwrap());
    }

    #[test]
    fn oversized_input_is_an_error() {
        let long = Statement { customer_name: "x".repeat(MAX_FIELD_CHARS + 1), ..sample(Lang::En) };
        assert_eq!(
            statement_pdf(&long, None),
            Err(Error::FieldTooLong { field: "customer_name", max: MAX_FIELD_CHARS })
        );
        let mut statement = sample(Lang::En);
        statement.lines[1].description = "y".repeat(MAX_DESCRIPTION_CHARS + 1);
        assert_eq!(
            statement_pdf(&statement, None),
            Err(Error::FieldTooLong { field: "lines.description", max: MAX_DESCRIPTION_CHARS })
        );
        let too_many = many_lines(Lang::En, MAX_LINES + 1);
        assert_eq!(statement_pdf(&too_many, None), Err(Error::TooManyLines { max: MAX_LINES }));
        // The longest fields still lay out, Chinese ones included.
        let longest = Statement {
            operator_name: "运营商".repeat(MAX_FIELD_CHARS / 3),
            customer_name: "名".repeat(MAX_FIELD_CHARS),
            lines: vec![StatementLine {
                description: "长".repeat(MAX_DESCRIPTION_CHARS),
                ..sample(Lang::ZhHans).lines[0].clone()
            }],
            ..sample(Lang::ZhHans)
        };
        let pdf = statement_pdf(&longest, Some(wqy())).unwrap();
        check_structure(&pdf).unwrap();
    }
}
