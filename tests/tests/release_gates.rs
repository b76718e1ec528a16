//! Promotion gates from the running environment (issue 10), end to end: an image pushed with
//! skopeo and promoted to staging is refused for prod until a signed smoke-test result
//! (in-toto test-result, DSSE, signed by a trusted key) and a canary verdict are recorded in
//! staging, the soak time there has passed (the gateway's clock moved forward) and the
//! pre-deployment checklist is confirmed by holders of its roles; a failed canary refuses it;
//! a confirmation by the wrong role does not count. Then the deployment's owner, notes and
//! outcome, and the outcome in the delivery report. Plus ordered regional waves with a bake
//! time between them and data residency barring a region.

use std::collections::BTreeMap;
use std::fs;

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;
use tollgate_policies::chrono;

const POLICY: &str = r#"
[environments.dev]

[environments.staging]
from = ["dev"]

[environments.prod]
from = ["staging"]

[environments.prod.verification]
require = ["smoke-test", "canary"]
signed = true
soak = "2h"

[environments.prod.checklist]
items = [
  { name = "backup-validated", role = "ops" },
  { name = "monitoring-reviewed", role = "security", description = "alerts and dashboards reviewed" },
]
"#;

fn available() -> bool {
    signer_scripts_available() && require_tools(&["skopeo"])
}

struct Setup {
    g: Gated,
    ci: String,
    releaser: String,
    verifier: String,
    ops: String,
    security: String,
    dev_approver: String,
}

impl std::ops::Deref for Setup {
    type Target = Gated;
    fn deref(&self) -> &Gated {
        &self.g
    }
}

impl std::ops::DerefMut for Setup {
    fn deref_mut(&mut self) -> &mut Gated {
        &mut self.g
    }
}

impl Setup {
    fn start(config_extra: &str, policy: &str) -> Setup {
        let g = Gated::start("", config_extra, policy);
        let tg = &g.tg;
        let ci = tg.create_token("ci", &["pusher:dev/*"]);
        let releaser = tg.create_token("releaser", &["promoter"]);
        let verifier = tg.create_token("smoke-bot", &["verifier"]);
        let ops = tg.create_token("ops-lead", &["approver(ops):prod/*"]);
        let security = tg.create_token("sec-lead", &["approver(security):prod/*"]);
        let dev_approver = tg.create_token("dev-lead", &["approver(dev):prod/*"]);
        Setup {
            g,
            ci,
            releaser,
            verifier,
            ops,
            security,
            dev_approver,
        }
    }

    /// Pushes a fresh image into `dev/<name>:<tag>` with skopeo.
    fn push(&self, repo: &str, tag: &str) -> TinyImage {
        self.skopeo_push("ci", &self.ci, repo, tag)
    }

    fn http(&self, user: &str, token: &str) -> Http {
        self.tg.basic(user, token)
    }

    fn promote(&self, body: Value) -> Value {
        let r = self
            .http("releaser", &self.releaser)
            .post_json("/api/v1/promotions", body.to_string().into_bytes());
        assert!(
            r.status == 201 || r.status == 200,
            "promote {body}: {} {}",
            r.status,
            r.text()
        );
        let p: Value = r.json();
        // The scheduler re-decides waiting promotions on its own; asking while it copies one
        // answers `copying`. Wait for the copy, as a client would.
        self.settled(p)
    }

    /// `p` once it is no longer copying (at most 30 s).
    fn settled(&self, mut p: Value) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while p["state"] == "copying" && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            p = self
                .http("releaser", &self.releaser)
                .get(&format!("/api/v1/promotions/{}", p["id"].as_str().unwrap()))
                .json();
        }
        p
    }

    /// A signed in-toto test result for `digest`, made by tests/scripts/test_result_attest.py.
    fn signed_result(&self, digest: &str, result: &str, environment: &str) -> Value {
        let out = self.work.path().join(format!("tr-{}", unique()));
        let v = python3_json(
            &scripts_dir().join("test_result_attest.py"),
            &[
                out.to_str().unwrap(),
                "--subject",
                digest,
                "--key",
                self.key.to_str().unwrap(),
                "--result",
                result,
                "--environment",
                environment,
            ],
            &[],
        );
        v["envelope"].clone()
    }

    /// `tollgate ARGS --url … --token TOKEN`.
    fn cli(&self, args: &[&str], token: &str) -> CmdOutput {
        let url = self.tg.base_url();
        let mut all = args.to_vec();
        all.extend(["--url", url.as_str(), "--token", token]);
        tollgate_cli(&all)
    }

    fn post_result(&self, user: &str, token: &str, digest: &str, body: Value) -> Resp {
        self.http(user, token).post_json(
            &format!("/api/v1/artifacts/{digest}/verifications"),
            body.to_string().into_bytes(),
        )
    }
}

