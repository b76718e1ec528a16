//! The deployment's own record, kept on the promotion: the pre-deployment checklist people
//! confirm, notes taken during the window, and the outcome its owner reports (the signal the
//! delivery report's change-failure rate and time to restore use). Notes and outcomes are in
//! the audit log too.

use std::sync::Arc;

use serde::Deserialize;
use tollgate_policies::{Action, ApproverGroup, ReasonCode};
use tollgate_store::{
    ChecklistRecord, NoteRecord, Outcome, OutcomeRecord, PromotionRecord, PromotionState,
    StoreError,
};

use super::{RETRIES, audit_about, state_name};
use crate::app::{App, now_ms};
use crate::audit::DraftExt as _;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// `POST /api/v1/promotions/{id}/checklist`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistRequest {
    pub item: String,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /api/v1/promotions/{id}/notes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub text: String,
}

/// `POST /api/v1/promotions/{id}/outcome`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    pub outcome: String,
    #[serde(default)]
    pub comment: Option<String>,
}

const MAX_TEXT: usize = 4000;
/// Notes kept on one promotion; the audit log keeps every one regardless.
const MAX_NOTES: usize = 500;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, msg)
}

fn text(what: &str, s: &str) -> ApiResult<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(bad(format!("{what} is empty")));
    }
    if t.len() > MAX_TEXT {
        return Err(bad(format!("{what} is over {MAX_TEXT} bytes")));
    }
    Ok(t.to_string())
}

fn get(app: &App, id: &str) -> ApiResult<PromotionRecord> {
    app.store
        .get_promotion(id)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no promotion {id}")))
}

/// Reads, changes and writes the promotion until no other writer got in between. `change`
/// returns `None` when there is nothing to write (an idempotent repeat).
pub(super) fn update(
    app: &App,
    id: &str,
    mut change: impl FnMut(&PromotionRecord) -> ApiResult<Option<PromotionRecord>>,
) -> ApiResult<(PromotionRecord, bool)> {
    for _ in 0..RETRIES {
        let rec = get(app, id)?;
        let Some(next) = change(&rec)? else {
            return Ok((rec, false));
        };
        match app.store.update_promotion(&next) {
            Ok(saved) => return Ok((saved, true)),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!("promotion {id} keeps changing; try again"),
    ))
}

/// The owner, the requester, and anyone who may promote into, approve for or break glass in
/// the target repository take part in the deployment.
fn may_take_part(principal: &Principal, rec: &PromotionRecord) -> bool {
    let target = &rec.target_repository;
    rec.owner.as_deref() == Some(principal.name.as_str())
        || rec.requested_by == principal.name
        || principal.may(Action::Promote, target)
        || principal.may(Action::BreakGlass, target)
        || ApproverGroup::ALL
            .into_iter()
            .any(|g| principal.may(Action::Approve(g), target))
}

fn not_part(principal: &Principal, rec: &PromotionRecord, what: &str) -> ApiError {
    ApiError::denied(
        ReasonCode::RoleMissing,
        format!(
            "token {:?} may not {what} promotion {} (the owner, the requester, promoters and approvers of {} may)",
            principal.name, rec.id, rec.target_repository
        ),
    )
}

/// The checklist items the policy in force asks of this promotion: name and role.
pub fn checklist_items(app: &App, rec: &PromotionRecord) -> Vec<tollgate_policies::ChecklistItem> {
    let Some(loaded) = app.policy.current() else {
        return Vec::new();
    };
    let Some(env) = loaded.policy.environment(&rec.target_environment) else {
        return Vec::new();
    };
    let repo = super::schedule::policy_repository(app, &rec.target_repository);
    let mut items: Vec<tollgate_policies::ChecklistItem> = Vec::new();
    for set in env.applicable(&repo) {
        for it in set.checklist.iter().flat_map(|c| &c.items) {
            if !items.iter().any(|x| x.name == it.name) {
                items.push(it.clone());
            }
        }
    }
    items
}

