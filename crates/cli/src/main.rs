//! `bposhield`: the platform's one binary. `serve` runs the server, `demo` seeds a
//! synthetic BPO and serves it, `admin` manages users and tokens from the shell of the
//! machine holding the data directory, `bench` measures the server.

mod admin;
mod bench;
mod bench_dlp;
mod bench_endpoint;
mod bench_identity;
mod bench_ledger;
mod bench_vault;
mod demo;
mod demo_data;
mod demo_identity;
mod demo_recordings;
mod dlp_cmd;
mod ledger_cmd;
mod recordings_cmd;
mod vault_cmd;

use anyhow::Context;

// glibc's allocator serializes the server's many short-lived allocations across threads
// (profiled: a quarter of the ledger writer's time in malloc/free and its arena lock).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use bposhield_core::SystemClock;
use bposhield_server::{AppState, Config};
use bposhield_store::Store;
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// bposhield: security controls for BPOs and contact centres, enforced and measured
/// continuously.
///
/// Configuration is read from defaults, then the --config file, then BPOSHIELD_*
/// environment variables, then these flags (see bposhield.example.toml).
#[derive(Parser, Debug)]
#[command(name = "bposhield", version, propagate_version = true)]
struct Cli {
    /// Data directory: SQLite database and keys [default: ./bposhield-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE", env = "BPOSHIELD_CONFIG")]
    config: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user:pass@host/db) instead of SQLite in the data directory.
    #[arg(long, global = true, value_name = "URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Where the recording vault keeps encrypted recordings: file:///dir or
    /// s3://bucket/prefix [default: <data-dir>/blobs].
    #[arg(long, global = true, value_name = "URL")]
    blob_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (web UI, REST API, background jobs).
    Serve(ServeArgs),
    /// Seed a realistic synthetic BPO (or reuse one) and serve it on 127.0.0.1:8080.
    Demo(DemoArgs),
    /// Manage users, roles and API tokens directly on the database.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The tamper-evident ledger: verifier key, verification, proofs, export for auditors.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCommand),
    /// Measure the server (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Find and redact PII (card numbers, SSNs, Aadhaar, PAN, IBAN…) in text files.
    #[command(subcommand)]
    Dlp(dlp_cmd::DlpCommand),
    /// Call recordings: import a call-monitoring system's export folder.
    #[command(subcommand)]
    Recordings(recordings_cmd::RecordingsCommand),
    /// Recording vault upkeep: consistency check, key-encryption key rotation.
    #[command(subcommand)]
    Vault(vault_cmd::VaultCommand),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    bind: Option<String>,
    /// Port to listen on.
    #[arg(long)]
    port: Option<u16>,
    /// PEM certificate chain; with --tls-key serves HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Seed and exit without serving.
    #[arg(long)]
    seed_only: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Loads the configuration layers and applies the global flags.
/// Peak resident memory of this process in MiB (Linux `VmHWM`), for the
/// benchmarks and the `dlp scan` summary.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut cfg = Config::load(cli.config.as_deref(), &env)?;
    if let Some(d) = &cli.data_dir {
        cfg.data_dir.clone_from(d);
    }
    if let Some(u) = &cli.database_url {
        cfg.database_url.clone_from(u);
    }
    if let Some(u) = &cli.blob_url {
        cfg.vault.blob_url.clone_from(u);
    }
    cfg.validate()?;
    Ok(cfg)
}

fn init_logging(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}

/// Creates the data directory (owner-only) and opens the store.
async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    if cfg.database_url.is_empty() {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cfg.data_dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot restrict permissions of {}", cfg.data_dir.display()))?;
        }
    }
    let url = cfg.effective_database_url();
    Store::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", bposhield_server::config::redact_url(&url)))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Needs nothing but the bundle and the key: no configuration, no database.
    if let Command::Ledger(ledger_cmd::LedgerCommand::VerifyBundle { bundle, key }) = &cli.command {
        return ledger_cmd::verify_bundle(bundle, key);
    }
    // Text in, findings out: no configuration, no database either.
    if let Command::Dlp(c) = cli.command {
        if dlp_cmd::run(c)? {
            std::process::exit(dlp_cmd::FOUND_EXIT);
        }
        return Ok(());
    }
    let mut cfg = load_config(&cli)?;
    match cli.command {
        Command::Serve(a) => {
            if let Some(b) = a.bind {
                cfg.bind = b;
            }
            if let Some(p) = a.port {
                cfg.port = p;
            }
            if a.tls_cert.is_some() {
                cfg.tls_cert = a.tls_cert;
                cfg.tls_key = a.tls_key;
            }
            cfg.validate()?;
            init_logging(&cfg.log);
            let store = open_store(&cfg).await?;
            serve(AppState::new(store, Arc::new(SystemClock), cfg)?).await
        }
        Command::Demo(a) => {
            cfg.bind = a.bind;
            cfg.port = a.port;
            init_logging(&cfg.log);
            demo::run(cfg, a.seed_only).await
        }
        Command::Admin(c) => {
            init_logging("warn");
            let store = open_store(&cfg).await?;
            admin::run(AppState::new(store, Arc::new(SystemClock), cfg)?, c).await
        }
        Command::Ledger(c) => {
            init_logging("warn");
            let store = open_store(&cfg).await?;
            ledger_cmd::run(AppState::new(store, Arc::new(SystemClock), cfg)?, c).await
        }
        Command::Bench(c) => {
            init_logging("warn");
            bench::run(cfg, c).await
        }
        Command::Recordings(c) => {
            init_logging("warn");
            let store = open_store(&cfg).await?;
            recordings_cmd::run(AppState::new(store, Arc::new(SystemClock), cfg)?, c).await
        }
        Command::Vault(c) => {
            init_logging("warn");
            let store = open_store(&cfg).await?;
            vault_cmd::run(AppState::new(store, Arc::new(SystemClock), cfg)?, c).await
        }
        Command::Dlp(_) => Ok(()),
    }
}

/// Serves until Ctrl-C or SIGTERM, then drains in-flight requests.
pub(crate) async fn serve(state: AppState) -> anyhow::Result<()> {
    let scheme = if state.config.tls() { "https" } else { "http" };
    let running = bposhield_server::start(state).await?;
    tracing::info!("bposhield listening on {scheme}://{}", running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
