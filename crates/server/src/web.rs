//! Server-rendered web UI (askama templates + htmx). Placeholder, filled in below.

use crate::ctx::Ctx;
use crate::error::AppError;
use crate::routes::Routes;

/// Registers every page.
pub fn routes(r: Routes) -> Routes {
    r
}

/// The HTML error page.
#[must_use]
pub fn error_page(ctx: &Ctx, err: &AppError) -> String {
    format!("<!doctype html><title>{}</title><p>{} ({})</p><p>Request id {}</p>", err.code.title(), err.message, err.code.code(), ctx.request_id)
}
