//! Reports for auditors and admins: delivery metrics per environment with weekly charts (the
//! same `reports::delivery` the API answers with, over each week of the period), and the
//! access review.

use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use tollgate_store::PromotionFilter;

use super::graph::{bars, fmt_num};
use super::{Nav, QueryMap, Ui, Viewer, error_page, page, q, require_auditor, respond, time};
use crate::app::now_ms;
use crate::error::{ApiError, ErrorCode};
use crate::reports::{self, Delivered, DeliveryReport};

const WEEK_MS: i64 = 7 * 86_400_000;
/// A deployment followed this soon by a rollback or emergency fix failed (the API default).
const FAILURE_WINDOW_MS: i64 = 24 * 3_600_000;

/// The delivery report of `env` over the last `weeks` weeks: the whole period, and each week.
pub fn weekly(
    ui: &Ui,
    env: &str,
    weeks: i64,
    until: i64,
) -> Result<(DeliveryReport, Vec<DeliveryReport>), ApiError> {
    let promotions = ui.app.store.list_promotions(
        &PromotionFilter {
            environment: Some(env.to_string()),
            ..PromotionFilter::default()
        },
        1_000_000,
    )?;
    let since = until - weeks * WEEK_MS;
    let mut history = Vec::with_capacity(promotions.len());
    for p in &promotions {
        // The build time matters only for lead time, i.e. for deployments in the period: the
        // other promotions are not looked up (two store reads each).
        let deployed_in_period = p.state == tollgate_store::PromotionState::Promoted
            && p.updated_at_ms >= since
            && p.updated_at_ms < until;
        history.push(Delivered {
            promotion: p,
            built_at_ms: if deployed_in_period {
                crate::api::reports::built_at(&ui.app, &p.artifact)?
            } else {
                None
            },
        });
    }
    let total = reports::delivery(env, &history, since, until, FAILURE_WINDOW_MS);
    let per_week = (0..weeks)
        .map(|i| {
            let s = since + i * WEEK_MS;
            reports::delivery(env, &history, s, s + WEEK_MS, FAILURE_WINDOW_MS)
        })
        .collect();
    Ok((total, per_week))
}

fn week_label(ms: i64) -> String {
    // Month-day of the week's first day.
    let iso = crate::api::rfc3339(ms);
    iso[5..10].to_string()
}

/// `GET /ui/reports/delivery`.
pub async fn delivery(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(qm): Query<QueryMap>,
) -> Response {
    let viewer = match ui.viewer(&headers, "/ui/reports/delivery") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Err(e) = require_auditor(&viewer) {
        return error_page(Some(&viewer), &e);
    }
    let envs: Vec<String> = ui
        .app
        .config
        .environments
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let default_env = if envs.iter().any(|e| e == "prod") {
        "prod".to_string()
    } else {
        envs.last().cloned().unwrap_or_default()
    };
    let env = q(&qm, "environment").map_or(default_env, str::to_string);
    if !envs.contains(&env) {
        return error_page(
            Some(&viewer),
            &ApiError::new(
                ErrorCode::BadRequest,
                format!("unknown environment {env:?}"),
            ),
        );
    }
    let weeks = q(&qm, "weeks")
        .and_then(|w| w.parse::<i64>().ok())
        .unwrap_or(12)
        .clamp(1, 52);
    let until = now_ms();
    let (total, per_week) = match weekly(&ui, &env, weeks, until) {
        Ok(r) => r,
        Err(e) => return error_page(Some(&viewer), &e),
    };
    let series = |f: &dyn Fn(&DeliveryReport) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        per_week
            .iter()
            .map(|r| (week_label(r.since_ms), f(r)))
            .collect()
    };
    let deploys = series(&|r| Some(r.deployments as f64));
    let lead = series(&|r| r.lead_time_hours_median);
    let cfr = series(&|r| r.change_failure_rate.map(|x| x * 100.0));
    let ttr = series(&|r| r.time_to_restore_hours_median);
    let opt = |v: Option<f64>, unit: &str| {
        v.map_or("—".to_string(), |x| format!("{} {unit}", fmt_num(x)))
    };
    let body = html! {
        h1 { "Delivery: " (env) }
        form.filters method="get" action="/ui/reports/delivery" aria-label="Choose the report" {
            div.field {
                label for="environment" { "Environment" }
                select id="environment" name="environment" {
                    @for e in &envs { option value=(e) selected[*e == env] { (e) } }
                }
            }
            div.field {
                label for="weeks" { "Weeks" }
                input id="weeks" name="weeks" type="number" min="1" max="52" value=(weeks);
            }
            button type="submit" { "Show" }
        }
        p.help { "The last " (weeks) " weeks up to " (time(until)) ". Deployments are completed promotions into "
            (env) "; lead time runs from the build (provenance, else first push) to completion; a change failed when its owner said so, "
            "or a rollback or emergency fix followed within 24 hours; time to restore runs from a failure to the next good deployment." }
        dl.kpis {
            div { dt { "Deployments" } dd { (total.deployments) " " small { "(" (fmt_num(total.deployments_per_day)) "/day)" } } }
            div { dt { "Lead time (median)" } dd { (opt(total.lead_time_hours_median, "h")) } }
            div { dt { "Change-failure rate" } dd { (opt(total.change_failure_rate.map(|x| x * 100.0), "%")) } }
            div { dt { "Time to restore (median)" } dd { (opt(total.time_to_restore_hours_median, "h")) } }
        }
        div.charts {
            (chart("deploys", "Deployments per week", "deployments", &deploys))
            (chart("lead", "Lead time for changes, weekly median", "hours", &lead))
            (chart("cfr", "Change-failure rate per week", "%", &cfr))
            (chart("ttr", "Time to restore, weekly median", "hours", &ttr))
        }
        @if !total.repositories.is_empty() {
            section aria-labelledby="repos" {
                h2 id="repos" { "By repository" }
                div.scroll { table {
                    thead { tr { th scope="col" { "Repository" } th scope="col" { "Deployments" } th scope="col" { "Change failures" } } }
                    tbody { @for (repo, (n, f)) in &total.repositories { tr { td { (repo) } td { (n) } td { (f) } } } }
                } }
            }
        }
    };
    respond(
        StatusCode::OK,
        page("Delivery", Some(&viewer), Nav::Delivery, body),
    )
}

