//! Content digests as defined by the OCI image spec: `algorithm ":" encoded`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// The digest algorithms Tollgate verifies. Other algorithms are syntactically valid per the
/// OCI grammar but cannot be checked, so they are refused rather than trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// Why a string is not a digest Tollgate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest {0:?} is not of the form algorithm:hex")]
    Malformed(String),
    #[error("digest algorithm {0:?} is not supported (sha256 and sha512 are)")]
    UnsupportedAlgorithm(String),
    #[error("digest {0:?} has an encoded part of the wrong length or alphabet")]
    BadEncoding(String),
}

/// A validated content digest (`sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    /// Lowercase hex of the hash; its length matches `algorithm`.
    hex: Box<str>,
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        let mut h = DigestHasher::new(Algorithm::Sha256);
        h.update(bytes);
        h.finish()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded (hex) part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The `sha256-<hex>` form used by cosign tags and the referrers tag schema.
    pub fn tag_form(&self) -> String {
        format!("{}-{}", self.algorithm.as_str(), self.hex)
    }

    /// Parses the `sha256-<hex>` tag form back into a digest, if `tag` starts with one.
    /// Returns the digest and whatever follows it (for cosign: `.sig`, `.att`, `.sbom`).
    pub fn from_tag_prefix(tag: &str) -> Option<(Self, &str)> {
        let (alg, rest) = tag.split_once('-')?;
        let algorithm = parse_algorithm(alg).ok()?;
        let n = algorithm.hex_len();
        if rest.len() < n || !rest.is_char_boundary(n) {
            return None;
        }
        let (hex, tail) = rest.split_at(n);
        let d = Digest::from_parts(algorithm, hex).ok()?;
        Some((d, tail))
    }

    fn from_parts(algorithm: Algorithm, hex: &str) -> Result<Self, DigestError> {
        let ok = hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(DigestError::BadEncoding(format!(
                "{}:{hex}",
                algorithm.as_str()
            )));
        }
        Ok(Digest {
            algorithm,
            hex: hex.into(),
        })
    }
}

fn parse_algorithm(alg: &str) -> Result<Algorithm, DigestError> {
    match alg {
        "sha256" => Ok(Algorithm::Sha256),
        "sha512" => Ok(Algorithm::Sha512),
        other => Err(DigestError::UnsupportedAlgorithm(other.to_string())),
    }
}

/// The OCI grammar for an algorithm: components of `[a-z0-9]+` joined by one of `+._-`.
fn is_algorithm_syntax(alg: &str) -> bool {
    !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The common case in one pass (where-used answers parse two digests per hit): `sha256:`
        // and 64 lowercase hex digits, which the general rules below accept as they are.
        if let Some(hex) = s.strip_prefix("sha256:")
            && hex.len() == Algorithm::Sha256.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Ok(Digest {
                algorithm: Algorithm::Sha256,
                hex: hex.into(),
            });
        }
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Malformed(s.to_string()))?;
        if !is_algorithm_syntax(alg)
            || hex.is_empty()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
        {
            return Err(DigestError::Malformed(s.to_string()));
        }
        Digest::from_parts(parse_algorithm(alg)?, hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Computes a [`Digest`] over bytes fed in pieces, so a blob is hashed once as it streams.
#[derive(Clone)]
pub struct DigestHasher {
    inner: HasherInner,
    len: u64,
}

#[derive(Clone)]
enum HasherInner {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl fmt::Debug for DigestHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestHasher")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl DigestHasher {
    pub fn new(algorithm: Algorithm) -> Self {
        let inner = match algorithm {
            Algorithm::Sha256 => HasherInner::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => HasherInner::Sha512(sha2::Sha512::new()),
        };
        DigestHasher { inner, len: 0 }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        match &mut self.inner {
            HasherInner::Sha256(h) => h.update(bytes),
            HasherInner::Sha512(h) => h.update(bytes),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            HasherInner::Sha256(_) => Algorithm::Sha256,
            HasherInner::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self.inner {
            HasherInner::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            HasherInner::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest {
            algorithm,
            hex: hex.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_JSON: &str =
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn hashes_the_oci_empty_descriptor() {
        assert_eq!(Digest::sha256_of(b"{}").to_string(), EMPTY_JSON);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let mut h = DigestHasher::new(Algorithm::Sha256);
        h.update(b"{");
        h.update(b"}");
        assert_eq!(h.len(), 2);
        assert_eq!(h.finish().to_string(), EMPTY_JSON);
    }

    #[test]
    fn parses_and_rejects() {
        assert!(EMPTY_JSON.parse::<Digest>().is_ok());
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        assert_eq!(
            sha512.parse::<Digest>().map(|d| d.algorithm()),
            Ok(Algorithm::Sha512)
        );
        for bad in [
            "sha256",
            "sha256:",
            "sha256:ABC",
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8A",
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8",
            ":abc",
            "SHA256:abc",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} accepted");
        }
        assert!(matches!(
            "md5:d41d8cd98f00b204e9800998ecf8427e".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn tag_form_round_trips() {
        let d: Digest = EMPTY_JSON.parse().unwrap();
        let tag = format!("{}.sig", d.tag_form());
        let (back, tail) = Digest::from_tag_prefix(&tag).unwrap();
        assert_eq!((back, tail), (d, ".sig"));
        assert!(Digest::from_tag_prefix("sha256-abc.sig").is_none());
        assert!(Digest::from_tag_prefix("v1.2.3").is_none());
    }

    #[test]
    fn serde_is_the_string_form() {
        let d: Digest = EMPTY_JSON.parse().unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY_JSON}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
