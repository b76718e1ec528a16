//! Where-used over a corpus of 10,000 SBOMs / 5,000,000 component rows (issue 4: p99 < 5 ms),
//! and the memory of that index.
//!
//! `cargo bench -p tollgate --bench sbom_where_used` — see BENCHMARKS.md. The corpus is built
//! once through the gateway's own parse + index path into a redb store cached under
//! `$CARGO_TARGET_DIR/tollgate-bench-corpus-v1` (delete it to rebuild). Then:
//!
//! 1. a latency sampler: rounds over every query of every class (rare, mid, popular package
//!    with a version range; licence), each call timed alone, then p50/p90/p99/max per class:
//!    the API's first page, every page, one page of 10,000 (the answer before paging) and the
//!    decode-then-filter baseline;
//! 2. criterion medians for one query of each class (the same function);
//! 3. RSS (`VmRSS`/`VmHWM`) after opening and after querying, the file size and the space each
//!    index table takes.
//!
//! Under `cargo test --benches` it runs the same code once on a tiny corpus in a temp dir.
//! `TOLLGATE_BENCH_ROUNDS` (default 60) sets the sampler's rounds;
//! `TOLLGATE_BENCH_NO_TABLE_STATS=1` skips the per-table space report (it reads the whole file).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

mod common;

use common::{Query, mib, percentile};

