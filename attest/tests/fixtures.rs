//! Every shared fixture verified in its positive form and in the negative forms a forger or a
//! careless pipeline would produce.

use std::path::PathBuf;

use tollgate_attest::{
    CosignSignature, Digest, IdentityRule, NamedKey, Signer, SubjectMatcher, Trust, VerifyError,
    verify_bundle, verify_cosign, verify_envelope, verify_provenance,
};

fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(rel: &str) -> String {
    String::from_utf8(fixture(rel)).unwrap()
}

fn key(name: &str, rel: &str) -> NamedKey {
    NamedKey::from_pem(name, &text(rel)).unwrap()
}

fn root() -> String {
    text("trust/sigstore-public-good.trusted_root.json")
}

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const DELEGATOR: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/delegator_generic_slsa3.yml@refs/tags/v2.1.0";
const TRW: &str = "https://github.com/slsa-framework/example-trw/.github/workflows/builder_high-perms_slsa3.yml@refs/tags/v2.1.0";

fn github_identities() -> Vec<IdentityRule> {
    vec![IdentityRule {
        issuer: GITHUB_ISSUER.into(),
        subject: SubjectMatcher::regex(
            r"https://github\.com/slsa-framework/slsa-github-generator/\.github/workflows/.+",
        )
        .unwrap(),
    }]
}

fn code<T: std::fmt::Debug>(r: Result<T, VerifyError>) -> &'static str {
    r.expect_err("must not verify").code()
}

// ---- cosign, key-based, no log entry ----

const SIMPLE: &str = "cosign/key-simple-signing";

fn simple_sig(payload: &[u8], sig: &str) -> (Vec<u8>, String) {
    (payload.to_vec(), sig.to_string())
}

#[test]
fn cosign_key_signature_verifies_and_binds_the_manifest() {
    let trust = Trust::new(
        vec![key("release", &format!("{SIMPLE}/cosign.pub"))],
        None,
        vec![],
        vec![],
    )
    .unwrap();
    let manifest = Digest::sha256_of(&fixture(&format!("{SIMPLE}/manifest.json")));
    let payload = fixture(&format!("{SIMPLE}/payload.json"));
    let sig = text(&format!("{SIMPLE}/signature.b64"));
    let s = CosignSignature {
        payload: &payload,
        signature: &sig,
        certificate: None,
        chain: None,
        rekor_bundle: None,
    };
    let (v, p) = verify_cosign(&trust, &s, &manifest).unwrap();
    assert_eq!(
        v.signer,
        Signer::Key {
            name: "release".into()
        }
    );
    assert_eq!(v.tlog, None);
    assert_eq!(
        p.docker_reference.as_deref(),
        Some("192.168.64.2:5000/cosign-signed-single-sample")
    );
}

