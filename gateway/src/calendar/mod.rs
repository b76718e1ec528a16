//! The release calendar: `GET /api/v1/calendar` (JSON) and `GET /api/v1/calendar.ics`
//! (iCalendar), for `?from=&to=&env=`.
//!
//! Per environment: its time zone, the policy's deployment-window occurrences and freezes in
//! the range (expanded by [`tollgate_policies::calendar`]), the promotions scheduled into it,
//! and conflicts between scheduled promotions of repositories that depend on each other
//! (`[[dependencies]]`).

pub mod ics;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use tollgate_attest::Digest;
use tollgate_policies::RepoName;
use tollgate_policies::calendar::{self, FreezeOccurrence, WindowOccurrence};
use tollgate_policies::chrono::{DateTime, Duration, NaiveDate, Utc};
use tollgate_store::{PromotionFilter, PromotionRecord, PromotionState};

use crate::app::{App, AppState, now_ms};
use crate::config::Dependency;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::promotion::schedule::policy_repository;
use crate::promotion::state_name;

/// The longest range one request may ask for.
pub const MAX_DAYS: i64 = 366;
/// The range when none is given: from now, two weeks.
pub const DEFAULT_DAYS: i64 = 14;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/calendar", get(json))
        .route("/calendar.ics", get(icalendar))
}

#[derive(Debug, Default, Deserialize)]
pub struct CalendarQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub env: Option<String>,
}

/// The whole calendar over a range.
#[derive(Debug, Serialize)]
pub struct Calendar {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// The digest of the policy the windows and freezes come from.
    pub policy_digest: Option<Digest>,
    pub environments: Vec<EnvironmentCalendar>,
}

#[derive(Debug, Serialize)]
pub struct EnvironmentCalendar {
    pub name: String,
    pub timezone: String,
    /// Promotions into it are never refused for the time of day (no windows).
    pub always_open: bool,
    /// Set when the calendar cannot show the environment's rules (no policy, or none for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub windows: Vec<WindowOccurrence>,
    pub freezes: Vec<FreezeOccurrence>,
    pub scheduled: Vec<Scheduled>,
    pub conflicts: Vec<Conflict>,
}

/// A promotion scheduled into the environment within the range.
#[derive(Debug, Clone, Serialize)]
pub struct Scheduled {
    pub id: String,
    pub at: DateTime<Utc>,
    /// The repository as policy and dependencies name it (no environment prefix).
    pub repository: String,
    pub target_repository: RepoName,
    pub artifact: Digest,
    pub tag: Option<String>,
    pub requested_by: String,
    pub state: &'static str,
    pub emergency: bool,
    pub change_request: Option<String>,
}

/// Scheduled promotions of interdependent repositories that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The scheduled promotion the conflict is about.
    pub promotion: String,
    pub repository: String,
    /// The other repository: the one depended on, or the one depending.
    pub dependency: String,
    pub requires: String,
    pub message: String,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, msg)
}

/// `2026-12-01T09:00:00Z` (any offset) or `2026-12-01` (midnight UTC).
fn parse_time(name: &str, text: &str) -> ApiResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(bad(format!(
        "{name} {text:?} is neither an RFC 3339 time (2026-12-01T09:00:00Z) nor a date (2026-12-01)"
    )))
}

