//! A minimal PDF 1.4 writer — pages of text in the standard Helvetica fonts or in
//! one embedded TrueType font, and filled rectangles — and the readers tests need:
//! a structure check and the text shown on the pages.
//!
//! The output is plain ASCII after the header: content streams are not compressed
//! (so tests, and people, can read them), text outside ASCII is written with octal
//! escapes and the embedded font file is ASCII85-encoded. The standard fonts are
//! Type 1 fonts, not embedded, in WinAnsiEncoding: only Latin text can be shown
//! with them (see [`Page::text`]). Other text — Chinese — is shown with a TrueType
//! font the caller gives as bytes ([`EmbeddedFont`], [`Page::embedded_text`]),
//! embedded as a Type0 font (CIDFontType2, `Identity-H`) holding only the glyphs
//! the document shows, with a ToUnicode CMap so the text can be extracted. Nothing
//! in the output depends on anything but the input (no dates, no ids), so the same
//! document always gives the same bytes.

mod cmap;
pub(crate) mod truetype;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::winansi;
pub use truetype::{EmbeddedFont, FontError};

/// The size of a page, portrait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    /// US Letter, 8.5 x 11 in.
    Letter,
    /// A 4 x 6 in shipping label.
    Label4x6,
}

impl PageSize {
    /// The page's width in points (1/72 in).
    pub fn width_pt(self) -> f64 {
        match self {
            PageSize::Letter => 612.0,
            PageSize::Label4x6 => 288.0,
        }
    }

    /// The page's height in points (1/72 in).
    pub fn height_pt(self) -> f64 {
        match self {
            PageSize::Letter => 792.0,
            PageSize::Label4x6 => 432.0,
        }
    }
}

/// One of the two standard fonts a page can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Helvetica,
    HelveticaBold,
}

impl Font {
    /// The name of the font in the page's resources.
    fn resource(self) -> &'static str {
        match self {
            Font::Helvetica => "F1",
            Font::HelveticaBold => "F2",
        }
    }

    fn base_font(self) -> &'static str {
        match self {
            Font::Helvetica => "Helvetica",
            Font::HelveticaBold => "Helvetica-Bold",
        }
    }

    /// How wide `text` is when shown in this font at `size_pt`, in points, after the
    /// same encoding [`Page::text`] applies. Exact for ASCII and Latin-1 letters;
    /// other characters are counted at their widest, so text measured with it fits.
    pub fn text_width_pt(self, size_pt: f64, text: &str) -> f64 {
        let bold = self == Font::HelveticaBold;
        let units: u32 = winansi::encode(text).iter().map(|&byte| u32::from(winansi::width(bold, byte))).sum();
        f64::from(units) * size_pt / 1000.0
    }
}

/// One page being drawn: its size and its content stream. Coordinates are in points
/// from the bottom-left corner of the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    size: PageSize,
    content: Vec<Part>,
}

/// A piece of a page's content stream.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Operators, as they are written.
    Raw(String),
    /// Text in the document's embedded font, written when the document is, since
    /// the glyph ids depend on the glyphs the whole document shows.
    Embedded { x_pt: f64, y_pt: f64, font: Font, size_pt: f64, text: String },
}

impl Page {
    /// A blank page.
    pub fn new(size: PageSize) -> Page {
        Page { size, content: Vec::new() }
    }

    fn push_raw(&mut self, operators: &str) {
        match self.content.last_mut() {
            Some(Part::Raw(raw)) => raw.push_str(operators),
            _ => self.content.push(Part::Raw(operators.to_owned())),
        }
    }

    fn has_embedded_text(&self) -> bool {
        self.content.iter().any(|part| matches!(part, Part::Embedded { .. }))
    }

    /// The page's size.
    pub fn size(&self) -> PageSize {
        self.size
    }

    /// Shows `text` on one line, its baseline starting at (`x_pt`, `y_pt`).
    ///
    /// The standard fonts only have Latin characters (WinAnsiEncoding): other Latin
    /// letters are transliterated to their base letter (`ł` → `l`, `ệ` → `e`), line
    /// breaks and tabs become spaces, and any other character (Chinese, Cyrillic,
    /// emoji) is shown as `?`. The PDF stays valid whatever the text.
    pub fn text(&mut self, x_pt: f64, y_pt: f64, font: Font, size_pt: f64, text: &str) {
        self.push_raw(&standard_text(x_pt, y_pt, font, size_pt, text));
    }

    /// Shows `text` on one line in the document's embedded font (see
    /// [`Document::with_font`]), its baseline starting at (`x_pt`, `y_pt`); `font`
    /// gives the weight (bold is drawn by also stroking the outlines). Characters
    /// the embedded font lacks are shown as `?`, line breaks and tabs as spaces;
    /// [`EmbeddedFont::text_width_pt`] measures the text as shown.
    ///
    /// In a document without an embedded font, the text is shown in `font` as
    /// [`Page::text`] shows it: the PDF stays valid whatever the text.
    pub fn embedded_text(&mut self, x_pt: f64, y_pt: f64, font: Font, size_pt: f64, text: &str) {
        self.content.push(Part::Embedded { x_pt, y_pt, font, size_pt, text: text.to_owned() });
    }

    /// Fills a rectangle in black: lower-left corner (`x_pt`, `y_pt`), width and
    /// height in points.
    pub fn fill_rect(&mut self, x_pt: f64, y_pt: f64, width_pt: f64, height_pt: f64) {
        self.push_raw(&format!("{} {} {} {} re f\n", number(x_pt), number(y_pt), number(width_pt), number(height_pt)));
    }

