//! Every rule with a passing and a failing case, overlays, break-glass, CEL and digests.

use chrono::{DateTime, Utc};
use tollgate_attest::{Digest, Provenance, Signer, Verdict as Ev};
use tollgate_sbom::{Severity, VulnReport, VulnSource, Vulnerability};

use super::*;
use crate::{ApproverGroup, ReasonCode};

fn load(files: &[(&str, &str)]) -> Policy {
    Policy::load(files).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn one(base: &str) -> Policy {
    load(&[("base.toml", base)])
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    match Policy::load(files) {
        Ok(_) => panic!("loaded, expected errors"),
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}

fn has_error(errs: &[String], prefix: &str, needle: &str) {
    assert!(
        errs.iter()
            .any(|e| e.starts_with(prefix) && e.contains(needle)),
        "no {prefix}…{needle} in\n{}",
        errs.join("\n")
    );
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A Wednesday noon in Berlin, outside any freeze used below.
fn noon() -> DateTime<Utc> {
    at("2026-06-10T10:00:00Z")
}

fn facts(to: &str) -> Facts {
    Facts {
        artifact: ArtifactFacts {
            digest: Digest::sha256_of(b"artifact"),
            repository: "team-a/api".into(),
            tag: Some("v1.2.0".into()),
            pushed_by: Some("ci-bot".into()),
            residency: None,
        },
        promotion: PromotionFacts {
            from: Some("staging".into()),
            to: to.into(),
            requester: "alice".into(),
            requester_roles: vec!["promoter".parse().unwrap()],
            change_request: None,
            justification: None,
            emergency: false,
            rollback: false,
        },
        evidence: vec![],
        sboms: vec![],
        vulnerability_reports: vec![],
        approvals: vec![],
        current_version: None,
        in_flight: 0,
        verifications: vec![],
        arrived_at: None,
        checklist: vec![],
        dependencies: Vec::new(),
    }
}

fn verdict(signer: Signer) -> Ev {
    Ev {
        verified: true,
        reason: None,
        message: None,
        signer: Some(signer),
        tlog: None,
        predicate_type: None,
        provenance: None,
    }
}

fn signed_by_key(name: &str) -> EvidenceFacts {
    EvidenceFacts {
        kind: "cosign-signature".into(),
        verdict: verdict(Signer::Key { name: name.into() }),
    }
}

fn signed_by_identity(subject: &str) -> EvidenceFacts {
    EvidenceFacts {
        kind: "sigstore-bundle".into(),
        verdict: verdict(Signer::Identity {
            subject: subject.into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
        }),
    }
}

const BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.9.0";

fn provenance(builder: &str, source: &str, r#ref: &str, commit: Option<&str>) -> EvidenceFacts {
    let mut v = verdict(Signer::Identity {
        subject: BUILDER.into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
    });
    v.predicate_type = Some("https://slsa.dev/provenance/v1".into());
    v.provenance = Some(Provenance {
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        builder_id: builder.into(),
        source_uri: Some(source.into()),
        source_ref: Some(r#ref.into()),
        source_commit: commit.map(str::to_string),
        ..Provenance::default()
    });
    EvidenceFacts {
        kind: "attestation".into(),
        verdict: v,
    }
}

fn good_provenance() -> EvidenceFacts {
    provenance(
        BUILDER,
        "git+https://github.com/acme/api",
        "refs/tags/v1.2.0",
        Some("4f2a1c0de5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c0"),
    )
}

fn sbom(components: &[(&str, Option<&str>)]) -> SbomFacts {
    SbomFacts {
        format: Some("cyclonedx".into()),
        components: components
            .iter()
            .map(|(n, l)| ComponentFacts {
                name: n.to_string(),
                license: l.map(str::to_string),
                ..ComponentFacts::default()
            })
            .collect(),
    }
}

fn report(findings: &[(&str, Severity)]) -> VulnReport {
    VulnReport {
        source: VulnSource::CosignVuln,
        scanner: Some("trivy".into()),
        scanner_version: None,
        scanned_at: None,
        vulnerabilities: findings
            .iter()
            .map(|(id, s)| Vulnerability {
                id: id.to_string(),
                severity: *s,
                package: Some("pkg:npm/x@1".into()),
                installed_version: None,
                fixed_version: None,
                suppressed: false,
            })
            .collect(),
    }
}

fn approval(by: &str, group: ApproverGroup) -> Approval {
    Approval {
        by: by.into(),
        group,
        at: None,
    }
}

fn outcome(d: &Decision, kind: RuleKind) -> &RuleOutcome {
    d.rules
        .iter()
        .find(|o| o.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} outcome in {:#?}", d.rules))
}

fn assert_denied(d: &Decision, code: ReasonCode) {
    assert_eq!(d.verdict, Verdict::Deny, "{:#?}", d.rules);
    assert!(d.reasons.contains(&code), "{code} not in {:?}", d.reasons);
}

fn assert_allowed(d: &Decision) {
    assert_eq!(d.verdict, Verdict::Allow, "{:#?}", d.rules);
    assert!(d.reasons.is_empty(), "{:?}", d.reasons);
}

// --- examples ----------------------------------------------------------------------------

const ACME_BASE: &str = include_str!("../../examples/acme/base.toml");
const ACME_PAYMENTS: &str = include_str!("../../examples/acme/overlays/payments.toml");

#[test]
fn examples_validate_and_a_good_promotion_passes_them() {
    let p = load(&[
        ("base.toml", ACME_BASE),
        ("overlays/payments.toml", ACME_PAYMENTS),
    ]);
    assert_eq!(
        p.environments().collect::<Vec<_>>(),
        ["dev", "prod", "staging"]
    );
    let mut f = facts("prod");
    f.evidence = vec![signed_by_key("release-2025"), good_provenance()];
    f.sboms = vec![sbom(&[("left-pad", Some("MIT")), ("tslib", Some("0BSD"))])];
    f.vulnerability_reports = vec![report(&[("CVE-2024-1", Severity::High)])];
    f.approvals = vec![
        approval("olga", ApproverGroup::Ops),
        approval("sam", ApproverGroup::Security),
    ];
    f.promotion.change_request = Some("CHG-004242".into());
    f.current_version = Some("v1.1.9".into());
    let d = evaluate(&p, &f, noon());
    assert_allowed(&d);
    assert_eq!(d.policy_digest, *p.digest());
    assert_eq!(d.mode, Mode::Enforce);
    assert!(d.rules.iter().all(|o| {
        o.source
            .as_deref()
            .is_some_and(|s| s.starts_with("base.toml:"))
    }));
    // The same artifact in payments/* meets the overlay and the base's repository block.
    f.artifact.repository = "payments/ledger".into();
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Deny, "{:#?}", d.rules);
    let from_overlay: Vec<&RuleOutcome> = d
        .rules
        .iter()
        .filter(|o| {
            o.source
                .as_deref()
                .unwrap_or("")
                .starts_with("overlays/payments.toml")
        })
        .collect();
    assert!(!from_overlay.is_empty());
    // Business approval (base block), a second security approval and no high findings
    // (overlay) are missing; the overlay's windows, signers and Trivy condition pass.
    assert_eq!(
        d.reasons,
        [
            ReasonCode::ApprovalsMissing,
            ReasonCode::VulnerabilitiesExceedThreshold
        ]
    );
    f.approvals.extend([
        approval("bea", ApproverGroup::Business),
        approval("tom", ApproverGroup::Security),
    ]);
    f.vulnerability_reports = vec![report(&[("CVE-2024-2", Severity::Medium)])];
    assert_allowed(&evaluate(&p, &f, noon()));
    // Thursday 16:00 Berlin: open for the base, closed for payments.
    let d = evaluate(&p, &f, at("2026-06-11T14:00:00Z"));
    assert_denied(&d, ReasonCode::WindowClosed);
    let minimal = include_str!("../../examples/minimal/base.toml");
    one(minimal);
}

// --- signatures ---------------------------------------------------------------------------

const SIGS: &str = r#"
[environments.prod.signatures]
min = 1
keys = ["release"]
identities = [{ issuer = "https://token.actions.githubusercontent.com", subject = "https://github.com/acme/*" }]
"#;

#[test]
fn signatures() {
    let p = one(SIGS);
    let mut f = facts("prod");
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::SignatureMissing);
    f.evidence = vec![signed_by_key("someone-else")];
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::SignerUntrusted);
    // An unverified signature by a trusted key does not count.
    let mut bad = signed_by_key("release");
    bad.verdict.verified = false;
    f.evidence = vec![bad];
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::SignatureMissing);
    f.evidence = vec![signed_by_key("release")];
    assert_allowed(&evaluate(&p, &f, noon()));
    f.evidence = vec![signed_by_identity(
        "https://github.com/acme/api/.github/workflows/release.yml@refs/tags/v1.2.0",
    )];
    assert_allowed(&evaluate(&p, &f, noon()));
    f.evidence = vec![signed_by_identity(
        "https://github.com/evil/api/.github/workflows/x.yml@refs/heads/main",
    )];
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::SignerUntrusted);

    let p = one(&SIGS.replace("min = 1", "min = 2"));
    f.evidence = vec![signed_by_key("release"), signed_by_key("release")];
    assert_denied(
        &evaluate(&p, &f, noon()),
        ReasonCode::SignaturesInsufficient,
    );
    f.evidence
        .push(signed_by_identity("https://github.com/acme/api/x"));
    assert_allowed(&evaluate(&p, &f, noon()));
}

