//! `bposhield bench dlp`: speed, memory and accuracy of the PII engine on the generated
//! call-transcript corpus (`bposhield_dlp::corpus`), beside its anchors measured in the
//! same run:
//!
//! * **speed** (default): the streaming scanner (1 MiB chunks, one thread) over at least
//!   `--mb` MB of typical transcripts (PII on about one line in 20) and of PII-dense text,
//!   median of `--rounds`; the physical floor, a `memchr` newline count over the same
//!   bytes; the scan's skeleton (`bposhield_dlp::scan::skeleton`: its block loop without
//!   the work behind each event), the ceiling of the engine's design; Presidio's MB per CPU second on a sample of the same text when it is installed
//!   (`scripts/presidio.sh`); and the peak memory of `bposhield dlp scan` streaming the
//!   corpus from a file, measured in a child process so the corpus held here does not
//!   count.
//! * **`--accuracy`**: precision and recall per type on `--docs` generated transcripts
//!   with labels and hard negatives, against the engine's targets, and Presidio's on the
//!   same documents.

use bposhield_dlp::corpus::{self, Doc, Profile};
use bposhield_dlp::eval::{evaluate, Report, SPOKEN_TARGET, TARGETS};
use bposhield_dlp::scan::{Kind, Scanner};
use bposhield_dlp::stream::StreamScanner;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct DlpBench {
    /// Measure precision and recall per type instead of speed.
    #[arg(long)]
    accuracy: bool,
    /// MB of text per profile for the speed run (at least 100 for the recorded figures).
    #[arg(long, default_value_t = 100)]
    mb: usize,
    /// Rounds of the speed run (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Generated documents for `--accuracy`.
    #[arg(long, default_value_t = 5000)]
    docs: usize,
    /// Corpus seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Presidio anchor: `auto` (if installed), `on` (install if needed), `off`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    presidio: String,
    /// MB of text given to Presidio (it runs at about 0.15 MB per CPU second).
    #[arg(long, default_value_t = 1.0)]
    presidio_mb: f64,
    /// `scripts/presidio.sh` of a checkout.
    #[arg(long, default_value = "scripts/presidio.sh", env = "BPOSHIELD_PRESIDIO_SCRIPT")]
    presidio_script: PathBuf,
    /// With `--accuracy`: exit non-zero when a target is missed.
    #[arg(long)]
    check: bool,
    /// With `--accuracy`: print up to N missed labels and false findings per type, with
    /// their context (for tuning the detectors).
    #[arg(long, value_name = "N", default_value_t = 0)]
    show_misses: usize,
    /// Profiles of the speed run (comma-separated): typical, dense.
    #[arg(long, value_delimiter = ',', default_values_t = ["typical".to_string(), "dense".to_string()])]
    profiles: Vec<String>,
    /// Also write the generated speed-run text to `DIR/<profile>.txt` (to feed other tools).
    #[arg(long, value_name = "DIR")]
    write_corpus: Option<PathBuf>,
    /// With `--show-misses`: only this type.
    #[arg(long, value_name = "TYPE")]
    only: Option<String>,
}

pub fn run(b: DlpBench) -> anyhow::Result<()> {
    if b.accuracy {
        accuracy(&b)
    } else {
        speed(&b)
    }
}

// ---------------------------------------------------------------------------
// Accuracy
// ---------------------------------------------------------------------------

