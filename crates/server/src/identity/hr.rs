//! HR sources: a batch of [`HrRecord`]s (a CSV file, a SCIM request) compared with the
//! people on record, written in one transaction, each change recorded as an HR event in
//! the ledger, and the people it concerns handed to the lifecycle at once.

use super::{plan, ScopeCheck};
use crate::audit::Outcome;
use crate::ctx::{Auth, Ctx};
use crate::error::{AppError, AppResult};
use crate::AppState;
use bposhield_core::clock::date_start;
use bposhield_core::{validate, Action, Resource};
use bposhield_identity::model::{HrRecord, Move};
use bposhield_proto::*;
use bposhield_store::identity::{HrBatch, HrEventRow, HrLifecycle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Whether a file holds everyone (people missing from it count as absent) or only changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum HrMode {
    /// Everyone HR knows: a person missing from several consecutive full files is gone.
    Full,
    /// Only the people in it changed.
    #[default]
    Delta,
}

/// A row HR must fix.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RejectedRow {
    /// Physical line in the file (the header is line 1); 0 for a request body.
    pub line: u64,
    pub employee_id: Option<String>,
    pub field: Option<String>,
    pub reason: String,
}

/// What an HR batch did (or, when rows were rejected, would have done: nothing is
/// applied unless every row is valid).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct HrReport {
    pub mode: HrMode,
    pub received: u64,
    pub applied: bool,
    pub joiners: u64,
    pub leavers: u64,
    pub movers: u64,
    pub status_changes: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// People missing from this full file (counting towards "gone").
    pub absent: u64,
    /// People terminated because they were missing from enough consecutive full files.
    pub gone: u64,
    pub rejected: Vec<RejectedRow>,
    /// Plans the changes produced.
    pub plans: Vec<String>,
}

/// Deltas up to this many records look people up by employee id instead of reading all.
const SMALL_BATCH: usize = 1000;

struct Lookups {
    sites: HashMap<String, SiteId>,
    default_site: Option<SiteId>,
    processes: HashMap<String, (ProcessId, SiteId)>,
    teams: HashMap<(ProcessId, String), TeamId>,
}

async fn lookups(st: &AppState) -> AppResult<Lookups> {
    let sites = st.store.sites().await?;
    let default_site = sites.iter().min_by(|a, b| a.code.cmp(&b.code)).map(|s| s.id);
    let processes = st.store.processes(None).await?;
    let teams = st.store.teams(None).await?;
    Ok(Lookups {
        sites: sites.into_iter().map(|s| (s.code.to_lowercase(), s.id)).collect(),
        default_site,
        processes: processes.into_iter().map(|p| (p.code.to_lowercase(), (p.id, p.site_id))).collect(),
        teams: teams.into_iter().map(|t| ((t.process_id, t.name.to_lowercase()), t.id)).collect(),
    })
}

/// How an HR record changes a person, as event kinds.
fn classify(old: Option<&Person>, new: &PersonInput, today: i64) -> Vec<&'static str> {
    let leaving = |status: EmploymentStatus, exit: Option<&str>| {
        status == EmploymentStatus::Terminated || exit.and_then(date_start).is_some_and(|t| t <= today)
    };
    let Some(old) = old else {
        return if leaving(new.status, new.exit_date.as_deref()) { vec!["joiner", "leaver"] } else { vec!["joiner"] };
    };
    let mut kinds = Vec::new();
    let was_leaving = leaving(old.status, old.exit_date.as_deref());
    let is_leaving = leaving(new.status, new.exit_date.as_deref());
    if is_leaving && !was_leaving {
        kinds.push("leaver");
    } else if !is_leaving && was_leaving {
        kinds.push("rehire");
    }
    if old.process_id != new.process_id || old.team_id != new.team_id {
        kinds.push("mover");
    }
    if old.status != new.status && !is_leaving && !was_leaving {
        kinds.push(if new.status == EmploymentStatus::Active { "reinstated" } else { "suspended" });
    }
    let same = old.employee_id == new.employee_id
        && old.given_name == new.given_name
        && old.family_name == new.family_name
        && old.email == new.email
        && old.site_id == new.site_id
        && old.manager_id == new.manager_id
        && old.job_role == new.job_role
        && old.hire_date == new.hire_date
        && old.exit_date == new.exit_date
        && old.status == new.status;
    if kinds.is_empty() && !same {
        kinds.push("update");
    }
    kinds
}

