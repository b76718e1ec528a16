//! Version ordering per ecosystem and version ranges for where-used queries.

use std::cmp::Ordering;

use tollgate_sbom::version::{MAX_RANGE_LEN, compare};
use tollgate_sbom::{Ecosystem, Purl, VersionKey, VersionRange, VersionRangeError};

/// Every pair of `versions` is ordered as listed, both ways round.
fn assert_ascending(eco: Ecosystem, versions: &[&str]) {
    for (i, low) in versions.iter().enumerate() {
        for high in &versions[i + 1..] {
            assert_eq!(
                compare(eco, low, high),
                Ordering::Less,
                "{eco:?}: {low} < {high}"
            );
            assert_eq!(
                compare(eco, high, low),
                Ordering::Greater,
                "{eco:?}: {high} > {low}"
            );
        }
    }
}

fn assert_equal(eco: Ecosystem, versions: &[&str]) {
    for a in versions {
        for b in versions {
            assert_eq!(compare(eco, a, b), Ordering::Equal, "{eco:?}: {a} = {b}");
        }
    }
}

fn range(text: &str) -> VersionRange {
    VersionRange::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The versions of `candidates` that `range` admits, in order.
fn admitted<'a>(eco: Ecosystem, range_text: &str, candidates: &[&'a str]) -> Vec<&'a str> {
    let range = range(range_text);
    let matches = range.matcher(eco);
    let out: Vec<&str> = candidates.iter().copied().filter(|v| matches(v)).collect();
    for v in candidates {
        assert_eq!(
            range.matches(eco, v),
            out.contains(v),
            "matcher and matches agree on {v}"
        );
    }
    out
}

#[test]
fn purl_types_pick_their_ecosystem() {
    for ty in ["npm", "cargo", "golang", "nuget", "composer", "gem", "NPM"] {
        assert_eq!(Ecosystem::for_purl_type(ty), Ecosystem::Semver, "{ty}");
    }
    assert_eq!(Ecosystem::for_purl_type("maven"), Ecosystem::Maven);
    assert_eq!(Ecosystem::for_purl_type("pypi"), Ecosystem::Pep440);
    assert_eq!(Ecosystem::for_purl_type("deb"), Ecosystem::Debian);
    for ty in ["apk", "rpm", "generic", "oci", "docker", "github", ""] {
        assert_eq!(Ecosystem::for_purl_type(ty), Ecosystem::Plain, "{ty}");
    }
    let purl: Purl = "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1"
        .parse()
        .unwrap();
    assert_eq!(Ecosystem::for_purl(&purl), Ecosystem::Maven);
}

#[test]
fn maven_orders_qualifiers_as_maven_does() {
    let eco = Ecosystem::Maven;
    assert_ascending(
        eco,
        &[
            "1.0-alpha",
            "1.0-alpha1",
            "1.0-beta",
            "1.0-milestone",
            "1.0-rc",
            "1.0-SNAPSHOT",
            "1.0",
            "1.0-sp",
            "1.0.1",
        ],
    );
    assert_ascending(eco, &["2.9", "2.17.0", "2.17.1", "2.17.2", "2.20.0"]);
    // Maven's own ComparableVersionTest sequences (3.9).
    assert_ascending(
        eco,
        &[
            "1-alpha2snapshot",
            "1-alpha2",
            "1-alpha-123",
            "1-beta-2",
            "1-beta123",
            "1-m2",
            "1-m11",
            "1-rc",
            "1-cr2",
            "1-rc123",
            "1-SNAPSHOT",
            "1",
            "1-sp",
            "1-sp2",
            "1-sp123",
            "1-abc",
            "1-def",
            "1-pom-1",
            "1-1-snapshot",
            "1-1",
            "1-2",
            "1-123",
        ],
    );
    assert_ascending(
        eco,
        &[
            "2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
            "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11",
            "11", "11.a", "11b", "11c", "11m",
        ],
    );
    assert_ascending(
        eco,
        &[
            "1.17.0-alpha",
            "1.17.0-RC1",
            "1.17.0-SNAPSHOT",
            "1.17.0",
            "1.17.1",
            "1.17.10",
            "2.0-SNAPSHOT",
            "2.0",
        ],
    );
}

