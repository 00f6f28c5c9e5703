//! Detectors: find PII spans in text, each confirmed by a [`crate::validate`]
//! validator so that a random run of digits is not reported.
//!
//! The scan is hand-written byte scanning instead of `regex`: every pattern
//! here is a fixed shape (digit groups, a `AAAAA9999A` word, an IBAN prefix,
//! `local@domain`) that a few linear passes find without allocation per
//! candidate, and the validators need the separator-free digits anyway, which
//! a regex would make us collect in a second pass.
//!
//! All offsets are byte offsets into the input; spans start and end on ASCII
//! bytes, so they are always on UTF-8 `char` boundaries.

use std::collections::BTreeMap;

use crate::validate::{aadhaar, aba_routing, iban, iban_length, is_card, pan, ssn_digits};

/// The kind of PII a [`Finding`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// Payment card number (IIN prefix, length and Luhn valid).
    Card,
    /// US Social Security Number.
    Ssn,
    /// Indian Aadhaar number (Verhoeff valid).
    Aadhaar,
    /// Indian income-tax Permanent Account Number.
    Pan,
    /// International Bank Account Number (mod-97 valid).
    Iban,
    /// E-mail address.
    Email,
    /// US ABA routing transit number (only reported with a keyword nearby).
    AbaRouting,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 7] =
        [Kind::Card, Kind::Ssn, Kind::Aadhaar, Kind::Pan, Kind::Iban, Kind::Email, Kind::AbaRouting];

    /// Stable upper-case name, used in redaction tokens (`[CARD:…]`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Card => "CARD",
            Kind::Ssn => "SSN",
            Kind::Aadhaar => "AADHAAR",
            Kind::Pan => "PAN",
            Kind::Iban => "IBAN",
            Kind::Email => "EMAIL",
            Kind::AbaRouting => "ABA_ROUTING",
        }
    }

    /// Tie-break rank when two overlapping findings have the same score:
    /// lower wins. Card > Iban > Ssn > Aadhaar > Pan > AbaRouting > Email.
    fn priority(self) -> u8 {
        match self {
            Kind::Card => 0,
            Kind::Iban => 1,
            Kind::Ssn => 2,
            Kind::Aadhaar => 3,
            Kind::Pan => 4,
            Kind::AbaRouting => 5,
            Kind::Email => 6,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`Kind`]s (a bitmask; `Copy`, no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindSet(u8);

impl KindSet {
    /// No kind.
    pub const fn empty() -> Self {
        KindSet(0)
    }

    /// Every kind.
    pub fn all() -> Self {
        Kind::ALL.into_iter().collect()
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The set with `kind` added.
    #[must_use]
    pub fn with(self, kind: Kind) -> Self {
        KindSet(self.0 | kind.bit())
    }

    /// The set with `kind` removed.
    #[must_use]
    pub fn without(self, kind: Kind) -> Self {
        KindSet(self.0 & !kind.bit())
    }
}

impl Default for KindSet {
    fn default() -> Self {
        Self::all()
    }
}

impl FromIterator<Kind> for KindSet {
    fn from_iter<I: IntoIterator<Item = Kind>>(iter: I) -> Self {
        iter.into_iter().fold(KindSet::empty(), KindSet::with)
    }
}

/// What to look for and how sure a finding must be to be reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Kinds to report (default: all).
    pub kinds: KindSet,
    /// Findings scoring below this are dropped before overlap resolution
    /// (default 0.5).
    pub min_score: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config { kinds: KindSet::all(), min_score: 0.5 }
    }
}

/// One detected span of PII.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Finding {
    /// What was found.
    pub kind: Kind,
    /// Byte offset of the first byte (on a `char` boundary).
    pub start: usize,
    /// Byte offset one past the last byte (on a `char` boundary).
    pub end: usize,
    /// Confidence, 0-1.
    pub score: f32,
    /// Why it was reported, for audit logs and tuning.
    pub reason: &'static str,
}

