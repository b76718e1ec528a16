//! The one test suite every backend must pass. A backend's tests invoke
//! `backend_suite!(expression building a fresh store)`.

use std::sync::Arc;
use std::thread;

use tollgate_attest::Digest;
use tollgate_policies::{RepoName, Tag};

use crate::{
    ArtifactStore, ComponentHit, EvidenceRecord, EvidenceStore, ManifestRecord, SbomRecord,
    SbomStore, StoreError, TagBinding, TagOutcome, TokenRecord, TokenStore,
};

#[macro_export]
#[doc(hidden)]
macro_rules! __backend_suite {
    ($make:expr) => {
        $crate::__backend_suite!(@tests $make;
            manifests_round_trip_exact_bytes,
            immutable_tag_conflict_writes_nothing,
            mutable_tag_moves,
            tags_list_in_order_with_pagination,
            delete_manifest_removes_tags_and_referrers,
            referrers_are_per_repository,
            artifact_lists_every_repository,
            blob_links,
            tokens,
            concurrent_binders_one_winner,
            evidence_by_subject,
            sbom_where_used,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let store = $make;
                $crate::testsuite::$name(store);
            }
        )*
    };
}
pub use crate::__backend_suite as backend_suite;

fn repo(s: &str) -> RepoName {
    s.parse().expect("valid repository")
}

fn tag(s: &str) -> Tag {
    s.parse().expect("valid tag")
}

fn manifest(n: u32, subject: Option<&Digest>) -> (ManifestRecord, Vec<u8>) {
    let bytes = format!("{{\"schemaVersion\":2, \"n\": {n}}}\n").into_bytes();
    let rec = ManifestRecord {
        digest: Digest::sha256_of(&bytes),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: bytes.len() as u64,
        artifact_type: subject.map(|_| "application/vnd.example+json".to_string()),
        subject: subject.cloned(),
        annotations: [("k".to_string(), n.to_string())].into_iter().collect(),
        pushed_by: "ci".into(),
        pushed_at_ms: 1_700_000_000_000 + i64::from(n),
    };
    (rec, bytes)
}

fn bind(t: &Tag, immutable: bool) -> Option<TagBinding<'_>> {
    Some(TagBinding { tag: t, immutable })
}

pub fn manifests_round_trip_exact_bytes<S: ArtifactStore>(s: S) {
    let r = repo("dev/app");
    let (rec, bytes) = manifest(1, None);
    assert!(!s.repository_exists(&r).unwrap());
    assert_eq!(s.put_manifest(&r, &rec, &bytes, None).unwrap(), None);
    let (got, got_bytes) = s.get_manifest(&r, &rec.digest).unwrap().unwrap();
    assert_eq!(got, rec);
    assert_eq!(&got_bytes[..], &bytes[..]);
    assert!(s.repository_exists(&r).unwrap());
    assert!(
        s.get_manifest(&repo("dev/other"), &rec.digest)
            .unwrap()
            .is_none()
    );
}

pub fn immutable_tag_conflict_writes_nothing<S: ArtifactStore>(s: S) {
    let r = repo("dev/app");
    let t = tag("1.0.0");
    let (a, ab) = manifest(1, None);
    let (b, bb) = manifest(2, None);
    assert_eq!(
        s.put_manifest(&r, &a, &ab, bind(&t, true)).unwrap(),
        Some(TagOutcome::Created)
    );
    assert_eq!(
        s.put_manifest(&r, &a, &ab, bind(&t, true)).unwrap(),
        Some(TagOutcome::Unchanged)
    );
    match s.put_manifest(&r, &b, &bb, bind(&t, true)) {
        Err(StoreError::TagConflict { existing }) => assert_eq!(existing, a.digest),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.resolve_tag(&r, &t).unwrap(), Some(a.digest.clone()));
    assert!(
        s.get_manifest(&r, &b.digest).unwrap().is_none(),
        "a refused push left its manifest behind"
    );
}

pub fn mutable_tag_moves<S: ArtifactStore>(s: S) {
    let r = repo("dev/app");
    let t = tag("latest");
    let (a, ab) = manifest(1, None);
    let (b, bb) = manifest(2, None);
    s.put_manifest(&r, &a, &ab, bind(&t, false)).unwrap();
    assert_eq!(
        s.put_manifest(&r, &b, &bb, bind(&t, false)).unwrap(),
        Some(TagOutcome::Moved {
            previous: a.digest.clone()
        })
    );
    assert_eq!(s.resolve_tag(&r, &t).unwrap(), Some(b.digest));
    assert!(s.delete_tag(&r, &t).unwrap().is_some());
    assert_eq!(s.resolve_tag(&r, &t).unwrap(), None);
    assert_eq!(s.delete_tag(&r, &t).unwrap(), None);
}

