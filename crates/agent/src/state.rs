//! What the agent keeps between runs, in its state directory (0700, files 0600):
//! `identity.json` (host id, credential, offline key, the server's bundle key),
//! `bundle.json` (the last good signed bundle, verified again at every load) and
//! `grants.json` (exceptions allowed by offline response codes, and the challenges
//! already honoured). Every write goes through a temporary file and a rename, so a
//! crash leaves the old file or the new one, never half of one.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// The host's enrollment.
#[derive(Clone, Serialize, Deserialize)]
pub struct Identity {
    pub server_url: String,
    pub host_id: bposhield_proto::HostId,
    pub credential: String,
    /// Base64, 32 bytes: verifies offline response codes.
    pub offline_key: String,
    /// The server's Ed25519 bundle key, base64.
    pub bundle_key: String,
    /// When the credential was last rotated (Unix seconds).
    pub rotated_at: i64,
}

impl std::fmt::Debug for Identity {
    // The credential and the offline key are secrets: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("server_url", &self.server_url)
            .field("host_id", &self.host_id)
            .field("bundle_key", &self.bundle_key)
            .field("rotated_at", &self.rotated_at)
            .finish_non_exhaustive()
    }
}

/// An exception granted by an offline response code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineGrant {
    pub device_hash: String,
    pub expires_at: i64,
    pub challenge: String,
}

/// Offline grants and honoured challenges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    pub grants: Vec<OfflineGrant>,
    /// Challenges whose code was accepted, with when they stop mattering.
    pub used: Vec<(String, i64)>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub dir: PathBuf,
}

impl StateDir {
    /// Opens (creating, 0700) the state directory.
    ///
    /// # Errors
    /// When it cannot be created or its mode set.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("BPS-AGT-0003: cannot create {}: {e}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| anyhow::anyhow!("BPS-AGT-0003: cannot restrict {}: {e}", dir.display()))?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// Reads a JSON file of the state; `None` when absent.
    ///
    /// # Errors
    /// When it exists but cannot be read or parsed.
    pub fn read<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Option<T>> {
        let path = self.dir.join(name);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("BPS-AGT-0004: {} is damaged: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("BPS-AGT-0004: cannot read {}: {e}", path.display())),
        }
    }

    /// Writes a JSON file of the state atomically, 0600.
    ///
    /// # Errors
    /// On any I/O failure (the old file is then intact).
    pub fn write<T: Serialize>(&self, name: &str, value: &T) -> anyhow::Result<()> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let body = serde_json::to_vec_pretty(value)?;
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path)?;
        // The rename is durable once the directory is.
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}
