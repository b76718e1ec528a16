//! Kubernetes admission: `POST /admission/{env}` answers an `AdmissionReview` (v1 or v1beta1,
//! in the request's own version) with whether every image of the object may run in `env`;
//! `POST /admission/{env}/mutate` answers with a JSONPatch that pins tags to digests.
//!
//! The decision reads only the store — no registry, no network: an image must name one of the
//! configured Tollgate registry hosts, its tag is resolved to a digest from the store, and the
//! digest must have been promoted to `env` (or, for the entry environment, pushed into it).
//! Refusals name every refused image with its reason code; `warn` mode allows with warnings.
//! A request that cannot be read is a 400 — never an accidental allow. Decisions are counted
//! in `tollgate_admission_reviews_total{environment,outcome}`; refusals are logged with the
//! image, the reason and the requester and kept (the latest [`DENIALS_KEPT`]) for
//! `GET /api/v1/admission/denials`.

pub mod images;
pub mod reference;
pub mod review;

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tollgate_attest::Digest;
use tollgate_policies::{Action, ReasonCode};

use crate::app::{App, AppState, now_ms};
use crate::config::{AdmissionMode, Environment};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::promotion::{Gate, environment_of, environments_holding, is_entry, pull_gate_of};
use images::Found;
use reference::ImageRef;
use review::{ApiVersion, Operation, Review};

/// Kubernetes objects are at most ~1.5 MiB; a review carries the object and the old one.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How many refusals `GET /api/v1/admission/denials` can show.
pub const DENIALS_KEPT: usize = 1000;

