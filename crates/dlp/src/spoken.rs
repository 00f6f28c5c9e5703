//! Numbers spoken as words in speech-to-text output: "four one one one, one
//! one one one…", "double four", "oh" for zero, "twenty seven", mixed with
//! digits ("4111 one one one…"), broken over lines and over speaker turns.
//!
//! A *spoken run* is a sequence of number tokens (digit words, `double X`,
//! `triple X`, teens and tens, `hundred`, digit groups) separated by spaces,
//! commas, dashes, dots, fillers ("um", "uh"), line breaks and speaker labels
//! (`Customer:`, `[00:01:23] Agent:`). One short interjection turn of the
//! other speaker ("okay, go on") may sit inside a run: a customer reading a
//! card number often pauses for the agent. The run is decoded to its digit
//! string; every digit remembers the byte range of the token it came from,
//! so a finding over digits `a..b` maps back to exact byte offsets.

use crate::swar::{fold3, has_slot, slot3, with_slot};

/// Longest spoken run (bytes) that is decoded; longer ones are cut there.
/// Part of the streaming margins.
pub const MAX_SPOKEN: usize = 600;
/// Most digits kept from one run.
pub(crate) const MAX_DIGITS: usize = 40;
/// Longest interjection turn (bytes, label included) bridged inside a run.
const MAX_INTERJECTION: usize = 48;

/// What one word means as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word {
    /// zero/oh, one … nine.
    Digit(u8),
    /// ten … nineteen (the value).
    Teen(u8),
    /// twenty … ninety (the tens digit).
    Tens(u8),
    /// The next digit twice.
    Double,
    /// The next digit three times.
    Triple,
    /// Two zeros.
    Hundred,
    /// Three zeros.
    Thousand,
    /// um, uh, er, ah: skipped inside a run.
    Filler,
}

/// Every word [`word`] knows, for the quick filter.
const WORDS: &[&[u8]] = &[
    b"zero",
    b"oh",
    b"nought",
    b"one",
    b"two",
    b"three",
    b"four",
    b"five",
    b"six",
    b"seven",
    b"eight",
    b"nine",
    b"ten",
    b"eleven",
    b"twelve",
    b"thirteen",
    b"fourteen",
    b"fifteen",
    b"sixteen",
    b"seventeen",
    b"eighteen",
    b"nineteen",
    b"twenty",
    b"thirty",
    b"forty",
    b"fourty",
    b"fifty",
    b"sixty",
    b"seventy",
    b"eighty",
    b"ninety",
    b"double",
    b"triple",
    b"hundred",
    b"thousand",
    b"um",
    b"uh",
    b"umm",
    b"uhh",
    b"er",
    b"ah",
    b"hmm",
];

/// Bit `last letter` of `FILTER[len][first letter]` is set when some word
/// of [`WORDS`] has that length, first and last letter: one table lookup
/// rejects almost every ordinary word before any string compare.
static FILTER: [[u32; 26]; 10] = {
    let mut t = [[0u32; 26]; 10];
    let mut k = 0;
    while k < WORDS.len() {
        let w = WORDS[k];
        t[w.len()][(w[0] - b'a') as usize] |= 1 << (w[w.len() - 1] - b'a');
        k += 1;
    }
    t
};

/// Whether `w` may be a word of [`WORDS`]: its length, first and last
/// letter fit. Inlined into the scan loop; the full match is in [`word`].
#[inline(always)]
pub(crate) fn maybe_word(w: &[u8]) -> bool {
    let n = w.len();
    if !(2..=9).contains(&n) {
        return false;
    }
    let first = usize::from((w[0] | 0x20).wrapping_sub(b'a'));
    let last = u32::from((w[n - 1] | 0x20).wrapping_sub(b'a'));
    first < 26 && last < 26 && FILTER[n][first] & (1 << last) != 0
}

/// First three letters of every number word that can start a run and begins
/// with a letter of the scan's starter mask (`z o t f s e n d`); "oh", the
/// one two-letter word, is tested on its own.
const PREFIXES: &[&[u8; 3]] = &[
    b"zer", b"nou", b"one", b"two", b"thr", b"thi", b"tho", b"twe", b"ten", b"tri", b"fou", b"for", b"fiv", b"fif",
    b"six", b"sev", b"eig", b"ele", b"nin", b"dou",
];