#[test]
fn cosign_key_signature_negatives() {
    let payload = fixture(&format!("{SIMPLE}/payload.json"));
    let sig = text(&format!("{SIMPLE}/signature.b64"));
    let mut manifest = fixture(&format!("{SIMPLE}/manifest.json"));
    let good = Digest::sha256_of(&manifest);
    let s = CosignSignature {
        payload: &payload,
        signature: &sig,
        certificate: None,
        chain: None,
        rekor_bundle: None,
    };

    // the wrong key
    let wrong = Trust::new(
        vec![key("other", &format!("{SIMPLE}/wrong-key.pub"))],
        None,
        vec![],
        vec![],
    )
    .unwrap();
    assert_eq!(code(verify_cosign(&wrong, &s, &good)), "signer-untrusted");

    let trust = Trust::new(
        vec![key("release", &format!("{SIMPLE}/cosign.pub"))],
        None,
        vec![],
        vec![],
    )
    .unwrap();
    // one flipped byte in the manifest: the signature no longer binds it
    manifest[10] ^= 1;
    assert_eq!(
        code(verify_cosign(&trust, &s, &Digest::sha256_of(&manifest))),
        "subject-mismatch"
    );
    // a valid signature for another image replayed on this one
    assert_eq!(
        code(verify_cosign(
            &trust,
            &s,
            &Digest::sha256_of(b"another image")
        )),
        "subject-mismatch"
    );
    // a payload edited to name this image: the signature breaks
    let other = Digest::sha256_of(b"another image");
    let forged = String::from_utf8(payload.clone())
        .unwrap()
        .replace(&good.to_string(), &other.to_string());
    let (fp, fs) = simple_sig(forged.as_bytes(), &sig);
    let f = CosignSignature {
        payload: &fp,
        signature: &fs,
        certificate: None,
        chain: None,
        rekor_bundle: None,
    };
    assert_eq!(code(verify_cosign(&trust, &f, &other)), "signer-untrusted");
    // no keys at all
    let none = Trust::new(vec![], None, vec![], vec![]).unwrap();
    assert_eq!(
        code(verify_cosign(&none, &s, &good)),
        "trust-material-missing"
    );
    // garbage
    let g = CosignSignature {
        payload: b"{",
        signature: &sig,
        certificate: None,
        chain: None,
        rekor_bundle: None,
    };
    assert_eq!(code(verify_cosign(&trust, &g, &good)), "evidence-malformed");
}

// ---- cosign, key-based, with a Rekor bundle ----

const REKOR: &str = "cosign/key-with-rekor-bundle";

#[test]
fn cosign_rekor_bundle_is_verified_offline() {
    let trust = Trust::new(
        vec![key("ci", &format!("{REKOR}/cosign.pub"))],
        Some(&root()),
        vec![],
        vec![],
    )
    .unwrap();
    let manifest = Digest::sha256_of(&fixture(&format!("{REKOR}/manifest.json")));
    let payload = fixture(&format!("{REKOR}/payload.json"));
    let sig = text(&format!("{REKOR}/signature.b64"));
    let bundle = text(&format!("{REKOR}/rekor-bundle.json"));
    let s = CosignSignature {
        payload: &payload,
        signature: &sig,
        certificate: None,
        chain: None,
        rekor_bundle: Some(&bundle),
    };
    let (v, _) = verify_cosign(&trust, &s, &manifest).unwrap();
    assert_eq!(v.signer, Signer::Key { name: "ci".into() });
    let tlog = v.tlog.expect("log entry verified");
    assert_eq!(
        (tlog.log_index, tlog.integrated_time),
        (Some(11_608_800), 1_674_251_859)
    );

    // the same signature with another key configured
    let wrong = Trust::new(
        vec![key("x", &format!("{SIMPLE}/cosign.pub"))],
        Some(&root()),
        vec![],
        vec![],
    )
    .unwrap();
    assert_eq!(
        code(verify_cosign(&wrong, &s, &manifest)),
        "signer-untrusted"
    );

    // a tampered Rekor bundle: another integrated time breaks the SET
    let tampered = bundle.replace("1674251859", "1674251860");
    assert_ne!(tampered, bundle);
    let t = CosignSignature {
        rekor_bundle: Some(&tampered),
        ..s
    };
    assert_eq!(
        code(verify_cosign(&trust, &t, &manifest)),
        "tlog-entry-invalid"
    );

    // a Rekor bundle that belongs to another signature
    let other_sig = text(&format!("{SIMPLE}/signature.b64"));
    let other_payload = fixture(&format!("{SIMPLE}/payload.json"));
    let simple_trust = Trust::new(
        vec![key("r", &format!("{SIMPLE}/cosign.pub"))],
        Some(&root()),
        vec![],
        vec![],
    )
    .unwrap();
    let m = Digest::sha256_of(&fixture(&format!("{SIMPLE}/manifest.json")));
    let mixed = CosignSignature {
        payload: &other_payload,
        signature: &other_sig,
        certificate: None,
        chain: None,
        rekor_bundle: Some(&bundle),
    };
    assert_eq!(
        code(verify_cosign(&simple_trust, &mixed, &m)),
        "tlog-entry-invalid"
    );
}

