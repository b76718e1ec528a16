//! Policy at the OCI front: tag immutability, SemVer rules, delete rules, roles, tokens.

use std::sync::{Arc, Barrier};
use std::thread;

use tollgate_e2e::reqwest::Method;
use tollgate_e2e::*;

const SEMVER_CONFIG: &str = r#"
[[repositories]]
pattern = "rel/*"
semver = "required"
allow_v_prefix = false
allow_delete = false
immutable_tags = ["*"]
mutable_tags = ["latest"]
"#;

#[test]
fn immutable_tag_cannot_be_rebound() {
    let tg = Tollgate::start(TollgateOpts::default());
    let http = tg.admin();
    let img = TinyImage::new();
    let first = http.push_image("dev/app", "1.0.0", &img);
    let (other, other_digest) = img.variant("different bytes");

    let r = http.put_manifest("dev/app", "1.0.0", OCI_MANIFEST, &other);
    r.expect_denied("tag-immutable", "rebinding immutable tag 1.0.0");
    let r = http.get_manifest("dev/app", "1.0.0");
    r.expect_status(200, "GET 1.0.0 after refused rebind")
        .expect_header("Docker-Content-Digest", &first, "tag moved despite 403");

    // the very same bytes again: idempotent
    http.put_manifest("dev/app", "1.0.0", OCI_MANIFEST, &img.manifest)
        .expect_status(201, "re-push of identical bytes to an immutable tag");

    // latest moves freely
    http.put_manifest("dev/app", "latest", OCI_MANIFEST, &img.manifest)
        .expect_status(201, "PUT latest #1");
    http.put_manifest("dev/app", "latest", OCI_MANIFEST, &other)
        .expect_status(201, "PUT latest #2 (different bytes)");
    http.get_manifest("dev/app", "latest")
        .expect_status(200, "GET latest")
        .expect_header(
            "Docker-Content-Digest",
            &other_digest,
            "latest must point at the newest push",
        );
}

#[test]
fn delete_of_immutable_artifact_is_refused() {
    let tg = Tollgate::start(TollgateOpts::default());
    let http = tg.admin();
    let img = TinyImage::new();
    let digest = http.push_image("dev/app", "2.0.0", &img);

    let r = http.delete(&format!("/v2/dev/app/manifests/{digest}"));
    r.expect_denied(
        "artifact-immutable",
        "admin deleting a manifest behind an immutable tag",
    );
    http.get_manifest("dev/app", "2.0.0")
        .expect_status(200, "still there after refused delete");
    http.get_manifest("dev/app", &digest)
        .expect_status(200, "still there by digest");
}

#[test]
fn semver_rules_and_disabled_deletes_from_config() {
    let tg = Tollgate::start(TollgateOpts::config(SEMVER_CONFIG));
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_blob("rel/app", &img.config.data);
    http.push_blob("rel/app", &img.layer.data);

    for bad in ["latest", "1.2", "v1.2.3", "banana"] {
        let r = http.put_manifest("rel/app", bad, OCI_MANIFEST, &img.manifest);
        r.expect_denied("tag-not-semver", &format!("tag {bad} in rel/*"));
    }
    http.get_manifest("rel/app", "latest")
        .expect_status(404, "refused tag was not created");

    let r = http.put_manifest("rel/app", "1.2.3", OCI_MANIFEST, &img.manifest);
    r.expect_status(201, "SemVer tag 1.2.3");
    http.put_manifest("rel/app", "1.3.0-rc.1", OCI_MANIFEST, &img.manifest)
        .expect_status(201, "SemVer tag with a pre-release");

    // cosign signature tags are exempt from the SemVer rule
    let (sig, _) = img.variant("signature stand-in");
    let sig_tag = format!("sha256-{}.sig", digest_hex(&img.digest));
    http.put_manifest("rel/app", &sig_tag, OCI_MANIFEST, &sig)
        .expect_status(
            201,
            "cosign-style sha256-<hex>.sig tag in a SemVer repository",
        );

    // deletes are disabled for rel/*, even for an admin
    let r = http.delete(&format!("/v2/rel/app/manifests/{}", img.digest));
    let e = r.expect_oci_error(405, "UNSUPPORTED", "DELETE manifest in rel/*");
    assert!(
        e.detail_text().contains("delete-disabled"),
        "detail should say delete-disabled: {r}"
    );
    let r = http.delete(&format!("/v2/rel/app/blobs/{}", img.layer.digest));
    let e = r.expect_oci_error(405, "UNSUPPORTED", "DELETE blob in rel/*");
    assert!(e.detail_text().contains("delete-disabled"), "{r}");

    // repositories outside rel/* keep the defaults
    http.push_image("dev/app", "latest", &img);
    http.put_manifest("dev/app", "not-semver", OCI_MANIFEST, &img.manifest)
        .expect_status(201, "non-SemVer tag outside rel/*");
}

