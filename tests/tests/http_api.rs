//! The OCI distribution API over plain HTTP (embedded mode): uploads, mounts, tags, referrers,
//! deletes, exact manifest bytes, every error code we can provoke, and the management API.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use tollgate_e2e::reqwest::Method;
use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

fn start() -> Tollgate {
    Tollgate::start(TollgateOpts::default())
}

#[test]
fn health_metrics_and_admin_token_file() {
    let tg = start();
    let anon = tg.anon();
    anon.get("/healthz").expect_status(200, "GET /healthz");
    anon.get("/readyz").expect_status(200, "GET /readyz");

    let mode = std::fs::metadata(tg.data_dir().join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "admin-token mode is {:o}",
        mode & 0o777
    );
    assert!(
        tg.stdout().contains(&tg.admin_token),
        "first start prints the admin token on stdout"
    );

    let r = tg.admin().get("/v2/");
    r.expect_status(200, "GET /v2/ with admin token");

    let metrics = tg.metrics();
    assert!(metrics.contains("# TYPE"), "not Prometheus text: {metrics}");
}

#[test]
fn chunked_upload_roundtrip() {
    let tg = start();
    let http = tg.admin();
    let data = pseudo_random_bytes(300_000, 1);
    let digest = sha256_digest(&data);
    let (a, b) = data.split_at(123_457);

    let loc = http.start_upload("dev/chunked");
    let r = http.patch_chunk(&loc, 0, a);
    r.expect_status(202, "PATCH chunk 1").expect_header(
        "Range",
        &format!("0-{}", a.len() - 1),
        "PATCH chunk 1",
    );
    let loc = http.url(&r.location());

    let r = http.patch_chunk(&loc, a.len(), b);
    r.expect_status(202, "PATCH chunk 2").expect_header(
        "Range",
        &format!("0-{}", data.len() - 1),
        "PATCH chunk 2",
    );
    let loc = http.url(&r.location());

    let r = http.put_upload(&loc, &digest, Vec::new());
    r.expect_status(201, "PUT closing chunked upload")
        .expect_header(
            "Docker-Content-Digest",
            &digest,
            "PUT closing chunked upload",
        );
    assert!(r.header("Location").is_some(), "{r}");

    let r = http.get(&format!("/v2/dev/chunked/blobs/{digest}"));
    r.expect_status(200, "GET blob")
        .expect_header("Docker-Content-Digest", &digest, "GET blob");
    assert!(r.body == data, "blob bytes differ ({} bytes)", r.body.len());
}

#[test]
fn out_of_order_chunk_is_416_and_upload_is_resumable() {
    let tg = start();
    let http = tg.admin();
    let data = pseudo_random_bytes(30, 2);
    let digest = sha256_digest(&data);

    let loc = http.start_upload("dev/chunks");
    let r = http.patch_chunk(&loc, 0, &data[..10]);
    r.expect_status(202, "first chunk");
    let loc = http.url(&r.location());

    // skip bytes 10..20
    let r = http.patch_chunk(&loc, 20, &data[20..]);
    r.expect_oci_error(416, "RANGE_INVALID", "out-of-order chunk");

    // status of the upload: 204 + Range + Location
    let r = http.get(&loc);
    r.expect_status(204, "GET upload status")
        .expect_header("Range", "0-9", "GET upload status");
    let loc = http.url(&r.location());

    let r = http.patch_chunk(&loc, 10, &data[10..20]);
    r.expect_status(202, "resumed chunk");
    let loc = http.url(&r.location());
    // the final chunk travels with the closing PUT
    let r = http.send(
        http.request(Method::PUT, &with_query(&loc, &format!("digest={digest}")))
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", "20-29")
            .body(data[20..].to_vec()),
    );
    r.expect_status(201, "closing PUT with final chunk");
    let r = http.get(&format!("/v2/dev/chunks/blobs/{digest}"));
    r.expect_status(200, "GET blob");
    assert_eq!(r.body, data);
}

