//! Kubernetes admission end to end (issue 6): AdmissionReview requests — the shared fixtures
//! from connaisseur's test corpus and hand-made ones for every workload kind — POSTed to the
//! built gateway. The answer keeps the request's apiVersion and echoes its uid; an image is
//! admitted only when its digest (a tag resolved from the store) was promoted to the
//! environment asked about; every refused image is named with its reason code; warn mode
//! allows with warnings; a broken request is a 400; the mutating endpoint pins tags to
//! digests with a JSONPatch; decisions are counted and refusals listed; and the whole thing
//! is served over HTTPS when given a certificate.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::tempfile::TempDir;
use tollgate_e2e::*;

const HOST: &str = "tollgate.example.com";
const UNKNOWN_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000001";

const POLICY: &str = "version = 1\n[environments.dev]\n[environments.staging]\nfrom = [\"dev\"]\n[environments.prod]\nfrom = [\"staging\"]\n";

/// dev → staging → prod, plus `perf`, which nothing is promoted into; staging admits in warn
/// mode.
const CONFIG: &str = r#"
[policy]
dir = "policy"

[[environments]]
name = "dev"
promotes_to = "staging"
[[environments]]
name = "staging"
promotes_to = "prod"
[[environments]]
name = "prod"
[[environments]]
name = "perf"

[admission]
registries = ["Tollgate.Example.com", "10.0.0.5:5000"]
exempt_images = ["registry.k8s.io/pause"]

[admission.environments.staging]
mode = "warn"
"#;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/admission")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture JSON")
}

fn start() -> Tollgate {
    Tollgate::start_with_files(
        TollgateOpts::config(CONFIG),
        &[("policy/base.toml", POLICY.as_bytes())],
    )
}

/// POSTs `review` to `path` with no credentials, as an API server does.
fn post(tg: &Tollgate, path: &str, review: &Value) -> Resp {
    tg.anon().post_json(path, review.to_string().into_bytes())
}