pub fn tags_list_in_order_with_pagination<S: ArtifactStore>(s: S) {
    let r = repo("dev/app");
    let (a, ab) = manifest(1, None);
    for t in ["b", "a", "c", "B", "a1"] {
        s.put_manifest(&r, &a, &ab, bind(&tag(t), true)).unwrap();
    }
    // a tag in a repository whose name extends this one's must not leak in
    s.put_manifest(&repo("dev/app2"), &a, &ab, bind(&tag("zz"), true))
        .unwrap();
    s.put_manifest(&repo("dev/app/sub"), &a, &ab, bind(&tag("zz"), true))
        .unwrap();
    let all: Vec<String> = s
        .list_tags(&r, None, 100)
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(all, ["B", "a", "a1", "b", "c"]);
    let page: Vec<String> = s
        .list_tags(&r, Some("a"), 2)
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(page, ["a1", "b"]);
    assert!(s.list_tags(&r, Some("c"), 10).unwrap().is_empty());
    assert!(s.list_tags(&r, None, 0).unwrap().is_empty());
    let mut tags = s.tags_of(&r, &a.digest).unwrap();
    tags.sort();
    assert_eq!(tags.len(), 5);
}

pub fn delete_manifest_removes_tags_and_referrers<S: ArtifactStore>(s: S) {
    let r = repo("dev/app");
    let (a, ab) = manifest(1, None);
    let (sig, sb) = manifest(2, Some(&a.digest));
    s.put_manifest(&r, &a, &ab, bind(&tag("1.0.0"), true))
        .unwrap();
    s.put_manifest(&r, &sig, &sb, None).unwrap();
    assert_eq!(s.referrers(&r, &a.digest).unwrap().len(), 1);
    assert!(s.delete_manifest(&r, &sig.digest).unwrap());
    assert!(s.referrers(&r, &a.digest).unwrap().is_empty());
    assert!(s.delete_manifest(&r, &a.digest).unwrap());
    assert!(!s.delete_manifest(&r, &a.digest).unwrap());
    assert_eq!(s.resolve_tag(&r, &tag("1.0.0")).unwrap(), None);
    assert!(s.get_manifest(&r, &a.digest).unwrap().is_none());
    assert!(s.artifact(&a.digest).unwrap().is_empty());
}

pub fn referrers_are_per_repository<S: ArtifactStore>(s: S) {
    let (a, ab) = manifest(1, None);
    let (x, xb) = manifest(2, Some(&a.digest));
    let (y, yb) = manifest(3, Some(&a.digest));
    s.put_manifest(&repo("dev/app"), &a, &ab, None).unwrap();
    s.put_manifest(&repo("dev/app"), &x, &xb, None).unwrap();
    s.put_manifest(&repo("dev/other"), &y, &yb, None).unwrap();
    let refs = s.referrers(&repo("dev/app"), &a.digest).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].digest, x.digest);
    assert_eq!(refs[0].annotations.get("k").map(String::as_str), Some("2"));
    // a subject that does not exist yet is fine
    let ghost = Digest::sha256_of(b"ghost");
    let (g, gb) = manifest(4, Some(&ghost));
    s.put_manifest(&repo("dev/app"), &g, &gb, None).unwrap();
    assert_eq!(s.referrers(&repo("dev/app"), &ghost).unwrap().len(), 1);
}

pub fn artifact_lists_every_repository<S: ArtifactStore>(s: S) {
    let (a, ab) = manifest(1, None);
    s.put_manifest(&repo("dev/app"), &a, &ab, bind(&tag("1.0.0"), true))
        .unwrap();
    s.put_manifest(&repo("staging/app"), &a, &ab, bind(&tag("1.0.0"), true))
        .unwrap();
    let entries = s.artifact(&a.digest).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.repository.as_str()).collect();
    assert_eq!(names, ["dev/app", "staging/app"]);
    assert_eq!(entries[0].tags, vec![tag("1.0.0")]);
    let listed = s.list_artifacts(&repo("dev/app")).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].record.digest, a.digest);
    // deleting from one repository keeps the content for the other
    assert!(s.delete_manifest(&repo("dev/app"), &a.digest).unwrap());
    assert!(
        s.get_manifest(&repo("staging/app"), &a.digest)
            .unwrap()
            .is_some()
    );
}

