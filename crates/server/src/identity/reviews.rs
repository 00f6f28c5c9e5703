//! Access reviews: campaigns over the accounts of a process (optionally one target),
//! decided keep/revoke by the process head or team managers, revocations executed
//! through the connectors, and a report of the campaign as evidence.

use super::plan::{self, Mode, Queued};
use crate::audit::Outcome;
use crate::ctx::{Auth, Ctx};
use crate::error::{AppError, AppResult};
use crate::services::check;
use crate::AppState;
use bposhield_core::{Action, Resource};
use bposhield_identity::model::Op;
use bposhield_proto::{ErrorCode, EventId, PersonId, ProcessId, Role};
use bposhield_store::identity::{CampaignRow, ReviewItemRow};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

/// A new campaign.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    pub name: String,
    /// The process whose people's accounts are reviewed (`None`: everyone).
    #[serde(default)]
    pub process_id: Option<ProcessId>,
    /// Only this target's accounts.
    #[serde(default)]
    pub target_id: Option<String>,
    /// `process_head` or `team_manager` (of each account owner's team).
    pub reviewer_role: Role,
    /// Days until the deadline.
    pub deadline_days: i64,
    /// What happens to items nobody decided by the deadline: `keep` or `revoke`.
    pub default_decision: String,
}

/// A reviewer's decision.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// `keep` or `revoke`.
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

/// A reviewer who approved many items faster than anyone can read them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RubberStamp {
    pub reviewer: String,
    pub decisions: u64,
    /// Seconds between the first and the last of those decisions.
    pub seconds: i64,
}

/// The campaign as evidence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignReport {
    #[schema(value_type = Object)]
    pub campaign: CampaignRow,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<ReviewItemRow>,
    pub kept: u64,
    pub revoked: u64,
    pub pending: u64,
    pub defaulted: u64,
    pub rubber_stamps: Vec<RubberStamp>,
}

/// Decisions at least this many, within [`STAMP_WINDOW`] seconds, flag a rubber stamp.
const STAMP_MIN: usize = 50;
const STAMP_WINDOW: i64 = 60;

fn new_id(st: &AppState) -> String {
    EventId::new_v7(u64::try_from(st.clock.now_ms()).unwrap_or(0)).to_string()
}

/// Creates a campaign over the present, enabled, owned accounts in scope.
pub async fn create(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, i: &CampaignInput) -> AppResult<CampaignRow> {
    check(st, ctx, auth, Action::ReviewAdmin, Resource::Global).await?;
    if i.name.trim().is_empty() || i.name.len() > 200 {
        return Err(AppError::field(ErrorCode::InvalidField, "name", "1-200 characters"));
    }
    if !matches!(i.reviewer_role, Role::ProcessHead | Role::TeamManager | Role::SecurityOfficer) {
        return Err(AppError::field(
            ErrorCode::InvalidField,
            "reviewer_role",
            "process_head, team_manager or security_officer",
        ));
    }
    if !(1..=365).contains(&i.deadline_days) {
        return Err(AppError::field(ErrorCode::InvalidField, "deadline_days", "1 to 365"));
    }
    if !matches!(i.default_decision.as_str(), "keep" | "revoke") {
        return Err(AppError::field(ErrorCode::InvalidField, "default_decision", "keep or revoke"));
    }
    if let Some(p) = i.process_id {
        st.store
            .process(p)
            .await
            .map_err(|_| AppError::field(ErrorCode::UnknownReference, "process_id", "no such process"))?;
    }
    if let Some(t) = &i.target_id {
        st.store
            .id_target(t)
            .await
            .map_err(|_| AppError::field(ErrorCode::UnknownReference, "target_id", "no such target"))?;
    }
    let process = i.process_id.map(|p| p.to_string());
    let people = st.store.id_people(None).await?;
    let in_scope: HashMap<&str, &bposhield_identity::model::Person> =
        people.iter().filter(|p| process.is_none() || p.process == process).map(|p| (p.id.as_str(), p)).collect();
    let now = st.clock.now();
    let id = new_id(st);
    let items: Vec<ReviewItemRow> = st
        .store
        .id_accounts(None)
        .await?
        .into_iter()
        .filter(|a| a.present && a.account.enabled)
        .filter(|a| i.target_id.as_ref().is_none_or(|t| *t == a.account.target))
        .filter_map(|a| {
            let owner = in_scope.get(a.owner.as_deref()?)?;
            Some(ReviewItemRow {
                id: new_id(st),
                campaign_id: id.clone(),
                target_id: a.account.target.clone(),
                account_key: a.account.key.clone(),
                person_id: Some(owner.id.clone()),
                team_id: owner.team.clone(),
                login: a.account.login.clone(),
                entitlements: a.account.entitlements.iter().cloned().collect(),
                decision: None,
                comment: None,
                decided_by: None,
                decided_at: None,
                action_id: None,
            })
        })
        .collect();
    let c = CampaignRow {
        id: id.clone(),
        name: i.name.trim().to_owned(),
        process_id: process,
        target_id: i.target_id.clone(),
        reviewer_role: i.reviewer_role.to_string(),
        deadline: now + i.deadline_days * 86_400,
        default_decision: i.default_decision.clone(),
        status: "open".into(),
        created_by: ctx.actor_ref(),
        created_at: now,
        closed_at: None,
    };
    st.store.id_campaign_insert(&c, &items).await?;
    st.audit(
        ctx,
        "review.campaign.create",
        &format!("campaign:{id}"),
        Outcome::Success,
        json!({ "items": items.len(), "process": c.process_id, "target": c.target_id, "reviewer_role": c.reviewer_role }),
    )
    .await?;
    Ok(c)
}

