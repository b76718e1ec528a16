use std::fmt;

use serde::{Serialize, Serializer};

/// A stable, kebab-case code for every reason Tollgate refuses or flags something. The string
/// form is an interface: API answers, OCI error `detail`, admission messages, logs and metric
/// labels all carry it, so a code is never renamed once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// A tag protected as immutable is already bound to other bytes.
    TagImmutable,
    /// The repository requires SemVer 2.0 tags and this one is not.
    TagNotSemver,
    /// Deleting the artifact (or evidence attached to it) would break an immutable tag.
    ArtifactImmutable,
    /// Deletes are switched off for this repository.
    DeleteDisabled,
    /// The caller's token has no role granting this action on this repository.
    RoleMissing,
}

impl ReasonCode {
    pub const ALL: &'static [ReasonCode] = &[
        ReasonCode::TagImmutable,
        ReasonCode::TagNotSemver,
        ReasonCode::ArtifactImmutable,
        ReasonCode::DeleteDisabled,
        ReasonCode::RoleMissing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::TagImmutable => "tag-immutable",
            ReasonCode::TagNotSemver => "tag-not-semver",
            ReasonCode::ArtifactImmutable => "artifact-immutable",
            ReasonCode::DeleteDisabled => "delete-disabled",
            ReasonCode::RoleMissing => "role-missing",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ReasonCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{s}"
            );
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{s}\""));
        }
    }
}