pub fn blob_links<S: ArtifactStore>(s: S) {
    let d = Digest::sha256_of(b"layer");
    let (a, b) = (repo("dev/a"), repo("dev/b"));
    assert_eq!(s.blob_size(&a, &d).unwrap(), None);
    s.link_blob(&a, &d, 5).unwrap();
    s.link_blob(&b, &d, 5).unwrap();
    assert_eq!(s.blob_size(&a, &d).unwrap(), Some(5));
    assert!(s.repository_exists(&a).unwrap());
    assert_eq!(s.unlink_blob(&a, &d).unwrap(), Some(true));
    assert_eq!(s.unlink_blob(&a, &d).unwrap(), None);
    assert_eq!(s.unlink_blob(&b, &d).unwrap(), Some(false));
    assert_eq!(s.blob_size(&b, &d).unwrap(), None);
}

pub fn tokens<S: TokenStore>(s: S) {
    let t = TokenRecord {
        name: "ci".into(),
        hash: "ab".repeat(32),
        roles: vec!["pusher:dev/*".parse().unwrap()],
        created_at_ms: 1,
        revoked: false,
    };
    s.create_token(&t).unwrap();
    assert!(matches!(
        s.create_token(&t),
        Err(StoreError::TokenExists(_))
    ));
    assert_eq!(s.token_by_hash(&t.hash).unwrap(), Some(t.clone()));
    assert_eq!(s.token_by_hash(&"cd".repeat(32)).unwrap(), None);
    assert!(s.revoke_token("ci").unwrap());
    assert!(!s.revoke_token("nobody").unwrap());
    assert!(s.token_by_hash(&t.hash).unwrap().unwrap().revoked);
    assert_eq!(s.list_tokens().unwrap().len(), 1);
}

