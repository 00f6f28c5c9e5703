//! SCIM state changes and queries: each write maps the resource, changes the platform
//! through its service (Users go through the identity lifecycle), stores the resource
//! and writes its audit event (ids and state digests only, no personal data).

use super::{ScimFail, ScimRes, MAX_COUNT};
use crate::audit::Outcome;
use crate::ctx::Ctx;
use crate::error::AppError;
use crate::AppState;
use bposhield_identity::model::HrRecord;
use bposhield_proto::{ErrorCode, Person, PersonId, PersonInput};
use bposhield_scim::filter::{get_ci, matches, CompareOp, Filter};
use bposhield_scim::schema::{ResourceType, BPO_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_TYPE, USER_TYPE};
use bposhield_scim::{list_response, normalize, patch, Projection, ScimError};
use bposhield_store::scim::{ScimKeys, ScimKind, ScimLookup, ScimRow};
use bposhield_store::StoreError;
use serde_json::{json, Value};
use sha2::Digest;

/// Where the resource lives: its kind, type and URL segment.
#[derive(Clone, Copy)]
pub(crate) struct Kind {
    pub kind: ScimKind,
    pub rt: &'static ResourceType,
}

pub(crate) const USERS: Kind = Kind { kind: ScimKind::User, rt: &USER_TYPE };
pub(crate) const GROUPS: Kind = Kind { kind: ScimKind::Group, rt: &GROUP_TYPE };

impl Kind {
    fn noun(self) -> &'static str {
        match self.kind {
            ScimKind::User => "user",
            ScimKind::Group => "group",
        }
    }

    fn object(self, id: &str) -> String {
        match self.kind {
            ScimKind::User => format!("person:{id}"),
            ScimKind::Group => format!("scim-group:{id}"),
        }
    }
}

/// The ETag of a stored resource.
#[must_use]
pub(crate) fn etag(row: &ScimRow) -> String {
    format!("W/\"{}\"", row.version)
}

/// The resource as answered: the stored document with `meta`.
pub(crate) fn render(k: Kind, row: &ScimRow, base: &str) -> ScimRes<Value> {
    let mut doc: Value = serde_json::from_str(&row.doc).map_err(|e| ScimFail::from(AppError::internal(e)))?;
    if let Some(o) = doc.as_object_mut() {
        o.insert(
            "meta".into(),
            json!({
                "resourceType": k.rt.name,
                "created": bposhield_scim::format_time(row.created_at),
                "lastModified": bposhield_scim::format_time(row.updated_at),
                "location": format!("{base}{}/{}", k.rt.endpoint, row.id),
                "version": etag(row),
            }),
        );
    }
    Ok(doc)
}

fn not_found(k: Kind) -> ScimFail {
    ScimFail::new(ErrorCode::NotFound, format!("no such {}", k.noun()))
}

async fn load(st: &AppState, k: Kind, id: &str) -> ScimRes<ScimRow> {
    st.store.scim_get(k.kind, id).await.map_err(|e| match e {
        StoreError::NotFound => not_found(k),
        other => other.into(),
    })
}

/// One resource.
pub(crate) async fn get(st: &AppState, k: Kind, id: &str) -> ScimRes<ScimRow> {
    load(st, k, id).await
}

/// `If-Match`: `*` or a list of entity tags, one of which must be the current one.
fn check_if_match(row: &ScimRow, if_match: Option<&str>) -> ScimRes<()> {
    let Some(h) = if_match else { return Ok(()) };
    let current = etag(row);
    let strong = current.trim_start_matches("W/");
    let ok = h.split(',').map(str::trim).any(|t| t == "*" || t == current || t.trim_start_matches("W/") == strong);
    if ok {
        Ok(())
    } else {
        Err(ScimFail::new(
            ErrorCode::ScimPreconditionFailed,
            format!("the resource changed: its ETag is now {current}"),
        ))
    }
}

