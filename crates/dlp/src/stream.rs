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
//! # The margins (`HOLD = BACK + AHEAD = 512` bytes)
//!
//! * [`AHEAD`] = 256: a finding must end, plus the two bytes `scan` looks
//!   at past a span (`bytes[end]`, `bytes[end + 1]`: separator-then-digit,
//!   `.`-then-label), inside the window. Non-e-mail findings are at most
//!   42 bytes (IBAN of 34 characters printed in groups of four: 34 + 8
//!   spaces; a card is at most 32 digits + 7 separators, since a run of more
//!   than 8 groups or 32 digits yields nothing). E-mail addresses are capped
//!   at [`MAX_EMAIL`] = 254 bytes (RFC 5321 path limit), and 254 + 2 = 256.
//! * [`BACK`] = 256: context before a finding. Keyword look-backs are 40
//!   (card), 60 (ABA), 80 (SSN, Aadhaar) bytes plus one byte for the
//!   word-start check; the e-mail local part is scanned backwards without
//!   limit in `scan`, and `BACK` >= 254 lets the e-mail cap below be decided
//!   the same way in every window.
//!
//! Memory is `O(chunk + HOLD + MIN_STEP)`: the window never holds more than
//! one chunk plus [`HOLD`] plus [`MIN_STEP`] bytes (plus at most 3 bytes of an
//! incomplete UTF-8 sequence). `MIN_STEP` batches small chunks so that each
//! byte is scanned a bounded number of times (about `HOLD / MIN_STEP + 1`).
//!
//! # Differences from whole-text [`scan`]
//!
//! * **Long e-mails**: an e-mail whose run of local-part characters before
//!   the `@` plus the domain exceeds [`MAX_EMAIL`] (254) bytes is not
//!   reported by the streaming scanner (neither by [`StreamScanner::finish`]
//!   for consistency). `scan` itself has no cap and would report it.
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

use crate::scan::{scan, Config, Finding, Kind};

/// Bytes of context kept before the cursor (see the module docs).
pub const BACK: usize = 256;
/// Bytes of look-ahead required after the start of an emitted finding.
pub const AHEAD: usize = 256;
/// Total margin held back between pushes.
pub const HOLD: usize = BACK + AHEAD;
/// Longest e-mail (local-part character run plus `@` and domain) reported.
pub const MAX_EMAIL: usize = 254;
/// Minimum number of new decidable bytes before a window is scanned.
const MIN_STEP: usize = 512;

/// Incremental scanner over a byte stream; see the module docs.
#[derive(Debug, Clone)]
pub struct StreamScanner {
    cfg: Config,
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
    /// A scanner at the start of a stream.
    pub fn new(cfg: Config) -> Self {
        StreamScanner { cfg, buf: String::new(), buf_start: 0, cursor: 0, last_end: 0, pending: Vec::new() }
    }

    /// Feeds the next `chunk` of the stream; returns the findings decided so
    /// far, sorted by start, with global offsets. Each finding is returned
    /// exactly once over all calls to `push` and [`StreamScanner::finish`].
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Finding> {
        self.decode(chunk);
        let boundary = self.buf.len().saturating_sub(AHEAD);
        let cursor_local = self.cursor - self.buf_start;
        if boundary < cursor_local + MIN_STEP {
            return Vec::new();
        }
        let out = self.emit(cursor_local, Some(boundary));
        self.cursor = self.buf_start + boundary;
        // Keep BACK bytes before the new cursor, cut on a char boundary.
        let mut keep_from = boundary.saturating_sub(BACK);
        while !self.buf.is_char_boundary(keep_from) {
            keep_from -= 1;
        }
        self.buf.drain(..keep_from);
        self.buf_start += keep_from;
        out
    }

    /// Ends the stream: scans what is left and returns the remaining
    /// findings with global offsets.
    pub fn finish(mut self) -> Vec<Finding> {
        // An incomplete UTF-8 sequence at the end is invalid: one NUL per byte.
        for _ in 0..self.pending.len() {
            self.buf.push('\0');
        }
        self.pending.clear();
        let cursor_local = self.cursor - self.buf_start;
        self.emit(cursor_local, None)
    }

    /// Global offset of the end of the bytes pushed so far.
    pub fn position(&self) -> usize {
        self.buf_start + self.buf.len() + self.pending.len()
    }

    /// Appends `chunk` to the window, decoding UTF-8; invalid bytes become
    /// NUL, an incomplete trailing sequence waits in `pending`.
    fn decode(&mut self, chunk: &[u8]) {
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
        let bytes = self.buf.as_bytes();
        let mut out = Vec::new();
        for mut f in scan(&self.buf, &self.cfg) {
            if f.start < from || until.is_some_and(|u| f.start >= u) {
                continue;
            }
            if f.kind == Kind::Email && f.end - local_run_start(bytes, f.start) > MAX_EMAIL {
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

/// Start of the run of e-mail local-part characters ending at `start`
/// (the same character class as `scan`), clamped at the window start.
fn local_run_start(bytes: &[u8], start: usize) -> usize {
    let is_local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let mut s = start;
    while s > 0 && is_local(bytes[s - 1]) {
        s -= 1;
    }
    s
}

/// Scans everything `r` yields, reading `chunk_size` bytes at a time (at
/// least 1), calling `f` with each finding (global offsets, in order).
/// Returns the number of bytes read.
pub fn scan_reader<R: Read>(
    mut r: R,
    cfg: &Config,
    chunk_size: usize,
    mut f: impl FnMut(Finding),
) -> std::io::Result<u64> {
    let mut scanner = StreamScanner::new(*cfg);
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
