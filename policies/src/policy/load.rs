//! Loading: parse every file (spans kept), validate into the typed model, and refuse
//! overlays (and repository blocks) that would loosen the base.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;
use tollgate_attest::{Algorithm, Digest, DigestHasher};
use tollgate_sbom::{LicenseExpr, LicensePolicy, Outcome, PolicyLicense, Severity, UnknownLicense};

use super::condition;
use super::diag::{Diagnostic, Level, Source};
use super::file::*;
use super::model::*;
use crate::{ApproverGroup, Pattern};

/// The file every policy directory has: the central rules overlays may only tighten.
pub const BASE_FILE: &str = "base.toml";

/// sha256 over the files in name order: for each, its name, a newline, the length of its
/// contents in bytes (decimal), a newline, the contents and a newline. Any change to any
/// file, a renamed file or an added one changes it; reading order does not.
pub fn policy_digest<N: AsRef<str>, C: AsRef<str>>(files: &[(N, C)]) -> Digest {
    let mut sorted: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, c)| (n.as_ref(), c.as_ref()))
        .collect();
    sorted.sort_unstable();
    let mut h = DigestHasher::new(Algorithm::Sha256);
    for (name, contents) in sorted {
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(contents.len().to_string().as_bytes());
        h.update(b"\n");
        h.update(contents.as_bytes());
        h.update(b"\n");
    }
    h.finish()
}

impl Policy {
    /// Loads a policy from `(file name, contents)` pairs, names relative to the policy
    /// directory (`base.toml`, `overlays/team-a.toml`). Pure: the caller reads the files.
    /// Every problem in every file is reported, each naming its file, line and column.
    pub fn load<N: AsRef<str>, C: AsRef<str>>(files: &[(N, C)]) -> Result<Policy, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut seen = BTreeSet::new();
        let mut parsed: Vec<(Source<'_>, Option<RawFile>)> = Vec::new();
        for (name, text) in files {
            let src = Source {
                name: name.as_ref(),
                text: text.as_ref(),
            };
            if !seen.insert(src.name) {
                diags.push(src.error(&(0..0), "file given twice"));
                continue;
            }
            if !src.name.ends_with(".toml") {
                diags.push(src.error(&(0..0), "policy files are TOML and end in .toml"));
                continue;
            }
            match toml::from_str::<RawFile>(src.text) {
                Ok(raw) => parsed.push((src, Some(raw))),
                Err(e) => {
                    let span = e.span().unwrap_or(0..0);
                    diags.push(src.error(&span, e.message().trim().to_string()));
                    parsed.push((src, None));
                }
            }
        }
        parsed.sort_by_key(|(s, _)| s.name);
        let Some(base_at) = parsed.iter().position(|(s, _)| s.name == BASE_FILE) else {
            diags.push(Diagnostic {
                file: BASE_FILE.into(),
                line: 1,
                column: 1,
                level: Level::Error,
                message: "a policy directory needs a base.toml (overlays only tighten it)".into(),
            });
            return Err(finish(diags));
        };
        let (base_src, base_raw) = parsed.remove(base_at);
        let Some(base_raw) = base_raw else {
            return Err(finish(diags));
        };

        let mut cx = Cx::new(base_src);
        if let Some(o) = &base_raw.overlay {
            cx.err(
                &o.span(),
                "base.toml is the base policy; [overlay] belongs in other files",
            );
        }
        cx.version(&base_raw);
        let env_names: BTreeSet<String> = base_raw
            .environments
            .keys()
            .map(|k| k.get_ref().clone())
            .collect();
        let top_bg = base_raw
            .breakglass
            .as_ref()
            .map(|b| cx.breakglass(b, None, None));
        let mut environments = BTreeMap::new();
        for (name, raw) in &base_raw.environments {
            cx.env_name(name);
            let timezone = match &raw.get_ref().timezone {
                None => Tz::UTC,
                Some(tz) => tz.get_ref().parse::<Tz>().unwrap_or_else(|_| {
                    cx.err(
                        &tz.span(),
                        format!(
                            "{:?} is not an IANA time zone (e.g. Europe/Berlin)",
                            tz.get_ref()
                        ),
                    );
                    Tz::UTC
                }),
            };
            let scope = Scope {
                level: Lvl::BaseEnv,
                top_bg: top_bg.as_ref(),
                env: name.get_ref(),
                env_names: &env_names,
            };
            let mut set = cx.rule_set(raw, &scope, None);
            if set.breakglass.is_none() {
                set.breakglass = Some(top_bg.clone().unwrap_or_else(|| default_breakglass(&cx)));
            }
            set.mode.get_or_insert(Mode::Enforce);
            let mut rule_sets = vec![set];
            for block in raw.get_ref().repositories.iter().flatten() {
                let scope = Scope {
                    level: Lvl::Block,
                    ..scope
                };
                let b = cx.rule_set(block, &scope, Some(&rule_sets[0]));
                rule_sets.push(b);
            }
            environments.insert(
                name.get_ref().clone(),
                Environment {
                    name: name.get_ref().clone(),
                    timezone,
                    rule_sets,
                },
            );
        }
        diags.append(&mut cx.diags);

        for (src, raw) in parsed {
            let Some(raw) = raw else { continue };
            let mut cx = Cx::new(src);
            cx.version(&raw);
            let Some(overlay) = &raw.overlay else {
                cx.err(
                    &(0..0),
                    "only base.toml may be a base policy: an overlay starts with [overlay] repositories = [\"team/*\"]",
                );
                diags.append(&mut cx.diags);
                continue;
            };
            let patterns: Vec<Pattern> = overlay
                .get_ref()
                .repositories
                .get_ref()
                .iter()
                .filter_map(|p| cx.repo_pattern(p))
                .collect();
            if overlay.get_ref().repositories.get_ref().is_empty() {
                cx.err(
                    &overlay.get_ref().repositories.span(),
                    "an overlay must name the repositories it covers",
                );
            }
            if let Some(b) = &raw.breakglass {
                cx.err(
                    &b.span(),
                    "top-level [breakglass] belongs in base.toml; an overlay may tighten it per environment ([environments.NAME.breakglass])",
                );
            }
            for (name, env_raw) in &raw.environments {
                let Some(env) = environments.get_mut(name.get_ref()) else {
                    cx.err(
                        &name.span(),
                        format!(
                            "environment {:?} is not defined in base.toml; overlays cannot add environments",
                            name.get_ref()
                        ),
                    );
                    continue;
                };
                let scope = Scope {
                    level: Lvl::OverlayEnv,
                    top_bg: None,
                    env: name.get_ref(),
                    env_names: &env_names,
                };
                let base_set = env.rule_sets[0].clone();
                let mut set = cx.rule_set(env_raw, &scope, Some(&base_set));
                set.overlay = Some(patterns.clone());
                env.rule_sets.push(set);
                for block in env_raw.get_ref().repositories.iter().flatten() {
                    let scope = Scope {
                        level: Lvl::Block,
                        ..scope
                    };
                    let mut b = cx.rule_set(block, &scope, Some(&base_set));
                    b.overlay = Some(patterns.clone());
                    env.rule_sets.push(b);
                }
            }
            diags.append(&mut cx.diags);
        }

        if diags.iter().any(|d| d.level == Level::Error) {
            return Err(finish(diags));
        }
        let mut names: Vec<String> = files.iter().map(|(n, _)| n.as_ref().to_string()).collect();
        names.sort_unstable();
        Ok(Policy {
            digest: policy_digest(files),
            files: names,
            environments,
        })
    }
}

