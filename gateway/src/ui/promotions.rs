//! Promotions: the list (waiting for approval by default), one promotion's decision and
//! record, and the approve / reject actions, which call the API's own functions.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use serde_json::Value;
use tollgate_policies::{Action, ApproverGroup};
use tollgate_store::{PromotionFilter, PromotionRecord, PromotionState};

use super::{
    Form, Nav, QueryMap, Ui, Viewer, badge, digest_link, error_page, page, q, redirect, respond,
    time,
};
use crate::api::promotions::promotion_json;
use crate::error::{ApiError, ErrorCode};
use crate::promotion::release_log::{self, RejectionRequest};
use crate::promotion::{self, ApprovalRequest};

/// Promotions shown per list page.
const LIST_LIMIT: usize = 50;

const STATES: &[(&str, &str)] = &[
    ("pending", "Waiting for approval"),
    ("promoted", "Promoted"),
    ("denied", "Denied"),
    ("failed", "Failed"),
    ("copying", "Copying"),
    ("scheduled", "Scheduled"),
    ("cancelled", "Cancelled"),
    ("all", "All"),
];

fn state_of(s: &str) -> Option<PromotionState> {
    serde_json::from_value(Value::String(s.to_string())).ok()
}

fn state_name(s: PromotionState) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The approver groups the viewer may approve for on this promotion's target.
fn groups_for(viewer: &Viewer, rec: &PromotionRecord) -> Vec<ApproverGroup> {
    ApproverGroup::ALL
        .into_iter()
        .filter(|g| {
            viewer
                .principal
                .may(Action::Approve(*g), &rec.target_repository)
        })
        .collect()
}

