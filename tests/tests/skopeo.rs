//! skopeo drives Tollgate: copy an OCI layout in and back out, in embedded and upstream mode.

use tollgate_e2e::tempfile::TempDir;
use tollgate_e2e::*;

#[test]
fn skopeo_copy_in_and_out_embedded() {
    if !require_tools(&["skopeo"]) {
        return;
    }
    let tg = Tollgate::start(TollgateOpts::default());
    let work = TempDir::new().unwrap();
    skopeo_roundtrip(&tg, work.path(), "dev/app", "1.0.0");
}

#[test]
fn skopeo_copy_in_and_out_upstream() {
    if !require_tools(&["skopeo", "docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let tg = Tollgate::start(TollgateOpts::upstream(reg.url()));
    let work = TempDir::new().unwrap();
    let img = skopeo_roundtrip(&tg, work.path(), "dev/app", "1.0.0");

    // the bytes arrived upstream under the same repository name
    reg.http()
        .expect_image("dev/app", &img, "upstream after the skopeo copy");
}
