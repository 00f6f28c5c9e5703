//! `/api/v1/recordings`: ingest from the call-monitoring system, metadata and findings
//! for managers, security and audit, and the media (HTTP Range) for the recording's
//! own team manager and process head only.

use super::{
    check_media_access, ingest, mark_reviewed, process_in_scope, put_policy, set_hold, vault_error, visible,
    MAX_TEXT_BYTES,
};
use crate::api::{parse_json, ApiPath, ApiQuery};
use crate::audit::Outcome;
use crate::ctx::Authed;
use crate::error::{AppError, AppResult};
use crate::routes::{Access, Routes};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bposhield_core::authz::visibility;
use bposhield_core::{authorize, Action, Resource};
use bposhield_proto::{
    ApiError, ErrorCode, HoldInput, ProcessId, Recording, RecordingFinding, RecordingHold, RecordingId, RecordingInput,
    RetentionPolicy, RetentionReport, RetentionRow,
};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, OpenApi};

/// Routes of the module.
pub fn routes(r: Routes) -> Routes {
    use Access::Signed;
    r.get("/api/v1/recordings", Signed(Action::RecordingsView), list)
        .post("/api/v1/recordings", Signed(Action::RecordingsIngest), create)
        .get("/api/v1/recordings/{id}", Signed(Action::RecordingsView), get_one)
        .put("/api/v1/recordings/{id}/media", Signed(Action::RecordingsIngest), put_media)
        .get("/api/v1/recordings/{id}/media", Signed(Action::RecordingsPlay), get_media)
        .post("/api/v1/recordings/{id}/review", Signed(Action::RecordingsPlay), review)
        .post("/api/v1/recordings/{id}/hold", Signed(Action::RecordingsHold), hold)
        .delete("/api/v1/recordings/{id}/hold", Signed(Action::RecordingsHold), release_hold)
        .get("/api/v1/recordings/policies/{id}", Signed(Action::RecordingsView), get_policy)
        .put("/api/v1/recordings/policies/{id}", Signed(Action::RecordingsAdmin), set_policy)
        .get("/api/v1/recordings/retention-report", Signed(Action::AuditView), report)
}

/// The module's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(list, create, get_one, put_media, get_media, review, hold, release_hold, get_policy, set_policy, report),
    components(schemas(
        Recording,
        RecordingFinding,
        RecordingInput,
        RecordingHold,
        HoldInput,
        RetentionPolicy,
        RetentionReport,
        RetentionRow,
        ApiError
    ))
)]
pub struct RecordingsApi;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// At most this many (1-500, default 100).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Recordings in the caller's scope, newest first: metadata and PII types; the redacted
/// texts and findings come with `GET /api/v1/recordings/{id}`.
#[utoipa::path(get, path = "/api/v1/recordings", params(Page), responses((status = 200, body = [Recording])))]
async fn list(State(st): State<AppState>, Authed(_ctx, a): Authed, ApiQuery(p): ApiQuery<Page>) -> AppResult<Response> {
    let vis = visibility(&a.actor, Action::RecordingsView);
    let rows = st.store.recordings(&vis, p.limit.unwrap_or(100).clamp(1, 500), p.offset.unwrap_or(0)).await?;
    Ok(Json(rows).into_response())
}

/// Ingests a recording's metadata and optional transcript and screen text (scanned
/// for PII; only the redacted text is ever shown). Idempotent on `call_id`: 201 for a
/// new recording, 200 with the stored one for a repeat. Upload the media next.
#[utoipa::path(post, path = "/api/v1/recordings", request_body = RecordingInput,
    responses((status = 201, body = Recording), (status = 200, body = Recording), (status = 422, body = ApiError)))]
