use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tollgate_attest::{Digest, Evidence, Verdict};
use tollgate_policies::{RepoName, RoleGrant, Tag};

/// Errors a backend reports. Conflicts are values the caller turns into answers; the rest are
/// failures of the backend itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tag is immutable and already bound to {existing}")]
    TagConflict { existing: Digest },
    #[error("the path is immutable and already holds {existing}")]
    PathConflict { existing: Digest },
    #[error("a token named {0:?} already exists")]
    TokenExists(String),
    #[error("store schema version {found} is not the supported version {expected}")]
    SchemaMismatch { found: u64, expected: u64 },
    /// Another writer changed the record since it was read; read it again and retry.
    #[error("conflicting update: {0}")]
    Conflict(String),
    #[error("store record is corrupt: {0}")]
    Corrupt(String),
    #[error("store backend failed: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What Tollgate records about a manifest in a repository (the per-digest artifact record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The manifest's `artifactType`, else its config media type (as the referrers API reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub pushed_by: String,
    /// Milliseconds since the Unix epoch, as given by the caller.
    pub pushed_at_ms: i64,
}

/// How a tag was bound by [`ArtifactStore::put_manifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOutcome {
    Created,
    Unchanged,
    Moved { previous: Digest },
}

/// A tag binding requested with a manifest push.
#[derive(Debug, Clone, Copy)]
pub struct TagBinding<'a> {
    pub tag: &'a Tag,
    /// When true, an existing binding to another digest is a [`StoreError::TagConflict`].
    pub immutable: bool,
    /// When true (upstream mode), the binding is also queued, in the same transaction, as a
    /// tag still to mirror upstream, until [`ArtifactStore::tag_mirrored`] confirms it: a
    /// crash or an upstream failure after the push cannot lose the mirror.
    pub mirror: bool,
}

/// A tag recorded with [`TagBinding::mirror`] whose upstream copy is not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PendingMirror {
    pub repository: RepoName,
    pub tag: Tag,
    /// What the tag named when it was queued; it may have moved since.
    pub digest: Digest,
}

/// One repository's view of an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactEntry {
    pub repository: RepoName,
    pub record: ManifestRecord,
    pub tags: Vec<Tag>,
}

/// Manifests, tags, blob links and the referrers index, per repository.
pub trait ArtifactStore {
    /// Records `bytes` as manifest `record.digest` in `repo` and binds `tag` to it, all in one
    /// transaction: a tag conflict leaves nothing written.
    fn put_manifest(
        &self,
        repo: &RepoName,
        record: &ManifestRecord,
        bytes: &[u8],
        tag: Option<TagBinding<'_>>,
    ) -> Result<Option<TagOutcome>>;

    /// The record and exact bytes of a manifest present in `repo`.
    fn get_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<(ManifestRecord, Bytes)>>;

    fn resolve_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<Digest>>;

    /// Up to `limit` tags of `repo` in byte order, strictly after `after` when given.
    fn list_tags(&self, repo: &RepoName, after: Option<&str>, limit: usize) -> Result<Vec<Tag>>;

    /// Whether the repository holds any manifest.
    fn repository_exists(&self, repo: &RepoName) -> Result<bool>;

    /// Every repository holding at least one manifest, in name order.
    fn list_repositories(&self) -> Result<Vec<RepoName>>;

    /// Tags of `repo` bound to `digest`.
    fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<Tag>>;

    /// Up to `limit` tags queued for mirroring upstream, in repository and tag order.
    fn pending_mirrors(&self, limit: usize) -> Result<Vec<PendingMirror>>;

    /// Removes `repo:tag` from the mirror queue if it still names `digest` (a mutable tag
    /// moved meanwhile stays queued for its new digest); whether it was removed.
    fn tag_mirrored(&self, repo: &RepoName, tag: &Tag, digest: &Digest) -> Result<bool>;

