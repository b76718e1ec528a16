//! Blob uploads: monolithic, single-request and chunked, and cross-repository mounts. Each
//! byte is hashed exactly once as it streams to its destination (a file, or the upstream); a
//! blob becomes visible only after its digest is checked, so a wrong digest leaves nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, Method, StatusCode, header};
use tokio::io::AsyncWriteExt;
use tollgate_attest::{Algorithm, Digest, DigestHasher};
use tollgate_policies::{Action, RepoName};

use super::{Ctx, empty, parse_digest, parse_name};
use crate::app::Backend;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::upstream::{BoxError, ReqBody, scope, stream_body};

/// Sessions untouched for this long are dropped with their partial bytes.
const SESSION_IDLE: Duration = Duration::from_secs(3600);
const WRITE_BUFFER: usize = 256 * 1024;

#[derive(Debug)]
enum Target {
    /// Bytes accumulate in the store's upload file with this id.
    File,
    /// Bytes were streamed to the upstream, whose next upload URL this is.
    Upstream { location: String },
}

#[derive(Debug)]
struct Session {
    repo: RepoName,
    hasher: DigestHasher,
    target: Target,
    touched: Instant,
}

/// Upload sessions in progress, by id. Each is locked while a request works on it.
#[derive(Debug, Default)]
pub struct Uploads {
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>,
}

impl Uploads {
    fn insert(&self, id: String, s: Session) {
        if let Ok(mut m) = self.sessions.lock() {
            m.insert(id, Arc::new(tokio::sync::Mutex::new(s)));
        }
    }

    fn get(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.sessions.lock().ok()?.get(id).cloned()
    }

    fn remove(&self, id: &str) {
        if let Ok(mut m) = self.sessions.lock() {
            m.remove(id);
        }
    }

    /// Drops idle sessions; returns the ids of embedded ones so their files can be removed.
    pub fn sweep(&self) -> Vec<String> {
        let Ok(mut m) = self.sessions.lock() else {
            return Vec::new();
        };
        let stale: Vec<String> = m
            .iter()
            .filter(|(_, s)| {
                s.try_lock()
                    .is_ok_and(|s| s.touched.elapsed() > SESSION_IDLE)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            m.remove(k);
        }
        stale
    }
}

fn upload_unknown(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::BlobUploadUnknown,
        format!("upload {id} is unknown or has ended"),
    )
}

fn location(repo: &RepoName, id: &str) -> String {
    format!("/v2/{repo}/blobs/uploads/{id}")
}

/// The `Range` header value for `len` bytes received (distribution's convention: `0-0` when
/// nothing has arrived yet).
fn range_value(len: u64) -> String {
    format!("0-{}", len.saturating_sub(1))
}

fn progress(status: StatusCode, repo: &RepoName, id: &str, len: u64) -> Response {
    empty(
        status,
        &[
            ("location", location(repo, id)),
            ("range", range_value(len)),
            ("docker-upload-uuid", id.to_string()),
        ],
    )
}

fn created(repo: &RepoName, d: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{repo}/blobs/{d}")),
            ("docker-content-digest", d.to_string()),
        ],
    )
}

fn upstream_status_error(what: &str, s: StatusCode) -> ApiError {
    ApiError::new(
        ErrorCode::UpstreamInvalid,
        format!("upstream answered {s} to {what}"),
    )
}

