//! Blob reads and deletes. Embedded blobs stream from their content-addressed file (verified
//! when written); upstream blobs stream through a verifier that withholds the last bytes until
//! the whole body has hashed to the digest asked for.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;
use tollgate_attest::Digest;
use tollgate_policies::{Action, ReasonCode, RepoName};
use tollgate_store::FsBlobs;

use super::{Ctx, empty, parse_digest};
use crate::app::{App, Backend};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::upstream::{ReqBody, scope, verified_stream};

const CHUNK: usize = 256 * 1024;

fn unknown(repo: &RepoName, d: &Digest) -> ApiError {
    ApiError::new(ErrorCode::BlobUnknown, format!("blob {d} is not in {repo}"))
        .with_detail(serde_json::json!({ "digest": d.to_string() }))
}

/// A single `bytes=a-b` / `bytes=a-` range within `len`.
fn parse_range(h: &str, len: u64) -> Option<(u64, u64)> {
    let spec = h.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (len.checked_sub(n.min(len))?, len.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?)
        };
        (start, end)
    };
    (start <= end && end < len).then_some((start, end))
}

pub async fn get(ctx: &Ctx<'_>, repo: &RepoName, digest: &str) -> ApiResult<Response> {
    ctx.authorize(Action::Pull, repo)?;
    let d = parse_digest(digest)?;
    // No bypass by blob digest: an environment repository serves only blobs of what it serves.
    if crate::promotion::gated(ctx.app, repo).is_some() {
        crate::promotion::pull_gate(ctx.app, &ctx.actor(), repo, &d)?;
    }
    let gated = crate::promotion::gated(ctx.app, repo).is_some();
    match &ctx.app.backend {
        Backend::Embedded(blobs) => {
            let Some(len) = ctx.app.store.blob_size(repo, &d)? else {
                return Err(unknown(repo, &d));
            };
            serve_file(ctx, &blobs.path(&d), len, &d).await
        }
        // A promoted blob kept locally: no upstream call on a deploy's pull.
        Backend::Upstream(_)
            if gated
                && let Some((path, len)) = ctx.app.blob_cache.as_ref().and_then(|c| c.hit(&d)) =>
        {
            serve_file(ctx, &path, len, &d).await
        }
        Backend::Upstream(up) => {
            // Ranges are not forwarded: a partial body cannot be checked against the digest.
            let resp = up
                .send(
                    ctx.method.clone(),
                    &format!("/v2/{repo}/blobs/{d}"),
                    HeaderMap::new(),
                    ReqBody::Empty,
                    &scope(repo.as_str(), false),
                )
                .await?;
            let resp = follow_redirect(ctx, resp, repo).await?;
            super::upstream_found(resp.status(), || unknown(repo, &d), &format!("blob {d}"))?;
            let len: Option<u64> = resp
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let mut b = Response::builder()
                .header("docker-content-digest", d.to_string())
                .header(header::CONTENT_TYPE, "application/octet-stream");
            if let Some(l) = len {
                b = b.header(header::CONTENT_LENGTH, l);
            }
            if ctx.method == Method::HEAD {
                return b.body(Body::empty()).map_err(ApiError::internal);
            }
            let stream = verified_stream(
                Box::pin(up.body_stream(resp.into_body())),
                d.clone(),
                len,
                ctx.app.metrics.clone(),
                format!("{repo}@{d}"),
            );
            b.body(Body::from_stream(stream))
                .map_err(ApiError::internal)
        }
    }
}

