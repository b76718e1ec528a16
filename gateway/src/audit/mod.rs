//! The audit trail: every action that changes what Tollgate holds or decides is appended to
//! the store's log, numbered, covered by an RFC 6962 Merkle tree and by signed checkpoints.
//!
//! Appends go through one writer task that commits whatever is waiting in one transaction
//! (group commit), so many concurrent requests cost one durable write; a caller that must not
//! answer before its record is durable awaits [`Audit::record`]. After each commit the writer
//! signs a checkpoint of the new tree head and stores it: an auditor holding any checkpoint can
//! later demand a consistency proof to the current one, and an export carries them all, so an
//! edit is located to the batch it hides in.

pub mod cli;

use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};
use tollgate_attest::Digest;
use tollgate_attest::merkle::{self, Hash, MerkleLog};
use tollgate_attest::note::{Checkpoint, NoteSigner};
use tollgate_policies::RepoName;
use tollgate_store::{AuditDraft, CheckpointRecord, Store};

use crate::app::now_ms;
use crate::config::AuditConfig;

/// At most this many drafts per transaction.
const BATCH: usize = 4096;
/// Waiting appends beyond this make callers wait (back-pressure, not unbounded memory).
const QUEUE: usize = 65_536;

type Ack = oneshot::Sender<Result<u64, String>>;

#[derive(Debug, Default)]
struct AdmissionCounts {
    /// When this interval began (ms since the epoch).
    since_ms: i64,
    /// (environment, outcome) → reviews.
    counts: std::collections::BTreeMap<(String, &'static str), u64>,
}

/// Receives every entry once it is durable, in log order (deployment events: `crate::events`).
/// Called on the writer task after each group commit and before the appenders are answered,
/// so it must not block: hand the entries on and return.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    fn appended(&self, entries: &[tollgate_store::AuditEntry]);
}

#[derive(Debug)]
pub struct Audit {
    tx: mpsc::Sender<(Option<AuditDraft>, Option<Ack>)>,
    /// Allowed reviews since the last summary: they are written as one entry per environment
    /// and interval, so the log does not grow with cluster traffic.
    admissions: std::sync::Mutex<AdmissionCounts>,
    tree: Arc<RwLock<MerkleLog>>,
    signer: Arc<NoteSigner>,
    origin: String,
    store: Arc<dyn Store>,
    /// Where appended entries go too, once set.
    sink: Arc<std::sync::OnceLock<Arc<dyn AuditSink>>>,
}

