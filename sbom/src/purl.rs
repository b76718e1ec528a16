//! Package URLs: parsing and canonicalisation.
//!
//! Follows the purl specification (ECMA-427 and its type definitions as of 2026): components
//! are percent-decoded on parse; `Display` re-encodes everything but `A-Za-z0-9.-_~:`, lower-cases
//! the type and qualifier keys, sorts qualifiers and drops empty ones, and applies the per-type
//! case rules. Two purls naming the same package therefore compare equal after parsing.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parsed, canonicalised package URL. Fields hold decoded text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Purl {
    ty: String,
    namespace: Option<String>,
    name: String,
    version: Option<String>,
    /// Sorted by key; keys unique and lower case, values non-empty.
    qualifiers: Vec<(String, String)>,
    subpath: Option<String>,
}

/// Why a string is not a purl.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurlError {
    #[error("purl {0:?} does not start with the `pkg:` scheme")]
    Scheme(String),
    #[error("purl {0:?} has no type")]
    MissingType(String),
    #[error(
        "purl type {0:?} is invalid (letters, digits, `.`, `+`, `-`; not starting with a digit)"
    )]
    InvalidType(String),
    #[error("purl {0:?} has no name")]
    MissingName(String),
    #[error("purl qualifier {0:?} is not a valid `key=value` pair")]
    InvalidQualifier(String),
    #[error("purl qualifier {0:?} appears more than once")]
    DuplicateQualifier(String),
    #[error("purl component {0:?} has an invalid percent-encoding or is not UTF-8")]
    InvalidEncoding(String),
    #[error("purl subpath segment {0:?} contains a `/`")]
    InvalidSubpath(String),
}

impl Purl {
    /// Builds a purl from decoded parts, applying the same checks and type rules as parsing.
    pub fn new(
        ty: &str,
        namespace: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Result<Self, PurlError> {
        let ty = check_type(ty)?;
        let namespace = namespace
            .map(|ns| {
                ns.split('/')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .filter(|ns| !ns.is_empty());
        let name = name.trim_matches('/');
        if name.is_empty() {
            return Err(PurlError::MissingName(name.to_owned()));
        }
        let mut purl = Self {
            ty,
            namespace,
            name: name.to_owned(),
            version: version.filter(|v| !v.is_empty()).map(str::to_owned),
            qualifiers: Vec::new(),
            subpath: None,
        };
        purl.apply_type_rules();
        Ok(purl)
    }

    /// The package type (`npm`, `maven`, ...), lower case.
    pub fn ty(&self) -> &str {
        &self.ty
    }

    /// Namespace segments joined by `/` (Maven groupId, npm `@scope`, Go module prefix, ...).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Qualifiers sorted by key.
    pub fn qualifiers(&self) -> &[(String, String)] {
        &self.qualifiers
    }

    /// The value of qualifier `key` (keys are lower case).
    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.qualifiers[i].1.as_str())
    }

    pub fn subpath(&self) -> Option<&str> {
        self.subpath.as_deref()
    }

    /// `type/namespace/name` (or `type/name`), canonically encoded, without version,
    /// qualifiers or subpath: the key for "which artifacts contain this package" indexes.
    pub fn package_key(&self) -> String {
        let mut out = String::with_capacity(self.ty.len() + self.name.len() + 32);
        self.package_key_into(&mut out);
        out
    }

    /// The canonical form (what `to_string` gives) and where [`Purl::package_key`] lies in it:
    /// both in one encoding pass, for indexing thousands of components.
    pub fn canonical_and_key(&self) -> (String, std::ops::Range<usize>) {
        let mut out = String::with_capacity(self.ty.len() + self.name.len() + 48);
        out.push_str("pkg:");
        self.package_key_into(&mut out);
        let key = 4..out.len();
        if let Some(v) = &self.version {
            out.push('@');
            encode_into(&mut out, v);
        }
        for (i, (k, v)) in self.qualifiers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            out.push('=');
            encode_into(&mut out, v);
        }
        if let Some(sp) = &self.subpath {
            out.push('#');
            for (i, seg) in sp.split('/').enumerate() {
                if i > 0 {
                    out.push('/');
                }
                encode_into(&mut out, seg);
            }
        }
        (out, key)
    }

    fn package_key_into(&self, out: &mut String) {
        out.push_str(&self.ty);
        out.push('/');
        if let Some(ns) = &self.namespace {
            for seg in ns.split('/') {
                encode_into(out, seg);
                out.push('/');
            }
        }
        encode_into(out, &self.name);
    }

    /// The same package without its version, qualifiers and subpath.
    pub fn without_version(&self) -> Self {
        Self {
            ty: self.ty.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            version: None,
            qualifiers: Vec::new(),
            subpath: None,
        }
    }

