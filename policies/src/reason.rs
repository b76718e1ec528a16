use std::fmt;

use serde::{Serialize, Serializer};

/// A stable, kebab-case code for every reason Tollgate refuses or flags something. The string
/// form is an interface: API answers, OCI error `detail`, admission messages, logs and metric
/// labels all carry it, so a code is never renamed once released.
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
