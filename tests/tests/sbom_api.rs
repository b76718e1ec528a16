//! SBOMs through the gateway: pushed as an OCI referrer of an image, posted through the API for
//! a non-OCI artifact, and found again by where-used queries (by package, version range and
//! licence), with malformed documents refused and nothing half-indexed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sbom")
            .join(rel),
    )
    .expect("fixture")
}

const CDX: &str = "application/vnd.cyclonedx+json";

fn components(http: &Http, query: &str) -> Value {
    let r = http.get(&format!("/api/v1/sbom/components?{query}"));
    r.expect_status(200, query);
    r.json()
}

#[test]
fn sbom_referrer_and_posted_sbom_answer_where_used() {
    let tg = Tollgate::start(TollgateOpts::default());
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_image("prod/shop", "1.0.0", &img);

    // the dropwizard CycloneDX SBOM as a referrer of the image
    http.push_blob("prod/shop", &Blob::empty().data);
    let sbom = Blob::new(CDX, fixture("cyclonedx/dropwizard-1.3.15.cdx-1.2.json"));
    http.push_blob("prod/shop", &sbom.data);
    let (m, d) = artifact_manifest(
        CDX,
        &sbom,
        Some(img.manifest_descriptor()),
        &BTreeMap::new(),
    );
    http.put_manifest("prod/shop", &d, OCI_MANIFEST, &m)
        .expect_status(201, "SBOM referrer");
    // pushing it again changes nothing
    http.put_manifest("prod/shop", &d, OCI_MANIFEST, &m)
        .expect_status(201, "SBOM referrer again");

    let rec = http
        .get(&format!("/api/v1/artifacts/{}", img.digest))
        .json();
    assert_eq!(rec["sboms"].as_array().map(Vec::len), Some(1), "{rec}");
    assert_eq!(rec["sboms"][0]["components"], 167, "{rec}");
    assert_eq!(rec["sboms"][0]["source"], "referrer", "{rec}");

    // where is jackson-databind? in prod/shop, environment prod
    let v = components(
        &http,
        "purl=pkg:maven/com.fasterxml.jackson.core/jackson-databind",
    );
    let arts = v["artifacts"].as_array().expect("artifacts");
    assert_eq!(arts.len(), 1, "{v}");
    assert_eq!(arts[0]["artifact"], img.digest.as_str());
    // pushed straight into prod/, never promoted there: in no environment
    assert_eq!(arts[0]["environments"], json!([]), "{v}");
    assert_eq!(arts[0]["repositories"][0]["repository"], "prod/shop", "{v}");
    let version = arts[0]["components"][0]["version"]
        .as_str()
        .expect("version")
        .to_string();

    // a version range in Maven ordering: the present version is inside <99 and outside <1
    let v = components(
        &http,
        "purl=pkg:maven/com.fasterxml.jackson.core/jackson-databind&range=%3C99",
    );
    assert_eq!(v["artifacts"].as_array().map(Vec::len), Some(1), "{v}");
    let v = components(
        &http,
        "purl=pkg:maven/com.fasterxml.jackson.core/jackson-databind&range=%3C1.0",
    );
    assert_eq!(v["artifacts"].as_array().map(Vec::len), Some(0), "{v}");
    let v = components(
        &http,
        &format!("purl=pkg:maven/com.fasterxml.jackson.core/jackson-databind@{version}"),
    );
    assert_eq!(v["artifacts"].as_array().map(Vec::len), Some(1), "{v}");
    // a package nobody has
    let v = components(&http, "purl=pkg:npm/left-pad");
    assert_eq!(v["artifacts"], json!([]), "{v}");

    // the alpine SPDX SBOM posted for a tarball Tollgate never stored
    let tarball = sha256_digest(b"alpine rootfs tarball");
    let r = http.post(
        &format!("/api/v1/artifacts/{tarball}/sboms"),
        fixture("spdx/alpine-latest.syft.spdx-2.2.json"),
    );
    r.expect_status(201, "posted SPDX SBOM");
    let again = http.post(
        &format!("/api/v1/artifacts/{tarball}/sboms"),
        fixture("spdx/alpine-latest.syft.spdx-2.2.json"),
    );
    again.expect_status(200, "the same SBOM again is idempotent");
    let v = components(&http, "license=GPL-2.0-only");
    let arts = v["artifacts"].as_array().expect("artifacts");
    let alpine = arts
        .iter()
        .find(|a| a["artifact"] == tarball.as_str())
        .expect("alpine listed");
    assert_eq!(
        alpine["components"].as_array().map(Vec::len),
        Some(6),
        "{v}"
    );
    // the deprecated spelling finds the same packages
    let v2 = components(&http, "license=GPL-2.0");
    let alpine2 = v2["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["artifact"] == tarball.as_str())
        .cloned();
    assert_eq!(
        alpine2.and_then(|a| a["components"].as_array().map(Vec::len)),
        Some(6),
        "{v2}"
    );
    let v = components(&http, "purl=pkg:alpine/busybox");
    assert_eq!(
        v["artifacts"][0]["components"][0]["version"], "1.35.0-r17",
        "{v}"
    );

    // the same questions from the command line
    let out = tollgate_cli(&[
        "sbom",
        "search",
        "--url",
        &tg.base_url(),
        "--token",
        &tg.admin_token,
        "--purl",
        "pkg:maven/com.fasterxml.jackson.core/jackson-databind",
        "--range",
        "<99",
    ]);
    assert!(out.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        cli["artifacts"][0]["artifact"],
        img.digest.as_str(),
        "{cli}"
    );
    let out = tollgate_cli(&[
        "sbom",
        "search",
        "--url",
        &tg.base_url(),
        "--token",
        &tg.admin_token,
        "--license",
        "GPL-2.0-only",
    ]);
    assert!(out.success());
    let out = tollgate_cli(&[
        "sbom",
        "search",
        "--url",
        &tg.base_url(),
        "--token",
        &tg.admin_token,
    ]);
    assert!(!out.success(), "a search needs a question");

    // the document comes back as it went in
    let r = http.get(&format!("/api/v1/artifacts/{tarball}/sbom"));
    r.expect_status(200, "export");
    assert_eq!(r.body, fixture("spdx/alpine-latest.syft.spdx-2.2.json"));

    // once an image is deleted from its last repository, where-used no longer names it
    let scratch = TinyImage::new();
    http.push_image("scratch/app", "latest", &scratch);
    http.post(
        &format!("/api/v1/artifacts/{}/sboms", scratch.digest),
        fixture("cyclonedx/dropwizard-1.3.15.cdx-1.2.json"),
    )
    .expect_status(201, "SBOM for the scratch image");
    let named = |v: &Value| -> Vec<String> {
        v["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["artifact"].as_str().unwrap().to_string())
            .collect()
    };
    let q = "purl=pkg:maven/com.fasterxml.jackson.core/jackson-databind";
    assert!(named(&components(&http, q)).contains(&scratch.digest));
    http.delete(&format!("/v2/scratch/app/manifests/{}", scratch.digest))
        .expect_status(202, "delete the scratch image");
    let v = components(&http, q);
    assert_eq!(named(&v), vec![img.digest.clone()], "{v}");
    let v = components(&http, "license=Apache-2.0");
    assert!(!named(&v).contains(&scratch.digest), "{v}");
}

#[test]
fn malformed_sboms_are_refused_and_nothing_is_indexed() {
    let tg = Tollgate::start(TollgateOpts::default());
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_image("dev/app", "1.0.0", &img);
    let whole = fixture("cyclonedx/laravel-7.12.0.cdx-1.4.json");
    let truncated = whole[..whole.len() / 2].to_vec();

    // through the API
    let target = sha256_digest(b"some file");
    let r = http.post(
        &format!("/api/v1/artifacts/{target}/sboms"),
        truncated.clone(),
    );
    r.expect_status(400, "truncated SBOM");
    assert!(r.text().contains("sbom-malformed"), "{r}");
    // as a referrer
    http.push_blob("dev/app", &Blob::empty().data);
    let bad = Blob::new(CDX, truncated);
    http.push_blob("dev/app", &bad.data);
    let (m, d) = artifact_manifest(CDX, &bad, Some(img.manifest_descriptor()), &BTreeMap::new());
    let r = http.put_manifest("dev/app", &d, OCI_MANIFEST, &m);
    r.expect_oci_error(400, "MANIFEST_INVALID", "truncated SBOM referrer");
    assert!(r.text().contains("sbom-malformed"), "{r}");
    http.get_manifest("dev/app", &d)
        .expect_status(404, "the refused referrer is not stored");
    let v = components(&http, "purl=pkg:composer/laravel/framework");
    assert_eq!(v["artifacts"], json!([]), "nothing half-indexed: {v}");
    let rec = http
        .get(&format!("/api/v1/artifacts/{}", img.digest))
        .json();
    assert_eq!(rec["sboms"], json!([]), "{rec}");
    // bad queries
    http.get("/api/v1/sbom/components?purl=notapurl")
        .expect_status(400, "bad purl");
    http.get("/api/v1/sbom/components")
        .expect_status(400, "no query");
    http.get("/api/v1/sbom/components?purl=pkg:npm/x&range=%3C%3C1")
        .expect_status(400, "bad range");
    tg.anon()
        .get("/api/v1/sbom/components?license=MIT")
        .expect_status(401, "anonymous");
}

/// The (artifact, component) pairs of one where-used answer, in the order given.
fn hits_of(v: &Value) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    for a in v["artifacts"].as_array().expect("artifacts") {
        for c in a["components"].as_array().expect("components") {
            out.push((a["artifact"].clone(), c.clone()));
        }
    }
    out
}

/// Follows `Link: rel="next"` from `first` to the last page; every page's body `next` must be
/// the cursor its link carries. Returns the hits of all pages and the number of pages.
fn walk_pages(http: &Http, first: &str) -> (Vec<(Value, Value)>, usize) {
    let mut url = first.to_string();
    let mut hits = Vec::new();
    for pages in 1.. {
        let r = http.get(&url);
        r.expect_status(200, &url);
        let v = r.json();
        hits.extend(hits_of(&v));
        match (v["next"].as_str(), r.header("link")) {
            (None, None) => return (hits, pages),
            (Some(next), Some(link)) => {
                let target = link
                    .strip_prefix('<')
                    .and_then(|l| l.strip_suffix(">; rel=\"next\""))
                    .unwrap_or_else(|| panic!("Link header {link:?}"));
                assert!(
                    target.contains(&format!("cursor={next}")),
                    "{link} vs {next}"
                );
                assert!(target.starts_with("/api/v1/sbom/components?"), "{link}");
                url = target.to_string();
            }
            (next, link) => panic!("{url}: next {next:?} but Link {link:?}"),
        }
        assert!(pages < 1000, "{first}: no end of pages");
    }
    unreachable!()
}

#[test]
fn where_used_answers_in_pages_that_walk_every_hit_once() {
    let tg = Tollgate::start(TollgateOpts::default());
    let http = tg.admin();
    // the Juice Shop SBOM (1,115 npm components, 937 of them MIT) for three builds
    let doc = fixture("cyclonedx/juice-shop-14.1.1.cdx-1.4.json");
    let builds: Vec<String> = (0..3)
        .map(|i| sha256_digest(format!("juice shop build {i}").as_bytes()))
        .collect();
    for b in &builds {
        http.post(&format!("/api/v1/artifacts/{b}/sboms"), doc.clone())
            .expect_status(201, "posted Juice Shop SBOM");
    }

    // The default page is 500 hits: 2,811 MIT components need six pages.
    let first = components(&http, "license=MIT");
    assert_eq!(hits_of(&first).len(), 500, "default page size");
    assert!(first["next"].is_string(), "{}", first["next"]);
    let whole = components(&http, "license=MIT&limit=10000");
    assert!(whole["next"].is_null(), "one page holds it all");
    assert_eq!(hits_of(&whole).len(), 3 * 937);
    // limits beyond the maximum are cut to it, and a limit of 0 is one hit
    let capped = components(&http, "license=MIT&limit=1000000");
    assert_eq!(hits_of(&capped), hits_of(&whole));
    assert_eq!(hits_of(&components(&http, "license=MIT&limit=0")).len(), 1);

    for (query, limit, pages) in [
        ("license=MIT", 400, 8),
        ("license=MIT", 937, 3),
        ("purl=pkg:npm/kind-of", 7, 9),
        ("purl=pkg:npm/kind-of&range=%3E%3D6.0.0", 2, 0),
        ("purl=pkg:npm/kind-of@3.2.2", 1, 0),
        ("license=Apache-2.0&environment=prod", 5, 0),
    ] {
        let unpaged = hits_of(&components(&http, &format!("{query}&limit=10000")));
        assert!(
            !unpaged.is_empty() || query.contains("environment"),
            "{query}"
        );
        let (walked, n) = walk_pages(
            &http,
            &format!("/api/v1/sbom/components?{query}&limit={limit}"),
        );
        assert_eq!(walked, unpaged, "{query} in pages of {limit}");
        // Pages count index hits, before the environment filter: a page may list no artifact.
        let all_hits = hits_of(&components(
            &http,
            &format!("{}&limit=10000", query.replace("&environment=prod", "")),
        ));
        assert_eq!(
            n,
            all_hits.len().div_ceil(limit),
            "{query} in pages of {limit}"
        );
        if pages > 0 {
            assert_eq!(n, pages, "{query} in pages of {limit}");
        }
    }

    // An SBOM posted between pages: the walk goes on, nothing is returned twice.
    let page = components(&http, "purl=pkg:npm/kind-of&limit=10");
    let late = sha256_digest(b"juice shop build late");
    http.post(&format!("/api/v1/artifacts/{late}/sboms"), doc.clone())
        .expect_status(201, "posted between pages");
    let (rest, _) = walk_pages(
        &http,
        &format!(
            "/api/v1/sbom/components?purl=pkg:npm/kind-of&limit=10&cursor={}",
            page["next"].as_str().expect("more than 10")
        ),
    );
    let mut seen = hits_of(&page);
    seen.extend(rest);
    let now = hits_of(&components(&http, "purl=pkg:npm/kind-of&limit=10000"));
    assert_eq!(now.len(), 4 * 19);
    // The first page ended inside the first artifact (in digest order, as the index keeps
    // them): the late one is walked over only when its digest sorts after that artifact's.
    let first_artifact = seen[0].0.as_str().unwrap().to_string();
    assert!(seen[..10].iter().all(|h| h.0 == first_artifact.as_str()));
    let expected: Vec<_> = now
        .iter()
        .filter(|h| h.0 != late.as_str() || late > first_artifact)
        .cloned()
        .collect();
    assert_eq!(seen, expected, "every hit once, in index order");

    // Invalid cursors: 400, the API's error envelope, reason cursor-invalid.
    let token = first["next"].as_str().unwrap().to_string();
    for (what, query) in [
        ("garbage", "license=MIT&cursor=not-a-cursor".to_string()),
        ("bad base64", "license=MIT&cursor=%25%25%25".to_string()),
        ("empty", "license=MIT&cursor=".to_string()),
        (
            "another query's cursor",
            format!("purl=pkg:npm/kind-of&cursor={token}"),
        ),
        (
            "another licence's cursor",
            format!("license=ISC&cursor={token}"),
        ),
        (
            "cut in half",
            format!("license=MIT&cursor={}", &token[..token.len() / 2]),
        ),
    ] {
        let r = http.get(&format!("/api/v1/sbom/components?{query}"));
        r.expect_oci_error(400, "BAD_REQUEST", what);
        let v = r.json();
        assert_eq!(
            v["errors"][0]["detail"]["reason"], "cursor-invalid",
            "{what}: {v}"
        );
    }

    // `tollgate sbom search` follows every page.
    let out = tollgate_cli(&[
        "sbom",
        "search",
        "--url",
        &tg.base_url(),
        "--token",
        &tg.admin_token,
        "--license",
        "MIT",
    ]);
    assert!(out.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).expect("json");
    let arts = cli["artifacts"].as_array().expect("artifacts");
    assert_eq!(arts.len(), 4, "each build once");
    assert!(
        arts.iter()
            .all(|a| a["components"].as_array().map(Vec::len) == Some(937)),
        "every MIT component of every build"
    );
}
