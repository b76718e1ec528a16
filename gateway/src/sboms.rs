//! SBOM ingest and where-used queries: SBOMs arrive as OCI referrers, cosign `.sbom` tags or
//! through the API; each is parsed once into the normalised model and its components indexed
//! by package and by licence, so a question over everything Tollgate holds is answered from
//! the index without re-reading documents.

use tollgate_attest::Digest;
use tollgate_policies::RepoName;
use tollgate_sbom::{LicenseState, Sbom};
use tollgate_store::{ComponentHit, HitCursor, HitPage, PackedDocument, SbomRecord};

use crate::app::{App, now_ms};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// SBOMs are whole documents that must be in memory to parse; larger ones are refused.
pub const MAX_SBOM_BYTES: u64 = 64 * 1024 * 1024;

/// From this size up, [`read`] hashes and packs the document on another core while it parses
/// (a thread costs tens of microseconds; a 1 MB SBOM parses in about 3 ms).
const SIDE_THREAD_FROM: usize = 256 * 1024;

/// An SBOM document read and made ready for the store.
#[derive(Debug)]
pub struct Parsed {
    pub sbom: Sbom,
    /// The document's own digest.
    pub digest: Digest,
    /// The document as the store keeps it.
    pub packed: PackedDocument,
}

/// Parses an SBOM document and gets it ready to store. Hashing and compressing it take about
/// half as long as parsing it and need only its bytes, so a large document has them done on
/// the second core meanwhile (issue 4: ingest of 20,000 components).
pub fn read(bytes: &[u8]) -> Result<Parsed, tollgate_sbom::SbomError> {
    let side = || (Digest::sha256_of(bytes), PackedDocument::pack(bytes));
    if bytes.len() < SIDE_THREAD_FROM {
        let sbom = tollgate_sbom::parse(bytes)?;
        let (digest, packed) = side();
        return Ok(Parsed {
            sbom,
            digest,
            packed,
        });
    }
    // A document that turns out not to be an SBOM is refused without waiting for its packing.
    let refused = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let other = s.spawn(|| {
            let digest = Digest::sha256_of(bytes);
            (!refused.load(std::sync::atomic::Ordering::Relaxed))
                .then(|| (digest, PackedDocument::pack(bytes)))
        });
        let sbom = tollgate_sbom::parse(bytes);
        refused.store(sbom.is_err(), std::sync::atomic::Ordering::Relaxed);
        // A panic over there is a bug to surface here, as it would be on this thread.
        let done = other
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let sbom = sbom?;
        // Packing is skipped only once the parse failed, so this is always `Some` here.
        let (digest, packed) = done.unwrap_or_else(side);
        Ok(Parsed {
            sbom,
            digest,
            packed,
        })
    })
}

/// Reads an SBOM document ([`read`]); a clear 400 with reason `sbom-malformed` when it is not
/// one.
pub fn parse(bytes: &[u8]) -> ApiResult<Parsed> {
    read(bytes).map_err(|e| {
        ApiError::new(ErrorCode::BadRequest, format!("SBOM rejected: {e}")).with_detail(
            serde_json::json!({ "reason": tollgate_policies::ReasonCode::SbomMalformed.as_str() }),
        )
    })
}

