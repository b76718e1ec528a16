//! Web console page times (issue 11) on a big store.
//!
//! ```sh
//! cargo bench -p tollgate --bench console
//! TOLLGATE_CONSOLE_BENCH_ARTIFACTS=20000 cargo bench -p tollgate --bench console
//! ```
//!
//! Fills an embedded store through the store API — `TOLLGATE_CONSOLE_BENCH_ARTIFACTS`
//! artifact records (default 100,000: 1,000 repositories × 100 tagged manifests), an SBOM for
//! every tenth with a package all of them share and one of its own,
//! `TOLLGATE_CONSOLE_BENCH_PROMOTIONS` promotions (default 300; a third waiting), and as many
//! audit entries as artifacts — then starts the `tollgate` binary of this
//! build on it, signs in to the console over HTTP and times each main page end to end
//! (request to last byte, one connection each): a few warm-up requests, then
//! `TOLLGATE_CONSOLE_BENCH_ROUNDS` (default 30) timed ones; prints median and p90 per page as
//! a Markdown table. Under `cargo test --benches` it does the same on 500 artifacts.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest as _, Sha256};
use tollgate_attest::Digest;
use tollgate_policies::{RepoName, Tag};
use tollgate_store::{
    ArtifactStore, AuditDraft, AuditStore, ComponentHit, ManifestRecord, PromotionRecord,
    PromotionState, PromotionStore, SbomRecord, SbomStore, TagBinding, TokenStore,
};

fn digest_of(bytes: &[u8]) -> Digest {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
        .parse()
        .expect("digest")
}

const DAY_MS: i64 = 86_400_000;

struct Seeded {
    token: String,
    sample_artifact: Digest,
    sample_promotion: String,
}

fn seed(data: &Path, artifacts: usize, promotions: usize) -> Seeded {
    let store = tollgate::serve::open_store(data).expect("store");
    let now = tollgate::app::now_ms();
    let t0 = Instant::now();
    let mut digests = Vec::with_capacity(artifacts);
    for i in 0..artifacts {
        let repo: RepoName = format!("dev/app-{:04}", i % 1000).parse().unwrap();
        let bytes = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                "digest": format!("sha256:{:064x}", i)},
            "layers": [],
            "annotations": {"n": i.to_string()},
        })
        .to_string()
        .into_bytes();
        let d = digest_of(&bytes);
        let rec = ManifestRecord {
            digest: d.clone(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: bytes.len() as u64,
            artifact_type: None,
            subject: None,
            annotations: Default::default(),
            pushed_by: "ci".into(),
            pushed_at_ms: now - (artifacts - i) as i64 * 1000,
        };
        let tag: Tag = format!("1.0.{}", i / 1000).parse().unwrap();
        store
            .put_manifest(
                &repo,
                &rec,
                &bytes,
                Some(TagBinding {
                    tag: &tag,
                    immutable: true,
                    mirror: false,
                }),
            )
            .expect("put manifest");
        if i % 10 == 0 {
            let doc = format!("{{\"bomFormat\":\"CycloneDX\",\"n\":{i}}}").into_bytes();
            let sbom_digest = digest_of(&doc);
            let hit = |name: &str, version: &str| ComponentHit {
                subject: d.clone(),
                sbom_digest: sbom_digest.clone(),
                name: name.into(),
                version: Some(version.into()),
                purl: Some(format!("pkg:npm/{name}@{version}")),
                package: Some(format!("npm/{name}")),
                license: Some("MIT".into()),
                license_ids: vec!["MIT".into()],
            };
            let components = vec![
                hit("lodash", &format!("4.17.{}", i % 30)),
                hit(&format!("own-{i}"), "1.0.0"),
            ];
            let rec = SbomRecord {
                subject: d.clone(),
                sbom_digest,
                format: "cyclonedx".into(),
                spec_version: "1.6".into(),
                components: components.len(),
                source: "api".into(),
                repository: None,
                recorded_at_ms: now,
            };
            store.put_sbom(&rec, &doc, &components).expect("put sbom");
        }
        digests.push((repo, d, tag));
    }
    eprintln!(
        "seeded {artifacts} artifacts and {} SBOMs in {:.1}s",
        artifacts / 10,
        t0.elapsed().as_secs_f64()
    );
    let mut sample_promotion = String::new();
    for k in 0..promotions {
        let (repo, d, tag) = &digests[(k * 7919) % digests.len()];
        let state = match k % 3 {
            0 => PromotionState::Pending,
            1 => PromotionState::Promoted,
            _ => PromotionState::Denied,
        };
        // Spread over the last 75 days, newest last.
        let at = now - (promotions - k) as i64 * 75 * DAY_MS / promotions as i64;
        let rec = PromotionRecord {
            id: String::new(),
            revision: 0,
            artifact: d.clone(),
            source_repository: repo.clone(),
            target_environment: "staging".into(),
            target_repository: format!("staging/{}", repo.as_str().trim_start_matches("dev/"))
                .parse()
                .unwrap(),
            tag: Some(tag.clone()),
            path: None,
            requested_by: "releaser".into(),
            change_request: None,
            justification: None,
            emergency: false,
            rollback: k % 17 == 0,
            bundle: None,
            state,
            decision: json!({
                "verdict": if state == PromotionState::Pending { "pending" } else if state == PromotionState::Denied { "deny" } else { "allow" },
                "reasons": if state == PromotionState::Promoted { json!([]) } else { json!(["approvals-missing"]) },
                "rules": [
                    {"rule": "signatures", "kind": "signatures", "status": "pass", "message": "signed by key ci-key", "source": "base.toml:11"},
                    {"rule": "approvals", "kind": "approvals", "status": if state == PromotionState::Promoted { "pass" } else { "fail" },
                     "reason": "approvals-missing", "message": "approvals missing: security 0/1", "source": "base.toml:21"},
                ],
            }),
            approvals: Vec::new(),
            postmortem: None,
            error: None,
            created_at_ms: at,
            updated_at_ms: at + 3_600_000,
            owner: None,
            checklist: Vec::new(),
            notes: Vec::new(),
            outcome: None,
            scheduled_for_ms: None,
            cancelled_by: None,
        };
        let opened = store.open_promotion(&rec).expect("open promotion");
        if let tollgate_store::Opened::Created(p) = opened
            && sample_promotion.is_empty()
        {
            sample_promotion = p.id;
        }
    }
    let mut drafts = Vec::with_capacity(1024);
    for (i, (repo, d, _)) in digests.iter().enumerate() {
        drafts.push(AuditDraft {
            at_ms: now - (artifacts - i) as i64 * 1000,
            actor: "ci".into(),
            action: "manifest-push".into(),
            repository: Some(repo.clone()),
            digest: Some(d.clone()),
            decision: None,
            policy_digest: None,
            details: serde_json::Value::Null,
        });
        if drafts.len() == 1024 {
            store.append_audit(&drafts).expect("append audit");
            drafts.clear();
        }
    }
    store.append_audit(&drafts).expect("append audit");
    let (token, rec) =
        tollgate::auth::new_token_record("bench", vec!["admin".parse().unwrap()], now);
    store.create_token(&rec).expect("token");
    eprintln!(
        "seeded promotions, audit and token in {:.1}s total",
        t0.elapsed().as_secs_f64()
    );
    Seeded {
        token,
        sample_artifact: digests[digests.len() / 2].1.clone(),
        sample_promotion,
    }
}

