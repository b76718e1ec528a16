//! A throw-away PostgreSQL server for the tests (Debian's `postgresql` package), started once
//! per test process on a free loopback port; each test takes a fresh database of its own.
//!
//! The server is started with `pg_ctl` (it daemonises), so a watcher shell started beside it
//! stops it and removes its directory as soon as the test process is gone — even when that
//! process is killed — so no cluster outlives the run. As root (CI containers) the server runs as the `postgres` user,
//! since PostgreSQL refuses to run as root.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use crate::{CmdOutput, free_port, run_command};

/// The running server.
#[derive(Debug)]
pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    /// Kept for the process's lifetime; the watcher removes it after stopping the cluster.
    _dir: TempDir,
}

/// The newest installed server's `bin` directory, e.g. `/usr/lib/postgresql/15/bin`.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `cmd` as the server's user: `postgres` when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn check(out: CmdOutput, what: &str) {
    assert!(out.success(), "{what}: {out}");
}

static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();

/// The shared server, started on first use; `None` (test skipped, or failed under
/// `TOLLGATE_E2E_REQUIRE_TOOLS`) when PostgreSQL is not installed.
pub fn postgres() -> Option<&'static PgServer> {
    SERVER
        .get_or_init(|| match pg_bin() {
            Some(bin) => Some(PgServer::start(bin)),
            None => {
                crate::require_tools(&["postgresql (initdb under /usr/lib/postgresql)"]);
                None
            }
        })
        .as_ref()
}

impl PgServer {
    fn start(bin: PathBuf) -> PgServer {
        let dir = TempDir::new().expect("tempdir");
        let data = dir.path().join("data");
        if is_root() {
            check(
                run_command(
                    Command::new("chown")
                        .args(["-R", "postgres:postgres"])
                        .arg(dir.path()),
                    Duration::from_secs(10),
                ),
                "chown the cluster directory",
            );
        }
        check(
            run_command(
                as_server_user(&bin.join("initdb"))
                    .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
                    .args(["--locale=C.UTF-8", "-D"])
                    .arg(&data),
                Duration::from_secs(120),
            ),
            "initdb",
        );
        let port = free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=400 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            dir.path().display()
        );
        check(
            run_command(
                as_server_user(&bin.join("pg_ctl"))
                    .arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(dir.path().join("server.log"))
                    .args(["-w", "-t", "60", "-o", &options, "start"]),
                Duration::from_secs(90),
            ),
            "pg_ctl start",
        );
        // Stops the cluster once this process is gone, however it ends. Never waited for: it
        // outlives this process by design, so it never lingers as a zombie of it.
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {pre}{pg_ctl} -D {data} stop -m immediate; rm -rf {dir}",
            pid = std::process::id(),
            pre = if is_root() {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl = bin.join("pg_ctl").display(),
            data = data.display(),
            dir = dir.path().display(),
        );
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the cluster watcher");
        PgServer {
            port,
            bin,
            _dir: dir,
        }
    }

    /// Runs `sql` as the superuser in database `db`.
    pub fn psql(&self, db: &str, sql: &str) -> CmdOutput {
        run_command(
            Command::new(self.bin.join("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-Atc",
                ])
                .arg(sql)
                .args(["-p", &self.port.to_string(), "-d", db]),
            Duration::from_secs(60),
        )
    }

    /// Creates an empty database; its URL.
    pub fn fresh_database(&self) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        check(
            self.psql("postgres", &format!("CREATE DATABASE {name}")),
            "create database",
        );
        self.url(&name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}