/// Applies a batch of HR records. Every row is checked first; if any is rejected,
/// nothing is written and the report lists every rejected row. `lenient_refs` (SCIM)
/// treats unknown site/process/team codes as unset instead of rejecting the row:
/// identity providers send department names the platform does not model.
pub async fn apply_records(
    st: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    records: Vec<(u64, HrRecord)>,
    mode: HrMode,
    source: &str,
    lenient_refs: bool,
) -> AppResult<HrReport> {
    let now = st.clock.now();
    let today = date_start(&st.clock.today()).unwrap_or(now);
    let lk = lookups(st).await?;
    // A full file is compared with everyone; a small delta (a SCIM request) only with the
    // people it names and their managers, so one leaver does not read 300,000 people.
    let existing = if mode == HrMode::Full || records.len() > SMALL_BATCH {
        st.store.id_people_cards().await?
    } else {
        let ids: Vec<String> = records
            .iter()
            .flat_map(|(_, r)| [Some(r.employee_id.trim().to_owned()), r.manager_employee_id.clone()])
            .flatten()
            .filter(|e| !e.is_empty())
            .collect();
        st.store.id_people_cards_by_employee(&ids).await?
    };
    let by_emp: HashMap<String, &Person> = existing.iter().map(|p| (p.employee_id.to_lowercase(), p)).collect();
    let mut report = HrReport { mode, received: records.len() as u64, ..HrReport::default() };
    let scope = ScopeCheck::new(auth, Action::IdentityFeed);

    // Ids for newcomers first, so a manager who joins in the same file resolves.
    let mut new_ids: HashMap<String, PersonId> = HashMap::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (line, r) in &records {
        let key = r.employee_id.trim().to_lowercase();
        if let Some(first) = seen.insert(key.clone(), *line) {
            report.rejected.push(RejectedRow {
                line: *line,
                employee_id: Some(r.employee_id.clone()),
                field: Some("employee_id".into()),
                reason: format!("employee id repeated (first on line {first})"),
            });
            continue;
        }
        if !by_emp.contains_key(&key) {
            new_ids.insert(key, PersonId::new_v7(u64::try_from(st.clock.now_ms()).unwrap_or(0)));
        }
    }
    let person_of = |emp: &str| -> Option<PersonId> {
        let k = emp.trim().to_lowercase();
        by_emp.get(&k).map(|p| p.id).or_else(|| new_ids.get(&k).copied())
    };

    let mut batch = HrBatch::default();
    let mut changed_people: Vec<String> = Vec::new();
    let mut audit_events: Vec<(String, &'static str, Option<Person>, PersonInput)> = Vec::new();
    for (line, r) in &records {
        let reject = |field: &str, reason: String| RejectedRow {
            line: *line,
            employee_id: Some(r.employee_id.clone()),
            field: Some(field.to_owned()),
            reason,
        };
        if report.rejected.iter().any(|x| x.line == *line) {
            continue;
        }
        let site = if r.site.trim().is_empty() {
            lk.default_site
        } else {
            match lk.sites.get(&r.site.trim().to_lowercase()) {
                Some(s) => Some(*s),
                None if lenient_refs => lk.default_site,
                None => {
                    report.rejected.push(reject("site", format!("no site has the code `{}`", r.site)));
                    continue;
                }
            }
        };
        let Some(site_id) = site else {
            report.rejected.push(reject("site", "no site exists yet; create one first".into()));
            continue;
        };
        let process = match r.process.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(code) => match lk.processes.get(&code.to_lowercase()) {
                Some((p, psite)) if *psite == site_id => Some(*p),
                Some(_) if lenient_refs => None,
                Some(_) => {
                    report.rejected.push(reject("process", format!("process `{code}` belongs to another site")));
                    continue;
                }
                None if lenient_refs => None,
                None => {
                    report.rejected.push(reject("process", format!("no process unit has the code `{code}`")));
                    continue;
                }
            },
        };
        let team = match (process, r.team.as_deref().map(str::trim).filter(|s| !s.is_empty())) {
            (_, None) => None,
            (Some(p), Some(name)) => match lk.teams.get(&(p, name.to_lowercase())) {
                Some(t) => Some(*t),
                None if lenient_refs => None,
                None => {
                    report.rejected.push(reject("team", format!("the process has no team named `{name}`")));
                    continue;
                }
            },
            (None, Some(_)) if lenient_refs => None,
            (None, Some(name)) => {
                report.rejected.push(reject("team", format!("team `{name}` given without a process")));
                continue;
            }
        };
        let manager = match r.manager_employee_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(m) => match person_of(m) {
                Some(id) => Some(id),
                None if lenient_refs => None,
                None => {
                    report.rejected.push(reject("manager_employee_id", format!("no person has employee id `{m}`")));
                    continue;
                }
            },
        };
        let status = match r.status.trim().parse::<EmploymentStatus>() {
            Ok(s) => s,
            Err(e) => {
                report.rejected.push(reject("status", e));
                continue;
            }
        };
        let input = PersonInput {
            employee_id: r.employee_id.trim().to_owned(),
            given_name: r.given_name.trim().to_owned(),
            family_name: r.family_name.trim().to_owned(),
            email: r.email.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            site_id,
            process_id: process,
            team_id: team,
            manager_id: manager,
            job_role: r.job_role.trim().to_owned(),
            status,
            hire_date: r.hire_date.trim().to_owned(),
            exit_date: r.exit_date.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
        };
        if let Some(p) = validate::person(&input).first() {
            report.rejected.push(reject(&p.field, p.message.clone()));
            continue;
        }
        if let Err(e) = scope.allows(site_id, process, team) {
            report.rejected.push(reject("site", e));
            continue;
        }
        let key = input.employee_id.to_lowercase();
        let old = by_emp.get(&key).copied();
        let Some(id) = person_of(&key) else { continue };
        if manager == Some(id) {
            report.rejected.push(reject("manager_employee_id", "a person cannot manage themselves".into()));
            continue;
        }
        let kinds = classify(old, &input, today);
        if kinds.is_empty() && old.is_some() {
            report.unchanged += 1;
            continue;
        }
        for k in &kinds {
            match *k {
                "joiner" => report.joiners += 1,
                "leaver" => report.leavers += 1,
                "mover" => report.movers += 1,
                "suspended" | "reinstated" | "rehire" => report.status_changes += 1,
                _ => report.updated += 1,
            }
        }
        let status_changed = old.is_none_or(|o| o.status != input.status);
        batch.lifecycle.push(HrLifecycle {
            person_id: id.to_string(),
            login: r.login.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            status_reason: (status == EmploymentStatus::Suspended)
                .then(|| r.status_reason.clone().unwrap_or_else(|| "hr".into())),
            status_since: status_changed.then_some(now),
            moved: match old {
                Some(o) if kinds.contains(&"mover") => Some(Move {
                    process: o.process_id.map(|x| x.to_string()),
                    team: o.team_id.map(|x| x.to_string()),
                    at: now,
                }),
                _ => None,
            },
        });
        for k in &kinds {
            batch.events.push(HrEventRow {
                id: EventId::new_v7(u64::try_from(st.clock.now_ms()).unwrap_or(0)).to_string(),
                person_id: id.to_string(),
                at: now,
                source: source.to_owned(),
                kind: (*k).to_owned(),
                detail: json!({ "line": line, "status": input.status, "exit_date": input.exit_date }),
            });
        }
        changed_people.push(id.to_string());
        audit_events.push((id.to_string(), kinds.first().copied().unwrap_or("update"), old.cloned(), input.clone()));
        match old {
            Some(o) => batch.update.push((id, input, o.created_at)),
            None => batch.insert.push((id, input)),
        }
    }

    // People missing from a full file: N consecutive misses and they count as gone.
    let mut gone: Vec<String> = Vec::new();
    if mode == HrMode::Full && report.rejected.is_empty() {
        let misses_before_gone = i64::from(st.config.identity.hr_misses_before_gone.max(1));
        let prev = st.store.id_hr_absences().await?;
        let mut counters = Vec::new();
        for p in &existing {
            if seen.contains_key(&p.employee_id.to_lowercase()) || p.status == EmploymentStatus::Terminated {
                continue;
            }
            let n = prev.get(&p.id.to_string()).copied().unwrap_or(0) + 1;
            report.absent += 1;
            if n >= misses_before_gone {
                gone.push(p.id.to_string());
            } else {
                counters.push((p.id.to_string(), n));
            }
        }
        batch.absences = Some(counters);
    }
    report.gone = gone.len() as u64;

    if !report.rejected.is_empty() {
        report.rejected.sort_by_key(|r| r.line);
        st.audit(
            ctx,
            "identity.hr.rejected",
            &format!("hr:{source}"),
            Outcome::Failure,
            json!({ "rows": report.received, "rejected": report.rejected.len() }),
        )
        .await?;
        return Ok(report);
    }
    st.store.id_hr_apply(&batch, now).await.map_err(|e| match e {
        bposhield_store::StoreError::Unique(m) => AppError::new(
            ErrorCode::DuplicateEmployeeId,
            format!("an employee id collides with another person ({m}); nothing was applied"),
        ),
        other => other.into(),
    })?;
    report.applied = true;
    for (id, kind, old, new) in &audit_events {
        st.audit_change(
            ctx,
            &format!("identity.hr.{kind}"),
            &format!("person:{id}"),
            Outcome::Success,
            json!({ "source": source, "status": new.status }),
            old.as_ref(),
            Some(new),
        )
        .await?;
    }
    for id in &gone {
        super::lifecycle_status(st, ctx, id, "terminated", Some("missing from HR feed"), "hr.gone").await?;
        changed_people.push(id.clone());
    }
    st.audit(
        ctx,
        "identity.hr.import",
        &format!("hr:{source}"),
        Outcome::Success,
        json!({
            "mode": mode, "rows": report.received, "joiners": report.joiners, "leavers": report.leavers,
            "movers": report.movers, "gone": report.gone,
        }),
    )
    .await?;
    if !changed_people.is_empty() {
        if let Some(p) = plan::plan_for_people(st, ctx, &changed_people, &format!("hr:{source}")).await? {
            report.plans.push(p);
        }
    }
    Ok(report)
}

/// One person from an identity provider (SCIM): upserted by employee id, with the same
/// events and immediate lifecycle as a file. Returns the person's id.
pub async fn apply_hr_record(st: &AppState, ctx: &Ctx, record: HrRecord, source: &str) -> AppResult<PersonId> {
    let emp = record.employee_id.clone();
    let report = apply_records(st, ctx, None, vec![(0, record)], HrMode::Delta, source, true).await?;
    if let Some(r) = report.rejected.first() {
        return Err(AppError::field(ErrorCode::InvalidField, r.field.as_deref().unwrap_or("record"), r.reason.clone()));
    }
    st.store.person_by_employee_id(&emp).await.map(|p| p.id).map_err(AppError::from)
}

impl ScopeCheck<'_> {
    /// Whether the caller's feed grant covers a person placed at site/process/team.
    fn allows(&self, site: SiteId, process: Option<ProcessId>, team: Option<TeamId>) -> Result<(), String> {
        let Some(auth) = self.auth else { return Ok(()) };
        match bposhield_core::authorize(&auth.actor, self.action, Resource::Org { site, process, team }) {
            bposhield_core::Decision::Allow => Ok(()),
            bposhield_core::Decision::Deny(r) => Err(r),
        }
    }
}
