//! The bposhield domain: roles and scopes, the one `authorize` function, the control
//! registry and its checks, password and second-factor policy, validation of HR data.
//!
//! Nothing here does I/O: no HTTP, no SQL, no clock reads. Time is passed in (see
//! [`clock`]) so rules like "exit date reached" are testable without waiting. The store
//! and the server call into this crate; this crate never calls them.

pub mod authz;
pub mod clock;
pub mod controls;
pub mod org;
pub mod password;
pub mod totp;
pub mod validate;

pub use authz::{authorize, authorize_media, Action, Actor, Decision, Resource, Visibility};
pub use clock::{Clock, ManualClock, SystemClock};