// --- provenance ---------------------------------------------------------------------------

const PROV: &str = r#"
[environments.prod.provenance]
builders = ["https://github.com/slsa-framework/slsa-github-generator/*"]
sources = ["git+https://github.com/acme/*"]
refs = ["refs/tags/v*"]
require_commit = true
"#;

#[test]
fn provenance_rules() {
    let p = one(PROV);
    let mut f = facts("prod");
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::ProvenanceMissing);
    f.evidence = vec![good_provenance()];
    assert_allowed(&evaluate(&p, &f, noon()));
    let cases = [
        (
            provenance(
                "https://evil.example/builder",
                "git+https://github.com/acme/api",
                "refs/tags/v1",
                Some("ab"),
            ),
            ReasonCode::ProvenanceBuilderUntrusted,
        ),
        (
            provenance(
                BUILDER,
                "git+https://github.com/evil/api",
                "refs/tags/v1",
                Some("ab"),
            ),
            ReasonCode::ProvenanceSourceMismatch,
        ),
        (
            provenance(
                BUILDER,
                "git+https://github.com/acme/api",
                "refs/heads/main",
                Some("ab"),
            ),
            ReasonCode::ProvenanceRefNotAllowed,
        ),
        (
            provenance(
                BUILDER,
                "git+https://github.com/acme/api",
                "refs/tags/v1",
                None,
            ),
            ReasonCode::ProvenanceCommitMissing,
        ),
    ];
    for (ev, code) in cases {
        f.evidence = vec![ev];
        assert_denied(&evaluate(&p, &f, noon()), code);
    }
    // One good provenance among bad ones is enough.
    f.evidence.push(good_provenance());
    assert_allowed(&evaluate(&p, &f, noon()));
}

// --- SBOM and licences ---------------------------------------------------------------------

#[test]
fn sbom_and_licences() {
    let p = one(r#"
[environments.prod.sbom]
required = true
licenses = { deny = ["GPL-3.0-only"], unknown = "deny" }
"#);
    let mut f = facts("prod");
    let d = evaluate(&p, &f, noon());
    assert_denied(&d, ReasonCode::SbomMissing);
    assert_eq!(
        outcome(&d, RuleKind::Licenses).status,
        RuleStatus::NotApplicable
    );
    f.sboms = vec![sbom(&[
        ("a", Some("MIT")),
        ("b", Some("Apache-2.0 OR GPL-3.0-only")),
    ])];
    assert_allowed(&evaluate(&p, &f, noon()));
    f.sboms = vec![sbom(&[
        ("a", Some("MIT")),
        ("gplthing", Some("GPL-3.0-only")),
    ])];
    let d = evaluate(&p, &f, noon());
    assert_denied(&d, ReasonCode::LicenseDenied);
    assert!(outcome(&d, RuleKind::Licenses).message.contains("gplthing"));
    f.sboms = vec![sbom(&[("mystery", None)])];
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::LicenseUnknown);
    // unknown = "warn": recorded, allowed.
    let p = one("[environments.prod.sbom]\nlicenses = { unknown = \"warn\" }\n");
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.reasons, [ReasonCode::LicenseUnknown]);
    assert_eq!(outcome(&d, RuleKind::Licenses).status, RuleStatus::Warn);
}

// --- vulnerabilities -----------------------------------------------------------------------

#[test]
fn vulnerability_thresholds() {
    let p = one(r#"
[environments.prod.vulnerabilities]
max = { critical = 0, high = 1 }
ignore = ["CVE-2020-0001"]
"#);
    let mut f = facts("prod");
    assert_denied(
        &evaluate(&p, &f, noon()),
        ReasonCode::VulnerabilityReportMissing,
    );
    f.vulnerability_reports = vec![report(&[
        ("CVE-1", Severity::High),
        ("CVE-2", Severity::Medium),
        ("CVE-2020-0001", Severity::Critical),
    ])];
    assert_allowed(&evaluate(&p, &f, noon()));
    f.vulnerability_reports.push(report(&[
        ("CVE-3", Severity::High),
        ("CVE-1", Severity::High),
    ]));
    let d = evaluate(&p, &f, noon());
    assert_denied(&d, ReasonCode::VulnerabilitiesExceedThreshold);
    assert_eq!(
        outcome(&d, RuleKind::Vulnerabilities).message,
        "2 high (at most 1)"
    );
    // Suppressed findings (VEX not_affected) do not count.
    f.vulnerability_reports[1].vulnerabilities[0].suppressed = true;
    assert_allowed(&evaluate(&p, &f, noon()));
    let p = one("[environments.prod.vulnerabilities]\nrequired = false\nmax = { critical = 0 }\n");
    f.vulnerability_reports.clear();
    let d = evaluate(&p, &f, noon());
    assert_allowed(&d);
    assert_eq!(
        outcome(&d, RuleKind::Vulnerabilities).status,
        RuleStatus::NotApplicable
    );
}

// --- versions ------------------------------------------------------------------------------

#[test]
fn version_rules_and_rollback() {
    let p = one("[environments.prod.version]\nprerelease = false\nincrease = true\n");
    let mut f = facts("prod");
    assert_allowed(&evaluate(&p, &f, noon()));
    f.artifact.tag = Some("v1.3.0-rc.1".into());
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::VersionPrerelease);
    f.artifact.tag = Some("latest".into());
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::TagNotSemver);
    f.artifact.tag = Some("1.2.0".into());
    f.current_version = Some("v1.2.0".into());
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::VersionNotNewer);
    f.current_version = Some("1.10.0".into());
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::VersionNotNewer);
    f.current_version = Some("1.1.10".into());
    assert_allowed(&evaluate(&p, &f, noon()));
    // A rollback skips the increase rule, and nothing else.
    f.current_version = Some("2.0.0".into());
    f.promotion.rollback = true;
    assert_allowed(&evaluate(&p, &f, noon()));
    f.artifact.tag = Some("1.0.0-beta".into());
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::VersionPrerelease);
}

