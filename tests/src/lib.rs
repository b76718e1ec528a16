//! End-to-end test harness for Tollgate.
//!
//! The tests under `tests/tests/` drive the *built* `tollgate` binary (they never build it
//! themselves; `scripts/test.sh` builds first) with real clients — skopeo, python `oras`, plain
//! HTTP — and, in upstream mode, a real CNCF distribution registry (`docker-registry` from Debian).
//!
//! * [`Tollgate::start`] spawns `tollgate serve` on a free loopback port with a temporary data
//!   directory, waits for `/healthz`, reads the generated admin token, and kills the process on
//!   drop (printing its log when the test failed). [`Tollgate::prepare`] sets up the directories
//!   without starting, so a test can seed the data directory through the CLI first.
//! * [`Registry::start`] does the same for `docker-registry serve`;
//!   [`Registry::start_with_config`] adds configuration (an `auth:` block).
//! * [`TokenServer`] runs `scripts/registry_token_server.py`, a registry Bearer token issuer.
//! * [`Nginx`] runs Debian's `nginx` with WebDAV `PUT` on a free port: the raw repository
//!   upstream (Nexus raw / Artifactory generic stand-in) for the `/repository` and
//!   `/artifactory` fronts.
//! * [`TinyImage`] builds a tiny, unique one-layer OCI image in memory and can write it as an OCI
//!   image layout ([`make_oci_layout`]).
//! * [`Http`] is a small blocking HTTP client with Basic/Bearer auth and OCI helpers.
//! * [`FakeUpstream`] is an in-test upstream that lies about blob contents or never answers.
//! * [`CosignImage`] builds cosign signature images (`.sig`); [`Tollgate::start_with_files`]
//!   and [`Tollgate::restart_with_config`] put trust material beside the configuration file and
//!   change the configuration across a restart; [`python3_json`] runs a helper script and reads
//!   the JSON result it prints last.
//! * [`SigstoreMock`] runs `sigstore-mock/server.js` (node): a loopback Fulcio, Rekor, RFC 3161
//!   TSA and GitHub-Actions-style OIDC token endpoint with fresh keys per instance; its
//!   [`SigstoreMock::attest`] signs an in-toto statement keylessly with the real `@sigstore/cli`
//!   into a Sigstore bundle (needs `npm ci --prefix tests/sigstore-mock`, which
//!   `scripts/test.sh` runs).
//!
//! * [`postgres`] starts one throw-away PostgreSQL server per test process (Debian's
//!   `postgresql`) and hands out fresh databases ([`PgServer::fresh_database`]).
//!
//! Environment:
//! * `TOLLGATE_BIN` — the binary to test (default: `tollgate` next to the test executable's
//!   target directory, else `<workspace>/target/debug/tollgate`).
//! * `TOLLGATE_E2E_REQUIRE_TOOLS=1` — a missing external tool fails the test instead of skipping it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

pub mod gated;
pub mod postgres;
pub use gated::{CYCLONEDX, Gated};
pub use postgres::{PgServer, postgres};
pub use reqwest;
pub use serde_json;
pub use tempfile;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer media type.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI empty descriptor media type.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The `Accept` header value used for every manifest GET/HEAD.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

// ---------------------------------------------------------------------------------------------
// small utilities
// ---------------------------------------------------------------------------------------------

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:<hex>` digest.
pub fn digest_hex(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, h)| h)
}

/// A string unique within this machine for the duration of the test run.
pub fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `n` bytes of deterministic but seed-dependent content.
pub fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// Directory of helper scripts shipped with the e2e crate (`tests/scripts`).
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// The `tollgate` binary under test.
pub fn tollgate_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TOLLGATE_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-exe> -> target/<profile>/tollgate
    if let Ok(exe) = std::env::current_exe()
        && let Some(profile_dir) = exe.parent().and_then(Path::parent)
    {
        let candidate = profile_dir.join("tollgate");
        if candidate.is_file() {
            return candidate;
        }
    }
    workspace_root()
        .join("target")
        .join("debug")
        .join("tollgate")
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

fn current_test_name() -> String {
    thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string()
}

/// Whether missing external tools must fail the tests (`TOLLGATE_E2E_REQUIRE_TOOLS` set).
pub fn tools_required() -> bool {
    std::env::var("TOLLGATE_E2E_REQUIRE_TOOLS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Whether an executable named `name` is on `PATH`.
pub fn have_tool(name: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let p = dir.join(name);
        fs::metadata(&p).is_ok_and(|m| m.is_file())
    })
}

fn skip_or_fail(what: &str) -> bool {
    if tools_required() {
        panic!(
            "{}: required tool missing: {what} (TOLLGATE_E2E_REQUIRE_TOOLS is set)",
            current_test_name()
        );
    }
    eprintln!(
        "SKIPPED {}: missing {what}; install it (scripts/test.sh does) or set TOLLGATE_E2E_REQUIRE_TOOLS=1 to fail instead",
        current_test_name()
    );
    false
}

/// Returns true if every tool is on `PATH`. Otherwise prints a skip message and returns false,
/// or panics when `TOLLGATE_E2E_REQUIRE_TOOLS` is set.
pub fn require_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have_tool(t)).collect();
    if missing.is_empty() {
        true
    } else {
        skip_or_fail(&format!("tool(s) {}", missing.join(", ")))
    }
}

/// Returns true if `python3 -c "import <module>"` works; otherwise skips or fails like
/// [`require_tools`].
pub fn require_python_module(module: &str) -> bool {
    if !require_tools(&["python3"]) {
        return false;
    }
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        true
    } else {
        skip_or_fail(&format!("python module `{module}`"))
    }
}

fn strip_proxies(cmd: &mut Command) -> &mut Command {
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
}

/// Output of a finished external command.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub description: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Panics with the full output unless the command succeeded.
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` -> {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.description,
            self.status,
            self.stdout_str(),
            self.stderr_str()
        )
    }
}

/// Runs a command with a deadline (killing it when exceeded), proxies stripped from its
/// environment, and stdout/stderr captured.
pub fn run_command(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let description = format!("{cmd:?}");
    let dir = TempDir::new().expect("tempdir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let out = File::create(&out_path).expect("create stdout file");
    let err = File::create(&err_path).expect("create stderr file");
    strip_proxies(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {description}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().expect("wait");
            let stdout = fs::read(&out_path).unwrap_or_default();
            let stderr = fs::read(&err_path).unwrap_or_default();
            panic!(
                "command timed out after {timeout:?}: {}",
                CmdOutput {
                    status,
                    stdout,
                    stderr,
                    description
                }
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    CmdOutput {
        status,
        stdout: fs::read(&out_path).unwrap_or_default(),
        stderr: fs::read(&err_path).unwrap_or_default(),
        description,
    }
}

/// Runs `skopeo <args>` (120 s deadline); the caller checks the result.
pub fn skopeo(args: &[&str]) -> CmdOutput {
    run_command(Command::new("skopeo").args(args), Duration::from_secs(120))
}

/// `skopeo copy` of the layout's `v1` image to `dest` (`docker://host/repo:tag`) over plain
/// HTTP with `user:token` credentials, digests preserved.
pub fn skopeo_copy_in(layout: &Path, creds: &str, dest: &str) -> CmdOutput {
    skopeo(&[
        "--insecure-policy",
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        &format!("oci:{}:v1", layout.display()),
        dest,
    ])
}

/// Copies a fresh OCI layout to `<tollgate>/<repo>:<tag>` with skopeo (admin token), checks
/// `skopeo inspect --raw` and a plain GET by tag, copies it back into a new layout and checks
/// digests and blobs, then inspects by digest. `work` holds the layouts. Returns the image.
pub fn skopeo_roundtrip(tg: &Tollgate, work: &Path, repo: &str, tag: &str) -> TinyImage {
    let layout = work.join("layout");
    let img = make_oci_layout(&layout, "v1");
    let creds = format!("ci:{}", tg.admin_token);
    let dest = format!("docker://{}/{repo}:{tag}", tg.host());

    skopeo_copy_in(&layout, &creds, &dest).ok();

    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &dest,
    ])
    .ok();
    assert_eq!(
        sha256_digest(&raw.stdout),
        img.digest,
        "manifest bytes read back through Tollgate hash differently from the layout's manifest"
    );
    assert_eq!(raw.stdout, img.manifest, "manifest bytes changed");

    // the same through plain HTTP: by tag, with the digest header
    tg.admin()
        .get_manifest(repo, tag)
        .expect_status(200, "GET manifest by tag")
        .expect_header("Docker-Content-Digest", &img.digest, "GET manifest by tag");

    let back = work.join("back");
    skopeo(&[
        "--insecure-policy",
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &dest,
        &format!("oci:{}:back", back.display()),
    ])
    .ok();
    assert_eq!(layout_manifest_digest(&back, "back"), img.digest);
    assert_eq!(layout_blob(&back, &img.digest), img.manifest);
    assert_eq!(layout_blob(&back, &img.config.digest), img.config.data);
    assert_eq!(layout_blob(&back, &img.layer.digest), img.layer.data);

    // and by digest
    let by_digest = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{}/{repo}@{}", tg.host(), img.digest),
    ])
    .ok();
    assert_eq!(by_digest.stdout, img.manifest);
    img
}

