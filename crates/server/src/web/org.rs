//! The organisation: sites, process units and teams, with create and edit forms.

use super::view::{can, page, page_status, see_other, FormData, FormView, Layout, Opt, OrgNames, QueryData};
use crate::api::ApiPath;
use crate::ctx::{Auth, Authed, Ctx};
use crate::error::{AppError, AppResult};
use crate::services as svc;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bposhield_core::validate::FieldError;
use bposhield_core::{authorize, Action, Resource};
use bposhield_proto::{ProcessId, ProcessInput, SiteId, SiteInput, TeamId, TeamInput};

const SITE_FIELDS: [&str; 4] = ["code", "name", "city", "country"];
const PROCESS_FIELDS: [&str; 4] = ["site_id", "code", "name", "client"];
const TEAM_FIELDS: [&str; 2] = ["process_id", "name"];

struct SiteRow {
    id: String,
    code: String,
    name: String,
    city: String,
    country: String,
    processes: usize,
}

struct ProcessRow {
    id: String,
    code: String,
    name: String,
    client: String,
    site: String,
    teams: usize,
}

struct TeamRow {
    id: String,
    name: String,
}

/// The teams of one process unit.
struct TeamGroup {
    process_id: String,
    label: String,
    teams: Vec<TeamRow>,
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    l: Layout,
    sites: Vec<SiteRow>,
    processes: Vec<ProcessRow>,
    groups: Vec<TeamGroup>,
    team_count: usize,
    can_edit: bool,
    site_form: FormView,
    process_form: FormView,
    team_form: FormView,
    site_opts: Vec<Opt>,
    process_opts: Vec<Opt>,
    notice: Option<&'static str>,
    /// The anchor and name of the form sent back with errors, for a link at the top.
    rejected: Option<(&'static str, &'static str)>,
}

/// Which create form of the overview is being sent back.
enum Rejected {
    None,
    Site(FormView),
    Process(FormView),
    Team(FormView),
}

async fn overview_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    rejected: Rejected,
    notice: Option<&'static str>,
) -> AppResult<OrgPage> {
    let names = OrgNames::load(st).await?;
    let sites = names
        .sites
        .iter()
        .map(|s| SiteRow {
            id: s.id.to_string(),
            code: s.code.clone(),
            name: s.name.clone(),
            city: s.city.clone(),
            country: s.country.clone(),
            processes: names.processes.iter().filter(|p| p.site_id == s.id).count(),
        })
        .collect();
    let processes = names
        .processes
        .iter()
        .map(|p| ProcessRow {
            id: p.id.to_string(),
            code: p.code.clone(),
            name: p.name.clone(),
            client: p.client.clone(),
            site: names.sites.iter().find(|s| s.id == p.site_id).map_or_else(|| "?".to_owned(), |s| s.code.clone()),
            teams: names.teams.iter().filter(|t| t.process_id == p.id).count(),
        })
        .collect();
    let groups = names
        .processes
        .iter()
        .map(|p| TeamGroup {
            process_id: p.id.to_string(),
            label: names.process(p.id),
            teams: names
                .teams
                .iter()
                .filter(|t| t.process_id == p.id)
                .map(|t| TeamRow { id: t.id.to_string(), name: t.name.clone() })
                .collect(),
        })
        .collect();
    let (mut site_form, mut process_form, mut team_form) =
        (FormView::default(), FormView::default(), FormView::default());
    let rejected = match rejected {
        Rejected::None => None,
        Rejected::Site(f) => {
            site_form = f;
            Some(("#site-form", "site"))
        }
        Rejected::Process(f) => {
            process_form = f;
            Some(("#process-form", "process unit"))
        }
        Rejected::Team(f) => {
            team_form = f;
            Some(("#team-form", "team"))
        }
    };
    Ok(OrgPage {
        l: Layout::new(ctx, "Organisation"),
        sites,
        processes,
        groups,
        team_count: names.teams.len(),
        can_edit: can(auth, Action::OrgEdit),
        site_form,
        process_form,
        team_form,
        site_opts: names.site_opts(),
        process_opts: names.process_opts(),
        notice,
        rejected,
    })
}

