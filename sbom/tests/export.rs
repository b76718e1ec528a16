//! Exporting every shared fixture into the other format and reading it back: the components,
//! purls, licences, hashes and dependency graph must survive the conversion.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use tollgate_sbom::{ExportMeta, Format, LicenseState, Sbom, export, parse};

const ALL: [&str; 5] = [
    "cyclonedx/dropwizard-1.3.15.cdx-1.2.json",
    "cyclonedx/laravel-7.12.0.cdx-1.4.json",
    "cyclonedx/npm-demo-bundled-deps.cdx-1.6.json",
    "spdx/SPDXJSONExample-v2.3.spdx.json",
    "spdx/alpine-latest.syft.spdx-2.2.json",
];

fn load(name: &str) -> Sbom {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sbom")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn meta() -> ExportMeta {
    ExportMeta {
        name: "example".into(),
        namespace: "https://tollgate.example/sbom/sha256-00".into(),
        serial_number: "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79".into(),
        created: "2026-11-27T10:00:00Z".into(),
        tool: ("tollgate".into(), "0.1.0".into()),
    }
}

fn other(f: Format) -> Format {
    match f {
        Format::CycloneDx => Format::Spdx,
        Format::Spdx => Format::CycloneDx,
    }
}

fn convert(sbom: &Sbom, to: Format) -> Sbom {
    let value = export(sbom, to, &meta());
    let bytes = serde_json::to_vec(&value).unwrap();
    parse(&bytes).unwrap_or_else(|e| panic!("exported {to:?} does not parse: {e}\n{value:#}"))
}

/// One line per component, every component: what must be the same on both sides.
fn facts(sbom: &Sbom) -> BTreeSet<String> {
    sbom.components
        .iter()
        .map(|c| {
            let lic = match (&c.licenses.expression, c.licenses.state) {
                (Some(e), _) => e.ids().join("+"),
                (None, LicenseState::NoneStated) => "NONE".into(),
                (None, _) => "-".into(),
            };
            let mut hashes: Vec<String> = c
                .hashes
                .iter()
                .map(|h| format!("{}:{}", h.alg, h.value))
                .collect();
            hashes.sort();
            format!(
                "{} {} {} {lic} {}",
                c.name,
                c.version.as_deref().unwrap_or("-"),
                c.purl.as_ref().map_or("-".into(), ToString::to_string),
                hashes.join(",")
            )
        })
        .collect()
}

/// The dependency graph by component name/version rather than by position.
fn edges(sbom: &Sbom) -> BTreeMap<String, BTreeSet<String>> {
    let key = |id: tollgate_sbom::ComponentId| {
        let c = sbom.component(id);
        format!("{}@{}", c.name, c.version.as_deref().unwrap_or(""))
    };
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in &sbom.dependencies {
        out.entry(key(*from)).or_default().insert(key(*to));
    }
    out
}

#[test]
fn every_fixture_survives_conversion_both_ways() {
    for name in ALL {
        let original = load(name);
        let to = other(original.format);
        let converted = convert(&original, to);
        assert_eq!(converted.format, to, "{name}");
        assert_eq!(
            converted.components.len(),
            original.components.len(),
            "{name}: component count"
        );
        assert_eq!(
            facts(&converted),
            facts(&original),
            "{name}: component facts"
        );
        assert!(
            converted.unresolved_refs.is_empty(),
            "{name}: {:?}",
            converted.unresolved_refs
        );
        assert_eq!(
            converted.root.map(|r| converted.component(r).name.clone()),
            original.root.map(|r| original.component(r).name.clone()),
            "{name}: described root"
        );
        let (a, b) = (edges(&original), edges(&converted));
        if original.format == Format::CycloneDx {
            assert_eq!(b, a, "{name}: dependency graph");
        } else {
            // SPDX → CycloneDX: every dependency survives (the SPDX reader also counts
            // containment as an edge, so the CycloneDX side may say no more than that).
            for (from, to) in &a {
                assert_eq!(b.get(from), Some(to), "{name}: dependencies of {from}");
            }
        }

        // And back: the round trip lands on the same facts again.
        let back = convert(&converted, original.format);
        assert_eq!(facts(&back), facts(&original), "{name}: round trip");
    }
}

#[test]
fn licence_origin_and_unknown_terms_are_kept() {
    // laravel's CycloneDX 1.4 names licences by id; dropwizard has free-text names.
    let original = load("cyclonedx/dropwizard-1.3.15.cdx-1.2.json");
    let spdx = export(&original, Format::Spdx, &meta());
    let packages = spdx["packages"].as_array().unwrap();
    // Every licence field is a valid SPDX value: an expression, NONE or NOASSERTION.
    for p in packages {
        for field in ["licenseConcluded", "licenseDeclared"] {
            let v = p[field].as_str().unwrap();
            assert!(
                v == "NOASSERTION"
                    || v == "NONE"
                    || tollgate_sbom::LicenseExpr::parse(v).is_ok_and(|e| !e.has_unknown()),
                "{field} {v:?} is not strict SPDX"
            );
        }
    }
    // Every LicenseRef used is defined once, with its original text.
    let defined: BTreeSet<&str> = spdx["hasExtractedLicensingInfos"]
        .as_array()
        .map(|a| a.iter().map(|e| e["licenseId"].as_str().unwrap()).collect())
        .unwrap_or_default();
    for p in packages {
        for field in ["licenseConcluded", "licenseDeclared"] {
            for word in p[field].as_str().unwrap().split([' ', '(', ')']) {
                if word.starts_with("LicenseRef-") {
                    assert!(defined.contains(word), "{word} used but not defined");
                }
            }
        }
    }
}

#[test]
fn export_is_deterministic() {
    for name in ALL {
        let s = load(name);
        let to = other(s.format);
        assert_eq!(export(&s, to, &meta()), export(&s, to, &meta()), "{name}");
    }
}
