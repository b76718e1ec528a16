//! `evaluate(&Policy, &Facts, now) -> Decision`: pure, no clock, no I/O.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use tollgate_attest::{Digest, Provenance, Signer};
use tollgate_sbom::{Outcome, Severity};

use super::condition::Bindings;
use super::facts::{Facts, parse_semver};
use super::model::*;
use crate::{ReasonCode, Role};

/// What a promotion may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    /// Everything passes except approvals still missing or dependencies not yet in the
    /// target environment.
    Pending,
}

/// How one rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleStatus {
    Pass,
    Fail,
    /// Recorded, not blocking: warn mode, unknown licences under `unknown = "warn"`,
    /// discarded approvals, a used break-glass.
    Warn,
    /// Failed, but an authorised emergency promotion bypassed it.
    Bypassed,
    NotApplicable,
}

/// One rule's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule kind, or `conditions/NAME` for a custom condition.
    pub rule: String,
    pub kind: RuleKind,
    pub status: RuleStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    pub message: String,
    /// `file:line` of the rule in the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The answer to a promotion request: stored, and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub mode: Mode,
    pub environment: String,
    pub repository: String,
    pub artifact: Digest,
    /// The digest of the policy that decided ([`Policy::digest`]).
    pub policy_digest: Digest,
    pub evaluated_at: DateTime<Utc>,
    /// Reason codes of every rule that failed, warned or was bypassed, each once, in rule
    /// order.
    pub reasons: Vec<ReasonCode>,
    pub rules: Vec<RuleOutcome>,
    pub emergency: bool,
    /// An authorised emergency promotion went through: a post-mortem is owed.
    pub post_mortem_required: bool,
    /// When the artifact has soaked long enough, if the soak time is not met yet: until then
    /// no new fact can pass the soak rule, so waiting promotions need no new decision before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_until: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Out {
    rules: Vec<RuleOutcome>,
    /// The latest end of a soak not yet over.
    soak_until: Option<DateTime<Utc>>,
}

impl Out {
    fn push(
        &mut self,
        kind: RuleKind,
        status: RuleStatus,
        reason: Option<ReasonCode>,
        message: impl Into<String>,
        origin: Option<&Origin>,
    ) {
        self.rules.push(RuleOutcome {
            rule: kind.as_str().to_string(),
            kind,
            status,
            reason,
            message: message.into(),
            source: origin.map(ToString::to_string),
        });
    }
    fn pass(&mut self, kind: RuleKind, message: impl Into<String>, origin: &Origin) {
        self.push(kind, RuleStatus::Pass, None, message, Some(origin));
    }
    fn fail(
        &mut self,
        kind: RuleKind,
        reason: ReasonCode,
        message: impl Into<String>,
        origin: &Origin,
    ) {
        self.push(kind, RuleStatus::Fail, Some(reason), message, Some(origin));
    }
    fn na(&mut self, kind: RuleKind, message: impl Into<String>, origin: &Origin) {
        self.push(kind, RuleStatus::NotApplicable, None, message, Some(origin));
    }
}

