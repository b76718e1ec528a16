//! Upstream mode mirrors every recorded tag to the upstream registry at least once: a tag whose
//! mirror the upstream refused stays queued in the store and a background pass PUTs it once
//! the upstream takes it. The upstream is a real docker-registry behind nginx, which refuses
//! manifest PUTs by tag while told to.

use std::time::Duration;

use tollgate_e2e::*;

/// A docker-registry behind nginx and a Tollgate using nginx as its upstream, re-trying tag
/// mirrors every `interval_secs`; None (the test is skipped) without the tools.
fn refusable_upstream(interval_secs: u64) -> Option<(Registry, Nginx, Tollgate)> {
    if !require_tools(&["docker-registry", "nginx"]) {
        return None;
    }
    let reg = Registry::start();
    let proxy = Nginx::registry_proxy(&reg);
    let tg = Tollgate::start(TollgateOpts::config(format!(
        "[upstream]\nurl = \"{}\"\ntag_mirror_interval_secs = {interval_secs}\n",
        proxy.url()
    )));
    Some((reg, proxy, tg))
}

/// Pushes `img` as `dev/app:<tag>` while the upstream refuses tags: the push succeeds (the tag
/// is recorded and served), and the manifest is upstream by digest, not by tag.
fn push_refused(tg: &Tollgate, proxy: &Nginx, reg: &Registry, tag: &str, img: &TinyImage) {
    let http = tg.admin();
    http.push_blob("dev/app", &img.config.data);
    http.push_blob("dev/app", &img.layer.data);
    proxy.refuse_tag_puts(true);
    http.put_manifest("dev/app", tag, OCI_MANIFEST, &img.manifest)
        .expect_status(201, "a push whose tag mirror the upstream refused");
    let via = http.get_manifest("dev/app", tag);
    via.expect_status(200, "the recorded tag via Tollgate");
    assert_eq!(via.header("docker-content-digest").unwrap(), img.digest);
    let up = reg.http();
    up.get_manifest("dev/app", &img.digest)
        .expect_status(200, "the manifest upstream by digest");
    up.get_manifest("dev/app", tag)
        .expect_status(404, "the tag upstream while refused");
}

/// Waits until the upstream serves `dev/app:<tag>` as exactly `img`'s manifest.
fn mirrored_upstream(reg: &Registry, tag: &str, img: &TinyImage) {
    let up = reg.http();
    let r = eventually("the tag upstream", Duration::from_secs(30), || {
        let r = up.get_manifest("dev/app", tag);
        (r.status == 200).then_some(r)
    });
    assert_eq!(r.header("docker-content-digest").unwrap(), img.digest);
    assert_eq!(r.body, img.manifest, "the exact manifest bytes by tag");
}

#[test]
fn a_tag_the_upstream_refused_is_mirrored_once_it_takes_it() {
    let Some((reg, proxy, tg)) = refusable_upstream(1) else {
        return;
    };
    let img = TinyImage::new();
    push_refused(&tg, &proxy, &reg, "1.0.0", &img);
    // Passes run while the upstream still refuses: the tag stays owed, not dropped.
    eventually(
        "a failed pass counts the tag as pending",
        Duration::from_secs(15),
        || (tg.metric_value("tollgate_upstream_tag_mirrors_pending") == Some(1.0)).then_some(()),
    );
    reg.http()
        .get_manifest("dev/app", "1.0.0")
        .expect_status(404, "the tag upstream while refused");

    proxy.refuse_tag_puts(false);
    mirrored_upstream(&reg, "1.0.0", &img);
    eventually("nothing left pending", Duration::from_secs(15), || {
        (tg.metric_value("tollgate_upstream_tag_mirrors_pending") == Some(0.0)).then_some(())
    });
    assert_eq!(
        tg.metric_value("tollgate_upstream_tag_remirrors_total"),
        Some(1.0)
    );

    // A push the upstream takes at once mirrors the tag itself and leaves nothing queued.
    let next = TinyImage::new();
    tg.admin().push_image("dev/app", "1.0.1", &next);
    let r = reg.http().get_manifest("dev/app", "1.0.1");
    r.expect_status(200, "a tag the upstream took at once");
    std::thread::sleep(Duration::from_millis(2500)); // a couple of one-second passes
    assert_eq!(
        tg.metric_value("tollgate_upstream_tag_remirrors_total"),
        Some(1.0),
        "a mirrored tag is not mirrored again"
    );
}

#[test]
fn a_tag_left_queued_by_a_killed_gateway_is_mirrored_at_start_up() {
    // An hour between passes: only the pass at start-up can mirror it within the test.
    let Some((reg, proxy, mut tg)) = refusable_upstream(3600) else {
        return;
    };
    let img = TinyImage::new();
    push_refused(&tg, &proxy, &reg, "2.0.0", &img);
    tg.stop(); // SIGKILL
    proxy.refuse_tag_puts(false);
    tg.restart();
    mirrored_upstream(&reg, "2.0.0", &img);
    tg.admin()
        .get_manifest("dev/app", "2.0.0")
        .expect_status(200, "the tag via Tollgate after the restart");
}
