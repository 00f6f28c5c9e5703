//! The identity lifecycle pages (risk R3): overview, a person's timeline with the
//! absconder decision, plans and approvals, the orphan queue, manual work items,
//! targets, the HR upload, and access reviews with their printable evidence report.
//!
//! Like every page these are thin: reads come from the store, every change goes through
//! the service functions of [`super::api`], [`super::plan`] and [`super::reviews`],
//! which authorize again and write the audit event. Forms post back with the CSRF token
//! and answer with a redirect to the page (with a notice in the query), or with the page
//! again (422/409) and the message beside the form that failed.

use super::api::{self, OwnerInput, TargetInput};
use super::hr::{HrMode, HrReport};
use super::plan::{self, Mode};
use super::reviews::{self, CampaignInput, DecisionInput};
use crate::api::ApiPath;
use crate::ctx::{Auth, Authed, Ctx};
use crate::error::{AppError, AppResult};
use crate::routes::{Access, Routes};
use crate::web::view::{
    can, employment_badge, link, page, page_status, see_other, time, time_or, Badge, FormData, FormView, Layout, Opt,
    OrgNames, QueryData,
};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bposhield_core::Action;
use bposhield_identity::model::{Correlation, Employment, SuspendReason, TargetKind};
use bposhield_proto::{ErrorCode, PersonId, ProcessId, Role};
use bposhield_store::identity::{AccountRow, ActionRow, CampaignRow, PlanRow, ReviewItemRow, TargetRow, WorkItemRow};
use bposhield_store::StoreError;
use std::collections::HashMap;

/// Registers the pages, each with the action of its API twin.
pub fn routes(r: Routes) -> Routes {
    use Access::Signed;
    use Action::{IdentityAdmin, IdentityApprove, IdentityFeed, IdentityView, IdentityWork, ReviewAdmin, ReviewDecide};
    r.get("/identity", Signed(IdentityView), overview)
        .post("/identity/reconcile", Signed(IdentityApprove), reconcile)
        .get("/identity/people/{id}", Signed(IdentityView), person)
        .post("/identity/people/{id}/absconder", Signed(IdentityFeed), absconder)
        .get("/identity/plans", Signed(IdentityView), plans)
        .get("/identity/plans/{id}", Signed(IdentityView), plan_detail)
        .post("/identity/plans/{id}/decision", Signed(IdentityApprove), decide_plan)
        .get("/identity/orphans", Signed(IdentityView), orphans)
        .post("/identity/orphans/owner", Signed(IdentityAdmin), assign_owner)
        .get("/identity/work-items", Signed(IdentityView), work_items)
        .post("/identity/work-items/{id}/complete", Signed(IdentityWork), complete_work_item)
        .get("/identity/targets", Signed(IdentityView), targets)
        .post("/identity/targets", Signed(IdentityAdmin), save_target)
        .post("/identity/targets/{id}/test", Signed(IdentityAdmin), test_target)
        .get("/identity/hr", Signed(IdentityFeed), hr_page)
        .post("/identity/hr", Signed(IdentityFeed), hr_upload)
        .get("/reviews", Signed(ReviewDecide), campaigns)
        .post("/reviews", Signed(ReviewAdmin), create_campaign)
        .get("/reviews/{id}", Signed(ReviewDecide), campaign)
        .post("/reviews/{id}/items/{item}/decision", Signed(ReviewDecide), decide_item)
        .post("/reviews/{id}/close", Signed(ReviewAdmin), close_campaign)
        .get("/reviews/{id}/report", Signed(ReviewDecide), campaign_report)
}

/// Rows read for a list or a count; a count that reaches it is shown as `N+`.
const LIMIT: i64 = 1000;

/// Plan statuses a list can be filtered by.
const PLAN_STATUSES: [&str; 5] = ["held", "queued", "simulated", "approved", "rejected"];

// ---- overview -----------------------------------------------------------------------------

struct TargetHealth {
    id: String,
    name: String,
    kind: &'static str,
    last_read: String,
    last_error: Option<String>,
    badge: Tag,
}

#[derive(Template)]
#[template(path = "identity_overview.html")]
struct OverviewPage {
    l: Layout,
    tabs: Vec<Tab>,
    held: String,
    orphans: String,
    open_items: String,
    overdue: usize,
    targets: Vec<TargetHealth>,
    action_counts: Vec<(String, i64)>,
    flags: Vec<(String, usize)>,
    can_run: bool,
}

/// `GET /identity`.
async fn overview(State(st): State<AppState>, Authed(ctx, auth): Authed) -> AppResult<Response> {
    let now = st.clock.now();
    let held = st.store.id_plans(Some("held"), LIMIT).await?.len();
    let orphans = st.store.id_accounts_in("unmatched", LIMIT).await?.len();
    let items = st.store.id_work_items(true, LIMIT).await?;
    let mut flags: Vec<(String, usize)> = Vec::new();
    for f in st.store.id_flags(None, LIMIT * 10).await? {
        match flags.iter_mut().find(|(k, _)| *k == f.kind) {
            Some((_, n)) => *n += 1,
            None => flags.push((f.kind, 1)),
        }
    }
    flags.sort();
    page(&OverviewPage {
        l: Layout::new(&ctx, "Identity lifecycle"),
        tabs: tabs(&auth, "/identity"),
        held: count_label(held),
        orphans: count_label(orphans),
        open_items: count_label(items.len()),
        overdue: items.iter().filter(|w| w.completed_at.is_none() && w.due_at < now).count(),
        targets: st.store.id_targets().await?.into_iter().map(target_health).collect(),
        action_counts: st.store.id_action_counts().await?,
        flags,
        can_run: can(&auth, Action::IdentityApprove),
    })
}

fn target_health(t: TargetRow) -> TargetHealth {
    let badge = match (&t.last_error, t.last_read_at, t.enabled) {
        (_, _, false) => Tag::new("none", "Disabled"),
        (Some(_), _, _) => Tag::new("fail", "Read failed"),
        _ if t.target.kind == TargetKind::Manual => Tag::new("accent", "Manual"),
        (None, Some(_), _) => Tag::new("pass", "Healthy"),
        (None, None, _) => Tag::new("none", "Never read"),
    };
    TargetHealth {
        id: t.target.id,
        name: t.target.name,
        kind: kind_label(t.target.kind),
        last_read: time_or(t.last_read_at, "never"),
        last_error: t.last_error,
        badge,
    }
}

