//! The promotion policy the gateway runs on: read from the configured directory at start,
//! again on SIGHUP and when a file in it changes. A load that fails validation never replaces
//! the policy in force; every attempt, good or bad, is recorded in the store and logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tollgate_policies::Policy;
use tollgate_store::PolicyLoadRecord;

use crate::app::{App, now_ms};

/// A policy in force and when it was loaded.
#[derive(Debug)]
pub struct Loaded {
    pub policy: Policy,
    pub loaded_at_ms: i64,
}

/// The active policy, swapped whole on a successful reload.
#[derive(Debug, Default)]
pub struct PolicyState {
    current: RwLock<Option<Arc<Loaded>>>,
}

/// Why a load did not apply.
#[derive(Debug)]
pub struct LoadFailure(pub Vec<String>);

impl PolicyState {
    pub fn current(&self) -> Option<Arc<Loaded>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Reads and validates `dir`; on success it becomes the policy in force. Recorded either way.
    pub fn load(&self, app: &App, dir: &Path, trigger: &str) -> Result<Arc<Loaded>, LoadFailure> {
        let outcome = crate::policy_cli::read_policy_dir(dir)
            .map_err(|e| vec![e.to_string()])
            .and_then(|files| {
                Policy::load(&files)
                    .map_err(|diags| diags.iter().map(ToString::to_string).collect())
            });
        let at = now_ms();
        let rec = match &outcome {
            Ok(p) => PolicyLoadRecord {
                at_ms: at,
                digest: Some(p.digest().clone()),
                applied: true,
                trigger: trigger.to_string(),
                errors: Vec::new(),
            },
            Err(errors) => PolicyLoadRecord {
                at_ms: at,
                digest: None,
                applied: false,
                trigger: trigger.to_string(),
                errors: errors.clone(),
            },
        };
        if let Err(e) = app.store.record_policy_load(&rec) {
            tracing::error!(error = %e, "could not record a policy load");
        }
        {
            use crate::audit::DraftExt as _;
            app.audit_later(
                crate::audit::draft("tollgate", "policy-load")
                    .policy(rec.digest.as_ref())
                    .details(serde_json::json!({
                        "dir": dir.display().to_string(),
                        "trigger": trigger,
                        "applied": rec.applied,
                        "errors": rec.errors,
                    })),
            );
        }
        match outcome {
            Ok(policy) => {
                let changed = self
                    .current()
                    .is_none_or(|c| c.policy.digest() != policy.digest());
                let loaded = Arc::new(Loaded {
                    policy,
                    loaded_at_ms: at,
                });
                if let Ok(mut cur) = self.current.write() {
                    *cur = Some(Arc::clone(&loaded));
                }
                tracing::info!(dir = %dir.display(), digest = %loaded.policy.digest(), trigger, changed, "policy loaded");
                Ok(loaded)
            }
            Err(errors) => {
                let kept = self.current().map(|c| c.policy.digest().to_string());
                for e in &errors {
                    tracing::error!(dir = %dir.display(), trigger, "policy not loaded: {e}");
                }
                tracing::error!(dir = %dir.display(), trigger, kept = kept.as_deref().unwrap_or("none"), "policy load refused; the policy in force is unchanged");
                Err(LoadFailure(errors))
            }
        }
    }
}

/// What changes when a policy file is edited, added or removed: cheap to take every tick.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    fn go(dir: &Path, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => go(&p, out),
                Ok(m) => out.push((p, m.len(), m.modified().ok())),
                Err(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    go(dir, &mut out);
    out.sort();
    out
}

/// Reloads on SIGHUP, and (when `watch`) when the directory's files change.
pub fn spawn_reloaders(app: Arc<App>, dir: PathBuf, watch: bool) {
    #[cfg(unix)]
    {
        let app = Arc::clone(&app);
        let dir = dir.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP; policy reloads only on file change");
                return;
            };
            while hup.recv().await.is_some() {
                let _ = app.policy.load(&app, &dir, "sighup");
            }
        });
    }
    if watch {
        tokio::spawn(async move {
            let mut last = fingerprint(&dir);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = fingerprint(&dir);
                if now != last {
                    // Editors write files in several steps: let the burst settle first.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    last = fingerprint(&dir);
                    let _ = app.policy.load(&app, &dir, "file-change");
                }
            }
        });
    }
}