#[test]
fn maven_tangles_resolve_to_a_total_order() {
    let eco = Ecosystem::Maven;
    // Maven 3.9 itself answers these cyclically; a beta stays below its release here.
    assert_ascending(eco, &["4.0.0.beta.1", "4", "4-1"]);
    assert_ascending(eco, &["1-0-alpha", "1", "1-sp"]);
    // MNG-6964.
    assert_ascending(eco, &["1-0.alpha", "1-0.beta", "1"]);
    assert_equal(eco, &["4.0.0.beta.1", "4-beta.1"]);
}

#[test]
fn maven_equalities() {
    let eco = Ecosystem::Maven;
    assert_equal(
        eco,
        &[
            "1",
            "1.0",
            "1.0.0",
            "1-0",
            "1.0-0",
            "1.ga",
            "1-ga",
            "1.final",
            "1-FINAL",
            "1.release",
            "1-release",
            "1.0.0.RELEASE",
        ],
    );
    assert_equal(eco, &["1a1", "1-a1", "1-alpha-1", "1alpha1", "1.0-ALPHA1"]);
    assert_equal(eco, &["2.0.a", "2.0.0.a", "2-a"]);
    assert_equal(eco, &["1.0.0.M1", "1-m1", "1-milestone-1"]);
    assert_equal(eco, &["1rc", "1cr", "1-rc", "1-CR", "1.RC"]);
    assert_equal(eco, &["1.0.0-RC1", "1.0.0.RC1", "1-rc-1"]);
    assert_equal(eco, &["1-SNAPSHOT", "1-snapshot", "1.0-SNAPSHOT"]);
    assert_equal(eco, &["12345678901234567890", "12345678901234567890.0"]);
    assert_ne!(compare(eco, "1.10", "1.9"), Ordering::Less);
}

#[test]
fn pep440_orders_pre_post_dev_and_local() {
    let eco = Ecosystem::Pep440;
    assert_ascending(
        eco,
        &[
            "1.0.dev1",
            "1.0a1",
            "1.0b2",
            "1.0rc1",
            "1.0",
            "1.0+local",
            "1.0.post1",
            "1.1",
        ],
    );
    // The ordering example of PEP 440 itself (with epochs appended).
    assert_ascending(
        eco,
        &[
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "2!0.1",
        ],
    );
    assert_eq!(compare(eco, "2.2.0rc1", "2.2.0"), Ordering::Less);
}

#[test]
fn pep440_spellings_normalise() {
    let eco = Ecosystem::Pep440;
    assert_equal(eco, &["1.0", "1.0.0", "v1.0", "V1.0.0", "0!1.0", " 1.0 "]);
    assert_equal(
        eco,
        &["1.0a1", "1.0alpha1", "1.0-a1", "1.0.alpha.1", "1.0A1"],
    );
    assert_equal(eco, &["1.0b0", "1.0beta", "1.0-b"]);
    assert_equal(
        eco,
        &["1.0rc1", "1.0c1", "1.0pre1", "1.0preview1", "1.0-RC1"],
    );
    assert_equal(
        eco,
        &[
            "1.0.post1",
            "1.0-1",
            "1.0post1",
            "1.0-r1",
            "1.0rev1",
            "1.0_post_1",
        ],
    );
    assert_equal(eco, &["1.0.post0", "1.0.post", "1.0-r"]);
    assert_equal(eco, &["1.0.dev1", "1.0-dev1", "1.0dev1"]);
    assert_equal(eco, &["1.0+ubuntu-1", "1.0+ubuntu.1", "1.0+Ubuntu_1"]);
}

#[test]
fn pep440_invalid_versions_sort_next_to_their_release() {
    let eco = Ecosystem::Pep440;
    // Not PEP 440, but real: read as 2.0.0 with a label, just above 2.0.0.
    assert_ascending(
        eco,
        &["1.9", "2.0.0", "2.0.0-SNAPSHOT", "2.0.0.post1", "2.0.1"],
    );
    assert_ascending(eco, &["garbage", "0.1"]);
}

