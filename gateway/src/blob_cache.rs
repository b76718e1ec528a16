//! The promoted-blob cache of upstream mode: when an artifact is promoted, its blobs are
//! fetched once into a content-addressed directory under the data directory, and pulls from
//! environment repositories are answered from there. Deployments keep working while the
//! upstream is down, and the hot path of a deploy never waits on it.
//!
//! Only verified bytes enter: each blob is hashed while it is written and becomes visible by
//! an atomic rename only when its digest matches. The directory is kept under a byte cap by
//! evicting the least recently used files (their modification time is bumped on every hit).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use futures_util::StreamExt;
use http::{HeaderMap, Method};
use tokio::io::AsyncWriteExt;
use tollgate_attest::{Digest, DigestHasher};
use tollgate_policies::RepoName;
use tollgate_store::FsBlobs;

use crate::upstream::{ReqBody, Upstream, scope};

#[derive(Debug)]
pub struct BlobCache {
    files: FsBlobs,
    max_bytes: u64,
    /// Serialises eviction; reads and fills do not need it.
    evicting: Mutex<()>,
}

impl BlobCache {
    /// Opens (creating) the cache directory `root`; `max_bytes` of 0 means no cache.
    pub fn open(root: &Path, max_bytes: u64) -> std::io::Result<Option<Self>> {
        if max_bytes == 0 {
            return Ok(None);
        }
        Ok(Some(BlobCache {
            files: FsBlobs::open(root)?,
            max_bytes,
            evicting: Mutex::new(()),
        }))
    }

    /// The cached file of `digest` and its size, marked as just used.
    pub fn hit(&self, digest: &Digest) -> Option<(PathBuf, u64)> {
        let path = self.files.path(digest);
        let size = std::fs::metadata(&path).ok()?.len();
        if let Ok(f) = std::fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some((path, size))
    }

    /// Fetches `digest` of `repo` from the upstream into the cache unless it is there or
    /// bigger than the whole cache. Failures are logged, never fatal: the cache is an
    /// optimisation of availability, not a source of truth.
    pub async fn fill(&self, up: &Upstream, repo: &RepoName, digest: &Digest, size: u64) {
        if size > self.max_bytes || self.hit(digest).is_some() {
            return;
        }
        match self.fetch(up, repo, digest).await {
            Ok(()) => {
                tracing::debug!(%repo, %digest, size, "blob cached");
                self.evict();
            }
            Err(e) => tracing::warn!(%repo, %digest, error = %e, "blob not cached"),
        }
    }

    async fn fetch(&self, up: &Upstream, repo: &RepoName, digest: &Digest) -> Result<(), String> {
        let resp = up
            .send(
                Method::GET,
                &format!("/v2/{repo}/blobs/{digest}"),
                HeaderMap::new(),
                ReqBody::Empty,
                &scope(repo.as_str(), false),
            )
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("upstream answered {}", resp.status()));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let tmp = self.files.upload_path(&id);
        let result = async {
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| e.to_string())?;
            let mut hasher = DigestHasher::new(digest.algorithm());
            let mut body = std::pin::pin!(up.body_stream(resp.into_body()));
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| e.to_string())?;
            }
            file.flush().await.map_err(|e| e.to_string())?;
            let got = hasher.finish();
            if got != *digest {
                return Err(format!("upstream sent bytes hashing to {got}"));
            }
            self.files.commit(&id, digest).map_err(|e| e.to_string())
        }
        .await;
        if result.is_err() {
            let _ = self.files.discard(&id);
        }
        result
    }

    /// Drops the least recently used blobs until the cache is under its cap.
    fn evict(&self) {
        let Ok(_guard) = self.evicting.lock() else {
            return;
        };
        let mut files = Vec::new();
        walk(&self.files.blobs_root(), &mut files);
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        if total <= self.max_bytes {
            return;
        }
        files.sort_by_key(|(_, _, used)| *used);
        for (path, len, _) in files {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                tracing::debug!(path = %path.display(), "cached blob evicted");
            }
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, SystemTime)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            walk(&e.path(), out);
        } else {
            out.push((
                e.path(),
                m.len(),
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(cache: &BlobCache, content: &[u8], age_secs: u64) -> Digest {
        let d = Digest::sha256_of(content);
        let path = cache.files.path(&d);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        let f = std::fs::File::options().append(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - std::time::Duration::from_secs(age_secs))
            .unwrap();
        d
    }

    #[test]
    fn evicts_least_recently_used_down_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            BlobCache::open(dir.path(), 0).unwrap().is_none(),
            "0 is off"
        );
        let cache = BlobCache::open(dir.path(), 10).unwrap().unwrap();
        let old = put(&cache, b"aaaa", 300);
        let used = put(&cache, b"bbbb", 200);
        let new = put(&cache, b"cccc", 100);
        // a hit makes the older one the most recent
        assert_eq!(cache.hit(&used).map(|(_, n)| n), Some(4));
        cache.evict();
        assert!(cache.hit(&old).is_none(), "least recently used goes first");
        assert!(cache.hit(&used).is_some());
        assert!(cache.hit(&new).is_some());
    }
}
