//! Context keywords: the words around a candidate that say what it is
//! ("social security", "routing", "date of birth", "order number").
//!
//! A keyword counts when it starts a word in the *context window* of a
//! candidate: the candidate's own line and the line before it (on a call
//! transcript, the other speaker's question), at most [`WINDOW`] bytes back.
//!
//! Finding the keywords is the one part of the scan that looks at ordinary
//! words, so it is done lazily and incrementally: [`Context`] remembers how
//! far it has read and the start of the latest keyword of each class, and
//! only the bytes between the previous candidate and this one (at most
//! [`WINDOW`]) are read again. A page full of PII reads every byte about
//! once; a page without PII is never read here at all.

use crate::scan::Kind;
use crate::swar::{fold3, has_slot, load8, masks64, slot3, with_slot};

/// How far back (bytes) a keyword may be from the candidate.
pub const WINDOW: usize = 256;

/// Keyword classes. The order is the index into [`Context`]'s table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    Card = 0,
    Cvv,
    Expiry,
    Ssn,
    Aadhaar,
    Aba,
    Bank,
    Phone,
    Dob,
    Passport,
    Pan,
    /// Words that say a number is *not* PII: order, tracking, ticket, …
    Negative,
    /// A custom pattern's own keywords.
    Custom,
}

const N_CTX: usize = 13;

/// The context class whose keywords support `kind`.
pub(crate) fn ctx_of(kind: Kind) -> Option<Ctx> {
    Some(match kind {
        Kind::Card => Ctx::Card,
        Kind::Cvv => Ctx::Cvv,
        Kind::Expiry => Ctx::Expiry,
        Kind::Ssn => Ctx::Ssn,
        Kind::Aadhaar => Ctx::Aadhaar,
        Kind::AbaRouting => Ctx::Aba,
        Kind::BankAccount => Ctx::Bank,
        Kind::Phone => Ctx::Phone,
        Kind::Dob => Ctx::Dob,
        Kind::Passport => Ctx::Passport,
        Kind::Pan => Ctx::Pan,
        Kind::Custom => Ctx::Custom,
        Kind::Iban | Kind::Email => return None,
    })
}

const BUILT_IN: &[(Ctx, &[&str])] = &[
    (
        Ctx::Card,
        &["card", "visa", "mastercard", "amex", "credit", "debit", "rupay", "discover", "maestro", "cc", "ccn"],
    ),
    (
        Ctx::Cvv,
        &[
            "cvv",
            "cvv2",
            "cvc",
            "cvc2",
            "cid",
            "security code",
            "verification code",
            "card code",
            "three digit",
            "three-digit",
            "3 digit",
            "3-digit",
            "four digit code",
            "digits on the back",
            "back of the card",
            "back of your card",
        ],
    ),
    (
        Ctx::Expiry,
        &[
            "exp",
            "expiry",
            "expiration",
            "expires",
            "expire",
            "expiring",
            "valid thru",
            "valid through",
            "valid till",
            "good thru",
        ],
    ),
    (Ctx::Ssn, &["ssn", "social security", "social", "ss number", "ss#", "soc sec", "soc. sec", "social sec"]),
    (Ctx::Aadhaar, &["aadhaar", "aadhar", "adhaar", "uidai", "uid"]),
    (Ctx::Aba, &["routing", "aba", "rtn", "transit number"]),
    (
        Ctx::Bank,
        &[
            "account number",
            "account no",
            "acct",
            "a/c",
            "bank account",
            "checking account",
            "savings account",
            "account #",
        ],
    ),
    (
        Ctx::Phone,
        &[
            "phone",
            "mobile",
            "cell",
            "telephone",
            "call me",
            "call back",
            "callback",
            "reach me",
            "contact number",
            "my number",
            "whatsapp",
            "landline",
            "tel",
            "call",
            "call you",
            "reach",
            "contact",
            "text me",
            "sms",
            "callback number",
        ],
    ),
    (Ctx::Dob, &["date of birth", "dob", "d.o.b", "born", "birth", "birthday", "birth date", "birthdate"]),
    (Ctx::Passport, &["passport"]),
    (Ctx::Pan, &["pan", "permanent account"]),
    (
        Ctx::Negative,
        &[
            "order",
            "tracking",
            "reference",
            "ref",
            "ticket",
            "confirmation",
            "invoice",
            "claim",
            "booking reference",
            "booking id",
            "booking number",
            "case number",
            "case id",
            "case no",
            "policy number",
            "policy no",
            "transaction",
            "txn",
            "awb",
            "consignment",
            "shipment",
            "serial",
            "imei",
            "model",
            "member id",
            "customer id",
            "employee id",
            "pnr",
            "receipt",
            "voucher",
            "coupon",
            "promo",
        ],
    ),
];

