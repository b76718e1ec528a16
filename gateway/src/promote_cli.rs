//! `tollgate promote`, `tollgate approve`, `tollgate promotions` and `tollgate postmortem`:
//! the promotion API (`/api/v1/promotions`) for people at a terminal and for scripts.
//!
//! Each command prints a human summary (or, with `--json`, the gateway's JSON) and says how
//! the promotion stands in its exit code: [`PROMOTED`] 0, [`DENIED`] 1 (denied or failed),
//! [`PENDING`] 3 (waiting for approvals, or still copying); [`ERROR`] 2 is left for bad
//! usage, an unreachable gateway and refused requests, whose message and reason code go to
//! stderr.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{ApiFailure, Gateway, GatewayArgs, query};
use crate::inspect::line;

/// Exit code: the artifact is in the target environment.
pub const PROMOTED: u8 = 0;
/// Exit code: the policy denied the promotion, or its copy failed.
pub const DENIED: u8 = 1;
/// Exit code: usage, connection or HTTP errors.
pub const ERROR: u8 = 2;
/// Exit code: the promotion waits for approvals (or is still being copied).
pub const PENDING: u8 = 3;

/// Promoting or approving may copy the artifact before the gateway answers; the copy runs
/// within the request, so the client waits for it longer than for a plain read.
const COPY_TIMEOUT: Duration = Duration::from_secs(600);

/// How often `--wait` asks again.
const POLL: Duration = Duration::from_secs(1);

/// What a command prints on stdout and the code it exits with.
#[derive(Debug)]
pub struct Report {
    pub text: String,
    pub exit: u8,
}

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The artifact, as it is in the source environment: sha256:…, repo:tag or repo@sha256:…
    pub artifact: String,
    /// The target environment (e.g. staging, prod); the source is the one promoting to it
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// Tag to bind in the target (default: the tag in ARTIFACT, else its highest SemVer tag)
    #[arg(long)]
    pub tag: Option<String>,
    /// Change request id, for environments that require one
    #[arg(long, value_name = "ID")]
    pub change_request: Option<String>,
    /// Why: required for emergency promotions
    #[arg(long, value_name = "TEXT")]
    pub justification: Option<String>,
    /// Break glass: bypass what the policy lets emergencies bypass (needs the breakglass
    /// role; opens a post-mortem)
    #[arg(long)]
    pub emergency: bool,
    /// A rollback to an earlier version (exempt from the version-must-increase rule)
    #[arg(long)]
    pub rollback: bool,
    /// Who owns the deployment (default: the requesting token)
    #[arg(long, value_name = "NAME")]
    pub owner: Option<String>,
    /// Run it at this time instead of now (RFC 3339, e.g. 2026-12-01T09:30:00Z): the
    /// gateway refuses a time outside the environment's windows or in a freeze, and decides
    /// the promotion then (exit 3 while scheduled)
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// When the promotion is pending, wait up to SECS for the approvals that settle it
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// Print the promotion as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The promotion's id (as `tollgate promote` or `tollgate promotions` print it)
    pub id: String,
    /// The approver group to approve for: security, ops, dev or business
    #[arg(long)]
    pub group: String,
    /// A comment stored with the approval
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Print the promotion as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only promotions of this artifact (sha256:…, repo:tag or repo@sha256:…)
    #[arg(long)]
    pub artifact: Option<String>,
    /// Only promotions into this environment
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,
    /// Only promotions in this state: pending, denied, copying, promoted, failed, scheduled or
    /// cancelled
    #[arg(long)]
    pub state: Option<String>,
    /// Only emergency promotions whose post-mortem is still open
    #[arg(long)]
    pub postmortem_open: bool,
    /// At most this many (newest first; the gateway caps it at 1000)
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print the list as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The promotion's id
    pub id: String,
    /// Print the promotion as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The scheduled or pending promotion's id
    pub id: String,
    /// Print the promotion as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct PostmortemArgs {
    /// The emergency promotion's id
    pub id: String,
    /// Where the post-mortem is written up (an absolute URL)
    #[arg(long, value_name = "URL")]
    pub link: String,
    /// Print the promotion as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// The exit code for a promotion in `state`.
