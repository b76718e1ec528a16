//! `tollgate verify`: offline verification for CI jobs and security teams, with cosign- and
//! slsa-verifier-like flags. Prints a JSON verdict; exits 0 verified, 1 not verified, 2 for
//! usage or input errors.

use std::path::PathBuf;

use serde_json::json;
use tollgate_attest::provenance::normalise_source_uri;
use tollgate_attest::{Digest, Evidence, IdentityRule, NamedKey, SubjectMatcher, Trust, Verdict};

/// Inputs of `tollgate verify`.
#[derive(Debug, Default, clap::Args)]
pub struct VerifyArgs {
    /// Public key (PEM) the signature must verify with
    #[arg(long)]
    pub key: Vec<PathBuf>,
    /// Sigstore trusted_root.json for keyless evidence and log entries
    #[arg(long)]
    pub trusted_root: Option<PathBuf>,
    /// Expected certificate identity (SAN e-mail or URI)
    #[arg(long)]
    pub certificate_identity: Option<String>,
    /// Expected certificate identity, as a regular expression (anchored)
    #[arg(long)]
    pub certificate_identity_regexp: Option<String>,
    /// Expected OIDC issuer of the certificate
    #[arg(long)]
    pub certificate_oidc_issuer: Option<String>,
    /// A Sigstore bundle (v0.1–v0.3)
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// A cosign signature (base64) over --payload
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// The signed simple-signing payload
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// The signing certificate (PEM) for a keyless --signature
    #[arg(long)]
    pub certificate: Option<PathBuf>,
    /// The certificate chain (PEM); trust anchors still come from --trusted-root
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// Rekor offline bundle for --signature (cosign's dev.sigstore.cosign/bundle)
    #[arg(long)]
    pub rekor_bundle: Option<PathBuf>,
    /// A DSSE envelope, JSON lines of envelopes, or a Sigstore bundle carrying an attestation
    #[arg(long)]
    pub attestation: Option<PathBuf>,
    /// The artifact the evidence must be about
    #[arg(long)]
    pub artifact: Option<PathBuf>,
    /// The digest the evidence must be about (sha256:…)
    #[arg(long)]
    pub digest: Option<String>,
    /// Trusted builder id (with @ref: exact; without: any ref). Enough for keyless provenance.
    #[arg(long)]
    pub builder_id: Option<String>,
    /// Required source repository (github.com/org/repo or git+https://…)
    #[arg(long)]
    pub source_uri: Option<String>,
    /// Required source commit
    #[arg(long)]
    pub source_commit: Option<String>,
}

/// A usage or input problem (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn read(p: &PathBuf) -> Result<Vec<u8>, UsageError> {
    std::fs::read(p).map_err(|e| UsageError(format!("{}: {e}", p.display())))
}

fn read_text(p: &PathBuf) -> Result<String, UsageError> {
    String::from_utf8(read(p)?)
        .map_err(|_| UsageError(format!("{} is not UTF-8 text", p.display())))
}

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

