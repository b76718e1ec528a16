//! Scheduled promotions, cancelling, and dependencies between repositories.
//!
//! A promotion requested with `"at": "<RFC 3339>"` is resolved and authorised at once, refused
//! at once when the policy's windows or freezes close the environment at that time (with the
//! next opening in the message), and otherwise stored in state `scheduled`. The scheduler
//! ([`spawn`], every `[promotions] scheduler_interval_secs`) moves each due one to `pending`
//! — with a revision check, so among replicas sharing a PostgreSQL store exactly one does —
//! and runs it through [`super::advance`]: the decision is taken then, over the facts and the
//! policy of then.
//!
//! `[[dependencies]]` become [`DependencyFacts`] in the facts the policy reads; a dependency
//! the target environment does not run at a satisfying version leaves the promotion `pending`
//! (`dependency-not-ready`). The scheduler re-advances such promotions once their
//! dependencies are there — at once when a promotion completes in this process ([`wake`]),
//! within one interval when another replica completed it.

use std::sync::Arc;

use tokio::sync::Notify;
use tollgate_policies::chrono::{DateTime, Duration as Span, Utc};
use tollgate_policies::{
    DependencyFacts, ReasonCode, RepoName, RuleKind, RuleStatus, calendar, evaluate,
};
use tollgate_store::{Opened, PromotionFilter, PromotionRecord, PromotionState, StoreError};

use super::{
    PromotionRequest, audit_about, audit_requested, authorize_request, bad, draft, resolve,
    state_name,
};
use crate::app::{App, now_ms};
use crate::audit::DraftExt as _;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// How far ahead a promotion may be scheduled, and how far the next window is looked for.
pub const HORIZON_DAYS: i64 = 366;

/// Woken when a promotion completes: promotions waiting on it are looked at without waiting
/// for the next tick.
static WAKE: Notify = Notify::const_new();

/// Asks the scheduler to look at waiting promotions now.
pub fn wake() {
    WAKE.notify_one();
}

fn parse_at(text: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            bad(format!(
                "at {text:?} is not an RFC 3339 time (2026-12-01T09:30:00Z): {e}"
            ))
        })
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// `POST /api/v1/promotions` with `at`: validates and authorises now, refuses a time the
/// policy keeps closed, and stores the promotion as `scheduled`. The bool says whether it is
/// new (false: an open or completed promotion of the same artifact there was returned).
pub async fn request(
    app: &Arc<App>,
    principal: &Principal,
    req: PromotionRequest,
) -> ApiResult<(PromotionRecord, bool)> {
    let at = parse_at(req.at.as_deref().unwrap_or_default())?;
    let now = super::now();
    if at <= now {
        return Err(bad(format!(
            "at {} is not in the future (now is {})",
            at.to_rfc3339(),
            now.to_rfc3339()
        )));
    }
    if at > now + Span::days(HORIZON_DAYS) {
        return Err(bad(format!(
            "at {} is more than {HORIZON_DAYS} days ahead",
            at.to_rfc3339()
        )));
    }
    let route = resolve(app, &req)?;
    authorize_request(principal, &route.target_repo, req.emergency)?;
    if let Some(done) = app.store.promoted(&route.target_env.name, &route.digest)?
        && done.repository == route.target_repo
        && let Some(p) = app.store.get_promotion(&done.promotion)?
        && !req.rollback
    {
        return Ok((p, false));
    }
    let mut rec = draft(principal, &req, &route);
    rec.state = PromotionState::Scheduled;
    rec.scheduled_for_ms = Some(ms(at));
    refuse_closed(app, &rec, at)?;
    let rec = match app.store.open_promotion(&rec)? {
        Opened::Created(p) => p,
        Opened::Existing(p) => return Ok((p, false)),
    };
    tracing::info!(promotion = %rec.id, artifact = %rec.artifact, to = %rec.target_environment, at = %at.to_rfc3339(), by = %principal.name, "promotion scheduled");
    app.metrics
        .promotion(&rec.target_environment, state_name(rec.state));
    app.audit(audit_requested(&principal.name, &rec)).await;
    app.audit(
        audit_about(&principal.name, "promotion-scheduled", &rec).details(serde_json::json!({
            "at": at.to_rfc3339(),
            "reason": ReasonCode::PromotionScheduled.as_str(),
        })),
    )
    .await;
    Ok((rec, true))
}

