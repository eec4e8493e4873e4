//! TrueType fonts embedded in a PDF, for text the standard fonts cannot show
//! (Chinese): reading a font given as bytes (face 0 of a TTC collection) with
//! `ttf-parser`, checking its glyph tables once so that nothing can fail later, and
//! writing the subset a document needs — only the glyphs it shows, renumbered from
//! 1 — as a TrueType file for `/FontFile2`.
//!
//! Only TrueType outlines (a `glyf` table) are read: a PDF 1.4 CIDFontType2 font
//! embeds them as they are. Fonts with PostScript outlines (CFF, such as Noto Sans
//! CJK) are refused with [`FontError::CffOutlines`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ttf_parser::{Face, GlyphId, Tag};

/// Why font bytes cannot be embedded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FontError {
    #[error("not a TrueType or OpenType font: {0}")]
    Parse(String),
    #[error(
        "the font has PostScript (CFF) outlines; only TrueType outlines (a glyf table) can be embedded, e.g. WenQuanYi Micro Hei (fonts-wqy-microhei)"
    )]
    CffOutlines,
    #[error("the font has no `{0}` table")]
    MissingTable(&'static str),
    #[error("the font has no Unicode character map")]
    NoUnicodeCmap,
    #[error("the font's `{0}` table is malformed")]
    Malformed(&'static str),
}

/// A TrueType font to embed, parsed from bytes the caller loaded. Only the glyphs
/// a document shows are embedded (see [`crate::pdf::Document::with_font`]).
pub struct EmbeddedFont<'a> {
    data: &'a [u8],
    face: Face<'a>,
    glyf: &'a [u8],
    /// Where each glyph starts in `glyf`, and where the last one ends.
    loca: Vec<u32>,
    head: &'a [u8],
    hhea: &'a [u8],
    maxp: &'a [u8],
    /// The hinting tables, copied as they are when the font has them.
    hinting: Vec<(Tag, &'a [u8])>,
    name: String,
    /// The glyph shown for a character the font does not have: `?`, else .notdef.
    fallback: u16,
}

/// The number of glyphs a composite glyph may be made of (deeply nested composites
/// are counted whole): more is taken for a malformed font.
const MAX_COMPONENTS: usize = 64;

impl<'a> EmbeddedFont<'a> {
    /// Reads a TrueType font (`.ttf`), or the first face of a collection (`.ttc`).
    /// Every glyph is checked here, so subsetting later cannot fail.
    pub fn parse(data: &'a [u8]) -> Result<EmbeddedFont<'a>, FontError> {
        let face = Face::parse(data, 0).map_err(|e| FontError::Parse(e.to_string()))?;
        let raw = face.raw_face();
        let table = |tag: &'static [u8; 4], name: &'static str| {
            raw.table(Tag::from_bytes(tag)).ok_or(FontError::MissingTable(name))
        };
        if raw.table(Tag::from_bytes(b"glyf")).is_none() && raw.table(Tag::from_bytes(b"CFF ")).is_some() {
            return Err(FontError::CffOutlines);
        }
        let glyf = table(b"glyf", "glyf")?;
        let loca_table = table(b"loca", "loca")?;
        let head = table(b"head", "head")?;
        let hhea = table(b"hhea", "hhea")?;
        let maxp = table(b"maxp", "maxp")?;
        table(b"hmtx", "hmtx")?;
        if head.len() < 54 {
            return Err(FontError::Malformed("head"));
        }
        if hhea.len() < 36 {
            return Err(FontError::Malformed("hhea"));
        }
        let glyphs = usize::from(u16_at(maxp, 4).ok_or(FontError::Malformed("maxp"))?);
        if glyphs == 0 {
            return Err(FontError::Malformed("maxp"));
        }
        let long = match u16_at(head, 50) {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(FontError::Malformed("head")),
        };
        let loca: Vec<u32> = (0..=glyphs)
            .map(|index| {
                if long {
                    u32_at(loca_table, index * 4)
                } else {
                    u16_at(loca_table, index * 2).map(|half| u32::from(half) * 2)
                }
            })
            .collect::<Option<_>>()
            .ok_or(FontError::Malformed("loca"))?;
        let sound = loca.windows(2).all(|pair| pair[0] <= pair[1])
            && loca.last().is_some_and(|&end| end as usize <= glyf.len());
        if !sound {
            return Err(FontError::Malformed("loca"));
        }
        for index in 0..glyphs {
            let glyph = &glyf[loca[index] as usize..loca[index + 1] as usize];
            if glyph.is_empty() {
                continue;
            }
            let contours = u16_at(glyph, 0).filter(|_| glyph.len() >= 10).ok_or(FontError::Malformed("glyf"))?;
            if contours & 0x8000 != 0 {
                let parts = components(glyph).ok_or(FontError::Malformed("glyf"))?;
                if parts.len() > MAX_COMPONENTS || parts.iter().any(|&(_, id)| usize::from(id) >= glyphs) {
                    return Err(FontError::Malformed("glyf"));
                }
            }
        }
        let has_unicode =
            face.tables().cmap.is_some_and(|cmap| cmap.subtables.into_iter().any(|subtable| subtable.is_unicode()));
        if !has_unicode {
            return Err(FontError::NoUnicodeCmap);
        }
        let hinting = [b"cvt ", b"fpgm", b"prep"]
            .into_iter()
            .filter_map(|tag| raw.table(Tag::from_bytes(tag)).map(|data| (Tag::from_bytes(tag), data)))
            .collect();
        let name = face
            .names()
            .into_iter()
            .filter(|name| name.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|name| name.to_string())
            .map(|name| name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(60).collect::<String>())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "EmbeddedFont".to_owned());
        let fallback = face.glyph_index('?').map_or(0, |id| id.0);
        Ok(EmbeddedFont { data, face, glyf, loca, head, hhea, maxp, hinting, name, fallback })
    }

    /// The font's PostScript name (letters, digits and `-` only).
    pub fn postscript_name(&self) -> &str {
        &self.name
    }

    /// Whether the font has a glyph for `c`.
    pub fn has_glyph(&self, c: char) -> bool {
        self.face.glyph_index(c).is_some_and(|id| id.0 != 0)
    }

    /// How wide `text` is when shown in this font at `size_pt`, in points, as
    /// [`crate::pdf::Page::embedded_text`] shows it.
    pub fn text_width_pt(&self, size_pt: f64, text: &str) -> f64 {
        let units: u32 = text.chars().map(|c| u32::from(self.advance(self.shown(c).0))).sum();
        f64::from(units) * size_pt / f64::from(self.face.units_per_em())
    }

    /// The glyph that shows `c`, and the character it really shows: line breaks and
    /// tabs are shown as spaces, characters the font lacks as `?`.
    pub(crate) fn shown(&self, c: char) -> (u16, char) {
        let c = if matches!(c, '\t' | '\n' | '\r') { ' ' } else { c };
        match self.face.glyph_index(c) {
            Some(id) if id.0 != 0 && !c.is_control() => (id.0, c),
            _ => (self.fallback, '?'),
        }
    }

    fn advance(&self, glyph: u16) -> u16 {
        self.face.glyph_hor_advance(GlyphId(glyph)).unwrap_or(0)
    }

    /// `value` in font units as thousandths of the em, as PDF font metrics are given.
    pub(crate) fn to_thousandths(&self, value: i32) -> i64 {
        let units_per_em = i64::from(self.face.units_per_em().max(1));
        (i64::from(value) * 1000).div_euclid(units_per_em)
    }

    /// The font's metrics for its descriptor, in thousandths of the em: bounding box,
    /// ascent, descent and cap height.
    pub(crate) fn metrics(&self) -> FontMetrics {
        let bbox = self.face.global_bounding_box();
        let ascent = self.to_thousandths(i32::from(self.face.ascender()));
        FontMetrics {
            bbox: [bbox.x_min, bbox.y_min, bbox.x_max, bbox.y_max].map(|v| self.to_thousandths(i32::from(v))),
            ascent,
            descent: self.to_thousandths(i32::from(self.face.descender())),
            cap_height: self.face.capital_height().map_or(ascent, |h| self.to_thousandths(i32::from(h))),
        }
    }

    /// The glyphs `glyphs` (ids in this font; out-of-range ids are ignored), the
    /// glyphs the composite ones are made of and .notdef, as a TrueType file whose
    /// glyphs are numbered 0, 1, 2… in the order of their old ids.
    pub(crate) fn subset(&self, glyphs: &BTreeSet<u16>) -> Subset {
        let count = self.loca.len() - 1;
        let mut kept: BTreeSet<u16> = BTreeSet::from([0]);
        let mut pending: Vec<u16> = glyphs.iter().copied().filter(|&id| usize::from(id) < count).collect();
        while let Some(id) = pending.pop() {
            if kept.insert(id) {
                let parts = components(self.glyph(id)).unwrap_or_default();
                pending.extend(parts.into_iter().map(|(_, part)| part).filter(|part| !kept.contains(part)));
            }
        }
        let ids: BTreeMap<u16, u16> = kept.iter().zip(0u16..).map(|(&old, new)| (old, new)).collect();

        let mut glyf = Vec::new();
        let mut loca = Vec::with_capacity(4 * (ids.len() + 1));
        let mut hmtx = Vec::with_capacity(4 * ids.len());
        let mut widths = Vec::with_capacity(ids.len());
        for &old in ids.keys() {
            loca.extend(u32::try_from(glyf.len()).unwrap_or(u32::MAX).to_be_bytes());
            let start = glyf.len();
            glyf.extend(self.glyph(old));
            // Composite glyphs name their parts by id: renumber them.
            for (at, part) in components(self.glyph(old)).unwrap_or_default() {
                let new = ids.get(&part).copied().unwrap_or(0);
                glyf[start + at..start + at + 2].copy_from_slice(&new.to_be_bytes());
            }
            glyf.resize(glyf.len().next_multiple_of(4), 0);
            let advance = self.advance(old);
            hmtx.extend(advance.to_be_bytes());
            hmtx.extend(self.face.glyph_hor_side_bearing(GlyphId(old)).unwrap_or(0).to_be_bytes());
            widths.push(self.to_thousandths(i32::from(advance)));
        }
        loca.extend(u32::try_from(glyf.len()).unwrap_or(u32::MAX).to_be_bytes());
        // At most 65 536 glyphs, since the ids are u16.
        let number = u16::try_from(ids.len()).unwrap_or(u16::MAX);

        let mut head = self.head.to_vec();
        head[8..12].fill(0);
        head[50..52].copy_from_slice(&1u16.to_be_bytes());
        let mut hhea = self.hhea.to_vec();
        hhea[34..36].copy_from_slice(&number.to_be_bytes());
        let mut maxp = self.maxp.to_vec();
        maxp[4..6].copy_from_slice(&number.to_be_bytes());

        let mut tables: Vec<(Tag, Vec<u8>)> = vec![
            (Tag::from_bytes(b"glyf"), glyf),
            (Tag::from_bytes(b"head"), head),
            (Tag::from_bytes(b"hhea"), hhea),
            (Tag::from_bytes(b"hmtx"), hmtx),
            (Tag::from_bytes(b"loca"), loca),
            (Tag::from_bytes(b"maxp"), maxp),
        ];
        tables.extend(self.hinting.iter().map(|(tag, data)| (*tag, data.to_vec())));
        tables.sort_by_key(|(tag, _)| tag.to_bytes());
        Subset { file: sfnt(&tables), ids, widths }
    }

    /// The outline data of glyph `id` (empty for an id out of range).
    fn glyph(&self, id: u16) -> &'a [u8] {
        let index = usize::from(id);
        match (self.loca.get(index), self.loca.get(index + 1)) {
            (Some(&start), Some(&end)) => self.glyf.get(start as usize..end as usize).unwrap_or_default(),
            _ => &[],
        }
    }
}

