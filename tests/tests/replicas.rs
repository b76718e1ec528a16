//! Replicas (issue 9): several `tollgate serve` processes over one PostgreSQL database and one
//! upstream registry, driven by real clients in parallel. Races are settled by the database:
//! one tag binding wins, one promotion record and copy, one gap-free audit log that every
//! replica proves; a replica killed with SIGKILL mid-burst leaves nothing half-done, and a
//! replica started later sees everything.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

/// Staging takes anything from dev; prod takes staging's with two ops approvals.
const POLICY: &str = "version = 1\n\n[environments.dev]\n\n[environments.staging]\nfrom = [\"dev\"]\n\n\
     [environments.prod]\nfrom = [\"staging\"]\n\n[environments.prod.approvals]\nops = 2\n";

fn key() -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/audit/replicas-ed25519.pem"),
    )
    .expect("fixture key")
}

struct Cluster {
    replicas: Vec<Tollgate>,
    config: String,
    reg: Registry,
    admin_token: String,
}

impl Cluster {
    /// `n` replicas over a fresh database and a fresh registry; `None` when a tool is missing.
    fn start(n: usize) -> Option<Cluster> {
        if !require_tools(&["docker-registry"]) {
            return None;
        }
        let pg = postgres()?;
        let reg = Registry::start();
        let config = format!(
            "[upstream]\nurl = \"{}\"\ntag_mirror_interval_secs = 1\n\n[store]\nurl = \"{}\"\npool_size = 8\n\n\
             [audit]\nkey = \"audit.pem\"\norigin = \"tollgate.test/replicas\"\n\n\
             [policy]\ndir = \"policy\"\n\n[admission]\nregistries = [\"tollgate.test\"]\n",
            reg.url(),
            pg.fresh_database()
        );
        let first = Tollgate::start_with_files(
            TollgateOpts::config(config.clone()),
            &[
                ("audit.pem", &key()),
                ("policy/base.toml", POLICY.as_bytes()),
            ],
        );
        let admin_token = first.admin_token.clone();
        let mut c = Cluster {
            replicas: vec![first],
            config,
            reg,
            admin_token,
        };
        for _ in 1..n {
            c.add();
        }
        Some(c)
    }

    /// Starts one more replica on the same database (it creates no admin token of its own).
    fn add(&mut self) -> &Tollgate {
        let mut tg = Tollgate::prepare(TollgateOpts::config(self.config.clone()));
        tg.write_config_file("audit.pem", &key());
        tg.write_config_file("policy/base.toml", POLICY.as_bytes());
        std::fs::write(
            tg.data_dir().join("admin-token"),
            format!("{}\n", self.admin_token),
        )
        .unwrap();
        tg.restart();
        self.replicas.push(tg);
        self.replicas.last().unwrap()
    }
}

fn audit_verifies(tg: &Tollgate, token: &str) {
    let key = tg
        .admin()
        .get("/api/v1/audit/key")
        .text()
        .trim()
        .to_string();
    let out = tollgate_cli(&[
        "audit",
        "verify",
        "--url",
        &tg.base_url(),
        "--token",
        token,
        "--key",
        &key,
    ]);
    assert!(out.success(), "audit verify via {}: {out}", tg.base_url());
}

