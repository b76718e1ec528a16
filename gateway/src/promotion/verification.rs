//! Verification results: what an artifact showed in an environment after it was deployed
//! there (smoke tests, success-criteria measurements, canary-analysis verdicts), recorded so
//! that policy can require them before the artifact moves on.
//!
//! A result comes either signed — an in-toto statement in a DSSE envelope or Sigstore bundle,
//! verified against the gateway's trust configuration, the result read from its predicate —
//! or plain, from a token holding `verifier` for a repository the artifact is in. A result is
//! recorded for an environment the artifact is in; recording one re-decides the promotions of
//! the artifact out of that environment that were waiting for it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use tollgate_attest::{Digest, Evidence, Signer};
use tollgate_policies::{Action, ReasonCode, RepoName, TestResult};
use tollgate_store::{PromotionFilter, PromotionRecord, PromotionState, VerificationRecord};

use crate::app::{App, now_ms};
use crate::audit::DraftExt as _;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// `POST /api/v1/artifacts/{digest}/verifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    /// The environment the result was measured in.
    pub environment: String,
    /// `smoke-test`, `success-criteria`, `canary`, …: what policy names in `require`.
    pub kind: String,
    /// `passed`, `warned` or `failed`; for a signed result, its predicate says.
    #[serde(default)]
    pub result: Option<String>,
    /// Measurements (success criteria); for a signed result, the predicate's `metrics`.
    #[serde(default)]
    pub metrics: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub details: Option<Value>,
    /// A DSSE envelope or Sigstore bundle whose in-toto statement names the artifact.
    #[serde(default)]
    pub attestation: Option<Value>,
}

/// Most metrics one result may carry.
const MAX_METRICS: usize = 64;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, msg)
}

/// Short kebab-case names, as policy writes them.
fn check_name(what: &str, s: &str) -> ApiResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{what} {s:?}: use lower-case letters, digits and '-' (at most 64)"
        )))
    }
}

/// Reads a result word as tools write it: in-toto `PASSED`/`WARNED`/`FAILED`, Kayenta-style
/// `pass`/`fail`, or ours.
pub fn parse_result(s: &str) -> Option<TestResult> {
    match s.to_ascii_lowercase().as_str() {
        "passed" | "pass" | "success" | "succeeded" => Some(TestResult::Passed),
        "warned" | "warn" | "marginal" => Some(TestResult::Warned),
        "failed" | "fail" | "failure" => Some(TestResult::Failed),
        _ => None,
    }
}

fn check_metrics(m: &BTreeMap<String, f64>) -> ApiResult<()> {
    if m.len() > MAX_METRICS {
        return Err(bad(format!("at most {MAX_METRICS} metrics per result")));
    }
    for (k, v) in m {
        let ok = !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
        if !ok {
            return Err(bad(format!(
                "metric {k:?}: use lower-case letters, digits, '_' and '-'"
            )));
        }
        if !v.is_finite() {
            return Err(bad(format!("metric {k}: not a finite number")));
        }
    }
    Ok(())
}

pub fn signer_name(s: &Signer) -> String {
    match s {
        Signer::Key { name } => format!("key {name}"),
        Signer::Identity { subject, issuer } => format!("{subject} ({issuer})"),
    }
}

/// The repositories of `environment` holding `digest`.
fn repositories_in(app: &App, digest: &Digest, environment: &str) -> ApiResult<Vec<RepoName>> {
    let mut repos = repositories_in_any(app, digest)?;
    repos.retain(|r| super::environment_of(app, r).is_some_and(|e| e.name == environment));
    repos.sort();
    repos.dedup();
    Ok(repos)
}

