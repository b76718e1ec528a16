//! Version ordering per ecosystem, and version ranges for where-used queries.
//!
//! Every ecosystem orders versions its own way: SemVer for npm, cargo, Go and friends, Maven's
//! `ComparableVersion` for maven, PEP 440 for pypi, dpkg for deb, and a plain numeric-aware
//! comparison for everything else. A version string is turned into a [`VersionKey`] in its
//! ecosystem's order; strings the ecosystem would reject are read leniently into the same key
//! space rather than refused, so [`compare`] is a total order (safe for `sort_by`) and never fails:
//! SBOMs carry whatever their producers wrote.

mod debian;
mod maven;
mod pep440;
mod plain;
mod range;
mod semantic;

use std::cmp::Ordering;

use crate::purl::Purl;

pub use range::{MAX_RANGE_LEN, VersionRange, VersionRangeError};

/// Which ordering a package's versions follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    /// SemVer 2.0 precedence (build metadata ignored), read leniently: a leading `v` or `=`,
    /// missing minor/patch (`1.2` = `1.2.0`) and extra numeric segments (NuGet's `1.2.3.4`) are
    /// accepted, and any other suffix (`1.0.0.rc1`) is taken as a pre-release.
    Semver,
    /// Maven's `ComparableVersion` (3.9): `alpha < beta < milestone < rc < snapshot < "" < sp`,
    /// trailing zeros ignored, qualifiers case-insensitive; made total where Maven's own order
    /// is cyclic (`4.0.0.beta.1 < 4 < 4-1 < 4.0.0.beta.1`).
    Maven,
    /// PEP 440: epochs, pre/post/dev releases and local labels.
    Pep440,
    /// dpkg: `[epoch:]upstream[-revision]`, `~` sorting before everything.
    Debian,
    /// Digit runs compared as numbers, other runs as (case-insensitive) text; only identical
    /// strings are equal.
    Plain,
}

impl Ecosystem {
    /// The ordering for a purl type (case-insensitive); also accepts vers schemes like `semver`.
    pub fn for_purl_type(ty: &str) -> Self {
        match ty.to_ascii_lowercase().as_str() {
            // RubyGems, Composer, NuGet, CocoaPods and Swift are not strictly SemVer, but their
            // orderings agree with the lenient reading for the versions they publish.
            "npm" | "cargo" | "golang" | "nuget" | "composer" | "gem" | "hex" | "pub" | "swift"
            | "cocoapods" | "semver" => Self::Semver,
            "maven" => Self::Maven,
            "pypi" => Self::Pep440,
            "deb" => Self::Debian,
            _ => Self::Plain,
        }
    }

    /// The ordering for a purl's type.
    pub fn for_purl(purl: &Purl) -> Self {
        Self::for_purl_type(purl.ty())
    }
}

/// Orders two versions of the same package the way `eco` does.
///
/// Total and lenient: every string has a place in the order. Equal means "the same version" to
/// the ecosystem (`1.0` and `1.0.0` in Maven or PEP 440), not the same text.
pub fn compare(eco: Ecosystem, a: &str, b: &str) -> Ordering {
    VersionKey::new(eco, a).cmp(&VersionKey::new(eco, b))
}

/// A version parsed once for repeated comparison, e.g. to keep an index of versions sorted.
///
/// Keys of different ecosystems never compare equal; they order by [`Ecosystem`] first.
#[derive(Debug, Clone)]
pub struct VersionKey(Key);

#[derive(Debug, Clone)]
enum Key {
    Semver(semantic::Key),
    Maven(maven::Key),
    Pep440(pep440::Key),
    Debian(debian::Key),
    Plain(plain::Key),
}

impl VersionKey {
    pub fn new(eco: Ecosystem, version: &str) -> Self {
        Self(match eco {
            Ecosystem::Semver => Key::Semver(semantic::Key::new(version)),
            Ecosystem::Maven => Key::Maven(maven::Key::new(version)),
            Ecosystem::Pep440 => Key::Pep440(pep440::Key::new(version)),
            Ecosystem::Debian => Key::Debian(debian::Key::new(version)),
            Ecosystem::Plain => Key::Plain(plain::Key::new(version)),
        })
    }

    pub fn ecosystem(&self) -> Ecosystem {
        match self.0 {
            Key::Semver(_) => Ecosystem::Semver,
            Key::Maven(_) => Ecosystem::Maven,
            Key::Pep440(_) => Ecosystem::Pep440,
            Key::Debian(_) => Ecosystem::Debian,
            Key::Plain(_) => Ecosystem::Plain,
        }
    }
}

impl Ord for VersionKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Key::Semver(a), Key::Semver(b)) => a.cmp(b),
            (Key::Maven(a), Key::Maven(b)) => a.cmp(b),
            (Key::Pep440(a), Key::Pep440(b)) => a.cmp(b),
            (Key::Debian(a), Key::Debian(b)) => a.cmp(b),
            (Key::Plain(a), Key::Plain(b)) => a.cmp(b),
            _ => self.ecosystem().cmp(&other.ecosystem()),
        }
    }
}

impl PartialOrd for VersionKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for VersionKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for VersionKey {}

/// An unbounded non-negative integer kept as its decimal digits, so no version number (Go
/// pseudo-version timestamps, 20-digit build numbers) overflows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Num(Box<str>);

impl Num {
    /// `digits` must be ASCII digits (possibly empty, meaning zero).
    fn new(digits: &str) -> Self {
        debug_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        Self(digits.trim_start_matches('0').into())
    }

    fn from_u64(n: u64) -> Self {
        Self::new(&n.to_string())
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        // Without leading zeros, a longer number is a larger one.
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Splits `s` after its leading ASCII digits.
fn split_digits(s: &str) -> (&str, &str) {
    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()))
}

/// Removes trailing zero segments, which no ecosystem here counts (`1.0.0` = `1`).
fn trim_zeros(release: &mut Vec<Num>) {
    while release.last().is_some_and(Num::is_zero) {
        release.pop();
    }
}
