//! Tags pushed in upstream mode are mirrored to the upstream after the store records them
//! (`oci::manifests::put`), and the store queues each one in the same transaction
//! (`TagBinding::mirror`). This task re-tries what a crash or an upstream failure left
//! queued, at start-up and then every `[upstream] tag_mirror_interval_secs`, so every
//! recorded tag reaches the upstream at least once.
//!
//! Replicas sharing one database may mirror the same entry at the same time. That is harmless:
//! a PUT of the same bytes under the same tag is idempotent.

use std::collections::HashSet;
use std::sync::Arc;

use tollgate_attest::Digest;
use tollgate_policies::{RepoName, Tag};
use tollgate_store::PendingMirror;

use crate::app::{App, Backend};
use crate::error::ApiResult;
use crate::oci::manifests::put_upstream;

/// Entries looked at per pass.
const BATCH: usize = 500;
/// Failures in a row after which a pass gives up: the upstream is most likely down, and
/// each attempt would wait for its time-out.
const GIVE_UP_AFTER: usize = 5;

/// Starts the reconciler in upstream mode; does nothing in embedded mode.
pub fn spawn(app: Arc<App>) {
    let (Backend::Upstream(_), Some(cfg)) = (&app.backend, &app.config.upstream) else {
        return;
    };
    let every = cfg.tag_mirror_interval;
    tokio::spawn(async move {
        // The first tick is immediate: a pass at start-up picks up what a crash left.
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = None;
        loop {
            tick.tick().await;
            seen = Some(run_once(&app, seen.as_ref()).await);
        }
    });
}

/// One pass over the queue; what it left queued. Given `seen` (what the previous pass left),
/// entries queued since are left for the next pass: the push that queued them is most likely
/// still mirroring them itself. The pass at start-up (no `seen`) takes every entry.
pub async fn run_once(app: &App, seen: Option<&HashSet<PendingMirror>>) -> HashSet<PendingMirror> {
    let pending = match app.store.pending_mirrors(BATCH) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "listing tags to mirror upstream failed");
            return seen.cloned().unwrap_or_default();
        }
    };
    let mut left = HashSet::new();
    let mut failed_in_a_row = 0;
    for p in pending {
        if failed_in_a_row >= GIVE_UP_AFTER || seen.is_some_and(|s| !s.contains(&p)) {
            left.insert(p);
            continue;
        }
        match mirror_one(app, &p).await {
            Ok(done) => {
                failed_in_a_row = 0;
                if done {
                    app.metrics.upstream_tag_remirrors.inc();
                    tracing::info!(repo = %p.repository, tag = %p.tag, digest = %p.digest, "tag mirrored upstream after a failed or interrupted push");
                }
            }
            Err(e) => {
                failed_in_a_row += 1;
                tracing::warn!(repo = %p.repository, tag = %p.tag, digest = %p.digest, error = %e.message, "mirroring a tag upstream failed; retried on the next pass");
                left.insert(p);
            }
        }
    }
    app.metrics
        .upstream_tag_mirrors_pending
        .set(left.len() as i64);
    left
}

/// Mirrors one entry; false when it was stale (nothing owed upstream any more).
async fn mirror_one(app: &App, p: &PendingMirror) -> ApiResult<bool> {
    let (repo, tag) = (&p.repository, &p.tag);
    let current = app.store.resolve_tag(repo, tag)?;
    let manifest = match current {
        Some(d) if d == p.digest => app.store.get_manifest(repo, &d)?,
        // Deleted, or moved by a writer that mirrors before recording (a promotion copy): a
        // push that moved it would have queued the new digest under this same entry.
        _ => None,
    };
    let Some((record, bytes)) = manifest else {
        app.store.tag_mirrored(repo, tag, &p.digest)?;
        return Ok(false);
    };
    put_upstream(app, repo, tag.as_str(), &record.media_type, &bytes).await?;
    app.store.tag_mirrored(repo, tag, &p.digest)?;
    Ok(true)
}

/// Takes a tag the push itself mirrored off the queue. A failure here only means the next
/// pass mirrors it once more.
pub(crate) fn confirm(app: &App, repo: &RepoName, tag: &Tag, digest: &Digest) {
    if let Err(e) = app.store.tag_mirrored(repo, tag, digest) {
        tracing::warn!(%repo, %tag, %digest, error = %e, "confirming a tag mirror failed; it will be mirrored again");
    }
}
