//! `/api/v1/identity/…` and `/api/v1/reviews/…`: HR and activity feeds, targets,
//! accounts and orphans, plans and approvals, manual work items, policies, timelines,
//! access reviews. Everything the identity pages do, as JSON.

use super::hr::{self, HrMode, HrReport, RejectedRow};
use super::plan::{self, Mode, ReconcileOutcome};
use super::reviews::{self, CampaignInput, CampaignReport, DecisionInput};
use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::audit::Outcome;
use crate::ctx::{Auth, Authed, Ctx};
use crate::error::{AppError, AppResult};
use crate::routes::{Access, Routes};
use crate::services::check;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bposhield_core::{Action, Resource};
use bposhield_identity::hrcsv::{self, ColumnMapping};
use bposhield_identity::model::{Correlation, Target, TargetKind};
use bposhield_identity::policy::PolicySet;
use bposhield_proto::{ApiError, ErrorCode, PersonId, ProcessId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn routes(r: Routes) -> Routes {
    use Access::Signed;
    r.post("/api/v1/identity/hr/import", Signed(Action::IdentityFeed), hr_import)
        .post("/api/v1/identity/hr/records", Signed(Action::IdentityFeed), hr_records)
        .post("/api/v1/identity/activity", Signed(Action::IdentityFeed), activity)
        .post("/api/v1/identity/people/{id}/absconder", Signed(Action::IdentityFeed), absconder_decision)
        .get("/api/v1/identity/people/{id}/timeline", Signed(Action::IdentityView), timeline)
        .get("/api/v1/identity/targets", Signed(Action::IdentityView), list_targets)
        .post("/api/v1/identity/targets", Signed(Action::IdentityAdmin), put_target)
        .post("/api/v1/identity/targets/{id}/test", Signed(Action::IdentityAdmin), test_target)
        .get("/api/v1/identity/accounts", Signed(Action::IdentityView), list_accounts)
        .post("/api/v1/identity/accounts/owner", Signed(Action::IdentityAdmin), assign_owner)
        .post("/api/v1/identity/birthrights", Signed(Action::IdentityAdmin), add_birthright)
        .get("/api/v1/identity/policies", Signed(Action::IdentityView), get_policies)
        .put("/api/v1/identity/policies", Signed(Action::IdentityAdmin), put_policies)
        .post("/api/v1/identity/reconcile", Signed(Action::IdentityApprove), run_reconcile)
        .get("/api/v1/identity/plans", Signed(Action::IdentityView), list_plans)
        .get("/api/v1/identity/plans/{id}", Signed(Action::IdentityView), get_plan)
        .post("/api/v1/identity/plans/{id}/approve", Signed(Action::IdentityApprove), approve_plan)
        .post("/api/v1/identity/plans/{id}/reject", Signed(Action::IdentityApprove), reject_plan)
        .get("/api/v1/identity/work-items", Signed(Action::IdentityView), list_work_items)
        .post("/api/v1/identity/work-items/{id}/complete", Signed(Action::IdentityWork), complete_work_item)
        .get("/api/v1/reviews", Signed(Action::ReviewDecide), list_campaigns)
        .post("/api/v1/reviews", Signed(Action::ReviewAdmin), create_campaign)
        .get("/api/v1/reviews/{id}", Signed(Action::ReviewDecide), get_campaign)
        .get("/api/v1/reviews/{id}/report.csv", Signed(Action::ReviewDecide), campaign_csv)
        .post("/api/v1/reviews/{id}/items/{item}/decision", Signed(Action::ReviewDecide), decide_item)
        .post("/api/v1/reviews/{id}/close", Signed(Action::ReviewAdmin), close_campaign)
}

/// The identity part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        hr_import,
        hr_records,
        activity,
        absconder_decision,
        timeline,
        list_targets,
        put_target,
        test_target,
        list_accounts,
        assign_owner,
        add_birthright,
        get_policies,
        put_policies,
        run_reconcile,
        list_plans,
        get_plan,
        approve_plan,
        reject_plan,
        list_work_items,
        complete_work_item,
        list_campaigns,
        create_campaign,
        get_campaign,
        campaign_csv,
        decide_item,
        close_campaign
    ),
    components(schemas(
        HrReport,
        RejectedRow,
        HrMode,
        HrImportJson,
        HrRecordsJson,
        ActivityInput,
        ActivityReport,
        AbsconderInput,
        TargetInput,
        OwnerInput,
        BirthrightInput,
        ReconcileInput,
        ReconcileOutcome,
        DecideInput,
        ProofInput,
        CampaignInput,
        DecisionInput,
        CampaignReport,
        Timeline,
        TestOutcome,
        PlanView
    ))
)]
pub struct IdentityApi;

