//! The agent's side of `/api/v1/agent/*`: https with rustls (system roots plus an
//! optional CA file), the host credential as a bearer token, JSON bodies from
//! `bposhield_proto::fleet`. Plain `http://` is refused except to loopback (tests, and a
//! server reached through a local tunnel).

use bposhield_proto::fleet::{AgentBatch, BatchAck, EnrollRequest, EnrollResponse, RotateResponse, SignedBundle};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why a call to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Network down, server down, TLS failure: retry later.
    #[error("BPS-AGT-0301: server unreachable: {0}")]
    Unreachable(String),
    /// The server answered with an error status.
    #[error("BPS-AGT-0302: server refused ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("BPS-AGT-0303: {0}")]
    Config(String),
}

/// A client for one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for `server_url`, trusting the system roots and `ca_file`.
    ///
    /// # Errors
    /// On a non-https URL to a non-loopback host, or an unreadable CA file.
    pub fn new(server_url: &str, ca_file: Option<&Path>) -> Result<Self, ClientError> {
        let base = server_url.trim_end_matches('/').to_string();
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| base.strip_prefix(p).is_some_and(|r| r.is_empty() || r.starts_with(':') || r.starts_with('/')));
        if !base.starts_with("https://") && !loopback {
            return Err(ClientError::Config(format!(
                "server_url must be https:// (plain http only to loopback): {base}"
            )));
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| ClientError::Config(format!("cannot read CA file {}: {e}", path.display())))?;
            for c in certs {
                roots.add(c).map_err(|e| ClientError::Config(format!("CA file {}: {e}", path.display())))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("bposhield-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Self { http, base })
    }

    async fn check(resp: Result<reqwest::Response, reqwest::Error>) -> Result<reqwest::Response, ClientError> {
        let resp = resp.map_err(|e| ClientError::Unreachable(e.to_string()))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let mut body = resp.text().await.unwrap_or_default();
        body.truncate(500);
        Err(ClientError::Refused { status, body })
    }

    async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
        resp.json().await.map_err(|e| ClientError::Unreachable(format!("bad answer: {e}")))
    }

    /// Trades an enrollment token for the host's credential.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        let r = self.http.post(format!("{}/api/v1/agent/enroll", self.base)).json(req).send().await;
        Self::json(Self::check(r).await?).await
    }

    /// A fresh credential.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn rotate(&self, credential: &str) -> Result<RotateResponse, ClientError> {
        let r = self.http.post(format!("{}/api/v1/agent/rotate", self.base)).bearer_auth(credential).send().await;
        Self::json(Self::check(r).await?).await
    }

    /// The host's current signed bundle.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn bundle(&self, credential: &str) -> Result<SignedBundle, ClientError> {
        let r = self.http.get(format!("{}/api/v1/agent/bundle", self.base)).bearer_auth(credential).send().await;
        Self::json(Self::check(r).await?).await
    }

    /// Sends a batch of events (and the heartbeat).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn send(&self, credential: &str, batch: &AgentBatch) -> Result<BatchAck, ClientError> {
        let r = self
            .http
            .post(format!("{}/api/v1/agent/events", self.base))
            .bearer_auth(credential)
            .json(batch)
            .send()
            .await;
        Self::json(Self::check(r).await?).await
    }
}
