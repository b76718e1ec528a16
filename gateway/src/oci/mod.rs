//! The OCI Distribution front (`/v2/…`): one route whose tail is parsed by the spec grammar,
//! dispatched to manifest, blob, upload and discovery handlers.

pub(crate) mod blobs;
mod discovery;
pub(crate) mod manifests;
pub mod path;
pub mod uploads;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde_json::json;
use tollgate_attest::Digest;
use tollgate_policies::{Action, RepoName};

use crate::app::{App, AppState};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorCode};
use path::OciPath;

/// What every handler gets: the gateway, the caller, and the parsed request.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub principal: Option<Arc<Principal>>,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl Ctx<'_> {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn authorize(&self, action: Action, repo: &RepoName) -> ApiResult<()> {
        self.app
            .auth
            .authorize(self.principal.as_deref(), action, repo)
    }

    /// The actor recorded for what this request changes.
    pub fn actor(&self) -> String {
        self.principal
            .as_ref()
            .map_or_else(|| "anonymous".to_string(), |p| p.name.clone())
    }
}

pub async fn dispatch(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match route(&app, method, &uri, headers, body).await {
        Ok(r) => r,
        Err(e) => {
            if (e.code == ErrorCode::Denied || e.code == ErrorCode::Unsupported)
                && let Some(reason) = e
                    .detail
                    .as_ref()
                    .and_then(|d| d.get("reason"))
                    .and_then(|r| r.as_str())
            {
                let kind: &'static str = tollgate_policies::ReasonCode::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .find(|c| *c == reason)
                    .unwrap_or("other");
                app.metrics
                    .denials
                    .get_or_create(&crate::metrics::KindLabels { kind })
                    .inc();
                tracing::info!(reason = kind, message = %e.message, "request denied");
            }
            e.into_response()
        }
    }
}

pub fn parse_name(name: &str) -> ApiResult<RepoName> {
    name.parse().map_err(|e: tollgate_policies::NameError| {
        ApiError::new(ErrorCode::NameInvalid, e.to_string())
    })
}

pub fn parse_digest(d: &str) -> ApiResult<Digest> {
    d.parse().map_err(|e: tollgate_attest::DigestError| {
        ApiError::new(ErrorCode::DigestInvalid, e.to_string())
    })
}

async fn route(
    app: &App,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let rest = uri.path().strip_prefix("/v2").unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let parsed = path::parse(rest);
    let principal = app.auth.authenticate(&headers)?;
    let query = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let ctx = Ctx {
        app,
        principal,
        method,
        headers,
        query,
    };
    let m = ctx.method.clone();
    match parsed {
        OciPath::Base => {
            if ctx.principal.is_none() && !app.config.anonymous_pull {
                return Err(crate::auth::unauthorized("authentication required"));
            }
            Ok(([(header::CONTENT_TYPE, "application/json")], "{}").into_response())
        }
        OciPath::Token => token(&ctx),
        OciPath::Manifest { name, reference } => {
            let repo = parse_name(name)?;
            match m {
                Method::GET | Method::HEAD => manifests::get(&ctx, &repo, reference).await,
                Method::PUT => manifests::put(&ctx, &repo, reference, body).await,
                Method::DELETE => manifests::delete(&ctx, &repo, reference).await,
                _ => Err(unsupported(&m)),
            }
        }
        OciPath::Blob { name, digest } => {
            let repo = parse_name(name)?;
            match m {
                Method::GET | Method::HEAD => blobs::get(&ctx, &repo, digest).await,
                Method::DELETE => blobs::delete(&ctx, &repo, digest).await,
                _ => Err(unsupported(&m)),
            }
        }
        OciPath::UploadStart { name } => {
            let repo = parse_name(name)?;
            match m {
                Method::POST => uploads::start(&ctx, &repo, body).await,
                _ => Err(unsupported(&m)),
            }
        }
        OciPath::Upload { name, id } => {
            let repo = parse_name(name)?;
            match m {
                Method::GET => uploads::status(&ctx, &repo, id).await,
                Method::PATCH => uploads::patch(&ctx, &repo, id, body).await,
                Method::PUT => uploads::finish(&ctx, &repo, id, body).await,
                Method::DELETE => uploads::cancel(&ctx, &repo, id).await,
                _ => Err(unsupported(&m)),
            }
        }
        OciPath::Tags { name } => {
            let repo = parse_name(name)?;
            match m {
                Method::GET => discovery::tags(&ctx, &repo).await,
                _ => Err(unsupported(&m)),
            }
        }
        OciPath::Referrers { name, digest } => {
            let repo = parse_name(name)?;
            match m {
                Method::GET => discovery::referrers(&ctx, &repo, digest),
                _ => Err(unsupported(&m)),
            }
        }
        OciPath::Unknown => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no OCI route for {}", uri.path()),
        )),
    }
}

fn unsupported(m: &Method) -> ApiError {
    ApiError::new(
        ErrorCode::Unsupported,
        format!("method {m} is not supported here"),
    )
}

/// The registry token endpoint (`/v2/token`): clients following the Bearer challenge present
/// their API token as a Basic password and get it back as a bearer token.
fn token(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let Some(p) = ctx.principal.as_ref() else {
        return Err(crate::auth::unauthorized(
            "present your API token as the Basic password",
        ));
    };
    let secret = crate::auth::presented_secret(&ctx.headers)
        .ok_or_else(|| crate::auth::unauthorized("no credentials"))?;
    tracing::debug!(actor = %p.name, "token issued");
    let body = json!({
        "token": secret,
        "access_token": secret,
        "expires_in": 3600,
        "issued_at": crate::api::rfc3339(crate::app::now_ms()),
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response())
}

/// Requires the upstream to have answered 200: a 404 becomes `not_found`, anything else a 502
/// naming `what`.
pub fn upstream_found(
    status: StatusCode,
    not_found: impl FnOnce() -> ApiError,
    what: &str,
) -> ApiResult<()> {
    match status {
        StatusCode::OK => Ok(()),
        StatusCode::NOT_FOUND => Err(not_found()),
        s => Err(ApiError::new(
            ErrorCode::UpstreamInvalid,
            format!("upstream answered {s} for {what}"),
        )),
    }
}

/// A bodiless response with the given headers.
pub fn empty(status: StatusCode, headers: &[(&'static str, String)]) -> Response {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            r = r.header(*k, v);
        }
    }
    r.header(header::CONTENT_LENGTH, "0")
        .body(Body::empty())
        .unwrap_or_else(|_| status.into_response())
}
