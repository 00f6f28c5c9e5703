//! The export bundle: a directory an auditor verifies without any database.
//!
//! Layout (all UTF-8 text):
//! - `bundle.json`: `{"format": "bposhield-ledger-bundle/1", "origin", "from", "to"}`
//!   (entries `[from, to)`).
//! - `verifier.key`: the public key the log claims (informational: verification uses the
//!   key the auditor passes, never this file).
//! - `entries.jsonl`: one line per entry: `{"index": n, "entry": "<canonical JSON text>"}`.
//! - `checkpoints/<size>.note`: every signed checkpoint with `from < size`, and the first
//!   checkpoint with `size >= to` (the one the proofs point at).
//! - `proofs.jsonl`: for each entry, its inclusion proof in the final checkpoint;
//!   then the consistency proof between each pair of consecutive checkpoints.

use crate::entry::check_canonical;
use crate::note::{open_checkpoint, unverified_text, Checkpoint, VerifierKey};
use crate::tree::{leaf_hash, verify_consistency, verify_inclusion};
use crate::Hash;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

/// The value of `format` in `bundle.json`.
pub const BUNDLE_FORMAT: &str = "bposhield-ledger-bundle/1";

/// An inclusion proof as exported (JSON: hashes in standard base64).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InclusionProof {
    /// The leaf index.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// PATH(index, D[size]), from the leaf upwards.
    #[serde(with = "b64_hashes")]
    pub hashes: Vec<Hash>,
}

/// A consistency proof as exported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// PROOF(from, D[to]).
    #[serde(with = "b64_hashes")]
    pub hashes: Vec<Hash>,
}

/// One line of `proofs.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProofLine {
    /// `{"kind": "inclusion", "index", "size", "hashes"}`.
    Inclusion(InclusionProof),
    /// `{"kind": "consistency", "from", "to", "hashes"}`.
    Consistency(ConsistencyProof),
}

/// Everything in a bundle, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The log's origin (its checkpoints' first line and key name).
    pub origin: String,
    /// First entry index exported.
    pub from: u64,
    /// One past the last entry index exported.
    pub to: u64,
    /// The verifier key text the log claims (informational).
    pub verifier: String,
    /// `(index, canonical entry text)`, ascending, contiguous from `from` to `to`.
    pub entries: Vec<(u64, String)>,
    /// Signed checkpoint notes, ascending by size.
    pub checkpoints: Vec<String>,
    /// Inclusion proofs, then consistency proofs.
    pub proofs: Vec<ProofLine>,
}

/// Why a bundle cannot be read, written or trusted.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file system error.
    #[error("cannot read the bundle: {0}")]
    Io(#[from] std::io::Error),
    /// A file that does not follow the bundle format (names the file and line).
    #[error("malformed bundle: {0}")]
    Malformed(String),
    /// Verification failed; `index` is the first bad entry when one can be named.
    #[error("verification failed{}: {reason}", index.map(|i| format!(" at entry {i}")).unwrap_or_default())]
    Invalid {
        /// The first bad entry, when the failure is about an entry.
        index: Option<u64>,
        /// What is wrong.
        reason: String,
    },
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Size of the final checkpoint.
    pub final_size: u64,
    /// Root of the final checkpoint.
    pub final_root: Hash,
}

