//! An in-memory backend: the same semantics as the embedded one, nothing on disk.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, RwLock};

use super::kv_store::KvStore;
use super::{Kv, KvRead, KvWrite, Table};
use crate::{Result, StoreError};

type Tables = Vec<BTreeMap<String, Vec<u8>>>;

#[derive(Debug)]
pub struct MemKv {
    tables: RwLock<Tables>,
    /// Serialises writers, as a real backend's write transactions are.
    writer: Mutex<()>,
}

/// The in-memory store.
pub type MemoryStore = KvStore<MemKv>;

impl MemoryStore {
    pub fn new() -> Self {
        let kv = MemKv {
            tables: RwLock::new(vec![BTreeMap::new(); Table::ALL.len()]),
            writer: Mutex::new(()),
        };
        KvStore::init(kv).unwrap_or_else(|e| {
            unreachable!("an empty memory store cannot fail to initialise: {e}")
        })
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("memory store lock poisoned".into())
}

fn scan_map(
    m: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Vec<(String, Vec<u8>)> {
    let start = match after {
        Some(a) => Bound::Excluded(format!("{prefix}{a}")),
        None => Bound::Included(prefix.to_string()),
    };
    m.range((start, Bound::Unbounded))
        .take_while(|(k, _)| k.starts_with(prefix))
        .take(limit)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

struct ReadSnap<'a>(&'a Tables);

impl KvRead for ReadSnap<'_> {
    fn get(&self, t: Table, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.0[t.index()].get(key).cloned())
    }
    fn scan(
        &self,
        t: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(scan_map(&self.0[t.index()], prefix, after, limit))
    }

    fn scan_each(
        &self,
        t: Table,
        prefix: &str,
        from: Option<&str>,
        f: &mut dyn FnMut(&str, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let start = from.filter(|s| *s > prefix).unwrap_or(prefix);
        for (k, v) in self.0[t.index()]
            .range::<str, _>((Bound::Included(start), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            if !f(k, v)? {
                break;
            }
        }
        Ok(())
    }
}

/// Writes go to a private copy of the touched tables' changes: reads see them, and only a
/// successful transaction applies them to the shared maps.
struct WriteTxn<'a> {
    base: &'a RwLock<Tables>,
    changes: Vec<BTreeMap<String, Option<Vec<u8>>>>,
}

impl WriteTxn<'_> {
    fn merged(&self, t: Table) -> Result<BTreeMap<String, Vec<u8>>> {
        let base = self.base.read().map_err(poisoned)?;
        let mut m = base[t.index()].clone();
        for (k, v) in &self.changes[t.index()] {
            match v {
                Some(v) => m.insert(k.clone(), v.clone()),
                None => m.remove(k),
            };
        }
        Ok(m)
    }
}

impl KvRead for WriteTxn<'_> {
    fn get(&self, t: Table, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.changes[t.index()].get(key) {
            return Ok(v.clone());
        }
        Ok(self.base.read().map_err(poisoned)?[t.index()]
            .get(key)
            .cloned())
    }
    fn scan(
        &self,
        t: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        if self.changes[t.index()].is_empty() {
            return Ok(scan_map(
                &self.base.read().map_err(poisoned)?[t.index()],
                prefix,
                after,
                limit,
            ));
        }
        Ok(scan_map(&self.merged(t)?, prefix, after, limit))
    }
}

impl KvWrite for WriteTxn<'_> {
    fn put(&mut self, t: Table, key: &str, value: &[u8]) -> Result<()> {
        self.changes[t.index()].insert(key.to_string(), Some(value.to_vec()));
        Ok(())
    }
    fn delete(&mut self, t: Table, key: &str) -> Result<bool> {
        let existed = self.get(t, key)?.is_some();
        self.changes[t.index()].insert(key.to_string(), None);
        Ok(existed)
    }
}

impl Kv for MemKv {
    fn read<R>(&self, f: impl FnOnce(&dyn KvRead) -> Result<R>) -> Result<R> {
        let g = self.tables.read().map_err(poisoned)?;
        f(&ReadSnap(&g))
    }

    fn write<R>(&self, f: impl FnOnce(&mut dyn KvWrite) -> Result<R>) -> Result<R> {
        let _w = self.writer.lock().map_err(poisoned)?;
        let mut txn = WriteTxn {
            base: &self.tables,
            changes: vec![BTreeMap::new(); Table::ALL.len()],
        };
        let r = f(&mut txn)?;
        let mut tables = self.tables.write().map_err(poisoned)?;
        for (i, changes) in txn.changes.into_iter().enumerate() {
            for (k, v) in changes {
                match v {
                    Some(v) => tables[i].insert(k, v),
                    None => tables[i].remove(&k),
                };
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    crate::testsuite::backend_suite!(super::MemoryStore::new());
}
