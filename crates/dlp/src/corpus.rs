//! A deterministic, labelled evaluation corpus: synthetic contact-centre call
//! transcripts (speech-to-text output and screen captures) with every PII
//! value marked by kind and byte span.
//!
//! Why synthetic: real transcripts cannot be shared, and hand-labelling them is
//! slow and inconsistent. A generator knows exactly what it planted, so the
//! labels are complete by construction, and one seed gives byte-identical
//! output on every machine, which keeps accuracy and speed figures comparable
//! across runs. The random source is a SplitMix64 written here: a `rand`
//! dependency would let a version bump silently change every figure.
//!
//! What makes the corpus useful is what is *not* labelled: order, tracking,
//! ticket and claim numbers (some Luhn-valid, some passing the SSN rules),
//! timestamps, amounts, appointment dates, room numbers, and small numbers
//! spoken in ordinary speech ("I called two times", "one moment"). A detector
//! that reports those pays for it in precision.
//!
//! # Label conventions
//!
//! - Offsets are UTF-8 **byte** offsets into [`Doc::text`]; labels are sorted
//!   by `start` and never overlap.
//! - A span covers exactly the value: digits with their internal separators;
//!   a phone number from its leading `+` or `(` (or first digit) to the last
//!   digit of its extension, if any (`ext. 204`, `x204`); an IBAN from the
//!   country code to the last character, group spaces included; an e-mail
//!   address from the first character of the local part to the end of the
//!   domain; a date of birth or expiry date the whole date expression
//!   (`March 14, 1985`). No span starts or ends with whitespace, and only a
//!   phone number may start with punctuation (`+`, `(`).
//! - A spoken value (`spoken: true`) is a digit string read out as words
//!   ("four one one one, double one ..."), possibly mixing in digit groups.
//!   Its span runs from the first number word or digit to the last one,
//!   inclusive, so it also covers whatever lies between: commas, a line
//!   break, and, when the value is split across speaker turns, the other
//!   speaker's interjection ("mm-hmm") with the turn prefixes and timestamps.
//! - Values whose form is ambiguous carry context: a plain 9-digit SSN, a
//!   routing number, a bank account, passport number, date of birth, or a
//!   plain 10-digit phone number always has its keyword in the same turn or
//!   the previous one; CVV and expiry always come with card words or right
//!   after a card number.
//!
//! # Profiles
//!
//! - [`Profile::Typical`]: mostly ordinary conversation; about one line in
//!   twenty carries PII. Shaped like production traffic for the speed
//!   benchmark.
//! - [`Profile::Dense`]: PII on most lines (read-backs, screen captures).
//! - [`Profile::Eval`]: balanced for accuracy measurement: every kind often,
//!   and as many hard negatives.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::scan::Kind;
use crate::validate::{aadhaar, aba_routing, is_card, luhn_check_digit, ssn_valid, verhoeff_check_digit};

/// One labelled PII value in a [`Doc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Label {
    /// What the value is.
    pub kind: Kind,
    /// Byte offset of the first byte of the value.
    pub start: usize,
    /// Byte offset one past the last byte of the value.
    pub end: usize,
    /// Whether the value is read out as words (speech-to-text).
    pub spoken: bool,
}

/// One call transcript and its labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Doc {
    /// The transcript: turns such as `Agent: ...`, screen-capture lines.
    pub text: String,
    /// Every PII value in `text`, sorted by `start`, non-overlapping.
    pub labels: Vec<Label>,
}

/// The shape of the generated traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Balanced for accuracy measurement: every kind, many hard negatives.
    Eval,
    /// Production-like: PII on about one line in twenty.
    Typical,
    /// PII on most lines.
    Dense,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 3] = [Profile::Eval, Profile::Typical, Profile::Dense];

    /// Lower-case name (`eval`, `typical`, `dense`), for command lines and reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Eval => "eval",
            Profile::Typical => "typical",
            Profile::Dense => "dense",
        }
    }

    /// The profile whose [`Profile::name`] is `name`, case-insensitively.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

/// Generates call transcripts one at a time; the same seed and profile give
/// the same sequence of documents.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
    profile: Profile,
    params: &'static Params,
    /// Output buffers: one document for [`Generator::next_doc`], many for
    /// [`generate_text`].
    text: String,
    labels: Vec<Label>,
    /// Per document.
    doc_start: usize,
    speakers: (&'static str, &'static str),
    stamp_pct: u32,
    lower_pct: u32,
    wrap: usize,
    clock: u32,
    turns: usize,
    last: Class,
    /// Per turn / line.
    who: Who,
    style: Style,
    line_start: usize,
    need_sep: bool,
    cap_next: bool,
    /// The digits (or characters) of the value being written.
    digits: Vec<u8>,
    /// Whether the last card written was an Amex (4-digit CVV).
    amex: bool,
}

impl Generator {
    /// A generator of `profile` documents from `seed`.
    pub fn new(seed: u64, profile: Profile) -> Self {
        Generator {
            rng: Rng(seed),
            profile,
            params: params(profile),
            text: String::new(),
            labels: Vec::new(),
            doc_start: 0,
            speakers: SPEAKERS[0],
            stamp_pct: 0,
            lower_pct: 0,
            wrap: 120,
            clock: 0,
            turns: 0,
            last: Class::Filler,
            who: Who::Customer,
            style: Style { lower: false, punct: true },
            line_start: 0,
            need_sep: false,
            cap_next: true,
            digits: Vec::with_capacity(40),
            amex: false,
        }
    }

    /// The profile this generator was created with.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The next call transcript.
    pub fn next_doc(&mut self) -> Doc {
        self.text.clear();
        self.labels.clear();
        self.write_doc();
        Doc { text: std::mem::take(&mut self.text), labels: std::mem::take(&mut self.labels) }
    }
}

/// The first `docs` documents of `seed` and `profile`.
pub fn generate(seed: u64, profile: Profile, docs: usize) -> Vec<Doc> {
    let mut g = Generator::new(seed, profile);
    (0..docs).map(|_| g.next_doc()).collect()
}

/// Documents of `seed` and `profile` joined by `"\n\n"` until the text is at
/// least `min_bytes` long, with the labels shifted to match: the same text as
/// joining [`generate`]'s documents, built without a copy per document (the
/// speed benchmark asks for hundreds of megabytes).
pub fn generate_text(seed: u64, profile: Profile, min_bytes: usize) -> (String, Vec<Label>) {
    let mut g = Generator::new(seed, profile);
    g.text.reserve(min_bytes.saturating_add(1 << 16));
    while g.text.len() < min_bytes {
        if !g.text.is_empty() {
            g.text.push_str("\n\n");
        }
        g.write_doc();
    }
    (g.text, g.labels)
}

/// Writes `docs` as JSON Lines, one object per document:
/// `{"text":"...","labels":[{"kind":"CARD","start":10,"end":29,"spoken":false}]}`.
///
/// Offsets are UTF-8 byte offsets into `text` (a consumer that indexes by
/// code point, such as Python's `str`, must encode first). Written by hand
/// because the crate has no JSON dependency and the shape is fixed.
pub fn write_jsonl(docs: &[Doc], mut w: impl Write) -> io::Result<()> {
    let mut line = String::new();
    for doc in docs {
        line.clear();
        line.push_str("{\"text\":");
        json_string(&doc.text, &mut line);
        line.push_str(",\"labels\":[");
        for (i, l) in doc.labels.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            // Writing to a String cannot fail.
            let _ = write!(
                line,
                "{{\"kind\":\"{}\",\"start\":{},\"end\":{},\"spoken\":{}}}",
                l.kind.name(),
                l.start,
                l.end,
                l.spoken
            );
        }
        line.push_str("]}\n");
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------

/// What a profile's documents look like.
#[derive(Debug)]
struct Params {
    /// Turns per document, inclusive range.
    turns: (usize, usize),
    /// Per mille of scene slots that are PII scenes and hard negatives; the
    /// rest are ordinary turns.
    pii: u32,
    neg: u32,
    /// Kind weights for PII scenes.
    kinds: &'static [(Kind, u32)],
    /// Percent of spoken-capable values that are spoken.
    spoken: u32,
    /// Percent of PII scenes without a keyword, where the kind allows it.
    bare: u32,
    /// Percent of PII scenes shown as a screen capture.
    screen: u32,
    /// Percent of ordinary turns that are long (4-7 sentences).
    long: u32,
    /// Whether agent questions and confirmations carry a value too.
    dense: bool,
    /// Percent of documents with a call header line.
    header: u32,
}

fn params(profile: Profile) -> &'static Params {
    match profile {
        Profile::Eval => &EVAL,
        Profile::Typical => &TYPICAL,
        Profile::Dense => &DENSE,
    }
}

const EVAL: Params = Params {
    turns: (10, 24),
    pii: 420,
    neg: 330,
    kinds: &[
        (Kind::Card, 10),
        (Kind::Ssn, 10),
        (Kind::Aadhaar, 10),
        (Kind::Pan, 8),
        (Kind::Iban, 8),
        (Kind::Email, 8),
        (Kind::AbaRouting, 8),
        (Kind::BankAccount, 10),
        (Kind::Phone, 12),
        (Kind::Cvv, 6),
        (Kind::Expiry, 5),
        (Kind::Dob, 8),
        (Kind::Passport, 8),
    ],
    spoken: 40,
    bare: 12,
    screen: 12,
    long: 10,
    dense: false,
    header: 50,
};

