//! The rustls client configuration shared by LDAPS/StartTLS and https: the ring provider
//! (the workspace's), the system's trust store plus an optional private CA file, which is
//! how on-premises directories and PACS servers are usually certified.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::ConnectorError;

/// A client config trusting the system roots and the PEM certificates of `ca_file`.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ConnectorError> {
    let mut roots = rustls::RootCertStore::empty();
    // A broken system store is not fatal when a CA file is given; an empty store with no CA
    // file is reported when the handshake fails.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| ConnectorError::Config(format!("cannot read CA file {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(ConnectorError::Config(format!("CA file {} holds no certificate", path.display())));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ConnectorError::Config(format!("CA file {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectorError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