#[test]
fn monolithic_and_single_post_uploads() {
    let tg = start();
    let http = tg.admin();

    // POST + PUT
    let data = pseudo_random_bytes(5000, 3);
    let digest = sha256_digest(&data);
    let loc = http.start_upload("dev/mono");
    let r = http.put_upload(&loc, &digest, data.clone());
    r.expect_status(201, "monolithic PUT");
    assert!(r.header("Location").is_some(), "{r}");

    let r = http.head(&format!("/v2/dev/mono/blobs/{digest}"));
    r.expect_status(200, "HEAD blob")
        .expect_content_headers(&digest, 5000, None, "HEAD blob");
    assert!(r.body.is_empty(), "{r}");
    let r = http.get(&format!("/v2/dev/mono/blobs/{digest}"));
    r.expect_status(200, "GET blob");
    assert_eq!(r.body, data);

    // single request POST ?digest=
    let data = pseudo_random_bytes(777, 4);
    let digest = sha256_digest(&data);
    let r = http.post(
        &format!("/v2/dev/mono/blobs/uploads/?digest={digest}"),
        data.clone(),
    );
    r.expect_status(201, "single-request POST ?digest=");
    assert!(r.header("Location").is_some(), "{r}");
    let r = http.get(&format!("/v2/dev/mono/blobs/{digest}"));
    r.expect_status(200, "GET single-POST blob");
    assert_eq!(r.body, data);
}

#[test]
fn wrong_digest_is_rejected_and_nothing_becomes_visible() {
    let tg = start();
    let http = tg.admin();
    let data = pseudo_random_bytes(4096, 5);
    let real = sha256_digest(&data);
    let claimed = sha256_digest(b"something else entirely");

    let loc = http.start_upload("dev/wrong");
    let r = http.put_upload(&loc, &claimed, data.clone());
    r.expect_oci_error(400, "DIGEST_INVALID", "PUT with wrong digest");
    for d in [&claimed, &real] {
        let r = http.head(&format!("/v2/dev/wrong/blobs/{d}"));
        r.expect_status(404, "HEAD after failed upload");
    }

    // chunked, then a wrong digest on close
    let loc = http.start_upload("dev/wrong");
    let r = http.patch_chunk(&loc, 0, &data);
    r.expect_status(202, "PATCH");
    let r = http.put_upload(&http.url(&r.location()), &claimed, Vec::new());
    r.expect_oci_error(400, "DIGEST_INVALID", "closing PUT with wrong digest");
    for d in [&claimed, &real] {
        http.head(&format!("/v2/dev/wrong/blobs/{d}"))
            .expect_status(404, "HEAD after failed chunked upload");
    }

    // single POST with a wrong digest
    let r = http.post(
        &format!("/v2/dev/wrong/blobs/uploads/?digest={claimed}"),
        data,
    );
    r.expect_oci_error(400, "DIGEST_INVALID", "single POST with wrong digest");
    for d in [&claimed, &real] {
        http.head(&format!("/v2/dev/wrong/blobs/{d}"))
            .expect_status(404, "HEAD after failed single POST");
    }
}

#[test]
fn cross_repository_mount() {
    let tg = start();
    let http = tg.admin();
    let data = pseudo_random_bytes(2048, 6);
    let digest = http.push_blob("dev/source", &data);

    let r = http.post_upload("dev/target", &format!("mount={digest}&from=dev/source"));
    r.expect_status(201, "mount of an existing blob");
    assert!(r.header("Location").is_some(), "{r}");
    let r = http.get(&format!("/v2/dev/target/blobs/{digest}"));
    r.expect_status(200, "GET mounted blob");
    assert_eq!(r.body, data);

    // a blob that exists nowhere: falls back to a normal upload session
    let missing = sha256_digest(b"never uploaded anywhere");
    let r = http.post_upload("dev/target", &format!("mount={missing}&from=dev/source"));
    r.expect_status(202, "mount of an unknown blob");
    let loc = http.url(&r.location());
    // the session works
    let data = pseudo_random_bytes(100, 7);
    let digest = sha256_digest(&data);
    http.put_upload(&loc, &digest, data)
        .expect_status(201, "PUT on fallback session");
}

