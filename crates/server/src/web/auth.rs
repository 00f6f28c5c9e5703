//! Sign-in (password, then second factor when enrolled) and sign-out pages.
//!
//! The sign-in form has no session yet, so its CSRF defence is a double submit: the GET
//! sets a random `bps_pre` cookie and puts the same value in a hidden field; a POST whose
//! field and cookie differ did not come from our form. The cookie is `SameSite=Strict`,
//! so another site can neither read nor send it.

use super::view::{safe_next, see_other, sentence, FormData, FormView, Layout, QueryData};
use crate::ctx::{cookie, random_secret, set_cookie, Authed, Ctx, Via, PRE_COOKIE, SESSION_COOKIE};
use crate::error::{AppError, AppResult};
use crate::services as svc;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use bposhield_proto::ErrorCode;

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    l: Layout,
    f: FormView,
    pre: String,
    next: String,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "signin_totp.html")]
struct TotpPage {
    l: Layout,
    f: FormView,
    csrf: String,
    next: String,
}

/// Renders the sign-in form with a fresh double-submit value in field and cookie.
fn sign_in_form(
    st: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    f: FormView,
    next: &str,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let pre = random_secret();
    let page = SignInPage { l: Layout::new(ctx, "Sign in"), f, pre: pre.clone(), next: next.to_owned(), notice };
    let html = page.render().map_err(AppError::internal)?;
    Ok((
        status,
        AppendHeaders([(SET_COOKIE, set_cookie(st, PRE_COOKIE, &pre, Some(3600)))]),
        axum::response::Html(html),
    )
        .into_response())
}

/// Whether the caller holds a session waiting for its second factor.
fn pending(ctx: &Ctx) -> bool {
    matches!(ctx.auth.as_ref().map(|a| &a.via), Some(Via::Session { mfa_pending: true, .. }))
}

/// `GET /signin`.
pub async fn sign_in_page(State(st): State<AppState>, ctx: Ctx, q: QueryData) -> AppResult<Response> {
    let next = q.get("next").to_owned();
    if pending(&ctx) {
        return Ok(see_other("/signin/totp"));
    }
    if let Some(auth) = &ctx.auth {
        return Ok(see_other(&landing(&auth.user, &next)));
    }
    let notice = if q.has("expired") || ctx.session_expired {
        Some("Your session expired. Please sign in again.")
    } else if q.has("password_changed") {
        Some("Your password was changed and every session ended. Sign in with the new password.")
    } else if q.has("signed_out") {
        Some("You are signed out.")
    } else {
        None
    };
    sign_in_form(&st, &ctx, StatusCode::OK, FormView::default(), &next, notice)
}

/// `POST /signin`.
pub async fn sign_in(State(st): State<AppState>, ctx: Ctx, headers: HeaderMap, form: FormData) -> AppResult<Response> {
    let next = form.get("next").to_owned();
    let mut f = FormView::default();
    f.set("username", form.get("username").trim());
    let pre = form.get("pre");
    let pre_ok = !pre.is_empty() && cookie(&headers, PRE_COOKIE).is_some_and(|c| c == pre);
    if !pre_ok {
        f.general = Some("The sign-in form expired. Please try again.".into());
        return sign_in_form(&st, &ctx, StatusCode::FORBIDDEN, f, &next, None);
    }
    match svc::sign_in(&st, &ctx, form.get("username"), form.get("password")).await {
        Ok(s) => {
            let to = if s.mfa_pending {
                super::view::link("/signin/totp", &[("next", next)])
            } else {
                landing(&s.user, &next)
            };
            Ok((
                AppendHeaders([
                    (SET_COOKIE, set_cookie(&st, SESSION_COOKIE, &s.cookie, None)),
                    (SET_COOKIE, set_cookie(&st, PRE_COOKIE, "", Some(0))),
                ]),
                see_other(&to),
            )
                .into_response())
        }
        Err(e) if matches!(e.code, ErrorCode::Internal | ErrorCode::StoreUnavailable) => Err(e),
        Err(e) => {
            let status = e.status();
            f.general = Some(sentence(&e.message));
            sign_in_form(&st, &ctx, status, f, &next, None)
        }
    }
}

/// Where a fresh sign-in goes: the page asked for, or the dashboard, or, for roles that
/// may not see the dashboard (agents, vendors), their account page instead of a refusal.
fn landing(user: &bposhield_proto::User, next: &str) -> String {
    let to = safe_next(next);
    if to != "/" {
        return to;
    }
    let actor =
        bposhield_core::Actor::user(user.id, user.person_id, user.grants.iter().map(|g| (g.role, g.scope)).collect());
    let dashboard =
        bposhield_core::authorize(&actor, bposhield_core::Action::DashboardView, bposhield_core::Resource::Any);
    if dashboard.is_allow() {
        to
    } else {
        "/account".to_owned()
    }
}

/// `GET /signin/totp`.
pub async fn totp_page(ctx: Ctx, q: QueryData) -> AppResult<Response> {
    let Some(auth) = ctx.auth.as_ref().filter(|_| pending(&ctx)) else {
        return Ok(see_other("/signin"));
    };
    let page = TotpPage {
        l: Layout::new(&ctx, "Second factor"),
        f: FormView::default(),
        csrf: auth.csrf().to_owned(),
        next: q.get("next").to_owned(),
    };
    super::view::page(&page)
}

/// `POST /signin/totp`: the code, or `cancel` to drop the half-open session.
pub async fn totp(State(st): State<AppState>, ctx: Ctx, form: FormData) -> AppResult<Response> {
    let Some(auth) = ctx.auth.clone().filter(|_| pending(&ctx)) else {
        return Ok(see_other("/signin"));
    };
    // A public route: the layer checks no CSRF, so the pending session's token is checked here.
    if form.get("csrf").is_empty() || form.get("csrf") != auth.csrf() {
        return Err(AppError::new(
            ErrorCode::CsrfFailed,
            "the form expired or did not come from this site; reload and try again",
        ));
    }
    let next = form.get("next").to_owned();
    if form.has("cancel") {
        svc::sign_out(&st, &ctx, &auth).await?;
        return Ok((
            AppendHeaders([(SET_COOKIE, set_cookie(&st, SESSION_COOKIE, "", Some(0)))]),
            see_other("/signin?signed_out=1"),
        )
            .into_response());
    }
    match svc::sign_in_second_factor(&st, &ctx, &auth, form.get("code")).await {
        Ok((cookie, _)) => Ok((
            AppendHeaders([(SET_COOKIE, set_cookie(&st, SESSION_COOKIE, &cookie, None))]),
            see_other(&landing(&auth.user, &next)),
        )
            .into_response()),
        Err(e) if e.code == ErrorCode::Conflict => Ok(see_other("/signin")),
        Err(e) => {
            let mut f = FormView::default();
            let status = f.absorb(e, &["code"], &[])?;
            if f.err("code").is_some() {
                f.general = None;
            } else if let Some(g) = f.general.take() {
                f.general = Some(sentence(&g));
            }
            let page = TotpPage { l: Layout::new(&ctx, "Second factor"), f, csrf: auth.csrf().to_owned(), next };
            super::view::page_status(status, &page)
        }
    }
}

/// `POST /signout`.
pub async fn sign_out(State(st): State<AppState>, Authed(ctx, auth): Authed) -> AppResult<Response> {
    svc::sign_out(&st, &ctx, &auth).await?;
    Ok((AppendHeaders([(SET_COOKIE, set_cookie(&st, SESSION_COOKIE, "", Some(0)))]), see_other("/signin?signed_out=1"))
        .into_response())
}
