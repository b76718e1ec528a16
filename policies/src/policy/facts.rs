//! What the gateway knows about a promotion, handed to `evaluate`. Plain data: serialisable
//! so it can be stored beside the decision, shown to CEL conditions and written by hand for
//! `tollgate policy check --facts`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_attest::{Digest, Verdict};
use tollgate_sbom::{LicenseExpr, LicenseInfo, LicenseState, Sbom, VulnReport};

use crate::{ApproverGroup, RoleGrant};

/// Everything a decision depends on, apart from the policy and the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub artifact: ArtifactFacts,
    pub promotion: PromotionFacts,
    /// Stored verdicts of the evidence attached to the artifact (signatures, attestations,
    /// bundles), verified or not: only verified ones count.
    #[serde(default)]
    pub evidence: Vec<EvidenceFacts>,
    #[serde(default)]
    pub sboms: Vec<SbomFacts>,
    /// Reports parsed with `tollgate_sbom::vuln` from verified vulnerability attestations or
    /// attached CycloneDX documents.
    #[serde(default)]
    pub vulnerability_reports: Vec<VulnReport>,
    /// Approvals recorded for this promotion. The gateway records an approval only from a
    /// holder of `approver(GROUP)` for the repository; policy decides which count.
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The tag of the target environment's current release of this repository, if any.
    #[serde(default)]
    pub current_version: Option<String>,
    /// Other promotions to the target environment still in flight (pending or copying).
    #[serde(default)]
    pub in_flight: u32,
    /// Verification results recorded for the artifact in the environment it comes from
    /// (`promotion.from`), oldest first.
    #[serde(default)]
    pub verifications: Vec<VerificationFacts>,
    /// When the artifact arrived in the environment it comes from: its promotion there
    /// completed, or it was pushed into an entry environment.
    #[serde(default)]
    pub arrived_at: Option<DateTime<Utc>>,
    /// Checklist confirmations recorded on this promotion.
    #[serde(default)]
    pub checklist: Vec<ChecklistConfirmation>,
    /// What the promoted repository depends on (the gateway's `[[dependencies]]`) and what
    /// the target environment runs of each.
    #[serde(default)]
    pub dependencies: Vec<DependencyFacts>,
}

/// How a verification came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestResult {
    Passed,
    /// Passed with warnings (in-toto `WARNED`): counts as passing.
    Warned,
    Failed,
}

impl TestResult {
    pub fn passes(self) -> bool {
        self != TestResult::Failed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TestResult::Passed => "passed",
            TestResult::Warned => "warned",
            TestResult::Failed => "failed",
        }
    }
}

/// One recorded verification result: a smoke test, a success-criteria measurement, a canary
/// analysis verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationFacts {
    /// `smoke-test`, `success-criteria`, `canary`, … as recorded.
    pub kind: String,
    /// The environment it was recorded for.
    pub environment: String,
    pub result: TestResult,
    /// Measurements (success criteria): error rate, latency, transaction volume, …
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// The verified signer of a signed result; `None` for one posted by a verifier token.
    #[serde(default)]
    pub signer: Option<String>,
    pub recorded_by: String,
    pub at: DateTime<Utc>,
}

