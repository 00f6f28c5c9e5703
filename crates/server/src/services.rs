//! Services: every state change of the platform core, each writing its audit event.
//! The API and the web pages are thin adapters over these; so is the CLI.
//!
//! `auth: Option<&Auth>` is the caller; `None` means the local operator acting through
//! the CLI on the data directory (who could edit the database anyway), recorded as
//! `anonymous` with the CLI's request id.

use crate::audit::Outcome;
use crate::ctx::{random_secret, secret_hash, Auth, Ctx, Via, TOKEN_PREFIX};
use crate::error::{AppError, AppResult};
use crate::AppState;
use bposhield_core::controls::{self, worst};
use bposhield_core::validate::{self, FieldError};
use bposhield_core::{authorize, password, totp, Action, Decision, Resource};
use bposhield_proto::*;
use bposhield_store::{PeopleFilter, StoreError};
use serde_json::json;

/// Longest manager chain followed when checking for cycles (deeper counts as a cycle).
const MAX_CHAIN: usize = 1000;

/// Largest page size of any list.
pub const MAX_LIMIT: u32 = 500;

/// Checks `action` on `resource` for the caller; denials are audited.
pub async fn check(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, action: Action, resource: Resource) -> AppResult<()> {
    let Some(auth) = auth else { return Ok(()) };
    match authorize(&auth.actor, action, resource) {
        Decision::Allow => Ok(()),
        Decision::Deny(reason) => {
            st.audit(ctx, action.as_str(), "resource", Outcome::Denied, json!({ "reason": reason })).await?;
            Err(AppError::new(ErrorCode::Forbidden, format!("not allowed: {reason}")))
        }
    }
}

fn new_ms(st: &AppState) -> u64 {
    u64::try_from(st.clock.now_ms()).unwrap_or(0)
}

fn problems(p: Vec<FieldError>) -> AppResult<()> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(AppError::from_problems(p))
    }
}

fn org_resource(site: SiteId, process: Option<ProcessId>, team: Option<TeamId>) -> Resource {
    Resource::Org { site, process, team }
}

fn unique_as<'a>(code: ErrorCode, field: &'a str, message: &'a str) -> impl Fn(StoreError) -> AppError + 'a {
    move |e| match e {
        StoreError::Unique(_) => AppError::field(code, field, message),
        other => other.into(),
    }
}

// ---- organisation ---------------------------------------------------------------------

/// Creates a site.
pub async fn create_site(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, i: &SiteInput) -> AppResult<Site> {
    check(st, ctx, auth, Action::OrgEdit, Resource::Global).await?;
    problems(validate::site(i))?;
    let id = SiteId::new_v7(new_ms(st));
    let site = st.store.insert_site(id, i, st.clock.now()).await.map_err(unique_as(
        ErrorCode::DuplicateName,
        "code",
        "a site with this code exists",
    ))?;
    st.audit_change(
        ctx,
        "org.site.create",
        &format!("site:{id}"),
        Outcome::Success,
        json!({}),
        None::<&()>,
        Some(&site),
    )
    .await?;
    Ok(site)
}

/// Replaces a site's fields.
pub async fn update_site(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, id: SiteId, i: &SiteInput) -> AppResult<Site> {
    let old = st.store.site(id).await.map_err(|_| AppError::not_found("site"))?;
    check(st, ctx, auth, Action::OrgEdit, org_resource(id, None, None)).await?;
    problems(validate::site(i))?;
    let site = st.store.update_site(id, i).await.map_err(unique_as(
        ErrorCode::DuplicateName,
        "code",
        "a site with this code exists",
    ))?;
    st.audit_change(
        ctx,
        "org.site.update",
        &format!("site:{id}"),
        Outcome::Success,
        json!({}),
        Some(&old),
        Some(&site),
    )
    .await?;
    Ok(site)
}

async fn site_exists(st: &AppState, id: SiteId, field: &str) -> AppResult<Site> {
    st.store.site(id).await.map_err(|e| match e {
        StoreError::NotFound => AppError::field(ErrorCode::UnknownReference, field, "no such site"),
        other => other.into(),
    })
}

/// Creates a process unit.
pub async fn create_process(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, i: &ProcessInput) -> AppResult<ProcessUnit> {
    problems(validate::process(i))?;
    site_exists(st, i.site_id, "site_id").await?;
    check(st, ctx, auth, Action::OrgEdit, org_resource(i.site_id, None, None)).await?;
    let id = ProcessId::new_v7(new_ms(st));
    let p = st.store.insert_process(id, i, st.clock.now()).await.map_err(unique_as(
        ErrorCode::DuplicateName,
        "code",
        "a process unit with this code exists",
    ))?;
    st.audit_change(
        ctx,
        "org.process.create",
        &format!("process:{id}"),
        Outcome::Success,
        json!({ "site": i.site_id }),
        None::<&()>,
        Some(&p),
    )
    .await?;
    Ok(p)
}