/// Judges a promotion. Pure: `now` is the only time it knows; the same arguments always give
/// the same decision.
pub fn evaluate(policy: &Policy, facts: &Facts, now: DateTime<Utc>) -> Decision {
    let mut out = Out::default();
    let env_name = &facts.promotion.to;
    let repo = &facts.artifact.repository;
    let mut decision = Decision {
        verdict: Verdict::Deny,
        mode: Mode::Enforce,
        environment: env_name.clone(),
        repository: repo.clone(),
        artifact: facts.artifact.digest.clone(),
        policy_digest: policy.digest().clone(),
        evaluated_at: now,
        reasons: Vec::new(),
        rules: Vec::new(),
        emergency: facts.promotion.emergency,
        post_mortem_required: false,
        soak_until: None,
    };
    let Some(env) = policy.environment(env_name) else {
        out.push(
            RuleKind::Environment,
            RuleStatus::Fail,
            Some(ReasonCode::EnvironmentUnknown),
            format!("the policy defines no environment {env_name:?}"),
            None,
        );
        decision.rules = out.rules;
        decision.reasons = vec![ReasonCode::EnvironmentUnknown];
        return decision;
    };
    let sets: Vec<&RuleSet> = env.applicable(repo).collect();
    decision.mode = if sets.iter().any(|s| s.mode == Some(Mode::Enforce)) {
        Mode::Enforce
    } else {
        Mode::Warn
    };
    let local = now.with_timezone(&env.timezone);
    let bindings = sets
        .iter()
        .any(|s| !s.conditions.is_empty())
        .then(|| Bindings::new(facts, now));
    for set in &sets {
        eval_set(
            set,
            facts,
            env.timezone,
            &local.naive_local(),
            bindings.as_ref(),
            &mut out,
        );
        if let Some(r) = &set.verification {
            verification(r, facts, now, &mut out);
        }
        if let Some(r) = &set.checklist {
            checklist(r, facts, &mut out);
        }
        if let Some(r) = &set.residency {
            residency(r, facts, &mut out);
        }
    }

    dependencies(facts, &mut out);

    if facts.promotion.emergency {
        decision.post_mortem_required = breakglass(&sets, facts, &mut out);
    }

    let failing: Vec<&RuleOutcome> = out
        .rules
        .iter()
        .filter(|o| o.status == RuleStatus::Fail)
        .collect();
    decision.verdict = if failing.is_empty() {
        Verdict::Allow
    } else if failing.iter().all(|o| o.kind.waits(o.reason)) {
        Verdict::Pending
    } else {
        Verdict::Deny
    };
    if decision.mode == Mode::Warn && decision.verdict != Verdict::Allow {
        let was = decision.verdict;
        for o in &mut out.rules {
            if o.status == RuleStatus::Fail {
                o.status = RuleStatus::Warn;
            }
        }
        out.push(
            RuleKind::Environment,
            RuleStatus::Warn,
            Some(ReasonCode::PolicyWarnOnly),
            format!(
                "{env_name} is in warn mode: allowed, though enforcing would have given {}",
                match was {
                    Verdict::Deny => "deny",
                    _ => "pending",
                }
            ),
            sets.first().and_then(|s| s.origin.as_ref()),
        );
        decision.verdict = Verdict::Allow;
    }
    let mut seen = HashSet::new();
    decision.reasons = out
        .rules
        .iter()
        .filter(|o| {
            matches!(
                o.status,
                RuleStatus::Fail | RuleStatus::Warn | RuleStatus::Bypassed
            )
        })
        .filter_map(|o| o.reason)
        .filter(|r| seen.insert(*r))
        .collect();
    decision.rules = out.rules;
    decision.soak_until = out
        .soak_until
        .filter(|_| decision.reasons.contains(&ReasonCode::SoakTimeNotMet));
    decision
}

/// Checks an emergency promotion and applies its bypasses; whether a post-mortem is owed.
fn breakglass(sets: &[&RuleSet], facts: &Facts, out: &mut Out) -> bool {
    let p = &facts.promotion;
    let bgs: Vec<&Breakglass> = sets.iter().filter_map(|s| s.breakglass.as_ref()).collect();
    let origin = bgs.first().map(|b| b.origin.clone());
    let enabled = bgs.iter().all(|b| b.enabled);
    let require_justification = bgs.iter().any(|b| b.require_justification);
    let mut bypass: BTreeSet<RuleKind> = RuleKind::ALL.into_iter().collect();
    for b in &bgs {
        bypass.retain(|k| b.bypass.contains(k));
    }
    let target_repo = format!("{}/{}", p.to, facts.artifact.repository);
    let holder = p.requester_roles.iter().any(|g| {
        g.role == Role::Breakglass
            && (g.repositories.matches(&facts.artifact.repository)
                || g.repositories.matches(&target_repo))
    });
    let fail = |out: &mut Out, reason, msg: String| {
        out.push(
            RuleKind::Breakglass,
            RuleStatus::Fail,
            Some(reason),
            msg,
            origin.as_ref(),
        );
        false
    };
    if !enabled {
        return fail(
            out,
            ReasonCode::BreakglassNotPermitted,
            format!("the policy allows no emergency promotions into {}", p.to),
        );
    }
    if !holder {
        return fail(
            out,
            ReasonCode::BreakglassNotPermitted,
            format!(
                "{} does not hold the breakglass role for {}",
                p.requester, facts.artifact.repository
            ),
        );
    }
    let justified = p
        .justification
        .as_deref()
        .is_some_and(|j| !j.trim().is_empty());
    if require_justification && !justified {
        return fail(
            out,
            ReasonCode::JustificationMissing,
            "an emergency promotion needs a justification".into(),
        );
    }
    let mut bypassed = Vec::new();
    for o in &mut out.rules {
        if o.status == RuleStatus::Fail && bypass.contains(&o.kind) {
            o.status = RuleStatus::Bypassed;
            bypassed.push(o.rule.clone());
        }
    }
    bypassed.dedup();
    out.push(
        RuleKind::Breakglass,
        RuleStatus::Warn,
        Some(ReasonCode::BreakglassUsed),
        format!(
            "emergency promotion by {}{}; a post-mortem is owed",
            p.requester,
            if bypassed.is_empty() {
                String::new()
            } else {
                format!(" bypassed {}", bypassed.join(", "))
            }
        ),
        origin.as_ref(),
    );
    true
}

