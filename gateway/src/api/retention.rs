//! `/api/v1/retention/plan` and `/api/v1/retention/apply` (admin): the configured retention
//! rules as a dry run, and carried out. Both answer every decision — repository, digest, tags,
//! keep or delete, reason code, message — and `apply` also what it deleted and what failed.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::Admin;
use crate::app::AppState;
use crate::error::ApiResult;
use crate::retention;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/retention/plan", post(plan))
        .route("/retention/apply", post(apply))
}

async fn plan(State(app): State<AppState>, _: Admin) -> ApiResult<Response> {
    let now = crate::promotion::now();
    let plan = retention::plan_at(&app, now)?;
    Ok(axum::Json(retention::plan_json(&app, &plan, now)).into_response())
}

async fn apply(State(app): State<AppState>, Admin(p): Admin) -> ApiResult<Response> {
    let actor = p.name.clone();
    let report = retention::apply(&app, &actor).await?;
    tracing::info!(
        %actor,
        deleted = report.deleted.len(),
        failed = report.failures.len(),
        blobs_removed = report.blobs_removed,
        "retention applied"
    );
    Ok(axum::Json(retention::report_json(&app, &report)).into_response())
}
