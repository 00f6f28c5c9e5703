//! The fleet module (risks R1 and R4): endpoints running `bposhield-agent` enroll with
//! a one-time token, pull signed policy bundles (USB rules, SCA baselines, approved
//! exceptions, settings) and push batches of device events, scan results and facts.
//! Security and IT manage tokens, policies and their assignments, decide exception
//! requests and answer offline challenges; the R1/R4 controls read what the hosts
//! report.
//!
//! - [`agent`]: `/api/v1/agent/*`, authenticated by the host credential (`bpa_…`).
//! - [`api`]: `/api/v1/fleet/*` for users.
//! - [`web`]: the `/fleet` pages.
//! - [`demo`]: simulated hosts for `bposhield demo`.
//!
//! Hosts sit at a site and optionally a process unit, never in a team: a grant at team
//! scope covers the hosts of the team's process ([`host_scope`]).

pub mod agent;
pub mod api;
pub mod demo;
pub mod web;

use crate::audit::Outcome;
use crate::ctx::{random_secret, secret_hash, Auth, Ctx, HostAuth, HOST_CREDENTIAL_PREFIX};
use crate::error::{AppError, AppResult};
use crate::AppState;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bposhield_core::authz::{visibility, Visibility};
use bposhield_core::validate::FieldError;
use bposhield_core::{authorize, Action, Actor, Decision, Resource};
use bposhield_endpoint::bundle::BundleSigner;
use bposhield_endpoint::offline;
use bposhield_proto::fleet::*;
use bposhield_proto::{EnrollTokenId, ErrorCode, ExceptionId, HostId, PolicyId, Scope};
use bposhield_store::fleet::{host_scopes, BuiltinPolicy, HostAuthRow, HostScope, NewHost, OfflineCodeRow};
use bposhield_store::StoreError;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::OnceLock;
use uuid::Uuid;

/// Prefix of enrollment tokens.
pub const ENROLL_TOKEN_PREFIX: &str = "bpe_";
/// The longest USB exception (hours), as for offline codes.
pub const MAX_EXCEPTION_HOURS: i64 = offline::MAX_HOURS as i64;
/// Largest policy text accepted.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// The shipped default floor USB policy (USBGuard rules).
pub const FLOOR_USB_RULES: &str = include_str!("../../../../content/usb/floor.rules");
/// The shipped call-floor desktop baseline (Wazuh SCA YAML).
pub const FLOOR_DESKTOP_SCA: &str = include_str!("../../../../content/sca/bposhield_floor_desktop.yml");
/// The shipped server baseline (Wazuh SCA YAML).
pub const SERVER_SCA: &str = include_str!("../../../../content/sca/bposhield_server.yml");

/// Fixed ids of the built-in policies, so every replica and every release agree.
pub const FLOOR_USB_POLICY: PolicyId = PolicyId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0f01));
pub const FLOOR_DESKTOP_POLICY: PolicyId = PolicyId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0f02));
pub const SERVER_POLICY: PolicyId = PolicyId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0f03));

// ---- keys -----------------------------------------------------------------------------

/// The bundle-signing key and the key that seals hosts' offline keys (derived from the
/// same seed), loaded on first use.
#[derive(Default)]
pub struct KeySlot(OnceLock<FleetKeys>);

/// The fleet's keys. `Debug` shows the public key only.
pub struct FleetKeys {
    pub signer: BundleSigner,
    seal: [u8; 32],
}

impl std::fmt::Debug for FleetKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetKeys").field("public_key", &self.signer.public_key_b64()).finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let Ok(mut m) = HmacSha256::new_from_slice(key) else { return [0; 32] };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl FleetKeys {
    /// The keys of a 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { signer: BundleSigner::from_seed(seed), seal: hmac(seed, &[b"bposhield-fleet-seal-v1"]) }
    }

    /// Seals a host's offline key for the database: `v1:` and base64 of a random
    /// nonce, the key XORed with an HMAC-SHA256 keystream, and a tag (so a wrong key
    /// file is an error, never wrong codes).
    #[must_use]
    pub fn seal(&self, key: &[u8; 32]) -> String {
        let nonce: [u8; 16] = rand::random();
        let pad = hmac(&self.seal, &[b"pad", &nonce]);
        let ct: Vec<u8> = key.iter().zip(pad).map(|(k, p)| k ^ p).collect();
        let tag = hmac(&self.seal, &[b"tag", &nonce, &ct]);
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag[..16]);
        format!("v1:{}", B64.encode(out))
    }

    /// Opens what [`FleetKeys::seal`] made.
    ///
    /// # Errors
    /// When the text is not a sealed key of this seed.
    pub fn open(&self, sealed: &str) -> Result<[u8; 32], String> {
        let raw = sealed.strip_prefix("v1:").and_then(|b| B64.decode(b).ok()).ok_or("not a sealed offline key")?;
        if raw.len() != 64 {
            return Err("not a sealed offline key".into());
        }
        let (nonce, rest) = raw.split_at(16);
        let (ct, tag) = rest.split_at(32);
        let want = hmac(&self.seal, &[b"tag", nonce, ct]);
        if want[..16].iter().zip(tag).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
            return Err("the offline key was sealed with another fleet-bundle.key".into());
        }
        let pad = hmac(&self.seal, &[b"pad", nonce]);
        let mut key = [0u8; 32];
        for (k, (c, p)) in key.iter_mut().zip(ct.iter().zip(pad)) {
            *k = c ^ p;
        }
        Ok(key)
    }
}

impl AppState {
    /// The fleet's keys, loaded (or created) from `fleet.bundle_key_path` on first use.
    ///
    /// # Errors
    /// `BPS-GEN-0001` (logged with the reason) when the key file cannot be used.
    pub fn fleet_keys(&self) -> AppResult<&FleetKeys> {
        if let Some(k) = self.fleet_keys_slot.0.get() {
            return Ok(k);
        }
        let seed = load_or_create_seed(&self.config.fleet_key_path()).map_err(|e| {
            AppError::internal(format!("fleet bundle key {}: {e}", self.config.fleet_key_path().display()))
        })?;
        Ok(self.fleet_keys_slot.0.get_or_init(|| FleetKeys::from_seed(&seed)))
    }
}