fn trust_of(a: &VerifyArgs) -> Result<Trust, UsageError> {
    let mut keys = Vec::new();
    for (i, k) in a.key.iter().enumerate() {
        let name = if a.key.len() == 1 {
            k.display().to_string()
        } else {
            format!("key-{i}")
        };
        keys.push(
            NamedKey::from_pem(&name, &read_text(k)?).map_err(|e| UsageError(e.to_string()))?,
        );
    }
    let root = a.trusted_root.as_ref().map(read_text).transpose()?;
    let mut identities = Vec::new();
    let subject = match (&a.certificate_identity, &a.certificate_identity_regexp) {
        (Some(_), Some(_)) => {
            return Err(UsageError(
                "give --certificate-identity or --certificate-identity-regexp, not both".into(),
            ));
        }
        (Some(s), None) => Some(SubjectMatcher::Exact(s.clone())),
        (None, Some(r)) => Some(
            SubjectMatcher::regex(r)
                .map_err(|e| UsageError(format!("--certificate-identity-regexp: {e}")))?,
        ),
        (None, None) => None,
    };
    match (subject, &a.certificate_oidc_issuer) {
        (Some(subject), Some(issuer)) => identities.push(IdentityRule {
            issuer: issuer.clone(),
            subject,
        }),
        (Some(_), None) => {
            return Err(UsageError(
                "--certificate-identity needs --certificate-oidc-issuer".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(UsageError(
                "--certificate-oidc-issuer needs --certificate-identity[-regexp]".into(),
            ));
        }
        (None, None) => {
            // A builder id alone is enough for keyless provenance, as with slsa-verifier: the
            // signer must be that builder (or a delegator acting for it); the builder check
            // itself happens on the provenance.
            if a.builder_id.is_some() {
                identities.push(IdentityRule {
                    issuer: GITHUB_ISSUER.into(),
                    subject: SubjectMatcher::regex(&format!(
                        "{}(@.*)?|https://github\\.com/slsa-framework/slsa-github-generator/\\.github/workflows/delegator_(generic|lowperms-generic)_slsa3\\.yml@refs/tags/v.*",
                        regex_escape(a.builder_id.as_deref().unwrap_or_default().split('@').next().unwrap_or_default())
                    ))
                    .map_err(|e| UsageError(e.to_string()))?,
                });
            }
        }
    }
    let builders = a.builder_id.iter().cloned().collect();
    Trust::new(keys, root.as_deref(), identities, builders).map_err(|e| UsageError(e.to_string()))
}

fn subject_of(a: &VerifyArgs) -> Result<Digest, UsageError> {
    match (&a.artifact, &a.digest) {
        (Some(f), None) => Ok(Digest::sha256_of(&read(f)?)),
        (None, Some(d)) => d.parse().map_err(|e| UsageError(format!("--digest: {e}"))),
        _ => Err(UsageError(
            "name the subject with exactly one of --artifact or --digest".into(),
        )),
    }
}

/// The pieces of evidence named on the command line (an attestation file may hold several
/// envelopes, one per line).
fn evidence_of(a: &VerifyArgs) -> Result<Vec<Evidence>, UsageError> {
    let given = [
        a.bundle.is_some(),
        a.signature.is_some(),
        a.attestation.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given != 1 {
        return Err(UsageError(
            "give exactly one of --bundle, --signature (with --payload) or --attestation".into(),
        ));
    }
    if let Some(b) = &a.bundle {
        return Ok(vec![Evidence::SigstoreBundle {
            bundle: read_text(b)?,
        }]);
    }
    if let Some(s) = &a.signature {
        let payload = a
            .payload
            .as_ref()
            .ok_or_else(|| UsageError("--signature needs --payload".into()))?;
        use base64::Engine as _;
        return Ok(vec![Evidence::CosignSignature {
            payload: base64::engine::general_purpose::STANDARD.encode(read(payload)?),
            signature: read_text(s)?.trim().to_string(),
            certificate: a.certificate.as_ref().map(read_text).transpose()?,
            chain: a.chain.as_ref().map(read_text).transpose()?,
            rekor_bundle: a.rekor_bundle.as_ref().map(read_text).transpose()?,
        }]);
    }
    let path = a
        .attestation
        .as_ref()
        .ok_or_else(|| UsageError("no evidence".into()))?;
    let text = read_text(path)?;
    let docs: Vec<&str> = if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
        vec![text.as_str()]
    } else {
        text.lines().filter(|l| !l.trim().is_empty()).collect()
    };
    docs.into_iter()
        .map(|d| {
            Evidence::from_document(d.as_bytes())
                .map_err(|e| UsageError(format!("{}: {e}", path.display())))
        })
        .collect()
}

/// Source requirements on verified provenance.
fn check_source(a: &VerifyArgs, v: &mut Verdict) {
    let Some(p) = &v.provenance else {
        if a.source_uri.is_some() || a.source_commit.is_some() {
            v.verified = false;
            v.reason = Some("provenance-source-mismatch".into());
            v.message =
                Some("source requirements given, but the evidence carries no provenance".into());
        }
        return;
    };
    if let Some(want) = &a.source_uri {
        let got = p.source_uri.as_deref().map(normalise_source_uri);
        if got.as_deref() != Some(normalise_source_uri(want).as_str()) {
            v.verified = false;
            v.reason = Some("provenance-source-mismatch".into());
            v.message = Some(format!(
                "source is {got:?}, not {}",
                normalise_source_uri(want)
            ));
            return;
        }
    }
    if let Some(want) = &a.source_commit
        && !p
            .source_commit
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(want))
    {
        v.verified = false;
        v.reason = Some("provenance-source-mismatch".into());
        v.message = Some(format!(
            "source commit is {:?}, not {want}",
            p.source_commit
        ));
    }
}

/// Runs the verification; the JSON verdict and whether it verified.
pub fn run(a: &VerifyArgs) -> Result<(serde_json::Value, bool), UsageError> {
    let trust = trust_of(a)?;
    let subject = subject_of(a)?;
    let evidence = evidence_of(a)?;
    let mut best: Option<Verdict> = None;
    for e in &evidence {
        let mut v = e.assess(&trust, &subject);
        if v.verified && a.builder_id.is_some() && v.provenance.is_none() {
            v.verified = false;
            v.reason = Some("provenance-builder-untrusted".into());
            v.message =
                Some("--builder-id given, but the evidence carries no SLSA provenance".into());
        }
        check_source(a, &mut v);
        let done = v.verified;
        if best.as_ref().is_none_or(|b| !b.verified) {
            best = Some(v);
        }
        if done {
            break;
        }
    }
    let v = best.ok_or_else(|| UsageError("no evidence found".into()))?;
    let ok = v.verified;
    let mut out = json!({ "subject": subject });
    let integrated = v
        .tlog
        .as_ref()
        .map(|t| crate::api::rfc3339(t.integrated_time.saturating_mul(1000)));
    if let (Some(obj), serde_json::Value::Object(vm)) = (
        out.as_object_mut(),
        serde_json::to_value(&v).unwrap_or_default(),
    ) {
        obj.extend(vm);
    }
    // Times read the same as in the API's records.
    if let Some(t) = integrated {
        out["tlog"]["integrated_time"] = json!(t);
    }
    Ok((out, ok))
}