/// Scans `text` for the kinds enabled in `cfg`.
///
/// Returns non-overlapping findings sorted by `start`. Where candidates
/// overlap, the higher score wins, ties broken by kind priority
/// (Card > Iban > Ssn > Aadhaar > Pan > AbaRouting > Email).
pub fn scan(text: &str, cfg: &Config) -> Vec<Finding> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    scan_digit_runs(bytes, &mut out);
    scan_words(bytes, &mut out);
    if cfg.kinds.contains(Kind::Email) {
        scan_emails(bytes, &mut out);
    }
    out.retain(|f| cfg.kinds.contains(f.kind) && f.score >= cfg.min_score);
    resolve_overlaps(out)
}

// ---------------------------------------------------------------------------
// Digit runs: Card, SSN, Aadhaar, ABA routing
// ---------------------------------------------------------------------------

/// Longest digit count considered (19-digit cards plus slack for typos
/// around them); longer runs are account or reference numbers, not PII we
/// can validate.
const MAX_RUN_DIGITS: usize = 23;

const CARD_KEYWORDS: &[&[u8]] = &[b"card", b"visa", b"mastercard", b"amex", b"credit", b"debit"];
const SSN_KEYWORDS: &[&[u8]] = &[b"ssn", b"social security", b"social"];
const AADHAAR_KEYWORDS: &[&[u8]] = &[b"aadhaar", b"aadhar", b"uid"];
const ABA_KEYWORDS: &[&[u8]] = &[b"routing", b"aba", b"rtn"];

/// A maximal run of digits with single separators between groups.
struct DigitRun {
    start: usize,
    end: usize,
    digits: [u8; 32],
    /// Total digit count (may exceed the buffer; then the run is skipped).
    len: usize,
    /// Byte ranges of the first eight digit groups.
    groups: [(usize, usize); 8],
    group_count: usize,
    /// The separator, if every separator in the run is the same byte.
    uniform_sep: Option<u8>,
}

impl DigitRun {
    fn digits(&self) -> &[u8] {
        &self.digits[..self.len.min(self.digits.len())]
    }

    fn grouped(&self, shape: &[usize], seps: &[u8]) -> bool {
        self.group_count == shape.len()
            && self.groups.iter().zip(shape).all(|(&(s, e), &len)| e - s == len)
            && self.uniform_sep.is_some_and(|s| seps.contains(&s))
    }

    fn plain(&self) -> bool {
        self.group_count == 1
    }
}

fn scan_digit_runs(bytes: &[u8], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !b.is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        if !b.is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            // Inside a word such as `x4111…` or `abc`: skip the whole word.
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        let run = read_run(bytes, i);
        i = run.end;
        if bytes.get(run.end).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        let before = out.len();
        if run.len <= MAX_RUN_DIGITS {
            classify_run(bytes, &run, out);
        }
        if out.len() == before {
            card_in_groups(bytes, &run, out);
        }
    }
}

fn read_run(bytes: &[u8], start: usize) -> DigitRun {
    let mut run =
        DigitRun { start, end: start, digits: [0; 32], len: 0, groups: [(0, 0); 8], group_count: 0, uniform_sep: None };
    let mut mixed = false;
    let mut j = start;
    loop {
        let group_start = j;
        while let Some(&d) = bytes.get(j).filter(|b| b.is_ascii_digit()) {
            if let Some(slot) = run.digits.get_mut(run.len) {
                *slot = d;
            }
            run.len += 1;
            j += 1;
        }
        if let Some(g) = run.groups.get_mut(run.group_count) {
            *g = (group_start, j);
        }
        run.group_count += 1;
        match (bytes.get(j), bytes.get(j + 1)) {
            (Some(&sep @ (b' ' | b'-' | b'.')), Some(next)) if next.is_ascii_digit() => {
                match run.uniform_sep {
                    None if !mixed => run.uniform_sep = Some(sep),
                    Some(s) if s != sep => {
                        run.uniform_sep = None;
                        mixed = true;
                    }
                    _ => {}
                }
                j += 1;
            }
            _ => break,
        }
    }
    run.end = j;
    run
}

