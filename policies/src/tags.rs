//! Rules about tags: which ones are immutable once bound, and which must be SemVer.

use tollgate_attest::Digest;

use crate::{Pattern, ReasonCode, Tag};

/// Whether tags must be SemVer 2.0 versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SemverRule {
    #[default]
    Off,
    Required {
        /// Accept `v1.2.3` as well as `1.2.3`.
        allow_v_prefix: bool,
    },
}

/// The tag rules in force for one repository.
#[derive(Debug, Clone)]
pub struct TagRules {
    /// Tags matching any of these can never be rebound to another digest...
    pub immutable: Vec<Pattern>,
    /// ...unless they also match one of these (by default `latest`).
    pub mutable: Vec<Pattern>,
    pub semver: SemverRule,
}

impl Default for TagRules {
    /// Every tag immutable except `latest`; no SemVer requirement.
    fn default() -> Self {
        TagRules {
            immutable: vec![Pattern::new("*")],
            mutable: vec![Pattern::new("latest")],
            semver: SemverRule::Off,
        }
    }
}

/// Tags that name another artifact's digest (`sha256-<hex>` for the referrers tag schema and
/// cosign's `.sig`, `.att`, `.sbom`) follow their subject, not the repository's version scheme.
fn is_digest_tag(tag: &Tag) -> bool {
    digest_tag_subject(tag).is_some()
}

/// The subject a digest tag (`sha256-<hex>`, `sha256-<hex>.sig`, `.att`, `.sbom`) names.
pub(crate) fn digest_tag_subject(tag: &Tag) -> Option<Digest> {
    match Digest::from_tag_prefix(tag.as_str()) {
        Some((d, "" | ".sig" | ".att" | ".sbom")) => Some(d),
        _ => None,
    }
}

impl TagRules {
    /// Whether `tag` may never be rebound. Digest tags (cosign's `.sig`/`.att`/`.sbom`, the
    /// referrers fallback) grow as evidence is appended, so they are never immutable; the
    /// evidence they carried is kept by subject and protected with it.
    pub fn is_immutable(&self, tag: &Tag) -> bool {
        if is_digest_tag(tag) {
            return false;
        }
        let t = tag.as_str();
        self.immutable.iter().any(|p| p.matches(t)) && !self.mutable.iter().any(|p| p.matches(t))
    }

    /// Checks a tag before it is bound; the rebinding question is settled by the store.
    pub fn check_new_tag(&self, tag: &Tag) -> Result<(), ReasonCode> {
        match self.semver {
            SemverRule::Off => Ok(()),
            SemverRule::Required { .. } if is_digest_tag(tag) => Ok(()),
            SemverRule::Required { allow_v_prefix } => {
                let t = tag.as_str();
                let t = match t.strip_prefix('v') {
                    Some(rest) if allow_v_prefix => rest,
                    _ => t,
                };
                semver::Version::parse(t)
                    .map(|_| ())
                    .map_err(|_| ReasonCode::TagNotSemver)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Tag {
        s.parse().unwrap()
    }

    #[test]
    fn default_rules_protect_all_but_latest() {
        let r = TagRules::default();
        assert!(r.is_immutable(&tag("1.0.0")));
        assert!(r.is_immutable(&tag("main")));
        assert!(!r.is_immutable(&tag("latest")));
        assert!(!r.is_immutable(&tag(&format!("sha256-{}.sig", "a".repeat(64)))));
    }

    #[test]
    fn semver_required() {
        let strict = TagRules {
            semver: SemverRule::Required {
                allow_v_prefix: false,
            },
            ..TagRules::default()
        };
        let lax = TagRules {
            semver: SemverRule::Required {
                allow_v_prefix: true,
            },
            ..TagRules::default()
        };
        assert_eq!(strict.check_new_tag(&tag("1.2.3")), Ok(()));
        assert_eq!(strict.check_new_tag(&tag("1.2.3-rc.1")), Ok(()));
        assert_eq!(
            strict.check_new_tag(&tag("v1.2.3")),
            Err(ReasonCode::TagNotSemver)
        );
        assert_eq!(
            strict.check_new_tag(&tag("1.2")),
            Err(ReasonCode::TagNotSemver)
        );
        assert_eq!(
            strict.check_new_tag(&tag("latest")),
            Err(ReasonCode::TagNotSemver)
        );
        assert_eq!(lax.check_new_tag(&tag("v1.2.3")), Ok(()));
        assert_eq!(
            lax.check_new_tag(&tag("vv1.2.3")),
            Err(ReasonCode::TagNotSemver)
        );
        let sig = format!("sha256-{}.sig", "c".repeat(64));
        assert_eq!(strict.check_new_tag(&tag(&sig)), Ok(()));
        let other = format!("sha256-{}.zip", "c".repeat(64));
        assert_eq!(
            strict.check_new_tag(&tag(&other)),
            Err(ReasonCode::TagNotSemver)
        );
        assert_eq!(TagRules::default().check_new_tag(&tag("whatever")), Ok(()));
    }
}
