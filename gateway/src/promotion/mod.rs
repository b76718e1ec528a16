//! Promotion: moving an artifact from one environment's repository into the next one's,
//! once the policy for the target environment allows it.
//!
//! A request names an artifact (a digest, `repo:tag` or `repo@digest`) and a target
//! environment. The source is the environment that promotes to the target (`dev` → `staging`
//! → `prod` by default) and the artifact must be there — pushed into the first environment,
//! promoted into any later one. The facts the policy reads (evidence verdicts, SBOMs,
//! vulnerability reports, approvals, what the target runs now, promotions in flight) are
//! gathered from the store, the decision is stored on the promotion, and an allowed promotion
//! is copied ([`copy`]) and recorded as what the environment holds, in that order: the target
//! never names an artifact whose bytes are not there yet.

pub mod bundles;
pub mod copy;
pub mod release_log;
pub mod schedule;
pub mod verification;

use std::sync::Arc;

use serde::Deserialize;
use tollgate_attest::Digest;
use tollgate_policies::chrono::{DateTime, Utc};
use tollgate_policies::{
    Action, Approval, ApproverGroup, ArtifactFacts, ChecklistConfirmation, Decision, EvidenceFacts,
    Facts, PromotionFacts, ReasonCode, Reference, RepoName, SbomFacts, Tag, Verdict,
    VerificationFacts, evaluate,
};
use tollgate_store::{
    ApprovalRecord, Opened, PromotedEntry, PromotionRecord, PromotionState, StoreError,
};

use crate::app::{App, now_ms};
use crate::audit::DraftExt as _;
use crate::auth::Principal;
use crate::config::Environment;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// `POST /api/v1/promotions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// `sha256:…`, `repo:tag` or `repo@sha256:…` in the source environment.
    pub artifact: String,
    /// The target environment.
    pub to: String,
    /// The tag to bind in the target (default: the tag named in `artifact`, else the
    /// artifact's highest SemVer tag in the source repository).
    #[serde(default)]
    pub tag: Option<String>,
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
    /// Run it at this time (RFC 3339, in the future) instead of now: see [`schedule`].
    #[serde(default)]
    pub at: Option<String>,
}

/// `POST /api/v1/promotions/{id}/approvals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    pub group: String,
    #[serde(default)]
    pub comment: Option<String>,
}

/// How many times a read-modify-write of a promotion is retried when another writer got in
/// between (two approvals at once, say).
const RETRIES: usize = 5;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, msg)
}

/// The configured environment `name`; 400 naming the known ones otherwise.
pub fn env_named<'a>(app: &'a App, name: &str) -> ApiResult<&'a Environment> {
    app.config
        .environments
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = app
                .config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            bad(format!(
                "unknown environment {name:?}; environments are {}",
                known.join(", ")
            ))
        })
}

/// The environment whose repositories hold `repo`: a file repository's configured one, else
/// the environment whose prefix the name has.
pub fn environment_of<'a>(app: &'a App, repo: &RepoName) -> Option<&'a Environment> {
    if let Some(f) = app.config.file_repository(repo.as_str()) {
        let env = f.environment.as_deref()?;
        return app.config.environments.iter().find(|e| e.name == env);
    }
    app.config
        .environments
        .iter()
        .filter(|e| repo.as_str().starts_with(&e.prefix))
        .max_by_key(|e| e.prefix.len())
}

/// The environment whose pulls are gated for `repo`: any but an entry environment.
pub fn gated(app: &App, repo: &RepoName) -> Option<String> {
    environment_of(app, repo)
        .filter(|e| !is_entry(app, e))
        .map(|e| e.name.clone())
}

/// Refuses a pull from a gated environment repository unless `digest` is served there.
pub fn pull_gate(app: &App, actor: &str, repo: &RepoName, digest: &Digest) -> ApiResult<()> {
    let env = match pull_gate_of(app, repo, digest)? {
        Gate::Open => return Ok(()),
        Gate::Served(env) => {
            app.metrics.pull_decision(&env, "allowed");
            return Ok(());
        }
        Gate::Refused(env) => env,
    };
    app.metrics.pull_decision(&env, "denied");
    tracing::info!(%repo, %digest, environment = %env, reason = "not-promoted", "pull refused");
    app.audit_later(
        crate::audit::draft(actor, "pull-denied")
            .repo(repo)
            .digest(digest)
            .details(serde_json::json!({ "environment": env, "reason": "not-promoted" })),
    );
    Err(ApiError::denied(
        ReasonCode::NotPromoted,
        format!("{digest} was not promoted to {env}: {repo} serves only promoted artifacts"),
    ))
}