/// `POST /api/v1/promotions/{id}/checklist`: confirms an item as a holder of its role, then
/// re-decides.
pub async fn confirm(
    app: &Arc<App>,
    principal: &Principal,
    id: &str,
    req: ChecklistRequest,
) -> ApiResult<PromotionRecord> {
    let comment = req
        .comment
        .as_deref()
        .map(|c| text("comment", c))
        .transpose()?;
    let rec = get(app, id)?;
    let items = checklist_items(app, &rec);
    let Some(item) = items.iter().find(|i| i.name == req.item) else {
        return Err(bad(if items.is_empty() {
            format!("the policy asks no checklist of promotion {id}")
        } else {
            format!(
                "item {:?} is not on the checklist of promotion {id}; items are {}",
                req.item,
                items
                    .iter()
                    .map(|i| format!("{} ({})", i.name, i.role))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }));
    };
    let held: Vec<ApproverGroup> = ApproverGroup::ALL
        .into_iter()
        .filter(|g| principal.may(Action::Approve(*g), &rec.target_repository))
        .collect();
    // Refused here so the person sees at once that their confirmation would not count; the
    // policy checks the recorded roles again at every decision.
    if !held.contains(&item.role) {
        return Err(ApiError::denied(
            ReasonCode::RoleMissing,
            format!(
                "{} is confirmed by a holder of approver({}) for {}; token {:?} holds {}",
                item.name,
                item.role,
                rec.target_repository,
                principal.name,
                if held.is_empty() {
                    "no approver role there".to_string()
                } else {
                    held.iter()
                        .map(|g| format!("approver({g})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ));
    }
    let (saved, changed) = update(app, id, |rec| {
        if !matches!(
            rec.state,
            PromotionState::Pending | PromotionState::Scheduled | PromotionState::Failed
        ) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "promotion {id} is {}; checklists are confirmed before a deployment",
                    state_name(rec.state)
                ),
            ));
        }
        if rec
            .checklist
            .iter()
            .any(|c| c.item == item.name && c.by == principal.name)
        {
            return Ok(None);
        }
        let mut next = rec.clone();
        next.checklist.push(ChecklistRecord {
            item: item.name.clone(),
            by: principal.name.clone(),
            roles: held.iter().map(|g| g.as_str().to_string()).collect(),
            comment: comment.clone(),
            at_ms: now_ms(),
        });
        next.updated_at_ms = now_ms();
        Ok(Some(next))
    })?;
    if changed {
        tracing::info!(promotion = %id, item = %item.name, by = %principal.name, "checklist item confirmed");
        app.audit(
            audit_about(&principal.name, "checklist-confirmed", &saved).details(
                serde_json::json!({
                    "item": item.name,
                    "role": item.role.as_str(),
                    "roles": held.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                    "comment": comment,
                }),
            ),
        )
        .await;
    }
    super::advance(app, principal, saved).await
}

/// `POST /api/v1/promotions/{id}/notes`: an observation during the deployment window.
pub async fn note(
    app: &App,
    principal: &Principal,
    id: &str,
    req: NoteRequest,
) -> ApiResult<PromotionRecord> {
    let body = text("text", &req.text)?;
    let (saved, _) = update(app, id, |rec| {
        if !may_take_part(principal, rec) {
            return Err(not_part(principal, rec, "add notes to"));
        }
        if rec.notes.len() >= MAX_NOTES {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("promotion {id} holds {MAX_NOTES} notes; the audit log has them all"),
            ));
        }
        let mut next = rec.clone();
        next.notes.push(NoteRecord {
            by: principal.name.clone(),
            text: body.clone(),
            at_ms: now_ms(),
        });
        // `updated_at` marks state changes (reports read a completion from it): notes leave
        // it alone.
        Ok(Some(next))
    })?;
    tracing::info!(promotion = %id, by = %principal.name, "note added");
    app.audit(
        audit_about(&principal.name, "promotion-note", &saved).details(serde_json::json!({
            "environment": saved.target_environment,
            "owner": saved.owner,
            "text": body,
        })),
    )
    .await;
    Ok(saved)
}

/// `POST /api/v1/promotions/{id}/outcome`: how the deployment went. It may be revised
/// (`succeeded`, later `failed`, then `rolled-back`); each change is audited.
pub async fn outcome(
    app: &App,
    principal: &Principal,
    id: &str,
    req: OutcomeRequest,
) -> ApiResult<PromotionRecord> {
    let outcome = Outcome::parse(&req.outcome).ok_or_else(|| {
        bad(format!(
            "outcome {:?}: expected succeeded, failed or rolled-back",
            req.outcome
        ))
    })?;
    let comment = req
        .comment
        .as_deref()
        .map(|c| text("comment", c))
        .transpose()?;
    let mut previous = None;
    let (saved, changed) = update(app, id, |rec| {
        if !may_take_part(principal, rec) {
            return Err(not_part(principal, rec, "report the outcome of"));
        }
        if rec.state != PromotionState::Promoted {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "promotion {id} is {}; an outcome is reported for a completed deployment",
                    state_name(rec.state)
                ),
            ));
        }
        if rec.outcome.as_ref().is_some_and(|o| o.outcome == outcome) {
            return Ok(None);
        }
        previous = rec.outcome.as_ref().map(|o| o.outcome);
        let mut next = rec.clone();
        next.outcome = Some(OutcomeRecord {
            outcome,
            by: principal.name.clone(),
            comment: comment.clone(),
            at_ms: now_ms(),
        });
        Ok(Some(next))
    })?;
    if changed {
        tracing::info!(promotion = %id, outcome = outcome.as_str(), by = %principal.name, "deployment outcome");
        app.audit(
            audit_about(&principal.name, "promotion-outcome", &saved).details(serde_json::json!({
                "outcome": outcome.as_str(),
                "previous": previous.map(Outcome::as_str),
                "environment": saved.target_environment,
                "owner": saved.owner,
                "comment": comment,
            })),
        )
        .await;
    }
    Ok(saved)
}

