//! HTTP adapters of the SCIM endpoints: media types, query parameters, ETag and
//! Location headers. State changes and queries are in [`super::service`].

use super::service::{self as svc, Kind, ListQuery, GROUPS, USERS};
use super::{ScimFail, ScimRes, MAX_COUNT, SCIM_JSON};
use crate::ctx::Ctx;
use crate::AppState;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bposhield_proto::ErrorCode;
use bposhield_scim::schema::{self, ALL_SCHEMAS, ALL_TYPES};
use bposhield_scim::{list_response, Projection, ScimError};
use bposhield_store::scim::ScimRow;
use serde_json::Value;

/// A JSON request body sent as `application/scim+json` or `application/json`.
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimFail;
    async fn from_request(req: Request, s: &S) -> Result<Self, ScimFail> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !(ct.starts_with(SCIM_JSON) || ct.starts_with("application/json")) {
            return Err(ScimFail::new(ErrorCode::UnsupportedMediaType, "send the body as application/scim+json"));
        }
        let bytes = axum::body::Bytes::from_request(req, s)
            .await
            .map_err(|_| ScimFail::new(ErrorCode::BodyTooLarge, "request body too large or unreadable"))?;
        let v = serde_json::from_slice(&bytes)
            .map_err(|e| ScimFail::from(ScimError::syntax(format!("malformed JSON: {e}"))))?;
        Ok(ScimBody(v))
    }
}

/// The SCIM base URL as the client reached it (for `meta.location` and `Location`).
fn base(st: &AppState, headers: &HeaderMap) -> String {
    let scheme = if st.config.tls() { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.contains(['/', ' ']))
        .unwrap_or("localhost");
    format!("{scheme}://{host}/scim/v2")
}

fn json(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}

/// A resource with its `ETag` (and `Location` when created).
fn resource(
    st: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    k: Kind,
    row: &ScimRow,
    status: StatusCode,
) -> ScimRes<Response> {
    let b = base(st, headers);
    let doc = svc::render(k, row, &b)?;
    let q = params(uri);
    let proj = Projection::parse(q.attributes.as_deref(), q.excluded.as_deref())?;
    let mut r = json(status, &proj.apply(k.rt, &doc));
    if let Ok(v) = HeaderValue::from_str(&svc::etag(row)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&format!("{b}{}/{}", k.rt.endpoint, row.id)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(r)
}

#[derive(Default)]
struct Params {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded: Option<String>,
}

/// The query parameters, names matched case-insensitively.
fn params(uri: &Uri) -> Params {
    let mut p = Params::default();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let v = Some(v.into_owned());
        match k.to_ascii_lowercase().as_str() {
            "filter" => p.filter = v,
            "startindex" => p.start_index = v,
            "count" => p.count = v,
            "attributes" => p.attributes = v,
            "excludedattributes" => p.excluded = v,
            _ => {}
        }
    }
    p
}

fn int(name: &str, v: Option<&str>) -> ScimRes<Option<i64>> {
    v.map(|s| {
        s.trim().parse::<i64>().map_err(|_| ScimFail::from(ScimError::value(format!("{name} must be an integer"))))
    })
    .transpose()
}

fn if_match(h: &HeaderMap) -> Option<String> {
    h.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

// ---- discovery -----------------------------------------------------------------------

pub(super) async fn service_provider_config(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let doc = schema::service_provider_config(
        &base(&st, &headers),
        u32::try_from(MAX_COUNT).unwrap_or(1000),
        "/docs/scim.md",
    );
    json(StatusCode::OK, &doc)
}

pub(super) async fn resource_types(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let b = base(&st, &headers);
    let all: Vec<Value> = ALL_TYPES.iter().map(|t| t.to_json(&b)).collect();
    let n = all.len() as u64;
    json(StatusCode::OK, &list_response(all, n, 1))
}

pub(super) async fn resource_type(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimRes<Response> {
    let t = ALL_TYPES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimFail::new(ErrorCode::NotFound, "no such resource type"))?;
    Ok(json(StatusCode::OK, &t.to_json(&base(&st, &headers))))
}

pub(super) async fn schemas(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let b = base(&st, &headers);
    let all: Vec<Value> = ALL_SCHEMAS.iter().map(|s| s.to_json(&b)).collect();
    let n = all.len() as u64;
    json(StatusCode::OK, &list_response(all, n, 1))
}

pub(super) async fn schema(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimRes<Response> {
    let s = schema::schema_by_id(&id).ok_or_else(|| ScimFail::new(ErrorCode::NotFound, "no such schema"))?;
    Ok(json(StatusCode::OK, &s.to_json(&base(&st, &headers))))
}

// ---- resources -----------------------------------------------------------------------

async fn list(st: &AppState, headers: &HeaderMap, uri: &Uri, k: Kind) -> ScimRes<Response> {
    let p = params(uri);
    let q = ListQuery {
        filter: p.filter,
        start_index: int("startIndex", p.start_index.as_deref())?,
        count: int("count", p.count.as_deref())?,
        projection: Projection::parse(p.attributes.as_deref(), p.excluded.as_deref())?,
    };
    Ok(json(StatusCode::OK, &svc::list(st, &[k], &q, &base(st, headers)).await?))
}

/// `POST …/.search` (RFC 7644 §3.4.3): the query in the body.
async fn search(st: &AppState, headers: &HeaderMap, ks: &[Kind], body: &Value) -> ScimRes<Response> {
    let get = |n: &str| bposhield_scim::filter::get_ci(body, n);
    let list = |n: &str| -> ScimRes<Option<String>> {
        match get(n) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(a)) => Ok(Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))),
            Some(_) => Err(ScimError::value(format!("{n} must be a list of attribute names")).into()),
        }
    };
    let num = |n: &str| -> ScimRes<Option<i64>> {
        match get(n) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| ScimError::value(format!("{n} must be an integer")).into()),
        }
    };
    let filter = match get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ScimError::filter("filter must be a string").into()),
    };
    let q = ListQuery {
        filter,
        start_index: num("startIndex")?,
        count: num("count")?,
        projection: Projection::parse(list("attributes")?.as_deref(), list("excludedAttributes")?.as_deref())?,
    };
    Ok(json(StatusCode::OK, &svc::list(st, ks, &q, &base(st, headers)).await?))
}

