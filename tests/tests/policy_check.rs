//! `tollgate policy check DIR` as a CI job runs it: diagnostics as file:line:col, exit 0 for
//! a valid policy, 1 for errors, 2 for a directory that cannot be read; `--facts` dry-runs a
//! decision.

use std::path::PathBuf;

use serde_json::Value;
use tollgate_e2e::tollgate_cli;

fn fx(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/policy")
        .join(rel)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tollgate_cli(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_policy_prints_its_digest() {
    let (code, out, err) = run(&["policy", "check", &fx("good")]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("ok: 2 file(s), environments: prod, staging"),
        "{out}"
    );
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("policy "))
        .expect("digest line");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let (code, out, _) = run(&["policy", "check", "--json", &fx("good")]);
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["digest"], digest);
    assert_eq!(
        v["files"],
        serde_json::json!(["base.toml", "overlays/team-a.toml"])
    );
}

#[test]
fn a_loosening_overlay_is_an_error_with_file_and_line() {
    let (code, out, err) = run(&["policy", "check", &fx("loosening")]);
    assert_eq!(code, Some(1), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(
            "overlays/team-a.toml:7:7: error: approvals.ops = 0 is below the base's 1"
        ) && l.contains("would loosen the rule at base.toml:13")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("overlays/team-a.toml:9:1: error:")
                && l.contains("not inside the base's windows")),
        "{out}"
    );
    let (code, out, _) = run(&["policy", "check", "--json", &fx("loosening")]);
    assert_eq!(code, Some(1));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["diagnostics"][0]["file"], "overlays/team-a.toml");
    assert_eq!(v["diagnostics"][0]["line"], 7);
}

#[test]
fn unknown_keys_are_errors() {
    let (code, out, _) = run(&["policy", "check", &fx("broken")]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("base.toml:5:1: error: unknown field `minimum`"),
        "{out}"
    );
}

#[test]
fn an_unreadable_directory_exits_2() {
    let (code, out, err) = run(&["policy", "check", &fx("no-such-dir")]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("not a directory"), "{err}");
    let (code, _, err) = run(&[
        "policy",
        "check",
        &fx("good"),
        "--facts",
        &fx("facts-team-a.json"),
        "--now",
        "yesterday",
    ]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn facts_dry_run_a_decision() {
    // Wednesday 11:00 in Berlin: inside the window. The overlay wants a security approval;
    // alice's does not count (she requested the promotion), so the decision is pending.
    let (code, out, err) = run(&[
        "policy",
        "check",
        "--json",
        &fx("good"),
        "--facts",
        &fx("facts-team-a.json"),
        "--now",
        "2026-06-10T09:00:00Z",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let d = &v["decision"];
    assert_eq!(d["verdict"], "pending", "{d:#}");
    assert_eq!(d["policy_digest"], v["digest"]);
    assert_eq!(
        d["reasons"],
        serde_json::json!(["separation-of-duties", "approvals-missing"])
    );
    // Saturday: the window is closed too, so it is denied.
    let (code, out, _) = run(&[
        "policy",
        "check",
        "--json",
        &fx("good"),
        "--facts",
        &fx("facts-team-a.json"),
        "--now",
        "2026-06-13T09:00:00Z",
    ]);
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["verdict"], "deny");
    assert!(
        v["decision"]["reasons"]
            .as_array()
            .unwrap()
            .contains(&Value::from("window-closed"))
    );
}
