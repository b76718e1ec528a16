//! Configuration: a TOML file parsed into [`FileConfig`], merged with command-line flags, then
//! validated into the typed [`Config`] the gateway runs on. Errors name the file and line.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tollgate_policies::retention::RetentionRule;
use tollgate_policies::{Pattern, RepoName, SemverRule, TagRules};
use toml::Spanned;

mod files;
pub use files::{FileFormat, FileRepo, FileRepoUpstream, UpstreamKind, VersionPolicy, VersionRule};
mod webhooks;
pub use webhooks::WebhookConfig;
mod schedule;
pub use schedule::{Dependency, PromotionsConfig, Requirement};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";
pub const DEFAULT_DATA: &str = "./tollgate-data";
/// The OCI spec asks registries to accept at least 4 MiB manifests.
pub const DEFAULT_MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
pub const DEFAULT_AUDIT_ORIGIN: &str = "tollgate/audit";
/// Allowed admission reviews are summed over this long before one audit entry records them.
pub const DEFAULT_ADMISSION_SUMMARY: Duration = Duration::from_secs(60);

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<Spanned<String>>,
    pub data: Option<PathBuf>,
    pub log_format: Option<Spanned<String>>,
    #[serde(default)]
    pub anonymous_pull: bool,
    pub max_manifest_bytes: Option<Spanned<usize>>,
    pub upstream: Option<FileUpstream>,
    #[serde(default)]
    pub repositories: Vec<FileRepository>,
    #[serde(default)]
    pub environments: Vec<FileEnvironment>,
    /// Raw and Maven repositories (`/repository/…`, `/artifactory/…`).
    #[serde(default)]
    pub file_repositories: Vec<files::FileFileRepository>,
    pub trust: Option<FileTrust>,
    pub policy: Option<FilePolicy>,
    pub retention: Option<FileRetention>,
    pub audit: Option<FileAudit>,
    pub admission: Option<FileAdmission>,
    pub tls: Option<FileTls>,
    pub store: Option<FileStore>,
    /// Deployment events out: CloudEvents webhooks (`crate::events`).
    #[serde(default)]
    pub webhooks: Vec<webhooks::FileWebhook>,
    /// The promotion scheduler.
    pub promotions: Option<schedule::FilePromotions>,
    /// What a repository needs in an environment before it may be promoted there.
    #[serde(default)]
    pub dependencies: Vec<schedule::FileDependency>,
}

/// `[store]`: where metadata lives; absent: the embedded store in the data directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStore {
    /// `postgres://user:password@host:port/database`: replicas share this database.
    pub url: Option<Spanned<String>>,
    /// Database connections per replica (default 16).
    pub pool_size: Option<Spanned<usize>>,
    /// How long a replica may answer tag, pull and admission lookups from its cache after
    /// another replica changed them (default 0: always ask the database).
    pub cache_ms: Option<Spanned<u64>>,
}