/// The where-used index rows of a parsed SBOM: one per inventory component, with its package key
/// and the SPDX ids of its licence expression (only when a licence is stated).
fn component_hits(subject: &Digest, sbom_digest: &Digest, sbom: &Sbom) -> Vec<ComponentHit> {
    sbom.inventory()
        .iter()
        .map(|c| {
            let present = c.licenses.state == LicenseState::Present;
            let expr = c.licenses.expression.as_ref().filter(|_| present);
            // The canonical purl and its package key in one pass.
            let (purl, package) = match c.purl.as_ref().map(|p| p.canonical_and_key()) {
                Some((purl, key)) => {
                    let package = purl[key].to_owned();
                    (Some(purl), Some(package))
                }
                None => (None, None),
            };
            ComponentHit {
                subject: subject.clone(),
                sbom_digest: sbom_digest.clone(),
                name: c.name.clone(),
                version: c.version.clone(),
                purl,
                package,
                license: expr.map(ToString::to_string),
                license_ids: expr
                    .map(|e| e.ids().into_iter().map(str::to_string).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// What [`record`] hands the store for one document: the SBOM's record and its where-used
/// rows. Pure (the time is passed in), so the benchmarks index exactly what the gateway does.
pub fn index_entries(
    subject: &Digest,
    sbom_digest: &Digest,
    sbom: &Sbom,
    source: &str,
    repository: Option<&RepoName>,
    recorded_at_ms: i64,
) -> (SbomRecord, Vec<ComponentHit>) {
    let sbom_digest = sbom_digest.clone();
    let hits = component_hits(subject, &sbom_digest, sbom);
    let rec = SbomRecord {
        subject: subject.clone(),
        sbom_digest,
        format: serde_json::to_value(sbom.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        spec_version: sbom.spec_version.clone(),
        components: sbom.inventory().len(),
        source: source.to_string(),
        repository: repository.cloned(),
        recorded_at_ms,
    };
    (rec, hits)
}

/// Records and indexes a parsed SBOM for `subject`. Idempotent: the same document for the same
/// subject is recorded once.
pub fn record(
    app: &App,
    subject: &Digest,
    doc: &Parsed,
    source: &str,
    repository: Option<&RepoName>,
) -> ApiResult<(SbomRecord, bool)> {
    let (rec, hits) = index_entries(
        subject,
        &doc.digest,
        &doc.sbom,
        source,
        repository,
        now_ms(),
    );
    let new = app.store.put_sbom_packed(&rec, &doc.packed, &hits)?;
    tracing::info!(%subject, sbom = %rec.sbom_digest, components = rec.components, source, new, "SBOM indexed");
    Ok((rec, new))
}

/// Drops the SBOMs of `subject` from the where-used index: nothing holds the artifact any
/// more, so where-used answers must not name it. The stored document is parsed again for the
/// index keys it was filed under.
pub fn forget(app: &App, subject: &Digest) -> ApiResult<()> {
    for rec in app.store.sboms_for(subject)? {
        let Some(doc) = app.store.sbom_document(&rec.sbom_digest)? else {
            continue;
        };
        match tollgate_sbom::parse(&doc) {
            Ok(sbom) => {
                let (_, hits) =
                    index_entries(subject, &rec.sbom_digest, &sbom, &rec.source, None, 0);
                app.store.delete_sbom(&rec, &hits)?;
                tracing::info!(%subject, sbom = %rec.sbom_digest, "SBOM dropped from the index with its artifact");
            }
            Err(e) => {
                tracing::warn!(%subject, sbom = %rec.sbom_digest, error = %e, "stored SBOM no longer parses; its index entries stay")
            }
        }
    }
    Ok(())
}

/// Reads a purl query (`pkg:npm/lodash`, with or without a version) as the package key the
/// index uses.
pub fn package_key(purl: &str) -> ApiResult<String> {
    let p: tollgate_sbom::Purl = purl
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("purl {purl:?}: {e}")))?;
    Ok(p.package_key())
}

/// An SBOM found in a pushed manifest, parsed and waiting to be recorded with it.
#[derive(Debug)]
pub struct PushedSbom {
    pub subject: Digest,
    pub doc: Parsed,
    pub source: &'static str,
}

/// Finds the SBOMs a pushed manifest carries — a referrer with an SBOM artifact or layer
/// type, or a cosign `.sbom` tag — and parses them before the manifest is accepted, so a
/// malformed SBOM is refused and nothing about it is half-indexed.
pub async fn examine_pushed(
    app: &App,
    repo: &RepoName,
    tag: Option<&tollgate_policies::Tag>,
    subject_field: Option<&Digest>,
    manifest: &[u8],
) -> ApiResult<Vec<PushedSbom>> {
    let from_tag = tag
        .and_then(|t| Digest::from_tag_prefix(t.as_str()))
        .filter(|(_, tail)| *tail == ".sbom")
        .map(|(d, _)| d);
    let (subject, source) = match (from_tag, subject_field) {
        (Some(d), _) => (d, "cosign-sbom-tag"),
        (None, Some(d)) => (d.clone(), "referrer"),
        (None, None) => return Ok(Vec::new()),
    };
    let doc: crate::evidence::EvidenceManifest = match serde_json::from_slice(manifest) {
        Ok(d) => d,
        Err(_) => return Ok(Vec::new()),
    };
    let artifact_is_sbom = doc
        .artifact_type
        .as_deref()
        .and_then(tollgate_sbom::Format::from_media_type)
        .is_some();
    let mut out = Vec::new();
    for layer in &doc.layers {
        let layer_is_sbom = tollgate_sbom::Format::from_media_type(&layer.media_type).is_some();
        let sbom_layer = layer_is_sbom || (artifact_is_sbom && layer.media_type.ends_with("json"));
        if !sbom_layer {
            continue;
        }
        let d: Digest = layer
            .digest
            .parse()
            .map_err(|e| ApiError::new(ErrorCode::ManifestInvalid, format!("layer digest: {e}")))?;
        let bytes = crate::evidence::read_layer(app, repo, &d, layer.size, MAX_SBOM_BYTES).await?;
        // Parsing a large SBOM is CPU work the async workers should not wait on.
        let doc = tokio::task::spawn_blocking(move || parse(&bytes))
            .await
            .map_err(ApiError::internal)?
            .map_err(|mut e| {
                // On the OCI front a bad SBOM makes the manifest invalid, in OCI's own code.
                e.code = ErrorCode::ManifestInvalid;
                e
            })?;
        out.push(PushedSbom {
            subject: subject.clone(),
            doc,
            source,
        });
    }
    Ok(out)
}

/// A version range's test, its bounds parsed once.
type RangeTest = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// The version test of a where-used query: the version the purl names
/// (`pkg:npm/lodash@4.17.20`) and/or a range in the ecosystem's own ordering (`<4.17.21`,
/// `>=2.0.0,<2.17.1`). A component of unknown version passes only when neither is asked for.
/// Both are parsed once, not per component.
pub struct VersionFilter {
    eco: tollgate_sbom::version::Ecosystem,
    exact: Option<tollgate_sbom::VersionKey>,
    range: Option<RangeTest>,
}

impl std::fmt::Debug for VersionFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionFilter")
            .field("eco", &self.eco)
            .field("exact", &self.exact)
            .field("range", &self.range.is_some())
            .finish()
    }
}

impl VersionFilter {
    pub fn new(purl: &str, range: Option<&str>) -> ApiResult<Self> {
        let p: tollgate_sbom::Purl = purl
            .parse()
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("purl {purl:?}: {e}")))?;
        let eco = tollgate_sbom::version::Ecosystem::for_purl_type(p.ty());
        let range = range
            .map(tollgate_sbom::version::VersionRange::parse)
            .transpose()
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("range: {e}")))?;
        Ok(Self {
            eco,
            exact: p.version().map(|v| tollgate_sbom::VersionKey::new(eco, v)),
            range: range.map(|r| Box::new(r.matcher(eco)) as RangeTest),
        })
    }

    pub fn keeps(&self, version: Option<&str>) -> bool {
        let Some(v) = version else {
            // A component of unknown version cannot be placed in a range.
            return self.range.is_none() && self.exact.is_none();
        };
        self.exact
            .as_ref()
            .is_none_or(|e| *e == tollgate_sbom::VersionKey::new(self.eco, v))
            && self.range.as_ref().is_none_or(|r| r(v))
    }
}

