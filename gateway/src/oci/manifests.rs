//! Manifests: exact bytes kept in the store (so pulls of recorded manifests never touch the
//! upstream), tag rules applied on push, and evidence protected on delete.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use tollgate_attest::Digest;
use tollgate_policies::{Action, ReasonCode, Reference, RepoName, Tag};
use tollgate_store::{ManifestRecord, StoreError, TagBinding};

use super::{Ctx, empty, parse_digest};
use crate::app::{App, Backend, now_ms};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::upstream::{ReqBody, scope};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    urls: Vec<String>,
}

/// The parts of a manifest or index Tollgate reads; everything else is kept as bytes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    schema_version: Option<u64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ManifestInvalid, msg)
}

fn descriptor_digest(d: &Descriptor) -> ApiResult<Digest> {
    d.digest
        .parse()
        .map_err(|e| invalid(format!("descriptor digest {:?}: {e}", d.digest)))
}

/// What a pushed manifest says about itself, after validation.
pub(crate) struct Parsed {
    pub(crate) media_type: String,
    pub(crate) artifact_type: Option<String>,
    pub(crate) subject: Option<Digest>,
    pub(crate) annotations: BTreeMap<String, String>,
    /// Blobs (config, layers) and child manifests it references.
    pub(crate) blobs: Vec<(Digest, u64)>,
    pub(crate) children: Vec<Digest>,
}

pub(crate) fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> ApiResult<Parsed> {
    let doc: ManifestDoc = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("manifest is not valid JSON: {e}")))?;
    if doc.schema_version != Some(2) {
        return Err(invalid(
            "schemaVersion must be 2 (schema 1 manifests are obsolete and refused)",
        ));
    }
    let content_type = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty());
    let media_type = match (content_type, doc.media_type.as_deref()) {
        (Some(ct), Some(mt)) if ct != mt => {
            return Err(invalid(format!(
                "Content-Type {ct:?} differs from the manifest's mediaType {mt:?}"
            )));
        }
        (Some(ct), _) => ct.to_string(),
        (None, Some(mt)) => mt.to_string(),
        (None, None) => {
            return Err(invalid(
                "neither Content-Type nor mediaType says what this manifest is",
            ));
        }
    };
    if ![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&media_type.as_str()) {
        return Err(invalid(format!(
            "unsupported manifest media type {media_type:?}"
        )));
    }
    let subject = doc.subject.as_ref().map(descriptor_digest).transpose()?;
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    let artifact_type = if is_index(&media_type) {
        let manifests = doc
            .manifests
            .as_ref()
            .ok_or_else(|| invalid("an index needs a manifests array"))?;
        for m in manifests {
            children.push(descriptor_digest(m)?);
        }
        doc.artifact_type.clone()
    } else {
        let config = doc
            .config
            .as_ref()
            .ok_or_else(|| invalid("an image manifest needs a config descriptor"))?;
        let layers = doc
            .layers
            .as_ref()
            .ok_or_else(|| invalid("an image manifest needs a layers array"))?;
        blobs.push((descriptor_digest(config)?, config.size));
        for l in layers {
            // Foreign layers live at their URLs, not in the registry.
            if l.urls.is_empty() {
                blobs.push((descriptor_digest(l)?, l.size));
            }
        }
        doc.artifact_type
            .clone()
            .or_else(|| Some(config.media_type.clone()))
    };
    Ok(Parsed {
        media_type,
        artifact_type,
        subject,
        annotations: doc.annotations,
        blobs,
        children,
    })
}

/// Reads a body up to `limit` bytes; more is 413.
async fn read_limited(body: Body, limit: usize) -> ApiResult<Bytes> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            ErrorCode::ManifestTooLarge,
            format!("manifest exceeds the {limit}-byte limit"),
        )),
        Err(e) => Err(ApiError::new(
            ErrorCode::ManifestInvalid,
            format!("reading manifest: {e}"),
        )),
    }
}

