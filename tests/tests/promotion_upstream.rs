//! Promotion in front of a real upstream registry (CNCF distribution): the copy into the
//! target repository happens upstream with cross-repository blob mounts, the manifest and its
//! evidence land there too, and a client reading the registry directly sees the promoted
//! image. Once without auth, once behind the registry token flow.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tollgate_e2e::serde_json::json;
use tollgate_e2e::*;

const CDX: &str = "application/vnd.cyclonedx+json";

/// Staging takes anything from dev; prod is not needed here.
const POLICY: &str = "version = 1\n\n[environments.dev]\n\n[environments.staging]\nfrom = [\"dev\"]\n\n[environments.staging.sbom]\nrequired = true\n";

fn sbom() -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sbom/cyclonedx/npm-demo-bundled-deps.cdx-1.6.json"),
    )
    .expect("fixture")
}

/// Pushes an image and its SBOM referrer to `dev/app` through Tollgate, promotes it to
/// staging, and checks what the upstream holds afterwards through `up`.
fn promote_and_check(tg: &Tollgate, up: &Http) {
    let ci = tg.create_token("ci", &["pusher:dev/*"]);
    let http = tg.basic("ci", &ci);
    let img = TinyImage::new();
    http.push_image("dev/app", "1.0.0", &img);
    http.push_blob("dev/app", &Blob::empty().data);
    let doc = Blob::new(CDX, sbom());
    http.push_blob("dev/app", &doc.data);
    let (m, sbom_digest) =
        artifact_manifest(CDX, &doc, Some(img.manifest_descriptor()), &BTreeMap::new());
    http.put_manifest("dev/app", &sbom_digest, OCI_MANIFEST, &m)
        .expect_status(201, "SBOM referrer");

    let releaser = tg.create_token("releaser", &["promoter"]);
    let r = tg.basic("releaser", &releaser).post_json(
        "/api/v1/promotions",
        json!({"artifact": "dev/app:1.0.0", "to": "staging"})
            .to_string()
            .into_bytes(),
    );
    r.expect_status(201, "promote upstream");
    assert_eq!(r.json()["state"], "promoted", "{r}");

    // straight from the registry: the tag, the manifest bytes, every blob, the SBOM
    up.get_manifest("staging/app", "1.0.0")
        .expect_status(200, "promoted tag upstream")
        .expect_header(
            "Docker-Content-Digest",
            &img.digest,
            "promoted tag upstream",
        );
    for blob in [&img.config.digest, &img.layer.digest, &doc.digest] {
        up.head(&format!("/v2/staging/app/blobs/{blob}"))
            .expect_status(200, "blob in the target repository upstream");
    }
    up.get_manifest("staging/app", &sbom_digest)
        .expect_status(200, "SBOM referrer upstream");
    // through Tollgate: the promoted image is served, a stray push into staging is not
    let admin = tg.admin();
    admin
        .get_manifest("staging/app", "1.0.0")
        .expect_status(200, "promoted image through Tollgate");
    admin
        .get(&format!("/v2/staging/app/blobs/{}", img.layer.digest))
        .expect_status(200, "promoted blob through Tollgate");
    let stray = TinyImage::new();
    admin.push_image("staging/app", "6.6.6", &stray);
    admin
        .get_manifest("staging/app", "6.6.6")
        .expect_denied("not-promoted", "stray image in staging");
    admin
        .get(&format!("/v2/staging/app/blobs/{}", stray.layer.digest))
        .expect_denied("not-promoted", "stray blob in staging");
    // and as referrers of the promoted image
    let refs = tg
        .admin()
        .get(&format!("/v2/staging/app/referrers/{}", img.digest))
        .json();
    assert_eq!(
        refs["manifests"][0]["digest"],
        sbom_digest.as_str(),
        "{refs}"
    );
}

#[test]
fn promotion_copies_upstream_with_mounts() {
    if !require_tools(&["docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let tg = Tollgate::start_with_files(
        TollgateOpts {
            upstream: Some(reg.url()),
            config: Some("[policy]\ndir = \"policy\"\n".into()),
            ..TollgateOpts::default()
        },
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    promote_and_check(&tg, &reg.http());
    // every blob was mounted, none streamed through the gateway
    let log = tg.log();
    assert!(
        log.contains("mounted=4") && log.contains("streamed=0"),
        "expected 4 mounted blobs (image config and layer, SBOM and its empty config) and none streamed:\n{log}"
    );
}

#[test]
fn promotion_copies_behind_the_registry_token_flow() {
    if !require_tools(&["docker-registry"]) || !require_python_module("cryptography") {
        return;
    }
    let ts = TokenServer::start("alice", "s3cret");
    let reg = Registry::start_with_config(&ts.registry_auth_yaml());
    let config = format!(
        "[upstream]\nurl = \"{}\"\nusername = \"alice\"\npassword = \"s3cret\"\ntimeout_secs = 5\n\n[policy]\ndir = \"policy\"\n",
        reg.url()
    );
    let tg = Tollgate::start_with_files(
        TollgateOpts::config(config),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let token = ts.token("alice", "s3cret", "repository:staging/app:pull");
    promote_and_check(&tg, &reg.http_as(Auth::Bearer(token)));
    // the token asked for covers the source too, so the registry mounts rather than refuses
    let log = tg.log();
    assert!(
        log.contains("mounted=4") && log.contains("streamed=0"),
        "{log}"
    );
}

#[test]
fn promoted_images_keep_deploying_while_the_upstream_is_down() {
    if !require_tools(&["docker-registry", "skopeo"]) {
        return;
    }
    let reg = Registry::start();
    let config = format!(
        "[upstream]\nurl = \"{}\"\ntimeout_secs = 2\nconnect_timeout_secs = 1\nblob_cache_bytes = 104857600\n\n[policy]\ndir = \"policy\"\n",
        reg.url()
    );
    let tg = Tollgate::start_with_files(
        TollgateOpts::config(config),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let admin = tg.admin();
    let img = TinyImage::new();
    admin.push_image("dev/app", "1.0.0", &img);
    admin.push_blob("dev/app", &Blob::empty().data);
    let doc = Blob::new(CDX, sbom());
    admin.push_blob("dev/app", &doc.data);
    let (m, d) = artifact_manifest(CDX, &doc, Some(img.manifest_descriptor()), &BTreeMap::new());
    admin
        .put_manifest("dev/app", &d, OCI_MANIFEST, &m)
        .expect_status(201, "SBOM");
    let r = admin.post_json(
        "/api/v1/promotions",
        json!({"artifact": "dev/app:1.0.0", "to": "staging"})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.json()["state"], "promoted", "{r}");
    let unpromoted = TinyImage::new();
    admin.push_image("dev/app", "2.0.0", &unpromoted);

    drop(reg); // the upstream is gone

    // the promoted image still pulls, bytes intact, with skopeo
    let work = tollgate_e2e::tempfile::TempDir::new().unwrap();
    let out = work.path().join("out");
    skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("admin:{}", tg.admin_token),
        &format!("docker://{}/staging/app:1.0.0", tg.host()),
        &format!("oci:{}:x", out.display()),
    ])
    .ok();
    assert_eq!(layout_blob(&out, &img.layer.digest), img.layer.data);
    assert_eq!(layout_blob(&out, &img.config.digest), img.config.data);
    // while dev, which has no cache, cannot reach its blobs
    let r = admin.get(&format!("/v2/dev/app/blobs/{}", unpromoted.layer.digest));
    assert!(r.status >= 500, "dev blob without the upstream: {r}");
}
