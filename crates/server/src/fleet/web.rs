//! The fleet pages: hosts by site and process with compliance and last seen (`/fleet`),
//! one host with its facts, every check's evidence and its device timeline
//! (`/fleet/hosts/{id}`), exception requests, decisions and the offline code generator
//! (`/fleet/exceptions`), policies with validation and assignments, settings
//! (`/fleet/policies`), and enrollment tokens (`/fleet/tokens`).

use super::{host_scope, visible_host, Decide};
use crate::api::ApiPath;
use crate::ctx::{Auth, Authed, Ctx};
use crate::error::{AppError, AppResult};
use crate::routes::{Access, Routes};
use crate::web::view::{
    can, page, page_status, see_other, time, time_or, FormData, FormView, Layout, Opt, OptGroup, OrgNames, QueryData,
};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bposhield_core::Action;
use bposhield_proto::fleet::*;
use bposhield_proto::{EnrollTokenId, ErrorCode, ExceptionId, HostId, PolicyId, ProcessId, SiteId, UserId};
use bposhield_store::fleet::{DeviceEventFilter, HostFilter};
use std::collections::HashMap;

pub fn routes(r: Routes) -> Routes {
    use Access::Signed;
    use Action::{FleetAdmin, FleetExceptionApprove, FleetExceptionRequest, FleetView};
    r.get("/fleet", Signed(FleetView), hosts)
        .get("/fleet/hosts/{id}", Signed(FleetView), host)
        .post("/fleet/hosts/{id}/settings", Signed(FleetAdmin), host_settings)
        .post("/fleet/hosts/{id}/retire", Signed(FleetAdmin), retire)
        .get("/fleet/exceptions", Signed(FleetView), exceptions)
        .post("/fleet/exceptions", Signed(FleetExceptionRequest), request)
        .post("/fleet/exceptions/{id}/approve", Signed(FleetExceptionApprove), approve)
        .post("/fleet/exceptions/{id}/reject", Signed(FleetExceptionApprove), reject)
        .post("/fleet/exceptions/{id}/revoke", Signed(FleetExceptionApprove), revoke)
        .post("/fleet/offline-codes", Signed(FleetExceptionApprove), offline_code)
        .get("/fleet/policies", Signed(FleetView), policies)
        .post("/fleet/policies", Signed(FleetAdmin), create_policy)
        .post("/fleet/settings", Signed(FleetAdmin), settings)
        .get("/fleet/policies/{id}", Signed(FleetView), policy)
        .post("/fleet/policies/{id}", Signed(FleetAdmin), save_policy)
        .post("/fleet/policies/{id}/assignments", Signed(FleetAdmin), assign)
        .get("/fleet/tokens", Signed(FleetAdmin), tokens)
        .post("/fleet/tokens", Signed(FleetAdmin), create_token)
        .post("/fleet/tokens/{id}/revoke", Signed(FleetAdmin), revoke_token)
}

// ---- shared display helpers -------------------------------------------------------------

/// `SITE · PROCESS` of a host (the site alone for a host without a process).
fn unit(names: &OrgNames, site: SiteId, process: Option<ProcessId>) -> String {
    match process {
        Some(p) => format!(
            "{} / {}",
            names.sites.iter().find(|s| s.id == site).map_or("?", |s| s.code.as_str()),
            names.process_code(p)
        ),
        None => names.sites.iter().find(|s| s.id == site).map_or_else(|| "?".to_owned(), |s| s.code.clone()),
    }
}

fn score_class(score: i64, min: i64) -> &'static str {
    if score >= min {
        "pass"
    } else if score >= min - 15 {
        "warn"
    } else {
        "fail"
    }
}

/// "3 min ago", "2 d 4 h ago".
fn ago(now: i64, t: Option<i64>) -> String {
    match t {
        None => "never".into(),
        Some(t) => format!("{} ago", bposhield_core::controls::human_duration(now - t)),
    }
}

/// Usernames for `user:<id>` references (others shown as they are).
async fn names_of(st: &AppState, refs: Vec<String>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for r in refs {
        if out.contains_key(&r) {
            continue;
        }
        let shown = match r.strip_prefix("user:").and_then(|u| u.parse::<UserId>().ok()) {
            Some(id) => st.store.user(id).await.map_or_else(|_| r.clone(), |u| u.username),
            None => r.clone(),
        };
        out.insert(r, shown);
    }
    out
}

/// Who asked for and decided exceptions.
fn exception_people(v: &[FleetException]) -> Vec<String> {
    v.iter().flat_map(|x| std::iter::once(x.requested_by.clone()).chain(x.decided_by.clone())).collect()
}

/// A baseline's id as a short badge label: `bposhield_floor_desktop` → `floor desktop`.
fn short_policy(id: &str) -> String {
    id.strip_prefix("bposhield_").unwrap_or(id).replace('_', " ")
}

struct ScoreBadge {
    /// Short label (from the SCA policy id); the full name is the title.
    policy: String,
    title: String,
    /// The score, or `n/a` when nothing of the baseline applied to the host.
    score: String,
    class: &'static str,
}

struct HostRow {
    id: String,
    hostname: String,
    unit: String,
    os: String,
    agent: String,
    policy_version: i64,
    seen: String,
    silent: bool,
    usb: bool,
    queue: i64,
    updates: String,
    updates_late: bool,
    scores: Vec<ScoreBadge>,
    simulated: bool,
    retired: bool,
}

