//! Text in WinAnsiEncoding, the Latin encoding of the PDF standard fonts: encoding
//! (with other Latin letters transliterated and everything else replaced by `?`),
//! decoding for reading text back, and the Helvetica glyph widths used to fit text.

/// The characters at codes 0x80 to 0x9F, where WinAnsiEncoding departs from Latin-1.
const SPECIALS: [(u8, char); 27] = [
    (0x80, '\u{20AC}'),
    (0x82, '\u{201A}'),
    (0x83, '\u{0192}'),
    (0x84, '\u{201E}'),
    (0x85, '\u{2026}'),
    (0x86, '\u{2020}'),
    (0x87, '\u{2021}'),
    (0x88, '\u{02C6}'),
    (0x89, '\u{2030}'),
    (0x8A, '\u{0160}'),
    (0x8B, '\u{2039}'),
    (0x8C, '\u{0152}'),
    (0x8E, '\u{017D}'),
    (0x91, '\u{2018}'),
    (0x92, '\u{2019}'),
    (0x93, '\u{201C}'),
    (0x94, '\u{201D}'),
    (0x95, '\u{2022}'),
    (0x96, '\u{2013}'),
    (0x97, '\u{2014}'),
    (0x98, '\u{02DC}'),
    (0x99, '\u{2122}'),
    (0x9A, '\u{0161}'),
    (0x9B, '\u{203A}'),
    (0x9C, '\u{0153}'),
    (0x9E, '\u{017E}'),
    (0x9F, '\u{0178}'),
];

/// Blocks of Latin letters outside WinAnsiEncoding, each one base letter with
/// diacritics, capital and small alternating from the first code point of the block:
/// `(first, last, capital)`.
const LETTER_BLOCKS: [(u32, u32, u8); 60] = [
    // Latin Extended-A.
    (0x0100, 0x0105, b'A'),
    (0x0106, 0x010D, b'C'),
    (0x010E, 0x0111, b'D'),
    (0x0112, 0x011B, b'E'),
    (0x011C, 0x0123, b'G'),
    (0x0124, 0x0127, b'H'),
    (0x0128, 0x0131, b'I'),
    (0x0134, 0x0135, b'J'),
    (0x0136, 0x0137, b'K'),
    (0x0139, 0x0142, b'L'),
    (0x0143, 0x0148, b'N'),
    (0x014A, 0x014B, b'N'),
    (0x014C, 0x0151, b'O'),
    (0x0154, 0x0159, b'R'),
    (0x015A, 0x0161, b'S'),
    (0x0162, 0x0167, b'T'),
    (0x0168, 0x0173, b'U'),
    (0x0174, 0x0175, b'W'),
    (0x0176, 0x0177, b'Y'),
    (0x0179, 0x017E, b'Z'),
    // Latin Extended-B: Vietnamese horned letters, pinyin tone marks, Romanian commas.
    (0x01A0, 0x01A1, b'O'),
    (0x01AF, 0x01B0, b'U'),
    (0x01CD, 0x01CE, b'A'),
    (0x01CF, 0x01D0, b'I'),
    (0x01D1, 0x01D2, b'O'),
    (0x01D3, 0x01DC, b'U'),
    (0x0218, 0x0219, b'S'),
    (0x021A, 0x021B, b'T'),
    // Latin Extended Additional (among others, Vietnamese).
    (0x1E00, 0x1E01, b'A'),
    (0x1E02, 0x1E07, b'B'),
    (0x1E08, 0x1E09, b'C'),
    (0x1E0A, 0x1E13, b'D'),
    (0x1E14, 0x1E1D, b'E'),
    (0x1E1E, 0x1E1F, b'F'),
    (0x1E20, 0x1E21, b'G'),
    (0x1E22, 0x1E2B, b'H'),
    (0x1E2C, 0x1E2F, b'I'),
    (0x1E30, 0x1E35, b'K'),
    (0x1E36, 0x1E3D, b'L'),
    (0x1E3E, 0x1E43, b'M'),
    (0x1E44, 0x1E4B, b'N'),
    (0x1E4C, 0x1E53, b'O'),
    (0x1E54, 0x1E57, b'P'),
    (0x1E58, 0x1E5F, b'R'),
    (0x1E60, 0x1E69, b'S'),
    (0x1E6A, 0x1E71, b'T'),
    (0x1E72, 0x1E7B, b'U'),
    (0x1E7C, 0x1E7F, b'V'),
    (0x1E80, 0x1E89, b'W'),
    (0x1E8A, 0x1E8D, b'X'),
    (0x1E8E, 0x1E8F, b'Y'),
    (0x1E90, 0x1E95, b'Z'),
    (0x1EA0, 0x1EB7, b'A'),
    (0x1EB8, 0x1EC7, b'E'),
    (0x1EC8, 0x1ECB, b'I'),
    (0x1ECC, 0x1EE3, b'O'),
    (0x1EE4, 0x1EF1, b'U'),
    (0x1EF2, 0x1EF9, b'Y'),
    // Fullwidth digits and letters, as typed with East Asian input methods.
    (0xFF10, 0xFF19, b'0'),
    (0xFF21, 0xFF3A, b'A'),
];

