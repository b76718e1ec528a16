//! Backends share one implementation of the store traits (`kv_store`) over a small ordered
//! key-value transaction interface, so every backend behaves identically by construction and
//! the shared test suite checks the part that differs: atomicity and durability of `Kv`.

pub mod cache;
pub mod copy;
pub mod kv_audit;
pub mod kv_files;
pub mod kv_promotions;
pub mod kv_store;
pub mod memory;
pub mod postgres;
pub mod redb;
mod sbom_rows;

use crate::Result;

/// The tables the store keeps. Keys are strings whose byte order is the listing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Meta,
    /// digest → manifest bytes (shared by every repository holding it)
    Manifests,
    /// repo \0 digest → ManifestRecord JSON
    RepoManifests,
    /// digest \0 repo → ()
    DigestRepos,
    /// repo \0 tag → digest
    Tags,
    /// repo \0 digest → size (u64 LE)
    Blobs,
    /// digest \0 repo → ()
    BlobRepos,
    /// repo \0 subject \0 digest → ()
    Referrers,
    /// name → TokenRecord JSON
    Tokens,
    /// sha256 hex → name
    TokenHashes,
    /// subject \0 evidence digest \0 index (10 digits) → EvidenceRecord JSON
    Evidence,
    /// sbom digest → the SBOM document as ingested
    SbomDocs,
    /// subject \0 sbom digest → SbomRecord JSON
    SbomSubjects,
    /// package key \0 subject \0 sbom digest → that SBOM's components of the package
    /// (`sbom_rows`)
    SbomPackages,
    /// licence id \0 subject \0 sbom digest → that SBOM's components under the licence
    /// (`sbom_rows`)
    SbomLicenses,
    /// promotion id → PromotionRecord JSON
    Promotions,
    /// digest \0 environment → id of the open promotion
    OpenPromotions,
    /// environment \0 promotion id → () for every open promotion
    InFlight,
    /// environment \0 digest \0 repo → PromotedEntry JSON
    Promoted,
    /// digest \0 environment → ()
    PromotedByDigest,
    /// environment \0 repo → PromotedEntry JSON of the latest promotion
    CurrentVersions,
    /// hold id → HoldRecord JSON
    Holds,
    /// sequence (20 digits) → PolicyLoadRecord JSON
    PolicyLoads,
    /// name@version → BundleRecord JSON
    Bundles,
    /// environment \0 repo \0 digest → () for every manifest and blob pulls may serve there
    Servable,
    /// sequence (20 digits) → the audit entry's canonical bytes
    Audit,
    /// tree size (20 digits) → CheckpointRecord JSON
    AuditCheckpoints,
    /// repo \0 path → FileRecord JSON (raw and Maven repositories)
    Files,
    /// `<alg>:<hex>` \0 repo \0 path → () for each checksum of each file's content
    FileSums,
    /// digest \0 environment \0 id → VerificationRecord JSON
    Verifications,
    /// artifact digest \0 promotion id → () (every promotion of an artifact, any state)
    PromotionsByArtifact,
    /// `a` (actor) | `c` (action) \0 value \0 sequence (20 digits) → () for every audit
    /// entry: filtered audit queries read only what they name
    AuditIndex,
    /// repo \0 tag → digest, for tags recorded in upstream mode and not yet confirmed mirrored
    /// there
    TagMirrors,
}

