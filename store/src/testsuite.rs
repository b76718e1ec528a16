//! The one test suite every backend must pass. A backend's tests invoke
//! `backend_suite!(expression building a fresh store)`.

use std::sync::Arc;
use std::thread;

use tollgate_attest::Digest;
use tollgate_policies::{RepoName, Tag};

use crate::{
    ApprovalRecord, ArtifactStore, AuditDraft, AuditFilter, AuditStore, BundleMember, BundleRecord,
    ChecklistRecord, CheckpointRecord, ComponentHit, EvidenceRecord, EvidenceStore, FileChecksums,
    FileOutcome, FileRecord, FileStore, HitCursor, HitPage, HoldRecord, KeepVersion,
    ManifestRecord, NoteRecord, Opened, Outcome, OutcomeRecord, PolicyLoadRecord, PromotedEntry,
    PromotionFilter, PromotionRecord, PromotionState, PromotionStore, SbomRecord, SbomStore,
    StoreError, TagBinding, TagOutcome, TokenRecord, TokenStore, VerificationRecord,
};

#[macro_export]
#[doc(hidden)]
macro_rules! __backend_suite {
    ($make:expr) => {
        $crate::__backend_suite!(@tests $make;
            manifests_round_trip_exact_bytes,
            immutable_tag_conflict_writes_nothing,
            mutable_tag_moves,
            tag_mirrors_are_queued_with_the_binding,
            tags_list_in_order_with_pagination,
            delete_manifest_removes_tags_and_referrers,
            referrers_are_per_repository,
            artifact_lists_every_repository,
            repositories_are_listed,
            blob_links,
            files_by_path_and_checksum,
            immutable_file_paths_have_one_winner,
            racing_file_writers_settle_in_the_store,
            tokens,
            concurrent_binders_one_winner,
            evidence_by_subject,
            sbom_where_used,
            sbom_where_used_pages,
            large_sbom_indexes_every_component,
            promotions_open_once_and_update_by_revision,
            concurrent_promotions_one_record,
            completed_promotion_is_what_the_environment_holds,
            holds_and_policy_loads,
            verifications_by_artifact_and_environment,
            promotion_records_keep_release_log,
            bundles_complete_all_or_none,
            audit_log_numbers_and_queries,
            audit_filters_answer_like_a_scan,
            concurrent_audit_appends_leave_no_gaps,
            cached_lookups_follow_every_write,
            cached_tag_reads_see_their_own_writes_under_concurrent_readers,
            scheduled_promotions_are_open_and_claimed_once,
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
    Some(TagBinding {
        tag: t,
        immutable,
        mirror: false,
    })
}

fn bind_mirrored(t: &Tag, immutable: bool) -> Option<TagBinding<'_>> {
    Some(TagBinding {
        tag: t,
        immutable,
        mirror: true,
    })
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

pub fn tag_mirrors_are_queued_with_the_binding<S: ArtifactStore>(s: S) {
    let (r, other) = (repo("dev/app"), repo("dev/app2"));
    let (t, fixed) = (tag("latest"), tag("1.0.0"));
    let (a, ab) = manifest(1, None);
    let (b, bb) = manifest(2, None);
    let pending = |s: &S| -> Vec<(String, String, Digest)> {
        s.pending_mirrors(100)
            .unwrap()
            .into_iter()
            .map(|p| (p.repository.to_string(), p.tag.to_string(), p.digest))
            .collect()
    };
    // Only bindings that ask for it are queued (embedded mode never does).
    s.put_manifest(&r, &a, &ab, bind(&t, false)).unwrap();
    assert!(pending(&s).is_empty());
    s.put_manifest(&r, &a, &ab, bind_mirrored(&t, false))
        .unwrap();
    s.put_manifest(&other, &a, &ab, bind_mirrored(&fixed, true))
        .unwrap();
    s.put_manifest(&r, &a, &ab, bind_mirrored(&fixed, true))
        .unwrap();
    assert_eq!(
        pending(&s),
        vec![
            ("dev/app".into(), "1.0.0".into(), a.digest.clone()),
            ("dev/app".into(), "latest".into(), a.digest.clone()),
            ("dev/app2".into(), "1.0.0".into(), a.digest.clone()),
        ]
    );
    assert_eq!(s.pending_mirrors(1).unwrap().len(), 1);
    // A refused rebind queues nothing.
    assert!(matches!(
        s.put_manifest(&r, &b, &bb, bind_mirrored(&fixed, true)),
        Err(StoreError::TagConflict { .. })
    ));
    // The tag moves before the mirror of its first digest is confirmed: that confirmation
    // must not drop the mirror still owed for the new digest.
    s.put_manifest(&r, &b, &bb, bind_mirrored(&t, false))
        .unwrap();
    assert!(!s.tag_mirrored(&r, &t, &a.digest).unwrap());
    assert!(s.tag_mirrored(&r, &fixed, &a.digest).unwrap());
    assert!(!s.tag_mirrored(&r, &fixed, &a.digest).unwrap());
    assert_eq!(
        pending(&s),
        vec![
            ("dev/app".into(), "latest".into(), b.digest.clone()),
            ("dev/app2".into(), "1.0.0".into(), a.digest.clone()),
        ]
    );
    assert!(s.tag_mirrored(&r, &t, &b.digest).unwrap());
    assert!(s.tag_mirrored(&other, &fixed, &a.digest).unwrap());
    assert!(pending(&s).is_empty());
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

pub fn repositories_are_listed<S: ArtifactStore>(s: S) {
    assert!(s.list_repositories().unwrap().is_empty());
    let (a, ab) = manifest(1, None);
    let (b, bb) = manifest(2, None);
    // Names chosen to sort around each other's keys: `dev/app` vs `dev/app-x`, `dev/app/sub`.
    for name in ["dev/app/sub", "dev/app", "prod/app", "dev/app-x"] {
        s.put_manifest(&repo(name), &a, &ab, None).unwrap();
        s.put_manifest(&repo(name), &b, &bb, None).unwrap();
    }
    // A repository with only blobs holds no manifest, so it is not listed.
    s.link_blob(&repo("dev/blobs-only"), &Digest::sha256_of(b"x"), 1)
        .unwrap();
    let names = |s: &S| -> Vec<String> {
        s.list_repositories()
            .unwrap()
            .iter()
            .map(|r| r.as_str().to_string())
            .collect()
    };
    assert_eq!(
        names(&s),
        ["dev/app", "dev/app-x", "dev/app/sub", "prod/app"]
    );
    s.delete_manifest(&repo("dev/app-x"), &a.digest).unwrap();
    assert_eq!(names(&s).len(), 4, "one manifest left in dev/app-x");
    s.delete_manifest(&repo("dev/app-x"), &b.digest).unwrap();
    assert_eq!(names(&s), ["dev/app", "dev/app/sub", "prod/app"]);
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
        last_used_ms: None,
    };
    s.create_token(&t).unwrap();
    assert!(matches!(
        s.create_token(&t),
        Err(StoreError::TokenExists(_))
    ));
    assert_eq!(s.token_by_hash(&t.hash).unwrap(), Some(t.clone()));
    assert_eq!(s.token_by_hash(&"cd".repeat(32)).unwrap(), None);
    s.touch_token("ci", 5_000).unwrap();
    s.touch_token("ci", 4_000).unwrap(); // never back in time
    s.touch_token("nobody", 1).unwrap();
    assert_eq!(
        s.list_tokens().unwrap()[0].last_used_ms,
        Some(5_000),
        "last use is kept"
    );
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
    let core = by_package(&s, "maven/org.apache.logging.log4j/log4j-core", 100, None);
    let mut versions: Vec<_> = core.iter().map(|h| h.version.clone().unwrap()).collect();
    versions.sort();
    assert_eq!(versions, ["2.14.1", "2.17.1"]);
    // The version test reads on until `limit` matches: whichever row comes first, a limit of
    // one finds the one component of each version.
    let core_key = "maven/org.apache.logging.log4j/log4j-core";
    let old = |v: Option<&str>| v == Some("2.14.1");
    let new = |v: Option<&str>| v == Some("2.17.1");
    let kept = by_package(&s, core_key, 100, Some(&old));
    assert_eq!(kept, [rows_a[0].clone()]);
    assert_eq!(by_package(&s, core_key, 1, Some(&old)), [rows_a[0].clone()]);
    let newer = by_package(&s, core_key, 1, Some(&new));
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0].version.as_deref(), Some("2.17.1"));
    assert!(by_package(&s, core_key, 0, Some(&old)).is_empty());
    assert!(by_package(&s, core_key, 100, Some(&|_| false)).is_empty());
    // a package key that extends another's must not match it
    assert!(by_package(&s, "maven/org.apache.logging.log4j/log4j", 100, None).is_empty());
    assert_eq!(by_license(&s, "Apache-2.0", 100).len(), 3);
    assert_eq!(by_license(&s, "Apache-2.0", 2).len(), 2);
    assert_eq!(s.sboms_for(&a).unwrap().len(), 1);
    assert_eq!(
        &s.sbom_document(&Digest::sha256_of(doc)).unwrap().unwrap()[..],
        doc
    );

    // Dropping b's SBOM takes its entries out of every index, and nothing of a's.
    let rows_b = [hit(&b, "log4j-core", "2.17.1", "Apache-2.0")];
    assert!(s.delete_sbom(&rec(&b), &rows_b).unwrap());
    assert!(!s.delete_sbom(&rec(&b), &rows_b).unwrap(), "already gone");
    assert!(s.sboms_for(&b).unwrap().is_empty());
    assert_eq!(by_package(&s, core_key, 100, None), [rows_a[0].clone()]);
    assert_eq!(by_license(&s, "Apache-2.0", 100).len(), 2);
    assert!(
        s.sbom_document(&Digest::sha256_of(doc)).unwrap().is_some(),
        "a still uses the document"
    );
    s.put_sbom(&rec(&b), doc, &rows_b).unwrap();
    assert_eq!(by_license(&s, "Apache-2.0", 100).len(), 3);

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
        by_package(&s, "maven/com.sun.activation/jakarta.activation", 10, None),
        std::slice::from_ref(&dual)
    );
    assert_eq!(by_license(&s, "GPL-2.0-only", 10), [dual]);
    assert_eq!(by_license(&s, "BSD-3-Clause", 0), []);
}