/// Reads the seed file (hex, comment lines allowed), creating it first when absent:
/// written with mode 0600 to a temporary file and hard-linked into place, so a crash
/// never leaves half a key and two replicas starting together agree on one.
///
/// # Errors
/// An unreadable, malformed or group/other-readable file.
pub fn load_or_create_seed(path: &std::path::Path) -> Result<[u8; 32], String> {
    if !path.exists() {
        use std::io::Write;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let tmp = dir.join(format!(".fleet-bundle.key.{}.tmp", hex::encode(rand::random::<[u8; 6]>())));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let text = format!(
            "# bposhield fleet bundle-signing seed (Ed25519). Agents pin its public key; keep it.\n{}\n",
            hex::encode(rand::random::<[u8; 32]>())
        );
        let mut f = opts.open(&tmp).map_err(|e| e.to_string())?;
        f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| e.to_string())?;
        drop(f);
        // A link fails when the file exists: another replica won, and its key counts.
        let _ = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(|e| e.to_string())?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!("mode {mode:o}: group and others must have no access (chmod 600)"));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or_default();
    hex::decode(line).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| "expected 64 hex characters".to_owned())
}

// ---- scope ----------------------------------------------------------------------------

/// The hosts `actor` may act on for `action`: the scopes of its grants holding the
/// action, a team-scoped grant counting as its team's process.
pub async fn host_scope(st: &AppState, actor: &Actor, action: Action) -> AppResult<HostScope> {
    match visibility(actor, action) {
        Visibility::All => Ok(HostScope::all()),
        Visibility::Nothing => Ok(HostScope::default()),
        Visibility::Within(scopes) => {
            let mut hs = HostScope::default();
            for s in scopes {
                match s {
                    Scope::Global => return Ok(HostScope::all()),
                    Scope::Site(x) => hs.sites.push(x),
                    Scope::Process(x) => hs.processes.push(x),
                    Scope::Team(t) => match st.store.team(t).await {
                        Ok(team) => hs.processes.push(team.process_id),
                        Err(StoreError::NotFound) => {}
                        Err(e) => return Err(e.into()),
                    },
                }
            }
            Ok(hs)
        }
    }
}

/// The host if `auth` may perform `action` on it; one outside the caller's scope
/// answers like a missing one.
pub async fn visible_host(st: &AppState, auth: &Auth, action: Action, id: HostId) -> AppResult<HostSummary> {
    let h = match st.store.fleet_host(id).await {
        Ok(h) => h,
        Err(StoreError::NotFound) => return Err(AppError::new(ErrorCode::FleetUnknownHost, "no such host")),
        Err(e) => return Err(e.into()),
    };
    if host_scope(st, &auth.actor, action).await?.covers(h.site_id, h.process_id) {
        Ok(h)
    } else {
        Err(AppError::new(ErrorCode::FleetUnknownHost, "no such host"))
    }
}

/// Refuses (and records) an action outside the caller's scope.
async fn deny(st: &AppState, ctx: &Ctx, action: Action, object: &str, why: String) -> AppError {
    let recorded = st.audit(ctx, action.as_str(), object, Outcome::Denied, json!({ "reason": why })).await;
    match recorded {
        Err(e) => e,
        Ok(()) => AppError::new(ErrorCode::Forbidden, format!("not allowed: {why}")),
    }
}

/// Whether `auth` holds `action` at a scope covering fleet scope `scope` (a global
/// grant for `global`).
async fn covers_scope(st: &AppState, auth: &Auth, action: Action, scope: FleetScope) -> AppResult<bool> {
    Ok(match scope {
        FleetScope::Global => authorize(&auth.actor, action, Resource::Global).is_allow(),
        FleetScope::Site(s) => {
            authorize(&auth.actor, action, Resource::Org { site: s, process: None, team: None }).is_allow()
        }
        FleetScope::Process(p) => match st.store.process(p).await {
            Ok(pu) => authorize(&auth.actor, action, Resource::Org { site: pu.site_id, process: Some(p), team: None })
                .is_allow(),
            Err(StoreError::NotFound) => {
                return Err(AppError::field(ErrorCode::UnknownReference, "scope", "no such process unit"))
            }
            Err(e) => return Err(e.into()),
        },
        FleetScope::Host(h) => match st.store.fleet_host(h).await {
            Ok(host) => host_scope(st, &auth.actor, action).await?.covers(host.site_id, host.process_id),
            Err(StoreError::NotFound) => {
                return Err(AppError::field(ErrorCode::UnknownReference, "scope", "no such host"))
            }
            Err(e) => return Err(e.into()),
        },
    })
}

fn new_ms(st: &AppState) -> u64 {
    u64::try_from(st.clock.now_ms()).unwrap_or(0)
}

/// A line of text: trimmed, 1..=max bytes, no control characters.
fn text_ok(v: &str, max: usize) -> bool {
    let v = v.trim();
    !v.is_empty() && v.len() <= max && !v.chars().any(char::is_control)
}

fn invalid(field: &str, msg: &str) -> FieldError {
    FieldError::with_code(ErrorCode::InvalidField, field, msg)
}

fn problems(p: Vec<FieldError>) -> AppResult<()> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(AppError::from_problems(p))
    }
}

// ---- enrollment tokens ------------------------------------------------------------------

