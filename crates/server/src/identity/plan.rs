//! Plans: the engine's answer for everyone (scheduled reconciliation) or for the people
//! an HR event concerns, stored with its actions, held by the circuit breaker when it
//! would disable too much, and handed to the executor.

use crate::audit::Outcome;
use crate::ctx::Ctx;
use crate::error::{AppError, AppResult};
use crate::AppState;
use bposhield_identity::birthright::{Assignment, Birthright};
use bposhield_identity::model::{Account, Link, Op, Person, Target, TargetKind, Time};
use bposhield_identity::policy::PolicySet;
use bposhield_identity::reconcile::{self, DecisionKind, FlagKind, Snapshot};
use bposhield_identity::safety::Breaker;
use bposhield_proto::{ErrorCode, EventId};
use bposhield_store::identity::{AccountVerdict, ActionRow, FlagRow, PlanRow, TargetRow};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

/// One change to queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub person: Option<String>,
    pub target: String,
    pub key: Option<String>,
    pub op: Op,
    pub reason: String,
    pub not_before: i64,
}

/// How a plan is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Queue the actions (unless the breaker holds them).
    Execute,
    /// Record what would happen; change nothing.
    Simulate,
}

/// What a reconciliation did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReconcileOutcome {
    pub plan_id: String,
    /// `queued`, `held` (circuit breaker), `simulated`, or `duplicate` (every change is
    /// already pending in an earlier plan; no plan stored).
    pub status: String,
    pub summary: serde_json::Value,
    /// Targets that could not be read, with the reason.
    pub target_errors: Vec<(String, String)>,
}

fn new_id(st: &AppState) -> String {
    EventId::new_v7(u64::try_from(st.clock.now_ms()).unwrap_or(0)).to_string()
}

/// Stores a plan with its actions and wakes the executor. Returns the plan id and status.
#[allow(clippy::too_many_arguments)]
pub async fn store_plan(
    st: &AppState,
    ctx: &Ctx,
    kind: &str,
    cause: &str,
    actions: Vec<Queued>,
    mut summary: serde_json::Value,
    breaker: Option<serde_json::Value>,
    mode: Mode,
) -> AppResult<(String, String)> {
    let now = st.clock.now();
    let targets: HashMap<String, TargetKind> =
        st.store.id_targets().await?.into_iter().map(|t| (t.target.id.clone(), t.target.kind)).collect();
    let held = breaker.is_some() && mode == Mode::Execute;
    let status = match (mode, held) {
        (Mode::Simulate, _) => "simulated",
        (_, true) => "held",
        _ => "queued",
    };
    let plan_id = new_id(st);
    let rows: Vec<ActionRow> = actions
        .iter()
        .map(|a| {
            let manual = targets.get(&a.target) == Some(&TargetKind::Manual);
            let st_action = match (status, manual) {
                ("simulated", _) => "simulated",
                ("held", true) => "held_manual",
                ("held", false) => "held",
                (_, true) => "manual",
                _ => "queued",
            };
            ActionRow {
                id: new_id(st),
                plan_id: plan_id.clone(),
                person_id: a.person.clone(),
                target_id: a.target.clone(),
                account_key: a.key.clone(),
                op: serde_json::to_string(&a.op).unwrap_or_default(),
                op_name: a.op.name().to_owned(),
                reason: a.reason.clone(),
                status: st_action.to_owned(),
                attempts: 0,
                next_at: a.not_before.max(now),
                last_error: None,
                created_at: now,
                done_at: None,
            }
        })
        .collect();
    summary["actions"] = json!(rows.len());
    let plan = PlanRow {
        id: plan_id.clone(),
        kind: kind.to_owned(),
        status: status.to_owned(),
        cause: cause.to_owned(),
        created_at: now,
        created_by: ctx.actor_ref(),
        summary: summary.clone(),
        breaker: breaker.clone(),
        decided_by: None,
        decided_at: None,
        decision_note: None,
    };
    let due = now + st.config.identity.work_item_sla_hours * 3600;
    let queued = st.store.id_plan_insert(&plan, &rows, Some(due)).await?;
    if queued == 0 && !rows.is_empty() && status != "simulated" {
        return Ok((String::new(), "duplicate".to_owned()));
    }
    st.audit(
        ctx,
        "identity.plan.create",
        &format!("plan:{plan_id}"),
        Outcome::Success,
        // The ledger takes no floats: the breaker's finding as its sentence.
        json!({ "kind": kind, "status": status, "cause": cause, "actions": rows.len(), "queued": queued,
                "breaker": breaker.as_ref().and_then(|b| b.get("limit")).cloned() }),
    )
    .await?;
    if status == "queued" {
        st.identity.wake.notify_one();
    }
    Ok((plan_id, status.to_owned()))
}

