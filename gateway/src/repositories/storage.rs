//! Where a file repository's bytes live: content-addressed files under `<data>/files` (the
//! embedded store), or the repository's upstream. Every upload is first spooled to a local file
//! while all its checksums are computed, so nothing reaches the store or the upstream before
//! the bytes are known to be what the client declared; reads from an upstream are relayed
//! through a verifier that withholds the end of the body unless it hashes to the recorded
//! sha256.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;
use tollgate_store::{FileRecord, FsBlobs};

use super::checksums::{Hasher, Sums};
use super::path::RepoPath;
use crate::config::{Config, FileRepo};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics::Metrics;
use crate::upstream::{BoxError, ReqBody, Upstream, stream_body, verified_stream};

const CHUNK: usize = 256 * 1024;

/// The runtime side of the file repositories: local content, upstream clients, and the locks
/// that keep one writer per path and content commits apart from content removal.
#[derive(Debug)]
pub struct Files {
    blobs: FsBlobs,
    upstreams: HashMap<String, Upstream>,
    paths: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Held while content is committed and recorded, or unrecorded and removed (embedded).
    pub(super) content: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
}

/// An upload spooled to a local file, with its checksums.
#[derive(Debug)]
pub struct Spool {
    id: String,
    pub sums: Sums,
}

/// A file's bytes on their way out.
pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

