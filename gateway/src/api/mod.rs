//! The management API (`/api/v1/…`): artifact records, tokens, environments, promotions,
//! holds and retention. JSON in and out; errors in the same envelope as the OCI front.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_policies::{Action, RoleGrant};
use tollgate_store::{ArtifactEntry, EvidenceRecord, StoreError};

use crate::app::{AppState, now_ms};
use crate::audit::DraftExt as _;
use crate::auth::{self, Principal};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::oci::{parse_digest, parse_name};

pub mod audit;
pub mod promotions;
pub mod reports;
pub mod retention;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/artifacts", get(list_artifacts))
        .route("/artifacts/{digest}", get(get_artifact))
        .route(
            "/artifacts/{digest}/attestations",
            axum::routing::post(post_attestation),
        )
        .route("/artifacts/{digest}/sboms", axum::routing::post(post_sbom))
        .route("/artifacts/{digest}/sbom", get(get_sbom))
        .route("/sbom/components", get(sbom_components))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{name}", delete(revoke_token))
        .route("/environments", get(environments))
        .merge(promotions::router())
        .merge(audit::router())
        .merge(reports::router())
        .merge(crate::admission::api_router())
        .merge(retention::router())
        .merge(crate::calendar::router())
}

fn principal(app: &AppState, headers: &HeaderMap) -> ApiResult<Option<std::sync::Arc<Principal>>> {
    app.auth.authenticate(headers)
}

/// The authenticated caller. A handler that takes it answers a request without valid
/// credentials with 401 in the API's error format before it reads anything else.
#[derive(Debug)]
pub struct Caller(pub std::sync::Arc<Principal>);

impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        app: &AppState,
    ) -> Result<Self, ApiError> {
        app.auth
            .authenticate(&parts.headers)?
            .map(Caller)
            .ok_or_else(|| auth::unauthorized("authentication required"))
    }
}

/// An authenticated admin: 401 without valid credentials, 403 (`role-missing`) for any other
/// caller.
#[derive(Debug)]
pub struct Admin(pub std::sync::Arc<Principal>);

impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        app: &AppState,
    ) -> Result<Self, ApiError> {
        let Caller(p) = Caller::from_request_parts(parts, app).await?;
        app.auth.require_admin(Some(&p))?;
        Ok(Admin(p))
    }
}

/// A JSON request body of a type that says what it should look like ([`Shape`]): one that
/// does not fit gets 400 in the API's error format, naming the expected shape.
#[derive(Debug)]
pub struct Body<T>(pub T);

/// The expected shape of a request body, shown to a client whose body does not fit.
pub trait Shape {
    const SHAPE: &'static str;
}

impl<T: serde::de::DeserializeOwned + Shape, S: Send + Sync> axum::extract::FromRequest<S>
    for Body<T>
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = <axum::body::Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ApiError::new(ErrorCode::BadRequest, format!("expected {}: {e}", T::SHAPE))
        })
    }
}

/// Formats milliseconds since the epoch as RFC 3339 UTC (`2026-11-26T23:21:12.345Z`).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

fn entry_json(e: &ArtifactEntry) -> Value {
    let r = &e.record;
    json!({
        "repository": e.repository,
        "tags": e.tags,
        "digest": r.digest,
        "media_type": r.media_type,
        "artifact_type": r.artifact_type,
        "size": r.size,
        "subject": r.subject,
        "annotations": r.annotations,
        "pushed_by": r.pushed_by,
        "pushed_at": rfc3339(r.pushed_at_ms),
    })
}

fn evidence_json(r: &EvidenceRecord) -> Value {
    let v = &r.verdict;
    let mut out = json!({
        "kind": r.evidence.kind(),
        "verified": v.verified,
        "reason": v.reason,
        "message": v.message,
        "signer": v.signer,
        "evidence_digest": r.evidence_digest,
        "repository": r.repository,
        "trust_digest": r.trust_digest,
        "recorded_at": rfc3339(r.recorded_at_ms),
    });
    if let Some(t) = &v.tlog {
        out["tlog"] = json!({
            "log_index": t.log_index,
            "integrated_time": rfc3339(t.integrated_time.saturating_mul(1000)),
        });
    }
    if let Some(p) = &v.predicate_type {
        out["predicate_type"] = json!(p);
    }
    if let Some(p) = &v.provenance {
        out["provenance"] = json!(p);
    }
    out
}

