//! Upstream mode: Tollgate in front of a real docker-registry, a lying upstream, a hanging one,
//! and one that is down.

use std::time::{Duration, Instant};

use tollgate_e2e::reqwest::Method;
use tollgate_e2e::*;

/// A docker-registry and a Tollgate in front of it; None (the test is skipped) without
/// docker-registry.
fn tollgate_before_registry() -> Option<(Registry, Tollgate)> {
    if !require_tools(&["docker-registry"]) {
        return None;
    }
    let reg = Registry::start();
    let tg = Tollgate::start(TollgateOpts::upstream(reg.url()));
    Some((reg, tg))
}

#[test]
fn chunked_push_through_tollgate_arrives_upstream() {
    let Some((reg, tg)) = tollgate_before_registry() else {
        return;
    };
    let http = tg.admin();
    let up = reg.http();
    let img = TinyImage::new();

    // the layer goes up in two chunks
    let data = &img.layer.data;
    let split = data.len() / 2;
    let loc = http.start_upload("dev/app");
    let r = http.patch_chunk(&loc, 0, &data[..split]);
    r.expect_status(202, "PATCH chunk 1");
    let r = http.patch_chunk(&http.url(&r.location()), split, &data[split..]);
    r.expect_status(202, "PATCH chunk 2").expect_header(
        "Range",
        &format!("0-{}", data.len() - 1),
        "PATCH chunk 2",
    );
    http.put_upload(&http.url(&r.location()), &img.layer.digest, Vec::new())
        .expect_status(201, "closing PUT");

    let r = up.head(&format!("/v2/dev/app/blobs/{}", img.layer.digest));
    r.expect_status(200, "upstream HEAD of the chunked blob");
    let r = up.get(&format!("/v2/dev/app/blobs/{}", img.layer.digest));
    assert_eq!(&r.body, data, "upstream holds different bytes");

    // a bigger blob in three chunks
    let big = pseudo_random_bytes(3 * 1024 * 1024 + 17, 11);
    let big_digest = sha256_digest(&big);
    let mut loc = http.start_upload("dev/app");
    let mut offset = 0;
    for chunk in big.chunks(1024 * 1024 + 5) {
        let r = http.patch_chunk(&loc, offset, chunk);
        r.expect_status(202, "PATCH big chunk");
        offset += chunk.len();
        loc = http.url(&r.location());
    }
    http.put_upload(&loc, &big_digest, Vec::new())
        .expect_status(201, "close big upload");
    let r = up.get(&format!("/v2/dev/app/blobs/{big_digest}"));
    r.expect_status(200, "upstream GET big blob");
    assert!(r.body == big, "big blob differs upstream");

    // config + manifest, then everything is visible upstream and pulls back through Tollgate
    http.push_blob("dev/app", &img.config.data);
    let r = http.put_manifest("dev/app", "1.0.0", OCI_MANIFEST, &img.manifest);
    r.expect_status(201, "PUT manifest");
    let r = up.get_manifest("dev/app", &img.digest);
    r.expect_status(200, "upstream GET manifest by digest");
    assert_eq!(r.body, img.manifest);

    let r = http.get(&format!("/v2/dev/app/blobs/{big_digest}"));
    r.expect_status(200, "pull big blob through Tollgate");
    assert!(r.body == big, "pulled bytes differ");
    let r = http.get_manifest("dev/app", "1.0.0");
    r.expect_status(200, "pull manifest through Tollgate")
        .expect_content_headers(
            &img.digest,
            img.manifest.len(),
            Some(OCI_MANIFEST),
            "pull manifest through Tollgate",
        );
    assert_eq!(r.body, img.manifest);
}

