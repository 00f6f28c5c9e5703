//! Transcripts and screen text come from outside (call-recording systems, OCR): the PII
//! engine must never panic, every finding must lie inside the text on char boundaries,
//! redaction must leave no found digit in clear, and a chunked scan must equal the
//! whole-text scan.
#![no_main]
use bposhield_dlp::redact::{redact, Style};
use bposhield_dlp::scan::{scan, Config};
use bposhield_dlp::stream::StreamScanner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let found = scan(&text, &Config::default());
    let mut last_end = 0;
    for f in &found {
        assert!(f.start < f.end && f.end <= text.len(), "{f:?}");
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end), "{f:?}");
        assert!(f.start >= last_end, "findings overlap: {f:?}");
        last_end = f.end;
    }
    // Masking replaces every letter and digit of a span and keeps the rest of the
    // text byte for byte, so the masked text has the same length and no digit left
    // inside any finding.
    let masked = redact(&text, &found, &Style::Mask);
    if text.is_ascii() {
        assert_eq!(masked.len(), text.len());
        for f in &found {
            assert!(!masked.as_bytes()[f.start..f.end].iter().any(u8::is_ascii_alphanumeric), "{f:?} left in clear");
        }
    }
    // Chunked, at a size taken from the input, equals the whole scan.
    let bytes = text.as_bytes();
    let size = usize::from(split).max(1) * 16;
    let mut s = StreamScanner::new(Config::default());
    let mut streamed = Vec::new();
    for chunk in bytes.chunks(size) {
        streamed.extend(s.push(chunk));
    }
    streamed.extend(s.finish());
    assert_eq!(
        streamed.iter().map(|f| (f.kind, f.start, f.end)).collect::<Vec<_>>(),
        found.iter().map(|f| (f.kind, f.start, f.end)).collect::<Vec<_>>()
    );
});
