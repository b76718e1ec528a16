//! The artifact page: where a digest is (repositories, tags, environments), its evidence with
//! verdicts, its SBOMs, its promotions — and the evidence chain as a graph: source commit →
//! CI job → builder → artifact → signatures, attestations, SBOMs → promotions.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use serde_json::Value;
use tollgate_store::{PromotionFilter, PromotionRecord};

use super::graph::{self, Node};
use super::{
    Nav, QueryMap, Ui, Viewer, badge, error_page, page, q, redirect, respond, short_digest, time,
    time_str,
};
use crate::error::{ApiError, ErrorCode};

/// Promotions of one artifact shown (newest first).
const PROMOTIONS_SHOWN: usize = 20;

/// `GET /ui/artifacts`: find an artifact by digest, or `repo:tag`.
pub async fn find(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(qm): Query<QueryMap>,
) -> Response {
    let viewer = match ui.viewer(&headers, "/ui/artifacts") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut problem = None;
    if let Some(wanted) = q(&qm, "ref") {
        match resolve(&ui, &viewer, wanted) {
            Ok(d) => return redirect(&format!("/ui/artifacts/{d}")),
            Err(e) => problem = Some(e.message),
        }
    }
    let body = html! {
        h1 { "Artifacts" }
        form.filters method="get" action="/ui/artifacts" role="search" aria-label="Find an artifact" {
            div.field.wide {
                label for="ref" { "Digest or repository:tag" }
                input id="ref" name="ref" type="search" required spellcheck="false"
                    value=(q(&qm, "ref").unwrap_or_default())
                    placeholder="sha256:… or dev/shop:1.4.2" aria-describedby="ref-help";
                p.help id="ref-help" { "To find artifacts by the packages they contain, use "
                    a href="/ui/sbom" { "SBOM search" } "." }
            }
            button type="submit" { "Open" }
        }
        @if let Some(p) = problem { p.notice role="alert" { (p) } }
    };
    respond(
        StatusCode::OK,
        page("Artifacts", Some(&viewer), Nav::Artifacts, body),
    )
}

/// A digest, or the digest a readable `repo:tag` names.
fn resolve(ui: &Ui, viewer: &Viewer, wanted: &str) -> Result<String, ApiError> {
    if wanted.starts_with("sha256:") {
        return crate::oci::parse_digest(wanted).map(|d| d.to_string());
    }
    let (repo, tag) = wanted
        .rsplit_once(':')
        .filter(|(r, _)| !r.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("{wanted:?} is neither sha256:… nor repository:tag"),
            )
        })?;
    let repo = crate::oci::parse_name(repo)?;
    ui.app.auth.authorize(
        Some(&viewer.principal),
        tollgate_policies::Action::Pull,
        &repo,
    )?;
    let tag: tollgate_policies::Tag = tag
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, format!("{tag:?} is not a tag")))?;
    ui.app
        .store
        .resolve_tag(&repo, &tag)?
        .map(|d| d.to_string())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no tag {wanted}")))
}

/// `GET /ui/artifacts/{digest}`.
pub async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(digest): Path<String>,
) -> Response {
    let viewer = match ui.viewer(&headers, &format!("/ui/artifacts/{digest}")) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    match render(&ui, &viewer, &digest) {
        Ok(body) => respond(
            StatusCode::OK,
            page(
                &format!("Artifact {}", short_digest(&digest)),
                Some(&viewer),
                Nav::Artifacts,
                body,
            ),
        ),
        Err(e) => error_page(Some(&viewer), &e),
    }
}

