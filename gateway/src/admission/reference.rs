//! Image references as Kubernetes writes them (`nginx`, `host:5000/a/b:tag`,
//! `name:tag@sha256:…`), normalised the way the container runtime reads them: docker's
//! reference grammar (distribution/reference). No network: this only reads the string.

use std::fmt;

use tollgate_attest::Digest;
use tollgate_policies::{RepoName, Tag};

/// The registry an image without a host name comes from.
pub const DOCKER_HUB: &str = "docker.io";
/// Clients cap `host[:port]/name` at 255 characters.
const MAX_NAME_LEN: usize = 255;

/// A normalised image reference: an explicit registry host, a repository path, and a tag or
/// a digest (or both, written `name:tag@digest`; the digest is what runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]` as written, or `docker.io` when none was.
    pub domain: String,
    /// The repository path on that registry (`library/nginx`, `prod/app`).
    pub path: RepoName,
    /// The tag: as written, or `latest` when neither a tag nor a digest was.
    pub tag: Option<Tag>,
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses and normalises `s`; the error says what is wrong with it.
    pub fn parse(s: &str) -> Result<ImageRef, String> {
        if s.is_empty() {
            return Err("the image reference is empty".into());
        }
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{s:?} contains {c:?}"));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let d: Digest = d.parse().map_err(|e| format!("{s:?}: {e}"))?;
                (n, Some(d))
            }
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[slash..].find(':') {
            Some(i) => {
                let (n, t) = name_tag.split_at(slash + i);
                let t: Tag = t[1..].parse().map_err(|e| format!("{s:?}: {e}"))?;
                (n, Some(t))
            }
            None => (name_tag, None),
        };
        let (domain, path) = split_domain(name);
        if let Some(d) = domain {
            check_registry(d).map_err(|e| format!("{s:?}: {e}"))?;
        }
        let mut domain = domain.unwrap_or(DOCKER_HUB).to_string();
        if domain == "index.docker.io" {
            domain = DOCKER_HUB.into();
        }
        let path = if domain == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!("{s:?}: repository names must be lowercase"));
        }
        let path: RepoName = path
            .parse()
            .map_err(|_| format!("{s:?}: {path:?} is not a valid repository path"))?;
        if domain.len() + 1 + path.as_str().len() > MAX_NAME_LEN {
            return Err(format!(
                "{s:?}: the name is longer than {MAX_NAME_LEN} characters"
            ));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".parse().map_err(|e| format!("{e}"))?),
            (t, _) => t,
        };
        Ok(ImageRef {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `domain/path`, the repository the runtime pulls from.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

/// The fully qualified form: `domain/path[:tag][@digest]`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Docker's rule: the first component names a registry when it holds a `.` or a `:`, is
/// `localhost`, or has an upper-case letter (which no repository path may hold).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `host[:port]`: DNS labels or an IPv4 address, or `[IPv6]`, and an optional port.
pub fn check_registry(d: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry {d:?} has an unclosed '['"))?;
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry {d:?}: {ip:?} is not an IPv6 address"));
        }
        match after {
            "" => (None, None),
            p => (
                None,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("registry {d:?} is not [IPv6]:PORT"))?,
                ),
            ),
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(h) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if h.is_empty() || !h.split('.').all(label_ok) {
            return Err(format!("registry host {h:?} is not a valid host name"));
        }
    }
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("registry {d:?} has an invalid port {p:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff";

    fn norm(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_hub_names_get_their_implicit_parts() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(
            norm("docker.io/library/nginx:latest"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            norm("index.docker.io/nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(norm("bitnami/redis:7"), "docker.io/bitnami/redis:7");
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(r.domain, "docker.io");
        assert_eq!(r.path.as_str(), "library/nginx");
        assert_eq!(r.name(), "docker.io/library/nginx");
    }

    #[test]
    fn hosts_are_told_apart_from_paths() {
        let r = ImageRef::parse("localhost:5000/x").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str()),
            ("localhost:5000", "x")
        );
        assert_eq!(r.tag.unwrap().as_str(), "latest");
        let r = ImageRef::parse("localhost/x:1").unwrap();
        assert_eq!((r.domain.as_str(), r.path.as_str()), ("localhost", "x"));
        let r = ImageRef::parse("quay.io/fluentd_elasticsearch/fluentd:v2.5.2").unwrap();
        assert_eq!(r.domain, "quay.io");
        assert_eq!(r.path.as_str(), "fluentd_elasticsearch/fluentd");
        assert_eq!(r.tag.unwrap().as_str(), "v2.5.2");
        let r = ImageRef::parse("10.0.0.5:5000/prod/app:1.0.0").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str()),
            ("10.0.0.5:5000", "prod/app")
        );
        let r = ImageRef::parse("[::1]:5000/prod/app").unwrap();
        assert_eq!(r.domain, "[::1]:5000");
        // No dot, colon or "localhost": a Docker Hub namespace, not a host.
        let r = ImageRef::parse("tollgate/prod/app").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str()),
            ("docker.io", "tollgate/prod/app")
        );
        // An upper-case first component is a host (docker's rule).
        let r = ImageRef::parse("MyRegistry/app").unwrap();
        assert_eq!(r.domain, "MyRegistry");
    }

    #[test]
    fn the_digest_wins_over_the_tag() {
        let r = ImageRef::parse(&format!("securesystemsengineering/charlie-image@{D}")).unwrap();
        assert_eq!(r.digest.as_ref().unwrap().to_string(), D);
        assert!(r.tag.is_none(), "no implicit latest beside a digest");
        assert_eq!(
            r.to_string(),
            format!("docker.io/securesystemsengineering/charlie-image@{D}")
        );
        let r = ImageRef::parse(&format!("tollgate.example.com/prod/app:1.0.0@{D}")).unwrap();
        assert_eq!(r.tag.as_ref().unwrap().as_str(), "1.0.0");
        assert_eq!(r.digest.unwrap().to_string(), D);
        let r = ImageRef::parse(&format!("localhost:5000/x@{D}")).unwrap();
        assert_eq!(r.domain, "localhost:5000");
    }

    #[test]
    fn invalid_references_say_why() {
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-x",
            "nginx@sha256:abc",
            "nginx@md5:d41d8cd98f00b204e9800998ecf8427e",
            "nginx@",
            "host.example.com/",
            "host.example.com//app",
            "host.example.com/App:1",
            "-bad.example.com/app",
            "host.example.com:port/app",
            "[::1/app",
            "ngi nx",
            "app:tag:again",
            "a/b/",
            "a@sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff@x",
        ] {
            let e = ImageRef::parse(bad);
            assert!(e.is_err(), "{bad:?} parsed as {e:?}");
        }
        // Odd input never panics.
        for odd in [
            ":",
            "/",
            "@",
            ":/",
            "a:/b",
            "é/x:y",
            "x/é",
            "ä@sha256:1",
            "[",
            "[]",
            "[]:1/x",
            "a/:b",
            "host:/x",
            "h:1:2/x",
            "xn--bcher-kva.example/ä",
            "a::b",
            "@@",
            "a/b@",
        ] {
            let _ = ImageRef::parse(odd);
        }
        let long = format!("r.example.com/{}", "a".repeat(250));
        assert!(ImageRef::parse(&long).unwrap_err().contains("longer"));
        assert!(ImageRef::parse("Nginx").unwrap_err().contains("lowercase"));
    }
}
