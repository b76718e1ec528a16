//! # tollgate-policies
//!
//! Owns what Tollgate decides and the names it decides about: validated repository names, tags
//! and references ([`RepoName`], [`Tag`], [`Reference`]), the stable kebab-case
//! [`ReasonCode`]s used in every answer, log line and metric, the rules applied to tags
//! ([`TagRules`]: immutability, SemVer), the roles tokens are granted ([`RoleGrant`]:
//! reader, pusher, admin, promoter, `approver(GROUP)`, breakglass, auditor), and promotion
//! policy as code: a directory of TOML files validated into a [`Policy`] ([`Policy::load`],
//! diagnostics with file, line and column; overlays may only tighten the base) and
//! [`evaluate`]`(&Policy, &Facts, now) -> Decision` (allow / deny / pending, every rule's
//! outcome, reason codes and the policy's digest). The file format, the CEL variables and the
//! list of reason codes are documented in `policies/README.md`. [`retention::plan`] decides
//! which manifests retention rules keep and which they delete, with a reason code for each.
//!
//! It must stay pure: no I/O, no clock (time is always an argument), no environment, no
//! knowledge of HTTP or of how facts are stored — callers read the policy files and gather the
//! [`Facts`]. It may depend only on `tollgate-attest` and `tollgate-sbom`.

pub mod calendar;
mod names;
mod pattern;
mod policy;
mod reason;
pub mod retention;
mod roles;
mod tags;

pub use chrono;
pub use names::{NameError, Reference, RepoName, Tag};
pub use pattern::Pattern;
pub use policy::*;
pub use reason::ReasonCode;
pub use roles::{Action, ApproverGroup, Role, RoleGrant, RoleGrantError};
pub use tags::{SemverRule, TagRules};
