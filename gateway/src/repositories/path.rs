//! Repository paths, checked at the edge: what follows `/repository/<repo>/` or
//! `/artifactory/<repo>/` in a request, percent-decoded once and refused unless every segment
//! is a plain name. Nothing below this module sees an unchecked path.

use std::fmt;

/// Longest path accepted (Nexus and Artifactory accept far less in practice).
const MAX_LEN: usize = 1024;

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty; name a file inside the repository")]
    Empty,
    #[error("the path is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("the path has an invalid percent-encoding or is not UTF-8")]
    Encoding,
    #[error("the path has an empty segment (a leading, trailing or doubled '/')")]
    EmptySegment,
    #[error("the path has a '.' or '..' segment")]
    DotSegment,
    #[error("the path holds a control character or a backslash")]
    BadCharacter,
}

/// A validated path inside a repository: `/`-separated segments, none empty, `.` or `..`, no
/// control characters or backslashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoPath(String);

fn percent_decode(raw: &str) -> Result<String, PathError> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(PathError::Encoding)?;
            let s = std::str::from_utf8(hex).map_err(|_| PathError::Encoding)?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| PathError::Encoding)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PathError::Encoding)
}

impl RepoPath {
    /// Reads a path as it appears on the wire (percent-encoded, no leading `/`).
    pub fn from_wire(raw: &str) -> Result<Self, PathError> {
        Self::new(&percent_decode(raw)?)
    }

    /// Checks an already decoded path.
    pub fn new(path: &str) -> Result<Self, PathError> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        if path.len() > MAX_LEN {
            return Err(PathError::TooLong);
        }
        if path.chars().any(|c| c.is_control() || c == '\\') {
            return Err(PathError::BadCharacter);
        }
        for seg in path.split('/') {
            match seg {
                "" => return Err(PathError::EmptySegment),
                "." | ".." => return Err(PathError::DotSegment),
                _ => {}
            }
        }
        Ok(RepoPath(path.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// Everything before the last segment (empty for a top-level file).
    pub fn dir(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(d, _)| d)
    }

    /// This path with `suffix` appended to its last segment (a sidecar's path).
    pub fn with_suffix(&self, suffix: &str) -> RepoPath {
        RepoPath(format!("{}{suffix}", self.0))
    }

    /// This path without `suffix`, if it ends with it and something is left.
    pub fn strip_suffix(&self, suffix: &str) -> Option<RepoPath> {
        let s = self.0.strip_suffix(suffix)?;
        (!s.is_empty() && !s.ends_with('/')).then(|| RepoPath(s.to_string()))
    }

    /// The path percent-encoded for a URL (upstream requests, `downloadUri`).
    pub fn to_wire(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || b"/-._~+@:=,;!$&'()*".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass() {
        let p = RepoPath::from_wire("org/example/demo/1.0/demo-1.0.jar").unwrap();
        assert_eq!(p.file_name(), "demo-1.0.jar");
        assert_eq!(p.dir(), "org/example/demo/1.0");
        assert_eq!(
            p.with_suffix(".sha1").as_str(),
            "org/example/demo/1.0/demo-1.0.jar.sha1"
        );
        assert_eq!(
            p.with_suffix(".sha1").strip_suffix(".sha1").as_ref(),
            Some(&p)
        );
        assert_eq!(
            RepoPath::new("a.sha1").unwrap().strip_suffix("a.sha1"),
            None
        );
        let spaced = RepoPath::from_wire("dir/my%20file+v1.txt").unwrap();
        assert_eq!(spaced.as_str(), "dir/my file+v1.txt");
        assert_eq!(spaced.to_wire(), "dir/my%20file+v1.txt");
        assert_eq!(RepoPath::new("top.txt").unwrap().dir(), "");
    }

    #[test]
    fn traversal_and_junk_are_refused() {
        for (raw, e) in [
            ("", PathError::Empty),
            ("../etc/passwd", PathError::DotSegment),
            ("a/../../b", PathError::DotSegment),
            ("a/%2e%2e/b", PathError::DotSegment),
            ("a/%2E%2E", PathError::DotSegment),
            ("./a", PathError::DotSegment),
            ("a//b", PathError::EmptySegment),
            ("/a", PathError::EmptySegment),
            ("a/", PathError::EmptySegment),
            ("a/%2Fb", PathError::EmptySegment),
            ("a%00b", PathError::BadCharacter),
            ("a%0Ab", PathError::BadCharacter),
            ("a%5Cb", PathError::BadCharacter),
            ("a%zz", PathError::Encoding),
            ("a%e2%28", PathError::Encoding),
            ("a%2", PathError::Encoding),
        ] {
            assert_eq!(RepoPath::from_wire(raw), Err(e.clone()), "{raw:?}");
        }
        assert_eq!(
            RepoPath::from_wire(&"a".repeat(MAX_LEN + 1)),
            Err(PathError::TooLong)
        );
    }
}