// ---- HR and activity feeds -----------------------------------------------------------

/// An HR file as JSON: the CSV text, its column mapping, full or delta.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HrImportJson {
    pub csv: String,
    #[serde(default)]
    pub mode: HrMode,
    /// Which CSV header holds which field (defaults: the field names themselves).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub mapping: Option<ColumnMapping>,
}

/// Mode of a `text/csv` upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ModeQuery {
    /// `full` (everyone; absentees count towards "gone") or `delta` (default).
    #[serde(default)]
    pub mode: HrMode,
}

/// Reads a feed's body up to `identity.max_csv_bytes`: HR files and badge feeds are far
/// larger than the API's general body limit (`http.max_body_bytes`), which is why these
/// two routes read the body themselves.
async fn read_feed(body: axum::body::Body, limit: usize) -> AppResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        AppError::new(ErrorCode::BodyTooLarge, format!("feed larger than identity.max_csv_bytes ({limit} bytes)"))
    })
}

fn content_type(h: &HeaderMap) -> &str {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Imports an HR file: `text/csv` (default column names, `?mode=`) or JSON with a
/// column mapping. Every row is validated; if any row is rejected nothing is applied and
/// the report (422) lists every rejected row with its line number and reason.
#[utoipa::path(post, path = "/api/v1/identity/hr/import", params(ModeQuery), request_body = HrImportJson,
    responses((status = 200, body = HrReport), (status = 422, body = HrReport), (status = 415, body = ApiError)))]
async fn hr_import(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiQuery(mq): ApiQuery<ModeQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> AppResult<Response> {
    let body = read_feed(body, st.config.identity.max_csv_bytes).await?;
    let ct = content_type(&headers);
    let (csv, mode, mapping) = if ct.starts_with("text/csv") {
        (body.to_vec(), mq.mode, ColumnMapping::default())
    } else if ct.starts_with("application/json") {
        let j: HrImportJson = crate::api::parse_json(&body)?;
        (j.csv.into_bytes(), j.mode, j.mapping.unwrap_or_default())
    } else {
        return Err(AppError::new(ErrorCode::UnsupportedMediaType, "send text/csv or application/json"));
    };
    let report = import_csv(&st, &ctx, Some(&a), &csv, &mapping, mode).await?;
    let status = if report.applied { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, Json(report)).into_response())
}

/// Parses and applies an HR CSV (shared by the API, the page and the CLI).
pub async fn import_csv(
    st: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    csv: &[u8],
    mapping: &ColumnMapping,
    mode: HrMode,
) -> AppResult<HrReport> {
    let parsed =
        hrcsv::parse(csv, mapping).map_err(|e| AppError::field(ErrorCode::InvalidField, "csv", e.to_string()))?;
    let mut rejected: Vec<RejectedRow> = parsed
        .rejected
        .iter()
        .map(|r| RejectedRow { line: r.line, employee_id: None, field: r.field.clone(), reason: r.reason.clone() })
        .collect();
    if !rejected.is_empty() {
        rejected.sort_by_key(|r| r.line);
        let report = HrReport {
            mode,
            received: (parsed.records.len() + rejected.len()) as u64,
            rejected,
            ..HrReport::default()
        };
        st.audit(ctx, "identity.hr.rejected", "hr:csv", Outcome::Failure, json!({ "rejected": report.rejected.len() }))
            .await?;
        return Ok(report);
    }
    hr::apply_records(st, ctx, auth, parsed.records, mode, "csv", false).await
}

/// HR records as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HrRecordsJson {
    #[serde(default)]
    pub mode: HrMode,
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<bposhield_identity::model::HrRecord>,
}

/// Applies HR records given as JSON (same rules as the CSV import).
#[utoipa::path(post, path = "/api/v1/identity/hr/records", request_body = HrRecordsJson,
    responses((status = 200, body = HrReport), (status = 422, body = HrReport)))]
async fn hr_records(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<HrRecordsJson>,
) -> AppResult<Response> {
    let rows = b.records.into_iter().enumerate().map(|(n, r)| (n as u64 + 1, r)).collect();
    let report = hr::apply_records(&st, &ctx, Some(&a), rows, b.mode, "api", false).await?;
    let status = if report.applied { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, Json(report)).into_response())
}

/// Activity events as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<bposhield_identity::hrcsv::ActivityEvent>,
}

/// What an activity feed did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivityReport {
    pub recorded: u64,
    pub unknown_people: u64,
    pub rejected: Vec<RejectedRow>,
}

/// Records badge-in, login and attendance events (`text/csv` with
/// `employee_id,kind,at`, or JSON). Events of unknown employee ids are counted, not
/// stored. Drives the absconding and dormancy policies.
#[utoipa::path(post, path = "/api/v1/identity/activity", request_body = ActivityInput,
    responses((status = 200, body = ActivityReport), (status = 422, body = ActivityReport)))]
