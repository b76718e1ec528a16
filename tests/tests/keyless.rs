//! Keyless Sigstore evidence end to end: a loopback mock Fulcio + Rekor + RFC 3161 TSA + OIDC
//! token endpoint (`tests/sigstore-mock/server.js`, on `@sigstore/mock`) and the real
//! `@sigstore/cli attest` make DSSE Sigstore bundles (v0.3: a Fulcio certificate for
//! `ci@tollgate.test` from `https://oidc.tollgate.test`, a Rekor `intoto` entry, a timestamp),
//! which Tollgate judges against `[trust] trusted_root` and `[[trust.identities]]` — posted
//! through `POST /api/v1/artifacts/{digest}/attestations`, pushed as an OCI referrer, and
//! offline with `tollgate verify`.
//!
//! Every test starts its own mock (fresh keys, a free port); one test starts a second instance
//! whose trusted root must not verify what the first issued.

use std::fs;
use std::path::{Path, PathBuf};

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::tempfile::TempDir;
use tollgate_e2e::*;

const REPO: &str = "dev/app";
const TEST_RESULT: &str = "https://in-toto.io/attestation/test-result/v0.1";
const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// A marker in the test-result predicate, the byte flipped by the tampering test.
const TAMPER_MARKER: &str = "aaaaaaaaaaaaaaaa";

/// One `[[trust.identities]]` entry.
enum Identity<'a> {
    Exact { issuer: &'a str, subject: &'a str },
    Regex { issuer: &'a str, regex: &'a str },
}

/// The mock's own identity, exactly.
const MOCK: Identity<'static> = Identity::Exact {
    issuer: MOCK_OIDC_ISSUER,
    subject: MOCK_IDENTITY,
};

/// `[trust]` with `trusted_root = "trusted_root.json"` (beside the config), the identities
/// and the builders.
fn trust_toml(identities: &[Identity<'_>], builders: &[&str]) -> String {
    let mut t = String::from("[trust]\ntrusted_root = \"trusted_root.json\"\n");
    t.push_str(&format!("builders = {builders:?}\n"));
    for i in identities {
        t.push_str("\n[[trust.identities]]\n");
        match i {
            Identity::Exact { issuer, subject } => {
                t.push_str(&format!("issuer = {issuer:?}\nsubject = {subject:?}\n"));
            }
            Identity::Regex { issuer, regex } => {
                t.push_str(&format!("issuer = {issuer:?}\nsubject_regex = {regex:?}\n"));
            }
        }
    }
    t
}

/// Tollgate trusting `trusted_root` (bytes written beside its config) and `identities`.
fn start_tollgate(trusted_root: &[u8], identities: &[Identity<'_>], builders: &[&str]) -> Tollgate {
    Tollgate::start_with_files(
        TollgateOpts::config(trust_toml(identities, builders)),
        &[("trusted_root.json", trusted_root)],
    )
}

/// A test-result predicate (no SLSA provenance, so no builder check), carrying the tamper
/// marker.
fn test_result_predicate() -> Value {
    json!({
        "result": "PASSED",
        "configuration": [],
        "url": format!("https://ci.tollgate.test/runs/{TAMPER_MARKER}"),
        "passedTests": ["keyless::e2e"],
        "warnedTests": [],
        "failedTests": [],
    })
}

/// A test-result statement about `digest`.
fn test_result_statement(name: &str, digest: &str) -> Value {
    intoto_statement(name, digest, TEST_RESULT, test_result_predicate())
}

/// A minimal SLSA v1 provenance predicate naming `builder`.
fn slsa_predicate(builder: &str) -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://tollgate.test/buildtypes/make/v1",
            "externalParameters": {"target": "release"},
        },
        "runDetails": {"builder": {"id": builder}},
    })
}

/// Writes `bytes` as `name` in `dir`; returns the path and its digest.
fn release_file(dir: &Path, name: &str, seed: u64) -> (std::path::PathBuf, String) {
    let path = dir.join(name);
    let bytes = pseudo_random_bytes(3000, seed);
    fs::write(&path, &bytes).expect("write file");
    (path, sha256_digest(&bytes))
}

fn attestations_path(digest: &str) -> String {
    format!("/api/v1/artifacts/{digest}/attestations")
}

/// The bundle as JSON.
fn bundle_json(bundle: &[u8]) -> Value {
    serde_json::from_slice(bundle).expect("bundle is JSON")
}