#[test]
fn roles_are_enforced() {
    let tg = Tollgate::start(TollgateOpts::default());
    let admin = tg.admin();
    let img = TinyImage::new();
    admin.push_image("dev/app", "1.0.0", &img);
    admin.push_image("prod/x", "1.0.0", &img);

    let reader_token = tg.create_token("reader", &["reader:dev/*"]);
    let pusher_token = tg.create_token("ci", &["pusher:dev/*"]);
    let reader = tg.basic("reader", &reader_token);
    let pusher = tg.basic("ci", &pusher_token);

    // reader: pull yes, push no
    reader
        .get_manifest("dev/app", "1.0.0")
        .expect_status(200, "reader pulls");
    reader
        .get(&format!("/v2/dev/app/blobs/{}", img.layer.digest))
        .expect_status(200, "reader pulls a blob");
    reader
        .post_upload("dev/app", "")
        .expect_denied("role-missing", "reader starting an upload");
    let (m2, _) = img.variant("reader push");
    reader
        .put_manifest("dev/app", "2.0.0", OCI_MANIFEST, &m2)
        .expect_denied("role-missing", "reader pushing a manifest");
    reader
        .get_manifest("prod/x", "1.0.0")
        .expect_denied("role-missing", "reader:dev/* pulling prod/x");

    // pusher:dev/*: push to dev/… yes (also nested), prod/x no
    pusher
        .put_manifest("dev/app", "2.0.0", OCI_MANIFEST, &m2)
        .expect_status(201, "pusher pushes to dev/app");
    pusher.push_image("dev/team/service", "0.1.0", &img);
    pusher
        .get_manifest("dev/app", "2.0.0")
        .expect_status(200, "pusher pulls");
    pusher
        .post_upload("prod/x", "")
        .expect_denied("role-missing", "pusher:dev/* starting an upload in prod/x");
    let (m3, _) = img.variant("prod push");
    pusher
        .put_manifest("prod/x", "2.0.0", OCI_MANIFEST, &m3)
        .expect_denied("role-missing", "pusher:dev/* pushing a manifest to prod/x");

    // deletes need admin
    let (m4, d4) = img.variant("deletable");
    pusher
        .put_manifest("dev/app", &d4, OCI_MANIFEST, &m4)
        .expect_status(201, "pusher pushes by digest");
    pusher
        .delete(&format!("/v2/dev/app/manifests/{d4}"))
        .expect_denied("role-missing", "pusher deleting a manifest");
    admin
        .delete(&format!("/v2/dev/app/manifests/{d4}"))
        .expect_status(202, "admin deletes it");

    // token management needs admin
    let r = pusher.send(
        pusher
            .request(Method::POST, "/api/v1/tokens")
            .json(&serde_json::json!({"name": "sneaky", "roles": ["admin:*"]})),
    );
    r.expect_status(403, "pusher creating a token");
}

#[test]
fn authentication_is_required() {
    let tg = Tollgate::start(TollgateOpts::default());
    let img = TinyImage::new();
    tg.admin().push_image("dev/app", "1.0.0", &img);

    for path in [
        "/v2/".to_string(),
        "/v2/dev/app/manifests/1.0.0".to_string(),
        format!("/v2/dev/app/blobs/{}", img.layer.digest),
        "/v2/dev/app/tags/list".to_string(),
    ] {
        let r = tg.anon().get(&path);
        r.expect_oci_error(
            401,
            "UNAUTHORIZED",
            &format!("GET {path} without credentials"),
        );
        assert!(
            r.header("WWW-Authenticate").is_some(),
            "401 must carry WWW-Authenticate: {r}"
        );
    }
    let r = tg.anon().post_upload("dev/app", "");
    r.expect_status(401, "anonymous upload");
    assert!(r.header("WWW-Authenticate").is_some(), "{r}");

    let wrong = tg.basic("ci", "not-a-real-token");
    let r = wrong.get_manifest("dev/app", "1.0.0");
    r.expect_status(401, "wrong token");
    assert!(r.header("WWW-Authenticate").is_some(), "{r}");
    tg.bearer("not-a-real-token")
        .get_manifest("dev/app", "1.0.0")
        .expect_status(401, "wrong bearer token");

    // the admin token works as Basic password with any user name, and as Bearer
    for http in [
        tg.basic("whoever", &tg.admin_token),
        tg.bearer(&tg.admin_token),
    ] {
        http.get_manifest("dev/app", "1.0.0")
            .expect_status(200, "admin token");
    }
}