/// Compiled keyword lists: built-ins plus the caller's extras, bucketed by
/// their first two bytes so each word of the text is compared with few
/// keywords, all in one flat array.
#[derive(Debug, Clone)]
pub(crate) struct Keywords {
    /// Keywords (lower case) with their class, grouped by bucket, longest
    /// first within a bucket.
    entries: Vec<(Box<[u8]>, Ctx)>,
    /// For each entry, its first 8 bytes as a word and the mask of their
    /// length: one compare settles most words.
    prefixes: Vec<(u64, u64)>,
    /// `entries[first[k]..first[k + 1]]` is bucket `k`.
    first: Vec<u16>,
    /// Bit `second` of `nonempty[first]` set when that bucket has keywords:
    /// the common case, no keyword, costs one load.
    nonempty: [u32; 27],
    /// The hashed first three bytes of every keyword of three bytes or more
    /// ([`slot3`]): one bit test dismisses almost every word of the text.
    trigrams: [u64; 16],
    /// As `nonempty`, for the buckets holding a keyword shorter than three
    /// bytes (`cc`), which the trigram set cannot hold.
    short: [u32; 27],
    /// Longest keyword, for the streaming margins.
    pub(crate) longest: usize,
}

impl Keywords {
    pub(crate) fn new(extra: &[(Kind, String)]) -> Self {
        Self::build(BUILT_IN, extra)
    }

    /// Only the given keywords (a custom pattern's own list).
    pub(crate) fn custom(extra: &[(Kind, String)]) -> Self {
        Self::build(&[], extra)
    }

    fn build(built_in: &[(Ctx, &[&str])], extra: &[(Kind, String)]) -> Self {
        let mut all: Vec<(Box<[u8]>, Ctx)> = Vec::new();
        for (ctx, words) in built_in {
            all.extend(words.iter().map(|w| (w.as_bytes().to_ascii_lowercase().into(), *ctx)));
        }
        for (kind, w) in extra {
            if let Some(ctx) = ctx_of(*kind) {
                all.push((w.trim().as_bytes().to_ascii_lowercase().into(), ctx));
            }
        }
        all.retain(|(kw, _)| !kw.is_empty());
        // By bucket, then longer keywords first, so `account number` is tried
        // before `acct` would be; the first match at a word start wins.
        all.sort_by_key(|(kw, _)| (bucket(kw), std::cmp::Reverse(kw.len())));
        let longest = all.iter().map(|(kw, _)| kw.len()).max().unwrap_or(0);
        let mut first = vec![0u16; BUCKETS + 1];
        let mut nonempty = [0u32; 27];
        let mut trigrams = [0u64; 16];
        let mut short = [0u32; 27];
        for (kw, _) in &all {
            let k = bucket(kw);
            first[k + 1] += 1;
            nonempty[k / 27] |= 1 << (k % 27);
            match <&[u8; 3]>::try_from(&kw[..kw.len().min(3)]) {
                Ok(w) => trigrams = with_slot(trigrams, slot3(fold3(w))),
                Err(_) => short[k / 27] |= 1 << (k % 27),
            }
        }
        for k in 0..BUCKETS {
            first[k + 1] += first[k];
        }
        let prefixes = all
            .iter()
            .map(|(kw, _)| {
                // Folded like the text in `keyword_at` (`_` and `@` lack
                // the 0x20 bit: without this they never matched).
                let mut b = [0u8; 8];
                let n = kw.len().min(8);
                for (d, s) in b.iter_mut().zip(&kw[..n]) {
                    *d = s | 0x20;
                }
                let mask = if n == 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
                (u64::from_le_bytes(b), mask)
            })
            .collect();
        Keywords { entries: all, prefixes, first, nonempty, trigrams, short, longest }
    }
}

/// Incremental keyword state over one text; see the module docs.
pub(crate) struct Context<'k> {
    kw: &'k Keywords,
    /// Bytes before this offset have been read.
    read: usize,
    /// Start and end of the latest keyword of each class read so far
    /// ([`UNSEEN`] for none).
    last: [(usize, usize); N_CTX],
    /// The previous query and the lower bound of its window's line part
    /// (start of the line before it, or a bound at most that): a query on
    /// the same line reuses it instead of searching for line breaks.
    line_pos: usize,
    line_floor: usize,
}

impl<'k> Context<'k> {
    pub(crate) fn new(kw: &'k Keywords) -> Self {
        Context { kw, read: 0, last: [UNSEEN; N_CTX], line_pos: 0, line_floor: 0 }
    }

