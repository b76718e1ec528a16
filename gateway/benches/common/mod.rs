//! Shared by the SBOM benchmarks (`sbom.rs`, `sbom_where_used.rs`): a deterministic generator of
//! realistic CycloneDX documents, the where-used corpus (10,000 SBOMs / 5,000,000 component rows,
//! built once through the gateway's own parse + index path and cached on disk), and the small
//! measuring helpers (percentiles, RSS, CPU).
//!
//! Nothing here is random at run time: every document and the corpus come from fixed seeds, so
//! two runs measure the same bytes.

#![allow(dead_code)] // each benchmark binary uses part of this module

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tollgate_attest::Digest;
use tollgate_store::{RedbStore, SbomStore};

/// The real >= 1,000-component SBOM (see tests/fixtures/SOURCES.md).
pub const REAL_SBOM: &str = "cyclonedx/juice-shop-14.1.1.cdx-1.4.json";

pub fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sbom")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// True under `cargo bench`; false when `cargo test --benches` runs the binary as a smoke test.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/// SplitMix64: tiny, fast and fixed forever (a library RNG's stream may change between versions,
/// which would silently change the cached corpus).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn hex(&mut self, chars: usize) -> String {
        let mut s = String::with_capacity(chars + 16);
        while s.len() < chars {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(chars);
        s
    }

    fn pick<'a, T>(&mut self, weighted: &'a [(T, u32)]) -> &'a T {
        let total: u32 = weighted.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total as usize) as u32;
        for (v, w) in weighted {
            if x < *w {
                return v;
            }
            x -= w;
        }
        &weighted[weighted.len() - 1].0
    }
}

// ---------------------------------------------------------------------------------------------
// The package universe

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Eco {
    Npm,
    Maven,
    Pypi,
}

pub const ECOS: [Eco; 3] = [Eco::Npm, Eco::Maven, Eco::Pypi];