/// Where an item sits in the organisation, for the reviewer's scope check.
async fn item_resource(st: &AppState, item: &ReviewItemRow) -> AppResult<Resource> {
    let Some(pid) = item.person_id.as_deref().and_then(|p| p.parse::<PersonId>().ok()) else {
        return Ok(Resource::Global);
    };
    let p = st.store.person(pid).await?;
    Ok(Resource::Org { site: p.site_id, process: p.process_id, team: p.team_id })
}

/// Whether the caller may decide items of this campaign: holds the campaign's reviewer
/// role (or security officer) at a scope covering the item.
fn reviewer_allowed(auth: &Auth, c: &CampaignRow, res: Resource) -> bool {
    auth.actor.grants.iter().any(|(role, scope)| {
        let role_ok = role.to_string() == c.reviewer_role || *role == Role::SecurityOfficer;
        role_ok
            && match res {
                Resource::Org { site, process, team } => bposhield_core::authz::covers(*scope, site, process, team),
                _ => *scope == bposhield_proto::Scope::Global,
            }
    })
}

/// The items the caller may decide (all for the security officer).
pub async fn items_for(st: &AppState, auth: &Auth, c: &CampaignRow) -> AppResult<Vec<ReviewItemRow>> {
    let mut out = Vec::new();
    for it in st.store.id_review_items(&c.id).await? {
        if reviewer_allowed(auth, c, item_resource(st, &it).await?) {
            out.push(it);
        }
    }
    Ok(out)
}

/// Records a reviewer's decision; a revocation is queued at once.
pub async fn decide(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    campaign: &str,
    item: &str,
    d: &DecisionInput,
) -> AppResult<ReviewItemRow> {
    if !matches!(d.decision.as_str(), "keep" | "revoke") {
        return Err(AppError::field(ErrorCode::InvalidField, "decision", "keep or revoke"));
    }
    if d.comment.len() > 2000 {
        return Err(AppError::field(ErrorCode::InvalidField, "comment", "at most 2000 characters"));
    }
    let c = st.store.id_campaign(campaign).await.map_err(|_| AppError::not_found("campaign"))?;
    let it = st
        .store
        .id_review_items(campaign)
        .await?
        .into_iter()
        .find(|x| x.id == item)
        .ok_or_else(|| AppError::not_found("review item"))?;
    let res = item_resource(st, &it).await?;
    check(st, ctx, Some(auth), Action::ReviewDecide, res).await?;
    if !reviewer_allowed(auth, &c, res) {
        st.audit(
            ctx,
            "review.decide",
            &format!("review_item:{item}"),
            Outcome::Denied,
            json!({ "reason": "not a reviewer of this item" }),
        )
        .await?;
        return Err(AppError::new(ErrorCode::Forbidden, "not allowed: you are not a reviewer of this item"));
    }
    let by = ctx.actor_ref();
    if !st.store.id_review_decide(item, &d.decision, d.comment.trim(), &by, st.clock.now()).await? {
        return Err(AppError::new(ErrorCode::Conflict, "this item is already decided or the campaign is closed"));
    }
    st.audit(
        ctx,
        "review.decide",
        &format!("review_item:{item}"),
        Outcome::Success,
        json!({ "campaign": campaign, "decision": d.decision, "target": it.target_id, "person": it.person_id }),
    )
    .await?;
    if d.decision == "revoke" {
        queue_revocations(st, ctx, &c, std::slice::from_ref(&it)).await?;
    }
    st.store
        .id_review_items(campaign)
        .await?
        .into_iter()
        .find(|x| x.id == item)
        .ok_or_else(|| AppError::not_found("review item"))
}