/// Many threads bind one new immutable tag to different digests: exactly one wins.
pub fn concurrent_binders_one_winner<S: ArtifactStore + Send + Sync + 'static>(s: S) {
    let s = Arc::new(s);
    let r = repo("dev/race");
    let handles: Vec<_> = (0..8)
        .map(|n| {
            let s = Arc::clone(&s);
            let r = r.clone();
            thread::spawn(move || {
                let (m, b) = manifest(n, None);
                let t = tag("1.0.0");
                s.put_manifest(&r, &m, &b, bind(&t, true))
                    .map(|o| (o, m.digest))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one binder must win: {results:?}");
    assert_eq!(winners[0].0, Some(TagOutcome::Created));
    assert_eq!(
        s.resolve_tag(&r, &tag("1.0.0")).unwrap(),
        Some(winners[0].1.clone())
    );
    assert_eq!(s.list_artifacts(&r).unwrap().len(), 1);
}

pub fn evidence_by_subject<S: EvidenceStore>(s: S) {
    let subject = Digest::sha256_of(b"image");
    let other = Digest::sha256_of(b"other image");
    let sig = Digest::sha256_of(b"sig manifest");
    let rec = |subject: &Digest, index: u32, verified: bool| EvidenceRecord {
        subject: subject.clone(),
        evidence_digest: sig.clone(),
        index,
        repository: Some(repo("dev/app")),
        evidence: tollgate_attest::Evidence::SigstoreBundle {
            bundle: "{}".into(),
        },
        verdict: tollgate_attest::Verdict {
            verified,
            reason: (!verified).then(|| "signer-untrusted".to_string()),
            message: None,
            signer: None,
            tlog: None,
            predicate_type: None,
            provenance: None,
        },
        trust_digest: Digest::sha256_of(b"trust"),
        recorded_at_ms: 1,
    };
    // evidence may arrive before (and without) its subject
    s.put_evidence(&rec(&subject, 0, true)).unwrap();
    s.put_evidence(&rec(&subject, 1, false)).unwrap();
    s.put_evidence(&rec(&other, 0, true)).unwrap();
    let got = s.evidence_for(&subject).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].verdict.reason.as_deref(), Some("signer-untrusted"));
    // re-recording replaces
    s.put_evidence(&rec(&subject, 1, true)).unwrap();
    assert!(
        s.evidence_for(&subject)
            .unwrap()
            .iter()
            .all(|r| r.verdict.verified)
    );
    assert_eq!(s.all_evidence().unwrap().len(), 3);
    assert_eq!(s.delete_evidence(&subject, &sig).unwrap(), 2);
    assert!(s.evidence_for(&subject).unwrap().is_empty());
    assert_eq!(s.evidence_for(&other).unwrap().len(), 1);
}

pub fn sbom_where_used<S: SbomStore>(s: S) {
    let (a, b) = (Digest::sha256_of(b"image a"), Digest::sha256_of(b"image b"));
    let doc = br#"{"bomFormat":"CycloneDX"}"#;
    let rec = |subject: &Digest| SbomRecord {
        subject: subject.clone(),
        sbom_digest: Digest::sha256_of(doc),
        format: "cyclonedx".into(),
        spec_version: "1.6".into(),
        components: 2,
        source: "api".into(),
        repository: None,
        recorded_at_ms: 1,
    };
    let hit = |subject: &Digest, name: &str, version: &str, license: &str| ComponentHit {
        subject: subject.clone(),
        sbom_digest: Digest::sha256_of(doc),
        name: name.into(),
        version: Some(version.into()),
        purl: Some(format!(
            "pkg:maven/org.apache.logging.log4j/{name}@{version}"
        )),
        package: Some(format!("maven/org.apache.logging.log4j/{name}")),
        license: Some(license.into()),
        license_ids: vec![license.into()],
    };
    let rows_a = [
        hit(&a, "log4j-core", "2.14.1", "Apache-2.0"),
        hit(&a, "log4j-api", "2.14.1", "Apache-2.0"),
    ];
    assert!(s.put_sbom(&rec(&a), doc, &rows_a).unwrap());
    assert!(
        !s.put_sbom(&rec(&a), doc, &rows_a).unwrap(),
        "ingest is idempotent"
    );
    s.put_sbom(
        &rec(&b),
        doc,
        &[hit(&b, "log4j-core", "2.17.1", "Apache-2.0")],
    )
    .unwrap();
    let core = s
        .components_by_package("maven/org.apache.logging.log4j/log4j-core", 100)
        .unwrap();
    let mut versions: Vec<_> = core.iter().map(|h| h.version.clone().unwrap()).collect();
    versions.sort();
    assert_eq!(versions, ["2.14.1", "2.17.1"]);
    // The version test sees the same rows as the plain query, `limit` counting rows looked at.
    let core_key = "maven/org.apache.logging.log4j/log4j-core";
    let old = |v: Option<&str>| v == Some("2.14.1");
    let kept = s.components_by_package_where(core_key, 100, &old).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0], rows_a[0]);
    let first = s.components_by_package(core_key, 1).unwrap();
    assert_eq!(
        s.components_by_package_where(core_key, 1, &old).unwrap(),
        first
            .into_iter()
            .filter(|h| old(h.version.as_deref()))
            .collect::<Vec<_>>()
    );
    assert!(
        s.components_by_package_where(core_key, 100, &|_| false)
            .unwrap()
            .is_empty()
    );
    // a package key that extends another's must not match it
    assert!(
        s.components_by_package("maven/org.apache.logging.log4j/log4j", 100)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.components_by_license("Apache-2.0", 100).unwrap().len(), 3);
    assert_eq!(s.components_by_license("Apache-2.0", 2).unwrap().len(), 2);
    assert_eq!(s.sboms_for(&a).unwrap().len(), 1);
    assert_eq!(
        &s.sbom_document(&Digest::sha256_of(doc)).unwrap().unwrap()[..],
        doc
    );

    // Hits come back exactly as given, whatever fields they have.
    let c = Digest::sha256_of(b"image c");
    let doc_c = br#"{"bomFormat":"CycloneDX","serialNumber":"c"}"#;
    let rec_c = SbomRecord {
        subject: c.clone(),
        sbom_digest: Digest::sha256_of(doc_c),
        ..rec(&c)
    };
    let dual = ComponentHit {
        subject: c.clone(),
        sbom_digest: rec_c.sbom_digest.clone(),
        name: "jakarta.activation".into(),
        version: None,
        purl: Some("pkg:maven/com.sun.activation/jakarta.activation".into()),
        package: Some("maven/com.sun.activation/jakarta.activation".into()),
        license: Some("BSD-3-Clause OR GPL-2.0-only WITH Classpath-exception-2.0".into()),
        license_ids: vec!["BSD-3-Clause".into(), "GPL-2.0-only".into()],
    };
    let bare = ComponentHit {
        name: "vendored.c".into(),
        purl: None,
        package: None,
        license: None,
        license_ids: Vec::new(),
        ..dual.clone()
    };
    let stranger = ComponentHit {
        subject: a.clone(),
        ..bare.clone()
    };
    assert!(
        s.put_sbom(&rec_c, doc_c, &[dual.clone(), stranger])
            .is_err(),
        "rows of another subject are refused"
    );
    assert!(
        s.sboms_for(&c).unwrap().is_empty(),
        "and nothing is written"
    );
    assert!(s.put_sbom(&rec_c, doc_c, &[dual.clone(), bare]).unwrap());
    assert_eq!(
        s.components_by_package("maven/com.sun.activation/jakarta.activation", 10)
            .unwrap(),
        std::slice::from_ref(&dual)
    );
    assert_eq!(s.components_by_license("GPL-2.0-only", 10).unwrap(), [dual]);
    assert_eq!(s.components_by_license("BSD-3-Clause", 0).unwrap(), []);
}
