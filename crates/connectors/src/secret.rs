//! Secrets in connector configs: given inline or as a `*_file` path, never printed.

use std::path::Path;

use crate::ConnectorError;

/// A password, token or key. `Debug` prints `[redacted]`; there is no `Display` and no
/// `Serialize`, so a secret cannot reach a log line or a stored config by accident.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one call that needs it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret of a config that offers `name` inline and `name_file` as a path: exactly
    /// one must be set. A file's trailing newline is dropped (files written by `echo`).
    pub(crate) fn resolve(
        inline: Option<&Secret>,
        file: Option<&Path>,
        name: &str,
    ) -> Result<Option<Secret>, ConnectorError> {
        match (inline, file) {
            (Some(_), Some(_)) => Err(ConnectorError::Config(format!("set either {name} or {name}_file, not both"))),
            (Some(s), None) => Ok(Some(s.clone())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConnectorError::Config(format!("cannot read {name}_file {}: {e}", path.display())))?;
                Ok(Some(Secret(text.trim_end_matches(['\r', '\n']).to_owned())))
            }
            (None, None) => Ok(None),
        }
    }

    /// Like [`Secret::resolve`] but the secret is required.
    pub(crate) fn require(inline: Option<&Secret>, file: Option<&Path>, name: &str) -> Result<Secret, ConnectorError> {
        Self::resolve(inline, file, name)?
            .ok_or_else(|| ConnectorError::Config(format!("{name} or {name}_file is required")))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}