pub async fn start(ctx: &Ctx<'_>, repo: &RepoName, body: Body) -> ApiResult<Response> {
    ctx.authorize(Action::Push, repo)?;
    if let (Some(mount), Some(from)) = (ctx.query("mount"), ctx.query("from")) {
        let d = parse_digest(mount)?;
        let from = parse_name(from)?;
        // A caller who may not read the source gets an ordinary upload, as if nothing matched.
        if ctx.authorize(Action::Pull, &from).is_ok()
            && let Some(resp) = try_mount(ctx, repo, &d, &from).await?
        {
            return Ok(resp);
        }
    }
    let digest = ctx.query("digest").map(parse_digest).transpose()?;
    let algorithm = match (&digest, ctx.query("digest-algorithm")) {
        (Some(d), _) => d.algorithm(),
        (None, None | Some("sha256")) => Algorithm::Sha256,
        (None, Some("sha512")) => Algorithm::Sha512,
        (None, Some(other)) => {
            return Err(ApiError::new(
                ErrorCode::DigestInvalid,
                format!("digest algorithm {other:?} is not supported"),
            ));
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let target = match &ctx.app.backend {
        Backend::Embedded(blobs) => {
            tokio::fs::File::create(blobs.upload_path(&id))
                .await
                .map_err(ApiError::internal)?;
            Target::File
        }
        Backend::Upstream(up) => {
            let resp = up
                .send(
                    Method::POST,
                    &format!("/v2/{repo}/blobs/uploads/"),
                    HeaderMap::new(),
                    ReqBody::Empty,
                    &scope(repo.as_str(), true),
                )
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(upstream_status_error("an upload start", resp.status()));
            }
            Target::Upstream {
                location: upstream_location(&resp)?,
            }
        }
    };
    let mut session = Session {
        repo: repo.clone(),
        hasher: DigestHasher::new(algorithm),
        target,
        touched: Instant::now(),
    };
    match digest {
        // Single request: the body is the whole blob.
        Some(d) => {
            let r = async {
                append(ctx, &id, &mut session, body).await?;
                complete(ctx, &id, &mut session, &d).await
            }
            .await;
            if r.is_err() {
                discard(ctx, &id, &session).await;
            }
            r
        }
        None => {
            ctx.app.uploads.insert(id.clone(), session);
            Ok(progress(StatusCode::ACCEPTED, repo, &id, 0))
        }
    }
}

async fn try_mount(
    ctx: &Ctx<'_>,
    repo: &RepoName,
    d: &Digest,
    from: &RepoName,
) -> ApiResult<Option<Response>> {
    let store = &ctx.app.store;
    match &ctx.app.backend {
        Backend::Embedded(_) => {
            let Some(size) = store.blob_size(from, d)? else {
                return Ok(None);
            };
            store.link_blob(repo, d, size)?;
        }
        Backend::Upstream(up) => {
            let target = format!("/v2/{repo}/blobs/uploads/?mount={d}&from={from}");
            let resp = up
                .send(
                    Method::POST,
                    &target,
                    HeaderMap::new(),
                    ReqBody::Empty,
                    &scope(repo.as_str(), true),
                )
                .await?;
            match resp.status() {
                StatusCode::CREATED => {}
                StatusCode::ACCEPTED => {
                    // The upstream opened an upload instead; give it back, we start our own.
                    if let Ok(loc) = upstream_location(&resp) {
                        let _ = up
                            .send(
                                Method::DELETE,
                                &loc,
                                HeaderMap::new(),
                                ReqBody::Empty,
                                &scope(repo.as_str(), true),
                            )
                            .await;
                    }
                    return Ok(None);
                }
                s => return Err(upstream_status_error("a mount", s)),
            }
            let size = store.blob_size(from, d)?.unwrap_or(0);
            store.link_blob(repo, d, size)?;
        }
    }
    tracing::info!(%repo, %from, digest = %d, "blob mounted");
    Ok(Some(created(repo, d)))
}

fn upstream_location(resp: &http::Response<hyper::body::Incoming>) -> ApiResult<String> {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UpstreamInvalid,
                "upstream upload answer has no Location",
            )
        })
}

/// `Content-Range: <start>-<end>` (a `bytes ` prefix is tolerated).
fn parse_content_range(h: &str) -> Option<(u64, u64)> {
    let h = h.trim().strip_prefix("bytes ").unwrap_or(h.trim());
    let (a, b) = h.split_once('-')?;
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some((a, b))
}

async fn session_for(
    ctx: &Ctx<'_>,
    repo: &RepoName,
    id: &str,
) -> ApiResult<Arc<tokio::sync::Mutex<Session>>> {
    ctx.authorize(Action::Push, repo)?;
    let s = ctx.app.uploads.get(id).ok_or_else(|| upload_unknown(id))?;
    if s.lock().await.repo != *repo {
        return Err(upload_unknown(id));
    }
    Ok(s)
}

