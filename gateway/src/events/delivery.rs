//! Delivering events to webhooks: a bounded queue per webhook (filled without waiting; a full
//! one drops the event and counts it), and one task per webhook that sends its events in
//! order, each with up to `max_attempts` attempts spaced by exponential back-off with jitter
//! (or the receiver's `Retry-After` on 429/503). Every attempt is bounded: connecting by
//! `connect_timeout`, the whole exchange up to the answer's head by `timeout`. A 2xx answer
//! is delivered; anything else is a failed attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::Outgoing;
use crate::config::WebhookConfig;
use crate::metrics::{Metrics, WebhookLabels};

/// The first retry waits about this long; each further one twice as long…
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// …up to this. A `Retry-After` longer than this is cut to it too.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The wait before the next attempt after `failures` failed ones (1-based): exponential from
/// [`BACKOFF_BASE`], capped at [`BACKOFF_MAX`], with "equal jitter": the upper half of the
/// interval is random (`unit` in `[0, 1)`), so receivers coming back are not hit by every
/// sender at once, yet the wait never shrinks below half the schedule.
pub fn backoff(failures: u32, unit: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let full = BACKOFF_BASE
        .saturating_mul(1u32 << exp)
        .min(BACKOFF_MAX)
        .as_secs_f64();
    Duration::from_secs_f64(full / 2.0 + full / 2.0 * unit.clamp(0.0, 1.0))
}

/// A `Retry-After` value: delay seconds, or an HTTP date (relative to `now_ms`).
pub fn retry_after(value: &str, now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(BACKOFF_MAX));
    }
    let at = tollgate_policies::chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let ms = at.timestamp_millis().saturating_sub(now_ms).max(0);
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(BACKOFF_MAX))
}

/// How one attempt went.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered(StatusCode),
    /// Another answer; with the wait it asked for (429/503 `Retry-After`).
    Refused(StatusCode, Option<Duration>),
    /// No answer: refused connection, TLS failure, time-out, reset.
    Failed(String),
}

/// The webhooks and their queues.
#[derive(Debug)]
pub struct Hooks {
    hooks: Vec<Hook>,
    stop: watch::Sender<bool>,
}

