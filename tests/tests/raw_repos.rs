//! Raw and Maven repositories end to end (issue 8): the `/repository/<repo>/…` (Nexus) and
//! `/artifactory/<repo>/…` (Artifactory) fronts driven by curl and python `requests` replaying
//! the Maven deploy plugin's request sequence, kept in the embedded store or streamed to a
//! real raw upstream (Debian's nginx with WebDAV `PUT`): integrity (checksum headers and
//! sidecars, nothing stored or forwarded on a mismatch, verified downloads), deploy by
//! checksum, immutability of releases and raw paths, SNAPSHOTs, roles, path traversal,
//! evidence and SBOMs on file digests, SBOMs deployed as Maven artifacts (either order),
//! promotion copying file and sidecars to the prod repository upstream and regenerating its
//! `maven-metadata.xml`, pull gating, and two replicas over PostgreSQL racing on one release
//! path.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tollgate_e2e::reqwest::Method;
use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

const POM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>demo</artifactId>
  <version>VERSION</version>
</project>
"#;

fn sha1_hex(b: &[u8]) -> String {
    // coreutils' sha1sum, independent of the gateway's hashing.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, b).unwrap();
    let out = run_command(Command::new("sha1sum").arg(&f), Duration::from_secs(30)).ok();
    out.stdout_str()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn md5_hex(b: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, b).unwrap();
    let out = run_command(Command::new("md5sum").arg(&f), Duration::from_secs(30)).ok();
    out.stdout_str()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `curl` with the token as Basic password; returns (status, body, headers text).
fn curl(args: &[&str]) -> (u16, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    let hdrs = dir.path().join("headers");
    let out = run_command(
        Command::new("curl")
            .args(["-sS", "--max-time", "60", "-o"])
            .arg(&body)
            .arg("-D")
            .arg(&hdrs)
            .args(["-w", "%{http_code}"])
            .args(args),
        Duration::from_secs(90),
    )
    .ok();
    let status: u16 = out.stdout_str().trim().parse().expect("curl status");
    (
        status,
        std::fs::read(&body).unwrap_or_default(),
        std::fs::read_to_string(&hdrs).unwrap_or_default(),
    )
}

fn user(token: &str) -> String {
    format!("ci:{token}")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// Runs the Maven deploy replay against `base` (a repository URL).
fn maven_deploy(base: &str, token: &str, version: &str, jar: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let jar_path = write(dir.path(), "demo.jar", jar);
    let pom_path = write(
        dir.path(),
        "demo.pom",
        POM.replace("VERSION", version).as_bytes(),
    );
    python3_json(
        &scripts_dir().join("maven_deploy.py"),
        &[
            base,
            "ci",
            token,
            "com.example",
            "demo",
            version,
            &jar_path,
            &pom_path,
        ],
        &[("NO_PROXY", "127.0.0.1"), ("no_proxy", "127.0.0.1")],
    )
}

fn statuses(v: &Value) -> Vec<(String, String, u64)> {
    v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
                r[2].as_u64().unwrap(),
            )
        })
        .collect()
}

fn tools() -> bool {
    require_tools(&["curl", "python3", "sha1sum", "md5sum"]) && require_python_module("requests")
}

/// Audit entries of `action`.
fn audit(tg: &Tollgate, action: &str) -> Vec<Value> {
    let r = tg
        .admin()
        .get(&format!("/api/v1/audit?action={action}&limit=1000"));
    r.expect_status(200, "GET /api/v1/audit");
    r.json()["entries"].as_array().unwrap().clone()
}

const EMBEDDED: &str = r#"
[[file_repositories]]
name = "libs-dev"
format = "maven"
environment = "dev"

[[file_repositories]]
name = "libs-releases"
format = "maven"
environment = "dev"
version_policy = "release"
snapshot_redeploy = false
version_rule = "semver"
monotonic = true

[[file_repositories]]
name = "snap-strict"
format = "maven"
environment = "dev"
snapshot_redeploy = false
"#;

