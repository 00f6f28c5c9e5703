//! The REST API (`/api/v1`): JSON adapters over [`crate::services`], the OpenAPI
//! document generated from these handlers, health, readiness and metrics.
//!
//! Request bodies go through [`ApiJson`], which names the offending field of malformed
//! input with a stable code; queries through [`ApiQuery`], paths through [`ApiPath`].

use crate::ctx::{set_cookie, Authed, Ctx, Via, SESSION_COOKIE};
use crate::error::{AppError, AppResult};
use crate::routes::{no_content, Access, Routes};
use crate::services::{self as svc, PeopleQuery, TotpEnrolment};
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bposhield_core::Action;
use bposhield_proto::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// A JSON body that reports bad input precisely: malformed JSON, unknown fields and
/// wrong types each get their own code and name the field (as a JSON path).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, s: &S) -> Result<Self, AppError> {
        let json_ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json_ct {
            return Err(AppError::new(ErrorCode::UnsupportedMediaType, "send the body as application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, s)
            .await
            .map_err(|_| AppError::new(ErrorCode::BodyTooLarge, "request body too large or unreadable"))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body with field-precise errors (also used by the fuzz target).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        let field = (path != ".").then_some(path);
        if inner.is_syntax() || inner.is_eof() {
            AppError::new(ErrorCode::MalformedJson, format!("malformed JSON: {msg}"))
        } else if let Some(rest) = msg.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or_default();
            // The path already ends with the unknown key.
            let full = field.filter(|p| p.ends_with(name)).unwrap_or_else(|| name.to_owned());
            AppError::field(ErrorCode::UnknownField, &full, format!("unknown field ({msg})"))
        } else {
            let f = field.unwrap_or_else(|| "body".into());
            let missing = msg.strip_prefix("missing field `").and_then(|r| r.split('`').next());
            match missing {
                Some(m) => AppError::field(ErrorCode::InvalidField, m, "is required"),
                None => AppError::field(ErrorCode::InvalidField, &f, msg),
            }
        }
    })
}

/// A query string with field-named errors.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let q = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let path = e.path().to_string();
            AppError::field(ErrorCode::InvalidQuery, &path, e.into_inner().to_string())
        })
    }
}

/// A path parameter with a stable error for malformed ids.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, s)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| AppError::new(ErrorCode::InvalidPath, format!("invalid path parameter: {}", e.body_text())))
    }
}