/// Refuses a schedule the policy in force would refuse at `at` for the time alone: outside
/// every window, inside a freeze, or an environment the policy does not define.
fn refuse_closed(app: &App, rec: &PromotionRecord, at: DateTime<Utc>) -> ApiResult<()> {
    let Some(loaded) = app.policy.current() else {
        return Err(ApiError::denied(
            ReasonCode::PolicyMissing,
            "no promotion policy is loaded: configure [policy] dir (or --policy) with a valid policy",
        ));
    };
    let facts = super::gather(app, rec)?;
    let decision = evaluate(&loaded.policy, &facts, at);
    let failed = |kind| {
        decision
            .rules
            .iter()
            .find(|r| r.kind == kind && r.status == RuleStatus::Fail)
    };
    if let Some(r) = failed(RuleKind::Environment) {
        return Err(ApiError::denied(
            ReasonCode::EnvironmentUnknown,
            r.message.clone(),
        ));
    }
    let Some(r) = failed(RuleKind::Freezes).or_else(|| failed(RuleKind::Windows)) else {
        return Ok(());
    };
    let reason = r.reason.unwrap_or(ReasonCode::WindowClosed);
    let env = loaded.policy.environment(&rec.target_environment);
    let next = env.and_then(|e| {
        calendar::next_open(e, &facts.artifact.repository, at, Span::days(HORIZON_DAYS)).map(|t| {
            format!(
                "{} ({} {})",
                t.to_rfc3339(),
                t.with_timezone(&e.timezone).format("%a %Y-%m-%d %H:%M"),
                e.timezone.name()
            )
        })
    });
    Err(ApiError::denied(
        reason,
        format!(
            "{} cannot be scheduled into {} at {}: {}; {}",
            rec.target_repository,
            rec.target_environment,
            at.to_rfc3339(),
            r.message,
            match next {
                Some(n) => format!("the next window opens at {n}"),
                None => format!("no window opens in the next {HORIZON_DAYS} days"),
            }
        ),
    ))
}

/// `DELETE /api/v1/promotions/{id}`: withdraws a scheduled or pending promotion, by its
/// requester or an admin.
pub async fn cancel(app: &App, principal: &Principal, id: &str) -> ApiResult<PromotionRecord> {
    let mut was = None;
    let (saved, cancelled) = super::release_log::update(app, id, |rec| {
        if principal.name != rec.requested_by && !principal.is_admin() {
            return Err(ApiError::denied(
                ReasonCode::RoleMissing,
                format!(
                    "token {:?} may not cancel promotion {id}: only its requester ({}) or an admin may",
                    principal.name, rec.requested_by
                ),
            ));
        }
        match rec.state {
            PromotionState::Cancelled => return Ok(None),
            PromotionState::Scheduled | PromotionState::Pending => {}
            other => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "promotion {id} is {}; only scheduled or pending promotions can be cancelled",
                        state_name(other)
                    ),
                ));
            }
        }
        if let Some(b) = &rec.bundle {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("promotion {id} belongs to bundle {b}, whose members move together"),
            ));
        }
        was = Some(rec.clone());
        let mut next = rec.clone();
        next.state = PromotionState::Cancelled;
        next.cancelled_by = Some(principal.name.clone());
        next.updated_at_ms = now_ms();
        Ok(Some(next))
    })?;
    if let (true, Some(was)) = (cancelled, was) {
        tracing::info!(promotion = %id, by = %principal.name, was = state_name(was.state), "promotion cancelled");
        app.metrics
            .promotion(&saved.target_environment, state_name(saved.state));
        app.audit(
            audit_about(&principal.name, "promotion-cancelled", &saved).details(
                serde_json::json!({
                    "was": state_name(was.state),
                    "scheduled_for": was.scheduled_for_ms.map(crate::api::rfc3339),
                }),
            ),
        )
        .await;
    }
    Ok(saved)
}