#[test]
fn tags_list_pagination() {
    let tg = start();
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_image("dev/tags", "a", &img);
    for tag in ["e", "c", "b", "d"] {
        http.put_manifest("dev/tags", tag, OCI_MANIFEST, &img.manifest)
            .expect_status(201, "PUT manifest under another tag");
    }

    let r = http.get("/v2/dev/tags/tags/list");
    r.expect_status(200, "tags list");
    let v = r.json();
    assert_eq!(v["name"], "dev/tags");
    assert_eq!(v["tags"], json!(["a", "b", "c", "d", "e"]), "{r}");

    let r = http.get("/v2/dev/tags/tags/list?n=2");
    r.expect_status(200, "tags list n=2");
    assert_eq!(r.json()["tags"], json!(["a", "b"]), "{r}");
    let link = r
        .header("Link")
        .unwrap_or_else(|| panic!("n=2 with more tags must send Link: {r}"));
    assert!(link.contains("rel=\"next\""), "{link}");
    assert!(link.contains("last=b"), "{link}");
    assert!(link.contains("n=2"), "{link}");
    let next = link
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(u, _)| u.to_string())
        .unwrap_or_else(|| panic!("unparsable Link {link}"));
    let r = http.get(&next);
    r.expect_status(200, "follow Link");
    assert_eq!(r.json()["tags"], json!(["c", "d"]), "{r}");

    let r = http.get("/v2/dev/tags/tags/list?n=2&last=d");
    r.expect_status(200, "last page");
    assert_eq!(r.json()["tags"], json!(["e"]), "{r}");
    assert!(r.header("Link").is_none(), "no Link on the last page: {r}");

    let r = http.get("/v2/dev/tags/tags/list?last=c");
    r.expect_status(200, "last=c");
    assert_eq!(r.json()["tags"], json!(["d", "e"]), "{r}");

    let r = http.get("/v2/dev/tags/tags/list?n=0");
    r.expect_status(200, "n=0");
    let tags = r.json()["tags"].clone();
    assert!(
        tags.is_null() || tags == json!([]),
        "n=0 gives an empty list: {r}"
    );
    assert!(r.header("Link").is_none(), "n=0 sends no Link: {r}");

    for bad in ["abc", "-1"] {
        let r = http.get(&format!("/v2/dev/tags/tags/list?n={bad}"));
        r.expect_oci_error(400, "PAGINATION_NUMBER_INVALID", &format!("n={bad}"));
    }

    let r = http.get("/v2/dev/never-pushed/tags/list");
    r.expect_oci_error(404, "NAME_UNKNOWN", "tags of an unknown repository");
}

#[test]
fn error_codes() {
    let tg = start();
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_image("dev/app", "1.0.0", &img);

    // malformed digests
    http.get("/v2/dev/app/blobs/sha256:xyz").expect_oci_error(
        400,
        "DIGEST_INVALID",
        "GET blob with malformed digest",
    );
    http.get_manifest("dev/app", "sha256:1234")
        .expect_oci_error(400, "DIGEST_INVALID", "GET manifest with malformed digest");
    http.get("/v2/dev/app/referrers/sha256:nothex")
        .expect_oci_error(400, "DIGEST_INVALID", "referrers with malformed digest");
    let loc = http.start_upload("dev/app");
    http.put_upload(&loc, "sha256:short", b"abc".to_vec())
        .expect_oci_error(400, "DIGEST_INVALID", "PUT upload with malformed digest");

    // invalid names
    http.get_manifest("Dev/App", "latest").expect_oci_error(
        400,
        "NAME_INVALID",
        "uppercase repository name",
    );
    http.get("/v2/dev/bad..name/tags/list").expect_oci_error(
        400,
        "NAME_INVALID",
        "repository name with ..",
    );

    // unknown things
    http.get_manifest("dev/app", "no-such-tag")
        .expect_oci_error(404, "MANIFEST_UNKNOWN", "unknown tag");
    let unknown = sha256_digest(b"no such content");
    http.get_manifest("dev/app", &unknown).expect_oci_error(
        404,
        "MANIFEST_UNKNOWN",
        "unknown manifest digest",
    );
    http.head_manifest("dev/app", "no-such-tag")
        .expect_status(404, "HEAD unknown manifest");
    http.get(&format!("/v2/dev/app/blobs/{unknown}"))
        .expect_oci_error(404, "BLOB_UNKNOWN", "unknown blob");
    http.head(&format!("/v2/dev/app/blobs/{unknown}"))
        .expect_status(404, "HEAD unknown blob");
    let bogus_upload = "/v2/dev/app/blobs/uploads/00000000-0000-4000-8000-000000000000";
    http.get(bogus_upload)
        .expect_oci_error(404, "BLOB_UPLOAD_UNKNOWN", "status of unknown upload");
    http.patch_chunk(bogus_upload, 0, b"abc").expect_oci_error(
        404,
        "BLOB_UPLOAD_UNKNOWN",
        "PATCH unknown upload",
    );
    http.put_upload(bogus_upload, &sha256_digest(b"abc"), b"abc".to_vec())
        .expect_oci_error(404, "BLOB_UPLOAD_UNKNOWN", "PUT unknown upload");

    // invalid manifests
    http.put_manifest("dev/app", "broken", OCI_MANIFEST, b"{not json")
        .expect_oci_error(400, "MANIFEST_INVALID", "manifest that is not JSON");
    http.put_manifest(
        "dev/app",
        "broken2",
        OCI_MANIFEST,
        br#"{"schemaVersion":1,"name":"x"}"#,
    )
    .expect_oci_error(400, "MANIFEST_INVALID", "schema 1 manifest");

    // pushing by digest: the URL digest must match the bytes
    let (bytes, _) = img.variant("by-digest");
    http.put_manifest("dev/app", &unknown, OCI_MANIFEST, &bytes)
        .expect_oci_error(
            400,
            "DIGEST_INVALID",
            "manifest PUT by a non-matching digest",
        );

    // pagination
    http.get("/v2/dev/app/tags/list?n=lots").expect_oci_error(
        400,
        "PAGINATION_NUMBER_INVALID",
        "tags list n=lots",
    );
}

