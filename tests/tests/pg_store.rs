//! The PostgreSQL backend (issue 9): the store's shared test suite, unchanged, against a real
//! server, and what only a shared database must settle — several stores (replicas) on one
//! database racing for a tag and for the audit log's next number, caches following another
//! replica's writes, and schema migrations applied once.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tollgate_attest::Digest;
use tollgate_e2e::{postgres, serde_json};
use tollgate_policies::{RepoName, Tag};
use tollgate_store::{
    ArtifactStore, AuditDraft, AuditFilter, AuditStore, FileChecksums, FileOutcome, FileRecord,
    FileStore, ManifestRecord, PgOptions, PgStore, StoreError, TagBinding, TagOutcome,
};

fn opts(cache_ms: u64) -> PgOptions {
    PgOptions {
        pool_size: 4,
        cache: Duration::from_millis(cache_ms),
    }
}

tollgate_store::testsuite::backend_suite!({
    let Some(pg) = postgres() else { return };
    PgStore::connect(&pg.fresh_database(), opts(0)).expect("connect")
});

/// The same suite with the read cache on: every lookup the suite makes through the cache must
/// still follow every write.
mod cached {
    use super::*;
    tollgate_store::testsuite::backend_suite!({
        let Some(pg) = postgres() else { return };
        PgStore::connect(&pg.fresh_database(), opts(60_000)).expect("connect")
    });
}

