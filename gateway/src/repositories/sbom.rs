//! SBOMs deployed as Maven artifacts: the CycloneDX document the cyclonedx-maven-plugin
//! attaches (`<a>-<v>-cyclonedx.json`, classifier `cyclonedx`, type `json`) or an SPDX one
//! (`<a>-<v>-spdx.json`, or the spdx-maven-plugin's `<a>-<v>.spdx.json`) deployed beside a
//! version's main artifact. It is parsed before it is stored (a malformed one is refused
//! `sbom-malformed` and nothing is stored) and recorded as the SBOM of the version's main
//! artifact by the same ingest path as `POST /api/v1/artifacts/{digest}/sboms`, whichever
//! arrives first: an SBOM deployed before its jar is linked when the jar arrives.

use crate::sboms::Parsed;
use futures_util::StreamExt;
use tollgate_attest::Digest;
use tollgate_policies::{ReasonCode, RepoName};
use tollgate_store::FileRecord;

use super::maven::Coordinates;
use super::path::RepoPath;
use super::{Kind, classify};
use crate::app::App;
use crate::config::{FileFormat, FileRepo};
use crate::error::{ApiError, ApiResult};
use crate::sboms::MAX_SBOM_BYTES;

/// Files of one version listed when pairing SBOMs with main artifacts.
const MAX_VERSION_FILES: usize = 10_000;

/// The `source` SBOM records made from Maven deploys carry.
pub const SOURCE: &str = "maven-deploy";

/// Whether the coordinates name an SBOM document Tollgate reads (JSON only: the plugin's XML
/// twin is kept as an ordinary file).
pub fn is_sbom(c: &Coordinates) -> bool {
    match c.classifier.as_deref() {
        Some("cyclonedx" | "spdx") => c.extension == "json",
        None => matches!(c.extension.as_str(), "spdx.json" | "cdx.json"),
        Some(_) => false,
    }
}

/// Whether the coordinates name a version's main artifact (no classifier, not the pom, not an
/// SBOM): what a deployed SBOM describes.
pub fn is_main(c: &Coordinates) -> bool {
    c.classifier.is_none() && c.extension != "pom" && !is_sbom(c)
}

/// Parses a deployed SBOM; refused `sbom-malformed` when it is not one.
pub fn parse(path: &RepoPath, bytes: &[u8]) -> ApiResult<Parsed> {
    crate::sboms::read(bytes).map_err(|e| {
        ApiError::denied(
            ReasonCode::SbomMalformed,
            format!("{path} is deployed as an SBOM but is not one Tollgate can read: {e}"),
        )
    })
}

/// The refusal of an SBOM over the size limit.
pub fn too_large(path: &RepoPath) -> ApiError {
    ApiError::denied(
        ReasonCode::SbomMalformed,
        format!("{path} is over the {MAX_SBOM_BYTES}-byte limit for an SBOM"),
    )
}

/// The files of `c`'s version in `repo` (the same file version: a SNAPSHOT's SBOM belongs to
/// the jar of the same timestamped build) whose coordinates `keep` selects.
fn version_files(
    app: &App,
    repo: &FileRepo,
    path: &RepoPath,
    c: &Coordinates,
    keep: fn(&Coordinates) -> bool,
) -> ApiResult<Vec<FileRecord>> {
    let dir = format!("{}/", path.dir());
    let mut out = Vec::new();
    for f in app.store.list_files(&repo.name, &dir, MAX_VERSION_FILES)? {
        let Ok(p) = RepoPath::new(&f.path) else {
            continue;
        };
        if p.dir() != path.dir() {
            continue;
        }
        if let Ok(Kind::Artifact(Some(other))) = classify(repo, &p)
            && other.artifact_id == c.artifact_id
            && other.file_version == c.file_version
            && keep(&other)
        {
            out.push(f);
        }
    }
    Ok(out)
}

fn record(app: &App, repo: &RepoName, subject: &Digest, doc: &Parsed) -> ApiResult<()> {
    crate::sboms::record(app, subject, doc, SOURCE, Some(repo))?;
    Ok(())
}

/// After the SBOM at `path` was stored: records it for the version's main artifacts already
/// there. Returns their paths.
pub fn link_deployed(
    app: &App,
    repo: &FileRepo,
    path: &RepoPath,
    c: &Coordinates,
    doc: &Parsed,
) -> ApiResult<Vec<String>> {
    let mut linked = Vec::new();
    for main in version_files(app, repo, path, c, is_main)? {
        record(app, &repo.name, &main.digest, doc)?;
        linked.push(main.path);
    }
    Ok(linked)
}

/// The bytes of a stored file, up to `max`.
async fn read_stored(app: &App, repo: &FileRepo, rec: &FileRecord, max: u64) -> ApiResult<Vec<u8>> {
    if rec.size > max {
        return Err(ApiError::internal(format!(
            "{}/{} is larger than {max} bytes",
            repo.name, rec.path
        )));
    }
    let mut stream = app.files.open_read(repo, rec).await?;
    let mut out = Vec::with_capacity(usize::try_from(rec.size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::internal(format!("reading {}/{}: {e}", repo.name, rec.path)))?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// After the main artifact at `path` (digest `subject`) was stored: records for it every SBOM
/// of its version deployed before it. Returns the SBOMs' paths.
pub async fn link_arrived(
    app: &App,
    repo: &FileRepo,
    path: &RepoPath,
    c: &Coordinates,
    subject: &Digest,
) -> ApiResult<Vec<String>> {
    if repo.format != FileFormat::Maven {
        return Ok(Vec::new());
    }
    let mut linked = Vec::new();
    for f in version_files(app, repo, path, c, is_sbom)? {
        let bytes = read_stored(app, repo, &f, MAX_SBOM_BYTES).await?;
        let p = RepoPath::new(&f.path).map_err(ApiError::internal)?;
        // Every SBOM was read when it was deployed; one that no longer reads is not this
        // artifact's fault.
        let doc = match parse(&p, &bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(repo = %repo.name, path = %p, error = %e.message, "stored SBOM not linked");
                continue;
            }
        };
        record(app, &repo.name, subject, &doc)?;
        linked.push(f.path);
    }
    Ok(linked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::maven::{MavenFile, parse as parse_path};

    fn coords(s: &str) -> Coordinates {
        match parse_path(&RepoPath::new(s).unwrap()).unwrap() {
            MavenFile::Artifact(c) => c,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn sboms_and_main_artifacts() {
        let sbom = [
            "com/ex/demo/1.0/demo-1.0-cyclonedx.json",
            "com/ex/demo/1.0/demo-1.0-spdx.json",
            "com/ex/demo/1.0/demo-1.0.spdx.json",
            "com/ex/demo/1.0-SNAPSHOT/demo-1.0-20240115.093012-7-cyclonedx.json",
        ];
        for s in sbom {
            assert!(is_sbom(&coords(s)), "{s}");
            assert!(!is_main(&coords(s)), "{s}");
        }
        for s in [
            "com/ex/demo/1.0/demo-1.0-cyclonedx.xml",
            "com/ex/demo/1.0/demo-1.0.json",
            "com/ex/demo/1.0/demo-1.0-sources.jar",
        ] {
            assert!(!is_sbom(&coords(s)), "{s}");
        }
        assert!(is_main(&coords("com/ex/demo/1.0/demo-1.0.jar")));
        assert!(is_main(&coords("com/ex/demo/1.0/demo-1.0.war")));
        assert!(!is_main(&coords("com/ex/demo/1.0/demo-1.0.pom")));
        assert!(!is_main(&coords("com/ex/demo/1.0/demo-1.0-sources.jar")));
    }
}