/// `[admission]`: how Kubernetes admission requests are judged.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAdmission {
    /// `host[:port]` names by which clusters pull from this gateway.
    #[serde(default)]
    pub registries: Vec<Spanned<String>>,
    /// Globs over normalised image names (`docker.io/istio/proxyv2`) admitted unchecked.
    #[serde(default)]
    pub exempt_images: Vec<Spanned<String>>,
    /// `enforce` (default) or `warn`, for every environment without its own.
    pub mode: Option<Spanned<String>>,
    #[serde(default)]
    pub environments: std::collections::BTreeMap<String, FileAdmissionEnvironment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAudit {
    /// The log's name in its checkpoints (C2SP origin), e.g. `tollgate.example.com/audit`.
    pub origin: Option<Spanned<String>>,
    /// An Ed25519 PKCS#8 key (DER or PEM) signing checkpoints, relative to this file;
    /// without it one is generated in the data directory on first start.
    pub key: Option<Spanned<String>>,
    /// Prune entry bodies older than this many days (absent: keep forever)…
    pub retention_days: Option<Spanned<u64>>,
    /// …or, per action (`"pull-denied" = 90`), this many.
    #[serde(default)]
    pub retention_by_action: std::collections::BTreeMap<String, Spanned<u64>>,
    /// How often to prune (default 24).
    pub prune_interval_hours: Option<Spanned<u64>>,
    /// Allowed admission reviews are summed and written once per this many seconds
    /// (default 60).
    pub admission_summary_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAdmissionEnvironment {
    pub mode: Spanned<String>,
}

/// `[tls]`: serve HTTPS with this PEM certificate chain and key (paths relative to the file).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTls {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRetention {
    /// Apply the rules on this schedule while serving (default: only when asked).
    pub interval_hours: Option<Spanned<u64>>,
    #[serde(default)]
    pub rules: Vec<FileRetentionRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRetentionRule {
    pub repositories: Spanned<String>,
    pub keep_versions: Option<Spanned<u64>>,
    pub untagged_days: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePolicy {
    /// The directory of promotion policy files, relative to the config file.
    pub dir: Spanned<String>,
    /// Reload when a file in it changes (default true); SIGHUP always reloads.
    pub watch: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTrust {
    /// A Sigstore `trusted_root.json` (Fulcio CAs, Rekor/CT keys, TSAs), relative to the file.
    pub trusted_root: Option<Spanned<String>>,
    #[serde(default)]
    pub keys: Vec<FileKey>,
    #[serde(default)]
    pub identities: Vec<FileIdentity>,
    #[serde(default)]
    pub builders: Vec<Spanned<String>>,
    /// Refuse pushed evidence that does not verify (default true).
    pub refuse_unverified: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileKey {
    pub name: Spanned<String>,
    pub path: Option<Spanned<String>>,
    pub pem: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIdentity {
    pub issuer: Spanned<String>,
    pub subject: Option<Spanned<String>>,
    pub subject_regex: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUpstream {
    pub url: Spanned<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout_secs: Option<Spanned<u64>>,
    pub connect_timeout_secs: Option<Spanned<u64>>,
    /// Keep the blobs of promoted artifacts on local disk, up to this many bytes, so
    /// environments keep deploying while the upstream is down (0 or absent: off).
    pub blob_cache_bytes: Option<u64>,
    /// How often tags whose mirror upstream failed or was interrupted are tried again.
    pub tag_mirror_interval_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRepository {
    pub pattern: Spanned<String>,
    pub immutable_tags: Option<Vec<Spanned<String>>>,
    pub mutable_tags: Option<Vec<Spanned<String>>>,
    pub semver: Option<Spanned<String>>,
    #[serde(default)]
    pub allow_v_prefix: bool,
    pub allow_delete: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEnvironment {
    pub name: Spanned<String>,
    pub prefix: Option<Spanned<String>>,
    pub promotes_to: Option<Spanned<String>>,
}

/// Command-line values, which win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub upstream: Option<String>,
    pub log_format: Option<String>,
    pub policy: Option<PathBuf>,
    /// `--store postgres://…`.
    pub store: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How often, by default, tag mirrors left queued are tried again (`tag_mirror_interval_secs`).
pub const DEFAULT_TAG_MIRROR_INTERVAL: Duration = Duration::from_secs(30);

/// How to reach the upstream registry.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub url: url::Url,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Bound on waiting for each response head and for each body chunk.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Size cap of the promoted-blob cache under the data directory; 0 is off.
    pub blob_cache_bytes: u64,
    /// Period of the pass re-trying tag mirrors a crash or an upstream failure left queued.
    pub tag_mirror_interval: Duration,
}

/// Rules for the repositories matching `pattern`; the first matching rule applies.
#[derive(Debug, Clone)]
pub struct RepositoryRule {
    pub pattern: Pattern,
    pub tags: TagRules,
    pub allow_delete: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Environment {
    pub name: String,
    /// Repositories under this prefix belong to the environment (e.g. `prod/`).
    pub prefix: String,
    pub promotes_to: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub log_format: LogFormat,
    pub anonymous_pull: bool,
    pub max_manifest_bytes: usize,
    pub upstream: Option<UpstreamConfig>,
    pub repositories: Vec<RepositoryRule>,
    pub environments: Vec<Environment>,
    /// Raw and Maven repositories, by name.
    pub file_repositories: Vec<FileRepo>,
    pub trust: TrustConfig,
    pub policy: Option<PolicyConfig>,
    pub retention: RetentionConfig,
    pub audit: AuditConfig,
    pub admission: AdmissionConfig,
    pub tls: Option<TlsConfig>,
    /// Where metadata lives: `None`, the embedded store in `data`.
    pub postgres: Option<PostgresConfig>,
    /// Where deployment events are delivered.
    pub webhooks: Vec<WebhookConfig>,
    /// The scheduler that runs scheduled promotions and re-checks waiting ones.
    pub promotions: PromotionsConfig,
    /// `[[dependencies]]`: validated, acyclic.
    pub dependencies: Vec<Dependency>,
}

/// A shared PostgreSQL store.
#[derive(Clone)]
pub struct PostgresConfig {
    /// Holds the password: never logged (see `Debug`).
    pub url: String,
    pub pool_size: usize,
    pub cache: Duration,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("cache", &self.cache)
            .finish()
    }
}

/// `url` without its password, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

/// Whether admission refusals are enforced or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdmissionMode {
    Enforce,
    /// Allow, with a warning per image that enforce mode would refuse (for roll-out).
    Warn,
}

/// How admission requests are judged.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Lower-case `host[:port]` names that stand for this gateway in image references.
    pub registries: Vec<String>,
    /// Images admitted without a check, by normalised name.
    pub exempt_images: Vec<Pattern>,
    pub default_mode: AdmissionMode,
    /// Per-environment modes.
    pub modes: Vec<(String, AdmissionMode)>,
}

impl AdmissionConfig {
    pub fn mode(&self, environment: &str) -> AdmissionMode {
        self.modes
            .iter()
            .find(|(e, _)| e == environment)
            .map_or(self.default_mode, |(_, m)| *m)
    }
}

/// The certificate the gateway serves HTTPS with.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub server: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
    /// The files behind `server`'s certificate, watched for renewals while serving.
    pub files: std::sync::Arc<crate::tls::CertFiles>,
}

/// How the audit log names and signs its checkpoints.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub origin: String,
    /// A configured signing key; `None`: the one in the data directory (made on first start).
    pub key: Option<PathBuf>,
    /// Days entries are kept; `None` forever.
    pub retention_days: Option<u64>,
    pub retention_by_action: std::collections::BTreeMap<String, u64>,
    pub prune_interval_hours: u64,
    /// How often allowed admission reviews are summarised into one entry per environment.
    pub admission_summary: Duration,
}

/// Retention rules (the first matching one applies) and the optional schedule.
#[derive(Debug, Clone, Default)]
pub struct RetentionConfig {
    pub rules: Vec<RetentionRule>,
    pub interval: Option<Duration>,
}

/// Where promotion policy is read from.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub dir: PathBuf,
    pub watch: bool,
}

/// What evidence is verified against, and the digest that names this trust configuration
/// in every verdict reached under it.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    pub trust: std::sync::Arc<tollgate_attest::Trust>,
    pub digest: tollgate_attest::Digest,
    pub refuse_unverified: bool,
}

/// A configuration error, located in its file where it has a location.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    pub location: String,
    pub message: String,
}

struct Source<'a> {
    name: &'a str,
    text: &'a str,
}

impl Source<'_> {
    /// Resolves a path written in the file relative to the file's directory.
    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        Path::new(self.name)
            .parent()
            .map_or_else(|| p.to_path_buf(), |d| d.join(p))
    }
}

impl Source<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let upto = &self.text[..span.start.min(self.text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigError {
            location: format!("{}:{line}:{col}", self.name),
            message: message.into(),
        }
    }
}

fn flag_error(flag: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        location: format!("--{flag}"),
        message: message.into(),
    }
}

