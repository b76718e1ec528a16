//! SLSA provenance (v0.2 and v1) normalised into one [`Provenance`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::VerifyError;
use crate::statement::Statement;

pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

/// Where an artifact came from, whichever SLSA version said so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub predicate_type: String,
    pub builder_id: String,
    pub build_type: Option<String>,
    /// Source repository URI without its `@ref` (e.g. `git+https://github.com/org/repo`).
    pub source_uri: Option<String>,
    /// The ref the source was taken at (e.g. `refs/tags/v1.5.0`).
    pub source_ref: Option<String>,
    /// The commit (`gitCommit` or `sha1`).
    pub source_commit: Option<String>,
    /// The CI job: invocation id as the builder reports it.
    pub invocation_id: Option<String>,
    /// A URL a person can open to see the run, when the builder's invocation id is one.
    pub run_url: Option<String>,
    /// The build environment: runner, image or OS, where the predicate says.
    pub environment: Option<Value>,
    pub started_on: Option<String>,
    pub finished_on: Option<String>,
}

fn s(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_string).filter(|x| !x.is_empty())
}

/// Splits `git+https://github.com/org/repo@refs/tags/v1` into URI and ref.
pub fn split_ref(uri: &str) -> (String, Option<String>) {
    // The ref follows the last '@' after the host part.
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    match uri[after_scheme..].rfind('@') {
        Some(i) => {
            let at = after_scheme + i;
            (uri[..at].to_string(), Some(uri[at + 1..].to_string()))
        }
        None => (uri.to_string(), None),
    }
}

fn commit_of(digest: Option<&Value>) -> Option<String> {
    let d = digest?;
    ["gitCommit", "sha1", "sha256"]
        .iter()
        .find_map(|k| d.get(k).and_then(Value::as_str))
        .map(str::to_string)
}

fn run_url_from(id: &str) -> Option<String> {
    id.starts_with("https://").then(|| id.to_string())
}

impl Provenance {
    /// Reads the provenance carried by a statement whose predicate is SLSA v0.2 or v1.
    pub fn from_statement(st: &Statement) -> Result<Self, VerifyError> {
        let p = &st.predicate;
        match st.predicate_type.as_str() {
            SLSA_V02 => {
                let builder_id = s(p, &["builder", "id"]).ok_or_else(|| {
                    VerifyError::Malformed("SLSA v0.2 provenance has no builder.id".into())
                })?;
                let config_uri = s(p, &["invocation", "configSource", "uri"]);
                let material = p.get("materials").and_then(|m| m.get(0));
                let source_full = config_uri
                    .clone()
                    .or_else(|| material.and_then(|m| s(m, &["uri"])));
                let (source_uri, source_ref) = match &source_full {
                    Some(u) => {
                        let (u, r) = split_ref(u);
                        (Some(u), r)
                    }
                    None => (None, None),
                };
                let source_commit = commit_of(
                    p.get("invocation")
                        .and_then(|i| i.get("configSource"))
                        .and_then(|c| c.get("digest")),
                )
                .or_else(|| commit_of(material.and_then(|m| m.get("digest"))));
                // slsa-github-generator spells it buildInvocationID.
                let invocation_id = s(p, &["metadata", "buildInvocationId"])
                    .or_else(|| s(p, &["metadata", "buildInvocationID"]));
                let environment = p
                    .get("invocation")
                    .and_then(|i| i.get("environment"))
                    .filter(|e| !e.is_null())
                    .map(trim_environment);
                let run_url = environment
                    .as_ref()
                    .and_then(|e| github_run_url(e, source_uri.as_deref()))
                    .or_else(|| invocation_id.as_deref().and_then(run_url_from));
                Ok(Provenance {
                    predicate_type: SLSA_V02.into(),
                    builder_id,
                    build_type: s(p, &["buildType"]),
                    source_uri,
                    source_ref,
                    source_commit,
                    invocation_id,
                    run_url,
                    environment,
                    started_on: s(p, &["metadata", "buildStartedOn"]),
                    finished_on: s(p, &["metadata", "buildFinishedOn"]),
                })
            }
            SLSA_V1 => {
                let builder_id = s(p, &["runDetails", "builder", "id"]).ok_or_else(|| {
                    VerifyError::Malformed("SLSA v1 provenance has no runDetails.builder.id".into())
                })?;
                let def = p.get("buildDefinition").cloned().unwrap_or(Value::Null);
                let dep = def.get("resolvedDependencies").and_then(|d| d.get(0));
                let workflow = def
                    .get("externalParameters")
                    .and_then(|e| e.get("workflow"));
                // GitHub's native buildType names the repository in externalParameters.workflow.
                let source_full = dep.and_then(|d| s(d, &["uri"])).or_else(|| {
                    let repo = workflow.and_then(|w| s(w, &["repository"]))?;
                    let r = workflow.and_then(|w| s(w, &["ref"]));
                    Some(match r {
                        Some(r) => format!("git+{repo}@{r}"),
                        None => format!("git+{repo}"),
                    })
                });
                let (source_uri, source_ref) = match &source_full {
                    Some(u) => {
                        let (u, r) = split_ref(u);
                        (Some(u), r)
                    }
                    None => (None, None),
                };
                let invocation_id = s(p, &["runDetails", "metadata", "invocationId"])
                    .or_else(|| s(p, &["runDetails", "metadata", "invocationID"]));
                let internal = def.get("internalParameters").and_then(|i| i.get("github"));
                let environment = internal.filter(|e| !e.is_null()).cloned();
                let run_url = invocation_id.as_deref().and_then(run_url_from).or_else(|| {
                    environment
                        .as_ref()
                        .and_then(|e| github_run_url(e, source_uri.as_deref()))
                });
                Ok(Provenance {
                    predicate_type: SLSA_V1.into(),
                    builder_id,
                    build_type: s(&def, &["buildType"]),
                    source_uri,
                    source_ref,
                    source_commit: commit_of(dep.and_then(|d| d.get("digest"))),
                    invocation_id,
                    run_url,
                    environment,
                    started_on: s(p, &["runDetails", "metadata", "startedOn"]),
                    finished_on: s(p, &["runDetails", "metadata", "finishedOn"]),
                })
            }
            other => Err(VerifyError::Unsupported(format!(
                "predicate type {other:?} is not SLSA provenance"
            ))),
        }
    }

