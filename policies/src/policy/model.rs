//! The validated, typed policy: what `evaluate` reads. Built only by [`Policy::load`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize, Serializer};
use tollgate_attest::Digest;
use tollgate_sbom::{LicensePolicy, Severity};

use crate::{ApproverGroup, Pattern};

/// Where a rule was written: `file:line:column`. Shown as `file:line` in rule outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Whether failures block (`enforce`) or are only recorded (`warn`, for roll-out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Warn,
    Enforce,
}

/// The kinds of rule a policy can state. Their names appear in rule outcomes and in
/// `[breakglass] bypass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// The target environment exists in the policy.
    Environment,
    /// `from`: which environments may promote into this one.
    Source,
    Signatures,
    Provenance,
    Sbom,
    Licenses,
    Vulnerabilities,
    Version,
    Approvals,
    /// Approvals by the pusher or requester were discarded (a warning; never blocks alone).
    SeparationOfDuties,
    ChangeRequest,
    Windows,
    Freezes,
    InFlight,
    Conditions,
    /// The emergency promotion itself: role and justification.
    Breakglass,
    /// Verification results recorded in the environment the promotion comes from: smoke
    /// tests, success criteria, canary analysis.
    Verification,
    /// Minimum time in the environment the promotion comes from (bake time between waves).
    Soak,
    /// The pre-deployment checklist: items confirmed by people holding their roles.
    Checklist,
    /// Data residency: artifacts barred from the environment's region.
    Residency,
    /// Repositories this one depends on (the gateway's `[[dependencies]]`) must run a
    /// satisfying version in the target environment; failing, the promotion waits (pending).
    Dependencies,
}

impl RuleKind {
    pub const ALL: [RuleKind; 21] = [
        RuleKind::Environment,
        RuleKind::Source,
        RuleKind::Signatures,
        RuleKind::Provenance,
        RuleKind::Sbom,
        RuleKind::Licenses,
        RuleKind::Vulnerabilities,
        RuleKind::Version,
        RuleKind::Approvals,
        RuleKind::SeparationOfDuties,
        RuleKind::ChangeRequest,
        RuleKind::Windows,
        RuleKind::Freezes,
        RuleKind::InFlight,
        RuleKind::Conditions,
        RuleKind::Breakglass,
        RuleKind::Verification,
        RuleKind::Soak,
        RuleKind::Checklist,
        RuleKind::Residency,
        RuleKind::Dependencies,
    ];

    /// What break-glass bypasses when a policy does not say: governance, not evidence.
    pub const DEFAULT_BYPASS: [RuleKind; 7] = [
        RuleKind::Windows,
        RuleKind::Freezes,
        RuleKind::Approvals,
        RuleKind::ChangeRequest,
        RuleKind::InFlight,
        RuleKind::Soak,
        RuleKind::Checklist,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Environment => "environment",
            RuleKind::Source => "source",
            RuleKind::Signatures => "signatures",
            RuleKind::Provenance => "provenance",
            RuleKind::Sbom => "sbom",
            RuleKind::Licenses => "licenses",
            RuleKind::Vulnerabilities => "vulnerabilities",
            RuleKind::Version => "version",
            RuleKind::Approvals => "approvals",
            RuleKind::SeparationOfDuties => "separation-of-duties",
            RuleKind::ChangeRequest => "change-request",
            RuleKind::Windows => "windows",
            RuleKind::Freezes => "freezes",
            RuleKind::InFlight => "in-flight",
            RuleKind::Conditions => "conditions",
            RuleKind::Breakglass => "breakglass",
            RuleKind::Verification => "verification",
            RuleKind::Soak => "soak",
            RuleKind::Checklist => "checklist",
            RuleKind::Residency => "residency",
            RuleKind::Dependencies => "dependencies",
        }
    }

    /// Whether `[breakglass] bypass` may name it. Residency is law, not governance: no
    /// emergency moves an artifact into a region it is barred from.
    pub fn bypassable(self) -> bool {
        !matches!(
            self,
            RuleKind::Environment
                | RuleKind::SeparationOfDuties
                | RuleKind::Breakglass
                | RuleKind::Residency
        )
    }

    /// Whether a failure of this kind can pass by waiting rather than by a new request:
    /// approvals and checklist confirmations still to come, verification results not yet
    /// recorded, soak time still running, dependencies not yet in the target environment.
    /// Only these leave a promotion pending.
    pub fn waits(self, reason: Option<crate::ReasonCode>) -> bool {
        match self {
            RuleKind::Approvals | RuleKind::Checklist | RuleKind::Soak | RuleKind::Dependencies => {
                true
            }
            RuleKind::Verification => reason == Some(crate::ReasonCode::VerificationMissing),
            _ => false,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A loaded, validated policy: the base and every overlay, per environment.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) digest: Digest,
    pub(crate) files: Vec<String>,
    pub(crate) environments: BTreeMap<String, Environment>,
}