#[derive(Debug)]
struct Hook {
    cfg: Arc<WebhookConfig>,
    tx: mpsc::Sender<Arc<Outgoing>>,
    metrics: Arc<Metrics>,
    worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Hooks {
    /// One queue and delivery task per webhook.
    pub fn start(configs: &[WebhookConfig], metrics: Arc<Metrics>) -> Hooks {
        let (stop, stopped) = watch::channel(false);
        let tls = configs
            .iter()
            .any(|c| c.url.scheme() == "https")
            .then(tls_connector);
        let hooks = configs
            .iter()
            .map(|cfg| {
                let cfg = Arc::new(cfg.clone());
                let (tx, rx) = mpsc::channel(cfg.queue);
                // Every webhook shows in the metrics from the start, at zero.
                let labels = WebhookLabels {
                    webhook: cfg.name.clone(),
                };
                metrics.webhook_queue_depth.get_or_create(&labels).set(0);
                for outcome in ["delivered", "failed", "dropped", "gave-up"] {
                    metrics
                        .webhook_deliveries
                        .get_or_create(&crate::metrics::WebhookOutcomeLabels {
                            webhook: cfg.name.clone(),
                            outcome,
                        })
                        .inc_by(0);
                }
                let worker = Worker {
                    cfg: Arc::clone(&cfg),
                    tls: tls.clone(),
                    metrics: Arc::clone(&metrics),
                    stop: stopped.clone(),
                };
                tracing::info!(webhook = %cfg.name, url = %cfg.shown_url(), "deployment events webhook");
                Hook {
                    cfg,
                    tx,
                    metrics: Arc::clone(&metrics),
                    worker: Mutex::new(Some(tokio::spawn(worker.run(rx)))),
                }
            })
            .collect();
        Hooks { hooks, stop }
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Queues `ev` for every webhook that wants its type, without waiting.
    pub fn offer(&self, ev: Arc<Outgoing>) {
        let stopping = *self.stop.borrow();
        for h in &self.hooks {
            if !h.cfg.wants(&ev.event_type) {
                continue;
            }
            if stopping {
                // The flush has begun: nothing queued now would be sent.
                h.metrics.webhook(&h.cfg.name, "dropped");
                tracing::warn!(webhook = %h.cfg.name, event = %ev.id, r#type = %ev.event_type, why = "stopping", "deployment event dropped");
            } else {
                h.offer(&ev);
            }
        }
    }

    /// Stops taking new events and delivers what is queued, each webhook for at most `within`
    /// (retries then go without waiting). What is left is lost, and logged.
    pub async fn flush(&self, within: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + within;
        for h in &self.hooks {
            let worker = h.worker.lock().ok().and_then(|mut w| w.take());
            let Some(worker) = worker else { continue };
            if tokio::time::timeout_at(deadline, worker).await.is_err() {
                let left = h
                    .metrics
                    .webhook_queue_depth
                    .get_or_create(&h.labels())
                    .get();
                tracing::warn!(webhook = %h.cfg.name, queued = left, "stopping with deployment events undelivered");
            }
        }
    }
}

impl Hook {
    fn labels(&self) -> WebhookLabels {
        WebhookLabels {
            webhook: self.cfg.name.clone(),
        }
    }

    fn offer(&self, ev: &Arc<Outgoing>) {
        // Counted before the send, so the worker's decrement never runs first.
        let depth = self
            .metrics
            .webhook_queue_depth
            .get_or_create(&self.labels());
        depth.inc();
        if let Err(e) = self.tx.try_send(Arc::clone(ev)) {
            depth.dec();
            self.metrics.webhook(&self.cfg.name, "dropped");
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "queue full",
                mpsc::error::TrySendError::Closed(_) => "stopping",
            };
            tracing::warn!(webhook = %self.cfg.name, event = %ev.id, r#type = %ev.event_type, why, "deployment event dropped");
        }
    }
}

/// The task behind one webhook.
struct Worker {
    cfg: Arc<WebhookConfig>,
    tls: Option<TlsConnector>,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    /// Whether the gateway is stopping (flushing), or the webhooks are gone altogether.
    fn stopping(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Arc<Outgoing>>) {
        let labels = WebhookLabels {
            webhook: self.cfg.name.clone(),
        };
        loop {
            let ev = if self.stopping() {
                // Flushing: what is queued, then done.
                match rx.try_recv() {
                    Ok(ev) => ev,
                    Err(_) => break,
                }
            } else {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => ev,
                        None => break,
                    },
                    _ = self.stop.changed() => continue,
                }
            };
            self.deliver(&ev).await;
            self.metrics
                .webhook_queue_depth
                .get_or_create(&labels)
                .dec();
        }
    }

    /// Sends `ev` until it is delivered or its attempts are spent.
    async fn deliver(&mut self, ev: &Outgoing) {
        let name = &self.cfg.name;
        for n in 1..=self.cfg.max_attempts {
            let outcome = match tokio::time::timeout(
                self.cfg.timeout,
                post(&self.cfg, self.tls.as_ref(), ev, n),
            )
            .await
            {
                Ok(a) => a,
                Err(_) => Attempt::Failed(format!("no answer within {:?}", self.cfg.timeout)),
            };
            let asked = match outcome {
                Attempt::Delivered(status) => {
                    self.metrics.webhook(name, "delivered");
                    self.metrics
                        .webhook_last_success
                        .get_or_create(&WebhookLabels {
                            webhook: name.clone(),
                        })
                        .set(crate::app::now_ms() / 1000);
                    tracing::debug!(webhook = %name, event = %ev.id, attempt = n, status = status.as_u16(), "deployment event delivered");
                    return;
                }
                Attempt::Refused(status, asked) => {
                    self.metrics.webhook(name, "failed");
                    tracing::warn!(webhook = %name, event = %ev.id, attempt = n, status = status.as_u16(), "webhook refused a deployment event");
                    asked
                }
                Attempt::Failed(why) => {
                    self.metrics.webhook(name, "failed");
                    tracing::warn!(webhook = %name, event = %ev.id, attempt = n, error = %why, "deployment event not delivered");
                    None
                }
            };
            if n == self.cfg.max_attempts {
                break;
            }
            if self.stopping() {
                // Flushing: no waiting between attempts (the flush has its own deadline).
                continue;
            }
            let wait = asked.unwrap_or_else(|| backoff(n, rand::random::<f64>()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.changed() => {}
            }
        }
        self.metrics.webhook(name, "gave-up");
        tracing::error!(webhook = %name, event = %ev.id, r#type = %ev.event_type, attempts = self.cfg.max_attempts, "deployment event given up");
    }
}

/// A TLS client trusting the system's roots (where the organisation's own CA also goes).
fn tls_connector() -> TlsConnector {
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "reading the system's trust roots");
    }
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::error!("no system trust roots found: https webhooks will fail");
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config =
        match ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
            Err(e) => {
                tracing::error!(error = %e, "TLS client configuration");
                ClientConfig::builder()
                    .with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
    TlsConnector::from(Arc::new(config))
}

/// One attempt: connect (bounded by `connect_timeout`), TLS for https, POST the signed body,
/// read the answer's head. The caller bounds the whole by `timeout`.
pub async fn post(
    cfg: &WebhookConfig,
    tls: Option<&TlsConnector>,
    ev: &Outgoing,
    attempt: u32,
) -> Attempt {
    match post_inner(cfg, tls, ev, attempt).await {
        Ok(a) => a,
        Err(why) => Attempt::Failed(why),
    }
}

async fn post_inner(
    cfg: &WebhookConfig,
    tls: Option<&TlsConnector>,
    ev: &Outgoing,
    attempt: u32,
) -> Result<Attempt, String> {
    let url = &cfg.url;
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let tcp = tokio::time::timeout(
        cfg.connect_timeout,
        tokio::net::TcpStream::connect(format!("{host}:{port}")),
    )
    .await
    .map_err(|_| format!("connecting took longer than {:?}", cfg.connect_timeout))?
    .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let now_s = crate::app::now_ms() / 1000;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let req = Request::post(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/cloudevents+json")
        .header(header::CONTENT_LENGTH, ev.body.len())
        .header(
            header::USER_AGENT,
            concat!("tollgate/", env!("CARGO_PKG_VERSION")),
        )
        .header(
            super::SIGNATURE_HEADER,
            super::signature(&cfg.secret, now_s, &ev.body),
        )
        .header("x-tollgate-event-id", ev.id.as_str())
        .header("x-tollgate-delivery-attempt", attempt)
        .body(Full::new(ev.body.clone()))
        .map_err(|e| format!("building the request: {e}"))?;
    if url.scheme() == "https" {
        let tls = tls.ok_or("no TLS client configured")?;
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|e| format!("TLS server name {host:?}: {e}"))?
            .to_owned();
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        exchange(stream, req).await
    } else {
        exchange(tcp, req).await
    }
}

/// Sends `req` over `io` (HTTP/1.1, one request) and reads the answer's status and headers.
async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<Attempt, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let mut conn = std::pin::pin!(conn);
    let mut send = std::pin::pin!(sender.send_request(req));
    // The connection task may finish (the receiver answered and closed) in the same poll
    // the answer arrives: the answer, if there is one, is then waiting in `send`.
    let resp = tokio::select! {
        biased;
        r = &mut send => r,
        r = &mut conn => match r {
            Ok(()) => send.await,
            Err(e) => return Err(format!("connection: {e}")),
        },
    }
    .map_err(|e| format!("sending: {e}"))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(Attempt::Delivered(status));
    }
    let asked = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, crate::app::now_ms())),
        _ => None,
    };
    Ok(Attempt::Refused(status, asked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        // The schedule without jitter's randomness: [half, full] of 1, 2, 4, … seconds.
        for (failures, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (6, 32), (9, 256)] {
            assert_eq!(
                backoff(failures, 0.0),
                Duration::from_millis(full * 500),
                "{failures}"
            );
            assert_eq!(
                backoff(failures, 1.0),
                Duration::from_secs(full),
                "{failures}"
            );
            let mid = backoff(failures, 0.5);
            assert!(
                mid > backoff(failures, 0.0) && mid < backoff(failures, 1.0),
                "{failures}"
            );
        }
        // Capped: never more than BACKOFF_MAX, never less than half of it, however many.
        for failures in [10, 11, 20, 31, 32, 1000, u32::MAX] {
            assert_eq!(backoff(failures, 1.0), BACKOFF_MAX);
            assert_eq!(backoff(failures, 0.0), BACKOFF_MAX / 2);
        }
        // Random draws stay in the band.
        for _ in 0..100 {
            let d = backoff(3, rand::random::<f64>());
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_secs(4),
                "{d:?}"
            );
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_capped() {
        assert_eq!(retry_after("7", 0), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 0 ", 0), Some(Duration::ZERO));
        assert_eq!(retry_after("86400", 0), Some(BACKOFF_MAX));
        // 2015-10-21T07:28:00Z, asked 30 s before.
        let at = 1_445_412_480_000;
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at - 30_000),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at + 5_000),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", 0), None);
        assert_eq!(retry_after("-3", 0), None);
    }

    fn hook(url: &str) -> WebhookConfig {
        WebhookConfig {
            name: "t".into(),
            url: url.parse().unwrap(),
            secret: b"0123456789abcdef0123".to_vec(),
            events: Vec::new(),
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            max_attempts: 1,
            queue: 4,
        }
    }

    fn event() -> Outgoing {
        Outgoing {
            id: "o/1".into(),
            event_type: "dev.tollgate.promotion.requested".into(),
            body: Bytes::from_static(br#"{"specversion":"1.0"}"#),
        }
    }

    /// A one-shot server: answers the first request with `answer` and returns what it read.
    async fn answer_once(answer: &'static str) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook?x=1", l.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("\"1.0\"}") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(answer.as_bytes()).await.unwrap();
            got
        });
        (url, task)
    }

    #[tokio::test]
    async fn an_attempt_posts_the_signed_body_and_reads_the_answer() {
        let (url, server) = answer_once("HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await;
        let cfg = hook(&url);
        assert_eq!(
            post(&cfg, None, &event(), 3).await,
            Attempt::Delivered(StatusCode::ACCEPTED)
        );
        let got = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(got.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{got}");
        let lower = got.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: application/cloudevents+json\r\n"),
            "{got}"
        );
        assert!(
            lower.contains("x-tollgate-delivery-attempt: 3\r\n"),
            "{got}"
        );
        assert!(lower.contains("x-tollgate-event-id: o/1\r\n"), "{got}");
        let sig = got
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("x-tollgate-signature: ")
                    .map(str::to_string)
            })
            .unwrap();
        let now = crate::app::now_ms() / 1000;
        assert_eq!(
            super::super::verify_signature(
                &cfg.secret,
                &sig,
                br#"{"specversion":"1.0"}"#,
                now,
                Duration::from_secs(60)
            ),
            Ok(())
        );

        let (url, _server) = answer_once(
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(
            post(&hook(&url), None, &event(), 1).await,
            Attempt::Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(Duration::from_secs(2))
            )
        );
        let (url, _server) =
            answer_once("HTTP/1.1 404 Not Found\r\nretry-after: 2\r\ncontent-length: 0\r\n\r\n")
                .await;
        assert_eq!(
            post(&hook(&url), None, &event(), 1).await,
            Attempt::Refused(StatusCode::NOT_FOUND, None)
        );
    }

    fn deliveries(m: &Metrics, outcome: &'static str) -> u64 {
        m.webhook_deliveries
            .get_or_create(&crate::metrics::WebhookOutcomeLabels {
                webhook: "t".into(),
                outcome,
            })
            .get()
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_a_stop_flushes_for_a_bounded_time() {
        // A receiver that accepts and never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let _server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let mut cfg = hook(&url);
        cfg.queue = 2;
        cfg.timeout = Duration::from_secs(30);
        let metrics = Arc::new(Metrics::new());
        let hooks = Hooks::start(std::slice::from_ref(&cfg), Arc::clone(&metrics));
        // On this single-threaded runtime the worker has not run yet: two fit, three do not.
        for _ in 0..5 {
            hooks.offer(Arc::new(event()));
        }
        assert_eq!(deliveries(&metrics, "dropped"), 3);
        let depth = metrics
            .webhook_queue_depth
            .get_or_create(&WebhookLabels {
                webhook: "t".into(),
            })
            .get();
        assert_eq!(depth, 2);
        // The flush gives up at its deadline, not at the attempt's 30 s time-out.
        tokio::time::timeout(
            Duration::from_secs(10),
            hooks.flush(Duration::from_millis(200)),
        )
        .await
        .expect("the flush is bounded");
        assert_eq!(deliveries(&metrics, "delivered"), 0);
        // Stopped: later events are not queued.
        hooks.offer(Arc::new(event()));
        assert_eq!(deliveries(&metrics, "dropped"), 4);
    }

    #[tokio::test]
    async fn a_stop_delivers_what_is_queued() {
        let (url, server) =
            answer_once("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
        let metrics = Arc::new(Metrics::new());
        let hooks = Hooks::start(&[hook(&url)], Arc::clone(&metrics));
        hooks.offer(Arc::new(event()));
        hooks.flush(Duration::from_secs(10)).await;
        assert_eq!(deliveries(&metrics, "delivered"), 1);
        assert!(!server.await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn https_goes_through_tls() {
        use tokio::io::AsyncWriteExt as _;
        // A plain-HTTP server behind an https URL: the TLS handshake must fail, never "deliver".
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/hook", l.local_addr().unwrap());
        let _server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let a = post(&hook(&url), Some(&tls_connector()), &event(), 1).await;
        assert!(
            matches!(a, Attempt::Failed(ref why) if why.starts_with("TLS")),
            "{a:?}"
        );
        let a = post(&hook(&url), None, &event(), 1).await;
        assert!(matches!(a, Attempt::Failed(_)), "{a:?}");
    }

    #[tokio::test]
    async fn a_closed_port_fails_the_attempt() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let a = post(
            &hook(&format!("http://127.0.0.1:{port}/")),
            None,
            &event(),
            1,
        )
        .await;
        assert!(
            matches!(a, Attempt::Failed(ref why) if why.contains("connecting")),
            "{a:?}"
        );
    }
}
