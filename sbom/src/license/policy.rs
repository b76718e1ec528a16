//! Licence policy: allow-list, deny-list and what to do with licences nobody can judge.
//!
//! Expressions are judged with three-valued logic: each licence passes, fails, or is unknown;
//! `OR` passes if any branch passes (the licensee may choose it), `AND` fails if any part
//! fails. A deny entry beats an allow entry of the same specificity; an entry naming an
//! exception (`GPL-2.0-only WITH Classpath-exception-2.0`) beats one for the bare licence, and
//! a bare entry covers every exception-qualified use of that licence.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{LicenseException, LicenseExpr, LicenseInfo, LicenseState};
use crate::model::Component;

/// Reason code for a licence a policy forbids (or does not allow).
pub const REASON_DENIED: &str = "license-denied";
/// Reason code for a licence that cannot be judged (missing, `NOASSERTION`, `LicenseRef-`,
/// free text) when the policy warns on or denies those.
pub const REASON_UNKNOWN: &str = "license-unknown";

/// What a policy says about licences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LicensePolicy {
    /// When non-empty, only these licences pass; every other known licence fails.
    pub allow: Vec<PolicyLicense>,
    /// These licences fail, whatever `allow` says.
    pub deny: Vec<PolicyLicense>,
    /// What a licence nobody can judge leads to.
    pub unknown: UnknownLicense,
}

/// Handling of unknown licences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownLicense {
    Allow,
    #[default]
    Warn,
    Deny,
}

/// One policy entry: a single licence, optionally `WITH` an exception, or a `LicenseRef-`.
/// Written as SPDX text; deprecated ids are normalised like expressions are (`GPL-2.0` means
/// `GPL-2.0-only`), and a `+` on a non-GNU id covers later versions (`MPL-1.0+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLicense(LicenseExpr);

impl FromStr for PolicyLicense {
    type Err = super::LicenseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match LicenseExpr::parse(s)? {
            e @ (LicenseExpr::License(_) | LicenseExpr::Ref(_)) => Ok(Self(e)),
            _ => Err(super::LicenseError::NotASingleLicense(s.to_owned())),
        }
    }
}