impl Policy {
    /// sha256 over the loaded files (see [`crate::policy_digest`]); stamped on every decision.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The file names that were loaded, sorted.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.get(name)
    }

    /// Environment names, sorted.
    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.environments.keys().map(String::as_str)
    }
}

/// One environment: its time zone and the rule sets that may apply to a promotion into it.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    /// IANA zone for windows and freezes (default UTC).
    pub timezone: Tz,
    /// The base's environment-level rules first, then base repository blocks, then each
    /// overlay's environment rules and blocks. All that apply to a repository must pass.
    pub rule_sets: Vec<RuleSet>,
}

impl Environment {
    /// The base's mode for the environment (overlays may only turn `warn` into `enforce`).
    pub fn mode(&self) -> Mode {
        self.rule_sets
            .first()
            .and_then(|r| r.mode)
            .unwrap_or(Mode::Enforce)
    }

    /// The rule sets that apply to `repository`.
    pub fn applicable<'a>(&'a self, repository: &'a str) -> impl Iterator<Item = &'a RuleSet> {
        self.rule_sets
            .iter()
            .filter(move |r| r.applies_to(repository))
    }
}

/// Rules from one place: an environment section of the base or of an overlay, or a
/// repository block within one.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub origin: Option<Origin>,
    /// For overlays: the repositories the overlay covers (any of them).
    pub overlay: Option<Vec<Pattern>>,
    /// For repository blocks: the block's pattern.
    pub block: Option<Pattern>,
    pub mode: Option<Mode>,
    pub from: Option<At<Vec<String>>>,
    pub max_in_flight: Option<At<u32>>,
    pub breakglass: Option<Breakglass>,
    pub signatures: Option<Signatures>,
    pub provenance: Option<ProvenanceRule>,
    pub sbom: Option<SbomRule>,
    pub vulnerabilities: Option<VulnRule>,
    pub version: Option<VersionRule>,
    pub approvals: Option<Approvals>,
    pub change_request: Option<ChangeRequestRule>,
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
    pub conditions: Vec<Condition>,
    pub verification: Option<VerificationRule>,
    pub checklist: Option<ChecklistRule>,
    pub residency: Option<ResidencyRule>,
}

impl RuleSet {
    pub fn applies_to(&self, repository: &str) -> bool {
        self.overlay
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p.matches(repository)))
            && self.block.as_ref().is_none_or(|p| p.matches(repository))
    }
}

/// A value and where it was written.
#[derive(Debug, Clone)]
pub struct At<T> {
    pub value: T,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct Breakglass {
    pub origin: Origin,
    pub enabled: bool,
    pub bypass: BTreeSet<RuleKind>,
    pub require_justification: bool,
}

/// Signatures by trusted signers. With neither keys nor identities, any signer the gateway's
/// trust configuration verified counts.
#[derive(Debug, Clone)]
pub struct Signatures {
    pub origin: Origin,
    pub required: bool,
    pub min: u32,
    /// Names of trusted keys (`Signer::Key { name }`).
    pub keys: Vec<String>,
    pub identities: Vec<Identity>,
}

/// A keyless signer: exact issuer, subject glob.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: Pattern,
}

#[derive(Debug, Clone)]
pub struct ProvenanceRule {
    pub origin: Origin,
    pub required: bool,
    pub builders: Vec<Pattern>,
    pub sources: Vec<Pattern>,
    pub refs: Vec<Pattern>,
    pub require_commit: bool,
}