/// `GET /org`.
pub async fn overview(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let notice = match q.get("saved") {
        "site" => Some("Site created."),
        "process" => Some("Process unit created."),
        "team" => Some("Team created."),
        _ => None,
    };
    page(&overview_page(&st, &ctx, &auth, Rejected::None, notice).await?)
}

// ---- form input -------------------------------------------------------------------------

fn site_input(form: &FormData) -> SiteInput {
    SiteInput {
        code: form.get("code").trim().to_owned(),
        name: form.get("name").trim().to_owned(),
        city: form.get("city").trim().to_owned(),
        country: form.get("country").trim().to_owned(),
    }
}

/// A required id from a select; a problem of `field` when missing or malformed.
fn required_id<T: std::str::FromStr>(form: &FormData, field: &str, what: &str) -> Result<T, AppError> {
    form.opt(field)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::from_problems(vec![FieldError::invalid(field, format!("choose a {what}"))]))
}

/// Merges a reference problem with the field problems of the rest of the input, so the
/// form shows every message at once.
fn with_problems(e: AppError, mut others: Vec<FieldError>) -> AppError {
    let mut all = e.fields;
    all.append(&mut others);
    AppError::from_problems(all)
}

fn process_input(form: &FormData) -> Result<ProcessInput, AppError> {
    let code = form.get("code").trim().to_owned();
    let name = form.get("name").trim().to_owned();
    let client = form.get("client").trim().to_owned();
    match required_id::<SiteId>(form, "site_id", "site") {
        Ok(site_id) => Ok(ProcessInput { site_id, code, name, client }),
        Err(e) => {
            let probe = ProcessInput { site_id: SiteId(uuid::Uuid::nil()), code, name, client };
            Err(with_problems(e, bposhield_core::validate::process(&probe)))
        }
    }
}

fn team_input(form: &FormData) -> Result<TeamInput, AppError> {
    let name = form.get("name").trim().to_owned();
    match required_id::<ProcessId>(form, "process_id", "process unit") {
        Ok(process_id) => Ok(TeamInput { process_id, name }),
        Err(e) => {
            let probe = TeamInput { process_id: ProcessId(uuid::Uuid::nil()), name };
            Err(with_problems(e, bposhield_core::validate::team(&probe)))
        }
    }
}

// ---- create -----------------------------------------------------------------------------

/// `POST /org/sites`.
pub async fn create_site(State(st): State<AppState>, Authed(ctx, auth): Authed, form: FormData) -> AppResult<Response> {
    match svc::create_site(&st, &ctx, Some(&auth), &site_input(&form)).await {
        Ok(_) => Ok(see_other("/org?saved=site#sites")),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &SITE_FIELDS, &[])?;
            page_status(status, &overview_page(&st, &ctx, &auth, Rejected::Site(f), None).await?)
        }
    }
}

/// `POST /org/processes`.
pub async fn create_process(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    form: FormData,
) -> AppResult<Response> {
    let result = match process_input(&form) {
        Ok(i) => svc::create_process(&st, &ctx, Some(&auth), &i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/org?saved=process#processes")),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &PROCESS_FIELDS, &[])?;
            page_status(status, &overview_page(&st, &ctx, &auth, Rejected::Process(f), None).await?)
        }
    }
}