/// The hashed [`PREFIXES`] ([`slot3`]): most words the scan meets ("the",
/// "send", "see"…) are dismissed by one multiply and one bit test, before
/// their length is even known.
static PREFIX_SET: [u64; 16] = {
    let mut t = [0u64; 16];
    let mut k = 0;
    while k < PREFIXES.len() {
        t = with_prefix(t, PREFIXES[k]);
        k += 1;
    }
    t
};

/// [`PREFIX_SET`] with the number words that cannot start a run but can
/// follow a number ("hundred").
static NUMBER_SET: [u64; 16] = with_prefix(PREFIX_SET, b"hun");

const fn with_prefix(set: [u64; 16], p: &[u8; 3]) -> [u64; 16] {
    with_slot(set, slot3(p[0] as u32 | (p[1] as u32) << 8 | (p[2] as u32) << 16))
}

/// Whether the three bytes at `i`, folded, may begin a word of `set` (or
/// "oh"). Near the end of the text it says true and leaves the decision to
/// the full word test.
#[inline(always)]
fn may_begin(set: &[u64; 16], bytes: &[u8], i: usize) -> bool {
    let Some(w) = bytes.get(i..i + 3).and_then(|w| <&[u8; 3]>::try_from(w).ok()) else { return true };
    // Folding with 0x20 maps upper-case letters to lower case and no other
    // byte into `a..=z`, so a number word is never missed.
    let x = fold3(w);
    x & 0xFFFF == u32::from_le_bytes([b'o', b'h', 0, 0]) || has_slot(set, slot3(x))
}

/// Whether the word starting at `ws` may be a number word that starts a
/// run: false for most words ("the", "send", "good"…), true for every
/// number word.
#[inline(always)]
pub(crate) fn may_start_number(bytes: &[u8], ws: usize) -> bool {
    may_begin(&PREFIX_SET, bytes, ws)
}

/// The number meaning of `w` (ASCII letters, any case), if it has one.
pub(crate) fn word(w: &[u8]) -> Option<Word> {
    if !maybe_word(w) {
        return None;
    }
    let mut buf = [0u8; 9];
    for (d, s) in buf.iter_mut().zip(w) {
        *d = s.to_ascii_lowercase();
    }
    Some(match &buf[..w.len()] {
        b"zero" | b"oh" | b"nought" => Word::Digit(0),
        b"one" => Word::Digit(1),
        b"two" => Word::Digit(2),
        b"three" => Word::Digit(3),
        b"four" => Word::Digit(4),
        b"five" => Word::Digit(5),
        b"six" => Word::Digit(6),
        b"seven" => Word::Digit(7),
        b"eight" => Word::Digit(8),
        b"nine" => Word::Digit(9),
        b"ten" => Word::Teen(10),
        b"eleven" => Word::Teen(11),
        b"twelve" => Word::Teen(12),
        b"thirteen" => Word::Teen(13),
        b"fourteen" => Word::Teen(14),
        b"fifteen" => Word::Teen(15),
        b"sixteen" => Word::Teen(16),
        b"seventeen" => Word::Teen(17),
        b"eighteen" => Word::Teen(18),
        b"nineteen" => Word::Teen(19),
        b"twenty" => Word::Tens(2),
        b"thirty" => Word::Tens(3),
        b"forty" | b"fourty" => Word::Tens(4),
        b"fifty" => Word::Tens(5),
        b"sixty" => Word::Tens(6),
        b"seventy" => Word::Tens(7),
        b"eighty" => Word::Tens(8),
        b"ninety" => Word::Tens(9),
        b"double" => Word::Double,
        b"triple" => Word::Triple,
        b"hundred" => Word::Hundred,
        b"thousand" => Word::Thousand,
        b"um" | b"uh" | b"umm" | b"uhh" | b"er" | b"ah" | b"hmm" => Word::Filler,
        _ => return None,
    })
}

