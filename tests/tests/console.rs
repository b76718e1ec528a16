//! The web console (issue 11), end to end.
//!
//! In a real browser: headless Chromium from Debian driven by `playwright-core`
//! (`tests/browser/console.mjs`) against a running gateway holding two signed, attested images
//! with SBOMs, each waiting for a security approval to enter staging. The approver signs in
//! (by keyboard), finds the artifact through SBOM search, opens its evidence graph and
//! approves; the auditor sees no approve button and forged posts (no CSRF token, a wrong one,
//! a valid one without the role) are refused. The API confirms afterwards what changed and
//! what did not. Screenshots of the main pages are kept under
//! `$CARGO_TARGET_DIR/console-screenshots/` (the path is printed).
//!
//! Over plain HTTP (no browser needed): the session cookie's flags, CSRF and origin checks,
//! sign-out, and a revoked token ending its sessions.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tollgate_e2e::reqwest::Method;
use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

const BUILDER: &str = "https://tollgate.example/builders/local";
const PURL: &str = "pkg:maven/com.google.guava/guava";

const POLICY: &str = r#"
version = 1

[environments.dev]
mode = "enforce"

[environments.staging]
mode = "enforce"
from = ["dev"]

[environments.staging.signatures]
min = 1
keys = ["ci-key"]

[environments.staging.provenance]
builders = ["https://tollgate.example/builders/local*"]

[environments.staging.sbom]
required = true

[environments.staging.approvals]
security = 1
separation_of_duties = true
"#;

fn browser_dir() -> PathBuf {
    workspace_root().join("tests/browser")
}

/// Node, Debian's Chromium and the installed `playwright-core` (scripts/test.sh installs all
/// three); skips without them, or fails under `TOLLGATE_E2E_REQUIRE_TOOLS`.
fn browser_available() -> bool {
    if !require_tools(&["node", "chromium"]) {
        return false;
    }
    if browser_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return true;
    }
    let what = "tests/browser/node_modules/playwright-core (npm ci --prefix tests/browser)";
    if tools_required() {
        panic!("required tool missing: {what} (TOLLGATE_E2E_REQUIRE_TOOLS is set)");
    }
    eprintln!("SKIPPED console_in_a_real_browser: missing {what}");
    false
}

/// Where screenshots are kept: `$CARGO_TARGET_DIR/console-screenshots`, else
/// `target/console-screenshots`.
fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("console-screenshots")
}

struct Setup {
    g: Gated,
    ci: String,
    releaser: String,
    approver: String,
    auditor: String,
}

impl std::ops::Deref for Setup {
    type Target = Gated;
    fn deref(&self) -> &Gated {
        &self.g
    }
}

impl Setup {
    fn start() -> Setup {
        let g = Gated::start(
            &format!("builders = [{BUILDER:?}]\nrefuse_unverified = true\n"),
            "",
            POLICY,
        );
        let tg = &g.tg;
        let ci = tg.create_token("ci", &["pusher:dev/*"]);
        let releaser = tg.create_token("releaser", &["promoter"]);
        let approver = tg.create_token("sec-lead", &["approver(security):staging/*", "reader"]);
        let auditor = tg.create_token("auditor", &["auditor"]);
        Setup {
            g,
            ci,
            releaser,
            approver,
            auditor,
        }
    }

    /// Pushes an image as `ci` with its signature, SLSA provenance and SBOM; returns the
    /// digest and the commit the provenance names.
    fn build(&self, repo: &str, tag: &str) -> (String, String) {
        let http = self.tg.basic("ci", &self.ci);
        let img = TinyImage::new();
        let digest = http.push_image(repo, tag, &img);
        self.sign(&self.ci, repo, &digest);
        let att = self.attest(&self.ci, repo, &digest);
        let commit = att["source_commit"]
            .as_str()
            .expect("slsa_attest.py names its commit")
            .to_string();
        let sbom = fs::read(
            workspace_root().join("tests/fixtures/sbom/cyclonedx/dropwizard-1.3.15.cdx-1.2.json"),
        )
        .expect("SBOM fixture");
        self.push_sbom(&http, repo, &img, sbom);
        (digest, commit)
    }

