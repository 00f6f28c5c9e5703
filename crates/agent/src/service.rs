//! The agent service: one single-threaded runtime that judges devices as the kernel
//! announces them, runs the assessment on schedule, and ships its queue to the server.
//!
//! The device path never waits for the network: a uevent is judged against the bundle
//! in memory and written to sysfs before anything else happens, then queued. The
//! server is reached from the heartbeat tick only; while it is down the queue fills
//! (bounded) and the last good bundle keeps being enforced. Before the first bundle
//! the built-in floor policy applies, so a freshly installed agent already blocks
//! storage.

use crate::client::{Client, ClientError};
use crate::config::AgentConfig;
use crate::queue::Queue;
use crate::state::{Grants, Identity, OfflineGrant, StateDir};
use crate::usb;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bposhield_core::clock::Clock;
use bposhield_endpoint::device::UsbDevice;
use bposhield_endpoint::offline::{self, Challenge};
use bposhield_endpoint::rules::{EvalContext, RuleSet};
use bposhield_endpoint::sca;
use bposhield_proto::fleet::{AgentBatch, AgentEventBody, AgentHealth, Bundle, SignedBundle};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

/// The floor policy enforced until the first bundle arrives.
pub const BUILT_IN_RULES: &str = include_str!("../../../content/usb/floor.rules");

/// Wrong codes allowed per challenge before it is withdrawn.
const MAX_ATTEMPTS: u32 = 5;

/// A blocked device a user may ask to unlock offline.
#[derive(Debug, Clone)]
struct Blocked {
    sysfs_name: String,
    hash: String,
    label: String,
    challenge: Challenge,
    attempts: u32,
}

/// The running agent.
pub struct Agent {
    cfg: AgentConfig,
    clock: Arc<dyn Clock>,
    state: StateDir,
    identity: Option<Identity>,
    bundle: Option<Bundle>,
    rules: RuleSet,
    policies: Vec<sca::Policy>,
    grants: Grants,
    shared: Arc<Shared>,
    blocked: HashMap<String, Blocked>,
    next_scan: Instant,
    /// Uevent-to-sysfs latencies of the last devices, for `bench endpoint`.
    pub latencies: Vec<Duration>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("identity", &self.identity)
            .field("policy_version", &self.policy_version())
            .finish_non_exhaustive()
    }
}

/// What the device loop and the network task share: the queue (locked only to push,
/// take or acknowledge, never across a network call) and the health the network task
/// reports.
#[derive(Debug)]
pub struct Shared {
    queue: Mutex<Queue>,
    policy_version: AtomicI64,
    usb_enforcing: AtomicBool,
    /// 0 = never.
    last_scan_at: AtomicI64,
    heartbeat_seconds: AtomicU64,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue's files inconsistent
        // (every change is a whole-file append, rename or delete): keep going.
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn health(&self, now: i64, take_dropped: bool) -> AgentHealth {
        let mut q = self.queue();
        let last = self.last_scan_at.load(Ordering::Relaxed);
        AgentHealth {
            agent_version: env!("CARGO_PKG_VERSION").into(),
            policy_version: self.policy_version.load(Ordering::Relaxed),
            usb_enforcing: self.usb_enforcing.load(Ordering::Relaxed),
            last_scan_at: (last > 0).then_some(last),
            queue_depth: q.depth(),
            queue_dropped: if take_dropped { q.take_dropped() } else { 0 },
            sent_at: now,
        }
    }
}

/// What a control-socket request asks.
enum Control {
    Line(String, tokio::sync::oneshot::Sender<String>),
}