/// Every python module the signer scripts (cosign_sign.py, slsa_attest.py) import; skips (or
/// fails, under CI) the test without them.
pub fn signer_scripts_available() -> bool {
    [
        "cryptography",
        "requests",
        "in_toto",
        "securesystemslib",
        "in_toto_attestation",
    ]
    .iter()
    .all(|m| require_python_module(m))
}

/// Runs `python3 <script> <args>` with extra environment (180 s deadline).
pub fn python3_script(script: &Path, args: &[&str], envs: &[(&str, &str)]) -> CmdOutput {
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.env("PYTHONUNBUFFERED", "1");
    run_command(&mut cmd, Duration::from_secs(180))
}

/// Runs a helper script like [`python3_script`], asserts that it succeeded, and parses the
/// JSON object it printed on the last line of stdout.
#[track_caller]
pub fn python3_json(script: &Path, args: &[&str], envs: &[(&str, &str)]) -> Value {
    let out = python3_script(script, args, envs);
    assert!(out.success(), "helper script failed: {out}");
    let stdout = out.stdout_str();
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("helper script printed no JSON result ({e}): {out}"))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

fn kill_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_http_ok(url: &str, child: &mut Child, timeout: Duration) -> Result<(), String> {
    wait_http(url, child, timeout, |status| (200..300).contains(&status))
}

/// Polls `url` until `ready(status)` holds, the process exits, or `timeout` passes.
fn wait_http(
    url: &str,
    child: &mut Child,
    timeout: Duration,
    ready: impl Fn(u16) -> bool,
) -> Result<(), String> {
    let client = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("process exited early with {status}"));
        }
        match client.get(url).send() {
            Ok(r) if ready(r.status().as_u16()) => return Ok(()),
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(format!("{url} not ready after {timeout:?}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn looks_like_port_clash(log: &str) -> bool {
    let l = log.to_ascii_lowercase();
    l.contains("address already in use") || l.contains("addrinuse") || l.contains("os error 98")
}

/// Starts a helper server on a free loopback port: `command(port)` builds it (and may write
/// per-port files), its stdout and stderr go to `log_path`, and it is ready once
/// `GET http://127.0.0.1:<port><ready_path>` answers a status `ready` accepts. A port taken in
/// the meantime means another try; any other failure panics with the log's tail.
fn spawn_helper_server(
    what: &str,
    log_path: &Path,
    mut command: impl FnMut(u16) -> Command,
    ready_path: &str,
    ready: impl Fn(u16) -> bool + Copy,
) -> (Child, u16) {
    let mut last_err = String::new();
    for _attempt in 0..4 {
        let port = free_port();
        let log = File::create(log_path).unwrap_or_else(|e| panic!("{what} log: {e}"));
        let mut cmd = command(port);
        strip_proxies(&mut cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {what}: {e}"));
        match wait_http(
            &format!("http://127.0.0.1:{port}{ready_path}"),
            &mut child,
            Duration::from_secs(30),
            ready,
        ) {
            Ok(()) => return (child, port),
            Err(e) => {
                kill_child(&mut child);
                let log = fs::read_to_string(log_path).unwrap_or_default();
                last_err = format!("{e}\n--- {what} log ---\n{}", tail(&log, 40));
                if looks_like_port_clash(&log) {
                    continue;
                }
                break;
            }
        }
    }
    panic!("{what} did not start: {last_err}");
}

// ---------------------------------------------------------------------------------------------
// Tollgate process
// ---------------------------------------------------------------------------------------------

/// Options for [`Tollgate::start`].
#[derive(Debug, Clone, Default)]
pub struct TollgateOpts {
    /// `--upstream <url>`.
    pub upstream: Option<String>,
    /// TOML text written to a file and passed as `--config <file>`.
    pub config: Option<String>,
    /// Further arguments appended to `tollgate serve ...`.
    pub extra_args: Vec<String>,
    /// Environment variables for the server process.
    pub env: Vec<(String, String)>,
}

impl TollgateOpts {
    pub fn upstream(url: impl Into<String>) -> Self {
        Self {
            upstream: Some(url.into()),
            ..Self::default()
        }
    }
    pub fn config(toml: impl Into<String>) -> Self {
        Self {
            config: Some(toml.into()),
            ..Self::default()
        }
    }
}

/// A running `tollgate serve` with its own temporary data directory. Its stderr (the log) goes
/// to [`Tollgate::log_path`], its stdout (the first-start banner) to [`Tollgate::stdout_path`].
#[derive(Debug)]
pub struct Tollgate {
    child: Option<Child>,
    port: u16,
    root: TempDir,
    opts: TollgateOpts,
    /// Whether starting must produce `<data>/admin-token` (false after [`Tollgate::prepare`]).
    admin_token_required: bool,
    /// The admin token generated on first start (read from `<data>/admin-token`); empty when
    /// the server created none.
    pub admin_token: String,
}

impl Tollgate {
    /// Spawns `tollgate serve` and waits until `/healthz` answers 200 and the admin token has
    /// been written.
    pub fn start(opts: TollgateOpts) -> Tollgate {
        let mut tg = Self::prepare(opts);
        tg.admin_token_required = true;
        tg.spawn();
        tg
    }

    /// Creates the temporary data directory (and config file) without starting the server,
    /// so a test can seed it first (e.g. [`Tollgate::cli_data`]`(&["token", "create", ...])`).
    /// [`Tollgate::restart`] then starts it; `admin_token` is read if the server wrote one.
    pub fn prepare(opts: TollgateOpts) -> Tollgate {
        let root = tempfile::Builder::new()
            .prefix("tollgate-e2e-")
            .tempdir()
            .expect("tempdir");
        fs::create_dir_all(root.path().join("data")).expect("create data dir");
        if let Some(cfg) = &opts.config {
            fs::write(root.path().join("config.toml"), cfg).expect("write config");
        }
        Tollgate {
            child: None,
            port: 0,
            root,
            opts,
            admin_token_required: false,
            admin_token: String::new(),
        }
    }

    fn spawn(&mut self) {
        let bin = tollgate_bin();
        assert!(
            bin.is_file(),
            "tollgate binary not found at {} — build it first (`cargo build -p tollgate`, or run scripts/test.sh) or set TOLLGATE_BIN",
            bin.display()
        );
        let mut last_err = String::new();
        for _attempt in 0..4 {
            let port = free_port();
            let log_start = fs::metadata(self.log_path()).map_or(0, |m| m.len());
            let append = |path: PathBuf| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("open log")
            };
            let (out, log) = (append(self.stdout_path()), append(self.log_path()));
            let mut cmd = Command::new(&bin);
            cmd.arg("serve")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data")
                .arg(self.data_dir());
            if let Some(up) = &self.opts.upstream {
                cmd.arg("--upstream").arg(up);
            }
            if self.opts.config.is_some() {
                cmd.arg("--config").arg(self.config_path());
            }
            cmd.args(&self.opts.extra_args);
            cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
            if std::env::var_os("RUST_LOG").is_none() {
                cmd.env("RUST_LOG", "info");
            }
            cmd.env("NO_COLOR", "1");
            strip_proxies(&mut cmd)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(log));
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
            let url = format!("http://127.0.0.1:{port}/healthz");
            match wait_http_ok(&url, &mut child, Duration::from_secs(30)) {
                Ok(()) => {
                    self.child = Some(child);
                    self.port = port;
                    let token_file = self.data_dir().join("admin-token");
                    if self.admin_token_required || token_file.exists() {
                        self.read_admin_token();
                    }
                    return;
                }
                Err(e) => {
                    kill_child(&mut child);
                    let full = self.log();
                    let new_part = full.get(log_start as usize..).unwrap_or(&full).to_string();
                    last_err = format!("{e}\n--- tollgate log ---\n{}", tail(&new_part, 80));
                    if looks_like_port_clash(&new_part) {
                        continue;
                    }
                    break;
                }
            }
        }
        panic!("tollgate did not start: {last_err}");
    }

    fn read_admin_token(&mut self) {
        let path = self.data_dir().join("admin-token");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(t) = fs::read_to_string(&path) {
                let t = t.trim().to_string();
                if !t.is_empty() {
                    self.admin_token = t;
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "{} was not written after start\n--- tollgate stdout ---\n{}\n--- tollgate log ---\n{}",
                    path.display(),
                    tail(&self.stdout(), 20),
                    tail(&self.log(), 80)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (the data directory is kept).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c);
        }
    }

    /// Sets an environment variable for the next (re)start of the server.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.opts.env.retain(|(k, _)| k != key);
        self.opts.env.push((key.to_string(), value.to_string()));
    }

    /// Starts the server again on the same data directory (on a new port).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Like [`Tollgate::start`], after writing `files` (`(name, bytes)`) into the directory
    /// of the configuration file, so the configuration can name them by relative paths
    /// (`path = "cosign.pub"`, `trusted_root = "trusted_root.json"`).
    pub fn start_with_files(opts: TollgateOpts, files: &[(&str, &[u8])]) -> Tollgate {
        let mut tg = Self::prepare(opts);
        for (name, bytes) in files {
            tg.write_config_file(name, bytes);
        }
        tg.admin_token_required = true;
        tg.spawn();
        tg
    }

    /// Replaces the configuration file with `toml` (and passes `--config` from now on),
    /// then restarts on the same data directory. Files the new configuration names can be
    /// put beside it first with [`Tollgate::write_config_file`].
    pub fn restart_with_config(&mut self, toml: impl Into<String>) {
        self.stop();
        let toml = toml.into();
        fs::write(self.config_path(), &toml).expect("write config");
        self.opts.config = Some(toml);
        self.spawn();
    }

    /// Writes `name` (a relative path) into the directory that holds the configuration file.
    pub fn write_config_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.config_dir().join(name);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).expect("mkdir beside config");
        }
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Stops the server the way a service manager does (SIGTERM) and waits for it to exit
    /// on its own; panics if it takes longer than `timeout`. The data directory is kept.
    pub fn terminate(&mut self, timeout: Duration) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let out = run_command(
            Command::new("kill").args(["-TERM", &pid]),
            Duration::from_secs(10),
        );
        assert!(out.success(), "kill -TERM {pid}: {out}");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    status.success(),
                    "tollgate exited with {status} after SIGTERM"
                );
                return;
            }
            if Instant::now() > deadline {
                kill_child(&mut child);
                panic!("tollgate did not stop within {timeout:?} of SIGTERM");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGHUP to the server (policy reload).
    pub fn hangup(&self) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let out = run_command(
            Command::new("kill").args(["-HUP", &pid]),
            Duration::from_secs(10),
        );
        assert!(out.success(), "kill -HUP {pid}: {out}");
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    /// `127.0.0.1:<port>`, the registry host for skopeo/oras.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.path().join("config.toml")
    }
    /// The directory of the configuration file (relative paths in it resolve from here).
    pub fn config_dir(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }
    /// Where the server's stderr (its log) goes.
    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("tollgate.log")
    }
    /// Where the server's stdout goes.
    pub fn stdout_path(&self) -> PathBuf {
        self.root.path().join("tollgate.stdout")
    }
    /// Everything the server wrote to stderr so far (over all starts).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }
    /// Everything the server wrote to stdout so far (over all starts).
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// Client without credentials.
    pub fn anon(&self) -> Http {
        Http::new(self.base_url(), Auth::None)
    }
    /// Client with the admin token as Basic password.
    pub fn admin(&self) -> Http {
        self.basic("ci", &self.admin_token)
    }
    /// Client with `token` as Basic password for `user`.
    pub fn basic(&self, user: &str, token: &str) -> Http {
        Http::new(self.base_url(), Auth::Basic(user.into(), token.into()))
    }
    /// Client with `Authorization: Bearer <token>`.
    pub fn bearer(&self, token: &str) -> Http {
        Http::new(self.base_url(), Auth::Bearer(token.into()))
    }

    /// Creates a token through `POST /api/v1/tokens` and returns it.
    pub fn create_token(&self, name: &str, roles: &[&str]) -> String {
        let r = self.admin().send(
            self.admin()
                .request(Method::POST, "/api/v1/tokens")
                .json(&json!({"name": name, "roles": roles})),
        );
        r.expect_status(201, "POST /api/v1/tokens");
        let v = r.json();
        assert_eq!(v["name"], name, "token create response: {r}");
        v["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in response: {r}"))
            .to_string()
    }

    /// Revokes a token through `DELETE /api/v1/tokens/{name}`.
    pub fn revoke_token(&self, name: &str) {
        let r = self.admin().delete(&format!("/api/v1/tokens/{name}"));
        r.expect_status(204, "DELETE /api/v1/tokens/{name}");
    }

    /// Runs the binary with other arguments (e.g. `token create --data ...`).
    pub fn cli(&self, args: &[&str]) -> CmdOutput {
        tollgate_cli(args)
    }

    /// Runs the binary with `args` followed by `--data <this data directory>` (for the
    /// `token` subcommands; stop the server first, the store is locked while it runs).
    pub fn cli_data(&self, args: &[&str]) -> CmdOutput {
        let data = self.data_dir();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data", data.to_str().expect("UTF-8 data path")]);
        tollgate_cli(&all)
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        let r = self.admin().get("/metrics");
        r.expect_status(200, "GET /metrics");
        r.text()
    }

    /// Sum of every sample of metric `name` (any labels) in `/metrics`, if present.
    pub fn metric_value(&self, name: &str) -> Option<f64> {
        metric_sum(&self.metrics(), name)
    }
}