#[test]
fn semver_orders_prereleases_and_ignores_build_metadata() {
    let eco = Ecosystem::Semver;
    // The SemVer 2.0 specification's own example.
    assert_ascending(
        eco,
        &[
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2.0",
            "1.10.0",
            "2.0.0",
        ],
    );
    assert_ascending(eco, &["4.17.4", "4.17.20", "4.17.21", "4.18.0"]);
    assert_equal(
        eco,
        &[
            "1.2.3",
            "v1.2.3",
            "=1.2.3",
            "1.2.3+build.5",
            "1.2.3+incompatible",
        ],
    );
    assert_equal(eco, &["1.2", "1.2.0", "v1.2", "1.2.0.0"]);
    assert_equal(eco, &["1.2-rc.1", "1.2.0-rc.1"]);
}

#[test]
fn semver_reads_near_semver_leniently() {
    let eco = Ecosystem::Semver;
    // NuGet's fourth segment, Go pseudo-versions, RubyGems' dotted pre-releases.
    assert_ascending(eco, &["1.2.3", "1.2.3.1", "1.2.4"]);
    assert_ascending(
        eco,
        &[
            "v0.0.0-20190101000000-abcdef123456",
            "v0.0.0-20210101000000-abcdef123456",
            "v0.0.1",
        ],
    );
    assert_ascending(eco, &["1.0.0.pre", "1.0.0.rc1", "1.0.0", "1.0.1"]);
    assert_ascending(eco, &["1.02.3", "1.3"]);
    assert_ascending(eco, &["latest", "0.0.1"]);
}

#[test]
fn debian_follows_dpkg() {
    let eco = Ecosystem::Debian;
    assert_ascending(
        eco,
        &[
            "1.0~rc1",
            "1.0",
            "1.0-1",
            "1.0-1ubuntu1",
            "1.0-2",
            "1.0a",
            "1.0+dfsg-1",
            "1.1",
            "1.10",
            "1:0.9",
        ],
    );
    assert_ascending(
        eco,
        &["2.36-9+deb12u3", "2.36-9+deb12u4", "2.36-9+deb12u10"],
    );
    assert_equal(eco, &["1.0", "0:1.0", "1.0-0", "01.0"]);
}

#[test]
fn plain_is_numeric_aware_and_strict_about_equality() {
    let eco = Ecosystem::Plain;
    assert_ascending(eco, &["1.2.9", "1.2.10", "1.10", "1.10a", "1.10.1"]);
    assert_ascending(eco, &["3.19.1-r0", "3.19.1-r9", "3.19.1-r10"]);
    assert_ne!(compare(eco, "1.0", "1.0.0"), Ordering::Equal);
    assert_eq!(compare(eco, "1.0", "1.0"), Ordering::Equal);
}

#[test]
fn comparison_is_a_total_order_even_on_garbage() {
    let versions = [
        "",
        " ",
        "0",
        "1",
        "1.0",
        "1.0.0",
        "01",
        "v1",
        "1-",
        "1.",
        ".1",
        "-1",
        "1..2",
        "1--2",
        "1-0.1",
        "1-0-alpha",
        "1-ga-1",
        "1-1",
        "1.1",
        "1-sp",
        "1-rc1",
        "1.0.RC1",
        "1-x1",
        "1x",
        "a",
        "alpha",
        "1.0a1",
        "1.0.post1",
        "1.0.dev1",
        "1!2",
        "1:2",
        "~",
        "1~",
        "1.0+x",
        "1.0+1",
        "1.0-beta.2",
        "1.0-beta.11",
        "1.0-BETA",
        "ünïcødé",
        "1.٣",
        "99999999999999999999999",
        "1.0_1",
        "1_0",
        "*",
        "x.y.z",
        "1.0.0-",
        "+",
        "1+",
        "=1",
        "v",
        "2.0.0.a",
        "2-a",
        "2.0.a1",
    ];
    for eco in [
        Ecosystem::Semver,
        Ecosystem::Maven,
        Ecosystem::Pep440,
        Ecosystem::Debian,
        Ecosystem::Plain,
    ] {
        let keys: Vec<VersionKey> = versions.iter().map(|v| VersionKey::new(eco, v)).collect();
        for (i, a) in keys.iter().enumerate() {
            assert_eq!(a.ecosystem(), eco);
            for (j, b) in keys.iter().enumerate() {
                let ab = a.cmp(b);
                assert_eq!(
                    ab,
                    b.cmp(a).reverse(),
                    "{eco:?}: {:?} vs {:?}",
                    versions[i],
                    versions[j]
                );
                for (k, c) in keys.iter().enumerate() {
                    if ab.is_le() && b <= c {
                        assert!(
                            a <= c,
                            "{eco:?}: {:?} <= {:?} <= {:?}",
                            versions[i],
                            versions[j],
                            versions[k]
                        );
                    }
                }
            }
        }
        let mut sorted = keys.clone();
        sorted.sort();
    }
}

