//! Retention: the configured rules (`[[retention.rules]]`) applied to what the store holds.
//!
//! [`plan_at`] gathers the facts — every repository's manifests with their tags, subjects and
//! index children, what each environment currently runs, the legal holds, the open promotions
//! — and hands them to the pure planner ([`tollgate_policies::retention::plan`]), which decides
//! keep or delete for every manifest of every covered repository with a reason code.
//!
//! [`apply`] carries a fresh plan out, one manifest at a time, in the planner's order: evidence
//! before its subject and an index before its children, so a failure midway never leaves
//! evidence of a deleted subject or an index naming a deleted child; whatever had to wait for a
//! failed deletion is not attempted. Each deletion goes through the same removal as the OCI
//! `DELETE` (`oci::manifests::remove_manifest`: upstream first in upstream mode, then
//! the record, tags, referrers entry and evidence verdicts), after checking once more that no
//! environment started running it, no hold appeared and its tags did not change since it was
//! planned. In embedded mode the blobs only deleted manifests used are unlinked from the
//! repository, and their files removed once no repository links them (like any registry garbage
//! collection running beside pushes, a push reusing such a blob at that very moment can be
//! refused with `MANIFEST_BLOB_UNKNOWN` and must upload it again). Running `apply` again deletes
//! nothing more: it is idempotent.
//!
//! [`spawn_schedule`] applies the rules every `[retention] interval_hours` while serving.

pub mod cli;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use tollgate_attest::Digest;
use tollgate_policies::chrono::{DateTime, Utc};
use tollgate_policies::retention::{
    self, HoldFacts, ManifestFacts, RepositoryFacts, RetentionAction, RetentionDecision,
    RetentionFacts, RetentionPlan, Running,
};
use tollgate_policies::{Pattern, RepoName};
use tollgate_store::{PromotionFilter, PromotionState};

use crate::api::rfc3339;
use crate::app::{App, Backend};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::oci::manifests::{is_index, parse_manifest, remove_manifest};

/// One `apply` at a time per process: the schedule and the API never interleave deletions.
static APPLYING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Open promotion states: the artifact is on its way somewhere.
const OPEN: [PromotionState; 4] = [
    PromotionState::Pending,
    PromotionState::Copying,
    PromotionState::Failed,
    PromotionState::Scheduled,
];

/// Everything retention decides over, read from the store.
pub fn gather(app: &App) -> ApiResult<RetentionFacts> {
    let rules = &app.config.retention.rules;
    let mut repositories = Vec::new();
    for repo in app.store.list_repositories()? {
        let covered = rules.iter().any(|r| r.repositories.matches(repo.as_str()));
        let mut manifests = Vec::new();
        for e in app.store.list_artifacts(&repo)? {
            let children = if covered && is_index(&e.record.media_type) {
                index_children(app, &repo, &e.record.digest)?
            } else {
                Vec::new()
            };
            manifests.push(ManifestFacts {
                digest: e.record.digest,
                tags: e.tags,
                subject: e.record.subject,
                children,
                pushed_at_ms: e.record.pushed_at_ms,
            });
        }
        repositories.push(RepositoryFacts {
            deletes_allowed: app.config.rule_for(&repo).allow_delete,
            repository: repo,
            manifests,
        });
    }
    let mut running: BTreeMap<Digest, Vec<Running>> = BTreeMap::new();
    for env in &app.config.environments {
        for e in app.store.current_all(&env.name)? {
            running.entry(e.digest).or_default().push(Running {
                environment: e.environment,
                repository: e.repository,
            });
        }
    }
    let holds = app
        .store
        .holds()?
        .into_iter()
        .map(|h| HoldFacts {
            id: h.id,
            digest: h.digest,
            repositories: h.repositories.as_deref().map(Pattern::new),
            reason: h.reason,
        })
        .collect();
    let mut open_promotions: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for state in OPEN {
        let filter = PromotionFilter {
            state: Some(state),
            ..Default::default()
        };
        for p in app.store.list_promotions(&filter, usize::MAX)? {
            open_promotions.entry(p.artifact).or_default().push(p.id);
        }
    }
    Ok(RetentionFacts {
        repositories,
        running,
        holds,
        open_promotions,
    })
}

/// The manifests an index lists; an index that cannot be read stops the plan rather than
/// letting its children be judged as loose manifests.
fn index_children(app: &App, repo: &RepoName, d: &Digest) -> ApiResult<Vec<Digest>> {
    let Some((rec, bytes)) = app.store.get_manifest(repo, d)? else {
        return Ok(Vec::new());
    };
    parse_manifest(&bytes, Some(&rec.media_type))
        .map(|p| p.children)
        .map_err(|e| {
            ApiError::internal(format!(
                "index {d} in {repo} cannot be read for retention: {}",
                e.message
            ))
        })
}