fn keys(k: Kind, doc: &Value) -> ScimKeys {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let name = match k.kind {
        ScimKind::User => s(get_ci(doc, "userName")),
        ScimKind::Group => s(get_ci(doc, "displayName")),
    };
    ScimKeys {
        name: name.unwrap_or_default(),
        external_id: s(get_ci(doc, "externalId")),
        employee_number: s(get_ci(doc, ENTERPRISE_USER_SCHEMA).and_then(|e| get_ci(e, "employeeNumber")))
            .map(|x| x.to_lowercase()),
    }
}

/// The stored document: the normalised resource with its id and schemas.
fn stored(k: Kind, id: &str, mut doc: Value) -> Value {
    let mut schemas = vec![Value::String(k.rt.schema.id.into())];
    for e in k.rt.extensions {
        if doc.get(e.id).is_some() {
            schemas.push(Value::String(e.id.into()));
        }
    }
    if let Some(o) = doc.as_object_mut() {
        o.insert("id".into(), Value::String(id.into()));
        o.insert("schemas".into(), Value::Array(schemas));
    }
    doc
}

fn to_text(v: &Value) -> ScimRes<String> {
    serde_json::to_string(v).map_err(|e| AppError::internal(e).into())
}

/// A name another resource already has.
async fn name_free(st: &AppState, k: Kind, keys: &ScimKeys, except: Option<&str>) -> ScimRes<()> {
    let taken = st.store.scim_list(k.kind, Some(&ScimLookup::Name(keys.name.clone()))).await?;
    if taken.iter().any(|r| Some(r.id.as_str()) != except) {
        let what = if k.kind == ScimKind::User { "userName" } else { "displayName" };
        return Err(ScimError {
            status: 409,
            scim_type: Some(bposhield_scim::ScimType::Uniqueness),
            detail: format!("{what} is already in use"),
        }
        .into());
    }
    Ok(())
}

fn unique_err(k: Kind) -> impl Fn(StoreError) -> ScimFail {
    move |e| match e {
        StoreError::Unique(_) => ScimError {
            status: 409,
            scim_type: Some(bposhield_scim::ScimType::Uniqueness),
            detail: format!("a {} with this name exists", k.noun()),
        }
        .into(),
        other => other.into(),
    }
}

// ---- users ---------------------------------------------------------------------------

fn text_at<'v>(doc: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut cur = doc;
    for p in path {
        cur = get_ci(cur, p)?;
    }
    cur.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// The employee id a new SCIM User gets without `employeeNumber`: its `userName` when
/// that is a valid employee id, else a stable digest of it (e-mail-style user names).
fn derived_employee_id(user_name: &str) -> String {
    let u = user_name.trim();
    if !u.is_empty() && u.len() <= 32 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return u.to_owned();
    }
    let d = hex::encode(sha2::Sha256::digest(u.to_lowercase().as_bytes()));
    format!("SCIM-{}", &d[..27])
}

