//! Canonical JSON for ledger entries: object keys sorted (by UTF-16 code units, as
//! RFC 8785; the same as byte order for ASCII keys), no insignificant whitespace, every
//! string (keys and values) in Unicode NFC, integers only (a float is an error).
//!
//! The leaf of an entry is its canonical text, so two writers (or a writer and an
//! auditor) must produce the same bytes for the same value; that is why the output never
//! depends on `serde_json`'s map ordering features, only on the rules above.

use crate::Hash;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::cmp::Ordering;
use unicode_normalization::{is_nfc, UnicodeNormalization as _};

/// The schema version every entry carries in its `v` field.
pub const ENTRY_SCHEMA: u64 = 1;

/// Why a value or a text is not a canonical ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// A non-integer number, at this JSON pointer.
    #[error("floats are not allowed in ledger entries (at {0})")]
    Float(String),
    /// Not JSON, not in canonical form, or keys that collide after normalization.
    #[error("entry is not valid canonical JSON: {0}")]
    NotCanonical(String),
}

/// The canonical JSON text of `value`.
pub fn canonical_json(value: &serde_json::Value) -> Result<String, EntryError> {
    let mut out = String::new();
    let mut path = String::new();
    write_value(value, &mut out, &mut path)?;
    Ok(out)
}

/// SHA-256 of the canonical JSON of `value`.
pub fn digest(value: &serde_json::Value) -> Result<Hash, EntryError> {
    Ok(Sha256::digest(canonical_json(value)?.as_bytes()).into())
}

/// Checks `text` is canonical JSON (parses it and re-canonicalizes; equal bytes).
pub fn check_canonical(text: &str) -> Result<serde_json::Value, EntryError> {
    let value: Value = serde_json::from_str(text).map_err(|e| EntryError::NotCanonical(e.to_string()))?;
    if canonical_json(&value)? != text {
        return Err(EntryError::NotCanonical("the text differs from its canonical form".into()));
    }
    Ok(value)
}

fn nfc(s: &str) -> Cow<'_, str> {
    // ASCII is always NFC; nearly every string of an entry is ASCII (ids, codes).
    if s.is_ascii() || is_nfc(s) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
}

/// RFC 8785 §3.2.3 orders keys by their UTF-16 code units, which differs from UTF-8
/// byte order once characters outside the BMP meet U+E000..U+FFFF.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn pointer(path: &str) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        path.to_owned()
    }
}

fn push_segment(path: &mut String, segment: &str) {
    path.push('/');
    for c in segment.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

fn write_string(s: &str, out: &mut String) -> Result<(), EntryError> {
    // serde_json's escaping: quote, backslash and control characters only.
    let quoted = serde_json::to_string(s).map_err(|e| EntryError::NotCanonical(e.to_string()))?;
    out.push_str(&quoted);
    Ok(())
}

fn write_value(value: &Value, out: &mut String, path: &mut String) -> Result<(), EntryError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else {
                return Err(EntryError::Float(pointer(path)));
            }
        }
        Value::String(s) => write_string(&nfc(s), out)?,
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let len = path.len();
                push_segment(path, &i.to_string());
                write_value(item, out, path)?;
                path.truncate(len);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(Cow<'_, str>, &Value)> = map.iter().map(|(k, v)| (nfc(k), v)).collect();
            members.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
            if let Some(pair) = members.windows(2).find(|w| w[0].0 == w[1].0) {
                let mut at = path.clone();
                push_segment(&mut at, &pair[0].0);
                return Err(EntryError::NotCanonical(format!("two keys are equal after NFC normalization at {at}")));
            }
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out)?;
                out.push(':');
                let len = path.len();
                push_segment(path, key);
                write_value(item, out, path)?;
                path.truncate(len);
            }
            out.push('}');
        }
    }
    Ok(())
}
