//! Release bundles: several artifacts promoted as one. Every member is decided on its own
//! facts, and the bundle moves only when every member is allowed; one denial denies them all
//! and one missing approval keeps them all pending. Members are copied first and recorded as
//! promoted together, in one store transaction, so an environment never holds half a release.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_policies::{Action, ReasonCode, Reference, RepoName, Verdict};
use tollgate_store::{
    BundleMember, BundleRecord, Opened, PromotedEntry, PromotionFilter, PromotionRecord,
    PromotionState, StoreError,
};

use super::{PromotionRequest, RETRIES, bad, copy, decide, draft, resolve, split_reference};
use crate::app::{App, now_ms};
use crate::audit::DraftExt as _;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// `POST /api/v1/bundles`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRequest {
    pub name: String,
    pub version: String,
    /// `repo:tag` or `repo@sha256:…`, each.
    pub artifacts: Vec<String>,
}

/// `POST /api/v1/bundles/{id}/promotions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePromotionRequest {
    pub to: String,
    #[serde(default)]
    pub change_request: Option<String>,
    #[serde(default)]
    pub justification: Option<String>,
    #[serde(default)]
    pub emergency: bool,
    #[serde(default)]
    pub rollback: bool,
    /// Who owns the deployment (default: the requester).
    #[serde(default)]
    pub owner: Option<String>,
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

/// Records a bundle. The same name@version again is fine when its members are the same, and a
/// conflict otherwise: a released bundle never changes.
pub fn create(
    app: &App,
    principal: &Principal,
    req: BundleRequest,
) -> ApiResult<(BundleRecord, bool)> {
    if !valid_part(&req.name) || !valid_part(&req.version) {
        return Err(bad(
            "bundle name and version must be 1-128 characters of letters, digits, '.', '_', '-', '+'",
        ));
    }
    if req.artifacts.is_empty() {
        return Err(bad("a bundle needs at least one artifact"));
    }
    let mut members: Vec<BundleMember> = Vec::new();
    for a in &req.artifacts {
        let (repo, reference) = split_reference(a)?;
        if !principal.may(Action::Promote, &repo) && !principal.may(Action::Push, &repo) {
            return Err(ApiError::denied(
                ReasonCode::RoleMissing,
                format!(
                    "token {:?} may neither push nor promote {repo}",
                    principal.name
                ),
            ));
        }
        let (digest, tag) = match reference {
            Reference::Digest(d) => (d, None),
            Reference::Tag(t) => {
                let d = app.store.resolve_tag(&repo, &t)?.ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ManifestUnknown,
                        format!("{repo}:{t} is not a known tag"),
                    )
                })?;
                (d, Some(t))
            }
        };
        if app.store.get_manifest(&repo, &digest)?.is_none() {
            return Err(ApiError::new(
                ErrorCode::ManifestUnknown,
                format!("{digest} is not in {repo}"),
            ));
        }
        if members.iter().any(|m| m.repository == repo) {
            return Err(bad(format!("{repo} appears twice in the bundle")));
        }
        members.push(BundleMember {
            digest,
            repository: repo,
            tag,
        });
    }
    let bundle = BundleRecord {
        id: format!("{}@{}", req.name, req.version),
        name: req.name,
        version: req.version,
        members,
        created_by: principal.name.clone(),
        created_at_ms: now_ms(),
    };
    let (saved, new) = app.store.put_bundle(&bundle)?;
    if !new && saved.members != bundle.members {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "bundle {} exists with other members; a bundle never changes",
                saved.id
            ),
        ));
    }
    if new {
        tracing::info!(bundle = %saved.id, members = saved.members.len(), by = %principal.name, "bundle recorded");
        app.audit_later(crate::audit::draft(&principal.name, "bundle-created").decision(&saved.id).details(
            json!({ "artifacts": saved.members.iter().map(|m| json!({"repository": m.repository, "digest": m.digest})).collect::<Vec<_>>() }),
        ));
    }
    Ok((saved, new))
}

pub fn bundle_json(b: &BundleRecord) -> Value {
    json!({
        "id": b.id,
        "name": b.name,
        "version": b.version,
        "artifacts": b.members.iter().map(|m| json!({
            "digest": m.digest, "repository": m.repository, "tag": m.tag,
        })).collect::<Vec<_>>(),
        "created_by": b.created_by,
        "created_at": crate::api::rfc3339(b.created_at_ms),
    })
}

