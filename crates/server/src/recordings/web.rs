//! The recordings pages: the list (in the caller's scope, with filters), and one
//! recording with its player (for its own team manager and process head, after they
//! state a reason), the redacted transcript with the findings highlighted, the access
//! log from the ledger, the retention status, and the review and legal-hold actions.

use super::{mark_reviewed, set_hold, visible};
use crate::api::ApiPath;
use crate::ctx::Authed;
use crate::error::AppResult;
use crate::routes::{Access, Routes};
use crate::web::view::{can, link, page, see_other, time, time_or, FormData, Layout, OrgNames, QueryData};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use bposhield_core::authz::visibility;
use bposhield_core::{authorize_media, Action};
use bposhield_proto::{ProcessId, Recording, RecordingId, RetentionPolicy};

pub fn routes(r: Routes) -> Routes {
    use Access::Signed;
    r.get("/recordings", Signed(Action::RecordingsView), list)
        .get("/recordings/policies", Signed(Action::RecordingsView), policies)
        .post("/recordings/policies/{id}", Signed(Action::RecordingsAdmin), set_policy)
        .get("/recordings/{id}", Signed(Action::RecordingsView), detail)
        .post("/recordings/{id}/review", Signed(Action::RecordingsPlay), review)
        .post("/recordings/{id}/hold", Signed(Action::RecordingsHold), hold)
        .post("/recordings/{id}/release", Signed(Action::RecordingsHold), release)
}

struct Row {
    id: String,
    call_id: String,
    team: String,
    agent: String,
    started: String,
    duration: String,
    pii: String,
    security_code: bool,
    state: &'static str,
    state_class: &'static str,
}

/// `PROCESS / team` of a recording (its process when it names no team).
fn team_label(names: &OrgNames, r: &Recording) -> String {
    r.team_id.map_or_else(|| names.process(r.process_id), |t| names.team(t))
}

/// A call length as `m:ss`.
fn minutes(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Retention state in words, with a badge class.
fn state_of(r: &Recording, now: i64) -> (&'static str, &'static str) {
    if r.purged_at.is_some() {
        ("purged", "none")
    } else if r.hold.is_some() {
        ("on hold", "warn")
    } else if r.purge_due_at.is_some_and(|d| d < now) {
        ("past retention", "fail")
    } else if r.purge_due_at.is_none() {
        ("awaiting review", "accent")
    } else {
        ("kept", "pass")
    }
}

#[derive(Template)]
#[template(path = "recordings.html")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
    pii: String,
    state: String,
    team: String,
    agent: String,
    from: String,
    to: String,
    held: bool,
    shown: usize,
    total: usize,
}

/// `GET /recordings?pii=&state=&team=&agent=&from=&to=&held=`: the newest 500
/// recordings in the caller's scope, filtered by PII type, retention state, process or
/// team (any part of `CODE / team`), agent, call date and legal hold.
async fn list(State(st): State<AppState>, Authed(ctx, a): Authed, q: QueryData) -> AppResult<Response> {
    let vis = visibility(&a.actor, Action::RecordingsView);
    let all = st.store.recordings(&vis, 500, 0).await?;
    let names = OrgNames::load(&st).await?;
    let now = st.clock.now();
    let (pii, state) = (q.get("pii").trim().to_uppercase(), q.get("state").trim().to_owned());
    let (team, agent) = (q.get("team").trim().to_owned(), q.get("agent").trim().to_owned());
    let (from, to) = (q.get("from").trim().to_owned(), q.get("to").trim().to_owned());
    let held = q.get("held") == "on";
    let from_t = bposhield_core::clock::date_start(&from);
    let to_t = bposhield_core::clock::date_start(&to).map(|t| t + 86_400);
    let label = |r: &Recording| team_label(&names, r);
    let rows: Vec<Row> = all
        .iter()
        .filter(|r| pii.is_empty() || r.pii_types.contains(&pii))
        .filter(|r| state.is_empty() || state_of(r, now).0 == state)
        .filter(|r| team.is_empty() || label(r).to_lowercase().contains(&team.to_lowercase()))
        .filter(|r| agent.is_empty() || r.agent.eq_ignore_ascii_case(&agent))
        .filter(|r| from_t.is_none_or(|t| r.started_at >= t) && to_t.is_none_or(|t| r.started_at < t))
        .filter(|r| !held || r.hold.is_some())
        .map(|r| {
            let (state, state_class) = state_of(r, now);
            Row {
                id: r.id.to_string(),
                call_id: r.call_id.clone(),
                team: label(r),
                agent: r.agent.clone(),
                started: time(r.started_at),
                duration: minutes(r.duration_seconds),
                pii: r.pii_types.join(", "),
                security_code: r.security_code,
                state,
                state_class,
            }
        })
        .collect();
    page(&ListPage {
        l: Layout::new(&ctx, "Recordings"),
        shown: rows.len(),
        total: all.len(),
        rows,
        pii,
        state,
        team,
        agent,
        from,
        to,
        held,
    })
}