/// Whether `w` is a word that can be part of a spoken number (not a filler:
/// a run must contain at least one of these).
#[inline]
pub(crate) fn is_number_word(w: &[u8]) -> bool {
    maybe_word(w) && word(w).is_some_and(|x| x != Word::Filler)
}

/// A decoded spoken run.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) end: usize,
    pub(crate) digits: [u8; MAX_DIGITS],
    pub(crate) len: usize,
    /// Byte range of the token each digit came from.
    pub(crate) spans: [(u32, u32); MAX_DIGITS],
    /// Digit index where each speaker-turn segment starts (the first is 0).
    pub(crate) segments: [u8; 4],
    pub(crate) segment_count: usize,
    /// Number words in the run (0 = only digit groups: not spoken).
    pub(crate) words: usize,
    /// Byte offset of the first group of written digits in the run.
    pub(crate) first_digits: Option<usize>,
}

impl Run {
    pub(crate) fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// Byte range of digits `a..b`.
    pub(crate) fn bytes_of(&self, a: usize, b: usize) -> (usize, usize) {
        (self.spans[a].0 as usize, self.spans[b - 1].1 as usize)
    }

    /// Digit range of segment `k`.
    pub(crate) fn segment(&self, k: usize) -> (usize, usize) {
        let a = usize::from(self.segments[k]);
        let b = if k + 1 < self.segment_count { usize::from(self.segments[k + 1]) } else { self.len };
        (a, b)
    }
}

fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic()
}

/// End of the word of letters starting at `i`.
fn word_end(bytes: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < bytes.len() && is_letter(bytes[j]) {
        j += 1;
    }
    j
}

/// A token: letters or digits, starting at `i`.
#[derive(Debug, Clone, Copy)]
enum Tok {
    Word(Word, usize),
    Digits(usize),
}

fn token_at(bytes: &[u8], i: usize) -> Option<Tok> {
    let b = *bytes.get(i)?;
    if b.is_ascii_digit() {
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        // Digits glued to letters (`4th`, `x4111`) are not a number token.
        return (!bytes.get(j).is_some_and(u8::is_ascii_alphabetic)).then_some(Tok::Digits(j));
    }
    if is_letter(b) {
        let j = word_end(bytes, i);
        // A word joined by a hyphen to a number word (`twenty-seven`) is
        // two tokens; joined by an apostrophe (`one's`) it is not a number.
        if bytes.get(j).is_some_and(|&c| c == b'\'' || c.is_ascii_digit()) {
            return None;
        }
        return word(&bytes[i..j]).map(|w| Tok::Word(w, j));
    }
    None
}

/// Skips separators inside a turn (spaces, tabs, `,`, `-`, `.`, `;`) from
/// `i`; returns the next position and whether a line break was crossed.
fn skip_gap(bytes: &[u8], mut i: usize) -> (usize, bool) {
    let mut seps = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b',' | b'-' | b'.' | b';' | b'\r' if seps < 8 => {
                i += 1;
                seps += 1;
            }
            _ => break,
        }
    }
    if bytes.get(i) == Some(&b'\n') {
        return (i + 1, true);
    }
    (i, false)
}

/// If a speaker label (`Agent:`, `[00:01:23] Customer:`) starts at `i`
/// (after a line break), its end (after trailing spaces).
pub(crate) fn label_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    while bytes.get(i).is_some_and(|&b| b == b' ' || b == b'\t') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'[') {
        let close = bytes.get(i..(i + 20).min(bytes.len()))?.iter().position(|&b| b == b']')?;
        i += close + 1;
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    let start = i;
    while i < bytes.len() && i - start <= 24 && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b' ' | b'_')) {
        i += 1;
    }
    if i == start || bytes.get(i) != Some(&b':') || !is_letter(bytes[start]) {
        return None;
    }
    i += 1;
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    Some(i)
}

