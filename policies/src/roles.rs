//! Roles a token can hold, each scoped by a repository pattern.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Pattern, RepoName};

/// What a role lets its holder do. Later issues add promoter, approver, auditor and breakglass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Pull manifests and blobs, read records.
    Reader,
    /// Everything a reader may, and push.
    Pusher,
    /// Everything, including deletes and token management.
    Admin,
}

/// An action on a repository, checked against the caller's grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Pusher => "pusher",
            Role::Admin => "admin",
        }
    }

    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::Pull => true,
            Action::Push => self >= Role::Pusher,
            Action::Delete => self == Role::Admin,
        }
    }
}

/// `role:pattern`, e.g. `pusher:dev/*`; a bare role means every repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: Role,
    pub repositories: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "role grant {0:?} is invalid: expected ROLE[:PATTERN] with ROLE one of reader, pusher, admin"
)]
pub struct RoleGrantError(pub String);

impl RoleGrant {
    pub fn allows(&self, action: Action, repo: &RepoName) -> bool {
        self.role.allows(action) && self.repositories.matches(repo.as_str())
    }

    /// Admin over every repository: may manage tokens and read everything.
    pub fn is_global_admin(&self) -> bool {
        self.role == Role::Admin && self.repositories.as_str() == "*"
    }
}

impl FromStr for RoleGrant {
    type Err = RoleGrantError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (role, pattern) = s.split_once(':').unwrap_or((s, "*"));
        let role = match role {
            "reader" => Role::Reader,
            "pusher" => Role::Pusher,
            "admin" => Role::Admin,
            _ => return Err(RoleGrantError(s.to_string())),
        };
        let pattern_ok = !pattern.is_empty()
            && pattern
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/*?".contains(&b));
        if !pattern_ok {
            return Err(RoleGrantError(s.to_string()));
        }
        Ok(RoleGrant {
            role,
            repositories: Pattern::new(pattern),
        })
    }
}

impl fmt::Display for RoleGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.role.as_str(), self.repositories)
    }
}

impl Serialize for RoleGrant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RoleGrant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants() {
        let g: RoleGrant = "pusher:dev/*".parse().unwrap();
        let dev: RepoName = "dev/app".parse().unwrap();
        let prod: RepoName = "prod/app".parse().unwrap();
        assert!(g.allows(Action::Push, &dev));
        assert!(g.allows(Action::Pull, &dev));
        assert!(!g.allows(Action::Delete, &dev));
        assert!(!g.allows(Action::Push, &prod));
        let r: RoleGrant = "reader".parse().unwrap();
        assert!(r.allows(Action::Pull, &prod) && !r.allows(Action::Push, &prod));
        assert!("admin".parse::<RoleGrant>().unwrap().is_global_admin());
        assert!(
            !"admin:dev/*"
                .parse::<RoleGrant>()
                .unwrap()
                .is_global_admin()
        );
        for bad in ["root", "pusher:", "pusher:Dev", "pusher:a b"] {
            assert!(bad.parse::<RoleGrant>().is_err(), "{bad}");
        }
        assert_eq!(g.to_string(), "pusher:dev/*");
    }
}