const TYPICAL: Params = Params {
    turns: (30, 80),
    pii: 68,
    neg: 40,
    kinds: &[
        (Kind::Card, 18),
        (Kind::Ssn, 6),
        (Kind::Aadhaar, 4),
        (Kind::Pan, 3),
        (Kind::Iban, 3),
        (Kind::Email, 14),
        (Kind::AbaRouting, 3),
        (Kind::BankAccount, 6),
        (Kind::Phone, 16),
        (Kind::Cvv, 4),
        (Kind::Expiry, 4),
        (Kind::Dob, 10),
        (Kind::Passport, 3),
    ],
    spoken: 25,
    bare: 8,
    screen: 8,
    long: 12,
    dense: false,
    header: 60,
};

const DENSE: Params = Params {
    turns: (8, 20),
    pii: 930,
    neg: 30,
    kinds: EVAL.kinds,
    spoken: 25,
    bare: 5,
    screen: 30,
    long: 0,
    dense: true,
    header: 30,
};

// ---------------------------------------------------------------------------
// Document structure: turns, words, values
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Agent,
    Customer,
}

impl Who {
    fn other(self) -> Who {
        match self {
            Who::Agent => Who::Customer,
            Who::Customer => Who::Agent,
        }
    }
}

/// What the previous scene was, so that a hard negative never sits next to a
/// PII scene's keywords (which would make it ambiguous, not hard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Filler,
    Pii,
    Neg,
}

/// How a turn's ordinary words are written: raw speech-to-text output is
/// lower case without punctuation; a post-processed transcript has both.
#[derive(Debug, Clone, Copy)]
struct Style {
    lower: bool,
    punct: bool,
}

/// A value of a kind, as written into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Any written form, including ones that need a keyword nearby.
    Written,
    /// A written form that is recognisable without a keyword.
    Bare,
    /// Written or, for kinds read out digit by digit, spoken.
    MaySpeak,
}

impl Generator {
    fn write_doc(&mut self) {
        self.doc_start = self.text.len();
        self.line_start = self.doc_start;
        self.turns = 0;
        self.clock = self.rng.range(0, 40) as u32;
        self.last = Class::Filler;
        self.who = Who::Customer;
        self.speakers = *self.rng.pick(SPEAKERS);
        self.stamp_pct = *self.rng.pick(&[0, 0, 100, 100, 50]);
        self.lower_pct = *self.rng.pick(&[0, 15, 50, 85, 100]);
        self.wrap = self.rng.range(95, 135);
        if self.rng.percent(self.params.header) {
            self.header();
        }
        let target = self.rng.range(self.params.turns.0, self.params.turns.1);
        while self.turns < target {
            self.scene();
        }
    }

    fn scene(&mut self) {
        let p = self.params;
        let r = self.rng.below(1000) as u32;
        if r < p.pii {
            if self.last == Class::Neg {
                self.filler_turn();
            }
            let kind = weighted(&mut self.rng, p.kinds);
            self.pii_scene(kind);
            self.last = Class::Pii;
        } else if r < p.pii + p.neg {
            if self.last == Class::Pii {
                self.filler_turn();
            }
            self.neg_scene();
            self.last = Class::Neg;
        } else {
            self.filler_turn();
            self.last = Class::Filler;
        }
    }

    /// Starts a new line (not the document's first).
    fn newline(&mut self) {
        if self.text.len() > self.doc_start {
            self.text.push('\n');
        }
        self.line_start = self.text.len();
        self.need_sep = false;
    }

    /// Starts a speaker turn: `[00:01:23] Agent: `.
    fn turn(&mut self, who: Who) {
        self.newline();
        self.clock += self.rng.range(2, 25) as u32;
        if self.stamp_pct > 0 && self.rng.percent(self.stamp_pct) {
            self.text.push('[');
            push_clock(&mut self.text, self.clock);
            self.text.push_str("] ");
        }
        self.text.push_str(match who {
            Who::Agent => self.speakers.0,
            Who::Customer => self.speakers.1,
        });
        self.text.push_str(": ");
        self.who = who;
        self.style = if self.rng.percent(self.lower_pct) {
            Style { lower: true, punct: false }
        } else {
            Style { lower: false, punct: self.rng.percent(92) }
        };
        self.cap_next = true;
        self.turns += 1;
    }

    /// A space before the next word, or a line break if the line is long.
    fn sep(&mut self) {
        if self.need_sep {
            if self.text.len() - self.line_start >= self.wrap {
                self.text.push('\n');
                self.line_start = self.text.len();
            } else {
                self.text.push(' ');
            }
        }
        self.need_sep = true;
    }

    /// Ordinary words, in the turn's style, with the odd typo.
    fn say(&mut self, s: &str) {
        self.words(s, true);
    }

    /// Words that carry context (keywords): the turn's style, no typos, so
    /// that "social security" is never misspelt into a non-keyword.
    fn key(&mut self, s: &str) {
        self.words(s, false);
    }

    fn words(&mut self, s: &str, typos: bool) {
        let mut buf = [0u8; 48];
        for w in s.split(' ') {
            if w.is_empty() {
                continue;
            }
            if w.len() > buf.len() - 1 || !w.is_ascii() {
                self.sep();
                self.text.push_str(w);
                self.cap_next = false;
                continue;
            }
            let mut n = 0;
            for &b in w.as_bytes() {
                if !self.style.punct && matches!(b, b'.' | b',' | b'?' | b'!' | b';' | b':') {
                    continue;
                }
                buf[n] = if self.style.lower {
                    b.to_ascii_lowercase()
                } else if n == 0 && self.cap_next {
                    b.to_ascii_uppercase()
                } else {
                    b
                };
                n += 1;
            }
            if n == 0 {
                continue;
            }
            if typos && n >= 4 && self.rng.per_mille(15) {
                n = typo(&mut self.rng, &mut buf, n);
            }
            self.cap_next = matches!(buf[n - 1], b'.' | b'?' | b'!');
            self.sep();
            for &b in &buf[..n] {
                self.text.push(char::from(b));
            }
        }
    }

    fn say_any(&mut self, choices: &[&str]) {
        let s = *self.rng.pick(choices);
        self.say(s);
    }

    fn key_any(&mut self, choices: &[&str]) {
        let s = *self.rng.pick(choices);
        self.key(s);
    }

    fn glue_any(&mut self, choices: &[&str]) {
        let s = *self.rng.pick(choices);
        self.glue(s);
    }

    /// Punctuation attached to the previous word, if the turn has any.
    fn punct(&mut self, p: &str) {
        if self.style.punct {
            self.text.push_str(p);
            self.cap_next = p.ends_with(['.', '?', '!']);
        }
    }

