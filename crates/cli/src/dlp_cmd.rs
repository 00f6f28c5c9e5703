//! `bposhield dlp scan|redact`: the PII engine on files, directories and pipes. Needs no
//! configuration and no database. Both stream their input in 1 MiB chunks, so memory stays
//! bounded (a few MiB) whatever the size of a file.

use bposhield_dlp::redact::{redact_span, Style};
use bposhield_dlp::scan::{Config, CustomPattern, Finding, Kind, KindSet, Scanner};
use bposhield_dlp::stream::{StreamRedactor, StreamScanner};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Exit status of `dlp scan --fail-on-find` when something was found.
pub const FOUND_EXIT: i32 = 3;

/// Read size of the streaming scan.
const CHUNK: usize = 1 << 20;

#[derive(clap::Subcommand, Debug)]
pub enum DlpCommand {
    /// Scan files, directories (recursively) or standard input (`-`) for PII: one JSON
    /// line per finding on stdout (path, type, byte offsets, score, reason, masked
    /// value), a summary on stderr.
    Scan {
        /// Files or directories; `-` or nothing reads standard input.
        paths: Vec<PathBuf>,
        #[command(flatten)]
        opts: ScanOpts,
        /// Exit with status 3 when anything is found (for pipelines).
        #[arg(long)]
        fail_on_find: bool,
    },
    /// Write the input with every finding redacted.
    Redact {
        /// A file, or `-` (default) for standard input.
        #[arg(default_value = "-")]
        input: PathBuf,
        /// Where to write; standard output by default.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// `mask` (every character), `last4` (all but the last four), or `token` (a
        /// keyed HMAC token: the same value gives the same token, not reversible).
        #[arg(long, default_value = "mask", value_parser = ["mask", "last4", "token"])]
        style: String,
        /// The token key (with `--style token`), read from this file.
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
        #[command(flatten)]
        opts: ScanOpts,
    },
}

/// What to look for.
#[derive(clap::Args, Debug)]
pub struct ScanOpts {
    /// Only these types (comma-separated): card, ssn, aadhaar, pan, iban, email,
    /// aba_routing, bank_account, phone, cvv, expiry, dob, passport, custom.
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// Report findings scoring at least this (0-1).
    #[arg(long, default_value_t = 0.5)]
    min_score: f32,
    /// An extra context keyword for a type, as `TYPE=WORDS` (repeatable), e.g.
    /// `ssn=seguro social`.
    #[arg(long = "keyword", value_name = "TYPE=WORDS")]
    keywords: Vec<String>,
    /// A custom pattern, as `NAME=REGEX` (repeatable), reported as type CUSTOM with
    /// its name, e.g. `EMPLOYEE_ID=\bEMP-\d{6}\b`.
    #[arg(long = "pattern", value_name = "NAME=REGEX")]
    patterns: Vec<String>,
}

impl ScanOpts {
    fn config(&self) -> anyhow::Result<Config> {
        let mut cfg = Config { min_score: self.min_score, ..Config::default() };
        if !(0.0..=1.0).contains(&self.min_score) {
            anyhow::bail!("--min-score must be between 0 and 1");
        }
        if !self.types.is_empty() {
            let mut set = KindSet::empty();
            for t in &self.types {
                let k = Kind::from_name(t.trim())
                    .ok_or_else(|| anyhow::anyhow!("unknown type `{t}`; known: {}", kinds_list()))?;
                set = set.with(k);
            }
            cfg.kinds = set;
        }
        for k in &self.keywords {
            let (t, w) = k.split_once('=').ok_or_else(|| anyhow::anyhow!("--keyword `{k}`: expected TYPE=WORDS"))?;
            let kind = Kind::from_name(t.trim())
                .ok_or_else(|| anyhow::anyhow!("--keyword `{k}`: unknown type `{t}`; known: {}", kinds_list()))?;
            cfg.keywords.push((kind, w.trim().to_lowercase()));
        }
        for p in &self.patterns {
            let (name, re) =
                p.split_once('=').ok_or_else(|| anyhow::anyhow!("--pattern `{p}`: expected NAME=REGEX"))?;
            cfg.custom.push(CustomPattern { name: name.trim().into(), regex: re.into(), score: 0.8, keywords: vec![] });
        }
        Ok(cfg)
    }