// ---- Sigstore bundle v0.2 with a DSSE SLSA v1 statement (delegated builder) ----

const DELEGATED: &str = "dsse-slsa/slsa-v1-delegator-bundle-v0.2";

fn delegated() -> (String, Digest) {
    (
        text(&format!(
            "{DELEGATED}/binary-linux-amd64-workflow_dispatch.build.slsa"
        )),
        Digest::sha256_of(&fixture(&format!("{DELEGATED}/subject-hello.txt"))),
    )
}

#[test]
fn bundle_with_slsa_v1_provenance_verifies() {
    let (bundle, subject) = delegated();
    let trust = Trust::new(vec![], Some(&root()), github_identities(), vec![TRW.into()]).unwrap();
    let v = verify_bundle(&trust, &bundle, &subject).unwrap();
    assert_eq!(
        v.signer,
        Signer::Identity {
            subject: DELEGATOR.into(),
            issuer: GITHUB_ISSUER.into()
        }
    );
    let tlog = v.tlog.clone().expect("log entry");
    assert_eq!(tlog.log_index, Some(174_304_175));
    let p = verify_provenance(&trust, &v).unwrap();
    assert_eq!(p.builder_id, TRW);
    assert_eq!(
        p.source_uri.as_deref(),
        Some("git+https://github.com/slsa-framework/example-package")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(
        p.source_commit.as_deref(),
        Some("4d329c75e7ec1725f7c9ce917a8799d408d06be3")
    );
    assert_eq!(
        p.build_type.as_deref(),
        Some("https://github.com/slsa-framework/slsa-github-generator/delegator-generic@v0")
    );
    assert!(
        p.run_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://github.com/")),
        "{p:?}"
    );
    // a builder id without its ref matches by name
    let by_name = Trust::new(
        vec![],
        Some(&root()),
        github_identities(),
        vec![TRW.split('@').next().unwrap().into()],
    )
    .unwrap();
    assert!(
        verify_provenance(
            &by_name,
            &verify_bundle(&by_name, &bundle, &subject).unwrap()
        )
        .is_ok()
    );
}

#[test]
fn bundle_negatives() {
    let (bundle, subject) = delegated();
    let trust = Trust::new(vec![], Some(&root()), github_identities(), vec![TRW.into()]).unwrap();
    // a statement about another artifact
    assert_eq!(
        code(verify_bundle(
            &trust,
            &bundle,
            &Digest::sha256_of(b"artifact1\n")
        )),
        "subject-mismatch"
    );
    // an identity nobody trusts
    let strangers = vec![IdentityRule {
        issuer: GITHUB_ISSUER.into(),
        subject: SubjectMatcher::Exact("https://github.com/someone/else".into()),
    }];
    let t = Trust::new(vec![], Some(&root()), strangers, vec![TRW.into()]).unwrap();
    assert_eq!(
        code(verify_bundle(&t, &bundle, &subject)),
        "signer-untrusted"
    );
    // the right identity from another issuer
    let other_issuer = vec![IdentityRule {
        issuer: "https://accounts.google.com".into(),
        subject: SubjectMatcher::Exact(DELEGATOR.into()),
    }];
    let t = Trust::new(vec![], Some(&root()), other_issuer, vec![TRW.into()]).unwrap();
    assert_eq!(
        code(verify_bundle(&t, &bundle, &subject)),
        "signer-untrusted"
    );
    // an untrusted builder
    let t = Trust::new(
        vec![],
        Some(&root()),
        github_identities(),
        vec!["https://github.com/evil/builder".into()],
    )
    .unwrap();
    let v = verify_bundle(&t, &bundle, &subject).unwrap();
    assert_eq!(
        code(verify_provenance(&t, &v)),
        "provenance-builder-untrusted"
    );
    // the trusted builder at another ref
    let t = Trust::new(
        vec![],
        Some(&root()),
        github_identities(),
        vec![format!(
            "{}@refs/tags/v9.9.9",
            TRW.split('@').next().unwrap()
        )],
    )
    .unwrap();
    let v = verify_bundle(&t, &bundle, &subject).unwrap();
    assert_eq!(
        code(verify_provenance(&t, &v)),
        "provenance-builder-untrusted"
    );
    // no trusted root: keyless evidence cannot be judged
    let t = Trust::new(vec![], None, github_identities(), vec![TRW.into()]).unwrap();
    assert_eq!(
        code(verify_bundle(&t, &bundle, &subject)),
        "trust-material-missing"
    );
    // one flipped byte in the signed statement
    let mut json: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    let payload = json["dsseEnvelope"]["payload"]
        .as_str()
        .unwrap()
        .to_string();
    let mut raw = tollgate_attest::dsse::decode_base64(&payload).unwrap();
    let i = raw.iter().position(|&b| b == b'k').unwrap();
    raw[i] = b'K';
    json["dsseEnvelope"]["payload"] = base64_std(&raw).into();
    let r = verify_bundle(&trust, &json.to_string(), &subject);
    assert!(matches!(
        code(r),
        "signature-invalid" | "tlog-entry-invalid"
    ));
    // a tampered log entry
    let mut json: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    let t = json["verificationMaterial"]["tlogEntries"][0]["integratedTime"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    json["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = (t + 1).to_string().into();
    assert_eq!(
        code(verify_bundle(&trust, &json.to_string(), &subject)),
        "tlog-entry-invalid"
    );
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

// ---- bare DSSE with slsa-github-generator's embedded certificate, SLSA v0.2 ----

const EMBEDDED: &str = "dsse-slsa/slsa-v0.2-dsse-embedded-cert";

#[test]
fn embedded_certificate_envelope_without_log_entry_is_refused() {
    let env = fixture(&format!("{EMBEDDED}/annotated-tag.intoto.jsonl"));
    let subject = Digest::sha256_of(&fixture(&format!("{EMBEDDED}/subject-artifact1.txt")));
    let trust = Trust::new(vec![], Some(&root()), github_identities(), vec![]).unwrap();
    // Nothing anchors when the 10-minute certificate signed: fail closed.
    let r = verify_envelope(&trust, &env, &subject);
    assert!(matches!(
        code(r),
        "tlog-entry-missing" | "certificate-expired"
    ));
    // and a statement about another artifact is refused before any crypto
    assert_eq!(
        code(verify_envelope(&trust, &env, &Digest::sha256_of(b"nope"))),
        "subject-mismatch"
    );
}

// ---- a bare DSSE envelope signed with a key by an independent signer ----

#[test]
fn key_signed_envelope_verifies_and_forgeries_do_not() {
    use sigstore_crypto::KeyPair;
    let subject = Digest::sha256_of(b"the artifact");
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"a","digest":{{"sha256":"{}"}}}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{{"buildDefinition":{{"buildType":"https://example.com/t","resolvedDependencies":[{{"uri":"git+https://github.com/org/repo@refs/heads/main","digest":{{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}}}]}},"runDetails":{{"builder":{{"id":"https://ci.example.com/builder@v1"}},"metadata":{{"invocationId":"https://ci.example.com/runs/42"}}}}}}}}"#,
        subject.hex()
    );
    let kp = KeyPair::generate_ecdsa_p256().unwrap();
    let pae = tollgate_attest::dsse::pae("application/vnd.in-toto+json", statement.as_bytes());
    let sig = kp.sign(&pae).unwrap();
    let env = serde_json::json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": base64_std(statement.as_bytes()),
        "signatures": [{"keyid": "", "sig": base64_std(sig.as_bytes())}],
    })
    .to_string();
    let pem = kp.public_key_der().unwrap().to_pem();
    let trust = Trust::new(
        vec![NamedKey::from_pem("ci", &pem).unwrap()],
        None,
        vec![],
        vec!["https://ci.example.com/builder".into()],
    )
    .unwrap();
    let v = verify_envelope(&trust, env.as_bytes(), &subject).unwrap();
    assert_eq!(v.signer, Signer::Key { name: "ci".into() });
    let p = verify_provenance(&trust, &v).unwrap();
    assert_eq!(
        p.source_commit.as_deref(),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(p.run_url.as_deref(), Some("https://ci.example.com/runs/42"));

    // the statement edited after signing
    let edited = env.replace(
        &base64_std(statement.as_bytes()),
        &base64_std(statement.replace("main", "evil").as_bytes()),
    );
    assert_eq!(
        code(verify_envelope(&trust, edited.as_bytes(), &subject)),
        "signer-untrusted"
    );
    // another key
    let other = KeyPair::generate_ecdsa_p256().unwrap();
    let t = Trust::new(
        vec![NamedKey::from_pem("x", &other.public_key_der().unwrap().to_pem()).unwrap()],
        None,
        vec![],
        vec![],
    )
    .unwrap();
    assert_eq!(
        code(verify_envelope(&t, env.as_bytes(), &subject)),
        "signer-untrusted"
    );
    // a builder nobody trusts
    let t = Trust::new(
        vec![NamedKey::from_pem("ci", &pem).unwrap()],
        None,
        vec![],
        vec!["https://other".into()],
    )
    .unwrap();
    let v = verify_envelope(&t, env.as_bytes(), &subject).unwrap();
    assert_eq!(
        code(verify_provenance(&t, &v)),
        "provenance-builder-untrusted"
    );
}