impl fmt::Debug for EmbeddedFont<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedFont")
            .field("name", &self.name)
            .field("glyphs", &(self.loca.len() - 1))
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl PartialEq for EmbeddedFont<'_> {
    /// Two fonts are equal when they were read from the same bytes.
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

/// A font's metrics for its PDF font descriptor, in thousandths of the em.
pub(crate) struct FontMetrics {
    pub(crate) bbox: [i64; 4],
    pub(crate) ascent: i64,
    pub(crate) descent: i64,
    pub(crate) cap_height: i64,
}

/// A subset of a font, made by [`EmbeddedFont::subset`].
pub(crate) struct Subset {
    /// The TrueType file.
    pub(crate) file: Vec<u8>,
    /// The new id of each glyph kept, by its id in the whole font.
    pub(crate) ids: BTreeMap<u16, u16>,
    /// The advance width of each glyph of the subset, by new id, in thousandths of
    /// the em.
    pub(crate) widths: Vec<i64>,
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    data.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// For a composite glyph, where each part's glyph id is in the glyph's data, and
/// the id; for a simple or empty glyph, nothing. `None` when the data is cut short.
fn components(glyph: &[u8]) -> Option<Vec<(usize, u16)>> {
    const ARG_1_AND_2_ARE_WORDS: u16 = 0x0001;
    const WE_HAVE_A_SCALE: u16 = 0x0008;
    const MORE_COMPONENTS: u16 = 0x0020;
    const WE_HAVE_AN_X_AND_Y_SCALE: u16 = 0x0040;
    const WE_HAVE_A_TWO_BY_TWO: u16 = 0x0080;
    if glyph.is_empty() || u16_at(glyph, 0)? & 0x8000 == 0 {
        return Some(Vec::new());
    }
    let mut parts = Vec::new();
    let mut at = 10;
    loop {
        let flags = u16_at(glyph, at)?;
        parts.push((at + 2, u16_at(glyph, at + 2)?));
        at += 4;
        at += if flags & ARG_1_AND_2_ARE_WORDS != 0 { 4 } else { 2 };
        if flags & WE_HAVE_A_SCALE != 0 {
            at += 2;
        } else if flags & WE_HAVE_AN_X_AND_Y_SCALE != 0 {
            at += 4;
        } else if flags & WE_HAVE_A_TWO_BY_TWO != 0 {
            at += 8;
        }
        if at > glyph.len() {
            return None;
        }
        // Each part takes at least 6 bytes, so this ends with the glyph's data.
        if flags & MORE_COMPONENTS == 0 {
            return Some(parts);
        }
    }
}

/// A TrueType file of `tables` (sorted by tag): the table directory with each
/// table's checksum, the tables 4-byte aligned, and the whole-file checksum in
/// `head`.
fn sfnt(tables: &[(Tag, Vec<u8>)]) -> Vec<u8> {
    let count = u16::try_from(tables.len()).unwrap_or(u16::MAX);
    let power = (0..16).rev().map(|p| 1u16 << p).find(|&p| p <= count.max(1)).unwrap_or(1);
    let search_range = power * 16;
    let entry_selector = power.trailing_zeros() as u16;
    let mut out = Vec::new();
    out.extend(0x0001_0000u32.to_be_bytes());
    out.extend(count.to_be_bytes());
    out.extend(search_range.to_be_bytes());
    out.extend(entry_selector.to_be_bytes());
    out.extend((count * 16 - search_range).to_be_bytes());
    let mut offset = 12 + 16 * tables.len();
    let mut head_at = None;
    for (tag, data) in tables {
        out.extend(tag.to_bytes());
        out.extend(checksum(data).to_be_bytes());
        out.extend(u32::try_from(offset).unwrap_or(u32::MAX).to_be_bytes());
        out.extend(u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
        if tag.to_bytes() == *b"head" {
            head_at = Some(offset);
        }
        offset += data.len().next_multiple_of(4);
    }
    for (_, data) in tables {
        out.extend(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    if let Some(at) = head_at {
        let adjustment = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        out[at + 8..at + 12].copy_from_slice(&adjustment.to_be_bytes());
    }
    out
}

/// The TrueType checksum: the sum of the data's big-endian 32-bit words, the last
/// one padded with zeros.
fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |sum, chunk| {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        sum.wrapping_add(u32::from_be_bytes(word))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Where Debian's `fonts-wqy-microhei` puts its font (`.ci/run` installs it).
    pub(crate) const WQY: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

    /// The bytes of WenQuanYi Micro Hei, read once per test binary.
    pub(crate) fn wqy() -> &'static [u8] {
        static FONT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        FONT.get_or_init(|| {
            std::fs::read(WQY).unwrap_or_else(|e| panic!("{WQY}: {e} (apt-get install fonts-wqy-microhei)"))
        })
    }

    #[test]
    fn reads_face_0_of_the_collection() {
        let font = EmbeddedFont::parse(wqy()).unwrap();
        assert_eq!(font.postscript_name(), "WenQuanYiMicroHei");
        assert!(font.has_glyph('账') && font.has_glyph('A'));
        assert!(!font.has_glyph('\u{10FFFD}'));
        assert_eq!(font.shown('\n').1, ' ');
        assert_eq!(font.shown('\u{10FFFD}'), font.shown('?'));
        assert!(font.text_width_pt(10.0, "中文") > font.text_width_pt(10.0, "ab"));
        // CJK ideographs are one em wide.
        assert!((font.text_width_pt(10.0, "中") - 10.0).abs() < 0.01);
    }

    #[test]
    fn the_subset_is_a_font_with_the_same_glyphs() {
        let font = EmbeddedFont::parse(wqy()).unwrap();
        let text = "最终账单 Final 18.50";
        let glyphs: BTreeSet<u16> = text.chars().map(|c| font.shown(c).0).collect();
        let subset = font.subset(&glyphs);
        assert!(subset.file.len() < 40_000, "{} bytes", subset.file.len());
        assert_eq!(subset.file, font.subset(&glyphs).file);

        let parsed = Face::parse(&subset.file, 0).unwrap();
        assert_eq!(usize::from(parsed.number_of_glyphs()), subset.ids.len());
        assert_eq!(subset.widths.len(), subset.ids.len());
        for c in text.chars() {
            let old = font.shown(c).0;
            let new = GlyphId(subset.ids[&old]);
            assert_eq!(parsed.glyph_hor_advance(new), font.face.glyph_hor_advance(GlyphId(old)), "{c}");
            assert_eq!(parsed.glyph_bounding_box(new), font.face.glyph_bounding_box(GlyphId(old)), "{c}");
        }
        // The whole-file checksum comes out at the magic number.
        assert_eq!(checksum(&subset.file), 0xB1B0_AFBA);
    }

    #[test]
    fn composite_glyphs_bring_their_parts() {
        let font = EmbeddedFont::parse(wqy()).unwrap();
        let composite = (0..font.loca.len() as u16 - 1)
            .find(|&id| components(font.glyph(id)).is_some_and(|parts| !parts.is_empty()));
        let Some(composite) = composite else { return };
        let parts = components(font.glyph(composite)).unwrap();
        let subset = font.subset(&BTreeSet::from([composite]));
        for (_, part) in &parts {
            assert!(subset.ids.contains_key(part));
        }
        let parsed = Face::parse(&subset.file, 0).unwrap();
        let new = GlyphId(subset.ids[&composite]);
        assert_eq!(parsed.glyph_bounding_box(new), font.face.glyph_bounding_box(GlyphId(composite)));
    }

    #[test]
    fn what_is_not_a_usable_font_is_an_error() {
        assert!(matches!(EmbeddedFont::parse(b"not a font"), Err(FontError::Parse(_))));
        assert!(matches!(EmbeddedFont::parse(&[]), Err(FontError::Parse(_))));
        // Cut short, the tables are out of bounds: an error, never a panic.
        let data = wqy();
        for len in [12, 100, 400, 10_000] {
            assert!(EmbeddedFont::parse(&data[..len]).is_err());
        }
        // A font whose glyf table is replaced by nothing.
        let mut data = data.to_vec();
        let at = data.windows(4).position(|w| w == b"glyf").unwrap();
        data[at..at + 4].copy_from_slice(b"xxxx");
        assert_eq!(EmbeddedFont::parse(&data).err(), Some(FontError::MissingTable("glyf")));
    }

    pub(crate) fn parts(font: &EmbeddedFont<'_>, id: u16) -> Vec<u16> {
        components(font.glyph(id)).unwrap().into_iter().map(|(_, part)| part).collect()
    }

    #[test]
    fn checksums() {
        assert_eq!(checksum(&[0, 0, 0, 1, 0, 0, 0, 2]), 3);
        assert_eq!(checksum(&[1]), 0x0100_0000);
    }
}
