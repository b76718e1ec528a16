//! The artifact-level `maven-metadata.xml` (`<g>/<a>/maven-metadata.xml`) of a repository that
//! promotions copy into. Maven resolves version ranges, `LATEST` and `RELEASE` from it, so in an
//! environment repository it must list exactly the versions pulls may be served: it is
//! regenerated from what the repository holds and serves (promoted versions only), written with
//! its checksum sidecars through the repository's own storage (embedded or upstream), and made
//! servable together with the promotion that changed it.

use std::collections::BTreeSet;

use bytes::Bytes;
use tollgate_attest::Digest;
use tollgate_store::FileRecord;

use super::checksums::Algo;
use super::maven::{self, Coordinates};
use super::path::RepoPath;
use super::{Kind, classify, content_type};
use crate::app::{App, now_ms};
use crate::config::{FileFormat, FileRepo, VersionRule};
use crate::error::{ApiError, ApiResult};

/// Files listed when collecting an artifact's versions.
const MAX_FILES: usize = 200_000;

/// Who the generated files are recorded as pushed by.
pub const GENERATOR: &str = "tollgate";

/// The artifact whose metadata a repository keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactKey {
    pub group_id: String,
    pub artifact_id: String,
}

impl ArtifactKey {
    pub fn of(c: &Coordinates) -> ArtifactKey {
        ArtifactKey {
            group_id: c.group_id.clone(),
            artifact_id: c.artifact_id.clone(),
        }
    }

    /// `<g>/<a>/` with the group's dots as directories.
    fn dir(&self) -> String {
        format!("{}/{}/", self.group_id.replace('.', "/"), self.artifact_id)
    }

    pub fn metadata_path(&self) -> String {
        format!("{}{}", self.dir(), maven::METADATA)
    }
}

/// What one regeneration wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    pub path: String,
    /// In Maven order, oldest first.
    pub versions: Vec<String>,
    /// The metadata's digest and its sidecars': what pulls from the repository may serve.
    pub digests: Vec<Digest>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The document for `versions` (sorted, oldest first): `<latest>` is the newest of all,
/// `<release>` the newest that is not a SNAPSHOT; `last_updated` is `yyyyMMddHHmmss` UTC.
pub fn render(key: &ArtifactKey, versions: &[String], last_updated: &str) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<metadata modelVersion=\"1.1.0\">\n");
    x.push_str(&format!("  <groupId>{}</groupId>\n", escape(&key.group_id)));
    x.push_str(&format!(
        "  <artifactId>{}</artifactId>\n",
        escape(&key.artifact_id)
    ));
    x.push_str("  <versioning>\n");
    if let Some(latest) = versions.last() {
        x.push_str(&format!("    <latest>{}</latest>\n", escape(latest)));
    }
    if let Some(release) = versions.iter().rev().find(|v| !v.ends_with("-SNAPSHOT")) {
        x.push_str(&format!("    <release>{}</release>\n", escape(release)));
    }
    x.push_str("    <versions>\n");
    for v in versions {
        x.push_str(&format!("      <version>{}</version>\n", escape(v)));
    }
    x.push_str("    </versions>\n");
    x.push_str(&format!("    <lastUpdated>{last_updated}</lastUpdated>\n"));
    x.push_str("  </versioning>\n</metadata>\n");
    x
}

fn sort(repo: &FileRepo, versions: BTreeSet<String>) -> Vec<String> {
    let eco = match repo.version_rule {
        VersionRule::Maven => tollgate_sbom::Ecosystem::Maven,
        VersionRule::Semver => tollgate_sbom::Ecosystem::Semver,
    };
    let mut v: Vec<String> = versions.into_iter().collect();
    v.sort_by(|a, b| tollgate_sbom::version::compare(eco, a, b).then_with(|| a.cmp(b)));
    v
}

/// The versions of `key` that `repo` holds and may serve: a version counts when one of its
/// artifact files (not a sidecar) is servable there — promoted, in an environment repository
/// — or is among `pending` (the contents of the promotion about to complete).
pub fn versions_held(
    app: &App,
    repo: &FileRepo,
    key: &ArtifactKey,
    pending: &[Digest],
) -> ApiResult<Vec<String>> {
    let env = crate::promotion::gated(app, &repo.name);
    let mut versions = BTreeSet::new();
    for f in app.store.list_files(&repo.name, &key.dir(), MAX_FILES)? {
        let Ok(path) = RepoPath::new(&f.path) else {
            continue;
        };
        let Ok(Kind::Artifact(Some(c))) = classify(repo, &path) else {
            continue;
        };
        if ArtifactKey::of(&c) != *key || versions.contains(&c.version) {
            continue;
        }
        let servable = match &env {
            None => true,
            Some(env) => {
                pending.contains(&f.digest) || app.store.is_served(env, &repo.name, &f.digest)?
            }
        };
        if servable {
            versions.insert(c.version);
        }
    }
    Ok(sort(repo, versions))
}