fn render(ui: &Ui, viewer: &Viewer, digest: &str) -> Result<Markup, ApiError> {
    let d = crate::oci::parse_digest(digest)?;
    let Some(rec) = crate::api::artifact_record(&ui.app, Some(&viewer.principal), &d)? else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no artifact {d} in any repository you can read"),
        ));
    };
    let repos: Vec<tollgate_policies::RepoName> = rec["repositories"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(rec["files"].as_array().into_iter().flatten())
        .filter_map(|e| e["repository"].as_str()?.parse().ok())
        .collect();
    let environments = crate::promotion::environments_holding(&ui.app, &d, &repos)?;
    let promotions = ui.app.store.list_promotions(
        &PromotionFilter {
            artifact: Some(d.clone()),
            ..PromotionFilter::default()
        },
        PROMOTIONS_SHOWN,
    )?;
    let verifications = ui.app.store.verifications(&d, None)?;
    let empty = Vec::new();
    let arr = |k: &str| rec[k].as_array().unwrap_or(&empty).clone();
    let (entries, files, signatures, attestations, sboms) = (
        arr("repositories"),
        arr("files"),
        arr("signatures"),
        arr("attestations"),
        arr("sboms"),
    );
    let provenance = &rec["provenance"];
    Ok(html! {
        h1 { "Artifact " code title=(d) { (short_digest(&d.to_string())) } }
        dl.facts {
            dt { "Digest" } dd { code.wrap { (d) } }
            dt { "Environments" } dd #environments {
                @if environments.is_empty() { "none" }
                @for e in &environments { span.badge.neutral { (e) } " " }
            }
        }
        section aria-labelledby="chain" {
            h2 id="chain" { "Evidence chain" }
            div.scroll { (evidence_graph(&d.to_string(), provenance, &entries, &signatures, &attestations, &sboms, &promotions)) }
        }
        section aria-labelledby="where" {
            h2 id="where" { "Repositories and tags" }
            @if entries.is_empty() && files.is_empty() { p.empty { "In no repository you can read." } }
            @else {
                div.scroll { table {
                    thead { tr { th scope="col" { "Repository" } th scope="col" { "Tags or path" } th scope="col" { "Pushed by" } th scope="col" { "At" } } }
                    tbody {
                        @for e in &entries { tr {
                            td { (e["repository"].as_str().unwrap_or_default()) }
                            td { @for t in e["tags"].as_array().unwrap_or(&empty) { code { (t.as_str().unwrap_or_default()) } " " } }
                            td { (e["pushed_by"].as_str().unwrap_or_default()) }
                            td { (time_str(e["pushed_at"].as_str().unwrap_or_default())) }
                        } }
                        @for f in &files { tr {
                            td { (f["repository"].as_str().unwrap_or_default()) }
                            td { code { (f["path"].as_str().unwrap_or_default()) } }
                            td { (f["pushed_by"].as_str().unwrap_or_default()) }
                            td { (time_str(f["pushed_at"].as_str().unwrap_or_default())) }
                        } }
                    }
                } }
            }
        }
        section aria-labelledby="prov" {
            h2 id="prov" { "Provenance" }
            @if provenance.is_null() { p.empty { "No verified provenance." } }
            @else {
                dl.facts {
                    @for (k, label) in [("predicate_type", "Predicate"), ("builder_id", "Builder"), ("build_type", "Build type"),
                        ("source_uri", "Source"), ("source_ref", "Ref"), ("source_commit", "Commit"), ("invocation_id", "CI job"),
                        ("run_url", "Run"), ("started_on", "Started"), ("finished_on", "Finished")] {
                        @if let Some(v) = provenance[k].as_str() { dt { (label) } dd { code.wrap { (v) } } }
                    }
                    @if !provenance["environment"].is_null() {
                        dt { "Build environment" } dd { code.wrap { (provenance["environment"].to_string()) } }
                    }
                }
            }
        }
        section aria-labelledby="evidence" {
            h2 id="evidence" { "Signatures and attestations" }
            @if signatures.is_empty() && attestations.is_empty() { p.empty { "No evidence recorded." } }
            @else {
                div.scroll { table {
                    thead { tr { th scope="col" { "Kind" } th scope="col" { "Verdict" } th scope="col" { "Reason code" } th scope="col" { "Signer" } th scope="col" { "Predicate" } th scope="col" { "Recorded" } } }
                    tbody { @for e in signatures.iter().chain(attestations.iter()) { tr {
                        td { (e["kind"].as_str().unwrap_or_default()) }
                        td { (badge(if e["verified"] == true { "verified" } else { "unverified" })) }
                        td { @if let Some(r) = e["reason"].as_str() { code.reason { (r) } } }
                        td { (signer(&e["signer"])) }
                        td { (e["predicate_type"].as_str().unwrap_or("")) }
                        td { (time_str(e["recorded_at"].as_str().unwrap_or_default())) }
                    } } }
                } }
            }
        }
        section aria-labelledby="sboms" {
            h2 id="sboms" { "SBOMs" }
            @if sboms.is_empty() { p.empty { "No SBOM recorded." } }
            @else {
                ul { @for s in &sboms { li {
                    (s["format"].as_str().unwrap_or_default()) " " (s["spec_version"].as_str().unwrap_or_default())
                    ", " (s["components"]) " components, via " (s["source"].as_str().unwrap_or_default())
                    " (" code title=(s["sbom_digest"].as_str().unwrap_or_default()) { (short_digest(s["sbom_digest"].as_str().unwrap_or_default())) } ")"
                } } }
            }
        }
        section aria-labelledby="proms" {
            h2 id="proms" { "Promotions" }
            @if promotions.is_empty() { p.empty { "Never asked to be promoted." } }
            @else {
                div.scroll { table {
                    thead { tr { th scope="col" { "Promotion" } th scope="col" { "To" } th scope="col" { "State" } th scope="col" { "Reason codes" } th scope="col" { "Approvals" } th scope="col" { "Updated" } } }
                    tbody { @for p in &promotions { tr {
                        td { a href={"/ui/promotions/" (p.id)} { (p.id) } }
                        td { (p.target_repository) }
                        td { (badge(&state(p))) }
                        td { @for r in p.decision["reasons"].as_array().unwrap_or(&empty) { code.reason { (r.as_str().unwrap_or_default()) } " " } }
                        td { @for a in &p.approvals { (a.by) " (" (a.group) ") " } }
                        td { (time(p.updated_at_ms)) }
                    } } }
                } }
            }
        }
        section aria-labelledby="verif" {
            h2 id="verif" { "Verification results" }
            @if verifications.is_empty() { p.empty { "None recorded." } }
            @else {
                ul { @for v in &verifications { li {
                    (v.kind) " in " (v.environment) ": " (badge(v.result.as_str()))
                    @if v.signer.is_some() { " (signed)" } " · " (time(v.at_ms))
                } } }
            }
        }
    })
}