/// `POST /identity/reconcile` (`mode` = `execute` or `dry_run`): runs now and shows the plan.
async fn reconcile(State(st): State<AppState>, Authed(ctx, _): Authed, form: FormData) -> AppResult<Response> {
    let mode = if form.get("mode") == "dry_run" { Mode::Simulate } else { Mode::Execute };
    let out = plan::reconcile_all(&st, &ctx, true, mode).await?;
    let errors = out.target_errors.len().to_string();
    // Nothing new (every change already pending in an earlier plan): the plan list.
    let to =
        if out.plan_id.is_empty() { "/identity/plans".to_owned() } else { format!("/identity/plans/{}", out.plan_id) };
    Ok(see_other(&link(
        &to,
        &[("run", out.status), ("target_errors", if errors == "0" { String::new() } else { errors })],
    )))
}

// ---- a person's timeline ------------------------------------------------------------------

struct HrEventView {
    at: String,
    source: String,
    kind: String,
    detail: String,
}

struct ActionView {
    plan_id: String,
    created: String,
    op: String,
    target: String,
    reason: String,
    status: Tag,
    attempts: i64,
    last_error: Option<String>,
    done: String,
}

struct AccountView {
    target: String,
    login: String,
    key: String,
    state: Tag,
    situation: String,
    entitlements: String,
}

#[derive(Template)]
#[template(path = "identity_person.html")]
struct PersonPage {
    l: Layout,
    tabs: Vec<Tab>,
    id: String,
    name: String,
    employee_id: String,
    badge: Badge,
    status_note: String,
    can_decide: bool,
    f: FormView,
    notice: Option<&'static str>,
    hr_events: Vec<HrEventView>,
    actions: Vec<ActionView>,
    accounts: Vec<AccountView>,
    activity: Vec<(String, String)>,
}

async fn person_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: PersonId,
    f: FormView,
    notice: Option<&'static str>,
) -> AppResult<PersonPage> {
    let p = st.store.person(id).await.map_err(|_| AppError::not_found("person"))?;
    let tl = api::load_timeline(st, ctx, auth, id).await?;
    let pid = id.to_string();
    let current = st.store.id_people(Some(std::slice::from_ref(&pid))).await?.into_iter().next();
    let (absconding, status_note) = match current.as_ref().map(|c| (&c.employment, c.status_since)) {
        Some((Employment::Suspended { reason: SuspendReason::Absconding }, since)) => {
            (true, format!("Suspended as an absconder since {}.", time_or(since, "an unknown time")))
        }
        Some((Employment::Suspended { reason: SuspendReason::Hr(why) }, since)) => {
            (false, format!("Suspended by HR since {}: {why}.", time_or(since, "an unknown time")))
        }
        _ => (false, String::new()),
    };
    let targets = target_names(st).await?;
    Ok(PersonPage {
        l: Layout::new(ctx, format!("Lifecycle of {} {}", p.given_name, p.family_name)),
        tabs: tabs(auth, ""),
        id: pid,
        name: format!("{} {}", p.given_name, p.family_name),
        employee_id: p.employee_id.clone(),
        badge: employment_badge(p.status),
        status_note,
        can_decide: absconding && can(auth, Action::IdentityFeed),
        f,
        notice,
        hr_events: tl
            .hr_events
            .into_iter()
            .map(|e| HrEventView { at: time(e.at), source: e.source, kind: e.kind, detail: compact_json(&e.detail) })
            .collect(),
        actions: tl.actions.into_iter().map(|a| action_view(&targets, a)).collect(),
        accounts: tl.accounts.into_iter().map(|a| account_view(&targets, a)).collect(),
        activity: tl.activity.into_iter().map(|(feed, at)| (feed, time(at))).collect(),
    })
}

fn action_view(targets: &HashMap<String, String>, a: ActionRow) -> ActionView {
    ActionView {
        created: time(a.created_at),
        target: targets.get(&a.target_id).cloned().unwrap_or(a.target_id),
        op: a.op_name,
        reason: a.reason,
        status: action_tag(&a.status),
        attempts: a.attempts,
        last_error: a.last_error,
        done: time_or(a.done_at, "—"),
        plan_id: a.plan_id,
    }
}

fn account_view(targets: &HashMap<String, String>, a: AccountRow) -> AccountView {
    let state = match (a.present, a.account.enabled) {
        (false, _) => Tag::new("none", "Deleted"),
        (true, true) => Tag::new("pass", "Enabled"),
        (true, false) => Tag::new("warn", "Disabled"),
    };
    AccountView {
        target: targets.get(&a.account.target).cloned().unwrap_or_else(|| a.account.target.clone()),
        login: a.account.login,
        key: a.account.key,
        state,
        situation: a.situation,
        entitlements: a.account.entitlements.into_iter().collect::<Vec<_>>().join(", "),
    }
}

/// `GET /identity/people/{id}`.
async fn person(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<PersonId>,
    q: QueryData,
) -> AppResult<Response> {
    let notice = match q.get("done") {
        "confirm_exit" => Some("Exit confirmed: the person is now a leaver and their access is being removed."),
        "reinstate" => Some("Reinstated: the person is active again."),
        _ => None,
    };
    page(&person_page(&st, &ctx, &auth, id, FormView::default(), notice).await?)
}

/// `POST /identity/people/{id}/absconder` (`decision` = `confirm_exit` or `reinstate`, `note`).
async fn absconder(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<PersonId>,
    form: FormData,
) -> AppResult<Response> {
    let decision = form.get("decision").to_owned();
    match api::absconder(&st, &ctx, &auth, id, &decision, form.get("note")).await {
        Ok(()) => Ok(see_other(&link(&format!("/identity/people/{id}"), &[("done", decision)]))),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &["decision", "note"], &[])?;
            page_status(status, &person_page(&st, &ctx, &auth, id, f, None).await?)
        }
    }
}

// ---- plans --------------------------------------------------------------------------------

struct PlanListRow {
    id: String,
    kind: String,
    status: Tag,
    cause: String,
    created: String,
    created_by: String,
    actions: String,
}

#[derive(Template)]
#[template(path = "identity_plans.html")]
struct PlansPage {
    l: Layout,
    tabs: Vec<Tab>,
    f: FormView,
    status_opts: Vec<Opt>,
    rows: Vec<PlanListRow>,
}

