//! The store traits implemented once over any [`Kv`] backend.

use std::fmt;

use bytes::Bytes;
use tollgate_attest::Digest;
use tollgate_policies::{RepoName, Tag};

use super::cache::Cached;
use super::{Kv, KvRead, Table, sbom_rows};
use crate::{
    ArtifactEntry, ArtifactStore, ComponentHit, EvidenceRecord, EvidenceStore, HitCursor, HitPage,
    KeepVersion, ManifestRecord, PackedDocument, PendingMirror, Result, SCHEMA_VERSION, SbomRecord,
    SbomStore, StoreError, TagBinding, TagOutcome, TokenRecord, TokenStore,
};

/// The store over a key-value backend, behind a read cache of the lookups pulls and admission
/// make (see [`Cached`]).
pub struct KvStore<K> {
    pub(super) kv: Cached<K>,
}

impl<K: fmt::Debug> fmt::Debug for KvStore<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvStore").field("kv", &self.kv).finish()
    }
}

pub(super) const SCHEMA_KEY: &str = "schema_version";
/// The meta entries a fresh store holds after opening: a store with only these is empty.
pub(super) const INIT_KEYS: [&str; 3] = [
    SCHEMA_KEY,
    super::kv_promotions::BY_ARTIFACT_KEY,
    super::kv_audit::INDEX_KEY,
];
/// Separates the parts of composite keys; it cannot occur in names, tags or digests.
const SEP: char = '\0';

pub(super) fn key2(a: &str, b: &str) -> String {
    format!("{a}{SEP}{b}")
}

pub(super) fn key3(a: &str, b: &str, c: &str) -> String {
    format!("{a}{SEP}{b}{SEP}{c}")
}

pub(super) fn last_part(key: &str) -> &str {
    key.rsplit(SEP).next().unwrap_or(key)
}

pub(super) fn corrupt<E: fmt::Display>(what: &str) -> impl FnOnce(E) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

fn decode_record(v: &[u8]) -> Result<ManifestRecord> {
    serde_json::from_slice(v).map_err(corrupt("manifest record"))
}

pub(super) fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StoreError::Backend(e.to_string()))
}

fn parse_digest(s: &str) -> Result<Digest> {
    s.parse().map_err(corrupt("digest"))
}

fn parse_tag(s: &str) -> Result<Tag> {
    s.parse().map_err(corrupt("tag"))
}

fn parse_repo(s: &str) -> Result<RepoName> {
    s.parse().map_err(corrupt("repository"))
}

fn utf8(v: Vec<u8>) -> Result<String> {
    String::from_utf8(v).map_err(corrupt("utf-8"))
}

impl<K: Kv> KvStore<K> {
    /// Checks or writes the schema version.
    pub(crate) fn init(kv: K) -> Result<Self> {
        kv.write(|w| {
            match w.get(Table::Meta, SCHEMA_KEY)? {
                None => {
                    for t in Table::ALL {
                        // Creating every table up front keeps reads from racing table creation.
                        w.scan(t, "", None, 0)?;
                    }
                    w.put(Table::Meta, SCHEMA_KEY, &SCHEMA_VERSION.to_le_bytes())?;
                    w.put(Table::Meta, super::kv_promotions::BY_ARTIFACT_KEY, b"")?;
                    w.put(Table::Meta, super::kv_audit::INDEX_KEY, b"")?;
                }
                Some(v) => {
                    let found = u64::from_le_bytes(
                        v.as_slice()
                            .try_into()
                            .map_err(|_| StoreError::Corrupt("schema_version".into()))?,
                    );
                    if found != SCHEMA_VERSION {
                        return Err(StoreError::SchemaMismatch {
                            found,
                            expected: SCHEMA_VERSION,
                        });
                    }
                    // Indexes added within a schema version are built once, on first open.
                    super::kv_promotions::backfill_by_artifact(w)?;
                    super::kv_audit::backfill_index(w)?;
                }
            }
            Ok(())
        })?;
        Ok(KvStore {
            kv: Cached::new(kv),
        })
    }

