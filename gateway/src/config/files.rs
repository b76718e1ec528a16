//! `[[file_repositories]]`: raw and Maven repositories served at `/repository/<name>/…` (Nexus
//! style) and `/artifactory/<name>/…` (Artifactory style), each kept in the embedded store or
//! streamed to its own upstream (Nexus, Artifactory, or any server that takes `PUT` and serves
//! `GET`).

use std::time::Duration;

use serde::Deserialize;
use tollgate_policies::{Pattern, RepoName};
use toml::Spanned;

use super::{ConfigError, Environment, Source, UpstreamConfig};

/// One repository as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFileRepository {
    pub name: Spanned<String>,
    /// `raw` or `maven`.
    pub format: Spanned<String>,
    /// The environment the repository belongs to (default: the one whose name and a `-` start
    /// the repository's name, as `prod-libs`; else none).
    pub environment: Option<Spanned<String>>,
    /// The repository of the next environment that promotions from this one copy into.
    pub promotes_to: Option<Spanned<String>>,
    pub upstream: Option<FileFileUpstream>,
    /// Raw: paths that can never be rebound to other bytes (default every path)…
    pub immutable_paths: Option<Vec<Spanned<String>>>,
    /// …except these (default none).
    pub mutable_paths: Option<Vec<Spanned<String>>>,
    /// Maven: `release`, `snapshot` or `mixed` (default), as Nexus's version policy.
    pub version_policy: Option<Spanned<String>>,
    /// Maven: whether a SNAPSHOT file may be replaced by other bytes (default true).
    pub snapshot_redeploy: Option<bool>,
    /// Maven: `maven` (any version, Maven ordering; default) or `semver` (SemVer 2.0 only).
    pub version_rule: Option<Spanned<String>>,
    /// Maven: a new release must be newer than every release of the artifact already here.
    #[serde(default)]
    pub monotonic: bool,
    /// Whether deletes are allowed at all (default true; immutable files are never deleted).
    pub allow_delete: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFileUpstream {
    /// `nexus`, `artifactory` or `raw`.
    pub kind: Spanned<String>,
    /// `http://host[:port][/context]`; for `raw`, the URL files are stored under.
    pub url: Spanned<String>,
    /// The repository's name upstream (nexus, artifactory; default: the same name).
    pub repository: Option<Spanned<String>>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout_secs: Option<Spanned<u64>>,
    pub connect_timeout_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Raw,
    Maven,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    Nexus,
    Artifactory,
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionPolicy {
    Release,
    Snapshot,
    Mixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionRule {
    Maven,
    Semver,
}

/// Where a repository's bytes go upstream.
#[derive(Debug, Clone)]
pub struct FileRepoUpstream {
    pub kind: UpstreamKind,
    /// Host, credentials and time-outs (the URL's path is in `prefix`).
    pub client: UpstreamConfig,
    /// The upstream path a repository path is appended to, without a trailing `/`
    /// (`/repository/libs-dev`, `/artifactory/libs-dev`, `/files`).
    pub prefix: String,
}

/// A validated file repository.
#[derive(Debug, Clone)]
pub struct FileRepo {
    pub name: RepoName,
    pub format: FileFormat,
    pub environment: Option<String>,
    pub promotes_to: Option<RepoName>,
    pub upstream: Option<FileRepoUpstream>,
    pub immutable_paths: Vec<Pattern>,
    pub mutable_paths: Vec<Pattern>,
    pub version_policy: VersionPolicy,
    pub snapshot_redeploy: bool,
    pub version_rule: VersionRule,
    pub monotonic: bool,
    pub allow_delete: bool,
}

impl FileRepo {
    /// Raw repositories: whether `path` can never be rebound to other bytes.
    pub fn path_is_immutable(&self, path: &str) -> bool {
        self.immutable_paths.iter().any(|p| p.matches(path))
            && !self.mutable_paths.iter().any(|p| p.matches(path))
    }
}

fn one_of<T: Copy>(
    v: Option<&Spanned<String>>,
    what: &str,
    choices: &[(&str, T)],
    default: T,
    src: &Source<'_>,
) -> Result<T, ConfigError> {
    let Some(v) = v else { return Ok(default) };
    choices
        .iter()
        .find(|(n, _)| *n == v.get_ref())
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
            src.at(
                v.span(),
                format!(
                    "{what} must be one of {}, not {:?}",
                    names.join(", "),
                    v.get_ref()
                ),
            )
        })
}

