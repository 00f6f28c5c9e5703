//! Tests for `bposhield_dlp::stream`: the streaming scanner must report
//! exactly what a whole-text `scan` reports, with global offsets, however
//! the input is chunked.

// Helpers and proptest strategies are not `#[test]` fns, so clippy's
// allow-unwrap-in-tests does not cover them; a panic there is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use bposhield_dlp::redact::{redact, Style};
use bposhield_dlp::scan::{scan, Config, Finding, Kind, Scanner};
use bposhield_dlp::stream::{scan_reader, StreamRedactor, StreamScanner, HOLD};
use proptest::prelude::*;

type Span = (Kind, usize, usize);

fn spans(found: &[Finding]) -> Vec<Span> {
    found.iter().map(|f| (f.kind, f.start, f.end)).collect()
}

/// Streams `bytes` in chunks of the given sizes (cycled).
fn stream_chunks(bytes: &[u8], sizes: &[usize]) -> Vec<Finding> {
    let mut s = StreamScanner::new(Config::default());
    let mut out = Vec::new();
    let (mut i, mut k) = (0, 0);
    while i < bytes.len() {
        let n = sizes[k % sizes.len()].max(1).min(bytes.len() - i);
        out.extend(s.push(&bytes[i..i + n]));
        i += n;
        k += 1;
    }
    out.extend(s.finish());
    out
}

fn stream_split(bytes: &[u8], at: usize) -> Vec<Finding> {
    let mut s = StreamScanner::new(Config::default());
    let mut out = s.push(&bytes[..at]);
    out.extend(s.push(&bytes[at..]));
    out.extend(s.finish());
    out
}

fn whole(text: &str) -> Vec<Span> {
    spans(&scan(text, &Config::default()))
}

/// Filler longer than the hold margin, so the carry logic is exercised.
fn filler(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str("lorem ipsum café 日本 dolor 12 sit\n");
    }
    s
}

#[test]
fn card_split_at_every_position_found_once() {
    for card in ["4111 1111 1111 1111", "5555-5555-5555-4444", "6011111111111117"] {
        let pre = filler(HOLD + 300);
        let text = format!("{pre}card {card} thanks {}", filler(700));
        let start = pre.len() + 5;
        let expected = vec![(Kind::Card, start, start + card.len())];
        assert_eq!(whole(&text), expected);
        for at in 0..=text.len() {
            assert_eq!(spans(&stream_split(text.as_bytes(), at)), expected, "card {card} split at {at}");
        }
    }
}

#[test]
fn short_stream_split_everywhere() {
    let text = "pay 4111 1111 1111 1111, ssn 123-45-6789, mail john.doe+tag@example.co.uk.";
    let expected = whole(text);
    assert_eq!(expected.len(), 3);
    for at in 0..=text.len() {
        assert_eq!(spans(&stream_split(text.as_bytes(), at)), expected, "split at {at}");
    }
    assert_eq!(spans(&stream_chunks(text.as_bytes(), &[1])), expected);
}

#[test]
fn multibyte_utf8_split_across_chunks() {
    let pre = filler(HOLD * 2 + 17);
    let text = format!("{pre}日本語 é card: 4111-1111-1111-1111 ñ 日 GB82 WEST 1234 5698 7654 32 ü");
    let expected = whole(&text);
    assert_eq!(expected.iter().map(|s| s.0).collect::<Vec<_>>(), vec![Kind::Card, Kind::Iban]);
    for at in pre.len() - 3..text.len() {
        assert_eq!(spans(&stream_split(text.as_bytes(), at)), expected, "split at {at}");
    }
    for size in [1, 2, 3, 5, 7, 64, 511, 512, 513] {
        assert_eq!(spans(&stream_chunks(text.as_bytes(), &[size])), expected, "chunk size {size}");
    }
}

#[test]
fn invalid_utf8_keeps_offsets() {
    let mut bytes = filler(HOLD + 100).into_bytes();
    bytes.extend_from_slice(b"\xff\xfe card 4111 1111 1111 1111 \xe6\x97 x ");
    bytes.extend_from_slice(b"\xc3");
    let card_start = filler(HOLD + 100).len() + 8;
    let expected = vec![(Kind::Card, card_start, card_start + 19)];
    for size in [1, 2, 3, 100, 4096] {
        assert_eq!(spans(&stream_chunks(&bytes, &[size])), expected, "chunk size {size}");
    }
    // An invalid byte is a word boundary: no digit run joins across it.
    let glued = b"4111 1111\xff1111 1111";
    assert_eq!(spans(&stream_chunks(glued, &[3])), vec![]);
}

