//! Every shared SBOM fixture (tests/fixtures/sbom/, facts in tests/fixtures/SOURCES.md) read
//! through the public API, plus the refusals: truncated, SPDX 3, no `bomFormat`, oversize.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

use tollgate_sbom::{
    Combine, ComponentId, Format, HashAlg, LicenseExpr, LicenseOrigin, LicensePolicy, LicenseState,
    MalformedKind, Outcome, ParseOptions, REASON_DENIED, REASON_UNKNOWN, Sbom, SbomError,
    UnknownLicense, evaluate, parse, parse_with,
};

const DROPWIZARD: &str = "cyclonedx/dropwizard-1.3.15.cdx-1.2.json";
const LARAVEL: &str = "cyclonedx/laravel-7.12.0.cdx-1.4.json";
const NPM_DEMO: &str = "cyclonedx/npm-demo-bundled-deps.cdx-1.6.json";
const SPDX_EXAMPLE: &str = "spdx/SPDXJSONExample-v2.3.spdx.json";
const ALPINE: &str = "spdx/alpine-latest.syft.spdx-2.2.json";
const ALL: [&str; 5] = [DROPWIZARD, LARAVEL, NPM_DEMO, SPDX_EXAMPLE, ALPINE];

fn bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sbom")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(name: &str) -> Sbom {
    parse(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn policy(allow: &[&str], deny: &[&str], unknown: UnknownLicense) -> LicensePolicy {
    LicensePolicy::new(allow, deny, unknown).unwrap()
}

fn by_name<'a>(sbom: &'a Sbom, name: &str) -> &'a tollgate_sbom::Component {
    sbom.components
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no component {name}"))
}