/// Registers every API route.
pub fn routes(r: Routes) -> Routes {
    use Access::{Public, Signed};
    r.get("/healthz", Public, healthz)
        .get("/readyz", Public, readyz)
        .get("/metrics", Signed(Action::MetricsView), metrics)
        .get("/api/openapi.json", Public, openapi_json)
        .post("/api/v1/auth/signin", Public, api_sign_in)
        .post("/api/v1/auth/second-factor", Public, api_second_factor)
        .post("/api/v1/auth/signout", Signed(Action::AccountSelf), api_sign_out)
        .get("/api/v1/dashboard", Signed(Action::DashboardView), get_dashboard)
        .get("/api/v1/controls", Signed(Action::ControlsView), list_controls)
        .get("/api/v1/controls/{id}", Signed(Action::ControlsView), get_control)
        .post("/api/v1/controls/evaluate", Signed(Action::ControlsEvaluate), evaluate_controls)
        .get("/api/v1/sites", Signed(Action::OrgView), list_sites)
        .post("/api/v1/sites", Signed(Action::OrgEdit), create_site)
        .get("/api/v1/sites/{id}", Signed(Action::OrgView), get_site)
        .put("/api/v1/sites/{id}", Signed(Action::OrgEdit), update_site)
        .get("/api/v1/processes", Signed(Action::OrgView), list_processes)
        .post("/api/v1/processes", Signed(Action::OrgEdit), create_process)
        .get("/api/v1/processes/{id}", Signed(Action::OrgView), get_process)
        .put("/api/v1/processes/{id}", Signed(Action::OrgEdit), update_process)
        .get("/api/v1/teams", Signed(Action::OrgView), list_teams)
        .post("/api/v1/teams", Signed(Action::OrgEdit), create_team)
        .get("/api/v1/teams/{id}", Signed(Action::OrgView), get_team)
        .put("/api/v1/teams/{id}", Signed(Action::OrgEdit), update_team)
        .get("/api/v1/people", Signed(Action::PeopleView), list_people)
        .post("/api/v1/people", Signed(Action::PeopleEdit), create_person)
        .get("/api/v1/people/{id}", Signed(Action::PeopleView), get_person)
        .put("/api/v1/people/{id}", Signed(Action::PeopleEdit), update_person)
        .get("/api/v1/users", Signed(Action::UsersView), list_users)
        .post("/api/v1/users", Signed(Action::UsersAdmin), create_user)
        .get("/api/v1/users/{id}", Signed(Action::UsersView), get_user)
        .post("/api/v1/users/{id}/grants", Signed(Action::UsersAdmin), add_grant)
        .delete("/api/v1/users/{id}/grants/{grant_id}", Signed(Action::UsersAdmin), remove_grant)
        .post("/api/v1/users/{id}/disable", Signed(Action::UsersAdmin), disable_user)
        .post("/api/v1/users/{id}/enable", Signed(Action::UsersAdmin), enable_user)
        .post("/api/v1/users/{id}/password", Signed(Action::UsersAdmin), reset_password)
        .get("/api/v1/tokens", Signed(Action::UsersView), list_all_tokens)
        .delete("/api/v1/tokens/{id}", Signed(Action::UsersAdmin), revoke_any_token)
        .get("/api/v1/audit", Signed(Action::AuditView), list_audit)
        .get("/api/v1/me", Signed(Action::AccountSelf), get_me)
        .post("/api/v1/me/password", Signed(Action::AccountSelf), change_password)
        .post("/api/v1/me/totp", Signed(Action::AccountSelf), totp_begin)
        .post("/api/v1/me/totp/confirm", Signed(Action::AccountSelf), totp_confirm)
        .get("/api/v1/me/tokens", Signed(Action::AccountSelf), list_my_tokens)
        .post("/api/v1/me/tokens", Signed(Action::AccountSelf), create_my_token)
        .delete("/api/v1/me/tokens/{id}", Signed(Action::AccountSelf), revoke_my_token)
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "bposhield API",
        description = "Security controls for BPOs and contact centres. Authenticate with `Authorization: Bearer <token>` (see `bposhield admin token create`) or a session cookie plus `X-CSRF-Token`. Errors carry stable `BPS-…` codes."
    ),
    paths(
        healthz,
        readyz,
        metrics,
        openapi_json,
        api_sign_in,
        api_second_factor,
        api_sign_out,
        get_dashboard,
        list_controls,
        get_control,
        evaluate_controls,
        list_sites,
        create_site,
        get_site,
        update_site,
        list_processes,
        create_process,
        get_process,
        update_process,
        list_teams,
        create_team,
        get_team,
        update_team,
        list_people,
        create_person,
        get_person,
        update_person,
        list_users,
        create_user,
        get_user,
        add_grant,
        remove_grant,
        disable_user,
        enable_user,
        reset_password,
        list_all_tokens,
        revoke_any_token,
        list_audit,
        get_me,
        change_password,
        totp_begin,
        totp_confirm,
        list_my_tokens,
        create_my_token,
        revoke_my_token
    ),
    components(schemas(ApiError))
)]
pub struct ApiDoc;

/// The generated OpenAPI document as JSON.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::ledger::api::LedgerApi::openapi());
    doc.merge(crate::identity::api::IdentityApi::openapi());
    doc.merge(crate::recordings::api::RecordingsApi::openapi());
    doc.merge(crate::fleet::agent::AgentApi::openapi());
    doc.merge(crate::fleet::api::FleetApi::openapi());
    doc
}

