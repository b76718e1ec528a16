//! Promotions, what each environment holds, legal holds and policy loads.

use serde::{Deserialize, Serialize};
use tollgate_attest::Digest;
use tollgate_policies::{RepoName, Tag};

use crate::Result;

/// Where a promotion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromotionState {
    /// Policy passed except for approvals still to come.
    Pending,
    /// Policy refused it; final.
    Denied,
    /// Allowed, and the copy into the target repository is under way.
    Copying,
    /// Allowed and copied: the artifact is in the target environment.
    Promoted,
    /// Allowed, but copying failed; retrying the same request resumes it.
    Failed,
    /// Requested for a later time (`scheduled_for_ms`): decided and, when allowed, copied
    /// then by the gateway's scheduler. Open, like pending.
    Scheduled,
    /// Withdrawn while scheduled or pending, by its requester or an admin; final.
    Cancelled,
}

impl PromotionState {
    /// Still to be settled: counts as "in flight" and blocks a duplicate request.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Copying | Self::Failed | Self::Scheduled
        )
    }
}

/// One approval of a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The approving token's name.
    pub by: String,
    /// The role group it approved for (`security`, `ops`, …).
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at_ms: i64,
}

/// The post-mortem an emergency promotion owes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postmortem {
    pub opened_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at_ms: Option<i64>,
}

/// A request to move an artifact into an environment, and everything decided about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionRecord {
    /// Assigned by the store (`prm-000001`, …); empty in a request to open one.
    pub id: String,
    /// Bumped by every update; updates name the revision they read.
    pub revision: u64,
    pub artifact: Digest,
    pub source_repository: RepoName,
    pub target_environment: String,
    pub target_repository: RepoName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    /// For a file of a raw or Maven repository: its path there (the same in the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(default)]
    pub emergency: bool,
    #[serde(default)]
    pub rollback: bool,
    /// The release bundle this promotion belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    pub state: PromotionState,
    /// The latest policy decision, as the policy engine wrote it.
    pub decision: serde_json::Value,
    #[serde(default)]
    pub approvals: Vec<ApprovalRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmortem: Option<Postmortem>,
    /// Why copying failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Who owns the deployment: answers for it during the window (default: the requester).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Pre-deployment checklist confirmations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<ChecklistRecord>,
    /// Observations during the deployment window (also in the audit log).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<NoteRecord>,
    /// How the deployment went, once someone said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeRecord>,
    /// When a scheduled promotion is to be decided and run (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for_ms: Option<i64>,
    /// Who cancelled it, and when (state `cancelled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
}

/// A checklist item confirmed for a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistRecord {
    pub item: String,
    pub by: String,
    /// The approver groups `by` held for the target repository when confirming.
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at_ms: i64,
}

/// An observation recorded during a deployment window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteRecord {
    pub by: String,
    pub text: String,
    pub at_ms: i64,
}

/// How a deployment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded,
    Failed,
    RolledBack,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled-back",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Outcome::Succeeded, Outcome::Failed, Outcome::RolledBack]
            .into_iter()
            .find(|o| o.as_str() == s)
    }

    /// A change failure, for the delivery report.
    pub fn is_failure(self) -> bool {
        self != Outcome::Succeeded
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub outcome: Outcome,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at_ms: i64,
}

/// A verification result recorded for an artifact in an environment: a smoke test after
/// deployment, success-criteria measurements, a canary-analysis verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationRecord {
    /// Assigned by the store (`ver-000001`, …).
    pub id: String,
    pub artifact: Digest,
    pub environment: String,
    /// `smoke-test`, `success-criteria`, `canary`, …
    pub kind: String,
    pub result: tollgate_policies::TestResult,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// The verified signer of a signed (DSSE) result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The in-toto predicate type of a signed result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// A link to the run (CI job, analysis report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The predicate or details as posted.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    pub recorded_by: String,
    pub at_ms: i64,
}

/// How [`PromotionStore::open_promotion`] went.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// A new promotion, with its id.
    Created(PromotionRecord),
    /// An open promotion of the same artifact to the same environment already existed.
    Existing(PromotionRecord),
}

/// An artifact as an environment holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotedEntry {
    pub environment: String,
    pub repository: RepoName,
    pub digest: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    /// The promotion that put it there.
    pub promotion: String,
    pub at_ms: i64,
    /// Every manifest and blob the promotion copied with it (children, evidence, layers):
    /// what pulls from the environment's repository may serve from then on. Input only; kept
    /// in its own index, not in the entry.
    #[serde(skip)]
    pub contents: Vec<Digest>,
}

/// A legal hold: what it covers is never deleted while it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    /// Assigned by the store (`hold-000001`, …).
    pub id: String,
    /// One artifact, or …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// … every artifact of the repositories matching this pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// One attempt to load the policy directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyLoadRecord {
    pub at_ms: i64,
    /// The loaded policy's digest when it loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Whether it became the active policy.
    pub applied: bool,
    /// `startup`, `sighup`, `file-change`, …
    pub trigger: String,
    /// Diagnostics when it did not load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// A release bundle: artifacts that are promoted together, all or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// `name@version`.
    pub id: String,
    pub name: String,
    pub version: String,
    /// Members by digest, each with the repository it was named in.
    pub members: Vec<BundleMember>,
    pub created_by: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleMember {
    pub digest: Digest,
    pub repository: RepoName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
}

