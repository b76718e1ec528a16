//! # tollgate-policies
//!
//! Owns what Tollgate decides and the names it decides about: validated repository names, tags
//! and references ([`RepoName`], [`Tag`], [`Reference`]), the stable kebab-case
//! [`ReasonCode`]s used in every answer, log line and metric, the rules applied to tags
//! ([`TagRules`]: immutability, SemVer) and the roles tokens are granted ([`RoleGrant`]). The promotion policy language and
//! `evaluate(&Policy, &Facts, now) -> Decision` land here with the policy issue.
//!
//! It must stay pure: no I/O, no clock (time is always an argument), no knowledge of HTTP or of
//! how facts are stored. It may depend only on `tollgate-attest` and `tollgate-sbom`.

mod names;
mod pattern;
mod reason;
mod roles;
mod tags;

pub use names::{NameError, Reference, RepoName, Tag};
pub use pattern::Pattern;
pub use reason::ReasonCode;
pub use roles::{Action, Role, RoleGrant, RoleGrantError};
pub use tags::{SemverRule, TagRules};
