//! The audit trail end to end (issue 7): actions through the registry and the API land in the
//! log with actor, target, decision and policy digest; auditors (and only they) read it, its
//! signed checkpoint and proofs; the proofs verify with an independent RFC 6962 check written
//! here; and `tollgate audit export` / `verify` catch every kind of tampering with the export,
//! naming where.

use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

const POLICY: &str = "version = 1\n\n[environments.dev]\n\n[environments.staging]\nfrom = [\"dev\"]\n\n[environments.prod]\nfrom = [\"staging\"]\n";

fn leaf(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn unhex(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// RFC 9162 §2.1.3.2, written independently of the gateway's implementation.
fn inclusion_root(leaf: [u8; 32], index: u64, size: u64, path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f % 2 == 1 || f == s {
            r = node(p, &r);
            while f % 2 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// `tollgate audit verify` against the running gateway, pinning `key`.
fn verify_running(tg: &Tollgate, token: &str, key: &str) -> CmdOutput {
    tollgate_cli(&[
        "audit",
        "verify",
        "--url",
        &tg.base_url(),
        "--token",
        token,
        "--key",
        key,
    ])
}

fn entries(http: &Http, query: &str) -> Vec<Value> {
    let r = http.get(&format!("/api/v1/audit?{query}"));
    r.expect_status(200, query);
    r.json()["entries"].as_array().cloned().unwrap_or_default()
}

fn actions(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn actions_are_logged_proven_and_exports_catch_tampering() {
    let mut tg = Tollgate::start_with_files(
        TollgateOpts::config(
            "[policy]\ndir = \"policy\"\n\n[audit]\norigin = \"tollgate.test/audit\"\n",
        ),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let admin = tg.admin();
    let ci_token = tg.create_token("ci", &["pusher:dev/*"]);
    let auditor_token = tg.create_token("compliance", &["auditor"]);
    let ci = tg.basic("ci", &ci_token);
    let auditor = tg.basic("compliance", &auditor_token);

    let img = TinyImage::new();
    ci.push_image("dev/app", "1.0.0", &img);
    let r = admin.post_json(
        "/api/v1/promotions",
        json!({"artifact": "dev/app:1.0.0", "to": "staging"})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.json()["state"], "promoted", "{r}");
    let stray = TinyImage::new();
    admin.push_image("staging/app", "9.0.0", &stray);
    admin
        .get_manifest("staging/app", "9.0.0")
        .expect_denied("not-promoted", "stray");

    // who may read it: auditors and admins, nobody else
    ci.get("/api/v1/audit")
        .expect_denied("role-missing", "a pusher reading the audit log");
    auditor.get("/api/v1/audit").expect_status(200, "auditor");
    tg.anon()
        .get("/api/v1/audit")
        .expect_status(401, "anonymous");
    // and an auditor cannot change anything
    auditor
        .post_json(
            "/api/v1/tokens",
            br#"{"name":"x","roles":["admin"]}"#.to_vec(),
        )
        .expect_status(403, "auditor creating a token");
    auditor
        .post_json(
            "/api/v1/promotions",
            json!({"artifact": "dev/app:1.0.0", "to": "staging"})
                .to_string()
                .into_bytes(),
        )
        .expect_status(403, "auditor promoting");

    // the record: every action, its actor, target, decision and policy
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let all = loop {
        let all = entries(&auditor, "limit=1000");
        if actions(&all).contains(&"pull-denied".to_string()) {
            break all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pull denial never logged: {all:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let acts = actions(&all);
    for want in [
        "policy-load",
        "token-create",
        "manifest-push",
        "promotion-requested",
        "promotion-decided",
        "promotion-completed",
        "pull-denied",
    ] {
        assert!(
            acts.contains(&want.to_string()),
            "{want} missing from {acts:?}"
        );
    }
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"], i as u64, "numbered without gaps: {e}");
    }
    let pushes = entries(
        &auditor,
        &format!("action=manifest-push&digest={}", img.digest),
    );
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["actor"], "ci");
    assert_eq!(pushes[0]["repository"], "dev/app");
    assert_eq!(pushes[0]["details"]["tag"], "1.0.0");
    let decided = entries(&auditor, "action=promotion-decided");
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["actor"], "admin");
    assert_eq!(decided[0]["decision"], "prm-000001");
    assert_eq!(decided[0]["details"]["verdict"], "allow");
    let policy = admin.get("/api/v1/policy").json();
    assert_eq!(
        decided[0]["policy_digest"], policy["current"]["digest"],
        "{policy}"
    );
    let denied = entries(&auditor, "action=pull-denied");
    assert_eq!(denied[0]["repository"], "staging/app");
    assert_eq!(denied[0]["actor"], "admin");
    let ci_only = entries(&auditor, "actor=ci");
    assert!(ci_only.iter().all(|e| e["actor"] == "ci") && !ci_only.is_empty());
    auditor
        .get("/api/v1/audit?since=yesterday")
        .expect_status(400, "bad time");

    // the signed checkpoint and an inclusion proof, checked independently
    let cp = auditor.get("/api/v1/audit/checkpoint?format=json").json();
    let size = cp["size"].as_u64().unwrap();
    assert!(size >= all.len() as u64, "{cp}");
    assert!(
        cp["note"]
            .as_str()
            .unwrap()
            .starts_with("tollgate.test/audit\n"),
        "{cp}"
    );
    assert!(
        cp["note"]
            .as_str()
            .unwrap()
            .contains("\n\n\u{2014} tollgate.test/audit "),
        "{cp}"
    );
    let export = auditor.get("/api/v1/audit/export").text();
    let lines: Vec<&str> = export.lines().collect();
    for seq in [0u64, size / 2, size - 1] {
        let p = auditor
            .get(&format!(
                "/api/v1/audit/proofs/inclusion?seq={seq}&tree_size={size}"
            ))
            .json();
        let path: Vec<[u8; 32]> = p["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unhex(h.as_str().unwrap()))
            .collect();
        let l = leaf(lines[seq as usize + 1].as_bytes());
        assert_eq!(
            hex::encode(l),
            p["leaf_hash"],
            "leaf {seq} is the exported line"
        );
        assert_eq!(
            inclusion_root(l, seq, size, &path)
                .map(hex::encode)
                .as_deref(),
            p["root"].as_str(),
            "inclusion of {seq} in {size}: {p}"
        );
    }
    assert_eq!(
        auditor
            .get(&format!(
                "/api/v1/audit/proofs/inclusion?seq=0&tree_size={size}"
            ))
            .json()["root"],
        cp["root"]
    );
    auditor
        .get("/api/v1/audit/proofs/inclusion?seq=999999")
        .expect_status(400, "no such entry");
    let c = auditor
        .get(&format!(
            "/api/v1/audit/proofs/consistency?from=1&to={size}"
        ))
        .json();
    assert_eq!(c["to_root"], cp["root"], "{c}");

    // verify the running gateway's log
    let key = auditor.get("/api/v1/audit/key").text().trim().to_string();
    let out = verify_running(&tg, &auditor_token, &key);
    assert!(out.success(), "{out}");

    // export from the data directory, verify, then tamper every way
    tg.stop();
    let work = tollgate_e2e::tempfile::TempDir::new().unwrap();
    let file = work.path().join("audit.jsonl");
    let data = tg.data_dir();
    let cfg = tg.config_path();
    tollgate_cli(&[
        "audit",
        "export",
        "--data",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ])
    .ok();
    let key_offline = tollgate_cli(&[
        "audit",
        "key",
        "--data",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ])
    .ok()
    .stdout_str();
    assert_eq!(key_offline.trim(), key, "the same key offline and online");
    let verify = |path: &Path, k: &str| {
        tollgate_cli(&["audit", "verify", path.to_str().unwrap(), "--key", k])
    };
    let out = verify(&file, &key);
    assert!(out.success(), "an untouched export verifies: {out}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true, "{v}");

    let original = std::fs::read_to_string(&file).unwrap();
    let body: Vec<&str> = original.lines().collect();
    let n = body.len() - 2; // header and checkpoints
    let write = |name: &str, lines: &[String]| {
        let p = work.path().join(name);
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p
    };
    let owned: Vec<String> = body.iter().map(|s| s.to_string()).collect();
    let target = 3usize; // entry seq 2 is line 3

    let mut edited = owned.clone();
    edited[target] = edited[target].replacen("\"actor\":\"", "\"actor\":\"mallory-", 1);
    let out = verify(&write("edited.jsonl", &edited), &key);
    assert_eq!(out.status.code(), Some(1), "an edited entry: {out}");
    assert!(out.stderr_str().contains("position 2"), "{out}");

    let mut removed = owned.clone();
    removed.remove(target);
    let out = verify(&write("removed.jsonl", &removed), &key);
    assert_eq!(out.status.code(), Some(1), "a removed entry: {out}");
    assert!(out.stderr_str().contains("position 2"), "{out}");

    let mut reordered = owned.clone();
    reordered.swap(target, target + 1);
    let out = verify(&write("reordered.jsonl", &reordered), &key);
    assert_eq!(out.status.code(), Some(1), "reordered entries: {out}");
    assert!(out.stderr_str().contains("position 2"), "{out}");

    let mut inserted = owned.clone();
    inserted.insert(target, owned[target].clone());
    let out = verify(&write("inserted.jsonl", &inserted), &key);
    assert_eq!(out.status.code(), Some(1), "an inserted entry: {out}");
    assert!(out.stderr_str().contains("position 3"), "{out}");

    let mut truncated = owned.clone();
    truncated.remove(n); // the last entry
    let out = verify(&write("truncated.jsonl", &truncated), &key);
    assert_eq!(out.status.code(), Some(1), "a removed last entry: {out}");

    // a checkpoint signed by someone else
    let other = tollgate_cli(&["audit", "key", "--data", work.path().to_str().unwrap()]);
    assert!(other.success(), "{other}");
    let out = verify(&file, other.stdout_str().trim());
    assert_eq!(
        out.status.code(),
        Some(1),
        "checkpoints not signed by the pinned key: {out}"
    );
    // not an export at all
    let out = verify(&write("junk.jsonl", &["nonsense".to_string()]), &key);
    assert_eq!(out.status.code(), Some(2), "{out}");
}

/// kill -9 in the middle of a burst of appends: every acknowledged entry survives, the log has
/// no gap and its tree still verifies against a fresh signed checkpoint.
#[test]
fn the_log_survives_kill_9_during_a_burst() {
    let mut tg = Tollgate::start(TollgateOpts::default());
    let auditor_token = tg.create_token("compliance", &["auditor"]);
    let base = tg.base_url();
    let admin_token = tg.admin_token.clone();
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    // writers: token creations, each acknowledged only after its audit entry is durable
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let http = Http::new(
                base.clone(),
                Auth::Basic("admin".into(), admin_token.clone()),
            );
            let acknowledged = std::sync::Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    let body = json!({"name": format!("t{w}-{i}"), "roles": ["reader"]});
                    match http.try_send(
                        http.request(tollgate_e2e::reqwest::Method::POST, "/api/v1/tokens")
                            .header("content-type", "application/json")
                            .body(body.to_string()),
                    ) {
                        Ok(r) if r.status == 201 => {
                            acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 200 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    tg.stop(); // SIGKILL mid-burst
    for w in writers {
        w.join().unwrap();
    }
    let acked = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    tg.restart();
    let auditor = tg.basic("compliance", &auditor_token);
    let mut n = 0u64;
    let mut from = 0u64;
    loop {
        let page = auditor
            .get(&format!(
                "/api/v1/audit?action=token-create&limit=1000&from={from}"
            ))
            .json();
        n += page["entries"].as_array().unwrap().len() as u64;
        match page["next"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    assert!(
        n > acked,
        "{acked} acknowledged token creations (+ the auditor's) but only {n} entries"
    );
    let key = auditor.get("/api/v1/audit/key").text().trim().to_string();
    let out = verify_running(&tg, &auditor_token, &key);
    assert!(out.success(), "the log verifies after kill -9: {out}");
}

/// Retention of the log: bodies past their period are pruned after an archival export, never
/// one a legal hold covers, and the tree still verifies. Time is moved with the debug-build
/// clock offset, not by sleeping.
#[test]
fn pruning_archives_first_respects_holds_and_keeps_the_tree_verifiable() {
    let mut tg = Tollgate::start(TollgateOpts::config(
        "[audit]\nretention_days = 30\nretention_by_action = { \"token-create\" = 1 }\n",
    ));
    let admin = tg.admin();
    let auditor_token = tg.create_token("compliance", &["auditor"]);
    tg.create_token("ephemeral", &["reader"]);
    let held = TinyImage::new();
    admin.push_image("dev/held", "1.0.0", &held);
    let free = TinyImage::new();
    admin.push_image("dev/free", "1.0.0", &free);
    let r = admin.post_json(
        "/api/v1/holds",
        json!({"digest": held.digest, "reason": "litigation"})
            .to_string()
            .into_bytes(),
    );
    r.expect_status(201, "hold");
    let auditor = tg.basic("compliance", &auditor_token);
    let before = entries(&auditor, "limit=1000");

    // two days later only the token creations are past their period
    tg.set_env("TOLLGATE_CLOCK_OFFSET_SECS", &(2 * 86_400).to_string());
    tg.restart();
    let admin = tg.admin();
    let auditor = tg.basic("compliance", &auditor_token);
    let r = admin.post_json("/api/v1/audit/prune", Vec::new());
    r.expect_status(200, "prune");
    let report = r.json();
    assert_eq!(report["pruned"], 2, "the two token creations: {report}");
    let archive = report["archive"]
        .as_str()
        .expect("archive path")
        .to_string();
    assert!(
        std::fs::read_to_string(&archive)
            .unwrap()
            .contains("\"token\":\"ephemeral\""),
        "the archive holds the pruned bodies"
    );
    assert!(entries(&auditor, "action=token-create").is_empty());

    // forty days later everything else goes too — except what the hold covers
    tg.set_env("TOLLGATE_CLOCK_OFFSET_SECS", &(40 * 86_400).to_string());
    tg.restart();
    let admin = tg.admin();
    let auditor = tg.basic("compliance", &auditor_token);
    let report = admin.post_json("/api/v1/audit/prune", Vec::new()).json();
    // the free artifact's push and the first prune's own entry go; the held artifact's push
    // and its hold stay
    assert_eq!(report["pruned"], 2, "{report}");
    assert_eq!(report["held"], 2, "{report}");
    let left = entries(&auditor, &format!("digest={}", held.digest));
    assert!(
        actions(&left).contains(&"manifest-push".to_string()),
        "the held artifact's push stays: {left:?}"
    );
    assert!(entries(&auditor, &format!("digest={}", free.digest)).is_empty());
    assert!(entries(&auditor, "limit=1000").len() < before.len() + 4);

    // pruned bodies keep their leaves: the log still verifies, and says how many are gone
    let key = auditor.get("/api/v1/audit/key").text().trim().to_string();
    let out = verify_running(&tg, &auditor_token, &key);
    assert!(out.success(), "{out}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pruned"], 4, "{v}");
    // only admins prune
    auditor
        .post_json("/api/v1/audit/prune", Vec::new())
        .expect_status(403, "auditor pruning");
}

/// An AdmissionReview (v1) of a Pod running `images` (none: a Pod with no containers).
fn pod_review(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{}", unique()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "web",
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "alice@example.com"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                       "spec": {"containers": containers}},
        }
    })
}

/// Sum of the `outcome` counts per environment over every `admission-allowed` entry.
fn admission_sums(http: &Http) -> (usize, std::collections::BTreeMap<String, u64>) {
    let list = entries(http, "action=admission-allowed&limit=1000");
    let mut sums = std::collections::BTreeMap::new();
    for e in &list {
        let d = &e["details"];
        assert!(
            d["since_ms"].as_i64().unwrap() <= d["until_ms"].as_i64().unwrap(),
            "{e}"
        );
        for (outcome, n) in d["counts"].as_object().unwrap() {
            *sums
                .entry(format!("{}/{outcome}", d["environment"].as_str().unwrap()))
                .or_default() += n.as_u64().unwrap();
        }
    }
    (list.len(), sums)
}

#[test]
fn allowed_admissions_are_summarised_per_interval_and_survive_a_stop() {
    let config = |secs: u64| {
        format!(
            "[[environments]]\nname = \"dev\"\npromotes_to = \"prod\"\n[[environments]]\nname = \"prod\"\n\n\
             [admission]\nregistries = [\"tollgate.test\"]\n\n\
             [admission.environments.dev]\nmode = \"warn\"\n\n\
             [audit]\nadmission_summary_secs = {secs}\n"
        )
    };
    let mut tg = Tollgate::start(TollgateOpts::config(config(1)));
    let post = |tg: &Tollgate, env: &str, images: &[&str]| {
        let r = tg.anon().post_json(
            &format!("/admission/{env}"),
            pod_review(images).to_string().into_bytes(),
        );
        r.expect_status(200, env);
        r.json()["response"]["allowed"].as_bool().unwrap()
    };
    let unknown = "tollgate.test/prod/app:9.9.9";
    for _ in 0..7 {
        assert!(post(&tg, "prod", &[]));
    }
    for _ in 0..3 {
        // Warn mode allows an image enforce mode would refuse: counted as "warned".
        assert!(post(&tg, "dev", &[unknown]));
    }
    assert!(!post(&tg, "prod", &[unknown]));

    // Within a few intervals the counts are written, as a handful of entries, not one per review.
    let admin = tg.admin();
    let deadline = Instant::now() + Duration::from_secs(15);
    let (n, sums) = loop {
        let (n, sums) = admission_sums(&admin);
        if sums.get("prod/allowed") == Some(&7) && sums.get("dev/warned") == Some(&3) {
            break (n, sums);
        }
        assert!(Instant::now() < deadline, "counts never written: {sums:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(n < 10, "{n} entries for 10 allowed reviews: {sums:?}");
    assert_eq!(sums.len(), 2, "{sums:?}");
    // Each refusal is its own entry, with the image and the reason: enforced in prod, and
    // the ones warn mode let through in dev.
    let denied = entries(&admin, "action=admission-denied");
    let enforced: Vec<bool> = denied
        .iter()
        .map(|e| e["details"]["enforced"].as_bool().unwrap())
        .collect();
    assert_eq!(enforced.iter().filter(|e| **e).count(), 1, "{denied:?}");
    assert_eq!(enforced.len(), 4, "{denied:?}");
    assert!(
        denied
            .iter()
            .all(|e| e["details"]["reason"] == "image-unknown" && e["details"]["image"] == unknown),
        "{denied:?}"
    );

    // Counts still pending when the gateway is stopped are written before it exits.
    tg.restart_with_config(config(3600));
    for _ in 0..4 {
        assert!(post(&tg, "prod", &[]));
    }
    tg.terminate(Duration::from_secs(20));
    tg.restart();
    let (_, sums) = admission_sums(&tg.admin());
    assert_eq!(sums.get("prod/allowed"), Some(&11), "{sums:?}");
    let auditor_token = tg.create_token("compliance", &["auditor"]);
    let key = tg
        .admin()
        .get("/api/v1/audit/key")
        .text()
        .trim()
        .to_string();
    let out = verify_running(&tg, &auditor_token, &key);
    assert!(out.success(), "{out}");
}
