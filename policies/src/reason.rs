use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A stable, kebab-case code for every reason Tollgate refuses or flags something. The string
/// form is an interface: API answers, OCI error `detail`, admission messages, logs and metric
/// labels all carry it, so a code is never renamed once released. `policies/README.md` lists
/// every code with its meaning (a test keeps the list complete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// A tag protected as immutable is already bound to other bytes.
    TagImmutable,
    /// The repository requires SemVer 2.0 tags and this one is not.
    TagNotSemver,
    /// Deleting the artifact (or evidence attached to it) would break an immutable tag.
    ArtifactImmutable,
    /// Deletes are switched off for this repository.
    DeleteDisabled,
    /// The caller's token has no role granting this action on this repository.
    RoleMissing,
    // Evidence verdicts, one per `tollgate_attest::VerifyError` code.
    EvidenceMalformed,
    SignatureInvalid,
    SignerUntrusted,
    CertificateExpired,
    CertificateUntrusted,
    TlogEntryInvalid,
    TlogEntryMissing,
    SubjectMismatch,
    ProvenanceBuilderUntrusted,
    ProvenanceSourceMismatch,
    TimestampUntrusted,
    EvidenceUnsupported,
    TrustMaterialMissing,
    // Promotion policy.
    /// No verified signature from a trusted signer.
    SignatureMissing,
    /// Fewer distinct trusted signers than the policy's minimum.
    SignaturesInsufficient,
    /// No verified SLSA provenance.
    ProvenanceMissing,
    /// The provenance's source ref is not one the policy allows.
    ProvenanceRefNotAllowed,
    /// The provenance names no source commit.
    ProvenanceCommitMissing,
    /// No SBOM is attached.
    SbomMissing,
    /// A component's licence is denied (or not allowed) by the licence policy.
    LicenseDenied,
    /// A component's licence cannot be judged and the policy warns on or denies that.
    LicenseUnknown,
    /// No vulnerability report is attached.
    VulnerabilityReportMissing,
    /// More findings of a severity than the policy allows.
    VulnerabilitiesExceedThreshold,
    /// A pre-release version is not allowed into this environment.
    VersionPrerelease,
    /// The version does not exceed the environment's current one (and this is no rollback).
    VersionNotNewer,
    /// Fewer approvals than a role group needs.
    ApprovalsMissing,
    /// An approval by the pusher or the requester was discarded.
    SeparationOfDuties,
    /// The promotion names no change request.
    ChangeRequestMissing,
    /// The change request id does not match the required pattern.
    ChangeRequestInvalid,
    /// Outside every deployment window.
    WindowClosed,
    /// Inside a change freeze.
    ChangeFreeze,
    /// Too many promotions to the environment are in flight.
    PromotionsInFlight,
    /// Promotions into the environment must come from another environment.
    PromotionSourceNotAllowed,
    /// The policy defines no such environment.
    EnvironmentUnknown,
    /// A custom CEL condition evaluated to false.
    ConditionFailed,
    /// A custom CEL condition could not be evaluated (fails closed).
    ConditionError,
    /// An emergency promotion by someone without the breakglass role, or where the policy allows none.
    BreakglassNotPermitted,
    /// An emergency promotion without a justification.
    JustificationMissing,
    /// Rules were bypassed by an emergency promotion; a post-mortem is owed.
    BreakglassUsed,
    /// The environment is in warn mode: failures were recorded, not enforced.
    PolicyWarnOnly,
    /// The artifact was never promoted to the environment it is asked for in or moved from.
    NotPromoted,
    /// No valid promotion policy is loaded, so nothing can be promoted.
    PolicyMissing,
    // Retention: why a manifest is kept or deleted.
    /// Retention keeps it: one of the newest `keep_versions` SemVer versions of its repository.
    RetentionKeepLatest,
    /// Retention keeps it: an environment currently runs this digest (kept in every repository holding it).
    RetentionRunning,
    /// Retention keeps it: a legal hold covers the digest or its repository.
    RetentionHeld,
    /// Retention keeps it: a promotion of this digest is still open (pending, copying or failed).
    RetentionPromotionOpen,
    /// Retention keeps it: evidence (referrer or cosign `sha256-…` tag) of a manifest that is kept.
    RetentionEvidenceOfKept,
    /// Retention keeps it: a manifest listed by an index that is kept.
    RetentionChildOfKept,
    /// Retention keeps it: bound to a tag that is not a SemVer version (such as `latest`), which version counting never removes.
    RetentionTagNotSemver,
    /// Retention keeps it: untagged, but younger than `untagged_days`.
    RetentionUntaggedRecent,
    /// Retention keeps it: the repository's rule says nothing about it (tagged with no `keep_versions`, or untagged with no `untagged_days`).
    RetentionNotCovered,
    /// Retention deletes it: a SemVer version older than the newest `keep_versions`.
    RetentionBeyondLatest,
    /// Retention deletes it: untagged and pushed at least `untagged_days` ago.
    RetentionUntaggedExpired,
    /// Retention deletes it with its subject: evidence of a manifest being deleted.
    RetentionEvidenceOfDeleted,
    /// Retention deletes it with its index: an untagged manifest listed only by indexes being deleted.
    RetentionChildOfDeleted,
    // Admission.
    /// The image's tag or digest is not in Tollgate.
    ImageUnknown,
    /// The image comes from a registry host that is not a configured name of Tollgate.
    RegistryNotTollgate,
    /// The image reference does not parse.
    ImageReferenceInvalid,
    // Raw and Maven repositories.
    /// A repository path is malformed: empty, `.` or `..` segments, a backslash or control characters.
    PathInvalid,
    /// A path in a Maven repository does not follow the Maven layout (`group/artifact/version/artifact-version[-classifier].ext`).
    MavenLayoutInvalid,
    /// The uploaded bytes do not match a checksum the client declared (an `X-Checksum-*` header or a Maven checksum sidecar).
    ChecksumMismatch,
    /// A file of a released Maven version is already stored with other bytes.
    VersionImmutable,
    /// A path protected as immutable in a raw repository already holds other bytes.
    PathImmutable,
    /// The Maven repository takes releases only (version policy `release`).
    SnapshotNotAllowed,
    /// The Maven repository takes SNAPSHOTs only (version policy `snapshot`).
    ReleaseNotAllowed,
    /// A SNAPSHOT file is already stored with other bytes and the repository does not allow SNAPSHOT redeploys.
    SnapshotRedeployDisabled,
    /// The repository requires SemVer 2.0 versions and this one is not.
    VersionNotSemver,
    /// An SBOM (a Maven deploy's `-cyclonedx.json`/`-spdx.json`, or one posted to the API) is not a CycloneDX or SPDX JSON document Tollgate can read.
    SbomMalformed,
    // Release verification, scheduling and regions.
    /// A required verification result (smoke test, success criteria, canary analysis) was not recorded in the environment the promotion comes from.
    VerificationMissing,
    /// The latest verification result of a required kind failed, or a success criterion is outside its threshold.
    VerificationFailed,
    /// The artifact has not been in the environment it comes from for the minimum soak (bake) time.
    SoakTimeNotMet,
    /// A pre-deployment checklist item is not confirmed by someone holding its role.
    ChecklistIncomplete,
    /// A repository this one depends on is not yet at the required version in the target environment; the promotion waits.
    DependencyNotReady,
    /// Data residency: the artifact may not run in the target environment's region.
    ResidencyDenied,
    /// The promotion is scheduled for a later time and runs then, if still allowed.
    PromotionScheduled,
    /// An approver rejected the promotion (`POST /api/v1/promotions/{id}/rejections`); final, like any denial.
    ApprovalRejected,
}

