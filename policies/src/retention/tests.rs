use chrono::TimeZone as _;

use super::*;

const NOW_MS: i64 = 1_780_000_000_000;

fn now() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(NOW_MS).unwrap()
}

fn dg(name: &str) -> Digest {
    Digest::sha256_of(name.as_bytes())
}

fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn m(name: &str, tags: &[&str]) -> ManifestFacts {
    ManifestFacts {
        digest: dg(name),
        tags: tags.iter().map(|t| t.parse().unwrap()).collect(),
        subject: None,
        children: Vec::new(),
        pushed_at_ms: NOW_MS - DAY_MS * 100,
    }
}

fn aged(mut f: ManifestFacts, ms_ago: i64) -> ManifestFacts {
    f.pushed_at_ms = NOW_MS - ms_ago;
    f
}

fn referrer(name: &str, subject: &str) -> ManifestFacts {
    ManifestFacts {
        subject: Some(dg(subject)),
        ..m(name, &[])
    }
}

fn cosign(name: &str, subject: &str, suffix: &str) -> ManifestFacts {
    let tag = format!("{}{suffix}", dg(subject).tag_form());
    m(name, &[tag.as_str()])
}

fn index(name: &str, tags: &[&str], children: &[&str]) -> ManifestFacts {
    ManifestFacts {
        children: children.iter().map(|c| dg(c)).collect(),
        ..m(name, tags)
    }
}

fn repository(name: &str, manifests: Vec<ManifestFacts>) -> RepositoryFacts {
    RepositoryFacts {
        repository: repo(name),
        deletes_allowed: true,
        manifests,
    }
}

fn rule(pattern: &str, keep: Option<usize>, days: Option<u32>) -> RetentionRule {
    RetentionRule {
        repositories: Pattern::new(pattern),
        keep_versions: keep,
        untagged_days: days,
    }
}

fn facts(repositories: Vec<RepositoryFacts>) -> RetentionFacts {
    RetentionFacts {
        repositories,
        ..Default::default()
    }
}

/// The decision about manifest `name` in `repo`.
fn find<'a>(p: &'a RetentionPlan, repo_name: &str, name: &str) -> &'a RetentionDecision {
    p.decisions
        .iter()
        .find(|d| d.repository.as_str() == repo_name && d.digest == dg(name))
        .unwrap_or_else(|| panic!("no decision for {name} in {repo_name}: {p:#?}"))
}

#[track_caller]
fn expect(
    p: &RetentionPlan,
    repo_name: &str,
    name: &str,
    action: RetentionAction,
    reason: ReasonCode,
) {
    let d = find(p, repo_name, name);
    assert_eq!(
        (d.action, d.reason),
        (action, reason),
        "{name} in {repo_name}: {}",
        d.message
    );
}

use ReasonCode as R;
use RetentionAction::{Delete, Keep};

#[test]
fn keeps_the_newest_versions_in_semver_order() {
    // Byte order would rank 1.9.0 above 1.10.0 and 2.0.0-rc.1 above 2.0.0.
    let f = facts(vec![repository(
        "dev/app",
        vec![
            m("a", &["1.0.0"]),
            m("b", &["1.2.0"]),
            m("c", &["v1.9.0"]),
            m("d", &["1.10.0"]),
            m("e", &["2.0.0-alpha"]),
            m("f", &["2.0.0-rc.1"]),
            m("g", &["2.0.0"]),
        ],
    )]);
    let p = plan(&[rule("dev/*", Some(3), None)], &f, now());
    expect(&p, "dev/app", "g", Keep, R::RetentionKeepLatest);
    expect(&p, "dev/app", "f", Keep, R::RetentionKeepLatest);
    expect(&p, "dev/app", "e", Keep, R::RetentionKeepLatest);
    for gone in ["d", "c", "b", "a"] {
        expect(&p, "dev/app", gone, Delete, R::RetentionBeyondLatest);
    }
    assert_eq!(
        find(&p, "dev/app", "d").message,
        "1.10.0 is older than the newest 3 versions (2.0.0, 2.0.0-rc.1, 2.0.0-alpha)"
    );
    // Reading order: newest version first.
    let order: Vec<Digest> = p.decisions.iter().map(|d| d.digest.clone()).collect();
    let want: Vec<Digest> = ["g", "f", "e", "d", "c", "b", "a"].map(dg).to_vec();
    assert_eq!(order, want);
    assert_eq!(p.count(Delete), 4);
    assert_eq!(p.order.len(), 4);
}