/// Replaces a process unit's fields.
pub async fn update_process(
    st: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    id: ProcessId,
    i: &ProcessInput,
) -> AppResult<ProcessUnit> {
    let old = st.store.process(id).await.map_err(|_| AppError::not_found("process unit"))?;
    check(st, ctx, auth, Action::OrgEdit, org_resource(old.site_id, Some(id), None)).await?;
    problems(validate::process(i))?;
    site_exists(st, i.site_id, "site_id").await?;
    check(st, ctx, auth, Action::OrgEdit, org_resource(i.site_id, Some(id), None)).await?;
    let p = st.store.update_process(id, i).await.map_err(unique_as(
        ErrorCode::DuplicateName,
        "code",
        "a process unit with this code exists",
    ))?;
    st.audit_change(
        ctx,
        "org.process.update",
        &format!("process:{id}"),
        Outcome::Success,
        json!({ "site": i.site_id }),
        Some(&old),
        Some(&p),
    )
    .await?;
    Ok(p)
}

async fn process_exists(st: &AppState, id: ProcessId, field: &str) -> AppResult<ProcessUnit> {
    st.store.process(id).await.map_err(|e| match e {
        StoreError::NotFound => AppError::field(ErrorCode::UnknownReference, field, "no such process unit"),
        other => other.into(),
    })
}

/// Creates a team in a process unit (its site is the process unit's).
pub async fn create_team(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, i: &TeamInput) -> AppResult<Team> {
    problems(validate::team(i))?;
    let p = process_exists(st, i.process_id, "process_id").await?;
    check(st, ctx, auth, Action::OrgEdit, org_resource(p.site_id, Some(p.id), None)).await?;
    let id = TeamId::new_v7(new_ms(st));
    let t = st.store.insert_team(id, p.site_id, i, st.clock.now()).await.map_err(unique_as(
        ErrorCode::DuplicateName,
        "name",
        "this process unit already has a team with this name",
    ))?;
    st.audit_change(
        ctx,
        "org.team.create",
        &format!("team:{id}"),
        Outcome::Success,
        json!({ "process": p.id }),
        None::<&()>,
        Some(&t),
    )
    .await?;
    Ok(t)
}

/// Renames a team or moves it to another process unit.
pub async fn update_team(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, id: TeamId, i: &TeamInput) -> AppResult<Team> {
    let old = st.store.team(id).await.map_err(|_| AppError::not_found("team"))?;
    check(st, ctx, auth, Action::OrgEdit, org_resource(old.site_id, Some(old.process_id), Some(id))).await?;
    problems(validate::team(i))?;
    let p = process_exists(st, i.process_id, "process_id").await?;
    check(st, ctx, auth, Action::OrgEdit, org_resource(p.site_id, Some(p.id), Some(id))).await?;
    let t = st.store.update_team(id, p.site_id, i).await.map_err(unique_as(
        ErrorCode::DuplicateName,
        "name",
        "this process unit already has a team with this name",
    ))?;
    st.audit_change(
        ctx,
        "org.team.update",
        &format!("team:{id}"),
        Outcome::Success,
        json!({ "process": p.id }),
        Some(&old),
        Some(&t),
    )
    .await?;
    Ok(t)
}

// ---- people ---------------------------------------------------------------------------

/// Query of the people list.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeopleQuery {
    /// Substring of employee id, name or e-mail.
    pub q: Option<String>,
    pub site_id: Option<SiteId>,
    pub process_id: Option<ProcessId>,
    pub team_id: Option<TeamId>,
    pub status: Option<EmploymentStatus>,
    /// Page size, 1..=500 (default 50).
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// A page of people the caller may see.
pub async fn list_people(st: &AppState, auth: &Auth, q: &PeopleQuery) -> AppResult<Page<Person>> {
    let vis = bposhield_core::authz::visibility(&auth.actor, Action::PeopleView);
    let f = people_filter(q)?;
    let (items, total) = st.store.people(&f, &vis).await?;
    Ok(Page { items, total, limit: f.limit, offset: f.offset })
}

