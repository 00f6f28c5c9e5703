//! `/api/v1/fleet/*`: the fleet for users. Security, IT, audit, process heads and team
//! managers see hosts in their scope; security and IT run tokens, policies and settings
//! and decide exceptions; managers ask for exceptions.

use super::{
    create_policy, create_token, decide_exception, exception, host_detail, host_scope, list_exceptions, list_tokens,
    offline_code, policy, put_settings, request_exception, retire_host, revoke_token, set_assignments, update_policy,
    Decide, MAX_POLICY_BYTES,
};
use crate::api::{parse_json, ApiJson, ApiPath, ApiQuery};
use crate::ctx::Authed;
use crate::error::{AppError, AppResult};
use crate::routes::{Access, Routes};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bposhield_core::Action;
use bposhield_proto::fleet::{
    AssignmentsInput, CreatedEnrollToken, DeviceEventRow, EnrollToken, EnrollTokenInput, ExceptionDecisionInput,
    ExceptionRequestInput, FleetException, FleetPolicy, FleetScope, HostDetail, HostScore, HostSummary, OfflineCode,
    OfflineCodeInput, PolicyInput, PolicyResult, ScopeSettings, ScorePoint,
};
use bposhield_proto::{ApiError, EnrollTokenId, ErrorCode, ExceptionId, HostId, Page, PolicyId, ProcessId, SiteId};
use bposhield_store::fleet::{DeviceEventFilter, HostFilter};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

/// Routes of the fleet's admin API.
pub fn routes(r: Routes) -> Routes {
    use Access::Signed;
    use Action::{FleetAdmin, FleetExceptionApprove, FleetExceptionRequest, FleetView};
    r.get("/api/v1/fleet/tokens", Signed(FleetAdmin), tokens)
        .post("/api/v1/fleet/tokens", Signed(FleetAdmin), new_token)
        .delete("/api/v1/fleet/tokens/{id}", Signed(FleetAdmin), del_token)
        .get("/api/v1/fleet/hosts", Signed(FleetView), hosts)
        .get("/api/v1/fleet/hosts/{id}", Signed(FleetView), host)
        .post("/api/v1/fleet/hosts/{id}/retire", Signed(FleetAdmin), retire)
        .get("/api/v1/fleet/events", Signed(FleetView), events)
        .get("/api/v1/fleet/policies", Signed(FleetView), policies)
        .post("/api/v1/fleet/policies", Signed(FleetAdmin), new_policy)
        .get("/api/v1/fleet/policies/{id}", Signed(FleetView), get_policy)
        .put("/api/v1/fleet/policies/{id}", Signed(FleetAdmin), put_policy)
        .put("/api/v1/fleet/policies/{id}/assignments", Signed(FleetAdmin), put_assignments)
        .get("/api/v1/fleet/settings", Signed(FleetView), settings)
        .put("/api/v1/fleet/settings", Signed(FleetAdmin), put_setting)
        .get("/api/v1/fleet/exceptions", Signed(FleetView), exceptions)
        .post("/api/v1/fleet/exceptions", Signed(FleetExceptionRequest), new_exception)
        .get("/api/v1/fleet/exceptions/{id}", Signed(FleetView), get_exception)
        .post("/api/v1/fleet/exceptions/{id}/approve", Signed(FleetExceptionApprove), approve)
        .post("/api/v1/fleet/exceptions/{id}/reject", Signed(FleetExceptionApprove), reject)
        .post("/api/v1/fleet/exceptions/{id}/revoke", Signed(FleetExceptionApprove), revoke)
        .post("/api/v1/fleet/offline-codes", Signed(FleetExceptionApprove), new_offline_code)
}

/// The module's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        tokens,
        new_token,
        del_token,
        hosts,
        host,
        retire,
        events,
        policies,
        new_policy,
        get_policy,
        put_policy,
        put_assignments,
        settings,
        put_setting,
        exceptions,
        new_exception,
        get_exception,
        approve,
        reject,
        revoke,
        new_offline_code
    ),
    components(schemas(
        EnrollTokenInput,
        EnrollToken,
        CreatedEnrollToken,
        HostSummary,
        HostScore,
        HostDetail,
        PolicyResult,
        ScorePoint,
        DeviceEventRow,
        FleetPolicy,
        FleetScope,
        PolicyInput,
        AssignmentsInput,
        ScopeSettings,
        FleetException,
        ExceptionRequestInput,
        ExceptionDecisionInput,
        OfflineCodeInput,
        OfflineCode,
        ApiError
    ))
)]
pub struct FleetApi;

