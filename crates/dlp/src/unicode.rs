//! Unicode digits and full-width forms: `４１１１ １１１１ …`, Devanagari
//! `४१११…`, Arabic-Indic digits. Such text is *folded* to ASCII digits
//! (and ASCII separators) before scanning, and every finding's offsets are
//! mapped back to the original text, so a card number typed on a full-width
//! keyboard is found and redacted like any other.
//!
//! Only decimal digits and the separators the detectors use are folded;
//! every other character is kept as it is, so offsets map one to one at
//! character boundaries.

/// Zero of each run of ten decimal digits folded to ASCII (Unicode `Nd`
/// blocks of the scripts a contact centre meets, plus full-width forms).
const ZEROS: &[u32] = &[
    0x0660, // Arabic-Indic
    0x06F0, // Extended Arabic-Indic (Urdu, Persian)
    0x0966, // Devanagari
    0x09E6, // Bengali
    0x0A66, // Gurmukhi
    0x0AE6, // Gujarati
    0x0B66, // Oriya
    0x0BE6, // Tamil
    0x0C66, // Telugu
    0x0CE6, // Kannada
    0x0D66, // Malayalam
    0x0E50, // Thai
    0x1040, // Myanmar
    0xFF10, // Full-width
];

/// The ASCII digit for `c`, if it is a folded decimal digit.
fn digit(c: char) -> Option<u8> {
    let cp = u32::from(c);
    ZEROS.iter().find(|&&z| (z..z + 10).contains(&cp)).map(|&z| b'0' + (cp - z) as u8)
}

/// The ASCII separator for a full-width or typographic one.
fn separator(c: char) -> Option<u8> {
    Some(match c {
        '\u{00A0}' | '\u{2007}' | '\u{2009}' | '\u{202F}' | '\u{3000}' => b' ',
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{FF0D}' => b'-',
        '\u{FF0E}' => b'.',
        '\u{FF0F}' => b'/',
        '\u{FF0B}' => b'+',
        '\u{FF08}' => b'(',
        '\u{FF09}' => b')',
        '\u{FF20}' => b'@',
        _ => return None,
    })
}

/// Whether `text` has a character to fold. ASCII is skipped 256 bytes at
/// a time; only the non-ASCII characters are decoded and looked up.
fn needs_fold(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Whole ASCII stretches at the speed of `is_ascii`.
        if let Some(b) = bytes.get(i..i + 256) {
            if b.is_ascii() {
                i += 256;
                continue;
            }
        }
        if bytes[i] < 0x80 {
            i += 1;
            continue;
        }
        // `i` starts a multi-byte character: `text` is valid UTF-8 and
        // continuation bytes are skipped below.
        let c = text.get(i..).and_then(|rest| rest.chars().next());
        match c {
            Some(c) if digit(c).is_some() || separator(c).is_some() => return true,
            Some(c) => i += c.len_utf8(),
            None => i += 1,
        }
    }
    false
}

/// Text with folded digits and the map back to the original offsets.
pub(crate) struct Folded {
    pub(crate) text: String,
    /// `map[i]` = original offset of folded byte `i`, for every byte that
    /// starts a character, and `map[text.len()]` = original length.
    map: Vec<usize>,
}

impl Folded {
    /// Original offset of folded offset `i` (a char boundary).
    pub(crate) fn original(&self, i: usize) -> usize {
        self.map.get(i).copied().unwrap_or(0)
    }
}

/// Folds `text`, or returns `None` when there is nothing to fold (the
/// common case: pure ASCII is checked at memory speed).
pub(crate) fn fold(text: &str) -> Option<Folded> {
    if !needs_fold(text) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len() + 1);
    for (i, c) in text.char_indices() {
        match digit(c).or_else(|| if c.is_ascii() { None } else { separator(c) }) {
            Some(b) => {
                out.push(char::from(b));
                map.push(i);
            }
            None => {
                out.push(c);
                map.extend(std::iter::repeat_n(i, c.len_utf8()));
            }
        }
    }
    map.push(text.len());
    Some(Folded { text: out, map })
}