impl Files {
    /// Opens `<data>/files` and a client per repository upstream.
    pub fn open(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Files> {
        let blobs = FsBlobs::open(&config.data.join("files"))?;
        let mut upstreams = HashMap::new();
        for r in &config.file_repositories {
            if let Some(u) = &r.upstream {
                upstreams.insert(
                    r.name.to_string(),
                    Upstream::new(&u.client, Arc::clone(&metrics))
                        .map_err(|e| anyhow::anyhow!("upstream of {}: {e}", r.name))?,
                );
            }
        }
        Ok(Files {
            blobs,
            upstreams,
            paths: Mutex::new(HashMap::new()),
            content: tokio::sync::Mutex::new(()),
            metrics,
        })
    }

    /// The lock that lets one request at a time change `repo`'s `path`.
    pub(super) fn path_lock(
        &self,
        repo: &FileRepo,
        path: &RepoPath,
    ) -> Arc<tokio::sync::Mutex<()>> {
        let key = format!("{}\0{}", repo.name, path);
        let mut m = self.paths.lock().unwrap_or_else(|p| p.into_inner());
        // Forget locks nobody holds, so the map stays as small as the work in flight.
        if m.len() > 1024 {
            m.retain(|_, l| Arc::strong_count(l) > 1);
        }
        Arc::clone(m.entry(key).or_default())
    }

    fn upstream_of(&self, repo: &FileRepo) -> Option<(&Upstream, String)> {
        let up = self.upstreams.get(repo.name.as_str())?;
        let prefix = repo.upstream.as_ref().map(|u| u.prefix.clone())?;
        Some((up, prefix))
    }

    /// Streams `body` into a new spool file, computing every checksum on the way.
    pub async fn spool<S, E>(&self, body: S) -> ApiResult<Spool>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let id = uuid::Uuid::new_v4().to_string();
        let path = self.blobs.upload_path(&id);
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| ApiError::internal(format!("spool file: {e}")))?;
        let mut w = tokio::io::BufWriter::with_capacity(CHUNK, file);
        let mut hasher = Hasher::new();
        let mut body = std::pin::pin!(body);
        let r: ApiResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::new(ErrorCode::BadRequest, format!("reading the upload: {e}"))
                })?;
                w.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::internal(format!("writing the spool file: {e}")))?;
                hasher.update(&chunk);
            }
            w.flush()
                .await
                .map_err(|e| ApiError::internal(format!("writing the spool file: {e}")))
        }
        .await;
        if let Err(e) = r {
            let _ = self.blobs.discard(&id);
            return Err(e);
        }
        self.metrics.bytes("in", hasher.len());
        Ok(Spool {
            id,
            sums: hasher.finish(),
        })
    }

    /// Throws a spool away.
    pub fn discard(&self, spool: Spool) {
        if let Err(e) = self.blobs.discard(&spool.id) {
            tracing::warn!(spool = %spool.id, error = %e, "could not remove a spool file");
        }
    }

    /// A small spooled document (a Sigstore bundle, a sidecar), read whole.
    pub async fn read_spool(&self, spool: &Spool, max: u64) -> ApiResult<Option<Vec<u8>>> {
        if spool.sums.size > max {
            return Ok(None);
        }
        tokio::fs::read(self.blobs.upload_path(&spool.id))
            .await
            .map(Some)
            .map_err(ApiError::internal)
    }

    /// Makes the spooled bytes the content of `path` in `repo`: committed under their sha256
    /// locally, or `PUT` to the upstream. Consumes the spool either way. The caller holds the
    /// path lock and, for embedded repositories, [`Files::content`] until it has recorded the
    /// file.
    pub async fn commit(
        &self,
        repo: &FileRepo,
        path: &RepoPath,
        spool: Spool,
        content_type: &str,
    ) -> ApiResult<()> {
        let Some((up, prefix)) = self.upstream_of(repo) else {
            let (blobs, id, d) = (
                self.blobs.clone(),
                spool.id.clone(),
                spool.sums.sha256.clone(),
            );
            let r = tokio::task::spawn_blocking(move || blobs.commit(&id, &d))
                .await
                .map_err(ApiError::internal)?;
            if let Err(e) = r {
                self.discard(spool);
                return Err(ApiError::internal(format!("committing a file: {e}")));
            }
            return Ok(());
        };
        let r = self
            .put_upstream(up, &prefix, path, &spool, content_type)
            .await;
        self.discard(spool);
        r
    }

    async fn put_upstream(
        &self,
        up: &Upstream,
        prefix: &str,
        path: &RepoPath,
        spool: &Spool,
        content_type: &str,
    ) -> ApiResult<()> {
        let file = tokio::fs::File::open(self.blobs.upload_path(&spool.id))
            .await
            .map_err(|e| ApiError::internal(format!("spool file: {e}")))?;
        let stream = ReaderStream::with_capacity(file, CHUNK)
            .map(|r| r.map_err(|e| -> BoxError { Box::new(e) }));
        let s = &spool.sums;
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(s.size));
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        // Nexus and Artifactory check these against what they receive, too.
        for (name, value) in [
            ("x-checksum-sha256", s.sha256.hex()),
            ("x-checksum-sha1", s.sha1.as_str()),
            ("x-checksum-md5", s.md5.as_str()),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
        let target = format!("{prefix}/{}", path.to_wire());
        let resp = up
            .send(
                Method::PUT,
                &target,
                headers,
                ReqBody::Stream(stream_body(stream)),
                "",
            )
            .await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = up
            .read_small(resp.into_body(), 16 * 1024)
            .await
            .unwrap_or_default();
        self.metrics.upstream_error("file-put");
        let text = String::from_utf8_lossy(&body);
        tracing::warn!(%target, %status, body = %text.trim(), "upstream refused a file");
        Err(ApiError::new(
            ErrorCode::UpstreamInvalid,
            format!("upstream refused {path} with {status}"),
        ))
    }

    /// The bytes of a recorded file, checked against its sha256 as they stream.
    pub async fn open_read(&self, repo: &FileRepo, rec: &FileRecord) -> ApiResult<ByteStream> {
        let path = RepoPath::new(&rec.path)
            .map_err(|e| ApiError::internal(format!("stored path {:?}: {e}", rec.path)))?;
        let Some((up, prefix)) = self.upstream_of(repo) else {
            let file = tokio::fs::File::open(self.local_path(rec))
                .await
                .map_err(|e| {
                    ApiError::internal(format!(
                        "{}/{} is recorded but its content cannot be opened: {e}",
                        repo.name, rec.path
                    ))
                })?;
            self.metrics.bytes("out", rec.size);
            let s = ReaderStream::with_capacity(file, CHUNK)
                .map(|r| r.map_err(|e| -> BoxError { Box::new(e) }));
            return Ok(Box::pin(s));
        };
        let target = format!("{prefix}/{}", path.to_wire());
        let resp = up
            .send(Method::GET, &target, HeaderMap::new(), ReqBody::Empty, "")
            .await?;
        if resp.status() != StatusCode::OK {
            self.metrics.upstream_error("file-get");
            return Err(ApiError::new(
                ErrorCode::UpstreamInvalid,
                format!(
                    "upstream answered {} for {}/{}, which Tollgate holds a record of",
                    resp.status(),
                    repo.name,
                    rec.path
                ),
            ));
        }
        self.metrics.bytes("out", rec.size);
        Ok(Box::pin(verified_stream(
            Box::pin(up.body_stream(resp.into_body())),
            rec.digest.clone(),
            Some(rec.size),
            Arc::clone(&self.metrics),
            format!("{}/{}", repo.name, rec.path),
        )))
    }

    fn local_path(&self, rec: &FileRecord) -> PathBuf {
        self.blobs.path(&rec.digest)
    }

    /// Whether the embedded store holds content `rec` names (deploy by checksum from it).
    pub fn holds_locally(&self, rec: &FileRecord) -> bool {
        self.blobs.size(&rec.digest).ok().flatten() == Some(rec.size)
    }

    /// Removes `path` from `repo`'s upstream (already gone is fine). Embedded content is
    /// removed by [`Files::forget_content`] once nothing records it.
    pub async fn remove_upstream(&self, repo: &FileRepo, path: &RepoPath) -> ApiResult<()> {
        let Some((up, prefix)) = self.upstream_of(repo) else {
            return Ok(());
        };
        let target = format!("{prefix}/{}", path.to_wire());
        let resp = up
            .send(
                Method::DELETE,
                &target,
                HeaderMap::new(),
                ReqBody::Empty,
                "",
            )
            .await?;
        let s = resp.status();
        if s.is_success() || s == StatusCode::NOT_FOUND {
            return Ok(());
        }
        self.metrics.upstream_error("file-delete");
        Err(ApiError::new(
            ErrorCode::UpstreamInvalid,
            format!("upstream refused to delete {path} with {s}"),
        ))
    }

    /// Removes local content no file records any more. The caller holds [`Files::content`]
    /// and has checked that nothing records `rec.digest`.
    pub fn forget_content(&self, rec: &FileRecord) -> ApiResult<()> {
        self.blobs.remove(&rec.digest).map_err(ApiError::internal)
    }

    pub fn is_upstream(&self, repo: &FileRepo) -> bool {
        self.upstreams.contains_key(repo.name.as_str())
    }
}
