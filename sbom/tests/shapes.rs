//! Small hand-written documents for the field shapes the fixtures do not cover.

use tollgate_sbom::{
    ComponentId, ComponentKind, Format, HashAlg, LicenseOrigin, LicensePolicy, LicenseState,
    Outcome, Sbom, UnknownLicense, WarningKind, evaluate, parse,
};

fn read(json: &str) -> Sbom {
    parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn names(sbom: &Sbom) -> Vec<&str> {
    sbom.components.iter().map(|c| c.name.as_str()).collect()
}

#[test]
fn nested_components_are_walked_and_linked() {
    let sbom = read(
        r#"{"bomFormat":"CycloneDX","specVersion":"1.5",
        "metadata":{"component":{"type":"container","name":"img","bom-ref":"img",
            "components":[{"type":"operating-system","name":"alpine","bom-ref":"os"}]}},
        "components":[
          {"type":"library","name":"a","bom-ref":"a","components":[
             {"type":"library","name":"a1","bom-ref":"a1","components":[
                {"type":"library","name":"a1x","bom-ref":"a1x"}]},
             {"type":"library","name":"a2","bom-ref":"a2"}]},
          {"type":"library","name":"b","bom-ref":"b"}],
        "services":[{"bom-ref":"svc","name":"api","services":[{"bom-ref":"svc-inner","name":"db"}]}],
        "dependencies":[{"ref":"img","dependsOn":["a","b","ghost","svc"]},{"ref":"a","dependsOn":["a1","a2","a1"]},
                        {"ref":"nobody","dependsOn":["b"]},{"ref":"a1x"},{"ref":"svc","dependsOn":["svc-inner"]}]}"#,
    );
    assert_eq!(names(&sbom), ["img", "alpine", "a", "a1", "a1x", "a2", "b"]);
    assert_eq!(sbom.root, Some(ComponentId(0)));
    assert_eq!(sbom.inventory().len(), 6);
    let parent = |n: &str| {
        sbom.components
            .iter()
            .find(|c| c.name == n)
            .unwrap()
            .parent
            .map(|p| sbom.component(p).name.as_str())
    };
    assert_eq!(parent("alpine"), Some("img"));
    assert_eq!(parent("a1x"), Some("a1"));
    assert_eq!(parent("a2"), Some("a"));
    assert_eq!(parent("b"), None);
    assert_eq!(
        sbom.component(ComponentId(1)).kind,
        Some(ComponentKind::OperatingSystem)
    );
    // Edges de-duplicated; dangling refs reported once each, in order.
    let edges: Vec<(&str, &str)> = sbom
        .dependencies
        .iter()
        .map(|(a, b)| {
            (
                sbom.component(*a).name.as_str(),
                sbom.component(*b).name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [("img", "a"), ("img", "b"), ("a", "a1"), ("a", "a2")]
    );
    // Services are known ends, not components.
    assert_eq!(sbom.unresolved_refs, ["ghost", "nobody"]);
    assert_eq!(sbom.dependency_entries, Some(5));
}

#[test]
fn absent_dependencies_mean_unknown() {
    let sbom = read(
        r#"{"bomFormat":"CycloneDX","specVersion":"1.3","components":[{"type":"library","name":"x"}]}"#,
    );
    assert_eq!(sbom.dependency_entries, None);
    assert_eq!(sbom.root, None);
    assert_eq!(sbom.inventory().len(), 1);
    let sbom = read(r#"{"bomFormat":"CycloneDX","specVersion":"1.3","dependencies":[]}"#);
    assert_eq!(sbom.dependency_entries, Some(0));
}

#[test]
fn licence_shapes_of_1_5_to_1_7() {
    let sbom = read(
        r#"{"bomFormat":"CycloneDX","specVersion":"1.7","components":[
          {"type":"library","name":"expr","licenses":[{"expression":"apache-2.0 or mit","acknowledgement":"declared"}]},
          {"type":"library","name":"both","licenses":[
              {"license":{"id":"GPL-2.0+","acknowledgement":"declared"}},
              {"license":{"id":"MIT","acknowledgement":"concluded"}}]},
          {"type":"library","name":"text-only","licenses":[{"license":{"name":"The Apache Software License, Version 2.0","text":{"content":"...","contentType":"text/plain"},"url":"https://x"}}]},
          {"type":"library","name":"empty","licenses":[]},
          {"type":"library","name":"noassert","licenses":[{"expression":"NOASSERTION"}]},
          {"type":"library","name":"broken","licenses":[{"expression":"MIT AND (Apache-2.0"}]},
          {"type":"library","name":"lgpl","licenses":[{"license":{"id":"LGPL-2.1+"}}]},
          {"type":"library","name":"ref","licenses":[{"license":{"id":"LicenseRef-scancode-proprietary"}}]}
        ]}"#,
    );
    let get = |n: &str| sbom.components.iter().find(|c| c.name == n).unwrap();
    let text = |n: &str| get(n).licenses.expression.as_ref().map(ToString::to_string);
    assert_eq!(text("expr").as_deref(), Some("Apache-2.0 OR MIT"));
    assert_eq!(get("expr").licenses.origin, LicenseOrigin::Declared);
    // A concluded licence outranks a declared one.
    assert_eq!(text("both").as_deref(), Some("MIT"));
    assert_eq!(get("both").licenses.origin, LicenseOrigin::Concluded);
    assert_eq!(text("text-only").as_deref(), Some("Apache-2.0"));
    assert_eq!(get("empty").licenses.state, LicenseState::Absent);
    assert_eq!(get("noassert").licenses.state, LicenseState::NoAssertion);
    assert_eq!(get("noassert").licenses.expression, None);
    assert_eq!(text("lgpl").as_deref(), Some("LGPL-2.1-or-later"));
    assert_eq!(
        text("ref").as_deref(),
        Some("LicenseRef-scancode-proprietary")
    );
    // An unparsable expression is kept as an unknown licence, with a warning.
    assert_eq!(text("broken").as_deref(), Some("MIT AND (Apache-2.0"));
    let w: Vec<_> = sbom
        .warnings
        .iter()
        .map(|w| (w.kind, w.component))
        .collect();
    assert_eq!(w, [(WarningKind::InvalidLicense, Some(get("broken").id))]);
    let deny = LicensePolicy::new(&[], &[], UnknownLicense::Deny).unwrap();
    for (n, outcome) in [
        ("expr", Outcome::Pass),
        ("broken", Outcome::Fail),
        ("empty", Outcome::Fail),
        ("noassert", Outcome::Fail),
        ("ref", Outcome::Fail),
    ] {
        assert_eq!(evaluate(&deny, get(n)).outcome, outcome, "{n}");
    }
}

#[test]
fn lenient_field_types_and_bad_purls() {
    let sbom = read(
        "\u{feff}{\"bomFormat\":\"CycloneDX\",\"specVersion\":1.4,\"unknownTopLevel\":{\"deep\":[1,2,{}]},
        \"metadata\":{\"tools\":null,\"component\":null},
        \"components\":[
          {\"type\":\"library\",\"name\":\"num\",\"version\":2,\"purl\":\"pkg:npm/num@2\",\"hashes\":null,
           \"supplier\":{\"name\":\"ACME\",\"url\":[\"https://acme.example\"]},\"licenses\":null,\"x-extension\":true},
          {\"type\":\"library\",\"name\":\"badpurl\",\"purl\":\"npm:badpurl\",\"hashes\":[{\"alg\":\"SHA-256\",\"content\":\"ABCDEF\"},{\"alg\":\"SHA-256\"}]},
          {\"type\":\"library\",\"name\":\"dup\",\"bom-ref\":\"same\"},
          {\"type\":\"library\",\"name\":\"dup2\",\"bom-ref\":\"same\"}
        ],\"dependencies\":[{\"ref\":\"same\",\"dependsOn\":null}]}",
    );
    assert_eq!(sbom.spec_version, "1.4");
    let num = &sbom.components[0];
    assert_eq!(num.version.as_deref(), Some("2"));
    assert_eq!(num.supplier.as_deref(), Some("ACME"));
    assert_eq!(num.purl.as_ref().unwrap().to_string(), "pkg:npm/num@2");
    let bad = &sbom.components[1];
    assert_eq!(bad.purl, None);
    assert_eq!(bad.hashes.len(), 1);
    assert_eq!(bad.hashes[0].alg, HashAlg::Sha256);
    assert_eq!(bad.hashes[0].value, "abcdef");
    let kinds: Vec<_> = sbom.warnings.iter().map(|w| w.kind).collect();
    assert_eq!(kinds, [WarningKind::InvalidPurl, WarningKind::DuplicateRef]);
    assert_eq!(sbom.find_ref("same").unwrap().name, "dup");
}

#[test]
fn spdx_relationships_roots_and_refs() {
    let sbom = read(
        r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","documentNamespace":"https://example.com/doc",
        "externalDocumentRefs":[{"externalDocumentId":"DocumentRef-other","spdxDocument":"https://x","checksum":{"algorithm":"SHA1","checksumValue":"00"}}],
        "hasExtractedLicensingInfos":[{"licenseId":"LicenseRef-known","extractedText":"..."}],
        "packages":[
          {"SPDXID":"SPDXRef-app","name":"app","versionInfo":"1.0","supplier":"Organization: ACME Corp",
           "licenseConcluded":"NOASSERTION","licenseDeclared":"MIT AND LicenseRef-known",
           "primaryPackagePurpose":"APPLICATION",
           "checksums":[{"algorithm":"SHA256","checksumValue":"AA"},{"algorithm":"SHA3-256","checksumValue":"bb"}],
           "externalRefs":[{"referenceCategory":"SECURITY","referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:acme:app:1.0:*:*:*:*:*:*:*"},
                           {"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:pypi/My_App@1.0"}]},
          {"SPDXID":"SPDXRef-lib","name":"lib","licenseConcluded":"NONE","licenseDeclared":"MIT"},
          {"SPDXID":"SPDXRef-dev","name":"dev","licenseDeclared":"LicenseRef-missing OR DocumentRef-other:LicenseRef-x"},
          {"SPDXID":"SPDXRef-sys","name":"sys","licenseConcluded":null,"licenseDeclared":"gpl-2.0+"}
        ],
        "files":[{"SPDXID":"SPDXRef-file","fileName":"./a"}],
        "relationships":[
          {"spdxElementId":"SPDXRef-app","relationshipType":"DESCRIBED_BY","relatedSpdxElement":"SPDXRef-DOCUMENT"},
          {"spdxElementId":"SPDXRef-app","relationshipType":"DEPENDS_ON","relatedSpdxElement":"SPDXRef-lib"},
          {"spdxElementId":"SPDXRef-dev","relationshipType":"DEV_DEPENDENCY_OF","relatedSpdxElement":"SPDXRef-app"},
          {"spdxElementId":"SPDXRef-sys","relationshipType":"CONTAINED_BY","relatedSpdxElement":"SPDXRef-app"},
          {"spdxElementId":"SPDXRef-app","relationshipType":"CONTAINS","relatedSpdxElement":"SPDXRef-file"},
          {"spdxElementId":"SPDXRef-app","relationshipType":"DEPENDS_ON","relatedSpdxElement":"SPDXRef-gone"},
          {"spdxElementId":"SPDXRef-app","relationshipType":"DEPENDS_ON","relatedSpdxElement":"DocumentRef-other:SPDXRef-y"},
          {"spdxElementId":"SPDXRef-app","relationshipType":"DEPENDS_ON","relatedSpdxElement":"DocumentRef-undeclared:SPDXRef-y"},
          {"spdxElementId":"SPDXRef-app","relationshipType":"GENERATED_FROM","relatedSpdxElement":"NOASSERTION"},
          {"spdxElementId":"SPDXRef-lib","relationshipType":"OTHER","relatedSpdxElement":"SPDXRef-app"}
        ]}"#,
    );
    assert_eq!(sbom.format, Format::Spdx);
    assert_eq!(sbom.component(sbom.root.unwrap()).name, "app");
    let edges: Vec<(&str, &str)> = sbom
        .dependencies
        .iter()
        .map(|(a, b)| {
            (
                sbom.component(*a).name.as_str(),
                sbom.component(*b).name.as_str(),
            )
        })
        .collect();
    assert_eq!(edges, [("app", "lib"), ("app", "dev"), ("app", "sys")]);
    assert_eq!(sbom.dependency_entries, Some(7));
    assert_eq!(
        sbom.unresolved_refs,
        ["SPDXRef-gone", "DocumentRef-undeclared:SPDXRef-y"]
    );

    let app = &sbom.components[0];
    assert_eq!(
        app.purl.as_ref().unwrap().to_string(),
        "pkg:pypi/my-app@1.0"
    );
    assert_eq!(app.supplier.as_deref(), Some("ACME Corp"));
    assert_eq!(app.kind, Some(ComponentKind::Application));
    assert_eq!(app.hashes[0].alg, HashAlg::Sha256);
    assert_eq!(app.hashes[0].value, "aa");
    assert_eq!(app.hashes[1].alg, HashAlg::Sha3_256);
    // licenseConcluded NOASSERTION → licenseDeclared.
    assert_eq!(app.licenses.origin, LicenseOrigin::Declared);
    assert_eq!(
        app.licenses.expression.as_ref().unwrap().to_string(),
        "MIT AND LicenseRef-known"
    );
    assert!(app.licenses.refs[0].resolved);
    // NONE is an assertion: it wins over the declared MIT and is judged unknown.
    let lib = &sbom.components[1];
    assert_eq!(lib.licenses.state, LicenseState::NoneStated);
    assert_eq!(lib.licenses.origin, LicenseOrigin::Concluded);
    let dev = &sbom.components[2];
    assert_eq!(dev.licenses.refs.len(), 2);
    assert!(!dev.licenses.refs[0].resolved);
    assert_eq!(dev.licenses.refs[1].id, "DocumentRef-other:LicenseRef-x");
    let sys = &sbom.components[3];
    assert_eq!(
        sys.licenses.expression.as_ref().unwrap().to_string(),
        "GPL-2.0-or-later"
    );
    let unresolved: Vec<_> = sbom
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::UnresolvedLicenseRef)
        .map(|w| w.component)
        .collect();
    assert_eq!(unresolved, [Some(dev.id)]);

    let p = LicensePolicy::new(&["MIT"], &[], UnknownLicense::Warn).unwrap();
    assert_eq!(evaluate(&p, app).outcome, Outcome::Warn);
    assert_eq!(evaluate(&p, lib).outcome, Outcome::Warn);
    assert_eq!(evaluate(&p, sys).outcome, Outcome::Fail);
}

#[test]
fn spdx_describes_relationship_and_tools() {
    let sbom = read(
        r#"{"spdxVersion":"SPDX-2.2","SPDXID":"SPDXRef-DOCUMENT",
        "creationInfo":{"creators":["Tool: trivy-0.50.1","Organization: X","Tool: custom"]},
        "packages":[{"SPDXID":"SPDXRef-a","name":"a"},{"SPDXID":"SPDXRef-b","name":"b"}],
        "relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-b"}]}"#,
    );
    assert_eq!(sbom.component(sbom.root.unwrap()).name, "b");
    assert_eq!(sbom.dependency_entries, Some(0));
    let tools: Vec<_> = sbom
        .tools
        .iter()
        .map(|t| (t.name.as_str(), t.version.as_deref()))
        .collect();
    assert_eq!(tools, [("trivy", Some("0.50.1")), ("custom", None)]);
}