    fn scanner(&self) -> anyhow::Result<Scanner> {
        Scanner::new(self.config()?).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

fn kinds_list() -> String {
    Kind::ALL.iter().map(|k| k.name().to_lowercase()).collect::<Vec<_>>().join(", ")
}

/// Runs a dlp command; `Ok(true)` when `--fail-on-find` should fail the run.
pub fn run(cmd: DlpCommand) -> anyhow::Result<bool> {
    match cmd {
        DlpCommand::Scan { paths, opts, fail_on_find } => {
            let found = scan_paths(&paths, &opts.scanner()?)?;
            Ok(fail_on_find && found > 0)
        }
        DlpCommand::Redact { input, out, style, key_file, opts } => {
            let style = match (style.as_str(), key_file) {
                ("token", Some(f)) => {
                    let key = std::fs::read(&f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                    if key.len() < 16 {
                        anyhow::bail!("the token key must be at least 16 bytes");
                    }
                    Style::Token { key }
                }
                ("token", None) => anyhow::bail!("--style token needs --key-file"),
                ("last4", _) => Style::KeepLast4,
                _ => Style::Mask,
            };
            let scanner = opts.scanner()?;
            let mut reader = open(&input)?;
            // Write to a temporary file beside the target and rename it at the end, so a
            // failed run never leaves a half-redacted file where the output should be.
            let (mut sink, tmp): (Box<dyn Write>, Option<(PathBuf, PathBuf)>) = match &out {
                Some(p) => {
                    let tmp = p.with_extension("bposhield-partial");
                    let f = std::fs::File::create(&tmp).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
                    (Box::new(std::io::BufWriter::new(f)), Some((tmp, p.clone())))
                }
                None => (Box::new(std::io::BufWriter::new(std::io::stdout().lock())), None),
            };
            let mut r = StreamRedactor::new(scanner, style);
            let mut chunk = vec![0u8; CHUNK];
            let mut text = String::new();
            loop {
                let n = read_some(&mut reader, &mut chunk).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
                if n == 0 {
                    break;
                }
                r.push(&chunk[..n], &mut text);
                sink.write_all(text.as_bytes())?;
                text.clear();
            }
            let count = r.finish(&mut text);
            sink.write_all(text.as_bytes())?;
            sink.flush()?;
            drop(sink);
            if let Some((tmp, p)) = tmp {
                std::fs::rename(&tmp, &p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            }
            eprintln!("redacted {count} findings");
            Ok(false)
        }
    }
}

fn open(path: &Path) -> anyhow::Result<Box<dyn Read>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Box::new(f))
}

/// One `read`, retried on EINTR.
fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Every file under the given paths (directories walked recursively, sorted), with its size.
fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            stack.extend(entries.into_iter().rev());
        } else if meta.is_file() {
            out.push((p, meta.len()));
        }
    }
    Ok(out)
}

/// A one-line progress bar on stderr (only when stderr is a terminal).
struct Progress {
    on: bool,
    total_bytes: u64,
    files: usize,
    last: Instant,
}

impl Progress {
    fn show(&mut self, done_files: usize, bytes: u64, found: u64, force: bool) {
        if !self.on || (!force && self.last.elapsed().as_millis() < 100) {
            return;
        }
        self.last = Instant::now();
        let frac = if self.total_bytes == 0 { 1.0 } else { (bytes as f64 / self.total_bytes as f64).min(1.0) };
        let filled = (frac * 30.0).round() as usize;
        eprint!(
            "\r[{}{}] {:>3.0}% {done_files}/{} files, {:.1}/{:.1} MB, {found} findings ",
            "#".repeat(filled),
            "-".repeat(30 - filled),
            frac * 100.0,
            self.files,
            bytes as f64 / 1e6,
            self.total_bytes as f64 / 1e6
        );
    }
}