/// `GET /identity/plans?status=`.
async fn plans(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let status = q.opt("status");
    if let Some(s) = status.as_deref() {
        if !PLAN_STATUSES.contains(&s) {
            return Err(AppError::field(
                ErrorCode::InvalidQuery,
                "status",
                "held, queued, simulated, approved or rejected",
            ));
        }
    }
    let mut names = Names::default();
    let mut rows = Vec::new();
    for p in st.store.id_plans(status.as_deref(), 200).await? {
        rows.push(PlanListRow {
            status: plan_tag(&p.status),
            created: time(p.created_at),
            created_by: names.actor(&st, &p.created_by).await,
            actions: p.summary.get("actions").map(ToString::to_string).unwrap_or_default(),
            id: p.id,
            kind: p.kind,
            cause: p.cause,
        });
    }
    page(&PlansPage {
        l: Layout::new(&ctx, "Plans"),
        tabs: tabs(&auth, "/identity/plans"),
        f: FormView::with(&[("status", status.unwrap_or_default())]),
        status_opts: PLAN_STATUSES.iter().map(|s| Opt::new(*s, capitalised(s))).collect(),
        rows,
    })
}

#[derive(Template)]
#[template(path = "identity_plan.html")]
struct PlanPage {
    l: Layout,
    tabs: Vec<Tab>,
    id: String,
    kind: String,
    status: Tag,
    cause: String,
    created: String,
    created_by: String,
    decided: Option<String>,
    decision_note: Option<String>,
    breaker: Option<String>,
    summary: String,
    actions: Vec<ActionView>,
    can_decide: bool,
    f: FormView,
    notice: Option<String>,
}

async fn plan_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: &str,
    f: FormView,
    notice: Option<String>,
) -> AppResult<PlanPage> {
    let p: PlanRow = st.store.id_plan(id).await.map_err(|_| AppError::not_found("plan"))?;
    let targets = target_names(st).await?;
    let actions = st.store.id_plan_actions(id, 5000).await?;
    let mut names = Names::default();
    let decided = match (&p.decided_by, p.decided_at) {
        (Some(by), Some(at)) => Some(format!("{} by {}", time(at), names.actor(st, by).await)),
        _ => None,
    };
    Ok(PlanPage {
        l: Layout::new(ctx, format!("Plan {}", short(&p.id))),
        tabs: tabs(auth, "/identity/plans"),
        status: plan_tag(&p.status),
        created: time(p.created_at),
        created_by: names.actor(st, &p.created_by).await,
        decided,
        decision_note: p.decision_note.filter(|n| !n.is_empty()),
        breaker: p
            .breaker
            .as_ref()
            .map(|b| b.get("limit").and_then(|v| v.as_str()).map_or_else(|| compact_json(b), str::to_owned)),
        summary: serde_json::to_string_pretty(&p.summary).unwrap_or_default(),
        actions: actions.into_iter().map(|a| action_view(&targets, a)).collect(),
        can_decide: p.status == "held" && can(auth, Action::IdentityApprove),
        f,
        notice,
        id: p.id,
        kind: p.kind,
        cause: p.cause,
    })
}

/// `GET /identity/plans/{id}`.
async fn plan_detail(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<String>,
    q: QueryData,
) -> AppResult<Response> {
    let mut notice = match (q.get("run"), q.get("decided")) {
        ("held", _) => Some("Reconciliation finished: the circuit breaker held the plan for approval.".to_owned()),
        ("simulated", _) => Some("Dry-run finished: this is what would happen; nothing was changed.".to_owned()),
        ("", "approve") => Some("Plan approved: its actions are queued.".to_owned()),
        ("", "reject") => Some("Plan rejected: its actions are cancelled.".to_owned()),
        ("", _) => None,
        _ => Some("Reconciliation finished: the plan's actions are queued.".to_owned()),
    };
    if let Some(n) = q.opt("target_errors") {
        let text = format!(" {n} target(s) could not be read: see Targets.");
        notice = Some(notice.unwrap_or_default() + &text);
    }
    page(&plan_page(&st, &ctx, &auth, &id, FormView::default(), notice).await?)
}

/// `POST /identity/plans/{id}/decision` (`decision` = `approve` or `reject`, `note`).
async fn decide_plan(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<String>,
    form: FormData,
) -> AppResult<Response> {
    let result = match form.get("decision") {
        d @ ("approve" | "reject") => {
            api::decide_plan(&st, &ctx, Some(&auth), &id, d == "approve", form.get("note")).await.map(|()| d)
        }
        _ => Err(AppError::field(ErrorCode::InvalidField, "decision", "choose approve or reject")),
    };
    match result {
        Ok(d) => Ok(see_other(&link(&format!("/identity/plans/{id}"), &[("decided", d.to_owned())]))),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &["note"], &[])?;
            page_status(status, &plan_page(&st, &ctx, &auth, &id, f, None).await?)
        }
    }
}

// ---- orphans ------------------------------------------------------------------------------

struct OrphanRow {
    target_id: String,
    target: String,
    key: String,
    login: String,
    employee_id: String,
    email: String,
    seen: String,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "identity_orphans.html")]
struct OrphansPage {
    l: Layout,
    tabs: Vec<Tab>,
    rows: Vec<OrphanRow>,
    can_assign: bool,
    general: Option<String>,
    notice: Option<String>,
}

/// An owner form that was sent back: which row, what was typed, what is wrong.
struct RowError {
    row: (String, String),
    value: String,
    message: Option<String>,
}

async fn orphans_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    err: Option<RowError>,
    general: Option<String>,
    notice: Option<String>,
) -> AppResult<OrphansPage> {
    let targets = target_names(st).await?;
    let rows = st
        .store
        .id_accounts_in("unmatched", LIMIT)
        .await?
        .into_iter()
        .map(|a| {
            let mine = err.as_ref().filter(|e| e.row.0 == a.account.target && e.row.1 == a.account.key);
            OrphanRow {
                target: targets.get(&a.account.target).cloned().unwrap_or_else(|| a.account.target.clone()),
                value: mine.map(|e| e.value.clone()).unwrap_or_default(),
                error: mine.and_then(|e| e.message.clone()),
                target_id: a.account.target,
                key: a.account.key,
                login: a.account.login,
                employee_id: a.account.employee_id.unwrap_or_default(),
                email: a.account.email.unwrap_or_default(),
                seen: time(a.seen_at),
            }
        })
        .collect();
    Ok(OrphansPage {
        l: Layout::new(ctx, "Orphan accounts"),
        tabs: tabs(auth, "/identity/orphans"),
        rows,
        can_assign: can(auth, Action::IdentityAdmin),
        general,
        notice,
    })
}

/// `GET /identity/orphans`.
async fn orphans(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let notice = q.opt("assigned").map(|login| format!("Owner assigned to {login}."));
    page(&orphans_page(&st, &ctx, &auth, None, None, notice).await?)
}