async fn create(State(st): State<AppState>, Authed(ctx, a): Authed, body: axum::body::Body) -> AppResult<Response> {
    let limit = 2 * MAX_TEXT_BYTES + 64 * 1024;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        AppError::new(ErrorCode::BodyTooLarge, format!("a recording's metadata and text over {limit} bytes"))
    })?;
    let input: RecordingInput = parse_json(&bytes)?;
    // The caller's scope must cover the process (and team) the recording is filed under.
    let process = match st.store.process(input.process_id).await {
        Ok(p) => p,
        Err(bposhield_store::StoreError::NotFound) => {
            return Err(AppError::field(ErrorCode::UnknownReference, "process_id", "no such process unit"))
        }
        Err(e) => return Err(e.into()),
    };
    let res = Resource::Org { site: process.site_id, process: Some(process.id), team: input.team_id };
    if let bposhield_core::Decision::Deny(why) = authorize(&a.actor, Action::RecordingsIngest, res) {
        st.audit(
            &ctx,
            "recordings.ingest",
            &format!("process:{}", process.id),
            Outcome::Denied,
            json!({ "reason": why }),
        )
        .await?;
        return Err(AppError::new(ErrorCode::Forbidden, format!("not allowed: {why}")));
    }
    let (rec, created) = ingest(&st, &ctx, input).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(rec)).into_response())
}

/// One recording: metadata, redacted transcript and screen text, PII findings (masked).
#[utoipa::path(get, path = "/api/v1/recordings/{id}", params(("id" = RecordingId, Path)),
    responses((status = 200, body = Recording), (status = 404, body = ApiError)))]
async fn get_one(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
) -> AppResult<Response> {
    Ok(Json(visible(&st, &a, id).await?.recording).into_response())
}