/// The first transparency-log entry of the bundle: `(logIndex, integratedTime)`.
fn bundle_tlog(bundle: &[u8]) -> (u64, i64) {
    let b = bundle_json(bundle);
    let e = &b["verificationMaterial"]["tlogEntries"][0];
    let index = e["logIndex"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no logIndex in bundle: {b}"));
    let time = e["integratedTime"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no integratedTime in bundle: {b}"));
    (index, time)
}

/// Seconds since the epoch as the API prints times (`2026-11-27T00:38:27.000Z`).
fn rfc3339(secs: i64) -> String {
    let whole = rfc3339_secs(u64::try_from(secs).expect("a time after 1970"));
    format!("{}.000Z", whole.trim_end_matches('Z'))
}

/// `GET /api/v1/artifacts/{digest}` → 200; the record.
#[track_caller]
fn record(http: &Http, digest: &str) -> Value {
    let r = http.artifact_record(digest);
    r.expect_status(200, &format!("GET artifact record {digest}"));
    let v = r.json();
    assert_eq!(v["digest"], digest, "{r}");
    v
}

fn len(list: &Value) -> usize {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .len()
}

/// A verified keyless entry (POST answer or record entry) for `bundle`: kind, signer identity,
/// the bundle's log entry, predicate type, where it came from.
#[track_caller]
fn assert_verified_keyless(
    e: &Value,
    bundle: &[u8],
    evidence_digest: &str,
    repository: Option<&str>,
    ctx: &str,
) {
    assert_eq!(e["kind"], "sigstore-bundle", "{ctx}: {e}");
    assert_eq!(e["verified"], true, "{ctx}: {e}");
    assert!(
        e["reason"].is_null(),
        "{ctx}: reason on a verified entry: {e}"
    );
    assert_eq!(
        e["signer"],
        json!({"kind": "identity", "subject": MOCK_IDENTITY, "issuer": MOCK_OIDC_ISSUER}),
        "{ctx}: {e}"
    );
    let (index, time) = bundle_tlog(bundle);
    assert_eq!(e["tlog"]["log_index"], index, "{ctx}: tlog: {e}");
    assert_eq!(
        e["tlog"]["integrated_time"],
        rfc3339(time).as_str(),
        "{ctx}: tlog: {e}"
    );
    assert_eq!(e["predicate_type"], TEST_RESULT, "{ctx}: {e}");
    assert_eq!(e["evidence_digest"], evidence_digest, "{ctx}: {e}");
    assert_eq!(e["repository"], json!(repository), "{ctx}: {e}");
    assert!(
        e["trust_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{ctx}: trust_digest: {e}"
    );
}

/// A 403 DENIED answer; its `detail.reason`, which must be one of `allowed`.
#[track_caller]
fn denied_among(r: &Resp, allowed: &[&str], ctx: &str) -> String {
    let e = r.expect_oci_error(403, "DENIED", ctx);
    let reason = e.detail["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        allowed.contains(&reason.as_str()),
        "{ctx}: expected DENIED with detail.reason among {allowed:?}, got {reason:?} ({}):\n{r}",
        e.message
    );
    eprintln!("{ctx}: refused with {reason}: {}", e.message);
    reason
}

/// Asserts that nothing is on record for `digest` (no entry, no evidence).
#[track_caller]
fn assert_no_record(http: &Http, digest: &str, ctx: &str) {
    http.artifact_record(digest)
        .expect_status(404, &format!("{ctx}: record of {digest}"));
}

/// The bundle with one byte of its DSSE payload flipped (inside [`TAMPER_MARKER`]), the
/// payload re-encoded.
fn tamper_payload(bundle: &[u8]) -> Vec<u8> {
    let mut b = bundle_json(bundle);
    let payload = b["dsseEnvelope"]["payload"].as_str().expect("DSSE payload");
    let mut bytes = base64_decode(payload).expect("payload is base64");
    let at = bytes
        .windows(TAMPER_MARKER.len())
        .position(|w| w == TAMPER_MARKER.as_bytes())
        .expect("tamper marker in the payload");
    bytes[at + 3] ^= 0x01; // 'a' -> '`': still a JSON string, same subject
    let tampered = base64_encode(&bytes);
    assert_ne!(tampered, payload);
    b["dsseEnvelope"]["payload"] = json!(tampered);
    serde_json::to_vec(&b).expect("json")
}

/// The bundle with the last byte of the base64 field at `pointer` flipped.
fn tamper_base64_field(bundle: &[u8], pointer: &str) -> Vec<u8> {
    let mut b = bundle_json(bundle);
    let field = b
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the bundle"));
    let mut bytes = base64_decode(field.as_str().expect("base64 text")).expect("base64");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    *field = json!(base64_encode(&bytes));
    serde_json::to_vec(&b).expect("json")
}

/// An OCI 1.1 referrer carrying `bundle` for `subject` (an image manifest descriptor): empty
/// config, one bundle layer. Pushes its blobs and returns `(manifest bytes, digest)`.
fn bundle_referrer(http: &Http, subject: Value, bundle: &[u8]) -> (Vec<u8>, String) {
    let layer = Blob::new(SIGSTORE_BUNDLE_V03, bundle.to_vec());
    http.push_blob(REPO, &Blob::empty().data);
    http.push_blob(REPO, &layer.data);
    artifact_manifest(
        SIGSTORE_BUNDLE_V03,
        &layer,
        Some(subject),
        &Default::default(),
    )
}

// ---------------------------------------------------------------------------------------------

#[test]
fn keyless_bundle_posted_for_a_file_is_verified() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let tg = start_tollgate(&mock.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let reader = tg.create_token("reader", &["reader:dev/*"]);
    let http = tg.basic("ci", &pusher);

    let (_, digest) = release_file(work.path(), "tollgate-linux-amd64.tar.gz", 1);
    let bundle = mock.attest(&test_result_statement(
        "tollgate-linux-amd64.tar.gz",
        &digest,
    ));
    let evidence_digest = sha256_digest(&bundle);

    let r = http.post_json(&attestations_path(&digest), bundle.clone());
    r.expect_status(201, "POST keyless bundle");
    assert_verified_keyless(&r.json(), &bundle, &evidence_digest, None, "POST answer");

    // the record shows it, to any authenticated reader
    let v = record(&tg.basic("ci", &reader), &digest);
    assert_eq!(v["repositories"], json!([]), "{v}");
    assert_eq!(len(&v["signatures"]), 0, "{v}");
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    assert_verified_keyless(
        &v["attestations"][0],
        &bundle,
        &evidence_digest,
        None,
        "record",
    );
    assert!(v["provenance"].is_null(), "no SLSA provenance: {v}");
}

#[test]
fn keyless_bundle_from_an_untrusted_identity_is_refused() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let root = mock.trusted_root();
    let (_, digest) = release_file(work.path(), "app.tar.gz", 2);
    let bundle = mock.attest(&test_result_statement("app.tar.gz", &digest));
    let path = attestations_path(&digest);

    // another subject from the right issuer
    let mut tg = start_tollgate(
        &root,
        &[Identity::Exact {
            issuer: MOCK_OIDC_ISSUER,
            subject: "someone@else",
        }],
        &[],
    );
    let pusher = tg.create_token("ci", &["pusher:*"]);
    tg.basic("ci", &pusher)
        .post_json(&path, bundle.clone())
        .expect_denied_reason("signer-untrusted", "trusted subject someone@else");
    assert_no_record(&tg.basic("ci", &pusher), &digest, "after signer-untrusted");

    // the right subject from another issuer
    tg.restart_with_config(trust_toml(
        &[Identity::Exact {
            issuer: "https://token.actions.githubusercontent.com",
            subject: MOCK_IDENTITY,
        }],
        &[],
    ));
    let http = tg.basic("ci", &pusher);
    http.post_json(&path, bundle.clone())
        .expect_denied_reason("signer-untrusted", "trusted issuer differs");
    // a regex that matches only part of the identity (anchored matching)
    tg.restart_with_config(trust_toml(
        &[Identity::Regex {
            issuer: MOCK_OIDC_ISSUER,
            regex: "ci@tollgate",
        }],
        &[],
    ));
    let http = tg.basic("ci", &pusher);
    http.post_json(&path, bundle.clone())
        .expect_denied_reason("signer-untrusted", "subject_regex matching only a prefix");
    assert_no_record(&http, &digest, "after refusals");

    // subject_regex over the whole identity: accepted
    tg.restart_with_config(trust_toml(
        &[Identity::Regex {
            issuer: MOCK_OIDC_ISSUER,
            regex: r"ci@tollgate\.test",
        }],
        &[],
    ));
    let http = tg.basic("ci", &pusher);
    let r = http.post_json(&path, bundle.clone());
    r.expect_status(201, "POST with subject_regex trust");
    assert_verified_keyless(
        &r.json(),
        &bundle,
        &sha256_digest(&bundle),
        None,
        "subject_regex",
    );

    // trust withdrawn across a restart: the stored verdict is judged again
    tg.restart_with_config(trust_toml(
        &[Identity::Exact {
            issuer: MOCK_OIDC_ISSUER,
            subject: "someone@else",
        }],
        &[],
    ));
    let v = record(&tg.basic("ci", &pusher), &digest);
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    let e = &v["attestations"][0];
    assert_eq!(e["verified"], false, "re-judged after the restart: {e}");
    assert_eq!(e["reason"], "signer-untrusted", "{e}");
}

#[test]
fn keyless_bundle_for_another_file_is_refused() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let tg = start_tollgate(&mock.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let http = tg.basic("ci", &pusher);

    let (_, a) = release_file(work.path(), "a.tar.gz", 3);
    let (_, b) = release_file(work.path(), "b.tar.gz", 4);
    assert_ne!(a, b);
    let bundle_a = mock.attest(&test_result_statement("a.tar.gz", &a));

    http.post_json(&attestations_path(&b), bundle_a.clone())
        .expect_denied_reason("subject-mismatch", "bundle for A posted for B");
    assert_no_record(&http, &b, "after subject-mismatch");
    // where it belongs it is fine
    http.post_json(&attestations_path(&a), bundle_a)
        .expect_status(201, "bundle for A posted for A");
    assert_no_record(&http, &b, "B after A's bundle was recorded");
}

/// Fulcio's clock an hour behind: the 10-minute certificate had expired long before Rekor and
/// the TSA stamped the signature, so the signing time lies outside its validity.
#[test]
fn keyless_signature_made_after_the_certificate_expired_is_refused() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start_with_env(&[("SIGSTORE_MOCK_CA_OFFSET_SECS", "-3600")]);
    let tg = start_tollgate(&mock.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let http = tg.basic("ci", &pusher);
    let (file, digest) = release_file(work.path(), "late.tar.gz", 7);
    let bundle = mock.attest(&test_result_statement("late.tar.gz", &digest));
    http.post_json(&attestations_path(&digest), bundle.clone())
        .expect_denied_reason(
            "certificate-expired",
            "signed after the certificate expired",
        );
    assert_no_record(&http, &digest, "after certificate-expired");
    // and the offline verifier agrees
    let root = work.path().join("trusted_root.json");
    std::fs::write(&root, mock.trusted_root()).expect("write root");
    let bundle_path = work.path().join("late.bundle.json");
    std::fs::write(&bundle_path, &bundle).expect("write bundle");
    let out = tollgate_cli(&[
        "verify",
        "--trusted-root",
        root.to_str().expect("utf-8"),
        "--bundle",
        bundle_path.to_str().expect("utf-8"),
        "--artifact",
        file.to_str().expect("utf-8"),
        "--certificate-identity",
        MOCK_IDENTITY,
        "--certificate-oidc-issuer",
        MOCK_OIDC_ISSUER,
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["reason"], "certificate-expired", "{v}");
}

#[test]
fn keyless_bundle_against_another_trusted_root_is_refused() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let other = SigstoreMock::start();
    let own: Value = serde_json::from_slice(&mock.trusted_root()).expect("trusted root JSON");
    let foreign: Value = serde_json::from_slice(&other.trusted_root()).expect("trusted root JSON");
    for part in [
        "certificateAuthorities",
        "tlogs",
        "ctlogs",
        "timestampAuthorities",
    ] {
        assert_ne!(
            own[part], foreign[part],
            "two mock instances share {part}; the test would prove nothing"
        );
    }

    let (_, digest) = release_file(work.path(), "app.tar.gz", 5);
    let bundle = mock.attest(&test_result_statement("app.tar.gz", &digest));
    let path = attestations_path(&digest);

    // the whole trusted root of the other instance
    let mut tg = start_tollgate(&other.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let reason = denied_among(
        &tg.basic("ci", &pusher).post_json(&path, bundle.clone()),
        &[
            "certificate-untrusted",
            "tlog-entry-invalid",
            "timestamp-untrusted",
        ],
        "other instance's trusted root",
    );
    eprintln!("REASON (foreign trusted root): {reason}");

    // each trust anchor on its own: the own root with one part taken from the other instance
    for (part, expected) in [
        ("certificateAuthorities", "certificate-untrusted"),
        ("ctlogs", "certificate-untrusted"),
        ("tlogs", "tlog-entry-invalid"),
        ("timestampAuthorities", "timestamp-untrusted"),
    ] {
        let mut hybrid = own.clone();
        hybrid[part] = foreign[part].clone();
        tg.write_config_file(
            "trusted_root.json",
            &serde_json::to_vec(&hybrid).expect("json"),
        );
        tg.restart_with_config(trust_toml(&[MOCK], &[]));
        tg.basic("ci", &pusher)
            .post_json(&path, bundle.clone())
            .expect_denied_reason(expected, &format!("{part} of the other instance"));
    }
    assert_no_record(&tg.basic("ci", &pusher), &digest, "after refusals");

    // and the own root accepts it
    tg.write_config_file("trusted_root.json", &mock.trusted_root());
    tg.restart_with_config(trust_toml(&[MOCK], &[]));
    tg.basic("ci", &pusher)
        .post_json(&path, bundle)
        .expect_status(201, "own trusted root");
}

#[test]
fn tampered_keyless_bundle_is_refused() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let tg = start_tollgate(&mock.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let http = tg.basic("ci", &pusher);
    let (_, digest) = release_file(work.path(), "app.tar.gz", 6);
    let bundle = mock.attest(&test_result_statement("app.tar.gz", &digest));
    let path = attestations_path(&digest);

    // one byte of the signed statement flipped (still JSON, still about this file)
    let reason = denied_among(
        &http.post_json(&path, tamper_payload(&bundle)),
        &["signature-invalid", "tlog-entry-invalid"],
        "DSSE payload byte flipped",
    );
    eprintln!("REASON (payload flipped): {reason}");

    // the DSSE signature flipped
    let reason = denied_among(
        &http.post_json(
            &path,
            tamper_base64_field(&bundle, "/dsseEnvelope/signatures/0/sig"),
        ),
        &[
            "signature-invalid",
            "tlog-entry-invalid",
            "timestamp-untrusted",
        ],
        "DSSE signature byte flipped",
    );
    eprintln!("REASON (signature flipped): {reason}");

    // the log's signed entry timestamp flipped
    http.post_json(
        &path,
        tamper_base64_field(
            &bundle,
            "/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp",
        ),
    )
    .expect_denied_reason("tlog-entry-invalid", "Rekor SET byte flipped");

    assert_no_record(&http, &digest, "after tampered bundles");
    http.post_json(&path, bundle)
        .expect_status(201, "the untouched bundle");
}

#[test]
fn keyless_bundle_as_oci_referrer() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let tg = start_tollgate(&mock.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let http = tg.basic("ci", &pusher);

    let img = TinyImage::new();
    http.push_image(REPO, "1.0.0", &img);
    let bundle = mock.attest(&test_result_statement(
        &format!("127.0.0.1/{REPO}"),
        &img.digest,
    ));

    // a referrer whose bundle is about another artifact: refused, nothing kept
    let (_, file_digest) = release_file(work.path(), "unrelated.bin", 7);
    let unrelated = mock.attest(&test_result_statement("unrelated.bin", &file_digest));
    let (bad, bad_digest) = bundle_referrer(&http, img.manifest_descriptor(), &unrelated);
    http.put_manifest(REPO, &bad_digest, OCI_MANIFEST, &bad)
        .expect_denied_reason(
            "subject-mismatch",
            "referrer with a bundle for another digest",
        );
    http.get_manifest(REPO, &bad_digest)
        .expect_status(404, "refused referrer manifest");
    let v = record(&http, &img.digest);
    assert_eq!(
        len(&v["attestations"]),
        0,
        "refused referrer left an entry: {v}"
    );

    // the image's own bundle: accepted and on the image's record
    let (good, good_digest) = bundle_referrer(&http, img.manifest_descriptor(), &bundle);
    http.put_manifest(REPO, &good_digest, OCI_MANIFEST, &good)
        .expect_status(201, "referrer with the image's keyless bundle");
    let v = record(&http, &img.digest);
    assert_eq!(len(&v["signatures"]), 0, "{v}");
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    assert_verified_keyless(
        &v["attestations"][0],
        &bundle,
        &good_digest,
        Some(REPO),
        "referrer record",
    );
    // and it is listed as a referrer of the image, by its artifact type
    let (_, listed) = http.filtered_referrers(REPO, &img.digest, SIGSTORE_BUNDLE_V03);
    assert!(
        listed.iter().any(|d| d["digest"] == good_digest.as_str()),
        "referrer not listed: {listed:?}"
    );
    assert!(
        !listed.iter().any(|d| d["digest"] == bad_digest.as_str()),
        "refused referrer listed: {listed:?}"
    );
}

#[test]
fn keyless_slsa_provenance_from_a_non_builder_identity_is_refused() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let (_, digest) = release_file(work.path(), "app.tar.gz", 8);
    let path = attestations_path(&digest);

    // provenance naming a builder URI, signed by the CI e-mail identity
    let by_builder = mock.attest(&intoto_statement(
        "app.tar.gz",
        &digest,
        SLSA_V1,
        slsa_predicate("https://tollgate.example/builders/local"),
    ));
    let mut tg = start_tollgate(
        &mock.trusted_root(),
        &[MOCK],
        &["https://tollgate.example/builders/local"],
    );
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let e = tg
        .basic("ci", &pusher)
        .post_json(&path, by_builder)
        .expect_denied_reason(
            "provenance-builder-untrusted",
            "SLSA provenance signed by a non-builder identity",
        );
    eprintln!("builder URI, e-mail signer: {}", e.message);

    // provenance whose builder is the signing identity itself, listed as a builder: an
    // e-mail identity is no builder reference (no release tag), so still refused
    let by_self = mock.attest(&intoto_statement(
        "app.tar.gz",
        &digest,
        SLSA_V1,
        slsa_predicate(MOCK_IDENTITY),
    ));
    tg.restart_with_config(trust_toml(&[MOCK], &[MOCK_IDENTITY]));
    let e = tg
        .basic("ci", &pusher)
        .post_json(&path, by_self)
        .expect_denied_reason(
            "provenance-builder-untrusted",
            "SLSA provenance naming the e-mail signer as builder",
        );
    eprintln!("e-mail signer as builder: {}", e.message);
    assert_no_record(&tg.basic("ci", &pusher), &digest, "after refusals");

    // the same signer's non-provenance attestation is fine
    let test_result = mock.attest(&test_result_statement("app.tar.gz", &digest));
    tg.basic("ci", &pusher)
        .post_json(&path, test_result)
        .expect_status(201, "test-result attestation by the same identity");
}

#[test]
fn tollgate_verify_keyless_bundle_offline() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let (file, digest) = release_file(work.path(), "app.tar.gz", 9);
    let (other_file, _) = release_file(work.path(), "other.tar.gz", 10);
    let bundle = mock.attest(&test_result_statement("app.tar.gz", &digest));
    let bundle_path = work.path().join("app.sigstore.json");
    fs::write(&bundle_path, &bundle).expect("write bundle");
    let root = mock.trusted_root_path();
    let text = |path: &Path| path.to_str().expect("UTF-8 path").to_string();

    let verify = |artifact: &Path, identity: &[&str]| -> (Option<i32>, Value, CmdOutput) {
        let (root, bundle, artifact) = (text(&root), text(&bundle_path), text(artifact));
        let mut args = vec![
            "verify",
            "--trusted-root",
            &root,
            "--bundle",
            &bundle,
            "--artifact",
            &artifact,
        ];
        args.extend_from_slice(identity);
        let out = tollgate_cli(&args);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), v, out)
    };
    let exact = [
        "--certificate-identity",
        MOCK_IDENTITY,
        "--certificate-oidc-issuer",
        MOCK_OIDC_ISSUER,
    ];

    let (code, v, out) = verify(&file, &exact);
    assert_eq!(code, Some(0), "verify with the mock identity: {out}");
    assert_eq!(v["verified"], true, "{out}");
    assert_eq!(v["subject"], digest.as_str(), "{out}");
    assert_eq!(
        v["signer"],
        json!({"kind": "identity", "subject": MOCK_IDENTITY, "issuer": MOCK_OIDC_ISSUER}),
        "{out}"
    );
    assert_eq!(v["predicate_type"], TEST_RESULT, "{out}");
    let (index, time) = bundle_tlog(&bundle);
    assert_eq!(v["tlog"]["log_index"], index, "{out}");
    assert_eq!(
        v["tlog"]["integrated_time"],
        rfc3339(time).as_str(),
        "{out}"
    );

    let (code, v, out) = verify(
        &file,
        &[
            "--certificate-identity-regexp",
            r"ci@.*\.test",
            "--certificate-oidc-issuer",
            MOCK_OIDC_ISSUER,
        ],
    );
    assert_eq!(code, Some(0), "verify with an identity regexp: {out}");
    assert_eq!(v["verified"], true, "{out}");

    for (what, identity) in [
        (
            "wrong identity",
            [
                "--certificate-identity",
                "someone@else",
                "--certificate-oidc-issuer",
                MOCK_OIDC_ISSUER,
            ],
        ),
        (
            "wrong issuer",
            [
                "--certificate-identity",
                MOCK_IDENTITY,
                "--certificate-oidc-issuer",
                "https://token.actions.githubusercontent.com",
            ],
        ),
    ] {
        let (code, v, out) = verify(&file, &identity);
        assert_eq!(code, Some(1), "verify, {what}: {out}");
        assert_eq!(v["verified"], false, "{what}: {out}");
        assert_eq!(v["reason"], "signer-untrusted", "{what}: {out}");
    }

    // the bundle is about another file
    let (code, v, out) = verify(&other_file, &exact);
    assert_eq!(code, Some(1), "verify against another file: {out}");
    assert_eq!(v["reason"], "subject-mismatch", "{out}");

    // an identity without its issuer is a usage error
    let (code, _, out) = verify(&file, &["--certificate-identity", MOCK_IDENTITY]);
    assert_eq!(code, Some(2), "identity without issuer: {out}");
}

