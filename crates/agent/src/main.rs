//! The `bposhield-agent` command: the service (`run`), enrollment, and the admin tools
//! (`rule-parser`, `devices`, `sca validate`, `sca run`, `unlock`, `status`).

use bposhield_agent::config::AgentConfig;
use bposhield_agent::service;
use bposhield_core::clock::SystemClock;
use bposhield_endpoint::rules::{Rule, RuleError, Target};
use bposhield_endpoint::sca;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const DEFAULT_CONFIG: &str = "/etc/bposhield-agent/agent.toml";

#[derive(Parser)]
#[command(name = "bposhield-agent", version, about = "bposhield endpoint agent: USB control and baseline assessment")]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "BPOSHIELD_AGENT_CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service (systemd starts this).
    Run,
    /// Enroll this host with a one-time token from the server.
    Enroll {
        #[arg(long)]
        server: String,
        #[arg(long, env = "BPOSHIELD_ENROLL_TOKEN")]
        token: String,
    },
    /// Parse USBGuard rules and print them normalized, like `usbguard-rule-parser`.
    RuleParser {
        /// A rule (or, with -f, a rules file).
        rule: Option<String>,
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
    },
    /// List the attached USB devices as USBGuard rules, with their hashes.
    Devices {
        /// Where sysfs is mounted (default: the config's `sys_root`).
        #[arg(long)]
        sys_root: Option<PathBuf>,
    },
    /// SCA policies (Wazuh format).
    Sca {
        #[command(subcommand)]
        cmd: ScaCmd,
    },
    /// Show the offline challenges of blocked devices, or enter a response code.
    Unlock { challenge: Option<String>, code: Vec<String> },
    /// The running agent's health.
    Status,
    /// Ask the running agent to assess the host now.
    ScanNow,
}

#[derive(Subcommand)]
enum ScaCmd {
    /// Load policies and report every error with its line.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run one policy on this host now.
    Run {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Filesystem root to assess (default `/`).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Where procfs is (default `<root>/proc`).
        #[arg(long)]
        proc_root: Option<PathBuf>,
        /// Let `c:` rules run their commands (as this user). Off by default, like the
        /// service's `allow_commands`.
        #[arg(long)]
        allow_commands: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bposhield-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::RuleParser { rule, file } => Ok(rule_parser(rule, file)),
        Cmd::Sca { cmd: ScaCmd::Validate { files } } => Ok(sca_validate(&files)),
        Cmd::Sca { cmd: ScaCmd::Run { file, json, root, proc_root, allow_commands } } => {
            let proc_root = proc_root.unwrap_or_else(|| root.join("proc"));
            let env = sca::Env { root, proc_root, command_timeout: std::time::Duration::from_secs(30), allow_commands };
            sca_run(&file, json, &env)
        }
        Cmd::Devices { sys_root } => {
            let cfg = AgentConfig::load(&cli.config, false)?;
            let root = sys_root.unwrap_or(cfg.sys_root);
            for d in bposhield_endpoint::device::list(&root)? {
                println!("{}", d.to_rule(Target::Allow));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("BPOSHIELD_AGENT_LOG")
                        .unwrap_or_else(|_| "info".into()),
                )
                .init();
            let cfg = AgentConfig::load(&cli.config, false)?;
            let agent = service::Agent::open(cfg, Arc::new(SystemClock))?;
            runtime()?.block_on(agent.run(async {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
                }
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Enroll { server, token } => {
            let cfg = AgentConfig::load(&cli.config, false)?;
            let id = runtime()?.block_on(service::enroll(&cfg, &server, &token, &SystemClock))?;
            println!("enrolled as host {} with {}", id.host_id, id.server_url);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Unlock { challenge, code } => {
            let cfg = AgentConfig::load(&cli.config, false)?;
            let line = match challenge {
                None => "CHALLENGES".to_string(),
                Some(c) => format!("UNLOCK {c} {}", code.join("")),
            };
            let out = runtime()?.block_on(service::control_request(&cfg.control_socket, &line))?;
            print!("{out}");
            Ok(if out.starts_with("ERR") { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Cmd::Status | Cmd::ScanNow => {
            let cfg = AgentConfig::load(&cli.config, false)?;
            let line = if matches!(cli.cmd, Cmd::Status) { "STATUS" } else { "SCAN" };
            print!("{}", runtime()?.block_on(service::control_request(&cfg.control_socket, line))?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Like `usbguard-rule-parser`: `INPUT:`/`OUTPUT:` on stdout, the error with its place
/// on stderr, exit 1 at the first invalid rule.
fn rule_parser(rule: Option<String>, file: Option<PathBuf>) -> ExitCode {
    let (origin, text) = match (rule, file) {
        (_, Some(f)) => match std::fs::read_to_string(&f) {
            Ok(t) => (f.display().to_string(), t),
            Err(e) => {
                eprintln!("! ERROR: cannot read {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        },
        (Some(r), None) => ("<argv>".to_string(), r),
        (None, None) => {
            eprintln!(" Usage: bposhield-agent rule-parser [OPTIONS] <rule_spec>\n Usage: bposhield-agent rule-parser [OPTIONS] -f <file>");
            return ExitCode::FAILURE;
        }
    };
    let from_file = origin != "<argv>";
    for (n, line) in text.lines().enumerate() {
        // A rules file's empty lines are skipped (whitespace-only ones are errors).
        if from_file && line.is_empty() {
            continue;
        }
        println!("INPUT: {line}");
        match line.parse::<Rule>() {
            Ok(r) => println!("OUTPUT: {r}"),
            Err(RuleError::CommentOnly) => println!("OUTPUT: "),
            Err(e) => {
                eprintln!("! ERROR: RuleParserError\n!!  {line}\n!!  ^-- {origin}:{}: {e}", n + 1);
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn sca_validate(files: &[PathBuf]) -> ExitCode {
    let mut bad = false;
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: cannot read: {e}", f.display());
                bad = true;
                continue;
            }
        };
        // Every error and warning, each with its line; warnings alone do not fail.
        let v = sca::validate(&text);
        for w in &v.warnings {
            eprintln!("{}:{}: warning: {}", f.display(), w.line, w.message);
        }
        for e in &v.errors {
            eprintln!("{}:{}: {}", f.display(), e.line, e.message);
        }
        match sca::Policy::parse(&text) {
            Ok(p) if v.errors.is_empty() => {
                println!("{}: ok: policy {} ({} checks)", f.display(), p.id, p.checks.len())
            }
            _ => bad = true,
        }
    }
    if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn sca_run(file: &std::path::Path, json: bool, env: &sca::Env) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let policy = match sca::Policy::parse(&text) {
        Ok(p) => p,
        Err(errs) => {
            for e in errs {
                eprintln!("{}:{}: {}", file.display(), e.line, e.message);
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let report = sca::run(&policy, env);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report.checks {
            println!("{:>6}  {:<15} {}\n        {}", c.id, c.result, c.title, c.reason);
        }
        println!(
            "{}: score {}% ({} passed, {} failed, {} not applicable)",
            report.policy_name, report.score, report.passed, report.failed, report.not_applicable
        );
    }
    Ok(ExitCode::SUCCESS)
}
