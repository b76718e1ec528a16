//! Licence expressions, read leniently and normalised.
//!
//! Parsing and precedence come from the `spdx` crate; on top of it this module accepts what real
//! SBOMs contain and the strict grammar does not: lower-case operators and ids, `/` as `OR`,
//! deprecated ids (`GPL-2.0`, `LGPL-2.1+`, `GPL-2.0-with-classpath-exception`, ...) rewritten to
//! their current form (`GPL-2.0-only`, `LGPL-2.1-or-later`,
//! `GPL-2.0-only WITH Classpath-exception-2.0`), and terms that are no licence id at all, kept
//! as [`LicenseExpr::Unknown`] so that the rest of the expression still counts.

mod names;
mod policy;

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Serialize, Serializer};

pub use policy::{
    LicensePolicy, LicenseVerdict, Outcome, PolicyLicense, REASON_DENIED, REASON_UNKNOWN,
    UnknownLicense, evaluate,
};

/// A licence expression tree. `And`/`Or` hold at least two children and never a child of
/// their own kind (nested `AND`s are flattened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseExpr {
    /// An SPDX-listed licence, possibly `+` and/or `WITH` an exception.
    License(SpdxLicense),
    /// `LicenseRef-x` or `DocumentRef-d:LicenseRef-x`: outside the SPDX list.
    Ref(LicenseRef),
    /// Anything else: free text no table knows, an unknown id, `NOASSERTION` inside an
    /// expression. Always judged "unknown".
    Unknown(String),
    And(Vec<LicenseExpr>),
    Or(Vec<LicenseExpr>),
}

/// A licence from the SPDX list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpdxLicense {
    pub id: spdx::LicenseId,
    /// A `+` on a non-GNU licence ("this version or later"); GNU licences use their
    /// `-or-later` ids instead.
    pub or_later: bool,
    pub exception: Option<LicenseException>,
}

impl SpdxLicense {
    /// The SPDX short identifier, e.g. `GPL-2.0-only`.
    pub fn name(&self) -> &'static str {
        self.id.name
    }
}

/// The exception after `WITH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseException {
    Spdx(spdx::ExceptionId),
    /// `AdditionRef-...` or a term not on the SPDX exception list, as written.
    Other(String),
}

/// A licence outside the SPDX list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRef {
    /// The `DocumentRef-` part (without the prefix) for a reference into another document.
    pub document: Option<String>,
    /// The id without the `LicenseRef-` prefix.
    pub name: String,
}

/// Why an expression could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    #[error("licence expression {expression:?} is invalid: {reason}")]
    Invalid { expression: String, reason: String },
    #[error("policy licence {0:?} must be one licence, optionally WITH an exception")]
    NotASingleLicense(String),
}

impl LicenseExpr {
    /// Parses an SPDX licence expression leniently (see the module docs). Terms that are no
    /// licence become [`LicenseExpr::Unknown`]; only broken syntax (unbalanced parentheses,
    /// two licences without an operator, ...) is an error.
    pub fn parse(text: &str) -> Result<Self, LicenseError> {
        parse_expression(text, true)
    }

    /// Reads a free-text licence name (CycloneDX `license.name`, Maven `<license><name>`):
    /// an SPDX id or expression written as a name, or a well-known name that maps to exactly
    /// one licence ("Apache License, Version 2.0" → `Apache-2.0`). Anything ambiguous
    /// ("BSD License", "GNU Lesser General Public License") stays [`LicenseExpr::Unknown`].
    pub fn from_name(name: &str) -> Self {
        let name = name.trim();
        names::map_name(name).unwrap_or_else(|| Self::Unknown(name.to_owned()))
    }

    /// Reads a CycloneDX `license.id`: an SPDX id (deprecated ones normalised), falling back to
    /// name matching for the ids producers invent.
    pub fn from_id(id: &str) -> Self {
        match parse_expression(id, true) {
            Ok(expr) if !expr.has_unknown() => expr,
            _ => Self::from_name(id),
        }
    }

    /// The leaves (licences, refs, unknowns) in document order.
    pub fn leaves(&self) -> Vec<&LicenseExpr> {
        let mut out = Vec::new();
        self.collect_leaves(&mut out);
        out
    }