async fn activity(
    State(st): State<AppState>,
    Authed(ctx, _a): Authed,
    headers: HeaderMap,
    body: axum::body::Body,
) -> AppResult<Response> {
    let body = read_feed(body, st.config.identity.max_csv_bytes).await?;
    let ct = content_type(&headers);
    let (events, rejected) = if ct.starts_with("text/csv") {
        let (ev, rej) = hrcsv::parse_activity(&body);
        (ev, rej)
    } else if ct.starts_with("application/json") {
        let j: ActivityInput = crate::api::parse_json(&body)?;
        (j.events, Vec::new())
    } else {
        return Err(AppError::new(ErrorCode::UnsupportedMediaType, "send text/csv or application/json"));
    };
    let report = record_activity(&st, &ctx, events, rejected).await?;
    let status = if report.rejected.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, Json(report)).into_response())
}

/// Stores activity events (all or, when rows are rejected, none).
pub async fn record_activity(
    st: &AppState,
    ctx: &Ctx,
    events: Vec<bposhield_identity::hrcsv::ActivityEvent>,
    rejected: Vec<bposhield_identity::hrcsv::Rejected>,
) -> AppResult<ActivityReport> {
    let rejected: Vec<RejectedRow> = rejected
        .into_iter()
        .map(|r| RejectedRow { line: r.line, employee_id: None, field: r.field, reason: r.reason })
        .collect();
    if !rejected.is_empty() {
        return Ok(ActivityReport { recorded: 0, unknown_people: 0, rejected });
    }
    let people: std::collections::HashMap<String, String> =
        st.store.id_people(None).await?.into_iter().map(|p| (p.employee_id.to_lowercase(), p.id)).collect();
    let mut rows = Vec::with_capacity(events.len());
    let mut unknown = 0;
    for e in &events {
        match people.get(&e.employee_id.to_lowercase()) {
            Some(id) => rows.push((id.clone(), bposhield_store::identity::wire(&e.kind), e.at)),
            None => unknown += 1,
        }
    }
    st.store.id_activity_record(&rows).await?;
    st.audit(
        ctx,
        "identity.activity.record",
        "activity",
        Outcome::Success,
        json!({ "recorded": rows.len(), "unknown_people": unknown }),
    )
    .await?;
    Ok(ActivityReport { recorded: rows.len() as u64, unknown_people: unknown, rejected })
}

/// HR's answer about a suspended absconder.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsconderInput {
    /// `confirm_exit` (the person left: leaver) or `reinstate` (back at work).
    pub decision: String,
    #[serde(default)]
    pub note: String,
}

/// HR confirms an absconder's exit (they become a leaver) or reinstates them.
#[utoipa::path(post, path = "/api/v1/identity/people/{id}/absconder", params(("id" = PersonId, Path)),
    request_body = AbsconderInput, responses((status = 204), (status = 409, body = ApiError)))]
async fn absconder_decision(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PersonId>,
    ApiJson(b): ApiJson<AbsconderInput>,
) -> AppResult<Response> {
    absconder(&st, &ctx, &a, id, &b.decision, &b.note).await?;
    Ok(crate::routes::no_content())
}

/// Shared by the API and the person page.
pub async fn absconder(st: &AppState, ctx: &Ctx, a: &Auth, id: PersonId, decision: &str, note: &str) -> AppResult<()> {
    let p = st.store.person(id).await.map_err(|_| AppError::not_found("person"))?;
    check(
        st,
        ctx,
        Some(a),
        Action::IdentityFeed,
        Resource::Org { site: p.site_id, process: p.process_id, team: p.team_id },
    )
    .await?;
    let person = id.to_string();
    let current = st.store.id_people(Some(std::slice::from_ref(&person))).await?;
    let absconding = current.first().is_some_and(|p| {
        matches!(
            p.employment,
            bposhield_identity::model::Employment::Suspended {
                reason: bposhield_identity::model::SuspendReason::Absconding
            }
        )
    });
    if !absconding {
        return Err(AppError::new(ErrorCode::Conflict, "this person is not suspended as an absconder"));
    }
    let note = note.trim();
    match decision {
        "confirm_exit" => {
            super::lifecycle_status(st, ctx, &person, "terminated", Some(note), "absconding.exit_confirmed").await?;
        }
        "reinstate" => {
            super::lifecycle_status(st, ctx, &person, "active", None, "absconding.reinstated").await?;
            // Counting restarts today: a reinstated person is not re-suspended at once.
            st.store.id_activity_record(&[(person.clone(), "reinstated".into(), st.clock.now())]).await?;
        }
        _ => return Err(AppError::field(ErrorCode::InvalidField, "decision", "confirm_exit or reinstate")),
    }
    plan::plan_for_people(st, ctx, &[person], "hr:absconder").await?;
    Ok(())
}