/// Creates an enrollment token for a site (and process); the secret is returned once.
pub async fn create_token(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    input: &EnrollTokenInput,
) -> AppResult<CreatedEnrollToken> {
    let mut p = Vec::new();
    if !text_ok(&input.label, 200) {
        p.push(invalid("label", "required, at most 200 characters of text"));
    }
    if !(1..=10_000).contains(&input.max_uses) {
        p.push(invalid("max_uses", "1 to 10000"));
    }
    if !(1..=720).contains(&input.expires_in_hours) {
        p.push(invalid("expires_in_hours", "1 to 720"));
    }
    problems(p)?;
    match st.store.site(input.site_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            return Err(AppError::field(ErrorCode::UnknownReference, "site_id", "no such site"))
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(pid) = input.process_id {
        match st.store.process(pid).await {
            Ok(pu) if pu.site_id == input.site_id => {}
            Ok(_) => {
                return Err(AppError::field(
                    ErrorCode::TeamSiteMismatch,
                    "process_id",
                    "the process belongs to another site",
                ))
            }
            Err(StoreError::NotFound) => {
                return Err(AppError::field(ErrorCode::UnknownReference, "process_id", "no such process unit"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let res = Resource::Org { site: input.site_id, process: input.process_id, team: None };
    if let Decision::Deny(why) = authorize(&auth.actor, Action::FleetAdmin, res) {
        return Err(deny(st, ctx, Action::FleetAdmin, &format!("site:{}", input.site_id), why).await);
    }
    let now = st.clock.now();
    let secret = format!("{ENROLL_TOKEN_PREFIX}{}", random_secret());
    let info = EnrollToken {
        id: EnrollTokenId::new_v7(new_ms(st)),
        site_id: input.site_id,
        process_id: input.process_id,
        label: input.label.trim().to_owned(),
        max_uses: input.max_uses,
        uses: 0,
        expires_at: now + input.expires_in_hours * 3600,
        created_at: now,
        created_by: format!("user:{}", auth.user.id),
        revoked_at: None,
    };
    st.store.fleet_insert_token(&info, &secret_hash(&secret)).await?;
    st.audit(
        ctx,
        "fleet.token_created",
        &format!("fleet_token:{}", info.id),
        Outcome::Success,
        json!({ "site": info.site_id, "process": info.process_id, "label": info.label,
                "max_uses": info.max_uses, "expires_at": info.expires_at }),
    )
    .await?;
    Ok(CreatedEnrollToken { token: secret, info })
}

/// Enrollment tokens of sites and processes the caller administers.
pub async fn list_tokens(st: &AppState, auth: &Auth) -> AppResult<Vec<EnrollToken>> {
    let scope = host_scope(st, &auth.actor, Action::FleetAdmin).await?;
    Ok(st.store.fleet_tokens().await?.into_iter().filter(|t| scope.covers(t.site_id, t.process_id)).collect())
}

/// Revokes an enrollment token.
pub async fn revoke_token(st: &AppState, ctx: &Ctx, auth: &Auth, id: EnrollTokenId) -> AppResult<EnrollToken> {
    let t = match st.store.fleet_token(id).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Err(AppError::not_found("enrollment token")),
        Err(e) => return Err(e.into()),
    };
    if !host_scope(st, &auth.actor, Action::FleetAdmin).await?.covers(t.site_id, t.process_id) {
        return Err(AppError::not_found("enrollment token"));
    }
    if st.store.fleet_revoke_token(id, st.clock.now()).await? {
        st.audit(
            ctx,
            "fleet.token_revoked",
            &format!("fleet_token:{id}"),
            Outcome::Success,
            json!({ "label": t.label }),
        )
        .await?;
    }
    Ok(st.store.fleet_token(id).await?)
}

// ---- the agent's side ---------------------------------------------------------------------

fn check_enroll(r: &EnrollRequest) -> AppResult<()> {
    let mut p = Vec::new();
    let printable = |v: &str, max: usize| !v.is_empty() && v.len() <= max && v.chars().all(|c| c.is_ascii_graphic());
    if !printable(r.hostname.trim(), 253) {
        p.push(invalid("hostname", "1 to 253 printable characters, no spaces"));
    }
    if !printable(r.machine_id.trim(), 128) {
        p.push(invalid("machine_id", "1 to 128 printable characters, no spaces"));
    }
    if !text_ok(&r.os, 200) {
        p.push(invalid("os", "required, at most 200 characters of text"));
    }
    if !printable(r.agent_version.trim(), 64) {
        p.push(invalid("agent_version", "1 to 64 printable characters"));
    }
    problems(p)
}

/// Trades a one-time enrollment token for the host's own credential. A machine enrolled
/// before (same machine id) keeps its host id and gets a new credential and offline
/// key; its old credential stops working.
pub async fn enroll(st: &AppState, ctx: &Ctx, req: &EnrollRequest) -> AppResult<EnrollResponse> {
    check_enroll(req)?;
    let keys = st.fleet_keys()?;
    let now = st.clock.now();
    let credential = format!("{HOST_CREDENTIAL_PREFIX}{}", random_secret());
    let offline_key: [u8; 32] = rand::random();
    let new_id = HostId::new_v7(new_ms(st));
    let host = NewHost {
        machine_id: req.machine_id.trim().to_owned(),
        hostname: req.hostname.trim().to_owned(),
        os: req.os.trim().to_owned(),
        agent_version: req.agent_version.trim().to_owned(),
        credential_hash: secret_hash(&credential),
        offline_key: keys.seal(&offline_key),
        simulated: false,
    };
    let tag = hex::encode(offline::host_tag(&new_id.to_string()));
    let Some(done) = st.store.fleet_enroll(&secret_hash(req.token.trim()), new_id, &host, &tag, now).await? else {
        st.audit(
            ctx,
            "fleet.enroll",
            "fleet_enroll",
            Outcome::Denied,
            json!({ "hostname": host.hostname, "machine_id": host.machine_id, "reason": "token unknown, expired, revoked or used up" }),
        )
        .await?;
        return Err(AppError::new(
            ErrorCode::FleetEnrollTokenInvalid,
            "the enrollment token is unknown, expired, revoked or used up; ask for a new one",
        ));
    };
    let mut as_host = ctx.clone();
    as_host.host = Some(HostAuth {
        actor: Actor::host(done.host_id),
        host: HostAuthRow {
            id: done.host_id,
            hostname: host.hostname.clone(),
            site_id: done.site_id,
            process_id: done.process_id,
        },
    });
    st.audit(
        &as_host,
        "fleet.enrolled",
        &format!("host:{}", done.host_id),
        Outcome::Success,
        json!({ "hostname": host.hostname, "machine_id": host.machine_id, "os": host.os,
                "agent_version": host.agent_version, "site": done.site_id, "process": done.process_id,
                "token": done.token_id, "re_enrolled": done.re_enrolled }),
    )
    .await?;
    Ok(EnrollResponse {
        host_id: done.host_id,
        credential,
        offline_key: B64.encode(offline_key),
        bundle_key: keys.signer.public_key_b64(),
    })
}

/// A fresh credential for the calling host; the current one keeps working until the
/// new one is first used.
pub async fn rotate(st: &AppState, ctx: &Ctx, host: &HostAuth) -> AppResult<RotateResponse> {
    let credential = format!("{HOST_CREDENTIAL_PREFIX}{}", random_secret());
    st.store.fleet_set_next_credential(host.host.id, &secret_hash(&credential)).await?;
    st.audit(ctx, "fleet.credential_rotated", &format!("host:{}", host.host.id), Outcome::Success, json!({})).await?;
    Ok(RotateResponse { credential })
}

/// Settings resolved for a host: the most specific scope that sets a value wins, then
/// the configuration.
fn resolve_settings(st: &AppState, settings: &[ScopeSettings]) -> (bool, i64, i64) {
    let mut by_rank: Vec<&ScopeSettings> = settings.iter().collect();
    by_rank.sort_by_key(|s| std::cmp::Reverse(s.scope.rank()));
    let usb = by_rank.iter().find_map(|s| s.usb_enforce).unwrap_or(true);
    let scan = by_rank.iter().find_map(|s| s.scan_interval_seconds).unwrap_or(st.config.fleet.scan_interval_seconds);
    let hb = by_rank.iter().find_map(|s| s.heartbeat_seconds).unwrap_or(st.config.fleet.heartbeat_seconds);
    (usb, scan, hb)
}

/// The bundle the server would send a host now (unsigned).
pub async fn build_bundle(st: &AppState, host: &HostAuthRow) -> AppResult<Bundle> {
    let now = st.clock.now();
    let scopes = host_scopes(host.id, host.site_id, host.process_id);
    let mut inputs = st.store.fleet_bundle_inputs(host.id, &scopes, now).await?;
    let (usb_enforce, scan_interval_seconds, heartbeat_seconds) = resolve_settings(st, &inputs.settings);
    // Most specific scope first (first match wins, so a host's or process's own rules
    // come before the site's and the global floor policy), then by assignment time.
    inputs.policies.sort_by(|a, b| {
        b.scope.rank().cmp(&a.scope.rank()).then(a.assigned_at.cmp(&b.assigned_at)).then(a.name.cmp(&b.name))
    });
    let mut seen = std::collections::HashSet::new();
    let mut usb_rules = String::new();
    let mut sca_policies: Vec<BundlePolicy> = Vec::new();
    for p in inputs.policies.iter().filter(|p| seen.insert(p.id)) {
        match p.kind.as_str() {
            "usb" => {
                usb_rules.push_str(&format!("# {} (assigned at {})\n", p.name.replace('\n', " "), p.scope));
                usb_rules.push_str(&p.body);
                if !p.body.ends_with('\n') {
                    usb_rules.push('\n');
                }
            }
            _ => {
                let id = p.sca_id.clone().unwrap_or_else(|| p.id.to_string());
                if !sca_policies.iter().any(|b| b.id == id) {
                    sca_policies.push(BundlePolicy { id, yaml: p.body.clone() });
                }
            }
        }
    }
    sca_policies.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Bundle {
        version: inputs.version,
        host_id: host.id,
        issued_at: now,
        expires_at: now + st.config.fleet.bundle_valid_hours * 3600,
        usb_enforce,
        usb_rules,
        sca_policies,
        exceptions: inputs
            .exceptions
            .into_iter()
            .map(|(id, device_hash, expires_at)| BundleException { id, device_hash, expires_at })
            .collect(),
        scan_interval_seconds,
        heartbeat_seconds,
    })
}

/// The calling host's bundle, signed.
pub async fn signed_bundle(st: &AppState, host: &HostAuthRow) -> AppResult<SignedBundle> {
    let keys = st.fleet_keys()?;
    Ok(keys.signer.sign(&build_bundle(st, host).await?))
}

const DECISIONS: [&str; 4] = ["allowed", "blocked", "partial", "removed"];

/// Checks a batch: sizes and values a well-behaved agent never exceeds. A bad event
/// refuses the whole batch, naming it (`events[3].seq`).
fn check_batch(st: &AppState, b: &AgentBatch) -> AppResult<()> {
    let mut p = Vec::new();
    if b.events.len() > st.config.fleet.max_batch_events {
        p.push(invalid("events", &format!("at most {} events per batch", st.config.fleet.max_batch_events)));
    }
    let h = &b.health;
    if !text_ok(&h.agent_version, 64) {
        p.push(invalid("health.agent_version", "1 to 64 characters of text"));
    }
    if h.policy_version < 0 || h.queue_depth < 0 || h.queue_dropped < 0 {
        p.push(invalid("health", "versions and counts are not negative"));
    }
    let short = |v: &str, max: usize| v.len() <= max && !v.chars().any(char::is_control);
    for (n, e) in b.events.iter().enumerate().take(st.config.fleet.max_batch_events) {
        let at = |f: &str| format!("events[{n}].{f}");
        if e.seq < 0 {
            p.push(invalid(&at("seq"), "not negative"));
        }
        match &e.body {
            AgentEventBody::Device(d) => {
                if !DECISIONS.contains(&d.decision.as_str()) {
                    p.push(invalid(&at("decision"), "allowed, blocked, partial or removed"));
                }
                let fields = [
                    ("device_hash", &d.device_hash, 128),
                    ("vendor_product", &d.vendor_product, 64),
                    ("name", &d.name, 512),
                    ("port", &d.port, 128),
                    ("reason", &d.reason, 1024),
                    ("device_rule", &d.device_rule, 8192),
                ];
                for (f, v, max) in fields {
                    if !short(v, max) {
                        p.push(invalid(&at(f), &format!("at most {max} bytes of text")));
                    }
                }
                if d.interfaces.len() > 64
                    || d.blocked_interfaces.len() > 64
                    || d.interfaces.iter().chain(&d.blocked_interfaces).any(|i| !short(i, 16) || i.contains(','))
                {
                    p.push(invalid(&at("interfaces"), "at most 64 interface types `cc:ss:pp`"));
                }
                if d.offline_challenge.as_deref().is_some_and(|c| !short(c, 64)) {
                    p.push(invalid(&at("offline_challenge"), "at most 64 characters"));
                }
            }
            AgentEventBody::Scan(s) => {
                if !text_ok(&s.policy_id, 128) || !short(&s.policy_name, 512) {
                    p.push(invalid(&at("policy_id"), "an SCA policy id and name"));
                }
                if !(0..=100).contains(&s.score) || s.passed < 0 || s.failed < 0 || s.not_applicable < 0 {
                    p.push(invalid(&at("score"), "score 0-100, counts not negative"));
                }
                if s.checks.len() > 5000 {
                    p.push(invalid(&at("checks"), "at most 5000 checks"));
                }
            }
            AgentEventBody::Facts(f) => {
                if f.listening.len() > 5000 || !short(&f.os, 256) || !short(&f.kernel, 256) {
                    p.push(invalid(&at("facts"), "os and kernel at most 256 bytes, at most 5000 listening sockets"));
                }
            }
        }
        if p.len() > 20 {
            break;
        }
    }
    problems(p)
}

/// Stores a batch from the calling host (one transaction), records blocked devices and
/// used exceptions in the ledger, and answers with the host's current bundle version.
pub async fn ingest(st: &AppState, ctx: &Ctx, host: &HostAuth, batch: &AgentBatch) -> AppResult<BatchAck> {
    ingest_at(st, ctx, host, batch, st.clock.now()).await
}

/// [`ingest`] with the host seen at `now` (the demo's simulated hosts report in the past).
pub(crate) async fn ingest_at(
    st: &AppState,
    ctx: &Ctx,
    host: &HostAuth,
    batch: &AgentBatch,
    now: i64,
) -> AppResult<BatchAck> {
    check_batch(st, batch)?;
    let mut used_exceptions: Vec<ExceptionId> = Vec::new();
    let mut used_challenges: Vec<String> = Vec::new();
    for e in &batch.events {
        if let AgentEventBody::Device(d) = &e.body {
            if let Some(x) = d.exception_id {
                used_exceptions.push(x);
            }
            if let Some(c) = &d.offline_challenge {
                used_challenges.push(normalize_challenge(c));
            }
        }
    }
    used_exceptions.sort();
    used_exceptions.dedup();
    used_challenges.sort();
    used_challenges.dedup();
    let new_seqs = st
        .store
        .fleet_ingest(&host.host, &batch.health, &batch.events, &used_exceptions, &used_challenges, now)
        .await?;
    if !new_seqs.is_empty() {
        let new: std::collections::HashSet<i64> = new_seqs.into_iter().collect();
        let mut blocked = Vec::new();
        for e in &batch.events {
            let AgentEventBody::Device(d) = &e.body else { continue };
            if !new.contains(&e.seq) {
                continue;
            }
            if matches!(d.decision.as_str(), "blocked" | "partial") {
                blocked.push(json!({ "seq": e.seq, "at": e.at, "decision": d.decision, "device": d.name,
                    "id": d.vendor_product, "hash": d.device_hash, "port": d.port, "storage_like": d.storage_like,
                    "blocked_interfaces": d.blocked_interfaces }));
            }
            if d.exception_id.is_some() || d.offline_challenge.is_some() {
                let object =
                    d.exception_id.map_or_else(|| format!("host:{}", host.host.id), |x| format!("fleet_exception:{x}"));
                st.audit(
                    ctx,
                    "fleet.exception_used",
                    &object,
                    Outcome::Success,
                    json!({ "host": host.host.id, "seq": e.seq, "at": e.at, "device": d.name, "hash": d.device_hash,
                            "decision": d.decision, "exception": d.exception_id, "offline_challenge": d.offline_challenge }),
                )
                .await?;
            }
        }
        if !blocked.is_empty() {
            st.audit(
                ctx,
                "fleet.devices_blocked",
                &format!("host:{}", host.host.id),
                Outcome::Success,
                json!({ "hostname": host.host.hostname, "count": blocked.len(), "devices": blocked }),
            )
            .await?;
        }
    }
    let scopes = host_scopes(host.host.id, host.host.site_id, host.host.process_id);
    Ok(BatchAck {
        accepted: i64::try_from(batch.events.len()).unwrap_or(i64::MAX),
        bundle_version: st.store.fleet_bundle_version(&scopes).await?,
    })
}

/// A challenge in its canonical shown form (what an officer typed may differ in case,
/// spaces and dashes); left as is when it does not parse.
#[must_use]
pub fn normalize_challenge(c: &str) -> String {
    offline::Challenge::parse(c).map_or_else(|_| c.trim().to_owned(), |ch| ch.display())
}

// ---- hosts ----------------------------------------------------------------------------

/// One host with its facts, compliance, score history, device events and exceptions.
pub async fn host_detail(st: &AppState, auth: &Auth, id: HostId) -> AppResult<HostDetail> {
    let host = visible_host(st, auth, Action::FleetView, id).await?;
    let (facts, facts_at) = st.store.fleet_host_facts(id).await?;
    let scopes = host_scopes(host.id, host.site_id, host.process_id);
    let events = st
        .store
        .fleet_device_events(&bposhield_store::fleet::DeviceEventFilter {
            scope: HostScope::all(),
            host_id: Some(id),
            limit: 200,
            ..Default::default()
        })
        .await?;
    Ok(HostDetail {
        bundle_version: st.store.fleet_bundle_version(&scopes).await?,
        facts,
        facts_at,
        compliance: st.store.fleet_compliance(id).await?,
        history: st.store.fleet_score_history(id, 200).await?,
        events,
        exceptions: with_status(st, st.store.fleet_exceptions(&HostScope::all(), Some(id), 100).await?),
        host,
    })
}

/// Retires a host: its credential stops working at once; its history stays.
pub async fn retire_host(st: &AppState, ctx: &Ctx, auth: &Auth, id: HostId) -> AppResult<HostSummary> {
    let h = visible_host(st, auth, Action::FleetAdmin, id).await?;
    if st.store.fleet_retire_host(id, st.clock.now()).await? {
        st.audit(ctx, "fleet.host_retired", &format!("host:{id}"), Outcome::Success, json!({ "hostname": h.hostname }))
            .await?;
    }
    Ok(st.store.fleet_host(id).await?)
}

// ---- policies, assignments, settings --------------------------------------------------------

/// Checks a policy's text with the endpoint engine's own parsers (what the agents will
/// run). Returns the SCA policy id for an SCA policy.
///
/// # Errors
/// `BPS-FLT-0003` naming the lines, or `BPS-REQ-0002` for a bad kind or size.
pub fn validate_policy(kind: &str, body: &str) -> AppResult<Option<String>> {
    if body.len() > MAX_POLICY_BYTES {
        return Err(AppError::field(ErrorCode::InvalidField, "body", format!("at most {MAX_POLICY_BYTES} bytes")));
    }
    match kind {
        "usb" => match bposhield_endpoint::rules::RuleSet::parse(body) {
            Ok(_) => Ok(None),
            Err(e) => Err(AppError::field(ErrorCode::FleetPolicyInvalid, "body", e.to_string())),
        },
        "sca" => match bposhield_endpoint::sca::Policy::parse(body) {
            Ok(p) => Ok(Some(p.id)),
            Err(errs) => {
                let msg: Vec<String> =
                    errs.iter().take(20).map(|e| format!("line {}: {}", e.line, e.message)).collect();
                Err(AppError::field(ErrorCode::FleetPolicyInvalid, "body", msg.join("; ")))
            }
        },
        _ => Err(AppError::field(ErrorCode::InvalidField, "kind", "usb or sca")),
    }
}

fn check_policy_input(p: &PolicyInput) -> AppResult<Option<String>> {
    if !text_ok(&p.name, 120) {
        return Err(AppError::field(ErrorCode::InvalidField, "name", "required, at most 120 characters of text"));
    }
    validate_policy(p.kind.as_str(), &p.body)
}

async fn sca_id_free(st: &AppState, sca_id: Option<&str>, except: Option<PolicyId>) -> AppResult<()> {
    if let Some(id) = sca_id {
        if st.store.fleet_policy_by_sca_id(id, except).await?.is_some() {
            return Err(AppError::field(
                ErrorCode::DuplicateName,
                "body",
                format!("another policy already has the SCA policy id `{id}`"),
            ));
        }
    }
    Ok(())
}

fn name_taken(e: StoreError) -> AppError {
    match e {
        StoreError::Unique(_) => AppError::field(ErrorCode::DuplicateName, "name", "a policy with this name exists"),
        other => other.into(),
    }
}

/// Creates a policy (not assigned anywhere yet).
pub async fn create_policy(st: &AppState, ctx: &Ctx, auth: &Auth, input: &PolicyInput) -> AppResult<FleetPolicy> {
    let sca_id = check_policy_input(input)?;
    sca_id_free(st, sca_id.as_deref(), None).await?;
    let p = FleetPolicy {
        id: PolicyId::new_v7(new_ms(st)),
        kind: input.kind.clone(),
        name: input.name.trim().to_owned(),
        body: input.body.clone(),
        sca_id,
        builtin: false,
        version: 0,
        updated_at: 0,
        updated_by: format!("user:{}", auth.user.id),
        assignments: Vec::new(),
    };
    let stored = st.store.fleet_insert_policy(&p, st.clock.now()).await.map_err(name_taken)?;
    st.audit_change(
        ctx,
        "fleet.policy_changed",
        &format!("fleet_policy:{}", p.id),
        Outcome::Success,
        json!({ "change": "created", "kind": p.kind, "name": p.name, "sca_id": p.sca_id, "version": stored.version }),
        None::<&()>,
        Some(&stored.body),
    )
    .await?;
    Ok(stored)
}

/// The policy if it exists.
pub async fn policy(st: &AppState, id: PolicyId) -> AppResult<FleetPolicy> {
    match st.store.fleet_policy(id).await {
        Ok(p) => Ok(p),
        Err(StoreError::NotFound) => Err(AppError::not_found("policy")),
        Err(e) => Err(e.into()),
    }
}

/// Changes a policy's name and text. The caller must administer every scope it is
/// assigned at: an edit reaches all of them.
pub async fn update_policy(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: PolicyId,
    input: &PolicyInput,
) -> AppResult<FleetPolicy> {
    let before = policy(st, id).await?;
    if input.kind != before.kind {
        return Err(AppError::field(ErrorCode::InvalidField, "kind", "the kind of a policy cannot change"));
    }
    let sca_id = check_policy_input(input)?;
    sca_id_free(st, sca_id.as_deref(), Some(id)).await?;
    for scope in &before.assignments {
        if !covers_scope(st, auth, Action::FleetAdmin, *scope).await? {
            let why = format!("the policy is assigned at {scope}, outside the caller's scope");
            return Err(deny(st, ctx, Action::FleetAdmin, &format!("fleet_policy:{id}"), why).await);
        }
    }
    let by = format!("user:{}", auth.user.id);
    let after = st
        .store
        .fleet_update_policy(id, input.name.trim(), &input.body, sca_id.as_deref(), &by, st.clock.now())
        .await
        .map_err(name_taken)?;
    st.audit_change(
        ctx,
        "fleet.policy_changed",
        &format!("fleet_policy:{id}"),
        Outcome::Success,
        json!({ "change": "edited", "kind": after.kind, "name": after.name, "version": after.version,
                "assignments": after.assignments }),
        Some(&before.body),
        Some(&after.body),
    )
    .await?;
    Ok(after)
}

/// Replaces where a policy applies. The caller must administer every scope added or
/// removed.
pub async fn set_assignments(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: PolicyId,
    scopes: &[FleetScope],
) -> AppResult<FleetPolicy> {
    let before = policy(st, id).await?;
    if scopes.len() > 1000 {
        return Err(AppError::field(ErrorCode::InvalidField, "scopes", "at most 1000 scopes"));
    }
    let mut wanted: Vec<FleetScope> = scopes.to_vec();
    wanted.sort();
    wanted.dedup();
    let changed: Vec<FleetScope> = wanted
        .iter()
        .filter(|s| !before.assignments.contains(s))
        .chain(before.assignments.iter().filter(|s| !wanted.contains(s)))
        .copied()
        .collect();
    for scope in &changed {
        if !covers_scope(st, auth, Action::FleetAdmin, *scope).await? {
            let why = format!("{scope} is outside the caller's scope");
            return Err(deny(st, ctx, Action::FleetAdmin, &format!("fleet_policy:{id}"), why).await);
        }
    }
    if changed.is_empty() {
        return Ok(before);
    }
    st.store.fleet_set_assignments(id, &wanted, st.clock.now()).await?;
    let after = policy(st, id).await?;
    st.audit_change(
        ctx,
        "fleet.policy_changed",
        &format!("fleet_policy:{id}"),
        Outcome::Success,
        json!({ "change": "assignments", "name": after.name, "before": before.assignments, "after": after.assignments }),
        Some(&before.assignments),
        Some(&after.assignments),
    )
    .await?;
    Ok(after)
}

/// Sets one scope's settings (USB enforcement, scan and heartbeat intervals).
pub async fn put_settings(st: &AppState, ctx: &Ctx, auth: &Auth, s: &ScopeSettings) -> AppResult<ScopeSettings> {
    let mut p = Vec::new();
    if s.scan_interval_seconds.is_some_and(|v| !(60..=604_800).contains(&v)) {
        p.push(invalid("scan_interval_seconds", "60 to 604800"));
    }
    if s.heartbeat_seconds.is_some_and(|v| !(10..=86_400).contains(&v)) {
        p.push(invalid("heartbeat_seconds", "10 to 86400"));
    }
    problems(p)?;
    if !covers_scope(st, auth, Action::FleetAdmin, s.scope).await? {
        let why = format!("{} is outside the caller's scope", s.scope);
        return Err(deny(st, ctx, Action::FleetAdmin, &format!("fleet_scope:{}", s.scope), why).await);
    }
    let before = st.store.fleet_put_settings(s).await?;
    st.audit_change(
        ctx,
        "fleet.policy_changed",
        &format!("fleet_scope:{}", s.scope),
        Outcome::Success,
        json!({ "change": "settings", "usb_enforce": s.usb_enforce, "scan_interval_seconds": s.scan_interval_seconds,
                "heartbeat_seconds": s.heartbeat_seconds }),
        before.as_ref(),
        Some(s),
    )
    .await?;
    Ok(s.clone())
}

/// Installs or refreshes the shipped policies (see `Store::fleet_ensure_builtin`):
/// assigned globally when first installed, except the server baseline.
/// Content that does not parse with this build's engine is skipped with a warning,
/// never installed.
pub async fn ensure_builtin_policies(st: &AppState) -> AppResult<()> {
    // The floor policy and the desktop baseline apply everywhere (the baseline's
    // requirements make it "not applicable" on a machine without a desktop). The
    // server baseline is installed but assigned nowhere: it would judge every desktop
    // by server rules; assign it to the sites or hosts that are servers.
    let shipped: [(PolicyId, &str, &str, &str, &str, bool); 3] = [
        (FLOOR_USB_POLICY, "usb", "Floor USB policy", "content/usb/floor.rules", FLOOR_USB_RULES, true),
        (
            FLOOR_DESKTOP_POLICY,
            "sca",
            "Call-floor desktop baseline",
            "content/sca/bposhield_floor_desktop.yml",
            FLOOR_DESKTOP_SCA,
            true,
        ),
        (SERVER_POLICY, "sca", "Server baseline", "content/sca/bposhield_server.yml", SERVER_SCA, false),
    ];
    let ctx = Ctx::system("fleet-builtin");
    for (id, kind, name, file, body, assign_global) in shipped {
        let sca_id = match validate_policy(kind, body) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(file, error = %e, "shipped fleet policy does not parse; not installed");
                continue;
            }
        };
        let b = BuiltinPolicy { id, kind, name, file, body, sca_id: sca_id.as_deref(), assign_global };
        if st.store.fleet_ensure_builtin(&b, st.clock.now()).await? {
            st.audit(
                &ctx,
                "fleet.policy_changed",
                &format!("fleet_policy:{id}"),
                Outcome::Success,
                json!({ "change": "builtin", "name": name, "file": file }),
            )
            .await?;
        }
    }
    Ok(())
}

// ---- exceptions ---------------------------------------------------------------------------

/// `expired` for approved exceptions past their end.
fn with_status(st: &AppState, mut v: Vec<FleetException>) -> Vec<FleetException> {
    let now = st.clock.now();
    for x in &mut v {
        if x.status == "approved" && x.expires_at.is_some_and(|e| e <= now) {
            x.status = "expired".into();
        }
    }
    v
}

/// Exceptions of hosts the caller sees, newest first.
pub async fn list_exceptions(st: &AppState, auth: &Auth, limit: u32) -> AppResult<Vec<FleetException>> {
    let scope = host_scope(st, &auth.actor, Action::FleetView).await?;
    Ok(with_status(st, st.store.fleet_exceptions(&scope, None, limit).await?))
}

/// One exception the caller may see.
pub async fn exception(st: &AppState, auth: &Auth, id: ExceptionId) -> AppResult<FleetException> {
    let x = match st.store.fleet_exception(id).await {
        Ok(x) => x,
        Err(StoreError::NotFound) => return Err(AppError::not_found("exception")),
        Err(e) => return Err(e.into()),
    };
    visible_host(st, auth, Action::FleetView, x.host_id).await.map_err(|_| AppError::not_found("exception"))?;
    Ok(with_status(st, vec![x]).remove(0))
}

fn device_hash_ok(h: &str) -> bool {
    h.len() <= 64 && B64.decode(h).is_ok_and(|b| b.len() == 32)
}

/// Asks for an exception for one device on one host.
pub async fn request_exception(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    input: &ExceptionRequestInput,
) -> AppResult<FleetException> {
    let mut p = Vec::new();
    if !device_hash_ok(input.device_hash.trim()) {
        p.push(invalid("device_hash", "the device's USBGuard hash: base64 of 32 bytes"));
    }
    if !text_ok(&input.reason, 500) {
        p.push(invalid("reason", "required, at most 500 characters of text"));
    }
    if input.device_name.len() > 200 || input.device_name.chars().any(char::is_control) {
        p.push(invalid("device_name", "at most 200 characters of text"));
    }
    if !(1..=MAX_EXCEPTION_HOURS).contains(&input.hours) {
        p.push(invalid("hours", "1 to 168"));
    }
    problems(p)?;
    let host = visible_host(st, auth, Action::FleetExceptionRequest, input.host_id)
        .await
        .map_err(|_| AppError::field(ErrorCode::FleetUnknownHost, "host_id", "no such host in your scope"))?;
    let x = FleetException {
        id: ExceptionId::new_v7(new_ms(st)),
        host_id: host.id,
        hostname: host.hostname.clone(),
        device_hash: input.device_hash.trim().to_owned(),
        device_name: input.device_name.trim().to_owned(),
        reason: input.reason.trim().to_owned(),
        hours: input.hours,
        status: "requested".into(),
        requested_by: format!("user:{}", auth.user.id),
        requested_at: st.clock.now(),
        decided_by: None,
        decided_at: None,
        note: None,
        expires_at: None,
        first_used_at: None,
    };
    st.store.fleet_insert_exception(&x).await?;
    st.audit(
        ctx,
        "fleet.exception_requested",
        &format!("fleet_exception:{}", x.id),
        Outcome::Success,
        json!({ "host": x.host_id, "hostname": x.hostname, "device_hash": x.device_hash, "device": x.device_name,
                "hours": x.hours, "reason": x.reason }),
    )
    .await?;
    Ok(x)
}

/// What a decision does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decide {
    Approve,
    Reject,
    Revoke,
}

/// Approves, rejects or revokes an exception: security or IT with the host in scope,
/// never the requester. An approval starts the exception's hours now and puts it in the
/// host's bundle; a revocation takes it out.
pub async fn decide_exception(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: ExceptionId,
    what: Decide,
    note: Option<&str>,
) -> AppResult<FleetException> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.len() > 500 || n.chars().any(char::is_control)) {
        return Err(AppError::field(ErrorCode::InvalidField, "note", "at most 500 characters of text"));
    }
    if what == Decide::Reject && note.is_none() {
        return Err(AppError::field(ErrorCode::InvalidField, "note", "say why the request is rejected"));
    }
    let x = match st.store.fleet_exception(id).await {
        Ok(x) => x,
        Err(StoreError::NotFound) => return Err(AppError::not_found("exception")),
        Err(e) => return Err(e.into()),
    };
    visible_host(st, auth, Action::FleetExceptionApprove, x.host_id)
        .await
        .map_err(|_| AppError::not_found("exception"))?;
    let me = format!("user:{}", auth.user.id);
    let object = format!("fleet_exception:{id}");
    if what != Decide::Revoke && x.requested_by == me {
        st.audit(ctx, "fleet.exception_approve", &object, Outcome::Denied, json!({ "reason": "requester" })).await?;
        return Err(AppError::new(
            ErrorCode::FleetSelfApproval,
            "you asked for this exception: someone else decides it",
        ));
    }
    let now = st.clock.now();
    let (from, to, expires, action) = match what {
        Decide::Approve => ("requested", "approved", Some(now + x.hours * 3600), "fleet.exception_granted"),
        Decide::Reject => ("requested", "rejected", None, "fleet.exception_rejected"),
        Decide::Revoke => ("approved", "revoked", None, "fleet.exception_revoked"),
    };
    if what == Decide::Revoke && x.expires_at.is_some_and(|e| e <= now) {
        return Err(AppError::new(ErrorCode::FleetExceptionDecided, "the exception has expired already"));
    }
    if !st.store.fleet_decide_exception(id, x.host_id, from, to, &me, note, expires, now).await? {
        return Err(AppError::new(ErrorCode::FleetExceptionDecided, format!("the exception is {} already", x.status)));
    }
    st.audit(
        ctx,
        action,
        &object,
        Outcome::Success,
        json!({ "host": x.host_id, "hostname": x.hostname, "device_hash": x.device_hash, "device": x.device_name,
                "hours": x.hours, "expires_at": expires, "requested_by": x.requested_by, "reason": x.reason,
                "note": note }),
    )
    .await?;
    exception(st, auth, id).await
}

