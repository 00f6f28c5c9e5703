//! `/api/v1/ledger/…`: checkpoints, entries, proofs, verification. Readable by
//! `auditor` and `security_officer` only (actions `ledger.view`, `ledger.verify`).

use crate::api::{audit_filter, ApiPath, ApiQuery, AuditQuery};
use crate::audit::Outcome;
use crate::ctx::Authed;
use crate::error::{AppError, AppResult};
use crate::ledger::{self as led, VerifyJob};
use crate::routes::{Access, Routes};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use bposhield_core::Action;
use bposhield_proto::{ApiError, AuditEvent, ErrorCode, Page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn routes(r: Routes) -> Routes {
    use Access::Signed;
    r.get("/api/v1/ledger/checkpoint", Signed(Action::LedgerView), latest_checkpoint)
        .get("/api/v1/ledger/checkpoints", Signed(Action::LedgerView), list_checkpoints)
        .get("/api/v1/ledger/entries", Signed(Action::LedgerView), list_entries)
        .get("/api/v1/ledger/entries/{index}", Signed(Action::LedgerView), get_entry)
        .get("/api/v1/ledger/proofs/inclusion", Signed(Action::LedgerView), inclusion)
        .get("/api/v1/ledger/proofs/consistency", Signed(Action::LedgerView), consistency)
        .get("/api/v1/ledger/verify", Signed(Action::LedgerView), verify_status)
        .post("/api/v1/ledger/verify", Signed(Action::LedgerVerify), verify_start)
}

/// The ledger part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        latest_checkpoint,
        list_checkpoints,
        list_entries,
        get_entry,
        inclusion,
        consistency,
        verify_status,
        verify_start
    ),
    components(schemas(CheckpointView, EntryView, ProofView, ConsistencyView, VerifyJob, led::VerifyReport))
)]
pub struct LedgerApi;

pub(crate) fn b64(h: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// A signed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckpointView {
    pub size: u64,
    /// Tree head, standard base64.
    pub root: String,
    /// The C2SP signed note (tlog-checkpoint body and Ed25519 signature line).
    pub note: String,
    /// Unix seconds.
    pub published_at: i64,
    /// The key that verifies the note (`name+keyid+base64`).
    pub verifier_key: String,
}

fn checkpoint_view(st: &AppState, c: bposhield_store::StoredCheckpoint) -> CheckpointView {
    CheckpointView {
        size: c.size,
        root: b64(&c.root),
        note: c.note,
        published_at: c.published_at,
        verifier_key: st.checkpointer.verifier().to_string(),
    }
}

/// The latest signed checkpoint.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", responses((status = 200, body = CheckpointView), (status = 404, body = ApiError)))]
async fn latest_checkpoint(State(st): State<AppState>) -> AppResult<Json<CheckpointView>> {
    let c =
        st.store.ledger_checkpoints(1).await?.into_iter().next().ok_or_else(|| AppError::not_found("checkpoint"))?;
    Ok(Json(checkpoint_view(&st, c)))
}

/// History query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<u32>,
}

/// Checkpoint history, newest first.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoints", params(HistoryQuery), responses((status = 200, body = Vec<CheckpointView>)))]
async fn list_checkpoints(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> AppResult<Json<Vec<CheckpointView>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::field(ErrorCode::InvalidQuery, "limit", "must be between 1 and 500"));
    }
    let all = st.store.ledger_checkpoints(limit).await?;
    Ok(Json(all.into_iter().map(|c| checkpoint_view(&st, c)).collect()))
}

/// Ledger entries by filter (actor, action prefix, object, outcome, time), newest first;
/// each event carries its `ledger_index`.
#[utoipa::path(get, path = "/api/v1/ledger/entries", params(AuditQuery), responses((status = 200, body = Page<AuditEvent>)))]
async fn list_entries(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Json<Page<AuditEvent>>> {
    let f = audit_filter(&q)?;
    let (items, total) = st.store.audit_events(&f).await?;
    Ok(Json(Page { items, total, limit: f.limit, offset: f.offset }))
}

/// One entry: the exact bytes hashed into the log, its leaf hash, and the audit event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    pub index: u64,
    /// Canonical JSON; the leaf hash is SHA-256(0x00 ‖ these bytes).
    pub entry: String,
    /// Standard base64.
    pub leaf_hash: String,
    pub event: AuditEvent,
}