// ---- health ---------------------------------------------------------------------------

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "ready"), (status = 503, body = ApiError)))]
async fn readyz(State(st): State<AppState>) -> AppResult<&'static str> {
    st.store.ping().await.map_err(|_| AppError::new(ErrorCode::StoreUnavailable, "database unavailable"))?;
    Ok("ready")
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
async fn metrics(State(st): State<AppState>) -> Response {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], st.metrics.render()).into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", responses((status = 200, description = "OpenAPI 3 document")))]
async fn openapi_json() -> Response {
    match openapi().to_json() {
        Ok(s) => ([(CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => AppError::internal(e).into_response(),
    }
}

// ---- sign-in --------------------------------------------------------------------------

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
}

/// A second-factor code (6 digits) or a recovery code (`xxxxx-xxxxx`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub code: String,
}

/// The result of signing in; the session cookie is in `Set-Cookie`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInResponse {
    pub user: User,
    pub second_factor_required: bool,
    /// Send as `X-CSRF-Token` on unsafe requests made with the cookie.
    pub csrf_token: String,
}

/// Signs in with username and password.
#[utoipa::path(post, path = "/api/v1/auth/signin", request_body = SignInRequest, responses((status = 200, body = SignInResponse), (status = 401, body = ApiError)))]
async fn api_sign_in(State(st): State<AppState>, ctx: Ctx, ApiJson(b): ApiJson<SignInRequest>) -> AppResult<Response> {
    let s = svc::sign_in(&st, &ctx, &b.username, &b.password).await?;
    let cookie = set_cookie(&st, SESSION_COOKIE, &s.cookie, None);
    let body = SignInResponse { user: s.user, second_factor_required: s.mfa_pending, csrf_token: s.csrf };
    Ok(([(SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Completes sign-in with a second-factor or recovery code.
#[utoipa::path(post, path = "/api/v1/auth/second-factor", request_body = CodeRequest, responses((status = 200, body = SignInResponse), (status = 401, body = ApiError)))]
async fn api_second_factor(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<CodeRequest>,
) -> AppResult<Response> {
    let auth = ctx.require_auth()?.clone();
    let (cookie, csrf) = svc::sign_in_second_factor(&st, &ctx, &auth, &b.code).await?;
    let user = svc::get_user(&st, auth.user.id).await?;
    let body = SignInResponse { user, second_factor_required: false, csrf_token: csrf };
    Ok(([(SET_COOKIE, set_cookie(&st, SESSION_COOKIE, &cookie, None))], Json(body)).into_response())
}

/// Ends the session.
#[utoipa::path(post, path = "/api/v1/auth/signout", responses((status = 204)))]
async fn api_sign_out(State(st): State<AppState>, Authed(ctx, auth): Authed) -> AppResult<Response> {
    svc::sign_out(&st, &ctx, &auth).await?;
    Ok(([(SET_COOKIE, set_cookie(&st, SESSION_COOKIE, "", Some(0)))], no_content()).into_response())
}

// ---- dashboard and controls -----------------------------------------------------------

/// The ten risk tiles.
#[utoipa::path(get, path = "/api/v1/dashboard", responses((status = 200, body = Vec<RiskTile>)))]
async fn get_dashboard(State(st): State<AppState>) -> AppResult<Json<Vec<RiskTile>>> {
    Ok(Json(svc::dashboard(&st).await?))
}

/// Every control with its latest result.
#[utoipa::path(get, path = "/api/v1/controls", responses((status = 200, body = Vec<ControlSummary>)))]
async fn list_controls(State(st): State<AppState>) -> AppResult<Json<Vec<ControlSummary>>> {
    Ok(Json(svc::control_summaries(&st).await?))
}

/// A control with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ControlDetail {
    pub control: ControlSummary,
    /// Newest first, up to 100.
    pub history: Vec<ControlResult>,
}

/// One control and its history.
#[utoipa::path(get, path = "/api/v1/controls/{id}", params(("id" = String, Path, description = "e.g. CTL-R3-001")), responses((status = 200, body = ControlDetail), (status = 404, body = ApiError)))]
async fn get_control(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> AppResult<Json<ControlDetail>> {
    let (control, history) = svc::control_detail(&st, &id).await?;
    Ok(Json(ControlDetail { control, history }))
}

/// Evaluates every control now.
#[utoipa::path(post, path = "/api/v1/controls/evaluate", responses((status = 200, body = Vec<ControlResult>)))]
async fn evaluate_controls(State(st): State<AppState>, ctx: Ctx) -> AppResult<Json<Vec<ControlResult>>> {
    Ok(Json(svc::evaluate_controls(&st, &ctx).await?))
}

// ---- organisation ---------------------------------------------------------------------

/// Filter by site.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SiteFilter {
    pub site_id: Option<SiteId>,
}

/// Filter by process unit.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProcessFilter {
    pub process_id: Option<ProcessId>,
}

/// All sites.
#[utoipa::path(get, path = "/api/v1/sites", responses((status = 200, body = Vec<Site>)))]
async fn list_sites(State(st): State<AppState>) -> AppResult<Json<Vec<Site>>> {
    Ok(Json(st.store.sites().await?))
}

/// Creates a site.
#[utoipa::path(post, path = "/api/v1/sites", request_body = SiteInput, responses((status = 201, body = Site), (status = 422, body = ApiError)))]
async fn create_site(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<SiteInput>,
) -> AppResult<Response> {
    let s = svc::create_site(&st, &ctx, Some(&a), &b).await?;
    Ok((axum::http::StatusCode::CREATED, Json(s)).into_response())
}

/// One site.
#[utoipa::path(get, path = "/api/v1/sites/{id}", params(("id" = SiteId, Path)), responses((status = 200, body = Site), (status = 404, body = ApiError)))]
async fn get_site(State(st): State<AppState>, ApiPath(id): ApiPath<SiteId>) -> AppResult<Json<Site>> {
    Ok(Json(st.store.site(id).await.map_err(|_| AppError::not_found("site"))?))
}

/// Replaces a site.
#[utoipa::path(put, path = "/api/v1/sites/{id}", params(("id" = SiteId, Path)), request_body = SiteInput, responses((status = 200, body = Site), (status = 422, body = ApiError)))]
async fn update_site(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<SiteId>,
    ApiJson(b): ApiJson<SiteInput>,
) -> AppResult<Json<Site>> {
    Ok(Json(svc::update_site(&st, &ctx, Some(&a), id, &b).await?))
}

/// Process units, optionally of one site.
#[utoipa::path(get, path = "/api/v1/processes", params(SiteFilter), responses((status = 200, body = Vec<ProcessUnit>)))]
async fn list_processes(
    State(st): State<AppState>,
    ApiQuery(f): ApiQuery<SiteFilter>,
) -> AppResult<Json<Vec<ProcessUnit>>> {
    Ok(Json(st.store.processes(f.site_id).await?))
}

/// Creates a process unit.
#[utoipa::path(post, path = "/api/v1/processes", request_body = ProcessInput, responses((status = 201, body = ProcessUnit), (status = 422, body = ApiError)))]
async fn create_process(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<ProcessInput>,
) -> AppResult<Response> {
    let p = svc::create_process(&st, &ctx, Some(&a), &b).await?;
    Ok((axum::http::StatusCode::CREATED, Json(p)).into_response())
}

/// One process unit.
#[utoipa::path(get, path = "/api/v1/processes/{id}", params(("id" = ProcessId, Path)), responses((status = 200, body = ProcessUnit), (status = 404, body = ApiError)))]
async fn get_process(State(st): State<AppState>, ApiPath(id): ApiPath<ProcessId>) -> AppResult<Json<ProcessUnit>> {
    Ok(Json(st.store.process(id).await.map_err(|_| AppError::not_found("process unit"))?))
}

/// Replaces a process unit.
#[utoipa::path(put, path = "/api/v1/processes/{id}", params(("id" = ProcessId, Path)), request_body = ProcessInput, responses((status = 200, body = ProcessUnit), (status = 422, body = ApiError)))]
async fn update_process(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ProcessId>,
    ApiJson(b): ApiJson<ProcessInput>,
) -> AppResult<Json<ProcessUnit>> {
    Ok(Json(svc::update_process(&st, &ctx, Some(&a), id, &b).await?))
}

/// Teams, optionally of one process unit.
#[utoipa::path(get, path = "/api/v1/teams", params(ProcessFilter), responses((status = 200, body = Vec<Team>)))]
async fn list_teams(State(st): State<AppState>, ApiQuery(f): ApiQuery<ProcessFilter>) -> AppResult<Json<Vec<Team>>> {
    Ok(Json(st.store.teams(f.process_id).await?))
}

/// Creates a team.
#[utoipa::path(post, path = "/api/v1/teams", request_body = TeamInput, responses((status = 201, body = Team), (status = 422, body = ApiError)))]
async fn create_team(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<TeamInput>,
) -> AppResult<Response> {
    let t = svc::create_team(&st, &ctx, Some(&a), &b).await?;
    Ok((axum::http::StatusCode::CREATED, Json(t)).into_response())
}

/// One team.
#[utoipa::path(get, path = "/api/v1/teams/{id}", params(("id" = TeamId, Path)), responses((status = 200, body = Team), (status = 404, body = ApiError)))]
async fn get_team(State(st): State<AppState>, ApiPath(id): ApiPath<TeamId>) -> AppResult<Json<Team>> {
    Ok(Json(st.store.team(id).await.map_err(|_| AppError::not_found("team"))?))
}

/// Replaces a team.
#[utoipa::path(put, path = "/api/v1/teams/{id}", params(("id" = TeamId, Path)), request_body = TeamInput, responses((status = 200, body = Team), (status = 422, body = ApiError)))]
async fn update_team(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<TeamId>,
    ApiJson(b): ApiJson<TeamInput>,
) -> AppResult<Json<Team>> {
    Ok(Json(svc::update_team(&st, &ctx, Some(&a), id, &b).await?))
}

// ---- people ---------------------------------------------------------------------------

/// People the caller may see (scoped roles see their scope only).
#[utoipa::path(get, path = "/api/v1/people", params(PeopleQuery), responses((status = 200, body = Page<Person>), (status = 400, body = ApiError)))]
async fn list_people(
    State(st): State<AppState>,
    Authed(_, a): Authed,
    ApiQuery(q): ApiQuery<PeopleQuery>,
) -> AppResult<Response> {
    let body = svc::list_people_json(&st, &a, &q).await?;
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// Creates a person.
#[utoipa::path(post, path = "/api/v1/people", request_body = PersonInput, responses((status = 201, body = Person), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_person(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<PersonInput>,
) -> AppResult<Response> {
    let p = svc::create_person(&st, &ctx, Some(&a), &b).await?;
    Ok((axum::http::StatusCode::CREATED, Json(p)).into_response())
}

/// One person.
#[utoipa::path(get, path = "/api/v1/people/{id}", params(("id" = PersonId, Path)), responses((status = 200, body = Person), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn get_person(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PersonId>,
) -> AppResult<Json<Person>> {
    Ok(Json(svc::get_person(&st, &ctx, &a, id).await?))
}

/// Replaces a person.
#[utoipa::path(put, path = "/api/v1/people/{id}", params(("id" = PersonId, Path)), request_body = PersonInput, responses((status = 200, body = Person), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn update_person(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PersonId>,
    ApiJson(b): ApiJson<PersonInput>,
) -> AppResult<Json<Person>> {
    Ok(Json(svc::update_person(&st, &ctx, Some(&a), id, &b).await?))
}

// ---- users ----------------------------------------------------------------------------

/// Paging and search for users.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// A new password set by an administrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub password: String,
}