/// The signing key: the configured one, or the data directory's (generated on first start,
/// readable by the owner only).
pub fn load_signer(cfg: &AuditConfig, data: &Path) -> anyhow::Result<NoteSigner> {
    let path = cfg
        .key
        .clone()
        .unwrap_or_else(|| data.join("audit-key.pk8"));
    if !path.exists() && cfg.key.is_none() {
        use aws_lc_rs::signature::Ed25519KeyPair;
        let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|e| anyhow::anyhow!("generating the audit key: {e}"))?;
        write_private(&path, doc.as_ref())?;
        tracing::info!(path = %path.display(), "generated the audit checkpoint key");
    }
    let bytes =
        std::fs::read(&path).map_err(|e| anyhow::anyhow!("audit key {}: {e}", path.display()))?;
    let der = pem_or_der(&bytes);
    NoteSigner::from_pkcs8(&cfg.origin, &der)
        .map_err(|e| anyhow::anyhow!("audit key {}: {e}", path.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// A PEM `PRIVATE KEY` block decoded, or the bytes as they are (DER).
fn pem_or_der(bytes: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return bytes.to_vec();
    };
    if !text.contains("-----BEGIN") {
        return bytes.to_vec();
    }
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap_or_else(|_| bytes.to_vec())
}

/// Reads every stored entry into a Merkle tree.
pub fn load_tree(store: &dyn Store) -> anyhow::Result<MerkleLog> {
    let mut tree = MerkleLog::new();
    extend_tree(store, &mut tree, store.audit_len()?)?;
    Ok(tree)
}

/// Adds the stored entries from `tree.len()` up to `upto` to `tree`: entries another replica
/// on the same database appended.
fn extend_tree(store: &dyn Store, tree: &mut MerkleLog, upto: u64) -> anyhow::Result<()> {
    while tree.len() < upto {
        let want = usize::try_from(upto - tree.len()).unwrap_or(8192).min(8192);
        let page = store.audit_raw(tree.len(), want)?;
        if page.is_empty() {
            anyhow::bail!("audit log says {upto} entries but ends at {}", tree.len());
        }
        for bytes in page {
            tree.push(tollgate_store::stored_leaf_hash(&bytes));
        }
    }
    Ok(())
}

/// A signed checkpoint of the first `size` entries of `tree`.
fn sign_checkpoint(
    signer: &NoteSigner,
    origin: &str,
    tree: &MerkleLog,
    size: u64,
) -> Option<CheckpointRecord> {
    let root = tree.root(size)?;
    let cp = Checkpoint {
        origin: origin.to_string(),
        size,
        root,
    };
    let note = signer.sign(&cp.to_text()).ok()?;
    Some(CheckpointRecord {
        size,
        root: hex::encode(root),
        at_ms: now_ms(),
        note,
    })
}

impl Audit {
    /// Loads the tree and starts the writer task.
    pub fn start(
        store: Arc<dyn Store>,
        signer: NoteSigner,
        origin: &str,
        admission_summary: std::time::Duration,
    ) -> anyhow::Result<Arc<Audit>> {
        let tree = Arc::new(RwLock::new(load_tree(store.as_ref())?));
        let signer = Arc::new(signer);
        let (tx, mut rx) = mpsc::channel::<(Option<AuditDraft>, Option<Ack>)>(QUEUE);
        let sink: Arc<std::sync::OnceLock<Arc<dyn AuditSink>>> = Arc::default();
        let audit = Arc::new(Audit {
            sink: Arc::clone(&sink),
            admissions: std::sync::Mutex::new(AdmissionCounts {
                since_ms: now_ms(),
                counts: Default::default(),
            }),
            tx,
            tree: Arc::clone(&tree),
            signer: Arc::clone(&signer),
            origin: origin.to_string(),
            store: Arc::clone(&store),
        });
        let flusher = Arc::clone(&audit);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + admission_summary,
                admission_summary,
            );
            loop {
                tick.tick().await;
                flusher.flush_admissions();
            }
        });
        let origin = origin.to_string();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(x) => batch.push(x),
                        Err(_) => break,
                    }
                }
                // Barriers (no draft) only ask to be told when everything before them is durable.
                let mut drafts = Vec::with_capacity(batch.len());
                let mut acks = Vec::with_capacity(batch.len());
                let mut barriers = Vec::new();
                for (draft, ack) in batch.drain(..) {
                    match draft {
                        Some(d) => {
                            drafts.push(d);
                            acks.push(ack);
                        }
                        None => barriers.extend(ack),
                    }
                }
                if drafts.is_empty() {
                    for b in barriers {
                        let _ = b.send(Ok(0));
                    }
                    continue;
                }
                let store = Arc::clone(&store);
                let written = tokio::task::spawn_blocking(move || {
                    store.append_audit(&drafts).map(|e| (e, store))
                })
                .await;
                match written {
                    Ok(Ok((entries, store))) => {
                        let size = {
                            let Ok(mut t) = tree.write() else { continue };
                            for e in &entries {
                                // Replicas sharing the store number entries between ours: theirs
                                // join the tree first; ours may already be in it, put there by
                                // a reader catching up (`Audit::catch_up`) since our commit.
                                if e.seq > t.len()
                                    && let Err(err) = extend_tree(store.as_ref(), &mut t, e.seq)
                                {
                                    tracing::error!(error = %err, "audit tree not caught up");
                                    break;
                                }
                                if e.seq == t.len() {
                                    t.push(merkle::leaf_hash(&e.to_bytes()));
                                }
                            }
                            t.len()
                        };
                        let cp = tree
                            .read()
                            .ok()
                            .and_then(|t| sign_checkpoint(&signer, &origin, &t, size));
                        if let Some(cp) = cp
                            && let Err(e) = store.put_checkpoint(&cp)
                        {
                            tracing::error!(error = %e, "audit checkpoint not stored");
                        }
                        if let Some(sink) = sink.get() {
                            sink.appended(&entries);
                        }
                        for (e, ack) in entries.iter().zip(acks) {
                            if let Some(ack) = ack {
                                let _ = ack.send(Ok(e.seq));
                            }
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "audit entries not written");
                        for ack in acks.into_iter().flatten() {
                            let _ = ack.send(Err(e.to_string()));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "audit writer task failed");
                        for ack in acks.into_iter().flatten() {
                            let _ = ack.send(Err(e.to_string()));
                        }
                    }
                }
                for b in barriers {
                    let _ = b.send(Ok(0));
                }
            }
        });
        Ok(audit)
    }

    /// Sends every entry appended from now on to `sink` as well (once durable, in order).
    /// The first sink set stays.
    pub fn set_sink(&self, sink: Arc<dyn AuditSink>) {
        if self.sink.set(sink).is_err() {
            tracing::warn!("an audit sink is already set");
        }
    }

    /// Counts an allowed (or warned) admission review for the next aggregate entry.
    pub fn count_admission(&self, environment: &str, outcome: &'static str) {
        if let Ok(mut m) = self.admissions.lock() {
            *m.counts
                .entry((environment.to_string(), outcome))
                .or_default() += 1;
        }
    }

    /// Writes the admission counts gathered since the last call, one entry per environment
    /// with the interval they cover.
    pub fn flush_admissions(&self) {
        let until_ms = now_ms();
        let (since_ms, counts) = match self.admissions.lock() {
            Ok(mut m) => {
                let since = std::mem::replace(&mut m.since_ms, until_ms);
                (since, std::mem::take(&mut m.counts))
            }
            Err(_) => return,
        };
        let mut per_env: std::collections::BTreeMap<
            String,
            serde_json::Map<String, serde_json::Value>,
        > = Default::default();
        for ((env, outcome), n) in counts {
            per_env
                .entry(env)
                .or_default()
                .insert(outcome.into(), n.into());
        }
        for (env, counts) in per_env {
            self.record_later(
                draft("tollgate", "admission-allowed").details(serde_json::json!({
                    "environment": env,
                    "counts": counts,
                    "since_ms": since_ms,
                    "until_ms": until_ms,
                })),
            );
        }
    }

    /// Writes the pending admission counts and waits until everything queued so far is
    /// durable: the last step of a graceful shutdown, so a stop loses no entry.
    pub async fn drain(&self) {
        self.flush_admissions();
        let (ack, done) = oneshot::channel();
        if self.tx.send((None, Some(ack))).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Appends an entry and waits until it is durable; its sequence number.
    pub async fn record(&self, draft: AuditDraft) -> Result<u64, String> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((Some(draft), Some(ack)))
            .await
            .map_err(|_| "the audit writer has stopped".to_string())?;
        done.await
            .map_err(|_| "the audit writer dropped the entry".to_string())?
    }

    /// Appends an entry without waiting (hot paths: pull and admission denials). It is durable
    /// within the next group commit; a full queue drops it with an error log rather than
    /// stalling the request.
    pub fn record_later(&self, draft: AuditDraft) {
        if let Err(e) = self.tx.try_send((Some(draft), None)) {
            tracing::error!(error = %e, "audit queue full; entry dropped");
        }
    }

    pub fn len(&self) -> u64 {
        self.tree.read().map_or(0, |t| t.len())
    }

    /// Brings the tree up to what the store holds, for readers of a store other replicas
    /// also append to (checkpoints, proofs, exports); a no-op when nothing was added.
    pub fn catch_up(&self) -> anyhow::Result<u64> {
        let stored = self.store.audit_len()?;
        if stored <= self.len() {
            return Ok(self.len());
        }
        let mut t = self
            .tree
            .write()
            .map_err(|_| anyhow::anyhow!("audit tree lock poisoned"))?;
        extend_tree(self.store.as_ref(), &mut t, stored)?;
        Ok(t.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A checkpoint of the tree as it is now, signed.
    pub fn checkpoint(&self) -> Option<CheckpointRecord> {
        let t = self.tree.read().ok()?;
        sign_checkpoint(&self.signer, &self.origin, &t, t.len())
    }

    /// The audit path of entry `seq` in the tree of `size` entries, and that tree's root.
    pub fn inclusion(&self, seq: u64, size: u64) -> Result<(Vec<Hash>, Hash, Hash), String> {
        let t = self.tree.read().map_err(|e| e.to_string())?;
        let root = t
            .root(size)
            .ok_or_else(|| format!("the log has {} entries, not {size}", t.len()))?;
        let leaf = t.leaf(seq).ok_or_else(|| format!("no entry {seq}"))?;
        let proof =
            merkle::inclusion_proof(&*t, seq as usize, size as usize).map_err(|e| e.to_string())?;
        Ok((proof, leaf, root))
    }

    /// The proof that the tree of `from` entries is a prefix of the tree of `to`.
    pub fn consistency(&self, from: u64, to: u64) -> Result<(Vec<Hash>, Hash, Hash), String> {
        let t = self.tree.read().map_err(|e| e.to_string())?;
        let (Some(old), Some(new)) = (t.root(from), t.root(to)) else {
            return Err(format!("the log has {} entries", t.len()));
        };
        let proof = merkle::consistency_proof(&*t, from as usize, to as usize)
            .map_err(|e| e.to_string())?;
        Ok((proof, old, new))
    }
}

/// Builds a draft; the helpers below fill in what each kind of action knows.
pub fn draft(actor: &str, action: &str) -> AuditDraft {
    AuditDraft {
        at_ms: now_ms(),
        actor: actor.to_string(),
        action: action.to_string(),
        repository: None,
        digest: None,
        decision: None,
        policy_digest: None,
        details: serde_json::Value::Null,
    }
}

/// Fluent setters for drafts.
pub trait DraftExt {
    fn repo(self, r: &RepoName) -> Self;
    fn digest(self, d: &Digest) -> Self;
    fn decision(self, id: &str) -> Self;
    fn policy(self, d: Option<&Digest>) -> Self;
    fn details(self, v: serde_json::Value) -> Self;
}

impl DraftExt for AuditDraft {
    fn repo(mut self, r: &RepoName) -> Self {
        self.repository = Some(r.clone());
        self
    }
    fn digest(mut self, d: &Digest) -> Self {
        self.digest = Some(d.clone());
        self
    }
    fn decision(mut self, id: &str) -> Self {
        self.decision = Some(id.to_string());
        self
    }
    fn policy(mut self, d: Option<&Digest>) -> Self {
        self.policy_digest = d.cloned();
        self
    }
    fn details(mut self, v: serde_json::Value) -> Self {
        self.details = v;
        self
    }
}

/// What a prune did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PruneReport {
    pub pruned: usize,
    /// Kept past their retention because a legal hold covers them.
    pub held: usize,
    /// The archival export written before anything was pruned.
    pub archive: Option<String>,
}