fn manifest_response(method: &Method, media_type: &str, digest: &Digest, bytes: Bytes) -> Response {
    let len = bytes.len();
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, media_type)
        .header(header::CONTENT_LENGTH, len)
        .header("docker-content-digest", digest.to_string())
        .header(header::ETAG, format!("\"{digest}\""))
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Parses a `/manifests/<reference>`: a malformed digest is `DIGEST_INVALID`, a malformed tag
/// is `bad_tag` (unknown on reads, invalid on writes).
fn parse_reference(reference: &str, bad_tag: ErrorCode) -> ApiResult<Reference> {
    reference
        .parse()
        .map_err(|e: tollgate_policies::NameError| match e {
            tollgate_policies::NameError::Digest(d) => {
                ApiError::new(ErrorCode::DigestInvalid, d.to_string())
            }
            other => ApiError::new(bad_tag, other.to_string()),
        })
}

pub async fn get(ctx: &Ctx<'_>, repo: &RepoName, reference: &str) -> ApiResult<Response> {
    ctx.authorize(Action::Pull, repo)?;
    let reference = parse_reference(reference, ErrorCode::ManifestUnknown)?;
    let store = &ctx.app.store;
    let digest = match &reference {
        Reference::Digest(d) => Some(d.clone()),
        Reference::Tag(t) => store.resolve_tag(repo, t)?,
    };
    // Environment repositories serve only what was promoted there; a tag Tollgate does not
    // know cannot be checked, so it is refused too (fail closed).
    if crate::promotion::gated(ctx.app, repo).is_some() {
        match &digest {
            Some(d) => crate::promotion::pull_gate(ctx.app, &ctx.actor(), repo, d)?,
            None => {
                return Err(crate::promotion::pull_gate_unknown(
                    ctx.app,
                    &ctx.actor(),
                    repo,
                    &reference.to_string(),
                ));
            }
        }
    }
    if let Some(d) = &digest
        && let Some((rec, bytes)) = store.get_manifest(repo, d)?
    {
        return Ok(manifest_response(&ctx.method, &rec.media_type, d, bytes));
    }
    match &ctx.app.backend {
        Backend::Upstream(_) => get_upstream(ctx, repo, &reference, digest.as_ref()).await,
        Backend::Embedded(_) => Err(ApiError::new(
            ErrorCode::ManifestUnknown,
            format!("manifest {reference} is not in {repo}"),
        )),
    }
}

/// A manifest Tollgate has no record of: fetched from the upstream, hashed, and relayed only
/// if it matches the digest asked for (or, for a tag, the digest the upstream claims).
async fn get_upstream(
    ctx: &Ctx<'_>,
    repo: &RepoName,
    reference: &Reference,
    known: Option<&Digest>,
) -> ApiResult<Response> {
    let Backend::Upstream(up) = &ctx.app.backend else {
        return Err(ApiError::new(ErrorCode::ManifestUnknown, "not found"));
    };
    let mut headers = HeaderMap::new();
    let accept = ctx
        .headers
        .get(header::ACCEPT)
        .cloned()
        .unwrap_or(http::HeaderValue::from_static(ACCEPT_ALL));
    headers.insert(header::ACCEPT, accept);
    let target = match known {
        Some(d) => format!("/v2/{repo}/manifests/{d}"),
        None => format!("/v2/{repo}/manifests/{reference}"),
    };
    let resp = up
        .send(
            Method::GET,
            &target,
            headers,
            ReqBody::Empty,
            &scope(repo.as_str(), false),
        )
        .await?;
    super::upstream_found(
        resp.status(),
        || {
            ApiError::new(
                ErrorCode::ManifestUnknown,
                format!("manifest {reference} is not in {repo}"),
            )
        },
        "the manifest",
    )?;
    let media_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    let claimed = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limit = ctx.app.config.max_manifest_bytes;
    let bytes = up.read_small(resp.into_body(), limit).await?;
    let expected = match (known, claimed) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => parse_digest(&c).map_err(|_| {
            ApiError::new(
                ErrorCode::UpstreamInvalid,
                "upstream sent a malformed digest",
            )
        })?,
        (None, None) => Digest::sha256_of(&bytes),
    };
    let mut h = tollgate_attest::DigestHasher::new(expected.algorithm());
    h.update(&bytes);
    let got = h.finish();
    if got != expected {
        ctx.app.metrics.digest_mismatch("upstream");
        tracing::error!(%repo, %reference, %expected, %got, "upstream manifest does not match its digest; refused");
        return Err(ApiError::new(
            ErrorCode::UpstreamInvalid,
            "upstream manifest does not match its digest",
        ));
    }
    Ok(manifest_response(&ctx.method, &media_type, &got, bytes))
}