pub fn exit_for(state: &str) -> u8 {
    match state {
        "promoted" => PROMOTED,
        "denied" | "failed" | "cancelled" => DENIED,
        _ => PENDING,
    }
}

pub(crate) fn state(p: &Value) -> &str {
    p["state"].as_str().unwrap_or("?")
}

fn settled(p: &Value) -> bool {
    !matches!(state(p), "pending" | "copying" | "scheduled")
}

/// `/api/v1/promotions/{id}`, refusing ids that could not be one (they would change the path).
pub(crate) fn promotion_path(id: &str) -> anyhow::Result<String> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        || id.starts_with('.')
    {
        anyhow::bail!("{id:?} is not a promotion id");
    }
    Ok(format!("/api/v1/promotions/{id}"))
}

pub(crate) fn report(p: &Value, json: bool, exit: u8) -> anyhow::Result<Report> {
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(p)?)
    } else {
        render(p)
    };
    Ok(Report { text, exit })
}

/// `tollgate promote`.
pub async fn promote(args: &PromoteArgs) -> anyhow::Result<Report> {
    let gw = Gateway::from_args(&args.gateway);
    let mut body = json!({ "artifact": args.artifact, "to": args.to });
    for (key, value) in [
        ("tag", &args.tag),
        ("change_request", &args.change_request),
        ("justification", &args.justification),
        ("owner", &args.owner),
        ("at", &args.at),
    ] {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    if args.emergency {
        body["emergency"] = json!(true);
    }
    if args.rollback {
        body["rollback"] = json!(true);
    }
    let mut p = gw
        .clone()
        .with_timeout(COPY_TIMEOUT)
        .post_json("/api/v1/promotions", &body)
        .await?;
    if let Some(secs) = args.wait.filter(|s| *s > 0)
        && !settled(&p)
    {
        p = wait(&gw, p, Duration::from_secs(secs), args.json).await?;
    }
    report(&p, args.json, exit_for(state(&p)))
}

/// Asks for the promotion again until it is no longer pending (or copying) or `limit` has
/// passed. Connection trouble and gateway errors (5xx) while waiting are retried; a refusal
/// (4xx: a revoked token, say) ends the wait.
async fn wait(gw: &Gateway, mut p: Value, limit: Duration, quiet: bool) -> anyhow::Result<Value> {
    let id = p["id"].as_str().unwrap_or_default().to_string();
    let path = promotion_path(&id)?;
    if !quiet {
        let needs = missing_approvals(&p);
        eprintln!(
            "promotion {id} is {}{}; waiting up to {} s",
            state(&p),
            if needs.is_empty() {
                String::new()
            } else {
                format!(" (needs {})", needs.join(", "))
            },
            limit.as_secs()
        );
    }
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            if !quiet {
                eprintln!(
                    "promotion {id} is still {} after {} s",
                    state(&p),
                    limit.as_secs()
                );
            }
            return Ok(p);
        }
        tokio::time::sleep(left.min(POLL)).await;
        match gw
            .clone()
            .with_timeout(left.max(POLL))
            .get_json(&path)
            .await
        {
            Ok(next) => {
                p = next;
                if settled(&p) {
                    return Ok(p);
                }
            }
            Err(e) => match e.downcast_ref::<ApiFailure>() {
                Some(f) if f.status.is_client_error() => return Err(e),
                _ => {
                    if !quiet {
                        eprintln!("tollgate promote: still waiting after an error: {e:#}");
                    }
                }
            },
        }
    }
}

/// `tollgate cancel`: withdraws a scheduled or pending promotion (its requester or an admin).
pub async fn cancel(args: &CancelArgs) -> anyhow::Result<Report> {
    let path = format!("{}/cancel", promotion_path(&args.id)?);
    let p = Gateway::from_args(&args.gateway)
        .post_json(&path, &json!({}))
        .await?;
    let exit = if state(&p) == "cancelled" {
        PROMOTED
    } else {
        ERROR
    };
    report(&p, args.json, exit)
}

