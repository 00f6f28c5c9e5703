//! The tamper-evident ledger of bposhield, as a pure engine (no HTTP, no database).
//!
//! - [`tree`]: RFC 9162 (RFC 6962) Merkle tree hashing, tree heads of any size, inclusion
//!   and consistency proofs built from stored complete subtrees, and their verification.
//! - [`note`]: C2SP signed notes with Ed25519 keys, and `tlog-checkpoint` checkpoints.
//! - [`entry`]: canonical JSON for ledger entries (sorted keys, no floats, NFC).
//! - [`bundle`]: the export bundle an auditor verifies offline with only the public key.
//!
//! Storage is the caller's business: proofs are computed in two steps, first the ids of
//! the complete subtrees a proof needs ([`tree::NodeId`]), then the proof from their
//! hashes, so a database can fetch exactly those rows (O(log n) of them).

pub mod bundle;
pub mod entry;
pub mod note;
pub mod tree;

/// A SHA-256 digest.
pub type Hash = [u8; 32];
