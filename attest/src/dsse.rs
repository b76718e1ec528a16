//! DSSE envelopes and their pre-authentication encoding (PAE).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;

use crate::VerifyError;

/// In-toto's DSSE payload type.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A parsed envelope; `payload` holds the decoded bytes that were signed (through PAE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    pub keyid: Option<String>,
    pub sig: Vec<u8>,
    /// slsa-github-generator's non-standard PEM signing certificate beside the signature.
    pub cert: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
    #[serde(default)]
    cert: Option<String>,
}

/// Decodes base64 in any of the alphabets DSSE producers use: standard or URL-safe, padded
/// or not.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, VerifyError> {
    let s = s.trim();
    for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        if let Ok(b) = engine.decode(s) {
            return Ok(b);
        }
    }
    Err(VerifyError::Malformed("invalid base64".into()))
}

impl Envelope {
    pub fn parse(json: &[u8]) -> Result<Self, VerifyError> {
        let raw: RawEnvelope = serde_json::from_slice(json)
            .map_err(|e| VerifyError::Malformed(format!("DSSE envelope: {e}")))?;
        if raw.signatures.is_empty() {
            return Err(VerifyError::Malformed(
                "DSSE envelope has no signatures".into(),
            ));
        }
        let signatures = raw
            .signatures
            .into_iter()
            .map(|s| {
                Ok(EnvelopeSignature {
                    keyid: s.keyid.filter(|k| !k.is_empty()),
                    sig: decode_base64(&s.sig)?,
                    cert: s.cert.filter(|c| !c.trim().is_empty()),
                })
            })
            .collect::<Result<_, VerifyError>>()?;
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload: decode_base64(&raw.payload)?,
            signatures,
        })
    }

    /// The bytes a DSSE signature covers.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {} {} ",
            payload_type.len(),
            payload_type,
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn accepts_every_base64_alphabet() {
        for s in ["aGk_Pz8-", "aGk/Pz8+", "aGk_Pz8-", "aGk"] {
            assert!(decode_base64(s).is_ok(), "{s}");
        }
        assert!(decode_base64("!!").is_err());
    }

    #[test]
    fn parses_envelopes() {
        let e = Envelope::parse(
            br#"{"payloadType":"t","payload":"aGk","signatures":[{"keyid":"","sig":"AAAA"}]}"#,
        )
        .unwrap();
        assert_eq!(e.payload, b"hi");
        assert_eq!(e.signatures[0].keyid, None);
        assert!(
            Envelope::parse(br#"{"payloadType":"t","payload":"aGk","signatures":[]}"#).is_err()
        );
        assert!(Envelope::parse(b"{}").is_err());
    }
}
