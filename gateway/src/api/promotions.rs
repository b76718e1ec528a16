//! `/api/v1/promotions`, `/api/v1/policy` and `/api/v1/holds`: asking for promotions,
//! approving them, closing post-mortems, reading the policy in force and managing legal holds.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_store::{
    HoldRecord, PromotionFilter, PromotionRecord, PromotionState, VerificationRecord,
};

use super::{Admin, Body, Caller, Shape, rfc3339};
use crate::app::{AppState, now_ms};
use crate::audit::DraftExt as _;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::promotion::bundles::{self, BundlePromotionRequest, BundleRequest};
use crate::promotion::release_log::{
    self, ChecklistRequest, NoteRequest, OutcomeRequest, RejectionRequest,
};
use crate::promotion::verification::{self, VerificationRequest};
use crate::promotion::{self, ApprovalRequest, PromotionRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/promotions", get(list).post(create))
        .route("/promotions/{id}", get(show).delete(cancel))
        .route("/promotions/{id}/cancel", post(cancel))
        .route("/promotions/{id}/approvals", post(approve))
        .route("/promotions/{id}/postmortem", post(postmortem))
        .route("/promotions/{id}/rejections", post(reject))
        .route("/promotions/{id}/checklist", post(checklist))
        .route("/promotions/{id}/notes", post(notes))
        .route("/promotions/{id}/outcome", post(outcome))
        .route(
            "/artifacts/{digest}/verifications",
            get(list_verifications).post(post_verification),
        )
        .route("/bundles", get(list_bundles).post(create_bundle))
        .route("/bundles/{id}", get(show_bundle))
        .route("/bundles/{id}/promotions", post(promote_bundle))
        .route("/bundles/{id}/promotions/{env}", get(bundle_status))
        .route("/policy", get(policy))
        .route("/holds", get(list_holds).post(create_hold))
        .route("/holds/{id}", delete(delete_hold))
}

impl Shape for ChecklistRequest {
    const SHAPE: &'static str = r#"{"item": "backup-validated", "comment"?}"#;
}

impl Shape for RejectionRequest {
    const SHAPE: &'static str = r#"{"group": "security|ops|dev|business", "comment": "why"}"#;
}

impl Shape for NoteRequest {
    const SHAPE: &'static str = r#"{"text": "…"}"#;
}

impl Shape for OutcomeRequest {
    const SHAPE: &'static str = r#"{"outcome": "succeeded|failed|rolled-back", "comment"?}"#;
}

impl Shape for PromotionRequest {
    const SHAPE: &'static str = r#"{"artifact": "sha256:…|repo:tag", "to": "ENV", "change_request"?, "justification"?, "emergency"?, "rollback"?, "tag"?, "owner"?, "at"?: "RFC 3339"}"#;
}

impl Shape for ApprovalRequest {
    const SHAPE: &'static str = r#"{"group": "security|ops|dev|business", "comment"?}"#;
}

impl Shape for PostmortemRequest {
    const SHAPE: &'static str = r#"{"link": "https://…"}"#;
}

impl Shape for HoldRequest {
    const SHAPE: &'static str =
        r#"{"digest": "sha256:…" | "repositories": "PATTERN", "reason": "…"}"#;
}

impl Shape for BundleRequest {
    const SHAPE: &'static str =
        r#"{"name": "…", "version": "…", "artifacts": ["repo:tag" | "repo@sha256:…", …]}"#;
}

impl Shape for BundlePromotionRequest {
    const SHAPE: &'static str =
        r#"{"to": "ENV", "change_request"?, "justification"?, "emergency"?, "rollback"?}"#;
}

/// A JSON body, with a clear 400 in our own format when it does not fit.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], shape: &str) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("expected {shape}: {e}")))
}

pub fn promotion_json(p: &PromotionRecord) -> Value {
    json!({
        "id": p.id,
        "state": p.state,
        "artifact": p.artifact,
        "source_repository": p.source_repository,
        "environment": p.target_environment,
        "target_repository": p.target_repository,
        "tag": p.tag,
        "path": p.path,
        "requested_by": p.requested_by,
        "change_request": p.change_request,
        "justification": p.justification,
        "emergency": p.emergency,
        "rollback": p.rollback,
        "bundle": p.bundle,
        "decision": p.decision,
        "approvals": p.approvals.iter().map(|a| json!({
            "by": a.by, "group": a.group, "comment": a.comment, "at": rfc3339(a.at_ms),
        })).collect::<Vec<_>>(),
        "postmortem": p.postmortem.as_ref().map(|m| json!({
            "required": true,
            "open": m.closed_at_ms.is_none(),
            "opened_at": rfc3339(m.opened_at_ms),
            "link": m.link,
            "closed_by": m.closed_by,
            "closed_at": m.closed_at_ms.map(rfc3339),
        })),
        "error": p.error,
        "created_at": rfc3339(p.created_at_ms),
        "updated_at": rfc3339(p.updated_at_ms),
        "owner": p.owner.as_deref().unwrap_or(&p.requested_by),
        "checklist": p.checklist.iter().map(|c| json!({
            "item": c.item, "by": c.by, "roles": c.roles, "comment": c.comment, "at": rfc3339(c.at_ms),
        })).collect::<Vec<_>>(),
        "notes": p.notes.iter().map(|n| json!({
            "by": n.by, "text": n.text, "at": rfc3339(n.at_ms),
        })).collect::<Vec<_>>(),
        "outcome": p.outcome.as_ref().map(|o| json!({
            "outcome": o.outcome.as_str(), "by": o.by, "comment": o.comment, "at": rfc3339(o.at_ms),
        })),
        "scheduled_for": p.scheduled_for_ms.map(rfc3339),
        // Not decided yet: why, in the reason-code vocabulary.
        "reason": (p.state == PromotionState::Scheduled)
            .then_some(tollgate_policies::ReasonCode::PromotionScheduled),
        "cancelled_by": p.cancelled_by,
    })
}