// ---- timeline ------------------------------------------------------------------------

/// A person's lifecycle: HR events, actions, accounts per target, activity.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    #[schema(value_type = Vec<Object>)]
    pub hr_events: Vec<bposhield_store::identity::HrEventRow>,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<bposhield_store::identity::ActionRow>,
    #[schema(value_type = Vec<Object>)]
    pub accounts: Vec<bposhield_store::identity::AccountRow>,
    pub activity: Vec<(String, i64)>,
}

/// Loads a person's timeline after checking the caller may see the person.
pub async fn load_timeline(st: &AppState, ctx: &Ctx, a: &Auth, id: PersonId) -> AppResult<Timeline> {
    let p = st.store.person(id).await.map_err(|_| AppError::not_found("person"))?;
    check(
        st,
        ctx,
        Some(a),
        Action::IdentityView,
        Resource::Org { site: p.site_id, process: p.process_id, team: p.team_id },
    )
    .await?;
    let pid = id.to_string();
    Ok(Timeline {
        hr_events: st.store.id_hr_events_of(&pid, 200).await?,
        actions: st.store.id_person_actions(&pid, 200).await?,
        accounts: st.store.id_accounts(Some(std::slice::from_ref(&pid))).await?,
        activity: st.store.id_activity_of(&pid).await?,
    })
}

/// A person's lifecycle timeline.
#[utoipa::path(get, path = "/api/v1/identity/people/{id}/timeline", params(("id" = PersonId, Path)),
    responses((status = 200, body = Timeline), (status = 404, body = ApiError)))]
async fn timeline(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PersonId>,
) -> AppResult<Json<Timeline>> {
    Ok(Json(load_timeline(&st, &ctx, &a, id).await?))
}

// ---- targets -------------------------------------------------------------------------

/// A target (connector) to create or replace.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// Stable id, e.g. `ad-pune`; letters, digits, `-`, `_`.
    pub id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub kind: TargetKind,
    #[serde(default)]
    pub process_id: Option<ProcessId>,
    #[schema(value_type = String)]
    pub correlation: Correlation,
    /// Connector configuration (see docs/connectors.md). Secrets as `*_file` paths.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Secrets must be given as files: a config holding an inline password or token would
/// be readable by anyone who can read targets.
fn check_config_secrets(v: &serde_json::Value) -> AppResult<()> {
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            let kl = k.to_lowercase();
            if (kl.contains("password") || kl.contains("token") || kl.contains("secret") || kl.ends_with("key"))
                && !kl.ends_with("_file")
                && !val.is_null()
            {
                return Err(AppError::field(
                    ErrorCode::InvalidField,
                    &format!("config.{k}"),
                    format!("give secrets as a file path: `{k}_file`"),
                ));
            }
            check_config_secrets(val)?;
        }
    }
    Ok(())
}

/// Creates or replaces a target.
pub async fn save_target(st: &AppState, ctx: &Ctx, a: Option<&Auth>, i: &TargetInput) -> AppResult<()> {
    check(st, ctx, a, Action::IdentityAdmin, Resource::Global).await?;
    if i.id.is_empty() || i.id.len() > 64 || !i.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(AppError::field(ErrorCode::InvalidField, "id", "1-64 letters, digits, - or _"));
    }
    if i.name.trim().is_empty() || i.name.len() > 200 {
        return Err(AppError::field(ErrorCode::InvalidField, "name", "1-200 characters"));
    }
    if let Some(p) = i.process_id {
        st.store
            .process(p)
            .await
            .map_err(|_| AppError::field(ErrorCode::UnknownReference, "process_id", "no such process"))?;
    }
    check_config_secrets(&i.config)?;
    let target = Target {
        id: i.id.clone(),
        name: i.name.trim().to_owned(),
        kind: i.kind,
        process: i.process_id.map(|p| p.to_string()),
        correlation: i.correlation,
    };
    if i.kind != TargetKind::Manual {
        bposhield_connectors::build(&target, i.config.clone(), st.clock.clone())
            .map_err(|e| AppError::field(ErrorCode::InvalidField, "config", e.to_string()))?;
    }
    let before = st.store.id_target(&i.id).await.ok();
    st.store.id_target_upsert(&target, &i.config, i.enabled, st.clock.now()).await.map_err(|e| match e {
        bposhield_store::StoreError::Unique(_) => {
            AppError::field(ErrorCode::DuplicateName, "name", "another target has this name")
        }
        other => other.into(),
    })?;
    st.identity.connectors.forget(&i.id);
    st.audit_change(
        ctx,
        if before.is_some() { "identity.target.update" } else { "identity.target.create" },
        &format!("target:{}", i.id),
        Outcome::Success,
        json!({ "kind": i.kind, "enabled": i.enabled }),
        before.as_ref(),
        Some(i),
    )
    .await
}