fn host_row(st: &AppState, names: &OrgNames, h: &HostSummary, now: i64) -> HostRow {
    let c = &st.config.fleet;
    let silent = h.last_seen_at.is_none_or(|t| now - t > c.not_reporting_hours * 3600);
    let late = h.pending_security_updates.unwrap_or(0) > 0
        && h.updates_pending_since.is_some_and(|s| now - s > c.updates_overdue_days * 86_400);
    HostRow {
        id: h.id.to_string(),
        hostname: h.hostname.clone(),
        unit: unit(names, h.site_id, h.process_id),
        os: h.os.clone(),
        agent: h.agent_version.clone(),
        policy_version: h.policy_version,
        seen: ago(now, h.last_seen_at),
        silent,
        usb: h.usb_enforcing,
        queue: h.queue_depth,
        updates: match (h.pending_security_updates, h.updates_pending_since) {
            (None, _) => "unknown".into(),
            (Some(0), _) => "none".into(),
            (Some(n), Some(s)) => format!("{n}, for {}", bposhield_core::controls::human_duration(now - s)),
            (Some(n), None) => n.to_string(),
        },
        updates_late: late,
        scores: h
            .scores
            .iter()
            .map(|s| ScoreBadge {
                policy: short_policy(&s.policy_id),
                title: s.policy_name.clone(),
                score: if s.passed + s.failed == 0 { "n/a".into() } else { s.score.to_string() },
                class: if s.passed + s.failed == 0 { "none" } else { score_class(s.score, c.min_baseline_score) },
            })
            .collect(),
        simulated: h.simulated,
        retired: h.retired_at.is_some(),
    }
}

// ---- hosts ----------------------------------------------------------------------------------

/// Whether any applicable baseline of a row scores below `min`.
fn any_score_below(scores: &[ScoreBadge], min: i64) -> bool {
    scores.iter().any(|s| s.score.parse::<i64>().is_ok_and(|v| v < min))
}

struct UnitRow {
    unit: String,
    hosts: usize,
    silent: usize,
    usb_off: usize,
    below: usize,
    critical: usize,
    average: String,
}

#[derive(Template)]
#[template(path = "fleet.html")]
struct HostsPage {
    l: Layout,
    rows: Vec<HostRow>,
    units: Vec<UnitRow>,
    total: u64,
    shown: usize,
    site: String,
    process: String,
    q: String,
    status: String,
    sites: Vec<Opt>,
    processes: Vec<Opt>,
    may_admin: bool,
    min_score: i64,
    not_reporting_hours: i64,
}

/// `GET /fleet?site=&process=&q=&status=`: hosts in scope with compliance and last
/// seen, and a summary per site/process.
async fn hosts(State(st): State<AppState>, Authed(ctx, a): Authed, q: QueryData) -> AppResult<Response> {
    let site: Option<SiteId> = crate::web::view::query_opt(&q, "site")?;
    let process: Option<ProcessId> = crate::web::view::query_opt(&q, "process")?;
    let status = q.get("status").trim().to_owned();
    let term = q.get("q").trim().to_owned();
    let filter = HostFilter {
        scope: host_scope(&st, &a.actor, Action::FleetView).await?,
        site_id: site,
        process_id: process,
        q: Some(term.clone()),
        include_retired: status == "retired",
        limit: 2000,
        offset: 0,
    };
    let (all, total) = st.store.fleet_hosts(&filter).await?;
    let names = OrgNames::load(&st).await?;
    let now = st.clock.now();
    let min = st.config.fleet.min_baseline_score;
    let mut units: Vec<UnitRow> = Vec::new();
    let every: Vec<HostRow> = all.iter().map(|h| host_row(&st, &names, h, now)).collect();
    let mut sums: HashMap<String, (i64, i64)> = HashMap::new();
    for (h, r) in all.iter().zip(&every) {
        let idx = match units.iter().position(|u| u.unit == r.unit) {
            Some(i) => i,
            None => {
                units.push(UnitRow {
                    unit: r.unit.clone(),
                    hosts: 0,
                    silent: 0,
                    usb_off: 0,
                    below: 0,
                    critical: 0,
                    average: String::new(),
                });
                units.len() - 1
            }
        };
        let u = &mut units[idx];
        u.hosts += 1;
        u.silent += usize::from(r.silent);
        u.usb_off += usize::from(!r.usb);
        u.below += usize::from(h.scores.iter().any(|s| s.passed + s.failed > 0 && s.score < min));
        u.critical += usize::from(h.scores.iter().any(|s| s.critical_failed > 0));
        let sum = sums.entry(r.unit.clone()).or_default();
        let applied = h.scores.iter().filter(|s| s.passed + s.failed > 0);
        sum.0 += applied.clone().map(|s| s.score).sum::<i64>();
        sum.1 += i64::try_from(applied.count()).unwrap_or(0);
    }
    for u in &mut units {
        u.average = match sums.get(&u.unit) {
            Some((sum, n)) if *n > 0 => (sum / n).to_string(),
            _ => "-".into(),
        };
    }
    units.sort_by(|a, b| a.unit.cmp(&b.unit));
    let rows: Vec<HostRow> = every
        .into_iter()
        .filter(|r| match status.as_str() {
            "silent" => r.silent,
            "usb_off" => !r.usb,
            "below" => any_score_below(&r.scores, min),
            "updates" => r.updates_late,
            "simulated" => r.simulated,
            "retired" => r.retired,
            _ => true,
        })
        .collect();
    page(&HostsPage {
        l: Layout::new(&ctx, "Fleet"),
        shown: rows.len(),
        rows,
        units,
        total,
        site: site.map(|s| s.to_string()).unwrap_or_default(),
        process: process.map(|p| p.to_string()).unwrap_or_default(),
        q: term,
        status,
        sites: names.site_opts(),
        processes: names.process_opts(),
        may_admin: can(&a, Action::FleetAdmin),
        min_score: min,
        not_reporting_hours: st.config.fleet.not_reporting_hours,
    })
}

