//! `tollgate inspect REF` and `tollgate sbom search`: questions to a running gateway, for a
//! person or a script (and the HTTP helper other client subcommands share).

use http::Method;
use serde_json::Value;

use crate::client::{ApiFailure, Gateway};

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Resolves `REF` (`repo:tag`, `repo@sha256:…` or `sha256:…`) to a digest.
pub async fn resolve(gw: &Gateway, reference: &str) -> anyhow::Result<String> {
    if reference.starts_with("sha256:") || reference.starts_with("sha512:") {
        return Ok(reference.to_string());
    }
    if let Some((_, d)) = reference.split_once('@') {
        return Ok(d.to_string());
    }
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (reference, "latest"),
    };
    let a = gw
        .send(
            Method::HEAD,
            &format!("/v2/{repo}/manifests/{tag}"),
            ACCEPT,
            None,
        )
        .await?;
    if !a.status.is_success() {
        // A HEAD answer has no body: the status says it all.
        anyhow::bail!(
            "{repo}:{tag}: {}",
            ApiFailure::from_answer(a.status, &a.body)
        );
    }
    a.headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("{repo}:{tag}: the gateway sent no Docker-Content-Digest"))
}

pub(crate) fn line(label: &str, value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => format!("  {label:<14} {v}\n"),
        _ => String::new(),
    }
}

fn signer(v: &Value) -> String {
    match v["kind"].as_str() {
        Some("key") => format!("key {}", v["name"].as_str().unwrap_or("?")),
        Some("identity") => format!(
            "{} (issuer {})",
            v["subject"].as_str().unwrap_or("?"),
            v["issuer"].as_str().unwrap_or("?")
        ),
        _ => "unknown".into(),
    }
}

/// Renders an artifact record for a person.
pub fn render(record: &Value) -> String {
    let mut out = format!("artifact {}\n", record["digest"].as_str().unwrap_or("?"));
    for r in record["repositories"].as_array().into_iter().flatten() {
        let tags: Vec<&str> = r["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!(
            "  in {} tags [{}], pushed by {} at {}\n",
            r["repository"].as_str().unwrap_or("?"),
            tags.join(", "),
            r["pushed_by"].as_str().unwrap_or("?"),
            r["pushed_at"].as_str().unwrap_or("?")
        ));
    }
    for (title, key) in [
        ("signatures", "signatures"),
        ("attestations", "attestations"),
    ] {
        let items: Vec<&Value> = record[key].as_array().into_iter().flatten().collect();
        out.push_str(&format!("{title}: {}\n", items.len()));
        for e in items {
            let state = if e["verified"].as_bool() == Some(true) {
                "verified".to_string()
            } else {
                format!("NOT verified ({})", e["reason"].as_str().unwrap_or("?"))
            };
            out.push_str(&format!(
                "  - {} {state}, signer {}\n",
                e["kind"].as_str().unwrap_or("?"),
                signer(&e["signer"])
            ));
            if let Some(p) = e["predicate_type"].as_str() {
                out.push_str(&format!("    predicate {p}\n"));
            }
            if let Some(t) = e.get("tlog").filter(|t| !t.is_null()) {
                out.push_str(&format!(
                    "    logged at index {} on {}\n",
                    t["log_index"],
                    t["integrated_time"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    match record.get("provenance").filter(|p| !p.is_null()) {
        None => out.push_str("provenance: none verified\n"),
        Some(p) => {
            out.push_str("provenance:\n");
            out.push_str(&line("builder", p["builder_id"].as_str()));
            out.push_str(&line("build type", p["build_type"].as_str()));
            out.push_str(&line("source", p["source_uri"].as_str()));
            out.push_str(&line("ref", p["source_ref"].as_str()));
            out.push_str(&line("commit", p["source_commit"].as_str()));
            out.push_str(&line("CI job", p["invocation_id"].as_str()));
            out.push_str(&line("run", p["run_url"].as_str()));
            if let Some(env) = p.get("environment").filter(|e| !e.is_null()) {
                out.push_str(&line("environment", Some(&env.to_string())));
            }
            out.push_str(&line("started", p["started_on"].as_str()));
            out.push_str(&line("finished", p["finished_on"].as_str()));
        }
    }
    out
}

pub async fn inspect(
    base: &str,
    reference: &str,
    token: &str,
    json: bool,
) -> anyhow::Result<String> {
    let gw = Gateway::new(base, token);
    let digest = resolve(&gw, reference).await?;
    let record = gw
        .get_json(&format!("/api/v1/artifacts/{digest}"))
        .await
        .map_err(|e| anyhow::anyhow!("{digest}: {e:#}"))?;
    Ok(if json {
        serde_json::to_string_pretty(&record)?
    } else {
        render(&record)
    })
}

/// `tollgate sbom search`: where-used over everything a running gateway holds, every page of
/// it (`next`), with an artifact whose hits span two pages shown once.
pub async fn sbom_search(
    base: &str,
    token: &str,
    purl: Option<&str>,
    range: Option<&str>,
    license: Option<&str>,
) -> anyhow::Result<String> {
    let pairs = match (purl, license) {
        (Some(p), None) => vec![("purl", Some(p)), ("range", range)],
        (None, Some(l)) if range.is_none() => vec![("license", Some(l))],
        _ => anyhow::bail!("give --purl (optionally with --range) or --license"),
    };
    let gw = Gateway::new(base, token);
    let mut artifacts: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = {
            let mut pairs = pairs.clone();
            pairs.push(("cursor", cursor.as_deref()));
            crate::client::query(&pairs)
        };
        let mut v = gw.get_json(&format!("/api/v1/sbom/components{q}")).await?;
        merge_artifacts(&mut artifacts, v["artifacts"].take());
        match v["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(serde_json::to_string_pretty(
        &serde_json::json!({ "artifacts": artifacts }),
    )?)
}

/// Appends a page's artifacts to `all`; an artifact already there gets the page's components.
fn merge_artifacts(all: &mut Vec<Value>, page: Value) {
    let Value::Array(page) = page else {
        return;
    };
    for mut a in page {
        match all.iter_mut().find(|b| b["artifact"] == a["artifact"]) {
            Some(b) => {
                if let (Some(have), Value::Array(more)) =
                    (b["components"].as_array_mut(), a["components"].take())
                {
                    have.extend(more);
                }
            }
            None => all.push(a),
        }
    }
}