/// Start of the spoken run containing the number word at `i`: walks back
/// over number tokens, separators, fillers and line breaks with labels.
pub(crate) fn run_start(bytes: &[u8], i: usize) -> usize {
    let floor = i.saturating_sub(MAX_SPOKEN / 2);
    let mut start = i;
    let mut p = i;
    loop {
        // Back over separators within the line.
        let mut q = p;
        while q > floor && matches!(bytes[q - 1], b' ' | b'\t' | b',' | b'-' | b'.' | b';' | b'\r') {
            q -= 1;
        }
        // A label on this line: `Customer: ` before the run.
        if q > floor && bytes[q - 1] == b':' {
            let line_start = memchr::memrchr(b'\n', &bytes[floor..q]).map(|k| floor + k + 1);
            match line_start {
                Some(ls) if label_end(bytes, ls).is_some_and(|e| e <= p) && ls > floor => q = ls,
                _ => break,
            }
        }
        if q > floor && bytes[q - 1] == b'\n' {
            q -= 1;
            while q > floor && matches!(bytes[q - 1], b' ' | b'\t' | b',' | b'-' | b'.' | b';' | b'\r') {
                q -= 1;
            }
        }
        if q <= floor || q == p {
            break;
        }
        // The token ending at q.
        let mut t = q;
        if bytes[q - 1].is_ascii_digit() {
            while t > floor && bytes[t - 1].is_ascii_digit() {
                t -= 1;
            }
        } else if is_letter(bytes[q - 1]) {
            while t > floor && is_letter(bytes[t - 1]) {
                t -= 1;
            }
        } else {
            break;
        }
        if t == floor || bytes[t - 1].is_ascii_alphanumeric() || bytes[t - 1] == b'\'' {
            break;
        }
        match token_at(bytes, t) {
            // Fillers are walked over but never start a run.
            Some(Tok::Word(Word::Filler, _)) => p = t,
            Some(Tok::Word(..) | Tok::Digits(_)) => {
                start = t;
                p = t;
            }
            None => break,
        }
    }
    start
}