/// `tollgate approve`.
pub async fn approve(args: &ApproveArgs) -> anyhow::Result<Report> {
    let path = format!("{}/approvals", promotion_path(&args.id)?);
    let mut body = json!({ "group": args.group });
    if let Some(c) = &args.comment {
        body["comment"] = json!(c);
    }
    let p = Gateway::from_args(&args.gateway)
        .with_timeout(COPY_TIMEOUT)
        .post_json(&path, &body)
        .await?;
    report(&p, args.json, exit_for(state(&p)))
}

/// `tollgate promotions show`.
pub async fn show(args: &ShowArgs) -> anyhow::Result<Report> {
    let p = Gateway::from_args(&args.gateway)
        .get_json(&promotion_path(&args.id)?)
        .await?;
    report(&p, args.json, exit_for(state(&p)))
}

/// `tollgate postmortem`: closes an emergency promotion's post-mortem with its write-up.
pub async fn postmortem(args: &PostmortemArgs) -> anyhow::Result<Report> {
    let path = format!("{}/postmortem", promotion_path(&args.id)?);
    let p = Gateway::from_args(&args.gateway)
        .post_json(&path, &json!({ "link": args.link }))
        .await?;
    report(&p, args.json, PROMOTED)
}

/// `tollgate promotions [list]`.
pub async fn list(args: &ListArgs) -> anyhow::Result<Report> {
    let gw = Gateway::from_args(&args.gateway);
    let artifact = match &args.artifact {
        Some(a) => Some(crate::inspect::resolve(&gw, a).await?),
        None => None,
    };
    let limit = args.limit.to_string();
    let q = query(&[
        ("artifact", artifact.as_deref()),
        ("environment", args.environment.as_deref()),
        ("state", args.state.as_deref()),
        ("postmortem", args.postmortem_open.then_some("open")),
        ("limit", Some(&limit)),
    ]);
    let v = gw.get_json(&format!("/api/v1/promotions{q}")).await?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&v)?)
    } else {
        render_list(&v)
    };
    Ok(Report {
        text,
        exit: PROMOTED,
    })
}

/// `repo:tag`, or `repo` when no tag is bound.
fn target(p: &Value) -> String {
    let repo = p["target_repository"].as_str().unwrap_or("?");
    match p["tag"].as_str() {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_string(),
    }
}

