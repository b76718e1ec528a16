//! Upstream credentials: Tollgate in front of a real docker-registry that demands them, with
//! `[upstream] username/password` in its config — the registry Bearer token flow (against
//! `scripts/registry_token_server.py`) and Basic auth (htpasswd).

use std::fs;
use std::process::Command;
use std::time::Duration;

use tollgate_e2e::tempfile::TempDir;
use tollgate_e2e::*;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret";
const REPO: &str = "dev/app";

/// Tollgate's config for an upstream at `reg` with `USER` and `password`.
fn upstream_config(reg: &Registry, password: &str) -> String {
    format!(
        "[upstream]\nurl = \"{}\"\nusername = \"{USER}\"\npassword = \"{password}\"\ntimeout_secs = 5\n",
        reg.url()
    )
}

/// The token server, a registry that trusts it, and Tollgate in front configured with
/// `USER`/`password`; None (the test is skipped) without the tools.
fn behind_token_registry(password: &str) -> Option<(TokenServer, Registry, Tollgate)> {
    if !require_tools(&["docker-registry", "skopeo"]) || !require_python_module("cryptography") {
        return None;
    }
    let ts = TokenServer::start(USER, PASSWORD);
    let reg = Registry::start_with_config(&ts.registry_auth_yaml());
    reg.http()
        .get("/v2/")
        .expect_status(401, "the registry demands a token");
    let tg = Tollgate::start(TollgateOpts::config(upstream_config(&reg, password)));
    Some((ts, reg, tg))
}

/// Client talking to the token-protected registry directly, with a pull token for `REPO`.
fn token_registry_reader(reg: &Registry, ts: &TokenServer) -> Http {
    let token = ts.token(USER, PASSWORD, &format!("repository:{REPO}:pull"));
    reg.http_as(Auth::Bearer(token))
}

/// A registry requiring Basic `USER:PASSWORD` (htpasswd file in `dir`) and Tollgate in front
/// configured with `USER`/`password`; None (the test is skipped) without the tools.
fn behind_basic_registry(dir: &TempDir, password: &str) -> Option<(Registry, Tollgate)> {
    if !require_tools(&["docker-registry", "skopeo", "htpasswd"]) {
        return None;
    }
    let reg = htpasswd_registry(dir);
    reg.http()
        .get("/v2/")
        .expect_status(401, "the registry demands Basic credentials");
    let tg = Tollgate::start(TollgateOpts::config(upstream_config(&reg, password)));
    Some((reg, tg))
}

/// A registry requiring Basic `USER:PASSWORD` (a bcrypt line made by `htpasswd -Bbn`); the
/// file lives in `dir`.
fn htpasswd_registry(dir: &TempDir) -> Registry {
    let out = run_command(
        Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]),
        Duration::from_secs(30),
    )
    .ok();
    let line = out.stdout_str().trim().to_string();
    assert!(
        line.starts_with(&format!("{USER}:$2")),
        "not a bcrypt htpasswd line: {out}"
    );
    let path = dir.path().join("htpasswd");
    fs::write(&path, format!("{line}\n")).expect("write htpasswd");
    Registry::start_with_config(&format!(
        "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
        path.display()
    ))
}

/// Pushes a fresh layout into Tollgate with skopeo and expects it to fail; returns the image.
fn skopeo_push_fails(tg: &Tollgate, work: &TempDir) -> TinyImage {
    let layout = work.path().join("layout");
    let img = make_oci_layout(&layout, "v1");
    let out = skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("ci:{}", tg.admin_token),
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{}/{REPO}:1.0.0", tg.host()),
    ]);
    assert!(
        !out.success(),
        "skopeo push through Tollgate with wrong upstream credentials succeeded: {out}"
    );
    img
}

/// Starting a blob upload through Tollgate fails with a gateway error and an OCI error body
/// (never a 401, which would blame the client's own credentials).
fn upload_start_is_gateway_error(tg: &Tollgate) {
    tg.admin().post_upload(REPO, "").expect_gateway_error(
        &[502, 503, 504],
        "upload start with wrong upstream credentials",
    );
}

#[test]
fn bearer_token_flow_round_trip() {
    let Some((ts, reg, tg)) = behind_token_registry(PASSWORD) else {
        return;
    };
    let work = TempDir::new().unwrap();

    let img = skopeo_roundtrip(&tg, work.path(), REPO, "1.0.0");
    let issued = ts.issued();
    assert!(
        issued > 0,
        "Tollgate reached the registry without the token flow (token server issued {issued})"
    );

    token_registry_reader(&reg, &ts).expect_image(REPO, &img, "upstream after the skopeo copy");
}

#[test]
fn bearer_token_flow_with_wrong_password_pushes_nothing() {
    let Some((ts, reg, tg)) = behind_token_registry("wrong") else {
        return;
    };
    let work = TempDir::new().unwrap();

    let img = skopeo_push_fails(&tg, &work);
    upload_start_is_gateway_error(&tg);
    assert_eq!(
        ts.issued(),
        0,
        "the token server issued a token to Tollgate"
    );
    let metrics = tg.metrics();
    assert!(
        metric_series(&metrics, "tollgate_upstream_errors_total{kind=\"auth\"}")
            .is_some_and(|v| v >= 1.0),
        "the refused token request is counted as an upstream auth error:\n{metrics}"
    );

    token_registry_reader(&reg, &ts).expect_no_image(REPO, &img, "upstream after refused push");
}

#[test]
fn basic_auth_round_trip() {
    let dir = TempDir::new().unwrap();
    let Some((reg, tg)) = behind_basic_registry(&dir, PASSWORD) else {
        return;
    };

    let img = skopeo_roundtrip(&tg, dir.path(), REPO, "1.0.0");

    reg.http_as(Auth::Basic(USER.into(), PASSWORD.into()))
        .expect_image(REPO, &img, "upstream after the skopeo copy");
}

#[test]
fn basic_auth_with_wrong_password_pushes_nothing() {
    let dir = TempDir::new().unwrap();
    let Some((reg, tg)) = behind_basic_registry(&dir, "wrong") else {
        return;
    };

    let img = skopeo_push_fails(&tg, &dir);
    upload_start_is_gateway_error(&tg);

    reg.http_as(Auth::Basic(USER.into(), PASSWORD.into()))
        .expect_no_image(REPO, &img, "upstream after refused push");
}