    /// Text written as is, with no separator before it.
    fn glue(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn begin_value(&mut self) -> usize {
        self.sep();
        self.text.len()
    }

    fn end_value(&mut self, kind: Kind, start: usize, spoken: bool) {
        self.labels.push(Label { kind, start, end: self.text.len(), spoken });
        self.cap_next = false;
    }

    /// Writes a fresh value of `kind` and labels it.
    fn value(&mut self, kind: Kind, form: Form) {
        let speak = form == Form::MaySpeak && self.rng.percent(self.params.spoken);
        let bare = form == Form::Bare;
        match kind {
            Kind::Card => {
                let groups = gen_card(&mut self.rng, &mut self.digits);
                self.amex = matches!(self.digits.first(), Some(b'3')) && self.digits.len() == 15;
                if speak {
                    self.spoken(kind, groups);
                } else {
                    let sep = *self.rng.pick(&["", " ", " ", " ", "-", "-", "."]);
                    self.grouped(kind, groups, sep);
                }
            }
            Kind::Ssn => {
                gen_ssn(&mut self.rng, &mut self.digits);
                if speak {
                    self.spoken(kind, &[3, 2, 4]);
                } else {
                    let sep = if bare { "-" } else { *self.rng.pick(&["-", "-", " ", "", ""]) };
                    self.grouped(kind, &[3, 2, 4], sep);
                }
            }
            Kind::Aadhaar => {
                gen_aadhaar(&mut self.rng, &mut self.digits);
                if speak {
                    self.spoken(kind, &[4, 4, 4]);
                } else {
                    let sep = *self.rng.pick(&[" ", " ", "-", ""]);
                    self.grouped(kind, &[4, 4, 4], sep);
                }
            }
            Kind::Pan => {
                gen_pan(&mut self.rng, &mut self.digits);
                self.plain(kind);
            }
            Kind::Iban => {
                gen_iban(&mut self.rng, &mut self.digits);
                let start = self.begin_value();
                let spaced = self.rng.percent(50);
                for (i, &b) in self.digits.iter().enumerate() {
                    if spaced && i > 0 && i % 4 == 0 {
                        self.text.push(' ');
                    }
                    self.text.push(char::from(b));
                }
                self.end_value(kind, start, false);
            }
            Kind::Email => self.email(),
            Kind::AbaRouting => {
                gen_aba(&mut self.rng, &mut self.digits);
                if speak {
                    self.spoken(kind, &[3, 3, 3]);
                } else {
                    self.plain(kind);
                }
            }
            Kind::BankAccount => {
                gen_account(&mut self.rng, &mut self.digits);
                let len = self.digits.len();
                if speak {
                    self.spoken(kind, ACCOUNT_GROUPS[len.min(ACCOUNT_GROUPS.len() - 1)]);
                } else if self.rng.percent(15) {
                    self.grouped(kind, ACCOUNT_GROUPS[len.min(ACCOUNT_GROUPS.len() - 1)], "-");
                } else {
                    self.plain(kind);
                }
            }
            Kind::Phone => self.phone(bare, speak),
            Kind::Cvv => {
                let len = if self.amex { 4 } else { 3 };
                self.digits.clear();
                for _ in 0..len {
                    let d = self.rng.digit();
                    self.digits.push(d);
                }
                if speak {
                    self.spoken(kind, if len == 4 { &[4] } else { &[3] });
                } else {
                    self.plain(kind);
                }
            }
            Kind::Expiry => self.expiry(false),
            Kind::Dob => self.dob(),
            Kind::Passport => {
                gen_passport(&mut self.rng, &mut self.digits);
                self.plain(kind);
            }
            // Never generated: custom patterns are the caller's.
            Kind::Custom => {}
        }
    }

    /// `self.digits` as one token.
    fn plain(&mut self, kind: Kind) {
        let start = self.begin_value();
        for &b in &self.digits {
            self.text.push(char::from(b));
        }
        self.end_value(kind, start, false);
    }

    /// `self.digits` in groups of the given sizes joined by `sep`.
    fn grouped(&mut self, kind: Kind, groups: &[usize], sep: &str) {
        let start = self.begin_value();
        let mut rest = self.digits.as_slice();
        for (gi, &g) in groups.iter().enumerate() {
            if gi > 0 {
                self.text.push_str(sep);
            }
            let (head, tail) = rest.split_at(g.min(rest.len()));
            for &b in head {
                self.text.push(char::from(b));
            }
            rest = tail;
        }
        // A group table shorter than the value must not drop digits.
        for &b in rest {
            self.text.push(char::from(b));
        }
        self.end_value(kind, start, false);
    }

    /// `self.digits` read out as words, group by group, sometimes with a
    /// group in digits, sometimes broken over two lines or, with the other
    /// speaker's interjection, over two turns.
    fn spoken(&mut self, kind: Kind, groups: &'static [usize]) {
        let mut d = [0u8; 24];
        let n = self.digits.len().min(d.len());
        d[..n].copy_from_slice(&self.digits[..n]);
        let split_at = if groups.len() >= 2 { self.rng.range(1, groups.len() - 1) } else { 0 };
        let split = match self.rng.below(100) {
            _ if split_at == 0 => Split::None,
            0..=17 => Split::Turn,
            18..=29 => Split::Line,
            _ => Split::None,
        };
        let start = self.begin_value();
        let mut i = 0;
        for (gi, &g) in groups.iter().enumerate() {
            if gi > 0 {
                match split {
                    Split::Turn if gi == split_at => {
                        let me = self.who;
                        self.turn(me.other());
                        self.key_any(INTERJECTIONS);
                        self.turn(me);
                        if self.rng.percent(25) {
                            self.key("and then");
                            self.text.push(' ');
                        }
                    }
                    Split::Line if gi == split_at => {
                        self.text.push('\n');
                        self.line_start = self.text.len();
                    }
                    _ => {
                        if self.style.punct && self.rng.percent(50) {
                            self.text.push(',');
                        }
                        self.text.push(' ');
                    }
                }
            }
            let end = (i + g).min(n);
            let group = &d[i.min(end)..end];
            i = end;
            if self.rng.percent(10) {
                for &b in group {
                    self.text.push(char::from(b));
                }
            } else {
                spoken_words(&mut self.rng, group, &mut self.text);
            }
        }
        self.need_sep = true;
        self.end_value(kind, start, true);
    }

    fn email(&mut self) {
        let start = self.begin_value();
        let first = *self.rng.pick(FIRST_NAMES);
        let last = *self.rng.pick(LAST_NAMES);
        let t = &mut self.text;
        match self.rng.below(8) {
            0 | 1 => {
                t.push_str(first);
                t.push('.');
                t.push_str(last);
            }
            2 => {
                t.push_str(first);
                t.push_str(last);
                push_num(t, self.rng.range(1, 99) as u32);
            }
            3 => {
                t.push_str(&first[..1]);
                t.push('.');
                t.push_str(last);
            }
            4 => {
                t.push_str(first);
                t.push('_');
                t.push_str(last);
            }
            5 => {
                t.push_str(first);
                t.push('.');
                t.push_str(last);
                t.push('+');
                let tag = *self.rng.pick(&["billing", "shop", "work", "news", "orders"]);
                t.push_str(tag);
            }
            6 => {
                t.push_str(first);
                push_num(t, self.rng.range(1950, 2010) as u32);
            }
            _ => {
                t.push_str(last);
                t.push('.');
                t.push_str(first);
                push_num(t, self.rng.range(1, 9) as u32);
            }
        }
        t.push('@');
        let domain = *self.rng.pick(DOMAINS);
        t.push_str(domain);
        self.end_value(Kind::Email, start, false);
    }

    /// A phone number in a national or international format, sometimes with
    /// an extension; `bare` excludes the unformatted forms that need a
    /// keyword. Read out, it is the national number digit by digit.
    fn phone(&mut self, bare: bool, speak: bool) {
        let d = &mut self.digits;
        d.clear();
        let (template, spoken_groups): (&str, &'static [usize]) = match self.rng.below(10) {
            // US / NANP: area code and exchange start with 2-9.
            0..=4 => {
                let toll_free = self.rng.percent(12);
                if toll_free {
                    let area: &[u8] = *self.rng.pick(&[b"800", b"888", b"877", b"866", b"855"]);
                    d.extend_from_slice(area);
                } else {
                    d.push(b'2' + self.rng.below(8) as u8);
                    push_digits(&mut self.rng, d, 2);
                }
                d.push(b'2' + self.rng.below(8) as u8);
                push_digits(&mut self.rng, d, 6);
                let t = if toll_free {
                    *self.rng.pick(&["1-###-###-####", "1 (###) ###-####", "1-###-###-####"])
                } else if bare || self.rng.percent(88) {
                    *self.rng.pick(US_FORMATTED)
                } else {
                    "##########"
                };
                (t, &[3, 3, 4])
            }
            // India mobile: 10 digits starting 6-9.
            5..=7 => {
                d.push(b'6' + self.rng.below(4) as u8);
                push_digits(&mut self.rng, d, 9);
                let t = if bare || self.rng.percent(70) {
                    *self.rng.pick(&["+91 ##### #####", "+91-#####-#####", "0##### #####", "+91##########"])
                } else {
                    *self.rng.pick(&["##### #####", "##########"])
                };
                (t, &[5, 5])
            }
            // UK: London landline or mobile, read out with the trunk 0.
            _ => {
                if self.rng.percent(50) {
                    d.extend_from_slice(b"20");
                    push_digits(&mut self.rng, d, 8);
                    (*self.rng.pick(&["+44 ## #### ####", "0## #### ####", "+44 (0)## #### ####"]), &[3, 4, 4])
                } else {
                    d.push(b'7');
                    push_digits(&mut self.rng, d, 9);
                    (*self.rng.pick(&["0#### ######", "+44 #### ######", "+44##########"]), &[5, 6])
                }
            }
        };
        if speak {
            if spoken_groups.iter().sum::<usize>() > self.digits.len() {
                self.digits.insert(0, b'0');
            }
            return self.spoken(Kind::Phone, spoken_groups);
        }
        let start = self.begin_value();
        let mut next = self.digits.iter();
        for c in template.chars() {
            if c == '#' {
                if let Some(&b) = next.next() {
                    self.text.push(char::from(b));
                }
            } else {
                self.text.push(c);
            }
        }
        if self.rng.percent(10) {
            let ext = *self.rng.pick(&[" ext. ", " x", " ext ", " extension ", " Ext. "]);
            self.text.push_str(ext);
            for _ in 0..self.rng.range(2, 4) {
                let d = self.rng.digit();
                self.text.push(char::from(d));
            }
        }
        self.end_value(Kind::Phone, start, false);
    }

    /// A card expiry date; `slash` forces `MM/YY` or `MM/YYYY` (for a value
    /// written right after a card number, where `08 27` would run into it).
    fn expiry(&mut self, slash: bool) {
        let start = self.begin_value();
        let m = self.rng.range(1, 12) as u32;
        let y = self.rng.range(25, 34) as u32;
        let t = &mut self.text;
        push_2(t, m);
        let form = if slash { self.rng.below(2) } else { self.rng.below(6) };
        match form {
            0 | 4 => {
                t.push('/');
                push_2(t, y);
            }
            1 => {
                t.push_str("/20");
                push_2(t, y);
            }
            2 => {
                t.push(' ');
                push_2(t, y);
            }
            _ => {
                t.push('-');
                push_2(t, y);
            }
        }
        self.end_value(Kind::Expiry, start, false);
    }

    /// A date of birth in one of the usual numeric or written forms.
    fn dob(&mut self) {
        let start = self.begin_value();
        let y = self.rng.range(1942, 2006) as u32;
        let m = self.rng.range(1, 12) as u32;
        let d = self.rng.range(1, days_in_month(m, y) as usize) as u32;
        let lower = self.style.lower;
        let month = MONTHS[(m - 1) as usize];
        let t = &mut self.text;
        match self.rng.below(8) {
            0 | 1 => {
                push_2(t, m);
                t.push('/');
                push_2(t, d);
                t.push('/');
                push_num(t, y);
            }
            2 => {
                push_2(t, d);
                t.push('/');
                push_2(t, m);
                t.push('/');
                push_num(t, y);
            }
            3 => {
                push_num(t, y);
                t.push('-');
                push_2(t, m);
                t.push('-');
                push_2(t, d);
            }
            4 => {
                push_num(t, d);
                t.push(' ');
                push_month(t, month, lower);
                t.push(' ');
                push_num(t, y);
            }
            5 | 6 => {
                push_month(t, month, lower);
                t.push(' ');
                push_num(t, d);
                t.push_str(if lower { " " } else { ", " });
                push_num(t, y);
            }
            _ => {
                let sep = if self.rng.percent(50) { '-' } else { '.' };
                push_2(t, d);
                t.push(sep);
                push_2(t, m);
                t.push(sep);
                push_num(t, y);
            }
        }
        self.end_value(Kind::Dob, start, false);
    }
}

#[derive(Debug, Clone, Copy)]
enum Split {
    None,
    Line,
    Turn,
}

const US_FORMATTED: &[&str] = &[
    "(###) ###-####",
    "(###) ###-####",
    "###-###-####",
    "###-###-####",
    "###.###.####",
    "+1 ### ### ####",
    "+1 (###) ###-####",
    "+1-###-###-####",
    "+1##########",
];

// ---------------------------------------------------------------------------
// Scenes
// ---------------------------------------------------------------------------

impl Generator {
    /// An ordinary turn: opener, one or more sentences, maybe a closer.
    fn filler_turn(&mut self) {
        let who = if self.rng.percent(85) { self.who.other() } else { self.who };
        self.turn(who);
        if self.rng.percent(30) {
            self.say_any(OPENERS);
            self.punct(",");
        }
        let n = if self.rng.percent(self.params.long) {
            self.rng.range(4, 7)
        } else {
            *self.rng.pick(&[1, 1, 1, 2, 2, 2, 2, 3])
        };
        let lines = match who {
            Who::Agent => AGENT_LINES,
            Who::Customer => CUSTOMER_LINES,
        };
        // Consecutive picks are distinct: a sentence said twice in a row
        // reads like a generator bug, not like speech.
        let mut i = self.rng.below(lines.len());
        for _ in 0..n {
            self.say(lines[i]);
            i = (i + self.rng.range(1, lines.len() - 1)) % lines.len();
        }
        if self.rng.percent(8) {
            self.say_any(CLOSERS);
        }
    }