    fn tags_of_in(r: &dyn KvRead, repo: &RepoName, digest: &Digest) -> Result<Vec<Tag>> {
        // Tags are few per repository; a scan keeps the schema free of a second index.
        let want = digest.to_string();
        let prefix = key2(repo.as_str(), "");
        let mut tags = Vec::new();
        for (k, v) in r.scan(Table::Tags, &prefix, None, usize::MAX)? {
            if v == want.as_bytes() {
                tags.push(parse_tag(last_part(&k))?);
            }
        }
        Ok(tags)
    }

    fn entry(r: &dyn KvRead, repo: RepoName, record: ManifestRecord) -> Result<ArtifactEntry> {
        let tags = Self::tags_of_in(r, &repo, &record.digest)?;
        Ok(ArtifactEntry {
            repository: repo,
            record,
            tags,
        })
    }
}

impl<K: Kv> ArtifactStore for KvStore<K> {
    fn put_manifest(
        &self,
        repo: &RepoName,
        record: &ManifestRecord,
        bytes: &[u8],
        tag: Option<TagBinding<'_>>,
    ) -> Result<Option<TagOutcome>> {
        let digest = record.digest.to_string();
        let rm_key = key2(repo.as_str(), &digest);
        let value = encode(record)?;
        self.kv.write(|w| {
            let outcome = match tag {
                None => None,
                Some(b) => {
                    let tkey = key2(repo.as_str(), b.tag.as_str());
                    let outcome = match w.get(Table::Tags, &tkey)? {
                        Some(old) if old == digest.as_bytes() => Some(TagOutcome::Unchanged),
                        Some(old) => {
                            let previous = parse_digest(&utf8(old)?)?;
                            if b.immutable {
                                return Err(StoreError::TagConflict { existing: previous });
                            }
                            w.put(Table::Tags, &tkey, digest.as_bytes())?;
                            Some(TagOutcome::Moved { previous })
                        }
                        None => {
                            w.put(Table::Tags, &tkey, digest.as_bytes())?;
                            Some(TagOutcome::Created)
                        }
                    };
                    if b.mirror {
                        // Unchanged too: a push repeated after a failed mirror queues it again.
                        w.put(Table::TagMirrors, &tkey, digest.as_bytes())?;
                    }
                    outcome
                }
            };
            if w.get(Table::RepoManifests, &rm_key)?.is_none() {
                // First push into this repository keeps the first record (who and when).
                w.put(Table::RepoManifests, &rm_key, &value)?;
                w.put(Table::DigestRepos, &key2(&digest, repo.as_str()), &[])?;
                if let Some(subject) = &record.subject {
                    w.put(
                        Table::Referrers,
                        &key3(repo.as_str(), &subject.to_string(), &digest),
                        &[],
                    )?;
                }
            }
            if w.get(Table::Manifests, &digest)?.is_none() {
                w.put(Table::Manifests, &digest, bytes)?;
            }
            Ok(outcome)
        })
    }

    fn get_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<(ManifestRecord, Bytes)>> {
        let d = digest.to_string();
        // Every pull makes this read. The record is one lookup; the bytes are content-addressed
        // and never change, so they come from a cache that needs no invalidation (a deleted
        // digest's bytes are only ever returned with a record, i.e. once it is pushed again).
        let Some(rec) = self
            .kv
            .read_point(|r| r.get(Table::RepoManifests, &key2(repo.as_str(), &d)))?
        else {
            return Ok(None);
        };
        if let Some(bytes) = self.kv.get_immutable(Table::Manifests, &d)? {
            return Ok(Some((decode_record(&rec)?, bytes)));
        }
        // Deleted in between, or a corrupt store: a snapshot of both tells which.
        self.kv.read(|r| {
            let Some(rec) = r.get(Table::RepoManifests, &key2(repo.as_str(), &d))? else {
                return Ok(None);
            };
            let bytes = r.get(Table::Manifests, &d)?.ok_or_else(|| {
                StoreError::Corrupt(format!("manifest {d} recorded without content"))
            })?;
            Ok(Some((decode_record(&rec)?, Bytes::from(bytes))))
        })
    }