    fn collect_leaves<'a>(&'a self, out: &mut Vec<&'a LicenseExpr>) {
        match self {
            Self::And(children) | Self::Or(children) => {
                for c in children {
                    c.collect_leaves(out);
                }
            }
            leaf => out.push(leaf),
        }
    }

    /// The SPDX licence ids the expression names, each once, in order (exceptions and `+`
    /// left off): the keys for a "which components carry licence X" index.
    pub fn ids(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for leaf in self.leaves() {
            if let LicenseExpr::License(l) = leaf
                && !out.contains(&l.id.name)
            {
                out.push(l.id.name);
            }
        }
        out
    }

    /// Whether any leaf is [`LicenseExpr::Unknown`].
    pub fn has_unknown(&self) -> bool {
        self.leaves()
            .iter()
            .any(|l| matches!(l, LicenseExpr::Unknown(_)))
    }

    /// Combines expressions with `AND` (or `OR`), flattening and dropping duplicates.
    pub fn combine(parts: Vec<LicenseExpr>, op: Combine) -> Option<Self> {
        let mut flat: Vec<LicenseExpr> = Vec::with_capacity(parts.len());
        for part in parts {
            let children = match (part, op) {
                (Self::And(c), Combine::And) | (Self::Or(c), Combine::Or) => c,
                (p, _) => vec![p],
            };
            for c in children {
                if !flat.contains(&c) {
                    flat.push(c);
                }
            }
        }
        match flat.len() {
            0 => None,
            1 => flat.pop(),
            _ => Some(match op {
                Combine::And => Self::And(flat),
                Combine::Or => Self::Or(flat),
            }),
        }
    }

    fn fmt_child(&self, f: &mut fmt::Formatter<'_>, parent_is_and: bool) -> fmt::Result {
        let needs_parens = match self {
            Self::And(_) => !parent_is_and,
            Self::Or(_) => parent_is_and,
            Self::Unknown(t) => t.contains(char::is_whitespace),
            _ => false,
        };
        if needs_parens {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

/// How several licences listed side by side combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// Every listed licence applies (the conservative reading of CycloneDX `licenses[]`).
    #[default]
    And,
    /// Any one of them may be chosen.
    Or,
}

impl fmt::Display for LicenseExpr {
    /// Canonical SPDX text (unknown leaves as written).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::License(l) => write!(f, "{l}"),
            Self::Ref(r) => write!(f, "{r}"),
            Self::Unknown(t) => f.write_str(t),
            Self::And(children) | Self::Or(children) => {
                let is_and = matches!(self, Self::And(_));
                for (i, c) in children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(if is_and { " AND " } else { " OR " })?;
                    }
                    c.fmt_child(f, is_and)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for SpdxLicense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id.name)?;
        if self.or_later {
            f.write_str("+")?;
        }
        if let Some(e) = &self.exception {
            write!(f, " WITH {e}")?;
        }
        Ok(())
    }
}

impl fmt::Display for LicenseException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spdx(id) => f.write_str(id.name),
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for LicenseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.document {
            write!(f, "DocumentRef-{d}:")?;
        }
        write!(f, "LicenseRef-{}", self.name)
    }
}

impl Serialize for LicenseExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The licence facts of one component.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LicenseInfo {
    /// The expression policy judges; `None` when [`LicenseInfo::state`] is not `Present`.
    pub expression: Option<LicenseExpr>,
    pub state: LicenseState,
    /// Which statement the expression comes from.
    pub origin: LicenseOrigin,
    /// The source strings as written (ids, names, expression).
    pub raw: Vec<String>,
    /// The `LicenseRef-`s the expression uses, resolved against the document's extracted
    /// licensing infos (SPDX `hasExtractedLicensingInfos`).
    pub refs: Vec<ResolvedRef>,
}

/// Whether a component states a licence at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LicenseState {
    /// An expression was given.
    Present,
    /// `NOASSERTION`: the author did not say.
    NoAssertion,
    /// `NONE`: explicitly no licence.
    NoneStated,
    /// No licence field at all (or an empty list).
    #[default]
    Absent,
}

