//! Written numbers: a run of digit groups (`4111 1111 1111 1111`,
//! `(415) 555-0132`, `+91 98765 43210`, `03/14/1985`), words that mix
//! letters and digits (PAN, IBAN, passport), dates with month names, and
//! the classification of a digit string into the kinds it can be.
//!
//! Classification is shared with spoken runs ([`crate::spoken`]): a digit
//! string with its [`Shape`] and its context [`Window`] yields every kind it
//! is valid for, each scored; the caller's overlap resolution picks one.

use crate::context::{Ctx, Window};
use crate::scan::{Finding, Kind};
use crate::validate::{aadhaar, aba_routing, is_card, ssn_digits};

/// Most digits kept from one written run.
pub(crate) const RUN_DIGITS: usize = 32;
/// Most groups recorded in one written run.
const GROUPS: usize = 8;

/// How a digit string was written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shape {
    /// Digit count of each group (only the first [`GROUPS`]).
    pub(crate) groups: [u8; GROUPS],
    pub(crate) group_count: usize,
    /// The separator byte when all separators are the same single byte.
    pub(crate) sep: Option<u8>,
    /// Preceded by `+` (international phone form).
    pub(crate) plus: bool,
    /// The first group is in parentheses (`(415) 555-0132`).
    pub(crate) paren: bool,
    /// Spoken, not written: grouping carries no meaning.
    pub(crate) spoken: bool,
}

impl Shape {
    fn is(&self, shape: &[u8], seps: &[u8]) -> bool {
        self.group_count == shape.len()
            && self.groups[..self.group_count.min(GROUPS)] == *shape
            && self.sep.is_some_and(|s| seps.contains(&s))
    }

    fn plain(&self) -> bool {
        self.group_count == 1 && !self.plus && !self.paren
    }
}

/// A maximal run of digit groups with single separators between them.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) digits: [u8; RUN_DIGITS],
    /// Total digit count (may exceed the buffer: then nothing is reported).
    pub(crate) len: usize,
    /// Byte ranges of the first groups.
    pub(crate) spans: [(usize, usize); GROUPS],
    /// The separator byte after each of the first groups.
    pub(crate) seps: [u8; GROUPS],
    pub(crate) shape: Shape,
}

impl Run {
    pub(crate) fn digits(&self) -> &[u8] {
        &self.digits[..self.len.min(RUN_DIGITS)]
    }
}

