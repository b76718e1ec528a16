//! `tollgate serve` and the commands that work on a data directory.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::DraftExt as _;
use anyhow::{Context, bail};
use axum::serve::ListenerExt;
use tollgate_store::{AuditStore, FsBlobs, RedbStore, Store, StoreError, TokenStore};

use crate::app::{App, Backend, now_ms, router};
use crate::auth::{self, Auth};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::oci::uploads::Uploads;
use crate::upstream::Upstream;

const STORE_FILE: &str = "store.redb";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Opens the store under `data`, creating the directory (owner-only) on first use.
pub fn open_store(data: &Path) -> anyhow::Result<RedbStore> {
    ensure_data_dir(data)?;
    let path = data.join(STORE_FILE);
    RedbStore::open(&path).map_err(|e| match e {
        StoreError::Backend(m) if m.contains("lock") || m.contains("already open") || m.contains("Database already") => {
            anyhow::anyhow!(
                "{} is in use by another process (a running `tollgate serve`?); use the API at /api/v1/tokens instead",
                path.display()
            )
        }
        other => anyhow::anyhow!("opening {}: {other}", path.display()),
    })
}

/// Creates the data directory (owner-only) if it is missing.
fn ensure_data_dir(data: &Path) -> anyhow::Result<()> {
    if !data.exists() {
        std::fs::create_dir_all(data)
            .with_context(|| format!("creating data directory {}", data.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Writes `contents` to `path` readable by the owner only.
fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// On an empty store, creates the first admin token, prints it once and keeps it in
/// `<data>/admin-token` (mode 0600).
fn bootstrap_admin(store: &dyn Store, data: &Path) -> anyhow::Result<()> {
    if !store.list_tokens()?.is_empty() {
        return Ok(());
    }
    let (token, rec) = auth::new_token_record(
        "admin",
        vec!["admin".parse().map_err(|e| anyhow::anyhow!("{e}"))?],
        now_ms(),
    );
    let path = data.join(ADMIN_TOKEN_FILE);
    write_secret(&path, &format!("{token}\n"))?;
    match store.create_token(&rec) {
        // Another replica on the same database bootstrapped first: its admin token stands.
        Err(StoreError::TokenExists(_)) => {
            let _ = std::fs::remove_file(&path);
            return Ok(());
        }
        r => r?,
    }
    println!(
        "Created the first admin token (also written to {}):\n{token}",
        path.display()
    );
    Ok(())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = match config.postgres.clone() {
        Some(pg) => {
            let shown = crate::config::redact_url(&pg.url);
            let opts = tollgate_store::PgOptions {
                pool_size: pg.pool_size,
                cache: pg.cache,
            };
            let store = tokio::task::spawn_blocking(move || {
                tollgate_store::PgStore::connect(&pg.url, opts)
            })
            .await?
            .with_context(|| format!("opening the PostgreSQL store {shown}"))?;
            Arc::new(store)
        }
        None => Arc::new(open_store(&config.data)?),
    };
    ensure_data_dir(&config.data)?;
    bootstrap_admin(&*store, &config.data)?;
    let metrics = Arc::new(Metrics::new());
    let backend = match &config.upstream {
        Some(up) => Backend::Upstream(Box::new(Upstream::new(up, Arc::clone(&metrics))?)),
        None => {
            Backend::Embedded(FsBlobs::open(&config.data).context("opening the blob directory")?)
        }
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let mode = match (&config.upstream, &config.postgres) {
        (Some(u), Some(pg)) => format!(
            "upstream {}, PostgreSQL store {}",
            u.url,
            crate::config::redact_url(&pg.url)
        ),
        (Some(u), None) => format!("upstream {}", u.url),
        (None, _) => format!("embedded store in {}", config.data.display()),
    };
    let tls = config.tls.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %bound, %scheme, %mode, "tollgate serving");
    let blob_cache = match &config.upstream {
        Some(up) => {
            crate::blob_cache::BlobCache::open(&config.data.join("blob-cache"), up.blob_cache_bytes)
                .context("opening the blob cache")?
        }
        None => None,
    };
    let signer = crate::audit::load_signer(&config.audit, &config.data)?;
    let audit = crate::audit::Audit::start(
        Arc::clone(&store),
        signer,
        &config.audit.origin,
        config.audit.admission_summary,
    )?;
    // Deployment events: every entry the log appends from here on, once durable.
    let events = crate::events::Events::start(&config, Arc::clone(&metrics));
    audit.set_sink(Arc::clone(&events) as Arc<dyn crate::audit::AuditSink>);
    metrics.promoted.set_source(
        Arc::clone(&store),
        config.environments.iter().map(|e| e.name.clone()).collect(),
    );
    let files = crate::repositories::Files::open(&config, Arc::clone(&metrics))
        .context("opening the file repositories")?;
    let app = Arc::new(App {
        files,
        audit,
        auth: Auth::new(Arc::clone(&store), config.anonymous_pull),
        config,
        store,
        backend,
        metrics,
        uploads: Uploads::default(),
        policy: crate::policy_state::PolicyState::default(),
        admission_denials: crate::admission::Denials::default(),
        blob_cache,
    });
    crate::audit::spawn_pruner(Arc::clone(&app));
    if let Some(p) = app.config.policy.clone() {
        // A bad policy at start leaves promotions refused (policy-missing) but the registry up:
        // what is already promoted keeps deploying.
        let _ = app.policy.load(&app, &p.dir, "startup");
        crate::policy_state::spawn_reloaders(Arc::clone(&app), p.dir, p.watch);
    }
    crate::retention::spawn_schedule(Arc::clone(&app));
    crate::promotion::schedule::spawn(Arc::clone(&app));
    crate::upstream::tag_mirror::spawn(Arc::clone(&app));
    match crate::evidence::reverify_stale(&app) {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(verdicts = n, trust = %app.config.trust.digest, "re-verified evidence under the current trust configuration")
        }
        Err(e) => tracing::error!(error = %e, "re-verifying evidence failed"),
    }
    let sweeper = Arc::clone(&app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tick.tick().await;
            for id in sweeper.uploads.sweep() {
                if let Backend::Embedded(blobs) = &sweeper.backend {
                    let _ = blobs.discard(&id);
                }
                tracing::info!(upload = %id, "idle upload dropped");
            }
        }
    });
    let draining = Arc::clone(&app);
    match tls {
        Some(tls) => {
            std::sync::Arc::clone(&tls.files).watch();
            let listener = crate::tls::TlsListener::new(listener, tls.server)?;
            axum::serve(listener, router(app))
                .with_graceful_shutdown(shutdown())
                .await?;
        }
        None => {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, router(app))
                .with_graceful_shutdown(shutdown())
                .await?;
        }
    }
    // Requests are done; write what they queued (admission counts, denials) before exiting.
    draining.audit.drain().await;
    // Then what the webhooks still have queued, for a short while.
    events.flush(EVENTS_FLUSH).await;
    tracing::info!("tollgate stopped");
    Ok(())
}

