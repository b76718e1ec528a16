//! SemVer precedence, extended leniently to the versions npm, Go, NuGet, RubyGems and Composer
//! packages actually carry.

use super::{Num, split_digits, trim_zeros};

/// `release` has trailing zeros trimmed, so `1.2` = `1.2.0` and NuGet's `1.2.3.0` = `1.2.3`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    release: Vec<Num>,
    pre: Pre,
}

/// Declaration order is precedence: any pre-release sorts before the release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Pre {
    /// Dot-separated identifiers; `Vec` ordering gives SemVer's "more fields wins on a tie".
    Identifiers(Vec<Ident>),
    Release,
}

/// Numeric identifiers sort before alphanumeric ones, which compare in ASCII order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ident {
    Num(Num),
    Alnum(Box<str>),
}

impl Key {
    pub(super) fn new(version: &str) -> Self {
        let v = version.trim();
        // node-semver and Go accept `=1.2.3` and `v1.2.3`.
        let v = v.strip_prefix('=').unwrap_or(v).trim_start();
        let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
        if let Ok(parsed) = semver::Version::parse(v) {
            let mut release = [parsed.major, parsed.minor, parsed.patch]
                .map(Num::from_u64)
                .to_vec();
            trim_zeros(&mut release);
            return Self {
                release,
                pre: pre(parsed.pre.as_str()),
            };
        }
        Self::lenient(v)
    }

    /// Leading dot-separated numbers are the release; whatever follows (after one separator) is
    /// read as a pre-release, as RubyGems does with `1.0.0.rc1`. Build metadata is dropped.
    fn lenient(v: &str) -> Self {
        let mut rest = v.split_once('+').map_or(v, |(core, _)| core);
        let mut release = Vec::new();
        loop {
            let (digits, tail) = split_digits(rest);
            if digits.is_empty() {
                break;
            }
            release.push(Num::new(digits));
            rest = tail;
            match tail.strip_prefix('.') {
                Some(next) if next.starts_with(|c: char| c.is_ascii_digit()) => rest = next,
                _ => break,
            }
        }
        trim_zeros(&mut release);
        let rest = rest.strip_prefix(['-', '.', '_']).unwrap_or(rest);
        Self {
            release,
            pre: pre(rest),
        }
    }
}

fn pre(text: &str) -> Pre {
    let idents: Vec<Ident> = text
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.bytes().all(|b| b.is_ascii_digit()) {
                Ident::Num(Num::new(s))
            } else {
                Ident::Alnum(s.into())
            }
        })
        .collect();
    if idents.is_empty() {
        Pre::Release
    } else {
        Pre::Identifiers(idents)
    }
}