#[test]
fn a_manifest_with_several_versions_ranks_by_its_highest() {
    let f = facts(vec![repository(
        "dev/app",
        vec![m("a", &["1.0.0", "3.0.0"]), m("b", &["2.0.0"])],
    )]);
    let p = plan(&[rule("dev/*", Some(1), None)], &f, now());
    expect(&p, "dev/app", "a", Keep, R::RetentionKeepLatest);
    expect(&p, "dev/app", "b", Delete, R::RetentionBeyondLatest);
}

#[test]
fn tags_that_are_not_versions_are_kept_and_say_so() {
    let f = facts(vec![repository(
        "dev/app",
        vec![
            m("a", &["1.0.0", "latest"]),
            m("b", &["2.0.0"]),
            m("c", &["3.0.0"]),
            m("d", &["stable"]),
        ],
    )]);
    let p = plan(&[rule("dev/*", Some(1), Some(1))], &f, now());
    expect(&p, "dev/app", "c", Keep, R::RetentionKeepLatest);
    expect(&p, "dev/app", "b", Delete, R::RetentionBeyondLatest);
    expect(&p, "dev/app", "a", Keep, R::RetentionTagNotSemver);
    assert!(
        find(&p, "dev/app", "a")
            .message
            .contains("tag latest is not a SemVer version"),
        "{}",
        find(&p, "dev/app", "a").message
    );
    expect(&p, "dev/app", "d", Keep, R::RetentionTagNotSemver);
}

#[test]
fn untagged_manifests_expire_by_now() {
    let f = facts(vec![repository(
        "dev/app",
        vec![
            aged(m("old", &[]), 8 * DAY_MS),
            aged(m("exact", &[]), 7 * DAY_MS),
            aged(m("young", &[]), 7 * DAY_MS - 1),
            aged(m("tagged", &["1.0.0"]), 30 * DAY_MS),
        ],
    )]);
    let p = plan(&[rule("dev/*", None, Some(7))], &f, now());
    expect(&p, "dev/app", "old", Delete, R::RetentionUntaggedExpired);
    expect(&p, "dev/app", "exact", Delete, R::RetentionUntaggedExpired);
    expect(&p, "dev/app", "young", Keep, R::RetentionUntaggedRecent);
    assert_eq!(
        find(&p, "dev/app", "old").message,
        "untagged, pushed 8 days ago; untagged manifests go after 7 days"
    );
    // No keep_versions: versions are not the rule's business.
    expect(&p, "dev/app", "tagged", Keep, R::RetentionNotCovered);
    // The same manifests a day earlier: only the oldest had expired.
    let earlier = Utc.timestamp_millis_opt(NOW_MS - DAY_MS).unwrap();
    let p = plan(&[rule("dev/*", None, Some(7))], &f, earlier);
    expect(&p, "dev/app", "old", Delete, R::RetentionUntaggedExpired);
    expect(&p, "dev/app", "exact", Keep, R::RetentionUntaggedRecent);
    // Without untagged_days, untagged manifests stay.
    let p = plan(&[rule("dev/*", Some(1), None)], &f, now());
    expect(&p, "dev/app", "old", Keep, R::RetentionNotCovered);
}

