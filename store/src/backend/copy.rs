//! Moving a store to another backend: `tollgate store migrate` copies the embedded store into
//! PostgreSQL when one node grows into replicas.

use std::path::Path;

use super::kv_store::KvStore;
use super::postgres::{PgOptions, PgStore};
use super::redb::RedbStore;
use super::{Kv, Table};
use crate::{Result, StoreError};

/// Entries copied per statement.
const PAGE: usize = 5_000;

/// Copies every entry of `from` into `to`, which must hold nothing yet. Reads one snapshot of
/// `from` and writes in one transaction of `to`: the target gets all of it or none of it.
/// Entries copied per table, in table order.
pub fn copy_store<A: Kv, B: Kv>(
    from: &KvStore<A>,
    to: &KvStore<B>,
) -> Result<Vec<(&'static str, u64)>> {
    from.kv.read(|r| {
        to.kv.write(|w| {
            for t in Table::ALL {
                let rows = w.scan(t, "", None, usize::MAX)?;
                // A fresh store's meta holds what opening it wrote: the schema version and the
                // flags of indexes it starts with.
                let only_init = t == Table::Meta
                    && rows
                        .iter()
                        .all(|(k, _)| super::kv_store::INIT_KEYS.contains(&k.as_str()));
                if !rows.is_empty() && !only_init {
                    return Err(StoreError::Backend(format!(
                        "the target store is not empty (table {} holds entries); migrate into a fresh database",
                        t.name()
                    )));
                }
            }
            let mut counts = Vec::new();
            for t in Table::ALL {
                let mut after: Option<String> = None;
                let mut n = 0u64;
                loop {
                    let page = r.scan(t, "", after.as_deref(), PAGE)?;
                    let Some((last, _)) = page.last() else { break };
                    after = Some(last.clone());
                    n += page.len() as u64;
                    w.put_all(
                        t,
                        &mut page.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
                    )?;
                    if page.len() < PAGE {
                        break;
                    }
                }
                counts.push((t.name(), n));
            }
            Ok(counts)
        })
    })
}

/// `tollgate store migrate`: the embedded store at `redb` into the PostgreSQL database at `url`.
pub fn migrate_to_postgres(
    redb: &Path,
    url: &str,
    opts: PgOptions,
) -> Result<Vec<(&'static str, u64)>> {
    if !redb.is_file() {
        return Err(StoreError::Backend(format!(
            "{} holds no Tollgate store",
            redb.display()
        )));
    }
    let from = RedbStore::open(redb)?;
    let to = PgStore::connect(url, opts)?;
    copy_store(&from, &to)
}