/// POSTs and checks the envelope: 200, JSON, the request's apiVersion, kind, uid.
fn answer(tg: &Tollgate, path: &str, review: &Value) -> Value {
    let r = post(tg, path, review);
    r.expect_status(200, &format!("POST {path}"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json"),
        "{r}"
    );
    let v = r.json();
    assert_eq!(
        v["apiVersion"], review["apiVersion"],
        "apiVersion kept: {v}"
    );
    assert_eq!(v["kind"], "AdmissionReview", "{v}");
    assert_eq!(
        v["response"]["uid"], review["request"]["uid"],
        "uid echoed: {v}"
    );
    assert!(v["response"]["allowed"].is_boolean(), "{v}");
    v["response"].clone()
}

fn message(resp: &Value) -> String {
    resp["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A v1 review of `object` (of `group`/`version`/`kind`) for `operation`.
fn review(group: &str, version: &str, kind: &str, object: Value, operation: &str) -> Value {
    let resource = format!("{}s", kind.to_lowercase());
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{}", unique()),
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "name": "web",
            "namespace": "shop",
            "operation": operation,
            "userInfo": {"username": "alice@example.com", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

fn pod_spec(containers: &[&str], init: &[&str]) -> Value {
    let list = |images: &[&str], prefix: &str| -> Vec<Value> {
        images
            .iter()
            .enumerate()
            .map(|(i, img)| json!({"name": format!("{prefix}{i}"), "image": img}))
            .collect()
    };
    json!({"containers": list(containers, "c"), "initContainers": list(init, "init")})
}

/// A review of an object of every kind that runs pods, with `spec` as its pod spec.
fn workloads(spec: &Value) -> Vec<(&'static str, Value)> {
    let templated = |api: &str, kind: &str| {
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": "web"},
               "spec": {"replicas": 1, "template": {"metadata": {}, "spec": spec}}})
    };
    let cron = |api: &str| {
        json!({"apiVersion": api, "kind": "CronJob", "metadata": {"name": "web"},
               "spec": {"schedule": "*/5 * * * *",
                        "jobTemplate": {"spec": {"template": {"spec": spec}}}}})
    };
    vec![
        (
            "Pod",
            review(
                "",
                "v1",
                "Pod",
                json!({"apiVersion": "v1", "kind": "Pod", "spec": spec}),
                "CREATE",
            ),
        ),
        (
            "Deployment",
            review(
                "apps",
                "v1",
                "Deployment",
                templated("apps/v1", "Deployment"),
                "CREATE",
            ),
        ),
        (
            "ReplicaSet",
            review(
                "apps",
                "v1",
                "ReplicaSet",
                templated("apps/v1", "ReplicaSet"),
                "UPDATE",
            ),
        ),
        (
            "StatefulSet",
            review(
                "apps",
                "v1",
                "StatefulSet",
                templated("apps/v1", "StatefulSet"),
                "CREATE",
            ),
        ),
        (
            "DaemonSet",
            review(
                "apps",
                "v1",
                "DaemonSet",
                templated("apps/v1", "DaemonSet"),
                "CREATE",
            ),
        ),
        (
            "Job",
            review("batch", "v1", "Job", templated("batch/v1", "Job"), "CREATE"),
        ),
        (
            "CronJob batch/v1",
            review("batch", "v1", "CronJob", cron("batch/v1"), "CREATE"),
        ),
        (
            "CronJob batch/v1beta1",
            review(
                "batch",
                "v1beta1",
                "CronJob",
                cron("batch/v1beta1"),
                "CREATE",
            ),
        ),
        (
            "ReplicationController",
            review(
                "",
                "v1",
                "ReplicationController",
                templated("v1", "ReplicationController"),
                "CREATE",
            ),
        ),
    ]
}

#[test]
fn shared_fixtures_are_answered_in_their_own_terms() {
    let tg = start();

    // A Pod pinned by digest to Docker Hub: not a Tollgate registry.
    let pod = fixture("02_pod.json");
    let resp = answer(&tg, "/admission/prod", &pod);
    assert_eq!(resp["allowed"], false, "{resp}");
    assert_eq!(resp["status"]["code"], 403, "{resp}");
    let m = message(&resp);
    assert!(
        m.contains(
            "securesystemsengineering/charlie-image@sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff"
        ) && m.contains("container test-connaisseur")
            && m.contains("registry-not-tollgate")
            && m.contains("docker.io is not a Tollgate registry"),
        "{m}"
    );
    assert!(
        resp.get("patch").is_none(),
        "a validating answer never patches"
    );
    assert_eq!(resp["auditAnnotations"]["decision"], "denied", "{resp}");

    // A DaemonSet's template image from quay.io, by tag.
    let ds = fixture("06_daemonset.json");
    let resp = answer(&tg, "/admission/prod", &ds);
    assert_eq!(resp["allowed"], false, "{resp}");
    let m = message(&resp);
    assert!(
        m.contains("quay.io/fluentd_elasticsearch/fluentd:v2.5.2")
            && m.contains("container fluentd-elasticsearch")
            && m.contains("registry-not-tollgate"),
        "{m}"
    );

    // A Role holds no image: allowed.
    let role = fixture("11_role.json");
    let resp = answer(&tg, "/admission/prod", &role);
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(resp.get("status").is_none(), "{resp}");

    // The broken request (no uid, no kind, no object): a clear 400, never an allow.
    let broken = fixture("21_broken_admission_request.json");
    let r = post(&tg, "/admission/prod", &broken);
    r.expect_status(400, "broken AdmissionReview");
    let e = &r.errors()[0];
    assert_eq!(e.code, "BAD_REQUEST", "{r}");
    assert!(e.message.contains("request.uid is missing"), "{r}");

    // v1beta1 is answered as v1beta1.
    let mut old = fixture("02_pod.json");
    old["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let resp = answer(&tg, "/admission/prod", &old);
    assert_eq!(resp["allowed"], false, "{resp}");

    // Other malformed bodies.
    for (body, want) in [
        (&b"{not json"[..], "not JSON"),
        (&b""[..], "empty"),
        (&b"[1]"[..], "not an AdmissionReview"),
        (
            &br#"{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{}}"#[..],
            "admission.k8s.io/v2",
        ),
        (
            &br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#[..],
            "no request",
        ),
    ] {
        let r = tg.anon().post_json("/admission/prod", body.to_vec());
        r.expect_status(400, &String::from_utf8_lossy(body));
        assert!(r.errors()[0].message.contains(want), "{r}");
    }
    let mut no_object = fixture("02_pod.json");
    no_object["request"]["object"] = Value::Null;
    let r = post(&tg, "/admission/prod", &no_object);
    r.expect_status(400, "CREATE without object");
    assert!(r.text().contains("request.object is missing"), "{r}");
    // An environment that does not exist: 404, so failurePolicy decides.
    let r = post(&tg, "/admission/qa", &pod);
    r.expect_status(404, "unknown environment");
    assert!(
        r.text()
            .contains("environments are dev, staging, prod, perf"),
        "{r}"
    );

    // Counted by environment and outcome.
    let text = tg.metrics();
    let series = |outcome: &str| {
        metric_series(
            &text,
            &format!(
                "tollgate_admission_reviews_total{{environment=\"prod\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(series("denied"), Some(3.0), "{text}");
    assert_eq!(series("allowed"), Some(1.0), "{text}");
    assert_eq!(series("error"), Some(7.0), "{text}");
    assert_eq!(
        metric_series(
            &text,
            "tollgate_admission_refused_images_total{environment=\"prod\",reason=\"registry-not-tollgate\"}"
        ),
        Some(3.0),
        "{text}"
    );

    // Refusals are kept with image, reason and requester, for auditors and admins only.
    let r = tg.admin().get("/api/v1/admission/denials?environment=prod");
    r.expect_status(200, "denials as admin");
    let list = r.json()["denials"].as_array().cloned().unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    let pod_denial = list
        .iter()
        .find(|d| d["uid"] == pod["request"]["uid"])
        .expect("the pod's denial");
    assert_eq!(
        pod_denial["requester"],
        "system:serviceaccount:kube-system:replicaset-controller"
    );
    assert_eq!(pod_denial["namespace"], "test-connaisseur");
    assert_eq!(pod_denial["kind"], "Pod");
    assert_eq!(pod_denial["enforced"], true);
    assert_eq!(pod_denial["images"][0]["reason"], "registry-not-tollgate");
    assert!(
        pod_denial["images"][0]["image"]
            .as_str()
            .unwrap()
            .starts_with("securesystemsengineering/charlie-image@sha256:")
    );
    let ds_denial = &list[list.len() - 1];
    assert!(list[0]["at"].as_str().unwrap() >= ds_denial["at"].as_str().unwrap());
    assert!(tg.log().contains("admission refused an image"));
    let auditor = tg.create_token("auditor", &["auditor"]);
    tg.bearer(&auditor)
        .get("/api/v1/admission/denials")
        .expect_status(200, "auditor");
    let pusher = tg.create_token("ci", &["pusher:dev/*"]);
    tg.bearer(&pusher)
        .get("/api/v1/admission/denials")
        .expect_status(403, "a pusher is no auditor");
    tg.anon()
        .get("/api/v1/admission/denials")
        .expect_status(401, "anonymous");

    // A dry run is answered and counted, but leaves no record.
    let mut dry = fixture("06_daemonset.json");
    dry["request"]["uid"] = json!("dry-run-uid");
    dry["request"]["dryRun"] = json!(true);
    let resp = answer(&tg, "/admission/prod", &dry);
    assert_eq!(resp["allowed"], false);
    let list = tg.admin().get("/api/v1/admission/denials").json()["denials"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(list.len(), 3, "dry run not recorded: {list:?}");
}

/// Pushes `dev/app:1.0.0` (promoted to staging and prod) and `dev/app:2.0.0` (staging only).
struct Promoted {
    tg: Tollgate,
    v1: String,
    v2: String,
}

fn promoted() -> Promoted {
    let tg = start();
    let http = tg.admin();
    let v1 = http.push_image("dev/app", "1.0.0", &TinyImage::new());
    let v2 = http.push_image("dev/app", "2.0.0", &TinyImage::new());
    let releaser = tg.create_token("releaser", &["promoter"]);
    let rel = tg.bearer(&releaser);
    for (artifact, to) in [
        ("dev/app:1.0.0", "staging"),
        ("staging/app:1.0.0", "prod"),
        ("dev/app:2.0.0", "staging"),
    ] {
        let r = rel.post_json(
            "/api/v1/promotions",
            json!({"artifact": artifact, "to": to})
                .to_string()
                .into_bytes(),
        );
        assert!(r.status == 201 || r.status == 200, "{r}");
        assert_eq!(r.json()["state"], "promoted", "{artifact} → {to}: {r}");
    }
    Promoted { tg, v1, v2 }
}

fn deployment(images: &[&str], init: &[&str]) -> Value {
    workloads(&pod_spec(images, init))
        .into_iter()
        .find(|(k, _)| *k == "Deployment")
        .unwrap()
        .1
}

#[test]
fn images_are_admitted_only_where_they_were_promoted() {
    let Promoted { tg, v1, v2 } = promoted();
    let prod_v1 = format!("{HOST}/prod/app:1.0.0");

    // Promoted to prod: allowed, in every kind that runs pods.
    for (kind, r) in workloads(&pod_spec(&[&prod_v1], &[])) {
        let resp = answer(&tg, "/admission/prod", &r);
        assert_eq!(resp["allowed"], true, "{kind}: {resp}");
        assert_eq!(
            resp["auditAnnotations"]["digests"],
            format!("{prod_v1}={v1}"),
            "{kind}: {resp}"
        );
    }
    // By digest, through either configured host name (case-insensitive), from any of its
    // environment's repositories.
    for img in [
        format!("TOLLGATE.example.com/prod/app@{v1}"),
        format!("10.0.0.5:5000/staging/app:1.0.0@{v1}"),
        format!("{HOST}/prod/app:1.0.0"),
    ] {
        let resp = answer(&tg, "/admission/prod", &deployment(&[&img], &[]));
        assert_eq!(resp["allowed"], true, "{img}: {resp}");
    }
    // Promoted to prod, but not into this prod repository: its pull would be refused.
    let other = format!("{HOST}/prod/other@{v1}");
    let resp = answer(&tg, "/admission/prod", &deployment(&[&other], &[]));
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(
        message(&resp).contains(&format!(
            "not-promoted: {v1} was never promoted into prod/other"
        )),
        "{resp}"
    );
    // The entry environment holds what was pushed into it.
    let resp = answer(
        &tg,
        "/admission/dev",
        &deployment(&[&format!("{HOST}/dev/app:2.0.0")], &[]),
    );
    assert_eq!(resp["allowed"], true, "{resp}");

    // The same image in an environment it was never promoted to.
    let resp = answer(&tg, "/admission/perf", &deployment(&[&prod_v1], &[]));
    assert_eq!(resp["allowed"], false, "{resp}");
    let m = message(&resp);
    assert!(
        m.contains(&format!("{prod_v1} (container c0): not-promoted: {v1} was never promoted to perf (it is in dev, staging, prod)")),
        "{m}"
    );
    // Promoted to staging only: not in prod.
    let staging_v2 = format!("{HOST}/staging/app:2.0.0");
    let resp = answer(&tg, "/admission/prod", &deployment(&[&staging_v2], &[]));
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(
        message(&resp).contains(&format!("not-promoted: {v2} was never promoted to prod")),
        "{resp}"
    );

    // Every refused image is listed with its reason; allowed ones are not.
    let unknown_pinned = format!("{HOST}/prod/app@{UNKNOWN_DIGEST}");
    let unknown_tag = format!("{HOST}/prod/app:9.9.9");
    let foreign = format!("ghcr.io/acme/app@{v1}");
    let invalid = format!("{HOST}/Prod/App:1");
    let r = deployment(
        &[&prod_v1, &unknown_pinned, &foreign],
        &[&unknown_tag, &invalid, "registry.k8s.io/pause:3.9"],
    );
    let resp = answer(&tg, "/admission/prod", &r);
    assert_eq!(resp["allowed"], false, "{resp}");
    let m = message(&resp);
    assert!(
        m.starts_with("Tollgate refused 4 of 6 images for environment \"prod\": "),
        "{m}"
    );
    for want in [
        format!(
            "{unknown_pinned} (container c1): image-unknown: {UNKNOWN_DIGEST} is not in Tollgate"
        ),
        format!(
            "{foreign} (container c2): registry-not-tollgate: ghcr.io is not a Tollgate registry"
        ),
        format!(
            "{unknown_tag} (initContainer init0): image-unknown: prod/app:9.9.9 is not a tag in Tollgate"
        ),
        format!("{invalid} (initContainer init1): image-reference-invalid"),
    ] {
        assert!(m.contains(&want), "missing {want:?} in {m}");
    }
    assert!(
        !m.contains("container c0"),
        "the allowed image is not listed: {m}"
    );
    assert!(!m.contains("pause"), "exempt images are not listed: {m}");
    assert!(
        resp["auditAnnotations"]["refused"]
            .as_str()
            .unwrap()
            .contains(&format!("{foreign}=registry-not-tollgate")),
        "{resp}"
    );

    // An unknown image in each kind's containers and init containers is found and refused.
    for (kind, r) in workloads(&pod_spec(&[&prod_v1], &[&unknown_tag])) {
        let resp = answer(&tg, "/admission/prod", &r);
        assert_eq!(resp["allowed"], false, "{kind}: {resp}");
        assert!(
            message(&resp).contains("initContainer init0"),
            "{kind}: {resp}"
        );
    }

    // kubectl debug: an ephemeral container added to a running pod.
    let mut debug = review(
        "",
        "v1",
        "Pod",
        json!({"apiVersion": "v1", "kind": "Pod", "spec": {
            "containers": [{"name": "app", "image": prod_v1}],
            "ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36"}]}}),
        "UPDATE",
    );
    debug["request"]["subResource"] = json!("ephemeralcontainers");
    let resp = answer(&tg, "/admission/prod", &debug);
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(
        message(&resp)
            .contains("busybox:1.36 (ephemeralContainer debugger): registry-not-tollgate"),
        "{resp}"
    );
    // Status updates, deletions and objects being deleted are never blocked.
    let mut status = debug.clone();
    status["request"]["subResource"] = json!("status");
    assert_eq!(answer(&tg, "/admission/prod", &status)["allowed"], true);
    let mut delete = debug.clone();
    delete["request"]["operation"] = json!("DELETE");
    delete["request"]["object"] = Value::Null;
    assert_eq!(answer(&tg, "/admission/prod", &delete)["allowed"], true);
    let mut finalizing = review(
        "apps",
        "v1",
        "Deployment",
        json!({"metadata": {"name": "web", "deletionTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}}),
        "UPDATE",
    );
    assert_eq!(answer(&tg, "/admission/prod", &finalizing)["allowed"], true);
    finalizing["request"]["object"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("deletionTimestamp");
    assert_eq!(
        answer(&tg, "/admission/prod", &finalizing)["allowed"],
        false
    );

    // v1beta1 in, v1beta1 out.
    let mut old = deployment(&[&prod_v1], &[]);
    old["apiVersion"] = json!("admission.k8s.io/v1beta1");
    assert_eq!(answer(&tg, "/admission/prod", &old)["allowed"], true);

    // Warn mode (staging): allowed, with a warning per image enforce mode would refuse.
    let resp = answer(
        &tg,
        "/admission/staging",
        &deployment(&[&staging_v2, &unknown_tag], &[]),
    );
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(resp.get("status").is_none(), "{resp}");
    let warnings = resp["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{resp}");
    let w = warnings[0].as_str().unwrap();
    assert_eq!(
        w,
        format!("{unknown_tag}: image-unknown (Tollgate warn mode in staging)")
    );
    assert_eq!(resp["auditAnnotations"]["decision"], "warned");
    let warned = tg
        .admin()
        .get("/api/v1/admission/denials?environment=staging")
        .json();
    assert_eq!(warned["denials"][0]["enforced"], false, "{warned}");
    assert_eq!(warned["denials"][0]["requester"], "alice@example.com");

    let text = tg.metrics();
    let series = |env: &str, outcome: &str| {
        metric_series(
            &text,
            &format!(
                "tollgate_admission_reviews_total{{environment=\"{env}\",outcome=\"{outcome}\"}}"
            ),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(series("staging", "warned"), 1.0, "{text}");
    assert_eq!(series("perf", "denied"), 1.0, "{text}");
    assert_eq!(series("dev", "allowed"), 1.0, "{text}");
    assert!(series("prod", "allowed") >= 13.0, "{text}");
    assert!(series("prod", "denied") >= 13.0, "{text}");
}

#[test]
fn the_mutating_endpoint_pins_tags_to_promoted_digests() {
    let Promoted { tg, v1, v2 } = promoted();
    let prod_v1 = format!("{HOST}/prod/app:1.0.0");
    let port_v1 = "10.0.0.5:5000/prod/app:1.0.0";
    let staging_v2 = format!("{HOST}/staging/app:2.0.0");
    let pinned = format!("{HOST}/prod/app@{UNKNOWN_DIGEST}");
    let r = deployment(
        &[&prod_v1, "nginx:1.27", &staging_v2, &pinned, port_v1],
        &[&prod_v1],
    );
    let resp = answer(&tg, "/admission/prod/mutate", &r);
    assert_eq!(
        resp["allowed"], true,
        "the mutating webhook never refuses: {resp}"
    );
    assert_eq!(resp["patchType"], "JSONPatch", "{resp}");
    let patch: Value =
        serde_json::from_slice(&base64_decode(resp["patch"].as_str().unwrap())).unwrap();
    let pinned_v1 = format!("{HOST}/prod/app@{v1}");
    assert_eq!(
        patch,
        json!([
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": pinned_v1},
            {"op": "replace", "path": "/spec/template/spec/initContainers/0/image", "value": pinned_v1},
            {"op": "replace", "path": "/spec/template/spec/containers/4/image",
             "value": format!("10.0.0.5:5000/prod/app@{v1}")},
        ]),
        "only tags that resolve to a digest promoted to prod are pinned (not nginx, not 2.0.0, not a digest)"
    );
    // The pinned object passes the validating webhook.
    let mut after = deployment(&[&pinned_v1], &[&pinned_v1]);
    after["request"]["uid"] = json!("after-mutation");
    assert_eq!(answer(&tg, "/admission/prod", &after)["allowed"], true);

    // Same in staging, where 2.0.0 is promoted; v1beta1 answered as v1beta1.
    let mut old = deployment(&[&staging_v2], &[]);
    old["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let resp = answer(&tg, "/admission/staging/mutate", &old);
    let patch: Value =
        serde_json::from_slice(&base64_decode(resp["patch"].as_str().unwrap())).unwrap();
    assert_eq!(
        patch[0]["value"],
        format!("{HOST}/staging/app@{v2}"),
        "{patch}"
    );

    // Nothing to pin: no patch at all.
    for r in [
        deployment(&[&pinned_v1, "nginx"], &[]),
        fixture("11_role.json"),
        fixture("02_pod.json"),
    ] {
        let resp = answer(&tg, "/admission/prod/mutate", &r);
        assert_eq!(resp["allowed"], true, "{resp}");
        assert!(
            resp.get("patch").is_none() && resp.get("patchType").is_none(),
            "{resp}"
        );
    }
    // Malformed requests are 400 here too.
    post(
        &tg,
        "/admission/prod/mutate",
        &fixture("21_broken_admission_request.json"),
    )
    .expect_status(400, "broken review to mutate");

    let text = tg.metrics();
    assert_eq!(
        metric_series(
            &text,
            "tollgate_admission_mutations_total{environment=\"prod\",outcome=\"patched\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric_series(
            &text,
            "tollgate_admission_mutations_total{environment=\"prod\",outcome=\"unchanged\"}"
        ),
        Some(3.0),
        "{text}"
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The API server calls webhooks over HTTPS only: with `[tls]` configured the gateway serves
/// TLS, and a client trusting the certificate (as a webhook's caBundle does) gets its answer.
#[test]
fn admission_is_served_over_https() {
    if !require_tools(&["curl"]) || !require_python_module("cryptography") {
        return;
    }
    let work = TempDir::new().unwrap();
    let made = python3_json(
        &scripts_dir().join("make_tls_cert.py"),
        &[work.path().to_str().unwrap()],
        &[],
    );
    let cert = made["cert"].as_str().unwrap().to_string();
    let cfg = work.path().join("tollgate.toml");
    std::fs::write(
        &cfg,
        "[tls]\ncert = \"tls.crt\"\nkey = \"tls.key\"\n\n[admission]\nregistries = [\"tollgate.example.com\"]\n",
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(work.path().join("tollgate.log")).unwrap();
    let mut child = Command::new(tollgate_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(work.path().join("data"))
        .arg("--config")
        .arg(&cfg)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn tollgate");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut child);
    let base = format!("https://localhost:{port}");
    let curl = |args: &[&str]| {
        run_command(
            Command::new("curl")
                .args([
                    "-sS",
                    "--noproxy",
                    "*",
                    "--cacert",
                    &cert,
                    "--max-time",
                    "10",
                ])
                .args(args),
            Duration::from_secs(20),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = curl(&[&format!("{base}/healthz")]);
        if out.success() && out.stdout_str() == "ok\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no HTTPS answer: {out}\n{}",
            std::fs::read_to_string(work.path().join("tollgate.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let review = work.path().join("pod.json");
    std::fs::write(&review, fixture("02_pod.json").to_string()).unwrap();
    for http in ["--http1.1", "--http2"] {
        let out = curl(&[
            http,
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", review.display()),
            "-w",
            "\n%{http_code} %{http_version}",
            &format!("{base}/admission/prod?timeout=10s"),
        ])
        .ok();
        let text = out.stdout_str();
        let (body, status) = text.rsplit_once('\n').unwrap();
        let want = if http == "--http2" {
            "200 2"
        } else {
            "200 1.1"
        };
        assert_eq!(status, want, "{text}");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["response"]["uid"], "0c3331b6-1812-11ea-b3fc-02897404852e");
        assert_eq!(v["response"]["allowed"], false);
    }
    // Plain HTTP on the TLS port gets no answer; a client not trusting the cert refuses it.
    let out = run_command(
        Command::new("curl").args([
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/healthz"),
        ]),
        Duration::from_secs(10),
    );
    assert!(!out.stdout_str().contains("ok"), "{out}");
    let out = run_command(
        Command::new("curl").args([
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "5",
            "--cacert",
            "/dev/null",
            &format!("{base}/healthz"),
        ]),
        Duration::from_secs(10),
    );
    assert!(!out.success(), "{out}");

    // A renewal (as cert-manager writes it into the mounted Secret) is served without a
    // restart; a client trusting only the old certificate is refused from then on.
    let renewed = work.path().join("renewed");
    std::fs::create_dir_all(&renewed).unwrap();
    let made = python3_json(
        &scripts_dir().join("make_tls_cert.py"),
        &[renewed.to_str().unwrap()],
        &[],
    );
    let new_cert = made["cert"].as_str().unwrap().to_string();
    let old_cert = work.path().join("old.crt");
    std::fs::copy(&cert, &old_cert).unwrap();
    for f in ["tls.key", "tls.crt"] {
        std::fs::copy(renewed.join(f), work.path().join(f)).unwrap();
    }
    let with_ca = |ca: &str| {
        run_command(
            Command::new("curl").args([
                "-sS",
                "--noproxy",
                "*",
                "--max-time",
                "5",
                "--cacert",
                ca,
                &format!("{base}/healthz"),
            ]),
            Duration::from_secs(10),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !with_ca(&new_cert).success() {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served\n{}",
            std::fs::read_to_string(work.path().join("tollgate.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !with_ca(old_cert.to_str().unwrap()).success(),
        "the old certificate is still served"
    );
    let log = std::fs::read_to_string(work.path().join("tollgate.log")).unwrap_or_default();
    assert!(log.contains("TLS certificate reloaded"), "{log}");
}