// ---- an ed25519 cosign key ----

/// An ed25519 cosign signature made with OpenSSL (`openssl pkeyutl -sign -rawin` over the
/// payload below), an independent signer; the signing library here makes no ed25519 keys.
const ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAaoNF6wOS8ZrtBHidZo4124hlQdNxzvPeraaMrvvuaHc=\n-----END PUBLIC KEY-----\n";
const ED25519_OTHER_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAvTBGUXDG2Dk6WL9X66o4WZEyZpgd+f7YNTBPTLMOCQw=\n-----END PUBLIC KEY-----\n";
const ED25519_SIG: &str =
    "R5AY/5dCaaFjZ8uHw9NsdBE2jCK63kaycHcEZjuH8JQ6cB4Ei6rDAJz7WKuSZjADjlAlACaDBvAB2L/975uSDQ==";

#[test]
fn cosign_signature_with_an_ed25519_key() {
    let image = Digest::sha256_of(b"an image manifest");
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"r/app"}},"image":{{"docker-manifest-digest":"{image}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    let trust = Trust::new(
        vec![NamedKey::from_pem("ed", ED25519_PUB).unwrap()],
        None,
        vec![],
        vec![],
    )
    .unwrap();
    let s = CosignSignature {
        payload: payload.as_bytes(),
        signature: ED25519_SIG,
        certificate: None,
        chain: None,
        rekor_bundle: None,
    };
    let (v, _) = verify_cosign(&trust, &s, &image).unwrap();
    assert_eq!(v.signer, Signer::Key { name: "ed".into() });
    let wrong = Trust::new(
        vec![NamedKey::from_pem("o", ED25519_OTHER_PUB).unwrap()],
        None,
        vec![],
        vec![],
    )
    .unwrap();
    assert_eq!(code(verify_cosign(&wrong, &s, &image)), "signer-untrusted");
    let edited = payload.replace("r/app", "r/evil");
    let e = CosignSignature {
        payload: edited.as_bytes(),
        ..s
    };
    assert_eq!(code(verify_cosign(&trust, &e, &image)), "signer-untrusted");
}