impl Config {
    /// Reads `path` (if given), applies `overrides` and validates the result.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let (text, name) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    location: p.display().to_string(),
                    message: e.to_string(),
                })?;
                (text, p.display().to_string())
            }
            None => (String::new(), "(defaults)".to_string()),
        };
        Self::from_toml(&text, &name, overrides)
    }

    pub fn from_toml(text: &str, name: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let src = Source { name, text };
        let file: FileConfig = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => src.at(span, e.message().to_string()),
            None => ConfigError {
                location: name.to_string(),
                message: e.message().to_string(),
            },
        })?;
        validate(file, &src, overrides)
    }

    /// The declared raw or Maven repository called `name`.
    pub fn file_repository(&self, name: &str) -> Option<&FileRepo> {
        self.file_repositories
            .iter()
            .find(|r| r.name.as_str() == name)
    }

    /// The rule for `repo`: the first configured pattern that matches, else the defaults
    /// (every tag but `latest` immutable, no SemVer requirement, deletes allowed).
    pub fn rule_for(&self, repo: &RepoName) -> RepositoryRule {
        self.repositories
            .iter()
            .find(|r| r.pattern.matches(repo.as_str()))
            .cloned()
            .unwrap_or_else(|| RepositoryRule {
                pattern: Pattern::new("*"),
                tags: TagRules::default(),
                allow_delete: true,
            })
    }
}

fn default_environments() -> Vec<Environment> {
    let env = |name: &str, next: Option<&str>| Environment {
        name: name.into(),
        prefix: format!("{name}/"),
        promotes_to: next.map(Into::into),
    };
    vec![
        env("dev", Some("staging")),
        env("staging", Some("prod")),
        env("prod", None),
    ]
}

fn patterns(
    list: Option<Vec<Spanned<String>>>,
    default: &str,
    src: &Source<'_>,
) -> Result<Vec<Pattern>, ConfigError> {
    let Some(list) = list else {
        return Ok(vec![Pattern::new(default)]);
    };
    list.into_iter()
        .map(|p| {
            let ok = p
                .get_ref()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-*?".contains(&b));
            if !ok {
                return Err(src.at(
                    p.span(),
                    format!(
                        "tag pattern {:?} may hold only tag characters, * and ?",
                        p.get_ref()
                    ),
                ));
            }
            Ok(Pattern::new(p.get_ref()))
        })
        .collect()
}

