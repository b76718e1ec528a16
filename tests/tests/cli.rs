//! Command-line manners: configuration errors name the file and line and exit 2, JSON logs
//! are JSON, and the `token` subcommands create, refuse and list tokens sensibly.

use std::fs;
use std::path::Path;

use tollgate_e2e::serde_json::Value;
use tollgate_e2e::tempfile::TempDir;
use tollgate_e2e::*;

/// Runs `tollgate serve` with `args` plus a data directory and listen address of its own; it
/// is expected to refuse to start.
fn serve_refused(dir: &Path, args: &[&str]) -> CmdOutput {
    let data = dir.join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    all.extend([
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--listen",
        &listen,
    ]);
    let out = tollgate_cli(&all);
    assert!(
        !data.exists(),
        "a refused start must not create the data directory: {out}"
    );
    out
}

/// Asserts exit status 2 and a stderr naming `location` and every word in `words`.
#[track_caller]
fn expect_usage_error(out: &CmdOutput, location: &str, words: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "expected exit status 2: {out}");
    let err = out.stderr_str();
    assert!(
        err.contains(location),
        "stderr must name {location:?}: {out}"
    );
    for w in words {
        assert!(err.contains(w), "stderr must mention {w:?}: {out}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout: {out}");
}

#[test]
fn config_errors_name_file_and_line_and_exit_2() {
    let dir = TempDir::new().unwrap();
    let cases: &[(&str, &str, usize, &[&str])] = &[
        (
            "bad-value.toml",
            "[[repositories]]\npattern = \"a/*\"\nsemver = \"maybe\"\n",
            3,
            &["semver", "maybe"],
        ),
        (
            "unknown-top.toml",
            "anonymous_pull = false\nlisten_addr = \"127.0.0.1:1\"\n",
            2,
            &["listen_addr"],
        ),
        (
            "unknown-upstream.toml",
            "# upstream with a misspelt key\n[upstream]\nurl = \"http://127.0.0.1:1\"\nuser = \"alice\"\n",
            4,
            &["user", "username"],
        ),
        ("not-toml.toml", "[[repositories]\n", 1, &[]),
    ];
    for (name, text, line, words) in cases {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        let out = serve_refused(dir.path(), &["--config", path.to_str().unwrap()]);
        expect_usage_error(&out, &format!("{}:{line}:", path.display()), words);
    }

    // a bad flag value names the flag
    let out = serve_refused(dir.path(), &["--log-format", "yaml"]);
    expect_usage_error(&out, "--log-format", &["json"]);
}

#[test]
fn log_format_json_writes_json_lines_to_stderr() {
    let mut tg = Tollgate::start(TollgateOpts {
        extra_args: vec!["--log-format".into(), "json".into()],
        ..TollgateOpts::default()
    });
    // give it something to log beyond the start: failed requests
    tg.anon().get("/v2/").expect_status(401, "anonymous /v2/");
    tg.admin()
        .get_manifest("dev/app", "nope")
        .expect_status(404, "unknown manifest");
    tg.stop();

    // the banner with the first admin token is on stdout, not in the log
    let stdout = tg.stdout();
    assert!(
        stdout.contains("admin token") && stdout.contains(&tg.admin_token),
        "stdout carries the first-token banner: {stdout}"
    );
    let log = tg.log();
    assert!(
        !log.contains(&tg.admin_token),
        "the log must not carry the admin token:\n{log}"
    );

    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no log lines at all");
    let mut messages = Vec::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("stderr line is not JSON ({e}): {line}\n--- log ---\n{log}")
        });
        assert!(
            v.get("level").is_some() || v.get("fields").is_some(),
            "JSON log line without level or fields: {line}"
        );
        if let Some(m) = v["fields"]["message"].as_str() {
            messages.push(m.to_string());
        }
    }
    assert!(
        messages.iter().any(|m| m.contains("serving")),
        "the start is logged as JSON with a message; messages: {messages:?}"
    );
}

#[test]
fn token_created_by_cli_on_a_fresh_data_dir_authenticates() {
    let mut tg = Tollgate::prepare(TollgateOpts::default());
    let out = tg
        .cli_data(&["token", "create", "--name", "ci", "--role", "pusher:dev/*"])
        .ok();
    let stdout = out.stdout_str();
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "token create prints just the token: {out}");
    let token = lines[0].trim().to_string();

    tg.restart();
    // A store that already holds a token gets no bootstrap admin token: no file, no banner.
    assert!(
        !tg.data_dir().join("admin-token").exists(),
        "serve created an admin-token file although the store already held a token"
    );
    assert!(tg.admin_token.is_empty());
    assert!(
        !tg.stdout().contains("admin token"),
        "no first-token banner: {}",
        tg.stdout()
    );

    let img = TinyImage::new();
    let http = tg.basic("ci", &token);
    http.push_image("dev/app", "1.0.0", &img);
    tg.bearer(&token)
        .get_manifest("dev/app", "1.0.0")
        .expect_status(200, "the CLI token as Bearer");
    let (other, _) = img.variant("outside the grant");
    http.put_manifest("prod/app", "1.0.0", OCI_MANIFEST, &other)
        .expect_denied("role-missing", "pusher:dev/* pushing to prod/app");
    tg.anon()
        .get_manifest("dev/app", "1.0.0")
        .expect_status(401, "anonymous pull");
}

#[test]
fn token_create_with_an_unknown_role_is_refused() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let out = tollgate_cli(&[
        "token",
        "create",
        "--data",
        data.to_str().unwrap(),
        "--name",
        "ci",
        "--role",
        "root",
    ]);
    assert!(!out.success(), "role `root` was accepted: {out}");
    assert!(
        out.stderr_str().contains("root"),
        "the message names the role: {out}"
    );
    assert!(out.stdout.is_empty(), "no token printed: {out}");
    assert!(
        !data.exists(),
        "a refused token create must not create the data directory: {out}"
    );
}

#[test]
fn token_list_shows_names_and_roles_never_secrets() {
    let mut tg = Tollgate::start(TollgateOpts::default());
    let ci = tg.create_token("ci", &["pusher:dev/*", "reader:prod/*"]);
    let temp = tg.create_token("temp", &["reader:*"]);
    tg.revoke_token("temp");

    // while serve runs the store is locked: the CLI says so and points at the API
    let out = tg.cli_data(&["token", "list"]);
    assert!(!out.success(), "token list on a locked store: {out}");
    assert!(
        out.stderr_str().contains("/api/v1/tokens"),
        "the message points at the API: {out}"
    );

    tg.stop();
    let out = tg.cli_data(&["token", "list"]).ok();
    let stdout = out.stdout_str();
    let row = |name: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|l| l.split('\t').next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}: {out}"))
            .split('\t')
            .map(str::to_string)
            .collect()
    };
    let admin = row("admin");
    assert!(admin.iter().any(|c| c.contains("admin")), "{admin:?}");
    let ci_row = row("ci");
    assert!(
        ci_row.iter().any(|c| c.contains("pusher:dev/*")),
        "{ci_row:?}"
    );
    assert!(
        ci_row.iter().any(|c| c.contains("reader:prod/*")),
        "{ci_row:?}"
    );
    assert!(ci_row.iter().any(|c| c == "active"), "{ci_row:?}");
    let temp_row = row("temp");
    assert!(temp_row.iter().any(|c| c == "revoked"), "{temp_row:?}");
    for secret in [tg.admin_token.as_str(), ci.as_str(), temp.as_str()] {
        assert!(
            !out.stdout_str().contains(secret) && !out.stderr_str().contains(secret),
            "token list shows a secret: {out}"
        );
    }
}
