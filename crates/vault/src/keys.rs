//! Envelope keys. Every object has its own random data key; a key-encryption
//! key (KEK) wraps it into the object's header. KEKs live in a **keyring
//! file** (mode 0600, in the data directory or given by a `*_FILE` path): one
//! line per KEK, the last one current. Rotation appends a KEK and re-wraps the
//! headers; the media are never re-encrypted.
//!
//! [`Kek`] is a trait so that an external KMS (which wraps and unwraps
//! remotely and never hands out the KEK) can stand in for the local file.

use crate::error::VaultError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Fills `b` from the system's secure random generator.
///
/// # Errors
/// [`VaultError::Random`] if it fails.
pub fn fill_random(b: &mut [u8]) -> Result<(), VaultError> {
    SystemRandom::new().fill(b).map_err(|_| VaultError::Random)
}

/// An object's data key: 32 bytes, wiped when dropped.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random key.
    ///
    /// # Errors
    /// [`VaultError::Random`].
    pub fn random() -> Result<Self, VaultError> {
        let mut k = Zeroizing::new([0u8; 32]);
        fill_random(k.as_mut())?;
        Ok(Self(k))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A key-encryption key: wraps and unwraps data keys, bound to the bytes of
/// the header they belong to.
pub trait Kek: Send + Sync {
    /// The id written into headers (1 to 64 bytes of `[A-Za-z0-9._-]`).
    fn id(&self) -> &str;
    /// Wraps `dek`, binding it to `bound`; returns the nonce and the 48 bytes.
    ///
    /// # Errors
    /// Whatever the key's holder reports.
    fn wrap(&self, dek: &DataKey, bound: &[u8]) -> Result<([u8; 12], [u8; 48]), VaultError>;
    /// Unwraps a data key wrapped by [`Kek::wrap`] with the same `bound`.
    ///
    /// # Errors
    /// [`VaultError::KeyUnwrap`] when it does not authenticate.
    fn unwrap(&self, nonce: &[u8; 12], wrapped: &[u8; 48], bound: &[u8]) -> Result<DataKey, VaultError>;
}

/// A KEK held in memory (from the keyring file): AES-256-GCM key wrap with a
/// random nonce.
pub struct LocalKek {
    id: String,
    key: LessSafeKey,
}

impl LocalKek {
    /// A KEK with id `id` and key bytes `key`.
    ///
    /// # Errors
    /// [`VaultError::Keyring`] for a bad id.
    pub fn new(id: &str, key: &[u8; 32]) -> Result<Self, VaultError> {
        check_id(id)?;
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| VaultError::Random)?);
        Ok(Self { id: id.to_owned(), key })
    }
}

fn check_id(id: &str) -> Result<(), VaultError> {
    let ok = !id.is_empty()
        && id.len() <= crate::format::MAX_KEK_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(VaultError::Keyring(format!("`{id}` is not a key id (1-64 of A-Z a-z 0-9 . _ -)")))
    }
}

impl Kek for LocalKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, dek: &DataKey, bound: &[u8]) -> Result<([u8; 12], [u8; 48]), VaultError> {
        let mut nonce = [0u8; 12];
        fill_random(&mut nonce)?;
        let mut buf = Zeroizing::new(*dek.bytes());
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(bound), buf.as_mut())
            .map_err(|_| VaultError::Random)?;
        let mut out = [0u8; 48];
        out[..32].copy_from_slice(buf.as_ref());
        out[32..].copy_from_slice(tag.as_ref());
        Ok((nonce, out))
    }

    fn unwrap(&self, nonce: &[u8; 12], wrapped: &[u8; 48], bound: &[u8]) -> Result<DataKey, VaultError> {
        let mut buf = Zeroizing::new(*wrapped);
        let plain = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(bound), buf.as_mut())
            .map_err(|_| VaultError::KeyUnwrap(self.id.clone()))?;
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(plain);
        Ok(DataKey(k))
    }
}

/// The KEKs a vault knows; the last one is current (wraps new data keys).
#[derive(Clone)]
pub struct Keyring {
    keks: Vec<Arc<dyn Kek>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids only: key bytes never reach a log.
        f.debug_list().entries(self.keks.iter().map(|k| k.id().to_owned())).finish()
    }
}

/// First word of every key line in a keyring file.
const LINE_TAG: &str = "bposhield-vault-kek-v1";