fn expr(sbom: &Sbom, name: &str) -> String {
    by_name(sbom, name)
        .licenses
        .expression
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Components reachable from `from` over dependency edges (including `from`).
fn reachable(sbom: &Sbom, from: ComponentId) -> HashSet<ComponentId> {
    let mut seen = HashSet::from([from]);
    let mut stack = vec![from];
    while let Some(n) = stack.pop() {
        for d in sbom.dependencies_of(n) {
            if seen.insert(d) {
                stack.push(d);
            }
        }
    }
    seen
}

#[test]
fn every_fixture_parses_with_valid_ids_and_no_warnings() {
    for name in ALL {
        let sbom = load(name);
        for (i, c) in sbom.components.iter().enumerate() {
            assert_eq!(c.id.index(), i, "{name}");
        }
        for (a, b) in &sbom.dependencies {
            assert!(a.index() < sbom.components.len() && b.index() < sbom.components.len());
        }
        assert!(
            sbom.unresolved_refs.is_empty(),
            "{name}: {:?}",
            sbom.unresolved_refs
        );
        assert!(sbom.warnings.is_empty(), "{name}: {:?}", sbom.warnings);
    }
}

#[test]
fn dropwizard_cyclonedx_1_2() {
    let sbom = load(DROPWIZARD);
    assert_eq!(sbom.format, Format::CycloneDx);
    assert_eq!(sbom.spec_version, "1.2");
    assert_eq!(
        sbom.serial_or_namespace.as_deref(),
        Some("urn:uuid:b4f2954f-a96d-4578-9509-1ae2d6476209")
    );
    // metadata.component is the root, held apart from the 167 listed components.
    let root = sbom.root.expect("metadata.component");
    assert_eq!(root, ComponentId(0));
    assert_eq!(
        sbom.component(root).ref_id.as_deref(),
        Some("pkg:maven/io.dropwizard/dropwizard-parent@1.3.15")
    );
    assert_eq!(sbom.inventory().len(), 167);
    assert_eq!(sbom.components.len(), 168);
    assert_eq!(sbom.dependency_entries, Some(167));
    assert_eq!(sbom.dependencies.len(), 170);
    // Legacy `metadata.tools` array.
    assert_eq!(sbom.tools.len(), 1);
    assert_eq!(sbom.tools[0].name, "CycloneDX Maven plugin");
    assert_eq!(sbom.tools[0].vendor.as_deref(), Some("CycloneDX"));
    assert_eq!(sbom.tools[0].version.as_deref(), Some("2.0.2"));

    for c in sbom.inventory() {
        let purl = c.purl.as_ref().expect("every component has a maven purl");
        assert_eq!(purl.ty(), "maven");
        assert_eq!(purl.namespace(), c.group.as_deref());
        assert_eq!(purl.name(), c.name);
        assert_eq!(purl.version(), c.version.as_deref());
        let algs: Vec<_> = c.hashes.iter().map(|h| h.alg.clone()).collect();
        assert_eq!(
            algs,
            [
                HashAlg::Md5,
                HashAlg::Sha1,
                HashAlg::Sha256,
                HashAlg::Sha384,
                HashAlg::Sha512,
                HashAlg::Sha3_256,
                HashAlg::Sha3_384,
                HashAlg::Sha3_512
            ]
        );
    }
    let guava = by_name(&sbom, "guava");
    assert_eq!(
        guava.purl.as_ref().unwrap().to_string(),
        "pkg:maven/com.google.guava/guava@24.1.1-jre?type=jar"
    );
    assert_eq!(
        guava.purl.as_ref().unwrap().package_key(),
        "maven/com.google.guava/guava"
    );
}

#[test]
fn dropwizard_licences_as_sources_md_counts_them() {
    // Count the raw statements independently of the crate, then check the crate's reading.
    let doc: serde_json::Value = serde_json::from_slice(&bytes(DROPWIZARD)).unwrap();
    let (mut ids, mut names, mut exprs, mut none) = (BTreeSet::new(), BTreeSet::new(), 0, 0);
    for c in doc["components"].as_array().unwrap() {
        let ls = c["licenses"].as_array().unwrap();
        if ls.is_empty() {
            none += 1;
        }
        for l in ls {
            if let Some(id) = l["license"]["id"].as_str() {
                ids.insert(id.to_owned());
            } else if let Some(n) = l["license"]["name"].as_str() {
                names.insert(n.to_owned());
            } else if l["expression"].is_string() {
                exprs += 1;
            }
        }
    }
    assert_eq!((ids.len(), names.len(), exprs, none), (8, 14, 1, 34));

    let sbom = load(DROPWIZARD);
    let absent: Vec<_> = sbom
        .inventory()
        .iter()
        .filter(|c| c.licenses.state == LicenseState::Absent)
        .collect();
    assert_eq!(absent.len(), 34);
    // Every `license.id` is an SPDX id the crate recognises (the deprecated one rewritten).
    for id in &ids {
        let e = LicenseExpr::from_id(id);
        assert!(!e.has_unknown(), "{id}");
    }
    assert_eq!(
        LicenseExpr::from_id("GPL-2.0-with-classpath-exception").to_string(),
        "GPL-2.0-only WITH Classpath-exception-2.0"
    );

    // Free-text names: mapped where unambiguous, unknown otherwise.
    let mapped: BTreeMap<&str, Option<String>> = names
        .iter()
        .map(|n| {
            let e = LicenseExpr::from_name(n);
            (n.as_str(), (!e.has_unknown()).then(|| e.to_string()))
        })
        .collect();
    let cpe = Some("GPL-2.0-only WITH Classpath-exception-2.0".to_owned());
    let want: BTreeMap<&str, Option<String>> = [
        ("ASL 2.0", Some("Apache-2.0".to_owned())),
        ("Apache Software Licenses", None),
        ("BSD 3-clause New License", Some("BSD-3-Clause".to_owned())),
        ("BSD License", None),
        ("BSD licence", None),
        ("Common Development and Distribution License", None),
        (
            "Eclipse Distribution License (EDL), Version 1.0",
            Some("BSD-3-Clause".to_owned()),
        ),
        ("Eclipse Public License v2.0", Some("EPL-2.0".to_owned())),
        (
            "GNU General Public License (GPL), version 2, with the Classpath exception",
            cpe.clone(),
        ),
        (
            "GNU General Public License, Version 2 with the Classpath Exception",
            cpe.clone(),
        ),
        (
            "GNU General Public License, version 2 (GPL2), with the classpath exception",
            cpe,
        ),
        ("GNU Lesser General Public License", None),
        ("GPL v2", Some("GPL-2.0-only".to_owned())),
        ("MPL 2.0 or EPL 1.0", Some("MPL-2.0 OR EPL-1.0".to_owned())),
    ]
    .into_iter()
    .collect();
    assert_eq!(mapped, want);

    // The one expression, with its deprecated id.
    assert_eq!(
        by_name(&sbom, "osgi-resource-locator").licenses.raw,
        ["(CDDL-1.0 OR GPL-2.0-with-classpath-exception)"]
    );
    assert_eq!(
        expr(&sbom, "osgi-resource-locator"),
        "CDDL-1.0 OR GPL-2.0-only WITH Classpath-exception-2.0"
    );
    let locator = by_name(&sbom, "osgi-resource-locator");
    let deny_gpl = policy(&[], &["GPL-2.0-only"], UnknownLicense::Warn);
    assert_eq!(evaluate(&deny_gpl, locator).outcome, Outcome::Pass);
    let deny_both = policy(&[], &["GPL-2.0-only", "CDDL-1.0"], UnknownLicense::Warn);
    assert_eq!(evaluate(&deny_both, locator).reason, Some(REASON_DENIED));
    let allow_cpe = policy(
        &["GPL-2.0-only WITH Classpath-exception-2.0"],
        &[],
        UnknownLicense::Deny,
    );
    assert_eq!(evaluate(&allow_cpe, locator).outcome, Outcome::Pass);

    // Components without a licence, or with only unmappable names, are "unknown".
    let warn = policy(&[], &[], UnknownLicense::Warn);
    let dropwizard_util = by_name(&sbom, "dropwizard-util");
    let v = evaluate(&warn, dropwizard_util);
    assert_eq!((v.outcome, v.reason), (Outcome::Warn, Some(REASON_UNKNOWN)));
    let v = evaluate(
        &policy(&[], &[], UnknownLicense::Deny),
        by_name(&sbom, "antlr"),
    );
    assert_eq!((v.outcome, v.reason), (Outcome::Fail, Some(REASON_UNKNOWN)));
    assert_eq!(
        evaluate(
            &policy(&[], &[], UnknownLicense::Allow),
            by_name(&sbom, "antlr")
        )
        .outcome,
        Outcome::Pass
    );

    // Several `license` entries mean AND by default, OR when configured.
    assert_eq!(expr(&sbom, "jetty-util"), "Apache-2.0 AND EPL-1.0");
    let deny_epl = policy(&[], &["EPL-1.0"], UnknownLicense::Warn);
    assert_eq!(
        evaluate(&deny_epl, by_name(&sbom, "jetty-util")).outcome,
        Outcome::Fail
    );
    let or = parse_with(
        &bytes(DROPWIZARD),
        &ParseOptions {
            combine_licenses: Combine::Or,
            ..ParseOptions::default()
        },
    )
    .unwrap();
    assert_eq!(expr(&or, "jetty-util"), "Apache-2.0 OR EPL-1.0");
    assert_eq!(
        evaluate(&deny_epl, by_name(&or, "jetty-util")).outcome,
        Outcome::Pass
    );

    // Deny GPL-2.0-only over the whole SBOM: the classpath-exception uses count (a bare entry
    // covers its exception forms), the dual-licensed expression does not.
    let failing: BTreeSet<&str> = sbom
        .inventory()
        .iter()
        .filter(|c| evaluate(&deny_gpl, c).outcome == Outcome::Fail)
        .map(|c| c.name.as_str())
        .collect();
    let want: BTreeSet<&str> = [
        "amqp-client",
        "checker-compat-qual",
        "javax.ws.rs-api",
        "jboss-transaction-api_1.2_spec",
        "jmh-core",
        "jmh-generator-annprocess",
        "mimepull",
    ]
    .into_iter()
    .collect();
    assert_eq!(failing, want);
}

#[test]
fn laravel_cyclonedx_1_4_graph_is_rooted_at_metadata_component() {
    let sbom = load(LARAVEL);
    assert_eq!(sbom.spec_version, "1.4");
    assert_eq!(
        sbom.serial_or_namespace, None,
        "no serialNumber, still accepted"
    );
    assert_eq!(sbom.inventory().len(), 62);
    assert_eq!(sbom.dependency_entries, Some(63));
    assert!(sbom.unresolved_refs.is_empty());
    let root = sbom.root.unwrap();
    assert_eq!(
        sbom.component(root).ref_id.as_deref(),
        Some("cyclonedx/cyclonedx-php-composer-demo-dev-master")
    );
    // Every component hangs off the root.
    assert_eq!(reachable(&sbom, root).len(), sbom.components.len());
    for c in sbom.inventory() {
        let purl = c.purl.as_ref().unwrap();
        assert_eq!(purl.ty(), "composer");
        assert_eq!(purl.namespace(), c.group.as_deref());
    }
    let permissive = policy(
        &["MIT", "BSD-3-Clause", "Apache-2.0"],
        &[],
        UnknownLicense::Deny,
    );
    assert!(
        sbom.inventory()
            .iter()
            .all(|c| evaluate(&permissive, c).outcome == Outcome::Pass)
    );
    assert_eq!(sbom.tools[0].name, "cyclonedx-php-composer");
}

#[test]
fn npm_demo_cyclonedx_1_6_shapes() {
    let sbom = load(NPM_DEMO);
    assert_eq!(sbom.spec_version, "1.6");
    assert_eq!(sbom.inventory().len(), 52);
    assert_eq!(sbom.dependency_entries, Some(53));
    assert!(sbom.unresolved_refs.is_empty());
    let root = sbom.root.unwrap();
    assert_eq!(
        sbom.component(root).ref_id.as_deref(),
        Some("demo-bundled-deps@0.0.0")
    );
    assert_eq!(reachable(&sbom, root).len(), sbom.components.len());
    // 1.5+ `metadata.tools` object form.
    let tools: Vec<_> = sbom.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tools[..3], ["npm", "cyclonedx-library", "cyclonedx-npm"]);
    assert_eq!(sbom.tools[1].vendor.as_deref(), Some("@cyclonedx"));
    // `acknowledgement: declared` everywhere.
    assert!(
        sbom.components
            .iter()
            .all(|c| c.licenses.origin == LicenseOrigin::Declared)
    );
    assert!(
        sbom.inventory()
            .iter()
            .all(|c| c.purl.as_ref().unwrap().ty() == "npm")
    );

    let sep = by_name(&sbom, "spdx-expression-parse");
    assert_eq!(sep.licenses.raw, ["(MIT AND CC-BY-3.0)"]);
    assert_eq!(expr(&sbom, "spdx-expression-parse"), "MIT AND CC-BY-3.0");
    assert_eq!(
        evaluate(&policy(&["MIT"], &[], UnknownLicense::Deny), sep).outcome,
        Outcome::Fail
    );
    assert_eq!(
        evaluate(
            &policy(&["MIT", "CC-BY-3.0"], &[], UnknownLicense::Deny),
            sep
        )
        .outcome,
        Outcome::Pass
    );
    let v = evaluate(&policy(&[], &["CC-BY-3.0"], UnknownLicense::Warn), sep);
    assert_eq!((v.outcome, v.reason), (Outcome::Fail, Some(REASON_DENIED)));
    assert_eq!(v.detail, "CC-BY-3.0 is denied");
    // A free-text name on a 1.6 BOM.
    assert_eq!(expr(&sbom, "symbol"), "MPL-2.0");
    // A purl with an encoded qualifier and a subpath, canonicalised.
    assert_eq!(
        sbom.component(root).purl.as_ref().unwrap().to_string(),
        "pkg:npm/demo-bundled-deps@0.0.0?vcs_url=git%2Bhttps:%2F%2Fgithub.com%2FCycloneDX%2Fcyclonedx-node-npm.git#demo/bundled-dependencies/project"
    );
}