/// `POST /identity/orphans/owner` (`target_id`, `account_key`, `employee_id`).
async fn assign_owner(State(st): State<AppState>, Authed(ctx, auth): Authed, form: FormData) -> AppResult<Response> {
    let target_id = form.get("target_id").to_owned();
    let account_key = form.get("account_key").to_owned();
    let employee_id = form.get("employee_id").trim().to_owned();
    let result = match person_by_employee_id(&st, &employee_id, "employee_id").await {
        Ok(p) => {
            let i = OwnerInput { target_id: target_id.clone(), account_key: account_key.clone(), person_id: p };
            api::assign(&st, &ctx, Some(&auth), &i).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&link("/identity/orphans", &[("assigned", account_key)]))),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &["employee_id"], &[("person_id", "employee_id")])?;
            let err = RowError {
                row: (target_id, account_key),
                value: employee_id,
                message: f.err("employee_id").map(str::to_owned),
            };
            page_status(status, &orphans_page(&st, &ctx, &auth, Some(err), f.general, None).await?)
        }
    }
}

// ---- manual work items --------------------------------------------------------------------

struct WorkRow {
    id: String,
    person: Option<(String, String)>,
    target: String,
    op: String,
    reason: String,
    due: String,
    sla: Tag,
    overdue: bool,
    open: bool,
    completed: String,
    proof: String,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "identity_work.html")]
struct WorkPage {
    l: Layout,
    tabs: Vec<Tab>,
    rows: Vec<WorkRow>,
    all: bool,
    can_complete: bool,
    general: Option<String>,
    notice: Option<&'static str>,
}

async fn work_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    all: bool,
    err: Option<(String, String, Option<String>)>,
    general: Option<String>,
    notice: Option<&'static str>,
) -> AppResult<WorkPage> {
    let now = st.clock.now();
    let mut items: Vec<WorkItemRow> = st.store.id_work_items(!all, LIMIT).await?;
    // Open items first, the most urgent on top; then the latest completed.
    items.sort_by_key(|w| (w.completed_at.is_some(), w.completed_at.map_or(w.due_at, |c| -c)));
    let mut names = Names::default();
    let mut rows = Vec::with_capacity(items.len());
    for w in items {
        let open = w.completed_at.is_none();
        let overdue = open && w.due_at < now;
        let sla = match (open, overdue, w.escalated_at) {
            (false, _, _) => Tag::new("pass", "Done"),
            (true, true, Some(_)) => Tag::new("fail", "Overdue, escalated"),
            (true, true, None) => Tag::new("fail", "Overdue"),
            (true, false, _) => Tag::new("accent", "Within SLA"),
        };
        let person = match &w.action.person_id {
            Some(p) => Some((format!("/identity/people/{p}"), names.person(st, p).await)),
            None => None,
        };
        let completed = match (&w.completed_by, w.completed_at) {
            (Some(by), Some(at)) => format!("{} by {}", time(at), names.actor(st, by).await),
            _ => String::new(),
        };
        let mine = err.as_ref().filter(|(id, _, _)| *id == w.action.id);
        rows.push(WorkRow {
            value: mine.map(|(_, v, _)| v.clone()).unwrap_or_default(),
            error: mine.and_then(|(_, _, m)| m.clone()),
            id: w.action.id,
            person,
            target: w.target_name,
            op: w.action.op_name,
            reason: w.action.reason,
            due: time(w.due_at),
            sla,
            overdue,
            open,
            completed,
            proof: w.proof.unwrap_or_default(),
        });
    }
    Ok(WorkPage {
        l: Layout::new(ctx, "Work items"),
        tabs: tabs(auth, "/identity/work-items"),
        rows,
        all,
        can_complete: can(auth, Action::IdentityWork),
        general,
        notice,
    })
}

/// `GET /identity/work-items?all=1`.
async fn work_items(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let notice = q.has("completed").then_some("Work item completed; the proof is recorded in the ledger.");
    page(&work_page(&st, &ctx, &auth, q.get("all") == "1", None, None, notice).await?)
}

/// `POST /identity/work-items/{id}/complete` (`proof`).
async fn complete_work_item(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<String>,
    form: FormData,
) -> AppResult<Response> {
    match api::complete_item(&st, &ctx, Some(&auth), &id, form.get("proof")).await {
        Ok(()) => Ok(see_other("/identity/work-items?completed=1")),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &["proof"], &[])?;
            let err = (id, form.get("proof").to_owned(), f.err("proof").map(str::to_owned));
            page_status(status, &work_page(&st, &ctx, &auth, false, Some(err), f.general, None).await?)
        }
    }
}

// ---- targets ------------------------------------------------------------------------------

struct TargetListRow {
    h: TargetHealth,
    process: String,
    correlation: &'static str,
    config: String,
}

#[derive(Template)]
#[template(path = "identity_targets.html")]
struct TargetsPage {
    l: Layout,
    tabs: Vec<Tab>,
    rows: Vec<TargetListRow>,
    can_admin: bool,
    f: FormView,
    kind_opts: Vec<Opt>,
    process_opts: Vec<Opt>,
    correlation_opts: Vec<Opt>,
    notice: Option<String>,
    tested: Option<(String, bool, String)>,
}

/// The fields of the target form.
const TARGET_FIELDS: [&str; 7] = ["id", "name", "kind", "process_id", "correlation", "config", "enabled"];

const KINDS: [(TargetKind, &str, &str); 5] = [
    (TargetKind::Directory, "directory", "Directory (LDAP / Active Directory)"),
    (TargetKind::Application, "application", "Application (SCIM)"),
    (TargetKind::Telephony, "telephony", "Telephony / dialler"),
    (TargetKind::AccessCard, "access_card", "Access cards (PACS)"),
    (TargetKind::Manual, "manual", "Manual (work items for IT)"),
];

const CORRELATIONS: [(Correlation, &str, &str); 3] = [
    (Correlation::EmployeeId, "employee_id", "Employee id"),
    (Correlation::Email, "email", "E-mail"),
    (Correlation::Login, "login", "Login"),
];

