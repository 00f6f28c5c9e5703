#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tests of the ledger engine: known answers, an RFC-text reference implementation, a
//! differential test against the independent `ct-merkle` crate, mutation tests, signed
//! notes (with the Go reference vectors), canonical JSON and bundles.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bposhield_ledger::bundle::{
    parse_proof_line, read_bundle, verify_bundle, write_bundle, Bundle, BundleError, ConsistencyProof, InclusionProof,
    ProofLine,
};
use bposhield_ledger::entry::{canonical_json, check_canonical, digest, EntryError};
use bposhield_ledger::note::{
    key_id, open, open_checkpoint, sign_checkpoint, Checkpoint, NoteError, SignerKey, VerifierKey,
};
use bposhield_ledger::tree::{
    consistency_nodes, consistency_proof, empty_root, fold_range, inclusion_nodes, inclusion_proof, leaf_hash,
    node_hash, range_nodes, root, root_nodes, verify_consistency, verify_inclusion, Frontier, NodeId, ProofError,
};
use bposhield_ledger::Hash;
use proptest::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

// ---------------------------------------------------------------------------------------
// A reference straight from the RFC 9162 §2.1 text, recursive and slow on purpose. It
// uses sha2 directly, not the crate's hashing functions.
// ---------------------------------------------------------------------------------------

fn ref_leaf(d: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(d);
    h.finalize().into()
}

fn ref_node(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// Largest power of two smaller than n (n > 1).
fn ref_k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]).
fn ref_mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => Sha256::digest(b"").into(),
        1 => ref_leaf(&d[0]),
        n => {
            let k = ref_k(n);
            ref_node(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
        }
    }
}

/// PATH(m, D[n]).
fn ref_path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = ref_k(n);
    if m < k {
        let mut p = ref_path(m, &d[..k]);
        p.push(ref_mth(&d[k..]));
        p
    } else {
        let mut p = ref_path(m - k, &d[k..]);
        p.push(ref_mth(&d[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b).
fn ref_subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![ref_mth(d)] };
    }
    let k = ref_k(n);
    if m <= k {
        let mut p = ref_subproof(m, &d[..k], b);
        p.push(ref_mth(&d[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &d[k..], false);
        p.push(ref_mth(&d[..k]));
        p
    }
}

/// PROOF(m, D[n]).
fn ref_proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    ref_subproof(m, d, true)
}

fn leaves(n: usize, salt: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i} salt {salt}").into_bytes()).collect()
}

/// Every complete subtree of the tree over `d`, hashed by the reference.
fn ref_store(d: &[Vec<u8>]) -> HashMap<NodeId, Hash> {
    let mut store = HashMap::new();
    for level in 0..8u8 {
        let width = 1usize << level;
        let mut index = 0usize;
        while (index + 1) * width <= d.len() {
            store.insert(NodeId { level, index: index as u64 }, ref_mth(&d[index * width..(index + 1) * width]));
            index += 1;
        }
    }
    store
}

/// A store filled through [`Frontier::push`], the way a log would fill it.
fn frontier_store(d: &[Vec<u8>]) -> (Frontier, HashMap<NodeId, Hash>) {
    let mut f = Frontier::new();
    let mut store = HashMap::new();
    for e in d {
        for (id, h) in f.push(leaf_hash(e)) {
            assert!(store.insert(id, h).is_none(), "{id:?} reported twice");
        }
    }
    (f, store)
}

fn h(hex_text: &str) -> Hash {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

// ---------------------------------------------------------------------------------------
// Known answers
// ---------------------------------------------------------------------------------------

/// The RFC 6962 test leaves used by the Certificate Transparency implementations.
fn ct_vectors() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|x| hex::decode(x).unwrap())
        .collect()
}

const CT_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn empty_root_is_sha256_of_nothing() {
    assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(root(0, |_| None).unwrap(), empty_root());
    assert_eq!(Frontier::new().root(), empty_root());
    assert_eq!(fold_range(&[]), empty_root());
    assert_eq!(leaf_hash(b"abc"), ref_leaf(b"abc"));
    assert_eq!(node_hash(&[1; 32], &[2; 32]), ref_node(&[1; 32], &[2; 32]));
}

#[test]
fn ct_known_answers() {
    let d = ct_vectors();
    let (mut f, store) = frontier_store(&[]);
    let mut store = store;
    assert_eq!(hex::encode(f.root()), CT_ROOTS[0]);
    for (n, e) in d.iter().enumerate() {
        for (id, hash) in f.push(leaf_hash(e)) {
            store.insert(id, hash);
        }
        assert_eq!(hex::encode(f.root()), CT_ROOTS[n + 1], "size {}", n + 1);
        let size = (n + 1) as u64;
        assert_eq!(hex::encode(root(size, |id| store.get(&id).copied()).unwrap()), CT_ROOTS[n + 1]);
        assert_eq!(hex::encode(ref_mth(&d[..=n])), CT_ROOTS[n + 1]);
    }
    let look = |id: NodeId| store.get(&id).copied();
    let p0 = inclusion_proof(0, 8, look).unwrap();
    assert_eq!(
        p0,
        vec![
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ]
    );
    let p5 = inclusion_proof(5, 8, look).unwrap();
    assert_eq!(
        p5,
        vec![
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ]
    );
    // PROOF(1, D[8]) is the same list as PATH(0, D[8]).
    assert_eq!(consistency_proof(1, 8, look).unwrap(), p0);
    let c25 = consistency_proof(2, 5, look).unwrap();
    assert_eq!(
        c25,
        vec![
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ]
    );
    verify_consistency(2, 5, &h(CT_ROOTS[2]), &h(CT_ROOTS[5]), &c25).unwrap();
    verify_inclusion(&leaf_hash(&d[5]), 5, 8, &p5, &h(CT_ROOTS[8])).unwrap();
}

