//! The raw and Maven fronts: `/repository/<repo>/<path>` as Nexus serves it and
//! `/artifactory/<repo>/<path>` as Artifactory does, for the repositories declared in
//! `[[file_repositories]]`.
//!
//! A `PUT` is authorised (the same roles as OCI pushes), its path checked and read (Maven
//! coordinates, `maven-metadata.xml`, sidecars), its body spooled while sha256, sha1, md5 and
//! sha512 are computed, and then judged: declared checksums (`X-Checksum-*` headers, checksum
//! sidecars against the file they describe), immutability (released Maven versions, raw paths
//! by pattern, SNAPSHOT redeploys per repository), version rules, and Sigstore bundle sidecars
//! verified like any other evidence. Only then does it reach the embedded store or the
//! upstream, and the file is recorded by its sha256 with a purl, so evidence, SBOMs, promotion
//! and pull gating work on it as on an OCI artifact. Errors come in each front's own style:
//! plain text for Nexus, Artifactory's `{"errors":[{"status","message"}]}`; the reason code is
//! in `X-Tollgate-Reason` on both.

pub mod checksums;
pub mod maven;
pub mod metadata;
pub mod path;
pub mod promote;
pub mod sbom;
mod storage;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde_json::{Value, json};
use tollgate_policies::{Action, ReasonCode};
use tollgate_store::{EvidenceRecord, FileOutcome, FileRecord, StoreError};

pub use storage::Files;

use self::checksums::Algo;
use self::maven::{Coordinates, MavenFile, Sidecar, SidecarKind};
use self::path::RepoPath;
use crate::app::{App, AppState, now_ms};
use crate::audit::{DraftExt as _, draft};
use crate::auth::Principal;
use crate::config::{FileFormat, FileRepo, VersionPolicy, VersionRule};
use crate::error::{ApiError, ApiResult, ErrorCode, FileFront};

/// Sigstore bundles and checksum sidecars are small; larger ones are not what they claim.
const MAX_SIDECAR: u64 = 4 * 1024 * 1024;
/// Versions looked at for the monotonic rule.
const MAX_LISTED: usize = 100_000;

/// What a path of a repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A file of its own: a Maven artifact with its coordinates, or any raw file.
    Artifact(Option<Coordinates>),
    /// `maven-metadata.xml`.
    Metadata,
    /// A file about another file.
    Sidecar(Sidecar),
}

pub async fn nexus(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&app, FileFront::Nexus, method, &uri, headers, body).await
}

pub async fn artifactory(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&app, FileFront::Artifactory, method, &uri, headers, body).await
}

async fn handle(
    app: &Arc<App>,
    front: FileFront,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match route(app, front, method, uri, headers, body).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(reason) = e.reason()
                && matches!(e.code, ErrorCode::Denied | ErrorCode::Unsupported)
            {
                app.metrics
                    .denials
                    .get_or_create(&crate::metrics::KindLabels {
                        kind: reason.as_str(),
                    })
                    .inc();
                tracing::info!(reason = reason.as_str(), message = %e.message, "request denied");
            }
            render(front, e)
        }
    }
}

/// An error in the front's own format, with the reason code in `X-Tollgate-Reason`.
fn render(front: FileFront, e: ApiError) -> Response {
    let reason = e.reason();
    let status = e.code.file_front_status(reason, front);
    let message = match reason {
        Some(r) => format!("{} [{r}]", e.message),
        None => e.message.clone(),
    };
    let mut resp = match front {
        FileFront::Nexus => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response(),
        FileFront::Artifactory => {
            let mut err = json!({ "status": status.as_u16(), "message": message });
            if let Some(r) = reason {
                err["reason"] = json!(r.as_str());
            }
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                json!({ "errors": [err] }).to_string(),
            )
                .into_response()
        }
    };
    if let Some(r) = reason {
        resp.headers_mut()
            .insert("x-tollgate-reason", HeaderValue::from_static(r.as_str()));
    }
    for (k, v) in e.headers {
        resp.headers_mut().append(k, v);
    }
    if status == StatusCode::UNAUTHORIZED {
        // Maven and curl answer a Basic challenge with the configured user and password.
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tollgate\""),
        );
    }
    resp
}

/// One request against one repository.
struct Ctx<'a> {
    app: &'a Arc<App>,
    front: FileFront,
    principal: Option<Arc<Principal>>,
    headers: HeaderMap,
    method: Method,
    repo: &'a FileRepo,
}

impl Ctx<'_> {
    fn actor(&self) -> String {
        self.principal
            .as_ref()
            .map_or_else(|| "anonymous".to_string(), |p| p.name.clone())
    }

    fn authorize(&self, action: Action) -> ApiResult<()> {
        self.app
            .auth
            .authorize(self.principal.as_deref(), action, &self.repo.name)
    }

    /// `http://<host>` as the client reached the gateway.
    fn base_url(&self) -> String {
        let host = self
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .map_or_else(|| self.app.config.listen.to_string(), str::to_string);
        let scheme = if self.app.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{host}")
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

fn not_found(repo: &FileRepo, path: &RepoPath) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("{path} is not in repository {}", repo.name),
    )
}

