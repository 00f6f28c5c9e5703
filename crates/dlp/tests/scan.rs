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
    // A 3-4 digit group typed straight after the card is its security code.
    assert_eq!(
        found("card 4111 1111 1111 1111 123 thanks"),
        vec![(Kind::Card, "4111 1111 1111 1111"), (Kind::Cvv, "123")]
    );
    assert_eq!(found("4111-1111-1111-1111-12-25"), vec![(Kind::Card, "4111-1111-1111-1111"), (Kind::Expiry, "12-25")]);
    assert_one("id 12 4111 1111 1111 1111", Kind::Card, "4111 1111 1111 1111");
    // Introduced as a reference number, without card words: not a card.
    assert_eq!(found("ref 12 4111 1111 1111 1111"), vec![]);
    assert_eq!(found("your order number is 4111111111111111"), vec![]);
    assert_one("order 55, paid by card 4111111111111111", Kind::Card, "4111111111111111");
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
    // Dots are not an SSN grouping; a keyword more than 256 bytes back, or
    // two lines up, does not count; on the line before (the question) it does.
    assert_eq!(found("id 123.45.6789"), vec![]);
    assert_eq!(found(&format!("ssn{}123456789", " ".repeat(300))), vec![]);
    assert_eq!(found("Agent: your SSN?\nCustomer: hm\nCustomer: 123456789"), vec![]);
    assert_one("Agent: and your social security number?\nCustomer: sure 123456789", Kind::Ssn, "123456789");
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
    assert!(with_kw[0].score >= 0.95);
    // Invalid check digit.
    let mut bad = a.into_bytes();
    bad[11] = b'0' + (bad[11] - b'0' + 1) % 10;
    assert_eq!(found(&format!("no. {}", String::from_utf8(bad).unwrap())), vec![]);
}

