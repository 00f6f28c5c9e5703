//! Table-driven and property tests for `bposhield_dlp::scan` and
//! `bposhield_dlp::redact`.

// Helpers and proptest strategies are not `#[test]` fns, so clippy's
// allow-unwrap-in-tests does not cover them; a panic there is a test failure.
#![allow(clippy::unwrap_used)]

use bposhield_dlp::redact::{redact, Style};
use bposhield_dlp::scan::{scan, Config, Finding, Kind, KindSet};
use bposhield_dlp::validate::{is_card, luhn_check_digit, verhoeff, verhoeff_check_digit};
use proptest::prelude::*;

fn found(text: &str) -> Vec<(Kind, &str)> {
    scan(text, &Config::default()).into_iter().map(|f| (f.kind, &text[f.start..f.end])).collect()
}

/// Asserts `text` yields exactly one finding, of `kind`, spanning `value`.
fn assert_one(text: &str, kind: Kind, value: &str) {
    let got = found(text);
    assert_eq!(got, vec![(kind, value)], "text: {text:?}");
}

/// A 12-digit Aadhaar-valid number that is not a card.
fn aadhaar_number() -> String {
    let payload = "23412341234";
    let d = verhoeff_check_digit(payload.as_bytes()).unwrap();
    let s = format!("{payload}{d}");
    assert!(is_card(s.as_bytes()).is_none());
    s
}

fn group(s: &str, shape: &[usize], sep: &str) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    for &n in shape {
        parts.push(&s[i..i + n]);
        i += n;
    }
    parts.join(sep)
}

// --------------------------------------------------------------------------
// Each kind, each separator style
// --------------------------------------------------------------------------

#[test]
fn cards_with_every_separator() {
    for card in ["4111111111111111", "5555555555554444", "6011111111111117"] {
        for sep in ["", " ", "-", "."] {
            let v = group(card, &[4, 4, 4, 4], sep);
            assert_one(&format!("pay with {v} today"), Kind::Card, &v);
        }
    }
    // Amex 4-6-5.
    for sep in ["", " ", "-"] {
        let v = group("378282246310005", &[4, 6, 5], sep);
        assert_one(&format!("amex {v}."), Kind::Card, &v);
    }
}

#[test]
fn card_inside_longer_digit_run() {
    // CVV / expiry typed right after the number, or a number before it.
    assert_one("card 4111 1111 1111 1111 123 thanks", Kind::Card, "4111 1111 1111 1111");
    assert_one("4111-1111-1111-1111-12-25", Kind::Card, "4111-1111-1111-1111");
    assert_one("ref 12 4111 1111 1111 1111", Kind::Card, "4111 1111 1111 1111");
    // Only on group boundaries.
    assert_eq!(found("14111 1111 1111 1111"), vec![]);
}

#[test]
fn card_keyword_raises_score() {
    let plain = scan("number 4111111111111111", &Config::default());
    let kw = scan("Visa: 4111111111111111", &Config::default());
    assert!((plain[0].score - 0.9).abs() < 1e-6);
    assert!((kw[0].score - 1.0).abs() < 1e-6);
}

#[test]
fn ssn_grouped_and_plain_with_context() {
    assert_one("id 123-45-6789 ok", Kind::Ssn, "123-45-6789");
    assert_one("id 123 45 6789 ok", Kind::Ssn, "123 45 6789");
    // Plain 9 digits: only with a keyword before.
    assert_eq!(found("order 123456789 shipped"), vec![]);
    assert_one("SSN: 123456789", Kind::Ssn, "123456789");
    assert_one("Social Security number 123456789", Kind::Ssn, "123456789");
    // Dots are not an SSN grouping; keyword 81+ bytes away does not count.
    assert_eq!(found("id 123.45.6789"), vec![]);
    assert_eq!(found(&format!("ssn{}123456789", " ".repeat(90))), vec![]);
}

#[test]
fn ssn_invalid_not_found() {
    for s in ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "078-05-1120"] {
        assert_eq!(found(&format!("ssn {s}")), vec![], "{s}");
    }
}

