//! Verification entry points. Every kind of evidence — cosign simple-signing signatures with
//! their Rekor bundle, bare DSSE envelopes, Sigstore bundles v0.1–v0.3 — is brought into the
//! Sigstore bundle model and checked by `sigstore-verify` (certificate chain to the pinned
//! roots, SCT, SET and inclusion proof, signing time inside the certificate validity, the
//! signature itself, and the log entry's consistency with it). Trust decisions on top of that
//! (which keys, identities and builders count) are made here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sigstore_types::{Bundle, Sha256Hash};
use sigstore_verify::{
    PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult, Verifier,
};

use crate::dsse::{Envelope, INTOTO_PAYLOAD_TYPE, decode_base64};
use crate::provenance::Provenance;
use crate::simple_signing::SimpleSigning;
use crate::statement::Statement;
use crate::trust::Trust;
use crate::{Algorithm, Digest, VerifyError};

/// Who made a verified signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signer {
    /// A configured public key, by its name.
    Key { name: String },
    /// A keyless (Fulcio) certificate identity.
    Identity { subject: String, issuer: String },
}

/// The transparency-log entry that anchored a signature, when one was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlogInfo {
    pub log_index: Option<u64>,
    /// Seconds since the Unix epoch.
    pub integrated_time: i64,
}

/// A signature that verified, and what it says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    pub signer: Signer,
    pub tlog: Option<TlogInfo>,
    /// The in-toto statement, for attestations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<Statement>,
}

/// A cosign signature as stored in a `.sig` layer: the payload blob and the layer annotations.
#[derive(Debug, Clone, Copy)]
pub struct CosignSignature<'a> {
    pub payload: &'a [u8],
    /// `dev.cosignproject.cosign/signature` (base64).
    pub signature: &'a str,
    /// `dev.sigstore.cosign/certificate` (PEM), for keyless signatures.
    pub certificate: Option<&'a str>,
    /// `dev.sigstore.cosign/chain` (PEM intermediates then root); informational only: trust
    /// anchors come from the trusted root.
    pub chain: Option<&'a str>,
    /// `dev.sigstore.cosign/bundle` (the Rekor offline bundle JSON).
    pub rekor_bundle: Option<&'a str>,
}

fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

fn pem_certs(pem_text: &str) -> Result<Vec<String>, VerifyError> {
    let mut out = Vec::new();
    for block in pem_text.split_inclusive("-----END CERTIFICATE-----") {
        if !block.contains("-----BEGIN CERTIFICATE-----") {
            continue;
        }
        let der = sigstore_types::DerCertificate::from_pem(block.trim())
            .map_err(|e| VerifyError::Malformed(format!("certificate PEM: {e}")))?;
        out.push(b64(der.as_bytes()));
    }
    if out.is_empty() {
        return Err(VerifyError::Malformed("no certificate in PEM".into()));
    }
    Ok(out)
}

/// Converts cosign's Rekor offline bundle into a bundle tlog entry (inclusion promise only).
fn tlog_entry_from_rekor_bundle(rekor_bundle: &str) -> Result<Value, VerifyError> {
    let rb: Value = serde_json::from_str(rekor_bundle)
        .map_err(|e| VerifyError::Malformed(format!("Rekor bundle: {e}")))?;
    let p = rb
        .get("Payload")
        .ok_or_else(|| VerifyError::Malformed("Rekor bundle has no Payload".into()))?;
    let body = p
        .get("body")
        .and_then(Value::as_str)
        .ok_or_else(|| VerifyError::Malformed("Rekor bundle has no body".into()))?;
    let body_json: Value = serde_json::from_slice(&decode_base64(body)?)
        .map_err(|e| VerifyError::Malformed(format!("Rekor entry body: {e}")))?;
    let log_id = p
        .get("logID")
        .and_then(Value::as_str)
        .ok_or_else(|| VerifyError::Malformed("Rekor bundle has no logID".into()))?;
    let log_id =
        hex::decode(log_id).map_err(|e| VerifyError::Malformed(format!("Rekor logID: {e}")))?;
    let int = |k: &str| {
        p.get(k)
            .and_then(Value::as_i64)
            .ok_or_else(|| VerifyError::Malformed(format!("Rekor bundle has no {k}")))
    };
    let set = rb
        .get("SignedEntryTimestamp")
        .and_then(Value::as_str)
        .ok_or_else(|| VerifyError::Malformed("Rekor bundle has no SignedEntryTimestamp".into()))?;
    Ok(json!({
        "logIndex": int("logIndex")?.to_string(),
        "logId": { "keyId": b64(&log_id) },
        "kindVersion": { "kind": body_json["kind"], "version": body_json["apiVersion"] },
        "integratedTime": int("integratedTime")?.to_string(),
        "inclusionPromise": { "signedEntryTimestamp": set },
        "canonicalizedBody": body,
    }))
}

