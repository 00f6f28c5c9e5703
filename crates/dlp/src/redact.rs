//! Redaction: replace the spans of [`Finding`]s in text.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::scan::Finding;

/// How a span is replaced.
#[derive(Clone, PartialEq, Eq)]
pub enum Style {
    /// Every letter and digit becomes `*`; separators stay, so the shape of
    /// the value is still visible (`****-****-****-****`).
    Mask,
    /// As [`Style::Mask`] but the last four letters/digits stay
    /// (`****-****-****-1111`), the form support staff are used to.
    KeepLast4,
    /// The span becomes `[KIND:hex16]`, the first 16 hex digits of
    /// HMAC-SHA256(`key`, `"KIND:" + normalised value`). The value is
    /// normalised to its ASCII-uppercased letters and digits, so the same
    /// card written with different separators gives the same token, and
    /// tokens can be joined across documents without revealing the value.
    Token {
        /// Secret HMAC key; without it a token cannot be brute-forced back
        /// to a card number.
        key: Vec<u8>,
    },
}

impl std::fmt::Debug for Style {
    // The key is a secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Style::Mask => f.write_str("Mask"),
            Style::KeepLast4 => f.write_str("KeepLast4"),
            Style::Token { .. } => f.write_str("Token { key: <redacted> }"),
        }
    }
}

/// Returns `text` with the span of every finding replaced according to
/// `style`.
///
/// `findings` need not be sorted. A finding whose bounds are out of range or
/// not on `char` boundaries is ignored (it cannot come from
/// [`crate::scan::scan`]); where findings overlap, the later-starting one only
/// redacts the part not already redacted, so no byte is left in clear.
pub fn redact(text: &str, findings: &[Finding], style: &Style) -> String {
    let mut sorted: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.start < f.end && text.is_char_boundary(f.start) && text.is_char_boundary(f.end))
        .collect();
    sorted.sort_by_key(|f| (f.start, f.end));
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for f in sorted {
        let start = f.start.max(cursor);
        if start >= f.end {
            continue;
        }
        out.push_str(&text[cursor..start]);
        redact_span(f, &text[start..f.end], style, &mut out);
        cursor = f.end;
    }
    out.push_str(&text[cursor..]);
    out
}

/// Appends the redacted form of `span` (the text of finding `f`) to `out`.
///
/// A spoken value ("four one one one…") is masked whole under
/// [`Style::KeepLast4`] (its last four letters are not its last four
/// digits), and tokenised over its decoded digits, so a card read out and
/// the same card typed give the same token.
pub fn redact_span(f: &Finding, span: &str, style: &Style, out: &mut String) {
    match style {
        Style::Mask => mask(span, 0, out),
        Style::KeepLast4 if f.spoken => mask(span, 0, out),
        Style::KeepLast4 => mask(span, 4, out),
        Style::Token { key } if f.spoken => token(f.kind.name(), &crate::spoken::digits_of(span), key, out),
        Style::Token { key } => token(f.kind.name(), span, key, out),
    }
}

/// Masks every alphanumeric char of `span` except the last `keep`.
fn mask(span: &str, keep: usize, out: &mut String) {
    let total = span.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    for c in span.chars() {
        if c.is_alphanumeric() {
            seen += 1;
            out.push(if seen + keep > total { c } else { '*' });
        } else {
            out.push(c);
        }
    }
}

fn token(kind: &str, span: &str, key: &[u8], out: &mut String) {
    // HMAC takes keys of any length, so this never fails; if it somehow did,
    // fail closed by masking rather than leaking the span.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        mask(span, 0, out);
        return;
    };
    mac.update(kind.as_bytes());
    mac.update(b":");
    for c in span.chars().filter(char::is_ascii_alphanumeric) {
        mac.update(&[c.to_ascii_uppercase() as u8]);
    }
    let tag = mac.finalize().into_bytes();
    out.push('[');
    out.push_str(kind);
    out.push(':');
    out.push_str(&hex::encode(&tag[..8]));
    out.push(']');
}