#[test]
fn aadhaar_every_separator() {
    let a = aadhaar_number();
    for sep in ["", " ", "-"] {
        let v = group(&a, &[4, 4, 4], sep);
        assert_one(&format!("no. {v} end"), Kind::Aadhaar, &v);
    }
    let with_kw = scan(&format!("Aadhaar {a}"), &Config::default());
    assert!((with_kw[0].score - 0.95).abs() < 1e-6);
    // Invalid check digit.
    let mut bad = a.into_bytes();
    bad[11] = b'0' + (bad[11] - b'0' + 1) % 10;
    assert_eq!(found(&format!("no. {}", String::from_utf8(bad).unwrap())), vec![]);
}

#[test]
fn twelve_digit_card_is_not_aadhaar() {
    // Visa has no 12-digit length; Maestro does. Find a 12-digit Maestro that
    // is also Verhoeff-valid: it must be reported as a card.
    let n = (0..100_000u32)
        .map(|i| {
            let payload = format!("6759{i:07}");
            format!("{payload}{}", luhn_check_digit(payload.as_bytes()).unwrap())
        })
        .find(|s| verhoeff(s.as_bytes()))
        .unwrap();
    assert!(is_card(n.as_bytes()).is_some());
    assert_one(&format!("aadhaar {n}"), Kind::Card, &n);
    assert_one(&format!("aadhaar {}", group(&n, &[4, 4, 4], " ")), Kind::Card, &group(&n, &[4, 4, 4], " "));
}

#[test]
fn aba_only_with_keyword() {
    assert_one("routing number 021000021", Kind::AbaRouting, "021000021");
    assert_one("ABA: 011000015", Kind::AbaRouting, "011000015");
    assert_eq!(found("ref 021000021"), vec![]);
    // `aba` inside another word is not a keyword.
    assert_eq!(found("database 021000021"), vec![]);
    // Bad check digit.
    assert_eq!(found("routing 021000022"), vec![]);
}

#[test]
fn pan_found_and_rejected() {
    assert_one("PAN ABCPE1234F filed", Kind::Pan, "ABCPE1234F");
    assert_eq!(found("code ABCXE1234F"), vec![], "status X is not issued");
    assert_eq!(found("xABCPE1234F"), vec![]);
    assert_eq!(found("ABCPE1234Fx"), vec![]);
}