/// The HR record a SCIM User states (see `docs/scim.md` for the mapping). `current` is
/// the person the User already is, if any: its employee id, hire and exit dates stay
/// unless the User says otherwise.
pub async fn hr_record(st: &AppState, doc: &Value, current: Option<&Person>) -> ScimRes<HrRecord> {
    let ent = |a: &str| text_at(doc, &[ENTERPRISE_USER_SCHEMA, a]);
    let bpo = |a: &str| text_at(doc, &[BPO_USER_SCHEMA, a]);
    let user_name = text_at(doc, &["userName"]).unwrap_or_default();
    let display = text_at(doc, &["displayName"]);
    let employee_id = match (ent("employeeNumber"), current) {
        (Some(e), _) => e.to_owned(),
        (None, Some(p)) => p.employee_id.clone(),
        (None, None) => derived_employee_id(user_name),
    };
    let email = get_ci(doc, "emails").and_then(Value::as_array).and_then(|emails| {
        let pick = emails
            .iter()
            .find(|e| get_ci(e, "primary") == Some(&Value::Bool(true)))
            .or_else(|| emails.iter().find(|e| text_at(e, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case("work"))))
            .or_else(|| emails.first())?;
        text_at(pick, &["value"]).map(str::to_owned)
    });
    let manager_employee_id =
        match ent("manager").or_else(|| text_at(doc, &[ENTERPRISE_USER_SCHEMA, "manager", "value"])) {
            None => None,
            Some(m) => {
                let bad = || ScimFail::from(ScimError::value("manager.value names no User of this service"));
                let pid: PersonId = m.parse().map_err(|_| bad())?;
                let p = st.store.person(pid).await.map_err(|e| match e {
                    StoreError::NotFound => bad(),
                    other => other.into(),
                })?;
                Some(p.employee_id)
            }
        };
    let terminated = matches!(get_ci(doc, "active"), Some(Value::Bool(false)));
    let today = st.clock.today();
    let opt = |x: Option<&str>| x.map(str::to_owned);
    Ok(HrRecord {
        employee_id,
        given_name: text_at(doc, &["name", "givenName"]).or(display).unwrap_or(user_name).to_owned(),
        family_name: text_at(doc, &["name", "familyName"]).or(display).unwrap_or(user_name).to_owned(),
        email,
        login: Some(user_name.to_owned()),
        site: bpo("site").or_else(|| ent("organization")).unwrap_or_default().to_owned(),
        process: opt(bpo("process").or_else(|| ent("department"))),
        team: opt(bpo("team").or_else(|| ent("division"))),
        manager_employee_id,
        job_role: bpo("jobRole")
            .or_else(|| text_at(doc, &["title"]))
            .or_else(|| text_at(doc, &["userType"]))
            .unwrap_or("agent")
            .to_owned(),
        status: if terminated { "terminated" } else { "active" }.to_owned(),
        status_reason: None,
        hire_date: opt(bpo("hireDate"))
            .or_else(|| current.map(|p| p.hire_date.clone()))
            .unwrap_or_else(|| today.clone()),
        exit_date: opt(bpo("exitDate"))
            .or_else(|| terminated.then(|| current.and_then(|p| p.exit_date.clone()).unwrap_or_else(|| today.clone()))),
    })
}

/// Gives the person a new employee id before the HR record (which is matched on it)
/// is applied, so a changed `employeeNumber` renames the person instead of creating
/// another.
async fn rename_employee(st: &AppState, ctx: &Ctx, p: &Person, employee_id: &str) -> ScimRes<()> {
    if p.employee_id == employee_id {
        return Ok(());
    }
    let input = PersonInput {
        employee_id: employee_id.to_owned(),
        given_name: p.given_name.clone(),
        family_name: p.family_name.clone(),
        email: p.email.clone(),
        site_id: p.site_id,
        process_id: p.process_id,
        team_id: p.team_id,
        manager_id: p.manager_id,
        job_role: p.job_role.clone(),
        status: p.status,
        hire_date: p.hire_date.clone(),
        exit_date: p.exit_date.clone(),
    };
    crate::services::update_person(st, ctx, None, p.id, &input).await?;
    Ok(())
}