/// Sum of every sample of metric `name` (any labels) in Prometheus text.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value_part = match rest.rfind('}') {
            Some(i) => &rest[i + 1..],
            None => rest,
        };
        if let Some(v) = value_part
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Polls `check` every 100 ms until it gives a value; panics naming `what` after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the `tollgate` binary with `args` (60 s deadline); the caller checks the result.
pub fn tollgate_cli(args: &[&str]) -> CmdOutput {
    let mut cmd = Command::new(tollgate_bin());
    cmd.args(args).env("NO_COLOR", "1");
    run_command(&mut cmd, Duration::from_secs(60))
}

/// The value of one exact series (`name{labels}` as printed) in Prometheus text, if present.
pub fn metric_series(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

impl Drop for Tollgate {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!(
                "===== tollgate stdout ({}) for failed test {} =====\n{}\n===== tollgate log ({}) =====\n{}\n===== end of tollgate log =====",
                self.stdout_path().display(),
                current_test_name(),
                tail(&self.stdout(), 20),
                self.log_path().display(),
                tail(&self.log(), 200)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// docker-registry (CNCF distribution 2.8.2)
// ---------------------------------------------------------------------------------------------

/// A real upstream registry: `docker-registry serve` with filesystem storage and deletes enabled.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
    root: TempDir,
}

impl Registry {
    /// Starts the registry on a free port and waits for `GET /v2/` → 200.
    pub fn start() -> Registry {
        Self::start_with_config("")
    }

    /// Like [`Registry::start`] with `extra_yaml` (top-level keys, e.g. an `auth:` block)
    /// appended to the configuration; ready once `GET /v2/` answers 200 or 401.
    pub fn start_with_config(extra_yaml: &str) -> Registry {
        let root = tempfile::Builder::new()
            .prefix("tollgate-e2e-registry-")
            .tempdir()
            .expect("tempdir");
        let data = root.path().join("data");
        fs::create_dir_all(&data).expect("mkdir");
        let cfg_path = root.path().join("config.yml");
        let command = |port: u16| {
            let cfg = format!(
                r#"# CNCF distribution 2.8.2 (Debian docker-registry) — loopback test registry
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
{extra_yaml}
"#,
                data = data.display()
            );
            fs::write(&cfg_path, cfg).expect("write registry config");
            let mut cmd = Command::new("docker-registry");
            cmd.arg("serve").arg(&cfg_path);
            cmd
        };
        let (child, port) = spawn_helper_server(
            "docker-registry",
            &root.path().join("registry.log"),
            command,
            "/v2/",
            |status| status == 200 || status == 401,
        );
        Registry { child, port, root }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// Unauthenticated client talking to the registry directly.
    pub fn http(&self) -> Http {
        self.http_as(Auth::None)
    }
    /// Client with credentials talking to the registry directly.
    pub fn http_as(&self, auth: Auth) -> Http {
        Http::new(self.url(), auth)
    }
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        kill_child(&mut self.child);
        if thread::panicking() {
            eprintln!(
                "===== docker-registry log for failed test {} =====\n{}\n===== end =====",
                current_test_name(),
                tail(&self.log(), 100)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// nginx (Debian `nginx`) as a WebDAV raw repository upstream
// ---------------------------------------------------------------------------------------------

/// A raw repository upstream the way Nexus raw and Artifactory generic repositories behave for
/// `PUT`/`GET`/`DELETE`: nginx's WebDAV module on a free loopback port, serving and storing
/// files under [`Nginx::data_dir`] (`/repository/<repo>/<path>` is `data/repository/<repo>/<path>`).
/// Runs in the foreground without a master process, as the test's own user, so it needs no
/// privileges and dies with the test. [`Nginx::registry_proxy`] is the same process as a
/// reverse proxy in front of a [`Registry`].
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    port: u16,
    root: TempDir,
}

impl Nginx {
    /// Starts nginx and waits until `GET /` answers.
    pub fn start() -> Nginx {
        Self::start_with_server("/", |p| {
            format!(
                r#"        root {p}/data;
        location / {{
            dav_methods PUT DELETE MKCOL COPY MOVE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            client_max_body_size 0;
            autoindex on;
            autoindex_format json;
        }}
"#
            )
        })
    }

    /// nginx as a reverse proxy in front of `reg`, passing everything through except, while
    /// [`Nginx::refuse_tag_puts`] is on, manifest PUTs by tag (answered 503): an upstream that
    /// fails only the one call a real registry never refuses on its own.
    pub fn registry_proxy(reg: &Registry) -> Nginx {
        let backend = reg.url();
        Self::start_with_server("/v2/", |p| {
            format!(
                r#"        client_max_body_size 0;
        proxy_http_version 1.1;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_set_header Host $http_host;
        proxy_set_header Connection "";
        # A tag holds no ':'; a digest does.
        location ~ ^/v2/.+/manifests/[^:/]+$ {{
            set $refuse "";
            if ($request_method = PUT) {{ set $refuse "put"; }}
            if (-f {p}/refuse-tag-puts) {{ set $refuse "${{refuse}}-on"; }}
            if ($refuse = "put-on") {{ return 503; }}
            proxy_pass {backend};
        }}
        location / {{
            proxy_pass {backend};
        }}
"#
            )
        })
    }

    /// Turns the refusal of [`Nginx::registry_proxy`] on or off (nginx checks per request).
    pub fn refuse_tag_puts(&self, on: bool) {
        let flag = self.root.path().join("refuse-tag-puts");
        if on {
            fs::write(&flag, b"").expect("write the refusal flag");
        } else {
            let _ = fs::remove_file(&flag);
        }
    }

    /// Starts nginx with `server(prefix)` as the body of its one `server` block and waits
    /// until `GET <ready_path>` answers 200.
    fn start_with_server(ready_path: &str, server: impl FnOnce(&str) -> String) -> Nginx {
        let root = tempfile::Builder::new()
            .prefix("tollgate-e2e-nginx-")
            .tempdir()
            .expect("tempdir");
        for d in ["data/repository", "logs", "tmp"] {
            fs::create_dir_all(root.path().join(d)).expect("mkdir");
        }
        let conf = root.path().join("nginx.conf");
        let prefix = root.path().to_path_buf();
        let p = prefix.display().to_string();
        let body = server(&p);
        let command = |port: u16| {
            let cfg = format!(
                r#"# nginx for the Tollgate end-to-end tests
daemon off;
master_process off;
error_log {p}/logs/error.log info;
pid {p}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log {p}/logs/access.log;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
{body}    }}
}}
"#
            );
            fs::write(&conf, cfg).expect("write nginx config");
            let mut cmd = Command::new("nginx");
            cmd.arg("-p")
                .arg(&prefix)
                .arg("-e")
                .arg(prefix.join("logs/error.log"))
                .arg("-c")
                .arg(&conf);
            cmd
        };
        let (child, port) = spawn_helper_server(
            "nginx",
            &root.path().join("nginx.out"),
            command,
            ready_path,
            |status| status == 200,
        );
        Nginx { child, port, root }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// Where nginx keeps the files it was sent.
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }
    /// The bytes nginx holds at `rel` (under its root), if any.
    pub fn file(&self, rel: &str) -> Option<Vec<u8>> {
        fs::read(self.data_dir().join(rel)).ok()
    }
    /// Every request nginx answered so far (its access log).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.root.path().join("logs/access.log")).unwrap_or_default()
    }
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.root.path().join("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        kill_child(&mut self.child);
        if thread::panicking() {
            eprintln!(
                "===== nginx error log for failed test {} =====\n{}\n===== nginx access log =====\n{}\n===== end =====",
                current_test_name(),
                tail(&self.error_log(), 60),
                tail(&self.access_log(), 60)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// registry token server
// ---------------------------------------------------------------------------------------------

/// The `service` the [`TokenServer`]'s registry configuration names.
pub const TOKEN_SERVICE: &str = "test-registry";
/// The `issuer` the token server signs as (fixed in the script).
pub const TOKEN_ISSUER: &str = "tollgate-test-issuer";

/// `scripts/registry_token_server.py`: the registry Bearer token flow. It issues ES256 tokens
/// granting every requested action to Basic `user:password` at `GET /token`, answers 401 to
/// anything else, counts what it issued at `GET /count`, and writes its signing certificate for
/// the registry's `rootcertbundle`. Needs python `cryptography`.
#[derive(Debug)]
pub struct TokenServer {
    child: Child,
    port: u16,
    root: TempDir,
}

impl TokenServer {
    /// Starts the server on a free port and waits for `GET /count` → 200.
    pub fn start(user: &str, password: &str) -> TokenServer {
        let root = tempfile::Builder::new()
            .prefix("tollgate-e2e-token-")
            .tempdir()
            .expect("tempdir");
        let cert = root.path().join("token-signer.pem");
        let command = |port: u16| {
            let mut cmd = Command::new("python3");
            cmd.arg(scripts_dir().join("registry_token_server.py"))
                .arg(port.to_string())
                .arg(&cert)
                .args([user, password])
                .env("PYTHONUNBUFFERED", "1");
            cmd
        };
        let (child, port) = spawn_helper_server(
            "registry_token_server.py",
            &root.path().join("token-server.log"),
            command,
            "/count",
            |status| status == 200,
        );
        assert!(cert.is_file(), "token server wrote no {}", cert.display());
        TokenServer { child, port, root }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// The PEM certificate whose key signs the tokens.
    pub fn cert_path(&self) -> PathBuf {
        self.root.path().join("token-signer.pem")
    }
    /// The registry `auth:` block delegating to this server (for
    /// [`Registry::start_with_config`]).
    pub fn registry_auth_yaml(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            self.url(),
            self.cert_path().display()
        )
    }
    /// How many tokens the server has issued so far.
    pub fn issued(&self) -> u64 {
        let r = Http::new(self.url(), Auth::None).get("/count");
        r.expect_status(200, "GET /count on the token server");
        r.json()["issued"]
            .as_u64()
            .unwrap_or_else(|| panic!("no issued count: {r}"))
    }
    /// `GET /token?service=...&scope=<scope>` with Basic `user:password`; the raw answer.
    pub fn request_token(&self, user: &str, password: &str, scope: &str) -> Resp {
        let http = Http::new(self.url(), Auth::Basic(user.into(), password.into()));
        http.send(
            http.request(Method::GET, "/token")
                .query(&[("service", TOKEN_SERVICE), ("scope", scope)]),
        )
    }
    /// A token for `scope` (asserts that the server issues one).
    pub fn token(&self, user: &str, password: &str, scope: &str) -> String {
        let r = self.request_token(user, password, scope);
        r.expect_status(200, &format!("token for {scope}"));
        r.json()["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {r}"))
            .to_string()
    }
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.path().join("token-server.log")).unwrap_or_default()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        kill_child(&mut self.child);
        if thread::panicking() {
            eprintln!(
                "===== token server log for failed test {} =====\n{}\n===== end =====",
                current_test_name(),
                tail(&self.log(), 60)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP helper
// ---------------------------------------------------------------------------------------------

/// Credentials for [`Http`].
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

/// A small blocking HTTP client bound to a base URL.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    base: String,
    auth: Auth,
}

impl Http {
    pub fn new(base: impl Into<String>, auth: Auth) -> Http {
        let client = Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(90))
            .build()
            .expect("reqwest client");
        Http {
            client,
            base: base.into().trim_end_matches('/').to_string(),
            auth,
        }
    }

    /// Same server, other credentials.
    pub fn with_auth(&self, auth: Auth) -> Http {
        Http {
            client: self.client.clone(),
            base: self.base.clone(),
            auth,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Resolves a path (`/v2/...`), a relative `Location` or an absolute URL.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else if path_or_url.starts_with('/') {
            format!("{}{}", self.base, path_or_url)
        } else {
            format!("{}/{}", self.base, path_or_url)
        }
    }

    /// A request with credentials applied.
    pub fn request(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path_or_url));
        match &self.auth {
            Auth::None => rb,
            Auth::Basic(u, p) => rb.basic_auth(u, Some(p)),
            Auth::Bearer(t) => rb.bearer_auth(t),
        }
    }

    /// Sends and reads the whole response; panics on a transport error.
    pub fn send(&self, rb: RequestBuilder) -> Resp {
        self.try_send(rb)
            .unwrap_or_else(|e| panic!("HTTP request failed: {e}"))
    }

    /// Sends and reads the whole response; a transport error (including a body cut short)
    /// is returned as `Err`.
    pub fn try_send(&self, rb: RequestBuilder) -> Result<Resp, String> {
        let (client, req) = rb.build_split();
        let req = req.map_err(|e| format!("building request: {e}"))?;
        let method = req.method().to_string();
        let url = req.url().to_string();
        let mut resp = client
            .execute(req)
            .map_err(|e| format!("{method} {url}: {e:?}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        resp.read_to_end(&mut body).map_err(|e| {
            format!(
                "{method} {url}: status {status} but body read failed after {} bytes: {e:?}",
                body.len()
            )
        })?;
        Ok(Resp {
            method,
            url,
            status,
            headers,
            body,
        })
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path))
    }
    pub fn head(&self, path: &str) -> Resp {
        self.send(self.request(Method::HEAD, path))
    }
    pub fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path))
    }
    pub fn post(&self, path: &str, body: Vec<u8>) -> Resp {
        self.send(
            self.request(Method::POST, path)
                .header("Content-Type", "application/octet-stream")
                .body(body),
        )
    }
    /// `POST` with `Content-Type: application/json`.
    pub fn post_json(&self, path: &str, body: Vec<u8>) -> Resp {
        self.send(
            self.request(Method::POST, path)
                .header("Content-Type", "application/json")
                .body(body),
        )
    }

    /// `GET /api/v1/artifacts/{digest}`: the artifact record with its evidence.
    pub fn artifact_record(&self, digest: &str) -> Resp {
        self.get(&format!("/api/v1/artifacts/{digest}"))
    }

    /// `GET /v2/<repo>/tags/list` → 200; the tags (empty for an unknown repository).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let r = self.get(&format!("/v2/{repo}/tags/list"));
        if r.status == 404 {
            return Vec::new();
        }
        r.expect_status(200, &format!("GET tags of {repo}"));
        r.json()["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Pushes a [`CosignImage`]'s blobs, then its manifest under `reference`; the manifest
    /// PUT's raw answer (blob uploads must succeed).
    pub fn push_cosign_image(&self, repo: &str, reference: &str, image: &CosignImage) -> Resp {
        self.push_blob(repo, &image.config.data);
        for layer in &image.layers {
            self.push_blob(repo, &layer.data);
        }
        self.put_manifest(repo, reference, OCI_MANIFEST, &image.manifest)
    }

    // ----- OCI helpers -----

    /// Empty `POST /v2/<repo>/blobs/uploads/[?<query>]` (`query` may be empty, or e.g.
    /// `mount=<digest>&from=<repo>`); the raw answer.
    pub fn post_upload(&self, repo: &str, query: &str) -> Resp {
        let mut path = format!("/v2/{repo}/blobs/uploads/");
        if !query.is_empty() {
            path = with_query(&path, query);
        }
        self.send(
            self.request(Method::POST, &path)
                .header("Content-Length", "0"),
        )
    }

    /// `POST /v2/<repo>/blobs/uploads/` → 202; returns the absolute upload URL.
    pub fn start_upload(&self, repo: &str) -> String {
        let r = self.post_upload(repo, "");
        r.expect_status(202, "start upload");
        self.url(&r.location())
    }

    /// `PATCH <location>` with `data` as the chunk starting at byte `start`
    /// (`Content-Range: <start>-<end>`); the raw answer.
    pub fn patch_chunk(&self, location: &str, start: usize, data: &[u8]) -> Resp {
        self.send(
            self.request(Method::PATCH, location)
                .header("Content-Type", "application/octet-stream")
                .header(
                    "Content-Range",
                    format!("{}-{}", start, start + data.len() - 1),
                )
                .body(data.to_vec()),
        )
    }

    /// Closing `PUT <location>?digest=<digest>` with `body` (empty after chunks, the whole
    /// blob for a monolithic upload); the raw answer.
    pub fn put_upload(&self, location: &str, digest: &str, body: Vec<u8>) -> Resp {
        self.send(
            self.request(
                Method::PUT,
                &with_query(location, &format!("digest={digest}")),
            )
            .header("Content-Type", "application/octet-stream")
            .body(body),
        )
    }

    /// Monolithic upload (POST then PUT ?digest=); asserts 201 and returns the digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let loc = self.start_upload(repo);
        let r = self.put_upload(&loc, &digest, data.to_vec());
        r.expect_status(201, &format!("PUT blob {digest} into {repo}"));
        digest
    }

    /// `PUT /v2/<repo>/manifests/<reference>`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Resp {
        self.send(
            self.request(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
                .header("Content-Type", media_type)
                .body(bytes.to_vec()),
        )
    }

    /// `GET /v2/<repo>/manifests/<reference>` with a broad `Accept`.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Resp {
        self.send(
            self.request(Method::GET, &format!("/v2/{repo}/manifests/{reference}"))
                .header("Accept", MANIFEST_ACCEPT),
        )
    }

    /// `HEAD /v2/<repo>/manifests/<reference>` with a broad `Accept`.
    pub fn head_manifest(&self, repo: &str, reference: &str) -> Resp {
        self.send(
            self.request(Method::HEAD, &format!("/v2/{repo}/manifests/{reference}"))
                .header("Accept", MANIFEST_ACCEPT),
        )
    }

    /// Asserts that `repo` holds `image`: its manifest by digest and both blobs, byte for byte.
    #[track_caller]
    pub fn expect_image(&self, repo: &str, image: &TinyImage, what: &str) {
        let r = self.get_manifest(repo, &image.digest);
        r.expect_status(200, &format!("{what}: GET manifest {}", image.digest));
        assert!(
            r.body == image.manifest,
            "{what}: manifest bytes differ:\n{r}"
        );
        for blob in [&image.config, &image.layer] {
            let r = self.get(&format!("/v2/{repo}/blobs/{}", blob.digest));
            r.expect_status(200, &format!("{what}: GET blob {}", blob.digest));
            assert!(
                r.body == blob.data,
                "{what}: blob {} differs ({} bytes)",
                blob.digest,
                r.body.len()
            );
        }
    }

    /// Asserts that `repo` holds no part of `image`: manifest by digest and both blobs 404.
    #[track_caller]
    pub fn expect_no_image(&self, repo: &str, image: &TinyImage, what: &str) {
        self.get_manifest(repo, &image.digest)
            .expect_status(404, &format!("{what}: GET manifest {}", image.digest));
        for blob in [&image.config, &image.layer] {
            self.head(&format!("/v2/{repo}/blobs/{}", blob.digest))
                .expect_status(404, &format!("{what}: HEAD blob {}", blob.digest));
        }
    }

    /// `GET /v2/<repo>/referrers/<subject>?artifactType=<artifact_type>`; asserts 200 and
    /// that the filter is announced (`OCI-Filters-Applied: artifactType`). Returns the response
    /// and the listed descriptors.
    #[track_caller]
    pub fn filtered_referrers(
        &self,
        repo: &str,
        subject: &str,
        artifact_type: &str,
    ) -> (Resp, Vec<Value>) {
        let what = format!("GET referrers of {subject} with artifactType={artifact_type}");
        let r = self.get(&format!(
            "/v2/{repo}/referrers/{subject}?artifactType={}",
            artifact_type.replace('+', "%2B")
        ));
        r.expect_status(200, &what)
            .expect_header("OCI-Filters-Applied", "artifactType", &what);
        let listed = r.json()["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("{what}: no manifests array:\n{r}"));
        (r, listed)
    }

    /// Pushes the image's blobs and its manifest under `tag`; asserts 201 and returns the
    /// manifest digest.
    pub fn push_image(&self, repo: &str, tag: &str, image: &TinyImage) -> String {
        self.push_blob(repo, &image.config.data);
        self.push_blob(repo, &image.layer.data);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &image.manifest);
        r.expect_status(201, &format!("PUT manifest {repo}:{tag}"));
        image.digest.clone()
    }
}

