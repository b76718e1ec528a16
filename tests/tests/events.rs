//! Deployment events end to end (issue 10, part 5): webhook receivers started here get every
//! promotion decision, denial, break-glass and completion as a signed CloudEvents 1.0 request
//! (checked with an HMAC written here and parsed by the CloudEvents Python SDK), in log order,
//! retried with the same id after a 503; a receiver that hangs or is down never holds up a
//! promotion, and its failures show in `/metrics`; `/metrics` shows what each environment runs.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use tollgate_e2e::serde_json::{Value, json};
use tollgate_e2e::*;

const POLICY: &str = r#"
version = 1

[breakglass]
bypass = ["change-request"]
require_justification = true

[environments.dev]

[environments.staging]
from = ["dev"]

[environments.prod]
from = ["staging"]

[environments.prod.change_request]
required = true
"#;

const OPS_SECRET: &str = "ops-webhook-secret-0123456789";
const FLAKY_SECRET: &str = "flaky-webhook-secret-0123456789";

/// HMAC-SHA256 (RFC 2104) over SHA-256, written here independently of the gateway.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// What a receiver does with `X-Tollgate-Signature: t=<unix>,v1=<hex>`: recompute the HMAC
/// over `"<t>." + body` and refuse timestamps more than five minutes away (replays).
fn verify_signature(secret: &str, header: &str, body: &[u8]) -> Result<(), String> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => v1.push(v.to_string()),
            _ => {}
        }
    }
    let t = t.ok_or("no t=")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(t) > 300 {
        return Err(format!("timestamp {t} is not within 5 minutes of {now}"));
    }
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    let want = hex::encode(hmac_sha256(secret.as_bytes(), &msg));
    if v1.contains(&want) {
        Ok(())
    } else {
        Err(format!("no v1= signature matches ({header})"))
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    line: String,
    /// Lower-case names.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// The status it was answered with.
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Answer `503 Retry-After: 1` to the first `n` requests, 200 after.
    Answer { fail_first: usize },
    /// Accept connections and never answer.
    Hang,
}