    fn request_staging(&self, artifact: &str) -> Value {
        let r = self.tg.basic("releaser", &self.releaser).post_json(
            "/api/v1/promotions",
            json!({"artifact": artifact, "to": "staging"})
                .to_string()
                .into_bytes(),
        );
        r.expect_status(201, "request promotion");
        let p = r.json();
        assert_eq!(p["state"], "pending", "{p}");
        p
    }

    fn promotion(&self, id: &str) -> Value {
        let r = self
            .tg
            .basic("auditor", &self.auditor)
            .get(&format!("/api/v1/promotions/{id}"));
        r.expect_status(200, "GET promotion");
        r.json()
    }
}

#[test]
fn console_in_a_real_browser() {
    if !signer_scripts_available() || !browser_available() {
        return;
    }
    let s = Setup::start();
    let (digest, commit) = s.build("dev/shop", "1.0.0");
    let (_other_digest, _) = s.build("dev/shop", "1.1.0");
    s.build("dev/shop", "1.2.0");
    let first = s.request_staging("dev/shop:1.0.0");
    let other = s.request_staging("dev/shop:1.1.0");
    // One for the release calendar: scheduled a day ahead.
    let at = (std::time::SystemTime::now() + Duration::from_secs(86_400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = tollgate_e2e::rfc3339_secs(at);
    let scheduled = s.tg.basic("releaser", &s.releaser).post_json(
        "/api/v1/promotions",
        json!({"artifact": "dev/shop:1.2.0", "to": "staging", "at": at})
            .to_string()
            .into_bytes(),
    );
    scheduled.expect_status(202, "schedule a promotion");
    let scheduled_id = scheduled.json()["id"].as_str().unwrap().to_string();
    let id = first["id"].as_str().unwrap().to_string();
    let other_id = other["id"].as_str().unwrap().to_string();

    let shots = screenshot_dir();
    let _ = fs::remove_dir_all(&shots);
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join("console.mjs"))
        .current_dir(browser_dir())
        .env("TOLLGATE_URL", s.tg.base_url())
        .env("APPROVER_TOKEN", &s.approver)
        .env("AUDITOR_TOKEN", &s.auditor)
        .env("PROMOTION_ID", &id)
        .env("OTHER_PROMOTION", &other_id)
        .env("SCHEDULED_PROMOTION", &scheduled_id)
        .env("ARTIFACT_DIGEST", &digest)
        .env("SOURCE_COMMIT", &commit)
        .env("SBOM_PURL", PURL)
        .env("SBOM_RANGE", "<25")
        .env("SCREENSHOT_DIR", &shots)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    let out = run_command(&mut cmd, Duration::from_secs(240));
    eprintln!("console screenshots: {}", shots.display());
    assert!(
        out.success(),
        "browser scenario failed:\n{out}\n--- gateway log ---\n{}",
        s.tg.log()
    );
    let summary: Value = out
        .stdout_str()
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the driver prints a JSON summary");
    assert_eq!(summary["ok"], true, "{summary}");
    eprintln!("page load times (ms): {}", summary["timings_ms"]);
    for name in [
        "02-promotions-waiting",
        "03-sbom-search",
        "04-artifact-evidence-graph",
        "06-promotion-promoted",
        "08-audit-trail",
        "09-delivery-report",
        "10-release-calendar",
    ] {
        let f = shots.join(format!("{name}.png"));
        let bytes = fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            f.display()
        );
    }

    // What the API says happened: the approval through the console, by the approver …
    let p = s.promotion(&id);
    assert_eq!(p["state"], "promoted", "{p}");
    let approvals = p["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{p}");
    assert_eq!(approvals[0]["by"], "sec-lead");
    assert_eq!(approvals[0]["group"], "security");
    assert_eq!(approvals[0]["comment"], "reviewed in the console");
    // … and nothing from the auditor's forged posts.
    let o = s.promotion(&other_id);
    assert_eq!(o["state"], "pending", "{o}");
    assert_eq!(o["approvals"], json!([]), "{o}");
    assert!(
        !o["decision"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "approval-rejected"),
        "{o}"
    );
    // The audit log names the approver as the actor, like an API approval.
    let audit =
        s.tg.basic("auditor", &s.auditor)
            .get("/api/v1/audit?action=promotion-approved");
    audit.expect_status(200, "audit query");
    let entries = audit.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], "sec-lead");
    assert_eq!(entries[0]["decision"], id.as_str());
}