/// Where-used by package: a page of the components of the purl's package whose version passes
/// [`VersionFilter`], `limit` at most, after `after`. The store tests versions before decoding
/// whole rows, so a narrow range over a popular package costs little more than the rows it
/// returns.
pub fn components_by_purl(
    store: &dyn tollgate_store::Store,
    purl: &str,
    range: Option<&str>,
    after: Option<&HitCursor>,
    limit: usize,
) -> ApiResult<HitPage> {
    let key = package_key(purl)?;
    let filter = VersionFilter::new(purl, range)?;
    // Thousands of rows of one package share a few dozen versions: judge each version once.
    let verdicts = std::cell::RefCell::new(std::collections::HashMap::<String, bool>::new());
    let keep = |version: Option<&str>| {
        let Some(v) = version else {
            return filter.keeps(None);
        };
        if let Some(&known) = verdicts.borrow().get(v) {
            return known;
        }
        let verdict = filter.keeps(Some(v));
        verdicts.borrow_mut().insert(v.to_owned(), verdict);
        verdict
    };
    Ok(store.components_by_package(&key, after, limit, Some(&keep))?)
}

/// What a where-used page token is bound to: the question, so a token is refused by any
/// other query (it would name a position in another index).
pub fn where_used_query_id(
    purl: Option<&str>,
    range: Option<&str>,
    license: Option<&str>,
) -> String {
    match (purl, license) {
        (Some(p), _) => {
            let canonical = p
                .parse::<tollgate_sbom::Purl>()
                .map_or_else(|_| p.to_owned(), |p| p.to_string());
            format!("purl\0{canonical}\0{}", range.unwrap_or(""))
        }
        (None, l) => format!("license\0{}", l.unwrap_or("")),
    }
}

