//! Audit log benchmarks (issue 7): durable appends, verifying a 1,000,000-entry export, and
//! Merkle proof generation over a 1,000,000-leaf log.
//!
//! ```sh
//! cargo bench -p tollgate --bench audit                 # everything
//! cargo bench -p tollgate --bench audit -- append       # one group: append | query | record | verify | proof
//! ```
//!
//! `AUDIT_BENCH_KEEP_DATA=DIR` (when the cached export is built) also keeps the 1M-entry data
//! directory at DIR, for `tollgate serve --data DIR` (proof latency over HTTP).
//!
//! - `append/batch/{1,64,1024}`: `AuditStore::append_audit` on a `RedbStore` in a temporary
//!   directory, one durable redb commit per call, with realistic drafts (manifest pushes,
//!   promotion decisions, pull refusals). Throughput in entries/s; batch 1 is the baseline.
//! - `query/{actor-rare,action-common,digest-scan,time-window-scan}`: filtered queries over a
//!   100,000-entry log (see [`query`]); the last two are not served by the index.
//! - `record/tasks/{1,64,1024,4096}`: the same drafts through `tollgate::audit::Audit::record`
//!   from N concurrent tokio tasks (2 worker threads), each awaiting its entry's durability: the
//!   group-commit writer batches what is waiting (up to 4096), commits, extends the tree and
//!   signs and stores a checkpoint per batch, exactly as the gateway runs it.
//! - `verify/export_1m`: `tollgate::audit::cli::verify_export` over an export of 1,000,000
//!   entries with its checkpoints (one per 1024-entry batch, as the writer leaves them under
//!   load). The export is built once through the real store code paths (a data directory with
//!   the writer's sequence of appends and checkpoints, exported as `tollgate audit export` does)
//!   and cached, with its verifier key, under `$CARGO_TARGET_DIR/audit-bench/`.
//! - `proof/{inclusion,consistency}_1m`: proofs and the root they lead to over a `MerkleLog` of
//!   those 1,000,000 leaves, at pseudo-random positions (what `/api/v1/audit/proofs/*` does
//!   under its read lock).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tollgate::audit::Audit;
use tollgate::audit::cli::{verify_export, write_export};
use tollgate::config::AuditConfig;
use tollgate_attest::Digest;
use tollgate_attest::merkle::{self, MerkleLog};
use tollgate_attest::note::{Checkpoint, NoteSigner};
use tollgate_store::{AuditDraft, AuditStore, CheckpointRecord, RedbStore, Store};

const EXPORT_ENTRIES: u64 = 1_000_000;
/// Entries per group commit while building the big log (the writer's batches under load).
const BUILD_BATCH: usize = 1024;

/// A small deterministic generator (no dependency, same drafts every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The `i`-th realistic draft: mostly manifest pushes, some promotion decisions (with a policy
/// digest and a decision id) and pull refusals, as a busy gateway logs them.
fn draft(i: u64) -> AuditDraft {
    let digest = Digest::sha256_of(&i.to_le_bytes());
    let svc = i % 500;
    let at_ms = 1_795_000_000_000 + i as i64 * 7;
    let base = |actor: &str, action: &str, repo: String| AuditDraft {
        at_ms,
        actor: actor.to_string(),
        action: action.to_string(),
        repository: Some(repo.parse().expect("repository name")),
        digest: Some(digest.clone()),
        decision: None,
        policy_digest: None,
        details: serde_json::Value::Null,
    };
    match i % 10 {
        0..=6 => {
            let mut d = base("ci-shop", "manifest-push", format!("dev/shop/svc-{svc:03}"));
            d.details = serde_json::json!({
                "tag": format!("1.{}.{}", i / 1000 % 100, i % 1000),
                "media_type": "application/vnd.oci.image.manifest.v1+json",
                "subject": null,
            });
            d
        }
        7 | 8 => {
            let mut d = base(
                "release-bot",
                "promotion-decided",
                format!("staging/shop/svc-{svc:03}"),
            );
            d.decision = Some(format!("prm-{:06}", i / 10));
            d.policy_digest = Some(Digest::sha256_of(b"policy v42"));
            d.details = serde_json::json!({
                "environment": "staging",
                "verdict": "allowed",
                "reasons": [],
                "state": "promoted",
            });
            d
        }
        _ => {
            let mut d = base(
                "system:serviceaccount:argocd:argocd-application-controller",
                "pull-denied",
                format!("prod/shop/svc-{svc:03}"),
            );
            d.details = serde_json::json!({ "environment": "prod", "reason": "not-promoted" });
            d
        }
    }
}

fn drafts(from: u64, n: usize) -> Vec<AuditDraft> {
    (from..from + n as u64).map(draft).collect()
}

