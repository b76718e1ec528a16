//! The embedded backend on redb: ACID, durable on commit, one file under the data directory.

use std::fmt;
use std::path::Path;

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

use super::kv_store::KvStore;
use super::{Kv, KvRead, KvWrite, Table};
use crate::{Result, StoreError};

pub struct RedbKv {
    db: Database,
}

impl fmt::Debug for RedbKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbKv").finish_non_exhaustive()
    }
}

/// The embedded store.
pub type RedbStore = KvStore<RedbKv>;

impl RedbStore {
    /// Opens (or creates) the store file at `path`. Fails if another process holds it open or
    /// if it was written by an incompatible schema version.
    pub fn open(path: &Path) -> Result<Self> {
        let opened = match Database::create(path) {
            Err(DatabaseError::UpgradeRequired(2)) => {
                upgrade_v2(path)?;
                Database::create(path)
            }
            other => other,
        };
        let db =
            opened.map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
        KvStore::init(RedbKv { db })
    }
}

/// Stores created before Tollgate moved to redb 4 are in redb's file format v2, which redb 4
/// no longer reads; redb 2.6 rewrites them in place to format v3, which it does. The upgrade
/// runs once, through redb 2's own commits, before redb 4 opens the file.
fn upgrade_v2(path: &Path) -> Result<()> {
    let failed = |e: &dyn fmt::Display| {
        StoreError::Backend(format!(
            "upgrading {} from redb file format v2: {e}",
            path.display()
        ))
    };
    let mut db = redb2::Database::open(path).map_err(|e| failed(&e))?;
    db.upgrade().map_err(|e| failed(&e))?;
    tracing::info!(path = %path.display(), "store file upgraded from redb file format v2 to v3");
    Ok(())
}

fn def(t: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(t.name())
}

fn be<E: fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn scan_table<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>> {
    let start = match after {
        Some(a) => format!("{prefix}{a}"),
        None => prefix.to_string(),
    };
    let mut out = Vec::new();
    for item in table.range::<&str>(start.as_str()..).map_err(be)? {
        let (k, v) = item.map_err(be)?;
        let key = k.value();
        if !key.starts_with(prefix) || out.len() >= limit {
            break;
        }
        if after.is_some() && key == start {
            continue;
        }
        out.push((key.to_string(), v.value().to_vec()));
    }
    Ok(out)
}

/// `scan_each` over a redb table: keys and values are borrowed from redb's pages, not copied.
fn scan_table_each<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    prefix: &str,
    from: Option<&str>,
    f: &mut dyn FnMut(&str, &[u8]) -> Result<bool>,
) -> Result<()> {
    let start = from.filter(|s| *s > prefix).unwrap_or(prefix);
    for item in table.range::<&str>(start..).map_err(be)? {
        let (k, v) = item.map_err(be)?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        if !f(key, v.value())? {
            break;
        }
    }
    Ok(())
}

struct Read(redb::ReadTransaction);

