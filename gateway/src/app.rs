//! The running gateway: shared state, the router, and the middleware that observes every
//! request (metrics, logs, authentication challenges).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{StatusCode, header};
use tollgate_store::{FsBlobs, Store};

use crate::auth::{self, Auth};
use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::{Metrics, RequestLabels, RouteLabels};
use crate::oci::uploads::Uploads;
use crate::upstream::Upstream;
use crate::{api, oci};

/// Where blob bytes live.
#[derive(Debug)]
pub enum Backend {
    /// Content-addressed files under the data directory.
    Embedded(FsBlobs),
    /// Streamed to and from an upstream registry.
    Upstream(Box<Upstream>),
}

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Auth,
    pub backend: Backend,
    pub metrics: Arc<Metrics>,
    pub uploads: Uploads,
    /// The promotion policy in force.
    pub policy: crate::policy_state::PolicyState,
    /// The latest admission refusals.
    pub admission_denials: crate::admission::Denials,
    /// Upstream mode: local copies of promoted blobs (None when off).
    pub blob_cache: Option<crate::blob_cache::BlobCache>,
    /// The append-only audit log.
    pub audit: Arc<crate::audit::Audit>,
    /// Raw and Maven repositories: local content and upstream clients.
    pub files: crate::repositories::Files,
}

pub type AppState = Arc<App>;

impl App {
    /// Records an audit entry and waits until it is durable. A failure is logged loudly; the
    /// action it records has already happened and cannot be taken back.
    pub async fn audit(&self, draft: tollgate_store::AuditDraft) {
        let action = draft.action.clone();
        if let Err(e) = self.audit.record(draft).await {
            tracing::error!(action, error = %e, "audit entry not recorded");
        }
    }

    /// Records an audit entry without waiting (pull and admission refusals).
    pub fn audit_later(&self, draft: tollgate_store::AuditDraft) {
        self.audit.record_later(draft);
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        + clock_offset_ms()
}

/// Debug builds only: `TOLLGATE_CLOCK_OFFSET_SECS` moves the gateway's clock, so end-to-end
/// tests can reach retention periods and deployment windows without sleeping. Release builds
/// ignore it: production time is never adjustable from the environment.
fn clock_offset_ms() -> i64 {
    #[cfg(debug_assertions)]
    {
        static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        *OFFSET.get_or_init(|| {
            std::env::var("TOLLGATE_CLOCK_OFFSET_SECS")
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
                .map_or(0, |s| s.saturating_mul(1000))
        })
    }
    #[cfg(not(debug_assertions))]
    {
        0
    }
}

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/v2", any(oci::dispatch))
        .route("/v2/", any(oci::dispatch))
        .route("/v2/{*rest}", any(oci::dispatch))
        .route("/repository/{*rest}", any(crate::repositories::nexus))
        .route(
            "/artifactory/{*rest}",
            any(crate::repositories::artifactory),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api::router())
        .merge(crate::admission::router())
        .merge(crate::ui::router(Arc::clone(&app)))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .layer(middleware::from_fn_with_state(Arc::clone(&app), observe))
        .with_state(app)
}

async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
}

/// Ready when the store answers and, in upstream mode, the upstream answers `/v2/` at all.
async fn ready(State(app): State<AppState>) -> Response {
    if let Err(e) = app
        .store
        .list_tags(&"readyz/probe".parse().expect("valid name"), None, 1)
    {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response();
    }
    if let Backend::Upstream(up) = &app.backend {
        let r = up
            .send(
                http::Method::GET,
                "/v2/",
                http::HeaderMap::new(),
                crate::upstream::ReqBody::Empty,
                "registry:catalog:*",
            )
            .await;
        match r {
            Ok(resp) if resp.status().is_success() || resp.status() == StatusCode::UNAUTHORIZED => {
            }
            Ok(resp) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("upstream answered {}\n", resp.status()),
                )
                    .into_response();
            }
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
        }
    }
    (StatusCode::OK, "ready\n").into_response()
}

async fn observe(State(app): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let start = Instant::now();
    let route = oci::path::route_class(req.uri().path());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let mut resp = next.run(req).await;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED && !resp.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        auth::add_challenge(&mut resp, host.as_deref());
    }
    if route.starts_with("oci") {
        resp.headers_mut().insert(
            "docker-distribution-api-version",
            http::HeaderValue::from_static("registry/2.0"),
        );
    }
    let elapsed = start.elapsed();
    app.metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method: method.to_string(),
            status: status.as_u16(),
        })
        .inc();
    app.metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), ?elapsed, "request failed");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), ?elapsed, "request");
    }
    resp
}
