//! What every page shares: the [`Layout`] (top bar, navigation, footer), form input and
//! re-rendering ([`FormData`], [`FormView`]), rendering and redirect helpers, and the
//! names shown for ids (scopes, org units).

use crate::ctx::{Auth, Ctx, Via};
use crate::error::{AppError, AppResult};
use crate::AppState;
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use bposhield_core::{authorize, Action, Resource};
use bposhield_proto::{
    ControlStatus, EmploymentStatus, ErrorCode, Grant, ProcessId, ProcessUnit, Role, Scope, Site, SiteId, Team, TeamId,
};
use std::collections::HashMap;
use std::sync::LazyLock;

/// The frame of every page: title, navigation, signed-in user, request id.
pub struct Layout {
    /// The `<title>` and the page heading.
    pub title: String,
    /// Navigation links the caller may follow.
    pub nav: Vec<NavLink>,
    /// The signed-in user, if any (absent on the sign-in pages).
    pub user: Option<UserBar>,
    /// The session's CSRF token for the forms of the page.
    pub csrf: String,
    /// Shown in the footer so a screenshot identifies the request in the log.
    pub request_id: String,
    /// Cache-busting suffix of asset URLs.
    pub asset_v: &'static str,
    /// The account page is the current page.
    pub account_active: bool,
}

/// One navigation link.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub id: &'static str,
    pub active: bool,
}

/// The signed-in user in the top bar.
pub struct UserBar {
    pub display_name: String,
    pub username: String,
}

/// Every navigation entry, with the action that makes it visible.
const NAV: [(&str, &str, &str, Action); 11] = [
    ("/", "Dashboard", "nav-dashboard", Action::DashboardView),
    ("/controls", "Controls", "nav-controls", Action::ControlsView),
    ("/org", "Organisation", "nav-org", Action::OrgView),
    ("/people", "People", "nav-people", Action::PeopleView),
    ("/users", "Users", "nav-users", Action::UsersView),
    ("/identity", "Identity", "nav-identity", Action::IdentityView),
    ("/reviews", "Reviews", "nav-reviews", Action::ReviewDecide),
    ("/recordings", "Recordings", "nav-recordings", Action::RecordingsView),
    ("/fleet", "Fleet", "nav-fleet", Action::FleetView),
    ("/audit", "Audit", "nav-audit", Action::AuditView),
    ("/ledger", "Ledger", "nav-ledger", Action::LedgerView),
];

impl Layout {
    /// The frame for a page of `ctx` titled `title`. A session still waiting for its
    /// second factor gets no navigation.
    pub fn new(ctx: &Ctx, title: impl Into<String>) -> Self {
        let auth = ctx.auth.as_ref().filter(|a| !matches!(a.via, Via::Session { mfa_pending: true, .. }));
        let nav = match auth {
            None => Vec::new(),
            Some(a) => NAV
                .iter()
                .filter(|(_, _, _, action)| can(a, *action))
                .map(|&(href, label, id, _)| NavLink {
                    href,
                    label,
                    id,
                    active: if href == "/" { ctx.path == "/" } else { ctx.path.starts_with(href) },
                })
                .collect(),
        };
        Self {
            title: title.into(),
            nav,
            user: auth
                .map(|a| UserBar { display_name: a.user.display_name.clone(), username: a.user.username.clone() }),
            csrf: auth.map(|a| a.csrf().to_owned()).unwrap_or_default(),
            request_id: ctx.request_id.clone(),
            asset_v: asset_version(),
            account_active: ctx.path.starts_with("/account"),
        }
    }
}

/// A short hash of the embedded assets, so a new build never meets a stale cached file.
pub fn asset_version() -> &'static str {
    static V: LazyLock<String> = LazyLock::new(|| {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (_, _, body) in super::assets::ASSETS {
            h.update(body);
        }
        hex::encode(&h.finalize()[..6])
    });
    &V
}

/// Whether the caller may perform `action` somewhere (for showing links and buttons;
/// the route layer and the services still decide each request).
#[must_use]
pub fn can(auth: &Auth, action: Action) -> bool {
    authorize(&auth.actor, action, Resource::Any).is_allow()
}

/// Renders a template as a 200 page.
pub fn page<T: Template>(t: &T) -> AppResult<Response> {
    page_status(StatusCode::OK, t)
}

/// Renders a template with a status (422 for a form sent back with errors).
pub fn page_status<T: Template>(status: StatusCode, t: &T) -> AppResult<Response> {
    let html = t.render().map_err(AppError::internal)?;
    Ok((status, Html(html)).into_response())
}

