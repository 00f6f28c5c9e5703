//! Streaming scan: [`StreamScanner`] runs [`crate::scan::scan`] over chunked
//! input with bounded memory, reporting findings with *global* byte offsets
//! (from the start of the stream).
//!
//! # How it works
//!
//! The scanner keeps a window of decoded text (`buf`, starting at global
//! offset `buf_start`) and a *cursor*: every finding starting before the
//! cursor has been decided (emitted or rejected). When enough new text has
//! arrived, the window is scanned and the findings starting in
//! `[cursor, window_end - AHEAD)` are emitted; the cursor moves to
//! `window_end - AHEAD` and the window is trimmed to keep [`BACK`] bytes
//! before the new cursor. So every finding is decided in exactly one window,
//! and in that window it has at least [`BACK`] bytes of context before its
//! start and [`AHEAD`] bytes after its start.
//!
//! # The margins (`HOLD = BACK + AHEAD = 2048` bytes)
//!
//! * [`AHEAD`] = 1024: a finding must end, plus the few bytes `scan` looks
//!   at past a span (a separator and a digit, `.` and a label, a phone
//!   extension), inside the window. Written findings are at most 254 bytes
//!   (an e-mail: 64-byte local part, 190-byte domain), custom-pattern
//!   matches at most [`crate::scan::MAX_CUSTOM_MATCH`] (256), spoken runs
//!   at most [`crate::spoken::MAX_SPOKEN`] (600) plus one token.
//! * [`BACK`] = 1024: context before a finding. The keyword window is the
//!   previous line, at most 256 bytes, plus the longest keyword (64); a
//!   spoken run is traced back at most `MAX_SPOKEN / 2` = 300 bytes from the
//!   word that revealed it, and its own keyword window comes on top.
//!
//! Memory is `O(chunk + HOLD + MIN_STEP)`: the window never holds more than
//! one chunk plus [`HOLD`] plus [`MIN_STEP`] bytes (plus at most 3 bytes of an
//! incomplete UTF-8 sequence). `MIN_STEP` batches small chunks so that each
//! byte is scanned a bounded number of times (about `HOLD / MIN_STEP + 1`).
//!
//! # Differences from whole-text [`crate::scan::scan`]
//!
//! * **Overlap chains**: overlaps are resolved per window. A chain of
//!   mutually overlapping candidates longer than [`BACK`] bytes could resolve
//!   differently than in one whole-text pass; in addition a finding starting
//!   before the end of an already emitted one is dropped. Ordinary text
//!   (findings separated by anything but a longer chain of overlapping PII
//!   candidates) is unaffected.
//! * **Invalid UTF-8**: `scan` takes `&str`, so there is no whole-text
//!   reference. Each invalid byte (and an incomplete sequence at the end of
//!   the stream) is replaced by one NUL byte before scanning, which keeps
//!   offsets exact and acts as a word boundary (NUL is not alphanumeric, not
//!   a digit-group separator and not an e-mail character).

use std::io::{ErrorKind, Read};

use crate::redact::{redact_span, Style};
use crate::scan::{Config, Finding, Scanner};

/// Bytes of context kept before the cursor (see the module docs).
pub const BACK: usize = 1024;
/// Bytes of look-ahead required after the start of an emitted finding.
pub const AHEAD: usize = 1024;
/// Total margin held back between pushes.
pub const HOLD: usize = BACK + AHEAD;
/// Minimum number of new decidable bytes before a window is scanned.
const MIN_STEP: usize = 2048;

/// Incremental scanner over a byte stream; see the module docs.
#[derive(Debug, Clone)]
pub struct StreamScanner {
    scanner: Scanner,
    /// Decoded window (invalid bytes already replaced by NUL).
    buf: String,
    /// Global offset of `buf[0]`.
    buf_start: usize,
    /// Global offset before which every finding start has been decided.
    cursor: usize,
    /// Global end of the last emitted finding.
    last_end: usize,
    /// Trailing bytes of an incomplete UTF-8 sequence (at most 3).
    pending: Vec<u8>,
}

