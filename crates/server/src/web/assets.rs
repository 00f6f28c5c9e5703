//! Static assets (stylesheet, htmx, icon), embedded in the binary so a deployment is one
//! file. Served with a year-long cache: page links carry a hash of the assets
//! ([`super::view::asset_version`]), so a new build is fetched at once.

use crate::api::ApiPath;
use crate::error::{AppError, AppResult};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// Every asset: file name, content type, bytes.
pub const ASSETS: [(&str, &str, &[u8]); 5] = [
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../assets/app.css")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/htmx.min.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../assets/favicon.svg")),
    ("ledger.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/ledger.js")),
    ("identity_hr.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/identity_hr.js")),
];

/// `GET /assets/{file}`.
pub async fn serve(ApiPath(file): ApiPath<String>) -> AppResult<Response> {
    let (_, ctype, body) =
        ASSETS.iter().find(|(name, _, _)| *name == file).ok_or_else(|| AppError::not_found("asset"))?;
    Ok(([(CONTENT_TYPE, *ctype), (CACHE_CONTROL, "public, max-age=31536000, immutable")], *body).into_response())
}
