//! `/api/v1/reports/…`: delivery metrics, access review and traceability, as JSON or CSV
//! (`?format=csv`), for auditors and admins.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_attest::Digest;
use tollgate_store::PromotionFilter;

use super::audit::{require_auditor, time_param};
use super::rfc3339;
use crate::app::{App, AppState, now_ms};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::reports::{self, Delivered};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/reports/delivery", get(delivery))
        .route("/reports/access-review", get(access_review))
        .route("/reports/traceability", get(traceability))
}

#[derive(Deserialize)]
struct ReportQuery {
    environment: Option<String>,
    since: Option<String>,
    until: Option<String>,
    window_hours: Option<i64>,
    unused_days: Option<i64>,
    format: Option<String>,
}

impl ReportQuery {
    /// The period asked for: default the last 30 days.
    fn period(&self) -> ApiResult<(i64, i64)> {
        let until = match &self.until {
            Some(v) => time_param("until", v)?,
            None => now_ms(),
        };
        let since = match &self.since {
            Some(v) => time_param("since", v)?,
            None => until - 30 * 86_400_000,
        };
        if since >= until {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "since must be before until",
            ));
        }
        Ok((since, until))
    }

    fn csv(&self) -> ApiResult<bool> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(f) => Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("format {f:?} is not json or csv"),
            )),
        }
    }

    fn environment(&self, app: &App) -> ApiResult<String> {
        let env = self.environment.clone().unwrap_or_else(|| "prod".into());
        if app.config.environments.iter().any(|e| e.name == env) {
            Ok(env)
        } else {
            Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("unknown environment {env:?}"),
            ))
        }
    }
}

fn csv_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// When the artifact was built: its provenance's finishedOn/startedOn, else its first push.
pub(crate) fn built_at(app: &App, d: &Digest) -> ApiResult<Option<i64>> {
    let parse = |s: &str| {
        tollgate_policies::chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    };
    for e in app.store.evidence_for(d)? {
        if let Some(p) = e.verdict.provenance.as_ref().filter(|_| e.verdict.verified)
            && let Some(t) = p
                .finished_on
                .as_deref()
                .and_then(parse)
                .or_else(|| p.started_on.as_deref().and_then(parse))
        {
            return Ok(Some(t));
        }
    }
    Ok(app
        .store
        .artifact(d)?
        .iter()
        .map(|e| e.record.pushed_at_ms)
        .min())
}

async fn delivery(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    require_auditor(&app, &headers)?;
    let (since, until) = q.period()?;
    let env = q.environment(&app)?;
    let csv = q.csv()?;
    let window = q.window_hours.unwrap_or(24).clamp(1, 24 * 90) * 3_600_000;
    let promotions = app.store.list_promotions(
        &PromotionFilter {
            environment: Some(env.clone()),
            ..PromotionFilter::default()
        },
        1_000_000,
    )?;
    let mut history = Vec::with_capacity(promotions.len());
    for p in &promotions {
        history.push(Delivered {
            promotion: p,
            built_at_ms: built_at(&app, &p.artifact)?,
        });
    }
    let r = reports::delivery(&env, &history, since, until, window);
    if csv {
        let row = |k: &str, v: String| vec![k.to_string(), v];
        let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
        let mut rows = vec![
            row("environment", r.environment.clone()),
            row("since", rfc3339(since)),
            row("until", rfc3339(until)),
            row("deployments", r.deployments.to_string()),
            row(
                "deployments_per_day",
                format!("{:.3}", r.deployments_per_day),
            ),
            row("lead_time_hours_median", opt(r.lead_time_hours_median)),
            row("lead_time_hours_p90", opt(r.lead_time_hours_p90)),
            row("change_failures", r.change_failures.to_string()),
            row("change_failure_rate", opt(r.change_failure_rate)),
            row("restores", r.restores.to_string()),
            row(
                "time_to_restore_hours_median",
                opt(r.time_to_restore_hours_median),
            ),
        ];
        for (repo, (n, f)) in &r.repositories {
            rows.push(row(&format!("deployments:{repo}"), n.to_string()));
            rows.push(row(&format!("change_failures:{repo}"), f.to_string()));
        }
        return Ok(csv_response(reports::csv(&["metric", "value"], &rows)));
    }
    let mut v = reports::to_json(&r);
    v["since"] = json!(rfc3339(since));
    v["until"] = json!(rfc3339(until));
    v["window_hours"] = json!(window / 3_600_000);
    Ok(axum::Json(v).into_response())
}

