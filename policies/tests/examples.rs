//! Every directory under `policies/examples/` is a policy that loads, and has a README.

use std::fs;
use std::path::{Path, PathBuf};

use tollgate_policies::Policy;

fn toml_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            toml_files(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            let name = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((name, fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn every_example_directory_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        assert!(
            dir.join("README.md").is_file(),
            "{} has no README.md",
            dir.display()
        );
        let mut files = Vec::new();
        toml_files(&dir, &dir, &mut files);
        if let Err(diags) = Policy::load(&files) {
            let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("{}:\n{}", dir.display(), text.join("\n"));
        }
        seen += 1;
    }
    assert!(seen >= 2, "expected the example directories");
}