// ---------------------------------------------------------------------------------------------
// legacy cosign keyless signatures: a `.sig` tag whose simple-signing layer carries a Fulcio
// certificate and a Rekor offline bundle (`scripts/cosign_keyless_sign.py` against the mock)
// ---------------------------------------------------------------------------------------------

/// The `.sig` manifest digest a keyless signing script result pushed.
fn sig_manifest_digest(result: &Value) -> String {
    result["push"]["manifest_digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no push.manifest_digest in script result {result}"))
        .to_string()
}

/// A verified keyless cosign signature entry of a record, for the script's `result`.
#[track_caller]
fn assert_verified_keyless_signature(e: &Value, result: &Value, ctx: &str) {
    assert_eq!(e["kind"], "cosign-signature", "{ctx}: {e}");
    assert_eq!(e["verified"], true, "{ctx}: {e}");
    assert!(
        e["reason"].is_null(),
        "{ctx}: reason on a verified entry: {e}"
    );
    assert_eq!(
        e["signer"],
        json!({"kind": "identity", "subject": MOCK_IDENTITY, "issuer": MOCK_OIDC_ISSUER}),
        "{ctx}: {e}"
    );
    assert_eq!(
        e["tlog"]["log_index"], result["log_index"],
        "{ctx}: tlog: {e}"
    );
    let time = result["integrated_time"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integrated_time in script result {result}"));
    assert_eq!(
        e["tlog"]["integrated_time"],
        rfc3339(time).as_str(),
        "{ctx}: tlog: {e}"
    );
    assert_eq!(
        e["evidence_digest"],
        sig_manifest_digest(result).as_str(),
        "{ctx}: {e}"
    );
    assert_eq!(e["repository"], REPO, "{ctx}: {e}");
    assert!(
        e["trust_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{ctx}: trust_digest: {e}"
    );
}

/// A refused keyless `.sig` push: exactly `reason`, and nothing of it kept — no manifest, no
/// tag, no signature on `subject`'s record (the image itself stays on record).
#[track_caller]
fn assert_keyless_sig_refused(http: &Http, result: &Value, subject: &str, reason: &str, ctx: &str) {
    let e = script_push_resp(result).expect_denied_reason(reason, ctx);
    eprintln!("{ctx}: refused with {reason}: {}", e.message);
    let manifest = sig_manifest_digest(result);
    let tag = result["push"]["reference"]
        .as_str()
        .expect("push.reference");
    http.get_manifest(REPO, &manifest)
        .expect_status(404, &format!("{ctx}: refused .sig manifest by digest"));
    http.get_manifest(REPO, tag)
        .expect_status(404, &format!("{ctx}: tag {tag} of the refused .sig"));
    assert!(
        !http.tags(REPO).iter().any(|t| t == tag),
        "{ctx}: tag {tag} listed after refusal"
    );
    let v = record(http, subject);
    assert_eq!(
        len(&v["signatures"]),
        0,
        "{ctx}: refused .sig left an entry: {v}"
    );
}

/// `tollgate verify` of the pieces the script wrote (`result["files"]`) for `digest`, with the
/// trusted root and extra arguments; `(exit code, JSON verdict, output)`.
fn verify_keyless_signature(
    root: &Path,
    result: &Value,
    digest: &str,
    with_bundle: bool,
    extra: &[&str],
) -> (Option<i32>, Value, CmdOutput) {
    let file = |name: &str| {
        result["files"][name]
            .as_str()
            .unwrap_or_else(|| panic!("script wrote no {name}: {result}"))
            .to_string()
    };
    let root = root.to_str().expect("UTF-8 path").to_string();
    let (sig, payload, cert, chain) = (
        file("signature.b64"),
        file("payload.json"),
        file("cert.pem"),
        file("chain.pem"),
    );
    let bundle = file("bundle.json");
    let mut args = vec![
        "verify",
        "--trusted-root",
        &root,
        "--signature",
        &sig,
        "--payload",
        &payload,
        "--certificate",
        &cert,
        "--chain",
        &chain,
        "--digest",
        digest,
    ];
    if with_bundle {
        args.extend(["--rekor-bundle", bundle.as_str()]);
    }
    args.extend_from_slice(extra);
    let out = tollgate_cli(&args);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, out)
}

#[test]
fn cosign_keyless_signature_is_verified_at_push_and_offline() {
    if !require_keyless_cosign_signer() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let tg = start_tollgate(&mock.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let reader = tg.create_token("reader", &["reader:dev/*"]);
    let http = tg.basic("ci", &pusher);

    let img = TinyImage::new();
    let other = TinyImage::new();
    http.push_image(REPO, "1.0.0", &img);
    http.push_image(REPO, "2.0.0", &other);
    let out_dir = work.path().join("sig");
    let out = out_dir.to_str().expect("UTF-8 path");
    let result = mock.cosign_keyless_sign(&tg.host(), &pusher, REPO, &img.digest, &["--out", out]);
    assert_eq!(result["identity"], MOCK_IDENTITY, "{result}");
    assert_eq!(result["issuer"], MOCK_OIDC_ISSUER, "{result}");
    let r = script_push_resp(&result);
    r.expect_status(201, "PUT keyless cosign .sig");
    let sig_digest = sig_manifest_digest(&result);
    let tag = cosign_tag(&img.digest, ".sig");
    assert_eq!(result["push"]["reference"], tag.as_str(), "{result}");
    assert_eq!(
        result["push"]["docker_content_digest"],
        sig_digest.as_str(),
        "{result}"
    );

    // the .sig is served under its tag
    let m = http.get_manifest(REPO, &tag);
    m.expect_status(200, "GET the .sig tag");
    assert_eq!(sha256_digest(&m.body), sig_digest, "{m}");
    let layer = &m.json()["layers"][0];
    assert_eq!(layer["mediaType"], COSIGN_SIMPLE_SIGNING, "{m}");
    for k in [
        COSIGN_SIGNATURE_ANNOTATION,
        COSIGN_CERTIFICATE_ANNOTATION,
        COSIGN_CHAIN_ANNOTATION,
        COSIGN_BUNDLE_ANNOTATION,
    ] {
        assert!(layer["annotations"][k].is_string(), "no {k}: {m}");
    }

    // the image's record shows the verified keyless signature, to any authenticated reader
    let v = record(&tg.basic("reader", &reader), &img.digest);
    assert_eq!(len(&v["repositories"]), 1, "{v}");
    assert_eq!(v["repositories"][0]["repository"], REPO, "{v}");
    assert_eq!(v["repositories"][0]["tags"], json!(["1.0.0"]), "{v}");
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_eq!(len(&v["attestations"]), 0, "{v}");
    assert_verified_keyless_signature(&v["signatures"][0], &result, "record");
    // and nothing on the other image's
    let v = record(&http, &other.digest);
    assert_eq!(len(&v["signatures"]), 0, "{v}");

    // offline, from the same pieces
    let root = mock.trusted_root_path();
    let exact = [
        "--certificate-identity",
        MOCK_IDENTITY,
        "--certificate-oidc-issuer",
        MOCK_OIDC_ISSUER,
    ];
    let (code, v, out) = verify_keyless_signature(&root, &result, &img.digest, true, &exact);
    assert_eq!(
        code,
        Some(0),
        "tollgate verify of the keyless signature: {out}"
    );
    assert_eq!(v["verified"], true, "{out}");
    assert_eq!(v["subject"], img.digest.as_str(), "{out}");
    assert_eq!(
        v["signer"],
        json!({"kind": "identity", "subject": MOCK_IDENTITY, "issuer": MOCK_OIDC_ISSUER}),
        "{out}"
    );
    assert_eq!(v["tlog"]["log_index"], result["log_index"], "{out}");
    assert_eq!(
        v["tlog"]["integrated_time"],
        rfc3339(result["integrated_time"].as_i64().expect("integrated_time")).as_str(),
        "{out}"
    );

    // offline refusals: another identity, another image, no log entry
    let (code, v, out) = verify_keyless_signature(
        &root,
        &result,
        &img.digest,
        true,
        &[
            "--certificate-identity",
            "someone@else",
            "--certificate-oidc-issuer",
            MOCK_OIDC_ISSUER,
        ],
    );
    assert_eq!(code, Some(1), "verify, wrong identity: {out}");
    assert_eq!(v["reason"], "signer-untrusted", "{out}");
    let (code, v, out) = verify_keyless_signature(&root, &result, &other.digest, true, &exact);
    assert_eq!(code, Some(1), "verify against another image: {out}");
    assert_eq!(v["reason"], "subject-mismatch", "{out}");
    let (code, v, out) = verify_keyless_signature(&root, &result, &img.digest, false, &exact);
    assert_eq!(code, Some(1), "verify without the Rekor bundle: {out}");
    assert_eq!(v["reason"], "tlog-entry-missing", "{out}");
}

#[test]
fn cosign_keyless_signature_from_an_untrusted_identity_is_refused() {
    if !require_keyless_cosign_signer() {
        return;
    }
    let mock = SigstoreMock::start();
    let mut tg = start_tollgate(
        &mock.trusted_root(),
        &[Identity::Exact {
            issuer: MOCK_OIDC_ISSUER,
            subject: "someone@else",
        }],
        &[],
    );
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let http = tg.basic("ci", &pusher);
    let img = TinyImage::new();
    http.push_image(REPO, "1.0.0", &img);

    let result = mock.cosign_keyless_sign(&tg.host(), &pusher, REPO, &img.digest, &[]);
    assert_keyless_sig_refused(
        &http,
        &result,
        &img.digest,
        "signer-untrusted",
        "trusted subject someone@else",
    );

    // trusting the mock's identity, the same kind of signature is accepted
    tg.restart_with_config(trust_toml(&[MOCK], &[]));
    let http = tg.basic("ci", &pusher);
    let result = mock.cosign_keyless_sign(&tg.host(), &pusher, REPO, &img.digest, &[]);
    script_push_resp(&result).expect_status(201, "PUT with the mock identity trusted");
    let v = record(&http, &img.digest);
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_verified_keyless_signature(&v["signatures"][0], &result, "after trusting the mock");
}

#[test]
fn cosign_keyless_signature_replayed_tampered_or_unlogged_is_refused() {
    if !require_keyless_cosign_signer() {
        return;
    }
    let mock = SigstoreMock::start();
    let tg = start_tollgate(&mock.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let http = tg.basic("ci", &pusher);
    let a = TinyImage::new();
    let b = TinyImage::new();
    http.push_image(REPO, "a", &a);
    http.push_image(REPO, "b", &b);
    let host = tg.host();

    // A's signature under B's .sig tag
    let replayed = mock.cosign_keyless_sign(
        &host,
        &pusher,
        REPO,
        &a.digest,
        &["--tag-digest", &b.digest],
    );
    assert_eq!(
        replayed["push"]["reference"],
        cosign_tag(&b.digest, ".sig").as_str(),
        "{replayed}"
    );
    assert_keyless_sig_refused(
        &http,
        &replayed,
        &b.digest,
        "subject-mismatch",
        "A's keyless signature under B's .sig tag",
    );

    // the offline bundle's integratedTime moved by a second: its SET no longer verifies
    let tampered = mock.cosign_keyless_sign(&host, &pusher, REPO, &a.digest, &["--tamper-bundle"]);
    assert_keyless_sig_refused(
        &http,
        &tampered,
        &a.digest,
        "tlog-entry-invalid",
        "tampered Rekor bundle",
    );

    // no Rekor bundle: nothing fixes when the short-lived certificate signed
    let unlogged = mock.cosign_keyless_sign(&host, &pusher, REPO, &a.digest, &["--drop-bundle"]);
    assert!(unlogged["rekor_bundle"].is_null(), "{unlogged}");
    assert_keyless_sig_refused(
        &http,
        &unlogged,
        &a.digest,
        "tlog-entry-missing",
        "keyless signature without a Rekor bundle",
    );

    // the untouched signature, where it belongs
    let good = mock.cosign_keyless_sign(&host, &pusher, REPO, &a.digest, &[]);
    script_push_resp(&good).expect_status(201, "A's keyless signature under A's .sig tag");
    let v = record(&http, &a.digest);
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_verified_keyless_signature(&v["signatures"][0], &good, "A's record");
    let v = record(&http, &b.digest);
    assert_eq!(
        len(&v["signatures"]),
        0,
        "B's record after A was signed: {v}"
    );
}

/// An SBOM carried as the predicate of a keyless attestation (`cosign attest --type cyclonedx`)
/// is indexed once the attestation verifies, and found by where-used.
#[test]
fn sbom_attestation_is_indexed_when_it_verifies() {
    if !require_sigstore_mock() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let mock = SigstoreMock::start();
    let tg = start_tollgate(&mock.trusted_root(), &[MOCK], &[]);
    let pusher = tg.create_token("ci", &["pusher:*"]);
    let http = tg.basic("ci", &pusher);
    let (_, digest) = release_file(work.path(), "shop.tar.gz", 11);
    let bom: Value = serde_json::from_slice(
        &std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/sbom/cyclonedx/laravel-7.12.0.cdx-1.4.json"),
        )
        .expect("fixture"),
    )
    .expect("json");
    let statement = intoto_statement("shop.tar.gz", &digest, "https://cyclonedx.org/bom", bom);
    let bundle = mock.attest(&statement);
    http.post_json(&attestations_path(&digest), bundle)
        .expect_status(201, "SBOM attestation");
    let rec = record(&http, &digest);
    assert_eq!(rec["sboms"][0]["source"], "attestation", "{rec}");
    assert_eq!(rec["sboms"][0]["components"], 62, "{rec}");
    let r = http.get("/api/v1/sbom/components?purl=pkg:composer/laravel/framework");
    r.expect_status(200, "where-used");
    let v = r.json();
    assert_eq!(v["artifacts"][0]["artifact"], digest.as_str(), "{v}");

    // the same SBOM signed by someone nobody trusts is refused and not indexed
    let other = TempDir::new().expect("tempdir");
    let (_, other_digest) = release_file(other.path(), "other.tar.gz", 12);
    let stranger = SigstoreMock::start();
    let bom2: Value = statement["predicate"].clone();
    let bundle = stranger.attest(&intoto_statement(
        "other.tar.gz",
        &other_digest,
        "https://cyclonedx.org/bom",
        bom2,
    ));
    http.post_json(&attestations_path(&other_digest), bundle)
        .expect_denied_reason(
            "timestamp-untrusted",
            "SBOM attestation from another instance",
        );
    let r = http.get(&format!("/api/v1/artifacts/{other_digest}"));
    assert_eq!(
        r.status, 404,
        "nothing indexed for a refused attestation: {r}"
    );
}
