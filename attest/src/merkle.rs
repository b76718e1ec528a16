//! RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs: what makes an
//! append-only log tamper-evident. Leaves are hashed as `SHA-256(0x00 || data)` and interior
//! nodes as `SHA-256(0x01 || left || right)`, so a leaf can never pass for a node.
//!
//! Proof generation works over the leaf hashes of the first `n` entries; verification needs
//! only the proof, the sizes and the roots, and is what an auditor runs.

use sha2::{Digest as _, Sha256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree sizes {from} → {to} do not grow")]
    SizesOutOfOrder { from: u64, to: u64 },
    #[error("proof has {got} hashes; this shape needs {want}")]
    WrongLength { got: usize, want: usize },
    #[error("proof does not lead to the expected root")]
    RootMismatch,
}

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Leaf hashes a tree can be built over: a slice (computed on demand) or a [`MerkleLog`]
/// (complete subtrees kept, so roots and proofs cost O(log n) lookups).
pub trait Leaves {
    fn count(&self) -> usize;
    /// MTH of the leaves `start..end` (end > start).
    fn range_root(&self, start: usize, end: usize) -> Hash;
}

impl Leaves for [Hash] {
    fn count(&self) -> usize {
        self.len()
    }
    fn range_root(&self, start: usize, end: usize) -> Hash {
        root(&self[start..end])
    }
}

/// MTH over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162
/// §2.1.3.1).
pub fn inclusion_proof<L: Leaves + ?Sized>(
    leaves: &L,
    index: usize,
    size: usize,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size || size > leaves.count() {
        return Err(ProofError::IndexOutOfRange {
            index: index as u64,
            size: size as u64,
        });
    }
    let mut out = Vec::new();
    path(leaves, 0, size, index, &mut out);
    Ok(out)
}

fn path<L: Leaves + ?Sized>(l: &L, start: usize, end: usize, m: usize, out: &mut Vec<Hash>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(l, start, start + k, m, out);
        out.push(l.range_root(start + k, end));
    } else {
        path(l, start + k, end, m - k, out);
        out.push(l.range_root(start, start + k));
    }
}

/// The proof that the tree of the first `old_size` leaves is a prefix of the tree of the
/// first `size` (RFC 9162 §2.1.4.1).
pub fn consistency_proof<L: Leaves + ?Sized>(
    leaves: &L,
    old_size: usize,
    size: usize,
) -> Result<Vec<Hash>, ProofError> {
    if old_size == 0 || old_size > size || size > leaves.count() {
        return Err(ProofError::SizesOutOfOrder {
            from: old_size as u64,
            to: size as u64,
        });
    }
    let mut out = Vec::new();
    subproof(leaves, 0, size, old_size, true, &mut out);
    Ok(out)
}

fn subproof<L: Leaves + ?Sized>(
    l: &L,
    start: usize,
    end: usize,
    m: usize,
    whole: bool,
    out: &mut Vec<Hash>,
) {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(l.range_root(start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(l, start, start + k, m, whole, out);
        out.push(l.range_root(start + k, end));
    } else {
        subproof(l, start + k, end, m - k, false, out);
        out.push(l.range_root(start, start + k));
    }
}

/// An append-only Merkle tree in memory: every complete subtree's root is kept (level `i`
/// holds the roots of aligned runs of `2^i` leaves), so appends, roots and proofs need
/// O(log n) hashes however large the log grows.
#[derive(Debug, Clone, Default)]
pub struct MerkleLog {
    levels: Vec<Vec<Hash>>,
}

impl MerkleLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, Vec::len) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a leaf hash ([`leaf_hash`] of the entry).
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
            let n = self.levels[level].len();
            if !n.is_multiple_of(2) {
                return;
            }
            h = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            level += 1;
        }
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root(&self, size: u64) -> Option<Hash> {
        let size = usize::try_from(size).ok()?;
        match size {
            0 => Some(empty_root()),
            s if s as u64 <= self.len() => Some(self.range_root(0, s)),
            _ => None,
        }
    }
}

impl Leaves for MerkleLog {
    fn count(&self) -> usize {
        self.len() as usize
    }

    fn range_root(&self, start: usize, end: usize) -> Hash {
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            if let Some(h) = self.levels.get(level).and_then(|l| l.get(start / n)) {
                return *h;
            }
        }
        if n == 1 {
            return self.levels[0][start];
        }
        let k = split(n);
        node_hash(
            &self.range_root(start, start + k),
            &self.range_root(start + k, end),
        )
    }
}

/// Checks that `leaf` is at `index` in the tree of `size` whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want: path_len(index, size),
            });
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
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want: path_len(index, size),
        });
    }
    if r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