/// `/admission/{env}` and `/admission/{env}/mutate`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admission/{env}", post(validate))
        .route("/admission/{env}/mutate", post(mutate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// `/api/v1/admission/denials`, merged into the management API.
pub fn api_router() -> Router<AppState> {
    Router::new().route("/admission/denials", get(list_denials))
}

// ---------------------------------------------------------------------------------------------
// Deciding

/// What became of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The digest is in the environment; `pinned` is the image by digest when it was named by
    /// tag.
    Allowed {
        digest: Digest,
        pinned: Option<String>,
    },
    /// Matched `exempt_images`: not checked.
    Exempt,
    Refused {
        reason: ReasonCode,
        detail: String,
    },
}

/// One distinct image string of an object and where it occurs.
#[derive(Debug, Clone)]
pub struct ImageDecision {
    pub image: String,
    pub places: Vec<String>,
    pub pointers: Vec<String>,
    pub verdict: Verdict,
}

/// Whether `digest` is in `env`: promoted there, or pushed into it when nothing promotes
/// into it (the entry environment). `Ok(Err(reason, detail))` when not.
fn in_environment(
    app: &App,
    env: &Environment,
    digest: &Digest,
) -> ApiResult<Result<(), (ReasonCode, String)>> {
    if app.store.is_promoted(&env.name, digest)? {
        return Ok(Ok(()));
    }
    let entries = app.store.artifact(digest)?;
    if is_entry(app, env)
        && entries
            .iter()
            .any(|e| environment_of(app, &e.repository).is_some_and(|x| x.name == env.name))
    {
        return Ok(Ok(()));
    }
    let repos: Vec<_> = entries.into_iter().map(|e| e.repository).collect();
    let holding = environments_holding(app, digest, &repos)?;
    if repos.is_empty() && holding.is_empty() {
        return Ok(Err((
            ReasonCode::ImageUnknown,
            format!("{digest} is not in Tollgate"),
        )));
    }
    let where_ = if holding.is_empty() {
        "it is in no environment".to_string()
    } else {
        format!("it is in {}", holding.join(", "))
    };
    Ok(Err((
        ReasonCode::NotPromoted,
        format!("{digest} was never promoted to {} ({where_})", env.name),
    )))
}

/// Judges one image string for `env`. Store failures are errors (the webhook call fails and
/// the cluster's `failurePolicy` decides), never an allow.
pub fn judge(app: &App, env: &Environment, image: &str) -> ApiResult<Verdict> {
    let refused = |reason, detail: String| Ok(Verdict::Refused { reason, detail });
    let r = match ImageRef::parse(image) {
        Ok(r) => r,
        Err(e) => return refused(ReasonCode::ImageReferenceInvalid, e),
    };
    let cfg = &app.config.admission;
    let name = r.name();
    if cfg.exempt_images.iter().any(|p| p.matches(&name)) {
        return Ok(Verdict::Exempt);
    }
    if !cfg.registries.contains(&r.domain.to_ascii_lowercase()) {
        let detail = if cfg.registries.is_empty() {
            format!(
                "{} is not a Tollgate registry (none is configured: [admission] registries)",
                r.domain
            )
        } else {
            format!(
                "{} is not a Tollgate registry ({})",
                r.domain,
                cfg.registries.join(", ")
            )
        };
        return refused(ReasonCode::RegistryNotTollgate, detail);
    }
    let (digest, pinned) = match (&r.digest, &r.tag) {
        (Some(d), _) => (d.clone(), None),
        (None, Some(t)) => match app.store.resolve_tag(&r.path, t)? {
            Some(d) => {
                // The name as written, without its tag (a ':' before the last '/' is a port).
                let slash = image.rfind('/').map_or(0, |i| i + 1);
                let written = image[slash..]
                    .find(':')
                    .map_or(image, |i| &image[..slash + i]);
                let pinned = format!("{written}@{d}");
                (d, Some(pinned))
            }
            None => {
                return refused(
                    ReasonCode::ImageUnknown,
                    format!("{}:{t} is not a tag in Tollgate", r.path),
                );
            }
        },
        (None, None) => {
            return refused(
                ReasonCode::ImageReferenceInvalid,
                "no tag and no digest".into(),
            );
        }
    };
    if let Err((reason, detail)) = in_environment(app, env, &digest)? {
        return refused(reason, detail);
    }
    if let Gate::Refused(_) = pull_gate_of(app, &r.path, &digest)? {
        return refused(
            ReasonCode::NotPromoted,
            format!(
                "{digest} was never promoted into {} (promote it there, or name the repository it was promoted to)",
                r.path
            ),
        );
    }
    Ok(Verdict::Allowed { digest, pinned })
}

/// Judges every image found, once per distinct string.
fn decide(app: &App, env: &Environment, found: Vec<Found>) -> ApiResult<Vec<ImageDecision>> {
    let mut out: Vec<ImageDecision> = Vec::new();
    for f in found {
        let key = match &f.image {
            Ok(s) => s.clone(),
            Err(e) => format!("({e})"),
        };
        if let Some(d) = out.iter_mut().find(|d| d.image == key) {
            d.places.push(f.place);
            d.pointers.push(f.pointer);
            continue;
        }
        let verdict = match &f.image {
            Ok(s) => judge(app, env, s)?,
            Err(e) => Verdict::Refused {
                reason: ReasonCode::ImageReferenceInvalid,
                detail: e.clone(),
            },
        };
        out.push(ImageDecision {
            image: key,
            places: vec![f.place],
            pointers: vec![f.pointer],
            verdict,
        });
    }
    Ok(out)
}

/// Why a review is allowed without looking at its images, if it is.
fn needs_no_check(r: &Review<'_>) -> Option<&'static str> {
    match r.operation {
        Operation::Delete => return Some("DELETE runs no image"),
        Operation::Connect => return Some("CONNECT runs no image"),
        Operation::Create | Operation::Update => {}
    }
    match r.sub_resource.as_deref() {
        None | Some("ephemeralcontainers") => {}
        // status, scale, binding, …: the images do not change (kubelet status updates of a
        // pod admitted under warn mode must keep working after the switch to enforce).
        Some(_) => return Some("a subresource other than ephemeralcontainers runs no new image"),
    }
    // Removing finalizers from an object being deleted must never be blocked.
    let deleting = r
        .object
        .and_then(|o| o.get("metadata"))
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|t| !t.is_null());
    if deleting && r.operation == Operation::Update {
        return Some("the object is being deleted");
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Answering

fn env_named<'a>(app: &'a App, name: &str) -> ApiResult<&'a Environment> {
    app.config
        .environments
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = app
                .config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "no environment {name:?} to admit into; environments are {}",
                    known.join(", ")
                ),
            )
        })
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, msg)
}

