//! What Tollgate trusts: named public keys, a Sigstore trusted root (Fulcio CAs, Rekor and CT
//! log keys, timestamp authorities), signer identities, and builders.

use std::fmt;

use regex::Regex;
use sigstore_trust_root::TrustedRoot;
use sigstore_types::DerPublicKey;
use sigstore_verify::Verifier;

use crate::VerifyError;

/// A public key trusted under a name (the name is what records show as the signer).
#[derive(Clone)]
pub struct NamedKey {
    pub name: String,
    pub key: DerPublicKey,
}

impl fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NamedKey {
    pub fn from_pem(name: &str, pem: &str) -> Result<Self, VerifyError> {
        let key = DerPublicKey::from_pem(pem)
            .map_err(|e| VerifyError::Malformed(format!("public key {name:?}: {e}")))?;
        sigstore_crypto::VerificationKey::from_spki(&key)
            .map_err(|e| VerifyError::Unsupported(format!("public key {name:?}: {e}")))?;
        Ok(NamedKey {
            name: name.to_string(),
            key,
        })
    }
}

/// How a signer's certificate subject (SAN) is matched.
#[derive(Debug, Clone)]
pub enum SubjectMatcher {
    Exact(String),
    /// Anchored: the whole subject must match.
    Regex(Regex),
}

impl SubjectMatcher {
    pub fn regex(pattern: &str) -> Result<Self, regex::Error> {
        Regex::new(&format!("^(?:{pattern})$")).map(SubjectMatcher::Regex)
    }

    pub fn matches(&self, subject: &str) -> bool {
        match self {
            SubjectMatcher::Exact(s) => s == subject,
            SubjectMatcher::Regex(r) => r.is_match(subject),
        }
    }
}

/// A keyless signer Tollgate trusts: an OIDC issuer and a subject.
#[derive(Debug, Clone)]
pub struct IdentityRule {
    pub issuer: String,
    pub subject: SubjectMatcher,
}

impl IdentityRule {
    pub fn matches(&self, subject: &str, issuer: &str) -> bool {
        self.issuer == issuer && self.subject.matches(subject)
    }
}

/// Everything verification is judged against.
pub struct Trust {
    pub keys: Vec<NamedKey>,
    /// Built from the trusted root; `None` when no root is configured (key signatures can
    /// still verify, keyless ones cannot, and log entries are not checked).
    verifier: Option<Verifier>,
    /// Verifies key signatures when no trusted root is configured.
    bare: Verifier,
    pub identities: Vec<IdentityRule>,
    /// Trusted builder ids: with an `@ref` they match exactly, without by name.
    pub builders: Vec<String>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("keys", &self.keys)
            .field("trusted_root", &self.verifier.is_some())
            .field("identities", &self.identities)
            .field("builders", &self.builders)
            .finish()
    }
}

const EMPTY_ROOT: &str = r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}"#;

impl Trust {
    /// Trust with the given material. `trusted_root_json` is a Sigstore `trusted_root.json`.
    pub fn new(
        keys: Vec<NamedKey>,
        trusted_root_json: Option<&str>,
        identities: Vec<IdentityRule>,
        builders: Vec<String>,
    ) -> Result<Self, VerifyError> {
        let verifier = trusted_root_json
            .map(|json| {
                let root = TrustedRoot::from_json(json)
                    .map_err(|e| VerifyError::Malformed(format!("trusted root: {e}")))?;
                Verifier::new(&root)
                    .map_err(|e| VerifyError::Malformed(format!("trusted root: {e}")))
            })
            .transpose()?;
        let bare_root = TrustedRoot::from_json(EMPTY_ROOT)
            .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        let bare = Verifier::new(&bare_root).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        Ok(Trust {
            keys,
            verifier,
            bare,
            identities,
            builders,
        })
    }

    pub(crate) fn verifier(&self) -> Option<&Verifier> {
        self.verifier.as_ref()
    }

    pub(crate) fn bare_verifier(&self) -> &Verifier {
        &self.bare
    }

    /// Whether `builder_id` is trusted: an entry with `@ref` must match exactly, one without
    /// matches the builder id with any ref.
    pub fn trusts_builder(&self, builder_id: &str) -> bool {
        let name = builder_id.split_once('@').map_or(builder_id, |(n, _)| n);
        self.builders.iter().any(|b| {
            if b.contains('@') {
                b == builder_id
            } else {
                b == name
            }
        })
    }
}