    /// Per-type normalisation from the purl type definitions (`case_sensitive: false` and the
    /// explicit rules). npm, maven, golang, nuget, cargo, ... are case-sensitive and left alone.
    fn apply_type_rules(&mut self) {
        let ty = self.ty.as_str();
        let lower_namespace = matches!(
            ty,
            "alpm"
                | "apk"
                | "bitbucket"
                | "brew"
                | "composer"
                | "deb"
                | "github"
                | "hex"
                | "luarocks"
                | "qpkg"
                | "rpm"
                | "vscode-extension"
                | "yocto"
        );
        let lower_name = matches!(
            ty,
            "alpm"
                | "apk"
                | "bitbucket"
                | "bitnami"
                | "brew"
                | "chrome-extension"
                | "composer"
                | "deb"
                | "github"
                | "hex"
                | "luarocks"
                | "oci"
                | "otp"
                | "pub"
                | "pypi"
                | "vscode-extension"
        );
        let lower_version = matches!(ty, "huggingface" | "oci" | "pypi" | "vscode-extension");
        if lower_namespace && let Some(ns) = &mut self.namespace {
            ns.make_ascii_lowercase();
        }
        if lower_name {
            self.name = self.name.to_lowercase();
        }
        if ty == "pypi" {
            // PEP 503-style: `Django_package` and `django-package` are one project.
            self.name = self.name.replace('_', "-");
        }
        if lower_version && let Some(v) = &mut self.version {
            *v = v.to_lowercase();
        }
    }
}

fn check_type(ty: &str) -> Result<String, PurlError> {
    if ty.is_empty() {
        return Err(PurlError::MissingType(ty.to_owned()));
    }
    let valid = ty
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
        && !ty.as_bytes()[0].is_ascii_digit();
    if !valid {
        return Err(PurlError::InvalidType(ty.to_owned()));
    }
    Ok(ty.to_ascii_lowercase())
}

impl FromStr for Purl {
    type Err = PurlError;

    /// Parses right to left as the specification's "how to parse" describes, tolerating an
    /// unencoded `@` in an npm scope and `pkg://`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();

        let (rest, subpath) = match s.rsplit_once('#') {
            Some((l, r)) => (l, parse_subpath(r)?),
            None => (s, None),
        };

        let (rest, qualifiers) = match rest.rsplit_once('?') {
            Some((l, r)) => (l, parse_qualifiers(r)?),
            None => (rest, Vec::new()),
        };

        let Some((scheme, rest)) = rest.split_once(':') else {
            return Err(PurlError::Scheme(input.to_owned()));
        };
        if !scheme.eq_ignore_ascii_case("pkg") {
            return Err(PurlError::Scheme(input.to_owned()));
        }
        let rest = rest.trim_start_matches('/');

        let Some((ty, rest)) = rest.split_once('/') else {
            return if rest.is_empty() {
                Err(PurlError::MissingType(input.to_owned()))
            } else {
                check_type(rest)?;
                Err(PurlError::MissingName(input.to_owned()))
            };
        };
        let ty = check_type(ty)?;

        // The version `@` is the one in the last path segment: an unencoded npm scope
        // (`pkg:npm/@babel/core`) must not be read as a version separator.
        let last_seg_start = rest.trim_end_matches('/').rfind('/').map_or(0, |i| i + 1);
        let (rest, version) = match rest[last_seg_start..].rfind('@') {
            Some(at) => {
                let at = last_seg_start + at;
                let v = decode(&rest[at + 1..])?;
                (&rest[..at], Some(v).filter(|v| !v.is_empty()))
            }
            None => (rest, None),
        };

        let rest = rest.trim_end_matches('/');
        let (ns, name) = match rest.rsplit_once('/') {
            Some((ns, name)) => (ns, name),
            None => ("", rest),
        };
        let name = decode(name)?;
        if name.is_empty() {
            return Err(PurlError::MissingName(input.to_owned()));
        }
        let mut segments = Vec::new();
        for seg in ns.split('/').filter(|s| !s.is_empty()) {
            segments.push(decode(seg)?);
        }
        let namespace = (!segments.is_empty()).then(|| segments.join("/"));

        let mut purl = Self {
            ty,
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        };
        purl.apply_type_rules();
        Ok(purl)
    }
}

fn parse_subpath(s: &str) -> Result<Option<String>, PurlError> {
    let mut segs = Vec::new();
    for seg in s.split('/') {
        let seg = decode(seg)?;
        if seg.is_empty() || seg == "." || seg == ".." {
            continue;
        }
        if seg.contains('/') {
            return Err(PurlError::InvalidSubpath(seg));
        }
        segs.push(seg);
    }
    Ok((!segs.is_empty()).then(|| segs.join("/")))
}