    fn resolve_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<Digest>> {
        let v = self
            .kv
            .get(Table::Tags, &key2(repo.as_str(), tag.as_str()))?;
        v.map(|v| parse_digest(&utf8(v)?)).transpose()
    }

    fn list_tags(&self, repo: &RepoName, after: Option<&str>, limit: usize) -> Result<Vec<Tag>> {
        let prefix = key2(repo.as_str(), "");
        let rows = self
            .kv
            .read(|r| r.scan(Table::Tags, &prefix, after, limit))?;
        rows.iter().map(|(k, _)| parse_tag(last_part(k))).collect()
    }

    fn repository_exists(&self, repo: &RepoName) -> Result<bool> {
        let prefix = key2(repo.as_str(), "");
        let found = self.kv.read(|r| {
            Ok(!r.scan(Table::RepoManifests, &prefix, None, 1)?.is_empty()
                || !r.scan(Table::Blobs, &prefix, None, 1)?.is_empty())
        })?;
        Ok(found)
    }

    fn list_repositories(&self) -> Result<Vec<RepoName>> {
        // A skip scan over `repo \0 digest` keys: one read per repository, not per manifest.
        // `\u{1}` sorts after every `repo \0 …` key and before any longer name (names hold no
        // control characters), so each step lands on the next repository.
        self.kv.read(|r| {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let rows = r.scan(Table::RepoManifests, "", after.as_deref(), 1)?;
                let Some((k, _)) = rows.first() else {
                    return Ok(out);
                };
                let name = k.split(SEP).next().unwrap_or(k);
                after = Some(format!("{name}\u{1}"));
                out.push(parse_repo(name)?);
            }
        })
    }

    fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<Tag>> {
        self.kv.read(|r| Self::tags_of_in(r, repo, digest))
    }

    fn pending_mirrors(&self, limit: usize) -> Result<Vec<PendingMirror>> {
        let rows = self
            .kv
            .read(|r| r.scan(Table::TagMirrors, "", None, limit))?;
        rows.into_iter()
            .map(|(k, v)| {
                let (repo, tag) = k
                    .split_once(SEP)
                    .ok_or_else(|| StoreError::Corrupt(format!("tag mirror key {k:?}")))?;
                Ok(PendingMirror {
                    repository: parse_repo(repo)?,
                    tag: parse_tag(tag)?,
                    digest: parse_digest(&utf8(v)?)?,
                })
            })
            .collect()
    }

    fn tag_mirrored(&self, repo: &RepoName, tag: &Tag, digest: &Digest) -> Result<bool> {
        let key = key2(repo.as_str(), tag.as_str());
        let d = digest.to_string();
        self.kv.write(|w| {
            if w.get(Table::TagMirrors, &key)?.as_deref() != Some(d.as_bytes()) {
                return Ok(false);
            }
            w.delete(Table::TagMirrors, &key)
        })
    }

    fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<Digest>> {
        let key = key2(repo.as_str(), tag.as_str());
        let old = self.kv.write(|w| {
            let old = w.get(Table::Tags, &key)?;
            if old.is_some() {
                w.delete(Table::Tags, &key)?;
            }
            Ok(old)
        })?;
        old.map(|v| parse_digest(&utf8(v)?)).transpose()
    }

    fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let d = digest.to_string();
        self.kv.write(|w| {
            let Some(rec) = w.get(Table::RepoManifests, &key2(repo.as_str(), &d))? else {
                return Ok(false);
            };
            let rec = decode_record(&rec)?;
            w.delete(Table::RepoManifests, &key2(repo.as_str(), &d))?;
            w.delete(Table::DigestRepos, &key2(&d, repo.as_str()))?;
            if let Some(subject) = &rec.subject {
                w.delete(
                    Table::Referrers,
                    &key3(repo.as_str(), &subject.to_string(), &d),
                )?;
            }
            for t in Self::tags_of_in(&*w, repo, digest)? {
                w.delete(Table::Tags, &key2(repo.as_str(), t.as_str()))?;
            }
            if w.scan(Table::DigestRepos, &key2(&d, ""), None, 1)?
                .is_empty()
            {
                w.delete(Table::Manifests, &d)?;
            }
            Ok(true)
        })
    }

    fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<ManifestRecord>> {
        let prefix = key3(repo.as_str(), &subject.to_string(), "");
        self.kv.read(|r| {
            let mut out = Vec::new();
            for (k, _) in r.scan(Table::Referrers, &prefix, None, usize::MAX)? {
                let rm = key2(repo.as_str(), last_part(&k));
                if let Some(v) = r.get(Table::RepoManifests, &rm)? {
                    out.push(decode_record(&v)?);
                }
            }
            Ok(out)
        })
    }

    fn artifact(&self, digest: &Digest) -> Result<Vec<ArtifactEntry>> {
        let d = digest.to_string();
        self.kv.read(|r| {
            let mut out = Vec::new();
            for (k, _) in r.scan(Table::DigestRepos, &key2(&d, ""), None, usize::MAX)? {
                let repo = parse_repo(last_part(&k))?;
                if let Some(v) = r.get(Table::RepoManifests, &key2(repo.as_str(), &d))? {
                    out.push(Self::entry(r, repo, decode_record(&v)?)?);
                }
            }
            Ok(out)
        })
    }

    fn list_artifacts(&self, repo: &RepoName) -> Result<Vec<ArtifactEntry>> {
        self.kv.read(|r| {
            r.scan(
                Table::RepoManifests,
                &key2(repo.as_str(), ""),
                None,
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, v)| Self::entry(r, repo.clone(), decode_record(&v)?))
            .collect()
        })
    }

    fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()> {
        let d = digest.to_string();
        self.kv.write(|w| {
            w.put(Table::Blobs, &key2(repo.as_str(), &d), &size.to_le_bytes())?;
            w.put(Table::BlobRepos, &key2(&d, repo.as_str()), &[])
        })
    }

    fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        let v = self
            .kv
            .read(|r| r.get(Table::Blobs, &key2(repo.as_str(), &digest.to_string())))?;
        v.map(|v| {
            v.as_slice()
                .try_into()
                .map(u64::from_le_bytes)
                .map_err(|_| StoreError::Corrupt("blob size".into()))
        })
        .transpose()
    }

    fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<bool>> {
        let d = digest.to_string();
        self.kv.write(|w| {
            if !w.delete(Table::Blobs, &key2(repo.as_str(), &d))? {
                return Ok(None);
            }
            w.delete(Table::BlobRepos, &key2(&d, repo.as_str()))?;
            Ok(Some(
                !w.scan(Table::BlobRepos, &key2(&d, ""), None, 1)?.is_empty(),
            ))
        })
    }
}