    /// Writes a comment line into the content stream: viewers ignore it, readers of
    /// the stream (tests) can use it as a marker. Characters outside printable ASCII
    /// become `?`, so the comment stays on its line.
    pub fn comment(&mut self, text: &str) {
        let text: String = text.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect();
        self.push_raw(&format!("% {text}\n"));
    }
}

/// A document: pages in order, and the font their embedded text is shown in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document<'f> {
    pages: Vec<Page>,
    font: Option<&'f EmbeddedFont<'f>>,
}

/// The objects every document starts with; the pages follow, two objects each (the
/// page and its content stream), then the embedded font's objects, if any.
const CATALOG: usize = 1;
const PAGES: usize = 2;
const FIRST_PAGE: usize = 5;

/// The resource name of the embedded font on the pages that use it.
const EMBEDDED_RESOURCE: &str = "F3";

/// What the document's embedded text needs: the subset of the font, and the text
/// each glyph of the subset shows.
struct Embedding<'f> {
    font: &'f EmbeddedFont<'f>,
    subset: truetype::Subset,
    unicode: BTreeMap<u16, char>,
}

impl<'f> Document<'f> {
    /// A document with no pages yet.
    pub fn new() -> Document<'f> {
        Document::default()
    }

    /// A document with no pages yet, whose pages' [`Page::embedded_text`] is shown
    /// in `font`. Only the glyphs the pages show are embedded.
    pub fn with_font(font: &'f EmbeddedFont<'f>) -> Document<'f> {
        Document { pages: Vec::new(), font: Some(font) }
    }

    /// Appends a page.
    pub fn push(&mut self, page: Page) {
        self.pages.push(page);
    }

    /// The glyphs the pages show in the embedded font, as a subset of it; `None`
    /// when there is no embedded font or no page uses it.
    fn embedding(&self) -> Option<Embedding<'f>> {
        let font = self.font?;
        let mut unicode_by_glyph: BTreeMap<u16, char> = BTreeMap::new();
        let mut used = false;
        for part in self.pages.iter().flat_map(|page| &page.content) {
            if let Part::Embedded { text, .. } = part {
                used = true;
                for c in text.chars() {
                    let (glyph, shown) = font.shown(c);
                    unicode_by_glyph.entry(glyph).or_insert(shown);
                }
            }
        }
        if !used {
            return None;
        }
        let glyphs: BTreeSet<u16> = unicode_by_glyph.keys().copied().collect();
        let subset = font.subset(&glyphs);
        let unicode = unicode_by_glyph
            .iter()
            .filter(|(glyph, _)| **glyph != 0)
            .filter_map(|(glyph, c)| subset.ids.get(glyph).map(|cid| (*cid, *c)))
            .collect();
        Some(Embedding { font, subset, unicode })
    }

    /// The PDF file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let embedding = self.embedding();
        let first_font = FIRST_PAGE + 2 * self.pages.len();
        let mut objects: Vec<Vec<u8>> = Vec::with_capacity(first_font + 4);
        let kids: Vec<String> = (0..self.pages.len()).map(|index| format!("{} 0 R", FIRST_PAGE + 2 * index)).collect();
        objects.push(format!("<< /Type /Catalog /Pages {PAGES} 0 R >>").into_bytes());
        objects.push(format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), self.pages.len()).into_bytes());
        for font in [Font::Helvetica, Font::HelveticaBold] {
            objects.push(
                format!("<< /Type /Font /Subtype /Type1 /BaseFont /{} /Encoding /WinAnsiEncoding >>", font.base_font())
                    .into_bytes(),
            );
        }
        for (index, page) in self.pages.iter().enumerate() {
            let mut fonts: Vec<String> = [Font::Helvetica, Font::HelveticaBold]
                .iter()
                .enumerate()
                .map(|(i, font)| format!("/{} {} 0 R", font.resource(), 3 + i))
                .collect();
            if embedding.is_some() && page.has_embedded_text() {
                fonts.push(format!("/{EMBEDDED_RESOURCE} {first_font} 0 R"));
            }
            objects.push(
                format!(
                    "<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {} {}] /Resources << /Font << {} >> >> /Contents {} 0 R >>",
                    number(page.size.width_pt()),
                    number(page.size.height_pt()),
                    fonts.join(" "),
                    FIRST_PAGE + 2 * index + 1
                )
                .into_bytes(),
            );
            let content = page_content(page, embedding.as_ref());
            objects.push(stream(&format!("<< /Length {} >>", content.len()), content.as_bytes()));
        }
        if let Some(embedding) = &embedding {
            objects.extend(font_objects(embedding, first_font));
        }

        // The second line marks the file as binary for transfer programs, as the
        // specification recommends.
        let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (index, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n", index + 1).as_bytes());
            out.extend(body);
            out.extend(b"\nendobj\n");
        }
        let xref = out.len();
        // Each cross-reference entry is exactly 20 bytes, its end of line " \n".
        out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for offset in offsets {
            out.extend(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend(
            format!("trailer\n<< /Size {} /Root {CATALOG} 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
                .as_bytes(),
        );
        out
    }
}

/// A stream object: its dictionary (which gives `/Length` first) and data.
fn stream(dictionary: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("{dictionary}\nstream\n").into_bytes();
    out.extend(data);
    out.extend(b"\nendstream");
    out
}

/// The text of a standard-font text object.
fn standard_text(x_pt: f64, y_pt: f64, font: Font, size_pt: f64, text: &str) -> String {
    let string = literal_string(&winansi::encode(text));
    format!("BT /{} {} Tf {} {} Td {string} Tj ET\n", font.resource(), number(size_pt), number(x_pt), number(y_pt))
}

/// A page's content stream, its embedded text written with the subset's glyph ids.
fn page_content(page: &Page, embedding: Option<&Embedding<'_>>) -> String {
    let mut out = String::new();
    for part in &page.content {
        match (part, embedding) {
            (Part::Raw(raw), _) => out.push_str(raw),
            (Part::Embedded { x_pt, y_pt, font, size_pt, text }, None) => {
                out.push_str(&standard_text(*x_pt, *y_pt, *font, *size_pt, text));
            }
            (Part::Embedded { x_pt, y_pt, font, size_pt, text }, Some(embedding)) => {
                let codes: String = text
                    .chars()
                    .map(|c| {
                        let glyph = embedding.font.shown(c).0;
                        format!("{:04X}", embedding.subset.ids.get(&glyph).copied().unwrap_or(0))
                    })
                    .collect();
                let shown = format!(
                    "BT /{EMBEDDED_RESOURCE} {} Tf {} {} Td <{codes}> Tj ET",
                    number(*size_pt),
                    number(*x_pt),
                    number(*y_pt)
                );
                if *font == Font::HelveticaBold {
                    // Fill and stroke the outlines (text rendering mode 2): a bold
                    // weight from a font that has only the regular one.
                    out.push_str(&format!("q {} w 2 Tr {shown} Q\n", number(size_pt * 0.04)));
                } else {
                    out.push_str(&shown);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// The objects of the embedded font, numbered from `first`: the Type0 font the
/// pages name, its CIDFontType2 descendant with the glyph widths, the font
/// descriptor, the font file (ASCII85) and the ToUnicode CMap. Codes are two bytes
/// (`Identity-H`) and equal to the subset's glyph ids (`/CIDToGIDMap /Identity`).
fn font_objects(embedding: &Embedding<'_>, first: usize) -> Vec<Vec<u8>> {
    let [cid_font, descriptor, file, to_unicode] = [first + 1, first + 2, first + 3, first + 4];
    // A subset's name starts with a tag of six capital letters that depends on which
    // glyphs it has, so that two different subsets of a font never share a name.
    let tag: String = {
        let hash = embedding.subset.ids.keys().fold(0xCBF2_9CE4_8422_2325u64, |hash, glyph| {
            glyph.to_be_bytes().iter().fold(hash, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01B3))
        });
        (0..6).map(|i| char::from(b'A' + ((hash >> (i * 8)) % 26) as u8)).collect()
    };
    let name = format!("{tag}+{}", embedding.font.postscript_name());
    let widths: Vec<String> = embedding.subset.widths.iter().map(|w| w.to_string()).collect();
    let metrics = embedding.font.metrics();
    let bbox: Vec<String> = metrics.bbox.iter().map(|v| v.to_string()).collect();
    let encoded = ascii85(&embedding.subset.file);
    let cmap = cmap::write(&embedding.unicode);
    vec![
        format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H /DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>"
        )
        .into_bytes(),
        format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor {descriptor} 0 R /DW 1000 /W [0 [{}]] /CIDToGIDMap /Identity >>",
            widths.join(" ")
        )
        .into_bytes(),
        format!(
            "<< /Type /FontDescriptor /FontName /{name} /Flags 4 /FontBBox [{}] /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 {file} 0 R >>",
            bbox.join(" "),
            metrics.ascent,
            metrics.descent,
            metrics.cap_height
        )
        .into_bytes(),
        stream(
            &format!(
                "<< /Length {} /Length1 {} /Filter /ASCII85Decode >>",
                encoded.len(),
                embedding.subset.file.len()
            ),
            encoded.as_bytes(),
        ),
        stream(&format!("<< /Length {} >>", cmap.len()), cmap.as_bytes()),
    ]
}

/// `data` in ASCII85 (four bytes as five characters from `!` to `u`, `z` for four
/// zero bytes), in lines of 80 characters, ending with `~>`.
fn ascii85(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 5 / 4 + data.len() / 64 + 4);
    let mut line = 0;
    let mut push = |out: &mut String, text: &str| {
        for c in text.chars() {
            if line == 80 {
                out.push('\n');
                line = 0;
            }
            out.push(c);
            line += 1;
        }
    };
    for chunk in data.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        let mut value = u32::from_be_bytes(word);
        if value == 0 && chunk.len() == 4 {
            push(&mut out, "z");
            continue;
        }
        let mut digits = [0u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = b'!' + (value % 85) as u8;
            value /= 85;
        }
        // A final group of n bytes is written as its first n + 1 characters.
        let group: String = digits[..chunk.len() + 1].iter().map(|&d| char::from(d)).collect();
        push(&mut out, &group);
    }
    out.push_str("~>");
    out
}

/// A number as PDF writes it: at most three decimals, no trailing zeros, no
/// exponent. Computed on integers so the same value always gives the same text.
fn number(value: f64) -> String {
    let thousandths = (value * 1000.0).round() as i64;
    let sign = if thousandths < 0 { "-" } else { "" };
    let magnitude = thousandths.unsigned_abs();
    let (whole, fraction) = (magnitude / 1000, magnitude % 1000);
    if fraction == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{}", format!("{fraction:03}").trim_end_matches('0'))
    }
}