#[test]
fn revoked_token_is_rejected() {
    let tg = Tollgate::start(TollgateOpts::default());
    let img = TinyImage::new();
    tg.admin().push_image("dev/app", "1.0.0", &img);
    let token = tg.create_token("temp", &["reader:*"]);
    let http = tg.bearer(&token);
    http.get_manifest("dev/app", "1.0.0")
        .expect_status(200, "token works before revocation");
    tg.revoke_token("temp");
    http.get_manifest("dev/app", "1.0.0")
        .expect_status(401, "revoked token");
    tg.basic("ci", &token)
        .get_manifest("dev/app", "1.0.0")
        .expect_status(401, "revoked token as Basic password");
}

#[test]
fn token_cli_create_and_revoke() {
    let mut tg = Tollgate::start(TollgateOpts::default());
    let admin_token = tg.admin_token.clone();
    tg.stop(); // the store is locked while serve runs

    let out = tg
        .cli_data(&[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "pusher:dev/*",
            "--role",
            "reader:tools/*",
        ])
        .ok();
    let stdout = out.stdout_str();
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "token create prints just the token: {out}");
    let token = lines[0].trim().to_string();
    assert!(!token.contains(' '), "{out}");

    tg.restart();
    assert_eq!(
        tg.admin_token, admin_token,
        "admin token survives a restart"
    );
    let img = TinyImage::new();
    let http = tg.basic("ci", &token);
    http.push_image("dev/app", "1.0.0", &img);
    tg.admin().push_image("tools/app", "1.0.0", &img);
    http.get_manifest("tools/app", "1.0.0")
        .expect_status(200, "second --role (reader:tools/*) applies");
    let (m, _) = img.variant("x");
    http.put_manifest("tools/app", "2.0.0", OCI_MANIFEST, &m)
        .expect_denied("role-missing", "CLI token pushing to tools/");

    tg.stop();
    tg.cli_data(&["token", "revoke", "--name", "ci"]).ok();
    tg.restart();
    tg.basic("ci", &token)
        .get_manifest("dev/app", "1.0.0")
        .expect_status(401, "token revoked by CLI");
}

#[test]
fn concurrent_pushes_to_a_new_tag_have_one_winner() {
    const N: usize = 8;
    let tg = Tollgate::start(TollgateOpts::default());
    let http = tg.admin();
    let img = TinyImage::new();
    http.push_blob("dev/race", &img.config.data);
    http.push_blob("dev/race", &img.layer.data);
    let manifests: Vec<(Vec<u8>, String)> =
        (0..N).map(|i| img.variant(&format!("racer {i}"))).collect();

    let barrier = Arc::new(Barrier::new(N));
    let handles: Vec<_> = manifests
        .iter()
        .cloned()
        .map(|(bytes, digest)| {
            let barrier = barrier.clone();
            let http = tg.admin();
            thread::spawn(move || {
                barrier.wait();
                let r = http.put_manifest("dev/race", "1.0.0", OCI_MANIFEST, &bytes);
                (digest, r)
            })
        })
        .collect();
    let results: Vec<(String, Resp)> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let winners: Vec<&(String, Resp)> = results.iter().filter(|(_, r)| r.status == 201).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one push may bind the new tag; statuses: {:?}",
        results.iter().map(|(_, r)| r.status).collect::<Vec<_>>()
    );
    for (_, r) in results.iter().filter(|(_, r)| r.status != 201) {
        r.expect_denied("tag-immutable", "losing racer");
    }
    let winner = &winners[0].0;
    let r = http.get_manifest("dev/race", "1.0.0");
    r.expect_status(200, "GET raced tag").expect_header(
        "Docker-Content-Digest",
        winner,
        "the tag resolves to the winner",
    );
    assert_eq!(sha256_digest(&r.body), *winner);
}