/// A 303 redirect (after a successful POST, or to another page).
#[must_use]
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `next` if it is a local path (one leading `/`), else `/`.
#[must_use]
pub fn safe_next(next: &str) -> String {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\");
    if local && !next.starts_with("/signin") && !next.chars().any(char::is_control) {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

// ---- form and query input ---------------------------------------------------------------

/// A urlencoded form body or query string as name/value pairs. Unlike a typed extractor
/// it never rejects a form: every field is read by name and converted where it is used,
/// so a bad value becomes a message beside its field instead of an error page.
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses `application/x-www-form-urlencoded` bytes.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Self {
        Self(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The first value of `name`, or "".
    #[must_use]
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name` (checkbox groups), in order.
    #[must_use]
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The trimmed value of `name`, `None` when empty or absent.
    #[must_use]
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// Whether `name` was sent at all.
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// A [`FormView`] holding these values (for re-rendering a rejected form).
    #[must_use]
    pub fn view(&self) -> FormView {
        let mut v = FormView::default();
        for (k, val) in &self.0 {
            if k != "csrf" && !k.contains("password") {
                v.values.entry(k.clone()).or_insert_with(|| val.clone());
            }
        }
        v
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = AppError;
    async fn from_request(req: Request, s: &S) -> Result<Self, AppError> {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(AppError::new(
                ErrorCode::UnsupportedMediaType,
                "send the form as application/x-www-form-urlencoded",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, s)
            .await
            .map_err(|_| AppError::new(ErrorCode::BodyTooLarge, "form too large or unreadable"))?;
        Ok(Self::parse(&bytes))
    }
}

/// The query string of a page as name/value pairs (see [`FormData`]).
#[derive(Debug, Default, Clone)]
pub struct QueryData(pub FormData);

impl std::ops::Deref for QueryData {
    type Target = FormData;
    fn deref(&self) -> &FormData {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryData {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        Ok(Self(FormData::parse(parts.uri.query().unwrap_or_default().as_bytes())))
    }
}

/// Parses an optional id-like value; a bad one is recorded as a problem of `field`.
pub fn parse_opt<T: std::str::FromStr>(
    raw: Option<String>,
    field: &str,
    message: &str,
    problems: &mut Vec<bposhield_core::validate::FieldError>,
) -> Option<T> {
    let raw = raw?;
    match raw.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            problems.push(bposhield_core::validate::FieldError::invalid(field, message));
            None
        }
    }
}

/// A query filter value: absent or empty is `None`, a malformed one is an error of the page.
pub fn query_opt<T: std::str::FromStr>(q: &FormData, name: &str) -> AppResult<Option<T>> {
    match q.opt(name) {
        None => Ok(None),
        Some(v) => {
            v.parse().map(Some).map_err(|_| AppError::field(ErrorCode::InvalidQuery, name, "is not a valid value"))
        }
    }
}

// ---- form re-rendering ------------------------------------------------------------------

/// The values and per-field messages of one form on a page.
#[derive(Debug, Default, Clone)]
pub struct FormView {
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    /// A message about the form as a whole (shown above it).
    pub general: Option<String>,
}

impl FormView {
    /// A form pre-filled with `pairs`.
    #[must_use]
    pub fn with(pairs: &[(&str, String)]) -> Self {
        let mut v = Self::default();
        for (k, val) in pairs {
            v.values.insert((*k).to_owned(), val.clone());
        }
        v
    }

    /// The value of a field ("" when empty).
    #[must_use]
    pub fn v(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// Sets a value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_owned(), value.into());
    }

    /// The message beside a field, if it was rejected.
    #[must_use]
    pub fn err(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }

    /// Whether `value` is the chosen option of select `name`.
    #[must_use]
    pub fn sel(&self, name: &str, value: &str) -> bool {
        self.v(name) == value
    }

    /// Puts the problems of `err` beside the fields of this form. `fields` are the names
    /// the form shows; `rename` maps a service's field name to the form's (e.g.
    /// `manager_id` → `manager`). A problem about a field the form does not show goes to
    /// the general message. Returns the status to answer with, or the error itself when
    /// it is not about the input (denied, not found, internal): that one gets the error page.
    pub fn absorb(&mut self, err: AppError, fields: &[&str], rename: &[(&str, &str)]) -> AppResult<StatusCode> {
        let about_input = !err.fields.is_empty()
            || !matches!(
                err.code,
                ErrorCode::Forbidden
                    | ErrorCode::NotFound
                    | ErrorCode::Internal
                    | ErrorCode::StoreUnavailable
                    | ErrorCode::DatabaseNewerThanBinary
                    | ErrorCode::CsrfFailed
                    | ErrorCode::NotAuthenticated
            );
        if !about_input {
            return Err(err);
        }
        if err.fields.is_empty() {
            self.general = Some(sentence(&err.message));
            return Ok(err.status());
        }
        let mut other = Vec::new();
        for f in &err.fields {
            let name = rename.iter().find(|(from, _)| *from == f.field).map_or(f.field.as_str(), |(_, to)| to);
            if fields.contains(&name) {
                self.errors.entry(name.to_owned()).or_insert_with(|| field_sentence(&f.message));
            } else {
                other.push(format!("{}: {}", f.field, f.message));
            }
        }
        self.general = Some(if other.is_empty() {
            "Please correct the fields marked below.".to_owned()
        } else {
            other.join("; ")
        });
        Ok(StatusCode::UNPROCESSABLE_ENTITY)
    }
}

/// A service's field message as a sentence shown under the field: "is required" becomes
/// "This field is required", "must be a date" becomes "Must be a date".
fn field_sentence(m: &str) -> String {
    let first_word = m.split(' ').next().unwrap_or_default();
    if ["is", "are", "has", "does"].contains(&first_word) {
        return format!("This field {m}");
    }
    let mut c = m.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A service message as a sentence: capitalised, with a full stop.
#[must_use]
pub fn sentence(m: &str) -> String {
    let mut c = m.chars();
    let mut s: String = match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    };
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

// ---- display helpers --------------------------------------------------------------------

/// A `<select>` option.
#[derive(Debug, Clone)]
pub struct Opt {
    pub value: String,
    pub label: String,
}

impl Opt {
    /// An option.
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Self { value: value.into(), label: label.into() }
    }
}

/// A titled group of options (`<optgroup>`).
#[derive(Debug, Clone)]
pub struct OptGroup {
    pub label: String,
    pub opts: Vec<Opt>,
}

/// A status badge: CSS modifier and text.
#[derive(Debug, Clone)]
pub struct Badge {
    pub class: &'static str,
    pub label: &'static str,
}

/// The badge of a control status.
#[must_use]
pub fn control_badge(s: ControlStatus) -> Badge {
    match s {
        ControlStatus::Pass => Badge { class: "pass", label: "Pass" },
        ControlStatus::Fail => Badge { class: "fail", label: "Fail" },
        ControlStatus::NotMeasured => Badge { class: "none", label: "Not measured yet" },
    }
}

/// The badge of an employment status.
#[must_use]
pub fn employment_badge(s: EmploymentStatus) -> Badge {
    match s {
        EmploymentStatus::Active => Badge { class: "pass", label: "Active" },
        EmploymentStatus::Suspended => Badge { class: "warn", label: "Suspended" },
        EmploymentStatus::Terminated => Badge { class: "none", label: "Terminated" },
    }
}

/// Options for a role select.
#[must_use]
pub fn role_opts() -> Vec<Opt> {
    Role::ALL.iter().map(|r| Opt::new(r.as_str(), r.label())).collect()
}

/// Options for an employment status select.
#[must_use]
pub fn status_opts() -> Vec<Opt> {
    [("active", "Active"), ("suspended", "Suspended"), ("terminated", "Terminated")]
        .into_iter()
        .map(|(v, l)| Opt::new(v, l))
        .collect()
}

/// `x–y of N` for a page of a list.
#[must_use]
pub fn range_label(offset: u64, shown: usize, total: u64) -> String {
    if shown == 0 {
        return format!("0 of {total}");
    }
    format!("{}–{} of {total}", offset + 1, offset + shown as u64)
}

/// A link to `path` with the given query pairs (empty values left out).
#[must_use]
pub fn link(path: &str, pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        s.append_pair(k, v);
    }
    let q = s.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// A Unix time for pages.
#[must_use]
pub fn time(t: i64) -> String {
    bposhield_core::clock::format_time(t)
}

/// An optional Unix time for pages (`never` when absent).
#[must_use]
pub fn time_or(t: Option<i64>, none: &str) -> String {
    t.map_or_else(|| none.to_owned(), time)
}

/// The organisation's names, loaded once per page to show ids as names.
pub struct OrgNames {
    pub sites: Vec<Site>,
    pub processes: Vec<ProcessUnit>,
    pub teams: Vec<Team>,
}

impl OrgNames {
    /// Loads every site, process unit and team.
    pub async fn load(st: &AppState) -> AppResult<Self> {
        Ok(Self {
            sites: st.store.sites().await?,
            processes: st.store.processes(None).await?,
            teams: st.store.teams(None).await?,
        })
    }

    /// `CODE · name` of a site.
    #[must_use]
    pub fn site(&self, id: SiteId) -> String {
        self.sites
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| "(unknown site)".to_owned(), |s| format!("{} · {}", s.code, s.name))
    }

    /// `CODE · name` of a process unit.
    #[must_use]
    pub fn process(&self, id: ProcessId) -> String {
        self.processes
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| "(unknown process)".to_owned(), |p| format!("{} · {}", p.code, p.name))
    }

    /// The code of a process unit.
    #[must_use]
    pub fn process_code(&self, id: ProcessId) -> String {
        self.processes.iter().find(|p| p.id == id).map_or_else(|| "?".to_owned(), |p| p.code.clone())
    }

    /// `PROCESS / team` of a team.
    #[must_use]
    pub fn team(&self, id: TeamId) -> String {
        self.teams.iter().find(|t| t.id == id).map_or_else(
            || "(unknown team)".to_owned(),
            |t| format!("{} / {}", self.process_code(t.process_id), t.name),
        )
    }

    /// A scope in words: `Global`, `Site PNQ1 · Pune One`…
    #[must_use]
    pub fn scope(&self, s: Scope) -> String {
        match s {
            Scope::Global => "Global".to_owned(),
            Scope::Site(id) => format!("Site {}", self.site(id)),
            Scope::Process(id) => format!("Process {}", self.process(id)),
            Scope::Team(id) => format!("Team {}", self.team(id)),
        }
    }

    /// `Role @ scope` of a grant.
    #[must_use]
    pub fn grant(&self, g: &Grant) -> String {
        format!("{} @ {}", g.role.label(), self.scope(g.scope))
    }

    /// Options of a site select.
    #[must_use]
    pub fn site_opts(&self) -> Vec<Opt> {
        self.sites.iter().map(|s| Opt::new(s.id.to_string(), format!("{} · {}", s.code, s.name))).collect()
    }

    /// Options of a process unit select.
    #[must_use]
    pub fn process_opts(&self) -> Vec<Opt> {
        self.processes.iter().map(|p| Opt::new(p.id.to_string(), format!("{} · {}", p.code, p.name))).collect()
    }

    /// Options of a team select.
    #[must_use]
    pub fn team_opts(&self) -> Vec<Opt> {
        let mut v: Vec<Opt> = self.teams.iter().map(|t| Opt::new(t.id.to_string(), self.team(t.id))).collect();
        v.sort_by(|a, b| a.label.cmp(&b.label));
        v
    }

    /// Every scope a role can be granted at, grouped for a select.
    #[must_use]
    pub fn scope_groups(&self) -> Vec<OptGroup> {
        vec![
            OptGroup { label: "Platform".into(), opts: vec![Opt::new("global", "Global (everywhere)")] },
            OptGroup {
                label: "Sites".into(),
                opts: self.sites.iter().map(|s| Opt::new(format!("site:{}", s.id), self.site(s.id))).collect(),
            },
            OptGroup {
                label: "Process units".into(),
                opts: self
                    .processes
                    .iter()
                    .map(|p| Opt::new(format!("process:{}", p.id), self.process(p.id)))
                    .collect(),
            },
            OptGroup {
                label: "Teams".into(),
                opts: self.team_opts().into_iter().map(|o| Opt::new(format!("team:{}", o.value), o.label)).collect(),
            },
        ]
    }
}

/// Escapes text for HTML (the error page's last-resort fallback, which has no template).
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_local() {
        assert_eq!(safe_next("/people?q=a"), "/people?q=a");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "", "people", "/signin?next=/"] {
            assert_eq!(safe_next(bad), "/", "{bad}");
        }
    }

    #[test]
    fn ranges_and_links() {
        assert_eq!(range_label(0, 50, 120), "1–50 of 120");
        assert_eq!(range_label(100, 20, 120), "101–120 of 120");
        assert_eq!(range_label(0, 0, 0), "0 of 0");
        assert_eq!(link("/people", &[("q", "a b".into()), ("site_id", String::new())]), "/people?q=a+b");
        assert_eq!(link("/people", &[]), "/people");
    }

    #[test]
    fn form_errors_land_beside_their_fields() {
        let mut f = FormView::default();
        let err = AppError::field(ErrorCode::UnknownReference, "manager_id", "no such person");
        let status = f.absorb(err, &["manager"], &[("manager_id", "manager")]);
        assert_eq!(status.ok(), Some(StatusCode::UNPROCESSABLE_ENTITY));
        assert_eq!(f.err("manager"), Some("No such person"));
        assert_eq!(field_sentence("is required"), "This field is required");
        assert_eq!(field_sentence("must be a date YYYY-MM-DD"), "Must be a date YYYY-MM-DD");
        assert!(f.absorb(AppError::not_found("person"), &[], &[]).is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
