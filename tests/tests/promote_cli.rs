//! The promotion CLI end to end (issue 5): `tollgate promote`, `approve`, `promotions` and
//! `postmortem` against a running gateway with a policy that needs no signers — staging takes
//! anything from dev; prod wants a change request and a security approval, and lets an
//! on-call engineer break glass. Checked: the human summaries name the target, the failing
//! rules' reason codes and the missing approvals; `--json` parses with the right state; the
//! exit codes (0 promoted, 1 denied, 3 pending, 2 errors with the server's message); `--wait`
//! gives up on time; listing and filtering; closing a post-mortem.

use std::time::{Duration, Instant};

use tollgate_e2e::serde_json::Value;
use tollgate_e2e::*;

const POLICY: &str = r#"
version = 1

[breakglass]
bypass = ["approvals", "change-request"]
require_justification = true

[environments.dev]
mode = "enforce"

[environments.staging]
mode = "enforce"
from = ["dev"]

[environments.prod]
mode = "enforce"
from = ["staging"]

[environments.prod.approvals]
security = 1
separation_of_duties = true

[environments.prod.change_request]
required = true
pattern = "CHG-[0-9]{6}"
"#;

/// `tollgate ARGS --url <gateway> --token TOKEN`.
fn run(tg: &Tollgate, token: &str, args: &[&str]) -> CmdOutput {
    let base = tg.base_url();
    let mut all = args.to_vec();
    all.extend(["--url", base.as_str(), "--token", token]);
    tollgate_cli(&all)
}

fn code(out: &CmdOutput) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn json_of(out: &CmdOutput) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// The id from the first line of a human summary: `promotion ID: STATE`.
fn id_of(out: &CmdOutput) -> String {
    let stdout = out.stdout_str();
    stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("promotion "))
        .and_then(|l| l.split_once(':'))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| panic!("no `promotion ID:` line: {out}"))
}

