//! The return label: a 4x6 in page telling the customer where to send the device
//! back and what to put in the box, with the RMA number as large text and as a
//! Code 128 barcode; and [`label_barcode_widths`], which scans that barcode back out
//! of the PDF for tests.

use crate::code128;
use crate::pdf::{self, Document, Font, Page, PageSize, Token};

/// What a return label says.
///
/// The label is drawn with the standard Helvetica fonts, which only have Latin
/// characters: letters with diacritics outside Latin-1 are transliterated to their
/// base letter (`ł` → `l`, `ệ` → `e`) and any other character — a customer name in
/// Chinese, say — is printed as `?`. The parts carriers and the warehouse read (the
/// return address and the RMA) are Latin by construction; the customer's name is
/// only there for the customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnLabel {
    /// The return merchandise authorization number, printed as text and encoded in
    /// the barcode: printable ASCII only.
    pub rma: String,
    pub customer_name: String,
    /// The customer's address lines, printed under their name; may be empty.
    pub from_address: Vec<String>,
    /// The warehouse's return address lines (SHIP TO).
    pub to_address: Vec<String>,
    pub device_model: String,
    /// The last day to send the device back, already formatted (e.g. "2026-12-02").
    pub deadline: String,
    /// What to put in the box with the device; may be empty.
    pub accessories: Vec<String>,
}