/// `text` in WinAnsiEncoding, one byte per character, so it can be shown with the
/// standard fonts.
///
/// WinAnsiEncoding holds ASCII, Latin-1 and a few typographic characters (curly
/// quotes, dashes, the euro sign). Other Latin letters are transliterated to their
/// base letter (`ł` → `l`, `ș` → `s`, `ệ` → `e`), combining accents are dropped,
/// fullwidth ASCII becomes ASCII, tabs and line breaks become spaces, and every other
/// character — Chinese, Cyrillic, emoji, control characters — becomes `?`.
pub(crate) fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        push(&mut out, c);
    }
    out
}

fn push(out: &mut Vec<u8>, c: char) {
    let code = u32::from(c);
    match c {
        ' '..='~' | '\u{A0}'..='\u{FF}' => out.push(code as u8),
        '\t' | '\n' | '\r' | '\u{2002}'..='\u{200A}' | '\u{3000}' => out.push(b' '),
        // Combining diacritical marks and zero-width characters: the base letter stays.
        '\u{300}'..='\u{36F}' | '\u{200B}'..='\u{200D}' | '\u{FEFF}' => {}
        '\u{2010}'..='\u{2012}' | '\u{2015}' | '\u{2212}' => out.push(b'-'),
        '\u{2032}' => out.push(b'\''),
        '\u{2033}' => out.push(b'"'),
        '\u{0132}' => out.extend(b"IJ"),
        '\u{0133}' => out.extend(b"ij"),
        '\u{0138}' => out.push(b'k'),
        '\u{0149}' => out.extend(b"'n"),
        '\u{017F}' => out.push(b's'),
        '\u{1E9E}' => out.extend(b"SS"),
        _ => {
            if let Some(&(byte, _)) = SPECIALS.iter().find(|(_, special)| *special == c) {
                out.push(byte);
            } else if let Some(&(first, _, capital)) =
                LETTER_BLOCKS.iter().find(|(first, last, _)| (*first..=*last).contains(&code))
            {
                out.push(base_letter(code - first, capital, first));
            } else {
                out.push(b'?');
            }
        }
    }
}

/// The letter at `offset` in a block starting with `capital`: letters alternate
/// capital and small, except in the fullwidth blocks which run through the alphabet.
fn base_letter(offset: u32, capital: u8, first: u32) -> u8 {
    if first >= 0xFF00 {
        // The blocks are at most 26 long, so the offset fits a byte.
        capital + offset as u8
    } else if offset.is_multiple_of(2) {
        capital
    } else {
        capital.to_ascii_lowercase()
    }
}

