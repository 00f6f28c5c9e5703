//! The server-rendered web UI: askama templates (`crates/server/templates/`) with htmx as
//! progressive enhancement only. Every page and form works without JavaScript.
//!
//! Pages are thin adapters like the API: reads go to the store or a service, every state
//! change goes through [`crate::services`] (which authorizes again and writes the audit
//! event), and the route table gives each page the same [`Action`] as its API twin, so the
//! route layer has already authenticated, checked CSRF and authorized before a handler
//! runs. Buttons and links are shown only when `authorize` would allow them.
//!
//! A rejected form is rendered again with the entered values (never passwords) and each
//! message beside its field (`id="error-<field>"`, referenced by `aria-describedby`),
//! with status 422. Errors that are not about the input (denied, not found, internal)
//! become the error page of [`error_page`].
//!
//! The CSP allows no inline script or style: all styling is in `assets/app.css`, and
//! htmx is configured through a `<meta>` tag.

mod account;
mod assets;
mod audit;
mod auth;
mod controls;
mod org;
mod people;
mod users;
pub(crate) mod view;

#[cfg(test)]
mod tests;

use crate::ctx::Ctx;
use crate::error::AppError;
use crate::routes::{Access, Routes};
use askama::Template;
use bposhield_core::Action;
use bposhield_proto::ErrorCode;
use view::Layout;

/// Registers every page, each with the access rule of its API counterpart.
pub fn routes(r: Routes) -> Routes {
    use Access::{Public, Signed};
    use Action::*;
    r.get("/assets/{file}", Public, assets::serve)
        .get("/signin", Public, auth::sign_in_page)
        .post("/signin", Public, auth::sign_in)
        .get("/signin/totp", Public, auth::totp_page)
        .post("/signin/totp", Public, auth::totp)
        .post("/signout", Signed(AccountSelf), auth::sign_out)
        .get("/", Signed(DashboardView), controls::dashboard)
        .get("/controls", Signed(ControlsView), controls::list)
        .post("/controls/evaluate", Signed(ControlsEvaluate), controls::evaluate)
        .get("/controls/{id}", Signed(ControlsView), controls::detail)
        .get("/org", Signed(OrgView), org::overview)
        .post("/org/sites", Signed(OrgEdit), org::create_site)
        .get("/org/sites/{id}", Signed(OrgView), org::site_page)
        .post("/org/sites/{id}", Signed(OrgEdit), org::update_site)
        .post("/org/processes", Signed(OrgEdit), org::create_process)
        .get("/org/processes/{id}", Signed(OrgView), org::process_page)
        .post("/org/processes/{id}", Signed(OrgEdit), org::update_process)
        .post("/org/teams", Signed(OrgEdit), org::create_team)
        .get("/org/teams/{id}", Signed(OrgView), org::team_page)
        .post("/org/teams/{id}", Signed(OrgEdit), org::update_team)
        .get("/people", Signed(PeopleView), people::list)
        .get("/people/new", Signed(PeopleEdit), people::new_page)
        .post("/people", Signed(PeopleEdit), people::create)
        .get("/people/{id}", Signed(PeopleView), people::detail)
        .post("/people/{id}", Signed(PeopleEdit), people::update)
        .get("/users", Signed(UsersView), users::list)
        .get("/users/new", Signed(UsersAdmin), users::new_page)
        .post("/users", Signed(UsersAdmin), users::create)
        .get("/users/{id}", Signed(UsersView), users::detail)
        .post("/users/{id}/grants", Signed(UsersAdmin), users::add_grant)
        .post("/users/{id}/grants/{grant_id}/delete", Signed(UsersAdmin), users::remove_grant)
        .post("/users/{id}/disable", Signed(UsersAdmin), users::disable)
        .post("/users/{id}/enable", Signed(UsersAdmin), users::enable)
        .post("/users/{id}/password", Signed(UsersAdmin), users::reset_password)
        .get("/audit", Signed(AuditView), audit::list)
        .get("/account", Signed(AccountSelf), account::show)
        .post("/account/password", Signed(AccountSelf), account::change_password)
        .post("/account/totp", Signed(AccountSelf), account::totp_begin)
        .post("/account/totp/confirm", Signed(AccountSelf), account::totp_confirm)
        .post("/account/tokens", Signed(AccountSelf), account::create_token)
        .post("/account/tokens/{id}/revoke", Signed(AccountSelf), account::revoke_token)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    l: Layout,
    err: &'a AppError,
    message: String,
    sign_in: bool,
}

/// The HTML error page: title, message, stable code, request id and a way on. Never
/// panics: if the template cannot render, a minimal escaped page is returned instead.
#[must_use]
pub fn error_page(ctx: &Ctx, err: &AppError) -> String {
    let sign_in = ctx.auth.is_none()
        || matches!(err.code, ErrorCode::NotAuthenticated | ErrorCode::SessionExpired | ErrorCode::TokenExpired);
    let page = ErrorPage { l: Layout::new(ctx, err.code.title()), err, message: view::sentence(&err.message), sign_in };
    page.render().unwrap_or_else(|_| {
        format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{title}</title><h1>{title}</h1><p>{msg}</p><p>Code {code} · request {rid}</p><p><a href=\"/\">Home</a></p></html>",
            title = view::escape(err.code.title()),
            msg = view::escape(&err.message),
            code = view::escape(err.code.code()),
            rid = view::escape(&ctx.request_id),
        )
    })
}