pub async fn patch(ctx: &Ctx<'_>, repo: &RepoName, id: &str, body: Body) -> ApiResult<Response> {
    let s = session_for(ctx, repo, id).await?;
    let mut session = s.lock().await;
    let have = session.hasher.len();
    if let Some(cr) = ctx.headers.get(header::CONTENT_RANGE) {
        let Some((start, end)) = cr.to_str().ok().and_then(parse_content_range) else {
            return Err(ApiError::new(
                ErrorCode::RangeInvalid,
                "Content-Range must be <start>-<end>",
            )
            .with_header(
                header::RANGE,
                range_value(have).parse().map_err(ApiError::internal)?,
            ));
        };
        if start != have {
            return Err(ApiError::new(
                ErrorCode::RangeInvalid,
                format!("chunk starts at {start} but the upload holds {have} bytes"),
            )
            .with_header(
                header::RANGE,
                range_value(have).parse().map_err(ApiError::internal)?,
            )
            .with_header(
                header::LOCATION,
                location(repo, id).parse().map_err(ApiError::internal)?,
            ));
        }
        let declared = ctx
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n != end - start + 1) {
            return Err(ApiError::new(
                ErrorCode::SizeInvalid,
                "Content-Length does not match Content-Range",
            ));
        }
    }
    if let Err(e) = append(ctx, id, &mut session, body).await {
        if matches!(session.target, Target::Upstream { .. }) {
            // The upstream's view of this upload is unknown now: end it.
            drop(session);
            if let Some(s) = ctx.app.uploads.get(id) {
                discard(ctx, id, &*s.lock().await).await;
            }
            ctx.app.uploads.remove(id);
        }
        return Err(e);
    }
    Ok(progress(
        StatusCode::ACCEPTED,
        repo,
        id,
        session.hasher.len(),
    ))
}

pub async fn status(ctx: &Ctx<'_>, repo: &RepoName, id: &str) -> ApiResult<Response> {
    let s = session_for(ctx, repo, id).await?;
    let len = s.lock().await.hasher.len();
    Ok(progress(StatusCode::NO_CONTENT, repo, id, len))
}

pub async fn cancel(ctx: &Ctx<'_>, repo: &RepoName, id: &str) -> ApiResult<Response> {
    let s = session_for(ctx, repo, id).await?;
    let session = s.lock().await;
    ctx.app.uploads.remove(id);
    discard(ctx, id, &session).await;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

pub async fn finish(ctx: &Ctx<'_>, repo: &RepoName, id: &str, body: Body) -> ApiResult<Response> {
    let s = session_for(ctx, repo, id).await?;
    let mut session = s.lock().await;
    let Some(d) = ctx.query("digest") else {
        return Err(ApiError::new(
            ErrorCode::DigestInvalid,
            "the closing PUT needs ?digest=",
        ));
    };
    // From here the session ends, whatever happens: a failed close leaves nothing behind.
    ctx.app.uploads.remove(id);
    let r = async {
        let d = parse_digest(d)?;
        append(ctx, id, &mut session, body).await?;
        complete(ctx, id, &mut session, &d).await
    }
    .await;
    if r.is_err() {
        discard(ctx, id, &session).await;
    }
    r
}

/// Streams `body` into the session's target, hashing as it goes.
async fn append(ctx: &Ctx<'_>, id: &str, session: &mut Session, body: Body) -> ApiResult<()> {
    session.touched = Instant::now();
    let before = session.hasher.len();
    match &mut session.target {
        Target::File => {
            let Backend::Embedded(blobs) = &ctx.app.backend else {
                return Err(ApiError::internal("file upload without an embedded store"));
            };
            let file = tokio::fs::OpenOptions::new()
                .append(true)
                .open(blobs.upload_path(id))
                .await
                .map_err(|e| ApiError::internal(format!("upload file: {e}")))?;
            let mut w = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
            let mut stream = body.into_data_stream();
            let mut result = Ok(());
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        result = Err(ApiError::new(
                            ErrorCode::BlobUploadInvalid,
                            format!("upload body: {e}"),
                        ));
                        break;
                    }
                };
                if let Err(e) = w.write_all(&chunk).await {
                    result = Err(ApiError::internal(format!("writing upload: {e}")));
                    break;
                }
                session.hasher.update(&chunk);
            }
            // Bytes the hasher saw must be on disk, so file and hash stay in step for a resume.
            w.flush()
                .await
                .map_err(|e| ApiError::internal(format!("writing upload: {e}")))?;
            result?;
        }
        Target::Upstream { location } => {
            let Backend::Upstream(up) = &ctx.app.backend else {
                return Err(ApiError::internal("upstream upload without an upstream"));
            };
            let hasher = Arc::new(Mutex::new(session.hasher.clone()));
            let tap = Arc::clone(&hasher);
            let stream = body.into_data_stream().map(move |chunk| {
                let chunk: Bytes = chunk.map_err(|e| -> BoxError { Box::new(e) })?;
                if let Ok(mut h) = tap.lock() {
                    h.update(&chunk);
                }
                Ok(chunk)
            });
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/octet-stream"),
            );
            let resp = up
                .send(
                    Method::PATCH,
                    location,
                    headers,
                    ReqBody::Stream(stream_body(stream)),
                    &scope(session.repo.as_str(), true),
                )
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(upstream_status_error("an upload chunk", resp.status()));
            }
            *location = upstream_location(&resp)?;
            let h = hasher
                .lock()
                .map_err(|_| ApiError::internal("hasher lock poisoned"))?;
            session.hasher = h.clone();
        }
    }
    ctx.app.metrics.bytes("in", session.hasher.len() - before);
    Ok(())
}