/// Why a label cannot be made, or a barcode cannot be read back from one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the RMA cannot be encoded as a barcode: {0}")]
    Barcode(#[from] code128::Error),
    #[error("the RMA's barcode is {modules} modules wide, too wide for the label at a module width scanners read")]
    BarcodeTooWide { modules: usize },
    #[error("{field} is longer than {max} characters")]
    FieldTooLong { field: &'static str, max: usize },
    #[error("{field} has more than {max} lines")]
    TooManyLines { field: &'static str, max: usize },
    #[error("the label's text does not fit on the page")]
    DoesNotFit,
    #[error("not a label PDF: {0}")]
    Pdf(#[from] pdf::Error),
    #[error("the PDF has no barcode between the markers")]
    NoBarcode,
    #[error("the barcode's bars are not whole modules: {0}")]
    Bars(&'static str),
}

/// The comments around the barcode's rectangles in the content stream.
pub const BARCODE_BEGIN: &str = "barcode-begin";
pub const BARCODE_END: &str = "barcode-end";

/// The longest text field, and the most lines in a list, the label takes. The page
/// decides in the end ([`Error::DoesNotFit`]); these keep the work bounded.
pub const MAX_FIELD_CHARS: usize = 200;
pub const MAX_LIST_LINES: usize = 12;

const PAGE: PageSize = PageSize::Label4x6;
const MARGIN_PT: f64 = 14.0;
/// The widest module drawn (0.42 mm).
const MODULE_MAX_PT: f64 = 1.2;
/// The narrowest module drawn: 10 mil (0.254 mm), which printers reproduce and
/// scanners read reliably. A longer RMA than fits at this width is an error.
const MODULE_MIN_PT: f64 = 0.72;
/// White on each side of the bars, in modules, as Code 128 requires.
const QUIET_MODULES: usize = 10;
/// How close to the page's edges the quiet zones may come.
const BARCODE_SIDE_PT: f64 = 6.0;
const BARCODE_HEIGHT_PT: f64 = 54.0;
/// The scales tried for the body text, largest first, until the label fits.
const SCALES: [f64; 3] = [1.0, 0.9, 0.8];

/// The return label as a one-page 4x6 in PDF.
///
/// Top to bottom: "RETURN AUTHORIZATION", the RMA number in large type and as a
/// Code 128 barcode (modules of up to 1.2 pt, 10-module quiet zones), SHIP TO with
/// the return address, FROM with the customer's name and address, "Return by
/// (deadline)", the device model and the accessories to include. Long lines wrap;
/// when the text is too long for the page at full size it is set smaller, down to
/// 80 % (7.2 pt for the list of accessories). Errors: an RMA that is not a valid
/// barcode or too long to scan at label width, over-long fields, and text that does
/// not fit even at 80 %.
pub fn return_label_pdf(label: &ReturnLabel) -> Result<Vec<u8>, Error> {
    check_sizes(label)?;
    let widths = code128::encode(&label.rma)?;
    let modules: usize = widths.iter().map(|&w| usize::from(w)).sum();
    let across = (PAGE.width_pt() - 2.0 * BARCODE_SIDE_PT) / (modules + 2 * QUIET_MODULES) as f64;
    // Whole hundredths of a point keep the coordinates short.
    let module_pt = (across.min(MODULE_MAX_PT) * 100.0).floor() / 100.0;
    if module_pt < MODULE_MIN_PT {
        return Err(Error::BarcodeTooWide { modules });
    }
    let page = SCALES.iter().find_map(|&scale| layout(label, &widths, module_pt, scale)).ok_or(Error::DoesNotFit)?;
    let mut document = Document::new();
    document.push(page);
    Ok(document.to_bytes())
}

fn check_sizes(label: &ReturnLabel) -> Result<(), Error> {
    let fields = [
        ("rma", &label.rma),
        ("customer_name", &label.customer_name),
        ("device_model", &label.device_model),
        ("deadline", &label.deadline),
    ];
    let lists =
        [("from_address", &label.from_address), ("to_address", &label.to_address), ("accessories", &label.accessories)];
    for (field, list) in lists {
        if list.len() > MAX_LIST_LINES {
            return Err(Error::TooManyLines { field, max: MAX_LIST_LINES });
        }
    }
    let all =
        fields.into_iter().chain(lists.into_iter().flat_map(|(field, list)| list.iter().map(move |l| (field, l))));
    for (field, text) in all {
        if text.chars().count() > MAX_FIELD_CHARS {
            return Err(Error::FieldTooLong { field, max: MAX_FIELD_CHARS });
        }
    }
    Ok(())
}

/// The label drawn with the body text at `scale`, or `None` if it does not fit.
fn layout(label: &ReturnLabel, widths: &[u8], module_pt: f64, scale: f64) -> Option<Page> {
    let mut flow = Flow { page: Page::new(PAGE), y: PAGE.height_pt() - MARGIN_PT, scale, overflow: false };

    flow.fitted(Font::HelveticaBold, 16.0, "RETURN AUTHORIZATION");
    flow.gap(4.0);
    flow.rule();
    flow.gap(6.0);
    flow.fitted(Font::HelveticaBold, 20.0, &label.rma);
    flow.gap(6.0);
    flow.barcode(widths, module_pt);
    flow.gap(6.0);
    flow.rule();
    flow.gap(6.0);

    flow.caption("SHIP TO");
    for line in &label.to_address {
        flow.lines(Font::HelveticaBold, 12.0, line);
    }
    flow.gap(6.0);
    flow.caption("FROM");
    flow.lines(Font::Helvetica, 10.0, &label.customer_name);
    for line in &label.from_address {
        flow.lines(Font::Helvetica, 10.0, line);
    }
    flow.gap(4.0);
    flow.rule();
    flow.gap(6.0);

    flow.lines(Font::HelveticaBold, 13.0, &format!("Return by {}", label.deadline));
    flow.lines(Font::Helvetica, 10.0, &format!("Device: {}", label.device_model));
    flow.gap(4.0);
    if label.accessories.is_empty() {
        flow.lines(Font::Helvetica, 9.0, "Accessories: none");
    } else {
        flow.caption("ALSO PUT IN THE BOX");
        for accessory in &label.accessories {
            flow.lines(Font::Helvetica, 9.0, &format!("- {accessory}"));
        }
    }
    (!flow.overflow).then_some(flow.page)
}

/// Text flowing down the page from the top margin; `y` is the bottom of what has
/// been placed so far.
struct Flow {
    page: Page,
    y: f64,
    /// The scale of the body text (captions, addresses, lists) and the gaps.
    scale: f64,
    overflow: bool,
}

const WIDTH_PT: f64 = 288.0 - 2.0 * MARGIN_PT;

impl Flow {
    /// Takes `height_pt` from the page, or notes that the page is full.
    fn take(&mut self, height_pt: f64) -> bool {
        if self.overflow || self.y - height_pt < MARGIN_PT {
            self.overflow = true;
            return false;
        }
        self.y -= height_pt;
        true
    }

    fn gap(&mut self, height_pt: f64) {
        self.y -= height_pt * self.scale;
    }

    fn rule(&mut self) {
        if self.take(0.75) {
            self.page.fill_rect(MARGIN_PT, self.y, WIDTH_PT, 0.75);
        }
    }

    /// One line of text, its baseline above the descenders.
    fn line(&mut self, font: Font, size_pt: f64, text: &str) {
        if self.take(size_pt * 1.2) {
            self.page.text(MARGIN_PT, self.y + size_pt * 0.25, font, size_pt, text);
        }
    }

    /// One line at `max_size_pt` (not scaled), smaller if that is too wide.
    fn fitted(&mut self, font: Font, max_size_pt: f64, text: &str) {
        let width = font.text_width_pt(max_size_pt, text);
        let size = if width > WIDTH_PT { max_size_pt * WIDTH_PT / width } else { max_size_pt };
        // Whole tenths of a point, rounded down so the line still fits.
        self.line(font, (size * 10.0).floor() / 10.0, text);
    }

    /// Body text at `size_pt` times the scale, wrapped at word boundaries (inside a
    /// word only when the word alone is too wide).
    fn lines(&mut self, font: Font, size_pt: f64, text: &str) {
        let size = size_pt * self.scale;
        for line in wrap(font, size, text) {
            self.line(font, size, &line);
        }
    }

    fn caption(&mut self, text: &str) {
        self.line(Font::HelveticaBold, 8.0 * self.scale, text);
    }

    /// The bars of a Code 128 symbol, centred, between the marker comments.
    fn barcode(&mut self, widths: &[u8], module_pt: f64) {
        if !self.take(BARCODE_HEIGHT_PT) {
            return;
        }
        let modules: usize = widths.iter().map(|&w| usize::from(w)).sum();
        let left = (PAGE.width_pt() - modules as f64 * module_pt) / 2.0;
        self.page.comment(BARCODE_BEGIN);
        let mut at = 0usize;
        for (index, &width) in widths.iter().enumerate() {
            let end = at + usize::from(width);
            // Even elements are bars, odd ones the spaces between them.
            if index.is_multiple_of(2) {
                let x = left + at as f64 * module_pt;
                let x_end = left + end as f64 * module_pt;
                self.page.fill_rect(x, self.y, x_end - x, BARCODE_HEIGHT_PT);
            }
            at = end;
        }
        self.page.comment(BARCODE_END);
    }
}

/// `text` broken into lines no wider than the page's text width.
fn wrap(font: Font, size_pt: f64, text: &str) -> Vec<String> {
    let fits = |candidate: &str| font.text_width_pt(size_pt, candidate) <= WIDTH_PT;
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
            if !fits(&current) && current.chars().count() > 1 {
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

/// The module widths of the barcode on a label made by [`return_label_pdf`], read
/// from the rectangles drawn between the marker comments: bars and the spaces
/// between them, left to right, in modules. The module is the narrowest element
/// (every Code 128 symbol has a 1-module element); an element that is not a whole
/// number of modules is an error. Feed the result to [`code128::decode`].
pub fn label_barcode_widths(pdf: &[u8]) -> Result<Vec<u8>, Error> {
    let streams = pdf::content_streams(pdf)?;
    let mut bars = streams.into_iter().find_map(barcode_rects).ok_or(Error::NoBarcode)?;
    if bars.is_empty() {
        return Err(Error::NoBarcode);
    }
    bars.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut elements = Vec::with_capacity(bars.len() * 2);
    for (index, &(x, width)) in bars.iter().enumerate() {
        if let Some(&(previous_x, previous_width)) = index.checked_sub(1).and_then(|i| bars.get(i)) {
            elements.push(x - (previous_x + previous_width));
        }
        elements.push(width);
    }
    let module = elements.iter().copied().fold(f64::INFINITY, f64::min);
    if !(module > 0.01 && module.is_finite()) {
        return Err(Error::Bars("bars touch, overlap or have no width"));
    }
    elements
        .iter()
        .map(|&element| {
            let modules = element / module;
            let whole = modules.round();
            if (modules - whole).abs() > 0.2 || whole > 255.0 {
                Err(Error::Bars("an element is not a whole number of modules"))
            } else {
                // A whole number from 1 to 255.
                Ok(whole as u8)
            }
        })
        .collect()
}

/// The (x, width) of the rectangles drawn between the barcode markers of one
/// content stream, if it has the markers.
fn barcode_rects(stream: &[u8]) -> Option<Vec<(f64, f64)>> {
    let tokens = pdf::tokens(stream);
    let begin = tokens.iter().position(|t| *t == Token::Comment(BARCODE_BEGIN.as_bytes()))?;
    let end = begin + tokens[begin..].iter().position(|t| *t == Token::Comment(BARCODE_END.as_bytes()))?;
    let mut rects = Vec::new();
    for at in begin + 4..end {
        if tokens[at] == Token::Operator(b"re")
            && let [Token::Number(x), Token::Number(_), Token::Number(width), Token::Number(_)] = &tokens[at - 4..at]
        {
            // A rectangle may be given with a negative width, from its right edge.
            rects.push(if *width < 0.0 { (x + width, -width) } else { (*x, *width) });
        }
    }
    Some(rects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::{check_structure, pdf_text};

    fn typical() -> ReturnLabel {
        ReturnLabel {
            rma: "RMA-C01JD3K5M2X7Q4T9A".to_owned(),
            customer_name: "Dana Whitfield".to_owned(),
            from_address: vec!["1428 Elm Street, Apt 3".to_owned(), "Springwood, OH 44101".to_owned()],
            to_address: vec![
                "Lineout Returns Center".to_owned(),
                "Dock 4, 2200 Logistics Pkwy".to_owned(),
                "Memphis, TN 38118".to_owned(),
            ],
            device_model: "Pixel 8 Pro 128 GB (Obsidian)".to_owned(),
            deadline: "2026-12-02".to_owned(),
            accessories: vec!["USB-C charging cable".to_owned(), "SIM tool".to_owned()],
        }
    }

    fn content(pdf: &[u8]) -> String {
        let streams = pdf::content_streams(pdf).unwrap();
        assert_eq!(streams.len(), 1);
        String::from_utf8(streams[0].to_vec()).unwrap()
    }

    #[test]
    fn the_barcode_reads_back_as_the_rma() {
        let pdf = return_label_pdf(&typical()).unwrap();
        check_structure(&pdf).unwrap();
        let widths = label_barcode_widths(&pdf).unwrap();
        assert_eq!(widths, code128::encode("RMA-C01JD3K5M2X7Q4T9A").unwrap());
        assert_eq!(code128::decode(&widths).unwrap(), "RMA-C01JD3K5M2X7Q4T9A");
    }

    #[test]
    fn the_barcode_has_its_quiet_zones_inside_the_page() {
        let pdf = return_label_pdf(&typical()).unwrap();
        let text = content(&pdf);
        let block = text.split("% barcode-begin\n").nth(1).unwrap().split("% barcode-end").next().unwrap();
        let rects: Vec<Vec<f64>> =
            block.lines().map(|line| line.split(' ').take(4).map(|n| n.parse().unwrap()).collect()).collect();
        let modules: usize = code128::encode("RMA-C01JD3K5M2X7Q4T9A").unwrap().iter().map(|&w| usize::from(w)).sum();
        // (276 pt / 286 modules) rounded down to hundredths.
        let module = 0.96;
        let left = rects[0][0];
        let right = rects.last().map(|r| r[0] + r[2]).unwrap();
        assert!((right - left - modules as f64 * module).abs() < 0.01);
        assert!(left >= 10.0 * module && right <= 288.0 - 10.0 * module);
        assert!(rects.iter().all(|r| (r[3] - BARCODE_HEIGHT_PT).abs() < 1e-9));
    }

    #[test]
    fn the_text_says_what_to_do() {
        let label = typical();
        let text = pdf_text(&return_label_pdf(&label).unwrap());
        assert_eq!(text[0], "RETURN AUTHORIZATION");
        assert_eq!(text[1], label.rma);
        for expected in [
            "SHIP TO",
            "Lineout Returns Center",
            "Dock 4, 2200 Logistics Pkwy",
            "Memphis, TN 38118",
            "FROM",
            "Dana Whitfield",
            "1428 Elm Street, Apt 3",
            "Springwood, OH 44101",
            "Return by 2026-12-02",
            "Device: Pixel 8 Pro 128 GB (Obsidian)",
            "- USB-C charging cable",
            "- SIM tool",
        ] {
            assert!(text.iter().any(|t| t == expected), "{expected:?} not in {text:?}");
        }
        // SHIP TO comes before FROM.
        let at = |s: &str| text.iter().position(|t| t == s).unwrap();
        assert!(at("SHIP TO") < at("FROM"));
    }

    #[test]
    fn a_chinese_name_does_not_break_the_pdf() {
        let label = ReturnLabel {
            customer_name: "张伟".to_owned(),
            from_address: vec!["北京市朝阳区建国路88号".to_owned(), "Zoë Łukasz, Nguyễn".to_owned()],
            ..typical()
        };
        let pdf = return_label_pdf(&label).unwrap();
        check_structure(&pdf).unwrap();
        // Past the header's binary-marker line, the file is ASCII whatever the input.
        assert!(pdf[b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".len()..].is_ascii());
        let text = pdf_text(&pdf);
        assert!(text.iter().any(|t| t == "??"), "{text:?}");
        assert!(text.iter().any(|t| t == "Zoë Lukasz, Nguyen"), "{text:?}");
        assert_eq!(code128::decode(&label_barcode_widths(&pdf).unwrap()).unwrap(), label.rma);
    }

    #[test]
    fn the_same_label_gives_the_same_bytes() {
        assert_eq!(return_label_pdf(&typical()).unwrap(), return_label_pdf(&typical()).unwrap());
        let other = ReturnLabel { deadline: "2026-12-03".to_owned(), ..typical() };
        assert_ne!(return_label_pdf(&typical()).unwrap(), return_label_pdf(&other).unwrap());
    }

    #[test]
    fn pdf_special_characters_in_fields_are_escaped() {
        let label = ReturnLabel { device_model: r"Phone (2) \ mini)".to_owned(), ..typical() };
        let pdf = return_label_pdf(&label).unwrap();
        check_structure(&pdf).unwrap();
        assert!(pdf_text(&pdf).iter().any(|t| t == r"Device: Phone (2) \ mini)"));
    }

    #[test]
    fn long_lines_wrap_within_the_page() {
        let long = "Building 7, Receiving Door 12, Attention Returns Processing Team, Second Floor".to_owned();
        let label = ReturnLabel { to_address: vec![long.clone()], ..typical() };
        let pdf = return_label_pdf(&label).unwrap();
        let text = pdf_text(&pdf);
        let pieces: Vec<&String> = text.iter().filter(|t| long.contains(t.as_str()) && t.len() > 8).collect();
        assert!(pieces.len() >= 2, "{text:?}");
        for piece in &pieces {
            assert!(Font::HelveticaBold.text_width_pt(12.0, piece) <= WIDTH_PT);
        }
        // A single word wider than the page is broken inside the word.
        let lines = wrap(Font::Helvetica, 10.0, &"W".repeat(60));
        assert!(lines.len() >= 2 && lines.concat() == "W".repeat(60));
        assert!(wrap(Font::Helvetica, 10.0, "  ").is_empty());
    }

    #[test]
    fn a_crowded_label_shrinks_then_gives_up() {
        let crowded = ReturnLabel {
            accessories: (1..=12).map(|n| format!("Accessory number {n}")).collect(),
            from_address: (1..=6).map(|n| format!("Address line {n}")).collect(),
            ..typical()
        };
        let pdf = return_label_pdf(&crowded).unwrap();
        assert!(pdf_text(&pdf).iter().any(|t| t == "- Accessory number 12"));
        assert!(!content(&pdf).contains("/F1 9 Tf"), "the list should be set smaller than 9 pt");

        let overfull = ReturnLabel {
            accessories: (1..=12).map(|n| format!("A rather long accessory description, number {n}")).collect(),
            from_address: (1..=12).map(|n| format!("Address line {n}")).collect(),
            ..typical()
        };
        assert!(matches!(return_label_pdf(&overfull), Err(Error::DoesNotFit)));
    }

    #[test]
    fn empty_lists_are_fine() {
        let label = ReturnLabel { from_address: vec![], accessories: vec![], ..typical() };
        let pdf = return_label_pdf(&label).unwrap();
        assert!(pdf_text(&pdf).iter().any(|t| t == "Accessories: none"));
    }

    #[test]
    fn bad_input_is_an_error() {
        let label = |rma: &str| ReturnLabel { rma: rma.to_owned(), ..typical() };
        assert_eq!(return_label_pdf(&label("")), Err(Error::Barcode(code128::Error::Empty)));
        assert!(matches!(return_label_pdf(&label("RMA-é")), Err(Error::Barcode(code128::Error::Unencodable { .. }))));
        // 29 letters still scan at label width; 30 would need modules under 10 mil.
        assert!(return_label_pdf(&label(&"X".repeat(29))).is_ok());
        assert_eq!(return_label_pdf(&label(&"X".repeat(30))), Err(Error::BarcodeTooWide { modules: 365 }));
        // Digits pack two to a symbol.
        assert!(return_label_pdf(&label(&"1".repeat(56))).is_ok());

        let long_name = ReturnLabel { customer_name: "x".repeat(201), ..typical() };
        assert_eq!(
            return_label_pdf(&long_name),
            Err(Error::FieldTooLong { field: "customer_name", max: MAX_FIELD_CHARS })
        );
        let many = ReturnLabel { to_address: vec![String::new(); 13], ..typical() };
        assert_eq!(return_label_pdf(&many), Err(Error::TooManyLines { field: "to_address", max: MAX_LIST_LINES }));
    }

    #[test]
    fn reading_back_rejects_what_is_not_a_label() {
        assert!(matches!(label_barcode_widths(b"not a pdf"), Err(Error::Pdf(_))));
        let mut page = Page::new(PageSize::Letter);
        page.text(10.0, 10.0, Font::Helvetica, 10.0, "no barcode here");
        let mut document = Document::new();
        document.push(page);
        assert_eq!(label_barcode_widths(&document.to_bytes()), Err(Error::NoBarcode));

        // Bars of 1 and 1.5 modules.
        let mut page = Page::new(PageSize::Letter);
        page.comment(BARCODE_BEGIN);
        page.fill_rect(10.0, 10.0, 1.0, 50.0);
        page.fill_rect(12.0, 10.0, 1.5, 50.0);
        page.comment(BARCODE_END);
        let mut document = Document::new();
        document.push(page);
        assert!(matches!(label_barcode_widths(&document.to_bytes()), Err(Error::Bars(_))));
    }
}