/// Proof hashes as a JSON array of standard base64 strings (with padding), 32 bytes each.
mod b64_hashes {
    use crate::Hash;
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    use serde::de::Error as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hashes: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(hashes.iter().map(|h| B64.encode(h)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|t| {
                let bytes = B64.decode(t).map_err(|_| D::Error::custom("a hash is not standard base64"))?;
                Hash::try_from(bytes.as_slice()).map_err(|_| D::Error::custom("a hash is not 32 bytes"))
            })
            .collect()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    origin: String,
    from: u64,
    to: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryLine {
    index: u64,
    entry: String,
}

/// Parses a proof line (fuzzed).
pub fn parse_proof_line(line: &str) -> Result<ProofLine, BundleError> {
    serde_json::from_str(line).map_err(|e| BundleError::Malformed(e.to_string()))
}

/// The checkpoint body of a signed note, read without checking the signature: only used
/// to name and order files, verification opens every note again with the auditor's key.
fn unverified_checkpoint(note: &str) -> Result<Checkpoint, String> {
    let text = unverified_text(note).map_err(|e| e.to_string())?;
    Checkpoint::parse(text).map_err(|e| e.to_string())
}

/// Writes `b` as a bundle directory at `dir` (created; an existing non-empty directory is
/// an error, so an export never mixes with older files).
pub fn write_bundle(dir: &Path, b: &Bundle) -> Result<(), BundleError> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(BundleError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists and is not empty", dir.display()),
        )));
    }
    let mut names = Vec::with_capacity(b.checkpoints.len());
    for (i, note) in b.checkpoints.iter().enumerate() {
        let cp = unverified_checkpoint(note).map_err(|e| BundleError::Malformed(format!("checkpoint {i}: {e}")))?;
        let name = format!("{}.note", cp.size);
        if names.contains(&name) {
            return Err(BundleError::Malformed(format!("two checkpoints of size {}", cp.size)));
        }
        names.push(name);
    }
    std::fs::create_dir_all(dir.join("checkpoints"))?;

    let manifest = Manifest { format: BUNDLE_FORMAT.to_owned(), origin: b.origin.clone(), from: b.from, to: b.to };
    let mut text = serde_json::to_string_pretty(&manifest).map_err(|e| BundleError::Malformed(e.to_string()))?;
    text.push('\n');
    std::fs::write(dir.join("bundle.json"), text)?;

    std::fs::write(dir.join("verifier.key"), format!("{}\n", b.verifier.trim_end_matches('\n')))?;

    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("entries.jsonl"))?);
    for (index, entry) in &b.entries {
        let line = EntryLine { index: *index, entry: entry.clone() };
        serde_json::to_writer(&mut out, &line).map_err(|e| BundleError::Malformed(e.to_string()))?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;

    for (name, note) in names.iter().zip(&b.checkpoints) {
        std::fs::write(dir.join("checkpoints").join(name), note)?;
    }

    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("proofs.jsonl"))?);
    for proof in &b.proofs {
        serde_json::to_writer(&mut out, proof).map_err(|e| BundleError::Malformed(e.to_string()))?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// The lines of a `.jsonl` file, numbered from 1; the file must end with a newline.
fn jsonl_lines<'a>(file: &str, text: &'a str) -> Result<Vec<(usize, &'a str)>, BundleError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| BundleError::Malformed(format!("{file}: the last line has no newline")))?;
    Ok(body.split('\n').enumerate().map(|(i, l)| (i + 1, l)).collect())
}

