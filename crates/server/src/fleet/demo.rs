//! Simulated hosts for `bposhield demo`, marked `simulated` everywhere they show. They
//! enroll and report through the same store and ingest code as real agents, so the
//! pages, controls and ledger show what a real fleet would: call-floor desktops and a
//! few servers across the demo's sites and process units, baseline results built from
//! the shipped baselines' real checks (mostly passing, some hosts neglected), facts
//! with pending security updates here and there, and device events: keyboards and mice
//! allowed, headsets partly authorized (their storage interface blocked), pen drives,
//! phones and cameras blocked, one approved exception in use, one request waiting.

use super::{ingest_at, FleetKeys, FLOOR_DESKTOP_SCA, SERVER_SCA};
use crate::audit::Outcome;
use crate::ctx::{secret_hash, Ctx, HostAuth};
use crate::AppState;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bposhield_core::Actor;
use bposhield_endpoint::sca;
use bposhield_proto::fleet::*;
use bposhield_proto::{EnrollTokenId, ExceptionId, HostId};
use bposhield_store::fleet::{host_scopes, HostAuthRow, NewHost};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A USB device the simulation plugs in.
struct Device {
    id: &'static str,
    name: &'static str,
    interfaces: &'static [&'static str],
    /// Interfaces the floor policy leaves blocked (all of them for a blocked device).
    blocked: &'static [&'static str],
    decision: &'static str,
    storage_like: bool,
}

const DEVICES: [Device; 7] = [
    Device {
        id: "046d:c31c",
        name: "Logitech USB Keyboard",
        interfaces: &["03:01:01", "03:00:00"],
        blocked: &[],
        decision: "allowed",
        storage_like: false,
    },
    Device {
        id: "046d:c077",
        name: "Logitech USB Optical Mouse",
        interfaces: &["03:01:02"],
        blocked: &[],
        decision: "allowed",
        storage_like: false,
    },
    Device {
        id: "0b0e:0300",
        name: "Jabra EVOLVE 20 MS",
        interfaces: &["01:01:00", "01:02:00", "03:00:00", "08:06:50"],
        blocked: &["08:06:50"],
        decision: "partial",
        storage_like: true,
    },
    Device {
        id: "0781:5567",
        name: "SanDisk Cruzer Blade",
        interfaces: &["08:06:50"],
        blocked: &["08:06:50"],
        decision: "blocked",
        storage_like: true,
    },
    Device {
        id: "04e8:6860",
        name: "Samsung Galaxy (MTP)",
        interfaces: &["06:01:01", "ff:ff:00"],
        blocked: &["06:01:01", "ff:ff:00"],
        decision: "blocked",
        storage_like: true,
    },
    Device {
        id: "04a9:3218",
        name: "Canon PowerShot (PTP)",
        interfaces: &["06:01:01"],
        blocked: &["06:01:01"],
        decision: "blocked",
        storage_like: true,
    },
    Device {
        id: "076b:3021",
        name: "OMNIKEY 3021 smart-card reader",
        interfaces: &["0b:00:00"],
        blocked: &[],
        decision: "allowed",
        storage_like: false,
    },
];

/// A demo device's USBGuard-style hash (base64 SHA-256 of its id and serial).
fn device_hash(id: &str, serial: &str) -> String {
    B64.encode(Sha256::digest(format!("{id}/{serial}").as_bytes()))
}

fn device_event(d: &Device, serial: &str, port: &str) -> DeviceEvent {
    let hash = device_hash(d.id, serial);
    let target = match d.decision {
        "allowed" => "allow",
        _ => "block",
    };
    DeviceEvent {
        decision: d.decision.into(),
        device_rule: format!(
            "{target} id {} serial \"{serial}\" name \"{}\" hash \"{hash}\" via-port \"{port}\" with-interface {{ {} }}",
            d.id,
            d.name,
            d.interfaces.join(" ")
        ),
        device_hash: hash,
        vendor_product: d.id.into(),
        name: d.name.into(),
        port: port.into(),
        interfaces: d.interfaces.iter().map(|s| (*s).to_owned()).collect(),
        blocked_interfaces: d.blocked.iter().map(|s| (*s).to_owned()).collect(),
        storage_like: d.storage_like,
        reason: match d.decision {
            "allowed" => "rule 1: allow with-interface match-all { 03:*:* 01:*:* 0b:*:* 09:*:* }".into(),
            "partial" => "no rule for the whole device; interfaces allowed one by one".into(),
            _ => "default (no rule matched)".into(),
        },
        exception_id: None,
        offline_challenge: None,
    }
}