fn eval_set(
    set: &RuleSet,
    facts: &Facts,
    tz: Tz,
    local: &NaiveDateTime,
    bindings: Option<&Result<Bindings, String>>,
    out: &mut Out,
) {
    let p = &facts.promotion;
    if let Some(from) = &set.from {
        match &p.from {
            Some(f) if from.value.contains(f) => {
                out.pass(RuleKind::Source, format!("from {f}"), &from.origin);
            }
            other => out.fail(
                RuleKind::Source,
                ReasonCode::PromotionSourceNotAllowed,
                format!(
                    "promotions into {} come from {}; this one comes from {}",
                    p.to,
                    from.value.join(" or "),
                    other.as_deref().unwrap_or("no environment")
                ),
                &from.origin,
            ),
        }
    }
    if let Some(max) = &set.max_in_flight {
        if facts.in_flight >= max.value {
            out.fail(
                RuleKind::InFlight,
                ReasonCode::PromotionsInFlight,
                format!(
                    "{} promotions to {} in flight (at most {})",
                    facts.in_flight, p.to, max.value
                ),
                &max.origin,
            );
        } else {
            out.pass(
                RuleKind::InFlight,
                format!("{} in flight", facts.in_flight),
                &max.origin,
            );
        }
    }
    if let Some(r) = &set.signatures {
        signatures(r, facts, out);
    }
    if let Some(r) = &set.provenance {
        provenance(r, facts, out);
    }
    if let Some(r) = &set.sbom {
        sbom(r, facts, out);
    }
    if let Some(r) = &set.vulnerabilities {
        vulnerabilities(r, facts, out);
    }
    if let Some(r) = &set.version {
        version(r, facts, out);
    }
    if let Some(r) = &set.approvals {
        approvals(r, facts, out);
    }
    if let Some(r) = &set.change_request {
        let cr = p
            .change_request
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match (cr, &r.pattern) {
            (None, _) if r.required => out.fail(
                RuleKind::ChangeRequest,
                ReasonCode::ChangeRequestMissing,
                "the promotion names no change request",
                &r.origin,
            ),
            (None, _) => out.na(
                RuleKind::ChangeRequest,
                "no change request, none required",
                &r.origin,
            ),
            (Some(id), Some((text, re))) if !re.is_match(id) => out.fail(
                RuleKind::ChangeRequest,
                ReasonCode::ChangeRequestInvalid,
                format!("change request {id:?} does not match {text}"),
                &r.origin,
            ),
            (Some(id), _) => out.pass(
                RuleKind::ChangeRequest,
                format!("change request {id}"),
                &r.origin,
            ),
        }
    }
    if let Some(first) = set.windows.first() {
        let day = local.weekday().num_days_from_monday() as usize;
        let minute = local.hour() * 60 + local.minute();
        let when = format!(
            "{} {} {}",
            local.format("%a"),
            local.format("%H:%M"),
            tz.name()
        );
        if set
            .windows
            .iter()
            .any(|w| w.days[day] && w.start <= minute && minute < w.end)
        {
            out.pass(
                RuleKind::Windows,
                format!("inside a deployment window ({when})"),
                &first.origin,
            );
        } else {
            out.fail(
                RuleKind::Windows,
                ReasonCode::WindowClosed,
                format!("outside every deployment window ({when})"),
                &first.origin,
            );
        }
    }
    let mut frozen = false;
    for f in &set.freezes {
        if f.from <= *local && *local < f.until {
            frozen = true;
            out.fail(
                RuleKind::Freezes,
                ReasonCode::ChangeFreeze,
                format!(
                    "change freeze until {} {}: {}",
                    f.until.format("%Y-%m-%d %H:%M"),
                    tz.name(),
                    f.reason
                ),
                &f.origin,
            );
        }
    }
    if !frozen && let Some(f) = set.freezes.first() {
        out.pass(RuleKind::Freezes, "no change freeze now", &f.origin);
    }
    for c in &set.conditions {
        let rule = format!("conditions/{}", c.name);
        let result = bindings.map(|b| match b {
            Ok(b) => b.run(&c.program),
            Err(e) => Err(e.clone()),
        });
        let (status, reason, message) = match result {
            Some(Ok(true)) => (RuleStatus::Pass, None, c.expr.clone()),
            Some(Ok(false)) => (
                RuleStatus::Fail,
                Some(ReasonCode::ConditionFailed),
                c.message
                    .clone()
                    .unwrap_or_else(|| format!("{} is false", c.expr)),
            ),
            Some(Err(e)) => (
                RuleStatus::Fail,
                Some(ReasonCode::ConditionError),
                format!("{} could not be evaluated: {e}", c.expr),
            ),
            None => (
                RuleStatus::Fail,
                Some(ReasonCode::ConditionError),
                "facts were not prepared for conditions".into(),
            ),
        };
        out.rules.push(RuleOutcome {
            rule,
            kind: RuleKind::Conditions,
            status,
            reason,
            message,
            source: Some(c.origin.to_string()),
        });
    }
}