/// Builds a v0.1 bundle (inclusion promise only, as cosign's offline bundle carries) from
/// converted evidence that has a log entry.
fn bundle_from(material: Value, content_key: &str, content: Value) -> Result<Bundle, VerifyError> {
    let mut b = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": material,
    });
    b[content_key] = content;
    Bundle::from_json(&b.to_string()).map_err(|e| VerifyError::Malformed(format!("evidence: {e}")))
}

fn tlog_info(r: &VerificationResult, bundle: &Bundle) -> Option<TlogInfo> {
    if !r.tlog_verified() {
        return None;
    }
    let t = r.integrated_time()?;
    let log_index = bundle
        .verification_material
        .tlog_entries
        .first()
        .and_then(|e| {
            serde_json::to_value(e).ok().and_then(|v| {
                v.get("logIndex").and_then(|i| {
                    i.as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| i.as_u64())
                })
            })
        });
    Some(TlogInfo {
        log_index,
        integrated_time: t.as_second(),
    })
}

/// How the evidence binds to the artifact: its bytes (a simple-signing payload) or its digest.
enum Input<'a> {
    Bytes(&'a [u8]),
    Digest(Sha256Hash),
}

fn subject_input(subject: &Digest) -> Result<Sha256Hash, VerifyError> {
    if subject.algorithm() != Algorithm::Sha256 {
        return Err(VerifyError::Unsupported(format!(
            "subject digest {subject}: only sha256 subjects can be verified"
        )));
    }
    Sha256Hash::from_hex(subject.hex()).map_err(|e| VerifyError::Malformed(e.to_string()))
}

fn run(
    verifier: &Verifier,
    input: &Input<'_>,
    bundle: &Bundle,
    policy: &(impl sigstore_verify::Policy + ?Sized),
) -> Result<VerificationResult, VerifyError> {
    let r = match input {
        Input::Bytes(b) => verifier.verify(*b, bundle, policy),
        Input::Digest(d) => verifier.verify(*d, bundle, policy),
    };
    r.map_err(VerifyError::from)
}

/// Verifies `bundle` with whichever trust applies: the named keys for a public-key bundle,
/// the trusted root and identities for a certificate bundle.
fn verify_any(
    trust: &Trust,
    bundle: &Bundle,
    input: &Input<'_>,
    has_certificate: bool,
) -> Result<(Signer, Option<TlogInfo>), VerifyError> {
    if has_certificate {
        let verifier = trust.verifier().ok_or_else(|| {
            VerifyError::NoTrustMaterial("keyless evidence needs a trusted root".into())
        })?;
        let r = run(verifier, input, bundle, &VerificationPolicy::any_identity())?;
        let subject = r
            .identity()
            .map(|i| i.as_str().to_string())
            .unwrap_or_default();
        let issuer = r.issuer().unwrap_or_default().to_string();
        if !trust
            .identities
            .iter()
            .any(|rule| rule.matches(&subject, &issuer))
        {
            return Err(VerifyError::SignerUntrusted(format!(
                "identity {subject:?} from issuer {issuer:?} is not trusted"
            )));
        }
        let tlog = tlog_info(&r, bundle);
        return Ok((Signer::Identity { subject, issuer }, tlog));
    }
    if trust.keys.is_empty() {
        return Err(VerifyError::NoTrustMaterial(
            "no public keys are configured".into(),
        ));
    }
    let mut last = None;
    for key in &trust.keys {
        let policy = PublicKeyVerificationPolicy::new(key.key.clone());
        // The log entry is checked whenever there is a root to check it with; without one
        // the signature still counts, reported without a log entry.
        let r = match trust.verifier() {
            Some(v) => run(v, input, bundle, &policy),
            None => run(
                trust.bare_verifier(),
                input,
                bundle,
                &policy.skip_tlog_unsafe(),
            ),
        };
        match r {
            Ok(r) => {
                return Ok((
                    Signer::Key {
                        name: key.name.clone(),
                    },
                    tlog_info(&r, bundle),
                ));
            }
            // Try the next key only when this one simply did not sign it.
            Err(VerifyError::SignatureInvalid(m)) => last = Some(m),
            Err(e) => return Err(e),
        }
    }
    Err(VerifyError::SignerUntrusted(format!(
        "no configured key verifies the signature ({})",
        last.unwrap_or_default()
    )))
}