// --- approvals -----------------------------------------------------------------------------

const APPROVALS: &str = "[environments.prod.approvals]\nops = 1\nsecurity = 2\n";

#[test]
fn approvals_pending_and_separation_of_duties() {
    let p = one(APPROVALS);
    let mut f = facts("prod");
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending);
    assert_eq!(d.reasons, [ReasonCode::ApprovalsMissing]);
    assert!(
        outcome(&d, RuleKind::Approvals)
            .message
            .contains("ops 0/1, security 0/2")
    );
    f.approvals = vec![
        approval("olga", ApproverGroup::Ops),
        approval("sam", ApproverGroup::Security),
        approval("sam", ApproverGroup::Security), // twice is once
        approval("alice", ApproverGroup::Security), // the requester
        approval("ci-bot", ApproverGroup::Security), // the pusher
    ];
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending);
    assert_eq!(
        d.reasons,
        [ReasonCode::SeparationOfDuties, ReasonCode::ApprovalsMissing]
    );
    let sod = outcome(&d, RuleKind::SeparationOfDuties);
    assert_eq!(sod.status, RuleStatus::Warn);
    assert!(
        sod.message.contains("alice") && sod.message.contains("ci-bot"),
        "{}",
        sod.message
    );
    f.approvals.push(approval("tom", ApproverGroup::Security));
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.reasons, [ReasonCode::SeparationOfDuties]);
    // Without separation of duties the requester's approval counts.
    let p = one(&format!("{APPROVALS}separation_of_duties = false\n"));
    f.approvals = vec![
        approval("olga", ApproverGroup::Ops),
        approval("alice", ApproverGroup::Security),
        approval("ci-bot", ApproverGroup::Security),
    ];
    assert_allowed(&evaluate(&p, &f, noon()));
}

#[test]
fn pending_only_when_approvals_are_all_that_fails() {
    let p = one(&format!("{APPROVALS}{SIGS}"));
    let d = evaluate(&p, &facts("prod"), noon());
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(
        d.reasons,
        [ReasonCode::SignatureMissing, ReasonCode::ApprovalsMissing]
    );
}

// --- change requests ----------------------------------------------------------------------

#[test]
fn change_requests() {
    let p = one("[environments.prod.change_request]\npattern = \"CHG-[0-9]{6}\"\n");
    let mut f = facts("prod");
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::ChangeRequestMissing);
    f.promotion.change_request = Some("CHG-12".into());
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::ChangeRequestInvalid);
    // The whole id must match.
    f.promotion.change_request = Some("xCHG-123456".into());
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::ChangeRequestInvalid);
    f.promotion.change_request = Some("CHG-123456".into());
    assert_allowed(&evaluate(&p, &f, noon()));
}

// --- windows and freezes ------------------------------------------------------------------