/// Appends `query` (`k=v`) to a URL that may already carry a query string.
pub fn with_query(url: &str, query: &str) -> String {
    if url.contains('?') {
        format!("{url}&{query}")
    } else {
        format!("{url}?{query}")
    }
}

/// One entry of an OCI error body.
#[derive(Debug, Clone)]
pub struct OciError {
    pub code: String,
    pub message: String,
    pub detail: Value,
}

impl OciError {
    /// `detail` (any JSON) and `message` rendered as text.
    pub fn detail_text(&self) -> String {
        match &self.detail {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub method: String,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl fmt::Display for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} -> {}", self.method, self.url, self.status)?;
        for (k, v) in &self.headers {
            writeln!(f, "  {}: {}", k, v.to_str().unwrap_or("<binary>"))?;
        }
        let text = String::from_utf8_lossy(&self.body);
        let shown: String = text.chars().take(1500).collect();
        write!(f, "  body ({} bytes): {}", self.body.len(), shown)
    }
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }
    /// The `Location` header (panics if missing).
    pub fn location(&self) -> String {
        self.header("Location")
            .unwrap_or_else(|| panic!("no Location header in {self}"))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Body as JSON (panics with the response if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {self}"))
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The OCI `errors` array (empty if the body is not an OCI error envelope).
    pub fn errors(&self) -> Vec<OciError> {
        let Ok(v) = serde_json::from_slice::<Value>(&self.body) else {
            return Vec::new();
        };
        v["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| OciError {
                        code: e["code"].as_str().unwrap_or_default().to_string(),
                        message: e["message"].as_str().unwrap_or_default().to_string(),
                        detail: e.get("detail").cloned().unwrap_or(Value::Null),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts the status code.
    #[track_caller]
    pub fn expect_status(&self, status: u16, what: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "{what}: expected HTTP {status}, got:\n{self}"
        );
        self
    }

    /// Asserts the status and that the OCI error envelope holds `code`; returns that entry.
    #[track_caller]
    pub fn expect_oci_error(&self, status: u16, code: &str, what: &str) -> OciError {
        self.expect_status(status, what);
        let errors = self.errors();
        assert!(
            !errors.is_empty(),
            "{what}: expected an OCI error body {{\"errors\":[...]}}, got:\n{self}"
        );
        errors
            .iter()
            .find(|e| e.code == code)
            .cloned()
            .unwrap_or_else(|| panic!("{what}: expected error code {code}, got:\n{self}"))
    }

    /// Asserts that header `name` is present with exactly the value `expected`.
    #[track_caller]
    pub fn expect_header(&self, name: &str, expected: &str, what: &str) -> &Self {
        assert_eq!(
            self.header(name).as_deref(),
            Some(expected),
            "{what}: expected header {name}: {expected}, got:\n{self}"
        );
        self
    }

    /// Asserts the headers that describe served content: `Docker-Content-Digest`,
    /// `Content-Length` and, when given, `Content-Type` — for a GET and a HEAD alike.
    #[track_caller]
    pub fn expect_content_headers(
        &self,
        digest: &str,
        length: usize,
        media_type: Option<&str>,
        what: &str,
    ) -> &Self {
        self.expect_header("Docker-Content-Digest", digest, what);
        self.expect_header("Content-Length", &length.to_string(), what);
        if let Some(media_type) = media_type {
            self.expect_header("Content-Type", media_type, what);
        }
        self
    }

    /// Asserts a gateway-style failure: a status among `allowed` (502/503/504) with an OCI
    /// error body.
    #[track_caller]
    pub fn expect_gateway_error(&self, allowed: &[u16], what: &str) -> &Self {
        assert!(
            allowed.contains(&self.status),
            "{what}: expected one of {allowed:?}, got:\n{self}"
        );
        assert!(
            !self.errors().is_empty(),
            "{what}: expected an OCI error body {{\"errors\":[...]}}, got:\n{self}"
        );
        self
    }

    /// Asserts 403 `DENIED` whose `detail.reason` is exactly `reason`; returns the entry.
    #[track_caller]
    pub fn expect_denied_reason(&self, reason: &str, what: &str) -> OciError {
        let e = self.expect_oci_error(403, "DENIED", what);
        assert_eq!(
            e.detail["reason"].as_str(),
            Some(reason),
            "{what}: expected DENIED with detail.reason {reason:?}, got detail {} / message {:?}:\n{self}",
            e.detail,
            e.message
        );
        e
    }

    /// Asserts 403 `DENIED` whose `detail` mentions `reason` (a policy reason code).
    #[track_caller]
    pub fn expect_denied(&self, reason: &str, what: &str) {
        let e = self.expect_oci_error(403, "DENIED", what);
        assert!(
            e.detail_text().contains(reason),
            "{what}: expected DENIED detail to contain {reason:?}, got detail {} / message {:?}:\n{self}",
            e.detail,
            e.message
        );
    }
}

// ---------------------------------------------------------------------------------------------
// OCI content builders
// ---------------------------------------------------------------------------------------------

/// A blob with its media type and digest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: sha256_digest(&data),
            data,
        }
    }
    /// The OCI empty blob `{}`.
    pub fn empty() -> Blob {
        Blob::new(OCI_EMPTY, b"{}".to_vec())
    }
    /// OCI descriptor JSON.
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// A tiny, unique one-layer OCI image (port of `make-oci-layout.sh`).
#[derive(Debug, Clone)]
pub struct TinyImage {
    pub config: Blob,
    pub layer: Blob,
    /// Exact manifest bytes.
    pub manifest: Vec<u8>,
    /// Digest of `manifest`.
    pub digest: String,
}