impl Agent {
    /// Loads the state directory: identity, last good bundle (verified again), grants,
    /// queue.
    ///
    /// # Errors
    /// When the state directory is unusable.
    pub fn open(cfg: AgentConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let state = StateDir::open(&cfg.state_dir)?;
        let identity: Option<Identity> = state.read("identity.json")?;
        let grants: Grants = state.read("grants.json")?.unwrap_or_default();
        let queue = Queue::open(&cfg.state_dir.join("queue"), cfg.queue_max_bytes)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            policy_version: AtomicI64::new(0),
            usb_enforcing: AtomicBool::new(true),
            last_scan_at: AtomicI64::new(0),
            heartbeat_seconds: AtomicU64::new(cfg.heartbeat_seconds.max(1)),
        });
        let rules = RuleSet::parse(BUILT_IN_RULES).map_err(|e| anyhow::anyhow!("built-in floor policy: {e}"))?;
        let mut agent = Self {
            cfg,
            clock,
            state,
            identity,
            bundle: None,
            rules,
            policies: Vec::new(),
            grants,
            shared,
            blocked: HashMap::new(),
            next_scan: Instant::now(),
            latencies: Vec::new(),
        };
        if let (Some(id), Some(signed)) = (&agent.identity, agent.state.read::<SignedBundle>("bundle.json")?) {
            // The stored bundle is checked like a fresh one, expiry aside: an agent that
            // has been offline for weeks keeps enforcing its last good policy.
            match bposhield_endpoint::bundle::verify(&signed, &id.bundle_key, id.host_id, i64::MIN, 0) {
                Ok(b) => agent.install(b),
                Err(e) => tracing::error!("stored bundle refused, using the built-in floor policy: {e}"),
            }
        }
        Ok(agent)
    }

    /// The version of the bundle being enforced (0 = built-in policy).
    #[must_use]
    pub fn policy_version(&self) -> i64 {
        self.bundle.as_ref().map_or(0, |b| b.version)
    }

    fn enforcing(&self) -> bool {
        self.bundle.as_ref().is_none_or(|b| b.usb_enforce)
    }

    fn install(&mut self, b: Bundle) {
        match RuleSet::parse(&b.usb_rules) {
            Ok(r) => self.rules = r,
            Err(e) => tracing::error!("bundle {} has bad USB rules, keeping the previous ones: {e}", b.version),
        }
        self.policies = b
            .sca_policies
            .iter()
            .filter_map(|p| match sca::Policy::parse(&p.yaml) {
                Ok(pol) => Some(pol),
                Err(errs) => {
                    tracing::error!("bundle {}: SCA policy {} refused: {} errors", b.version, p.id, errs.len());
                    None
                }
            })
            .collect();
        self.shared.policy_version.store(b.version, Ordering::Relaxed);
        self.shared.usb_enforcing.store(b.usb_enforce, Ordering::Relaxed);
        self.shared.heartbeat_seconds.store(u64::try_from(b.heartbeat_seconds).unwrap_or(60).max(1), Ordering::Relaxed);
        self.bundle = Some(b);
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn eval_ctx(&self) -> EvalContext {
        EvalContext::at_unix(self.now())
    }

    /// Sets the root hubs' defaults and judges every device present now.
    ///
    /// # Errors
    /// When sysfs cannot be read.
    pub fn start_enforcement(&mut self) -> anyhow::Result<()> {
        let hubs = usb::set_defaults(&self.cfg.sys_root, self.enforcing())?;
        tracing::info!(hubs, enforcing = self.enforcing(), "USB defaults set");
        for dev in bposhield_endpoint::device::list(&self.cfg.sys_root)? {
            self.judge_and_apply(&dev, None);
        }
        Ok(())
    }

    /// Judges one device by sysfs name (after a uevent), applies and queues the result.
    pub fn on_device(&mut self, sysfs_name: &str, arrived: Option<Instant>) {
        match bposhield_endpoint::device::read(&self.cfg.sys_root, sysfs_name) {
            Ok(dev) => self.judge_and_apply(&dev, arrived),
            Err(e) => tracing::warn!(sysfs_name, "cannot read device: {e}"),
        }
    }

    fn judge_and_apply(&mut self, dev: &UsbDevice, arrived: Option<Instant>) {
        let hash = dev.hash();
        let now = self.now();
        let grants: Vec<(String, i64, String)> =
            self.grants.grants.iter().map(|g| (g.device_hash.clone(), g.expires_at, g.challenge.clone())).collect();
        let exceptions = self.bundle.as_ref().map(|b| b.exceptions.clone()).unwrap_or_default();
        let ctx = self.eval_ctx();
        let p = usb::Policy {
            enforce: self.enforcing(),
            rules: &self.rules,
            exceptions: &exceptions,
            grants: &grants,
            ctx: &ctx,
            now,
        };
        let j = usb::judge(dev, &hash, &p);
        if let Err(e) = usb::apply(&self.cfg.sys_root, dev, &j.decision) {
            tracing::error!(device = %dev.sysfs_name, "cannot write sysfs: {e}");
        }
        if let Some(t) = arrived {
            self.latencies.push(t.elapsed());
        }
        if dev.is_root_hub() {
            return;
        }
        tracing::info!(device = %dev.sysfs_name, decision = j.decision.as_str(), reason = %j.reason, "USB device judged");
        if matches!(j.decision, usb::Decision::Blocked | usb::Decision::Rejected | usb::Decision::Partial(_)) {
            let label = format!("{}:{} {}", dev.vendor_id, dev.product_id, dev.name);
            self.blocked.insert(
                dev.sysfs_name.clone(),
                Blocked {
                    sysfs_name: dev.sysfs_name.clone(),
                    hash: hash.clone(),
                    label,
                    challenge: self.challenge(&hash),
                    attempts: 0,
                },
            );
        } else {
            self.blocked.remove(&dev.sysfs_name);
        }
        let ev = usb::event(dev, &hash, &j);
        self.enqueue(AgentEventBody::Device(ev));
    }

    fn challenge(&self, hash: &str) -> Challenge {
        let host = self.identity.as_ref().map(|i| i.host_id.to_string()).unwrap_or_default();
        Challenge::new(&host, hash, self.now())
    }

    fn enqueue(&mut self, body: AgentEventBody) {
        let now_us = self.clock.now_ms().saturating_mul(1000);
        if let Err(e) = self.shared.queue().push(self.now(), now_us, body) {
            tracing::error!("event lost, queue not writable: {e}");
        }
    }

    /// Starts a run of every SCA policy of the bundle and the host facts on a blocking
    /// thread (commands may take seconds); the results come back on `done`.
    fn start_scan(&self, done: mpsc::Sender<ScanDone>) {
        let env = sca::Env {
            root: self.cfg.root.clone(),
            proc_root: self.cfg.proc_root.clone(),
            command_timeout: Duration::from_secs(self.cfg.command_timeout_seconds),
            allow_commands: self.cfg.allow_commands,
        };
        let fenv = bposhield_endpoint::facts::FactsEnv {
            root: self.cfg.root.clone(),
            proc_root: self.cfg.proc_root.clone(),
            // The facts' commands are fixed here, not chosen by the server.
            allow_commands: true,
            command_timeout: Duration::from_secs(self.cfg.command_timeout_seconds),
        };
        let policies = self.policies.clone();
        tokio::task::spawn_blocking(move || {
            let reports: Vec<_> = policies.iter().map(|p| sca::run(p, &env)).collect();
            let _ = done.blocking_send(ScanDone { reports, facts: bposhield_endpoint::facts::collect(&fenv) });
        });
    }

    /// Queues a finished scan's results.
    fn finish_scan(&mut self, done: ScanDone) {
        let ScanDone { reports, mut facts } = done;
        for r in reports {
            self.enqueue(AgentEventBody::Scan(r));
        }
        // Since when security updates have been waiting: the first scan that saw them,
        // kept across restarts, cleared when none are pending.
        let since: Option<i64> = self.state.read("updates-pending-since.json").ok().flatten();
        let since = (facts.pending_security_updates > 0).then(|| since.unwrap_or_else(|| self.now()));
        if let Err(e) = self.state.write("updates-pending-since.json", &since) {
            tracing::warn!("cannot store update state: {e}");
        }
        facts.updates_pending_since = facts.updates_pending_since.or(since);
        self.enqueue(AgentEventBody::Facts(facts));
        self.shared.last_scan_at.store(self.now(), Ordering::Relaxed);
    }

    /// Installs a bundle the network task fetched, once it verifies.
    fn on_bundle(&mut self, signed: &SignedBundle) {
        let Some(id) = self.identity.clone() else { return };
        match bposhield_endpoint::bundle::verify(signed, &id.bundle_key, id.host_id, self.now(), self.policy_version())
        {
            Ok(b) => {
                let changed_enforce = b.usb_enforce != self.enforcing();
                tracing::info!(version = b.version, "bundle installed");
                if let Err(e) = self.state.write("bundle.json", signed) {
                    tracing::error!("cannot store the bundle: {e}");
                }
                self.install(b);
                if changed_enforce {
                    if let Err(e) = usb::set_defaults(&self.cfg.sys_root, self.enforcing()) {
                        tracing::error!("cannot set USB defaults: {e}");
                    }
                }
                // New rules and exceptions apply to the devices blocked so far.
                let names: Vec<String> = self.blocked.keys().cloned().collect();
                for n in names {
                    self.on_device(&n, None);
                }
                // A new policy set is assessed now rather than at the next tick.
                self.next_scan = Instant::now();
            }
            Err(e) => tracing::error!("bundle refused: {e}"),
        }
    }

    /// A control-socket request, one line in, one or more lines out.
    pub fn control(&mut self, line: &str) -> String {
        let mut words = line.split_whitespace();
        match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("CHALLENGES") => {
                let now = self.now();
                let mut out = String::new();
                let mut list: Vec<&mut Blocked> = self.blocked.values_mut().collect();
                list.sort_by(|a, b| a.sysfs_name.cmp(&b.sysfs_name));
                let host = self.identity.as_ref().map(|i| i.host_id.to_string()).unwrap_or_default();
                for b in list {
                    // A challenge near its end is renewed so the user has time to read it.
                    if now - b.challenge.made_at() > offline::CHALLENGE_TTL_SECONDS - 300 {
                        b.challenge = Challenge::new(&host, &b.hash, now);
                        b.attempts = 0;
                    }
                    out.push_str(&format!("{}\t{}\t{}\n", b.challenge.display(), b.sysfs_name, b.label));
                }
                if out.is_empty() {
                    out.push_str("no blocked device\n");
                }
                out
            }
            Some("UNLOCK") => match (words.next(), words.collect::<Vec<_>>().join("")) {
                (Some(ch), code) if !code.is_empty() => self.unlock(ch, &code),
                _ => "ERR usage: UNLOCK <challenge> <code>\n".into(),
            },
            Some("SCAN") => {
                self.next_scan = Instant::now();
                "OK scan scheduled\n".into()
            }
            Some("STATUS") => {
                format!("{}\n", serde_json::to_string(&self.shared.health(self.now(), false)).unwrap_or_default())
            }
            _ => "ERR commands: CHALLENGES, UNLOCK <challenge> <code>, SCAN, STATUS\n".into(),
        }
    }

    fn unlock(&mut self, challenge: &str, code: &str) -> String {
        let Ok(c) = Challenge::parse(challenge) else { return "ERR not a challenge\n".into() };
        let Some(id) = self.identity.clone() else { return "ERR this host is not enrolled\n".into() };
        let Some(b) = self.blocked.values_mut().find(|b| b.challenge == c) else {
            return "ERR no blocked device has this challenge (run `bposhield-agent unlock` again for a fresh one)\n"
                .into();
        };
        let now = self.clock.now();
        // Compared in the shown form, whatever case and dashes the user typed.
        if self.grants.used.iter().any(|(u, _)| *u == c.display()) {
            return "ERR this challenge was already used\n".into();
        }
        b.attempts += 1;
        if b.attempts > MAX_ATTEMPTS {
            return "ERR too many wrong codes for this challenge; ask for a new one\n".into();
        }
        let key = B64.decode(&id.offline_key).unwrap_or_default();
        match offline::verify(&key, &id.host_id.to_string(), &b.hash, &c, code, now) {
            Ok(hours) => {
                let shown = c.display();
                let name = b.sysfs_name.clone();
                self.grants.grants.retain(|g| g.expires_at > now);
                self.grants.used.retain(|(_, until)| *until > now);
                self.grants.grants.push(OfflineGrant {
                    device_hash: b.hash.clone(),
                    expires_at: now + i64::from(hours) * 3600,
                    challenge: shown.clone(),
                });
                self.grants.used.push((shown, now + offline::CHALLENGE_TTL_SECONDS + 120));
                if let Err(e) = self.state.write("grants.json", &self.grants) {
                    return format!("ERR cannot store the grant: {e}\n");
                }
                self.on_device(&name, None);
                format!("OK device allowed for {hours} hours\n")
            }
            Err(e) => format!("ERR {e}\n"),
        }
    }

    /// Runs until `shutdown` resolves.
    ///
    /// # Errors
    /// When the uevent source or control socket cannot be opened.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut uevents = crate::uevent::start(&self.cfg.uevent_source()?)?;
        self.start_enforcement()?;
        let (ctl_tx, mut ctl_rx) = mpsc::channel::<Control>(16);
        spawn_control_socket(&self.cfg.control_socket, ctl_tx)?;
        let (bundle_tx, mut bundle_rx) = mpsc::channel::<SignedBundle>(2);
        let (poke_tx, poke_rx) = mpsc::channel::<()>(1);
        let (scan_tx, mut scan_rx) = mpsc::channel::<ScanDone>(1);
        let net = match (&self.identity, &self.cfg.server_url) {
            (Some(id), _) => {
                let client = Client::new(&id.server_url, self.cfg.ca_file.as_deref())?;
                let net = Net {
                    client,
                    identity: id.clone(),
                    state: self.state.clone(),
                    shared: self.shared.clone(),
                    clock: self.clock.clone(),
                    batch_size: self.cfg.batch_size,
                    rotate_days: self.cfg.rotate_days,
                };
                Some(tokio::spawn(net.run(bundle_tx, poke_rx)))
            }
            (None, Some(url)) => {
                tracing::warn!(
                    "not enrolled with {url}: run `bposhield-agent enroll`; enforcing the built-in floor policy"
                );
                None
            }
            (None, None) => None,
        };
        tokio::pin!(shutdown);
        let mut scanning = false;
        loop {
            let scan_every = Duration::from_secs(
                self.bundle.as_ref().map_or(3600, |b| u64::try_from(b.scan_interval_seconds).unwrap_or(3600).max(60)),
            );
            tokio::select! {
                () = &mut shutdown => break,
                Some((ev, at)) = uevents.recv() => {
                    if ev.is_usb_device_add() {
                        self.on_device(ev.sysfs_name(), Some(at));
                        // Device events reach the server without waiting for the heartbeat.
                        let _ = poke_tx.try_send(());
                    } else if ev.action == "remove" && ev.devtype == "usb_device" {
                        self.blocked.remove(ev.sysfs_name());
                    }
                }
                Some(Control::Line(line, reply)) = ctl_rx.recv() => {
                    let _ = reply.send(self.control(&line));
                }
                Some(signed) = bundle_rx.recv() => self.on_bundle(&signed),
                Some(done) = scan_rx.recv() => {
                    scanning = false;
                    self.finish_scan(done);
                    let _ = poke_tx.try_send(());
                }
                () = tokio::time::sleep_until(self.next_scan.into()), if !scanning => {
                    self.next_scan = Instant::now() + scan_every;
                    scanning = true;
                    self.start_scan(scan_tx.clone());
                }
            }
        }
        if let Some(n) = net {
            n.abort();
        }
        let _ = std::fs::remove_file(&self.cfg.control_socket);
        Ok(())
    }
}