fn signer_name(s: &Signer) -> String {
    match s {
        Signer::Key { name } => format!("key {name}"),
        Signer::Identity { subject, issuer } => format!("{subject} ({issuer})"),
    }
}

fn signatures(r: &Signatures, facts: &Facts, out: &mut Out) {
    if !r.required {
        out.na(RuleKind::Signatures, "signatures not required", &r.origin);
        return;
    }
    let any = r.keys.is_empty() && r.identities.is_empty();
    let trusted = |s: &Signer| {
        any || match s {
            Signer::Key { name } => r.keys.contains(name),
            Signer::Identity { subject, issuer } => r
                .identities
                .iter()
                .any(|i| i.issuer == *issuer && i.subject.matches(subject)),
        }
    };
    let mut good: Vec<&Signer> = Vec::new();
    let mut untrusted: Vec<&Signer> = Vec::new();
    for e in &facts.evidence {
        let v = &e.verdict;
        let Some(s) = v
            .signer
            .as_ref()
            .filter(|_| v.verified && v.predicate_type.is_none())
        else {
            continue;
        };
        let list = if trusted(s) {
            &mut good
        } else {
            &mut untrusted
        };
        if !list.contains(&s) {
            list.push(s);
        }
    }
    if good.is_empty() {
        if let Some(s) = untrusted.first() {
            out.fail(
                RuleKind::Signatures,
                ReasonCode::SignerUntrusted,
                format!(
                    "signed only by signers this environment does not trust: {}",
                    signer_name(s)
                ),
                &r.origin,
            );
        } else {
            out.fail(
                RuleKind::Signatures,
                ReasonCode::SignatureMissing,
                "no verified signature",
                &r.origin,
            );
        }
    } else if (good.len() as u64) < u64::from(r.min) {
        out.fail(
            RuleKind::Signatures,
            ReasonCode::SignaturesInsufficient,
            format!("{} trusted signer(s), {} needed", good.len(), r.min),
            &r.origin,
        );
    } else {
        let names: Vec<String> = good.iter().map(|s| signer_name(s)).collect();
        out.pass(
            RuleKind::Signatures,
            format!("signed by {}", names.join(", ")),
            &r.origin,
        );
    }
}

fn matches_source(p: &crate::Pattern, uri: &str) -> bool {
    p.matches(uri) || p.matches(uri.strip_prefix("git+").unwrap_or(uri))
}

fn provenance_problems(r: &ProvenanceRule, p: &Provenance) -> Vec<(ReasonCode, String)> {
    let mut problems = Vec::new();
    if !r.builders.is_empty() && !r.builders.iter().any(|b| b.matches(&p.builder_id)) {
        problems.push((
            ReasonCode::ProvenanceBuilderUntrusted,
            format!("builder {} is not allowed", p.builder_id),
        ));
    }
    if !r.sources.is_empty() {
        match &p.source_uri {
            Some(u) if r.sources.iter().any(|s| matches_source(s, u)) => {}
            other => problems.push((
                ReasonCode::ProvenanceSourceMismatch,
                format!(
                    "source {} is not allowed",
                    other.as_deref().unwrap_or("(none)")
                ),
            )),
        }
    }
    if !r.refs.is_empty() {
        match &p.source_ref {
            Some(x) if r.refs.iter().any(|s| s.matches(x)) => {}
            other => problems.push((
                ReasonCode::ProvenanceRefNotAllowed,
                format!(
                    "ref {} is not allowed",
                    other.as_deref().unwrap_or("(none)")
                ),
            )),
        }
    }
    if r.require_commit && p.source_commit.as_deref().is_none_or(str::is_empty) {
        problems.push((
            ReasonCode::ProvenanceCommitMissing,
            "no source commit".into(),
        ));
    }
    problems
}