impl Default for TinyImage {
    fn default() -> Self {
        Self::new()
    }
}

impl TinyImage {
    /// Builds a new image whose layer contains `etc/hello.txt` with unique content.
    pub fn new() -> TinyImage {
        let hello = format!("hello from tollgate {}\n", unique());
        let tar_bytes = build_tar(&[("etc/hello.txt", hello.as_bytes())]);
        let diff_id = sha256_digest(&tar_bytes);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar_bytes).expect("gzip");
        let layer = Blob::new(OCI_LAYER_GZIP, gz.finish().expect("gzip finish"));
        let config_json = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/true"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        let config = Blob::new(OCI_CONFIG, config_json.into_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER_GZIP}","digest":"{}","size":{}}}]}}"#,
            config.digest,
            config.data.len(),
            layer.digest,
            layer.data.len()
        )
        .into_bytes();
        let digest = sha256_digest(&manifest);
        TinyImage {
            config,
            layer,
            manifest,
            digest,
        }
    }

    /// Another manifest over the same blobs, made distinct by an annotation; returns
    /// `(bytes, digest)`.
    pub fn variant(&self, annotation: &str) -> (Vec<u8>, String) {
        self.annotated("org.opencontainers.image.description", annotation)
    }

    /// A manifest over the same blobs carrying the annotation `key: value` (which may be
    /// large); returns `(bytes, digest)`.
    pub fn annotated(&self, key: &str, value: &str) -> (Vec<u8>, String) {
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.config.descriptor(),
            "layers": [self.layer.descriptor()],
            "annotations": {key: value},
        }))
        .expect("json");
        let digest = sha256_digest(&bytes);
        (bytes, digest)
    }

    /// Descriptor of this image's manifest (for use as a `subject`).
    pub fn manifest_descriptor(&self) -> Value {
        json!({"mediaType": OCI_MANIFEST, "digest": self.digest, "size": self.manifest.len()})
    }

    /// Writes an OCI image layout at `dir` (replaced) with `tag` as `ref.name`.
    pub fn write_layout(&self, dir: &Path, tag: &str) {
        let _ = fs::remove_dir_all(dir);
        let blobs = dir.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).expect("mkdir layout");
        for (digest, data) in [
            (&self.layer.digest, &self.layer.data),
            (&self.config.digest, &self.config.data),
            (&self.digest, &self.manifest),
        ] {
            fs::write(blobs.join(digest_hex(digest)), data).expect("write blob");
        }
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#,
            self.digest,
            self.manifest.len()
        );
        fs::write(dir.join("index.json"), index).expect("write index.json");
        fs::write(
            dir.join("oci-layout"),
            "{\"imageLayoutVersion\":\"1.0.0\"}\n",
        )
        .expect("write oci-layout");
    }
}