/// Answers a challenge a host shows while it cannot reach the server: finds the host by
/// the challenge's host tag (among the caller's hosts) and returns the response code.
/// The code is never stored; the grant and its reason go to the ledger.
pub async fn offline_code(st: &AppState, ctx: &Ctx, auth: &Auth, input: &OfflineCodeInput) -> AppResult<OfflineCode> {
    let mut p = Vec::new();
    if !(1..=MAX_EXCEPTION_HOURS).contains(&input.hours) {
        p.push(invalid("hours", "1 to 168"));
    }
    if !text_ok(&input.reason, 500) {
        p.push(invalid("reason", "required, at most 500 characters of text"));
    }
    problems(p)?;
    let challenge = offline::Challenge::parse(&input.challenge).map_err(|e| {
        AppError::field(
            ErrorCode::FleetChallengeInvalid,
            "challenge",
            format!("not a challenge ({e}); read it out again"),
        )
    })?;
    let scope = host_scope(st, &auth.actor, Action::FleetExceptionApprove).await?;
    let hosts: Vec<_> = st
        .store
        .fleet_hosts_by_tag(&hex::encode(challenge.host_tag))
        .await?
        .into_iter()
        .filter(|h| scope.covers(h.site_id, h.process_id))
        .filter(|h| input.host_id.is_none_or(|want| want == h.id))
        .collect();
    let host = match hosts.as_slice() {
        [] => {
            return Err(AppError::field(
                ErrorCode::FleetUnknownHost,
                "challenge",
                "no host in your scope made this challenge",
            ))
        }
        [one] => one,
        _ => {
            return Err(AppError::field(
                ErrorCode::FleetChallengeAmbiguous,
                "host_id",
                "the challenge matches several hosts; choose the host",
            ))
        }
    };
    let key = st.fleet_keys()?.open(&host.offline_key).map_err(AppError::internal)?;
    let now = st.clock.now();
    let hours = u8::try_from(input.hours).unwrap_or(0);
    let code = offline::respond(&key, &host.id.to_string(), &challenge, hours, now).map_err(|e| match e {
        offline::OfflineError::Expired => AppError::field(
            ErrorCode::FleetChallengeInvalid,
            "challenge",
            "the challenge is older than 30 minutes (or from the future); ask for a new one",
        ),
        offline::OfflineError::BadHours => AppError::field(ErrorCode::InvalidField, "hours", "1 to 168"),
        other => AppError::field(ErrorCode::FleetChallengeInvalid, "challenge", other.to_string()),
    })?;
    let shown = challenge.display();
    let row = OfflineCodeRow {
        id: ExceptionId::new_v7(new_ms(st)).0.to_string(),
        host_id: host.id,
        hostname: host.hostname.clone(),
        challenge: shown.clone(),
        hours: input.hours,
        reason: input.reason.trim().to_owned(),
        issued_by: format!("user:{}", auth.user.id),
        issued_at: now,
        valid_until: now + input.hours * 3600,
        used_at: None,
    };
    st.store.fleet_insert_offline_code(&row).await?;
    st.audit(
        ctx,
        "fleet.offline_code_issued",
        &format!("host:{}", host.id),
        Outcome::Success,
        json!({ "hostname": host.hostname, "challenge": shown, "device_tag": hex::encode(challenge.device_tag),
                "challenge_made_at": challenge.made_at(), "hours": input.hours, "reason": row.reason }),
    )
    .await?;
    Ok(OfflineCode {
        code,
        host_id: host.id,
        hostname: host.hostname.clone(),
        hours: input.hours,
        challenge_made_at: challenge.made_at(),
        valid_until: row.valid_until,
    })
}

