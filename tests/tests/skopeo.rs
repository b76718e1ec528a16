//! skopeo drives Tollgate: copy an OCI layout in and back out, in embedded and upstream mode.

use std::path::Path;

use tollgate_e2e::tempfile::TempDir;
use tollgate_e2e::*;

/// Copies a fresh layout to `<tollgate>/<repo>:<tag>`, checks `skopeo inspect --raw`, copies it
/// back into a new layout and checks digests and blobs. Returns the image.
fn roundtrip(tg: &Tollgate, work: &Path, repo: &str, tag: &str) -> TinyImage {
    let layout = work.join("layout");
    let img = make_oci_layout(&layout, "v1");
    let creds = format!("ci:{}", tg.admin_token);
    let dest = format!("docker://{}/{repo}:{tag}", tg.host());

    skopeo(&[
        "--insecure-policy",
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", layout.display()),
        &dest,
    ])
    .ok();

    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &dest,
    ])
    .ok();
    assert_eq!(
        sha256_digest(&raw.stdout),
        img.digest,
        "manifest bytes read back through Tollgate hash differently from the layout's manifest"
    );
    assert_eq!(raw.stdout, img.manifest, "manifest bytes changed");

    // the same through plain HTTP: by tag, with the digest header
    let r = tg.admin().get_manifest(repo, tag);
    r.expect_status(200, "GET manifest by tag");
    assert_eq!(
        r.header("Docker-Content-Digest").as_deref(),
        Some(img.digest.as_str()),
        "{r}"
    );

    let back = work.join("back");
    skopeo(&[
        "--insecure-policy",
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &dest,
        &format!("oci:{}:back", back.display()),
    ])
    .ok();
    assert_eq!(layout_manifest_digest(&back, "back"), img.digest);
    assert_eq!(layout_blob(&back, &img.digest), img.manifest);
    assert_eq!(layout_blob(&back, &img.config.digest), img.config.data);
    assert_eq!(layout_blob(&back, &img.layer.digest), img.layer.data);

    // and by digest
    let by_digest = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{}/{repo}@{}", tg.host(), img.digest),
    ])
    .ok();
    assert_eq!(by_digest.stdout, img.manifest);
    img
}

#[test]
fn skopeo_copy_in_and_out_embedded() {
    if !require_tools(&["skopeo"]) {
        return;
    }
    let tg = Tollgate::start(TollgateOpts::default());
    let work = TempDir::new().unwrap();
    roundtrip(&tg, work.path(), "dev/app", "1.0.0");
}

#[test]
fn skopeo_copy_in_and_out_upstream() {
    if !require_tools(&["skopeo", "docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let tg = Tollgate::start(TollgateOpts::upstream(reg.url()));
    let work = TempDir::new().unwrap();
    let img = roundtrip(&tg, work.path(), "dev/app", "1.0.0");

    // the bytes arrived upstream under the same repository name
    let up = reg.http();
    let r = up.get_manifest("dev/app", &img.digest);
    r.expect_status(200, "upstream GET manifest by digest");
    assert_eq!(
        r.body, img.manifest,
        "upstream holds different manifest bytes"
    );
    for blob in [&img.config, &img.layer] {
        let r = up.get(&format!("/v2/dev/app/blobs/{}", blob.digest));
        r.expect_status(200, "upstream GET blob");
        assert_eq!(r.body, blob.data, "upstream blob {} differs", blob.digest);
    }
}