/// Serialises prunes within the process.
static PRUNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Prunes the bodies of entries past their retention (per action, else the default), never
/// one a legal hold covers, after writing the whole log with its checkpoints to an archive
/// file under `data/audit-archive/`. The tree stays verifiable: pruned entries keep their leaf
/// hash.
pub async fn prune(app: &crate::app::App, actor: &str) -> anyhow::Result<PruneReport> {
    use tollgate_policies::Pattern;
    let _one = PRUNING.lock().await;
    let cfg = &app.config.audit;
    if cfg.retention_days.is_none() && cfg.retention_by_action.is_empty() {
        return Ok(PruneReport::default());
    }
    let now = now_ms();
    let holds = app.store.holds()?;
    let mut report = PruneReport::default();
    let mut seqs = Vec::new();
    let mut filter = tollgate_store::AuditFilter::default();
    loop {
        let page = app.store.query_audit(&filter, 4096)?;
        let Some(last) = page.last() else { break };
        filter.from_seq = last.seq + 1;
        for e in &page {
            let d = &e.draft;
            let days = cfg
                .retention_by_action
                .get(&d.action)
                .copied()
                .or(cfg.retention_days);
            let Some(days) = days else { continue };
            let cutoff = now - i64::try_from(days).unwrap_or(i64::MAX / 86_400_000) * 86_400_000;
            if d.at_ms >= cutoff {
                continue;
            }
            let held = holds.iter().any(|h| {
                (h.digest.is_some() && h.digest == d.digest)
                    || h.repositories.as_deref().is_some_and(|p| {
                        d.repository
                            .as_ref()
                            .is_some_and(|r| Pattern::new(p).matches(r.as_str()))
                    })
            });
            if held {
                report.held += 1;
            } else {
                seqs.push(e.seq);
            }
        }
    }
    if seqs.is_empty() {
        return Ok(report);
    }
    // The archive first, synced: nothing is pruned that was not written out.
    let dir = app.config.data.join("audit-archive");
    std::fs::create_dir_all(&dir)?;
    let size = app.audit.len();
    let path = dir.join(format!("audit-{size:012}-{now}.jsonl"));
    let cp = app
        .audit
        .checkpoint()
        .ok_or_else(|| anyhow::anyhow!("cannot sign a checkpoint"))?;
    let mut checkpoints = app.store.audit_checkpoints()?;
    checkpoints.push(cp);
    {
        let file = std::fs::File::create(&path)?;
        let mut w = std::io::BufWriter::new(&file);
        cli::write_export(
            &mut w,
            app.store.as_ref(),
            &self::origin_of(app),
            &app.audit.verifier_key(),
            size,
            &checkpoints,
        )?;
        std::io::Write::flush(&mut w)?;
        drop(w);
        file.sync_all()?;
    }
    report.pruned = app.store.prune_audit(&seqs)?;
    report.archive = Some(path.display().to_string());
    tracing::info!(pruned = report.pruned, held = report.held, archive = %path.display(), "audit entries pruned");
    app.audit(draft(actor, "audit-pruned").details(serde_json::json!({
        "pruned": report.pruned,
        "held": report.held,
        "archive": report.archive,
        "first": seqs.first(),
        "last": seqs.last(),
    })))
    .await;
    Ok(report)
}

fn origin_of(app: &crate::app::App) -> String {
    app.audit.origin().to_string()
}

/// Prunes on the configured schedule when retention is configured.
pub fn spawn_pruner(app: Arc<crate::app::App>) {
    let cfg = &app.config.audit;
    if cfg.retention_days.is_none() && cfg.retention_by_action.is_empty() {
        return;
    }
    let every = std::time::Duration::from_secs(cfg.prune_interval_hours.max(1) * 3600);
    tokio::spawn(async move {
        // The first run one interval after start, like retention of artifacts.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            if let Err(e) = prune(&app, "tollgate").await {
                tracing::error!(error = %e, "audit prune failed");
            }
        }
    });
}