/// The kind of licence statement the expression comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LicenseOrigin {
    /// SPDX `licenseConcluded` / CycloneDX `acknowledgement: concluded`.
    Concluded,
    /// SPDX `licenseDeclared` / CycloneDX `acknowledgement: declared`.
    Declared,
    /// CycloneDX without `acknowledgement`, or nothing stated.
    #[default]
    Unspecified,
}

/// A `LicenseRef-` and what the document says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedRef {
    /// `LicenseRef-x` as written in the expression.
    pub id: String,
    /// The extracted licence's `name`, when it has one.
    pub name: Option<String>,
    /// Whether `hasExtractedLicensingInfos` defines it.
    pub resolved: bool,
}

// --- parsing -------------------------------------------------------------------------------

/// Prefix of the placeholder refs standing in for unknown terms while `spdx` parses.
const PLACEHOLDER: &str = "tollgate-unknown-";

fn lower_license_ids() -> &'static HashMap<String, spdx::LicenseId> {
    static MAP: OnceLock<HashMap<String, spdx::LicenseId>> = OnceLock::new();
    MAP.get_or_init(|| {
        spdx::identifiers::LICENSES
            .iter()
            .filter_map(|l| Some((l.name.to_ascii_lowercase(), spdx::license_id(l.name)?)))
            .collect()
    })
}

fn lower_exception_ids() -> &'static HashMap<String, spdx::ExceptionId> {
    static MAP: OnceLock<HashMap<String, spdx::ExceptionId>> = OnceLock::new();
    MAP.get_or_init(|| {
        spdx::identifiers::EXCEPTIONS
            .iter()
            .filter_map(|e| Some((e.name.to_ascii_lowercase(), spdx::exception_id(e.name)?)))
            .collect()
    })
}

/// SPDX ids match case-insensitively; the exact spelling is tried first because it is the
/// common case and needs no allocation.
pub(crate) fn license_id_ci(name: &str) -> Option<spdx::LicenseId> {
    // `spdx` lists NOASSERTION as an id; for policy it is the absence of an answer.
    if name.ends_with('+') || name.eq_ignore_ascii_case("NOASSERTION") {
        return None;
    }
    spdx::license_id(name).or_else(|| lower_license_ids().get(&name.to_ascii_lowercase()).copied())
}

fn exception_id_ci(name: &str) -> Option<spdx::ExceptionId> {
    let id = spdx::exception_id(name).or_else(|| {
        lower_exception_ids()
            .get(&name.to_ascii_lowercase())
            .copied()
    })?;
    Some(match id.name {
        "Nokia-Qt-exception-1.1" => spdx::exception_id("Qt-LGPL-exception-1.1").unwrap_or(id),
        _ => id,
    })
}

/// Deprecated ids that carried an exception in their name → (licence, exception).
const DEPRECATED_WITH: &[(&str, &str, &str)] = &[
    (
        "GPL-2.0-with-GCC-exception",
        "GPL-2.0-only",
        "GCC-exception-2.0",
    ),
    (
        "GPL-2.0-with-autoconf-exception",
        "GPL-2.0-only",
        "Autoconf-exception-2.0",
    ),
    (
        "GPL-2.0-with-bison-exception",
        "GPL-2.0-only",
        "Bison-exception-2.2",
    ),
    (
        "GPL-2.0-with-classpath-exception",
        "GPL-2.0-only",
        "Classpath-exception-2.0",
    ),
    (
        "GPL-2.0-with-font-exception",
        "GPL-2.0-only",
        "Font-exception-2.0",
    ),
    (
        "GPL-3.0-with-GCC-exception",
        "GPL-3.0-only",
        "GCC-exception-3.1",
    ),
    (
        "GPL-3.0-with-autoconf-exception",
        "GPL-3.0-only",
        "Autoconf-exception-3.0",
    ),
    ("eCos-2.0", "GPL-2.0-or-later", "eCos-exception-2.0"),
    ("wxWindows", "LGPL-2.0-or-later", "WxWindows-exception-3.1"),
];

