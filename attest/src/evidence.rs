//! One dispatcher for every kind of evidence, and the verdict Tollgate stores for it.

use serde::{Deserialize, Serialize};

use crate::dsse::decode_base64;
use crate::provenance::{Provenance, SLSA_V1, SLSA_V02};
use crate::verify::{
    CosignSignature, Signer, TlogInfo, Verified, verify_attestation, verify_bundle, verify_cosign,
    verify_provenance,
};
use crate::{Digest, Trust, VerifyError};

/// Evidence as it arrived, kept whole so it can be verified again when trust changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "kebab-case")]
pub enum Evidence {
    /// A cosign `.sig` layer: the payload (base64) and the layer's annotations.
    CosignSignature {
        payload: String,
        signature: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certificate: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chain: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rekor_bundle: Option<String>,
    },
    /// A DSSE envelope (cosign `.att` layer, or posted), with cosign's annotations if any.
    DsseEnvelope {
        envelope: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certificate: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rekor_bundle: Option<String>,
    },
    /// A Sigstore bundle (v0.1–v0.3) as JSON.
    SigstoreBundle { bundle: String },
}

/// What verification concluded, in the form records and answers show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub verified: bool,
    /// The stable reason code when not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlog: Option<TlogInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl Evidence {
    /// `cosign-signature`, `attestation` or `sigstore-bundle`.
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::CosignSignature { .. } => "cosign-signature",
            Evidence::DsseEnvelope { .. } => "attestation",
            Evidence::SigstoreBundle { .. } => "sigstore-bundle",
        }
    }

    /// Whether this is an attestation (a DSSE statement) rather than a plain signature,
    /// whatever its verdict.
    pub fn is_attestation(&self) -> bool {
        match self {
            Evidence::CosignSignature { .. } => false,
            Evidence::DsseEnvelope { .. } => true,
            Evidence::SigstoreBundle { bundle } => {
                serde_json::from_str::<serde_json::Value>(bundle)
                    .ok()
                    .is_some_and(|v| v.get("dsseEnvelope").is_some())
            }
        }
    }

    /// The in-toto statement the evidence carries, decoded but not trusted: callers use it
    /// only for evidence that verified, or to show what unverified evidence claimed.
    pub fn statement_unverified(&self) -> Option<serde_json::Value> {
        let envelope = match self {
            Evidence::CosignSignature { .. } => return None,
            Evidence::DsseEnvelope { envelope, .. } => {
                serde_json::from_str::<serde_json::Value>(envelope).ok()?
            }
            Evidence::SigstoreBundle { bundle } => {
                serde_json::from_str::<serde_json::Value>(bundle)
                    .ok()?
                    .get("dsseEnvelope")?
                    .clone()
            }
        };
        let payload = decode_base64(envelope.get("payload")?.as_str()?).ok()?;
        serde_json::from_slice(&payload).ok()
    }

    /// The predicate type the evidence claims, read without trusting it (for showing what an
    /// unverified attestation was about).
    pub fn claimed_predicate_type(&self) -> Option<String> {
        self.statement_unverified()?
            .get("predicateType")?
            .as_str()
            .map(str::to_string)
    }

    /// Recognises a posted document: a Sigstore bundle (it has `mediaType` and
    /// `verificationMaterial`) or a DSSE envelope (`payloadType`, `signatures`).
    pub fn from_document(bytes: &[u8]) -> Result<Self, VerifyError> {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| VerifyError::Malformed(format!("evidence is not JSON: {e}")))?;
        let text =
            String::from_utf8(bytes.to_vec()).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if v.get("verificationMaterial").is_some() {
            Ok(Evidence::SigstoreBundle { bundle: text })
        } else if v.get("payloadType").is_some() && v.get("signatures").is_some() {
            Ok(Evidence::DsseEnvelope {
                envelope: text,
                certificate: None,
                rekor_bundle: None,
            })
        } else {
            Err(VerifyError::Unsupported(
                "expected a Sigstore bundle or a DSSE envelope".into(),
            ))
        }
    }

    /// Verifies the evidence for `subject`, offline.
    pub fn verify(&self, trust: &Trust, subject: &Digest) -> Result<Verified, VerifyError> {
        match self {
            Evidence::CosignSignature {
                payload,
                signature,
                certificate,
                chain,
                rekor_bundle,
            } => {
                let payload = decode_base64(payload)?;
                let sig = CosignSignature {
                    payload: &payload,
                    signature,
                    certificate: certificate.as_deref(),
                    chain: chain.as_deref(),
                    rekor_bundle: rekor_bundle.as_deref(),
                };
                verify_cosign(trust, &sig, subject).map(|(v, _)| v)
            }
            Evidence::DsseEnvelope {
                envelope,
                certificate,
                rekor_bundle,
            } => verify_attestation(
                trust,
                envelope.as_bytes(),
                certificate.as_deref(),
                rekor_bundle.as_deref(),
                subject,
            ),
            Evidence::SigstoreBundle { bundle } => verify_bundle(trust, bundle, subject),
        }
    }

    /// Verifies the evidence and, for SLSA provenance, its builder: the verdict to store.
    pub fn assess(&self, trust: &Trust, subject: &Digest) -> Verdict {
        let v = match self.verify(trust, subject) {
            Ok(v) => v,
            Err(e) => {
                let mut f = failed(&e, None, None);
                f.predicate_type = self.claimed_predicate_type();
                return f;
            }
        };
        let predicate_type = v.statement.as_ref().map(|s| s.predicate_type.clone());
        let mut verdict = Verdict {
            verified: true,
            reason: None,
            message: None,
            signer: Some(v.signer.clone()),
            tlog: v.tlog.clone(),
            predicate_type: predicate_type.clone(),
            provenance: None,
        };
        if matches!(predicate_type.as_deref(), Some(SLSA_V02 | SLSA_V1)) {
            match verify_provenance(trust, &v) {
                Ok(p) => verdict.provenance = Some(p),
                Err(e) => {
                    // Keep what the provenance says, marked as not trusted.
                    let p = v
                        .statement
                        .as_ref()
                        .and_then(|s| Provenance::from_statement(s).ok());
                    let mut f = failed(&e, Some(v.signer.clone()), p);
                    f.tlog = v.tlog.clone();
                    f.predicate_type = predicate_type;
                    return f;
                }
            }
        }
        verdict
    }
}

fn failed(e: &VerifyError, signer: Option<Signer>, provenance: Option<Provenance>) -> Verdict {
    Verdict {
        verified: false,
        reason: Some(e.code().to_string()),
        message: Some(e.to_string()),
        signer,
        tlog: None,
        predicate_type: None,
        provenance,
    }
}