#[test]
fn long_email_not_reported_short_one_is() {
    let local = "a".repeat(300);
    let text = format!("{} x {local}@example.com y bob@example.org", filler(HOLD));
    let got = spans(&stream_chunks(text.as_bytes(), &[50]));
    let start = text.len() - "bob@example.org".len();
    assert_eq!(got, vec![(Kind::Email, start, text.len())]);
}

#[test]
fn scan_reader_matches_whole_text() {
    let text = format!(
        "{}SSN: 123456789 {} routing 021000021 PAN ABCPE1234F {} NL91ABNA0417164300 a_b%c-d@sub-domain.example.org",
        filler(900),
        filler(1300),
        filler(50)
    );
    let expected = whole(&text);
    assert_eq!(expected.len(), 5);
    for size in [0, 1, 13, 512, 100_000] {
        let mut got = Vec::new();
        let n = scan_reader(Cursor::new(text.as_bytes()), &Scanner::builtin(), size, |f| got.push(f)).unwrap();
        assert_eq!(n, text.len() as u64);
        assert_eq!(spans(&got), expected, "chunk size {size}");
    }
}

#[test]
fn empty_stream() {
    let s = StreamScanner::new(Config::default());
    assert!(s.finish().is_empty());
    let mut got = Vec::new();
    assert_eq!(scan_reader(Cursor::new(b""), &Scanner::builtin(), 8, |f| got.push(f)).unwrap(), 0);
    assert!(got.is_empty());
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "4111 1111 1111 1111",
            "5555-5555-5555-4444",
            "6011111111111117",
            "3782 822463 10005",
            "card 4111111111111111",
            "Visa: 5555 5555 5555 4444 123",
            "ref 12 4111 1111 1111 1111",
            "SSN: 123456789",
            "id 123-45-6789",
            "social security 123 45 6789",
            "routing 021000021",
            "ABA: 011000015",
            "PAN ABCPE1234F",
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "NL91ABNA0417164300",
            "john.doe+tag@example.co.uk",
            "a_b%c-d@sub-domain.example.org",
            "x@y.io",
            "café",
            "日本語",
            "naïve résumé",
            "database",
            "four one one one one one one one one one one one one one one one",
            "five three six, two two, one two three four",
            "double four triple one oh",
            "your social security number",
            "call me on (415) 555-0132 ext. 12",
            "+91 98765 43210",
            "date of birth 14 March 1985",
            "dob 03/14/1985",
            "the cvv is 123",
            "expiry 08/27",
            "passport K1234567",
            "account number 0012345678901",
            "４１１１ １１１１ １１１１ １１１１",
            "one moment please",
        ])
        .prop_map(str::to_string),
        "[a-zé日]{1,12}",
        "[0-9]{1,20}",
        "[0-9]{3,4}([ .-][0-9]{2,4}){1,5}",
    ]
}

/// Separators never glue fragments together: with no separator a sequence
/// of alphanumeric fragments could form an e-mail local part longer than
/// the 254-byte cap, which the streaming scanner drops by design.
fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![" ", "\n", ", ", "; ", " (", ") ", "\t", " - ", ". ", "\nAgent: ", "\nCustomer: "])
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec((fragment(), separator()), 0..400)
        .prop_map(|parts| parts.into_iter().map(|(f, s)| f + s).collect())
}

proptest! {
    #[test]
    fn streaming_equals_whole_scan(
        text in text(),
        sizes in prop::collection::vec(1usize..200, 1..20),
    ) {
        let expected = whole(&text);
        let got = spans(&stream_chunks(text.as_bytes(), &sizes));
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn stream_redactor_equals_whole_redaction(
        text in text(),
        sizes in prop::collection::vec(1usize..3000, 1..20),
        style in 0usize..3,
    ) {
        let style = [Style::Mask, Style::KeepLast4, Style::Token { key: b"0123456789abcdef".to_vec() }][style].clone();
        let expected = redact(&text, &scan(&text, &Config::default()), &style);
        let mut r = StreamRedactor::new(Scanner::builtin(), style);
        let (mut out, mut i, mut k) = (String::new(), 0, 0);
        let bytes = text.as_bytes();
        while i < bytes.len() {
            let n = sizes[k % sizes.len()].min(bytes.len() - i);
            r.push(&bytes[i..i + n], &mut out);
            i += n;
            k += 1;
        }
        r.finish(&mut out);
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn scan_reader_equals_whole_scan(text in text(), size in 1usize..200) {
        let mut got = Vec::new();
        let n = scan_reader(Cursor::new(text.as_bytes()), &Scanner::builtin(), size, |f| got.push(f)).unwrap();
        prop_assert_eq!(n, text.len() as u64);
        prop_assert_eq!(spans(&got), whole(&text));
    }
}
