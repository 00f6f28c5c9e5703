//! `/api/v1/agent/*`: what `bposhield-agent` calls. Enrollment takes a one-time token
//! in the body; everything else the host credential (`Authorization: Bearer bpa_…`),
//! never a user's session or token (those get 403 from the same `authorize`).

use super::{enroll, ingest, rotate, signed_bundle};
use crate::api::{parse_json, ApiJson};
use crate::ctx::{Ctx, HostAuthed};
use crate::error::{AppError, AppResult};
use crate::routes::{Access, Routes};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bposhield_core::Action;
use bposhield_proto::fleet::{
    AgentBatch, AgentEvent, AgentEventBody, AgentHealth, BatchAck, Bundle, BundleException, BundlePolicy, CheckResult,
    DeviceEvent, EnrollRequest, EnrollResponse, HostFacts, RotateResponse, ScanReport, SignedBundle,
};
use bposhield_proto::{ApiError, ErrorCode};
use utoipa::OpenApi;

/// Routes of the agent API.
pub fn routes(r: Routes) -> Routes {
    r.post("/api/v1/agent/enroll", Access::Public, enroll_route)
        .post("/api/v1/agent/rotate", Access::Host(Action::FleetReport), rotate_route)
        .get("/api/v1/agent/bundle", Access::Host(Action::FleetReport), bundle_route)
        .post("/api/v1/agent/events", Access::Host(Action::FleetReport), events_route)
}

/// The agent API's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(enroll_route, rotate_route, bundle_route, events_route),
    components(schemas(
        EnrollRequest,
        EnrollResponse,
        RotateResponse,
        SignedBundle,
        Bundle,
        BundlePolicy,
        BundleException,
        AgentBatch,
        AgentHealth,
        AgentEvent,
        AgentEventBody,
        DeviceEvent,
        ScanReport,
        CheckResult,
        HostFacts,
        BatchAck,
        ApiError
    ))
)]
pub struct AgentApi;

/// Enrolls a host with a one-time enrollment token (`bpe_…`, from an admin). Answers
/// the host's id, its own credential (`bpa_…`), its offline key and the server's
/// bundle-signing key, each shown this once. A machine enrolled before (same
/// `machine_id`) keeps its host id; its old credential stops working.
#[utoipa::path(post, path = "/api/v1/agent/enroll", request_body = EnrollRequest, tag = "agent",
    responses((status = 201, body = EnrollResponse), (status = 401, body = ApiError, description = "BPS-FLT-0001"),
        (status = 422, body = ApiError)))]
async fn enroll_route(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> AppResult<Response> {
    let r = enroll(&st, &ctx, &req).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

/// A fresh credential for the calling host. The current one keeps working until the
/// new one is first used, so a lost answer never locks the host out.
#[utoipa::path(post, path = "/api/v1/agent/rotate", tag = "agent",
    responses((status = 200, body = RotateResponse), (status = 401, body = ApiError)))]
async fn rotate_route(State(st): State<AppState>, HostAuthed(ctx, host): HostAuthed) -> AppResult<Response> {
    Ok(Json(rotate(&st, &ctx, &host).await?).into_response())
}

/// The calling host's policy bundle, signed with the server's Ed25519 key: USB rules
/// (most specific scope first), SCA baselines, approved exceptions, settings.
#[utoipa::path(get, path = "/api/v1/agent/bundle", tag = "agent",
    responses((status = 200, body = SignedBundle), (status = 401, body = ApiError)))]
async fn bundle_route(State(st): State<AppState>, HostAuthed(_ctx, host): HostAuthed) -> AppResult<Response> {
    Ok(Json(signed_bundle(&st, &host.host).await?).into_response())
}

/// A batch from the agent's queue: its health, device events, scan reports and facts.
/// Idempotent on each event's `seq`: a batch sent again is stored once. Answers the
/// host's current bundle version, so the agent knows when to pull.
#[utoipa::path(post, path = "/api/v1/agent/events", request_body = AgentBatch, tag = "agent",
    responses((status = 200, body = BatchAck), (status = 401, body = ApiError), (status = 413, body = ApiError),
        (status = 422, body = ApiError)))]
async fn events_route(
    State(st): State<AppState>,
    HostAuthed(ctx, host): HostAuthed,
    body: axum::body::Body,
) -> AppResult<Response> {
    // Batches are larger than the platform's default body limit: read with the fleet's.
    let limit = st.config.fleet.max_batch_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        AppError::new(ErrorCode::BodyTooLarge, format!("a batch over {limit} bytes; send smaller ones"))
    })?;
    // The plain parser first (fast); only a refused batch is parsed again for an error
    // that names the field.
    let batch: AgentBatch = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(_) => parse_json(&bytes)?,
    };
    let ack: BatchAck = ingest(&st, &ctx, &host, &batch).await?;
    Ok(Json(ack).into_response())
}