#[test]
fn maven_deploy_sequence_into_the_embedded_store() {
    if !tools() {
        return;
    }
    let tg = Tollgate::start(TollgateOpts::config(EMBEDDED));
    let token = tg.create_token("ci", &["pusher:libs-*", "pusher:snap-*"]);
    let base = format!("{}/repository/libs-dev", tg.base_url());
    let jar = pseudo_random_bytes(300_000, 1);

    // The deploy plugin's sequence for a release: every PUT accepted, the metadata GET a 404.
    let run = maven_deploy(&base, &token, "1.0.0", &jar);
    let reqs = statuses(&run);
    assert_eq!(reqs.len(), 10, "{run}");
    for (m, p, s) in &reqs {
        match m.as_str() {
            "GET" => assert_eq!(*s, 404, "{p}"),
            _ => assert_eq!(*s, 201, "{m} {p}: {run}"),
        }
    }
    let jar_path = "com/example/demo/1.0.0/demo-1.0.0.jar";
    let (s, body, headers) = curl(&["-u", &user(&token), &format!("{base}/{jar_path}")]);
    assert_eq!(s, 200);
    assert_eq!(body, jar, "the jar comes back byte for byte");
    let h = headers.to_ascii_lowercase();
    assert!(
        h.contains(&format!("x-checksum-sha1: {}", sha1_hex(&jar))),
        "{headers}"
    );
    assert!(h.contains(&format!(
        "x-checksum-sha256: {}",
        digest_hex(&sha256_digest(&jar))
    )));
    // Uploaded sidecars as uploaded; never-uploaded ones answered from the computed checksums.
    let (s, body, _) = curl(&["-u", &user(&token), &format!("{base}/{jar_path}.sha1")]);
    assert_eq!((s, String::from_utf8(body).unwrap()), (200, sha1_hex(&jar)));
    let (s, body, _) = curl(&["-u", &user(&token), &format!("{base}/{jar_path}.sha256")]);
    assert_eq!(
        (s, String::from_utf8(body).unwrap()),
        (200, digest_hex(&sha256_digest(&jar)).to_string())
    );
    let (s, _, _) = curl(&["-u", &user(&token), &format!("{base}/{jar_path}.sha512")]);
    assert_eq!(s, 200);
    let (s, body, _) = curl(&[
        "-u",
        &user(&token),
        &format!("{base}/com/example/demo/maven-metadata.xml"),
    ]);
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&body).contains("<version>1.0.0</version>"));
    // The same via the Artifactory front.
    let (s, body, _) = curl(&[
        "-u",
        &user(&token),
        &format!("{}/artifactory/libs-dev/{jar_path}", tg.base_url()),
    ]);
    assert_eq!((s, body.len()), (200, jar.len()));

    // The artifact record: keyed by sha256, with its Maven purl.
    let d = sha256_digest(&jar);
    let rec = tg.admin().artifact_record(&d);
    rec.expect_status(200, "artifact record of the jar");
    let files = rec.json()["files"].as_array().unwrap().clone();
    assert_eq!(files.len(), 1, "{rec}");
    assert_eq!(files[0]["repository"], "libs-dev");
    assert_eq!(files[0]["path"], jar_path);
    assert_eq!(
        files[0]["purl"],
        "pkg:maven/com.example/demo@1.0.0?type=jar"
    );
    // An SBOM for the jar's digest through the existing API.
    let sbom = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "components": [{"type": "library", "name": "log4j-core", "version": "2.17.1",
                        "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1"}]
    });
    let r = tg.basic("ci", &token).post_json(
        &format!("/api/v1/artifacts/{d}/sboms"),
        sbom.to_string().into_bytes(),
    );
    r.expect_status(201, "SBOM for a Maven jar");

    // Redeploying the same release is idempotent; other bytes are refused, in each front's style.
    let (s, _, _) = curl(&[
        "-u",
        &user(&token),
        "-T",
        &write(tempfile::tempdir().unwrap().path(), "x", &jar),
        &format!("{base}/{jar_path}"),
    ]);
    assert_eq!(s, 201);
    let other = pseudo_random_bytes(1000, 2);
    let r = tg.basic("ci", &token).send(
        tg.basic("ci", &token)
            .request(Method::PUT, &format!("/repository/libs-dev/{jar_path}"))
            .body(other.clone()),
    );
    r.expect_status(400, "Nexus: a released version is immutable");
    assert_eq!(
        r.header("x-tollgate-reason").as_deref(),
        Some("version-immutable")
    );
    let r = tg.basic("ci", &token).send(
        tg.basic("ci", &token)
            .request(Method::PUT, &format!("/artifactory/libs-dev/{jar_path}"))
            .body(other.clone()),
    );
    r.expect_status(409, "Artifactory: a released version is immutable");
    let e = r.json();
    assert_eq!(e["errors"][0]["status"], 409, "{r}");
    assert_eq!(e["errors"][0]["reason"], "version-immutable", "{r}");
    let (s, body, _) = curl(&["-u", &user(&token), &format!("{base}/{jar_path}")]);
    assert_eq!((s, body == jar), (200, true), "the release keeps its bytes");
    let r = tg
        .basic("ci", &token)
        .delete(&format!("/repository/libs-dev/{jar_path}"));
    assert!(
        r.status == 403 || r.status == 400,
        "a pusher may not delete: {r}"
    );
    let r = tg
        .admin()
        .delete(&format!("/repository/libs-dev/{jar_path}"));
    r.expect_status(400, "released files cannot be deleted");
    assert_eq!(
        r.header("x-tollgate-reason").as_deref(),
        Some("version-immutable")
    );
    // maven-metadata.xml is replaced by every deploy.
    let (s, _, _) = curl(&[
        "-u",
        &user(&token),
        "-T",
        &write(tempfile::tempdir().unwrap().path(), "m", b"<metadata/>"),
        &format!("{base}/com/example/demo/maven-metadata.xml"),
    ]);
    assert_eq!(s, 201);

    // SNAPSHOTs: two deploys, unique timestamped names, build numbers 1 and 2.
    let snap1 = maven_deploy(&base, &token, "1.1.0-SNAPSHOT", b"snapshot one");
    let snap2 = maven_deploy(&base, &token, "1.1.0-SNAPSHOT", b"snapshot two");
    for run in [&snap1, &snap2] {
        for (m, p, s) in statuses(run) {
            assert!(m == "GET" || s == 201, "{m} {p} -> {s}: {run}");
        }
    }
    let v2 = snap2["file_version"].as_str().unwrap();
    assert!(v2.starts_with("1.1.0-") && v2.ends_with("-2"), "{v2}");
    let r = tg
        .basic("ci", &token)
        .artifact_record(&sha256_digest(b"snapshot two"));
    assert_eq!(
        r.json()["files"][0]["purl"],
        "pkg:maven/com.example/demo@1.1.0-SNAPSHOT?type=jar",
        "timestamped files map back to the SNAPSHOT version: {r}"
    );
    let (s, body, _) = curl(&[
        "-u",
        &user(&token),
        &format!("{base}/com/example/demo/1.1.0-SNAPSHOT/demo-{v2}.jar"),
    ]);
    assert_eq!((s, body.as_slice()), (200, b"snapshot two".as_slice()));
    // Non-unique SNAPSHOT names may be redeployed here, not where redeploys are off.
    let nonunique = "com/example/demo/1.2.0-SNAPSHOT/demo-1.2.0-SNAPSHOT.jar";
    let http = tg.basic("ci", &token);
    for (repo, second, reason) in [
        ("libs-dev", 201, None),
        ("snap-strict", 400, Some("snapshot-redeploy-disabled")),
    ] {
        let put = |b: &[u8]| {
            http.send(
                http.request(Method::PUT, &format!("/repository/{repo}/{nonunique}"))
                    .body(b.to_vec()),
            )
        };
        put(b"first").expect_status(201, repo);
        let r = put(b"second");
        r.expect_status(second, repo);
        assert_eq!(r.header("x-tollgate-reason").as_deref(), reason, "{repo}");
    }

    // Version rules of a release-only SemVer repository with monotonic versions.
    let put = |path: &str| {
        http.send(
            http.request(Method::PUT, &format!("/repository/libs-releases/{path}"))
                .body(b"x".to_vec()),
        )
    };
    for (path, status, reason) in [
        ("com/example/demo/2.0.0/demo-2.0.0.jar", 201, None),
        (
            "com/example/demo/2.1.0-SNAPSHOT/demo-2.1.0-SNAPSHOT.jar",
            400,
            Some("snapshot-not-allowed"),
        ),
        (
            "com/example/demo/2.1/demo-2.1.jar",
            400,
            Some("version-not-semver"),
        ),
        (
            "com/example/demo/1.9.0/demo-1.9.0.jar",
            400,
            Some("version-not-newer"),
        ),
        ("com/example/demo/2.0.0/demo-2.0.0.pom", 201, None),
        ("com/example/demo/2.0.1/demo-2.0.1.jar", 201, None),
        (
            "com/example/demo/demo-2.0.1.jar",
            400,
            Some("maven-layout-invalid"),
        ),
        (
            "com/example/demo/2.0.2/other-2.0.2.jar",
            400,
            Some("maven-layout-invalid"),
        ),
    ] {
        let r = put(path);
        r.expect_status(status, path);
        assert_eq!(
            r.header("x-tollgate-reason").as_deref(),
            reason,
            "{path}: {r}"
        );
    }

    // Every push and every refusal is in the audit log.
    let pushes = audit(&tg, "file-push");
    assert!(
        pushes
            .iter()
            .any(|e| e["details"]["path"] == jar_path && e["repository"] == "libs-dev"),
        "{pushes:?}"
    );
    let denied = audit(&tg, "file-push-denied");
    assert!(
        denied
            .iter()
            .any(|e| e["details"]["reason"] == "version-immutable"),
        "{denied:?}"
    );
}