/// Reads the run of digit groups starting at the digit `start`. A `+` or
/// `(` just before it belongs to the run (phone forms); so do parentheses
/// around a later group (`+1 (415) 555-0132`).
pub(crate) fn read_run(bytes: &[u8], start: usize) -> Run {
    let mut run = Run {
        start,
        end: start,
        digits: [0; RUN_DIGITS],
        len: 0,
        spans: [(0, 0); GROUPS],
        seps: [0; GROUPS],
        shape: Shape::default(),
    };
    if start > 0 && bytes[start - 1] == b'+' && (start < 2 || !bytes[start - 2].is_ascii_alphanumeric()) {
        run.start = start - 1;
        run.shape.plus = true;
    }
    let mut in_paren = start > 0 && bytes[start - 1] == b'(';
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
        let g = run.shape.group_count;
        if let Some(slot) = run.spans.get_mut(g) {
            *slot = (group_start, j);
        }
        if let Some(slot) = run.shape.groups.get_mut(g) {
            *slot = (j - group_start).min(255) as u8;
        }
        run.shape.group_count += 1;
        // `(415) 555-0132`: a parenthesised group of three and its `)`.
        if std::mem::take(&mut in_paren) && j - group_start == 3 && bytes.get(j) == Some(&b')') {
            let k = if matches!(bytes.get(j + 1), Some(b' ' | b'-')) { j + 2 } else { j + 1 };
            if bytes.get(k).is_some_and(u8::is_ascii_digit) {
                if g == 0 && !run.shape.plus {
                    run.start = group_start - 1;
                }
                run.shape.paren = true;
                j = k;
                continue;
            }
        }
        // `+44 (0)20 …`: the national trunk prefix, written but not dialled.
        if run.shape.plus && g == 0 && bytes.get(j..j + 4) == Some(b" (0)") {
            let k = if bytes.get(j + 4) == Some(&b' ') { j + 5 } else { j + 4 };
            if bytes.get(k).is_some_and(u8::is_ascii_digit) {
                j = k;
                continue;
            }
        }
        // `+1 (415)`: an opening parenthesis after the country code.
        if run.shape.plus && g == 0 && bytes.get(j..j + 2) == Some(b" (") {
            if bytes.get(j + 2).is_some_and(u8::is_ascii_digit) {
                in_paren = true;
                j += 2;
                continue;
            }
            break;
        }
        match (bytes.get(j), bytes.get(j + 1)) {
            (Some(&sep @ (b' ' | b'-' | b'.' | b'/')), Some(next)) if next.is_ascii_digit() => {
                if let Some(slot) = run.seps.get_mut(g) {
                    *slot = sep;
                }
                match run.shape.sep {
                    None if !mixed => run.shape.sep = Some(sep),
                    Some(s) if s != sep => {
                        run.shape.sep = None;
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

/// End of a phone extension (`ext. 204`, `x204`, `extension 204`) right
/// after a phone number ending at `end`.
pub(crate) fn extension_end(bytes: &[u8], end: usize) -> Option<usize> {
    let mut i = end;
    if bytes.get(i) == Some(&b',') {
        i += 1;
    }
    while bytes.get(i) == Some(&b' ') && i - end < 3 {
        i += 1;
    }
    let rest = bytes.get(i..)?;
    let word = [&b"extension"[..], b"ext", b"x"].into_iter().find(|w| {
        rest.len() >= w.len()
            && rest[..w.len()].eq_ignore_ascii_case(w)
            && !rest.get(w.len()).is_some_and(u8::is_ascii_alphabetic)
    })?;
    i += word.len();
    if bytes.get(i) == Some(&b'.') {
        i += 1;
    }
    while bytes.get(i) == Some(&b' ') && i - end < 16 {
        i += 1;
    }
    let ds = i;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    ((1..=6).contains(&(i - ds)) && !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric)).then_some(i)
}

const MONTHS: [&[u8]; 12] = [
    b"january",
    b"february",
    b"march",
    b"april",
    b"may",
    b"june",
    b"july",
    b"august",
    b"september",
    b"october",
    b"november",
    b"december",
];

/// Month number (1-12) of a month name or its three-letter abbreviation
/// (`sept` too).
fn month(w: &[u8]) -> Option<u8> {
    if w.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| {
            w.len() <= m.len()
                && m[..w.len()].eq_ignore_ascii_case(w)
                && (w.len() == 3 || w.len() == m.len() || w.eq_ignore_ascii_case(b"sept"))
        })
        .map(|k| k as u8 + 1)
}

pub(crate) fn number(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |n, &b| n.saturating_mul(10).saturating_add(u32::from(b.wrapping_sub(b'0'))))
}

fn digits_at(bytes: &[u8], i: usize) -> usize {
    let mut j = i;
    while bytes.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    j
}

fn letters_at(bytes: &[u8], i: usize) -> usize {
    let mut j = i;
    while bytes.get(j).is_some_and(u8::is_ascii_alphabetic) {
        j += 1;
    }
    j
}

fn skip(bytes: &[u8], mut i: usize, set: &[u8]) -> usize {
    while bytes.get(i).is_some_and(|b| set.contains(b)) {
        i += 1;
    }
    i
}

fn plausible_year(y: u32) -> bool {
    (1900..=2099).contains(&y)
}

/// A date written with a month name around the day number at `day`:
/// `14 March 1985`, `14th of March, 1985`, `March 14, 1985`, `Mar 14th 1985`.
/// Returns its byte range.
pub(crate) fn textual_date(bytes: &[u8], day: usize) -> Option<(usize, usize)> {
    let day_end = digits_at(bytes, day);
    if !(1..=2).contains(&(day_end - day)) || !(1..=31).contains(&number(&bytes[day..day_end])) {
        return None;
    }
    let mut i = day_end;
    let suffix_end = letters_at(bytes, i);
    if suffix_end > i {
        let suffix = &bytes[i..suffix_end];
        if ![&b"st"[..], b"nd", b"rd", b"th"].iter().any(|s| suffix.eq_ignore_ascii_case(s)) {
            return None;
        }
        i = suffix_end;
    }
    let year_after = |from: usize| -> Option<usize> {
        let y = skip(bytes, from, b", ");
        let ye = digits_at(bytes, y);
        (ye - y == 4 && plausible_year(number(&bytes[y..ye])) && !bytes.get(ye).is_some_and(u8::is_ascii_alphanumeric))
            .then_some(ye)
    };
    // Day first: `14 March 1985`, `14th of March 1985`.
    let mut m = skip(bytes, i, b" ");
    if bytes.get(m..m + 3).is_some_and(|w| w.eq_ignore_ascii_case(b"of ")) {
        m += 3;
    }
    let me = letters_at(bytes, m);
    if m > i && month(&bytes[m..me]).is_some() {
        let after = if bytes.get(me) == Some(&b'.') { me + 1 } else { me };
        if let Some(end) = year_after(after) {
            return Some((day, end));
        }
    }
    // Month first: `March 14, 1985`.
    let mut b = day;
    while b > 0 && bytes[b - 1] == b' ' && day - b < 2 {
        b -= 1;
    }
    if b < day && b > 0 {
        let mut ms = b;
        if bytes[ms - 1] == b'.' {
            ms -= 1;
        }
        let me = ms;
        while ms > 0 && bytes[ms - 1].is_ascii_alphabetic() && me - ms < 10 {
            ms -= 1;
        }
        if (ms == 0 || !bytes[ms - 1].is_ascii_alphanumeric()) && month(&bytes[ms..me]).is_some() {
            if let Some(end) = year_after(i) {
                return Some((ms, end));
            }
        }
    }
    None
}

/// A candidate digit string for [`classify`].
pub(crate) struct Cand<'a> {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) digits: &'a [u8],
    pub(crate) shape: Shape,
    /// A card number ended shortly before, on the same line.
    pub(crate) near_card: bool,
}

/// The context classes that compete for a plain number.
const PLAIN_RIVALS: &[Ctx] = &[
    Ctx::Ssn,
    Ctx::Aba,
    Ctx::Bank,
    Ctx::Phone,
    Ctx::Passport,
    Ctx::Cvv,
    Ctx::Expiry,
    Ctx::Dob,
    Ctx::Aadhaar,
    Ctx::Card,
];

/// The context classes that compete for a short code (CVV, expiry).
const CODE_RIVALS: &[Ctx] = &[Ctx::Cvv, Ctx::Expiry, Ctx::Dob, Ctx::Phone, Ctx::Bank, Ctx::Ssn, Ctx::Passport];

/// Pushes every kind `c` is valid for onto `out`; returns how many.
pub(crate) fn classify(bytes: &[u8], c: &Cand<'_>, w: &Window, out: &mut Vec<Finding>) -> usize {
    let before = out.len();
    let d = c.digits;
    let n = d.len();
    let s = &c.shape;
    let spoken = s.spoken;
    let mut push = |kind: Kind, score: f32, reason: &'static str| {
        out.push(Finding { kind, start: c.start, end: c.end, score: score.min(1.0), reason, spoken, pattern: 0 });
    };
    // The context kind whose keyword is nearest gets a bonus, so a plain
    // 9-digit number after "routing" is ABA, after "social" an SSN.
    let nearest = |ctx: Ctx| w.nearest_of(ctx, PLAIN_RIVALS);
    let bonus = |ctx: Ctx| if nearest(ctx) { 0.1 } else { 0.0 };
    // Any grouping, even mixed separators: IIN + length + Luhn is strong.
    let card_like_shape = !s.plus && !s.paren;

    // Cards: IIN + length + Luhn.
    let card = (12..=19).contains(&n) && card_like_shape && is_card(d).is_some();
    if card {
        let aadhaar_ctx = n == 12 && aadhaar(d) && w.has(Ctx::Aadhaar);
        if w.has(Ctx::Card) || w.has(Ctx::Cvv) || w.has(Ctx::Expiry) {
            push(
                Kind::Card,
                1.0,
                if spoken {
                    "card (spoken): IIN, length and Luhn valid; card keyword nearby"
                } else {
                    "card: IIN, length and Luhn valid; card keyword nearby"
                },
            );
        } else if aadhaar_ctx || w.negated(Ctx::Card, bytes) {
            // An Aadhaar that happens to pass Luhn, or an order number.
        } else {
            push(
                Kind::Card,
                0.9,
                if spoken { "card (spoken): IIN, length and Luhn valid" } else { "card: IIN, length and Luhn valid" },
            );
        }
    }

    // SSN.
    if n == 9 && ssn_digits(d) {
        let grouped = s.is(&[3, 2, 4], b" -");
        if w.has(Ctx::Ssn) && (grouped || s.plain() || spoken) && !w.negated(Ctx::Ssn, bytes) {
            push(Kind::Ssn, 0.82 + bonus(Ctx::Ssn), "ssn: valid area/group/serial; SSN keyword nearby");
        } else if grouped && !w.negated(Ctx::Ssn, bytes) {
            push(Kind::Ssn, 0.85, "ssn: 3-2-4 grouping, valid area/group/serial");
        }
    }

    // ABA routing number.
    if n == 9 && (s.plain() || spoken) && aba_routing(d) && w.has(Ctx::Aba) && !w.negated(Ctx::Aba, bytes) {
        push(Kind::AbaRouting, 0.83 + bonus(Ctx::Aba), "aba: prefix and check digit valid; routing keyword nearby");
    }

    // Aadhaar.
    if n == 12 && (s.plain() || spoken || s.is(&[4, 4, 4], b" -")) && aadhaar(d) {
        if w.has(Ctx::Aadhaar) {
            push(Kind::Aadhaar, 0.95 + bonus(Ctx::Aadhaar), "aadhaar: Verhoeff valid; Aadhaar keyword nearby");
        } else if !card && !w.negated(Ctx::Aadhaar, bytes) && !nearest_other(w) {
            push(Kind::Aadhaar, 0.85, "aadhaar: Verhoeff valid");
        }
    }

    // Passport: 9 digits (US) with the keyword.
    if (8..=9).contains(&n) && (s.plain() || spoken) && w.has(Ctx::Passport) && !w.negated(Ctx::Passport, bytes) {
        push(Kind::Passport, 0.8 + bonus(Ctx::Passport), "passport: number shape; passport keyword nearby");
    }

    // Bank account number with the keyword.
    if (8..=17).contains(&n)
        && (s.plain() || spoken || s.sep.is_some_and(|x| x == b' ' || x == b'-'))
        && w.has(Ctx::Bank)
        && !w.negated(Ctx::Bank, bytes)
    {
        // Below an unkeyed card (0.9): a card-valid number is handled as a card.
        push(Kind::BankAccount, 0.78 + bonus(Ctx::Bank), "bank account: 8-17 digits; account keyword nearby");
    }

    // Phone numbers.
    if let Some((score, reason)) = phone(d, s, w, bytes) {
        push(Kind::Phone, score, reason);
    }

    // CVV: 3-4 digits with the keyword (card words do not compete: "the
    // code on the back of the card"), or right after a card number.
    if (3..=4).contains(&n) && (s.plain() || spoken) {
        if w.fresh(Ctx::Cvv, bytes) && w.nearest_of(Ctx::Cvv, CODE_RIVALS) {
            push(Kind::Cvv, 0.9, "cvv: 3-4 digits; security-code keyword nearby");
        } else if c.near_card && !w.has(Ctx::Expiry) && !w.has(Ctx::Phone) {
            push(Kind::Cvv, 0.7, "cvv: 3-4 digits right after a card number");
        }
    }

    // Expiry: MM/YY, MM/YYYY, MM-YY, MM YY, MMYY (spoken).
    if let Some(score) = expiry(d, s, w, bytes, c.near_card) {
        push(Kind::Expiry, score, "expiry: valid month and year; card or expiry keyword nearby");
    }

    // Date of birth: DD/MM/YYYY, MM/DD/YYYY, YYYY-MM-DD with the keyword.
    if w.has(Ctx::Dob) && numeric_date(d, s) && !w.negated(Ctx::Dob, bytes) {
        push(Kind::Dob, 0.9, "dob: valid date; birth keyword nearby");
    }
    out.len() - before
}