/// `bytes` as a PDF literal string: `(`, `)` and `\` escaped, and everything outside
/// printable ASCII as an octal escape, so the content stream stays ASCII.
fn literal_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('(');
    for &byte in bytes {
        match byte {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7E => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\{byte:03o}")),
        }
    }
    out.push(')');
    out
}

/// Why bytes are not a PDF this module can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("malformed PDF: {0}")]
    Malformed(&'static str),
    #[error("the cross-reference entry of object {object} points at byte {offset}, where that object does not begin")]
    Offset { object: usize, offset: usize },
    #[error("object {object}: {problem}")]
    Object { object: usize, problem: &'static str },
}

/// Checks the structure of a PDF as this module writes it: the `%PDF-1.4` header, the
/// `startxref` pointer to a cross-reference table whose every entry is 20 bytes and
/// points at the exact byte where `n 0 obj` begins, each object closed by `endobj`,
/// each stream exactly as long as its `/Length`, a trailer naming the table's size
/// and the root, and `%%EOF` at the end.
pub fn check_structure(pdf: &[u8]) -> Result<(), Error> {
    objects(pdf).map(|_| ())
}

/// The strings shown with `Tj` and `TJ` on each page, in the order they are drawn.
/// Strings in a font with a ToUnicode CMap (the embedded font) are decoded through
/// it, two bytes a character (a code it does not map gives U+FFFD); others are
/// decoded from WinAnsiEncoding. Meant for tests of documents this module wrote; a
/// PDF it cannot read gives no strings.
pub fn pdf_text(pdf: &[u8]) -> Vec<String> {
    let Ok(objects) = objects(pdf) else {
        return Vec::new();
    };
    let mut texts = Vec::new();
    for page in pages(&objects) {
        let Some(stream) = page.contents.and_then(|contents| objects.get(contents)).and_then(|object| object.stream)
        else {
            continue;
        };
        let cmaps: HashMap<&[u8], BTreeMap<u16, String>> =
            page.fonts.iter().filter_map(|&(name, font)| to_unicode(&objects, font).map(|cmap| (name, cmap))).collect();
        let mut font: Option<&[u8]> = None;
        let mut operands: Vec<Token> = Vec::new();
        for token in tokens(stream) {
            match token {
                Token::Operator(op) => {
                    if op == b"Tf"
                        && let Some(Token::Name(name)) = operands.first()
                    {
                        font = Some(name);
                    }
                    if matches!(op, b"Tj" | b"TJ" | b"'" | b"\"") {
                        let shown: Vec<u8> = operands
                            .iter()
                            .filter_map(|operand| match operand {
                                Token::String(bytes) | Token::Hex(bytes) => Some(bytes.as_slice()),
                                _ => None,
                            })
                            .flatten()
                            .copied()
                            .collect();
                        texts.push(match font.and_then(|font| cmaps.get(font)) {
                            Some(cmap) => shown
                                .chunks(2)
                                .map(|pair| {
                                    let code = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
                                    cmap.get(&code).map_or("\u{FFFD}", String::as_str)
                                })
                                .collect(),
                            None => winansi::decode(&shown),
                        });
                    }
                    operands.clear();
                }
                Token::Comment(_) => {}
                other => operands.push(other),
            }
        }
    }
    texts
}

/// The content streams of a PDF this module wrote, in page order.
pub(crate) fn content_streams(pdf: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let objects = objects(pdf)?;
    Ok(pages(&objects)
        .iter()
        .filter_map(|page| page.contents.and_then(|contents| objects.get(contents)).and_then(|object| object.stream))
        .collect())
}

/// One indirect object, as far as the readers need it: its dictionary (the whole
/// body when it is not a stream) and its stream, if any.
struct Object<'a> {
    dictionary: &'a [u8],
    stream: Option<&'a [u8]>,
}