/// The first page of a where-used query by package.
fn by_package<S: SbomStore>(
    s: &S,
    package: &str,
    limit: usize,
    keep: Option<KeepVersion<'_>>,
) -> Vec<ComponentHit> {
    s.components_by_package(package, None, limit, keep)
        .unwrap()
        .hits
}

fn by_license<S: SbomStore>(s: &S, id: &str, limit: usize) -> Vec<ComponentHit> {
    s.components_by_license(id, None, limit).unwrap().hits
}

/// Every page of a query, `limit` hits at a time; panics on an empty page that says more
/// follow, or on a page larger than asked.
fn all_pages(
    limit: usize,
    mut page: impl FnMut(Option<&HitCursor>, usize) -> HitPage,
) -> Vec<ComponentHit> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = page(after.as_ref(), limit);
        assert!(p.hits.len() <= limit, "page larger than {limit}");
        out.extend(p.hits.iter().cloned());
        match p.next {
            Some(next) => {
                assert_eq!(p.hits.len(), limit, "a page with a next cursor is full");
                // A cursor survives being handed out as bytes.
                let bytes = next.to_bytes();
                assert_eq!(HitCursor::from_bytes(&bytes), Some(next));
                after = HitCursor::from_bytes(&bytes);
            }
            None => return out,
        }
    }
}

/// A synthetic SBOM for `subject`: `n` components cycling over three packages (several
/// versions, some without one) and licences (some components with two ids, some with none).
fn cyclonedx_record(subject: &Digest, sbom_digest: &Digest, components: usize) -> SbomRecord {
    SbomRecord {
        subject: subject.clone(),
        sbom_digest: sbom_digest.clone(),
        format: "cyclonedx".into(),
        spec_version: "1.6".into(),
        components,
        source: "api".into(),
        repository: None,
        recorded_at_ms: 1,
    }
}

fn paging_sbom(subject: &Digest, n: usize) -> (SbomRecord, Vec<u8>, Vec<ComponentHit>) {
    let doc = format!("{{\"sbom of\":\"{subject}\",\"n\":{n}}}").into_bytes();
    let sbom_digest = Digest::sha256_of(&doc);
    let rec = cyclonedx_record(subject, &sbom_digest, n);
    let hits = (0..n)
        .map(|i| {
            let name = ["left-pad", "lodash", "semver"][i % 3];
            let version = (i % 5 != 4).then(|| format!("1.{}.0", i % 7));
            let ids: Vec<String> = match i % 4 {
                0 => vec!["MIT".into()],
                1 => vec!["MIT".into(), "Apache-2.0".into()],
                2 => vec!["ISC".into()],
                _ => Vec::new(),
            };
            ComponentHit {
                subject: subject.clone(),
                sbom_digest: sbom_digest.clone(),
                name: name.into(),
                purl: Some(match &version {
                    Some(v) => format!("pkg:npm/{name}@{v}"),
                    None => format!("pkg:npm/{name}"),
                }),
                version,
                package: Some(format!("npm/{name}")),
                license: (!ids.is_empty()).then(|| ids.join(" OR ")),
                license_ids: ids,
            }
        })
        .collect();
    (rec, doc, hits)
}