pub async fn put(
    ctx: &Ctx<'_>,
    repo: &RepoName,
    reference: &str,
    body: Body,
) -> ApiResult<Response> {
    ctx.authorize(Action::Push, repo)?;
    let reference = parse_reference(reference, ErrorCode::ManifestInvalid)?;
    let rule = ctx.app.config.rule_for(repo);
    // Cheap refusals first, before reading the body.
    if let Reference::Tag(t) = &reference {
        rule.tags.check_new_tag(t).map_err(|r| {
            ApiError::denied(
                r,
                format!("tag {t:?} is not allowed in {repo}: it must be a SemVer 2.0 version"),
            )
        })?;
    }
    let bytes = read_limited(body, ctx.app.config.max_manifest_bytes).await?;
    let algorithm = match &reference {
        Reference::Digest(d) => d.algorithm(),
        Reference::Tag(_) => tollgate_attest::Algorithm::Sha256,
    };
    let mut h = tollgate_attest::DigestHasher::new(algorithm);
    h.update(&bytes);
    let digest = h.finish();
    if let Reference::Digest(d) = &reference
        && *d != digest
    {
        ctx.app.metrics.digest_mismatch("client");
        return Err(ApiError::new(
            ErrorCode::DigestInvalid,
            format!("manifest bytes hash to {digest}, not {d}"),
        ));
    }
    let content_type = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let parsed = parse_manifest(&bytes, content_type)?;
    let tag = match &reference {
        Reference::Tag(t) => Some(t),
        Reference::Digest(_) => None,
    };
    let immutable = tag.is_some_and(|t| rule.tags.is_immutable(t));
    if let Some(t) = tag {
        // Refuse a rebind before anything reaches the upstream; the store settles races below.
        if let Some(existing) = ctx.app.store.resolve_tag(repo, t)?
            && existing != digest
            && immutable
        {
            return Err(tag_conflict(t, repo, &existing));
        }
    }
    if let Backend::Embedded(_) = &ctx.app.backend {
        check_references(ctx, repo, &parsed)?;
    }
    // Evidence is verified once, here, before anything about it is accepted.
    let evidence = match crate::evidence::subject_of(tag, parsed.subject.as_ref()) {
        Some(subject) => crate::evidence::examine(ctx.app, repo, &digest, &subject, &bytes).await?,
        None => Vec::new(),
    };
    let mut sboms =
        crate::sboms::examine_pushed(ctx.app, repo, tag, parsed.subject.as_ref(), &bytes).await?;
    // Verified attestations whose predicate is an SBOM are indexed like any other SBOM.
    for rec in &evidence {
        if let Some(doc) = crate::sboms::from_attestation(rec).map_err(|mut e| {
            e.code = ErrorCode::ManifestInvalid;
            e
        })? {
            sboms.push(crate::sboms::PushedSbom {
                subject: rec.subject.clone(),
                doc,
                source: "attestation",
            });
        }
    }
    if let Backend::Upstream(_) = &ctx.app.backend {
        put_upstream(
            ctx.app,
            repo,
            &digest.to_string(),
            &parsed.media_type,
            &bytes,
        )
        .await?;
    }
    let record = ManifestRecord {
        digest: digest.clone(),
        media_type: parsed.media_type.clone(),
        size: bytes.len() as u64,
        artifact_type: parsed.artifact_type.clone(),
        subject: parsed.subject.clone(),
        annotations: parsed.annotations.clone(),
        pushed_by: ctx.actor(),
        pushed_at_ms: now_ms(),
    };
    let upstream = matches!(ctx.app.backend, Backend::Upstream(_));
    let binding = tag.map(|t| TagBinding {
        tag: t,
        immutable,
        // Queued with the binding, so the mirror below survives a crash or a refusal.
        mirror: upstream,
    });
    match ctx.app.store.put_manifest(repo, &record, &bytes, binding) {
        Ok(outcome) => {
            tracing::info!(%repo, %digest, tag = tag.map_or("", Tag::as_str), ?outcome, actor = %record.pushed_by, "manifest pushed");
        }
        Err(StoreError::TagConflict { existing }) => {
            return Err(tag_conflict(
                tag.expect("conflicts need a tag"),
                repo,
                &existing,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    for rec in &evidence {
        ctx.app.store.put_evidence(rec)?;
    }
    {
        use crate::audit::{DraftExt, draft};
        let actor = ctx.actor();
        ctx.app
            .audit(
                draft(&actor, "manifest-push")
                    .repo(repo)
                    .digest(&digest)
                    .details(serde_json::json!({
                        "tag": tag.map(Tag::as_str),
                        "media_type": parsed.media_type,
                        "subject": parsed.subject,
                    })),
            )
            .await;
        for rec in &evidence {
            ctx.app
                .audit(
                    draft(&actor, "evidence-verdict")
                        .repo(repo)
                        .digest(&rec.subject)
                        .details(serde_json::json!({
                            "evidence": rec.evidence_digest,
                            "kind": rec.evidence.kind(),
                            "verified": rec.verdict.verified,
                            "reason": rec.verdict.reason,
                            "signer": rec.verdict.signer,
                            "predicate_type": rec.verdict.predicate_type,
                            "trust": rec.trust_digest,
                        })),
                )
                .await;
        }
    }
    // Evidence pushed later for an artifact an environment already serves (a signature added
    // after promotion) is served with it.
    if let Some(env) = crate::promotion::gated(ctx.app, repo)
        && let Some(subject) = crate::evidence::subject_of(tag, parsed.subject.as_ref())
        && ctx.app.store.is_served(&env, repo, &subject)?
    {
        let mut contents: Vec<Digest> = parsed.blobs.iter().map(|(d, _)| d.clone()).collect();
        contents.push(digest.clone());
        ctx.app.store.allow_served(&env, repo, &contents)?;
    }
    for s in &sboms {
        crate::sboms::record(ctx.app, &s.subject, &s.doc, s.source, Some(repo))?;
    }
    if let Some(t) = tag
        && upstream
    {
        // The tag is ours now; mirror it upstream so direct readers of the upstream see it too.
        // The push has succeeded whatever the upstream answers: the manifest is there by
        // digest and the tag is recorded and served. A refused or failed mirror stays queued
        // and is retried in the background (`crate::upstream::tag_mirror`), as it is when
        // the process dies first.
        match put_upstream(ctx.app, repo, t.as_str(), &parsed.media_type, &bytes).await {
            Ok(()) => crate::upstream::tag_mirror::confirm(ctx.app, repo, t, &digest),
            Err(e) => {
                tracing::warn!(%repo, tag = %t, %digest, error = %e.message, "mirroring the tag upstream failed; it is retried in the background")
            }
        }
    }
    let mut headers = vec![
        ("location", format!("/v2/{repo}/manifests/{digest}")),
        ("docker-content-digest", digest.to_string()),
    ];
    if let Some(s) = &parsed.subject {
        headers.push(("oci-subject", s.to_string()));
    }
    Ok(empty(StatusCode::CREATED, &headers))
}

fn tag_conflict(t: &Tag, repo: &RepoName, existing: &Digest) -> ApiError {
    ApiError::denied(
        ReasonCode::TagImmutable,
        format!("tag {t} of {repo} is immutable and already bound to {existing}"),
    )
}

/// Embedded mode keeps the repository whole: every blob and child manifest must be there.
fn check_references(ctx: &Ctx<'_>, repo: &RepoName, parsed: &Parsed) -> ApiResult<()> {
    for (d, size) in &parsed.blobs {
        match ctx.app.store.blob_size(repo, d)? {
            Some(s) if s == *size => {}
            Some(s) => {
                return Err(ApiError::new(
                    ErrorCode::ManifestInvalid,
                    format!("descriptor for {d} says {size} bytes; the blob has {s}"),
                ));
            }
            None => {
                return Err(ApiError::new(
                    ErrorCode::ManifestBlobUnknown,
                    format!("blob {d} is not in {repo}"),
                )
                .with_detail(serde_json::json!({ "digest": d.to_string() })));
            }
        }
    }
    for d in &parsed.children {
        if ctx.app.store.get_manifest(repo, d)?.is_none() {
            return Err(ApiError::new(
                ErrorCode::ManifestBlobUnknown,
                format!("manifest {d} is not in {repo}"),
            )
            .with_detail(serde_json::json!({ "digest": d.to_string() })));
        }
    }
    Ok(())
}

/// Puts the manifest upstream as `repo:reference` (a digest or a tag).
pub(crate) async fn put_upstream(
    app: &App,
    repo: &RepoName,
    reference: &str,
    media_type: &str,
    bytes: &Bytes,
) -> ApiResult<()> {
    let Backend::Upstream(up) = &app.backend else {
        return Ok(());
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        media_type.parse().map_err(ApiError::internal)?,
    );
    let resp = up
        .send(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            headers,
            ReqBody::Full(bytes.clone()),
            &scope(repo.as_str(), true),
        )
        .await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = up
        .read_small(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    app.metrics.upstream_error("manifest-put");
    let text = String::from_utf8_lossy(&body);
    tracing::warn!(%repo, reference, %status, body = %text, "upstream refused a manifest");
    let code = if status == StatusCode::BAD_REQUEST {
        ErrorCode::ManifestInvalid
    } else {
        ErrorCode::UpstreamInvalid
    };
    Err(ApiError::new(
        code,
        format!(
            "upstream refused the manifest with {status}: {}",
            text.trim()
        ),
    ))
}

pub async fn delete(ctx: &Ctx<'_>, repo: &RepoName, reference: &str) -> ApiResult<Response> {
    ctx.authorize(Action::Delete, repo)?;
    let rule = ctx.app.config.rule_for(repo);
    if !rule.allow_delete {
        return Err(ApiError::denied(
            ReasonCode::DeleteDisabled,
            format!("deletes are disabled for {repo}"),
        ));
    }
    let reference = parse_reference(reference, ErrorCode::ManifestUnknown)?;
    let store = &ctx.app.store;
    match reference {
        Reference::Tag(t) => {
            let Some(d) = store.resolve_tag(repo, &t)? else {
                return Err(ApiError::new(
                    ErrorCode::ManifestUnknown,
                    format!("tag {t} is not in {repo}"),
                ));
            };
            if rule.tags.is_immutable(&t) {
                return Err(ApiError::denied(
                    ReasonCode::TagImmutable,
                    format!("tag {t} of {repo} is immutable"),
                ));
            }
            protect_evidence(ctx, repo, &d, Some(&t))?;
            store.delete_tag(repo, &t)?;
            tracing::info!(%repo, tag = %t, actor = %ctx.actor(), "tag deleted");
        }
        Reference::Digest(d) => {
            let Some((rec, _)) = store.get_manifest(repo, &d)? else {
                return Err(ApiError::new(
                    ErrorCode::ManifestUnknown,
                    format!("manifest {d} is not in {repo}"),
                ));
            };
            if let Some(t) = store
                .tags_of(repo, &d)?
                .into_iter()
                .find(|t| rule.tags.is_immutable(t))
            {
                return Err(ApiError::denied(
                    ReasonCode::ArtifactImmutable,
                    format!("{d} is bound to immutable tag {t} in {repo}"),
                ));
            }
            protect_evidence(ctx, repo, &d, None)?;
            if let Some(subject) = &rec.subject {
                protect_subject(ctx, repo, subject, &d)?;
            }
            remove_manifest(ctx.app, repo, &d).await?;
            tracing::info!(%repo, digest = %d, actor = %ctx.actor(), "manifest deleted");
            {
                use crate::audit::{DraftExt, draft};
                ctx.app
                    .audit(draft(&ctx.actor(), "manifest-delete").repo(repo).digest(&d))
                    .await;
            }
        }
    }
    Ok(empty(StatusCode::ACCEPTED, &[]))
}

/// Removes manifest `d` from `repo`, after the caller has made its own protection checks:
/// from the upstream first (in upstream mode; already gone there is fine), then the record with
/// its tags and referrers entry, then — once no repository holds the manifest any more — the
/// verdicts it carried as evidence and its SBOMs' where-used entries. Each step is idempotent, so a removal that failed midway is
/// finished by running it again. False if `repo` did not hold it.
pub(crate) async fn remove_manifest(app: &App, repo: &RepoName, d: &Digest) -> ApiResult<bool> {
    let store = &app.store;
    let Some((rec, _)) = store.get_manifest(repo, d)? else {
        return Ok(false);
    };
    // The subjects this manifest was evidence for, to drop its verdicts with it.
    let subjects: Vec<Digest> = store
        .tags_of(repo, d)?
        .iter()
        .filter_map(|t| crate::evidence::subject_of(Some(t), None))
        .chain(rec.subject.clone())
        .collect();
    if let Backend::Upstream(up) = &app.backend {
        let resp = up
            .send(
                Method::DELETE,
                &format!("/v2/{repo}/manifests/{d}"),
                HeaderMap::new(),
                ReqBody::Empty,
                &scope(repo.as_str(), true),
            )
            .await?;
        let s = resp.status();
        if !(s.is_success() || s == StatusCode::NOT_FOUND) {
            return Err(ApiError::new(
                ErrorCode::UpstreamInvalid,
                format!("upstream refused the delete with {s}"),
            ));
        }
    }
    let removed = store.delete_manifest(repo, d)?;
    // A copy elsewhere (promoted into another environment) still carries the evidence.
    if store.artifact(d)?.is_empty() {
        for subject in &subjects {
            store.delete_evidence(subject, d)?;
        }
        if store.files_with_digest(d)?.is_empty() {
            crate::sboms::forget(app, d)?;
        }
    }
    Ok(removed)
}

/// Evidence attached by a cosign-style digest tag (`sha256-<subject>.sig`) is protected while
/// its subject is bound to an immutable tag.
fn protect_evidence(
    ctx: &Ctx<'_>,
    repo: &RepoName,
    digest: &Digest,
    via_tag: Option<&Tag>,
) -> ApiResult<()> {
    let tags = match via_tag {
        Some(t) => vec![t.clone()],
        None => ctx.app.store.tags_of(repo, digest)?,
    };
    for t in tags {
        if let Some((subject, _)) = Digest::from_tag_prefix(t.as_str()) {
            protect_subject(ctx, repo, &subject, digest)?;
        }
    }
    Ok(())
}

fn protect_subject(
    ctx: &Ctx<'_>,
    repo: &RepoName,
    subject: &Digest,
    evidence: &Digest,
) -> ApiResult<()> {
    let rule = ctx.app.config.rule_for(repo);
    if let Some(t) = ctx
        .app
        .store
        .tags_of(repo, subject)?
        .into_iter()
        .find(|t| rule.tags.is_immutable(t))
    {
        return Err(ApiError::denied(
            ReasonCode::ArtifactImmutable,
            format!("{evidence} is evidence for {subject}, which is bound to immutable tag {t}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_image_manifests_and_indexes() {
        let cfg = Digest::sha256_of(b"{}");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cfg}","size":2}},"layers":[]}}"#
        );
        let p = parse_manifest(m.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert_eq!(p.blobs, vec![(cfg.clone(), 2)]);
        assert!(
            parse_manifest(m.as_bytes(), Some(OCI_INDEX)).is_err(),
            "type mismatch must be refused"
        );
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{cfg}","size":1}}]}}"#
        );
        let p = parse_manifest(idx.as_bytes(), Some(OCI_INDEX)).unwrap();
        assert_eq!(p.children, vec![cfg]);
        assert!(parse_manifest(b"{\"schemaVersion\":1}", Some(OCI_MANIFEST)).is_err());
        assert!(parse_manifest(b"not json", Some(OCI_MANIFEST)).is_err());
        assert!(
            parse_manifest(idx.as_bytes(), None).is_err(),
            "no type at all"
        );
    }
}
