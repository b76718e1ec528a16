//! [`AuditStore`] over any [`Kv`] backend: entries keyed by their 20-digit sequence number,
//! so key order is log order and the next number is the count.

use super::kv_store::{KvStore, corrupt, encode, key3, last_part};
use super::{Kv, KvWrite, Table};
use crate::{
    AuditDraft, AuditEntry, AuditFilter, AuditStore, CheckpointRecord, Result, StoreError,
    Tombstone, stored_leaf_hash,
};

const AUDIT_LEN: &str = "audit_len";
const LATEST_CHECKPOINT: &str = "audit_checkpoint";
/// Present once every entry of the log is in [`Table::AuditIndex`].
pub(super) const INDEX_KEY: &str = "index_audit";
/// Index rows read (and entries looked up) at a time.
const INDEX_PAGE: usize = 1024;

fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
}

/// The index an audit query can be answered from: by actor (usually the more selective), else
/// by action. Entries are not indexed by digest: digests are random, so each entry's row would
/// land on its own B-tree leaf, and durable appends measured 3.7× slower with that index
/// (BENCHMARKS.md, "Audit log"); a digest filter alone reads the log.
fn index_prefix(filter: &AuditFilter) -> Option<String> {
    let (kind, value) = match (&filter.actor, &filter.action) {
        (Some(actor), _) => ("a", actor),
        (None, Some(action)) => ("c", action),
        (None, None) => return None,
    };
    Some(key3(kind, value, ""))
}

/// The index rows of one entry: within a batch they go to the end of two key ranges, a few
/// leaves, not to one leaf each.
fn index_keys(e: &AuditEntry) -> [String; 2] {
    let seq = seq_key(e.seq);
    let d = &e.draft;
    [key3("a", &d.actor, &seq), key3("c", &d.action, &seq)]
}

fn put_index(w: &mut dyn KvWrite, entries: &[AuditEntry]) -> Result<()> {
    let keys: Vec<String> = entries.iter().flat_map(index_keys).collect();
    w.put_all(
        Table::AuditIndex,
        &mut keys.iter().map(|k| (k.as_str(), &b""[..])),
    )
}

/// Builds the index of a log written before it existed, a page at a time.
pub(super) fn backfill_index(w: &mut dyn KvWrite) -> Result<()> {
    if w.get(Table::Meta, INDEX_KEY)?.is_some() {
        return Ok(());
    }
    let mut after: Option<String> = None;
    loop {
        let rows = w.scan(Table::Audit, "", after.as_deref(), 4096)?;
        let Some((last, _)) = rows.last() else {
            break;
        };
        after = Some(last.clone());
        // A pruned entry keeps no actor or digest: it is skipped by queries anyway.
        let entries: Vec<AuditEntry> = rows.iter().filter_map(|(_, v)| decode(v).ok()).collect();
        put_index(w, &entries)?;
    }
    w.put(Table::Meta, INDEX_KEY, b"")
}

/// A stored entry, or `None` for a pruned one (its tombstone matches no filter).
fn entry_or_pruned(v: &[u8]) -> Result<Option<AuditEntry>> {
    match decode(v) {
        Ok(e) => Ok(Some(e)),
        Err(err) => match serde_json::from_slice::<Tombstone>(v) {
            Ok(_) => Ok(None),
            Err(_) => Err(err),
        },
    }
}

fn decode(v: &[u8]) -> Result<AuditEntry> {
    serde_json::from_slice(v).map_err(corrupt("audit entry"))
}

fn len_in(r: &dyn super::KvRead) -> Result<u64> {
    Ok(match r.get(Table::Meta, AUDIT_LEN)? {
        Some(v) => u64::from_le_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt(AUDIT_LEN.into()))?,
        ),
        None => 0,
    })
}