/// Builds a tiny unique image and writes it as an OCI layout at `dir`; like
/// `make-oci-layout.sh DIR TAG`.
pub fn make_oci_layout(dir: &Path, tag: &str) -> TinyImage {
    let img = TinyImage::new();
    img.write_layout(dir, tag);
    img
}

/// Reads an OCI layout's `index.json` and returns the manifest digest for `ref.name == tag`
/// (or the only manifest when there is one).
pub fn layout_manifest_digest(dir: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("read index.json"))
            .expect("index.json is JSON");
    let manifests = index["manifests"].as_array().expect("manifests array");
    manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .or_else(|| (manifests.len() == 1).then(|| &manifests[0]))
        .and_then(|m| m["digest"].as_str())
        .unwrap_or_else(|| panic!("no manifest for {tag} in {index}"))
        .to_string()
}

/// Reads a blob from an OCI layout.
pub fn layout_blob(dir: &Path, digest: &str) -> Vec<u8> {
    fs::read(dir.join("blobs").join("sha256").join(digest_hex(digest)))
        .unwrap_or_else(|e| panic!("layout {} lacks blob {digest}: {e}", dir.display()))
}

fn build_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = Vec::new();
    for (path, _) in files {
        if let Some((dir, _)) = path.rsplit_once('/')
            && !dirs.iter().any(|d| d == dir)
        {
            dirs.push(dir.to_string());
        }
    }
    for dir in dirs {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        builder
            .append_data(&mut h, format!("{dir}/"), std::io::empty())
            .expect("tar dir");
    }
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        builder.append_data(&mut h, path, *data).expect("tar file");
    }
    builder.into_inner().expect("tar finish")
}