/// How a package states its licence in the SBOM.
#[derive(Debug, Clone, Copy)]
pub enum Lic {
    Id(&'static str),
    Expr(&'static str),
    Name(&'static str),
    None,
}

/// Licence mixes per ecosystem, roughly as real SBOMs show them (per mille).
const NPM_LICENSES: &[(Lic, u32)] = &[
    (Lic::Id("MIT"), 700),
    (Lic::Id("ISC"), 110),
    (Lic::Id("Apache-2.0"), 50),
    (Lic::Id("BSD-3-Clause"), 35),
    (Lic::Id("BSD-2-Clause"), 25),
    (Lic::Expr("(MIT OR Apache-2.0)"), 20),
    (Lic::Expr("(MIT OR CC0-1.0)"), 5),
    (Lic::Id("0BSD"), 5),
    (Lic::Id("Unlicense"), 5),
    (Lic::Name("MIT/X11"), 5),
    (Lic::Id("MPL-2.0"), 10),
    (Lic::None, 30),
];
const MAVEN_LICENSES: &[(Lic, u32)] = &[
    (Lic::Id("Apache-2.0"), 560),
    (Lic::Id("MIT"), 70),
    (Lic::Id("EPL-2.0"), 50),
    (Lic::Id("EPL-1.0"), 30),
    (Lic::Id("BSD-3-Clause"), 40),
    (
        Lic::Expr("CDDL-1.1 OR GPL-2.0-only WITH Classpath-exception-2.0"),
        20,
    ),
    (Lic::Expr("EPL-2.0 OR LGPL-2.1-or-later"), 20),
    (Lic::Id("LGPL-2.1-or-later"), 20),
    (Lic::Name("The Apache Software License, Version 2.0"), 60),
    (Lic::Id("GPL-2.0-only"), 10),
    (Lic::None, 120),
];
const PYPI_LICENSES: &[(Lic, u32)] = &[
    (Lic::Id("MIT"), 330),
    (Lic::Id("BSD-3-Clause"), 200),
    (Lic::Id("Apache-2.0"), 190),
    (Lic::Expr("Apache-2.0 OR BSD-3-Clause"), 30),
    (Lic::Id("PSF-2.0"), 50),
    (Lic::Id("GPL-3.0-or-later"), 30),
    (Lic::Id("LGPL-3.0-only"), 20),
    (Lic::Id("MPL-2.0"), 20),
    (Lic::Name("BSD"), 30),
    (Lic::None, 100),
];

/// Two-letter syllables, concatenated.
const SYLLABLES: &str = concat!(
    "abacadalanarasatbabebibobucacechcocudadedidodueleneresexfafefifogagegigohahehiho",
    "idiliminiojajokakekikolalelilolumamemimomunaneninonuobolonoporpapepipopuqurareri",
    "rorusasesisosutatetitotuulunurvavevivowawexayayozazezo",
);

fn word(rng: &mut Rng, syllables: usize) -> String {
    (0..syllables)
        .map(|_| {
            let i = rng.below(SYLLABLES.len() / 2) * 2;
            &SYLLABLES[i..i + 2]
        })
        .collect()
}

/// One package: where it sits in its ecosystem's popularity order is its index.
#[derive(Debug, Clone)]
pub struct Package {
    pub eco: Eco,
    /// npm scope (`@scope`, as written in purls: `%40scope`) or Maven groupId.
    pub namespace: Option<String>,
    pub name: String,
    /// Ascending in the ecosystem's order.
    pub versions: Vec<String>,
    pub license: Lic,
    pub description: String,
}

impl Package {
    /// `pkg:type/namespace/name` without a version: what a where-used query sends.
    pub fn purl_base(&self) -> String {
        let ty = match self.eco {
            Eco::Npm => "npm",
            Eco::Maven => "maven",
            Eco::Pypi => "pypi",
        };
        match &self.namespace {
            Some(ns) if self.eco == Eco::Npm => format!("pkg:{ty}/%40{}/{}", &ns[1..], self.name),
            Some(ns) => format!("pkg:{ty}/{ns}/{}", self.name),
            None => format!("pkg:{ty}/{}", self.name),
        }
    }

    pub fn purl(&self, version: usize) -> String {
        let base = self.purl_base();
        let v = &self.versions[version];
        match self.eco {
            Eco::Maven => format!("{base}@{v}?type=jar"),
            _ => format!("{base}@{v}"),
        }
    }

    /// The range a where-used query for this package asks about: "up to the middle version"
    /// (the shape of "affected before the fix").
    pub fn query_range(&self) -> String {
        format!("<={}", self.versions[(self.versions.len() - 1) / 2])
    }
}

fn versions(rng: &mut Rng, eco: Eco, count: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    let (mut major, mut minor, mut patch) = (rng.below(4), rng.below(10), rng.below(5));
    for _ in 0..count {
        let v = match eco {
            Eco::Npm => format!("{major}.{minor}.{patch}"),
            Eco::Maven if rng.chance(0.1) => format!("{major}.{minor}.{patch}.Final"),
            Eco::Maven => format!("{major}.{minor}.{patch}"),
            Eco::Pypi if patch == 0 => format!("{major}.{minor}"),
            Eco::Pypi => format!("{major}.{minor}.{patch}"),
        };
        out.push(v);
        match rng.below(10) {
            0 => (major, minor, patch) = (major + 1, 0, 0),
            1..=3 => (minor, patch) = (minor + 1, 0),
            _ => patch += 1,
        }
    }
    out
}

/// Packages of all three ecosystems, each list in popularity order (index 0 most popular).
#[derive(Debug)]
pub struct Universe {
    pub packages: [Vec<Package>; 3],
    /// Zipf cumulative weights per ecosystem.
    cdf: [Vec<f64>; 3],
}

/// The Zipf exponent of package popularity: a few packages are in nearly every SBOM of their
/// ecosystem, most in a handful.
const ZIPF_S: f64 = 1.0;

impl Universe {
    pub fn new(seed: u64, counts: [usize; 3]) -> Self {
        let mut rng = Rng::new(seed);
        let groups: Vec<String> = (0..counts[1] / 8 + 1)
            .map(|i| {
                let tld = ["org", "com", "io", "net"][i % 4];
                format!("{tld}.{}.{}", word(&mut rng, 3), word(&mut rng, 2))
            })
            .collect();
        let scopes: Vec<String> = (0..counts[0] / 40 + 1)
            .map(|_| format!("@{}", word(&mut rng, 3)))
            .collect();
        let packages = ECOS.map(|eco| {
            let n = counts[eco as usize];
            (0..n)
                .map(|rank| {
                    // Popular packages have more versions in use.
                    let nv = if rank < 200 {
                        6 + rng.below(15)
                    } else {
                        1 + rng.below(8)
                    };
                    let (namespace, name) = match eco {
                        Eco::Npm => {
                            let ns = rng
                                .chance(0.2)
                                .then(|| scopes[rng.below(scopes.len())].clone());
                            (
                                ns,
                                format!("{}-{}{rank}", word(&mut rng, 2), word(&mut rng, 2)),
                            )
                        }
                        Eco::Maven => (
                            Some(groups[rng.below(groups.len())].clone()),
                            format!("{}-{}-{rank}", word(&mut rng, 3), word(&mut rng, 2)),
                        ),
                        Eco::Pypi => (
                            None,
                            format!("{}{}-{rank}", word(&mut rng, 2), word(&mut rng, 2)),
                        ),
                    };
                    let table = match eco {
                        Eco::Npm => NPM_LICENSES,
                        Eco::Maven => MAVEN_LICENSES,
                        Eco::Pypi => PYPI_LICENSES,
                    };
                    Package {
                        eco,
                        namespace,
                        name,
                        versions: versions(&mut rng, eco, nv),
                        license: *rng.pick(table),
                        description: format!(
                            "The {} {} for {} {}",
                            word(&mut rng, 3),
                            ["library", "toolkit", "helpers", "runtime", "bindings"][rng.below(5)],
                            word(&mut rng, 2),
                            word(&mut rng, 4)
                        ),
                    }
                })
                .collect::<Vec<_>>()
        });
        let cdf = ECOS.map(|eco| {
            let mut acc = 0.0;
            (0..counts[eco as usize])
                .map(|r| {
                    acc += 1.0 / ((r + 1) as f64).powf(ZIPF_S);
                    acc
                })
                .collect()
        });
        Self { packages, cdf }
    }

    pub fn package(&self, eco: Eco, rank: usize) -> &Package {
        &self.packages[eco as usize][rank]
    }

    /// A package rank drawn by popularity.
    pub fn draw(&self, eco: Eco, rng: &mut Rng) -> usize {
        let cdf = &self.cdf[eco as usize];
        let x = rng.unit() * cdf[cdf.len() - 1];
        cdf.partition_point(|c| *c < x).min(cdf.len() - 1)
    }
}

/// One component of a generated SBOM: a package and one of its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pick {
    pub eco: Eco,
    pub rank: usize,
    pub version: usize,
}

/// A version of `p`, newer ones more likely (most projects are roughly up to date).
fn draw_version(p: &Package, rng: &mut Rng) -> usize {
    let n = p.versions.len();
    rng.below(n).max(rng.below(n))
}

/// The components of one SBOM: `count` distinct (package, version) pairs, ~90 % from the
/// project's own ecosystem, the rest from the others (the OS and tooling layers of an image);
/// ~3 % of npm packages appear in two versions, as npm trees do.
pub fn draw_components(u: &Universe, primary: Eco, count: usize, rng: &mut Rng) -> Vec<Pick> {
    let mut seen = HashSet::with_capacity(count * 2);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let eco = if rng.chance(0.9) {
            primary
        } else {
            ECOS[rng.below(3)]
        };
        let rank = u.draw(eco, rng);
        let p = u.package(eco, rank);
        let version = draw_version(p, rng);
        if !seen.insert((eco, rank)) {
            continue;
        }
        out.push(Pick { eco, rank, version });
        if eco == Eco::Npm && p.versions.len() > 1 && out.len() < count && rng.chance(0.03) {
            let other = (version + 1 + rng.below(p.versions.len() - 1)) % p.versions.len();
            out.push(Pick {
                eco,
                rank,
                version: other,
            });
        }
    }
    out
}

/// A CycloneDX 1.6 document with these components: bom-refs, purls, hashes (SHA-256 for all,
/// SHA-512 for npm, SHA-1 for Maven, as the tools write them), licences (ids, expressions and
/// free-text names), descriptions, a distribution URL, and a dependency graph (the root on the
/// first components, each component on up to four later ones).
pub fn cyclonedx(u: &Universe, picks: &[Pick], title: &str, rng: &mut Rng) -> Vec<u8> {
    let refs: Vec<String> = picks
        .iter()
        .map(|p| u.package(p.eco, p.rank).purl(p.version))
        .collect();
    let components: Vec<Value> = picks
        .iter()
        .zip(&refs)
        .map(|(pick, purl)| {
            let p = u.package(pick.eco, pick.rank);
            let version = &p.versions[pick.version];
            let mut hashes = vec![json!({"alg": "SHA-256", "content": rng.hex(64)})];
            match p.eco {
                Eco::Npm => hashes.push(json!({"alg": "SHA-512", "content": rng.hex(128)})),
                Eco::Maven => hashes.push(json!({"alg": "SHA-1", "content": rng.hex(40)})),
                Eco::Pypi => {}
            }
            let licenses = match p.license {
                Lic::Id(id) => json!([{"license": {"id": id}}]),
                Lic::Expr(e) => json!([{"expression": e}]),
                Lic::Name(n) => json!([{"license": {"name": n}}]),
                Lic::None => json!([]),
            };
            let mut c = json!({
                "type": "library",
                "bom-ref": purl,
                "name": p.name,
                "version": version,
                "description": p.description,
                "hashes": hashes,
                "licenses": licenses,
                "purl": purl,
                "externalReferences": [{
                    "type": "distribution",
                    "url": format!("https://packages.example/{}/{}/-/{}-{version}.tgz",
                        p.namespace.as_deref().unwrap_or("-"), p.name, p.name),
                }],
            });
            if let Some(ns) = &p.namespace {
                c["group"] = json!(ns);
            }
            c
        })
        .collect();
    let n = picks.len();
    let mut dependencies = vec![json!({
        "ref": "root-application",
        "dependsOn": refs.iter().take(30).collect::<Vec<_>>(),
    })];
    for (i, r) in refs.iter().enumerate() {
        let later = n - i - 1;
        let deps: Vec<&String> = (0..rng.below(5).min(later))
            .map(|_| &refs[i + 1 + rng.below(later)])
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        dependencies.push(json!({"ref": r, "dependsOn": deps}));
    }
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!(
            "urn:uuid:{}-{}-4{}-8{}-{}",
            rng.hex(8), rng.hex(4), rng.hex(3), rng.hex(3), rng.hex(12)
        ),
        "version": 1,
        "metadata": {
            "timestamp": "2026-11-27T00:00:00Z",
            "tools": {"components": [
                {"type": "application", "name": "tollgate-bench", "version": "1"}
            ]},
            "component": {
                "type": "application", "bom-ref": "root-application",
                "name": title, "version": "1.0.0",
            },
        },
        "components": components,
        "dependencies": dependencies,
    });
    serde_json::to_vec(&doc).expect("a JSON value serialises")
}

