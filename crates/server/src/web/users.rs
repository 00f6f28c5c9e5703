//! Platform users: list, create, and the detail page where an administrator grants and
//! revokes roles, disables or re-enables the account and resets its password.

use super::view::{
    can, link, page, page_status, range_label, see_other, time_or, Badge, FormData, FormView, Layout, Opt, OptGroup,
    OrgNames, QueryData,
};
use crate::api::ApiPath;
use crate::ctx::{Auth, Authed, Ctx};
use crate::error::{AppError, AppResult};
use crate::services as svc;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use bposhield_core::validate::FieldError;
use bposhield_core::Action;
use bposhield_proto::{ErrorCode, GrantId, GrantInput, Role, Scope, User, UserId, UserInput};
use bposhield_store::StoreError;

/// Rows per page.
const PAGE: u32 = 50;

struct UserRow {
    id: String,
    username: String,
    display_name: String,
    status: Badge,
    totp: bool,
    roles: Vec<String>,
    last_sign_in: String,
}

fn status_badge(u: &User) -> Badge {
    if u.disabled {
        Badge { class: "fail", label: "Disabled" }
    } else {
        Badge { class: "pass", label: "Enabled" }
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    l: Layout,
    q: String,
    rows: Vec<UserRow>,
    range: String,
    prev: Option<String>,
    next: Option<String>,
    can_admin: bool,
}

/// `GET /users?q=&page=`.
pub async fn list(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let page_no = q.get("page").parse::<u64>().unwrap_or(1).max(1);
    let term = q.opt("q");
    let result =
        svc::list_users(&st, term.as_deref(), Some(PAGE), Some((page_no - 1).saturating_mul(u64::from(PAGE)))).await?;
    let names = OrgNames::load(&st).await?;
    let term = term.unwrap_or_default();
    let at =
        |p: u64| link("/users", &[("q", term.clone()), ("page", if p > 1 { p.to_string() } else { String::new() })]);
    let shown = result.items.len();
    page(&UsersPage {
        l: Layout::new(&ctx, "Users"),
        range: range_label(result.offset, shown, result.total),
        prev: (page_no > 1).then(|| at(page_no - 1)),
        next: (result.offset + (shown as u64) < result.total).then(|| at(page_no + 1)),
        rows: result
            .items
            .iter()
            .map(|u| UserRow {
                id: u.id.to_string(),
                username: u.username.clone(),
                display_name: u.display_name.clone(),
                status: status_badge(u),
                totp: u.totp_enabled,
                roles: u.grants.iter().map(|g| names.grant(g)).collect(),
                last_sign_in: time_or(u.last_sign_in_at, "never"),
            })
            .collect(),
        q: term,
        can_admin: can(&auth, Action::UsersAdmin),
    })
}

// ---- create -----------------------------------------------------------------------------

const NEW_FIELDS: [&str; 6] = ["username", "display_name", "password", "person_employee_id", "role", "scope"];
const NEW_RENAME: [(&str, &str); 1] = [("person_id", "person_employee_id")];

#[derive(Template)]
#[template(path = "user_new.html")]
struct NewUserPage {
    l: Layout,
    f: FormView,
    roles: Vec<Opt>,
    scopes: Vec<OptGroup>,
}

async fn new_user_page(st: &AppState, ctx: &Ctx, f: FormView) -> AppResult<NewUserPage> {
    let names = OrgNames::load(st).await?;
    Ok(NewUserPage {
        l: Layout::new(ctx, "New user"),
        f,
        roles: super::view::role_opts(),
        scopes: names.scope_groups(),
    })
}

/// `GET /users/new`.
pub async fn new_page(State(st): State<AppState>, Authed(ctx, _): Authed) -> AppResult<Response> {
    page(&new_user_page(&st, &ctx, FormView::with(&[("scope", "global".to_owned())])).await?)
}

/// Reads a role and scope pair; problems are named after the form's fields.
fn grant_input(form: &FormData, probs: &mut Vec<FieldError>) -> Option<GrantInput> {
    let role = match form.get("role").parse::<Role>() {
        Ok(r) => Some(r),
        Err(_) => {
            probs.push(FieldError::invalid("role", "choose a role"));
            None
        }
    };
    let scope = match form.get("scope").parse::<Scope>() {
        Ok(s) => Some(s),
        Err(_) => {
            probs.push(FieldError::with_code(ErrorCode::InvalidScope, "scope", "choose where the role applies"));
            None
        }
    };
    Some(GrantInput { role: role?, scope: scope? })
}

async fn user_input(st: &AppState, form: &FormData) -> AppResult<UserInput> {
    let mut probs = Vec::new();
    let grants =
        if form.opt("role").is_some() { grant_input(form, &mut probs).into_iter().collect() } else { Vec::new() };
    let person_id = match form.opt("person_employee_id") {
        None => None,
        Some(eid) => match st.store.person_by_employee_id(&eid).await {
            Ok(p) => Some(p.id),
            Err(StoreError::NotFound) => {
                probs.push(FieldError::with_code(
                    ErrorCode::UnknownReference,
                    "person_employee_id",
                    "no person has this employee id",
                ));
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    let input = UserInput {
        username: form.get("username").trim().to_owned(),
        display_name: form.get("display_name").trim().to_owned(),
        password: form.get("password").to_owned(),
        person_id,
        grants,
    };
    if probs.is_empty() {
        return Ok(input);
    }
    probs.extend(bposhield_core::validate::user(&input));
    Err(AppError::from_problems(probs))
}

/// `POST /users`.
pub async fn create(State(st): State<AppState>, Authed(ctx, auth): Authed, form: FormData) -> AppResult<Response> {
    let result = match user_input(&st, &form).await {
        Ok(i) => svc::create_user(&st, &ctx, Some(&auth), &i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(u) => Ok(see_other(&format!("/users/{}?done=created", u.id))),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &NEW_FIELDS, &NEW_RENAME)?;
            page_status(status, &new_user_page(&st, &ctx, f).await?)
        }
    }
}

// ---- one user ---------------------------------------------------------------------------

struct GrantRow {
    id: String,
    label: String,
}

struct TokenRow {
    name: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

/// The forms of the detail page, one of which may be sent back with errors.
#[derive(Default)]
struct UserForms {
    grant: FormView,
    reset: FormView,
    /// A problem with an action that has no fields (disable, revoke).
    general: Option<String>,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    l: Layout,
    id: String,
    username: String,
    display_name: String,
    status: Badge,
    disabled: bool,
    is_self: bool,
    details: Vec<(&'static str, String)>,
    person: Option<String>,
    grants: Vec<GrantRow>,
    tokens: Vec<TokenRow>,
    can_admin: bool,
    forms: UserForms,
    roles: Vec<Opt>,
    scopes: Vec<OptGroup>,
    notice: Option<&'static str>,
}

async fn user_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: UserId,
    forms: UserForms,
    notice: Option<&'static str>,
) -> AppResult<UserPage> {
    let u = svc::get_user(st, id).await?;
    let names = OrgNames::load(st).await?;
    let tokens = st.store.tokens(Some(id)).await?;
    let mut forms = forms;
    if forms.grant.v("scope").is_empty() {
        forms.grant.set("scope", "global");
    }
    Ok(UserPage {
        l: Layout::new(ctx, format!("User {}", u.username)),
        id: u.id.to_string(),
        status: status_badge(&u),
        disabled: u.disabled,
        is_self: u.id == auth.user.id,
        details: vec![
            ("Username", u.username.clone()),
            ("Display name", u.display_name.clone()),
            ("Second factor", if u.totp_enabled { "enrolled".into() } else { "not enrolled".into() }),
            ("Created", super::view::time(u.created_at)),
            ("Last sign-in", time_or(u.last_sign_in_at, "never")),
        ],
        person: u.person_id.map(|p| format!("/people/{p}")),
        grants: u.grants.iter().map(|g| GrantRow { id: g.id.to_string(), label: names.grant(g) }).collect(),
        tokens: tokens
            .iter()
            .map(|t| TokenRow {
                name: t.name.clone(),
                created: super::view::time(t.created_at),
                expires: time_or(t.expires_at, "never"),
                last_used: time_or(t.last_used_at, "never"),
                revoked: t.revoked,
            })
            .collect(),
        can_admin: can(auth, Action::UsersAdmin),
        forms,
        roles: super::view::role_opts(),
        scopes: names.scope_groups(),
        notice,
        username: u.username,
        display_name: u.display_name,
    })
}

/// `GET /users/{id}`.
pub async fn detail(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<UserId>,
    q: QueryData,
) -> AppResult<Response> {
    let notice = match q.get("done") {
        "created" => Some("User created."),
        "granted" => Some("Role granted."),
        "revoked" => Some("Role revoked."),
        "disabled" => Some("User disabled: their sessions ended and their tokens were revoked."),
        "enabled" => Some("User enabled."),
        "password" => Some("Password reset: their sessions ended."),
        _ => None,
    };
    page(&user_page(&st, &ctx, &auth, id, UserForms::default(), notice).await?)
}

/// Renders the detail page with one rejected form.
async fn rejected(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: UserId,
    e: AppError,
    which: Which,
    form: &FormData,
) -> AppResult<Response> {
    let mut forms = UserForms::default();
    let status = match which {
        Which::Grant => {
            forms.grant = form.view();
            forms.grant.absorb(e, &["role", "scope"], &[])?
        }
        Which::Reset => forms.reset.absorb(e, &["password"], &[])?,
        Which::Action => {
            let mut f = FormView::default();
            let status = f.absorb(e, &[], &[])?;
            forms.general = f.general;
            status
        }
    };
    page_status(status, &user_page(st, ctx, auth, id, forms, None).await?)
}

enum Which {
    Grant,
    Reset,
    Action,
}

/// `POST /users/{id}/grants`.
pub async fn add_grant(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<UserId>,
    form: FormData,
) -> AppResult<Response> {
    let mut probs = Vec::new();
    let result = match grant_input(&form, &mut probs) {
        Some(g) if probs.is_empty() => svc::add_grant(&st, &ctx, Some(&auth), id, &g).await.map(|_| ()),
        _ => Err(AppError::from_problems(probs)),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/users/{id}?done=granted"))),
        Err(e) => rejected(&st, &ctx, &auth, id, e, Which::Grant, &form).await,
    }
}

/// `POST /users/{id}/grants/{grant_id}/delete`.
pub async fn remove_grant(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath((id, grant)): ApiPath<(UserId, GrantId)>,
    form: FormData,
) -> AppResult<Response> {
    match svc::remove_grant(&st, &ctx, Some(&auth), id, grant).await {
        Ok(_) => Ok(see_other(&format!("/users/{id}?done=revoked"))),
        Err(e) => rejected(&st, &ctx, &auth, id, e, Which::Action, &form).await,
    }
}

/// `POST /users/{id}/disable`.
pub async fn disable(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<UserId>,
    form: FormData,
) -> AppResult<Response> {
    match svc::set_disabled(&st, &ctx, Some(&auth), id, true).await {
        Ok(_) => Ok(see_other(&format!("/users/{id}?done=disabled"))),
        Err(e) => rejected(&st, &ctx, &auth, id, e, Which::Action, &form).await,
    }
}

/// `POST /users/{id}/enable`.
pub async fn enable(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<UserId>,
    form: FormData,
) -> AppResult<Response> {
    match svc::set_disabled(&st, &ctx, Some(&auth), id, false).await {
        Ok(_) => Ok(see_other(&format!("/users/{id}?done=enabled"))),
        Err(e) => rejected(&st, &ctx, &auth, id, e, Which::Action, &form).await,
    }
}

/// `POST /users/{id}/password`.
pub async fn reset_password(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<UserId>,
    form: FormData,
) -> AppResult<Response> {
    match svc::reset_password(&st, &ctx, Some(&auth), id, form.get("password")).await {
        Ok(()) => Ok(see_other(&format!("/users/{id}?done=password"))),
        Err(e) => rejected(&st, &ctx, &auth, id, e, Which::Reset, &form).await,
    }
}