fn validate(file: FileConfig, src: &Source<'_>, o: &Overrides) -> Result<Config, ConfigError> {
    let listen = match (&o.listen, &file.listen) {
        (Some(l), _) => l
            .parse()
            .map_err(|e| flag_error("listen", format!("{l:?} is not an address: {e}")))?,
        (None, Some(l)) => l.get_ref().parse().map_err(|e| {
            src.at(
                l.span(),
                format!("listen {:?} is not HOST:PORT: {e}", l.get_ref()),
            )
        })?,
        (None, None) => DEFAULT_LISTEN
            .parse()
            .map_err(|e| flag_error("listen", format!("{e}")))?,
    };
    let data = o
        .data
        .clone()
        .or(file.data)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));

    let log_format = match (&o.log_format, &file.log_format) {
        (Some(f), _) => {
            parse_log_format(f).ok_or_else(|| flag_error("log-format", "expected text or json"))?
        }
        (None, Some(f)) => parse_log_format(f.get_ref())
            .ok_or_else(|| src.at(f.span(), "log_format must be \"text\" or \"json\""))?,
        (None, None) => LogFormat::Text,
    };

    let max_manifest_bytes = match file.max_manifest_bytes {
        Some(m) if *m.get_ref() < DEFAULT_MAX_MANIFEST_BYTES => {
            return Err(src.at(
                m.span(),
                "max_manifest_bytes must be at least 4194304 (the OCI minimum)",
            ));
        }
        Some(m) => m.into_inner(),
        None => DEFAULT_MAX_MANIFEST_BYTES,
    };

    let upstream = match (&o.upstream, file.upstream) {
        (Some(u), file_up) => {
            let url = parse_upstream_url(u).map_err(|m| flag_error("upstream", m))?;
            let (username, password, timeout, connect, cache, mirror) = match file_up {
                Some(f) => (
                    f.username,
                    f.password,
                    f.timeout_secs.map(|t| t.into_inner()),
                    f.connect_timeout_secs.map(|t| t.into_inner()),
                    f.blob_cache_bytes,
                    f.tag_mirror_interval_secs.map(|t| t.into_inner()),
                ),
                None => (None, None, None, None, None, None),
            };
            Some(upstream_config(
                url, username, password, timeout, connect, cache, mirror,
            ))
        }
        (None, Some(f)) => {
            let url = parse_upstream_url(f.url.get_ref()).map_err(|m| src.at(f.url.span(), m))?;
            for t in [&f.timeout_secs, &f.connect_timeout_secs]
                .into_iter()
                .flatten()
            {
                if *t.get_ref() == 0 {
                    return Err(src.at(t.span(), "time-outs must be at least one second"));
                }
            }
            if let Some(t) = &f.tag_mirror_interval_secs
                && *t.get_ref() == 0
            {
                return Err(src.at(t.span(), "the interval must be at least one second"));
            }
            Some(upstream_config(
                url,
                f.username,
                f.password,
                f.timeout_secs.map(|t| t.into_inner()),
                f.connect_timeout_secs.map(|t| t.into_inner()),
                f.blob_cache_bytes,
                f.tag_mirror_interval_secs.map(|t| t.into_inner()),
            ))
        }
        (None, None) => None,
    };

    let mut repositories = Vec::new();
    for r in file.repositories {
        let pattern = repository_pattern(&r.pattern, src)?;
        let semver = match r.semver.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("off") => SemverRule::Off,
            Some("required") => SemverRule::Required {
                allow_v_prefix: r.allow_v_prefix,
            },
            Some(other) => {
                let span = r.semver.as_ref().map(|s| s.span()).unwrap_or(0..0);
                return Err(src.at(
                    span,
                    format!("semver must be \"required\" or \"off\", not {other:?}"),
                ));
            }
        };
        repositories.push(RepositoryRule {
            pattern,
            tags: TagRules {
                immutable: patterns(r.immutable_tags, "*", src)?,
                mutable: patterns(r.mutable_tags, "latest", src)?,
                semver,
            },
            allow_delete: r.allow_delete.unwrap_or(true),
        });
    }

    let environments = if file.environments.is_empty() {
        default_environments()
    } else {
        let names: Vec<String> = file
            .environments
            .iter()
            .map(|e| e.name.get_ref().clone())
            .collect();
        let mut envs = Vec::new();
        for (i, e) in file.environments.into_iter().enumerate() {
            let name = e.name.get_ref();
            if name.parse::<RepoName>().is_err() || name.contains('/') {
                return Err(src.at(
                    e.name.span(),
                    format!("environment name {name:?} must be one lowercase name component"),
                ));
            }
            if names[..i].contains(name) {
                return Err(src.at(
                    e.name.span(),
                    format!("environment {name:?} is declared twice"),
                ));
            }
            if let Some(next) = &e.promotes_to
                && !names.contains(next.get_ref())
            {
                return Err(src.at(
                    next.span(),
                    format!(
                        "promotes_to names {:?}, which is not a declared environment",
                        next.get_ref()
                    ),
                ));
            }
            envs.push(Environment {
                name: name.clone(),
                prefix: e
                    .prefix
                    .map(|p| p.into_inner())
                    .unwrap_or_else(|| format!("{name}/")),
                promotes_to: e.promotes_to.map(|p| p.into_inner()),
            });
        }
        envs
    };

    let file_repositories = files::validate(file.file_repositories, &environments, src)?;
    let trust = validate_trust(file.trust, src)?;
    let audit = match file.audit {
        None => AuditConfig {
            origin: DEFAULT_AUDIT_ORIGIN.to_string(),
            key: None,
            retention_days: None,
            retention_by_action: Default::default(),
            prune_interval_hours: 24,
            admission_summary: DEFAULT_ADMISSION_SUMMARY,
        },
        Some(a) => {
            let origin = match a.origin {
                Some(o) => {
                    let v = o.get_ref();
                    if v.is_empty() || v.contains('+') || v.chars().any(char::is_whitespace) {
                        return Err(src.at(
                            o.span(),
                            "audit origin must be non-empty, without spaces or '+'",
                        ));
                    }
                    v.clone()
                }
                None => DEFAULT_AUDIT_ORIGIN.to_string(),
            };
            let key = match a.key {
                Some(k) => {
                    let path = src.path(k.get_ref());
                    if !path.is_file() {
                        return Err(src.at(
                            k.span(),
                            format!("audit key {} is not a readable file", path.display()),
                        ));
                    }
                    Some(path)
                }
                None => None,
            };
            let positive = |v: &Spanned<u64>, what: &str| {
                if *v.get_ref() == 0 {
                    Err(src.at(v.span(), format!("{what} must be at least 1")))
                } else {
                    Ok(*v.get_ref())
                }
            };
            let retention_days = a
                .retention_days
                .as_ref()
                .map(|d| positive(d, "retention_days"))
                .transpose()?;
            let mut retention_by_action = std::collections::BTreeMap::new();
            for (action, days) in &a.retention_by_action {
                retention_by_action.insert(action.clone(), positive(days, "a retention period")?);
            }
            let prune_interval_hours = a
                .prune_interval_hours
                .as_ref()
                .map(|h| positive(h, "prune_interval_hours"))
                .transpose()?
                .unwrap_or(24);
            let admission_summary = a
                .admission_summary_secs
                .as_ref()
                .map(|s| positive(s, "admission_summary_secs").map(Duration::from_secs))
                .transpose()?
                .unwrap_or(DEFAULT_ADMISSION_SUMMARY);
            AuditConfig {
                origin,
                key,
                retention_days,
                retention_by_action,
                prune_interval_hours,
                admission_summary,
            }
        }
    };
    let policy = match (o.policy.clone(), file.policy) {
        (Some(dir), p) => Some(PolicyConfig {
            dir,
            watch: p.and_then(|p| p.watch).unwrap_or(true),
        }),
        (None, Some(p)) => {
            let dir = src.path(p.dir.get_ref());
            if !dir.is_dir() {
                return Err(src.at(
                    p.dir.span(),
                    format!("policy dir {} is not a directory", dir.display()),
                ));
            }
            Some(PolicyConfig {
                dir,
                watch: p.watch.unwrap_or(true),
            })
        }
        (None, None) => None,
    };

    let admission = validate_admission(file.admission, &environments, src)?;
    let tls = match file.tls {
        Some(t) => {
            let (cert, key) = (src.path(t.cert.get_ref()), src.path(t.key.get_ref()));
            let (server, files) =
                crate::tls::server_config(&cert, &key).map_err(|(which, m)| {
                    let span = match which {
                        crate::tls::TlsFile::Cert => t.cert.span(),
                        crate::tls::TlsFile::Key => t.key.span(),
                    };
                    src.at(span, format!("tls: {m}"))
                })?;
            Some(TlsConfig {
                cert,
                key,
                server: std::sync::Arc::new(server),
                files,
            })
        }
        None => None,
    };
    let retention = validate_retention(file.retention, src)?;
    let webhooks = webhooks::validate(file.webhooks, src)?;
    let postgres = validate_store(file.store, o, upstream.is_some(), src)?;
    if postgres.is_some() && audit.key.is_none() {
        // A key generated per data directory would sign each replica's checkpoints
        // differently; the log is one, so its key must be too.
        return Err(ConfigError {
            location: src.name.to_string(),
            message: "replicas on a PostgreSQL store sign one audit log: set [audit] key to a key file they share".into(),
        });
    }
    if postgres.is_some()
        && let Some(r) = file_repositories.iter().find(|r| r.upstream.is_none())
    {
        // Files in one replica's data directory would be missing on every other one.
        return Err(ConfigError {
            location: src.name.to_string(),
            message: format!(
                "file repository {} keeps its files in the data directory, which replicas on a PostgreSQL store do not share: give it an upstream",
                r.name
            ),
        });
    }

    let promotions = schedule::validate_promotions(file.promotions, src)?;
    let dependencies = schedule::validate_dependencies(file.dependencies, &environments, src)?;

    Ok(Config {
        listen,
        data,
        log_format,
        anonymous_pull: file.anonymous_pull,
        max_manifest_bytes,
        upstream,
        repositories,
        environments,
        file_repositories,
        trust,
        policy,
        retention,
        audit,
        admission,
        tls,
        postgres,
        webhooks,
        promotions,
        dependencies,
    })
}