#[test]
fn twelve_digit_card_is_not_aadhaar() {
    // Visa has no 12-digit length; Maestro does. Find a 12-digit Maestro that
    // is also Verhoeff-valid: it is reported as a card, unless the speaker
    // said it is an Aadhaar.
    let n = (0..100_000u32)
        .map(|i| {
            let payload = format!("6759{i:07}");
            format!("{payload}{}", luhn_check_digit(payload.as_bytes()).unwrap())
        })
        .find(|s| verhoeff(s.as_bytes()))
        .unwrap();
    assert!(is_card(n.as_bytes()).is_some());
    assert_one(&format!("number {n}"), Kind::Card, &n);
    assert_one(&format!("no. {}", group(&n, &[4, 4, 4], " ")), Kind::Card, &group(&n, &[4, 4, 4], " "));
    assert_one(&format!("aadhaar {n}"), Kind::Aadhaar, &n);
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
    let bad = Finding { kind: Kind::Card, start: 3, end: 4, score: 1.0, reason: "test", spoken: false, pattern: 0 };
    let out_of_range =
        Finding { kind: Kind::Card, start: 5, end: 500, score: 1.0, reason: "test", spoken: false, pattern: 0 };
    assert_eq!(redact(text, &[bad, out_of_range], &Style::Mask), text);
    let a = Finding { kind: Kind::Card, start: 0, end: 4, score: 1.0, reason: "test", spoken: false, pattern: 0 };
    let b = Finding { kind: Kind::Card, start: 2, end: 8, score: 1.0, reason: "test", spoken: false, pattern: 0 };
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

/// Filler text without digits: words of several scripts, glued or spaced,
/// none of them a context keyword (random letters spell `awb` or `pnr`
/// sooner or later, and those rightly make a card-shaped number a
/// reference instead).
fn filler() -> impl Strategy<Value = String> {
    let words = vec!["hello", "Thanks", "okay", "mañana", "straße", "é", "日本", "€", "sure", "WELL", "là"];
    let glue = vec!["", " ", ",", ";", ":", "(", ")", " - "];
    proptest::collection::vec((prop::sample::select(words), prop::sample::select(glue)), 0..6)
        .prop_map(|parts| parts.into_iter().map(|(w, g)| format!("{w}{g}")).collect())
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

// --------------------------------------------------------------------------
// Phone, CVV, expiry, date of birth, passport, bank account
// --------------------------------------------------------------------------

#[test]
fn phones_in_international_and_national_formats() {
    for v in [
        "(415) 555-0132",
        "415-555-0132",
        "415.555.0132",
        "415 555 0132",
        "1-800-555-0199",
        "+1 415 555 0132",
        "+1 (415) 555-0132",
        "+14155550132",
        "+91 98765 43210",
        "+91-98765-43210",
        "98765 43210",
        "098765 43210",
        "+44 20 7946 0958",
        "020 7946 0958",
        "07700 900123",
    ] {
        assert_one(&format!("you can reach {v} today"), Kind::Phone, v);
    }
    // Extensions belong to the number.
    for v in ["415-555-0132 ext. 204", "415-555-0132 x204", "(415) 555-0132, extension 12"] {
        assert_one(&format!("office {v}."), Kind::Phone, v);
    }
    // Plain digits are a phone only when the call says so.
    assert_eq!(found("id 4155550132 ok"), vec![]);
    assert_one("call me back on 4155550132 please", Kind::Phone, "4155550132");
    assert_one("my mobile is 9876543210", Kind::Phone, "9876543210");
    // Not NANP (exchange starts with 1), not a phone shape, or an order number.
    assert_eq!(found("dial 415-155-0132"), vec![]);
    assert_eq!(found("order 415-555-0132"), vec![]);
}

#[test]
fn ssn_shape_is_not_a_phone() {
    assert_one("ssn 536-22-1234 thanks", Kind::Ssn, "536-22-1234");
    assert_one("that's 536 22 1234", Kind::Ssn, "536 22 1234");
}

#[test]
fn cvv_and_expiry_need_card_context() {
    assert_one("the cvv is 123", Kind::Cvv, "123");
    assert_one("security code on the back: 4567", Kind::Cvv, "4567");
    assert_eq!(found("room 123 on floor 4"), vec![]);
    for v in ["08/27", "08/2027", "08-27", "8/27"] {
        assert_one(&format!("expiry {v}"), Kind::Expiry, v);
    }
    assert_one("expires 08 27", Kind::Expiry, "08 27");
    assert_eq!(
        found("card 4111 1111 1111 1111 exp 08/27 cvv 123"),
        vec![(Kind::Card, "4111 1111 1111 1111"), (Kind::Expiry, "08/27"), (Kind::Cvv, "123")]
    );
    // A card number right before counts as card context.
    assert_eq!(
        found("4111111111111111 08/27, 123"),
        vec![(Kind::Card, "4111111111111111"), (Kind::Expiry, "08/27"), (Kind::Cvv, "123")]
    );
    // Without card words a fraction is not an expiry; month 13 never is.
    assert_eq!(found("we shipped 08/27 units"), vec![]);
    assert_eq!(found("expiry 13/27"), vec![]);
}

#[test]
fn dates_of_birth_with_context_only() {
    for v in [
        "03/14/1985",
        "14/03/1985",
        "1985-03-14",
        "14.03.1985",
        "14 March 1985",
        "March 14, 1985",
        "14th of March 1985",
        "Mar 14 1985",
    ] {
        assert_one(&format!("date of birth is {v}."), Kind::Dob, v);
        assert_eq!(found(&format!("appointment on {v}.")), vec![], "{v}");
    }
    assert_eq!(found("dob 02/30/19"), vec![]);
    // The question on the line before.
    assert_one("Agent: can you confirm your date of birth\nCustomer: yes it's 12 June 1990", Kind::Dob, "12 June 1990");
}

#[test]
fn passports_and_bank_accounts_with_context_only() {
    assert_one("passport number K1234567", Kind::Passport, "K1234567");
    assert_one("my passport is 123456789", Kind::Passport, "123456789");
    assert_eq!(found("model K1234567"), vec![]);
    assert_one("account number 0012345678901", Kind::BankAccount, "0012345678901");
    assert_one("acct 12345678", Kind::BankAccount, "12345678");
    assert_eq!(found("invoice 0012345678901"), vec![]);
    // Routing keyword nearer than account: ABA wins for a valid routing number.
    assert_one("account at routing 011000015", Kind::AbaRouting, "011000015");
}

// --------------------------------------------------------------------------
// Spoken numbers
// --------------------------------------------------------------------------

#[test]
fn spoken_numbers() {
    let spoken = |t: &str| -> Vec<(Kind, String, bool)> {
        scan(t, &Config::default()).into_iter().map(|f| (f.kind, t[f.start..f.end].to_string(), f.spoken)).collect()
    };
    let card = "four one one one one one one one one one one one one one one one";
    assert_eq!(spoken(&format!("my card is {card} thanks")), vec![(Kind::Card, card.to_string(), true)]);
    // Groups with pauses, "double", "triple", "oh".
    let v = "four one one one, triple one one, one one one one, double one one one";
    assert_eq!(spoken(&format!("card number {v}.")), vec![(Kind::Card, v.to_string(), true)]);
    // Mixed digits and words.
    let v = "4111 one one one one one one one one 1111";
    assert_eq!(spoken(&format!("it's {v} ok")), vec![(Kind::Card, v.to_string(), true)]);
    // SSN with the question in the previous turn; "oh" for zero.
    let t = "Agent: can I have your social security number\nCustomer: five three six, two two, one two three four";
    assert_eq!(spoken(t), vec![(Kind::Ssn, "five three six, two two, one two three four".to_string(), true)]);
    // Split across speaker turns with an interjection.
    let t =
        "Customer: four one one one one one one one\nAgent: okay go on\nCustomer: one one one one one one one one\n";
    let got = spoken(t);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, Kind::Card);
    assert!(got[0].1.starts_with("four one") && got[0].1.ends_with("one one"));
    // Phone read out, with "double" and "oh".
    let v = "four one five, five five five, oh one three two";
    assert_eq!(spoken(&format!("my phone number is {v}")), vec![(Kind::Phone, v.to_string(), true)]);
    // A number word before a typed card that says nothing leaves the card
    // to the written scan.
    assert_eq!(spoken("oh 4000000000000002 ok"), vec![(Kind::Card, "4000000000000002".to_string(), false)]);
    // Ordinary speech with number words is not PII.
    assert_eq!(spoken("oh one moment, I called two or three times about the four items"), vec![]);
    assert_eq!(spoken("one two three four five six seven eight nine"), vec![]);
    // CVV and expiry read out.
    assert_eq!(spoken("and the cvv is one two three"), vec![(Kind::Cvv, "one two three".to_string(), true)]);
    assert_eq!(spoken("expiry oh eight twenty seven"), vec![(Kind::Expiry, "oh eight twenty seven".to_string(), true)]);
}

// --------------------------------------------------------------------------
// Unicode digits and full-width forms
// --------------------------------------------------------------------------

#[test]
fn unicode_and_full_width_digits() {
    let fw = "４１１１ １１１１ １１１１ １１１１";
    assert_one(&format!("card {fw} ok"), Kind::Card, fw);
    let deva = "४१११११११११११११११";
    assert_one(&format!("कार्ड {deva} है"), Kind::Card, deva);
    let mixed = "4111－1111－1111－1111";
    assert_one(&format!("visa {mixed}"), Kind::Card, mixed);
    // Redaction on the original text keeps char boundaries.
    let text = format!("card {fw} ok");
    let f = scan(&text, &Config::default());
    let out = redact(&text, &f, &Style::Mask);
    assert!(!out.contains('１'), "{out}");
}

// --------------------------------------------------------------------------
// Configuration: kinds, keywords, custom patterns
// --------------------------------------------------------------------------

#[test]
fn extra_keywords_and_custom_patterns() {
    use bposhield_dlp::scan::{CustomPattern, Scanner};
    // A keyword in another language makes a plain 9-digit number an SSN.
    let cfg = Config { keywords: vec![(Kind::Ssn, "seguro".into())], ..Config::default() };
    let t = "numero de seguro 536221234";
    assert_eq!(scan(t, &cfg).iter().map(|f| f.kind).collect::<Vec<_>>(), vec![Kind::Ssn]);
    assert_eq!(found(t), vec![]);
    // Keywords holding bytes without the 0x20 bit (`_`, `@`), short ones
    // and upper-case text all match.
    for (kw, t) in [("ss_no", "SS_NO: 536221234"), ("id@hr", "ID@HR 536221234"), ("sn", "sn 536221234")] {
        let cfg = Config { keywords: vec![(Kind::Ssn, kw.into())], ..Config::default() };
        assert_eq!(scan(t, &cfg).iter().map(|f| f.kind).collect::<Vec<_>>(), vec![Kind::Ssn], "{kw}");
    }
    // A custom pattern with its own keywords.
    let cfg = Config {
        custom: vec![CustomPattern {
            name: "EMPLOYEE_ID".into(),
            regex: r"\bEMP-\d{6}\b".into(),
            score: 0.9,
            keywords: vec!["employee".into()],
        }],
        ..Config::default()
    };
    let s = Scanner::new(cfg.clone()).unwrap();
    let got = s.scan("employee EMP-123456 and EMP-654321\n\n\nEMP-111111");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|f| f.kind == Kind::Custom && f.pattern == 0));
    // A bad regex or keyword is a clear error.
    let bad = Config {
        custom: vec![CustomPattern { name: "X".into(), regex: "(".into(), score: 0.8, keywords: vec![] }],
        ..Config::default()
    };
    let err = Scanner::new(bad).unwrap_err().to_string();
    assert!(err.contains("custom pattern `X`"), "{err}");
    let bad = Config { keywords: vec![(Kind::Card, " ".into())], ..Config::default() };
    assert!(Scanner::new(bad).is_err());
}

