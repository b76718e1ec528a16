//! Evidence verified once, at push (issue 3): cosign `.sig`/`.att` tags, OCI referrers with a
//! `subject`, and evidence posted through the API, judged against `[trust]` before anything is
//! accepted, and the verdicts shown by `GET /api/v1/artifacts/{digest}`.
//!
//! The evidence comes from an independent signer: python `cryptography` for cosign's
//! simple-signing signatures (`scripts/cosign_sign.py`, keys from `scripts/cosign_keygen.py`)
//! and python `in-toto`/`securesystemslib`/`in-toto-attestation` for DSSE-signed SLSA v1
//! provenance (`scripts/slsa_attest.py`); plus the upstream cosign fixtures in
//! `fixtures/cosign/` with the Sigstore public-good trusted root.

use std::fs;
use std::path::{Path, PathBuf};

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::tempfile::TempDir;
use tollgate_e2e::*;

/// The trusted builder, without a ref: any ref of it is trusted.
const BUILDER: &str = "https://tollgate.example/builders/local";
const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const REPO: &str = "dev/app";

fn signer_available() -> bool {
    signer_scripts_available()
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn read_fixture(rel: &str) -> Vec<u8> {
    fs::read(fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// An ECDSA P-256 key pair made by `cosign_keygen.py`.
struct Key {
    private: PathBuf,
    public_pem: String,
}

impl Key {
    fn private(&self) -> &str {
        self.private.to_str().expect("UTF-8 path")
    }
}

fn keygen(dir: &Path, name: &str) -> Key {
    let prefix = dir.join(name);
    let out = python3_json(
        &scripts_dir().join("cosign_keygen.py"),
        &[prefix.to_str().expect("UTF-8 path")],
        &[],
    );
    let private = PathBuf::from(out["private"].as_str().expect("private key path"));
    let public_pem =
        fs::read_to_string(out["public"].as_str().expect("public key path")).expect("read pub");
    assert!(
        public_pem.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{public_pem}"
    );
    Key {
        private,
        public_pem,
    }
}

/// How a trusted key appears in `[[trust.keys]]`.
enum KeyRef<'a> {
    /// `path = "..."` relative to the configuration file.
    Path(&'a str),
    /// `pem = """..."""` inline.
    Pem(&'a str),
}

/// A `[trust]` section: named keys, trusted builders, an optional trusted root file.
fn trust_toml(
    keys: &[(&str, KeyRef<'_>)],
    builders: &[&str],
    trusted_root: Option<&str>,
) -> String {
    let mut t = String::from("[trust]\n");
    if let Some(root) = trusted_root {
        t.push_str(&format!("trusted_root = {root:?}\n"));
    }
    t.push_str(&format!("builders = {builders:?}\n"));
    t.push_str("refuse_unverified = true\n");
    for (name, key) in keys {
        t.push_str(&format!("\n[[trust.keys]]\nname = {name:?}\n"));
        match key {
            KeyRef::Path(p) => t.push_str(&format!("path = {p:?}\n")),
            KeyRef::Pem(pem) => t.push_str(&format!("pem = \"\"\"\n{}\"\"\"\n", pem)),
        }
    }
    t
}

/// `cosign_sign.py`: signs `digest` with each key (one layer each) and pushes the `.sig`
/// image; returns the script's JSON result (the PUT's status and body included).
fn cosign_sign(
    tg: &Tollgate,
    token: &str,
    repo: &str,
    digest: &str,
    keys: &[&Key],
    extra: &[&str],
) -> Value {
    let host = tg.host();
    let mut args: Vec<&str> = vec![&host, repo, "--digest", digest];
    for k in keys {
        args.extend(["--key", k.private()]);
    }
    args.extend_from_slice(extra);
    python3_json(
        &scripts_dir().join("cosign_sign.py"),
        &args,
        &[("TOLLGATE_TOKEN", token)],
    )
}

/// `slsa_attest.py`: a DSSE SLSA v1 envelope for `subject` in `out`, pushed as the extra
/// arguments say; returns the script's JSON result.
fn attest(out: &Path, subject: &str, key: &Key, extra: &[&str], token: &str) -> Value {
    let mut args: Vec<&str> = vec![
        out.to_str().expect("UTF-8 path"),
        "--subject",
        subject,
        "--key",
        key.private(),
    ];
    args.extend_from_slice(extra);
    python3_json(
        &scripts_dir().join("slsa_attest.py"),
        &args,
        &[("TOLLGATE_TOKEN", token)],
    )
}

fn push_field(result: &Value, field: &str) -> String {
    let push = result.get("push").unwrap_or(result);
    push[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in script result {result}"))
        .to_string()
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

/// The entries of `list` (signatures or attestations) from evidence manifest `evidence`.
fn from_evidence<'a>(list: &'a Value, evidence: &str) -> Vec<&'a Value> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .filter(|e| e["evidence_digest"] == evidence)
        .collect()
}

/// The one entry from evidence manifest `evidence` in `record[list]` ("signatures" or
/// "attestations"); says so plainly when it sits in the other list instead.
#[track_caller]
fn entry<'a>(record: &'a Value, list: &str, evidence: &str, ctx: &str) -> &'a Value {
    let found = from_evidence(&record[list], evidence);
    if let [one] = found.as_slice() {
        return one;
    }
    let other = if list == "signatures" {
        "attestations"
    } else {
        "signatures"
    };
    panic!(
        "{ctx}: expected one entry from evidence {evidence} in {list}, found {} there and {} in {other}: {record}",
        found.len(),
        from_evidence(&record[other], evidence).len()
    );
}

fn len(list: &Value) -> usize {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .len()
}

/// A verified entry signed by the configured key `name`, with the fields every entry has.
#[track_caller]
fn assert_verified_by_key(e: &Value, name: &str, repository: Option<&str>, ctx: &str) {
    assert_eq!(e["verified"], true, "{ctx}: {e}");
    assert!(
        e["reason"].is_null(),
        "{ctx}: reason on a verified entry: {e}"
    );
    assert_eq!(
        e["signer"],
        json!({"kind": "key", "name": name}),
        "{ctx}: {e}"
    );
    assert_eq!(e["repository"], json!(repository), "{ctx}: {e}");
    assert!(
        e["trust_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{ctx}: trust_digest: {e}"
    );
    assert!(
        e["recorded_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{ctx}: recorded_at: {e}"
    );
}

/// The provenance fields the gateway read are the ones the script produced.
#[track_caller]
fn assert_provenance(p: &Value, produced: &Value, ctx: &str) {
    for field in [
        "builder_id",
        "build_type",
        "source_uri",
        "source_ref",
        "source_commit",
        "invocation_id",
        "started_on",
        "finished_on",
    ] {
        assert_eq!(
            p[field], produced[field],
            "{ctx}: provenance.{field} differs from what the signer produced: {p}"
        );
    }
    assert_eq!(p["predicate_type"], SLSA_V1, "{ctx}: {p}");
    assert!(
        !p["source_uri"].as_str().unwrap_or_default().contains('@'),
        "{ctx}: source_uri keeps its ref: {p}"
    );
}

/// A verified SLSA attestation entry matching what the script produced.
#[track_caller]
fn assert_verified_provenance(
    e: &Value,
    key: &str,
    repository: Option<&str>,
    produced: &Value,
    ctx: &str,
) {
    assert_verified_by_key(e, key, repository, ctx);
    assert_eq!(e["predicate_type"], SLSA_V1, "{ctx}: {e}");
    assert_provenance(&e["provenance"], produced, ctx);
}

/// A refused evidence push: exactly `reason`, and nothing of it kept — no manifest, no tag,
/// no record of the evidence manifest, no entry on `subject`'s record.
#[track_caller]
fn assert_refused(http: &Http, repo: &str, result: &Value, subject: &str, reason: &str, ctx: &str) {
    script_push_resp(result).expect_denied_reason(reason, ctx);
    let manifest = push_field(result, "manifest_digest");
    let reference = push_field(result, "reference");
    http.get_manifest(repo, &manifest)
        .expect_status(404, &format!("{ctx}: refused evidence manifest by digest"));
    if !reference.starts_with("sha256:") {
        http.get_manifest(repo, &reference)
            .expect_status(404, &format!("{ctx}: tag of refused evidence"));
        assert!(
            !http.tags(repo).contains(&reference),
            "{ctx}: tag {reference} listed after refusal"
        );
    }
    http.artifact_record(&manifest)
        .expect_status(404, &format!("{ctx}: record of refused evidence manifest"));
    let r = http.artifact_record(subject);
    if r.status == 200 {
        let v = r.json();
        for list in ["signatures", "attestations"] {
            assert!(
                from_evidence(&v[list], &manifest).is_empty(),
                "{ctx}: refused evidence left an entry in {list}: {v}"
            );
        }
    } else {
        r.expect_status(404, &format!("{ctx}: record of subject {subject}"));
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn cosign_key_signature_is_verified_at_push() {
    if !signer_available() {
        return;
    }
    let keys = TempDir::new().expect("tempdir");
    let release = keygen(keys.path(), "release");
    let ops = keygen(keys.path(), "ops");
    let config = trust_toml(
        &[
            ("release", KeyRef::Path("keys/release.pub")),
            ("ops", KeyRef::Pem(&ops.public_pem)),
        ],
        &[BUILDER],
        None,
    );
    let tg = Tollgate::start_with_files(
        TollgateOpts::config(config),
        &[("keys/release.pub", release.public_pem.as_bytes())],
    );
    let token = tg.create_token("pusher", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);
    let img = TinyImage::new();
    http.push_image(REPO, "1.0.0", &img);

    let out = cosign_sign(&tg, &token, REPO, &img.digest, &[&release], &[]);
    script_push_resp(&out).expect_status(201, "PUT cosign .sig signed with the trusted key");
    let sig_manifest = push_field(&out, "manifest_digest");
    assert_eq!(push_field(&out, "docker_content_digest"), sig_manifest);
    // the signature image is stored under its tag, bytes intact
    let tag = cosign_tag(&img.digest, ".sig");
    http.get_manifest(REPO, &tag)
        .expect_status(200, "GET .sig tag")
        .expect_header("Docker-Content-Digest", &sig_manifest, "GET .sig tag");

    let v = record(&http, &img.digest);
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    let s = &v["signatures"][0];
    assert_verified_by_key(s, "release", Some(REPO), "cosign signature");
    assert_eq!(s["kind"], "cosign-signature", "{s}");
    assert_eq!(s["evidence_digest"], sig_manifest.as_str(), "{s}");
    assert!(
        s.get("tlog").is_none_or(Value::is_null),
        "no log entry was given: {s}"
    );
    assert_eq!(len(&v["attestations"]), 0, "{v}");
    assert!(v["provenance"].is_null(), "{v}");
    assert!(
        v["repositories"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["repository"] == REPO)),
        "{v}"
    );

    // a person reads the same record with `tollgate inspect`, by tag and by digest
    let base = tg.base_url();
    for reference in [format!("{REPO}:1.0.0"), img.digest.clone()] {
        let out = tollgate_cli(&["inspect", "--url", &base, "--token", &token, &reference]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.success(),
            "inspect {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(&img.digest), "{text}");
        assert!(text.contains("signatures: 1"), "{text}");
        assert!(
            text.contains("cosign-signature verified, signer key release"),
            "{text}"
        );
    }
    let out = tollgate_cli(&[
        "inspect",
        "--url",
        &base,
        "--token",
        "tg_wrong",
        &format!("{REPO}:1.0.0"),
    ]);
    assert!(!out.success(), "inspect with a bad token must fail");

    // any authenticated reader sees the record; nobody anonymous does
    let reader = tg.create_token("reader", &["reader:dev/*"]);
    let rv = record(&tg.basic("ci", &reader), &img.digest);
    assert_eq!(rv["signatures"], v["signatures"], "reader's view");
    tg.anon()
        .artifact_record(&img.digest)
        .expect_status(401, "anonymous record read");

    // two signatures in one .sig image (cosign appends a layer per signature), by two
    // trusted keys, one with an annotation in `optional`
    let img2 = TinyImage::new();
    http.push_image(REPO, "2.0.0", &img2);
    let out = cosign_sign(
        &tg,
        &token,
        REPO,
        &img2.digest,
        &[&release, &ops],
        &["--annotation", "env=prod"],
    );
    script_push_resp(&out).expect_status(201, "PUT 2-layer cosign .sig");
    let sig2 = push_field(&out, "manifest_digest");
    let v = record(&http, &img2.digest);
    let entries = from_evidence(&v["signatures"], &sig2);
    assert_eq!(entries.len(), 2, "one entry per layer: {v}");
    let mut signers: Vec<&str> = entries
        .iter()
        .map(|e| {
            assert_eq!(e["verified"], true, "{e}");
            e["signer"]["name"].as_str().unwrap_or_default()
        })
        .collect();
    signers.sort_unstable();
    assert_eq!(signers, ["ops", "release"], "{v}");
}

#[test]
fn slsa_provenance_as_att_tag_and_as_referrer() {
    if !signer_available() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let builder = keygen(work.path(), "builder");
    let config = trust_toml(
        &[("ci-builder", KeyRef::Path("builder.pub"))],
        &[BUILDER],
        None,
    );
    let tg = Tollgate::start_with_files(
        TollgateOpts::config(config),
        &[("builder.pub", builder.public_pem.as_bytes())],
    );
    let token = tg.create_token("pusher", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);
    let host = tg.host();

    // (a) cosign's layout: tag sha256-<hex>.att, one DSSE layer
    let a = TinyImage::new();
    http.push_image(REPO, "1.0.0", &a);
    let att = attest(
        &work.path().join("att"),
        &a.digest,
        &builder,
        &["--push-att", &host, REPO],
        &token,
    );
    script_push_resp(&att).expect_status(201, "PUT .att with SLSA provenance");
    let att_manifest = push_field(&att, "manifest_digest");
    http.get_manifest(REPO, &cosign_tag(&a.digest, ".att"))
        .expect_status(200, "GET .att tag")
        .expect_header("Docker-Content-Digest", &att_manifest, "GET .att tag");
    let v = record(&http, &a.digest);
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    assert_eq!(len(&v["signatures"]), 0, "{v}");
    let e = &v["attestations"][0];
    assert_eq!(e["evidence_digest"], att_manifest.as_str(), "{e}");
    assert_verified_provenance(e, "ci-builder", Some(REPO), &att, ".att attestation");
    assert_provenance(&v["provenance"], &att, ".att record provenance");

    // (b) OCI 1.1 referrer: the envelope as a DSSE layer, `subject` = the image
    let b = TinyImage::new();
    http.push_image(REPO, "2.0.0", &b);
    let rf = attest(
        &work.path().join("referrer"),
        &b.digest,
        &builder,
        &["--push-referrer", &host, REPO],
        &token,
    );
    script_push_resp(&rf).expect_status(201, "PUT referrer with SLSA provenance");
    let rf_manifest = push_field(&rf, "manifest_digest");
    assert_eq!(push_field(&rf, "oci_subject"), b.digest, "{rf}");
    let v = record(&http, &b.digest);
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    let e = &v["attestations"][0];
    assert_eq!(e["evidence_digest"], rf_manifest.as_str(), "{e}");
    assert_verified_provenance(e, "ci-builder", Some(REPO), &rf, "referrer attestation");
    assert_provenance(&v["provenance"], &rf, "referrer record provenance");
    // and it is a referrer like any other
    let r = http.get(&format!("/v2/{REPO}/referrers/{}", b.digest));
    r.expect_status(200, "GET referrers");
    assert!(
        r.json()["manifests"]
            .as_array()
            .is_some_and(|m| m.iter().any(|d| d["digest"] == rf_manifest.as_str())),
        "{r}"
    );
    // the two records do not mix
    assert_ne!(att["invocation_id"], rf["invocation_id"]);
    assert_eq!(len(&record(&http, &a.digest)["attestations"]), 1);
}

#[test]
fn unverifiable_evidence_is_refused_and_leaves_nothing() {
    if !signer_available() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let release = keygen(work.path(), "release");
    let rogue = keygen(work.path(), "rogue");
    let config = trust_toml(
        &[("release", KeyRef::Pem(&release.public_pem))],
        &[BUILDER],
        None,
    );
    let tg = Tollgate::start(TollgateOpts::config(config));
    let token = tg.create_token("pusher", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);
    let host = tg.host();
    let a = TinyImage::new();
    let b = TinyImage::new();
    http.push_image(REPO, "1.0.0", &a);
    http.push_image(REPO, "2.0.0", &b);

    // a signature by a key nobody trusts
    let out = cosign_sign(&tg, &token, REPO, &a.digest, &[&rogue], &[]);
    assert_refused(
        &http,
        REPO,
        &out,
        &a.digest,
        "signer-untrusted",
        "untrusted key",
    );

    // one flipped byte in the payload after signing: the trusted key no longer verifies it.
    // With key-only trust the gateway cannot tell a broken signature from a stranger's, and
    // says signer-untrusted ("no configured key verifies the signature").
    let out = cosign_sign(
        &tg,
        &token,
        REPO,
        &a.digest,
        &[&release],
        &["--flip-payload-byte"],
    );
    assert!(
        !out["payload"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("\"{host}/{REPO}\"")),
        "payload was not altered: {out}"
    );
    assert_refused(
        &http,
        REPO,
        &out,
        &a.digest,
        "signer-untrusted",
        "flipped payload byte",
    );

    // a valid signature for A replayed under B's tag
    let out = cosign_sign(
        &tg,
        &token,
        REPO,
        &a.digest,
        &[&release],
        &["--tag-digest", &b.digest],
    );
    assert_eq!(push_field(&out, "reference"), cosign_tag(&b.digest, ".sig"));
    assert_refused(
        &http,
        REPO,
        &out,
        &b.digest,
        "subject-mismatch",
        "replayed signature",
    );

    // an attestation pushed for A whose statement names another artifact
    let other = sha256_digest(unique().as_bytes());
    let out = attest(
        &work.path().join("mismatch-att"),
        &a.digest,
        &release,
        &["--statement-subject", &other, "--push-att", &host, REPO],
        &token,
    );
    assert_refused(
        &http,
        REPO,
        &out,
        &a.digest,
        "subject-mismatch",
        ".att naming another artifact",
    );
    // the same as a referrer of B, naming A
    let out = attest(
        &work.path().join("mismatch-ref"),
        &b.digest,
        &release,
        &[
            "--statement-subject",
            &a.digest,
            "--push-referrer",
            &host,
            REPO,
        ],
        &token,
    );
    assert_refused(
        &http,
        REPO,
        &out,
        &b.digest,
        "subject-mismatch",
        "referrer naming another artifact",
    );

    // provenance from a builder that is not trusted, signed by a trusted key
    let out = attest(
        &work.path().join("evil-builder"),
        &a.digest,
        &release,
        &[
            "--builder-id",
            "https://evil.example/builders/local@v1",
            "--push-att",
            &host,
            REPO,
        ],
        &token,
    );
    assert_refused(
        &http,
        REPO,
        &out,
        &a.digest,
        "provenance-builder-untrusted",
        "untrusted builder",
    );
    // a builder whose name merely starts like the trusted one is another builder
    let out = attest(
        &work.path().join("lookalike-builder"),
        &a.digest,
        &release,
        &[
            "--builder-id",
            &format!("{BUILDER}-fork@v1"),
            "--push-att",
            &host,
            REPO,
        ],
        &token,
    );
    assert_refused(
        &http,
        REPO,
        &out,
        &a.digest,
        "provenance-builder-untrusted",
        "look-alike builder",
    );

    // nothing was recorded for either image
    for d in [&a.digest, &b.digest] {
        let v = record(&http, d);
        assert_eq!(len(&v["signatures"]), 0, "{v}");
        assert_eq!(len(&v["attestations"]), 0, "{v}");
        assert!(v["provenance"].is_null(), "{v}");
    }
    // and the refusals did not poison the tags: the genuine evidence still goes in
    let out = cosign_sign(&tg, &token, REPO, &a.digest, &[&release], &[]);
    script_push_resp(&out).expect_status(201, "genuine signature after refusals");
    let out = attest(
        &work.path().join("good"),
        &a.digest,
        &release,
        &["--push-att", &host, REPO],
        &token,
    );
    script_push_resp(&out).expect_status(201, "genuine attestation after refusals");
    let v = record(&http, &a.digest);
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    assert_provenance(&v["provenance"], &out, "provenance after refusals");
}

#[test]
fn evidence_before_its_subject_is_linked() {
    if !signer_available() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let release = keygen(work.path(), "release");
    let config = trust_toml(
        &[("release", KeyRef::Pem(&release.public_pem))],
        &[BUILDER],
        None,
    );
    let tg = Tollgate::start(TollgateOpts::config(config));
    let token = tg.create_token("pusher", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);
    let host = tg.host();

    let img = TinyImage::new();
    http.artifact_record(&img.digest)
        .expect_status(404, "record of a digest nobody mentioned yet");
    let out = cosign_sign(&tg, &token, REPO, &img.digest, &[&release], &[]);
    script_push_resp(&out).expect_status(201, ".sig before its image");
    let att = attest(
        &work.path().join("att"),
        &img.digest,
        &release,
        &["--push-att", &host, REPO],
        &token,
    );
    script_push_resp(&att).expect_status(201, ".att before its image");
    let sig_manifest = push_field(&out, "manifest_digest");

    // known only by its evidence
    let v = record(&http, &img.digest);
    assert_eq!(v["repositories"], json!([]), "{v}");
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_verified_by_key(
        &v["signatures"][0],
        "release",
        Some(REPO),
        "early signature",
    );
    assert_eq!(v["signatures"][0]["evidence_digest"], sig_manifest.as_str());
    assert_provenance(&v["provenance"], &att, "early provenance");

    // the image arrives: same record, now with its repository
    http.push_image(REPO, "1.0.0", &img);
    let v = record(&http, &img.digest);
    assert!(
        v["repositories"]
            .as_array()
            .is_some_and(|a| a.len() == 1 && a[0]["repository"] == REPO),
        "{v}"
    );
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_verified_by_key(
        &v["signatures"][0],
        "release",
        Some(REPO),
        "linked signature",
    );
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    assert_provenance(&v["provenance"], &att, "linked provenance");
}

#[test]
fn posted_attestation_for_a_file() {
    if !signer_available() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let builder = keygen(work.path(), "builder");
    let config = trust_toml(
        &[("ci-builder", KeyRef::Pem(&builder.public_pem))],
        &[BUILDER],
        None,
    );
    let tg = Tollgate::start(TollgateOpts::config(config));
    let pusher = tg.create_token("pusher", &["pusher:dev/*"]);
    let reader = tg.create_token("reader", &["reader:dev/*"]);
    let http = tg.basic("ci", &pusher);

    // a release file that is no OCI artifact at all
    let file = work.path().join("tollgate-1.0.0-linux-amd64.tar.gz");
    fs::write(&file, pseudo_random_bytes(4096, 7)).expect("write file");
    let digest = sha256_digest(&fs::read(&file).expect("read file"));
    let path = format!("/api/v1/artifacts/{digest}/attestations");

    let good = attest(
        &work.path().join("good"),
        file.to_str().expect("UTF-8"),
        &builder,
        &[],
        &pusher,
    );
    assert_eq!(good["subject"], digest.as_str(), "{good}");
    let envelope = fs::read(good["envelope_path"].as_str().expect("path")).expect("envelope");

    // no credentials, or only reading rights: not allowed to add evidence
    tg.anon()
        .post_json(&path, envelope.clone())
        .expect_status(401, "anonymous POST attestation");
    tg.basic("ci", &reader)
        .post_json(&path, envelope.clone())
        .expect_oci_error(403, "DENIED", "reader POST attestation");
    http.artifact_record(&digest)
        .expect_status(404, "nothing recorded by refused posts");

    let r = http.post_json(&path, envelope.clone());
    r.expect_status(201, "POST attestation");
    let e = r.json();
    assert_verified_provenance(&e, "ci-builder", None, &good, "POST answer");
    assert_eq!(
        e["evidence_digest"],
        sha256_digest(&envelope).as_str(),
        "{e}"
    );

    let v = record(&tg.basic("ci", &reader), &digest);
    assert_eq!(v["repositories"], json!([]), "{v}");
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    assert_verified_provenance(&v["attestations"][0], "ci-builder", None, &good, "record");
    assert_provenance(&v["provenance"], &good, "record provenance");

    // forged: the statement edited under the original signature
    let forged = attest(
        &work.path().join("forged"),
        file.to_str().expect("UTF-8"),
        &builder,
        &["--tamper"],
        &pusher,
    );
    let forged_env = fs::read(forged["envelope_path"].as_str().expect("path")).expect("envelope");
    http.post_json(&path, forged_env)
        .expect_denied_reason("signer-untrusted", "POST forged envelope");

    // genuine, but about another artifact
    let other = attest(
        &work.path().join("other"),
        file.to_str().expect("UTF-8"),
        &builder,
        &["--statement-subject", &sha256_digest(b"another file")],
        &pusher,
    );
    let other_env = fs::read(other["envelope_path"].as_str().expect("path")).expect("envelope");
    http.post_json(&path, other_env)
        .expect_denied_reason("subject-mismatch", "POST envelope naming another artifact");

    // not evidence at all
    http.post_json(&path, br#"{"hello":"world"}"#.to_vec())
        .expect_status(400, "POST non-evidence JSON");

    let v = record(&http, &digest);
    assert_eq!(
        len(&v["attestations"]),
        1,
        "refused posts left entries: {v}"
    );
    assert_eq!(len(&v["signatures"]), 0, "{v}");
}

#[test]
fn without_trust_material_evidence_is_recorded_unverified() {
    if !signer_available() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let somebody = keygen(work.path(), "somebody");
    let tg = Tollgate::start(TollgateOpts::default());
    let token = tg.create_token("pusher", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);
    let img = TinyImage::new();
    http.push_image(REPO, "1.0.0", &img);

    let out = cosign_sign(&tg, &token, REPO, &img.digest, &[&somebody], &[]);
    script_push_resp(&out).expect_status(201, "cosign signature with no trust configured");
    let att = attest(
        &work.path().join("att"),
        &img.digest,
        &somebody,
        &["--push-att", &tg.host(), REPO],
        &token,
    );
    script_push_resp(&att).expect_status(201, "attestation with no trust configured");

    let v = record(&http, &img.digest);
    let sig_manifest = push_field(&out, "manifest_digest");
    let s = entry(&v, "signatures", &sig_manifest, "unverifiable signature");
    assert_eq!(s["verified"], false, "{s}");
    assert_eq!(s["reason"], "trust-material-missing", "{s}");
    assert!(s["signer"].is_null(), "{s}");
    // an attestation stays an attestation, verified or not
    let att_manifest = push_field(&att, "manifest_digest");
    let a = entry(
        &v,
        "attestations",
        &att_manifest,
        "unverifiable attestation",
    );
    assert_eq!(a["verified"], false, "{a}");
    assert_eq!(a["reason"], "trust-material-missing", "{a}");
    assert_eq!(a["predicate_type"], SLSA_V1, "{a}");
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_eq!(len(&v["attestations"]), 1, "{v}");
    assert!(
        v["provenance"].is_null(),
        "unverified provenance is no provenance: {v}"
    );
}

#[test]
fn trust_change_on_restart_reverifies_verdicts() {
    if !signer_available() {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let a = keygen(work.path(), "a");
    let b = keygen(work.path(), "b");
    let original = trust_toml(&[("release", KeyRef::Path("a.pub"))], &[BUILDER], None);
    let mut tg = Tollgate::start_with_files(
        TollgateOpts::config(original.clone()),
        &[
            ("a.pub", a.public_pem.as_bytes()),
            ("b.pub", b.public_pem.as_bytes()),
        ],
    );
    let token = tg.create_token("pusher", &["pusher:dev/*"]);
    let img = TinyImage::new();
    tg.basic("ci", &token).push_image(REPO, "1.0.0", &img);
    let out = cosign_sign(&tg, &token, REPO, &img.digest, &[&a], &[]);
    script_push_resp(&out).expect_status(201, "signature with key A");
    let att = attest(
        &work.path().join("att"),
        &img.digest,
        &a,
        &["--push-att", &tg.host(), REPO],
        &token,
    );
    script_push_resp(&att).expect_status(201, "attestation with key A");

    let sig_manifest = push_field(&out, "manifest_digest");
    let att_manifest = push_field(&att, "manifest_digest");
    let sig = |v: &Value, ctx: &str| entry(v, "signatures", &sig_manifest, ctx).clone();
    let attn = |v: &Value, ctx: &str| entry(v, "attestations", &att_manifest, ctx).clone();

    let v = record(&tg.basic("ci", &token), &img.digest);
    let s = sig(&v, "under key A");
    assert_verified_by_key(&s, "release", Some(REPO), "under key A");
    assert_verified_provenance(
        &attn(&v, "under key A"),
        "release",
        Some(REPO),
        &att,
        "under key A",
    );
    let first_trust = s["trust_digest"].clone();

    // only key B is trusted now
    tg.restart_with_config(trust_toml(
        &[("other", KeyRef::Path("b.pub"))],
        &[BUILDER],
        None,
    ));
    let http = tg.basic("ci", &token);
    let v = record(&http, &img.digest);
    let s = sig(&v, "only key B");
    assert_eq!(s["verified"], false, "{s}");
    assert_eq!(s["reason"], "signer-untrusted", "{s}");
    assert_ne!(
        s["trust_digest"], first_trust,
        "trust digest unchanged: {s}"
    );
    let e = attn(&v, "only key B");
    assert_eq!(e["verified"], false, "{e}");
    assert_eq!(e["reason"], "signer-untrusted", "{e}");
    assert_eq!(e["trust_digest"], s["trust_digest"], "{e}");
    assert!(v["provenance"].is_null(), "{v}");
    // the image itself is untouched
    http.expect_image(REPO, &img, "after trust change");

    // key A again, but another builder list: the signature is back, the provenance is not
    tg.restart_with_config(trust_toml(
        &[("release", KeyRef::Path("a.pub"))],
        &["https://other.example/builders/ci"],
        None,
    ));
    let v = record(&tg.basic("ci", &token), &img.digest);
    assert_verified_by_key(
        &sig(&v, "key A, other builders"),
        "release",
        Some(REPO),
        "key A again",
    );
    let e = attn(&v, "key A, other builders");
    assert_eq!(e["verified"], false, "{e}");
    assert_eq!(e["reason"], "provenance-builder-untrusted", "{e}");
    assert!(v["provenance"].is_null(), "{v}");

    // the original configuration: everything verifies again, under the original digest
    tg.restart_with_config(original);
    let v = record(&tg.basic("ci", &token), &img.digest);
    let s = sig(&v, "original trust");
    assert_verified_by_key(&s, "release", Some(REPO), "original trust");
    assert_eq!(s["trust_digest"], first_trust, "{v}");
    assert_verified_provenance(
        &attn(&v, "original trust"),
        "release",
        Some(REPO),
        &att,
        "original trust",
    );
    assert_provenance(&v["provenance"], &att, "original trust");
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_eq!(len(&v["attestations"]), 1, "{v}");
}

/// The containers/image cosign fixture with a Rekor offline bundle, against the Sigstore
/// public-good trusted root: the log entry is verified and shown.
#[test]
fn cosign_fixture_with_rekor_bundle() {
    const DIGEST: &str = "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a";
    let dir = "cosign/key-with-rekor-bundle";
    let payload = read_fixture(&format!("{dir}/payload.json"));
    let signature = String::from_utf8(read_fixture(&format!("{dir}/signature.b64")))
        .expect("UTF-8")
        .trim()
        .to_string();
    let bundle = String::from_utf8(read_fixture(&format!("{dir}/rekor-bundle.json")))
        .expect("UTF-8")
        .trim()
        .to_string();
    let config = trust_toml(
        &[("release", KeyRef::Path("cosign.pub"))],
        &[BUILDER],
        Some("trusted_root.json"),
    );
    let tg = Tollgate::start_with_files(
        TollgateOpts::config(config),
        &[
            ("cosign.pub", &read_fixture(&format!("{dir}/cosign.pub"))),
            (
                "trusted_root.json",
                &read_fixture("trust/sigstore-public-good.trusted_root.json"),
            ),
        ],
    );
    let http = tg.admin();
    let repo = "dev/fixture";
    let tag = cosign_tag(DIGEST, ".sig");

    // the log entry's time moved by one second: its SET no longer verifies
    let mut tampered: Value = serde_json::from_str(&bundle).expect("bundle JSON");
    let t = tampered["Payload"]["integratedTime"]
        .as_i64()
        .expect("integratedTime");
    tampered["Payload"]["integratedTime"] = json!(t + 1);
    let bad = CosignImage::signature(
        &payload,
        &[
            (COSIGN_SIGNATURE_ANNOTATION, &signature),
            (COSIGN_BUNDLE_ANNOTATION, &tampered.to_string()),
        ],
    );
    http.push_cosign_image(repo, &tag, &bad)
        .expect_denied_reason("tlog-entry-invalid", "tampered Rekor bundle");
    http.get_manifest(repo, &tag)
        .expect_status(404, "tag after refused tampered bundle");
    http.artifact_record(DIGEST)
        .expect_status(404, "record after refused tampered bundle");

    let good = CosignImage::signature(
        &payload,
        &[
            (COSIGN_SIGNATURE_ANNOTATION, &signature),
            (COSIGN_BUNDLE_ANNOTATION, &bundle),
        ],
    );
    http.push_cosign_image(repo, &tag, &good)
        .expect_status(201, "fixture signature with its Rekor bundle");
    let v = record(&http, DIGEST);
    assert_eq!(
        v["repositories"],
        json!([]),
        "the image itself was never pushed: {v}"
    );
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    let s = &v["signatures"][0];
    assert_verified_by_key(s, "release", Some(repo), "fixture signature");
    assert_eq!(s["evidence_digest"], good.digest.as_str(), "{s}");
    assert_eq!(s["tlog"]["log_index"], 11_608_800, "{s}");
    assert_eq!(
        s["tlog"]["integrated_time"], "2023-01-20T21:57:39.000Z",
        "{s}"
    );
}

/// The containers/image cosign fixture without a log entry: verifies with its key, is
/// refused with the other one.
#[test]
fn cosign_fixture_key_signature() {
    const DIGEST: &str = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00";
    let dir = "cosign/key-simple-signing";
    let payload = read_fixture(&format!("{dir}/payload.json"));
    let signature = String::from_utf8(read_fixture(&format!("{dir}/signature.b64")))
        .expect("UTF-8")
        .trim()
        .to_string();
    let sig = CosignImage::signature(&payload, &[(COSIGN_SIGNATURE_ANNOTATION, &signature)]);
    let tag = cosign_tag(DIGEST, ".sig");
    let repo = "dev/fixture";
    // the manifest the payload names hashes to that digest
    assert_eq!(
        sha256_digest(&read_fixture(&format!("{dir}/manifest.json"))),
        DIGEST
    );

    let wrong = Tollgate::start_with_files(
        TollgateOpts::config(trust_toml(
            &[("release", KeyRef::Path("cosign.pub"))],
            &[],
            None,
        )),
        &[("cosign.pub", &read_fixture(&format!("{dir}/wrong-key.pub")))],
    );
    wrong
        .admin()
        .push_cosign_image(repo, &tag, &sig)
        .expect_denied_reason("signer-untrusted", "fixture signature, wrong key");
    wrong
        .admin()
        .artifact_record(DIGEST)
        .expect_status(404, "record after refusal");

    let right = Tollgate::start_with_files(
        TollgateOpts::config(trust_toml(
            &[("release", KeyRef::Path("cosign.pub"))],
            &[],
            None,
        )),
        &[("cosign.pub", &read_fixture(&format!("{dir}/cosign.pub")))],
    );
    right
        .admin()
        .push_cosign_image(repo, &tag, &sig)
        .expect_status(201, "fixture signature, its key");
    let v = record(&right.admin(), DIGEST);
    assert_verified_by_key(
        &v["signatures"][0],
        "release",
        Some(repo),
        "fixture signature",
    );
}

/// In front of a real registry: the gateway reads the evidence layers back from the upstream
/// to verify them, and refused evidence never reaches the upstream as a manifest or tag.
#[test]
fn evidence_in_upstream_mode() {
    if !signer_available() || !require_tools(&["docker-registry"]) {
        return;
    }
    let work = TempDir::new().expect("tempdir");
    let release = keygen(work.path(), "release");
    let rogue = keygen(work.path(), "rogue");
    let reg = Registry::start();
    let tg = Tollgate::start(TollgateOpts {
        upstream: Some(reg.url()),
        config: Some(trust_toml(
            &[("release", KeyRef::Pem(&release.public_pem))],
            &[BUILDER],
            None,
        )),
        ..TollgateOpts::default()
    });
    let token = tg.create_token("pusher", &["pusher:dev/*"]);
    let http = tg.basic("ci", &token);
    let up = reg.http();
    let img = TinyImage::new();
    http.push_image(REPO, "1.0.0", &img);
    let tag = cosign_tag(&img.digest, ".sig");

    let out = cosign_sign(&tg, &token, REPO, &img.digest, &[&rogue], &[]);
    script_push_resp(&out).expect_denied_reason("signer-untrusted", "untrusted key, upstream mode");
    up.get_manifest(REPO, &tag)
        .expect_status(404, "refused .sig tag upstream");
    up.get_manifest(REPO, &push_field(&out, "manifest_digest"))
        .expect_status(404, "refused .sig manifest upstream");

    let out = cosign_sign(&tg, &token, REPO, &img.digest, &[&release], &[]);
    script_push_resp(&out).expect_status(201, "trusted signature, upstream mode");
    up.get_manifest(REPO, &tag)
        .expect_status(200, ".sig tag upstream")
        .expect_header(
            "Docker-Content-Digest",
            &push_field(&out, "manifest_digest"),
            ".sig tag upstream",
        );
    let att = attest(
        &work.path().join("att"),
        &img.digest,
        &release,
        &["--push-att", &tg.host(), REPO],
        &token,
    );
    script_push_resp(&att).expect_status(201, "attestation, upstream mode");

    let v = record(&http, &img.digest);
    assert_eq!(len(&v["signatures"]), 1, "{v}");
    assert_verified_by_key(
        &v["signatures"][0],
        "release",
        Some(REPO),
        "upstream signature",
    );
    assert_provenance(&v["provenance"], &att, "upstream provenance");
}
