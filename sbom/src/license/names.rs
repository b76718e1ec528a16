//! Free-text licence names → SPDX expressions, only where the name admits one reading.
//!
//! Maven POMs, composer and older CycloneDX producers write names ("The Apache Software
//! License, Version 2.0"). `spdx`'s own imprecise-name list matches by prefix and guesses on
//! ambiguous names (`bsd` → BSD-2-Clause, `gnu gpl v2` → GPL-3.0-only), so it is consulted only
//! for whole-name matches and never for the ambiguous keys; a small table of the names seen in
//! real SBOMs comes first. Names without a version ("BSD License", "GNU Lesser General Public
//! License", "Common Development and Distribution License") stay unknown on purpose.

use super::{LicenseExpr, license_id_ci, parse_expression};

/// Normalised name → SPDX expression. Keys come from [`name_key`].
const TABLE: &[(&str, &str)] = &[
    // Apache
    ("apache 2.0", "Apache-2.0"),
    ("apache 2", "Apache-2.0"),
    ("apache2", "Apache-2.0"),
    ("apache2.0", "Apache-2.0"),
    ("apache software 2.0", "Apache-2.0"),
    ("apache software 2", "Apache-2.0"),
    ("apache public 2.0", "Apache-2.0"),
    ("asl 2.0", "Apache-2.0"),
    ("asl 2", "Apache-2.0"),
    ("asl2", "Apache-2.0"),
    ("asl2.0", "Apache-2.0"),
    ("al 2.0", "Apache-2.0"),
    ("apache 1.1", "Apache-1.1"),
    ("apache software 1.1", "Apache-1.1"),
    ("apache 1.0", "Apache-1.0"),
    // MIT / BSD / ISC family
    ("mit", "MIT"),
    ("expat", "MIT"),
    ("bouncy castle", "MIT"),
    ("bsd 3 clause", "BSD-3-Clause"),
    ("bsd 3 clause new", "BSD-3-Clause"),
    ("bsd 3 clause new or revised", "BSD-3-Clause"),
    ("3 clause bsd", "BSD-3-Clause"),
    ("new bsd", "BSD-3-Clause"),
    ("bsd new", "BSD-3-Clause"),
    ("revised bsd", "BSD-3-Clause"),
    ("modified bsd", "BSD-3-Clause"),
    ("bsd3", "BSD-3-Clause"),
    ("bsd 3", "BSD-3-Clause"),
    // The Eclipse Distribution License 1.0 is the BSD-3-Clause text (SPDX maps it so).
    ("eclipse distribution 1.0", "BSD-3-Clause"),
    ("edl 1.0", "BSD-3-Clause"),
    ("bsd 2 clause", "BSD-2-Clause"),
    ("2 clause bsd", "BSD-2-Clause"),
    ("simplified bsd", "BSD-2-Clause"),
    ("freebsd", "BSD-2-Clause-Views"),
    ("bsd 2", "BSD-2-Clause"),
    ("isc", "ISC"),
    ("unlicense", "Unlicense"),
    ("cc0", "CC0-1.0"),
    ("cc0 1.0", "CC0-1.0"),
    ("cc0 1.0 universal", "CC0-1.0"),
    ("creative commons zero 1.0", "CC0-1.0"),
    ("cc by 3.0", "CC-BY-3.0"),
    ("creative commons attribution 3.0", "CC-BY-3.0"),
    ("cc by 4.0", "CC-BY-4.0"),
    ("creative commons attribution 4.0", "CC-BY-4.0"),
    ("zlib", "Zlib"),
    ("zlib libpng", "Zlib"),
    ("wtfpl", "WTFPL"),
    ("boost software 1.0", "BSL-1.0"),
    ("bsl 1.0", "BSL-1.0"),
    ("json", "JSON"),
    ("upl 1.0", "UPL-1.0"),
    ("universal permissive 1.0", "UPL-1.0"),
    ("python software foundation", "PSF-2.0"),
    ("psf 2.0", "PSF-2.0"),
    ("artistic 2.0", "Artistic-2.0"),
    ("postgresql", "PostgreSQL"),
    // Eclipse / CDDL / MPL
    ("eclipse public 1.0", "EPL-1.0"),
    ("eclipse public 1", "EPL-1.0"),
    ("epl 1.0", "EPL-1.0"),
    ("epl 1", "EPL-1.0"),
    ("eclipse public 2.0", "EPL-2.0"),
    ("eclipse public 2", "EPL-2.0"),
    ("epl 2.0", "EPL-2.0"),
    ("epl 2", "EPL-2.0"),
    ("cddl 1.0", "CDDL-1.0"),
    ("cddl 1", "CDDL-1.0"),
    ("common development and distribution 1.0", "CDDL-1.0"),
    ("common development and distribution 1", "CDDL-1.0"),
    ("cddl 1.1", "CDDL-1.1"),
    ("common development and distribution 1.1", "CDDL-1.1"),
    ("mpl 2.0", "MPL-2.0"),
    ("mpl 2", "MPL-2.0"),
    ("mplv2", "MPL-2.0"),
    ("mplv2.0", "MPL-2.0"),
    ("mpl2.0", "MPL-2.0"),
    ("mozilla public 2.0", "MPL-2.0"),
    ("mozilla public 2", "MPL-2.0"),
    ("mpl 1.1", "MPL-1.1"),
    ("mozilla public 1.1", "MPL-1.1"),
    ("mpl 1.0", "MPL-1.0"),
    ("mozilla public 1.0", "MPL-1.0"),
    // GNU. A bare "version 2" is read as -only, as SPDX reads the bare GPL-2.0 id.
    ("gpl 2", "GPL-2.0-only"),
    ("gpl 2.0", "GPL-2.0-only"),
    ("gplv2", "GPL-2.0-only"),
    ("gpl2", "GPL-2.0-only"),
    ("gnu gpl 2", "GPL-2.0-only"),
    ("gnu gpl 2.0", "GPL-2.0-only"),
    ("gnu gplv2", "GPL-2.0-only"),
    ("gnu general public 2", "GPL-2.0-only"),
    ("gnu general public 2.0", "GPL-2.0-only"),
    ("gnu general public 2.0 only", "GPL-2.0-only"),
    ("gpl 2 or later", "GPL-2.0-or-later"),
    ("gpl 2.0 or later", "GPL-2.0-or-later"),
    ("gnu general public 2 or later", "GPL-2.0-or-later"),
    ("gnu general public 2.0 or later", "GPL-2.0-or-later"),
    ("gpl 3", "GPL-3.0-only"),
    ("gpl 3.0", "GPL-3.0-only"),
    ("gplv3", "GPL-3.0-only"),
    ("gpl3", "GPL-3.0-only"),
    ("gnu gpl 3", "GPL-3.0-only"),
    ("gnu gpl 3.0", "GPL-3.0-only"),
    ("gnu gplv3", "GPL-3.0-only"),
    ("gnu general public 3", "GPL-3.0-only"),
    ("gnu general public 3.0", "GPL-3.0-only"),
    ("gnu general public 3.0 only", "GPL-3.0-only"),
    ("gpl 3 or later", "GPL-3.0-or-later"),
    ("gpl 3.0 or later", "GPL-3.0-or-later"),
    ("gnu general public 3 or later", "GPL-3.0-or-later"),
    ("gnu general public 3.0 or later", "GPL-3.0-or-later"),
    (
        "gnu general public 2 with classpath exception",
        "GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    (
        "gnu general public 2.0 with classpath exception",
        "GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    (
        "gpl 2 with classpath exception",
        "GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    (
        "gpl 2.0 with classpath exception",
        "GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    (
        "gplv2 with classpath exception",
        "GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    (
        "gpl2 with classpath exception",
        "GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    ("gpl2 with cpe", "GPL-2.0-only WITH Classpath-exception-2.0"),
    (
        "gplv2 with cpe",
        "GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    (
        "gpl 2 with cpe",
        "GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    ("lgpl 2.1", "LGPL-2.1-only"),
    ("lgplv2.1", "LGPL-2.1-only"),
    ("lgpl2.1", "LGPL-2.1-only"),
    ("gnu lgpl 2.1", "LGPL-2.1-only"),
    ("gnu lesser general public 2.1", "LGPL-2.1-only"),
    ("gnu lesser general public 2.1 only", "LGPL-2.1-only"),
    ("lgpl 2.1 or later", "LGPL-2.1-or-later"),
    (
        "gnu lesser general public 2.1 or later",
        "LGPL-2.1-or-later",
    ),
    ("lgpl 3", "LGPL-3.0-only"),
    ("lgpl 3.0", "LGPL-3.0-only"),
    ("lgplv3", "LGPL-3.0-only"),
    ("gnu lgpl 3", "LGPL-3.0-only"),
    ("gnu lgpl 3.0", "LGPL-3.0-only"),
    ("gnu lesser general public 3", "LGPL-3.0-only"),
    ("gnu lesser general public 3.0", "LGPL-3.0-only"),
    ("lgpl 3.0 or later", "LGPL-3.0-or-later"),
    (
        "gnu lesser general public 3.0 or later",
        "LGPL-3.0-or-later",
    ),
    ("lgpl 2", "LGPL-2.0-only"),
    ("lgpl 2.0", "LGPL-2.0-only"),
    ("gnu library general public 2", "LGPL-2.0-only"),
    ("gnu library general public 2.0", "LGPL-2.0-only"),
    ("agpl 3", "AGPL-3.0-only"),
    ("agpl 3.0", "AGPL-3.0-only"),
    ("agplv3", "AGPL-3.0-only"),
    ("gnu affero general public 3", "AGPL-3.0-only"),
    ("gnu affero general public 3.0", "AGPL-3.0-only"),
];

/// Keys of `spdx::identifiers::IMPRECISE_NAMES` that guess between several licences (or get
/// it wrong) and must not decide a verdict.
const AMBIGUOUS_IMPRECISE: &[&str] = &["agpl", "apache", "bsd", "gpl", "lgpl", "mpl", "gnu gpl v2"];

/// Reduces a name to the words that carry meaning: lower case, parenthesised asides dropped
/// ("(EDL)", "(GPL2)"), "licence"/"license"/"version"/"the"/"v" dropped, `v2.0` → `2.0`,
/// `w/` → `with`.
pub(super) fn name_key(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut text = String::with_capacity(lower.len());
    let mut depth = 0u32;
    for c in lower.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    let mut words: Vec<&str> = Vec::new();
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '.')) {
        let w = raw.trim_matches('.');
        let w = match w {
            "" | "the" | "license" | "licence" | "licenses" | "licences" | "version" | "v" => {
                continue;
            }
            "w" => "with",
            _ => w,
        };
        let w = match w.strip_prefix('v') {
            Some(num)
                if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
            {
                num
            }
            _ => w,
        };
        words.push(w);
    }
    words.join(" ")
}

