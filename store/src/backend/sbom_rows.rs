//! The where-used index (`sbom_packages`, `sbom_licenses`) in a compact binary form.
//!
//! One index entry — a *posting* — per package (or licence id) per SBOM, under the key
//! `package \0 subject \0 sbom digest`: its value lists every component of that SBOM with that
//! package (licence), in their order in the SBOM. A component of one package usually has a
//! posting of its own; a licence's posting holds all of an SBOM's components under that
//! licence, so indexing an SBOM writes one licence entry per distinct licence instead of one
//! per component (issue 4: the B-tree inserts were most of the ingest time).
//!
//! A posting holds only what its key does not say: the digests are read back from the key, a
//! package posting leaves out the package (the key's first part), and a purl that is just
//! `pkg:<package>@<version>` (or `pkg:<package>`) is rebuilt from those instead of stored —
//! fewer bytes per entry is fewer pages for redb to split, copy and write.
//!
//! Layout (schema 4): the byte [`FORMAT`], then per component: its place in the SBOM's
//! inventory (LEB128), a flags byte ([`PACKAGE_IS_KEY`], [`PURL_DERIVED`]), then `name`,
//! `version`, `purl` (unless derived), `package` (unless the key's), `license` — each a LEB128
//! length and its bytes, the optional ones storing length + 1 with 0 meaning absent — then the
//! number of `license_ids` and each id as length + bytes.

use tollgate_attest::Digest;

use crate::{ComponentHit, Result, StoreError};

/// First byte of every posting; another value is one this code cannot read (schema 2 rows
/// began with 1).
pub(super) const FORMAT: u8 = 2;
/// Entry flag: the component's package is the posting's key (not stored).
const PACKAGE_IS_KEY: u8 = 1;
/// Entry flag: the purl is `pkg:<package>@<version>` (`pkg:<package>` without a version).
const PURL_DERIVED: u8 = 2;

/// The purl a package and version make when nothing else is in it.
fn derived_purl(package: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("pkg:{package}@{v}"),
        None => format!("pkg:{package}"),
    }
}

fn is_derived(purl: &str, package: &str, version: Option<&str>) -> bool {
    let Some(rest) = purl
        .strip_prefix("pkg:")
        .and_then(|r| r.strip_prefix(package))
    else {
        return false;
    };
    match version {
        Some(v) => rest.strip_prefix('@') == Some(v),
        None => rest.is_empty(),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("where-used posting: {what}"))
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

/// Appends the entry of component `index` (its digests go in the key) to a posting of the
/// package table (`in_package_posting`: the package is the key's) or the licence table. A
/// posting is [`FORMAT`] followed by entries in index order.
pub(super) fn encode_entry(
    out: &mut Vec<u8>,
    index: u32,
    c: &ComponentHit,
    in_package_posting: bool,
) {
    let package = c.package.as_deref();
    let version = c.version.as_deref();
    let mut flags = 0;
    if in_package_posting && package.is_some() {
        flags |= PACKAGE_IS_KEY;
    }
    if let (Some(purl), Some(package)) = (c.purl.as_deref(), package)
        && is_derived(purl, package, version)
    {
        flags |= PURL_DERIVED;
    }
    put_len(out, index as usize);
    out.push(flags);
    put_str(out, &c.name);
    put_opt(out, version);
    if flags & PURL_DERIVED == 0 {
        put_opt(out, c.purl.as_deref());
    }
    if flags & PACKAGE_IS_KEY == 0 {
        put_opt(out, package);
    }
    put_opt(out, c.license.as_deref());
    put_len(out, c.license_ids.len());
    for id in &c.license_ids {
        put_str(out, id);
    }
}

fn utf8(b: &[u8]) -> Result<&str> {
    std::str::from_utf8(b).map_err(|_| corrupt("not UTF-8"))
}

#[derive(Clone)]
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

    /// The next `n` bytes, unchecked.
    fn raw(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(corrupt("truncated"));
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(s)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a str> {
        utf8(self.raw(n)?)
    }

    fn skip_optional(&mut self) -> Result<()> {
        match self.len()? {
            0 => Ok(()),
            n => self.raw(n - 1).map(drop),
        }
    }

    fn string(&mut self) -> Result<&'a str> {
        let n = self.len()?;
        self.bytes(n)
    }

    fn optional(&mut self) -> Result<Option<&'a str>> {
        match self.len()? {
            0 => Ok(None),
            n => self.bytes(n - 1).map(Some),
        }
    }
}