/// A form post as a browser on the same origin sends it.
fn form_post(tg: &Tollgate, path: &str, cookie: Option<&str>, body: &str) -> Resp {
    let http = tg.anon();
    let mut rb = http
        .request(Method::POST, path)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", tg.base_url())
        .header("Sec-Fetch-Site", "same-origin")
        .body(body.to_string());
    if let Some(c) = cookie {
        rb = rb.header("Cookie", c);
    }
    http.send(rb)
}

fn get_with(tg: &Tollgate, path: &str, cookie: &str) -> Resp {
    let http = tg.anon();
    http.send(http.request(Method::GET, path).header("Cookie", cookie))
}

fn sign_in(tg: &Tollgate, token: &str) -> String {
    let r = form_post(
        tg,
        "/ui/signin",
        None,
        &format!("token={token}&next=%2Fui%2Faudit"),
    );
    r.expect_status(303, "sign in");
    assert_eq!(r.header("location").as_deref(), Some("/ui/audit"));
    let set = r.header("set-cookie").expect("a session cookie");
    assert!(
        set.contains("; HttpOnly") && set.contains("; SameSite=Strict") && set.contains("Path=/ui"),
        "{set}"
    );
    assert!(
        !set.contains(token),
        "the cookie must not carry the token: {set}"
    );
    set.split(';').next().unwrap().to_string()
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a CSRF field on the page");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn sessions_csrf_origin_and_revocation_over_http() {
    let tg = Tollgate::start(TollgateOpts::default());
    let token = tg.create_token("reviewer", &["auditor"]);

    // Not signed in: pages send to sign-in, the sign-in page is HTML with a labelled field.
    let r = tg.anon().get("/ui/audit");
    r.expect_status(303, "unauthenticated page");
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/ui/signin?next=%2Fui%2Faudit")
    );
    let r = tg.anon().get("/ui/signin");
    r.expect_status(200, "sign-in page");
    assert!(r.text().contains("<label for=\"token\">"), "{}", r.text());
    assert!(
        r.header("content-security-policy")
            .is_some_and(|c| c.contains("frame-ancestors 'none'"))
    );
    let r = tg.anon().get("/ui/static/console.css");
    r.expect_status(200, "stylesheet");
    assert!(r.text().contains(":focus-visible"));

    // A wrong token: 401, no cookie.
    let r = form_post(&tg, "/ui/signin", None, "token=tg_nope");
    r.expect_status(401, "wrong token");
    assert!(r.header("set-cookie").is_none());
    assert!(r.text().contains("unknown or revoked"));
    // Sign-in from another site is refused.
    let http = tg.anon();
    let r = http.send(
        http.request(Method::POST, "/ui/signin")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Sec-Fetch-Site", "cross-site")
            .body(format!("token={token}")),
    );
    r.expect_status(403, "cross-site sign-in");

    let cookie = sign_in(&tg, &token);
    let page = get_with(&tg, "/ui/audit", &cookie);
    page.expect_status(200, "audit page");
    assert!(page.text().contains("Signed in as"));
    let csrf = csrf_of(&page.text());

    // State-changing posts: the CSRF token is required and must be this session's.
    let approve = "/ui/promotions/prm-999999/approve";
    let r = form_post(&tg, approve, Some(&cookie), "group=security");
    r.expect_status(403, "no CSRF token");
    assert!(r.text().contains("csrf-invalid"));
    let r = form_post(&tg, approve, Some(&cookie), "group=security&csrf=xyz");
    r.expect_status(403, "wrong CSRF token");
    let other = sign_in(&tg, &token);
    let other_csrf = csrf_of(&get_with(&tg, "/ui/", &other).text());
    assert_ne!(other_csrf, csrf);
    let r = form_post(
        &tg,
        approve,
        Some(&cookie),
        &format!("group=security&csrf={other_csrf}"),
    );
    r.expect_status(403, "another session's CSRF token");
    // Right token, another site: refused before anything else.
    let r = http.send(
        http.request(Method::POST, approve)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Origin", "http://evil.example")
            .header("Cookie", &cookie)
            .body(format!("group=security&csrf={csrf}")),
    );
    r.expect_status(403, "cross-origin post");
    assert!(r.text().contains("csrf-origin"));
    // Right token, same site: the action itself answers (no such promotion), in HTML.
    let r = form_post(
        &tg,
        approve,
        Some(&cookie),
        &format!("group=security&csrf={csrf}"),
    );
    r.expect_status(404, "approve a missing promotion");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    // Unknown pages: an HTML 404.
    let r = get_with(&tg, "/ui/nothing/here", &cookie);
    r.expect_status(404, "unknown page");
    assert!(r.text().contains("Not found"));

    // Sign-out ends that session only.
    let r = form_post(&tg, "/ui/signout", Some(&cookie), &format!("csrf={csrf}"));
    r.expect_status(303, "sign out");
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    get_with(&tg, "/ui/audit", &cookie).expect_status(303, "signed out session");
    get_with(&tg, "/ui/audit", &other).expect_status(200, "the other session");

    // Revoking the token ends its remaining sessions at once.
    tg.revoke_token("reviewer");
    let r = get_with(&tg, "/ui/audit", &other);
    r.expect_status(303, "revoked token's session");
    assert!(r.header("location").unwrap().contains("no+longer+valid"));
}

