//! Wire types shared by the bposhield server, the CLI, the endpoint agent and the tests.
//!
//! Everything here is plain data with serde derives and OpenAPI schemas; no behaviour
//! beyond parsing. Input types reject unknown fields so a typo in a client is an error,
//! not a silently ignored field. Error codes live in [`error`] and are a stable interface:
//! never renumber one, only add.

pub mod error;
pub mod fleet;
pub mod ids;
pub mod types;

pub use error::{ApiError, ErrorCode};
pub use ids::*;
pub use types::*;
