//! Text to short messages: the choice of encoding, segment counting and splitting
//! into concatenated parts.
//!
//! * **GSM-7** (`data_coding` 0x00, the SMSC default alphabet of 3GPP TS 23.038)
//!   when every character is in the default alphabet or its extension table; an
//!   extension character (`€ [ ] { } ^ ~ \ |` and form feed) is sent as the escape
//!   0x1B followed by its code, so it counts two septets. Septets travel unpacked,
//!   one per octet, as SMPP's default alphabet does; the SMSC packs them for the air.
//!   One message holds 160 septets; a concatenated part 153 (the UDH takes the rest).
//! * **UCS-2** (`data_coding` 0x08, UTF-16BE) otherwise, e.g. for Chinese. One
//!   message holds 70 UTF-16 code units; a part 67. A character outside the BMP is a
//!   surrogate pair (two units) and is never split across parts.
//!
//! Long texts become parts that each start with a 6-octet user data header: UDHL 5,
//! IE 0x00 (concatenation, 8-bit reference), length 3, the reference, the total and
//! the part's number from 1. Parts carry `esm_class` 0x40 (UDHI). The reference comes
//! from the idempotency key ([`reference_for`]), so a retried message reuses it and
//! a handset can still join parts from both attempts.

/// A short message's alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The GSM 7-bit default alphabet (with its extension table).
    Gsm7,
    /// UCS-2 / UTF-16BE.
    Ucs2,
}

impl Encoding {
    /// `gsm7` or `ucs2`, as in [`lineout_app::ports::SmsSubmitted::encoding`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ucs2 => "ucs2",
        }
    }
    /// The SMPP `data_coding` value.
    pub fn data_coding(self) -> u8 {
        match self {
            Self::Gsm7 => DATA_CODING_GSM7,
            Self::Ucs2 => DATA_CODING_UCS2,
        }
    }
    /// Units (septets or UTF-16 code units) in a single, unsplit message.
    pub fn single_capacity(self) -> usize {
        match self {
            Self::Gsm7 => GSM7_SINGLE,
            Self::Ucs2 => UCS2_SINGLE,
        }
    }
    /// Units in each part of a concatenated message.
    pub fn part_capacity(self) -> usize {
        match self {
            Self::Gsm7 => GSM7_PART,
            Self::Ucs2 => UCS2_PART,
        }
    }
}

/// `data_coding` of the SMSC default alphabet (GSM-7 here).
pub const DATA_CODING_GSM7: u8 = 0x00;
/// `data_coding` of UCS-2.
pub const DATA_CODING_UCS2: u8 = 0x08;
/// Septets in one GSM-7 message.
pub const GSM7_SINGLE: usize = 160;
/// Septets in each part of a concatenated GSM-7 message.
pub const GSM7_PART: usize = 153;
/// UTF-16 code units in one UCS-2 message.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 code units in each part of a concatenated UCS-2 message.
pub const UCS2_PART: usize = 67;
/// `esm_class` bit: the short message starts with a user data header.
pub const ESM_CLASS_UDHI: u8 = 0x40;
/// The most parts a concatenated message can have (the total is one octet).
pub const MAX_PARTS: usize = 255;
/// The GSM-7 escape to the extension table.
pub const GSM7_ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet (0x1B, the escape, maps to NUL and is never used).
const GSM7_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\0', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (character, code after the escape).
const GSM7_EXTENSION: [(char, u8); 10] = [
    ('\u{0C}', 0x0A),
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

/// The GSM-7 septets of one character: one from the default alphabet, or the escape
/// and an extension code; `None` if GSM-7 cannot carry it.
pub fn gsm7_char(c: char) -> Option<&'static [u8]> {
    /// Every septet value, to borrow single-septet slices from.
    const SEPTETS: [u8; 128] = {
        let mut t = [0u8; 128];
        let mut i = 0;
        while i < 128 {
            t[i] = i as u8;
            i += 1;
        }
        t
    };
    /// Escape + code pairs, in the order of [`GSM7_EXTENSION`].
    const ESCAPED: [[u8; 2]; 10] = {
        let mut t = [[0u8; 2]; 10];
        let mut i = 0;
        while i < 10 {
            t[i] = [GSM7_ESCAPE, GSM7_EXTENSION[i].1];
            i += 1;
        }
        t
    };
    if c != '\0'
        && let Some(i) = GSM7_BASIC.iter().position(|&b| b == c)
    {
        return Some(&SEPTETS[i..=i]);
    }
    GSM7_EXTENSION.iter().position(|&(e, _)| e == c).map(|i| ESCAPED[i].as_slice())
}

