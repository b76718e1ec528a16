//! [`AuditStore`] over any [`Kv`] backend: entries keyed by their 20-digit sequence number,
//! so key order is log order and the next number is the count.

use super::kv_store::{KvStore, corrupt, encode};
use super::{Kv, Table};
use crate::{
    AuditDraft, AuditEntry, AuditFilter, AuditStore, CheckpointRecord, Result, StoreError,
    Tombstone, stored_leaf_hash,
};

const AUDIT_LEN: &str = "audit_len";
const LATEST_CHECKPOINT: &str = "audit_checkpoint";

fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
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
        self.kv.read(|r| {
            let mut out = Vec::new();
            let mut from = filter.from_seq;
            // Page through the log so a selective filter does not hold everything at once.
            loop {
                let after = from.checked_sub(1).map(seq_key);
                let rows = r.scan(Table::Audit, "", after.as_deref(), 4096)?;
                if rows.is_empty() {
                    return Ok(out);
                }
                for (_, v) in &rows {
                    let e = match decode(v) {
                        Ok(e) => e,
                        Err(err) => match serde_json::from_slice::<Tombstone>(v) {
                            // A pruned entry: nothing left to match.
                            Ok(t) => {
                                from = t.seq + 1;
                                continue;
                            }
                            Err(_) => return Err(err),
                        },
                    };
                    from = e.seq + 1;
                    if filter.matches(&e) {
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