/// Whether a keyword of a kind that is *not* Aadhaar is nearest (a plain
/// 12-digit number after "account number" is an account, not an Aadhaar).
fn nearest_other(w: &Window) -> bool {
    [Ctx::Bank, Ctx::Phone, Ctx::Passport, Ctx::Ssn, Ctx::Aba].iter().any(|&c| w.nearest_of(c, PLAIN_RIVALS))
}

fn nanp(d: &[u8]) -> bool {
    d.len() == 10 && (b'2'..=b'9').contains(&d[0]) && (b'2'..=b'9').contains(&d[3])
}

fn india_mobile(d: &[u8]) -> bool {
    d.len() == 10 && (b'6'..=b'9').contains(&d[0])
}

fn phone(d: &[u8], s: &Shape, w: &Window, bytes: &[u8]) -> Option<(f32, &'static str)> {
    let n = d.len();
    let ctx = w.has(Ctx::Phone) && w.nearest_of(Ctx::Phone, PLAIN_RIVALS);
    if w.negated(Ctx::Phone, bytes) {
        return None;
    }
    let seps = b" -.";
    let formatted = if s.plus {
        // +CC then 7-14 more digits; a +1 number must be NANP.
        (8..=15).contains(&n) && (d[0] != b'1' || nanp(&d[1..]))
    } else if s.paren {
        // (415) 555-0132, or 1 (415) 555-0132.
        (n == 10 && nanp(d)) || (n == 11 && d[0] == b'1' && nanp(&d[1..]))
    } else if s.spoken {
        false
    } else {
        (s.is(&[3, 3, 4], seps) && nanp(d))
            || (s.is(&[1, 3, 3, 4], seps) && d[0] == b'1' && nanp(&d[1..]))
            || (s.is(&[5, 5], b" -") && india_mobile(d))
            || (s.is(&[6, 5], b" -") && d[0] == b'0' && india_mobile(&d[1..]))
            || (s.is(&[3, 4, 4], b" -") && d[0] == b'0' && d[1] != b'0')
            || (s.is(&[4, 3, 4], b" -") && d[0] == b'0' && d[1] != b'0')
            || (s.is(&[5, 6], b" -") && d[0] == b'0' && d[1] == b'7')
            || (s.is(&[4, 4], b" -") && ctx)
    };
    if formatted {
        return Some(if ctx {
            (0.95, "phone: number format; phone keyword nearby")
        } else {
            (0.85, "phone: number format")
        });
    }
    // Unformatted numbers are phones only when the conversation says so.
    let plain = s.plain() || s.spoken;
    let national = nanp(d)
        || india_mobile(d)
        || (n == 11 && d[0] == b'1' && nanp(&d[1..]))
        || (n == 11 && d[0] == b'0')
        || (n == 12 && d.starts_with(b"91") && india_mobile(&d[2..]))
        || (n == 12 && d.starts_with(b"44"));
    (plain && ctx && national).then_some((0.9, "phone: national number; phone keyword nearby"))
}

