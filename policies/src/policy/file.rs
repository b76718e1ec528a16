//! The policy files as written: TOML read with spans, unknown keys refused. Validation turns
//! this into the typed model in `model`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub version: Option<S<i64>>,
    pub overlay: Option<S<RawOverlay>>,
    pub breakglass: Option<S<RawBreakglass>>,
    #[serde(default)]
    pub environments: BTreeMap<S<String>, S<RawRules>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverlay {
    /// Repository patterns the overlay covers (any of them).
    pub repositories: S<Vec<S<String>>>,
    /// For people reading the file; Tollgate does not use them.
    #[allow(dead_code)]
    pub team: Option<S<String>>,
    #[allow(dead_code)]
    pub description: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBreakglass {
    pub enabled: Option<S<bool>>,
    pub bypass: Option<S<Vec<S<String>>>>,
    pub require_justification: Option<S<bool>>,
}

/// One environment's rules, or one `[[environments.X.repositories]]` block: the same keys,
/// with the environment-only ones refused in blocks during validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRules {
    // Environment level only.
    pub mode: Option<S<String>>,
    pub timezone: Option<S<String>>,
    pub from: Option<S<Vec<S<String>>>>,
    pub max_in_flight: Option<S<i64>>,
    pub breakglass: Option<S<RawBreakglass>>,
    pub repositories: Option<Vec<S<RawRules>>>,
    // Repository blocks only.
    pub pattern: Option<S<String>>,
    // Rules.
    pub signatures: Option<S<RawSignatures>>,
    pub provenance: Option<S<RawProvenance>>,
    pub sbom: Option<S<RawSbom>>,
    pub vulnerabilities: Option<S<RawVulns>>,
    pub version: Option<S<RawVersion>>,
    pub approvals: Option<S<RawApprovals>>,
    pub change_request: Option<S<RawChangeRequest>>,
    pub windows: Option<Vec<S<RawWindow>>>,
    pub freezes: Option<Vec<S<RawFreeze>>>,
    pub conditions: Option<Vec<S<RawCondition>>>,
    pub verification: Option<S<RawVerification>>,
    pub checklist: Option<S<RawChecklist>>,
    pub residency: Option<S<RawResidency>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSignatures {
    pub required: Option<S<bool>>,
    pub min: Option<S<i64>>,
    pub keys: Option<S<Vec<S<String>>>>,
    pub identities: Option<S<Vec<S<RawIdentity>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentity {
    pub issuer: S<String>,
    pub subject: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvenance {
    pub required: Option<S<bool>>,
    pub builders: Option<S<Vec<S<String>>>>,
    pub sources: Option<S<Vec<S<String>>>>,
    pub refs: Option<S<Vec<S<String>>>>,
    pub require_commit: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSbom {
    pub required: Option<S<bool>>,
    pub licenses: Option<S<RawLicenses>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLicenses {
    pub allow: Option<S<Vec<S<String>>>>,
    pub deny: Option<S<Vec<S<String>>>>,
    pub unknown: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVulns {
    pub required: Option<S<bool>>,
    pub max: Option<S<BTreeMap<S<String>, S<i64>>>>,
    pub ignore: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVersion {
    pub semver: Option<S<bool>>,
    pub prerelease: Option<S<bool>>,
    pub increase: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApprovals {
    pub dev: Option<S<i64>>,
    pub ops: Option<S<i64>>,
    pub security: Option<S<i64>>,
    pub business: Option<S<i64>>,
    pub separation_of_duties: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChangeRequest {
    pub required: Option<S<bool>>,
    pub pattern: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindow {
    pub days: S<Vec<S<String>>>,
    pub start: S<String>,
    pub end: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFreeze {
    pub from: S<String>,
    pub until: S<String>,
    pub reason: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCondition {
    pub name: S<String>,
    pub expr: S<String>,
    pub message: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVerification {
    pub require: Option<S<Vec<S<String>>>>,
    pub signed: Option<S<bool>>,
    /// A duration: `90s`, `30m`, `24h`, `2d`.
    pub soak: Option<S<String>>,
    pub criteria: Option<S<BTreeMap<S<String>, S<RawThreshold>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThreshold {
    pub min: Option<S<f64>>,
    pub max: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChecklist {
    pub items: S<Vec<S<RawChecklistItem>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChecklistItem {
    pub name: S<String>,
    pub role: S<String>,
    pub description: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResidency {
    pub region: S<String>,
    pub deny: Option<S<Vec<S<String>>>>,
}