fn parse_qualifiers(s: &str) -> Result<Vec<(String, String)>, PurlError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(PurlError::InvalidQualifier(pair.to_owned()));
        };
        let key = key.to_ascii_lowercase();
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            && !key.as_bytes()[0].is_ascii_digit();
        if !key_ok {
            return Err(PurlError::InvalidQualifier(pair.to_owned()));
        }
        let value = decode(value)?;
        if value.is_empty() {
            continue;
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(PurlError::DuplicateQualifier(key));
        }
        out.push((key, value));
    }
    out.sort();
    Ok(out)
}

fn decode(s: &str) -> Result<String, PurlError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| PurlError::InvalidEncoding(s.to_owned()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PurlError::InvalidEncoding(s.to_owned()))
}

/// Percent-encodes everything outside the characters a canonical purl may carry bare.
fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

impl fmt::Display for Purl {
    /// The canonical form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical_and_key().0)
    }
}

impl Serialize for Purl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Purl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        s.parse::<Purl>()
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .to_string()
    }

    #[test]
    fn canonical_and_key_is_the_canonical_form_and_the_package_key() {
        for s in [
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1",
            "pkg:npm/@angular/core@16.2.0",
            "pkg:npm/lodash",
            "pkg:pypi/Django_Rest@1.0?vcs_url=git%2Bhttps://x#sub/path",
            "pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie",
        ] {
            let p: Purl = s.parse().unwrap();
            let (canonical, key) = p.canonical_and_key();
            assert_eq!(canonical, p.to_string());
            assert_eq!(&canonical[key], p.package_key());
        }
    }

    #[test]
    fn spec_roundtrips() {
        for (input, want) in [
            (
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1",
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1",
            ),
            (
                "pkg:npm/%40angular/core@16.2.0",
                "pkg:npm/%40angular/core@16.2.0",
            ),
            (
                "pkg:npm/@angular/core@16.2.0",
                "pkg:npm/%40angular/core@16.2.0",
            ),
            (
                "pkg:npm/@babel/core#/googleapis/api/annotations/",
                "pkg:npm/%40babel/core#googleapis/api/annotations",
            ),
            (
                "pkg:PYPI/Django_package@1.11.1.dev1",
                "pkg:pypi/django-package@1.11.1.dev1",
            ),
            (
                "pkg:github/Package-url/purl-Spec@244fd47e07d1004f0aed9c",
                "pkg:github/package-url/purl-spec@244fd47e07d1004f0aed9c",
            ),
            (
                "pkg:GOLANG/google.golang.org/genproto@abcdedf#/googleapis/api/annotations/",
                "pkg:golang/google.golang.org/genproto@abcdedf#googleapis/api/annotations",
            ),
            (
                "pkg:golang/github.com/Masterminds/semver@v3.2.1",
                "pkg:golang/github.com/Masterminds/semver@v3.2.1",
            ),
            (
                "pkg:nuget/Newtonsoft.Json@13.0.3",
                "pkg:nuget/Newtonsoft.Json@13.0.3",
            ),
            (
                "pkg:deb/debian/curl@7.88.1-10?distro=debian-12&arch=amd64",
                "pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=debian-12",
            ),
            (
                "pkg:oci/debian@sha256%3A244fd47e07d10?repository_url=docker.io/library/debian&arch=amd64&tag=latest",
                "pkg:oci/debian@sha256:244fd47e07d10?arch=amd64&repository_url=docker.io%2Flibrary%2Fdebian&tag=latest",
            ),
            (
                "pkg:npm/mypackage@12.4.5?vcs_url=git://host.com/path/to/repo.git%404345abcd34343",
                "pkg:npm/mypackage@12.4.5?vcs_url=git:%2F%2Fhost.com%2Fpath%2Fto%2Frepo.git%404345abcd34343",
            ),
            (
                "pkg:generic/bitwarderl?checksum=sha1:ad9503c3e994a4f%2Csha256:41bf9088b3a1e6c1ef1d",
                "pkg:generic/bitwarderl?checksum=sha1:ad9503c3e994a4f%2Csha256:41bf9088b3a1e6c1ef1d",
            ),
            ("pkg://cargo/serde@1.0.193", "pkg:cargo/serde@1.0.193"),
            (
                "PKG:Apk/Alpine/BusyBox@1.36.1-r5?Arch=x86_64&empty=",
                "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64",
            ),
            (
                "pkg:generic/openssl@3.0.12?download_url=https://x/y%20z.tgz",
                "pkg:generic/openssl@3.0.12?download_url=https:%2F%2Fx%2Fy%20z.tgz",
            ),
            (
                "pkg:composer/Laravel/Framework@v7.12.0",
                "pkg:composer/laravel/framework@v7.12.0",
            ),
        ] {
            assert_eq!(canon(input), want, "{input}");
            // Canonical forms are fixed points.
            assert_eq!(canon(want), want, "{want}");
        }
    }

    #[test]
    fn parts_are_decoded() {
        let p: Purl = "pkg:npm/%40scope/na%20me@1.0.0%2Bbuild?a=b%26c#sub/pa%2Eth"
            .parse()
            .unwrap();
        assert_eq!(p.ty(), "npm");
        assert_eq!(p.namespace(), Some("@scope"));
        assert_eq!(p.name(), "na me");
        assert_eq!(p.version(), Some("1.0.0+build"));
        assert_eq!(p.qualifier("a"), Some("b&c"));
        assert_eq!(p.subpath(), Some("sub/pa.th"));
        assert_eq!(
            p.to_string(),
            "pkg:npm/%40scope/na%20me@1.0.0%2Bbuild?a=b%26c#sub/pa.th"
        );
    }

    #[test]
    fn package_key_has_no_version() {
        let a: Purl = "pkg:maven/org.apache.commons/commons-lang3@3.12.0?type=jar"
            .parse()
            .unwrap();
        let b: Purl = "pkg:maven/org.apache.commons/commons-lang3@3.14.0"
            .parse()
            .unwrap();
        assert_eq!(a.package_key(), "maven/org.apache.commons/commons-lang3");
        assert_eq!(a.package_key(), b.package_key());
        let n: Purl = "pkg:npm/%40angular/core@16.2.0".parse().unwrap();
        assert_eq!(n.package_key(), "npm/%40angular/core");
        let c: Purl = "pkg:cargo/serde@1".parse().unwrap();
        assert_eq!(c.package_key(), "cargo/serde");
        assert_eq!(c.without_version().to_string(), "pkg:cargo/serde");
    }

    #[test]
    fn equal_after_canonicalisation() {
        let a: Purl = "pkg:pypi/Django_Allauth@0.58.2".parse().unwrap();
        let b: Purl = "pkg:PyPI/django-allauth@0.58.2".parse().unwrap();
        assert_eq!(a, b);
        // npm names are case-sensitive per the npm type definition (legacy mixed-case packages).
        let c: Purl = "pkg:npm/JSONStream@1.3.5".parse().unwrap();
        assert_eq!(c.name(), "JSONStream");
    }

    #[test]
    fn bad_purls_are_typed_errors() {
        use PurlError::*;
        let err = |s: &str| s.parse::<Purl>().unwrap_err();
        assert!(matches!(
            err("EnterpriseLibrary.Common@6.0.1304"),
            Scheme(_)
        ));
        assert!(matches!(err("http://example.com/x"), Scheme(_)));
        assert!(matches!(
            err("pkg:EnterpriseLibrary.Common@6.0.1304"),
            MissingName(_) | InvalidType(_)
        ));
        assert!(matches!(
            err("pkg:n&g?inx/nginx@0.8.9"),
            InvalidType(_) | InvalidQualifier(_)
        ));
        assert!(matches!(err("pkg:3nginx/nginx@0.8.9"), InvalidType(_)));
        assert!(matches!(err("pkg:nginx:a/nginx@0.8.9"), InvalidType(_)));
        assert!(matches!(
            err("pkg:npm/myartifact@1.0.0?in%20production=true"),
            InvalidQualifier(_)
        ));
        assert!(matches!(err("pkg:maven/@1.3.4"), MissingName(_)));
        assert!(matches!(
            err("pkg%3Amaven/org.apache.commons/io"),
            Scheme(_)
        ));
        assert!(matches!(err("pkg:npm/foo%zz@1"), InvalidEncoding(_)));
        assert!(matches!(err("pkg:npm/foo%ff@1"), InvalidEncoding(_)));
        assert!(matches!(
            err("pkg:npm/foo@1?a=1&A=2"),
            DuplicateQualifier(_)
        ));
        assert!(matches!(err("pkg:npm/foo@1?flag"), InvalidQualifier(_)));
        assert!(matches!(err("pkg:npm/foo#a%2Fb"), InvalidSubpath(_)));
        assert!(matches!(err("pkg:"), MissingType(_)));
        assert!(matches!(err("pkg:npm"), MissingName(_)));
    }

    #[test]
    fn builder_applies_type_rules() {
        let p = Purl::new("PyPI", None, "Foo_Bar", Some("1.0")).unwrap();
        assert_eq!(p.to_string(), "pkg:pypi/foo-bar@1.0");
        let p = Purl::new("npm", Some("@types"), "node", None).unwrap();
        assert_eq!(p.to_string(), "pkg:npm/%40types/node");
        assert!(Purl::new("npm", None, "", None).is_err());
    }

    #[test]
    fn serde_as_canonical_string() {
        let p: Purl = "pkg:npm/@types/node@20".parse().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"pkg:npm/%40types/node@20\"");
        let back: Purl = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
