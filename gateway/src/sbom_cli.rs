//! `tollgate sbom inspect` and `tollgate sbom check`: SBOM files judged offline, for people
//! and as a CI gate (exit 1 on a licence violation, 2 on unusable input).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use tollgate_sbom::{LicensePolicy, LicenseState, Outcome, Sbom, UnknownLicense, evaluate, parse};

/// A file that cannot be read or parsed, or bad flags (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

fn load(path: &Path) -> Result<Sbom, InputError> {
    let bytes = std::fs::read(path).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    parse(&bytes).map_err(|e| InputError(format!("{}: {e}", path.display())))
}

fn component_json(c: &tollgate_sbom::Component) -> Value {
    json!({
        "name": c.name,
        "group": c.group,
        "version": c.version,
        "purl": c.purl.as_ref().map(ToString::to_string),
        "license": c.licenses.expression.as_ref().map(ToString::to_string),
    })
}

/// Format, size and a licence summary of one SBOM.
pub fn inspect(path: &Path) -> Result<Value, InputError> {
    let sbom = load(path)?;
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let (mut unknown, mut none) = (0usize, 0usize);
    for c in sbom.inventory() {
        match (&c.licenses.expression, c.licenses.state) {
            (Some(e), LicenseState::Present) => {
                for id in e.ids() {
                    *ids.entry(id.to_string()).or_default() += 1;
                }
            }
            (_, LicenseState::NoneStated) => none += 1,
            _ => unknown += 1,
        }
    }
    Ok(json!({
        "format": sbom.format,
        "spec_version": sbom.spec_version,
        "serial_or_namespace": sbom.serial_or_namespace,
        "root": sbom.root.map(|r| component_json(sbom.component(r))),
        "components": sbom.inventory().len(),
        "dependency_entries": sbom.dependency_entries,
        "unresolved_refs": sbom.unresolved_refs,
        "licenses": { "by_id": ids, "unknown": unknown, "none": none },
        "warnings": sbom.warnings.len(),
    }))
}

/// Every component judged against the allow/deny lists; the JSON report and whether any
/// component failed.
pub fn check(
    path: &Path,
    allow: &[String],
    deny: &[String],
    unknown: &str,
) -> Result<(Value, bool), InputError> {
    let unknown = match unknown {
        "allow" => UnknownLicense::Allow,
        "warn" => UnknownLicense::Warn,
        "deny" => UnknownLicense::Deny,
        other => {
            return Err(InputError(format!(
                "--unknown {other:?}: expected deny, warn or allow"
            )));
        }
    };
    let allow: Vec<&str> = allow.iter().map(String::as_str).collect();
    let deny: Vec<&str> = deny.iter().map(String::as_str).collect();
    let policy = LicensePolicy::new(&allow, &deny, unknown)
        .map_err(|e| InputError(format!("licence policy: {e}")))?;
    let sbom = load(path)?;
    let (mut failed, mut warned) = (0usize, 0usize);
    let mut violations = Vec::new();
    for c in sbom.inventory() {
        let v = evaluate(&policy, c);
        match v.outcome {
            Outcome::Pass => continue,
            Outcome::Fail => failed += 1,
            Outcome::Warn => warned += 1,
        }
        let mut entry = component_json(c);
        entry["outcome"] = json!(v.outcome);
        entry["reason"] = json!(v.reason);
        entry["detail"] = json!(v.detail);
        violations.push(entry);
    }
    let report = json!({
        "file": path.display().to_string(),
        "components": sbom.inventory().len(),
        "failed": failed,
        "warned": warned,
        "violations": violations,
    });
    Ok((report, failed > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/sbom")
            .join(rel)
    }

    #[test]
    fn inspects_and_checks_the_alpine_sbom() {
        let f = fixture("spdx/alpine-latest.syft.spdx-2.2.json");
        let v = inspect(&f).unwrap();
        assert_eq!(v["format"], "spdx");
        assert_eq!(v["components"], 14);
        assert_eq!(v["licenses"]["by_id"]["GPL-2.0-only"], 6);
        let (report, failed) = check(&f, &[], &["GPL-2.0-only".into()], "warn").unwrap();
        assert!(failed);
        assert_eq!(report["failed"], 6, "{report}");
        let (report, failed) = check(&f, &[], &["AGPL-3.0-only".into()], "deny").unwrap();
        assert!(!failed, "{report}");
        assert!(check(&f, &[], &["not a licence (".into()], "warn").is_err());
        assert!(check(&f, &[], &[], "maybe").is_err());
        assert!(inspect(Path::new("/nonexistent")).is_err());
    }
}
