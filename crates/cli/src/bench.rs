//! `bposhield bench http`: throughput and latency of the server on the demo data.
//!
//! Seeds the demo into a fresh data directory (SQLite), starts the server in-process on
//! a free loopback port, and drives it with keep-alive HTTP/1.1 connections for a fixed
//! time per endpoint, several rounds interleaved. Reports the median of the rounds for:
//! `/healthz` (a static answer: the ceiling of this server on this machine), the
//! authenticated people API, and the dashboard page.
//!
//! The load comes from `wrk` (Debian package `wrk`) when it is installed: it is written
//! in C and costs the server far less CPU than any client in the same process would on a
//! two-core machine. Without it (or with `--client builtin`) a minimal raw-socket
//! keep-alive client in this process generates the load; its figures are lower because
//! it competes with the server for the same cores.

use crate::demo;
use bposhield_core::SystemClock;
use bposhield_server::ctx::Ctx;
use bposhield_server::{services, AppState, Config};
use clap::Subcommand;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Requests per second and latency of the people API and the dashboard.
    Http {
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds per endpoint per round.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Rounds (the median is reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Load generator: `wrk` (if installed) or `builtin`.
        #[arg(long, default_value = "auto", value_parser = ["auto", "wrk", "builtin"])]
        client: String,
    },
    /// Durable ledger appends per second, proof time at 1M and 10M entries, verification speed.
    Ledger(crate::bench_ledger::LedgerBench),
    /// Full reconciliation of a generated 300,000-person BPO; SCIM leaver latency to a real slapd.
    Identity(crate::bench_identity::IdentityBench),
    /// PII engine: MB/s on typical and PII-dense transcripts beside a memchr floor and
    /// Presidio, streaming peak memory; `--accuracy`: precision and recall per type.
    Dlp(crate::bench_dlp::DlpBench),
    /// Recording vault on local disk: encrypt-and-store and read-and-decrypt of a large
    /// file, peak RSS, seek latency, beside a plain copy and `age`.
    Vault(crate::bench_vault::VaultBench),
    /// Endpoint agent: steady-state RSS, uevent-to-de-authorization latency, a 200-check
    /// baseline scan; the server's ingest of device events over HTTP.
    Endpoint(crate::bench_endpoint::EndpointBench),
}

/// For benchmarks that drive a fresh server: a site (`PNQ1`) and a user holding `role`
/// globally, with an API token.
pub async fn site_and_token(
    state: &AppState,
    ctx: &Ctx,
    role: bposhield_proto::Role,
    username: &str,
) -> anyhow::Result<(bposhield_proto::Site, String)> {
    let site = services::create_site(
        state,
        ctx,
        None,
        &bposhield_proto::SiteInput {
            code: "PNQ1".into(),
            name: "Pune".into(),
            city: "Pune".into(),
            country: "IN".into(),
        },
    )
    .await?;
    let grant = bposhield_proto::GrantInput { role, scope: bposhield_proto::Scope::Global };
    let user = services::create_user(
        state,
        ctx,
        None,
        &bposhield_proto::UserInput {
            username: username.into(),
            display_name: format!("Benchmark {}", role.label()),
            password: "Tangerine-Orbit-Kettle-83".into(),
            person_id: None,
            grants: vec![grant.clone()],
        },
    )
    .await?;
    let token = services::issue_token(state, ctx, user.id, "bench", 1, vec![grant]).await?.token;
    Ok((site, token))
}

struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

pub async fn run(mut cfg: Config, cmd: BenchCommand) -> anyhow::Result<()> {
    let (connections, seconds, rounds, client) = match cmd {
        BenchCommand::Http { connections, seconds, rounds, client } => (connections, seconds, rounds, client),
        BenchCommand::Ledger(b) => return crate::bench_ledger::run(cfg, b).await,
        BenchCommand::Identity(b) => return crate::bench_identity::run(cfg, b).await,
        BenchCommand::Dlp(b) => return crate::bench_dlp::run(b),
        BenchCommand::Vault(b) => return crate::bench_vault::run(b).await,
        BenchCommand::Endpoint(b) => return crate::bench_endpoint::run(cfg, b).await,
    };
    let wrk = match client.as_str() {
        "builtin" => None,
        "wrk" => Some(which("wrk").ok_or_else(|| anyhow::anyhow!("wrk is not installed (apt-get install wrk)"))?),
        _ => which("wrk"),
    };
    let dir = std::env::temp_dir().join(format!("bposhield-bench-{}", std::process::id()));
    if cfg.database_url.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
        cfg.data_dir.clone_from(&dir);
    }
    cfg.bind = "127.0.0.1".into();
    cfg.port = 0;
    cfg.auth.require_totp_roles.clear();
    // Keep the background evaluation out of the measurement.
    cfg.controls.evaluate_every_seconds = 3600;
    let store = crate::open_store(&cfg).await?;
    let state = AppState::new(store, Arc::new(SystemClock), cfg)?;
    demo::seed(&state).await?;
    let hr = services::user_by_username(&state, "hradmin").await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let grants = hr.grants.iter().map(|g| bposhield_proto::GrantInput { role: g.role, scope: g.scope }).collect();
    let token = services::issue_token(&state, &Ctx::system("bench"), hr.id, "bench", 1, grants)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .token;
    let running = bposhield_server::start(state.clone()).await?;
    let addr = running.addr;
    let generator = if wrk.is_some() { "wrk (2 threads)" } else { "the built-in client" };
    let db = if state.config.database_url.is_empty() { "SQLite" } else { "PostgreSQL" };
    println!(
        "bposhield bench http: {connections} connections, {seconds} s per endpoint, {rounds} rounds, load from {generator}, {db}, {} people",
        state.store.people_count().await?
    );
    let endpoints = [
        ("GET /healthz (static ceiling)", "/healthz"),
        ("GET /api/v1/people?limit=50", "/api/v1/people?limit=50"),
        ("GET / (dashboard page)", "/"),
    ];
    let mut results: Vec<Vec<Sample>> = endpoints.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, (name, path)) in endpoints.iter().enumerate() {
            let s = match &wrk {
                Some(bin) => load_wrk(bin, addr, path, &token, connections, seconds).await?,
                None => load(addr, path, &token, connections, Duration::from_secs(seconds)).await?,
            };
            eprintln!(
                "  round {}: {name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                round + 1,
                s.rps,
                s.p50_ms,
                s.p99_ms,
                s.errors
            );
            results[i].push(s);
        }
    }
    running.stop().await;
    let ceiling = median(results[0].iter().map(|s| s.rps).collect());
    println!();
    println!("| endpoint | req/s (median) | p50 ms | p99 ms | errors | ratio to ceiling |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, (name, _)) in endpoints.iter().enumerate() {
        let rps = median(results[i].iter().map(|s| s.rps).collect());
        let p50 = median(results[i].iter().map(|s| s.p50_ms).collect());
        let p99 = median(results[i].iter().map(|s| s.p99_ms).collect());
        let errors: u64 = results[i].iter().map(|s| s.errors).sum();
        println!("| {name} | {rps:.0} | {p50:.2} | {p99:.2} | {errors} | {:.2} |", rps / ceiling);
    }
    if state.config.database_url.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(name)).find(|p| p.is_file())
}