impl KvRead for Read {
    fn get(&self, t: Table, key: &str) -> Result<Option<Vec<u8>>> {
        let table = match self.0.open_table(def(t)) {
            Ok(tb) => tb,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(be(e)),
        };
        Ok(table.get(key).map_err(be)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        t: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let table = match self.0.open_table(def(t)) {
            Ok(tb) => tb,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(be(e)),
        };
        scan_table(&table, prefix, after, limit)
    }

    fn scan_each(
        &self,
        t: Table,
        prefix: &str,
        from: Option<&str>,
        f: &mut dyn FnMut(&str, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let table = match self.0.open_table(def(t)) {
            Ok(tb) => tb,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(be(e)),
        };
        scan_table_each(&table, prefix, from, f)
    }
}

struct Write(redb::WriteTransaction);

impl KvRead for Write {
    fn get(&self, t: Table, key: &str) -> Result<Option<Vec<u8>>> {
        let table = self.0.open_table(def(t)).map_err(be)?;
        Ok(table.get(key).map_err(be)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        t: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let table = self.0.open_table(def(t)).map_err(be)?;
        scan_table(&table, prefix, after, limit)
    }
}

impl KvWrite for Write {
    fn put(&mut self, t: Table, key: &str, value: &[u8]) -> Result<()> {
        let mut table = self.0.open_table(def(t)).map_err(be)?;
        table.insert(key, value).map_err(be)?;
        Ok(())
    }

    fn put_all<'a>(
        &mut self,
        t: Table,
        entries: &mut dyn Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<()> {
        let mut table = self.0.open_table(def(t)).map_err(be)?;
        for (k, v) in entries {
            table.insert(k, v).map_err(be)?;
        }
        Ok(())
    }

    fn delete(&mut self, t: Table, key: &str) -> Result<bool> {
        let mut table = self.0.open_table(def(t)).map_err(be)?;
        let existed = table.remove(key).map_err(be)?.is_some();
        Ok(existed)
    }
}

impl Kv for RedbKv {
    fn read<R>(&self, f: impl FnOnce(&dyn KvRead) -> Result<R>) -> Result<R> {
        let txn = self.db.begin_read().map_err(be)?;
        f(&Read(txn))
    }

    fn write<R>(&self, f: impl FnOnce(&mut dyn KvWrite) -> Result<R>) -> Result<R> {
        let mut w = Write(self.db.begin_write().map_err(be)?);
        match f(&mut w) {
            Ok(r) => {
                w.0.commit().map_err(be)?;
                Ok(r)
            }
            Err(e) => {
                w.0.abort().map_err(be)?;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArtifactStore, ManifestRecord, SCHEMA_VERSION};

    crate::testsuite::backend_suite!({
        let dir = tempfile::tempdir().unwrap();
        let store = super::RedbStore::open(&dir.path().join("store.redb")).unwrap();
        // The store keeps its file open: removing the directory now leaves nothing behind
        // once the test ends, however it ends.
        drop(dir);
        store
    });

    fn manifest_record(bytes: &[u8]) -> ManifestRecord {
        ManifestRecord {
            digest: tollgate_attest::Digest::sha256_of(bytes),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: bytes.len() as u64,
            artifact_type: None,
            subject: None,
            annotations: Default::default(),
            pushed_by: "t".into(),
            pushed_at_ms: 1,
        }
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let repo = "dev/app".parse().unwrap();
        let bytes = br#"{"schemaVersion":2}"#;
        let digest = tollgate_attest::Digest::sha256_of(bytes);
        {
            let s = RedbStore::open(&path).unwrap();
            s.put_manifest(&repo, &manifest_record(bytes), bytes, None)
                .unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        let (_, got) = s.get_manifest(&repo, &digest).unwrap().unwrap();
        assert_eq!(&got[..], bytes);
    }

    /// A store written by an earlier Tollgate (redb 2, file format v2) opens with everything in
    /// it: the file is upgraded in place on first open.
    #[test]
    fn opens_a_store_written_with_redb_2() {
        let dir = tempfile::tempdir().unwrap();
        let (now, old) = (dir.path().join("now.redb"), dir.path().join("old.redb"));
        let repo = "dev/app".parse().unwrap();
        let bytes = br#"{"schemaVersion":2,"old":true}"#;
        let digest = tollgate_attest::Digest::sha256_of(bytes);
        {
            let s = RedbStore::open(&now).unwrap();
            s.put_manifest(&repo, &manifest_record(bytes), bytes, None)
                .unwrap();
        }
        // The same rows, written the way redb 2 wrote every store before.
        {
            let from = Database::open(&now).unwrap();
            let r = from.begin_read().unwrap();
            let to = redb2::Database::create(&old).unwrap();
            let w = to.begin_write().unwrap();
            for t in Table::ALL {
                let Ok(table) = r.open_table(def(t)) else {
                    continue;
                };
                let mut out = w
                    .open_table(redb2::TableDefinition::<&str, &[u8]>::new(t.name()))
                    .unwrap();
                for row in table.iter().unwrap() {
                    let (k, v) = row.unwrap();
                    out.insert(k.value(), v.value()).unwrap();
                }
            }
            w.commit().unwrap();
        }
        assert!(matches!(
            Database::open(&old),
            Err(DatabaseError::UpgradeRequired(2))
        ));
        let s = RedbStore::open(&old).unwrap();
        let (rec, got) = s.get_manifest(&repo, &digest).unwrap().unwrap();
        assert_eq!((&got[..], rec.pushed_by.as_str()), (&bytes[..], "t"));
        drop(s);
        // Upgraded once: redb 4 now opens it by itself.
        Database::open(&old).unwrap();
    }

    /// A store written before the audit index existed gets it on first open: filtered
    /// queries find the old entries.
    #[test]
    fn builds_the_audit_index_of_an_older_store() {
        use crate::{AuditDraft, AuditFilter, AuditStore};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let draft = |actor: &str| AuditDraft {
            at_ms: 1,
            actor: actor.into(),
            action: "manifest-push".into(),
            repository: None,
            digest: None,
            decision: None,
            policy_digest: None,
            details: serde_json::json!({}),
        };
        {
            let s = RedbStore::open(&path).unwrap();
            s.append_audit(&[draft("ci"), draft("alice"), draft("ci")])
                .unwrap();
        }
        // As an older Tollgate left it: no index, no flag.
        {
            let db = Database::open(&path).unwrap();
            let w = db.begin_write().unwrap();
            w.delete_table(def(Table::AuditIndex)).unwrap();
            w.open_table(def(Table::Meta))
                .unwrap()
                .remove(super::super::kv_audit::INDEX_KEY)
                .unwrap();
            w.commit().unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        let by = |actor: &str| -> Vec<u64> {
            let f = AuditFilter {
                actor: Some(actor.into()),
                ..AuditFilter::default()
            };
            s.query_audit(&f, 10)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        assert_eq!((by("ci"), by("alice")), (vec![0, 2], vec![1]));
    }

    #[test]
    fn refuses_another_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        {
            let db = Database::create(&path).unwrap();
            let w = db.begin_write().unwrap();
            w.open_table(def(Table::Meta))
                .unwrap()
                .insert(
                    "schema_version",
                    (SCHEMA_VERSION + 1).to_le_bytes().as_slice(),
                )
                .unwrap();
            w.commit().unwrap();
        }
        match RedbStore::open(&path) {
            Err(StoreError::SchemaMismatch { found, expected }) => {
                assert_eq!((found, expected), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
            }
            other => panic!("expected a schema mismatch, got {other:?}"),
        }
    }
}