/// Which promotions to list.
#[derive(Debug, Clone, Default)]
pub struct PromotionFilter {
    pub artifact: Option<Digest>,
    pub environment: Option<String>,
    pub state: Option<PromotionState>,
    pub bundle: Option<String>,
    /// Only emergency promotions whose post-mortem is still open.
    pub open_postmortems: bool,
}

/// Promotions and what each environment holds as a result.
pub trait PromotionStore {
    /// Records a new promotion, unless an open one of the same artifact to the same
    /// environment exists, or (for anything but a rollback) one that already put it into the
    /// same repository there: then that one, unchanged. Settled in one transaction, so two
    /// concurrent requests yield one promotion.
    fn open_promotion(&self, rec: &PromotionRecord) -> Result<Opened>;
    fn get_promotion(&self, id: &str) -> Result<Option<PromotionRecord>>;
    /// Replaces the promotion if it is still at `rec.revision` (which the caller read), and
    /// returns it at its new revision; another writer in between is
    /// [`crate::StoreError::Conflict`].
    fn update_promotion(&self, rec: &PromotionRecord) -> Result<PromotionRecord>;
    /// Like [`PromotionStore::update_promotion`] with the state `Promoted`, and records the
    /// artifact as held by the target environment (its current version of the repository), in
    /// the same transaction.
    fn complete_promotion(
        &self,
        rec: &PromotionRecord,
        entry: &PromotedEntry,
    ) -> Result<PromotionRecord>;
    /// [`PromotionStore::complete_promotion`] for several promotions (a bundle's members) in
    /// one transaction: all of them are recorded, or none.
    fn complete_promotions(
        &self,
        done: &[(PromotionRecord, PromotedEntry)],
    ) -> Result<Vec<PromotionRecord>>;
    /// Marks manifests and blobs as servable from `repository` in `environment` (evidence
    /// pushed later for a promoted artifact, and its blobs).
    fn allow_served(
        &self,
        environment: &str,
        repository: &RepoName,
        digests: &[Digest],
    ) -> Result<()>;
    /// Whether pulls of `digest` from `repository` in `environment` may be served: it was
    /// promoted there, came with a promotion, or is evidence of a promoted artifact.
    fn is_served(&self, environment: &str, repository: &RepoName, digest: &Digest) -> Result<bool>;
    /// Records a bundle; an existing bundle of the same id is returned instead, unchanged.
    fn put_bundle(&self, bundle: &BundleRecord) -> Result<(BundleRecord, bool)>;
    fn get_bundle(&self, id: &str) -> Result<Option<BundleRecord>>;
    fn list_bundles(&self) -> Result<Vec<BundleRecord>>;
    /// Promotions matching `filter`, newest first, at most `limit`.
    fn list_promotions(
        &self,
        filter: &PromotionFilter,
        limit: usize,
    ) -> Result<Vec<PromotionRecord>>;
    /// Open promotions into `environment`.
    fn in_flight(&self, environment: &str) -> Result<usize>;
    /// Whether (and how) `digest` was promoted to `environment`.
    fn promoted(&self, environment: &str, digest: &Digest) -> Result<Option<PromotedEntry>>;
    /// Whether `digest` was promoted to `environment` (what admission asks, without the entry).
    fn is_promoted(&self, environment: &str, digest: &Digest) -> Result<bool> {
        Ok(self.promoted(environment, digest)?.is_some())
    }
    /// Every environment `digest` was promoted to.
    fn promotions_of(&self, digest: &Digest) -> Result<Vec<PromotedEntry>>;
    /// What `environment` runs of `repository`: the latest promotion into it.
    fn current(&self, environment: &str, repository: &RepoName) -> Result<Option<PromotedEntry>>;
    /// What `environment` runs, one entry per repository.
    fn current_all(&self, environment: &str) -> Result<Vec<PromotedEntry>>;

    /// Records a hold and returns it with its id.
    fn put_hold(&self, hold: &HoldRecord) -> Result<HoldRecord>;
    /// Removes a hold; false if there was none.
    fn delete_hold(&self, id: &str) -> Result<bool>;
    fn holds(&self) -> Result<Vec<HoldRecord>>;

    /// Records a verification result and returns it with its id.
    fn add_verification(&self, rec: &VerificationRecord) -> Result<VerificationRecord>;
    /// Verification results for `digest`, in `environment` or in every one, oldest first.
    fn verifications(
        &self,
        digest: &Digest,
        environment: Option<&str>,
    ) -> Result<Vec<VerificationRecord>>;

    fn record_policy_load(&self, rec: &PolicyLoadRecord) -> Result<()>;
    /// The latest loads, newest first.
    fn policy_loads(&self, limit: usize) -> Result<Vec<PolicyLoadRecord>>;
}