impl<K: Kv> TokenStore for KvStore<K> {
    fn create_token(&self, token: &TokenRecord) -> Result<()> {
        let value = encode(token)?;
        self.kv.write(|w| {
            if w.get(Table::Tokens, &token.name)?.is_some() {
                return Err(StoreError::TokenExists(token.name.clone()));
            }
            w.put(Table::Tokens, &token.name, &value)?;
            w.put(Table::TokenHashes, &token.hash, token.name.as_bytes())
        })
    }

    fn token_by_hash(&self, hash_hex: &str) -> Result<Option<TokenRecord>> {
        // Two lookups without a snapshot (every authenticated request makes them): a hash's
        // name never changes, and a record read after a revocation is the revoked one.
        self.kv.read_point(|r| {
            let Some(name) = r.get(Table::TokenHashes, hash_hex)? else {
                return Ok(None);
            };
            let name = utf8(name)?;
            r.get(Table::Tokens, &name)?
                .map(|v| serde_json::from_slice(&v).map_err(corrupt("token record")))
                .transpose()
        })
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = self
            .kv
            .read(|r| r.scan(Table::Tokens, "", None, usize::MAX))?;
        rows.into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(corrupt("token record")))
            .collect()
    }

    fn revoke_token(&self, name: &str) -> Result<bool> {
        self.kv.write(|w| {
            let Some(v) = w.get(Table::Tokens, name)? else {
                return Ok(false);
            };
            let mut rec: TokenRecord =
                serde_json::from_slice(&v).map_err(corrupt("token record"))?;
            rec.revoked = true;
            w.put(Table::Tokens, name, &encode(&rec)?)?;
            Ok(true)
        })
    }

    fn touch_token(&self, name: &str, at_ms: i64) -> Result<()> {
        self.kv.write(|w| {
            let Some(v) = w.get(Table::Tokens, name)? else {
                return Ok(());
            };
            let mut rec: TokenRecord =
                serde_json::from_slice(&v).map_err(corrupt("token record"))?;
            if rec.last_used_ms.is_none_or(|t| t < at_ms) {
                rec.last_used_ms = Some(at_ms);
                w.put(Table::Tokens, name, &encode(&rec)?)?;
            }
            Ok(())
        })
    }
}