impl<K: Kv> AuditStore for KvStore<K> {
    fn append_audit(&self, drafts: &[AuditDraft]) -> Result<Vec<AuditEntry>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        self.kv.write(|w| {
            let mut next = len_in(w)?;
            let mut out = Vec::with_capacity(drafts.len());
            for d in drafts {
                let e = AuditEntry {
                    seq: next,
                    draft: d.clone(),
                };
                w.put(Table::Audit, &seq_key(next), &e.to_bytes())?;
                out.push(e);
                next += 1;
            }
            put_index(w, &out)?;
            w.put(Table::Meta, AUDIT_LEN, &next.to_le_bytes())?;
            Ok(out)
        })
    }

    fn audit_len(&self) -> Result<u64> {
        self.kv.read(len_in)
    }

    fn audit_raw(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>> {
        self.kv.read(|r| {
            let after = from.checked_sub(1).map(seq_key);
            let rows = r.scan(Table::Audit, "", after.as_deref(), limit)?;
            Ok(rows.into_iter().map(|(_, v)| v).collect())
        })
    }

    fn query_audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.kv.read(|r| {
            let mut out = Vec::new();
            if let Some(prefix) = index_prefix(filter) {
                // Only the entries the index names, from `from_seq` on, in log order.
                let mut after = filter.from_seq.checked_sub(1).map(seq_key);
                loop {
                    let rows = r.scan(Table::AuditIndex, &prefix, after.as_deref(), INDEX_PAGE)?;
                    let Some((last, _)) = rows.last() else {
                        return Ok(out);
                    };
                    after = Some(last_part(last).to_string());
                    for (k, _) in &rows {
                        let Some(v) = r.get(Table::Audit, last_part(k))? else {
                            continue;
                        };
                        if let Some(e) = entry_or_pruned(&v)?
                            && filter.matches(&e)
                        {
                            out.push(e);
                            if out.len() == limit {
                                return Ok(out);
                            }
                        }
                    }
                }
            }
            let mut from = filter.from_seq;
            // Page through the log so a selective filter does not hold everything at once.
            loop {
                let after = from.checked_sub(1).map(seq_key);
                let rows = r.scan(Table::Audit, "", after.as_deref(), 4096)?;
                let Some((last, _)) = rows.last() else {
                    return Ok(out);
                };
                from = last.parse::<u64>().map_err(corrupt("audit sequence"))? + 1;
                for (_, v) in &rows {
                    if let Some(e) = entry_or_pruned(v)?
                        && filter.matches(&e)
                    {
                        out.push(e);
                        if out.len() == limit {
                            return Ok(out);
                        }
                    }
                }
            }
        })
    }

    fn put_checkpoint(&self, cp: &CheckpointRecord) -> Result<()> {
        let v = encode(cp)?;
        self.kv.write(|w| {
            w.put(Table::AuditCheckpoints, &seq_key(cp.size), &v)?;
            // The newest by size is the latest; an older one written late does not replace it.
            let newer = match w.get(Table::Meta, LATEST_CHECKPOINT)? {
                Some(old) => {
                    let old: CheckpointRecord =
                        serde_json::from_slice(&old).map_err(corrupt("checkpoint"))?;
                    cp.size >= old.size
                }
                None => true,
            };
            if newer {
                w.put(Table::Meta, LATEST_CHECKPOINT, &v)?;
            }
            Ok(())
        })
    }

    fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>> {
        self.kv.read(|r| {
            r.get(Table::Meta, LATEST_CHECKPOINT)?
                .map(|v| serde_json::from_slice(&v).map_err(corrupt("checkpoint")))
                .transpose()
        })
    }

    fn prune_audit(&self, seqs: &[u64]) -> Result<usize> {
        self.kv.write(|w| {
            let mut n = 0;
            for seq in seqs {
                let key = seq_key(*seq);
                let Some(bytes) = w.get(Table::Audit, &key)? else {
                    continue;
                };
                let Ok(entry) = serde_json::from_slice::<AuditEntry>(&bytes) else {
                    continue; // already a tombstone
                };
                let t = Tombstone {
                    seq: *seq,
                    pruned: true,
                    action: entry.draft.action,
                    at_ms: entry.draft.at_ms,
                    leaf: hex::encode(stored_leaf_hash(&bytes)),
                };
                w.put(Table::Audit, &key, &encode(&t)?)?;
                n += 1;
            }
            Ok(n)
        })
    }

    fn audit_checkpoints(&self) -> Result<Vec<CheckpointRecord>> {
        self.kv.read(|r| {
            r.scan(Table::AuditCheckpoints, "", None, usize::MAX)?
                .iter()
                .map(|(_, v)| serde_json::from_slice(v).map_err(corrupt("checkpoint")))
                .collect()
        })
    }
}