fn audit_config() -> AuditConfig {
    AuditConfig {
        origin: tollgate::config::DEFAULT_AUDIT_ORIGIN.to_string(),
        key: None,
        retention_days: None,
        retention_by_action: Default::default(),
        prune_interval_hours: 24,
        admission_summary: tollgate::config::DEFAULT_ADMISSION_SUMMARY,
    }
}

/// The signer of a data directory (generated there on first use, as `serve` does).
fn signer(data: &Path) -> NoteSigner {
    tollgate::audit::load_signer(&audit_config(), data).expect("audit key")
}

fn sign(signer: &NoteSigner, tree: &MerkleLog, size: u64) -> CheckpointRecord {
    let root = tree.root(size).expect("root");
    let cp = Checkpoint {
        origin: signer.name().to_string(),
        size,
        root,
    };
    CheckpointRecord {
        size,
        root: hex::encode(root),
        at_ms: 1_795_000_000_000,
        note: signer.sign(&cp.to_text()).expect("sign"),
    }
}

fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("audit-bench")
}

/// The cached 1M-entry data directory and its export, built on first use: entries appended in
/// batches through `AuditStore::append_audit` with a signed checkpoint stored after each (the
/// writer's sequence), then exported with a fresh checkpoint as `tollgate audit export` does.
fn big_export() -> (PathBuf, String) {
    let dir = cache_dir();
    let file = dir.join(format!("export-{EXPORT_ENTRIES}.jsonl"));
    let data = dir.join(format!("data-{EXPORT_ENTRIES}"));
    let key_file = dir.join(format!("export-{EXPORT_ENTRIES}.key"));
    if let Ok(key) = std::fs::read_to_string(&key_file)
        && file.exists()
    {
        return (file, key.trim().to_string());
    }
    eprintln!(
        "building the {EXPORT_ENTRIES}-entry audit log and export under {} (once)",
        dir.display()
    );
    let t = Instant::now();
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("cache dir");
    let signer = signer(&data);
    let store = tollgate::serve::open_store(&data).expect("store");
    let mut tree = MerkleLog::new();
    let mut at = 0u64;
    while at < EXPORT_ENTRIES {
        let n = BUILD_BATCH.min((EXPORT_ENTRIES - at) as usize);
        for e in store.append_audit(&drafts(at, n)).expect("append") {
            tree.push(merkle::leaf_hash(&e.to_bytes()));
        }
        at += n as u64;
        store
            .put_checkpoint(&sign(&signer, &tree, at))
            .expect("checkpoint");
    }
    let mut checkpoints = store.audit_checkpoints().expect("checkpoints");
    checkpoints.push(sign(&signer, &tree, at));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).expect("export file"));
    write_export(
        &mut w,
        &store,
        signer.name(),
        &signer.verifier_key(),
        at,
        &checkpoints,
    )
    .expect("export");
    std::io::Write::flush(&mut w).expect("flush");
    drop(w);
    drop(store);
    // The export is all later runs need (the store file is twice its size); the data
    // directory is kept only when asked for, to serve it (`tollgate serve --data DIR`).
    std::fs::write(&key_file, signer.verifier_key()).expect("key file");
    match std::env::var_os("AUDIT_BENCH_KEEP_DATA") {
        Some(keep) => std::fs::rename(&data, keep).expect("move the data directory"),
        None => std::fs::remove_dir_all(&data).expect("remove the data directory"),
    }
    eprintln!(
        "built in {:.1} s: {} ({} MB)",
        t.elapsed().as_secs_f64(),
        file.display(),
        std::fs::metadata(&file).map_or(0, |m| m.len()) / 1_000_000
    );
    (file, signer.verifier_key())
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    for batch in [1usize, 64, 1024] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(&dir.path().join("store.redb")).expect("store");
        let mut next = 0u64;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, &batch| {
            b.iter_batched(
                || {
                    let d = drafts(next, batch);
                    next += batch as u64;
                    d
                },
                |d| black_box(store.append_audit(&d).expect("append")),
                criterion::BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// Filtered queries over a 100,000-entry log, as `GET /api/v1/audit?actor=…` and the console's
/// audit page run them: by a rare actor (100 entries spread over the log) and by a common action
/// (the first page of 100), answered from the audit index; by an artifact's digest, which is
/// not indexed; and the in-run baseline, a time window of 100 entries, which no index serves
/// and so reads the log from the start (what every filter cost before the index).
fn query(c: &mut Criterion) {
    const ENTRIES: u64 = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(&dir.path().join("store.redb")).expect("store");
    let mut at = 0u64;
    while at < ENTRIES {
        let mut batch = drafts(at, BUILD_BATCH);
        for (i, d) in batch.iter_mut().enumerate() {
            if (at + i as u64) % 1_000 == 500 {
                d.actor = "oncall".into();
                d.action = "breakglass-used".into();
            }
        }
        store.append_audit(&batch).expect("append");
        at += BUILD_BATCH as u64;
    }
    let mid = 1_795_000_000_000 + (ENTRIES as i64 / 2) * 7;
    let queries = [
        (
            "actor-rare",
            tollgate_store::AuditFilter {
                actor: Some("oncall".into()),
                ..Default::default()
            },
        ),
        (
            "digest-scan",
            tollgate_store::AuditFilter {
                digest: Some(Digest::sha256_of(&77_777u64.to_le_bytes())),
                ..Default::default()
            },
        ),
        (
            "action-common",
            tollgate_store::AuditFilter {
                action: Some("promotion-decided".into()),
                ..Default::default()
            },
        ),
        (
            "time-window-scan",
            tollgate_store::AuditFilter {
                since_ms: Some(mid),
                until_ms: Some(mid + 100 * 7),
                ..Default::default()
            },
        ),
    ];
    let mut g = c.benchmark_group("query");
    g.sample_size(30).measurement_time(Duration::from_secs(5));
    for (name, filter) in &queries {
        let hits = store.query_audit(filter, 100).expect("query").len();
        assert!(hits > 0, "{name} finds nothing");
        g.bench_function(*name, |b| {
            b.iter(|| black_box(store.query_audit(filter, 100).expect("query")))
        });
    }
    g.finish();
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for tasks in [1u64, 64, 1024, 4096] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(RedbStore::open(&dir.path().join("store.redb")).expect("store"));
        let audit = rt
            .block_on(async {
                Audit::start(
                    Arc::clone(&store),
                    signer(dir.path()),
                    tollgate::config::DEFAULT_AUDIT_ORIGIN,
                    tollgate::config::DEFAULT_ADMISSION_SUMMARY,
                )
            })
            .expect("audit");
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        // One element = one entry from each task; every task awaits each of its entries.
        g.throughput(Throughput::Elements(tasks));
        g.bench_with_input(BenchmarkId::new("tasks", tasks), &tasks, |b, &tasks| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    let mut handles = Vec::new();
                    for _ in 0..tasks {
                        let audit = Arc::clone(&audit);
                        let counter = Arc::clone(&counter);
                        handles.push(tokio::spawn(async move {
                            for _ in 0..iters {
                                let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                audit.record(draft(i)).await.expect("durable");
                            }
                        }));
                    }
                    for h in handles {
                        h.await.expect("task");
                    }
                    t.elapsed()
                })
            })
        });
        assert_eq!(
            store.audit_len().expect("len"),
            counter.load(std::sync::atomic::Ordering::Relaxed),
            "every acknowledged entry is in the log"
        );
    }
    g.finish();
}