impl StreamScanner {
    /// A scanner at the start of a stream. A configuration that does not
    /// compile scans with the built-in detectors only, like [`crate::scan::scan`]; use
    /// [`StreamScanner::with_scanner`] with a checked [`Scanner`] instead.
    pub fn new(cfg: Config) -> Self {
        let scanner = Scanner::new(cfg.clone())
            .or_else(|_| Scanner::new(Config { keywords: Vec::new(), custom: Vec::new(), ..cfg }))
            .unwrap_or_else(|_| Scanner::builtin());
        Self::with_scanner(scanner)
    }

    /// A scanner at the start of a stream, with a compiled configuration.
    pub fn with_scanner(scanner: Scanner) -> Self {
        StreamScanner { scanner, buf: String::new(), buf_start: 0, cursor: 0, last_end: 0, pending: Vec::new() }
    }

    /// Feeds the next `chunk` of the stream; returns the findings decided so
    /// far, sorted by start, with global offsets. Each finding is returned
    /// exactly once over all calls to `push` and [`StreamScanner::finish`].
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        self.decode(chunk);
        self.advance(false, &mut |_, _, found, _| out.extend_from_slice(found));
        out
    }

    /// Like [`StreamScanner::push`], calling `f` with each finding and the
    /// text of its span (for masked output without keeping the stream).
    pub fn push_with(&mut self, chunk: &[u8], mut f: impl FnMut(Finding, &str)) {
        self.decode(chunk);
        self.advance(false, &mut |buf, start, found, _| each_span(buf, start, found, &mut f));
    }

    /// Ends the stream: scans what is left and returns the remaining
    /// findings with global offsets.
    pub fn finish(mut self) -> Vec<Finding> {
        let mut out = Vec::new();
        self.end_input();
        self.advance(true, &mut |_, _, found, _| out.extend_from_slice(found));
        out
    }

    /// Like [`StreamScanner::finish`], with each finding's span text.
    pub fn finish_with(mut self, mut f: impl FnMut(Finding, &str)) {
        self.end_input();
        self.advance(true, &mut |buf, start, found, _| each_span(buf, start, found, &mut f));
    }

    /// An incomplete UTF-8 sequence at the end is invalid: one NUL per byte.
    fn end_input(&mut self) {
        for _ in 0..self.pending.len() {
            self.buf.push('\0');
        }
        self.pending.clear();
    }

    /// Scans the window if enough new text arrived (or `last`), hands
    /// `sink` the window text, its global start, the decided findings and
    /// the global offset (a char boundary) before which everything is
    /// decided, then trims the window.
    fn advance(&mut self, last: bool, sink: &mut WindowSink<'_>) {
        let cursor_local = self.cursor - self.buf_start;
        if last {
            let found = self.emit(cursor_local, None);
            sink(&self.buf, self.buf_start, &found, self.buf_start + self.buf.len());
            return;
        }
        let boundary = self.buf.len().saturating_sub(AHEAD);
        if boundary < cursor_local + MIN_STEP {
            return;
        }
        let found = self.emit(cursor_local, Some(boundary));
        let mut safe = boundary;
        while !self.buf.is_char_boundary(safe) {
            safe -= 1;
        }
        sink(&self.buf, self.buf_start, &found, self.buf_start + safe);
        self.cursor = self.buf_start + boundary;
        // Keep BACK bytes before the new cursor, cut on a char boundary.
        let mut keep_from = boundary.saturating_sub(BACK);
        while !self.buf.is_char_boundary(keep_from) {
            keep_from -= 1;
        }
        self.buf.drain(..keep_from);
        self.buf_start += keep_from;
    }

    /// Global offset of the end of the bytes pushed so far.
    pub fn position(&self) -> usize {
        self.buf_start + self.buf.len() + self.pending.len()
    }

    /// Appends `chunk` to the window, decoding UTF-8; invalid bytes become
    /// NUL, an incomplete trailing sequence waits in `pending`.
    fn decode(&mut self, chunk: &[u8]) {
        // The common case, valid UTF-8 and nothing pending: one copy.
        if self.pending.is_empty() {
            if let Ok(s) = std::str::from_utf8(chunk) {
                self.buf.push_str(s);
                return;
            }
        }
        let mut rest: Vec<u8> = std::mem::take(&mut self.pending);
        rest.extend_from_slice(chunk);
        let mut bytes: &[u8] = &rest;
        loop {
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    self.buf.push_str(s);
                    break;
                }
                Err(e) => {
                    let (valid, after) = bytes.split_at(e.valid_up_to());
                    self.buf.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            for _ in 0..n {
                                self.buf.push('\0');
                            }
                            bytes = after.get(n..).unwrap_or_default();
                        }
                        None => {
                            self.pending = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Scans the window and returns the findings starting in
    /// `[from, until)` (window offsets; `None` = to the end), as global.
    fn emit(&mut self, from: usize, until: Option<usize>) -> Vec<Finding> {
        let mut out = Vec::new();
        for mut f in self.scanner.scan(&self.buf) {
            if f.start < from || until.is_some_and(|u| f.start >= u) {
                continue;
            }
            f.start += self.buf_start;
            f.end += self.buf_start;
            if f.start < self.last_end {
                continue;
            }
            self.last_end = f.end;
            out.push(f);
        }
        out
    }
}

/// Receives a scanned window: its text, its global start, the findings
/// decided in it, and the global offset before which everything is decided.
type WindowSink<'a> = dyn FnMut(&str, usize, &[Finding], usize) + 'a;

fn each_span(buf: &str, start: usize, found: &[Finding], f: &mut impl FnMut(Finding, &str)) {
    for x in found {
        f(*x, buf.get(x.start - start..x.end - start).unwrap_or_default());
    }
}

/// Redacts a stream in bounded memory: what [`crate::redact::redact`] does
/// to a whole text, chunk by chunk. Output comes out as soon as it is
/// decided (up to [`HOLD`] bytes behind the input). Invalid UTF-8 bytes come
/// out as NUL, as the scanner sees them.
#[derive(Debug)]
pub struct StreamRedactor {
    scanner: StreamScanner,
    output: Output,
}

/// What the redactor has written so far (apart from the scanner, so a
/// window callback can borrow both).
#[derive(Debug)]
struct Output {
    style: Style,
    /// Global offset up to which output has been produced.
    written: usize,
    /// Findings redacted so far.
    count: usize,
}

impl StreamRedactor {
    /// A redactor at the start of a stream.
    pub fn new(scanner: Scanner, style: Style) -> Self {
        StreamRedactor { scanner: StreamScanner::with_scanner(scanner), output: Output { style, written: 0, count: 0 } }
    }

    /// Feeds `chunk`; appends the redacted text decided so far to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut String) {
        self.scanner.decode(chunk);
        let output = &mut self.output;
        self.scanner.advance(false, &mut |buf, start, found, safe| output.write(buf, start, found, safe, out));
    }

    /// Ends the stream: appends the rest to `out`; returns how many
    /// findings were redacted in all.
    pub fn finish(mut self, out: &mut String) -> usize {
        self.scanner.end_input();
        let output = &mut self.output;
        self.scanner.advance(true, &mut |buf, start, found, safe| output.write(buf, start, found, safe, out));
        self.output.count
    }
}