/// A key signature that no log entry accompanies: checked directly against each named key.
fn verify_key_direct(trust: &Trust, signed: &[u8], sig: &[u8]) -> Result<Signer, VerifyError> {
    if trust.keys.is_empty() {
        return Err(VerifyError::NoTrustMaterial(
            "no public keys are configured".into(),
        ));
    }
    let sig = sigstore_types::SignatureBytes::new(sig.to_vec());
    for key in &trust.keys {
        let scheme = sigstore_crypto::VerificationKey::from_spki(&key.key)
            .map_err(|e| VerifyError::Unsupported(format!("key {:?}: {e}", key.name)))?
            .scheme();
        if sigstore_crypto::verify_signature(&key.key, signed, &sig, scheme).is_ok() {
            return Ok(Signer::Key {
                name: key.name.clone(),
            });
        }
    }
    Err(VerifyError::SignerUntrusted(
        "no configured key verifies the signature".into(),
    ))
}

fn keyless_needs_log() -> VerifyError {
    // Nothing fixes when the short-lived certificate signed, so its validity cannot be judged.
    VerifyError::TlogEntryMissing(
        "keyless evidence needs a transparency log entry or a timestamp".into(),
    )
}

/// Verifies a cosign simple-signing signature on the image `subject`.
pub fn verify_cosign(
    trust: &Trust,
    sig: &CosignSignature<'_>,
    subject: &Digest,
) -> Result<(Verified, SimpleSigning), VerifyError> {
    let payload = SimpleSigning::parse(sig.payload)?;
    payload.require_subject(subject)?;
    let signature = decode_base64(sig.signature)?;
    if sig.rekor_bundle.is_none() {
        if sig.certificate.is_some() {
            return Err(keyless_needs_log());
        }
        let signer = verify_key_direct(trust, sig.payload, &signature)?;
        return Ok((
            Verified {
                signer,
                tlog: None,
                statement: None,
            },
            payload,
        ));
    }
    let mut material = json!({ "tlogEntries": [] });
    if let Some(rb) = sig.rekor_bundle {
        material["tlogEntries"] = json!([tlog_entry_from_rekor_bundle(rb)?]);
    }
    match sig.certificate {
        Some(cert) => {
            let mut certs = pem_certs(cert)?;
            certs.truncate(1);
            material["x509CertificateChain"] = json!({ "certificates": certs.iter().map(|c| json!({"rawBytes": c})).collect::<Vec<_>>() });
        }
        None => material["publicKey"] = json!({ "hint": "" }),
    }
    let digest = sigstore_crypto::sha256(sig.payload);
    let content = json!({
        "messageDigest": { "algorithm": "SHA2_256", "digest": b64(digest.as_bytes()) },
        "signature": b64(&signature),
    });
    let bundle = bundle_from(material, "messageSignature", content)?;
    let (signer, tlog) = verify_any(
        trust,
        &bundle,
        &Input::Bytes(sig.payload),
        sig.certificate.is_some(),
    )
    .map_err(|e| match e {
        // The payload's binding to the image was checked above: a mismatch reported now is
        // the log entry recording other content than this signature.
        VerifyError::SubjectMismatch(m) => VerifyError::TlogEntryInvalid(m),
        other => other,
    })?;
    Ok((
        Verified {
            signer,
            tlog,
            statement: None,
        },
        payload,
    ))
}

/// Verifies a Sigstore bundle (v0.1–v0.3, message signature or DSSE) for `subject`.
pub fn verify_bundle(
    trust: &Trust,
    bundle_json: &str,
    subject: &Digest,
) -> Result<Verified, VerifyError> {
    let bundle = Bundle::from_json(bundle_json)
        .map_err(|e| VerifyError::Malformed(format!("Sigstore bundle: {e}")))?;
    let has_cert = !matches!(
        bundle.verification_material.content,
        sigstore_types::bundle::VerificationMaterialContent::PublicKey(_)
    );
    let statement = match &bundle.content {
        sigstore_types::bundle::SignatureContent::DsseEnvelope(env) => Some(statement_of(
            &env.payload_type,
            env.payload.as_bytes(),
            subject,
        )?),
        _ => None,
    };
    let (signer, tlog) = verify_any(
        trust,
        &bundle,
        &Input::Digest(subject_input(subject)?),
        has_cert,
    )?;
    Ok(Verified {
        signer,
        tlog,
        statement,
    })
}

fn statement_of(
    payload_type: &str,
    payload: &[u8],
    subject: &Digest,
) -> Result<Statement, VerifyError> {
    if payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(VerifyError::Unsupported(format!(
            "DSSE payload type {payload_type:?}"
        )));
    }
    let st = Statement::parse(payload)?;
    st.require_subject(subject)?;
    Ok(st)
}

/// Verifies a bare DSSE envelope (one JSON object) whose statement must name `subject`. Any
/// one signature from a trusted signer suffices.
pub fn verify_envelope(
    trust: &Trust,
    envelope_json: &[u8],
    subject: &Digest,
) -> Result<Verified, VerifyError> {
    verify_attestation(trust, envelope_json, None, None, subject)
}