fn evidence_key(subject: &Digest, evidence: &Digest, index: u32) -> String {
    key3(
        &subject.to_string(),
        &evidence.to_string(),
        &format!("{index:010}"),
    )
}

fn decode_evidence(v: &[u8]) -> Result<EvidenceRecord> {
    serde_json::from_slice(v).map_err(corrupt("evidence record"))
}

impl<K: Kv> EvidenceStore for KvStore<K> {
    fn put_evidence(&self, rec: &EvidenceRecord) -> Result<()> {
        let value = encode(rec)?;
        let key = evidence_key(&rec.subject, &rec.evidence_digest, rec.index);
        self.kv.write(|w| w.put(Table::Evidence, &key, &value))
    }

    fn evidence_for(&self, subject: &Digest) -> Result<Vec<EvidenceRecord>> {
        let prefix = key2(&subject.to_string(), "");
        let rows = self
            .kv
            .read(|r| r.scan(Table::Evidence, &prefix, None, usize::MAX))?;
        rows.iter().map(|(_, v)| decode_evidence(v)).collect()
    }

    fn all_evidence(&self) -> Result<Vec<EvidenceRecord>> {
        let rows = self
            .kv
            .read(|r| r.scan(Table::Evidence, "", None, usize::MAX))?;
        rows.iter().map(|(_, v)| decode_evidence(v)).collect()
    }

    fn delete_evidence(&self, subject: &Digest, evidence_digest: &Digest) -> Result<usize> {
        let prefix = key3(&subject.to_string(), &evidence_digest.to_string(), "");
        self.kv.write(|w| {
            let rows = w.scan(Table::Evidence, &prefix, None, usize::MAX)?;
            for (k, _) in &rows {
                w.delete(Table::Evidence, k)?;
            }
            Ok(rows.len())
        })
    }
}

/// A page of where-used hits for `id` (a package key or licence id) from table `t`: the scan
/// starts at the cursor's posting (skipping what the cursor's page returned), tests each
/// component's version before decoding it, and stops once it has `limit` hits and has seen
/// that another one follows.
fn scan_hits(
    r: &dyn KvRead,
    t: Table,
    id: &str,
    after: Option<&HitCursor>,
    limit: usize,
    keep: Option<KeepVersion<'_>>,
) -> Result<HitPage> {
    let mut page = HitPage::default();
    if limit == 0 {
        return Ok(page);
    }
    let prefix = key2(id, "");
    let start = after.map(|c| key3(id, &c.subject, &c.sbom));
    let mut decoder = sbom_rows::Decoder::default();
    let mut last_index = 0;
    let mut more = false;
    r.scan_each(t, &prefix, start.as_deref(), &mut |k, v| {
        let key = sbom_rows::key_parts(k, SEP)?;
        // In the cursor's own posting, what the previous page returned is passed over.
        let done = match (after, &start) {
            (Some(c), Some(s)) if k == s => Some(c.index),
            _ => None,
        };
        for e in sbom_rows::entries(v)? {
            let e = e?;
            if done.is_some_and(|i| e.index <= i) || keep.is_some_and(|keep| !keep(e.version)) {
                continue;
            }
            if page.hits.len() == limit {
                more = true;
                return Ok(false);
            }
            page.hits.push(decoder.hit(key, &e)?);
            last_index = e.index;
        }
        Ok(true)
    })?;
    if more && let Some(h) = page.hits.last() {
        page.next = Some(HitCursor::new(
            &h.subject.to_string(),
            &h.sbom_digest.to_string(),
            last_index,
        ));
    }
    Ok(page)
}

