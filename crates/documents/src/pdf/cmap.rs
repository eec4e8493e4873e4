//! ToUnicode CMaps: the map from a font's two-byte character codes to the text they
//! show, which a PDF carries so that text drawn with glyph ids can be searched,
//! copied and read aloud; written for embedded fonts, and read back by
//! [`crate::pdf::pdf_text`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Token;

/// The most entries a `beginbfchar` block may hold (the CMap specification's limit).
const BLOCK: usize = 100;

/// The ToUnicode CMap of a font whose two-byte codes `code` show `text`.
pub(crate) fn write(map: &BTreeMap<u16, char>) -> String {
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<(&u16, &char)> = map.iter().collect();
    for block in entries.chunks(BLOCK) {
        let _ = writeln!(out, "{} beginbfchar", block.len());
        for (code, c) in block {
            let mut units = [0u16; 2];
            let utf16: String = c.encode_utf16(&mut units).iter().map(|unit| format!("{unit:04X}")).collect();
            let _ = writeln!(out, "<{code:04X}> <{utf16}>");
        }
        out.push_str("endbfchar\n");
    }
    out.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    out
}

/// The map of a ToUnicode CMap's content: two-byte code to text, from its
/// `bfchar` and `bfrange` blocks (ranges whose destination is an array are skipped).
pub(crate) fn read(tokens: &[Token<'_>]) -> BTreeMap<u16, String> {
    let mut map = BTreeMap::new();
    let mut at = 0;
    while at < tokens.len() {
        match tokens[at] {
            Token::Operator(b"beginbfchar") => {
                at += 1;
                while let [Token::Hex(code), Token::Hex(text), ..] = &tokens[at..] {
                    if let Some(code) = code_of(code) {
                        map.insert(code, utf16(text));
                    }
                    at += 2;
                }
            }
            Token::Operator(b"beginbfrange") => {
                at += 1;
                while let [Token::Hex(low), Token::Hex(high), destination, ..] = &tokens[at..] {
                    if let (Some(low), Some(high), Token::Hex(text)) = (code_of(low), code_of(high), destination) {
                        let first = utf16(text);
                        // The last character of the destination counts up through the range.
                        let mut chars: Vec<char> = first.chars().collect();
                        for code in low..=high {
                            map.insert(code, chars.iter().collect());
                            if let Some(last) = chars.last_mut() {
                                *last = char::from_u32(u32::from(*last) + 1).unwrap_or('\u{FFFD}');
                            }
                        }
                    }
                    at += 3;
                }
            }
            _ => at += 1,
        }
    }
    map
}

fn code_of(bytes: &[u8]) -> Option<u16> {
    match bytes {
        [high, low] => Some(u16::from_be_bytes([*high, *low])),
        [low] => Some(u16::from(*low)),
        _ => None,
    }
}

fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> =
        bytes.chunks(2).map(|pair| u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])).collect();
    char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::tokens;

    #[test]
    fn written_maps_read_back() {
        let mut map: BTreeMap<u16, char> =
            (1..=250u16).map(|code| (code, char::from_u32(0x4E00 + u32::from(code)).unwrap())).collect();
        map.insert(300, '😀');
        map.insert(301, '(');
        let text = write(&map);
        assert!(text.contains("100 beginbfchar") && text.contains("52 beginbfchar"));
        assert!(text.contains("<012C> <D83DDE00>"));
        let read = read(&tokens(text.as_bytes()));
        let expected: BTreeMap<u16, String> = map.iter().map(|(code, c)| (*code, c.to_string())).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn ranges() {
        let text =
            b"1 beginbfrange <0010> <0012> <0041> endbfrange 1 beginbfrange <0001> <0002> [<0061> <0062>] endbfrange";
        let read = read(&tokens(text));
        assert_eq!(read.get(&0x10).map(String::as_str), Some("A"));
        assert_eq!(read.get(&0x12).map(String::as_str), Some("C"));
        assert_eq!(read.get(&0x1), None);
    }
}