pub fn verification_json(v: &VerificationRecord) -> Value {
    json!({
        "id": v.id,
        "artifact": v.artifact,
        "environment": v.environment,
        "kind": v.kind,
        "result": v.result.as_str(),
        "metrics": v.metrics,
        "signed": v.signer.is_some(),
        "signer": v.signer,
        "predicate_type": v.predicate_type,
        "url": v.url,
        "details": v.details,
        "recorded_by": v.recorded_by,
        "at": rfc3339(v.at_ms),
    })
}

async fn checklist(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<ChecklistRequest>,
) -> ApiResult<Response> {
    let rec = release_log::confirm(&app, &p, &id, req).await?;
    Ok(axum::Json(promotion_json(&rec)).into_response())
}

async fn reject(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<RejectionRequest>,
) -> ApiResult<Response> {
    let rec = release_log::reject(&app, &p, &id, req).await?;
    Ok(axum::Json(promotion_json(&rec)).into_response())
}

async fn notes(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<NoteRequest>,
) -> ApiResult<Response> {
    let rec = release_log::note(&app, &p, &id, req).await?;
    Ok((StatusCode::CREATED, axum::Json(promotion_json(&rec))).into_response())
}

async fn outcome(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<OutcomeRequest>,
) -> ApiResult<Response> {
    let rec = release_log::outcome(&app, &p, &id, req).await?;
    Ok(axum::Json(promotion_json(&rec)).into_response())
}

async fn post_verification(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(digest): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult<Response> {
    let d = crate::oci::parse_digest(&digest)?;
    if bytes.len() > 4 * 1024 * 1024 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "verification results are limited to 4 MiB",
        ));
    }
    let req: VerificationRequest = body(
        &bytes,
        r#"{"environment": "ENV", "kind": "smoke-test", "result"?: "passed|warned|failed", "metrics"?, "url"?, "details"?, "attestation"?: DSSE envelope or Sigstore bundle}"#,
    )?;
    let (rec, redecided) = verification::record(&app, &p, &d, req).await?;
    let mut out = verification_json(&rec);
    out["promotions"] = redecided.iter().map(promotion_json).collect();
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[derive(Deserialize)]
struct VerificationQuery {
    environment: Option<String>,
}