fn check_store_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") && u.host_str().is_some() => {
            Ok(())
        }
        Ok(_) => Err(format!(
            "store url must be postgres://user:password@host:port/database, not {}",
            redact_url(url)
        )),
        Err(e) => Err(format!("store url: {e}")),
    }
}

fn validate_store(
    file: Option<FileStore>,
    o: &Overrides,
    have_upstream: bool,
    src: &Source<'_>,
) -> Result<Option<PostgresConfig>, ConfigError> {
    let (mut pool_size, mut cache) = (16, Duration::ZERO);
    let mut url = None;
    let mut url_span = None;
    if let Some(f) = file {
        if let Some(p) = f.pool_size {
            if *p.get_ref() == 0 {
                return Err(src.at(p.span(), "pool_size must be at least 1"));
            }
            pool_size = p.into_inner();
        }
        if let Some(c) = f.cache_ms {
            cache = Duration::from_millis(c.into_inner());
        }
        if let Some(u) = f.url {
            check_store_url(u.get_ref()).map_err(|m| src.at(u.span(), m))?;
            url_span = Some(u.span());
            url = Some(u.into_inner());
        }
    }
    if let Some(u) = &o.store {
        check_store_url(u).map_err(|m| flag_error("store", m))?;
        url = Some(u.clone());
    }
    let Some(url) = url else {
        return Ok(None);
    };
    if !have_upstream {
        // Blob bytes in one replica's data directory would be missing on every other one.
        let m = "a PostgreSQL store serves several replicas, which need an [upstream] registry for the bytes";
        return Err(match url_span {
            Some(span) if o.store.is_none() => src.at(span, m),
            _ => flag_error("store", m.to_string()),
        });
    }
    Ok(Some(PostgresConfig {
        url,
        pool_size,
        cache,
    }))
}

fn admission_mode(m: &Spanned<String>, src: &Source<'_>) -> Result<AdmissionMode, ConfigError> {
    match m.get_ref().as_str() {
        "enforce" => Ok(AdmissionMode::Enforce),
        "warn" => Ok(AdmissionMode::Warn),
        other => Err(src.at(
            m.span(),
            format!("admission mode must be \"enforce\" or \"warn\", not {other:?}"),
        )),
    }
}

fn validate_admission(
    a: Option<FileAdmission>,
    environments: &[Environment],
    src: &Source<'_>,
) -> Result<AdmissionConfig, ConfigError> {
    let Some(a) = a else {
        return Ok(AdmissionConfig {
            registries: Vec::new(),
            exempt_images: Vec::new(),
            default_mode: AdmissionMode::Enforce,
            modes: Vec::new(),
        });
    };
    let mut registries: Vec<String> = Vec::new();
    for r in &a.registries {
        let host = r.get_ref();
        crate::admission::reference::check_registry(host).map_err(|e| {
            src.at(
                r.span(),
                format!(
                    "admission registry {host:?}: {e}; write host[:port] as image references do \
                     (\"tollgate.example.com\", \"10.0.0.5:5000\"), no scheme or path"
                ),
            )
        })?;
        let host = host.to_ascii_lowercase();
        if registries.contains(&host) {
            return Err(src.at(
                r.span(),
                format!("admission registry {host:?} is listed twice"),
            ));
        }
        registries.push(host);
    }
    let mut exempt_images = Vec::new();
    for p in &a.exempt_images {
        let g = p.get_ref();
        if g.is_empty() || g.contains(['@', ' ']) || g.bytes().any(|b| b.is_ascii_control()) {
            return Err(src.at(
                p.span(),
                format!(
                    "exempt image pattern {g:?} must be a glob over image names without tag or digest, e.g. \"docker.io/istio/*\""
                ),
            ));
        }
        exempt_images.push(Pattern::new(g));
    }
    let default_mode = match &a.mode {
        Some(m) => admission_mode(m, src)?,
        None => AdmissionMode::Enforce,
    };
    let mut modes = Vec::new();
    for (name, e) in &a.environments {
        if !environments.iter().any(|x| &x.name == name) {
            let known: Vec<&str> = environments.iter().map(|x| x.name.as_str()).collect();
            return Err(src.at(
                e.mode.span(),
                format!(
                    "[admission.environments.{name}]: no environment {name:?}; environments are {}",
                    known.join(", ")
                ),
            ));
        }
        modes.push((name.clone(), admission_mode(&e.mode, src)?));
    }
    Ok(AdmissionConfig {
        registries,
        exempt_images,
        default_mode,
        modes,
    })
}