async fn targets_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    f: Option<FormView>,
    edit: Option<&str>,
    notice: Option<String>,
    tested: Option<(String, bool, String)>,
) -> AppResult<TargetsPage> {
    let names = OrgNames::load(st).await?;
    let all = st.store.id_targets().await?;
    let f = f.unwrap_or_else(|| match all.iter().find(|t| Some(t.target.id.as_str()) == edit) {
        Some(t) => FormView::with(&[
            ("id", t.target.id.clone()),
            ("name", t.target.name.clone()),
            ("kind", kind_wire(t.target.kind).to_owned()),
            ("process_id", t.target.process.clone().unwrap_or_default()),
            ("correlation", correlation_wire(t.target.correlation).to_owned()),
            ("config", serde_json::to_string_pretty(&t.config).unwrap_or_default()),
            ("enabled", if t.enabled { "1" } else { "" }.to_owned()),
        ]),
        None => FormView::with(&[
            ("kind", "manual".to_owned()),
            ("correlation", "employee_id".to_owned()),
            ("config", "{}".to_owned()),
            ("enabled", "1".to_owned()),
        ]),
    });
    let rows = all
        .into_iter()
        .map(|t| TargetListRow {
            process: t
                .target
                .process
                .as_deref()
                .and_then(|p| p.parse::<ProcessId>().ok())
                .map_or_else(|| "All".to_owned(), |p| names.process(p)),
            correlation: CORRELATIONS.iter().find(|c| c.0 == t.target.correlation).map_or("", |c| c.2),
            config: compact_json(&t.config),
            h: target_health(t),
        })
        .collect();
    Ok(TargetsPage {
        l: Layout::new(ctx, "Targets"),
        tabs: tabs(auth, "/identity/targets"),
        rows,
        can_admin: can(auth, Action::IdentityAdmin),
        f,
        kind_opts: KINDS.iter().map(|k| Opt::new(k.1, k.2)).collect(),
        process_opts: names.process_opts(),
        correlation_opts: CORRELATIONS.iter().map(|c| Opt::new(c.1, c.2)).collect(),
        notice,
        tested,
    })
}

/// `GET /identity/targets?edit=`.
async fn targets(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let notice = q.opt("saved").map(|id| format!("Target {id} saved."));
    page(&targets_page(&st, &ctx, &auth, None, q.opt("edit").as_deref(), notice, None).await?)
}

/// Reads the target form; malformed choices are reported together.
fn target_input(form: &FormData) -> AppResult<TargetInput> {
    let mut problems = Vec::new();
    let kind = KINDS.iter().find(|k| k.1 == form.get("kind")).map(|k| k.0);
    if kind.is_none() {
        problems.push(bposhield_core::validate::FieldError::invalid("kind", "choose a kind from the list"));
    }
    let correlation = CORRELATIONS.iter().find(|c| c.1 == form.get("correlation")).map(|c| c.0);
    if correlation.is_none() {
        problems.push(bposhield_core::validate::FieldError::invalid("correlation", "choose how accounts are matched"));
    }
    let process_id = crate::web::view::parse_opt::<ProcessId>(
        form.opt("process_id"),
        "process_id",
        "choose a process unit from the list",
        &mut problems,
    );
    let config = match form.opt("config") {
        None => serde_json::json!({}),
        Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.is_object() => v,
            Ok(_) => {
                problems.push(bposhield_core::validate::FieldError::invalid("config", "must be a JSON object"));
                serde_json::Value::Null
            }
            Err(e) => {
                problems.push(bposhield_core::validate::FieldError::invalid("config", format!("is not JSON: {e}")));
                serde_json::Value::Null
            }
        },
    };
    match (kind, correlation) {
        (Some(kind), Some(correlation)) if problems.is_empty() => Ok(TargetInput {
            id: form.get("id").trim().to_owned(),
            name: form.get("name").trim().to_owned(),
            kind,
            process_id,
            correlation,
            config,
            enabled: form.has("enabled"),
        }),
        _ => Err(AppError::from_problems(problems)),
    }
}

/// `POST /identity/targets`: creates or replaces (by id) a target.
async fn save_target(State(st): State<AppState>, Authed(ctx, auth): Authed, form: FormData) -> AppResult<Response> {
    let result = match target_input(&form) {
        Ok(i) => api::save_target(&st, &ctx, Some(&auth), &i).await.map(|()| i.id),
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => Ok(see_other(&link("/identity/targets", &[("saved", id)]))),
        Err(e) => {
            let mut f = form.view();
            if !form.has("enabled") {
                f.set("enabled", "");
            }
            let status = f.absorb(e, &TARGET_FIELDS, &[])?;
            page_status(status, &targets_page(&st, &ctx, &auth, Some(f), None, None, None).await?)
        }
    }
}

/// `POST /identity/targets/{id}/test`: shows the outcome on the targets page. Testing
/// changes nothing (beyond its audit event), so the page is answered directly.
async fn test_target(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<String>,
    _form: FormData,
) -> AppResult<Response> {
    let out = api::test_connection(&st, &ctx, &id).await?;
    page(&targets_page(&st, &ctx, &auth, None, None, None, Some((id, out.ok, out.message))).await?)
}