#[test]
fn a_running_digest_is_kept_in_every_repository() {
    let f = RetentionFacts {
        running: [(
            dg("a"),
            vec![Running {
                environment: "prod".into(),
                repository: repo("prod/app"),
            }],
        )]
        .into_iter()
        .collect(),
        ..facts(vec![
            repository("dev/app", vec![m("a", &["1.0.0"]), m("b", &["2.0.0"])]),
            repository("dev/mirror", vec![aged(m("a", &[]), 30 * DAY_MS)]),
            repository("prod/app", vec![m("a", &["1.0.0"])]),
        ])
    };
    let p = plan(&[rule("dev/*", Some(1), Some(1))], &f, now());
    expect(&p, "dev/app", "a", Keep, R::RetentionRunning);
    assert_eq!(
        find(&p, "dev/app", "a").message,
        "currently running in prod (prod/app)"
    );
    expect(&p, "dev/mirror", "a", Keep, R::RetentionRunning);
    expect(&p, "dev/app", "b", Keep, R::RetentionKeepLatest);
    assert!(
        p.decisions
            .iter()
            .all(|d| d.repository.as_str() != "prod/app"),
        "no rule covers prod/*"
    );
}

#[test]
fn holds_by_digest_and_by_pattern() {
    let f = RetentionFacts {
        holds: vec![
            HoldFacts {
                id: "hold-000001".into(),
                digest: Some(dg("a")),
                repositories: None,
                reason: "case 42".into(),
            },
            HoldFacts {
                id: "hold-000002".into(),
                digest: None,
                repositories: Some(Pattern::new("dev/audited*")),
                reason: "audit".into(),
            },
        ],
        ..facts(vec![
            repository(
                "dev/app",
                vec![m("a", &["1.0.0"]), m("b", &["1.1.0"]), m("c", &["2.0.0"])],
            ),
            repository(
                "dev/audited",
                vec![
                    m("x", &["1.0.0"]),
                    aged(m("y", &[]), 99 * DAY_MS),
                    m("z", &["2.0.0"]),
                ],
            ),
        ])
    };
    let p = plan(&[rule("dev/*", Some(1), Some(1))], &f, now());
    expect(&p, "dev/app", "a", Keep, R::RetentionHeld);
    assert_eq!(
        find(&p, "dev/app", "a").message,
        "legal hold hold-000001 on this digest: case 42"
    );
    expect(&p, "dev/app", "b", Delete, R::RetentionBeyondLatest);
    expect(&p, "dev/audited", "x", Keep, R::RetentionHeld);
    expect(&p, "dev/audited", "y", Keep, R::RetentionHeld);
    expect(&p, "dev/audited", "z", Keep, R::RetentionHeld);
}

#[test]
fn open_promotions_and_disabled_deletes_keep() {
    let f = RetentionFacts {
        open_promotions: [(dg("a"), vec!["prm-000007".to_string()])]
            .into_iter()
            .collect(),
        ..facts(vec![
            repository("dev/app", vec![m("a", &["1.0.0"]), m("b", &["2.0.0"])]),
            RepositoryFacts {
                deletes_allowed: false,
                ..repository("dev/locked", vec![m("x", &["1.0.0"]), m("y", &["2.0.0"])])
            },
        ])
    };
    let p = plan(&[rule("dev/*", Some(1), None)], &f, now());
    expect(&p, "dev/app", "a", Keep, R::RetentionPromotionOpen);
    expect(&p, "dev/locked", "x", Keep, R::DeleteDisabled);
}