fn provenance(r: &ProvenanceRule, facts: &Facts, out: &mut Out) {
    let provs: Vec<&Provenance> = facts
        .evidence
        .iter()
        .filter(|e| e.verdict.verified)
        .filter_map(|e| e.verdict.provenance.as_ref())
        .collect();
    if provs.is_empty() {
        if r.required {
            out.fail(
                RuleKind::Provenance,
                ReasonCode::ProvenanceMissing,
                "no verified provenance",
                &r.origin,
            );
        } else {
            out.na(
                RuleKind::Provenance,
                "no provenance, none required",
                &r.origin,
            );
        }
        return;
    }
    let mut first_problems = None;
    for p in &provs {
        let problems = provenance_problems(r, p);
        if problems.is_empty() {
            out.pass(
                RuleKind::Provenance,
                format!(
                    "built by {} from {}{}",
                    p.builder_id,
                    p.source_uri.as_deref().unwrap_or("(unknown source)"),
                    p.source_ref
                        .as_deref()
                        .map(|r| format!("@{r}"))
                        .unwrap_or_default()
                ),
                &r.origin,
            );
            return;
        }
        first_problems.get_or_insert(problems);
    }
    let problems = first_problems.unwrap_or_default();
    let msg: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
    out.fail(
        RuleKind::Provenance,
        problems
            .first()
            .map_or(ReasonCode::ProvenanceMissing, |p| p.0),
        msg.join("; "),
        &r.origin,
    );
}

fn sbom(r: &SbomRule, facts: &Facts, out: &mut Out) {
    if facts.sboms.is_empty() {
        if r.required {
            out.fail(
                RuleKind::Sbom,
                ReasonCode::SbomMissing,
                "no SBOM attached",
                &r.origin,
            );
        } else {
            out.na(RuleKind::Sbom, "no SBOM, none required", &r.origin);
        }
        if let Some(l) = &r.licenses {
            out.na(RuleKind::Licenses, "no SBOM to judge", &l.origin);
        }
        return;
    }
    let components: usize = facts.sboms.iter().map(|s| s.components.len()).sum();
    out.pass(
        RuleKind::Sbom,
        format!("{} SBOM(s), {components} component(s)", facts.sboms.len()),
        &r.origin,
    );
    let Some(l) = &r.licenses else { return };
    let (mut denied, mut unknown_fail, mut warned) = (Vec::new(), Vec::new(), Vec::new());
    for c in facts.sboms.iter().flat_map(|s| &s.components) {
        let v = l.value.evaluate(&c.license_info());
        let line = format!("{} ({})", c.name, v.detail);
        match (v.outcome, v.reason) {
            (Outcome::Fail, Some(tollgate_sbom::REASON_DENIED)) => denied.push(line),
            (Outcome::Fail, _) => unknown_fail.push(line),
            (Outcome::Warn, _) => warned.push(line),
            (Outcome::Pass, _) => {}
        }
    }
    let list = |v: &[String]| {
        let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
        if v.len() > 5 {
            s.push_str(&format!("; and {} more", v.len() - 5));
        }
        s
    };
    if !denied.is_empty() {
        out.fail(
            RuleKind::Licenses,
            ReasonCode::LicenseDenied,
            list(&denied),
            &l.origin,
        );
    }
    if !unknown_fail.is_empty() {
        out.fail(
            RuleKind::Licenses,
            ReasonCode::LicenseUnknown,
            list(&unknown_fail),
            &l.origin,
        );
    }
    if denied.is_empty() && unknown_fail.is_empty() {
        if warned.is_empty() {
            out.pass(
                RuleKind::Licenses,
                format!("{components} component(s) pass"),
                &l.origin,
            );
        } else {
            out.push(
                RuleKind::Licenses,
                RuleStatus::Warn,
                Some(ReasonCode::LicenseUnknown),
                list(&warned),
                Some(&l.origin),
            );
        }
    }
}