/// Postings of one table, in key order: (key, posting).
type Postings = Vec<(String, Vec<u8>)>;

/// Postings handed to the writer at a time.
const POSTING_BATCH: usize = 512;
/// From this many components, [`SbomStore::put_sbom_packed`] builds postings on one core while
/// another writes them.
const PIPELINE_FROM: usize = 2_000;

impl<K: Kv> SbomStore for KvStore<K> {
    fn put_sbom_packed(
        &self,
        rec: &SbomRecord,
        document: &PackedDocument,
        components: &[ComponentHit],
    ) -> Result<bool> {
        let subject = rec.subject.to_string();
        let sbom = rec.sbom_digest.to_string();
        let value = encode(rec)?;
        // A row keeps its digests only in its key, which names this record's subject and SBOM.
        if let Some(c) = components
            .iter()
            .find(|c| c.subject != rec.subject || c.sbom_digest != rec.sbom_digest)
        {
            return Err(StoreError::Backend(format!(
                "component {:?} of SBOM {} for {} given with the record of SBOM {} for {}",
                c.name, c.sbom_digest, c.subject, rec.sbom_digest, rec.subject
            )));
        }
        if u32::try_from(components.len()).is_err() {
            return Err(StoreError::Backend(
                "too many components in one SBOM".into(),
            ));
        }
        // (package or licence id, component) pairs, sorted: each group is one posting, and
        // the postings come out in key order, so each table is written in one pass.
        let mut by_package: Vec<(&str, usize)> = components
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((c.package.as_deref()?, i)))
            .collect();
        let mut by_license: Vec<(&str, usize)> = components
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.license_ids.iter().map(move |id| (id.as_str(), i)))
            .collect();
        by_package.sort_unstable();
        // A licence named twice in one expression indexes its component once.
        by_license.sort_unstable();
        by_license.dedup();
        let tables = [
            (Table::SbomPackages, by_package.as_slice(), true),
            (Table::SbomLicenses, by_license.as_slice(), false),
        ];
        // The postings of each table in key order, handed on in batches; `emit` says whether
        // to go on.
        let build = |emit: &mut dyn FnMut(Table, Postings) -> bool| {
            for (t, pairs, in_package_posting) in tables {
                let mut batch: Postings = Vec::with_capacity(POSTING_BATCH);
                let mut current: Option<&str> = None;
                for &(id, i) in pairs {
                    if current != Some(id) {
                        if batch.len() == POSTING_BATCH {
                            let full =
                                std::mem::replace(&mut batch, Vec::with_capacity(POSTING_BATCH));
                            if !emit(t, full) {
                                return;
                            }
                        }
                        batch.push((key3(id, &subject, &sbom), vec![sbom_rows::FORMAT]));
                        current = Some(id);
                    }
                    if let Some((_, posting)) = batch.last_mut() {
                        // Fits: the count was checked above.
                        sbom_rows::encode_entry(
                            posting,
                            i as u32,
                            &components[i],
                            in_package_posting,
                        );
                    }
                }
                if !batch.is_empty() && !emit(t, batch) {
                    return;
                }
            }
        };
        let write = |w: &mut dyn super::KvWrite,
                     batches: &mut dyn Iterator<Item = Result<(Table, Postings)>>|
         -> Result<bool> {
            let key = key2(&subject, &sbom);
            if w.get(Table::SbomSubjects, &key)?.is_some() {
                return Ok(false);
            }
            w.put(Table::SbomSubjects, &key, &value)?;
            if w.get(Table::SbomDocs, &sbom)?.is_none() {
                w.put(Table::SbomDocs, &sbom, document.stored())?;
            }
            for batch in batches {
                let (t, rows) = batch?;
                w.put_all(t, &mut rows.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
            }
            Ok(true)
        };
        if components.len() < PIPELINE_FROM {
            let mut all = Vec::new();
            build(&mut |t, rows| {
                all.push(Ok((t, rows)));
                true
            });
            return self.kv.write(|w| write(w, &mut all.into_iter()));
        }
        // A large SBOM: the transaction is written on another core while its postings are
        // built here (issue 4: ingest of 20,000 components). Only a stream that ends with
        // `Done` is committed; one cut short by a failure or a panic here is rolled back.
        enum Msg {
            Rows(Table, Postings),
            Done,
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(4);
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || {
                self.kv.write(|w| {
                    let mut done = false;
                    let mut batches = rx.iter().map_while(|m| match m {
                        Msg::Rows(t, rows) => Some(Ok((t, rows))),
                        Msg::Done => {
                            done = true;
                            None
                        }
                    });
                    let new = write(w, &mut batches)?;
                    if new && !done {
                        return Err(StoreError::Backend(
                            "the SBOM's index rows stopped before the end; nothing was written"
                                .into(),
                        ));
                    }
                    Ok(new)
                })
            });
            // A send fails only when the writer stopped (the SBOM is held already, or an
            // error): it reports why.
            build(&mut |t, rows| tx.send(Msg::Rows(t, rows)).is_ok());
            let _ = tx.send(Msg::Done);
            drop(tx);
            writer
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    fn delete_sbom(&self, rec: &SbomRecord, components: &[ComponentHit]) -> Result<bool> {
        let subject = rec.subject.to_string();
        let sbom = rec.sbom_digest.to_string();
        let mut packages: Vec<&str> = components
            .iter()
            .filter_map(|c| c.package.as_deref())
            .collect();
        let mut licenses: Vec<&str> = components
            .iter()
            .flat_map(|c| c.license_ids.iter().map(String::as_str))
            .collect();
        packages.sort_unstable();
        packages.dedup();
        licenses.sort_unstable();
        licenses.dedup();
        self.kv.write(|w| {
            let key = key2(&subject, &sbom);
            if w.get(Table::SbomSubjects, &key)?.is_none() {
                return Ok(false);
            }
            w.delete(Table::SbomSubjects, &key)?;
            for (t, ids) in [
                (Table::SbomPackages, &packages),
                (Table::SbomLicenses, &licenses),
            ] {
                for id in ids.iter() {
                    w.delete(t, &key3(id, &subject, &sbom))?;
                }
            }
            Ok(true)
        })
    }

    fn sboms_for(&self, subject: &Digest) -> Result<Vec<SbomRecord>> {
        let rows = self.kv.read(|r| {
            r.scan(
                Table::SbomSubjects,
                &key2(&subject.to_string(), ""),
                None,
                usize::MAX,
            )
        })?;
        rows.iter()
            .map(|(_, v)| serde_json::from_slice(v).map_err(corrupt("sbom record")))
            .collect()
    }

    fn sbom_document(&self, sbom_digest: &Digest) -> Result<Option<Bytes>> {
        Ok(self
            .kv
            .read(|r| r.get(Table::SbomDocs, &sbom_digest.to_string()))?
            .map(crate::sbom_doc::unpack)
            .transpose()?
            .map(Bytes::from))
    }

    fn components_by_package(
        &self,
        package: &str,
        after: Option<&HitCursor>,
        limit: usize,
        keep: Option<KeepVersion<'_>>,
    ) -> Result<HitPage> {
        self.kv
            .read(|r| scan_hits(r, Table::SbomPackages, package, after, limit, keep))
    }

    fn components_by_license(
        &self,
        license_id: &str,
        after: Option<&HitCursor>,
        limit: usize,
    ) -> Result<HitPage> {
        self.kv
            .read(|r| scan_hits(r, Table::SbomLicenses, license_id, after, limit, None))
    }
}
