//! `[promotions]` (the scheduler that runs scheduled promotions) and `[[dependencies]]`
//! (what a repository needs in an environment before it may be promoted there).
//!
//! ```toml
//! [promotions]
//! scheduler_interval_secs = 5
//!
//! [[dependencies]]
//! repository = "app-web"
//! requires = [ { repository = "app-api", version = ">=1.4.0" } ]
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tollgate_policies::RepoName;
use toml::Spanned;

use super::{ConfigError, Environment, Source};

pub const DEFAULT_SCHEDULER_INTERVAL: Duration = Duration::from_secs(5);

/// `[promotions]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePromotions {
    /// How often due scheduled promotions, and promotions waiting on dependencies, are
    /// looked at (default 5).
    pub scheduler_interval_secs: Option<Spanned<u64>>,
}

/// One `[[dependencies]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDependency {
    pub repository: Spanned<String>,
    pub requires: Spanned<Vec<FileRequirement>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequirement {
    pub repository: Spanned<String>,
    pub version: Spanned<String>,
}

/// The scheduler's settings.
#[derive(Debug, Clone)]
pub struct PromotionsConfig {
    pub scheduler_interval: Duration,
}

impl Default for PromotionsConfig {
    fn default() -> Self {
        PromotionsConfig {
            scheduler_interval: DEFAULT_SCHEDULER_INTERVAL,
        }
    }
}

/// A repository (named without the environment prefix, like policy patterns) and what it
/// needs in the environment it is promoted into.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dependency {
    pub repository: String,
    pub requires: Vec<Requirement>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Requirement {
    pub repository: String,
    #[serde(serialize_with = "display")]
    pub version: semver::VersionReq,
    /// `file:line` of the requirement, shown as the rule's source in decisions.
    pub source: String,
}

