//! Code 128 barcodes as module widths: [`encode`] printable ASCII (code set B, and
//! code set C for runs of digits) and [`decode`] a width sequence back to text,
//! checking the start code, the checksum and the stop pattern.
//!
//! A width sequence lists the elements of a symbol from left to right, bars and
//! spaces alternating and starting with a bar, each a whole number of modules (1 to
//! 4): the start code, the data, the checksum and the stop pattern with its final
//! 2-module bar. Quiet zones are not part of it: whoever draws the symbol leaves at
//! least 10 modules of white on each side.

/// The longest text [`encode`] accepts, in characters.
pub const MAX_TEXT_CHARS: usize = 80;

/// Why a text cannot be encoded, or a width sequence cannot be decoded.
///
/// Positions count symbols from the left, the start code being symbol 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("nothing to encode: the text is empty")]
    Empty,
    #[error("the text is {chars} characters long, more than the {max} a barcode carries")]
    TooLong { chars: usize, max: usize },
    #[error("character {index} ({ch:?}) is not printable ASCII (32 to 126)")]
    Unencodable { index: usize, ch: char },
    #[error("{len} widths cannot form a Code 128 symbol (6 per symbol, 7 for the stop)")]
    Length { len: usize },
    #[error("width {index} is {width} modules; Code 128 elements are 1 to 4 modules wide")]
    Width { index: usize, width: u8 },
    #[error("symbol {position} is not a Code 128 pattern")]
    Pattern { position: usize },
    #[error("the symbol does not begin with a start code")]
    Start,
    #[error("the symbol does not end with the stop pattern")]
    Stop,
    #[error("the checksum symbol is {found}, the data gives {expected}")]
    Checksum { expected: u8, found: u8 },
    #[error(
        "symbol {position} (value {value}) is not allowed there, or is a function code this decoder does not support"
    )]
    Unsupported { position: usize, value: u8 },
    #[error("the symbol carries no data")]
    NoData,
}

/// The element widths of the symbols 0 to 105, in modules (bar, space, bar, space,
/// bar, space), from ISO/IEC 15417. Every pattern is 11 modules wide.
const PATTERNS: [&[u8; 6]; 106] = [
    b"212222", b"222122", b"222221", b"121223", b"121322", b"131222", b"122213", b"122312", b"132212", b"221213",
    b"221312", b"231212", b"112232", b"122132", b"122231", b"113222", b"123122", b"123221", b"223211", b"221132",
    b"221231", b"213212", b"223112", b"312131", b"311222", b"321122", b"321221", b"312212", b"322112", b"322211",
    b"212123", b"212321", b"232121", b"111323", b"131123", b"131321", b"112313", b"132113", b"132311", b"211313",
    b"231113", b"231311", b"112133", b"112331", b"132131", b"113123", b"113321", b"133121", b"313121", b"211331",
    b"231131", b"213113", b"213311", b"213131", b"311123", b"311321", b"331121", b"312113", b"312311", b"332111",
    b"314111", b"221411", b"431111", b"111224", b"111422", b"121124", b"121421", b"141122", b"141221", b"112214",
    b"112412", b"122114", b"122411", b"142112", b"142211", b"241211", b"221114", b"413111", b"241112", b"134111",
    b"111242", b"121142", b"121241", b"114212", b"124112", b"124211", b"411212", b"421112", b"421211", b"212141",
    b"214121", b"412121", b"111143", b"111341", b"131141", b"114113", b"114311", b"411113", b"411311", b"113141",
    b"114131", b"311141", b"411131", b"211412", b"211214", b"211232",
];

/// The stop pattern, including the final 2-module bar (13 modules).
const STOP: [u8; 7] = [2, 3, 3, 1, 1, 1, 2];

const SHIFT: u8 = 98;
const CODE_C: u8 = 99;
const CODE_B: u8 = 100;
const CODE_A: u8 = 101;
const START_A: u8 = 103;
const START_B: u8 = 104;
const START_C: u8 = 105;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    A,
    B,
    C,
}

/// The module widths of `text` as a Code 128 symbol.
///
/// The text is encoded in code set B, switching to code set C (two digits per
/// symbol) where that makes the symbol shorter: a text that starts with 4 or more
/// digits (or is an even number of digits), a run of 4 or more digits at the end, or
/// a run of 6 or more digits elsewhere. Only printable ASCII (32 to 126) is
/// accepted, at most [`MAX_TEXT_CHARS`] characters, and not the empty text.
pub fn encode(text: &str) -> Result<Vec<u8>, Error> {
    let values = symbol_values(text)?;
    let mut widths = Vec::with_capacity((values.len() + 1) * 6 + STOP.len());
    for &value in values.iter().chain([checksum(&values)].iter()) {
        widths.extend(pattern(value));
    }
    widths.extend(STOP);
    Ok(widths)
}

