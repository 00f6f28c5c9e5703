//! `bposhield demo`: seeds the synthetic BPO of [`crate::demo_data`] into the data
//! directory (once; a seeded directory is reused as is), prints one sign-in per role and
//! serves it.

use crate::demo_data::{self, DemoOrg};
use bposhield_core::SystemClock;
use bposhield_proto::{GrantInput, UserInput};
use bposhield_server::audit::Outcome;
use bposhield_server::ctx::Ctx;
use bposhield_server::{services, AppState, Config};
use std::sync::Arc;

/// The fixed seed, so every demo shows the same organisation.
pub const SEED: u64 = 20_261_129;

/// The demo password of each showcase user. Public on purpose: this is a demo on
/// 127.0.0.1. They pass the password policy like any other password.
pub const PASSWORDS: &[(&str, &str)] = &[
    ("admin", "Amber-Falcon-Ledger-71"),
    ("iso", "Cobalt-Lantern-Orbit-42"),
    ("hradmin", "Meadow-Cipher-Violet-58"),
    ("itadmin", "Granite-Pixel-Harbor-36"),
    ("auditor", "Quartz-Ember-Willow-94"),
    ("exec", "Saffron-Comet-Bridge-27"),
    ("head.acme", "Indigo-Maple-Rocket-63"),
    ("tl.acme01", "Copper-Tundra-Falcon-15"),
    ("agent.acme", "Velvet-Summit-Prism-82"),
    ("vendor.kiran", "Harbor-Nimbus-Thistle-49"),
];

/// Seeds (if the database is empty) and serves.
pub async fn run(mut cfg: Config, seed_only: bool) -> anyhow::Result<()> {
    // Every role signs in with a password alone in the demo, and controls are evaluated
    // every minute so the dashboard's trend lines grow while it runs. The failing
    // "privileged users have a second factor" control is the honest consequence.
    cfg.auth.require_totp_roles.clear();
    cfg.controls.evaluate_every_seconds = 60;
    let store = crate::open_store(&cfg).await?;
    let state = AppState::new(store, Arc::new(SystemClock), cfg)?;
    let seeded = seed(&state).await?;
    // The directory lives as long as this process (a throw-away slapd, when installed).
    let directory = crate::demo_identity::start_directory(&state).await?;
    // The first reconciliation now (it takes the period's lease, so the server's own
    // round waits a period): links accounts, finds the mess, and holds the leavers'
    // mass disable for the security officer's approval.
    bposhield_server::jobs::identity_once(&state, state.config.identity.reconcile_every_seconds)
        .await
        .map_err(|e| anyhow::anyhow!("first reconciliation: {e}"))?;
    crate::demo_identity::open_review(&state).await?;
    print_sign_ins(&state, seeded);
    if directory.is_none() {
        println!("  (OpenLDAP slapd is not installed: the demo runs without a directory target;");
        println!("   apt-get install slapd ldap-utils to see leavers disabled in LDAP too.)");
        println!();
    }
    if seed_only {
        return Ok(());
    }
    crate::serve(state).await
}

