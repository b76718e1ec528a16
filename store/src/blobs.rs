//! Content-addressed blob files for embedded mode.
//!
//! Layout under the root: `blobs/<alg>/<first two hex>/<hex>` for committed content and
//! `uploads/<id>` for uploads in progress. A blob becomes visible only by an atomic rename of
//! a fully written, synced upload whose digest the caller has verified, so a crash or a wrong
//! digest never leaves a partial blob under a content address.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tollgate_attest::Digest;

#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    /// Opens the blob directories under `root`, creating them, and drops uploads a previous
    /// run left unfinished (their sessions died with it).
    pub fn open(root: &Path) -> io::Result<Self> {
        let uploads = root.join("uploads");
        if uploads.exists() {
            fs::remove_dir_all(&uploads)?;
        }
        fs::create_dir_all(&uploads)?;
        fs::create_dir_all(root.join("blobs"))?;
        Ok(FsBlobs {
            root: root.to_path_buf(),
        })
    }

    /// Where the bytes of upload `id` accumulate. `id` must be a caller-generated identifier
    /// (a UUID), never user input.
    pub fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// The directory committed blobs live under.
    pub fn blobs_root(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    /// The size of a committed blob, if present.
    pub fn size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        match fs::metadata(self.path(digest)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Makes a verified upload visible under its digest. The caller has hashed the bytes while
    /// writing them and checked them against `digest`.
    pub fn commit(&self, id: &str, digest: &Digest) -> io::Result<()> {
        let from = self.upload_path(id);
        let to = self.path(digest);
        if to.exists() {
            // Same digest, same bytes: keep the existing file.
            return fs::remove_file(from);
        }
        fs::File::open(&from)?.sync_all()?;
        let dir = to
            .parent()
            .ok_or_else(|| io::Error::other("blob path has no parent"))?;
        fs::create_dir_all(dir)?;
        fs::rename(&from, &to)?;
        fs::File::open(dir)?.sync_all()
    }

    /// Drops an upload in progress; absent is fine.
    pub fn discard(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.upload_path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes committed content no repository links any more.
    pub fn remove(&self, digest: &Digest) -> io::Result<()> {
        match fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_makes_content_visible_once() {
        let dir = tempfile::tempdir().unwrap();
        let b = FsBlobs::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"hello");
        assert_eq!(b.size(&d).unwrap(), None);
        fs::write(b.upload_path("u1"), b"hello").unwrap();
        b.commit("u1", &d).unwrap();
        assert_eq!(b.size(&d).unwrap(), Some(5));
        assert_eq!(fs::read(b.path(&d)).unwrap(), b"hello");
        // a second upload of the same content is absorbed
        fs::write(b.upload_path("u2"), b"hello").unwrap();
        b.commit("u2", &d).unwrap();
        assert!(!b.upload_path("u2").exists());
        b.remove(&d).unwrap();
        assert_eq!(b.size(&d).unwrap(), None);
    }

    #[test]
    fn reopening_drops_stale_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let b = FsBlobs::open(dir.path()).unwrap();
        fs::write(b.upload_path("stale"), b"x").unwrap();
        let b = FsBlobs::open(dir.path()).unwrap();
        assert!(!b.upload_path("stale").exists());
        b.discard("stale").unwrap();
    }
}