/// The text carried by a Code 128 symbol given as module widths (see the module
/// documentation), read left to right.
///
/// Code sets A, B and C, the code set switches and Shift are understood; the
/// function codes (FNC1 to FNC4) are not, and are reported as
/// [`Error::Unsupported`]. Any malformed input is an error, never a panic.
pub fn decode(widths: &[u8]) -> Result<String, Error> {
    let len = widths.len();
    // The shortest symbol is a start code, one data symbol, the checksum and the stop.
    if len < 3 * 6 + STOP.len() || !(len - STOP.len()).is_multiple_of(6) {
        return Err(Error::Length { len });
    }
    if let Some((index, &width)) = widths.iter().enumerate().find(|(_, w)| !(1..=4).contains(*w)) {
        return Err(Error::Width { index, width });
    }
    let (body, stop) = widths.split_at(len - STOP.len());
    if stop != STOP {
        return Err(Error::Stop);
    }
    let values = body
        .chunks(6)
        .enumerate()
        .map(|(position, chunk)| symbol_of(chunk).ok_or(Error::Pattern { position }))
        .collect::<Result<Vec<u8>, Error>>()?;
    let Some((&found, with_start)) = values.split_last() else {
        return Err(Error::Length { len });
    };
    let mut set = match with_start.first() {
        Some(&START_A) => Set::A,
        Some(&START_B) => Set::B,
        Some(&START_C) => Set::C,
        _ => return Err(Error::Start),
    };
    let expected = checksum(with_start);
    if expected != found {
        return Err(Error::Checksum { expected, found });
    }

    let mut text = String::new();
    let mut shifted = false;
    for (position, &value) in with_start.iter().enumerate().skip(1) {
        let after_shift = std::mem::take(&mut shifted);
        let current = match (after_shift, set) {
            (true, Set::A) => Set::B,
            (true, Set::B) => Set::A,
            (_, other) => other,
        };
        let unsupported = Error::Unsupported { position, value };
        match (current, value) {
            (Set::C, 0..=99) => {
                text.push(char::from(b'0' + value / 10));
                text.push(char::from(b'0' + value % 10));
            }
            (Set::C, CODE_B) => set = Set::B,
            (Set::C, CODE_A) => set = Set::A,
            (Set::A, 0..=63) => text.push(char::from(value + 32)),
            (Set::A, 64..=95) => text.push(char::from(value - 64)),
            (Set::B, 0..=95) => text.push(char::from(value + 32)),
            // A switch may not follow Shift, which applies to one character only.
            _ if after_shift => return Err(unsupported),
            (Set::A | Set::B, SHIFT) => shifted = true,
            (Set::A | Set::B, CODE_C) => set = Set::C,
            (Set::A, CODE_B) => set = Set::B,
            (Set::B, CODE_A) => set = Set::A,
            // FNC1 to FNC4, and start codes out of place.
            _ => return Err(unsupported),
        }
    }
    if shifted {
        return Err(Error::Unsupported { position: with_start.len() - 1, value: SHIFT });
    }
    if text.is_empty() {
        return Err(Error::NoData);
    }
    Ok(text)
}