#[test]
fn windows_across_a_dst_change() {
    let p = one(r#"
[environments.prod]
timezone = "Europe/Berlin"
[[environments.prod.windows]]
days = ["mon-fri"]
start = "09:00"
end = "17:00"
"#);
    let f = facts("prod");
    // Berlin moves to CEST on Sunday 2026-03-29. Friday before: CET (UTC+1).
    assert_denied(
        &evaluate(&p, &f, at("2026-03-27T07:30:00Z")),
        ReasonCode::WindowClosed,
    ); // 08:30
    assert_allowed(&evaluate(&p, &f, at("2026-03-27T08:00:00Z"))); // 09:00 opens
    assert_allowed(&evaluate(&p, &f, at("2026-03-27T15:59:00Z"))); // 16:59
    assert_denied(
        &evaluate(&p, &f, at("2026-03-27T16:00:00Z")),
        ReasonCode::WindowClosed,
    ); // 17:00 closes
    // Monday after: CEST (UTC+2); the same UTC time is now inside.
    assert_allowed(&evaluate(&p, &f, at("2026-03-30T07:30:00Z"))); // 09:30
    assert_denied(
        &evaluate(&p, &f, at("2026-03-30T06:30:00Z")),
        ReasonCode::WindowClosed,
    ); // 08:30
    assert_denied(
        &evaluate(&p, &f, at("2026-03-30T15:30:00Z")),
        ReasonCode::WindowClosed,
    ); // 17:30
    // The weekend in between is closed.
    let d = evaluate(&p, &f, at("2026-03-29T10:00:00Z"));
    assert_denied(&d, ReasonCode::WindowClosed);
    assert!(
        outcome(&d, RuleKind::Windows)
            .message
            .contains("Sun 12:00 Europe/Berlin")
    );
}

#[test]
fn windows_at_a_weekday_boundary_in_another_zone() {
    let p = one(r#"
[environments.prod]
timezone = "America/Los_Angeles"
[[environments.prod.windows]]
days = ["fri"]
start = "22:00"
end = "24:00"
"#);
    let f = facts("prod");
    // Saturday 05:30 UTC is Friday 22:30 in Los Angeles (PDT, UTC-7).
    assert_allowed(&evaluate(&p, &f, at("2026-06-13T05:30:00Z")));
    // Saturday 07:00 UTC is Saturday 00:00 there: closed.
    assert_denied(
        &evaluate(&p, &f, at("2026-06-13T07:00:00Z")),
        ReasonCode::WindowClosed,
    );
    // Friday 22:30 UTC is Friday 15:30 there: closed.
    assert_denied(
        &evaluate(&p, &f, at("2026-06-12T22:30:00Z")),
        ReasonCode::WindowClosed,
    );
}

#[test]
fn freezes() {
    let p = one(r#"
[environments.prod]
timezone = "Europe/Berlin"
[[environments.prod.freezes]]
from = "2026-12-21"
until = "2027-01-03"
reason = "year-end freeze"
[[environments.prod.freezes]]
from = "2026-07-01T18:00"
until = "2026-07-02T06:00"
reason = "datacentre move"
"#);
    let f = facts("prod");
    // 2026-12-20 23:30 Berlin: not yet.
    assert_allowed(&evaluate(&p, &f, at("2026-12-20T22:30:00Z")));
    // 2026-12-21 00:30 Berlin: frozen.
    let d = evaluate(&p, &f, at("2026-12-20T23:30:00Z"));
    assert_denied(&d, ReasonCode::ChangeFreeze);
    assert!(
        outcome(&d, RuleKind::Freezes)
            .message
            .contains("year-end freeze")
    );
    // The last day is included; the day after is not.
    assert_denied(
        &evaluate(&p, &f, at("2027-01-03T22:00:00Z")),
        ReasonCode::ChangeFreeze,
    );
    assert_allowed(&evaluate(&p, &f, at("2027-01-03T23:30:00Z")));
    // Time-of-day freezes.
    assert_denied(
        &evaluate(&p, &f, at("2026-07-01T16:00:00Z")),
        ReasonCode::ChangeFreeze,
    );
    assert_allowed(&evaluate(&p, &f, at("2026-07-02T04:00:00Z")));
}

// --- in flight, source environment, unknown environment -----------------------------------

#[test]
fn in_flight_source_and_unknown_environment() {
    let p = one(r#"
[environments.staging]
[environments.prod]
from = ["staging"]
max_in_flight = 2
"#);
    let mut f = facts("prod");
    f.in_flight = 1;
    assert_allowed(&evaluate(&p, &f, noon()));
    f.in_flight = 2;
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::PromotionsInFlight);
    f.in_flight = 0;
    f.promotion.from = Some("dev".into());
    assert_denied(
        &evaluate(&p, &f, noon()),
        ReasonCode::PromotionSourceNotAllowed,
    );
    f.promotion.from = None;
    assert_denied(
        &evaluate(&p, &f, noon()),
        ReasonCode::PromotionSourceNotAllowed,
    );
    let d = evaluate(&p, &facts("qa"), noon());
    assert_denied(&d, ReasonCode::EnvironmentUnknown);
    assert_eq!(d.policy_digest, *p.digest());
}

// --- warn mode ----------------------------------------------------------------------------

#[test]
fn warn_mode_allows_and_records() {
    let p = one(&format!(
        "[environments.prod]\nmode = \"warn\"\n{SIGS}{APPROVALS}"
    ));
    let d = evaluate(&p, &facts("prod"), noon());
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.mode, Mode::Warn);
    assert_eq!(
        d.reasons,
        [
            ReasonCode::SignatureMissing,
            ReasonCode::ApprovalsMissing,
            ReasonCode::PolicyWarnOnly
        ]
    );
    assert!(d.rules.iter().all(|o| o.status != RuleStatus::Fail));
    assert_eq!(outcome(&d, RuleKind::Signatures).status, RuleStatus::Warn);
    // An overlay may switch its repositories to enforce.
    let p = load(&[
        (
            "base.toml",
            &format!("[environments.prod]\nmode = \"warn\"\n{SIGS}"),
        ),
        (
            "team-a.toml",
            "[overlay]\nrepositories = [\"team-a/*\"]\n[environments.prod]\nmode = \"enforce\"\n",
        ),
    ]);
    assert_denied(
        &evaluate(&p, &facts("prod"), noon()),
        ReasonCode::SignatureMissing,
    );
    let mut other = facts("prod");
    other.artifact.repository = "team-b/api".into();
    assert_eq!(evaluate(&p, &other, noon()).verdict, Verdict::Allow);
}

// --- break-glass --------------------------------------------------------------------------

const GOVERNED: &str = r#"
[environments.prod]
timezone = "Europe/Berlin"
[environments.prod.signatures]
min = 1
keys = ["release"]
[environments.prod.approvals]
ops = 1
[environments.prod.change_request]
required = true
[[environments.prod.windows]]
days = ["mon-fri"]
start = "09:00"
end = "17:00"
"#;

fn emergency() -> Facts {
    let mut f = facts("prod");
    f.promotion.emergency = true;
    f.promotion.requester_roles = vec!["breakglass:team-a/*".parse().unwrap()];
    f.promotion.justification = Some("INC-77: payments outage, hotfix".into());
    f.evidence = vec![signed_by_key("release")];
    f
}

#[test]
fn breakglass_bypasses_governance_not_evidence() {
    let p = one(GOVERNED);
    let saturday_night = at("2026-06-13T22:00:00Z");
    let mut f = emergency();
    let d = evaluate(&p, &f, saturday_night);
    assert_eq!(d.verdict, Verdict::Allow, "{:#?}", d.rules);
    assert!(d.post_mortem_required && d.emergency);
    assert_eq!(outcome(&d, RuleKind::Windows).status, RuleStatus::Bypassed);
    assert_eq!(
        outcome(&d, RuleKind::Approvals).status,
        RuleStatus::Bypassed
    );
    assert_eq!(
        outcome(&d, RuleKind::ChangeRequest).status,
        RuleStatus::Bypassed
    );
    assert_eq!(
        d.reasons,
        [
            ReasonCode::ApprovalsMissing,
            ReasonCode::ChangeRequestMissing,
            ReasonCode::WindowClosed,
            ReasonCode::BreakglassUsed
        ]
    );
    // Signatures are not bypassed.
    f.evidence.clear();
    let d = evaluate(&p, &f, saturday_night);
    assert_denied(&d, ReasonCode::SignatureMissing);
    assert_eq!(outcome(&d, RuleKind::Signatures).status, RuleStatus::Fail);
    // No justification, no role, or a role for other repositories: nothing is bypassed.
    let mut f = emergency();
    f.promotion.justification = Some("  ".into());
    let d = evaluate(&p, &f, saturday_night);
    assert_denied(&d, ReasonCode::JustificationMissing);
    assert!(!d.post_mortem_required);
    assert_eq!(outcome(&d, RuleKind::Windows).status, RuleStatus::Fail);
    let mut f = emergency();
    f.promotion.requester_roles = vec!["promoter".parse().unwrap(), "admin".parse().unwrap()];
    assert_denied(
        &evaluate(&p, &f, saturday_night),
        ReasonCode::BreakglassNotPermitted,
    );
    f.promotion.requester_roles = vec!["breakglass:team-b/*".parse().unwrap()];
    assert_denied(
        &evaluate(&p, &f, saturday_night),
        ReasonCode::BreakglassNotPermitted,
    );
    // A grant on the target repository (prod/team-a/api) is enough too.
    f.promotion.requester_roles = vec!["breakglass:prod/*".parse().unwrap()];
    assert_eq!(evaluate(&p, &f, saturday_night).verdict, Verdict::Allow);
}

#[test]
fn breakglass_bypass_list_is_policy() {
    // Signatures bypassable only when listed; approvals not bypassable when left out.
    let p = one(&format!(
        "[breakglass]\nbypass = [\"windows\", \"signatures\"]\nrequire_justification = false\n{GOVERNED}"
    ));
    let mut f = emergency();
    f.evidence.clear();
    f.promotion.justification = None;
    f.promotion.change_request = Some("CHG-1".into());
    f.approvals = vec![approval("olga", ApproverGroup::Ops)];
    let d = evaluate(&p, &f, at("2026-06-13T22:00:00Z"));
    assert_eq!(d.verdict, Verdict::Allow, "{:#?}", d.rules);
    assert_eq!(
        outcome(&d, RuleKind::Signatures).status,
        RuleStatus::Bypassed
    );
    f.approvals.clear();
    let d = evaluate(&p, &f, at("2026-06-13T22:00:00Z"));
    assert_eq!(d.verdict, Verdict::Pending);
    // An environment's own [breakglass] starts from the top-level one.
    let p = one(&format!(
        "[breakglass]\nbypass = [\"windows\"]\n{GOVERNED}[environments.prod.breakglass]\nrequire_justification = false\n"
    ));
    let bg = p.environment("prod").unwrap().rule_sets[0]
        .breakglass
        .clone()
        .unwrap();
    assert_eq!(
        bg.bypass.into_iter().collect::<Vec<_>>(),
        [RuleKind::Windows]
    );
    assert!(!bg.require_justification);
    // enabled = false: no emergency promotions at all.
    let p = one(&format!("[breakglass]\nenabled = false\n{GOVERNED}"));
    assert_denied(
        &evaluate(&p, &emergency(), at("2026-06-13T22:00:00Z")),
        ReasonCode::BreakglassNotPermitted,
    );
}

// --- CEL conditions -----------------------------------------------------------------------

#[test]
fn cel_conditions() {
    let p = one(r#"
[[environments.prod.conditions]]
name = "no-latest"
expr = "artifact.tag != 'latest'"
message = "promote a version, not latest"
[[environments.prod.conditions]]
name = "small-batches"
expr = "in_flight < 2 && version != null && version.major >= 1 && now > timestamp('2020-01-01T00:00:00Z')"
[[environments.prod.conditions]]
name = "team-repo"
expr = "artifact.repository.startsWith('team-') && promotion.requester_roles.exists(r, r.startsWith('promoter'))"
"#);
    let mut f = facts("prod");
    let d = evaluate(&p, &f, noon());
    assert_allowed(&d);
    assert_eq!(d.rules.len(), 3);
    assert_eq!(d.rules[0].rule, "conditions/no-latest");
    f.artifact.tag = Some("latest".into());
    let d = evaluate(&p, &f, noon());
    assert_denied(&d, ReasonCode::ConditionFailed);
    assert_eq!(d.rules[0].message, "promote a version, not latest");
    assert_eq!(d.rules[0].source.as_deref(), Some("base.toml:2"));
    // Runtime errors fail closed.
    let p = one(
        "[[environments.prod.conditions]]\nname = \"bad\"\nexpr = \"artifact.nope == 1\"\n\
         [[environments.prod.conditions]]\nname = \"not-bool\"\nexpr = \"in_flight + 1\"\n",
    );
    let d = evaluate(&p, &facts("prod"), noon());
    assert_denied(&d, ReasonCode::ConditionError);
    assert!(
        d.rules
            .iter()
            .all(|o| o.reason == Some(ReasonCode::ConditionError)),
        "{:#?}",
        d.rules
    );
}

#[test]
fn cel_compile_errors_name_the_line() {
    let errs = errors(&[(
        "base.toml",
        "[environments.prod]\n[[environments.prod.conditions]]\nname = \"x\"\nexpr = \"artifact.tag ==\"\n\
         [[environments.prod.conditions]]\nname = \"y\"\nexpr = \"artifcat.tag == 'a'\"\n",
    )]);
    has_error(&errs, "base.toml:4:8: error: CEL", "");
    has_error(
        &errs,
        "base.toml:7:8: error: CEL: unknown variable `artifcat`",
        "",
    );
}

// --- overlays -----------------------------------------------------------------------------

fn overlay(body: &str) -> String {
    format!("[overlay]\nrepositories = [\"team-a/*\"]\n{body}")
}

#[test]
fn overlays_tighten_only_their_repositories() {
    let p = load(&[
        ("base.toml", SIGS),
        (
            "overlays/team-a.toml",
            &overlay("[environments.prod.signatures]\nmin = 2\n"),
        ),
    ]);
    let mut f = facts("prod");
    f.evidence = vec![signed_by_key("release")];
    let d = evaluate(&p, &f, noon());
    assert_denied(&d, ReasonCode::SignaturesInsufficient);
    assert_eq!(
        d.rules
            .iter()
            .find(|o| o.status == RuleStatus::Fail)
            .unwrap()
            .source
            .as_deref(),
        Some("overlays/team-a.toml:3")
    );
    f.artifact.repository = "team-b/api".into();
    assert_allowed(&evaluate(&p, &f, noon()));
}

#[test]
fn overlays_that_loosen_are_rejected_with_file_and_line() {
    let base = format!("{SIGS}{PROV}{APPROVALS}{GOVERNED_TAIL}");
    let cases: [(&str, &str, &str); 14] = [
        (
            "[environments.prod.signatures]\nmin = 0\n",
            "overlay.toml:4:7",
            "between 1",
        ),
        (
            "[environments.prod.approvals]\nsecurity = 1\n",
            "overlay.toml:4:12",
            "below the base's 2",
        ),
        (
            "[environments.prod]\nmode = \"warn\"\n",
            "overlay.toml:4:8",
            "mode = \"warn\" where the base enforces",
        ),
        (
            "[environments.prod.signatures]\nkeys = [\"mine\"]\n",
            "overlay.toml:4:9",
            "key \"mine\" is not trusted by the base",
        ),
        (
            "[environments.prod.signatures]\nrequired = false\n",
            "overlay.toml:4:12",
            "required = false",
        ),
        (
            "[environments.prod.provenance]\nbuilders = [\"https://ci.example/*\"]\n",
            "overlay.toml:4:13",
            "not within the base's list",
        ),
        (
            "[environments.prod.provenance]\nrequire_commit = false\n",
            "overlay.toml:4:18",
            "require_commit = false",
        ),
        (
            "[environments.prod.sbom.licenses]\nallow = [\"GPL-3.0-only\"]\n",
            "overlay.toml:4:10",
            "allows GPL-3.0-only, which the base does not allow",
        ),
        (
            "[environments.prod.vulnerabilities]\nmax = { critical = 1 }\n",
            "overlay.toml:4:9",
            "max.critical = 1 is above the base's 0",
        ),
        (
            "[[environments.prod.windows]]\ndays = [\"sat\"]\nstart = \"10:00\"\nend = \"12:00\"\n",
            "overlay.toml:3:1",
            "not inside the base's windows",
        ),
        (
            "[environments.prod.version]\nprerelease = true\n",
            "overlay.toml:4:14",
            "prerelease = true",
        ),
        (
            "[environments.prod.breakglass]\nbypass = [\"signatures\"]\n",
            "overlay.toml:4:11",
            "bypassing signatures is not allowed",
        ),
        (
            "[environments.prod]\nmax_in_flight = 9\n",
            "overlay.toml:4:17",
            "above the base's 3",
        ),
        (
            "[environments.qa.signatures]\nmin = 1\n",
            "overlay.toml:3:15",
            "overlays cannot add environments",
        ),
    ];
    for (body, at, msg) in cases {
        let errs = errors(&[("base.toml", &base), ("overlay.toml", &overlay(body))]);
        has_error(&errs, &format!("{at}: error:"), msg);
        if !msg.contains("between") && !msg.contains("add environments") {
            has_error(&errs, at, "would loosen the rule at base.toml:");
        }
    }
    // Tightening the same rules loads.
    load(&[
        ("base.toml", &base),
        (
            "overlay.toml",
            &overlay(
                "[environments.prod]\nmax_in_flight = 1\n[environments.prod.approvals]\nsecurity = 3\n\
                 [environments.prod.sbom.licenses]\ndeny = [\"MPL-2.0\"]\nunknown = \"deny\"\n\
                 [[environments.prod.windows]]\ndays = [\"tue-wed\"]\nstart = \"10:00\"\nend = \"12:00\"\n\
                 [environments.prod.provenance]\nbuilders = [\"https://github.com/slsa-framework/slsa-github-generator/.github/*\"]\n",
            ),
        ),
    ]);
}

const GOVERNED_TAIL: &str = r#"
[environments.prod]
max_in_flight = 3
[environments.prod.sbom.licenses]
deny = ["GPL-3.0-only"]
[environments.prod.vulnerabilities]
max = { critical = 0 }
[environments.prod.version]
prerelease = false
[[environments.prod.windows]]
days = ["mon-fri"]
start = "09:00"
end = "17:00"
"#;

#[test]
fn repository_blocks_add_rules_and_may_not_loosen() {
    let base = format!(
        "{APPROVALS}[[environments.prod.repositories]]\npattern = \"payments/*\"\napprovals = {{ business = 1 }}\n"
    );
    let p = one(&base);
    let mut f = facts("prod");
    f.approvals = vec![
        approval("olga", ApproverGroup::Ops),
        approval("sam", ApproverGroup::Security),
        approval("tom", ApproverGroup::Security),
    ];
    assert_allowed(&evaluate(&p, &f, noon()));
    f.artifact.repository = "payments/api".into();
    assert_eq!(evaluate(&p, &f, noon()).verdict, Verdict::Pending);
    let errs = errors(&[(
        "base.toml",
        &format!("{APPROVALS}[[environments.prod.repositories]]\npattern = \"x/*\"\nops = 0\n"),
    )]);
    has_error(&errs, "base.toml:6:1: error:", "unknown field `ops`");
    let errs = errors(&[(
        "base.toml",
        &format!(
            "{APPROVALS}[[environments.prod.repositories]]\npattern = \"x/*\"\napprovals = {{ ops = 0 }}\nmode = \"warn\"\n"
        ),
    )]);
    has_error(&errs, "base.toml:6:21: error:", "below the base's 1");
    has_error(
        &errs,
        "base.toml:7:8: error:",
        "cannot be set in a repository block",
    );
}

// --- validation ---------------------------------------------------------------------------

#[test]
fn validation_errors_name_file_line_and_column() {
    let errs = errors(&[(
        "base.toml",
        r#"version = 1
[environments.prod]
timezone = "Mars/Olympus"
[environments.prod.signatures]
min = 3
keys = ["a", "b"]
[environments.prod.sbom.licenses]
allow = ["MIT", "Not-A-Licence", "GPL-2.0-only"]
deny = ["GPL-2.0-only"]
[environments.prod.change_request]
pattern = "CHG-(["
[[environments.prod.windows]]
days = ["mon", "funday"]
start = "25:00"
end = "08:00"
[[environments.prod.freezes]]
from = "2026-12-24"
until = "2026-12-20"
reason = "x"
[[environments.prod.repositories]]
pattern = "Team A/*"
"#,
    )]);
    has_error(&errs, "base.toml:3:12: error:", "not an IANA time zone");
    has_error(&errs, "base.toml:5:7: error:", "can never be met");
    has_error(&errs, "base.toml:8:17: error:", "not an SPDX licence id");
    has_error(&errs, "base.toml:8:34: error:", "both allowed and denied");
    has_error(
        &errs,
        "base.toml:11:11: error:",
        "not a valid regular expression",
    );
    has_error(&errs, "base.toml:13:16: error:", "day \"funday\"");
    has_error(&errs, "base.toml:14:9: error:", "expected HH:MM");
    has_error(&errs, "base.toml:18:9: error:", "ends after it starts");
    has_error(&errs, "base.toml:21:11: error:", "repository pattern");
    // Unknown keys and TOML syntax errors.
    let errs = errors(&[("base.toml", "[environments.prod.signatures]\nminimum = 1\n")]);
    has_error(&errs, "base.toml:2:1: error:", "unknown field `minimum`");
    let errs = errors(&[("base.toml", "[environments.prod\n")]);
    has_error(&errs, "base.toml:1:", "error:");
    // The base is required, overlays need a header, and every file is checked.
    let errs = errors(&[("team.toml", "[environments.prod]\n")]);
    has_error(&errs, "base.toml:1:1: error:", "needs a base.toml");
    let errs = errors(&[
        ("base.toml", "[environments.prod]\n"),
        ("a.toml", "[environments.prod]\n"),
        (
            "b.toml",
            "[overlay]\nrepositories = []\n[environments.prod.signatures]\nmin = 0\n",
        ),
    ]);
    has_error(
        &errs,
        "a.toml:1:1: error:",
        "an overlay starts with [overlay]",
    );
    has_error(&errs, "b.toml:2:16: error:", "must name the repositories");
    has_error(&errs, "b.toml:4:7: error:", "between 1 and 100");
    let errs = errors(&[(
        "base.toml",
        "version = 2\n[environments.prod.version]\nsemver = false\nincrease = true\n",
    )]);
    has_error(&errs, "base.toml:1:11: error:", "only 1 exists");
    has_error(&errs, "base.toml:3:10: error:", "contradicts");
}

// --- digest -------------------------------------------------------------------------------

#[test]
fn digest_is_stable_and_changes_with_any_file() {
    let a = [
        ("base.toml", SIGS),
        ("o.toml", "[overlay]\nrepositories = [\"x/*\"]\n"),
    ];
    let b = [a[1], a[0]];
    let d = load(&a).digest().clone();
    assert_eq!(*load(&b).digest(), d, "file order must not matter");
    assert_eq!(policy_digest(&a), d);
    let changed = [a[0], ("o.toml", "[overlay]\nrepositories = [\"x/*\"]\n\n")];
    assert_ne!(*load(&changed).digest(), d);
    let renamed = [a[0], ("p.toml", a[1].1)];
    assert_ne!(*load(&renamed).digest(), d);
    let base_changed = [("base.toml", "# note\n"), a[1]];
    assert_ne!(policy_digest(&base_changed), d);
    // The decision carries it.
    assert_eq!(evaluate(&load(&a), &facts("prod"), noon()).policy_digest, d);
}

// --- serde --------------------------------------------------------------------------------

#[test]
fn decisions_and_facts_round_trip() {
    let p = one(&format!("{SIGS}{APPROVALS}"));
    let mut f = emergency();
    f.approvals = vec![approval("olga", ApproverGroup::Ops)];
    f.sboms = vec![sbom(&[("a", Some("MIT"))])];
    f.vulnerability_reports = vec![report(&[("CVE-1", Severity::Low)])];
    let json = serde_json::to_string(&f).unwrap();
    let back: Facts = serde_json::from_str(&json).unwrap();
    assert_eq!(back, f);
    let d = evaluate(&p, &f, noon());
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["policy_digest"], p.digest().to_string());
    assert_eq!(v["rules"][0]["status"], "pass");
    assert_eq!(v["rules"][0]["kind"], "signatures");
    let back: Decision = serde_json::from_value(v).unwrap();
    assert_eq!(back, d);
    // Every rule kind has a distinct name that parses back.
    for k in RuleKind::ALL {
        assert_eq!(RuleKind::parse(k.as_str()), Some(k));
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
}

// --- verification, soak, checklist, residency (issue 10) ----------------------------------

const VERIFY: &str = r#"
[environments.prod]
from = ["staging"]

[environments.prod.verification]
require = ["smoke-test", "canary"]
signed = true
soak = "24h"
criteria = { error_rate = { max = 0.01 }, transactions = { min = 1000 } }

[environments.prod.checklist]
items = [
  { name = "backup-validated", role = "ops" },
  { name = "monitoring-reviewed", role = "security", description = "alerts and dashboards" },
]

[environments.staging]
"#;

fn result(
    kind: &str,
    env: &str,
    r: TestResult,
    signer: Option<&str>,
    when: &str,
) -> VerificationFacts {
    VerificationFacts {
        kind: kind.into(),
        environment: env.into(),
        result: r,
        metrics: Default::default(),
        signer: signer.map(Into::into),
        recorded_by: "ci".into(),
        at: at(when),
    }
}

fn criteria(env: &str, error_rate: f64, transactions: f64) -> VerificationFacts {
    let mut v = result(
        SUCCESS_CRITERIA,
        env,
        TestResult::Passed,
        Some("key ci"),
        "2026-06-09T09:00:00Z",
    );
    v.metrics.insert("error_rate".into(), error_rate);
    v.metrics.insert("transactions".into(), transactions);
    v
}

fn confirm(item: &str, by: &str, roles: &[ApproverGroup]) -> ChecklistConfirmation {
    ChecklistConfirmation {
        item: item.into(),
        by: by.into(),
        roles: roles.to_vec(),
        at: None,
    }
}

/// Everything the VERIFY policy asks for, recorded in staging.
fn verified() -> Facts {
    let mut f = facts("prod");
    f.verifications = vec![
        result(
            "smoke-test",
            "staging",
            TestResult::Passed,
            Some("key ci"),
            "2026-06-09T08:00:00Z",
        ),
        result(
            "canary",
            "staging",
            TestResult::Warned,
            Some("key kayenta"),
            "2026-06-09T08:30:00Z",
        ),
        criteria("staging", 0.002, 5000.0),
    ];
    f.arrived_at = Some(at("2026-06-09T07:00:00Z"));
    f.checklist = vec![
        confirm("backup-validated", "olga", &[ApproverGroup::Ops]),
        confirm(
            "monitoring-reviewed",
            "sam",
            &[ApproverGroup::Security, ApproverGroup::Dev],
        ),
    ];
    f
}

#[test]
fn verification_results_soak_and_checklist_pass_when_all_are_there() {
    let p = one(VERIFY);
    let d = evaluate(&p, &verified(), noon());
    assert_allowed(&d);
    assert_eq!(outcome(&d, RuleKind::Verification).status, RuleStatus::Pass);
    assert!(
        outcome(&d, RuleKind::Soak).message.contains("1d 3h"),
        "{:?}",
        outcome(&d, RuleKind::Soak)
    );
    assert_eq!(outcome(&d, RuleKind::Checklist).status, RuleStatus::Pass);
}

#[test]
fn missing_verification_waits_and_failed_verification_denies() {
    let p = one(VERIFY);
    // No smoke test yet: pending (it may still come), with the code.
    let mut f = verified();
    f.verifications.retain(|v| v.kind != "smoke-test");
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending, "{:#?}", d.rules);
    assert_eq!(d.reasons, vec![ReasonCode::VerificationMissing]);
    assert!(
        outcome(&d, RuleKind::Verification)
            .message
            .contains("no smoke-test result in staging")
    );

    // A result from another environment does not count.
    let mut f = verified();
    for v in &mut f.verifications {
        if v.kind == "smoke-test" {
            v.environment = "dev".into();
        }
    }
    assert_eq!(
        evaluate(&p, &f, noon()).reasons,
        vec![ReasonCode::VerificationMissing]
    );

    // Unsigned results do not count when the policy wants signed ones, and the message says so.
    let mut f = verified();
    for v in &mut f.verifications {
        v.signer = None;
    }
    let d = evaluate(&p, &f, noon());
    assert!(
        outcome(&d, RuleKind::Verification)
            .message
            .contains("unsigned results do not count")
    );

    // A failed canary denies; the latest result per kind decides.
    let mut f = verified();
    f.verifications.push(result(
        "canary",
        "staging",
        TestResult::Failed,
        Some("key kayenta"),
        "2026-06-09T09:30:00Z",
    ));
    let d = evaluate(&p, &f, noon());
    assert_denied(&d, ReasonCode::VerificationFailed);
    assert!(
        outcome(&d, RuleKind::Verification)
            .message
            .contains("canary failed")
    );
    f.verifications.push(result(
        "canary",
        "staging",
        TestResult::Passed,
        Some("key kayenta"),
        "2026-06-09T10:30:00Z",
    ));
    assert_allowed(&evaluate(&p, &f, noon()));
}

#[test]
fn success_criteria_are_judged_against_the_policy_thresholds() {
    let p = one(VERIFY);
    let mut f = verified();
    f.verifications.push(criteria("staging", 0.05, 5000.0));
    f.verifications.last_mut().unwrap().at = at("2026-06-09T10:00:00Z");
    let d = evaluate(&p, &f, noon());
    assert_denied(&d, ReasonCode::VerificationFailed);
    let m = &outcome(&d, RuleKind::Verification).message;
    assert!(m.contains("error_rate 0.05 (must be at most 0.01)"), "{m}");

    let mut f = verified();
    f.verifications.retain(|v| v.kind != SUCCESS_CRITERIA);
    let mut c = criteria("staging", 0.001, 0.0);
    c.metrics.remove("transactions");
    f.verifications.push(c);
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending);
    assert!(
        outcome(&d, RuleKind::Verification)
            .message
            .contains("does not measure transactions")
    );
}

#[test]
fn soak_time_counts_from_arrival() {
    let p = one(VERIFY);
    let mut f = verified();
    f.arrived_at = Some(at("2026-06-10T04:00:00Z"));
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending, "{:#?}", d.rules);
    assert_eq!(d.reasons, vec![ReasonCode::SoakTimeNotMet]);
    let m = &outcome(&d, RuleKind::Soak).message;
    assert!(
        m.contains("6h ago") && m.contains("18h left") && m.contains("2026-06-11 04:00:00"),
        "{m}"
    );
    assert_eq!(d.soak_until, Some(at("2026-06-11T04:00:00Z")));
    let done = evaluate(&p, &f, at("2026-06-11T04:00:00Z"));
    assert_allowed(&done);
    assert_eq!(done.soak_until, None);
    f.arrived_at = None;
    let nowhere = evaluate(&p, &f, noon());
    assert_eq!(nowhere.reasons, vec![ReasonCode::SoakTimeNotMet]);
    // Not there yet: no time can be named.
    assert_eq!(nowhere.soak_until, None);
}

