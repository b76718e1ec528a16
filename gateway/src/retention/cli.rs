//! `tollgate retention plan|apply`: a client of `/api/v1/retention/…` on a running gateway.
//! A table for people by default, the API's JSON with `--json`. Exit 0 when the request
//! succeeded (and, for `apply`, nothing failed), 1 when `apply` reports failures, 2 when the
//! gateway could not be asked or refused.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::{Gateway, GatewayArgs};

#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Dry run: every manifest the rules cover, whether it would be kept or deleted, and why.
    Plan(RetentionArgs),
    /// Delete what the rules say (evidence before its subject); print what went and what failed.
    Apply(RetentionArgs),
}

#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Print the API's JSON answer
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand and says how it went.
pub fn run(cmd: &RetentionCommand) -> ExitCode {
    let (args, what) = match cmd {
        RetentionCommand::Plan(a) => (a, "plan"),
        RetentionCommand::Apply(a) => (a, "apply"),
    };
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(ask(&Gateway::from_args(&args.gateway), what)));
    let v = match answer {
        Ok(v) => v,
        Err(e) => {
            eprintln!("tollgate retention {what}: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", render(&v, what == "apply"));
    }
    let failed = v["summary"]["failed"].as_u64().unwrap_or(0);
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn ask(gw: &Gateway, what: &str) -> anyhow::Result<Value> {
    gw.post_json(
        &format!("/api/v1/retention/{what}"),
        &Value::Object(Default::default()),
    )
    .await
}

fn short(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

/// A cosign digest tag (`sha256-<64 hex>.sig`) shortened like a digest: `sha256-<12 hex>….sig`.
fn short_tag(t: &str) -> String {
    match (t.strip_prefix("sha256-"), t.get(..19), t.get(71..)) {
        (Some(rest), Some(head), Some(tail)) if rest.len() >= 64 => format!("{head}…{tail}"),
        _ => t.to_string(),
    }
}

/// Renders a plan (or an apply report) as a table with a summary.
pub fn render(v: &Value, applied: bool) -> String {
    let mut out = String::new();
    let rules: Vec<String> = v["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut s = r["repositories"].as_str().unwrap_or("?").to_string();
            if let Some(k) = r["keep_versions"].as_u64() {
                s.push_str(&format!(" keep_versions={k}"));
            }
            if let Some(d) = r["untagged_days"].as_u64() {
                s.push_str(&format!(" untagged_days={d}"));
            }
            s
        })
        .collect();
    if rules.is_empty() {
        out.push_str("no retention rules are configured ([[retention.rules]] in the gateway's configuration)\n");
        return out;
    }
    out.push_str(&format!("rules: {}\n", rules.join("; ")));
    let rows: Vec<[String; 6]> = v["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let tags: Vec<String> = d["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(short_tag)
                .collect();
            [
                d["action"].as_str().unwrap_or("?").to_string(),
                d["repository"].as_str().unwrap_or("?").to_string(),
                short(d["digest"].as_str().unwrap_or("?")).to_string(),
                if tags.is_empty() {
                    "-".to_string()
                } else {
                    tags.join(",")
                },
                d["reason"].as_str().unwrap_or("?").to_string(),
                d["message"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    let head = ["ACTION", "REPOSITORY", "DIGEST", "TAGS", "REASON", "WHY"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(head));
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }
    let s = &v["summary"];
    if applied {
        out.push_str(&format!(
            "at {}: deleted {} of {} planned, {} failed, {} kept; {} blob files removed\n",
            v["at"].as_str().unwrap_or("?"),
            s["deleted"],
            s["delete"],
            s["failed"],
            s["keep"],
            s["blobs_removed"],
        ));
        for f in v["failures"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "FAILED {} {}: {}\n",
                f["repository"].as_str().unwrap_or("?"),
                f["digest"].as_str().unwrap_or("?"),
                f["error"].as_str().unwrap_or("?"),
            ));
        }
    } else {
        out.push_str(&format!(
            "at {}: {} to delete, {} to keep (dry run; `tollgate retention apply` deletes)\n",
            v["at"].as_str().unwrap_or("?"),
            s["delete"],
            s["keep"],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn renders_a_table_and_a_summary() {
        let v = json!({
            "at": "2026-06-01T00:00:00.000Z",
            "rules": [{"repositories": "dev/*", "keep_versions": 2, "untagged_days": null}],
            "summary": {"manifests": 2, "keep": 1, "delete": 1},
            "decisions": [
                {"action": "keep", "repository": "dev/app", "digest": "sha256:0123456789abcdef0123", "tags": ["2.0.0"], "reason": "retention-keep-latest", "message": "2.0.0 is one of the newest 2 versions"},
                {"action": "delete", "repository": "dev/app", "digest": "sha256:fedcba9876543210fedc", "tags": [], "reason": "retention-untagged-expired", "message": "untagged"},
            ],
        });
        let t = render(&v, false);
        assert!(t.starts_with("rules: dev/* keep_versions=2\n"), "{t}");
        assert!(t.contains("ACTION  REPOSITORY  DIGEST"), "{t}");
        assert!(
            t.contains("delete  dev/app     sha256:fedcba987654  -"),
            "{t}"
        );
        assert!(
            t.ends_with("1 to delete, 1 to keep (dry run; `tollgate retention apply` deletes)\n"),
            "{t}"
        );
        let tag = format!("sha256-{}.sig", "ab".repeat(32));
        assert_eq!(super::short_tag(&tag), "sha256-abababababab….sig");
        assert_eq!(super::short_tag("1.0.0"), "1.0.0");
        let none = render(&json!({"rules": [], "decisions": []}), false);
        assert!(none.starts_with("no retention rules"), "{none}");
    }
}
