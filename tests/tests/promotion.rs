//! Gated promotion end to end (issue 5): an image pushed with skopeo, signed (cosign
//! simple-signing), attested (DSSE SLSA v1) and given an SBOM is promoted dev → staging; into
//! prod it is refused without a change request, stays pending until security and ops approve,
//! and then `skopeo inspect` on `prod/<name>:<tag>` shows the same digest with its signature,
//! attestation and SBOM beside it. Plus: deny reasons with their codes, separation of duties,
//! idempotent and concurrent requests, break-glass with its post-mortem, and policy reloads
//! that never let a bad file replace a good policy.

use std::fs;
use std::path::PathBuf;

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

const BUILDER: &str = "https://tollgate.example/builders/local";

const POLICY: &str = r#"
version = 1

[breakglass]
bypass = ["windows", "freezes", "approvals", "change-request"]
require_justification = true

[environments.dev]
mode = "enforce"

[environments.staging]
mode = "enforce"
from = ["dev"]

[environments.staging.signatures]
min = 1
keys = ["ci-key"]

[environments.staging.provenance]
builders = ["https://tollgate.example/builders/local*"]
sources = ["git+https://git.tollgate.example/e2e/*"]
require_commit = true

[environments.staging.sbom]
required = true

[environments.prod]
mode = "enforce"
from = ["staging"]

[environments.prod.signatures]
min = 1
keys = ["ci-key"]

[environments.prod.provenance]
builders = ["https://tollgate.example/builders/local*"]

[environments.prod.sbom]
required = true
licenses = { deny = ["GPL-3.0-only"], unknown = "warn" }

[environments.prod.version]
semver = true
prerelease = false
increase = true

[environments.prod.approvals]
ops = 1
security = 1
separation_of_duties = true

[environments.prod.change_request]
required = true
pattern = "CHG-[0-9]{6}"
"#;

fn signer_available() -> bool {
    signer_scripts_available() && require_tools(&["skopeo"])
}

fn fixture(rel: &str) -> Vec<u8> {
    fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sbom")
            .join(rel),
    )
    .expect("fixture")
}

/// A running gateway with a trusted key, the policy above, and one token per role.
struct Setup {
    g: Gated,
    ci: String,
    releaser: String,
    security: String,
    ops: String,
    oncall: String,
}

impl std::ops::Deref for Setup {
    type Target = Gated;
    fn deref(&self) -> &Gated {
        &self.g
    }
}

impl Setup {
    fn start() -> Setup {
        let g = Gated::start(
            &format!("builders = [{BUILDER:?}]\nrefuse_unverified = true\n"),
            "",
            POLICY,
        );
        let tg = &g.tg;
        let ci = tg.create_token("ci", &["pusher:dev/*"]);
        let releaser = tg.create_token("releaser", &["promoter"]);
        let security = tg.create_token("sec-lead", &["approver(security):prod/*"]);
        let ops = tg.create_token("ops-lead", &["approver(ops):prod/*"]);
        let oncall = tg.create_token("oncall", &["breakglass:prod/*"]);
        Setup {
            g,
            ci,
            releaser,
            security,
            ops,
            oncall,
        }
    }

    /// Pushes a fresh image with skopeo as `ci`, then its signature, provenance and SBOM.
    fn build(&self, repo: &str, tag: &str, sbom: Option<&str>) -> TinyImage {
        let img = self.push_unsigned(repo, tag);
        self.sign(&self.ci, repo, &img.digest);
        self.attest(&self.ci, repo, &img.digest);
        if let Some(sbom) = sbom {
            self.push_sbom(&self.tg.basic("ci", &self.ci), repo, &img, fixture(sbom));
        }
        img
    }

    fn push_unsigned(&self, repo: &str, tag: &str) -> TinyImage {
        self.skopeo_push("ci", &self.ci, repo, tag)
    }

    fn as_user(&self, user: &str, token: &str) -> Http {
        self.tg.basic(user, token)
    }

    fn promote(&self, http: &Http, body: Value) -> Resp {
        http.post_json("/api/v1/promotions", body.to_string().into_bytes())
    }