#[test]
fn log4shell_range_over_maven_versions() {
    let versions = [
        "2.0-beta9",
        "2.0",
        "2.14.1",
        "2.15.0",
        "2.16.0",
        "2.17.0",
        "2.17.1",
        "2.17.2",
        "2.20.0",
    ];
    assert_eq!(
        admitted(Ecosystem::Maven, "<2.17.1", &versions),
        ["2.0-beta9", "2.0", "2.14.1", "2.15.0", "2.16.0", "2.17.0"]
    );
    assert_eq!(
        admitted(Ecosystem::Maven, ">=2.0-beta9, <2.15.0", &versions),
        ["2.0-beta9", "2.0", "2.14.1"]
    );
    // A string sort would put 2.9 after 2.17.
    assert!(range("<2.17.1").matches(Ecosystem::Maven, "2.9"));
    assert!(!range("<2.17.1").matches(Ecosystem::Plain, "2.17.10"));
}

#[test]
fn npm_and_pypi_ranges() {
    assert!(range("<4.17.21").matches(Ecosystem::Semver, "4.17.20"));
    assert!(!range("<4.17.21").matches(Ecosystem::Semver, "4.17.21"));
    assert!(range("<4.17.21").matches(Ecosystem::Semver, "4.17.21-rc.1"));
    assert!(range("=4.17.21").matches(Ecosystem::Semver, "v4.17.21"));
    assert!(range("4.17.21").matches(Ecosystem::Semver, "4.17.21+build"));
    assert!(range("<2.2.0").matches(Ecosystem::Pep440, "2.2.0rc1"));
    assert!(range("==2.2").matches(Ecosystem::Pep440, "2.2.0"));
    assert!(!range("!=2.2").matches(Ecosystem::Pep440, "2.2.0"));
    assert!(range(">=1!0.1").matches(Ecosystem::Pep440, "1!1.0"));
}

#[test]
fn ranges_combine_with_and_and_or() {
    let versions = ["0.9", "1.0", "1.5", "2.0", "2.5", "3.0", "3.1", "4.0"];
    let eco = Ecosystem::Semver;
    assert_eq!(
        admitted(eco, ">=1.0 <2.0 || >=3.0", &versions),
        ["1.0", "1.5", "3.0", "3.1", "4.0"]
    );
    assert_eq!(
        admitted(eco, ">=1.0,<2.0||>=3.0,!=3.1", &versions),
        ["1.0", "1.5", "3.0", "4.0"]
    );
    assert_eq!(
        admitted(eco, ">= 1.0, <= 2.0", &versions),
        ["1.0", "1.5", "2.0"]
    );
    assert_eq!(
        admitted(eco, "> 2.0 < 3.0 || = 0.9", &versions),
        ["0.9", "2.5"]
    );
    assert_eq!(admitted(eco, "*", &versions), versions);
    assert!(admitted(eco, ">3.0, <2.0", &versions).is_empty());
}