/// What the approvals rule says is missing: `["security 0/1", "ops 0/1"]`.
fn missing_approvals(p: &Value) -> Vec<String> {
    rules(p)
        .filter(|r| {
            r["reason"] == "approvals-missing" && matches!(r["status"].as_str(), Some("fail"))
        })
        .filter_map(|r| r["message"].as_str())
        .flat_map(|m| {
            m.strip_prefix("approvals missing:")
                .unwrap_or(m)
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rules(p: &Value) -> impl Iterator<Item = &Value> {
    p["decision"]["rules"].as_array().into_iter().flatten()
}

fn short(digest: &str) -> &str {
    // `sha256:` and 12 hex digits, as people read them.
    digest.get(..19).unwrap_or(digest)
}

/// One promotion, for a person.
pub fn render(p: &Value) -> String {
    let id = p["id"].as_str().unwrap_or("?");
    let mut out = format!("promotion {id}: {}\n", state(p));
    let from = p["source_repository"]
        .as_str()
        .map(|r| format!(" (from {r})"))
        .unwrap_or_default();
    out.push_str(&line(
        "artifact",
        p["artifact"]
            .as_str()
            .map(|a| format!("{a}{from}"))
            .as_deref(),
    ));
    out.push_str(&line(
        "target",
        Some(&format!(
            "{} (environment {})",
            target(p),
            p["environment"].as_str().unwrap_or("?")
        )),
    ));
    out.push_str(&line(
        "requested",
        p["requested_by"]
            .as_str()
            .map(|by| format!("by {by} at {}", p["created_at"].as_str().unwrap_or("?")))
            .as_deref(),
    ));
    out.push_str(&line(
        "scheduled for",
        p["scheduled_for"]
            .as_str()
            .map(|t| match p["reason"].as_str() {
                Some(r) => format!("{t} ({r})"),
                None => t.to_string(),
            })
            .as_deref(),
    ));
    out.push_str(&line("cancelled by", p["cancelled_by"].as_str()));
    out.push_str(&line("change request", p["change_request"].as_str()));
    out.push_str(&line("justification", p["justification"].as_str()));
    let flags: Vec<&str> = [("emergency", "emergency"), ("rollback", "rollback")]
        .into_iter()
        .filter(|(k, _)| p[*k].as_bool() == Some(true))
        .map(|(_, label)| label)
        .collect();
    out.push_str(&line("kind", Some(&flags.join(", "))));
    let d = &p["decision"];
    if d.is_object() {
        let reasons: Vec<&str> = d["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let verdict = d["verdict"].as_str().unwrap_or("?");
        out.push_str(&line(
            "verdict",
            Some(&if reasons.is_empty() {
                verdict.to_string()
            } else {
                format!("{verdict} ({})", reasons.join(", "))
            }),
        ));
        out.push_str(&line("policy", d["policy_digest"].as_str()));
    }
    if let Some(pm) = p["postmortem"].as_object() {
        let text = if pm.get("open").and_then(Value::as_bool) == Some(true) {
            format!(
                "open since {}; close it with: tollgate postmortem {id} --link URL",
                pm.get("opened_at").and_then(Value::as_str).unwrap_or("?")
            )
        } else {
            format!(
                "closed by {} at {}: {}",
                pm.get("closed_by").and_then(Value::as_str).unwrap_or("?"),
                pm.get("closed_at").and_then(Value::as_str).unwrap_or("?"),
                pm.get("link").and_then(Value::as_str).unwrap_or("?")
            )
        };
        out.push_str(&line("post-mortem", Some(&text)));
    }
    out.push_str(&line("error", p["error"].as_str()));
    // The rules that did not simply pass: status, reason code, message, and where the rule is.
    let flagged: Vec<&Value> = rules(p)
        .filter(|r| matches!(r["status"].as_str(), Some("fail" | "warn" | "bypassed")))
        .collect();
    if !flagged.is_empty() {
        out.push_str("rules:\n");
    }
    let width = flagged
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("-").len())
        .max()
        .unwrap_or(0);
    for r in flagged {
        let rule = r["rule"].as_str().unwrap_or("?");
        let place = match r["source"].as_str() {
            Some(src) => format!("{rule} rule, {src}"),
            None => format!("{rule} rule"),
        };
        out.push_str(&format!(
            "  {:<8} {:<width$}  {} ({place})\n",
            r["status"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("-"),
            r["message"].as_str().unwrap_or(""),
        ));
    }
    let approvals: Vec<&Value> = p["approvals"].as_array().into_iter().flatten().collect();
    if !approvals.is_empty() {
        out.push_str("approvals:\n");
    }
    for a in approvals {
        out.push_str(&format!(
            "  {} by {} at {}",
            a["group"].as_str().unwrap_or("?"),
            a["by"].as_str().unwrap_or("?"),
            a["at"].as_str().unwrap_or("?")
        ));
        if let Some(c) = a["comment"].as_str() {
            out.push_str(&format!(": {c:?}"));
        }
        out.push('\n');
    }
    if state(p) == "pending" {
        let missing = missing_approvals(p);
        if !missing.is_empty() {
            out.push_str(&format!("waiting for approvals: {}\n", missing.join(", ")));
            for m in &missing {
                let group = m.split_whitespace().next().unwrap_or(m);
                out.push_str(&format!(
                    "  an approver for {group} runs: tollgate approve {id} --group {group}\n"
                ));
            }
        }
    }
    out
}

/// A list of promotions, one a line, for a person.
pub fn render_list(v: &Value) -> String {
    let items: Vec<&Value> = v["promotions"].as_array().into_iter().flatten().collect();
    if items.is_empty() {
        return "no promotions\n".to_string();
    }
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|p| {
            let reasons: Vec<&str> = p["decision"]["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut notes = reasons.join(",");
            if p["postmortem"]["open"].as_bool() == Some(true) {
                if !notes.is_empty() {
                    notes.push(' ');
                }
                notes.push_str("(post-mortem open)");
            }
            [
                p["id"].as_str().unwrap_or("?").to_string(),
                state(p).to_string(),
                p["environment"].as_str().unwrap_or("?").to_string(),
                target(p),
                short(p["artifact"].as_str().unwrap_or("?")).to_string(),
                notes,
            ]
        })
        .collect();
    let header = ["ID", "STATE", "ENV", "TARGET", "ARTIFACT", "REASONS"].map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut l = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Value {
        json!({
            "id": "p-1",
            "state": "pending",
            "artifact": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "source_repository": "staging/app",
            "environment": "prod",
            "target_repository": "prod/app",
            "tag": "1.0.0",
            "requested_by": "releaser",
            "change_request": "CHG-000001",
            "emergency": false,
            "decision": {
                "verdict": "pending",
                "reasons": ["approvals-missing"],
                "policy_digest": "sha256:feed",
                "rules": [
                    {"rule": "change-request", "status": "pass", "message": "CHG-000001"},
                    {"rule": "approvals", "status": "fail", "reason": "approvals-missing",
                     "message": "approvals missing: security 0/1, ops 0/1", "source": "base.toml:12"}
                ]
            },
            "approvals": [],
            "postmortem": null,
            "error": null,
        })
    }

    #[test]
    fn a_pending_promotion_says_what_it_waits_for() {
        let p = pending();
        assert_eq!(missing_approvals(&p), ["security 0/1", "ops 0/1"]);
        let text = render(&p);
        assert!(text.starts_with("promotion p-1: pending\n"), "{text}");
        assert!(text.contains("prod/app:1.0.0 (environment prod)"), "{text}");
        assert!(text.contains("sha256:feed"), "{text}");
        assert!(
            text.contains(
                "rules:\n  fail     approvals-missing  approvals missing: security 0/1, ops 0/1 (approvals rule, base.toml:12)\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("change-request"),
            "passing rules are left out: {text}"
        );
        assert!(
            text.contains("tollgate approve p-1 --group security"),
            "{text}"
        );
        assert!(text.contains("tollgate approve p-1 --group ops"), "{text}");
        assert_eq!(exit_for("pending"), PENDING);
        assert_eq!(exit_for("promoted"), PROMOTED);
        assert_eq!(exit_for("denied"), DENIED);
        assert_eq!(exit_for("failed"), DENIED);
        assert_eq!(exit_for("cancelled"), DENIED);
        assert_eq!(exit_for("scheduled"), PENDING);
    }

    #[test]
    fn lists_align_and_note_open_postmortems() {
        let mut p = pending();
        p["postmortem"] = json!({"open": true});
        let text = render_list(&json!({ "promotions": [p] }));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID"), "{text}");
        assert!(lines[1].contains("prod/app:1.0.0"), "{text}");
        assert!(lines[1].contains("sha256:0123456789ab "), "{text}");
        assert!(
            lines[1].ends_with("approvals-missing (post-mortem open)"),
            "{text}"
        );
        assert_eq!(render_list(&json!({"promotions": []})), "no promotions\n");
    }

    #[test]
    fn ids_cannot_change_the_path() {
        assert!(promotion_path("01J9Z-abc_1.2").is_ok());
        for bad in ["", "../tokens", "a/b", "a?b", "..", "a b"] {
            assert!(promotion_path(bad).is_err(), "{bad}");
        }
    }
}
