//! The auditor's pages: the latest signed checkpoint, its history, entry search, one
//! entry with its inclusion proof (checked by the server and again by the browser),
//! and "verify the whole log" as a background job with progress.

use super::api::{b64, entry_view, proof_view, start_verification};
use crate::api::ApiPath;
use crate::ctx::Authed;
use crate::error::AppResult;
use crate::routes::{Access, Routes};
use crate::web::view::{link, page, see_other, time, FormData, Layout, QueryData};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bposhield_core::Action;

pub fn routes(r: Routes) -> Routes {
    use Access::Signed;
    r.get("/ledger", Signed(Action::LedgerView), overview)
        .get("/ledger/entries/{index}", Signed(Action::LedgerView), entry)
        .post("/ledger/verify", Signed(Action::LedgerVerify), verify)
        .get("/ledger/verify/status", Signed(Action::LedgerView), verify_status)
}

struct CheckpointRow {
    size: u64,
    root: String,
    at: String,
}

struct EntryRow {
    index: String,
    at: String,
    actor: String,
    action: String,
    object: String,
    outcome: String,
}

#[derive(Template)]
#[template(path = "ledger.html")]
struct LedgerPage {
    l: Layout,
    verifier: String,
    size: u64,
    latest_note: Option<String>,
    latest_at: String,
    history: Vec<CheckpointRow>,
    actor: String,
    action: String,
    object: String,
    entries: Vec<EntryRow>,
    searched: bool,
    status: VerifyStatus,
}

/// `GET /ledger?actor=&action=&object=`.
async fn overview(State(st): State<AppState>, Authed(ctx, _): Authed, q: QueryData) -> AppResult<Response> {
    let size = st.store.ledger_size().await?;
    let cps = st.store.ledger_checkpoints(20).await?;
    let (actor, action, object) =
        (q.get("actor").trim().to_owned(), q.get("action").trim().to_owned(), q.get("object").trim().to_owned());
    let searched = !(actor.is_empty() && action.is_empty() && object.is_empty());
    let filter = bposhield_store::AuditFilter {
        actor: Some(actor.clone()).filter(|x| !x.is_empty()),
        action: Some(action.clone()).filter(|x| !x.is_empty()),
        object: Some(object.clone()).filter(|x| !x.is_empty()),
        limit: 50,
        ..Default::default()
    };
    let (events, _) = st.store.audit_events(&filter).await?;
    let entries = events
        .into_iter()
        .map(|e| EntryRow {
            index: e.ledger_index.map(|i| i.to_string()).unwrap_or_default(),
            at: time(e.at),
            actor: e.actor,
            action: e.action,
            object: e.object,
            outcome: e.outcome,
        })
        .collect();
    page(&LedgerPage {
        l: Layout::new(&ctx, "Ledger"),
        verifier: st.checkpointer.verifier().to_string(),
        size,
        latest_note: cps.first().map(|c| c.note.clone()),
        latest_at: cps.first().map(|c| time(c.published_at)).unwrap_or_default(),
        history: cps
            .iter()
            .map(|c| CheckpointRow { size: c.size, root: b64(&c.root), at: time(c.published_at) })
            .collect(),
        actor,
        action,
        object,
        entries,
        searched,
        status: VerifyStatus::of(&st),
    })
}

#[derive(Template)]
#[template(path = "ledger_entry.html")]
struct EntryPage {
    l: Layout,
    index: u64,
    entry: String,
    leaf_hash: String,
    size: u64,
    root: String,
    hashes: Vec<String>,
    /// The signed checkpoint the proof leads to, when one covers the entry.
    checkpoint_note: Option<String>,
    server_verified: bool,
}

/// `GET /ledger/entries/{index}`: the entry and its inclusion proof in the latest
/// checkpoint that covers it (or the current head when none does yet).
async fn entry(
    State(st): State<AppState>,
    Authed(ctx, _): Authed,
    ApiPath(index): ApiPath<u64>,
) -> AppResult<Response> {
    let e = entry_view(&st, index).await?;
    let latest = st.store.ledger_checkpoints(1).await?.into_iter().next().filter(|c| c.size > index);
    let proof = proof_view(&st, index, latest.as_ref().map(|c| c.size)).await?;
    let server_verified = {
        let leaf = bposhield_ledger::tree::leaf_hash(e.entry.as_bytes());
        let hashes: Vec<bposhield_ledger::Hash> = proof.hashes.iter().filter_map(|h| decode32(h)).collect();
        let root = latest.as_ref().map(|c| c.root).or_else(|| decode32(&proof.root));
        hashes.len() == proof.hashes.len()
            && root.is_some_and(|r| {
                bposhield_ledger::tree::verify_inclusion(&leaf, index, proof.size, &hashes, &r).is_ok()
            })
    };
    page(&EntryPage {
        l: Layout::new(&ctx, format!("Ledger entry {index}")),
        index,
        entry: e.entry,
        leaf_hash: e.leaf_hash,
        size: proof.size,
        root: proof.root,
        hashes: proof.hashes,
        checkpoint_note: latest.map(|c| c.note),
        server_verified,
    })
}

fn decode32(s: &str) -> Option<bposhield_ledger::Hash> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()?.try_into().ok()
}

/// `POST /ledger/verify`: starts the full verification (one at a time).
async fn verify(State(st): State<AppState>, Authed(ctx, _): Authed, _form: FormData) -> AppResult<Response> {
    // A run already in progress is not an error for the page: it shows that run.
    let _ = start_verification(&st, &ctx).await;
    Ok(see_other(&link("/ledger", &[("verify", "1".into())])))
}

/// The verification status fragment (htmx polls it while a run is in progress).
#[derive(Template)]
#[template(path = "ledger_verify.html")]
struct VerifyStatus {
    state: &'static str,
    percent: u64,
    message: String,
}

impl VerifyStatus {
    fn of(st: &AppState) -> Self {
        match st.verify_runner.status() {
            None => Self { state: "never", percent: 0, message: "Not run on this server yet.".into() },
            Some(j) => {
                let percent = j.done.saturating_mul(100).checked_div(j.total).unwrap_or(100);
                let (state, message) = if j.running {
                    ("running", format!("Verifying… {} of {} entries", j.done, j.total))
                } else if let Some(e) = j.error {
                    ("error", format!("Could not complete: {e}"))
                } else if let Some(r) = j.report {
                    match (r.problem, r.first_bad_index) {
                        (None, _) => (
                            "ok",
                            format!(
                                "Verified at {}: {} entries re-hashed, {} covered by signed checkpoints, {} after the latest.",
                                time(j.started_at),
                                r.size,
                                r.verified,
                                r.unsigned
                            ),
                        ),
                        (Some(p), Some(i)) => ("failed", format!("FAILED at entry {i}: {p}")),
                        (Some(p), None) => ("failed", format!("FAILED: {p}")),
                    }
                } else {
                    ("error", "No result.".into())
                };
                Self { state, percent, message }
            }
        }
    }
}

/// `GET /ledger/verify/status`.
async fn verify_status(State(st): State<AppState>) -> AppResult<Response> {
    let s = VerifyStatus::of(&st);
    let html = s.render().map_err(crate::AppError::internal)?;
    Ok(axum::response::Html(html).into_response())
}
