//! SCIM 2.0 protocol (RFC 7643, RFC 7644), without HTTP or storage: the schemas and
//! their metadata ([`schema`]), filters ([`filter`]), the PATCH engine ([`patch`]),
//! input normalisation and attribute projection ([`resource`]), and the error body
//! ([`error`]). The server (`crates/server/src/scim`) wires these to `/scim/v2` and the
//! store.
//!
//! Everything here is total: hostile input yields a [`ScimError`], never a panic
//! (property tests and the `scim_parsers` fuzz target hold it to that).

pub mod error;
pub mod filter;
pub mod patch;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimResult, ScimType};
pub use filter::{AttrPath, CompareOp, Filter};
pub use patch::{OpKind, PatchOp, PatchPath};
pub use resource::{list_response, normalize, Projection};

/// Parses an RFC 3339 date-time (`meta.lastModified`) to Unix nanoseconds.
#[must_use]
pub fn datetime(s: &str) -> Option<i128> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

/// Formats Unix seconds as RFC 3339 (UTC), for `meta.created` and `meta.lastModified`.
#[must_use]
pub fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}