    fn pii_scene(&mut self, kind: Kind) {
        // A CVV asked for on its own is for a card not shown: Amex (4 digits) now and then.
        self.amex = self.rng.percent(10);
        if self.rng.percent(self.params.screen) {
            return self.screen(kind);
        }
        if self.rng.percent(self.params.bare) && allows_bare(kind) {
            self.turn(Who::Agent);
            self.say_any(GO_AHEAD);
            return self.answer(kind, Form::Bare);
        }
        match kind {
            Kind::Card => self.card_scene(),
            Kind::Cvv => {
                self.ask(Kind::Cvv);
                self.answer(Kind::Cvv, Form::MaySpeak);
            }
            Kind::Expiry => {
                if self.rng.percent(70) {
                    self.ask(Kind::Expiry);
                    self.answer(Kind::Expiry, Form::Written);
                } else {
                    self.volunteer(Kind::Expiry);
                }
            }
            _ => match self.rng.below(100) {
                0..=49 => {
                    self.ask(kind);
                    self.answer(kind, Form::MaySpeak);
                }
                50..=79 => self.volunteer(kind),
                _ => self.read_back(kind),
            },
        }
    }

    /// The agent asks for `kind` (with its keyword).
    fn ask(&mut self, kind: Kind) {
        self.turn(Who::Agent);
        if self.params.dense && self.rng.percent(70) {
            self.inline_read_back();
        } else if self.rng.percent(25) {
            self.say_any(OPENERS);
            self.punct(",");
        }
        self.key_any(texts(kind).ask);
    }

    /// The customer answers with a value of `kind`.
    fn answer(&mut self, kind: Kind, form: Form) {
        self.turn(Who::Customer);
        if self.rng.percent(75) {
            self.say_any(ANSWER_LEADS);
        }
        self.value(kind, form);
        self.end_sentence();
    }

    /// The customer offers a value with its keyword in the same turn.
    fn volunteer(&mut self, kind: Kind) {
        self.turn(Who::Customer);
        if self.rng.percent(30) {
            self.say_any(OPENERS);
            self.punct(",");
        }
        self.key_any(texts(kind).lead);
        self.value(kind, Form::MaySpeak);
        self.end_sentence();
    }

    /// The agent reads back a value on file; the customer confirms.
    fn read_back(&mut self, kind: Kind) {
        self.turn(Who::Agent);
        self.key_any(&["I have your", "I see your", "the system shows your", "so I've got your"]);
        self.key_any(texts(kind).noun);
        self.key("as");
        self.value(kind, Form::Written);
        self.punct(",");
        self.key_any(&["is that correct?", "is that right?", "can you confirm?"]);
        self.turn(Who::Customer);
        if self.params.dense && self.rng.percent(70) {
            self.say("yes, and");
            let other = weighted(&mut self.rng, self.params.kinds);
            if matches!(other, Kind::Cvv | Kind::Expiry) {
                self.key("my card number is");
                self.value(Kind::Card, Form::MaySpeak);
            } else {
                self.key_any(texts(other).lead);
                self.value(other, Form::MaySpeak);
            }
            self.end_sentence();
        } else {
            self.say_any(CONFIRMS);
        }
    }

    /// Dense profile: a read-back at the start of an agent turn.
    fn inline_read_back(&mut self) {
        let kind = match weighted(&mut self.rng, self.params.kinds) {
            Kind::Cvv => Kind::Card,
            k => k,
        };
        let (lead, verb) =
            *self.rng.pick(&[("thanks, I have your", "as"), ("okay, so your", "is"), ("got it, your", "is")]);
        self.key(lead);
        self.key_any(texts(kind).noun);
        self.key(verb);
        self.value(kind, Form::Written);
        self.punct(".");
    }

    fn end_sentence(&mut self) {
        if self.rng.percent(70) {
            self.punct(".");
        }
        if self.rng.percent(15) {
            self.say_any(&["thanks.", "thank you.", "yeah.", "that's it.", "okay?"]);
        }
    }

    fn card_scene(&mut self) {
        match self.rng.below(100) {
            // Question and answer; expiry and CVV in the same turn or asked for.
            0..=44 => {
                self.ask(Kind::Card);
                self.answer(Kind::Card, Form::MaySpeak);
                if self.rng.percent(60) {
                    if self.rng.percent(50) {
                        self.key_any(&["and the expiry is", "expiry", "it expires", "exp date"]);
                        self.value(Kind::Expiry, Form::Written);
                        self.end_sentence();
                    } else {
                        self.ask(Kind::Expiry);
                        self.answer(Kind::Expiry, Form::Written);
                    }
                }
                if self.rng.percent(50) {
                    self.ask(Kind::Cvv);
                    self.answer(Kind::Cvv, Form::MaySpeak);
                }
            }
            // Everything in one turn.
            45..=69 => {
                self.volunteer(Kind::Card);
                if self.rng.percent(70) {
                    self.key_any(&["expiry", "expiring", "exp", "and it expires"]);
                    self.value(Kind::Expiry, Form::Written);
                }
                if self.rng.percent(60) {
                    self.punct(",");
                    self.key_any(&["and the cvv is", "cvv", "security code"]);
                    self.value(Kind::Cvv, Form::Written);
                }
                self.end_sentence();
            }
            // Card, expiry, CVV straight after one another.
            70..=81 => {
                self.ask(Kind::Card);
                self.turn(Who::Customer);
                self.say_any(ANSWER_LEADS);
                self.value(Kind::Card, Form::Written);
                self.punct(",");
                self.expiry(true);
                self.punct(",");
                self.value(Kind::Cvv, Form::Written);
                self.end_sentence();
            }
            _ => self.read_back(Kind::Card),
        }
    }

    /// A screen capture: a header line and field lines, the first holding
    /// `kind`, the others random fields and harmless noise.
    fn screen(&mut self, kind: Kind) {
        self.screen_header();
        self.newline();
        match kind {
            Kind::Card | Kind::Expiry | Kind::Cvv => self.card_fields(kind),
            _ => self.field(kind),
        }
        if self.rng.percent(40) {
            self.field_sep();
            self.noise_field();
        }
        for _ in 0..self.rng.range(0, 3) {
            self.newline();
            match self.rng.below(10) {
                0..=2 => self.noise_field(),
                3 => self.card_fields(Kind::Card),
                _ => {
                    let k = weighted(&mut self.rng, SCREEN_KINDS);
                    self.field(k);
                }
            }
            if self.rng.percent(35) {
                self.field_sep();
                let k = weighted(&mut self.rng, SCREEN_KINDS);
                self.field(k);
            }
        }
    }

    fn screen_header(&mut self) {
        self.newline();
        match self.rng.below(4) {
            0 => {
                self.glue("[screen ");
                push_clock(&mut self.text, self.clock);
                self.glue("] ");
            }
            1 => self.glue("--- screen capture --- "),
            2 => self.glue("SCREEN: "),
            _ => self.glue("[OCR] "),
        }
        self.glue_any(SCREENS);
    }

    fn field_sep(&mut self) {
        self.glue_any(&["  ", "   ", " | ", "\t"]);
        self.need_sep = false;
    }

    /// `Label: value`.
    fn field(&mut self, kind: Kind) {
        self.glue_any(texts(kind).field);
        self.glue(": ");
        self.need_sep = false;
        self.style = Style { lower: false, punct: true };
        self.value(kind, Form::Written);
    }

    /// `Card No: ...  Exp: ...  CVV: ...`, always with the card when the
    /// expiry or CVV is wanted, so they are never without card context.
    fn card_fields(&mut self, kind: Kind) {
        if kind == Kind::Expiry && self.rng.percent(30) {
            self.glue("Card Expiry: ");
            self.need_sep = false;
            return self.value(Kind::Expiry, Form::Written);
        }
        self.field(Kind::Card);
        if kind == Kind::Expiry || self.rng.percent(60) {
            self.field_sep();
            self.field(Kind::Expiry);
        }
        if kind == Kind::Cvv || self.rng.percent(25) {
            self.field_sep();
            self.field(Kind::Cvv);
        }
    }