fn reasons(p: &Value) -> Vec<String> {
    p["decision"]["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn rule<'a>(p: &'a Value, kind: &str) -> &'a Value {
    p["decision"]["rules"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} rule in {p}"))
}

#[test]
fn prod_waits_for_signed_results_soak_and_checklist_then_goes() {
    if !available() {
        return;
    }
    let mut s = Setup::start("", POLICY);
    let img = s.push("dev/shop", "2.0.0");
    let staged = s.promote(json!({"artifact": "dev/shop:2.0.0", "to": "staging"}));
    assert_eq!(staged["state"], "promoted", "{staged}");

    // Into prod: pending, with a code for each missing piece; nothing moved.
    let p = s.promote(json!({"artifact": "staging/shop:2.0.0", "to": "prod", "owner": "olga"}));
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["state"], "pending", "{p}");
    assert_eq!(p["owner"], "olga");
    let r = reasons(&p);
    for code in [
        "verification-missing",
        "soak-time-not-met",
        "checklist-incomplete",
    ] {
        assert!(r.contains(&code.to_string()), "{code} not in {r:?}");
    }
    assert!(
        rule(&p, "soak").message_contains("it must soak 2h"),
        "{}",
        rule(&p, "soak")
    );

    // An unsigned smoke test from the verifier token is recorded, but the policy wants signed
    // results: it does not count, and the decision says so.
    let r = s.post_result(
        "smoke-bot",
        &s.verifier,
        &img.digest,
        json!({"environment": "staging", "kind": "smoke-test", "result": "passed"}),
    );
    r.expect_status(201, "unsigned result");
    let v = r.json();
    assert_eq!(v["signed"], false, "{v}");
    assert_eq!(v["promotions"][0]["id"], id.as_str(), "re-decided: {v}");
    assert!(
        rule(&v["promotions"][0], "verification").message_contains("unsigned results do not count"),
        "{v}"
    );

    // Signed smoke test and canary from staging: verification passes, the rest still waits.
    for kind in ["smoke-test", "canary"] {
        let env = s.signed_result(&img.digest, "PASSED", "staging");
        let r = s.post_result(
            "smoke-bot",
            &s.verifier,
            &img.digest,
            json!({"environment": "staging", "kind": kind, "attestation": env}),
        );
        r.expect_status(201, "signed result");
        let v = r.json();
        assert_eq!(v["signed"], true, "{v}");
        assert_eq!(v["signer"], "key ci-key", "{v}");
        assert_eq!(v["result"], "passed", "{v}");
        assert_eq!(
            v["predicate_type"],
            "https://in-toto.io/attestation/test-result/v0.1"
        );
    }
    let p = s
        .http("releaser", &s.releaser)
        .get(&format!("/api/v1/promotions/{id}"))
        .json();
    assert_eq!(rule(&p, "verification")["status"], "pass", "{p}");
    assert_eq!(p["state"], "pending");

    // A checklist item confirmed by the wrong role: refused, and it does not count.
    let wrong = s.http("dev-lead", &s.dev_approver).post_json(
        &format!("/api/v1/promotions/{id}/checklist"),
        json!({"item": "backup-validated"}).to_string().into_bytes(),
    );
    wrong.expect_status(403, "checklist by the wrong role");
    assert_eq!(
        wrong.json()["errors"][0]["detail"]["reason"],
        "role-missing"
    );
    let unknown = s.http("ops-lead", &s.ops).post_json(
        &format!("/api/v1/promotions/{id}/checklist"),
        json!({"item": "coffee"}).to_string().into_bytes(),
    );
    unknown.expect_status(400, "unknown item");
    assert!(
        unknown.text().contains("backup-validated (ops)"),
        "{}",
        unknown.text()
    );
    s.http("ops-lead", &s.ops)
        .post_json(
            &format!("/api/v1/promotions/{id}/checklist"),
            json!({"item": "backup-validated", "comment": "restored last night's dump"})
                .to_string()
                .into_bytes(),
        )
        .expect_status(200, "checklist");
    // The same from the command line: still pending (exit 3), for the soak time.
    let out = s.cli(&["checklist", &id, "monitoring-reviewed"], &s.security);
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr_str());
    assert!(
        out.stdout_str().contains("soak-time-not-met"),
        "{}",
        out.stdout_str()
    );
    let p = s
        .http("releaser", &s.releaser)
        .get(&format!("/api/v1/promotions/{id}"))
        .json();
    assert_eq!(reasons(&p), vec!["soak-time-not-met"], "{p}");
    // The decision says when the soak is over (two hours after the artifact reached staging).
    let until = p["decision"]["soak_until"].as_str().expect("soak_until");
    let until = chrono::DateTime::parse_from_rfc3339(until).unwrap();
    let left = until.signed_duration_since(chrono::Utc::now());
    assert!(
        left > chrono::Duration::minutes(100) && left <= chrono::Duration::hours(2),
        "{p}"
    );
    assert_eq!(p["checklist"].as_array().unwrap().len(), 2, "{p}");
    assert_eq!(p["checklist"][0]["by"], "ops-lead");
    assert!(
        s.http("releaser", &s.releaser)
            .get("/v2/prod/shop/manifests/2.0.0")
            .status
            != 200,
        "nothing in prod yet"
    );

    // Three hours later (the gateway's clock, moved): the soak time has passed, and the
    // scheduler re-decides the waiting promotion on its own, which goes through.
    s.tg.set_env("TOLLGATE_CLOCK_OFFSET_SECS", &(3 * 3600).to_string());
    s.tg.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let p = loop {
        let p = s
            .http("releaser", &s.releaser)
            .get(&format!("/api/v1/promotions/{id}"))
            .json();
        if p["state"] != "pending" || std::time::Instant::now() > deadline {
            break s.settled(p);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(p["state"], "promoted", "{p}");
    let again = s.promote(json!({"artifact": "staging/shop:2.0.0", "to": "prod"}));
    assert_eq!(
        again["id"],
        id.as_str(),
        "asking again is the same promotion"
    );
    assert_eq!(rule(&p, "soak")["status"], "pass");
    let pulled = s
        .http("releaser", &s.releaser)
        .get("/v2/prod/shop/manifests/2.0.0");
    pulled.expect_status(200, "pull from prod");

    // The release log: notes during the window, then the outcome.
    let owner = s.tg.create_token("olga", &["reader"]);
    let r = s.http("olga", &owner).post_json(
        &format!("/api/v1/promotions/{id}/notes"),
        json!({"text": "p99 latency up 40 ms in eu-west; watching"})
            .to_string()
            .into_bytes(),
    );
    r.expect_status(201, "note by the owner");
    let out = s.cli(&["note", &id, "rolling back: latency budget burnt"], &owner);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr_str());
    let outsider = s.tg.create_token("outsider", &["reader"]);
    s.http("outsider", &outsider)
        .post_json(
            &format!("/api/v1/promotions/{id}/notes"),
            json!({"text": "hi"}).to_string().into_bytes(),
        )
        .expect_status(403, "note by someone outside the deployment");
    s.http("olga", &owner)
        .post_json(
            &format!("/api/v1/promotions/{id}/outcome"),
            json!({"outcome": "sideways"}).to_string().into_bytes(),
        )
        .expect_status(400, "unknown outcome");
    let r = s.http("olga", &owner).post_json(
        &format!("/api/v1/promotions/{id}/outcome"),
        json!({"outcome": "rolled-back", "comment": "latency"})
            .to_string()
            .into_bytes(),
    );
    r.expect_status(200, "outcome");
    let p = r.json();
    assert_eq!(p["outcome"]["outcome"], "rolled-back", "{p}");
    assert_eq!(p["notes"][0]["by"], "olga", "{p}");
    assert_eq!(p["notes"].as_array().unwrap().len(), 2, "{p}");

    // The delivery report counts it as a change failure.
    let report =
        s.tg.admin()
            .get("/api/v1/reports/delivery?environment=prod")
            .json();
    assert_eq!(report["deployments"], 1, "{report}");
    assert_eq!(report["change_failures"], 1, "{report}");

    // Every step is in the audit log.
    let audit = s.tg.admin().get("/api/v1/audit?limit=1000").json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "verification-recorded",
        "checklist-confirmed",
        "promotion-note",
        "promotion-outcome",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}

