//! bposhield recording vault: call recordings and their transcripts encrypted
//! at rest, readable by byte range, destroyed on purge.
//!
//! - [`format`]: the versioned streaming format (AES-256-GCM segments with
//!   position- and end-bound nonces; a detached header holding the wrapped
//!   data key), pure and I/O-free;
//! - [`keys`]: per-object data keys, key-encryption keys (a 0600 keyring
//!   file, or any [`keys::Kek`] such as an external KMS) and rotation;
//! - [`store`]: [`store::Vault`] over `object_store` (local disk or S3):
//!   streaming put, ranged reads, crypto-shredding purge, re-wrap, check.
//!
//! What does not belong here: HTTP, the database, who may read what. The
//! server decides access and records it in the ledger; the vault only keeps
//! the bytes safe. `docs/vault.md` specifies the format.

pub mod error;
pub mod format;
pub mod keys;
pub mod store;

pub use error::VaultError;
pub use format::ObjectId;
pub use keys::Keyring;
pub use store::Vault;