/// What a pull of `digest` from `repo` would meet.
#[derive(Debug)]
pub enum Gate {
    /// `repo` belongs to no gated environment.
    Open,
    /// Gated by this environment, and `digest` was promoted into `repo`.
    Served(String),
    /// Gated by this environment, and `digest` was not promoted into `repo`.
    Refused(String),
}

/// The one rule for gated repositories, shared by pulls and admission (admitting an image its
/// pull would be refused for only moves the failure to the node).
pub fn pull_gate_of(app: &App, repo: &RepoName, digest: &Digest) -> ApiResult<Gate> {
    Ok(match gated(app, repo) {
        None => Gate::Open,
        Some(env) if app.store.is_served(&env, repo, digest)? => Gate::Served(env),
        Some(env) => Gate::Refused(env),
    })
}

/// The refusal for a tag a gated repository does not know.
pub fn pull_gate_unknown(app: &App, actor: &str, repo: &RepoName, reference: &str) -> ApiError {
    let env = gated(app, repo).unwrap_or_default();
    app.metrics.pull_decision(&env, "denied");
    app.audit_later(crate::audit::draft(actor, "pull-denied").repo(repo).details(
        serde_json::json!({ "environment": env, "reference": reference, "reason": "not-promoted" }),
    ));
    ApiError::denied(
        ReasonCode::NotPromoted,
        format!("{repo}:{reference} names nothing promoted to {env}"),
    )
}

/// Environments nothing promotes into: builds are pushed there.
pub fn is_entry(app: &App, env: &Environment) -> bool {
    !app.config
        .environments
        .iter()
        .any(|e| e.promotes_to.as_deref() == Some(&env.name))
}

/// The environments an artifact is in: promoted to, or pushed into an entry environment.
pub fn environments_holding(
    app: &App,
    digest: &Digest,
    repos: &[RepoName],
) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for r in repos {
        if let Some(e) = environment_of(app, r)
            && is_entry(app, e)
            && !out.contains(&e.name)
        {
            out.push(e.name.clone());
        }
    }
    for p in app.store.promotions_of(digest)? {
        if !out.contains(&p.environment) {
            out.push(p.environment);
        }
    }
    // In pipeline order.
    let order = |n: &String| {
        app.config
            .environments
            .iter()
            .position(|e| &e.name == n)
            .unwrap_or(usize::MAX)
    };
    out.sort_by_key(order);
    Ok(out)
}

/// Where a promotion takes an artifact from and to.
struct Route<'a> {
    target_env: &'a Environment,
    source_repo: RepoName,
    target_repo: RepoName,
    digest: Digest,
    tag: Option<Tag>,
    /// A file of a raw or Maven repository: its path.
    path: Option<String>,
}

fn resolve<'a>(app: &'a App, req: &PromotionRequest) -> ApiResult<Route<'a>> {
    let target_env = env_named(app, &req.to)?;
    let source_env = app
        .config
        .environments
        .iter()
        .find(|e| e.promotes_to.as_deref() == Some(&target_env.name))
        .ok_or_else(|| {
            bad(format!(
                "no environment promotes to {:?}: artifacts enter it by push",
                target_env.name
            ))
        })?;
    if let Some(f) = crate::repositories::promote::resolve(app, &req.artifact, source_env)? {
        if f.target.environment.as_deref() != Some(target_env.name.as_str()) {
            return Err(bad(format!(
                "{} promotes to {}, which is not in {:?}",
                f.source.name, f.target.name, target_env.name
            )));
        }
        if !is_entry(app, source_env) && app.store.promoted(&source_env.name, &f.digest)?.is_none()
        {
            return Err(ApiError::denied(
                ReasonCode::NotPromoted,
                format!(
                    "{} was never promoted to {:?}: it must pass through there first",
                    f.digest, source_env.name
                ),
            ));
        }
        if req.tag.is_some() {
            return Err(bad("files are promoted by path; a tag does not apply"));
        }
        return Ok(Route {
            target_env,
            source_repo: f.source.name.clone(),
            target_repo: f.target.name.clone(),
            digest: f.digest,
            tag: None,
            path: Some(f.path.to_string()),
        });
    }

    let (source_repo, digest, named_tag) = if req.artifact.contains('/') {
        let (repo, reference) = split_reference(&req.artifact)?;
        let digest = match &reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => app.store.resolve_tag(&repo, t)?.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ManifestUnknown,
                    format!("{repo}:{t} is not a known tag"),
                )
            })?,
        };
        let tag = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        (repo, digest, tag)
    } else {
        let digest: Digest = req
            .artifact
            .parse()
            .map_err(|e| ApiError::new(ErrorCode::DigestInvalid, format!("artifact: {e}")))?;
        let repo = app
            .store
            .artifact(&digest)?
            .into_iter()
            .map(|e| e.repository)
            .find(|r| environment_of(app, r).is_some_and(|e| e.name == source_env.name))
            .ok_or_else(|| not_in_source(&digest, source_env))?;
        (repo, digest, None)
    };
    if environment_of(app, &source_repo).is_none_or(|e| e.name != source_env.name) {
        return Err(bad(format!(
            "{source_repo} is not in {:?}, the environment that promotes to {:?}",
            source_env.name, target_env.name
        )));
    }
    if app.store.get_manifest(&source_repo, &digest)?.is_none() {
        return Err(not_in_source(&digest, source_env));
    }
    if !is_entry(app, source_env) && app.store.promoted(&source_env.name, &digest)?.is_none() {
        return Err(ApiError::denied(
            ReasonCode::NotPromoted,
            format!(
                "{digest} was never promoted to {:?}: it must pass through there first",
                source_env.name
            ),
        ));
    }
    let suffix = &source_repo.as_str()[source_env.prefix.len()..];
    let target_repo: RepoName = format!("{}{suffix}", target_env.prefix)
        .parse()
        .map_err(|e| bad(format!("target repository: {e}")))?;

    let tag = match (&req.tag, named_tag) {
        (Some(t), _) => Some(
            t.parse::<Tag>()
                .map_err(|e| bad(format!("tag {t:?}: {e}")))?,
        ),
        (None, Some(t)) => Some(t),
        (None, None) => highest_tag(app.store.tags_of(&source_repo, &digest)?),
    };
    Ok(Route {
        target_env,
        source_repo,
        target_repo,
        digest,
        tag,
        path: None,
    })
}

