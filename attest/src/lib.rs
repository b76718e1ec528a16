//! # tollgate-attest
//!
//! Owns content identity and evidence: the typed [`Digest`] every other crate uses to name bytes,
//! the streaming [`DigestHasher`] that computes it, and offline verification of evidence —
//! cosign simple-signing signatures (key-based and keyless, with their Rekor bundle), Sigstore
//! bundles v0.1–v0.3, DSSE envelopes, in-toto statements and SLSA provenance v0.2/v1 normalised
//! into one [`Provenance`] — against the [`Trust`] it is given (named keys, a pinned Sigstore
//! trusted root, trusted identities and builders). Every failure has a stable reason code
//! ([`VerifyError::code`]). [`merkle`] holds RFC 6962 tree hashing and proofs for
//! tamper-evident logs, [`note`] their signed checkpoints (C2SP signed-note, Ed25519).
//!
//! It must not do I/O of any kind — no network, no files: callers hand it bytes and trust
//! material. It depends on no other Tollgate crate. (The Sigstore verifier it delegates to reads
//! the clock only to refuse log entries integrated in the future.)

mod digest;
pub mod dsse;
mod error;
mod evidence;
pub mod merkle;
pub mod note;
pub mod provenance;
pub mod simple_signing;
pub mod statement;
pub mod trust;
mod verify;

pub use digest::{Algorithm, Digest, DigestError, DigestHasher};
pub use error::VerifyError;
pub use evidence::{Evidence, Verdict};
pub use provenance::Provenance;
pub use statement::Statement;
pub use trust::{IdentityRule, NamedKey, SubjectMatcher, Trust};
pub use verify::{
    CosignSignature, Signer, TlogInfo, Verified, verify_bundle, verify_cosign, verify_envelope,
    verify_provenance,
};