fn accuracy(b: &DlpBench) -> anyhow::Result<()> {
    let t = Instant::now();
    let docs = corpus::generate(b.seed, Profile::Eval, b.docs);
    let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
    eprintln!("generated {} eval transcripts, {:.1} MB, in {:.2} s", docs.len(), bytes as f64 / 1e6, secs(t));
    let scanner = Scanner::builtin();
    let report = evaluate(&docs, |text| scanner.scan(text));
    println!("bposhield dlp on {} generated transcripts (seed {}):\n{report}", docs.len(), b.seed);
    if b.show_misses > 0 {
        show_misses(&docs, &scanner, b.show_misses, b.only.as_deref());
    }
    let presidio = presidio_accuracy(b, &docs)?;
    println!("\ntargets (precision and recall):");
    println!(
        "{:<14} {:>8} {:>9} {:>9}  {:>9} {:>9}",
        "type", "target", "precision", "recall", "presidio P", "presidio R"
    );
    let mut missed = Vec::new();
    for &(kind, target) in TARGETS {
        let (p, r) = row(&report, kind);
        let (pp, pr) = presidio.as_ref().map_or((String::new(), String::new()), |v| presidio_row(v, kind.name()));
        let ok = p >= target && r >= target;
        if !ok {
            missed.push(kind.name().to_string());
        }
        println!(
            "{:<14} {:>8.2} {:>9.4} {:>9.4}  {:>9} {:>9}  {}",
            kind.name(),
            target,
            p,
            r,
            pp,
            pr,
            if ok { "met" } else { "MISSED" }
        );
    }
    let (sp, sr) = (report.spoken.precision(), report.spoken.recall());
    let (_, spr) = presidio.as_ref().map_or((String::new(), String::new()), |v| presidio_row(v, "SPOKEN"));
    let ok = sp >= SPOKEN_TARGET && sr >= SPOKEN_TARGET;
    if !ok {
        missed.push("SPOKEN".into());
    }
    println!(
        "{:<14} {:>8.2} {:>9.4} {:>9.4}  {:>9} {:>9}  {}",
        "SPOKEN (all)",
        SPOKEN_TARGET,
        sp,
        sr,
        "",
        spr,
        if ok { "met" } else { "MISSED" }
    );
    if let Some(v) = &presidio {
        if let Some(cross) = v.get("cross_type").and_then(|c| c.as_object()) {
            let mut pairs: Vec<(&String, u64)> = cross.iter().filter_map(|(k, n)| Some((k, n.as_u64()?))).collect();
            pairs.sort_by_key(|p| std::cmp::Reverse(p.1));
            let shown: Vec<String> = pairs.iter().take(8).map(|(k, n)| format!("{k} {n}")).collect();
            println!("presidio cross-type false positives: {}", shown.join(", "));
        }
    }
    if b.check && !missed.is_empty() {
        anyhow::bail!("accuracy targets missed: {}", missed.join(", "));
    }
    Ok(())
}

/// Prints missed labels (no overlapping finding of the same type) and false findings
/// (overlapping no label of their type), with the text around them.
fn show_misses(docs: &[Doc], scanner: &Scanner, limit: usize, only: Option<&str>) {
    let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 < b.1 && b.0 < a.1;
    let context = |text: &str, s: usize, e: usize| {
        let mut lo = s.saturating_sub(90);
        while !text.is_char_boundary(lo) {
            lo -= 1;
        }
        let mut hi = (e + 40).min(text.len());
        while !text.is_char_boundary(hi) {
            hi += 1;
        }
        format!("{}[[{}]]{}", &text[lo..s], &text[s..e], &text[e..hi]).replace('\n', "⏎")
    };
    for kind in Kind::ALL {
        if only.is_some_and(|o| !kind.name().eq_ignore_ascii_case(o)) {
            continue;
        }
        let (mut missed, mut false_found) = (Vec::new(), Vec::new());
        for d in docs {
            let found = scanner.scan(&d.text);
            for l in d.labels.iter().filter(|l| l.kind == kind) {
                if !found.iter().any(|f| f.kind == kind && overlaps((f.start, f.end), (l.start, l.end))) {
                    let other: Vec<&str> = found
                        .iter()
                        .filter(|f| overlaps((f.start, f.end), (l.start, l.end)))
                        .map(|f| f.kind.name())
                        .collect();
                    missed.push(format!("{} (found as {other:?})", context(&d.text, l.start, l.end)));
                }
            }
            for f in found.iter().filter(|f| f.kind == kind) {
                if !d.labels.iter().any(|l| l.kind == kind && overlaps((f.start, f.end), (l.start, l.end))) {
                    false_found.push(format!("{} ({})", context(&d.text, f.start, f.end), f.reason));
                }
            }
        }
        for (what, list) in [("missed", &missed), ("false", &false_found)] {
            for m in list.iter().take(limit) {
                println!("{} {what}: {m}", kind.name());
            }
        }
    }
}

fn row(r: &Report, kind: Kind) -> (f64, f64) {
    r.per_kind.iter().find(|k| k.kind == kind).map_or((1.0, 1.0), |k| (k.score.precision(), k.score.recall()))
}

fn presidio_row(v: &serde_json::Value, name: &str) -> (String, String) {
    let k = if name == "SPOKEN" { v.get("spoken") } else { v.get("per_kind").and_then(|p| p.get(name)) };
    let f = |field: &str| k.and_then(|k| k.get(field)).and_then(serde_json::Value::as_f64).map(|x| format!("{x:.4}"));
    (f("precision").unwrap_or_else(|| "-".into()), f("recall").unwrap_or_else(|| "-".into()))
}