#[test]
fn checksums_paths_and_roles() {
    if !tools() {
        return;
    }
    let tg = Tollgate::start(TollgateOpts::config(EMBEDDED));
    let token = tg.create_token("ci", &["pusher:libs-dev"]);
    let reader = tg.create_token("reader", &["reader:libs-dev"]);
    let http = tg.basic("ci", &token);
    let dir = "com/example/demo/3.0.0";
    let jar = pseudo_random_bytes(50_000, 3);
    let put = |path: &str, body: &[u8], headers: &[(&str, &str)]| {
        let mut rb = http
            .request(Method::PUT, &format!("/artifactory/libs-dev/{path}"))
            .body(body.to_vec());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        http.send(rb)
    };

    // Declared checksums must match; a mismatch stores nothing.
    let wrong = "0".repeat(40);
    let r = put(
        &format!("{dir}/demo-3.0.0.jar"),
        &jar,
        &[("X-Checksum-Sha1", &wrong)],
    );
    r.expect_status(409, "sha1 header mismatch");
    assert_eq!(r.json()["errors"][0]["reason"], "checksum-mismatch");
    http.get(&format!("/repository/libs-dev/{dir}/demo-3.0.0.jar"))
        .expect_status(404, "nothing stored after a mismatch");
    let r = put(
        &format!("{dir}/demo-3.0.0.jar"),
        &jar,
        &[("X-Checksum", &md5_hex(b"other bytes"))],
    );
    r.expect_status(409, "X-Checksum (md5 by length) mismatch");
    put(
        &format!("{dir}/demo-3.0.0.jar"),
        &jar,
        &[("X-Checksum-Sha256", "xyz")],
    )
    .expect_status(400, "a malformed checksum header");
    // Matching headers: Artifactory's ItemCreated answer.
    let sha256 = digest_hex(&sha256_digest(&jar)).to_string();
    let r = put(
        &format!("{dir}/demo-3.0.0.jar"),
        &jar,
        &[
            ("X-Checksum-Sha256", &sha256),
            ("X-Checksum-Sha1", &sha1_hex(&jar)),
        ],
    );
    r.expect_status(201, "deploy with matching checksums");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/vnd.org.jfrog.artifactory.storage.ItemCreated+json")
    );
    let item = r.json();
    assert_eq!(item["repo"], "libs-dev");
    assert_eq!(item["path"], format!("/{dir}/demo-3.0.0.jar"));
    assert_eq!(item["size"], jar.len().to_string());
    assert_eq!(item["checksums"]["sha256"], sha256);
    assert_eq!(item["checksums"]["md5"], md5_hex(&jar));
    assert_eq!(
        item["downloadUri"],
        format!(
            "{}/artifactory/libs-dev/{dir}/demo-3.0.0.jar",
            tg.base_url()
        )
    );
    let info = http.get(&format!(
        "/artifactory/api/storage/libs-dev/{dir}/demo-3.0.0.jar"
    ));
    info.expect_status(200, "file info");
    assert_eq!(info.json()["checksums"]["sha1"], sha1_hex(&jar));

    // Sidecars are checked against the file they describe (trailing file names tolerated).
    let r = put(&format!("{dir}/demo-3.0.0.jar.sha1"), wrong.as_bytes(), &[]);
    r.expect_status(409, "a wrong .sha1 sidecar");
    assert_eq!(r.json()["errors"][0]["reason"], "checksum-mismatch");
    let r = http.get(&format!("/repository/libs-dev/{dir}/demo-3.0.0.jar.sha1"));
    assert_eq!(
        r.text(),
        sha1_hex(&jar),
        "the refused sidecar was not stored"
    );
    let good = format!("{}  demo-3.0.0.jar\n", md5_hex(&jar));
    put(&format!("{dir}/demo-3.0.0.jar.md5"), good.as_bytes(), &[])
        .expect_status(201, "a .md5 with a trailing file name");
    put(&format!("{dir}/demo-3.0.0.jar.sha256"), b"not hex", &[])
        .expect_status(400, "a malformed sidecar");
    put(
        &format!("{dir}/demo-3.0.0.pom.sha1"),
        sha1_hex(b"x").as_bytes(),
        &[],
    )
    .expect_status(400, "a sidecar of a file that is not there");

    // Deploy by checksum: a hit links the held bytes under a new path, a miss is 404.
    let copy = "com/example/copy/1.0.0/copy-1.0.0.jar";
    let r = http.send(
        http.request(Method::PUT, &format!("/artifactory/libs-dev/{copy}"))
            .header("X-Checksum-Deploy", "true")
            .header("X-Checksum-Sha1", sha1_hex(&jar)),
    );
    r.expect_status(201, "deploy by checksum, held");
    let r = http.get(&format!("/repository/libs-dev/{copy}"));
    assert_eq!(r.body, jar);
    let r = http.send(
        http.request(
            Method::PUT,
            "/artifactory/libs-dev/com/example/copy/1.0.1/copy-1.0.1.jar",
        )
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha256", "a".repeat(64)),
    );
    r.expect_status(404, "deploy by checksum, unknown content");
    http.get("/repository/libs-dev/com/example/copy/1.0.1/copy-1.0.1.jar")
        .expect_status(404, "nothing recorded on a miss");

    // Path traversal and junk are refused at the edge, on both fronts.
    let base = tg.base_url();
    for path in [
        "/repository/libs-dev/../../etc/passwd",
        "/repository/libs-dev/com/%2e%2e/%2e%2e/x.jar",
        "/artifactory/libs-dev/com//x.jar",
        "/repository/libs-dev/a%00b",
    ] {
        let (s, body, headers) = curl(&[
            "--path-as-is",
            "-u",
            &user(&token),
            "-T",
            &write(tempfile::tempdir().unwrap().path(), "x", b"x"),
            &format!("{base}{path}"),
        ]);
        assert_eq!(s, 400, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(
            headers
                .to_ascii_lowercase()
                .contains("x-tollgate-reason: path-invalid"),
            "{path}: {headers}"
        );
    }
    tg.admin()
        .get("/repository/nope/x.jar")
        .expect_status(404, "an undeclared repository");

    // Roles: anonymous gets a Basic challenge, readers read, pushers push only where granted.
    let (s, _, headers) = curl(&[
        "-T",
        &write(tempfile::tempdir().unwrap().path(), "x", b"x"),
        &format!("{base}/repository/libs-dev/{dir}/demo-3.0.0-x.jar"),
    ]);
    assert_eq!(s, 401);
    assert!(headers.contains("Basic realm="), "{headers}");
    let rd = tg.basic("r", &reader);
    rd.get(&format!("/repository/libs-dev/{dir}/demo-3.0.0.jar"))
        .expect_status(200, "a reader reads");
    let r = rd.send(
        rd.request(
            Method::PUT,
            &format!("/repository/libs-dev/{dir}/demo-3.0.0-r.jar"),
        )
        .body(b"x".to_vec()),
    );
    r.expect_status(403, "a reader may not push");
    assert_eq!(
        r.header("x-tollgate-reason").as_deref(),
        Some("role-missing")
    );
    http.send(
        http.request(
            Method::PUT,
            "/repository/libs-releases/com/example/demo/9.0.0/demo-9.0.0.jar",
        )
        .body(b"x".to_vec()),
    )
    .expect_status(403, "a pusher of libs-dev may not push to libs-releases");
}