#[test]
fn matches_the_rfc_text_for_every_small_tree() {
    let d = leaves(64, 1);
    let store = ref_store(&d);
    let (_, pushed) = frontier_store(&d);
    assert_eq!(store, pushed, "Frontier::push reports exactly the complete subtrees");
    let look = |id: NodeId| store.get(&id).copied();
    for n in 1..=64usize {
        let size = n as u64;
        let want_root = ref_mth(&d[..n]);
        assert_eq!(root(size, look).unwrap(), want_root, "root {n}");
        assert_eq!(fold_range(&root_nodes(size).iter().map(|id| store[id]).collect::<Vec<_>>()), want_root);
        for m in 0..n {
            let used = RefCell::new(BTreeSet::new());
            let counting = |id: NodeId| {
                used.borrow_mut().insert(id);
                store.get(&id).copied()
            };
            let p = inclusion_proof(m as u64, size, counting).unwrap();
            assert_eq!(p, ref_path(m, &d[..n]), "PATH({m}, {n})");
            let ids = inclusion_nodes(m as u64, size).unwrap();
            assert_eq!(ids.len(), used.borrow().len(), "no duplicates");
            assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), *used.borrow(), "nodes of PATH({m}, {n})");
            verify_inclusion(&leaf_hash(&d[m]), m as u64, size, &p, &want_root).unwrap();
        }
        for m in 0..=n {
            let used = RefCell::new(BTreeSet::new());
            let counting = |id: NodeId| {
                used.borrow_mut().insert(id);
                store.get(&id).copied()
            };
            let p = consistency_proof(m as u64, size, counting).unwrap();
            let want = if m == 0 || m == n { vec![] } else { ref_proof(m, &d[..n]) };
            assert_eq!(p, want, "PROOF({m}, {n})");
            let ids = consistency_nodes(m as u64, size).unwrap();
            assert_eq!(ids.len(), used.borrow().len());
            assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), *used.borrow(), "nodes of PROOF({m}, {n})");
            verify_consistency(m as u64, size, &ref_mth(&d[..m]), &want_root, &p).unwrap();
        }
    }
}

#[test]
fn range_nodes_are_maximal_aligned_subtrees() {
    for start in 0..70u64 {
        for end in start..70u64 {
            let ids = range_nodes(start, end);
            let mut at = start;
            for id in &ids {
                assert_eq!(id.index << id.level, at, "contiguous and aligned");
                at += 1 << id.level;
            }
            assert_eq!(at, end);
            // Maximal: no two neighbours of equal size could merge into an aligned parent.
            for w in ids.windows(2) {
                assert!(!(w[0].level == w[1].level && w[0].index % 2 == 0), "{start}..{end}: {ids:?}");
            }
        }
    }
    assert_eq!(
        root_nodes(13),
        vec![NodeId { level: 3, index: 0 }, NodeId { level: 2, index: 2 }, NodeId { level: 0, index: 12 }]
    );
}

#[test]
fn requests_out_of_range_are_refused() {
    let none = |_: NodeId| -> Option<Hash> { None };
    assert!(matches!(inclusion_nodes(5, 5), Err(ProofError::InvalidRequest(_))));
    assert!(matches!(inclusion_nodes(0, 0), Err(ProofError::InvalidRequest(_))));
    assert!(matches!(inclusion_proof(7, 3, none), Err(ProofError::InvalidRequest(_))));
    assert!(matches!(consistency_nodes(4, 3), Err(ProofError::InvalidRequest(_))));
    assert!(matches!(consistency_proof(4, 3, none), Err(ProofError::InvalidRequest(_))));
    assert!(matches!(verify_inclusion(&[0; 32], 3, 3, &[], &[0; 32]), Err(ProofError::InvalidRequest(_))));
    assert!(matches!(verify_consistency(4, 3, &[0; 32], &[0; 32], &[]), Err(ProofError::InvalidRequest(_))));
    // Missing nodes are named.
    assert_eq!(root(3, none), Err(ProofError::MissingNode(NodeId { level: 1, index: 0 })));
    assert!(matches!(inclusion_proof(0, 3, none), Err(ProofError::MissingNode(_))));
    assert!(matches!(consistency_proof(1, 3, none), Err(ProofError::MissingNode(_))));
    // Trivial consistency.
    assert_eq!(consistency_proof(0, 9, none), Ok(vec![]));
    assert_eq!(consistency_proof(9, 9, none), Ok(vec![]));
    assert_eq!(consistency_nodes(0, 9), Ok(vec![]));
    verify_consistency(0, 9, &empty_root(), &[7; 32], &[]).unwrap();
    assert!(verify_consistency(0, 9, &empty_root(), &[7; 32], &[[1; 32]]).is_err());
    verify_consistency(9, 9, &[7; 32], &[7; 32], &[]).unwrap();
    assert_eq!(verify_consistency(9, 9, &[7; 32], &[8; 32], &[]), Err(ProofError::RootMismatch));
    assert!(verify_consistency(9, 9, &[7; 32], &[7; 32], &[[7; 32]]).is_err());
}

/// A consistent tree of any size without storing it: every leaf is the same constant
/// except a few `special` ones, so a complete subtree with no special leaf has a hash that
/// depends only on its level, and the others recurse only along the special leaves.
struct Virtual {
    special: Vec<u64>,
    plain: Vec<Hash>,
}

impl Virtual {
    fn new(special: &[u64]) -> Self {
        let mut plain = vec![leaf_hash(b"plain")];
        for l in 1..64 {
            let below = plain[l - 1];
            plain.push(node_hash(&below, &below));
        }
        Self { special: special.to_vec(), plain }
    }

    fn leaf(&self, index: u64) -> Hash {
        if self.special.contains(&index) {
            leaf_hash(format!("special {index}").as_bytes())
        } else {
            self.plain[0]
        }
    }

    fn node(&self, id: NodeId) -> Hash {
        let start = u128::from(id.index) << id.level;
        let end = start + (1u128 << id.level);
        if !self.special.iter().any(|&s| (start..end).contains(&u128::from(s))) {
            return self.plain[usize::from(id.level)];
        }
        if id.level == 0 {
            return self.leaf(id.index);
        }
        let level = id.level - 1;
        node_hash(
            &self.node(NodeId { level, index: id.index * 2 }),
            &self.node(NodeId { level, index: id.index * 2 + 1 }),
        )
    }

    fn root(&self, size: u64) -> Hash {
        root(size, |id| Some(self.node(id))).unwrap()
    }
}