/// What the readers need of a page: the index (object number less one) of its
/// content stream, and its fonts by resource name.
struct PageObject<'a> {
    contents: Option<usize>,
    fonts: Vec<(&'a [u8], usize)>,
}

/// The pages of a PDF this module wrote, in the order of their objects (which is
/// the order of the pages).
fn pages<'a>(objects: &[Object<'a>]) -> Vec<PageObject<'a>> {
    let mut pages = Vec::new();
    for object in objects {
        let tokens = tokens(object.dictionary);
        let is_page = tokens.windows(2).any(|pair| pair == [Token::Name(b"Type"), Token::Name(b"Page")]);
        if !is_page {
            continue;
        }
        let contents = reference_after(&tokens, b"Contents");
        let mut fonts = Vec::new();
        if let Some(at) = tokens.iter().position(|token| *token == Token::Name(b"Font"))
            && tokens.get(at + 1) == Some(&Token::DictStart)
        {
            let mut at = at + 2;
            while let [Token::Name(name), Token::Number(number), Token::Number(_), Token::Operator(b"R"), ..] =
                &tokens[at..]
            {
                if let Some(index) = object_index(*number) {
                    fonts.push((*name, index));
                }
                at += 4;
            }
        }
        pages.push(PageObject { contents, fonts });
    }
    pages
}