#[test]
fn iban_printed_and_electronic() {
    for v in
        ["GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "DE89 3704 0044 0532 0130 00", "NL91ABNA0417164300"]
    {
        assert_one(&format!("pay to {v} ABCD please"), Kind::Iban, v);
        assert_one(&format!("({v})"), Kind::Iban, v);
    }
    assert_eq!(found("GB82 WEST 1234 5698 7654 33"), vec![], "bad check");
    assert_eq!(found("GB82 WEST 1234 5698 7654 321"), vec![], "too long");
    assert_eq!(found("GB82 WES T123 4569 8765 432"), vec![], "bad grouping");
}

#[test]
fn emails() {
    assert_one("mail john.doe+tag@example.co.uk.", Kind::Email, "john.doe+tag@example.co.uk");
    assert_one("<a_b%c-d@sub-domain.example.org>", Kind::Email, "a_b%c-d@sub-domain.example.org");
    assert_eq!(found("user@localhost"), vec![]);
    assert_eq!(found("user@example.c"), vec![]);
    assert_eq!(found("user@example.c0m"), vec![]);
    assert_eq!(found("@example.com"), vec![]);
}

// --------------------------------------------------------------------------
// Checksums, boundaries, offsets
// --------------------------------------------------------------------------

#[test]
fn invalid_checksums_not_found() {
    for s in ["4111111111111112", "4111 1111 1111 1112", "5555-5555-5555-4445", "37828224631000"] {
        assert_eq!(found(&format!("card {s}")), vec![], "{s}");
    }
}

#[test]
fn boundaries() {
    assert_eq!(found("x4111111111111111"), vec![]);
    assert_eq!(found("4111111111111111x"), vec![]);
    assert_eq!(found("14111111111111111"), vec![]);
    assert_eq!(found("4111 1111 1111 1111x1"), vec![]);
    assert_eq!(found("4111 1111 1111 1111 123x"), vec![]);
    assert_one("(4111 1111 1111 1111)", Kind::Card, "4111 1111 1111 1111");
    assert_one("card:4111-1111-1111-1111,", Kind::Card, "4111-1111-1111-1111");
    assert_one("4111111111111111", Kind::Card, "4111111111111111");
    // Double separators end the run.
    assert_eq!(found("4111  1111  1111  1111"), vec![]);
}

#[test]
fn offsets_equal_the_span_and_are_char_boundaries() {
    let text = "Zahlung über €: 4111 1111 1111 1111 — naïve 日本 ok";
    let f = scan(text, &Config::default());
    assert_eq!(f.len(), 1);
    assert_eq!(&text[f[0].start..f[0].end], "4111 1111 1111 1111");
    assert_eq!(f[0].start, text.find("4111").unwrap());
    assert!(text.is_char_boundary(f[0].start) && text.is_char_boundary(f[0].end));
    // Multi-byte letters right against the digits: ASCII-only word rule.
    let text = "é4111111111111111日";
    let f = scan(text, &Config::default());
    assert_eq!(f.len(), 1);
    assert_eq!(&text[f[0].start..f[0].end], "4111111111111111");
}

#[test]
fn config_filters_kinds_and_scores() {
    let text = "4111111111111111 john@example.com";
    let only_email = Config { kinds: KindSet::empty().with(Kind::Email), ..Config::default() };
    let got: Vec<_> = scan(text, &only_email).into_iter().map(|f| f.kind).collect();
    assert_eq!(got, vec![Kind::Email]);
    let strict = Config { min_score: 0.92, ..Config::default() };
    let got: Vec<_> = scan(text, &strict).into_iter().map(|f| f.kind).collect();
    assert_eq!(got, vec![Kind::Email]);
    let no_card = Config { kinds: KindSet::all().without(Kind::Card), ..Config::default() };
    assert_eq!(scan("4111111111111111", &no_card), vec![]);
}

#[test]
fn multiple_findings_sorted() {
    let text = "a@b.co 123-45-6789 ABCPE1234F 4111111111111111 GB82WEST12345698765432";
    let kinds: Vec<_> = scan(text, &Config::default()).into_iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![Kind::Email, Kind::Ssn, Kind::Pan, Kind::Card, Kind::Iban]);
}

// --------------------------------------------------------------------------
// Redaction
// --------------------------------------------------------------------------

fn redacted(text: &str, style: &Style) -> String {
    redact(text, &scan(text, &Config::default()), style)
}

#[test]
fn redact_mask_and_keep_last4() {
    let text = "card 4111-1111-1111-1111, ssn 123-45-6789.";
    assert_eq!(redacted(text, &Style::Mask), "card ****-****-****-****, ssn ***-**-****.");
    assert_eq!(redacted(text, &Style::KeepLast4), "card ****-****-****-1111, ssn ***-**-6789.");
    assert_eq!(redacted("to jo@ex.com", &Style::KeepLast4), "to **@*x.com");
}

#[test]
fn redact_token_is_separator_independent_and_keyed() {
    let style = Style::Token { key: b"k1".to_vec() };
    let a = redacted("card 4111 1111 1111 1111", &style);
    let b = redacted("card 4111-1111-1111-1111", &style);
    assert_eq!(a, b);
    assert!(a.starts_with("card [CARD:"));
    let tok = &a["card [CARD:".len()..a.len() - 1];
    assert_eq!(tok.len(), 16);
    assert!(tok.bytes().all(|c| c.is_ascii_hexdigit()));
    let other = redacted("card 4111 1111 1111 1111", &Style::Token { key: b"k2".to_vec() });
    assert_ne!(a, other);
    let pan = redacted("ABCPE1234F", &style);
    assert!(pan.starts_with("[PAN:") && pan.ends_with(']'));
}

