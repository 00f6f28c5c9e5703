//! The ten-risk dashboard and the controls pages (list, detail, evaluate now).

use super::view::{can, control_badge, page, see_other, time, Badge, FormData, Layout, Opt, QueryData};
use crate::api::ApiPath;
use crate::ctx::Authed;
use crate::error::AppResult;
use crate::services as svc;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use bposhield_core::Action;
use bposhield_proto::{ControlStatus, Risk, RiskTile};

/// One tile of the dashboard.
struct TileView {
    risk: &'static str,
    title: String,
    badge: Badge,
    controls: u32,
    passing: u32,
    failing: u32,
    /// SVG polyline points of the trend, when there are two points or more.
    trend: Option<String>,
    /// The latest share of passing controls, for the trend's text alternative.
    last: Option<u8>,
}

impl TileView {
    fn from(t: RiskTile) -> Self {
        Self {
            risk: t.risk.as_str(),
            badge: control_badge(t.status),
            controls: t.controls,
            passing: t.passing,
            failing: t.failing,
            trend: trend_points(&t.trend),
            last: t.trend.last().copied(),
            title: t.title,
        }
    }
}

/// Polyline points in a 100 × 30 box: x spreads the rounds evenly, y is 0..=100 % upwards.
fn trend_points(trend: &[u8]) -> Option<String> {
    if trend.len() < 2 {
        return None;
    }
    let steps = (trend.len() - 1) as f64;
    let pts: Vec<String> = trend
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * 100.0 / steps, 28.0 - f64::from((*v).min(100)) * 26.0 / 100.0))
        .collect();
    Some(pts.join(" "))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    l: Layout,
    tiles: Vec<TileView>,
    can_evaluate: bool,
    last_evaluated: Option<String>,
    evaluated: bool,
}

/// `GET /`.
pub async fn dashboard(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let tiles = svc::dashboard(&st).await?.into_iter().map(TileView::from).collect();
    let last =
        svc::control_summaries(&st).await?.iter().filter_map(|c| c.latest.as_ref().map(|r| r.evaluated_at)).max();
    page(&DashboardPage {
        l: Layout::new(&ctx, "Dashboard"),
        tiles,
        can_evaluate: can(&auth, Action::ControlsEvaluate),
        last_evaluated: last.map(time),
        evaluated: q.has("evaluated"),
    })
}

/// One row of the controls list.
struct ControlRow {
    id: String,
    risk: &'static str,
    title: String,
    owner: &'static str,
    badge: Badge,
    evaluated: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "controls.html")]
struct ControlsPage {
    l: Layout,
    rows: Vec<ControlRow>,
    risk: String,
    risk_title: Option<&'static str>,
    risks: Vec<Opt>,
    can_evaluate: bool,
    evaluated: bool,
}

/// `GET /controls?risk=R3`.
pub async fn list(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let risk: Option<Risk> = super::view::query_opt(&q, "risk")?;
    let rows = svc::control_summaries(&st)
        .await?
        .into_iter()
        .filter(|c| risk.is_none_or(|r| c.risk == r))
        .map(|c| ControlRow {
            risk: c.risk.as_str(),
            owner: c.owner.label(),
            badge: control_badge(c.latest.as_ref().map_or(ControlStatus::NotMeasured, |r| r.status)),
            evaluated: c.latest.as_ref().map_or_else(|| "never".to_owned(), |r| time(r.evaluated_at)),
            summary: c.latest.map(|r| r.evidence.summary).unwrap_or_default(),
            id: c.id,
            title: c.title,
        })
        .collect();
    page(&ControlsPage {
        l: Layout::new(&ctx, "Controls"),
        rows,
        risk: risk.map(|r| r.as_str().to_owned()).unwrap_or_default(),
        risk_title: risk.map(Risk::title),
        risks: Risk::ALL.iter().map(|r| Opt::new(r.as_str(), format!("{} · {}", r.as_str(), r.title()))).collect(),
        can_evaluate: can(&auth, Action::ControlsEvaluate),
        evaluated: q.has("evaluated"),
    })
}

/// One evaluation in a control's history.
struct HistoryRow {
    at: String,
    badge: Badge,
    summary: String,
    checked: u64,
    failing: u64,
}

#[derive(Template)]
#[template(path = "control.html")]
struct ControlPage {
    l: Layout,
    id: String,
    risk: &'static str,
    risk_title: &'static str,
    title: String,
    description: String,
    owner: &'static str,
    badge: Badge,
    latest: Option<bposhield_proto::ControlResult>,
    /// The failing items of the latest result: (reference, link to its page if any).
    failing: Vec<(String, Option<String>)>,
    latest_at: String,
    history: Vec<HistoryRow>,
}

/// `GET /controls/{id}`.
pub async fn detail(
    State(st): State<AppState>,
    Authed(ctx, _): Authed,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let (c, history) = svc::control_detail(&st, &id).await?;
    page(&ControlPage {
        l: Layout::new(&ctx, format!("{} · {}", c.id, c.title)),
        risk: c.risk.as_str(),
        risk_title: c.risk.title(),
        owner: c.owner.label(),
        badge: control_badge(c.latest.as_ref().map_or(ControlStatus::NotMeasured, |r| r.status)),
        latest_at: c.latest.as_ref().map_or_else(|| "never".to_owned(), |r| time(r.evaluated_at)),
        failing: c
            .latest
            .as_ref()
            .map_or_else(Vec::new, |r| r.evidence.failing_ids.iter().map(|i| (i.clone(), evidence_link(i))).collect()),
        latest: c.latest,
        history: history
            .into_iter()
            .map(|r| HistoryRow {
                at: time(r.evaluated_at),
                badge: control_badge(r.status),
                checked: r.evidence.checked,
                failing: r.evidence.failing,
                summary: r.evidence.summary,
            })
            .collect(),
        id: c.id,
        title: c.title,
        description: c.description,
    })
}

/// The page of an evidence reference (`user:<id>` → `/users/<id>`…), if it has one.
fn evidence_link(reference: &str) -> Option<String> {
    let (kind, id) = reference.split_once(':')?;
    let base = match kind {
        "user" => "/users",
        "process" => "/org/processes",
        "team" => "/org/teams",
        "person" => "/people",
        _ => return None,
    };
    uuid::Uuid::parse_str(id).ok().map(|id| format!("{base}/{id}"))
}

/// `POST /controls/evaluate`: evaluates every control, then back to where the button was.
pub async fn evaluate(State(st): State<AppState>, Authed(ctx, _): Authed, form: FormData) -> AppResult<Response> {
    svc::evaluate_controls(&st, &ctx).await?;
    if form.get("back") == "dashboard" {
        return Ok(see_other("/?evaluated=1"));
    }
    let risk = form.get("risk").parse::<Risk>().ok().map(|r| r.as_str().to_owned()).unwrap_or_default();
    Ok(see_other(&super::view::link("/controls", &[("risk", risk), ("evaluated", "1".into())])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_needs_two_points() {
        assert_eq!(trend_points(&[]), None);
        assert_eq!(trend_points(&[50]), None);
        assert_eq!(trend_points(&[0, 100]).as_deref(), Some("0.0,28.0 100.0,2.0"));
        assert_eq!(trend_points(&[100, 50, 100]).as_deref(), Some("0.0,2.0 50.0,15.0 100.0,2.0"));
    }
}