/// Deprecated ids the SPDX list names a single successor for.
const DEPRECATED_RENAMED: &[(&str, &str)] = &[
    ("StandardML-NJ", "SMLNJ"),
    ("bzip2-1.0.5", "bzip2-1.0.6"),
    ("BSD-2-Clause-FreeBSD", "BSD-2-Clause-Views"),
    ("BSD-2-Clause-NetBSD", "BSD-2-Clause"),
    ("Nunit", "zlib-acknowledgement"),
    ("AGPL-1.0", "AGPL-1.0-only"),
];

/// The current form of a listed licence: GNU bare ids mean `-only` (SPDX's own reading), a
/// `+` on a GNU id means `-or-later`.
pub(crate) fn modernise(id: spdx::LicenseId, plus: bool) -> SpdxLicense {
    let plain = |id| SpdxLicense {
        id,
        or_later: false,
        exception: None,
    };
    if let Some((_, lic, exc)) = DEPRECATED_WITH.iter().find(|(d, _, _)| *d == id.name) {
        let lic = if plus {
            lic.replace("-only", "-or-later")
        } else {
            (*lic).to_owned()
        };
        if let (Some(l), Some(e)) = (spdx::license_id(&lic), spdx::exception_id(exc)) {
            return SpdxLicense {
                id: l,
                or_later: false,
                exception: Some(LicenseException::Spdx(e)),
            };
        }
    }
    let id = DEPRECATED_RENAMED
        .iter()
        .find(|(d, _)| *d == id.name)
        .and_then(|(_, new)| spdx::license_id(new))
        .unwrap_or(id);
    if id.is_gnu() {
        let base = id
            .name
            .strip_suffix("-only")
            .or_else(|| id.name.strip_suffix("-or-later"))
            .unwrap_or(id.name);
        let or_later = plus || id.name.ends_with("-or-later");
        if let Some(new) = spdx::gnu_license_id(base, or_later) {
            return plain(new);
        }
        return plain(id);
    }
    SpdxLicense {
        id,
        or_later: plus,
        exception: None,
    }
}

enum Tok<'a> {
    Open,
    Close,
    Word(&'a str),
}

fn tokens(text: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let sep = c.is_whitespace() || matches!(c, '(' | ')' | '/');
        if sep {
            if let Some(s) = start.take() {
                out.push(Tok::Word(&text[s..i]));
            }
            match c {
                '(' => out.push(Tok::Open),
                ')' => out.push(Tok::Close),
                // `MIT/Apache-2.0` (cargo's old style) means OR.
                '/' => out.push(Tok::Word("OR")),
                _ => {}
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(Tok::Word(&text[s..]));
    }
    out
}

fn is_ref_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Rewrites `text` into a strict expression `spdx` parses, with unknown terms replaced by
/// placeholder refs (their text kept in `unknowns`).
fn canonicalise(text: &str, map_names: bool, unknowns: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut after_with = false;
    let mut placeholder = |out: &mut String, kind: &str, word: &str| {
        out.push_str(kind);
        out.push_str(PLACEHOLDER);
        out.push_str(&unknowns.len().to_string());
        unknowns.push(word.to_owned());
    };
    for tok in tokens(text) {
        let word = match tok {
            Tok::Open => {
                out.push('(');
                continue;
            }
            Tok::Close => {
                out.push(')');
                continue;
            }
            Tok::Word(w) => w,
        };
        if !out.is_empty() && !out.ends_with('(') {
            out.push(' ');
        }
        if ["AND", "OR", "WITH"]
            .iter()
            .any(|op| word.eq_ignore_ascii_case(op))
        {
            let op = word.to_ascii_uppercase();
            after_with = op == "WITH";
            out.push_str(&op);
            continue;
        }
        if after_with {
            after_with = false;
            if let Some(e) = exception_id_ci(word) {
                out.push_str(e.name);
            } else if word.starts_with("AdditionRef-") || word.starts_with("DocumentRef-") {
                out.push_str(word);
            } else {
                placeholder(&mut out, "AdditionRef-", word);
            }
            continue;
        }
        let (base, plus) = match word.strip_suffix('+') {
            Some(b) if !b.is_empty() => (b, true),
            _ => (word, false),
        };
        if let Some(id) = license_id_ci(base) {
            let lic = modernise(id, plus);
            if lic.exception.is_some() {
                // Parenthesised so a following `WITH` or precedence cannot re-associate it.
                out.push('(');
                out.push_str(&lic.to_string());
                out.push(')');
            } else {
                out.push_str(&lic.to_string());
            }
            continue;
        }
        if let Some(rest) = strip_prefix_ci(word, "LicenseRef-")
            && is_ref_chars(rest)
        {
            out.push_str("LicenseRef-");
            out.push_str(rest);
            continue;
        }
        if let Some(rest) = strip_prefix_ci(word, "DocumentRef-")
            && let Some((doc, lic)) = rest.split_once(':')
            && let Some(lic) = strip_prefix_ci(lic, "LicenseRef-")
            && is_ref_chars(doc)
            && is_ref_chars(lic)
        {
            out.push_str("DocumentRef-");
            out.push_str(doc);
            out.push_str(":LicenseRef-");
            out.push_str(lic);
            continue;
        }
        if map_names && let Some(expr) = names::map_simple(word) {
            out.push('(');
            out.push_str(&expr.to_string());
            out.push(')');
            continue;
        }
        placeholder(&mut out, "LicenseRef-", word);
    }
    out
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()))
    .then(|| &s[prefix.len()..])
}