/// Serves a verified blob file (HEAD, whole, or one byte range).
async fn serve_file(
    ctx: &Ctx<'_>,
    path: &std::path::Path,
    len: u64,
    d: &tollgate_attest::Digest,
) -> ApiResult<Response> {
    let base = Response::builder()
        .header("docker-content-digest", d.to_string())
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ETAG, format!("\"{d}\""));
    if ctx.method == Method::HEAD {
        return base
            .header(header::CONTENT_LENGTH, len)
            .body(Body::empty())
            .map_err(ApiError::internal);
    }
    let mut file = tokio::fs::File::open(path).await.map_err(|e| {
        ApiError::internal(format!(
            "blob {d} is linked but its file cannot be opened: {e}"
        ))
    })?;
    let range = ctx.headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, count, base) = match range {
        None => (StatusCode::OK, 0, len, base),
        Some(r) => match parse_range(r, len) {
            Some((s, e)) => (
                StatusCode::PARTIAL_CONTENT,
                s,
                e - s + 1,
                base.header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{len}")),
            ),
            None => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                )
                    .into_response());
            }
        },
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(ApiError::internal)?;
    }
    ctx.app.metrics.bytes("out", count);
    let stream = ReaderStream::with_capacity(file.take(count), CHUNK);
    base.status(status)
        .header(header::CONTENT_LENGTH, count)
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

/// Follows one same-host redirect (storage drivers may redirect blob reads).
async fn follow_redirect(
    ctx: &Ctx<'_>,
    resp: http::Response<hyper::body::Incoming>,
    repo: &RepoName,
) -> ApiResult<http::Response<hyper::body::Incoming>> {
    let Backend::Upstream(up) = &ctx.app.backend else {
        return Ok(resp);
    };
    if !resp.status().is_redirection() {
        return Ok(resp);
    }
    let loc = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UpstreamInvalid,
                "upstream redirect without a Location",
            )
        })?
        .to_string();
    Ok(up
        .send(
            ctx.method.clone(),
            &loc,
            HeaderMap::new(),
            ReqBody::Empty,
            &scope(repo.as_str(), false),
        )
        .await?)
}

pub async fn delete(ctx: &Ctx<'_>, repo: &RepoName, digest: &str) -> ApiResult<Response> {
    ctx.authorize(Action::Delete, repo)?;
    if !ctx.app.config.rule_for(repo).allow_delete {
        return Err(ApiError::denied(
            ReasonCode::DeleteDisabled,
            format!("deletes are disabled for {repo}"),
        ));
    }
    let d = parse_digest(digest)?;
    match &ctx.app.backend {
        Backend::Embedded(blobs) => {
            if unlink_embedded(ctx.app, blobs, repo, &d)?.is_none() {
                return Err(unknown(repo, &d));
            }
        }
        Backend::Upstream(up) => {
            let resp = up
                .send(
                    Method::DELETE,
                    &format!("/v2/{repo}/blobs/{d}"),
                    HeaderMap::new(),
                    ReqBody::Empty,
                    &scope(repo.as_str(), true),
                )
                .await?;
            match resp.status() {
                s if s.is_success() => {}
                StatusCode::NOT_FOUND => return Err(unknown(repo, &d)),
                s => {
                    return Err(ApiError::new(
                        ErrorCode::UpstreamInvalid,
                        format!("upstream refused the delete with {s}"),
                    ));
                }
            }
            ctx.app.store.unlink_blob(repo, &d)?;
        }
    }
    tracing::info!(%repo, digest = %d, actor = %ctx.actor(), "blob deleted");
    Ok(empty(StatusCode::ACCEPTED, &[]))
}

/// Unlinks blob `d` from `repo` in embedded mode and removes its file once no repository links
/// it. Whether any repository still does; `None` if `repo` did not link it.
pub(crate) fn unlink_embedded(
    app: &App,
    blobs: &FsBlobs,
    repo: &RepoName,
    d: &Digest,
) -> ApiResult<Option<bool>> {
    let still_linked = app.store.unlink_blob(repo, d)?;
    if still_linked == Some(false) {
        blobs.remove(d).map_err(ApiError::internal)?;
    }
    Ok(still_linked)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Some((0, 4)));
        assert_eq!(parse_range("bytes=5-", 10), Some((5, 9)));
        assert_eq!(parse_range("bytes=-3", 10), Some((7, 9)));
        assert_eq!(parse_range("bytes=8-100", 10), Some((8, 9)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
        assert_eq!(parse_range("bytes=0-0", 0), None);
    }
}