fn raw_config(nginx: &Nginx) -> String {
    format!(
        r#"
[[environments]]
name = "dev"
promotes_to = "prod"

[[environments]]
name = "prod"

[policy]
dir = "policy"

[[file_repositories]]
name = "libs-dev"
format = "maven"
environment = "dev"
promotes_to = "libs-prod"

[[file_repositories]]
name = "libs-prod"
format = "maven"
environment = "prod"
upstream = {{ kind = "nexus", url = "{url}", timeout_secs = 10 }}

[[file_repositories]]
name = "tools-dev"
format = "raw"
environment = "dev"
promotes_to = "tools-prod"
mutable_paths = ["nightly/*"]
upstream = {{ kind = "raw", url = "{url}/repository/tools-dev" }}

[[file_repositories]]
name = "tools-prod"
format = "raw"
environment = "prod"
upstream = {{ kind = "artifactory", url = "{url}", repository = "tools" }}
"#,
        url = nginx.url()
    )
}

const POLICY: &str = r#"
version = 1

[environments.dev]
mode = "enforce"

[environments.prod]
mode = "enforce"
from = ["dev"]
"#;

fn start_with_nginx(nginx: &Nginx) -> Tollgate {
    let mut tg = Tollgate::prepare(TollgateOpts::config(raw_config(nginx)));
    tg.write_config_file("policy/base.toml", POLICY.as_bytes());
    tg.restart();
    tg
}

#[test]
fn raw_repository_on_an_nginx_upstream() {
    if !(tools() && require_tools(&["nginx"])) {
        return;
    }
    let nginx = Nginx::start();
    let tg = start_with_nginx(&nginx);
    let token = tg.create_token("ci", &["pusher:tools-dev"]);
    let http = tg.basic("ci", &token);
    let tool = pseudo_random_bytes(2 * 1024 * 1024 + 17, 4);

    // Streamed through to nginx: the same bytes land under the upstream's path.
    let (s, _, _) = curl(&[
        "-u",
        &user(&token),
        "-T",
        &write(tempfile::tempdir().unwrap().path(), "t", &tool),
        &format!(
            "{}/repository/tools-dev/releases/tool-1.0.tgz",
            tg.base_url()
        ),
    ]);
    assert_eq!(s, 201);
    assert_eq!(
        nginx
            .file("repository/tools-dev/releases/tool-1.0.tgz")
            .as_deref(),
        Some(tool.as_slice()),
        "the upstream holds the file"
    );
    let r = http.get("/repository/tools-dev/releases/tool-1.0.tgz");
    r.expect_status(200, "read back through the upstream");
    assert!(r.body == tool, "bytes differ");
    let rec = tg.admin().artifact_record(&sha256_digest(&tool)).json();
    assert_eq!(
        rec["files"][0]["purl"], "pkg:generic/releases/tool-1.0.tgz",
        "{rec}"
    );

    // A checksum mismatch is refused before anything reaches the upstream.
    let puts_before = nginx.access_log().matches("\"PUT ").count();
    let r = http.send(
        http.request(Method::PUT, "/artifactory/tools-dev/releases/tool-1.1.tgz")
            .header("X-Checksum-Sha256", digest_hex(&sha256_digest(b"other")))
            .body(tool.clone()),
    );
    r.expect_status(409, "sha256 header mismatch");
    assert_eq!(
        nginx.file("repository/tools-dev/releases/tool-1.1.tgz"),
        None
    );
    assert_eq!(
        nginx.access_log().matches("\"PUT ").count(),
        puts_before,
        "nothing was forwarded"
    );

    // Raw immutability by path pattern: every path but nightly/*.
    let r = http.send(
        http.request(Method::PUT, "/repository/tools-dev/releases/tool-1.0.tgz")
            .body(b"replaced".to_vec()),
    );
    r.expect_status(400, "an immutable raw path");
    assert_eq!(
        r.header("x-tollgate-reason").as_deref(),
        Some("path-immutable")
    );
    for body in [b"night one".as_slice(), b"night two".as_slice()] {
        http.send(
            http.request(Method::PUT, "/repository/tools-dev/nightly/tool.tgz")
                .body(body.to_vec()),
        )
        .expect_status(201, "a mutable raw path");
    }
    assert_eq!(
        nginx
            .file("repository/tools-dev/nightly/tool.tgz")
            .as_deref(),
        Some(b"night two".as_slice())
    );
    tg.admin()
        .delete("/repository/tools-dev/nightly/tool.tgz")
        .expect_status(204, "a mutable file is deleted, upstream too");
    assert_eq!(nginx.file("repository/tools-dev/nightly/tool.tgz"), None);

    // Deploy by checksum into the upstream repository, from bytes held upstream.
    let r = http.send(
        http.request(Method::PUT, "/artifactory/tools-dev/mirror/tool-1.0.tgz")
            .header("X-Checksum-Deploy", "true")
            .header("X-Checksum-Sha256", digest_hex(&sha256_digest(&tool))),
    );
    r.expect_status(201, "deploy by checksum");
    assert_eq!(
        nginx
            .file("repository/tools-dev/mirror/tool-1.0.tgz")
            .as_deref(),
        Some(tool.as_slice())
    );

    // Downloads are verified: bytes changed behind Tollgate's back are not relayed whole.
    std::fs::write(
        nginx
            .data_dir()
            .join("repository/tools-dev/mirror/tool-1.0.tgz"),
        pseudo_random_bytes(tool.len(), 5),
    )
    .unwrap();
    let r = http.try_send(http.request(Method::GET, "/repository/tools-dev/mirror/tool-1.0.tgz"));
    match r {
        Err(_) => {}
        Ok(resp) => assert!(
            resp.body != tool && resp.body.len() < tool.len(),
            "tampered upstream bytes must not be served whole: {resp}"
        ),
    }
}