/// The plan as of `now`.
pub fn plan_at(app: &App, now: DateTime<Utc>) -> ApiResult<RetentionPlan> {
    let facts = gather(app)?;
    Ok(retention::plan(&app.config.retention.rules, &facts, now))
}

/// A deletion that did not happen.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub repository: RepoName,
    pub digest: Digest,
    pub error: String,
}

/// What `apply` did.
#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub now: DateTime<Utc>,
    pub plan: RetentionPlan,
    /// Indices into the plan's decisions, in the order they were deleted.
    pub deleted: Vec<usize>,
    pub failures: Vec<Failure>,
    /// Blob files removed (embedded mode) because nothing links them any more.
    pub blobs_removed: usize,
}

fn short(d: &Digest) -> String {
    let s = d.to_string();
    s.get(..19).map_or_else(|| s.clone(), str::to_string)
}

/// Why `d` must stay after all, if something changed since the plan was made (checked per
/// deletion with cheap reads: what runs, the holds, its tags).
fn changed_since_plan(app: &App, d: &RetentionDecision) -> ApiResult<Option<String>> {
    for p in app.store.promotions_of(&d.digest)? {
        if app
            .store
            .current(&p.environment, &p.repository)?
            .is_some_and(|c| c.digest == d.digest)
        {
            return Ok(Some(format!(
                "{} now runs it ({})",
                p.environment, p.repository
            )));
        }
    }
    for h in app.store.holds()? {
        let covers = h.digest.as_ref() == Some(&d.digest)
            || h.repositories
                .as_deref()
                .is_some_and(|p| Pattern::new(p).matches(d.repository.as_str()));
        if covers {
            return Ok(Some(format!("legal hold {} now covers it", h.id)));
        }
    }
    if app.store.get_manifest(&d.repository, &d.digest)?.is_some() {
        let mut now = app.store.tags_of(&d.repository, &d.digest)?;
        let mut planned = d.tags.clone();
        now.sort();
        planned.sort();
        if now != planned {
            return Ok(Some("its tags changed since the plan was made".into()));
        }
    }
    Ok(None)
}