/// A finished assessment.
#[derive(Debug)]
struct ScanDone {
    reports: Vec<bposhield_proto::fleet::ScanReport>,
    facts: bposhield_proto::fleet::HostFacts,
}

/// The network task: ships the queue, pulls bundles, rotates the credential. It never
/// holds the queue's lock across a call to the server, so the device loop never waits
/// for the network.
struct Net {
    client: Client,
    identity: Identity,
    state: StateDir,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    batch_size: usize,
    rotate_days: i64,
}

impl Net {
    async fn run(mut self, bundles: mpsc::Sender<SignedBundle>, mut poke: mpsc::Receiver<()>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let heartbeat = Duration::from_secs(self.shared.heartbeat_seconds.load(Ordering::Relaxed).max(1));
            let wait = match self.sync(&bundles).await {
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    heartbeat
                }
                Err(e) => {
                    tracing::warn!("server sync failed, retrying in {backoff:?}: {e}");
                    let w = backoff;
                    backoff = (backoff * 2).min(heartbeat);
                    w
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                p = poke.recv() => if p.is_none() { return },
            }
        }
    }

    /// One round: ship the queue in batches (an empty batch is the heartbeat), pull a
    /// newer bundle, rotate the credential when due.
    async fn sync(&mut self, bundles: &mpsc::Sender<SignedBundle>) -> Result<(), ClientError> {
        let have = self.shared.policy_version.load(Ordering::Relaxed);
        let mut newest = have;
        loop {
            let batch =
                self.shared.queue().take_batch(self.batch_size).map_err(|e| ClientError::Config(e.to_string()))?;
            let events = batch.as_ref().map(|b| b.events.clone()).unwrap_or_default();
            let body = AgentBatch { health: self.shared.health(self.clock.now(), true), events };
            let ack = self.client.send(&self.identity.credential, &body).await?;
            newest = newest.max(ack.bundle_version);
            match batch {
                Some(b) => self.shared.queue().ack(b).map_err(|e| ClientError::Config(e.to_string()))?,
                None => break,
            }
        }
        if newest > have || have == 0 {
            let signed = self.client.bundle(&self.identity.credential).await?;
            let _ = bundles.send(signed).await;
        }
        if self.clock.now() - self.identity.rotated_at >= self.rotate_days * 86_400 {
            let r = self.client.rotate(&self.identity.credential).await?;
            let mut new = self.identity.clone();
            new.credential = r.credential;
            new.rotated_at = self.clock.now();
            // Stored before first use: the server keeps the old credential valid until then.
            self.state.write("identity.json", &new).map_err(|e| ClientError::Config(e.to_string()))?;
            self.identity = new;
            tracing::info!("credential rotated");
        }
        Ok(())
    }
}