/// Decodes the spoken run starting at `start` (a number token). Returns
/// `None` when it holds no number word.
pub(crate) fn decode(bytes: &[u8], start: usize) -> Option<Run> {
    let limit = (start + MAX_SPOKEN).min(bytes.len());
    let mut run = Run {
        end: start,
        digits: [0; MAX_DIGITS],
        len: 0,
        spans: [(0, 0); MAX_DIGITS],
        segments: [0; 4],
        segment_count: 1,
        words: 0,
        first_digits: None,
    };
    let push = |run: &mut Run, d: u8, s: usize, e: usize| {
        if run.len < MAX_DIGITS {
            run.digits[run.len] = b'0' + d;
            run.spans[run.len] = (s as u32, e as u32);
            run.len += 1;
        }
    };
    let mut i = start;
    // `double`/`triple` waiting for its digit: (count, start).
    let mut repeat: Option<(usize, usize)> = None;
    // A tens word just read, which may take a unit ("twenty seven"): its bytes.
    let mut tens: Option<(usize, usize)> = None;
    let mut bridged = false;
    loop {
        if i >= limit {
            break;
        }
        let Some(tok) = token_at(bytes, i) else { break };
        let tok_end = match tok {
            Tok::Word(_, e) | Tok::Digits(e) => e,
        };
        if tok_end > limit {
            break;
        }
        match tok {
            Tok::Word(Word::Filler, _) => {
                // Fillers neither start nor end a run.
                if run.len == 0 && repeat.is_none() {
                    break;
                }
            }
            Tok::Word(w, e) => {
                run.words += 1;
                let tens_now = tens.take();
                match w {
                    Word::Digit(d) => {
                        if let Some((count, s)) = repeat.take() {
                            for _ in 0..count {
                                push(&mut run, d, s, e);
                            }
                        } else if let Some((s, _)) = tens_now.filter(|_| d != 0) {
                            // "twenty seven": the unit replaces the tens' 0.
                            if run.len > 0 && run.digits[run.len - 1] == b'0' {
                                run.len -= 1;
                            }
                            push(&mut run, d, s, e);
                        } else {
                            push(&mut run, d, i, e);
                        }
                    }
                    Word::Teen(v) => {
                        push(&mut run, 1, i, e);
                        push(&mut run, v - 10, i, e);
                    }
                    Word::Tens(t) => {
                        push(&mut run, t, i, e);
                        push(&mut run, 0, i, e);
                        tens = Some((i, e));
                    }
                    Word::Double | Word::Triple => {
                        if repeat.is_some() {
                            break;
                        }
                        repeat = Some((if w == Word::Double { 2 } else { 3 }, i));
                    }
                    Word::Hundred => {
                        if run.len == 0 {
                            break;
                        }
                        push(&mut run, 0, i, e);
                        push(&mut run, 0, i, e);
                    }
                    Word::Thousand => {
                        if run.len == 0 {
                            break;
                        }
                        for _ in 0..3 {
                            push(&mut run, 0, i, e);
                        }
                    }
                    Word::Filler => {}
                }
            }
            Tok::Digits(e) => {
                if repeat.is_some() {
                    break;
                }
                tens = None;
                run.first_digits.get_or_insert(i);
                for (k, &b) in bytes[i..e].iter().enumerate() {
                    push(&mut run, b - b'0', i + k, i + k + 1);
                }
            }
        }
        let filler = matches!(tok, Tok::Word(Word::Filler, _));
        if !filler && repeat.is_none() && run.len > 0 {
            run.end = tok_end;
        }
        // The gap to the next token.
        let (next, newline) = skip_gap(bytes, tok_end);
        if !newline {
            if next == tok_end && bytes.get(next).is_some_and(u8::is_ascii_alphanumeric) {
                break;
            }
            i = next;
            continue;
        }
        // A line break: the run goes on if the next line (after its label)
        // starts with a number token, or after one short interjection turn.
        let label = label_end(bytes, next);
        let after = label.unwrap_or(next);
        // A new turn continues the number only if it starts with digits or
        // two number words: "Customer: Oh I see" or "one moment" does not.
        if if label.is_some() { continues(bytes, after) } else { starts_number(bytes, after) } {
            if label.is_some() {
                new_segment(&mut run);
            }
            i = after;
            continue;
        }
        if bridged || label.is_none() {
            break;
        }
        let Some(nl) = memchr::memchr(b'\n', &bytes[after..limit]) else { break };
        let interjection_end = after + nl;
        if interjection_end - next > MAX_INTERJECTION
            || bytes[after..interjection_end].iter().any(u8::is_ascii_digit)
            || has_number_word(&bytes[after..interjection_end])
        {
            break;
        }
        let Some(resume) = label_end(bytes, interjection_end + 1) else { break };
        let Some(resume) = after_connectors(bytes, resume) else { break };
        bridged = true;
        new_segment(&mut run);
        i = resume;
    }
    (run.words > 0 && run.len > 0).then_some(run)
}

/// Words a speaker puts before the rest of a number ("and then four
/// one…", "it's 4111…"): skipped when a run resumes after an interjection.
const CONNECTORS: &[&[u8]] = &[
    b"and", b"then", b"so", b"ok", b"okay", b"uh", b"um", b"yeah", b"yes", b"it's", b"its", b"the", b"rest", b"is",
    b"next",
];

/// The first number token at `i` after at most three connector words.
fn after_connectors(bytes: &[u8], mut i: usize) -> Option<usize> {
    for _ in 0..4 {
        if continues(bytes, i) {
            return Some(i);
        }
        let mut e = i;
        while e < bytes.len() && (bytes[e].is_ascii_alphabetic() || bytes[e] == b'\'') {
            e += 1;
        }
        let w = &bytes[i..e];
        if !CONNECTORS.iter().any(|c| c.eq_ignore_ascii_case(w)) {
            return None;
        }
        i = e;
        while matches!(bytes.get(i), Some(b' ' | b',')) {
            i += 1;
        }
    }
    None
}

fn new_segment(run: &mut Run) {
    if run.segment_count < run.segments.len() && run.len > 0 {
        run.segments[run.segment_count] = run.len as u8;
        run.segment_count += 1;
    }
}