/// `[from, to)` from the query: from defaults to now, to to 14 days after from.
pub fn range(q: &CalendarQuery, now: DateTime<Utc>) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let from = match &q.from {
        Some(f) => parse_time("from", f)?,
        None => now,
    };
    let to = match &q.to {
        Some(t) => parse_time("to", t)?,
        None => from + Duration::days(DEFAULT_DAYS),
    };
    if to <= from {
        return Err(bad(format!(
            "to ({}) must be after from ({})",
            to.to_rfc3339(),
            from.to_rfc3339()
        )));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(bad(format!(
            "the range from {} to {} is longer than {MAX_DAYS} days; ask for less",
            from.to_rfc3339(),
            to.to_rfc3339()
        )));
    }
    Ok((from, to))
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// Builds the calendar for `q`.
pub fn build(app: &App, q: &CalendarQuery) -> ApiResult<Calendar> {
    let now = crate::promotion::now();
    let (from, to) = range(q, now)?;
    if let Some(e) = &q.env {
        crate::promotion::env_named(app, e)?;
    }
    let loaded = app.policy.current();
    let mut environments = Vec::new();
    for env in &app.config.environments {
        if q.env.as_ref().is_some_and(|e| e != &env.name) {
            continue;
        }
        let (timezone, always_open, note, windows, freezes) = match loaded
            .as_ref()
            .map(|l| l.policy.environment(&env.name))
        {
            Some(Some(pe)) => {
                let c = calendar::expand(pe, from, to);
                (c.timezone, c.always_open, None, c.windows, c.freezes)
            }
            Some(None) => (
                "UTC".to_string(),
                true,
                Some(format!(
                    "the policy defines no environment {:?}: promotions into it are refused (environment-unknown)",
                    env.name
                )),
                Vec::new(),
                Vec::new(),
            ),
            None => (
                "UTC".to_string(),
                true,
                Some(
                    "no promotion policy is loaded: promotions are refused (policy-missing)"
                        .to_string(),
                ),
                Vec::new(),
                Vec::new(),
            ),
        };
        let open = open_promotions(app, &env.name)?;
        let planned: Vec<Planned> = open
            .iter()
            .map(|p| Planned {
                id: p.id.clone(),
                repository: policy_repository(app, &p.target_repository),
                tag: p.tag.as_ref().map(ToString::to_string),
                at_ms: p.scheduled_for_ms.unwrap_or(p.updated_at_ms),
                scheduled: p.state == PromotionState::Scheduled,
            })
            .collect();
        let mut current = BTreeMap::new();
        for d in &app.config.dependencies {
            for name in
                std::iter::once(&d.repository).chain(d.requires.iter().map(|r| &r.repository))
            {
                if current.contains_key(name) {
                    continue;
                }
                let repo: Result<RepoName, _> = format!("{}{name}", env.prefix).parse();
                let tag = match repo {
                    Ok(r) => app
                        .store
                        .current(&env.name, &r)?
                        .and_then(|c| c.tag.map(|t| t.to_string())),
                    Err(_) => None,
                };
                current.insert(name.clone(), tag);
            }
        }
        let in_range = |p: &&PromotionRecord| {
            p.state == PromotionState::Scheduled
                && p.scheduled_for_ms
                    .is_some_and(|t| t >= from.timestamp_millis() && t < to.timestamp_millis())
        };
        let scheduled: Vec<Scheduled> = open
            .iter()
            .filter(in_range)
            .map(|p| Scheduled {
                id: p.id.clone(),
                at: at(p.scheduled_for_ms.unwrap_or_default()),
                repository: policy_repository(app, &p.target_repository),
                target_repository: p.target_repository.clone(),
                artifact: p.artifact.clone(),
                tag: p.tag.as_ref().map(ToString::to_string),
                requested_by: p.requested_by.clone(),
                state: state_name(p.state),
                emergency: p.emergency,
                change_request: p.change_request.clone(),
            })
            .collect();
        let shown: Vec<&str> = scheduled.iter().map(|s| s.id.as_str()).collect();
        let conflicts = conflicts(&env.name, &app.config.dependencies, &current, &planned)
            .into_iter()
            .filter(|c| shown.contains(&c.promotion.as_str()))
            .collect();
        environments.push(EnvironmentCalendar {
            name: env.name.clone(),
            timezone,
            always_open,
            note,
            windows,
            freezes,
            scheduled,
            conflicts,
        });
    }
    Ok(Calendar {
        from,
        to,
        generated_at: at(now_ms()),
        policy_digest: loaded.map(|l| l.policy.digest().clone()),
        environments,
    })
}

/// Scheduled and other open promotions into `env`.
fn open_promotions(app: &App, env: &str) -> ApiResult<Vec<PromotionRecord>> {
    let all = app.store.list_promotions(
        &PromotionFilter {
            environment: Some(env.to_string()),
            ..PromotionFilter::default()
        },
        usize::MAX,
    )?;
    let mut open: Vec<PromotionRecord> = all.into_iter().filter(|p| p.state.is_open()).collect();
    open.sort_by_key(|p| (p.scheduled_for_ms.unwrap_or(p.created_at_ms), p.id.clone()));
    Ok(open)
}