/// Deletes one planned manifest; the blobs it used (for reclaiming in embedded mode).
async fn delete_one(app: &App, d: &RetentionDecision) -> ApiResult<Vec<Digest>> {
    if let Some(why) = changed_since_plan(app, d)? {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("kept after all: {why}"),
        ));
    }
    let blobs = match (
        &app.backend,
        app.store.get_manifest(&d.repository, &d.digest)?,
    ) {
        (Backend::Embedded(_), Some((rec, bytes))) => parse_manifest(&bytes, Some(&rec.media_type))
            .map(|p| p.blobs.into_iter().map(|(b, _)| b).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    remove_manifest(app, &d.repository, &d.digest).await?;
    Ok(blobs)
}

/// Applies the rules now: plans afresh and deletes what the plan says, in its order.
pub async fn apply(app: &App, actor: &str) -> ApiResult<ApplyReport> {
    let _one_at_a_time = APPLYING.lock().await;
    let now = crate::promotion::now();
    let plan = plan_at(app, now)?;
    let mut done = vec![false; plan.decisions.len()];
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    let mut freed: BTreeMap<RepoName, BTreeSet<Digest>> = BTreeMap::new();
    for &i in &plan.order {
        let d = &plan.decisions[i];
        if let Some(&first) = d.after.iter().find(|j| !done[**j]) {
            let f = &plan.decisions[first];
            failures.push(Failure {
                repository: d.repository.clone(),
                digest: d.digest.clone(),
                error: format!(
                    "not attempted: {} in {} has to go first and did not",
                    short(&f.digest),
                    f.repository
                ),
            });
            continue;
        }
        match delete_one(app, d).await {
            Ok(blobs) => {
                done[i] = true;
                deleted.push(i);
                freed.entry(d.repository.clone()).or_default().extend(blobs);
                tracing::info!(
                    repository = %d.repository, digest = %d.digest, reason = %d.reason,
                    message = %d.message, %actor, "retention deleted a manifest"
                );
                {
                    use crate::audit::{DraftExt, draft};
                    app.audit(
                        draft(actor, "retention-delete")
                            .repo(&d.repository)
                            .digest(&d.digest)
                            .details(serde_json::json!({
                                "reason": d.reason.to_string(),
                                "message": d.message,
                                "tags": d.tags,
                            })),
                    )
                    .await;
                }
            }
            Err(e) => {
                tracing::warn!(
                    repository = %d.repository, digest = %d.digest, error = %e.message,
                    %actor, "retention could not delete a manifest"
                );
                failures.push(Failure {
                    repository: d.repository.clone(),
                    digest: d.digest.clone(),
                    error: e.message,
                });
            }
        }
    }
    let blobs_removed = match &app.backend {
        Backend::Embedded(files) => reclaim_blobs(app, files, freed, &mut failures),
        Backend::Upstream(_) => 0,
    };
    Ok(ApplyReport {
        now,
        plan,
        deleted,
        failures,
        blobs_removed,
    })
}

/// Unlinks, from each repository, the blobs of deleted manifests that no manifest left there
/// uses; returns how many blob files went with them. A repository holding a manifest that
/// cannot be read keeps all its blobs.
fn reclaim_blobs(
    app: &App,
    files: &tollgate_store::FsBlobs,
    freed: BTreeMap<RepoName, BTreeSet<Digest>>,
    failures: &mut Vec<Failure>,
) -> usize {
    let mut removed = 0;
    for (repo, candidates) in freed {
        let in_use = (|| -> ApiResult<Option<BTreeSet<Digest>>> {
            let mut used = BTreeSet::new();
            for e in app.store.list_artifacts(&repo)? {
                let Some((rec, bytes)) = app.store.get_manifest(&repo, &e.record.digest)? else {
                    continue;
                };
                match parse_manifest(&bytes, Some(&rec.media_type)) {
                    Ok(p) => used.extend(p.blobs.into_iter().map(|(b, _)| b)),
                    Err(_) => return Ok(None),
                }
            }
            Ok(Some(used))
        })();
        let used = match in_use {
            Ok(Some(u)) => u,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(%repo, error = %e.message, "retention could not list blobs in use");
                continue;
            }
        };
        for b in candidates.difference(&used) {
            match crate::oci::blobs::unlink_embedded(app, files, &repo, b) {
                Ok(Some(false)) => removed += 1,
                Ok(_) => {}
                Err(e) => failures.push(Failure {
                    repository: repo.clone(),
                    digest: b.clone(),
                    error: format!("unlinking blob: {}", e.message),
                }),
            }
        }
    }
    removed
}

/// The JSON answer for a plan.
pub fn plan_json(app: &App, plan: &RetentionPlan, now: DateTime<Utc>) -> Value {
    json!({
        "at": rfc3339(now.timestamp_millis()),
        "rules": app.config.retention.rules.iter().map(|r| json!({
            "repositories": r.repositories.as_str(),
            "keep_versions": r.keep_versions,
            "untagged_days": r.untagged_days,
        })).collect::<Vec<_>>(),
        "summary": {
            "manifests": plan.decisions.len(),
            "keep": plan.count(RetentionAction::Keep),
            "delete": plan.count(RetentionAction::Delete),
        },
        "decisions": plan.decisions,
    })
}

/// The JSON answer for an apply: the plan it carried out, what went and what did not.
pub fn report_json(app: &App, r: &ApplyReport) -> Value {
    let mut v = plan_json(app, &r.plan, r.now);
    v["summary"]["deleted"] = json!(r.deleted.len());
    v["summary"]["failed"] = json!(r.failures.len());
    v["summary"]["blobs_removed"] = json!(r.blobs_removed);
    v["deleted"] = r
        .deleted
        .iter()
        .map(|i| {
            let d = &r.plan.decisions[*i];
            json!({ "repository": d.repository, "digest": d.digest, "tags": d.tags, "reason": d.reason })
        })
        .collect();
    v["failures"] = json!(r.failures);
    v
}

/// Applies the rules every `[retention] interval_hours`, first one interval after start.
pub fn spawn_schedule(app: Arc<App>) {
    let Some(every) = app.config.retention.interval else {
        return;
    };
    tracing::info!(every_hours = every.as_secs() / 3600, "retention scheduled");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match apply(&app, "retention-schedule").await {
                Ok(r) => tracing::info!(
                    kept = r.plan.count(RetentionAction::Keep),
                    deleted = r.deleted.len(),
                    failed = r.failures.len(),
                    blobs_removed = r.blobs_removed,
                    "scheduled retention applied"
                ),
                Err(e) => tracing::error!(error = %e.message, "scheduled retention failed"),
            }
        }
    });
}