/// Artifactory properties ride on the path as matrix parameters (`file.jar;build.number=42`);
/// they are not part of the file's path.
fn strip_matrix(raw: &str) -> String {
    raw.split('/')
        .map(|seg| seg.split(';').next().unwrap_or(seg))
        .collect::<Vec<_>>()
        .join("/")
}

async fn route(
    app: &Arc<App>,
    front: FileFront,
    method: Method,
    uri: &Uri,
    mut headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let prefix = match front {
        FileFront::Nexus => "/repository/",
        FileFront::Artifactory => "/artifactory/",
    };
    let rest = uri.path().strip_prefix(prefix).unwrap_or("");
    if front == FileFront::Artifactory
        && !headers.contains_key(header::AUTHORIZATION)
        && let Some(key) = headers.get("x-jfrog-art-api").cloned()
        && let Ok(v) = HeaderValue::from_bytes(&[b"Bearer ", key.as_bytes()].concat())
    {
        headers.insert(header::AUTHORIZATION, v);
    }
    let principal = app.auth.authenticate(&headers)?;
    let (rest, info) = match rest.strip_prefix("api/storage/") {
        Some(r) if front == FileFront::Artifactory => (r, true),
        _ => (rest, false),
    };
    let (repo_name, raw_path) = rest.split_once('/').unwrap_or((rest, ""));
    let repo = app.config.file_repository(repo_name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no repository named {repo_name:?}"),
        )
    })?;
    let ctx = Ctx {
        app,
        front,
        principal,
        headers,
        method: method.clone(),
        repo,
    };
    let action = match method {
        Method::GET | Method::HEAD => Action::Pull,
        Method::PUT => Action::Push,
        Method::DELETE => Action::Delete,
        m => {
            return Err(ApiError::new(
                ErrorCode::Unsupported,
                format!("method {m} is not supported here"),
            ));
        }
    };
    ctx.authorize(action)?;
    let raw_path = match front {
        FileFront::Artifactory => strip_matrix(raw_path),
        FileFront::Nexus => raw_path.to_string(),
    };
    let path = RepoPath::from_wire(&raw_path).map_err(|e| {
        bad(format!("path {raw_path:?}: {e}"))
            .with_detail(json!({ "reason": ReasonCode::PathInvalid.as_str() }))
    })?;
    match (method, info) {
        (Method::GET | Method::HEAD, true) => storage_info(&ctx, &path),
        (Method::GET | Method::HEAD, false) => get(&ctx, &path).await,
        (Method::PUT, false) => {
            audited(&ctx, &path, "file-push-denied", put(&ctx, &path, body)).await
        }
        (Method::DELETE, false) => {
            audited(&ctx, &path, "file-delete-denied", delete(&ctx, &path)).await
        }
        (m, _) => Err(ApiError::new(
            ErrorCode::Unsupported,
            format!("method {m} is not supported here"),
        )),
    }
}

/// Runs a change and records its policy refusal, if it is refused.
async fn audited(
    ctx: &Ctx<'_>,
    path: &RepoPath,
    action: &str,
    f: impl std::future::Future<Output = ApiResult<Response>>,
) -> ApiResult<Response> {
    let r = f.await;
    if let Err(e) = &r
        && let Some(reason) = e.reason()
    {
        ctx.app
            .audit(draft(&ctx.actor(), action).repo(&ctx.repo.name).details(
                json!({ "path": path.as_str(), "reason": reason.as_str(), "message": e.message }),
            ))
            .await;
    }
    r
}

fn layout_error(path: &RepoPath, e: impl std::fmt::Display) -> ApiError {
    ApiError::denied(
        ReasonCode::MavenLayoutInvalid,
        format!("{path} does not follow the Maven layout: {e}"),
    )
}

/// What `path` is in `repo`; a Maven repository refuses paths outside the Maven layout.
pub fn classify(repo: &FileRepo, path: &RepoPath) -> ApiResult<Kind> {
    if let Some(s) = maven::sidecar(path) {
        if repo.format == FileFormat::Maven {
            let mut target = s.target.clone();
            if let Some(inner) = maven::sidecar(&target) {
                if inner.kind != SidecarKind::Signature || s.kind == SidecarKind::Signature {
                    return Err(layout_error(path, "sidecars of sidecars are not deployed"));
                }
                // A checksum of a signature (`x.jar.asc.sha1`).
                target = inner.target;
            }
            maven::parse(&target).map_err(|e| layout_error(path, e))?;
        }
        return Ok(Kind::Sidecar(s));
    }
    match repo.format {
        FileFormat::Raw => Ok(Kind::Artifact(None)),
        FileFormat::Maven => match maven::parse(path).map_err(|e| layout_error(path, e))? {
            MavenFile::Artifact(c) => Ok(Kind::Artifact(Some(c))),
            MavenFile::Metadata => Ok(Kind::Metadata),
        },
    }
}