fn chart(id: &str, title: &str, unit: &str, points: &[(String, Option<f64>)]) -> Markup {
    html! {
        figure.chart aria-labelledby={(id) "-cap"} {
            figcaption id={(id) "-cap"} { (title) }
            (bars(id, title, unit, points))
            details {
                summary { "Data" }
                table {
                    thead { tr { th scope="col" { "Week of" } th scope="col" { (unit) } } }
                    tbody { @for (l, v) in points { tr { td { (l) } td { @match v { Some(v) => (fmt_num(*v)), None => "—" } } } } }
                }
            }
        }
    }
}

/// `GET /ui/reports/access-review`.
pub async fn access_review(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(qm): Query<QueryMap>,
) -> Response {
    let viewer = match ui.viewer(&headers, "/ui/reports/access-review") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    match review(&ui, &viewer, &qm) {
        Ok(body) => respond(
            StatusCode::OK,
            page("Access review", Some(&viewer), Nav::Access, body),
        ),
        Err(e) => error_page(Some(&viewer), &e),
    }
}

fn review(ui: &Ui, viewer: &Viewer, qm: &QueryMap) -> Result<Markup, ApiError> {
    require_auditor(viewer)?;
    let unused_days = q(qm, "unused_days")
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(90)
        .clamp(1, 3650);
    let tokens = ui.app.store.list_tokens()?;
    let envs: Vec<(String, String)> = ui
        .app
        .config
        .environments
        .iter()
        .map(|e| (e.name.clone(), e.prefix.clone()))
        .collect();
    let entries = reports::access_review(
        &tokens,
        &envs,
        |t| {
            [t.last_used_ms, ui.app.auth.last_used(&t.name)]
                .into_iter()
                .flatten()
                .max()
        },
        now_ms(),
        unused_days,
    );
    let unused = entries.iter().filter(|e| e.unused).count();
    Ok(html! {
        h1 { "Access review" }
        form.filters method="get" action="/ui/reports/access-review" aria-label="Review settings" {
            div.field {
                label for="unused_days" { "Unused after (days)" }
                input id="unused_days" name="unused_days" type="number" min="1" max="3650" value=(unused_days);
            }
            button type="submit" { "Show" }
        }
        p role="status" { (entries.len()) " token(s); " strong { (unused) } " active but unused for " (unused_days) " days." }
        @if entries.is_empty() { p.empty { "No tokens." } }
        @else {
            div.scroll { table.access {
                thead { tr {
                    th scope="col" { "Token" } th scope="col" { "Status" } th scope="col" { "Roles" }
                    @for (n, _) in &envs { th scope="col" { "In " (n) } }
                    th scope="col" { "Created" } th scope="col" { "Last used" }
                } }
                tbody { @for e in &entries { tr.unused[e.unused] {
                    th scope="row" { (e.token) }
                    td { @if e.revoked { (super::badge("revoked")) } @else if e.unused { (super::badge("unused")) } @else { (super::badge("active")) } }
                    td { @for r in &e.roles { code { (r) } " " } }
                    @for (n, _) in &envs { td { @for g in e.environments.get(n).into_iter().flatten() { code { (g) } " " } } }
                    td { (time(e.created_at_ms)) }
                    td { @match e.last_used_ms { Some(t) => (time(t)), None => "never" } }
                } } }
            } }
        }
    })
}
