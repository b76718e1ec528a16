//! `tollgate verify`, driven as a CI job drives it, on the shared fixtures: exit 0 verified,
//! 1 not verified (with the reason code in the JSON verdict), 2 for usage errors.

use std::path::PathBuf;

use serde_json::Value;
use tollgate_e2e::tollgate_cli;

fn fx(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
        .display()
        .to_string()
}

fn verify(args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    let out = tollgate_cli(&all);
    let code = out.status.code().unwrap_or(-1);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        code,
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SIMPLE: &str = "cosign/key-simple-signing";
const DELEGATED: &str = "dsse-slsa/slsa-v1-delegator-bundle-v0.2";
const TRW: &str =
    "https://github.com/slsa-framework/example-trw/.github/workflows/builder_high-perms_slsa3.yml";

#[test]
fn cosign_key_signature() {
    let (key, sig, payload, manifest) = (
        fx(&format!("{SIMPLE}/cosign.pub")),
        fx(&format!("{SIMPLE}/signature.b64")),
        fx(&format!("{SIMPLE}/payload.json")),
        fx(&format!("{SIMPLE}/manifest.json")),
    );
    let (code, v, err) = verify(&[
        "--key",
        &key,
        "--signature",
        &sig,
        "--payload",
        &payload,
        "--artifact",
        &manifest,
    ]);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["verified"], true);
    assert_eq!(v["signer"]["kind"], "key");
    assert_eq!(
        v["subject"],
        "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
    );

    let wrong = fx(&format!("{SIMPLE}/wrong-key.pub"));
    let (code, v, _) = verify(&[
        "--key",
        &wrong,
        "--signature",
        &sig,
        "--payload",
        &payload,
        "--artifact",
        &manifest,
    ]);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("signer-untrusted")),
        "{v}"
    );

    // the signature replayed on another image
    let other = format!("sha256:{}", "1".repeat(64));
    let (code, v, _) = verify(&[
        "--key",
        &key,
        "--signature",
        &sig,
        "--payload",
        &payload,
        "--digest",
        &other,
    ]);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("subject-mismatch")),
        "{v}"
    );
}

#[test]
fn slsa_provenance_bundle_with_builder_and_source() {
    let root = fx("trust/sigstore-public-good.trusted_root.json");
    let att = fx(&format!(
        "{DELEGATED}/binary-linux-amd64-workflow_dispatch.build.slsa"
    ));
    let art = fx(&format!("{DELEGATED}/subject-hello.txt"));
    let base = [
        "--trusted-root",
        root.as_str(),
        "--attestation",
        att.as_str(),
        "--artifact",
        art.as_str(),
    ];

    let mut ok = base.to_vec();
    ok.extend([
        "--builder-id",
        TRW,
        "--source-uri",
        "github.com/slsa-framework/example-package",
        "--source-commit",
        "4d329c75e7ec1725f7c9ce917a8799d408d06be3",
    ]);
    let (code, v, err) = verify(&ok);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["provenance"]["source_ref"], "refs/heads/main");
    assert_eq!(v["tlog"]["log_index"], 174_304_175);

    let mut bad_builder = base.to_vec();
    bad_builder.extend([
        "--builder-id",
        "https://github.com/evil/builder/.github/workflows/b.yml",
    ]);
    let (code, v, _) = verify(&bad_builder);
    assert_eq!(code, 1, "{v}");
    assert!(
        matches!(
            v["reason"].as_str(),
            Some("provenance-builder-untrusted" | "signer-untrusted")
        ),
        "{v}"
    );

    let mut bad_source = base.to_vec();
    bad_source.extend([
        "--builder-id",
        TRW,
        "--source-uri",
        "github.com/slsa-framework/other",
    ]);
    let (code, v, _) = verify(&bad_source);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("provenance-source-mismatch")),
        "{v}"
    );

    let mut bad_commit = base.to_vec();
    bad_commit.extend([
        "--builder-id",
        TRW,
        "--source-commit",
        "0000000000000000000000000000000000000000",
    ]);
    let (code, v, _) = verify(&bad_commit);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("provenance-source-mismatch")),
        "{v}"
    );

    // the statement is about another file
    let other = fx("dsse-slsa/slsa-v0.2-dsse-embedded-cert/subject-artifact1.txt");
    let (code, v, _) = verify(&[
        "--trusted-root",
        &root,
        "--attestation",
        &att,
        "--artifact",
        &other,
        "--builder-id",
        TRW,
    ]);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("subject-mismatch")),
        "{v}"
    );
}

#[test]
fn keyless_jsonl_without_log_entry_fails_closed() {
    let root = fx("trust/sigstore-public-good.trusted_root.json");
    let att = fx("dsse-slsa/slsa-v0.2-dsse-embedded-cert/annotated-tag.intoto.jsonl");
    let art = fx("dsse-slsa/slsa-v0.2-dsse-embedded-cert/subject-artifact1.txt");
    let (code, v, _) = verify(&[
        "--trusted-root",
        &root,
        "--attestation",
        &att,
        "--artifact",
        &art,
        "--builder-id",
        "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml",
    ]);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("tlog-entry-missing")),
        "{v}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let key = fx(&format!("{SIMPLE}/cosign.pub"));
    for args in [
        vec![
            "--key",
            key.as_str(),
            "--digest",
            "sha256:abc",
            "--bundle",
            "x",
        ],
        vec![
            "--key",
            key.as_str(),
            "--artifact",
            "/nonexistent",
            "--bundle",
            "/nonexistent",
        ],
        vec![
            "--key",
            key.as_str(),
            "--digest",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
        vec![
            "--certificate-identity",
            "a@b",
            "--digest",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "--bundle",
            "x",
        ],
    ] {
        let (code, v, err) = verify(&args);
        assert_eq!(code, 2, "{args:?}: {v} {err}");
        assert!(!err.is_empty(), "a usage error says why");
    }
}