    /// Start of the context window of a candidate at `pos`: the start of
    /// the previous line, at most [`WINDOW`] bytes back.
    fn window_start(&mut self, bytes: &[u8], pos: usize) -> usize {
        let floor = pos.saturating_sub(WINDOW);
        let same_line = pos >= self.line_pos && memchr::memchr(b'\n', &bytes[self.line_pos..pos]).is_none();
        if !same_line {
            let mut newlines = memchr::memrchr_iter(b'\n', &bytes[floor..pos]);
            self.line_floor = match (newlines.next(), newlines.next()) {
                (Some(_), Some(second)) => floor + second + 1,
                // The line before starts further back than the window: the
                // window's own bound applies to every query on this line.
                _ => floor,
            };
        }
        self.line_pos = pos;
        self.line_floor.max(floor)
    }

    /// The context of a candidate starting at `pos`: reads the keywords up to
    /// `pos` and returns the window's lower bound with the keyword table.
    #[inline(never)]
    pub(crate) fn at(&mut self, bytes: &[u8], pos: usize) -> Window {
        let lo = self.window_start(bytes, pos);
        if pos > self.read {
            let from = self.read.max(lo.saturating_sub(self.kw.longest));
            if from > self.read {
                self.last = [UNSEEN; N_CTX];
            }
            self.read_words(bytes, from, pos);
            self.read = pos;
        }
        Window { pos, lo, last: self.last }
    }

    /// Records the keywords starting at word starts in `from..to`. Word
    /// starts come from the vector byte classes of 64-byte blocks
    /// ([`masks64`]); most are dismissed by the trigram set.
    fn read_words(&mut self, bytes: &[u8], from: usize, to: usize) {
        // A word cut by `from` is not a word start.
        let mut prev = from > 0 && bytes[from - 1].is_ascii_alphanumeric();
        let mut i = from;
        while i < to {
            let n = (to - i).min(64);
            let m = match bytes.get(i..i + 64) {
                Some(b) => masks64(b.try_into().unwrap_or(&[0; 64])),
                None => {
                    let mut pad = [0u8; 64];
                    pad[..n].copy_from_slice(&bytes[i..i + n]);
                    masks64(&pad)
                }
            };
            let valid = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            let alnum = (m.letters | m.digits) & valid;
            let mut starts = alnum & !((alnum << 1) | u64::from(prev));
            while starts != 0 {
                let j = i + starts.trailing_zeros() as usize;
                starts &= starts - 1;
                // The word's first three bytes against the keyword trigram
                // set; shorter keywords by their two-byte bucket.
                let candidate = match bytes.get(j..j + 3).and_then(|w| <&[u8; 3]>::try_from(w).ok()) {
                    Some(w) if j + 3 <= to => {
                        has_slot(&self.kw.trigrams, slot3(fold3(w))) || {
                            let a = usize::from(CLASS[usize::from(w[0])]);
                            self.kw.short[a] >> CLASS[usize::from(w[1])] & 1 == 1
                        }
                    }
                    _ => true,
                };
                if candidate {
                    self.keyword_at(bytes, j, to);
                }
            }
            prev = alnum >> 63 == 1;
            i += 64;
        }
    }

    #[inline]
    fn keyword_at(&mut self, bytes: &[u8], i: usize, to: usize) {
        let k = bucket(&bytes[i..to]);
        if self.kw.nonempty[k / 27] & (1 << (k % 27)) == 0 {
            return;
        }
        // The text's next 8 bytes with letters folded to lower case (every
        // byte a keyword may hold has the 0x20 bit already).
        let word = bytes.get(i..i + 8).map(|b| load8(b) | 0x2020_2020_2020_2020);
        let (a, b) = (usize::from(self.kw.first[k]), usize::from(self.kw.first[k + 1]));
        for e in a..b {
            let (kw, ctx) = &self.kw.entries[e];
            let (prefix, mask) = self.kw.prefixes[e];
            if word.is_some_and(|w| w & mask != prefix) {
                continue;
            }
            let end = i + kw.len();
            if end <= to
                && bytes[i..end].eq_ignore_ascii_case(kw)
                && !bytes.get(end).is_some_and(u8::is_ascii_alphabetic)
                && !letter_joins(bytes, i, end)
            {
                self.last[*ctx as usize] = (i, end);
                // The longest keyword at a word start wins (`cvv2` over
                // `cvv`); buckets are sorted longest first.
                break;
            }
        }
    }
}