#[derive(Debug, Clone)]
pub struct SbomRule {
    pub origin: Origin,
    pub required: bool,
    pub licenses: Option<At<LicensePolicy>>,
}

#[derive(Debug, Clone)]
pub struct VulnRule {
    pub origin: Origin,
    pub required: bool,
    /// Most findings allowed per severity; a severity not listed is unlimited.
    pub max: BTreeMap<Severity, u32>,
    /// Vulnerability ids not counted.
    pub ignore: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct VersionRule {
    pub origin: Origin,
    /// The tag must be SemVer (also implied by the two checks below).
    pub semver: bool,
    /// Whether pre-releases may enter.
    pub prerelease: bool,
    /// The version must exceed the environment's current one, unless the promotion is a
    /// rollback.
    pub increase: bool,
}

#[derive(Debug, Clone)]
pub struct Approvals {
    pub origin: Origin,
    pub need: BTreeMap<ApproverGroup, u32>,
    /// Approvals by the artifact's pusher or the promotion's requester do not count.
    pub separation_of_duties: bool,
}

#[derive(Debug, Clone)]
pub struct ChangeRequestRule {
    pub origin: Origin,
    pub required: bool,
    /// The id must match this regular expression in full.
    pub pattern: Option<(String, regex::Regex)>,
}

/// Open on `days` from `start` to `end` (minutes after local midnight, `end` exclusive).
#[derive(Debug, Clone)]
pub struct Window {
    pub origin: Origin,
    /// Monday first.
    pub days: [bool; 7],
    pub start: u32,
    pub end: u32,
}

/// Closed from `from` (inclusive) to `until` (exclusive), local time.
#[derive(Debug, Clone)]
pub struct Freeze {
    pub origin: Origin,
    pub from: NaiveDateTime,
    pub until: NaiveDateTime,
    pub reason: String,
}

/// A custom CEL condition; it must evaluate to `true`.
#[derive(Debug, Clone)]
pub struct Condition {
    pub origin: Origin,
    pub name: String,
    pub expr: String,
    pub message: Option<String>,
    pub(crate) program: Arc<cel::Program>,
}

/// What an artifact must show from the environment it comes from before it moves on.
#[derive(Debug, Clone)]
pub struct VerificationRule {
    pub origin: Origin,
    /// Result kinds (`smoke-test`, `canary`, …) whose latest result recorded there must pass.
    pub require: BTreeSet<String>,
    /// Only results whose DSSE signature verified against the gateway's trust count.
    pub signed: bool,
    /// Thresholds the latest `success-criteria` result's metrics must meet, by metric name.
    pub criteria: BTreeMap<String, Threshold>,
    /// Minimum time since the artifact arrived there, in seconds.
    pub soak_secs: Option<u64>,
}

/// The result kind success-criteria metrics are recorded under.
pub const SUCCESS_CRITERIA: &str = "success-criteria";

/// Bounds on one metric (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Threshold {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Threshold {
    pub fn admits(&self, v: f64) -> bool {
        v.is_finite() && self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) => write!(f, "between {a} and {b}"),
            (Some(a), None) => write!(f, "at least {a}"),
            (None, Some(b)) => write!(f, "at most {b}"),
            (None, None) => f.write_str("any value"),
        }
    }
}

/// Items people confirm before a deployment, each by a holder of its role.
#[derive(Debug, Clone)]
pub struct ChecklistRule {
    pub origin: Origin,
    pub items: Vec<ChecklistItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecklistItem {
    /// Kebab-case, e.g. `backup-validated`.
    pub name: String,
    /// Who may confirm it: a holder of `approver(ROLE)` for the repository.
    pub role: ApproverGroup,
    pub description: Option<String>,
}

/// The environment's region and what may not run there.
#[derive(Debug, Clone)]
pub struct ResidencyRule {
    pub origin: Origin,
    /// The region name artifacts declare (`dev.tollgate.residency` annotation) to be allowed.
    pub region: String,
    /// Repositories barred from the region.
    pub deny: Vec<Pattern>,
}

// The gateway shares one loaded policy between request handlers.
const _: fn() = || {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Policy>();
};