    /// A screen field that is not PII: a name, amount, status, timestamp.
    fn noise_field(&mut self) {
        match self.rng.below(6) {
            0 => {
                self.glue("Name: ");
                self.glue_any(DISPLAY_NAMES);
            }
            1 => {
                self.glue_any(&["Balance: ", "Amount Due: ", "Last Payment: "]);
                self.amount();
            }
            2 => {
                self.glue_any(&["Status: Active", "Status: Suspended", "Tier: Gold", "Plan: Unlimited 5G"]);
            }
            3 => {
                self.glue_any(&["Last Login: ", "Updated: ", "Created: "]);
                self.datetime();
            }
            4 => {
                self.glue("Ticket: ");
                self.fill("INC00######");
            }
            _ => {
                self.glue("Address: ");
                self.glue_any(ADDRESSES);
            }
        }
        self.need_sep = true;
    }

    fn header(&mut self) {
        let queue = *self.rng.pick(QUEUES);
        match self.rng.below(3) {
            0 => {
                self.glue("Call ID: ");
                self.fill("^^##########");
                self.glue(" | Queue: ");
                self.glue(queue);
                self.glue(" | Started: ");
                self.datetime();
                self.glue(" | Agent ID: ");
                self.fill("%###");
            }
            1 => {
                self.glue("=== Transcript ");
                self.fill("%####");
                self.glue(" \u{2014} ");
                self.datetime();
                self.glue(" \u{2014} ");
                self.glue(queue);
                self.glue(" ===");
            }
            _ => {
                self.glue("Interaction CX-");
                self.fill("%######");
                self.glue(" (");
                self.glue(queue);
                self.glue(", duration 00:");
                push_2(&mut self.text, self.rng.range(1, 45) as u32);
                self.glue(":");
                push_2(&mut self.text, self.rng.range(0, 59) as u32);
                self.glue(")");
            }
        }
    }

    /// A hard negative: numbers and dates that are not PII, with no PII
    /// keyword in the turn or next to it.
    fn neg_scene(&mut self) {
        match self.rng.below(13) {
            0 => {
                self.neg_lead(
                    &["can I get the order number please?", "do you have the order number handy?"],
                    &["I'm calling about order number", "it's about my order", "the order number is"],
                );
                match self.rng.below(4) {
                    0 => self.token("%#########"),
                    1 => self.token("ORD-20##-######"),
                    2 => self.luhn_token(),
                    _ => self.token("%##-#######-#######"),
                }
            }
            1 => {
                self.neg_lead(
                    &["do you have the tracking number?", "what does the tracking page say?"],
                    &["the tracking number is", "tracking says", "it's tracking number"],
                );
                match self.rng.below(4) {
                    0 => self.token("1Z******##########"),
                    1 => self.token("9400 1### #### #### #### ##"),
                    2 => self.token("94001#################"),
                    _ => self.luhn_token(),
                }
            }
            2 => {
                self.turn(Who::Agent);
                match self.rng.below(5) {
                    0 => {
                        self.key("your ticket number is");
                        self.token("INC00#####");
                    }
                    1 => {
                        self.key("the reference number for this call is");
                        self.token("%###-###-##");
                    }
                    2 => {
                        self.key("your confirmation number is");
                        self.token("%#######");
                    }
                    3 => {
                        self.key("I've opened case number");
                        self.token("CS-%#####");
                    }
                    _ => {
                        self.key("the complaint reference is");
                        self.token("^^%######");
                    }
                }
                self.end_sentence();
            }
            3 => {
                self.turn(Who::Agent);
                self.key_any(&[
                    "I'll give you a reference number for this, it's",
                    "your ticket reference is",
                    "the confirmation code for the refund is",
                    "please quote reference",
                ]);
                self.luhn_token();
                self.end_sentence();
            }
            4 => {
                self.turn(self.who.other());
                match self.rng.below(3) {
                    0 => {
                        self.say("it dropped at");
                        self.time(true);
                        self.say("and again at");
                        self.time(false);
                    }
                    1 => {
                        self.say("the log shows");
                        self.sep();
                        self.datetime();
                        self.say("as the last sync");
                    }
                    _ => {
                        self.say("I can see a login at");
                        self.time(true);
                        self.say("this morning");
                    }
                }
                self.end_sentence();
            }
            5 => {
                self.turn(self.who.other());
                self.say_any(&["I was charged", "the outstanding balance is", "they took", "the refund of"]);
                self.sep();
                self.amount();
                self.say_any(&["instead of", "and not", "plus"]);
                self.sep();
                self.amount();
                self.end_sentence();
            }
            6 => {
                self.turn(Who::Agent);
                self.key_any(&[
                    "your appointment is on",
                    "we shipped it on",
                    "the bill dated",
                    "the technician visit is booked for",
                    "your plan renews on",
                ]);
                self.other_date();
                self.end_sentence();
            }
            7 => {
                self.turn(self.who);
                self.key_any(&["your claim number is", "the policy number is", "my member id is", "the invoice is"]);
                gen_ssn(&mut self.rng, &mut self.digits);
                self.sep();
                for &b in &self.digits {
                    self.text.push(char::from(b));
                }
                self.end_sentence();
            }
            8 => {
                self.turn(Who::Customer);
                let (lead, template, tail) = *self.rng.pick(SMALL_NUMBERS);
                self.say(lead);
                self.token(template);
                if !tail.is_empty() {
                    self.say(tail);
                }
                self.end_sentence();
            }
            9 => {
                self.turn(Who::Customer);
                for _ in 0..self.rng.range(1, 2) {
                    self.say_any(SPOKEN_SMALL);
                }
            }
            10 => self.neg_screen(),
            11 => {
                self.turn(self.who.other());
                let (lead, template) = *self.rng.pick(CODES);
                self.say(lead);
                self.token(template);
                self.end_sentence();
            }
            _ => {
                // An order number read out digit by digit: spoken, but not PII.
                self.turn(Who::Customer);
                self.key_any(&["the order number is", "order", "the tracking code is"]);
                self.digits.clear();
                self.digits.push(b'1' + self.rng.below(9) as u8);
                let len = self.rng.range(6, 9);
                push_digits(&mut self.rng, &mut self.digits, len);
                self.sep();
                spoken_words(&mut self.rng, &self.digits, &mut self.text);
                self.end_sentence();
            }
        }
    }

    fn neg_lead(&mut self, asks: &[&str], leads: &[&str]) {
        if self.rng.percent(50) {
            self.turn(Who::Agent);
            self.key_any(asks);
            self.turn(Who::Customer);
            self.say_any(ANSWER_LEADS);
        } else {
            self.turn(Who::Customer);
            self.key_any(leads);
        }
    }

    fn neg_screen(&mut self) {
        self.newline();
        self.glue_any(&["[screen] Orders > Order Details", "SCREEN: Billing > Invoices", "[OCR] Shipment"]);
        self.newline();
        self.glue("Order No: ");
        if self.rng.percent(50) {
            self.fill("%#########");
        } else {
            self.luhn_token();
        }
        self.glue(" | Placed: ");
        self.datetime();
        self.newline();
        self.glue("Amount: ");
        self.amount();
        self.glue(" | Status: Shipped | Tracking: ");
        self.fill("1Z******##########");
    }

    /// `template` with `#` a digit, `%` a non-zero digit, `^` a letter and
    /// `*` a letter or digit, after a separator.
    fn token(&mut self, template: &str) {
        self.sep();
        self.fill(template);
        self.cap_next = false;
    }

    fn fill(&mut self, template: &str) {
        for c in template.chars() {
            let out = match c {
                '#' => char::from(self.rng.digit()),
                '%' => char::from(b'1' + self.rng.below(9) as u8),
                '^' => char::from(b'A' + self.rng.below(26) as u8),
                '*' => char::from(ALNUM[self.rng.below(ALNUM.len())]),
                c => c,
            };
            self.text.push(out);
        }
    }