// ---- HR upload ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "identity_hr.html")]
struct HrPage {
    l: Layout,
    tabs: Vec<Tab>,
    f: FormView,
    mode_opts: Vec<Opt>,
    /// Figures of the batch just applied (from the redirect's query).
    applied: Vec<(&'static str, String)>,
    /// The report of a rejected file.
    report: Option<HrReport>,
}

/// The figures of an applied batch, in the order shown, as named in the query.
const HR_FIGURES: [(&str, &str); 9] = [
    ("received", "Rows received"),
    ("joiners", "Joiners"),
    ("leavers", "Leavers"),
    ("movers", "Movers"),
    ("status_changes", "Status changes"),
    ("updated", "Other updates"),
    ("unchanged", "Unchanged"),
    ("absent", "Absent from this full file"),
    ("gone", "Gone (missing from several full files)"),
];

fn hr_page_of(
    ctx: &Ctx,
    auth: &Auth,
    f: FormView,
    applied: Vec<(&'static str, String)>,
    report: Option<HrReport>,
) -> HrPage {
    HrPage {
        l: Layout::new(ctx, "HR upload"),
        tabs: tabs(auth, "/identity/hr"),
        f,
        mode_opts: vec![
            Opt::new("delta", "Delta: only the people in the file changed"),
            Opt::new("full", "Full: everyone HR knows (people missing count as absent)"),
        ],
        applied,
        report,
    }
}

/// `GET /identity/hr`.
async fn hr_page(Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let applied = if q.has("applied") {
        HR_FIGURES.iter().map(|(k, label)| (*label, q.get(k).parse::<u64>().unwrap_or(0).to_string())).collect()
    } else {
        Vec::new()
    };
    let f = FormView::with(&[("mode", q.opt("mode").filter(|m| m == "full").unwrap_or_else(|| "delta".into()))]);
    page(&hr_page_of(&ctx, &auth, f, applied, None))
}

/// `POST /identity/hr` (`csv`, `mode`): applies the file, or shows every rejected row.
/// A file applied answers with a redirect, so reloading the page never applies it twice.
async fn hr_upload(State(st): State<AppState>, Authed(ctx, auth): Authed, form: FormData) -> AppResult<Response> {
    let mode = if form.get("mode") == "full" { HrMode::Full } else { HrMode::Delta };
    let csv = form.get("csv");
    let result = if csv.trim().is_empty() {
        Err(AppError::field(ErrorCode::InvalidField, "csv", "is required: paste the HR file"))
    } else if csv.len() > st.config.identity.max_csv_bytes {
        Err(AppError::field(ErrorCode::BodyTooLarge, "csv", "is larger than identity.max_csv_bytes"))
    } else {
        let mapping = bposhield_identity::hrcsv::ColumnMapping::default();
        api::import_csv(&st, &ctx, Some(&auth), csv.as_bytes(), &mapping, mode).await
    };
    let mut f = form.view();
    match result {
        Ok(r) if r.applied => {
            let figures = [
                r.received,
                r.joiners,
                r.leavers,
                r.movers,
                r.status_changes,
                r.updated,
                r.unchanged,
                r.absent,
                r.gone,
            ];
            let mut pairs: Vec<(&str, String)> = vec![("applied", "1".to_owned())];
            pairs.extend(HR_FIGURES.iter().zip(figures).map(|((k, _), v)| (*k, v.to_string())));
            Ok(see_other(&link("/identity/hr", &pairs)))
        }
        Ok(r) => {
            f.general =
                Some(format!("Nothing was applied: {} of {} rows must be fixed first.", r.rejected.len(), r.received));
            page_status(StatusCode::UNPROCESSABLE_ENTITY, &hr_page_of(&ctx, &auth, f, Vec::new(), Some(r)))
        }
        Err(e) => {
            let status = f.absorb(e, &["csv", "mode"], &[])?;
            page_status(status, &hr_page_of(&ctx, &auth, f, Vec::new(), None))
        }
    }
}

// ---- access reviews -----------------------------------------------------------------------

struct CampaignListRow {
    id: String,
    name: String,
    status: Tag,
    scope: String,
    reviewer: String,
    deadline: String,
    default_decision: String,
    created: String,
}

#[derive(Template)]
#[template(path = "reviews.html")]
struct CampaignsPage {
    l: Layout,
    tabs: Vec<Tab>,
    rows: Vec<CampaignListRow>,
    can_admin: bool,
    f: FormView,
    process_opts: Vec<Opt>,
    target_opts: Vec<Opt>,
    reviewer_opts: Vec<Opt>,
    decision_opts: Vec<Opt>,
}

/// The fields of the campaign form.
const CAMPAIGN_FIELDS: [&str; 6] =
    ["name", "process_id", "target_id", "reviewer_role", "deadline_days", "default_decision"];

async fn campaigns_page(st: &AppState, ctx: &Ctx, auth: &Auth, f: Option<FormView>) -> AppResult<CampaignsPage> {
    let names = OrgNames::load(st).await?;
    let targets = target_names(st).await?;
    let rows = st
        .store
        .id_campaigns(200)
        .await?
        .into_iter()
        .map(|c| CampaignListRow {
            status: campaign_tag(&c),
            scope: campaign_scope(&names, &targets, &c),
            reviewer: role_label(&c.reviewer_role),
            deadline: time(c.deadline),
            default_decision: c.default_decision,
            created: time(c.created_at),
            id: c.id,
            name: c.name,
        })
        .collect();
    let mut target_opts: Vec<Opt> = targets.into_iter().map(|(id, name)| Opt::new(id, name)).collect();
    target_opts.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(CampaignsPage {
        l: Layout::new(ctx, "Access reviews"),
        tabs: tabs(auth, "/reviews"),
        rows,
        can_admin: can(auth, Action::ReviewAdmin),
        f: f.unwrap_or_else(|| {
            FormView::with(&[
                ("reviewer_role", "team_manager".to_owned()),
                ("deadline_days", "14".to_owned()),
                ("default_decision", "revoke".to_owned()),
            ])
        }),
        process_opts: names.process_opts(),
        target_opts,
        reviewer_opts: [Role::TeamManager, Role::ProcessHead, Role::SecurityOfficer]
            .iter()
            .map(|r| Opt::new(r.as_str(), r.label()))
            .collect(),
        decision_opts: vec![
            Opt::new("revoke", "Revoke (access nobody vouched for is removed)"),
            Opt::new("keep", "Keep"),
        ],
    })
}

/// `GET /reviews`.
async fn campaigns(State(st): State<AppState>, Authed(ctx, auth): Authed) -> AppResult<Response> {
    page(&campaigns_page(&st, &ctx, &auth, None).await?)
}

/// Reads the campaign form.
fn campaign_input(form: &FormData) -> AppResult<CampaignInput> {
    let mut problems = Vec::new();
    let process_id = crate::web::view::parse_opt::<ProcessId>(
        form.opt("process_id"),
        "process_id",
        "choose a process unit from the list",
        &mut problems,
    );
    let reviewer_role = crate::web::view::parse_opt::<Role>(
        Some(form.get("reviewer_role").to_owned()),
        "reviewer_role",
        "choose who reviews",
        &mut problems,
    );
    let deadline_days = crate::web::view::parse_opt::<i64>(
        Some(form.get("deadline_days").trim().to_owned()),
        "deadline_days",
        "must be a number of days",
        &mut problems,
    );
    match (reviewer_role, deadline_days) {
        (Some(reviewer_role), Some(deadline_days)) if problems.is_empty() => Ok(CampaignInput {
            name: form.get("name").trim().to_owned(),
            process_id,
            target_id: form.opt("target_id"),
            reviewer_role,
            deadline_days,
            default_decision: form.get("default_decision").to_owned(),
        }),
        _ => Err(AppError::from_problems(problems)),
    }
}

/// `POST /reviews`.
async fn create_campaign(State(st): State<AppState>, Authed(ctx, auth): Authed, form: FormData) -> AppResult<Response> {
    let result = match campaign_input(&form) {
        Ok(i) => reviews::create(&st, &ctx, Some(&auth), &i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(c) => Ok(see_other(&format!("/reviews/{}?created=1", c.id))),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &CAMPAIGN_FIELDS, &[])?;
            page_status(status, &campaigns_page(&st, &ctx, &auth, Some(f)).await?)
        }
    }
}

struct ItemRow {
    id: String,
    target: String,
    login: String,
    person: Option<(String, String)>,
    entitlements: String,
    decision: Option<Tag>,
    comment: String,
    decided: String,
    error: Option<String>,
    value: String,
}

/// The campaign and its figures, shared by the campaign page and its report.
struct CampaignView {
    id: String,
    name: String,
    status: Tag,
    open: bool,
    scope: String,
    reviewer: String,
    deadline: String,
    default_decision: String,
    created: String,
    closed: String,
    kept: u64,
    revoked: u64,
    pending: u64,
    defaulted: u64,
    total: usize,
    stamps: Vec<String>,
    items: Vec<ItemRow>,
}

async fn campaign_view(
    st: &AppState,
    auth: &Auth,
    id: &str,
    err: Option<(String, String, String)>,
) -> AppResult<CampaignView> {
    let r = reviews::report(st, id).await?;
    let mine = reviews::items_for(st, auth, &r.campaign).await?;
    let org = OrgNames::load(st).await?;
    let targets = target_names(st).await?;
    let mut names = Names::default();
    let mut stamps = Vec::new();
    for s in &r.rubber_stamps {
        stamps.push(format!(
            "{} kept {} items within {} seconds: too fast to have read them.",
            names.actor(st, &s.reviewer).await,
            s.decisions,
            s.seconds
        ));
    }
    let mut items = Vec::with_capacity(mine.len());
    for i in mine {
        items.push(item_row(st, &targets, &mut names, i, err.as_ref()).await);
    }
    let c = &r.campaign;
    Ok(CampaignView {
        id: c.id.clone(),
        name: c.name.clone(),
        status: campaign_tag(c),
        open: c.status == "open",
        scope: campaign_scope(&org, &targets, c),
        reviewer: role_label(&c.reviewer_role),
        deadline: time(c.deadline),
        default_decision: c.default_decision.clone(),
        created: format!("{} by {}", time(c.created_at), names.actor(st, &c.created_by).await),
        closed: time_or(c.closed_at, "—"),
        kept: r.kept,
        revoked: r.revoked,
        pending: r.pending,
        defaulted: r.defaulted,
        total: r.items.len(),
        stamps,
        items,
    })
}

async fn item_row(
    st: &AppState,
    targets: &HashMap<String, String>,
    names: &mut Names,
    i: ReviewItemRow,
    err: Option<&(String, String, String)>,
) -> ItemRow {
    let person = match &i.person_id {
        Some(p) => Some((format!("/identity/people/{p}"), names.person(st, p).await)),
        None => None,
    };
    let decided = match (&i.decided_by, i.decided_at) {
        (Some(by), Some(at)) => format!("{} by {}", time(at), names.actor(st, by).await),
        _ => String::new(),
    };
    let mine = err.filter(|(item, _, _)| *item == i.id);
    ItemRow {
        target: targets.get(&i.target_id).cloned().unwrap_or_else(|| i.target_id.clone()),
        login: i.login,
        person,
        entitlements: i.entitlements.join(", "),
        decision: i.decision.as_deref().map(|d| match d {
            "keep" => Tag::new("pass", "Keep"),
            _ => Tag::new("fail", "Revoke"),
        }),
        comment: i.comment.unwrap_or_default(),
        decided,
        error: mine.map(|(_, _, m)| m.clone()),
        value: mine.map(|(_, v, _)| v.clone()).unwrap_or_default(),
        id: i.id,
    }
}

#[derive(Template)]
#[template(path = "review.html")]
struct CampaignPage {
    l: Layout,
    tabs: Vec<Tab>,
    c: CampaignView,
    can_close: bool,
    general: Option<String>,
    notice: Option<&'static str>,
}

async fn campaign_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: &str,
    err: Option<(String, String, String)>,
    general: Option<String>,
    notice: Option<&'static str>,
) -> AppResult<CampaignPage> {
    let c = campaign_view(st, auth, id, err).await?;
    Ok(CampaignPage {
        l: Layout::new(ctx, format!("Review: {}", c.name)),
        tabs: tabs(auth, "/reviews"),
        can_close: c.open && can(auth, Action::ReviewAdmin),
        c,
        general,
        notice,
    })
}

