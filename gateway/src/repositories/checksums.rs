//! Checksums of raw and Maven files: all four computed in one pass over the stream, the ones a
//! client declares (Artifactory's `X-Checksum-*` headers, Maven's sidecar files) read and
//! checked against them.

use http::HeaderMap;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use tollgate_attest::Digest;
use tollgate_store::FileChecksums;

/// A checksum algorithm clients declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub const ALL: [Algo; 4] = [Algo::Sha256, Algo::Sha1, Algo::Md5, Algo::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }

    /// Hex digits in a checksum of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algo::Md5 => 32,
            Algo::Sha1 => 40,
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }

    /// The sidecar suffix (`.sha1`, …).
    pub fn suffix(self) -> &'static str {
        match self {
            Algo::Md5 => ".md5",
            Algo::Sha1 => ".sha1",
            Algo::Sha256 => ".sha256",
            Algo::Sha512 => ".sha512",
        }
    }

    /// The algorithm whose sidecar suffix `file_name` ends with.
    pub fn of_sidecar(file_name: &str) -> Option<Algo> {
        Self::ALL
            .into_iter()
            .find(|a| file_name.len() > a.suffix().len() && file_name.ends_with(a.suffix()))
    }

    /// Artifactory's `X-Checksum`: the type follows from the length.
    fn of_len(n: usize) -> Option<Algo> {
        Self::ALL.into_iter().find(|a| a.hex_len() == n)
    }
}

/// Why a declared checksum is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error("{header} must be {len} hex digits")]
    Header { header: &'static str, len: usize },
    #[error("X-Checksum must be an MD5 (32), SHA-1 (40) or SHA-256 (64) hex checksum")]
    Untyped,
    #[error(
        "a {algo} sidecar must hold a {len}-digit hex checksum (optionally followed by whitespace and a file name)"
    )]
    Sidecar { algo: &'static str, len: usize },
}

/// Every checksum of a file's content, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sums {
    pub sha256: Digest,
    pub sha1: String,
    pub md5: String,
    pub sha512: String,
    pub size: u64,
}

impl Sums {
    pub fn hex(&self, a: Algo) -> &str {
        match a {
            Algo::Md5 => &self.md5,
            Algo::Sha1 => &self.sha1,
            Algo::Sha256 => self.sha256.hex(),
            Algo::Sha512 => &self.sha512,
        }
    }

    pub fn checksums(&self) -> FileChecksums {
        FileChecksums {
            sha1: self.sha1.clone(),
            md5: self.md5.clone(),
            sha512: self.sha512.clone(),
        }
    }

    /// The first declared checksum the content does not match.
    pub fn mismatch<'a>(&self, declared: &'a [(Algo, String)]) -> Option<&'a (Algo, String)> {
        declared.iter().find(|(a, hex)| self.hex(*a) != hex)
    }
}