fn finish(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    diags
}

fn default_breakglass(cx: &Cx<'_>) -> Breakglass {
    Breakglass {
        origin: cx.origin(&(0..0)),
        enabled: true,
        bypass: RuleKind::DEFAULT_BYPASS.into_iter().collect(),
        require_justification: true,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lvl {
    BaseEnv,
    OverlayEnv,
    Block,
}

#[derive(Debug, Clone, Copy)]
struct Scope<'a> {
    level: Lvl,
    /// The base's top-level `[breakglass]`: defaults for an environment's own.
    top_bg: Option<&'a Breakglass>,
    env: &'a str,
    env_names: &'a BTreeSet<String>,
}

struct Cx<'a> {
    src: Source<'a>,
    diags: Vec<Diagnostic>,
}

const LOOSEN: &str = "overlays and repository blocks may only tighten the base";

/// Whether every string `narrow` matches is matched by one of `wide` — decided
/// conservatively: equal patterns, `*`, a literal the wide pattern matches, or a prefix
/// pattern (`x*`) and a narrower pattern starting with `x`.
fn covered(wide: &[Pattern], narrow: &Pattern) -> bool {
    let n = narrow.as_str();
    let n_literal = !n.contains(['*', '?']);
    wide.iter().any(|w| {
        let w = w.as_str();
        if w == n || w == "*" || (n_literal && Pattern::new(w).matches(n)) {
            return true;
        }
        match w.strip_suffix('*') {
            Some(prefix) if !prefix.contains(['*', '?']) => n.starts_with(prefix),
            _ => false,
        }
    })
}

impl<'a> Cx<'a> {
    fn new(src: Source<'a>) -> Self {
        Cx {
            src,
            diags: Vec::new(),
        }
    }

    fn err(&mut self, span: &Range<usize>, msg: impl Into<String>) {
        self.diags.push(self.src.error(span, msg));
    }

    fn loosen(&mut self, span: &Range<usize>, base: &Origin, what: impl std::fmt::Display) {
        self.err(
            span,
            format!("{what}: this would loosen the rule at {base}; {LOOSEN}"),
        );
    }

    fn origin(&self, span: &Range<usize>) -> Origin {
        let (line, column) = self.src.line_col(span.start);
        Origin {
            file: self.src.name.to_string(),
            line,
            column,
        }
    }

    fn version(&mut self, raw: &RawFile) {
        if let Some(v) = &raw.version
            && *v.get_ref() != 1
        {
            self.err(
                &v.span(),
                "unsupported policy format version: only 1 exists",
            );
        }
    }

