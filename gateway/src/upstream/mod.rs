//! The client for the upstream registry: streaming in both directions, a time-out on every
//! call (connect, response head, each body chunk), Basic credentials or the registry Bearer
//! token flow, and credentials sent only to the configured host.

pub mod tag_mirror;
mod verify;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

pub use verify::verified_stream;

use crate::config::UpstreamConfig;
use crate::metrics::Metrics;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

const READ_BUFFER: usize = 256 * 1024;
pub type UpBody = UnsyncBoxBody<Bytes, BoxError>;

/// Why an upstream call failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream unreachable: {0}")]
    Unavailable(String),
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("upstream answered unexpectedly: {0}")]
    Invalid(String),
}

/// A request body: replayable ones can be resent after a token challenge.
#[derive(Debug)]
pub enum ReqBody {
    Empty,
    Full(Bytes),
    Stream(UpBody),
}

impl ReqBody {
    fn replay(&self) -> Option<UpBody> {
        match self {
            ReqBody::Empty => Some(Empty::new().map_err(|e| match e {}).boxed_unsync()),
            ReqBody::Full(b) => Some(Full::new(b.clone()).map_err(|e| match e {}).boxed_unsync()),
            ReqBody::Stream(_) => None,
        }
    }
}

/// A body made from a stream of chunks.
pub fn stream_body<S>(s: S) -> UpBody
where
    S: Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
{
    BodyExt::boxed_unsync(StreamBody::new(s.map(|r| r.map(Frame::data))))
}

