//! Newtype identifiers (UUIDv7) so a site id cannot be passed where a person id is meant.
//! Parsing rejects malformed input at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id. `unix_ms` comes from the caller's clock.
            #[must_use]
            pub fn new_v7(unix_ms: u64) -> Self {
                let ts = uuid::Timestamp::from_unix(uuid::NoContext, unix_ms / 1000, ((unix_ms % 1000) * 1_000_000) as u32);
                Self(Uuid::new_v7(ts))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { self.0.fmt(f) }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Uuid::parse_str(s).map(Self) }
        }
    )*};
}

id_type!(
    /// A site (a physical delivery centre).
    SiteId,
    /// A process unit: one client's campaign.
    ProcessId,
    /// A team inside a process unit.
    TeamId,
    /// A person known to HR.
    PersonId,
    /// A platform user (sign-in identity).
    UserId,
    /// A role grant.
    GrantId,
    /// An API token.
    TokenId,
    /// An audit event.
    EventId,
    /// A call recording.
    RecordingId,
    /// An enrolled endpoint (desktop or server running `bposhield-agent`).
    HostId,
    /// A USB device exception (approved, time-bound).
    ExceptionId,
    /// A fleet policy: a USB rule set or an SCA policy.
    PolicyId,
    /// A one-time enrollment token for endpoint agents.
    EnrollTokenId,
);
