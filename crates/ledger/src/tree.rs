//! RFC 9162 §2.1 Merkle tree: hashing, tree heads, proofs and their verification.
//!
//! Storage model: a *complete subtree* `NodeId { level, index }` covers the leaves
//! `[index << level, (index + 1) << level)`; level 0 nodes are the leaf hashes. A store
//! keeps every complete subtree as it completes (amortized two rows per leaf), so any
//! tree head, inclusion proof or consistency proof for any size needs O(log n) of them.
//!
//! Every subtree the RFC's recursive definitions hash is a range `[a, b)` whose start is
//! aligned to a power of two at least as large as `b - a`. Such a range is exactly the
//! complete subtrees for the set bits of `b - a`, highest first, and its RFC hash is those
//! subtrees folded from the right. Proofs are therefore built as lists of such ranges
//! ([`inclusion_ranges`], [`consistency_ranges`]); only the one range touching the right
//! edge of the tree can be incomplete, which keeps every proof at O(log n) node reads.

use crate::Hash;
use sha2::{Digest, Sha256};

/// One complete subtree of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct NodeId {
    /// Height above the leaves: the subtree covers `2^level` leaves.
    pub level: u8,
    /// Position among the subtrees of this level, from the left.
    pub index: u64,
}

/// Why a proof request or a proof is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// index >= size, old > new, size 0 where a leaf is needed, …
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A node the computation needs was not provided by the lookup.
    #[error("missing subtree {0:?}")]
    MissingNode(NodeId),
    /// Wrong number of proof hashes for the sizes given.
    #[error("proof has the wrong length: expected {expected}, got {got}")]
    WrongLength {
        /// The length the RFC prescribes for these sizes.
        expected: usize,
        /// The length of the proof given.
        got: usize,
    },
    /// The proof does not lead to the expected root(s).
    #[error("proof does not match the root")]
    RootMismatch,
}

/// SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Sha256::new().chain_update([0x00]).chain_update(entry).finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The maximal complete subtrees covering leaves `[start, end)`, left to right (the
/// RFC's recursive split of that range, read off the binary representation).
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    for_range_nodes(start, end, |id| out.push(id));
    out
}

/// Calls `f` for each of [`range_nodes`]`(start, end)` without allocating.
fn for_range_nodes(mut start: u64, end: u64, mut f: impl FnMut(NodeId)) {
    while start < end {
        let fits = 63 - (end - start).leading_zeros();
        let aligned = start.trailing_zeros().min(63);
        let level = fits.min(aligned);
        // `level` <= 63, so the cast and the shift are exact.
        f(NodeId { level: level as u8, index: start >> level });
        start += 1u64 << level;
    }
}

/// The subtree hash of a range from the hashes of its [`range_nodes`], left to right.
pub fn fold_range(hashes: &[Hash]) -> Hash {
    match hashes.split_last() {
        None => empty_root(),
        Some((last, rest)) => rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)),
    }
}

/// Hash of the RFC subtree `[start, end)` read from stored complete subtrees.
fn range_hash(start: u64, end: u64, lookup: &impl Fn(NodeId) -> Option<Hash>) -> Result<Hash, ProofError> {
    // Collected first because the fold runs right to left; at most 64 entries.
    let mut hashes = Vec::with_capacity(8);
    let mut missing = None;
    for_range_nodes(start, end, |id| {
        if missing.is_none() {
            match lookup(id) {
                Some(h) => hashes.push(h),
                None => missing = Some(id),
            }
        }
    });
    match missing {
        Some(id) => Err(ProofError::MissingNode(id)),
        None => Ok(fold_range(&hashes)),
    }
}

/// The complete subtrees whose hashes [`root`] needs for a tree of `size` leaves.
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    range_nodes(0, size)
}

/// The tree head (MTH) of `size` leaves.
pub fn root(size: u64, lookup: impl Fn(NodeId) -> Option<Hash>) -> Result<Hash, ProofError> {
    range_hash(0, size, &lookup)
}

/// Largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The ranges whose hashes form PATH(index, D[0:size]), from the leaf upwards.
fn inclusion_ranges(index: u64, size: u64, mut f: impl FnMut(u64, u64)) {
    // Walks the RFC recursion top-down; the proof lists its elements bottom-up, so the
    // collected ranges are emitted in reverse. The depth is at most 64.
    let mut stack = [(0u64, 0u64); 64];
    let mut depth = 0;
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 && depth < stack.len() {
        let k = split_point(hi - lo);
        if index < lo + k {
            stack[depth] = (lo + k, hi);
            hi = lo + k;
        } else {
            stack[depth] = (lo, lo + k);
            lo += k;
        }
        depth += 1;
    }
    for &(s, e) in stack[..depth].iter().rev() {
        f(s, e);
    }
}

/// The ranges whose hashes form PROOF(old, D[0:new]) for 0 < old < new, in proof order.
fn consistency_ranges(old: u64, new: u64, mut f: impl FnMut(u64, u64)) {
    let mut stack = [(0u64, 0u64); 65];
    let mut depth = 0;
    let (mut lo, mut hi) = (0u64, new);
    // `complete` is the RFC's SUBPROOF flag b: true while the old tree's root is itself a
    // node of the new tree, in which case the verifier already knows its hash.
    let mut complete = true;
    while depth < stack.len() {
        if old == hi {
            if !complete {
                stack[depth] = (lo, hi);
                depth += 1;
            }
            break;
        }
        let k = split_point(hi - lo);
        if old <= lo + k {
            stack[depth] = (lo + k, hi);
            hi = lo + k;
        } else {
            stack[depth] = (lo, lo + k);
            lo += k;
            complete = false;
        }
        depth += 1;
    }
    for &(s, e) in stack[..depth].iter().rev() {
        f(s, e);
    }
}

fn check_inclusion_request(index: u64, size: u64) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::InvalidRequest(format!("leaf index {index} is not below tree size {size}")));
    }
    Ok(())
}

fn check_consistency_request(old: u64, new: u64) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::InvalidRequest(format!("old size {old} is larger than new size {new}")));
    }
    Ok(())
}

/// The complete subtrees an inclusion proof of leaf `index` in a tree of `size` needs.
pub fn inclusion_nodes(index: u64, size: u64) -> Result<Vec<NodeId>, ProofError> {
    check_inclusion_request(index, size)?;
    // The proof's ranges are disjoint, so their nodes never repeat.
    let mut out = Vec::new();
    inclusion_ranges(index, size, |s, e| for_range_nodes(s, e, |id| out.push(id)));
    Ok(out)
}

/// RFC 9162 §2.1.3.1 PATH(index, D[size]), ordered from the leaf upwards.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    lookup: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, ProofError> {
    check_inclusion_request(index, size)?;
    let mut proof = Vec::with_capacity(64);
    let mut result = Ok(());
    inclusion_ranges(index, size, |s, e| {
        if result.is_ok() {
            match range_hash(s, e, &lookup) {
                Ok(h) => proof.push(h),
                Err(err) => result = Err(err),
            }
        }
    });
    result.map(|()| proof)
}

/// The number of hashes PATH(index, D[size]) has.
fn inclusion_len(index: u64, size: u64) -> usize {
    let mut n = 0;
    inclusion_ranges(index, size, |_, _| n += 1);
    n
}

/// RFC 9162 §2.1.3.2 verification of an inclusion proof.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    check_inclusion_request(index, size)?;
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength { expected, got: proof.len() });
    }
    let mut fnode = index;
    let mut snode = size - 1;
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength { expected, got: proof.len() });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength { expected, got: proof.len() });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The complete subtrees a consistency proof from `old` to `new` needs.
pub fn consistency_nodes(old: u64, new: u64) -> Result<Vec<NodeId>, ProofError> {
    check_consistency_request(old, new)?;
    let mut out = Vec::new();
    if old > 0 && old < new {
        // Disjoint ranges again: no node repeats.
        consistency_ranges(old, new, |s, e| for_range_nodes(s, e, |id| out.push(id)));
    }
    Ok(out)
}