#[test]
fn proofs_on_huge_trees_touch_log_n_nodes() {
    for &size in &[10_000_000u64, 10_000_001, 1 << 40, (1 << 40) + 12345, u64::MAX / 3] {
        let indices = [0, 1, size / 3, size / 2, size - 2, size - 1];
        let v = Virtual::new(&indices);
        let r = v.root(size);
        for &index in &indices {
            let calls = RefCell::new(0usize);
            let p = inclusion_proof(index, size, |id| {
                *calls.borrow_mut() += 1;
                Some(v.node(id))
            })
            .unwrap();
            assert!(*calls.borrow() <= 2 * 64, "{} lookups", calls.borrow());
            assert_eq!(*calls.borrow(), inclusion_nodes(index, size).unwrap().len());
            verify_inclusion(&v.leaf(index), index, size, &p, &r).unwrap();
            let wrong = if index == 0 { 1 } else { index - 1 };
            assert!(verify_inclusion(&v.leaf(index), wrong, size, &p, &r).is_err());
        }
        for &old in &[1, 2, 3, size / 3, size / 2 + 1, size - 1] {
            let calls = RefCell::new(0usize);
            let p = consistency_proof(old, size, |id| {
                *calls.borrow_mut() += 1;
                Some(v.node(id))
            })
            .unwrap();
            assert!(*calls.borrow() <= 2 * 64 + 1);
            assert_eq!(*calls.borrow(), consistency_nodes(old, size).unwrap().len());
            verify_consistency(old, size, &v.root(old), &r, &p).unwrap();
        }
    }
    // 10M entries: the node lists stay around 2·log2(n).
    assert!(inclusion_nodes(9_999_999, 10_000_000).unwrap().len() <= 48);
    assert!(consistency_nodes(5_555_555, 10_000_000).unwrap().len() <= 48);
}

#[test]
fn frontier_reports_completed_nodes_and_round_trips() {
    let d = leaves(100, 3);
    let mut f = Frontier::new();
    for (i, e) in d.iter().enumerate() {
        let done = f.push(leaf_hash(e));
        let size = i as u64 + 1;
        // Exactly the complete subtrees whose last leaf is this one, leaf first, upwards.
        let want: Vec<NodeId> = (0..=size.trailing_zeros())
            .map(|level| NodeId { level: level as u8, index: (size >> level) - 1 })
            .collect();
        assert_eq!(done.iter().map(|(id, _)| *id).collect::<Vec<_>>(), want);
        // The top one is the last of the tree's own complete subtrees.
        assert_eq!(done.last().unwrap().0, *root_nodes(size).last().unwrap());
        for (id, hash) in &done {
            let start = (id.index << id.level) as usize;
            assert_eq!(*hash, ref_mth(&d[start..start + (1 << id.level)]));
        }
        assert_eq!(f.size(), size);
        assert_eq!(f.root(), ref_mth(&d[..=i]));
        assert_eq!(Frontier::ids(size), root_nodes(size));
        let rebuilt = Frontier::from_parts(size, f.hashes().to_vec()).unwrap();
        assert_eq!(rebuilt, f);
    }
    let mut zero_alloc = Frontier::from_parts(100, f.hashes().to_vec()).unwrap();
    let mut seen = vec![];
    zero_alloc.push_with(leaf_hash(b"x"), |id, h| seen.push((id, *h)));
    assert_eq!(seen, f.clone().push(leaf_hash(b"x")));
    assert_eq!(Frontier::from_parts(7, vec![[0; 32]; 2]), Err(ProofError::WrongLength { expected: 3, got: 2 }));
    assert_eq!(Frontier::from_parts(0, vec![]).unwrap(), Frontier::new());
    assert!(Frontier::ids(0).is_empty());
}

// ---------------------------------------------------------------------------------------
// Differential test against ct-merkle 0.1 (an independent RFC 6962 implementation).
//
// ct-merkle hashes a leaf as SHA-256(0x00 ‖ bytes written by `CanonicalSerialize`), and
// its blanket impl for `T: AsRef<[u8]>` writes the raw bytes with no length prefix. So a
// `CtMerkleTree<Sha256, Vec<u8>>` over the same byte strings has the same leaves as
// `leaf_hash(bytes)` here. Its proofs are the RFC's PATH / PROOF lists as concatenated
// 32-byte hashes.
// ---------------------------------------------------------------------------------------

type CtTree = ct_merkle::CtMerkleTree<Sha256, Vec<u8>>;

fn ct_root(hash: &Hash, size: u64) -> ct_merkle::RootHash<Sha256> {
    ct_merkle::RootHash::new(sha2::digest::Output::<Sha256>::clone_from_slice(hash), size as usize)
}

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flatten().copied().collect()
}

fn split32(bytes: &[u8]) -> Vec<Hash> {
    bytes.chunks(32).map(|c| c.try_into().unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn agrees_with_ct_merkle(n in 1usize..300, salt in any::<u8>(), i in any::<prop::sample::Index>(), o in any::<prop::sample::Index>()) {
        let d = leaves(n, salt);
        let mut ct = CtTree::new();
        let mut ct_old_roots = vec![];
        for e in &d {
            ct.push(e.clone());
            ct_old_roots.push(ct.root());
        }
        let (f, store) = frontier_store(&d);
        let look = |id: NodeId| store.get(&id).copied();
        let size = n as u64;
        let our_root = f.root();
        let ct_now = ct.root();
        prop_assert_eq!(ct_now.as_bytes().as_slice(), &our_root[..]);

        let index = i.index(n);
        // ct-merkle's proof, our verifier.
        let theirs = split32(ct.prove_inclusion(index).as_bytes());
        verify_inclusion(&leaf_hash(&d[index]), index as u64, size, &theirs, &our_root).unwrap();
        // Our proof, ct-merkle's verifier.
        let ours = inclusion_proof(index as u64, size, look).unwrap();
        prop_assert_eq!(&ours, &theirs);
        ct_root(&our_root, size)
            .verify_inclusion(&d[index], index, &ct_merkle::inclusion::InclusionProof::from_bytes(concat(&ours)))
            .unwrap();

        // ct-merkle refuses consistency from the empty tree, so old >= 1.
        let old = o.index(n) + 1;
        let old_root = root(old as u64, look).unwrap();
        prop_assert_eq!(ct_old_roots[old - 1].as_bytes().as_slice(), &old_root[..]);
        let theirs = split32(ct.prove_consistency(old).as_bytes());
        verify_consistency(old as u64, size, &old_root, &our_root, &theirs).unwrap();
        let ours = consistency_proof(old as u64, size, look).unwrap();
        prop_assert_eq!(&ours, &theirs);
        ct_root(&our_root, size)
            .verify_consistency(
                &ct_root(&old_root, old as u64),
                &ct_merkle::consistency::ConsistencyProof::from_bytes(concat(&ours)),
            )
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Mutated proofs
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Add(prop::sample::Index, [u8; 32]),
    IndexUp,
    IndexDown,
    SizeUp,
    SizeDown,
    SwapRoots,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 0u8..255).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        (any::<prop::sample::Index>(), any::<[u8; 32]>()).prop_map(|(i, h)| Mutation::Add(i, h)),
        Just(Mutation::IndexUp),
        Just(Mutation::IndexDown),
        Just(Mutation::SizeUp),
        Just(Mutation::SizeDown),
        Just(Mutation::SwapRoots),
    ]
}