/// Whether a new turn at `i` goes on with a number: a digit group, or a
/// number word followed by another number token.
fn continues(bytes: &[u8], i: usize) -> bool {
    match token_at(bytes, i) {
        Some(Tok::Digits(_)) => true,
        Some(Tok::Word(w, e)) if w != Word::Filler => {
            let (next, newline) = skip_gap(bytes, e);
            !newline && next > e && starts_number(bytes, next)
        }
        _ => false,
    }
}

/// Whether the number word at `ws..we` has a number token right before or
/// after it (across separators, or a line break and a speaker label after
/// it). A spoken value of three digits or more needs two tokens at least
/// ("triple one" is the shortest), so a lone word is skipped cheaply.
pub(crate) fn has_number_neighbour(bytes: &[u8], ws: usize, we: usize) -> bool {
    let mut i = we;
    while i < bytes.len() && i - we < 3 && matches!(bytes[i], b' ' | b',' | b'-' | b'.' | b'\t' | b'\r') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'\n') {
        i = label_end(bytes, i + 1).unwrap_or(i + 1);
    }
    if starts_number(bytes, i) {
        return true;
    }
    let mut j = ws;
    while j > 0 && ws - j < 3 && matches!(bytes[j - 1], b' ' | b',' | b'-' | b'.' | b'\t' | b'\r' | b'\n') {
        j -= 1;
    }
    if j == ws || j == 0 {
        return false;
    }
    if bytes[j - 1].is_ascii_digit() {
        return true;
    }
    let mut s = j;
    while s > 0 && j - s < 10 && bytes[s - 1].is_ascii_alphabetic() {
        s -= 1;
    }
    s < j
        && (s == 0 || !bytes[s - 1].is_ascii_alphanumeric())
        && may_begin(&NUMBER_SET, bytes, s)
        && is_number_word(&bytes[s..j])
}

/// Whether a number token (not a filler) starts at `i`.
fn starts_number(bytes: &[u8], i: usize) -> bool {
    // Most words after a number word are ordinary ("one moment"): the
    // prefix set dismisses them before the word is read.
    if bytes.get(i).is_some_and(u8::is_ascii_alphabetic) && !may_begin(&NUMBER_SET, bytes, i) {
        return false;
    }
    match token_at(bytes, i) {
        Some(Tok::Digits(_)) => true,
        Some(Tok::Word(w, _)) => w != Word::Filler,
        None => false,
    }
}

fn has_number_word(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        if is_letter(text[i]) {
            let e = word_end(text, i);
            if is_number_word(&text[i..e]) {
                return true;
            }
            i = e;
        } else {
            i += 1;
        }
    }
    false
}

/// Decodes the digits said in `span` (for keyed tokens of spoken findings,
/// so a card read out gives the same token as the card typed). Returns the
/// ASCII digits, or the span's own digits when it holds no number word.
pub fn digits_of(span: &str) -> String {
    let bytes = span.as_bytes();
    let first = bytes.iter().position(u8::is_ascii_alphanumeric).unwrap_or(bytes.len());
    match decode(bytes, first) {
        Some(run) => run.digits().iter().map(|&b| char::from(b)).collect(),
        None => span.chars().filter(char::is_ascii_digit).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_starting_number_word_passes_the_prefix_filter() {
        for w in WORDS {
            let starter = b"zotfsend".contains(&w[0]);
            if !starter || word(w) == Some(Word::Filler) {
                continue;
            }
            for text in [w.to_vec(), w.to_ascii_uppercase(), [*w, b" x"].concat()] {
                assert!(may_start_number(&text, 0), "{}", String::from_utf8_lossy(&text));
            }
        }
        for w in WORDS.iter().filter(|w| word(w) != Some(Word::Filler)) {
            assert!(may_begin(&NUMBER_SET, &[*w, b" "].concat(), 0), "{}", String::from_utf8_lossy(w));
        }
        let common: &[&[u8]] = &[b"the ", b"that", b"send", b"see ", b"some", b"now ", b"not ", b"do i"];
        assert!(common.iter().all(|w| !may_start_number(w, 0)));
    }
}