#[test]
fn vers_ranges() {
    let versions = [
        "0.9", "1.0.0", "1.2.3", "1.5.0", "2.0.0", "3.0.0", "5.0.0", "6.0.0",
    ];
    let eco = Ecosystem::Semver;
    assert_eq!(
        admitted(eco, "vers:npm/>=1.0.0|<2.0.0", &versions),
        ["1.0.0", "1.2.3", "1.5.0"]
    );
    // The spec's example, in any constraint order.
    assert_eq!(
        admitted(eco, "vers:npm/<5.0.0|1.2.3|>=2.0.0", &versions),
        ["1.2.3", "2.0.0", "3.0.0"]
    );
    assert_eq!(
        admitted(eco, "vers:npm/<1.0.0|>=5.0.0", &versions),
        ["0.9", "5.0.0", "6.0.0"]
    );
    assert_eq!(
        admitted(eco, "vers:npm/!=1.2.3", &versions).len(),
        versions.len() - 1
    );
    assert_eq!(
        admitted(eco, "vers:npm/>=1.0.0|!=1.2.3|<2.0.0", &versions),
        ["1.0.0", "1.5.0"]
    );
    assert_eq!(admitted(eco, "vers:npm/*", &versions), versions);
    assert!(admitted(eco, "vers:none/*", &versions).is_empty());
    assert_eq!(
        admitted(eco, " VERS:npm / >= 1.0.0 | < 1.5.0 ", &versions),
        ["1.0.0", "1.2.3"]
    );
    assert_eq!(admitted(eco, "vers:npm/1.2.%33", &versions), ["1.2.3"]);
    // Sorted with the scheme's own order: Maven puts 2.0-beta9 below 2.0.
    let maven = ["2.0-beta8", "2.0-beta9", "2.0", "2.14.1", "2.15.0"];
    assert_eq!(
        admitted(Ecosystem::Maven, "vers:maven/<2.15.0|>=2.0-beta9", &maven),
        ["2.0-beta9", "2.0", "2.14.1"]
    );
}

#[test]
fn display_round_trips() {
    for text in [
        "<2.17.1",
        ">=1.0, <2.0 || >=3.0",
        "*",
        "=1.0 || !=2.0",
        "vers:none/*",
    ] {
        let r = range(text);
        assert_eq!(r.to_string(), text);
        assert_eq!(range(&r.to_string()), r);
    }
    assert_eq!(range(">=1.0 <2.0||>3").to_string(), ">=1.0, <2.0 || >3");
    assert_eq!(
        range("vers:npm/>=1.0.0|<2.0.0").to_string(),
        ">=1.0.0, <2.0.0"
    );
    assert_eq!("<1".parse::<VersionRange>().unwrap(), range("< 1"));
}

#[test]
fn garbage_ranges_are_refused() {
    use VersionRangeError as E;
    let err = |text: &str| VersionRange::parse(text).unwrap_err();
    assert_eq!(err(""), E::Empty);
    assert_eq!(err("   "), E::Empty);
    assert_eq!(err(">="), E::MissingVersion(">="));
    assert_eq!(err(">=1.0 <"), E::MissingVersion("<"));
    assert_eq!(err(">= <2"), E::MissingVersion(">="));
    assert_eq!(err(">=,1.0"), E::MissingVersion(">="));
    assert_eq!(err("<<1"), E::InvalidVersion("<1".into()));
    assert_eq!(err("<=>1"), E::InvalidVersion(">1".into()));
    assert_eq!(err(">1 | <2"), E::InvalidVersion("|".into()));
    assert_eq!(err("!1.0"), E::InvalidVersion("!1.0".into()));
    assert_eq!(err("<1.0,,>"), E::MissingVersion(">"));
    assert_eq!(err("<1 ||"), E::EmptyAlternative);
    assert_eq!(err("|| <1"), E::EmptyAlternative);
    // A stray trailing separator is harmless.
    assert_eq!(range("<1,"), range("<1"));
    assert!(matches!(err("^1.2.3"), E::Unsupported(_)));
    assert!(matches!(err("~1.2"), E::Unsupported(_)));
    assert!(matches!(err("~=1.2"), E::Unsupported(_)));
    assert!(matches!(err("1.x || 2.*"), E::Unsupported(_)));
    assert!(matches!(err("1.0 - 2.0"), E::Unsupported(_)));
    assert_eq!(
        err(&"<1".repeat(MAX_RANGE_LEN)),
        E::TooLong(2 * MAX_RANGE_LEN)
    );
    for vers in [
        "vers:npm",
        "vers:/1.0",
        "vers:npm/",
        "vers:npm/||",
        "vers:npm/<1.0|<2.0",
        "vers:npm/>=1.0|>2.0",
        "vers:npm/1.0|1.0.0",
        "vers:npm/*|1.0",
        "vers:npm/1.0%zz",
    ] {
        assert!(matches!(err(vers), E::Vers(_)), "{vers}: {:?}", err(vers));
    }
    assert_eq!(err("vers:npm/>="), E::MissingVersion(">="));
    // Errors read as sentences.
    assert_eq!(
        err("<<1").to_string(),
        "\"<1\" is not a version; write ranges like `>=1.0, <2.0 || >=3.0`"
    );
}
