//! In-toto Statements (v0.1 and v1) and subject matching.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Algorithm, Digest, VerifyError};

pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Subject {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: Value,
}

impl Statement {
    pub fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        let s: Statement = serde_json::from_slice(bytes)
            .map_err(|e| VerifyError::Malformed(format!("in-toto statement: {e}")))?;
        if s.type_ != STATEMENT_V01 && s.type_ != STATEMENT_V1 {
            return Err(VerifyError::Unsupported(format!(
                "statement type {:?}",
                s.type_
            )));
        }
        if s.subject.is_empty() {
            return Err(VerifyError::Malformed("statement has no subject".into()));
        }
        Ok(s)
    }

    /// Whether some subject names `digest`. Only digests of at least 256 bits count; a subject
    /// with no recognised digest never matches.
    pub fn names(&self, digest: &Digest) -> bool {
        let alg = match digest.algorithm() {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        };
        self.subject.iter().any(|s| {
            s.digest
                .get(alg)
                .is_some_and(|h| h.eq_ignore_ascii_case(digest.hex()))
        })
    }

    /// Requires that a subject names `digest`.
    pub fn require_subject(&self, digest: &Digest) -> Result<(), VerifyError> {
        if self.names(digest) {
            return Ok(());
        }
        let named: Vec<String> = self
            .subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(a, h)| format!("{a}:{h}")))
            .collect();
        Err(VerifyError::SubjectMismatch(format!(
            "statement names {}, not {digest}",
            named.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_matching() {
        let hex = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        let s = Statement::parse(
            format!(r#"{{"_type":"{STATEMENT_V1}","subject":[{{"name":"x","digest":{{"sha256":"{hex}","md5":"00"}}}}],"predicateType":"p"}}"#)
                .as_bytes(),
        )
        .unwrap();
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        assert!(s.names(&d));
        assert!(s.require_subject(&Digest::sha256_of(b"other")).is_err());
        assert!(Statement::parse(br#"{"_type":"x","subject":[{}],"predicateType":"p"}"#).is_err());
        assert!(
            Statement::parse(
                format!(r#"{{"_type":"{STATEMENT_V1}","subject":[],"predicateType":"p"}}"#)
                    .as_bytes()
            )
            .is_err()
        );
    }
}