/// `GET /ui/`: promotions, waiting ones first.
pub async fn list(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(qm): Query<QueryMap>,
) -> Response {
    let viewer = match ui.viewer(&headers, "/ui/") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let state_param = q(&qm, "state").unwrap_or("pending");
    let state = match state_param {
        "all" => None,
        s => match state_of(s) {
            Some(st) => Some(st),
            None => {
                return error_page(
                    Some(&viewer),
                    &ApiError::new(
                        ErrorCode::BadRequest,
                        format!(
                            "state {s:?} is not one of pending, promoted, denied, failed, copying, all"
                        ),
                    ),
                );
            }
        },
    };
    let environment = q(&qm, "environment").map(str::to_string);
    let filter = PromotionFilter {
        environment: environment.clone(),
        state,
        ..PromotionFilter::default()
    };
    let recs = match ui.app.store.list_promotions(&filter, LIST_LIMIT + 1) {
        Ok(r) => r,
        Err(e) => return error_page(Some(&viewer), &e.into()),
    };
    let more = recs.len() > LIST_LIMIT;
    let recs = &recs[..recs.len().min(LIST_LIMIT)];
    let heading = STATES
        .iter()
        .find(|(k, _)| *k == state_param)
        .map_or("Promotions", |(_, l)| l);
    let envs: Vec<&str> = ui
        .app
        .config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let body = html! {
        h1 { (heading) }
        form.filters method="get" action="/ui/" role="search" aria-label="Filter promotions" {
            div.field {
                label for="state" { "State" }
                select id="state" name="state" {
                    @for (k, l) in STATES {
                        option value=(k) selected[*k == state_param] { (l) }
                    }
                }
            }
            div.field {
                label for="environment" { "Environment" }
                select id="environment" name="environment" {
                    option value="" { "Any" }
                    @for e in &envs {
                        option value=(e) selected[environment.as_deref() == Some(*e)] { (e) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if recs.is_empty() {
            p.empty { @if state == Some(PromotionState::Pending) { "No promotions are waiting." } @else { "No promotions match." } }
        } @else {
            @if more {
                p.help { "The newest " (LIST_LIMIT) " are shown; narrow by environment to see others." }
            }
            ul.cards {
                @for rec in recs {
                    li { (card(&viewer, rec)) }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(heading, Some(&viewer), Nav::Promotions, body),
    )
}

/// The rules that did not simply pass, with their codes and messages.
fn open_rules(decision: &Value) -> Vec<&Value> {
    decision["rules"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["status"] != "pass" && r["status"] != "not-applicable")
                .collect()
        })
        .unwrap_or_default()
}

fn what(rec: &PromotionRecord) -> String {
    match (&rec.tag, &rec.path) {
        (Some(t), _) => format!("{}:{t}", rec.source_repository),
        (None, Some(p)) => format!("{}/{p}", rec.source_repository),
        (None, None) => rec.source_repository.to_string(),
    }
}

fn card(viewer: &Viewer, rec: &PromotionRecord) -> Markup {
    let title_id = format!("p-{}", rec.id);
    html! {
        article.card aria-labelledby=(title_id) data-promotion=(rec.id) {
            header {
                h2 id=(title_id) {
                    a href={"/ui/promotions/" (rec.id)} { (rec.id) }
                    " " (what(rec)) " → " (rec.target_environment)
                }
                (badge(&state_name(rec.state)))
            }
            p.meta {
                "Requested by " strong { (rec.requested_by) } " · " (time(rec.created_at_ms))
                " · " (digest_link(&rec.artifact.to_string()))
                @if !rec.approvals.is_empty() {
                    " · approved by "
                    @for (i, a) in rec.approvals.iter().enumerate() {
                        @if i > 0 { ", " }
                        (a.by) " (" (a.group) ")"
                    }
                }
            }
            @let rules = open_rules(&rec.decision);
            @if !rules.is_empty() {
                (rules_table(&rules, false))
            }
            @if rec.state == PromotionState::Pending {
                (actions(viewer, rec))
            }
        }
    }
}

fn rules_table(rules: &[&Value], all: bool) -> Markup {
    html! {
        div.scroll {
            table.rules {
                caption { @if all { "Every rule of the decision" } @else { "Rules not passed" } }
                thead { tr {
                    th scope="col" { "Rule" }
                    th scope="col" { "Status" }
                    th scope="col" { "Reason code" }
                    th scope="col" { "Message" }
                    @if all { th scope="col" { "Policy" } }
                } }
                tbody {
                    @for r in rules {
                        tr {
                            td { (r["rule"].as_str().unwrap_or_default()) }
                            td { (badge(r["status"].as_str().unwrap_or_default())) }
                            td { @if let Some(c) = r["reason"].as_str() { code.reason { (c) } } }
                            td { (r["message"].as_str().unwrap_or_default()) }
                            @if all { td { @if let Some(s) = r["source"].as_str() { code { (s) } } } }
                        }
                    }
                }
            }
        }
    }
}

/// Approve / reject forms for those who may; a note for those who may not.
fn actions(viewer: &Viewer, rec: &PromotionRecord) -> Markup {
    let groups = groups_for(viewer, rec);
    if groups.is_empty() {
        return html! {
            p.help { "Waiting for approvers. You hold no approver role for "
                code { (rec.target_repository) } "." }
        };
    }
    let id = &rec.id;
    html! {
        div.actions {
            form.approve method="post" action={"/ui/promotions/" (id) "/approve"} aria-label={"Approve " (id)} {
                input type="hidden" name="csrf" value=(viewer.session.csrf);
                (group_field(&format!("ag-{id}"), &groups))
                div.field {
                    label for={"ac-" (id)} { "Comment (optional)" }
                    input id={"ac-" (id)} name="comment" type="text" maxlength="1000";
                }
                button.primary type="submit" { "Approve" }
            }
            form.reject method="post" action={"/ui/promotions/" (id) "/reject"} aria-label={"Reject " (id)} {
                input type="hidden" name="csrf" value=(viewer.session.csrf);
                (group_field(&format!("rg-{id}"), &groups))
                div.field {
                    label for={"rc-" (id)} { "Why (required)" }
                    textarea id={"rc-" (id)} name="comment" required maxlength="2000" rows="2" {}
                }
                button.danger type="submit" { "Deny" }
            }
        }
    }
}

fn group_field(id: &str, groups: &[ApproverGroup]) -> Markup {
    html! {
        @if groups.len() == 1 {
            input type="hidden" name="group" value=(groups[0].as_str());
            p.help { "As " strong { (groups[0].as_str()) } " approver" }
        } @else {
            div.field {
                label for=(id) { "As approver for" }
                select id=(id) name="group" {
                    @for g in groups { option value=(g.as_str()) { (g.as_str()) } }
                }
            }
        }
    }
}

/// `GET /ui/promotions/{id}`.
pub async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(qm): Query<QueryMap>,
) -> Response {
    let viewer = match ui.viewer(&headers, &format!("/ui/promotions/{id}")) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let rec = match ui.app.store.get_promotion(&id) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error_page(
                Some(&viewer),
                &ApiError::new(ErrorCode::NotFound, format!("no promotion {id}")),
            );
        }
        Err(e) => return error_page(Some(&viewer), &e.into()),
    };
    respond(
        StatusCode::OK,
        page(
            &format!("Promotion {id}"),
            Some(&viewer),
            Nav::Promotions,
            html! {
                @match q(&qm, "done") {
                    Some("approved") => p.notice role="status" { "Your approval was recorded. The promotion is now " strong { (state_name(rec.state)) } "." },
                    Some("rejected") => p.notice role="status" { "You denied this promotion." },
                    _ => {},
                }
                (detail(&viewer, &rec))
            },
        ),
    )
}

fn detail(viewer: &Viewer, rec: &PromotionRecord) -> Markup {
    let j = promotion_json(rec);
    let d = &rec.decision;
    let rules: Vec<&Value> = d["rules"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let state = state_name(rec.state);
    html! {
        h1 { "Promotion " (rec.id) " " (badge(&state)) }
        p.lead { (what(rec)) " → " strong { (rec.target_repository) } " in " (rec.target_environment) }
        dl.facts {
            dt { "Artifact" } dd { (digest_link(&rec.artifact.to_string())) }
            dt { "State" } dd #state { (state) }
            dt { "Verdict" } dd { (badge(d["verdict"].as_str().unwrap_or("—"))) }
            dt { "Requested by" } dd { (rec.requested_by) " at " (time(rec.created_at_ms)) }
            dt { "Owner" } dd { (j["owner"].as_str().unwrap_or_default()) }
            @if let Some(c) = &rec.change_request { dt { "Change request" } dd { (c) } }
            @if let Some(t) = &rec.justification { dt { "Justification" } dd { (t) } }
            @if rec.emergency { dt { "Emergency" } dd { "yes (break-glass)" } }
            @if rec.rollback { dt { "Rollback" } dd { "yes" } }
            @if let Some(b) = &rec.bundle { dt { "Bundle" } dd { (b) } }
            @if let Some(p) = d["policy_digest"].as_str() { dt { "Policy" } dd { code title=(p) { (super::short_digest(p)) } } }
            @if let Some(t) = d["evaluated_at"].as_str() { dt { "Decided" } dd { (super::time_str(t)) } }
            dt { "Updated" } dd { (time(rec.updated_at_ms)) }
            @if let Some(e) = &rec.error { dt { "Copy error" } dd { (e) } }
        }
        @if rec.state == PromotionState::Pending {
            section aria-labelledby="act" {
                h2 id="act" { "Your part" }
                (actions(viewer, rec))
            }
        }
        section aria-labelledby="dec" {
            h2 id="dec" { "Decision" }
            @if let Some(rs) = d["reasons"].as_array().filter(|r| !r.is_empty()) {
                p { "Reason codes: "
                    @for r in rs { code.reason { (r.as_str().unwrap_or_default()) } " " }
                }
            }
            @if rules.is_empty() { p.empty { "No rules were evaluated." } }
            @else { (rules_table(&rules, true)) }
        }
        section aria-labelledby="appr" {
            h2 id="appr" { "Approvals" }
            @if rec.approvals.is_empty() { p.empty { "No approvals yet." } }
            @else {
                table { thead { tr { th scope="col" { "By" } th scope="col" { "Group" } th scope="col" { "Comment" } th scope="col" { "At" } } }
                    tbody { @for a in &rec.approvals { tr {
                        td { (a.by) } td { (a.group) } td { (a.comment.as_deref().unwrap_or("")) } td { (time(a.at_ms)) }
                    } } } }
            }
        }
        section aria-labelledby="chk" {
            h2 id="chk" { "Checklist" }
            @if rec.checklist.is_empty() { p.empty { "Nothing confirmed." } }
            @else {
                table { thead { tr { th scope="col" { "Item" } th scope="col" { "By" } th scope="col" { "As" } th scope="col" { "Comment" } th scope="col" { "At" } } }
                    tbody { @for c in &rec.checklist { tr {
                        td { (c.item) } td { (c.by) } td { (c.roles.join(", ")) } td { (c.comment.as_deref().unwrap_or("")) } td { (time(c.at_ms)) }
                    } } } }
            }
        }
        section aria-labelledby="notes" {
            h2 id="notes" { "Notes" }
            @if rec.notes.is_empty() { p.empty { "No notes." } }
            @else { ul { @for n in &rec.notes { li { (time(n.at_ms)) " " strong { (n.by) } ": " (n.text) } } } }
        }
        section aria-labelledby="out" {
            h2 id="out" { "Outcome" }
            @match &rec.outcome {
                None => p.empty { "Nobody has reported how the deployment went." },
                Some(o) => p { (badge(o.outcome.as_str())) " reported by " (o.by) " at " (time(o.at_ms))
                    @if let Some(c) = &o.comment { ": " (c) } },
            }
            @if let Some(pm) = &rec.postmortem {
                p { "Post-mortem: "
                    @match &pm.link { Some(l) => a href=(l) rel="noreferrer" { (l) }, None => strong { "open" } } }
            }
        }
    }
}

/// The promotion id in a form's path, checked before anything else is read.
fn after_action(id: &str, done: &str) -> Response {
    redirect(&format!("/ui/promotions/{id}?done={done}"))
}

/// `POST /ui/promotions/{id}/approve`: `promotion::approve`, as the API calls it.
pub async fn approve(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    let viewer = match ui.actor(&headers, &form) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let req = ApprovalRequest {
        group: form.get("group").unwrap_or_default().to_string(),
        comment: form
            .get("comment")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    };
    match promotion::approve(&ui.app, &viewer.principal, &id, req).await {
        Ok(_) => after_action(&id, "approved"),
        Err(e) => error_page(Some(&viewer), &e),
    }
}

/// `POST /ui/promotions/{id}/reject`: `release_log::reject`, as the API calls it.
pub async fn reject(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    let viewer = match ui.actor(&headers, &form) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let req = RejectionRequest {
        group: form.get("group").unwrap_or_default().to_string(),
        comment: form.get("comment").unwrap_or_default().to_string(),
    };
    match release_log::reject(&ui.app, &viewer.principal, &id, req).await {
        Ok(_) => after_action(&id, "rejected"),
        Err(e) => error_page(Some(&viewer), &e),
    }
}