/// The record of one digest: where it is, and the evidence about it with its verdicts.
pub fn artifact_record(
    app: &AppState,
    p: Option<&Principal>,
    d: &tollgate_attest::Digest,
) -> ApiResult<Option<Value>> {
    let entries: Vec<Value> = app
        .store
        .artifact(d)?
        .iter()
        .filter(|e| app.auth.authorize(p, Action::Pull, &e.repository).is_ok())
        .map(entry_json)
        .collect();
    let evidence = app.store.evidence_for(d)?;
    // Evidence pushed into a repository is shown to those who may read it; posted
    // evidence (no repository) to any authenticated caller.
    let visible: Vec<&EvidenceRecord> = evidence
        .iter()
        .filter(|r| {
            r.repository
                .as_ref()
                .is_none_or(|repo| app.auth.authorize(p, Action::Pull, repo).is_ok())
        })
        .collect();
    let sboms = app.store.sboms_for(d)?;
    // Files of raw and Maven repositories holding these bytes.
    let files: Vec<Value> = app
        .store
        .files_with_digest(d)?
        .iter()
        .filter(|e| app.auth.authorize(p, Action::Pull, &e.repository).is_ok())
        .map(|e| {
            json!({
                "repository": e.repository,
                "path": e.record.path,
                "purl": e.record.purl,
                "size": e.record.size,
                "checksums": {
                    "sha1": e.record.checksums.sha1,
                    "md5": e.record.checksums.md5,
                    "sha512": e.record.checksums.sha512,
                },
                "pushed_by": e.record.pushed_by,
                "pushed_at": rfc3339(e.record.pushed_at_ms),
            })
        })
        .collect();
    if entries.is_empty() && files.is_empty() && visible.is_empty() && sboms.is_empty() {
        return Ok(None);
    }
    let (attestations, signatures): (Vec<&EvidenceRecord>, Vec<&EvidenceRecord>) =
        visible.iter().partition(|r| r.evidence.is_attestation());
    let provenance = visible
        .iter()
        .find(|r| r.verdict.verified && r.verdict.provenance.is_some())
        .map(|r| &r.verdict.provenance);
    Ok(Some(json!({
        "digest": d,
        "repositories": entries,
        "files": files,
        "signatures": signatures.iter().map(|r| evidence_json(r)).collect::<Vec<_>>(),
        "attestations": attestations.iter().map(|r| evidence_json(r)).collect::<Vec<_>>(),
        "provenance": provenance,
        "sboms": sboms.iter().map(|r| json!({
            "sbom_digest": r.sbom_digest,
            "format": r.format,
            "spec_version": r.spec_version,
            "components": r.components,
            "source": r.source,
            "repository": r.repository,
            "recorded_at": rfc3339(r.recorded_at_ms),
        })).collect::<Vec<_>>(),
    })))
}

async fn get_artifact(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(digest): Path<String>,
) -> ApiResult<Response> {
    let p = principal(&app, &headers)?;
    let d = parse_digest(&digest)?;
    app.auth.require_principal(p.as_deref())?;
    match artifact_record(&app, p.as_deref(), &d)? {
        Some(v) => Ok(axum::Json(v).into_response()),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no artifact {d} in any repository you can read"),
        )),
    }
}

/// Evidence for any artifact — OCI or not — from build systems that do not push referrers:
/// a DSSE envelope or a Sigstore bundle, verified now and recorded by subject digest.
async fn post_attestation(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(digest): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (d, principal) = adder(&app, &headers, &digest, body.len(), 4 * 1024 * 1024)?;
    let rec = crate::evidence::examine_posted(&app, &d, &body)?;
    let sbom = crate::sboms::from_attestation(&rec)?;
    app.store.put_evidence(&rec)?;
    if let Some(doc) = sbom {
        crate::sboms::record(&app, &d, &doc, "attestation", None)?;
    }
    tracing::info!(subject = %d, actor = %principal.name, kind = rec.evidence.kind(), verified = rec.verdict.verified, "evidence posted");
    Ok((StatusCode::CREATED, axum::Json(evidence_json(&rec))).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    repository: Option<String>,
}

async fn list_artifacts(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let p = principal(&app, &headers)?;
    let Some(repo) = q.repository else {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "query parameter repository= is required",
        ));
    };
    let repo = parse_name(&repo)?;
    app.auth.authorize(p.as_deref(), Action::Pull, &repo)?;
    let artifacts: Vec<Value> = app
        .store
        .list_artifacts(&repo)?
        .iter()
        .map(entry_json)
        .collect();
    Ok(axum::Json(json!({ "repository": repo, "artifacts": artifacts })).into_response())
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    roles: Vec<String>,
}