fn verify(c: &mut Criterion) {
    let (file, key) = big_export();
    let text = std::fs::read_to_string(&file).expect("export");
    let report = verify_export(&text, Some(&key)).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.entries, EXPORT_ENTRIES);
    assert_eq!(report.verified_size, EXPORT_ENTRIES);
    let mut g = c.benchmark_group("verify");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.throughput(Throughput::Elements(EXPORT_ENTRIES));
    g.bench_function("export_1m", |b| {
        b.iter(|| black_box(verify_export(black_box(&text), Some(&key)).expect("verify")))
    });
    g.finish();
}

fn proof(c: &mut Criterion) {
    let (file, _) = big_export();
    let text = std::fs::read_to_string(&file).expect("export");
    let mut lines = text.lines();
    lines.next();
    let mut tree = MerkleLog::new();
    for l in lines.take(EXPORT_ENTRIES as usize) {
        tree.push(merkle::leaf_hash(l.as_bytes()));
    }
    drop(text);
    let size = tree.len();
    let mut g = c.benchmark_group("proof");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    g.bench_function("inclusion_1m", |b| {
        b.iter(|| {
            let seq = rng.next() % size;
            let p = merkle::inclusion_proof(&tree, seq as usize, size as usize).expect("proof");
            black_box((p, tree.leaf(seq), tree.root(size)))
        })
    });
    g.bench_function("consistency_1m", |b| {
        b.iter(|| {
            let from = 1 + rng.next() % (size - 1);
            let p = merkle::consistency_proof(&tree, from as usize, size as usize).expect("proof");
            black_box((p, tree.root(from), tree.root(size)))
        })
    });
    // A proof checks against its root, as an auditor does (sanity, not timed).
    let seq = size / 3;
    let p = merkle::inclusion_proof(&tree, seq as usize, size as usize).expect("proof");
    merkle::verify_inclusion(
        &tree.leaf(seq).expect("leaf"),
        seq,
        size,
        &p,
        &tree.root(size).expect("root"),
    )
    .expect("inclusion proof verifies");
    g.finish();
}

criterion_group!(benches, append, query, record, verify, proof);
criterion_main!(benches);
