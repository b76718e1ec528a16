//! # tollgate-sbom
//!
//! Owns the software bill of materials vocabulary of Tollgate: lenient models of CycloneDX
//! (1.2–1.7) and SPDX (2.2/2.3) JSON normalised into one `Sbom`, package URLs (`Purl`), version
//! ranges, and licence expressions evaluated with SPDX semantics.
//!
//! It must not do I/O, read a clock or depend on any other Tollgate crate: it is a leaf, fed
//! bytes by the gateway and read by `policies` and `store`.
//!
//! Nothing is implemented here yet: the SBOM issue fills it.