impl Shape for NewToken {
    const SHAPE: &'static str = r#"{"name": "…", "roles": ["…", …]}"#;
}

async fn create_token(
    State(app): State<AppState>,
    Admin(p): Admin,
    Body(req): Body<NewToken>,
) -> ApiResult<Response> {
    if !auth::valid_token_name(&req.name) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "token names are 1-64 of [A-Za-z0-9._-@]",
        ));
    }
    let roles = parse_roles(&req.roles).map_err(|e| ApiError::new(ErrorCode::BadRequest, e))?;
    let (token, rec) = auth::new_token_record(&req.name, roles, now_ms());
    match app.store.create_token(&rec) {
        Ok(()) => {}
        Err(StoreError::TokenExists(n)) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("a token named {n:?} exists"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let actor = p.name.clone();
    tracing::info!(token = %rec.name, %actor, roles = ?req.roles, "token created");
    app.audit(crate::audit::draft(&actor, "token-create").details(
        json!({ "token": rec.name, "roles": rec.roles.iter().map(ToString::to_string).collect::<Vec<_>>() }),
    ))
    .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "name": rec.name, "roles": rec.roles, "token": token })),
    )
        .into_response())
}

pub fn parse_roles(roles: &[String]) -> Result<Vec<RoleGrant>, String> {
    if roles.is_empty() {
        return Err(
            "at least one role is required (reader, pusher, admin, promoter, approver(GROUP), breakglass or auditor, optionally :PATTERN)".into(),
        );
    }
    roles
        .iter()
        .map(|r| r.parse::<RoleGrant>().map_err(|e| e.to_string()))
        .collect()
}

async fn list_tokens(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    // Admins and auditors (access reviews); tokens themselves are never stored, only hashes.
    audit::require_auditor(&app, &headers)?;
    let tokens: Vec<Value> = app
        .store
        .list_tokens()?
        .into_iter()
        .map(|t| json!({ "name": t.name, "roles": t.roles, "created_at": rfc3339(t.created_at_ms), "revoked": t.revoked, "last_used": t.last_used_ms.map(rfc3339) }))
        .collect();
    Ok(axum::Json(json!({ "tokens": tokens })).into_response())
}

async fn revoke_token(
    State(app): State<AppState>,
    Admin(p): Admin,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    if !app.store.revoke_token(&name)? {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no token named {name:?}"),
        ));
    }
    app.auth.invalidate();
    let actor = p.name.clone();
    tracing::info!(token = %name, %actor, "token revoked");
    app.audit(crate::audit::draft(&actor, "token-revoke").details(json!({ "token": name })))
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn environments(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let p = principal(&app, &headers)?;
    app.auth.require_principal(p.as_deref())?;
    Ok(axum::Json(json!({ "environments": app.config.environments })).into_response())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_735_272_345), "2026-11-26T23:21:12.345Z");
    }
}

/// The caller adding a document (evidence, an SBOM) to `digest`, checked: authenticated, a
/// pusher where the artifact lives (or any pusher for an artifact Tollgate holds in no
/// repository), and a body within `max_bytes`.
fn adder(
    app: &AppState,
    headers: &HeaderMap,
    digest: &str,
    body_len: usize,
    max_bytes: u64,
) -> ApiResult<(tollgate_attest::Digest, std::sync::Arc<Principal>)> {
    let d = parse_digest(digest)?;
    let principal =
        principal(app, headers)?.ok_or_else(|| auth::unauthorized("authentication required"))?;
    let mut repos: Vec<_> = app
        .store
        .artifact(&d)?
        .into_iter()
        .map(|e| e.repository)
        .collect();
    repos.extend(
        app.store
            .files_with_digest(&d)?
            .into_iter()
            .map(|e| e.repository),
    );
    let allowed = if repos.is_empty() {
        principal.grants.iter().any(|g| g.role.allows(Action::Push))
    } else {
        repos.iter().any(|r| principal.may(Action::Push, r))
    };
    if !allowed {
        return Err(ApiError::denied(
            tollgate_policies::ReasonCode::RoleMissing,
            format!("token {:?} may not add to {d}", principal.name),
        ));
    }
    if body_len as u64 > max_bytes {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("documents here are limited to {max_bytes} bytes"),
        ));
    }
    Ok((d, principal))
}