struct CheckView {
    id: i64,
    title: String,
    result: String,
    class: &'static str,
    reason: String,
    critical: bool,
}

struct PolicyView {
    name: String,
    id: String,
    score: i64,
    class: &'static str,
    passed: i64,
    failed: i64,
    na: i64,
    at: String,
    checks: Vec<CheckView>,
    history: String,
}

struct EventView {
    at: String,
    host_id: String,
    hostname: String,
    decision: String,
    class: &'static str,
    device: String,
    id: String,
    hash: String,
    interfaces: String,
    blocked: String,
    reason: String,
    storage: bool,
}

fn event_view(e: &DeviceEventRow) -> EventView {
    EventView {
        at: time(e.at),
        host_id: e.host_id.to_string(),
        hostname: e.hostname.clone(),
        decision: e.decision.clone(),
        class: match e.decision.as_str() {
            "allowed" => "pass",
            "blocked" => "fail",
            "partial" => "warn",
            _ => "none",
        },
        device: e.name.clone(),
        id: e.vendor_product.clone(),
        hash: e.device_hash.clone(),
        interfaces: e.interfaces.join(" "),
        blocked: e.blocked_interfaces.join(" "),
        reason: e.reason.clone(),
        storage: e.storage_like,
    }
}

struct ExcView {
    id: String,
    host_id: String,
    hostname: String,
    device: String,
    hash: String,
    reason: String,
    hours: i64,
    status: String,
    class: &'static str,
    requested_by: String,
    requested_at: String,
    decided: String,
    expires: String,
    mine: bool,
}

fn exc_view(x: &FleetException, names: &HashMap<String, String>, me: &str) -> ExcView {
    let who = |r: &str| names.get(r).cloned().unwrap_or_else(|| r.to_owned());
    ExcView {
        id: x.id.to_string(),
        host_id: x.host_id.to_string(),
        hostname: x.hostname.clone(),
        device: if x.device_name.is_empty() { "(unnamed device)".into() } else { x.device_name.clone() },
        hash: x.device_hash.clone(),
        reason: x.reason.clone(),
        hours: x.hours,
        status: x.status.clone(),
        class: match x.status.as_str() {
            "approved" => "pass",
            "requested" => "accent",
            "rejected" | "revoked" => "fail",
            _ => "none",
        },
        requested_by: who(&x.requested_by),
        requested_at: time(x.requested_at),
        decided: match (&x.decided_by, x.decided_at) {
            (Some(b), Some(t)) => {
                format!("{} by {}{}", time(t), who(b), x.note.as_ref().map(|n| format!(": {n}")).unwrap_or_default())
            }
            _ => String::new(),
        },
        expires: time_or(x.expires_at, ""),
        mine: x.requested_by == me,
    }
}

struct FactsView {
    os: String,
    kernel: String,
    packages: i64,
    updates: String,
    firewall: String,
    screen_lock: String,
    password: String,
    listening: Vec<String>,
    at: String,
}

#[derive(Template)]
#[template(path = "fleet_host.html")]
struct HostPage {
    l: Layout,
    h: HostRow,
    enrolled: String,
    queue_dropped: i64,
    last_scan: String,
    bundle_version: i64,
    facts: Option<FactsView>,
    compliance: Vec<PolicyView>,
    events: Vec<EventView>,
    exceptions: Vec<ExcView>,
    may_admin: bool,
    may_request: bool,
    usb_setting: String,
    notice: String,
}