/// Verifies a DSSE envelope as cosign stores it in an `.att` layer: the envelope, and the
/// layer's certificate and Rekor bundle annotations when present.
pub fn verify_attestation(
    trust: &Trust,
    envelope_json: &[u8],
    certificate: Option<&str>,
    rekor_bundle: Option<&str>,
    subject: &Digest,
) -> Result<Verified, VerifyError> {
    let env = Envelope::parse(envelope_json)?;
    let statement = statement_of(&env.payload_type, &env.payload, subject)?;
    let pae = env.pae();
    let mut first_err = None;
    for s in &env.signatures {
        let cert = certificate.or(s.cert.as_deref());
        let r = match (rekor_bundle, cert) {
            // Without a log entry key signatures are checked directly; keyless ones cannot be
            // anchored in time.
            (None, Some(_)) => Err(keyless_needs_log()),
            (None, None) => verify_key_direct(trust, &pae, &s.sig).map(|signer| (signer, None)),
            (Some(rb), cert) => {
                let mut material = json!({ "tlogEntries": [tlog_entry_from_rekor_bundle(rb)?] });
                match cert {
                    Some(pem) => {
                        let certs = pem_certs(pem)?;
                        material["x509CertificateChain"] =
                            json!({ "certificates": [{ "rawBytes": certs[0] }] });
                    }
                    None => material["publicKey"] = json!({ "hint": "" }),
                }
                let content = json!({
                    "payloadType": env.payload_type,
                    "payload": b64(&env.payload),
                    "signatures": [{ "sig": b64(&s.sig), "keyid": s.keyid.clone().unwrap_or_default() }],
                });
                let bundle = bundle_from(material, "dsseEnvelope", content)?;
                verify_any(
                    trust,
                    &bundle,
                    &Input::Digest(subject_input(subject)?),
                    cert.is_some(),
                )
            }
        };
        match r {
            Ok((signer, tlog)) => {
                return Ok(Verified {
                    signer,
                    tlog,
                    statement: Some(statement),
                });
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| VerifyError::Malformed("no signatures".into())))
}

/// Builders that sign on behalf of the builder their provenance names (slsa-github-generator's
/// delegator workflows for "bring your own builder").
const DELEGATORS: &[&str] = &[
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/delegator_generic_slsa3.yml",
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/delegator_lowperms-generic_slsa3.yml",
];

/// Reads the SLSA provenance of verified evidence and checks its builder against the signer:
/// for keyless provenance the signing identity is the builder (as slsa-verifier checks), so a
/// statement naming a trusted builder signed by anyone else is refused.
pub fn verify_provenance(trust: &Trust, v: &Verified) -> Result<Provenance, VerifyError> {
    let st = v
        .statement
        .as_ref()
        .ok_or_else(|| VerifyError::Unsupported("evidence carries no statement".into()))?;
    let prov = Provenance::from_statement(st)?;
    match &v.signer {
        Signer::Identity { subject, .. } => {
            let signer_name = subject.split_once('@').map_or(subject.as_str(), |(n, _)| n);
            let signer_ref = subject.split_once('@').map(|(_, r)| r);
            if !subject.starts_with("https://") {
                return Err(VerifyError::ProvenanceBuilderUntrusted(format!(
                    "provenance was signed by {subject}, which is not a builder identity"
                )));
            }
            if !signer_ref.is_some_and(|r| r.starts_with("refs/tags/v")) {
                return Err(VerifyError::ProvenanceBuilderUntrusted(format!(
                    "builder {subject} is not referenced at a release tag"
                )));
            }
            if DELEGATORS.contains(&signer_name) {
                if !trust.trusts_builder(&prov.builder_id) {
                    return Err(VerifyError::ProvenanceBuilderUntrusted(format!(
                        "delegated builder {} is not trusted",
                        prov.builder_id
                    )));
                }
            } else {
                if prov.builder_id != *subject {
                    return Err(VerifyError::ProvenanceBuilderUntrusted(format!(
                        "provenance names builder {} but was signed by {subject}",
                        prov.builder_id
                    )));
                }
                if !trust.trusts_builder(subject) {
                    return Err(VerifyError::ProvenanceBuilderUntrusted(format!(
                        "builder {subject} is not trusted"
                    )));
                }
            }
        }
        Signer::Key { name } => {
            if !trust.trusts_builder(&prov.builder_id) {
                return Err(VerifyError::ProvenanceBuilderUntrusted(format!(
                    "builder {} (signed with key {name:?}) is not trusted",
                    prov.builder_id
                )));
            }
        }
    }
    Ok(prov)
}