fn expiry(d: &[u8], s: &Shape, w: &Window, bytes: &[u8], near_card: bool) -> Option<f32> {
    let (mm, yy) = match d.len() {
        4 => (&d[..2], &d[2..]),
        6 => (&d[..2], &d[2..]),
        3 if s.groups[0] == 1 && s.group_count == 2 => (&d[..1], &d[1..]),
        _ => return None,
    };
    let m = number(mm);
    let year_ok = if yy.len() == 4 { (2000..=2099).contains(&number(yy)) } else { true };
    if !(1..=12).contains(&m) || !year_ok {
        return None;
    }
    let slash_shape = s.group_count == 2 && s.sep.is_some_and(|x| x == b'/' || x == b'-');
    let space_shape = s.group_count == 2 && s.sep == Some(b' ') && s.groups[0] == 2;
    let keyword = w.fresh(Ctx::Expiry, bytes) && w.nearest_of(Ctx::Expiry, CODE_RIVALS);
    if keyword && (slash_shape || space_shape || s.plain() || s.spoken) {
        return Some(0.92);
    }
    if slash_shape && (near_card || (w.has(Ctx::Card) && !w.has(Ctx::Dob))) {
        return Some(0.8);
    }
    None
}

fn numeric_date(d: &[u8], s: &Shape) -> bool {
    let seps = b"/-.";
    let valid = |m: u32, day: u32| (1..=12).contains(&m) && (1..=31).contains(&day);
    let g = &s.groups[..s.group_count.min(GROUPS)];
    if s.group_count != 3 || !s.sep.is_some_and(|x| seps.contains(&x)) {
        return false;
    }
    let (a, b, c) = (usize::from(g[0]), usize::from(g[1]), usize::from(g[2]));
    if a == 4 && (1..=2).contains(&b) && (1..=2).contains(&c) {
        let y = number(&d[..4]);
        return plausible_year(y) && valid(number(&d[4..4 + b]), number(&d[4 + b..]));
    }
    if (1..=2).contains(&a) && (1..=2).contains(&b) && c == 4 {
        let (x, y) = (number(&d[..a]), number(&d[a..a + b]));
        return plausible_year(number(&d[a + b..])) && (valid(x, y) || valid(y, x));
    }
    false
}
