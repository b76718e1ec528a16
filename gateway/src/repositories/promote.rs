//! Promotion of a raw or Maven file: the request names it (`<repo>/<path>`, or its digest when
//! one file of the source environment holds it), the policy decides as for any artifact (see
//! [`crate::promotion`]), and the copy puts the file and every sidecar uploaded beside it
//! (checksums, `.asc`, `.sigstore.json`) into the repository the source promotes to — through
//! the target's own upstream, each file re-hashed on the way and checked against its record.

use tollgate_attest::Digest;
use tollgate_policies::ReasonCode;
use tollgate_store::{FileEntry, PromotionRecord};

use super::maven;
use super::metadata::{self, ArtifactKey, Generated};
use super::path::RepoPath;
use super::{classify, immutable_reason};
use crate::app::App;
use crate::config::{Environment, FileRepo};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// A file promotion's source and target.
#[derive(Debug)]
pub struct FileRoute<'a> {
    pub source: &'a FileRepo,
    pub target: &'a FileRepo,
    pub path: RepoPath,
    pub digest: Digest,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, m)
}

/// Reads a promotion request's `artifact` as a file, if it names one: `<repo>/<path>` of a
/// declared file repository, or a digest that no OCI repository of the source environment
/// holds but exactly one file of its file repositories does.
pub fn resolve<'a>(
    app: &'a App,
    artifact: &str,
    source_env: &Environment,
) -> ApiResult<Option<FileRoute<'a>>> {
    let named = artifact.split_once('/').and_then(|(repo, path)| {
        app.config
            .file_repository(repo)
            .map(|r| (r, path.to_string()))
    });
    let (source, path) = match named {
        Some((repo, path)) => {
            let path = RepoPath::new(&path).map_err(|e| {
                bad(format!("artifact {artifact:?}: {e}"))
                    .with_detail(serde_json::json!({ "reason": ReasonCode::PathInvalid.as_str() }))
            })?;
            (repo, path)
        }
        None => {
            let Ok(digest) = artifact.parse::<Digest>() else {
                return Ok(None);
            };
            let in_source = |repo: &str| {
                crate::promotion::environment_of(app, &repo.parse().ok()?)
                    .map(|e| e.name == source_env.name)
            };
            let oci_here = app
                .store
                .artifact(&digest)?
                .iter()
                .any(|e| in_source(e.repository.as_str()) == Some(true));
            if oci_here {
                return Ok(None);
            }
            let files: Vec<FileEntry> = app
                .store
                .files_with_digest(&digest)?
                .into_iter()
                .filter(|e| {
                    app.config.file_repository(e.repository.as_str()).is_some()
                        && in_source(e.repository.as_str()) == Some(true)
                })
                .collect();
            match &files[..] {
                [] => return Ok(None),
                [one] => {
                    let repo = app
                        .config
                        .file_repository(one.repository.as_str())
                        .ok_or_else(|| ApiError::internal("file repository vanished"))?;
                    let path = RepoPath::new(&one.record.path).map_err(ApiError::internal)?;
                    (repo, path)
                }
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .map(|e| format!("{}/{}", e.repository, e.record.path))
                        .collect();
                    return Err(bad(format!(
                        "{digest} is held at {}; name one as <repository>/<path>",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    let rec = app
        .store
        .get_file(&source.name, path.as_str())?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("{path} is not in repository {}", source.name),
            )
        })?;
    if source.environment.as_deref() != Some(source_env.name.as_str()) {
        return Err(bad(format!(
            "{} is not in {:?}, the environment that promotes there",
            source.name, source_env.name
        )));
    }
    let target_name = source.promotes_to.as_ref().ok_or_else(|| {
        bad(format!(
            "{} names no promotes_to repository in [[file_repositories]]",
            source.name
        ))
    })?;
    let target = app
        .config
        .file_repository(target_name.as_str())
        .ok_or_else(|| ApiError::internal(format!("no file repository {target_name}")))?;
    Ok(Some(FileRoute {
        source,
        target,
        path,
        digest: rec.digest,
    }))
}

/// What a file promotion copied.
#[derive(Debug, Default)]
pub struct FileCopy {
    /// Digests of the file and its sidecars: what pulls from the target may serve.
    pub contents: Vec<Digest>,
    pub paths: Vec<String>,
    pub copied: usize,
    pub already_there: usize,
}

/// Copies the promoted file and its sidecars into the target repository. Idempotent: what the
/// target already holds with the same bytes is left alone, so a failed copy is finished by
/// running it again.
pub async fn copy(app: &App, rec: &PromotionRecord, path: &str) -> ApiResult<FileCopy> {
    let repo = |name: &str| {
        app.config
            .file_repository(name)
            .ok_or_else(|| ApiError::internal(format!("{name} is no longer a file repository")))
    };
    let source = repo(rec.source_repository.as_str())?;
    let target = repo(rec.target_repository.as_str())?;
    let path = RepoPath::new(path).map_err(ApiError::internal)?;
    let main = app
        .store
        .get_file(&source.name, path.as_str())?
        .filter(|f| f.digest == rec.artifact)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "{}/{path} no longer holds {}; request the promotion again",
                    source.name, rec.artifact
                ),
            )
        })?;
    let mut files = vec![(path.clone(), main)];
    for suffix in maven::sidecar_suffixes() {
        let p = path.with_suffix(&suffix);
        if let Some(f) = app.store.get_file(&source.name, p.as_str())? {
            files.push((p, f));
        }
    }
    let mut out = FileCopy::default();
    for (p, f) in files {
        out.contents.push(f.digest.clone());
        out.paths.push(p.to_string());
        let lock = app.files.path_lock(target, &p);
        let _held = lock.lock().await;
        let existing = app.store.get_file(&target.name, p.as_str())?;
        if existing.as_ref().is_some_and(|e| e.digest == f.digest) {
            out.already_there += 1;
            continue;
        }
        let immutable = immutable_reason(target, &p, &classify(target, &p)?);
        if let (Some(old), Some(reason)) = (&existing, immutable) {
            return Err(ApiError::denied(
                reason,
                format!(
                    "{p} in {} is immutable and already holds {}",
                    target.name, old.digest
                ),
            ));
        }
        let stream = app.files.open_read(source, &f).await?;
        let spool = app.files.spool(stream).await?;
        if spool.sums.sha256 != f.digest {
            let got = spool.sums.sha256.clone();
            app.files.discard(spool);
            app.metrics.digest_mismatch("upstream");
            return Err(ApiError::new(
                ErrorCode::UpstreamInvalid,
                format!(
                    "{}/{p} hashes to {got}, not {} as recorded",
                    source.name, f.digest
                ),
            ));
        }
        super::store_file(app, target, &p, spool, &f, immutable).await?;
        out.copied += 1;
    }
    Ok(out)
}

