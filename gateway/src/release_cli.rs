//! `tollgate verification`, `tollgate checklist`, `tollgate note`, `tollgate outcome` and
//! `tollgate reject`: what happens around a deployment, from a terminal or a pipeline step —
//! a CI job records its smoke-test result, people confirm checklist items, the owner keeps
//! notes and reports the outcome, an approver turns a promotion down.
//!
//! The promotion commands print the promotion and exit like `tollgate promote` (0 promoted,
//! 1 denied or failed, 3 pending, 2 errors). `verification record` exits 0 once recorded
//! (whatever the result says: recording a failure is a success of the command), 2 on errors.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::client::{Gateway, GatewayArgs, query};
use crate::promote_cli::{PROMOTED, Report, exit_for, promotion_path, report, state};

#[derive(Debug, clap::Subcommand)]
pub enum VerificationCommand {
    /// Record a verification result for an artifact in an environment it runs in: plain
    /// (`--result`, needs the verifier role) or signed (`--attestation`, an in-toto statement
    /// in a DSSE envelope or Sigstore bundle; its predicate says the result).
    Record(RecordArgs),
    /// List the results recorded for an artifact, oldest first.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The artifact: sha256:…, repo:tag or repo@sha256:…
    pub artifact: String,
    /// The environment the result was measured in
    #[arg(long, value_name = "ENV")]
    pub environment: String,
    /// What was verified, as policy names it: smoke-test, success-criteria, canary, …
    #[arg(long)]
    pub kind: String,
    /// passed, warned or failed (for a plain result)
    #[arg(long, conflicts_with = "attestation")]
    pub result: Option<String>,
    /// A measurement, NAME=NUMBER (repeatable; for success criteria)
    #[arg(
        long = "metric",
        value_name = "NAME=NUMBER",
        conflicts_with = "attestation"
    )]
    pub metrics: Vec<String>,
    /// A signed result: a file holding a DSSE envelope or Sigstore bundle
    #[arg(long, value_name = "FILE")]
    pub attestation: Option<PathBuf>,
    /// A link to the run (CI job, analysis report); `--url` is the gateway's
    #[arg(long, value_name = "URL")]
    pub link: Option<String>,
    /// Print the recorded result as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The artifact: sha256:…, repo:tag or repo@sha256:…
    pub artifact: String,
    /// Only results for this environment
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,
    /// Print the list as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct ChecklistArgs {
    /// The promotion's id
    pub id: String,
    /// The checklist item to confirm (e.g. backup-validated)
    pub item: String,
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct NoteArgs {
    /// The promotion's id
    pub id: String,
    /// The observation
    pub text: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct OutcomeArgs {
    /// The promotion's id
    pub id: String,
    /// succeeded, failed or rolled-back
    pub outcome: String,
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    /// The promotion's id
    pub id: String,
    /// The approver group rejecting: security, ops, dev or business
    #[arg(long)]
    pub group: String,
    /// Why (required)
    #[arg(long, value_name = "TEXT")]
    pub comment: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

fn metric(s: &str) -> anyhow::Result<(String, f64)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("--metric {s:?}: expected NAME=NUMBER"))?;
    let n: f64 = v
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--metric {s:?}: {v:?} is not a number"))?;
    Ok((k.trim().to_string(), n))
}

