//! The route table. Every route is registered through [`Routes::add`] with the
//! [`Access`] it needs, and that registration wraps the handler in [`authz_mw`], which
//! calls the one `authorize` of `bposhield-core`. A route cannot be added without an
//! access rule, and [`table`] lists them all for the route × role test and the OpenAPI
//! completeness test.

use crate::audit::Outcome;
use crate::ctx::{context_mw, Ctx, Via};
use crate::error::AppError;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{header, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use bposhield_core::{authorize, Action, Decision, Resource};
use bposhield_proto::ErrorCode;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (sign-in, health, assets, the OpenAPI document).
    Public,
    /// A signed-in caller allowed to perform the action.
    Signed(Action),
    /// An enrolled host presenting its credential (`bpa_…`), for the agent API. The
    /// same `authorize` decides: only a host principal holds the action, so users of
    /// every role are refused (403) and a caller without credentials gets 401.
    Host(Action),
}

/// One registered route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

impl RouteSpec {
    /// Whether this is a JSON API route.
    #[must_use]
    pub fn is_api(&self) -> bool {
        self.path.starts_with("/api/v1/")
    }
}

/// Builds the router and the table together, so they cannot disagree.
pub struct Routes {
    state: AppState,
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

impl Routes {
    fn new(state: AppState) -> Self {
        Self { state, router: Router::new(), specs: Vec::new() }
    }

    /// Registers `handler` for `method path` behind the access rule.
    #[must_use]
    pub fn add<H, T>(mut self, method: Method, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        let mr = on(filter, handler).route_layer(from_fn_with_state((self.state.clone(), access), authz_mw));
        self.router = self.router.route(path, mr);
        self.specs.push(RouteSpec { method, path, access });
        self
    }

    /// GET shorthand.
    #[must_use]
    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, access: Access, h: H) -> Self {
        self.add(Method::GET, path, access, h)
    }

    /// POST shorthand.
    #[must_use]
    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, access: Access, h: H) -> Self {
        self.add(Method::POST, path, access, h)
    }

    /// PUT shorthand.
    #[must_use]
    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, access: Access, h: H) -> Self {
        self.add(Method::PUT, path, access, h)
    }

    /// DELETE shorthand.
    #[must_use]
    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, access: Access, h: H) -> Self {
        self.add(Method::DELETE, path, access, h)
    }
}

fn build(state: AppState) -> Routes {
    let r = Routes::new(state);
    let r = crate::api::routes(r);
    let r = crate::ledger::api::routes(r);
    let r = crate::ledger::web::routes(r);
    let r = crate::scim::routes(r);
    let r = crate::identity::api::routes(r);
    let r = crate::identity::web::routes(r);
    let r = crate::recordings::api::routes(r);
    let r = crate::recordings::web::routes(r);
    let r = crate::fleet::agent::routes(r);
    let r = crate::fleet::api::routes(r);
    let r = crate::fleet::web::routes(r);
    crate::web::routes(r)
}

/// Every route of the server with its access rule.
#[must_use]
pub fn table(state: AppState) -> Vec<RouteSpec> {
    build(state).specs
}

