//! python `oras` pushes an OCI 1.1 artifact with `artifactType` + `subject` through Tollgate;
//! the referrers API must list it.

use tollgate_e2e::*;

const ARTIFACT_TYPE: &str = "application/vnd.tollgate.sbom.v1";

#[test]
fn oras_artifact_with_subject_is_listed_in_referrers() {
    if !require_python_module("oras") {
        return;
    }
    let tg = Tollgate::start(TollgateOpts::default());
    let token = tg.create_token("ci", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);
    let repo = "dev/sbom-demo";

    // the subject: a plain image pushed over HTTP
    let subject = TinyImage::new();
    http.push_image(repo, "1.0.0", &subject);

    let out = python3_script(
        &scripts_dir().join("oras_artifact.py"),
        &[&tg.host(), repo, "1.0.0"],
        &[("TOLLGATE_TOKEN", token.as_str())],
    );
    assert!(out.success(), "oras script failed: {out}");
    let last = out
        .stdout_str()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let result: serde_json::Value = serde_json::from_str(&last)
        .unwrap_or_else(|e| panic!("oras script printed no JSON result ({e}): {out}"));

    assert_eq!(
        result["subject_digest"],
        subject.digest.as_str(),
        "{result}"
    );
    assert_eq!(result["artifact_status"], 201, "{result}");
    assert_eq!(
        result["oci_subject"],
        subject.digest.as_str(),
        "manifest PUT with a subject must answer OCI-Subject: <subject digest>; script saw {result}"
    );
    assert_eq!(result["stored_artifact_type"], ARTIFACT_TYPE, "{result}");
    assert_eq!(
        result["stored_subject"],
        subject.digest.as_str(),
        "{result}"
    );
    let artifact_digest = result["artifact_digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no artifact digest: {result}"))
        .to_string();

    // referrers, unfiltered
    let r = http.get(&format!("/v2/{repo}/referrers/{}", subject.digest));
    r.expect_status(200, "GET referrers");
    assert!(
        r.header("Content-Type")
            .is_some_and(|ct| ct.starts_with(OCI_INDEX)),
        "referrers Content-Type must be the OCI index type: {r}"
    );
    let idx = r.json();
    assert_eq!(idx["schemaVersion"], 2, "{r}");
    let manifests = idx["manifests"].as_array().expect("manifests array");
    let entry = manifests
        .iter()
        .find(|m| m["digest"] == artifact_digest.as_str())
        .unwrap_or_else(|| panic!("artifact {artifact_digest} not among referrers: {r}"));
    assert_eq!(entry["artifactType"], ARTIFACT_TYPE, "{r}");
    assert_eq!(entry["mediaType"], OCI_MANIFEST, "{r}");
    assert!(entry["size"].as_u64().is_some_and(|s| s > 0), "{r}");
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.created"], "2026-01-01T00:00:00Z",
        "referrer descriptors carry the manifest's annotations: {r}"
    );

    // filtered on the right type: still listed, and the filter is announced
    let (r, listed) = http.filtered_referrers(repo, &subject.digest, ARTIFACT_TYPE);
    assert!(
        listed
            .iter()
            .any(|e| e["digest"] == artifact_digest.as_str()),
        "{r}"
    );

    // filtered on another type: filtered out
    let (r, listed) =
        http.filtered_referrers(repo, &subject.digest, "application/vnd.example.other");
    assert!(
        listed
            .iter()
            .all(|e| e["digest"] != artifact_digest.as_str()),
        "artifact must be filtered out: {r}"
    );
    assert!(
        listed.is_empty(),
        "nothing of type other refers to the subject: {r}"
    );
}
