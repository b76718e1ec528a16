//! Version ranges as written in where-used queries (`range=>=2.0.0,<2.17.1`), and the
//! package-url `vers:` form.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::{Ecosystem, VersionKey};

/// Longest range accepted, in bytes: ranges arrive in query strings.
pub const MAX_RANGE_LEN: usize = 4096;

/// A set of versions: alternatives joined by `||`, each a list of comparators that must all hold.
///
/// Native syntax: comparators `<`, `<=`, `>`, `>=`, `=`/`==` (or a bare version), `!=`, joined by
/// `,` or whitespace (AND) and `||` (OR), e.g. `>=1.0 <2.0 || >=3.0`; `*` alone matches every
/// version. The `vers:<scheme>/<constraint>|...` form of the package-url vers specification is
/// accepted too and converted to the same alternatives, using the scheme's ordering to sort its
/// constraints. Versions are compared with the ecosystem given to [`VersionRange::matches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    /// An empty alternative matches every version; no alternative matches none.
    any_of: Vec<Vec<Comparator>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Box<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// Why a string is not a version range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionRangeError {
    #[error("version range is empty")]
    Empty,
    #[error("version range is {0} bytes, over the {MAX_RANGE_LEN}-byte limit")]
    TooLong(usize),
    #[error("version range has nothing on one side of `||`")]
    EmptyAlternative,
    #[error("comparator `{0}` is not followed by a version")]
    MissingVersion(&'static str),
    #[error("{0:?} is not a version; write ranges like `>=1.0, <2.0 || >=3.0`")]
    InvalidVersion(String),
    #[error("{0} are not supported; write ranges like `>=1.0, <2.0 || >=3.0`")]
    Unsupported(&'static str),
    #[error("invalid vers range: {0}")]
    Vers(String),
}

impl Op {
    /// Longest first, so `<=` is not read as `<` then `=1.0`.
    const SPELLINGS: [(&'static str, Op); 7] = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
        ("=", Op::Eq),
    ];

    /// Splits a leading comparator off `token`.
    fn split(token: &str) -> (Option<Op>, &str) {
        Self::SPELLINGS
            .iter()
            .find_map(|(s, op)| token.strip_prefix(s).map(|rest| (Some(*op), rest)))
            .unwrap_or((None, token))
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "=",
            Op::Ne => "!=",
        }
    }

    /// Whether `version <op> bound` holds, given `version.cmp(bound)`.
    fn holds(self, order: Ordering) -> bool {
        match self {
            Op::Lt => order.is_lt(),
            Op::Le => order.is_le(),
            Op::Gt => order.is_gt(),
            Op::Ge => order.is_ge(),
            Op::Eq => order.is_eq(),
            Op::Ne => order.is_ne(),
        }
    }

    fn is_lower_bound(self) -> bool {
        matches!(self, Op::Gt | Op::Ge)
    }

    fn is_upper_bound(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

impl VersionRange {
    pub fn parse(input: &str) -> Result<Self, VersionRangeError> {
        if input.len() > MAX_RANGE_LEN {
            return Err(VersionRangeError::TooLong(input.len()));
        }
        let text = input.trim();
        if text.is_empty() {
            return Err(VersionRangeError::Empty);
        }
        if let Some(spec) = text
            .get(..5)
            .filter(|s| s.eq_ignore_ascii_case("vers:"))
            .map(|_| &text[5..])
        {
            return parse_vers(spec);
        }
        let any_of = text
            .split("||")
            .map(parse_alternative)
            .collect::<Result<_, _>>()?;
        Ok(Self { any_of })
    }

    /// Whether `version`, ordered as `eco` orders it, is in the range.
    pub fn matches(&self, eco: Ecosystem, version: &str) -> bool {
        self.matcher(eco)(version)
    }

    /// A test for many versions of one ecosystem that parses the range's bounds only once.
    pub fn matcher(&self, eco: Ecosystem) -> impl Fn(&str) -> bool + use<> {
        let any_of: Vec<Vec<(Op, VersionKey)>> = self
            .any_of
            .iter()
            .map(|all| {
                all.iter()
                    .map(|c| (c.op, VersionKey::new(eco, &c.version)))
                    .collect()
            })
            .collect();
        move |version| {
            let version = VersionKey::new(eco, version);
            any_of
                .iter()
                .any(|all| all.iter().all(|(op, bound)| op.holds(version.cmp(bound))))
        }
    }
}

fn parse_alternative(text: &str) -> Result<Vec<Comparator>, VersionRangeError> {
    if text.trim() == "*" {
        return Ok(Vec::new());
    }
    let mut all = Vec::new();
    for group in text.split(',') {
        let mut tokens = group.split_whitespace().peekable();
        while let Some(token) = tokens.next() {
            let (op, mut version) = Op::split(token);
            if version.is_empty() {
                // `>= 1.0`: the version is the next word, unless that is a comparator itself.
                let op = op.unwrap_or(Op::Eq);
                version = tokens
                    .next_if(|t| Op::split(t).0.is_none())
                    .ok_or(VersionRangeError::MissingVersion(op.as_str()))?;
            }
            check_version(version)?;
            all.push(Comparator {
                op: op.unwrap_or(Op::Eq),
                version: version.into(),
            });
        }
    }
    if all.is_empty() {
        return Err(VersionRangeError::EmptyAlternative);
    }
    Ok(all)
}

/// Rejects what would otherwise be silently read as an exact version that matches nothing.
fn check_version(version: &str) -> Result<(), VersionRangeError> {
    let unsupported = if version.starts_with('^') {
        Some("caret (`^`) ranges")
    } else if version.starts_with('~') {
        Some("tilde (`~`, `~=`, `~>`) ranges")
    } else if version.contains('*') {
        Some("wildcards (`*`)")
    } else if version == "-" {
        Some("hyphen ranges (`1.0 - 2.0`)")
    } else {
        None
    };
    if let Some(what) = unsupported {
        return Err(VersionRangeError::Unsupported(what));
    }
    let invalid = version.starts_with('!')
        || version.contains(['<', '>', '=', '|'])
        || !version.bytes().any(|b| b.is_ascii_alphanumeric());
    if invalid {
        return Err(VersionRangeError::InvalidVersion(version.to_owned()));
    }
    Ok(())
}

/// `vers:<scheme>/<constraint>|...`, already stripped of `vers:`. Constraints are sorted in the
/// scheme's order and turned into intervals as the spec's containment check walks them.
fn parse_vers(spec: &str) -> Result<VersionRange, VersionRangeError> {
    let vers_err = |msg: String| VersionRangeError::Vers(msg);
    // Spaces are not significant in vers.
    let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    let (scheme, constraints) = spec
        .split_once('/')
        .ok_or_else(|| vers_err("no `/` after the versioning scheme".into()))?;
    if scheme.is_empty() {
        return Err(vers_err("no versioning scheme".into()));
    }
    let constraints = constraints.trim_matches('|');
    if constraints.is_empty() {
        return Err(vers_err("no constraints".into()));
    }
    if constraints == "*" {
        let any_of = if scheme.eq_ignore_ascii_case("none") {
            Vec::new()
        } else {
            vec![Vec::new()]
        };
        return Ok(VersionRange { any_of });
    }
    let eco = Ecosystem::for_purl_type(scheme);
    let mut list = Vec::new();
    for constraint in constraints.split('|').filter(|c| !c.is_empty()) {
        let (op, version) = Op::split(constraint);
        let op = op.unwrap_or(Op::Eq);
        if version.is_empty() {
            return Err(VersionRangeError::MissingVersion(op.as_str()));
        }
        if version.contains('*') {
            return Err(vers_err("`*` must be the only constraint".into()));
        }
        let version = percent_decode(version)
            .ok_or_else(|| vers_err(format!("{version:?} has an invalid percent-encoding")))?;
        let key = VersionKey::new(eco, &version);
        list.push((
            key,
            Comparator {
                op,
                version: version.into(),
            },
        ));
    }
    list.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = list.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(vers_err(format!(
            "{:?} and {:?} are the same version",
            w[0].1.version, w[1].1.version
        )));
    }
    let list: Vec<Comparator> = list.into_iter().map(|(_, c)| c).collect();
    let bounds: Vec<&Comparator> = list
        .iter()
        .filter(|c| !matches!(c.op, Op::Eq | Op::Ne))
        .collect();
    if let Some(w) = bounds.windows(2).find(|w| {
        (w[0].op.is_lower_bound() && w[1].op.is_lower_bound())
            || (w[0].op.is_upper_bound() && w[1].op.is_upper_bound())
    }) {
        return Err(vers_err(format!(
            "`{}{}|{}{}`: lower and upper bounds must alternate",
            w[0].op.as_str(),
            w[0].version,
            w[1].op.as_str(),
            w[1].version
        )));
    }
    let excluded: Vec<Comparator> = list.iter().filter(|c| c.op == Op::Ne).cloned().collect();
    let mut any_of: Vec<Vec<Comparator>> = list
        .iter()
        .filter(|c| c.op == Op::Eq)
        .map(|c| vec![c.clone()])
        .collect();
    for (i, bound) in bounds.iter().enumerate() {
        let interval = if i == 0 && bound.op.is_upper_bound() {
            vec![(*bound).clone()]
        } else if bound.op.is_lower_bound() {
            let mut interval = vec![(*bound).clone()];
            interval.extend(bounds.get(i + 1).map(|upper| (*upper).clone()));
            interval
        } else {
            continue;
        };
        any_of.push(
            interval
                .into_iter()
                .chain(excluded.iter().cloned())
                .collect(),
        );
    }
    if any_of.is_empty() {
        // Only exclusions: everything else is in range.
        any_of.push(excluded);
    }
    Ok(VersionRange { any_of })
}

fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl FromStr for VersionRange {
    type Err = VersionRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The native syntax, which parses back to the same range.
impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.any_of.is_empty() {
            return f.write_str("vers:none/*");
        }
        for (i, all) in self.any_of.iter().enumerate() {
            if i > 0 {
                f.write_str(" || ")?;
            }
            if all.is_empty() {
                f.write_str("*")?;
            }
            for (j, c) in all.iter().enumerate() {
                if j > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}{}", c.op.as_str(), c.version)?;
            }
        }
        Ok(())
    }
}