/// Streams the media into the vault (any size; encrypted as it arrives). A recording
/// takes media once: a second upload is refused with 409.
#[utoipa::path(put, path = "/api/v1/recordings/{id}/media", params(("id" = RecordingId, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = Recording), (status = 409, body = ApiError), (status = 415, body = ApiError)))]
async fn put_media(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> AppResult<Response> {
    let row = match st.store.recording(id).await {
        Ok(r) => r,
        Err(bposhield_store::StoreError::NotFound) => return Err(AppError::not_found("recording")),
        Err(e) => return Err(e.into()),
    };
    let r = &row.recording;
    let res = Resource::Org { site: r.site_id, process: Some(r.process_id), team: r.team_id };
    if !authorize(&a.actor, Action::RecordingsIngest, res).is_allow() {
        return Err(AppError::not_found("recording"));
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let rec = super::store_media(&st, &ctx, &row, ct, tokio_util::io::StreamReader::new(stream)).await?;
    Ok(Json(rec).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlayQuery {
    /// Why you need this recording (required; recorded in the ledger).
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MediaQuery {
    /// Why you need this recording (required; recorded in the ledger).
    pub reason: Option<String>,
    /// `true` to download the file (`Content-Disposition: attachment`) where the
    /// process's retention policy allows downloads; otherwise it streams.
    pub download: Option<bool>,
}

/// One byte range of a `Range` header: `bytes=a-b`, `bytes=a-` or `bytes=-n`.
fn parse_range(h: &str, len: u64) -> Option<std::ops::Range<u64>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        len.saturating_sub(n)..len
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() { len - 1 } else { b.parse::<u64>().ok()?.min(len - 1) };
        start..end + 1
    };
    (r.start < r.end && r.end <= len).then_some(r)
}

/// Plays the media: only the recording's own team manager or process head, with
/// `reason`. Honors one `Range` (206 with `Content-Range`), so players can seek: only
/// the segments holding the range are read and decrypted. Every request, and every
/// refusal, is in the ledger with the reason.
#[utoipa::path(get, path = "/api/v1/recordings/{id}/media", params(("id" = RecordingId, Path), MediaQuery),
    responses((status = 200, description = "the media"), (status = 206, description = "the requested range"),
        (status = 403, body = ApiError), (status = 416, body = ApiError), (status = 422, body = ApiError)))]
async fn get_media(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
    ApiQuery(q): ApiQuery<MediaQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let row = match visible(&st, &a, id).await {
        Ok(r) => r,
        Err(e) => {
            // Outside the caller's scope (or absent): refused, and the attempt recorded.
            let detail = json!({ "why": "no such recording in the caller's scope", "reason": q.reason });
            st.audit(&ctx, "recordings.play", &format!("recording:{id}"), Outcome::Denied, detail).await?;
            return Err(e);
        }
    };
    let rec = &row.recording;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let download = q.download.unwrap_or(false);
    let what = if download {
        "download"
    } else if range_header.is_some() {
        "seek"
    } else {
        "play"
    };
    let reason = check_media_access(&st, &ctx, &a, rec, what, q.reason.as_deref()).await?;
    if download && !super::policy_for(&st, rec.process_id).await?.allow_download {
        let detail =
            json!({ "why": "downloads are disabled for this process", "reason": reason, "call_id": rec.call_id });
        st.audit(&ctx, "recordings.download", &format!("recording:{id}"), Outcome::Denied, detail).await?;
        return Err(AppError::new(
            ErrorCode::RecordingDownloadDisabled,
            "this process's policy allows streaming only; ask the security officer to allow downloads",
        ));
    }
    let Some(object) = row.media_object.as_deref().and_then(|o| bposhield_vault::ObjectId::parse(o).ok()) else {
        return Err(AppError::new(ErrorCode::RecordingNoMedia, "the recording has no media (not uploaded, or purged)"));
    };
    let reader = st.vault()?.open(&object).await.map_err(|e| vault_error(&e))?;
    let len = reader.len();
    let range = match &range_header {
        None => 0..len,
        Some(h) => match parse_range(h, len) {
            Some(r) => r,
            None => {
                let e =
                    AppError::new(ErrorCode::RangeNotSatisfiable, format!("one byte range within 0-{len} is served"));
                let mut resp = e.into_response();
                if let Ok(v) = format!("bytes */{len}").parse() {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(resp);
            }
        },
    };
    st.audit(
        &ctx,
        &format!("recordings.{what}"),
        &format!("recording:{id}"),
        Outcome::Success,
        json!({ "reason": reason, "call_id": rec.call_id, "range": [range.start, range.end] }),
    )
    .await?;
    // The first piece is read now, so an integrity failure is an error answer rather
    // than a cut stream; the rest is decrypted as the client reads.
    const PIECE: u64 = 1024 * 1024;
    let first_end = range.end.min(range.start + PIECE);
    let first = reader.read_range(range.start..first_end).await.map_err(|e| vault_error(&e))?;
    let rest = futures::stream::try_unfold((reader, first_end, range.end), |(reader, pos, end)| async move {
        if pos >= end {
            return Ok(None);
        }
        let to = end.min(pos + PIECE);
        let bytes = reader.read_range(pos..to).await.map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok::<_, std::io::Error>(Some((bytes::Bytes::from(bytes), (reader, to, end))))
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(first)) }).chain(rest);
    let status = if range_header.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let mut resp = (status, axum::body::Body::from_stream(body)).into_response();
    let h = resp.headers_mut();
    let media_type = rec.media_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    for (k, v) in [
        (header::CONTENT_TYPE, media_type),
        (header::CONTENT_LENGTH, (range.end - range.start).to_string()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ] {
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    }
    if range_header.is_some() {
        if let Ok(v) = format!("bytes {}-{}/{len}", range.start, range.end - 1).parse() {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if download {
        let name: String = rec
            .call_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        if let Ok(v) = format!("attachment; filename=\"{name}\"").parse() {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

/// Marks the review of a recording complete (its own team manager or process head).
/// Under a "purge after review" policy it then falls due.
#[utoipa::path(post, path = "/api/v1/recordings/{id}/review", params(("id" = RecordingId, Path)),
    responses((status = 200, body = Recording), (status = 403, body = ApiError)))]
async fn review(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
) -> AppResult<Response> {
    let row = visible(&st, &a, id).await?;
    mark_reviewed(&st, &ctx, &a, &row.recording).await?;
    Ok(Json(st.store.recording(id).await?.recording).into_response())
}

/// Sets a legal hold (security officer): the recording is not purged until released.
#[utoipa::path(post, path = "/api/v1/recordings/{id}/hold", params(("id" = RecordingId, Path)), request_body = HoldInput,
    responses((status = 200, body = Recording), (status = 422, body = ApiError)))]
async fn hold(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
    crate::api::ApiJson(h): crate::api::ApiJson<HoldInput>,
) -> AppResult<Response> {
    let row = visible(&st, &a, id).await?;
    set_hold(&st, &ctx, &row.recording, &h.reason, true).await?;
    Ok(Json(st.store.recording(id).await?.recording).into_response())
}

/// Releases a legal hold, with a reason (`?reason=`).
#[utoipa::path(delete, path = "/api/v1/recordings/{id}/hold", params(("id" = RecordingId, Path), PlayQuery),
    responses((status = 200, body = Recording), (status = 422, body = ApiError)))]
async fn release_hold(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
    ApiQuery(q): ApiQuery<PlayQuery>,
) -> AppResult<Response> {
    let row = visible(&st, &a, id).await?;
    if row.recording.hold.is_none() {
        return Err(AppError::new(ErrorCode::NotFound, "the recording is not on hold"));
    }
    set_hold(&st, &ctx, &row.recording, q.reason.as_deref().unwrap_or(""), false).await?;
    Ok(Json(st.store.recording(id).await?.recording).into_response())
}

/// A process unit's retention policy (the default when none was set).
#[utoipa::path(get, path = "/api/v1/recordings/policies/{id}", params(("id" = ProcessId, Path)),
    responses((status = 200, body = RetentionPolicy), (status = 404, body = ApiError)))]