/// An SBOM large enough that its postings are built and written on two threads, in several
/// batches: every component is found, once, and nothing of it is left after it is dropped.
pub fn large_sbom_indexes_every_component<S: SbomStore>(s: S) {
    let subject = Digest::sha256_of(b"a large image");
    let n = 5_000;
    // A document that compresses well, as SBOMs do.
    let doc = format!(
        "{{\"bomFormat\":\"CycloneDX\",\"components\":[{}]}}",
        (0..n)
            .map(|i| format!("{{\"name\":\"pkg-{i}\"}}"))
            .collect::<Vec<_>>()
            .join(",")
    )
    .into_bytes();
    let sbom_digest = Digest::sha256_of(&doc);
    let rec = cyclonedx_record(&subject, &sbom_digest, n);
    let hits: Vec<ComponentHit> = (0..n)
        .map(|i| {
            // Every tenth component is one more version of a shared package.
            let name = if i % 10 == 0 {
                "shared".to_string()
            } else {
                format!("pkg-{i:05}")
            };
            let version = format!("1.0.{i}");
            let ids: Vec<String> = match i % 3 {
                0 => vec!["MIT".into()],
                1 => vec!["Apache-2.0".into(), "MIT".into()],
                _ => Vec::new(),
            };
            ComponentHit {
                subject: subject.clone(),
                sbom_digest: sbom_digest.clone(),
                purl: Some(format!("pkg:npm/{name}@{version}")),
                package: Some(format!("npm/{name}")),
                name,
                version: Some(version),
                license: (!ids.is_empty()).then(|| ids.join(" AND ")),
                license_ids: ids,
            }
        })
        .collect();
    assert!(s.put_sbom(&rec, &doc, &hits).unwrap());
    assert!(!s.put_sbom(&rec, &doc, &hits).unwrap(), "idempotent");
    assert_eq!(
        &s.sbom_document(&sbom_digest).unwrap().unwrap()[..],
        &doc[..]
    );
    let shared: Vec<ComponentHit> = hits.iter().step_by(10).cloned().collect();
    assert_eq!(by_package(&s, "npm/shared", usize::MAX, None), shared);
    for i in [1, 511, 512, 513, 1_999, 4_999] {
        let package = format!("npm/pkg-{i:05}");
        assert_eq!(
            by_package(&s, &package, usize::MAX, None),
            vec![hits[i].clone()],
            "{package}"
        );
    }
    let mit: Vec<ComponentHit> = hits.iter().filter(|h| i_has(h, "MIT")).cloned().collect();
    assert_eq!(by_license(&s, "MIT", usize::MAX), mit);
    let apache: Vec<ComponentHit> = hits
        .iter()
        .filter(|h| i_has(h, "Apache-2.0"))
        .cloned()
        .collect();
    assert_eq!(by_license(&s, "Apache-2.0", usize::MAX), apache);
    assert!(s.delete_sbom(&rec, &hits).unwrap());
    assert!(by_package(&s, "npm/shared", usize::MAX, None).is_empty());
    assert!(by_package(&s, "npm/pkg-04999", usize::MAX, None).is_empty());
    assert!(by_license(&s, "MIT", usize::MAX).is_empty());
}

fn i_has(h: &ComponentHit, id: &str) -> bool {
    h.license_ids.iter().any(|l| l == id)
}