/// Checks the digest and makes the blob visible.
async fn complete(
    ctx: &Ctx<'_>,
    id: &str,
    session: &mut Session,
    d: &Digest,
) -> ApiResult<Response> {
    if d.algorithm() != session.hasher.algorithm() {
        return Err(ApiError::new(
            ErrorCode::DigestInvalid,
            format!("the upload was hashed with another algorithm than {d}"),
        ));
    }
    let size = session.hasher.len();
    let got = session.hasher.clone().finish();
    if got != *d {
        ctx.app.metrics.digest_mismatch("client");
        tracing::warn!(repo = %session.repo, expected = %d, %got, "upload refused: digest mismatch");
        return Err(ApiError::new(
            ErrorCode::DigestInvalid,
            format!("uploaded bytes hash to {got}, not {d}"),
        )
        .with_detail(serde_json::json!({ "digest": d.to_string() })));
    }
    let repo = session.repo.clone();
    match &session.target {
        Target::File => {
            let Backend::Embedded(blobs) = &ctx.app.backend else {
                return Err(ApiError::internal("file upload without an embedded store"));
            };
            let (blobs, id, digest) = (blobs.clone(), id.to_string(), d.clone());
            tokio::task::spawn_blocking(move || blobs.commit(&id, &digest))
                .await
                .map_err(ApiError::internal)?
                .map_err(|e| ApiError::internal(format!("committing blob: {e}")))?;
        }
        Target::Upstream { location } => {
            let Backend::Upstream(up) = &ctx.app.backend else {
                return Err(ApiError::internal("upstream upload without an upstream"));
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let target = format!("{location}{sep}digest={d}");
            let resp = up
                .send(
                    Method::PUT,
                    &target,
                    HeaderMap::new(),
                    ReqBody::Empty,
                    &scope(repo.as_str(), true),
                )
                .await?;
            if resp.status() != StatusCode::CREATED {
                return Err(upstream_status_error("the closing PUT", resp.status()));
            }
        }
    }
    ctx.app.store.link_blob(&repo, d, size)?;
    tracing::debug!(%repo, digest = %d, size, "blob committed");
    Ok(created(&repo, d))
}

/// Throws away an upload's bytes wherever they are.
async fn discard(ctx: &Ctx<'_>, id: &str, session: &Session) {
    match (&session.target, &ctx.app.backend) {
        (Target::File, Backend::Embedded(blobs)) => {
            if let Err(e) = blobs.discard(id) {
                tracing::warn!(upload = id, error = %e, "could not remove an upload file");
            }
        }
        (Target::Upstream { location }, Backend::Upstream(up)) => {
            let r = up
                .send(
                    Method::DELETE,
                    location,
                    HeaderMap::new(),
                    ReqBody::Empty,
                    &scope(session.repo.as_str(), true),
                )
                .await;
            if let Err(e) = r {
                tracing::warn!(upload = id, error = %e, "could not cancel an upstream upload");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-4"), Some((0, 4)));
        assert_eq!(parse_content_range("bytes 5-9"), Some((5, 9)));
        assert_eq!(parse_content_range("5-4"), None);
        assert_eq!(parse_content_range("x-4"), None);
        assert_eq!(range_value(0), "0-0");
        assert_eq!(range_value(5), "0-4");
    }
}