// ---- controls ---------------------------------------------------------------------------------

/// What the R1/R4 fleet controls read now.
pub async fn control_facts(st: &AppState) -> AppResult<bposhield_core::controls::FleetFacts> {
    let mut f = st.store.fleet_facts(st.clock.now()).await?;
    let c = &st.config.fleet;
    f.not_reporting_after = c.not_reporting_hours * 3600;
    f.min_score = c.min_baseline_score;
    f.updates_grace = c.updates_overdue_days * 86_400;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_offline_keys_open_only_with_their_seed() {
        let k = FleetKeys::from_seed(&[3; 32]);
        let secret = [42u8; 32];
        let sealed = k.seal(&secret);
        assert!(!sealed.contains(&B64.encode(secret)));
        assert_ne!(sealed, k.seal(&secret), "a fresh nonce every time");
        assert_eq!(k.open(&sealed), Ok(secret));
        assert!(FleetKeys::from_seed(&[4; 32]).open(&sealed).is_err());
        assert!(k.open("v1:AAAA").is_err());
        assert!(k.open("garbage").is_err());
        assert!(!format!("{k:?}").contains("0303"));
    }

    #[test]
    fn seed_file_is_created_private_and_reread() {
        let dir = std::env::temp_dir().join(format!("bps-fleet-key-{}", std::process::id()));
        let path = dir.join("fleet-bundle.key");
        let _ = std::fs::remove_dir_all(&dir);
        let a = load_or_create_seed(&path).unwrap();
        assert_eq!(load_or_create_seed(&path).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load_or_create_seed(&path).unwrap_err().contains("chmod 600"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