/// The same page as [`list_people`], already serialised: the API's hot path (see
/// `Store::people_page_json`).
pub async fn list_people_json(st: &AppState, auth: &Auth, q: &PeopleQuery) -> AppResult<String> {
    let vis = bposhield_core::authz::visibility(&auth.actor, Action::PeopleView);
    let f = people_filter(q)?;
    let (items, total) = st.store.people_page_json(&f, &vis).await?;
    Ok(format!(r#"{{"items":[{items}],"total":{total},"limit":{},"offset":{}}}"#, f.limit, f.offset))
}

fn people_filter(q: &PeopleQuery) -> AppResult<PeopleFilter> {
    Ok(PeopleFilter {
        q: q.q.clone(),
        site_id: q.site_id,
        process_id: q.process_id,
        team_id: q.team_id,
        status: q.status,
        limit: page_limit(q.limit)?,
        offset: q.offset.unwrap_or(0),
    })
}

/// Validates a page size.
pub fn page_limit(limit: Option<u32>) -> AppResult<u32> {
    match limit.unwrap_or(50) {
        0 => Err(AppError::field(ErrorCode::InvalidQuery, "limit", "must be at least 1")),
        l if l > MAX_LIMIT => {
            Err(AppError::field(ErrorCode::InvalidQuery, "limit", format!("must be at most {MAX_LIMIT}")))
        }
        l => Ok(l),
    }
}

/// One person, if the caller's scope covers them.
pub async fn get_person(st: &AppState, ctx: &Ctx, auth: &Auth, id: PersonId) -> AppResult<Person> {
    let p = st.store.person(id).await.map_err(|_| AppError::not_found("person"))?;
    check(st, ctx, Some(auth), Action::PeopleView, org_resource(p.site_id, p.process_id, p.team_id)).await?;
    Ok(p)
}

/// Checks references of a person input: site, process in that site, team in that process,
/// manager exists and is not the person, no manager cycle.
async fn check_person_refs(st: &AppState, id: Option<PersonId>, i: &PersonInput) -> AppResult<()> {
    site_exists(st, i.site_id, "site_id").await?;
    if let Some(pid) = i.process_id {
        let p = process_exists(st, pid, "process_id").await?;
        if p.site_id != i.site_id {
            return Err(AppError::field(
                ErrorCode::TeamSiteMismatch,
                "process_id",
                "this process unit belongs to another site",
            ));
        }
    }
    if let Some(tid) = i.team_id {
        let t = st.store.team(tid).await.map_err(|e| match e {
            StoreError::NotFound => AppError::field(ErrorCode::UnknownReference, "team_id", "no such team"),
            other => other.into(),
        })?;
        if t.site_id != i.site_id || Some(t.process_id) != i.process_id {
            return Err(AppError::field(
                ErrorCode::TeamSiteMismatch,
                "team_id",
                "this team belongs to another site or process unit",
            ));
        }
    }
    if let Some(mid) = i.manager_id {
        if st.store.manager_of(mid).await.is_err() || st.store.person(mid).await.is_err() {
            return Err(AppError::field(ErrorCode::UnknownReference, "manager_id", "no such person"));
        }
        if let Some(id) = id {
            // Load the chain above the new manager (bounded; stops at the person), then
            // let the core rule decide.
            let mut managers = std::collections::HashMap::new();
            let mut cur = mid;
            for _ in 0..MAX_CHAIN {
                if cur == id {
                    break;
                }
                match st.store.manager_of(cur).await? {
                    Some(m) => {
                        managers.insert(cur, m);
                        cur = m;
                    }
                    None => break,
                }
            }
            if bposhield_core::org::creates_cycle(id, mid, MAX_CHAIN, |p| managers.get(&p).copied()) {
                return Err(AppError::field(
                    ErrorCode::ManagerCycle,
                    "manager_id",
                    "this manager is managed, directly or not, by this person",
                ));
            }
        }
    }
    Ok(())
}

async fn employee_id_free(st: &AppState, employee_id: &str, except: Option<PersonId>) -> AppResult<()> {
    match st.store.person_by_employee_id(employee_id.trim()).await {
        Ok(p) if Some(p.id) != except => {
            Err(AppError::field(ErrorCode::DuplicateEmployeeId, "employee_id", "another person has this employee id"))
        }
        Ok(_) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates a person.
pub async fn create_person(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, i: &PersonInput) -> AppResult<Person> {
    problems(validate::person(i))?;
    check(st, ctx, auth, Action::PeopleEdit, org_resource(i.site_id, i.process_id, i.team_id)).await?;
    check_person_refs(st, None, i).await?;
    employee_id_free(st, &i.employee_id, None).await?;
    let id = PersonId::new_v7(new_ms(st));
    let p = st.store.insert_person(id, i, st.clock.now()).await.map_err(unique_as(
        ErrorCode::DuplicateEmployeeId,
        "employee_id",
        "another person has this employee id",
    ))?;
    st.audit_change(
        ctx,
        "people.create",
        &format!("person:{id}"),
        Outcome::Success,
        json!({ "status": i.status }),
        None::<&()>,
        Some(&p),
    )
    .await?;
    Ok(p)
}

/// Replaces a person's fields.
pub async fn update_person(
    st: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    id: PersonId,
    i: &PersonInput,
) -> AppResult<Person> {
    let old = st.store.person(id).await.map_err(|_| AppError::not_found("person"))?;
    check(st, ctx, auth, Action::PeopleEdit, org_resource(old.site_id, old.process_id, old.team_id)).await?;
    problems(validate::person(i))?;
    check(st, ctx, auth, Action::PeopleEdit, org_resource(i.site_id, i.process_id, i.team_id)).await?;
    if i.manager_id == Some(id) {
        return Err(AppError::field(ErrorCode::ManagerCycle, "manager_id", "a person cannot manage themselves"));
    }
    check_person_refs(st, Some(id), i).await?;
    employee_id_free(st, &i.employee_id, Some(id)).await?;
    let p = st.store.update_person(id, i, st.clock.now()).await.map_err(unique_as(
        ErrorCode::DuplicateEmployeeId,
        "employee_id",
        "another person has this employee id",
    ))?;
    st.audit_change(
        ctx,
        "people.update",
        &format!("person:{id}"),
        Outcome::Success,
        json!({ "status_before": old.status, "status_after": p.status }),
        Some(&old),
        Some(&p),
    )
    .await?;
    Ok(p)
}

// ---- users and roles ------------------------------------------------------------------

fn password_problem(field: &str, e: &password::PasswordProblem) -> AppError {
    AppError::field(ErrorCode::WeakPassword, field, e.to_string())
}

fn hash_password(pw: &str) -> AppResult<String> {
    password::hash(pw).map_err(AppError::internal)
}

async fn check_scope_exists(st: &AppState, scope: Scope) -> AppResult<()> {
    let ok = match scope {
        Scope::Global => true,
        Scope::Site(id) => st.store.site(id).await.is_ok(),
        Scope::Process(id) => st.store.process(id).await.is_ok(),
        Scope::Team(id) => st.store.team(id).await.is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::field(ErrorCode::InvalidScope, "scope", format!("{scope} names nothing that exists")))
    }
}

/// Someone's access shrank or grew: drop cached token authentications here now, and on
/// the other replicas within a second (they poll the epoch).
pub(crate) async fn access_changed(st: &AppState) -> AppResult<()> {
    st.auth_cache.clear();
    st.store.bump_auth_epoch().await?;
    Ok(())
}

/// Creates a user with grants.
pub async fn create_user(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, i: &UserInput) -> AppResult<User> {
    check(st, ctx, auth, Action::UsersAdmin, Resource::Global).await?;
    problems(validate::user(i))?;
    password::check_policy(&i.password, &[&i.username, &i.display_name])
        .map_err(|e| password_problem("password", &e))?;
    if st.store.user_auth_by_username(&i.username).await?.is_some() {
        return Err(AppError::field(ErrorCode::DuplicateUsername, "username", "this username is taken"));
    }
    if let Some(pid) = i.person_id {
        st.store
            .person(pid)
            .await
            .map_err(|_| AppError::field(ErrorCode::UnknownReference, "person_id", "no such person"))?;
        if st.store.user_by_person(pid).await?.is_some() {
            return Err(AppError::field(ErrorCode::PersonAlreadyLinked, "person_id", "this person already has a user"));
        }
    }
    for g in &i.grants {
        check_scope_exists(st, g.scope).await?;
    }
    let mut grants: Vec<(GrantId, GrantInput)> = Vec::new();
    for g in &i.grants {
        if !grants.iter().any(|(_, x)| x == g) {
            grants.push((GrantId::new_v7(new_ms(st)), g.clone()));
        }
    }
    let hash = hash_password(&i.password)?;
    let id = UserId::new_v7(new_ms(st));
    let user = st.store.insert_user(id, i, &hash, &grants, st.clock.now()).await.map_err(unique_as(
        ErrorCode::DuplicateUsername,
        "username",
        "this username is taken",
    ))?;
    let granted: Vec<String> = user.grants.iter().map(|g| format!("{}@{}", g.role, g.scope)).collect();
    st.audit(
        ctx,
        "users.create",
        &format!("user:{id}"),
        Outcome::Success,
        json!({ "grants": granted, "person": i.person_id }),
    )
    .await?;
    Ok(user)
}

/// One user.
pub async fn get_user(st: &AppState, id: UserId) -> AppResult<User> {
    st.store.user(id).await.map_err(|_| AppError::not_found("user"))
}

/// Looks a user up by username.
pub async fn user_by_username(st: &AppState, username: &str) -> AppResult<User> {
    let row = st.store.user_auth_by_username(username).await?.ok_or_else(|| AppError::not_found("user"))?;
    get_user(st, row.id).await
}

/// Grants a role at a scope.
pub async fn add_grant(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, user: UserId, g: &GrantInput) -> AppResult<User> {
    check(st, ctx, auth, Action::UsersAdmin, Resource::Global).await?;
    get_user(st, user).await?;
    check_scope_exists(st, g.scope).await?;
    st.store.insert_grant(GrantId::new_v7(new_ms(st)), user, g, st.clock.now()).await.map_err(unique_as(
        ErrorCode::Conflict,
        "role",
        "the user already holds this role at this scope",
    ))?;
    access_changed(st).await?;
    st.audit(
        ctx,
        "users.grant",
        &format!("user:{user}"),
        Outcome::Success,
        json!({ "role": g.role, "scope": g.scope }),
    )
    .await?;
    get_user(st, user).await
}

/// Revokes a grant.
pub async fn remove_grant(
    st: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    user: UserId,
    grant: GrantId,
) -> AppResult<User> {
    check(st, ctx, auth, Action::UsersAdmin, Resource::Global).await?;
    let u = get_user(st, user).await?;
    let g = u.grants.iter().find(|g| g.id == grant).ok_or_else(|| AppError::not_found("grant"))?;
    st.store.delete_grant(user, grant).await?;
    access_changed(st).await?;
    st.audit(
        ctx,
        "users.revoke",
        &format!("user:{user}"),
        Outcome::Success,
        json!({ "role": g.role, "scope": g.scope }),
    )
    .await?;
    get_user(st, user).await
}

/// Disables (ending every session and revoking every token) or re-enables a user.
pub async fn set_disabled(
    st: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    user: UserId,
    disabled: bool,
) -> AppResult<User> {
    check(st, ctx, auth, Action::UsersAdmin, Resource::Global).await?;
    get_user(st, user).await?;
    if disabled && auth.is_some_and(|a| a.user.id == user) {
        return Err(AppError::new(ErrorCode::Conflict, "you cannot disable your own account"));
    }
    st.store.set_user_disabled(user, disabled).await?;
    access_changed(st).await?;
    let (sessions, tokens) = if disabled {
        (st.store.delete_user_sessions(user).await?, st.store.revoke_user_tokens(user, st.clock.now()).await?)
    } else {
        (0, 0)
    };
    let action = if disabled { "users.disable" } else { "users.enable" };
    st.audit(
        ctx,
        action,
        &format!("user:{user}"),
        Outcome::Success,
        json!({ "sessions_ended": sessions, "tokens_revoked": tokens }),
    )
    .await?;
    get_user(st, user).await
}

/// Sets a new password for a user (administrator reset): ends their sessions.
pub async fn reset_password(
    st: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    user: UserId,
    new_password: &str,
) -> AppResult<()> {
    check(st, ctx, auth, Action::UsersAdmin, Resource::Global).await?;
    let u = get_user(st, user).await?;
    password::check_policy(new_password, &[&u.username, &u.display_name])
        .map_err(|e| password_problem("password", &e))?;
    st.store.set_password(user, &hash_password(new_password)?, st.clock.now()).await?;
    let ended = st.store.delete_user_sessions(user).await?;
    st.audit(
        ctx,
        "users.reset_password",
        &format!("user:{user}"),
        Outcome::Success,
        json!({ "sessions_ended": ended }),
    )
    .await?;
    Ok(())
}

/// A page of users.
pub async fn list_users(
    st: &AppState,
    term: Option<&str>,
    limit: Option<u32>,
    offset: Option<u64>,
) -> AppResult<Page<User>> {
    let limit = page_limit(limit)?;
    let offset = offset.unwrap_or(0);
    let (items, total) = st.store.users(term, limit, offset).await?;
    Ok(Page { items, total, limit, offset })
}

// ---- sign-in --------------------------------------------------------------------------

/// The result of a password check.
pub struct SignedIn {
    /// The new session cookie value (the secret; only its hash is stored).
    pub cookie: String,
    /// A second factor is still required before the session is usable.
    pub mfa_pending: bool,
    /// The session's CSRF token, for API clients using the cookie.
    pub csrf: String,
    pub user: User,
}

/// Checks username and password; on success opens a fresh session (a new id every
/// time, so a planted cookie never becomes authenticated).
pub async fn sign_in(st: &AppState, ctx: &Ctx, username: &str, password_input: &str) -> AppResult<SignedIn> {
    let now = st.clock.now();
    let ip = ctx.ip.clone().unwrap_or_default();
    if !st.limiter.allow(&ip, now) {
        st.audit(ctx, "auth.sign_in", "address", Outcome::Denied, json!({ "reason": "throttled" })).await?;
        return Err(AppError::new(ErrorCode::Throttled, "too many sign-in attempts from your address; wait a minute"));
    }
    let username = username.trim().to_lowercase();
    let row = st.store.user_auth_by_username(&username).await?;
    let Some(row) = row else {
        // Same work as a real check, so timing does not reveal which usernames exist.
        let _ = password::verify(password_input, password::dummy_hash());
        st.audit(ctx, "auth.sign_in", "user:unknown", Outcome::Failure, json!({ "reason": "unknown_user" })).await?;
        return Err(AppError::new(ErrorCode::BadCredentials, "wrong username or password"));
    };
    let object = format!("user:{}", row.id);
    if row.locked_until.is_some_and(|t| t > now) {
        st.audit(ctx, "auth.sign_in", &object, Outcome::Denied, json!({ "reason": "locked" })).await?;
        return Err(AppError::new(
            ErrorCode::AccountLocked,
            "account temporarily locked after repeated failures; try again later",
        ));
    }
    if !password::verify(password_input, &row.password_hash) {
        let lock = (row.failed_logins + 1 >= st.config.auth.max_failed_logins)
            .then(|| now + st.config.auth.lockout_minutes * 60);
        st.store.record_failed_login(row.id, lock).await?;
        st.audit(
            ctx,
            "auth.sign_in",
            &object,
            Outcome::Failure,
            json!({ "reason": "bad_password", "locked": lock.is_some() }),
        )
        .await?;
        return Err(AppError::new(ErrorCode::BadCredentials, "wrong username or password"));
    }
    if row.disabled {
        st.audit(ctx, "auth.sign_in", &object, Outcome::Denied, json!({ "reason": "disabled" })).await?;
        return Err(AppError::new(ErrorCode::AccountDisabled, "this account is disabled"));
    }
    let cookie = random_secret();
    let csrf = random_secret();
    st.store.insert_session(&secret_hash(&cookie), row.id, &csrf, row.totp_enabled, now, ctx.ip.clone()).await?;
    if !row.totp_enabled {
        st.store.record_sign_in(row.id, now).await?;
    }
    st.audit(ctx, "auth.sign_in", &object, Outcome::Success, json!({ "second_factor_pending": row.totp_enabled }))
        .await?;
    Ok(SignedIn { cookie, mfa_pending: row.totp_enabled, csrf, user: get_user(st, row.id).await? })
}

/// Completes a pending sign-in with a TOTP or recovery code; returns a new session
/// cookie and its CSRF token (the pending session is ended).
pub async fn sign_in_second_factor(st: &AppState, ctx: &Ctx, auth: &Auth, code: &str) -> AppResult<(String, String)> {
    let Via::Session { id_hash, mfa_pending: true, .. } = &auth.via else {
        return Err(AppError::new(ErrorCode::Conflict, "no second factor is pending"));
    };
    let now = st.clock.now();
    if !st.limiter.allow(ctx.ip.as_deref().unwrap_or_default(), now) {
        return Err(AppError::new(ErrorCode::Throttled, "too many attempts; wait a minute"));
    }
    let row = st.store.user_auth(auth.user.id).await?;
    let object = format!("user:{}", row.id);
    if row.locked_until.is_some_and(|t| t > now) {
        return Err(AppError::new(ErrorCode::AccountLocked, "account temporarily locked after repeated failures"));
    }
    let ok = verify_second_factor(st, &row, code).await?;
    if !ok {
        let lock = (row.failed_logins + 1 >= st.config.auth.max_failed_logins)
            .then(|| now + st.config.auth.lockout_minutes * 60);
        st.store.record_failed_login(row.id, lock).await?;
        st.audit(ctx, "auth.second_factor", &object, Outcome::Failure, json!({ "locked": lock.is_some() })).await?;
        return Err(AppError::field(ErrorCode::BadSecondFactor, "code", "wrong or already used code"));
    }
    st.store.delete_session(id_hash).await?;
    let cookie = random_secret();
    let csrf = random_secret();
    st.store.insert_session(&secret_hash(&cookie), row.id, &csrf, false, now, ctx.ip.clone()).await?;
    st.store.record_sign_in(row.id, now).await?;
    st.audit(ctx, "auth.second_factor", &object, Outcome::Success, json!({})).await?;
    Ok((cookie, csrf))
}

async fn verify_second_factor(st: &AppState, row: &bposhield_store::UserAuthRow, code: &str) -> AppResult<bool> {
    let code = code.trim();
    if code.contains('-') {
        return Ok(st.store.consume_recovery_code(row.id, &totp::hash_recovery_code(code), st.clock.now()).await?);
    }
    let Some(secret) = row.totp_secret.as_deref().and_then(|s| hex::decode(s).ok()) else { return Ok(false) };
    let last = row.totp_last_step.and_then(|s| u64::try_from(s).ok());
    match totp::verify(&secret, code, st.clock.now(), last) {
        Some(step) => Ok(st.store.use_totp_step(row.id, i64::try_from(step).unwrap_or(i64::MAX)).await?),
        None => Ok(false),
    }
}

/// Ends the caller's session.
pub async fn sign_out(st: &AppState, ctx: &Ctx, auth: &Auth) -> AppResult<()> {
    if let Via::Session { id_hash, .. } = &auth.via {
        st.store.delete_session(id_hash).await?;
        st.audit(ctx, "auth.sign_out", &format!("user:{}", auth.user.id), Outcome::Success, json!({})).await?;
    }
    Ok(())
}

// ---- my account -----------------------------------------------------------------------

/// Changes the caller's password (current one required); ends their other sessions.
pub async fn change_password(st: &AppState, ctx: &Ctx, auth: &Auth, current: &str, new: &str) -> AppResult<()> {
    let row = st.store.user_auth(auth.user.id).await?;
    if !password::verify(current, &row.password_hash) {
        st.audit(ctx, "account.password", &format!("user:{}", row.id), Outcome::Failure, json!({})).await?;
        return Err(AppError::field(ErrorCode::BadCredentials, "current_password", "is not your current password"));
    }
    password::check_policy(new, &[&row.username, &row.display_name])
        .map_err(|e| password_problem("new_password", &e))?;
    st.store.set_password(row.id, &hash_password(new)?, st.clock.now()).await?;
    // Every session ends, this one included: whoever knew the old password is out.
    let ended = st.store.delete_user_sessions(row.id).await?;
    st.audit(
        ctx,
        "account.password",
        &format!("user:{}", row.id),
        Outcome::Success,
        json!({ "sessions_ended": ended }),
    )
    .await?;
    Ok(())
}

/// A TOTP enrolment in progress.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// `otpauth://` URI for authenticator apps.
    pub uri: String,
}

/// Starts (or restarts) TOTP enrolment: stores a new unconfirmed secret.
pub async fn totp_begin(st: &AppState, ctx: &Ctx, auth: &Auth) -> AppResult<TotpEnrolment> {
    if auth.user.totp_enabled {
        return Err(AppError::new(ErrorCode::Conflict, "a second factor is already enrolled"));
    }
    let secret = totp::new_secret();
    st.store.set_totp_secret(auth.user.id, Some(&hex::encode(&secret)), false).await?;
    st.audit(ctx, "account.totp.begin", &format!("user:{}", auth.user.id), Outcome::Success, json!({})).await?;
    Ok(TotpEnrolment {
        secret: totp::base32(&secret),
        uri: totp::otpauth_uri("bposhield", &auth.user.username, &secret),
    })
}

/// Confirms enrolment with a first code; returns the recovery codes (shown once).
pub async fn totp_confirm(st: &AppState, ctx: &Ctx, auth: &Auth, code: &str) -> AppResult<Vec<String>> {
    let row = st.store.user_auth(auth.user.id).await?;
    if row.totp_enabled {
        return Err(AppError::new(ErrorCode::Conflict, "a second factor is already enrolled"));
    }
    let secret = row
        .totp_secret
        .as_deref()
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| AppError::field(ErrorCode::BadSecondFactor, "code", "start the enrolment first"))?;
    let Some(step) = totp::verify(&secret, code, st.clock.now(), None) else {
        return Err(AppError::field(ErrorCode::BadSecondFactor, "code", "wrong code; check the time on your device"));
    };
    st.store.set_totp_secret(row.id, row.totp_secret.as_deref(), true).await?;
    st.store.use_totp_step(row.id, i64::try_from(step).unwrap_or(i64::MAX)).await?;
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
    st.store.set_recovery_codes(row.id, &hashes).await?;
    st.audit(ctx, "account.totp.enable", &format!("user:{}", row.id), Outcome::Success, json!({})).await?;
    Ok(codes)
}

/// Creates an API token for the caller holding all of the caller's current grants.
pub async fn create_token(st: &AppState, ctx: &Ctx, auth: &Auth, t: &TokenCreate) -> AppResult<CreatedToken> {
    let grants = auth.user.grants.iter().map(|g| GrantInput { role: g.role, scope: g.scope }).collect();
    issue_token(st, ctx, auth.user.id, &t.name, t.expires_in_days, grants).await
}

/// Issues a token for `user` with `grants` (the CLI's `admin token create` uses this
/// for machine identities). Every token expires: 1 to 365 days.
pub async fn issue_token(
    st: &AppState,
    ctx: &Ctx,
    user: UserId,
    name: &str,
    expires_in_days: u32,
    grants: Vec<GrantInput>,
) -> AppResult<CreatedToken> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::field(ErrorCode::InvalidField, "name", "must be 1-80 characters"));
    }
    if !(1..=365).contains(&expires_in_days) {
        return Err(AppError::field(ErrorCode::InvalidField, "expires_in_days", "must be between 1 and 365"));
    }
    let now = st.clock.now();
    let secret = format!("{TOKEN_PREFIX}{}", random_secret());
    let info = TokenInfo {
        id: TokenId::new_v7(new_ms(st)),
        user_id: user,
        name: name.to_owned(),
        grants,
        created_at: now,
        expires_at: Some(now + i64::from(expires_in_days) * 86_400),
        last_used_at: None,
        revoked: false,
    };
    st.store.insert_token(&info, &secret_hash(&secret)).await?;
    let scopes: Vec<String> = info.grants.iter().map(|g| format!("{}@{}", g.role, g.scope)).collect();
    st.audit(
        ctx,
        "tokens.create",
        &format!("token:{}", info.id),
        Outcome::Success,
        json!({ "user": user, "grants": scopes, "expires_at": info.expires_at }),
    )
    .await?;
    Ok(CreatedToken { token: secret, info })
}