fn not_in_source(digest: &Digest, env: &Environment) -> ApiError {
    ApiError::new(
        ErrorCode::ManifestUnknown,
        format!("{digest} is in no repository of {:?}", env.name),
    )
}

/// `repo:tag` or `repo@digest`.
fn split_reference(s: &str) -> ApiResult<(RepoName, Reference)> {
    let (repo, reference) = match s.split_once('@') {
        Some((r, d)) => (r, d.to_string()),
        None => match s.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t.to_string()),
            _ => return Err(bad(format!("artifact {s:?} needs a :tag or @digest"))),
        },
    };
    let repo: RepoName = repo
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::NameInvalid, format!("{repo:?}: {e}")))?;
    let reference: Reference = reference
        .parse()
        .map_err(|e| bad(format!("{reference:?}: {e}")))?;
    Ok((repo, reference))
}

/// The highest SemVer tag, else the first one (tags come in byte order).
fn highest_tag(tags: Vec<Tag>) -> Option<Tag> {
    let parse = |t: &Tag| semver::Version::parse(t.as_str().trim_start_matches('v')).ok();
    tags.iter()
        .filter_map(|t| parse(t).map(|v| (v, t)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| t.clone())
        .or_else(|| tags.first().cloned())
}

/// Whether `principal` may ask for a promotion into `target`: `promoter` (or admin), or
/// `breakglass` for an emergency one.
fn authorize_request(principal: &Principal, target: &RepoName, emergency: bool) -> ApiResult<()> {
    if principal.may(Action::Promote, target)
        || (emergency && principal.may(Action::BreakGlass, target))
    {
        return Ok(());
    }
    let needs = if emergency {
        "promoter or breakglass"
    } else {
        "promoter"
    };
    Err(ApiError::denied(
        ReasonCode::RoleMissing,
        format!(
            "token {:?} may not promote into {target} (needs {needs})",
            principal.name
        ),
    ))
}

/// A new promotion for `req` along `route`, before the store assigns its id.
fn draft(principal: &Principal, req: &PromotionRequest, route: &Route<'_>) -> PromotionRecord {
    let now = now_ms();
    PromotionRecord {
        id: String::new(),
        revision: 0,
        artifact: route.digest.clone(),
        source_repository: route.source_repo.clone(),
        target_environment: route.target_env.name.clone(),
        target_repository: route.target_repo.clone(),
        tag: route.tag.clone(),
        path: route.path.clone(),
        requested_by: principal.name.clone(),
        change_request: req.change_request.clone(),
        justification: req.justification.clone(),
        emergency: req.emergency,
        rollback: req.rollback,
        bundle: None,
        state: PromotionState::Pending,
        decision: serde_json::Value::Null,
        approvals: Vec::new(),
        postmortem: None,
        error: None,
        created_at_ms: now,
        updated_at_ms: now,
        owner: Some(req.owner.clone().unwrap_or_else(|| principal.name.clone())),
        checklist: Vec::new(),
        notes: Vec::new(),
        outcome: None,
        scheduled_for_ms: None,
        cancelled_by: None,
    }
}

/// `POST /api/v1/promotions`: decide, and copy when allowed. The bool says whether the
/// promotion is new (false: an identical open or completed one was returned).
pub async fn request(
    app: &Arc<App>,
    principal: &Principal,
    req: PromotionRequest,
) -> ApiResult<(PromotionRecord, bool)> {
    if req.at.is_some() {
        return schedule::request(app, principal, req).await;
    }
    let route = resolve(app, &req)?;
    authorize_request(principal, &route.target_repo, req.emergency)?;
    // Already there: the promotion that put it there.
    if let Some(done) = app.store.promoted(&route.target_env.name, &route.digest)?
        && done.repository == route.target_repo
        && let Some(p) = app.store.get_promotion(&done.promotion)?
        && !req.rollback
    {
        return Ok((p, false));
    }
    let draft = draft(principal, &req, &route);
    let (rec, new) = match app.store.open_promotion(&draft)? {
        Opened::Created(p) => (p, true),
        Opened::Existing(p) => (p, false),
    };
    if new {
        app.audit(audit_requested(&principal.name, &rec)).await;
    }
    let rec = advance(app, principal, rec).await?;
    Ok((rec, new))
}

/// Re-decides an open promotion and, when allowed, copies it. Safe to call concurrently:
/// the store's revision check lets one caller move it forward.
pub async fn advance(
    app: &Arc<App>,
    actor: &Principal,
    mut rec: PromotionRecord,
) -> ApiResult<PromotionRecord> {
    if let Some(bundle) = rec.bundle.clone() {
        // A bundle member moves only with the others.
        bundles::advance(app, actor, &bundle, &rec.target_environment).await?;
        return app
            .store
            .get_promotion(&rec.id)?
            .ok_or_else(|| ApiError::internal(format!("promotion {} vanished", rec.id)));
    }
    for _ in 0..RETRIES {
        if rec.state == PromotionState::Copying && now_ms() - rec.updated_at_ms > STALE_COPY_MS {
            // A copy that never finished (the gateway stopped mid-way): copying is idempotent,
            // so finish it.
            return in_task(app, actor, rec).await;
        }
        if !matches!(rec.state, PromotionState::Pending | PromotionState::Failed) {
            return Ok(rec);
        }
        let decision = decide(app, &rec)?;
        let next = with_decision(&rec, &decision, decision.verdict)?;
        match app.store.update_promotion(&next) {
            Ok(saved) => {
                tracing::info!(
                    promotion = %saved.id, artifact = %saved.artifact, to = %saved.target_environment,
                    verdict = ?decision.verdict, reasons = ?decision.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                    policy = %decision.policy_digest, actor = %actor.name, "promotion decided"
                );
                app.metrics
                    .promotion(&saved.target_environment, state_name(saved.state));
                audit_decided(app, &actor.name, &saved, &decision).await;
                if saved.state == PromotionState::Copying {
                    return in_task(app, actor, saved).await;
                }
                return Ok(saved);
            }
            Err(StoreError::Conflict(_)) => {
                rec = app
                    .store
                    .get_promotion(&rec.id)?
                    .ok_or_else(|| ApiError::internal(format!("promotion {} vanished", rec.id)))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!("promotion {} keeps changing; try again", rec.id),
    ))
}

/// `rec` as `decision` leaves it, moved to the state `verdict` calls for (a bundle member's is
/// the bundle's): an emergency that went through opens its post-mortem.
fn with_decision(
    rec: &PromotionRecord,
    decision: &Decision,
    verdict: Verdict,
) -> ApiResult<PromotionRecord> {
    let mut next = rec.clone();
    next.decision = serde_json::to_value(decision).map_err(ApiError::internal)?;
    next.updated_at_ms = now_ms();
    next.state = match verdict {
        Verdict::Allow => PromotionState::Copying,
        Verdict::Pending => PromotionState::Pending,
        Verdict::Deny => PromotionState::Denied,
    };
    if decision.post_mortem_required && next.postmortem.is_none() {
        next.postmortem = Some(tollgate_store::Postmortem {
            opened_at_ms: next.updated_at_ms,
            link: None,
            closed_by: None,
            closed_at_ms: None,
        });
    }
    Ok(next)
}

/// A copy left in `copying` this long is taken to have been interrupted.
const STALE_COPY_MS: i64 = 10 * 60 * 1000;

/// Runs the copy in its own task, so a client that hangs up does not abandon a promotion
/// half-way in `copying`.
async fn in_task(
    app: &Arc<App>,
    actor: &Principal,
    rec: PromotionRecord,
) -> ApiResult<PromotionRecord> {
    let (app, actor) = (Arc::clone(app), actor.clone());
    tokio::spawn(async move { finish_copy(&app, &actor, rec).await })
        .await
        .map_err(|e| ApiError::internal(format!("promotion copy task: {e}")))?
}

async fn finish_copy(
    app: &Arc<App>,
    actor: &Principal,
    rec: PromotionRecord,
) -> ApiResult<PromotionRecord> {
    // A Maven artifact's metadata in the target lists the versions it serves: locked from its
    // regeneration until the promotion is recorded.
    let metadata = match &rec.path {
        Some(path) => crate::repositories::promote::lock_metadata(app, &rec, path).await,
        None => None,
    };
    let mut generated = None;
    // What was copied: every digest pulls from the target may serve, and the audit details.
    let copied: ApiResult<(Vec<Digest>, serde_json::Value)> = match &rec.path {
        Some(path) => async {
            let c = crate::repositories::promote::copy(app, &rec, path).await?;
            tracing::info!(promotion = %rec.id, path = %path, copied = c.copied, already_there = c.already_there, "files copied");
            let mut contents = c.contents;
            let mut details = serde_json::json!({
                "target": rec.target_repository,
                "path": path,
                "files": c.paths,
                "copied": c.copied,
                "already_there": c.already_there,
            });
            if let Some(m) = &metadata
                && let Some(g) = m.write(app, &contents).await?
            {
                details["metadata"] = serde_json::json!({ "path": g.path, "versions": g.versions });
                contents.extend(g.digests.iter().cloned());
                generated = Some(g);
            }
            Ok((contents, details))
        }
        .await,
        None => match copy::copy_artifact(
            app,
            &rec.source_repository,
            &rec.target_repository,
            &rec.artifact,
            rec.tag.as_ref(),
            &actor.name,
        )
        .await
        {
            Ok(report) => {
                report.cache_blobs(app, &rec.target_repository).await;
                tracing::info!(promotion = %rec.id, artifact = %rec.artifact, to = %rec.target_repository,
                    manifests = report.manifests, mounted = report.blobs_mounted, streamed = report.blobs_streamed,
                    evidence = report.evidence.len(), "artifact copied");
                let details = serde_json::json!({
                    "target": rec.target_repository,
                    "tag": rec.tag,
                    "manifests": report.manifests,
                    "blobs_mounted": report.blobs_mounted,
                    "blobs_streamed": report.blobs_streamed,
                    "evidence": report.evidence,
                });
                Ok((report.contents, details))
            }
            Err(e) => Err(e),
        },
    };
    match copied {
        Ok((contents, details)) => {
            let entry = PromotedEntry {
                environment: rec.target_environment.clone(),
                repository: rec.target_repository.clone(),
                digest: rec.artifact.clone(),
                tag: rec.tag.clone(),
                promotion: rec.id.clone(),
                at_ms: now_ms(),
                contents,
            };
            let mut done = rec.clone();
            done.error = None;
            done.updated_at_ms = entry.at_ms;
            let done = app.store.complete_promotion(&done, &entry)?;
            if let Some(m) = &metadata {
                m.settle(app, &done.target_environment, generated.as_ref())
                    .await;
            }
            tracing::info!(promotion = %done.id, artifact = %done.artifact, to = %done.target_repository, "promoted");
            app.metrics.promotion(&done.target_environment, "promoted");
            app.audit(audit_about(&actor.name, "promotion-completed", &done).details(details))
                .await;
            // Promotions into the environment may have been waiting for this one.
            schedule::wake();
            Ok(done)
        }
        Err(e) => {
            let mut failed = rec.clone();
            failed.state = PromotionState::Failed;
            failed.error = Some(e.message.clone());
            failed.updated_at_ms = now_ms();
            tracing::warn!(promotion = %rec.id, error = %e.message, "promotion copy failed; retrying the request resumes it");
            app.metrics.promotion(&rec.target_environment, "failed");
            app.audit(
                audit_about(&actor.name, "promotion-failed", &rec)
                    .details(serde_json::json!({ "error": e.message })),
            )
            .await;
            app.store.update_promotion(&failed)?;
            Err(e)
        }
    }
}

pub fn state_name(s: PromotionState) -> &'static str {
    match s {
        PromotionState::Pending => "pending",
        PromotionState::Denied => "denied",
        PromotionState::Copying => "copying",
        PromotionState::Promoted => "promoted",
        PromotionState::Failed => "failed",
        PromotionState::Scheduled => "scheduled",
        PromotionState::Cancelled => "cancelled",
    }
}

/// Evaluates the policy in force over what the store knows about the promotion, now.
fn decide(app: &App, rec: &PromotionRecord) -> ApiResult<Decision> {
    let Some(loaded) = app.policy.current() else {
        return Err(ApiError::denied(
            ReasonCode::PolicyMissing,
            "no promotion policy is loaded: configure [policy] dir (or --policy) with a valid policy",
        ));
    };
    let facts = gather(app, rec)?;
    Ok(evaluate(&loaded.policy, &facts, now()))
}

pub fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(now_ms()).unwrap_or_default()
}