/// `GET /fleet/hosts/{id}`.
async fn host(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<HostId>,
    q: QueryData,
) -> AppResult<Response> {
    let d = super::host_detail(&st, &a, id).await?;
    let names = OrgNames::load(&st).await?;
    let now = st.clock.now();
    let min = st.config.fleet.min_baseline_score;
    let compliance = d
        .compliance
        .iter()
        .map(|c| {
            let history: Vec<String> =
                d.history.iter().filter(|p| p.policy_id == c.score.policy_id).map(|p| p.score.to_string()).collect();
            PolicyView {
                name: c.score.policy_name.clone(),
                id: c.score.policy_id.clone(),
                score: c.score.score,
                class: score_class(c.score.score, min),
                passed: c.score.passed,
                failed: c.score.failed,
                na: c.score.not_applicable,
                at: time(c.score.at),
                checks: c
                    .checks
                    .iter()
                    .map(|k| CheckView {
                        id: k.id,
                        title: k.title.clone(),
                        result: k.result.clone(),
                        class: match k.result.as_str() {
                            "passed" => "pass",
                            "failed" => "fail",
                            _ => "none",
                        },
                        reason: k.reason.clone(),
                        critical: k.severity == "critical",
                    })
                    .collect(),
                history: history.join(" → "),
            }
        })
        .collect();
    let facts = d.facts.as_ref().map(|f| FactsView {
        os: f.os.clone(),
        kernel: f.kernel.clone(),
        packages: f.packages,
        updates: match (f.pending_security_updates, f.updates_pending_since) {
            (0, _) => "none pending".into(),
            (n, Some(s)) => format!("{n} pending since {}", time(s)),
            (n, None) => format!("{n} pending"),
        },
        firewall: f.firewall.clone(),
        screen_lock: f.screen_lock_seconds.map_or_else(|| "not set".into(), |s| format!("after {} min", s / 60)),
        password: f.password_min_length.map_or_else(|| "unknown".into(), |n| format!("at least {n} characters")),
        listening: f.listening.clone(),
        at: time_or(d.facts_at, "never"),
    });
    let me = format!("user:{}", a.user.id);
    let who = names_of(&st, exception_people(&d.exceptions)).await;
    let settings = st.store.fleet_settings().await?;
    let usb_setting = settings
        .iter()
        .find(|s| s.scope == FleetScope::Host(id))
        .and_then(|s| s.usb_enforce)
        .map_or("inherit", |on| if on { "on" } else { "off" })
        .to_owned();
    page(&HostPage {
        l: Layout::new(&ctx, format!("Host {}", d.host.hostname)),
        h: host_row(&st, &names, &d.host, now),
        enrolled: time(d.host.enrolled_at),
        queue_dropped: d.host.queue_dropped,
        last_scan: time_or(d.host.last_scan_at, "never"),
        bundle_version: d.bundle_version,
        facts,
        compliance,
        events: d.events.iter().map(event_view).collect(),
        exceptions: d.exceptions.iter().map(|x| exc_view(x, &who, &me)).collect(),
        may_admin: can(&a, Action::FleetAdmin),
        may_request: can(&a, Action::FleetExceptionRequest),
        usb_setting,
        notice: match q.get("saved") {
            "settings" => "Saved. The host gets a new bundle version at its next heartbeat.".into(),
            "retired" => "The host is retired: its credential no longer works.".into(),
            _ => String::new(),
        },
    })
}

/// `POST /fleet/hosts/{id}/settings` with `usb_enforce` = inherit, on or off.
async fn host_settings(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<HostId>,
    f: FormData,
) -> AppResult<Response> {
    visible_host(&st, &a, Action::FleetAdmin, id).await?;
    let current = st.store.fleet_settings().await?.into_iter().find(|s| s.scope == FleetScope::Host(id));
    let usb_enforce = match f.get("usb_enforce") {
        "on" => Some(true),
        "off" => Some(false),
        "inherit" | "" => None,
        _ => return Err(AppError::field(ErrorCode::InvalidField, "usb_enforce", "inherit, on or off")),
    };
    let s = ScopeSettings {
        scope: FleetScope::Host(id),
        usb_enforce,
        scan_interval_seconds: current.as_ref().and_then(|c| c.scan_interval_seconds),
        heartbeat_seconds: current.as_ref().and_then(|c| c.heartbeat_seconds),
    };
    super::put_settings(&st, &ctx, &a, &s).await?;
    Ok(see_other(&format!("/fleet/hosts/{id}?saved=settings")))
}

/// `POST /fleet/hosts/{id}/retire`.
async fn retire(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<HostId>,
) -> AppResult<Response> {
    super::retire_host(&st, &ctx, &a, id).await?;
    Ok(see_other(&format!("/fleet/hosts/{id}?saved=retired")))
}

// ---- exceptions -------------------------------------------------------------------------------

struct CodeView {
    hostname: String,
    host_id: String,
    challenge: String,
    hours: i64,
    reason: String,
    issued_by: String,
    issued_at: String,
    used: String,
}

#[derive(Template)]
#[template(path = "fleet_exceptions.html")]
struct ExceptionsPage {
    l: Layout,
    pending: Vec<ExcView>,
    others: Vec<ExcView>,
    may_request: bool,
    may_approve: bool,
    hosts: Vec<Opt>,
    req: FormView,
    off: FormView,
    code: Option<OfflineCode>,
    code_until: String,
    codes: Vec<CodeView>,
    blocked: Vec<EventView>,
    notice: String,
}

