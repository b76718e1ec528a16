//! The shared backend on PostgreSQL, for several gateway replicas serving one organisation.
//!
//! It keeps the same ordered key-value tables as the embedded backend (one `tollgate_kv` row per
//! entry, keys compared as bytes), so the store traits, the shared test suite and every rule
//! they encode are the same code on both. What PostgreSQL adds is settled by the database:
//!
//! - **Writers are serialised** by a transaction-scoped advisory lock, taken first in every
//!   write transaction, the way redb admits one writer at a time. Under READ COMMITTED each
//!   statement after the lock sees every transaction committed before it, so a read-then-write
//!   (bind a tag only if unbound, append at the log's length, count an approval once) is atomic
//!   across replicas without retry loops. Reads run in REPEATABLE READ snapshots.
//! - **Caches stay honest**: every write that changed something bumps `tollgate_generation` and
//!   announces the new value on `NOTIFY tollgate_changes`. A replica's read cache is off by
//!   default (`cache` zero: every lookup asks the database); with a bound it is dropped whenever
//!   a newer generation is heard of, and the generation is polled at least once per bound, so
//!   nothing cached outlives another replica's change by more than the bound.
//!
//! The store traits are synchronous and are called from async handlers, so queries run on a
//! small runtime of this backend's own and the caller blocks on a channel for the answer, as it
//! blocks on disk with redb. Every query has a time-out.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage, Statement};

use super::kv_store::KvStore;
use super::{Coherence, Kv, KvRead, KvWrite, Table};
use crate::{Result, StoreError};

/// How long one query may take before the transaction is abandoned.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a free pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// Advisory lock keys: every write transaction, and schema migrations.
const WRITE_LOCK: i64 = 0x746f_6c6c_6761_7465;
const MIGRATION_LOCK: i64 = WRITE_LOCK + 1;
/// The NOTIFY channel carrying new generations.
const CHANNEL: &str = "tollgate_changes";

/// Schema migrations, applied in order on connect and recorded in `tollgate_migrations`.
const MIGRATIONS: &[(i32, &str, &str)] = &[(1, "kv", include_str!("../../migrations/0001_kv.sql"))];

/// How the backend connects and caches.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections kept open at most (each replica).
    pub pool_size: usize,
    /// How long a cached lookup may trail another replica's change; zero: no cache.
    pub cache: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            cache: Duration::ZERO,
        }
    }
}

struct Stmts {
    get: Statement,
    scan_ge: Statement,
    scan_ge_lt: Statement,
    scan_gt: Statement,
    scan_gt_lt: Statement,
    put: Statement,
    put_all: Statement,
    delete: Statement,
}

struct Conn {
    client: Arc<Client>,
    stmts: Arc<Stmts>,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Conn>,
    open: usize,
}

pub struct PgKv {
    /// Dropped with `shutdown_background` (dropping a runtime may not block an async caller).
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    config: tokio_postgres::Config,
    opts: PgOptions,
    pool: Mutex<Pool>,
    freed: Condvar,
    /// The newest generation heard of (NOTIFY or a poll).
    generation: Arc<AtomicI64>,
    polled_at: Mutex<Option<Instant>>,
}