/// The synthetic large SBOM: exactly `count` distinct components, half npm, 30 % Maven, 20 %
/// PyPI (a monorepo or a fat container image), several versions of popular packages included.
pub fn synthetic_sbom(count: usize) -> Vec<u8> {
    let u = Universe::new(7, [25_000, 15_000, 10_000]);
    let mut rng = Rng::new(0x5b0b);
    let mut seen = HashSet::new();
    let mut picks = Vec::with_capacity(count);
    for (eco, share) in [(Eco::Npm, 50), (Eco::Maven, 30), (Eco::Pypi, 20)] {
        let want = if eco == Eco::Pypi {
            count - picks.len()
        } else {
            count * share / 100
        };
        let mut got = 0;
        while got < want {
            let rank = u.draw(eco, &mut rng);
            let version = draw_version(u.package(eco, rank), &mut rng);
            let pick = Pick { eco, rank, version };
            if seen.insert(pick) {
                picks.push(pick);
                got += 1;
            }
        }
    }
    cyclonedx(&u, &picks, "synthetic-monorepo", &mut rng)
}

// ---------------------------------------------------------------------------------------------
// The where-used corpus

/// Size of a corpus.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Spec {
    pub sboms: usize,
    pub per_sbom: usize,
    pub packages: [usize; 3],
}