async fn get_policy(
    State(st): State<AppState>,
    Authed(_ctx, a): Authed,
    ApiPath(id): ApiPath<ProcessId>,
) -> AppResult<Response> {
    let process = process_in_scope(&st, &a, id, Action::RecordingsView).await?;
    Ok(Json(super::policy_for(&st, process).await?).into_response())
}

/// Sets a process unit's retention policy (security officer, or its process head):
/// the due time of its recordings not yet purged is re-computed at once.
#[utoipa::path(put, path = "/api/v1/recordings/policies/{id}", params(("id" = ProcessId, Path)), request_body = RetentionPolicy,
    responses((status = 200, body = RetentionPolicy), (status = 422, body = ApiError)))]
async fn set_policy(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ProcessId>,
    crate::api::ApiJson(p): crate::api::ApiJson<RetentionPolicy>,
) -> AppResult<Response> {
    let process = process_in_scope(&st, &a, id, Action::RecordingsAdmin).await?;
    put_policy(&st, &ctx, process, &p).await?;
    Ok(Json(p).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Start of the period, Unix seconds (default: 90 days ago).
    pub from: Option<i64>,
    /// End of the period, Unix seconds (default: now).
    pub to: Option<i64>,
}

/// The retention report (security officer, auditor): what fell due in the period, what
/// was purged and when, what is on hold, what is overdue now.
#[utoipa::path(get, path = "/api/v1/recordings/retention-report", params(ReportQuery),
    responses((status = 200, body = RetentionReport)))]
async fn report(State(st): State<AppState>, ApiQuery(q): ApiQuery<ReportQuery>) -> AppResult<Response> {
    let now = st.clock.now();
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - 90 * 86_400);
    if from > to {
        return Err(AppError::new(ErrorCode::InvalidQuery, "from must not be after to"));
    }
    Ok(Json(super::retention_report(&st, from, to).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        let table = [
            ("bytes=0-99", 1000, Some(0..100)),
            ("bytes=500-", 1000, Some(500..1000)),
            ("bytes=-100", 1000, Some(900..1000)),
            ("bytes=990-5000", 1000, Some(990..1000)),
            ("bytes=1000-", 1000, None),
            ("bytes=5-4", 1000, None),
            ("bytes=0-1,5-6", 1000, None),
            ("items=0-1", 1000, None),
            ("bytes=x-1", 1000, None),
            ("bytes=0-", 0, None),
        ];
        for (h, len, want) in table {
            assert_eq!(parse_range(h, len), want, "{h}");
        }
    }
}
