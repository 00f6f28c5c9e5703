//! SCIM 2.0 service provider at `/scim/v2` (RFC 7643/7644): Users are the people of
//! the HR record (each SCIM User is a person; its id is the person id), Groups are kept
//! as sent. The protocol is `bposhield-scim`; this module adapts it to HTTP, the store,
//! the identity lifecycle ([`crate::identity::apply_hr_record`]) and the audit log.
//!
//! Authentication is a bearer API token of a user holding `hr` (action
//! `scim.provision`). The discovery endpoints (`ServiceProviderConfig`, `ResourceTypes`,
//! `Schemas`) are public, as RFC 7644 §4 allows: they describe the protocol, hold no
//! data, and clients such as Azure AD read them before they present credentials.
//! Every error, including 401/403 from the authorization layer, is a SCIM error body.

mod handlers;
mod service;

use crate::error::AppError;
use crate::routes::{Access, Routes};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bposhield_core::Action;
use bposhield_proto::ErrorCode;
use bposhield_scim::{ScimError, ScimType};

pub use service::hr_record;

/// The media type of every SCIM response.
pub const SCIM_JSON: &str = "application/scim+json";
/// Default page size of a list.
pub const DEFAULT_COUNT: u64 = 100;
/// Largest page size of a list (`ServiceProviderConfig.filter.maxResults`).
pub const MAX_COUNT: u64 = 1000;

/// Registers the SCIM routes.
pub fn routes(r: Routes) -> Routes {
    use handlers as h;
    use Access::{Public, Signed};
    let p = Signed(Action::ScimProvision);
    r.get("/scim/v2/ServiceProviderConfig", Public, h::service_provider_config)
        .get("/scim/v2/ResourceTypes", Public, h::resource_types)
        .get("/scim/v2/ResourceTypes/{id}", Public, h::resource_type)
        .get("/scim/v2/Schemas", Public, h::schemas)
        .get("/scim/v2/Schemas/{id}", Public, h::schema)
        .post("/scim/v2/.search", p, h::search_all)
        .get("/scim/v2/Users", p, h::list_users)
        .post("/scim/v2/Users", p, h::create_user)
        .post("/scim/v2/Users/.search", p, h::search_users)
        .get("/scim/v2/Users/{id}", p, h::get_user)
        .put("/scim/v2/Users/{id}", p, h::replace_user)
        .add(Method::PATCH, "/scim/v2/Users/{id}", p, h::patch_user)
        .delete("/scim/v2/Users/{id}", p, h::delete_user)
        .get("/scim/v2/Groups", p, h::list_groups)
        .post("/scim/v2/Groups", p, h::create_group)
        .post("/scim/v2/Groups/.search", p, h::search_groups)
        .get("/scim/v2/Groups/{id}", p, h::get_group)
        .put("/scim/v2/Groups/{id}", p, h::replace_group)
        .add(Method::PATCH, "/scim/v2/Groups/{id}", p, h::patch_group)
        .delete("/scim/v2/Groups/{id}", p, h::delete_group)
}

/// A failed SCIM request: the protocol error and the platform's stable code, which
/// leads the `detail` (`BPS-SCIM-0001: …`).
#[derive(Debug)]
pub struct ScimFail {
    pub error: ScimError,
    pub code: ErrorCode,
}

/// Handler result.
pub type ScimRes<T> = Result<T, ScimFail>;

impl ScimFail {
    /// A status without `scimType` (404, 412…) under a platform code.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { error: ScimError::status(code.http_status(), detail), code }
    }
}

fn code_of(t: Option<ScimType>, status: u16) -> ErrorCode {
    match t {
        Some(ScimType::InvalidFilter) => ErrorCode::ScimInvalidFilter,
        Some(ScimType::TooMany) => ErrorCode::ScimTooMany,
        Some(ScimType::Uniqueness) => ErrorCode::ScimUniqueness,
        Some(ScimType::Mutability) => ErrorCode::ScimMutability,
        Some(ScimType::InvalidSyntax) => ErrorCode::ScimInvalidSyntax,
        Some(ScimType::InvalidPath) => ErrorCode::ScimInvalidPath,
        Some(ScimType::NoTarget) => ErrorCode::ScimNoTarget,
        Some(ScimType::InvalidValue) => ErrorCode::ScimInvalidValue,
        Some(ScimType::InvalidVers) => ErrorCode::ScimInvalidVersion,
        Some(ScimType::Sensitive) => ErrorCode::ScimSensitive,
        None if status == 412 => ErrorCode::ScimPreconditionFailed,
        None if status == 404 => ErrorCode::NotFound,
        None => ErrorCode::ScimInvalidValue,
    }
}

impl From<ScimError> for ScimFail {
    fn from(error: ScimError) -> Self {
        let code = code_of(error.scim_type, error.status);
        Self { error, code }
    }
}

impl From<AppError> for ScimFail {
    fn from(e: AppError) -> Self {
        let status = e.code.http_status();
        let error = match status {
            // SCIM has no 422: a rejected value is a 400 invalidValue.
            422 => ScimError::value(e.message.clone()),
            409 => ScimError { status: 409, scim_type: Some(ScimType::Uniqueness), detail: e.message.clone() },
            400 if e.code == ErrorCode::MalformedJson => ScimError::syntax(e.message.clone()),
            400 => ScimError::value(e.message.clone()),
            s => ScimError::status(s, e.message.clone()),
        };
        Self { error, code: e.code }
    }
}

impl From<bposhield_store::StoreError> for ScimFail {
    fn from(e: bposhield_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ScimFail {
    fn into_response(self) -> Response {
        render(&self.error, self.code)
    }
}

/// The SCIM rendering of an error raised outside the SCIM handlers (authentication,
/// authorization, unknown path, body limit), used by the context middleware.
#[must_use]
pub fn app_error_response(e: &AppError) -> Response {
    let f = ScimFail::from(e.clone());
    render(&f.error, f.code)
}

fn render(e: &ScimError, code: ErrorCode) -> Response {
    let mut shown = e.clone();
    shown.detail = format!("{}: {}", code.code(), e.detail);
    let body = shown.to_json(&[]).to_string();
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if code == ErrorCode::BodyTooLarge {
        // As in the context middleware: the unread body ends the connection.
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}