#[test]
fn spdx_2_3_example() {
    let sbom = load(SPDX_EXAMPLE);
    assert_eq!(sbom.format, Format::Spdx);
    assert_eq!(sbom.spec_version, "2.3");
    assert_eq!(
        sbom.serial_or_namespace.as_deref(),
        Some("http://spdx.org/spdxdocs/spdx-example-444504E0-4F89-41D3-9A0C-0305E82C3301")
    );
    assert_eq!(sbom.components.len(), 4);
    assert_eq!(sbom.inventory().len(), 4);
    // documentDescribes = [SPDXRef-File, SPDXRef-Package]: the package is the root.
    assert_eq!(
        sbom.component(sbom.root.unwrap()).ref_id.as_deref(),
        Some("SPDXRef-Package")
    );
    // 7 relationships; CONTAINS ×2 and DYNAMIC_LINK are dependency statements, but only
    // glibc → Saxon joins two packages. The DocumentRef target is external, not dangling.
    assert_eq!(sbom.dependency_entries, Some(3));
    let glibc = sbom.find_ref("SPDXRef-Package").unwrap();
    let saxon = sbom.find_ref("SPDXRef-Saxon").unwrap();
    assert_eq!(sbom.dependencies, [(glibc.id, saxon.id)]);
    assert!(sbom.unresolved_refs.is_empty());
    assert_eq!(sbom.tools[0].name, "LicenseFind");

    // licenseConcluded is used when asserted, and its LicenseRef is resolved.
    assert_eq!(glibc.licenses.origin, LicenseOrigin::Concluded);
    assert_eq!(expr(&sbom, "glibc"), "LGPL-2.0-only OR LicenseRef-3");
    assert_eq!(glibc.licenses.refs.len(), 1);
    assert_eq!(glibc.licenses.refs[0].id, "LicenseRef-3");
    assert_eq!(
        glibc.licenses.refs[0].name.as_deref(),
        Some("CyberNeko License")
    );
    assert!(glibc.licenses.refs[0].resolved);
    assert_eq!(
        glibc.supplier.as_deref(),
        Some("Jane Doe (jane.doe@example.com)")
    );
    assert_eq!(glibc.hashes.len(), 4);
    assert!(glibc.hashes.iter().any(|h| h.alg == HashAlg::Blake2b384));
    assert_eq!(glibc.kind, Some(tollgate_sbom::ComponentKind::Source));
    // OR: the LicenseRef branch is unknown, so denying LGPL leaves an unknown verdict.
    let v = evaluate(
        &policy(&[], &["LGPL-2.0-only"], UnknownLicense::Warn),
        glibc,
    );
    assert_eq!((v.outcome, v.reason), (Outcome::Warn, Some(REASON_UNKNOWN)));
    assert_eq!(v.detail, "LicenseRef-3 is not an SPDX-listed licence");
    assert_eq!(
        evaluate(
            &policy(&["LGPL-2.0-only"], &[], UnknownLicense::Deny),
            glibc
        )
        .outcome,
        Outcome::Pass
    );

    let commons = by_name(&sbom, "Apache Commons Lang");
    assert_eq!(commons.licenses.state, LicenseState::NoAssertion);
    assert_eq!(commons.version, None);
    let jena = by_name(&sbom, "Jena");
    assert_eq!(jena.licenses.state, LicenseState::Absent);
    assert_eq!(
        jena.purl.as_ref().unwrap().to_string(),
        "pkg:maven/org.apache.jena/apache-jena@3.12.0"
    );
    for c in [commons, jena] {
        let v = evaluate(&policy(&[], &[], UnknownLicense::Deny), c);
        assert_eq!((v.outcome, v.reason), (Outcome::Fail, Some(REASON_UNKNOWN)));
    }
    assert_eq!(expr(&sbom, "Saxon"), "MPL-1.0");
}