fn classify_run(bytes: &[u8], run: &DigitRun, out: &mut Vec<Finding>) {
    let digits = run.digits();
    let n = digits.len();
    let mut push = |kind, score: f32, reason| {
        out.push(Finding { kind, start: run.start, end: run.end, score: score.min(1.0), reason });
    };
    let card = (12..=19).contains(&n) && is_card(digits).is_some();
    if card {
        if keyword_before(bytes, run.start, 40, CARD_KEYWORDS) {
            push(Kind::Card, 1.0, "card: IIN, length and Luhn valid; card keyword nearby");
        } else {
            push(Kind::Card, 0.9, "card: IIN, length and Luhn valid");
        }
    }
    if n == 9 && ssn_digits(digits) {
        if run.grouped(&[3, 2, 4], b" -") {
            push(Kind::Ssn, 0.85, "ssn: 3-2-4 grouping, valid area/group/serial");
        } else if run.plain() && keyword_before(bytes, run.start, 80, SSN_KEYWORDS) {
            push(Kind::Ssn, 0.8, "ssn: 9 digits, valid area/group/serial; SSN keyword nearby");
        }
    }
    if n == 9 && run.plain() && aba_routing(digits) && keyword_before(bytes, run.start, 60, ABA_KEYWORDS) {
        push(Kind::AbaRouting, 0.8, "aba: prefix and 3-7-1 check digit valid; routing keyword nearby");
    }
    // A number valid as both is far more likely a card (Luhn + IIN + length
    // is the stronger filter), so card wins outright.
    if n == 12 && !card && (run.plain() || run.grouped(&[4, 4, 4], b" -")) && aadhaar(digits) {
        if keyword_before(bytes, run.start, 80, AADHAAR_KEYWORDS) {
            push(Kind::Aadhaar, 0.95, "aadhaar: Verhoeff valid; Aadhaar keyword nearby");
        } else {
            push(Kind::Aadhaar, 0.85, "aadhaar: Verhoeff valid");
        }
    }
}

/// A card inside a longer run, on group boundaries: `4111 1111 1111 1111 123`
/// (CVV or expiry typed after the number) or `Ref 12 4111 …`. Only cards are
/// looked for this way: IIN, length and Luhn together are strong enough that
/// a chance match inside an unrelated long number is rare, which is not true
/// of the 9- and 12-digit kinds.
fn card_in_groups(bytes: &[u8], run: &DigitRun, out: &mut Vec<Finding>) {
    if !(2..=run.groups.len()).contains(&run.group_count) || run.len > run.digits.len() {
        return;
    }
    let groups = &run.groups[..run.group_count];
    // Digit index where each group starts, plus the total at the end.
    let mut offsets = [0usize; 9];
    for (k, &(s, e)) in groups.iter().enumerate() {
        offsets[k + 1] = offsets[k] + (e - s);
    }
    for a in 0..groups.len() {
        for b in a + 1..=groups.len() {
            if (a, b) == (0, groups.len()) {
                continue;
            }
            let digits = &run.digits[offsets[a]..offsets[b]];
            if !(12..=19).contains(&digits.len()) || is_card(digits).is_none() {
                continue;
            }
            let (start, end) = (groups[a].0, groups[b - 1].1);
            let (score, reason) = if keyword_before(bytes, start, 40, CARD_KEYWORDS) {
                (0.9, "card: IIN, length and Luhn valid inside a longer digit run; card keyword nearby")
            } else {
                (0.8, "card: IIN, length and Luhn valid inside a longer digit run")
            };
            out.push(Finding { kind: Kind::Card, start, end, score, reason });
        }
    }
}

/// Whether one of `keywords` (lower-case ASCII) starts a word within `window`
/// bytes before `pos`, case-insensitively. The word-start rule keeps `aba`
/// from matching inside `database`.
fn keyword_before(bytes: &[u8], pos: usize, window: usize, keywords: &[&[u8]]) -> bool {
    let lo = pos.saturating_sub(window);
    let hay = &bytes[lo..pos];
    keywords.iter().any(|kw| {
        hay.windows(kw.len()).enumerate().any(|(off, w)| {
            let at = lo + off;
            w.eq_ignore_ascii_case(kw) && (at == 0 || !bytes[at - 1].is_ascii_alphabetic())
        })
    })
}

