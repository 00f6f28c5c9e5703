//! `bposhield vault`: the recording vault's upkeep from the machine that holds the data
//! directory and the keyring. Each change is recorded in the ledger (actor `system`).
//! There is deliberately no command that reads a recording: media leave the vault only
//! through the server, which checks the role and the reason and logs the access.

use anyhow::Context;
use bposhield_server::audit::Outcome;
use bposhield_server::ctx::Ctx;
use bposhield_server::AppState;
use bposhield_vault::Keyring;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Compare headers and bodies: complete objects, orphan bodies (an upload or purge
    /// cut short; unreadable), headers without a body. Exit 1 when not consistent.
    Check,
    /// Rotate the key-encryption key: add a fresh one to the keyring (it wraps new
    /// objects from now on) and re-wrap every object's data key under it. The media are
    /// not re-encrypted. Safe to run again after an interruption.
    RotateKek {
        /// Afterwards, remove the old keys from the keyring (only if every object was
        /// re-wrapped).
        #[arg(long)]
        retire: bool,
    },
    /// Re-wrap every object's data key under the keyring's current (last) key: after a
    /// new key was added to a keyring given as a secret (`vault.keys`), or to finish an
    /// interrupted rotation.
    Rewrap,
}

pub async fn run(state: AppState, cmd: VaultCommand) -> anyhow::Result<()> {
    let cfg = &state.config;
    let ctx = Ctx::system("cli-vault");
    match cmd {
        VaultCommand::Check => {
            let vault = cfg.open_vault().context("cannot open the vault")?;
            let r = vault.check().await?;
            println!("vault {}: {} objects", vault.location(), r.objects);
            for id in &r.orphan_bodies {
                println!("orphan body (no header, unreadable): {id}");
            }
            for id in &r.headers_without_body {
                println!("header without a body: {id}");
            }
            for name in &r.strangers {
                println!("not a vault object: {name}");
            }
            if !r.consistent() {
                anyhow::bail!(
                    "{} orphan bodies and {} headers without a body",
                    r.orphan_bodies.len(),
                    r.headers_without_body.len()
                );
            }
            println!("consistent");
        }
        VaultCommand::Rewrap => {
            let vault = cfg.open_vault().context("cannot open the vault")?;
            let current = vault.keys().current().id().to_owned();
            rewrap(&state, &ctx, &vault, &current).await?;
        }
        VaultCommand::RotateKek { retire } => {
            if !cfg.vault.keys.is_empty() {
                anyhow::bail!(
                    "the keyring comes from a secret (vault.keys), which this command cannot change: add a line \
                     `bposhield-vault-kek-v1 ID <64 hex digits>` at its end, restart, then run `bposhield vault rewrap`"
                );
            }
            let path = cfg.vault_keys_path();
            // Creates the keyring first if the vault was never used.
            cfg.open_vault().context("cannot open the vault")?;
            let ring =
                Keyring::add_to_file(&path).with_context(|| format!("cannot add a key to {}", path.display()))?;
            let new = ring.current().id().to_owned();
            state
                .audit(
                    &ctx,
                    "vault.kek_added",
                    &format!("vault-kek:{new}"),
                    Outcome::Success,
                    json!({ "keyring": path.display().to_string() }),
                )
                .await?;
            println!("added key-encryption key {new}; re-wrapping data keys...");
            let vault = cfg.open_vault()?;
            rewrap(&state, &ctx, &vault, &new).await?;
            if retire {
                let gone = Keyring::retire_old_in_file(&path)?;
                state
                    .audit(
                        &ctx,
                        "vault.kek_retired",
                        &format!("vault-kek:{new}"),
                        Outcome::Success,
                        json!({ "retired": gone }),
                    )
                    .await?;
                println!("retired {}", if gone.is_empty() { "nothing".to_owned() } else { gone.join(", ") });
            }
        }
    }
    Ok(())
}

/// Re-wraps every header under the current key, audited; fails if any was not.
async fn rewrap(state: &AppState, ctx: &Ctx, vault: &bposhield_vault::Vault, current: &str) -> anyhow::Result<()> {
    let r = vault.rewrap().await?;
    state
        .audit(
            ctx,
            "vault.rewrapped",
            &format!("vault-kek:{current}"),
            if r.failed.is_empty() { Outcome::Success } else { Outcome::Failure },
            json!({ "rewrapped": r.rewrapped, "already_current": r.current, "failed": r.failed.len() }),
        )
        .await?;
    println!("re-wrapped {} objects ({} were already under {current})", r.rewrapped, r.current);
    for (id, why) in &r.failed {
        println!("not re-wrapped: {id}: {why}");
    }
    if !r.failed.is_empty() {
        anyhow::bail!("{} objects not re-wrapped; keep the old keys in the keyring", r.failed.len());
    }
    Ok(())
}