/// How long a graceful stop waits for queued deployment events to be delivered.
const EVENTS_FLUSH: Duration = Duration::from_secs(5);

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub fn token_create(data: &Path, name: &str, roles: &[String]) -> anyhow::Result<String> {
    if !auth::valid_token_name(name) {
        bail!("token name {name:?} is invalid: use 1-64 of [A-Za-z0-9._-@]");
    }
    let roles = crate::api::parse_roles(roles).map_err(|e| anyhow::anyhow!(e))?;
    let store = open_store(data)?;
    let (token, rec) = auth::new_token_record(name, roles, now_ms());
    match store.create_token(&rec) {
        Err(StoreError::TokenExists(n)) => {
            bail!("a token named {n:?} already exists (revoke it or pick another name)")
        }
        r => r?,
    }
    // No gateway runs on this data directory: append straight to the log; the gateway's tree
    // reads it at its next start.
    store.append_audit(&[crate::audit::draft(&local_actor(), "token-create").details(
        serde_json::json!({ "token": rec.name, "roles": rec.roles.iter().map(ToString::to_string).collect::<Vec<_>>(), "via": "cli" }),
    )])?;
    Ok(token)
}

/// `tollgate store migrate`: the embedded store of `data` into the PostgreSQL database `url`.
pub fn store_migrate(data: &Path, url: &str) -> anyhow::Result<()> {
    let shown = crate::config::redact_url(url);
    let path = data.join(STORE_FILE);
    let counts =
        tollgate_store::migrate_to_postgres(&path, url, tollgate_store::PgOptions::default())
            .map_err(|e| match e {
                StoreError::Backend(m) if m.contains("lock") || m.contains("already open") => {
                    anyhow::anyhow!(
                        "{} is in use by another process: stop the gateway first",
                        path.display()
                    )
                }
                other => anyhow::anyhow!("migrating {} into {shown}: {other}", path.display()),
            })?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    for (table, n) in counts.iter().filter(|(_, n)| *n > 0) {
        println!("{table}\t{n}");
    }
    println!(
        "copied {total} entries from {} into {shown}",
        path.display()
    );
    let blobs = data.join("blobs");
    if std::fs::read_dir(&blobs).is_ok_and(|mut d| d.next().is_some()) {
        eprintln!(
            "note: {} holds blob bytes of the embedded registry; replicas read bytes from the \
             upstream registry only, so copy the repositories there first (e.g. skopeo sync)",
            blobs.display()
        );
    }
    Ok(())
}

/// Who ran a data-directory command: the local user, as far as the environment says.
fn local_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("local:{user}")
}

/// Opens the store of an existing data directory (commands that only read or revoke must not
/// create one).
fn open_existing(data: &Path) -> anyhow::Result<RedbStore> {
    if !data.join(STORE_FILE).exists() {
        bail!("{} holds no Tollgate store", data.display());
    }
    open_store(data)
}

pub fn token_revoke(data: &Path, name: &str) -> anyhow::Result<()> {
    let store = open_existing(data)?;
    if !store.revoke_token(name)? {
        bail!("no token named {name:?}");
    }
    store.append_audit(&[crate::audit::draft(&local_actor(), "token-revoke")
        .details(serde_json::json!({ "token": name, "via": "cli" }))])?;
    Ok(())
}

pub fn token_list(data: &Path) -> anyhow::Result<Vec<tollgate_store::TokenRecord>> {
    Ok(open_existing(data)?.list_tokens()?)
}