    /// Removes the tag; returns the digest it was bound to.
    fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<Digest>>;

    /// Removes the manifest from `repo` with its tags and referrers entry. False if absent.
    fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Manifests in `repo` whose `subject` is `subject`, in digest order.
    fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<ManifestRecord>>;

    /// Every repository holding `digest`, with its record and tags there.
    fn artifact(&self, digest: &Digest) -> Result<Vec<ArtifactEntry>>;

    /// Every manifest of `repo`, in digest order.
    fn list_artifacts(&self, repo: &RepoName) -> Result<Vec<ArtifactEntry>>;

    /// Records that blob `digest` of `size` bytes is part of `repo`.
    fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()>;

    /// The size of blob `digest` if it is part of `repo`.
    fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// Removes the blob from `repo`; returns whether any repository still links it.
    fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<bool>>;
}

/// An API token as stored: never the token itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    /// Lowercase hex SHA-256 of the token.
    pub hash: String,
    pub roles: Vec<RoleGrant>,
    pub created_at_ms: i64,
    #[serde(default)]
    pub revoked: bool,
    /// When the token was last presented (kept to the minute), for access reviews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_ms: Option<i64>,
}

pub trait TokenStore {
    /// Stores a new token; a name in use (even revoked) is [`StoreError::TokenExists`].
    fn create_token(&self, token: &TokenRecord) -> Result<()>;
    /// The token whose hash is `hash_hex`, revoked or not.
    fn token_by_hash(&self, hash_hex: &str) -> Result<Option<TokenRecord>>;
    fn list_tokens(&self) -> Result<Vec<TokenRecord>>;
    /// Marks the token revoked; false if no such token.
    fn revoke_token(&self, name: &str) -> Result<bool>;
    /// Records that the token was used at `at_ms` (never moving the time back).
    fn touch_token(&self, name: &str, at_ms: i64) -> Result<()>;
}

/// A piece of evidence about `subject` and the verdict reached on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub subject: Digest,
    /// The manifest that carried the evidence, or the sha256 of a posted document.
    pub evidence_digest: Digest,
    /// Which layer (signature) of that manifest.
    pub index: u32,
    /// Where it was pushed; `None` when posted through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepoName>,
    pub evidence: Evidence,
    pub verdict: Verdict,
    /// The trust configuration the verdict was reached under.
    pub trust_digest: Digest,
    pub recorded_at_ms: i64,
}

/// Verified evidence, by the subject it speaks about (which need not exist yet).
pub trait EvidenceStore {
    /// Records (or replaces) the verdict on one piece of evidence.
    fn put_evidence(&self, rec: &EvidenceRecord) -> Result<()>;
    /// Everything recorded about `subject`, in evidence-digest order.
    fn evidence_for(&self, subject: &Digest) -> Result<Vec<EvidenceRecord>>;
    /// Every record, for re-verification when trust changes.
    fn all_evidence(&self) -> Result<Vec<EvidenceRecord>>;
    /// Drops what a deleted evidence manifest said.
    fn delete_evidence(&self, subject: &Digest, evidence_digest: &Digest) -> Result<usize>;
}

/// An SBOM held for an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomRecord {
    pub subject: Digest,
    /// sha256 of the document as ingested.
    pub sbom_digest: Digest,
    /// `cyclonedx` or `spdx`.
    pub format: String,
    pub spec_version: String,
    pub components: usize,
    /// How it arrived: `referrer`, `cosign-sbom-tag`, `attestation` or `api`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepoName>,
    pub recorded_at_ms: i64,
}

/// One component of one SBOM, as the where-used index returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentHit {
    pub subject: Digest,
    pub sbom_digest: Digest,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Canonical purl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// `type/namespace/name` of the purl: what where-used queries look up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The licence expression, when one is stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// SPDX ids in the expression, for the licence index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub license_ids: Vec<String>,
}