/// Reads the body as an AdmissionReview; the error is a 400 with the reason.
fn read_body(body: &Result<Bytes, BytesRejection>) -> ApiResult<Value> {
    let bytes = match body {
        Ok(b) => b,
        Err(e) => {
            return Err(ApiError::new(
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorCode::SizeInvalid
                } else {
                    ErrorCode::BadRequest
                },
                format!("AdmissionReview body: {}", e.body_text()),
            ));
        }
    };
    if bytes.is_empty() {
        return Err(bad("the body is empty: POST an AdmissionReview"));
    }
    review::read(bytes).map_err(|e| bad(format!("the body is not JSON (an AdmissionReview): {e}")))
}

fn review_json(v: ApiVersion, response: Map<String, Value>) -> Response {
    let body = json!({
        "apiVersion": v.as_str(),
        "kind": "AdmissionReview",
        "response": Value::Object(response),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn line(d: &ImageDecision, reason: ReasonCode, detail: &str) -> String {
    format!("{} ({}): {reason}: {detail}", d.image, d.places.join(", "))
}

fn refused(decisions: &[ImageDecision]) -> Vec<(&ImageDecision, ReasonCode, &str)> {
    decisions
        .iter()
        .filter_map(|d| match &d.verdict {
            Verdict::Refused { reason, detail } => Some((d, *reason, detail.as_str())),
            _ => None,
        })
        .collect()
}

/// One refusal, as kept and listed.
#[derive(Debug, Clone, Serialize)]
pub struct DenialRecord {
    pub at: String,
    pub environment: String,
    /// False when the environment is in warn mode (allowed with a warning).
    pub enforced: bool,
    pub uid: String,
    pub operation: &'static str,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `userInfo.username`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    pub images: Vec<DeniedImage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeniedImage {
    pub image: String,
    pub places: Vec<String>,
    pub reason: ReasonCode,
    pub message: String,
}

/// The latest refusals, newest last (in memory; the log has them all).
#[derive(Debug, Default)]
pub struct Denials {
    kept: Mutex<VecDeque<DenialRecord>>,
}

impl Denials {
    pub fn push(&self, rec: DenialRecord) {
        if let Ok(mut q) = self.kept.lock() {
            if q.len() == DENIALS_KEPT {
                q.pop_front();
            }
            q.push_back(rec);
        }
    }

    /// Newest first.
    pub fn latest(&self, environment: Option<&str>, limit: usize) -> Vec<DenialRecord> {
        self.kept
            .lock()
            .map(|q| {
                q.iter()
                    .rev()
                    .filter(|r| environment.is_none_or(|e| r.environment == e))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn record_refusal(
    app: &App,
    env: &Environment,
    r: &Review<'_>,
    refusals: &[(&ImageDecision, ReasonCode, &str)],
    enforced: bool,
) {
    for (d, reason, detail) in refusals {
        tracing::info!(
            environment = %env.name, enforced, dry_run = r.dry_run, uid = %r.uid,
            operation = r.operation.as_str(), kind = %r.kind,
            namespace = r.namespace.as_deref().unwrap_or(""), name = r.name.as_deref().unwrap_or(""),
            requester = r.username.as_deref().unwrap_or(""),
            image = %d.image, places = %d.places.join(", "), reason = reason.as_str(), detail = %detail,
            "admission refused an image"
        );
        app.metrics
            .admission_refused_image(&env.name, reason.as_str());
    }
    // Dry-run requests have no side effects: logged, counted, not kept.
    if r.dry_run {
        return;
    }
    {
        use crate::audit::DraftExt as _;
        let requester = r.username.as_deref().unwrap_or("unknown");
        for (d, reason, detail) in refusals {
            let draft = crate::audit::draft(requester, "admission-denied").details(json!({
                "environment": env.name,
                "enforced": enforced,
                "image": d.image,
                "reason": reason.as_str(),
                "message": detail,
                "namespace": r.namespace,
                "name": r.name,
                "kind": r.kind,
                "uid": r.uid,
            }));
            app.audit_later(draft);
        }
    }
    app.admission_denials.push(DenialRecord {
        at: crate::api::rfc3339(now_ms()),
        environment: env.name.clone(),
        enforced,
        uid: r.uid.clone(),
        operation: r.operation.as_str(),
        kind: if r.group.is_empty() {
            r.kind.clone()
        } else {
            format!("{}/{}", r.group, r.kind)
        },
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        requester: r.username.clone(),
        images: refusals
            .iter()
            .map(|(d, reason, detail)| DeniedImage {
                image: d.image.clone(),
                places: d.places.clone(),
                reason: *reason,
                message: detail.to_string(),
            })
            .collect(),
    });
}

/// The validating answer for `r` in `env`, and the outcome it is counted under.
fn validate_review(
    app: &App,
    env: &Environment,
    r: &Review<'_>,
) -> ApiResult<(Map<String, Value>, &'static str)> {
    let mut resp = Map::new();
    resp.insert("uid".into(), json!(r.uid));
    let mut audit = Map::new();
    audit.insert("environment".into(), json!(env.name));
    if let Some(why) = needs_no_check(r) {
        resp.insert("allowed".into(), json!(true));
        audit.insert("decision".into(), json!("allowed"));
        audit.insert("note".into(), json!(why));
        resp.insert("auditAnnotations".into(), Value::Object(audit));
        return Ok((resp, "allowed"));
    }
    let object = r.object.ok_or_else(|| bad("request.object is missing"))?;
    let found = images::images(&r.group, &r.kind, object).map_err(|e| {
        bad(format!(
            "request.object ({}): {e}",
            if r.kind.is_empty() { "?" } else { &r.kind }
        ))
    })?;
    let decisions = decide(app, env, found)?;
    let refusals = refused(&decisions);
    let mode = app.config.admission.mode(&env.name);
    if refusals.is_empty() {
        resp.insert("allowed".into(), json!(true));
        audit.insert("decision".into(), json!("allowed"));
        let digests: Vec<String> = decisions
            .iter()
            .filter_map(|d| match &d.verdict {
                Verdict::Allowed { digest, .. } => Some(format!("{}={digest}", d.image)),
                _ => None,
            })
            .collect();
        if !digests.is_empty() {
            audit.insert("digests".into(), json!(digests.join(" ")));
        }
        resp.insert("auditAnnotations".into(), Value::Object(audit));
        return Ok((resp, "allowed"));
    }
    let codes: Vec<String> = refusals
        .iter()
        .map(|(d, reason, _)| format!("{}={reason}", d.image))
        .collect();
    audit.insert("refused".into(), json!(codes.join(" ")));
    let outcome = match mode {
        AdmissionMode::Enforce => {
            let lines: Vec<String> = refusals
                .iter()
                .map(|(d, reason, detail)| line(d, *reason, detail))
                .collect();
            let message = format!(
                "Tollgate refused {} of {} image{} for environment {:?}: {}",
                refusals.len(),
                decisions.len(),
                if decisions.len() == 1 { "" } else { "s" },
                env.name,
                lines.join("; ")
            );
            resp.insert("allowed".into(), json!(false));
            resp.insert(
                "status".into(),
                json!({"code": 403, "reason": "Forbidden", "message": message}),
            );
            audit.insert("decision".into(), json!("denied"));
            record_refusal(app, env, r, &refusals, true);
            "denied"
        }
        AdmissionMode::Warn => {
            // Kept short: API servers may truncate long warnings. The detail is in the
            // log and the denials list.
            let warnings: Vec<String> = refusals
                .iter()
                .map(|(d, reason, _)| {
                    format!("{}: {reason} (Tollgate warn mode in {})", d.image, env.name)
                })
                .collect();
            resp.insert("allowed".into(), json!(true));
            resp.insert("warnings".into(), json!(warnings));
            audit.insert("decision".into(), json!("warned"));
            record_refusal(app, env, r, &refusals, false);
            "warned"
        }
    };
    resp.insert("auditAnnotations".into(), Value::Object(audit));
    Ok((resp, outcome))
}

/// The mutating answer: a JSONPatch replacing every tag that resolves to a digest in `env`
/// by that digest. Never a refusal (that is the validating webhook's job).
fn mutate_review(
    app: &App,
    env: &Environment,
    r: &Review<'_>,
) -> ApiResult<(Map<String, Value>, &'static str)> {
    let mut resp = Map::new();
    resp.insert("uid".into(), json!(r.uid));
    resp.insert("allowed".into(), json!(true));
    if needs_no_check(r).is_some() {
        return Ok((resp, "unchanged"));
    }
    let object = r.object.ok_or_else(|| bad("request.object is missing"))?;
    let found = images::images(&r.group, &r.kind, object)
        .map_err(|e| bad(format!("request.object ({}): {e}", r.kind)))?;
    let decisions = decide(app, env, found)?;
    let mut ops = Vec::new();
    for d in &decisions {
        if let Verdict::Allowed {
            pinned: Some(pinned),
            ..
        } = &d.verdict
        {
            for p in &d.pointers {
                ops.push(json!({"op": "replace", "path": p, "value": pinned}));
            }
        }
    }
    if ops.is_empty() {
        return Ok((resp, "unchanged"));
    }
    let patch = base64::engine::general_purpose::STANDARD.encode(Value::Array(ops).to_string());
    resp.insert("patchType".into(), json!("JSONPatch"));
    resp.insert("patch".into(), json!(patch));
    Ok((resp, "patched"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Webhook {
    Validate,
    Mutate,
}

fn handle(
    app: &App,
    env_name: &str,
    body: &Result<Bytes, BytesRejection>,
    hook: Webhook,
) -> Response {
    let started = std::time::Instant::now();
    let env = match env_named(app, env_name) {
        Ok(e) => e,
        // Not counted: the label would be whatever the caller wrote.
        Err(e) => return e.into_response(),
    };
    let count = |outcome: &'static str| match hook {
        Webhook::Validate => {
            app.metrics.admission_review(&env.name, outcome);
            // Allowed reviews reach the audit log as a count per interval, so the log does
            // not grow with cluster traffic; refusals are logged one by one.
            if outcome == "allowed" || outcome == "warned" {
                app.audit.count_admission(&env.name, outcome);
            }
        }
        Webhook::Mutate => app.metrics.admission_mutation(&env.name, outcome),
    };
    let result = read_body(body).and_then(|root| {
        let r = review::parse(&root).map_err(bad)?;
        let (resp, outcome) = match hook {
            Webhook::Validate => validate_review(app, env, &r)?,
            Webhook::Mutate => mutate_review(app, env, &r)?,
        };
        Ok((r.api_version, resp, outcome, r.uid.clone()))
    });
    match result {
        Ok((v, resp, outcome, uid)) => {
            count(outcome);
            tracing::debug!(environment = %env.name, %uid, outcome, elapsed = ?started.elapsed(), "admission review answered");
            review_json(v, resp)
        }
        Err(e) => {
            count("error");
            tracing::warn!(environment = %env.name, webhook = ?hook, error = %e.message, "admission request refused as malformed or failed");
            e.into_response()
        }
    }
}

async fn validate(
    State(app): State<AppState>,
    Path(env): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&app, &env, &body, Webhook::Validate)
}

async fn mutate(
    State(app): State<AppState>,
    Path(env): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&app, &env, &body, Webhook::Mutate)
}

#[derive(Debug, Deserialize)]
struct DenialsQuery {
    environment: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/admission/denials[?environment=prod&limit=100]`: the latest refusals, newest
/// first, for auditors and admins.
async fn list_denials(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DenialsQuery>,
) -> ApiResult<Response> {
    let p = app.auth.authenticate(&headers)?;
    let p = app.auth.require_principal(p.as_deref())?;
    if !p.grants.iter().any(|g| g.role.allows(Action::Audit)) {
        return Err(ApiError::denied(
            ReasonCode::RoleMissing,
            format!(
                "token {:?} may not read admission denials (needs auditor or admin)",
                p.name
            ),
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, DENIALS_KEPT);
    let list = app
        .admission_denials
        .latest(q.environment.as_deref(), limit);
    Ok(axum::Json(json!({ "denials": list })).into_response())
}
