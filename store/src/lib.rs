//! # tollgate-store
//!
//! Owns persistence. Narrow traits say what Tollgate keeps — [`ArtifactStore`] (manifests,
//! tags, blob links, referrers), [`EvidenceStore`] (verdicts on signatures and attestations, by
//! subject), [`SbomStore`] (SBOMs and the where-used index), [`FileStore`] (files of raw and Maven repositories), [`TokenStore`] (API tokens, only as hashes), [`PromotionStore`] (promotions, what each
//! environment holds, legal holds, policy loads), [`AuditStore`] (the append-only audit log
//! and its signed checkpoints) — and each backend
//! implements all of them and passes the one shared test suite (`testsuite`): [`RedbStore`],
//! the embedded default (ACID, durable on commit), [`PgStore`] on PostgreSQL for replicas
//! sharing one database (its tests start a real server, in the e2e crate), and [`MemoryStore`]
//! for tests and ephemeral runs. [`FsBlobs`] keeps blob bytes content-addressed on local disk
//! for embedded mode.
//!
//! It talks only to its own files or its database: no other network, no HTTP types, no
//! clock (times are passed in). Conflicts such as two writers binding one tag are settled here,
//! inside one transaction, never by timing in the caller.

mod audit;
mod backend;
mod blobs;
mod files;
mod model;
mod promotions;
mod sbom_doc;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;

pub use audit::*;
pub use backend::copy::{copy_store, migrate_to_postgres};
pub use backend::memory::MemoryStore;
pub use backend::postgres::{PgOptions, PgStore};
pub use backend::redb::RedbStore;
pub use blobs::FsBlobs;
pub use files::*;
pub use model::*;
pub use promotions::*;
pub use sbom_doc::PackedDocument;

/// The on-disk format version; a store written by another version is refused, not guessed at.
///
/// 2: where-used index rows are compact binary without the digests their keys hold, instead
/// of `ComponentHit` JSON (issue 4: a popular package's query spent most of its time decoding).
/// 3: promotions, what environments hold, holds, policy loads, bundles, the audit log.
/// 4: the where-used index keeps one posting per package (licence) per SBOM, listing that
/// SBOM's components of it, instead of one row per component (issue 4: ingest was mostly
/// B-tree inserts); queries page through it with a cursor.
pub const SCHEMA_VERSION: u64 = 4;

/// Everything a backend provides.
pub trait Store:
    ArtifactStore
    + EvidenceStore
    + SbomStore
    + TokenStore
    + PromotionStore
    + AuditStore
    + FileStore
    + Send
    + Sync
    + std::fmt::Debug
{
}
impl<T> Store for T where
    T: ArtifactStore
        + EvidenceStore
        + SbomStore
        + TokenStore
        + PromotionStore
        + AuditStore
        + FileStore
        + Send
        + Sync
        + std::fmt::Debug
{
}