impl Keyring {
    /// A keyring of the given KEKs (at least one; the last is current).
    ///
    /// # Errors
    /// [`VaultError::Keyring`] when empty or when two share an id.
    pub fn new(keks: Vec<Arc<dyn Kek>>) -> Result<Self, VaultError> {
        if keks.is_empty() {
            return Err(VaultError::Keyring("no key-encryption key".into()));
        }
        for (i, k) in keks.iter().enumerate() {
            if keks[..i].iter().any(|o| o.id() == k.id()) {
                return Err(VaultError::Keyring(format!("key id `{}` appears twice", k.id())));
            }
        }
        Ok(Self { keks })
    }

    /// The KEK that wraps new data keys.
    #[must_use]
    pub fn current(&self) -> &Arc<dyn Kek> {
        // `new` refuses an empty list.
        &self.keks[self.keks.len() - 1]
    }

    /// The KEK with id `id`.
    ///
    /// # Errors
    /// [`VaultError::KeyUnavailable`].
    pub fn get(&self, id: &str) -> Result<&Arc<dyn Kek>, VaultError> {
        self.keks.iter().find(|k| k.id() == id).ok_or_else(|| VaultError::KeyUnavailable(id.to_owned()))
    }

    /// Ids, oldest first.
    #[must_use]
    pub fn ids(&self) -> Vec<String> {
        self.keks.iter().map(|k| k.id().to_owned()).collect()
    }

    /// Parses a keyring file's text: lines `bposhield-vault-kek-v1 ID HEX64`,
    /// `#` comments and blank lines ignored.
    ///
    /// # Errors
    /// [`VaultError::Keyring`] naming the bad line (never echoing key bytes).
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let mut keks: Vec<Arc<dyn Kek>> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| VaultError::Keyring(format!("line {}: {why}", n + 1));
            let mut parts = line.split_whitespace();
            if parts.next() != Some(LINE_TAG) {
                return Err(bad(&format!("expected `{LINE_TAG} ID KEY`")));
            }
            let (Some(id), Some(key), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad(&format!("expected `{LINE_TAG} ID KEY`")));
            };
            let mut k = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(key, k.as_mut()).map_err(|_| bad("the key is not 64 hex digits"))?;
            keks.push(Arc::new(LocalKek::new(id, &k).map_err(|e| bad(&e.to_string()))?));
        }
        Self::new(keks)
    }

    /// Loads a keyring file, refusing one that group or others may read or
    /// write (as `ssh` does for private keys).
    ///
    /// # Errors
    /// [`VaultError::Keyring`].
    pub fn load(path: &Path) -> Result<Self, VaultError> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| VaultError::Keyring(format!("{shown}: {e}")))?;
        check_private(path, &meta)?;
        let text =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| VaultError::Keyring(format!("{shown}: {e}")))?);
        Self::parse(&text).map_err(|e| VaultError::Keyring(format!("{shown}: {e}")))
    }

    /// Loads the keyring at `path`, creating it with one fresh KEK (mode
    /// 0600, written to a temporary file and renamed) when it does not exist.
    ///
    /// # Errors
    /// [`VaultError::Keyring`].
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        if !path.exists() {
            let line = new_key_line(&fresh_id(1))?;
            write_private(
                path,
                &format!("# bposhield vault key-encryption keys; the last line is current\n{}", *line),
            )?;
        }
        Self::load(path)
    }

    /// Rotation, step one: appends a fresh KEK to the keyring file at `path`
    /// (it becomes current) and returns the new keyring. Step two is
    /// `Vault::rewrap`.
    ///
    /// # Errors
    /// [`VaultError::Keyring`].
    pub fn add_to_file(path: &Path) -> Result<Self, VaultError> {
        let old = Self::load(path)?;
        let text = Zeroizing::new(std::fs::read_to_string(path)?);
        let mut n = old.keks.len() + 1;
        while old.ids().contains(&fresh_id(n)) {
            n += 1;
        }
        let line = new_key_line(&fresh_id(n))?;
        let mut body = Zeroizing::new(String::with_capacity(text.len() + line.len() + 1));
        body.push_str(&text);
        if !body.ends_with('\n') {
            body.push('\n');
        }
        body.push_str(&line);
        write_private(path, &body)?;
        Self::load(path)
    }

    /// Removes from the keyring file every KEK but the current one (after a
    /// complete `Vault::rewrap`, nothing needs them).
    ///
    /// # Errors
    /// [`VaultError::Keyring`].
    pub fn retire_old_in_file(path: &Path) -> Result<Vec<String>, VaultError> {
        let ring = Self::load(path)?;
        let text = Zeroizing::new(std::fs::read_to_string(path)?);
        let current = ring.current().id().to_owned();
        let mut kept = Zeroizing::new(String::new());
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if w.next() == Some(LINE_TAG) && w.next() != Some(current.as_str()) {
                continue;
            }
            kept.push_str(line);
            kept.push('\n');
        }
        write_private(path, &kept)?;
        Ok(ring.ids().into_iter().filter(|i| *i != current).collect())
    }
}