/// An SBOM for any artifact, OCI or not: parsed, recorded and indexed; idempotent.
async fn post_sbom(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(digest): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (d, _) = adder(
        &app,
        &headers,
        &digest,
        body.len(),
        crate::sboms::MAX_SBOM_BYTES,
    )?;
    // Parsing and indexing a large SBOM is CPU and disk work the async workers should not
    // wait on.
    let (rec, new) = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || {
            let doc = crate::sboms::parse(&body)?;
            crate::sboms::record(&app, &d, &doc, "api", None)
        })
        .await
        .map_err(ApiError::internal)??
    };
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(json!({
            "subject": rec.subject,
            "sbom_digest": rec.sbom_digest,
            "format": rec.format,
            "spec_version": rec.spec_version,
            "components": rec.components,
            "new": new,
        })),
    )
        .into_response())
}

/// The SBOM held for an artifact (the first one, or `?sbom=<digest>`): as it was ingested, or
/// converted with `?format=cyclonedx|spdx`.
async fn get_sbom(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(digest): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Response> {
    let p = principal(&app, &headers)?;
    let d = parse_digest(&digest)?;
    app.auth.require_principal(p.as_deref())?;
    let records = app.store.sboms_for(&d)?;
    let rec = match q.get("sbom") {
        Some(want) => records.iter().find(|r| r.sbom_digest.to_string() == *want),
        None => records.first(),
    }
    .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no SBOM for {d}")))?;
    let format = match q.get("format").map(String::as_str) {
        None => None,
        Some("cyclonedx") => Some(tollgate_sbom::Format::CycloneDx),
        Some("spdx") => Some(tollgate_sbom::Format::Spdx),
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("format {other:?} is not one of cyclonedx, spdx"),
            ));
        }
    };
    let doc = app.store.sbom_document(&rec.sbom_digest)?.ok_or_else(|| {
        ApiError::internal(format!(
            "SBOM {} recorded without its document",
            rec.sbom_digest
        ))
    })?;
    let (doc, format) = match format {
        Some(f) => (crate::sboms::export(rec, doc, f)?, f),
        None if rec.format == "spdx" => (doc, tollgate_sbom::Format::Spdx),
        None => (doc, tollgate_sbom::Format::CycloneDx),
    };
    let media_type = match format {
        tollgate_sbom::Format::Spdx => "application/spdx+json",
        tollgate_sbom::Format::CycloneDx => "application/vnd.cyclonedx+json",
    };
    Ok(([(http::header::CONTENT_TYPE, media_type)], doc).into_response())
}

#[derive(Deserialize)]
struct ComponentQuery {
    purl: Option<String>,
    license: Option<String>,
    range: Option<String>,
    /// Only artifacts this environment holds ("which prod artifacts carry GPL-3.0-only?").
    environment: Option<String>,
    /// Hits per page: [`WHERE_USED_DEFAULT_LIMIT`] unless given, at most
    /// [`WHERE_USED_MAX_LIMIT`].
    limit: Option<usize>,
    /// The previous page's `next`.
    cursor: Option<String>,
}

/// Component hits per where-used page unless `limit=` says otherwise: small enough that the
/// most popular package's page stays within a few milliseconds (~1 µs per hit to read, more to
/// send), large enough that few questions need a second page.
pub const WHERE_USED_DEFAULT_LIMIT: usize = 500;
/// The largest `limit=` a where-used page honours (a hit costs ~1 µs to read and more to send).
pub const WHERE_USED_MAX_LIMIT: usize = 10_000;