/// A scan of `policy` with a pass rate of about `quality`, using the policy's own
/// checks, titles and severities; reasons name the check's first rule.
fn scan(policy: &sca::Policy, rng: &mut StdRng, quality: f64) -> ScanReport {
    let mut checks = Vec::with_capacity(policy.checks.len());
    for c in &policy.checks {
        let critical = c.severity() == "critical";
        // Critical checks are what gets fixed first: on a looked-after host they
        // nearly always pass.
        let p = match (critical, quality > 0.85) {
            (true, true) => 0.997,
            (true, false) => (quality + 0.1).min(0.95),
            (false, _) => quality,
        };
        let rule = c.rules.first().map_or("the check's rules", |r| r.text.as_str());
        let roll: f64 = rng.gen();
        let (result, reason) = if roll < 0.03 {
            ("not applicable", format!("{rule}: not present on this host"))
        } else if roll < p {
            ("passed", format!("{rule}: as the baseline requires"))
        } else {
            ("failed", format!("{rule}: not as the baseline requires"))
        };
        checks.push(CheckResult {
            id: c.id,
            title: c.title.clone(),
            result: result.into(),
            reason,
            severity: c.severity().into(),
        });
    }
    sca::report(policy, checks)
}

/// Creates `n_hosts` simulated hosts across the existing sites and process units (one
/// in ten a server), with results, facts and device events up to `now`, and one
/// approved exception and one waiting request. Returns how many hosts it created (0
/// when there is no organisation yet).
pub async fn seed_demo_fleet(state: &AppState, n_hosts: usize, now: i64) -> anyhow::Result<usize> {
    super::ensure_builtin_policies(state).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let processes = state.store.processes(None).await?;
    let sites = state.store.sites().await?;
    if processes.is_empty() || n_hosts == 0 {
        return Ok(0);
    }
    let ctx = Ctx::system("demo-fleet");
    let keys: &FleetKeys = state.fleet_keys().map_err(|e| anyhow::anyhow!("{e}"))?;
    // Fixed: every demo shows the same fleet.
    let mut rng = StdRng::seed_from_u64(0xF1EE7);
    let desktop = sca::Policy::parse(FLOOR_DESKTOP_SCA).ok();
    let server = sca::Policy::parse(SERVER_SCA).ok();
    // Where each host sits: process units in turn, one host in ten a server of the
    // site (no process).
    let plan: Vec<(usize, bool)> = (0..n_hosts).map(|n| (n % processes.len(), n % 10 == 9)).collect();
    // One enrollment token per site/process, spent like a real rollout's.
    let mut tokens: std::collections::HashMap<(usize, bool), String> = std::collections::HashMap::new();
    for &(k, is_server) in &plan {
        if tokens.contains_key(&(k, is_server)) {
            continue;
        }
        let p = &processes[k];
        let uses = plan.iter().filter(|x| **x == (k, is_server)).count();
        let secret = format!("{}{}", super::ENROLL_TOKEN_PREFIX, crate::ctx::random_secret());
        let t = EnrollToken {
            id: EnrollTokenId::new_v7(u64::try_from(now - 30 * 86_400).unwrap_or(0) * 1000),
            site_id: p.site_id,
            process_id: (!is_server).then_some(p.id),
            label: format!("demo fleet: {} {}", p.code, if is_server { "servers" } else { "desktops" }),
            max_uses: i64::try_from(uses).unwrap_or(i64::MAX),
            uses: 0,
            expires_at: now + 3600,
            created_at: now - 30 * 86_400,
            created_by: "system".into(),
            revoked_at: None,
        };
        state.store.fleet_insert_token(&t, &secret_hash(&secret)).await?;
        tokens.insert((k, is_server), secret);
    }
    let mut seeded = 0;
    let mut servers = Vec::new();
    let mut pen_drive_host: Option<(HostAuth, DeviceEvent)> = None;
    let mut request_host: Option<(HostId, String, String)> = None;
    for (n, &(k, is_server)) in plan.iter().enumerate() {
        let p = &processes[k];
        let site = sites.iter().find(|s| s.id == p.site_id).map_or("SITE", |s| s.code.as_str());
        let hostname = if is_server {
            format!("{}-srv-{:02}", site.to_lowercase(), n / 10 + 1)
        } else {
            format!("{}-{}-dt{:03}", site.to_lowercase(), p.code.to_lowercase(), n + 1)
        };
        let secret = tokens.get(&(k, is_server)).cloned().unwrap_or_default();
        let id = HostId::new_v7(u64::try_from(now - 30 * 86_400).unwrap_or(0) * 1000 + n as u64);
        let os = if is_server { "Debian GNU/Linux 12 (bookworm)" } else { "Ubuntu 22.04.4 LTS" };
        let host = NewHost {
            machine_id: format!("demo-{:032x}", n + 1),
            hostname: hostname.clone(),
            os: os.into(),
            agent_version: "0.1.0".into(),
            credential_hash: secret_hash(&format!(
                "{}{}",
                crate::ctx::HOST_CREDENTIAL_PREFIX,
                crate::ctx::random_secret()
            )),
            offline_key: keys.seal(&rand::random::<[u8; 32]>()),
            simulated: true,
        };
        let tag = hex::encode(bposhield_endpoint::offline::host_tag(&id.to_string()));
        let Some(done) = state.store.fleet_enroll(&secret_hash(&secret), id, &host, &tag, now - 30 * 86_400).await?
        else {
            continue;
        };
        let row = HostAuthRow {
            id: done.host_id,
            hostname: hostname.clone(),
            site_id: done.site_id,
            process_id: done.process_id,
        };
        let auth = HostAuth { actor: Actor::host(row.id), host: row.clone() };
        let mut as_host = ctx.clone();
        as_host.host = Some(auth.clone());
        state
            .audit(
                &as_host,
                "fleet.enrolled",
                &format!("host:{}", row.id),
                Outcome::Success,
                json!({ "hostname": hostname, "os": os, "site": row.site_id, "process": row.process_id, "simulated": true }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        seeded += 1;

        // The server baseline where it belongs: on the servers, host by host.
        if is_server {
            servers.push(FleetScope::Host(row.id));
            state.store.fleet_set_assignments(super::SERVER_POLICY, &servers, now - 30 * 86_400).await?;
        }
        // Most hosts are looked after; about one in five is not.
        let neglected = rng.gen_bool(0.2);
        let quality = if neglected { rng.gen_range(0.55..0.8) } else { rng.gen_range(0.88..0.99) };
        // A few are silent (switched off, agent stopped) and a few run without USB
        // enforcement.
        let silent = rng.gen_bool(0.05);
        let last_seen = if silent { now - rng.gen_range(2 * 86_400..6 * 86_400) } else { now - rng.gen_range(5..600) };
        let version = state.store.fleet_bundle_version(&host_scopes(row.id, row.site_id, row.process_id)).await?;
        let mut events = Vec::new();
        let mut seq = 0i64;
        let mut push = |at: i64, body: AgentEventBody, events: &mut Vec<AgentEvent>| {
            seq += 1;
            events.push(AgentEvent { seq, at, body });
        };
        let pending = if neglected && rng.gen_bool(0.6) { rng.gen_range(3..40) } else { i64::from(rng.gen_bool(0.1)) };
        let pending_since = (pending > 0).then(|| last_seen - rng.gen_range(86_400..30 * 86_400));
        push(
            last_seen - 3600,
            AgentEventBody::Facts(HostFacts {
                os: os.into(),
                kernel: if is_server { "6.1.0-21-amd64".into() } else { "6.5.0-35-generic".into() },
                packages: rng.gen_range(1400..2300),
                pending_security_updates: pending,
                updates_pending_since: pending_since,
                firewall: if neglected && rng.gen_bool(0.3) { "inactive".into() } else { "active (nftables)".into() },
                screen_lock_seconds: if is_server { None } else { Some(if neglected { 900 } else { 300 }) },
                password_min_length: Some(if neglected { 8 } else { 12 }),
                listening: if is_server {
                    vec!["tcp 0.0.0.0:22 sshd".into(), "tcp 127.0.0.1:5432 postgres".into()]
                } else {
                    vec!["udp 127.0.0.53:53 systemd-resolved".into()]
                },
            }),
            &mut events,
        );
        for policy in if is_server { server.iter() } else { desktop.iter() } {
            // Yesterday's scan and today's: the history shows a trend.
            push(last_seen - 86_400 - 1800, AgentEventBody::Scan(scan(policy, &mut rng, quality - 0.03)), &mut events);
            push(last_seen - 1800, AgentEventBody::Scan(scan(policy, &mut rng, quality)), &mut events);
        }
        if !is_server {
            let serial = format!("{:012X}", rng.gen::<u64>() & 0xFFFF_FFFF_FFFF);
            for d in [&DEVICES[0], &DEVICES[1]] {
                push(last_seen - 6 * 86_400, AgentEventBody::Device(device_event(d, &serial, "1-1")), &mut events);
            }
            if rng.gen_bool(0.6) {
                push(
                    last_seen - rng.gen_range(3600..5 * 86_400),
                    AgentEventBody::Device(device_event(&DEVICES[2], &serial, "1-3")),
                    &mut events,
                );
            }
            if rng.gen_bool(0.1) {
                push(
                    last_seen - rng.gen_range(3600..5 * 86_400),
                    AgentEventBody::Device(device_event(&DEVICES[6], &serial, "1-4")),
                    &mut events,
                );
            }
            // Personal devices with memory: rarer, and blocked.
            for d in &DEVICES[3..6] {
                if rng.gen_bool(if neglected { 0.25 } else { 0.08 }) {
                    let ev = device_event(d, &format!("{:016X}", rng.gen::<u64>()), "2-1");
                    if d.id == "0781:5567" && pen_drive_host.is_none() && !silent {
                        pen_drive_host = Some((auth.clone(), ev.clone()));
                    } else if d.id == "0781:5567" && request_host.is_none() {
                        request_host = Some((row.id, ev.device_hash.clone(), d.name.to_owned()));
                    }
                    push(last_seen - rng.gen_range(600..6 * 86_400), AgentEventBody::Device(ev), &mut events);
                }
            }
        }
        let health = AgentHealth {
            agent_version: "0.1.0".into(),
            policy_version: version,
            usb_enforcing: is_server || !rng.gen_bool(0.04),
            last_scan_at: Some(last_seen - 1800),
            queue_depth: i64::try_from(events.len()).unwrap_or(0),
            queue_dropped: 0,
            sent_at: last_seen,
        };
        ingest_at(state, &as_host, &auth, &AgentBatch { health, events }, last_seen)
            .await
            .map_err(|e| anyhow::anyhow!("demo host {hostname}: {e}"))?;
    }
    if !servers.is_empty() {
        state
            .audit(
                &ctx,
                "fleet.policy_changed",
                &format!("fleet_policy:{}", super::SERVER_POLICY),
                Outcome::Success,
                json!({ "change": "assignments", "after": servers, "simulated": true }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // The approved exception: a pen drive a process head vouched for (an auditor's
    // evidence export), approved by security for a day and used since.
    if let Some((auth, ev)) = pen_drive_host {
        let x = FleetException {
            id: ExceptionId::new_v7(u64::try_from(now - 7200).unwrap_or(0) * 1000),
            host_id: auth.host.id,
            hostname: auth.host.hostname.clone(),
            device_hash: ev.device_hash.clone(),
            device_name: "SanDisk Cruzer Blade (encrypted, asset tag IT-0421)".into(),
            reason: "Monthly evidence export for the client's audit, on the encrypted company drive".into(),
            hours: 24,
            status: "requested".into(),
            requested_by: "system".into(),
            requested_at: now - 7200,
            decided_by: None,
            decided_at: None,
            note: None,
            expires_at: None,
            first_used_at: None,
        };
        state.store.fleet_insert_exception(&x).await?;
        let expires = now - 3600 + 24 * 3600;
        state
            .store
            .fleet_decide_exception(
                x.id,
                x.host_id,
                "requested",
                "approved",
                "system",
                Some("approved for the export"),
                Some(expires),
                now - 3600,
            )
            .await?;
        state
            .audit(
                &ctx,
                "fleet.exception_granted",
                &format!("fleet_exception:{}", x.id),
                Outcome::Success,
                json!({ "host": x.host_id, "hostname": x.hostname, "device_hash": x.device_hash, "hours": 24,
                        "expires_at": expires, "simulated": true }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut as_host = ctx.clone();
        as_host.host = Some(auth.clone());
        let used = DeviceEvent {
            decision: "allowed".into(),
            reason: format!("exception {}", x.id),
            exception_id: Some(x.id),
            blocked_interfaces: Vec::new(),
            ..ev
        };
        let version = state
            .store
            .fleet_bundle_version(&host_scopes(auth.host.id, auth.host.site_id, auth.host.process_id))
            .await?;
        let batch = AgentBatch {
            health: AgentHealth {
                agent_version: "0.1.0".into(),
                policy_version: version,
                usb_enforcing: true,
                last_scan_at: None,
                queue_depth: 1,
                queue_dropped: 0,
                sent_at: now - 1200,
            },
            events: vec![AgentEvent { seq: 10_000, at: now - 1200, body: AgentEventBody::Device(used) }],
        };
        ingest_at(state, &as_host, &auth, &batch, now - 1200).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // A request waiting for security's decision.
    if let Some((host_id, hash, name)) = request_host {
        let hostname = state.store.fleet_host(host_id).await?.hostname;
        let x = FleetException {
            id: ExceptionId::new_v7(u64::try_from(now - 900).unwrap_or(0) * 1000),
            host_id,
            hostname,
            device_hash: hash,
            device_name: name,
            reason: "Agent says the drive holds their training certificates".into(),
            hours: 2,
            status: "requested".into(),
            requested_by: "system".into(),
            requested_at: now - 900,
            decided_by: None,
            decided_at: None,
            note: None,
            expires_at: None,
            first_used_at: None,
        };
        state.store.fleet_insert_exception(&x).await?;
        state
            .audit(
                &ctx,
                "fleet.exception_requested",
                &format!("fleet_exception:{}", x.id),
                Outcome::Success,
                json!({ "host": x.host_id, "device_hash": x.device_hash, "hours": x.hours, "simulated": true }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(seeded)
}
