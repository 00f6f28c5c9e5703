//! `bposhield dlp scan|redact`: the PII engine on files, directories and pipes. Needs no
//! configuration and no database.

use bposhield_dlp::redact::{redact, Style};
use bposhield_dlp::scan::{scan, Config, Finding, Kind, KindSet};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Exit status of `dlp scan --fail-on-find` when something was found.
pub const FOUND_EXIT: i32 = 3;

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
    /// Only these types (comma-separated): card, ssn, aadhaar, pan, iban, email, aba_routing.
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// Report findings scoring at least this (0-1).
    #[arg(long, default_value_t = 0.5)]
    min_score: f32,
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
                let k = Kind::ALL
                    .into_iter()
                    .find(|k| k.name().eq_ignore_ascii_case(t.trim()))
                    .ok_or_else(|| anyhow::anyhow!("unknown type `{t}`; known: {}", kinds_list()))?;
                set = set.with(k);
            }
            cfg.kinds = set;
        }
        Ok(cfg)
    }
}

fn kinds_list() -> String {
    Kind::ALL.iter().map(|k| k.name().to_lowercase()).collect::<Vec<_>>().join(", ")
}

/// Runs a dlp command; `Ok(true)` when `--fail-on-find` should fail the run.
pub fn run(cmd: DlpCommand) -> anyhow::Result<bool> {
    match cmd {
        DlpCommand::Scan { paths, opts, fail_on_find } => {
            let found = scan_paths(&paths, &opts.config()?)?;
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
            let text = read_text(&input)?;
            let findings = scan(&text, &opts.config()?);
            let redacted = redact(&text, &findings, &style);
            match out {
                Some(p) => std::fs::write(&p, redacted).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                None => std::io::stdout().write_all(redacted.as_bytes())?,
            }
            eprintln!("redacted {} findings", findings.len());
            Ok(false)
        }
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))
}

/// Every file under the given paths (directories walked recursively, sorted).
fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            stack.extend(entries.into_iter().rev());
        } else if meta.is_file() {
            out.push(p);
        }
    }
    Ok(out)
}

fn scan_paths(paths: &[PathBuf], cfg: &Config) -> anyhow::Result<u64> {
    let started = Instant::now();
    let stdin_only = paths.is_empty() || (paths.len() == 1 && paths[0].as_os_str() == "-");
    let list = if stdin_only { vec![PathBuf::from("-")] } else { files(paths)? };
    let progress = list.len() > 1 && std::io::stderr().is_terminal();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut per_kind: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut bytes, mut skipped, mut total) = (0u64, 0u64, 0u64);
    for (n, path) in list.iter().enumerate() {
        let text = match read_text(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("skipped: {e}");
                skipped += 1;
                continue;
            }
        };
        bytes += text.len() as u64;
        for f in scan(&text, cfg) {
            *per_kind.entry(f.kind.name()).or_default() += 1;
            total += 1;
            writeln!(stdout, "{}", finding_line(path, &text, &f))?;
        }
        if progress {
            eprint!("\r[{}/{}] {:.1} MB, {total} findings", n + 1, list.len(), bytes as f64 / 1e6);
        }
    }
    stdout.flush()?;
    if progress {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    let kinds: Vec<String> = per_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    eprintln!(
        "scanned {} file(s), {:.1} MB in {secs:.2} s ({:.0} MB/s); {skipped} skipped; {total} findings{}{}",
        list.len() - usize::try_from(skipped).unwrap_or(0),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs.max(1e-9),
        if kinds.is_empty() { "" } else { ": " },
        kinds.join(", ")
    );
    Ok(total)
}

/// One JSON line: never the raw value, only its masked form (all but the last four).
fn finding_line(path: &Path, text: &str, f: &Finding) -> String {
    let span = &text[f.start..f.end];
    let masked = redact(span, &[Finding { start: 0, end: span.len(), ..*f }], &Style::KeepLast4);
    serde_json::json!({
        "path": path.display().to_string(),
        "type": f.kind.name(),
        "start": f.start,
        "end": f.end,
        "score": (f64::from(f.score) * 100.0).round() / 100.0,
        "reason": f.reason,
        "masked": masked,
    })
    .to_string()
}