fn vulnerabilities(r: &VulnRule, facts: &Facts, out: &mut Out) {
    if facts.vulnerability_reports.is_empty() {
        if r.required {
            out.fail(
                RuleKind::Vulnerabilities,
                ReasonCode::VulnerabilityReportMissing,
                "no vulnerability report attached",
                &r.origin,
            );
        } else {
            out.na(
                RuleKind::Vulnerabilities,
                "no vulnerability report, none required",
                &r.origin,
            );
        }
        return;
    }
    let mut seen = HashSet::new();
    let mut counts: BTreeMap<Severity, u32> = BTreeMap::new();
    for v in facts
        .vulnerability_reports
        .iter()
        .flat_map(|r| &r.vulnerabilities)
    {
        if v.suppressed || r.ignore.contains(&v.id) || !seen.insert((&v.id, &v.package)) {
            continue;
        }
        *counts.entry(v.severity).or_default() += 1;
    }
    let over: Vec<String> = r
        .max
        .iter()
        .rev()
        .filter_map(|(sev, max)| {
            let n = counts.get(sev).copied().unwrap_or(0);
            (n > *max).then(|| format!("{n} {sev} (at most {max})"))
        })
        .collect();
    if over.is_empty() {
        let total: u32 = counts.values().sum();
        out.pass(
            RuleKind::Vulnerabilities,
            format!("{total} finding(s) within thresholds"),
            &r.origin,
        );
    } else {
        out.fail(
            RuleKind::Vulnerabilities,
            ReasonCode::VulnerabilitiesExceedThreshold,
            over.join(", "),
            &r.origin,
        );
    }
}

fn version(r: &VersionRule, facts: &Facts, out: &mut Out) {
    let needs = r.semver || !r.prerelease || r.increase;
    if !needs {
        return;
    }
    let tag = facts.artifact.tag.as_deref().unwrap_or("");
    let Some(v) = facts.semver() else {
        out.fail(
            RuleKind::Version,
            ReasonCode::TagNotSemver,
            format!("tag {tag:?} is not a SemVer version"),
            &r.origin,
        );
        return;
    };
    if !r.prerelease {
        if v.pre.is_empty() {
            out.pass(RuleKind::Version, format!("{v} is a release"), &r.origin);
        } else {
            out.fail(
                RuleKind::Version,
                ReasonCode::VersionPrerelease,
                format!("{v} is a pre-release"),
                &r.origin,
            );
        }
    }
    if r.increase {
        let current = facts.current_version.as_deref();
        match current.and_then(parse_semver) {
            _ if facts.promotion.rollback => out.na(
                RuleKind::Version,
                format!("rollback to {v}: the version need not increase"),
                &r.origin,
            ),
            None => out.pass(
                RuleKind::Version,
                match current {
                    None => format!("{v} is the first release here"),
                    Some(c) => format!("current {c:?} is not SemVer; {v} accepted"),
                },
                &r.origin,
            ),
            Some(c) if v > c => out.pass(RuleKind::Version, format!("{v} > {c}"), &r.origin),
            Some(c) => out.fail(
                RuleKind::Version,
                ReasonCode::VersionNotNewer,
                format!("{v} does not exceed the current {c}"),
                &r.origin,
            ),
        }
    }
    if r.semver && r.prerelease && !r.increase {
        out.pass(RuleKind::Version, format!("{v} is SemVer"), &r.origin);
    }
}

fn approvals(r: &Approvals, facts: &Facts, out: &mut Out) {
    let pusher = facts.artifact.pushed_by.as_deref();
    let requester = facts.promotion.requester.as_str();
    let mut discarded = Vec::new();
    let mut have: BTreeMap<_, BTreeSet<&str>> = BTreeMap::new();
    for a in &facts.approvals {
        if r.separation_of_duties {
            let role = if Some(a.by.as_str()) == pusher {
                Some("pushed the artifact")
            } else if a.by == requester {
                Some("requested the promotion")
            } else {
                None
            };
            if let Some(role) = role {
                discarded.push(format!("{} ({} approval; {role})", a.by, a.group));
                continue;
            }
        }
        have.entry(a.group).or_default().insert(a.by.as_str());
    }
    if r.separation_of_duties {
        if discarded.is_empty() {
            out.pass(
                RuleKind::SeparationOfDuties,
                "no approval by the pusher or the requester",
                &r.origin,
            );
        } else {
            out.push(
                RuleKind::SeparationOfDuties,
                RuleStatus::Warn,
                Some(ReasonCode::SeparationOfDuties),
                format!("not counted: {}", discarded.join(", ")),
                Some(&r.origin),
            );
        }
    }
    let missing: Vec<String> = r
        .need
        .iter()
        .filter_map(|(g, need)| {
            let n = have.get(g).map_or(0, |s| s.len()) as u32;
            (n < *need).then(|| format!("{g} {n}/{need}"))
        })
        .collect();
    if missing.is_empty() {
        let got: Vec<String> = r
            .need
            .iter()
            .map(|(g, n)| format!("{g} {}/{n}", have.get(g).map_or(0, |s| s.len())))
            .collect();
        out.pass(
            RuleKind::Approvals,
            if got.is_empty() {
                "no approvals needed".to_string()
            } else {
                got.join(", ")
            },
            &r.origin,
        );
    } else {
        out.fail(
            RuleKind::Approvals,
            ReasonCode::ApprovalsMissing,
            format!("approvals missing: {}", missing.join(", ")),
            &r.origin,
        );
    }
}