/// The lifecycle policies in force (stored per process, defaults otherwise).
pub async fn policies(st: &AppState) -> AppResult<PolicySet> {
    let mut set = PolicySet::default();
    for (process, text) in st.store.id_policies().await? {
        let p = serde_json::from_str(&text)
            .map_err(|e| AppError::new(ErrorCode::Internal, format!("stored policy of `{process}` unreadable: {e}")))?;
        if process.is_empty() {
            set.default = p;
        } else {
            set.per_process.insert(process, p);
        }
    }
    Ok(set)
}

/// What the engine reads, owned (the engine borrows it as a [`Snapshot`]).
pub struct World {
    pub people: Vec<Person>,
    pub targets: Vec<Target>,
    pub accounts: Vec<Account>,
    pub links: Vec<Link>,
    pub activity: HashMap<String, Time>,
    pub birthrights: Vec<Birthright>,
    pub assignments: Vec<Assignment>,
    pub policies: PolicySet,
    /// Owner and situation as stored, to write back only what a run changed.
    pub stored: HashMap<(String, String), (Option<String>, String)>,
}

impl World {
    /// The engine's view at `now`.
    #[must_use]
    pub fn snapshot(&self, now: Time) -> Snapshot<'_> {
        Snapshot {
            people: &self.people,
            targets: &self.targets,
            accounts: &self.accounts,
            links: &self.links,
            activity: &self.activity,
            birthrights: &self.birthrights,
            assignments: &self.assignments,
            policies: &self.policies,
            now,
        }
    }
}

/// Loads what the engine needs. `people`: only these people and their accounts.
pub async fn load_world(st: &AppState, people: Option<&[String]>) -> AppResult<World> {
    let persons = st.store.id_people(people).await?;
    let targets: Vec<TargetRow> = st.store.id_targets().await?.into_iter().filter(|t| t.enabled).collect();
    let rows = st.store.id_accounts(people).await?;
    let mut accounts = Vec::with_capacity(rows.len());
    let mut links = Vec::new();
    let mut stored = HashMap::with_capacity(rows.len());
    for r in rows.into_iter().filter(|r| r.present) {
        stored.insert((r.account.target.clone(), r.account.key.clone()), (r.owner.clone(), r.situation.clone()));
        if let Some(owner) = &r.owner {
            links.push(Link { target: r.account.target.clone(), key: r.account.key.clone(), person_id: owner.clone() });
        }
        accounts.push(r.account);
    }
    let activity = st.store.id_activity_last().await?;
    let mut policies = policies(st).await?;
    // Without any activity feed every person looks absconded: absconding is judged only
    // once a badge, login or attendance feed has delivered something.
    if activity.is_empty() {
        policies.default.absconding.enabled = false;
        for p in policies.per_process.values_mut() {
            p.absconding.enabled = false;
        }
    }
    let birthrights = st
        .store
        .id_birthrights()
        .await?
        .into_iter()
        .map(|(_, process, job_role, target, entitlement)| Birthright { process, job_role, target, entitlement })
        .collect();
    let assignments = st
        .store
        .id_assignments()
        .await?
        .into_iter()
        .map(|(person_id, target, entitlement, from, until)| Assignment { person_id, target, entitlement, from, until })
        .collect();
    Ok(World {
        people: persons,
        targets: targets.into_iter().map(|t| t.target).collect(),
        accounts,
        links,
        activity,
        birthrights,
        assignments,
        policies,
        stored,
    })
}

fn queued_of(plan: &reconcile::Plan) -> Vec<Queued> {
    plan.actions
        .iter()
        .map(|a| Queued {
            person: a.person_id.clone(),
            target: a.target.clone(),
            key: a.account_key.clone(),
            op: a.op.clone(),
            reason: bposhield_store::identity::wire(&a.reason),
            not_before: a.not_before,
        })
        .collect()
}