/// Everything the policy may ask about this promotion, from the store.
pub fn gather(app: &App, rec: &PromotionRecord) -> ApiResult<Facts> {
    let d = &rec.artifact;
    let pushed = pushed(app, rec)?;
    let source_env = environment_of(app, &rec.source_repository);
    // Verification results and arrival in the environment the artifact comes from.
    let (verifications, arrived_at_ms) = match source_env {
        None => (Vec::new(), None),
        Some(env) => {
            let results = app
                .store
                .verifications(d, Some(&env.name))?
                .into_iter()
                .map(|v| VerificationFacts {
                    kind: v.kind,
                    environment: v.environment,
                    result: v.result,
                    metrics: v.metrics,
                    signer: v.signer,
                    recorded_by: v.recorded_by,
                    at: DateTime::<Utc>::from_timestamp_millis(v.at_ms).unwrap_or_default(),
                })
                .collect();
            let arrived = if is_entry(app, env) {
                pushed.as_ref().map(|p| p.at_ms)
            } else {
                app.store.promoted(&env.name, d)?.map(|e| e.at_ms)
            };
            (results, arrived)
        }
    };
    let checklist = rec
        .checklist
        .iter()
        .map(|c| ChecklistConfirmation {
            item: c.item.clone(),
            by: c.by.clone(),
            roles: c
                .roles
                .iter()
                .filter_map(|r| ApproverGroup::parse(r))
                .collect(),
            at: DateTime::<Utc>::from_timestamp_millis(c.at_ms),
        })
        .collect();
    let residency = pushed.as_ref().and_then(|p| residency_of(&p.annotations));
    let pushed_by = pushed.map(|p| p.by);
    // A file's version (Maven) stands where an image's tag does for the version rules.
    let file_version = match &rec.path {
        Some(p) => crate::repositories::promote::version_of(app, &rec.source_repository, p),
        None => None,
    };
    let evidence_records = app.store.evidence_for(d)?;
    let mut vulnerability_reports = Vec::new();
    for e in &evidence_records {
        if let Some(report) = crate::evidence::vuln_report(e) {
            vulnerability_reports.push(report);
        }
    }
    let evidence = evidence_records
        .into_iter()
        .map(|e| EvidenceFacts {
            kind: e.evidence.kind().to_string(),
            verdict: e.verdict,
        })
        .collect();
    let mut sboms = Vec::new();
    for s in app.store.sboms_for(d)? {
        let Some(doc) = app.store.sbom_document(&s.sbom_digest)? else {
            continue;
        };
        match tollgate_sbom::parse(&doc) {
            Ok(sbom) => {
                sboms.push(SbomFacts::from_sbom(&sbom));
                if sbom.format == tollgate_sbom::Format::CycloneDx
                    && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&doc)
                    && v.get("vulnerabilities").is_some()
                    && let Ok(r) = tollgate_sbom::vuln::parse_cyclonedx_vulns(&v)
                {
                    vulnerability_reports.push(r);
                }
            }
            Err(e) => {
                tracing::warn!(sbom = %s.sbom_digest, error = %e, "stored SBOM no longer parses")
            }
        }
    }
    let requester_roles = app
        .store
        .list_tokens()?
        .into_iter()
        .find(|t| t.name == rec.requested_by && !t.revoked)
        .map(|t| t.roles)
        .unwrap_or_default();
    let approvals = rec
        .approvals
        .iter()
        .filter_map(|a| {
            Some(Approval {
                by: a.by.clone(),
                group: ApproverGroup::parse(&a.group)?,
                at: DateTime::<Utc>::from_timestamp_millis(a.at_ms),
            })
        })
        .collect();
    // A file repository holds many artifacts: the latest promotion into it is no version of
    // this one.
    let current_version = match &rec.path {
        Some(_) => None,
        None => app
            .store
            .current(&rec.target_environment, &rec.target_repository)?
            .filter(|c| c.digest != *d)
            .and_then(|c| c.tag.map(|t| t.to_string())),
    };
    let open = app.store.in_flight(&rec.target_environment)?;
    let in_flight = open.saturating_sub(usize::from(rec.state.is_open()));
    let repository = schedule::policy_repository(app, &rec.target_repository);
    let dependencies = schedule::dependency_facts(app, rec, &repository)?;
    Ok(Facts {
        artifact: ArtifactFacts {
            digest: d.clone(),
            repository,
            tag: rec.tag.as_ref().map(ToString::to_string).or(file_version),
            pushed_by,
            residency,
        },
        promotion: PromotionFacts {
            from: source_env.map(|e| e.name.clone()),
            to: rec.target_environment.clone(),
            requester: rec.requested_by.clone(),
            requester_roles,
            change_request: rec.change_request.clone(),
            justification: rec.justification.clone(),
            emergency: rec.emergency,
            rollback: rec.rollback,
        },
        evidence,
        sboms,
        vulnerability_reports,
        approvals,
        current_version,
        in_flight: u32::try_from(in_flight).unwrap_or(u32::MAX),
        verifications,
        arrived_at: arrived_at_ms.and_then(DateTime::<Utc>::from_timestamp_millis),
        checklist,
        dependencies,
    })
}

