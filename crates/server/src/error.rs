//! One error type for every handler, rendered once as JSON (API) and once as HTML (pages).
//!
//! Handlers return [`AppError`]; its `IntoResponse` stores the error in the response
//! extensions. The request-context middleware then renders it with the request id: JSON
//! for `/api/…`, an HTML page elsewhere. So there is exactly one mapping to each format.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bposhield_core::validate::FieldError;
use bposhield_proto::{ApiError, ErrorCode};
use bposhield_store::StoreError;

/// An error answered to the caller.
#[derive(Debug, Clone)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Every rejected field, for forms that show each beside its input.
    pub fields: Vec<FieldError>,
}

impl AppError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None, fields: Vec::new() }
    }

    /// An error about one field.
    pub fn field(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            code,
            message: format!("{field}: {message}"),
            field: Some(field.to_owned()),
            fields: vec![FieldError::with_code(code, field, message)],
        }
    }

    /// From a non-empty list of field problems (the first one leads).
    #[must_use]
    pub fn from_problems(problems: Vec<FieldError>) -> Self {
        let Some(first) = problems.first().cloned() else {
            return Self::new(ErrorCode::Internal, "validation failed without a reason");
        };
        Self {
            code: first.code,
            message: problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; "),
            field: Some(first.field),
            fields: problems,
        }
    }

    /// Not found.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// An internal error; the detail goes to the log, not to the caller.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::Internal, "internal error; the request id identifies it in the server log")
    }

    /// The wire body.
    #[must_use]
    pub fn body(&self, request_id: Option<String>) -> ApiError {
        ApiError {
            code: self.code.code().to_owned(),
            message: self.message.clone(),
            field: self.field.clone(),
            request_id,
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.code(), self.message)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::new(ErrorCode::NotFound, "not found"),
            StoreError::Unique(m) => {
                AppError::new(ErrorCode::Conflict, format!("conflicts with an existing record ({m})"))
            }
            StoreError::NewerSchema { .. } => AppError::new(ErrorCode::DatabaseNewerThanBinary, e.to_string()),
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "database unavailable");
                AppError::new(ErrorCode::StoreUnavailable, "database unavailable, retry shortly")
            }
            other => AppError::internal(other),
        }
    }
}

impl std::error::Error for AppError {}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Rendered (JSON or HTML) by the context middleware, which knows the request id.
        let mut resp = (status, axum::Json(self.body(None))).into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Handler result.
pub type AppResult<T> = Result<T, AppError>;
