//! The client side of the subcommands that talk to a running gateway (`inspect`,
//! `sbom search`, `promote`, `approve`, `promotions`, `postmortem`): the `--url`/`--token`
//! flags, one request function with its time-outs, and the gateway's error envelope
//! (`{"errors":[{"code","message","detail":{"reason"}}]}`) turned into one readable message.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Where the client subcommands look for a gateway unless told otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:5000";

/// How long a request (connect, answer, body) may take by default.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// `--url` and `--token`, the same on every subcommand that talks to a gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// The gateway's base URL
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// API token (or TOLLGATE_TOKEN)
    // Required, though an Option: clap checks it while parsing, and a command whose own flags
    // stand in for a subcommand's (`promotions` for `promotions list`) still builds when the
    // subcommand is given instead.
    #[arg(long, env = "TOLLGATE_TOKEN", hide_env_values = true, required = true)]
    pub token: Option<String>,
}

impl GatewayArgs {
    pub fn token(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }
}

/// A running gateway, reached with one API token.
#[derive(Debug, Clone)]
pub struct Gateway {
    base: String,
    token: String,
    timeout: Duration,
}

/// An answer, whatever its status.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A non-success answer from the gateway: its status, and the first error of its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: StatusCode,
    /// The wire code (`DENIED`, `BAD_REQUEST`, …), when the body was the error envelope.
    pub code: Option<String>,
    pub message: String,
    /// The stable kebab-case reason (`detail.reason`), when the gateway gave one.
    pub reason: Option<String>,
}

impl ApiFailure {
    /// Reads the error envelope; a body that is not one becomes the message as it is.
    pub fn from_answer(status: StatusCode, body: &[u8]) -> ApiFailure {
        let first = serde_json::from_slice::<Value>(body)
            .ok()
            .map(|v| v["errors"][0].clone())
            .filter(|e| e.is_object());
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        match first {
            Some(e) => ApiFailure {
                status,
                code: text(&e["code"]),
                message: text(&e["message"]).unwrap_or_default(),
                reason: text(&e["detail"]["reason"]),
            },
            None => ApiFailure {
                status,
                code: None,
                message: String::from_utf8_lossy(body).trim().to_string(),
                reason: None,
            },
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(r) = self.reason.as_ref().or(self.code.as_ref()) {
            write!(f, " [{r}]")?;
        }
        if self.status == StatusCode::UNAUTHORIZED {
            write!(f, " (check --token or TOLLGATE_TOKEN)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

impl Gateway {
    pub fn new(base: &str, token: &str) -> Gateway {
        Gateway {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            timeout: TIMEOUT,
        }
    }

    pub fn from_args(args: &GatewayArgs) -> Gateway {
        Gateway::new(&args.url, args.token())
    }

    /// The same gateway with another per-request time-out.
    pub fn with_timeout(mut self, timeout: Duration) -> Gateway {
        self.timeout = timeout;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request to `path` (with its query) and returns the answer, whatever its
    /// status. The token goes as a Basic password, which every gateway interface accepts.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let secs = self.timeout.as_secs();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::ACCEPT, accept)
            .header(
                header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("tollgate:{}", self.token))
                ),
            );
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(serde_json::to_vec(v)?))
            }
            None => Full::new(Bytes::new()),
        };
        let req = req
            .body(body)
            .map_err(|e| anyhow::anyhow!("{url}: not a usable URL: {e}"))?;
        let resp = tokio::time::timeout(self.timeout, client.request(req))
            .await
            .map_err(|_| anyhow::anyhow!("{url}: no answer within {secs} s"))?
            .map_err(|e| anyhow::Error::new(e).context(format!("cannot reach {url}")))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = tokio::time::timeout(self.timeout, resp.into_body().collect())
            .await
            .map_err(|_| anyhow::anyhow!("{url}: body not complete within {secs} s"))??
            .to_bytes();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// A JSON API call: the parsed answer on success, an [`ApiFailure`] otherwise.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let a = self.send(method, path, "application/json", body).await?;
        if !a.status.is_success() {
            return Err(ApiFailure::from_answer(a.status, &a.body).into());
        }
        serde_json::from_slice(&a.body).map_err(|e| {
            anyhow::anyhow!("{}{path}: the gateway's answer is not JSON: {e}", self.base)
        })
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.json(Method::GET, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.json(Method::POST, path, Some(body)).await
    }
}

/// A query string (`?a=1&b=2`, or nothing) from the pairs that have a value.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("?{}", q.finish())
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_the_envelope_and_its_reason() {
        let body = br#"{"errors":[{"code":"DENIED","message":"token \"x\" may not promote","detail":{"reason":"role-missing"}}]}"#;
        let f = ApiFailure::from_answer(StatusCode::FORBIDDEN, body);
        assert_eq!(f.reason.as_deref(), Some("role-missing"));
        assert_eq!(
            f.to_string(),
            "403 Forbidden: token \"x\" may not promote [role-missing]"
        );
        let f = ApiFailure::from_answer(
            StatusCode::BAD_REQUEST,
            br#"{"errors":[{"code":"BAD_REQUEST","message":"unknown environment \"qa\""}]}"#,
        );
        assert_eq!(
            f.to_string(),
            "400 Bad Request: unknown environment \"qa\" [BAD_REQUEST]"
        );
        let f = ApiFailure::from_answer(StatusCode::UNAUTHORIZED, b"{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"the presented token is unknown or revoked\"}]}");
        assert!(f.to_string().contains("TOLLGATE_TOKEN"), "{f}");
        let f = ApiFailure::from_answer(StatusCode::NOT_FOUND, b"");
        assert_eq!(f.to_string(), "404 Not Found");
    }

    #[test]
    fn queries_skip_missing_values_and_encode() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[
                ("state", Some("pending")),
                ("x", None),
                ("artifact", Some("a b&"))
            ]),
            "?state=pending&artifact=a+b%26"
        );
    }
}