async fn list_verifications(
    State(app): State<AppState>,
    _: Caller,
    Path(digest): Path<String>,
    Query(q): Query<VerificationQuery>,
) -> ApiResult<Response> {
    let d = crate::oci::parse_digest(&digest)?;
    let list = app.store.verifications(&d, q.environment.as_deref())?;
    Ok(axum::Json(json!({
        "artifact": d,
        "verifications": list.iter().map(verification_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn create(
    State(app): State<AppState>,
    Caller(p): Caller,
    Body(req): Body<PromotionRequest>,
) -> ApiResult<Response> {
    let (rec, new) = promotion::request(&app, &p, req).await?;
    let status = if new && rec.state == PromotionState::Scheduled {
        StatusCode::ACCEPTED
    } else if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(promotion_json(&rec))).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    artifact: Option<String>,
    environment: Option<String>,
    state: Option<String>,
    postmortem: Option<String>,
    limit: Option<usize>,
}

async fn list(
    State(app): State<AppState>,
    _: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<PromotionState>(json!(s)).map_err(|_| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("state {s:?} is not one of pending, denied, copying, promoted, failed, scheduled, cancelled"),
                )
            })?,
        ),
    };
    let filter = PromotionFilter {
        artifact: q
            .artifact
            .as_deref()
            .map(crate::oci::parse_digest)
            .transpose()?,
        environment: q.environment,
        state,
        bundle: None,
        open_postmortems: q.postmortem.as_deref() == Some("open"),
    };
    let recs = app
        .store
        .list_promotions(&filter, q.limit.unwrap_or(100).min(1000))?;
    Ok(axum::Json(json!({
        "promotions": recs.iter().map(promotion_json).collect::<Vec<_>>()
    }))
    .into_response())
}

async fn show(
    State(app): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let rec = app
        .store
        .get_promotion(&id)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no promotion {id}")))?;
    Ok(axum::Json(promotion_json(&rec)).into_response())
}

async fn approve(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<ApprovalRequest>,
) -> ApiResult<Response> {
    let rec = promotion::approve(&app, &p, &id, req).await?;
    Ok(axum::Json(promotion_json(&rec)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostmortemRequest {
    link: String,
}

async fn postmortem(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<PostmortemRequest>,
) -> ApiResult<Response> {
    let rec = promotion::close_postmortem(&app, &p, &id, &req.link)?;
    Ok(axum::Json(promotion_json(&rec)).into_response())
}

/// The policy in force: its digest and files, and the latest load attempts.
async fn policy(State(app): State<AppState>, _: Caller) -> ApiResult<Response> {
    let loads = app.store.policy_loads(20)?;
    let current = app.policy.current().map(|c| {
        json!({
            "digest": c.policy.digest(),
            "files": c.policy.files(),
            "environments": c.policy.environments().collect::<Vec<_>>(),
            "loaded_at": rfc3339(c.loaded_at_ms),
        })
    });
    Ok(axum::Json(json!({
        "configured": app.config.policy.as_ref().map(|p| p.dir.display().to_string()),
        "current": current,
        "loads": loads.iter().map(|l| json!({
            "at": rfc3339(l.at_ms),
            "digest": l.digest,
            "applied": l.applied,
            "trigger": l.trigger,
            "errors": l.errors,
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}

fn hold_json(h: &HoldRecord) -> Value {
    json!({
        "id": h.id,
        "digest": h.digest,
        "repositories": h.repositories,
        "reason": h.reason,
        "created_by": h.created_by,
        "created_at": rfc3339(h.created_at_ms),
    })
}

async fn list_holds(State(app): State<AppState>, _: Caller) -> ApiResult<Response> {
    let holds = app.store.holds()?;
    Ok(
        axum::Json(json!({ "holds": holds.iter().map(hold_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldRequest {
    digest: Option<String>,
    repositories: Option<String>,
    reason: String,
}

async fn create_hold(
    State(app): State<AppState>,
    Admin(p): Admin,
    Body(req): Body<HoldRequest>,
) -> ApiResult<Response> {
    if req.digest.is_some() == req.repositories.is_some() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "a hold covers either one digest or a repository pattern",
        ));
    }
    if req.reason.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "a hold needs a reason",
        ));
    }
    let hold = HoldRecord {
        id: String::new(),
        digest: req
            .digest
            .as_deref()
            .map(crate::oci::parse_digest)
            .transpose()?,
        repositories: req.repositories,
        reason: req.reason,
        created_by: p.name.clone(),
        created_at_ms: now_ms(),
    };
    let saved = app.store.put_hold(&hold)?;
    tracing::info!(hold = %saved.id, digest = ?saved.digest, repositories = ?saved.repositories, by = %saved.created_by, "legal hold placed");
    let mut d = crate::audit::draft(&saved.created_by, "hold-placed")
        .decision(&saved.id)
        .details(json!({ "repositories": saved.repositories, "reason": saved.reason }));
    d.digest = saved.digest.clone();
    app.audit(d).await;
    Ok((StatusCode::CREATED, axum::Json(hold_json(&saved))).into_response())
}

async fn delete_hold(
    State(app): State<AppState>,
    Admin(p): Admin,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if !app.store.delete_hold(&id)? {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no hold {id}")));
    }
    let actor = p.name.clone();
    tracing::info!(hold = %id, by = %actor, "legal hold lifted");
    app.audit(crate::audit::draft(&actor, "hold-lifted").decision(&id))
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create_bundle(
    State(app): State<AppState>,
    Caller(p): Caller,
    Body(req): Body<BundleRequest>,
) -> ApiResult<Response> {
    let (b, new) = bundles::create(&app, &p, req)?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(bundles::bundle_json(&b))).into_response())
}

async fn list_bundles(State(app): State<AppState>, _: Caller) -> ApiResult<Response> {
    let all = app.store.list_bundles()?;
    Ok(
        axum::Json(json!({ "bundles": all.iter().map(bundles::bundle_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn show_bundle(
    State(app): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let b = app
        .store
        .get_bundle(&id)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no bundle {id}")))?;
    Ok(axum::Json(bundles::bundle_json(&b)).into_response())
}

async fn promote_bundle(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<BundlePromotionRequest>,
) -> ApiResult<Response> {
    let (summary, new) = bundles::promote(&app, &p, &id, req).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(summary)).into_response())
}

async fn bundle_status(
    State(app): State<AppState>,
    _: Caller,
    Path((id, env)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(axum::Json(bundles::summary(&app, &id, &env)?).into_response())
}

/// `DELETE /api/v1/promotions/{id}` (or `POST …/cancel`): withdraws a scheduled or pending
/// promotion.
async fn cancel(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let rec = promotion::schedule::cancel(&app, &p, &id).await?;
    Ok(axum::Json(promotion_json(&rec)).into_response())
}
