//! `bposhield recordings import DIR`: loads a call-monitoring system's export folder
//! into the vault through the same services as the upload API (PII scan at ingest,
//! encryption, ledger; actor `system`).
//!
//! The folder holds the media files and their metadata, either one sidecar per
//! recording (`NAME.json`: the API's `RecordingInput` fields, plus `media` — the media
//! file's name in the folder — and optionally `media_type` and `transcript_file`) or one
//! `index.csv` with the columns `call_id, agent, process, team_id, started_at,
//! duration_seconds, channel, customer_ref, media, media_type, transcript_file`
//! (`process` is a process unit's code or id). Resumable: a recording already complete
//! is skipped, one whose media is missing gets it; each problem is reported by file and
//! line, and the rest goes on.

use anyhow::Context;
use bposhield_proto::{ErrorCode, ProcessId, RecordingInput, TeamId};
use bposhield_server::ctx::Ctx;
use bposhield_server::{recordings, AppState};
use clap::Subcommand;
use serde::Deserialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum RecordingsCommand {
    /// Import a call-monitoring export folder (media plus JSON sidecars or index.csv).
    Import {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// One sidecar: the API's fields (with `process` by code or id), and the files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    call_id: String,
    agent: String,
    #[serde(alias = "process_id")]
    process: String,
    team_id: Option<TeamId>,
    started_at: i64,
    duration_seconds: i64,
    channel: String,
    customer_ref: String,
    #[serde(default)]
    transcript: Option<String>,
    #[serde(default)]
    screen_text: Option<String>,
    media: Option<String>,
    media_type: Option<String>,
    transcript_file: Option<String>,
}

/// Counts of one import.
#[derive(Debug, Default)]
struct Tally {
    imported: usize,
    completed: usize,
    skipped: usize,
    rejected: usize,
}

pub async fn run(state: AppState, cmd: RecordingsCommand) -> anyhow::Result<()> {
    let RecordingsCommand::Import { dir } = cmd;
    let entries = read_folder(&dir)?;
    if entries.is_empty() {
        anyhow::bail!("{}: no *.json sidecars and no index.csv", dir.display());
    }
    let ctx = Ctx::system("cli-recordings-import");
    let processes = state.store.processes(None).await?;
    let bar = std::io::stderr().is_terminal();
    let mut t = Tally::default();
    let total = entries.len();
    for (n, (origin, entry)) in entries.into_iter().enumerate() {
        if bar {
            eprint!("\r[{n}/{total}] {origin:<60.60}");
        }
        let result = match entry {
            Ok(s) => import_one(&state, &ctx, &dir, &processes, s).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Outcome::Imported) => t.imported += 1,
            Ok(Outcome::Completed) => t.completed += 1,
            Ok(Outcome::Skipped) => t.skipped += 1,
            Err(why) => {
                t.rejected += 1;
                if bar {
                    eprintln!();
                }
                println!("rejected {origin}: {why}");
            }
        }
    }
    if bar {
        eprintln!("\r[{total}/{total}] done{:<60}", "");
    }
    println!(
        "recordings: {} imported, {} completed (media added), {} already complete, {} rejected",
        t.imported, t.completed, t.skipped, t.rejected
    );
    if t.rejected > 0 {
        anyhow::bail!("{} recordings rejected; fix them and run the import again (it resumes)", t.rejected);
    }
    Ok(())
}

enum Outcome {
    Imported,
    Completed,
    Skipped,
}

type Entry = (String, Result<Sidecar, String>);

