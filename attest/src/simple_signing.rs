//! Cosign's simple-signing payload: the statement a cosign image signature signs.

use serde_json::Value;

use crate::{Digest, VerifyError};

pub const COSIGN_TYPE: &str = "cosign container image signature";

/// The parts of a simple-signing payload that bind it to an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    pub docker_reference: Option<String>,
    pub manifest_digest: Digest,
    /// `optional` annotations, as signed.
    pub optional: Option<Value>,
}

/// Looks a key up ignoring case: very old cosign wrote `Critical`, `Image`,
/// `Docker-manifest-digest`.
fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

impl SimpleSigning {
    /// Parses the exact signed bytes.
    pub fn parse(payload: &[u8]) -> Result<Self, VerifyError> {
        let v: Value = serde_json::from_slice(payload)
            .map_err(|e| VerifyError::Malformed(format!("simple-signing payload: {e}")))?;
        let critical = get_ci(&v, "critical")
            .ok_or_else(|| VerifyError::Malformed("payload has no critical section".into()))?;
        let ty = get_ci(critical, "type").and_then(Value::as_str);
        if ty != Some(COSIGN_TYPE) {
            return Err(VerifyError::Unsupported(format!(
                "payload type {ty:?} is not {COSIGN_TYPE:?}"
            )));
        }
        let digest = get_ci(critical, "image")
            .and_then(|i| get_ci(i, "docker-manifest-digest"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                VerifyError::Malformed("payload names no docker-manifest-digest".into())
            })?;
        let manifest_digest = digest
            .parse()
            .map_err(|e| VerifyError::Malformed(format!("payload digest: {e}")))?;
        let docker_reference = get_ci(critical, "identity")
            .and_then(|i| get_ci(i, "docker-reference"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let optional = get_ci(&v, "optional").filter(|o| !o.is_null()).cloned();
        Ok(SimpleSigning {
            docker_reference,
            manifest_digest,
            optional,
        })
    }

    /// The binding: the payload must name exactly the image being judged.
    pub fn require_subject(&self, subject: &Digest) -> Result<(), VerifyError> {
        if self.manifest_digest == *subject {
            Ok(())
        } else {
            Err(VerifyError::SubjectMismatch(format!(
                "signature is for {}, not {subject}",
                self.manifest_digest
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_old_capitalised_payloads() {
        let d = Digest::sha256_of(b"m");
        let p = format!(
            r#"{{"Critical":{{"Identity":{{"Docker-reference":"r"}},"Image":{{"Docker-manifest-digest":"{d}"}},"Type":"{COSIGN_TYPE}"}},"Optional":null}}"#
        );
        let s = SimpleSigning::parse(p.as_bytes()).unwrap();
        assert_eq!(s.manifest_digest, d);
        assert!(s.require_subject(&d).is_ok());
        assert_eq!(
            s.require_subject(&Digest::sha256_of(b"x"))
                .unwrap_err()
                .code(),
            "subject-mismatch"
        );
        let bad = p.replace(COSIGN_TYPE, "something else");
        assert!(SimpleSigning::parse(bad.as_bytes()).is_err());
    }
}
