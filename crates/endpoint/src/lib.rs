//! The endpoint engine shared by `bposhield-agent` and the server: no HTTP, no SQL.
//!
//! - [`rules`]: the USBGuard 1.x rule language (parse, print normalized, evaluate).
//! - [`device`]: USB devices read from sysfs and their USBGuard-compatible hash.
//! - [`sca`]: security configuration assessment policies in the Wazuh SCA YAML dialect.
//! - [`facts`]: host facts (OS, packages, firewall, screen lock, …) for the fleet view.
//! - [`bundle`]: signing and verifying the policy bundles the server sends to hosts.
//! - [`offline`]: challenge and response codes for exceptions granted while a host
//!   cannot reach the server.

pub mod bundle;
pub mod device;
pub mod facts;
pub mod offline;
pub mod rules;
pub mod sca;