/// `tollgate verification record`.
pub async fn record(args: &RecordArgs) -> anyhow::Result<Report> {
    let gw = Gateway::from_args(&args.gateway);
    let digest = crate::inspect::resolve(&gw, &args.artifact).await?;
    let mut body = json!({ "environment": args.environment, "kind": args.kind });
    if let Some(path) = &args.attestation {
        let text =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let doc: Value = serde_json::from_slice(&text)
            .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?;
        body["attestation"] = doc;
    } else {
        let result = args.result.as_deref().ok_or_else(|| {
            anyhow::anyhow!("give --result passed|warned|failed or --attestation FILE")
        })?;
        body["result"] = json!(result);
        if !args.metrics.is_empty() {
            let m: serde_json::Map<String, Value> = args
                .metrics
                .iter()
                .map(|s| metric(s).map(|(k, v)| (k, json!(v))))
                .collect::<anyhow::Result<_>>()?;
            body["metrics"] = Value::Object(m);
        }
    }
    if let Some(u) = &args.link {
        body["url"] = json!(u);
    }
    let v = gw
        .post_json(&format!("/api/v1/artifacts/{digest}/verifications"), &body)
        .await?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&v)?)
    } else {
        let mut out = format!(
            "recorded {} {} {} for {} in {}{}\n",
            v["id"].as_str().unwrap_or("?"),
            v["kind"].as_str().unwrap_or("?"),
            v["result"].as_str().unwrap_or("?"),
            digest,
            v["environment"].as_str().unwrap_or("?"),
            v["signer"]
                .as_str()
                .map(|s| format!(", signed by {s}"))
                .unwrap_or_default()
        );
        for p in v["promotions"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "re-decided {} → {}: {}\n",
                p["id"].as_str().unwrap_or("?"),
                p["environment"].as_str().unwrap_or("?"),
                state(p)
            ));
        }
        out
    };
    Ok(Report {
        text,
        exit: PROMOTED,
    })
}

/// `tollgate verification list`.
pub async fn list(args: &ListArgs) -> anyhow::Result<Report> {
    let gw = Gateway::from_args(&args.gateway);
    let digest = crate::inspect::resolve(&gw, &args.artifact).await?;
    let q = query(&[("environment", args.environment.as_deref())]);
    let v = gw
        .get_json(&format!("/api/v1/artifacts/{digest}/verifications{q}"))
        .await?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&v)?)
    } else {
        let rows: Vec<String> = v["verifications"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "{}  {:<10} {:<18} {:<7} {}",
                    r["at"].as_str().unwrap_or("?"),
                    r["environment"].as_str().unwrap_or("?"),
                    r["kind"].as_str().unwrap_or("?"),
                    r["result"].as_str().unwrap_or("?"),
                    r["signer"]
                        .as_str()
                        .map(|s| format!("signed by {s}"))
                        .unwrap_or_else(|| format!(
                            "by {}",
                            r["recorded_by"].as_str().unwrap_or("?")
                        ))
                )
            })
            .collect();
        if rows.is_empty() {
            format!("no verification results for {digest}\n")
        } else {
            format!("{}\n", rows.join("\n"))
        }
    };
    Ok(Report {
        text,
        exit: PROMOTED,
    })
}

async fn post(gw: &GatewayArgs, id: &str, tail: &str, body: &Value) -> anyhow::Result<Value> {
    let path = format!("{}/{tail}", promotion_path(id)?);
    Gateway::from_args(gw).post_json(&path, body).await
}

/// `tollgate checklist`.
pub async fn checklist(args: &ChecklistArgs) -> anyhow::Result<Report> {
    let mut body = json!({ "item": args.item });
    if let Some(c) = &args.comment {
        body["comment"] = json!(c);
    }
    let p = post(&args.gateway, &args.id, "checklist", &body).await?;
    report(&p, args.json, exit_for(state(&p)))
}

/// `tollgate note`.
pub async fn note(args: &NoteArgs) -> anyhow::Result<Report> {
    let p = post(
        &args.gateway,
        &args.id,
        "notes",
        &json!({ "text": args.text }),
    )
    .await?;
    report(&p, args.json, exit_for(state(&p)))
}

/// `tollgate outcome`.
pub async fn outcome(args: &OutcomeArgs) -> anyhow::Result<Report> {
    let mut body = json!({ "outcome": args.outcome });
    if let Some(c) = &args.comment {
        body["comment"] = json!(c);
    }
    let p = post(&args.gateway, &args.id, "outcome", &body).await?;
    report(&p, args.json, exit_for(state(&p)))
}

/// `tollgate reject`.
pub async fn reject(args: &RejectArgs) -> anyhow::Result<Report> {
    let body = json!({ "group": args.group, "comment": args.comment });
    let p = post(&args.gateway, &args.id, "rejections", &body).await?;
    report(&p, args.json, exit_for(state(&p)))
}