impl Output {
    /// Writes the window text `buf` (global offset `start`) up to `safe`,
    /// with each of `found` redacted.
    fn write(&mut self, buf: &str, start: usize, found: &[Finding], safe: usize, out: &mut String) {
        let local = |g: usize| g.saturating_sub(start);
        for f in found {
            if f.start < self.written {
                continue;
            }
            out.push_str(buf.get(local(self.written)..local(f.start)).unwrap_or_default());
            redact_span(f, buf.get(local(f.start)..local(f.end)).unwrap_or_default(), &self.style, out);
            self.written = f.end;
            self.count += 1;
        }
        if safe > self.written {
            out.push_str(buf.get(local(self.written)..local(safe)).unwrap_or_default());
            self.written = safe;
        }
    }
}

/// Scans everything `r` yields, reading `chunk_size` bytes at a time (at
/// least 1), calling `f` with each finding (global offsets, in order).
/// Returns the number of bytes read.
pub fn scan_reader<R: Read>(
    mut r: R,
    scanner: &Scanner,
    chunk_size: usize,
    mut f: impl FnMut(Finding),
) -> std::io::Result<u64> {
    let mut scanner = StreamScanner::with_scanner(scanner.clone());
    let mut chunk = vec![0u8; chunk_size.max(1)];
    let mut total: u64 = 0;
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        scanner.push(chunk.get(..n).unwrap_or_default()).into_iter().for_each(&mut f);
    }
    scanner.finish().into_iter().for_each(&mut f);
    Ok(total)
}