/// One request on its own connection; returns status, headers and body.
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, out[split + 4..].to_vec())
}

/// The running gateway; stopped when dropped, also when a page check fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &Path) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tollgate"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && request(port, "GET", "/healthz", &[], "").0 == 200
        {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("tollgate did not start");
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let artifacts: usize = if bench {
        std::env::var("TOLLGATE_CONSOLE_BENCH_ARTIFACTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000)
    } else {
        500
    };
    let rounds: usize = if bench {
        std::env::var("TOLLGATE_CONSOLE_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30)
    } else {
        2
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let promotions: usize = if bench {
        std::env::var("TOLLGATE_CONSOLE_BENCH_PROMOTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300)
    } else {
        30
    };
    let seeded = seed(&data, artifacts, promotions);
    let (server, port) = start(&data);
    let (status, head, _) = request(
        port,
        "POST",
        "/ui/signin",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={}", seeded.token),
    );
    assert_eq!(status, 303, "sign-in: {head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let pages = [
        ("Promotions waiting (newest 50)", "/ui/".to_string()),
        (
            "Promotion detail",
            format!("/ui/promotions/{}", seeded.sample_promotion),
        ),
        (
            "Artifact with evidence graph",
            format!("/ui/artifacts/{}", seeded.sample_artifact),
        ),
        (
            "SBOM search, popular package (first page, 200 hits)",
            "/ui/sbom?purl=pkg%3Anpm%2Flodash&range=%3C4.17.20".into(),
        ),
        (
            "SBOM search, rare package",
            format!("/ui/sbom?purl=pkg%3Anpm%2Fown-{}", (artifacts / 20) * 10),
        ),
        (
            "SBOM search, licence (first page)",
            "/ui/sbom?license=MIT".into(),
        ),
        ("Audit trail, newest page", "/ui/audit".into()),
        (
            "Audit trail, filtered by actor (scans the log)",
            "/ui/audit?actor=nobody".into(),
        ),
        (
            "Delivery report, 12 weeks",
            "/ui/reports/delivery?environment=staging&weeks=12".into(),
        ),
        ("Access review", "/ui/reports/access-review".into()),
    ];
    println!("\n{artifacts} artifacts, {promotions} promotions, {rounds} rounds per page\n");
    println!("| page | median ms | p90 ms | bytes |");
    println!("|---|---:|---:|---:|");
    for (name, path) in &pages {
        let mut times = Vec::with_capacity(rounds);
        let mut size = 0;
        for i in 0..rounds + 3 {
            let t = Instant::now();
            let (status, head, body) = request(port, "GET", path, &[("Cookie", &cookie)], "");
            let el = t.elapsed();
            assert_eq!(
                status,
                200,
                "{path}: {head}\n{}",
                String::from_utf8_lossy(&body)
            );
            size = body.len();
            if i >= 3 {
                times.push(el.as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
        println!("| {name} | {median:.2} | {p90:.2} | {size} |");
    }
    drop(server);
}