/// The index of the object a reference `/key n 0 R` in `tokens` points at.
fn reference_after(tokens: &[Token<'_>], key: &[u8]) -> Option<usize> {
    tokens.windows(4).find_map(|window| match window {
        [Token::Name(name), Token::Number(number), Token::Number(_), Token::Operator(b"R")] if *name == key => {
            object_index(*number)
        }
        _ => None,
    })
}

/// The index in the list of objects of object number `number`.
fn object_index(number: f64) -> Option<usize> {
    (number >= 1.0 && number.fract() == 0.0 && number < 1e9).then(|| number as usize - 1)
}

/// The ToUnicode map of the font at `font`, if it has one.
fn to_unicode(objects: &[Object<'_>], font: usize) -> Option<BTreeMap<u16, String>> {
    let dictionary = tokens(objects.get(font)?.dictionary);
    let stream = objects.get(reference_after(&dictionary, b"ToUnicode")?)?.stream?;
    Some(cmap::read(&tokens(stream)))
}

const HEADER: &[u8] = b"%PDF-1.4\n";

/// The objects of a PDF, found through its cross-reference table, checked as
/// [`check_structure`] says.
fn objects(pdf: &[u8]) -> Result<Vec<Object<'_>>, Error> {
    if !pdf.starts_with(HEADER) {
        return Err(Error::Malformed("no %PDF-1.4 header"));
    }
    let end = trim_end(pdf);
    if !end.ends_with(b"%%EOF") {
        return Err(Error::Malformed("no %%EOF at the end"));
    }
    let startxref = rfind(pdf, b"startxref").ok_or(Error::Malformed("no startxref"))?;
    let (xref, _) = integer(skip_space(pdf, startxref + b"startxref".len()), pdf)
        .ok_or(Error::Malformed("startxref is not followed by a byte offset"))?;
    if !pdf.get(xref..).is_some_and(|rest| rest.starts_with(b"xref\n")) {
        return Err(Error::Malformed("startxref does not point at the xref table"));
    }
    let at = xref + b"xref\n".len();
    let (first, at) = integer(at, pdf).ok_or(Error::Malformed("no xref subsection"))?;
    let (count, at) = integer(skip_space(pdf, at), pdf).ok_or(Error::Malformed("no xref entry count"))?;
    if first != 0 || count == 0 {
        return Err(Error::Malformed("the xref table does not start at object 0"));
    }
    let entries_at = skip_space(pdf, at);
    let entries = count
        .checked_mul(20)
        .and_then(|len| pdf.get(entries_at..entries_at + len))
        .ok_or(Error::Malformed("the xref table is cut short"))?;
    let entry = |object: usize| &entries[object * 20..object * 20 + 20];
    if &entry(0)[10..] != b" 65535 f \n" && &entry(0)[10..] != b" 65535 f\r\n" {
        return Err(Error::Malformed("xref entry 0 is not the free-list head"));
    }
    let trailer = &pdf[entries_at + entries.len()..];
    if !trailer.starts_with(b"trailer")
        || find(trailer, format!("/Size {count} ").as_bytes()).is_none()
        || find(trailer, b"/Root ").is_none()
    {
        return Err(Error::Malformed("the trailer does not give /Size and /Root"));
    }

    let mut objects = Vec::with_capacity(count - 1);
    for object in 1..count {
        let line = entry(object);
        let offset = std::str::from_utf8(&line[..10])
            .ok()
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|_| &line[10..18] == b" 00000 n" && (&line[18..] == b" \n" || &line[18..] == b"\r\n"))
            .ok_or(Error::Object { object, problem: "malformed xref entry" })?;
        let opening = format!("{object} 0 obj");
        let body_at = offset + opening.len();
        if !pdf.get(offset..).is_some_and(|rest| rest.starts_with(opening.as_bytes())) || offset >= xref {
            return Err(Error::Offset { object, offset });
        }
        // A stream's data may hold any bytes, `endobj` among them: an object is a
        // stream when `stream` comes before `endobj`, and then it ends after the
        // number of bytes its `/Length` gives.
        let rest = &pdf[body_at..xref];
        let endobj = find(rest, b"endobj");
        let keyword = find(rest, b"stream").filter(|&keyword| endobj.is_none_or(|end| keyword < end));
        let no_endobj = Error::Object { object, problem: "no endobj" };
        let (dictionary, stream) = match keyword {
            None => (&rest[..endobj.ok_or(no_endobj)?], None),
            Some(keyword) => {
                let (data, after) = stream_data(rest, keyword)
                    .ok_or(Error::Object { object, problem: "the stream does not match its /Length" })?;
                if !rest[skip_space(rest, after)..].starts_with(b"endobj") {
                    return Err(no_endobj);
                }
                (&rest[..keyword], Some(data))
            }
        };
        objects.push(Object { dictionary, stream });
    }
    Ok(objects)
}

/// The data of a stream whose `stream` keyword is at `keyword` in the object's body,
/// and where its `endstream` ends.
fn stream_data(body: &[u8], keyword: usize) -> Option<(&[u8], usize)> {
    let dictionary = &body[..keyword];
    let length_at = find(dictionary, b"/Length")? + b"/Length".len();
    let (length, _) = integer(skip_space(dictionary, length_at), dictionary)?;
    let data_from = keyword + b"stream".len();
    let after = &body[data_from..];
    let data_at: usize = if after.starts_with(b"\r\n") {
        2
    } else if after.starts_with(b"\n") {
        1
    } else {
        return None;
    };
    let data = after.get(data_at..data_at.checked_add(length)?)?;
    let rest = &after[data_at + length..];
    let end = [&b"\nendstream"[..], b"\r\nendstream", b"\rendstream"].into_iter().find(|end| rest.starts_with(end))?;
    Some((data, data_from + data_at + length + end.len()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|window| window == needle)
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| !is_space(*b)).map_or(0, |at| at + 1);
    &bytes[..end]
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|b| is_space(*b)) {
        at += 1;
    }
    at
}