async fn exceptions_page(
    st: &AppState,
    ctx: &Ctx,
    a: &Auth,
    req: FormView,
    off: FormView,
    code: Option<OfflineCode>,
    notice: String,
) -> AppResult<ExceptionsPage> {
    let all = super::list_exceptions(st, a, 500).await?;
    let me = format!("user:{}", a.user.id);
    let who = names_of(st, exception_people(&all)).await;
    let (pending, others): (Vec<&FleetException>, Vec<&FleetException>) =
        all.iter().partition(|x| x.status == "requested");
    let may_request = can(a, Action::FleetExceptionRequest);
    let may_approve = can(a, Action::FleetExceptionApprove);
    let hosts = if may_request {
        let scope = host_scope(st, &a.actor, Action::FleetExceptionRequest).await?;
        let (hs, _) = st.store.fleet_hosts(&HostFilter { scope, limit: 2000, ..Default::default() }).await?;
        hs.iter().map(|h| Opt::new(h.id.to_string(), h.hostname.clone())).collect()
    } else {
        Vec::new()
    };
    let view_scope = host_scope(st, &a.actor, Action::FleetView).await?;
    let codes = if may_approve {
        let rows = st.store.fleet_offline_codes(&view_scope, 50).await?;
        let who = names_of(st, rows.iter().map(|c| c.issued_by.clone()).collect()).await;
        rows.iter()
            .map(|c| CodeView {
                hostname: c.hostname.clone(),
                host_id: c.host_id.to_string(),
                challenge: c.challenge.clone(),
                hours: c.hours,
                reason: c.reason.clone(),
                issued_by: who.get(&c.issued_by).cloned().unwrap_or_else(|| c.issued_by.clone()),
                issued_at: time(c.issued_at),
                used: time_or(c.used_at, "not yet"),
            })
            .collect()
    } else {
        Vec::new()
    };
    let blocked = st
        .store
        .fleet_device_events(&DeviceEventFilter {
            scope: view_scope,
            decision: Some("blocked".into()),
            since: Some(st.clock.now() - 7 * 86_400),
            limit: 50,
            ..Default::default()
        })
        .await?;
    Ok(ExceptionsPage {
        l: Layout::new(ctx, "USB exceptions"),
        pending: pending.into_iter().map(|x| exc_view(x, &who, &me)).collect(),
        others: others.into_iter().map(|x| exc_view(x, &who, &me)).collect(),
        may_request,
        may_approve,
        hosts,
        req,
        off,
        code_until: code.as_ref().map(|c| time(c.valid_until)).unwrap_or_default(),
        code,
        codes,
        blocked: blocked.iter().map(event_view).collect(),
        notice,
    })
}

/// `GET /fleet/exceptions?host_id=&device_hash=&device_name=`: requests and decisions,
/// the request form (pre-filled from a blocked device), the offline code generator.
async fn exceptions(State(st): State<AppState>, Authed(ctx, a): Authed, q: QueryData) -> AppResult<Response> {
    let req = FormView::with(&[
        ("host_id", q.get("host_id").to_owned()),
        ("device_hash", q.get("device_hash").to_owned()),
        ("device_name", q.get("device_name").to_owned()),
        ("hours", "8".to_owned()),
    ]);
    let off = FormView::with(&[("hours", "4".to_owned())]);
    let notice = match q.get("saved") {
        "requested" => "Requested. Security or IT will decide.",
        "approved" => "Approved. The host receives the exception with its next bundle.",
        "rejected" => "Rejected.",
        "revoked" => "Revoked. The host loses the exception with its next bundle.",
        _ => "",
    };
    page(&exceptions_page(&st, &ctx, &a, req, off, None, notice.to_owned()).await?)
}

const REQUEST_FIELDS: [&str; 5] = ["host_id", "device_hash", "device_name", "reason", "hours"];

/// `POST /fleet/exceptions`: asks for an exception.
async fn request(State(st): State<AppState>, Authed(ctx, a): Authed, f: FormData) -> AppResult<Response> {
    let result = async {
        let host_id: HostId = f
            .get("host_id")
            .trim()
            .parse()
            .map_err(|_| AppError::field(ErrorCode::InvalidField, "host_id", "choose a host"))?;
        let hours: i64 = f
            .get("hours")
            .trim()
            .parse()
            .map_err(|_| AppError::field(ErrorCode::InvalidField, "hours", "a whole number of hours"))?;
        let input = ExceptionRequestInput {
            host_id,
            device_hash: f.get("device_hash").trim().to_owned(),
            device_name: f.get("device_name").trim().to_owned(),
            reason: f.get("reason").trim().to_owned(),
            hours,
        };
        super::request_exception(&st, &ctx, &a, &input).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/fleet/exceptions?saved=requested")),
        Err(e) => {
            let mut req = f.view();
            let status = req.absorb(e, &REQUEST_FIELDS, &[])?;
            let off = FormView::with(&[("hours", "4".to_owned())]);
            page_status(status, &exceptions_page(&st, &ctx, &a, req, off, None, String::new()).await?)
        }
    }
}

async fn decide_form(
    st: &AppState,
    ctx: &Ctx,
    a: &Auth,
    id: ExceptionId,
    f: &FormData,
    what: Decide,
) -> AppResult<Response> {
    super::decide_exception(st, ctx, a, id, what, f.opt("note").as_deref()).await?;
    let saved = match what {
        Decide::Approve => "approved",
        Decide::Reject => "rejected",
        Decide::Revoke => "revoked",
    };
    Ok(see_other(&format!("/fleet/exceptions?saved={saved}")))
}

/// `POST /fleet/exceptions/{id}/approve`.
async fn approve(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ExceptionId>,
    f: FormData,
) -> AppResult<Response> {
    decide_form(&st, &ctx, &a, id, &f, Decide::Approve).await
}

/// `POST /fleet/exceptions/{id}/reject` with a `note`.
async fn reject(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ExceptionId>,
    f: FormData,
) -> AppResult<Response> {
    decide_form(&st, &ctx, &a, id, &f, Decide::Reject).await
}

/// `POST /fleet/exceptions/{id}/revoke`.
async fn revoke(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ExceptionId>,
    f: FormData,
) -> AppResult<Response> {
    decide_form(&st, &ctx, &a, id, &f, Decide::Revoke).await
}

const OFFLINE_FIELDS: [&str; 4] = ["challenge", "hours", "reason", "host_id"];