// ---------------------------------------------------------------------------
// Words: PAN, IBAN
// ---------------------------------------------------------------------------

fn scan_words(bytes: &[u8], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        // `i` starts a word (the previous byte, if any, is not alphanumeric).
        if let Some(end) = iban_at(bytes, i) {
            out.push(Finding { kind: Kind::Iban, start: i, end, score: 0.95, reason: "iban: length and mod-97 valid" });
        }
        let mut end = i;
        while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
            end += 1;
        }
        if end - i == 10 && pan(&bytes[i..end]) {
            out.push(Finding {
                kind: Kind::Pan,
                start: i,
                end,
                score: 0.85,
                reason: "pan: AAAAA9999A with valid status",
            });
        }
        i = end;
    }
}

/// End of a valid IBAN starting at `start`, in electronic form or printed in
/// groups of four separated by single spaces.
fn iban_at(bytes: &[u8], start: usize) -> Option<usize> {
    let head = bytes.get(start..start + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let expected = iban_length([head[0], head[1]])?;
    let is_iban_char = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let mut buf = [0u8; 34];
    let (mut n, mut group, mut j) = (0, 0, start);
    // Reading exactly the country's length means a following word is never
    // swallowed, whatever it looks like.
    while n < expected.min(buf.len()) {
        match bytes.get(j) {
            Some(b) if is_iban_char(b) => {
                buf[n] = *b;
                n += 1;
                group += 1;
                j += 1;
            }
            Some(b' ') if group == 4 && bytes.get(j + 1).is_some_and(is_iban_char) => {
                group = 0;
                j += 1;
            }
            _ => return None,
        }
    }
    let bounded = !bytes.get(j).is_some_and(u8::is_ascii_alphanumeric);
    (n == expected && bounded && iban(&buf[..n])).then_some(j)
}

// ---------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------

fn scan_emails(bytes: &[u8], out: &mut Vec<Finding>) {
    let is_local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    for (at, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b'@') {
        let mut start = at;
        while start > 0 && is_local(bytes[start - 1]) {
            start -= 1;
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        if start == at {
            continue;
        }
        if let Some(end) = domain_end(bytes, at + 1) {
            out.push(Finding { kind: Kind::Email, start, end, score: 0.95, reason: "email: local@domain.tld" });
        }
    }
}

/// End of a domain of at least two labels with an alphabetic TLD of two or
/// more letters, starting at `start`.
fn domain_end(bytes: &[u8], start: usize) -> Option<usize> {
    let is_label = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-';
    let (mut j, mut labels) = (start, 0);
    let tld_start = loop {
        let label_start = j;
        while bytes.get(j).is_some_and(is_label) {
            j += 1;
        }
        if j == label_start {
            return None;
        }
        labels += 1;
        if bytes.get(j) == Some(&b'.') && bytes.get(j + 1).is_some_and(u8::is_ascii_alphanumeric) {
            j += 1;
        } else {
            break label_start;
        }
    };
    let tld = &bytes[tld_start..j];
    (labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some(j)
}

// ---------------------------------------------------------------------------
// Overlaps
// ---------------------------------------------------------------------------

/// Greedy: best finding first; a finding is kept if it overlaps none kept so
/// far. `kept` is keyed by start and disjoint, so only the nearest kept
/// finding on each side can overlap: O(n log n) even for a document full of
/// e-mail addresses.
fn resolve_overlaps(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then(a.kind.priority().cmp(&b.kind.priority())).then(a.start.cmp(&b.start))
    });
    let mut kept: BTreeMap<usize, Finding> = BTreeMap::new();
    for f in found {
        let overlaps_prev = kept.range(..=f.start).next_back().is_some_and(|(_, k)| k.end > f.start);
        let overlaps_next = kept.range(f.start..).next().is_some_and(|(_, k)| k.start < f.end);
        if !overlaps_prev && !overlaps_next {
            kept.insert(f.start, f);
        }
    }
    kept.into_values().collect()
}