/// Platform users.
#[utoipa::path(get, path = "/api/v1/users", params(UserQuery), responses((status = 200, body = Page<User>)))]
async fn list_users(State(st): State<AppState>, ApiQuery(q): ApiQuery<UserQuery>) -> AppResult<Json<Page<User>>> {
    Ok(Json(svc::list_users(&st, q.q.as_deref(), q.limit, q.offset).await?))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", request_body = UserInput, responses((status = 201, body = User), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_user(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<UserInput>,
) -> AppResult<Response> {
    let u = svc::create_user(&st, &ctx, Some(&a), &b).await?;
    Ok((axum::http::StatusCode::CREATED, Json(u)).into_response())
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", params(("id" = UserId, Path)), responses((status = 200, body = User), (status = 404, body = ApiError)))]
async fn get_user(State(st): State<AppState>, ApiPath(id): ApiPath<UserId>) -> AppResult<Json<User>> {
    Ok(Json(svc::get_user(&st, id).await?))
}

/// Grants a role at a scope.
#[utoipa::path(post, path = "/api/v1/users/{id}/grants", params(("id" = UserId, Path)), request_body = GrantInput, responses((status = 200, body = User), (status = 422, body = ApiError)))]
async fn add_grant(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(b): ApiJson<GrantInput>,
) -> AppResult<Json<User>> {
    Ok(Json(svc::add_grant(&st, &ctx, Some(&a), id, &b).await?))
}

/// Revokes a grant.
#[utoipa::path(delete, path = "/api/v1/users/{id}/grants/{grant_id}", params(("id" = UserId, Path), ("grant_id" = GrantId, Path)), responses((status = 200, body = User), (status = 404, body = ApiError)))]
async fn remove_grant(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath((id, grant)): ApiPath<(UserId, GrantId)>,
) -> AppResult<Json<User>> {
    Ok(Json(svc::remove_grant(&st, &ctx, Some(&a), id, grant).await?))
}

/// Disables a user: ends their sessions and revokes their tokens.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", params(("id" = UserId, Path)), responses((status = 200, body = User)))]
async fn disable_user(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<UserId>,
) -> AppResult<Json<User>> {
    Ok(Json(svc::set_disabled(&st, &ctx, Some(&a), id, true).await?))
}

/// Re-enables a user.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", params(("id" = UserId, Path)), responses((status = 200, body = User)))]
async fn enable_user(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<UserId>,
) -> AppResult<Json<User>> {
    Ok(Json(svc::set_disabled(&st, &ctx, Some(&a), id, false).await?))
}

/// Sets a new password for a user and ends their sessions.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", params(("id" = UserId, Path)), request_body = PasswordReset, responses((status = 204), (status = 422, body = ApiError)))]
async fn reset_password(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(b): ApiJson<PasswordReset>,
) -> AppResult<Response> {
    svc::reset_password(&st, &ctx, Some(&a), id, &b.password).await?;
    Ok(no_content())
}

/// Every API token's metadata.
#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = Vec<TokenInfo>)))]
async fn list_all_tokens(State(st): State<AppState>) -> AppResult<Json<Vec<TokenInfo>>> {
    Ok(Json(st.store.tokens(None).await?))
}

/// Revokes any token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = TokenId, Path)), responses((status = 204), (status = 404, body = ApiError)))]
async fn revoke_any_token(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<TokenId>,
) -> AppResult<Response> {
    svc::revoke_token(&st, &ctx, Some(&a), id).await?;
    Ok(no_content())
}

// ---- audit ----------------------------------------------------------------------------

/// Audit filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// `user:<id>`, `token:<id>`, `anonymous`.
    pub actor: Option<String>,
    /// Action prefix, e.g. `people.` or `auth.sign_in`.
    pub action: Option<String>,
    pub object: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// Converts the query into the store filter.
pub fn audit_filter(q: &AuditQuery) -> AppResult<bposhield_store::AuditFilter> {
    if let Some(o) = q.outcome.as_deref().filter(|o| !o.is_empty()) {
        if !["success", "denied", "failure"].contains(&o) {
            return Err(AppError::field(ErrorCode::InvalidQuery, "outcome", "must be success, denied or failure"));
        }
    }
    Ok(bposhield_store::AuditFilter {
        actor: q.actor.clone(),
        action: q.action.clone(),
        object: q.object.clone(),
        outcome: q.outcome.clone(),
        since: q.since,
        until: q.until,
        limit: svc::page_limit(q.limit)?,
        offset: q.offset.unwrap_or(0),
    })
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery), responses((status = 200, body = Page<AuditEvent>)))]
async fn list_audit(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Json<Page<AuditEvent>>> {
    let f = audit_filter(&q)?;
    let (items, total) = st.store.audit_events(&f).await?;
    Ok(Json(Page { items, total, limit: f.limit, offset: f.offset }))
}

// ---- my account -----------------------------------------------------------------------

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Me)))]
async fn get_me(Authed(_, a): Authed) -> Json<Me> {
    let via = match a.via {
        Via::Session { .. } => "session",
        Via::Token(_) => "token",
    };
    Json(Me { user: a.user, via: via.into() })
}

