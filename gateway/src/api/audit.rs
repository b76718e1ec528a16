//! `/api/v1/audit…`: the audit log, its signed checkpoint, inclusion and consistency proofs,
//! the verifier key and a full export — for holders of `auditor` (or `admin`).

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::json;
use tollgate_policies::{Action, ReasonCode};
use tollgate_store::{AuditEntry, AuditFilter};

use super::{Admin, principal, rfc3339};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(entries))
        .route("/audit/checkpoint", get(checkpoint))
        .route("/audit/key", get(key))
        .route("/audit/proofs/inclusion", get(inclusion))
        .route("/audit/proofs/consistency", get(consistency))
        .route("/audit/export", get(export))
        .route("/audit/prune", axum::routing::post(prune))
}

/// Auditors and admins read the log.
pub(crate) fn require_auditor(app: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let p = principal(app, headers)?;
    let p = app.auth.require_principal(p.as_deref())?;
    if p.grants.iter().any(|g| g.role.allows(Action::Audit)) {
        return Ok(());
    }
    Err(ApiError::denied(
        ReasonCode::RoleMissing,
        format!(
            "token {:?} may not read the audit log (needs auditor or admin)",
            p.name
        ),
    ))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, msg)
}

/// RFC 3339 or milliseconds since the epoch.
pub(crate) fn time_param(name: &str, v: &str) -> ApiResult<i64> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    tollgate_policies::chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|e| bad(format!("{name}={v:?}: not RFC 3339 or milliseconds: {e}")))
}

pub fn entry_json(e: &AuditEntry) -> serde_json::Value {
    let d = &e.draft;
    json!({
        "seq": e.seq,
        "at": rfc3339(d.at_ms),
        "actor": d.actor,
        "action": d.action,
        "repository": d.repository,
        "digest": d.digest,
        "decision": d.decision,
        "policy_digest": d.policy_digest,
        "details": d.details,
    })
}

#[derive(Deserialize)]
struct EntriesQuery {
    actor: Option<String>,
    action: Option<String>,
    digest: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// Continue from this sequence number (the previous page's `next`).
    from: Option<u64>,
    limit: Option<usize>,
}

async fn entries(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EntriesQuery>,
) -> ApiResult<Response> {
    require_auditor(&app, &headers)?;
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        digest: q
            .digest
            .as_deref()
            .map(crate::oci::parse_digest)
            .transpose()?,
        since_ms: q
            .since
            .as_deref()
            .map(|v| time_param("since", v))
            .transpose()?,
        until_ms: q
            .until
            .as_deref()
            .map(|v| time_param("until", v))
            .transpose()?,
        from_seq: q.from.unwrap_or(0),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let list = app.store.query_audit(&filter, limit)?;
    let next = (list.len() == limit)
        .then(|| list.last().map(|e| e.seq + 1))
        .flatten();
    Ok(axum::Json(json!({
        "entries": list.iter().map(entry_json).collect::<Vec<_>>(),
        "next": next,
        "size": app.audit.len(),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

/// [`require_auditor`], then the tree brought up to the store: on replicas sharing one
/// database, checkpoints, proofs and exports include what the others appended.
fn require_auditor_current(app: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    require_auditor(app, headers)?;
    app.audit.catch_up().map_err(ApiError::internal)?;
    Ok(())
}

/// The signed checkpoint of the log as it is now: the C2SP note as text, or `?format=json`.
async fn checkpoint(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FormatQuery>,
) -> ApiResult<Response> {
    require_auditor_current(&app, &headers)?;
    let cp = app
        .audit
        .checkpoint()
        .ok_or_else(|| ApiError::internal("cannot sign a checkpoint"))?;
    if q.format.as_deref() == Some("json") {
        return Ok(axum::Json(json!({
            "origin": app.audit.origin(),
            "size": cp.size,
            "root": cp.root,
            "note": cp.note,
            "verifier_key": app.audit.verifier_key(),
        }))
        .into_response());
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        cp.note,
    )
        .into_response())
}

async fn key(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    require_auditor(&app, &headers)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", app.audit.verifier_key()),
    )
        .into_response())
}

#[derive(Deserialize)]
struct InclusionQuery {
    seq: u64,
    tree_size: Option<u64>,
}

async fn inclusion(
    State(app): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    require_auditor_current(&app, &headers)?;
    let Query(q) = q.map_err(|e| bad(format!("expected ?seq=N[&tree_size=M]: {e}")))?;
    let size = q.tree_size.unwrap_or_else(|| app.audit.len());
    let (proof, leaf, root) = app.audit.inclusion(q.seq, size).map_err(bad)?;
    Ok(axum::Json(json!({
        "seq": q.seq,
        "tree_size": size,
        "leaf_hash": hex::encode(leaf),
        "hashes": proof.iter().map(hex::encode).collect::<Vec<_>>(),
        "root": hex::encode(root),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

async fn consistency(
    State(app): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    require_auditor_current(&app, &headers)?;
    let Query(q) = q.map_err(|e| bad(format!("expected ?from=N[&to=M]: {e}")))?;
    let to = q.to.unwrap_or_else(|| app.audit.len());
    let (proof, old, new) = app.audit.consistency(q.from, to).map_err(bad)?;
    Ok(axum::Json(json!({
        "from": q.from,
        "to": to,
        "hashes": proof.iter().map(hex::encode).collect::<Vec<_>>(),
        "from_root": hex::encode(old),
        "to_root": hex::encode(new),
    }))
    .into_response())
}

/// The whole log as `tollgate audit verify` reads it (JSON Lines), streamed: a blocking task
/// pages through the store and hands 64 KiB chunks over a small channel, so a log of millions
/// of entries never sits in memory. A store error midway aborts the response (the client sees
/// a truncated body, which `audit verify` rejects), as the status line is already sent.
async fn export(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    require_auditor_current(&app, &headers)?;
    let cp = app
        .audit
        .checkpoint()
        .ok_or_else(|| ApiError::internal("cannot sign a checkpoint"))?;
    let mut checkpoints = app.store.audit_checkpoints()?;
    let size = cp.size;
    checkpoints.push(cp);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let writer_app = app.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, ChannelWriter(tx.clone()));
        let written = crate::audit::cli::write_export(
            &mut w,
            writer_app.store.as_ref(),
            writer_app.audit.origin(),
            &writer_app.audit.verifier_key(),
            size,
            &checkpoints,
        )
        .and_then(|()| std::io::Write::flush(&mut w).map_err(Into::into));
        if let Err(e) = written {
            tracing::error!(error = %e, "audit export aborted");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/jsonl")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// Hands written bytes to the response body; fails once the client has gone.
struct ChannelWriter(tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(bytes::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Prunes now what the configured retention allows (admins only), archiving first.
async fn prune(State(app): State<AppState>, Admin(p): Admin) -> ApiResult<Response> {
    let actor = p.name.clone();
    let report = crate::audit::prune(&app, &actor)
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(report).into_response())
}