/// The Maven version of the file at `path` in `repo`, if it is a Maven artifact.
pub fn version_of(app: &App, repo: &tollgate_policies::RepoName, path: &str) -> Option<String> {
    let r = app.config.file_repository(repo.as_str())?;
    let p = RepoPath::new(path).ok()?;
    match classify(r, &p).ok()? {
        super::Kind::Artifact(Some(c)) => Some(c.version),
        _ => None,
    }
}

/// The artifact-level `maven-metadata.xml` a file promotion changes in its target, locked (in
/// this process) from its regeneration until the promotion is recorded, so that concurrent
/// promotions of one artifact list each other's versions.
pub struct MetadataLock<'a> {
    target: &'a FileRepo,
    key: ArtifactKey,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl std::fmt::Debug for MetadataLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataLock")
            .field("target", &self.target.name)
            .field("key", &self.key)
            .finish()
    }
}

/// Locks the metadata the promotion of the file at `path` changes, if it changes any (a Maven
/// artifact promoted into a Maven repository).
pub async fn lock_metadata<'a>(
    app: &'a App,
    rec: &PromotionRecord,
    path: &str,
) -> Option<MetadataLock<'a>> {
    let source = app.config.file_repository(rec.source_repository.as_str())?;
    let target = app.config.file_repository(rec.target_repository.as_str())?;
    let key = metadata::affected(source, target, path)?;
    let meta_path = RepoPath::new(&key.metadata_path()).ok()?;
    let held = app.files.path_lock(target, &meta_path).lock_owned().await;
    Some(MetadataLock {
        target,
        key,
        _held: held,
    })
}

impl MetadataLock<'_> {
    /// Regenerates the metadata with the versions the target serves and the one whose files
    /// (`pending`) the promotion is about to make servable.
    pub async fn write(&self, app: &App, pending: &[Digest]) -> ApiResult<Option<Generated>> {
        metadata::regenerate(app, self.target, &self.key, pending).await
    }

    /// After the promotion is recorded: if what the target serves now differs from what
    /// `written` lists (another replica promoted a version of the artifact meanwhile), the
    /// metadata is regenerated again and made servable at once.
    pub async fn settle(&self, app: &App, environment: &str, written: Option<&Generated>) {
        let r: ApiResult<()> = async {
            let now = metadata::versions_held(app, self.target, &self.key, &[])?;
            if written.is_some_and(|g| g.versions == now) {
                return Ok(());
            }
            if let Some(g) = metadata::regenerate(app, self.target, &self.key, &[]).await? {
                app.store
                    .allow_served(environment, &self.target.name, &g.digests)?;
                tracing::info!(repo = %self.target.name, path = %g.path, versions = ?g.versions, "maven-metadata.xml regenerated after a concurrent promotion");
            }
            Ok(())
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(repo = %self.target.name, key = ?self.key, error = %e.message, "maven-metadata.xml not settled; the next promotion of the artifact regenerates it");
        }
    }
}
