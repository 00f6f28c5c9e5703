//! `bposhield bench ledger`: durable appends per second with group commit, proof
//! generation time at large tree sizes, and verification speed; beside the machine's
//! physical limits measured in the same run (fsync rate of the data directory's disk,
//! SHA-256 speed).

use crate::bench::median;
use bposhield_core::SystemClock;
use bposhield_ledger::tree::{self, Frontier};
use bposhield_server::audit::Outcome;
use bposhield_server::ctx::Ctx;
use bposhield_server::ledger::{verify_log, Progress};
use bposhield_server::{AppState, Config};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `bench ledger`.
#[derive(clap::Args, Debug)]
pub struct LedgerBench {
    /// Seconds per append round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Append rounds (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent producers (each waits for its acknowledgement before the next event).
    #[arg(long, default_value_t = 8)]
    producers: usize,
    /// Events each producer keeps in flight (1: every producer waits for each commit
    /// before the next event, like a request handler; more: a pipelining producer such as
    /// an importer). Both are reported when this is above 1.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Tree sizes at which to time inclusion proofs.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    proof_sizes: Vec<u64>,
}

/// Synchronous 4 KiB writes + fdatasync per second on the disk of `dir`.
fn fsync_rate(dir: &Path) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
    let block = [0x5au8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        f.write_all(&block)?;
        f.sync_data()?;
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// SHA-256 throughput (MB/s) on 1 MiB buffers, and leaf hashes per second of 300-byte
/// entries (the size of a typical ledger entry).
fn sha_speed() -> (f64, f64) {
    use sha2::Digest;
    let buf = vec![7u8; 1 << 20];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        std::hint::black_box(sha2::Sha256::digest(&buf));
        n += 1;
    }
    let mbs = n as f64 / start.elapsed().as_secs_f64() * 1.048_576;
    let entry = [b'x'; 300];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..1000 {
            std::hint::black_box(tree::leaf_hash(&entry));
        }
        n += 1000;
    }
    (mbs, n as f64 / start.elapsed().as_secs_f64())
}

