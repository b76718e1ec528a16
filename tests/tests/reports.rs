//! Reports from the ledger (issue 7) and the read-only auditor: delivery metrics, access review
//! and traceability over real promotions, as JSON and CSV, through the API and
//! `tollgate report`; and the whole matrix of roles × management endpoints.

use tollgate_e2e::reqwest::Method;
use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

const POLICY: &str = "version = 1\n\n[breakglass]\nbypass = [\"approvals\"]\n\n[environments.dev]\n\n[environments.staging]\nfrom = [\"dev\"]\n\n[environments.prod]\nfrom = [\"staging\"]\n\n[environments.prod.approvals]\nsecurity = 1\n";

fn promote(http: &Http, body: Value) -> Value {
    let r = http.post_json("/api/v1/promotions", body.to_string().into_bytes());
    assert!(r.status == 200 || r.status == 201, "{r}");
    r.json()
}

#[test]
fn reports_answer_from_the_ledger() {
    let tg = Tollgate::start_with_files(
        TollgateOpts::config("[policy]\ndir = \"policy\"\n"),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let admin = tg.admin();
    let rel_token = tg.create_token("rel", &["promoter"]);
    let sec_token = tg.create_token("sec", &["approver(security):prod/*"]);
    let glass_token = tg.create_token("oncall", &["breakglass:prod/*"]);
    let auditor_token = tg.create_token("compliance", &["auditor"]);
    let _idle = tg.create_token("idle", &["reader"]);
    let rel = tg.basic("rel", &rel_token);
    let sec = tg.basic("sec", &sec_token);
    let auditor = tg.basic("compliance", &auditor_token);

    // three releases of app into prod: approved, approved, emergency without a change request
    for (i, v) in ["1.0.0", "1.1.0", "1.2.0"].iter().enumerate() {
        admin.push_image("dev/app", v, &TinyImage::new());
        promote(
            &rel,
            json!({"artifact": format!("dev/app:{v}"), "to": "staging"}),
        );
        if i < 2 {
            let p = promote(
                &rel,
                json!({"artifact": format!("staging/app:{v}"), "to": "prod", "change_request": format!("CHG-{i}")}),
            );
            assert_eq!(p["state"], "pending", "{p}");
            let r = sec.post_json(
                &format!("/api/v1/promotions/{}/approvals", p["id"].as_str().unwrap()),
                br#"{"group":"security"}"#.to_vec(),
            );
            assert_eq!(r.json()["state"], "promoted", "{r}");
        } else {
            let p = promote(
                &tg.basic("oncall", &glass_token),
                json!({"artifact": format!("staging/app:{v}"), "to": "prod", "emergency": true, "justification": "INC-1"}),
            );
            assert_eq!(p["state"], "promoted", "{p}");
        }
    }

    // delivery: 3 deployments into prod; the second is followed by an emergency fix within
    // the window, so 1 change failure of 3
    let d = auditor
        .get("/api/v1/reports/delivery?environment=prod")
        .json();
    assert_eq!(d["deployments"], 3, "{d}");
    assert_eq!(d["change_failures"], 1, "{d}");
    assert!(
        (d["change_failure_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9,
        "{d}"
    );
    assert!(
        d["lead_time_hours_median"]
            .as_f64()
            .is_some_and(|h| h >= 0.0),
        "{d}"
    );
    let staging = auditor
        .get("/api/v1/reports/delivery?environment=staging")
        .json();
    assert_eq!(staging["deployments"], 3, "{staging}");
    assert_eq!(staging["change_failures"], 0, "{staging}");
    let csv = auditor.get("/api/v1/reports/delivery?environment=prod&format=csv");
    assert_eq!(
        csv.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert!(csv.text().starts_with("metric,value\r\n"), "{csv}");
    assert!(csv.text().contains("deployments,3\r\n"), "{csv}");
    auditor
        .get("/api/v1/reports/delivery?environment=qa")
        .expect_status(400, "unknown environment");
    auditor
        .get("/api/v1/reports/delivery?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z")
        .expect_status(400, "empty period");
    // a period before anything happened
    let past = auditor
        .get("/api/v1/reports/delivery?since=2020-01-01T00:00:00Z&until=2020-02-01T00:00:00Z")
        .json();
    assert_eq!(past["deployments"], 0, "{past}");

    // traceability: every prod promotion with CR, approvals and policy; the exception listed
    let t = auditor.get("/api/v1/reports/traceability").json();
    let rows = t["promotions"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{t}");
    let glass = &rows[0];
    assert_eq!(glass["emergency"], true, "{t}");
    assert_eq!(
        glass["exceptions"],
        json!(["breakglass", "change-request-missing", "postmortem-open"]),
        "{t}"
    );
    assert_eq!(rows[1]["approvals"], json!(["security:sec"]), "{t}");
    assert_eq!(rows[1]["change_request"], "CHG-1", "{t}");
    let policy = admin.get("/api/v1/policy").json();
    assert_eq!(rows[1]["policy_digest"], policy["current"]["digest"], "{t}");
    assert_eq!(t["exceptions"].as_array().map(Vec::len), Some(1), "{t}");
    let csv = auditor
        .get("/api/v1/reports/traceability?format=csv")
        .text();
    assert_eq!(csv.lines().count(), 4, "header and three rows: {csv}");

    // access review: roles per environment, last use, the idle token flagged
    let a = auditor
        .get("/api/v1/reports/access-review?unused_days=1")
        .json();
    let tokens = a["tokens"].as_array().unwrap();
    let find = |n: &str| tokens.iter().find(|t| t["token"] == n).unwrap().clone();
    assert_eq!(
        find("sec")["environments"]["prod"],
        json!(["approver(security):prod/*"]),
        "{a}"
    );
    assert_eq!(find("sec")["environments"]["dev"], json!([]), "{a}");
    assert!(find("rel")["last_used"].is_string(), "{a}");
    assert!(find("idle")["last_used"].is_null(), "{a}");
    // nothing is older than a day yet
    assert_eq!(a["unused"], json!([]), "{a}");

    // the CLI prints the same
    let out = tollgate_cli(&[
        "report",
        "traceability",
        "--format",
        "csv",
        "--url",
        &tg.base_url(),
        "--token",
        &auditor_token,
    ]);
    assert!(out.success(), "{out}");
    assert!(
        out.stdout_str().starts_with("promotion,state,artifact"),
        "{out}"
    );
    let out = tollgate_cli(&[
        "report",
        "delivery",
        "--url",
        &tg.base_url(),
        "--token",
        &rel_token,
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a promoter is no auditor: {out}"
    );
    assert!(out.stderr_str().contains("role-missing"), "{out}");
}

/// Every role against every management endpoint: reads for everyone signed in, the audit
/// log, reports and token list for auditors and admins only, and no change at all by an
/// auditor.
#[test]
fn roles_times_endpoints() {
    let tg = Tollgate::start_with_files(
        TollgateOpts::config("[policy]\ndir = \"policy\"\n"),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let img = TinyImage::new();
    tg.admin().push_image("dev/app", "1.0.0", &img);
    let roles = [
        ("reader", "reader"),
        ("pusher", "pusher:dev/*"),
        ("promoter", "promoter"),
        ("approver", "approver(security):prod/*"),
        ("breakglass", "breakglass:prod/*"),
        ("auditor", "auditor"),
    ];
    let mut clients: Vec<(&str, Http)> = vec![("anonymous", tg.anon()), ("admin", tg.admin())];
    for (name, grant) in roles {
        let t = tg.create_token(name, &[grant]);
        clients.push((name, tg.basic(name, &t)));
    }
    let everyone = [
        "reader",
        "pusher",
        "promoter",
        "approver",
        "breakglass",
        "auditor",
        "admin",
    ];
    let audit_readers = ["auditor", "admin"];
    // roles scoped to prod/* cannot see an artifact that is only in dev: it is not found
    let dev_readers = ["reader", "pusher", "promoter", "auditor", "admin"];
    let gets: Vec<(String, &[&str])> = vec![
        (format!("/api/v1/artifacts/{}", img.digest), &dev_readers),
        ("/api/v1/environments".into(), &everyone),
        ("/api/v1/policy".into(), &everyone),
        ("/api/v1/promotions".into(), &everyone),
        ("/api/v1/bundles".into(), &everyone),
        ("/api/v1/holds".into(), &everyone),
        ("/api/v1/sbom/components?purl=pkg:npm/x".into(), &everyone),
        ("/api/v1/tokens".into(), &audit_readers),
        ("/api/v1/audit".into(), &audit_readers),
        ("/api/v1/audit/checkpoint".into(), &audit_readers),
        ("/api/v1/audit/key".into(), &audit_readers),
        ("/api/v1/audit/export".into(), &audit_readers),
        (
            "/api/v1/audit/proofs/inclusion?seq=0".into(),
            &audit_readers,
        ),
        ("/api/v1/reports/delivery".into(), &audit_readers),
        ("/api/v1/reports/access-review".into(), &audit_readers),
        ("/api/v1/reports/traceability".into(), &audit_readers),
        ("/api/v1/admission/denials".into(), &audit_readers),
    ];
    for (path, allowed) in &gets {
        for (who, http) in &clients {
            let r = http.get(path);
            let want = if allowed.contains(who) {
                200
            } else if *who == "anonymous" {
                401
            } else if path.starts_with("/api/v1/artifacts/") {
                404
            } else {
                403
            };
            assert_eq!(r.status, want, "{who} GET {path}: {r}");
        }
    }
    // an auditor changes nothing
    let auditor = &clients.iter().find(|(n, _)| *n == "auditor").unwrap().1;
    let writes: Vec<(Method, String, Vec<u8>)> = vec![
        (
            Method::POST,
            "/api/v1/tokens".into(),
            br#"{"name":"x","roles":["admin"]}"#.to_vec(),
        ),
        (Method::DELETE, "/api/v1/tokens/reader".into(), vec![]),
        (
            Method::POST,
            "/api/v1/promotions".into(),
            json!({"artifact": "dev/app:1.0.0", "to": "staging"})
                .to_string()
                .into_bytes(),
        ),
        (
            Method::POST,
            "/api/v1/holds".into(),
            json!({"digest": img.digest, "reason": "x"})
                .to_string()
                .into_bytes(),
        ),
        (
            Method::POST,
            "/api/v1/retention/apply".into(),
            b"{}".to_vec(),
        ),
        (
            Method::POST,
            "/api/v1/bundles".into(),
            json!({"name": "b", "version": "1", "artifacts": ["dev/app:1.0.0"]})
                .to_string()
                .into_bytes(),
        ),
        (
            Method::POST,
            format!("/api/v1/artifacts/{}/sboms", img.digest),
            b"{}".to_vec(),
        ),
        (
            Method::DELETE,
            format!("/v2/dev/app/manifests/{}", img.digest),
            vec![],
        ),
        (Method::POST, "/v2/dev/app/blobs/uploads/".into(), vec![]),
    ];
    for (method, path, body) in writes {
        let r = auditor.send(
            auditor
                .request(method.clone(), &path)
                .header("content-type", "application/json")
                .body(body),
        );
        assert_eq!(r.status, 403, "auditor {method} {path}: {r}");
    }
}