/// The repository a member is promoted from, in the environment that promotes to `to`: the
/// member's own repository with its environment prefix swapped.
fn member_request(
    app: &App,
    m: &BundleMember,
    req: &BundlePromotionRequest,
) -> ApiResult<PromotionRequest> {
    let source_env = app
        .config
        .environments
        .iter()
        .find(|e| e.promotes_to.as_deref() == Some(req.to.as_str()));
    let named_env = super::environment_of(app, &m.repository);
    let artifact = match (source_env, named_env) {
        (Some(src), Some(named)) => {
            let suffix = &m.repository.as_str()[named.prefix.len()..];
            let repo: RepoName = format!("{}{suffix}", src.prefix)
                .parse()
                .map_err(|e| bad(format!("source repository: {e}")))?;
            format!("{repo}@{}", m.digest)
        }
        _ => m.digest.to_string(),
    };
    Ok(PromotionRequest {
        artifact,
        to: req.to.clone(),
        tag: m.tag.as_ref().map(ToString::to_string),
        change_request: req.change_request.clone(),
        justification: req.justification.clone(),
        emergency: req.emergency,
        rollback: req.rollback,
        owner: req.owner.clone(),
        at: None,
    })
}

/// `POST /api/v1/bundles/{id}/promotions`: opens one promotion per member and decides them as
/// one.
pub async fn promote(
    app: &Arc<App>,
    principal: &Principal,
    id: &str,
    req: BundlePromotionRequest,
) -> ApiResult<(Value, bool)> {
    let bundle = app
        .store
        .get_bundle(id)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no bundle {id}")))?;
    // Resolve every member before opening anything: a bad member leaves nothing behind.
    let mut routes = Vec::new();
    for m in &bundle.members {
        let r = member_request(app, m, &req)?;
        let route = resolve(app, &r)?;
        super::authorize_request(principal, &route.target_repo, req.emergency)?;
        routes.push((r, route));
    }
    let mut any_new = false;
    for (r, route) in &routes {
        let mut d = draft(principal, r, route);
        d.bundle = Some(bundle.id.clone());
        match app.store.open_promotion(&d)? {
            Opened::Created(p) => {
                any_new = true;
                app.audit(super::audit_requested(&principal.name, &p)).await;
            }
            Opened::Existing(p)
                if p.bundle.as_deref() != Some(bundle.id.as_str()) && p.state.is_open() =>
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "{} already has promotion {} to {} open outside this bundle",
                        p.artifact, p.id, p.target_environment
                    ),
                ));
            }
            Opened::Existing(_) => {}
        }
    }
    let summary = advance(app, principal, &bundle.id, &req.to).await?;
    Ok((summary, any_new))
}

/// The bundle's latest promotion of each member into `env`.
pub(super) fn members(app: &App, bundle: &str, env: &str) -> ApiResult<Vec<PromotionRecord>> {
    let all = app.store.list_promotions(
        &PromotionFilter {
            bundle: Some(bundle.to_string()),
            environment: Some(env.to_string()),
            ..PromotionFilter::default()
        },
        10_000,
    )?;
    let mut seen = BTreeSet::new();
    // Newest first: the first of each artifact is the current attempt.
    Ok(all
        .into_iter()
        .filter(|p| seen.insert(p.artifact.clone()))
        .collect())
}

/// The bundle's state in `env`, as the API shows it.
pub fn summary(app: &App, bundle: &str, env: &str) -> ApiResult<Value> {
    let ms = members(app, bundle, env)?;
    if ms.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("bundle {bundle} was never promoted to {env}"),
        ));
    }
    let state = if ms.iter().all(|p| p.state == PromotionState::Promoted) {
        "promoted"
    } else if ms.iter().any(|p| p.state == PromotionState::Denied) {
        "denied"
    } else if ms.iter().any(|p| p.state == PromotionState::Failed) {
        "failed"
    } else if ms.iter().any(|p| p.state == PromotionState::Pending) {
        "pending"
    } else {
        "copying"
    };
    let mut reasons: Vec<String> = Vec::new();
    for p in &ms {
        for r in p.decision["reasons"].as_array().into_iter().flatten() {
            if let Some(r) = r.as_str()
                && !reasons.iter().any(|x| x == r)
            {
                reasons.push(r.to_string());
            }
        }
    }
    Ok(json!({
        "bundle": bundle,
        "environment": env,
        "state": state,
        "reasons": reasons,
        "members": ms.iter().map(crate::api::promotions::promotion_json).collect::<Vec<_>>(),
    }))
}