/// Revokes a token: one's own, or anyone's for a platform admin.
pub async fn revoke_token(st: &AppState, ctx: &Ctx, auth: Option<&Auth>, id: TokenId) -> AppResult<()> {
    let t = st.store.token(id).await.map_err(|_| AppError::not_found("token"))?;
    if auth.is_some_and(|a| a.user.id != t.user_id) {
        check(st, ctx, auth, Action::UsersAdmin, Resource::Global).await?;
    }
    st.store.revoke_token(id, st.clock.now()).await?;
    access_changed(st).await?;
    st.audit(ctx, "tokens.revoke", &format!("token:{id}"), Outcome::Success, json!({})).await?;
    Ok(())
}

// ---- controls and dashboard -----------------------------------------------------------

/// Evaluates every control now and stores the results.
pub async fn evaluate_controls(st: &AppState, ctx: &Ctx) -> AppResult<Vec<ControlResult>> {
    let mut facts = st.store.control_facts(&st.clock.today()).await?;
    facts.ledger = Some(
        crate::ledger::ledger_facts(
            &st.store,
            st.checkpointer.verifier(),
            st.clock.now(),
            st.config.ledger.checkpoint_every_seconds,
        )
        .await?,
    );
    facts.identity = Some(crate::identity::facts(st).await?);
    let mut rf = st.store.recording_facts(st.clock.now()).await?;
    (rf.keyring_private, rf.blobs_private) = crate::recordings::storage_privacy(&st.config);
    facts.recordings = Some(rf);
    facts.fleet = Some(crate::fleet::control_facts(st).await?);
    let results = controls::evaluate_all(&facts, st.clock.now());
    st.store.insert_control_results(&results, EventId::new_v7(new_ms(st)).0.as_u128()).await?;
    let failing: Vec<&str> =
        results.iter().filter(|r| r.status == ControlStatus::Fail).map(|r| r.control_id.as_str()).collect();
    st.audit(
        ctx,
        "controls.evaluate",
        "controls",
        Outcome::Success,
        json!({ "evaluated": results.len(), "failing": failing }),
    )
    .await?;
    Ok(results)
}

