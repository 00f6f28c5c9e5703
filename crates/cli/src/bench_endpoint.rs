//! `bposhield bench endpoint`: the endpoint agent and the fleet's ingest.
//!
//! Four figures, each beside its anchor:
//! 1. the agent's steady-state RSS (`VmRSS` of the real `bposhield-agent run` process,
//!    enrolled with a real server, after it has pulled its bundle, run the baselines on
//!    this machine and judged devices; `VmHWM` too);
//! 2. the time from a uevent to the de-authorization of a pen drive: the benchmark
//!    re-authorizes the fixture's pen drive in a fake sysfs tree, sends the kernel-format
//!    uevent to the agent's uevent socket and spins on the `authorized` file until the
//!    agent has written 0 (p50/p99 over `--uevents` plugs);
//! 3. a 200-check baseline scan on this machine (the shipped baselines' checks, repeated
//!    to 200, run against `/`; median of `--rounds`);
//! 4. the server's ingest of device events over HTTP on SQLite: `--clients` enrolled
//!    hosts sending batches of `--batch` events at once (median of `--rounds`).
//!
//! Measured in the same run where Debian's `usbguard` is installed: `usbguard-daemon`'s
//! RSS enforcing the same floor policy on the same fake sysfs tree (bind-mounted over
//! `/sys` in an unprivileged user namespace, as the endpoint crate's tests do), and
//! `usbguard-rule-parser -f` against `bposhield-agent rule-parser -f` on a 10,000-line
//! rules file. The other anchors (wazuh-agent's RSS, Wazuh SCA scan times, the Wazuh
//! manager's ingest) are published figures: Wazuh is not installable here.
//!
//! The agent binary is looked for next to this one: build both,
//! `cargo build --release -p bposhield -p bposhield-agent`.

use crate::bench::{median, percentile};
use bposhield_core::SystemClock;
use bposhield_proto::fleet::{
    AgentBatch, AgentEvent, AgentEventBody, AgentHealth, DeviceEvent, EnrollRequest, EnrollResponse,
};
use bposhield_server::{AppState, Config};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct EndpointBench {
    /// Pen-drive plugs timed from uevent to de-authorization.
    #[arg(long, default_value_t = 1000)]
    uevents: usize,
    /// Device events sent to the server per ingest round.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Hosts sending at once.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Rounds of the scan and the ingest (the median is reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The agent binary (default: `bposhield-agent` next to this program).
    #[arg(long)]
    agent: Option<PathBuf>,
    /// The fake sysfs tree (default: the endpoint crate's test fixture in this checkout).
    #[arg(long)]
    sysfs: Option<PathBuf>,
}

pub async fn run(mut cfg: Config, b: EndpointBench) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("bposhield-bench-endpoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    println!(
        "bench endpoint: {} cores, work dir {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        dir.display()
    );

    scan_bench(b.rounds)?;

    // A real server on SQLite, a security officer's token, an enrollment token.
    cfg.data_dir = dir.join("server");
    cfg.database_url.clear();
    cfg.bind = "127.0.0.1".into();
    cfg.port = 0;
    cfg.auth.require_totp_roles.clear();
    cfg.controls.evaluate_every_seconds = 3600;
    let store = crate::open_store(&cfg).await?;
    let state = AppState::new(store, Arc::new(SystemClock), cfg)?;
    let ctx = bposhield_server::ctx::Ctx::system("bench");
    let (site, api) =
        crate::bench::site_and_token(&state, &ctx, bposhield_proto::Role::SecurityOfficer, "sec.bench").await?;
    let running = bposhield_server::start(state.clone()).await?;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/fleet/tokens"))
        .bearer_auth(&api)
        .json(&json!({ "site_id": site.id, "label": "bench", "max_uses": 1000, "expires_in_hours": 2 }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = created["token"].as_str().unwrap_or_default().to_string();

    let agent_res = agent_bench(&b, &dir, &base, &token).await;
    if let Err(e) = usbguard_anchors(&b, &dir) {
        println!("usbguard anchors skipped: {e}");
    }
    let ingest_res = ingest_bench(&b, &http, &base, &token).await;
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    agent_res?;
    ingest_res
}

/// The shipped baselines' checks, repeated to 200 (fresh ids), run on this machine.
fn scan_bench(rounds: usize) -> anyhow::Result<()> {
    use bposhield_endpoint::sca;
    let floor = sca::Policy::parse(include_str!("../../../content/sca/bposhield_floor_desktop.yml"))
        .map_err(|e| anyhow::anyhow!("floor baseline: {} errors", e.len()))?;
    let server = sca::Policy::parse(include_str!("../../../content/sca/bposhield_server.yml"))
        .map_err(|e| anyhow::anyhow!("server baseline: {} errors", e.len()))?;
    let mut policy = floor.clone();
    policy.requirements = None;
    policy.checks = floor.checks.iter().chain(&server.checks).cycle().take(200).cloned().collect();
    for (i, c) in policy.checks.iter_mut().enumerate() {
        c.id = 500_000 + i as i64;
    }
    let env = sca::Env::default();
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let r = sca::run(&policy, &env);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        last = Some(r);
    }
    if let Some(r) = last {
        println!(
            "baseline scan: {} checks on this machine's / in {:.1} ms median of {} (passed {}, failed {}, not applicable {}); target <= 2,000 ms; anchor Wazuh SCA 7-43 s",
            r.checks.len(),
            median(times),
            rounds.max(1),
            r.passed,
            r.failed,
            r.not_applicable
        );
    }
    Ok(())
}