    /// A Luhn-valid 13-19 digit number (often with a card prefix too): only
    /// the words around it say it is a reference, not a card.
    fn luhn_token(&mut self) {
        let len = self.rng.range(13, 19);
        self.digits.clear();
        self.digits.push(b'1' + self.rng.below(9) as u8);
        push_digits(&mut self.rng, &mut self.digits, len - 2);
        let check = luhn_check_digit(&self.digits).unwrap_or(0);
        self.digits.push(b'0' + check);
        self.sep();
        let sep = if self.rng.percent(70) { "" } else { *self.rng.pick(&[" ", "-"]) };
        for (i, &b) in self.digits.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                self.text.push_str(sep);
            }
            self.text.push(char::from(b));
        }
        self.cap_next = false;
    }

    fn time(&mut self, seconds: bool) {
        self.sep();
        push_2(&mut self.text, self.rng.range(0, 23) as u32);
        self.text.push(':');
        push_2(&mut self.text, self.rng.range(0, 59) as u32);
        if seconds {
            self.text.push(':');
            push_2(&mut self.text, self.rng.range(0, 59) as u32);
        }
    }

    /// `2024-05-12 10:22` or `2024-05-12 10:22:14`, no separator before it.
    fn datetime(&mut self) {
        let t = &mut self.text;
        t.push_str("202");
        push_num(t, self.rng.range(2, 5) as u32);
        t.push('-');
        push_2(t, self.rng.range(1, 12) as u32);
        t.push('-');
        push_2(t, self.rng.range(1, 28) as u32);
        t.push(' ');
        push_2(t, self.rng.range(0, 23) as u32);
        t.push(':');
        push_2(t, self.rng.range(0, 59) as u32);
        if self.rng.percent(50) {
            t.push(':');
            push_2(t, self.rng.range(0, 59) as u32);
        }
    }

    /// A date that is not a date of birth (recent or upcoming).
    fn other_date(&mut self) {
        self.sep();
        let m = self.rng.range(1, 12) as u32;
        let d = self.rng.range(1, 28) as u32;
        let y = self.rng.range(2023, 2026) as u32;
        let t = &mut self.text;
        match self.rng.below(4) {
            0 => {
                push_2(t, m);
                t.push('/');
                push_2(t, d);
                t.push('/');
                push_num(t, y);
            }
            1 => {
                push_num(t, y);
                t.push('-');
                push_2(t, m);
                t.push('-');
                push_2(t, d);
            }
            2 => {
                push_num(t, d);
                t.push(' ');
                t.push_str(MONTHS[(m - 1) as usize]);
                t.push(' ');
                push_num(t, y);
            }
            _ => {
                t.push_str(MONTHS[(m - 1) as usize]);
                t.push(' ');
                push_num(t, d);
            }
        }
        self.cap_next = false;
    }

    /// A money amount, no separator before it.
    fn amount(&mut self) {
        let template = *self.rng.pick(&[
            "$%,###.##",
            "$%##.##",
            "$%#.##",
            "Rs %#,###",
            "Rs. %,###",
            "\u{20b9}%#,###",
            "\u{a3}%#.##",
            "\u{20ac}%##.##",
            "USD %##.##",
            "INR %,##,###",
        ]);
        self.fill(template);
    }
}

fn allows_bare(kind: Kind) -> bool {
    matches!(kind, Kind::Card | Kind::Email | Kind::Iban | Kind::Pan | Kind::Phone | Kind::Aadhaar | Kind::Ssn)
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// Card issuer ranges to generate from: (low prefix, high prefix, lengths,
/// weight). Only ranges that [`crate::validate::card_brand`] accepts at those
/// lengths; the 19-digit Visa and the 2-series Mastercard are there on purpose.
const CARD_RANGES: &[(u32, u32, &[usize], u32)] = &[
    (4, 4, &[16, 16, 16, 16, 16, 13, 19], 30),
    (51, 55, &[16], 14),
    (2221, 2720, &[16], 8),
    (34, 34, &[15], 5),
    (37, 37, &[15], 6),
    (6011, 6011, &[16, 16, 19], 4),
    (644, 649, &[16], 2),
    (65, 65, &[16], 2),
    (622126, 622925, &[16], 1),
    (3528, 3589, &[16, 16, 19], 4),
    (300, 305, &[14], 2),
    (36, 36, &[14], 2),
    (38, 39, &[14, 16], 1),
    (62, 62, &[16, 17, 18, 19], 4),
    (5018, 5018, &[12, 16, 19], 1),
    (5020, 5020, &[12, 13, 16], 1),
    (5038, 5038, &[16, 19], 1),
    (5893, 5893, &[16, 19], 1),
    (6304, 6304, &[16, 18], 1),
    (6759, 6759, &[16, 19], 1),
    (6761, 6763, &[12, 16, 19], 1),
    (60, 60, &[16], 2),
    (81, 82, &[16], 2),
    (508, 508, &[16], 2),
];

/// A Luhn-valid card number with a valid issuer prefix, into `out`; returns
/// how it is grouped when printed.
fn gen_card(rng: &mut Rng, out: &mut Vec<u8>) -> &'static [usize] {
    let total: u32 = CARD_RANGES.iter().map(|r| r.3).sum();
    let mut pick = rng.below(total as usize) as u32;
    let mut range = CARD_RANGES[0];
    for r in CARD_RANGES {
        if pick < r.3 {
            range = *r;
            break;
        }
        pick -= r.3;
    }
    let (lo, hi, lengths, _) = range;
    let len = *rng.pick(lengths);
    loop {
        out.clear();
        let prefix = lo + rng.below((hi - lo + 1) as usize) as u32;
        let mut p = [0u8; 10];
        let mut n = 0;
        let mut v = prefix;
        loop {
            p[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        out.extend(p[..n].iter().rev());
        push_digits(rng, out, len - 1 - n);
        let check = luhn_check_digit(out).unwrap_or(0);
        out.push(b'0' + check);
        // A 12-digit Maestro that is also a valid Aadhaar would be ambiguous.
        if !aadhaar(out) {
            break;
        }
    }
    match len {
        12 => &[4, 4, 4],
        13 => &[4, 4, 5],
        14 => &[4, 6, 4],
        15 => &[4, 6, 5],
        16 => &[4, 4, 4, 4],
        17 => &[4, 4, 4, 5],
        18 => &[4, 4, 4, 6],
        _ => &[4, 4, 4, 4, 3],
    }
}

/// A structurally valid SSN that is not also a valid routing number.
fn gen_ssn(rng: &mut Rng, out: &mut Vec<u8>) {
    loop {
        let area = rng.range(1, 899) as u16;
        let group = rng.range(1, 99) as u8;
        let serial = rng.range(1, 9999) as u16;
        if !ssn_valid(area, group, serial) {
            continue;
        }
        out.clear();
        push_padded(out, u32::from(area), 3);
        push_padded(out, u32::from(group), 2);
        push_padded(out, u32::from(serial), 4);
        if !aba_routing(out) {
            return;
        }
    }
}

/// A Verhoeff-valid Aadhaar number that is not also a valid card number.
fn gen_aadhaar(rng: &mut Rng, out: &mut Vec<u8>) {
    loop {
        out.clear();
        out.push(b'2' + rng.below(8) as u8);
        push_digits(rng, out, 10);
        let check = verhoeff_check_digit(out).unwrap_or(0);
        out.push(b'0' + check);
        if is_card(out).is_none() {
            return;
        }
    }
}

/// A PAN: three letters, a valid holder-status letter, a letter, four
/// digits, a letter.
fn gen_pan(rng: &mut Rng, out: &mut Vec<u8>) {
    out.clear();
    for _ in 0..3 {
        out.push(rng.letter());
    }
    out.push(if rng.percent(75) { b'P' } else { *rng.pick(b"CHFATBLJG") });
    out.push(rng.letter());
    push_digits(rng, out, 4);
    out.push(rng.letter());
}

/// Countries and BBAN shapes: `n` digit, `a` letter, `c` letter or digit.
const IBAN_SHAPES: &[(&[u8; 2], &str)] = &[
    (b"GB", "aaaannnnnnnnnnnnnn"),
    (b"DE", "nnnnnnnnnnnnnnnnnn"),
    (b"FR", "nnnnnnnnnncccccccccccnn"),
    (b"NL", "aaaannnnnnnnnn"),
    (b"ES", "nnnnnnnnnnnnnnnnnnnn"),
    (b"IT", "annnnnnnnnncccccccccccc"),
    (b"AE", "nnnnnnnnnnnnnnnnnnn"),
    (b"SA", "nncccccccccccccccccc"),
    (b"CH", "nnnnncccccccccccc"),
    (b"BE", "nnnnnnnnnnnn"),
    (b"PL", "nnnnnnnnnnnnnnnnnnnnnnnn"),
    (b"IE", "aaaannnnnnnnnnnnnn"),
    (b"PT", "nnnnnnnnnnnnnnnnnnnnn"),
    (b"TR", "nnnnnncccccccccccccccc"),
];

/// An IBAN in electronic form with correct length and mod-97 check digits.
fn gen_iban(rng: &mut Rng, out: &mut Vec<u8>) {
    let (country, shape) = *rng.pick(IBAN_SHAPES);
    out.clear();
    out.extend_from_slice(country);
    out.extend_from_slice(b"00");
    for c in shape.bytes() {
        let b = match c {
            b'a' => rng.letter(),
            b'c' if rng.percent(20) => rng.letter(),
            _ => rng.digit(),
        };
        out.push(b);
    }
    // ISO 7064 mod 97-10 over BBAN, country, "00"; check = 98 - remainder.
    let mut rem = 0u32;
    for &b in out[4..].iter().chain(&out[..4]) {
        rem = match b {
            b'A'..=b'Z' => (rem * 100 + u32::from(b - b'A') + 10) % 97,
            _ => (rem * 10 + u32::from(b - b'0')) % 97,
        };
    }
    let check = 98 - rem;
    out[2] = b'0' + (check / 10) as u8;
    out[3] = b'0' + (check % 10) as u8;
}

/// An ABA routing number: Federal Reserve prefix and 3-7-1 check digit.
fn gen_aba(rng: &mut Rng, out: &mut Vec<u8>) {
    let prefix = match rng.below(10) {
        0..=3 => rng.range(1, 12),
        4..=6 => rng.range(21, 32),
        7 | 8 => rng.range(61, 72),
        _ => 80,
    } as u32;
    out.clear();
    push_padded(out, prefix, 2);
    push_digits(rng, out, 6);
    let d = |i: usize| out.get(i).map_or(0, |&b| u32::from(b - b'0'));
    let sum = 3 * (d(0) + d(3) + d(6)) + 7 * (d(1) + d(4) + d(7)) + (d(2) + d(5));
    out.push(b'0' + ((10 - sum % 10) % 10) as u8);
}

/// A bank account number of 8-17 digits that is not also a card, an
/// Aadhaar or a routing number (which the keyword alone would not settle).
fn gen_account(rng: &mut Rng, out: &mut Vec<u8>) {
    loop {
        out.clear();
        let len = rng.range(8, 17);
        out.push(if rng.percent(20) { b'0' } else { b'1' + rng.below(9) as u8 });
        push_digits(rng, out, len - 1);
        if is_card(out).is_none() && !aadhaar(out) && !aba_routing(out) {
            return;
        }
    }
}

/// How account numbers are grouped when dashed or read out, by length.
const ACCOUNT_GROUPS: [&[usize]; 18] = [
    &[0],
    &[1],
    &[2],
    &[3],
    &[4],
    &[5],
    &[6],
    &[7],
    &[4, 4],
    &[3, 3, 3],
    &[3, 3, 4],
    &[4, 3, 4],
    &[4, 4, 4],
    &[4, 4, 5],
    &[4, 5, 5],
    &[5, 5, 5],
    &[4, 4, 4, 4],
    &[4, 4, 4, 5],
];

/// A passport number: US (9 digits, or a letter and 8 digits) or India (a
/// letter and 7 digits).
fn gen_passport(rng: &mut Rng, out: &mut Vec<u8>) {
    out.clear();
    match rng.below(3) {
        0 => {
            out.push(b'1' + rng.below(9) as u8);
            push_digits(rng, out, 8);
        }
        1 => {
            out.push(rng.letter());
            push_digits(rng, out, 8);
        }
        _ => {
            out.push(*rng.pick(b"ABCDEFGHJKLMNPRSTUVW"));
            out.push(b'1' + rng.below(9) as u8);
            push_digits(rng, out, 6);
        }
    }
}

/// Digits read out as words: "four one one one", "double four", "oh".
fn spoken_words(rng: &mut Rng, digits: &[u8], out: &mut String) {
    let mut i = 0;
    while let Some(&d) = digits.get(i) {
        if i > 0 {
            out.push(' ');
        }
        let run = digits[i..].iter().take_while(|&&x| x == d).count();
        let repeat = if run >= 3 && rng.percent(30) {
            out.push_str("triple ");
            3
        } else if run >= 2 && rng.percent(30) {
            out.push_str("double ");
            2
        } else {
            1
        };
        let v = usize::from(d.wrapping_sub(b'0')).min(9);
        out.push_str(if v == 0 && rng.percent(60) { "oh" } else { DIGIT_WORDS[v] });
        i += repeat;
    }
}

/// Swaps, drops or doubles a letter inside the word in `buf[..n]`; returns
/// the new length.
fn typo(rng: &mut Rng, buf: &mut [u8], n: usize) -> usize {
    let i = rng.range(1, n - 2);
    if !buf[i].is_ascii_alphabetic() || !buf[i + 1].is_ascii_alphabetic() {
        return n;
    }
    match rng.below(3) {
        0 => {
            buf.swap(i, i + 1);
            n
        }
        1 => {
            buf.copy_within(i + 1..n, i);
            n - 1
        }
        _ if n < buf.len() => {
            buf.copy_within(i..n, i + 1);
            n + 1
        }
        _ => n,
    }
}

fn days_in_month(m: u32, y: u32) -> u32 {
    match m {
        2 if y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn push_month(t: &mut String, month: &str, lower: bool) {
    if lower {
        t.extend(month.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        t.push_str(month);
    }
}

/// `[00:01:23]`-style clock from seconds.
fn push_clock(t: &mut String, secs: u32) {
    push_2(t, secs / 3600);
    t.push(':');
    push_2(t, secs / 60 % 60);
    t.push(':');
    push_2(t, secs % 60);
}

fn push_2(t: &mut String, n: u32) {
    t.push(char::from(b'0' + (n / 10 % 10) as u8));
    t.push(char::from(b'0' + (n % 10) as u8));
}

fn push_num(t: &mut String, n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        t.push(char::from(b));
    }
}

fn push_padded(out: &mut Vec<u8>, n: u32, width: usize) {
    let mut div = 10u32.pow(width.saturating_sub(1) as u32);
    while div > 0 {
        out.push(b'0' + (n / div % 10) as u8);
        div /= 10;
    }
}

fn push_digits(rng: &mut Rng, out: &mut Vec<u8>, n: usize) {
    for _ in 0..n {
        out.push(rng.digit());
    }
}

fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|i| i.1).sum();
    let mut pick = rng.below(total.max(1) as usize) as u32;
    for &(item, w) in items {
        if pick < w {
            return item;
        }
        pick -= w;
    }
    items[0].0
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// SplitMix64: tiny, fast, and the same on every platform.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    fn percent(&mut self, p: u32) -> bool {
        self.next() % 100 < u64::from(p)
    }

    fn per_mille(&mut self, p: u32) -> bool {
        self.next() % 1000 < u64::from(p)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn digit(&mut self) -> u8 {
        b'0' + self.below(10) as u8
    }

    fn letter(&mut self) -> u8 {
        b'A' + self.below(26) as u8
    }
}

// ---------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------

/// The keywords and field names of a kind.
struct Texts {
    /// Agent questions.
    ask: &'static [&'static str],
    /// Customer phrases right before a value.
    lead: &'static [&'static str],
    /// Nouns for read-backs ("I have your {noun} as ...").
    noun: &'static [&'static str],
    /// Screen field names.
    field: &'static [&'static str],
}