#[test]
fn redact_ignores_bad_findings_and_handles_overlaps() {
    let text = "ab€cd 4111111111111111";
    let bad = Finding { kind: Kind::Card, start: 3, end: 4, score: 1.0, reason: "test" };
    let out_of_range = Finding { kind: Kind::Card, start: 5, end: 500, score: 1.0, reason: "test" };
    assert_eq!(redact(text, &[bad, out_of_range], &Style::Mask), text);
    let a = Finding { kind: Kind::Card, start: 0, end: 4, score: 1.0, reason: "test" };
    let b = Finding { kind: Kind::Card, start: 2, end: 8, score: 1.0, reason: "test" };
    assert_eq!(redact("abcdefghij", &[b, a], &Style::Mask), "********ij");
}

#[test]
fn style_debug_hides_key() {
    let s = format!("{:?}", Style::Token { key: b"secret".to_vec() });
    assert!(!s.contains("secret"));
}

// --------------------------------------------------------------------------
// Properties
// --------------------------------------------------------------------------

/// A valid 16-digit Visa from 14 random digits.
fn visa() -> impl Strategy<Value = String> {
    "[0-9]{14}".prop_map(|mid| {
        let payload = format!("4{mid}");
        format!("{payload}{}", luhn_check_digit(payload.as_bytes()).unwrap())
    })
}

/// Filler text without digits or a separator-adjacent alphanumeric.
fn filler() -> impl Strategy<Value = String> {
    "[a-zA-Zé€日 ,;:()]{0,40}"
}

proptest! {
    #[test]
    fn scan_never_panics_and_offsets_are_char_boundaries(text in "\\PC{0,200}") {
        for f in scan(&text, &Config::default()) {
            prop_assert!(f.start < f.end && f.end <= text.len());
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            prop_assert!((0.0..=1.0).contains(&f.score));
        }
    }

    #[test]
    fn scan_never_panics_on_pii_like_text(text in "[0-9A-Za-z@. \\-+_%é]{0,200}") {
        let f = scan(&text, &Config::default());
        for w in f.windows(2) {
            prop_assert!(w[0].end <= w[1].start, "sorted and disjoint");
        }
        for f in &f {
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        }
    }

    #[test]
    fn redaction_never_leaks_a_found_card(
        card in visa(),
        seps in proptest::collection::vec(prop::sample::select(vec!["", " ", "-", "."]), 3),
        before in filler(),
        after in filler(),
        style in prop::sample::select(vec![0u8, 1, 2]),
    ) {
        let printed = format!("{}{}{}{}{}{}{}", &card[0..4], seps[0], &card[4..8], seps[1], &card[8..12], seps[2], &card[12..16]);
        let text = format!("{before} {printed} {after}");
        let findings = scan(&text, &Config::default());
        let card_found = findings.iter().find(|f| f.kind == Kind::Card);
        prop_assert!(card_found.is_some(), "card not found in {:?}", text);
        if let Some(f) = card_found {
            prop_assert_eq!(&text[f.start..f.end], printed.as_str());
        }
        let style = match style {
            0 => Style::Mask,
            1 => Style::KeepLast4,
            _ => Style::Token { key: b"key".to_vec() },
        };
        let out = redact(&text, &findings, &style);
        let digits_out: String = out.chars().filter(char::is_ascii_digit).collect();
        prop_assert!(!out.contains(&printed));
        prop_assert!(!digits_out.contains(&card[..12]), "more than the last 4 digits leaked: {:?}", out);
    }
}

#[test]
fn many_findings_are_all_kept_in_order() {
    // 20k e-mails and cards side by side: each found once, in order (speed is the
    // benchmark's business, not a timed test's).
    let text = "jo@ex.com 4111111111111111 ".repeat(20_000);
    let f = scan(&text, &Config::default());
    assert_eq!(f.len(), 40_000);
    assert!(f.windows(2).all(|w| w[0].end <= w[1].start));
}