/// One component of a posting, borrowed from the stored bytes. Only its place and version are
/// read when the entry is; the rest is checked and decoded when it becomes a hit (most entries
/// a version filter looks at never do).
#[derive(Debug)]
pub(super) struct Entry<'a> {
    pub index: u32,
    flags: u8,
    name: &'a [u8],
    pub version: Option<&'a str>,
    /// purl (unless derived), package (unless the key's), license, the ids.
    rest: Reader<'a>,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

/// The fields of an entry after its version.
struct Rest<'a> {
    purl: Option<&'a str>,
    package: Option<&'a str>,
    license: Option<&'a str>,
    ids: Vec<String>,
}

impl<'a> Entry<'a> {
    fn rest(&self) -> Result<Rest<'a>> {
        let mut r = self.rest.clone();
        let purl = if self.flags & PURL_DERIVED == 0 {
            r.optional()?
        } else {
            None
        };
        let package = if self.flags & PACKAGE_IS_KEY == 0 {
            r.optional()?
        } else {
            None
        };
        let license = r.optional()?;
        let count = r.len()?;
        let ids = (0..count)
            .map(|_| r.string().map(str::to_owned))
            .collect::<Result<_>>()?;
        Ok(Rest {
            purl,
            package,
            license,
            ids,
        })
    }
}

/// The entries of a posting, in order.
pub(super) struct Entries<'a>(Reader<'a>);

pub(super) fn entries(posting: &[u8]) -> Result<Entries<'_>> {
    let (&format, rest) = posting.split_first().ok_or_else(|| corrupt("empty"))?;
    if format != FORMAT {
        return Err(corrupt("unknown format"));
    }
    if rest.is_empty() {
        return Err(corrupt("no components"));
    }
    Ok(Entries(Reader(rest)))
}

impl<'a> Entries<'a> {
    fn read(&mut self) -> Result<Entry<'a>> {
        let r = &mut self.0;
        let index = u32::try_from(r.len()?).map_err(|_| corrupt("index too large"))?;
        let (&flags, rest) = r.0.split_first().ok_or_else(|| corrupt("truncated"))?;
        r.0 = rest;
        if flags & !(PACKAGE_IS_KEY | PURL_DERIVED) != 0 {
            return Err(corrupt("unknown flags"));
        }
        let n = r.len()?;
        let name = r.raw(n)?;
        let version = r.optional()?;
        // Walk over the rest by its lengths alone, to find where the next entry starts.
        let rest = r.clone();
        if flags & PURL_DERIVED == 0 {
            r.skip_optional()?;
        }
        if flags & PACKAGE_IS_KEY == 0 {
            r.skip_optional()?;
        }
        r.skip_optional()?;
        let ids = r.len()?;
        // Each id takes at least its length byte: a count beyond that is corruption.
        if ids > r.0.len() {
            return Err(corrupt("truncated"));
        }
        for _ in 0..ids {
            let n = r.len()?;
            r.raw(n)?;
        }
        let used = rest.0.len() - r.0.len();
        Ok(Entry {
            index,
            flags,
            name,
            version,
            rest: Reader(&rest.0[..used]),
        })
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.0.is_empty() {
            return None;
        }
        let e = self.read();
        if e.is_err() {
            // Nothing after a damaged entry can be read.
            self.0.0 = &[];
        }
        Some(e)
    }
}

/// The parts of a posting's key: package (licence id), subject, SBOM digest.
#[derive(Debug, Clone, Copy)]
pub(super) struct Key<'a> {
    pub id: &'a str,
    pub subject: &'a str,
    pub sbom: &'a str,
}

/// Reads a posting's key (`id \0 subject \0 sbom digest`; none of the parts holds `sep`).
pub(super) fn key_parts(key: &str, sep: char) -> Result<Key<'_>> {
    let mut parts = key.splitn(3, sep);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(subject), Some(sbom)) if !sbom.contains(sep) => {
            Ok(Key { id, subject, sbom })
        }
        _ => Err(corrupt("key has too few parts")),
    }
}

/// Turns entries into hits. Postings of one SBOM often follow each other (always within one
/// posting), so the last digests read are kept and cloned rather than parsed again.
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
        .map_err(|e| StoreError::Corrupt(format!("where-used key: {e}")))?;
    *last = Some(d.clone());
    Ok(d)
}

