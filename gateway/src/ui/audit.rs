//! The audit trail: filtered, paged by sequence number as the API pages it, with the state
//! of the log's signed checkpoint. Auditors and admins only, as in the API.

use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use tollgate_store::AuditFilter;

use super::{Nav, QueryMap, Ui, digest_link, error_page, page, q, require_auditor, respond, time};
use crate::error::{ApiError, ErrorCode};

/// Entries per page.
const PAGE: usize = 50;

/// RFC 3339, milliseconds, or a browser's `datetime-local` value (taken as UTC).
fn time_value(name: &str, v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    if v.len() == 16 && v.as_bytes().get(10) == Some(&b'T') {
        return crate::api::audit::time_param(name, &format!("{v}:00Z"));
    }
    crate::api::audit::time_param(name, v)
}

/// `GET /ui/audit`.
pub async fn trail(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(qm): Query<QueryMap>,
) -> Response {
    let viewer = match ui.viewer(&headers, "/ui/audit") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Err(e) = require_auditor(&viewer) {
        return error_page(Some(&viewer), &e);
    }
    let size = ui.app.audit.len();
    let filtered = ["actor", "action", "digest", "since", "until"]
        .iter()
        .any(|k| q(&qm, k).is_some());
    let built = (|| -> Result<AuditFilter, ApiError> {
        Ok(AuditFilter {
            actor: q(&qm, "actor").map(str::to_string),
            action: q(&qm, "action").map(str::to_string),
            digest: q(&qm, "digest").map(crate::oci::parse_digest).transpose()?,
            since_ms: q(&qm, "since")
                .map(|v| time_value("since", v))
                .transpose()?,
            until_ms: q(&qm, "until")
                .map(|v| time_value("until", v))
                .transpose()?,
            from_seq: match q(&qm, "from") {
                Some(v) => v.parse().map_err(|_| {
                    ApiError::new(ErrorCode::BadRequest, format!("from={v:?} is not a number"))
                })?,
                // Unfiltered, the newest page; filtered, from the start.
                None if !filtered => size.saturating_sub(PAGE as u64),
                None => 0,
            },
        })
    })();
    let filter = match built {
        Ok(f) => f,
        Err(e) => return error_page(Some(&viewer), &e),
    };
    let entries = match ui.app.store.query_audit(&filter, PAGE) {
        Ok(l) => l,
        Err(e) => return error_page(Some(&viewer), &e.into()),
    };
    let next = (entries.len() == PAGE)
        .then(|| entries.last().map(|e| e.seq + 1))
        .flatten();
    let checkpoint = ui.app.audit.checkpoint();
    let body = html! {
        h1 { "Audit trail" }
        section.status aria-labelledby="cp" {
            h2 id="cp" { "Log and checkpoint" }
            dl.facts {
                dt { "Entries" } dd #log-size { (size) }
                dt { "Origin" } dd { code { (ui.app.audit.origin()) } }
                @match &checkpoint {
                    Some(cp) => {
                        dt { "Signed checkpoint" } dd #checkpoint-status {
                            (crate::ui::badge(if cp.size == size { "current" } else { "behind" }))
                            " covers " (cp.size) " of " (size) " entries"
                        }
                        dt { "Root" } dd { code.wrap { (cp.root) } }
                        dt { "Verifier key" } dd { code.wrap { (ui.app.audit.verifier_key()) } }
                    }
                    None => { dt { "Signed checkpoint" } dd #checkpoint-status { (crate::ui::badge("unverified")) " none could be signed" } }
                }
            }
            p.help { "Check the whole log offline with " code { "tollgate audit verify" }
                " (see the README); the checkpoint is the signed tree head it compares against." }
        }
        (filters(&qm))
        @if entries.is_empty() {
            p.empty role="status" { "No entries match." }
        } @else {
            div.scroll { table.audit {
                caption { "Entries " (entries[0].seq) "–" (entries[entries.len() - 1].seq) }
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "At" } th scope="col" { "Actor" }
                    th scope="col" { "Action" } th scope="col" { "Repository" } th scope="col" { "Artifact" }
                    th scope="col" { "Decision" } th scope="col" { "Details" }
                } }
                tbody { @for e in &entries { @let d = &e.draft; tr {
                    td { (e.seq) }
                    td { (time(d.at_ms)) }
                    td { (d.actor) }
                    td { code { (d.action) } }
                    td { @if let Some(r) = &d.repository { (r) } }
                    td { @if let Some(g) = &d.digest { (digest_link(&g.to_string())) } }
                    td { @if let Some(x) = &d.decision {
                        @if x.starts_with("prm-") { a href={"/ui/promotions/" (x)} { (x) } } @else { (x) }
                    } }
                    td { @if !d.details.is_null() { code.small.wrap { (details(&d.details)) } } }
                } } }
            } }
        }
        nav.pager aria-label="Audit pages" {
            @if let Some(n) = next { a rel="next" href=(page_href(&qm, n)) { "Later entries →" } }
            @if filter.from_seq > 0 { a href=(page_href(&qm, filter.from_seq.saturating_sub(PAGE as u64))) { "← Earlier entries" } }
            a href="/ui/audit" { "Newest" }
        }
    };
    respond(
        StatusCode::OK,
        page("Audit trail", Some(&viewer), Nav::Audit, body),
    )
}

fn details(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 {
        s.chars().take(199).collect::<String>() + "…"
    } else {
        s
    }
}

fn page_href(qm: &QueryMap, from: u64) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for k in ["actor", "action", "digest", "since", "until"] {
        if let Some(v) = q(qm, k) {
            s.append_pair(k, v);
        }
    }
    s.append_pair("from", &from.to_string());
    format!("/ui/audit?{}", s.finish())
}

fn filters(qm: &QueryMap) -> Markup {
    let field = |id: &str, label: &str, placeholder: &str| {
        html! {
            div.field {
                label for=(id) { (label) }
                input id=(id) name=(id) type="text" spellcheck="false" placeholder=(placeholder)
                    value=(q(qm, id).unwrap_or_default());
            }
        }
    };
    html! {
        form.filters method="get" action="/ui/audit" role="search" aria-label="Filter the audit trail" {
            (field("actor", "Actor", "token name"))
            (field("action", "Action", "promotion-approved"))
            (field("digest", "Artifact digest", "sha256:…"))
            (field("since", "Since (UTC)", "2026-11-01T00:00:00Z"))
            (field("until", "Until (UTC)", "2026-12-01T00:00:00Z"))
            button type="submit" { "Filter" }
        }
    }
}