/// A repository glob as written in the file: lowercase name characters, `/`, `*` and `?`.
fn repository_pattern(p: &Spanned<String>, src: &Source<'_>) -> Result<Pattern, ConfigError> {
    let text = p.get_ref();
    let ok = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/*?".contains(&b));
    if !ok {
        return Err(src.at(
            p.span(),
            format!(
                "repository pattern {text:?} may hold only lowercase name characters, '/', * and ?"
            ),
        ));
    }
    Ok(Pattern::new(text))
}

fn validate_retention(
    r: Option<FileRetention>,
    src: &Source<'_>,
) -> Result<RetentionConfig, ConfigError> {
    let Some(r) = r else {
        return Ok(RetentionConfig::default());
    };
    let mut rules = Vec::new();
    for rule in r.rules {
        let repositories = repository_pattern(&rule.repositories, src)?;
        if rule.keep_versions.is_none() && rule.untagged_days.is_none() {
            return Err(src.at(
                rule.repositories.span(),
                "a retention rule needs keep_versions, untagged_days or both",
            ));
        }
        let keep_versions = match rule.keep_versions {
            Some(k) if *k.get_ref() == 0 => {
                return Err(src.at(
                    k.span(),
                    "keep_versions must be at least 1 (retention never deletes every version)",
                ));
            }
            Some(k) => Some(usize::try_from(k.into_inner()).unwrap_or(usize::MAX)),
            None => None,
        };
        rules.push(RetentionRule {
            repositories,
            keep_versions,
            untagged_days: rule.untagged_days.map(Spanned::into_inner),
        });
    }
    let interval = match r.interval_hours {
        Some(h) if *h.get_ref() == 0 => {
            return Err(src.at(h.span(), "interval_hours must be at least 1"));
        }
        Some(h) if rules.is_empty() => {
            return Err(src.at(
                h.span(),
                "interval_hours schedules retention, but no [[retention.rules]] are given",
            ));
        }
        Some(h) => Some(Duration::from_secs(h.into_inner().saturating_mul(3600))),
        None => None,
    };
    Ok(RetentionConfig { rules, interval })
}

fn validate_trust(t: Option<FileTrust>, src: &Source<'_>) -> Result<TrustConfig, ConfigError> {
    use tollgate_attest::{IdentityRule, NamedKey, SubjectMatcher, Trust};
    let t = t.unwrap_or(FileTrust {
        trusted_root: None,
        keys: Vec::new(),
        identities: Vec::new(),
        builders: Vec::new(),
        refuse_unverified: None,
    });
    // What the digest covers: every piece of trust material, in order.
    let mut fingerprint = serde_json::Map::new();
    let root = match &t.trusted_root {
        Some(p) => {
            let path = src.path(p.get_ref());
            let text = std::fs::read_to_string(&path)
                .map_err(|e| src.at(p.span(), format!("trusted_root {}: {e}", path.display())))?;
            fingerprint.insert(
                "root".into(),
                tollgate_attest::Digest::sha256_of(text.as_bytes())
                    .to_string()
                    .into(),
            );
            Some((text, p.span()))
        }
        None => None,
    };
    let mut keys = Vec::new();
    let mut key_prints = Vec::new();
    for k in &t.keys {
        let pem = match (&k.path, &k.pem) {
            (Some(p), None) => {
                let path = src.path(p.get_ref());
                std::fs::read_to_string(&path)
                    .map_err(|e| src.at(p.span(), format!("key {}: {e}", path.display())))?
            }
            (None, Some(pem)) => pem.get_ref().clone(),
            _ => return Err(src.at(k.name.span(), "a key needs exactly one of path or pem")),
        };
        let key = NamedKey::from_pem(k.name.get_ref(), &pem)
            .map_err(|e| src.at(k.name.span(), e.to_string()))?;
        if keys.iter().any(|x: &NamedKey| x.name == key.name) {
            return Err(src.at(
                k.name.span(),
                format!("key {:?} is declared twice", key.name),
            ));
        }
        key_prints.push(serde_json::json!([
            key.name,
            hex::encode(key.key.as_bytes())
        ]));
        keys.push(key);
    }
    fingerprint.insert("keys".into(), key_prints.into());
    let mut identities = Vec::new();
    let mut id_prints = Vec::new();
    for i in &t.identities {
        let subject = match (&i.subject, &i.subject_regex) {
            (Some(s), None) => SubjectMatcher::Exact(s.get_ref().clone()),
            (None, Some(r)) => SubjectMatcher::regex(r.get_ref())
                .map_err(|e| src.at(r.span(), format!("subject_regex: {e}")))?,
            _ => {
                return Err(src.at(
                    i.issuer.span(),
                    "an identity needs exactly one of subject or subject_regex",
                ));
            }
        };
        id_prints.push(serde_json::json!([
            i.issuer.get_ref(),
            i.subject.as_ref().map(|s| s.get_ref()),
            i.subject_regex.as_ref().map(|s| s.get_ref())
        ]));
        identities.push(IdentityRule {
            issuer: i.issuer.get_ref().clone(),
            subject,
        });
    }
    fingerprint.insert("identities".into(), id_prints.into());
    let builders: Vec<String> = t.builders.iter().map(|b| b.get_ref().clone()).collect();
    fingerprint.insert("builders".into(), builders.clone().into());
    let trust = Trust::new(
        keys,
        root.as_ref().map(|(text, _)| text.as_str()),
        identities,
        builders,
    )
    .map_err(|e| match &root {
        Some((_, span)) => src.at(span.clone(), e.to_string()),
        None => ConfigError {
            location: src.name.to_string(),
            message: e.to_string(),
        },
    })?;
    let digest = tollgate_attest::Digest::sha256_of(
        serde_json::Value::Object(fingerprint)
            .to_string()
            .as_bytes(),
    );
    Ok(TrustConfig {
        trust: std::sync::Arc::new(trust),
        digest,
        refuse_unverified: t.refuse_unverified.unwrap_or(true),
    })
}

fn parse_log_format(s: &str) -> Option<LogFormat> {
    match s {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        _ => None,
    }
}

fn parse_upstream_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("upstream {s:?} is not a URL: {e}"))?;
    if u.scheme() != "http" {
        return Err(format!(
            "upstream {s:?}: only http:// upstreams are supported (terminate TLS in front of the registry)"
        ));
    }
    if u.host_str().is_none() || u.path() != "/" || u.query().is_some() {
        return Err(format!(
            "upstream {s:?} must be http://HOST[:PORT] with no path"
        ));
    }
    Ok(u)
}

fn upstream_config(
    url: url::Url,
    username: Option<String>,
    password: Option<String>,
    timeout: Option<u64>,
    connect: Option<u64>,
    blob_cache_bytes: Option<u64>,
    tag_mirror_interval: Option<u64>,
) -> UpstreamConfig {
    UpstreamConfig {
        url,
        username,
        password,
        timeout: Duration::from_secs(timeout.unwrap_or(30)),
        connect_timeout: Duration::from_secs(connect.unwrap_or(5)),
        blob_cache_bytes: blob_cache_bytes.unwrap_or(0),
        tag_mirror_interval: tag_mirror_interval.map_or(DEFAULT_TAG_MIRROR_INTERVAL, |s| {
            Duration::from_secs(s.max(1))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, "tollgate.toml", &Overrides::default())
    }

    #[test]
    fn defaults() {
        let c = load("").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data, PathBuf::from(DEFAULT_DATA));
        assert!(c.upstream.is_none());
        let names: Vec<_> = c
            .environments
            .iter()
            .map(|e| (e.name.as_str(), e.prefix.as_str()))
            .collect();
        assert_eq!(
            names,
            [("dev", "dev/"), ("staging", "staging/"), ("prod", "prod/")]
        );
        let rule = c.rule_for(&"dev/app".parse().unwrap());
        assert!(rule.allow_delete);
        assert!(!rule.tags.is_immutable(&"latest".parse().unwrap()));
    }

    #[test]
    fn flags_win_over_the_file() {
        let o = Overrides {
            listen: Some("127.0.0.1:7000".into()),
            upstream: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        };
        let c = Config::from_toml(
            "listen = \"127.0.0.1:6000\"\n[upstream]\nurl = \"http://x:1\"\ntimeout_secs = 3\n",
            "f",
            &o,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 7000);
        let up = c.upstream.unwrap();
        assert_eq!(up.url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(up.timeout, Duration::from_secs(3));
    }

    #[test]
    fn tag_mirror_interval() {
        let every = |text: &str| load(text).unwrap().upstream.unwrap().tag_mirror_interval;
        assert_eq!(
            every("[upstream]\nurl = \"http://x:1\"\n"),
            DEFAULT_TAG_MIRROR_INTERVAL
        );
        assert_eq!(
            every("[upstream]\nurl = \"http://x:1\"\ntag_mirror_interval_secs = 5\n"),
            Duration::from_secs(5)
        );
        let e =
            load("[upstream]\nurl = \"http://x:1\"\ntag_mirror_interval_secs = 0\n").unwrap_err();
        assert!(e.to_string().contains("tollgate.toml:3:"), "{e}");
    }

    #[test]
    fn repository_rules() {
        let c = load(
            "[[repositories]]\npattern = \"rel/*\"\nsemver = \"required\"\nallow_delete = false\n",
        )
        .unwrap();
        let rule = c.rule_for(&"rel/app".parse().unwrap());
        assert_eq!(
            rule.tags.semver,
            SemverRule::Required {
                allow_v_prefix: false
            }
        );
        assert!(!rule.allow_delete);
        assert!(c.rule_for(&"dev/app".parse().unwrap()).allow_delete);
    }

    #[test]
    fn errors_point_at_file_and_line() {
        let e = load("listen = \"127.0.0.1:5000\"\n\n[[repositories]]\npattern = \"Rel/*\"\n")
            .unwrap_err();
        assert_eq!(e.location, "tollgate.toml:4:11", "{e}");
        let e = load("[[repositories]]\npattern = \"a/*\"\nsemver = \"maybe\"\n").unwrap_err();
        assert!(e.to_string().starts_with("tollgate.toml:3:"), "{e}");
        let e = load("lisen = \"x\"\n").unwrap_err();
        assert!(e.to_string().starts_with("tollgate.toml:1:"), "{e}");
        let e = load("[upstream]\nurl = \"https://r.example\"\n").unwrap_err();
        assert!(e.to_string().contains("tollgate.toml:2:"), "{e}");
        let e = load("[[environments]]\nname = \"dev\"\npromotes_to = \"qa\"\n").unwrap_err();
        assert!(e.to_string().contains("tollgate.toml:3:"), "{e}");
        let e = load("max_manifest_bytes = 10\n").unwrap_err();
        assert!(e.to_string().contains("tollgate.toml:1:"), "{e}");
    }

    #[test]
    fn admission_settings() {
        let c = load("").unwrap();
        assert!(c.admission.registries.is_empty());
        assert_eq!(c.admission.mode("prod"), AdmissionMode::Enforce);
        assert!(c.tls.is_none());
        let c = load(concat!(
            "[admission]\n",
            "registries = [\"Tollgate.Example.com\", \"10.0.0.5:5000\", \"[::1]:5000\"]\n",
            "exempt_images = [\"docker.io/istio/*\"]\n",
            "mode = \"warn\"\n",
            "[admission.environments.prod]\n",
            "mode = \"enforce\"\n",
        ))
        .unwrap();
        assert_eq!(
            c.admission.registries,
            ["tollgate.example.com", "10.0.0.5:5000", "[::1]:5000"]
        );
        assert!(c.admission.exempt_images[0].matches("docker.io/istio/proxyv2"));
        assert_eq!(c.admission.mode("prod"), AdmissionMode::Enforce);
        assert_eq!(c.admission.mode("staging"), AdmissionMode::Warn);
    }

    #[test]
    fn admission_errors_point_at_file_and_line() {
        for (text, line) in [
            (
                "[admission]\nregistries = [\"https://tg.example.com\"]\n",
                2,
            ),
            ("[admission]\nregistries = [\"tg.example.com/prod\"]\n", 2),
            ("[admission]\nregistries = [\"tg.example.com:x\"]\n", 2),
            (
                "[admission]\nregistries = [\"a.example\", \"A.example\"]\n",
                2,
            ),
            ("[admission]\n\nmode = \"audit\"\n", 3),
            ("[admission.environments.qa]\nmode = \"warn\"\n", 2),
            ("[admission.environments.prod]\nmode = \"off\"\n", 2),
            ("[admission]\nexempt_images = [\"nginx@sha256:x\"]\n", 2),
            ("[admission]\nregistry = []\n", 2),
        ] {
            let e = load(text).unwrap_err();
            assert!(
                e.location.starts_with(&format!("tollgate.toml:{line}:")),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn tls_files_are_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("tollgate.toml");
        std::fs::write(dir.path().join("bad.pem"), "not a certificate").unwrap();
        let text = "listen = \"127.0.0.1:0\"\n[tls]\ncert = \"missing.pem\"\nkey = \"bad.pem\"\n";
        let e =
            Config::from_toml(text, &cfg.display().to_string(), &Overrides::default()).unwrap_err();
        assert!(e.location.ends_with("tollgate.toml:3:8"), "{e}");
        assert!(e.message.contains("missing.pem"), "{e}");
        let text = "[tls]\ncert = \"bad.pem\"\nkey = \"bad.pem\"\n";
        let e =
            Config::from_toml(text, &cfg.display().to_string(), &Overrides::default()).unwrap_err();
        assert!(e.message.contains("no PEM CERTIFICATE"), "{e}");
    }

    #[test]
    fn retention_rules() {
        let c = load(
            "[retention]\ninterval_hours = 24\n\n[[retention.rules]]\nrepositories = \"dev/*\"\nkeep_versions = 5\nuntagged_days = 7\n\n[[retention.rules]]\nrepositories = \"ci/*\"\nuntagged_days = 0\n",
        )
        .unwrap();
        let r = &c.retention;
        assert_eq!(r.interval, Some(Duration::from_secs(24 * 3600)));
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.rules[0].repositories.as_str(), "dev/*");
        assert_eq!(r.rules[0].keep_versions, Some(5));
        assert_eq!(r.rules[0].untagged_days, Some(7));
        assert_eq!(r.rules[1].keep_versions, None);
        assert_eq!(r.rules[1].untagged_days, Some(0));
        let none = load("").unwrap();
        assert!(none.retention.rules.is_empty() && none.retention.interval.is_none());
    }

    #[test]
    fn retention_errors_point_at_file_and_line() {
        let e = load("[[retention.rules]]\nrepositories = \"dev/*\"\n").unwrap_err();
        assert_eq!(e.location, "tollgate.toml:2:16", "{e}");
        assert!(e.message.contains("keep_versions, untagged_days"), "{e}");
        let e =
            load("[[retention.rules]]\nrepositories = \"Dev/*\"\nkeep_versions = 1\n").unwrap_err();
        assert_eq!(e.location, "tollgate.toml:2:16", "{e}");
        let e =
            load("[[retention.rules]]\nrepositories = \"dev/*\"\nkeep_versions = 0\n").unwrap_err();
        assert_eq!(e.location, "tollgate.toml:3:17", "{e}");
        let e = load("[[retention.rules]]\nrepositories = \"dev/*\"\nuntagged_days = -1\n")
            .unwrap_err();
        assert!(e.location.starts_with("tollgate.toml:3:"), "{e}");
        let e = load("[[retention.rules]]\nrepositories = \"dev/*\"\nkeep = 3\n").unwrap_err();
        assert!(e.location.starts_with("tollgate.toml:3:"), "{e}");
        let e = load("[retention]\ninterval_hours = 0\n[[retention.rules]]\nrepositories = \"a\"\nkeep_versions = 1\n").unwrap_err();
        assert_eq!(e.location, "tollgate.toml:2:18", "{e}");
        let e = load("[retention]\ninterval_hours = 6\n").unwrap_err();
        assert_eq!(e.location, "tollgate.toml:2:18", "{e}");
        assert!(e.message.contains("no [[retention.rules]]"), "{e}");
    }

    #[test]
    fn audit_settings_are_validated() {
        let c = load("[audit]\nadmission_summary_secs = 5\n").unwrap();
        assert_eq!(c.audit.admission_summary, Duration::from_secs(5));
        let c = load("").unwrap();
        assert_eq!(c.audit.admission_summary, DEFAULT_ADMISSION_SUMMARY);
        let e = load("[audit]\nadmission_summary_secs = 0\n").unwrap_err();
        assert_eq!(e.location, "tollgate.toml:2:26", "{e}");
        assert!(e.message.contains("admission_summary_secs"), "{e}");
    }

    #[test]
    fn a_postgres_store_needs_an_upstream_and_a_shared_audit_key() {
        let e = load("[store]\nurl = \"mysql://db/x\"\n").unwrap_err();
        assert_eq!(e.location, "tollgate.toml:2:7", "{e}");
        let e = load("[store]\nurl = \"postgres://u:secret@db/x\"\n").unwrap_err();
        assert_eq!(e.location, "tollgate.toml:2:7", "{e}");
        assert!(e.message.contains("[upstream]"), "{e}");
        let up = "[upstream]\nurl = \"http://127.0.0.1:5001\"\n";
        let e = load(&format!(
            "{up}[store]\nurl = \"postgres://u:secret@db/x\"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("[audit] key"), "{e}");
        let e = load(&format!(
            "{up}[store]\nurl = \"postgres://db/x\"\npool_size = 0\n"
        ))
        .unwrap_err();
        assert_eq!(e.location, "tollgate.toml:5:13", "{e}");
        // Replicas share no data directory: every file repository needs an upstream.
        let key = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/audit/replicas-ed25519.pem"
        );
        let shared = format!("{up}[store]\nurl = \"postgres://db/x\"\n[audit]\nkey = \"{key}\"\n");
        let e = load(&format!(
            "{shared}[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\n"
        ))
        .unwrap_err();
        assert!(
            e.message.contains("libs") && e.message.contains("upstream"),
            "{e}"
        );
        load(&format!(
            "{shared}[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\nupstream = {{ kind = \"raw\", url = \"http://files:8080/libs\" }}\n"
        ))
        .unwrap();
        let pg = PostgresConfig {
            url: "postgres://u:secret@db/x".into(),
            pool_size: 1,
            cache: Duration::ZERO,
        };
        let shown = format!("{pg:?}");
        assert!(
            !shown.contains("secret") && shown.contains("***"),
            "{shown}"
        );
    }
}