/// `POST /api/v1/promotions/{id}/rejections`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionRequest {
    pub group: String,
    /// Why: required, since the requester has to act on it.
    pub comment: String,
}

/// `POST /api/v1/promotions/{id}/rejections`: an approver turns a pending promotion down. It
/// is denied, final like any denial, with `approval-rejected` added to its decision.
pub async fn reject(
    app: &App,
    principal: &Principal,
    id: &str,
    req: RejectionRequest,
) -> ApiResult<PromotionRecord> {
    let group = ApproverGroup::parse(&req.group).ok_or_else(|| {
        bad(format!(
            "group {:?} is not one of dev, ops, security, business",
            req.group
        ))
    })?;
    let comment = text("comment", &req.comment)?;
    let (saved, _) = update(app, id, |rec| {
        if !principal.may(Action::Approve(group), &rec.target_repository) {
            return Err(ApiError::denied(
                ReasonCode::RoleMissing,
                format!(
                    "token {:?} may not reject for {group} in {} (needs approver({group}))",
                    principal.name, rec.target_repository
                ),
            ));
        }
        if !matches!(
            rec.state,
            PromotionState::Pending | PromotionState::Scheduled
        ) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "promotion {id} is {}; only pending or scheduled promotions can be rejected",
                    state_name(rec.state)
                ),
            ));
        }
        let mut next = rec.clone();
        next.state = PromotionState::Denied;
        next.updated_at_ms = now_ms();
        let d = &mut next.decision;
        d["verdict"] = serde_json::json!("deny");
        let code = ReasonCode::ApprovalRejected.as_str();
        match d["reasons"].as_array_mut() {
            Some(r) => r.push(serde_json::json!(code)),
            None => d["reasons"] = serde_json::json!([code]),
        }
        let outcome = serde_json::json!({
            "rule": "approvals",
            "kind": "approvals",
            "status": "fail",
            "reason": code,
            "message": format!("rejected by {} for {group}: {comment}", principal.name),
        });
        match d["rules"].as_array_mut() {
            Some(r) => r.push(outcome),
            None => d["rules"] = serde_json::json!([outcome]),
        }
        Ok(Some(next))
    })?;
    tracing::info!(promotion = %id, by = %principal.name, %group, "promotion rejected");
    app.metrics.promotion(&saved.target_environment, "denied");
    app.audit(
        audit_about(&principal.name, "promotion-rejected", &saved).details(serde_json::json!({
            "group": group.as_str(),
            "comment": comment,
            "reason": ReasonCode::ApprovalRejected.as_str(),
        })),
    )
    .await;
    Ok(saved)
}