#[test]
fn checklist_counts_only_confirmations_by_the_items_role() {
    let p = one(VERIFY);
    let mut f = verified();
    f.checklist = vec![
        confirm("backup-validated", "dave", &[ApproverGroup::Dev]),
        confirm("monitoring-reviewed", "sam", &[ApproverGroup::Security]),
    ];
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending);
    assert_eq!(d.reasons, vec![ReasonCode::ChecklistIncomplete]);
    let m = &outcome(&d, RuleKind::Checklist).message;
    assert!(
        m.contains("backup-validated (needs ops; not counted: dave (holds no approver(ops)))"),
        "{m}"
    );
    f.checklist
        .push(confirm("backup-validated", "olga", &[ApproverGroup::Ops]));
    assert_allowed(&evaluate(&p, &f, noon()));
}

#[test]
fn breakglass_skips_soak_and_checklist_but_not_failed_verification() {
    let p = one(VERIFY);
    let mut f = verified();
    f.arrived_at = Some(noon());
    f.checklist.clear();
    f.promotion.emergency = true;
    f.promotion.justification = Some("outage".into());
    f.promotion.requester_roles = vec!["breakglass".parse().unwrap()];
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Allow, "{:#?}", d.rules);
    assert_eq!(outcome(&d, RuleKind::Soak).status, RuleStatus::Bypassed);
    assert_eq!(
        outcome(&d, RuleKind::Checklist).status,
        RuleStatus::Bypassed
    );
    f.verifications.push(result(
        "smoke-test",
        "staging",
        TestResult::Failed,
        Some("key ci"),
        "2026-06-10T09:00:00Z",
    ));
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::VerificationFailed);
}