/// Enrollment tokens of the sites and processes the caller administers (never their
/// secrets).
#[utoipa::path(get, path = "/api/v1/fleet/tokens", tag = "fleet", responses((status = 200, body = [EnrollToken])))]
async fn tokens(State(st): State<AppState>, Authed(_ctx, a): Authed) -> AppResult<Response> {
    Ok(Json(list_tokens(&st, &a).await?).into_response())
}

/// Creates an enrollment token for a site (and optionally a process unit): `max_uses`
/// hosts may enroll with it until it expires. The secret (`bpe_…`) is shown once.
#[utoipa::path(post, path = "/api/v1/fleet/tokens", tag = "fleet", request_body = EnrollTokenInput,
    responses((status = 201, body = CreatedEnrollToken), (status = 422, body = ApiError)))]
async fn new_token(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(input): ApiJson<EnrollTokenInput>,
) -> AppResult<Response> {
    Ok((StatusCode::CREATED, Json(create_token(&st, &ctx, &a, &input).await?)).into_response())
}

/// Revokes an enrollment token.
#[utoipa::path(delete, path = "/api/v1/fleet/tokens/{id}", tag = "fleet", params(("id" = EnrollTokenId, Path)),
    responses((status = 200, body = EnrollToken), (status = 404, body = ApiError)))]
async fn del_token(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<EnrollTokenId>,
) -> AppResult<Response> {
    Ok(Json(revoke_token(&st, &ctx, &a, id).await?).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HostsQuery {
    pub site_id: Option<SiteId>,
    pub process_id: Option<ProcessId>,
    /// Part of the hostname.
    pub q: Option<String>,
    /// Retired hosts too.
    pub include_retired: Option<bool>,
    /// At most this many (1-1000, default 200).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Hosts in the caller's scope by hostname: where they sit, agent and policy version,
/// last seen, USB enforcement, queue depth, pending updates, latest score per baseline.
#[utoipa::path(get, path = "/api/v1/fleet/hosts", tag = "fleet", params(HostsQuery),
    responses((status = 200, body = Page<HostSummary>), (status = 400, body = ApiError)))]
async fn hosts(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiQuery(q): ApiQuery<HostsQuery>,
) -> AppResult<Response> {
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let offset = q.offset.unwrap_or(0);
    let filter = HostFilter {
        scope: host_scope(&st, &a.actor, Action::FleetView).await?,
        site_id: q.site_id,
        process_id: q.process_id,
        q: q.q.map(|t| t.trim().to_owned()),
        include_retired: q.include_retired.unwrap_or(false),
        limit,
        offset,
    };
    let (items, total) = st.store.fleet_hosts(&filter).await?;
    Ok(Json(Page { items, total, limit, offset: u64::from(offset) }).into_response())
}

/// One host: facts, compliance per baseline with every check's result and reason,
/// score history, device events, exceptions.
#[utoipa::path(get, path = "/api/v1/fleet/hosts/{id}", tag = "fleet", params(("id" = HostId, Path)),
    responses((status = 200, body = HostDetail), (status = 404, body = ApiError)))]
async fn host(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiPath(id): ApiPath<HostId>,
) -> AppResult<Response> {
    Ok(Json(host_detail(&st, &a, id).await?).into_response())
}

/// Retires a host (a replaced or stolen machine): its credential stops working at once;
/// its history stays. Enrolling the machine again brings it back.
#[utoipa::path(post, path = "/api/v1/fleet/hosts/{id}/retire", tag = "fleet", params(("id" = HostId, Path)),
    responses((status = 200, body = HostSummary), (status = 404, body = ApiError)))]
async fn retire(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<HostId>,
) -> AppResult<Response> {
    Ok(Json(retire_host(&st, &ctx, &a, id).await?).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub host_id: Option<HostId>,
    pub process_id: Option<ProcessId>,
    /// `allowed`, `blocked`, `partial` or `removed`.
    pub decision: Option<String>,
    /// Unix seconds.
    pub since: Option<i64>,
    /// At most this many (1-1000, default 200).
    pub limit: Option<u32>,
}

/// Device events of hosts in the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/fleet/events", tag = "fleet", params(EventsQuery),
    responses((status = 200, body = [DeviceEventRow]), (status = 400, body = ApiError)))]
