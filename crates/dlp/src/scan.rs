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

use crate::context::{Context, Ctx, Keywords};
use crate::digits::{self, classify, extension_end, read_run, textual_date, Cand, Run, Shape, RUN_DIGITS};
use crate::spoken;
use crate::swar::{masks64, Masks};
use crate::validate::{iban, iban_length, is_card, pan};

/// The kind of PII a [`Finding`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
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
    /// Bank account number (only reported with a keyword nearby).
    BankAccount,
    /// Telephone number, international or national format, with extension.
    Phone,
    /// Card security code (CVV/CVC/CID), near card words or a card number.
    Cvv,
    /// Card expiry date, near card words or a card number.
    Expiry,
    /// Date of birth (only reported with a keyword nearby).
    Dob,
    /// Passport number (only reported with a keyword nearby).
    Passport,
    /// A caller-defined pattern ([`CustomPattern`]); the finding's
    /// `pattern` field says which.
    Custom,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 14] = [
        Kind::Card,
        Kind::Ssn,
        Kind::Aadhaar,
        Kind::Pan,
        Kind::Iban,
        Kind::Email,
        Kind::AbaRouting,
        Kind::BankAccount,
        Kind::Phone,
        Kind::Cvv,
        Kind::Expiry,
        Kind::Dob,
        Kind::Passport,
        Kind::Custom,
    ];

    /// Stable upper-case name, used in redaction tokens (`[CARD:…]`) and in
    /// JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Card => "CARD",
            Kind::Ssn => "SSN",
            Kind::Aadhaar => "AADHAAR",
            Kind::Pan => "PAN",
            Kind::Iban => "IBAN",
            Kind::Email => "EMAIL",
            Kind::AbaRouting => "ABA_ROUTING",
            Kind::BankAccount => "BANK_ACCOUNT",
            Kind::Phone => "PHONE",
            Kind::Cvv => "CVV",
            Kind::Expiry => "EXPIRY",
            Kind::Dob => "DOB",
            Kind::Passport => "PASSPORT",
            Kind::Custom => "CUSTOM",
        }
    }

    /// The kind whose [`Kind::name`] is `name`, case-insensitively.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// Tie-break rank when two overlapping findings have the same score:
    /// lower wins.
    fn priority(self) -> u8 {
        match self {
            Kind::Card => 0,
            Kind::Iban => 1,
            Kind::Ssn => 2,
            Kind::Aadhaar => 3,
            Kind::Pan => 4,
            Kind::AbaRouting => 5,
            Kind::Passport => 6,
            Kind::Dob => 7,
            Kind::Expiry => 8,
            Kind::Cvv => 9,
            Kind::Phone => 10,
            Kind::BankAccount => 11,
            Kind::Email => 12,
            Kind::Custom => 13,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Kind`]s (a bitmask; `Copy`, no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindSet(u16);

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

/// What to look for and how sure a finding must be to be reported, per call.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Kinds to report (default: all).
    pub kinds: KindSet,
    /// Findings scoring below this are dropped before overlap resolution
    /// (default 0.5).
    pub min_score: f32,
    /// Extra context keywords per kind, added to the built-in lists
    /// (lower-case ASCII; matched case-insensitively at a word start).
    pub keywords: Vec<(Kind, String)>,
    /// Caller-defined patterns, reported as [`Kind::Custom`].
    pub custom: Vec<CustomPattern>,
}

impl Default for Config {
    fn default() -> Self {
        Config { kinds: KindSet::all(), min_score: 0.5, keywords: Vec::new(), custom: Vec::new() }
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
    /// Whether the value was (at least partly) spoken as words in
    /// speech-to-text output ("four one one one…").
    pub spoken: bool,
    /// For [`Kind::Custom`], the index of the pattern in [`Config::custom`];
    /// 0 otherwise.
    pub pattern: u16,
}

/// A caller-defined pattern, reported as [`Kind::Custom`].
#[derive(Debug, Clone, PartialEq)]
pub struct CustomPattern {
    /// Name shown in output (`EMPLOYEE_ID`).
    pub name: String,
    /// Regular expression (Rust `regex` syntax, no look-around).
    pub regex: String,
    /// Score of a match (default 0.8).
    pub score: f32,
    /// When not empty, a match is reported only with one of these words in
    /// its context window (its own line and the line before).
    pub keywords: Vec<String>,
}

/// Why a [`Config`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A custom pattern's regular expression does not compile.
    #[error("custom pattern `{name}`: {reason}")]
    BadPattern {
        /// The pattern's name.
        name: String,
        /// What the regex parser said.
        reason: String,
    },
    /// A keyword is empty or longer than [`MAX_KEYWORD_LEN`] bytes.
    #[error("keyword `{0}` must be 1-{MAX_KEYWORD_LEN} bytes")]
    BadKeyword(String),
}

/// Longest keyword accepted in [`Config::keywords`] (the streaming margins
/// depend on it).
pub const MAX_KEYWORD_LEN: usize = 64;
/// Longest custom-pattern match reported (the streaming margins depend on
/// it); longer matches are ignored.
pub const MAX_CUSTOM_MATCH: usize = 256;

/// A [`Config`] compiled for scanning: keyword tables and regexes built once.
#[derive(Debug, Clone)]
pub struct Scanner {
    cfg: Config,
    keywords: Keywords,
    custom: Vec<(regex::Regex, Keywords)>,
}

impl Scanner {
    /// Compiles `cfg`.
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        for (_, k) in &cfg.keywords {
            if k.trim().is_empty() || k.len() > MAX_KEYWORD_LEN {
                return Err(ConfigError::BadKeyword(k.clone()));
            }
        }
        let mut custom = Vec::with_capacity(cfg.custom.len());
        for p in &cfg.custom {
            let re = regex::RegexBuilder::new(&p.regex)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| ConfigError::BadPattern { name: p.name.clone(), reason: e.to_string() })?;
            for k in &p.keywords {
                if k.trim().is_empty() || k.len() > MAX_KEYWORD_LEN {
                    return Err(ConfigError::BadKeyword(k.clone()));
                }
            }
            let kws: Vec<(Kind, String)> = p.keywords.iter().map(|k| (Kind::Custom, k.clone())).collect();
            custom.push((re, Keywords::custom(&kws)));
        }
        let keywords = Keywords::new(&cfg.keywords);
        Ok(Scanner { cfg, keywords, custom })
    }

    /// The built-in detectors with the default configuration.
    pub fn builtin() -> Self {
        Scanner { cfg: Config::default(), keywords: Keywords::new(&[]), custom: Vec::new() }
    }

    /// The configuration this scanner was built from.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Scans `text`; see [`scan`].
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        match crate::unicode::fold(text) {
            None => self.scan_ascii_digits(text.as_bytes()),
            Some(folded) => {
                let mut found = self.scan_ascii_digits(folded.text.as_bytes());
                for f in &mut found {
                    f.start = folded.original(f.start);
                    f.end = folded.original(f.end);
                }
                found
            }
        }
    }

    fn scan_ascii_digits(&self, bytes: &[u8]) -> Vec<Finding> {
        let mut pass = Pass {
            bytes,
            kinds: self.cfg.kinds,
            ctx: Context::new(&self.keywords),
            out: Vec::new(),
            consumed: 0,
            last_card_end: None,
        };
        pass.run();
        let mut out = pass.out;
        if self.cfg.kinds.contains(Kind::Custom) {
            self.scan_custom(bytes, &mut out);
        }
        let min = self.cfg.min_score;
        out.retain(|f| self.cfg.kinds.contains(f.kind) && f.score >= min);
        resolve_overlaps(out)
    }

    fn scan_custom(&self, bytes: &[u8], out: &mut Vec<Finding>) {
        // The text was valid UTF-8 and folding keeps it so.
        let Ok(text) = std::str::from_utf8(bytes) else { return };
        for (k, ((re, kws), p)) in self.custom.iter().zip(&self.cfg.custom).enumerate() {
            let mut ctx = Context::new(kws);
            for m in re.find_iter(text) {
                if m.is_empty() || m.len() > MAX_CUSTOM_MATCH {
                    continue;
                }
                if !p.keywords.is_empty() && !ctx.at(bytes, m.start()).has(Ctx::Custom) {
                    continue;
                }
                out.push(Finding {
                    kind: Kind::Custom,
                    start: m.start(),
                    end: m.end(),
                    score: if p.score > 0.0 { p.score.min(1.0) } else { 0.8 },
                    reason: "custom pattern matched",
                    spoken: false,
                    pattern: u16::try_from(k).unwrap_or(u16::MAX),
                });
            }
        }
    }
}

/// Scans `text` for the kinds enabled in `cfg`.
///
/// Returns non-overlapping findings sorted by `start`. Where candidates
/// overlap, the higher score wins, ties broken by kind priority. A
/// configuration that does not compile (bad custom regex or keyword) scans
/// with the built-in detectors only; use [`Scanner::new`] to see the error.
pub fn scan(text: &str, cfg: &Config) -> Vec<Finding> {
    match Scanner::new(cfg.clone()) {
        Ok(s) => s.scan(text),
        Err(_) => {
            let builtin = Config { keywords: Vec::new(), custom: Vec::new(), ..cfg.clone() };
            Scanner::new(builtin).unwrap_or_else(|_| Scanner::builtin()).scan(text)
        }
    }
}

/// The skeleton of the scan, for `bposhield bench dlp`: the same block loop
/// (byte classes of every 64 bytes, each word start with a number-word
/// initial through the 3-byte prefix test, each digit run and `@`) doing
/// none of the work behind those events. Returns how many events the scan
/// would handle. Its speed is the ceiling of this design: no scan that
/// looks at every word can beat it.
#[must_use]
pub fn skeleton(bytes: &[u8]) -> usize {
    let mut events = 0;
    let (mut prev_letters, mut c) = (0u64, 0);
    let mut pad = [0u8; 64];
    while c < bytes.len() {
        let m = match bytes.get(c..c + 64) {
            Some(b) => masks64(b.try_into().unwrap_or(&[0; 64])),
            None => {
                let rest = bytes.get(c..).unwrap_or_default();
                pad[..rest.len()].copy_from_slice(rest);
                masks64(&pad)
            }
        };
        let starts = m.letters & !((m.letters << 1) | (prev_letters >> 63));
        let mut words = starts & m.starters;
        while words != 0 {
            let k = words.trailing_zeros() as usize;
            words &= words - 1;
            events += usize::from(spoken::may_start_number(bytes, c + k));
        }
        events += (m.digits & !(m.digits << 1)).count_ones() as usize + m.at.count_ones() as usize;
        prev_letters = m.letters;
        c += 64;
    }
    events
}

// ---------------------------------------------------------------------------
// The pass over the bytes
// ---------------------------------------------------------------------------

/// End of a time-stamp or ratio field at the digit run starting at `j`
/// (`[00:01:23]`, `14:32`): one or two digits between `[`, `:`, a space
/// and `:` or `]` are never anything. Checked inline in the block loop:
/// on call transcripts most digit runs are these.
#[inline(always)]
fn clock_field(bytes: &[u8], j: usize) -> Option<usize> {
    let e = if bytes.get(j + 1).is_some_and(u8::is_ascii_digit) { j + 2 } else { j + 1 };
    let opens = j == 0 || matches!(bytes[j - 1], b'[' | b':' | b' ');
    (opens && matches!(bytes.get(e), Some(b':' | b']'))).then_some(e)
}

/// A card ending this close before a 3-4 digit number (same line) makes it
/// a CVV candidate.
const NEAR_CARD: usize = 48;

struct Pass<'a, 'k> {
    bytes: &'a [u8],
    kinds: KindSet,
    ctx: Context<'k>,
    out: Vec<Finding>,
    /// Bytes before this have been handled by a run, word or spoken number.
    consumed: usize,
    last_card_end: Option<usize>,
}

impl Pass<'_, '_> {
    fn run(&mut self) {
        let bytes = self.bytes;
        let spoken = self.kinds.0 & !(Kind::Email.bit() | Kind::Iban.bit() | Kind::Pan.bit() | Kind::Custom.bit()) != 0;
        // Blocks of 64 bytes; the last one zero-padded (NUL is no class).
        let block_at = |c: usize| -> Masks {
            match bytes.get(c..c + 64) {
                Some(b) => masks64(b.try_into().unwrap_or(&[0; 64])),
                None => {
                    let mut pad = [0u8; 64];
                    let rest = bytes.get(c..).unwrap_or_default();
                    pad[..rest.len()].copy_from_slice(rest);
                    masks64(&pad)
                }
            }
        };
        let mut c = 0;
        let mut cur = block_at(0);
        let (mut prev_letters, mut prev_digits) = (0u64, 0u64);
        while c < bytes.len() {
            let next = if c + 64 < bytes.len() { block_at(c + 64) } else { Masks::default() };
            // Word starts whose first letter can begin a number word, and
            // the first digit of each run of digits.
            let starts = cur.letters & !((cur.letters << 1) | (prev_letters >> 63));
            let words = if spoken { starts & cur.starters } else { 0 };
            let digit_runs = cur.digits & !((cur.digits << 1) | (prev_digits >> 63));
            let letters = u128::from(cur.letters) | (u128::from(next.letters) << 64);
            // Digit runs, `@`s and candidate words in text order: each may
            // move `consumed` past the ones after it.
            let mut events = digit_runs | cur.at | words;
            while events != 0 {
                let k = events.trailing_zeros() as usize;
                events &= events - 1;
                let j = c + k;
                if cur.at >> k & 1 == 1 {
                    self.email(j);
                } else if j < self.consumed {
                    // Inside a run, word or number already handled.
                } else if digit_runs >> k & 1 == 1 {
                    match clock_field(bytes, j) {
                        Some(end) => self.consumed = end,
                        None => self.digit(j),
                    }
                } else if spoken::may_start_number(bytes, j) {
                    let len = ((letters >> k) as u64).trailing_ones() as usize;
                    self.candidate_word(j, len);
                }
            }
            prev_letters = cur.letters;
            prev_digits = cur.digits;
            cur = next;
            c += 64;
        }
    }

    /// A word of `len` letters at `ws` whose first letter can begin a number
    /// word: if it is one, decode the spoken run around it. Most words end
    /// at the length and hash tests.
    #[inline]
    fn candidate_word(&mut self, ws: usize, len: usize) {
        let bytes = self.bytes;
        if !(2..=9).contains(&len) || (ws > 0 && bytes[ws - 1].is_ascii_digit()) {
            return;
        }
        let w = &bytes[ws..ws + len];
        if spoken::maybe_word(w) && spoken::is_number_word(w) {
            self.spoken_word(ws, ws + len);
        }
    }

    /// A number word at `ws..we`: decode the run around it, unless it stands
    /// alone ("one moment", "oh I see"): one word never says three digits.
    fn spoken_word(&mut self, ws: usize, we: usize) {
        let bytes = self.bytes;
        if !spoken::has_number_neighbour(bytes, ws, we) {
            return;
        }
        // The run never starts inside text already handled, nor after the
        // word that revealed it.
        let start = spoken::run_start(bytes, ws).max(self.consumed).min(ws);
        self.spoken_at(start, we);
    }

    /// Decodes and classifies the spoken run at `start`; at least `min_end`
    /// is consumed.
    fn spoken_at(&mut self, start: usize, min_end: usize) -> bool {
        let Some(run) = spoken::decode(self.bytes, start) else {
            self.consumed = self.consumed.max(min_end);
            return false;
        };
        let found = self.classify_spoken(&run);
        // A run that says nothing still holds its written digit groups
        // ("oh 4111 1111 1111 1111"): those stay for the written scan.
        let end = if found { run.end } else { run.first_digits.unwrap_or(run.end) };
        self.consumed = self.consumed.max(end).max(min_end);
        found
    }

    /// Classifies a decoded spoken run: the whole, then its turn segments,
    /// then a card with more digits after it.
    fn classify_spoken(&mut self, run: &spoken::Run) -> bool {
        let shape = Shape { spoken: true, group_count: 1, ..Shape::default() };
        let n = run.len;
        // The whole run, then its speaker-turn segments (an agent reading
        // the number back is a separate value), then a card followed by more
        // digits (the CVV read straight after).
        if self.classify_span(&run.digits()[..n], run.bytes_of(0, n), shape) {
            return true;
        }
        // Contiguous ranges of segments, longest first: "five nine one" /
        // "Rep: right" / "50 two one one four" / "Rep: one moment" is an SSN
        // in the first two segments, and "one" starts something else.
        let mut any = false;
        let segs = run.segment_count;
        if segs > 1 {
            let mut taken = [false; 4];
            for width in (1..segs).rev() {
                for a in 0..=segs - width {
                    let b = a + width;
                    if taken[a..b].iter().any(|&t| t) {
                        continue;
                    }
                    let (lo, hi) = (run.segment(a).0, run.segment(b - 1).1);
                    if hi > lo && self.classify_span(&run.digits()[lo..hi], run.bytes_of(lo, hi), shape) {
                        taken[a..b].iter_mut().for_each(|t| *t = true);
                        any = true;
                    }
                }
            }
            if any {
                return true;
            }
        }
        for len in (12..=19.min(n.saturating_sub(1))).rev() {
            if is_card(&run.digits()[..len]).is_some() {
                any = self.classify_span(&run.digits()[..len], run.bytes_of(0, len), shape);
                if any {
                    if n - len >= 3 {
                        self.classify_span(&run.digits()[len..n], run.bytes_of(len, n), shape);
                    }
                    break;
                }
            }
        }
        any
    }

    fn classify_span(&mut self, digits: &[u8], (start, end): (usize, usize), shape: Shape) -> bool {
        // "one moment", "oh okay": too short to be anything.
        if digits.len() < 3 {
            return false;
        }
        let window = self.ctx.at(self.bytes, start);
        let near_card = self.near_card(start);
        let cand = Cand { start, end, digits, shape, near_card };
        let before = self.out.len();
        let n = classify(self.bytes, &cand, &window, &mut self.out);
        self.note_cards(before);
        n > 0
    }

    /// Whether a card number (or its expiry) ended shortly before `start`,
    /// on the same line, with no other number in between.
    fn near_card(&self, start: usize) -> bool {
        self.last_card_end.is_some_and(|e| {
            let between = &self.bytes[e.min(start)..start];
            start >= e
                && start - e <= NEAR_CARD
                && memchr::memchr(b'\n', between).is_none()
                && !crate::context::has_number(between)
        })
    }

    fn note_cards(&mut self, from: usize) {
        let card = |f: &&Finding| matches!(f.kind, Kind::Card | Kind::Expiry);
        if let Some(end) = self.out[from..].iter().filter(card).map(|f| f.end).max() {
            self.last_card_end = Some(end);
        }
    }

    /// A digit at `j` not yet consumed.
    fn digit(&mut self, j: usize) {
        let bytes = self.bytes;
        if j > 0 && bytes[j - 1].is_ascii_alphanumeric() {
            self.word(j);
            return;
        }
        // `1,250` or `61.35`: the digits after a thousands or decimal mark
        // belong to an amount already passed.
        if j >= 2 && matches!(bytes[j - 1], b',' | b'.') && bytes[j - 2].is_ascii_digit() {
            let mut e = j;
            while e < bytes.len()
                && (bytes[e].is_ascii_digit()
                    || (matches!(bytes[e], b',' | b'.') && bytes.get(e + 1).is_some_and(u8::is_ascii_digit)))
            {
                e += 1;
            }
            self.consumed = e;
            return;
        }
        let run = read_run(bytes, j);
        if bytes.get(run.end).is_some_and(u8::is_ascii_alphabetic) {
            // `14th March 1985`, or a word that starts with digits (`4th`,
            // `1Z999…`).
            if let Some((s, e)) = textual_date(bytes, j) {
                self.date(s, e);
                return;
            }
            self.word(j);
            return;
        }
        let prev = self.consumed;
        self.consumed = run.end;
        if let Some((s, e)) = textual_date(bytes, j) {
            self.date(s, e);
            return;
        }
        // Digits next to number words belong to a spoken run.
        if next_to_number_word(bytes, run.start, run.end) {
            let start = spoken::run_start(bytes, j).max(prev).min(j);
            if self.spoken_at(start, run.end) {
                return;
            }
        }
        // No kind has fewer than three digits (time stamps, days, counts),
        // and none is longer than the run buffer.
        if run.len < 3 || run.len > RUN_DIGITS {
            return;
        }
        let mut shape = run.shape;
        shape.spoken = false;
        let before = self.out.len();
        let window = self.ctx.at(bytes, run.start);
        let near_card = self.near_card(run.start);
        let cand = Cand { start: run.start, end: run.end, digits: run.digits(), shape, near_card };
        classify(bytes, &cand, &window, &mut self.out);
        // Phone extensions.
        for f in &mut self.out[before..] {
            if f.kind == Kind::Phone {
                if let Some(e) = extension_end(bytes, f.end) {
                    f.end = e;
                    self.consumed = self.consumed.max(e);
                }
            }
        }
        if !self.out[before..].iter().any(|f| f.kind == Kind::Card) {
            self.card_in_groups(&run);
        }
        self.note_cards(before);
    }

    /// A card inside a longer run, on group boundaries: `4111 1111 1111
    /// 1111 123` (CVV typed after the number) or `Ref 12 4111 …`. Only cards
    /// are looked for this way: IIN, length and Luhn together are strong
    /// enough that a chance match inside an unrelated long number is rare.
    fn card_in_groups(&mut self, run: &Run) {
        let count = run.shape.group_count;
        if !(2..=run.spans.len()).contains(&count) || run.len > RUN_DIGITS {
            return;
        }
        let groups = &run.spans[..count];
        let mut offsets = [0usize; 9];
        for (k, &(s, e)) in groups.iter().enumerate() {
            offsets[k + 1] = offsets[k] + (e - s);
        }
        // Earliest start, then longest card.
        for a in 0..groups.len() {
            for b in (a + 1..=groups.len()).rev() {
                if (a, b) == (0, groups.len()) {
                    continue;
                }
                let digits = &run.digits[offsets[a]..offsets[b]];
                if !(12..=19).contains(&digits.len()) || is_card(digits).is_none() {
                    continue;
                }
                let (start, end) = (groups[a].0, groups[b - 1].1);
                let window = self.ctx.at(self.bytes, start);
                if window.negated(Ctx::Card, self.bytes) && !window.has(Ctx::Card) {
                    continue;
                }
                let (score, reason) = if window.has(Ctx::Card) {
                    (0.9, "card: IIN, length and Luhn valid inside a longer digit run; card keyword nearby")
                } else {
                    (0.8, "card: IIN, length and Luhn valid inside a longer digit run")
                };
                self.out.push(Finding { kind: Kind::Card, start, end, score, reason, spoken: false, pattern: 0 });
                self.last_card_end = Some(end);
                if b < groups.len() {
                    self.after_card(run, b);
                }
                return;
            }
        }
    }

    /// Groups typed after a card in the same run (`01/27 841`): an expiry
    /// (two groups joined by `/` or `-`), then a security code (3-4 digits).
    /// Anything else is read as a run of its own.
    fn after_card(&mut self, run: &Run, from: usize) {
        let count = run.shape.group_count.min(run.spans.len());
        let len = |k: usize| run.spans[k].1 - run.spans[k].0;
        let text = |k: usize| &self.bytes[run.spans[k].0..run.spans[k].1];
        let mut k = from;
        let push = |out: &mut Vec<Finding>, kind, (start, end), reason| {
            out.push(Finding { kind, start, end, score: 0.8, reason, spoken: false, pattern: 0 });
        };
        if k + 1 < count
            && matches!(run.seps[k], b'/' | b'-')
            && (1..=2).contains(&len(k))
            && matches!(len(k + 1), 2 | 4)
            && (1..=12).contains(&digits::number(text(k)))
        {
            let reason = "expiry: month/year typed right after a card number";
            push(&mut self.out, Kind::Expiry, (run.spans[k].0, run.spans[k + 1].1), reason);
            k += 2;
        }
        if k + 1 == count && (3..=4).contains(&len(k)) {
            let reason = "cvv: 3-4 digits typed right after a card number";
            push(&mut self.out, Kind::Cvv, run.spans[k], reason);
            return;
        }
        if k == from {
            let rest = read_run(self.bytes, run.spans[k].0);
            if rest.len <= RUN_DIGITS {
                let window = self.ctx.at(self.bytes, rest.start);
                let cand = Cand {
                    start: rest.start,
                    end: rest.end,
                    digits: rest.digits(),
                    shape: rest.shape,
                    near_card: true,
                };
                classify(self.bytes, &cand, &window, &mut self.out);
            }
        }
    }

    fn date(&mut self, start: usize, end: usize) {
        self.consumed = self.consumed.max(end);
        let window = self.ctx.at(self.bytes, start);
        if window.has(Ctx::Dob) && !window.negated(Ctx::Dob, self.bytes) {
            self.out.push(Finding {
                kind: Kind::Dob,
                start,
                end,
                score: 0.9,
                reason: "dob: date with month name; birth keyword nearby",
                spoken: false,
                pattern: 0,
            });
        }
    }

    /// A word of letters and digits containing the digit at `j`: IBAN, PAN,
    /// passport.
    fn word(&mut self, j: usize) {
        let bytes = self.bytes;
        let floor = j.saturating_sub(40);
        let mut ws = j;
        while ws > floor && bytes[ws - 1].is_ascii_alphanumeric() {
            ws -= 1;
        }
        let mut we = j;
        while we < bytes.len() && bytes[we].is_ascii_alphanumeric() {
            we += 1;
        }
        self.consumed = self.consumed.max(we);
        if ws > 0 && bytes[ws - 1].is_ascii_alphanumeric() {
            return;
        }
        if let Some(end) = iban_at(bytes, ws) {
            self.consumed = self.consumed.max(end);
            self.out.push(Finding {
                kind: Kind::Iban,
                start: ws,
                end,
                score: 0.95,
                reason: "iban: length and mod-97 valid",
                spoken: false,
                pattern: 0,
            });
            return;
        }
        let w = &bytes[ws..we];
        if w.len() == 10 {
            let mut upper = [0u8; 10];
            for (u, b) in upper.iter_mut().zip(w) {
                *u = b.to_ascii_uppercase();
            }
            let exact_case = w.iter().all(|b| !b.is_ascii_lowercase());
            if pan(&upper) && (exact_case || self.ctx.at(bytes, ws).has(Ctx::Pan)) {
                self.out.push(Finding {
                    kind: Kind::Pan,
                    start: ws,
                    end: we,
                    score: 0.85,
                    reason: "pan: AAAAA9999A with valid status",
                    spoken: false,
                    pattern: 0,
                });
                return;
            }
        }
        // Passport: one or two letters then 7-8 digits, with the keyword.
        let letters = w.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let rest = &w[letters..];
        if (1..=2).contains(&letters) && (7..=8).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit) {
            let window = self.ctx.at(bytes, ws);
            if window.has(Ctx::Passport) && !window.negated(Ctx::Passport, bytes) {
                self.out.push(Finding {
                    kind: Kind::Passport,
                    start: ws,
                    end: we,
                    score: 0.9,
                    reason: "passport: letter and digits; passport keyword nearby",
                    spoken: false,
                    pattern: 0,
                });
            }
        }
    }

    /// An `@` at `at`: an e-mail address around it.
    fn email(&mut self, at: usize) {
        if !self.kinds.contains(Kind::Email) {
            return;
        }
        let bytes = self.bytes;
        let is_local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
        let floor = at.saturating_sub(MAX_LOCAL);
        let mut start = at;
        while start > floor && is_local(bytes[start - 1]) {
            start -= 1;
        }
        if start == floor && start > 0 && is_local(bytes[start - 1]) {
            return;
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        if start == at {
            return;
        }
        if let Some(end) = domain_end(bytes, at + 1) {
            self.consumed = self.consumed.max(end);
            self.out.push(Finding {
                kind: Kind::Email,
                start,
                end,
                score: 0.95,
                reason: "email: local@domain.tld",
                spoken: false,
                pattern: 0,
            });
        }
    }
}

/// Longest e-mail local part (RFC 5321).
const MAX_LOCAL: usize = 64;
/// Longest e-mail domain considered.
const MAX_DOMAIN: usize = 190;

/// Whether the token just before `start` or just after `end` (across
/// separators, a line break and a speaker label) is a number word.
fn next_to_number_word(bytes: &[u8], start: usize, end: usize) -> bool {
    let after = {
        let mut i = end;
        while i < bytes.len() && i - end < 3 && matches!(bytes[i], b' ' | b',' | b'-' | b'.') {
            i += 1;
        }
        if bytes.get(i) == Some(&b'\n') {
            i = spoken::label_end(bytes, i + 1).unwrap_or(i + 1);
        }
        let mut e = i;
        while e < bytes.len() && e - i < 10 && bytes[e].is_ascii_alphabetic() {
            e += 1;
        }
        e > i && spoken::is_number_word(&bytes[i..e]) && !bytes.get(e).is_some_and(u8::is_ascii_alphabetic)
    };
    if after {
        return true;
    }
    let mut i = start;
    while i > 0 && start - i < 3 && matches!(bytes[i - 1], b' ' | b',' | b'-') {
        i -= 1;
    }
    let mut s = i;
    while s > 0 && i - s < 10 && bytes[s - 1].is_ascii_alphabetic() {
        s -= 1;
    }
    s < i && spoken::is_number_word(&bytes[s..i]) && (s == 0 || !bytes[s - 1].is_ascii_alphabetic())
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

/// End of a domain of at least two labels with an alphabetic TLD of two or
/// more letters, starting at `start`.
fn domain_end(bytes: &[u8], start: usize) -> Option<usize> {
    let is_label = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-';
    let (mut j, mut labels) = (start, 0);
    let limit = start + MAX_DOMAIN;
    let tld_start = loop {
        let label_start = j;
        while j < limit && bytes.get(j).is_some_and(is_label) {
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
/// far. Findings in different clusters of transitively overlapping spans
/// cannot interact, so the text is swept in order and the greedy choice made
/// per cluster: linear for ordinary text, where almost every cluster is one
/// finding.
fn resolve_overlaps(mut found: Vec<Finding>) -> Vec<Finding> {
    // Found in text order already, nearly: the stable sort is about linear.
    found.sort_by_key(|f| (f.start, f.end));
    let mut out = Vec::with_capacity(found.len());
    let mut i = 0;
    while i < found.len() {
        let mut j = i + 1;
        let mut end = found[i].end;
        while j < found.len() && found[j].start < end {
            end = end.max(found[j].end);
            j += 1;
        }
        if j == i + 1 {
            out.push(found[i]);
        } else {
            let mut cluster = found[i..j].to_vec();
            cluster.sort_by(|a, b| {
                b.score.total_cmp(&a.score).then(a.kind.priority().cmp(&b.kind.priority())).then(a.start.cmp(&b.start))
            });
            let mut kept: Vec<Finding> = Vec::new();
            for f in cluster {
                if kept.iter().all(|k| k.end <= f.start || f.end <= k.start) {
                    kept.push(f);
                }
            }
            kept.sort_by_key(|f| f.start);
            out.extend(kept);
        }
        i = j;
    }
    out
}