/// `POST /fleet/offline-codes`: answers a challenge; the page shows the code once.
async fn offline_code(State(st): State<AppState>, Authed(ctx, a): Authed, f: FormData) -> AppResult<Response> {
    let result = async {
        let hours: i64 = f
            .get("hours")
            .trim()
            .parse()
            .map_err(|_| AppError::field(ErrorCode::InvalidField, "hours", "a whole number of hours"))?;
        let host_id = match f.opt("host_id") {
            None => None,
            Some(h) => {
                Some(h.parse().map_err(|_| AppError::field(ErrorCode::InvalidField, "host_id", "not a host id"))?)
            }
        };
        let input = OfflineCodeInput {
            challenge: f.get("challenge").to_owned(),
            hours,
            reason: f.get("reason").to_owned(),
            host_id,
        };
        super::offline_code(&st, &ctx, &a, &input).await
    }
    .await;
    let req = FormView::with(&[("hours", "8".to_owned())]);
    match result {
        Ok(code) => {
            let off = FormView::with(&[("hours", "4".to_owned())]);
            page(&exceptions_page(&st, &ctx, &a, req, off, Some(code), String::new()).await?)
        }
        Err(e) => {
            let mut off = f.view();
            let status = off.absorb(e, &OFFLINE_FIELDS, &[])?;
            page_status(status, &exceptions_page(&st, &ctx, &a, req, off, None, String::new()).await?)
        }
    }
}

// ---- policies and settings ------------------------------------------------------------------

/// A fleet scope in words.
async fn scope_label(st: &AppState, names: &OrgNames, s: FleetScope) -> String {
    match s {
        FleetScope::Global => "Global".into(),
        FleetScope::Site(id) => format!("Site {}", names.site(id)),
        FleetScope::Process(id) => format!("Process {}", names.process(id)),
        FleetScope::Host(id) => match st.store.fleet_host(id).await {
            Ok(h) => format!("Host {}", h.hostname),
            Err(_) => format!("Host {id}"),
        },
    }
}

struct PolicyRow {
    id: String,
    name: String,
    kind: String,
    builtin: bool,
    version: i64,
    updated: String,
    assignments: String,
}

struct SettingRow {
    scope: String,
    usb: String,
    scan: String,
    heartbeat: String,
}

#[derive(Template)]
#[template(path = "fleet_policies.html")]
struct PoliciesPage {
    l: Layout,
    rows: Vec<PolicyRow>,
    settings: Vec<SettingRow>,
    may_admin: bool,
    create: FormView,
    set: FormView,
    scopes: Vec<OptGroup>,
    defaults: (i64, i64),
    notice: String,
}

fn scope_groups(names: &OrgNames) -> Vec<OptGroup> {
    vec![
        OptGroup { label: "Everywhere".into(), opts: vec![Opt::new("global", "Global")] },
        OptGroup {
            label: "Sites".into(),
            opts: names.sites.iter().map(|s| Opt::new(format!("site:{}", s.id), names.site(s.id))).collect(),
        },
        OptGroup {
            label: "Process units".into(),
            opts: names.processes.iter().map(|p| Opt::new(format!("process:{}", p.id), names.process(p.id))).collect(),
        },
    ]
}

async fn policies_page(
    st: &AppState,
    ctx: &Ctx,
    a: &Auth,
    create: FormView,
    set: FormView,
    notice: String,
) -> AppResult<PoliciesPage> {
    let names = OrgNames::load(st).await?;
    let mut rows = Vec::new();
    for p in st.store.fleet_policies().await? {
        let mut labels = Vec::new();
        for s in &p.assignments {
            labels.push(scope_label(st, &names, *s).await);
        }
        rows.push(PolicyRow {
            id: p.id.to_string(),
            name: p.name,
            kind: p.kind,
            builtin: p.builtin,
            version: p.version,
            updated: time(p.updated_at),
            assignments: if labels.is_empty() { "not assigned".into() } else { labels.join(", ") },
        });
    }
    let mut settings = Vec::new();
    for s in st.store.fleet_settings().await? {
        settings.push(SettingRow {
            scope: scope_label(st, &names, s.scope).await,
            usb: s.usb_enforce.map_or("inherit", |on| if on { "on" } else { "OFF" }).into(),
            scan: s.scan_interval_seconds.map_or_else(|| "inherit".into(), |v| format!("{v} s")),
            heartbeat: s.heartbeat_seconds.map_or_else(|| "inherit".into(), |v| format!("{v} s")),
        });
    }
    Ok(PoliciesPage {
        l: Layout::new(ctx, "Fleet policies"),
        rows,
        settings,
        may_admin: can(a, Action::FleetAdmin),
        create,
        set,
        scopes: scope_groups(&names),
        defaults: (st.config.fleet.scan_interval_seconds, st.config.fleet.heartbeat_seconds),
        notice,
    })
}

/// `GET /fleet/policies`.
async fn policies(State(st): State<AppState>, Authed(ctx, a): Authed, q: QueryData) -> AppResult<Response> {
    let notice =
        if q.get("saved") == "settings" { "Settings saved; hosts pick them up with their next bundle." } else { "" };
    let create = FormView::with(&[("kind", "usb".to_owned())]);
    page(&policies_page(&st, &ctx, &a, create, FormView::default(), notice.to_owned()).await?)
}

/// A policy text from a form: browsers send CRLF line ends, which USBGuard refuses.
fn form_body(f: &FormData) -> String {
    f.get("body").replace("\r\n", "\n")
}

const POLICY_FIELDS: [&str; 3] = ["kind", "name", "body"];