/// Revoked accounts are disabled through their target (a plan of kind `review`).
async fn queue_revocations(st: &AppState, ctx: &Ctx, c: &CampaignRow, items: &[ReviewItemRow]) -> AppResult<()> {
    let todo: Vec<&ReviewItemRow> = items.iter().filter(|i| i.action_id.is_none()).collect();
    if todo.is_empty() {
        return Ok(());
    }
    let actions: Vec<Queued> = todo
        .iter()
        .map(|i| Queued {
            person: i.person_id.clone(),
            target: i.target_id.clone(),
            key: Some(i.account_key.clone()),
            op: Op::Disable,
            reason: "review".into(),
            not_before: 0,
        })
        .collect();
    let (plan_id, _) = plan::store_plan(
        st,
        ctx,
        "review",
        &format!("campaign:{}", c.id),
        actions,
        json!({ "campaign": c.id, "revocations": todo.len() }),
        None,
        Mode::Execute,
    )
    .await?;
    // An empty id: every revocation was pending already (an earlier plan holds it).
    if !plan_id.is_empty() {
        for i in todo {
            st.store.id_review_item_action(&i.id, &plan_id).await?;
        }
    }
    Ok(())
}

/// Closes a campaign: undecided items take the default decision, revocations queued.
pub async fn close(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, campaign: &str) -> AppResult<CampaignReport> {
    check(st, ctx, auth, Action::ReviewAdmin, Resource::Global).await?;
    let c = st.store.id_campaign_close(campaign, st.clock.now()).await.map_err(|e| match e {
        bposhield_store::StoreError::NotFound => AppError::new(ErrorCode::Conflict, "no open campaign with this id"),
        other => other.into(),
    })?;
    let items = st.store.id_review_items(campaign).await?;
    let revoke: Vec<ReviewItemRow> = items.into_iter().filter(|i| i.decision.as_deref() == Some("revoke")).collect();
    queue_revocations(st, ctx, &c, &revoke).await?;
    let r = report(st, campaign).await?;
    st.audit(
        ctx,
        "review.campaign.close",
        &format!("campaign:{campaign}"),
        Outcome::Success,
        json!({ "kept": r.kept, "revoked": r.revoked, "defaulted": r.defaulted, "rubber_stamps": r.rubber_stamps.len() }),
    )
    .await?;
    Ok(r)
}

/// Finds reviewers who decided [`STAMP_MIN`] or more approvals within [`STAMP_WINDOW`] seconds.
pub fn rubber_stamps(items: &[ReviewItemRow]) -> Vec<RubberStamp> {
    let mut by: HashMap<&str, Vec<i64>> = HashMap::new();
    for i in items {
        if let (Some(who), Some(at), Some("keep")) = (i.decided_by.as_deref(), i.decided_at, i.decision.as_deref()) {
            if who != "system" {
                by.entry(who).or_default().push(at);
            }
        }
    }
    let mut out = Vec::new();
    for (who, mut times) in by {
        times.sort_unstable();
        let mut best: Option<(usize, i64)> = None;
        let mut lo = 0;
        for hi in 0..times.len() {
            while times[hi] - times[lo] > STAMP_WINDOW {
                lo += 1;
            }
            let n = hi - lo + 1;
            if n >= STAMP_MIN && best.is_none_or(|(b, _)| n > b) {
                best = Some((n, times[hi] - times[lo]));
            }
        }
        if let Some((n, secs)) = best {
            out.push(RubberStamp { reviewer: who.to_owned(), decisions: n as u64, seconds: secs });
        }
    }
    out.sort_by(|a, b| a.reviewer.cmp(&b.reviewer));
    out
}

/// The campaign with its items and figures.
pub async fn report(st: &AppState, campaign: &str) -> AppResult<CampaignReport> {
    let c = st.store.id_campaign(campaign).await.map_err(|_| AppError::not_found("campaign"))?;
    let items = st.store.id_review_items(campaign).await?;
    let count = |d: &str| items.iter().filter(|i| i.decision.as_deref() == Some(d)).count() as u64;
    Ok(CampaignReport {
        kept: count("keep"),
        revoked: count("revoke"),
        pending: items.iter().filter(|i| i.decision.is_none()).count() as u64,
        defaulted: items.iter().filter(|i| i.decided_by.as_deref() == Some("system")).count() as u64,
        rubber_stamps: rubber_stamps(&items),
        campaign: c,
        items,
    })
}

