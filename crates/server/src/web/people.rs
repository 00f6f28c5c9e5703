//! People (HR identities): searchable, filtered, paged list; create; detail with edit.
//! Scoped roles only ever see the people their grants cover (the service narrows the
//! list and checks each person).

use super::view::{
    can, employment_badge, link, page, page_status, query_opt, range_label, see_other, Badge, FormData, FormView,
    Layout, Opt, OrgNames, QueryData,
};
use crate::api::ApiPath;
use crate::ctx::{Auth, Authed, Ctx};
use crate::error::{AppError, AppResult};
use crate::services::{self as svc, PeopleQuery};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use bposhield_core::validate::FieldError;
use bposhield_core::{authorize, Action, Resource};
use bposhield_proto::{EmploymentStatus, ErrorCode, Person, PersonId, PersonInput, ProcessId, Scope, SiteId, TeamId};
use bposhield_store::StoreError;

/// Rows per page.
const PAGE: u32 = 50;

/// The fields of the person form.
const FIELDS: [&str; 12] = [
    "employee_id",
    "given_name",
    "family_name",
    "email",
    "site_id",
    "process_id",
    "team_id",
    "manager",
    "job_role",
    "status",
    "hire_date",
    "exit_date",
];

/// The service names the manager by id; the form asks for an employee id.
const RENAME: [(&str, &str); 1] = [("manager_id", "manager")];

struct PersonRow {
    id: String,
    employee_id: String,
    name: String,
    job_role: String,
    process: String,
    team: String,
    badge: Badge,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    l: Layout,
    f: FormView,
    rows: Vec<PersonRow>,
    range: String,
    prev: Option<String>,
    next: Option<String>,
    site_opts: Vec<Opt>,
    process_opts: Vec<Opt>,
    team_opts: Vec<Opt>,
    status_opts: Vec<Opt>,
    can_edit: bool,
    filtered: bool,
}

/// `GET /people?q=&site_id=&process_id=&team_id=&status=&page=`.
pub async fn list(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let page_no = q.get("page").parse::<u64>().unwrap_or(1).max(1);
    let query = PeopleQuery {
        q: q.opt("q"),
        site_id: query_opt::<SiteId>(&q, "site_id")?,
        process_id: query_opt::<ProcessId>(&q, "process_id")?,
        team_id: query_opt::<TeamId>(&q, "team_id")?,
        status: query_opt::<EmploymentStatus>(&q, "status")?,
        limit: Some(PAGE),
        offset: Some((page_no - 1).saturating_mul(u64::from(PAGE))),
    };
    let result = svc::list_people(&st, &auth, &query).await?;
    let names = OrgNames::load(&st).await?;
    let keep = ["q", "site_id", "process_id", "team_id", "status"];
    let pairs = |p: u64| -> String {
        let mut v: Vec<(&str, String)> = keep.iter().map(|k| (*k, q.get(k).trim().to_owned())).collect();
        if p > 1 {
            v.push(("page", p.to_string()));
        }
        link("/people", &v)
    };
    let shown = result.items.len();
    let f = FormView::with(&keep.map(|k| (k, q.get(k).trim().to_owned())));
    page(&PeoplePage {
        l: Layout::new(&ctx, "People"),
        filtered: keep.iter().any(|k| !q.get(k).trim().is_empty()),
        f,
        range: range_label(result.offset, shown, result.total),
        prev: (page_no > 1).then(|| pairs(page_no - 1)),
        next: (result.offset + (shown as u64) < result.total).then(|| pairs(page_no + 1)),
        rows: result.items.iter().map(|p| row(&names, p)).collect(),
        site_opts: names.site_opts(),
        process_opts: names.process_opts(),
        team_opts: names.team_opts(),
        status_opts: super::view::status_opts(),
        can_edit: can(&auth, Action::PeopleEdit),
    })
}

fn row(names: &OrgNames, p: &Person) -> PersonRow {
    PersonRow {
        id: p.id.to_string(),
        employee_id: p.employee_id.clone(),
        name: format!("{} {}", p.given_name, p.family_name),
        job_role: p.job_role.clone(),
        process: p.process_id.map(|id| names.process_code(id)).unwrap_or_default(),
        team: p
            .team_id
            .and_then(|id| names.teams.iter().find(|t| t.id == id))
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        badge: employment_badge(p.status),
    }
}

// ---- the form ---------------------------------------------------------------------------