fn fresh_id(n: usize) -> String {
    format!("kek-{n}")
}

fn new_key_line(id: &str) -> Result<Zeroizing<String>, VaultError> {
    let mut k = Zeroizing::new([0u8; 32]);
    fill_random(k.as_mut())?;
    Ok(Zeroizing::new(format!("{LINE_TAG} {id} {}\n", hex::encode(k.as_ref()))))
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::Keyring(format!(
            "{} has mode {mode:o}: group and others must have no access (chmod 600)",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &std::fs::Metadata) -> Result<(), VaultError> {
    Ok(())
}

/// Writes `text` to `path` with mode 0600, through a temporary file in the
/// same directory and a rename, so a crash never leaves half a keyring.
fn write_private(path: &Path, text: &str) -> Result<(), VaultError> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("keyring")));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_is_bound_to_the_header_bytes() {
        let kek = LocalKek::new("kek-1", &[9; 32]).unwrap_or_else(|e| panic!("{e}"));
        let dek = DataKey::random().unwrap_or_else(|e| panic!("{e}"));
        let (n, w) = kek.wrap(&dek, b"header").unwrap_or_else(|e| panic!("{e}"));
        let back = kek.unwrap(&n, &w, b"header").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.bytes(), dek.bytes());
        assert!(matches!(kek.unwrap(&n, &w, b"headeR"), Err(VaultError::KeyUnwrap(_))));
        let other = LocalKek::new("kek-1", &[8; 32]).unwrap_or_else(|e| panic!("{e}"));
        assert!(other.unwrap(&n, &w, b"header").is_err());
    }

    #[test]
    fn keyring_file_lines_are_checked() {
        let good = format!("# c\n\n{LINE_TAG} a {}\n{LINE_TAG} b {}\n", "11".repeat(32), "22".repeat(32));
        let r = Keyring::parse(&good).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.ids(), ["a", "b"]);
        assert_eq!(r.current().id(), "b");
        for (bad, why) in [
            ("", "no key"),
            ("kek a 11", "line 1"),
            (&*format!("{LINE_TAG} a 1122"), "64 hex"),
            (&*format!("{LINE_TAG} a/b {}", "11".repeat(32)), "not a key id"),
            (&*format!("{LINE_TAG} a {k}\n{LINE_TAG} a {k}", k = "11".repeat(32)), "twice"),
        ] {
            let e = Keyring::parse(bad).map(|_| ()).unwrap_err_or_panic();
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(!e.contains("1111"), "key bytes echoed: {e}");
        }
    }

    trait ErrOrPanic {
        fn unwrap_err_or_panic(self) -> String;
    }
    impl ErrOrPanic for Result<(), VaultError> {
        fn unwrap_err_or_panic(self) -> String {
            match self {
                Ok(()) => panic!("accepted"),
                Err(e) => e.to_string(),
            }
        }
    }

    #[test]
    fn keyring_file_is_private_rotates_and_retires() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("vault.keys");
        let r = Keyring::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.ids(), ["kek-1"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap_or_else(|e| panic!("{e}"));
            let e = Keyring::load(&path).map(|_| ()).unwrap_err_or_panic();
            assert!(e.contains("chmod 600"), "{e}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap_or_else(|e| panic!("{e}"));
        }
        let r2 = Keyring::add_to_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r2.ids(), ["kek-1", "kek-2"]);
        assert_eq!(Keyring::retire_old_in_file(&path).unwrap_or_else(|e| panic!("{e}")), ["kek-1"]);
        assert_eq!(Keyring::load(&path).map(|r| r.ids()).unwrap_or_default(), ["kek-2"]);
    }
}