    /// The builder id without its `@ref` suffix.
    pub fn builder_name(&self) -> &str {
        self.builder_id
            .split_once('@')
            .map_or(&self.builder_id, |(n, _)| n)
    }
}

/// The build environment as recorded: a GitHub environment without the whole triggering
/// event, which is large and says nothing about where the build ran.
fn trim_environment(env: &Value) -> Value {
    let mut env = env.clone();
    if let Some(m) = env.as_object_mut() {
        m.remove("github_event_payload");
    }
    env
}

/// GitHub-style environments carry the server, repository and run id: the run's URL. Older
/// ones name no repository; the source repository on github.com stands in.
fn github_run_url(env: &Value, source_uri: Option<&str>) -> Option<String> {
    let server = s(env, &["github_server_url"]).unwrap_or_else(|| "https://github.com".into());
    let repo = s(env, &["github_repository"]).or_else(|| {
        source_uri?
            .strip_prefix("git+https://github.com/")
            .map(str::to_string)
    })?;
    let run = env.get("github_run_id").and_then(|v| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_u64().map(|n| n.to_string()))
    })?;
    let mut url = format!("{server}/{repo}/actions/runs/{run}");
    if let Some(attempt) = s(env, &["github_run_attempt"]) {
        url.push_str(&format!("/attempts/{attempt}"));
    }
    Some(url)
}

/// Normalises a source URI as slsa-verifier does: `github.com/org/repo` and
/// `https://github.com/org/repo` both become `git+https://github.com/org/repo`.
pub fn normalise_source_uri(uri: &str) -> String {
    let (u, _) = split_ref(uri.trim());
    let u = u.trim_end_matches('/').trim_end_matches(".git");
    if u.starts_with("git+") {
        u.to_string()
    } else if u.starts_with("https://") || u.starts_with("http://") {
        format!("git+{u}")
    } else {
        format!("git+https://{u}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SLSA v0.2 statement of slsa-github-generator's generic generator (the shared
    /// fixture), read for its facts; its signature is verified elsewhere.
    #[test]
    fn reads_slsa_v02_from_the_generic_generator() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/dsse-slsa/slsa-v0.2-dsse-embedded-cert/annotated-tag.intoto.jsonl"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let env = crate::dsse::Envelope::parse(text.lines().next().unwrap().as_bytes()).unwrap();
        let st = Statement::parse(&env.payload).unwrap();
        assert_eq!(st.type_, crate::statement::STATEMENT_V01);
        assert_eq!(st.subject.len(), 2);
        let p = Provenance::from_statement(&st).unwrap();
        assert_eq!(
            p.builder_id,
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.2.2"
        );
        assert_eq!(
            p.builder_name(),
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml"
        );
        assert_eq!(
            p.build_type.as_deref(),
            Some("https://github.com/slsa-framework/slsa-github-generator/generic@v1")
        );
        assert_eq!(
            p.source_uri.as_deref(),
            Some("git+https://github.com/asraa/slsa-on-github-test")
        );
        assert_eq!(p.source_ref.as_deref(), Some("refs/tags/v1.5.0"));
        assert_eq!(
            p.source_commit.as_deref(),
            Some("f24af35a7c714f1b4eeb53afefb57fa11bd5c95c")
        );
        assert_eq!(p.invocation_id.as_deref(), Some("4069568961-1"));
        assert_eq!(
            p.run_url.as_deref(),
            Some("https://github.com/asraa/slsa-on-github-test/actions/runs/4069568961/attempts/1")
        );
        let env = p.environment.unwrap();
        assert_eq!(env["github_ref"], "refs/tags/v1.5.0");
        assert!(
            env.get("github_event_payload").is_none(),
            "the event payload is not kept"
        );
        assert_eq!(
            normalise_source_uri("github.com/asraa/slsa-on-github-test"),
            p.source_uri.unwrap()
        );
    }

    #[test]
    fn splits_refs() {
        assert_eq!(
            split_ref("git+https://github.com/o/r@refs/tags/v1"),
            (
                "git+https://github.com/o/r".to_string(),
                Some("refs/tags/v1".to_string())
            )
        );
        assert_eq!(
            split_ref("git+https://github.com/o/r"),
            ("git+https://github.com/o/r".to_string(), None)
        );
        assert_eq!(
            normalise_source_uri("github.com/o/r"),
            "git+https://github.com/o/r"
        );
        assert_eq!(
            normalise_source_uri("https://github.com/o/r.git"),
            "git+https://github.com/o/r"
        );
        assert_eq!(
            normalise_source_uri("git+https://github.com/o/r@refs/heads/main"),
            "git+https://github.com/o/r"
        );
    }
}