/// Writes `bytes` at `path` of `repo` (a mutable path), as a client's deploy would be.
async fn write(app: &App, repo: &FileRepo, path: &RepoPath, bytes: Bytes) -> ApiResult<Digest> {
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let spool = app.files.spool(stream).await?;
    let sums = spool.sums.clone();
    let rec = FileRecord {
        path: path.to_string(),
        digest: sums.sha256.clone(),
        size: sums.size,
        checksums: sums.checksums(),
        content_type: Some(content_type(path).to_string()),
        purl: None,
        pushed_by: GENERATOR.to_string(),
        pushed_at_ms: now_ms(),
    };
    if let tollgate_store::FileOutcome::Replaced { previous } =
        super::store_file(app, repo, path, spool, &rec, None).await?
        && !app.files.is_upstream(repo)
    {
        // The previous generation's content, unless another file still holds those bytes.
        super::forget_if_unused(app, &previous).await;
    }
    Ok(rec.digest)
}

/// Regenerates `key`'s metadata in `repo` (a Maven repository) with the versions it holds,
/// and its `.sha1`, `.md5`, `.sha256` and `.sha512` sidecars; `None` when it holds none.
pub async fn regenerate(
    app: &App,
    repo: &FileRepo,
    key: &ArtifactKey,
    pending: &[Digest],
) -> ApiResult<Option<Generated>> {
    if repo.format != FileFormat::Maven {
        return Ok(None);
    }
    let versions = versions_held(app, repo, key, pending)?;
    if versions.is_empty() {
        return Ok(None);
    }
    let stamp = tollgate_policies::chrono::DateTime::from_timestamp_millis(now_ms())
        .unwrap_or_default()
        .format("%Y%m%d%H%M%S")
        .to_string();
    let doc = render(key, &versions, &stamp);
    let sums = super::checksums::sums_of(doc.as_bytes());
    let path = RepoPath::new(&key.metadata_path()).map_err(ApiError::internal)?;
    let mut digests = vec![write(app, repo, &path, Bytes::from(doc)).await?];
    for a in Algo::ALL {
        let hex = match a {
            Algo::Sha256 => sums.sha256.hex().to_string(),
            Algo::Sha1 => sums.sha1.clone(),
            Algo::Md5 => sums.md5.clone(),
            Algo::Sha512 => sums.sha512.clone(),
        };
        let sidecar = path.with_suffix(a.suffix());
        digests.push(write(app, repo, &sidecar, Bytes::from(hex)).await?);
    }
    Ok(Some(Generated {
        path: path.to_string(),
        versions,
        digests,
    }))
}

/// The metadata a promotion of the file at `path` (in the promotion's source) changes in
/// `target`: its artifact's, when both are Maven repositories and the file is an artifact.
pub fn affected(source: &FileRepo, target: &FileRepo, path: &str) -> Option<ArtifactKey> {
    if target.format != FileFormat::Maven {
        return None;
    }
    let p = RepoPath::new(path).ok()?;
    match classify(source, &p).ok()? {
        Kind::Artifact(Some(c)) => Some(ArtifactKey::of(&c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_latest_release_and_versions() {
        let key = ArtifactKey {
            group_id: "com.example".into(),
            artifact_id: "demo".into(),
        };
        let versions = vec!["1.0.0".into(), "1.1.0".into(), "1.2.0-SNAPSHOT".into()];
        let x = render(&key, &versions, "20240115093012");
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata modelVersion=\"1.1.0\">\n  <groupId>com.example</groupId>\n  <artifactId>demo</artifactId>\n  <versioning>\n    <latest>1.2.0-SNAPSHOT</latest>\n    <release>1.1.0</release>\n    <versions>\n      <version>1.0.0</version>\n      <version>1.1.0</version>\n      <version>1.2.0-SNAPSHOT</version>\n    </versions>\n    <lastUpdated>20240115093012</lastUpdated>\n  </versioning>\n</metadata>\n"
        );
        assert_eq!(key.metadata_path(), "com/example/demo/maven-metadata.xml");
        assert!(render(&key, &["a<b".into()], "1").contains("<version>a&lt;b</version>"));
    }
}