/// Whether a letter of another script touches the keyword at `start..end`
/// (`pnré`, `répnr`): the keyword is then part of a longer word, not the
/// word itself. Only runs once a keyword has matched, so its cost is rare.
#[cold]
fn letter_joins(bytes: &[u8], start: usize, end: usize) -> bool {
    let after = bytes.get(end..).filter(|b| b.first().is_some_and(|&b| b >= 0x80)).and_then(|b| {
        let b = &b[..b.len().min(4)];
        // The text is UTF-8; a cut at 4 bytes may leave a partial char after
        // the first, which `valid_up_to` drops.
        let ok = std::str::from_utf8(b).map_or_else(|e| e.valid_up_to(), str::len);
        std::str::from_utf8(&b[..ok]).ok()?.chars().next()
    });
    let before = bytes[..start].last().filter(|&&b| b >= 0x80).and_then(|_| {
        let from = start.saturating_sub(4);
        (from..start).find_map(|k| std::str::from_utf8(&bytes[k..start]).ok()).and_then(|s| s.chars().next_back())
    });
    after.is_some_and(char::is_alphabetic) || before.is_some_and(char::is_alphabetic)
}

/// Number of keyword buckets: one per pair of leading bytes (letters folded
/// to lower case, anything else to one class).
const BUCKETS: usize = 27 * 27;

/// Bucket class of each byte: letters (either case) 0-25, anything else 26.
static CLASS: [u8; 256] = {
    let mut t = [26u8; 256];
    let mut b = 0;
    while b < 26 {
        t[b'a' as usize + b] = b as u8;
        t[b'A' as usize + b] = b as u8;
        b += 1;
    }
    t
};

/// The bucket of a word (or keyword) by its first two bytes: most words of
/// ordinary text land in an empty bucket and cost one lookup.
#[inline]
fn bucket(w: &[u8]) -> usize {
    let a = w.first().map_or(26, |&b| CLASS[usize::from(b)]);
    let b = w.get(1).map_or(26, |&b| CLASS[usize::from(b)]);
    usize::from(a) * 27 + usize::from(b)
}

/// Whether `text` holds a number other than a time stamp (`[00:01:23]`,
/// `14:32`): a time stamp between a question and its answer does not use
/// up the question's keyword.
pub(crate) fn has_number(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let s = i;
            while i < text.len() && text[i].is_ascii_digit() {
                i += 1;
            }
            let timed = (s > 0 && text[s - 1] == b':') || text.get(i) == Some(&b':');
            if !timed {
                return true;
            }
        } else {
            i += 1;
        }
    }
    false
}

/// No keyword of a class seen yet.
const UNSEEN: (usize, usize) = (usize::MAX, usize::MAX);

/// The keywords seen in one candidate's context window: the latest keyword
/// of each class read so far, which counts when it lies in `lo..pos`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pos: usize,
    lo: usize,
    last: [(usize, usize); N_CTX],
}

impl Window {
    /// Start and end of the latest keyword of `ctx` in the window.
    #[inline]
    fn span(&self, ctx: Ctx) -> Option<(usize, usize)> {
        let (s, e) = self.last[ctx as usize];
        (s != usize::MAX && s >= self.lo && e <= self.pos).then_some((s, e))
    }

    /// Whether a keyword of `ctx` is in the window.
    #[inline]
    pub(crate) fn has(&self, ctx: Ctx) -> bool {
        self.span(ctx).is_some()
    }

    /// Whether `ctx` has a keyword and it is the nearest among `rivals`
    /// (ties go to `ctx`).
    pub(crate) fn nearest_of(&self, ctx: Ctx, rivals: &[Ctx]) -> bool {
        let Some((s, _)) = self.span(ctx) else { return false };
        rivals.iter().all(|&r| self.span(r).is_none_or(|(rs, _)| rs <= s))
    }

    /// Whether a keyword of `ctx` is in the window with no digit between it
    /// and the candidate: "CVV: 123 … Address: 1600 Main St" gives the
    /// keyword to 123, not to 1600.
    pub(crate) fn fresh(&self, ctx: Ctx, bytes: &[u8]) -> bool {
        self.span(ctx).is_some_and(|(_, e)| !has_number(&bytes[e..self.pos]))
    }

    /// Whether a negative keyword ("order", "tracking", …) in the window is
    /// nearer than any keyword of `ctx`: then a number that would be
    /// reported without context is a reference number instead. A keyword of
    /// `ctx` on the same line as the negative one still counts ("the date of
    /// birth on the policy").
    pub(crate) fn negated(&self, ctx: Ctx, bytes: &[u8]) -> bool {
        let Some((neg, _)) = self.span(Ctx::Negative) else { return false };
        match self.span(ctx) {
            None => true,
            Some((s, _)) if s > neg => false,
            Some((s, _)) => memchr::memchr(b'\n', &bytes[s..neg]).is_some(),
        }
    }
}