/// Listens on the control socket (0666: any local user may read a challenge and type a
/// code; the code itself is the authority, and wrong codes are counted per challenge).
fn spawn_control_socket(path: &std::path::Path, tx: mpsc::Sender<Control>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("BPS-AGT-0011: cannot bind control socket {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r.take(4096)).lines();
                if let Ok(Some(line)) = lines.next_line().await {
                    let (otx, orx) = tokio::sync::oneshot::channel();
                    if tx.send(Control::Line(line, otx)).await.is_ok() {
                        if let Ok(out) = orx.await {
                            let _ = w.write_all(out.as_bytes()).await;
                        }
                    }
                }
            });
        }
    });
    Ok(())
}

/// Sends one request to a running agent's control socket and returns its answer.
///
/// # Errors
/// When no agent listens there.
pub async fn control_request(path: &std::path::Path, line: &str) -> anyhow::Result<String> {
    use tokio::io::AsyncReadExt as _;
    let mut s = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| anyhow::anyhow!("BPS-AGT-0012: no agent answers on {}: {e}", path.display()))?;
    s.write_all(format!("{line}\n").as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

/// Enrolls this host: trades the token for an identity and stores it.
///
/// # Errors
/// When the server refuses or the state cannot be written.
pub async fn enroll(cfg: &AgentConfig, server_url: &str, token: &str, clock: &dyn Clock) -> anyhow::Result<Identity> {
    let client = Client::new(server_url, cfg.ca_file.as_deref())?;
    let first_of = |paths: &[std::path::PathBuf]| {
        paths.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default().trim().to_string()).find(|v| !v.is_empty())
    };
    let hostname =
        first_of(&[cfg.root.join("etc/hostname"), cfg.proc_root.join("sys/kernel/hostname")]).unwrap_or_default();
    let state = StateDir::open(&cfg.state_dir)?;
    // The machine's id makes a re-enrollment replace the host instead of adding one. A
    // machine without one (some containers) gets its own, kept in the state directory.
    let machine_id = match first_of(&[cfg.root.join("etc/machine-id"), cfg.root.join("var/lib/dbus/machine-id")]) {
        Some(id) => id,
        None => match state.read::<String>("machine-id.json")? {
            Some(id) => id,
            None => {
                let id = format!("{:032x}", rand::random::<u128>());
                state.write("machine-id.json", &id)?;
                id
            }
        },
    };
    let os = std::fs::read_to_string(cfg.root.join("etc/os-release"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        .unwrap_or_else(|| "Linux".into());
    let req = bposhield_proto::fleet::EnrollRequest {
        token: token.into(),
        hostname: if hostname.is_empty() { "unknown".into() } else { hostname },
        machine_id,
        os,
        agent_version: env!("CARGO_PKG_VERSION").into(),
    };
    let r = client.enroll(&req).await?;
    let id = Identity {
        server_url: server_url.trim_end_matches('/').into(),
        host_id: r.host_id,
        credential: r.credential,
        offline_key: r.offline_key,
        bundle_key: r.bundle_key,
        rotated_at: clock.now(),
    };
    state.write("identity.json", &id)?;
    Ok(id)
}
