//! The append-only audit log: who did what to which artifact, when, under which decision and
//! policy. Entries are numbered from 0 without gaps and stored as the exact bytes their Merkle
//! leaf hashes cover, so an export can be checked byte for byte against signed checkpoints.

use serde::{Deserialize, Serialize};
use tollgate_attest::Digest;
use tollgate_policies::RepoName;

use crate::Result;

/// An entry before the log numbers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditDraft {
    pub at_ms: i64,
    /// Token name or identity; `tollgate` for what the gateway does on its own.
    pub actor: String,
    /// Stable kebab-case action (`manifest-push`, `promotion-decided`, `token-create`, …).
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepoName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The decision this entry is about (a promotion id, a retention run, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<Digest>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// An entry as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its position in the log and its Merkle leaf index.
    pub seq: u64,
    #[serde(flatten)]
    pub draft: AuditDraft,
}

impl AuditEntry {
    /// The canonical bytes of the entry (struct field order, object keys sorted): what the
    /// store keeps and the Merkle leaf covers.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A tree head the gateway signed: the log's size and root at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub size: u64,
    /// Lower-case hex SHA-256 root.
    pub root: String,
    pub at_ms: i64,
    /// The signed note (C2SP checkpoint format) as served.
    pub note: String,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub digest: Option<Digest>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only entries with `seq` at or after this (paging).
    pub from_seq: u64,
}

impl AuditFilter {
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let d = &e.draft;
        self.actor.as_deref().is_none_or(|a| a == d.actor)
            && self.action.as_deref().is_none_or(|a| a == d.action)
            && self
                .digest
                .as_ref()
                .is_none_or(|g| d.digest.as_ref() == Some(g))
            && self.since_ms.is_none_or(|s| d.at_ms >= s)
            && self.until_ms.is_none_or(|u| d.at_ms < u)
            && e.seq >= self.from_seq
    }
}

/// The audit log and its checkpoints.
pub trait AuditStore {
    /// Appends the drafts in order, in one transaction (group commit), and returns them
    /// numbered.
    fn append_audit(&self, drafts: &[AuditDraft]) -> Result<Vec<AuditEntry>>;
    /// How many entries the log holds.
    fn audit_len(&self) -> Result<u64>;
    /// The stored bytes of entries `from..from+limit`, in order.
    fn audit_raw(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>>;
    /// Entries matching `filter`, oldest first, at most `limit`.
    fn query_audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>>;
    fn put_checkpoint(&self, cp: &CheckpointRecord) -> Result<()>;
    fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>>;
    /// Every stored checkpoint, by size.
    fn audit_checkpoints(&self) -> Result<Vec<CheckpointRecord>>;
    /// Replaces the bodies of entries `seqs` by tombstones that keep their Merkle leaf hash
    /// (so the tree stays verifiable), in one transaction; how many were pruned now.
    fn prune_audit(&self, seqs: &[u64]) -> Result<usize>;
}

/// What a pruned entry leaves behind: its position, action, time and leaf hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub seq: u64,
    pub pruned: bool,
    pub action: String,
    pub at_ms: i64,
    /// Lower-case hex of the entry's RFC 6962 leaf hash.
    pub leaf: String,
}

/// What every tombstone's bytes contain.
const PRUNED_MARK: &str = "\"pruned\":true";

/// Whether stored bytes contain [`PRUNED_MARK`] (only those can be a tombstone). This runs over
/// every entry when a log is loaded or an export verified: the standard library's substring
/// search is vectorised, a byte-window comparison is not.
pub fn mentions_pruned(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.contains(PRUNED_MARK),
        Err(_) => bytes
            .windows(PRUNED_MARK.len())
            .any(|w| w == PRUNED_MARK.as_bytes()),
    }
}

/// The Merkle leaf hash of stored entry bytes: computed from an entry, taken from a tombstone.
pub fn stored_leaf_hash(bytes: &[u8]) -> tollgate_attest::merkle::Hash {
    if mentions_pruned(bytes)
        && let Ok(t) = serde_json::from_slice::<Tombstone>(bytes)
        && t.pruned
        && let Ok(h) = hex::decode(&t.leaf)
        && let Ok(h) = <[u8; 32]>::try_from(h.as_slice())
    {
        return h;
    }
    tollgate_attest::merkle::leaf_hash(bytes)
}