/// `POST /fleet/policies`: creates a policy (then assign it on its page).
async fn create_policy(State(st): State<AppState>, Authed(ctx, a): Authed, f: FormData) -> AppResult<Response> {
    let input = PolicyInput { kind: f.get("kind").to_owned(), name: f.get("name").to_owned(), body: form_body(&f) };
    match super::create_policy(&st, &ctx, &a, &input).await {
        Ok(p) => Ok(see_other(&format!("/fleet/policies/{}?saved=created", p.id))),
        Err(e) => {
            let mut create = f.view();
            let status = create.absorb(e, &POLICY_FIELDS, &[])?;
            page_status(status, &policies_page(&st, &ctx, &a, create, FormView::default(), String::new()).await?)
        }
    }
}

const SETTING_FIELDS: [&str; 4] = ["scope", "usb_enforce", "scan_interval_seconds", "heartbeat_seconds"];

/// `POST /fleet/settings`: one scope's settings (empty = inherit).
async fn settings(State(st): State<AppState>, Authed(ctx, a): Authed, f: FormData) -> AppResult<Response> {
    let result = async {
        let scope: FleetScope =
            f.get("scope").parse().map_err(|_| AppError::field(ErrorCode::InvalidField, "scope", "choose a scope"))?;
        let num = |k: &str| -> AppResult<Option<i64>> {
            f.opt(k)
                .map(|v| {
                    v.parse().map_err(|_| AppError::field(ErrorCode::InvalidField, k, "a whole number of seconds"))
                })
                .transpose()
        };
        let usb_enforce = match f.get("usb_enforce") {
            "on" => Some(true),
            "off" => Some(false),
            "" | "inherit" => None,
            _ => return Err(AppError::field(ErrorCode::InvalidField, "usb_enforce", "inherit, on or off")),
        };
        let s = ScopeSettings {
            scope,
            usb_enforce,
            scan_interval_seconds: num("scan_interval_seconds")?,
            heartbeat_seconds: num("heartbeat_seconds")?,
        };
        super::put_settings(&st, &ctx, &a, &s).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/fleet/policies?saved=settings#settings")),
        Err(e) => {
            let mut set = f.view();
            let status = set.absorb(e, &SETTING_FIELDS, &[])?;
            let create = FormView::with(&[("kind", "usb".to_owned())]);
            page_status(status, &policies_page(&st, &ctx, &a, create, set, String::new()).await?)
        }
    }
}

struct ScopeCheck {
    value: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "fleet_policy.html")]
struct PolicyPage {
    l: Layout,
    id: String,
    kind: String,
    builtin: bool,
    version: i64,
    updated: String,
    updated_by: String,
    sca_id: String,
    f: FormView,
    may_admin: bool,
    scopes: Vec<ScopeCheck>,
    notice: String,
}

async fn policy_page(
    st: &AppState,
    ctx: &Ctx,
    a: &Auth,
    p: &FleetPolicy,
    f: FormView,
    notice: String,
) -> AppResult<PolicyPage> {
    let names = OrgNames::load(st).await?;
    let mut scopes = vec![ScopeCheck {
        value: "global".into(),
        label: "Global (every host)".into(),
        checked: p.assignments.contains(&FleetScope::Global),
    }];
    for s in &names.sites {
        let sc = FleetScope::Site(s.id);
        scopes.push(ScopeCheck {
            value: sc.to_string(),
            label: format!("Site {}", names.site(s.id)),
            checked: p.assignments.contains(&sc),
        });
    }
    for pu in &names.processes {
        let sc = FleetScope::Process(pu.id);
        scopes.push(ScopeCheck {
            value: sc.to_string(),
            label: format!("Process {}", names.process(pu.id)),
            checked: p.assignments.contains(&sc),
        });
    }
    for sc in p.assignments.iter().filter(|s| matches!(s, FleetScope::Host(_))) {
        scopes.push(ScopeCheck { value: sc.to_string(), label: scope_label(st, &names, *sc).await, checked: true });
    }
    let who = names_of(st, vec![p.updated_by.clone()]).await;
    Ok(PolicyPage {
        l: Layout::new(ctx, format!("Policy {}", p.name)),
        id: p.id.to_string(),
        kind: p.kind.clone(),
        builtin: p.builtin,
        version: p.version,
        updated: time(p.updated_at),
        updated_by: who.get(&p.updated_by).cloned().unwrap_or_else(|| p.updated_by.clone()),
        sca_id: p.sca_id.clone().unwrap_or_default(),
        f,
        may_admin: can(a, Action::FleetAdmin),
        scopes,
        notice,
    })
}

/// `GET /fleet/policies/{id}`: the policy's text (editable by admins) and assignments.
async fn policy(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PolicyId>,
    q: QueryData,
) -> AppResult<Response> {
    let p = super::policy(&st, id).await?;
    let f = FormView::with(&[("name", p.name.clone()), ("body", p.body.clone())]);
    let notice = match q.get("saved") {
        "created" => "Created. Assign it below to put it into hosts' bundles.",
        "saved" => "Saved. Every host it applies to gets a new bundle version.",
        "assigned" => "Assignments saved.",
        _ => "",
    };
    page(&policy_page(&st, &ctx, &a, &p, f, notice.to_owned()).await?)
}