/// Who pushed the promoted artifact into its source repository.
fn pushed_by(app: &App, rec: &PromotionRecord) -> ApiResult<Option<String>> {
    Ok(pushed(app, rec)?.map(|p| p.by))
}

/// How the artifact entered its source repository.
struct Pushed {
    by: String,
    at_ms: i64,
    annotations: std::collections::BTreeMap<String, String>,
}

fn pushed(app: &App, rec: &PromotionRecord) -> ApiResult<Option<Pushed>> {
    Ok(match &rec.path {
        Some(p) => app
            .store
            .get_file(&rec.source_repository, p)?
            .map(|f| Pushed {
                by: f.pushed_by,
                at_ms: f.pushed_at_ms,
                annotations: Default::default(),
            }),
        None => app
            .store
            .get_manifest(&rec.source_repository, &rec.artifact)?
            .map(|(m, _)| Pushed {
                by: m.pushed_by,
                at_ms: m.pushed_at_ms,
                annotations: m.annotations,
            }),
    })
}

/// The manifest annotation by which an artifact names the regions it may run in.
pub const RESIDENCY_ANNOTATION: &str = "dev.tollgate.residency";

fn residency_of(annotations: &std::collections::BTreeMap<String, String>) -> Option<Vec<String>> {
    let v = annotations.get(RESIDENCY_ANNOTATION)?;
    Some(
        v.split(',')
            .map(|r| r.trim().to_ascii_lowercase())
            .filter(|r| !r.is_empty())
            .collect(),
    )
}