/// A canonical decimal (the size part of a checkpoint file name).
fn parse_size(text: &str) -> Option<u64> {
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

/// Reads a bundle directory written by [`write_bundle`] (or any exporter of the format).
pub fn read_bundle(dir: &Path) -> Result<Bundle, BundleError> {
    let manifest_text = std::fs::read_to_string(dir.join("bundle.json"))?;
    let manifest: Manifest =
        serde_json::from_str(&manifest_text).map_err(|e| BundleError::Malformed(format!("bundle.json: {e}")))?;
    if manifest.format != BUNDLE_FORMAT {
        return Err(BundleError::Malformed(format!(
            "bundle.json: unknown format {:?} (expected {BUNDLE_FORMAT})",
            manifest.format
        )));
    }

    let verifier = std::fs::read_to_string(dir.join("verifier.key"))?.trim_end_matches('\n').to_owned();

    let entries_text = std::fs::read_to_string(dir.join("entries.jsonl"))?;
    let mut entries = Vec::new();
    for (n, line) in jsonl_lines("entries.jsonl", &entries_text)? {
        let e: EntryLine =
            serde_json::from_str(line).map_err(|e| BundleError::Malformed(format!("entries.jsonl line {n}: {e}")))?;
        entries.push((e.index, e.entry));
    }

    let mut checkpoints = Vec::new();
    for item in std::fs::read_dir(dir.join("checkpoints"))? {
        let item = item?;
        let file = item.file_name();
        let name = file.to_string_lossy();
        let size = name
            .strip_suffix(".note")
            .and_then(parse_size)
            .ok_or_else(|| BundleError::Malformed(format!("checkpoints/{name}: not a <size>.note file")))?;
        let note = std::fs::read_to_string(item.path())?;
        let cp =
            unverified_checkpoint(&note).map_err(|e| BundleError::Malformed(format!("checkpoints/{name}: {e}")))?;
        if cp.size != size {
            return Err(BundleError::Malformed(format!(
                "checkpoints/{name}: the checkpoint inside has size {}",
                cp.size
            )));
        }
        checkpoints.push((size, note));
    }
    checkpoints.sort_by_key(|(size, _)| *size);

    let proofs_text = std::fs::read_to_string(dir.join("proofs.jsonl"))?;
    let mut proofs = Vec::new();
    for (n, line) in jsonl_lines("proofs.jsonl", &proofs_text)? {
        let proof = parse_proof_line(line).map_err(|e| match e {
            BundleError::Malformed(why) => BundleError::Malformed(format!("proofs.jsonl line {n}: {why}")),
            other => other,
        })?;
        proofs.push(proof);
    }

    Ok(Bundle {
        origin: manifest.origin,
        from: manifest.from,
        to: manifest.to,
        verifier,
        entries,
        checkpoints: checkpoints.into_iter().map(|(_, note)| note).collect(),
        proofs,
    })
}

fn invalid(index: Option<u64>, reason: impl Into<String>) -> BundleError {
    BundleError::Invalid { index, reason: reason.into() }
}

/// Checks every checkpoint's signature with `key`, every entry's canonical form and its
/// inclusion in the final checkpoint, and consistency between consecutive checkpoints.
pub fn verify_bundle(b: &Bundle, key: &VerifierKey) -> Result<BundleReport, BundleError> {
    if b.origin != key.name() {
        return Err(invalid(
            None,
            format!("the bundle's origin {:?} is not the key's name {:?}", b.origin, key.name()),
        ));
    }
    if b.from > b.to {
        return Err(invalid(None, format!("the entry range [{}, {}) is reversed", b.from, b.to)));
    }

    let mut checkpoints: Vec<Checkpoint> = Vec::with_capacity(b.checkpoints.len());
    for (i, note) in b.checkpoints.iter().enumerate() {
        let cp = open_checkpoint(note, key).map_err(|e| invalid(None, format!("checkpoint {i}: {e}")))?;
        if let Some(prev) = checkpoints.last() {
            if cp.size <= prev.size {
                return Err(invalid(
                    None,
                    format!("checkpoint sizes are not strictly ascending ({} then {})", prev.size, cp.size),
                ));
            }
        }
        checkpoints.push(cp);
    }
    let last = checkpoints.last().ok_or_else(|| invalid(None, "the bundle has no checkpoint"))?;
    if last.size < b.to {
        return Err(invalid(None, format!("the final checkpoint (size {}) does not cover entry {}", last.size, b.to)));
    }

    // First occurrence of each proof; a second one for the same thing is refused rather
    // than silently preferring either.
    let mut consistency: HashMap<(u64, u64), Option<&ConsistencyProof>> = HashMap::new();
    let mut inclusion: HashMap<u64, Option<&InclusionProof>> = HashMap::new();
    for proof in &b.proofs {
        match proof {
            ProofLine::Consistency(p) => {
                consistency.entry((p.from, p.to)).and_modify(|e| *e = None).or_insert(Some(p));
            }
            ProofLine::Inclusion(p) if p.size == last.size => {
                inclusion.entry(p.index).and_modify(|e| *e = None).or_insert(Some(p));
            }
            ProofLine::Inclusion(_) => {}
        }
    }

    for pair in checkpoints.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        let proof = match consistency.get(&(old.size, new.size)) {
            Some(Some(p)) => p,
            Some(None) => return Err(invalid(None, format!("two consistency proofs {} -> {}", old.size, new.size))),
            None => return Err(invalid(None, format!("no consistency proof {} -> {}", old.size, new.size))),
        };
        verify_consistency(old.size, new.size, &old.root, &new.root, &proof.hashes)
            .map_err(|e| invalid(None, format!("checkpoints {} -> {}: {e}", old.size, new.size)))?;
    }

    let count = b.to - b.from;
    for k in 0..count {
        let expected = b.from + k;
        let Some((index, text)) = usize::try_from(k).ok().and_then(|k| b.entries.get(k)) else {
            return Err(invalid(Some(expected), "the entry is missing"));
        };
        if *index != expected {
            return Err(invalid(Some(expected), format!("found entry {index} where entry {expected} belongs")));
        }
        check_canonical(text).map_err(|e| invalid(Some(expected), e.to_string()))?;
        let proof = match inclusion.get(&expected) {
            Some(Some(p)) => p,
            Some(None) => return Err(invalid(Some(expected), "two inclusion proofs")),
            None => return Err(invalid(Some(expected), "no inclusion proof in the final checkpoint")),
        };
        verify_inclusion(&leaf_hash(text.as_bytes()), expected, last.size, &proof.hashes, &last.root)
            .map_err(|e| invalid(Some(expected), format!("inclusion in checkpoint {}: {e}", last.size)))?;
    }
    if let Some((index, _)) = usize::try_from(count).ok().and_then(|c| b.entries.get(c)) {
        return Err(invalid(Some(*index), format!("entry {index} is outside [{}, {})", b.from, b.to)));
    }

    Ok(BundleReport {
        entries: count,
        checkpoints: checkpoints.len() as u64,
        final_size: last.size,
        final_root: last.root,
    })
}