/// Verification results recorded in the environment the promotion comes from, and the soak
/// time there. For each kind the latest result decides: a re-run that passes replaces a
/// failure, and a later failure withdraws a pass.
fn verification(r: &VerificationRule, facts: &Facts, now: DateTime<Utc>, out: &mut Out) {
    let from = facts.promotion.from.as_deref();
    let counted = |v: &&super::facts::VerificationFacts| {
        Some(v.environment.as_str()) == from && (!r.signed || v.signer.is_some())
    };
    let latest = |kind: &str| {
        facts
            .verifications
            .iter()
            .filter(|v| v.kind == kind)
            .filter(counted)
            .max_by_key(|v| v.at)
    };
    let unsigned_note = |kind: &str| {
        let ignored = r.signed
            && facts.verifications.iter().any(|v| {
                v.kind == kind && Some(v.environment.as_str()) == from && v.signer.is_none()
            });
        if ignored {
            " (unsigned results do not count)"
        } else {
            ""
        }
    };
    let place = from.unwrap_or("the environment it comes from");
    let mut failed = Vec::new();
    let mut missing = Vec::new();
    let mut passed = Vec::new();
    for kind in &r.require {
        match latest(kind) {
            None => missing.push(format!(
                "no {kind} result in {place}{}",
                unsigned_note(kind)
            )),
            Some(v) if !v.result.passes() => failed.push(format!(
                "{kind} {} in {place} ({} by {})",
                v.result.as_str(),
                v.at.format("%Y-%m-%d %H:%M UTC"),
                v.signer.as_deref().unwrap_or(&v.recorded_by)
            )),
            Some(v) => passed.push(format!("{kind} {}", v.result.as_str())),
        }
    }
    if !r.criteria.is_empty() {
        match latest(SUCCESS_CRITERIA) {
            None => missing.push(format!(
                "no {SUCCESS_CRITERIA} result in {place}{}",
                unsigned_note(SUCCESS_CRITERIA)
            )),
            Some(v) => {
                let mut bad = Vec::new();
                for (metric, t) in &r.criteria {
                    match v.metrics.get(metric) {
                        None => missing.push(format!(
                            "{SUCCESS_CRITERIA} in {place} does not measure {metric}"
                        )),
                        Some(x) if !t.admits(*x) => bad.push(format!("{metric} {x} (must be {t})")),
                        Some(x) => passed.push(format!("{metric} {x}")),
                    }
                }
                if !v.result.passes() {
                    bad.push(format!("the result itself is {}", v.result.as_str()));
                }
                if !bad.is_empty() {
                    failed.push(format!("{SUCCESS_CRITERIA} in {place}: {}", bad.join(", ")));
                }
            }
        }
    }
    if !r.require.is_empty() || !r.criteria.is_empty() {
        if !failed.is_empty() {
            let mut msg = failed.join("; ");
            if !missing.is_empty() {
                msg = format!("{msg}; {}", missing.join("; "));
            }
            out.fail(
                RuleKind::Verification,
                ReasonCode::VerificationFailed,
                msg,
                &r.origin,
            );
        } else if !missing.is_empty() {
            out.fail(
                RuleKind::Verification,
                ReasonCode::VerificationMissing,
                missing.join("; "),
                &r.origin,
            );
        } else {
            out.pass(
                RuleKind::Verification,
                format!("in {place}: {}", passed.join(", ")),
                &r.origin,
            );
        }
    }
    if let Some(soak) = r.soak_secs {
        let need = chrono::Duration::seconds(i64::try_from(soak).unwrap_or(i64::MAX));
        match facts.arrived_at {
            None => out.fail(
                RuleKind::Soak,
                ReasonCode::SoakTimeNotMet,
                format!("the artifact has not arrived in {place}, so it has soaked there for no time (needs {})", human(soak)),
                &r.origin,
            ),
            Some(at) if now - at < need => {
                let left = (at + need - now).num_seconds().max(0) as u64;
                out.soak_until = out.soak_until.max(Some(at + need));
                out.fail(
                    RuleKind::Soak,
                    ReasonCode::SoakTimeNotMet,
                    format!(
                        "in {place} since {} ({} ago); it must soak {}: {} left, until {}",
                        at.format("%Y-%m-%d %H:%M:%S UTC"),
                        human((now - at).num_seconds().max(0) as u64),
                        human(soak),
                        human(left),
                        (at + need).format("%Y-%m-%d %H:%M:%S UTC"),
                    ),
                    &r.origin,
                );
            }
            Some(at) => out.pass(
                RuleKind::Soak,
                format!(
                    "in {place} since {} ({}; needs {})",
                    at.format("%Y-%m-%d %H:%M:%S UTC"),
                    human((now - at).num_seconds().max(0) as u64),
                    human(soak)
                ),
                &r.origin,
            ),
        }
    }
}