/// `POST /api/v1/promotions/{id}/approvals`: records the approval and re-decides.
pub async fn approve(
    app: &Arc<App>,
    principal: &Principal,
    id: &str,
    req: ApprovalRequest,
) -> ApiResult<PromotionRecord> {
    let group = ApproverGroup::parse(&req.group).ok_or_else(|| {
        bad(format!(
            "group {:?} is not one of dev, ops, security, business",
            req.group
        ))
    })?;
    let rec = app
        .store
        .get_promotion(id)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no promotion {id}")))?;
    if !principal.may(Action::Approve(group), &rec.target_repository) {
        return Err(ApiError::denied(
            ReasonCode::RoleMissing,
            format!(
                "token {:?} may not approve for {group} in {} (needs approver({group}))",
                principal.name, rec.target_repository
            ),
        ));
    }
    let pusher = pushed_by(app, &rec)?;
    if principal.name == rec.requested_by || pusher.as_deref() == Some(&principal.name) {
        return Err(ApiError::denied(
            ReasonCode::SeparationOfDuties,
            format!(
                "{} pushed or requested this promotion and may not approve it",
                principal.name
            ),
        ));
    }
    // An approval of a bundle member approves the bundle: every member still waiting.
    let targets: Vec<String> = match &rec.bundle {
        Some(b) => bundles::members(app, b, &rec.target_environment)?
            .into_iter()
            .filter(|p| p.state == PromotionState::Pending || p.id == rec.id)
            .map(|p| p.id)
            .collect(),
        None => vec![rec.id.clone()],
    };
    for target in &targets {
        release_log::update(app, target, |cur| {
            // Another member that moved on meanwhile needs no approval any more.
            if cur.id != rec.id && cur.state != PromotionState::Pending {
                return Ok(None);
            }
            // A scheduled promotion may be approved ahead of its time.
            if !matches!(
                cur.state,
                PromotionState::Pending | PromotionState::Scheduled
            ) {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "promotion {} is {}; only pending or scheduled promotions take approvals",
                        cur.id,
                        state_name(cur.state)
                    ),
                ));
            }
            if cur
                .approvals
                .iter()
                .any(|a| a.by == principal.name && a.group == group.as_str())
            {
                return Ok(None);
            }
            let mut next = cur.clone();
            next.approvals.push(ApprovalRecord {
                by: principal.name.clone(),
                group: group.as_str().to_string(),
                comment: req.comment.clone(),
                at_ms: now_ms(),
            });
            next.updated_at_ms = now_ms();
            Ok(Some(next))
        })?;
    }
    tracing::info!(promotion = %id, bundle = ?rec.bundle, by = %principal.name, %group, "approval recorded");
    app.audit(
        audit_about(&principal.name, "promotion-approved", &rec)
            .details(serde_json::json!({ "group": group.as_str(), "comment": req.comment })),
    )
    .await;
    let saved = app
        .store
        .get_promotion(id)?
        .ok_or_else(|| ApiError::internal(format!("promotion {id} vanished")))?;
    advance(app, principal, saved).await
}

