//! Background jobs. Each run first takes a lease in the database, so with several
//! replicas on one PostgreSQL exactly one evaluates the controls per period.

use crate::ctx::Ctx;
use crate::AppState;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Starts the periodic jobs on the current runtime.
pub fn spawn(state: AppState) {
    spawn_epoch_watch(state.clone());
    spawn_checkpoints(state.clone());
    crate::identity::exec::spawn(state.clone());
    spawn_identity(state.clone());
    spawn_recordings_purge(state.clone());
    tokio::spawn(async move {
        let every = state.config.controls.evaluate_every_seconds;
        // A first round right away, so a fresh server shows real results, not "never".
        loop {
            if let Err(e) = run_once(&state, every).await {
                tracing::warn!(error = %e, "control evaluation failed; will retry next period");
            }
            tokio::time::sleep(Duration::from_secs(every)).await;
        }
    });
}

/// Evaluates the controls if this replica wins the lease for this period; also purges
/// expired sessions. Returns whether it ran.
pub async fn run_once(state: &AppState, every: u64) -> Result<bool, crate::AppError> {
    let now = state.clock.now();
    let period = i64::try_from(every).unwrap_or(300);
    if !state.store.acquire_lease("controls.evaluate", &state.instance, now, now + period - 1).await? {
        return Ok(false);
    }
    let ctx = Ctx::system(&format!("job-{now}"));
    crate::services::evaluate_controls(state, &ctx).await?;
    state.metrics.control_evaluations.fetch_add(1, Ordering::Relaxed);
    let auth = &state.config.auth;
    state.store.purge_sessions(now - auth.session_idle_minutes * 60, now - auth.session_absolute_hours * 3600).await?;
    Ok(true)
}

/// Polls the access epoch every second and drops cached token authentications when
/// another replica changed someone's access.
pub fn spawn_epoch_watch(state: AppState) {
    tokio::spawn(async move {
        loop {
            match state.store.auth_epoch().await {
                Ok(epoch) => state.auth_cache.observe_epoch(epoch),
                // Unknown state: forget everything rather than trust stale entries.
                Err(_) => state.auth_cache.clear(),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// Publishes a signed ledger checkpoint every `ledger.checkpoint_every_seconds` when the
/// log grew (the writer also publishes one every `checkpoint_every_entries`).
pub fn spawn_checkpoints(state: AppState) {
    tokio::spawn(async move {
        let every = state.config.ledger.checkpoint_every_seconds;
        loop {
            tokio::time::sleep(Duration::from_secs(every)).await;
            let now = state.clock.now();
            let until = now + i64::try_from(every).unwrap_or(60) - 1;
            match state.store.acquire_lease("ledger.checkpoint", &state.instance, now, until).await {
                Ok(true) => {
                    if let Err(e) = state.checkpointer.publish_head().await {
                        tracing::warn!(error = %e, "could not publish a ledger checkpoint; will retry");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "ledger checkpoint lease unavailable"),
            }
        }
    });
}

/// The identity lifecycle's scheduled work, one replica per period: read every target
/// and reconcile everyone (absconders, dormant accounts, movers' grace, exit dates that
/// arrive with no HR event), escalate overdue work items, close reviews past deadline.
pub fn spawn_identity(state: AppState) {
    tokio::spawn(async move {
        let every = state.config.identity.reconcile_every_seconds;
        loop {
            if let Err(e) = identity_once(&state, every).await {
                tracing::warn!(error = %e, "identity reconciliation failed; will retry next period");
            }
            tokio::time::sleep(Duration::from_secs(every)).await;
        }
    });
}

/// One scheduled identity round if this replica wins the lease; returns whether it ran.
pub async fn identity_once(state: &AppState, every: u64) -> Result<bool, crate::AppError> {
    let now = state.clock.now();
    let period = i64::try_from(every).unwrap_or(900);
    if !state.store.acquire_lease("identity.reconcile", &state.instance, now, now + period - 1).await? {
        return Ok(false);
    }
    let ctx = Ctx::system(&format!("identity-{now}"));
    crate::identity::plan::reconcile_all(state, &ctx, true, crate::identity::plan::Mode::Execute).await?;
    crate::identity::reviews::close_due(state, &ctx).await?;
    crate::identity::reviews::schedule_due(state, &ctx).await?;
    crate::identity::reviews::remind(state, &ctx).await?;
    for action in state.store.id_work_items_escalate(now).await? {
        state
            .audit(
                &ctx,
                "identity.work_item.escalated",
                &format!("action:{action}"),
                crate::audit::Outcome::Success,
                serde_json::json!({ "sla_hours": state.config.identity.work_item_sla_hours }),
            )
            .await?;
    }
    Ok(true)
}

/// Purges recordings due under their retention policy, one replica per period.
pub fn spawn_recordings_purge(state: AppState) {
    tokio::spawn(async move {
        let every = state.config.vault.purge_every_seconds;
        // A first round at start: whatever fell due while no replica ran goes now.
        loop {
            if let Err(e) = purge_recordings_once(&state, every).await {
                tracing::warn!(error = %e.message, code = e.code.code(), "recording purge failed; will retry next period");
            }
            tokio::time::sleep(Duration::from_secs(every)).await;
        }
    });
}

/// One purge round if this replica wins the lease. Returns how many were purged.
pub async fn purge_recordings_once(state: &AppState, every: u64) -> Result<usize, crate::AppError> {
    let now = state.clock.now();
    let until = now + i64::try_from(every).unwrap_or(300) - 1;
    if !state.store.acquire_lease("recordings.purge", &state.instance, now, until).await? {
        return Ok(0);
    }
    crate::recordings::purge_due(state, &Ctx::system(&format!("purge-{now}"))).await
}