/// The four hashes, fed once per chunk.
#[derive(Debug, Clone, Default)]
pub struct Hasher {
    sha256: Sha256,
    sha1: Sha1,
    md5: Md5,
    sha512: Sha512,
    len: u64,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.sha256.update(chunk);
        self.sha1.update(chunk);
        self.md5.update(chunk);
        self.sha512.update(chunk);
        self.len += chunk.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> Sums {
        let sha256 = hex::encode(self.sha256.finalize());
        Sums {
            sha256: format!("sha256:{sha256}")
                .parse()
                .expect("a sha256 hex digest is a valid digest"),
            sha1: hex::encode(self.sha1.finalize()),
            md5: hex::encode(self.md5.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
            size: self.len,
        }
    }
}

/// Sums of bytes in memory (small documents).
pub fn sums_of(bytes: &[u8]) -> Sums {
    let mut h = Hasher::new();
    h.update(bytes);
    h.finish()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The checksums a request declares: `X-Checksum-Sha256`, `-Sha1`, `-Md5`, `-Sha512` and the
/// untyped `X-Checksum`, lower-cased. A malformed one is an error, never ignored.
pub fn declared(headers: &HeaderMap) -> Result<Vec<(Algo, String)>, ChecksumError> {
    let mut out: Vec<(Algo, String)> = Vec::new();
    for (header, algo) in [
        ("x-checksum-sha256", Algo::Sha256),
        ("x-checksum-sha1", Algo::Sha1),
        ("x-checksum-md5", Algo::Md5),
        ("x-checksum-sha512", Algo::Sha512),
    ] {
        if let Some(v) = headers.get(header) {
            let v = v.to_str().unwrap_or("").trim();
            if !is_hex(v, algo.hex_len()) {
                return Err(ChecksumError::Header {
                    header,
                    len: algo.hex_len(),
                });
            }
            out.push((algo, v.to_ascii_lowercase()));
        }
    }
    if let Some(v) = headers.get("x-checksum") {
        let v = v.to_str().unwrap_or("").trim();
        let algo = Algo::of_len(v.len())
            .filter(|a| *a != Algo::Sha512 && is_hex(v, a.hex_len()))
            .ok_or(ChecksumError::Untyped)?;
        out.push((algo, v.to_ascii_lowercase()));
    }
    Ok(out)
}

/// The checksum a sidecar file holds: lowercase hex, optionally followed by whitespace and a
/// file name (`sha1sum` output), surrounding whitespace ignored.
pub fn parse_sidecar(body: &[u8], algo: Algo) -> Result<String, ChecksumError> {
    let bad = || ChecksumError::Sidecar {
        algo: algo.name(),
        len: algo.hex_len(),
    };
    let text = std::str::from_utf8(body).map_err(|_| bad())?;
    let first = text.split_whitespace().next().ok_or_else(bad)?;
    if !is_hex(first, algo.hex_len()) {
        return Err(bad());
    }
    Ok(first.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_in_one_pass() {
        let mut h = Hasher::new();
        h.update(b"hello ");
        h.update(b"world");
        let s = h.finish();
        assert_eq!(s.size, 11);
        assert_eq!(
            s.sha256.hex(),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(s.sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
        assert_eq!(s.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert!(s.sha512.starts_with("309ecc489c12d6eb4cc40f50c902f2b4"));
        assert_eq!(s, sums_of(b"hello world"));
    }

    #[test]
    fn checksum_headers() {
        let s = sums_of(b"hello world");
        let mut h = HeaderMap::new();
        assert!(declared(&h).unwrap().is_empty());
        h.insert("X-Checksum-Sha1", s.sha1.to_uppercase().parse().unwrap());
        h.insert("x-checksum", s.md5.parse().unwrap());
        let d = declared(&h).unwrap();
        assert_eq!(
            d,
            vec![(Algo::Sha1, s.sha1.clone()), (Algo::Md5, s.md5.clone())]
        );
        assert_eq!(s.mismatch(&d), None);
        h.insert("X-Checksum-Sha256", "0".repeat(64).parse().unwrap());
        let d = declared(&h).unwrap();
        assert_eq!(s.mismatch(&d).map(|(a, _)| *a), Some(Algo::Sha256));
        h.insert("X-Checksum-Sha256", "xyz".parse().unwrap());
        assert_eq!(
            declared(&h),
            Err(ChecksumError::Header {
                header: "x-checksum-sha256",
                len: 64
            })
        );
        let mut h = HeaderMap::new();
        h.insert("X-Checksum", "abc".parse().unwrap());
        assert_eq!(declared(&h), Err(ChecksumError::Untyped));
    }

    #[test]
    fn sidecars_tolerate_whitespace_and_file_names() {
        let s = sums_of(b"hello world");
        for body in [
            s.sha1.clone(),
            format!("{}\n", s.sha1),
            format!("  {}  demo-1.0.jar\n", s.sha1.to_uppercase()),
            format!("{} *demo-1.0.jar", s.sha1),
        ] {
            assert_eq!(parse_sidecar(body.as_bytes(), Algo::Sha1).unwrap(), s.sha1);
        }
        for body in ["", "\n", "nothex", &s.md5] {
            assert!(
                parse_sidecar(body.as_bytes(), Algo::Sha1).is_err(),
                "{body:?}"
            );
        }
        assert_eq!(Algo::of_sidecar("demo.jar.sha512"), Some(Algo::Sha512));
        assert_eq!(Algo::of_sidecar("demo.jar.md5"), Some(Algo::Md5));
        assert_eq!(Algo::of_sidecar(".sha1"), None);
        assert_eq!(Algo::of_sidecar("demo.jar"), None);
    }
}