/// Applies the engine's person-level decisions (suspend absconders, terminate
/// unconfirmed ones, end leavers' platform access).
async fn apply_decisions(st: &AppState, ctx: &Ctx, plan: &reconcile::Plan) -> AppResult<()> {
    for d in &plan.decisions {
        match &d.kind {
            DecisionKind::Suspend { .. } => {
                super::lifecycle_status(st, ctx, &d.person_id, "suspended", Some("absconding"), "absconding.suspended")
                    .await?;
            }
            DecisionKind::Terminate => {
                super::lifecycle_status(
                    st,
                    ctx,
                    &d.person_id,
                    "terminated",
                    Some("absconding: exit not confirmed"),
                    "absconding.terminated",
                )
                .await?;
            }
            DecisionKind::EndSessions | DecisionKind::RevokeTokens => {
                super::end_platform_access(st, ctx, &d.person_id).await?;
            }
        }
    }
    Ok(())
}

/// The circuit breaker of this deployment.
fn breaker(st: &AppState) -> Breaker {
    Breaker {
        max_disables: usize::try_from(st.config.identity.breaker_max_disables).unwrap_or(usize::MAX),
        max_share: st.config.identity.breaker_max_share,
    }
}

/// The lifecycle for the people an HR change concerns: no target is read (the stored
/// accounts are what the last read saw), so a leaver is acted on within the request. The
/// breaker judges the plan against every enabled account: an HR file that suddenly
/// terminates half the floor is held like a reconciliation would be.
pub async fn plan_for_people(st: &AppState, ctx: &Ctx, people: &[String], cause: &str) -> AppResult<Option<String>> {
    let world = load_world(st, Some(people)).await?;
    let now = st.clock.now();
    let plan = reconcile::reconcile(&world.snapshot(now));
    let enabled = usize::try_from(st.store.id_enabled_accounts().await?).unwrap_or(usize::MAX);
    let trip = breaker(st).check(&plan, enabled).map(|t| serde_json::to_value(t).unwrap_or_default());
    if trip.is_none() {
        apply_decisions(st, ctx, &plan).await?;
        settle_moves(st, &world, now).await?;
    }
    let actions = queued_of(&plan);
    if actions.is_empty() {
        return Ok(None);
    }
    let mut summary = serde_json::to_value(&plan.stats).unwrap_or_default();
    if trip.is_some() {
        summary["decisions"] = serde_json::to_value(&plan.decisions).unwrap_or_default();
    }
    let (id, _) = store_plan(st, ctx, "event", cause, actions, summary, trip, Mode::Execute).await?;
    Ok((!id.is_empty()).then_some(id))
}

/// After a held plan is approved: the person-level decisions it carried (suspensions,
/// terminations, ended platform access) are applied too.
pub async fn apply_held_decisions(st: &AppState, ctx: &Ctx, plan: &PlanRow) -> AppResult<()> {
    let Some(d) = plan.summary.get("decisions") else { return Ok(()) };
    let decisions: Vec<reconcile::PersonDecision> = serde_json::from_value(d.clone()).unwrap_or_default();
    let p = reconcile::Plan { decisions, ..reconcile::Plan::default() };
    apply_decisions(st, ctx, &p).await
}