#[test]
fn media_and_predicate_types() {
    assert_eq!(
        Format::from_media_type("application/vnd.cyclonedx+json; version=1.6"),
        Some(Format::CycloneDx)
    );
    assert_eq!(
        Format::from_media_type("application/spdx+json"),
        Some(Format::Spdx)
    );
    assert_eq!(
        Format::from_media_type("application/vnd.cyclonedx+xml"),
        None
    );
    assert_eq!(
        Format::from_predicate_type("https://cyclonedx.org/bom"),
        Some(Format::CycloneDx)
    );
    assert_eq!(
        Format::from_predicate_type("https://spdx.dev/Document"),
        Some(Format::Spdx)
    );
    assert_eq!(
        Format::from_predicate_type("https://slsa.dev/provenance/v1"),
        None
    );
}

#[test]
fn the_model_serialises_to_json() {
    let sbom = read(
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[
          {"type":"library","name":"x","purl":"pkg:npm/%40s/x@1","licenses":[{"expression":"MIT OR GPL-2.0"}]}]}"#,
    );
    let v = serde_json::to_value(&sbom).unwrap();
    assert_eq!(v["format"], "cyclonedx");
    assert_eq!(v["components"][0]["purl"], "pkg:npm/%40s/x@1");
    assert_eq!(
        v["components"][0]["licenses"]["expression"],
        "MIT OR GPL-2.0-only"
    );
    assert_eq!(v["components"][0]["licenses"]["state"], "present");
    assert_eq!(v["components"][0]["kind"], "library");
    assert_eq!(v["dependency_entries"], serde_json::Value::Null);
}

#[test]
fn hostile_licence_lists_are_judged_unknown() {
    let entries = vec![r#"{"license":{"id":"MIT"}}"#; 300].join(",");
    let sbom = read(&format!(
        r#"{{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{{"type":"library","name":"x","licenses":[{entries}]}}]}}"#
    ));
    let x = &sbom.components[0];
    assert!(x.licenses.expression.as_ref().unwrap().has_unknown());
    assert_eq!(sbom.warnings[0].kind, WarningKind::InvalidLicense);
    let deny = LicensePolicy::new(&[], &[], UnknownLicense::Deny).unwrap();
    assert_eq!(evaluate(&deny, x).outcome, Outcome::Fail);
}