/// The entry at `index`.
#[utoipa::path(get, path = "/api/v1/ledger/entries/{index}", params(("index" = u64, Path)), responses((status = 200, body = EntryView), (status = 404, body = ApiError)))]
async fn get_entry(State(st): State<AppState>, ApiPath(index): ApiPath<u64>) -> AppResult<Json<EntryView>> {
    Ok(Json(entry_view(&st, index).await?))
}

pub(crate) async fn entry_view(st: &AppState, index: u64) -> AppResult<EntryView> {
    let (_, entry) = st
        .store
        .ledger_entries(index, index.saturating_add(1))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("ledger entry"))?;
    let event = st.store.audit_event_at(index).await?;
    let leaf = bposhield_ledger::tree::leaf_hash(entry.as_bytes());
    Ok(EntryView { index, entry, leaf_hash: b64(&leaf), event })
}

/// Inclusion proof request.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    pub index: u64,
    /// Tree size; default the current size.
    pub size: Option<u64>,
}

/// An inclusion proof (RFC 9162 §2.1.3), hashes in standard base64, leaf upwards.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProofView {
    pub index: u64,
    pub size: u64,
    pub leaf_hash: String,
    /// The tree head of `size` the proof leads to.
    pub root: String,
    pub hashes: Vec<String>,
}

/// The inclusion proof of an entry.
#[utoipa::path(get, path = "/api/v1/ledger/proofs/inclusion", params(InclusionQuery), responses((status = 200, body = ProofView), (status = 422, body = ApiError)))]
async fn inclusion(State(st): State<AppState>, ApiQuery(q): ApiQuery<InclusionQuery>) -> AppResult<Json<ProofView>> {
    Ok(Json(proof_view(&st, q.index, q.size).await?))
}

pub(crate) async fn proof_view(st: &AppState, index: u64, size: Option<u64>) -> AppResult<ProofView> {
    let p = led::inclusion_proof(&st.store, index, size).await?;
    let leaf = st.store.ledger_leaf(index).await?;
    let root = st.store.ledger_root(p.size).await?;
    Ok(ProofView {
        index,
        size: p.size,
        leaf_hash: b64(&leaf),
        root: b64(&root),
        hashes: p.hashes.iter().map(|h| b64(h)).collect(),
    })
}

/// Consistency proof request.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    pub from: u64,
    pub to: u64,
}

/// A consistency proof (RFC 9162 §2.1.4).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyView {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub hashes: Vec<String>,
}

/// The consistency proof between two tree sizes.
#[utoipa::path(get, path = "/api/v1/ledger/proofs/consistency", params(ConsistencyQuery), responses((status = 200, body = ConsistencyView), (status = 422, body = ApiError)))]
async fn consistency(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> AppResult<Json<ConsistencyView>> {
    let p = led::consistency_proof(&st.store, q.from, q.to).await?;
    Ok(Json(ConsistencyView {
        from: p.from,
        to: p.to,
        from_root: b64(&st.store.ledger_root(p.from).await?),
        to_root: b64(&st.store.ledger_root(p.to).await?),
        hashes: p.hashes.iter().map(|h| b64(h)).collect(),
    }))
}

/// The state of the full verification on this replica (404 before the first run).
#[utoipa::path(get, path = "/api/v1/ledger/verify", responses((status = 200, body = VerifyJob), (status = 404, body = ApiError)))]
async fn verify_status(State(st): State<AppState>) -> AppResult<Json<VerifyJob>> {
    st.verify_runner.status().map(Json).ok_or_else(|| AppError::not_found("verification run"))
}

/// Starts a full verification of the log in the background; poll `GET` for progress.
#[utoipa::path(post, path = "/api/v1/ledger/verify", responses((status = 202, body = VerifyJob), (status = 409, body = ApiError)))]
async fn verify_start(State(st): State<AppState>, Authed(ctx, _): Authed) -> AppResult<Response> {
    start_verification(&st, &ctx).await?;
    let job = st.verify_runner.status().ok_or_else(|| AppError::internal("verification state missing"))?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

pub(crate) async fn start_verification(st: &AppState, ctx: &crate::ctx::Ctx) -> AppResult<()> {
    if !st.verify_runner.start(st.store.clone(), st.checkpointer.verifier().clone(), st.clock.now()) {
        return Err(AppError::new(ErrorCode::LedgerVerifyRunning, "a verification is already running"));
    }
    st.audit(ctx, "ledger.verify", "ledger", Outcome::Success, serde_json::json!({})).await
}