#[derive(Debug)]
pub struct Upstream {
    base: Uri,
    authority: String,
    client: Client<HttpConnector, UpBody>,
    basic: Option<String>,
    timeout: Duration,
    /// Bearer tokens by scope, with their expiry.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// The upstream's last Bearer challenge (realm, service), to renew tokens proactively.
    challenge: Mutex<Option<HashMap<String, String>>>,
    metrics: Arc<Metrics>,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl Upstream {
    pub fn new(cfg: &UpstreamConfig, metrics: Arc<Metrics>) -> Result<Self, UpstreamError> {
        let base: Uri = cfg
            .url
            .as_str()
            .parse()
            .map_err(|e| UpstreamError::Invalid(format!("upstream URL: {e}")))?;
        let authority = base.authority().map(|a| a.to_string()).unwrap_or_default();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(cfg.connect_timeout));
        connector.set_nodelay(true);
        // Large reads from the upstream mean fewer syscalls and wake-ups per relayed byte.
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .http1_read_buf_exact_size(READ_BUFFER)
            .build(connector);
        let basic = match (&cfg.username, &cfg.password) {
            (Some(u), Some(p)) => Some(STANDARD.encode(format!("{u}:{p}"))),
            _ => None,
        };
        Ok(Upstream {
            base,
            authority,
            client,
            basic,
            timeout: cfg.timeout,
            tokens: Mutex::new(HashMap::new()),
            challenge: Mutex::new(None),
            metrics,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Turns a path or a `Location` the upstream sent into a URI on the upstream itself;
    /// anything pointing elsewhere is refused so credentials never leave for another host.
    pub fn resolve(&self, location: &str) -> Result<Uri, UpstreamError> {
        if location.starts_with('/') {
            return format!("http://{}{location}", self.authority)
                .parse()
                .map_err(|e| UpstreamError::Invalid(format!("bad location {location:?}: {e}")));
        }
        let uri: Uri = location
            .parse()
            .map_err(|e| UpstreamError::Invalid(format!("bad location {location:?}: {e}")))?;
        if uri.authority().map(|a| a.as_str()) != Some(self.authority.as_str())
            || uri.scheme() != self.base.scheme()
        {
            return Err(UpstreamError::Invalid(format!(
                "upstream redirected to another host: {location}"
            )));
        }
        Ok(uri)
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(scope)
            .filter(|(_, exp)| Instant::now() < *exp)
            .map(|(t, _)| t.clone())
    }

    fn authorization(&self, scope: &str) -> Option<HeaderValue> {
        if let Some(t) = self.cached_token(scope) {
            return HeaderValue::from_str(&format!("Bearer {t}")).ok();
        }
        self.basic
            .as_ref()
            .and_then(|b| HeaderValue::from_str(&format!("Basic {b}")).ok())
    }

    async fn timed<F, T>(&self, what: &'static str, f: F) -> Result<T, UpstreamError>
    where
        F: std::future::Future<Output = Result<T, UpstreamError>>,
    {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r,
            Err(_) => {
                self.metrics.upstream_error("timeout");
                tracing::warn!(call = what, timeout = ?self.timeout, "upstream call timed out");
                Err(UpstreamError::Timeout(self.timeout))
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: UpBody,
        scope: &str,
        progress: Option<Arc<Progress>>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut req = Request::builder().method(method.clone()).uri(uri.clone());
        if let Some(h) = req.headers_mut() {
            h.extend(headers.clone());
            if let Some(a) = self.authorization(scope) {
                h.insert(header::AUTHORIZATION, a);
            }
        }
        let req = req
            .body(body)
            .map_err(|e| UpstreamError::Invalid(e.to_string()))?;
        let call = async {
            self.client.request(req).await.map_err(|e| {
                self.metrics.upstream_error("connect");
                UpstreamError::Unavailable(e.to_string())
            })
        };
        match progress {
            None => self.timed("request", call).await,
            Some(p) => self.idle_bounded(call, &p).await,
        }
    }

    /// Runs a request whose body streams for as long as it takes, failing only when neither a
    /// body chunk has gone out nor the answer has come for longer than the time-out.
    async fn idle_bounded<F, T>(&self, call: F, progress: &Progress) -> Result<T, UpstreamError>
    where
        F: std::future::Future<Output = Result<T, UpstreamError>>,
    {
        let mut call = std::pin::pin!(call);
        let tick = (self.timeout / 4).max(Duration::from_millis(50));
        loop {
            tokio::select! {
                r = &mut call => return r,
                _ = tokio::time::sleep(tick) => {
                    if progress.idle() > self.timeout {
                        self.metrics.upstream_error("timeout");
                        tracing::warn!(timeout = ?self.timeout, "upstream upload stalled");
                        return Err(UpstreamError::Timeout(self.timeout));
                    }
                }
            }
        }
    }

    /// Sends a request to the upstream. `target` is a path (`/v2/...`) or a `Location` it
    /// returned. `scope` is the registry token scope the call needs.
    pub async fn send(
        &self,
        method: Method,
        target: &str,
        headers: HeaderMap,
        body: ReqBody,
        scope: &str,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let uri = self.resolve(target)?;
        let first = match &body {
            ReqBody::Stream(_) => None,
            b => b.replay(),
        };
        let resp = match (first, body) {
            (Some(b), body) => {
                let resp = self
                    .send_once(&method, &uri, &headers, b, scope, None)
                    .await?;
                if resp.status() != StatusCode::UNAUTHORIZED
                    || !self.fetch_token(&resp, scope).await?
                {
                    resp
                } else {
                    let again = body
                        .replay()
                        .ok_or_else(|| UpstreamError::Invalid("body not replayable".into()))?;
                    self.send_once(&method, &uri, &headers, again, scope, None)
                        .await?
                }
            }
            (None, ReqBody::Stream(s)) => {
                // A streamed body cannot be replayed after a challenge: renew the token first
                // if the upstream is known to want one and the cached one has lapsed.
                self.ensure_token(scope).await?;
                let progress = Arc::new(Progress::new());
                let body = ProgressBody {
                    inner: s,
                    progress: Arc::clone(&progress),
                };
                self.send_once(
                    &method,
                    &uri,
                    &headers,
                    BodyExt::boxed_unsync(body),
                    scope,
                    Some(progress),
                )
                .await?
            }
            (None, _) => unreachable!("only streamed bodies are not replayable"),
        };
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            self.metrics.upstream_error("auth");
        }
        Ok(resp)
    }

    /// Answers a Bearer challenge by asking the realm for a token; false if the challenge is
    /// not one Tollgate can answer.
    async fn fetch_token(
        &self,
        resp: &Response<Incoming>,
        scope: &str,
    ) -> Result<bool, UpstreamError> {
        let Some(challenge) = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(false);
        };
        let Some(params) = parse_bearer_challenge(challenge) else {
            return Ok(false);
        };
        if let Ok(mut c) = self.challenge.lock() {
            *c = Some(params.clone());
        }
        self.request_token(&params, scope).await
    }

    /// Fetches a token for `scope` ahead of a request that cannot be retried, when the
    /// upstream has challenged before and no valid token is cached.
    async fn ensure_token(&self, scope: &str) -> Result<(), UpstreamError> {
        if self.cached_token(scope).is_some() {
            return Ok(());
        }
        let known = self.challenge.lock().ok().and_then(|c| c.clone());
        if let Some(params) = known {
            self.request_token(&params, scope).await?;
        }
        Ok(())
    }

    async fn request_token(
        &self,
        params: &HashMap<String, String>,
        scope: &str,
    ) -> Result<bool, UpstreamError> {
        let Some(realm) = params.get("realm") else {
            return Ok(false);
        };
        let mut url = url::Url::parse(realm)
            .map_err(|e| UpstreamError::Invalid(format!("token realm {realm:?}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = params.get("service") {
                q.append_pair("service", s);
            }
            // Several scopes (a mount needs pull on the source too) go as one parameter each.
            for one in scope.split(' ').filter(|s| !s.is_empty()) {
                q.append_pair("scope", one);
            }
        }
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|e| UpstreamError::Invalid(format!("token realm: {e}")))?;
        let mut req = Request::builder().method(Method::GET).uri(uri);
        if let (Some(b), Some(h)) = (&self.basic, req.headers_mut())
            && let Ok(v) = HeaderValue::from_str(&format!("Basic {b}"))
        {
            h.insert(header::AUTHORIZATION, v);
        }
        let req = req
            .body(Empty::new().map_err(|e| match e {}).boxed_unsync())
            .map_err(|e| UpstreamError::Invalid(e.to_string()))?;
        let resp = self
            .timed("token", async {
                self.client
                    .request(req)
                    .await
                    .map_err(|e| UpstreamError::Unavailable(format!("token realm: {e}")))
            })
            .await?;
        if !resp.status().is_success() {
            self.metrics.upstream_error("auth");
            return Err(UpstreamError::Invalid(format!(
                "token realm answered {}",
                resp.status()
            )));
        }
        let body = self.read_small(resp.into_body(), 64 * 1024).await?;
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Invalid(format!("token response: {e}")))?;
        let Some(token) = t.token.or(t.access_token) else {
            return Err(UpstreamError::Invalid(
                "token response holds no token".into(),
            ));
        };
        // Renew a little early so a token never expires between check and use.
        let life = Duration::from_secs(t.expires_in.unwrap_or(60).max(60).saturating_sub(10));
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(scope.to_string(), (token, Instant::now() + life));
        }
        Ok(true)
    }

    /// Reads a small body whole (manifests, JSON), bounded in size and time.
    pub async fn read_small(&self, body: Incoming, limit: usize) -> Result<Bytes, UpstreamError> {
        let limited = http_body_util::Limited::new(body, limit);
        let collected = self
            .timed("read", async {
                limited
                    .collect()
                    .await
                    .map_err(|e| UpstreamError::Invalid(format!("reading body: {e}")))
            })
            .await?;
        Ok(collected.to_bytes())
    }

    /// A body stream that fails if the upstream stalls for longer than the time-out between
    /// chunks.
    pub fn body_stream(
        &self,
        body: Incoming,
    ) -> impl Stream<Item = Result<Bytes, UpstreamError>> + Send + use<> {
        let timeout = self.timeout;
        futures_util::stream::unfold(Some(body), move |state| async move {
            let mut body = state?;
            loop {
                match tokio::time::timeout(timeout, body.frame()).await {
                    Err(_) => return Some((Err(UpstreamError::Timeout(timeout)), None)),
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => {
                        return Some((Err(UpstreamError::Unavailable(e.to_string())), None));
                    }
                    Ok(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            return Some((Ok(data), Some(body)));
                        }
                    }
                }
            }
        })
    }
}

/// When a streamed request body last made progress.
#[derive(Debug)]
struct Progress {
    base: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Progress {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        self.last_ms
            .store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }
}

/// A request body that records each chunk it hands to the connection.
struct ProgressBody {
    inner: UpBody,
    progress: Arc<Progress>,
}

impl http_body::Body for ProgressBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if r.is_ready() {
            self.progress.touch();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Parses `Bearer realm="...",service="...",scope="..."` into its parameters.
pub fn parse_bearer_challenge(h: &str) -> Option<HashMap<String, String>> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut out = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.insert(k.trim().to_ascii_lowercase(), v.to_string());
        s = next.trim_start_matches([',', ' ']);
    }
    Some(out)
}

/// The token scope for a repository.
pub fn scope(repo: &str, push: bool) -> String {
    if push {
        format!("repository:{repo}:pull,push")
    } else {
        format!("repository:{repo}:pull")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let p = parse_bearer_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:samalba/my-app:pull,push""#,
        )
        .unwrap();
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:samalba/my-app:pull,push");
        assert!(parse_bearer_challenge("Basic realm=\"x\"").is_none());
    }
}