fn main() {
    let bench = common::bench_mode();
    let tmp = tempfile::tempdir().expect("temp dir");
    let (dir, spec) = if bench {
        (common::corpus_dir(), common::FULL)
    } else {
        (tmp.path().join("corpus"), common::SMOKE)
    };
    let rounds: usize = if bench {
        std::env::var("TOLLGATE_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(60)
    } else {
        1
    };

    let (rss0, _) = common::rss();
    let t = Instant::now();
    let corpus = common::corpus(&dir, spec);
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let (rss_open, hwm_open) = common::rss();
    let m = &corpus.meta;
    println!(
        "corpus: {} SBOMs, {} package rows, {} licence rows, {} distinct packages",
        m.spec.sboms, m.rows, m.license_rows, m.distinct_packages
    );
    println!(
        "  packages by SBOMs holding them: >=1000: {}, 100-999: {}, 10-99: {}, <10: {}",
        m.popularity_buckets[0],
        m.popularity_buckets[1],
        m.popularity_buckets[2],
        m.popularity_buckets[3]
    );
    println!(
        "  built in {:.0} s ({:.0} rows/s; last 10 % of SBOMs: {:.1} ms per {}-component SBOM)",
        m.build_seconds,
        m.rows as f64 / m.build_seconds,
        m.last_tenth_seconds * 1e3 / (m.spec.sboms / 10).max(1) as f64,
        m.spec.per_sbom
    );
    println!(
        "  put_sbom of one {}-component SBOM (rows ready, durable commit), p50/p90/p99: \
         first 10 % of the SBOMs {:.1}/{:.1}/{:.1} ms, last 10 % {:.1}/{:.1}/{:.1} ms",
        m.spec.per_sbom,
        m.put_sbom_first_tenth_ms[0],
        m.put_sbom_first_tenth_ms[1],
        m.put_sbom_first_tenth_ms[2],
        m.put_sbom_last_tenth_ms[0],
        m.put_sbom_last_tenth_ms[1],
        m.put_sbom_last_tenth_ms[2],
    );
    println!(
        "  opened in {open_ms:.1} ms; RSS before {:.1} MiB, after open {:.1} MiB (HWM {:.1} MiB)",
        mib(rss0),
        mib(rss_open),
        mib(hwm_open)
    );

    let mut classes: BTreeMap<&str, Vec<&Query>> = BTreeMap::new();
    for q in &m.queries {
        classes.entry(q.class.as_str()).or_default().push(q);
    }
    // Every query must find what the corpus says it holds (up to the page size), and its
    // pages together the same hits as one unpaged read.
    for q in &m.queries {
        let found = black_box(common::where_used_hits(&corpus.store, q));
        match (&q.purl, &q.license) {
            (Some(purl), _) => {
                use tollgate_store::SbomStore;
                let key = tollgate::sboms::package_key(purl).unwrap();
                let raw = corpus
                    .store
                    .components_by_package(&key, None, common::API_MAX_LIMIT, None)
                    .unwrap()
                    .hits
                    .len();
                assert_eq!(raw, q.rows.min(common::API_MAX_LIMIT), "rows for {q:?}");
                if q.rows <= common::API_MAX_LIMIT {
                    assert_eq!(
                        common::where_used_all_pages(&corpus.store, q),
                        common::where_used_max(&corpus.store, q),
                        "pages of {q:?}"
                    );
                }
            }
            _ => assert_eq!(
                found.len(),
                q.rows.min(common::API_DEFAULT_LIMIT),
                "rows for {q:?} (first pass is also the warm-up)"
            ),
        }
    }

    // 1. Latency sampler: every query of every class each round, through the gateway's path
    //    and, for package queries, the decode-everything-then-filter baseline, interleaved.
    type Run = fn(&tollgate_store::RedbStore, &Query) -> usize;
    let variants: [(&str, Run); 4] = [
        ("page", common::where_used),
        ("all-pages", common::where_used_all_pages),
        ("one-10k", common::where_used_max),
        ("decode-all", common::where_used_decode_all),
    ];
    let order = ["rare", "mid", "popular", "license"];
    let mut samples: BTreeMap<(&str, &str), Vec<Duration>> = BTreeMap::new();
    let mut hits_returned: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let (cpu0, box0) = common::cpu_now();
    let wall = Instant::now();
    for round in 0..rounds {
        for class in order {
            for q in classes.get(class).into_iter().flatten() {
                // The first call of a query in a round finds its pages cold in the CPU's
                // caches; the others then find them warm. Rotating which variant goes first
                // spreads that over all of them.
                let rotated = variants
                    .iter()
                    .cycle()
                    .skip(round % variants.len())
                    .take(variants.len());
                for &(variant, run) in rotated {
                    // A licence's pages run to millions of hits; it is measured per page.
                    if class == "license" && matches!(variant, "all-pages" | "decode-all") {
                        continue;
                    }
                    let t = Instant::now();
                    let n = black_box(run(&corpus.store, q));
                    samples
                        .entry((class, variant))
                        .or_default()
                        .push(t.elapsed());
                    *hits_returned.entry((class, variant)).or_default() += n;
                }
            }
        }
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let (cpu1, box1) = common::cpu_now();
    let (rss_q, hwm_q) = common::rss();
    let own = (cpu1 - cpu0) / wall_s;
    let busy = (box1 - box0) / wall_s;
    println!(
        "\nwhere-used latency, {rounds} rounds; page = the API's first page \
         (sboms::components_by_purl with the version filter while reading, or \
         components_by_license; {} hits); all-pages = every page of it; one-10k = one page of \
         {} (the unpaged answer before); decode-all = the first {} rows decoded, then filtered \
         (the older baseline)",
        common::API_DEFAULT_LIMIT,
        common::API_MAX_LIMIT,
        common::API_MAX_LIMIT
    );
    println!(
        "{:<9} {:<10} {:>7} {:>8} {:>11} {:>17} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "class",
        "path",
        "queries",
        "samples",
        "SBOMs",
        "rows",
        "hits avg",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms"
    );
    for class in order {
        let Some(qs) = classes.get(class) else {
            continue;
        };
        for (variant, _) in variants {
            let Some(s) = samples.get_mut(&(class, variant)) else {
                continue;
            };
            s.sort();
            let span = |f: fn(&Query) -> usize| {
                let lo = qs.iter().map(|q| f(q)).min().unwrap_or(0);
                let hi = qs.iter().map(|q| f(q)).max().unwrap_or(0);
                format!("{lo}-{hi}")
            };
            println!(
                "{:<9} {:<10} {:>7} {:>8} {:>11} {:>17} {:>8.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                class,
                variant,
                qs.len(),
                s.len(),
                if class == "license" {
                    "-".into()
                } else {
                    span(|q| q.sboms)
                },
                span(|q| q.rows),
                hits_returned[&(class, variant)] as f64 / s.len() as f64,
                percentile(s, 0.50).as_secs_f64() * 1e3,
                percentile(s, 0.90).as_secs_f64() * 1e3,
                percentile(s, 0.99).as_secs_f64() * 1e3,
                s.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            );
        }
    }
    println!(
        "  this process {own:.2} cores, machine busy {busy:.2} cores, other work {:.2} cores",
        (busy - own).max(0.0)
    );
    println!(
        "  RSS after querying {:.1} MiB (HWM {:.1} MiB)",
        mib(rss_q),
        mib(hwm_q)
    );
    for q in &m.queries {
        println!(
            "    {:<8} {:<60} {:<14} SBOMs {:>5} rows {:>7}",
            q.class,
            q.purl.as_deref().or(q.license.as_deref()).unwrap_or(""),
            q.range.as_deref().unwrap_or(""),
            q.sboms,
            q.rows
        );
    }

    // The handler's remaining store work for the worst query: one artifact() per subject.
    if let Some(top) = classes
        .get("popular")
        .and_then(|qs| qs.iter().max_by_key(|q| q.rows))
    {
        let hits = common::where_used_page(&corpus.store, top, None, common::API_MAX_LIMIT).hits;
        let mut times = Vec::new();
        let mut subjects = 0;
        for _ in 0..rounds.clamp(1, 20) {
            let t = Instant::now();
            subjects = common::artifact_lookups(&corpus.store, &hits);
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "  handler grouping for the largest popular query ({} hits, {subjects} artifact() \
             lookups): median {:.3} ms",
            hits.len(),
            percentile(&times, 0.5).as_secs_f64() * 1e3
        );
    }

    // 2. Criterion medians, one query per class (the median-sized one; popular: the largest).
    let mut c = Criterion::default()
        .sample_size(if bench { 30 } else { 10 })
        .measurement_time(Duration::from_secs(if bench { 5 } else { 1 }))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("where_used");
        for class in order {
            let Some(qs) = classes.get(class) else {
                continue;
            };
            let mut by_rows = qs.clone();
            by_rows.sort_by_key(|q| q.rows);
            let q = if class == "popular" {
                by_rows[by_rows.len() - 1]
            } else {
                by_rows[by_rows.len() / 2]
            };
            g.bench_function(format!("{class}/{}rows", q.rows), |b| {
                b.iter(|| common::where_used(&corpus.store, q))
            });
            g.bench_function(format!("{class}/{}rows/one-10k", q.rows), |b| {
                b.iter(|| common::where_used_max(&corpus.store, q))
            });
            if class != "license" {
                g.bench_function(format!("{class}/{}rows/all-pages", q.rows), |b| {
                    b.iter(|| common::where_used_all_pages(&corpus.store, q))
                });
                g.bench_function(format!("{class}/{}rows/decode-all", q.rows), |b| {
                    b.iter(|| common::where_used_decode_all(&corpus.store, q))
                });
            }
        }
        g.finish();
    }
    c.final_summary();

    // 3. Space.
    let path = common::Corpus::store_path(&corpus.dir);
    let rows = m.rows;
    drop(corpus);
    let meta = std::fs::metadata(&path).expect("store file");
    let allocated = {
        use std::os::unix::fs::MetadataExt;
        meta.blocks() * 512
    };
    println!(
        "\nstore file {}: {:.1} MiB ({:.0} bytes per package row), {:.1} MiB allocated on disk",
        path.display(),
        mib(meta.len()),
        meta.len() as f64 / rows as f64,
        mib(allocated)
    );
    if std::env::var_os("TOLLGATE_BENCH_NO_TABLE_STATS").is_some() {
        return;
    }
    // Reads every page of the file (a minute or two for the full corpus).
    let db = redb::Database::open(&path).expect("reopen with redb");
    let r = db.begin_read().expect("read");
    println!(
        "{:<16} {:>10} {:>12} {:>12} {:>12} {:>8}",
        "table", "entries", "stored MiB", "meta MiB", "frag MiB", "height"
    );
    for name in [
        "sbom_packages",
        "sbom_licenses",
        "sbom_subjects",
        "sbom_docs",
    ] {
        let t = r
            .open_table(TableDefinition::<&str, &[u8]>::new(name))
            .expect("table");
        let st = t.stats().expect("stats");
        println!(
            "{:<16} {:>10} {:>12.1} {:>12.1} {:>12.1} {:>8}",
            name,
            t.len().expect("len"),
            mib(st.stored_bytes()),
            mib(st.metadata_bytes()),
            mib(st.fragmented_bytes()),
            st.tree_height()
        );
    }
}