/// Runs `wrk --latency` against one endpoint and reads its summary.
async fn load_wrk(
    bin: &std::path::Path,
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Sample> {
    let out = tokio::process::Command::new(bin)
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("http://{addr}{path}"))
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!("wrk failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text).ok_or_else(|| anyhow::anyhow!("cannot read wrk's output:\n{text}"))
}

/// Reads requests/s, the 50th and 99th latency percentiles and the non-2xx count.
fn parse_wrk(text: &str) -> Option<Sample> {
    let ms = |v: &str| -> Option<f64> {
        let v = v.trim();
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = num.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            _ => return None,
        })
    };
    let field = |prefix: &str| text.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix)).map(str::trim);
    let rps = field("Requests/sec:")?.parse().ok()?;
    let p50 = ms(field("50%")?)?;
    let p99 = ms(field("99%")?)?;
    let errors = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    Some(Sample { rps, p50_ms: p50, p99_ms: p99, errors })
}

/// The median of the benchmarks' rounds (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The nearest-rank percentile `p` (0-100) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

async fn load(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    connections: usize,
    dur: Duration,
) -> anyhow::Result<Sample> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    let deadline = Instant::now() + dur;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let req = req.clone().into_bytes();
        tasks.push(tokio::spawn(async move { connection(addr, &req, deadline).await }));
    }
    let started = Instant::now();
    let mut lat: Vec<u32> = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        lat.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        let i = ((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1));
        lat.get(i).map_or(0.0, |v| f64::from(*v) / 1000.0)
    };
    Ok(Sample { rps: lat.len() as f64 / secs, p50_ms: pct(0.50), p99_ms: pct(0.99), errors })
}

/// One keep-alive connection: sends requests back to back until the deadline and
/// returns the latency of each (microseconds) and the count of non-200 answers.
async fn connection(addr: std::net::SocketAddr, req: &[u8], deadline: Instant) -> anyhow::Result<(Vec<u32>, u64)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut lat = Vec::new();
    let mut errors = 0;
    while Instant::now() < deadline {
        let t = Instant::now();
        s.write_all(req).await?;
        let mut filled = 0;
        let (head_end, body_len, status) = loop {
            let n = s.read(&mut buf[filled..]).await?;
            if n == 0 {
                anyhow::bail!("server closed the connection");
            }
            filled += n;
            if let Some(pos) = find(&buf[..filled], b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..pos]).unwrap_or_default();
                let status: u16 = head.get(9..12).and_then(|x| x.parse().ok()).unwrap_or(0);
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .ok_or_else(|| anyhow::anyhow!("response without content-length"))?;
                break (pos + 4, len, status);
            }
            if filled == buf.len() {
                anyhow::bail!("response head too large");
            }
        };
        let total = head_end + body_len;
        if total > buf.len() {
            buf.resize(total, 0);
        }
        while filled < total {
            let n = s.read(&mut buf[filled..total]).await?;
            if n == 0 {
                anyhow::bail!("server closed the connection mid-body");
            }
            filled += n;
        }
        if status != 200 {
            errors += 1;
        }
        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    Ok((lat, errors))
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let out = "Running 5s test @ http://127.0.0.1:1/healthz\n  2 threads and 32 connections\n  Latency Distribution\n     50%  566.00us\n     75%  800.00us\n     90%    1.10ms\n     99%    2.18ms\n  268233 requests in 5.00s, 30.44MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:  53646.55\nTransfer/sec:      6.09MB\n";
        let s = parse_wrk(out).unwrap();
        assert!((s.rps - 53646.55).abs() < 0.01);
        assert!((s.p50_ms - 0.566).abs() < 1e-9);
        assert!((s.p99_ms - 2.18).abs() < 1e-9);
        assert_eq!(s.errors, 3);
        assert!(parse_wrk("garbage").is_none());
    }
}
