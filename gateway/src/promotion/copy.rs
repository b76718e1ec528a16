//! Copying an artifact and everything said about it from one repository to another: the
//! manifest (and an index's child manifests), its blobs, and its evidence — OCI referrers
//! (signatures, attestations, SBOMs, whatever points at it with `subject`) and cosign's
//! `sha256-<hex>.sig|.att|.sbom` tags.
//!
//! Blobs are never re-uploaded when they can be linked: in embedded mode a blob file is shared
//! and only linked into the target repository; upstream, a cross-repository mount is asked for
//! first and the bytes are streamed through only when the registry declines it (as CNCF
//! distribution does when the token for the target cannot read the source). Children and blobs
//! go before the manifest that needs them, evidence after its subject, so a reader of the target
//! never sees a manifest whose parts are missing. Every step is idempotent: a copy that failed
//! halfway is finished by running it again.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use tollgate_attest::Digest;
use tollgate_policies::{RepoName, Tag};
use tollgate_store::{ManifestRecord, StoreError, TagBinding};

use crate::app::{App, Backend};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::oci::manifests::parse_manifest;
use crate::upstream::{ReqBody, Upstream, scope};

/// What a copy did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CopyReport {
    /// Manifests written to the target (the artifact, children, evidence).
    pub manifests: usize,
    /// Blobs linked or mounted without moving bytes.
    pub blobs_mounted: usize,
    /// Blobs whose bytes had to be streamed through (upstream declined the mount).
    pub blobs_streamed: usize,
    /// Evidence manifests that came along.
    pub evidence: Vec<Digest>,
    /// Every manifest and blob now in the target: what its environment may serve.
    #[serde(skip)]
    pub contents: Vec<Digest>,
    /// The blobs among them, with their sizes.
    #[serde(skip)]
    pub blobs: Vec<(Digest, u64)>,
}

impl CopyReport {
    /// Upstream mode with a blob cache: keeps local copies of the blobs just promoted.
    pub async fn cache_blobs(&self, app: &App, repo: &RepoName) {
        if let (Backend::Upstream(up), Some(cache)) = (&app.backend, &app.blob_cache) {
            for (d, size) in &self.blobs {
                cache.fill(up, repo, d, *size).await;
            }
        }
    }
}

/// Bounds the walk: an index of indexes of … is refused past this depth.
const MAX_DEPTH: usize = 4;
const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// Copies `digest` from `from` to `to`, binds `tag` there (if given), and brings its evidence.
pub async fn copy_artifact(
    app: &App,
    from: &RepoName,
    to: &RepoName,
    digest: &Digest,
    tag: Option<&Tag>,
    actor: &str,
) -> ApiResult<CopyReport> {
    let mut report = CopyReport::default();
    let mut done = BTreeSet::new();
    copy_manifest(app, from, to, digest, tag, actor, &mut report, &mut done, 0).await?;

    // Evidence: referrers (by subject), then cosign's tag-addressed signatures et al.
    for r in app.store.referrers(from, digest)? {
        copy_manifest(
            app,
            from,
            to,
            &r.digest,
            None,
            actor,
            &mut report,
            &mut done,
            0,
        )
        .await?;
        report.evidence.push(r.digest);
    }
    for suffix in COSIGN_SUFFIXES {
        let t: Tag = format!("{}.{suffix}", digest.tag_form())
            .parse()
            .map_err(ApiError::internal)?;
        if let Some(d) = app.store.resolve_tag(from, &t)? {
            copy_manifest(
                app,
                from,
                to,
                &d,
                Some(&t),
                actor,
                &mut report,
                &mut done,
                0,
            )
            .await?;
            report.evidence.push(d);
        }
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn copy_manifest(
    app: &App,
    from: &RepoName,
    to: &RepoName,
    digest: &Digest,
    tag: Option<&Tag>,
    actor: &str,
    report: &mut CopyReport,
    done: &mut BTreeSet<Digest>,
    depth: usize,
) -> ApiResult<()> {
    if depth > MAX_DEPTH {
        return Err(ApiError::new(
            ErrorCode::ManifestInvalid,
            format!("{digest} nests indexes deeper than {MAX_DEPTH}"),
        ));
    }
    let first_visit = done.insert(digest.clone());
    let (record, bytes) = app.store.get_manifest(from, digest)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::ManifestUnknown,
            format!("manifest {digest} is not in {from}"),
        )
    })?;
    if first_visit {
        let parsed = parse_manifest(&bytes, Some(&record.media_type))?;
        for child in &parsed.children {
            Box::pin(copy_manifest(
                app,
                from,
                to,
                child,
                None,
                actor,
                report,
                done,
                depth + 1,
            ))
            .await?;
        }
        for (blob, size) in &parsed.blobs {
            copy_blob(app, from, to, blob, *size, report).await?;
        }
    }
    put_manifest(app, to, &record, &bytes, tag, actor).await?;
    report.manifests += 1;
    report.contents.push(digest.clone());
    Ok(())
}

