//! Retention end to end (issue 5, item 7): a seeded `dev/app` — five SemVer versions, an
//! untagged manifest, evidence (an OCI referrer and cosign-style `sha256-<hex>.sig|.att` tags)
//! on old and new versions — with the oldest version promoted dev → staging → prod and a legal
//! hold on another old one. With `keep_versions = 2` the plan keeps the two newest versions,
//! the one prod runs (in every repository holding it), the held one and the evidence of kept
//! artifacts, and deletes the rest with their evidence; `apply` does exactly that (GETs answer
//! 404 for what went, 200 for what stayed, blobs only deleted manifests used are gone too), a
//! second `apply` deletes nothing, and lifting the hold lets the next run take that version.
//! The CLI (`tollgate retention plan|apply`) is exercised against the same gateway.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

const POLICY: &str = "version = 1\n[environments.dev]\n[environments.staging]\nfrom = [\"dev\"]\n[environments.prod]\nfrom = [\"staging\"]\n";

const CONFIG: &str = "[policy]\ndir = \"policy\"\n\n[[retention.rules]]\nrepositories = \"dev/*\"\nkeep_versions = 2\nuntagged_days = 0\n";

const REPORT: &str = "application/vnd.example.report+json";
const SIG_LAYER: &str = "application/vnd.example.signature";

/// An evidence manifest over a unique layer (no verifiable signature in it, so it is recorded
/// as evidence without being judged); pushed with `reference` (a digest or a cosign tag).
fn push_evidence(
    http: &Http,
    repo: &str,
    subject: Option<&TinyImage>,
    reference: Option<&str>,
) -> String {
    let layer = Blob::new(
        if subject.is_some() { REPORT } else { SIG_LAYER },
        format!("evidence {}", unique()).into_bytes(),
    );
    http.push_blob(repo, &Blob::empty().data);
    http.push_blob(repo, &layer.data);
    let (bytes, digest) = artifact_manifest(
        &layer.media_type,
        &layer,
        subject.map(TinyImage::manifest_descriptor),
        &BTreeMap::new(),
    );
    http.put_manifest(repo, reference.unwrap_or(&digest), OCI_MANIFEST, &bytes)
        .expect_status(201, &format!("push evidence {digest} into {repo}"));
    digest
}

/// Pushes the image's blobs and its manifest by digest only (untagged).
fn push_untagged(http: &Http, repo: &str, img: &TinyImage) {
    http.push_blob(repo, &img.config.data);
    http.push_blob(repo, &img.layer.data);
    http.put_manifest(repo, &img.digest, OCI_MANIFEST, &img.manifest)
        .expect_status(201, &format!("push untagged {} into {repo}", img.digest));
}

fn cosign_tag(subject: &str, suffix: &str) -> String {
    format!("sha256-{}.{suffix}", digest_hex(subject))
}