/// Seeds the demo organisation unless the database already has sites. Returns whether
/// it seeded.
pub async fn seed(state: &AppState) -> anyhow::Result<bool> {
    if !state.store.sites().await?.is_empty() {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let org: DemoOrg = demo_data::generate(SEED, &state.clock.today());
    let ctx = Ctx::system("demo-seed");
    eprintln!("Seeding the demo BPO ({} people, {} users)...", org.people.len(), org.users.len());
    let now = state.clock.now();
    // Fixed ids keep the demo's links stable, so these go in with the generator's ids
    // through the store; every one is audited like a service call.
    for (id, s) in &org.sites {
        state.store.insert_site(*id, s, now).await?;
        state.audit(&ctx, "org.site.create", &format!("site:{id}"), Outcome::Success, serde_json::json!({})).await?;
    }
    for (id, p) in &org.processes {
        state.store.insert_process(*id, p, now).await?;
        state
            .audit(
                &ctx,
                "org.process.create",
                &format!("process:{id}"),
                Outcome::Success,
                serde_json::json!({ "site": p.site_id }),
            )
            .await?;
    }
    for (id, site, t) in &org.teams {
        state.store.insert_team(*id, *site, t, now).await?;
        state
            .audit(
                &ctx,
                "org.team.create",
                &format!("team:{id}"),
                Outcome::Success,
                serde_json::json!({ "process": t.process_id }),
            )
            .await?;
    }
    services::import_people(state, &ctx, None, &org.people).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // Showcase users get real argon2id hashes of their printed passwords; the bulk users
    // share one hash of a random secret nobody knows.
    let mut bulk = Vec::new();
    for u in &org.users {
        let input = UserInput {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            password: String::new(),
            person_id: u.person_id,
            grants: u.grants.iter().map(|g| GrantInput { role: g.role, scope: g.scope }).collect(),
        };
        match PASSWORDS.iter().find(|(n, _)| *n == u.username) {
            Some((_, pw)) if u.showcase => {
                let input = UserInput { password: (*pw).to_owned(), ..input };
                services::create_user(state, &ctx, None, &input)
                    .await
                    .map_err(|e| anyhow::anyhow!("demo user {}: {e}", u.username))?;
            }
            _ => bulk.push(input),
        }
    }
    let secret = bposhield_server::ctx::random_secret();
    let hash = bposhield_core::password::hash(&secret).map_err(|e| anyhow::anyhow!(e))?;
    services::import_users(state, &ctx, &bulk, &hash).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::demo_identity::seed(state, &org.people, SEED).await?;
    crate::demo_recordings::seed(state, &org, SEED).await?;
    bposhield_server::fleet::demo::seed_demo_fleet(state, 120, state.clock.now()).await?;
    services::evaluate_controls(state, &ctx).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    state.store.after_bulk_load().await?;
    eprintln!("Seeded in {:.1} s.", started.elapsed().as_secs_f64());
    Ok(true)
}

fn print_sign_ins(state: &AppState, seeded: bool) {
    let cfg = &state.config;
    let scheme = if cfg.tls() { "https" } else { "http" };
    println!();
    println!("bposhield demo {}", if seeded { "(freshly seeded)" } else { "(reusing the seeded data directory)" });
    println!(
        "  data:  {}",
        if cfg.database_url.is_empty() {
            cfg.data_dir.display().to_string()
        } else {
            bposhield_server::config::redact_url(&cfg.database_url)
        }
    );
    println!("  open:  {scheme}://{}:{}/", cfg.bind, cfg.port);
    println!();
    println!("  Sign in as any of these (one per role):");
    println!("  {:<16} {:<26} PASSWORD", "ROLE", "USERNAME");
    for (user, pw) in PASSWORDS {
        let role = role_of(user);
        println!("  {role:<16} {user:<26} {pw}");
    }
    println!();
    println!("  Second factors are optional in the demo; `bposhield serve` requires them for");
    println!("  platform_admin and security_officer by default.");
    println!();
    println!("  Call recordings (synthetic tones, transcripts with generated PII): tl.acme01 and");
    println!("  head.acme may play their own team's and process's, with a reason, at");
    println!("  /api/v1/recordings/{{id}}/media?reason=...; iso and auditor see the findings and");
    println!("  the access log in the ledger, never the media (docs/recordings.md).");
    println!();
    println!("  Endpoint fleet: 120 simulated hosts (marked so) with baseline results and USB");
    println!("  device events at /fleet; iso and itadmin decide exceptions there (docs/fleet.md).");
    println!();
}

fn role_of(user: &str) -> &'static str {
    match user {
        "admin" => "platform_admin",
        "iso" => "security_officer",
        "hradmin" => "hr",
        "itadmin" => "it_admin",
        "auditor" => "auditor",
        "exec" => "executive",
        "head.acme" => "process_head",
        "tl.acme01" => "team_manager",
        "agent.acme" => "agent",
        _ => "third_party",
    }
}