fn texts(kind: Kind) -> &'static Texts {
    match kind {
        Kind::Card | Kind::Custom => &Texts {
            ask: &[
                "can I get the long number on the front of the card?",
                "could you read me the card number please?",
                "what's the card number you'd like to use today?",
                "okay, go ahead with the card number whenever you're ready.",
                "which card would you like to pay with? I'll need the full card number.",
            ],
            lead: &[
                "my card number is",
                "the card number is",
                "okay the card is",
                "the number on the card is",
                "my debit card number is",
                "the credit card number is",
            ],
            noun: &["card number", "card on file", "debit card number"],
            field: &["Card No", "Card Number", "Card", "CC Number"],
        },
        Kind::Ssn => &Texts {
            ask: &[
                "can I have your social security number?",
                "for verification I'll need your SSN please.",
                "and what's your social?",
                "could you confirm your full social security number for me?",
            ],
            lead: &["my social security number is", "my SSN is", "my social is", "social security is"],
            noun: &["social security number", "SSN"],
            field: &["SSN", "Social Security No", "Soc Sec #"],
        },
        Kind::Aadhaar => &Texts {
            ask: &[
                "please share your Aadhaar number for the KYC.",
                "can you tell me the Aadhaar card number?",
                "I'll need your Aadhaar number to verify.",
            ],
            lead: &["my Aadhaar number is", "Aadhaar number", "my aadhaar card number is", "the Aadhaar is"],
            noun: &["Aadhaar number", "Aadhaar"],
            field: &["Aadhaar", "Aadhaar No", "Aadhaar Number"],
        },
        Kind::Pan => &Texts {
            ask: &[
                "can I have your PAN number?",
                "what's the PAN on your tax card?",
                "for the refund I need your PAN card number.",
            ],
            lead: &["my PAN is", "PAN number is", "my PAN card number is"],
            noun: &["PAN", "PAN number"],
            field: &["PAN", "PAN No", "Income Tax PAN"],
        },
        Kind::Iban => &Texts {
            ask: &[
                "what's the IBAN for the refund?",
                "could you give me your IBAN please?",
                "I'll need the IBAN you want the money sent to.",
            ],
            lead: &["my IBAN is", "the IBAN is", "please send it to IBAN"],
            noun: &["IBAN"],
            field: &["IBAN", "Beneficiary IBAN"],
        },
        Kind::Email => &Texts {
            ask: &[
                "what's the best email to reach you?",
                "can I get your email address?",
                "and where should I send the confirmation email?",
            ],
            lead: &["my email is", "you can email me at", "send it to", "my email address is"],
            noun: &["email", "email address"],
            field: &["Email", "E-mail", "Email Address"],
        },
        Kind::AbaRouting => &Texts {
            ask: &[
                "and what's the routing number?",
                "can you read me the bank's routing number?",
                "I'll also need the nine digit routing number.",
            ],
            lead: &["the routing number is", "routing is", "the ABA routing number is", "routing number"],
            noun: &["routing number", "ABA routing number"],
            field: &["Routing", "Routing No", "ABA"],
        },
        Kind::BankAccount => &Texts {
            ask: &[
                "and the account number?",
                "what's the bank account number for the direct debit?",
                "can you give me the checking account number?",
            ],
            lead: &["my account number is", "the acct number is", "account number", "checking account number is"],
            noun: &["account number", "bank account number"],
            field: &["Acct #", "Account No", "A/C No", "Bank Account"],
        },
        Kind::Phone => &Texts {
            ask: &[
                "what's the best number to call you back on?",
                "can I get a callback number in case we get disconnected?",
                "what's your mobile number?",
                "and a contact phone number please?",
            ],
            lead: &[
                "you can call me back on",
                "my number is",
                "my mobile is",
                "reach me on my cell",
                "my phone number is",
            ],
            noun: &["callback number", "phone number", "mobile number"],
            field: &["Phone", "Mobile", "Tel", "Callback"],
        },
        Kind::Cvv => &Texts {
            ask: &[
                "and the CVV on the back of the card?",
                "what's the security code on the back of the card?",
                "and finally the card security code please.",
            ],
            lead: &["the cvv on the back of the card is", "the card security code is", "the CVC on the card is"],
            noun: &["card security code"],
            field: &["CVV", "CVC", "CVV2"],
        },
        Kind::Expiry => &Texts {
            ask: &[
                "and the expiry date on the card?",
                "when does the card expire?",
                "what's the expiration date on the card?",
            ],
            lead: &["the card expires", "the card expiry date is", "card expiry is"],
            noun: &["card expiry", "card expiration date"],
            field: &["Exp", "Expiry", "Valid Thru", "Card Expiry"],
        },
        Kind::Dob => &Texts {
            ask: &[
                "can you confirm your date of birth?",
                "what's your DOB please?",
                "and your birthday, for security?",
                "can I have the date of birth on the policy?",
            ],
            lead: &["my date of birth is", "I was born on", "my birthday is", "DOB is", "date of birth"],
            noun: &["date of birth", "DOB"],
            field: &["DOB", "Date of Birth", "D.O.B."],
        },
        Kind::Passport => &Texts {
            ask: &[
                "what's your passport number?",
                "can you read me the number on your passport?",
                "I'll need the passport number for the booking.",
            ],
            lead: &["my passport number is", "passport number", "the number on my passport is", "passport no is"],
            noun: &["passport number"],
            field: &["Passport No", "Passport", "Passport Number"],
        },
    }
}