/// Version of the page token layout: `[1] ++ 8 bytes of sha256(query id) ++ store cursor`.
const TOKEN_VERSION: u8 = 1;

fn query_tag(query_id: &str) -> [u8; 8] {
    let d = Digest::sha256_of(query_id.as_bytes());
    let mut tag = [0; 8];
    if let Ok(bytes) = hex::decode(&d.hex()[..16]) {
        tag.copy_from_slice(&bytes);
    }
    tag
}

/// The opaque `cursor` the next page of the query `query_id` is asked for with.
pub fn page_token(query_id: &str, c: &HitCursor) -> String {
    use base64::Engine as _;
    let mut raw = vec![TOKEN_VERSION];
    raw.extend_from_slice(&query_tag(query_id));
    raw.extend_from_slice(&c.to_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The store cursor in `token`; 400 with reason `cursor-invalid` when it is not a token this
/// query handed out.
pub fn read_page_token(query_id: &str, token: &str) -> ApiResult<HitCursor> {
    use base64::Engine as _;
    let invalid = || {
        ApiError::new(
            ErrorCode::CursorInvalid,
            format!(
                "cursor {:?} is not one this query handed out; start again without cursor=",
                token.chars().take(80).collect::<String>()
            ),
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    match raw.split_first() {
        Some((&TOKEN_VERSION, rest)) if rest.len() > 8 && rest[..8] == query_tag(query_id) => {
            HitCursor::from_bytes(&rest[8..]).ok_or_else(invalid)
        }
        _ => Err(invalid()),
    }
}

/// The SBOM an attestation carries as its predicate (`https://cyclonedx.org/bom`,
/// `https://spdx.dev/Document`), for evidence that verified. `None` when it carries none.
pub fn from_attestation(rec: &tollgate_store::EvidenceRecord) -> ApiResult<Option<Parsed>> {
    if !rec.verdict.verified {
        return Ok(None);
    }
    let Some(st) = rec.evidence.statement_unverified() else {
        return Ok(None);
    };
    let is_sbom = st
        .get("predicateType")
        .and_then(|p| p.as_str())
        .and_then(tollgate_sbom::Format::from_predicate_type)
        .is_some();
    let Some(predicate) = st.get("predicate").filter(|_| is_sbom) else {
        return Ok(None);
    };
    let bytes = serde_json::to_vec(predicate).map_err(ApiError::internal)?;
    parse(&bytes).map(Some)
}

/// The stored SBOM `rec` (document `doc`) in `format`: the exact bytes when it already is,
/// else converted from the normalised model. The converted document's identity (serial number,
/// namespace, creation time) is derived from the stored SBOM, so repeated exports are equal.
pub fn export(
    rec: &SbomRecord,
    doc: bytes::Bytes,
    format: tollgate_sbom::Format,
) -> ApiResult<bytes::Bytes> {
    let sbom = tollgate_sbom::parse(&doc).map_err(|e| {
        ApiError::internal(format!(
            "stored SBOM {} no longer parses: {e}",
            rec.sbom_digest
        ))
    })?;
    if sbom.format == format {
        return Ok(doc);
    }
    let hex = rec.sbom_digest.hex();
    // A name-based UUID (version 8, RFC 9562) from the SBOM's digest.
    let mut u: Vec<char> = hex.chars().take(32).collect();
    u[12] = '8';
    u[16] = ['8', '9', 'a', 'b'][usize::from(u[16].to_digit(16).unwrap_or(0) as u8 & 3)];
    let u: String = u.into_iter().collect();
    let secs = rec.recorded_at_ms.div_euclid(1000) * 1000;
    let meta = tollgate_sbom::ExportMeta {
        name: format!("{} SBOM of {}", rec.format, rec.subject),
        namespace: format!(
            "urn:tollgate:sbom:{}:{hex}:spdx",
            rec.sbom_digest.algorithm().as_str()
        ),
        serial_number: format!(
            "urn:uuid:{}-{}-{}-{}-{}",
            &u[0..8],
            &u[8..12],
            &u[12..16],
            &u[16..20],
            &u[20..32]
        ),
        created: crate::api::rfc3339(secs).replace(".000Z", "Z"),
        tool: ("tollgate".into(), env!("CARGO_PKG_VERSION").into()),
    };
    let value = tollgate_sbom::export(&sbom, format, &meta);
    serde_json::to_vec(&value)
        .map(bytes::Bytes::from)
        .map_err(|e| ApiError::internal(format!("SBOM export: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CycloneDX document of `n` npm components.
    fn cyclonedx(n: usize) -> Vec<u8> {
        let components: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"type":"library","bom-ref":"c{i}","name":"pkg-{i}","version":"1.0.{i}","purl":"pkg:npm/pkg-{i}@1.0.{i}","licenses":[{{"license":{{"id":"MIT"}}}}]}}"#
                )
            })
            .collect();
        format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[{}]}}"#,
            components.join(",")
        )
        .into_bytes()
    }

    #[test]
    fn read_hashes_and_packs_small_and_large_documents_alike() {
        for n in [3, 3_000] {
            let bytes = cyclonedx(n);
            // Both sides of the side-thread threshold.
            assert_eq!(
                bytes.len() >= SIDE_THREAD_FROM,
                n > 3,
                "{} bytes",
                bytes.len()
            );
            let doc = read(&bytes).unwrap();
            assert_eq!(doc.sbom.inventory().len(), n);
            assert_eq!(doc.digest, Digest::sha256_of(&bytes));
            let store = tollgate_store::MemoryStore::new();
            let subject = Digest::sha256_of(b"image");
            let (rec, hits) = index_entries(&subject, &doc.digest, &doc.sbom, "api", None, 1);
            use tollgate_store::SbomStore as _;
            assert!(store.put_sbom_packed(&rec, &doc.packed, &hits).unwrap());
            assert_eq!(
                &store.sbom_document(&doc.digest).unwrap().unwrap()[..],
                &bytes[..],
                "the packed document unpacks to the bytes as sent"
            );
        }
    }

    #[test]
    fn a_large_document_that_is_not_an_sbom_is_refused() {
        let mut bytes = cyclonedx(10_000);
        let at = bytes.len() / 2;
        bytes.truncate(at);
        assert!(bytes.len() >= SIDE_THREAD_FROM);
        assert!(read(&bytes).is_err());
        assert!(read(&vec![b'x'; SIDE_THREAD_FROM * 2]).is_err());
    }

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_query() {
        let store = tollgate_store::MemoryStore::new();
        let subject = Digest::sha256_of(b"image");
        let doc = br#"{"bomFormat":"CycloneDX"}"#;
        let sbom_digest = Digest::sha256_of(doc);
        let hit = |v: &str| ComponentHit {
            subject: subject.clone(),
            sbom_digest: sbom_digest.clone(),
            name: "lodash".into(),
            version: Some(v.into()),
            purl: Some(format!("pkg:npm/lodash@{v}")),
            package: Some("npm/lodash".into()),
            license: Some("MIT".into()),
            license_ids: vec!["MIT".into()],
        };
        let rec = SbomRecord {
            subject: subject.clone(),
            sbom_digest: sbom_digest.clone(),
            format: "cyclonedx".into(),
            spec_version: "1.6".into(),
            components: 3,
            source: "api".into(),
            repository: None,
            recorded_at_ms: 1,
        };
        use tollgate_store::SbomStore as _;
        store
            .put_sbom(&rec, doc, &[hit("4.17.20"), hit("4.17.21"), hit("3.0.0")])
            .unwrap();
        let page = components_by_purl(&store, "pkg:npm/lodash", Some(">=4"), None, 1).unwrap();
        assert_eq!(page.hits, [hit("4.17.20")]);
        let next = page.next.expect("one more");
        let id = where_used_query_id(Some("pkg:npm/lodash"), Some(">=4"), None);
        let token = page_token(&id, &next);
        assert_eq!(read_page_token(&id, &token).unwrap(), next);
        let page =
            components_by_purl(&store, "pkg:npm/lodash", Some(">=4"), Some(&next), 1).unwrap();
        assert_eq!((page.hits, page.next), (vec![hit("4.17.21")], None));

        let other = where_used_query_id(Some("pkg:npm/lodash"), Some("<4"), None);
        let licence = where_used_query_id(None, None, Some("MIT"));
        // The right version and query, but no cursor inside.
        let damaged = {
            use base64::Engine as _;
            let mut raw = vec![TOKEN_VERSION];
            raw.extend_from_slice(&query_tag(&id));
            raw.extend_from_slice(b"sha256:00\0garbage");
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        };
        for (query, bad) in [
            (&other, token.as_str()),
            (&licence, &token),
            (&id, "not base64 !"),
            (&id, ""),
            (&id, &token[..12]),
            (&id, &damaged),
        ] {
            let e = read_page_token(query, bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::CursorInvalid, "{bad}");
        }
    }

    #[test]
    fn version_filter_matches_exact_versions_and_ranges_in_the_ecosystems_order() {
        let exact = VersionFilter::new("pkg:maven/org.example/lib@1.0", None).unwrap();
        assert!(exact.keeps(Some("1.0.0")), "Maven: 1.0 is 1.0.0");
        assert!(!exact.keeps(Some("1.0.1")));
        assert!(!exact.keeps(None));

        let range = VersionFilter::new("pkg:npm/lodash", Some(">=4.0.0, <4.17.21")).unwrap();
        assert!(range.keeps(Some("4.17.20")));
        assert!(!range.keeps(Some("4.17.21")));
        assert!(!range.keeps(Some("3.10.1")));
        assert!(!range.keeps(None), "an unknown version is in no range");

        let both = VersionFilter::new("pkg:npm/lodash@4.17.20", Some("<4.17.21")).unwrap();
        assert!(both.keeps(Some("4.17.20")));
        assert!(!both.keeps(Some("4.17.19")));

        let any = VersionFilter::new("pkg:npm/lodash", None).unwrap();
        assert!(any.keeps(None) && any.keeps(Some("0.1.0")));

        assert!(VersionFilter::new("notapurl", None).is_err());
        assert!(VersionFilter::new("pkg:npm/x", Some("<<1")).is_err());
    }
}
