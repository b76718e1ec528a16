//! A read cache in front of any [`Kv`] backend for the point lookups every pull and every
//! admission review makes: a tag's digest (`tags`), whether a repository serves a digest
//! (`servable`) and whether a digest was promoted to an environment (`promoted`). Each of
//! those is a whole read transaction otherwise (a snapshot, a table lookup, a B-tree walk), and
//! an admission review of a three-image Deployment makes nine.
//!
//! Coherence: every write transaction goes through [`Cached::write`], which records the keys it
//! puts or deletes; once the backend has committed (or aborted) it, the generation of each
//! touched table is bumped and those keys — for `promoted`, which is cached by prefix, every
//! entry of the table — are dropped from the cache. A reader notes the table's generation before
//! its read transaction and stores what it read only if the generation is still the same under
//! the cache's lock, so a value read from a snapshot older than a commit is never kept after the
//! writer dropped the key. A caller that returns from a write therefore never reads the value it
//! replaced. Each table keeps at most [`CAPACITY`] entries (then starts over), so unknown names
//! looked up by clients cannot grow memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Kv, KvRead, KvWrite, Table};
use crate::Result;

/// Entries kept per cached table before the cache of that table starts over.
pub(crate) const CAPACITY: usize = 16_384;

/// What is kept per key: the stored bytes (or their absence), or whether any key has the prefix.
type Entries = RwLock<HashMap<String, Option<Vec<u8>>>>;

/// The cached tables, and how: by key, or by prefix (any key with it).
const BY_KEY: [Table; 2] = [Table::Tags, Table::Servable];
const BY_PREFIX: [Table; 1] = [Table::Promoted];

pub struct Cached<K> {
    inner: K,
    generations: Vec<AtomicU64>,
    entries: Vec<Entries>,
}

impl<K: fmt::Debug> fmt::Debug for Cached<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

fn cached(t: Table) -> bool {
    BY_KEY.contains(&t) || BY_PREFIX.contains(&t)
}

impl<K: Kv> Cached<K> {
    pub(super) fn new(inner: K) -> Self {
        Cached {
            inner,
            generations: Table::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            entries: Table::ALL.iter().map(|_| Entries::default()).collect(),
        }
    }

    /// `r.get(t, key)`, from the cache when it holds the key (`t` is `tags` or `servable`).
    pub(super) fn get(&self, t: Table, key: &str) -> Result<Option<Vec<u8>>> {
        debug_assert!(BY_KEY.contains(&t));
        self.through(t, key, |r| r.get(t, key))
    }

    /// Whether any key of `t` starts with `prefix`, from the cache when it knows (`t` is
    /// `promoted`).
    pub(super) fn any_with_prefix(&self, t: Table, prefix: &str) -> Result<bool> {
        debug_assert!(BY_PREFIX.contains(&t));
        let v = self.through(t, prefix, |r| {
            Ok((!r.scan(t, prefix, None, 1)?.is_empty()).then(Vec::new))
        })?;
        Ok(v.is_some())
    }

    fn through(
        &self,
        t: Table,
        key: &str,
        read: impl FnOnce(&dyn KvRead) -> Result<Option<Vec<u8>>>,
    ) -> Result<Option<Vec<u8>>> {
        let entries = &self.entries[t.index()];
        if let Ok(m) = entries.read()
            && let Some(v) = m.get(key)
        {
            return Ok(v.clone());
        }
        let generation = &self.generations[t.index()];
        let before = generation.load(Ordering::SeqCst);
        let v = self.inner.read(read)?;
        if let Ok(mut m) = entries.write()
            && generation.load(Ordering::SeqCst) == before
        {
            if m.len() >= CAPACITY {
                m.clear();
            }
            m.insert(key.to_string(), v.clone());
        }
        Ok(v)
    }
}

/// A write transaction that notes what it changes in the cached tables.
struct Tracking<'a> {
    w: &'a mut dyn KvWrite,
    touched: Vec<(Table, String)>,
}

impl Tracking<'_> {
    fn note(&mut self, t: Table, key: &str) {
        if cached(t) {
            self.touched.push((t, key.to_string()));
        }
    }
}

impl KvRead for Tracking<'_> {
    fn get(&self, t: Table, key: &str) -> Result<Option<Vec<u8>>> {
        self.w.get(t, key)
    }

    fn scan(
        &self,
        t: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        self.w.scan(t, prefix, after, limit)
    }
}

impl KvWrite for Tracking<'_> {
    fn put(&mut self, t: Table, key: &str, value: &[u8]) -> Result<()> {
        self.note(t, key);
        self.w.put(t, key, value)
    }

    fn put_all<'a>(
        &mut self,
        t: Table,
        entries: &mut dyn Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<()> {
        if !cached(t) {
            // The backend's batched path (one table open for thousands of index rows).
            return self.w.put_all(t, entries);
        }
        for (k, v) in entries {
            self.put(t, k, v)?;
        }
        Ok(())
    }

    fn delete(&mut self, t: Table, key: &str) -> Result<bool> {
        self.note(t, key);
        self.w.delete(t, key)
    }
}

impl<K: Kv> Kv for Cached<K> {
    fn read<R>(&self, f: impl FnOnce(&dyn KvRead) -> Result<R>) -> Result<R> {
        self.inner.read(f)
    }

    fn write<R>(&self, f: impl FnOnce(&mut dyn KvWrite) -> Result<R>) -> Result<R> {
        let mut touched = Vec::new();
        let result = self.inner.write(|w| {
            let mut tw = Tracking {
                w,
                touched: Vec::new(),
            };
            let r = f(&mut tw);
            touched = tw.touched;
            r
        });
        // Committed or aborted: either way what was cached for these keys may be stale now.
        for (t, key) in &touched {
            self.generations[t.index()].fetch_add(1, Ordering::SeqCst);
            if let Ok(mut m) = self.entries[t.index()].write() {
                if BY_PREFIX.contains(t) {
                    m.clear();
                } else {
                    m.remove(key);
                }
            }
        }
        result
    }
}
