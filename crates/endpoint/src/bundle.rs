//! Signed policy bundles: the server signs, the agent verifies before it enforces.
//!
//! The signature covers a domain tag and the payload's exact bytes, so the agent checks
//! what was signed, not a re-serialisation of it. The agent then refuses a bundle for
//! another host, one past its expiry (a replayed old bundle) and one older than the
//! bundle it already enforces (rollback); in each case it keeps its last good bundle.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bposhield_proto::fleet::{Bundle, SignedBundle};
use bposhield_proto::HostId;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

/// Prefixed to the payload before signing: a bundle signature can never be mistaken
/// for a signature over anything else the key might sign.
const DOMAIN: &[u8] = b"bposhield-bundle-v1\n";

/// Why a bundle was refused. Codes are stable (`BPS-AGT-01xx`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("BPS-AGT-0101: the bundle's signature does not verify with the server's key")]
    BadSignature,
    #[error("BPS-AGT-0102: the bundle is malformed: {0}")]
    Malformed(String),
    #[error("BPS-AGT-0103: the bundle is for host {got}, this host is {want}")]
    WrongHost { want: HostId, got: HostId },
    #[error("BPS-AGT-0104: the bundle expired at {expires_at} (now {now}); keeping the last good one")]
    Stale { expires_at: i64, now: i64 },
    #[error("BPS-AGT-0105: the bundle's version {got} is older than the enforced version {have} (rollback refused)")]
    Rollback { have: i64, got: i64 },
    #[error("BPS-AGT-0106: the server's bundle key is not a valid Ed25519 public key")]
    BadKey,
}

/// The server's signing side.
pub struct BundleSigner {
    key: SigningKey,
}

impl std::fmt::Debug for BundleSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleSigner").field("public_key", &self.public_key_b64()).finish_non_exhaustive()
    }
}

impl BundleSigner {
    /// A signer from a 32-byte secret seed (kept by the server in its data directory).
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(seed) }
    }

    /// The public key agents pin at enrollment, base64.
    #[must_use]
    pub fn public_key_b64(&self) -> String {
        B64.encode(self.key.verifying_key().as_bytes())
    }

    /// Serialises and signs a bundle.
    #[must_use]
    pub fn sign(&self, bundle: &Bundle) -> SignedBundle {
        // Serialising plain data with string keys cannot fail.
        let payload = serde_json::to_string(bundle).unwrap_or_default();
        let sig = self.key.sign(&tagged(&payload));
        SignedBundle { payload, signature: B64.encode(sig.to_bytes()) }
    }
}

fn tagged(payload: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + payload.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(payload.as_bytes());
    m
}

/// Verifies a signed bundle for `host` at `now`, given the version already enforced
/// (`0` when none). The same version is accepted again (a re-pull after a restart).
///
/// # Errors
/// A [`BundleError`] saying why the bundle must not be enforced.
pub fn verify(signed: &SignedBundle, key_b64: &str, host: HostId, now: i64, have: i64) -> Result<Bundle, BundleError> {
    let key: [u8; 32] = B64.decode(key_b64).ok().and_then(|k| k.try_into().ok()).ok_or(BundleError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| BundleError::BadKey)?;
    let sig: [u8; 64] =
        B64.decode(&signed.signature).ok().and_then(|s| s.try_into().ok()).ok_or(BundleError::BadSignature)?;
    key.verify(&tagged(&signed.payload), &Signature::from_bytes(&sig)).map_err(|_| BundleError::BadSignature)?;
    let bundle: Bundle = serde_json::from_str(&signed.payload).map_err(|e| BundleError::Malformed(e.to_string()))?;
    if bundle.host_id != host {
        return Err(BundleError::WrongHost { want: host, got: bundle.host_id });
    }
    if bundle.expires_at <= now {
        return Err(BundleError::Stale { expires_at: bundle.expires_at, now });
    }
    if bundle.version < have {
        return Err(BundleError::Rollback { have, got: bundle.version });
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(host: HostId, version: i64) -> Bundle {
        Bundle {
            version,
            host_id: host,
            issued_at: 100,
            expires_at: 1_000,
            usb_enforce: true,
            usb_rules: "allow with-interface equals { 03:*:* }\n".into(),
            sca_policies: vec![],
            exceptions: vec![],
            scan_interval_seconds: 3600,
            heartbeat_seconds: 60,
        }
    }

    #[test]
    fn signed_bundle_verifies_and_every_tamper_is_refused() {
        let signer = BundleSigner::from_seed(&[7; 32]);
        let key = signer.public_key_b64();
        let host = HostId::new_v7(1);
        let signed = signer.sign(&bundle(host, 5));
        assert_eq!(verify(&signed, &key, host, 500, 4), Ok(bundle(host, 5)));
        assert_eq!(verify(&signed, &key, host, 500, 5), Ok(bundle(host, 5)));

        let mut t = signed.clone();
        t.payload = t.payload.replace("true", "false");
        assert_eq!(verify(&t, &key, host, 500, 0), Err(BundleError::BadSignature));
        let mut t = signed.clone();
        t.signature = B64.encode([0u8; 64]);
        assert_eq!(verify(&t, &key, host, 500, 0), Err(BundleError::BadSignature));
        let mut t = signed.clone();
        t.signature = "not base64".into();
        assert_eq!(verify(&t, &key, host, 500, 0), Err(BundleError::BadSignature));
        let other = BundleSigner::from_seed(&[8; 32]).public_key_b64();
        assert_eq!(verify(&signed, &other, host, 500, 0), Err(BundleError::BadSignature));
        assert_eq!(verify(&signed, "x", host, 500, 0), Err(BundleError::BadKey));

        let elsewhere = HostId::new_v7(2);
        assert!(matches!(verify(&signed, &key, elsewhere, 500, 0), Err(BundleError::WrongHost { .. })));
        assert_eq!(verify(&signed, &key, host, 1_000, 0), Err(BundleError::Stale { expires_at: 1_000, now: 1_000 }));
        assert_eq!(verify(&signed, &key, host, 500, 6), Err(BundleError::Rollback { have: 6, got: 5 }));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = format!("{:?}", BundleSigner::from_seed(&[7; 32]));
        assert!(!s.contains("0707") && s.contains("public_key"), "{s}");
    }
}