/// Reads every enabled target (unless `read` is false), reconciles everyone, and stores
/// the plan: queued, held by the circuit breaker, or only simulated (dry-run).
pub async fn reconcile_all(st: &AppState, ctx: &Ctx, read: bool, mode: Mode) -> AppResult<ReconcileOutcome> {
    let mut target_errors = Vec::new();
    if read {
        for t in st.store.id_targets().await?.into_iter().filter(|t| t.enabled && t.target.kind != TargetKind::Manual) {
            let now = st.clock.now();
            let res = match st.identity.connectors.get(&t, &st.clock) {
                Err(e) => Err(e),
                Ok(c) => c.read_accounts().await.map_err(|e| e.to_string()),
            };
            match res {
                Ok(mut accounts) => {
                    for a in &mut accounts {
                        a.target.clone_from(&t.target.id);
                    }
                    st.store.id_accounts_store_read(&t.target.id, &accounts, now).await?;
                    st.store.id_target_read_outcome(&t.target.id, now, None).await?;
                }
                Err(e) => {
                    st.store.id_target_read_outcome(&t.target.id, now, Some(&e)).await?;
                    target_errors.push((t.target.name.clone(), e));
                }
            }
        }
    }
    let world = load_world(st, None).await?;
    let now = st.clock.now();
    let plan = reconcile::reconcile(&world.snapshot(now));
    let verdicts = verdicts(&world, &plan);
    let flags: Vec<FlagRow> = plan
        .flags
        .iter()
        .map(|f| FlagRow {
            target_id: f.target.clone(),
            account_key: f.key.clone(),
            kind: flag_kind(&f.kind).to_owned(),
            person_id: f.person_id.clone(),
            since: f.since.unwrap_or(now),
        })
        .collect();
    let enabled = world.accounts.iter().filter(|a| a.enabled).count();
    let trip = breaker(st).check(&plan, enabled).map(|t| serde_json::to_value(t).unwrap_or_default());
    let mut summary = serde_json::to_value(&plan.stats).unwrap_or_default();
    if mode == Mode::Execute {
        st.store.id_accounts_set_verdicts(&verdicts).await?;
        st.store.id_flags_replace(&flags).await?;
        // Person decisions wait with the plan when the breaker holds it: a truncated feed
        // must not suspend people either.
        if trip.is_none() {
            apply_decisions(st, ctx, &plan).await?;
            settle_moves(st, &world, now).await?;
        } else {
            summary["decisions"] = serde_json::to_value(&plan.decisions).unwrap_or_default();
        }
    }
    let actions = queued_of(&plan);
    let (plan_id, status) =
        store_plan(st, ctx, "scheduled", "reconciliation", actions, summary.clone(), trip, mode).await?;
    Ok(ReconcileOutcome { plan_id, status, summary, target_errors })
}

/// Each account's owner and situation after the run: the links it started from, plus
/// the ones it proposed, minus the ones it dropped.
fn verdicts(world: &World, plan: &reconcile::Plan) -> Vec<AccountVerdict> {
    let mut owner: HashMap<(&str, &str), (&str, &str)> =
        world.links.iter().map(|l| ((l.target.as_str(), l.key.as_str()), (l.person_id.as_str(), ""))).collect();
    for l in &plan.links_proposed {
        owner.insert((l.target.as_str(), l.key.as_str()), (l.person_id.as_str(), "correlation"));
    }
    for l in &plan.links_dropped {
        owner.remove(&(l.target.as_str(), l.key.as_str()));
    }
    world
        .accounts
        .iter()
        .zip(&plan.situations)
        .map(|(a, s)| {
            let o = owner.get(&(a.target.as_str(), a.key.as_str()));
            // A proposed link is stored with this verdict: from now on the account is linked.
            let s = if *s == reconcile::Situation::Unlinked && o.is_some() { reconcile::Situation::Linked } else { *s };
            (a, s, o)
        })
        .filter(|(a, s, o)| {
            let now = (o.map(|(p, _)| (*p).to_owned()), bposhield_store::identity::wire(s));
            world.stored.get(&(a.target.clone(), a.key.clone())) != Some(&now)
        })
        .map(|(a, s, o)| {
            AccountVerdict {
                target: a.target.clone(),
                key: a.key.clone(),
                owner: o.map(|(p, _)| (*p).to_owned()),
                // Empty: an existing link, whose recorded source (e.g. manual) stays.
                link_source: o.map(|(_, how)| (*how).to_owned()).filter(|h| !h.is_empty()),
                situation: bposhield_store::identity::wire(&s),
            }
        })
        .collect()
}

fn flag_kind(k: &FlagKind) -> &'static str {
    match k {
        FlagKind::Dormant => "dormant",
        FlagKind::Orphan => "orphan",
        FlagKind::Collision => "collision",
        FlagKind::UnexpectedEntitlement { .. } => "unexpected_entitlement",
    }
}

/// A move whose grace period is over has had its clean-up planned: it is settled.
async fn settle_moves(st: &AppState, world: &World, now: Time) -> AppResult<()> {
    for p in &world.people {
        if let Some(m) = &p.moved_from {
            let grace = world.policies.for_process(m.process.as_deref()).mover.grace_days;
            if m.at + i64::from(grace) * bposhield_identity::model::DAY <= now {
                st.store.id_clear_move(&p.id).await?;
            }
        }
    }
    Ok(())
}