/// `POST /api/v1/promotions/{id}/postmortem`: closes an emergency promotion's post-mortem.
pub fn close_postmortem(
    app: &App,
    principal: &Principal,
    id: &str,
    link: &str,
) -> ApiResult<PromotionRecord> {
    let url = url::Url::parse(link)
        .map_err(|e| bad(format!("link {link:?} is not an absolute URL: {e}")))?;
    let (saved, closed) = release_log::update(app, id, |rec| {
        if !principal.may(Action::Promote, &rec.target_repository)
            && !principal.may(Action::BreakGlass, &rec.target_repository)
        {
            return Err(ApiError::denied(
                ReasonCode::RoleMissing,
                format!(
                    "token {:?} may not close post-mortems in {}",
                    principal.name, rec.target_repository
                ),
            ));
        }
        let Some(pm) = &rec.postmortem else {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("promotion {id} owes no post-mortem"),
            ));
        };
        if pm.closed_at_ms.is_some() {
            return Ok(None);
        }
        let mut next = rec.clone();
        next.postmortem = Some(tollgate_store::Postmortem {
            opened_at_ms: pm.opened_at_ms,
            link: Some(url.to_string()),
            closed_by: Some(principal.name.clone()),
            closed_at_ms: Some(now_ms()),
        });
        next.updated_at_ms = now_ms();
        Ok(Some(next))
    })?;
    if closed {
        tracing::info!(promotion = %id, by = %principal.name, link = %url, "post-mortem closed");
        app.audit_later(
            audit_about(&principal.name, "postmortem-closed", &saved)
                .details(serde_json::json!({ "link": url.to_string() })),
        );
    }
    Ok(saved)
}

