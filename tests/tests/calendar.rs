//! The release calendar end to end (issue 10, part 3), in front of a real upstream registry:
//!
//! - a promotion scheduled for a time inside prod's deployment window waits (`scheduled`),
//!   can be approved ahead of time, and is then run by the gateway's scheduler — allowed, copied upstream, audited — while times
//!   outside the window or inside a freeze are refused up front, naming the next opening; a
//!   scheduled promotion can be cancelled by its requester (not by someone else);
//! - the calendar (JSON, and `.ics` parsed by the `icalendar` package) shows the windows in
//!   the environment's zone, the freeze with its reason, the scheduled promotions and, for an
//!   environment without windows, that it is always open;
//! - with `[[dependencies]]`, `app-web` waits (`pending`, `dependency-not-ready`) until the
//!   environment runs `app-api` at a satisfying version, then proceeds by itself; the calendar
//!   reports scheduled promotions of the two in the wrong order.
//!
//! The gateway's clock is moved with the debug-only `TOLLGATE_CLOCK_OFFSET_SECS` so a window
//! on a fixed Wednesday opens a few seconds after the set-up.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

/// Prod opens on Wednesdays 10:00–11:00 Berlin time, needs an ops approval, and the
/// Wednesday after 2030-01-09 is frozen.
const POLICY: &str = r#"
version = 1

[environments.dev]

[environments.staging]
from = ["dev"]

[environments.prod]
from = ["staging"]
timezone = "Europe/Berlin"

[environments.prod.approvals]
ops = 1

[[environments.prod.windows]]
days = ["wed"]
start = "10:00"
end = "11:00"

[[environments.prod.freezes]]
from = "2030-01-16"
until = "2030-01-16"
reason = "payments migration; all teams"
"#;

/// Wednesday 2030-01-09 10:00 in Berlin (CET, UTC+1).
const WINDOW_OPENS: i64 = 1_894_179_600; // 2030-01-09T09:00:00Z

fn epoch_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn promote(http: &Http, body: Value) -> Resp {
    http.post_json("/api/v1/promotions", body.to_string().into_bytes())
}