/// One name → one expression, from an exact/case-insensitive SPDX id, the table, or a
/// whole-name match in `spdx`'s imprecise list.
pub(super) fn map_simple(name: &str) -> Option<LicenseExpr> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if let Some(id) = license_id_ci(name) {
        return Some(LicenseExpr::License(super::modernise(id, false)));
    }
    let key = name_key(name);
    if let Some((_, expr)) = TABLE.iter().find(|(k, _)| *k == key) {
        return parse_expression(expr, false).ok();
    }
    let lower = name.to_lowercase();
    let (id, len) = spdx::imprecise_license_id(&lower)?;
    let matched = &lower[..len];
    if len != lower.len() || AMBIGUOUS_IMPRECISE.contains(&matched) {
        return None;
    }
    Some(LicenseExpr::License(super::modernise(id, false)))
}

/// A free-text name: an expression written as a name, a single known name, or known names
/// joined by one kind of " or " / " and " ("MPL 2.0 or EPL 1.0").
pub(super) fn map_name(name: &str) -> Option<LicenseExpr> {
    if name.is_empty() {
        return None;
    }
    if let Ok(expr) = parse_expression(name, false)
        && !expr.has_unknown()
    {
        return Some(expr);
    }
    if let Some(expr) = map_simple(name) {
        return Some(expr);
    }
    for (sep, op) in [(" or ", super::Combine::Or), (" and ", super::Combine::And)] {
        let lower = name.to_lowercase();
        if !lower.contains(sep) || lower.len() != name.len() {
            continue;
        }
        let mut parts = Vec::new();
        let mut rest = 0;
        for (at, _) in lower.match_indices(sep) {
            parts.push(&name[rest..at]);
            rest = at + sep.len();
        }
        parts.push(&name[rest..]);
        let mapped: Option<Vec<_>> = parts.iter().map(|p| map_simple(p)).collect();
        if let Some(mapped) = mapped {
            return LicenseExpr::combine(mapped, op);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(name: &str) -> Option<String> {
        map_name(name).map(|e| e.to_string())
    }

    #[test]
    fn well_known_names() {
        for (name, want) in [
            ("Apache License, Version 2.0", "Apache-2.0"),
            ("The Apache Software License, Version 2.0", "Apache-2.0"),
            ("Apache 2.0", "Apache-2.0"),
            ("ASL 2.0", "Apache-2.0"),
            ("MIT License", "MIT"),
            ("The MIT License (MIT)", "MIT"),
            ("BSD-3-Clause", "BSD-3-Clause"),
            ("BSD 3-clause New License", "BSD-3-Clause"),
            ("New BSD License", "BSD-3-Clause"),
            ("Eclipse Public License 1.0", "EPL-1.0"),
            ("Eclipse Public License - v 1.0", "EPL-1.0"),
            ("Eclipse Public License v2.0", "EPL-2.0"),
            (
                "Eclipse Distribution License (EDL), Version 1.0",
                "BSD-3-Clause",
            ),
            ("CDDL 1.1", "CDDL-1.1"),
            ("GPL v2", "GPL-2.0-only"),
            ("GNU General Public License v3.0", "GPL-3.0-only"),
            (
                "GNU Lesser General Public License, Version 2.1",
                "LGPL-2.1-only",
            ),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            (
                "GNU General Public License (GPL), version 2, with the Classpath exception",
                "GPL-2.0-only WITH Classpath-exception-2.0",
            ),
            (
                "GNU General Public License, Version 2 with the Classpath Exception",
                "GPL-2.0-only WITH Classpath-exception-2.0",
            ),
            (
                "GNU General Public License, version 2 (GPL2), with the classpath exception",
                "GPL-2.0-only WITH Classpath-exception-2.0",
            ),
            ("MPL 2.0 or EPL 1.0", "MPL-2.0 OR EPL-1.0"),
            ("MPLv2.0", "MPL-2.0"),
            ("Mozilla Public License, Version 2.0", "MPL-2.0"),
            ("mit", "MIT"),
            ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
            ("simplified bsd license", "BSD-2-Clause"),
            ("gplv3", "GPL-3.0-only"),
        ] {
            assert_eq!(mapped(name).as_deref(), Some(want), "{name}");
        }
    }

    #[test]
    fn ambiguous_names_stay_unknown() {
        for name in [
            "BSD License",
            "BSD licence",
            "BSD",
            "Apache Software Licenses",
            "Apache",
            "Common Development and Distribution License",
            "GNU Lesser General Public License",
            "GPL",
            "GNU GPL v2 or something",
            "Public Domain",
            "Proprietary",
            "MPL 2.0 or something else",
            "",
        ] {
            assert_eq!(mapped(name), None, "{name}");
        }
    }

    #[test]
    fn table_targets_are_valid() {
        for (key, expr) in TABLE {
            let e = parse_expression(expr, false).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert!(!e.has_unknown(), "{key}");
            assert_eq!(e.to_string(), *expr, "{key} is not canonical");
            assert_eq!(name_key(key), *key, "{key} is not a normalised key");
        }
    }
}