/// An audit entry about promotion `p`.
fn audit_about(actor: &str, action: &str, p: &PromotionRecord) -> tollgate_store::AuditDraft {
    crate::audit::draft(actor, action)
        .repo(&p.target_repository)
        .digest(&p.artifact)
        .decision(&p.id)
}

fn audit_requested(actor: &str, p: &PromotionRecord) -> tollgate_store::AuditDraft {
    audit_about(actor, "promotion-requested", p).details(serde_json::json!({
        "from": p.source_repository,
        "to": p.target_environment,
        "tag": p.tag,
        "change_request": p.change_request,
        "justification": p.justification,
        "emergency": p.emergency,
        "rollback": p.rollback,
        "bundle": p.bundle,
    }))
}

/// The decision, and a break-glass entry of its own when one was used.
async fn audit_decided(app: &App, actor: &str, p: &PromotionRecord, d: &Decision) {
    let reasons: Vec<&str> = d.reasons.iter().map(|r| r.as_str()).collect();
    app.audit(
        audit_about(actor, "promotion-decided", p)
            .policy(Some(&d.policy_digest))
            .details(serde_json::json!({
                "verdict": d.verdict,
                "state": state_name(p.state),
                "reasons": reasons,
                "mode": d.mode,
            })),
    )
    .await;
    if d.post_mortem_required {
        let bypassed: Vec<&str> = d
            .rules
            .iter()
            .filter(|r| r.status == tollgate_policies::RuleStatus::Bypassed)
            .map(|r| r.rule.as_str())
            .collect();
        app.audit(
            audit_about(actor, "breakglass-used", p)
                .policy(Some(&d.policy_digest))
                .details(serde_json::json!({
                    "justification": p.justification,
                    "bypassed": bypassed,
                })),
        )
        .await;
    }
}