/// A checklist item confirmed for this promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistConfirmation {
    pub item: String,
    pub by: String,
    /// The approver groups the confirmer held for the repository when confirming.
    pub roles: Vec<ApproverGroup>,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactFacts {
    pub digest: Digest,
    /// The repository name, e.g. `team-a/api`.
    pub repository: String,
    /// The tag being promoted (read as SemVer by version rules, a leading `v` allowed).
    #[serde(default)]
    pub tag: Option<String>,
    /// The principal that pushed the manifest.
    #[serde(default)]
    pub pushed_by: Option<String>,
    /// Regions the artifact declares it may run in (manifest annotation
    /// `dev.tollgate.residency`, comma-separated); `None` when it declares none.
    #[serde(default)]
    pub residency: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionFacts {
    /// Source environment (`None` for a first promotion straight from a build repository).
    #[serde(default)]
    pub from: Option<String>,
    /// Target environment.
    pub to: String,
    pub requester: String,
    /// The requester's grants, to know whether they hold `breakglass`.
    #[serde(default)]
    pub requester_roles: Vec<RoleGrant>,
    #[serde(default)]
    pub change_request: Option<String>,
    #[serde(default)]
    pub justification: Option<String>,
    #[serde(default)]
    pub emergency: bool,
    /// Going back to an earlier version: skips the version-must-increase rule, nothing else.
    #[serde(default)]
    pub rollback: bool,
}

/// One piece of evidence: its kind (`cosign-signature`, `attestation`, `sigstore-bundle`)
/// and the stored verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFacts {
    pub kind: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// What licence policy needs of an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SbomFacts {
    #[serde(default)]
    pub format: Option<String>,
    pub components: Vec<ComponentFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ComponentFacts {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub purl: Option<String>,
    /// The SPDX expression, `NOASSERTION`, `NONE`, or `None` when the component states none.
    #[serde(default)]
    pub license: Option<String>,
}

/// An approval of this promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub group: ApproverGroup,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

impl Facts {
    /// The tag read as SemVer (a leading `v` allowed).
    pub fn semver(&self) -> Option<semver::Version> {
        parse_semver(self.artifact.tag.as_deref()?)
    }
}

pub(crate) fn parse_semver(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

impl SbomFacts {
    /// The inventory of a parsed SBOM.
    pub fn from_sbom(sbom: &Sbom) -> Self {
        let format = serde_json::to_value(sbom.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        SbomFacts {
            format,
            components: sbom
                .inventory()
                .iter()
                .map(|c| ComponentFacts {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    purl: c.purl.as_ref().map(ToString::to_string),
                    license: match (&c.licenses.expression, c.licenses.state) {
                        (Some(e), LicenseState::Present) => Some(e.to_string()),
                        (_, LicenseState::NoAssertion) => Some("NOASSERTION".into()),
                        (_, LicenseState::NoneStated) => Some("NONE".into()),
                        _ => None,
                    },
                })
                .collect(),
        }
    }
}

impl ComponentFacts {
    /// The licence facts licence policy judges.
    pub fn license_info(&self) -> LicenseInfo {
        let mut info = LicenseInfo::default();
        match self.license.as_deref().map(str::trim) {
            None | Some("") => {}
            Some("NOASSERTION") => info.state = LicenseState::NoAssertion,
            Some("NONE") => info.state = LicenseState::NoneStated,
            Some(text) => {
                info.expression =
                    Some(LicenseExpr::parse(text).unwrap_or_else(|_| LicenseExpr::from_name(text)));
                info.state = LicenseState::Present;
            }
        }
        info
    }
}

/// One dependency of the promoted repository: the target environment must run `repository`
/// at a version matching `requirement` before the promotion may proceed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyFacts {
    /// The repository depended on, without the environment prefix (`app-api`).
    pub repository: String,
    /// A SemVer requirement (`>=1.4.0`, `^2`), as `semver::VersionReq` reads it.
    pub requirement: String,
    /// The tag the target environment runs of `repository`, if any.
    #[serde(default)]
    pub current: Option<String>,
    /// Where the dependency is declared (`tollgate.toml:12`), shown as the rule's source.
    #[serde(default)]
    pub source: Option<String>,
}

impl DependencyFacts {
    /// Whether `current`, read as SemVer (a leading `v` allowed), satisfies `requirement`.
    /// An unreadable requirement is never satisfied.
    pub fn satisfied(&self) -> bool {
        let Ok(req) = semver::VersionReq::parse(&self.requirement) else {
            return false;
        };
        self.current
            .as_deref()
            .and_then(parse_semver)
            .is_some_and(|v| req.matches(&v))
    }
}
