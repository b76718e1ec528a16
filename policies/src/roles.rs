//! Roles a token can hold, each scoped by a repository pattern.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Pattern, RepoName};

/// An approver's role group: approvals are counted per group by promotion policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApproverGroup {
    Dev,
    Ops,
    Security,
    Business,
}

impl ApproverGroup {
    pub const ALL: [ApproverGroup; 4] = [
        ApproverGroup::Dev,
        ApproverGroup::Ops,
        ApproverGroup::Security,
        ApproverGroup::Business,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApproverGroup::Dev => "dev",
            ApproverGroup::Ops => "ops",
            ApproverGroup::Security => "security",
            ApproverGroup::Business => "business",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl fmt::Display for ApproverGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a role lets its holder do. Registry actions (pull, push, delete) follow
/// reader < pusher < admin; the governance roles (promoter, approver, breakglass, auditor) are
/// read-only at the registry and each grants one governance action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Pull manifests and blobs, read records.
    Reader,
    /// Everything a reader may, and push.
    Pusher,
    /// Everything, including deletes, token management and requesting promotions (but not
    /// approving or breaking glass: those are always explicit grants, so the audit log names
    /// who held them).
    Admin,
    /// Pull, and request promotions of matching repositories.
    Promoter,
    /// Pull, and approve promotions on behalf of one group.
    Approver(ApproverGroup),
    /// Pull, and request emergency promotions that may bypass windows, freezes and approvals.
    Breakglass,
    /// Read-only: pull, records, decisions and the audit log.
    Auditor,
    /// Pull, and record verification results (smoke tests, success criteria, canary
    /// verdicts) for artifacts: what a CI job or an analysis tool holds.
    Verifier,
}

/// An action on a repository, checked against the caller's grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// Ask for a promotion of an artifact from this repository.
    Promote,
    /// Approve a promotion on behalf of a group.
    Approve(ApproverGroup),
    /// Ask for an emergency (break-glass) promotion.
    BreakGlass,
    /// Read the audit log and decisions.
    Audit,
    /// Record a verification result for an artifact of this repository.
    Verify,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Pusher => "pusher",
            Role::Admin => "admin",
            Role::Promoter => "promoter",
            Role::Approver(ApproverGroup::Dev) => "approver(dev)",
            Role::Approver(ApproverGroup::Ops) => "approver(ops)",
            Role::Approver(ApproverGroup::Security) => "approver(security)",
            Role::Approver(ApproverGroup::Business) => "approver(business)",
            Role::Breakglass => "breakglass",
            Role::Auditor => "auditor",
            Role::Verifier => "verifier",
        }
    }

    /// Reads a role name: `reader`, `pusher`, `admin`, `promoter`, `approver(GROUP)`,
    /// `breakglass`, `auditor`, `verifier`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reader" => Role::Reader,
            "pusher" => Role::Pusher,
            "admin" => Role::Admin,
            "promoter" => Role::Promoter,
            "breakglass" => Role::Breakglass,
            "auditor" => Role::Auditor,
            "verifier" => Role::Verifier,
            _ => Role::Approver(ApproverGroup::parse(
                s.strip_prefix("approver(")?.strip_suffix(')')?,
            )?),
        })
    }

    pub fn allows(self, action: Action) -> bool {
        match (self, action) {
            (_, Action::Pull) => true,
            (Role::Pusher | Role::Admin, Action::Push) => true,
            (Role::Admin, Action::Delete | Action::Promote | Action::Audit) => true,
            (Role::Promoter, Action::Promote) => true,
            (Role::Approver(mine), Action::Approve(group)) => mine == group,
            (Role::Breakglass, Action::BreakGlass) => true,
            (Role::Auditor, Action::Audit) => true,
            (Role::Verifier, Action::Verify) => true,
            _ => false,
        }
    }
}

/// `ROLE[:PATTERN]`, e.g. `pusher:dev/*` or `approver(security):prod/*`; a bare role means
/// every repository. The approver's group is in parentheses so that the first `:` always
/// ends the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: Role,
    pub repositories: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "role grant {0:?} is invalid: expected ROLE[:PATTERN] with ROLE one of reader, pusher, admin, promoter, approver(dev|ops|security|business), breakglass, auditor, verifier"
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
        let role = Role::parse(role).ok_or_else(|| RoleGrantError(s.to_string()))?;
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

    #[test]
    fn governance_roles() {
        let prod: RepoName = "prod/app".parse().unwrap();
        let a: RoleGrant = "approver(security):prod/*".parse().unwrap();
        assert_eq!(a.role, Role::Approver(ApproverGroup::Security));
        assert_eq!(a.to_string(), "approver(security):prod/*");
        assert!(a.allows(Action::Approve(ApproverGroup::Security), &prod));
        assert!(!a.allows(Action::Approve(ApproverGroup::Ops), &prod));
        assert!(a.allows(Action::Pull, &prod));
        for role in [
            "promoter",
            "approver(ops)",
            "breakglass",
            "auditor",
            "verifier",
        ] {
            let g: RoleGrant = role.parse().unwrap();
            assert_eq!(g.to_string(), format!("{role}:*"));
            assert!(!g.allows(Action::Push, &prod), "{role} pushes");
            assert!(!g.allows(Action::Delete, &prod), "{role} deletes");
            assert!(g.allows(Action::Pull, &prod));
        }
        let p: RoleGrant = "promoter:team-a/*".parse().unwrap();
        assert!(p.allows(Action::Promote, &"team-a/api".parse().unwrap()));
        assert!(!p.allows(Action::Promote, &prod));
        assert!(
            "breakglass"
                .parse::<RoleGrant>()
                .unwrap()
                .allows(Action::BreakGlass, &prod)
        );
        assert!(
            "auditor"
                .parse::<RoleGrant>()
                .unwrap()
                .allows(Action::Audit, &prod)
        );
        let v: RoleGrant = "verifier:staging/*".parse().unwrap();
        assert!(v.allows(Action::Verify, &"staging/app".parse().unwrap()));
        assert!(!v.allows(Action::Verify, &prod));
        assert!(!v.allows(Action::Promote, &"staging/app".parse().unwrap()));
        // Admin promotes but neither approves, verifies nor breaks glass: those are explicit
        // grants.
        let admin: RoleGrant = "admin".parse().unwrap();
        assert!(!admin.allows(Action::Verify, &prod));
        assert!(admin.allows(Action::Promote, &prod));
        assert!(!admin.allows(Action::Approve(ApproverGroup::Dev), &prod));
        assert!(!admin.allows(Action::BreakGlass, &prod));
        for bad in [
            "approver",
            "approver()",
            "approver(qa)",
            "approver(dev",
            "approver:dev",
        ] {
            assert!(bad.parse::<RoleGrant>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<RoleGrant>(&json).unwrap(), a);
    }
}