/// Targets with their health (last read, last error). Configurations hold no secrets.
#[utoipa::path(get, path = "/api/v1/identity/targets", responses((status = 200, body = Vec<Object>)))]
async fn list_targets(State(st): State<AppState>) -> AppResult<Json<Vec<bposhield_store::identity::TargetRow>>> {
    Ok(Json(st.store.id_targets().await?))
}

/// Creates or replaces a target (by id).
#[utoipa::path(post, path = "/api/v1/identity/targets", request_body = TargetInput,
    responses((status = 204), (status = 422, body = ApiError)))]
async fn put_target(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<TargetInput>,
) -> AppResult<Response> {
    save_target(&st, &ctx, Some(&a), &b).await?;
    Ok(crate::routes::no_content())
}

/// The outcome of "test connection".
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestOutcome {
    pub ok: bool,
    pub message: String,
}

/// Tests a target's connection and credentials (the page's button).
pub async fn test_connection(st: &AppState, ctx: &Ctx, id: &str) -> AppResult<TestOutcome> {
    let t = st.store.id_target(id).await.map_err(|_| AppError::not_found("target"))?;
    let out = if t.target.kind == TargetKind::Manual {
        TestOutcome { ok: true, message: "manual target: actions become work items for IT".into() }
    } else {
        let res = match st.identity.connectors.get(&t, &st.clock) {
            Err(e) => Err(e),
            Ok(c) => match tokio::time::timeout(std::time::Duration::from_secs(20), c.test_connection()).await {
                Err(_) => Err("timed out after 20 s".to_owned()),
                Ok(r) => r.map_err(|e| e.to_string()),
            },
        };
        match res {
            Ok(m) => TestOutcome { ok: true, message: m },
            Err(e) => TestOutcome { ok: false, message: e },
        }
    };
    st.audit(
        ctx,
        "identity.target.test",
        &format!("target:{id}"),
        if out.ok { Outcome::Success } else { Outcome::Failure },
        json!({ "ok": out.ok }),
    )
    .await?;
    Ok(out)
}

/// Tests a target's connection.
#[utoipa::path(post, path = "/api/v1/identity/targets/{id}/test", params(("id" = String, Path)),
    responses((status = 200, body = TestOutcome), (status = 404, body = ApiError)))]
async fn test_target(
    State(st): State<AppState>,
    Authed(ctx, _a): Authed,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<TestOutcome>> {
    Ok(Json(test_connection(&st, &ctx, &id).await?))
}

// ---- accounts and orphans ------------------------------------------------------------

/// Account list filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    /// `linked`, `unlinked`, `unmatched` (orphans), `deleted`, `collision`.
    pub situation: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Accounts in one situation (default: orphans).
#[utoipa::path(get, path = "/api/v1/identity/accounts", params(AccountsQuery), responses((status = 200, body = Vec<Object>)))]
async fn list_accounts(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<AccountsQuery>,
) -> AppResult<Json<Vec<bposhield_store::identity::AccountRow>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::field(ErrorCode::InvalidQuery, "limit", "between 1 and 1000"));
    }
    let situation = q.situation.as_deref().unwrap_or("unmatched");
    if !matches!(situation, "linked" | "unlinked" | "unmatched" | "deleted" | "collision") {
        return Err(AppError::field(
            ErrorCode::InvalidQuery,
            "situation",
            "linked, unlinked, unmatched, deleted or collision",
        ));
    }
    Ok(Json(st.store.id_accounts_in(situation, limit).await?))
}

/// An owner for an orphan account.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerInput {
    pub target_id: String,
    pub account_key: String,
    pub person_id: PersonId,
}

/// Assigns an owner to an account (orphan queue); the lifecycle then treats it as theirs.
pub async fn assign(st: &AppState, ctx: &Ctx, a: Option<&Auth>, i: &OwnerInput) -> AppResult<()> {
    check(st, ctx, a, Action::IdentityAdmin, Resource::Global).await?;
    st.store
        .person(i.person_id)
        .await
        .map_err(|_| AppError::field(ErrorCode::UnknownReference, "person_id", "no such person"))?;
    st.store.id_account_assign_owner(&i.target_id, &i.account_key, &i.person_id.to_string()).await.map_err(
        |e| match e {
            bposhield_store::StoreError::NotFound => AppError::not_found("account"),
            other => other.into(),
        },
    )?;
    st.audit(
        ctx,
        "identity.account.owner",
        &format!("account:{}/{}", i.target_id, i.account_key),
        Outcome::Success,
        json!({ "person": i.person_id }),
    )
    .await?;
    plan::plan_for_people(st, ctx, &[i.person_id.to_string()], "owner-assigned").await?;
    Ok(())
}