impl ReasonCode {
    pub const ALL: &'static [ReasonCode] = &[
        ReasonCode::TagImmutable,
        ReasonCode::TagNotSemver,
        ReasonCode::ArtifactImmutable,
        ReasonCode::DeleteDisabled,
        ReasonCode::RoleMissing,
        ReasonCode::EvidenceMalformed,
        ReasonCode::SignatureInvalid,
        ReasonCode::SignerUntrusted,
        ReasonCode::CertificateExpired,
        ReasonCode::CertificateUntrusted,
        ReasonCode::TlogEntryInvalid,
        ReasonCode::TlogEntryMissing,
        ReasonCode::SubjectMismatch,
        ReasonCode::ProvenanceBuilderUntrusted,
        ReasonCode::ProvenanceSourceMismatch,
        ReasonCode::TimestampUntrusted,
        ReasonCode::EvidenceUnsupported,
        ReasonCode::TrustMaterialMissing,
        ReasonCode::SignatureMissing,
        ReasonCode::SignaturesInsufficient,
        ReasonCode::ProvenanceMissing,
        ReasonCode::ProvenanceRefNotAllowed,
        ReasonCode::ProvenanceCommitMissing,
        ReasonCode::SbomMissing,
        ReasonCode::LicenseDenied,
        ReasonCode::LicenseUnknown,
        ReasonCode::VulnerabilityReportMissing,
        ReasonCode::VulnerabilitiesExceedThreshold,
        ReasonCode::VersionPrerelease,
        ReasonCode::VersionNotNewer,
        ReasonCode::ApprovalsMissing,
        ReasonCode::SeparationOfDuties,
        ReasonCode::ChangeRequestMissing,
        ReasonCode::ChangeRequestInvalid,
        ReasonCode::WindowClosed,
        ReasonCode::ChangeFreeze,
        ReasonCode::PromotionsInFlight,
        ReasonCode::PromotionSourceNotAllowed,
        ReasonCode::EnvironmentUnknown,
        ReasonCode::ConditionFailed,
        ReasonCode::ConditionError,
        ReasonCode::BreakglassNotPermitted,
        ReasonCode::JustificationMissing,
        ReasonCode::BreakglassUsed,
        ReasonCode::PolicyWarnOnly,
        ReasonCode::NotPromoted,
        ReasonCode::PolicyMissing,
        ReasonCode::RetentionKeepLatest,
        ReasonCode::RetentionRunning,
        ReasonCode::RetentionHeld,
        ReasonCode::RetentionPromotionOpen,
        ReasonCode::RetentionEvidenceOfKept,
        ReasonCode::RetentionChildOfKept,
        ReasonCode::RetentionTagNotSemver,
        ReasonCode::RetentionUntaggedRecent,
        ReasonCode::RetentionNotCovered,
        ReasonCode::RetentionBeyondLatest,
        ReasonCode::RetentionUntaggedExpired,
        ReasonCode::RetentionEvidenceOfDeleted,
        ReasonCode::RetentionChildOfDeleted,
        ReasonCode::ImageUnknown,
        ReasonCode::RegistryNotTollgate,
        ReasonCode::ImageReferenceInvalid,
        ReasonCode::PathInvalid,
        ReasonCode::MavenLayoutInvalid,
        ReasonCode::ChecksumMismatch,
        ReasonCode::VersionImmutable,
        ReasonCode::PathImmutable,
        ReasonCode::SnapshotNotAllowed,
        ReasonCode::ReleaseNotAllowed,
        ReasonCode::SnapshotRedeployDisabled,
        ReasonCode::VersionNotSemver,
        ReasonCode::SbomMalformed,
        ReasonCode::VerificationMissing,
        ReasonCode::VerificationFailed,
        ReasonCode::SoakTimeNotMet,
        ReasonCode::ChecklistIncomplete,
        ReasonCode::DependencyNotReady,
        ReasonCode::ResidencyDenied,
        ReasonCode::PromotionScheduled,
        ReasonCode::ApprovalRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::TagImmutable => "tag-immutable",
            ReasonCode::TagNotSemver => "tag-not-semver",
            ReasonCode::ArtifactImmutable => "artifact-immutable",
            ReasonCode::DeleteDisabled => "delete-disabled",
            ReasonCode::RoleMissing => "role-missing",
            ReasonCode::EvidenceMalformed => "evidence-malformed",
            ReasonCode::SignatureInvalid => "signature-invalid",
            ReasonCode::SignerUntrusted => "signer-untrusted",
            ReasonCode::CertificateExpired => "certificate-expired",
            ReasonCode::CertificateUntrusted => "certificate-untrusted",
            ReasonCode::TlogEntryInvalid => "tlog-entry-invalid",
            ReasonCode::TlogEntryMissing => "tlog-entry-missing",
            ReasonCode::SubjectMismatch => "subject-mismatch",
            ReasonCode::ProvenanceBuilderUntrusted => "provenance-builder-untrusted",
            ReasonCode::ProvenanceSourceMismatch => "provenance-source-mismatch",
            ReasonCode::TimestampUntrusted => "timestamp-untrusted",
            ReasonCode::EvidenceUnsupported => "evidence-unsupported",
            ReasonCode::TrustMaterialMissing => "trust-material-missing",
            ReasonCode::SignatureMissing => "signature-missing",
            ReasonCode::SignaturesInsufficient => "signatures-insufficient",
            ReasonCode::ProvenanceMissing => "provenance-missing",
            ReasonCode::ProvenanceRefNotAllowed => "provenance-ref-not-allowed",
            ReasonCode::ProvenanceCommitMissing => "provenance-commit-missing",
            ReasonCode::SbomMissing => "sbom-missing",
            ReasonCode::LicenseDenied => "license-denied",
            ReasonCode::LicenseUnknown => "license-unknown",
            ReasonCode::VulnerabilityReportMissing => "vulnerability-report-missing",
            ReasonCode::VulnerabilitiesExceedThreshold => "vulnerabilities-exceed-threshold",
            ReasonCode::VersionPrerelease => "version-prerelease",
            ReasonCode::VersionNotNewer => "version-not-newer",
            ReasonCode::ApprovalsMissing => "approvals-missing",
            ReasonCode::SeparationOfDuties => "separation-of-duties",
            ReasonCode::ChangeRequestMissing => "change-request-missing",
            ReasonCode::ChangeRequestInvalid => "change-request-invalid",
            ReasonCode::WindowClosed => "window-closed",
            ReasonCode::ChangeFreeze => "change-freeze",
            ReasonCode::PromotionsInFlight => "promotions-in-flight",
            ReasonCode::PromotionSourceNotAllowed => "promotion-source-not-allowed",
            ReasonCode::EnvironmentUnknown => "environment-unknown",
            ReasonCode::ConditionFailed => "condition-failed",
            ReasonCode::ConditionError => "condition-error",
            ReasonCode::BreakglassNotPermitted => "breakglass-not-permitted",
            ReasonCode::JustificationMissing => "justification-missing",
            ReasonCode::BreakglassUsed => "breakglass-used",
            ReasonCode::PolicyWarnOnly => "policy-warn-only",
            ReasonCode::NotPromoted => "not-promoted",
            ReasonCode::PolicyMissing => "policy-missing",
            ReasonCode::RetentionKeepLatest => "retention-keep-latest",
            ReasonCode::RetentionRunning => "retention-running",
            ReasonCode::RetentionHeld => "retention-held",
            ReasonCode::RetentionPromotionOpen => "retention-promotion-open",
            ReasonCode::RetentionEvidenceOfKept => "retention-evidence-of-kept",
            ReasonCode::RetentionChildOfKept => "retention-child-of-kept",
            ReasonCode::RetentionTagNotSemver => "retention-tag-not-semver",
            ReasonCode::RetentionUntaggedRecent => "retention-untagged-recent",
            ReasonCode::RetentionNotCovered => "retention-not-covered",
            ReasonCode::RetentionBeyondLatest => "retention-beyond-latest",
            ReasonCode::RetentionUntaggedExpired => "retention-untagged-expired",
            ReasonCode::RetentionEvidenceOfDeleted => "retention-evidence-of-deleted",
            ReasonCode::RetentionChildOfDeleted => "retention-child-of-deleted",
            ReasonCode::ImageUnknown => "image-unknown",
            ReasonCode::RegistryNotTollgate => "registry-not-tollgate",
            ReasonCode::ImageReferenceInvalid => "image-reference-invalid",
            ReasonCode::PathInvalid => "path-invalid",
            ReasonCode::MavenLayoutInvalid => "maven-layout-invalid",
            ReasonCode::ChecksumMismatch => "checksum-mismatch",
            ReasonCode::VersionImmutable => "version-immutable",
            ReasonCode::PathImmutable => "path-immutable",
            ReasonCode::SnapshotNotAllowed => "snapshot-not-allowed",
            ReasonCode::ReleaseNotAllowed => "release-not-allowed",
            ReasonCode::SnapshotRedeployDisabled => "snapshot-redeploy-disabled",
            ReasonCode::VersionNotSemver => "version-not-semver",
            ReasonCode::SbomMalformed => "sbom-malformed",
            ReasonCode::VerificationMissing => "verification-missing",
            ReasonCode::VerificationFailed => "verification-failed",
            ReasonCode::SoakTimeNotMet => "soak-time-not-met",
            ReasonCode::ChecklistIncomplete => "checklist-incomplete",
            ReasonCode::DependencyNotReady => "dependency-not-ready",
            ReasonCode::ResidencyDenied => "residency-denied",
            ReasonCode::PromotionScheduled => "promotion-scheduled",
            ReasonCode::ApprovalRejected => "approval-rejected",
        }
    }

    /// The code for a string form, as stored in records.
    pub fn from_code(code: &str) -> Option<ReasonCode> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// The reason for an evidence verification failure.
    pub fn of(e: &tollgate_attest::VerifyError) -> ReasonCode {
        Self::from_code(e.code()).unwrap_or(ReasonCode::EvidenceMalformed)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ReasonCode::from_code(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason code {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ReasonCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{s}"
            );
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{s}\""));
            assert_eq!(ReasonCode::from_code(s), Some(*c));
        }
    }

    /// Position of each variant. Adding a variant without listing it here fails to compile;
    /// the test below then fails until [`ReasonCode::ALL`] lists it too.
    fn position(c: ReasonCode) -> usize {
        match c {
            ReasonCode::TagImmutable => 0,
            ReasonCode::TagNotSemver => 1,
            ReasonCode::ArtifactImmutable => 2,
            ReasonCode::DeleteDisabled => 3,
            ReasonCode::RoleMissing => 4,
            ReasonCode::EvidenceMalformed => 5,
            ReasonCode::SignatureInvalid => 6,
            ReasonCode::SignerUntrusted => 7,
            ReasonCode::CertificateExpired => 8,
            ReasonCode::CertificateUntrusted => 9,
            ReasonCode::TlogEntryInvalid => 10,
            ReasonCode::TlogEntryMissing => 11,
            ReasonCode::SubjectMismatch => 12,
            ReasonCode::ProvenanceBuilderUntrusted => 13,
            ReasonCode::ProvenanceSourceMismatch => 14,
            ReasonCode::TimestampUntrusted => 15,
            ReasonCode::EvidenceUnsupported => 16,
            ReasonCode::TrustMaterialMissing => 17,
            ReasonCode::SignatureMissing => 18,
            ReasonCode::SignaturesInsufficient => 19,
            ReasonCode::ProvenanceMissing => 20,
            ReasonCode::ProvenanceRefNotAllowed => 21,
            ReasonCode::ProvenanceCommitMissing => 22,
            ReasonCode::SbomMissing => 23,
            ReasonCode::LicenseDenied => 24,
            ReasonCode::LicenseUnknown => 25,
            ReasonCode::VulnerabilityReportMissing => 26,
            ReasonCode::VulnerabilitiesExceedThreshold => 27,
            ReasonCode::VersionPrerelease => 28,
            ReasonCode::VersionNotNewer => 29,
            ReasonCode::ApprovalsMissing => 30,
            ReasonCode::SeparationOfDuties => 31,
            ReasonCode::ChangeRequestMissing => 32,
            ReasonCode::ChangeRequestInvalid => 33,
            ReasonCode::WindowClosed => 34,
            ReasonCode::ChangeFreeze => 35,
            ReasonCode::PromotionsInFlight => 36,
            ReasonCode::PromotionSourceNotAllowed => 37,
            ReasonCode::EnvironmentUnknown => 38,
            ReasonCode::ConditionFailed => 39,
            ReasonCode::ConditionError => 40,
            ReasonCode::BreakglassNotPermitted => 41,
            ReasonCode::JustificationMissing => 42,
            ReasonCode::BreakglassUsed => 43,
            ReasonCode::PolicyWarnOnly => 44,
            ReasonCode::NotPromoted => 45,
            ReasonCode::PolicyMissing => 46,
            ReasonCode::RetentionKeepLatest => 47,
            ReasonCode::RetentionRunning => 48,
            ReasonCode::RetentionHeld => 49,
            ReasonCode::RetentionPromotionOpen => 50,
            ReasonCode::RetentionEvidenceOfKept => 51,
            ReasonCode::RetentionChildOfKept => 52,
            ReasonCode::RetentionTagNotSemver => 53,
            ReasonCode::RetentionUntaggedRecent => 54,
            ReasonCode::RetentionNotCovered => 55,
            ReasonCode::RetentionBeyondLatest => 56,
            ReasonCode::RetentionUntaggedExpired => 57,
            ReasonCode::RetentionEvidenceOfDeleted => 58,
            ReasonCode::RetentionChildOfDeleted => 59,
            ReasonCode::ImageUnknown => 60,
            ReasonCode::RegistryNotTollgate => 61,
            ReasonCode::ImageReferenceInvalid => 62,
            ReasonCode::PathInvalid => 63,
            ReasonCode::MavenLayoutInvalid => 64,
            ReasonCode::ChecksumMismatch => 65,
            ReasonCode::VersionImmutable => 66,
            ReasonCode::PathImmutable => 67,
            ReasonCode::SnapshotNotAllowed => 68,
            ReasonCode::ReleaseNotAllowed => 69,
            ReasonCode::SnapshotRedeployDisabled => 70,
            ReasonCode::VersionNotSemver => 71,
            ReasonCode::SbomMalformed => 72,
            ReasonCode::VerificationMissing => 73,
            ReasonCode::VerificationFailed => 74,
            ReasonCode::SoakTimeNotMet => 75,
            ReasonCode::ChecklistIncomplete => 76,
            ReasonCode::DependencyNotReady => 77,
            ReasonCode::ResidencyDenied => 78,
            ReasonCode::PromotionScheduled => 79,
            ReasonCode::ApprovalRejected => 80,
        }
    }

    #[test]
    fn all_lists_every_variant_once() {
        for (i, c) in ReasonCode::ALL.iter().enumerate() {
            assert_eq!(position(*c), i, "{c} out of place in ReasonCode::ALL");
        }
        assert_eq!(ReasonCode::ALL.len(), 81);
        assert_eq!(
            ReasonCode::ALL.iter().map(|c| position(*c)).max(),
            Some(ReasonCode::ALL.len() - 1)
        );
    }

    #[test]
    fn every_code_is_documented_in_the_readme() {
        let readme = include_str!("../README.md");
        for c in ReasonCode::ALL {
            assert!(
                readme.contains(&format!("| `{c}` |")),
                "{c} missing from policies/README.md"
            );
        }
    }

    #[test]
    fn deserialises_from_its_string() {
        let c: ReasonCode = serde_json::from_str("\"window-closed\"").unwrap();
        assert_eq!(c, ReasonCode::WindowClosed);
        assert!(serde_json::from_str::<ReasonCode>("\"nope\"").is_err());
    }

    #[test]
    fn every_evidence_code_has_a_reason() {
        for code in tollgate_attest::VerifyError::CODES {
            assert!(
                ReasonCode::from_code(code).is_some(),
                "{code} has no ReasonCode"
            );
        }
    }
}