pub async fn run(mut cfg: Config, b: LedgerBench) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("bposhield-bench-ledger-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    cfg.data_dir.clone_from(&dir);
    cfg.database_url.clear();
    cfg.controls.evaluate_every_seconds = 3600;
    cfg.ledger.checkpoint_every_seconds = 3600;

    println!("bposhield bench ledger: SQLite (WAL, synchronous=FULL) in {}", dir.display());
    let fsyncs = fsync_rate(&dir)?;
    let (sha_mbs, leaf_rate) = sha_speed();
    println!("  physical limits: {fsyncs:.0} fsync/s (4 KiB write + fdatasync), SHA-256 {sha_mbs:.0} MB/s, {leaf_rate:.0} leaf hashes/s of 300-byte entries (one core)");

    // Durable appends: producers each record one event and wait for its commit.
    let store = crate::open_store(&cfg).await?;
    let state = AppState::new(store, Arc::new(SystemClock), cfg.clone())?;
    state.prepare_ledger().await?;
    let mut modes = vec![1usize];
    if b.in_flight > 1 {
        modes.push(b.in_flight);
    }
    let mut results = Vec::new();
    for &in_flight in &modes {
        let mut rates = Vec::new();
        for round in 1..=b.rounds {
            let rate = append_round(&state, b.producers, in_flight, b.seconds).await?;
            println!(
                "  round {round}: {rate:.0} durable appends/s ({} producers, {in_flight} in flight each)",
                b.producers
            );
            rates.push(rate);
        }
        results.push((in_flight, median(rates)));
    }
    let size = state.store.ledger_size().await?;
    state.checkpointer.publish_head().await?;

    // Verification of the stored log (every entry re-hashed, audit rows cross-checked).
    let start = Instant::now();
    let report = verify_log(&state.store, state.checkpointer.verifier(), &Progress::default()).await?;
    let verify_db = size as f64 / start.elapsed().as_secs_f64();
    anyhow::ensure!(report.ok(), "the benchmark log does not verify: {report:?}");
    // The verification engine alone: re-hash and rebuild from entries in memory.
    let entries = state.store.ledger_entries(0, size).await?;
    let start = Instant::now();
    let mut f = Frontier::new();
    for (_, e) in &entries {
        f.push(tree::leaf_hash(e.as_bytes()));
    }
    std::hint::black_box(f.root());
    let verify_engine = size as f64 / start.elapsed().as_secs_f64();
    let avg_len = entries.iter().map(|(_, e)| e.len()).sum::<usize>() / entries.len().max(1);
    drop(entries);
    println!(
        "  verification of {size} entries (avg {avg_len} bytes): {verify_db:.0} entries/s from the database, {verify_engine:.0} entries/s in the engine (one core)"
    );
    state.store.close().await;

    // Proofs at large sizes, on synthetic trees (complete subtrees only, no entries).
    let mut proof_rows = Vec::new();
    for &n in &b.proof_sizes {
        let pdir = dir.join(format!("proofs-{n}"));
        let mut pcfg = cfg.clone();
        pcfg.data_dir.clone_from(&pdir);
        pcfg.ledger.signing_key_path = dir.join("ledger.key").display().to_string();
        std::fs::create_dir_all(&pdir)?;
        let store = crate::open_store(&pcfg).await?;
        let load_start = Instant::now();
        let mut fr = Frontier::new();
        let mut leaves = Vec::with_capacity(1 << 16);
        let mut nodes = Vec::with_capacity(1 << 17);
        let mut loaded = 0u64;
        let mut leaf = [0u8; 32];
        for i in 0..n {
            leaf[..8].copy_from_slice(&i.to_le_bytes());
            let h = tree::leaf_hash(&leaf);
            leaves.push(h);
            fr.push_with(h, |id, x| nodes.push((id, *x)));
            if leaves.len() >= 1 << 16 || i + 1 == n {
                store.ledger_bench_load(loaded, &leaves, &nodes).await?;
                loaded += leaves.len() as u64;
                leaves.clear();
                nodes.clear();
                eprint!("\r  building a {n}-leaf tree: {:>3}%", (i + 1) * 100 / n);
            }
        }
        eprintln!();
        store.after_bulk_load().await?;
        let load_secs = load_start.elapsed().as_secs_f64();
        let mut times = Vec::new();
        for k in 0..1000u64 {
            let idx = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n;
            let t = Instant::now();
            let ids = tree::inclusion_nodes(idx, n).map_err(|e| anyhow::anyhow!("{e}"))?;
            let got = store.ledger_nodes(&ids).await?;
            let proof =
                tree::inclusion_proof(idx, n, |id| got.get(&id).copied()).map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if k == 0 {
                leaf[..8].copy_from_slice(&idx.to_le_bytes());
                let root = fr.root();
                tree::verify_inclusion(&tree::leaf_hash(&leaf), idx, n, &proof, &root)
                    .map_err(|e| anyhow::anyhow!("proof at {n} does not verify: {e}"))?;
            }
        }
        let (p50, p99) = {
            let mut t = times.clone();
            t.sort_by(f64::total_cmp);
            (t[t.len() / 2], t[t.len() * 99 / 100])
        };
        println!("  inclusion proof at {n} entries: median {p50:.3} ms, p99 {p99:.3} ms ({} stored subtrees read per proof; tree built in {load_secs:.0} s)", tree::inclusion_nodes(n / 3, n).map(|v| v.len()).unwrap_or(0));
        proof_rows.push((n, p50, p99));
        store.close().await;
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!("| measure | value | target | ratio to the physical limit |");
    println!("|---|---:|---:|---:|");
    println!("| disk fsync rate (physical limit) | {fsyncs:.0} /s | | 1.00 |");
    println!("| SHA-256 (physical limit) | {sha_mbs:.0} MB/s; {leaf_rate:.0} leaves/s | | 1.00 |");
    for (in_flight, appends) in &results {
        println!(
            "| durable appends, {} producers × {in_flight} in flight (median of {}) | {appends:.0} /s | ≥ 50,000 /s | {:.2}× the fsync rate |",
            b.producers,
            b.rounds,
            appends / fsyncs
        );
    }
    for (n, p50, p99) in proof_rows {
        println!("| inclusion proof at {n} entries | median {p50:.3} ms, p99 {p99:.3} ms | ≤ 1 ms | |");
    }
    println!("| verification, engine (one core) | {verify_engine:.0} entries/s | ≥ 1,000,000 /s | {:.2} of the leaf-hash rate |", verify_engine / leaf_rate);
    println!("| verification, from the database | {verify_db:.0} entries/s | | |");
    Ok(())
}

/// One timed round: `producers` producers, each keeping `in_flight` events waiting for
/// their commit (as `in_flight` sequential lanes, so no task is spawned per event).
/// Returns acknowledged appends per second.
async fn append_round(state: &AppState, producers: usize, in_flight: usize, seconds: u64) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut lanes = Vec::with_capacity(producers * in_flight);
    for p in 0..producers {
        for lane in 0..in_flight {
            let (st, stop, count) = (state.clone(), stop.clone(), count.clone());
            lanes.push(tokio::spawn(async move {
                let ctx = Ctx::system(&format!("bench-{p}"));
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let object = format!("item:{p}-{lane}-{n}");
                    st.audit(&ctx, "bench.append", &object, Outcome::Success, serde_json::json!({ "n": n }))
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    count.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
                anyhow::Ok(())
            }));
        }
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let acknowledged_by_deadline = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in lanes {
        t.await??;
    }
    Ok(acknowledged_by_deadline as f64 / elapsed)
}
