//! The demo BPO's identity mess: the access-card system (a signed export in the data
//! directory) with a card for everyone HR ever employed, leavers' cards still active,
//! orphan cards nobody owns, a dialler of the first process holding movers' stale ids,
//! badge-in activity with a few absconders, a client CRM without an API (the manual
//! target), and an access review waiting for the process head. When OpenLDAP's `slapd` is
//! installed the demo also starts a throw-away directory holding everyone's login.
//!
//! The first reconciliation (at server start) sees all of it: the leavers' disables are
//! more than the circuit breaker allows, so the plan waits on /identity for the security
//! officer's approval, and then the engine visibly cleans up.

use bposhield_connectors::card::{CardConfig, CardConnector};
use bposhield_connectors::testkit::Slapd;
use bposhield_identity::model::{Correlation, TargetKind};
use bposhield_proto::{EmploymentStatus, PersonId, ProcessId, Role};
use bposhield_server::ctx::Ctx;
use bposhield_server::identity::api::{record_activity, save_target, TargetInput};
use bposhield_server::identity::reviews::{self, CampaignInput};
use bposhield_server::AppState;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::BTreeSet;

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// A key file of 32 random bytes (hex), mode 0600.
fn key_file(path: &std::path::Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    std::fs::write(path, hex::encode(rand::random::<[u8; 32]>()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Seeds the identity part of a freshly seeded demo.
pub async fn seed(
    state: &AppState,
    people: &[(PersonId, bposhield_proto::PersonInput)],
    seed: u64,
) -> anyhow::Result<()> {
    let ctx = Ctx::system("demo-seed");
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1D);
    let pacs = state.config.data_dir.join("pacs");
    std::fs::create_dir_all(&pacs)?;
    let key = pacs.join("cards.key");
    key_file(&key)?;
    let processes = state.store.processes(None).await?;
    let first: Option<ProcessId> = processes.first().map(|p| p.id);

    let targets = [
        json!({ "id": "cards", "name": "Access cards (PACS export)", "kind": "access_card",
                "correlation": "employee_id",
                "config": { "type": "access_card", "export_path": pacs.join("cards.csv"), "signing_key_file": key } }),
        json!({ "id": "dialler", "name": "Dialler ids (export)", "kind": "telephony", "correlation": "employee_id",
                "process_id": first,
                "config": { "type": "access_card", "export_path": pacs.join("dialler.csv"), "signing_key_file": key } }),
        json!({ "id": "crm", "name": "Client CRM (no API)", "kind": "manual", "correlation": "email",
                "process_id": first, "config": {} }),
    ];
    for t in targets {
        let input: TargetInput = serde_json::from_value(t)?;
        save_target(state, &ctx, None, &input).await.map_err(err)?;
    }

    // The client's CRM has no API: its team leaders' supervisor logins are work items.
    if let Some(first) = first {
        let id = bposhield_proto::EventId::new_v7(u64::try_from(state.clock.now_ms()).unwrap_or(0)).to_string();
        state
            .store
            .id_birthright_add(
                &id,
                Some(&first.to_string()),
                Some("Team leader"),
                "crm",
                "crm-supervisor",
                state.clock.now(),
            )
            .await?;
    }

    // Everyone HR ever employed got a card; leavers' cards were never switched off.
    let mut cards = Vec::new();
    let mut dialler = Vec::new();
    for (n, (_, p)) in people.iter().enumerate() {
        let levels: BTreeSet<String> = ["lobby".to_owned(), format!("floor-{}", 1 + n % 4)].into();
        cards.push((format!("C{:06}", 100_000 + n), Some(p.employee_id.clone()), levels));
        if p.process_id == first && p.status != EmploymentStatus::Terminated {
            dialler.push((format!("D{:05}", 10_000 + n), Some(p.employee_id.clone()), ["outbound".to_owned()].into()));
        }
    }
    // Cards nobody can account for: visitors' and contractors' cards never returned.
    for n in 0..7 {
        cards.push((format!("V{:05}", 900 + n), Some(format!("TMP{:04}", 40 + n)), ["lobby".to_owned()].into()));
    }
    for (id, list) in [("cards", &cards), ("dialler", &dialler)] {
        let t = state.store.id_target(id).await?;
        let mut raw = t.config.clone();
        if let Some(o) = raw.as_object_mut() {
            o.remove("type");
        }
        let cfg: CardConfig = serde_json::from_value(raw)?;
        let c = CardConnector::new(&t.target, cfg, state.clock.clone()).map_err(err)?;
        c.issue_many(list).await.map_err(err)?;
    }

    // Badge-ins: most people today or yesterday, some silent for days (absconders),
    // a handful never (joiners who never showed up).
    let now = state.clock.now();
    let mut events = Vec::new();
    for (_, p) in people.iter().filter(|(_, p)| p.status == EmploymentStatus::Active) {
        let roll: f64 = rng.gen();
        let at = if roll < 0.015 {
            continue;
        } else if roll < 0.04 {
            now - rng.gen_range(4..9) * 86_400
        } else {
            now - rng.gen_range(600..30 * 3600)
        };
        events.push(bposhield_identity::hrcsv::ActivityEvent {
            employee_id: p.employee_id.clone(),
            kind: bposhield_identity::hrcsv::ActivityKind::Badge,
            at,
        });
    }
    record_activity(state, &ctx, events, Vec::new()).await.map_err(err)?;

    // Movers: a few of the first process's agents were moved to another process by HR;
    // their dialler ids stay until the engine acts.
    if let (Some(from), Some(to)) = (first, processes.get(1)) {
        let site = state.store.site(to.site_id).await?;
        let mut moved = Vec::new();
        for (_, p) in
            people.iter().filter(|(_, p)| p.process_id == Some(from) && p.status == EmploymentStatus::Active).take(6)
        {
            moved.push((
                0,
                bposhield_identity::model::HrRecord {
                    employee_id: p.employee_id.clone(),
                    given_name: p.given_name.clone(),
                    family_name: p.family_name.clone(),
                    email: p.email.clone(),
                    login: None,
                    site: site.code.clone(),
                    process: Some(to.code.clone()),
                    team: None,
                    manager_employee_id: None,
                    job_role: p.job_role.clone(),
                    status: "active".into(),
                    status_reason: None,
                    hire_date: p.hire_date.clone(),
                    exit_date: None,
                },
            ));
        }
        bposhield_server::identity::apply_records(
            state,
            &ctx,
            None,
            moved,
            bposhield_server::identity::HrMode::Delta,
            "demo",
            true,
        )
        .await
        .map_err(err)?;
    }
    // The moves above were planned against an empty account store; the first
    // reconciliation (reading the exports) finds the stale dialler ids.
    Ok(())
}

/// Opens the quarterly review of the first process once the accounts are linked (after
/// the first reconciliation).
pub async fn open_review(state: &AppState) -> anyhow::Result<()> {
    if !state.store.id_campaigns(1).await?.is_empty() {
        return Ok(());
    }
    let Some(p) = state.store.processes(None).await?.into_iter().next() else { return Ok(()) };
    let ctx = Ctx::system("demo-seed");
    reviews::create(
        state,
        &ctx,
        None,
        &CampaignInput {
            name: format!("Q4 {} access review", p.code),
            process_id: Some(p.id),
            target_id: Some("dialler".into()),
            reviewer_role: Role::ProcessHead,
            deadline_days: 14,
            default_decision: "revoke".into(),
        },
    )
    .await
    .map_err(err)?;
    Ok(())
}

/// Starts a throw-away `slapd` holding a login for every person HR knows (leavers
/// included: nobody removed them) and points the `directory` target at it. `None` when
/// slapd is not installed: the demo then runs without a directory.
pub async fn start_directory(state: &AppState) -> anyhow::Result<Option<Slapd>> {
    if !Slapd::available() {
        return Ok(None);
    }
    let slapd = Slapd::start().await.map_err(err)?;
    let people = state.store.id_people_cards().await?;
    let mut dns = Vec::new();
    for p in &people {
        let uid = p.email.as_deref().and_then(|e| e.split('@').next()).unwrap_or(&p.employee_id).to_owned();
        dns.push(slapd.add_user(&uid, &p.employee_id, None).await.map_err(err)?);
    }
    if let Some((a, b)) = dns.split_first().map(|(a, rest)| (a.clone(), rest.to_vec())) {
        let mut members: Vec<&str> = vec![a.as_str()];
        members.extend(b.iter().map(String::as_str));
        slapd.add_group("all-staff", &members).await.map_err(err)?;
    }
    let pw = state.config.data_dir.join("pacs").join("directory.pw");
    let mut cfg = slapd.connector_config();
    std::fs::write(&pw, cfg["bind_password"].as_str().unwrap_or_default())?;
    if let Some(o) = cfg.as_object_mut() {
        o.remove("bind_password");
    }
    cfg["bind_password_file"] = json!(pw);
    cfg["disable_attribute"] = json!("description");
    cfg["disable_value"] = json!("bposhield-disabled");
    let ctx = Ctx::system("demo-directory");
    let input = TargetInput {
        id: "directory".into(),
        name: "Directory (demo slapd)".into(),
        kind: TargetKind::Directory,
        process_id: None,
        correlation: Correlation::EmployeeId,
        config: cfg,
        enabled: true,
    };
    save_target(state, &ctx, None, &input).await.map_err(err)?;
    Ok(Some(slapd))
}