impl Table {
    pub(crate) const ALL: [Table; 33] = [
        Table::Meta,
        Table::Manifests,
        Table::RepoManifests,
        Table::DigestRepos,
        Table::Tags,
        Table::Blobs,
        Table::BlobRepos,
        Table::Referrers,
        Table::Tokens,
        Table::TokenHashes,
        Table::Evidence,
        Table::SbomDocs,
        Table::SbomSubjects,
        Table::SbomPackages,
        Table::SbomLicenses,
        Table::Promotions,
        Table::OpenPromotions,
        Table::InFlight,
        Table::Promoted,
        Table::PromotedByDigest,
        Table::CurrentVersions,
        Table::Holds,
        Table::PolicyLoads,
        Table::Bundles,
        Table::Servable,
        Table::Audit,
        Table::AuditCheckpoints,
        Table::Files,
        Table::FileSums,
        Table::Verifications,
        Table::PromotionsByArtifact,
        Table::AuditIndex,
        Table::TagMirrors,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Manifests => "manifests",
            Table::RepoManifests => "repo_manifests",
            Table::DigestRepos => "digest_repos",
            Table::Tags => "tags",
            Table::Blobs => "blobs",
            Table::BlobRepos => "blob_repos",
            Table::Referrers => "referrers",
            Table::Tokens => "tokens",
            Table::TokenHashes => "token_hashes",
            Table::Evidence => "evidence",
            Table::SbomDocs => "sbom_docs",
            Table::SbomSubjects => "sbom_subjects",
            Table::SbomPackages => "sbom_packages",
            Table::SbomLicenses => "sbom_licenses",
            Table::Promotions => "promotions",
            Table::OpenPromotions => "open_promotions",
            Table::InFlight => "in_flight",
            Table::Promoted => "promoted",
            Table::PromotedByDigest => "promoted_by_digest",
            Table::CurrentVersions => "current_versions",
            Table::Holds => "holds",
            Table::PolicyLoads => "policy_loads",
            Table::Bundles => "bundles",
            Table::Servable => "servable",
            Table::Audit => "audit",
            Table::AuditCheckpoints => "audit_checkpoints",
            Table::Files => "files",
            Table::FileSums => "file_sums",
            Table::Verifications => "verifications",
            Table::PromotionsByArtifact => "promotions_by_artifact",
            Table::AuditIndex => "audit_index",
            Table::TagMirrors => "tag_mirrors",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Reads inside one consistent snapshot.
pub trait KvRead {
    fn get(&self, t: Table, key: &str) -> Result<Option<Vec<u8>>>;
    /// Entries whose key starts with `prefix`, strictly after `prefix + after` when given, in
    /// key order, at most `limit`.
    fn scan(
        &self,
        t: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>>;

    /// The entries whose key starts with `prefix`, from `from` (inclusive; a key with the
    /// prefix) when given, in key order, handed to `f` one by one without being copied out, for
    /// scans that decode thousands of rows. `f` returns whether to go on.
    fn scan_each(
        &self,
        t: Table,
        prefix: &str,
        from: Option<&str>,
        f: &mut dyn FnMut(&str, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        for (k, v) in self.scan(t, prefix, None, usize::MAX)? {
            if from.is_some_and(|from| k.as_str() < from) {
                continue;
            }
            if !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }
}

/// A write transaction: everything done in it becomes visible at once, or not at all.
pub trait KvWrite: KvRead {
    fn put(&mut self, t: Table, key: &str, value: &[u8]) -> Result<()>;
    /// Puts every entry into `t`, as many [`KvWrite::put`]s would; a backend may do it in one
    /// go (the SBOM index writes thousands of rows per document).
    fn put_all<'a>(
        &mut self,
        t: Table,
        entries: &mut dyn Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<()> {
        for (k, v) in entries {
            self.put(t, k, v)?;
        }
        Ok(())
    }
    /// Removes the key; whether it was there.
    fn delete(&mut self, t: Table, key: &str) -> Result<bool>;
}

/// Whether other processes write the same store, and so how far a read cache may trust what
/// it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coherence {
    /// Only this process writes: the cache sees every change itself.
    Exclusive,
    /// Others write, and nothing may be cached.
    Uncached,
    /// Others write; what was cached is good while the store's generation is this one.
    Generation(u64),
}

/// A transactional ordered key-value backend.
pub trait Kv: Send + Sync {
    fn read<R>(&self, f: impl FnOnce(&dyn KvRead) -> Result<R>) -> Result<R>;
    /// Runs `f` in a serialisable write transaction, committed (durably) only if `f` is `Ok`.
    fn write<R>(&self, f: impl FnOnce(&mut dyn KvWrite) -> Result<R>) -> Result<R>;
    /// Like [`Kv::read`] for a closure making one lookup (one `get` or one `scan`), which
    /// sees one consistent state by itself: a backend whose snapshots cost round trips may
    /// skip taking one.
    fn read_point<R>(&self, f: impl FnOnce(&dyn KvRead) -> Result<R>) -> Result<R> {
        self.read(f)
    }
    /// See [`Coherence`]; embedded backends are the only writer of their files.
    fn coherence(&self) -> Coherence {
        Coherence::Exclusive
    }
}
