//! Files of raw and Maven repositories (the `/repository/…` and `/artifactory/…` fronts): what
//! each path of a repository holds, and an index from every checksum of the content back to the
//! paths holding it (deploy by checksum, artifact records by sha256).

use serde::{Deserialize, Serialize};
use tollgate_attest::Digest;
use tollgate_policies::RepoName;

use crate::Result;

/// The checksums of a file's content besides its sha256 [`FileRecord::digest`], as lowercase
/// hex: what Maven sidecars and Artifactory's `X-Checksum-*` headers carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChecksums {
    pub sha1: String,
    pub md5: String,
    pub sha512: String,
}

/// One file of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The path inside the repository (`org/example/demo/1.0/demo-1.0.jar`), validated by the
    /// caller: no empty, `.` or `..` segments, no control characters.
    pub path: String,
    /// sha256 of the content: the artifact's identity for evidence, SBOMs and promotion.
    pub digest: Digest,
    pub size: u64,
    pub checksums: FileChecksums,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The package URL of what the file is (`pkg:maven/…`, `pkg:generic/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    pub pushed_by: String,
    /// Milliseconds since the Unix epoch, as given by the caller.
    pub pushed_at_ms: i64,
}

impl FileRecord {
    /// The hex checksum of the content under `algorithm` (`sha256`, `sha1`, `md5`, `sha512`).
    pub fn checksum(&self, algorithm: &str) -> Option<&str> {
        match algorithm {
            "sha256" => Some(self.digest.hex()),
            "sha1" => Some(&self.checksums.sha1),
            "md5" => Some(&self.checksums.md5),
            "sha512" => Some(&self.checksums.sha512),
            _ => None,
        }
    }
}

/// A file and the repository holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub repository: RepoName,
    pub record: FileRecord,
}

/// How [`FileStore::put_file`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    Created,
    /// The path already held these bytes; the first record is kept.
    Unchanged,
    /// The path held other bytes, which the new ones replaced.
    Replaced {
        previous: Digest,
    },
}

/// The algorithms the checksum index covers.
pub const FILE_CHECKSUM_ALGORITHMS: [&str; 4] = ["sha256", "sha1", "md5", "sha512"];

/// Files by repository and path, and the checksum index over them.
pub trait FileStore {
    /// Records `rec` at `rec.path` in `repo`. A path already holding the same bytes is
    /// [`FileOutcome::Unchanged`]; one holding other bytes is replaced, unless `immutable`:
    /// then [`crate::StoreError::PathConflict`] and nothing is written. Settled in one
    /// transaction, so of two writers racing for an immutable path one wins.
    fn put_file(&self, repo: &RepoName, rec: &FileRecord, immutable: bool) -> Result<FileOutcome>;
    fn get_file(&self, repo: &RepoName, path: &str) -> Result<Option<FileRecord>>;
    /// Removes the file; returns what it held.
    fn delete_file(&self, repo: &RepoName, path: &str) -> Result<Option<FileRecord>>;
    /// Removes the file only if `path` still holds `digest`, in one transaction; whether it
    /// did. Undoes a [`FileStore::put_file`] whose bytes could not be stored after all without
    /// touching what another writer may have bound since.
    fn unbind_file(&self, repo: &RepoName, path: &str, digest: &Digest) -> Result<bool>;
    /// Every file whose content has `hex` as its `algorithm` checksum (one of
    /// [`FILE_CHECKSUM_ALGORITHMS`]), in repository and path order.
    fn files_with_checksum(&self, algorithm: &str, hex: &str) -> Result<Vec<FileEntry>>;
    /// Every file whose content is `digest` (sha256).
    fn files_with_digest(&self, digest: &Digest) -> Result<Vec<FileEntry>> {
        self.files_with_checksum(digest.algorithm().as_str(), digest.hex())
    }
    /// Up to `limit` files of `repo` whose path starts with `prefix`, in path order.
    fn list_files(&self, repo: &RepoName, prefix: &str, limit: usize) -> Result<Vec<FileRecord>>;
}