/// Assigns an owner to an orphan account.
#[utoipa::path(post, path = "/api/v1/identity/accounts/owner", request_body = OwnerInput,
    responses((status = 204), (status = 404, body = ApiError)))]
async fn assign_owner(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<OwnerInput>,
) -> AppResult<Response> {
    assign(&st, &ctx, Some(&a), &b).await?;
    Ok(crate::routes::no_content())
}

// ---- birthrights and policies --------------------------------------------------------

/// A birthright rule: people of this process (and job role) get this entitlement.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BirthrightInput {
    #[serde(default)]
    pub process_id: Option<ProcessId>,
    #[serde(default)]
    pub job_role: Option<String>,
    pub target_id: String,
    pub entitlement: String,
}

/// Adds a birthright rule.
#[utoipa::path(post, path = "/api/v1/identity/birthrights", request_body = BirthrightInput,
    responses((status = 204), (status = 422, body = ApiError)))]
async fn add_birthright(
    State(st): State<AppState>,
    Authed(ctx, _a): Authed,
    ApiJson(b): ApiJson<BirthrightInput>,
) -> AppResult<Response> {
    if b.entitlement.trim().is_empty() || b.entitlement.len() > 500 {
        return Err(AppError::field(ErrorCode::InvalidField, "entitlement", "1-500 characters"));
    }
    st.store
        .id_target(&b.target_id)
        .await
        .map_err(|_| AppError::field(ErrorCode::UnknownReference, "target_id", "no such target"))?;
    if let Some(p) = b.process_id {
        st.store
            .process(p)
            .await
            .map_err(|_| AppError::field(ErrorCode::UnknownReference, "process_id", "no such process"))?;
    }
    let id = bposhield_proto::EventId::new_v7(u64::try_from(st.clock.now_ms()).unwrap_or(0)).to_string();
    let process = b.process_id.map(|p| p.to_string());
    st.store
        .id_birthright_add(
            &id,
            process.as_deref(),
            b.job_role.as_deref(),
            &b.target_id,
            b.entitlement.trim(),
            st.clock.now(),
        )
        .await?;
    st.audit(&ctx, "identity.birthright.add", &format!("birthright:{id}"), Outcome::Success, json!(b)).await?;
    Ok(crate::routes::no_content())
}

/// The lifecycle policies (default and per process id).
#[utoipa::path(get, path = "/api/v1/identity/policies", responses((status = 200, body = Object)))]
async fn get_policies(State(st): State<AppState>) -> AppResult<Json<PolicySet>> {
    Ok(Json(plan::policies(&st).await?))
}

/// Replaces the lifecycle policies.
#[utoipa::path(put, path = "/api/v1/identity/policies", request_body = Object,
    responses((status = 200, body = Object), (status = 422, body = ApiError)))]
async fn put_policies(
    State(st): State<AppState>,
    Authed(ctx, _a): Authed,
    ApiJson(b): ApiJson<PolicySet>,
) -> AppResult<Json<PolicySet>> {
    b.validate().map_err(|e| AppError::field(ErrorCode::InvalidField, "policies", e.to_string()))?;
    let before = plan::policies(&st).await?;
    let now = st.clock.now();
    let text = serde_json::to_string(&b.default).map_err(AppError::internal)?;
    st.store.id_policy_set("", &text, now).await?;
    for (process, p) in &b.per_process {
        if process.parse::<ProcessId>().ok().is_none() {
            return Err(AppError::field(ErrorCode::InvalidField, "per_process", "keys are process ids"));
        }
        st.store.id_policy_set(process, &serde_json::to_string(p).map_err(AppError::internal)?, now).await?;
    }
    st.audit_change(&ctx, "identity.policies.update", "policies", Outcome::Success, json!({}), Some(&before), Some(&b))
        .await?;
    Ok(Json(plan::policies(&st).await?))
}

// ---- plans ---------------------------------------------------------------------------

/// How to run a reconciliation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileInput {
    /// Record what would happen without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Read every target first (default true).
    #[serde(default = "yes")]
    pub read_targets: bool,
}

/// Reads the targets and reconciles everyone now (or simulates it).
#[utoipa::path(post, path = "/api/v1/identity/reconcile", request_body = ReconcileInput,
    responses((status = 200, body = ReconcileOutcome)))]