/// The report as CSV (one row per item).
#[must_use]
pub fn report_csv(r: &CampaignReport) -> String {
    fn cell(s: &str) -> String {
        // Formula injection: a cell starting with = + - @ is text, not a formula.
        let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let mut out =
        String::from("campaign,target,account,login,person,entitlements,decision,comment,decided_by,decided_at\n");
    for i in &r.items {
        let row = [
            r.campaign.name.clone(),
            i.target_id.clone(),
            i.account_key.clone(),
            i.login.clone(),
            i.person_id.clone().unwrap_or_default(),
            i.entitlements.join(";"),
            i.decision.clone().unwrap_or_else(|| "pending".into()),
            i.comment.clone().unwrap_or_default(),
            i.decided_by.clone().unwrap_or_default(),
            i.decided_at.map(bposhield_core::clock::format_time).unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// Opens the periodic review of every process unit that has owned, enabled accounts
/// and no campaign opened in the last `identity.review_every_days` (scheduled job).
/// Reviewers are the process heads; the deadline and the default decision come from
/// the configuration. Returns the campaigns opened.
pub async fn schedule_due(st: &AppState, ctx: &Ctx) -> AppResult<usize> {
    let cfg = &st.config.identity;
    if cfg.review_every_days == 0 {
        return Ok(0);
    }
    let now = st.clock.now();
    let since = now - cfg.review_every_days * 86_400;
    let campaigns = st.store.id_campaigns(10_000).await?;
    let people = st.store.id_people(None).await?;
    let process_of: HashMap<&str, Option<&str>> =
        people.iter().map(|p| (p.id.as_str(), p.process.as_deref())).collect();
    let mut with_accounts = std::collections::BTreeSet::new();
    for a in st.store.id_accounts(None).await?.iter().filter(|a| a.present && a.account.enabled) {
        if let Some(Some(p)) = a.owner.as_deref().and_then(|o| process_of.get(o)) {
            with_accounts.insert((*p).to_owned());
        }
    }
    let mut opened = 0;
    for p in st.store.processes(None).await? {
        let pid = p.id.to_string();
        let recent = campaigns.iter().any(|c| c.process_id.as_deref() == Some(pid.as_str()) && c.created_at >= since);
        if recent || !with_accounts.contains(&pid) {
            continue;
        }
        let input = CampaignInput {
            name: format!("{} periodic access review {}", p.code, bposhield_core::clock::date_of(now)),
            process_id: Some(p.id),
            target_id: None,
            reviewer_role: Role::ProcessHead,
            deadline_days: cfg.review_deadline_days,
            default_decision: cfg.review_default_decision.clone(),
        };
        create(st, ctx, None, &input).await?;
        opened += 1;
    }
    Ok(opened)
}

/// Reminds reviewers of open campaigns with undecided items, at most once a day per
/// campaign: the reminder is an audit event (what a mail or chat notifier delivers).
pub async fn remind(st: &AppState, ctx: &Ctx) -> AppResult<usize> {
    let now = st.clock.now();
    let mut sent = 0;
    for c in st.store.id_campaigns(500).await?.into_iter().filter(|c| c.status == "open") {
        let pending = st.store.id_review_items(&c.id).await?.iter().filter(|i| i.decision.is_none()).count();
        if pending == 0 {
            continue;
        }
        // A lease nobody renews (a fresh holder each time): one reminder a day, whichever
        // replica sends it.
        let lease = format!("review.reminder.{}", c.id);
        let holder = format!("{}-{}", st.instance, hex::encode(rand::random::<[u8; 8]>()));
        if !st.store.acquire_lease(&lease, &holder, now, now + 86_400 - 1).await? {
            continue;
        }
        st.audit(
            ctx,
            "review.reminder",
            &format!("campaign:{}", c.id),
            Outcome::Success,
            json!({ "reviewer_role": c.reviewer_role, "pending": pending, "deadline": c.deadline }),
        )
        .await?;
        sent += 1;
    }
    Ok(sent)
}

/// Closes campaigns past their deadline (scheduled job).
pub async fn close_due(st: &AppState, ctx: &Ctx) -> AppResult<usize> {
    let due = st.store.id_campaigns_due(st.clock.now()).await?;
    for id in &due {
        close(st, ctx, None, id).await?;
    }
    Ok(due.len())
}