fn artifacts_on(html: &str) -> Vec<String> {
    html.split("data-artifact=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

fn next_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\" href=\"")?;
    let rest = &html[at + "rel=\"next\" href=\"".len()..];
    Some(rest[..rest.find('"').unwrap()].replace("&amp;", "&"))
}

#[test]
fn sbom_search_pages_through_the_index_over_http() {
    let tg = Tollgate::start(TollgateOpts::default());
    let http = tg.admin();
    let sbom = fs::read(
        workspace_root().join("tests/fixtures/sbom/cyclonedx/dropwizard-1.3.15.cdx-1.2.json"),
    )
    .expect("SBOM fixture");
    // Three artifacts with the same SBOM: 3 × 86 Apache-2.0 components, more than a page (200).
    let mut digests = Vec::new();
    for tag in ["1.0.0", "1.0.1", "1.0.2"] {
        let d = http.push_image("dev/lib", tag, &TinyImage::new());
        http.post(&format!("/api/v1/artifacts/{d}/sboms"), sbom.clone())
            .expect_status(201, "post SBOM");
        digests.push(d);
    }
    digests.sort();
    let cookie = sign_in(&tg, &tg.admin_token);
    let first = get_with(&tg, "/ui/sbom?license=Apache-2.0", &cookie);
    first.expect_status(200, "first page");
    let page1 = first.text();
    assert!(
        page1.contains("data-environment=\"dev\""),
        "grouped under dev"
    );
    let next = next_link(&page1).expect("a next page");
    let second = get_with(&tg, &next, &cookie);
    second.expect_status(200, "second page");
    let page2 = second.text();
    assert!(next_link(&page2).is_none(), "two pages in all");
    let mut seen: Vec<String> = artifacts_on(&page1);
    seen.extend(artifacts_on(&page2));
    seen.sort();
    seen.dedup();
    assert_eq!(seen, digests, "every artifact, across the pages");
    assert_eq!(
        artifacts_on(&page1).len() + artifacts_on(&page2).len(),
        4,
        "the artifact straddling the page boundary is on both pages"
    );
    // A cursor belongs to its question.
    let cursor = next.split("cursor=").nth(1).unwrap();
    let r = get_with(
        &tg,
        &format!("/ui/sbom?license=MIT&cursor={cursor}"),
        &cookie,
    );
    r.expect_status(400, "cursor of another query");
    assert!(r.text().contains("cursor-invalid"), "{}", r.text());
    // A version range narrows a package search; nothing matches an impossible one.
    let r = get_with(
        &tg,
        "/ui/sbom?purl=pkg%3Amaven%2Fcom.google.guava%2Fguava&range=%3C1",
        &cookie,
    );
    r.expect_status(200, "empty search");
    assert!(artifacts_on(&r.text()).is_empty());
    assert!(r.text().contains("No artifact you can read contains it"));
}