    fn env_name(&mut self, name: &S<String>) {
        let n = name.get_ref();
        let ok = !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            self.err(
                &name.span(),
                format!("environment name {n:?}: use lower-case letters, digits, '-' and '_'"),
            );
        }
    }

    fn count(&mut self, v: &S<i64>, what: &str, lo: i64, hi: i64) -> Option<u32> {
        let n = *v.get_ref();
        if n < lo || n > hi {
            self.err(
                &v.span(),
                format!("{what} must be between {lo} and {hi}, not {n}"),
            );
            return None;
        }
        u32::try_from(n).ok()
    }

    fn repo_pattern(&mut self, p: &S<String>) -> Option<Pattern> {
        let s = p.get_ref();
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/*?".contains(&b));
        if ok {
            Some(Pattern::new(s))
        } else {
            self.err(
                &p.span(),
                format!("repository pattern {s:?}: use lower-case names, '/', '*' and '?'"),
            );
            None
        }
    }

    fn glob(&mut self, p: &S<String>, what: &str) -> Option<Pattern> {
        if p.get_ref().trim().is_empty() {
            self.err(&p.span(), format!("empty {what}"));
            None
        } else {
            Some(Pattern::new(p.get_ref()))
        }
    }

    /// Patterns from a list; when `base` has a non-empty list, each must fall within it.
    fn globs(
        &mut self,
        list: &S<Vec<S<String>>>,
        what: &str,
        base: Option<(&[Pattern], &Origin)>,
    ) -> Vec<Pattern> {
        let mut out = Vec::new();
        for p in list.get_ref() {
            let Some(pat) = self.glob(p, what) else {
                continue;
            };
            if let Some((wide, origin)) = base
                && !wide.is_empty()
                && !covered(wide, &pat)
            {
                self.loosen(
                    &p.span(),
                    origin,
                    format!("{what} {:?} is not within the base's list", pat.as_str()),
                );
            }
            out.push(pat);
        }
        out
    }

    fn not_allowed_here(&mut self, span: &Range<usize>, key: &str, level: Lvl) {
        let msg = match level {
            Lvl::Block => format!(
                "`{key}` applies to a whole environment; it cannot be set in a repository block"
            ),
            _ => format!("`{key}` is only allowed in a [[environments.NAME.repositories]] block"),
        };
        self.err(span, msg);
    }

    fn rule_set(
        &mut self,
        raw: &S<RawRules>,
        scope: &Scope<'_>,
        base: Option<&RuleSet>,
    ) -> RuleSet {
        let r = raw.get_ref();
        let mut set = RuleSet {
            origin: Some(self.origin(&raw.span())),
            ..RuleSet::default()
        };
        let level = scope.level;
        // Keys by level.
        if level == Lvl::Block {
            if let Some(v) = &r.mode {
                self.not_allowed_here(&v.span(), "mode", level);
            }
            if let Some(v) = &r.timezone {
                self.not_allowed_here(&v.span(), "timezone", level);
            }
            if let Some(v) = &r.from {
                self.not_allowed_here(&v.span(), "from", level);
            }
            if let Some(v) = &r.max_in_flight {
                self.not_allowed_here(&v.span(), "max_in_flight", level);
            }
            if let Some(v) = &r.breakglass {
                self.not_allowed_here(&v.span(), "breakglass", level);
            }
            if let Some(v) = r.repositories.as_ref().and_then(|v| v.first()) {
                self.err(&v.span(), "repository blocks do not nest");
            }
            match &r.pattern {
                Some(p) => set.block = self.repo_pattern(p),
                None => self.err(&raw.span(), "a repository block needs pattern = \"team/*\""),
            }
        } else {
            if let Some(p) = &r.pattern {
                self.not_allowed_here(&p.span(), "pattern", level);
            }
            if level == Lvl::OverlayEnv
                && let Some(tz) = &r.timezone
            {
                self.err(
                    &tz.span(),
                    "the time zone of an environment is the base's; overlays cannot change it",
                );
            }
        }

        if level != Lvl::Block {
            if let Some(m) = &r.mode {
                let mode = match m.get_ref().as_str() {
                    "enforce" => Some(Mode::Enforce),
                    "warn" => Some(Mode::Warn),
                    other => {
                        self.err(
                            &m.span(),
                            format!("mode {other:?}: expected enforce or warn"),
                        );
                        None
                    }
                };
                if let (Some(Mode::Warn), Some(b)) = (mode, base)
                    && b.mode == Some(Mode::Enforce)
                {
                    let origin = b.origin.clone().unwrap_or_else(|| self.origin(&(0..0)));
                    self.loosen(
                        &m.span(),
                        &origin,
                        "mode = \"warn\" where the base enforces",
                    );
                }
                set.mode = mode;
            }
            if let Some(from) = &r.from {
                let mut names = Vec::new();
                for f in from.get_ref() {
                    let n = f.get_ref();
                    if !scope.env_names.contains(n) {
                        self.err(
                            &f.span(),
                            format!("from: no environment {n:?} in base.toml"),
                        );
                    } else if n == scope.env {
                        self.err(&f.span(), "an environment cannot promote into itself");
                    } else if let Some(b) = base.and_then(|b| b.from.as_ref())
                        && !b.value.contains(n)
                    {
                        self.loosen(
                            &f.span(),
                            &b.origin,
                            format!("from {n:?} is not in the base's list"),
                        );
                    }
                    names.push(n.clone());
                }
                set.from = Some(At {
                    value: names,
                    origin: self.origin(&from.span()),
                });
            }
            if let Some(m) = &r.max_in_flight
                && let Some(n) = self.count(m, "max_in_flight", 1, 10_000)
            {
                if let Some(b) = base.and_then(|b| b.max_in_flight.as_ref())
                    && n > b.value
                {
                    self.loosen(
                        &m.span(),
                        &b.origin,
                        format!("max_in_flight = {n} is above the base's {}", b.value),
                    );
                }
                set.max_in_flight = Some(At {
                    value: n,
                    origin: self.origin(&m.span()),
                });
            }
            if let Some(bg) = &r.breakglass {
                let base_bg = base.and_then(|b| b.breakglass.as_ref());
                set.breakglass = Some(self.breakglass(bg, base_bg.or(scope.top_bg), base_bg));
            }
        }

        set.signatures = r
            .signatures
            .as_ref()
            .map(|s| self.signatures(s, base.and_then(|b| b.signatures.as_ref())));
        set.provenance = r
            .provenance
            .as_ref()
            .map(|s| self.provenance(s, base.and_then(|b| b.provenance.as_ref())));
        set.sbom = r
            .sbom
            .as_ref()
            .map(|s| self.sbom(s, base.and_then(|b| b.sbom.as_ref())));
        set.vulnerabilities = r
            .vulnerabilities
            .as_ref()
            .map(|s| self.vulns(s, base.and_then(|b| b.vulnerabilities.as_ref())));
        set.version = r
            .version
            .as_ref()
            .map(|s| self.version_rule(s, base.and_then(|b| b.version.as_ref())));
        set.approvals = r
            .approvals
            .as_ref()
            .map(|s| self.approvals(s, base.and_then(|b| b.approvals.as_ref())));
        set.change_request = r
            .change_request
            .as_ref()
            .map(|s| self.change_request(s, base.and_then(|b| b.change_request.as_ref())));
        for w in r.windows.iter().flatten() {
            if let Some(w) = self.window(w, base.map_or(&[][..], |b| &b.windows)) {
                set.windows.push(w);
            }
        }
        for f in r.freezes.iter().flatten() {
            if let Some(f) = self.freeze(f) {
                set.freezes.push(f);
            }
        }
        let mut names = BTreeSet::new();
        for c in r.conditions.iter().flatten() {
            if let Some(c) = self.condition(c, &mut names) {
                set.conditions.push(c);
            }
        }
        set.verification = r
            .verification
            .as_ref()
            .map(|s| self.verification(s, base.and_then(|b| b.verification.as_ref())));
        set.checklist = r
            .checklist
            .as_ref()
            .map(|s| self.checklist(s, base.and_then(|b| b.checklist.as_ref())));
        if let Some(res) = &r.residency {
            if level == Lvl::Block {
                self.not_allowed_here(&res.span(), "residency", level);
            } else {
                set.residency = self.residency(res, base.and_then(|b| b.residency.as_ref()));
            }
        }
        set
    }

    fn verification(
        &mut self,
        raw: &S<RawVerification>,
        base: Option<&VerificationRule>,
    ) -> VerificationRule {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let mut require = base.map_or_else(BTreeSet::new, |b| b.require.clone());
        if let Some(list) = &r.require {
            let listed: BTreeSet<&str> = list
                .get_ref()
                .iter()
                .map(|k| k.get_ref().as_str())
                .collect();
            for k in list.get_ref() {
                if !is_kind_name(k.get_ref()) {
                    self.err(
                        &k.span(),
                        format!(
                            "result kind {:?}: use lower-case letters, digits and '-' (at most 64)",
                            k.get_ref()
                        ),
                    );
                }
                require.insert(k.get_ref().clone());
            }
            if let Some(b) = base {
                for k in &b.require {
                    if !listed.contains(k.as_str()) {
                        self.loosen(
                            &list.span(),
                            &b.origin,
                            format!("require leaves out {k:?}, which the base requires"),
                        );
                    }
                }
            }
        }
        let signed = self.flag(
            &r.signed,
            "signed",
            false,
            base.map(|b| (b.signed, &b.origin)),
            true,
        );
        let soak_secs = match &r.soak {
            None => base.and_then(|b| b.soak_secs),
            Some(v) => match parse_duration(v.get_ref()) {
                Some(secs) => {
                    if let Some(b) = base
                        && let Some(bs) = b.soak_secs
                        && secs < bs
                    {
                        self.loosen(
                            &v.span(),
                            &b.origin,
                            format!(
                                "soak {:?} is shorter than the base's {}",
                                v.get_ref(),
                                super::eval::human(bs)
                            ),
                        );
                    }
                    Some(secs)
                }
                None => {
                    self.err(
                        &v.span(),
                        format!(
                            "soak {:?}: expected a duration such as 90s, 30m, 24h or 2d",
                            v.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let mut criteria = base.map_or_else(BTreeMap::new, |b| b.criteria.clone());
        for (name, t) in r.criteria.iter().flat_map(|c| c.get_ref()) {
            if !is_kind_name(name.get_ref().replace('_', "-").as_str()) {
                self.err(
                    &name.span(),
                    format!(
                        "metric {:?}: use lower-case letters, digits, '_' and '-'",
                        name.get_ref()
                    ),
                );
                continue;
            }
            let tr = t.get_ref();
            let mut th = Threshold {
                min: tr.min.as_ref().map(|v| *v.get_ref()),
                max: tr.max.as_ref().map(|v| *v.get_ref()),
            };
            if th.min.is_none() && th.max.is_none() {
                self.err(&t.span(), "a criterion needs min, max or both");
                continue;
            }
            if th.min.is_some_and(|v| !v.is_finite()) || th.max.is_some_and(|v| !v.is_finite()) {
                self.err(&t.span(), "criterion bounds must be finite numbers");
                continue;
            }
            if let (Some(a), Some(b)) = (th.min, th.max)
                && a > b
            {
                self.err(&t.span(), format!("min {a} is above max {b}"));
                continue;
            }
            if let Some(b) = base
                && let Some(bt) = b.criteria.get(name.get_ref())
            {
                // Tighten only: a bound may rise (min) or fall (max), never go away.
                let looser_min = bt.min.is_some_and(|bm| th.min.is_none_or(|m| m < bm));
                let looser_max = bt.max.is_some_and(|bm| th.max.is_none_or(|m| m > bm));
                if looser_min || looser_max {
                    self.loosen(
                        &t.span(),
                        &b.origin,
                        format!("{} {th} is looser than the base's {bt}", name.get_ref()),
                    );
                }
                th.min = match (th.min, bt.min) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                th.max = match (th.max, bt.max) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            criteria.insert(name.get_ref().clone(), th);
        }
        VerificationRule {
            origin,
            require,
            signed,
            criteria,
            soak_secs,
        }
    }

    fn checklist(&mut self, raw: &S<RawChecklist>, base: Option<&ChecklistRule>) -> ChecklistRule {
        let origin = self.origin(&raw.span());
        // An overlay's items add to the base's.
        let mut items: Vec<ChecklistItem> = base.map_or_else(Vec::new, |b| b.items.clone());
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for it in raw.get_ref().items.get_ref() {
            let i = it.get_ref();
            let name = i.name.get_ref();
            if !is_kind_name(name) {
                self.err(
                    &i.name.span(),
                    format!("item {name:?}: use lower-case letters, digits and '-' (at most 64)"),
                );
                continue;
            }
            if !seen.insert(name.clone()) {
                self.err(&i.name.span(), format!("item {name:?} is listed twice"));
                continue;
            }
            let Some(role) = ApproverGroup::parse(i.role.get_ref()) else {
                self.err(
                    &i.role.span(),
                    format!(
                        "role {:?}: expected dev, ops, security or business (held as approver(ROLE))",
                        i.role.get_ref()
                    ),
                );
                continue;
            };
            let item = ChecklistItem {
                name: name.clone(),
                role,
                description: i.description.as_ref().map(|d| d.get_ref().clone()),
            };
            match items.iter_mut().find(|x| x.name == item.name) {
                Some(existing) if existing.role != item.role => {
                    let b = base
                        .map(|b| b.origin.clone())
                        .unwrap_or_else(|| origin.clone());
                    self.loosen(
                        &i.role.span(),
                        &b,
                        format!(
                            "item {name:?} is confirmed by {} in the base",
                            existing.role
                        ),
                    );
                }
                Some(existing) => {
                    if item.description.is_some() {
                        existing.description = item.description;
                    }
                }
                None => items.push(item),
            }
        }
        if items.is_empty() {
            self.err(&raw.span(), "a checklist needs at least one item");
        }
        ChecklistRule { origin, items }
    }

    fn residency(
        &mut self,
        raw: &S<RawResidency>,
        base: Option<&ResidencyRule>,
    ) -> Option<ResidencyRule> {
        let r = raw.get_ref();
        let region = r.region.get_ref();
        if !is_kind_name(region) {
            self.err(
                &r.region.span(),
                format!("region {region:?}: use lower-case letters, digits and '-'"),
            );
            return None;
        }
        if let Some(b) = base
            && b.region != *region
        {
            self.err(
                &r.region.span(),
                format!(
                    "the region of an environment is the base's ({:?} at {}); overlays cannot change it",
                    b.region, b.origin
                ),
            );
        }
        // Deny lists add up.
        let mut deny = base.map_or_else(Vec::new, |b| b.deny.clone());
        for p in r.deny.iter().flat_map(|d| d.get_ref()) {
            if let Some(pat) = self.repo_pattern(p) {
                deny.push(pat);
            }
        }
        Some(ResidencyRule {
            origin: self.origin(&raw.span()),
            region: region.clone(),
            deny,
        })
    }

    fn breakglass(
        &mut self,
        raw: &S<RawBreakglass>,
        defaults: Option<&Breakglass>,
        check: Option<&Breakglass>,
    ) -> Breakglass {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let enabled = r
            .enabled
            .as_ref()
            .map(|e| *e.get_ref())
            .or(defaults.map(|d| d.enabled))
            .unwrap_or(true);
        if let (Some(e), Some(b)) = (&r.enabled, check)
            && *e.get_ref()
            && !b.enabled
        {
            self.loosen(
                &e.span(),
                &b.origin,
                "enabled = true where the base disables break-glass",
            );
        }
        let require_justification = r
            .require_justification
            .as_ref()
            .map(|e| *e.get_ref())
            .or(defaults.map(|d| d.require_justification))
            .unwrap_or(true);
        if let (Some(e), Some(b)) = (&r.require_justification, check)
            && !*e.get_ref()
            && b.require_justification
        {
            self.loosen(&e.span(), &b.origin, "require_justification = false");
        }
        let bypass = match &r.bypass {
            None => defaults.map_or_else(
                || RuleKind::DEFAULT_BYPASS.into_iter().collect(),
                |d| d.bypass.clone(),
            ),
            Some(list) => {
                let mut out = BTreeSet::new();
                for k in list.get_ref() {
                    match RuleKind::parse(k.get_ref()) {
                        Some(kind) if kind.bypassable() => {
                            if let Some(b) = check
                                && !b.bypass.contains(&kind)
                            {
                                self.loosen(
                                    &k.span(),
                                    &b.origin,
                                    format!("bypassing {kind} is not allowed by the base"),
                                );
                            }
                            out.insert(kind);
                        }
                        _ => self.err(
                            &k.span(),
                            format!(
                                "bypass {:?}: expected one of {}",
                                k.get_ref(),
                                RuleKind::ALL
                                    .iter()
                                    .filter(|k| k.bypassable())
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    }
                }
                out
            }
        };
        Breakglass {
            origin,
            enabled,
            bypass,
            require_justification,
        }
    }

    /// A `bool` that must not go from `strict` (the base's value) to its opposite.
    fn flag(
        &mut self,
        v: &Option<S<bool>>,
        key: &str,
        default: bool,
        base: Option<(bool, &Origin)>,
        strict: bool,
    ) -> bool {
        match v {
            None => base.map_or(default, |(b, _)| b),
            Some(x) => {
                let x_val = *x.get_ref();
                if let Some((b, origin)) = base
                    && b == strict
                    && x_val != strict
                {
                    self.loosen(&x.span(), origin, format!("{key} = {x_val}"));
                }
                x_val
            }
        }
    }

    fn signatures(&mut self, raw: &S<RawSignatures>, base: Option<&Signatures>) -> Signatures {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let bo = base.map(|b| &b.origin);
        let required = self.flag(
            &r.required,
            "required",
            true,
            base.map(|b| (b.required, &b.origin)),
            true,
        );
        let min = match &r.min {
            None => base.map_or(1, |b| b.min),
            Some(m) => {
                let n = self.count(m, "signatures.min", 1, 100).unwrap_or(1);
                if let Some(b) = base
                    && n < b.min
                {
                    self.loosen(
                        &m.span(),
                        &b.origin,
                        format!("signatures.min = {n} is below the base's {}", b.min),
                    );
                }
                n
            }
        };
        let base_any = base.is_none_or(|b| b.keys.is_empty() && b.identities.is_empty());
        let keys = match &r.keys {
            None => base.map_or_else(Vec::new, |b| b.keys.clone()),
            Some(ks) => {
                let mut out = Vec::new();
                for k in ks.get_ref() {
                    if k.get_ref().trim().is_empty() {
                        self.err(&k.span(), "empty key name");
                        continue;
                    }
                    if let (Some(b), Some(o)) = (base, bo)
                        && !base_any
                        && !b.keys.contains(k.get_ref())
                    {
                        self.loosen(
                            &k.span(),
                            o,
                            format!("key {:?} is not trusted by the base", k.get_ref()),
                        );
                    }
                    out.push(k.get_ref().clone());
                }
                out
            }
        };
        let identities = match &r.identities {
            None => base.map_or_else(Vec::new, |b| b.identities.clone()),
            Some(ids) => {
                let mut out = Vec::new();
                for i in ids.get_ref() {
                    let ir = i.get_ref();
                    if ir.issuer.get_ref().trim().is_empty() {
                        self.err(&ir.issuer.span(), "empty issuer");
                        continue;
                    }
                    let Some(subject) = self.glob(&ir.subject, "identity subject") else {
                        continue;
                    };
                    if let (Some(b), Some(o)) = (base, bo)
                        && !base_any
                    {
                        let wide: Vec<Pattern> = b
                            .identities
                            .iter()
                            .filter(|bi| bi.issuer == *ir.issuer.get_ref())
                            .map(|bi| bi.subject.clone())
                            .collect();
                        if !covered(&wide, &subject) {
                            self.loosen(
                                &i.span(),
                                o,
                                format!(
                                    "identity {} from {} is not trusted by the base",
                                    subject,
                                    ir.issuer.get_ref()
                                ),
                            );
                        }
                    }
                    out.push(Identity {
                        issuer: ir.issuer.get_ref().clone(),
                        subject,
                    });
                }
                out
            }
        };
        if identities.is_empty() && !keys.is_empty() && min as usize > keys.len() {
            let span = r.min.as_ref().map_or(raw.span(), |m| m.span());
            self.err(
                &span,
                format!(
                    "signatures.min = {min} can never be met: only {} trusted key(s) and no identities",
                    keys.len()
                ),
            );
        }
        Signatures {
            origin,
            required,
            min,
            keys,
            identities,
        }
    }

    fn provenance(
        &mut self,
        raw: &S<RawProvenance>,
        base: Option<&ProvenanceRule>,
    ) -> ProvenanceRule {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let required = self.flag(
            &r.required,
            "required",
            true,
            base.map(|b| (b.required, &b.origin)),
            true,
        );
        let require_commit = self.flag(
            &r.require_commit,
            "require_commit",
            false,
            base.map(|b| (b.require_commit, &b.origin)),
            true,
        );
        let list = |cx: &mut Self,
                    v: &Option<S<Vec<S<String>>>>,
                    what: &str,
                    pick: fn(&ProvenanceRule) -> &Vec<Pattern>| match v {
            None => base.map_or_else(Vec::new, |b| pick(b).clone()),
            Some(l) => cx.globs(l, what, base.map(|b| (pick(b).as_slice(), &b.origin))),
        };
        let builders = list(self, &r.builders, "builder", |b| &b.builders);
        let sources = list(self, &r.sources, "source", |b| &b.sources);
        let refs = list(self, &r.refs, "ref", |b| &b.refs);
        ProvenanceRule {
            origin,
            required,
            builders,
            sources,
            refs,
            require_commit,
        }
    }

    fn sbom(&mut self, raw: &S<RawSbom>, base: Option<&SbomRule>) -> SbomRule {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let required = self.flag(
            &r.required,
            "required",
            true,
            base.map(|b| (b.required, &b.origin)),
            true,
        );
        let base_lic = base.and_then(|b| b.licenses.as_ref());
        let licenses = match &r.licenses {
            None => base_lic.cloned(),
            Some(l) => self.licenses(l, base_lic),
        };
        SbomRule {
            origin,
            required,
            licenses,
        }
    }

    fn licence_list(
        &mut self,
        list: &Option<S<Vec<S<String>>>>,
    ) -> Vec<(PolicyLicense, Range<usize>)> {
        let mut out = Vec::new();
        for l in list.iter().flat_map(|l| l.get_ref()) {
            match l.get_ref().parse::<PolicyLicense>() {
                Ok(p) if LicenseExpr::parse(&p.to_string()).is_ok_and(|e| !e.has_unknown()) => {
                    out.push((p, l.span()));
                }
                Ok(_) | Err(_) => self.err(
                    &l.span(),
                    format!(
                        "{:?} is not an SPDX licence id (or LicenseRef-…); one licence per entry",
                        l.get_ref()
                    ),
                ),
            }
        }
        out
    }

    fn licenses(
        &mut self,
        raw: &S<RawLicenses>,
        base: Option<&At<LicensePolicy>>,
    ) -> Option<At<LicensePolicy>> {
        let r = raw.get_ref();
        let allow = self.licence_list(&r.allow);
        let deny = self.licence_list(&r.deny);
        for (a, span) in &allow {
            if deny.iter().any(|(d, _)| d == a) {
                self.err(span, format!("{a} is both allowed and denied"));
            }
            if let Some(b) = base
                && let Ok(expr) = LicenseExpr::parse(&a.to_string())
                && b.value.evaluate_expr(&expr).outcome == Outcome::Fail
            {
                self.loosen(
                    span,
                    &b.origin,
                    format!("allows {a}, which the base does not allow"),
                );
            }
        }
        let unknown = match &r.unknown {
            None => base.map_or(UnknownLicense::Warn, |b| b.value.unknown),
            Some(u) => {
                let v = match u.get_ref().as_str() {
                    "allow" => UnknownLicense::Allow,
                    "warn" => UnknownLicense::Warn,
                    "deny" => UnknownLicense::Deny,
                    other => {
                        self.err(
                            &u.span(),
                            format!("unknown = {other:?}: expected allow, warn or deny"),
                        );
                        UnknownLicense::Warn
                    }
                };
                let rank = |x: UnknownLicense| match x {
                    UnknownLicense::Allow => 0,
                    UnknownLicense::Warn => 1,
                    UnknownLicense::Deny => 2,
                };
                if let Some(b) = base
                    && rank(v) < rank(b.value.unknown)
                {
                    self.loosen(&u.span(), &b.origin, format!("unknown = {:?}", u.get_ref()));
                }
                v
            }
        };
        let mut policy = LicensePolicy {
            allow: allow.into_iter().map(|(p, _)| p).collect(),
            deny: deny.into_iter().map(|(p, _)| p).collect(),
            unknown,
        };
        if let Some(b) = base {
            // Deny lists add up; an overlay without an allow list keeps the base's.
            for d in &b.value.deny {
                if !policy.deny.contains(d) {
                    policy.deny.push(d.clone());
                }
            }
            if r.allow.is_none() {
                policy.allow = b.value.allow.clone();
            }
        }
        Some(At {
            value: policy,
            origin: self.origin(&raw.span()),
        })
    }

    fn vulns(&mut self, raw: &S<RawVulns>, base: Option<&VulnRule>) -> VulnRule {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let required = self.flag(
            &r.required,
            "required",
            true,
            base.map(|b| (b.required, &b.origin)),
            true,
        );
        let mut max = base.map_or_else(BTreeMap::new, |b| b.max.clone());
        for (sev, n) in r.max.iter().flat_map(|m| m.get_ref()) {
            let s = Severity::parse(sev.get_ref());
            if s.as_str() != sev.get_ref() {
                self.err(
                    &sev.span(),
                    format!(
                        "severity {:?}: expected critical, high, medium, low, none or unknown",
                        sev.get_ref()
                    ),
                );
                continue;
            }
            let Some(n) = self.count(n, &format!("max.{s}"), 0, 1_000_000) else {
                continue;
            };
            if let Some(b) = base
                && let Some(&bn) = b.max.get(&s)
                && n > bn
            {
                self.loosen(
                    &sev.span(),
                    &b.origin,
                    format!("max.{s} = {n} is above the base's {bn}"),
                );
            }
            max.insert(s, n);
        }
        let ignore = match &r.ignore {
            None => base.map_or_else(BTreeSet::new, |b| b.ignore.clone()),
            Some(list) => {
                let mut out = BTreeSet::new();
                for id in list.get_ref() {
                    if id.get_ref().trim().is_empty() {
                        self.err(&id.span(), "empty vulnerability id");
                        continue;
                    }
                    if let Some(b) = base
                        && !b.ignore.contains(id.get_ref())
                    {
                        self.loosen(
                            &id.span(),
                            &b.origin,
                            format!("ignoring {} is not allowed by the base", id.get_ref()),
                        );
                    }
                    out.insert(id.get_ref().clone());
                }
                out
            }
        };
        VulnRule {
            origin,
            required,
            max,
            ignore,
        }
    }

    fn version_rule(&mut self, raw: &S<RawVersion>, base: Option<&VersionRule>) -> VersionRule {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let semver = self.flag(
            &r.semver,
            "semver",
            false,
            base.map(|b| (b.semver, &b.origin)),
            true,
        );
        let prerelease = self.flag(
            &r.prerelease,
            "prerelease",
            true,
            base.map(|b| (b.prerelease, &b.origin)),
            false,
        );
        let increase = self.flag(
            &r.increase,
            "increase",
            false,
            base.map(|b| (b.increase, &b.origin)),
            true,
        );
        if let Some(s) = &r.semver
            && !*s.get_ref()
            && (increase || !prerelease)
        {
            self.err(
                &s.span(),
                "semver = false contradicts prerelease = false / increase = true, which read the tag as SemVer",
            );
        }
        VersionRule {
            origin,
            semver,
            prerelease,
            increase,
        }
    }

    fn approvals(&mut self, raw: &S<RawApprovals>, base: Option<&Approvals>) -> Approvals {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let mut need = base.map_or_else(BTreeMap::new, |b| b.need.clone());
        for (group, v) in [
            (ApproverGroup::Dev, &r.dev),
            (ApproverGroup::Ops, &r.ops),
            (ApproverGroup::Security, &r.security),
            (ApproverGroup::Business, &r.business),
        ] {
            let Some(v) = v else { continue };
            let Some(n) = self.count(v, &format!("approvals.{group}"), 0, 20) else {
                continue;
            };
            if let Some(b) = base {
                let bn = b.need.get(&group).copied().unwrap_or(0);
                if n < bn {
                    self.loosen(
                        &v.span(),
                        &b.origin,
                        format!("approvals.{group} = {n} is below the base's {bn}"),
                    );
                }
            }
            need.insert(group, n);
        }
        need.retain(|_, n| *n > 0);
        let separation_of_duties = self.flag(
            &r.separation_of_duties,
            "separation_of_duties",
            true,
            base.map(|b| (b.separation_of_duties, &b.origin)),
            true,
        );
        Approvals {
            origin,
            need,
            separation_of_duties,
        }
    }

    fn change_request(
        &mut self,
        raw: &S<RawChangeRequest>,
        base: Option<&ChangeRequestRule>,
    ) -> ChangeRequestRule {
        let r = raw.get_ref();
        let origin = self.origin(&raw.span());
        let required = self.flag(
            &r.required,
            "required",
            true,
            base.map(|b| (b.required, &b.origin)),
            true,
        );
        let pattern = match &r.pattern {
            None => base.and_then(|b| b.pattern.clone()),
            Some(p) => match regex::Regex::new(&format!("^(?:{})$", p.get_ref())) {
                Ok(re) => Some((p.get_ref().clone(), re)),
                Err(e) => {
                    self.err(
                        &p.span(),
                        format!("change request pattern is not a valid regular expression: {e}"),
                    );
                    None
                }
            },
        };
        ChangeRequestRule {
            origin,
            required,
            pattern,
        }
    }

    fn window(&mut self, raw: &S<RawWindow>, base: &[Window]) -> Option<Window> {
        let r = raw.get_ref();
        let mut days = [false; 7];
        for d in r.days.get_ref() {
            match parse_days(d.get_ref()) {
                Some(ds) => ds.into_iter().for_each(|i| days[i] = true),
                None => self.err(
                    &d.span(),
                    format!(
                        "day {:?}: expected mon, tue, …, sun or a range like mon-fri",
                        d.get_ref()
                    ),
                ),
            }
        }
        if r.days.get_ref().is_empty() {
            self.err(&r.days.span(), "a window needs at least one day");
        }
        let start = parse_hm(r.start.get_ref(), false);
        let end = parse_hm(r.end.get_ref(), true);
        if start.is_none() {
            self.err(
                &r.start.span(),
                format!(
                    "start {:?}: expected HH:MM (00:00-23:59)",
                    r.start.get_ref()
                ),
            );
        }
        if end.is_none() {
            self.err(
                &r.end.span(),
                format!("end {:?}: expected HH:MM (00:01-24:00)", r.end.get_ref()),
            );
        }
        let (start, end) = (start?, end?);
        if start >= end {
            self.err(
                &r.end.span(),
                "a window ends after it starts (write an overnight window as two windows)",
            );
            return None;
        }
        let w = Window {
            origin: self.origin(&raw.span()),
            days,
            start,
            end,
        };
        if !base.is_empty() {
            let inside = (0..7).filter(|&d| w.days[d]).all(|d| {
                base.iter()
                    .any(|b| b.days[d] && b.start <= w.start && w.end <= b.end)
            });
            if !inside {
                self.loosen(
                    &raw.span(),
                    &base[0].origin,
                    "this window is not inside the base's windows",
                );
            }
        }
        Some(w)
    }

    fn freeze(&mut self, raw: &S<RawFreeze>) -> Option<Freeze> {
        let r = raw.get_ref();
        let from = parse_when(r.from.get_ref(), false);
        let until = parse_when(r.until.get_ref(), true);
        if from.is_none() {
            self.err(
                &r.from.span(),
                format!(
                    "from {:?}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM",
                    r.from.get_ref()
                ),
            );
        }
        if until.is_none() {
            self.err(
                &r.until.span(),
                format!(
                    "until {:?}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM",
                    r.until.get_ref()
                ),
            );
        }
        if r.reason.get_ref().trim().is_empty() {
            self.err(&r.reason.span(), "a freeze needs a reason");
        }
        let (from, until) = (from?, until?);
        if from >= until {
            self.err(&r.until.span(), "a freeze ends after it starts");
            return None;
        }
        Some(Freeze {
            origin: self.origin(&raw.span()),
            from,
            until,
            reason: r.reason.get_ref().clone(),
        })
    }

    fn condition(
        &mut self,
        raw: &S<RawCondition>,
        names: &mut BTreeSet<String>,
    ) -> Option<Condition> {
        let r = raw.get_ref();
        let name = r.name.get_ref();
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            self.err(
                &r.name.span(),
                format!("condition name {name:?}: use lower-case letters, digits and '-'"),
            );
        } else if !names.insert(name.clone()) {
            self.err(
                &r.name.span(),
                format!("condition {name:?} is defined twice here"),
            );
        }
        match condition::compile(r.expr.get_ref()) {
            Ok(program) => Some(Condition {
                origin: self.origin(&raw.span()),
                name: name.clone(),
                expr: r.expr.get_ref().clone(),
                message: r.message.as_ref().map(|m| m.get_ref().clone()),
                program,
            }),
            Err(e) => {
                self.err(&r.expr.span(), format!("CEL: {e}"));
                None
            }
        }
    }
}

/// Result kinds, checklist items, regions: short kebab-case names.
fn is_kind_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `90s`, `30m`, `24h`, `2d` (a whole number and one unit) as seconds.
pub(crate) fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn day_index(s: &str) -> Option<usize> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| *d == s.trim().to_ascii_lowercase())
}

fn parse_days(s: &str) -> Option<Vec<usize>> {
    match s.split_once('-') {
        None => day_index(s).map(|d| vec![d]),
        Some((a, b)) => {
            let (a, b) = (day_index(a)?, day_index(b)?);
            (a <= b).then(|| (a..=b).collect())
        }
    }
}

/// Minutes after midnight; `24:00` only as an end.
fn parse_hm(s: &str, end: bool) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let t = h * 60 + m;
    let ok = m < 60
        && if end {
            (1..=1440).contains(&t)
        } else {
            t < 1440
        };
    ok.then_some(t)
}

/// A date (the start of that day, or the start of the next one when it ends a range: dates
/// are inclusive) or a local date and time.
fn parse_when(s: &str, end: bool) -> Option<NaiveDateTime> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end {
            d.checked_add_signed(Duration::days(1))?
        } else {
            d
        };
        return Some(d.and_time(NaiveTime::MIN));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").ok()
}
