//! Content discovery: tags lists and the referrers API, served from Tollgate's own index so
//! they work whether or not the upstream has a referrers API.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, header};
use serde_json::json;
use tollgate_policies::{Action, RepoName};

use super::Ctx;
use super::manifests::OCI_INDEX;
use crate::app::Backend;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::upstream::{ReqBody, scope};

/// The most tags one page returns when the client names no `n`.
const MAX_PAGE: usize = 1000;

pub async fn tags(ctx: &Ctx<'_>, repo: &RepoName) -> ApiResult<Response> {
    ctx.authorize(Action::Pull, repo)?;
    let n = match ctx.query("n") {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            ApiError::new(
                ErrorCode::PaginationNumberInvalid,
                format!("n={v:?} is not a non-negative integer"),
            )
        })?),
    };
    let last = ctx.query("last");
    let store = &ctx.app.store;
    if !store.repository_exists(repo)? {
        if let Backend::Upstream(up) = &ctx.app.backend {
            return tags_upstream(up, ctx, repo).await;
        }
        return Err(ApiError::new(
            ErrorCode::NameUnknown,
            format!("repository {repo} is not known"),
        ));
    }
    let limit = n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    // One more than asked tells whether a next page exists.
    let mut tags = store.list_tags(repo, last, limit + 1)?;
    let more = tags.len() > limit;
    tags.truncate(limit);
    let body = json!({ "name": repo.as_str(), "tags": tags });
    let mut resp = (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if more && let Some(t) = tags.last() {
        let link = format!("</v2/{repo}/tags/list?n={limit}&last={t}>; rel=\"next\"");
        if let Ok(v) = link.parse() {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}

/// A repository Tollgate has no record of: the upstream's own list, relayed as JSON.
async fn tags_upstream(
    up: &crate::upstream::Upstream,
    ctx: &Ctx<'_>,
    repo: &RepoName,
) -> ApiResult<Response> {
    let q = ctx
        .query
        .iter()
        .filter(|(k, _)| k == "n" || k == "last")
        .map(|(k, v)| {
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let target = if q.is_empty() {
        format!("/v2/{repo}/tags/list")
    } else {
        format!("/v2/{repo}/tags/list?{q}")
    };
    let resp = up
        .send(
            Method::GET,
            &target,
            HeaderMap::new(),
            ReqBody::Empty,
            &scope(repo.as_str(), false),
        )
        .await?;
    super::upstream_found(
        resp.status(),
        || {
            ApiError::new(
                ErrorCode::NameUnknown,
                format!("repository {repo} is not known"),
            )
        },
        "the tags list",
    )?;
    let body = up.read_small(resp.into_body(), 4 * 1024 * 1024).await?;
    let parsed: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::UpstreamInvalid,
            format!("upstream tags list: {e}"),
        )
    })?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        parsed.to_string(),
    )
        .into_response())
}

pub fn referrers(ctx: &Ctx<'_>, repo: &RepoName, digest: &str) -> ApiResult<Response> {
    ctx.authorize(Action::Pull, repo)?;
    let subject = super::parse_digest(digest)?;
    let filter = ctx.query("artifactType");
    let manifests: Vec<serde_json::Value> = ctx
        .app
        .store
        .referrers(repo, &subject)?
        .into_iter()
        .filter(|r| filter.is_none_or(|f| r.artifact_type.as_deref() == Some(f)))
        .map(|r| {
            let mut d = json!({ "mediaType": r.media_type, "digest": r.digest, "size": r.size });
            if let Some(t) = r.artifact_type {
                d["artifactType"] = json!(t);
            }
            if !r.annotations.is_empty() {
                d["annotations"] = json!(r.annotations);
            }
            d
        })
        .collect();
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut resp = ([(header::CONTENT_TYPE, OCI_INDEX)], body.to_string()).into_response();
    if filter.is_some() {
        resp.headers_mut().insert(
            "oci-filters-applied",
            http::HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}
