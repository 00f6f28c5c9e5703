//! `bposhield ledger …`: the auditor's and operator's view of the tamper-evident log.

use bposhield_ledger::bundle;
use bposhield_ledger::note::VerifierKey;
use bposhield_server::ledger::{self, Progress};
use bposhield_server::AppState;
use clap::Subcommand;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Print the public verifier key (`name+keyid+base64`) auditors verify with.
    Key,
    /// Re-hash the whole stored log and check it against every signed checkpoint;
    /// exits non-zero and names the first bad index on tampering.
    Verify,
    /// Print the inclusion proof of entry --index in the tree of --size (default: now) as JSON.
    Prove {
        #[arg(long)]
        index: u64,
        #[arg(long)]
        size: Option<u64>,
    },
    /// Print the consistency proof between tree sizes --from and --to as JSON.
    Consistency {
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: u64,
    },
    /// Write entries [--from, --to), their checkpoints and proofs to a bundle directory.
    Export {
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Default: the current size.
        #[arg(long)]
        to: Option<u64>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check an exported bundle offline, with only the verifier key (no database).
    VerifyBundle {
        #[arg(value_name = "DIR")]
        bundle: PathBuf,
        /// The verifier key, as printed by `bposhield ledger key`.
        #[arg(long)]
        key: String,
    },
    /// Publish a signed checkpoint of the current head now.
    Checkpoint,
}

/// `verify-bundle`: no configuration, no database.
pub fn verify_bundle(dir: &std::path::Path, key: &str) -> anyhow::Result<()> {
    let key: VerifierKey = key.parse().map_err(|e| anyhow::anyhow!("--key: {e}"))?;
    let b = bundle::read_bundle(dir)?;
    let r = bundle::verify_bundle(&b, &key)?;
    println!(
        "bundle OK: entries {}..{} ({}), {} checkpoints, final tree size {}, root {}",
        b.from,
        b.to,
        r.entries,
        r.checkpoints,
        r.final_size,
        base64_std(&r.final_root)
    );
    Ok(())
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub async fn run(state: AppState, c: LedgerCommand) -> anyhow::Result<()> {
    state.prepare_ledger().await?;
    let store = &state.store;
    match c {
        LedgerCommand::Key => println!("{}", state.checkpointer.verifier()),
        LedgerCommand::Verify => {
            let progress = std::sync::Arc::new(Progress::default());
            let shown = progress.clone();
            let tty = std::io::stderr().is_terminal();
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    let (d, t) = (shown.done.load(Ordering::Relaxed), shown.total.load(Ordering::Relaxed));
                    if tty {
                        eprint!("\rverifying: {d} / {t} entries");
                    } else {
                        eprintln!("verifying: {d} / {t} entries");
                    }
                }
            });
            let started = std::time::Instant::now();
            let report = ledger::verify_log(store, state.checkpointer.verifier(), &progress).await;
            ticker.abort();
            if tty {
                eprintln!();
            }
            let report = report?;
            let secs = started.elapsed().as_secs_f64();
            if let (Some(problem), idx) = (&report.problem, report.first_bad_index) {
                match idx {
                    Some(i) => println!("ledger verification FAILED at index {i}: {problem}"),
                    None => println!("ledger verification FAILED: {problem}"),
                }
                anyhow::bail!("the ledger does not verify");
            }
            println!(
                "ledger OK: {} entries, {} checkpoints; {} entries covered by a signed checkpoint, {} after the latest ({:.1} s)",
                report.size, report.checkpoints, report.verified, report.unsigned, secs
            );
        }
        LedgerCommand::Prove { index, size } => {
            let p = ledger::inclusion_proof(store, index, size).await?;
            let leaf = store.ledger_leaf(index).await?;
            let root = store.ledger_root(p.size).await?;
            let out = serde_json::json!({
                "index": p.index,
                "size": p.size,
                "leaf_hash": base64_std(&leaf),
                "root": base64_std(&root),
                "hashes": p.hashes.iter().map(|h| base64_std(h)).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        LedgerCommand::Consistency { from, to } => {
            let p = ledger::consistency_proof(store, from, to).await?;
            let out = serde_json::json!({
                "from": p.from,
                "to": p.to,
                "from_root": base64_std(&store.ledger_root(from).await?),
                "to_root": base64_std(&store.ledger_root(to).await?),
                "hashes": p.hashes.iter().map(|h| base64_std(h)).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        LedgerCommand::Export { from, to, out } => {
            let b = ledger::build_bundle(store, &state.checkpointer, from, to).await?;
            bundle::write_bundle(&out, &b)?;
            let _ = std::io::stdout().flush();
            println!(
                "wrote {} entries, {} checkpoints to {}; verify with:\n  bposhield ledger verify-bundle {} --key {}",
                b.entries.len(),
                b.checkpoints.len(),
                out.display(),
                out.display(),
                b.verifier
            );
        }
        LedgerCommand::VerifyBundle { bundle, key } => verify_bundle(&bundle, &key)?,
        LedgerCommand::Checkpoint => match state.checkpointer.publish_head().await? {
            Some(cp) => print!("{}", cp.note),
            None => println!("no new entries since the latest checkpoint"),
        },
    }
    Ok(())
}
