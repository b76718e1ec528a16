//! Why evidence did not verify, with a stable kebab-case code per reason.

/// A verification failure. [`VerifyError::code`] is the stable reason code used in API
/// answers, logs and metrics; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The evidence is not well-formed (bad base64, JSON, PEM, missing fields).
    #[error("evidence is malformed: {0}")]
    Malformed(String),
    /// The cryptographic signature does not verify with the key or certificate it names.
    #[error("signature does not verify: {0}")]
    SignatureInvalid(String),
    /// The signature verifies, but no trusted key or identity made it.
    #[error("signer is not trusted: {0}")]
    SignerUntrusted(String),
    /// The signing certificate was not valid at the signing time.
    #[error("certificate was not valid at signing time: {0}")]
    CertificateExpired(String),
    /// The certificate does not chain to a trusted root.
    #[error("certificate chain is not trusted: {0}")]
    CertificateUntrusted(String),
    /// The transparency-log evidence (SET, inclusion proof, checkpoint, body) is wrong.
    #[error("transparency log entry is invalid: {0}")]
    TlogEntryInvalid(String),
    /// Keyless evidence without a transparency-log entry or timestamp to anchor its time.
    #[error("no transparency log entry or timestamp: {0}")]
    TlogEntryMissing(String),
    /// The evidence is about other content than the artifact it is attached to.
    #[error("evidence is for another artifact: {0}")]
    SubjectMismatch(String),
    /// The provenance names a builder, or was signed by one, that is not trusted.
    #[error("provenance builder is not trusted: {0}")]
    ProvenanceBuilderUntrusted(String),
    /// The provenance does not come from the required source repository or commit.
    #[error("provenance source does not match: {0}")]
    ProvenanceSourceMismatch(String),
    /// An RFC 3161 timestamp came from an authority the trusted root does not list.
    #[error("timestamp is not from a trusted authority: {0}")]
    TimestampUntrusted(String),
    /// A format or algorithm Tollgate does not verify.
    #[error("evidence is not supported: {0}")]
    Unsupported(String),
    /// The trust configuration cannot verify this kind of evidence (no keys, no root).
    #[error("no trust material for this evidence: {0}")]
    NoTrustMaterial(String),
}

impl VerifyError {
    pub const CODES: &'static [&'static str] = &[
        "evidence-malformed",
        "signature-invalid",
        "signer-untrusted",
        "certificate-expired",
        "certificate-untrusted",
        "tlog-entry-invalid",
        "tlog-entry-missing",
        "subject-mismatch",
        "provenance-builder-untrusted",
        "provenance-source-mismatch",
        "timestamp-untrusted",
        "evidence-unsupported",
        "trust-material-missing",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "evidence-malformed",
            VerifyError::SignatureInvalid(_) => "signature-invalid",
            VerifyError::SignerUntrusted(_) => "signer-untrusted",
            VerifyError::CertificateExpired(_) => "certificate-expired",
            VerifyError::CertificateUntrusted(_) => "certificate-untrusted",
            VerifyError::TlogEntryInvalid(_) => "tlog-entry-invalid",
            VerifyError::TlogEntryMissing(_) => "tlog-entry-missing",
            VerifyError::SubjectMismatch(_) => "subject-mismatch",
            VerifyError::ProvenanceBuilderUntrusted(_) => "provenance-builder-untrusted",
            VerifyError::ProvenanceSourceMismatch(_) => "provenance-source-mismatch",
            VerifyError::TimestampUntrusted(_) => "timestamp-untrusted",
            VerifyError::Unsupported(_) => "evidence-unsupported",
            VerifyError::NoTrustMaterial(_) => "trust-material-missing",
        }
    }
}

impl From<sigstore_verify::Error> for VerifyError {
    fn from(e: sigstore_verify::Error) -> Self {
        use sigstore_verify::Error as E;
        use sigstore_verify::error::{CertificateError as C, TimestampError as T};
        let msg = e.to_string();
        match e {
            E::IdentityMismatch { .. } | E::IssuerMismatch { .. } => {
                VerifyError::SignerUntrusted(msg)
            }
            E::SignatureInvalid(_) => VerifyError::SignatureInvalid(msg),
            E::ArtifactMismatch(_) => VerifyError::SubjectMismatch(msg),
            E::Certificate(C::NotYetValid { .. } | C::Expired { .. }) => {
                VerifyError::CertificateExpired(msg)
            }
            // webpki reports a leaf used outside its validity as a chain failure; only its
            // text tells (CertExpired / CertNotValidYet at the verified signing time).
            E::Certificate(C::ChainInvalid(ref m))
                if m.contains("CertExpired") || m.contains("CertNotValidYet") =>
            {
                VerifyError::CertificateExpired(msg)
            }
            E::Certificate(_) | E::TrustedCertificate(_) => VerifyError::CertificateUntrusted(msg),
            E::TransparencyLog(_) => VerifyError::TlogEntryInvalid(msg),
            E::Timestamp(T::OutsideAuthorityValidity { .. }) => {
                VerifyError::TimestampUntrusted(msg)
            }
            E::Timestamp(T::NoVerifiedTimestamp(_)) => VerifyError::TlogEntryMissing(msg),
            E::Timestamp(_) => VerifyError::TimestampUntrusted(msg),
            E::UnsupportedArtifact(_) | E::UnsupportedBundle(_) => VerifyError::Unsupported(msg),
            // The trust material cannot judge this evidence: say so, don't blame the evidence.
            E::InvalidTrustRoot(_) | E::TrustRoot(_) => VerifyError::NoTrustMaterial(msg),
            _ => VerifyError::Malformed(msg),
        }
    }
}