fn path_len(index: u64, size: u64) -> usize {
    let (mut f, mut s, mut n) = (index, size - 1, 0);
    while s != 0 {
        if f & 1 == 0 && f == s {
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        }
        f >>= 1;
        s >>= 1;
        n += 1;
    }
    n
}

/// Checks that the tree of `old_size` with root `old_root` is a prefix of the tree of
/// `new_size` with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::SizesOutOfOrder {
            from: old_size,
            to: new_size,
        });
    }
    if old_size == new_size {
        return match (proof.is_empty(), old_root == new_root) {
            (true, true) => Ok(()),
            (false, _) => Err(ProofError::WrongLength {
                got: proof.len(),
                want: 0,
            }),
            (true, false) => Err(ProofError::RootMismatch),
        };
    }
    // When the old tree is a complete subtree, its root starts the proof implicitly.
    let mut hashes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        hashes.push(*old_root);
    }
    hashes.extend_from_slice(proof);
    let Some((first, rest)) = hashes.split_first() else {
        return Err(ProofError::WrongLength { got: 0, want: 1 });
    };
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want: proof.len() - 1,
            });
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
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want: proof.len() + 1,
        });
    }
    if fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 test leaves used by every certificate-transparency implementation.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn h(s: &str) -> Hash {
        unhex(s).try_into().unwrap()
    }

    fn leaves() -> Vec<Hash> {
        LEAVES.iter().map(|l| leaf_hash(&unhex(l))).collect()
    }

    #[test]
    fn roots_match_the_rfc_6962_vectors() {
        let all = leaves();
        for n in 1..=8 {
            assert_eq!(root(&all[..n]), h(ROOTS[n - 1]), "size {n}");
        }
        assert_eq!(
            root(&[]),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn proofs_match_the_published_vectors() {
        let all = leaves();
        assert_eq!(
            inclusion_proof(&all[..], 0, 8).unwrap(),
            [
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        );
        assert_eq!(
            inclusion_proof(&all[..], 5, 8).unwrap(),
            [
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        );
        assert_eq!(
            consistency_proof(&all[..], 1, 8).unwrap(),
            [
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        );
        assert_eq!(
            consistency_proof(&all[..], 6, 8).unwrap(),
            [
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        );
    }

    #[test]
    fn the_in_memory_log_agrees_with_the_definition() {
        let all: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut log = MerkleLog::new();
        assert_eq!(log.root(0), Some(empty_root()));
        for (i, l) in all.iter().enumerate() {
            log.push(*l);
            assert_eq!(log.len(), i as u64 + 1);
        }
        assert_eq!(log.root(301), None);
        for n in [1usize, 2, 3, 7, 8, 9, 63, 64, 65, 200, 255, 256, 257, 300] {
            assert_eq!(log.root(n as u64), Some(root(&all[..n])), "size {n}");
            for i in [0, n / 3, n - 1] {
                assert_eq!(
                    inclusion_proof(&log, i, n).unwrap(),
                    inclusion_proof(&all[..], i, n).unwrap(),
                    "inclusion {i} of {n}"
                );
            }
            for m in [1, n / 2 + 1, n] {
                assert_eq!(
                    consistency_proof(&log, m, n).unwrap(),
                    consistency_proof(&all[..], m, n).unwrap(),
                    "consistency {m} of {n}"
                );
            }
        }
    }

    #[test]
    fn every_generated_proof_verifies_and_any_change_fails() {
        let all: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for n in 1..=all.len() {
            let r = root(&all[..n]);
            for i in 0..n {
                let p = inclusion_proof(&all[..], i, n).unwrap();
                verify_inclusion(&all[i], i as u64, n as u64, &p, &r).unwrap();
                let other = if i + 1 < n { all[i + 1] } else { all[0] };
                if n > 1 {
                    assert!(verify_inclusion(&other, i as u64, n as u64, &p, &r).is_err());
                }
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_inclusion(&all[i], i as u64, n as u64, &bad, &r).is_err());
                    assert!(verify_inclusion(&all[i], i as u64, n as u64, &p[1..], &r).is_err());
                }
            }
            for m in 1..=n {
                let p = consistency_proof(&all[..], m, n).unwrap();
                let old = root(&all[..m]);
                verify_consistency(m as u64, n as u64, &p, &old, &r)
                    .unwrap_or_else(|e| panic!("{m} → {n}: {e}"));
                if m < n {
                    let mut forged = all[..n].to_vec();
                    forged[m - 1][0] ^= 1; // history rewritten inside the old tree
                    assert!(
                        verify_consistency(m as u64, n as u64, &p, &old, &root(&forged)).is_err(),
                        "{m} → {n}"
                    );
                }
            }
        }
    }
}