fn display<S: serde::Serializer>(v: &semver::VersionReq, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

pub fn validate_promotions(
    p: Option<FilePromotions>,
    src: &Source<'_>,
) -> Result<PromotionsConfig, ConfigError> {
    let Some(p) = p else {
        return Ok(PromotionsConfig::default());
    };
    let scheduler_interval = match p.scheduler_interval_secs {
        Some(s) if *s.get_ref() == 0 || *s.get_ref() > 3600 => {
            return Err(src.at(
                s.span(),
                "scheduler_interval_secs must be between 1 and 3600",
            ));
        }
        Some(s) => Duration::from_secs(s.into_inner()),
        None => DEFAULT_SCHEDULER_INTERVAL,
    };
    Ok(PromotionsConfig { scheduler_interval })
}

/// `file:line` of `span`.
fn line_of(src: &Source<'_>, span: std::ops::Range<usize>) -> String {
    let loc = src.at(span, "").location;
    match loc.rsplit_once(':') {
        Some((file_line, _col)) => file_line.to_string(),
        None => loc,
    }
}

fn repository_name(
    name: &Spanned<String>,
    environments: &[Environment],
    src: &Source<'_>,
) -> Result<String, ConfigError> {
    let text = name.get_ref();
    if let Err(e) = text.parse::<RepoName>() {
        return Err(src.at(name.span(), format!("repository {text:?}: {e}")));
    }
    if let Some(env) = environments
        .iter()
        .find(|e| text.starts_with(e.prefix.as_str()))
    {
        return Err(src.at(
            name.span(),
            format!(
                "name the repository without its environment prefix ({:?} is {}'s): {:?}",
                env.prefix,
                env.name,
                &text[env.prefix.len()..]
            ),
        ));
    }
    Ok(text.clone())
}

pub fn validate_dependencies(
    deps: Vec<FileDependency>,
    environments: &[Environment],
    src: &Source<'_>,
) -> Result<Vec<Dependency>, ConfigError> {
    let mut out: Vec<Dependency> = Vec::new();
    let mut spans = BTreeMap::new();
    for d in deps {
        let repository = repository_name(&d.repository, environments, src)?;
        if out.iter().any(|o| o.repository == repository) {
            return Err(src.at(
                d.repository.span(),
                format!(
                    "dependencies of {repository:?} are declared twice: list them in one entry"
                ),
            ));
        }
        if d.requires.get_ref().is_empty() {
            return Err(src.at(
                d.requires.span(),
                format!(
                    "{repository:?} requires nothing: give at least one {{ repository, version }}"
                ),
            ));
        }
        let mut requires: Vec<Requirement> = Vec::new();
        for r in d.requires.into_inner() {
            let name = repository_name(&r.repository, environments, src)?;
            if name == repository {
                return Err(src.at(
                    r.repository.span(),
                    format!("{repository:?} cannot depend on itself"),
                ));
            }
            if requires.iter().any(|q| q.repository == name) {
                return Err(src.at(
                    r.repository.span(),
                    format!(
                        "{repository:?} requires {name:?} twice: combine the ranges (\">=1.4, <2\")"
                    ),
                ));
            }
            let version = semver::VersionReq::parse(r.version.get_ref()).map_err(|e| {
                src.at(
                    r.version.span(),
                    format!(
                        "version {:?} is not a SemVer requirement (e.g. \">=1.4.0\", \"^2\"): {e}",
                        r.version.get_ref()
                    ),
                )
            })?;
            spans.insert((repository.clone(), name.clone()), r.repository.span());
            requires.push(Requirement {
                repository: name,
                version,
                source: line_of(src, r.version.span()),
            });
        }
        out.push(Dependency {
            repository,
            requires,
        });
    }
    if let Some(cycle) = find_cycle(&out) {
        let closing = (
            cycle[cycle.len() - 2].clone(),
            cycle[cycle.len() - 1].clone(),
        );
        let span = spans.get(&closing).cloned().unwrap_or(0..0);
        return Err(src.at(
            span,
            format!(
                "dependencies form a cycle, so none of them could ever be promoted: {}",
                cycle.join(" → ")
            ),
        ));
    }
    Ok(out)
}

/// A dependency cycle, as the path that closes it (`a → b → a`), if there is one.
fn find_cycle(deps: &[Dependency]) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        deps: &[Dependency],
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.iter().any(|d| d == node) {
            return None;
        }
        path.push(node.to_string());
        if let Some(d) = deps.iter().find(|d| d.repository == node) {
            for r in &d.requires {
                if let Some(c) = visit(&r.repository, deps, path, done) {
                    return Some(c);
                }
            }
        }
        path.pop();
        done.push(node.to_string());
        None
    }
    let mut done = Vec::new();
    for d in deps {
        if let Some(c) = visit(&d.repository, deps, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, Overrides};

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, "tollgate.toml", &Overrides::default())
    }

    #[test]
    fn dependencies_and_scheduler_settings() {
        let c = load("").unwrap();
        assert_eq!(c.promotions.scheduler_interval.as_secs(), 5);
        assert!(c.dependencies.is_empty());
        let c = load(
            "[promotions]\nscheduler_interval_secs = 2\n\n[[dependencies]]\nrepository = \"app-web\"\nrequires = [\n  { repository = \"app-api\", version = \">=1.4.0\" },\n  { repository = \"auth\", version = \"^2\" },\n]\n\n[[dependencies]]\nrepository = \"app-api\"\nrequires = [{ repository = \"db/schema\", version = \">=7, <8\" }]\n",
        )
        .unwrap();
        assert_eq!(c.promotions.scheduler_interval.as_secs(), 2);
        assert_eq!(c.dependencies.len(), 2);
        let web = &c.dependencies[0];
        assert_eq!(web.repository, "app-web");
        assert_eq!(web.requires[0].repository, "app-api");
        assert!(
            web.requires[0]
                .version
                .matches(&semver::Version::new(1, 4, 0))
        );
        assert!(
            !web.requires[0]
                .version
                .matches(&semver::Version::new(1, 3, 9))
        );
        assert_eq!(web.requires[0].source, "tollgate.toml:7");
        assert_eq!(web.requires[1].source, "tollgate.toml:8");
    }

    #[test]
    fn dependency_errors_point_at_file_and_line() {
        for (text, line, needle) in [
            (
                "[promotions]\nscheduler_interval_secs = 0\n",
                2,
                "between 1 and 3600",
            ),
            (
                "[[dependencies]]\nrepository = \"app-web\"\nrequires = [{ repository = \"app-api\", version = \"newest\" }]\n",
                3,
                "not a SemVer requirement",
            ),
            (
                "[[dependencies]]\nrepository = \"prod/app-web\"\nrequires = [{ repository = \"app-api\", version = \"1\" }]\n",
                2,
                "without its environment prefix",
            ),
            (
                "[[dependencies]]\nrepository = \"app-web\"\nrequires = []\n",
                3,
                "requires nothing",
            ),
            (
                "[[dependencies]]\nrepository = \"app-web\"\nrequires = [{ repository = \"app-web\", version = \"1\" }]\n",
                3,
                "itself",
            ),
            (
                "[[dependencies]]\nrepository = \"App\"\nrequires = [{ repository = \"x\", version = \"1\" }]\n",
                2,
                "repository \"App\"",
            ),
            (
                "[[dependencies]]\nrepository = \"a\"\nrequires = [{ repository = \"b\", version = \"1\" }]\n[[dependencies]]\nrepository = \"a\"\nrequires = [{ repository = \"c\", version = \"1\" }]\n",
                5,
                "declared twice",
            ),
            (
                "[[dependencies]]\nrepository = \"a\"\nrequires = [{ repository = \"b\", version = \"1\" }]\n[[dependencies]]\nrepository = \"b\"\nrequires = [{ repository = \"c\", version = \"1\" }]\n[[dependencies]]\nrepository = \"c\"\nrequires = [{ repository = \"a\", version = \"1\" }]\n",
                9,
                "cycle, so none of them could ever be promoted: a → b → c → a",
            ),
            (
                "[[dependencies]]\nrepository = \"a\"\nrequires = [{ repository = \"b\", version = \"1\", extra = 1 }]\n",
                3,
                "unknown field",
            ),
        ] {
            let e = load(text).unwrap_err();
            assert!(
                e.location.starts_with(&format!("tollgate.toml:{line}:")),
                "{text}: {e}"
            );
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }
}