#[test]
fn oversized_manifest_is_413() {
    let tg = start();
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_blob("dev/big", &img.config.data);
    http.push_blob("dev/big", &img.layer.data);
    let (bytes, _) = img.annotated("pad", &"x".repeat(4 * 1024 * 1024 + 64 * 1024));
    assert!(bytes.len() > 4 * 1024 * 1024);
    let r = http
        .try_send(
            http.request(Method::PUT, "/v2/dev/big/manifests/huge")
                .header("Content-Type", OCI_MANIFEST)
                .body(bytes),
        )
        .unwrap_or_else(|e| panic!("the server must answer 413, not drop the request: {e}"));
    r.expect_status(413, "manifest over 4 MiB");
    assert!(
        r.json().get("errors").is_some_and(Value::is_array),
        "413 carries an OCI error body: {r}"
    );
    http.get_manifest("dev/big", "huge")
        .expect_status(404, "the oversized manifest was not stored");

    // a manifest just under 4 MiB is accepted (the spec says accept at least 4 MiB)
    let (bytes, _) = img.annotated("pad", &"y".repeat(4 * 1024 * 1024 - 4096));
    assert!(bytes.len() < 4 * 1024 * 1024);
    http.put_manifest("dev/big", "large", OCI_MANIFEST, &bytes)
        .expect_status(201, "manifest just under 4 MiB");
}

#[test]
fn manifest_bytes_are_preserved_with_headers() {
    let tg = start();
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_blob("dev/exact", &img.config.data);
    http.push_blob("dev/exact", &img.layer.data);
    let bytes = format!(
        "{{\n   \"schemaVersion\" :  2,\n\t\"mediaType\": \"{OCI_MANIFEST}\" ,\n  \"config\": {{ \"mediaType\": \"{OCI_CONFIG}\", \"size\": {}, \"digest\": \"{}\" }},\n  \"layers\": [\n    {{\"digest\":\"{}\",\"mediaType\":\"{OCI_LAYER_GZIP}\",\"size\":{}}}\n  ] ,\n  \"annotations\": {{\"z\": \"1\", \"a\": \"caf\\u00e9\"}}\n}}\n\n",
        img.config.data.len(),
        img.config.digest,
        img.layer.digest,
        img.layer.data.len()
    )
    .into_bytes();
    let digest = sha256_digest(&bytes);

    let r = http.put_manifest("dev/exact", "latest", OCI_MANIFEST, &bytes);
    r.expect_status(201, "PUT odd-whitespace manifest")
        .expect_header(
            "Docker-Content-Digest",
            &digest,
            "PUT odd-whitespace manifest",
        );
    assert!(r.header("Location").is_some(), "{r}");

    for reference in ["latest", digest.as_str()] {
        let r = http.get_manifest("dev/exact", reference);
        r.expect_status(200, "GET manifest").expect_content_headers(
            &digest,
            bytes.len(),
            Some(OCI_MANIFEST),
            &format!("GET manifest {reference}"),
        );
        assert!(
            r.body == bytes,
            "GET {reference} returned different bytes:\n{}",
            r.text()
        );

        let h = http.head_manifest("dev/exact", reference);
        h.expect_status(200, "HEAD manifest")
            .expect_content_headers(
                &digest,
                bytes.len(),
                Some(OCI_MANIFEST),
                &format!("HEAD manifest {reference}"),
            );
        assert!(h.body.is_empty(), "{h}");
    }

    // pushing by digest works too and yields the same bytes
    let (v, vd) = img.variant("by digest");
    let r = http.put_manifest("dev/exact", &vd, OCI_MANIFEST, &v);
    r.expect_status(201, "PUT manifest by digest")
        .expect_header("Docker-Content-Digest", &vd, "PUT manifest by digest");
    assert_eq!(http.get_manifest("dev/exact", &vd).body, v);
}

