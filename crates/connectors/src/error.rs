//! The one error type of every connector, classified by what the caller should do next.

/// Why a connector call failed. Messages never hold secrets (bind passwords, tokens, keys).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The target could not be reached (connection refused, DNS, TLS handshake, 5xx).
    #[error("target unreachable: {0}")]
    Unreachable(String),
    /// The target did not answer in time.
    #[error("target timed out: {0}")]
    Timeout(String),
    /// The target refused our credentials or our rights.
    #[error("target refused the credentials: {0}")]
    Auth(String),
    /// The account (or the object an op names) does not exist on the target.
    #[error("not found on the target: {0}")]
    NotFound(String),
    /// The target understood and refused the change; retrying will not help.
    #[error("target rejected the change: {0}")]
    Rejected(String),
    /// The connector's configuration is wrong.
    #[error("connector configuration: {0}")]
    Config(String),
}

impl ConnectorError {
    /// Whether trying the same call later may succeed (the server's retry queue uses this).
    #[must_use]
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Timeout(_))
    }
}
