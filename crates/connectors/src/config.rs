//! The JSON/TOML config of a target's connector, tagged by `type`.

use bposhield_identity::model::TargetKind;
use serde::Deserialize;

use crate::ConnectorError;

/// A connector config as the server stores it: `{"type": "ldap", ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConnectorConfig {
    // Boxed: the LDAP config is several times larger than the others.
    Ldap(Box<crate::ldap::LdapConfig>),
    Scim(crate::scim::ScimConfig),
    AccessCard(crate::card::CardConfig),
}

impl ConnectorConfig {
    /// Parses a config; a missing `type` defaults from the target kind.
    pub fn from_json(kind: TargetKind, mut value: serde_json::Value) -> Result<Self, ConnectorError> {
        let obj =
            value.as_object_mut().ok_or_else(|| ConnectorError::Config("the config must be a JSON object".into()))?;
        if !obj.contains_key("type") {
            let default = match kind {
                TargetKind::Directory => "ldap",
                TargetKind::Application => "scim",
                TargetKind::AccessCard => "access_card",
                TargetKind::Telephony | TargetKind::Manual => {
                    return Err(ConnectorError::Config(
                        "set \"type\" to ldap, scim or access_card: this target kind has no default".into(),
                    ))
                }
            };
            obj.insert("type".into(), serde_json::Value::String(default.into()));
        }
        serde_json::from_value(value).map_err(|e| ConnectorError::Config(e.to_string()))
    }
}

/// Default network timeout of every connector, seconds.
pub(crate) const fn default_timeout_secs() -> u64 {
    10
}
