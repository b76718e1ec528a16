//! # tollgate (the gateway)
//!
//! Owns everything that touches a network, a clock or the process: the HTTP fronts (the OCI
//! Distribution API in [`oci`], the raw and Maven fronts in [`repositories`], the management
//! API in [`api`]), the upstream registry client
//! ([`upstream`]), authentication ([`auth`]), configuration ([`config`]), metrics, the CLI and
//! the wiring between them. It is the only crate that turns errors into HTTP answers, in one
//! table ([`error`]).
//!
//! Below it, `tollgate-store` persists, `tollgate-policies` decides and `tollgate-attest` names
//! and verifies content; none of them may depend on this crate. Raw digest strings from the
//! wire are parsed into typed values here, at the edge, and never passed further down.

pub mod admission;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod blob_cache;
pub mod calendar;
pub mod client;
pub mod config;
pub mod error;
pub mod events;
pub mod evidence;
pub mod inspect;
pub mod metrics;
pub mod oci;
pub mod policy_cli;
pub mod policy_state;
pub mod promote_cli;
pub mod promotion;
pub mod release_cli;
pub mod reports;
pub mod repositories;
pub mod retention;
pub mod sbom_cli;
pub mod sboms;
pub mod serve;
pub mod tls;
pub mod ui;
pub mod upstream;
pub mod verify_cli;

/// mimalloc instead of glibc's malloc for every binary built on this crate (the gateway and its
/// benchmarks): SBOM ingest makes and frees ~10 small allocations per component within one
/// call, and glibc spent a quarter of that CPU consolidating and unlinking chunks
/// (BENCHMARKS.md, "SBOM ingest").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