/// Validates, verifies and records a result; then re-decides what waited for it.
pub async fn record(
    app: &Arc<App>,
    principal: &Principal,
    digest: &Digest,
    req: VerificationRequest,
) -> ApiResult<(VerificationRecord, Vec<PromotionRecord>)> {
    check_name("kind", &req.kind)?;
    if !app
        .config
        .environments
        .iter()
        .any(|e| e.name == req.environment)
    {
        return Err(bad(format!("unknown environment {:?}", req.environment)));
    }
    if let Some(u) = &req.url {
        url::Url::parse(u).map_err(|e| bad(format!("url {u:?}: {e}")))?;
    }
    let held_in = super::environments_holding(app, digest, &repositories_in_any(app, digest)?)?;
    if !held_in.contains(&req.environment) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "{digest} is not in {:?} (it is in {}): results are recorded where the artifact runs",
                req.environment,
                if held_in.is_empty() {
                    "no environment".to_string()
                } else {
                    held_in.join(", ")
                }
            ),
        ));
    }
    let repos = repositories_in(app, digest, &req.environment)?;
    // Promoted artifacts are recorded under their target repositories; an entry environment
    // holds the pushed repository itself.
    let mut targets = repos.clone();
    for p in app.store.promotions_of(digest)? {
        if p.environment == req.environment && !targets.contains(&p.repository) {
            targets.push(p.repository);
        }
    }
    let may = |a: Action| targets.iter().any(|r| principal.may(a, r));

    let (result, metrics, signer, predicate_type, details) = match &req.attestation {
        None => {
            if !may(Action::Verify) {
                return Err(ApiError::denied(
                    ReasonCode::RoleMissing,
                    format!(
                        "token {:?} may not record results for {digest} in {} (needs verifier, or a signed result)",
                        principal.name, req.environment
                    ),
                ));
            }
            let word = req
                .result
                .as_deref()
                .ok_or_else(|| bad("result is required: passed, warned or failed"))?;
            let result = parse_result(word).ok_or_else(|| {
                bad(format!(
                    "result {word:?}: expected passed, warned or failed"
                ))
            })?;
            let metrics = req.metrics.clone().unwrap_or_default();
            (
                result,
                metrics,
                None,
                None,
                req.details.clone().unwrap_or(Value::Null),
            )
        }
        Some(doc) => {
            if !(may(Action::Verify) || may(Action::Push)) {
                return Err(ApiError::denied(
                    ReasonCode::RoleMissing,
                    format!(
                        "token {:?} may not record results for {digest} in {} (needs verifier or pusher)",
                        principal.name, req.environment
                    ),
                ));
            }
            if req.result.is_some() || req.metrics.is_some() {
                return Err(bad(
                    "a signed result carries its result and metrics in its predicate; leave result and metrics out",
                ));
            }
            let bytes = serde_json::to_vec(doc).map_err(ApiError::internal)?;
            let evidence = Evidence::from_document(&bytes).map_err(|e| {
                bad(e.to_string())
                    .with_detail(serde_json::json!({ "reason": ReasonCode::of(&e).as_str() }))
            })?;
            // Fail closed: a result whose signature does not verify is not recorded at all.
            let verified = evidence
                .verify(&app.config.trust.trust, digest)
                .map_err(|e| {
                    ApiError::denied(
                        ReasonCode::of(&e),
                        format!("the signed result does not verify for {digest}: {e}"),
                    )
                })?;
            let statement = verified
                .statement
                .ok_or_else(|| bad("the attestation carries no in-toto statement"))?;
            let pred = &statement.predicate;
            if let Some(env) = pred.get("environment").and_then(Value::as_str)
                && env != req.environment
            {
                return Err(bad(format!(
                    "the signed predicate is for environment {env:?}, not {:?}",
                    req.environment
                )));
            }
            let word = pred
                .get("result")
                .or_else(|| pred.get("verdict"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    bad(format!(
                        "predicate {} has no result (expected \"result\": PASSED, WARNED or FAILED)",
                        statement.predicate_type
                    ))
                })?;
            let result = parse_result(word).ok_or_else(|| {
                bad(format!(
                    "predicate result {word:?} is not PASSED, WARNED or FAILED"
                ))
            })?;
            let metrics: BTreeMap<String, f64> = match pred.get("metrics") {
                None | Some(Value::Null) => BTreeMap::new(),
                Some(m) => serde_json::from_value(m.clone())
                    .map_err(|e| bad(format!("predicate metrics: {e}")))?,
            };
            (
                result,
                metrics,
                Some(signer_name(&verified.signer)),
                Some(statement.predicate_type.clone()),
                pred.clone(),
            )
        }
    };
    check_metrics(&metrics)?;
    let url = req.url.clone().or_else(|| {
        details
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| url::Url::parse(u).is_ok())
            .map(str::to_string)
    });
    let rec = app.store.add_verification(&VerificationRecord {
        id: String::new(),
        artifact: digest.clone(),
        environment: req.environment.clone(),
        kind: req.kind.clone(),
        result,
        metrics,
        signer,
        predicate_type,
        url,
        details,
        recorded_by: principal.name.clone(),
        at_ms: now_ms(),
    })?;
    tracing::info!(artifact = %digest, environment = %rec.environment, kind = %rec.kind,
        result = rec.result.as_str(), signer = ?rec.signer, actor = %principal.name, "verification recorded");
    let mut entry = crate::audit::draft(&principal.name, "verification-recorded")
        .digest(digest)
        .details(serde_json::json!({
            "id": rec.id,
            "environment": rec.environment,
            "kind": rec.kind,
            "result": rec.result.as_str(),
            "metrics": rec.metrics,
            "signer": rec.signer,
            "predicate_type": rec.predicate_type,
            "url": rec.url,
        }));
    if let Some(r) = repos.first() {
        entry = entry.repo(r);
    }
    app.audit(entry).await;
    let redecided = redecide_waiting(app, principal, digest, &rec.environment).await;
    Ok((rec, redecided))
}

/// Every repository holding `digest`, in any environment.
fn repositories_in_any(app: &App, digest: &Digest) -> ApiResult<Vec<RepoName>> {
    let mut repos: Vec<RepoName> = app
        .store
        .artifact(digest)?
        .into_iter()
        .map(|e| e.repository)
        .collect();
    repos.extend(
        app.store
            .files_with_digest(digest)?
            .into_iter()
            .map(|f| f.repository),
    );
    Ok(repos)
}

/// Re-decides the pending promotions of `digest` out of `environment`: a result they waited
/// for may have arrived. Failures are logged; the result stays recorded either way.
async fn redecide_waiting(
    app: &Arc<App>,
    actor: &Principal,
    digest: &Digest,
    environment: &str,
) -> Vec<PromotionRecord> {
    let filter = PromotionFilter {
        artifact: Some(digest.clone()),
        state: Some(PromotionState::Pending),
        ..PromotionFilter::default()
    };
    let waiting = match app.store.list_promotions(&filter, 100) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "listing promotions to re-decide");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for p in waiting {
        if super::environment_of(app, &p.source_repository).is_none_or(|e| e.name != environment) {
            continue;
        }
        match super::advance(app, actor, p).await {
            Ok(p) => out.push(p),
            Err(e) => {
                tracing::warn!(error = %e.message, "re-deciding a promotion after a verification result")
            }
        }
    }
    out
}