/// Septets the text takes in GSM-7 (extension characters count two), or `None` if
/// some character needs UCS-2.
pub fn gsm7_septets(text: &str) -> Option<usize> {
    text.chars().try_fold(0usize, |n, c| Some(n + gsm7_char(c)?.len()))
}

/// The encoding the text will be sent in: GSM-7 when every character allows, else UCS-2.
pub fn encoding_for(text: &str) -> Encoding {
    if text.chars().all(|c| gsm7_char(c).is_some()) { Encoding::Gsm7 } else { Encoding::Ucs2 }
}

/// The text in unpacked GSM-7 septets (one per octet), if GSM-7 can carry it.
pub fn encode_gsm7(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        out.extend_from_slice(gsm7_char(c)?);
    }
    Some(out)
}

/// Unpacked GSM-7 septets back to text (an unknown escape code reads as a space,
/// as TS 23.038 asks); for tests and logs of one's own messages.
pub fn decode_gsm7(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut it = septets.iter();
    while let Some(&s) = it.next() {
        if s == GSM7_ESCAPE {
            match it.next() {
                Some(&code) => out.push(GSM7_EXTENSION.iter().find(|&&(_, x)| x == code).map_or(' ', |&(c, _)| c)),
                None => out.push(' '),
            }
        } else {
            out.push(GSM7_BASIC.get(usize::from(s)).copied().unwrap_or('?'));
        }
    }
    out
}

/// The text in UTF-16BE.
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// How a text will go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text.
    pub units: usize,
    /// Messages it takes: 1 when it fits in one, else the number of concatenated parts.
    pub segments: usize,
}

/// The encoding and segment count of a text, without building the parts.
pub fn plan(text: &str) -> Plan {
    let encoding = encoding_for(text);
    let (units, segments) = chunk_ranges(text, encoding);
    Plan { encoding, units, segments: segments.len().max(1) }
}

/// One character's encoded units: GSM-7 septets, or UTF-16BE bytes (2 per code unit).
fn char_bytes(c: char, encoding: Encoding, buf: &mut [u8; 4]) -> &[u8] {
    match encoding {
        Encoding::Gsm7 => gsm7_char(c).unwrap_or(&[0x3F]), // '?' never happens: encoding_for checked
        Encoding::Ucs2 => {
            let mut units = [0u16; 2];
            let n = c.encode_utf16(&mut units).len();
            for (i, u) in units[..n].iter().enumerate() {
                buf[2 * i..2 * i + 2].copy_from_slice(&u.to_be_bytes());
            }
            &buf[..2 * n]
        }
    }
}

/// Units of one character: septets for GSM-7, code units for UCS-2.
fn char_units(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm7_char(c).map_or(1, <[u8]>::len),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// Total units, and the byte ranges of `text` each segment covers (one range for a
/// text that fits in one message). Parts are filled greedily with whole characters,
/// so neither an escape pair nor a surrogate pair is ever split.
fn chunk_ranges(text: &str, encoding: Encoding) -> (usize, Vec<std::ops::Range<usize>>) {
    let total: usize = text.chars().map(|c| char_units(c, encoding)).sum();
    if total <= encoding.single_capacity() {
        return (total, std::iter::once(0..text.len()).collect());
    }
    let cap = encoding.part_capacity();
    let mut ranges = Vec::new();
    let (mut start, mut used) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        let n = char_units(c, encoding);
        if used + n > cap {
            ranges.push(start..i);
            start = i;
            used = 0;
        }
        used += n;
    }
    ranges.push(start..text.len());
    (total, ranges)
}