impl fmt::Debug for PgKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("PgKv")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Drop for PgKv {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The store over PostgreSQL.
pub type PgStore = KvStore<PgKv>;

impl PgStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`), applies the schema migrations
    /// this version ships and checks the store's schema version, as [`crate::RedbStore::open`]
    /// does.
    pub fn connect(url: &str, opts: PgOptions) -> Result<Self> {
        KvStore::init(PgKv::connect(url, opts)?)
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!(
            "PostgreSQL: {}: {}",
            db.code().code(),
            db.message()
        )),
        None => StoreError::Backend(format!("PostgreSQL: {e}")),
    }
}

/// The smallest byte string greater than every string starting with `prefix`; `None` when
/// there is none (empty prefix, or all 0xFF).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PgKv {
    pub fn connect(url: &str, opts: PgOptions) -> Result<PgKv> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("tollgate");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tollgate-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting the PostgreSQL runtime: {e}")))?;
        let kv = PgKv {
            handle: rt.handle().clone(),
            rt: Some(rt),
            config,
            opts: PgOptions {
                pool_size: opts.pool_size.max(1),
                ..opts
            },
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
            generation: Arc::new(AtomicI64::new(0)),
            polled_at: Mutex::new(None),
        };
        kv.migrate()?;
        if !kv.opts.cache.is_zero() {
            kv.listen();
        }
        Ok(kv)
    }

    /// Runs `fut` on the backend's runtime and waits for it, at most [`QUERY_TIMEOUT`].
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = std::result::Result<T, tokio_postgres::Error>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let r = match tokio::time::timeout(QUERY_TIMEOUT, fut).await {
                Ok(r) => r.map_err(pg),
                Err(_) => Err(StoreError::Backend(format!(
                    "PostgreSQL did not answer within {}s",
                    QUERY_TIMEOUT.as_secs()
                ))),
            };
            let _ = tx.send(r);
        });
        let wait = || {
            rx.recv()
                .map_err(|_| StoreError::Backend("the PostgreSQL runtime stopped".into()))
        };
        // On a worker of the gateway's multi-threaded runtime, let it hand its other tasks to
        // another thread while this one waits for the database, as it would for a file read.
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)?
            }
            _ => wait()?,
        }
    }

    fn open_client(&self) -> Result<Client> {
        let config = self.config.clone();
        self.run(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection closed");
                }
            });
            Ok(client)
        })
    }

    fn migrate(&self) -> Result<()> {
        let client = Arc::new(self.open_client()?);
        let c = Arc::clone(&client);
        let known = MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0);
        let applied = self.run(async move {
            c.batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
                 CREATE TABLE IF NOT EXISTS tollgate_migrations (
                     version integer PRIMARY KEY,
                     name text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now())"
            ))
            .await?;
            let done: Vec<i32> = c
                .query("SELECT version FROM tollgate_migrations", &[])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if done.iter().any(|v| *v > known) {
                c.batch_execute("ROLLBACK").await?;
                return Ok(done.into_iter().max());
            }
            for (version, name, sql) in MIGRATIONS {
                if !done.contains(version) {
                    c.batch_execute(sql).await?;
                    c.execute(
                        "INSERT INTO tollgate_migrations (version, name) VALUES ($1, $2)",
                        &[version, name],
                    )
                    .await?;
                    tracing::info!(version, name, "applied PostgreSQL migration");
                }
            }
            c.batch_execute("COMMIT").await?;
            Ok(None)
        })?;
        match applied {
            Some(v) => Err(StoreError::Backend(format!(
                "the database was migrated by a newer Tollgate (schema migration {v}; this one knows up to {known})"
            ))),
            _ => Ok(()),
        }
    }

    fn new_conn(&self) -> Result<Conn> {
        let client = Arc::new(self.open_client()?);
        let c = Arc::clone(&client);
        let stmts = self.run(async move {
            let scan = |lower: &str, upper: bool, limit: u8| {
                format!(
                    "SELECT k, v FROM tollgate_kv WHERE t = $1 AND k {lower} $2{} ORDER BY k LIMIT ${limit}",
                    if upper { " AND k < $3" } else { "" }
                )
            };
            Ok(Stmts {
                get: c
                    .prepare("SELECT v FROM tollgate_kv WHERE t = $1 AND k = $2")
                    .await?,
                scan_ge: c.prepare(&scan(">=", false, 3)).await?,
                scan_ge_lt: c.prepare(&scan(">=", true, 4)).await?,
                scan_gt: c.prepare(&scan(">", false, 3)).await?,
                scan_gt_lt: c.prepare(&scan(">", true, 4)).await?,
                put: c
                    .prepare(
                        "INSERT INTO tollgate_kv (t, k, v) VALUES ($1, $2, $3)
                         ON CONFLICT (t, k) DO UPDATE SET v = EXCLUDED.v",
                    )
                    .await?,
                put_all: c
                    .prepare(
                        "INSERT INTO tollgate_kv (t, k, v)
                         SELECT $1, x.k, x.v FROM UNNEST($2::bytea[], $3::bytea[]) AS x(k, v)
                         ON CONFLICT (t, k) DO UPDATE SET v = EXCLUDED.v",
                    )
                    .await?,
                delete: c
                    .prepare("DELETE FROM tollgate_kv WHERE t = $1 AND k = $2")
                    .await?,
            })
        })?;
        Ok(Conn {
            client,
            stmts: Arc::new(stmts),
        })
    }

    fn checkout(&self) -> Result<Conn> {
        let deadline = Instant::now() + POOL_WAIT;
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| StoreError::Backend("connection pool poisoned".into()))?;
        loop {
            while let Some(c) = pool.idle.pop() {
                if !c.client.is_closed() {
                    return Ok(c);
                }
                pool.open -= 1;
            }
            if pool.open < self.opts.pool_size {
                pool.open += 1;
                drop(pool);
                return self.new_conn().inspect_err(|_| {
                    if let Ok(mut p) = self.pool.lock() {
                        p.open -= 1;
                    }
                    self.freed.notify_one();
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Backend(format!(
                    "no PostgreSQL connection free within {}s (pool_size {})",
                    POOL_WAIT.as_secs(),
                    self.opts.pool_size
                )));
            }
            pool = self
                .freed
                .wait_timeout(pool, deadline - now)
                .map_err(|_| StoreError::Backend("connection pool poisoned".into()))?
                .0;
        }
    }

    /// Returns a connection to the pool, or closes it when its state is unknown.
    fn checkin(&self, conn: Conn, healthy: bool) {
        if let Ok(mut pool) = self.pool.lock() {
            if healthy && !conn.client.is_closed() {
                pool.idle.push(conn);
            } else {
                pool.open -= 1;
            }
        }
        self.freed.notify_one();
    }

    /// Listens for other replicas' generations, reconnecting when the connection drops.
    fn listen(&self) {
        let config = self.config.clone();
        let generation = Arc::clone(&self.generation);
        self.handle.spawn(async move {
            use futures_util::StreamExt as _;
            loop {
                match config.connect(NoTls).await {
                    Ok((client, mut connection)) => {
                        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                        let driver = tokio::spawn(async move {
                            let mut messages = futures_util::stream::poll_fn(move |cx| {
                                connection.poll_message(cx)
                            });
                            while let Some(Ok(m)) = messages.next().await {
                                if let tokio_postgres::AsyncMessage::Notification(n) = m {
                                    let _ = tx.send(n.payload().to_string());
                                }
                            }
                        });
                        if client
                            .batch_execute(&format!("LISTEN {CHANNEL}"))
                            .await
                            .is_ok()
                        {
                            while let Some(payload) = rx.recv().await {
                                if let Ok(g) = payload.parse::<i64>() {
                                    generation.fetch_max(g, Ordering::SeqCst);
                                }
                            }
                        }
                        driver.abort();
                        tracing::warn!("PostgreSQL change listener disconnected; reconnecting");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "PostgreSQL change listener cannot connect")
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    fn poll_generation(&self) -> Result<i64> {
        let conn = self.checkout()?;
        let c = Arc::clone(&conn.client);
        let r = self.run(async move {
            Ok(c.query_one("SELECT g FROM tollgate_generation", &[])
                .await?
                .get::<_, i64>(0))
        });
        self.checkin(conn, r.is_ok());
        r
    }

    /// Runs `sql` (simple protocol, possibly several statements) on `conn`.
    fn batch(&self, conn: &Conn, sql: String) -> Result<()> {
        let c = Arc::clone(&conn.client);
        self.run(async move { c.batch_execute(&sql).await })
    }
}

/// A transaction on one pooled connection.
struct Txn<'a> {
    kv: &'a PgKv,
    conn: &'a Conn,
    changed: bool,
}

impl Txn<'_> {
    fn client(&self) -> (Arc<Client>, Arc<Stmts>) {
        (Arc::clone(&self.conn.client), Arc::clone(&self.conn.stmts))
    }
}

impl KvRead for Txn<'_> {
    fn get(&self, t: Table, key: &str) -> Result<Option<Vec<u8>>> {
        let (c, s) = self.client();
        let (t, k) = (t.name(), key.as_bytes().to_vec());
        self.kv.run(async move {
            Ok(c.query_opt(&s.get, &[&t, &k])
                .await?
                .map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    fn scan(
        &self,
        t: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (c, s) = self.client();
        let t = t.name();
        let lower = match after {
            Some(a) => format!("{prefix}{a}").into_bytes(),
            None => prefix.as_bytes().to_vec(),
        };
        let upper = successor(prefix.as_bytes());
        let limit = limit_param(limit);
        let exclusive = after.is_some();
        let rows = self.kv.run(async move {
            match (exclusive, upper) {
                (false, Some(u)) => c.query(&s.scan_ge_lt, &[&t, &lower, &u, &limit]).await,
                (false, None) => c.query(&s.scan_ge, &[&t, &lower, &limit]).await,
                (true, Some(u)) => c.query(&s.scan_gt_lt, &[&t, &lower, &u, &limit]).await,
                (true, None) => c.query(&s.scan_gt, &[&t, &lower, &limit]).await,
            }
        })?;
        rows.into_iter()
            .map(|r| {
                let k: Vec<u8> = r.get(0);
                let k = String::from_utf8(k)
                    .map_err(|_| StoreError::Corrupt(format!("a non-UTF-8 key in {t}")))?;
                Ok((k, r.get::<_, Vec<u8>>(1)))
            })
            .collect()
    }
}

impl KvWrite for Txn<'_> {
    fn put(&mut self, t: Table, key: &str, value: &[u8]) -> Result<()> {
        self.changed = true;
        let (c, s) = self.client();
        let (t, k, v) = (t.name(), key.as_bytes().to_vec(), value.to_vec());
        self.kv
            .run(async move { c.execute(&s.put, &[&t, &k, &v]).await })
            .map(|_| ())
    }

    fn put_all<'a>(
        &mut self,
        t: Table,
        entries: &mut dyn Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<()> {
        // One statement per batch; a key twice in one statement is an error in PostgreSQL,
        // so the last value of a repeated key wins, as consecutive puts would have it.
        let mut rows: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
        for (k, v) in entries {
            rows.insert(k.as_bytes().to_vec(), v.to_vec());
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.changed = true;
        let t = t.name();
        let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = rows.into_iter().unzip();
        for (ks, vs) in keys.chunks(10_000).zip(values.chunks(10_000)) {
            let (c, s) = self.client();
            let (ks, vs) = (ks.to_vec(), vs.to_vec());
            self.kv
                .run(async move { c.execute(&s.put_all, &[&t, &ks, &vs]).await })?;
        }
        Ok(())
    }

    fn delete(&mut self, t: Table, key: &str) -> Result<bool> {
        self.changed = true;
        let (c, s) = self.client();
        let (t, k) = (t.name(), key.as_bytes().to_vec());
        Ok(self
            .kv
            .run(async move { c.execute(&s.delete, &[&t, &k]).await })?
            > 0)
    }
}

impl Kv for PgKv {
    fn read<R>(&self, f: impl FnOnce(&dyn KvRead) -> Result<R>) -> Result<R> {
        let conn = self.checkout()?;
        let result = (|| {
            self.batch(
                &conn,
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY".into(),
            )?;
            let txn = Txn {
                kv: self,
                conn: &conn,
                changed: false,
            };
            let r = f(&txn);
            let end = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
            self.batch(&conn, end.into())?;
            r
        })();
        // A failed BEGIN or COMMIT leaves the connection in an unknown state.
        let healthy = !matches!(&result, Err(StoreError::Backend(_)));
        self.checkin(conn, healthy);
        result
    }

    /// One statement is its own snapshot: no BEGIN and COMMIT round trips around it.
    fn read_point<R>(&self, f: impl FnOnce(&dyn KvRead) -> Result<R>) -> Result<R> {
        let conn = self.checkout()?;
        let txn = Txn {
            kv: self,
            conn: &conn,
            changed: false,
        };
        let result = f(&txn);
        let healthy = !matches!(&result, Err(StoreError::Backend(_)));
        self.checkin(conn, healthy);
        result
    }

    fn write<R>(&self, f: impl FnOnce(&mut dyn KvWrite) -> Result<R>) -> Result<R> {
        let conn = self.checkout()?;
        let result = (|| {
            self.batch(
                &conn,
                format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
            )?;
            let mut txn = Txn {
                kv: self,
                conn: &conn,
                changed: false,
            };
            match f(&mut txn) {
                Ok(r) if txn.changed => {
                    let c = Arc::clone(&conn.client);
                    let g = self.run(async move {
                        let msgs = c
                            .simple_query(&format!(
                                "WITH g AS (UPDATE tollgate_generation SET g = g + 1 RETURNING g)
                                 SELECT g, pg_notify('{CHANNEL}', g::text) FROM g; COMMIT"
                            ))
                            .await?;
                        Ok(msgs.iter().find_map(|m| match m {
                            SimpleQueryMessage::Row(r) => {
                                r.get(0).and_then(|g| g.parse::<i64>().ok())
                            }
                            _ => None,
                        }))
                    })?;
                    if let Some(g) = g {
                        self.generation.fetch_max(g, Ordering::SeqCst);
                    }
                    Ok(r)
                }
                Ok(r) => {
                    self.batch(&conn, "COMMIT".into())?;
                    Ok(r)
                }
                Err(e) => {
                    self.batch(&conn, "ROLLBACK".into())?;
                    Err(e)
                }
            }
        })();
        let healthy = !matches!(&result, Err(StoreError::Backend(_)));
        self.checkin(conn, healthy);
        result
    }

    fn coherence(&self) -> Coherence {
        if self.opts.cache.is_zero() {
            return Coherence::Uncached;
        }
        let due = match self.polled_at.lock() {
            Ok(at) => at.is_none_or(|at| at.elapsed() >= self.opts.cache),
            Err(_) => true,
        };
        if due {
            // Started before the poll: what it reports was true no earlier than this.
            let started = Instant::now();
            match self.poll_generation() {
                Ok(g) => {
                    self.generation.fetch_max(g, Ordering::SeqCst);
                    if let Ok(mut at) = self.polled_at.lock() {
                        *at = Some(started);
                    }
                }
                Err(_) => return Coherence::Uncached,
            }
        }
        Coherence::Generation(self.generation.load(Ordering::SeqCst) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::successor;

    #[test]
    fn successor_bounds_a_prefix() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        assert_eq!(successor(b""), None);
    }
}