fn states(list: &Value) -> Vec<(String, String)> {
    list["promotions"]
        .as_array()
        .unwrap_or_else(|| panic!("no promotions array: {list}"))
        .iter()
        .map(|p| {
            (
                p["environment"].as_str().unwrap_or("?").to_string(),
                p["state"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

#[test]
fn promote_approve_list_and_postmortem_from_the_command_line() {
    let tg = Tollgate::start_with_files(
        TollgateOpts::config("[policy]\ndir = \"policy\"\n"),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let ci = tg.create_token("ci", &["pusher:dev/*"]);
    let releaser = tg.create_token("releaser", &["promoter"]);
    let security = tg.create_token("sec-lead", &["approver(security):prod/*"]);
    let oncall = tg.create_token("oncall", &["breakglass:prod/*"]);
    let img = TinyImage::new();
    tg.basic("ci", &ci).push_image("dev/app", "1.0.0", &img);

    // dev → staging: nothing asked, promoted at once
    let out = run(
        &tg,
        &releaser,
        &["promote", "dev/app:1.0.0", "--to", "staging"],
    );
    assert_eq!(code(&out), 0, "promoted to staging: {out}");
    let text = out.stdout_str();
    assert!(text.contains(": promoted"), "{out}");
    assert!(
        text.contains("staging/app:1.0.0"),
        "names the target: {out}"
    );
    assert!(text.contains(&img.digest), "names the artifact: {out}");
    assert!(text.contains("policy"), "names the policy digest: {out}");

    // staging → prod without a change request: denied, with the reason code
    let out = run(
        &tg,
        &releaser,
        &["promote", "staging/app:1.0.0", "--to", "prod"],
    );
    assert_eq!(code(&out), 1, "denied without a change request: {out}");
    let text = out.stdout_str();
    assert!(text.contains(": denied"), "{out}");
    assert!(text.contains("change-request-missing"), "{out}");
    assert!(text.contains("prod/app:1.0.0"), "{out}");

    // with one: pending, waiting for security
    let out = run(
        &tg,
        &releaser,
        &[
            "promote",
            &img.digest,
            "--to",
            "prod",
            "--change-request",
            "CHG-000123",
        ],
    );
    assert_eq!(code(&out), 3, "pending: {out}");
    let text = out.stdout_str();
    assert!(text.contains("approvals-missing"), "{out}");
    assert!(text.contains("security 0/1"), "says what is missing: {out}");
    let id = id_of(&out);
    assert!(
        text.contains(&format!("tollgate approve {id} --group security")),
        "says how to approve: {out}"
    );

    // asking again with --wait: the same promotion, still pending when the time is up
    let started = Instant::now();
    let out = run(
        &tg,
        &releaser,
        &[
            "promote",
            &img.digest,
            "--to",
            "prod",
            "--change-request",
            "CHG-000123",
            "--wait",
            "1",
            "--json",
        ],
    );
    let took = started.elapsed();
    assert_eq!(code(&out), 3, "still pending after --wait 1: {out}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(20),
        "--wait 1 took {took:?}: {out}"
    );
    let p = json_of(&out);
    assert_eq!(p["state"], "pending", "{p}");
    assert_eq!(p["id"], id.as_str(), "the open promotion is reused: {p}");
    assert_eq!(p["decision"]["reasons"][0], "approvals-missing", "{p}");

    let out = run(&tg, &releaser, &["promotions", "show", &id, "--json"]);
    assert_eq!(code(&out), 3, "show exits by state: {out}");
    assert_eq!(json_of(&out)["state"], "pending", "{out}");

    // approvals the gateway refuses: exit 2 with the message and its reason code
    let out = run(&tg, &releaser, &["approve", &id, "--group", "security"]);
    assert_eq!(code(&out), 2, "a promoter is no approver: {out}");
    assert!(out.stderr_str().contains("role-missing"), "{out}");
    let out = run(&tg, &security, &["approve", &id, "--group", "ops"]);
    assert_eq!(code(&out), 2, "security may not approve for ops: {out}");
    assert!(out.stderr_str().contains("approver(ops)"), "{out}");
    let out = run(
        &tg,
        &security,
        &["approve", "no-such-id", "--group", "security"],
    );
    assert_eq!(code(&out), 2, "{out}");
    assert!(
        out.stderr_str().contains("no promotion no-such-id"),
        "{out}"
    );

    // someone waits for the approval while security approves: both end promoted
    let waiter = {
        let (base, token, digest) = (tg.base_url(), releaser.clone(), img.digest.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let out = tollgate_cli(&[
                "promote",
                &digest,
                "--to",
                "prod",
                "--change-request",
                "CHG-000123",
                "--wait",
                "60",
                "--url",
                &base,
                "--token",
                &token,
            ]);
            (out, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    let out = run(
        &tg,
        &security,
        &[
            "approve",
            &id,
            "--group",
            "security",
            "--comment",
            "reviewed",
        ],
    );
    assert_eq!(code(&out), 0, "approved and promoted: {out}");
    let text = out.stdout_str();
    assert!(text.contains(&format!("promotion {id}: promoted")), "{out}");
    assert!(text.contains("security by sec-lead"), "{out}");
    assert!(text.contains("prod/app:1.0.0"), "{out}");
    let (out, took) = waiter.join().expect("waiting promote");
    assert_eq!(code(&out), 0, "--wait ends with the approval: {out}");
    assert!(
        took < Duration::from_secs(30),
        "--wait returned {took:?} after the approval: {out}"
    );
    assert!(
        out.stdout_str()
            .contains(&format!("promotion {id}: promoted")),
        "{out}"
    );
    let out = run(&tg, &releaser, &["promotions", "show", &id, "--json"]);
    assert_eq!(code(&out), 0, "{out}");
    let p = json_of(&out);
    assert_eq!(p["state"], "promoted", "{p}");
    assert_eq!(p["approvals"][0]["comment"], "reviewed", "{p}");
    tg.admin()
        .get_manifest("prod/app", "1.0.0")
        .expect_status(200, "the promoted tag");

    // listing: all three, then filtered (an artifact by tag resolves to its digest)
    let out = run(&tg, &releaser, &["promotions", "list", "--json"]);
    assert_eq!(code(&out), 0, "{out}");
    let mut all = states(&json_of(&out));
    all.sort();
    assert_eq!(
        all,
        [
            ("prod".to_string(), "denied".to_string()),
            ("prod".to_string(), "promoted".to_string()),
            ("staging".to_string(), "promoted".to_string()),
        ],
        "{out}"
    );
    let out = run(
        &tg,
        &releaser,
        &[
            "promotions",
            "--state",
            "denied",
            "--artifact",
            "dev/app:1.0.0",
            "--json",
        ],
    );
    assert_eq!(code(&out), 0, "{out}");
    assert_eq!(
        states(&json_of(&out)),
        [("prod".to_string(), "denied".to_string())],
        "{out}"
    );
    let out = run(&tg, &releaser, &["promotions", "--environment", "prod"]);
    assert_eq!(code(&out), 0, "{out}");
    let text = out.stdout_str();
    assert!(text.starts_with("ID"), "a table with a header: {out}");
    assert!(text.contains(&id), "{out}");
    assert!(text.contains("change-request-missing"), "{out}");
    assert!(
        !text.contains("staging/app"),
        "filtered by environment: {out}"
    );

    // break glass: promoted at once, with a post-mortem to close
    let hotfix = TinyImage::new();
    tg.basic("ci", &ci)
        .push_image("dev/hotfix", "2.0.0", &hotfix);
    let out = run(
        &tg,
        &releaser,
        &["promote", "dev/hotfix:2.0.0", "--to", "staging"],
    );
    assert_eq!(code(&out), 0, "{out}");
    let out = run(
        &tg,
        &oncall,
        &[
            "promote",
            "staging/hotfix:2.0.0",
            "--to",
            "prod",
            "--emergency",
            "--justification",
            "payment outage, INC-7781",
        ],
    );
    assert_eq!(code(&out), 0, "break-glass promotion: {out}");
    let text = out.stdout_str();
    assert!(
        text.contains("bypassed"),
        "the bypassed rules are shown: {out}"
    );
    assert!(text.contains("breakglass-used"), "{out}");
    assert!(
        text.contains("tollgate postmortem"),
        "says how to close it: {out}"
    );
    let emergency = id_of(&out);
    let out = run(
        &tg,
        &releaser,
        &["promotions", "--postmortem-open", "--json"],
    );
    let open = json_of(&out);
    assert_eq!(open["promotions"][0]["id"], emergency.as_str(), "{out}");
    assert_eq!(
        open["promotions"].as_array().map(Vec::len),
        Some(1),
        "{out}"
    );
    let out = run(
        &tg,
        &oncall,
        &["postmortem", &emergency, "--link", "not a url"],
    );
    assert_eq!(code(&out), 2, "{out}");
    assert!(out.stderr_str().contains("not an absolute URL"), "{out}");
    let out = run(
        &tg,
        &oncall,
        &[
            "postmortem",
            &emergency,
            "--link",
            "https://wiki.example/pm/INC-7781",
        ],
    );
    assert_eq!(code(&out), 0, "{out}");
    assert!(out.stdout_str().contains("closed by oncall"), "{out}");
    let out = run(
        &tg,
        &releaser,
        &["promotions", "--postmortem-open", "--json"],
    );
    assert_eq!(
        json_of(&out)["promotions"].as_array().map(Vec::len),
        Some(0),
        "{out}"
    );
}

#[test]
fn errors_exit_2_with_the_gateways_message() {
    let tg = Tollgate::start_with_files(
        TollgateOpts::config("[policy]\ndir = \"policy\"\n"),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let ci = tg.create_token("ci", &["pusher:dev/*"]);
    let releaser = tg.create_token("releaser", &["promoter"]);
    tg.basic("ci", &ci)
        .push_image("dev/app", "1.0.0", &TinyImage::new());

    let out = run(
        &tg,
        "tg_wrong",
        &["promote", "dev/app:1.0.0", "--to", "staging"],
    );
    assert_eq!(code(&out), 2, "bad token: {out}");
    let err = out.stderr_str();
    assert!(err.contains("401"), "{out}");
    assert!(
        err.contains("unknown or revoked"),
        "the server's message: {out}"
    );
    assert!(err.contains("--token"), "a hint: {out}");
    assert!(out.stdout.is_empty(), "{out}");

    let out = run(&tg, &releaser, &["promote", "dev/app:1.0.0", "--to", "qa"]);
    assert_eq!(code(&out), 2, "unknown environment: {out}");
    assert!(
        out.stderr_str().contains("unknown environment \"qa\""),
        "the server's message: {out}"
    );

    let out = run(&tg, &ci, &["promote", "dev/app:1.0.0", "--to", "staging"]);
    assert_eq!(code(&out), 2, "a pusher may not promote: {out}");
    assert!(out.stderr_str().contains("role-missing"), "{out}");

    let out = run(
        &tg,
        &releaser,
        &["promote", "dev/nothing:1.0.0", "--to", "staging"],
    );
    assert_eq!(code(&out), 2, "nothing to promote: {out}");

    let out = run(&tg, &releaser, &["promotions", "--state", "stuck"]);
    assert_eq!(code(&out), 2, "{out}");
    assert!(out.stderr_str().contains("not one of pending"), "{out}");

    let out = run(&tg, &releaser, &["promotions", "show", "../tokens"]);
    assert_eq!(code(&out), 2, "{out}");

    // no gateway there
    let port = free_port().to_string();
    let out = tollgate_cli(&[
        "promote",
        "dev/app:1.0.0",
        "--to",
        "staging",
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--token",
        &releaser,
    ]);
    assert_eq!(code(&out), 2, "no gateway: {out}");
    assert!(out.stderr_str().contains("cannot reach"), "{out}");

    // bad usage
    let out = tollgate_cli(&["promote", "dev/app:1.0.0", "--token", &releaser]);
    assert_eq!(code(&out), 2, "--to is required: {out}");
}