impl Decoder {
    /// The hit `e` of the posting stored under `key`.
    pub(super) fn hit(&mut self, key: Key<'_>, e: &Entry<'_>) -> Result<ComponentHit> {
        let rest = e.rest()?;
        let package = if e.flags & PACKAGE_IS_KEY != 0 {
            Some(key.id)
        } else {
            rest.package
        };
        let purl = if e.flags & PURL_DERIVED != 0 {
            let package = package.ok_or_else(|| corrupt("derived purl without a package"))?;
            Some(derived_purl(package, e.version))
        } else {
            rest.purl.map(str::to_owned)
        };
        Ok(ComponentHit {
            subject: digest(&mut self.subject, key.subject)?,
            sbom_digest: digest(&mut self.sbom, key.sbom)?,
            name: utf8(e.name)?.to_owned(),
            version: e.version.map(str::to_owned),
            purl,
            package: package.map(str::to_owned),
            license: rest.license.map(str::to_owned),
            license_ids: rest.ids,
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
            "{}\0{}\0{}",
            h.package.as_deref().unwrap_or(""),
            h.subject,
            h.sbom_digest,
        )
    }

    fn posting(hits: &[(u32, &ComponentHit)], in_package_posting: bool) -> Vec<u8> {
        let mut out = vec![FORMAT];
        for (i, h) in hits {
            encode_entry(&mut out, *i, h, in_package_posting);
        }
        out
    }

    fn decode(key: &str, posting: &[u8]) -> Result<Vec<(u32, ComponentHit)>> {
        let key = key_parts(key, '\0')?;
        let mut d = Decoder::default();
        entries(posting)?
            .map(|e| {
                let e = e?;
                Ok((e.index, d.hit(key, &e)?))
            })
            .collect()
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
        // purls that are and are not `pkg:<package>@<version>`
        let derived = ComponentHit {
            purl: Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".into()),
            ..hit()
        };
        let qualified = ComponentHit {
            purl: Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=pom".into()),
            ..hit()
        };
        let unversioned = ComponentHit {
            version: None,
            purl: Some("pkg:maven/org.apache.logging.log4j/log4j-core".into()),
            ..hit()
        };
        let other_version = ComponentHit {
            version: Some("2.14".into()),
            ..hit()
        };
        let all = [
            (0, &full),
            (7, &bare),
            (200_000, &long),
            (8, &derived),
            (9, &qualified),
            (10, &unversioned),
            (11, &other_version),
        ];
        let want: Vec<_> = all.iter().map(|(i, h)| (*i, (*h).clone())).collect();
        // In a licence posting everything is stored; in a package posting the package is
        // the key's (the hits without one keep their own absence).
        assert_eq!(decode(&key(&full), &posting(&all, false)).unwrap(), want);
        let in_package: Vec<_> = all
            .iter()
            .filter(|(_, h)| h.package == full.package)
            .copied()
            .collect();
        let want: Vec<_> = in_package.iter().map(|(i, h)| (*i, (*h).clone())).collect();
        let p = posting(&in_package, true);
        assert_eq!(decode(&key(&full), &p).unwrap(), want);
        assert!(p.len() < posting(&in_package, false).len());
        for (i, h) in all {
            let one = posting(&[(i, h)], false);
            let e = entries(&one).unwrap().next().unwrap().unwrap();
            assert_eq!((e.index, e.version), (i, h.version.as_deref()));
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
            let p = posting(&[(3, h)], true);
            let k = key(h);
            let e = entries(&p).unwrap().next().unwrap().unwrap();
            assert_eq!(&d.hit(key_parts(&k, '\0').unwrap(), &e).unwrap(), h);
        }
    }

    #[test]
    fn refuses_damaged_postings() {
        let h = hit();
        let p = posting(&[(1, &h)], false);
        for bad in [
            &[][..],
            &[FORMAT][..],
            &p[..p.len() - 1],
            &[p.as_slice(), b"x"].concat(),
            &[&[9u8][..], &p[1..]].concat(),
            &[FORMAT, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..],
            &[FORMAT, 0, 4, 0, 0, 0, 0, 0][..],
            // a derived purl with no package to derive it from
            &[FORMAT, 0, PURL_DERIVED, 0, 0, 0, 0, 0][..],
            &[FORMAT, 0xff, 0xff, 0xff, 0xff, 0x7f, 0][..],
            br#"{"name":"json from schema 1"}"#,
        ] {
            assert!(
                matches!(decode(&key(&h), bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
        assert!(decode("no-separators", &p).is_err());
        assert!(decode("a\0b", &p).is_err());
    }
}
