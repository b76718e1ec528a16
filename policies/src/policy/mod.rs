//! Promotion policy as code: files -> validated [`Policy`] -> [`evaluate`] -> [`Decision`].
//!
//! Time zones come from `chrono-tz`, which compiles the IANA database into the binary: no
//! read of `/usr/share/zoneinfo` (the crate stays pure and every machine decides alike), and
//! `cel` already depends on chrono, so this adds no second date library. `jiff` would have
//! needed its bundled-database feature for the same purity.

mod condition;
mod diag;
mod eval;
mod facts;
mod file;
mod load;
mod model;

pub use condition::VARIABLES as CONDITION_VARIABLES;
pub use diag::{Diagnostic, Level};
pub use eval::{Decision, RuleOutcome, RuleStatus, Verdict, evaluate};
pub use facts::{
    Approval, ArtifactFacts, ChecklistConfirmation, ComponentFacts, DependencyFacts, EvidenceFacts,
    Facts, PromotionFacts, SbomFacts, TestResult, VerificationFacts,
};
pub use load::{BASE_FILE, policy_digest};
pub use model::{
    Approvals, At, Breakglass, ChangeRequestRule, ChecklistItem, ChecklistRule, Condition,
    Environment, Freeze, Identity, Mode, Origin, Policy, ProvenanceRule, ResidencyRule, RuleKind,
    RuleSet, SUCCESS_CRITERIA, SbomRule, Signatures, Threshold, VerificationRule, VersionRule,
    VulnRule, Window,
};

#[cfg(test)]
mod tests;