fn status_of(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

async fn agent_bench(b: &EndpointBench, dir: &Path, base: &str, token: &str) -> anyhow::Result<()> {
    let exe = agent_exe(b)?;
    let fixture = fixture_of(b);
    let sys = dir.join("sys");
    anyhow::ensure!(
        std::process::Command::new("cp").arg("-a").arg(&fixture).arg(&sys).status()?.success(),
        "cannot copy {}",
        fixture.display()
    );
    let conf = dir.join("agent.toml");
    let sock = dir.join("uevents.sock");
    let control = dir.join("control.sock");
    std::fs::write(
        &conf,
        format!(
            "server_url = \"{base}\"\nstate_dir = \"{}\"\nsys_root = \"{}\"\nuevents = \"socket:{}\"\ncontrol_socket = \"{}\"\n",
            dir.join("agent-state").display(),
            sys.display(),
            sock.display(),
            control.display()
        ),
    )?;
    let out = tokio::process::Command::new(&exe)
        .arg("--config")
        .arg(&conf)
        .args(["enroll", "--server", base, "--token", token])
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "enroll: {}", String::from_utf8_lossy(&out.stderr));
    let mut child = tokio::process::Command::new(&exe)
        .arg("--config")
        .arg(&conf)
        .arg("run")
        .env("BPOSHIELD_AGENT_LOG", "warn")
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    // Wait for the bundle and the first assessment.
    let t = Instant::now();
    loop {
        anyhow::ensure!(t.elapsed() < Duration::from_secs(60), "the agent did not pull a bundle and scan within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok(s) = bposhield_agent::service::control_request(&control, "STATUS").await else { continue };
        let h: serde_json::Value = serde_json::from_str(s.trim()).unwrap_or_default();
        if h["policy_version"].as_i64().unwrap_or(0) > 0 && h["last_scan_at"].is_i64() {
            break;
        }
    }
    println!("agent: enrolled, bundle pulled, baselines run in {:.1} s", t.elapsed().as_secs_f64());

    // Uevent to de-authorization.
    let auth = sys.join("bus/usb/devices/2-1/authorized");
    let wire = bposhield_agent::uevent::Uevent {
        action: "add".into(),
        devpath: "/devices/pci0000:00/0000:00:14.0/usb2/2-1".into(),
        subsystem: "usb".into(),
        devtype: "usb_device".into(),
    }
    .to_wire();
    let sender = std::os::unix::net::UnixDatagram::unbound()?;
    let mut lat = Vec::with_capacity(b.uevents);
    for _ in 0..b.uevents {
        std::fs::write(&auth, "1")?;
        let t = Instant::now();
        sender.send_to(&wire, &sock)?;
        loop {
            if std::fs::read(&auth)?.first() == Some(&b'0') {
                break;
            }
            anyhow::ensure!(t.elapsed() < Duration::from_secs(5), "the agent did not de-authorize the pen drive");
            std::hint::spin_loop();
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        // Plugs a human could make, not a flood: the queue's fsync per event settles.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "uevent to de-authorization: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} plugs; target p99 <= 20 ms",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(0.0),
        lat.len()
    );
    // Steady state: a few heartbeats after the burst.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss, hwm) = status_of(pid);
    println!("agent RSS: {rss:.1} MiB steady state, {hwm:.1} MiB peak (VmHWM); target <= 15 MiB; anchors wazuh-agent ~35 MB, osquery watchdog limit 200 MB");
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok(())
}

fn fixture_of(b: &EndpointBench) -> PathBuf {
    b.sysfs
        .clone()
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../endpoint/tests/fixtures/sysfs/sys")))
}

fn agent_exe(b: &EndpointBench) -> anyhow::Result<PathBuf> {
    let exe = match &b.agent {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("bposhield-agent"),
    };
    anyhow::ensure!(
        exe.is_file(),
        "{} not found: cargo build --release -p bposhield-agent (or --agent PATH)",
        exe.display()
    );
    Ok(exe)
}

/// The peer measured in the same run: Debian's USBGuard.
fn usbguard_anchors(b: &EndpointBench, dir: &Path) -> anyhow::Result<()> {
    use std::process::{Command, Stdio};
    let has =
        |c: &str| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(c).is_file());
    anyhow::ensure!(has("usbguard-rule-parser"), "usbguard is not installed (apt-get install usbguard)");
    // Rule parsing: the fixture's generated policy (every device, with hashes and sets)
    // and a few condition rules, repeated to 10,000 lines.
    let policy = std::fs::read_to_string(fixture_of(b).join("../generate-policy-p.rules"))?;
    let extra = "block with-interface one-of { 08:*:* 06:*:* e0:*:* } if !localtime(08:00-20:00)\nallow id 046d:* with-interface all-of { 03:*:* } label \"logitech\"\nreject via-port one-of { \"1-1\" \"1-2\" } with-connect-type \"hotplug\"\n";
    let unit = format!("{policy}{extra}");
    let lines = unit.lines().count();
    let file = dir.join("bench.rules");
    std::fs::write(&file, unit.repeat(10_000 / lines + 1))?;
    let n = (10_000 / lines + 1) * lines;
    let time = |cmd: &mut Command| -> anyhow::Result<f64> {
        let t = Instant::now();
        let st = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        anyhow::ensure!(st.success(), "{cmd:?} failed");
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    let exe = agent_exe(b)?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..b.rounds.max(1) {
        ours.push(time(Command::new(&exe).arg("rule-parser").arg("-f").arg(&file))?);
        theirs.push(time(Command::new("usbguard-rule-parser").arg("-f").arg(&file))?);
    }
    let (o, t) = (median(ours), median(theirs));
    println!(
        "rule parsing: {n} lines in {o:.1} ms (bposhield-agent rule-parser -f) vs {t:.1} ms (usbguard-rule-parser -f), median of {}: {:.1}x",
        b.rounds.max(1),
        t / o
    );

    // usbguard-daemon's RSS enforcing the floor policy on the same fake tree.
    anyhow::ensure!(has("usbguard-daemon") && has("unshare"), "usbguard-daemon or unshare missing");
    let ug = dir.join("usbguard");
    std::fs::create_dir_all(&ug)?;
    anyhow::ensure!(
        Command::new("cp").arg("-a").arg(fixture_of(b)).arg(ug.join("sys")).status()?.success(),
        "cannot copy the fixture"
    );
    let rules: String = crate::bench_endpoint::FLOOR_RULES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(ug.join("rules.conf"), rules)?;
    std::fs::write(
        ug.join("daemon.conf"),
        format!(
            "RuleFile={}\nImplicitPolicyTarget=block\nPresentDevicePolicy=apply-policy\nPresentControllerPolicy=keep\nInsertedDevicePolicy=apply-policy\nAuthorizedDefault=none\nRestoreControllerDeviceState=false\nDeviceManagerBackend=uevent\nIPCAllowedUsers=root\nAuditBackend=FileAudit\nAuditFilePath={}\n",
            ug.join("rules.conf").display(),
            ug.join("audit.log").display()
        ),
    )?;
    let script = format!(
        "mount --bind '{}' /sys && exec usbguard-daemon -K -P -c '{}'",
        ug.join("sys").display(),
        ug.join("daemon.conf").display()
    );
    let mut child = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(3));
    let (rss, hwm) = status_of(child.id());
    let blocked = std::fs::read_to_string(ug.join("sys/bus/usb/devices/2-1/authorized")).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    anyhow::ensure!(rss > 0.0 && blocked.trim() == "0", "usbguard-daemon did not run in a user namespace here");
    println!("usbguard-daemon RSS: {rss:.1} MiB steady state, {hwm:.1} MiB peak, same policy and tree (USB control only: no assessment, no reporting, no TLS client)");
    Ok(())
}

/// The default floor USB policy, as shipped.
pub const FLOOR_RULES: &str = include_str!("../../../content/usb/floor.rules");

fn device_event(seq: i64, at: i64) -> AgentEvent {
    AgentEvent {
        seq,
        at,
        body: AgentEventBody::Device(DeviceEvent {
            decision: "blocked".into(),
            device_rule: "block id 0781:5581 serial \"4C530001230517116354\" name \" SanDisk 3.2Gen1\" hash \"3EeNTH6uyG4i1oRrwpaxH7NjTJx7+Bgymrv6/OqKItc=\" with-interface 08:06:50 with-connect-type \"hotplug\"".into(),
            device_hash: "3EeNTH6uyG4i1oRrwpaxH7NjTJx7+Bgymrv6/OqKItc=".into(),
            vendor_product: "0781:5581".into(),
            name: " SanDisk 3.2Gen1".into(),
            port: "2-1".into(),
            interfaces: vec!["08:06:50".into()],
            blocked_interfaces: vec![],
            storage_like: true,
            reason: "default: no rule allows the device or any of its interfaces".into(),
            exception_id: None,
            offline_challenge: None,
        }),
    }
}

async fn ingest_bench(b: &EndpointBench, http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<()> {
    let mut creds = Vec::new();
    for i in 0..b.clients.max(1) {
        let r: EnrollResponse = http
            .post(format!("{base}/api/v1/agent/enroll"))
            .json(&EnrollRequest {
                token: token.into(),
                hostname: format!("bench-host-{i}"),
                machine_id: format!("bench-machine-{i}"),
                os: "Debian GNU/Linux 12".into(),
                agent_version: "bench".into(),
            })
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        creds.push(r.credential);
    }
    let per_client = b.events / creds.len();
    let batches = per_client.div_ceil(b.batch.max(1));
    let mut rates = Vec::new();
    let now = bposhield_core::Clock::now(&SystemClock);
    for round in 0..b.rounds.max(1) {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for cred in &creds {
            let (http, base, cred) = (http.clone(), base.to_string(), cred.clone());
            let batch_size = b.batch.max(1);
            tasks.push(tokio::spawn(async move {
                for k in 0..batches {
                    let first = ((round * batches + k) * batch_size) as i64 + 1;
                    let body = AgentBatch {
                        health: AgentHealth {
                            agent_version: "bench".into(),
                            policy_version: 1,
                            usb_enforcing: true,
                            sent_at: now,
                            ..AgentHealth::default()
                        },
                        events: (0..batch_size as i64).map(|j| device_event(first + j, now)).collect(),
                    };
                    let r =
                        http.post(format!("{base}/api/v1/agent/events")).bearer_auth(&cred).json(&body).send().await?;
                    anyhow::ensure!(r.status().is_success(), "ingest: {}", r.status());
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let n = (batches * b.batch.max(1) * creds.len()) as f64;
        rates.push(n / t.elapsed().as_secs_f64());
    }
    println!(
        "ingest: {:.0} device events/s median of {} rounds ({} hosts x {} batches of {}, SQLite, HTTP, client in the same process); target >= 20,000/s; anchor Wazuh 5 manager ~18,500/s on 8 cores",
        median(rates.clone()),
        rates.len(),
        creds.len(),
        batches,
        b.batch
    );
    Ok(())
}
