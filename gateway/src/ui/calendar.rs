//! `GET /ui/calendar`: the release calendar — deployment windows, freezes and scheduled
//! promotions per environment, from the same builder as `GET /api/v1/calendar`, with the
//! `.ics` export one link away.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};

use super::{Nav, QueryMap, Ui, error_page, page, q, respond};
use crate::calendar::{self, Calendar, CalendarQuery};

pub async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(qm): Query<QueryMap>,
) -> Response {
    let viewer = match ui.viewer(&headers, "/ui/calendar") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let query = query_of(&qm);
    match calendar::build(&ui.app, &query) {
        Ok(cal) => respond(
            StatusCode::OK,
            page(
                "Release calendar",
                Some(&viewer),
                Nav::Calendar,
                body(&ui, &query, &cal),
            ),
        ),
        Err(e) => error_page(Some(&viewer), &e),
    }
}

/// `GET /ui/calendar.ics`: the same export as the API's, for a signed-in browser.
pub async fn ics(State(ui): State<Ui>, headers: HeaderMap, Query(qm): Query<QueryMap>) -> Response {
    let viewer = match ui.viewer(&headers, "/ui/calendar") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    match calendar::build(&ui.app, &query_of(&qm)) {
        Ok(cal) => (
            [
                (http::header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (
                    http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"tollgate-calendar.ics\"",
                ),
            ],
            calendar::ics::render(&cal),
        )
            .into_response(),
        Err(e) => error_page(Some(&viewer), &e),
    }
}

fn query_of(qm: &QueryMap) -> CalendarQuery {
    CalendarQuery {
        from: q(qm, "from").map(str::to_string),
        to: q(qm, "to").map(str::to_string),
        env: q(qm, "env").map(str::to_string),
    }
}

fn utc(t: &tollgate_policies::chrono::DateTime<tollgate_policies::chrono::Utc>) -> Markup {
    let iso = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    html! { time datetime=(iso) { (t.format("%a %Y-%m-%d %H:%M")) " UTC" } }
}

fn local(t: &tollgate_policies::chrono::NaiveDateTime) -> String {
    t.format("%a %H:%M").to_string()
}

fn body(ui: &Ui, query: &CalendarQuery, cal: &Calendar) -> Markup {
    let ics = {
        let mut params = vec![
            format!("from={}", cal.from.format("%Y-%m-%dT%H:%M:%SZ")),
            format!("to={}", cal.to.format("%Y-%m-%dT%H:%M:%SZ")),
        ];
        if let Some(e) = &query.env {
            params.push(format!("env={}", urlencoding(e)));
        }
        format!("/ui/calendar.ics?{}", params.join("&"))
    };
    let envs: Vec<&str> = ui
        .app
        .config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    html! {
        h1 { "Release calendar" }
        form.filters method="get" action="/ui/calendar" aria-label="Calendar range" {
            div.field {
                label for="from" { "From (date or RFC 3339)" }
                input id="from" name="from" value=(cal.from.format("%Y-%m-%d"));
            }
            div.field {
                label for="to" { "To" }
                input id="to" name="to" value=(cal.to.format("%Y-%m-%d"));
            }
            div.field {
                label for="env" { "Environment" }
                select id="env" name="env" {
                    option value="" selected[query.env.is_none()] { "All" }
                    @for e in &envs {
                        option value=(e) selected[query.env.as_deref() == Some(*e)] { (e) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        p {
            "From " (utc(&cal.from)) " to " (utc(&cal.to)) ". "
            a href=(ics) { "Export as iCalendar (.ics)" }
            " for your calendar application (scripts: " code { "GET /api/v1/calendar.ics" } " with a token)."
        }
        @for env in &cal.environments {
            section aria-labelledby={"env-" (env.name)} {
                h2 id={"env-" (env.name)} { (env.name) " " small { "(" (env.timezone) ")" } }
                @if let Some(n) = &env.note { p.empty { (n) } }
                @if !env.conflicts.is_empty() {
                    div.alert role="alert" {
                        h3 { "Conflicts" }
                        ul { @for c in &env.conflicts {
                            li { code { "dependency-not-ready" } " " a href={"/ui/promotions/" (c.promotion)} { (c.promotion) } ": " (c.message) }
                        } }
                    }
                }
                h3 { "Scheduled promotions" }
                @if env.scheduled.is_empty() { p.empty { "Nothing scheduled in this range." } }
                @else {
                    div.scroll { table {
                        thead { tr {
                            th scope="col" { "When" } th scope="col" { "Promotion" } th scope="col" { "Repository" }
                            th scope="col" { "Tag" } th scope="col" { "Requested by" } th scope="col" { "State" }
                        } }
                        tbody { @for s in &env.scheduled { tr {
                            td { (utc(&s.at)) }
                            td { a href={"/ui/promotions/" (s.id)} { (s.id) } @if s.emergency { " " (super::badge("emergency")) } }
                            td { (s.repository) }
                            td { @if let Some(t) = &s.tag { code { (t) } } }
                            td { (s.requested_by) }
                            td { (super::badge(s.state)) }
                        } } }
                    } }
                }
                h3 { "Deployment windows" }
                @if env.always_open { p { "Always open: the policy sets no windows (freezes still apply)." } }
                @else if env.windows.is_empty() { p.empty { "No window opens in this range." } }
                @else {
                    div.scroll { table {
                        thead { tr {
                            th scope="col" { "Opens" } th scope="col" { "Closes" } th scope="col" { "Local (" (env.timezone) ")" }
                            th scope="col" { "Applies to" } th scope="col" { "Policy" }
                        } }
                        tbody { @for w in &env.windows { tr {
                            td { (utc(&w.start)) } td { (utc(&w.end)) }
                            td { (local(&w.local_start)) "–" (w.local_end.format("%H:%M")) }
                            td { @match &w.scope.repositories { Some(p) => code { (p) }, None => "every repository" } }
                            td { code { (w.source) } }
                        } } }
                    } }
                }
                h3 { "Freezes" }
                @if env.freezes.is_empty() { p.empty { "No freeze in this range." } }
                @else {
                    ul { @for f in &env.freezes {
                        li { (utc(&f.start)) " – " (utc(&f.end)) ": " strong { (f.reason) } " " code { (f.source) } }
                    } }
                }
            }
        }
    }
}

/// Query-string encoding for an environment name (names are validated, but stay safe).
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