/// `POST /fleet/policies/{id}`: saves name and text; a text that does not parse is
/// shown back with the reason and line.
async fn save_policy(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PolicyId>,
    f: FormData,
) -> AppResult<Response> {
    let p = super::policy(&st, id).await?;
    let input = PolicyInput { kind: p.kind.clone(), name: f.get("name").to_owned(), body: form_body(&f) };
    match super::update_policy(&st, &ctx, &a, id, &input).await {
        Ok(_) => Ok(see_other(&format!("/fleet/policies/{id}?saved=saved"))),
        Err(e) => {
            let mut view = f.view();
            let status = view.absorb(e, &POLICY_FIELDS, &[])?;
            page_status(status, &policy_page(&st, &ctx, &a, &p, view, String::new()).await?)
        }
    }
}

/// `POST /fleet/policies/{id}/assignments` with one `scope` field per checked scope.
async fn assign(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PolicyId>,
    f: FormData,
) -> AppResult<Response> {
    let mut scopes = Vec::new();
    for v in f.values("scope") {
        scopes.push(v.parse::<FleetScope>().map_err(|e| AppError::field(ErrorCode::InvalidField, "scope", e))?);
    }
    super::set_assignments(&st, &ctx, &a, id, &scopes).await?;
    Ok(see_other(&format!("/fleet/policies/{id}?saved=assigned")))
}

// ---- enrollment tokens --------------------------------------------------------------------

struct TokenRow {
    id: String,
    label: String,
    unit: String,
    uses: String,
    expires: String,
    state: &'static str,
    class: &'static str,
}

#[derive(Template)]
#[template(path = "fleet_tokens.html")]
struct TokensPage {
    l: Layout,
    rows: Vec<TokenRow>,
    f: FormView,
    sites: Vec<Opt>,
    processes: Vec<Opt>,
    created: Option<String>,
    server: String,
}

async fn tokens_page(
    st: &AppState,
    ctx: &Ctx,
    a: &Auth,
    f: FormView,
    created: Option<String>,
) -> AppResult<TokensPage> {
    let names = OrgNames::load(st).await?;
    let now = st.clock.now();
    let rows = super::list_tokens(st, a)
        .await?
        .iter()
        .map(|t| {
            let (state, class) = if t.revoked_at.is_some() {
                ("revoked", "none")
            } else if t.expires_at <= now {
                ("expired", "none")
            } else if t.uses >= t.max_uses {
                ("used up", "none")
            } else {
                ("active", "pass")
            };
            TokenRow {
                id: t.id.to_string(),
                label: t.label.clone(),
                unit: unit(&names, t.site_id, t.process_id),
                uses: format!("{} of {}", t.uses, t.max_uses),
                expires: time(t.expires_at),
                state,
                class,
            }
        })
        .collect();
    let scheme = if st.config.tls() { "https" } else { "http" };
    Ok(TokensPage {
        l: Layout::new(ctx, "Enrollment tokens"),
        rows,
        f,
        sites: names.site_opts(),
        processes: names.process_opts(),
        created,
        server: format!("{scheme}://{}:{}", st.config.bind, st.config.port),
    })
}

/// `GET /fleet/tokens`.
async fn tokens(State(st): State<AppState>, Authed(ctx, a): Authed) -> AppResult<Response> {
    let f = FormView::with(&[("max_uses", "1".to_owned()), ("expires_in_hours", "72".to_owned())]);
    page(&tokens_page(&st, &ctx, &a, f, None).await?)
}

const TOKEN_FIELDS: [&str; 5] = ["site_id", "process_id", "label", "max_uses", "expires_in_hours"];

/// `POST /fleet/tokens`: the page shows the new secret once.
async fn create_token(State(st): State<AppState>, Authed(ctx, a): Authed, f: FormData) -> AppResult<Response> {
    let result = async {
        let site_id: SiteId = f
            .get("site_id")
            .parse()
            .map_err(|_| AppError::field(ErrorCode::InvalidField, "site_id", "choose a site"))?;
        let process_id = match f.opt("process_id") {
            None => None,
            Some(p) => Some(
                p.parse()
                    .map_err(|_| AppError::field(ErrorCode::InvalidField, "process_id", "choose a process unit"))?,
            ),
        };
        let num = |k: &str| -> AppResult<i64> {
            f.get(k).trim().parse().map_err(|_| AppError::field(ErrorCode::InvalidField, k, "a whole number"))
        };
        let input = EnrollTokenInput {
            site_id,
            process_id,
            label: f.get("label").to_owned(),
            max_uses: num("max_uses")?,
            expires_in_hours: num("expires_in_hours")?,
        };
        super::create_token(&st, &ctx, &a, &input).await
    }
    .await;
    match result {
        Ok(t) => {
            let f = FormView::with(&[("max_uses", "1".to_owned()), ("expires_in_hours", "72".to_owned())]);
            page_status(StatusCode::CREATED, &tokens_page(&st, &ctx, &a, f, Some(t.token)).await?)
        }
        Err(e) => {
            let mut view = f.view();
            let status = view.absorb(e, &TOKEN_FIELDS, &[])?;
            page_status(status, &tokens_page(&st, &ctx, &a, view, None).await?)
        }
    }
}

/// `POST /fleet/tokens/{id}/revoke`.
async fn revoke_token(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<EnrollTokenId>,
) -> AppResult<Response> {
    super::revoke_token(&st, &ctx, &a, id).await?;
    Ok(see_other("/fleet/tokens"))
}
