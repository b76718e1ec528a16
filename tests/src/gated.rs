//! A gateway that trusts one cosign key (`ci-key`) and reads its promotion policy from a
//! directory: how every promotion scenario starts (`tests/tests/promotion.rs`,
//! `release_gates.rs`, `console.rs`), with the real signers of `tests/scripts/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde_json::Value;
use tempfile::TempDir;

use crate::{
    Blob, Http, OCI_MANIFEST, TinyImage, Tollgate, TollgateOpts, artifact_manifest, python3_json,
    script_push_resp, scripts_dir, skopeo_copy_in, unique,
};

/// CycloneDX JSON's media type.
pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";

pub struct Gated {
    /// Scratch space for layouts and attestations; holds the key pair.
    pub work: TempDir,
    pub tg: Tollgate,
    /// The trusted private key (cosign format).
    pub key: PathBuf,
}

impl std::fmt::Debug for Gated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gated")
            .field("gateway", &self.tg.base_url())
            .finish_non_exhaustive()
    }
}

impl Gated {
    /// Starts the gateway with `policy` as `policy/base.toml`. `trust` is added to the
    /// `[trust]` table (e.g. `builders = [...]`), `extra` after the `[policy]` table.
    pub fn start(trust: &str, extra: &str, policy: &str) -> Gated {
        let work = TempDir::new().expect("tempdir");
        let keys = python3_json(
            &scripts_dir().join("cosign_keygen.py"),
            &[work.path().join("ci").to_str().unwrap()],
            &[],
        );
        let key = PathBuf::from(keys["private"].as_str().unwrap());
        let public = fs::read(keys["public"].as_str().unwrap()).unwrap();
        let config = format!(
            "[trust]\n{trust}\n[[trust.keys]]\nname = \"ci-key\"\npath = \"ci.pub\"\n\n[policy]\ndir = \"policy\"\n{extra}"
        );
        let tg = Tollgate::start_with_files(
            TollgateOpts::config(config),
            &[
                ("ci.pub", public.as_slice()),
                ("policy/base.toml", policy.as_bytes()),
            ],
        );
        Gated { work, tg, key }
    }

    /// Pushes a fresh image to `repo:tag` with skopeo, as `user`.
    pub fn skopeo_push(&self, user: &str, token: &str, repo: &str, tag: &str) -> TinyImage {
        let img = TinyImage::new();
        let layout = self.work.path().join(format!("layout-{}", unique()));
        img.write_layout(&layout, "v1");
        skopeo_copy_in(
            &layout,
            &format!("{user}:{token}"),
            &format!("docker://{}/{repo}:{tag}", self.tg.host()),
        )
        .ok();
        img
    }

    /// Signs `digest` with the trusted key and pushes the signature (`cosign_sign.py`).
    pub fn sign(&self, token: &str, repo: &str, digest: &str) {
        let signed = python3_json(
            &scripts_dir().join("cosign_sign.py"),
            &[
                &self.tg.host(),
                repo,
                "--digest",
                digest,
                "--key",
                self.key.to_str().unwrap(),
            ],
            &[("TOLLGATE_TOKEN", token)],
        );
        script_push_resp(&signed).expect_status(201, "push .sig");
    }

    /// SLSA provenance for `digest`, signed with the trusted key and pushed as an attestation
    /// (`slsa_attest.py`); what the script reports (`source_commit`, …).
    pub fn attest(&self, token: &str, repo: &str, digest: &str) -> Value {
        let out = self.work.path().join(format!("att-{}", unique()));
        let att = python3_json(
            &scripts_dir().join("slsa_attest.py"),
            &[
                out.to_str().unwrap(),
                "--subject",
                digest,
                "--key",
                self.key.to_str().unwrap(),
                "--push-att",
                &self.tg.host(),
                repo,
            ],
            &[("TOLLGATE_TOKEN", token)],
        );
        script_push_resp(&att).expect_status(201, "push .att");
        att
    }

    /// Pushes `sbom` (CycloneDX JSON) as a referrer of `img` through `http`.
    pub fn push_sbom(&self, http: &Http, repo: &str, img: &TinyImage, sbom: Vec<u8>) {
        http.push_blob(repo, &Blob::empty().data);
        let doc = Blob::new(CYCLONEDX, sbom);
        http.push_blob(repo, &doc.data);
        let (m, d) = artifact_manifest(
            CYCLONEDX,
            &doc,
            Some(img.manifest_descriptor()),
            &BTreeMap::new(),
        );
        http.put_manifest(repo, &d, OCI_MANIFEST, &m)
            .expect_status(201, "push SBOM referrer");
    }
}