#[test]
fn residency_bars_repositories_and_respects_declared_regions() {
    let p = one(r#"
[environments.prod-eu.residency]
region = "eu"
deny = ["us-ledger/*"]
"#);
    let mut f = facts("prod-eu");
    assert_allowed(&evaluate(&p, &f, noon()));
    f.artifact.residency = Some(vec!["us".into()]);
    let d = evaluate(&p, &f, noon());
    assert_denied(&d, ReasonCode::ResidencyDenied);
    assert!(
        outcome(&d, RuleKind::Residency)
            .message
            .contains("only in us")
    );
    f.artifact.residency = Some(vec!["us".into(), "eu".into()]);
    assert_allowed(&evaluate(&p, &f, noon()));
    f.artifact.repository = "us-ledger/core".into();
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::ResidencyDenied);
    // No emergency moves an artifact into a barred region.
    f.promotion.emergency = true;
    f.promotion.justification = Some("outage".into());
    f.promotion.requester_roles = vec!["breakglass".parse().unwrap()];
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::ResidencyDenied);
}

#[test]
fn verification_overlays_tighten_only() {
    let p = load(&[
        ("base.toml", VERIFY),
        (
            "overlays/team-a.toml",
            &overlay(
                "[environments.prod.verification]\nrequire = [\"smoke-test\", \"canary\", \"load-test\"]\nsoak = \"2d\"\ncriteria = { error_rate = { max = 0.005 } }\n",
            ),
        ),
    ]);
    let d = evaluate(&p, &verified(), noon());
    assert_eq!(d.verdict, Verdict::Pending, "{:#?}", d.rules);
    assert!(d.reasons.contains(&ReasonCode::VerificationMissing));
    assert!(d.reasons.contains(&ReasonCode::SoakTimeNotMet));

    let errs = errors(&[
        ("base.toml", VERIFY),
        (
            "overlays/team-a.toml",
            &overlay(
                "[environments.prod.verification]\nrequire = [\"smoke-test\"]\nsigned = false\nsoak = \"1h\"\ncriteria = { error_rate = { max = 0.5 } }\n\n[environments.prod.checklist]\nitems = [{ name = \"backup-validated\", role = \"dev\" }]\n\n[environments.prod.residency]\nregion = \"us\"\n",
            ),
        ),
    ]);
    has_error(
        &errs,
        "overlays/team-a.toml:4",
        "require leaves out \"canary\"",
    );
    has_error(&errs, "overlays/team-a.toml:5", "signed = false");
    has_error(
        &errs,
        "overlays/team-a.toml:6",
        "soak \"1h\" is shorter than the base's 1d",
    );
    has_error(
        &errs,
        "overlays/team-a.toml:7",
        "error_rate at most 0.5 is looser",
    );
    has_error(
        &errs,
        "overlays/team-a.toml:10",
        "confirmed by ops in the base",
    );

    let errs = errors(&[(
        "base.toml",
        "[environments.prod.verification]\nsoak = \"soon\"\ncriteria = { error_rate = {} }\n\n[environments.prod.checklist]\nitems = [{ name = \"Backup\", role = \"qa\" }]\n\n[[environments.prod.repositories]]\npattern = \"a/*\"\nresidency = { region = \"eu\" }\n",
    )]);
    has_error(&errs, "base.toml:2", "expected a duration");
    has_error(&errs, "base.toml:3", "needs min, max or both");
    has_error(&errs, "base.toml:6", "item \"Backup\"");
    has_error(&errs, "base.toml:10", "cannot be set in a repository block");
}