pub(super) async fn list_users(State(st): State<AppState>, headers: HeaderMap, uri: Uri) -> ScimRes<Response> {
    list(&st, &headers, &uri, USERS).await
}

pub(super) async fn list_groups(State(st): State<AppState>, headers: HeaderMap, uri: Uri) -> ScimRes<Response> {
    list(&st, &headers, &uri, GROUPS).await
}

pub(super) async fn search_users(
    State(st): State<AppState>,
    headers: HeaderMap,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    search(&st, &headers, &[USERS], &b).await
}

pub(super) async fn search_groups(
    State(st): State<AppState>,
    headers: HeaderMap,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    search(&st, &headers, &[GROUPS], &b).await
}

/// `POST /.search` at the root: every resource type at once.
pub(super) async fn search_all(
    State(st): State<AppState>,
    headers: HeaderMap,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    search(&st, &headers, &[USERS, GROUPS], &b).await
}

pub(super) async fn create_user(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    uri: Uri,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    let row = svc::create_user(&st, &ctx, &b).await?;
    resource(&st, &headers, &uri, USERS, &row, StatusCode::CREATED)
}

pub(super) async fn create_group(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    uri: Uri,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    let row = svc::create_group(&st, &ctx, &b).await?;
    resource(&st, &headers, &uri, GROUPS, &row, StatusCode::CREATED)
}

async fn get_one(st: &AppState, headers: &HeaderMap, uri: &Uri, k: Kind, id: &str) -> ScimRes<Response> {
    let row = svc::get(st, k, id).await?;
    resource(st, headers, uri, k, &row, StatusCode::OK)
}

pub(super) async fn get_user(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ScimRes<Response> {
    get_one(&st, &headers, &uri, USERS, &id).await
}

pub(super) async fn get_group(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ScimRes<Response> {
    get_one(&st, &headers, &uri, GROUPS, &id).await
}

pub(super) async fn replace_user(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    let row = svc::replace(&st, &ctx, USERS, &id, &b, if_match(&headers).as_deref()).await?;
    resource(&st, &headers, &uri, USERS, &row, StatusCode::OK)
}

pub(super) async fn replace_group(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    let row = svc::replace(&st, &ctx, GROUPS, &id, &b, if_match(&headers).as_deref()).await?;
    resource(&st, &headers, &uri, GROUPS, &row, StatusCode::OK)
}

pub(super) async fn patch_user(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    let row = svc::patch(&st, &ctx, USERS, &id, &b, if_match(&headers).as_deref()).await?;
    resource(&st, &headers, &uri, USERS, &row, StatusCode::OK)
}

pub(super) async fn patch_group(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    ScimBody(b): ScimBody,
) -> ScimRes<Response> {
    let row = svc::patch(&st, &ctx, GROUPS, &id, &b, if_match(&headers).as_deref()).await?;
    resource(&st, &headers, &uri, GROUPS, &row, StatusCode::OK)
}

pub(super) async fn delete_user(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimRes<Response> {
    svc::delete(&st, &ctx, USERS, &id, if_match(&headers).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn delete_group(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimRes<Response> {
    svc::delete(&st, &ctx, GROUPS, &id, if_match(&headers).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