    /// `skopeo inspect` of `repo:tag` through the gateway: the digest it reports.
    fn inspect_digest(&self, repo: &str, tag: &str) -> Option<String> {
        let out = skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &format!("admin:{}", self.tg.admin_token),
            &format!("docker://{}/{repo}:{tag}", self.tg.host()),
        ]);
        if !out.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).expect("skopeo inspect JSON");
        v["Digest"].as_str().map(str::to_string)
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

#[test]
fn dev_to_staging_to_prod_with_approvals_and_evidence() {
    if !signer_available() {
        return;
    }
    let s = Setup::start();
    let img = s.build(
        "dev/shop",
        "1.4.2",
        Some("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json"),
    );
    let releaser = s.as_user("releaser", &s.releaser);

    // dev → staging: everything staging asks for is there
    let r = s.promote(
        &releaser,
        json!({"artifact": "dev/shop:1.4.2", "to": "staging"}),
    );
    r.expect_status(201, "promote to staging");
    let p = r.json();
    assert_eq!(p["state"], "promoted", "{p}");
    assert_eq!(p["decision"]["verdict"], "allow", "{p}");
    assert!(
        p["decision"]["policy_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{p}"
    );
    assert_eq!(p["target_repository"], "staging/shop", "{p}");
    assert_eq!(
        s.inspect_digest("staging/shop", "1.4.2").as_deref(),
        Some(img.digest.as_str())
    );
    // asking again is the same promotion
    let again = s.promote(
        &releaser,
        json!({"artifact": "dev/shop:1.4.2", "to": "staging"}),
    );
    again.expect_status(200, "promote to staging again");
    assert_eq!(again.json()["id"], p["id"]);

    // into prod without a change request: denied, with the code
    let r = s.promote(
        &releaser,
        json!({"artifact": "staging/shop:1.4.2", "to": "prod"}),
    );
    r.expect_status(201, "promote to prod without CR");
    let denied = r.json();
    assert_eq!(denied["state"], "denied", "{denied}");
    assert!(
        reasons(&denied).contains(&"change-request-missing".to_string()),
        "{denied}"
    );
    assert_eq!(
        s.inspect_digest("prod/shop", "1.4.2"),
        None,
        "nothing moved"
    );

    // with one: pending until security and ops approve
    let r = s.promote(
        &releaser,
        json!({"artifact": img.digest, "to": "prod", "change_request": "CHG-004211"}),
    );
    r.expect_status(201, "promote to prod with CR");
    let pending = r.json();
    assert_eq!(pending["state"], "pending", "{pending}");
    assert_eq!(reasons(&pending), ["approvals-missing"], "{pending}");
    let id = pending["id"].as_str().unwrap().to_string();
    let approvals = format!("/api/v1/promotions/{id}/approvals");

    // the pusher may not approve, and an approver only for their own group
    let ci = s.as_user("ci", &s.ci);
    let r = ci.post_json(&approvals, br#"{"group":"security"}"#.to_vec());
    r.expect_status(403, "approval by the pusher");
    let ops = s.as_user("ops-lead", &s.ops);
    let r = ops.post_json(&approvals, br#"{"group":"security"}"#.to_vec());
    r.expect_status(403, "ops approving for security");
    assert!(r.text().contains("role-missing"), "{r}");

    let sec = s.as_user("sec-lead", &s.security);
    let r = sec.post_json(
        &approvals,
        br#"{"group":"security","comment":"scan clean"}"#.to_vec(),
    );
    r.expect_status(200, "security approval");
    assert_eq!(r.json()["state"], "pending", "{r}");
    assert_eq!(
        s.inspect_digest("prod/shop", "1.4.2"),
        None,
        "still pending"
    );
    let r = ops.post_json(&approvals, br#"{"group":"ops"}"#.to_vec());
    r.expect_status(200, "ops approval");
    let done = r.json();
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(
        done["approvals"].as_array().map(Vec::len),
        Some(2),
        "{done}"
    );

    // prod serves the same digest, and its evidence came along
    assert_eq!(
        s.inspect_digest("prod/shop", "1.4.2").as_deref(),
        Some(img.digest.as_str())
    );
    let admin = s.tg.admin();
    for suffix in [".sig", ".att"] {
        admin
            .get_manifest("prod/shop", &cosign_tag(&img.digest, suffix))
            .expect_status(200, &format!("prod/shop {suffix}"));
    }
    let refs = admin
        .get(&format!("/v2/prod/shop/referrers/{}", img.digest))
        .json();
    assert_eq!(
        refs["manifests"].as_array().map(Vec::len),
        Some(1),
        "SBOM referrer: {refs}"
    );
    let rec = admin
        .get(&format!("/api/v1/artifacts/{}", img.digest))
        .json();
    let repos: Vec<&str> = rec["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["repository"].as_str())
        .collect();
    for want in ["dev/shop", "staging/shop", "prod/shop"] {
        assert!(repos.contains(&want), "{want} missing from {rec}");
    }
    // pull gating: prod serves the promoted image and its blobs, nothing else
    admin
        .get(&format!("/v2/prod/shop/blobs/{}", img.layer.digest))
        .expect_status(200, "a promoted blob");
    let stray = TinyImage::new();
    admin.push_image("prod/shop", "9.9.9", &stray);
    admin
        .get_manifest("prod/shop", "9.9.9")
        .expect_denied("not-promoted", "an unpromoted tag in prod");
    admin
        .get_manifest("prod/shop", &stray.digest)
        .expect_denied("not-promoted", "an unpromoted digest in prod");
    admin
        .get(&format!("/v2/prod/shop/blobs/{}", stray.layer.digest))
        .expect_denied("not-promoted", "a blob no promoted manifest uses");
    admin
        .get_manifest("prod/shop", "no-such-tag")
        .expect_denied("not-promoted", "an unknown tag in prod");
    assert_eq!(
        s.inspect_digest("prod/shop", "9.9.9"),
        None,
        "skopeo cannot pull it either"
    );
    // a signature added after promotion is served with its subject
    s.sign(&s.tg.admin_token, "prod/shop", &img.digest);
    admin
        .get_manifest("prod/shop", &cosign_tag(&img.digest, ".sig"))
        .expect_status(200, "the later signature is served");
    let metrics = s.tg.metrics();
    assert!(
        metric_series(
            &metrics,
            r#"tollgate_pull_decisions_total{environment="prod",outcome="denied"}"#
        )
        .is_some_and(|v| v >= 4.0),
        "{metrics}"
    );

    // where-used now says prod
    let v = admin
        .get("/api/v1/sbom/components?purl=pkg:npm/semver")
        .json();
    assert_eq!(
        v["artifacts"][0]["environments"],
        json!(["dev", "staging", "prod"]),
        "{v}"
    );
    let v = admin
        .get("/api/v1/sbom/components?purl=pkg:npm/semver&environment=prod")
        .json();
    assert_eq!(v["artifacts"].as_array().map(Vec::len), Some(1), "{v}");
    // another build with the same SBOM, only in dev: not a prod answer
    s.build(
        "dev/other",
        "0.1.0",
        Some("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json"),
    );
    let v = admin
        .get("/api/v1/sbom/components?purl=pkg:npm/semver&environment=prod")
        .json();
    assert_eq!(v["artifacts"].as_array().map(Vec::len), Some(1), "{v}");
    let v = admin
        .get("/api/v1/sbom/components?purl=pkg:npm/semver&environment=dev")
        .json();
    assert_eq!(v["artifacts"].as_array().map(Vec::len), Some(2), "{v}");

    // the record of it all
    let list = admin
        .get(&format!("/api/v1/promotions?artifact={}", img.digest))
        .json();
    assert_eq!(
        list["promotions"].as_array().map(Vec::len),
        Some(3),
        "{list}"
    );
    let metrics = s.tg.metrics();
    assert!(
        metric_series(
            &metrics,
            r#"tollgate_promotions_total{environment="prod",outcome="promoted"}"#
        )
        .is_some_and(|v| v >= 1.0),
        "{metrics}"
    );
}

#[test]
fn refusals_carry_their_reason_codes_and_move_nothing() {
    if !signer_available() {
        return;
    }
    let s = Setup::start();
    let releaser = s.as_user("releaser", &s.releaser);

    // unsigned, no provenance, no SBOM
    let bare = s.push_unsigned("dev/bare", "1.0.0");
    let r = s.promote(
        &releaser,
        json!({"artifact": "dev/bare:1.0.0", "to": "staging"}),
    );
    let p = r.json();
    assert_eq!(p["state"], "denied", "{p}");
    let got = reasons(&p);
    for code in ["signature-missing", "provenance-missing", "sbom-missing"] {
        assert!(
            got.contains(&code.to_string()),
            "{code} not in {got:?}: {p}"
        );
    }
    let rec =
        s.tg.admin()
            .get(&format!("/api/v1/artifacts/{}", bare.digest))
            .json();
    assert_eq!(
        rec["repositories"].as_array().map(Vec::len),
        Some(1),
        "a denied promotion copies nothing: {rec}"
    );
    s.tg.admin()
        .get_manifest("staging/bare", &bare.digest)
        .expect_denied("not-promoted", "and staging does not serve it");

    // skipping staging: not promoted there
    let img = s.build(
        "dev/skip",
        "2.0.0",
        Some("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json"),
    );
    let r = s.promote(&releaser, json!({"artifact": img.digest, "to": "prod"}));
    r.expect_status(404, "not in staging at all");

    // a pre-release into prod
    let rc = s.build(
        "dev/rc",
        "3.0.0-rc.1",
        Some("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json"),
    );
    s.promote(
        &releaser,
        json!({"artifact": "dev/rc:3.0.0-rc.1", "to": "staging"}),
    )
    .expect_status(201, "rc to staging");
    let p = s
        .promote(
            &releaser,
            json!({"artifact": rc.digest, "to": "prod", "change_request": "CHG-000001"}),
        )
        .json();
    assert_eq!(p["state"], "denied", "{p}");
    assert!(
        reasons(&p).contains(&"version-prerelease".to_string()),
        "{p}"
    );
    // a malformed change request id
    let p = s
        .promote(
            &releaser,
            json!({"artifact": rc.digest, "to": "prod", "change_request": "please"}),
        )
        .json();
    assert!(
        reasons(&p).contains(&"change-request-invalid".to_string()),
        "{p}"
    );

    // bad requests: unknown environment, nonsense artifact, no token, a pusher promoting
    let r = s.promote(
        &releaser,
        json!({"artifact": "dev/rc:3.0.0-rc.1", "to": "qa"}),
    );
    r.expect_status(400, "unknown environment");
    assert!(r.text().contains("qa"), "{r}");
    s.promote(
        &releaser,
        json!({"artifact": "sha256:xyz", "to": "staging"}),
    )
    .expect_status(400, "bad digest");
    s.promote(&releaser, json!({"to": "staging"}))
        .expect_status(400, "no artifact");
    s.promote(
        &s.tg.anon(),
        json!({"artifact": "dev/rc:3.0.0-rc.1", "to": "staging"}),
    )
    .expect_status(401, "anonymous");
    let r = s.promote(
        &s.as_user("ci", &s.ci),
        json!({"artifact": "dev/rc:3.0.0-rc.1", "to": "staging"}),
    );
    r.expect_status(403, "a pusher is no promoter");
    assert!(r.text().contains("role-missing"), "{r}");
}

#[test]
fn concurrent_requests_make_one_promotion() {
    if !signer_available() {
        return;
    }
    let s = Setup::start();
    let img = s.build(
        "dev/race",
        "1.0.0",
        Some("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json"),
    );
    let body = json!({"artifact": img.digest, "to": "staging"}).to_string();
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let http = s.as_user("releaser", &s.releaser);
                let body = body.clone();
                scope.spawn(move || {
                    let r = http.post_json("/api/v1/promotions", body.into_bytes());
                    assert!(r.status == 200 || r.status == 201, "{r}");
                    r.json()["id"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one promotion for all: {ids:?}"
    );
    let list =
        s.tg.admin()
            .get(&format!("/api/v1/promotions?artifact={}", img.digest))
            .json();
    assert_eq!(
        list["promotions"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    assert_eq!(list["promotions"][0]["state"], "promoted", "{list}");
    assert_eq!(
        s.inspect_digest("staging/race", "1.0.0").as_deref(),
        Some(img.digest.as_str())
    );
}

#[test]
fn break_glass_bypasses_approvals_and_opens_a_postmortem() {
    if !signer_available() {
        return;
    }
    let s = Setup::start();
    let img = s.build(
        "dev/pay",
        "5.0.1",
        Some("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json"),
    );
    let releaser = s.as_user("releaser", &s.releaser);
    s.promote(
        &releaser,
        json!({"artifact": "dev/pay:5.0.1", "to": "staging"}),
    )
    .expect_status(201, "to staging");
    let oncall = s.as_user("oncall", &s.oncall);

    // an emergency needs a justification
    let p = s
        .promote(
            &oncall,
            json!({"artifact": img.digest, "to": "prod", "emergency": true}),
        )
        .json();
    assert_eq!(p["state"], "denied", "{p}");
    assert!(
        reasons(&p).contains(&"justification-missing".to_string()),
        "{p}"
    );

    // a promoter without breakglass gets no bypass: still waiting for approvals
    let p = s
        .promote(
            &releaser,
            json!({"artifact": img.digest, "to": "prod", "emergency": true,
                   "justification": "CVE hotfix"}),
        )
        .json();
    assert_ne!(p["state"], "promoted", "{p}");

    // (that request stays open for its approvals, so the emergency is another release)
    let other = s.build(
        "dev/pay2",
        "5.0.2",
        Some("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json"),
    );
    s.promote(
        &releaser,
        json!({"artifact": "dev/pay2:5.0.2", "to": "staging"}),
    )
    .expect_status(201, "to staging");
    let r = s.promote(
        &oncall,
        json!({"artifact": other.digest, "to": "prod", "emergency": true,
               "justification": "payment outage, INC-7781"}),
    );
    r.expect_status(201, "break-glass");
    let p = r.json();
    assert_eq!(p["state"], "promoted", "{p}");
    assert!(reasons(&p).contains(&"breakglass-used".to_string()), "{p}");
    assert_eq!(p["postmortem"]["open"], true, "{p}");
    assert_eq!(
        s.inspect_digest("prod/pay2", "5.0.2").as_deref(),
        Some(other.digest.as_str())
    );

    let admin = s.tg.admin();
    let open = admin.get("/api/v1/promotions?postmortem=open").json();
    assert_eq!(
        open["promotions"].as_array().map(Vec::len),
        Some(1),
        "{open}"
    );
    let id = p["id"].as_str().unwrap();
    let pm = format!("/api/v1/promotions/{id}/postmortem");
    oncall
        .post_json(&pm, br#"{"link":"not a url"}"#.to_vec())
        .expect_status(400, "post-mortem link must be a URL");
    let r = oncall.post_json(
        &pm,
        br#"{"link":"https://wiki.example/pm/INC-7781"}"#.to_vec(),
    );
    r.expect_status(200, "close post-mortem");
    assert_eq!(r.json()["postmortem"]["open"], false, "{r}");
    let open = admin.get("/api/v1/promotions?postmortem=open").json();
    assert_eq!(open["promotions"], json!([]), "{open}");
}

#[test]
fn a_bad_policy_file_never_replaces_a_good_policy() {
    let tg = Tollgate::start_with_files(
        TollgateOpts::config("[policy]\ndir = \"policy\"\n"),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let admin = tg.admin();
    let before = admin.get("/api/v1/policy").json();
    let digest = before["current"]["digest"]
        .as_str()
        .expect("a policy in force")
        .to_string();
    assert_eq!(before["loads"][0]["applied"], true, "{before}");

    // a broken overlay: refused, recorded with file and line, the old policy stays
    let path = tg.write_config_file("policy/broken.toml", b"version = 1\n[environments.prod\n");
    tg.hangup();
    let after = wait_for_loads(&admin, 2);
    assert_eq!(after["current"]["digest"], digest.as_str(), "{after}");
    assert_eq!(after["loads"][0]["applied"], false, "{after}");
    assert!(
        after["loads"][0]["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("broken.toml:2")),
        "{after}"
    );

    // fixed: loaded (by the file watcher or the signal), with a new digest
    fs::write(
        &path,
        "[overlay]\nrepositories = [\"payments/*\"]\n\n[environments.prod.approvals]\nbusiness = 1\n",
    )
    .unwrap();
    tg.hangup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v = admin.get("/api/v1/policy").json();
        if v["current"]["digest"] != digest.as_str() {
            assert_eq!(v["loads"][0]["applied"], true, "{v}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "policy never reloaded: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Polls `/api/v1/policy` until at least `n` loads are recorded.
fn wait_for_loads(http: &Http, n: usize) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v = http.get("/api/v1/policy").json();
        if v["loads"].as_array().is_some_and(|l| l.len() >= n) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no policy load recorded: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_bundle_moves_all_or_nothing() {
    if !signer_available() {
        return;
    }
    let s = Setup::start();
    let sbom = Some("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json");
    let api = s.build("dev/api", "2.0.0", sbom);
    let web = s.build("dev/web", "2.0.0", sbom);
    s.push_unsigned("dev/worker", "2.0.0");
    let releaser = s.as_user("releaser", &s.releaser);
    let post = |path: &str, body: Value| releaser.post_json(path, body.to_string().into_bytes());

    // one unsigned member: the whole bundle is denied and nothing moves
    let bad = json!({"name": "shop", "version": "2.0.0",
        "artifacts": ["dev/api:2.0.0", "dev/web:2.0.0", "dev/worker:2.0.0"]});
    post("/api/v1/bundles", bad.clone()).expect_status(201, "bundle");
    post("/api/v1/bundles", bad).expect_status(200, "the same bundle again");
    post(
        "/api/v1/bundles",
        json!({"name": "shop", "version": "2.0.0", "artifacts": ["dev/api:2.0.0"]}),
    )
    .expect_status(409, "a bundle never changes");
    let r = post(
        "/api/v1/bundles/shop@2.0.0/promotions",
        json!({"to": "staging"}),
    );
    r.expect_status(201, "promote the bundle");
    let v = r.json();
    assert_eq!(v["state"], "denied", "{v}");
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "signature-missing"),
        "{v}"
    );
    let members = v["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{v}");
    assert!(members.iter().all(|m| m["state"] == "denied"), "{v}");
    let api_member = members
        .iter()
        .find(|m| m["target_repository"] == "staging/api")
        .unwrap();
    assert_eq!(
        api_member["decision"]["verdict"], "allow",
        "its own rules pass: {v}"
    );
    assert!(
        api_member["error"]
            .as_str()
            .unwrap()
            .contains("staging/worker"),
        "{v}"
    );
    for repo in ["staging/api", "staging/web", "staging/worker"] {
        assert_eq!(
            s.inspect_digest(repo, "2.0.0"),
            None,
            "{repo} must not have moved"
        );
    }

    // the good bundle: staging at once, prod after approvals, every member together
    post(
        "/api/v1/bundles",
        json!({"name": "shop", "version": "2.0.1", "artifacts": ["dev/api:2.0.0", "dev/web:2.0.0"]}),
    )
    .expect_status(201, "good bundle");
    let v = post(
        "/api/v1/bundles/shop@2.0.1/promotions",
        json!({"to": "staging"}),
    )
    .json();
    assert_eq!(v["state"], "promoted", "{v}");
    let v = post(
        "/api/v1/bundles/shop@2.0.1/promotions",
        json!({"to": "prod", "change_request": "CHG-123456"}),
    )
    .json();
    assert_eq!(v["state"], "pending", "{v}");
    let first = v["members"][0]["id"].as_str().unwrap().to_string();
    let approvals = format!("/api/v1/promotions/{first}/approvals");
    let sec = s.as_user("sec-lead", &s.security);
    sec.post_json(&approvals, br#"{"group":"security"}"#.to_vec())
        .expect_status(200, "security approves the bundle");
    assert_eq!(s.inspect_digest("prod/api", "2.0.0"), None, "still pending");
    let ops = s.as_user("ops-lead", &s.ops);
    let r = ops.post_json(&approvals, br#"{"group":"ops"}"#.to_vec());
    r.expect_status(200, "ops approves the bundle");
    assert_eq!(r.json()["state"], "promoted", "{r}");
    let v =
        s.tg.admin()
            .get("/api/v1/bundles/shop@2.0.1/promotions/prod")
            .json();
    assert_eq!(v["state"], "promoted", "{v}");
    assert!(
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["approvals"].as_array().map(Vec::len) == Some(2)),
        "one approval covers every member: {v}"
    );
    assert_eq!(
        s.inspect_digest("prod/api", "2.0.0").as_deref(),
        Some(api.digest.as_str())
    );
    assert_eq!(
        s.inspect_digest("prod/web", "2.0.0").as_deref(),
        Some(web.digest.as_str())
    );
}