/// Polls promotion `id` until its state is `want` (or the deadline passes).
fn wait_state(http: &Http, id: &str, want: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let p = http.get(&format!("/api/v1/promotions/{id}")).json();
        if p["state"] == want || Instant::now() > deadline {
            assert_eq!(p["state"], want, "promotion {id}: {p:#}");
            return p;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn audit_actions(tg: &Tollgate, id: &str) -> Vec<String> {
    let entries = tg.admin().get("/api/v1/audit?limit=1000").json();
    entries["entries"]
        .as_array()
        .expect("audit entries")
        .iter()
        .filter(|e| e["decision"] == id)
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_scheduled_promotion_runs_inside_its_window() {
    if !require_tools(&["docker-registry"]) || !require_python_module("icalendar") {
        return;
    }
    let reg = Registry::start();
    // The gateway starts 40 s before the window opens.
    let offset = WINDOW_OPENS - 40 - epoch_secs();
    let tg = Tollgate::start_with_files(
        TollgateOpts {
            upstream: Some(reg.url()),
            config: Some(
                "[policy]\ndir = \"policy\"\n\n[promotions]\nscheduler_interval_secs = 1\n".into(),
            ),
            env: vec![("TOLLGATE_CLOCK_OFFSET_SECS".into(), offset.to_string())],
            ..TollgateOpts::default()
        },
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let ci = tg.basic("ci", &tg.create_token("ci", &["pusher:dev/*"]));
    let releaser = tg.basic("releaser", &tg.create_token("releaser", &["promoter"]));
    let other = tg.basic("other", &tg.create_token("other", &["promoter"]));
    let ops = tg.basic(
        "ops-lead",
        &tg.create_token("ops-lead", &["approver(ops):prod/*"]),
    );
    let auditor = tg.basic("compliance", &tg.create_token("compliance", &["auditor"]));
    let img = TinyImage::new();
    ci.push_image("dev/app", "1.0.0", &img);
    let img2 = TinyImage::new();
    ci.push_image("dev/app", "1.1.0", &img2);
    for tag in ["1.0.0", "1.1.0"] {
        let r = promote(
            &releaser,
            json!({"artifact": format!("dev/app:{tag}"), "to": "staging"}),
        );
        r.expect_status(201, "into staging");
        assert_eq!(r.json()["state"], "promoted", "{r}");
    }

    // Now, 09:59-ish in Berlin: prod is closed, so promoting now is denied…
    let r = promote(
        &releaser,
        json!({"artifact": "staging/app:1.0.0", "to": "prod"}),
    );
    assert_eq!(r.json()["state"], "denied", "{r}");
    assert_eq!(
        r.json()["decision"]["reasons"],
        json!(["approvals-missing", "window-closed"]),
        "{r}"
    );

    // …and so is scheduling it for after the window closes: refused up front, with the next
    // opening, which skips the frozen Wednesday.
    let r = promote(
        &releaser,
        json!({"artifact": "staging/app:1.0.0", "to": "prod", "at": "2030-01-09T10:30:00Z"}),
    );
    let e = r.expect_denied_reason("window-closed", "scheduled outside the window");
    assert!(
        e.message
            .contains("the next window opens at 2030-01-23T09:00:00+00:00"),
        "{}",
        e.message
    );
    // Inside the window but frozen: change-freeze.
    let r = promote(
        &releaser,
        json!({"artifact": "staging/app:1.0.0", "to": "prod", "at": "2030-01-16T09:30:00+00:00"}),
    );
    let e = r.expect_denied_reason("change-freeze", "scheduled into a freeze");
    assert!(e.message.contains("payments migration"), "{}", e.message);
    // In the past, or not a time: 400.
    promote(
        &releaser,
        json!({"artifact": "staging/app:1.0.0", "to": "prod", "at": "2030-01-01T00:00:00Z"}),
    )
    .expect_status(400, "in the past");
    promote(
        &releaser,
        json!({"artifact": "staging/app:1.0.0", "to": "prod", "at": "next wednesday"}),
    )
    .expect_status(400, "not a time");

    // Two seconds after the window opens: accepted, 202, scheduled.
    let r = promote(
        &releaser,
        json!({"artifact": "staging/app:1.0.0", "to": "prod", "at": "2030-01-09T09:00:02Z", "change_request": "CHG-1"}),
    );
    r.expect_status(202, "scheduled inside the window");
    let p = r.json();
    assert_eq!(p["state"], "scheduled", "{p}");
    assert_eq!(p["reason"], "promotion-scheduled", "{p}");
    assert_eq!(p["scheduled_for"], "2030-01-09T09:00:02.000Z", "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    // A second one, to cancel.
    let r = promote(
        &releaser,
        json!({"artifact": "staging/app:1.1.0", "to": "prod", "at": "2030-01-09T09:30:00Z"}),
    );
    r.expect_status(202, "second schedule");
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    // Asking again for the same artifact returns the scheduled promotion, not a new one.
    let again = promote(
        &releaser,
        json!({"artifact": "staging/app:1.1.0", "to": "prod", "at": "2030-01-09T09:40:00Z"}),
    );
    again.expect_status(200, "duplicate schedule");
    assert_eq!(again.json()["id"], id2.as_str());

    // The calendar, as an auditor: windows in UTC and Berlin time, the freeze, both scheduled
    // promotions; dev has no windows and says it is always open.
    let cal = auditor
        .get("/api/v1/calendar?from=2030-01-06&to=2030-01-20")
        .expect_status(200, "calendar")
        .json();
    let envs = cal["environments"].as_array().unwrap();
    let names: Vec<&str> = envs.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    assert_eq!(envs[0]["always_open"], true, "{cal:#}");
    assert!(envs[0]["windows"].as_array().unwrap().is_empty());
    let prod = &envs[2];
    assert_eq!(prod["timezone"], "Europe/Berlin");
    assert_eq!(prod["always_open"], false);
    let windows: Vec<(&str, &str, &str)> = prod["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["start"].as_str().unwrap(),
                w["end"].as_str().unwrap(),
                w["local_start"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            (
                "2030-01-09T09:00:00Z",
                "2030-01-09T10:00:00Z",
                "2030-01-09T10:00:00"
            ),
            (
                "2030-01-16T09:00:00Z",
                "2030-01-16T10:00:00Z",
                "2030-01-16T10:00:00"
            ),
        ]
    );
    assert_eq!(
        prod["freezes"][0]["reason"], "payments migration; all teams",
        "{prod:#}"
    );
    assert_eq!(prod["freezes"][0]["start"], "2030-01-15T23:00:00Z");
    let scheduled: Vec<&str> = prod["scheduled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(scheduled, [id.as_str(), id2.as_str()], "{prod:#}");
    assert_eq!(prod["scheduled"][0]["repository"], "app");
    assert_eq!(prod["scheduled"][0]["at"], "2030-01-09T09:00:02Z");
    // One environment, and the limits.
    let only = auditor
        .get("/api/v1/calendar?from=2030-01-06&to=2030-01-20&env=prod")
        .json();
    assert_eq!(only["environments"].as_array().unwrap().len(), 1);
    auditor
        .get("/api/v1/calendar?from=2030-01-01&to=2031-06-01")
        .expect_status(400, "range too long");
    auditor
        .get("/api/v1/calendar?env=qa")
        .expect_status(400, "unknown environment");
    tg.anon()
        .get("/api/v1/calendar")
        .expect_status(401, "anonymous");

    // iCalendar, read by the icalendar package.
    let ics = auditor.get("/api/v1/calendar.ics?from=2030-01-06&to=2030-01-20");
    ics.expect_status(200, "ics");
    assert_eq!(
        ics.header("content-type").as_deref(),
        Some("text/calendar; charset=utf-8")
    );
    let text = ics.text();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"));
    for l in text.split("\r\n") {
        assert!(!l.contains('\n'), "bare LF in {l:?}");
        assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
    }
    let parse = |text: &str| {
        let path = tg.data_dir().join(format!("calendar-{}.ics", unique()));
        std::fs::write(&path, text).unwrap();
        python3_json(
            &scripts_dir().join("parse_ics.py"),
            &[path.to_str().unwrap()],
            &[],
        )
    };
    let parsed = parse(&text);
    assert_eq!(parsed["version"], "2.0");
    assert_eq!(parsed["prodid"], "-//Tollgate//Release calendar//EN");
    let events = parsed["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        5,
        "two windows, one freeze, two promotions: {parsed:#}"
    );
    let by_cat = |cat: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["categories"].as_array().unwrap().iter().any(|c| c == cat))
            .collect()
    };
    let w = by_cat("Deployment window");
    assert_eq!(w.len(), 2);
    assert_eq!(w[0]["dtstart"], "2030-01-09T09:00:00+00:00");
    assert_eq!(w[0]["dtend"], "2030-01-09T10:00:00+00:00");
    assert!(
        w[0]["description"]
            .as_str()
            .unwrap()
            .contains("Wed 2030-01-09 10:00")
    );
    let f = by_cat("Change freeze");
    assert_eq!(f.len(), 1);
    // Escaped on the wire, read back whole.
    assert_eq!(
        f[0]["summary"],
        "prod: change freeze: payments migration; all teams"
    );
    assert!(text.contains("payments migration\\; all teams"));
    let s = by_cat("Scheduled promotion");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["uid"], format!("promotion-{id}@tollgate"));
    assert_eq!(s[0]["dtstart"], "2030-01-09T09:00:02+00:00");
    let uids: BTreeSet<String> = events
        .iter()
        .map(|e| e["uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(uids.len(), events.len(), "distinct UIDs");

    // Cancelling: not by another promoter; by the requester, audited; gone from the calendar.
    other
        .delete(&format!("/api/v1/promotions/{id2}"))
        .expect_denied_reason("role-missing", "cancel by someone else");
    let c = releaser.delete(&format!("/api/v1/promotions/{id2}"));
    c.expect_status(200, "cancel");
    assert_eq!(c.json()["state"], "cancelled");
    assert_eq!(c.json()["cancelled_by"], "releaser");

    // Re-exported after the change: the same UIDs for what is still there (imports update,
    // not duplicate), and the cancelled promotion gone.
    let later = parse(
        &auditor
            .get("/api/v1/calendar.ics?from=2030-01-06&to=2030-01-20")
            .text(),
    );
    let later_uids: BTreeSet<String> = later["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap().to_string())
        .collect();
    let mut expected = uids.clone();
    expected.remove(&format!("promotion-{id2}@tollgate"));
    assert_eq!(later_uids, expected);

    // Approved ahead of its time: it stays scheduled until then.
    let a = ops.post_json(
        &format!("/api/v1/promotions/{id}/approvals"),
        json!({"group": "ops"}).to_string().into_bytes(),
    );
    a.expect_status(200, "approve a scheduled promotion");
    assert_eq!(a.json()["state"], "scheduled", "{a}");

    // The scheduler runs it once the window is open (the gateway's clock reaches 10:00:02).
    let done = wait_state(&releaser, &id, "promoted", Duration::from_secs(90));
    assert_eq!(done["decision"]["verdict"], "allow", "{done:#}");
    let windows_rule = done["decision"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "windows")
        .cloned()
        .unwrap();
    assert_eq!(windows_rule["status"], "pass", "{done:#}");
    assert!(
        windows_rule["message"]
            .as_str()
            .unwrap()
            .contains("Wed 10:00 Europe/Berlin"),
        "{windows_rule}"
    );
    // Copied upstream, served through the gateway.
    reg.http()
        .get_manifest("prod/app", "1.0.0")
        .expect_status(200, "promoted upstream")
        .expect_header("Docker-Content-Digest", &img.digest, "promoted upstream");
    tg.admin()
        .get_manifest("prod/app", "1.0.0")
        .expect_status(200, "served from prod");
    // Audited at request and when it ran.
    let actions = audit_actions(&tg, &id);
    for a in [
        "promotion-requested",
        "promotion-scheduled",
        "promotion-decided",
        "promotion-completed",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    assert!(
        audit_actions(&tg, &id2)
            .iter()
            .any(|a| a == "promotion-cancelled")
    );
    // A promoted promotion cannot be cancelled.
    releaser
        .delete(&format!("/api/v1/promotions/{id}"))
        .expect_status(409, "cancel a promoted one");
}

/// `app-web` needs `app-api >= 1.4.0` wherever it goes.
const DEP_CONFIG: &str = r#"[policy]
dir = "policy"

[promotions]
scheduler_interval_secs = 1

[[dependencies]]
repository = "app-web"
requires = [{ repository = "app-api", version = ">=1.4.0" }]
"#;

const OPEN_POLICY: &str = "version = 1\n\n[environments.dev]\n\n[environments.staging]\nfrom = [\"dev\"]\n\n[environments.prod]\nfrom = [\"staging\"]\n";

#[test]
fn a_dependency_waits_for_its_dependency() {
    if !require_tools(&["docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let tg = Tollgate::start_with_files(
        TollgateOpts {
            upstream: Some(reg.url()),
            config: Some(DEP_CONFIG.into()),
            ..TollgateOpts::default()
        },
        &[("policy/base.toml", OPEN_POLICY.as_bytes())],
    );
    let ci = tg.basic("ci", &tg.create_token("ci", &["pusher:dev/*"]));
    let releaser_token = tg.create_token("releaser", &["promoter"]);
    let releaser = tg.basic("releaser", &releaser_token);
    for (repo, tag) in [
        ("app-api", "1.3.0"),
        ("app-api", "1.4.0"),
        ("app-web", "2.0.0"),
    ] {
        ci.push_image(&format!("dev/{repo}"), tag, &TinyImage::new());
    }

    // app-web first: it waits, and says for what.
    let r = promote(
        &releaser,
        json!({"artifact": "dev/app-web:2.0.0", "to": "staging"}),
    );
    r.expect_status(201, "app-web into staging");
    let web = r.json();
    assert_eq!(web["state"], "pending", "{web:#}");
    assert_eq!(web["decision"]["verdict"], "pending");
    assert_eq!(web["decision"]["reasons"], json!(["dependency-not-ready"]));
    let rule = web["decision"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "dependencies")
        .cloned()
        .unwrap();
    assert_eq!(rule["rule"], "dependencies/app-api");
    assert_eq!(rule["status"], "fail");
    assert_eq!(
        rule["source"],
        tg.config_path().display().to_string() + ":9"
    );
    assert!(
        rule["message"]
            .as_str()
            .unwrap()
            .contains("app-api >=1.4.0 in staging, which runs none"),
        "{rule}"
    );
    let web_id = web["id"].as_str().unwrap().to_string();

    // app-api 1.3.0 arrives: not enough, app-web keeps waiting.
    let r = promote(
        &releaser,
        json!({"artifact": "dev/app-api:1.3.0", "to": "staging"}),
    );
    assert_eq!(r.json()["state"], "promoted", "{r}");
    std::thread::sleep(Duration::from_secs(3));
    let still = releaser.get(&format!("/api/v1/promotions/{web_id}")).json();
    assert_eq!(still["state"], "pending", "{still:#}");

    // app-api 1.4.0 arrives: app-web proceeds by itself, nobody re-posts it.
    let r = promote(
        &releaser,
        json!({"artifact": "dev/app-api:1.4.0", "to": "staging"}),
    );
    assert_eq!(r.json()["state"], "promoted", "{r}");
    let done = wait_state(&releaser, &web_id, "promoted", Duration::from_secs(30));
    let rule = done["decision"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "dependencies")
        .cloned()
        .unwrap();
    assert_eq!(rule["status"], "pass", "{done:#}");
    assert!(
        rule["message"]
            .as_str()
            .unwrap()
            .contains("runs app-api 1.4.0"),
        "{rule}"
    );
    reg.http()
        .get_manifest("staging/app-web", "2.0.0")
        .expect_status(200, "app-web upstream in staging");

    // Into prod, scheduled in the wrong order: the calendar reports the conflict.
    let now = epoch_secs();
    let iso = |secs: i64| rfc3339(UNIX_EPOCH + Duration::from_secs(secs as u64));
    let web_at = iso(now + 3600);
    let api_at = iso(now + 7200);
    let r = promote(
        &releaser,
        json!({"artifact": "staging/app-web:2.0.0", "to": "prod", "at": web_at}),
    );
    r.expect_status(202, "app-web scheduled into prod");
    let web_prod = r.json()["id"].as_str().unwrap().to_string();
    let r = promote(
        &releaser,
        json!({"artifact": "staging/app-api:1.4.0", "to": "prod", "at": api_at}),
    );
    r.expect_status(202, "app-api scheduled into prod");
    let cal = releaser.get("/api/v1/calendar?env=prod").json();
    let prod = &cal["environments"][0];
    assert_eq!(prod["always_open"], true, "{prod:#}");
    assert_eq!(prod["scheduled"].as_array().unwrap().len(), 2, "{prod:#}");
    let conflicts = prod["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{prod:#}");
    assert_eq!(conflicts[0]["promotion"], web_prod.as_str());
    assert_eq!(conflicts[0]["dependency"], "app-api");
    assert_eq!(conflicts[0]["requires"], ">=1.4.0");
    assert!(
        conflicts[0]["message"]
            .as_str()
            .unwrap()
            .contains("before app-api 1.4.0"),
        "{conflicts:?}"
    );
    // The .ics marks it too.
    let ics = releaser.get("/api/v1/calendar.ics?env=prod").text();
    assert!(
        ics.contains("CATEGORIES:Scheduled promotion,prod,Conflict"),
        "{ics}"
    );

    // Rescheduling app-web after app-api (cancel, schedule again) clears the conflict.
    releaser
        .delete(&format!("/api/v1/promotions/{web_prod}"))
        .expect_status(200, "cancel app-web");
    let r = promote(
        &releaser,
        json!({"artifact": "staging/app-web:2.0.0", "to": "prod", "at": iso(now + 10800)}),
    );
    r.expect_status(202, "app-web rescheduled");
    // The same from the command line: cancel app-api's schedule, schedule it again.
    let api_prod = prod["scheduled"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["repository"] == "app-api")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .unwrap();
    let cli = |args: &[&str]| {
        let base = tg.base_url();
        let mut all = args.to_vec();
        all.extend(["--url", base.as_str(), "--token", releaser_token.as_str()]);
        tollgate_cli(&all)
    };
    let out = cli(&["cancel", &api_prod]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr_str());
    assert!(
        out.stdout_str().contains(": cancelled"),
        "{}",
        out.stdout_str()
    );
    let api_again = iso(now + 5400);
    let out = cli(&[
        "promote",
        "staging/app-api:1.4.0",
        "--to",
        "prod",
        "--at",
        &api_again,
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "scheduled: {}",
        out.stderr_str()
    );
    assert!(
        out.stdout_str().contains(": scheduled") && out.stdout_str().contains("scheduled for"),
        "{}",
        out.stdout_str()
    );
    let cal = releaser.get("/api/v1/calendar?env=prod").json();
    assert_eq!(cal["environments"][0]["conflicts"], json!([]), "{cal:#}");
    assert_eq!(
        cal["environments"][0]["scheduled"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{cal:#}"
    );
}

/// `2030-01-09T09:00:00Z` for a system time (whole seconds).
fn rfc3339(t: SystemTime) -> String {
    rfc3339_secs(t.duration_since(UNIX_EPOCH).unwrap().as_secs())
}