#[test]
fn replicas_settle_races_in_the_database_and_prove_one_log() {
    let Some(mut c) = Cluster::start(2) else {
        return;
    };
    let (a, b) = (&c.replicas[0], &c.replicas[1]);
    assert!(
        std::fs::read_to_string(b.stdout_path())
            .unwrap_or_default()
            .is_empty(),
        "the second replica must not bootstrap another admin"
    );

    // Two pushers bind one new immutable tag to different images, one through each replica.
    let images: Vec<TinyImage> = (0..2).map(|_| TinyImage::new()).collect();
    for (tg, img) in [a, b].into_iter().zip(&images) {
        let http = tg.admin();
        http.push_blob("dev/app", &img.config.data);
        http.push_blob("dev/app", &img.layer.data);
    }
    let results: Vec<Resp> = thread::scope(|s| {
        let hs: Vec<_> = [a, b]
            .into_iter()
            .zip(&images)
            .map(|(tg, img)| {
                s.spawn(move || {
                    tg.admin()
                        .put_manifest("dev/app", "1.0.0", OCI_MANIFEST, &img.manifest)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..2).filter(|i| results[*i].status == 201).collect();
    assert_eq!(won.len(), 1, "exactly one binding wins: {results:?}");
    let loser = &results[1 - won[0]];
    assert!(
        loser.status == 400 || loser.status == 409 || loser.status == 403,
        "{loser}"
    );
    assert!(loser.text().contains("tag-immutable"), "{loser}");
    let winner = images[won[0]].digest.clone();
    for tg in [a, b] {
        let r = tg.admin().get_manifest("dev/app", "1.0.0");
        r.expect_status(200, "tag through each replica");
        assert_eq!(r.header("docker-content-digest").unwrap(), winner);
    }

    // Two promoters ask for the same promotion at once, one through each replica.
    let releaser = a.create_token("releaser", &["promoter"]);
    let answers: Vec<Value> = thread::scope(|s| {
        let hs: Vec<_> = [a, b]
            .into_iter()
            .map(|tg| {
                let token = releaser.clone();
                s.spawn(move || {
                    tg.bearer(&token)
                        .post_json(
                            "/api/v1/promotions",
                            json!({"artifact": "dev/app:1.0.0", "to": "staging"})
                                .to_string()
                                .into_bytes(),
                        )
                        .json()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let listed = b.admin().get("/api/v1/promotions").json();
    let promotions = listed["promotions"].as_array().unwrap();
    assert_eq!(
        promotions.len(),
        1,
        "one promotion record: {listed}\n{answers:?}"
    );
    assert_eq!(promotions[0]["state"], "promoted", "{listed}");
    // The copy happened once, upstream; both replicas serve it and admit it at once.
    let up = Http::new(c.reg.url(), Auth::None);
    up.get_manifest("staging/app", "1.0.0")
        .expect_status(200, "promoted copy upstream");
    for tg in [a, b] {
        let r = tg.admin().get_manifest("staging/app", "1.0.0");
        r.expect_status(200, "promoted pull");
        let review = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": unique(), "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "operation": "CREATE", "namespace": "shop",
                        "object": {"spec": {"containers": [
                            {"name": "app", "image": "tollgate.test/staging/app:1.0.0"}]}}}
        });
        let r = tg
            .anon()
            .post_json("/admission/staging", review.to_string().into_bytes());
        assert_eq!(r.json()["response"]["allowed"], true, "{r}");
    }

    // Approvals arriving at once through both replicas are counted once per approver: the
    // same approver twice is one approval, so prod waits for a second person.
    let r = a.bearer(&releaser).post_json(
        "/api/v1/promotions",
        json!({"artifact": "staging/app:1.0.0", "to": "prod"})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.json()["state"], "pending", "{r}");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let approvals = format!("/api/v1/promotions/{id}/approvals");
    let ops1 = a.create_token("ops-1", &["approver(ops)"]);
    let ops2 = a.create_token("ops-2", &["approver(ops)"]);
    let approve = |tgs: [&Tollgate; 2], token: &str| {
        thread::scope(|s| {
            for tg in tgs {
                let approvals = approvals.clone();
                s.spawn(move || {
                    tg.bearer(token)
                        .post_json(&approvals, br#"{"group":"ops"}"#.to_vec())
                });
            }
        });
    };
    approve([a, b], &ops1);
    let p = b.admin().get(&format!("/api/v1/promotions/{id}")).json();
    assert_eq!(p["state"], "pending", "one approver, twice: {p}");
    assert_eq!(p["approvals"].as_array().unwrap().len(), 1, "{p}");
    approve([b, a], &ops2);
    let p = a.admin().get(&format!("/api/v1/promotions/{id}")).json();
    assert_eq!(p["state"], "promoted", "{p}");
    assert_eq!(p["approvals"].as_array().unwrap().len(), 2, "{p}");

    // Appends from every replica form one log; each replica proves all of it.
    let auditor = a.create_token("compliance", &["auditor"]);
    thread::scope(|s| {
        for tg in [a, b] {
            s.spawn(move || {
                for i in 0..15 {
                    tg.create_token(&format!("t-{}-{i}", tg.port()), &["reader:dev/*"]);
                }
            });
        }
    });
    for tg in [a, b] {
        audit_verifies(tg, &auditor);
    }
    let cps: Vec<Value> = [a, b]
        .iter()
        .map(|tg| {
            tg.basic("compliance", &auditor)
                .get("/api/v1/audit/checkpoint?format=json")
                .json()
        })
        .collect();
    assert_eq!(cps[0]["size"], cps[1]["size"], "{cps:?}");
    assert_eq!(cps[0]["root"], cps[1]["root"], "{cps:?}");
    let entries = b
        .basic("compliance", &auditor)
        .get("/api/v1/audit?action=token-create&limit=1000")
        .json();
    assert_eq!(
        entries["entries"].as_array().unwrap().len(),
        1 + 2 + 1 + 30,
        "releaser, two approvers, auditor and 30 tokens: {entries}"
    );

    // A replica started later sees everything.
    let late = c.add();
    let r = late.admin().get_manifest("staging/app", "1.0.0");
    r.expect_status(200, "late replica");
    audit_verifies(late, &auditor);
}

#[test]
fn a_replica_killed_mid_burst_leaves_nothing_half_done() {
    let Some(mut c) = Cluster::start(2) else {
        return;
    };
    let releaser = c.replicas[0].create_token("releaser", &["promoter"]);
    let auditor = c.replicas[0].create_token("compliance", &["auditor"]);
    let victim_url = c.replicas[0].base_url();
    let token = c.admin_token.clone();
    // A burst of pushes and promotions through the victim, killed with SIGKILL meanwhile.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (url, token, releaser, stop) = (
                victim_url.clone(),
                token.clone(),
                releaser.clone(),
                Arc::clone(&stop),
            );
            thread::spawn(move || {
                let http = Http::new(&url, Auth::Basic("admin".into(), token));
                let rel = Http::new(&url, Auth::Bearer(releaser));
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let img = TinyImage::new();
                    let tag = format!("{w}.{n}.0");
                    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        http.push_image("dev/burst", &tag, &img);
                        rel.post_json(
                            "/api/v1/promotions",
                            json!({"artifact": format!("dev/burst:{tag}"), "to": "staging"})
                                .to_string()
                                .into_bytes(),
                        );
                    }));
                    if ok.is_err() {
                        break;
                    }
                    n += 1;
                }
            })
        })
        .collect();
    thread::sleep(std::time::Duration::from_millis(1500));
    c.replicas[0].stop(); // SIGKILL
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }

    let b = &c.replicas[1];
    audit_verifies(b, &auditor);
    // Every tag the database holds names a manifest both the registry and Tollgate serve, and
    // every promotion is finished or failed — none left in between by the dead replica.
    let tags = b.admin().get("/v2/dev/burst/tags/list").json();
    let tags = tags["tags"].as_array().cloned().unwrap_or_default();
    assert!(!tags.is_empty(), "the burst pushed nothing before the kill");
    let up = Http::new(c.reg.url(), Auth::None);
    for t in &tags {
        let t = t.as_str().unwrap();
        let via = b.admin().get_manifest("dev/burst", t);
        via.expect_status(200, &format!("dev/burst:{t} via the survivor"));
        // The manifest reaches the upstream by digest before the tag is recorded, so the bytes
        // a recorded tag names are always there.
        let digest = via
            .header("docker-content-digest")
            .expect("the survivor names the digest");
        up.get_manifest("dev/burst", &digest)
            .expect_status(200, &format!("dev/burst:{t} ({digest}) upstream"));
        // Mirroring the tag upstream comes after; one the kill interrupted stays queued in the
        // database and the survivor's background pass mirrors it.
        eventually(
            &format!("dev/burst:{t} upstream by tag"),
            std::time::Duration::from_secs(30),
            || {
                let r = up.get_manifest("dev/burst", t);
                (r.status == 200)
                    .then_some(())
                    .filter(|()| r.header("docker-content-digest").as_deref() == Some(&digest))
            },
        );
    }
    // A promotion is either finished — its target serves it — or visibly not (copying, to be
    // resumed by a retry): the survivor never serves a half-promoted artifact.
    let promotions = b.admin().get("/api/v1/promotions?limit=1000").json();
    let promotions = promotions["promotions"].as_array().unwrap().clone();
    assert!(!promotions.is_empty(), "no promotion before the kill");
    for p in &promotions {
        let repo = p["target_repository"].as_str().unwrap();
        let by_digest = b
            .admin()
            .get_manifest(repo, p["artifact"].as_str().unwrap());
        if p["state"] == "promoted" {
            by_digest.expect_status(200, &format!("{p}"));
        } else {
            assert_ne!(by_digest.status, 200, "served before promoted: {p}");
        }
    }
    // A fresh replica after the crash sees the same.
    let late = c.add();
    audit_verifies(late, &auditor);
}

/// One embedded node grows into replicas: `tollgate store migrate` copies its store into an
/// empty database, and a replica there serves what the node held — tags, promotions, tokens
/// and the audit log, which still verifies under the same key.
#[test]
fn an_embedded_store_migrates_into_postgres() {
    if !require_tools(&["docker-registry"]) {
        return;
    }
    let Some(pg) = postgres() else { return };
    let reg = Registry::start();
    let config = format!(
        "[upstream]\nurl = \"{}\"\n\n[audit]\nkey = \"audit.pem\"\norigin = \"tollgate.test/replicas\"\n\n\
         [policy]\ndir = \"policy\"\n",
        reg.url()
    );
    let mut node = Tollgate::start_with_files(
        TollgateOpts::config(config.clone()),
        &[
            ("audit.pem", &key()),
            ("policy/base.toml", POLICY.as_bytes()),
        ],
    );
    let img = TinyImage::new();
    node.admin().push_image("dev/app", "1.0.0", &img);
    let r = node.admin().post_json(
        "/api/v1/promotions",
        json!({"artifact": "dev/app:1.0.0", "to": "staging"})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.json()["state"], "promoted", "{r}");
    let auditor = node.create_token("compliance", &["auditor"]);
    // With a password (the test server trusts any): it must never be printed.
    let url = pg
        .fresh_database()
        .replacen("postgres@", "postgres:secret@", 1);
    let data = node.data_dir();
    let migrate = || {
        tollgate_cli(&[
            "store",
            "migrate",
            "--from",
            data.to_str().unwrap(),
            "--to",
            &url,
        ])
    };
    // Not while the node runs on it.
    let out = migrate();
    assert!(!out.success(), "{out}");
    assert!(out.stderr_str().contains("stop the gateway"), "{out}");
    node.stop();
    let out = migrate();
    assert!(out.success(), "{out}");
    assert!(out.stdout_str().contains("copied"), "{out}");
    assert!(
        !out.stdout_str().contains("secret") && out.stdout_str().contains("***"),
        "{out}"
    );
    // Twice is refused: the target is no longer empty.
    let again = migrate();
    assert!(!again.success(), "{again}");
    assert!(again.stderr_str().contains("not empty"), "{again}");
    assert!(!again.stderr_str().contains("secret"), "{again}");

    let mut replica = Tollgate::prepare(TollgateOpts::config(format!(
        "{config}\n[store]\nurl = \"{url}\"\n"
    )));
    replica.write_config_file("audit.pem", &key());
    replica.write_config_file("policy/base.toml", POLICY.as_bytes());
    std::fs::write(
        replica.data_dir().join("admin-token"),
        format!("{}\n", node.admin_token),
    )
    .unwrap();
    replica.restart();
    let r = replica.admin().get_manifest("staging/app", "1.0.0");
    r.expect_status(200, "the promoted image through the replica");
    assert_eq!(r.header("docker-content-digest").unwrap(), img.digest);
    audit_verifies(&replica, &auditor);
}