fn presidio_accuracy(b: &DlpBench, docs: &[Doc]) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(script) = presidio_available(b) else { return Ok(None) };
    let dir = tempdir()?;
    let file = dir.join("eval.jsonl");
    let limit = (b.presidio_mb * 1e6) as usize;
    let mut taken = Vec::new();
    let mut bytes = 0;
    for d in docs {
        if bytes >= limit {
            break;
        }
        bytes += d.text.len();
        taken.push(d.clone());
    }
    write_docs(&file, &taken)?;
    eprintln!("presidio: analysing {} documents ({:.2} MB) for accuracy...", taken.len(), bytes as f64 / 1e6);
    let v = run_presidio(&script, &file, &[])?;
    // Our figures on exactly Presidio's documents, for a like-for-like row.
    let scanner = Scanner::builtin();
    let same = evaluate(&taken, |text| scanner.scan(text));
    println!("\nbposhield dlp on the {} documents given to Presidio:\n{same}", taken.len());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Some(v))
}

// ---------------------------------------------------------------------------
// Speed and memory
// ---------------------------------------------------------------------------

struct Speed {
    profile: Profile,
    bytes: usize,
    lines: usize,
    labels: usize,
    floor_mb_s: f64,
    skeleton_mb_s: f64,
    ours_mb_s: f64,
    findings: usize,
    peak_mib: Option<f64>,
}