fn mutate_list(proof: &mut Vec<Hash>, m: &Mutation) -> bool {
    match m {
        Mutation::FlipBit(i, b) if !proof.is_empty() => {
            let at = i.index(proof.len());
            proof[at][usize::from(*b) / 8] ^= 1 << (b % 8);
            true
        }
        Mutation::Remove(i) if !proof.is_empty() => {
            proof.remove(i.index(proof.len()));
            true
        }
        Mutation::Add(i, h) => {
            proof.insert(i.index(proof.len() + 1), *h);
            true
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_inclusion_proofs_fail(n in 1u64..200, i in any::<prop::sample::Index>(), m in mutation()) {
        // Each size's root is bound to it (as in a signed checkpoint), so a changed size
        // is checked against that size's real root.
        let (_, store) = frontier_store(&leaves(n as usize + 1, 9));
        let look = |id: NodeId| store.get(&id).copied();
        let real_root = |size: u64| root(size, look).unwrap();
        let index = i.index(n as usize) as u64;
        let leaf = store[&NodeId { level: 0, index }];
        let mut proof = inclusion_proof(index, n, look).unwrap();
        let (mut idx, mut size, mut r) = (index, n, real_root(n));
        let mut leaf_used = leaf;
        if !mutate_list(&mut proof, &m) {
            match m {
                Mutation::IndexUp => idx += 1,
                Mutation::IndexDown if idx > 0 => idx -= 1,
                Mutation::IndexDown => idx = n,
                Mutation::SizeUp => { size += 1; r = real_root(size) }
                Mutation::SizeDown => { size -= 1; r = real_root(size) }
                // A one-leaf tree's root is its leaf: swapping them changes nothing.
                Mutation::SwapRoots if n > 1 => { r = leaf; leaf_used = real_root(n) }
                _ => return Ok(()),
            }
        }
        prop_assert!(verify_inclusion(&leaf_used, idx, size, &proof, &r).is_err(), "{:?} accepted", m);
    }

    #[test]
    fn mutated_consistency_proofs_fail(n in 2u64..200, o in any::<prop::sample::Index>(), m in mutation()) {
        let (_, store) = frontier_store(&leaves(n as usize + 1, 11));
        let look = |id: NodeId| store.get(&id).copied();
        let real_root = |size: u64| root(size, look).unwrap();
        let old = o.index(n as usize - 1) as u64 + 1; // 1..n: a non-trivial proof
        let mut proof = consistency_proof(old, n, look).unwrap();
        let (mut a, mut b) = (old, n);
        let mut swap = false;
        if !mutate_list(&mut proof, &m) {
            match m {
                Mutation::IndexUp => a += 1,
                Mutation::IndexDown => a -= 1,
                Mutation::SizeUp => b += 1,
                Mutation::SizeDown => b -= 1,
                Mutation::SwapRoots => swap = true,
                _ => return Ok(()),
            }
        }
        if a > b {
            return Ok(());
        }
        let (mut ra, mut rb) = (real_root(a), real_root(b));
        if swap {
            std::mem::swap(&mut ra, &mut rb);
        }
        prop_assert!(verify_consistency(a, b, &ra, &rb, &proof).is_err(), "{:?} accepted", m);
    }
}

// ---------------------------------------------------------------------------------------
// Signed notes and checkpoints
// ---------------------------------------------------------------------------------------

// The reference vectors of golang.org/x/mod/sumdb/note (note_test.go), the origin of the
// C2SP signed-note format.
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str =
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str =
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#[test]
fn go_reference_note_verifies_and_reproduces() {
    let peter = VerifierKey::parse(PETER_VKEY).unwrap();
    assert_eq!(peter.name(), "PeterNeumann");
    assert_eq!(peter.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(peter.to_string(), PETER_VKEY);
    assert_eq!(PETER_VKEY.parse::<VerifierKey>().unwrap(), peter);

    let note = format!("{TEXT}\n{PETER_SIG}");
    assert_eq!(open(&note, &peter).unwrap(), TEXT);

    // Ed25519 is deterministic, so signing the same text with Go's key file gives Go's bytes.
    let signer = SignerKey::from_file_text(PETER_SKEY).unwrap();
    assert_eq!(signer.to_file_text(), format!("{PETER_SKEY}\n"));
    assert_eq!(SignerKey::from_file_text(&signer.to_file_text()).unwrap().verifier(), peter);
    assert_eq!(signer.verifier(), peter);
    assert_eq!(signer.sign(TEXT).unwrap(), note);

    // Another signer's line is ignored; with its key, that line verifies.
    let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(open(&both, &peter).unwrap(), TEXT);
    assert_eq!(open(&both, &enoch).unwrap(), TEXT);
    assert!(matches!(open(&note, &enoch), Err(NoteError::NoSignatureByKey(_))));

    // Go's "invalid signature" case: four extra base64 characters inside Peter's signature.
    let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert!(matches!(open(&bad, &peter), Err(NoteError::BadSignature(_))));

    // Go's malformed messages (minus the invalid UTF-8 one, which a &str cannot hold).
    for msg in [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{TEXT}\n{}", PETER_SIG.repeat(101)),
    ] {
        assert!(matches!(open(&msg, &peter), Err(NoteError::MalformedNote(_))), "{msg:?}");
    }
    assert_eq!(open(&format!("{TEXT}\n{}", PETER_SIG.repeat(100)), &peter).unwrap(), TEXT);
}

#[test]
fn go_reference_key_manglings_are_refused() {
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i != 0 || j != b.len() {
                assert!(VerifierKey::parse(&PETER_VKEY[i..j]).is_err(), "{}", &PETER_VKEY[i..j]);
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        if let Ok(s) = String::from_utf8(m) {
            assert!(VerifierKey::parse(&s).is_err(), "{s}");
        }
    }
    // Wrong key length and unknown algorithm, each with a matching key hash (Go's cases).
    assert!(VerifierKey::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==").is_err());
    assert!(VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
    let s = PETER_SKEY.as_bytes();
    for i in 0..s.len() {
        let mut m = s.to_vec();
        m[i] += 1;
        if let Ok(t) = String::from_utf8(m) {
            assert!(SignerKey::from_file_text(&t).is_err(), "{t}");
        }
    }
    for j in 1..s.len() {
        assert!(SignerKey::from_file_text(&PETER_SKEY[..j]).is_err());
    }
}

/// Recomputes everything the spec says about our note by hand (sha2 and ed25519-dalek
/// directly, not through `open`), so a bug shared by sign and open cannot hide.
#[test]
fn our_notes_verify_through_an_independent_path() {
    let signer = SignerKey::generate("example.com/bposhield").unwrap();
    let vtext = signer.verifier().to_string();
    let text = "example.com/bposhield\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let note = signer.sign(text).unwrap();

    // Verifier key text: <name>+<8 hex>+<base64(0x01 ‖ key)>.
    let mut parts = vtext.splitn(3, '+');
    let (name, id_hex, material) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    assert_eq!(name, "example.com/bposhield");
    let material = B64.decode(material).unwrap();
    assert_eq!(material.len(), 33);
    assert_eq!(material[0], 0x01);
    let public: [u8; 32] = material[1..].try_into().unwrap();
    // key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4]
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0x0a, 0x01]);
    hasher.update(public);
    let id = hasher.finalize()[..4].to_vec();
    assert_eq!(hex::encode(&id), id_hex);
    assert_eq!(key_id(name, &public).to_vec(), id);

    // Note: text, then an empty line, then "— <name> <base64(id ‖ sig)>\n".
    assert!(note.starts_with(text));
    let rest = &note[text.len()..];
    assert!(rest.starts_with('\n'));
    let line = rest[1..].strip_suffix('\n').unwrap();
    assert!(!line.contains('\n'), "exactly one signature line");
    let line = line.strip_prefix("\u{2014} ").unwrap();
    let (sig_name, sig_b64) = line.split_once(' ').unwrap();
    assert_eq!(sig_name, name);
    let blob = B64.decode(sig_b64).unwrap();
    assert_eq!(blob.len(), 4 + 64);
    assert_eq!(blob[..4], id[..]);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&blob[4..]).unwrap();
    vk.verify_strict(text.as_bytes(), &sig).unwrap();

    assert_eq!(open(&note, &signer.verifier()).unwrap(), text);
}

#[test]
fn tampered_notes_are_rejected_with_the_right_error() {
    let signer = SignerKey::generate("log.example/a").unwrap();
    let key = signer.verifier();
    let text = "hello\nworld\n";
    let note = signer.sign(text).unwrap();
    assert_eq!(open(&note, &key).unwrap(), text);

    // Text changed.
    let t = note.replacen("world", "World", 1);
    assert!(matches!(open(&t, &key), Err(NoteError::BadSignature(_))));
    // Signature changed (one base64 character past the key id).
    let at = note.rfind(' ').unwrap() + 10;
    let mut bytes = note.clone().into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let t = String::from_utf8(bytes).unwrap();
    assert!(matches!(open(&t, &key), Err(NoteError::BadSignature(_))));
    // Another key with another name: its signatures are unknown to us.
    let other = SignerKey::generate("log.example/b").unwrap();
    assert!(matches!(open(&other.sign(text).unwrap(), &key), Err(NoteError::NoSignatureByKey(_))));
    assert!(matches!(open(&note, &other.verifier()), Err(NoteError::NoSignatureByKey(_))));
    // Same name, another key: the key id differs, so the line is not ours.
    let twin = SignerKey::generate("log.example/a").unwrap();
    assert_ne!(twin.verifier().key_id(), key.key_id());
    assert!(matches!(open(&twin.sign(text).unwrap(), &key), Err(NoteError::NoSignatureByKey(_))));
    // Same name and key id but the signature is by another key: a forged line.
    let twin_note = twin.sign(text).unwrap();
    let line = twin_note.lines().last().unwrap();
    let mut blob = B64.decode(line.rsplit(' ').next().unwrap()).unwrap();
    blob[..4].copy_from_slice(&key.key_id());
    let forged = format!("{text}\n— log.example/a {}\n", B64.encode(&blob));
    assert!(matches!(open(&forged, &key), Err(NoteError::BadSignature(_))));
    // A verified signature plus a broken one by the same key: reject the note.
    let doubled = format!("{note}{}", forged.lines().last().unwrap()) + "\n";
    assert!(matches!(open(&doubled, &key), Err(NoteError::BadSignature(_))));
    // Wrong key id in the verifier text.
    let vtext = key.to_string();
    let mut p = vtext.splitn(3, '+');
    let (n, id, m) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
    let wrong = format!("{n}+{}+{m}", if id == "00000000" { "00000001" } else { "00000000" });
    assert!(matches!(VerifierKey::parse(&wrong), Err(NoteError::MalformedKey(_))));
    assert!(
        matches!(VerifierKey::parse(&format!("{n}+{}+{m}", id.to_uppercase())), Err(NoteError::MalformedKey(_)))
            || id.to_uppercase() == id
    );

    // Malformed signature blocks.
    let sig = note.lines().last().unwrap().to_owned();
    for bad in [
        format!("{text}\n"),
        format!("{text}\n\n"),
        format!("{text}\n{sig}"),
        format!("{text}\n{}\n", sig.replacen('—', "-", 1)),
        format!("{text}\n{}\n", sig.replacen(' ', "", 1)),
        format!("{text}\n{}\n", sig.replacen("log.example/a", "log.example+a", 1)),
        format!("{text}\n{}=\n", sig),
        format!("{text}\n— log.example/a AAAA\n"),
        format!("{text}\n— log.example/a  {}\n", sig.rsplit(' ').next().unwrap()),
        format!("{text}\n{sig}\r\n"),
        format!("{text}\n{sig}\n\t\n"),
        "\n\n".to_owned(),
        String::new(),
    ] {
        assert!(matches!(open(&bad, &key), Err(NoteError::MalformedNote(_))), "{bad:?}");
    }
    // Texts that cannot be signed.
    assert!(signer.sign("no newline").is_err());
    assert!(signer.sign("").is_err());
    assert!(signer.sign("tab\there\n").is_err());
    // Texts with blank lines inside are allowed by the spec.
    let spaced = "a\n\nb\n";
    assert_eq!(open(&signer.sign(spaced).unwrap(), &key).unwrap(), spaced);
}

#[test]
fn keys_round_trip_and_hide_secrets() {
    let k = SignerKey::generate("example.org/log").unwrap();
    let file = k.to_file_text();
    assert!(file.starts_with("PRIVATE+KEY+example.org/log+"));
    assert!(file.ends_with('\n'));
    let back = SignerKey::from_file_text(&file).unwrap();
    assert_eq!(back.verifier(), k.verifier());
    assert_eq!(back.to_file_text(), file);
    // PRIVATE+KEY+<name>+<id>+<base64>: the base64 itself may contain '+'.
    let secret = file.trim_end().splitn(5, '+').nth(4).unwrap();
    let debug = format!("{k:?}");
    assert!(debug.contains("example.org/log"));
    assert!(!debug.contains(secret) && !debug.contains(&secret[..12]), "{debug}");
    let v = k.verifier();
    assert_eq!(VerifierKey::parse(&v.to_string()).unwrap(), v);
    for bad in ["", "a b", "a+b", "tab\t", "new\nline"] {
        assert!(matches!(SignerKey::generate(bad), Err(NoteError::MalformedKey(_))), "{bad:?}");
    }
}

#[test]
fn checkpoints_round_trip_and_parse_strictly() {
    let cp = Checkpoint {
        origin: "example.com/log".into(),
        size: 20852163,
        root: [7; 32],
        extensions: vec!["ext one".into()],
    };
    let text = cp.to_text();
    assert_eq!(text, format!("example.com/log\n20852163\n{}\next one\n", B64.encode([7u8; 32])));
    assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
    // The spec's example body parses.
    let spec =
        Checkpoint::parse("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
            .unwrap();
    assert_eq!(spec.size, 20852163);
    assert!(spec.extensions.is_empty());
    let r = B64.encode([7u8; 32]);
    for bad in [
        format!("o\n01\n{r}\n"),
        format!("o\n+1\n{r}\n"),
        format!("o\n-1\n{r}\n"),
        format!("o\n 1\n{r}\n"),
        format!("o\n\n{r}\n"),
        format!("o\n18446744073709551616\n{r}\n"),
        format!("\n1\n{r}\n"),
        format!("o\n1\n{r}"),
        format!("o\n1\n{r}\n\n"),
        format!("o\n1\n{r}\nx\n\ny\n"),
        format!("o\n1\n{}\n", B64.encode([7u8; 31])),
        format!("o\n1\n{}\n", B64.encode([7u8; 33])),
        format!("o\n1\n{}\n", r.trim_end_matches('=')),
        "o\n1\n".to_owned(),
        "o\n".to_owned(),
        String::new(),
    ] {
        assert!(matches!(Checkpoint::parse(&bad), Err(NoteError::MalformedCheckpoint(_))), "{bad:?}");
    }
    assert_eq!(Checkpoint::parse(&format!("o\n0\n{r}\n")).unwrap().size, 0);
    assert_eq!(Checkpoint::parse(&format!("o\n18446744073709551615\n{r}\n")).unwrap().size, u64::MAX);

    let key = SignerKey::generate("example.com/log").unwrap();
    let note = sign_checkpoint(&key, &cp).unwrap();
    assert_eq!(open_checkpoint(&note, &key.verifier()).unwrap(), cp);
    let wrong_origin = Checkpoint { origin: "example.com/other".into(), ..cp.clone() };
    assert!(sign_checkpoint(&key, &wrong_origin).is_err());
    // Signed by the right key, but the origin is not the key's name.
    let note = key.sign(&wrong_origin.to_text()).unwrap();
    assert!(matches!(open_checkpoint(&note, &key.verifier()), Err(NoteError::MalformedCheckpoint(_))));
    let bad_ext = Checkpoint { extensions: vec![String::new()], ..cp.clone() };
    assert!(sign_checkpoint(&key, &bad_ext).is_err());
    let newline_ext = Checkpoint { extensions: vec!["a\nb".into()], ..cp };
    assert!(sign_checkpoint(&key, &newline_ext).is_err());
}

fn fixed_key() -> VerifierKey {
    VerifierKey::parse(PETER_VKEY).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(s in "\\PC*") {
        let _ = Checkpoint::parse(&s);
        let _ = VerifierKey::parse(&s);
        let _ = SignerKey::from_file_text(&s);
        let _ = open(&s, &fixed_key());
        let _ = parse_proof_line(&s);
        let _ = check_canonical(&s);
    }

    #[test]
    fn note_shaped_inputs_never_panic(
        body in "[a-z0-9\n]{0,40}",
        lines in prop::collection::vec("(— |—|-)?[A-Za-z+ ]{0,12}( [A-Za-z0-9+/=]{0,100})?\n?", 0..4),
    ) {
        let s = format!("{body}\n\n{}", lines.concat());
        let _ = open(&s, &fixed_key());
        let _ = Checkpoint::parse(&body);
        let _ = VerifierKey::parse(&lines.concat());
        let _ = SignerKey::from_file_text(&format!("PRIVATE+KEY+{}", lines.concat()));
    }
}

// ---------------------------------------------------------------------------------------
// Canonical JSON
// ---------------------------------------------------------------------------------------

#[test]
fn canonical_json_rules() {
    assert_eq!(
        canonical_json(&json!({"b": 1, "a": [true, null, "x"], "c": {"z": -3, "y": 18446744073709551615u64}})).unwrap(),
        r#"{"a":[true,null,"x"],"b":1,"c":{"y":18446744073709551615,"z":-3}}"#
    );
    // NFC on keys and values.
    assert_eq!(canonical_json(&json!({"e\u{301}": "e\u{301}"})).unwrap(), "{\"\u{e9}\":\"\u{e9}\"}");
    // UTF-16 order: U+1F600 (surrogates D83D..) sorts before U+FF5E, unlike in UTF-8.
    assert_eq!(canonical_json(&json!({"\u{ff5e}": 1, "\u{1f600}": 2})).unwrap(), "{\"\u{1f600}\":2,\"\u{ff5e}\":1}");
    // serde_json's escaping.
    assert_eq!(canonical_json(&json!("q\"b\\n\n\u{1}/é")).unwrap(), "\"q\\\"b\\\\n\\n\\u0001/é\"");
    // Floats anywhere are refused, with where.
    assert_eq!(canonical_json(&json!(1.5)), Err(EntryError::Float("the top level".into())));
    assert_eq!(canonical_json(&json!({"a": [1, {"b/c": 2.0}]})), Err(EntryError::Float("/a/1/b~1c".into())));
    // Keys that collide after NFC.
    assert!(matches!(canonical_json(&json!({"e\u{301}": 1, "\u{e9}": 2})), Err(EntryError::NotCanonical(_))));
    // Deep nesting.
    let deep = json!({"v": 1, "x": [[[{"b": [], "a": {}}]]]});
    assert_eq!(canonical_json(&deep).unwrap(), r#"{"v":1,"x":[[[{"a":{},"b":[]}]]]}"#);
    assert_eq!(digest(&deep).unwrap(), <[u8; 32]>::from(Sha256::digest(canonical_json(&deep).unwrap())));
}

#[test]
fn check_canonical_requires_the_exact_bytes() {
    let ok = r#"{"a":1,"b":[2,"x"]}"#;
    assert_eq!(check_canonical(ok).unwrap(), json!({"a": 1, "b": [2, "x"]}));
    for bad in [
        r#"{"b":1,"a":2}"#,
        r#"{"a": 1}"#,
        "{\"a\":1}\n",
        r#" {"a":1}"#,
        r#"{"a":1,"a":2}"#,
        "{\"e\u{301}\":1}",
        r#"{"a":"\u0041"}"#,
        r#"{"a":1E2}"#,
        r#"{"a":-0}"#,
        r#"{"a":01}"#,
        "",
        "{",
    ] {
        assert!(check_canonical(bad).is_err(), "{bad:?}");
    }
    assert!(matches!(check_canonical(r#"{"a":1.0}"#), Err(EntryError::Float(_))));
}

// ---------------------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------------------

const ORIGIN: &str = "bundle.example/log";

struct Log {
    key: SignerKey,
    entries: Vec<String>,
    store: HashMap<NodeId, Hash>,
}

impl Log {
    fn new(n: usize) -> Self {
        let key = SignerKey::generate(ORIGIN).unwrap();
        let entries: Vec<String> = (0..n)
            .map(|i| canonical_json(&json!({"v": 1, "seq": i, "who": format!("agent {}", i % 7)})).unwrap())
            .collect();
        let mut f = Frontier::new();
        let mut store = HashMap::new();
        for e in &entries {
            f.push_with(leaf_hash(e.as_bytes()), |id, h| {
                store.insert(id, *h);
            });
        }
        Self { key, entries, store }
    }

    fn checkpoint(&self, key: &SignerKey, size: u64) -> String {
        let r = root(size, |id| self.store.get(&id).copied()).unwrap();
        sign_checkpoint(key, &Checkpoint { origin: key.name().into(), size, root: r, extensions: vec![] }).unwrap()
    }

    fn bundle(&self, from: u64, to: u64, sizes: &[u64]) -> Bundle {
        let look = |id: NodeId| self.store.get(&id).copied();
        let last = *sizes.last().unwrap();
        let mut proofs: Vec<ProofLine> = (from..to)
            .map(|i| {
                ProofLine::Inclusion(InclusionProof {
                    index: i,
                    size: last,
                    hashes: inclusion_proof(i, last, look).unwrap(),
                })
            })
            .collect();
        for w in sizes.windows(2) {
            proofs.push(ProofLine::Consistency(ConsistencyProof {
                from: w[0],
                to: w[1],
                hashes: consistency_proof(w[0], w[1], look).unwrap(),
            }));
        }
        Bundle {
            origin: ORIGIN.into(),
            from,
            to,
            verifier: self.key.verifier().to_string(),
            entries: (from..to).map(|i| (i, self.entries[i as usize].clone())).collect(),
            checkpoints: sizes.iter().map(|&s| self.checkpoint(&self.key, s)).collect(),
            proofs,
        }
    }
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let n: u64 = rand::random();
    std::env::temp_dir().join(format!("bposhield-ledger-test-{tag}-{}-{n:016x}", std::process::id()))
}

fn invalid_index(r: Result<bposhield_ledger::bundle::BundleReport, BundleError>) -> Option<u64> {
    match r {
        Err(BundleError::Invalid { index, .. }) => index,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn bundle_round_trip_and_tampering() {
    let log = Log::new(110);
    let key = log.key.verifier();
    let b = log.bundle(0, 100, &[40, 80, 105]);

    let dir = temp_dir("roundtrip");
    write_bundle(&dir, &b).unwrap();
    let back = read_bundle(&dir).unwrap();
    assert_eq!(back, b);
    let report = verify_bundle(&back, &key).unwrap();
    assert_eq!(report.entries, 100);
    assert_eq!(report.checkpoints, 3);
    assert_eq!(report.final_size, 105);
    assert_eq!(report.final_root, root(105, |id| log.store.get(&id).copied()).unwrap());
    // Writing again into a non-empty directory is refused.
    assert!(write_bundle(&dir, &b).is_err());
    std::fs::remove_dir_all(&dir).unwrap();

    // A range not starting at 0 also verifies.
    let mid = log.bundle(30, 60, &[50, 60]);
    verify_bundle(&mid, &key).unwrap();

    // Entry changed (still canonical): inclusion fails at that index.
    let mut t = b.clone();
    t.entries[17].1 = canonical_json(&json!({"v": 1, "seq": 17, "who": "mallory"})).unwrap();
    assert_eq!(invalid_index(verify_bundle(&t, &key)), Some(17));
    // Entry changed into a non-canonical form of the same value.
    let mut t = b.clone();
    t.entries[23].1 = t.entries[23].1.replacen(':', ": ", 1);
    assert_eq!(invalid_index(verify_bundle(&t, &key)), Some(23));
    // Entry removed.
    let mut t = b.clone();
    t.entries.remove(42);
    assert_eq!(invalid_index(verify_bundle(&t, &key)), Some(42));
    let mut t = b.clone();
    t.entries.pop();
    assert_eq!(invalid_index(verify_bundle(&t, &key)), Some(99));
    // Entries reordered (lines swapped, and texts swapped under the same indices).
    let mut t = b.clone();
    t.entries.swap(60, 61);
    assert_eq!(invalid_index(verify_bundle(&t, &key)), Some(60));
    let mut t = b.clone();
    let (x, y) = (t.entries[70].1.clone(), t.entries[71].1.clone());
    t.entries[70].1 = y;
    t.entries[71].1 = x;
    assert_eq!(invalid_index(verify_bundle(&t, &key)), Some(70));
    // An extra entry beyond `to`.
    let mut t = b.clone();
    t.entries.push((100, log.entries[100].clone()));
    assert_eq!(invalid_index(verify_bundle(&t, &key)), Some(100));
    // Missing inclusion proof.
    let mut t = b.clone();
    t.proofs.remove(5);
    assert_eq!(invalid_index(verify_bundle(&t, &key)), Some(5));
    // Checkpoint signature broken.
    let mut t = b.clone();
    let note = &t.checkpoints[1];
    let at = note.rfind(' ').unwrap() + 20;
    let mut bytes = note.clone().into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    t.checkpoints[1] = String::from_utf8(bytes).unwrap();
    assert_eq!(invalid_index(verify_bundle(&t, &key)), None);
    // Checkpoint from another key with the same name.
    let mut t = b.clone();
    let other = SignerKey::generate(ORIGIN).unwrap();
    t.checkpoints[0] = log.checkpoint(&other, 40);
    assert_eq!(invalid_index(verify_bundle(&t, &key)), None);
    // Verifying with another key altogether.
    assert_eq!(invalid_index(verify_bundle(&b, &other.verifier())), None);
    // Missing consistency proof.
    let mut t = b.clone();
    t.proofs.retain(|p| !matches!(p, ProofLine::Consistency(c) if c.from == 40));
    assert_eq!(invalid_index(verify_bundle(&t, &key)), None);
    // Wrong consistency proof.
    let mut t = b.clone();
    if let Some(ProofLine::Consistency(c)) = t.proofs.last_mut() {
        c.hashes[0][0] ^= 1;
    }
    assert_eq!(invalid_index(verify_bundle(&t, &key)), None);
    // Checkpoints out of order.
    let mut t = b.clone();
    t.checkpoints.swap(0, 1);
    assert_eq!(invalid_index(verify_bundle(&t, &key)), None);
    // Final checkpoint too small for the range.
    let mut t = b.clone();
    t.checkpoints.pop();
    assert_eq!(invalid_index(verify_bundle(&t, &key)), None);
    // A signed checkpoint of a forked tree (same size, different root) is inconsistent.
    let mut t = b.clone();
    let forged = Checkpoint { origin: ORIGIN.into(), size: 80, root: [9; 32], extensions: vec![] };
    t.checkpoints[1] = sign_checkpoint(&log.key, &forged).unwrap();
    assert_eq!(invalid_index(verify_bundle(&t, &key)), None);
}

#[test]
fn bundle_files_are_read_strictly() {
    let log = Log::new(12);
    let b = log.bundle(0, 10, &[4, 10]);
    let dir = temp_dir("strict");
    write_bundle(&dir, &b).unwrap();
    let malformed = |file: &str, content: &str, needle: &str| {
        let path = dir.join(file);
        let saved = std::fs::read(&path).unwrap();
        std::fs::write(&path, content).unwrap();
        match read_bundle(&dir) {
            Err(BundleError::Malformed(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{file}: {other:?}"),
        }
        std::fs::write(&path, saved).unwrap();
    };
    let entries = std::fs::read_to_string(dir.join("entries.jsonl")).unwrap();
    malformed(
        "entries.jsonl",
        &entries.replacen("\n", "\nnot json\n", 2).replacen("\nnot json\n", "\n", 1),
        "entries.jsonl line 3",
    );
    malformed("entries.jsonl", entries.trim_end(), "entries.jsonl");
    let proofs = std::fs::read_to_string(dir.join("proofs.jsonl")).unwrap();
    let first_hash = B64.encode(inclusion_proof(0, 10, |id| log.store.get(&id).copied()).unwrap()[0]);
    malformed("proofs.jsonl", &proofs.replacen(&first_hash, "AAAA", 1), "proofs.jsonl line 1");
    malformed("proofs.jsonl", &proofs.replacen("inclusion", "exclusion", 1), "proofs.jsonl line 1");
    malformed("bundle.json", r#"{"format":"other/1","origin":"x","from":0,"to":1}"#, "bundle.json");
    malformed("bundle.json", r#"{"format":"bposhield-ledger-bundle/1","origin":"x","from":0}"#, "bundle.json");
    // A checkpoint file whose name does not match its size.
    std::fs::rename(dir.join("checkpoints/4.note"), dir.join("checkpoints/5.note")).unwrap();
    assert!(matches!(read_bundle(&dir), Err(BundleError::Malformed(m)) if m.contains("checkpoints/5.note")));
    std::fs::rename(dir.join("checkpoints/5.note"), dir.join("checkpoints/04.note")).unwrap();
    assert!(matches!(read_bundle(&dir), Err(BundleError::Malformed(_))));
    std::fs::rename(dir.join("checkpoints/04.note"), dir.join("checkpoints/4.note")).unwrap();
    verify_bundle(&read_bundle(&dir).unwrap(), &log.key.verifier()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn proof_lines_parse_strictly() {
    let h = B64.encode([1u8; 32]);
    let line = format!(r#"{{"kind":"inclusion","index":3,"size":9,"hashes":["{h}"]}}"#);
    assert_eq!(
        parse_proof_line(&line).unwrap(),
        ProofLine::Inclusion(InclusionProof { index: 3, size: 9, hashes: vec![[1; 32]] })
    );
    let line = format!(r#"{{"kind":"consistency","from":3,"to":9,"hashes":["{h}","{h}"]}}"#);
    assert_eq!(
        parse_proof_line(&line).unwrap(),
        ProofLine::Consistency(ConsistencyProof { from: 3, to: 9, hashes: vec![[1; 32]; 2] })
    );
    let round = serde_json::to_string(&parse_proof_line(&line).unwrap()).unwrap();
    assert_eq!(parse_proof_line(&round).unwrap(), parse_proof_line(&line).unwrap());
    for bad in [
        format!(r#"{{"kind":"inclusion","index":3,"size":9,"hashes":["{}"]}}"#, B64.encode([1u8; 31])),
        format!(r#"{{"kind":"inclusion","index":3,"size":9,"hashes":["{}"]}}"#, h.trim_end_matches('=')),
        format!(r#"{{"kind":"inclusion","index":-3,"size":9,"hashes":["{h}"]}}"#),
        format!(r#"{{"kind":"other","index":3,"size":9,"hashes":["{h}"]}}"#),
        r#"{"kind":"inclusion","index":3,"size":9}"#.to_owned(),
        String::new(),
    ] {
        assert!(matches!(parse_proof_line(&bad), Err(BundleError::Malformed(_))), "{bad}");
    }
}

/// Throughput of the append path (run with `--release -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check; run in release"]
fn append_throughput() {
    let entry = [b'x'; 300];
    let n = 2_000_000u64;
    let mut f = Frontier::new();
    let mut rows = 0u64;
    let start = std::time::Instant::now();
    for i in 0..n {
        let mut e = entry;
        e[..8].copy_from_slice(&i.to_le_bytes());
        f.push_with(leaf_hash(&e), |_, _| rows += 1);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{n} leaves ({rows} rows) in {secs:.3}s: {:.0} leaves/s", n as f64 / secs);
    assert_eq!(f.size(), n);
}