async fn copy_blob(
    app: &App,
    from: &RepoName,
    to: &RepoName,
    digest: &Digest,
    size: u64,
    report: &mut CopyReport,
) -> ApiResult<()> {
    match &app.backend {
        Backend::Embedded(_) => {
            if app.store.blob_size(from, digest)?.is_none() {
                return Err(ApiError::new(
                    ErrorCode::BlobUnknown,
                    format!("blob {digest} is not in {from}"),
                ));
            }
            report.blobs_mounted += 1;
        }
        Backend::Upstream(up) => {
            if mount(up, from, to, digest).await? {
                report.blobs_mounted += 1;
            } else {
                stream_blob(up, from, to, digest, size).await?;
                report.blobs_streamed += 1;
            }
        }
    }
    app.store.link_blob(to, digest, size)?;
    report.contents.push(digest.clone());
    report.blobs.push((digest.clone(), size));
    Ok(())
}

fn upstream_failed(what: &str, status: StatusCode) -> ApiError {
    ApiError::new(
        ErrorCode::UpstreamInvalid,
        format!("upstream answered {status} to {what}"),
    )
}

/// Asks the upstream to mount `digest` from `from` into `to`; false when it declined (and the
/// upload session it opened instead has been cancelled).
async fn mount(up: &Upstream, from: &RepoName, to: &RepoName, digest: &Digest) -> ApiResult<bool> {
    let exists = up
        .send(
            Method::HEAD,
            &format!("/v2/{to}/blobs/{digest}"),
            HeaderMap::new(),
            ReqBody::Empty,
            &scope(to.as_str(), true),
        )
        .await?;
    if exists.status().is_success() {
        return Ok(true);
    }
    // The registry checks pull access to the source as well.
    let both = format!(
        "{} {}",
        scope(to.as_str(), true),
        scope(from.as_str(), false)
    );
    let resp = up
        .send(
            Method::POST,
            &format!("/v2/{to}/blobs/uploads/?mount={digest}&from={from}"),
            HeaderMap::new(),
            ReqBody::Empty,
            &both,
        )
        .await?;
    match resp.status() {
        StatusCode::CREATED => Ok(true),
        StatusCode::ACCEPTED => {
            if let Some(loc) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
            {
                // Best effort: an abandoned session is garbage-collected by the registry anyway.
                let _ = up
                    .send(Method::DELETE, loc, HeaderMap::new(), ReqBody::Empty, &both)
                    .await;
            }
            Ok(false)
        }
        s => Err(upstream_failed("a cross-repository mount", s)),
    }
}