impl fmt::Display for PolicyLicense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for PolicyLicense {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyLicense {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How specifically a policy entry matches a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    /// The entry names the bare licence and the licence carries an exception.
    Base,
    /// The entry names exactly this licence (and exception, if any).
    Exact,
}

impl PolicyLicense {
    /// How specifically this entry names `leaf`. `allow` entries also match a licence offered
    /// as "version or later" (`Apache-1.0+`) when they name a later version: the licensee may
    /// pick it. A deny entry for a later version does not catch it, for the same reason.
    fn matches(&self, leaf: &LicenseExpr, allow: bool) -> Option<Specificity> {
        match (&self.0, leaf) {
            (LicenseExpr::Ref(a), LicenseExpr::Ref(b)) => (a == b).then_some(Specificity::Exact),
            (LicenseExpr::License(entry), LicenseExpr::License(lic)) => {
                let names = entry.id == lic.id
                    || (entry.or_later && later_or_same(lic.id, entry.id))
                    || (allow && lic.or_later && later_or_same(entry.id, lic.id));
                if !names {
                    return None;
                }
                match (&entry.exception, &lic.exception) {
                    (None, None) => Some(Specificity::Exact),
                    (None, Some(_)) => Some(Specificity::Base),
                    (Some(a), Some(b)) if same_exception(a, b) => Some(Specificity::Exact),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Whether `id` is `base` or a later version of the same licence, as `spdx` judges "or later"
/// (`MPL-2.0` for `MPL-1.0`).
fn later_or_same(id: spdx::LicenseId, base: spdx::LicenseId) -> bool {
    spdx::Licensee::new(
        spdx::LicenseItem::Spdx {
            id,
            or_later: false,
        },
        None,
    )
    .satisfies(&spdx::LicenseReq {
        license: spdx::LicenseItem::Spdx {
            id: base,
            or_later: true,
        },
        addition: None,
    })
}

fn same_exception(a: &LicenseException, b: &LicenseException) -> bool {
    match (a, b) {
        (LicenseException::Spdx(a), LicenseException::Spdx(b)) => a == b,
        (LicenseException::Other(a), LicenseException::Other(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// The result of judging one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseVerdict {
    pub outcome: Outcome,
    /// [`REASON_DENIED`] or [`REASON_UNKNOWN`] when the outcome is not a clean pass.
    pub reason: Option<&'static str>,
    /// Human-readable explanation: the licences that failed or could not be judged.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Pass,
    Unknown,
    Fail,
}

/// Judges one component's licences against `policy`.
pub fn evaluate(policy: &LicensePolicy, component: &Component) -> LicenseVerdict {
    policy.evaluate(&component.licenses)
}

impl LicensePolicy {
    /// Builds a policy from SPDX texts, e.g. `LicensePolicy::new(&[], &["GPL-2.0-only"], ..)`.
    pub fn new(
        allow: &[&str],
        deny: &[&str],
        unknown: UnknownLicense,
    ) -> Result<Self, super::LicenseError> {
        Ok(Self {
            allow: allow.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
            deny: deny.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
            unknown,
        })
    }

    /// Judges a component's licence facts.
    pub fn evaluate(&self, info: &LicenseInfo) -> LicenseVerdict {
        match (&info.expression, info.state) {
            (Some(expr), LicenseState::Present) => self.evaluate_expr(expr),
            (_, state) => self.unknown_verdict(match state {
                LicenseState::NoAssertion => "licence is NOASSERTION".to_owned(),
                LicenseState::NoneStated => "licence is NONE".to_owned(),
                _ => "no licence information".to_owned(),
            }),
        }
    }

    /// Judges one expression.
    pub fn evaluate_expr(&self, expr: &LicenseExpr) -> LicenseVerdict {
        let mut notes = Vec::new();
        match self.judge(expr, &mut notes) {
            Tri::Pass => LicenseVerdict {
                outcome: Outcome::Pass,
                reason: None,
                detail: expr.to_string(),
            },
            Tri::Fail => LicenseVerdict {
                outcome: Outcome::Fail,
                reason: Some(REASON_DENIED),
                detail: notes.join("; "),
            },
            Tri::Unknown => self.unknown_verdict(notes.join("; ")),
        }
    }

    fn unknown_verdict(&self, detail: String) -> LicenseVerdict {
        let (outcome, reason) = match self.unknown {
            UnknownLicense::Allow => (Outcome::Pass, None),
            UnknownLicense::Warn => (Outcome::Warn, Some(REASON_UNKNOWN)),
            UnknownLicense::Deny => (Outcome::Fail, Some(REASON_UNKNOWN)),
        };
        LicenseVerdict {
            outcome,
            reason,
            detail,
        }
    }

    /// Three-valued judgement; `notes` receives the explanation of the result (only the
    /// branches that decided it).
    fn judge(&self, expr: &LicenseExpr, notes: &mut Vec<String>) -> Tri {
        match expr {
            LicenseExpr::And(children) | LicenseExpr::Or(children) => {
                let is_and = matches!(expr, LicenseExpr::And(_));
                let results: Vec<(Tri, Vec<String>)> = children
                    .iter()
                    .map(|c| {
                        let mut n = Vec::new();
                        (self.judge(c, &mut n), n)
                    })
                    .collect();
                let has = |t| results.iter().any(|(r, _)| *r == t);
                let result = if is_and {
                    if has(Tri::Fail) {
                        Tri::Fail
                    } else if has(Tri::Unknown) {
                        Tri::Unknown
                    } else {
                        Tri::Pass
                    }
                } else if has(Tri::Pass) {
                    Tri::Pass
                } else if has(Tri::Unknown) {
                    Tri::Unknown
                } else {
                    Tri::Fail
                };
                for (r, n) in results {
                    if r == result {
                        notes.extend(n);
                    }
                }
                result
            }
            leaf => {
                let (tri, note) = self.judge_leaf(leaf);
                notes.extend(note);
                tri
            }
        }
    }

    fn judge_leaf(&self, leaf: &LicenseExpr) -> (Tri, Option<String>) {
        let best = |list: &[PolicyLicense], allow| {
            list.iter().filter_map(|p| p.matches(leaf, allow)).max()
        };
        let denied = best(&self.deny, false);
        let allowed = best(&self.allow, true);
        match (denied, allowed) {
            (Some(d), a) if a.is_none_or(|a| d >= a) => {
                return (Tri::Fail, Some(format!("{leaf} is denied")));
            }
            (_, Some(_)) => return (Tri::Pass, None),
            _ => {}
        }
        match leaf {
            LicenseExpr::License(_) if self.allow.is_empty() => (Tri::Pass, None),
            LicenseExpr::License(_) => (Tri::Fail, Some(format!("{leaf} is not allowed"))),
            LicenseExpr::Ref(_) => (
                Tri::Unknown,
                Some(format!("{leaf} is not an SPDX-listed licence")),
            ),
            LicenseExpr::Unknown(text) => (
                Tri::Unknown,
                Some(format!("{text:?} is not a recognised licence")),
            ),
            // `judge` only hands over leaves.
            compound => (Tri::Unknown, Some(format!("{compound} is not a licence"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], deny: &[&str], unknown: UnknownLicense) -> LicensePolicy {
        LicensePolicy::new(allow, deny, unknown).unwrap()
    }

    fn judge(p: &LicensePolicy, expr: &str) -> (Outcome, Option<&'static str>) {
        let v = p.evaluate_expr(&LicenseExpr::parse(expr).unwrap());
        (v.outcome, v.reason)
    }

    const PASS: (Outcome, Option<&str>) = (Outcome::Pass, None);
    const DENIED: (Outcome, Option<&str>) = (Outcome::Fail, Some(REASON_DENIED));
    const WARN: (Outcome, Option<&str>) = (Outcome::Warn, Some(REASON_UNKNOWN));
    const UNKNOWN_FAIL: (Outcome, Option<&str>) = (Outcome::Fail, Some(REASON_UNKNOWN));

    #[test]
    fn or_and_semantics() {
        let p = policy(&[], &["GPL-2.0-only"], UnknownLicense::Warn);
        assert_eq!(judge(&p, "MIT"), PASS);
        assert_eq!(judge(&p, "GPL-2.0-only"), DENIED);
        assert_eq!(judge(&p, "MIT OR GPL-2.0-only"), PASS);
        assert_eq!(judge(&p, "MIT AND GPL-2.0-only"), DENIED);
        assert_eq!(judge(&p, "MIT AND (GPL-2.0-only OR Apache-2.0)"), PASS);
        assert_eq!(judge(&p, "GPL-2.0-only OR LicenseRef-x"), WARN);
        assert_eq!(judge(&p, "GPL-2.0-only AND LicenseRef-x"), DENIED);
        assert_eq!(judge(&p, "MIT AND LicenseRef-x"), WARN);
        assert_eq!(judge(&p, "MIT OR LicenseRef-x"), PASS);
        // Deprecated spellings are normalised on both sides.
        assert_eq!(judge(&p, "GPL-2.0"), DENIED);
        assert_eq!(
            judge(
                &policy(&[], &["GPL-2.0"], UnknownLicense::Warn),
                "GPL-2.0-only"
            ),
            DENIED
        );
        // -or-later is a different licence from -only.
        assert_eq!(judge(&p, "GPL-2.0+"), PASS);
    }

    #[test]
    fn allow_list_fails_everything_else() {
        let p = policy(&["MIT", "Apache-2.0"], &[], UnknownLicense::Deny);
        assert_eq!(judge(&p, "MIT"), PASS);
        assert_eq!(judge(&p, "BSD-3-Clause"), DENIED);
        assert_eq!(judge(&p, "MIT OR BSD-3-Clause"), PASS);
        assert_eq!(judge(&p, "MIT AND BSD-3-Clause"), DENIED);
        assert_eq!(judge(&p, "LicenseRef-foo"), UNKNOWN_FAIL);
        assert_eq!(judge(&p, "BSD-3-Clause OR LicenseRef-foo"), UNKNOWN_FAIL);
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = policy(
            &["GPL-2.0-only", "MIT"],
            &["GPL-2.0-only"],
            UnknownLicense::Warn,
        );
        assert_eq!(judge(&p, "GPL-2.0-only"), DENIED);
        assert_eq!(judge(&p, "GPL-2.0-only OR MIT"), PASS);
    }

    #[test]
    fn exceptions() {
        let cpe = "GPL-2.0-only WITH Classpath-exception-2.0";
        // A bare entry covers the exception-qualified licence ...
        let deny = policy(&[], &["GPL-2.0-only"], UnknownLicense::Warn);
        assert_eq!(judge(&deny, cpe), DENIED);
        let allow = policy(&["GPL-2.0-only"], &[], UnknownLicense::Warn);
        assert_eq!(judge(&allow, cpe), PASS);
        // ... unless the policy names the exception form, which is more specific.
        let p = policy(&[cpe], &["GPL-2.0-only"], UnknownLicense::Warn);
        assert_eq!(judge(&p, cpe), PASS);
        assert_eq!(judge(&p, "GPL-2.0-only"), DENIED);
        assert_eq!(judge(&p, "GPL-2.0-only WITH GCC-exception-2.0"), DENIED);
        let p = policy(&["GPL-2.0-only"], &[cpe], UnknownLicense::Warn);
        assert_eq!(judge(&p, cpe), DENIED);
        assert_eq!(judge(&p, "GPL-2.0-only"), PASS);
        // An allow entry with an exception does not allow the bare licence.
        let p = policy(&[cpe], &[], UnknownLicense::Warn);
        assert_eq!(judge(&p, "GPL-2.0-only"), DENIED);
        // The deprecated combined id is the same thing.
        assert_eq!(judge(&p, "GPL-2.0-with-classpath-exception"), PASS);
        assert_eq!(
            judge(&deny, "(CDDL-1.0 OR GPL-2.0-with-classpath-exception)"),
            PASS
        );
        let both = policy(&[], &["CDDL-1.0", "GPL-2.0-only"], UnknownLicense::Warn);
        assert_eq!(
            judge(&both, "(CDDL-1.0 OR GPL-2.0-with-classpath-exception)"),
            DENIED
        );
    }

    #[test]
    fn or_later_entries() {
        let p = policy(&["MPL-1.0+"], &[], UnknownLicense::Warn);
        assert_eq!(judge(&p, "MPL-1.1"), PASS);
        assert_eq!(judge(&p, "MPL-2.0"), PASS);
        assert_eq!(judge(&p, "MIT"), DENIED);
        let p = policy(&["Apache-2.0"], &[], UnknownLicense::Warn);
        assert_eq!(judge(&p, "Apache-2.0"), PASS);
        assert_eq!(judge(&p, "Apache-1.1"), DENIED);
        // Offered as "1.0 or later": the licensee may take the allowed 2.0.
        assert_eq!(judge(&p, "Apache-1.0+"), PASS);
        assert_eq!(judge(&p, "MPL-1.0+"), DENIED);
        // A deny of a later version leaves the earlier ones to choose from.
        let p = policy(&[], &["MPL-2.0"], UnknownLicense::Warn);
        assert_eq!(judge(&p, "MPL-1.0+"), PASS);
        assert_eq!(judge(&p, "MPL-2.0"), DENIED);
        let p = policy(&[], &["MPL-1.0"], UnknownLicense::Warn);
        assert_eq!(judge(&p, "MPL-1.0+"), DENIED);
    }

    #[test]
    fn unknown_handling() {
        for (mode, want) in [
            (UnknownLicense::Allow, PASS),
            (UnknownLicense::Warn, WARN),
            (UnknownLicense::Deny, UNKNOWN_FAIL),
        ] {
            let p = policy(&[], &[], mode);
            assert_eq!(judge(&p, "LicenseRef-3"), want);
            assert_eq!(judge(&p, "NOASSERTION"), want);
            let missing = p.evaluate(&LicenseInfo::default());
            assert_eq!((missing.outcome, missing.reason), want);
            assert_eq!(missing.detail, "no licence information");
            let noassert = p.evaluate(&LicenseInfo {
                state: LicenseState::NoAssertion,
                ..LicenseInfo::default()
            });
            assert_eq!((noassert.outcome, noassert.reason), want);
            let none = p.evaluate(&LicenseInfo {
                state: LicenseState::NoneStated,
                ..LicenseInfo::default()
            });
            assert_eq!((none.outcome, none.reason), want);
            assert_eq!(
                (p.evaluate_expr(&LicenseExpr::from_name("BSD License"))
                    .outcome),
                want.0
            );
        }
    }

    #[test]
    fn refs_can_be_named_by_policy() {
        let p = policy(&[], &["LicenseRef-Proprietary"], UnknownLicense::Allow);
        assert_eq!(judge(&p, "LicenseRef-Proprietary"), DENIED);
        assert_eq!(judge(&p, "LicenseRef-Other"), PASS);
    }

    #[test]
    fn details_name_the_culprits() {
        let p = policy(&["MIT"], &["GPL-3.0-only"], UnknownLicense::Warn);
        let v =
            p.evaluate_expr(&LicenseExpr::parse("MIT AND GPL-3.0-only AND BSD-2-Clause").unwrap());
        assert_eq!(
            v.detail,
            "GPL-3.0-only is denied; BSD-2-Clause is not allowed"
        );
        let v = p.evaluate_expr(&LicenseExpr::from_name("BSD License"));
        assert_eq!(v.detail, "\"BSD License\" is not a recognised licence");
        let v = p.evaluate_expr(&LicenseExpr::parse("MIT").unwrap());
        assert_eq!(v.detail, "MIT");
    }

    #[test]
    fn policy_entries_must_be_single_licences() {
        assert!("MIT OR Apache-2.0".parse::<PolicyLicense>().is_err());
        assert!("Not A Licence".parse::<PolicyLicense>().is_err());
        assert!("(".parse::<PolicyLicense>().is_err());
        let p: LicensePolicy = serde_json::from_str(
            r#"{"allow":["MIT","gpl-2.0 with classpath-exception-2.0"],"unknown":"deny"}"#,
        )
        .unwrap();
        assert_eq!(
            p.allow[1].to_string(),
            "GPL-2.0-only WITH Classpath-exception-2.0"
        );
        assert_eq!(p.unknown, UnknownLicense::Deny);
        assert!(p.deny.is_empty());
    }
}