fn scan_paths(paths: &[PathBuf], scanner: &Scanner) -> anyhow::Result<u64> {
    let started = Instant::now();
    let stdin_only = paths.is_empty() || (paths.len() == 1 && paths[0].as_os_str() == "-");
    let list = if stdin_only { vec![(PathBuf::from("-"), 0)] } else { files(paths)? };
    let mut progress = Progress {
        on: list.len() > 1 && std::io::stderr().is_terminal(),
        total_bytes: list.iter().map(|(_, n)| n).sum(),
        files: list.len(),
        last: Instant::now(),
    };
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    // Counts per kind, indexed like `Kind::ALL` (a map lookup per finding showed up in
    // profiles of PII-dense files).
    let mut per_kind = [0u64; Kind::ALL.len()];
    let (mut bytes, mut skipped) = (0u64, 0u64);
    // Shared by the finding callback and the progress bar.
    let total = std::cell::Cell::new(0u64);
    let mut chunk = vec![0u8; CHUNK];
    for (n, (path, _)) in list.iter().enumerate() {
        let mut reader = match open(path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("skipped: {e}");
                skipped += 1;
                continue;
            }
        };
        let mut s = StreamScanner::with_scanner(scanner.clone());
        let mut err = None;
        let shown = path.display().to_string();
        let mut masked = String::new();
        let mut emit = |f: Finding, span: &str| {
            per_kind[f.kind as usize] += 1;
            total.set(total.get() + 1);
            let written = write_finding(&mut stdout, &shown, scanner, span, &f, &mut masked);
            if let Err(e) = written {
                err.get_or_insert(e);
            }
        };
        loop {
            match read_some(&mut reader, &mut chunk) {
                Ok(0) => break,
                Ok(k) => {
                    bytes += k as u64;
                    s.push_with(&chunk[..k], &mut emit);
                }
                Err(e) => {
                    eprintln!("{}: read error after {} bytes: {e}", path.display(), s.position());
                    skipped += 1;
                    break;
                }
            }
            progress.show(n, bytes, total.get(), false);
        }
        s.finish_with(&mut emit);
        if let Some(e) = err {
            // Most likely a closed pipe (`| head`): stop quietly.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(total.get());
            }
            return Err(e.into());
        }
        progress.show(n + 1, bytes, total.get(), true);
    }
    stdout.flush()?;
    if progress.on {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    let mut kinds: Vec<String> =
        Kind::ALL.iter().zip(per_kind).filter(|(_, n)| *n > 0).map(|(k, n)| format!("{} {n}", k.name())).collect();
    kinds.sort();
    let total = total.get();
    eprintln!(
        "scanned {} file(s), {:.1} MB in {secs:.2} s ({:.0} MB/s, peak memory {}); {skipped} skipped; {total} findings{}{}",
        list.len() - usize::try_from(skipped).unwrap_or(0),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs.max(1e-9),
        crate::peak_rss_mib().map_or_else(|| "unknown".to_string(), |m| format!("{m:.1} MiB")),
        if kinds.is_empty() { "" } else { ": " },
        kinds.join(", ")
    );
    Ok(total)
}

/// One JSON line of `dlp scan` (keys in alphabetical order): never the raw value, only
/// its masked form (all but the last four).
#[derive(serde::Serialize)]
struct FindingLine<'a> {
    end: usize,
    masked: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<&'a str>,
    reason: &'a str,
    score: f64,
    spoken: bool,
    start: usize,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Writes the JSON line of `f` (`masked` is scratch space, reused between findings).
fn write_finding(
    out: &mut impl Write,
    path: &str,
    scanner: &Scanner,
    span: &str,
    f: &Finding,
    masked: &mut String,
) -> std::io::Result<()> {
    masked.clear();
    redact_span(f, span, &Style::KeepLast4, masked);
    let pattern = if f.kind == Kind::Custom {
        scanner.config().custom.get(usize::from(f.pattern)).map(|p| p.name.as_str())
    } else {
        None
    };
    let line = FindingLine {
        end: f.end,
        masked,
        path,
        pattern,
        reason: f.reason,
        score: (f64::from(f.score) * 100.0).round() / 100.0,
        spoken: f.spoken,
        start: f.start,
        kind: f.kind.name(),
    };
    serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}