/// An OCI 1.1 artifact manifest: empty config, `artifactType`, one layer, optional subject
/// and annotations. Returns `(bytes, digest)`.
pub fn artifact_manifest(
    artifact_type: &str,
    layer: &Blob,
    subject: Option<Value>,
    annotations: &BTreeMap<String, String>,
) -> (Vec<u8>, String) {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": Blob::empty().descriptor(),
        "layers": [layer.descriptor()],
    });
    if let Some(s) = subject {
        m["subject"] = s;
    }
    if !annotations.is_empty() {
        m["annotations"] = json!(annotations);
    }
    let bytes = serde_json::to_vec(&m).expect("json");
    let digest = sha256_digest(&bytes);
    (bytes, digest)
}

// ---------------------------------------------------------------------------------------------
// evidence (cosign signature images, DSSE)
// ---------------------------------------------------------------------------------------------

/// Layer media type of a cosign signature (the blob is the simple-signing payload).
pub const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer media type of a DSSE envelope (cosign `.att` layers, in-toto referrers).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Layer annotation holding a cosign signature (base64).
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding cosign's Rekor offline bundle (JSON text).
pub const COSIGN_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Layer annotation holding a signing certificate (PEM).
pub const COSIGN_CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";

/// cosign's tag for evidence about `digest`: `sha256-<hex><suffix>` (`.sig`, `.att`).
pub fn cosign_tag(digest: &str, suffix: &str) -> String {
    format!("{}{suffix}", digest.replace(':', "-"))
}

/// A cosign signature image as `cosign sign` stores it: a config listing one diff id per
/// layer, and one layer per signature with its annotations.
#[derive(Debug, Clone)]
pub struct CosignImage {
    pub config: Blob,
    pub layers: Vec<Blob>,
    /// Exact manifest bytes.
    pub manifest: Vec<u8>,
    /// Digest of `manifest`.
    pub digest: String,
}

impl CosignImage {
    /// Builds the image from `(media type, blob, annotations)` per layer.
    pub fn new(layers: &[(&str, Vec<u8>, BTreeMap<String, String>)]) -> CosignImage {
        let diff_ids: Vec<String> = layers.iter().map(|(_, b, _)| sha256_digest(b)).collect();
        let config = Blob::new(
            OCI_CONFIG,
            serde_json::to_vec(&json!({
                "architecture": "", "os": "", "config": {},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }))
            .expect("json"),
        );
        let blobs: Vec<Blob> = layers
            .iter()
            .map(|(mt, b, _)| Blob::new(mt, b.clone()))
            .collect();
        let descriptors: Vec<Value> = blobs
            .iter()
            .zip(layers)
            .map(|(blob, (_, _, ann))| {
                let mut d = blob.descriptor();
                if !ann.is_empty() {
                    d["annotations"] = json!(ann);
                }
                d
            })
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": descriptors,
        }))
        .expect("json");
        let digest = sha256_digest(&manifest);
        CosignImage {
            config,
            layers: blobs,
            manifest,
            digest,
        }
    }

    /// A one-layer `.sig` image: `payload` with the signature (and further) annotations.
    pub fn signature(payload: &[u8], annotations: &[(&str, &str)]) -> CosignImage {
        let ann = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::new(&[(COSIGN_SIMPLE_SIGNING, payload.to_vec(), ann)])
    }
}

// ---------------------------------------------------------------------------------------------
// fake upstreams
// ---------------------------------------------------------------------------------------------

/// How a [`FakeUpstream`] behaves.
#[derive(Debug, Clone, Copy)]
pub enum FakeMode {
    /// `/v2/` → 200; `GET|HEAD /v2/<name>/blobs/<digest>` → 200 with `blob_len` bytes that do
    /// *not* hash to `<digest>` (and `Docker-Content-Digest: <digest>`); anything else → 404.
    Lying { blob_len: usize },
    /// Accepts connections and never answers.
    Hanging,
}

/// An in-test upstream registry impostor on a std `TcpListener`.
#[derive(Debug)]
pub struct FakeUpstream {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeUpstream {
    pub fn start(mode: FakeMode) -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake upstream");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop2, reqs2) = (stop.clone(), requests.clone());
        let thread = thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        match mode {
                            FakeMode::Hanging => {
                                reqs2
                                    .lock()
                                    .expect("lock")
                                    .push("<connection accepted, never answered>".into());
                                held.push(stream);
                            }
                            FakeMode::Lying { blob_len } => {
                                let reqs3 = reqs2.clone();
                                thread::spawn(move || serve_lying(stream, blob_len, &reqs3));
                            }
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
            drop(held);
        });
        FakeUpstream {
            port,
            stop,
            thread: Some(thread),
            requests,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// Request lines seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The bytes a lying upstream serves for any blob: `len` bytes of `'L'`.
pub fn lying_bytes(len: usize) -> Vec<u8> {
    vec![b'L'; len]
}

fn serve_lying(mut stream: TcpStream, blob_len: usize, requests: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    requests.lock().expect("lock").push(request_line.clone());
    // drain a request body, if any
    let content_length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut have = buf.len() - header_end;
    while have < content_length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => have += n,
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let is_head = method == "HEAD";
    let blob_digest = path
        .strip_prefix("/v2/")
        .and_then(|p| p.rsplit_once("/blobs/"))
        .map(|(_, d)| d)
        .filter(|d| d.starts_with("sha256:"));
    let response: Vec<u8> = if path == "/v2/" || path == "/v2" {
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec()
    } else if let (Some(d), true) = (blob_digest, method == "GET" || is_head) {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nDocker-Content-Digest: {d}\r\nContent-Length: {blob_len}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        if !is_head {
            r.extend_from_slice(&lying_bytes(blob_len));
        }
        r
    } else {
        let body =
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"fake upstream knows nothing"}]}"#;
        let mut r = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        if !is_head {
            r.extend_from_slice(body.as_bytes());
        }
        r
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    // give the peer a moment to read before the socket is dropped
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.read(&mut chunk);
}

// ---------------------------------------------------------------------------------------------
// keyless Sigstore: mock Fulcio + Rekor + TSA + OIDC, and @sigstore/cli
// ---------------------------------------------------------------------------------------------

/// The certificate identity (SAN) [`SigstoreMock`]'s Fulcio issues.
pub const MOCK_IDENTITY: &str = "ci@tollgate.test";
/// The OIDC issuer [`SigstoreMock`]'s Fulcio records in its certificates.
pub const MOCK_OIDC_ISSUER: &str = "https://oidc.tollgate.test";
/// Media type (and artifact type) of a Sigstore bundle v0.3.
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// `_type` of an in-toto Statement v1.
pub const INTOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// `tests/sigstore-mock`: the mock server and its npm packages.
pub fn sigstore_mock_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sigstore-mock")
}

/// Returns true if `node` is on `PATH` and the mock's npm packages are installed (the
/// `@sigstore/cli` launcher and `@sigstore/mock`); otherwise skips or fails like
/// [`require_tools`].
pub fn require_sigstore_mock() -> bool {
    if !require_tools(&["node"]) {
        return false;
    }
    let dir = sigstore_mock_dir();
    let installed = dir.join("node_modules/.bin/sigstore").is_file()
        && dir
            .join("node_modules/@sigstore/mock/package.json")
            .is_file();
    if installed {
        true
    } else {
        skip_or_fail(&format!(
            "npm packages in {} (`npm ci --prefix tests/sigstore-mock --no-audit --no-fund`)",
            dir.display()
        ))
    }
}