/// Creates a User: the person joins (or, inactive, is recorded as a leaver) through
/// the identity lifecycle; the resource id is the person id.
pub(crate) async fn create_user(st: &AppState, ctx: &Ctx, body: &Value) -> ScimRes<ScimRow> {
    let doc = normalize(&USER_TYPE, body)?;
    let keys = keys(USERS, &doc);
    name_free(st, USERS, &keys, None).await?;
    let record = hr_record(st, &doc, None).await?;
    // A person already provisioned through another SCIM User must not be taken over.
    match st.store.person_by_employee_id(&record.employee_id).await {
        Ok(p) if st.store.scim_get(ScimKind::User, &p.id.to_string()).await.is_ok() => {
            return Err(ScimError {
                status: 409,
                scim_type: Some(bposhield_scim::ScimType::Uniqueness),
                detail: "another User has this employeeNumber".into(),
            }
            .into());
        }
        Ok(_) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let pid = crate::identity::apply_hr_record(st, ctx, record, "scim").await?;
    let id = pid.to_string();
    let doc = stored(USERS, &id, doc);
    let row = st
        .store
        .scim_insert(ScimKind::User, &id, &keys, &to_text(&doc)?, st.clock.now())
        .await
        .map_err(unique_err(USERS))?;
    st.audit_change(ctx, "scim.user.create", &USERS.object(&id), Outcome::Success, json!({}), None::<&()>, Some(&doc))
        .await?;
    Ok(row)
}

/// Replaces a resource with `doc` (already normalised), after `If-Match`.
async fn write(st: &AppState, ctx: &Ctx, k: Kind, row: &ScimRow, doc: Value, action: &str) -> ScimRes<ScimRow> {
    let keys = keys(k, &doc);
    name_free(st, k, &keys, Some(&row.id)).await?;
    if k.kind == ScimKind::User {
        let pid: PersonId =
            row.id.parse().map_err(|_| ScimFail::from(AppError::internal("SCIM user id is not a person id")))?;
        let person = st.store.person(pid).await?;
        let record = hr_record(st, &doc, Some(&person)).await?;
        rename_employee(st, ctx, &person, &record.employee_id).await?;
        let got = crate::identity::apply_hr_record(st, ctx, record, "scim").await?;
        if got != pid {
            return Err(AppError::internal(format!("SCIM user {pid} resolved to person {got}")).into());
        }
    }
    let before: Value = serde_json::from_str(&row.doc).unwrap_or(Value::Null);
    let doc = stored(k, &row.id, doc);
    let updated = st
        .store
        .scim_update(k.kind, &row.id, &keys, &to_text(&doc)?, row.version, st.clock.now())
        .await
        .map_err(unique_err(k))?
        .ok_or_else(|| ScimFail::new(ErrorCode::Conflict, "changed by another request meanwhile; read it again"))?;
    st.audit_change(ctx, action, &k.object(&row.id), Outcome::Success, json!({}), Some(&before), Some(&doc)).await?;
    Ok(updated)
}

/// PUT: replaces the resource.
pub(crate) async fn replace(
    st: &AppState,
    ctx: &Ctx,
    k: Kind,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> ScimRes<ScimRow> {
    let row = load(st, k, id).await?;
    check_if_match(&row, if_match)?;
    let doc = normalize(k.rt, body)?;
    write(st, ctx, k, &row, doc, &format!("scim.{}.replace", k.noun())).await
}

/// PATCH: applies the operations to the stored resource.
pub(crate) async fn patch(
    st: &AppState,
    ctx: &Ctx,
    k: Kind,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> ScimRes<ScimRow> {
    let ops = patch::parse_request(body)?;
    let row = load(st, k, id).await?;
    check_if_match(&row, if_match)?;
    let current: Value = serde_json::from_str(&row.doc).map_err(|e| ScimFail::from(AppError::internal(e)))?;
    let changed = patch::apply(k.rt, &current, &ops)?;
    let doc = normalize(k.rt, &changed)?;
    write(st, ctx, k, &row, doc, &format!("scim.{}.patch", k.noun())).await
}

/// DELETE: for a User, the person leaves (disabled everywhere); the resource is gone.
pub(crate) async fn delete(st: &AppState, ctx: &Ctx, k: Kind, id: &str, if_match: Option<&str>) -> ScimRes<()> {
    let row = load(st, k, id).await?;
    check_if_match(&row, if_match)?;
    let doc: Value = serde_json::from_str(&row.doc).map_err(|e| ScimFail::from(AppError::internal(e)))?;
    if k.kind == ScimKind::User {
        let pid: PersonId =
            row.id.parse().map_err(|_| ScimFail::from(AppError::internal("SCIM user id is not a person id")))?;
        let person = st.store.person(pid).await?;
        let mut leaver = doc.clone();
        if let Some(o) = leaver.as_object_mut() {
            o.insert("active".into(), Value::Bool(false));
        }
        let record = hr_record(st, &leaver, Some(&person)).await?;
        crate::identity::apply_hr_record(st, ctx, record, "scim").await?;
    }
    st.store.scim_delete(k.kind, id).await?;
    st.audit_change(
        ctx,
        &format!("scim.{}.delete", k.noun()),
        &k.object(id),
        Outcome::Success,
        json!({}),
        Some(&doc),
        None::<&()>,
    )
    .await?;
    Ok(())
}

// ---- groups --------------------------------------------------------------------------

/// Creates a Group (stored as sent).
pub(crate) async fn create_group(st: &AppState, ctx: &Ctx, body: &Value) -> ScimRes<ScimRow> {
    let doc = normalize(&GROUP_TYPE, body)?;
    let keys = keys(GROUPS, &doc);
    name_free(st, GROUPS, &keys, None).await?;
    let id =
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, u64::try_from(st.clock.now()).unwrap_or(0), 0))
            .to_string();
    let doc = stored(GROUPS, &id, doc);
    let row = st
        .store
        .scim_insert(ScimKind::Group, &id, &keys, &to_text(&doc)?, st.clock.now())
        .await
        .map_err(unique_err(GROUPS))?;
    st.audit_change(
        ctx,
        "scim.group.create",
        &GROUPS.object(&id),
        Outcome::Success,
        json!({}),
        None::<&()>,
        Some(&doc),
    )
    .await?;
    Ok(row)
}

// ---- queries -------------------------------------------------------------------------

/// A list query.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub projection: Projection,
}