/// What the issue asks for: 10,000 SBOMs, 5,000,000 component rows, 50,000 packages.
pub const FULL: Spec = Spec {
    sboms: 10_000,
    per_sbom: 500,
    packages: [25_000, 15_000, 10_000],
};

/// For `cargo test --benches`: exercises the same code in a second.
pub const SMOKE: Spec = Spec {
    sboms: 40,
    per_sbom: 50,
    packages: [500, 300, 200],
};

/// The SBOM documents' bytes are not what is measured; storing 10,000 real documents would
/// add ~3.7 GB to the store file that a where-used query never reads. Each SBOM is recorded with
/// this stand-in (its record keeps the real document's digest and component count).
pub const STUB_DOCUMENT: &[u8] =
    br#"{"bomFormat":"CycloneDX","specVersion":"1.6","comment":"benchmark corpus: no document"}"#;

/// One where-used question and how many rows/SBOMs the corpus has for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Query {
    pub class: String,
    /// `purl` or `license`.
    pub purl: Option<String>,
    pub range: Option<String>,
    pub license: Option<String>,
    pub sboms: usize,
    pub rows: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub spec: Spec,
    pub rows: u64,
    pub license_rows: u64,
    pub build_seconds: f64,
    /// Seconds to ingest the last 10 % of the SBOMs (the store nearly full).
    pub last_tenth_seconds: f64,
    /// `put_sbom` alone (rows ready, durable commit), p50/p90/p99 in ms over the first and the
    /// last 10 % of the SBOMs: indexing into an empty store vs one holding 4.5-5 M rows.
    pub put_sbom_first_tenth_ms: [f64; 3],
    pub put_sbom_last_tenth_ms: [f64; 3],
    pub queries: Vec<Query>,
    /// Distinct packages and how many SBOMs contain them: [>=1000, 100..1000, 10..100, <10].
    pub popularity_buckets: [usize; 4],
    pub distinct_packages: usize,
}

