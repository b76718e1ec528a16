//! `tollgate policy check DIR`: lint a promotion policy directory for CI, and optionally
//! dry-run a decision. Exit 0 when the policy is valid, 1 when it has errors, 2 when the
//! directory (or the facts file, or `--now`) cannot be used.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use tollgate_policies::chrono::{DateTime, Utc};
use tollgate_policies::{Diagnostic, Facts, Policy, evaluate};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The policy directory (base.toml and overlays)
    pub dir: PathBuf,
    /// Facts of a promotion (JSON, the shape `Facts` serialises to): also print the decision
    #[arg(long)]
    pub facts: Option<PathBuf>,
    /// The time to decide at, RFC 3339 [default: now]
    #[arg(long, requires = "facts")]
    pub now: Option<String>,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
}

/// Input that cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Every `*.toml` under `dir` (hidden entries skipped), as `(name relative to dir with '/',
/// contents)` in name order: what [`Policy::load`] takes. The gateway's reload uses it too.
pub fn read_policy_dir(dir: &Path) -> Result<Vec<(String, String)>, InputError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), InputError> {
        let err = |e: std::io::Error| InputError(format!("{}: {e}", dir.display()));
        for entry in fs::read_dir(dir).map_err(err)? {
            let entry = entry.map_err(err)?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let ty = entry.file_type().map_err(err)?;
            if ty.is_dir() {
                walk(root, &path, out)?;
            } else if path.extension().is_some_and(|e| e == "toml") {
                let text = fs::read_to_string(&path)
                    .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
                let name = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((name, text));
            }
        }
        Ok(())
    }
    if !dir.is_dir() {
        return Err(InputError(format!("{}: not a directory", dir.display())));
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// What `policy check` found: printed by [`Report::render`].
#[derive(Debug)]
pub struct Report {
    pub files: Vec<String>,
    pub result: Result<Policy, Vec<Diagnostic>>,
    pub decision: Option<tollgate_policies::Decision>,
}

impl Report {
    /// Exit status: 0 valid, 1 errors.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.result.is_err())
    }

    pub fn render(&self, json: bool) -> String {
        if json {
            let v = match &self.result {
                Ok(p) => json!({
                    "ok": true,
                    "files": self.files,
                    "digest": p.digest().to_string(),
                    "environments": p.environments().collect::<Vec<_>>(),
                    "diagnostics": [],
                    "decision": self.decision,
                }),
                Err(d) => json!({
                    "ok": false,
                    "files": self.files,
                    "diagnostics": d,
                }),
            };
            return serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
        }
        let mut out = String::new();
        match &self.result {
            Ok(p) => {
                out.push_str(&format!(
                    "ok: {} file(s), environments: {}\npolicy {}\n",
                    self.files.len(),
                    p.environments().collect::<Vec<_>>().join(", "),
                    p.digest()
                ));
                if let Some(d) = &self.decision {
                    out.push_str(&serde_json::to_string_pretty(d).unwrap_or_default());
                    out.push('\n');
                }
            }
            Err(diags) => {
                for d in diags {
                    out.push_str(&d.to_string());
                    out.push('\n');
                }
                out.push_str(&format!("{} error(s)\n", diags.len()));
            }
        }
        out
    }
}

/// Loads the directory (and the facts, if any) and checks it.
pub fn check(args: &CheckArgs) -> Result<Report, InputError> {
    let files = read_policy_dir(&args.dir)?;
    let facts: Option<Facts> = match &args.facts {
        None => None,
        Some(path) => {
            let bytes =
                fs::read(path).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
            Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| InputError(format!("{}: not facts: {e}", path.display())))?,
            )
        }
    };
    let now: DateTime<Utc> = match &args.now {
        None => Utc::now(),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| InputError(format!("--now {s:?}: expected RFC 3339: {e}")))?
            .with_timezone(&Utc),
    };
    let result = Policy::load(&files);
    let decision = match (&result, &facts) {
        (Ok(p), Some(f)) => Some(evaluate(p, f, now)),
        _ => None,
    };
    Ok(Report {
        files: files.into_iter().map(|(n, _)| n).collect(),
        result,
        decision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_toml_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("overlays/.hidden")).unwrap();
        fs::write(dir.path().join("base.toml"), "[environments.prod]\n").unwrap();
        fs::write(
            dir.path().join("overlays/a.toml"),
            "[overlay]\nrepositories = [\"a/*\"]\n",
        )
        .unwrap();
        fs::write(dir.path().join("overlays/.hidden/x.toml"), "junk").unwrap();
        fs::write(dir.path().join("README.md"), "# hi").unwrap();
        let files = read_policy_dir(dir.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["base.toml", "overlays/a.toml"]);
        let args = CheckArgs {
            dir: dir.path().to_path_buf(),
            facts: None,
            now: None,
            json: false,
        };
        let report = check(&args).unwrap();
        assert_eq!(report.exit_code(), 0);
        assert!(report.render(false).contains("policy sha256:"));
        assert!(read_policy_dir(&dir.path().join("nope")).is_err());
    }
}