#[test]
fn a_failed_canary_refuses_and_results_must_be_genuine_and_in_place() {
    if !available() {
        return;
    }
    let s = Setup::start("", POLICY);
    let img = s.push("dev/cart", "1.0.0");
    s.promote(json!({"artifact": "dev/cart:1.0.0", "to": "staging"}));

    // Not in prod: results for prod are refused.
    s.post_result(
        "smoke-bot",
        &s.verifier,
        &img.digest,
        json!({"environment": "prod", "kind": "smoke-test", "result": "passed"}),
    )
    .expect_status(409, "result for an environment the artifact is not in");
    // No verifier role and no signature: refused.
    let r = s.post_result(
        "ci",
        &s.ci,
        &img.digest,
        json!({"environment": "staging", "kind": "smoke-test", "result": "passed"}),
    );
    r.expect_status(403, "unsigned result without the verifier role");
    assert_eq!(r.json()["errors"][0]["detail"]["reason"], "role-missing");
    // A signed predicate for another environment: refused.
    let env = s.signed_result(&img.digest, "PASSED", "prod");
    s.post_result(
        "smoke-bot",
        &s.verifier,
        &img.digest,
        json!({"environment": "staging", "kind": "smoke-test", "attestation": env}),
    )
    .expect_status(400, "predicate for another environment");
    // A signature by a key the gateway does not trust: refused, nothing recorded.
    let other = python3_json(
        &scripts_dir().join("cosign_keygen.py"),
        &[s.work.path().join("rogue").to_str().unwrap()],
        &[],
    );
    let out = s.work.path().join("rogue-result");
    let rogue = python3_json(
        &scripts_dir().join("test_result_attest.py"),
        &[
            out.to_str().unwrap(),
            "--subject",
            &img.digest,
            "--key",
            other["private"].as_str().unwrap(),
            "--environment",
            "staging",
        ],
        &[],
    );
    let r = s.post_result(
        "smoke-bot",
        &s.verifier,
        &img.digest,
        json!({"environment": "staging", "kind": "smoke-test", "attestation": rogue["envelope"]}),
    );
    r.expect_status(403, "untrusted signer");
    let listed = s
        .http("releaser", &s.releaser)
        .get(&format!("/api/v1/artifacts/{}/verifications", img.digest))
        .json();
    assert_eq!(
        listed["verifications"].as_array().unwrap().len(),
        0,
        "{listed}"
    );

    // A passing smoke test, then a failed canary verdict: the promotion to prod is denied.
    let pass = s.signed_result(&img.digest, "PASSED", "staging");
    let file = s.work.path().join("smoke.json");
    fs::write(&file, pass.to_string()).unwrap();
    let out = s.cli(
        &[
            "verification",
            "record",
            "staging/cart:1.0.0",
            "--environment",
            "staging",
            "--kind",
            "smoke-test",
            "--attestation",
            file.to_str().unwrap(),
        ],
        &s.verifier,
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr_str());
    assert!(
        out.stdout_str().contains("smoke-test passed"),
        "{}",
        out.stdout_str()
    );
    assert!(
        out.stdout_str().contains("signed by key ci-key"),
        "{}",
        out.stdout_str()
    );
    let out = s.cli(
        &[
            "verification",
            "record",
            "staging/cart:1.0.0",
            "--environment",
            "staging",
            "--kind",
            "smoke-test",
            "--result",
            "passed",
            "--metric",
            "error_rate=lots",
        ],
        &s.verifier,
    );
    assert_eq!(out.status.code(), Some(2), "a bad metric is a usage error");
    let fail = s.signed_result(&img.digest, "FAILED", "staging");
    s.post_result(
        "smoke-bot",
        &s.verifier,
        &img.digest,
        json!({"environment": "staging", "kind": "canary", "attestation": fail, "url": "https://kayenta.example/canary/7"}),
    )
    .expect_status(201, "canary verdict");
    let p = s.promote(json!({"artifact": "staging/cart:1.0.0", "to": "prod"}));
    assert_eq!(p["state"], "denied", "{p}");
    assert!(
        reasons(&p).contains(&"verification-failed".to_string()),
        "{p}"
    );
    assert!(
        rule(&p, "verification").message_contains("canary failed in staging"),
        "{p}"
    );
    let listed = s
        .http("releaser", &s.releaser)
        .get(&format!(
            "/api/v1/artifacts/{}/verifications?environment=staging",
            img.digest
        ))
        .json();
    let kinds: Vec<&str> = listed["verifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["smoke-test", "canary"], "{listed}");
    assert_eq!(
        listed["verifications"][1]["url"],
        "https://kayenta.example/canary/7"
    );
}

#[test]
fn an_approver_rejects_a_pending_promotion() {
    if !available() {
        return;
    }
    let s = Setup::start("", POLICY);
    s.push("dev/rej", "1.0.0");
    s.promote(json!({"artifact": "dev/rej:1.0.0", "to": "staging"}));
    let p = s.promote(json!({"artifact": "staging/rej:1.0.0", "to": "prod"}));
    assert_eq!(p["state"], "pending", "{p}");
    let path = format!(
        "/api/v1/promotions/{}/rejections",
        p["id"].as_str().unwrap()
    );
    let post = |user: &str, token: &str, body: Value| {
        s.http(user, token)
            .post_json(&path, body.to_string().into_bytes())
    };
    post("ops-lead", &s.ops, json!({"group": "ops", "comment": " "}))
        .expect_status(400, "a rejection says why");
    let r = post(
        "releaser",
        &s.releaser,
        json!({"group": "ops", "comment": "no"}),
    );
    r.expect_status(403, "not an approver");
    post(
        "ops-lead",
        &s.ops,
        json!({"group": "security", "comment": "no"}),
    )
    .expect_status(403, "not an approver for that group");
    let r = post(
        "ops-lead",
        &s.ops,
        json!({"group": "ops", "comment": "the backup job is failing"}),
    );
    r.expect_status(200, "rejection");
    let d = r.json();
    assert_eq!(d["state"], "denied", "{d}");
    assert!(
        reasons(&d).contains(&"approval-rejected".to_string()),
        "{d}"
    );
    assert!(
        d["decision"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o.message_contains("rejected by ops-lead for ops: the backup job is failing")),
        "{d}"
    );
    post(
        "ops-lead",
        &s.ops,
        json!({"group": "ops", "comment": "again"}),
    )
    .expect_status(409, "already denied");
}

const WAVES_CONFIG: &str = r#"
[[environments]]
name = "dev"
promotes_to = "prod-canary"
[[environments]]
name = "prod-canary"
promotes_to = "prod-eu"
[[environments]]
name = "prod-eu"
promotes_to = "prod-us"
[[environments]]
name = "prod-us"
"#;

const WAVES_POLICY: &str = r#"
[environments.dev]

[environments.prod-canary]
from = ["dev"]

[environments.prod-eu]
from = ["prod-canary"]
timezone = "Europe/Berlin"
verification = { soak = "1h" }
residency = { region = "eu" }

[environments.prod-us]
from = ["prod-eu"]
timezone = "America/New_York"
verification = { soak = "1h" }
residency = { region = "us", deny = ["eu-ledger/*"] }
"#;

/// Pushes a small artifact with annotations (the residency declaration) into `repo:tag`.
fn push_artifact(s: &Setup, repo: &str, tag: &str, annotations: &[(&str, &str)]) -> String {
    let http = s.http("ci", &s.ci);
    http.push_blob(repo, &Blob::empty().data);
    let layer = Blob::new("application/octet-stream", unique().into_bytes());
    http.push_blob(repo, &layer.data);
    let ann: BTreeMap<String, String> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (m, d) = artifact_manifest("application/vnd.tollgate.e2e", &layer, None, &ann);
    http.put_manifest(repo, tag, OCI_MANIFEST, &m)
        .expect_status(201, "push artifact");
    d
}

#[test]
fn waves_bake_between_regions_and_residency_bars_a_region() {
    if !available() {
        return;
    }
    let mut s = Setup::start(WAVES_CONFIG, WAVES_POLICY);
    let eu_only = push_artifact(&s, "dev/api", "1.0.0", &[("dev.tollgate.residency", "eu")]);
    let anywhere = push_artifact(&s, "dev/web", "1.0.0", &[]);
    let ledger = push_artifact(&s, "dev/eu-ledger/core", "1.0.0", &[]);
    for repo in ["api", "web", "eu-ledger/core"] {
        let p = s.promote(json!({"artifact": format!("dev/{repo}:1.0.0"), "to": "prod-canary"}));
        assert_eq!(p["state"], "promoted", "{p}");
        // The next wave waits for the bake time in the canary wave.
        let p =
            s.promote(json!({"artifact": format!("prod-canary/{repo}:1.0.0"), "to": "prod-eu"}));
        assert_eq!(p["state"], "pending", "{p}");
        assert_eq!(reasons(&p), vec!["soak-time-not-met"], "{p}");
    }
    // After the bake time each wave moves on; the US wave bakes again after the EU one.
    s.tg.set_env("TOLLGATE_CLOCK_OFFSET_SECS", &(2 * 3600).to_string());
    s.tg.restart();
    for repo in ["api", "web", "eu-ledger/core"] {
        let p =
            s.promote(json!({"artifact": format!("prod-canary/{repo}:1.0.0"), "to": "prod-eu"}));
        assert_eq!(p["state"], "promoted", "{repo}: {p}");
        let p = s.promote(json!({"artifact": format!("prod-eu/{repo}:1.0.0"), "to": "prod-us"}));
        assert!(
            reasons(&p).contains(&"soak-time-not-met".to_string()),
            "{p}"
        );
    }
    s.tg.set_env("TOLLGATE_CLOCK_OFFSET_SECS", &(4 * 3600).to_string());
    s.tg.restart();
    let web = s.promote(json!({"artifact": "prod-eu/web:1.0.0", "to": "prod-us"}));
    assert_eq!(web["state"], "promoted", "{web}");
    assert_eq!(web["artifact"], anywhere.as_str());
    // Declared for the EU only: the pending promotion is now denied by residency.
    let api = s.promote(json!({"artifact": "prod-eu/api:1.0.0", "to": "prod-us"}));
    assert_eq!(api["state"], "denied", "{api}");
    assert_eq!(reasons(&api), vec!["residency-denied"], "{api}");
    assert_eq!(api["artifact"], eu_only.as_str());
    assert!(
        rule(&api, "residency").message_contains("only in eu"),
        "{api}"
    );
    // Barred by the region's policy.
    let l = s.promote(json!({"artifact": "prod-eu/eu-ledger/core:1.0.0", "to": "prod-us"}));
    assert_eq!(l["state"], "denied", "{l}");
    assert_eq!(l["artifact"], ledger.as_str());
    assert!(
        rule(&l, "residency").message_contains("barred from region us"),
        "{l}"
    );
    // Even an emergency does not move it there.
    let oncall = s.tg.create_token("oncall", &["breakglass"]);
    let r = s.http("oncall", &oncall).post_json(
        "/api/v1/promotions",
        json!({"artifact": "prod-eu/api:1.0.0", "to": "prod-us", "emergency": true, "justification": "outage"})
            .to_string()
            .into_bytes(),
    );
    let e = r.json();
    assert_eq!(e["state"], "denied", "{e}");
    assert!(reasons(&e).contains(&"residency-denied".to_string()), "{e}");
}

trait MessageContains {
    fn message_contains(&self, needle: &str) -> bool;
}

impl MessageContains for Value {
    fn message_contains(&self, needle: &str) -> bool {
        self["message"].as_str().is_some_and(|m| m.contains(needle))
    }
}
