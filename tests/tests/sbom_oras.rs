//! A build pipeline's view of SBOMs: python `oras` pushes an image and then its SBOM (an OCI 1.1
//! referrer) through Tollgate; a where-used query finds the image again, and the SBOM comes back
//! converted into the other format, valid by that format's own reference tooling.

use std::path::PathBuf;

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sbom")
        .join(rel)
}

fn components(http: &Http, query: &str) -> Value {
    let r = http.get(&format!("/api/v1/sbom/components?{query}"));
    r.expect_status(200, query);
    r.json()
}

/// Pushes an image and the SBOM file as its referrer with oras; the image digest.
fn oras_push(tg: &Tollgate, token: &str, repo: &str, tag: &str, sbom: &str, media: &str) -> String {
    let path = fixture_path(sbom);
    let result = python3_json(
        &scripts_dir().join("oras_sbom.py"),
        &[&tg.host(), repo, tag, path.to_str().unwrap(), media],
        &[("TOLLGATE_TOKEN", token)],
    );
    assert_eq!(result["sbom_status"], 201, "{result}");
    assert_eq!(result["oci_subject"], result["image_digest"], "{result}");
    result["image_digest"].as_str().expect("digest").to_string()
}

/// Writes `bytes` to a temp file and runs the format's reference validator over it.
fn assert_valid(format: &str, bytes: &[u8]) {
    let dir = tempfile_dir();
    let file = dir.join(format!("export.{format}.json"));
    std::fs::write(&file, bytes).unwrap();
    let out = python3_script(
        &scripts_dir().join("validate_sbom.py"),
        &[format, file.to_str().unwrap()],
        &[],
    );
    assert!(out.success(), "exported {format} is not valid: {out}");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("tollgate-sbom-oras-{}", unique()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn oras_pushed_image_and_sbom_are_found_by_where_used_and_export_converts() {
    if !require_python_module("oras")
        || !require_python_module("spdx_tools")
        || !require_python_module("cyclonedx.validation.json")
    {
        return;
    }
    let tg = Tollgate::start(TollgateOpts::default());
    let token = tg.create_token("ci", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);

    // cyclonedx-npm's real output for an npm project, attached to the image it describes
    let app = oras_push(
        &tg,
        &token,
        "dev/oras-app",
        "1.0.0",
        "cyclonedx/npm-demo-bundled-deps.cdx-1.6.json",
        "application/vnd.cyclonedx+json",
    );
    // syft's SPDX 2.2 of alpine, attached to a second image
    let base = oras_push(
        &tg,
        &token,
        "dev/oras-base",
        "3.16.0",
        "spdx/alpine-latest.syft.spdx-2.2.json",
        "application/spdx+json",
    );

    let rec = http.get(&format!("/api/v1/artifacts/{app}")).json();
    assert_eq!(rec["sboms"][0]["source"], "referrer", "{rec}");
    assert_eq!(rec["sboms"][0]["format"], "cyclonedx", "{rec}");
    assert_eq!(rec["sboms"][0]["components"], 52, "{rec}");

    // "where is semver < 5.2?" → the oras-pushed image, by repository, tag and environment
    let v = components(&http, "purl=pkg:npm/semver&range=%3C5.2.0");
    let arts = v["artifacts"].as_array().expect("artifacts");
    assert_eq!(arts.len(), 1, "{v}");
    assert_eq!(arts[0]["artifact"], app.as_str(), "{v}");
    assert_eq!(
        arts[0]["repositories"][0]["repository"], "dev/oras-app",
        "{v}"
    );
    assert_eq!(arts[0]["repositories"][0]["tags"], json!(["1.0.0"]), "{v}");
    assert_eq!(arts[0]["environments"], json!(["dev"]), "{v}");
    assert_eq!(arts[0]["components"][0]["version"], "5.1.0", "{v}");
    // outside the range: nothing
    let v = components(&http, "purl=pkg:npm/semver&range=%3E%3D5.1.1");
    assert_eq!(v["artifacts"], json!([]), "{v}");
    // the licence index covers the SPDX image: GPL-2.0-only only there
    let v = components(&http, "license=GPL-2.0-only");
    let arts = v["artifacts"].as_array().expect("artifacts");
    assert_eq!(arts.len(), 1, "{v}");
    assert_eq!(arts[0]["artifact"], base.as_str(), "{v}");
    assert_eq!(
        arts[0]["components"].as_array().map(Vec::len),
        Some(6),
        "{v}"
    );

    // export: as ingested, and converted both ways, valid by the other format's own tooling
    let same = http.get(&format!("/api/v1/artifacts/{app}/sbom?format=cyclonedx"));
    same.expect_status(200, "export as ingested");
    assert_eq!(
        same.body,
        std::fs::read(fixture_path("cyclonedx/npm-demo-bundled-deps.cdx-1.6.json")).unwrap()
    );
    let spdx = http.get(&format!("/api/v1/artifacts/{app}/sbom?format=spdx"));
    spdx.expect_status(200, "CycloneDX → SPDX");
    assert_eq!(
        spdx.header("Content-Type").as_deref(),
        Some("application/spdx+json")
    );
    assert_valid("spdx", &spdx.body);
    let again = http.get(&format!("/api/v1/artifacts/{app}/sbom?format=spdx"));
    assert_eq!(again.body, spdx.body, "an export is deterministic");
    let doc = spdx.json();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(
        doc["packages"].as_array().map(Vec::len),
        Some(53),
        "52 + the described root"
    );

    let cdx = http.get(&format!("/api/v1/artifacts/{base}/sbom?format=cyclonedx"));
    cdx.expect_status(200, "SPDX → CycloneDX");
    assert_eq!(
        cdx.header("Content-Type").as_deref(),
        Some("application/vnd.cyclonedx+json")
    );
    assert_valid("cyclonedx", &cdx.body);
    assert_eq!(cdx.json()["components"].as_array().map(Vec::len), Some(14));

    // the converted SPDX is itself ingestible: posted for another artifact, where-used finds
    // semver there too, with the same version
    let tarball = format!("sha256:{}", "c".repeat(64));
    http.post_json(
        &format!("/api/v1/artifacts/{tarball}/sboms"),
        spdx.body.to_vec(),
    )
    .expect_status(201, "post the converted SBOM");
    let v = components(&http, "purl=pkg:npm/semver&range=%3C5.2.0");
    let mut found: Vec<&str> = v["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| a["artifact"].as_str().unwrap())
        .collect();
    found.sort_unstable();
    let mut want = vec![app.as_str(), tarball.as_str()];
    want.sort_unstable();
    assert_eq!(found, want, "{v}");

    // a format Tollgate does not write is a clear 400
    let r = http.get(&format!("/api/v1/artifacts/{app}/sbom?format=swid"));
    r.expect_status(400, "unknown format");
    assert!(r.text().contains("cyclonedx, spdx"), "{r}");
}