#[derive(Debug)]
pub struct Corpus {
    pub dir: PathBuf,
    pub store: RedbStore,
    pub meta: Meta,
}

impl Corpus {
    pub fn store_path(dir: &Path) -> PathBuf {
        dir.join("store.redb")
    }
}

/// Where the full corpus is cached: `$CARGO_TARGET_DIR/tollgate-bench-corpus-v1`, or next to
/// the target directory this binary was built into.
pub fn corpus_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // target/<profile>/deps/<bench>
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .expect("a target directory");
    target.join("tollgate-bench-corpus-v1")
}

const CORPUS_SEED: u64 = 0x7011_6a7e;

/// Opens the cached corpus in `dir`, building it first when it is missing or incomplete.
pub fn corpus(dir: &Path, spec: Spec) -> Corpus {
    let meta_path = dir.join("corpus.json");
    if let Ok(bytes) = std::fs::read(&meta_path) {
        let meta: Option<Meta> = serde_json::from_slice(&bytes).ok();
        if let Some(meta) = meta.filter(|m| m.spec == spec) {
            // A store written under another schema version is refused: rebuild it then.
            match RedbStore::open(&Corpus::store_path(dir)) {
                Ok(store) => {
                    eprintln!("where-used corpus: using {}", dir.display());
                    return Corpus {
                        dir: dir.to_path_buf(),
                        store,
                        meta,
                    };
                }
                Err(e) => eprintln!("where-used corpus: rebuilding ({e})"),
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("corpus dir");
    let (store, meta) = build(dir, spec);
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta).expect("meta"))
        .expect("write meta");
    Corpus {
        dir: dir.to_path_buf(),
        store,
        meta,
    }
}

#[derive(Default)]
struct Seen {
    sboms: usize,
    rows: usize,
}

fn build(dir: &Path, spec: Spec) -> (RedbStore, Meta) {
    let u = Universe::new(CORPUS_SEED, spec.packages);
    let store = RedbStore::open(&Corpus::store_path(dir)).expect("create corpus store");
    eprintln!(
        "where-used corpus: building {} SBOMs x {} components into {} (once; cached afterwards)",
        spec.sboms,
        spec.per_sbom,
        dir.display()
    );
    let start = Instant::now();
    let mut tenth_start = start;
    let mut per_package: HashMap<(Eco, usize), Seen> = HashMap::new();
    let mut per_license: HashMap<String, usize> = HashMap::new();
    let (mut rows, mut license_rows) = (0u64, 0u64);
    let mut put_times = Vec::with_capacity(spec.sboms);
    for i in 0..spec.sboms {
        if i == spec.sboms - spec.sboms / 10 {
            tenth_start = Instant::now();
        }
        let mut rng = Rng::new(CORPUS_SEED ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let primary = match i % 10 {
            0..=4 => Eco::Npm,
            5..=7 => Eco::Maven,
            _ => Eco::Pypi,
        };
        let picks = draw_components(&u, primary, spec.per_sbom, &mut rng);
        let doc = cyclonedx(&u, &picks, &format!("service-{i}"), &mut rng);
        // The gateway's own path: parse, then the record and rows `sboms::record` stores.
        let parsed = tollgate::sboms::parse(&doc).expect("generated SBOM parses");
        let subject = Digest::sha256_of(format!("benchmark image {i}").as_bytes());
        let (rec, hits) = tollgate::sboms::index_entries(
            &subject,
            &parsed.digest,
            &parsed.sbom,
            "api",
            None,
            1_795_000_000_000,
        );
        assert_eq!(hits.len(), spec.per_sbom);
        let t = Instant::now();
        store
            .put_sbom(&rec, STUB_DOCUMENT, &hits)
            .expect("put_sbom");
        put_times.push(t.elapsed());
        rows += hits.len() as u64;
        let mut in_this = HashSet::new();
        for p in &picks {
            let s = per_package.entry((p.eco, p.rank)).or_default();
            s.rows += 1;
            if in_this.insert((p.eco, p.rank)) {
                s.sboms += 1;
            }
        }
        for h in &hits {
            license_rows += h.license_ids.len() as u64;
            for id in &h.license_ids {
                *per_license.entry(id.clone()).or_default() += 1;
            }
        }
        if (i + 1) % 250 == 0 || i + 1 == spec.sboms {
            let secs = start.elapsed().as_secs_f64();
            let left = secs / (i + 1) as f64 * (spec.sboms - i - 1) as f64;
            eprintln!(
                "  {:>6}/{} SBOMs, {:>9} rows, {:>6.0} s, {:>7.0} rows/s, ~{:.0} s left",
                i + 1,
                spec.sboms,
                rows,
                secs,
                rows as f64 / secs,
                left
            );
        }
    }
    let build_seconds = start.elapsed().as_secs_f64();
    let last_tenth_seconds = tenth_start.elapsed().as_secs_f64();
    let tenth = (spec.sboms / 10).max(1);
    let put_ms = |times: &[Duration]| {
        let mut t = times.to_vec();
        t.sort();
        [0.5, 0.9, 0.99].map(|q| percentile(&t, q).as_secs_f64() * 1e3)
    };
    let put_sbom_first_tenth_ms = put_ms(&put_times[..tenth]);
    let put_sbom_last_tenth_ms = put_ms(&put_times[put_times.len() - tenth..]);

    let mut buckets = [0usize; 4];
    for s in per_package.values() {
        buckets[match s.sboms {
            1000.. => 0,
            100..1000 => 1,
            10..100 => 2,
            _ => 3,
        }] += 1;
    }
    let queries = choose_queries(&u, &per_package, &per_license, spec);
    (
        store,
        Meta {
            spec,
            rows,
            license_rows,
            build_seconds,
            last_tenth_seconds,
            put_sbom_first_tenth_ms,
            put_sbom_last_tenth_ms,
            queries,
            popularity_buckets: buckets,
            distinct_packages: per_package.len(),
        },
    )
}

/// Up to `n` items spread evenly over `items` (which is sorted by popularity).
fn spread<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    if items.len() <= n {
        return items.to_vec();
    }
    (0..n)
        .map(|i| items[i * (items.len() - 1) / (n - 1)].clone())
        .collect()
}

fn choose_queries(
    u: &Universe,
    per_package: &HashMap<(Eco, usize), Seen>,
    per_license: &HashMap<String, usize>,
    spec: Spec,
) -> Vec<Query> {
    let scale = spec.sboms as f64 / FULL.sboms as f64;
    let bound = |x: f64| ((x * scale).round() as usize).max(1);
    // Only packages with at least three versions, so the range filter has something to do.
    let mut candidates: Vec<(&(Eco, usize), &Seen)> = per_package
        .iter()
        .filter(|((eco, rank), _)| u.package(*eco, *rank).versions.len() >= 3)
        .collect();
    candidates.sort_by_key(|((eco, rank), s)| (s.sboms, *eco as u8, *rank));
    let mut out = Vec::new();
    for (class, lo, hi) in [
        ("rare", bound(8.0), bound(12.0)),
        ("mid", bound(100.0), bound(1000.0)),
        ("popular", bound(2000.0), usize::MAX),
    ] {
        let in_class: Vec<_> = candidates
            .iter()
            .filter(|(_, s)| (lo..=hi).contains(&s.sboms))
            .collect();
        let mut chosen = spread(&in_class, 16);
        if class == "popular" {
            // Always include the single most common package: the worst case.
            if let Some(top) = candidates.last()
                && !chosen.iter().any(|c| c.0 == top.0)
            {
                chosen.push(top);
            }
        }
        for ((eco, rank), s) in chosen.iter().map(|c| **c) {
            let p = u.package(*eco, *rank);
            out.push(Query {
                class: class.to_string(),
                purl: Some(p.purl_base()),
                range: Some(p.query_range()),
                license: None,
                sboms: s.sboms,
                rows: s.rows,
            });
        }
    }
    let mut licenses: Vec<_> = per_license.iter().collect();
    licenses.sort_by_key(|(id, n)| (std::cmp::Reverse(**n), (*id).clone()));
    for (id, n) in spread(&licenses, 6) {
        out.push(Query {
            class: "license".to_string(),
            purl: None,
            range: None,
            license: Some(id.clone()),
            sboms: 0,
            rows: *n,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A where-used query as the gateway answers it

/// The API's default page size for `/api/v1/sbom/components` (`WHERE_USED_DEFAULT_LIMIT`).
pub const API_DEFAULT_LIMIT: usize = tollgate::api::WHERE_USED_DEFAULT_LIMIT;
/// The largest page (`WHERE_USED_MAX_LIMIT`), which was the default before answers were paged:
/// the "one page of 10,000" path is what every query cost then.
pub const API_MAX_LIMIT: usize = tollgate::api::WHERE_USED_MAX_LIMIT;

/// What `GET /api/v1/sbom/components?purl=…&range=…` (or `?license=…`) computes for its first
/// page before it groups hits by artifact: `sboms::components_by_purl` (package key, version
/// filter while reading, [`API_DEFAULT_LIMIT`] hits), or `components_by_license`. Returns the
/// number of hits.
pub fn where_used(store: &RedbStore, q: &Query) -> usize {
    where_used_page(store, q, None, API_DEFAULT_LIMIT)
        .hits
        .len()
}

/// The same query answered in one page of [`API_MAX_LIMIT`] hits (the unpaged answer as the
/// API gave it before).
pub fn where_used_max(store: &RedbStore, q: &Query) -> usize {
    where_used_page(store, q, None, API_MAX_LIMIT).hits.len()
}

/// Every page of the query at the default page size: the whole answer. Returns the hits.
pub fn where_used_all_pages(store: &RedbStore, q: &Query) -> usize {
    let mut n = 0;
    let mut after = None;
    loop {
        let page = where_used_page(store, q, after.as_ref(), API_DEFAULT_LIMIT);
        n += page.hits.len();
        match page.next {
            Some(next) => after = Some(next),
            None => return n,
        }
    }
}

pub fn where_used_page(
    store: &RedbStore,
    q: &Query,
    after: Option<&tollgate_store::HitCursor>,
    limit: usize,
) -> tollgate_store::HitPage {
    match (&q.purl, &q.license) {
        (Some(purl), _) => {
            tollgate::sboms::components_by_purl(store, purl, q.range.as_deref(), after, limit)
                .expect("where-used")
        }
        (None, Some(id)) => store
            .components_by_license(id, after, limit)
            .expect("licence where-used"),
        (None, None) => unreachable!("a query has a purl or a licence"),
    }
}

pub fn where_used_hits(store: &RedbStore, q: &Query) -> Vec<tollgate_store::ComponentHit> {
    where_used_page(store, q, None, API_DEFAULT_LIMIT).hits
}

/// The in-run baseline for package queries: decode every one of the package's first
/// [`API_MAX_LIMIT`] rows, then filter (how the handler did it before the store learnt to
/// filter while reading). Same answer as [`where_used_max`].
pub fn where_used_decode_all(store: &RedbStore, q: &Query) -> usize {
    let Some(purl) = &q.purl else {
        return where_used_max(store, q);
    };
    let key = tollgate::sboms::package_key(purl).expect("query purl");
    let filter = tollgate::sboms::VersionFilter::new(purl, q.range.as_deref()).expect("range");
    store
        .components_by_package(&key, None, API_MAX_LIMIT, None)
        .expect("where-used")
        .hits
        .into_iter()
        .filter(|h| filter.keeps(h.version.as_deref()))
        .count()
}

/// The rest of the handler's store work: one `artifact(subject)` lookup per distinct subject
/// (to name repositories and check the caller may see them).
pub fn artifact_lookups(store: &RedbStore, hits: &[tollgate_store::ComponentHit]) -> usize {
    use tollgate_store::ArtifactStore;
    let mut seen = HashSet::new();
    for h in hits {
        if seen.insert(h.subject.to_string()) {
            std::hint::black_box(store.artifact(&h.subject).expect("artifact"));
        }
    }
    seen.len()
}

// ---------------------------------------------------------------------------------------------
// Measuring helpers

/// The value at quantile `q` (0..=1) of sorted samples (nearest rank).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `VmRSS` and `VmHWM` of this process in bytes.
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds used by this process and by the whole machine (all CPUs, non-idle), for telling
/// how much other work competed with a measurement.
pub fn cpu_now() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            // fields 14 and 15 (utime, stime) are at 11 and 12 after the `)`
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks)
        })
        .unwrap_or(0.0);
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?;
            let v: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal ...
            let busy: f64 = v
                .iter()
                .enumerate()
                .filter(|(i, _)| !matches!(i, 3 | 4 | 8 | 9))
                .map(|(_, x)| x)
                .sum();
            Some(busy / ticks)
        })
        .unwrap_or(0.0);
    (own, machine)
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
