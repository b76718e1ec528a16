//! # tollgate-attest
//!
//! Owns content identity and evidence: the typed [`Digest`] every other crate uses to name bytes,
//! the streaming [`DigestHasher`] that computes it, and (as the evidence issue lands) offline
//! verification of cosign signatures, Sigstore bundles, DSSE envelopes and in-toto/SLSA
//! provenance against a pinned trust root.
//!
//! It must not do I/O of any kind — no network, no files, no clock: callers hand it bytes and
//! the time to judge them at. It depends on no other Tollgate crate.

mod digest;

pub use digest::{Algorithm, Digest, DigestError, DigestHasher};
