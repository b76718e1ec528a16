//! SBOM search: which artifacts carry a package (optionally in a version range) or a
//! licence, grouped by the environments holding them. One page of the where-used index at a
//! time, with the index's cursor for the next, and the same read rights as the API.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use tollgate_policies::Action;
use tollgate_store::ArtifactEntry;

use super::{Nav, QueryMap, Ui, Viewer, digest_link, error_page, page, q, respond};
use crate::error::{ApiError, ErrorCode};

/// Component hits per page.
const PAGE_HITS: usize = 200;

/// A matching component: name, version, purl, licence.
type Component = (String, Option<String>, Option<String>, Option<String>);

/// One artifact of a result page.
#[derive(Debug)]
struct Found {
    digest: String,
    places: Vec<(String, Vec<String>)>,
    environments: Vec<String>,
    components: Vec<Component>,
}

/// A page of results: artifacts in index order, and the next page's cursor.
fn query(
    ui: &Ui,
    viewer: &Viewer,
    purl: Option<&str>,
    range: Option<&str>,
    license: Option<&str>,
    environment: Option<&str>,
    cursor: Option<&str>,
) -> Result<(Vec<Found>, Option<String>), ApiError> {
    let app = &ui.app;
    let p = Some(&*viewer.principal);
    // As the API does: deprecated licence spellings are looked up under the kept id.
    let license_id = license.map(
        |l| match tollgate_sbom::LicenseExpr::parse(l).map(|e| e.ids()) {
            Ok(ids) if ids.len() == 1 => ids[0].to_string(),
            _ => l.to_string(),
        },
    );
    let query_id = crate::sboms::where_used_query_id(purl, range, license_id.as_deref());
    let after = cursor
        .map(|c| crate::sboms::read_page_token(&query_id, c))
        .transpose()?;
    let page = match (purl, &license_id) {
        (Some(purl), None) => {
            crate::sboms::components_by_purl(&*app.store, purl, range, after.as_ref(), PAGE_HITS)?
        }
        (None, Some(id)) => app
            .store
            .components_by_license(id, after.as_ref(), PAGE_HITS)?,
        _ => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "give a package URL or a licence, not both",
            ));
        }
    };
    let next = page
        .next
        .as_ref()
        .map(|c| crate::sboms::page_token(&query_id, c));
    let mut out: Vec<Found> = Vec::new();
    let mut seen = BTreeMap::<String, Option<usize>>::new();
    for h in page.hits {
        let key = h.subject.to_string();
        let i = match seen.get(&key) {
            Some(Some(i)) => *i,
            Some(None) => continue,
            None => {
                let entries = app.store.artifact(&h.subject)?;
                let visible: Vec<&ArtifactEntry> = entries
                    .iter()
                    .filter(|e| app.auth.authorize(p, Action::Pull, &e.repository).is_ok())
                    .collect();
                if !entries.is_empty() && visible.is_empty() {
                    seen.insert(key, None);
                    continue;
                }
                let repos: Vec<_> = visible.iter().map(|e| e.repository.clone()).collect();
                let environments = crate::promotion::environments_holding(app, &h.subject, &repos)?;
                if environment.is_some_and(|e| !environments.iter().any(|x| x == e)) {
                    seen.insert(key, None);
                    continue;
                }
                out.push(Found {
                    digest: key.clone(),
                    places: visible
                        .iter()
                        .map(|e| {
                            (
                                e.repository.to_string(),
                                e.tags.iter().map(ToString::to_string).collect(),
                            )
                        })
                        .collect(),
                    environments,
                    components: Vec::new(),
                });
                seen.insert(key, Some(out.len() - 1));
                out.len() - 1
            }
        };
        out[i]
            .components
            .push((h.name, h.version, h.purl, h.license));
    }
    Ok((out, next))
}