fn dependency(repository: &str, requirement: &str, current: Option<&str>) -> DependencyFacts {
    DependencyFacts {
        repository: repository.into(),
        requirement: requirement.into(),
        current: current.map(Into::into),
        source: Some("tollgate.toml:7".into()),
    }
}

#[test]
fn dependencies_not_ready_leave_the_promotion_pending() {
    let p = one(SIGS);
    let mut f = facts("prod");
    f.evidence = vec![signed_by_key("release")];
    f.dependencies = vec![dependency("app-api", ">=1.4.0", Some("1.3.9"))];
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending, "{:#?}", d.rules);
    assert_eq!(d.reasons, [ReasonCode::DependencyNotReady]);
    let o = outcome(&d, RuleKind::Dependencies);
    assert_eq!(o.rule, "dependencies/app-api");
    assert_eq!(o.status, RuleStatus::Fail);
    assert_eq!(o.source.as_deref(), Some("tollgate.toml:7"));
    assert!(
        o.message.contains("app-api >=1.4.0") && o.message.contains("runs 1.3.9"),
        "{}",
        o.message
    );
    // Nothing there at all, or a tag that is no version: still waiting, and said so.
    f.dependencies = vec![dependency("app-api", ">=1.4.0", None)];
    let d = evaluate(&p, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending);
    assert!(
        outcome(&d, RuleKind::Dependencies)
            .message
            .contains("runs none")
    );
    f.dependencies = vec![dependency("app-api", ">=1.4.0", Some("latest"))];
    assert_eq!(evaluate(&p, &f, noon()).verdict, Verdict::Pending);
    // Satisfied (a leading v allowed): allowed, the rule passes.
    f.dependencies = vec![
        dependency("app-api", ">=1.4.0", Some("v1.4.2")),
        dependency("auth", "^2", Some("2.0.1")),
    ];
    let d = evaluate(&p, &f, noon());
    assert_allowed(&d);
    let deps: Vec<_> = d
        .rules
        .iter()
        .filter(|r| r.kind == RuleKind::Dependencies)
        .map(|r| (r.rule.as_str(), r.status))
        .collect();
    assert_eq!(
        deps,
        [
            ("dependencies/app-api", RuleStatus::Pass),
            ("dependencies/auth", RuleStatus::Pass)
        ]
    );
    // One of two not ready; and with a missing approval too: still pending, both reasons.
    f.dependencies[1].current = Some("3.0.0".into());
    let p2 = one(&format!("{SIGS}{APPROVALS}"));
    let d = evaluate(&p2, &f, noon());
    assert_eq!(d.verdict, Verdict::Pending);
    assert_eq!(
        d.reasons,
        [ReasonCode::ApprovalsMissing, ReasonCode::DependencyNotReady]
    );
    // Alongside a real failure it is a denial.
    f.evidence.clear();
    assert_denied(&evaluate(&p, &f, noon()), ReasonCode::SignatureMissing);
}

#[test]
fn breakglass_does_not_bypass_dependencies_unless_listed() {
    let p = one(GOVERNED);
    let saturday_night = at("2026-06-13T22:00:00Z");
    let mut f = emergency();
    f.dependencies = vec![dependency("app-api", ">=1.4.0", Some("1.0.0"))];
    let d = evaluate(&p, &f, saturday_night);
    assert_eq!(d.verdict, Verdict::Pending, "{:#?}", d.rules);
    assert_eq!(outcome(&d, RuleKind::Dependencies).status, RuleStatus::Fail);
    assert_eq!(outcome(&d, RuleKind::Windows).status, RuleStatus::Bypassed);
    let p = one(&format!(
        "[breakglass]\nbypass = [\"windows\", \"approvals\", \"change-request\", \"dependencies\"]\n{GOVERNED}"
    ));
    let d = evaluate(&p, &f, saturday_night);
    assert_eq!(d.verdict, Verdict::Allow, "{:#?}", d.rules);
    assert_eq!(
        outcome(&d, RuleKind::Dependencies).status,
        RuleStatus::Bypassed
    );
}