async fn access_review(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    require_auditor(&app, &headers)?;
    let csv = q.csv()?;
    let unused_days = q.unused_days.unwrap_or(90).clamp(1, 3650);
    let tokens = app.store.list_tokens()?;
    let envs: Vec<(String, String)> = app
        .config
        .environments
        .iter()
        .map(|e| (e.name.clone(), e.prefix.clone()))
        .collect();
    let r = reports::access_review(
        &tokens,
        &envs,
        |t| {
            [t.last_used_ms, app.auth.last_used(&t.name)]
                .into_iter()
                .flatten()
                .max()
        },
        now_ms(),
        unused_days,
    );
    if csv {
        let mut cols = vec![
            "token",
            "revoked",
            "roles",
            "created_at",
            "last_used",
            "unused",
        ];
        let env_cols: Vec<String> = envs.iter().map(|(n, _)| format!("env:{n}")).collect();
        cols.extend(env_cols.iter().map(String::as_str));
        let rows: Vec<Vec<String>> = r
            .iter()
            .map(|e| {
                let mut row = vec![
                    e.token.clone(),
                    e.revoked.to_string(),
                    e.roles.join(";"),
                    rfc3339(e.created_at_ms),
                    e.last_used_ms.map(rfc3339).unwrap_or_default(),
                    e.unused.to_string(),
                ];
                row.extend(envs.iter().map(|(n, _)| e.environments[n].join(";")));
                row
            })
            .collect();
        return Ok(csv_response(reports::csv(&cols, &rows)));
    }
    let list: Vec<Value> = r
        .iter()
        .map(|e| {
            let mut v = reports::to_json(e);
            v["created_at"] = json!(rfc3339(e.created_at_ms));
            v["last_used"] = json!(e.last_used_ms.map(rfc3339));
            v
        })
        .collect();
    Ok(axum::Json(json!({
        "unused_days": unused_days,
        "tokens": list,
        "unused": r.iter().filter(|e| e.unused).map(|e| e.token.as_str()).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn traceability(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    require_auditor(&app, &headers)?;
    let (since, until) = q.period()?;
    let env = q.environment(&app)?;
    let csv = q.csv()?;
    let promotions = app.store.list_promotions(
        &PromotionFilter {
            environment: Some(env.clone()),
            ..PromotionFilter::default()
        },
        1_000_000,
    )?;
    let r = reports::traceability(&env, &promotions, since, until);
    if csv {
        let cols = [
            "promotion",
            "state",
            "artifact",
            "repository",
            "tag",
            "requested_by",
            "at",
            "change_request",
            "approvals",
            "policy_digest",
            "emergency",
            "postmortem_open",
            "exceptions",
        ];
        let rows: Vec<Vec<String>> = r
            .iter()
            .map(|e| {
                vec![
                    e.promotion.clone(),
                    e.state.clone(),
                    e.artifact.clone(),
                    e.repository.clone(),
                    e.tag.clone().unwrap_or_default(),
                    e.requested_by.clone(),
                    rfc3339(e.at_ms),
                    e.change_request.clone().unwrap_or_default(),
                    e.approvals.join(";"),
                    e.policy_digest.clone().unwrap_or_default(),
                    e.emergency.to_string(),
                    e.postmortem_open.to_string(),
                    e.exceptions.join(";"),
                ]
            })
            .collect();
        return Ok(csv_response(reports::csv(&cols, &rows)));
    }
    let exceptions: Vec<&reports::TraceEntry> =
        r.iter().filter(|e| !e.exceptions.is_empty()).collect();
    Ok(axum::Json(json!({
        "environment": env,
        "since": rfc3339(since),
        "until": rfc3339(until),
        "promotions": r.iter().map(|e| {
            let mut v = reports::to_json(e);
            v["at"] = json!(rfc3339(e.at_ms));
            v
        }).collect::<Vec<_>>(),
        "exceptions": exceptions.iter().map(|e| json!({
            "promotion": e.promotion, "exceptions": e.exceptions,
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}