/// A piece of the redacted transcript: plain, or a finding's masked bytes.
struct Piece {
    text: String,
    kind: Option<String>,
}

struct FindingRow {
    source: String,
    kind: String,
    span: String,
    score: String,
    masked: String,
}

struct AccessRow {
    at: String,
    actor: String,
    action: String,
    outcome: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "recording.html")]
struct DetailPage {
    l: Layout,
    id: String,
    call_id: String,
    team: String,
    agent: String,
    started: String,
    duration: String,
    channel: String,
    customer_ref: String,
    media: String,
    security_code: bool,
    state: &'static str,
    state_class: &'static str,
    due: String,
    reviewed: String,
    hold: Option<(String, String, String)>,
    transcript: Vec<Piece>,
    screen: Vec<Piece>,
    findings: Vec<FindingRow>,
    access: Vec<AccessRow>,
    may_play: bool,
    has_media: bool,
    reason: String,
    play_src: String,
    may_hold: bool,
}

/// Cuts `text` at the findings of `source` into plain and highlighted pieces.
fn pieces(text: &str, rec: &Recording, source: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for f in rec.findings.iter().filter(|f| f.source == source) {
        let (s, e) = (usize::try_from(f.start).unwrap_or(0), usize::try_from(f.end).unwrap_or(0));
        if s < at || e > text.len() || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            continue;
        }
        out.push(Piece { text: text[at..s].to_owned(), kind: None });
        out.push(Piece { text: text[s..e].to_owned(), kind: Some(f.kind.clone()) });
        at = e;
    }
    out.push(Piece { text: text[at..].to_owned(), kind: None });
    out
}

/// `GET /recordings/{id}?reason=`: the recording; with a reason, its player.
async fn detail(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
    q: QueryData,
) -> AppResult<Response> {
    let row = visible(&st, &a, id).await?;
    let r = &row.recording;
    let names = OrgNames::load(&st).await?;
    let now = st.clock.now();
    let (state, state_class) = state_of(r, now);
    let filter =
        bposhield_store::AuditFilter { object: Some(format!("recording:{id}")), limit: 100, ..Default::default() };
    let (events, _) = st.store.audit_events(&filter).await?;
    let access = events
        .into_iter()
        .map(|e| AccessRow {
            at: time(e.at),
            actor: e.actor,
            action: e.action,
            outcome: e.outcome,
            reason: e.detail.get("reason").and_then(|v| v.as_str()).unwrap_or("").to_owned(),
        })
        .collect();
    let may_play = authorize_media(&a.actor, r.process_id, r.team_id).is_allow();
    let reason = q.get("reason").trim().to_owned();
    let has_media = row.media_object.is_some();
    // The player asks the media route, which checks the role and the reason again and
    // records every request in the ledger.
    let play_src = if may_play && has_media && !reason.is_empty() {
        link(&format!("/api/v1/recordings/{id}/media"), &[("reason", reason.clone())])
    } else {
        String::new()
    };
    page(&DetailPage {
        l: Layout::new(&ctx, format!("Recording {}", r.call_id)),
        id: id.to_string(),
        call_id: r.call_id.clone(),
        team: team_label(&names, r),
        agent: r.agent.clone(),
        started: time(r.started_at),
        duration: minutes(r.duration_seconds),
        channel: r.channel.clone(),
        customer_ref: r.customer_ref.clone(),
        media: match (&r.media_type, r.media_bytes) {
            (Some(t), Some(b)) => format!("{t}, {:.1} MB, encrypted", b as f64 / 1e6),
            _ if r.purged_at.is_some() => "purged (crypto-shredded)".into(),
            _ => "not uploaded".into(),
        },
        security_code: r.security_code,
        state,
        state_class,
        due: time_or(r.purge_due_at, "after the review"),
        reviewed: time_or(r.review_completed_at, "not yet"),
        hold: r.hold.as_ref().map(|h| (h.reason.clone(), h.by.clone(), time(h.at))),
        transcript: pieces(&r.redacted_transcript, r, "transcript"),
        screen: pieces(&r.redacted_screen, r, "screen"),
        findings: r
            .findings
            .iter()
            .map(|f| FindingRow {
                source: f.source.clone(),
                kind: f.kind.clone(),
                span: format!("{}-{}", f.start, f.end),
                score: format!("{:.2}", f.score),
                masked: f.masked.clone(),
            })
            .collect(),
        access,
        may_play,
        has_media,
        reason,
        play_src,
        may_hold: can(&a, Action::RecordingsHold),
    })
}