fn manifest(n: u32) -> (ManifestRecord, Vec<u8>) {
    let bytes = format!(r#"{{"schemaVersion":2,"n":{n}}}"#).into_bytes();
    (
        ManifestRecord {
            digest: Digest::sha256_of(&bytes),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: bytes.len() as u64,
            artifact_type: None,
            subject: None,
            annotations: Default::default(),
            pushed_by: "test".into(),
            pushed_at_ms: 1,
        },
        bytes,
    )
}

/// `n` stores (replicas) on one fresh database.
fn replicas(n: usize, cache_ms: u64) -> Option<Vec<Arc<PgStore>>> {
    let pg = postgres()?;
    let url = pg.fresh_database();
    Some(
        (0..n)
            .map(|_| Arc::new(PgStore::connect(&url, opts(cache_ms)).expect("connect")))
            .collect(),
    )
}

#[test]
fn replicas_binding_one_new_tag_leave_exactly_one_winner() {
    let Some(stores) = replicas(3, 0) else { return };
    let repo: RepoName = "dev/race".parse().unwrap();
    for round in 0..5 {
        let tag: Tag = format!("1.0.{round}").parse().unwrap();
        let handles: Vec<_> = (0..9u32)
            .map(|i| {
                let s = Arc::clone(&stores[i as usize % stores.len()]);
                let (repo, tag) = (repo.clone(), tag.clone());
                thread::spawn(move || {
                    let (m, b) = manifest(round * 100 + i);
                    let bind = TagBinding {
                        tag: &tag,
                        immutable: true,
                        mirror: false,
                    };
                    s.put_manifest(&repo, &m, &b, Some(bind))
                        .map(|o| (o, m.digest))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert_eq!(winners[0].0, Some(TagOutcome::Created));
        for r in &results {
            if let Err(e) = r {
                assert!(matches!(e, StoreError::TagConflict { .. }), "{e:?}");
            }
        }
        // Every replica answers the winner.
        for s in &stores {
            assert_eq!(
                s.resolve_tag(&repo, &tag).unwrap(),
                Some(winners[0].1.clone())
            );
        }
    }
}

fn file_record(path: &str, content: &[u8]) -> FileRecord {
    FileRecord {
        path: path.to_string(),
        digest: Digest::sha256_of(content),
        size: content.len() as u64,
        checksums: FileChecksums {
            sha1: format!("{:040x}", content[0]),
            md5: format!("{:032x}", content[0]),
            sha512: "0".repeat(128),
        },
        content_type: None,
        purl: None,
        pushed_by: "test".into(),
        pushed_at_ms: 1,
    }
}

/// Replicas deploying one release path at once (issue 8 on replicas): the database decides,
/// one binding is created, every other bytes are refused naming it, every replica reads it.
#[test]
fn replicas_racing_on_one_release_path_leave_exactly_one_winner() {
    let Some(stores) = replicas(3, 0) else { return };
    let repo: RepoName = "libs-prod".parse().unwrap();
    for round in 0..5u8 {
        let path = format!("com/example/demo/1.{round}/demo-1.{round}.jar");
        let barrier = Arc::new(std::sync::Barrier::new(9));
        let handles: Vec<_> = (0..9u8)
            .map(|i| {
                let s = Arc::clone(&stores[usize::from(i) % stores.len()]);
                let (repo, path, barrier) = (repo.clone(), path.clone(), Arc::clone(&barrier));
                thread::spawn(move || {
                    let rec = file_record(&path, &[i, round]);
                    barrier.wait();
                    s.put_file(&repo, &rec, true).map(|o| (o, rec.digest))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert_eq!(winners[0].0, FileOutcome::Created);
        for r in &results {
            if let Err(e) = r {
                match e {
                    StoreError::PathConflict { existing } => assert_eq!(existing, &winners[0].1),
                    e => panic!("round {round}: {e:?}"),
                }
            }
        }
        for s in &stores {
            assert_eq!(
                s.get_file(&repo, &path).unwrap().map(|f| f.digest),
                Some(winners[0].1.clone())
            );
        }
    }
}

#[test]
fn replicas_appending_to_the_audit_log_leave_one_gap_free_sequence() {
    let Some(stores) = replicas(3, 0) else { return };
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let s = Arc::clone(&stores[t % stores.len()]);
            thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..20 {
                    let d = AuditDraft {
                        at_ms: i,
                        actor: format!("replica-{t}"),
                        action: "token-create".into(),
                        repository: None,
                        digest: None,
                        decision: None,
                        policy_digest: None,
                        details: serde_json::Value::Null,
                    };
                    let batch = [d.clone(), d];
                    seqs.extend(s.append_audit(&batch).unwrap().into_iter().map(|e| e.seq));
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(
        all,
        (0..240).collect::<Vec<_>>(),
        "numbers given out once each"
    );
    for s in &stores {
        assert_eq!(s.audit_len().unwrap(), 240);
        let listed = s.query_audit(&AuditFilter::default(), 1000).unwrap();
        assert_eq!(
            listed.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (0..240).collect::<Vec<_>>()
        );
    }
}

/// A replica's cache never answers from before another replica's change for longer than its
/// bound; with no bound (the default) it never caches at all.
#[test]
fn caches_follow_other_replicas_writes_within_their_bound() {
    for cache_ms in [0u64, 200] {
        let Some(stores) = replicas(2, cache_ms) else {
            return;
        };
        let (a, b) = (&stores[0], &stores[1]);
        let repo: RepoName = "prod/app".parse().unwrap();
        let tag: Tag = "latest".parse().unwrap();
        let bind = || {
            Some(TagBinding {
                tag: &tag,
                immutable: false,
                mirror: false,
            })
        };
        // A caches "no such tag", then the digest it is bound to.
        assert_eq!(a.resolve_tag(&repo, &tag).unwrap(), None);
        let (m1, b1) = manifest(1);
        b.put_manifest(&repo, &m1, &b1, bind()).unwrap();
        let seen = |want: &Digest| {
            let start = Instant::now();
            loop {
                if a.resolve_tag(&repo, &tag).unwrap().as_ref() == Some(want) {
                    return start.elapsed();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "cache {cache_ms} ms: replica A never saw {want}"
                );
                thread::sleep(Duration::from_millis(5));
            }
        };
        let took = seen(&m1.digest);
        // B moves the tag; A follows within the bound (NOTIFY usually makes it sooner).
        let (m2, b2) = manifest(2);
        b.put_manifest(&repo, &m2, &b2, bind()).unwrap();
        let took2 = seen(&m2.digest);
        let bound = Duration::from_millis(cache_ms) + Duration::from_millis(150);
        assert!(
            took <= bound && took2 <= bound,
            "cache {cache_ms} ms: changes seen after {took:?} and {took2:?}"
        );
        if cache_ms == 0 {
            assert_eq!(a.resolve_tag(&repo, &tag).unwrap(), Some(m2.digest.clone()));
        }
    }
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let Some(pg) = postgres() else { return };
    let url = pg.fresh_database();
    // Two replicas starting at once on an empty database.
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            thread::spawn(move || PgStore::connect(&url, opts(0)).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().expect("connect");
    }
    let db = url.rsplit('/').next().unwrap();
    let out = pg.psql(db, "SELECT count(*) FROM tollgate_migrations");
    assert_eq!(out.stdout_str().trim(), "1", "{out}");
    // A database migrated by a later version is not guessed at.
    let out = pg.psql(
        db,
        "INSERT INTO tollgate_migrations (version, name) VALUES (999, 'future')",
    );
    assert!(out.success(), "{out}");
    let err = PgStore::connect(&url, opts(0)).unwrap_err().to_string();
    assert!(
        err.contains("newer Tollgate") && err.contains("999"),
        "{err}"
    );
    // Bad URLs and unreachable servers are clear errors, not hangs.
    let err = PgStore::connect("postgres://127.0.0.1:1/x", opts(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("PostgreSQL"), "{err}");
    let err = PgStore::connect("postgres://[bad", opts(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("URL"), "{err}");
}