/// The unsigned decimal integer at `at`, and where it ends.
fn integer(at: usize, bytes: &[u8]) -> Option<(usize, usize)> {
    let digits = bytes.get(at..)?.iter().take_while(|b| b.is_ascii_digit()).count();
    let value = std::str::from_utf8(&bytes[at..at + digits]).ok()?.parse().ok()?;
    Some((value, at + digits))
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t' | b'\x0C' | b'\0')
}

fn is_delimiter(byte: u8) -> bool {
    matches!(byte, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

/// A token of a content stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token<'a> {
    Number(f64),
    Name(&'a [u8]),
    String(Vec<u8>),
    Operator(&'a [u8]),
    /// The text of a `%` comment, without the `%` and surrounding spaces.
    Comment(&'a [u8]),
    /// A hex string `<…>`, decoded (an odd last digit counts as followed by 0).
    Hex(Vec<u8>),
    /// `<<`, which opens a dictionary.
    DictStart,
    /// `>>`, which closes a dictionary.
    DictEnd,
    /// Anything else: array brackets, braces, a stray `)` or `>`.
    Other,
}

/// The tokens of a content stream (or of an object's dictionary, or of a CMap).
/// Malformed input gives odd tokens, never a panic.
pub(crate) fn tokens(content: &[u8]) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < content.len() {
        let byte = content[at];
        if is_space(byte) {
            at += 1;
        } else if byte == b'%' {
            let end = content[at..].iter().position(|b| matches!(b, b'\n' | b'\r')).map_or(content.len(), |n| at + n);
            out.push(Token::Comment(trim(&content[at + 1..end])));
            at = end;
        } else if byte == b'(' {
            let (string, end) = literal(content, at + 1);
            out.push(Token::String(string));
            at = end;
        } else if byte == b'/' {
            let end = regular_end(content, at + 1);
            out.push(Token::Name(&content[at + 1..end]));
            at = end;
        } else if content[at..].starts_with(b"<<") {
            out.push(Token::DictStart);
            at += 2;
        } else if content[at..].starts_with(b">>") {
            out.push(Token::DictEnd);
            at += 2;
        } else if byte == b'<' {
            let end = content[at..].iter().position(|b| *b == b'>').map_or(content.len(), |n| at + n);
            out.push(Token::Hex(hex(&content[at + 1..end])));
            at = end + 1;
        } else if is_delimiter(byte) {
            out.push(Token::Other);
            at += 1;
        } else {
            let end = regular_end(content, at);
            let word = &content[at..end];
            let number = std::str::from_utf8(word).ok().filter(|w| !w.is_empty()).and_then(|w| w.parse::<f64>().ok());
            let is_numeric = word.iter().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
            out.push(match number {
                Some(value) if is_numeric => Token::Number(value),
                _ => Token::Operator(word),
            });
            at = end.max(at + 1);
        }
    }
    out
}

/// The bytes of a hex string's digits; spaces are skipped, other characters count
/// as 0.
fn hex(digits: &[u8]) -> Vec<u8> {
    let nibbles: Vec<u8> = digits
        .iter()
        .filter(|b| !is_space(**b))
        .map(|b| char::from(*b).to_digit(16).map_or(0, |value| value as u8))
        .collect();
    nibbles.chunks(2).map(|pair| pair[0] << 4 | pair.get(1).copied().unwrap_or(0)).collect()
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !is_space(*b)).unwrap_or(bytes.len());
    let rest = &bytes[start..];
    &rest[..rest.iter().rposition(|b| !is_space(*b)).map_or(0, |at| at + 1)]
}

fn regular_end(content: &[u8], from: usize) -> usize {
    from + content[from..].iter().take_while(|b| !is_space(**b) && !is_delimiter(**b)).count()
}

/// The bytes of a literal string whose `(` is just before `from`, and the position
/// after its closing `)`.
fn literal(content: &[u8], from: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut at = from;
    while let Some(&byte) = content.get(at) {
        at += 1;
        match byte {
            b'\\' => {
                let Some(&next) = content.get(at) else { break };
                at += 1;
                match next {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0C),
                    b'0'..=b'7' => {
                        let mut value = u32::from(next - b'0');
                        for _ in 0..2 {
                            match content.get(at) {
                                Some(&digit @ b'0'..=b'7') => {
                                    value = value * 8 + u32::from(digit - b'0');
                                    at += 1;
                                }
                                _ => break,
                            }
                        }
                        // Three octal digits can exceed a byte; the high bit is dropped.
                        out.push((value & 0xFF) as u8);
                    }
                    // A backslash at the end of a line continues the string.
                    b'\n' => {}
                    b'\r' => {
                        if content.get(at) == Some(&b'\n') {
                            at += 1;
                        }
                    }
                    other => out.push(other),
                }
            }
            b'(' => {
                depth += 1;
                out.push(byte);
            }
            b')' if depth == 0 => return (out, at),
            b')' => {
                depth -= 1;
                out.push(byte);
            }
            _ => out.push(byte),
        }
    }
    (out, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_pages() -> Vec<u8> {
        let mut letter = Page::new(PageSize::Letter);
        letter.text(72.0, 720.0, Font::HelveticaBold, 14.0, "Hello (world) \\ back");
        letter.fill_rect(72.0, 700.0, 100.5, 0.75);
        let mut label = Page::new(PageSize::Label4x6);
        label.comment("marker\nnext");
        label.text(10.0, 10.0, Font::Helvetica, 9.0, "张伟 Zoë Łukasz");
        let mut document = Document::new();
        document.push(letter);
        document.push(label);
        document.to_bytes()
    }

    /// The file as text, byte for byte (non-ASCII bytes as `?`), so offsets match.
    fn as_text(pdf: &[u8]) -> String {
        pdf.iter().map(|&b| if b.is_ascii() { char::from(b) } else { '?' }).collect()
    }

    #[test]
    fn the_structure_is_sound() {
        let pdf = two_pages();
        check_structure(&pdf).unwrap();
        let text = as_text(&pdf);
        assert!(text.starts_with("%PDF-1.4\n"));
        assert!(text.ends_with("%%EOF\n"));
        assert!(text.contains("/MediaBox [0 0 612 792]"));
        assert!(text.contains("/MediaBox [0 0 288 432]"));
        assert!(text.contains("/Kids [5 0 R 7 0 R] /Count 2"));
        assert!(text.contains("/BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding"));
        // Everything after the binary-marker line is ASCII.
        assert!(pdf[HEADER.len() + 6..].is_ascii());
    }

    #[test]
    fn xref_offsets_point_at_their_objects() {
        let pdf = two_pages();
        let text = as_text(&pdf);
        let xref = text.rfind("\nxref\n").unwrap() + 1;
        let startxref: usize = text.rsplit("startxref\n").next().unwrap().lines().next().unwrap().parse().unwrap();
        assert_eq!(startxref, xref);
        let entries: Vec<&str> =
            text[xref..].lines().skip(3).map(str::trim_end).take_while(|line| line.ends_with(" n")).collect();
        assert_eq!(entries.len(), 8);
        for (index, entry) in entries.iter().enumerate() {
            let offset: usize = entry[..10].parse().unwrap();
            assert!(text[offset..].starts_with(&format!("{} 0 obj\n", index + 1)), "object {}", index + 1);
        }
    }

    #[test]
    fn broken_files_fail_the_check() {
        let pdf = two_pages();
        assert_eq!(check_structure(b""), Err(Error::Malformed("no %PDF-1.4 header")));
        assert_eq!(check_structure(&pdf[..pdf.len() - 3]), Err(Error::Malformed("no %%EOF at the end")));

        // One byte more before the objects: every offset is off by one.
        let mut shifted = pdf.clone();
        shifted.insert(HEADER.len(), b'%');
        assert!(matches!(check_structure(&shifted), Err(Error::Malformed(_) | Error::Offset { .. })));

        // A stream longer than its /Length says.
        let text = as_text(&pdf).replacen("re f\n", "re f f\n", 1);
        assert!(matches!(check_structure(text.as_bytes()), Err(Error::Malformed(_) | Error::Object { .. })));

        // Truncations (short of the final end of line) fail, and never panic.
        for len in 0..pdf.len() - 1 {
            assert!(check_structure(&pdf[..len]).is_err());
            let _ = pdf_text(&pdf[..len]);
        }
    }

    #[test]
    fn text_is_escaped_and_reads_back() {
        let pdf = two_pages();
        let text = as_text(&pdf);
        assert!(text.contains(r"(Hello \(world\) \\ back) Tj"));
        // ë is 0xEB in WinAnsiEncoding, written as an octal escape.
        assert!(text.contains(r"(?? Zo\353 Lukasz) Tj"));
        assert!(text.contains("% marker?next\n"));
        assert_eq!(pdf_text(&pdf), ["Hello (world) \\ back", "?? Zoë Lukasz"]);
    }

    #[test]
    fn the_same_document_gives_the_same_bytes() {
        assert_eq!(two_pages(), two_pages());
    }

    #[test]
    fn an_empty_document_is_still_a_pdf() {
        check_structure(&Document::new().to_bytes()).unwrap();
    }

    #[test]
    fn numbers() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(-0.0001), "0");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(1.2), "1.2");
        assert_eq!(number(0.965_034), "0.965");
        assert_eq!(number(-3.5), "-3.5");
        assert_eq!(number(100.05), "100.05");
    }

    #[test]
    fn the_content_lexer() {
        let content = b"% barcode-begin \n1 -2.5 3 .5 re f BT /F1 9 Tf [(a\\(b) -20 (c\\101\\\nd)] TJ <414243> ET";
        let tokens = tokens(content);
        assert_eq!(tokens[0], Token::Comment(b"barcode-begin"));
        assert_eq!(tokens[1..5], [Token::Number(1.0), Token::Number(-2.5), Token::Number(3.0), Token::Number(0.5)]);
        assert_eq!(tokens[5], Token::Operator(b"re"));
        assert!(tokens.contains(&Token::String(b"a(b".to_vec())));
        assert!(tokens.contains(&Token::String(b"cAd".to_vec())));
        assert!(tokens.contains(&Token::Name(b"F1")));
        assert_eq!(tokens.last(), Some(&Token::Operator(b"ET")));
    }

    fn chinese_pages(font: Option<&EmbeddedFont<'_>>) -> Vec<u8> {
        let mut first = Page::new(PageSize::Letter);
        first.text(72.0, 720.0, Font::HelveticaBold, 14.0, "Statement");
        first.embedded_text(72.0, 700.0, Font::HelveticaBold, 14.0, "最终账单");
        first.embedded_text(72.0, 680.0, Font::Helvetica, 10.0, "余额 -18.50 USD\t(结清)");
        let mut second = Page::new(PageSize::Letter);
        second.embedded_text(72.0, 700.0, Font::Helvetica, 10.0, "第二页 🙂");
        second.text(72.0, 680.0, Font::Helvetica, 10.0, "endobj stream endstream");
        let mut document = font.map_or_else(Document::new, Document::with_font);
        document.push(first);
        document.push(second);
        document.to_bytes()
    }

    #[test]
    fn embedded_text_reads_back_through_its_to_unicode_map() {
        let font = EmbeddedFont::parse(truetype::tests::wqy()).unwrap();
        let pdf = chinese_pages(Some(&font));
        check_structure(&pdf).unwrap();
        // A tab is shown as a space; a character the font lacks (the emoji) as `?`.
        assert_eq!(
            pdf_text(&pdf),
            ["Statement", "最终账单", "余额 -18.50 USD (结清)", "第二页 ?", "endobj stream endstream"]
        );
        let text = as_text(&pdf);
        // Objects 1-4, two pages (5-8), then the font: Type0, CIDFont, descriptor, file, CMap.
        assert!(text.contains("/Kids [5 0 R 7 0 R] /Count 2"));
        assert!(text.contains("/F3 9 0 R"));
        assert!(text.contains("9 0 obj\n<< /Type /Font /Subtype /Type0 /BaseFont /"));
        assert!(text.contains("/Encoding /Identity-H /DescendantFonts [10 0 R] /ToUnicode 13 0 R >>"));
        assert!(text.contains("/FontDescriptor 11 0 R /DW 1000 /W [0 ["));
        assert!(text.contains("/FontFile2 12 0 R"));
        // Bold is the outlines filled and stroked.
        assert!(text.contains("q 0.56 w 2 Tr BT /F3 14 Tf 72 700 Td <"));
        assert!(pdf[HEADER.len() + 6..].is_ascii());
        assert_eq!(pdf, chinese_pages(Some(&font)));
    }

    #[test]
    fn the_embedded_font_file_is_the_subset() {
        let font = EmbeddedFont::parse(truetype::tests::wqy()).unwrap();
        let pdf = chinese_pages(Some(&font));
        let text = as_text(&pdf);
        let at = text.find("/Filter /ASCII85Decode >>\nstream\n").unwrap();
        let data = &text[at + "/Filter /ASCII85Decode >>\nstream\n".len()..];
        let data = &data[..data.find("~>").unwrap()];
        let file = ascii85_decode(data);
        let length1: usize = text[..at].rsplit("/Length1 ").next().unwrap().split(' ').next().unwrap().parse().unwrap();
        assert_eq!(file.len(), length1);
        let face = ttf_parser::Face::parse(&file, 0).unwrap();
        // .notdef, the glyphs of the characters shown (the space and `?` included) and
        // the parts of those that are composite, nothing else.
        let shown: BTreeSet<u16> = "最终账单余额 -18.50 USD(结清)第二页?".chars().map(|c| font.shown(c).0).collect();
        let mut kept: BTreeSet<u16> = shown.iter().flat_map(|&glyph| truetype::tests::parts(&font, glyph)).collect();
        kept.extend(&shown);
        kept.insert(0);
        assert!(kept.len() > shown.len() + 1, "some of these glyphs are composite");
        assert_eq!(usize::from(face.number_of_glyphs()), kept.len());
    }

    #[test]
    fn without_an_embedded_font_the_text_falls_back_to_helvetica() {
        let pdf = chinese_pages(None);
        check_structure(&pdf).unwrap();
        assert_eq!(pdf_text(&pdf), ["Statement", "????", "?? -18.50 USD (??)", "??? ?", "endobj stream endstream"]);
        assert!(!as_text(&pdf).contains("/F3"));
        // A font that no page uses is not embedded.
        let font = EmbeddedFont::parse(truetype::tests::wqy()).unwrap();
        let mut document = Document::with_font(&font);
        document.push(Page::new(PageSize::Letter));
        assert!(!as_text(&document.to_bytes()).contains("/FontFile2"));
    }

    fn ascii85_decode(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut group: Vec<u32> = Vec::new();
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            if c == 'z' {
                out.extend([0; 4]);
                continue;
            }
            group.push(u32::from(c) - 33);
            if group.len() == 5 {
                out.extend(group.iter().fold(0u32, |v, d| v * 85 + d).to_be_bytes());
                group.clear();
            }
        }
        if !group.is_empty() {
            let n = group.len();
            group.resize(5, 84);
            out.extend(&group.iter().fold(0u32, |v, d| v.wrapping_mul(85).wrapping_add(*d)).to_be_bytes()[..n - 1]);
        }
        out
    }

    #[test]
    fn ascii85_round_trips() {
        for data in [&b""[..], b"\0\0\0\0", b"Man is distinguished", b"\xFF\xFF\xFF\xFF\xFF", b"abc", &[0u8; 9]] {
            let encoded = ascii85(data);
            assert!(encoded.ends_with("~>"));
            assert_eq!(ascii85_decode(&encoded[..encoded.len() - 2]), data, "{encoded}");
        }
        assert_eq!(ascii85(b"Man "), "9jqo^~>");
        assert!(ascii85(&[7u8; 400]).lines().all(|line| line.len() <= 80));
    }

    #[test]
    fn text_width() {
        // "Hi": H (722) + i (222) in Helvetica, at 10 pt.
        assert!((Font::Helvetica.text_width_pt(10.0, "Hi") - 9.44).abs() < 1e-9);
        assert!(Font::HelveticaBold.text_width_pt(10.0, "Hi") > Font::Helvetica.text_width_pt(10.0, "Hi"));
    }
}
