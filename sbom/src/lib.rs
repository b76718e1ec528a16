//! # tollgate-sbom
//!
//! Owns the software bill of materials vocabulary of Tollgate: lenient models of CycloneDX
//! (1.2–1.7) and SPDX (2.2/2.3) JSON normalised into one [`Sbom`] ([`parse`]), package URLs
//! ([`Purl`]), and licence expressions ([`LicenseExpr`]) judged with SPDX semantics against a
//! [`LicensePolicy`]. Version ordering per ecosystem and version ranges for where-used queries
//! live in [`version`]; vulnerability reports (cosign vuln attestations, CycloneDX
//! `vulnerabilities`) normalised into a [`VulnReport`] in [`vuln`]; [`export`] writes an
//! [`Sbom`] out in either format.
//!
//! It must not do I/O, read a clock or depend on any other Tollgate crate: it is a leaf, fed
//! bytes by the gateway and read by `policies` and `store`. SPDX 3 JSON-LD is recognised and
//! refused, not read.

mod cyclonedx;
mod de;
mod error;
mod export;
pub mod license;
mod model;
mod parse;
pub mod purl;
mod spdx2;
pub mod version;
pub mod vuln;

pub use error::{MalformedKind, SbomError};
pub use export::{ExportMeta, export};
pub use license::{
    Combine, LicenseError, LicenseExpr, LicenseInfo, LicenseOrigin, LicensePolicy, LicenseState,
    LicenseVerdict, Outcome, PolicyLicense, REASON_DENIED, REASON_UNKNOWN, UnknownLicense,
    evaluate,
};
pub use model::{
    Component, ComponentId, ComponentKind, Format, Hash, HashAlg, Sbom, Tool, Warning, WarningKind,
};
pub use parse::{DEFAULT_MAX_BYTES, ParseOptions, parse, parse_with};
pub use purl::{Purl, PurlError};
pub use version::{Ecosystem, VersionKey, VersionRange, VersionRangeError};
pub use vuln::{
    COSIGN_VULN_PREDICATE, Severity, VulnError, VulnReport, VulnSource, Vulnerability,
    parse_vuln_report,
};