/// Every control with its latest result.
pub async fn control_summaries(st: &AppState) -> AppResult<Vec<ControlSummary>> {
    let latest = st.store.latest_control_results().await?;
    Ok(controls::registry()
        .iter()
        .map(|c| ControlSummary {
            id: c.id.to_owned(),
            risk: c.risk,
            title: c.title.to_owned(),
            description: c.description.to_owned(),
            owner: c.owner,
            latest: latest.iter().find(|r| r.control_id == c.id).cloned(),
        })
        .collect())
}

/// One control, its latest result and its history (newest first).
pub async fn control_detail(st: &AppState, id: &str) -> AppResult<(ControlSummary, Vec<ControlResult>)> {
    let summary =
        control_summaries(st).await?.into_iter().find(|c| c.id == id).ok_or_else(|| AppError::not_found("control"))?;
    let history = st.store.control_history(id, 100).await?;
    Ok((summary, history))
}

/// Evaluation rounds a dashboard trend line covers.
pub const TREND_ROUNDS: u32 = 30;

/// The ten risk tiles, with a trend over the last [`TREND_ROUNDS`] evaluation rounds.
pub async fn dashboard(st: &AppState) -> AppResult<Vec<RiskTile>> {
    let summaries = control_summaries(st).await?;
    let history = st.store.control_trend(TREND_ROUNDS).await?;
    Ok(Risk::ALL
        .into_iter()
        .map(|risk| {
            let mine: Vec<&ControlSummary> = summaries.iter().filter(|c| c.risk == risk).collect();
            let statuses = mine.iter().filter_map(|c| c.latest.as_ref().map(|r| r.status));
            let status = worst(statuses);
            let passing =
                mine.iter().filter(|c| c.latest.as_ref().is_some_and(|r| r.status == ControlStatus::Pass)).count();
            let failing =
                mine.iter().filter(|c| c.latest.as_ref().is_some_and(|r| r.status == ControlStatus::Fail)).count();
            // One point per evaluation round: share of this risk's measured controls passing.
            let mut rounds: Vec<(i64, u32, u32)> = Vec::new();
            for (_, status, at) in history.iter().filter(|(id, _, _)| mine.iter().any(|c| &c.id == id)) {
                if *status == ControlStatus::NotMeasured {
                    continue;
                }
                let pass = u32::from(*status == ControlStatus::Pass);
                match rounds.last_mut() {
                    Some((t, p, all)) if t == at => {
                        *all += 1;
                        *p += pass;
                    }
                    _ => rounds.push((*at, pass, 1)),
                }
            }
            let trend = rounds.iter().map(|(_, p, a)| u8::try_from(p * 100 / (*a).max(1)).unwrap_or(100)).collect();
            RiskTile {
                risk,
                title: risk.title().to_owned(),
                status,
                controls: u32::try_from(mine.len()).unwrap_or(0),
                passing: u32::try_from(passing).unwrap_or(0),
                failing: u32::try_from(failing).unwrap_or(0),
                trend,
            }
        })
        .collect())
}