#[test]
fn delete_manifest_and_blob() {
    let tg = start();
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_blob("dev/del", &img.config.data);
    http.push_blob("dev/del", &img.layer.data);
    // untagged (pushed by digest): nothing protects it
    http.put_manifest("dev/del", &img.digest, OCI_MANIFEST, &img.manifest)
        .expect_status(201, "PUT manifest by digest");

    let r = http.delete(&format!("/v2/dev/del/manifests/{}", img.digest));
    r.expect_status(202, "DELETE manifest");
    http.get_manifest("dev/del", &img.digest).expect_oci_error(
        404,
        "MANIFEST_UNKNOWN",
        "GET deleted manifest",
    );

    // a manifest only tagged `latest` (mutable) can be deleted too
    let (v, vd) = img.variant("latest only");
    http.put_manifest("dev/del", "latest", OCI_MANIFEST, &v)
        .expect_status(201, "PUT latest");
    http.delete(&format!("/v2/dev/del/manifests/{vd}"))
        .expect_status(202, "DELETE manifest tagged latest");
    http.get_manifest("dev/del", &vd)
        .expect_status(404, "GET deleted manifest");

    // a standalone blob
    let data = pseudo_random_bytes(999, 8);
    let digest = http.push_blob("dev/del", &data);
    http.delete(&format!("/v2/dev/del/blobs/{digest}"))
        .expect_status(202, "DELETE blob");
    http.head(&format!("/v2/dev/del/blobs/{digest}"))
        .expect_status(404, "HEAD deleted blob");
    http.get(&format!("/v2/dev/del/blobs/{digest}"))
        .expect_oci_error(404, "BLOB_UNKNOWN", "GET deleted blob");
}