/// The options of the person form's selects.
struct FormOpts {
    site_opts: Vec<Opt>,
    process_opts: Vec<Opt>,
    team_opts: Vec<Opt>,
    status_opts: Vec<Opt>,
}

impl FormOpts {
    fn new(names: &OrgNames) -> Self {
        Self {
            site_opts: names.site_opts(),
            process_opts: names.process_opts(),
            team_opts: names.team_opts(),
            status_opts: super::view::status_opts(),
        }
    }
}

/// Reads the person form. Malformed choices and an unknown manager are reported together
/// with the field problems of the rest of the input.
async fn person_input(st: &AppState, form: &FormData) -> AppResult<PersonInput> {
    let mut probs: Vec<FieldError> = Vec::new();
    let site_id = match form.opt("site_id") {
        None => {
            probs.push(FieldError::invalid("site_id", "choose a site"));
            None
        }
        some => super::view::parse_opt::<SiteId>(some, "site_id", "choose a site from the list", &mut probs),
    };
    let process_id =
        super::view::parse_opt(form.opt("process_id"), "process_id", "choose a process unit from the list", &mut probs);
    let team_id = super::view::parse_opt(form.opt("team_id"), "team_id", "choose a team from the list", &mut probs);
    let status = super::view::parse_opt::<EmploymentStatus>(
        Some(form.get("status").to_owned()),
        "status",
        "choose active, suspended or terminated",
        &mut probs,
    );
    let manager_id = match form.opt("manager") {
        None => None,
        Some(eid) => match st.store.person_by_employee_id(&eid).await {
            Ok(p) => Some(p.id),
            Err(StoreError::NotFound) => {
                probs.push(FieldError::with_code(
                    ErrorCode::UnknownReference,
                    "manager",
                    "no person has this employee id",
                ));
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    let input = PersonInput {
        employee_id: form.get("employee_id").trim().to_owned(),
        given_name: form.get("given_name").trim().to_owned(),
        family_name: form.get("family_name").trim().to_owned(),
        email: form.opt("email"),
        site_id: site_id.unwrap_or(SiteId(uuid::Uuid::nil())),
        process_id,
        team_id,
        manager_id,
        job_role: form.get("job_role").trim().to_owned(),
        status: status.unwrap_or(EmploymentStatus::Active),
        hire_date: form.get("hire_date").trim().to_owned(),
        exit_date: form.opt("exit_date"),
    };
    if probs.is_empty() {
        return Ok(input);
    }
    for p in bposhield_core::validate::person(&input) {
        if !probs.iter().any(|q| q.field == p.field) {
            probs.push(p);
        }
    }
    Err(AppError::from_problems(probs))
}

#[derive(Template)]
#[template(path = "person_new.html")]
struct NewPersonPage {
    l: Layout,
    f: FormView,
    o: FormOpts,
}

async fn new_person_page(st: &AppState, ctx: &Ctx, f: FormView) -> AppResult<NewPersonPage> {
    let names = OrgNames::load(st).await?;
    Ok(NewPersonPage { l: Layout::new(ctx, "New person"), f, o: FormOpts::new(&names) })
}

/// `GET /people/new`. The site starts at the editor's own site when a grant names one.
pub async fn new_page(State(st): State<AppState>, Authed(ctx, auth): Authed) -> AppResult<Response> {
    let roles = bposhield_core::authz::allowed_roles(Action::PeopleEdit);
    let own_site = auth.actor.grants.iter().find_map(|(r, s)| match s {
        Scope::Site(id) if roles.contains(r) => Some(*id),
        _ => None,
    });
    let site = match own_site {
        Some(id) => Some(id),
        None => st.store.sites().await?.first().map(|s| s.id),
    };
    let f = FormView::with(&[
        ("status", "active".to_owned()),
        ("hire_date", st.clock.today()),
        ("site_id", site.map(|s| s.to_string()).unwrap_or_default()),
    ]);
    page(&new_person_page(&st, &ctx, f).await?)
}

/// `POST /people`.
pub async fn create(State(st): State<AppState>, Authed(ctx, auth): Authed, form: FormData) -> AppResult<Response> {
    let result = match person_input(&st, &form).await {
        Ok(i) => svc::create_person(&st, &ctx, Some(&auth), &i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(p) => Ok(see_other(&format!("/people/{}?saved=created", p.id))),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &FIELDS, &RENAME)?;
            page_status(status, &new_person_page(&st, &ctx, f).await?)
        }
    }
}

// ---- one person -------------------------------------------------------------------------

/// A link shown on the detail page.
struct Linked {
    href: String,
    label: String,
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    l: Layout,
    id: String,
    name: String,
    employee_id: String,
    badge: Badge,
    details: Vec<(&'static str, String)>,
    manager: Option<Linked>,
    manager_hidden: bool,
    user: Option<Linked>,
    can_edit: bool,
    f: FormView,
    o: FormOpts,
    notice: Option<&'static str>,
}

async fn person_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    p: Person,
    f: Option<FormView>,
    notice: Option<&'static str>,
) -> AppResult<PersonPage> {
    let names = OrgNames::load(st).await?;
    let manager = match p.manager_id {
        Some(mid) => st.store.person(mid).await.ok(),
        None => None,
    };
    let sees = |m: &Person| {
        let at = Resource::Org { site: m.site_id, process: m.process_id, team: m.team_id };
        authorize(&auth.actor, Action::PeopleView, at).is_allow()
    };
    let user = if can(auth, Action::UsersView) { st.store.user_by_person(p.id).await? } else { None };
    let f = f.unwrap_or_else(|| {
        FormView::with(&[
            ("employee_id", p.employee_id.clone()),
            ("given_name", p.given_name.clone()),
            ("family_name", p.family_name.clone()),
            ("email", p.email.clone().unwrap_or_default()),
            ("site_id", p.site_id.to_string()),
            ("process_id", p.process_id.map(|i| i.to_string()).unwrap_or_default()),
            ("team_id", p.team_id.map(|i| i.to_string()).unwrap_or_default()),
            // The employee id is kept even when the manager is outside the editor's
            // scope, so saving the form never drops the manager silently.
            ("manager", manager.as_ref().map(|m| m.employee_id.clone()).unwrap_or_default()),
            ("job_role", p.job_role.clone()),
            ("status", p.status.as_str().to_owned()),
            ("hire_date", p.hire_date.clone()),
            ("exit_date", p.exit_date.clone().unwrap_or_default()),
        ])
    });
    let can_edit = authorize(
        &auth.actor,
        Action::PeopleEdit,
        Resource::Org { site: p.site_id, process: p.process_id, team: p.team_id },
    )
    .is_allow();
    Ok(PersonPage {
        l: Layout::new(ctx, format!("{} {}", p.given_name, p.family_name)),
        id: p.id.to_string(),
        name: format!("{} {}", p.given_name, p.family_name),
        employee_id: p.employee_id.clone(),
        badge: employment_badge(p.status),
        details: vec![
            ("Employee id", p.employee_id.clone()),
            ("E-mail", p.email.clone().unwrap_or_else(|| "—".into())),
            ("Job role", p.job_role.clone()),
            ("Site", names.site(p.site_id)),
            ("Process unit", p.process_id.map_or_else(|| "—".into(), |i| names.process(i))),
            ("Team", p.team_id.map_or_else(|| "—".into(), |i| names.team(i))),
            ("Hire date", p.hire_date.clone()),
            ("Exit date", p.exit_date.clone().unwrap_or_else(|| "—".into())),
            ("Updated", super::view::time(p.updated_at)),
        ],
        manager_hidden: manager.as_ref().is_some_and(|m| !sees(m)),
        manager: manager.filter(|m| sees(m)).map(|m| Linked {
            href: format!("/people/{}", m.id),
            label: format!("{} {} ({})", m.given_name, m.family_name, m.employee_id),
        }),
        user: user.map(|u| Linked { href: format!("/users/{}", u.id), label: u.username }),
        can_edit,
        f,
        o: FormOpts::new(&names),
        notice,
    })
}

/// `GET /people/{id}`.
pub async fn detail(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<PersonId>,
    q: QueryData,
) -> AppResult<Response> {
    let p = svc::get_person(&st, &ctx, &auth, id).await?;
    let notice = match q.get("saved") {
        "created" => Some("Person created."),
        "" => None,
        _ => Some("Changes saved."),
    };
    page(&person_page(&st, &ctx, &auth, p, None, notice).await?)
}

/// `POST /people/{id}`.
pub async fn update(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<PersonId>,
    form: FormData,
) -> AppResult<Response> {
    let result = match person_input(&st, &form).await {
        Ok(i) => svc::update_person(&st, &ctx, Some(&auth), id, &i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(p) => Ok(see_other(&format!("/people/{}?saved=1", p.id))),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &FIELDS, &RENAME)?;
            let p = svc::get_person(&st, &ctx, &auth, id).await?;
            page_status(status, &person_page(&st, &ctx, &auth, p, Some(f), None).await?)
        }
    }
}