#[test]
fn promotion_copies_files_and_sidecars_and_prod_serves_only_promoted() {
    if !(tools() && require_tools(&["nginx"])) {
        return;
    }
    let nginx = Nginx::start();
    let tg = start_with_nginx(&nginx);
    let ci = tg.create_token("ci", &["pusher:libs-dev", "pusher:tools-dev"]);
    let deployer = tg.create_token("deployer", &["reader:*-prod"]);
    let jar = pseudo_random_bytes(120_000, 6);
    let base = format!("{}/repository/libs-dev", tg.base_url());
    let run = maven_deploy(&base, &ci, "1.4.0", &jar);
    for (m, p, s) in statuses(&run) {
        assert!(m == "GET" || s == 201, "{m} {p} -> {s}");
    }
    let jar_path = "com/example/demo/1.4.0/demo-1.4.0.jar";
    let prod = tg.basic("deployer", &deployer);

    // Not in prod yet; a pusher of dev cannot put it there.
    prod.get(&format!("/repository/libs-prod/{jar_path}"))
        .expect_status(404, "nothing in prod before promotion");
    let dev = tg.basic("ci", &ci);
    let r = dev.send(
        dev.request(Method::PUT, &format!("/repository/libs-prod/{jar_path}"))
            .body(jar.clone()),
    );
    r.expect_status(403, "pushers of dev may not push to prod");
    // Bytes put straight into prod (by an admin) are not served: not promoted.
    let sneaky = "com/example/demo/1.5.0/demo-1.5.0.jar";
    tg.admin()
        .send(
            tg.admin()
                .request(Method::PUT, &format!("/repository/libs-prod/{sneaky}"))
                .body(b"unreviewed".to_vec()),
        )
        .expect_status(201, "an admin pushes into prod");
    let r = prod.get(&format!("/repository/libs-prod/{sneaky}"));
    r.expect_status(403, "prod serves only promoted files");
    assert_eq!(
        r.header("x-tollgate-reason").as_deref(),
        Some("not-promoted")
    );
    let r = prod.get(&format!("/artifactory/libs-prod/{sneaky}"));
    r.expect_status(403, "also through the Artifactory front");
    assert_eq!(r.json()["errors"][0]["reason"], "not-promoted");

    // Promote by path through the existing promotion API.
    let r = tg.admin().post_json(
        "/api/v1/promotions",
        json!({ "artifact": format!("libs-dev/{jar_path}"), "to": "prod" })
            .to_string()
            .into_bytes(),
    );
    assert!(r.status == 201 || r.status == 200, "{r}");
    let p = r.json();
    assert_eq!(p["state"], "promoted", "{p}");
    assert_eq!(p["path"], jar_path, "{p}");
    assert_eq!(p["target_repository"], "libs-prod");
    // File and sidecars are in the prod repository on nginx, byte for byte.
    let up = |rel: &str| nginx.file(&format!("repository/libs-prod/{rel}"));
    assert_eq!(up(jar_path).as_deref(), Some(jar.as_slice()));
    assert_eq!(
        up(&format!("{jar_path}.sha1")).map(|b| String::from_utf8(b).unwrap()),
        Some(sha1_hex(&jar))
    );
    assert_eq!(
        up(&format!("{jar_path}.md5")).map(|b| String::from_utf8(b).unwrap()),
        Some(md5_hex(&jar))
    );
    let r = prod.get(&format!("/repository/libs-prod/{jar_path}"));
    r.expect_status(200, "the promoted jar is served from prod");
    assert!(r.body == jar);
    prod.get(&format!("/repository/libs-prod/{jar_path}.sha1"))
        .expect_status(200, "its sidecar too");
    prod.get(&format!("/repository/libs-prod/{jar_path}.sha256"))
        .expect_status(200, "and its computed checksums");
    // The pom was not promoted.
    prod.get("/repository/libs-prod/com/example/demo/1.4.0/demo-1.4.0.pom")
        .expect_status(404, "only what was promoted is copied");
    // Promoting again is the same promotion.
    let again = tg.admin().post_json(
        "/api/v1/promotions",
        json!({ "artifact": format!("libs-dev/{jar_path}"), "to": "prod" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(again.json()["id"], p["id"], "{again}");

    // By digest, for a raw file; the record lists both repositories.
    let tool = b"tool bytes".to_vec();
    dev.send(
        dev.request(Method::PUT, "/repository/tools-dev/bin/tool")
            .body(tool.clone()),
    )
    .expect_status(201, "raw push");
    let d = sha256_digest(&tool);
    let r = tg.admin().post_json(
        "/api/v1/promotions",
        json!({ "artifact": d, "to": "prod" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.json()["state"], "promoted", "{r}");
    assert_eq!(
        nginx.file("artifactory/tools/bin/tool").as_deref(),
        Some(tool.as_slice()),
        "copied to the Artifactory-style upstream path"
    );
    let r = prod.get("/artifactory/tools-prod/bin/tool");
    r.expect_status(200, "served from prod");
    let rec = tg.admin().artifact_record(&d).json();
    let repos: Vec<&str> = rec["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["repository"].as_str().unwrap())
        .collect();
    assert_eq!(repos, ["tools-dev", "tools-prod"], "{rec}");
    let completed = audit(&tg, "promotion-completed");
    assert!(
        completed.iter().any(|e| e["details"]["path"] == jar_path),
        "{completed:?}"
    );
    assert!(
        !audit(&tg, "pull-denied").is_empty(),
        "refused pulls are audited"
    );
}

#[test]
fn sigstore_bundle_sidecars_are_verified_and_linked() {
    if !(tools() && require_sigstore_mock()) {
        return;
    }
    let mock = SigstoreMock::start();
    let config = format!(
        r#"
[trust]
trusted_root = "trusted_root.json"

[[trust.identities]]
issuer = "{MOCK_OIDC_ISSUER}"
subject = "{MOCK_IDENTITY}"

[[file_repositories]]
name = "tools-dev"
format = "raw"
environment = "dev"
"#
    );
    let tg = Tollgate::start_with_files(
        TollgateOpts::config(config),
        &[("trusted_root.json", &mock.trusted_root())],
    );
    let token = tg.create_token("ci", &["pusher:tools-dev"]);
    let http = tg.basic("ci", &token);
    let tool = pseudo_random_bytes(10_000, 7);
    let d = sha256_digest(&tool);
    http.send(
        http.request(Method::PUT, "/repository/tools-dev/bin/tool-1.0")
            .body(tool.clone()),
    )
    .expect_status(201, "the file");
    let statement = |digest: &str| {
        intoto_statement(
            "tool-1.0",
            digest,
            "https://in-toto.io/attestation/test-result/v0.1",
            json!({"result": "PASSED", "configuration": [], "url": "https://ci.tollgate.test/run/1"}),
        )
    };

    // A bundle about other bytes is refused and not stored.
    let wrong = mock.attest(&statement(&sha256_digest(b"other")));
    let r = http.send(
        http.request(
            Method::PUT,
            "/artifactory/tools-dev/bin/tool-1.0.sigstore.json",
        )
        .body(wrong),
    );
    r.expect_status(409, "a bundle about another artifact");
    assert_eq!(r.json()["errors"][0]["reason"], "subject-mismatch", "{r}");
    http.get("/repository/tools-dev/bin/tool-1.0.sigstore.json")
        .expect_status(404, "the refused bundle was not stored");

    // The right one is verified and linked to the file's digest as an attestation.
    let bundle = mock.attest(&statement(&d));
    http.send(
        http.request(
            Method::PUT,
            "/repository/tools-dev/bin/tool-1.0.sigstore.json",
        )
        .body(bundle.clone()),
    )
    .expect_status(201, "the bundle sidecar");
    let rec = tg.admin().artifact_record(&d).json();
    let att = &rec["attestations"][0];
    assert_eq!(att["kind"], "sigstore-bundle", "{rec}");
    assert_eq!(att["verified"], true, "{rec}");
    assert_eq!(att["evidence_digest"], sha256_digest(&bundle), "{rec}");
    assert_eq!(att["repository"], "tools-dev", "{rec}");
    let r = http.get("/repository/tools-dev/bin/tool-1.0.sigstore.json");
    assert!(r.body == bundle, "the sidecar is served as uploaded");
}

/// Two replicas over one PostgreSQL store and one nginx upstream, deploying different bytes to
/// one release path at the same moment: the store settles it, so exactly one deploy is
/// accepted, every other is refused `version-immutable`, and the upstream holds the winner's
/// bytes — a loser never overwrites them — which both replicas serve.
#[test]
fn replicas_racing_on_one_release_path_leave_the_winner_upstream() {
    if !(tools() && require_tools(&["nginx"])) {
        return;
    }
    let Some(pg) = postgres() else { return };
    let nginx = Nginx::start();
    let key = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/audit/replicas-ed25519.pem"),
    )
    .expect("fixture key");
    let config = format!(
        "[upstream]\nurl = \"{url}\"\n\n[store]\nurl = \"{db}\"\n\n[audit]\nkey = \"audit.pem\"\n\n\
         [[file_repositories]]\nname = \"libs-rel\"\nformat = \"maven\"\n\
         upstream = {{ kind = \"nexus\", url = \"{url}\", timeout_secs = 60 }}\n",
        url = nginx.url(),
        db = pg.fresh_database()
    );
    let first = Tollgate::start_with_files(
        TollgateOpts::config(config.clone()),
        &[("audit.pem", key.as_slice())],
    );
    let mut second = Tollgate::prepare(TollgateOpts::config(config));
    second.write_config_file("audit.pem", &key);
    std::fs::write(
        second.data_dir().join("admin-token"),
        format!("{}\n", first.admin_token),
    )
    .unwrap();
    second.restart();
    let token = first.create_token("ci", &["pusher:libs-rel"]);
    let clients = [first.basic("ci", &token), second.basic("ci", &token)];

    for round in 0..6u64 {
        let path = format!("com/example/race/1.{round}/race-1.{round}.jar");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                let http = clients[(i % 2) as usize].clone();
                let (path, barrier) = (path.clone(), std::sync::Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let body = pseudo_random_bytes(1024 * 1024 + (i as usize), round * 10 + i);
                    barrier.wait();
                    let r = http.send(
                        http.request(Method::PUT, &format!("/repository/libs-rel/{path}"))
                            .body(body.clone()),
                    );
                    (r.status, r.header("x-tollgate-reason"), body)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<&Vec<u8>> = results
            .iter()
            .filter(|(s, _, _)| *s == 201)
            .map(|(_, _, b)| b)
            .collect();
        let summary: Vec<_> = results.iter().map(|(s, r, _)| (*s, r.clone())).collect();
        assert_eq!(winners.len(), 1, "round {round}: {summary:?}");
        for (s, reason, _) in &results {
            if *s != 201 {
                assert_eq!(
                    (*s, reason.as_deref()),
                    (400, Some("version-immutable")),
                    "round {round}: {summary:?}"
                );
            }
        }
        assert!(
            nginx.file(&format!("repository/libs-rel/{path}")).as_ref() == Some(winners[0]),
            "round {round}: the upstream must hold the accepted bytes"
        );
        for http in &clients {
            let r = http.get(&format!("/repository/libs-rel/{path}"));
            r.expect_status(200, "the winner is served by every replica");
            assert!(&r.body == winners[0], "round {round}: served bytes differ");
        }
    }
}

/// A checksum by a coreutils tool (`sha512sum`, …), independent of the gateway's hashing.
fn coreutils_sum(tool: &str, b: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, b).unwrap();
    let out = run_command(Command::new(tool).arg(&f), Duration::from_secs(30)).ok();
    out.stdout_str()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Every `<tag>…</tag>` text in `xml`, in order.
fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(t, _)| t.to_string()))
        .collect()
}

/// dev → prod with libs-prod embedded (`None`) or on the nginx upstream.
fn metadata_config(nginx: Option<&Nginx>) -> String {
    let upstream = nginx.map_or_else(String::new, |n| {
        format!(
            "upstream = {{ kind = \"nexus\", url = \"{}\", timeout_secs = 10 }}\n",
            n.url()
        )
    });
    format!(
        "[[environments]]\nname = \"dev\"\npromotes_to = \"prod\"\n\n[[environments]]\nname = \"prod\"\n\n\
         [policy]\ndir = \"policy\"\n\n\
         [[file_repositories]]\nname = \"libs-dev\"\nformat = \"maven\"\nenvironment = \"dev\"\npromotes_to = \"libs-prod\"\n\n\
         [[file_repositories]]\nname = \"libs-prod\"\nformat = \"maven\"\nenvironment = \"prod\"\n{upstream}"
    )
}

/// Promotes 1.0.0 and 1.1.0 of com.example:demo and leaves 1.2.0 (and bytes an admin put
/// straight into prod) unpromoted: prod's artifact-level `maven-metadata.xml` lists exactly
/// the promoted versions, with matching checksum sidecars, through both fronts.
fn promoted_versions_in_prod_metadata(nginx: Option<&Nginx>) {
    let mut tg = Tollgate::prepare(TollgateOpts::config(metadata_config(nginx)));
    tg.write_config_file("policy/base.toml", POLICY.as_bytes());
    tg.restart();
    let ci = tg.create_token("ci", &["pusher:libs-dev"]);
    let reader = tg.create_token("reader", &["reader:*-prod"]);
    let base = format!("{}/repository/libs-dev", tg.base_url());
    for (i, v) in ["1.0.0", "1.1.0", "1.2.0"].into_iter().enumerate() {
        let run = maven_deploy(&base, &ci, v, &pseudo_random_bytes(50_000, 40 + i as u64));
        for (m, p, s) in statuses(&run) {
            assert!(m == "GET" || s == 201, "{m} {p} -> {s}");
        }
    }
    let admin = tg.admin();
    admin
        .send(
            admin
                .request(
                    Method::PUT,
                    "/repository/libs-prod/com/example/demo/1.5.0/demo-1.5.0.jar",
                )
                .body(b"unreviewed".to_vec()),
        )
        .expect_status(201, "an admin pushes into prod");
    let prod = tg.basic("reader", &reader);
    let meta = "com/example/demo/maven-metadata.xml";
    prod.get(&format!("/repository/libs-prod/{meta}"))
        .expect_status(404, "no metadata in prod before a promotion");

    for v in ["1.0.0", "1.1.0"] {
        let r = admin.post_json(
            "/api/v1/promotions",
            json!({ "artifact": format!("libs-dev/com/example/demo/{v}/demo-{v}.jar"), "to": "prod" })
                .to_string()
                .into_bytes(),
        );
        assert_eq!(r.json()["state"], "promoted", "{r}");
    }

    let r = prod.get(&format!("/repository/libs-prod/{meta}"));
    r.expect_status(200, "prod's metadata is served");
    let xml = String::from_utf8(r.body.clone()).unwrap();
    assert_eq!(xml_texts(&xml, "version"), ["1.0.0", "1.1.0"], "{xml}");
    assert_eq!(xml_texts(&xml, "release"), ["1.1.0"], "{xml}");
    assert_eq!(xml_texts(&xml, "latest"), ["1.1.0"], "{xml}");
    assert_eq!(xml_texts(&xml, "groupId"), ["com.example"], "{xml}");
    assert_eq!(xml_texts(&xml, "artifactId"), ["demo"], "{xml}");
    let updated = xml_texts(&xml, "lastUpdated");
    assert!(
        updated.len() == 1
            && updated[0].len() == 14
            && updated[0].bytes().all(|b| b.is_ascii_digit()),
        "{xml}"
    );
    assert!(xml.contains("modelVersion=\"1.1.0\""), "{xml}");
    let artifactory = prod.get(&format!("/artifactory/libs-prod/{meta}"));
    artifactory.expect_status(200, "the same through the Artifactory front");
    assert!(artifactory.body == r.body);
    for (suffix, tool) in [
        ("sha1", "sha1sum"),
        ("md5", "md5sum"),
        ("sha256", "sha256sum"),
        ("sha512", "sha512sum"),
    ] {
        let s = prod.get(&format!("/repository/libs-prod/{meta}.{suffix}"));
        s.expect_status(200, suffix);
        assert_eq!(
            String::from_utf8(s.body.clone()).unwrap().trim(),
            coreutils_sum(tool, &r.body),
            "{suffix} sidecar"
        );
        if let Some(n) = nginx {
            assert_eq!(
                n.file(&format!("repository/libs-prod/{meta}.{suffix}")),
                Some(s.body.clone()),
                "{suffix} sidecar upstream"
            );
        }
    }
    if let Some(n) = nginx {
        assert_eq!(
            n.file(&format!("repository/libs-prod/{meta}")),
            Some(r.body.clone()),
            "the metadata is written through the upstream"
        );
    }
    // The unpromoted version is still refused; the promoted ones are served.
    prod.get("/repository/libs-prod/com/example/demo/1.1.0/demo-1.1.0.jar")
        .expect_status(200, "a promoted version");
    prod.get("/repository/libs-prod/com/example/demo/1.2.0/demo-1.2.0.jar")
        .expect_status(404, "1.2.0 was never promoted");
    let completed = audit(&tg, "promotion-completed");
    assert!(
        completed
            .iter()
            .any(|e| e["details"]["metadata"]["versions"] == json!(["1.0.0", "1.1.0"])),
        "{completed:?}"
    );
}

#[test]
fn promotion_regenerates_prod_maven_metadata_embedded() {
    if !(tools() && require_tools(&["sha256sum", "sha512sum"])) {
        return;
    }
    promoted_versions_in_prod_metadata(None);
}

#[test]
fn promotion_regenerates_prod_maven_metadata_upstream() {
    if !(tools() && require_tools(&["nginx", "sha256sum", "sha512sum"])) {
        return;
    }
    let nginx = Nginx::start();
    promoted_versions_in_prod_metadata(Some(&nginx));
}

fn sbom_fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sbom")
            .join(rel),
    )
    .expect("fixture")
}

/// The artifacts a where-used query finds.
fn where_used(tg: &Tollgate, purl: &str) -> Vec<String> {
    let r = tg
        .admin()
        .get(&format!("/api/v1/sbom/components?purl={purl}"));
    r.expect_status(200, "where-used");
    r.json()["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["artifact"].as_str().unwrap().to_string())
        .collect()
}

/// SBOMs deployed as Maven artifacts (the cyclonedx-maven-plugin's `-cyclonedx.json`, an SPDX
/// `-spdx.json`) become the SBOM of the version's jar, whether they arrive after it or before
/// it; a malformed one is refused `sbom-malformed` in each front's format and nothing stored.
#[test]
fn sboms_deployed_beside_a_jar_answer_where_used() {
    if !tools() {
        return;
    }
    let tg = Tollgate::start(TollgateOpts::config(EMBEDDED));
    let token = tg.create_token("ci", &["pusher:libs-*"]);
    let base = format!("{}/repository/libs-dev", tg.base_url());
    let databind = "pkg:maven/com.fasterxml.jackson.core/jackson-databind";
    assert!(where_used(&tg, databind).is_empty());

    // The deploy plugin's sequence with the CycloneDX SBOM attached after jar and pom.
    let jar = pseudo_random_bytes(80_000, 21);
    let dir = tempfile::tempdir().unwrap();
    let cdx = write(
        dir.path(),
        "bom.json",
        &sbom_fixture("cyclonedx/dropwizard-1.3.15.cdx-1.2.json"),
    );
    let jar_path = write(dir.path(), "demo.jar", &jar);
    let pom_path = write(
        dir.path(),
        "demo.pom",
        POM.replace("VERSION", "2.0.0").as_bytes(),
    );
    let run = python3_json(
        &scripts_dir().join("maven_deploy.py"),
        &[
            &base,
            "ci",
            &token,
            "com.example",
            "demo",
            "2.0.0",
            &jar_path,
            &pom_path,
            "--sbom",
            &cdx,
        ],
        &[("NO_PROXY", "127.0.0.1"), ("no_proxy", "127.0.0.1")],
    );
    let reqs = statuses(&run);
    assert!(
        reqs.iter()
            .any(|(_, p, s)| p.ends_with("demo-2.0.0-cyclonedx.json") && *s == 201),
        "{run}"
    );
    for (m, p, s) in &reqs {
        assert!(m == "GET" || *s == 201, "{m} {p} -> {s}");
    }
    let jar_digest = sha256_digest(&jar);
    assert_eq!(where_used(&tg, databind), std::slice::from_ref(&jar_digest));
    let rec = tg.admin().artifact_record(&jar_digest).json();
    assert_eq!(rec["sboms"][0]["source"], "maven-deploy", "{rec}");
    assert_eq!(rec["sboms"][0]["components"], 167, "{rec}");

    // SPDX first, the jar later: linked when the jar arrives.
    let http = tg.basic("ci", &token);
    let v = "com/example/demo/2.1.0";
    let spdx = sbom_fixture("spdx/alpine-latest.syft.spdx-2.2.json");
    http.send(
        http.request(
            Method::PUT,
            &format!("/repository/libs-dev/{v}/demo-2.1.0-spdx.json"),
        )
        .body(spdx),
    )
    .expect_status(201, "an SBOM before its jar");
    let keys = "pkg:alpine/alpine-keys";
    assert!(where_used(&tg, keys).is_empty(), "nothing to describe yet");
    let jar2 = pseudo_random_bytes(40_000, 22);
    http.send(
        http.request(
            Method::PUT,
            &format!("/repository/libs-dev/{v}/demo-2.1.0.jar"),
        )
        .body(jar2.clone()),
    )
    .expect_status(201, "the jar");
    assert_eq!(where_used(&tg, keys), [sha256_digest(&jar2)]);
    // Classifier artifacts are not what the SBOM describes.
    http.send(
        http.request(
            Method::PUT,
            &format!("/repository/libs-dev/{v}/demo-2.1.0-sources.jar"),
        )
        .body(b"sources".to_vec()),
    )
    .expect_status(201, "sources");
    assert_eq!(where_used(&tg, keys), [sha256_digest(&jar2)]);

    // A malformed SBOM is refused in each front's format, and nothing is stored.
    let bad = "com/example/demo/2.2.0/demo-2.2.0-cyclonedx.json";
    let r = http.send(
        http.request(Method::PUT, &format!("/repository/libs-dev/{bad}"))
            .body(br#"{"bomFormat":"CycloneDX","specVersion":"1.4","components":"nope"}"#.to_vec()),
    );
    r.expect_status(400, "a malformed SBOM through the Nexus front");
    assert_eq!(
        r.header("x-tollgate-reason").as_deref(),
        Some("sbom-malformed")
    );
    assert!(r.text().contains("sbom-malformed"), "{r}");
    let r = http.send(
        http.request(Method::PUT, &format!("/artifactory/libs-dev/{bad}"))
            .body(b"not json at all".to_vec()),
    );
    r.expect_status(409, "a malformed SBOM through the Artifactory front");
    assert_eq!(r.json()["errors"][0]["reason"], "sbom-malformed", "{r}");
    http.get(&format!("/repository/libs-dev/{bad}"))
        .expect_status(404, "nothing stored");
    assert!(
        audit(&tg, "file-push-denied")
            .iter()
            .any(|e| e["details"]["reason"] == "sbom-malformed"),
        "the refusal is audited"
    );
}