/// Where-used: which artifacts (in which repositories and environments) contain a package,
/// optionally in a version range, or carry a licence. Answers in pages of component hits in
/// index order; `next` (and a `Link: rel="next"` header) asks for the following page.
async fn sbom_components(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ComponentQuery>,
) -> ApiResult<Response> {
    let p = principal(&app, &headers)?;
    app.auth.require_principal(p.as_deref())?;
    let limit = q
        .limit
        .unwrap_or(WHERE_USED_DEFAULT_LIMIT)
        .clamp(1, WHERE_USED_MAX_LIMIT);
    // Deprecated licence spellings (`GPL-2.0+`) are looked up under the id the index keeps.
    let license_id = q.license.as_ref().map(|license| {
        match tollgate_sbom::LicenseExpr::parse(license).map(|e| e.ids()) {
            Ok(ids) if ids.len() == 1 => ids[0].to_string(),
            _ => license.clone(),
        }
    });
    let query_id = crate::sboms::where_used_query_id(
        q.purl.as_deref(),
        q.range.as_deref(),
        license_id.as_deref(),
    );
    let after = match (&q.purl, &license_id, &q.cursor) {
        (Some(_), None, Some(token)) | (None, Some(_), Some(token)) => {
            Some(crate::sboms::read_page_token(&query_id, token)?)
        }
        _ => None,
    };
    let page = match (&q.purl, &license_id) {
        (Some(purl), None) => crate::sboms::components_by_purl(
            &*app.store,
            purl,
            q.range.as_deref(),
            after.as_ref(),
            limit,
        )?,
        (None, Some(id)) => app.store.components_by_license(id, after.as_ref(), limit)?,
        _ => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "give exactly one of purl= or license=",
            ));
        }
    };
    let next = page
        .next
        .as_ref()
        .map(|c| crate::sboms::page_token(&query_id, c));
    let hits = page.hits;
    // Group by artifact; show only what the caller may read.
    let mut out: Vec<Value> = Vec::new();
    // Artifact → its place in `out`, or None when it is left out (not readable, not in the
    // asked-for environment).
    let mut seen = std::collections::BTreeMap::<String, Option<usize>>::new();
    for h in hits {
        let key = h.subject.to_string();
        let i = match seen.get(&key) {
            Some(Some(i)) => *i,
            Some(None) => continue,
            None => {
                let entries = app.store.artifact(&h.subject)?;
                let visible: Vec<&ArtifactEntry> = entries
                    .iter()
                    .filter(|e| {
                        app.auth
                            .authorize(p.as_deref(), Action::Pull, &e.repository)
                            .is_ok()
                    })
                    .collect();
                if !entries.is_empty() && visible.is_empty() {
                    seen.insert(key, None);
                    continue;
                }
                let repos: Vec<_> = visible.iter().map(|e| e.repository.clone()).collect();
                let environments =
                    crate::promotion::environments_holding(&app, &h.subject, &repos)?;
                if q.environment
                    .as_ref()
                    .is_some_and(|e| !environments.contains(e))
                {
                    seen.insert(key, None);
                    continue;
                }
                out.push(json!({
                    "artifact": h.subject,
                    "repositories": visible.iter().map(|e| json!({"repository": e.repository, "tags": e.tags})).collect::<Vec<_>>(),
                    "environments": environments,
                    "components": [],
                }));
                seen.insert(key, Some(out.len() - 1));
                out.len() - 1
            }
        };
        if let Some(list) = out[i]["components"].as_array_mut() {
            list.push(json!({ "name": h.name, "version": h.version, "purl": h.purl, "license": h.license, "sbom_digest": h.sbom_digest }));
        }
    }
    let mut resp = axum::Json(json!({ "artifacts": out, "next": next })).into_response();
    if let Some(token) = &next {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("purl", q.purl.as_deref()),
            ("range", q.range.as_deref()),
            ("license", q.license.as_deref()),
            ("environment", q.environment.as_deref()),
        ] {
            if let Some(v) = v {
                link.append_pair(k, v);
            }
        }
        link.append_pair("limit", &limit.to_string());
        link.append_pair("cursor", token);
        let link = format!("</api/v1/sbom/components?{}>; rel=\"next\"", link.finish());
        if let Ok(v) = link.parse() {
            resp.headers_mut().insert(http::header::LINK, v);
        }
    }
    Ok(resp)
}
