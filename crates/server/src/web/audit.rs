//! The audit trail: filter form and a paged table, newest first. Same filters as
//! `GET /api/v1/audit`; the actor field also takes a username.

use super::view::{link, page_status, range_label, time, Badge, FormView, Layout, Opt, QueryData};
use crate::api::{audit_filter, AuditQuery};
use crate::ctx::Authed;
use crate::error::{AppError, AppResult};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bposhield_proto::{AuditEvent, UserId};
use std::collections::HashMap;

/// Rows per page.
const PAGE: u32 = 50;

/// The filter fields, in the order of the form.
const FIELDS: [&str; 4] = ["actor", "action", "object", "outcome"];

struct EventRow {
    at: String,
    actor: String,
    actor_ref: String,
    action: String,
    object: String,
    outcome: Badge,
    ip: String,
    request_id: String,
    detail: String,
}

fn outcome_badge(o: &str) -> Badge {
    match o {
        "success" => Badge { class: "pass", label: "success" },
        "denied" => Badge { class: "fail", label: "denied" },
        "failure" => Badge { class: "warn", label: "failure" },
        _ => Badge { class: "none", label: "other" },
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    l: Layout,
    f: FormView,
    outcomes: Vec<Opt>,
    rows: Vec<EventRow>,
    range: String,
    prev: Option<String>,
    next: Option<String>,
    filtered: bool,
}

/// `GET /audit?actor=&action=&object=&outcome=&page=`.
pub async fn list(State(st): State<AppState>, Authed(ctx, _): Authed, q: QueryData) -> AppResult<Response> {
    let page_no = q.get("page").parse::<u64>().unwrap_or(1).max(1);
    let mut f = FormView::with(&FIELDS.map(|k| (k, q.get(k).trim().to_owned())));
    let outcomes = ["success", "denied", "failure"].into_iter().map(|o| Opt::new(o, o)).collect();
    let mut status = StatusCode::OK;
    // A bare username is looked up, so people can filter without knowing user ids.
    let actor = match q.opt("actor") {
        Some(a) if !a.contains(':') && a != "anonymous" && a != "system" => {
            match st.store.user_auth_by_username(&a.to_lowercase()).await? {
                Some(row) => Some(format!("user:{}", row.id)),
                None => {
                    status = StatusCode::UNPROCESSABLE_ENTITY;
                    let _ = f.absorb(
                        AppError::field(bposhield_proto::ErrorCode::InvalidQuery, "actor", "no user has this username"),
                        &FIELDS,
                        &[],
                    );
                    None
                }
            }
        }
        other => other,
    };
    let query = AuditQuery {
        actor,
        action: q.opt("action"),
        object: q.opt("object"),
        outcome: q.opt("outcome"),
        since: None,
        until: None,
        limit: Some(PAGE),
        offset: Some((page_no - 1).saturating_mul(u64::from(PAGE))),
    };
    let (items, total, offset) = if status == StatusCode::OK {
        match audit_filter(&query) {
            Ok(filter) => {
                let (items, total) = st.store.audit_events(&filter).await?;
                (items, total, filter.offset)
            }
            Err(e) => {
                status = f.absorb(e, &FIELDS, &[])?;
                (Vec::new(), 0, 0)
            }
        }
    } else {
        (Vec::new(), 0, 0)
    };
    let usernames = usernames(&st, &items).await?;
    let at = |p: u64| {
        let mut v: Vec<(&str, String)> = FIELDS.iter().map(|k| (*k, q.get(k).trim().to_owned())).collect();
        if p > 1 {
            v.push(("page", p.to_string()));
        }
        link("/audit", &v)
    };
    let shown = items.len();
    let rows = items
        .into_iter()
        .map(|e| EventRow {
            at: time(e.at),
            actor: usernames.get(&e.actor).cloned().unwrap_or_else(|| e.actor.clone()),
            outcome: outcome_badge(&e.outcome),
            ip: e.source_ip.unwrap_or_default(),
            detail: detail_text(&e.detail),
            actor_ref: e.actor,
            action: e.action,
            object: e.object,
            request_id: e.request_id,
        })
        .collect();
    let page_view = AuditPage {
        l: Layout::new(&ctx, "Audit trail"),
        filtered: FIELDS.iter().any(|k| !q.get(k).trim().is_empty()),
        f,
        outcomes,
        rows,
        range: range_label(offset, shown, total),
        prev: (page_no > 1).then(|| at(page_no - 1)),
        next: (offset + (shown as u64) < total).then(|| at(page_no + 1)),
    };
    page_status(status, &page_view)
}

/// Usernames of the `user:<id>` actors of a page of events.
async fn usernames(st: &AppState, items: &[AuditEvent]) -> AppResult<HashMap<String, String>> {
    let mut out = HashMap::new();
    for e in items {
        if out.contains_key(&e.actor) {
            continue;
        }
        if let Some(id) = e.actor.strip_prefix("user:").and_then(|s| s.parse::<UserId>().ok()) {
            if let Ok(u) = st.store.user(id).await {
                out.insert(e.actor.clone(), u.username);
            }
        }
    }
    Ok(out)
}

/// The detail JSON, compact; empty for `{}`.
fn detail_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