#[test]
fn alpine_syft_spdx_2_2() {
    let sbom = load(ALPINE);
    assert_eq!(sbom.spec_version, "2.2");
    assert_eq!(sbom.components.len(), 14);
    assert_eq!(sbom.root, None, "no DESCRIBES relationship");
    // 75 package → file CONTAINS: statements, but no package-to-package edge.
    assert_eq!(sbom.dependency_entries, Some(75));
    assert!(sbom.dependencies.is_empty());
    assert_eq!(sbom.tools[0].name, "syft");
    assert_eq!(sbom.tools[0].version.as_deref(), Some("0.57.0"));
    for c in &sbom.components {
        let purl = c.purl.as_ref().expect("PACKAGE_MANAGER purl");
        assert_eq!(purl.ty(), "alpine");
        assert_eq!(purl.name(), c.name);
        assert_eq!(purl.qualifier("distro"), Some("alpine-3.16.2"));
        assert!(purl.to_string().starts_with("pkg:alpine/"));
    }

    let mut licences: BTreeMap<String, usize> = BTreeMap::new();
    for c in &sbom.components {
        *licences
            .entry(c.licenses.expression.as_ref().unwrap().to_string())
            .or_default() += 1;
    }
    let want: BTreeMap<String, usize> = [
        ("GPL-2.0-only", 6),
        ("MIT", 3),
        ("OpenSSL", 2),
        ("Zlib", 1),
        ("MPL-2.0 AND MIT", 1),
        ("BSD-2-Clause AND BSD-3-Clause", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(licences, want);

    let deny = policy(&[], &["GPL-2.0-only"], UnknownLicense::Warn);
    let failing: Vec<(&str, &str)> = sbom
        .components
        .iter()
        .filter(|c| {
            let v = evaluate(&deny, c);
            assert_ne!(v.outcome, Outcome::Warn, "{}", c.name);
            v.outcome == Outcome::Fail
        })
        .map(|c| (c.name.as_str(), c.version.as_deref().unwrap()))
        .collect();
    assert_eq!(failing.len(), 6);
    assert!(failing.contains(&("busybox", "1.35.0-r17")));
    assert_eq!(
        failing.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [
            "alpine-baselayout",
            "alpine-baselayout-data",
            "apk-tools",
            "busybox",
            "scanelf",
            "ssl_client"
        ]
    );
    // The deprecated spelling in a policy means the same.
    let deny_old = policy(&[], &["GPL-2.0"], UnknownLicense::Warn);
    assert_eq!(
        sbom.components
            .iter()
            .filter(|c| evaluate(&deny_old, c).outcome == Outcome::Fail)
            .count(),
        6
    );
}

// --- refusals --------------------------------------------------------------------------------

#[test]
fn truncated_documents_are_clear_errors() {
    for name in ALL {
        let full = bytes(name);
        let end = full.trim_ascii_end().len();
        for cut in [full.len() / 2, end - 1, 1] {
            match parse(&full[..cut]) {
                Err(SbomError::Malformed {
                    kind, line, column, ..
                }) => {
                    assert_eq!(kind, MalformedKind::Eof, "{name} cut at {cut}");
                    // serde_json counts columns from 1; 0 means "before the first character".
                    assert!(line >= 1 && column <= full.len(), "{line}:{column}");
                }
                other => panic!("{name} cut at {cut}: {other:?}"),
            }
        }
    }
    let err = parse(&bytes(ALPINE)[..1000]).unwrap_err().to_string();
    assert!(err.starts_with("SBOM is malformed JSON at line "), "{err}");
    assert!(err.contains("EOF"), "{err}");
}

#[test]
fn not_json_and_wrong_types() {
    assert!(matches!(
        parse(b"not json"),
        Err(SbomError::Malformed {
            kind: MalformedKind::Syntax,
            line: 1,
            ..
        })
    ));
    assert!(matches!(
        parse(br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":"oops"}"#),
        Err(SbomError::Malformed {
            kind: MalformedKind::Data,
            ..
        })
    ));
    assert_eq!(parse(b"[1,2]"), Err(SbomError::UnknownFormat));
    assert_eq!(parse(b" \"CycloneDX\""), Err(SbomError::UnknownFormat));
    assert!(matches!(
        parse(b"[1,2"),
        Err(SbomError::Malformed {
            kind: MalformedKind::Eof,
            ..
        })
    ));
    assert!(matches!(
        parse(b""),
        Err(SbomError::Malformed {
            kind: MalformedKind::Eof,
            ..
        })
    ));
    assert!(matches!(
        parse(br#"{"bomFormat":"CycloneDX","specVersion":"1.5"} trailing"#),
        Err(SbomError::Malformed {
            kind: MalformedKind::Syntax,
            ..
        })
    ));
}

#[test]
fn spdx_3_json_ld_is_refused() {
    let doc = br#"{
      "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",
      "@graph": [
        {"type": "CreationInfo", "@id": "_:creationinfo", "specVersion": "3.0.1"},
        {"type": "software_Package", "spdxId": "urn:spdx.dev:pkg", "name": "x",
         "software_packageVersion": "1.0"}
      ]
    }"#;
    assert_eq!(parse(doc), Err(SbomError::Spdx3Unsupported));
    assert_eq!(
        parse(br#"{"spdxVersion":"SPDX-3.0","packages":[]}"#),
        Err(SbomError::Spdx3Unsupported)
    );
    assert!(
        SbomError::Spdx3Unsupported
            .to_string()
            .contains("SPDX 3 JSON-LD")
    );
}

#[test]
fn missing_bom_format_and_unknown_documents() {
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes(LARAVEL)).unwrap();
    doc.as_object_mut().unwrap().remove("bomFormat");
    let without = serde_json::to_vec(&doc).unwrap();
    assert_eq!(
        parse(&without),
        Err(SbomError::MissingField {
            format: Format::CycloneDx,
            field: "bomFormat"
        })
    );
    assert_eq!(parse(b"{}"), Err(SbomError::UnknownFormat));
    assert_eq!(
        parse(br#"{"name":"x","packages":[]}"#),
        Err(SbomError::UnknownFormat)
    );
    assert_eq!(
        parse(br#"{"bomFormat":"SPDX","specVersion":"1.5"}"#),
        Err(SbomError::UnsupportedBomFormat("SPDX".into()))
    );
    assert!(matches!(
        parse(br#"{"bomFormat":"CycloneDX"}"#),
        Err(SbomError::MissingField {
            field: "specVersion",
            ..
        })
    ));
    assert!(matches!(
        parse(br#"{"bomFormat":"CycloneDX","specVersion":"2.0"}"#),
        Err(SbomError::UnsupportedVersion { .. })
    ));
    assert!(matches!(
        parse(br#"{"spdxVersion":"SPDX-1.2"}"#),
        Err(SbomError::UnsupportedVersion { .. })
    ));
}

#[test]
fn oversize_documents_are_refused_before_parsing() {
    let full = bytes(DROPWIZARD);
    let small = ParseOptions {
        max_bytes: full.len() - 1,
        ..ParseOptions::default()
    };
    assert_eq!(
        parse_with(&full, &small),
        Err(SbomError::TooLarge {
            size: full.len(),
            limit: full.len() - 1
        })
    );
    assert!(
        parse_with(
            &full,
            &ParseOptions {
                max_bytes: full.len(),
                ..small
            }
        )
        .is_ok()
    );
    // The default cap is 64 MiB; the refusal happens without reading the (invalid) bytes.
    let huge = vec![b' '; tollgate_sbom::DEFAULT_MAX_BYTES + 1];
    assert!(matches!(parse(&huge), Err(SbomError::TooLarge { .. })));
}

// --- timing (not a timed test: run with --ignored --nocapture, ideally --release) -----------

#[test]
#[ignore = "measurement, not a check"]
fn measure_parse_time() {
    use std::time::Instant;

    let largest = ALL.iter().max_by_key(|n| bytes(n).len()).copied().unwrap();
    let data = bytes(largest);
    let runs = 200;
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(parse(&data).unwrap());
    }
    let per = start.elapsed() / runs;
    println!(
        "{largest} ({} bytes, {} components): {per:?} per parse",
        data.len(),
        load(largest).components.len()
    );

    // Synthetic 20,000-component CycloneDX 1.6 BOM in the shape real producers emit.
    let mut doc = String::from(
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"metadata":{"component":{"type":"application","name":"app","bom-ref":"app"}},"components":["#,
    );
    let licences = [
        "MIT",
        "Apache-2.0",
        "(MIT OR Apache-2.0)",
        "BSD-3-Clause",
        "ISC",
    ];
    for i in 0..20_000 {
        if i > 0 {
            doc.push(',');
        }
        let lic = licences[i % licences.len()];
        let lic = if lic.starts_with('(') {
            format!(r#"{{"expression":"{lic}"}}"#)
        } else {
            format!(r#"{{"license":{{"id":"{lic}"}}}}"#)
        };
        doc.push_str(&format!(
            r#"{{"type":"library","bom-ref":"pkg:npm/pkg-{i}@1.{i}.0","name":"pkg-{i}","version":"1.{i}.0","purl":"pkg:npm/pkg-{i}@1.{i}.0","description":"synthetic package number {i}","hashes":[{{"alg":"SHA-512","content":"{:0128x}"}}],"licenses":[{lic}],"externalReferences":[{{"type":"distribution","url":"https://registry.npm.example/pkg-{i}/-/pkg-{i}-1.{i}.0.tgz"}}],"properties":[{{"name":"cdx:npm:package:path","value":"node_modules/pkg-{i}"}}]}}"#,
            i
        ));
    }
    doc.push_str(r#"],"dependencies":[{"ref":"app","dependsOn":["#);
    for i in 0..20_000 {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(r#""pkg:npm/pkg-{i}@1.{i}.0""#));
    }
    doc.push_str("]}]}");
    let runs = 10;
    let start = Instant::now();
    let mut n = 0;
    for _ in 0..runs {
        let sbom = parse(doc.as_bytes()).unwrap();
        n = sbom.components.len();
        std::hint::black_box(sbom);
    }
    let parsed = start.elapsed() / runs;
    // The floor: one serde_json pass that builds nothing.
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(
            serde_json::from_slice::<serde::de::IgnoredAny>(doc.as_bytes()).unwrap(),
        );
    }
    println!(
        "synthetic ({} bytes, {n} components): {parsed:?} per parse (skipping the JSON alone: {:?})",
        doc.len(),
        start.elapsed() / runs
    );
}
