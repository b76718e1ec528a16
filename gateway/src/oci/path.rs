//! The `/v2/` path grammar. Repository names contain `/`, so routes are recognised by their
//! suffix (`/manifests/<ref>`, `/blobs/<digest>`, `/blobs/uploads/[<id>]`, `/tags/list`,
//! `/referrers/<digest>`), never by counting segments.

/// A recognised `/v2/` route, with its parts still unvalidated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciPath<'a> {
    Base,
    Token,
    Manifest { name: &'a str, reference: &'a str },
    Blob { name: &'a str, digest: &'a str },
    UploadStart { name: &'a str },
    Upload { name: &'a str, id: &'a str },
    Tags { name: &'a str },
    Referrers { name: &'a str, digest: &'a str },
    Unknown,
}

/// Splits `rest` at the last `/<marker>/` whose tail holds no further `/`.
fn split_last<'a>(rest: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let i = rest.rfind(marker)?;
    let (name, tail) = (&rest[..i], &rest[i + marker.len()..]);
    (!name.is_empty() && !tail.is_empty() && !tail.contains('/')).then_some((name, tail))
}

/// Parses the part of the path after `/v2/`.
pub fn parse(rest: &str) -> OciPath<'_> {
    if rest.is_empty() {
        return OciPath::Base;
    }
    if rest == "token" {
        return OciPath::Token;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return if name.is_empty() {
            OciPath::Unknown
        } else {
            OciPath::Tags { name }
        };
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return if name.is_empty() {
            OciPath::Unknown
        } else {
            OciPath::UploadStart { name }
        };
    }
    if let Some((name, id)) = split_last(rest, "/blobs/uploads/") {
        return OciPath::Upload { name, id };
    }
    if let Some((name, digest)) = split_last(rest, "/blobs/") {
        return OciPath::Blob { name, digest };
    }
    if let Some((name, reference)) = split_last(rest, "/manifests/") {
        return OciPath::Manifest { name, reference };
    }
    if let Some((name, digest)) = split_last(rest, "/referrers/") {
        return OciPath::Referrers { name, digest };
    }
    OciPath::Unknown
}

/// The route class used in metrics and logs.
pub fn route_class(path: &str) -> &'static str {
    let Some(rest) = path
        .strip_prefix("/v2/")
        .or_else(|| (path == "/v2").then_some(""))
    else {
        return if path.starts_with("/api/") {
            "api"
        } else if path.starts_with("/repository/") || path.starts_with("/artifactory/") {
            "files"
        } else if path.starts_with("/admission/") {
            "admission"
        } else if path == "/metrics" {
            "metrics"
        } else if path == "/healthz" || path == "/readyz" {
            "health"
        } else {
            "other"
        };
    };
    match parse(rest) {
        OciPath::Base => "oci-base",
        OciPath::Token => "oci-token",
        OciPath::Manifest { .. } => "oci-manifest",
        OciPath::Blob { .. } => "oci-blob",
        OciPath::UploadStart { .. } | OciPath::Upload { .. } => "oci-upload",
        OciPath::Tags { .. } => "oci-tags",
        OciPath::Referrers { .. } => "oci-referrers",
        OciPath::Unknown => "oci-unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_suffix() {
        assert_eq!(parse(""), OciPath::Base);
        assert_eq!(
            parse("a/b/c/manifests/1.0"),
            OciPath::Manifest {
                name: "a/b/c",
                reference: "1.0"
            }
        );
        assert_eq!(
            parse("manifests/manifests/x"),
            OciPath::Manifest {
                name: "manifests",
                reference: "x"
            }
        );
        assert_eq!(
            parse("a/blobs/uploads/"),
            OciPath::UploadStart { name: "a" }
        );
        assert_eq!(parse("a/blobs/uploads"), OciPath::UploadStart { name: "a" });
        assert_eq!(
            parse("a/blobs/uploads/123"),
            OciPath::Upload {
                name: "a",
                id: "123"
            }
        );
        assert_eq!(
            parse("a/blobs/sha256:00"),
            OciPath::Blob {
                name: "a",
                digest: "sha256:00"
            }
        );
        assert_eq!(
            parse("x/blobs/uploads/blobs/d"),
            OciPath::Blob {
                name: "x/blobs/uploads",
                digest: "d"
            }
        );
        assert_eq!(parse("a/b/tags/list"), OciPath::Tags { name: "a/b" });
        assert_eq!(
            parse("a/referrers/sha256:1"),
            OciPath::Referrers {
                name: "a",
                digest: "sha256:1"
            }
        );
        assert_eq!(parse("a/manifests/"), OciPath::Unknown);
        assert_eq!(parse("/manifests/x"), OciPath::Unknown);
        assert_eq!(parse("_catalog"), OciPath::Unknown);
        assert_eq!(route_class("/v2/a/blobs/uploads/1"), "oci-upload");
        assert_eq!(route_class("/api/v1/artifacts"), "api");
    }
}