/// Every sidecar of the folder (sorted by name), then every row of `index.csv`.
fn read_folder(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let origin = p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let parsed = std::fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Sidecar>(&b).map_err(|e| format!("not a recording sidecar: {e}")));
        out.push((origin, parsed));
    }
    let csv = dir.join("index.csv");
    if csv.exists() {
        let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(&csv)?;
        let headers = r.headers()?.clone();
        for (n, rec) in r.records().enumerate() {
            let origin = format!("index.csv line {}", n + 2);
            let row = rec.map_err(|e| e.to_string()).and_then(|rec| {
                let get =
                    |k: &str| headers.iter().position(|h| h == k).and_then(|i| rec.get(i)).unwrap_or("").to_owned();
                let num = |k: &str| get(k).parse::<i64>().map_err(|_| format!("{k}: not a number"));
                let opt = |k: &str| Some(get(k)).filter(|v| !v.is_empty());
                Ok(Sidecar {
                    call_id: get("call_id"),
                    agent: get("agent"),
                    process: get("process"),
                    team_id: match opt("team_id") {
                        Some(t) => Some(t.parse().map_err(|_| "team_id: not an id".to_owned())?),
                        None => None,
                    },
                    started_at: num("started_at")?,
                    duration_seconds: num("duration_seconds")?,
                    channel: get("channel"),
                    customer_ref: get("customer_ref"),
                    transcript: None,
                    screen_text: None,
                    media: opt("media"),
                    media_type: opt("media_type"),
                    transcript_file: opt("transcript_file"),
                })
            });
            out.push((origin, row));
        }
    }
    Ok(out)
}

/// A file named by a sidecar: a plain name inside the folder, nothing else.
fn in_folder(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let plain = !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..";
    if !plain {
        return Err(format!("`{name}` must be a file name inside the folder"));
    }
    Ok(dir.join(name))
}

fn media_type_of(name: &str) -> &'static str {
    match name.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "opus") => "audio/ogg",
        Some("m4a") => "audio/mp4",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        _ => "application/octet-stream",
    }
}

async fn import_one(
    st: &AppState,
    ctx: &Ctx,
    dir: &Path,
    processes: &[bposhield_proto::ProcessUnit],
    s: Sidecar,
) -> Result<Outcome, String> {
    let i = &s;
    let process: ProcessId = match processes.iter().find(|p| p.code == i.process || p.id.to_string() == i.process) {
        Some(p) => p.id,
        None => return Err(format!("process `{}`: no such process unit (code or id)", i.process)),
    };
    let transcript = match (&i.transcript, &s.transcript_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(f)) => Some(std::fs::read_to_string(in_folder(dir, f)?).map_err(|e| format!("{f}: {e}"))?),
        (None, None) => None,
    };
    let media = match &s.media {
        Some(m) => {
            let p = in_folder(dir, m)?;
            if !p.is_file() {
                return Err(format!("media file `{m}` is missing"));
            }
            Some((p, s.media_type.clone().unwrap_or_else(|| media_type_of(m).to_owned())))
        }
        None => None,
    };
    let input = RecordingInput {
        call_id: s.call_id,
        agent: s.agent,
        process_id: process,
        team_id: s.team_id,
        started_at: s.started_at,
        duration_seconds: s.duration_seconds,
        channel: s.channel,
        customer_ref: s.customer_ref,
        transcript,
        screen_text: s.screen_text,
    };
    let (rec, created) =
        recordings::ingest(st, ctx, input).await.map_err(|e| format!("{} {}", e.code.code(), e.message))?;
    let row = st.store.recording(rec.id).await.map_err(|e| e.to_string())?;
    let Some((path, media_type)) = media else {
        return Ok(if created { Outcome::Imported } else { Outcome::Skipped });
    };
    if row.media_object.is_some() || row.recording.purged_at.is_some() {
        return Ok(Outcome::Skipped);
    }
    let file = tokio::fs::File::open(&path).await.map_err(|e| format!("{}: {e}", path.display()))?;
    match recordings::store_media(st, ctx, &row, &media_type, file).await {
        Ok(_) => Ok(if created { Outcome::Imported } else { Outcome::Completed }),
        Err(e) if e.code == ErrorCode::RecordingMediaExists => Ok(Outcome::Skipped),
        Err(e) => Err(format!("{} {}", e.code.code(), e.message)),
    }
}