async fn events(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> AppResult<Response> {
    if q.decision.as_deref().is_some_and(|d| !super::DECISIONS.contains(&d)) {
        return Err(AppError::field(ErrorCode::InvalidQuery, "decision", "allowed, blocked, partial or removed"));
    }
    let filter = DeviceEventFilter {
        scope: host_scope(&st, &a.actor, Action::FleetView).await?,
        host_id: q.host_id,
        process_id: q.process_id,
        decision: q.decision,
        since: q.since,
        limit: q.limit.unwrap_or(200).clamp(1, 1000),
    };
    Ok(Json(st.store.fleet_device_events(&filter).await?).into_response())
}

/// Every policy (USB rule sets and SCA baselines) with where it applies.
#[utoipa::path(get, path = "/api/v1/fleet/policies", tag = "fleet", responses((status = 200, body = [FleetPolicy])))]
async fn policies(State(st): State<AppState>) -> AppResult<Response> {
    Ok(Json(st.store.fleet_policies().await?).into_response())
}

/// A policy body may be larger than the platform's default body limit.
async fn policy_body(body: axum::body::Body) -> AppResult<PolicyInput> {
    let limit = MAX_POLICY_BYTES + 64 * 1024;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| AppError::new(ErrorCode::BodyTooLarge, format!("a policy over {MAX_POLICY_BYTES} bytes")))?;
    parse_json(&bytes)
}

/// Creates a policy, checked with the agents' own parsers (USBGuard rules, Wazuh SCA
/// YAML): a text that does not parse is refused with `BPS-FLT-0003` and its lines.
/// Assign it to take effect.
#[utoipa::path(post, path = "/api/v1/fleet/policies", tag = "fleet", request_body = PolicyInput,
    responses((status = 201, body = FleetPolicy), (status = 400, body = ApiError, description = "BPS-FLT-0003"),
        (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn new_policy(State(st): State<AppState>, Authed(ctx, a): Authed, body: axum::body::Body) -> AppResult<Response> {
    let input = policy_body(body).await?;
    Ok((StatusCode::CREATED, Json(create_policy(&st, &ctx, &a, &input).await?)).into_response())
}

/// One policy.
#[utoipa::path(get, path = "/api/v1/fleet/policies/{id}", tag = "fleet", params(("id" = PolicyId, Path)),
    responses((status = 200, body = FleetPolicy), (status = 404, body = ApiError)))]
async fn get_policy(State(st): State<AppState>, ApiPath(id): ApiPath<PolicyId>) -> AppResult<Response> {
    Ok(Json(policy(&st, id).await?).into_response())
}

/// Changes a policy's name and text (same checks as creation). Every host it applies
/// to gets a new bundle version.
#[utoipa::path(put, path = "/api/v1/fleet/policies/{id}", tag = "fleet", params(("id" = PolicyId, Path)),
    request_body = PolicyInput,
    responses((status = 200, body = FleetPolicy), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
async fn put_policy(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PolicyId>,
    body: axum::body::Body,
) -> AppResult<Response> {
    let input = policy_body(body).await?;
    Ok(Json(update_policy(&st, &ctx, &a, id, &input).await?).into_response())
}

/// Sets where a policy applies (`global`, `site:<id>`, `process:<id>`, `host:<id>`),
/// replacing the previous scopes.
#[utoipa::path(put, path = "/api/v1/fleet/policies/{id}/assignments", tag = "fleet", params(("id" = PolicyId, Path)),
    request_body = AssignmentsInput,
    responses((status = 200, body = FleetPolicy), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn put_assignments(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<PolicyId>,
    ApiJson(input): ApiJson<AssignmentsInput>,
) -> AppResult<Response> {
    Ok(Json(set_assignments(&st, &ctx, &a, id, &input.scopes).await?).into_response())
}

/// Settings set at any scope (unset values inherit from the scope above, then the
/// server's configuration).
#[utoipa::path(get, path = "/api/v1/fleet/settings", tag = "fleet", responses((status = 200, body = [ScopeSettings])))]
async fn settings(State(st): State<AppState>) -> AppResult<Response> {
    Ok(Json(st.store.fleet_settings().await?).into_response())
}

/// Sets one scope's settings: USB enforcement on/off, scan and heartbeat intervals.
#[utoipa::path(put, path = "/api/v1/fleet/settings", tag = "fleet", request_body = ScopeSettings,
    responses((status = 200, body = ScopeSettings), (status = 422, body = ApiError)))]