/// An open promotion, as conflict detection sees it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: String,
    pub repository: String,
    pub tag: Option<String>,
    /// When it is to run (scheduled), or when it was last decided (pending, copying).
    pub at_ms: i64,
    pub scheduled: bool,
}

fn version(tag: Option<&str>) -> Option<semver::Version> {
    let t = tag?;
    semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()
}

/// Conflicts among the scheduled promotions into `env`, given what it runs now (`current`,
/// by repository) and every open promotion into it (`planned`):
///
/// - a promotion scheduled before anything brings a version its dependency needs: the
///   environment runs none that satisfies, and no open promotion of a satisfying version is
///   scheduled at or before it (it would wait, `dependency-not-ready`, or never run);
/// - a promotion scheduled to bring a version a repository running there does not accept.
pub fn conflicts(
    env: &str,
    deps: &[Dependency],
    current: &BTreeMap<String, Option<String>>,
    planned: &[Planned],
) -> Vec<Conflict> {
    let mut out = Vec::new();
    for p in planned.iter().filter(|p| p.scheduled) {
        if let Some(d) = deps.iter().find(|d| d.repository == p.repository) {
            for r in &d.requires {
                let ok = |tag: Option<&str>| version(tag).is_some_and(|v| r.version.matches(&v));
                let runs = current.get(&r.repository).cloned().flatten();
                if ok(runs.as_deref()) {
                    continue;
                }
                let bringing: Vec<&Planned> = planned
                    .iter()
                    .filter(|q| q.repository == r.repository && ok(q.tag.as_deref()))
                    .collect();
                if bringing.iter().any(|q| q.at_ms <= p.at_ms) {
                    continue;
                }
                let runs_text = runs.as_deref().unwrap_or("nothing");
                let message = match bringing.iter().map(|q| q.at_ms).min() {
                    Some(later) => format!(
                        "{} is scheduled into {env} at {}, before {} {} (needs {}) at {}; it waits (dependency-not-ready) until then",
                        p.repository,
                        at(p.at_ms).to_rfc3339(),
                        r.repository,
                        bringing
                            .iter()
                            .find(|q| q.at_ms == later)
                            .and_then(|q| q.tag.as_deref())
                            .unwrap_or_default(),
                        r.version,
                        at(later).to_rfc3339()
                    ),
                    None => format!(
                        "{} is scheduled into {env} at {}, but {env} runs {} of {} and nothing scheduled brings a version matching {}: it will wait (dependency-not-ready)",
                        p.repository,
                        at(p.at_ms).to_rfc3339(),
                        runs_text,
                        r.repository,
                        r.version
                    ),
                };
                out.push(Conflict {
                    promotion: p.id.clone(),
                    repository: p.repository.clone(),
                    dependency: r.repository.clone(),
                    requires: r.version.to_string(),
                    message,
                });
            }
        }
        // Repositories that depend on this one and run in the environment.
        let Some(v) = version(p.tag.as_deref()) else {
            continue;
        };
        for d in deps {
            let Some(r) = d.requires.iter().find(|r| r.repository == p.repository) else {
                continue;
            };
            let Some(Some(runs)) = current.get(&d.repository) else {
                continue;
            };
            if r.version.matches(&v) {
                continue;
            }
            out.push(Conflict {
                promotion: p.id.clone(),
                repository: p.repository.clone(),
                dependency: d.repository.clone(),
                requires: r.version.to_string(),
                message: format!(
                    "{} {v} is scheduled into {env} at {}, but {} {runs} running there requires {} {}",
                    p.repository,
                    at(p.at_ms).to_rfc3339(),
                    d.repository,
                    p.repository,
                    r.version
                ),
            });
        }
    }
    out
}

async fn json(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CalendarQuery>,
) -> ApiResult<Response> {
    let p = app.auth.authenticate(&headers)?;
    app.auth.require_principal(p.as_deref())?;
    Ok(axum::Json(build(&app, &q)?).into_response())
}