/// The symbol values for `text`: the start code and the data, without the checksum.
fn symbol_values(text: &str) -> Result<Vec<u8>, Error> {
    if text.is_empty() {
        return Err(Error::Empty);
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(Error::TooLong { chars, max: MAX_TEXT_CHARS });
    }
    if let Some((index, ch)) = text.chars().enumerate().find(|(_, c)| !(' '..='~').contains(c)) {
        return Err(Error::Unencodable { index, ch });
    }
    // All printable ASCII from here on: one byte per character.
    let bytes = text.as_bytes();
    let digits_from = |at: usize| bytes[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let leading = digits_from(0);
    let mut set = if leading >= 4 || (leading == bytes.len() && leading.is_multiple_of(2)) { Set::C } else { Set::B };
    let mut values = Vec::with_capacity(bytes.len() + 4);
    values.push(if set == Set::C { START_C } else { START_B });
    let mut at = 0;
    while at < bytes.len() {
        if set == Set::C {
            if digits_from(at) >= 2 {
                values.push((bytes[at] - b'0') * 10 + (bytes[at + 1] - b'0'));
                at += 2;
            } else {
                values.push(CODE_B);
                set = Set::B;
            }
            continue;
        }
        let run = digits_from(at);
        if run >= 6 || (run >= 4 && at + run == bytes.len()) {
            // An odd run keeps its first digit in set B, so set C ends with the run.
            if !run.is_multiple_of(2) {
                values.push(bytes[at] - b' ');
                at += 1;
            }
            values.push(CODE_C);
            set = Set::C;
        } else {
            values.push(bytes[at] - b' ');
            at += 1;
        }
    }
    Ok(values)
}

/// The checksum of a start code followed by data: the start value plus each data
/// value times its position, modulo 103.
fn checksum(values: &[u8]) -> u8 {
    let sum: usize = values.iter().enumerate().map(|(position, &value)| position.max(1) * usize::from(value)).sum();
    // The remainder is below 103, so it fits a byte.
    (sum % 103) as u8
}

/// The six element widths of a symbol value (0 to 105).
fn pattern(value: u8) -> [u8; 6] {
    PATTERNS[usize::from(value)].map(|digit| digit - b'0')
}

/// The symbol value whose pattern is `elements`, if any.
fn symbol_of(elements: &[u8]) -> Option<u8> {
    (0..=START_C).find(|&value| pattern(value) == elements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The widths of a symbol built from explicit values (start code and data),
    /// with the checksum and the stop added.
    fn widths_of(values: &[u8]) -> Vec<u8> {
        let mut widths: Vec<u8> = values.iter().flat_map(|&v| pattern(v)).collect();
        widths.extend(pattern(checksum(values)));
        widths.extend(STOP);
        widths
    }

    #[test]
    fn the_pattern_table_is_well_formed() {
        for value in 0..=START_C {
            let p = pattern(value);
            assert_eq!(p.iter().map(|&w| u32::from(w)).sum::<u32>(), 11, "symbol {value}");
            // Code 128's parity: the bars of every symbol cover an even number of modules.
            assert_eq!((p[0] + p[2] + p[4]) % 2, 0, "symbol {value}");
            assert_eq!(symbol_of(&p), Some(value), "symbol {value} is not unique");
        }
        assert_eq!(STOP.iter().map(|&w| u32::from(w)).sum::<u32>(), 13);
    }

    #[test]
    fn one_letter_in_set_b() {
        // Start B (104), 'A' (33), checksum (104 + 1 * 33) % 103 = 34, stop.
        let expected: Vec<u8> =
            [&[2, 1, 1, 2, 1, 4][..], &[1, 1, 1, 3, 2, 3], &[1, 3, 1, 1, 2, 3], &[2, 3, 3, 1, 1, 1, 2]].concat();
        assert_eq!(encode("A").unwrap(), expected);
        assert_eq!(decode(&expected).unwrap(), "A");
    }

    #[test]
    fn digits_use_set_c() {
        // Start C (105), 12, 34, checksum (105 + 1 * 12 + 2 * 34) % 103 = 82, stop.
        let widths = encode("1234").unwrap();
        assert_eq!(widths, widths_of(&[START_C, 12, 34]));
        assert_eq!(checksum(&[START_C, 12, 34]), 82);
        assert_eq!(decode(&widths).unwrap(), "1234");

        // Trailing run of 6 digits: B for the letters, then C.
        let widths = encode("AB123456").unwrap();
        assert_eq!(widths, widths_of(&[START_B, 33, 34, CODE_C, 12, 34, 56]));
        assert_eq!(decode(&widths).unwrap(), "AB123456");

        // Odd leading run: C for the pairs, B for the last digit and the rest.
        let widths = encode("12345X").unwrap();
        assert_eq!(widths, widths_of(&[START_C, 12, 34, CODE_B, 21, 56]));
        assert_eq!(decode(&widths).unwrap(), "12345X");

        // Odd run of 7 in the middle: one digit in B, then six in C, then back to B.
        let widths = encode("A1234567B").unwrap();
        assert_eq!(widths, widths_of(&[START_B, 33, 17, CODE_C, 23, 45, 67, CODE_B, 34]));
        assert_eq!(decode(&widths).unwrap(), "A1234567B");

        // A short run in the middle stays in B: switching would not save anything.
        assert_eq!(encode("A1234B").unwrap().len(), (6 + 2) * 6 + 7);
    }

    #[test]
    fn a_typical_rma_is_set_b_throughout() {
        let rma = "RMA-C01JD3K5M2X7Q4T9A";
        let widths = encode(rma).unwrap();
        assert_eq!(widths.len(), (rma.len() + 2) * 6 + 7);
        assert_eq!(decode(&widths).unwrap(), rma);
    }

    #[test]
    fn text_that_cannot_be_encoded_is_an_error() {
        assert_eq!(encode(""), Err(Error::Empty));
        assert_eq!(encode(&"x".repeat(81)), Err(Error::TooLong { chars: 81, max: 80 }));
        assert!(encode(&"x".repeat(80)).is_ok());
        assert_eq!(encode("Zoë"), Err(Error::Unencodable { index: 2, ch: 'ë' }));
        assert_eq!(encode("a\nb"), Err(Error::Unencodable { index: 1, ch: '\n' }));
        assert_eq!(encode("\u{7f}"), Err(Error::Unencodable { index: 0, ch: '\u{7f}' }));
    }

    #[test]
    fn sets_a_and_shift_decode() {
        // Start A, 'A', Shift, 'a' (read in set B), Code B, 'b', Code A, control char 0x01.
        let widths = widths_of(&[START_A, 33, SHIFT, 65, CODE_B, 66, CODE_A, 65]);
        assert_eq!(decode(&widths).unwrap(), "Aab\u{1}");
    }

    #[test]
    fn malformed_widths_are_errors() {
        let good = encode("AB").unwrap();

        assert_eq!(decode(&[]), Err(Error::Length { len: 0 }));
        assert_eq!(decode(&good[..good.len() - 1]), Err(Error::Length { len: good.len() - 1 }));

        let mut zero = good.clone();
        zero[3] = 0;
        assert_eq!(decode(&zero), Err(Error::Width { index: 3, width: 0 }));

        // Read right to left: the stop pattern is not where it should be.
        let reversed: Vec<u8> = good.iter().rev().copied().collect();
        assert_eq!(decode(&reversed), Err(Error::Stop));

        // A data symbol where the start code should be.
        let no_start = widths_of(&[33, 34]);
        assert_eq!(decode(&no_start), Err(Error::Start));

        // 'A' replaced by 'C': every pattern is valid, the checksum is not.
        let mut swapped = good.clone();
        swapped[6..12].copy_from_slice(&pattern(35));
        assert!(matches!(decode(&swapped), Err(Error::Checksum { .. })));

        // Start code and checksum only.
        assert_eq!(decode(&widths_of(&[START_B])), Err(Error::Length { len: 19 }));
        assert_eq!(decode(&widths_of(&[START_B, CODE_C])), Err(Error::NoData));

        // FNC1 (GS1-128) and a start code in the data are not supported.
        assert_eq!(decode(&widths_of(&[START_C, 102, 12])), Err(Error::Unsupported { position: 1, value: 102 }));
        assert_eq!(decode(&widths_of(&[START_B, 33, START_B])), Err(Error::Unsupported { position: 2, value: 104 }));
        // Shift at the end, and Shift followed by a switch.
        assert_eq!(decode(&widths_of(&[START_B, 33, SHIFT])), Err(Error::Unsupported { position: 2, value: SHIFT }));
        assert_eq!(
            decode(&widths_of(&[START_B, 33, SHIFT, CODE_C, 12])),
            Err(Error::Unsupported { position: 3, value: CODE_C })
        );
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(text in "[ -~]{1,80}") {
            let widths = encode(&text).unwrap();
            prop_assert_eq!(decode(&widths).unwrap(), text);
        }

        #[test]
        fn decode_inverts_encode_on_digit_runs(text in "([0-9]{1,9}|[A-Z -]{1,3}){1,12}") {
            prop_assume!(text.len() <= MAX_TEXT_CHARS);
            let widths = encode(&text).unwrap();
            prop_assert_eq!(decode(&widths).unwrap(), text);
        }

        #[test]
        fn one_changed_width_is_an_error(text in "[ -~]{1,40}", at in any::<prop::sample::Index>(), width in 0u8..=9) {
            let mut widths = encode(&text).unwrap();
            let i = at.index(widths.len());
            prop_assume!(widths[i] != width);
            widths[i] = width;
            prop_assert!(decode(&widths).is_err());
        }

        #[test]
        fn two_swapped_widths_are_an_error(text in "[ -~]{1,40}", at in any::<prop::sample::Index>()) {
            let mut widths = encode(&text).unwrap();
            let i = at.index(widths.len() - 1);
            prop_assume!(widths[i] != widths[i + 1]);
            widths.swap(i, i + 1);
            prop_assert!(decode(&widths).is_err());
        }

        #[test]
        fn dropped_or_added_widths_are_an_error(text in "[ -~]{1,40}", at in any::<prop::sample::Index>(), width in 1u8..=4) {
            let widths = encode(&text).unwrap();
            let i = at.index(widths.len());
            let mut dropped = widths.clone();
            dropped.remove(i);
            prop_assert!(decode(&dropped).is_err());
            let mut added = widths;
            added.insert(i, width);
            prop_assert!(decode(&added).is_err());
        }

        #[test]
        fn arbitrary_widths_never_panic(widths in prop::collection::vec(0u8..=6, 0..200)) {
            let _ = decode(&widths);
        }
    }
}