/// Decides every open member and moves the bundle as one: all copied and recorded together,
/// or none.
pub async fn advance(
    app: &Arc<App>,
    actor: &Principal,
    bundle: &str,
    env: &str,
) -> ApiResult<Value> {
    for _ in 0..RETRIES {
        let ms = members(app, bundle, env)?;
        let open: Vec<&PromotionRecord> = ms
            .iter()
            .filter(|p| {
                matches!(
                    p.state,
                    PromotionState::Pending | PromotionState::Failed | PromotionState::Copying
                )
            })
            .collect();
        if open.is_empty() || ms.iter().any(|p| p.state == PromotionState::Denied) {
            return summary(app, bundle, env);
        }
        let mut decided = Vec::new();
        for p in &open {
            decided.push(decide(app, p)?);
        }
        let verdict = if decided.iter().any(|d| d.verdict == Verdict::Deny) {
            Verdict::Deny
        } else if decided.iter().any(|d| d.verdict == Verdict::Pending) {
            Verdict::Pending
        } else {
            Verdict::Allow
        };
        let denied_by: Vec<String> = open
            .iter()
            .zip(&decided)
            .filter(|(_, d)| d.verdict == Verdict::Deny)
            .map(|(p, _)| p.target_repository.to_string())
            .collect();
        let mut saved = Vec::new();
        let mut conflict = false;
        for (p, d) in open.iter().zip(&decided) {
            let mut next = super::with_decision(p, d, verdict)?;
            next.error = (verdict == Verdict::Deny && d.verdict != Verdict::Deny)
                .then(|| format!("bundle {bundle} denied: {} refused", denied_by.join(", ")));
            match app.store.update_promotion(&next) {
                Ok(s) => saved.push(s),
                Err(StoreError::Conflict(_)) => {
                    conflict = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if conflict {
            continue;
        }
        tracing::info!(%bundle, %env, verdict = ?verdict, members = saved.len(), actor = %actor.name, "bundle decided");
        for (p, d) in saved.iter().zip(&decided) {
            super::audit_decided(app, &actor.name, p, d).await;
        }
        if verdict != Verdict::Allow {
            return summary(app, bundle, env);
        }
        // Copy every member; only when all are there are they recorded, together.
        let mut failure = None;
        let mut contents = Vec::with_capacity(saved.len());
        for p in &saved {
            match copy::copy_artifact(
                app,
                &p.source_repository,
                &p.target_repository,
                &p.artifact,
                p.tag.as_ref(),
                &actor.name,
            )
            .await
            {
                Ok(report) => {
                    report.cache_blobs(app, &p.target_repository).await;
                    contents.push(report.contents);
                }
                Err(e) => {
                    failure = Some(format!("{}: {}", p.target_repository, e.message));
                    break;
                }
            }
        }
        if let Some(msg) = failure {
            for p in &saved {
                let mut f = p.clone();
                f.state = PromotionState::Failed;
                f.error = Some(format!("bundle copy failed at {msg}; retrying resumes it"));
                f.updated_at_ms = now_ms();
                app.store.update_promotion(&f)?;
            }
            tracing::warn!(%bundle, %env, error = %msg, "bundle copy failed; nothing recorded as promoted");
            return Err(ApiError::new(
                ErrorCode::UpstreamInvalid,
                format!("bundle {bundle}: copy failed at {msg}; nothing was promoted"),
            ));
        }
        let at = now_ms();
        let done: Vec<(PromotionRecord, PromotedEntry)> = saved
            .iter()
            .zip(contents)
            .map(|(p, contents)| {
                let mut d = p.clone();
                d.updated_at_ms = at;
                let e = PromotedEntry {
                    environment: p.target_environment.clone(),
                    repository: p.target_repository.clone(),
                    digest: p.artifact.clone(),
                    tag: p.tag.clone(),
                    promotion: p.id.clone(),
                    at_ms: at,
                    contents,
                };
                (d, e)
            })
            .collect();
        app.store.complete_promotions(&done)?;
        for p in &saved {
            app.metrics.promotion(&p.target_environment, "promoted");
            app.audit(
                super::audit_about(&actor.name, "promotion-completed", p).details(
                    json!({ "target": p.target_repository, "tag": p.tag, "bundle": bundle }),
                ),
            )
            .await;
        }
        tracing::info!(%bundle, %env, members = done.len(), "bundle promoted");
        return summary(app, bundle, env);
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!("bundle {bundle} keeps changing; try again"),
    ))
}