async fn run_reconcile(
    State(st): State<AppState>,
    Authed(ctx, _a): Authed,
    ApiJson(b): ApiJson<ReconcileInput>,
) -> AppResult<Json<ReconcileOutcome>> {
    let mode = if b.dry_run { Mode::Simulate } else { Mode::Execute };
    Ok(Json(plan::reconcile_all(&st, &ctx, b.read_targets, mode).await?))
}

/// Plan list filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlansQuery {
    /// `held`, `queued`, `simulated`, `approved`, `rejected`.
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// Plans, newest first.
#[utoipa::path(get, path = "/api/v1/identity/plans", params(PlansQuery), responses((status = 200, body = Vec<Object>)))]
async fn list_plans(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PlansQuery>,
) -> AppResult<Json<Vec<bposhield_store::identity::PlanRow>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::field(ErrorCode::InvalidQuery, "limit", "between 1 and 500"));
    }
    Ok(Json(st.store.id_plans(q.status.as_deref(), limit).await?))
}

/// A plan with its actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    #[schema(value_type = Object)]
    pub plan: bposhield_store::identity::PlanRow,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<bposhield_store::identity::ActionRow>,
}

/// One plan and (up to 5,000 of) its actions.
#[utoipa::path(get, path = "/api/v1/identity/plans/{id}", params(("id" = String, Path)),
    responses((status = 200, body = PlanView), (status = 404, body = ApiError)))]
async fn get_plan(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> AppResult<Json<PlanView>> {
    let plan = st.store.id_plan(&id).await.map_err(|_| AppError::not_found("plan"))?;
    let actions = st.store.id_plan_actions(&id, 5000).await?;
    Ok(Json(PlanView { plan, actions }))
}

/// An approver's note.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    #[serde(default)]
    pub note: String,
}

/// Approves or rejects a plan the circuit breaker holds.
pub async fn decide_plan(
    st: &AppState,
    ctx: &Ctx,
    a: Option<&Auth>,
    id: &str,
    approve: bool,
    note: &str,
) -> AppResult<()> {
    check(st, ctx, a, Action::IdentityApprove, Resource::Global).await?;
    if note.len() > 2000 {
        return Err(AppError::field(ErrorCode::InvalidField, "note", "at most 2000 characters"));
    }
    let plan = st.store.id_plan(id).await.map_err(|_| AppError::not_found("plan"))?;
    if !st.store.id_plan_decide(id, approve, &ctx.actor_ref(), note.trim(), st.clock.now()).await? {
        return Err(AppError::new(ErrorCode::Conflict, format!("the plan is {}, not held", plan.status)));
    }
    st.audit(
        ctx,
        if approve { "identity.plan.approve" } else { "identity.plan.reject" },
        &format!("plan:{id}"),
        Outcome::Success,
        json!({ "note_chars": note.len(), "breaker": plan.breaker.as_ref().and_then(|b| b.get("limit")).cloned() }),
    )
    .await?;
    if approve {
        plan::apply_held_decisions(st, ctx, &plan).await?;
        st.identity.wake.notify_one();
    }
    Ok(())
}

/// Approves a held plan: its actions are queued.
#[utoipa::path(post, path = "/api/v1/identity/plans/{id}/approve", params(("id" = String, Path)), request_body = DecideInput,
    responses((status = 204), (status = 409, body = ApiError)))]
async fn approve_plan(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<DecideInput>,
) -> AppResult<Response> {
    decide_plan(&st, &ctx, Some(&a), &id, true, &b.note).await?;
    Ok(crate::routes::no_content())
}

/// Rejects a held plan: its actions are cancelled.
#[utoipa::path(post, path = "/api/v1/identity/plans/{id}/reject", params(("id" = String, Path)), request_body = DecideInput,
    responses((status = 204), (status = 409, body = ApiError)))]
async fn reject_plan(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<DecideInput>,
) -> AppResult<Response> {
    decide_plan(&st, &ctx, Some(&a), &id, false, &b.note).await?;
    Ok(crate::routes::no_content())
}

// ---- manual work items ---------------------------------------------------------------

/// Work item filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WorkQuery {
    /// Include completed items.
    #[serde(default)]
    pub all: bool,
}

/// Manual work items (open ones by due time).
#[utoipa::path(get, path = "/api/v1/identity/work-items", params(WorkQuery), responses((status = 200, body = Vec<Object>)))]
async fn list_work_items(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<WorkQuery>,
) -> AppResult<Json<Vec<bposhield_store::identity::WorkItemRow>>> {
    Ok(Json(st.store.id_work_items(!q.all, 500).await?))
}

/// Proof that a manual action was done.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofInput {
    /// What was done and where to see it (ticket number, screenshot reference…).
    pub proof: String,
}

