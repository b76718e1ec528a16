//! The where-used index rows (`sbom_packages`, `sbom_licenses`) in a compact binary form.
//!
//! A query for a popular package or licence decodes thousands of rows, so a row holds only what
//! its key does not say: the subject and SBOM digests are read back from the key
//! (`… \0 subject \0 sbom digest \0 index`), and the rest are length-prefixed UTF-8 fields —
//! no field names, no escaping, and no digest text parsed twice. (As JSON with the digests a
//! row took ~450 bytes and most of a query's time; see BENCHMARKS.md, issue 4.)
//!
//! Layout (schema 2): the byte [`FORMAT`], then `name`, `version`, `purl`, `package`,
//! `license` — each a LEB128 length and its bytes, the optional ones storing length + 1 with 0
//! meaning absent — then the number of `license_ids` and each id as length + bytes.

use tollgate_attest::Digest;

use crate::{ComponentHit, Result, StoreError};

/// First byte of every row; another value is a row this code cannot read.
const FORMAT: u8 = 1;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("component row: {what}"))
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            put_len(out, s.len() + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// The row stored for `c` (its digests go in the key).
pub(super) fn encode(c: &ComponentHit) -> Vec<u8> {
    let text = c.name.len()
        + [&c.version, &c.purl, &c.package, &c.license]
            .iter()
            .map(|s| s.as_ref().map_or(0, String::len))
            .sum::<usize>()
        + c.license_ids.iter().map(String::len).sum::<usize>();
    let mut out = Vec::with_capacity(text + 8 + 2 * c.license_ids.len());
    out.push(FORMAT);
    put_str(&mut out, &c.name);
    put_opt(&mut out, c.version.as_deref());
    put_opt(&mut out, c.purl.as_deref());
    put_opt(&mut out, c.package.as_deref());
    put_opt(&mut out, c.license.as_deref());
    put_len(&mut out, c.license_ids.len());
    for id in &c.license_ids {
        put_str(&mut out, id);
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn len(&mut self) -> Result<usize> {
        let mut n = 0usize;
        for shift in (0..35).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or_else(|| corrupt("truncated"))?;
            self.0 = rest;
            n |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(corrupt("length too long"))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a str> {
        if n > self.0.len() {
            return Err(corrupt("truncated"));
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        std::str::from_utf8(s).map_err(|_| corrupt("not UTF-8"))
    }

    fn skip(&mut self, n: usize) -> Result<()> {
        self.0 = self.0.get(n..).ok_or_else(|| corrupt("truncated"))?;
        Ok(())
    }

    fn string(&mut self) -> Result<String> {
        let n = self.len()?;
        self.bytes(n).map(str::to_owned)
    }

    fn optional(&mut self) -> Result<Option<String>> {
        match self.len()? {
            0 => Ok(None),
            n => self.bytes(n - 1).map(|s| Some(s.to_owned())),
        }
    }
}

/// The version a row holds, read without decoding the rest (to filter before decoding).
pub(super) fn version(row: &[u8]) -> Result<Option<&str>> {
    let (&format, rest) = row.split_first().ok_or_else(|| corrupt("empty"))?;
    if format != FORMAT {
        return Err(corrupt("unknown format"));
    }
    let mut r = Reader(rest);
    let name = r.len()?;
    r.skip(name)?;
    match r.len()? {
        0 => Ok(None),
        n => r.bytes(n - 1).map(Some),
    }
}

/// Reads rows back into hits. Rows of one SBOM often follow each other (always in a licence
/// scan), so the last digests read are kept and cloned rather than parsed again.
#[derive(Default)]
pub(super) struct Decoder {
    subject: Option<Digest>,
    sbom: Option<Digest>,
}

/// Whether `d` is the digest spelled `s`, without allocating.
fn spells(d: &Digest, s: &str) -> bool {
    let alg = d.algorithm().as_str();
    s.len() == alg.len() + 1 + d.hex().len()
        && s.starts_with(alg)
        && s.as_bytes()[alg.len()] == b':'
        && s.ends_with(d.hex())
}

fn digest(last: &mut Option<Digest>, s: &str) -> Result<Digest> {
    if let Some(d) = last.as_ref().filter(|d| spells(d, s)) {
        return Ok(d.clone());
    }
    let d: Digest = s
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("component row key: {e}")))?;
    *last = Some(d.clone());
    Ok(d)
}

impl Decoder {
    /// The hit stored under `key` (`… \0 subject \0 sbom digest \0 index`) as `row`.
    pub(super) fn hit(&mut self, key: &str, sep: char, row: &[u8]) -> Result<ComponentHit> {
        let mut parts = key.rsplitn(4, sep);
        let (Some(_index), Some(sbom), Some(subject), Some(_)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt("key has too few parts"));
        };
        let (&format, rest) = row.split_first().ok_or_else(|| corrupt("empty"))?;
        if format != FORMAT {
            return Err(corrupt("unknown format"));
        }
        let mut r = Reader(rest);
        let name = r.string()?;
        let version = r.optional()?;
        let purl = r.optional()?;
        let package = r.optional()?;
        let license = r.optional()?;
        let ids = r.len()?;
        // Each id takes at least its length byte: a count beyond that is corruption, not a
        // reason to allocate.
        if ids > r.0.len() {
            return Err(corrupt("truncated"));
        }
        let license_ids = (0..ids).map(|_| r.string()).collect::<Result<Vec<_>>>()?;
        if !r.0.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(ComponentHit {
            subject: digest(&mut self.subject, subject)?,
            sbom_digest: digest(&mut self.sbom, sbom)?,
            name,
            version,
            purl,
            package,
            license,
            license_ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit() -> ComponentHit {
        ComponentHit {
            subject: Digest::sha256_of(b"image"),
            sbom_digest: Digest::sha256_of(b"sbom"),
            name: "log4j-core".into(),
            version: Some("2.14.1".into()),
            purl: Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".into()),
            package: Some("maven/org.apache.logging.log4j/log4j-core".into()),
            license: Some("Apache-2.0 OR MIT".into()),
            license_ids: vec!["Apache-2.0".into(), "MIT".into()],
        }
    }

    fn key(h: &ComponentHit) -> String {
        format!(
            "{}\0{}\0{}\0{:010}",
            h.package.as_deref().unwrap_or(""),
            h.subject,
            h.sbom_digest,
            7
        )
    }

    #[test]
    fn round_trips_every_field_shape() {
        let full = hit();
        let bare = ComponentHit {
            version: None,
            purl: None,
            package: None,
            license: None,
            license_ids: Vec::new(),
            name: String::new(),
            ..hit()
        };
        let long = ComponentHit {
            name: "n".repeat(20_000),
            version: Some(String::new()),
            license: Some("é".repeat(300)),
            ..hit()
        };
        let mut d = Decoder::default();
        for h in [full, bare, long] {
            let row = encode(&h);
            assert_eq!(version(&row).unwrap(), h.version.as_deref());
            assert_eq!(d.hit(&key(&h), '\0', &row).unwrap(), h);
        }
    }

    #[test]
    fn reuses_digests_only_when_they_match() {
        let a = hit();
        let b = ComponentHit {
            subject: Digest::sha256_of(b"other image"),
            ..hit()
        };
        let mut d = Decoder::default();
        for h in [&a, &a, &b, &a] {
            assert_eq!(&d.hit(&key(h), '\0', &encode(h)).unwrap(), h);
        }
    }

    #[test]
    fn refuses_damaged_rows() {
        let h = hit();
        let row = encode(&h);
        let mut d = Decoder::default();
        for bad in [
            &[][..],
            &row[..row.len() - 1],
            &[row.as_slice(), b"x"].concat(),
            &[&[9u8][..], &row[1..]].concat(),
            &[FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..],
            br#"{"name":"json from schema 1"}"#,
        ] {
            assert!(
                matches!(d.hit(&key(&h), '\0', bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
        assert!(d.hit("no-separators", '\0', &row).is_err());
    }
}