/// `(action, reason)` of every decision, by `repository@digest`.
fn decisions(v: &Value) -> BTreeMap<String, (String, String)> {
    v["decisions"]
        .as_array()
        .unwrap_or_else(|| panic!("no decisions: {v}"))
        .iter()
        .map(|d| {
            (
                format!(
                    "{}@{}",
                    d["repository"].as_str().unwrap(),
                    d["digest"].as_str().unwrap()
                ),
                (
                    d["action"].as_str().unwrap().to_string(),
                    d["reason"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

struct Seeded {
    tg: Tollgate,
    /// 1.0.0 (runs in prod), 1.1.0, 1.2.0 (held), 2.0.0-rc.1, 2.0.0
    versions: Vec<TinyImage>,
    untagged: TinyImage,
    /// referrer of 1.0.0 (kept with it; copied to staging and prod by the promotions)
    running_referrer: String,
    /// referrer and cosign `.sig` of 1.1.0 (deleted with it)
    old_referrer: String,
    old_sig: String,
    /// cosign `.att` of 2.0.0 (kept with it)
    new_att: String,
    hold_id: String,
}

fn seed() -> Seeded {
    let tg = Tollgate::start_with_files(
        TollgateOpts::config(CONFIG),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let ci_token = tg.create_token("ci", &["pusher:dev/*"]);
    let releaser = tg.create_token("releaser", &["promoter"]);
    let ci = tg.basic("ci", &ci_token);

    let tags = ["1.0.0", "1.1.0", "1.2.0", "2.0.0-rc.1", "2.0.0"];
    let versions: Vec<TinyImage> = tags
        .iter()
        .map(|t| {
            let img = TinyImage::new();
            ci.push_image("dev/app", t, &img);
            img
        })
        .collect();
    let untagged = TinyImage::new();
    push_untagged(&ci, "dev/app", &untagged);
    // The same bytes as 1.0.0, untagged, in another covered repository.
    push_untagged(&ci, "dev/mirror", &versions[0]);

    let running_referrer = push_evidence(&ci, "dev/app", Some(&versions[0]), None);
    let old_referrer = push_evidence(&ci, "dev/app", Some(&versions[1]), None);
    let old_sig = push_evidence(
        &ci,
        "dev/app",
        None,
        Some(&cosign_tag(&versions[1].digest, "sig")),
    );
    let new_att = push_evidence(
        &ci,
        "dev/app",
        None,
        Some(&cosign_tag(&versions[4].digest, "att")),
    );

    let promoter = tg.basic("releaser", &releaser);
    for (artifact, to) in [("dev/app:1.0.0", "staging"), ("staging/app:1.0.0", "prod")] {
        let r = promoter.post_json(
            "/api/v1/promotions",
            json!({"artifact": artifact, "to": to})
                .to_string()
                .into_bytes(),
        );
        r.expect_status(201, &format!("promote {artifact} to {to}"));
        assert_eq!(r.json()["state"], "promoted", "{r}");
    }
    let r = tg.admin().post_json(
        "/api/v1/holds",
        json!({"digest": versions[2].digest, "reason": "litigation 2026-17"})
            .to_string()
            .into_bytes(),
    );
    r.expect_status(201, "place a legal hold on 1.2.0");
    let hold_id = r.json()["id"].as_str().unwrap().to_string();
    Seeded {
        tg,
        versions,
        untagged,
        running_referrer,
        old_referrer,
        old_sig,
        new_att,
        hold_id,
    }
}

#[test]
fn plan_and_apply_keep_what_runs_in_prod_and_drop_the_rest_with_its_evidence() {
    let s = seed();
    let admin = s.tg.admin();
    let v = &s.versions;
    let at = |repo: &str, d: &str| format!("{repo}@{d}");
    let keep = |r: &str| ("keep".to_string(), r.to_string());
    let delete = |r: &str| ("delete".to_string(), r.to_string());

    // Only admins plan or apply.
    let reader = s.tg.create_token("reader", &["reader"]);
    s.tg.basic("reader", &reader)
        .post_json("/api/v1/retention/plan", b"{}".to_vec())
        .expect_denied("role-missing", "a reader asks for a retention plan");
    s.tg.anon()
        .post_json("/api/v1/retention/apply", b"{}".to_vec())
        .expect_status(401, "anonymous retention apply");

    // The plan: every manifest of dev/app and dev/mirror, nothing of staging/ or prod/.
    let r = admin.post_json("/api/v1/retention/plan", b"{}".to_vec());
    r.expect_status(200, "POST /api/v1/retention/plan");
    let plan = r.json();
    let expected: BTreeMap<String, (String, String)> = [
        (at("dev/app", &v[4].digest), keep("retention-keep-latest")),
        (at("dev/app", &v[3].digest), keep("retention-keep-latest")),
        (at("dev/app", &v[2].digest), keep("retention-held")),
        (
            at("dev/app", &v[1].digest),
            delete("retention-beyond-latest"),
        ),
        (at("dev/app", &v[0].digest), keep("retention-running")),
        (at("dev/mirror", &v[0].digest), keep("retention-running")),
        (
            at("dev/app", &s.untagged.digest),
            delete("retention-untagged-expired"),
        ),
        (
            at("dev/app", &s.running_referrer),
            keep("retention-evidence-of-kept"),
        ),
        (
            at("dev/app", &s.new_att),
            keep("retention-evidence-of-kept"),
        ),
        (
            at("dev/app", &s.old_referrer),
            delete("retention-evidence-of-deleted"),
        ),
        (
            at("dev/app", &s.old_sig),
            delete("retention-evidence-of-deleted"),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(decisions(&plan), expected, "{plan:#}");
    assert_eq!(plan["summary"]["delete"], 4, "{plan:#}");
    assert_eq!(plan["summary"]["keep"], 7, "{plan:#}");
    assert_eq!(plan["rules"][0]["repositories"], "dev/*");
    let running = plan["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["digest"] == v[0].digest.as_str() && d["repository"] == "dev/app")
        .unwrap();
    assert!(
        running["message"]
            .as_str()
            .unwrap()
            .contains("prod (prod/app)"),
        "{running}"
    );
    assert_eq!(running["tags"], json!(["1.0.0"]));
    // A dry run changes nothing.
    admin
        .get_manifest("dev/app", "1.1.0")
        .expect_status(200, "1.1.0 after the plan");

    // Apply: exactly the planned deletions.
    let r = admin.post_json("/api/v1/retention/apply", b"{}".to_vec());
    r.expect_status(200, "POST /api/v1/retention/apply");
    let report = r.json();
    assert_eq!(decisions(&report), expected, "{report:#}");
    assert_eq!(report["summary"]["deleted"], 4, "{report:#}");
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    assert_eq!(report["failures"], json!([]), "{report:#}");
    let gone: BTreeSet<String> = report["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = [
        &v[1].digest,
        &s.untagged.digest,
        &s.old_referrer,
        &s.old_sig,
    ]
    .into_iter()
    .cloned()
    .collect();
    assert_eq!(gone, want, "{report:#}");

    // What went answers 404, by digest and by tag.
    for d in &want {
        admin
            .get_manifest("dev/app", d)
            .expect_status(404, &format!("deleted {d}"));
    }
    admin
        .get_manifest("dev/app", "1.1.0")
        .expect_status(404, "tag 1.1.0 after apply");
    admin
        .get_manifest("dev/app", &cosign_tag(&v[1].digest, "sig"))
        .expect_status(404, "the .sig tag of 1.1.0 after apply");
    // What stayed answers 200.
    for (i, tag) in [(0, "1.0.0"), (2, "1.2.0"), (3, "2.0.0-rc.1"), (4, "2.0.0")] {
        admin.expect_image("dev/app", &v[i], &format!("dev/app:{tag} after apply"));
        admin
            .get_manifest("dev/app", tag)
            .expect_status(200, &format!("tag {tag} after apply"));
    }
    for d in [&s.running_referrer, &s.new_att] {
        admin
            .get_manifest("dev/app", d)
            .expect_status(200, &format!("evidence {d} of a kept artifact"));
    }
    admin
        .get_manifest("dev/app", &cosign_tag(&v[4].digest, "att"))
        .expect_status(200, "the .att tag of 2.0.0");
    admin
        .get_manifest("dev/mirror", &v[0].digest)
        .expect_status(200, "what prod runs, in dev/mirror");
    for repo in ["staging/app", "prod/app"] {
        admin.expect_image(repo, &v[0], &format!("{repo}:1.0.0 untouched"));
        admin
            .get_manifest(repo, &s.running_referrer)
            .expect_status(200, &format!("the referrer copied into {repo}"));
    }
    // The referrers index follows: 1.0.0 keeps its referrer, nothing lists the deleted one.
    let refs = admin.get(&format!("/v2/dev/app/referrers/{}", v[0].digest));
    refs.expect_status(200, "referrers of 1.0.0");
    assert!(refs.text().contains(&s.running_referrer), "{refs}");
    // Blobs only deleted manifests used are gone; shared ones (the empty config) stay.
    for b in [&v[1].config, &v[1].layer, &s.untagged.layer] {
        admin
            .head(&format!("/v2/dev/app/blobs/{}", b.digest))
            .expect_status(404, &format!("blob {} of a deleted manifest", b.digest));
    }
    admin
        .head(&format!("/v2/dev/app/blobs/{}", Blob::empty().digest))
        .expect_status(200, "the empty config kept evidence still uses");
    assert!(
        report["summary"]["blobs_removed"].as_u64().unwrap() >= 3,
        "{report:#}"
    );

    // Again: nothing more to delete.
    let r = admin.post_json("/api/v1/retention/apply", b"{}".to_vec());
    r.expect_status(200, "second apply");
    let again = r.json();
    assert_eq!(again["summary"]["deleted"], 0, "{again:#}");
    assert_eq!(again["summary"]["delete"], 0, "{again:#}");
    assert_eq!(again["summary"]["failed"], 0, "{again:#}");

    // The log says what went and why.
    let log = s.tg.log();
    assert!(
        log.contains("retention deleted a manifest") && log.contains("retention-beyond-latest"),
        "{log}"
    );

    // Lifting the hold: 1.2.0 is just an old version now — via the CLI.
    admin
        .delete(&format!("/api/v1/holds/{}", s.hold_id))
        .expect_status(204, "lift the hold");
    let base = s.tg.base_url();
    let out = tollgate_cli(&[
        "retention",
        "plan",
        "--url",
        &base,
        "--token",
        &s.tg.admin_token,
        "--json",
    ]);
    assert!(out.success(), "{out}");
    let cli_plan: Value = serde_json::from_slice(&out.stdout).expect("plan --json is JSON");
    assert_eq!(
        decisions(&cli_plan).get(&at("dev/app", &v[2].digest)),
        Some(&delete("retention-beyond-latest")),
        "{cli_plan:#}"
    );
    assert_eq!(cli_plan["summary"]["delete"], 1, "{cli_plan:#}");
    let out = tollgate_cli(&[
        "retention",
        "plan",
        "--url",
        &base,
        "--token",
        &s.tg.admin_token,
    ]);
    assert!(out.success(), "{out}");
    let table = out.stdout_str();
    assert!(
        table.contains("ACTION") && table.contains("retention-beyond-latest"),
        "{table}"
    );
    assert!(table.contains("1 to delete, 6 to keep"), "{table}");
    admin
        .get_manifest("dev/app", "1.2.0")
        .expect_status(200, "1.2.0 after a CLI plan");
    let out = tollgate_cli(&[
        "retention",
        "apply",
        "--url",
        &base,
        "--token",
        &s.tg.admin_token,
    ]);
    assert!(out.success(), "{out}");
    assert!(
        out.stdout_str()
            .contains("deleted 1 of 1 planned, 0 failed"),
        "{out}"
    );
    admin
        .get_manifest("dev/app", "1.2.0")
        .expect_status(404, "1.2.0 after the CLI apply");
    admin
        .get_manifest("dev/app", "1.0.0")
        .expect_status(200, "what prod runs, after the CLI apply");

    // A token that may not: exit 2 with the gateway's reason.
    let out = tollgate_cli(&["retention", "plan", "--url", &base, "--token", &reader]);
    assert_eq!(out.status.code(), Some(2), "{out}");
    assert!(out.stderr_str().contains("403"), "{out}");
}

#[test]
fn a_bad_retention_rule_is_refused_with_its_line() {
    let dir = tollgate_e2e::tempfile::TempDir::new().unwrap();
    let cfg = dir.path().join("tollgate.toml");
    std::fs::write(
        &cfg,
        "[[retention.rules]]\nrepositories = \"dev/*\"\nkeep_versions = 0\n",
    )
    .unwrap();
    let out = tollgate_cli(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out}");
    assert!(
        out.stderr_str()
            .contains("tollgate.toml:3:17: keep_versions must be at least 1"),
        "{out}"
    );
}

#[test]
fn upstream_apply_deletes_in_the_registry_too() {
    if !require_tools(&["docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let tg = Tollgate::start(TollgateOpts {
        upstream: Some(reg.url()),
        config: Some(
            "[[retention.rules]]\nrepositories = \"dev/*\"\nkeep_versions = 1\n".to_string(),
        ),
        ..Default::default()
    });
    let admin = tg.admin();
    let up = reg.http();
    let (old, held, new) = (TinyImage::new(), TinyImage::new(), TinyImage::new());
    admin.push_image("dev/app", "1.0.0", &old);
    admin.push_image("dev/app", "1.1.0", &held);
    admin.push_image("dev/app", "2.0.0", &new);
    let sig = push_evidence(
        &admin,
        "dev/app",
        None,
        Some(&cosign_tag(&old.digest, "sig")),
    );
    let r = admin.post_json(
        "/api/v1/holds",
        json!({"repositories": "dev/a*", "reason": "audit"})
            .to_string()
            .into_bytes(),
    );
    r.expect_status(201, "hold on dev/a*");
    let hold = r.json()["id"].as_str().unwrap().to_string();
    // Everything is held: nothing goes.
    let r = admin.post_json("/api/v1/retention/apply", b"{}".to_vec());
    r.expect_status(200, "apply under a hold");
    assert_eq!(r.json()["summary"]["deleted"], 0, "{r}");
    admin
        .delete(&format!("/api/v1/holds/{hold}"))
        .expect_status(204, "lift the hold");

    let r = admin.post_json("/api/v1/retention/apply", b"{}".to_vec());
    r.expect_status(200, "apply");
    let v = r.json();
    assert_eq!(v["summary"]["deleted"], 3, "{v:#}");
    assert_eq!(v["summary"]["failed"], 0, "{v:#}");
    for d in [&old.digest, &held.digest, &sig] {
        up.get_manifest("dev/app", d)
            .expect_status(404, &format!("{d} upstream after apply"));
        admin
            .get_manifest("dev/app", d)
            .expect_status(404, &format!("{d} through Tollgate after apply"));
    }
    up.get_manifest("dev/app", &new.digest)
        .expect_status(200, "2.0.0 upstream after apply");
    admin.expect_image("dev/app", &new, "2.0.0 through Tollgate after apply");
    let again = admin.post_json("/api/v1/retention/apply", b"{}".to_vec());
    again.expect_status(200, "second apply");
    assert_eq!(again.json()["summary"]["deleted"], 0, "{again}");
}