/// Completes a work item with proof.
pub async fn complete_item(st: &AppState, ctx: &Ctx, a: Option<&Auth>, id: &str, proof: &str) -> AppResult<()> {
    check(st, ctx, a, Action::IdentityWork, Resource::Global).await?;
    let proof = proof.trim();
    if proof.len() < 3 || proof.len() > 2000 {
        return Err(AppError::field(ErrorCode::InvalidField, "proof", "3-2000 characters: say what was done"));
    }
    let row =
        st.store.id_work_item_complete(id, &ctx.actor_ref(), proof, st.clock.now()).await.map_err(|e| match e {
            bposhield_store::StoreError::NotFound => {
                AppError::new(ErrorCode::Conflict, "no open work item with this id")
            }
            other => other.into(),
        })?;
    if let Ok(op) = serde_json::from_str::<bposhield_identity::model::Op>(&row.op) {
        // A manual target is never read: what IT did is what the platform records,
        // including the account a manual create made (keyed by its login).
        let key = match (&row.account_key, &op) {
            (Some(k), _) => Some(k.clone()),
            (None, bposhield_identity::model::Op::Create { login, .. }) => Some(login.clone()),
            _ => None,
        };
        if let Some(key) = key {
            st.store.id_account_applied(&row.target_id, &key, row.person_id.as_deref(), &op, st.clock.now()).await?;
        }
    }
    st.audit(
        ctx,
        &format!("identity.action.{}", row.op_name),
        &format!("account:{}/{}", row.target_id, row.account_key.as_deref().unwrap_or("new")),
        Outcome::Success,
        json!({ "action": row.id, "plan": row.plan_id, "person": row.person_id, "manual": true, "proof_chars": proof.len() }),
    )
    .await
}

/// Completes a manual work item.
#[utoipa::path(post, path = "/api/v1/identity/work-items/{id}/complete", params(("id" = String, Path)), request_body = ProofInput,
    responses((status = 204), (status = 409, body = ApiError)))]
async fn complete_work_item(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<ProofInput>,
) -> AppResult<Response> {
    complete_item(&st, &ctx, Some(&a), &id, &b.proof).await?;
    Ok(crate::routes::no_content())
}

// ---- access reviews ------------------------------------------------------------------

/// Campaigns, newest first.
#[utoipa::path(get, path = "/api/v1/reviews", responses((status = 200, body = Vec<Object>)))]
async fn list_campaigns(State(st): State<AppState>) -> AppResult<Json<Vec<bposhield_store::identity::CampaignRow>>> {
    Ok(Json(st.store.id_campaigns(200).await?))
}

/// Creates a review campaign.
#[utoipa::path(post, path = "/api/v1/reviews", request_body = CampaignInput,
    responses((status = 201, body = Object), (status = 422, body = ApiError)))]
async fn create_campaign(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<CampaignInput>,
) -> AppResult<Response> {
    let c = reviews::create(&st, &ctx, Some(&a), &b).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// A campaign with the items the caller may decide (all of them for the security
/// officer) and its figures.
#[utoipa::path(get, path = "/api/v1/reviews/{id}", params(("id" = String, Path)),
    responses((status = 200, body = CampaignReport), (status = 404, body = ApiError)))]
async fn get_campaign(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<CampaignReport>> {
    let mut r = reviews::report(&st, &id).await?;
    r.items = reviews::items_for(&st, &a, &r.campaign).await?;
    Ok(Json(r))
}

/// The campaign report as CSV (evidence; security officer and auditors see all items).
#[utoipa::path(get, path = "/api/v1/reviews/{id}/report.csv", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String)))]
async fn campaign_csv(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let mut r = reviews::report(&st, &id).await?;
    r.items = reviews::items_for(&st, &a, &r.campaign).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"review.csv\""),
        ],
        reviews::report_csv(&r),
    )
        .into_response())
}

/// Decides one review item (keep or revoke, with a comment).
#[utoipa::path(post, path = "/api/v1/reviews/{id}/items/{item}/decision", params(("id" = String, Path), ("item" = String, Path)),
    request_body = DecisionInput, responses((status = 200, body = Object), (status = 409, body = ApiError)))]
async fn decide_item(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath((id, item)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<DecisionInput>,
) -> AppResult<Json<bposhield_store::identity::ReviewItemRow>> {
    Ok(Json(reviews::decide(&st, &ctx, &a, &id, &item, &b).await?))
}

/// Closes a campaign now (undecided items take the default decision).
#[utoipa::path(post, path = "/api/v1/reviews/{id}/close", params(("id" = String, Path)),
    responses((status = 200, body = CampaignReport), (status = 409, body = ApiError)))]
async fn close_campaign(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<CampaignReport>> {
    Ok(Json(reviews::close(&st, &ctx, Some(&a), &id).await?))
}