async fn put_setting(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(input): ApiJson<ScopeSettings>,
) -> AppResult<Response> {
    Ok(Json(put_settings(&st, &ctx, &a, &input).await?).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsQuery {
    /// At most this many (1-1000, default 200).
    pub limit: Option<u32>,
}

/// USB exceptions of hosts in the caller's scope, newest request first.
#[utoipa::path(get, path = "/api/v1/fleet/exceptions", tag = "fleet", params(ExceptionsQuery),
    responses((status = 200, body = [FleetException])))]
async fn exceptions(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiQuery(q): ApiQuery<ExceptionsQuery>,
) -> AppResult<Response> {
    Ok(Json(list_exceptions(&st, &a, q.limit.unwrap_or(200).clamp(1, 1000)).await?).into_response())
}

/// Asks for a time-bound exception (1-168 hours from approval) for one device on one
/// host. Security or IT decide; never the requester.
#[utoipa::path(post, path = "/api/v1/fleet/exceptions", tag = "fleet", request_body = ExceptionRequestInput,
    responses((status = 201, body = FleetException), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn new_exception(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(input): ApiJson<ExceptionRequestInput>,
) -> AppResult<Response> {
    Ok((StatusCode::CREATED, Json(request_exception(&st, &ctx, &a, &input).await?)).into_response())
}

/// One exception.
#[utoipa::path(get, path = "/api/v1/fleet/exceptions/{id}", tag = "fleet", params(("id" = ExceptionId, Path)),
    responses((status = 200, body = FleetException), (status = 404, body = ApiError)))]
async fn get_exception(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiPath(id): ApiPath<ExceptionId>,
) -> AppResult<Response> {
    Ok(Json(exception(&st, &a, id).await?).into_response())
}

async fn decide(
    st: &AppState,
    ctx: &crate::ctx::Ctx,
    a: &crate::ctx::Auth,
    id: ExceptionId,
    body: &[u8],
    what: Decide,
) -> AppResult<Response> {
    // The note is optional for approvals: an empty body is an empty decision.
    let input: ExceptionDecisionInput =
        if body.iter().all(u8::is_ascii_whitespace) { ExceptionDecisionInput::default() } else { parse_json(body)? };
    Ok(Json(decide_exception(st, ctx, a, id, what, input.note.as_deref()).await?).into_response())
}

/// Approves a requested exception: it starts now, lasts its hours and goes into the
/// host's bundle. Refused (`BPS-FLT-0004`) to its requester.
#[utoipa::path(post, path = "/api/v1/fleet/exceptions/{id}/approve", tag = "fleet", params(("id" = ExceptionId, Path)),
    request_body = ExceptionDecisionInput,
    responses((status = 200, body = FleetException), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
async fn approve(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ExceptionId>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    decide(&st, &ctx, &a, id, &body, Decide::Approve).await
}

/// Rejects a requested exception, with a note saying why.
#[utoipa::path(post, path = "/api/v1/fleet/exceptions/{id}/reject", tag = "fleet", params(("id" = ExceptionId, Path)),
    request_body = ExceptionDecisionInput,
    responses((status = 200, body = FleetException), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
async fn reject(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ExceptionId>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    decide(&st, &ctx, &a, id, &body, Decide::Reject).await
}

/// Ends an approved exception before its time: it leaves the host's bundle.
#[utoipa::path(post, path = "/api/v1/fleet/exceptions/{id}/revoke", tag = "fleet", params(("id" = ExceptionId, Path)),
    request_body = ExceptionDecisionInput,
    responses((status = 200, body = FleetException), (status = 409, body = ApiError)))]
async fn revoke(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ExceptionId>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    decide(&st, &ctx, &a, id, &body, Decide::Revoke).await
}

/// Answers an offline challenge read out from a host's screen: the host is found by
/// the challenge's host tag; the response code allows that one device there for the
/// hours given. The reason goes to the ledger; the code is not stored.
#[utoipa::path(post, path = "/api/v1/fleet/offline-codes", tag = "fleet", request_body = OfflineCodeInput,
    responses((status = 201, body = OfflineCode), (status = 404, body = ApiError), (status = 409, body = ApiError),
        (status = 422, body = ApiError)))]
async fn new_offline_code(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiJson(input): ApiJson<OfflineCodeInput>,
) -> AppResult<Response> {
    Ok((StatusCode::CREATED, Json(offline_code(&st, &ctx, &a, &input).await?)).into_response())
}