/// `GET /reviews/{id}`.
async fn campaign(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<String>,
    q: QueryData,
) -> AppResult<Response> {
    let notice = if q.has("created") {
        Some("Campaign created: reviewers can decide their items now.")
    } else if q.has("decided") {
        Some("Decision recorded.")
    } else if q.has("closed") {
        Some("Campaign closed: undecided items took the default decision and revocations are queued.")
    } else {
        None
    };
    page(&campaign_page(&st, &ctx, &auth, &id, None, None, notice).await?)
}

/// `POST /reviews/{id}/items/{item}/decision` (`decision` = `keep` or `revoke`, `comment`).
async fn decide_item(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath((id, item)): ApiPath<(String, String)>,
    form: FormData,
) -> AppResult<Response> {
    let d = DecisionInput { decision: form.get("decision").to_owned(), comment: form.get("comment").to_owned() };
    match reviews::decide(&st, &ctx, &auth, &id, &item, &d).await {
        Ok(_) => Ok(see_other(&format!("/reviews/{id}?decided=1#item-{item}"))),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &["decision", "comment"], &[])?;
            let message = f
                .err("decision")
                .or(f.err("comment"))
                .map(str::to_owned)
                .or_else(|| f.general.clone())
                .unwrap_or_default();
            let err = (item, d.comment, message);
            page_status(status, &campaign_page(&st, &ctx, &auth, &id, Some(err), f.general, None).await?)
        }
    }
}

/// `POST /reviews/{id}/close`.
async fn close_campaign(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<String>,
    _form: FormData,
) -> AppResult<Response> {
    match reviews::close(&st, &ctx, Some(&auth), &id).await {
        Ok(_) => Ok(see_other(&format!("/reviews/{id}?closed=1"))),
        Err(e) => {
            let mut f = FormView::default();
            let status = f.absorb(e, &[], &[])?;
            page_status(status, &campaign_page(&st, &ctx, &auth, &id, None, f.general, None).await?)
        }
    }
}

#[derive(Template)]
#[template(path = "review_report.html")]
struct ReportPage {
    l: Layout,
    c: CampaignView,
    generated: String,
    generated_by: String,
}

/// `GET /reviews/{id}/report`: the campaign as printable evidence.
async fn campaign_report(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let c = campaign_view(&st, &auth, &id, None).await?;
    page(&ReportPage {
        l: Layout::new(&ctx, format!("Access review report: {}", c.name)),
        c,
        generated: time(st.clock.now()),
        generated_by: auth.user.username.clone(),
    })
}