/// Changes the caller's password; every session of the caller ends.
#[utoipa::path(post, path = "/api/v1/me/password", request_body = PasswordChange, responses((status = 204), (status = 422, body = ApiError)))]
async fn change_password(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<PasswordChange>,
) -> AppResult<Response> {
    svc::change_password(&st, &ctx, &a, &b.current_password, &b.new_password).await?;
    Ok(no_content())
}

/// Starts TOTP enrolment.
#[utoipa::path(post, path = "/api/v1/me/totp", responses((status = 200, body = TotpEnrolment), (status = 409, body = ApiError)))]
async fn totp_begin(State(st): State<AppState>, Authed(ctx, a): Authed) -> AppResult<Json<TotpEnrolment>> {
    Ok(Json(svc::totp_begin(&st, &ctx, &a).await?))
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// Confirms TOTP enrolment with a first code.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", request_body = CodeRequest, responses((status = 200, body = RecoveryCodes), (status = 401, body = ApiError)))]
async fn totp_confirm(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<CodeRequest>,
) -> AppResult<Json<RecoveryCodes>> {
    Ok(Json(RecoveryCodes { recovery_codes: svc::totp_confirm(&st, &ctx, &a, &b.code).await? }))
}

/// The caller's tokens.
#[utoipa::path(get, path = "/api/v1/me/tokens", responses((status = 200, body = Vec<TokenInfo>)))]
async fn list_my_tokens(State(st): State<AppState>, Authed(_, a): Authed) -> AppResult<Json<Vec<TokenInfo>>> {
    Ok(Json(st.store.tokens(Some(a.user.id)).await?))
}

/// Creates a token for the caller; the secret is in the response, once.
#[utoipa::path(post, path = "/api/v1/me/tokens", request_body = TokenCreate, responses((status = 201, body = CreatedToken), (status = 422, body = ApiError)))]
async fn create_my_token(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(b): ApiJson<TokenCreate>,
) -> AppResult<Response> {
    let t = svc::create_token(&st, &ctx, &a, &b).await?;
    Ok((axum::http::StatusCode::CREATED, Json(t)).into_response())
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", params(("id" = TokenId, Path)), responses((status = 204), (status = 404, body = ApiError)))]
async fn revoke_my_token(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<TokenId>,
) -> AppResult<Response> {
    let t = st.store.token(id).await.map_err(|_| AppError::not_found("token"))?;
    if t.user_id != a.user.id {
        return Err(AppError::not_found("token"));
    }
    svc::revoke_token(&st, &ctx, Some(&a), id).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALLOWED: [ErrorCode; 3] = [ErrorCode::MalformedJson, ErrorCode::UnknownField, ErrorCode::InvalidField];

    proptest! {
        // Any bytes: a value or one of the three input codes, never a panic.
        #[test]
        fn json_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Err(e) = parse_json::<PersonInput>(&bytes) {
                prop_assert!(ALLOWED.contains(&e.code), "{e}");
            }
            let _ = parse_json::<UserInput>(&bytes);
        }

        // Structured JSON with random keys and values exercises the field paths.
        #[test]
        fn json_objects_name_their_field(key in "[a-z_]{1,12}", val in prop_oneof![Just("1".to_owned()), Just("\"x\"".to_owned()), Just("null".to_owned()), Just("[]".to_owned())]) {
            let body = format!("{{\"{key}\": {val}}}");
            match parse_json::<SiteInput>(body.as_bytes()) {
                Ok(_) => prop_assert!(false, "incomplete site accepted: {body}"),
                Err(e) => {
                    prop_assert!(ALLOWED.contains(&e.code));
                    prop_assert!(e.field.is_some(), "no field named for {body}: {e}");
                }
            }
        }

        #[test]
        fn config_parser_never_panics(text in "\\PC{0,200}") {
            let _ = crate::Config::from_toml(&text, "prop.toml");
        }
    }

    #[test]
    fn unknown_and_nested_fields_are_named() {
        let e = parse_json::<UserInput>(
            br#"{"username":"a","display_name":"b","password":"c","grants":[{"role":"hr","scope":"global","x":1}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownField);
        assert_eq!(e.field.as_deref(), Some("grants[0].x"));
        let e = parse_json::<UserInput>(
            br#"{"username":"a","display_name":"b","password":"c","grants":[{"role":"boss","scope":"global"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidField);
        assert_eq!(e.field.as_deref(), Some("grants[0].role"));
        let e = parse_json::<UserInput>(br#"{"username":"a""#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson);
    }
}