pub fn sbom_where_used_pages<S: SbomStore>(s: S) {
    let subjects: Vec<Digest> = (0..6)
        .map(|i| Digest::sha256_of(format!("paged image {i}").as_bytes()))
        .collect();
    for (i, subject) in subjects.iter().enumerate() {
        let (rec, doc, hits) = paging_sbom(subject, 10 + 7 * i);
        assert!(s.put_sbom(&rec, &doc, &hits).unwrap());
    }
    let odd = |v: Option<&str>| v.is_some_and(|v| v.ends_with(".1.0") || v.ends_with(".3.0"));
    let packages = ["npm/lodash", "npm/semver", "npm/left-pad"];
    for package in packages {
        let whole = by_package(&s, package, usize::MAX, None);
        assert!(whole.len() > 20, "{package}: {}", whole.len());
        assert!(whole.iter().all(|h| h.package.as_deref() == Some(package)));
        // Index order: by artifact digest, then SBOM, then place in the SBOM.
        let order: Vec<String> = whole.iter().map(|h| h.subject.to_string()).collect();
        assert!(
            order.windows(2).all(|w| w[0] <= w[1]),
            "{package} in index order"
        );
        let filtered = by_package(&s, package, usize::MAX, Some(&odd));
        assert!(!filtered.is_empty() && filtered.len() < whole.len());
        for limit in [1, 2, 3, 7, whole.len() - 1, whole.len(), whole.len() + 1] {
            let paged = all_pages(limit, |after, limit| {
                s.components_by_package(package, after, limit, None)
                    .unwrap()
            });
            assert_eq!(paged, whole, "{package} in pages of {limit}");
            let paged = all_pages(limit, |after, limit| {
                s.components_by_package(package, after, limit, Some(&odd))
                    .unwrap()
            });
            assert_eq!(paged, filtered, "{package} filtered, in pages of {limit}");
        }
        // A page that ends on the last match says so, even with rows after it.
        let last = s
            .components_by_package(package, None, filtered.len(), Some(&odd))
            .unwrap();
        assert_eq!((last.hits.len(), last.next), (filtered.len(), None));
    }
    for id in ["MIT", "Apache-2.0", "ISC"] {
        let whole = by_license(&s, id, usize::MAX);
        assert!(whole.len() > 20, "{id}");
        assert!(whole.iter().all(|h| h.license_ids.iter().any(|l| l == id)));
        for limit in [1, 4, 9, whole.len()] {
            let paged = all_pages(limit, |after, limit| {
                s.components_by_license(id, after, limit).unwrap()
            });
            assert_eq!(paged, whole, "{id} in pages of {limit}");
        }
    }
    assert_eq!(
        s.components_by_license("GPL-3.0-only", None, 10).unwrap(),
        HitPage::default()
    );

    // Ingest between pages: the walk goes on from where it was; nothing is returned twice,
    // and what was indexed after the cursor's position is included.
    let before = by_package(&s, "npm/lodash", usize::MAX, None);
    let first = s
        .components_by_package("npm/lodash", None, 5, None)
        .unwrap();
    let late: Vec<Digest> = ["a late image", "another late image"]
        .iter()
        .map(|n| Digest::sha256_of(n.as_bytes()))
        .collect();
    for subject in &late {
        let (rec, doc, hits) = paging_sbom(subject, 9);
        s.put_sbom(&rec, &doc, &hits).unwrap();
    }
    let mut walked = first.hits.clone();
    walked.extend(all_pages(4, |after, limit| {
        s.components_by_package("npm/lodash", after.or(first.next.as_ref()), limit, None)
            .unwrap()
    }));
    let after_all = by_package(&s, "npm/lodash", usize::MAX, None);
    let cut = first.next.as_ref().expect("more than 5 lodash rows");
    let cut_subject = first.hits.last().unwrap().subject.to_string();
    let expected: Vec<ComponentHit> = after_all
        .iter()
        .filter(|h| before.contains(h) || h.subject.to_string() > cut_subject)
        .cloned()
        .collect();
    assert_eq!(walked, expected, "a walk across an ingest (cursor {cut:?})");
    let mut unique = walked.clone();
    unique.dedup();
    assert_eq!(unique.len(), walked.len(), "no hit twice");

    // Cursors are bytes a caller may damage; damaged ones are not cursors.
    let bytes = cut.to_bytes();
    for bad in [
        &b""[..],
        b"garbage",
        &bytes[..bytes.len() - 1]
            .iter()
            .copied()
            .chain(*b"x")
            .collect::<Vec<_>>(),
        &bytes[1..],
        &[&bytes[..], b"\0"].concat(),
        &[&bytes[..], b"\x00extra"].concat(),
        &[0xff, 0xfe],
    ] {
        assert_eq!(
            HitCursor::from_bytes(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // A cursor at a position no row has (a deleted or foreign one) still pages from there.
    let nowhere = HitCursor::from_bytes(
        format!(
            "{}\0{}\0{}",
            Digest::sha256_of(b"x"),
            Digest::sha256_of(b"y"),
            0
        )
        .as_bytes(),
    )
    .expect("well-formed");
    let rest = all_pages(3, |after, limit| {
        s.components_by_package("npm/semver", after.or(Some(&nowhere)), limit, None)
            .unwrap()
    });
    let x = Digest::sha256_of(b"x").to_string();
    let want: Vec<_> = by_package(&s, "npm/semver", usize::MAX, None)
        .into_iter()
        .filter(|h| h.subject.to_string() > x)
        .collect();
    assert_eq!(rest, want);
}

fn promotion(artifact: &Digest, env: &str) -> PromotionRecord {
    PromotionRecord {
        id: String::new(),
        revision: 0,
        artifact: artifact.clone(),
        source_repository: repo("staging/app"),
        target_environment: env.into(),
        target_repository: repo(&format!("{env}/app")),
        tag: Some(tag("1.2.0")),
        path: None,
        requested_by: "release-bot".into(),
        change_request: None,
        justification: None,
        emergency: false,
        rollback: false,
        bundle: None,
        state: PromotionState::Pending,
        decision: serde_json::json!({ "verdict": "pending" }),
        approvals: Vec::new(),
        postmortem: None,
        error: None,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
        owner: None,
        checklist: Vec::new(),
        notes: Vec::new(),
        outcome: None,
        scheduled_for_ms: None,
        cancelled_by: None,
    }
}

fn created(o: Opened) -> PromotionRecord {
    match o {
        Opened::Created(p) => p,
        Opened::Existing(p) => panic!("expected a new promotion, got existing {}", p.id),
    }
}

pub fn promotions_open_once_and_update_by_revision<S: PromotionStore>(s: S) {
    let a = Digest::sha256_of(b"app 1.2.0");
    let p = created(s.open_promotion(&promotion(&a, "prod")).unwrap());
    assert_eq!(p.id, "prm-000001");
    assert_eq!(p.revision, 1);
    assert_eq!(s.get_promotion(&p.id).unwrap().as_ref(), Some(&p));
    // the same artifact to the same environment while open: the same promotion
    match s.open_promotion(&promotion(&a, "prod")).unwrap() {
        Opened::Existing(e) => assert_eq!(e, p),
        Opened::Created(c) => panic!("duplicate promotion {}", c.id),
    }
    // another environment is another promotion
    let q = created(s.open_promotion(&promotion(&a, "staging")).unwrap());
    assert_eq!(q.id, "prm-000002");
    assert_eq!(s.in_flight("prod").unwrap(), 1);
    assert_eq!(s.in_flight("staging").unwrap(), 1);

    // an approval lands at the next revision; a writer holding the old one conflicts
    let mut approved = p.clone();
    approved.approvals.push(ApprovalRecord {
        by: "alice".into(),
        group: "security".into(),
        comment: None,
        at_ms: 1_700_000_000_500,
    });
    let approved = s.update_promotion(&approved).unwrap();
    assert_eq!(approved.revision, 2);
    let mut stale = p.clone();
    stale.state = PromotionState::Denied;
    assert!(matches!(
        s.update_promotion(&stale),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_promotion(&p.id).unwrap().unwrap(), approved);

    // denied: no longer in flight, and a new request opens a new promotion
    let mut denied = approved.clone();
    denied.state = PromotionState::Denied;
    s.update_promotion(&denied).unwrap();
    assert_eq!(s.in_flight("prod").unwrap(), 0);
    let r = created(s.open_promotion(&promotion(&a, "prod")).unwrap());
    assert_eq!(r.id, "prm-000003");

    // listing: newest first, filtered
    let all = s.list_promotions(&PromotionFilter::default(), 10).unwrap();
    let ids: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["prm-000003", "prm-000002", "prm-000001"]);
    let prod_denied = s
        .list_promotions(
            &PromotionFilter {
                environment: Some("prod".into()),
                state: Some(PromotionState::Denied),
                ..PromotionFilter::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(prod_denied.len(), 1);
    assert_eq!(prod_denied[0].id, "prm-000001");
    assert_eq!(
        s.list_promotions(&PromotionFilter::default(), 1)
            .unwrap()
            .len(),
        1
    );
    // Open states are listed from the in-flight index: newest first, by environment, limited,
    // and a promotion that settled is no longer there.
    let b = Digest::sha256_of(b"app 1.3.0");
    let staging = created(s.open_promotion(&promotion(&b, "staging")).unwrap());
    let c = Digest::sha256_of(b"app 1.4.0");
    let newest = created(s.open_promotion(&promotion(&c, "prod")).unwrap());
    let pending = |env: Option<&str>, limit| -> Vec<String> {
        s.list_promotions(
            &PromotionFilter {
                environment: env.map(Into::into),
                state: Some(PromotionState::Pending),
                ..PromotionFilter::default()
            },
            limit,
        )
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect()
    };
    // The oracle: the whole history, filtered here.
    let scanned = |env: Option<&str>| -> Vec<String> {
        s.list_promotions(&PromotionFilter::default(), 1000)
            .unwrap()
            .into_iter()
            .filter(|p| {
                p.state == PromotionState::Pending && env.is_none_or(|e| e == p.target_environment)
            })
            .map(|p| p.id)
            .collect()
    };
    assert_eq!(pending(None, 10), scanned(None));
    assert_eq!(pending(None, 10)[..2], [newest.id.as_str(), &staging.id]);
    assert_eq!(pending(Some("prod"), 10), scanned(Some("prod")));
    assert!(pending(Some("prod"), 10).contains(&r.id));
    assert!(!pending(Some("prod"), 10).contains(&staging.id));
    assert_eq!(pending(Some("prod"), 1), [newest.id.as_str()]);
    let mut settled = newest.clone();
    settled.state = PromotionState::Denied;
    s.update_promotion(&settled).unwrap();
    assert!(!pending(Some("prod"), 10).contains(&newest.id));
    assert_eq!(pending(Some("prod"), 10), scanned(Some("prod")));
    // One artifact's promotions, any state, from the by-artifact index: as a full scan finds.
    for d in [&a, &b, &c] {
        let indexed: Vec<String> = s
            .list_promotions(
                &PromotionFilter {
                    artifact: Some(d.clone()),
                    ..PromotionFilter::default()
                },
                100,
            )
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        let all: Vec<String> = s
            .list_promotions(&PromotionFilter::default(), 1000)
            .unwrap()
            .into_iter()
            .filter(|p| p.artifact == *d)
            .map(|p| p.id)
            .collect();
        assert!(!indexed.is_empty());
        assert_eq!(indexed, all);
    }
}

/// A scheduled promotion is open (in flight, deduplicated), listed by state with its time,
/// claimed by exactly one of two writers that read it at the same revision (two replicas'
/// schedulers), and a cancelled one is closed.
pub fn scheduled_promotions_are_open_and_claimed_once<S: PromotionStore>(s: S) {
    let a = Digest::sha256_of(b"app 2.0.0");
    let mut draft = promotion(&a, "prod");
    draft.state = PromotionState::Scheduled;
    draft.scheduled_for_ms = Some(1_800_000_000_000);
    let p = created(s.open_promotion(&draft).unwrap());
    assert_eq!(
        s.get_promotion(&p.id).unwrap().unwrap().scheduled_for_ms,
        Some(1_800_000_000_000)
    );
    assert_eq!(s.in_flight("prod").unwrap(), 1);
    assert!(matches!(
        s.open_promotion(&promotion(&a, "prod")).unwrap(),
        Opened::Existing(e) if e.id == p.id
    ));
    let scheduled = s
        .list_promotions(
            &PromotionFilter {
                state: Some(PromotionState::Scheduled),
                ..PromotionFilter::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(scheduled.len(), 1);
    // two schedulers claim it from the same read: one wins
    let mut claim = p.clone();
    claim.state = PromotionState::Pending;
    let won = s.update_promotion(&claim).unwrap();
    assert!(matches!(
        s.update_promotion(&claim),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.in_flight("prod").unwrap(), 1);
    // cancelled: closed, and a new request opens a new promotion
    let mut cancelled = won.clone();
    cancelled.state = PromotionState::Cancelled;
    cancelled.cancelled_by = Some("alice".into());
    s.update_promotion(&cancelled).unwrap();
    assert_eq!(s.in_flight("prod").unwrap(), 0);
    let again = created(s.open_promotion(&promotion(&a, "prod")).unwrap());
    assert_ne!(again.id, p.id);
}

pub fn concurrent_promotions_one_record<S: PromotionStore + Send + Sync + 'static>(s: S) {
    let s = Arc::new(s);
    let a = Digest::sha256_of(b"raced");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s);
            let a = a.clone();
            thread::spawn(move || s.open_promotion(&promotion(&a, "prod")).unwrap())
        })
        .collect();
    let results: Vec<Opened> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created: Vec<_> = results
        .iter()
        .filter(|o| matches!(o, Opened::Created(_)))
        .collect();
    assert_eq!(created.len(), 1, "exactly one promotion: {results:?}");
    for o in &results {
        let (Opened::Created(p) | Opened::Existing(p)) = o;
        assert_eq!(p.id, "prm-000001");
    }
    assert_eq!(s.in_flight("prod").unwrap(), 1);
}

pub fn completed_promotion_is_what_the_environment_holds<S: PromotionStore>(s: S) {
    let old = Digest::sha256_of(b"app 1.1.0");
    let new = Digest::sha256_of(b"app 1.2.0");
    assert_eq!(s.promoted("prod", &new).unwrap(), None);
    for (d, t, at) in [(&old, "1.1.0", 1), (&new, "1.2.0", 2)] {
        let mut p = promotion(d, "prod");
        p.state = PromotionState::Copying;
        p.tag = Some(tag(t));
        let p = created(s.open_promotion(&p).unwrap());
        let entry = PromotedEntry {
            environment: "prod".into(),
            repository: repo("prod/app"),
            digest: d.clone(),
            tag: Some(tag(t)),
            promotion: p.id.clone(),
            at_ms: at,
            contents: vec![Digest::sha256_of(t.as_bytes())],
        };
        let done = s.complete_promotion(&p, &entry).unwrap();
        let prod = repo("prod/app");
        assert!(s.is_served("prod", &prod, d).unwrap());
        assert!(
            s.is_served("prod", &prod, &Digest::sha256_of(t.as_bytes()))
                .unwrap()
        );
        assert!(!s.is_served("staging", &prod, d).unwrap());
        assert!(!s.is_served("prod", &repo("prod/other"), d).unwrap());
        assert_eq!(done.state, PromotionState::Promoted);
        assert_eq!(done.revision, p.revision + 1);
        let mut stored = entry.clone();
        stored.contents.clear();
        assert_eq!(s.promoted("prod", d).unwrap(), Some(stored));
    }
    assert_eq!(s.in_flight("prod").unwrap(), 0);
    // asking again for a done promotion is that promotion; a rollback is a new one
    match s.open_promotion(&promotion(&new, "prod")).unwrap() {
        Opened::Existing(p) => assert_eq!(p.state, PromotionState::Promoted),
        Opened::Created(p) => panic!("duplicate of a completed promotion: {}", p.id),
    }
    let mut back = promotion(&old, "prod");
    back.rollback = true;
    let back = created(s.open_promotion(&back).unwrap());
    assert_eq!(back.id, "prm-000003");
    // both stay promoted (a rollback may return to the old one); the current is the newest
    assert!(s.promoted("prod", &old).unwrap().is_some());
    assert_eq!(s.promoted("staging", &new).unwrap(), None);
    let cur = s.current("prod", &repo("prod/app")).unwrap().unwrap();
    assert_eq!(cur.digest, new);
    assert_eq!(s.current("prod", &repo("prod/other")).unwrap(), None);
    assert_eq!(s.current_all("prod").unwrap(), vec![cur]);
    let envs: Vec<String> = s
        .promotions_of(&new)
        .unwrap()
        .into_iter()
        .map(|e| e.environment)
        .collect();
    assert_eq!(envs, ["prod"]);
    // completing twice is a stale write, not a second promotion
    let p = s.get_promotion("prm-000001").unwrap().unwrap();
    let mut stale = p.clone();
    stale.revision -= 1;
    let entry = s.promoted("prod", &old).unwrap().unwrap();
    let later = Digest::sha256_of(b"a signature pushed later");
    s.allow_served("prod", &repo("prod/app"), std::slice::from_ref(&later))
        .unwrap();
    assert!(s.is_served("prod", &repo("prod/app"), &later).unwrap());
    assert!(matches!(
        s.complete_promotion(&stale, &entry),
        Err(StoreError::Conflict(_))
    ));
}

pub fn verifications_by_artifact_and_environment<S: PromotionStore>(s: S) {
    let a = Digest::sha256_of(b"a");
    let b = Digest::sha256_of(b"b");
    let rec = |d: &Digest, env: &str, kind: &str, at_ms: i64| VerificationRecord {
        id: String::new(),
        artifact: d.clone(),
        environment: env.into(),
        kind: kind.into(),
        result: tollgate_policies::TestResult::Passed,
        metrics: [("error_rate".to_string(), 0.001)].into_iter().collect(),
        signer: Some("key ci".into()),
        predicate_type: None,
        url: None,
        details: serde_json::json!({ "passedTests": ["smoke"] }),
        recorded_by: "ci".into(),
        at_ms,
    };
    let v1 = s
        .add_verification(&rec(&a, "staging", "smoke-test", 30))
        .unwrap();
    let v2 = s
        .add_verification(&rec(&a, "staging", "canary", 10))
        .unwrap();
    let v3 = s
        .add_verification(&rec(&a, "prod", "smoke-test", 20))
        .unwrap();
    s.add_verification(&rec(&b, "staging", "smoke-test", 5))
        .unwrap();
    assert_eq!(
        (v1.id.as_str(), v3.id.as_str()),
        ("ver-000001", "ver-000003")
    );
    // Oldest first, one environment or all, never another artifact's.
    assert_eq!(
        s.verifications(&a, Some("staging")).unwrap(),
        vec![v2.clone(), v1.clone()]
    );
    assert_eq!(s.verifications(&a, None).unwrap(), vec![v2, v3, v1]);
    // An environment name that is a prefix of another does not match it.
    assert!(s.verifications(&a, Some("stag")).unwrap().is_empty());
    assert!(
        s.verifications(&Digest::sha256_of(b"c"), None)
            .unwrap()
            .is_empty()
    );
}

pub fn promotion_records_keep_release_log<S: PromotionStore>(s: S) {
    let d = Digest::sha256_of(b"logged");
    let mut p = created(s.open_promotion(&promotion(&d, "prod")).unwrap());
    p.owner = Some("olga".into());
    p.checklist.push(ChecklistRecord {
        item: "backup-validated".into(),
        by: "olga".into(),
        roles: vec!["ops".into()],
        comment: None,
        at_ms: 1,
    });
    p.notes.push(NoteRecord {
        by: "olga".into(),
        text: "error rate up 0.1% in eu-west".into(),
        at_ms: 2,
    });
    p.outcome = Some(OutcomeRecord {
        outcome: Outcome::RolledBack,
        by: "olga".into(),
        comment: Some("latency".into()),
        at_ms: 3,
    });
    let saved = s.update_promotion(&p).unwrap();
    let read = s.get_promotion(&saved.id).unwrap().unwrap();
    assert_eq!(read, saved);
    assert_eq!(read.outcome.unwrap().outcome, Outcome::RolledBack);
    assert_eq!(read.notes.len(), 1);
}

pub fn holds_and_policy_loads<S: PromotionStore>(s: S) {
    let hold = |d: Option<Digest>, r: Option<&str>| HoldRecord {
        id: String::new(),
        digest: d,
        repositories: r.map(Into::into),
        reason: "litigation 2026-17".into(),
        created_by: "legal".into(),
        created_at_ms: 1,
    };
    let h1 = s
        .put_hold(&hold(Some(Digest::sha256_of(b"x")), None))
        .unwrap();
    let h2 = s.put_hold(&hold(None, Some("prod/*"))).unwrap();
    assert_eq!(
        (h1.id.as_str(), h2.id.as_str()),
        ("hold-000001", "hold-000002")
    );
    assert_eq!(s.holds().unwrap(), vec![h1.clone(), h2.clone()]);
    assert!(s.delete_hold(&h1.id).unwrap());
    assert!(!s.delete_hold(&h1.id).unwrap());
    assert_eq!(s.holds().unwrap(), vec![h2]);

    for (n, applied) in [(1, true), (2, false), (3, true)] {
        s.record_policy_load(&PolicyLoadRecord {
            at_ms: n,
            digest: applied.then(|| Digest::sha256_of(&n.to_le_bytes())),
            applied,
            trigger: "sighup".into(),
            errors: if applied {
                vec![]
            } else {
                vec!["base.toml:3:1: error".into()]
            },
        })
        .unwrap();
    }
    let loads = s.policy_loads(2).unwrap();
    assert_eq!(loads.iter().map(|l| l.at_ms).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(loads[1].errors.len(), 1);
}

pub fn bundles_complete_all_or_none<S: PromotionStore>(s: S) {
    let a = Digest::sha256_of(b"api 2.0.0");
    let b = Digest::sha256_of(b"web 2.0.0");
    let bundle = BundleRecord {
        id: "shop@2.0.0".into(),
        name: "shop".into(),
        version: "2.0.0".into(),
        members: [(&a, "dev/api"), (&b, "dev/web")]
            .into_iter()
            .map(|(d, r)| BundleMember {
                digest: d.clone(),
                repository: repo(r),
                tag: Some(tag("2.0.0")),
            })
            .collect(),
        created_by: "release-bot".into(),
        created_at_ms: 1,
    };
    assert_eq!(s.put_bundle(&bundle).unwrap(), (bundle.clone(), true));
    let mut changed = bundle.clone();
    changed.members.pop();
    // a bundle is immutable: the same id returns what was recorded
    assert_eq!(s.put_bundle(&changed).unwrap(), (bundle.clone(), false));
    assert_eq!(s.get_bundle("shop@2.0.0").unwrap(), Some(bundle.clone()));
    assert_eq!(s.list_bundles().unwrap(), vec![bundle]);

    let open = |d: &Digest, r: &str| {
        let mut p = promotion(d, "staging");
        p.target_repository = repo(r);
        p.bundle = Some("shop@2.0.0".into());
        p.state = PromotionState::Copying;
        created(s.open_promotion(&p).unwrap())
    };
    let pa = open(&a, "staging/api");
    let pb = open(&b, "staging/web");
    let entry = |p: &PromotionRecord| PromotedEntry {
        environment: "staging".into(),
        repository: p.target_repository.clone(),
        digest: p.artifact.clone(),
        tag: Some(tag("2.0.0")),
        promotion: p.id.clone(),
        at_ms: 5,
        contents: Vec::new(),
    };
    // one stale member: nothing is recorded for either
    let mut stale = pb.clone();
    stale.revision += 7;
    assert!(matches!(
        s.complete_promotions(&[(pa.clone(), entry(&pa)), (stale, entry(&pb))]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.promoted("staging", &a).unwrap(), None);
    assert_eq!(
        s.get_promotion(&pa.id).unwrap().unwrap().state,
        PromotionState::Copying
    );
    let done = s
        .complete_promotions(&[(pa.clone(), entry(&pa)), (pb.clone(), entry(&pb))])
        .unwrap();
    assert!(done.iter().all(|p| p.state == PromotionState::Promoted));
    assert!(s.promoted("staging", &a).unwrap().is_some());
    assert!(s.promoted("staging", &b).unwrap().is_some());
    assert_eq!(s.in_flight("staging").unwrap(), 0);
}

fn draft(actor: &str, action: &str, at_ms: i64, digest: Option<&Digest>) -> AuditDraft {
    AuditDraft {
        at_ms,
        actor: actor.into(),
        action: action.into(),
        repository: Some(repo("dev/app")),
        digest: digest.cloned(),
        decision: None,
        policy_digest: None,
        details: serde_json::json!({ "z": 1, "a": [1, 2] }),
    }
}

/// Filtered queries (answered from the audit index) return exactly what reading the whole log
/// and testing every entry would, for every starting point and page size, pruned entries
/// left out.
pub fn audit_filters_answer_like_a_scan<S: AuditStore>(s: S) {
    let digests: Vec<Digest> = (0..5)
        .map(|i| Digest::sha256_of(format!("img {i}").as_bytes()))
        .collect();
    let (actors, actions) = (
        ["ci", "alice"],
        ["manifest-push", "pull-refused", "promotion"],
    );
    let mut all = Vec::new();
    // Several appends (group commits), more than one index page per actor.
    for chunk in 0..6 {
        let drafts: Vec<AuditDraft> = (0..500)
            .map(|j| {
                let i = chunk * 500 + j;
                let digest = (i % 7 != 0).then(|| &digests[i % 5]);
                draft(actors[i % 2], actions[i % 3], i as i64, digest)
            })
            .collect();
        all.extend(s.append_audit(&drafts).unwrap());
    }
    let pruned = [3, 1_500, 1_501, 2_998];
    s.prune_audit(&pruned).unwrap();
    let filters = [
        AuditFilter {
            actor: Some("alice".into()),
            ..AuditFilter::default()
        },
        AuditFilter {
            action: Some("pull-refused".into()),
            ..AuditFilter::default()
        },
        AuditFilter {
            digest: Some(digests[2].clone()),
            ..AuditFilter::default()
        },
        AuditFilter {
            actor: Some("ci".into()),
            action: Some("promotion".into()),
            since_ms: Some(700),
            ..AuditFilter::default()
        },
        AuditFilter {
            digest: Some(digests[4].clone()),
            actor: Some("ci".into()),
            until_ms: Some(2_000),
            ..AuditFilter::default()
        },
        AuditFilter {
            actor: Some("nobody".into()),
            ..AuditFilter::default()
        },
    ];
    for f in filters {
        for from_seq in [0, 1, 1_024, 1_501, 2_999, 3_000, 9_999] {
            let f = AuditFilter {
                from_seq,
                ..f.clone()
            };
            let expected: Vec<u64> = all
                .iter()
                .filter(|e| !pruned.contains(&e.seq) && f.matches(e))
                .map(|e| e.seq)
                .collect();
            for limit in [1, 7, 1_025, 10_000] {
                let got: Vec<u64> = s
                    .query_audit(&f, limit)
                    .unwrap()
                    .iter()
                    .map(|e| e.seq)
                    .collect();
                let want = &expected[..expected.len().min(limit)];
                assert_eq!(got, want, "{f:?}, limit {limit}");
            }
        }
    }
}

pub fn audit_log_numbers_and_queries<S: AuditStore>(s: S) {
    let d = Digest::sha256_of(b"img");
    assert_eq!(s.audit_len().unwrap(), 0);
    let first = s
        .append_audit(&[
            draft("ci", "manifest-push", 10, Some(&d)),
            draft("alice", "promotion-requested", 20, Some(&d)),
        ])
        .unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
    let more = s
        .append_audit(&[draft("ci", "manifest-push", 30, None)])
        .unwrap();
    assert_eq!(more[0].seq, 2);
    assert_eq!(s.audit_len().unwrap(), 3);
    assert!(s.append_audit(&[]).unwrap().is_empty());

    // stored bytes are the canonical encoding, keys sorted inside details
    let raw = s.audit_raw(0, 10).unwrap();
    assert_eq!(raw.len(), 3);
    assert_eq!(raw[1], first[1].to_bytes());
    assert!(
        String::from_utf8(raw[0].clone())
            .unwrap()
            .contains(r#""details":{"a":[1,2],"z":1}"#)
    );
    assert_eq!(s.audit_raw(2, 10).unwrap(), vec![more[0].to_bytes()]);

    let q = |f: AuditFilter| {
        s.query_audit(&f, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(AuditFilter {
            actor: Some("ci".into()),
            ..AuditFilter::default()
        }),
        [0, 2]
    );
    assert_eq!(
        q(AuditFilter {
            digest: Some(d.clone()),
            action: Some("promotion-requested".into()),
            ..AuditFilter::default()
        }),
        [1]
    );
    assert_eq!(
        q(AuditFilter {
            since_ms: Some(20),
            until_ms: Some(30),
            ..AuditFilter::default()
        }),
        [1]
    );
    assert_eq!(
        q(AuditFilter {
            from_seq: 1,
            ..AuditFilter::default()
        }),
        [1, 2]
    );

    // pruning keeps the leaf hash and drops the body
    let before = crate::stored_leaf_hash(&s.audit_raw(1, 1).unwrap()[0]);
    assert_eq!(s.prune_audit(&[1, 99]).unwrap(), 1);
    assert_eq!(s.prune_audit(&[1]).unwrap(), 0, "already pruned");
    let after = s.audit_raw(1, 1).unwrap().remove(0);
    assert!(String::from_utf8_lossy(&after).contains("\"pruned\":true"));
    assert!(!String::from_utf8_lossy(&after).contains("alice"));
    assert_eq!(crate::stored_leaf_hash(&after), before);
    assert_eq!(
        q(AuditFilter::default()),
        [0, 2],
        "pruned entries no longer match queries"
    );

    assert_eq!(s.latest_checkpoint().unwrap(), None);
    let cp = |size: u64| CheckpointRecord {
        size,
        root: format!("{size:064x}"),
        at_ms: size as i64,
        note: format!("note {size}"),
    };
    s.put_checkpoint(&cp(3)).unwrap();
    s.put_checkpoint(&cp(2)).unwrap(); // late and smaller: not the latest
    assert_eq!(s.latest_checkpoint().unwrap(), Some(cp(3)));
    assert_eq!(s.audit_checkpoints().unwrap(), vec![cp(2), cp(3)]);
}

pub fn concurrent_audit_appends_leave_no_gaps<S: AuditStore + Send + Sync + 'static>(s: S) {
    let s = Arc::new(s);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                for i in 0..25 {
                    s.append_audit(&[draft(&format!("w{t}"), "x", i, None)])
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.audit_len().unwrap(), 200);
    let all = s.query_audit(&AuditFilter::default(), 1000).unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (0..200).collect::<Vec<_>>()
    );
}

/// Tags, servable digests and promotions are read through a cache (pulls and admission ask
/// for them on every request): every write is seen by the next read, negative answers too.
pub fn cached_lookups_follow_every_write<S: ArtifactStore + PromotionStore>(s: S) {
    let r = repo("dev/app");
    let latest = tag("latest");
    let (a, ab) = manifest(1, None);
    let (b, bb) = manifest(2, None);
    assert_eq!(s.resolve_tag(&r, &latest).unwrap(), None);
    s.put_manifest(&r, &a, &ab, bind(&latest, false)).unwrap();
    assert_eq!(s.resolve_tag(&r, &latest).unwrap(), Some(a.digest.clone()));
    s.put_manifest(&r, &b, &bb, bind(&latest, false)).unwrap();
    assert_eq!(s.resolve_tag(&r, &latest).unwrap(), Some(b.digest.clone()));
    // a refused write changes nothing
    let v1 = tag("1.0.0");
    s.put_manifest(&r, &a, &ab, bind(&v1, true)).unwrap();
    assert_eq!(s.resolve_tag(&r, &v1).unwrap(), Some(a.digest.clone()));
    assert!(s.put_manifest(&r, &b, &bb, bind(&v1, true)).is_err());
    assert_eq!(s.resolve_tag(&r, &v1).unwrap(), Some(a.digest.clone()));
    assert!(s.delete_tag(&r, &latest).unwrap().is_some());
    assert_eq!(s.resolve_tag(&r, &latest).unwrap(), None);
    assert!(s.delete_manifest(&r, &a.digest).unwrap());
    assert_eq!(s.resolve_tag(&r, &v1).unwrap(), None);

    let prod = repo("prod/app");
    let d = b.digest.clone();
    let later = Digest::sha256_of(b"evidence pushed later");
    assert!(!s.is_promoted("prod", &d).unwrap());
    assert!(!s.is_served("prod", &prod, &d).unwrap());
    assert!(!s.is_served("prod", &prod, &later).unwrap());
    let mut p = promotion(&d, "prod");
    p.state = PromotionState::Copying;
    let p = created(s.open_promotion(&p).unwrap());
    assert!(!s.is_promoted("prod", &d).unwrap(), "open is not promoted");
    let entry = PromotedEntry {
        environment: "prod".into(),
        repository: prod.clone(),
        digest: d.clone(),
        tag: Some(tag("1.2.0")),
        promotion: p.id.clone(),
        at_ms: 1,
        contents: vec![],
    };
    s.complete_promotion(&p, &entry).unwrap();
    assert!(s.is_promoted("prod", &d).unwrap());
    assert!(!s.is_promoted("staging", &d).unwrap());
    assert!(s.is_served("prod", &prod, &d).unwrap());
    assert!(!s.is_served("prod", &prod, &later).unwrap());
    s.allow_served("prod", &prod, std::slice::from_ref(&later))
        .unwrap();
    assert!(s.is_served("prod", &prod, &later).unwrap());
}

/// A writer moving a tag reads back each of its own writes while readers keep loading the tag
/// into the cache from older snapshots.
pub fn cached_tag_reads_see_their_own_writes_under_concurrent_readers<
    S: ArtifactStore + Send + Sync + 'static,
>(
    s: S,
) {
    let s = Arc::new(s);
    let r = repo("dev/app");
    let latest = tag("latest");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (s, r, t, stop) = (Arc::clone(&s), r.clone(), latest.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    s.resolve_tag(&r, &t).unwrap();
                }
            })
        })
        .collect();
    for n in 0..300 {
        let (m, mb) = manifest(n, None);
        s.put_manifest(&r, &m, &mb, bind(&latest, false)).unwrap();
        assert_eq!(
            s.resolve_tag(&r, &latest).unwrap(),
            Some(m.digest),
            "write {n}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in readers {
        t.join().unwrap();
    }
}

fn file(path: &str, content: &[u8]) -> FileRecord {
    let d = Digest::sha256_of(content);
    FileRecord {
        path: path.to_string(),
        digest: d.clone(),
        size: content.len() as u64,
        checksums: FileChecksums {
            sha1: format!("{:040x}", content.len()),
            md5: format!("{:032x}", content.len() + 1),
            sha512: d.hex().repeat(2),
        },
        content_type: None,
        purl: Some("pkg:generic/x".into()),
        pushed_by: "ci".into(),
        pushed_at_ms: 1,
    }
}

pub fn files_by_path_and_checksum<S: FileStore>(s: S) {
    let (a, b) = (repo("libs-dev"), repo("libs-prod"));
    let jar = file("org/x/1.0/x-1.0.jar", b"jar");
    assert_eq!(s.put_file(&a, &jar, true).unwrap(), FileOutcome::Created);
    assert_eq!(s.put_file(&a, &jar, true).unwrap(), FileOutcome::Unchanged);
    assert_eq!(s.put_file(&b, &jar, true).unwrap(), FileOutcome::Created);
    assert_eq!(s.get_file(&a, &jar.path).unwrap().as_ref(), Some(&jar));
    assert_eq!(s.get_file(&a, "org/x/1.0/nope").unwrap(), None);
    let by_digest = s.files_with_digest(&jar.digest).unwrap();
    let repos: Vec<&str> = by_digest.iter().map(|e| e.repository.as_str()).collect();
    assert_eq!(repos, ["libs-dev", "libs-prod"]);
    let by_sha1 = s.files_with_checksum("sha1", &jar.checksums.sha1).unwrap();
    assert_eq!(by_sha1.len(), 2);
    assert_eq!(
        s.files_with_checksum("md5", &jar.checksums.md5.to_uppercase())
            .unwrap()
            .len(),
        2,
        "hex is matched case-insensitively"
    );

    // An immutable path refuses other bytes and keeps the first ones and their index.
    let other = file("org/x/1.0/x-1.0.jar", b"other");
    match s.put_file(&a, &other, true) {
        Err(StoreError::PathConflict { existing }) => assert_eq!(existing, jar.digest),
        r => panic!("expected a path conflict, got {r:?}"),
    }
    assert_eq!(
        s.get_file(&a, &jar.path).unwrap().unwrap().digest,
        jar.digest
    );
    // A mutable one moves, and the index follows.
    assert_eq!(
        s.put_file(&a, &other, false).unwrap(),
        FileOutcome::Replaced {
            previous: jar.digest.clone()
        }
    );
    assert_eq!(s.files_with_digest(&jar.digest).unwrap().len(), 1);
    assert_eq!(s.files_with_digest(&other.digest).unwrap().len(), 1);

    let meta = file("org/x/maven-metadata.xml", b"<metadata/>");
    s.put_file(&a, &meta, false).unwrap();
    let listed: Vec<String> = s
        .list_files(&a, "org/x/", 10)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(listed, ["org/x/1.0/x-1.0.jar", "org/x/maven-metadata.xml"]);
    assert_eq!(s.list_files(&a, "org/", 1).unwrap().len(), 1);
    assert!(s.list_files(&repo("libs"), "", 10).unwrap().is_empty());

    // Unbinding undoes only the binding it names.
    assert!(!s.unbind_file(&a, &other.path, &jar.digest).unwrap());
    assert_eq!(
        s.get_file(&a, &other.path).unwrap().unwrap().digest,
        other.digest
    );
    assert!(s.unbind_file(&b, &jar.path, &jar.digest).unwrap());
    assert!(!s.unbind_file(&b, &jar.path, &jar.digest).unwrap());
    assert_eq!(s.get_file(&b, &jar.path).unwrap(), None);
    assert!(s.files_with_digest(&jar.digest).unwrap().is_empty());
    assert_eq!(s.put_file(&b, &jar, true).unwrap(), FileOutcome::Created);

    assert_eq!(s.delete_file(&a, &other.path).unwrap(), Some(other.clone()));
    assert_eq!(s.delete_file(&a, &other.path).unwrap(), None);
    assert!(s.files_with_digest(&other.digest).unwrap().is_empty());
    assert_eq!(s.files_with_digest(&jar.digest).unwrap().len(), 1);
}

/// Writers racing on one path, as replicas of one store do: for an immutable path exactly one
/// binding is created, every writer of the winner's bytes succeeds (created once, unchanged
/// after), every other is refused naming the winner; for a mutable path every write succeeds
/// and the checksum index ends up describing exactly what the path holds.
pub fn racing_file_writers_settle_in_the_store<S: FileStore + Send + Sync + 'static>(s: S) {
    let s = Arc::new(s);
    let r = repo("libs-prod");
    for round in 0..4u8 {
        let path = format!("org/x/1.{round}/x-1.{round}.jar");
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let (s, r, path, barrier) = (
                    Arc::clone(&s),
                    r.clone(),
                    path.clone(),
                    Arc::clone(&barrier),
                );
                thread::spawn(move || {
                    // Two writers per content: a retried deploy races its own first attempt.
                    let rec = file(&path, &[round, i % 4]);
                    barrier.wait();
                    (rec.digest.clone(), s.put_file(&r, &rec, true))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let held = s.get_file(&r, &path).unwrap().unwrap().digest;
        let created = results
            .iter()
            .filter(|(_, o)| matches!(o, Ok(FileOutcome::Created)))
            .count();
        assert_eq!(created, 1, "round {round}: {results:?}");
        for (digest, outcome) in &results {
            match outcome {
                Ok(FileOutcome::Created | FileOutcome::Unchanged) => assert_eq!(digest, &held),
                Err(StoreError::PathConflict { existing }) => {
                    assert_ne!(digest, &held);
                    assert_eq!(existing, &held);
                }
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        for (digest, _) in &results {
            let n = s.files_with_digest(digest).unwrap().len();
            assert_eq!(n, usize::from(digest == &held), "index of {digest}");
        }
    }

    let path = "org/x/maven-metadata.xml";
    let handles: Vec<_> = (0..8u8)
        .map(|i| {
            let (s, r) = (Arc::clone(&s), r.clone());
            thread::spawn(move || {
                let rec = file(path, &[9, i]);
                (rec.digest.clone(), s.put_file(&r, &rec, false))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results.iter().all(|(_, o)| o.is_ok()), "{results:?}");
    let held = s.get_file(&r, path).unwrap().unwrap().digest;
    for (digest, _) in &results {
        let n = s.files_with_digest(digest).unwrap().len();
        assert_eq!(n, usize::from(digest == &held), "index of {digest}");
    }
}

pub fn immutable_file_paths_have_one_winner<S: FileStore + Send + Sync + 'static>(s: S) {
    let s = Arc::new(s);
    let r = repo("libs-dev");
    let handles: Vec<_> = (0..8u8)
        .map(|i| {
            let (s, r) = (Arc::clone(&s), r.clone());
            thread::spawn(move || s.put_file(&r, &file("a/b.jar", &[i]), true).is_ok())
        })
        .collect();
    let winners = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(winners, 1);
    let held = s.get_file(&r, "a/b.jar").unwrap().unwrap();
    assert_eq!(s.files_with_digest(&held.digest).unwrap().len(), 1);
}