fn speed(b: &DlpBench) -> anyhow::Result<()> {
    let min = b.mb.max(1) * 1_000_000;
    let scanner = Scanner::builtin();
    let dir = tempdir()?;
    let mut results = Vec::new();
    let mut profiles = Vec::new();
    for p in &b.profiles {
        match Profile::from_name(p) {
            Some(p) if p != Profile::Eval => profiles.push(p),
            _ => anyhow::bail!("unknown profile `{p}` for the speed run; known: typical, dense"),
        }
    }
    for profile in profiles {
        let t = Instant::now();
        let (text, labels) = corpus::generate_text(b.seed, profile, min);
        eprintln!(
            "{}: generated {:.1} MB with {} labels in {:.1} s",
            profile.name(),
            text.len() as f64 / 1e6,
            labels.len(),
            secs(t)
        );
        let bytes = text.as_bytes();
        if let Some(out) = &b.write_corpus {
            std::fs::create_dir_all(out)?;
            std::fs::write(out.join(format!("{}.txt", profile.name())), bytes)?;
        }
        let mut floor = Vec::new();
        let mut skeleton = Vec::new();
        let mut ours = Vec::new();
        let (mut lines, mut findings) = (0, 0);
        for round in 0..b.rounds.max(1) {
            let t = Instant::now();
            lines = memchr::memchr_iter(b'\n', bytes).count();
            floor.push(bytes.len() as f64 / 1e6 / secs(t));
            let t = Instant::now();
            std::hint::black_box(bposhield_dlp::scan::skeleton(bytes));
            skeleton.push(bytes.len() as f64 / 1e6 / secs(t));
            let t = Instant::now();
            let mut s = StreamScanner::with_scanner(scanner.clone());
            let mut n = 0usize;
            for chunk in bytes.chunks(1 << 20) {
                n += s.push(chunk).len();
            }
            n += s.finish().len();
            ours.push(bytes.len() as f64 / 1e6 / secs(t));
            findings = n;
            eprintln!(
                "{} round {}: memchr {:.0} MB/s, scan skeleton {:.0} MB/s, bposhield {:.0} MB/s ({n} findings)",
                profile.name(),
                round + 1,
                floor[round],
                skeleton[round],
                ours[round]
            );
        }
        // Peak memory of the streaming CLI over the same text, from a file.
        let file = dir.join(format!("{}.txt", profile.name()));
        std::fs::write(&file, bytes)?;
        let peak_mib = cli_peak_mib(&file);
        let _ = std::fs::remove_file(&file);
        results.push(Speed {
            profile,
            bytes: bytes.len(),
            lines,
            labels: labels.len(),
            floor_mb_s: median(&mut floor),
            skeleton_mb_s: median(&mut skeleton),
            ours_mb_s: median(&mut ours),
            findings,
            peak_mib,
        });
    }
    // Presidio on the first `presidio_mb` of each profile's transcripts (the same seed,
    // so the same text our figure was measured on starts with).
    let mut presidio: Vec<(Profile, f64, String, usize)> = Vec::new();
    if let Some(script) = presidio_available(b) {
        for r in &results {
            let mut gen = corpus::Generator::new(b.seed, r.profile);
            let mut docs = Vec::new();
            let mut bytes = 0;
            while (bytes as f64) < b.presidio_mb * 1e6 {
                let d = gen.next_doc();
                bytes += d.text.len();
                docs.push(d);
            }
            let file = dir.join(format!("presidio-{}.jsonl", r.profile.name()));
            write_docs(&file, &docs)?;
            eprintln!("presidio: analysing {:.2} MB of {} transcripts...", bytes as f64 / 1e6, r.profile.name());
            let v = run_presidio(&script, &file, &["--speed-only"])?;
            if let Some(mb) = v.get("mb_per_cpu_second").and_then(serde_json::Value::as_f64) {
                let version = v.get("presidio_version").and_then(|x| x.as_str()).unwrap_or("?").to_string();
                presidio.push((r.profile, mb, version, bytes));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("\nbposhield dlp speed (streaming, 1 MiB chunks, one thread; median of {} rounds):", b.rounds.max(1));
    println!(
        "{:<8} {:>8} {:>9} {:>9} {:>11} {:>13} {:>14} {:>9} {:>11} {:>11}",
        "profile",
        "MB",
        "PII/line",
        "findings",
        "memchr MB/s",
        "skeleton MB/s",
        "bposhield MB/s",
        "÷ floor",
        "× presidio",
        "peak MiB"
    );
    for r in &results {
        println!(
            "{:<8} {:>8.1} {:>9.3} {:>9} {:>11.0} {:>13.0} {:>14.0} {:>9.2} {:>11} {:>11}",
            r.profile.name(),
            r.bytes as f64 / 1e6,
            r.labels as f64 / r.lines.max(1) as f64,
            r.findings,
            r.floor_mb_s,
            r.skeleton_mb_s,
            r.ours_mb_s,
            r.floor_mb_s / r.ours_mb_s,
            presidio
                .iter()
                .find(|p| p.0 == r.profile)
                .map_or("-".into(), |(_, mb, _, _)| format!("{:.0}", r.ours_mb_s / mb)),
            r.peak_mib.map_or("-".into(), |m| format!("{m:.1}")),
        );
    }
    for (profile, mb, version, bytes) in &presidio {
        println!(
            "presidio-analyzer {version} (no_op NLP engine, offline): {mb:.3} MB per CPU second on {:.2} MB of the {} text",
            *bytes as f64 / 1e6,
            profile.name()
        );
    }
    if presidio.is_empty() {
        println!(
            "presidio: not measured (install with `bash scripts/presidio.sh --print-python`, or pass --presidio on)"
        );
    }
    Ok(())
}

/// Runs `bposhield dlp scan FILE` and reads the peak memory from its summary.
fn cli_peak_mib(file: &Path) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe).args(["dlp", "scan"]).arg(file).stdout(std::process::Stdio::null()).output().ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at = stderr.find("peak memory ")? + "peak memory ".len();
    stderr[at..].split_whitespace().next()?.parse().ok()
}

// ---------------------------------------------------------------------------
// Presidio
// ---------------------------------------------------------------------------

/// The Presidio script to run, if the anchor is wanted and available.
fn presidio_available(b: &DlpBench) -> Option<PathBuf> {
    if b.presidio == "off" {
        return None;
    }
    let script = b.presidio_script.clone();
    if !script.is_file() {
        eprintln!("presidio: {} not found (run from a checkout or set BPOSHIELD_PRESIDIO_SCRIPT)", script.display());
        return None;
    }
    if b.presidio == "auto" {
        let venv = std::env::var("BPOSHIELD_PRESIDIO_VENV").unwrap_or_else(|_| "/var/cache/bposhield-presidio".into());
        if !Path::new(&venv).join("bin/python").exists() {
            eprintln!("presidio: not installed in {venv}; `--presidio on` installs it");
            return None;
        }
    }
    Some(script)
}

fn run_presidio(script: &Path, jsonl: &Path, extra: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new("bash")
        .arg(script)
        .arg("--jsonl")
        .arg(jsonl)
        .args(extra)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| anyhow::anyhow!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        anyhow::bail!("{} failed with {}", script.display(), out.status);
    }
    serde_json::from_slice(&out.stdout).map_err(|e| anyhow::anyhow!("presidio output: {e}"))
}

fn write_docs(path: &Path, docs: &[Doc]) -> anyhow::Result<()> {
    let f = std::fs::File::create(path)?;
    let mut w = std::io::BufWriter::new(f);
    corpus::write_jsonl(docs, &mut w)?;
    std::io::Write::flush(&mut w)?;
    Ok(())
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("bposhield-bench-dlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64().max(1e-9)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