/// One short message ready for `submit_sm`.
#[derive(Clone, PartialEq, Eq)]
pub struct Part {
    pub esm_class: u8,
    pub data_coding: u8,
    /// The UDH (for a concatenated part) followed by the encoded text.
    pub short_message: Vec<u8>,
}

impl std::fmt::Debug for Part {
    /// The text is personal data: only sizes are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("esm_class", &self.esm_class)
            .field("data_coding", &self.data_coding)
            .field("len", &self.short_message.len())
            .finish()
    }
}

/// A text split into short messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub encoding: Encoding,
    pub parts: Vec<Part>,
}

/// Why a text cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("the text needs {segments} parts, more than the limit of {max}")]
    TooManyParts { segments: usize, max: usize },
}

/// The 6-octet UDH of part `seq` (from 1) of `total`, with an 8-bit reference.
pub fn concat_udh(reference: u8, total: u8, seq: u8) -> [u8; 6] {
    [0x05, 0x00, 0x03, reference, total, seq]
}

/// Splits a text into parts (at most `max_parts`, itself at most 255).
pub fn split(text: &str, reference: u8, max_parts: usize) -> Result<Encoded, SplitError> {
    let encoding = encoding_for(text);
    let (_, ranges) = chunk_ranges(text, encoding);
    let max = max_parts.clamp(1, MAX_PARTS);
    if ranges.len() > max {
        return Err(SplitError::TooManyParts { segments: ranges.len(), max });
    }
    let total = u8::try_from(ranges.len()).map_err(|_| SplitError::TooManyParts { segments: ranges.len(), max })?;
    let mut buf = [0u8; 4];
    let parts = ranges
        .iter()
        .enumerate()
        .map(|(i, range)| {
            let mut short_message = Vec::with_capacity(160);
            let mut esm_class = 0;
            if total > 1 {
                // i < total <= 255, so the part number fits.
                let seq = u8::try_from(i + 1).unwrap_or(u8::MAX);
                short_message.extend_from_slice(&concat_udh(reference, total, seq));
                esm_class = ESM_CLASS_UDHI;
            }
            for c in text[range.clone()].chars() {
                short_message.extend_from_slice(char_bytes(c, encoding, &mut buf));
            }
            Part { esm_class, data_coding: encoding.data_coding(), short_message }
        })
        .collect();
    Ok(Encoded { encoding, parts })
}