/// Streams a blob from `from` to `to` through the gateway; the registry checks the digest.
async fn stream_blob(
    up: &Upstream,
    from: &RepoName,
    to: &RepoName,
    digest: &Digest,
    size: u64,
) -> ApiResult<()> {
    let get = up
        .send(
            Method::GET,
            &format!("/v2/{from}/blobs/{digest}"),
            HeaderMap::new(),
            ReqBody::Empty,
            &scope(from.as_str(), false),
        )
        .await?;
    if !get.status().is_success() {
        return Err(upstream_failed("a blob read for copying", get.status()));
    }
    let start = up
        .send(
            Method::POST,
            &format!("/v2/{to}/blobs/uploads/"),
            HeaderMap::new(),
            ReqBody::Empty,
            &scope(to.as_str(), true),
        )
        .await?;
    if start.status() != StatusCode::ACCEPTED {
        return Err(upstream_failed("an upload start", start.status()));
    }
    let loc = start
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::new(ErrorCode::UpstreamInvalid, "upload start without Location"))?
        .to_string();
    let sep = if loc.contains('?') { '&' } else { '?' };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_LENGTH, size.into());
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    use futures_util::StreamExt;
    let body = up
        .body_stream(get.into_body())
        .map(|r| r.map_err(|e| Box::new(e) as crate::upstream::BoxError));
    let put = up
        .send(
            Method::PUT,
            &format!("{loc}{sep}digest={digest}"),
            headers,
            ReqBody::Stream(crate::upstream::stream_body(body)),
            &scope(to.as_str(), true),
        )
        .await?;
    if put.status() != StatusCode::CREATED {
        return Err(upstream_failed("a streamed blob copy", put.status()));
    }
    Ok(())
}

/// Writes the manifest into `to`: upstream first (by digest, then by tag), then the store.
async fn put_manifest(
    app: &App,
    to: &RepoName,
    record: &ManifestRecord,
    bytes: &Bytes,
    tag: Option<&Tag>,
    actor: &str,
) -> ApiResult<()> {
    let immutable = tag.is_some_and(|t| app.config.rule_for(to).tags.is_immutable(t));
    if let Some(t) = tag
        && immutable
        && let Some(existing) = app.store.resolve_tag(to, t)?
        && existing != record.digest
    {
        // Refused before the upstream is touched; the store settles a race below.
        return Err(tag_conflict(t, to, &existing));
    }
    if let Backend::Upstream(up) = &app.backend {
        let refs = std::iter::once(record.digest.to_string()).chain(tag.map(|t| t.to_string()));
        for reference in refs {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                record.media_type.parse().map_err(ApiError::internal)?,
            );
            let resp = up
                .send(
                    Method::PUT,
                    &format!("/v2/{to}/manifests/{reference}"),
                    headers,
                    ReqBody::Full(bytes.clone()),
                    &scope(to.as_str(), true),
                )
                .await?;
            if !resp.status().is_success() {
                return Err(upstream_failed("a manifest copy", resp.status()));
            }
        }
    }
    // The record keeps who pushed the build and when: separation of duties and audits ask
    // about the original push, not about the copy.
    let copied = match app.store.get_manifest(to, &record.digest)? {
        Some((existing, _)) => existing,
        None => record.clone(),
    };
    tracing::debug!(%to, digest = %record.digest, actor, "manifest copied");
    let binding = tag.map(|t| TagBinding {
        tag: t,
        immutable,
        // The tag reached the upstream above, before it is recorded here: nothing to queue.
        mirror: false,
    });
    match app.store.put_manifest(to, &copied, bytes, binding) {
        Ok(_) => Ok(()),
        Err(StoreError::TagConflict { existing }) => Err(tag_conflict(
            tag.expect("conflicts need a tag"),
            to,
            &existing,
        )),
        Err(e) => Err(e.into()),
    }
}

fn tag_conflict(t: &Tag, to: &RepoName, existing: &Digest) -> ApiError {
    ApiError::denied(
        tollgate_policies::ReasonCode::TagImmutable,
        format!("tag {t} of {to} is immutable and already bound to {existing}"),
    )
}