/// RFC 9162 §2.1.4.1 PROOF(old, D[new]) (empty when old == new or old == 0).
pub fn consistency_proof(old: u64, new: u64, lookup: impl Fn(NodeId) -> Option<Hash>) -> Result<Vec<Hash>, ProofError> {
    check_consistency_request(old, new)?;
    let mut proof = Vec::with_capacity(64);
    if old == 0 || old == new {
        return Ok(proof);
    }
    let mut result = Ok(());
    consistency_ranges(old, new, |s, e| {
        if result.is_ok() {
            match range_hash(s, e, &lookup) {
                Ok(h) => proof.push(h),
                Err(err) => result = Err(err),
            }
        }
    });
    result.map(|()| proof)
}

/// RFC 9162 §2.1.4.2 verification of a consistency proof.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    check_consistency_request(old, new)?;
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { expected: 0, got: proof.len() });
        }
        return if old_root == new_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if old == 0 {
        // Every tree extends the empty tree; RFC 9162 defines no proof for it.
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::WrongLength { expected: 0, got: proof.len() }) };
    }
    let mut expected = 0;
    consistency_ranges(old, new, |_, _| expected += 1);
    let wrong_length = ProofError::WrongLength { expected, got: proof.len() };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    // Step 2: when the old tree is a complete subtree of the new one, its root is the
    // implicit first element of the path.
    let (first, rest): (&Hash, &[Hash]) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some(split) => split,
            None => return Err(wrong_length),
        }
    };
    let mut fnode = old - 1;
    let mut snode = new - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if snode == 0 {
            return Err(wrong_length);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(wrong_length);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree (one hash per set bit of `size`, highest level first):
/// appends in O(1) amortized and reports the complete subtrees each append finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Hashes of [`root_nodes`]`(size)`, in that order.
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self { size: 0, hashes: Vec::with_capacity(64) }
    }

    /// The ids of the complete subtrees that make up a tree of `size` (= [`root_nodes`]).
    pub fn ids(size: u64) -> Vec<NodeId> {
        root_nodes(size)
    }

    /// Rebuilds the frontier of a tree of `size` from the hashes of [`Frontier::ids`].
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(ProofError::WrongLength { expected, got: hashes.len() });
        }
        Ok(Self { size, hashes })
    }

    /// Appends a leaf hash; returns every complete subtree this append finished, the leaf
    /// itself (level 0) first, then upwards.
    pub fn push(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let mut out = Vec::with_capacity(1 + self.size.trailing_ones() as usize);
        self.push_with(leaf, |id, h| out.push((id, *h)));
        out
    }

    /// [`Frontier::push`] without allocating: calls `f` for each finished subtree, in the
    /// same order.
    pub fn push_with(&mut self, leaf: Hash, mut f: impl FnMut(NodeId, &Hash)) {
        let old = self.size;
        let new = old.wrapping_add(1);
        f(NodeId { level: 0, index: old }, &leaf);
        let mut h = leaf;
        let mut level = 0u32;
        // Each trailing one bit of the old size is a complete subtree on the right edge
        // that the new leaf's subtree now pairs with.
        while level < 64 && (old >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            h = node_hash(&left, &h);
            level += 1;
            f(NodeId { level: level as u8, index: (new >> level).wrapping_sub(1) }, &h);
        }
        self.hashes.push(h);
        self.size = new;
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree head now.
    pub fn root(&self) -> Hash {
        fold_range(&self.hashes)
    }

    /// The hashes of [`Frontier::ids`]`(self.size())`, in that order (what a store keeps to
    /// call [`Frontier::from_parts`] later).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }
}