/// What the promoted repository depends on, and what the target environment runs of each.
/// A dependency carried by the same release bundle at a satisfying version is left out: the
/// bundle moves all or none, so waiting for it would wait forever.
pub fn dependency_facts(
    app: &App,
    rec: &PromotionRecord,
    repository: &str,
) -> ApiResult<Vec<DependencyFacts>> {
    let Some(dep) = app
        .config
        .dependencies
        .iter()
        .find(|d| d.repository == repository)
    else {
        return Ok(Vec::new());
    };
    let Some(env) = app
        .config
        .environments
        .iter()
        .find(|e| e.name == rec.target_environment)
    else {
        return Ok(Vec::new());
    };
    let bundled = match &rec.bundle {
        Some(b) => super::bundles::members(app, b, &env.name)?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for r in &dep.requires {
        let repo: RepoName = format!("{}{}", env.prefix, r.repository)
            .parse()
            .map_err(|e| ApiError::internal(format!("dependency repository: {e}")))?;
        let satisfies = |tag: Option<&str>| {
            tag.and_then(|t| semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok())
                .is_some_and(|v| r.version.matches(&v))
        };
        if bundled
            .iter()
            .any(|m| m.target_repository == repo && satisfies(m.tag.as_ref().map(|t| t.as_str())))
        {
            continue;
        }
        let current = app
            .store
            .current(&env.name, &repo)?
            .and_then(|c| c.tag.map(|t| t.to_string()));
        out.push(DependencyFacts {
            repository: r.repository.clone(),
            requirement: r.version.to_string(),
            current,
            source: Some(r.source.clone()),
        });
    }
    Ok(out)
}

/// The principal a scheduled or waiting promotion runs as: its requester, with the grants
/// their token holds now. `None` when the token is gone or revoked.
fn requester(app: &App, rec: &PromotionRecord) -> ApiResult<Option<Principal>> {
    Ok(app
        .store
        .list_tokens()?
        .into_iter()
        .find(|t| t.name == rec.requested_by && !t.revoked)
        .map(|t| Principal {
            name: t.name,
            grants: t.roles,
        }))
}

/// Starts the scheduler: every interval, and whenever [`wake`] is called, due scheduled
/// promotions are run and waiting ones whose dependencies arrived are re-advanced.
pub fn spawn(app: Arc<App>) {
    let every = app.config.promotions.scheduler_interval;
    tracing::info!(every_secs = every.as_secs(), "promotion scheduler started");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = WAKE.notified() => {}
            }
            if let Err(e) = run_once(&app).await {
                tracing::warn!(error = %e.message, "promotion scheduler pass failed");
            }
        }
    });
}

/// One pass: what was run or re-advanced, by id.
pub async fn run_once(app: &Arc<App>) -> ApiResult<Vec<String>> {
    // Without a policy nothing can be decided (policy-missing): due promotions wait for one,
    // and are then decided against its windows and freezes like any other.
    if app.policy.current().is_none() {
        return Ok(Vec::new());
    }
    // Scheduled and pending promotions are in flight: when none is, there is nothing to read.
    let mut any = false;
    for e in &app.config.environments {
        if app.store.in_flight(&e.name)? > 0 {
            any = true;
            break;
        }
    }
    if !any {
        return Ok(Vec::new());
    }
    let mut touched = Vec::new();
    let now = now_ms();
    let scheduled = app.store.list_promotions(
        &PromotionFilter {
            state: Some(PromotionState::Scheduled),
            ..PromotionFilter::default()
        },
        usize::MAX,
    )?;
    // Oldest due first.
    let mut due: Vec<PromotionRecord> = scheduled
        .into_iter()
        .filter(|p| p.scheduled_for_ms.is_some_and(|t| t <= now))
        .collect();
    due.sort_by_key(|p| p.scheduled_for_ms);
    for rec in due {
        let id = rec.id.clone();
        match run_due(app, rec).await {
            Ok(true) => touched.push(id),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(promotion = %id, error = %e.message, "scheduled promotion failed to run")
            }
        }
    }
    let pending = app.store.list_promotions(
        &PromotionFilter {
            state: Some(PromotionState::Pending),
            ..PromotionFilter::default()
        },
        usize::MAX,
    )?;
    for rec in pending.into_iter().rev() {
        let id = rec.id.clone();
        match readvance(app, rec).await {
            Ok(true) => touched.push(id),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(promotion = %id, error = %e.message, "re-deciding a waiting promotion failed")
            }
        }
    }
    Ok(touched)
}