/// Kinds shown as extra screen fields (CVV and expiry only with a card).
const SCREEN_KINDS: &[(Kind, u32)] = &[
    (Kind::Email, 4),
    (Kind::Phone, 4),
    (Kind::Dob, 3),
    (Kind::BankAccount, 2),
    (Kind::AbaRouting, 1),
    (Kind::Ssn, 2),
    (Kind::Pan, 1),
    (Kind::Aadhaar, 1),
    (Kind::Passport, 1),
    (Kind::Iban, 1),
];

const SPEAKERS: &[(&str, &str)] =
    &[("Agent", "Customer"), ("Agent", "Customer"), ("Agent", "Caller"), ("AGENT", "CUSTOMER"), ("Rep", "Customer")];

const DIGIT_WORDS: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

/// Interjections inside a value read out across turns: no number words.
const INTERJECTIONS: &[&str] = &["mm-hmm", "okay go on", "uh-huh", "yes go ahead", "okay", "got it, go on", "right"];

const GO_AHEAD: &[&str] =
    &["okay, go ahead, I'm ready.", "alright, whenever you're ready.", "sure, go ahead.", "okay, what is it?"];

const ANSWER_LEADS: &[&str] = &[
    "sure, it's",
    "yeah it's",
    "okay so it's",
    "it's",
    "um yeah, it's",
    "yes, that's",
    "let me check. okay it's",
    "sure thing, it's",
    "uh, it is",
];

const CONFIRMS: &[&str] =
    &["yes, that's right.", "yeah that's correct.", "yep.", "that's the one, yes.", "correct.", "um, yes I think so."];

const OPENERS: &[&str] = &[
    "um",
    "uh",
    "okay",
    "okay so",
    "yeah",
    "right",
    "so",
    "oh I see",
    "hmm",
    "alright",
    "well",
    "mm-hmm",
    "sure",
    "oh okay",
    "one moment",
    "oh",
];

const CLOSERS: &[&str] = &["thanks.", "thank you.", "if that makes sense.", "you know.", "right?", "okay?", "yeah."];

const AGENT_LINES: &[&str] = &[
    "thank you for calling customer support, my name is Sarah, how can I help you today?",
    "I'm sorry to hear that, let me take a look at what's going on.",
    "okay, I can see the request here on my screen.",
    "bear with me for just a moment while I pull that up.",
    "I completely understand how frustrating that must be.",
    "let me check with my supervisor and I'll be right back with you.",
    "is there anything else I can help you with today?",
    "I've gone ahead and raised that with our billing team.",
    "you should see the change within three to five business days.",
    "can you confirm that you're the main person on the plan?",
    "okay, and what seems to be the problem with the service?",
    "I can offer you a goodwill credit on the next bill.",
    "just so you know, this call may be recorded for quality and training purposes.",
    "alright, I've updated that for you.",
    "one moment please.",
    "thanks for holding, I appreciate your patience.",
    "it looks like there was an outage in your area yesterday evening.",
    "I'm going to transfer you to the technical team, they'll be able to help.",
    "have you tried restarting the router since then?",
    "no problem at all, take your time.",
    "I can see two previous complaints about the same issue.",
    "okay, I've put a note on the file so the next agent can see it.",
    "the technician can come between nine and twelve in the morning.",
    "we can waive the late fee this one time.",
    "I'll send you a confirmation once that's processed.",
    "sure, I can help you with that.",
    "can you tell me a little more about when this started?",
    "your refund has been approved and should arrive in about seven to ten days.",
    "I do apologise for the inconvenience.",
    "oh I see, so it happened again after the update?",
    "right, that makes sense.",
    "let me see what options we have here.",
    "the system is a little slow today, sorry about that.",
    "I'll stay on the line until it comes back up.",
    "okay, so just to recap, we're sending out a replacement unit.",
    "that should be the first option on the menu.",
];

const CUSTOMER_LINES: &[&str] = &[
    "hi, yeah, I'm calling because my internet keeps dropping every evening.",
    "I called two times last week and nobody got back to me.",
    "it's been about four or five days now and it's still not working.",
    "I was charged twice for the same thing this month.",
    "okay, that's fine.",
    "oh okay, I didn't know that.",
    "um, I'm not really sure, let me think.",
    "I just want to cancel the subscription to be honest.",
    "the package was supposed to arrive on Monday but it never came.",
    "I already tried restarting it like three times.",
    "my daughter set it up for me so I don't really know the details.",
    "can you hold on one second, someone's at the door.",
    "sorry, could you repeat that?",
    "yes, that's right.",
    "no, that's not what I asked for.",
    "I've been with you for like ten years and this has never happened.",
    "the app just keeps crashing when I try to log in.",
    "I got a message saying my order was cancelled, but I never cancelled it.",
    "oh I see, okay.",
    "alright, thank you so much for your help.",
    "I'm at work right now so I only have a few minutes.",
    "the engineer came out once already and it didn't fix anything.",
    "honestly I just want it sorted out.",
    "yeah, the second one, not the first one.",
    "one moment, let me grab my glasses.",
    "I think it was around two weeks ago.",
    "the bill went up by like twenty dollars without any warning.",
    "okay, and how long will that take?",
    "that's what the last person told me too.",
    "uh, hang on, I'm just pulling over.",
    "can you just send it to me in writing?",
    "the light on the box is blinking orange, is that bad?",
    "I moved house last month and everything stopped working.",
];

/// Written small numbers that are not PII: (words before, template, words after).
const SMALL_NUMBERS: &[(&str, &str, &str)] = &[
    ("I'm staying in room", "%##", "at the hotel"),
    ("next time you can dial extension", "%###", "directly"),
    ("the pin code here is", "5%####", ""),
    ("the zip code is", "%####", ""),
    ("I moved here in", "20##", ""),
    ("I ordered", "%", "items and only got two"),
    ("it's flat", "%#B", "on the fourth floor"),
    ("we've had", "%#", "outages this month"),
    ("it's the", "X%00", "model"),
    ("the speed test says", "%#.#", "megabits"),
    ("I've been waiting", "%#", "minutes already"),
];

/// Spoken small numbers in ordinary speech.
const SPOKEN_SMALL: &[&str] = &[
    "I called like two or three times already.",
    "it's been about four or five days.",
    "one moment please, oh okay, got it.",
    "I have two kids and one of them uses it for school.",
    "we were on hold for forty five minutes.",
    "oh okay, so one more time then.",
    "it was like two hundred dollars or something.",
    "I think I paid around ninety nine for the first one.",
    "uh, three, no, four times this week.",
    "one two three, can you hear me now?",
];

/// Codes that are not PII: (words before, template).
const CODES: &[(&str, &str)] = &[
    ("the error code is", "E-%###"),
    ("it says error", "%0#"),
    ("the app version is", "%.%#.#"),
    ("my router model is", "^^-%###"),
    ("the voucher code is", "^^^^%#"),
    ("the one time code they sent was", "%#####"),
];

const QUEUES: &[&str] = &["Billing", "Tech Support", "Collections", "Retention", "Payments", "KYC", "Claims"];

const SCREENS: &[&str] = &[
    "CRM > Customer Profile",
    "Payments > Card Details",
    "KYC > Identity Documents",
    "Billing > Direct Debit",
    "Account Summary",
    "Verification",
];

const ADDRESSES: &[&str] = &[
    "221B Baker Street, London NW1 6XE",
    "12 MG Road, Bengaluru 560001",
    "1600 Amphitheatre Pkwy, Mountain View, CA 94043",
    "Flat 4, 18 Park Lane, Leeds LS1 2AB",
    "Calle Mayor 7, 28013 Madrid",
];

const DISPLAY_NAMES: &[&str] =
    &["Priya Sharma", "John Miller", "José Álvarez", "Zoë Clarke", "Rahul Verma", "Aisha Khan", "Chloé Dubois"];

const FIRST_NAMES: &[&str] = &[
    "john", "priya", "sarah", "rahul", "emma", "mohammed", "aisha", "david", "ananya", "james", "li", "maria", "arjun",
    "olivia", "chen", "fatima", "michael", "sneha", "tom", "grace",
];

const LAST_NAMES: &[&str] = &[
    "smith", "sharma", "miller", "verma", "khan", "jones", "patel", "garcia", "nguyen", "iyer", "brown", "wilson",
    "reddy", "taylor", "wang", "murphy", "singh", "davies",
];

const DOMAINS: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.co.uk",
    "yahoo.co.in",
    "icloud.com",
    "proton.me",
    "rediffmail.com",
    "acme-corp.com",
    "mail.globex.co.uk",
    "initech.io",
];