fn path_patterns(
    list: Option<&Vec<Spanned<String>>>,
    default: &[&str],
    src: &Source<'_>,
) -> Result<Vec<Pattern>, ConfigError> {
    let Some(list) = list else {
        return Ok(default.iter().map(|p| Pattern::new(p)).collect());
    };
    list.iter()
        .map(|p| {
            let t = p.get_ref();
            if t.is_empty() || t.starts_with('/') || t.chars().any(char::is_control) {
                return Err(src.at(
                    p.span(),
                    format!(
                        "path pattern {t:?} must be a non-empty glob relative to the repository (no leading '/')"
                    ),
                ));
            }
            Ok(Pattern::new(t))
        })
        .collect()
}

fn upstream(
    u: &FileFileUpstream,
    name: &RepoName,
    src: &Source<'_>,
) -> Result<FileRepoUpstream, ConfigError> {
    let kind = one_of(
        Some(&u.kind),
        "upstream kind",
        &[
            ("nexus", UpstreamKind::Nexus),
            ("artifactory", UpstreamKind::Artifactory),
            ("raw", UpstreamKind::Raw),
        ],
        UpstreamKind::Raw,
        src,
    )?;
    let text = u.url.get_ref();
    let url = url::Url::parse(text)
        .map_err(|e| src.at(u.url.span(), format!("upstream {text:?} is not a URL: {e}")))?;
    if url.scheme() != "http" || url.host_str().is_none() {
        return Err(src.at(
            u.url.span(),
            format!(
                "upstream {text:?}: only http://HOST[:PORT][/PATH] upstreams are supported (terminate TLS in front of them)"
            ),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(src.at(
            u.url.span(),
            format!(
                "upstream {text:?} must carry no query, fragment or credentials (use username/password)"
            ),
        ));
    }
    for t in [&u.timeout_secs, &u.connect_timeout_secs]
        .into_iter()
        .flatten()
    {
        if *t.get_ref() == 0 {
            return Err(src.at(t.span(), "time-outs must be at least one second"));
        }
    }
    let base = url.path().trim_end_matches('/').to_string();
    let remote = match &u.repository {
        Some(r) if kind == UpstreamKind::Raw => {
            return Err(src.at(
                r.span(),
                "a raw upstream takes no repository: put the whole base path in its url",
            ));
        }
        Some(r) => {
            let t = r.get_ref();
            if t.is_empty() || t.contains(['/', '\\']) || t.chars().any(char::is_control) {
                return Err(src.at(r.span(), format!("upstream repository {t:?} is not a name")));
            }
            t.clone()
        }
        None => name.to_string(),
    };
    let prefix = match kind {
        UpstreamKind::Nexus => format!("{base}/repository/{remote}"),
        UpstreamKind::Artifactory => format!("{base}/artifactory/{remote}"),
        UpstreamKind::Raw => base,
    };
    let mut client_url = url.clone();
    client_url.set_path("/");
    Ok(FileRepoUpstream {
        kind,
        client: UpstreamConfig {
            url: client_url,
            username: u.username.clone(),
            password: u.password.clone(),
            timeout: Duration::from_secs(u.timeout_secs.as_ref().map_or(30, |t| *t.get_ref())),
            connect_timeout: Duration::from_secs(
                u.connect_timeout_secs.as_ref().map_or(5, |t| *t.get_ref()),
            ),
            blob_cache_bytes: 0,
            // Tags are an OCI upstream's; file repositories have none to mirror.
            tag_mirror_interval: super::DEFAULT_TAG_MIRROR_INTERVAL,
        },
        prefix,
    })
}

/// Validates the declared repositories against each other and the environments.
pub(super) fn validate(
    list: Vec<FileFileRepository>,
    environments: &[Environment],
    src: &Source<'_>,
) -> Result<Vec<FileRepo>, ConfigError> {
    let mut out: Vec<FileRepo> = Vec::new();
    for r in &list {
        let text = r.name.get_ref();
        let name: RepoName = text
            .parse()
            .ok()
            .filter(|_| !text.contains('/'))
            .ok_or_else(|| {
                src.at(
                    r.name.span(),
                    format!(
                        "repository name {text:?} must be one lowercase name component ([a-z0-9] separated by '.', '_' or '-')"
                    ),
                )
            })?;
        if out.iter().any(|o| o.name == name) {
            return Err(src.at(
                r.name.span(),
                format!("file repository {name} is declared twice"),
            ));
        }
        let format = one_of(
            Some(&r.format),
            "format",
            &[("raw", FileFormat::Raw), ("maven", FileFormat::Maven)],
            FileFormat::Raw,
            src,
        )?;
        let environment = match &r.environment {
            Some(e) => {
                if !environments.iter().any(|x| x.name == *e.get_ref()) {
                    let known: Vec<&str> = environments.iter().map(|x| x.name.as_str()).collect();
                    return Err(src.at(
                        e.span(),
                        format!(
                            "environment {:?} is not declared; environments are {}",
                            e.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
                Some(e.get_ref().clone())
            }
            // `prod-libs` (or `prod/…`-prefixed) is in prod unless told otherwise.
            None => environments
                .iter()
                .filter(|e| {
                    name.as_str().starts_with(&e.prefix)
                        || name.as_str().starts_with(&format!("{}-", e.name))
                })
                .max_by_key(|e| e.name.len())
                .map(|e| e.name.clone()),
        };
        let maven_only = [
            (
                "version_policy",
                r.version_policy.as_ref().map(|s| s.span()),
            ),
            ("version_rule", r.version_rule.as_ref().map(|s| s.span())),
        ];
        let raw_only = [
            (
                "immutable_paths",
                r.immutable_paths
                    .as_ref()
                    .and_then(|v| v.first())
                    .map(|s| s.span()),
            ),
            (
                "mutable_paths",
                r.mutable_paths
                    .as_ref()
                    .and_then(|v| v.first())
                    .map(|s| s.span()),
            ),
        ];
        let (misplaced, needs) = match format {
            FileFormat::Raw => (maven_only, "maven"),
            FileFormat::Maven => (raw_only, "raw"),
        };
        if let Some((key, Some(span))) = misplaced.into_iter().find(|(_, s)| s.is_some()) {
            return Err(src.at(
                span,
                format!("{key} applies to {needs} repositories only; {name} is not one"),
            ));
        }
        let version_policy = one_of(
            r.version_policy.as_ref(),
            "version_policy",
            &[
                ("release", VersionPolicy::Release),
                ("snapshot", VersionPolicy::Snapshot),
                ("mixed", VersionPolicy::Mixed),
            ],
            VersionPolicy::Mixed,
            src,
        )?;
        let version_rule = one_of(
            r.version_rule.as_ref(),
            "version_rule",
            &[
                ("maven", VersionRule::Maven),
                ("semver", VersionRule::Semver),
            ],
            VersionRule::Maven,
            src,
        )?;
        out.push(FileRepo {
            environment,
            format,
            promotes_to: None,
            upstream: r
                .upstream
                .as_ref()
                .map(|u| upstream(u, &name, src))
                .transpose()?,
            immutable_paths: path_patterns(r.immutable_paths.as_ref(), &["*"], src)?,
            mutable_paths: path_patterns(r.mutable_paths.as_ref(), &[], src)?,
            version_policy,
            snapshot_redeploy: r.snapshot_redeploy.unwrap_or(true),
            version_rule,
            monotonic: r.monotonic,
            allow_delete: r.allow_delete.unwrap_or(true),
            name,
        });
    }
    // Promotion targets, once every repository is known.
    for (i, r) in list.iter().enumerate() {
        let Some(to) = &r.promotes_to else { continue };
        let (me, target) = (
            &out[i],
            out.iter().find(|o| o.name.as_str() == to.get_ref()),
        );
        let Some(target) = target else {
            return Err(src.at(
                to.span(),
                format!(
                    "promotes_to names {:?}, which is not a declared file repository",
                    to.get_ref()
                ),
            ));
        };
        if target.format != me.format {
            return Err(src.at(
                to.span(),
                format!(
                    "{} is a {:?} repository and {} is not",
                    target.name, target.format, me.name
                ),
            ));
        }
        let next_env = me
            .environment
            .as_ref()
            .and_then(|e| environments.iter().find(|x| &x.name == e))
            .and_then(|e| e.promotes_to.clone());
        if next_env.is_none() || target.environment != next_env {
            return Err(src.at(
                to.span(),
                format!(
                    "{} is in environment {:?}, but {} (in {:?}) promotes to {:?}",
                    target.name,
                    target.environment.as_deref().unwrap_or("none"),
                    me.name,
                    me.environment.as_deref().unwrap_or("none"),
                    next_env.as_deref().unwrap_or("nothing")
                ),
            ));
        }
        let target = target.name.clone();
        out[i].promotes_to = Some(target);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Overrides};

    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, "tollgate.toml", &Overrides::default())
    }

    #[test]
    fn repositories_with_upstreams_and_rules() {
        let c = load(concat!(
            "[[file_repositories]]\n",
            "name = \"libs-dev\"\n",
            "format = \"maven\"\n",
            "environment = \"dev\"\n",
            "promotes_to = \"libs-staging\"\n",
            "snapshot_redeploy = false\n",
            "version_rule = \"semver\"\n",
            "upstream = { kind = \"nexus\", url = \"http://nexus:8081/ctx/\", repository = \"maven-releases\", timeout_secs = 7 }\n",
            "\n",
            "[[file_repositories]]\n",
            "name = \"libs-staging\"\n",
            "format = \"maven\"\n",
            "environment = \"staging\"\n",
            "upstream = { kind = \"artifactory\", url = \"http://af:8082\" }\n",
            "\n",
            "[[file_repositories]]\n",
            "name = \"dev-tools\"\n",
            "format = \"raw\"\n",
            "mutable_paths = [\"nightly/*\"]\n",
            "upstream = { kind = \"raw\", url = \"http://127.0.0.1:5210/repository/tools\" }\n",
        ))
        .unwrap();
        let [dev, staging, tools] = &c.file_repositories[..] else {
            panic!("three repositories expected")
        };
        assert_eq!(dev.format, FileFormat::Maven);
        assert_eq!(
            dev.promotes_to.as_ref().map(|r| r.as_str()),
            Some("libs-staging")
        );
        assert!(!dev.snapshot_redeploy);
        assert_eq!(dev.version_rule, VersionRule::Semver);
        let up = dev.upstream.as_ref().unwrap();
        assert_eq!(up.prefix, "/ctx/repository/maven-releases");
        assert_eq!(up.client.url.as_str(), "http://nexus:8081/");
        assert_eq!(up.client.timeout, Duration::from_secs(7));
        assert_eq!(
            staging.upstream.as_ref().unwrap().prefix,
            "/artifactory/libs-staging"
        );
        // Environment from the name's prefix; every path immutable unless exempted.
        assert_eq!(tools.environment.as_deref(), Some("dev"));
        assert_eq!(tools.upstream.as_ref().unwrap().prefix, "/repository/tools");
        assert!(tools.path_is_immutable("releases/tool-1.0.tgz"));
        assert!(!tools.path_is_immutable("nightly/tool.tgz"));
        assert!(c.file_repository("dev-tools").is_some());
        assert!(c.file_repository("nope").is_none());
    }

    #[test]
    fn errors_point_at_file_and_line() {
        for (text, line) in [
            (
                "[[file_repositories]]\nname = \"Libs\"\nformat = \"raw\"\n",
                2,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"npm\"\n",
                3,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\nenvironment = \"qa\"\n",
                4,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\nversion_rule = \"semver\"\n",
                4,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"maven\"\nimmutable_paths = [\"a\"]\n",
                4,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\npromotes_to = \"x\"\n",
                4,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\nupstream = { kind = \"s3\", url = \"http://x\" }\n",
                4,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\nupstream = { kind = \"raw\", url = \"https://x\" }\n",
                4,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\nupstream = { kind = \"raw\", url = \"http://x\", repository = \"y\" }\n",
                4,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\n[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\n",
                5,
            ),
            (
                "[[file_repositories]]\nname = \"libs\"\nformat = \"raw\"\nsnapshots = true\n",
                4,
            ),
            // dev promotes to staging, not prod
            (
                "[[file_repositories]]\nname = \"a\"\nformat = \"raw\"\nenvironment = \"dev\"\npromotes_to = \"b\"\n[[file_repositories]]\nname = \"b\"\nformat = \"raw\"\nenvironment = \"prod\"\n",
                5,
            ),
        ] {
            let e = load(text).unwrap_err();
            assert!(
                e.location.starts_with(&format!("tollgate.toml:{line}:")),
                "{text:?}: {e}"
            );
        }
    }
}