/// `1d 2h`, `35m`, `20s`: a duration for people.
pub(crate) fn human(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.into_iter().take(2).collect::<Vec<_>>().join(" ")
    }
}

/// Every item confirmed by someone who held its role when confirming. Confirmations by
/// anyone else are named, so the person who clicked sees why it did not count.
fn checklist(r: &ChecklistRule, facts: &Facts, out: &mut Out) {
    let mut open = Vec::new();
    let mut done = Vec::new();
    for item in &r.items {
        let mine: Vec<_> = facts
            .checklist
            .iter()
            .filter(|c| c.item == item.name)
            .collect();
        match mine.iter().find(|c| c.roles.contains(&item.role)) {
            Some(c) => done.push(format!("{} by {}", item.name, c.by)),
            None => {
                let wrong: Vec<String> = mine
                    .iter()
                    .map(|c| format!("{} (holds no approver({}))", c.by, item.role))
                    .collect();
                open.push(if wrong.is_empty() {
                    format!("{} (needs {})", item.name, item.role)
                } else {
                    format!(
                        "{} (needs {}; not counted: {})",
                        item.name,
                        item.role,
                        wrong.join(", ")
                    )
                });
            }
        }
    }
    if open.is_empty() {
        out.pass(
            RuleKind::Checklist,
            format!("confirmed: {}", done.join(", ")),
            &r.origin,
        );
    } else {
        out.fail(
            RuleKind::Checklist,
            ReasonCode::ChecklistIncomplete,
            format!("not confirmed: {}", open.join("; ")),
            &r.origin,
        );
    }
}

fn residency(r: &ResidencyRule, facts: &Facts, out: &mut Out) {
    let repo = &facts.artifact.repository;
    if let Some(p) = r.deny.iter().find(|p| p.matches(repo)) {
        out.fail(
            RuleKind::Residency,
            ReasonCode::ResidencyDenied,
            format!("{repo} is barred from region {} ({p})", r.region),
            &r.origin,
        );
        return;
    }
    match &facts.artifact.residency {
        Some(regions) if !regions.contains(&r.region) => out.fail(
            RuleKind::Residency,
            ReasonCode::ResidencyDenied,
            format!(
                "the artifact may run only in {} (dev.tollgate.residency), not in {}",
                regions.join(", "),
                r.region
            ),
            &r.origin,
        ),
        Some(_) => out.pass(
            RuleKind::Residency,
            format!("declared for region {}", r.region),
            &r.origin,
        ),
        None => out.pass(
            RuleKind::Residency,
            format!("not barred from region {}", r.region),
            &r.origin,
        ),
    }
}

/// One outcome per dependency of the promoted repository (from the gateway's configuration,
/// not the policy): pass when the target environment runs a satisfying version, else fail with
/// `dependency-not-ready`, which leaves the verdict `pending` rather than `deny`.
fn dependencies(facts: &Facts, out: &mut Out) {
    let env = &facts.promotion.to;
    for d in &facts.dependencies {
        let (status, reason, message) = if semver::VersionReq::parse(&d.requirement).is_err() {
            (
                RuleStatus::Fail,
                Some(ReasonCode::DependencyNotReady),
                format!(
                    "requirement {:?} on {} is not a SemVer range",
                    d.requirement, d.repository
                ),
            )
        } else if d.satisfied() {
            (
                RuleStatus::Pass,
                None,
                format!(
                    "{env} runs {} {} (needs {})",
                    d.repository,
                    d.current.as_deref().unwrap_or_default(),
                    d.requirement
                ),
            )
        } else {
            (
                RuleStatus::Fail,
                Some(ReasonCode::DependencyNotReady),
                format!(
                    "waiting for {} {} in {env}, which runs {}",
                    d.repository,
                    d.requirement,
                    match d.current.as_deref() {
                        Some(c) if parse_semver(c).is_some() => c.to_string(),
                        Some(c) => format!("{c:?} (not SemVer)"),
                        None => "none".to_string(),
                    }
                ),
            )
        };
        out.rules.push(RuleOutcome {
            rule: format!("dependencies/{}", d.repository),
            kind: RuleKind::Dependencies,
            status,
            reason,
            message,
            source: d.source.clone(),
        });
    }
}