/// A webhook receiver on a loopback port, on std threads.
struct Receiver {
    port: u16,
    stop: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start(mode: Mode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop2, got2, conns2) = (stop.clone(), got.clone(), connections.clone());
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        conns2.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.set_nonblocking(false);
                        match mode {
                            Mode::Hang => held.push(stream),
                            Mode::Answer { fail_first } => {
                                let got3 = got2.clone();
                                thread::spawn(move || answer(stream, fail_first, &got3));
                            }
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Receiver {
            port,
            stop,
            got,
            connections,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/tollgate", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests were answered 2xx; all requests so far.
    fn wait_delivered(&self, n: usize, tg: &Tollgate) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.received();
            if got.iter().filter(|r| r.answered == 200).count() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "receiver got {} of {n} events: {:#?}\n{}",
                got.len(),
                got.iter()
                    .map(|r| r.json()["type"].clone())
                    .collect::<Vec<_>>(),
                tg.metrics()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut stream: TcpStream, fail_first: usize, got: &Mutex<Vec<Received>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default().to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let status = {
        let mut g = got.lock().unwrap();
        let status = if g.len() < fail_first { 503 } else { 200 };
        g.push(Received {
            line,
            headers,
            body,
            answered: status,
        });
        status
    };
    let reply = if status == 200 {
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
    } else {
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
    };
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
}

fn promote(http: &Http, body: Value) -> Value {
    let r = http.post_json("/api/v1/promotions", body.to_string().into_bytes());
    assert!(r.status < 300, "promotion request: {r}");
    r.json()
}

fn webhook_metric(text: &str, webhook: &str, outcome: &str) -> f64 {
    metric_series(
        text,
        &format!(
            "tollgate_webhook_deliveries_total{{webhook=\"{webhook}\",outcome=\"{outcome}\"}}"
        ),
    )
    .unwrap_or(0.0)
}

#[test]
fn promotions_arrive_as_signed_cloud_events_in_order() {
    let ops = Receiver::start(Mode::Answer { fail_first: 0 });
    let flaky = Receiver::start(Mode::Answer { fail_first: 1 });
    let config = format!(
        r#"[policy]
dir = "policy"

[audit]
origin = "tollgate.test/audit"

[[webhooks]]
name = "ops"
url = "{}"
secret_file = "hook.secret"
events = ["promotion.*", "breakglass.used", "deployment.*"]
timeout_secs = 5
max_attempts = 5

[[webhooks]]
name = "flaky"
url = "{}"
secret = "{FLAKY_SECRET}"
events = ["promotion.completed"]
max_attempts = 3
"#,
        ops.url(),
        flaky.url()
    );
    let tg = Tollgate::start_with_files(
        TollgateOpts::config(config),
        &[
            ("policy/base.toml", POLICY.as_bytes()),
            ("hook.secret", format!("{OPS_SECRET}\n").as_bytes()),
        ],
    );
    let admin = tg.admin();
    let ci = tg.basic("ci", &tg.create_token("ci", &["pusher:dev/*"]));
    let oncall = tg.basic("oncall", &tg.create_token("oncall", &["breakglass:prod/*"]));

    let img = TinyImage::new();
    ci.push_image("dev/app", "1.0.0", &img);
    let staging = promote(
        &admin,
        json!({"artifact": "dev/app:1.0.0", "to": "staging"}),
    );
    assert_eq!(staging["state"], "promoted", "{staging}");
    // A pull refusal: an event type the ops webhook does not subscribe to.
    admin.push_image("staging/app", "9.0.0", &TinyImage::new());
    admin
        .get_manifest("staging/app", "9.0.0")
        .expect_denied("not-promoted", "stray");
    let denied = promote(
        &admin,
        json!({"artifact": "staging/app:1.0.0", "to": "prod"}),
    );
    assert_eq!(denied["state"], "denied", "{denied}");
    let emergency = promote(
        &oncall,
        json!({"artifact": "staging/app:1.0.0", "to": "prod", "emergency": true,
               "justification": "INC-1 outage"}),
    );
    assert_eq!(emergency["state"], "promoted", "{emergency}");
    let ids = [&staging, &denied, &emergency].map(|p| p["id"].as_str().unwrap().to_string());

    let got = ops.wait_delivered(9, &tg);
    assert_eq!(
        got.len(),
        9,
        "every request answered 200, so no retries: {got:#?}"
    );
    let events: Vec<Value> = got.iter().map(Received::json).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "dev.tollgate.promotion.requested",
            "dev.tollgate.promotion.decided",
            "dev.tollgate.promotion.completed",
            "dev.tollgate.promotion.requested",
            "dev.tollgate.promotion.denied",
            "dev.tollgate.promotion.requested",
            "dev.tollgate.promotion.decided",
            "dev.tollgate.breakglass.used",
            "dev.tollgate.promotion.completed",
        ],
        "in log order, filtered (no pull.denied)"
    );
    let subjects: Vec<&str> = events
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            &ids[0], &ids[0], &ids[0], &ids[1], &ids[1], &ids[2], &ids[2], &ids[2], &ids[2]
        ]
        .map(String::as_str)
    );
    let mut last_seq = None;
    for (r, e) in got.iter().zip(&events) {
        assert!(
            r.line.starts_with("POST /hooks/tollgate HTTP/1.1"),
            "{}",
            r.line
        );
        assert_eq!(r.header("content-type"), "application/cloudevents+json");
        verify_signature(OPS_SECRET, r.header("x-tollgate-signature"), &r.body)
            .unwrap_or_else(|m| panic!("{m}: {e}"));
        assert!(
            verify_signature(FLAKY_SECRET, r.header("x-tollgate-signature"), &r.body).is_err(),
            "each webhook has its own key"
        );
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["source"], "/tollgate/tollgate.test/audit");
        assert_eq!(e["datacontenttype"], "application/json");
        let seq = e["tollgateseq"].as_u64().expect("tollgateseq");
        assert_eq!(e["id"], format!("tollgate.test/audit/{seq}"));
        assert_eq!(r.header("x-tollgate-event-id"), e["id"].as_str().unwrap());
        assert!(
            last_seq < Some(seq),
            "ordered by the log: {last_seq:?} then {seq}"
        );
        last_seq = Some(seq);
        let time = e["time"].as_str().unwrap();
        assert!(
            time.ends_with('Z') && time.len() == 24,
            "RFC 3339 UTC: {time}"
        );
        // The data is the audit entry itself.
        assert_eq!(e["data"]["seq"], seq);
        assert_eq!(e["data"]["decision"], e["subject"]);
        assert!(e["data"]["actor"].is_string() && e["data"]["action"].is_string());
    }
    assert_eq!(events[1]["data"]["details"]["verdict"], "allow");
    assert_eq!(events[4]["data"]["details"]["verdict"], "deny");
    assert!(
        events[4]["data"]["policy_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(
        events[7]["data"]["details"]["justification"],
        "INC-1 outage"
    );
    assert_eq!(events[2]["data"]["repository"], "staging/app");
    assert_eq!(events[2]["data"]["digest"], img.digest);
    // The audit log has the same entries at the same positions.
    let audit = admin.get(&format!(
        "/api/v1/audit?action=promotion-completed&digest={}",
        img.digest
    ));
    let audited: Vec<u64> = audit.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        audited,
        [
            events[2]["tollgateseq"].as_u64().unwrap(),
            events[8]["tollgateseq"].as_u64().unwrap()
        ]
    );

    // A real CloudEvents consumer reads them: the SDK's HTTP binding, structured mode.
    if require_python_module("cloudevents") {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("requests.json");
        let reqs: Vec<Value> = got
            .iter()
            .map(|r| json!({"headers": r.headers, "body": String::from_utf8(r.body.clone()).unwrap()}))
            .collect();
        std::fs::write(&file, serde_json::to_vec(&reqs).unwrap()).unwrap();
        let out = python3_script(
            &scripts_dir().join("cloudevents_parse.py"),
            &[file.to_str().unwrap()],
            &[],
        );
        assert!(out.success(), "the CloudEvents SDK refused an event: {out}");
        let parsed: Vec<Value> =
            serde_json::from_str(out.stdout_str().lines().last().unwrap()).unwrap();
        assert_eq!(parsed.len(), events.len());
        for (p, e) in parsed.iter().zip(&events) {
            for k in [
                "specversion",
                "id",
                "source",
                "type",
                "subject",
                "datacontenttype",
                "tollgateseq",
                "data",
            ] {
                assert_eq!(p[k], e[k], "{k} as the SDK read it");
            }
            assert!(
                p["time"]
                    .as_str()
                    .unwrap()
                    .starts_with(&e["time"].as_str().unwrap()[..19])
            );
        }
    }

    // The flaky receiver: 503 first, then the same event again after Retry-After.
    let got = flaky.wait_delivered(2, &tg);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [503, 200, 200]
    );
    let (first, retry) = (got[0].json(), got[1].json());
    assert_eq!(first["id"], retry["id"], "a retry is the same event");
    assert_eq!(first["type"], "dev.tollgate.promotion.completed");
    assert_eq!(got[0].body, got[1].body, "byte for byte");
    assert_eq!(got[0].header("x-tollgate-delivery-attempt"), "1");
    assert_eq!(got[1].header("x-tollgate-delivery-attempt"), "2");
    for r in &got {
        verify_signature(FLAKY_SECRET, r.header("x-tollgate-signature"), &r.body).unwrap();
    }
    assert_ne!(got[2].json()["id"], first["id"]);

    // Metrics: deliveries per webhook and outcome, and what each environment runs.
    let text = tg.metrics();
    assert_eq!(webhook_metric(&text, "ops", "delivered"), 9.0, "{text}");
    assert_eq!(webhook_metric(&text, "ops", "failed"), 0.0, "{text}");
    assert_eq!(webhook_metric(&text, "flaky", "delivered"), 2.0, "{text}");
    assert_eq!(webhook_metric(&text, "flaky", "failed"), 1.0, "{text}");
    assert_eq!(webhook_metric(&text, "flaky", "gave-up"), 0.0, "{text}");
    assert_eq!(
        metric_series(&text, "tollgate_webhook_queue_depth{webhook=\"ops\"}"),
        Some(0.0),
        "{text}"
    );
    for env in ["staging", "prod"] {
        let series = format!(
            "tollgate_promoted_version{{environment=\"{env}\",repository=\"{env}/app\",version=\"1.0.0\",digest=\"{}\"}}",
            img.digest
        );
        assert_eq!(metric_series(&text, &series), Some(1.0), "{series}\n{text}");
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("tollgate_promoted_version{"))
            .count(),
        2,
        "one series per environment and repository: {text}"
    );
    assert_eq!(
        metric_series(
            &text,
            "tollgate_promotions_total{environment=\"prod\",outcome=\"denied\"}"
        ),
        Some(1.0),
        "{text}"
    );

    // The owner reports the emergency deployment rolled back: an event monitoring can
    // correlate, and a counter per environment and outcome.
    admin
        .post_json(
            &format!("/api/v1/promotions/{}/outcome", ids[2]),
            json!({"outcome": "rolled-back", "comment": "error budget"})
                .to_string()
                .into_bytes(),
        )
        .expect_status(200, "outcome");
    let got = ops.wait_delivered(10, &tg);
    let outcome = got.last().unwrap().json();
    assert_eq!(
        outcome["type"], "dev.tollgate.deployment.outcome",
        "{outcome}"
    );
    assert_eq!(outcome["subject"], ids[2].as_str());
    assert_eq!(outcome["data"]["details"]["outcome"], "rolled-back");
    assert_eq!(outcome["data"]["details"]["environment"], "prod");
    verify_signature(
        OPS_SECRET,
        got.last().unwrap().header("x-tollgate-signature"),
        &got.last().unwrap().body,
    )
    .unwrap();
    assert_eq!(
        metric_series(
            &tg.metrics(),
            "tollgate_deployment_outcomes_total{environment=\"prod\",outcome=\"rolled-back\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn a_receiver_that_hangs_or_is_down_does_not_hold_up_promotions() {
    let hanging = Receiver::start(Mode::Hang);
    // Down: a port nothing listens on.
    let down = free_port();
    let config = format!(
        r#"[policy]
dir = "policy"

[[webhooks]]
name = "hanging"
url = "{}"
secret = "{OPS_SECRET}"
timeout_secs = 3
max_attempts = 3

[[webhooks]]
name = "down"
url = "http://127.0.0.1:{down}/hook"
secret = "{OPS_SECRET}"
max_attempts = 2
"#,
        hanging.url()
    );
    let mut tg = Tollgate::start_with_files(
        TollgateOpts::config(config),
        &[("policy/base.toml", POLICY.as_bytes())],
    );
    let admin = tg.admin();
    let ci = tg.basic("ci", &tg.create_token("ci", &["pusher:dev/*"]));
    let first = TinyImage::new();
    ci.push_image("dev/app", "1.0.0", &first);
    let second = TinyImage::new();
    ci.push_image("dev/app", "1.1.0", &second);

    let p = promote(
        &admin,
        json!({"artifact": "dev/app:1.0.0", "to": "staging"}),
    );
    assert_eq!(p["state"], "promoted", "{p}");
    // The answer came while the hanging webhook is still on its first event (each of its
    // attempts waits 3 s for an answer that never comes): nothing delivered, nothing given up,
    // its events still queued.
    let text = tg.metrics();
    assert_eq!(webhook_metric(&text, "hanging", "delivered"), 0.0, "{text}");
    assert_eq!(webhook_metric(&text, "hanging", "gave-up"), 0.0, "{text}");
    let queued =
        metric_series(&text, "tollgate_webhook_queue_depth{webhook=\"hanging\"}").unwrap_or(0.0);
    assert!(
        queued >= 1.0,
        "the hanging webhook's events wait in its queue: {text}"
    );
    // And the next promotion does not wait either.
    let p = promote(
        &admin,
        json!({"artifact": "dev/app:1.1.0", "to": "staging"}),
    );
    assert_eq!(p["state"], "promoted", "{p}");
    assert_eq!(
        webhook_metric(&tg.metrics(), "hanging", "gave-up"),
        0.0,
        "still on its first event"
    );
    let r = admin.get_manifest("staging/app", "1.1.0");
    r.expect_status(200, "the second promotion is servable");

    // Later, /metrics shows the failed attempts: the closed port's (given up after its two
    // attempts) and the hanging receiver's (time-outs).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = tg.metrics();
        let down_failed = webhook_metric(&text, "down", "failed");
        let down_gave_up = webhook_metric(&text, "down", "gave-up");
        let hang_failed = webhook_metric(&text, "hanging", "failed");
        if down_gave_up >= 1.0 && down_failed >= 2.0 && hang_failed >= 1.0 {
            assert_eq!(webhook_metric(&text, "down", "delivered"), 0.0);
            assert_eq!(webhook_metric(&text, "hanging", "delivered"), 0.0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed attempts counted: {text}"
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(hanging.connections.load(Ordering::SeqCst) >= 1);
    assert!(hanging.received().is_empty());
    // A graceful stop tries the queue for a bounded time, then exits.
    tg.terminate(Duration::from_secs(20));
    assert!(
        tg.log()
            .contains("stopping with deployment events undelivered"),
        "{}",
        tg.log()
    );
}