/// The benchmark's skeleton sees the events the scan handles: digit runs,
/// `@`s and words that may be number words, in every block and the padded
/// tail, and dismisses ordinary words.
#[test]
fn skeleton_counts_the_scans_events() {
    use bposhield_dlp::scan::skeleton;
    assert_eq!(skeleton(b""), 0);
    assert_eq!(skeleton(b"the quick brown fox jumps over the lazy dog"), 0);
    // 4111 and 22 (two runs), one `@`, "one" and "two"; "for" passes too
    // (the prefix of "forty").
    assert_eq!(skeleton(b"card 4111-22 for a@b one two"), 6);
    let long = "hello there ".repeat(20) + "seven 12";
    assert_eq!(skeleton(long.as_bytes()), 2);
}

#[test]
fn keyword_glued_to_a_letter_of_another_script_is_not_context() {
    // `pnr` is negative context for a card, `pnré` and `répnr` are other words.
    for t in ["PNré 4000000000000002 ", "répnr 4000000000000002", "日pnr 4000000000000002"] {
        assert!(scan(t, &Config::default()).iter().any(|f| f.kind == Kind::Card), "{t}");
    }
    assert!(!scan("PNR 4000000000000002", &Config::default()).iter().any(|f| f.kind == Kind::Card));
}