/// The complete application.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.http.max_body_bytes;
    let routes = build(state.clone());
    routes
        .router
        .fallback(|| async { AppError::new(ErrorCode::NotFound, "no such page or endpoint") })
        .method_not_allowed_fallback(|| async { AppError::new(ErrorCode::MethodNotAllowed, "method not allowed here") })
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(state.clone(), context_mw))
        .with_state(state)
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Authentication, second-factor gates, CSRF and authorization for one route.
async fn authz_mw(State((state, access)): State<(AppState, Access)>, req: Request, next: Next) -> Response {
    let (Access::Signed(action) | Access::Host(action)) = access else {
        return next.run(req).await;
    };
    let Some(ctx) = req.extensions().get::<Ctx>().cloned() else {
        return AppError::internal("request context missing").into_response();
    };
    // A host credential: the host principal goes through `authorize` like anyone.
    if let Some(host) = &ctx.host {
        return match authorize(&host.actor, action, Resource::Any) {
            Decision::Allow => next.run(req).await,
            Decision::Deny(reason) => refuse(&state, &ctx, action, req.method(), &reason).await,
        };
    }
    // SCIM clients are machines too: a 401, never a redirect to the sign-in page.
    let api = ctx.path.starts_with("/api/") || ctx.path.starts_with("/scim/") || ctx.path == "/metrics";
    let Some(auth) = ctx.auth.clone() else {
        if api {
            let msg = if matches!(access, Access::Host(_)) {
                "present the host credential (Authorization: Bearer bpa_…)"
            } else if ctx.session_expired {
                "session expired; sign in again"
            } else {
                "sign in or present a bearer token"
            };
            let code = if ctx.session_expired { ErrorCode::SessionExpired } else { ErrorCode::NotAuthenticated };
            return AppError::new(code, msg).into_response();
        }
        let next_path =
            if req.method() == Method::GET { req.uri().path_and_query().map(|p| p.to_string()) } else { None };
        let mut to = String::from("/signin");
        let mut sep = '?';
        if let Some(n) = next_path.filter(|n| n.starts_with('/') && !n.starts_with("//")) {
            to.push_str(&format!("?next={}", form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()));
            sep = '&';
        }
        if ctx.session_expired {
            to.push(sep);
            to.push_str("expired=1");
        }
        return Redirect::to(&to).into_response();
    };
    if let Via::Session { mfa_pending: true, .. } = auth.via {
        return if api {
            AppError::new(ErrorCode::SecondFactorRequired, "enter your second-factor code first").into_response()
        } else {
            Redirect::to("/signin/totp").into_response()
        };
    }
    if auth.needs_enrolment && action != Action::AccountSelf {
        return if api {
            AppError::new(
                ErrorCode::SecondFactorEnrolmentRequired,
                "your role requires a second factor: enrol one under /account",
            )
            .into_response()
        } else {
            Redirect::to("/account?enrol=1").into_response()
        };
    }
    let (req, csrf_ok) = match &auth.via {
        Via::Session { csrf, .. } if is_unsafe(req.method()) => {
            check_csrf(req, csrf, state.config.http.max_body_bytes).await
        }
        _ => (req, true),
    };
    if !csrf_ok {
        let _ = state
            .audit(&ctx, "auth.csrf", &format!("route:{}", ctx.path), Outcome::Denied, serde_json::json!({}))
            .await;
        return AppError::new(
            ErrorCode::CsrfFailed,
            "the form expired or did not come from this site; reload and try again",
        )
        .into_response();
    }
    let resource = if action == Action::AccountSelf { Resource::OwnAccount } else { Resource::Any };
    match authorize(&auth.actor, action, resource) {
        Decision::Allow => next.run(req).await,
        Decision::Deny(reason) => refuse(&state, &ctx, action, req.method(), &reason).await,
    }
}

/// A refusal of `authorize`: recorded like a grant, then 403.
async fn refuse(state: &AppState, ctx: &Ctx, action: Action, method: &Method, reason: &str) -> Response {
    let recorded = state
        .audit(
            ctx,
            action.as_str(),
            &format!("route:{method} {}", ctx.path),
            Outcome::Denied,
            serde_json::json!({ "reason": reason }),
        )
        .await;
    if let Err(e) = recorded {
        return e.into_response();
    }
    AppError::new(ErrorCode::Forbidden, format!("not allowed: {reason}")).into_response()
}

/// Checks the CSRF token of a cookie-authenticated unsafe request: the `x-csrf-token`
/// header, or the `csrf` field of a urlencoded form (the body is buffered and put back).
async fn check_csrf(req: Request, expected: &str, limit: usize) -> (Request, bool) {
    if let Some(h) = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        let ok = constant_eq(h.as_bytes(), expected.as_bytes());
        return (req, ok);
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (req, false);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return (Request::from_parts(parts, Body::empty()), false);
    };
    let ok = form_urlencoded::parse(&bytes).any(|(k, v)| k == "csrf" && constant_eq(v.as_bytes(), expected.as_bytes()));
    (Request::from_parts(parts, Body::from(bytes)), ok)
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && !a.is_empty() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 204 No Content.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