async fn icalendar(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CalendarQuery>,
) -> ApiResult<Response> {
    let p = app.auth.authenticate(&headers)?;
    app.auth.require_principal(p.as_deref())?;
    let cal = build(&app, &q)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tollgate-calendar.ics\"",
            ),
        ],
        ics::render(&cal),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Requirement;

    fn dep(repo: &str, on: &str, req: &str) -> Dependency {
        Dependency {
            repository: repo.into(),
            requires: vec![Requirement {
                repository: on.into(),
                version: semver::VersionReq::parse(req).unwrap(),
                source: "tollgate.toml:3".into(),
            }],
        }
    }

    fn planned(id: &str, repo: &str, tag: &str, at_ms: i64, scheduled: bool) -> Planned {
        Planned {
            id: id.into(),
            repository: repo.into(),
            tag: Some(tag.into()),
            at_ms,
            scheduled,
        }
    }

    #[test]
    fn conflicts_between_interdependent_schedules() {
        let deps = [dep("app-web", "app-api", ">=1.4.0")];
        let mut current = BTreeMap::new();
        current.insert("app-api".to_string(), Some("1.3.0".to_string()));
        current.insert("app-web".to_string(), None);
        // web before api: a conflict naming both times
        let plan = [
            planned("p1", "app-web", "2.0.0", 1_000, true),
            planned("p2", "app-api", "1.4.0", 2_000, true),
        ];
        let c = conflicts("prod", &deps, &current, &plan);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].promotion, "p1");
        assert_eq!(c[0].dependency, "app-api");
        assert!(
            c[0].message.contains("before app-api 1.4.0"),
            "{}",
            c[0].message
        );
        // api first (or at the same time): none
        let plan = [
            planned("p1", "app-web", "2.0.0", 2_000, true),
            planned("p2", "app-api", "1.4.0", 2_000, true),
        ];
        assert!(conflicts("prod", &deps, &current, &plan).is_empty());
        // api in flight (pending) at a satisfying version: none
        let plan = [
            planned("p1", "app-web", "2.0.0", 2_000, true),
            planned("p2", "app-api", "1.5.0", 500, false),
        ];
        assert!(conflicts("prod", &deps, &current, &plan).is_empty());
        // only a version that does not satisfy is scheduled: a conflict saying what runs
        let plan = [
            planned("p1", "app-web", "2.0.0", 2_000, true),
            planned("p2", "app-api", "1.3.5", 1_000, true),
        ];
        let c = conflicts("prod", &deps, &current, &plan);
        assert_eq!(c.len(), 1);
        assert!(
            c[0].message.contains("runs 1.3.0 of app-api"),
            "{}",
            c[0].message
        );
        // already satisfied in the environment: none
        current.insert("app-api".to_string(), Some("v1.4.1".to_string()));
        let plan = [planned("p1", "app-web", "2.0.0", 2_000, true)];
        assert!(conflicts("prod", &deps, &current, &plan).is_empty());
        // a scheduled downgrade of api below what the running web needs
        current.insert("app-web".to_string(), Some("2.0.0".to_string()));
        let plan = [planned("p3", "app-api", "1.2.0", 3_000, true)];
        let c = conflicts("prod", &deps, &current, &plan);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].promotion.as_str(), c[0].dependency.as_str()),
            ("p3", "app-web")
        );
        assert!(
            c[0].message.contains("requires app-api >=1.4.0"),
            "{}",
            c[0].message
        );
    }

    #[test]
    fn ranges_default_cap_and_parse() {
        let now: DateTime<Utc> = "2026-06-10T10:00:00Z".parse().unwrap();
        let (f, t) = range(&CalendarQuery::default(), now).unwrap();
        assert_eq!((f, t - f), (now, Duration::days(14)));
        let q = CalendarQuery {
            from: Some("2026-12-01".into()),
            to: Some("2026-12-24T12:00:00+01:00".into()),
            env: None,
        };
        let (f, t) = range(&q, now).unwrap();
        assert_eq!(f.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(t.to_rfc3339(), "2026-12-24T11:00:00+00:00");
        for (from, to, needle) in [
            ("2026-01-01", "2027-01-03", "longer than 366 days"),
            ("2026-01-02", "2026-01-01", "must be after"),
            ("yesterday", "2026-01-01", "neither an RFC 3339 time"),
        ] {
            let q = CalendarQuery {
                from: Some(from.into()),
                to: Some(to.into()),
                env: None,
            };
            let e = range(&q, now).unwrap_err();
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }
}