fn state(p: &PromotionRecord) -> String {
    serde_json::to_value(p.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn signer(s: &Value) -> String {
    match s["kind"].as_str() {
        Some("key") => format!("key {}", s["name"].as_str().unwrap_or_default()),
        Some("identity") => format!(
            "{} ({})",
            s["subject"].as_str().unwrap_or_default(),
            s["issuer"].as_str().unwrap_or_default()
        ),
        _ => String::new(),
    }
}

fn tail_of(s: &str) -> &str {
    s.trim_end_matches('/').rsplit('/').next().unwrap_or(s)
}

/// The graph's nodes and edges, from the artifact record and its promotions.
#[allow(clippy::too_many_arguments)]
fn evidence_graph(
    digest: &str,
    provenance: &Value,
    entries: &[Value],
    signatures: &[Value],
    attestations: &[Value],
    sboms: &[Value],
    promotions: &[PromotionRecord],
) -> Markup {
    let mut nodes: Vec<Node> = Vec::new();
    let mut edges: Vec<(String, String)> = Vec::new();
    let p = |k: &str| provenance[k].as_str().map(str::to_string);
    let status = |ok: bool| if ok { "ok" } else { "none" };
    let commit = p("source_commit");
    let source = p("source_uri");
    nodes.push(Node {
        id: "source".into(),
        column: 0,
        kind: "source",
        label: source
            .as_deref()
            .map_or("Source unknown".into(), |s| tail_of(s).to_string()),
        detail: commit.as_deref().map_or_else(
            || p("source_ref").unwrap_or_else(|| "no commit recorded".into()),
            |c| format!("commit {}", &c[..c.len().min(12)]),
        ),
        full: format!(
            "Source {} at {} {}",
            source.as_deref().unwrap_or("unknown"),
            commit.as_deref().unwrap_or("(no commit)"),
            p("source_ref").unwrap_or_default()
        ),
        href: None,
        status: status(source.is_some()),
    });
    let job = p("invocation_id");
    nodes.push(Node {
        id: "job".into(),
        column: 1,
        kind: "job",
        label: "CI job".into(),
        detail: job.clone().unwrap_or_else(|| "not recorded".into()),
        full: format!(
            "CI job {}{}",
            job.as_deref().unwrap_or("not recorded"),
            p("run_url").map(|u| format!(" ({u})")).unwrap_or_default()
        ),
        href: p("run_url").filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        status: status(job.is_some()),
    });
    let builder = p("builder_id");
    nodes.push(Node {
        id: "builder".into(),
        column: 2,
        kind: "builder",
        label: "Builder".into(),
        detail: builder
            .as_deref()
            .map_or("unknown".into(), |b| tail_of(b).to_string()),
        full: format!(
            "Builder {}{}",
            builder.as_deref().unwrap_or("unknown"),
            if provenance["environment"].is_null() {
                String::new()
            } else {
                format!("; build environment {}", provenance["environment"])
            }
        ),
        href: None,
        status: status(builder.is_some()),
    });
    let tags: Vec<String> = entries
        .iter()
        .flat_map(|e| {
            let repo = e["repository"].as_str().unwrap_or_default().to_string();
            e["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |t| Some(format!("{repo}:{}", t.as_str()?)))
        })
        .collect();
    nodes.push(Node {
        id: "artifact".into(),
        column: 3,
        kind: "artifact",
        label: short_digest(digest),
        detail: tags.first().cloned().unwrap_or_else(|| "untagged".into()),
        full: format!("Artifact {digest} {}", tags.join(", ")),
        href: None,
        status: "ok",
    });
    edges.push(("source".into(), "job".into()));
    edges.push(("job".into(), "builder".into()));
    edges.push(("builder".into(), "artifact".into()));
    let mut evidence_ids = Vec::new();
    for (i, s) in signatures.iter().enumerate() {
        let ok = s["verified"] == true;
        let id = format!("sig-{i}");
        nodes.push(Node {
            id: id.clone(),
            column: 4,
            kind: "signature",
            label: "Signature".into(),
            detail: if ok {
                signer(&s["signer"])
            } else {
                s["reason"].as_str().unwrap_or("unverified").to_string()
            },
            full: format!(
                "Signature {}: {} {}",
                if ok { "verified" } else { "not verified" },
                signer(&s["signer"]),
                s["reason"].as_str().unwrap_or_default()
            ),
            href: None,
            status: if ok { "ok" } else { "bad" },
        });
        evidence_ids.push(id);
    }
    for (i, a) in attestations.iter().enumerate() {
        let ok = a["verified"] == true;
        let id = format!("att-{i}");
        let pt = a["predicate_type"].as_str().unwrap_or("attestation");
        nodes.push(Node {
            id: id.clone(),
            column: 4,
            kind: "attestation",
            label: "Attestation".into(),
            detail: if ok {
                tail_of(pt.trim_start_matches("https://")).to_string()
                    + if pt.contains("slsa.dev/provenance") {
                        " (SLSA)"
                    } else {
                        ""
                    }
            } else {
                a["reason"].as_str().unwrap_or("unverified").to_string()
            },
            full: format!(
                "Attestation {pt}: {} {}",
                if ok { "verified" } else { "not verified" },
                a["reason"].as_str().unwrap_or_default()
            ),
            href: None,
            status: if ok { "ok" } else { "bad" },
        });
        evidence_ids.push(id);
    }
    for (i, s) in sboms.iter().enumerate() {
        let id = format!("sbom-{i}");
        nodes.push(Node {
            id: id.clone(),
            column: 4,
            kind: "sbom",
            label: format!(
                "SBOM {} {}",
                s["format"].as_str().unwrap_or_default(),
                s["spec_version"].as_str().unwrap_or_default()
            ),
            detail: format!("{} components", s["components"]),
            full: format!(
                "SBOM {} with {} components, via {}",
                s["sbom_digest"].as_str().unwrap_or_default(),
                s["components"],
                s["source"].as_str().unwrap_or_default()
            ),
            href: None,
            status: "ok",
        });
        evidence_ids.push(id);
    }
    if evidence_ids.is_empty() {
        nodes.push(Node {
            id: "no-evidence".into(),
            column: 4,
            kind: "missing",
            label: "No evidence".into(),
            detail: "no signature, attestation or SBOM".into(),
            full: "No signature, attestation or SBOM is recorded".into(),
            href: None,
            status: "bad",
        });
        evidence_ids.push("no-evidence".into());
    }
    for e in &evidence_ids {
        edges.push(("artifact".into(), e.clone()));
    }
    for p in promotions {
        let id = format!("prm-{}", p.id);
        let st = state(p);
        nodes.push(Node {
            id: id.clone(),
            column: 5,
            kind: "promotion",
            // The environment leads: the id is in the tooltip and the link, and together
            // they overflow the box.
            label: format!("→ {}", p.target_environment),
            detail: if p.approvals.is_empty() {
                format!("{st} · {}", p.id)
            } else {
                format!("{st}, {} approval(s)", p.approvals.len())
            },
            full: format!(
                "Promotion {} to {}: {st}; decision {}; reasons {}; approved by {}",
                p.id,
                p.target_repository,
                p.decision["verdict"].as_str().unwrap_or_default(),
                p.decision["reasons"],
                p.approvals
                    .iter()
                    .map(|a| format!("{} ({})", a.by, a.group))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            href: Some(format!("/ui/promotions/{}", p.id)),
            status: match p.state {
                tollgate_store::PromotionState::Promoted => "ok",
                tollgate_store::PromotionState::Denied | tollgate_store::PromotionState::Failed => {
                    "bad"
                }
                _ => "wait",
            },
        });
        // Every promotion was decided on all of the evidence.
        for e in &evidence_ids {
            edges.push((e.clone(), id.clone()));
        }
    }
    let desc = format!(
        "Source {} → CI job {} → builder {} → artifact {digest} → {} signature(s), {} attestation(s), {} SBOM(s) → {} promotion(s)",
        source.as_deref().unwrap_or("unknown"),
        job.as_deref().unwrap_or("unknown"),
        builder.as_deref().unwrap_or("unknown"),
        signatures.len(),
        attestations.len(),
        sboms.len(),
        promotions.len()
    );
    graph::layered(
        "evidence-graph",
        "Evidence chain",
        &desc,
        &[
            "Source",
            "CI job",
            "Builder",
            "Artifact",
            "Evidence",
            "Promotions",
        ],
        &nodes,
        &edges,
    )
}