#[test]
fn evidence_follows_its_subject() {
    let f = facts(vec![repository(
        "dev/app",
        vec![
            m("old", &["1.0.0"]),
            m("new", &["2.0.0"]),
            referrer("old-sbom", "old"),
            cosign("old-sig", "old", ".sig"),
            // a signature of the SBOM: evidence of evidence
            referrer("old-sbom-sig", "old-sbom"),
            referrer("new-sbom", "new"),
            cosign("new-att", "new", ".att"),
        ],
    )]);
    // untagged_days = 0 would delete every untagged manifest on its own: evidence is exempt.
    let p = plan(&[rule("dev/*", Some(1), Some(0))], &f, now());
    expect(&p, "dev/app", "new", Keep, R::RetentionKeepLatest);
    expect(&p, "dev/app", "new-sbom", Keep, R::RetentionEvidenceOfKept);
    expect(&p, "dev/app", "new-att", Keep, R::RetentionEvidenceOfKept);
    assert_eq!(find(&p, "dev/app", "new-att").follows, Some(dg("new")));
    expect(&p, "dev/app", "old", Delete, R::RetentionBeyondLatest);
    expect(
        &p,
        "dev/app",
        "old-sbom",
        Delete,
        R::RetentionEvidenceOfDeleted,
    );
    expect(
        &p,
        "dev/app",
        "old-sig",
        Delete,
        R::RetentionEvidenceOfDeleted,
    );
    expect(
        &p,
        "dev/app",
        "old-sbom-sig",
        Delete,
        R::RetentionEvidenceOfDeleted,
    );
    assert_eq!(
        find(&p, "dev/app", "old-sbom-sig").follows,
        Some(dg("old-sbom"))
    );

    // Evidence goes first: the subject never outlives a failed evidence delete.
    let pos = |name: &str| {
        let i = p
            .decisions
            .iter()
            .position(|d| d.digest == dg(name))
            .unwrap();
        p.order.iter().position(|x| *x == i).unwrap()
    };
    assert!(pos("old-sig") < pos("old"));
    assert!(pos("old-sbom") < pos("old"));
    assert!(pos("old-sbom-sig") < pos("old-sbom"));
    let old = find(&p, "dev/app", "old");
    assert_eq!(old.after.len(), 2, "waits for both pieces of evidence");
}

#[test]
fn protected_subjects_keep_their_evidence() {
    let f = RetentionFacts {
        holds: vec![HoldFacts {
            id: "hold-000001".into(),
            digest: Some(dg("a")),
            repositories: None,
            reason: "r".into(),
        }],
        ..facts(vec![repository(
            "dev/app",
            vec![
                m("a", &["1.0.0"]),
                m("b", &["2.0.0"]),
                cosign("a-sig", "a", ".sig"),
            ],
        )])
    };
    let p = plan(&[rule("dev/*", Some(1), Some(0))], &f, now());
    expect(&p, "dev/app", "a", Keep, R::RetentionHeld);
    expect(&p, "dev/app", "a-sig", Keep, R::RetentionEvidenceOfKept);
}

#[test]
fn evidence_in_another_repository_follows_the_subject_there() {
    let f = facts(vec![
        repository("dev/app", vec![m("a", &["1.0.0"]), m("b", &["2.0.0"])]),
        repository(
            "dev/signatures",
            vec![
                cosign("a-sig", "a", ".sig"),
                cosign("b-sig", "b", ".sig"),
                // evidence of something no repository holds: untagged like any other
                aged(cosign("ghost-sig", "ghost", ".sig"), 3 * DAY_MS),
            ],
        ),
        // Not covered: what is here is kept, and so is its evidence elsewhere.
        repository("prod/app", vec![m("p", &["1.0.0"])]),
        repository("dev/prod-sigs", vec![referrer("p-sbom", "p")]),
    ]);
    let p = plan(&[rule("dev/*", Some(1), Some(1))], &f, now());
    expect(
        &p,
        "dev/signatures",
        "a-sig",
        Delete,
        R::RetentionEvidenceOfDeleted,
    );
    expect(
        &p,
        "dev/signatures",
        "b-sig",
        Keep,
        R::RetentionEvidenceOfKept,
    );
    assert!(
        find(&p, "dev/signatures", "b-sig")
            .message
            .contains("in dev/app")
    );
    expect(
        &p,
        "dev/signatures",
        "ghost-sig",
        Delete,
        R::RetentionUntaggedExpired,
    );
    assert!(
        find(&p, "dev/signatures", "ghost-sig")
            .message
            .contains("which no repository holds")
    );
    expect(
        &p,
        "dev/prod-sigs",
        "p-sbom",
        Keep,
        R::RetentionEvidenceOfKept,
    );
}