/// The text of WinAnsiEncoding bytes; a code with no character (control codes and
/// the five unused codes among 0x80 to 0x9F) becomes U+FFFD.
pub(crate) fn decode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&byte| match byte {
            0x20..=0x7E | 0xA0..=0xFF => char::from(byte),
            _ => SPECIALS.iter().find(|(code, _)| *code == byte).map_or('\u{FFFD}', |&(_, c)| c),
        })
        .collect()
}

/// Helvetica's advance widths for the codes 32 to 126, in thousandths of the font
/// size (Adobe's AFM files for the standard fonts).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space to /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0 to ?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @ to O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P to _
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // ` to o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p to ~
];

/// Helvetica-Bold's advance widths for the codes 32 to 126.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // space to /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0 to ?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @ to O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P to _
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // ` to o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // p to ~
];

/// For the codes 0xC0 to 0xFF (accented letters), the ASCII letter of the same
/// width in Helvetica; `?` marks the wider ones (Æ, æ) and the signs × and ÷.
const LATIN1_LETTERS: &[u8; 64] = b"AAAAAA?CEEEEIIIIDNOOOOO?OUUUUYPBaaaaaa?ceeeeiiiidnooooo?ouuuuypy";

/// The advance width of a WinAnsiEncoding code in thousandths of the font size,
/// exact for ASCII and accented letters and an upper bound (1000) for the rest, so
/// that text measured with it never overflows.
pub(crate) fn width(bold: bool, byte: u8) -> u16 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let ascii = match byte {
        0x20..=0x7E => byte,
        0xC0..=0xFF => LATIN1_LETTERS[usize::from(byte - 0xC0)],
        _ => return 1000,
    };
    if ascii == b'?' { 1000 } else { table[usize::from(ascii - 0x20)] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_text_survives_and_other_scripts_become_question_marks() {
        assert_eq!(encode("Zoë (O'Brien)"), b"Zo\xEB (O'Brien)");
        assert_eq!(decode(&encode("Zoë Müller-Lüdenscheidt, 5 €")), "Zoë Müller-Lüdenscheidt, 5 €");
        assert_eq!(
            decode(&encode("Łukasz Żółć, Nguyễn Thị Ánh, Ștefan, Lǚ")),
            "Lukasz Zólc, Nguyen Thi Ánh, Stefan, Lu"
        );
        assert_eq!(decode(&encode("张伟 Иван 🙂")), "?? ???? ?");
        assert_eq!(decode(&encode("e\u{301}\tx\n１２３ＡＢ")), "e x 123AB");
        assert_eq!(decode(&encode("\u{1}")), "?");
    }

    #[test]
    fn every_block_is_a_run_of_one_letter() {
        for (first, last, capital) in LETTER_BLOCKS {
            assert!(first <= last && capital.is_ascii_alphanumeric(), "{first:#x}");
            for code in first..=last {
                let c = char::from_u32(code).unwrap();
                if SPECIALS.iter().any(|(_, special)| *special == c) {
                    continue;
                }
                let bytes = encode(&c.to_string());
                assert_eq!(bytes.len(), 1, "{c}");
                if first < 0xFF00 {
                    assert!(bytes[0].eq_ignore_ascii_case(&capital), "{c} became {}", char::from(bytes[0]));
                    assert_eq!(bytes[0].is_ascii_uppercase(), c.is_uppercase(), "{c}");
                }
            }
        }
    }

    #[test]
    fn every_code_decodes_and_encodes_back() {
        for byte in 0x20..=0xFFu8 {
            let text = decode(&[byte]);
            if text != "\u{FFFD}" && byte != 0x7F {
                assert_eq!(encode(&text), vec![byte], "{byte:#x}");
            }
        }
    }

    #[test]
    fn widths() {
        assert_eq!(width(false, b'i'), 222);
        assert_eq!(width(true, b'i'), 278);
        assert_eq!(width(true, b'W'), 944);
        assert_eq!(width(false, 0xE9), width(false, b'e'));
        assert_eq!(width(false, 0x80), 1000);
        assert_eq!(width(false, 0xC6), 1000);
    }
}
