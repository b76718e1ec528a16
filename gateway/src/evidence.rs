//! The wiring for evidence: recognise it as it is pushed (cosign `.sig`/`.att` tags, referrers
//! with a `subject`), read its layers, verify it once with `tollgate-attest`, and keep the
//! verdict by subject digest. Evidence that does not verify is refused with its reason code,
//! unless nothing is configured to judge it.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Deserialize;
use tollgate_attest::{Digest, DigestHasher, Evidence};
use tollgate_policies::{ReasonCode, RepoName, Tag};
use tollgate_store::EvidenceRecord;

use crate::app::{App, Backend, now_ms};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::upstream::{ReqBody, scope};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const ANN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
const ANN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
const ANN_CHAIN: &str = "dev.sigstore.cosign/chain";
const ANN_BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// Evidence layers are small documents; anything larger is not evidence Tollgate reads.
const MAX_LAYER: u64 = 4 * 1024 * 1024;

fn is_bundle_type(t: &str) -> bool {
    t.starts_with("application/vnd.dev.sigstore.bundle")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Layer {
    pub(crate) media_type: String,
    pub(crate) digest: String,
    pub(crate) size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The layers of a pushed manifest (evidence or SBOM), as far as they are read here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EvidenceManifest {
    #[serde(default)]
    pub(crate) artifact_type: Option<String>,
    #[serde(default)]
    pub(crate) layers: Vec<Layer>,
}

/// What a pushed manifest is evidence about, if anything: its subject digest.
pub fn subject_of(tag: Option<&Tag>, subject_field: Option<&Digest>) -> Option<Digest> {
    if let Some((d, tail)) = tag.and_then(|t| Digest::from_tag_prefix(t.as_str()))
        && (tail == ".sig" || tail == ".att")
    {
        return Some(d);
    }
    subject_field.cloned()
}

/// Reads a layer's bytes (at most `max`), from the blob store or the upstream, checked
/// against its digest.
pub(crate) async fn read_layer(
    app: &App,
    repo: &RepoName,
    d: &Digest,
    size: u64,
    max: u64,
) -> ApiResult<Bytes> {
    if size > max {
        return Err(ApiError::denied(
            ReasonCode::EvidenceMalformed,
            format!("evidence layer {d} is {size} bytes, over the limit"),
        ));
    }
    let bytes = match &app.backend {
        Backend::Embedded(blobs) => {
            if app.store.blob_size(repo, d)?.is_none() {
                return Err(ApiError::new(
                    ErrorCode::ManifestBlobUnknown,
                    format!("blob {d} is not in {repo}"),
                ));
            }
            Bytes::from(
                tokio::fs::read(blobs.path(d))
                    .await
                    .map_err(ApiError::internal)?,
            )
        }
        Backend::Upstream(up) => {
            let resp = up
                .send(
                    Method::GET,
                    &format!("/v2/{repo}/blobs/{d}"),
                    HeaderMap::new(),
                    ReqBody::Empty,
                    &scope(repo.as_str(), false),
                )
                .await?;
            crate::oci::upstream_found(
                resp.status(),
                || {
                    ApiError::new(
                        ErrorCode::ManifestBlobUnknown,
                        format!("blob {d} is not in {repo}"),
                    )
                },
                &format!("evidence blob {d}"),
            )?;
            up.read_small(resp.into_body(), max as usize).await?
        }
    };
    let mut h = DigestHasher::new(d.algorithm());
    h.update(&bytes);
    if h.finish() != *d {
        app.metrics.digest_mismatch("upstream");
        return Err(ApiError::new(
            ErrorCode::UpstreamInvalid,
            format!("evidence blob does not hash to {d}"),
        ));
    }
    Ok(bytes)
}

/// Turns one layer into evidence, or `None` when it is not a kind Tollgate verifies.
fn layer_evidence(layer: &Layer, artifact_type: Option<&str>, bytes: &[u8]) -> Option<Evidence> {
    let ann = |k: &str| layer.annotations.get(k).filter(|v| !v.is_empty()).cloned();
    let text = || String::from_utf8_lossy(bytes).into_owned();
    if layer.media_type == SIMPLE_SIGNING {
        return Some(Evidence::CosignSignature {
            payload: STANDARD.encode(bytes),
            signature: ann(ANN_SIGNATURE).unwrap_or_default(),
            certificate: ann(ANN_CERTIFICATE),
            chain: ann(ANN_CHAIN),
            rekor_bundle: ann(ANN_BUNDLE),
        });
    }
    if layer.media_type == DSSE
        || layer.media_type == "application/vnd.in-toto+json" && artifact_type.is_none()
    {
        return Some(Evidence::DsseEnvelope {
            envelope: text(),
            certificate: ann(ANN_CERTIFICATE),
            rekor_bundle: ann(ANN_BUNDLE),
        });
    }
    if is_bundle_type(&layer.media_type) || artifact_type.is_some_and(is_bundle_type) {
        return Some(Evidence::SigstoreBundle { bundle: text() });
    }
    None
}

/// Verifies a pushed evidence manifest before it is accepted. Returns the records to keep, or
/// the refusal.
pub async fn examine(
    app: &App,
    repo: &RepoName,
    manifest_digest: &Digest,
    subject: &Digest,
    manifest: &[u8],
) -> ApiResult<Vec<EvidenceRecord>> {
    let doc: EvidenceManifest = serde_json::from_slice(manifest).map_err(|e| {
        ApiError::new(
            ErrorCode::ManifestInvalid,
            format!("evidence manifest: {e}"),
        )
    })?;
    let trust = &app.config.trust;
    // cosign re-pushes every earlier signature with each new one: evidence already on record
    // for this subject is neither judged again nor recorded twice.
    let known: Vec<Evidence> = app
        .store
        .evidence_for(subject)?
        .into_iter()
        .map(|r| r.evidence)
        .collect();
    let mut records = Vec::new();
    for (index, layer) in doc.layers.iter().enumerate() {
        let d: Digest = match layer.digest.parse() {
            Ok(d) => d,
            Err(e) => {
                return Err(ApiError::new(
                    ErrorCode::ManifestInvalid,
                    format!("layer digest: {e}"),
                ));
            }
        };
        let recognised = layer.media_type == SIMPLE_SIGNING
            || layer.media_type == DSSE
            || is_bundle_type(&layer.media_type)
            || doc.artifact_type.as_deref().is_some_and(is_bundle_type);
        if !recognised {
            continue;
        }
        let bytes = read_layer(app, repo, &d, layer.size, MAX_LAYER).await?;
        let Some(evidence) = layer_evidence(layer, doc.artifact_type.as_deref(), &bytes) else {
            continue;
        };
        if known.contains(&evidence) {
            continue;
        }
        let verdict = evidence.assess(&trust.trust, subject);
        tracing::info!(
            %repo, subject = %subject, evidence = %manifest_digest, index, kind = evidence.kind(),
            verified = verdict.verified, reason = verdict.reason.as_deref().unwrap_or(""),
            "evidence verified"
        );
        if let Some(refusal) = refusal(trust, &verdict, || {
            format!("{} for {subject}", evidence.kind())
        }) {
            return Err(refusal);
        }
        records.push(EvidenceRecord {
            subject: subject.clone(),
            evidence_digest: manifest_digest.clone(),
            index: index as u32,
            repository: Some(repo.clone()),
            evidence,
            verdict,
            trust_digest: trust.digest.clone(),
            recorded_at_ms: now_ms(),
        });
    }
    Ok(records)
}

/// The answer to evidence that did not verify, unless it is kept as unverified: when the
/// trust configuration says so, or when nothing is configured to judge it.
fn refusal(
    trust: &crate::config::TrustConfig,
    verdict: &tollgate_attest::Verdict,
    what: impl FnOnce() -> String,
) -> Option<ApiError> {
    if verdict.verified {
        return None;
    }
    let reason = verdict
        .reason
        .as_deref()
        .and_then(ReasonCode::from_code)
        .unwrap_or(ReasonCode::EvidenceMalformed);
    if !trust.refuse_unverified || reason == ReasonCode::TrustMaterialMissing {
        return None;
    }
    let message = verdict.message.as_deref().unwrap_or(reason.as_str());
    Some(ApiError::denied(
        reason,
        format!("{} does not verify: {message}", what()),
    ))
}

/// Verifies evidence posted through the API for `subject` (OCI or not).
pub fn examine_posted(app: &App, subject: &Digest, body: &[u8]) -> ApiResult<EvidenceRecord> {
    let evidence = Evidence::from_document(body).map_err(|e| {
        ApiError::new(ErrorCode::BadRequest, e.to_string())
            .with_detail(serde_json::json!({ "reason": ReasonCode::of(&e).as_str() }))
    })?;
    let trust = &app.config.trust;
    let verdict = evidence.assess(&trust.trust, subject);
    if let Some(refusal) = refusal(trust, &verdict, || {
        format!("{} for {subject}", evidence.kind())
    }) {
        return Err(refusal);
    }
    Ok(EvidenceRecord {
        subject: subject.clone(),
        evidence_digest: Digest::sha256_of(body),
        index: 0,
        repository: None,
        evidence,
        verdict,
        trust_digest: trust.digest.clone(),
        recorded_at_ms: now_ms(),
    })
}

/// Re-verifies every verdict reached under another trust configuration. Runs at start, so a
/// changed key, root, identity or builder list takes effect on stored verdicts too.
pub fn reverify_stale(app: &App) -> anyhow::Result<usize> {
    let trust = &app.config.trust;
    let mut n = 0;
    for mut rec in app.store.all_evidence()? {
        if rec.trust_digest == trust.digest {
            continue;
        }
        let before = rec.verdict.verified;
        rec.verdict = rec.evidence.assess(&trust.trust, &rec.subject);
        rec.trust_digest = trust.digest.clone();
        if before != rec.verdict.verified {
            tracing::info!(subject = %rec.subject, evidence = %rec.evidence_digest, verified = rec.verdict.verified, "verdict changed with the trust configuration");
        }
        app.store.put_evidence(&rec)?;
        n += 1;
    }
    Ok(n)
}

/// The vulnerability report a verified cosign vulnerability attestation carries
/// (`https://cosign.sigstore.dev/attestation/vuln/v1`), for promotion policy thresholds.
/// Unverified evidence reports nothing: a threshold is only met by a report someone trusted
/// signed.
pub fn vuln_report(rec: &EvidenceRecord) -> Option<tollgate_sbom::VulnReport> {
    if !rec.verdict.verified {
        return None;
    }
    let st = rec.evidence.statement_unverified()?;
    let ty = st.get("predicateType")?.as_str()?;
    if ty.trim_end_matches('/') != "https://cosign.sigstore.dev/attestation/vuln/v1" {
        return None;
    }
    match tollgate_sbom::vuln::parse_cosign_vuln(st.get("predicate")?) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(subject = %rec.subject, evidence = %rec.evidence_digest, error = %e, "vulnerability attestation predicate not read");
            None
        }
    }
}