/// Why `path` may never be rebound to other bytes, if it may not.
pub fn immutable_reason(repo: &FileRepo, path: &RepoPath, kind: &Kind) -> Option<ReasonCode> {
    match repo.format {
        FileFormat::Raw => repo
            .path_is_immutable(path.as_str())
            .then_some(ReasonCode::PathImmutable),
        FileFormat::Maven => match kind {
            Kind::Metadata => None,
            Kind::Artifact(Some(c)) if c.is_snapshot() => {
                (!repo.snapshot_redeploy).then_some(ReasonCode::SnapshotRedeployDisabled)
            }
            Kind::Artifact(_) => Some(ReasonCode::VersionImmutable),
            // A sidecar follows the file it describes.
            Kind::Sidecar(s) => match classify(repo, &s.target) {
                Ok(k) => immutable_reason(repo, &s.target, &k),
                Err(_) => Some(ReasonCode::VersionImmutable),
            },
        },
    }
}

/// The version rules of a Maven repository, before any byte is read.
fn check_version(ctx: &Ctx<'_>, c: &Coordinates) -> ApiResult<()> {
    let repo = ctx.repo;
    match (repo.version_policy, c.is_snapshot()) {
        (VersionPolicy::Release, true) => {
            return Err(ApiError::denied(
                ReasonCode::SnapshotNotAllowed,
                format!("{} takes releases only, not {}", repo.name, c.version),
            ));
        }
        (VersionPolicy::Snapshot, false) => {
            return Err(ApiError::denied(
                ReasonCode::ReleaseNotAllowed,
                format!("{} takes SNAPSHOTs only, not {}", repo.name, c.version),
            ));
        }
        _ => {}
    }
    if repo.version_rule == VersionRule::Semver && semver::Version::parse(&c.version).is_err() {
        return Err(ApiError::denied(
            ReasonCode::VersionNotSemver,
            format!(
                "{} requires SemVer 2.0 versions; {:?} is not one",
                repo.name, c.version
            ),
        ));
    }
    if repo.monotonic && !c.is_snapshot() {
        let dir = format!("{}/{}/", c.group_id.replace('.', "/"), c.artifact_id);
        let versions: BTreeSet<String> = ctx
            .app
            .store
            .list_files(&repo.name, &dir, MAX_LISTED)?
            .into_iter()
            .filter_map(|f| {
                let v = f.path.get(dir.len()..)?.split_once('/')?.0.to_string();
                (!v.ends_with("-SNAPSHOT")).then_some(v)
            })
            .collect();
        if !versions.contains(&c.version) {
            let eco = match repo.version_rule {
                VersionRule::Maven => tollgate_sbom::Ecosystem::Maven,
                VersionRule::Semver => tollgate_sbom::Ecosystem::Semver,
            };
            if let Some(newer) = versions
                .iter()
                .find(|v| tollgate_sbom::version::compare(eco, v, &c.version) != Ordering::Less)
            {
                return Err(ApiError::denied(
                    ReasonCode::VersionNotNewer,
                    format!(
                        "{}:{} {} is not newer than {newer}, already in {}",
                        c.group_id, c.artifact_id, c.version, repo.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn content_type(path: &RepoPath) -> &'static str {
    let name = path.file_name();
    match name.rsplit('.').next().unwrap_or("") {
        "jar" | "war" | "ear" => "application/java-archive",
        "pom" | "xml" => "application/xml",
        "json" | "module" => "application/json",
        "sha1" | "md5" | "sha256" | "sha512" | "txt" => "text/plain",
        "asc" => "application/pgp-signature",
        "gz" | "tgz" => "application/gzip",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

fn purl_of(path: &RepoPath, kind: &Kind) -> Option<String> {
    match kind {
        Kind::Artifact(Some(c)) => c.purl(),
        Kind::Artifact(None) => maven::generic_purl(path),
        Kind::Metadata | Kind::Sidecar(_) => None,
    }
}

/// Whether a request asks to deploy by checksum (`X-Checksum-Deploy: true`).
fn deploy_by_checksum(headers: &HeaderMap) -> bool {
    headers
        .get("x-checksum-deploy")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A readable file holding exactly the declared content.
fn find_by_checksum<'a>(
    ctx: &Ctx<'a>,
    declared: &[(Algo, String)],
) -> ApiResult<Option<(&'a FileRepo, FileRecord)>> {
    let (algo, hex) = &declared[0];
    for e in ctx.app.store.files_with_checksum(algo.name(), hex)? {
        let Some(repo) = ctx.app.config.file_repository(e.repository.as_str()) else {
            continue;
        };
        let matches_all = declared
            .iter()
            .all(|(a, h)| e.record.checksum(a.name()) == Some(h.as_str()));
        let readable = ctx
            .app
            .auth
            .authorize(ctx.principal.as_deref(), Action::Pull, &repo.name)
            .is_ok()
            && crate::promotion::gated(ctx.app, &repo.name).is_none_or(|env| {
                ctx.app
                    .store
                    .is_served(&env, &repo.name, &e.record.digest)
                    .unwrap_or(false)
            });
        let present = ctx.app.files.is_upstream(repo) || ctx.app.files.holds_locally(&e.record);
        if matches_all && readable && present {
            return Ok(Some((repo, e.record)));
        }
    }
    Ok(None)
}

/// What a spooled upload still needs before it is committed.
struct Accepted {
    evidence: Option<EvidenceRecord>,
    /// A Maven-deployed SBOM, read and parsed: recorded for its version's main artifact.
    sbom: Option<crate::sboms::Parsed>,
}

impl Accepted {
    fn plain() -> Accepted {
        Accepted {
            evidence: None,
            sbom: None,
        }
    }
}

async fn put(ctx: &Ctx<'_>, path: &RepoPath, body: Body) -> ApiResult<Response> {
    let app = ctx.app;
    let repo = ctx.repo;
    let kind = classify(repo, path)?;
    if let Kind::Artifact(Some(c)) = &kind {
        check_version(ctx, c)?;
    }
    let declared = checksums::declared(&ctx.headers).map_err(|e| bad(e.to_string()))?;
    let immutable = immutable_reason(repo, path, &kind);
    let lock = app.files.path_lock(repo, path);
    let _held = lock.lock().await;
    let existing = app.store.get_file(&repo.name, path.as_str())?;
    // Refusals that need no bytes come first: a declared checksum names the content.
    if let (Some(old), Some(reason), Some((a, hex))) = (&existing, immutable, declared.first())
        && old.checksum(a.name()) != Some(hex.as_str())
    {
        return Err(immutable_refusal(reason, repo, path, old));
    }
    let spool = if deploy_by_checksum(&ctx.headers) {
        if declared.is_empty() {
            return Err(bad(
                "X-Checksum-Deploy needs X-Checksum-Sha256, X-Checksum-Sha1 or X-Checksum-Md5",
            ));
        }
        let Some((source, rec)) = find_by_checksum(ctx, &declared)? else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "no readable file with {} {}: upload the content",
                    declared[0].0.name(),
                    declared[0].1
                ),
            ));
        };
        tracing::debug!(%path, from = %source.name, source_path = %rec.path, "deploy by checksum");
        let stream = app.files.open_read(source, &rec).await?;
        app.files.spool(stream).await?
    } else {
        app.files.spool(body.into_data_stream()).await?
    };
    let accepted = match accept(
        ctx,
        path,
        &kind,
        &declared,
        immutable,
        existing.as_ref(),
        &spool,
    )
    .await
    {
        Ok(a) => a,
        Err(e) => {
            app.files.discard(spool);
            return Err(e);
        }
    };
    let sums = spool.sums.clone();
    let rec = FileRecord {
        path: path.to_string(),
        digest: sums.sha256.clone(),
        size: sums.size,
        checksums: sums.checksums(),
        content_type: Some(content_type(path).to_string()),
        purl: purl_of(path, &kind),
        pushed_by: ctx.actor(),
        pushed_at_ms: now_ms(),
    };
    let outcome = store_file(app, repo, path, spool, &rec, immutable).await?;
    if let FileOutcome::Replaced { previous } = &outcome {
        drop_stale_sidecars(ctx, path, &kind).await;
        forget_if_unused(app, previous).await;
    }
    // SBOMs and the main artifact they describe, paired whichever came first.
    let sbom_links = match (&kind, &accepted.sbom) {
        (Kind::Artifact(Some(c)), Some(doc)) => sbom::link_deployed(app, repo, path, c, doc)?,
        (Kind::Artifact(Some(c)), None) if sbom::is_main(c) => {
            sbom::link_arrived(app, repo, path, c, &rec.digest).await?
        }
        _ => Vec::new(),
    };
    let actor = ctx.actor();
    tracing::info!(repo = %repo.name, %path, digest = %rec.digest, ?outcome, %actor, "file pushed");
    app.audit(
        draft(&actor, "file-push")
            .repo(&repo.name)
            .digest(&rec.digest)
            .details(json!({
                "path": rec.path,
                "purl": rec.purl,
                "size": rec.size,
                "outcome": match &outcome {
                    FileOutcome::Created => "created",
                    FileOutcome::Unchanged => "unchanged",
                    FileOutcome::Replaced { .. } => "replaced",
                },
                "previous": match &outcome {
                    FileOutcome::Replaced { previous } => Some(previous.to_string()),
                    _ => None,
                },
                "sbom_linked": sbom_links,
            })),
    )
    .await;
    if let Some(ev) = &accepted.evidence {
        app.store.put_evidence(ev)?;
        app.audit(
            draft(&actor, "evidence-verdict")
                .repo(&repo.name)
                .digest(&ev.subject)
                .details(json!({
                    "evidence": ev.evidence_digest,
                    "path": rec.path,
                    "kind": ev.evidence.kind(),
                    "verified": ev.verdict.verified,
                    "reason": ev.verdict.reason,
                    "signer": ev.verdict.signer,
                    "predicate_type": ev.verdict.predicate_type,
                    "trust": ev.trust_digest,
                })),
        )
        .await;
        if let Some(doc) = crate::sboms::from_attestation(ev)? {
            crate::sboms::record(app, &ev.subject, &doc, "attestation", Some(&repo.name))?;
        }
    }
    match ctx.front {
        FileFront::Nexus => Ok(crate::oci::empty(StatusCode::CREATED, &[])),
        FileFront::Artifactory => {
            let body = item_json(ctx, &rec, &declared);
            Ok((
                StatusCode::CREATED,
                [(
                    header::CONTENT_TYPE,
                    "application/vnd.org.jfrog.artifactory.storage.ItemCreated+json",
                )],
                body.to_string(),
            )
                .into_response())
        }
    }
}

fn immutable_refusal(
    reason: ReasonCode,
    repo: &FileRepo,
    path: &RepoPath,
    old: &FileRecord,
) -> ApiError {
    let what = match reason {
        ReasonCode::VersionImmutable => "belongs to a released version",
        ReasonCode::SnapshotRedeployDisabled => "is a SNAPSHOT file and redeploys are disabled",
        _ => "is immutable",
    };
    ApiError::denied(
        reason,
        format!(
            "{path} {what} and already holds other bytes ({}) in {}",
            old.digest, repo.name
        ),
    )
}

/// The checks on the spooled bytes: declared checksums, immutability, sidecars against the
/// file they describe, Sigstore bundles verified.
async fn accept(
    ctx: &Ctx<'_>,
    path: &RepoPath,
    kind: &Kind,
    declared: &[(Algo, String)],
    immutable: Option<ReasonCode>,
    existing: Option<&FileRecord>,
    spool: &storage::Spool,
) -> ApiResult<Accepted> {
    let app = ctx.app;
    let repo = ctx.repo;
    let sums = &spool.sums;
    if let Some((a, hex)) = sums.mismatch(declared) {
        app.metrics.digest_mismatch("client");
        return Err(ApiError::denied(
            ReasonCode::ChecksumMismatch,
            format!(
                "the client declared {} {hex} for {path}, but the bytes received hash to {}",
                a.name(),
                sums.hex(*a)
            ),
        ));
    }
    if let (Some(old), Some(reason)) = (existing, immutable)
        && old.digest != sums.sha256
    {
        return Err(immutable_refusal(reason, repo, path, old));
    }
    let s = match kind {
        Kind::Sidecar(s) => s,
        Kind::Artifact(Some(c)) if sbom::is_sbom(c) => {
            let bytes = app
                .files
                .read_spool(spool, crate::sboms::MAX_SBOM_BYTES)
                .await?
                .ok_or_else(|| sbom::too_large(path))?;
            // Parsing a large SBOM is CPU work the async workers should not wait on.
            let p = path.clone();
            let doc = tokio::task::spawn_blocking(move || sbom::parse(&p, &bytes))
                .await
                .map_err(ApiError::internal)??;
            return Ok(Accepted {
                evidence: None,
                sbom: Some(doc),
            });
        }
        _ => return Ok(Accepted::plain()),
    };
    let described = || {
        bad(format!(
            "{} (which {path} describes) is not in {}: upload it first",
            s.target, repo.name
        ))
    };
    match s.kind {
        SidecarKind::Signature => Ok(Accepted::plain()),
        SidecarKind::Checksum(algo) => {
            let target = app
                .store
                .get_file(&repo.name, s.target.as_str())?
                .ok_or_else(described)?;
            let body = app
                .files
                .read_spool(spool, MAX_SIDECAR)
                .await?
                .ok_or_else(|| bad(format!("{path} is too large for a checksum file")))?;
            let value = checksums::parse_sidecar(&body, algo).map_err(|e| {
                bad(format!("{path}: {e}"))
                    .with_detail(json!({ "reason": ReasonCode::ChecksumMismatch.as_str() }))
            })?;
            let actual = target.checksum(algo.name()).unwrap_or_default();
            if value != actual {
                app.metrics.digest_mismatch("client");
                return Err(ApiError::denied(
                    ReasonCode::ChecksumMismatch,
                    format!(
                        "{path} says {} {value}, but {} has {actual}",
                        algo.name(),
                        s.target
                    ),
                ));
            }
            Ok(Accepted::plain())
        }
        SidecarKind::Sigstore => {
            let target = app
                .store
                .get_file(&repo.name, s.target.as_str())?
                .ok_or_else(described)?;
            let body = app
                .files
                .read_spool(spool, MAX_SIDECAR)
                .await?
                .ok_or_else(|| {
                    ApiError::denied(
                        ReasonCode::EvidenceMalformed,
                        format!(
                            "{path} is over the {MAX_SIDECAR}-byte limit for a Sigstore bundle"
                        ),
                    )
                })?;
            let mut rec = crate::evidence::examine_posted(app, &target.digest, &body)?;
            rec.repository = Some(repo.name.clone());
            Ok(Accepted {
                evidence: Some(rec),
                sbom: None,
            })
        }
    }
}

/// After a mutable file changed, checksum sidecars uploaded for its old bytes describe nothing
/// any more: they go, and GETs of them are answered from the new bytes until new ones come.
async fn drop_stale_sidecars(ctx: &Ctx<'_>, path: &RepoPath, kind: &Kind) {
    if matches!(kind, Kind::Sidecar(_)) {
        return;
    }
    for a in Algo::ALL {
        let sc = path.with_suffix(a.suffix());
        let Ok(Some(rec)) = ctx.app.store.get_file(&ctx.repo.name, sc.as_str()) else {
            continue;
        };
        if let Err(e) = remove_file(ctx, &sc, &rec).await {
            tracing::warn!(repo = %ctx.repo.name, path = %sc, error = %e.message, "stale checksum sidecar not removed");
        }
    }
}

/// Makes spooled bytes the content of `path` in `repo` and records them as `rec`, leaving the
/// decision between writers racing for the path — in this process or in another replica over
/// the same database — to the store's one write transaction: an immutable path bound to other
/// bytes is refused with `immutable`'s reason and nothing is written.
///
/// Embedded content is committed under its sha256 first (harmless to a winner: content
/// addressed) and forgotten again if the record is refused. An upstream path has one copy, so
/// for an immutable path the binding is claimed first and the bytes sent only by the writer
/// holding it (a loser never overwrites the winner's bytes upstream); a failed send releases a
/// binding it created. Mutable upstream paths are sent, then recorded: the last writer wins.
pub(crate) async fn store_file(
    app: &App,
    repo: &FileRepo,
    path: &RepoPath,
    spool: storage::Spool,
    rec: &FileRecord,
    immutable: Option<ReasonCode>,
) -> ApiResult<FileOutcome> {
    let conflict = |existing: tollgate_attest::Digest| {
        ApiError::denied(
            immutable.unwrap_or(ReasonCode::PathImmutable),
            format!(
                "{path} in {} already holds other bytes ({existing}) and cannot be rebound",
                repo.name
            ),
        )
    };
    let ct = content_type(path);
    if app.files.is_upstream(repo) {
        if immutable.is_none() {
            app.files.commit(repo, path, spool, ct).await?;
            return Ok(app.store.put_file(&repo.name, rec, false)?);
        }
        let outcome = match app.store.put_file(&repo.name, rec, true) {
            Ok(o) => o,
            Err(e) => {
                app.files.discard(spool);
                return Err(match e {
                    StoreError::PathConflict { existing } => conflict(existing),
                    e => e.into(),
                });
            }
        };
        // Unchanged: the same bytes again, which also repairs a send interrupted earlier.
        if let Err(e) = app.files.commit(repo, path, spool, ct).await {
            if outcome == FileOutcome::Created
                && let Err(u) = app
                    .store
                    .unbind_file(&repo.name, path.as_str(), &rec.digest)
            {
                tracing::error!(repo = %repo.name, %path, error = %u, "a file whose bytes the upstream refused is still recorded");
            }
            return Err(e);
        }
        return Ok(outcome);
    }
    let recorded = {
        let _content = app.files.content.lock().await;
        app.files.commit(repo, path, spool, ct).await?;
        app.store.put_file(&repo.name, rec, immutable.is_some())
    };
    match recorded {
        Ok(o) => Ok(o),
        Err(StoreError::PathConflict { existing }) => {
            forget_if_unused(app, &rec.digest).await;
            Err(conflict(existing))
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes local content once no embedded repository records it.
async fn forget_if_unused(app: &App, digest: &tollgate_attest::Digest) {
    let _content = app.files.content.lock().await;
    let used = match app.store.files_with_digest(digest) {
        Ok(entries) => entries.iter().any(|e| {
            app.config
                .file_repository(e.repository.as_str())
                .is_some_and(|r| !app.files.is_upstream(r))
        }),
        Err(_) => true,
    };
    if !used {
        let probe = FileRecord {
            path: String::new(),
            digest: digest.clone(),
            size: 0,
            checksums: tollgate_store::FileChecksums {
                sha1: String::new(),
                md5: String::new(),
                sha512: String::new(),
            },
            content_type: None,
            purl: None,
            pushed_by: String::new(),
            pushed_at_ms: 0,
        };
        if let Err(e) = app.files.forget_content(&probe) {
            tracing::warn!(%digest, error = %e.message, "unused file content not removed");
        }
    }
}

/// Removes a file upstream and from the record.
async fn remove_file(ctx: &Ctx<'_>, path: &RepoPath, rec: &FileRecord) -> ApiResult<()> {
    ctx.app.files.remove_upstream(ctx.repo, path).await?;
    ctx.app.store.delete_file(&ctx.repo.name, path.as_str())?;
    if ctx.app.store.files_with_digest(&rec.digest)?.is_empty()
        && ctx.app.store.artifact(&rec.digest)?.is_empty()
    {
        crate::sboms::forget(ctx.app, &rec.digest)?;
    }
    if !ctx.app.files.is_upstream(ctx.repo) {
        forget_if_unused(ctx.app, &rec.digest).await;
    }
    Ok(())
}

fn checksums_json(sha1: &str, md5: &str, sha256: &str) -> Value {
    json!({ "sha1": sha1, "md5": md5, "sha256": sha256 })
}

/// Artifactory's `ItemCreated` answer to a deploy.
fn item_json(ctx: &Ctx<'_>, rec: &FileRecord, declared: &[(Algo, String)]) -> Value {
    let base = format!("{}/artifactory", ctx.base_url());
    let wire = RepoPath::new(&rec.path).map_or_else(|_| rec.path.clone(), |p| p.to_wire());
    let sha256 = rec.digest.hex();
    let original = |a: Algo, own: &str| {
        declared
            .iter()
            .find(|(d, _)| *d == a)
            .map_or_else(|| own.to_string(), |(_, h)| h.clone())
    };
    json!({
        "repo": ctx.repo.name,
        "path": format!("/{}", rec.path),
        "created": crate::api::rfc3339(rec.pushed_at_ms),
        "createdBy": rec.pushed_by,
        "downloadUri": format!("{base}/{}/{wire}", ctx.repo.name),
        "mimeType": rec.content_type.as_deref().unwrap_or("application/octet-stream"),
        "size": rec.size.to_string(),
        "checksums": checksums_json(&rec.checksums.sha1, &rec.checksums.md5, sha256),
        "originalChecksums": checksums_json(
            &original(Algo::Sha1, &rec.checksums.sha1),
            &original(Algo::Md5, &rec.checksums.md5),
            &original(Algo::Sha256, sha256),
        ),
        "uri": format!("{base}/api/storage/{}/{wire}", ctx.repo.name),
    })
}

/// The record a GET of `path` answers from: the file itself, or — for a checksum sidecar never
/// uploaded — the file it describes (answered with its computed checksum, as Nexus does).
struct Found {
    rec: FileRecord,
    computed: Option<Algo>,
    /// The file a sidecar describes, whose promotion also serves the sidecar.
    described: Option<FileRecord>,
}

fn find(ctx: &Ctx<'_>, path: &RepoPath) -> ApiResult<Found> {
    let store = &ctx.app.store;
    let sidecar = maven::sidecar(path);
    let described = match &sidecar {
        Some(s) => store.get_file(&ctx.repo.name, s.target.as_str())?,
        None => None,
    };
    if let Some(rec) = store.get_file(&ctx.repo.name, path.as_str())? {
        return Ok(Found {
            rec,
            computed: None,
            described,
        });
    }
    match (sidecar, described) {
        (
            Some(Sidecar {
                kind: SidecarKind::Checksum(a),
                ..
            }),
            Some(target),
        ) => Ok(Found {
            rec: target,
            computed: Some(a),
            described: None,
        }),
        _ => Err(not_found(ctx.repo, path)),
    }
}

/// Environment repositories serve only promoted files (and the sidecars of promoted files).
fn gate(ctx: &Ctx<'_>, found: &Found) -> ApiResult<()> {
    let app = ctx.app;
    let Some(env) = crate::promotion::gated(app, &ctx.repo.name) else {
        return Ok(());
    };
    if let Some(target) = &found.described
        && app.store.is_served(&env, &ctx.repo.name, &target.digest)?
    {
        return Ok(());
    }
    crate::promotion::pull_gate(app, &ctx.actor(), &ctx.repo.name, &found.rec.digest)
}

fn file_headers(mut b: http::response::Builder, rec: &FileRecord) -> http::response::Builder {
    b = b
        .header(header::ETAG, format!("\"{}\"", rec.checksums.sha1))
        .header("x-checksum-sha1", &rec.checksums.sha1)
        .header("x-checksum-sha256", rec.digest.hex())
        .header("x-checksum-md5", &rec.checksums.md5);
    if let Some(t) = tollgate_policies::chrono::DateTime::from_timestamp_millis(rec.pushed_at_ms) {
        b = b.header(
            header::LAST_MODIFIED,
            t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
    }
    b
}

async fn get(ctx: &Ctx<'_>, path: &RepoPath) -> ApiResult<Response> {
    let found = find(ctx, path)?;
    gate(ctx, &found)?;
    let rec = &found.rec;
    if let Some(a) = found.computed {
        let hex = match a {
            Algo::Sha256 => rec.digest.hex().to_string(),
            Algo::Sha1 => rec.checksums.sha1.clone(),
            Algo::Md5 => rec.checksums.md5.clone(),
            Algo::Sha512 => rec.checksums.sha512.clone(),
        };
        let sums = checksums::sums_of(hex.as_bytes());
        let b = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::CONTENT_LENGTH, hex.len())
            .header(header::ETAG, format!("\"{}\"", sums.sha1))
            .header("x-checksum-sha1", &sums.sha1)
            .header("x-checksum-sha256", sums.sha256.hex())
            .header("x-checksum-md5", &sums.md5);
        let body = if ctx.method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(hex)
        };
        return b.body(body).map_err(ApiError::internal);
    }
    let b = file_headers(Response::builder().status(StatusCode::OK), rec)
        .header(
            header::CONTENT_TYPE,
            rec.content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        )
        .header(header::CONTENT_LENGTH, rec.size);
    if ctx.method == Method::HEAD {
        return b.body(Body::empty()).map_err(ApiError::internal);
    }
    let stream = ctx.app.files.open_read(ctx.repo, rec).await?;
    b.body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

/// `GET /artifactory/api/storage/<repo>/<path>`: Artifactory's file info.
fn storage_info(ctx: &Ctx<'_>, path: &RepoPath) -> ApiResult<Response> {
    let rec = ctx
        .app
        .store
        .get_file(&ctx.repo.name, path.as_str())?
        .ok_or_else(|| not_found(ctx.repo, path))?;
    let found = Found {
        described: maven::sidecar(path).and_then(|s| {
            ctx.app
                .store
                .get_file(&ctx.repo.name, s.target.as_str())
                .ok()
                .flatten()
        }),
        rec,
        computed: None,
    };
    gate(ctx, &found)?;
    let rec = &found.rec;
    let base = format!("{}/artifactory", ctx.base_url());
    let sums = checksums_json(&rec.checksums.sha1, &rec.checksums.md5, rec.digest.hex());
    let body = json!({
        "repo": ctx.repo.name,
        "path": format!("/{}", rec.path),
        "created": crate::api::rfc3339(rec.pushed_at_ms),
        "createdBy": rec.pushed_by,
        "lastModified": crate::api::rfc3339(rec.pushed_at_ms),
        "modifiedBy": rec.pushed_by,
        "downloadUri": format!("{base}/{}/{}", ctx.repo.name, path.to_wire()),
        "mimeType": rec.content_type.as_deref().unwrap_or("application/octet-stream"),
        "size": rec.size.to_string(),
        "checksums": sums.clone(),
        "originalChecksums": sums,
        "uri": format!("{base}/api/storage/{}/{}", ctx.repo.name, path.to_wire()),
        "purl": rec.purl,
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/vnd.org.jfrog.artifactory.storage.FileInfo+json",
        )],
        body.to_string(),
    )
        .into_response())
}

async fn delete(ctx: &Ctx<'_>, path: &RepoPath) -> ApiResult<Response> {
    let repo = ctx.repo;
    if !repo.allow_delete {
        return Err(ApiError::denied(
            ReasonCode::DeleteDisabled,
            format!("deletes are disabled for {}", repo.name),
        ));
    }
    let lock = ctx.app.files.path_lock(repo, path);
    let _held = lock.lock().await;
    let rec = ctx
        .app
        .store
        .get_file(&repo.name, path.as_str())?
        .ok_or_else(|| not_found(repo, path))?;
    let kind = classify(repo, path)?;
    if let Some(reason) = immutable_reason(repo, path, &kind) {
        return Err(ApiError::denied(
            reason,
            format!("{path} in {} is immutable and cannot be deleted", repo.name),
        ));
    }
    // Evidence a deleted bundle carried goes with it, unless another copy still carries it.
    let evidence_of = match &kind {
        Kind::Sidecar(s) if s.kind == SidecarKind::Sigstore => ctx
            .app
            .store
            .get_file(&repo.name, s.target.as_str())?
            .map(|t| t.digest),
        _ => None,
    };
    remove_file(ctx, path, &rec).await?;
    if let Some(subject) = evidence_of
        && ctx.app.store.files_with_digest(&rec.digest)?.is_empty()
    {
        ctx.app.store.delete_evidence(&subject, &rec.digest)?;
    }
    tracing::info!(repo = %repo.name, %path, digest = %rec.digest, actor = %ctx.actor(), "file deleted");
    ctx.app
        .audit(
            draft(&ctx.actor(), "file-delete")
                .repo(&repo.name)
                .digest(&rec.digest)
                .details(json!({ "path": rec.path })),
        )
        .await;
    Ok(crate::oci::empty(StatusCode::NO_CONTENT, &[]))
}