/// `GET /ui/sbom`.
pub async fn search(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(qm): Query<QueryMap>,
) -> Response {
    let viewer = match ui.viewer(&headers, "/ui/sbom") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let (purl, range, license, environment, cursor) = (
        q(&qm, "purl"),
        q(&qm, "range"),
        q(&qm, "license"),
        q(&qm, "environment"),
        q(&qm, "cursor"),
    );
    let asked = purl.is_some() || license.is_some();
    let result = if asked {
        match query(&ui, &viewer, purl, range, license, environment, cursor) {
            Ok(r) => Some(r),
            Err(e) if e.code == ErrorCode::Internal => return error_page(Some(&viewer), &e),
            Err(e) => {
                return respond(
                    e.code.status_and_name().0,
                    page(
                        "SBOM search",
                        Some(&viewer),
                        Nav::Sbom,
                        html! {
                            (form(&ui, &qm))
                            p.notice role="alert" { (e.message)
                                @if let Some(r) = super::reason_of(&e) { " (" code.reason { (r) } ")" } }
                        },
                    ),
                );
            }
        }
    } else {
        None
    };
    let body = html! {
        (form(&ui, &qm))
        @if let Some((found, next)) = &result {
            (results(&ui, found))
            @if let Some(n) = next {
                nav.pager aria-label="Result pages" {
                    a rel="next" href=(next_href(purl, range, license, environment, n)) { "Next page →" }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page("SBOM search", Some(&viewer), Nav::Sbom, body),
    )
}

fn next_href(
    purl: Option<&str>,
    range: Option<&str>,
    license: Option<&str>,
    environment: Option<&str>,
    cursor: &str,
) -> String {
    let mut link = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("purl", purl),
        ("range", range),
        ("license", license),
        ("environment", environment),
    ] {
        if let Some(v) = v {
            link.append_pair(k, v);
        }
    }
    link.append_pair("cursor", cursor);
    format!("/ui/sbom?{}", link.finish())
}

fn form(ui: &Ui, qm: &QueryMap) -> Markup {
    let envs: Vec<&str> = ui
        .app
        .config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    html! {
        h1 { "SBOM search" }
        p.help { "Where does a package run? Search the SBOMs of every artifact by package URL "
            "(optionally with a version range) or by licence." }
        form.filters method="get" action="/ui/sbom" role="search" aria-label="Search SBOMs" {
            div.field.wide {
                label for="purl" { "Package URL" }
                input id="purl" name="purl" type="search" spellcheck="false"
                    placeholder="pkg:maven/org.apache.logging.log4j/log4j-core"
                    value=(q(qm, "purl").unwrap_or_default());
            }
            div.field {
                label for="range" { "Version range" }
                input id="range" name="range" type="text" spellcheck="false" placeholder="<2.17.1"
                    value=(q(qm, "range").unwrap_or_default());
            }
            div.field {
                label for="license" { "or licence" }
                input id="license" name="license" type="search" spellcheck="false" placeholder="GPL-3.0-only"
                    value=(q(qm, "license").unwrap_or_default());
            }
            div.field {
                label for="environment" { "Environment" }
                select id="environment" name="environment" {
                    option value="" { "Any" }
                    @for e in &envs { option value=(e) selected[q(qm, "environment") == Some(*e)] { (e) } }
                }
            }
            button type="submit" { "Search" }
        }
    }
}

fn results(ui: &Ui, found: &[Found]) -> Markup {
    // Environments in pipeline order, then artifacts in no environment.
    let mut groups: Vec<(String, Vec<&Found>)> = ui
        .app
        .config
        .environments
        .iter()
        .map(|e| (e.name.clone(), Vec::new()))
        .collect();
    let mut nowhere = Vec::new();
    for f in found {
        if f.environments.is_empty() {
            nowhere.push(f);
        }
        for e in &f.environments {
            match groups.iter_mut().find(|(n, _)| n == e) {
                Some((_, list)) => list.push(f),
                None => groups.push((e.clone(), vec![f])),
            }
        }
    }
    if !nowhere.is_empty() {
        groups.push(("in no environment".into(), nowhere));
    }
    html! {
        @if found.is_empty() {
            p.empty role="status" { "No artifact you can read contains it (on this page of the index)." }
        } @else {
            p role="status" { (found.len()) " artifact(s) on this page." }
            @for (env, list) in groups.iter().filter(|(_, l)| !l.is_empty()) {
                section.envgroup aria-label={"In " (env)} data-environment=(env) {
                    h2 { (env) " " span.count { "(" (list.len()) ")" } }
                    div.scroll { table {
                        thead { tr { th scope="col" { "Artifact" } th scope="col" { "Repositories and tags" } th scope="col" { "Matching components" } } }
                        tbody { @for f in list { tr data-artifact=(f.digest) {
                            td { (digest_link(&f.digest)) }
                            td { @for (repo, tags) in &f.places { div { (repo) @if !tags.is_empty() { ":" (tags.join(", ")) } } } }
                            td { ul.plain { @for (name, version, purl, license) in &f.components { li {
                                (name) @if let Some(v) = version { " " (v) }
                                @if let Some(l) = license { " · " (l) }
                                @if let Some(p) = purl { br; code.small { (p) } }
                            } } } }
                        } } }
                    } }
                }
            }
        }
    }
}