/// Where a page of where-used hits ended: the index position of its last hit (the artifact, the
/// SBOM and the component's place in it). The next page starts right after it. Callers treat it
/// as opaque bytes ([`HitCursor::to_bytes`], [`HitCursor::from_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HitCursor {
    pub(crate) subject: String,
    pub(crate) sbom: String,
    pub(crate) index: u32,
}

impl HitCursor {
    pub(crate) fn new(subject: &str, sbom: &str, index: u32) -> Self {
        HitCursor {
            subject: subject.to_owned(),
            sbom: sbom.to_owned(),
            index,
        }
    }

    /// The cursor as bytes, for a caller to hand out (wrapped as it likes) and take back.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{}\0{}\0{}", self.subject, self.sbom, self.index).into_bytes()
    }

    /// A cursor from [`HitCursor::to_bytes`]; `None` for bytes no cursor has.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split('\0');
        let (Some(subject), Some(sbom), Some(index), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        // Digests in their canonical spelling only: the cursor is compared with index keys.
        let canonical = |s: &str| s.parse::<Digest>().is_ok_and(|d| d.to_string() == s);
        if !canonical(subject)
            || !canonical(sbom)
            || index.is_empty()
            || !index.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(HitCursor::new(subject, sbom, index.parse().ok()?))
    }
}

/// One page of a where-used answer: hits in index order, and where the next page starts when
/// there are more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HitPage {
    pub hits: Vec<ComponentHit>,
    /// `Some` when more hits follow the last one of this page (pass it to get them).
    pub next: Option<HitCursor>,
}

/// A test of a component's version (`None`: the component has none) for where-used by package.
pub type KeepVersion<'a> = &'a dyn Fn(Option<&str>) -> bool;

/// SBOMs by subject, and the where-used index over their components.
pub trait SbomStore {
    /// Records an SBOM and indexes its components, in one transaction. Idempotent: an SBOM
    /// already held for this subject changes nothing (false). Every component must carry
    /// `rec`'s subject and SBOM digest.
    fn put_sbom(
        &self,
        rec: &SbomRecord,
        document: &[u8],
        components: &[ComponentHit],
    ) -> Result<bool> {
        self.put_sbom_packed(rec, &crate::PackedDocument::pack(document), components)
    }
    /// [`SbomStore::put_sbom`] with the document already packed (the ingest path packs it
    /// while it parses).
    fn put_sbom_packed(
        &self,
        rec: &SbomRecord,
        document: &crate::PackedDocument,
        components: &[ComponentHit],
    ) -> Result<bool>;
    /// Drops an SBOM of `rec.subject` and its where-used entries, given the components it was
    /// indexed with (the caller parses the stored document again), in one transaction; false
    /// if it was not held. The document itself stays: other subjects may share it.
    fn delete_sbom(&self, rec: &SbomRecord, components: &[ComponentHit]) -> Result<bool>;
    fn sboms_for(&self, subject: &Digest) -> Result<Vec<SbomRecord>>;
    fn sbom_document(&self, sbom_digest: &Digest) -> Result<Option<Bytes>>;
    /// A page of the components whose purl package key (`type/namespace/name`) is `package`,
    /// in index order (artifact digest, SBOM digest, place in the SBOM): at most `limit`,
    /// starting after `after`, and only those whose version `keep` accepts when given (the
    /// limit counts matches, not rows looked at). The scan starts at the cursor; backends may
    /// test versions before decoding whole rows.
    fn components_by_package(
        &self,
        package: &str,
        after: Option<&HitCursor>,
        limit: usize,
        keep: Option<KeepVersion<'_>>,
    ) -> Result<HitPage>;
    /// A page of the components whose licence expression names `license_id`, as
    /// [`SbomStore::components_by_package`] pages them.
    fn components_by_license(
        &self,
        license_id: &str,
        after: Option<&HitCursor>,
        limit: usize,
    ) -> Result<HitPage>;
}