/// An equality the store can answer from an index, narrowing the rows the filter is
/// then evaluated on (the whole filter is always evaluated in memory afterwards).
fn pushdown(k: Kind, f: &Filter) -> Option<ScimLookup> {
    match f {
        Filter::Compare(p, CompareOp::Eq, Value::String(v)) if p.sub.is_none() => {
            let core = p.urn.as_deref().is_none_or(|u| k.rt.is_core(u));
            let name = if k.kind == ScimKind::User { "userName" } else { "displayName" };
            if core && p.attr.eq_ignore_ascii_case(name) {
                Some(ScimLookup::Name(v.clone()))
            } else if core && p.attr.eq_ignore_ascii_case("externalId") {
                Some(ScimLookup::ExternalId(v.clone()))
            } else if k.kind == ScimKind::User
                && p.urn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
                && p.attr.eq_ignore_ascii_case("employeeNumber")
            {
                Some(ScimLookup::EmployeeNumber(v.to_lowercase()))
            } else {
                None
            }
        }
        Filter::And(l, r) => pushdown(k, l).or_else(|| pushdown(k, r)),
        _ => None,
    }
}

/// A page of resources of the kinds `ks` (one, or all for the root `/.search`) matching
/// the query, as a ListResponse. Rows are filtered in memory after the pushed-down
/// equality (see `docs/scim.md` for the limits).
pub(crate) async fn list(st: &AppState, ks: &[Kind], q: &ListQuery, base: &str) -> ScimRes<Value> {
    let filter = q.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()).map(Filter::parse).transpose()?;
    let start = u64::try_from(q.start_index.unwrap_or(1).max(1)).unwrap_or(1);
    let wanted = q.count.unwrap_or(i64::try_from(super::DEFAULT_COUNT).unwrap_or(100)).max(0);
    let count = u64::try_from(wanted).unwrap_or(0).min(MAX_COUNT);
    let mut total = 0u64;
    let mut page = Vec::new();
    for &k in ks {
        let lookup = filter.as_ref().and_then(|f| pushdown(k, f));
        let rows = st.store.scim_list(k.kind, lookup.as_ref()).await?;
        for row in &rows {
            let doc = render(k, row, base)?;
            if let Some(f) = &filter {
                if !matches(f, k.rt, &doc)? {
                    continue;
                }
            }
            total += 1;
            if total >= start && (page.len() as u64) < count {
                page.push(q.projection.apply(k.rt, &doc));
            }
        }
    }
    Ok(list_response(page, total, start))
}