// ---- bulk import ----------------------------------------------------------------------

/// Imports many people at once: every row is validated first and the batch is written in
/// one transaction, so a bad row rejects the whole batch with its row number and nothing
/// is half-applied. References (site, process, team, manager) are checked by the
/// database's foreign keys.
pub async fn import_people(
    st: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    rows: &[(PersonId, PersonInput)],
) -> AppResult<u64> {
    for (n, (_, p)) in rows.iter().enumerate() {
        check(st, ctx, auth, Action::PeopleEdit, org_resource(p.site_id, p.process_id, p.team_id)).await?;
        let probs = validate::person(p);
        if let Some(first) = probs.first() {
            return Err(AppError::field(first.code, &format!("rows[{n}].{}", first.field), first.message.clone()));
        }
    }
    st.store.insert_people(rows, st.clock.now()).await.map_err(|e| match e {
        StoreError::Unique(m) => AppError::new(
            ErrorCode::DuplicateEmployeeId,
            format!("a row repeats an existing employee id ({m}); nothing was imported"),
        ),
        other => other.into(),
    })?;
    st.audit(ctx, "people.import", "people", Outcome::Success, json!({ "rows": rows.len() })).await?;
    Ok(rows.len() as u64)
}

/// Imports users that share one pre-computed password hash (the demo's bulk accounts,
/// which nobody signs in as). Same rules as [`create_user`] otherwise; one audit event
/// per user, since each is an account that grants access.
pub async fn import_users(st: &AppState, ctx: &Ctx, users: &[UserInput], password_hash: &str) -> AppResult<u64> {
    for u in users {
        problems(validate::user(u))?;
        let grants: Vec<(GrantId, GrantInput)> =
            u.grants.iter().map(|g| (GrantId::new_v7(new_ms(st)), g.clone())).collect();
        let id = UserId::new_v7(new_ms(st));
        st.store.insert_user(id, u, password_hash, &grants, st.clock.now()).await.map_err(unique_as(
            ErrorCode::DuplicateUsername,
            "username",
            "this username is taken",
        ))?;
        let granted: Vec<String> = u.grants.iter().map(|g| format!("{}@{}", g.role, g.scope)).collect();
        st.audit(
            ctx,
            "users.create",
            &format!("user:{id}"),
            Outcome::Success,
            json!({ "grants": granted, "person": u.person_id }),
        )
        .await?;
    }
    Ok(users.len() as u64)
}
