//! The identity lifecycle module (risk R3): HR sources in, plans out, actions executed
//! through the connectors, reviews, and the pages and API over them.
//!
//! The flow: an HR change ([`hr`]: CSV, SCIM, API) or the scheduled reconciliation
//! ([`plan`]) asks the engine (`bposhield-identity`) what must change; the answer is
//! stored as a plan with its actions (held when the circuit breaker trips); the
//! executor ([`exec`]) runs queued actions through the target's connector with retries
//! and back-off, or turns them into work items on the manual target. Every HR event,
//! plan, approval, action and review decision is an audit event, hence in the ledger.

pub mod api;
pub mod exec;
pub mod hr;
pub mod plan;
pub mod reviews;
pub mod web;

use crate::audit::Outcome;
use crate::ctx::{Auth, Ctx};
use crate::error::AppResult;
use crate::AppState;
use bposhield_core::Action;
use bposhield_proto::UserId;
use serde_json::json;

pub use hr::{apply_hr_record, apply_records, HrMode, HrReport};

/// Per-process runtime of the module: the executor's wake-up and its connector cache.
#[derive(Default)]
pub struct Runtime {
    /// Woken when actions are queued, so a leaver is acted on at once.
    pub wake: tokio::sync::Notify,
    pub(crate) connectors: exec::ConnectorCache,
}

/// The caller of an HR batch and the action whose scope each row must fall in.
pub(crate) struct ScopeCheck<'a> {
    pub auth: Option<&'a Auth>,
    pub action: Action,
}

impl<'a> ScopeCheck<'a> {
    pub fn new(auth: Option<&'a Auth>, action: Action) -> Self {
        Self { auth, action }
    }
}

/// A status decided by the lifecycle itself (absconder suspended, unconfirmed absconder
/// or vanished person terminated, reinstatement): written, recorded as an HR event and
/// audited. Terminations also end the person's platform access.
pub(crate) async fn lifecycle_status(
    st: &AppState,
    ctx: &Ctx,
    person: &str,
    status: &str,
    reason: Option<&str>,
    event: &str,
) -> AppResult<()> {
    let now = st.clock.now();
    let exit = (status == "terminated").then(|| st.clock.today());
    st.store.id_set_status(person, status, reason, exit.as_deref(), now).await?;
    st.store
        .id_hr_events_add(&[bposhield_store::identity::HrEventRow {
            id: bposhield_proto::EventId::new_v7(u64::try_from(st.clock.now_ms()).unwrap_or(0)).to_string(),
            person_id: person.to_owned(),
            at: now,
            source: "lifecycle".into(),
            kind: event.to_owned(),
            detail: json!({ "status": status, "reason": reason }),
        }])
        .await?;
    st.audit(
        ctx,
        &format!("identity.{event}"),
        &format!("person:{person}"),
        Outcome::Success,
        json!({ "status": status, "reason": reason }),
    )
    .await?;
    if status == "terminated" {
        end_platform_access(st, ctx, person).await?;
    }
    Ok(())
}

/// A leaver's own bposhield user: disabled, sessions ended, tokens revoked.
pub(crate) async fn end_platform_access(st: &AppState, ctx: &Ctx, person: &str) -> AppResult<()> {
    let Ok(pid) = person.parse::<bposhield_proto::PersonId>() else { return Ok(()) };
    let Some(user) = st.store.user_by_person(pid).await? else { return Ok(()) };
    if user.disabled {
        return Ok(());
    }
    let uid: UserId = user.id;
    st.store.set_user_disabled(uid, true).await?;
    let sessions = st.store.delete_user_sessions(uid).await?;
    let tokens = st.store.revoke_user_tokens(uid, st.clock.now()).await?;
    crate::services::access_changed(st).await?;
    st.audit(
        ctx,
        "identity.platform_access_ended",
        &format!("user:{uid}"),
        Outcome::Success,
        json!({ "person": person, "sessions_ended": sessions, "tokens_revoked": tokens }),
    )
    .await
}

/// The facts the R3 controls judge, from the stored world and the policies.
pub async fn facts(st: &AppState) -> AppResult<bposhield_core::controls::IdentityFacts> {
    use bposhield_identity::model::{Employment, SuspendReason, DAY};
    use std::collections::{HashMap, HashSet};
    let now = st.clock.now();
    let world = plan::load_world(st, None).await?;
    let all_targets = st.store.id_targets().await?;
    let enabled: HashSet<(&str, &str)> =
        world.accounts.iter().filter(|a| a.enabled).map(|a| (a.target.as_str(), a.key.as_str())).collect();
    let target_process: HashMap<&str, Option<&str>> =
        world.targets.iter().map(|t| (t.id.as_str(), t.process.as_deref())).collect();
    // Person → their enabled accounts' targets.
    let mut on: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in &world.links {
        if enabled.contains(&(l.target.as_str(), l.key.as_str())) {
            on.entry(l.person_id.as_str()).or_default().push(l.target.as_str());
        }
    }
    let mut f = bposhield_core::controls::IdentityFacts { targets: all_targets.len() as u64, ..Default::default() };
    for p in &world.people {
        let policy = world.policies.for_process(p.process.as_deref());
        let left = matches!(p.employment, Employment::Terminated) || p.exit_at.is_some_and(|t| t <= now);
        if left {
            let since = p.exit_at.or(p.status_since).unwrap_or(now);
            f.leavers.push((p.id.clone(), !on.contains_key(p.id.as_str()), (now - since).max(0)));
            continue;
        }
        if policy.absconding.enabled {
            let seen =
                [world.activity.get(&p.id).copied(), Some(p.hire_at), p.status_since].into_iter().flatten().max();
            let idle = seen.is_some_and(|t| now - t >= i64::from(policy.absconding.after_days) * DAY);
            let suspended = matches!(p.employment, Employment::Suspended { reason: SuspendReason::Absconding });
            if idle || suspended {
                f.absconders.push((p.id.clone(), !matches!(p.employment, Employment::Active)));
            }
        }
        if let Some(m) = &p.moved_from {
            let grace = world.policies.for_process(m.process.as_deref()).mover.grace_days;
            if m.at + i64::from(grace) * DAY <= now {
                let stale = on.get(p.id.as_str()).is_some_and(|ts| {
                    ts.iter().any(|t| {
                        let tp = target_process.get(t).copied().flatten();
                        tp.is_some() && tp == m.process.as_deref()
                    })
                });
                f.movers.push((p.id.clone(), !stale));
            }
        }
    }
    f.accounts = world.accounts.len() as u64;
    f.orphans = world
        .stored
        .iter()
        .filter(|(_, (owner, situation))| owner.is_none() && situation == "unmatched")
        .map(|((t, k), _)| format!("{t}/{k}"))
        .collect();
    f.orphans.sort();
    f.work_items =
        st.store.id_work_items(true, 10_000).await?.into_iter().map(|w| (w.action.id, w.due_at >= now)).collect();
    let reviewed = st.store.id_last_review_per_process().await?;
    f.process_reviews = st
        .store
        .processes(None)
        .await?
        .into_iter()
        .map(|p| {
            let id = p.id.to_string();
            let ok = reviewed.get(&id).is_some_and(|at| now - at <= 90 * DAY);
            (id, ok)
        })
        .collect();
    f.exit_to_disabled = st.store.id_exit_latencies(now - 90 * DAY).await?;
    Ok(f)
}