#[test]
fn index_children_follow_their_index() {
    let f = facts(vec![repository(
        "dev/app",
        vec![
            index("idx1", &["1.0.0"], &["amd1", "arm1"]),
            index("idx2", &["2.0.0"], &["amd2", "arm2"]),
            m("amd1", &[]),
            m("arm1", &[]),
            m("amd2", &[]),
            m("arm2", &[]),
            // a child of the old index with a version of its own that is kept
            index("idx0", &["0.1.0"], &["shared"]),
            m("shared", &["3.0.0"]),
        ],
    )]);
    let p = plan(&[rule("dev/*", Some(2), Some(0))], &f, now());
    expect(&p, "dev/app", "shared", Keep, R::RetentionKeepLatest);
    expect(&p, "dev/app", "idx2", Keep, R::RetentionKeepLatest);
    expect(&p, "dev/app", "amd2", Keep, R::RetentionChildOfKept);
    expect(&p, "dev/app", "arm2", Keep, R::RetentionChildOfKept);
    expect(&p, "dev/app", "idx1", Delete, R::RetentionBeyondLatest);
    expect(&p, "dev/app", "amd1", Delete, R::RetentionChildOfDeleted);
    expect(&p, "dev/app", "arm1", Delete, R::RetentionChildOfDeleted);
    expect(&p, "dev/app", "idx0", Delete, R::RetentionBeyondLatest);
    // The index goes before its children: never an index naming missing manifests.
    let i = |name: &str| {
        p.decisions
            .iter()
            .position(|d| d.digest == dg(name))
            .unwrap()
    };
    let pos = |name: &str| p.order.iter().position(|x| *x == i(name)).unwrap();
    assert!(pos("idx1") < pos("amd1"));
    assert!(pos("idx1") < pos("arm1"));
    assert_eq!(find(&p, "dev/app", "amd1").after, vec![i("idx1")]);
}

#[test]
fn a_kept_index_keeps_a_child_that_would_go_on_its_own() {
    let f = facts(vec![repository(
        "dev/app",
        vec![
            index("idx", &["latest"], &["old"]),
            m("old", &["1.0.0"]),
            m("new", &["2.0.0"]),
        ],
    )]);
    let p = plan(&[rule("dev/*", Some(1), None)], &f, now());
    expect(&p, "dev/app", "idx", Keep, R::RetentionTagNotSemver);
    expect(&p, "dev/app", "old", Keep, R::RetentionChildOfKept);
}

#[test]
fn the_first_matching_rule_applies_and_uncovered_repositories_are_left_alone() {
    let f = facts(vec![
        repository("dev/app", vec![m("a", &["1.0.0"]), m("b", &["2.0.0"])]),
        repository("dev/tools", vec![m("c", &["1.0.0"]), m("d", &["2.0.0"])]),
        repository("qa/app", vec![m("e", &["1.0.0"]), m("f", &["2.0.0"])]),
    ]);
    let rules = [
        rule("dev/tools", Some(5), None),
        rule("dev/*", Some(1), None),
    ];
    let p = plan(&rules, &f, now());
    expect(&p, "dev/app", "a", Delete, R::RetentionBeyondLatest);
    expect(&p, "dev/tools", "c", Keep, R::RetentionKeepLatest);
    assert_eq!(find(&p, "dev/tools", "c").rule, "dev/tools");
    assert!(
        p.decisions
            .iter()
            .all(|d| d.repository.as_str() != "qa/app")
    );
    assert_eq!(p.decisions.len(), 4);
    // Planning is deterministic.
    let again = plan(&rules, &f, now());
    let key = |p: &RetentionPlan| {
        p.decisions
            .iter()
            .map(|d| (d.repository.clone(), d.digest.clone(), d.action, d.reason))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&p), key(&again));
}

#[test]
fn decisions_serialise_with_kebab_case_codes() {
    let f = facts(vec![repository("dev/app", vec![m("a", &["1.0.0"])])]);
    let p = plan(&[rule("dev/*", Some(1), None)], &f, now());
    let v = serde_json::to_value(&p).unwrap();
    let d = &v["decisions"][0];
    assert_eq!(d["action"], "keep");
    assert_eq!(d["reason"], "retention-keep-latest");
    assert_eq!(d["repository"], "dev/app");
    assert_eq!(d["tags"][0], "1.0.0");
    assert!(d.get("after").is_none());
}
