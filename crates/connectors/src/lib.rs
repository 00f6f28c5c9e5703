//! Outbound identity connectors: the systems bposhield reads accounts from (reconciliation)
//! and applies lifecycle actions to (disable a leaver, revoke a mover's old groups, create a
//! joiner).
//!
//! What belongs here: one [`Connector`] implementation per kind of target protocol
//! ([`ldap`] for LDAP and Active Directory, [`scim`] for SCIM 2.0 applications, [`card`] for
//! access-card systems fed by a signed CSV export and an optional webhook) and the [`build`]
//! factory that turns a target's JSON config into a connector. What does not: deciding *what*
//! to change (the identity engine), storing configs or retrying (the server), and manual
//! targets (work items in the server).
//!
//! Every connector is idempotent: applying the same [`Op`] twice succeeds, and ops on an
//! account that is already gone succeed where the goal (not having access) is met.

pub mod card;
mod config;
mod error;
pub mod ldap;
pub mod scim;
mod secret;
#[cfg(feature = "testkit")]
pub mod testkit;
mod tls;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bposhield_core::clock::Clock;
use bposhield_identity::model::{Account, Op, Target, TargetKind};

pub use config::ConnectorConfig;
pub use error::ConnectorError;
pub use secret::Secret;

/// A boxed future, so that [`Connector`] stays object-safe (`Arc<dyn Connector>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One target system the server reads accounts from and applies actions to.
pub trait Connector: Send + Sync {
    /// The kind of the target this connector was built for.
    fn kind(&self) -> TargetKind;

    /// Cheap reachability and credentials check for the UI's "test connection" button:
    /// a one-line description of what answered, or a clear error.
    fn test_connection(&self) -> BoxFuture<'_, Result<String, ConnectorError>>;

    /// Every account the target holds (reconciliation input), with the target id filled in.
    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>>;

    /// Applies one idempotent op to one account. `key` is the account's target key (a DN, a
    /// SCIM id, a card number); `None` only for [`Op::Create`]. Returns the account's key (the
    /// new one for a create). Disable, Revoke and Delete of an account that is gone succeed.
    fn apply<'a>(&'a self, key: Option<&'a str>, op: &'a Op) -> BoxFuture<'a, Result<String, ConnectorError>>;

    /// Creates an account with the richer attributes a joiner has (names, email, employee
    /// number), which [`Op::Create`] does not carry. `apply(None, Op::Create{..})` is this
    /// with only the login and entitlements set. Creating an account that already exists
    /// (same login) returns the existing key.
    fn create<'a>(&'a self, new: &'a NewAccount) -> BoxFuture<'a, Result<String, ConnectorError>>;
}

/// A joiner's account as it should be created.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewAccount {
    /// Login name (LDAP `uid`/`sAMAccountName`, SCIM `userName`, card number for cards).
    pub login: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub employee_id: Option<String>,
    /// Groups, roles or access levels to grant right away.
    pub entitlements: std::collections::BTreeSet<String>,
    /// Extra target attributes (LDAP attribute name to values), added verbatim on LDAP
    /// targets and ignored by the others.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl NewAccount {
    /// The account `Op::Create` describes: a login and entitlements, nothing else.
    #[must_use]
    pub fn from_op(login: &str, entitlements: &std::collections::BTreeSet<String>) -> Self {
        Self { login: login.to_owned(), entitlements: entitlements.clone(), ..Self::default() }
    }
}

/// Builds the connector of `target` from its JSON config. The config's `type` field
/// (`ldap`, `scim`, `access_card`) picks the protocol; without it the target kind decides
/// (directory: LDAP, application: SCIM, access card: card export). Manual targets have no
/// connector: their actions are work items in the server. `clock` stamps card changes.
pub fn build(
    target: &Target,
    config: serde_json::Value,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Connector>, ConnectorError> {
    if target.kind == TargetKind::Manual {
        return Err(ConnectorError::Config(
            "manual targets have no connector: their actions become work items for IT admins in the server".into(),
        ));
    }
    let config = ConnectorConfig::from_json(target.kind, config)?;
    Ok(match config {
        ConnectorConfig::Ldap(c) => Arc::new(ldap::LdapConnector::new(target, *c)?),
        ConnectorConfig::Scim(c) => Arc::new(scim::ScimConnector::new(target, c)?),
        ConnectorConfig::AccessCard(c) => Arc::new(card::CardConnector::new(target, c, clock)?),
    })
}