/// An in-toto Statement v1 about one subject (`name`, `sha256:<hex>` digest).
pub fn intoto_statement(name: &str, digest: &str, predicate_type: &str, predicate: Value) -> Value {
    json!({
        "_type": INTOTO_STATEMENT_V1,
        "subject": [{"name": name, "digest": {"sha256": digest_hex(digest)}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// `sigstore-mock/server.js` on a free loopback port: mock Fulcio (`/api/v2/signingCert`),
/// Rekor (`/api/v1/log/entries`), TSA (`/api/v1/timestamp`) and an OIDC token endpoint
/// (`/oidc/token`) issuing tokens for [`MOCK_IDENTITY`] from [`MOCK_OIDC_ISSUER`]. Each instance
/// makes its own keys and writes the matching `trusted_root.json`. Killed on drop (its log
/// printed when the test failed).
#[derive(Debug)]
pub struct SigstoreMock {
    child: Child,
    port: u16,
    root: TempDir,
}

impl SigstoreMock {
    /// Starts the server and waits until `GET /oidc/token` answers 200 (it writes its files
    /// before it listens).
    pub fn start() -> SigstoreMock {
        Self::start_with_env(&[])
    }

    /// [`SigstoreMock::start`] with extra environment for `server.js` (for example
    /// `SIGSTORE_MOCK_CA_OFFSET_SECS`).
    pub fn start_with_env(env: &[(&str, &str)]) -> SigstoreMock {
        let root = tempfile::Builder::new()
            .prefix("tollgate-e2e-sigstore-")
            .tempdir()
            .expect("tempdir");
        let out = root.path().join("out");
        fs::create_dir_all(&out).expect("mkdir");
        let command = |port: u16| {
            let mut cmd = Command::new("node");
            cmd.arg(sigstore_mock_dir().join("server.js"))
                .arg(port.to_string())
                .arg(&out)
                .envs(env.iter().copied());
            cmd
        };
        let (child, port) = spawn_helper_server(
            "sigstore mock (node server.js)",
            &root.path().join("sigstore-mock.log"),
            command,
            "/oidc/token",
            |status| status == 200,
        );
        let mock = SigstoreMock { child, port, root };
        assert!(
            mock.trusted_root_path().is_file(),
            "sigstore mock wrote no {}",
            mock.trusted_root_path().display()
        );
        mock
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    /// `http://127.0.0.1:<port>`: the Fulcio, Rekor and TSA URL alike.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// The `trusted_root.json` describing this instance's CA, log, CT log and TSA.
    pub fn trusted_root_path(&self) -> PathBuf {
        self.root.path().join("out").join("trusted_root.json")
    }
    /// The bytes of [`SigstoreMock::trusted_root_path`].
    pub fn trusted_root(&self) -> Vec<u8> {
        fs::read(self.trusted_root_path()).expect("read trusted_root.json")
    }
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.path().join("sigstore-mock.log")).unwrap_or_default()
    }

    /// Signs `statement` keylessly with `@sigstore/cli attest` against this instance — an
    /// identity token from the OIDC endpoint (the GitHub Actions environment contract), a
    /// Fulcio certificate, a Rekor `intoto` entry and an RFC 3161 timestamp — and returns the
    /// Sigstore bundle (v0.3, DSSE) it wrote.
    pub fn attest(&self, statement: &Value) -> Vec<u8> {
        let name = unique();
        let dir = self.root.path().join("attest");
        fs::create_dir_all(&dir).expect("mkdir");
        let statement_path = dir.join(format!("{name}.statement.json"));
        let bundle_path = dir.join(format!("{name}.bundle.json"));
        fs::write(
            &statement_path,
            serde_json::to_vec(statement).expect("json"),
        )
        .expect("write statement");
        let url = self.url();
        let mut cmd = Command::new(sigstore_mock_dir().join("node_modules/.bin/sigstore"));
        cmd.arg("attest")
            .arg(&statement_path)
            .args(["--fulcio-url", &url, "--rekor-url", &url])
            .args(["--tsa-server-url", &url, "--timeout", "60"])
            .arg("-o")
            .arg(&bundle_path)
            .env("CI", "true")
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{url}/oidc/token"))
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "x");
        let out = run_command(&mut cmd, Duration::from_secs(180));
        assert!(
            out.success(),
            "sigstore attest failed: {out}\n--- sigstore mock log ---\n{}",
            tail(&self.log(), 40)
        );
        let bundle = fs::read(&bundle_path)
            .unwrap_or_else(|e| panic!("sigstore attest wrote no bundle ({e}): {out}"));
        let v: Value = serde_json::from_slice(&bundle)
            .unwrap_or_else(|e| panic!("sigstore attest wrote no JSON bundle ({e}): {out}"));
        assert_eq!(v["mediaType"], SIGSTORE_BUNDLE_V03, "bundle: {v}");
        assert!(
            v["dsseEnvelope"]["payload"].is_string(),
            "bundle without a DSSE envelope: {v}"
        );
        bundle
    }
}

impl Drop for SigstoreMock {
    fn drop(&mut self) {
        kill_child(&mut self.child);
        if thread::panicking() {
            eprintln!(
                "===== sigstore mock log for failed test {} =====\n{}\n===== end =====",
                current_test_name(),
                tail(&self.log(), 60)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// keyless cosign signatures (legacy `.sig` tags) against the mock: scripts/cosign_keyless_sign.py
// ---------------------------------------------------------------------------------------------

/// Layer annotation holding the rest of a signing certificate's chain (PEM).
pub const COSIGN_CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";

/// [`require_sigstore_mock`] plus the python modules `cosign_keyless_sign.py` imports.
pub fn require_keyless_cosign_signer() -> bool {
    require_sigstore_mock()
        && require_python_module("cryptography")
        && require_python_module("requests")
}

/// The manifest PUT a helper script made (its JSON result, or the result's `push` object), as
/// a [`Resp`] for the usual assertions.
#[track_caller]
pub fn script_push_resp(result: &Value) -> Resp {
    let push = result.get("push").unwrap_or(result);
    Resp {
        method: "PUT".into(),
        url: format!(
            "(script) manifests/{}",
            push["reference"].as_str().unwrap_or_default()
        ),
        status: push["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_else(|| panic!("no push status in script result {result}")),
        headers: HeaderMap::new(),
        body: push["body"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
    }
}

impl SigstoreMock {
    /// Signs `digest` keylessly the way `cosign sign` (v1/v2, no key) does, with
    /// `scripts/cosign_keyless_sign.py` against this instance (an OIDC token, a Fulcio
    /// certificate for an ephemeral key, a Rekor `hashedrekord` entry and its offline bundle),
    /// and pushes the `.sig` image to `repo` on `host` with Basic auth (`ci`, `token`);
    /// `extra` are further script options (`--tag-digest`, `--tamper-bundle`, `--drop-bundle`,
    /// `--out DIR`, `--no-push`). Returns the script's JSON result; the push's status is in
    /// `result["push"]` (see [`script_push_resp`]).
    #[track_caller]
    pub fn cosign_keyless_sign(
        &self,
        host: &str,
        token: &str,
        repo: &str,
        digest: &str,
        extra: &[&str],
    ) -> Value {
        let url = self.url();
        let mut args: Vec<&str> = vec![host, repo, "--digest", digest, "--sigstore", &url];
        args.extend_from_slice(extra);
        let out = python3_script(
            &scripts_dir().join("cosign_keyless_sign.py"),
            &args,
            &[("TOLLGATE_TOKEN", token)],
        );
        assert!(
            out.success(),
            "cosign_keyless_sign.py failed: {out}\n--- sigstore mock log ---\n{}",
            tail(&self.log(), 40)
        );
        let stdout = out.stdout_str();
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!("cosign_keyless_sign.py printed no JSON result ({e}): {out}")
        })
    }
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    BASE64_ALPHABET[(n >> (18 - 6 * i)) as usize & 63],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = BASE64_ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_images_are_unique_and_consistent() {
        let a = TinyImage::new();
        let b = TinyImage::new();
        assert_ne!(a.digest, b.digest);
        assert_eq!(sha256_digest(&a.manifest), a.digest);
        let m: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["layers"][0]["digest"], a.layer.digest.as_str());
        assert_eq!(m["config"]["size"], a.config.data.len());
        let (v, d) = a.variant("x");
        assert_eq!(sha256_digest(&v), d);
        assert_ne!(d, a.digest);
    }

    #[test]
    fn layout_roundtrip() {
        let dir = TempDir::new().unwrap();
        let img = make_oci_layout(&dir.path().join("l"), "v1");
        assert_eq!(
            layout_manifest_digest(&dir.path().join("l"), "v1"),
            img.digest
        );
        assert_eq!(
            layout_blob(&dir.path().join("l"), &img.layer.digest),
            img.layer.data
        );
    }

    #[test]
    fn metric_parsing() {
        let text = "# TYPE x counter\nx_total 2\nx_total{a=\"b\"} 3\nx_total_other 9\n";
        assert_eq!(metric_sum(text, "x_total"), Some(5.0));
        assert_eq!(metric_sum(text, "y_total"), None);
        assert_eq!(metric_series(text, "x_total{a=\"b\"}"), Some(3.0));
        assert_eq!(metric_series(text, "x_total"), Some(2.0));
        assert_eq!(metric_series(text, "x_total{a=\"c\"}"), None);
    }

    #[test]
    fn base64_roundtrip() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        for n in 0..40 {
            let data = pseudo_random_bytes(n, n as u64);
            assert_eq!(base64_decode(&base64_encode(&data)), Some(data));
        }
        assert_eq!(base64_decode("Zm9vYg"), Some(b"foob".to_vec()));
        assert_eq!(base64_decode("Zm9v!"), None);
    }

    #[test]
    fn query_appending() {
        assert_eq!(with_query("/a", "d=1"), "/a?d=1");
        assert_eq!(with_query("/a?x=2", "d=1"), "/a?x=2&d=1");
    }
}

/// Seconds since the Unix epoch as RFC 3339 UTC (`2026-11-27T09:00:00Z`), for request bodies
/// that name a time.
pub fn rfc3339_secs(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let tod = secs % 86_400;
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
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

#[cfg(test)]
mod rfc3339_tests {
    #[test]
    fn formats_known_instants() {
        assert_eq!(super::rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339_secs(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
