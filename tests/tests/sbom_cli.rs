//! `tollgate sbom inspect` and `tollgate sbom check` as a CI job runs them: JSON out, exit 1 on
//! a licence violation, 2 on unusable input.

use std::path::PathBuf;

use serde_json::Value;
use tollgate_e2e::tollgate_cli;

fn fx(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sbom")
        .join(rel)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = tollgate_cli(args);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn inspect_reports_format_counts_and_licences() {
    let (code, v, err) = run(&[
        "sbom",
        "inspect",
        &fx("cyclonedx/dropwizard-1.3.15.cdx-1.2.json"),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["format"], "cyclonedx");
    assert_eq!(v["spec_version"], "1.2");
    assert_eq!(v["components"], 167);
    assert_eq!(v["dependency_entries"], 167);
    let (code, v, _) = run(&[
        "sbom",
        "inspect",
        &fx("spdx/SPDXJSONExample-v2.3.spdx.json"),
    ]);
    assert_eq!((code, v["format"].as_str()), (Some(0), Some("spdx")));
}

#[test]
fn check_is_a_ci_gate() {
    let alpine = fx("spdx/alpine-latest.syft.spdx-2.2.json");
    let (code, v, _) = run(&["sbom", "check", &alpine, "--deny", "GPL-2.0-only"]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["failed"], 6, "{v}");
    let names: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["outcome"] == "fail")
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"busybox"), "{names:?}");
    assert!(
        v["violations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["reason"] == "license-denied" || x["outcome"] != "fail")
    );

    // nothing denied: passes
    let (code, v, _) = run(&[
        "sbom",
        "check",
        &alpine,
        "--deny",
        "AGPL-3.0-only",
        "--unknown",
        "deny",
    ]);
    assert_eq!(code, Some(0), "{v}");
    // an allow-list that leaves out MIT fails the AND expression of the npm demo
    let npm = fx("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json");
    let (code, v, _) = run(&[
        "sbom",
        "check",
        &npm,
        "--allow",
        "CC-BY-3.0",
        "--allow",
        "ISC",
    ]);
    assert_eq!(code, Some(1), "{v}");
}

#[test]
fn unusable_input_exits_2() {
    for args in [
        vec!["sbom", "check", "/nonexistent.json"],
        vec!["sbom", "inspect", "/etc/hostname"],
        vec!["sbom", "check", "/dev/null", "--unknown", "maybe"],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("tollgate sbom"), "{err}");
    }
}
