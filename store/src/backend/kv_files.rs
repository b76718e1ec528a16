//! [`FileStore`] over any [`Kv`] backend.

use tollgate_attest::Digest;
use tollgate_policies::RepoName;

use super::kv_store::{KvStore, corrupt, encode, key2, key3};
use super::{Kv, KvRead, Table};
use crate::{FileEntry, FileOutcome, FileRecord, FileStore, Result, StoreError};

fn decode(v: &[u8]) -> Result<FileRecord> {
    serde_json::from_slice(v).map_err(corrupt("file record"))
}

/// The checksum index keys of `rec` in `repo`: `<alg>:<hex> \0 repo \0 path`.
fn sum_keys(repo: &RepoName, rec: &FileRecord) -> Vec<String> {
    crate::FILE_CHECKSUM_ALGORITHMS
        .iter()
        .filter_map(|alg| {
            let hex = rec.checksum(alg)?;
            Some(key3(&format!("{alg}:{hex}"), repo.as_str(), &rec.path))
        })
        .collect()
}

fn get_in(r: &dyn KvRead, repo: &RepoName, path: &str) -> Result<Option<FileRecord>> {
    r.get(Table::Files, &key2(repo.as_str(), path))?
        .map(|v| decode(&v))
        .transpose()
}

impl<K: Kv> FileStore for KvStore<K> {
    fn put_file(&self, repo: &RepoName, rec: &FileRecord, immutable: bool) -> Result<FileOutcome> {
        if rec.digest.algorithm() != tollgate_attest::Algorithm::Sha256 {
            return Err(StoreError::Backend(format!(
                "file {} must be recorded by its sha256, not {}",
                rec.path, rec.digest
            )));
        }
        let value = encode(rec)?;
        self.kv.write(|w| {
            let outcome = match get_in(w, repo, &rec.path)? {
                Some(old) if old.digest == rec.digest => return Ok(FileOutcome::Unchanged),
                Some(old) if immutable => {
                    return Err(StoreError::PathConflict {
                        existing: old.digest,
                    });
                }
                Some(old) => {
                    for k in sum_keys(repo, &old) {
                        w.delete(Table::FileSums, &k)?;
                    }
                    FileOutcome::Replaced {
                        previous: old.digest,
                    }
                }
                None => FileOutcome::Created,
            };
            w.put(Table::Files, &key2(repo.as_str(), &rec.path), &value)?;
            for k in sum_keys(repo, rec) {
                w.put(Table::FileSums, &k, &[])?;
            }
            Ok(outcome)
        })
    }

    fn get_file(&self, repo: &RepoName, path: &str) -> Result<Option<FileRecord>> {
        self.kv.read(|r| get_in(r, repo, path))
    }

    fn delete_file(&self, repo: &RepoName, path: &str) -> Result<Option<FileRecord>> {
        self.kv.write(|w| {
            let Some(old) = get_in(w, repo, path)? else {
                return Ok(None);
            };
            w.delete(Table::Files, &key2(repo.as_str(), path))?;
            for k in sum_keys(repo, &old) {
                w.delete(Table::FileSums, &k)?;
            }
            Ok(Some(old))
        })
    }

    fn unbind_file(&self, repo: &RepoName, path: &str, digest: &Digest) -> Result<bool> {
        self.kv.write(|w| {
            let Some(old) = get_in(w, repo, path)?.filter(|r| r.digest == *digest) else {
                return Ok(false);
            };
            w.delete(Table::Files, &key2(repo.as_str(), path))?;
            for k in sum_keys(repo, &old) {
                w.delete(Table::FileSums, &k)?;
            }
            Ok(true)
        })
    }

    fn files_with_checksum(&self, algorithm: &str, hex: &str) -> Result<Vec<FileEntry>> {
        let prefix = key2(&format!("{algorithm}:{}", hex.to_ascii_lowercase()), "");
        self.kv.read(|r| {
            let mut out = Vec::new();
            for (k, _) in r.scan(Table::FileSums, &prefix, None, usize::MAX)? {
                let rest = &k[prefix.len()..];
                let Some((repo, path)) = rest.split_once('\0') else {
                    return Err(StoreError::Corrupt(format!("file checksum key {k:?}")));
                };
                let repo: RepoName = repo.parse().map_err(corrupt("repository"))?;
                if let Some(record) = get_in(r, &repo, path)? {
                    out.push(FileEntry {
                        repository: repo,
                        record,
                    });
                }
            }
            Ok(out)
        })
    }

    fn list_files(&self, repo: &RepoName, prefix: &str, limit: usize) -> Result<Vec<FileRecord>> {
        self.kv.read(|r| {
            r.scan(Table::Files, &key2(repo.as_str(), prefix), None, limit)?
                .into_iter()
                .map(|(_, v)| decode(&v))
                .collect()
        })
    }
}