/// Deeper nesting than any real licence needs; the tree is walked recursively, so a hostile
/// expression must not get to build an arbitrarily deep one.
const MAX_NESTING: usize = 32;
/// Real expressions have a handful of terms; building the tree is quadratic in the worst case.
const MAX_WORDS: usize = 512;

fn parse_expression(text: &str, map_names: bool) -> Result<LicenseExpr, LicenseError> {
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => continue,
        }
        if depth > MAX_NESTING {
            return Err(LicenseError::Invalid {
                expression: text.to_owned(),
                reason: format!("nested more than {MAX_NESTING} levels deep"),
            });
        }
    }
    let words = text
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '/'))
        .filter(|w| !w.is_empty())
        .count();
    if words > MAX_WORDS {
        return Err(LicenseError::Invalid {
            expression: format!("{}...", text.chars().take(64).collect::<String>()),
            reason: format!("more than {MAX_WORDS} terms and operators"),
        });
    }
    let mut unknowns = Vec::new();
    let canon = canonicalise(text, map_names, &mut unknowns);
    let mode = spdx::ParseMode {
        allow_deprecated: true,
        ..spdx::ParseMode::STRICT
    };
    let parsed = spdx::Expression::parse_mode(&canon, mode).map_err(|e| LicenseError::Invalid {
        expression: text.to_owned(),
        reason: format!("{}", e.reason),
    })?;
    let unknown = |name: &str| -> Option<String> {
        let i: usize = name.strip_prefix(PLACEHOLDER)?.parse().ok()?;
        unknowns.get(i).cloned()
    };
    let mut stack: Vec<LicenseExpr> = Vec::new();
    for node in parsed.iter() {
        match node {
            spdx::expression::ExprNode::Req(req) => {
                let req = &req.req;
                let leaf = match &req.license {
                    spdx::LicenseItem::Spdx { id, or_later } => LicenseExpr::License(SpdxLicense {
                        id: *id,
                        or_later: *or_later,
                        exception: req.addition.as_ref().map(|a| match a {
                            spdx::AdditionItem::Spdx(e) => LicenseException::Spdx(*e),
                            spdx::AdditionItem::Other(r) => LicenseException::Other(
                                (r.doc_ref.is_none())
                                    .then(|| unknown(&r.add_ref))
                                    .flatten()
                                    .unwrap_or_else(|| r.to_string()),
                            ),
                        }),
                    }),
                    spdx::LicenseItem::Other(r) => {
                        match r.doc_ref.is_none().then(|| unknown(&r.lic_ref)).flatten() {
                            Some(text) => LicenseExpr::Unknown(text),
                            None => LicenseExpr::Ref(LicenseRef {
                                document: r.doc_ref.clone(),
                                name: r.lic_ref.clone(),
                            }),
                        }
                    }
                };
                stack.push(leaf);
            }
            spdx::expression::ExprNode::Op(op) => {
                let (Some(b), Some(a)) = (stack.pop(), stack.pop()) else {
                    return Err(LicenseError::Invalid {
                        expression: text.to_owned(),
                        reason: "operator without operands".to_owned(),
                    });
                };
                let op = match op {
                    spdx::expression::Operator::And => Combine::And,
                    spdx::expression::Operator::Or => Combine::Or,
                };
                // Flattens `A AND (B AND C)` and drops repeats: `MIT AND MIT` means `MIT`.
                stack.extend(LicenseExpr::combine(vec![a, b], op));
            }
        }
    }
    match (stack.pop(), stack.is_empty()) {
        (Some(expr), true) => Ok(expr),
        _ => Err(LicenseError::Invalid {
            expression: text.to_owned(),
            reason: "not a single expression".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        LicenseExpr::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .to_string()
    }

    #[test]
    fn lenient_syntax_and_deprecated_ids() {
        for (input, want) in [
            ("MIT", "MIT"),
            ("mit or apache-2.0", "MIT OR Apache-2.0"),
            ("(MIT AND CC-BY-3.0)", "MIT AND CC-BY-3.0"),
            ("MIT/Apache-2.0", "MIT OR Apache-2.0"),
            ("GPL-2.0", "GPL-2.0-only"),
            ("GPL-2.0+", "GPL-2.0-or-later"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("LGPL-2.1", "LGPL-2.1-only"),
            ("GPL-3.0-only+", "GPL-3.0-or-later"),
            ("gpl-2.0-or-later", "GPL-2.0-or-later"),
            ("AGPL-3.0", "AGPL-3.0-only"),
            ("GFDL-1.3", "GFDL-1.3-only"),
            ("Apache-1.0+", "Apache-1.0+"),
            (
                "(CDDL-1.0 OR GPL-2.0-with-classpath-exception)",
                "CDDL-1.0 OR GPL-2.0-only WITH Classpath-exception-2.0",
            ),
            (
                "GPL-2.0-with-classpath-exception AND MIT",
                "GPL-2.0-only WITH Classpath-exception-2.0 AND MIT",
            ),
            (
                "gpl-2.0 with classpath-exception-2.0",
                "GPL-2.0-only WITH Classpath-exception-2.0",
            ),
            (
                "MIT AND (Apache-2.0 OR BSD-3-Clause)",
                "MIT AND (Apache-2.0 OR BSD-3-Clause)",
            ),
            // AND binds tighter; the canonical form spells that out.
            (
                "MIT OR Apache-2.0 AND BSD-3-Clause",
                "MIT OR (Apache-2.0 AND BSD-3-Clause)",
            ),
            ("MIT AND MIT", "MIT"),
            (
                "(LGPL-2.0-only OR LicenseRef-3)",
                "LGPL-2.0-only OR LicenseRef-3",
            ),
            ("licenseref-foo.bar", "LicenseRef-foo.bar"),
            (
                "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
                "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
            ),
            ("StandardML-NJ", "SMLNJ"),
            (
                "wxWindows",
                "LGPL-2.0-or-later WITH WxWindows-exception-3.1",
            ),
            (
                "Apache-2.0 WITH LLVM-exception",
                "Apache-2.0 WITH LLVM-exception",
            ),
        ] {
            assert_eq!(norm(input), want, "{input}");
        }
    }

    #[test]
    fn unknown_terms_stay_in_the_tree() {
        let e = LicenseExpr::parse("MIT OR Foo-License").unwrap();
        assert_eq!(
            e,
            LicenseExpr::Or(vec![
                LicenseExpr::License(modernise(spdx::license_id("MIT").unwrap(), false)),
                LicenseExpr::Unknown("Foo-License".into()),
            ])
        );
        let e = LicenseExpr::parse("NOASSERTION").unwrap();
        assert_eq!(e, LicenseExpr::Unknown("NOASSERTION".into()));
        let e = LicenseExpr::parse("GPL-2.0-only WITH Odd-exception").unwrap();
        assert_eq!(e.to_string(), "GPL-2.0-only WITH Odd-exception");
    }

    #[test]
    fn broken_syntax_is_an_error() {
        for bad in [
            "",
            "MIT AND",
            "(MIT",
            "MIT)",
            "MIT Apache-2.0",
            "AND MIT",
            "MIT WITH",
        ] {
            assert!(LicenseExpr::parse(bad).is_err(), "{bad:?}");
        }
        // Alternating operators cannot be flattened: nesting is capped instead.
        let deep = |n: usize| {
            let mut e = "MIT".to_owned();
            for i in 0..n {
                let op = if i % 2 == 0 { "AND" } else { "OR" };
                e = format!("ISC {op} ({e})");
            }
            e
        };
        assert!(LicenseExpr::parse(&deep(MAX_NESTING)).is_ok());
        assert!(LicenseExpr::parse(&deep(MAX_NESTING + 1)).is_err());
        assert!(LicenseExpr::parse(&deep(2_000)).is_err());
        let long = vec!["MIT"; 10_000].join(" AND ");
        assert!(LicenseExpr::parse(&long).is_err());
        assert!(LicenseExpr::parse(&long[..100]).is_ok());
    }

    #[test]
    fn deprecation_tables_point_at_listed_ids() {
        for (old, lic, exc) in DEPRECATED_WITH {
            assert!(spdx::license_id(old).is_some(), "{old}");
            assert!(spdx::license_id(lic).is_some(), "{lic}");
            assert!(spdx::exception_id(exc).is_some(), "{exc}");
        }
        for (old, new) in DEPRECATED_RENAMED {
            assert!(spdx::license_id(old).is_some(), "{old}");
            let new = spdx::license_id(new).unwrap_or_else(|| panic!("{new}"));
            assert!(!new.is_deprecated(), "{}", new.name);
        }
        // Every deprecated licence id comes out as a current one, or is knowingly kept.
        for lic in spdx::identifiers::LICENSES {
            let id = spdx::license_id(lic.name).unwrap();
            if !id.is_deprecated() || lic.name.ends_with('+') {
                continue;
            }
            let m = modernise(id, false);
            assert!(
                !m.id.is_deprecated() || lic.name == "Net-SNMP",
                "{} stays deprecated",
                lic.name
            );
        }
    }

    #[test]
    fn from_id_and_from_name() {
        assert_eq!(LicenseExpr::from_id("Apache-2.0").to_string(), "Apache-2.0");
        assert_eq!(
            LicenseExpr::from_id("GPL-2.0-with-classpath-exception").to_string(),
            "GPL-2.0-only WITH Classpath-exception-2.0"
        );
        assert_eq!(LicenseExpr::from_id("apache2").to_string(), "Apache-2.0");
        assert_eq!(
            LicenseExpr::from_id("Not A Licence"),
            LicenseExpr::Unknown("Not A Licence".into())
        );
    }

    #[test]
    fn ids_for_indexing() {
        let e = LicenseExpr::parse(
            "MIT OR (GPL-2.0-with-classpath-exception AND MIT) OR LicenseRef-x OR Apache-1.0+",
        )
        .unwrap();
        assert_eq!(e.ids(), ["MIT", "GPL-2.0-only", "Apache-1.0"]);
    }

    #[test]
    fn combine_flattens_and_dedups() {
        let mit = LicenseExpr::parse("MIT").unwrap();
        let ab = LicenseExpr::parse("Apache-2.0 AND BSD-3-Clause").unwrap();
        let c = LicenseExpr::combine(vec![mit.clone(), ab, mit.clone()], Combine::And).unwrap();
        assert_eq!(c.to_string(), "MIT AND Apache-2.0 AND BSD-3-Clause");
        let o = LicenseExpr::combine(
            vec![mit.clone(), LicenseExpr::Unknown("BSD License".into())],
            Combine::Or,
        )
        .unwrap();
        assert_eq!(o.to_string(), "MIT OR (BSD License)");
        assert_eq!(LicenseExpr::combine(vec![], Combine::And), None);
        assert_eq!(
            LicenseExpr::combine(vec![mit.clone()], Combine::Or),
            Some(mit)
        );
    }
}
