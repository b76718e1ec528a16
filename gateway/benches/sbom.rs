//! SBOM ingest (issue 4): parse + index one document the way the gateway does, for the real
//! 1,115-component Juice Shop SBOM (goal < 20 ms) and a synthetic 20,000-component one
//! (goal < 100 ms).
//!
//! `cargo bench -p tollgate --bench sbom` — see BENCHMARKS.md. Each document is measured in
//! steps, so the shares add up, against an in-run baseline: `serde_json::Value` reading the
//! same bytes (the cost of just looking at every JSON token).
//!
//! - `json_value`: `serde_json::from_slice::<Value>` (baseline)
//! - `parse`: `tollgate_sbom::parse` (format detection, normalised model, purls, licences,
//!   dependency graph)
//! - `read`: `tollgate::sboms::read` — the parse, plus the document's sha256 and its zstd
//!   packing for the store, which run on the second core for documents from 256 KiB
//! - `read+entries`: + `sboms::index_entries` (the record, one index row per component)
//! - `put_sbom/memory`, `put_sbom/redb`: the store call alone on ready rows and a packed
//!   document (row encoding, the inserts and, for redb, the durable commit), each into a fresh
//!   store; `put_sbom/redb-no-document`: the same with a 2-byte stand-in for the document
//! - `parse+index/redb`: the whole ingest — `sboms::read`, then what `sboms::record` does
//!   (entries, `put_sbom_packed`) into a fresh redb store in a temp dir (fsync on commit, as in
//!   production)
//! - `parse+index/redb-one-core`: the same steps one after another on one thread (the
//!   baseline for the second core's share)

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tollgate_attest::Digest;
use tollgate_store::{MemoryStore, PackedDocument, RedbStore, SbomStore};

mod common;

const RECORDED_AT: i64 = 1_795_000_000_000;

fn fresh_redb() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(&dir.path().join("store.redb")).expect("open redb");
    (dir, store)
}

fn ingest(c: &mut Criterion) {
    let docs = [
        ("juice-shop-1115", common::fixture(common::REAL_SBOM)),
        ("synthetic-20000", common::synthetic_sbom(20_000)),
    ];
    let subject = Digest::sha256_of(b"benchmark image");
    for (name, bytes) in &docs {
        let read = tollgate::sboms::read(bytes).expect("parses");
        let components = read.sbom.inventory().len();
        eprintln!(
            "{name}: {} bytes ({} packed), {components} components, {} dependency edges, {} warnings",
            bytes.len(),
            read.packed.len(),
            read.sbom.dependencies.len(),
            read.sbom.warnings.len()
        );
        let index = |doc: &tollgate::sboms::Parsed| {
            tollgate::sboms::index_entries(
                &subject,
                &doc.digest,
                &doc.sbom,
                "api",
                None,
                RECORDED_AT,
            )
        };
        let (rec, hits) = index(&read);
        let stand_in = PackedDocument::pack(b"{}");

        let mut g = c.benchmark_group(format!("ingest/{name}"));
        g.throughput(Throughput::Elements(components as u64));
        if components > 5_000 {
            g.sample_size(20).measurement_time(Duration::from_secs(15));
        } else {
            g.sample_size(50).measurement_time(Duration::from_secs(8));
        }
        g.bench_function("json_value", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(bytes)).unwrap())
        });
        g.bench_function("parse", |b| {
            b.iter(|| tollgate_sbom::parse(black_box(bytes)).unwrap())
        });
        g.bench_function("read", |b| {
            b.iter(|| tollgate::sboms::read(black_box(bytes)).unwrap())
        });
        g.bench_function("read+entries", |b| {
            b.iter(|| index(&tollgate::sboms::read(black_box(bytes)).unwrap()))
        });
        g.bench_function("put_sbom/memory", |b| {
            b.iter_batched(
                MemoryStore::new,
                |store| {
                    assert!(store.put_sbom_packed(&rec, &read.packed, &hits).unwrap());
                    store
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("put_sbom/redb", |b| {
            b.iter_batched(
                fresh_redb,
                |(dir, store)| {
                    assert!(store.put_sbom_packed(&rec, &read.packed, &hits).unwrap());
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
        // The same rows with a stand-in document: what the index costs without writing (and
        // syncing) the document's own bytes.
        g.bench_function("put_sbom/redb-no-document", |b| {
            b.iter_batched(
                fresh_redb,
                |(dir, store)| {
                    assert!(store.put_sbom_packed(&rec, &stand_in, &hits).unwrap());
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("parse+index/redb", |b| {
            b.iter_batched(
                fresh_redb,
                |(dir, store)| {
                    let doc = tollgate::sboms::read(black_box(bytes)).unwrap();
                    let (rec, hits) = index(&doc);
                    assert!(store.put_sbom_packed(&rec, &doc.packed, &hits).unwrap());
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("parse+index/redb-one-core", |b| {
            b.iter_batched(
                fresh_redb,
                |(dir, store)| {
                    let doc = tollgate::sboms::Parsed {
                        sbom: tollgate_sbom::parse(black_box(bytes)).unwrap(),
                        digest: Digest::sha256_of(bytes),
                        packed: PackedDocument::pack(bytes),
                    };
                    let (rec, hits) = index(&doc);
                    assert!(store.put_sbom_packed(&rec, &doc.packed, &hits).unwrap());
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, ingest);
criterion_main!(benches);