// ---- shared helpers -----------------------------------------------------------------------

/// A badge with a text of its own (the shared [`Badge`] holds static labels).
struct Tag {
    class: &'static str,
    label: String,
}

impl Tag {
    fn new(class: &'static str, label: impl Into<String>) -> Self {
        Self { class, label: label.into() }
    }
}

/// One link of the module's sub-navigation.
struct Tab {
    href: &'static str,
    label: &'static str,
    active: bool,
}

/// The module's pages the caller may open.
fn tabs(auth: &Auth, current: &str) -> Vec<Tab> {
    const TABS: [(&str, &str, Action); 7] = [
        ("/identity", "Overview", Action::IdentityView),
        ("/identity/plans", "Plans", Action::IdentityView),
        ("/identity/orphans", "Orphans", Action::IdentityView),
        ("/identity/work-items", "Work items", Action::IdentityView),
        ("/identity/targets", "Targets", Action::IdentityView),
        ("/identity/hr", "HR upload", Action::IdentityFeed),
        ("/reviews", "Access reviews", Action::ReviewDecide),
    ];
    TABS.iter()
        .filter(|(_, _, a)| can(auth, *a))
        .map(|&(href, label, _)| Tab { href, label, active: href == current })
        .collect()
}

/// Display names of people and actors, looked up once per page.
#[derive(Default)]
struct Names {
    people: HashMap<String, String>,
    actors: HashMap<String, String>,
}

impl Names {
    /// `Given Family (E123)` of a person id (the id itself when unknown).
    async fn person(&mut self, st: &AppState, id: &str) -> String {
        if let Some(n) = self.people.get(id) {
            return n.clone();
        }
        let name = match id.parse::<PersonId>() {
            Ok(pid) => match st.store.person(pid).await {
                Ok(p) => format!("{} {} ({})", p.given_name, p.family_name, p.employee_id),
                Err(_) => id.to_owned(),
            },
            Err(_) => id.to_owned(),
        };
        self.people.insert(id.to_owned(), name.clone());
        name
    }

    /// The username behind `user:<id>`; other actors (`system`, `token:…`) as they are.
    async fn actor(&mut self, st: &AppState, actor: &str) -> String {
        if let Some(n) = self.actors.get(actor) {
            return n.clone();
        }
        let name = match actor.strip_prefix("user:").and_then(|u| u.parse().ok()) {
            Some(uid) => st.store.user(uid).await.map_or_else(|_| actor.to_owned(), |u| u.username),
            None => actor.to_owned(),
        };
        self.actors.insert(actor.to_owned(), name.clone());
        name
    }
}

/// Target id → name.
async fn target_names(st: &AppState) -> AppResult<HashMap<String, String>> {
    Ok(st.store.id_targets().await?.into_iter().map(|t| (t.target.id, t.target.name)).collect())
}

/// The person with this employee id, or a problem of `field`.
async fn person_by_employee_id(st: &AppState, employee_id: &str, field: &str) -> AppResult<PersonId> {
    if employee_id.is_empty() {
        return Err(AppError::field(ErrorCode::InvalidField, field, "is required"));
    }
    match st.store.person_by_employee_id(employee_id).await {
        Ok(p) => Ok(p.id),
        Err(StoreError::NotFound) => {
            Err(AppError::field(ErrorCode::UnknownReference, field, "no person has this employee id"))
        }
        Err(e) => Err(e.into()),
    }
}

fn count_label(n: usize) -> String {
    if n as i64 >= LIMIT {
        format!("{n}+")
    } else {
        n.to_string()
    }
}

fn plan_tag(status: &str) -> Tag {
    let class = match status {
        "held" => "warn",
        "queued" => "accent",
        "approved" => "pass",
        "rejected" => "fail",
        _ => "none",
    };
    Tag::new(class, capitalised(status))
}

fn action_tag(status: &str) -> Tag {
    let (class, label) = match status {
        "done" => ("pass", "Done"),
        "failed" => ("fail", "Failed"),
        "queued" => ("accent", "Queued"),
        "running" => ("accent", "Running"),
        "manual" => ("warn", "Work item"),
        "held" | "held_manual" => ("warn", "Held"),
        "cancelled" => ("none", "Cancelled"),
        "simulated" => ("none", "Simulated"),
        other => ("none", other),
    };
    Tag::new(class, label)
}

fn campaign_tag(c: &CampaignRow) -> Tag {
    if c.status == "open" {
        Tag::new("accent", "Open")
    } else {
        Tag::new("none", capitalised(&c.status))
    }
}

/// What a campaign covers, in words.
fn campaign_scope(org: &OrgNames, targets: &HashMap<String, String>, c: &CampaignRow) -> String {
    let process = c
        .process_id
        .as_deref()
        .and_then(|p| p.parse::<ProcessId>().ok())
        .map_or_else(|| "All processes".to_owned(), |p| org.process(p));
    match &c.target_id {
        Some(t) => format!("{process} · {}", targets.get(t).map_or(t.as_str(), String::as_str)),
        None => process,
    }
}

fn role_label(role: &str) -> String {
    role.parse::<Role>().map_or_else(|_| role.to_owned(), |r| r.label().to_owned())
}

fn kind_label(k: TargetKind) -> &'static str {
    KINDS.iter().find(|x| x.0 == k).map_or("", |x| x.2)
}

fn kind_wire(k: TargetKind) -> &'static str {
    KINDS.iter().find(|x| x.0 == k).map_or("", |x| x.1)
}

fn correlation_wire(c: Correlation) -> &'static str {
    CORRELATIONS.iter().find(|x| x.0 == c).map_or("", |x| x.1)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect::<String>().replace('_', " "))
}

/// The first block of a UUID, enough to tell plans apart in a title.
fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// A JSON value on one line (`—` when empty).
fn compact_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".to_owned(),
        serde_json::Value::Object(m) if m.is_empty() => "—".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(capitalised("held_manual"), "Held manual");
        assert_eq!(capitalised(""), "");
        assert_eq!(short("0190aaaa-bbbb"), "0190aaaa");
        assert_eq!(count_label(3), "3");
        assert_eq!(count_label(1000), "1000+");
        assert_eq!(compact_json(&serde_json::json!({})), "—");
        assert_eq!(action_tag("manual").label, "Work item");
        assert_eq!(role_label("team_manager"), Role::TeamManager.label());
        assert_eq!(kind_wire(TargetKind::AccessCard), "access_card");
    }
}