/// `POST /org/teams`.
pub async fn create_team(State(st): State<AppState>, Authed(ctx, auth): Authed, form: FormData) -> AppResult<Response> {
    let result = match team_input(&form) {
        Ok(i) => svc::create_team(&st, &ctx, Some(&auth), &i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/org?saved=team#teams")),
        Err(e) => {
            let mut f = form.view();
            let status = f.absorb(e, &TEAM_FIELDS, &[])?;
            page_status(status, &overview_page(&st, &ctx, &auth, Rejected::Team(f), None).await?)
        }
    }
}

// ---- one site, process unit, team ------------------------------------------------------

/// A link to a child record on a detail page.
struct ChildRow {
    href: String,
    label: String,
}

#[derive(Template)]
#[template(path = "org_edit.html")]
struct EditPage {
    l: Layout,
    /// `site`, `process` or `team`: the form's id prefix and its fields.
    kind: &'static str,
    action: String,
    can_edit: bool,
    f: FormView,
    details: Vec<(&'static str, String)>,
    children_title: &'static str,
    children: Vec<ChildRow>,
    site_opts: Vec<Opt>,
    process_opts: Vec<Opt>,
    saved: bool,
}

fn org_can_edit(auth: &Auth, site: SiteId, process: Option<ProcessId>, team: Option<TeamId>) -> bool {
    authorize(&auth.actor, Action::OrgEdit, Resource::Org { site, process, team }).is_allow()
}

async fn site_edit(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: SiteId,
    f: Option<FormView>,
    saved: bool,
) -> AppResult<EditPage> {
    let s = st.store.site(id).await.map_err(|_| AppError::not_found("site"))?;
    let names = OrgNames::load(st).await?;
    let f = f.unwrap_or_else(|| {
        FormView::with(&[
            ("code", s.code.clone()),
            ("name", s.name.clone()),
            ("city", s.city.clone()),
            ("country", s.country.clone()),
        ])
    });
    Ok(EditPage {
        l: Layout::new(ctx, format!("Site {}", s.code)),
        kind: "site",
        action: format!("/org/sites/{id}"),
        can_edit: org_can_edit(auth, id, None, None),
        f,
        details: vec![
            ("Code", s.code.clone()),
            ("Name", s.name.clone()),
            ("City", s.city.clone()),
            ("Country", s.country.clone()),
            ("Created", super::view::time(s.created_at)),
        ],
        children_title: "Process units",
        children: names
            .processes
            .iter()
            .filter(|p| p.site_id == id)
            .map(|p| ChildRow { href: format!("/org/processes/{}", p.id), label: names.process(p.id) })
            .collect(),
        site_opts: Vec::new(),
        process_opts: Vec::new(),
        saved,
    })
}

async fn process_edit(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: ProcessId,
    f: Option<FormView>,
    saved: bool,
) -> AppResult<EditPage> {
    let p = st.store.process(id).await.map_err(|_| AppError::not_found("process unit"))?;
    let names = OrgNames::load(st).await?;
    let f = f.unwrap_or_else(|| {
        FormView::with(&[
            ("site_id", p.site_id.to_string()),
            ("code", p.code.clone()),
            ("name", p.name.clone()),
            ("client", p.client.clone()),
        ])
    });
    Ok(EditPage {
        l: Layout::new(ctx, format!("Process unit {}", p.code)),
        kind: "process",
        action: format!("/org/processes/{id}"),
        can_edit: org_can_edit(auth, p.site_id, Some(id), None),
        f,
        details: vec![
            ("Code", p.code.clone()),
            ("Name", p.name.clone()),
            ("Client", p.client.clone()),
            ("Site", names.site(p.site_id)),
            ("Created", super::view::time(p.created_at)),
        ],
        children_title: "Teams",
        children: names
            .teams
            .iter()
            .filter(|t| t.process_id == id)
            .map(|t| ChildRow { href: format!("/org/teams/{}", t.id), label: t.name.clone() })
            .collect(),
        site_opts: names.site_opts(),
        process_opts: Vec::new(),
        saved,
    })
}

async fn team_edit(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    id: TeamId,
    f: Option<FormView>,
    saved: bool,
) -> AppResult<EditPage> {
    let t = st.store.team(id).await.map_err(|_| AppError::not_found("team"))?;
    let names = OrgNames::load(st).await?;
    let f = f.unwrap_or_else(|| FormView::with(&[("process_id", t.process_id.to_string()), ("name", t.name.clone())]));
    Ok(EditPage {
        l: Layout::new(ctx, format!("Team {}", t.name)),
        kind: "team",
        action: format!("/org/teams/{id}"),
        can_edit: org_can_edit(auth, t.site_id, Some(t.process_id), Some(id)),
        f,
        details: vec![
            ("Name", t.name.clone()),
            ("Process unit", names.process(t.process_id)),
            ("Site", names.site(t.site_id)),
            ("Created", super::view::time(t.created_at)),
        ],
        children_title: "",
        children: Vec::new(),
        site_opts: Vec::new(),
        process_opts: names.process_opts(),
        saved,
    })
}

/// `GET /org/sites/{id}`.
pub async fn site_page(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<SiteId>,
    q: QueryData,
) -> AppResult<Response> {
    page(&site_edit(&st, &ctx, &auth, id, None, q.has("saved")).await?)
}

/// `POST /org/sites/{id}`.
pub async fn update_site(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<SiteId>,
    form: FormData,
) -> AppResult<Response> {
    match svc::update_site(&st, &ctx, Some(&auth), id, &site_input(&form)).await {
        Ok(_) => Ok(see_other(&format!("/org/sites/{id}?saved=1"))),
        Err(e) => {
            rejected(e, form, &SITE_FIELDS, |f, status| async move {
                page_status(status, &site_edit(&st, &ctx, &auth, id, Some(f), false).await?)
            })
            .await
        }
    }
}

/// `GET /org/processes/{id}`.
pub async fn process_page(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<ProcessId>,
    q: QueryData,
) -> AppResult<Response> {
    page(&process_edit(&st, &ctx, &auth, id, None, q.has("saved")).await?)
}

/// `POST /org/processes/{id}`.
pub async fn update_process(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<ProcessId>,
    form: FormData,
) -> AppResult<Response> {
    let result = match process_input(&form) {
        Ok(i) => svc::update_process(&st, &ctx, Some(&auth), id, &i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/org/processes/{id}?saved=1"))),
        Err(e) => {
            rejected(e, form, &PROCESS_FIELDS, |f, status| async move {
                page_status(status, &process_edit(&st, &ctx, &auth, id, Some(f), false).await?)
            })
            .await
        }
    }
}

/// `GET /org/teams/{id}`.
pub async fn team_page(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<TeamId>,
    q: QueryData,
) -> AppResult<Response> {
    page(&team_edit(&st, &ctx, &auth, id, None, q.has("saved")).await?)
}

/// `POST /org/teams/{id}`.
pub async fn update_team(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<TeamId>,
    form: FormData,
) -> AppResult<Response> {
    let result = match team_input(&form) {
        Ok(i) => svc::update_team(&st, &ctx, Some(&auth), id, &i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/org/teams/{id}?saved=1"))),
        Err(e) => {
            rejected(e, form, &TEAM_FIELDS, |f, status| async move {
                page_status(status, &team_edit(&st, &ctx, &auth, id, Some(f), false).await?)
            })
            .await
        }
    }
}

/// Sends a rejected edit form back through `render`, or the error page when the error is
/// not about the input.
async fn rejected<F, Fut>(e: AppError, form: FormData, fields: &[&str], render: F) -> AppResult<Response>
where
    F: FnOnce(FormView, StatusCode) -> Fut,
    Fut: std::future::Future<Output = AppResult<Response>>,
{
    let mut f = form.view();
    let status = f.absorb(e, fields, &[])?;
    render(f, status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_site_is_reported_with_the_other_fields() {
        let form = FormData::parse(b"site_id=&code=bad+code&name=&client=Acme");
        let e = process_input(&form).err().map(|e| e.fields.into_iter().map(|f| f.field).collect::<Vec<_>>());
        assert_eq!(e, Some(vec!["site_id".to_owned(), "code".to_owned(), "name".to_owned()]));
        assert_eq!(
            bposhield_proto::ErrorCode::InvalidField,
            AppError::from_problems(vec![FieldError::invalid("x", "y")]).code
        );
    }
}