#[test]
fn wrong_digest_push_leaves_nothing_upstream() {
    let Some((reg, tg)) = tollgate_before_registry() else {
        return;
    };
    let http = tg.admin();
    let up = reg.http();
    let data = pseudo_random_bytes(100_000, 12);
    let real = sha256_digest(&data);
    let claimed = sha256_digest(b"claimed but not sent");

    let loc = http.start_upload("dev/app");
    http.put_upload(&loc, &claimed, data.clone())
        .expect_oci_error(400, "DIGEST_INVALID", "monolithic PUT with wrong digest");

    let loc = http.start_upload("dev/app");
    let r = http.patch_chunk(&loc, 0, &data);
    r.expect_status(202, "PATCH");
    http.put_upload(&http.url(&r.location()), &claimed, Vec::new())
        .expect_oci_error(
            400,
            "DIGEST_INVALID",
            "chunked upload closed with wrong digest",
        );

    for d in [&claimed, &real] {
        up.head(&format!("/v2/dev/app/blobs/{d}"))
            .expect_status(404, "upstream HEAD after refused upload");
        http.head(&format!("/v2/dev/app/blobs/{d}"))
            .expect_status(404, "Tollgate HEAD after refused upload");
    }
}

#[test]
fn lying_upstream_is_caught_by_digest_check() {
    const LEN: usize = 256 * 1024;
    let fake = FakeUpstream::start(FakeMode::Lying { blob_len: LEN });
    let tg = Tollgate::start(TollgateOpts::upstream(fake.url()));
    let http = tg.admin();
    let honest = pseudo_random_bytes(LEN, 13);
    let digest = sha256_digest(&honest);
    assert_ne!(digest, sha256_digest(&lying_bytes(LEN)));

    let started = Instant::now();
    let outcome = http.try_send(http.request(Method::GET, &format!("/v2/x/blobs/{digest}")));
    match &outcome {
        Err(e) => eprintln!("client saw a transport error, as it should: {e}"),
        Ok(r) => assert!(
            !r.is_success() || r.body.len() < LEN,
            "Tollgate delivered a complete body with success although its sha256 differs from {digest} \
             (upstream requests: {:?}):\n{r}",
            fake.requests()
        ),
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        fake.requests()
            .iter()
            .any(|l| l.starts_with("GET ") && l.contains(&digest)),
        "Tollgate never fetched the blob upstream; upstream saw {:?}; client got {outcome:?}",
        fake.requests()
    );

    // the mismatch is counted
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = tg.metric_value("tollgate_digest_mismatches_total");
        if v.is_some_and(|v| v >= 1.0) {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "tollgate_digest_mismatches_total is {v:?}, expected >= 1\n{}",
                tg.metrics()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn hanging_upstream_times_out_with_gateway_error() {
    let fake = FakeUpstream::start(FakeMode::Hanging);
    let config = format!("[upstream]\nurl = \"{}\"\ntimeout_secs = 3\n", fake.url());
    let tg = Tollgate::start(TollgateOpts::config(config));
    let http = tg.admin();
    let digest = sha256_digest(b"anything");

    let started = Instant::now();
    let r = http.get(&format!("/v2/x/blobs/{digest}"));
    let took = started.elapsed();
    r.expect_gateway_error(&[502, 503, 504], "blob GET against a hanging upstream");
    assert!(took < Duration::from_secs(40), "answer took {took:?}");

    let data = b"some bytes".to_vec();
    let started = Instant::now();
    let r = http.post(
        &format!("/v2/x/blobs/uploads/?digest={}", sha256_digest(&data)),
        data,
    );
    let took = started.elapsed();
    r.expect_gateway_error(
        &[502, 503, 504],
        "single POST upload against a hanging upstream",
    );
    assert!(took < Duration::from_secs(40), "answer took {took:?}");
    assert!(
        !fake.requests().is_empty(),
        "Tollgate never connected to the configured upstream"
    );
}

#[test]
fn upstream_down_gives_gateway_error() {
    let dead = free_port(); // nothing listens there
    let tg = Tollgate::start(TollgateOpts::upstream(format!("http://127.0.0.1:{dead}")));
    let http = tg.admin();
    let digest = sha256_digest(b"anything");

    let started = Instant::now();
    let r = http.get(&format!("/v2/x/blobs/{digest}"));
    r.expect_gateway_error(&[502, 503], "blob GET with the upstream down");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );

    let data = b"payload".to_vec();
    let started = Instant::now();
    let r = http.post(
        &format!("/v2/x/blobs/uploads/?digest={}", sha256_digest(&data)),
        data,
    );
    r.expect_gateway_error(&[502, 503], "single POST upload with the upstream down");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}