#[test]
fn referrers_over_http() {
    let tg = start();
    let http = tg.admin();
    let subject = TinyImage::new();
    http.push_image("dev/ref", "1.0.0", &subject);

    // nothing refers to it yet: 200 with an empty index, never 404
    let r = http.get(&format!("/v2/dev/ref/referrers/{}", subject.digest));
    r.expect_status(200, "referrers of a subject without referrers");
    assert_eq!(r.json()["manifests"], json!([]), "{r}");
    let r = http.get(&format!(
        "/v2/dev/ref/referrers/{}",
        sha256_digest(b"unknown subject")
    ));
    r.expect_status(200, "referrers of an unknown subject");

    http.push_blob("dev/ref", &Blob::empty().data);
    let sig = Blob::new(
        "application/vnd.example.signature.v1+json",
        b"{\"sig\":1}".to_vec(),
    );
    let sbom = Blob::new(
        "application/vnd.cyclonedx+json",
        b"{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"version\":1,\"components\":[]}"
            .to_vec(),
    );
    http.push_blob("dev/ref", &sig.data);
    http.push_blob("dev/ref", &sbom.data);
    let mut ann = BTreeMap::new();
    ann.insert("org.example.kind".to_string(), "signature".to_string());
    let (sig_m, sig_d) = artifact_manifest(
        "application/vnd.example.signature.v1+json",
        &sig,
        Some(subject.manifest_descriptor()),
        &ann,
    );
    let (sbom_m, sbom_d) = artifact_manifest(
        "application/vnd.cyclonedx+json",
        &sbom,
        Some(subject.manifest_descriptor()),
        &BTreeMap::new(),
    );
    for (m, d) in [(&sig_m, &sig_d), (&sbom_m, &sbom_d)] {
        let r = http.put_manifest("dev/ref", d, OCI_MANIFEST, m);
        r.expect_status(201, "PUT referrer by digest")
            .expect_header(
                "OCI-Subject",
                &subject.digest,
                "a manifest with a subject answers OCI-Subject",
            );
    }

    // a subject that does not exist (yet) must be accepted
    let ghost = json!({"mediaType": OCI_MANIFEST, "digest": sha256_digest(b"ghost"), "size": 5});
    let (gm, gd) = artifact_manifest(
        "application/vnd.example.x",
        &sig,
        Some(ghost),
        &BTreeMap::new(),
    );
    http.put_manifest("dev/ref", &gd, OCI_MANIFEST, &gm)
        .expect_status(201, "PUT manifest whose subject does not exist");

    let r = http.get(&format!("/v2/dev/ref/referrers/{}", subject.digest));
    r.expect_status(200, "GET referrers");
    let idx = r.json();
    let list = idx["manifests"].as_array().expect("manifests");
    assert_eq!(list.len(), 2, "{r}");
    let sig_entry = list
        .iter()
        .find(|e| e["digest"] == sig_d.as_str())
        .expect("sig listed");
    assert_eq!(
        sig_entry["artifactType"],
        "application/vnd.example.signature.v1+json"
    );
    assert_eq!(sig_entry["size"], sig_m.len());
    assert_eq!(
        sig_entry["annotations"]["org.example.kind"], "signature",
        "{r}"
    );
    assert!(list.iter().any(|e| e["digest"] == sbom_d.as_str()), "{r}");
    assert!(
        r.header("OCI-Filters-Applied").is_none(),
        "no filter applied: {r}"
    );

    let (r, list) =
        http.filtered_referrers("dev/ref", &subject.digest, "application/vnd.cyclonedx+json");
    assert_eq!(list.len(), 1, "{r}");
    assert_eq!(list[0]["digest"], sbom_d.as_str());
}

#[test]
fn artifacts_api() {
    let tg = start();
    let token = tg.create_token("ci", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);
    let img = TinyImage::new();
    http.push_image("dev/app", "1.0.0", &img);

    tg.anon()
        .get(&format!("/api/v1/artifacts/{}", img.digest))
        .expect_status(401, "artifacts API without credentials");

    let r = http.get(&format!("/api/v1/artifacts/{}", img.digest));
    r.expect_status(200, "GET /api/v1/artifacts/{digest}");
    let v = r.json();
    assert_eq!(v["digest"], img.digest.as_str(), "{r}");
    let repos = v["repositories"].as_array().expect("repositories array");
    let entry = repos
        .iter()
        .find(|e| e["repository"] == "dev/app")
        .unwrap_or_else(|| panic!("dev/app missing: {r}"));
    assert!(
        entry["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "1.0.0")),
        "{r}"
    );
    assert_eq!(entry["media_type"], OCI_MANIFEST, "{r}");
    assert_eq!(entry["size"], img.manifest.len(), "{r}");
    assert!(entry.get("subject").is_some(), "subject key present: {r}");
    assert!(
        entry["pushed_by"].to_string().contains("ci"),
        "pushed_by names the token: {r}"
    );
    assert!(
        entry["pushed_at"].as_str().is_some_and(|s| !s.is_empty())
            || entry["pushed_at"].is_number(),
        "{r}"
    );

    let r = http.get("/api/v1/artifacts?repository=dev/app");
    r.expect_status(200, "GET /api/v1/artifacts?repository=dev/app");
    let v = r.json();
    let list = v["artifacts"].as_array().expect("artifacts array");
    assert!(
        list.iter().any(|a| a.to_string().contains(&img.digest)),
        "{r}"
    );

    tg.admin()
        .get(&format!("/api/v1/artifacts/{}", sha256_digest(b"nothing")))
        .expect_status(404, "unknown artifact");
}