/// `POST /recordings/{id}/review`: the review is complete (own managers only).
async fn review(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
) -> AppResult<Response> {
    let row = visible(&st, &a, id).await?;
    mark_reviewed(&st, &ctx, &a, &row.recording).await?;
    Ok(see_other(&format!("/recordings/{id}")))
}

/// `POST /recordings/{id}/hold` with `reason`.
async fn hold(st: State<AppState>, authed: Authed, id: ApiPath<RecordingId>, f: FormData) -> AppResult<Response> {
    hold_or_release(st, authed, id, f, true).await
}

/// `POST /recordings/{id}/release` with `reason`.
async fn release(st: State<AppState>, authed: Authed, id: ApiPath<RecordingId>, f: FormData) -> AppResult<Response> {
    hold_or_release(st, authed, id, f, false).await
}

async fn hold_or_release(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<RecordingId>,
    f: FormData,
    set: bool,
) -> AppResult<Response> {
    let row = visible(&st, &a, id).await?;
    set_hold(&st, &ctx, &row.recording, f.get("reason"), set).await?;
    Ok(see_other(&format!("/recordings/{id}")))
}

struct PolicyRow {
    id: String,
    process: String,
    p: RetentionPolicy,
    editable: bool,
}

#[derive(Template)]
#[template(path = "recording_policies.html")]
struct PoliciesPage {
    l: Layout,
    rows: Vec<PolicyRow>,
}

/// `GET /recordings/policies`: every process unit in scope with its retention policy.
async fn policies(State(st): State<AppState>, Authed(ctx, a): Authed) -> AppResult<Response> {
    let mut rows = Vec::new();
    for p in st.store.processes(None).await? {
        let res = bposhield_core::Resource::Org { site: p.site_id, process: Some(p.id), team: None };
        if !bposhield_core::authorize(&a.actor, Action::RecordingsView, res).is_allow() {
            continue;
        }
        rows.push(PolicyRow {
            id: p.id.to_string(),
            process: format!("{} · {}", p.code, p.name),
            p: super::policy_for(&st, p.id).await?,
            editable: bposhield_core::authorize(&a.actor, Action::RecordingsAdmin, res).is_allow(),
        });
    }
    page(&PoliciesPage { l: Layout::new(&ctx, "Recording retention"), rows })
}

/// `POST /recordings/policies/{id}`: sets one process unit's policy.
async fn set_policy(
    State(st): State<AppState>,
    Authed(ctx, a): Authed,
    ApiPath(id): ApiPath<ProcessId>,
    f: FormData,
) -> AppResult<Response> {
    let id = super::process_in_scope(&st, &a, id, Action::RecordingsAdmin).await?;
    let num = |k: &str| {
        f.get(k)
            .trim()
            .parse::<i64>()
            .map_err(|_| crate::AppError::field(bposhield_proto::ErrorCode::InvalidField, k, "a whole number"))
    };
    let policy = RetentionPolicy {
        mode: f.get("mode").trim().to_owned(),
        keep_days: num("keep_days")?,
        purge_hours_after_review: num("purge_hours_after_review")?,
        security_code_hours: num("security_code_hours")?,
        allow_download: f.get("allow_download") == "on",
    };
    super::put_policy(&st, &ctx, id, &policy).await?;
    Ok(see_other("/recordings/policies"))
}