/// The concatenation reference for an idempotency key: stable across retries and
/// processes (FNV-1a, folded to one octet).
pub fn reference_for(idempotency_key: &str) -> u8 {
    let mut h: u32 = 0x811C_9DC5;
    for b in idempotency_key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let [a, b, c, d] = h.to_be_bytes();
    a ^ b ^ c ^ d
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The text back from the parts (UDH removed), to check nothing was lost.
    fn rejoin(e: &Encoded) -> String {
        let mut units = Vec::new();
        for p in &e.parts {
            let body = if p.esm_class & ESM_CLASS_UDHI != 0 { &p.short_message[6..] } else { &p.short_message[..] };
            units.extend_from_slice(body);
        }
        match e.encoding {
            Encoding::Gsm7 => decode_gsm7(&units),
            Encoding::Ucs2 => {
                let u16s: Vec<u16> = units.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                String::from_utf16(&u16s).unwrap()
            }
        }
    }

    #[test]
    fn plain_english_is_one_gsm7_message() {
        let p = plan("Your line 555-0100 will be cancelled on 2025-07-01. Reply STOP to opt out.");
        assert_eq!(p.encoding, Encoding::Gsm7);
        assert_eq!(p.segments, 1);
        let e = split("Hello @ £5", 0, 10).unwrap();
        assert_eq!(e.parts.len(), 1);
        assert_eq!(e.parts[0].esm_class, 0);
        assert_eq!(e.parts[0].data_coding, 0x00);
        assert_eq!(e.parts[0].short_message, vec![0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x20, 0x00, 0x20, 0x01, 0x35]);
    }

    #[test]
    fn extension_characters_take_two_septets() {
        assert_eq!(gsm7_septets("€"), Some(2));
        assert_eq!(gsm7_septets("[a]{b}^~\\|\u{0C}"), Some(2 * 9 + 2));
        assert_eq!(encode_gsm7("€"), Some(vec![0x1B, 0x65]));
        assert_eq!(gsm7_septets("$¤"), Some(2));
        assert_eq!(gsm7_septets("中"), None);
        assert_eq!(gsm7_septets("`"), None, "the backtick is not in the GSM alphabet");
        assert_eq!(gsm7_septets("\0"), None);
        // 80 euro signs are exactly 160 septets: one message; one more needs parts.
        assert_eq!(plan(&"€".repeat(80)).segments, 1);
        assert_eq!(plan(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn gsm7_limits_are_160_then_153() {
        assert_eq!(plan(&"a".repeat(160)).segments, 1);
        assert_eq!(plan(&"a".repeat(161)).segments, 2);
        assert_eq!(plan(&"a".repeat(306)).segments, 2);
        assert_eq!(plan(&"a".repeat(307)).segments, 3);
        assert_eq!(plan("").segments, 1);
    }

    #[test]
    fn an_escape_pair_is_never_split() {
        // 152 septets, then a euro sign: it cannot straddle parts, so part 1 holds 152.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let e = split(&text, 7, 10).unwrap();
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.parts[0].short_message.len(), 6 + 152);
        assert_eq!(&e.parts[1].short_message[6..8], &[0x1B, 0x65]);
        assert_eq!(rejoin(&e), text);
    }

    #[test]
    fn chinese_is_ucs2_with_70_then_67() {
        let p = plan("您的号码将于明天注销。");
        assert_eq!((p.encoding, p.segments, p.units), (Encoding::Ucs2, 1, 11));
        assert_eq!(plan(&"中".repeat(70)).segments, 1);
        assert_eq!(plan(&"中".repeat(71)).segments, 2);
        assert_eq!(plan(&"中".repeat(134)).segments, 2);
        assert_eq!(plan(&"中".repeat(135)).segments, 3);
        let e = split("中a", 0, 10).unwrap();
        assert_eq!(e.parts[0].data_coding, 0x08);
        assert_eq!(e.parts[0].short_message, vec![0x4E, 0x2D, 0x00, 0x61]);
    }

    #[test]
    fn one_non_gsm_character_switches_the_whole_text_to_ucs2() {
        assert_eq!(plan("Hello 😀").encoding, Encoding::Ucs2);
        assert_eq!(plan("Hello 😀").units, 8);
    }

    #[test]
    fn a_surrogate_pair_is_never_split() {
        // 66 units then an emoji (2 units): the emoji moves to part 2.
        let text = format!("{}😀{}", "中".repeat(66), "中".repeat(10));
        let e = split(&text, 1, 10).unwrap();
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.parts[0].short_message.len(), 6 + 66 * 2);
        assert_eq!(&e.parts[1].short_message[6..10], &[0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(rejoin(&e), text);
    }

    #[test]
    fn concatenated_parts_carry_a_consistent_udh() {
        let e = split(&"x".repeat(400), 0xAB, 10).unwrap();
        assert_eq!(e.parts.len(), 3);
        for (i, p) in e.parts.iter().enumerate() {
            assert_eq!(p.esm_class, 0x40);
            assert_eq!(&p.short_message[..6], &[5, 0, 3, 0xAB, 3, u8::try_from(i + 1).unwrap()]);
        }
        assert_eq!(split(&"x".repeat(400), 0, 2), Err(SplitError::TooManyParts { segments: 3, max: 2 }));
    }

    #[test]
    fn the_reference_is_stable() {
        assert_eq!(reference_for("C01.3.0"), reference_for("C01.3.0"));
        let refs: std::collections::HashSet<u8> = (0..50).map(|i| reference_for(&format!("C01.{i}.0"))).collect();
        assert!(refs.len() > 30, "references spread: {}", refs.len());
    }

    fn gsm_text() -> impl Strategy<Value = String> {
        let chars: Vec<char> =
            GSM7_BASIC.iter().copied().filter(|&c| c != '\0').chain(GSM7_EXTENSION.iter().map(|&(c, _)| c)).collect();
        proptest::collection::vec(proptest::sample::select(chars), 0..700).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn gsm_texts_stay_gsm7_and_split_losslessly(text in gsm_text(), reference in any::<u8>()) {
            let p = plan(&text);
            prop_assert_eq!(p.encoding, Encoding::Gsm7);
            let septets = gsm7_septets(&text).unwrap();
            prop_assert_eq!(p.units, septets);
            let ext = text.chars().filter(|c| GSM7_EXTENSION.iter().any(|&(e, _)| e == *c)).count();
            prop_assert_eq!(septets, text.chars().count() + ext);
            let e = split(&text, reference, 255).unwrap();
            prop_assert_eq!(e.parts.len(), p.segments);
            if septets <= 160 {
                prop_assert_eq!(p.segments, 1);
            } else {
                prop_assert!(p.segments >= septets.div_ceil(153));
                prop_assert!(p.segments <= septets.div_ceil(152));
            }
            for p in &e.parts {
                let body_len = if e.parts.len() > 1 { p.short_message.len() - 6 } else { p.short_message.len() };
                let cap = if e.parts.len() > 1 { 153 } else { 160 };
                prop_assert!(body_len <= cap);
                // No part ends with a lone escape.
                let body = &p.short_message[if e.parts.len() > 1 { 6 } else { 0 }..];
                let mut i = 0;
                while i < body.len() {
                    i += if body[i] == GSM7_ESCAPE { 2 } else { 1 };
                }
                prop_assert_eq!(i, body.len());
            }
            prop_assert_eq!(rejoin(&e), text);
        }

        #[test]
        fn any_text_splits_losslessly_within_limits(text in "\\PC{0,400}", reference in any::<u8>()) {
            let p = plan(&text);
            let e = split(&text, reference, 255).unwrap();
            prop_assert_eq!(e.encoding, p.encoding);
            prop_assert_eq!(e.parts.len(), p.segments);
            prop_assert_eq!(e.encoding == Encoding::Gsm7, gsm7_septets(&text).is_some());
            let total = e.parts.len();
            for (i, part) in e.parts.iter().enumerate() {
                prop_assert_eq!(part.data_coding, e.encoding.data_coding());
                if total > 1 {
                    prop_assert_eq!(&part.short_message[..6], &[5, 0, 3, reference, total as u8, (i + 1) as u8][..]);
                    prop_assert_eq!(part.esm_class, ESM_CLASS_UDHI);
                }
                let body = part.short_message.len() - if total > 1 { 6 } else { 0 };
                let cap = match (e.encoding, total > 1) {
                    (Encoding::Gsm7, false) => 160,
                    (Encoding::Gsm7, true) => 153,
                    (Encoding::Ucs2, false) => 140,
                    (Encoding::Ucs2, true) => 134,
                };
                prop_assert!(body <= cap);
                prop_assert!(part.short_message.len() <= 160);
            }
            prop_assert_eq!(rejoin(&e), text);
        }

        #[test]
        fn ucs2_parts_end_on_whole_characters(text in "[中😀a]{0,300}") {
            let e = split(&text, 0, 255).unwrap();
            if e.encoding == Encoding::Ucs2 {
                for part in &e.parts {
                    let body = &part.short_message[if e.parts.len() > 1 { 6 } else { 0 }..];
                    let units: Vec<u16> = body.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                    prop_assert!(String::from_utf16(&units).is_ok(), "a part split a surrogate pair");
                }
            }
        }
    }
}