/// Claims a due scheduled promotion (scheduled → pending; another replica that got there
/// first makes this a no-op) and runs it through the normal decision.
async fn run_due(app: &Arc<App>, rec: PromotionRecord) -> ApiResult<bool> {
    let actor = requester(app, &rec)?;
    let mut next = rec.clone();
    next.updated_at_ms = now_ms();
    let authorised = actor
        .as_ref()
        .is_some_and(|p| authorize_request(p, &rec.target_repository, rec.emergency).is_ok());
    if !authorised {
        // The requester lost the right to promote (or their token) since scheduling.
        next.state = PromotionState::Cancelled;
        next.cancelled_by = Some("tollgate-scheduler".into());
        next.error = Some(format!(
            "{} no longer holds a token that may promote into {}",
            rec.requested_by, rec.target_repository
        ));
    } else {
        next.state = PromotionState::Pending;
    }
    let saved = match app.store.update_promotion(&next) {
        Ok(saved) => saved,
        Err(StoreError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let Some(actor) = actor.filter(|_| authorised) else {
        tracing::warn!(promotion = %saved.id, requester = %saved.requested_by, "scheduled promotion cancelled: its requester may no longer promote");
        app.metrics
            .promotion(&saved.target_environment, state_name(saved.state));
        app.audit(
            audit_about("tollgate-scheduler", "promotion-cancelled", &saved)
                .details(serde_json::json!({ "was": "scheduled", "error": saved.error })),
        )
        .await;
        return Ok(true);
    };
    tracing::info!(promotion = %saved.id, to = %saved.target_environment, "scheduled promotion due: deciding");
    super::advance(app, &actor, saved).await?;
    Ok(true)
}

/// A pending promotion without a decision this long was claimed from the schedule by a
/// replica that stopped before deciding it.
const UNDECIDED_MS: i64 = 60_000;

/// `repo` as policy and `[[dependencies]]` name it: without its environment's prefix.
pub fn policy_repository(app: &App, repo: &RepoName) -> String {
    super::environment_of(app, repo)
        .and_then(|e| repo.as_str().strip_prefix(e.prefix.as_str()))
        .unwrap_or(repo.as_str())
        .to_string()
}

/// Whether the soak `rec`'s decision waits for is still running: its end, as the policy that
/// decided named it, is ahead, and that policy is still the one loaded (a new one may ask for
/// less).
fn soak_running(app: &App, rec: &PromotionRecord) -> bool {
    let Some(loaded) = app.policy.current() else {
        return false;
    };
    let same_policy =
        rec.decision["policy_digest"].as_str() == Some(loaded.policy.digest().to_string().as_str());
    let until = rec.decision["soak_until"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    same_policy && until.is_some_and(|t| super::now() < t)
}

/// Re-advances a pending promotion that waits on dependencies now satisfied or on a soak time
/// now over, or that was claimed from the schedule and never decided (a replica stopped in
/// between).
async fn readvance(app: &Arc<App>, rec: PromotionRecord) -> ApiResult<bool> {
    // Just opened by a request that is deciding it right now: not ours to touch.
    let undecided = rec.decision.is_null() && now_ms() - rec.updated_at_ms > UNDECIDED_MS;
    let has = |code: ReasonCode| {
        rec.decision["reasons"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r == code.as_str()))
    };
    let waits = has(ReasonCode::DependencyNotReady);
    let soaks = has(ReasonCode::SoakTimeNotMet);
    if !undecided && !waits && !soaks {
        return Ok(false);
    }
    if waits && !undecided {
        let repository = policy_repository(app, &rec.target_repository);
        if !dependency_facts(app, &rec, &repository)?
            .iter()
            .all(DependencyFacts::satisfied)
        {
            return Ok(false);
        }
    }
    // Soak time runs out without anything being recorded: judge it again in memory once the
    // soak the stored decision named is over (gathering facts reads the store and parses the
    // SBOMs, every pass), and store (and audit) a new decision only once the soak rule passes.
    if soaks && !undecided && soak_running(app, &rec) {
        return Ok(false);
    }
    if soaks
        && !undecided
        && super::decide(app, &rec)?
            .reasons
            .contains(&ReasonCode::SoakTimeNotMet)
    {
        return Ok(false);
    }
    let Some(actor) = requester(app, &rec)? else {
        return Ok(false);
    };
    tracing::info!(promotion = %rec.id, to = %rec.target_environment, "re-deciding a waiting promotion");
    super::advance(app, &actor, rec).await?;
    Ok(true)
}
