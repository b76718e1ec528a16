//! `[[webhooks]]`: endpoints that receive deployment events (audit entries as CloudEvents 1.0,
//! see `crate::events`), each signed with its own HMAC-SHA256 key.

use std::time::Duration;

use serde::Deserialize;
use tollgate_policies::Pattern;
use toml::Spanned;

use super::{ConfigError, Source};

/// Attempts per event unless `max_attempts` says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Per-attempt time-out unless `timeout_secs` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Events waiting per webhook unless `queue` says otherwise; more are dropped (and counted).
pub const DEFAULT_QUEUE: usize = 1024;

/// One webhook as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWebhook {
    /// Unique; the `webhook` label of its metrics.
    pub name: Spanned<String>,
    /// `http://…` or `https://…` (system trust roots).
    pub url: Spanned<String>,
    /// The HMAC-SHA256 key, inline…
    pub secret: Option<Spanned<String>>,
    /// …or in a file (relative to the config file; surrounding whitespace ignored).
    pub secret_file: Option<Spanned<String>>,
    /// Globs over the event type after `dev.tollgate.` (`promotion.*`); absent: every type.
    pub events: Option<Vec<Spanned<String>>>,
    /// Bound on each attempt: connecting, sending, and the answer's head.
    pub timeout_secs: Option<Spanned<u64>>,
    /// Bound on connecting (default: the lesser of 5 and `timeout_secs`).
    pub connect_timeout_secs: Option<Spanned<u64>>,
    /// Attempts per event before it is given up (counted).
    pub max_attempts: Option<Spanned<u32>>,
    /// Events waiting for delivery at most; beyond it new events are dropped (counted).
    pub queue: Option<Spanned<usize>>,
}

/// A validated webhook.
#[derive(Clone)]
pub struct WebhookConfig {
    pub name: String,
    pub url: url::Url,
    /// The HMAC key: never logged (see `Debug`).
    pub secret: Vec<u8>,
    /// Event-type globs (after `dev.tollgate.`); empty: every type.
    pub events: Vec<Pattern>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_attempts: u32,
    pub queue: usize,
}

impl WebhookConfig {
    /// The URL as logs show it: scheme, host and port only (webhook paths and queries often
    /// carry a token).
    pub fn shown_url(&self) -> String {
        format!("{}/…", self.url.origin().ascii_serialization())
    }

    /// Whether events of `event_type` (`dev.tollgate.promotion.completed`) go to this webhook.
    pub fn wants(&self, event_type: &str) -> bool {
        let short = event_type
            .strip_prefix(crate::events::TYPE_PREFIX)
            .unwrap_or(event_type);
        self.events.is_empty() || self.events.iter().any(|p| p.matches(short))
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.shown_url())
            .field("secret", &"***")
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("queue", &self.queue)
            .finish()
    }
}

/// Validates `[[webhooks]]`: unique metric-label names, http(s) URLs, exactly one secret
/// source, event filters that match at least one event type, positive bounds.
pub(super) fn validate(
    hooks: Vec<FileWebhook>,
    src: &Source<'_>,
) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut out: Vec<WebhookConfig> = Vec::new();
    for h in hooks {
        let name = h.name.get_ref();
        let label_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !label_ok {
            return Err(src.at(
                h.name.span(),
                format!("webhook name {name:?} must be 1-64 of [A-Za-z0-9._-]"),
            ));
        }
        if out.iter().any(|o| o.name == *name) {
            return Err(src.at(h.name.span(), format!("webhook {name:?} is declared twice")));
        }
        let url = url::Url::parse(h.url.get_ref()).map_err(|e| {
            src.at(
                h.url.span(),
                format!("webhook url {:?} is not a URL: {e}", h.url.get_ref()),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(src.at(
                h.url.span(),
                format!(
                    "webhook url {} must be http:// or https:// with a host",
                    super::redact_url(url.as_str())
                ),
            ));
        }
        let secret = match (&h.secret, &h.secret_file) {
            (Some(s), None) => s.get_ref().as_bytes().to_vec(),
            (None, Some(f)) => {
                let path = src.path(f.get_ref());
                let bytes = std::fs::read(&path).map_err(|e| {
                    src.at(f.span(), format!("secret_file {}: {e}", path.display()))
                })?;
                bytes.trim_ascii().to_vec()
            }
            (Some(s), Some(_)) => {
                return Err(src.at(
                    s.span(),
                    "a webhook takes one of secret and secret_file, not both",
                ));
            }
            (None, None) => {
                return Err(src.at(
                    h.name.span(),
                    format!("webhook {name:?} needs a secret or a secret_file (its HMAC key)"),
                ));
            }
        };
        if secret.len() < 16 {
            let span = h
                .secret
                .as_ref()
                .or(h.secret_file.as_ref())
                .map_or(h.name.span(), Spanned::span);
            return Err(src.at(
                span,
                "a webhook secret must be at least 16 bytes (use a random one)",
            ));
        }
        let mut events = Vec::new();
        for e in h.events.iter().flatten() {
            let glob = e.get_ref();
            let ok = !glob.is_empty()
                && glob
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b".-*?".contains(&b));
            if !ok {
                return Err(src.at(
                    e.span(),
                    format!(
                        "event filter {glob:?} may hold only a-z, '.', '-', '*' and '?' (the type after dev.tollgate.)"
                    ),
                ));
            }
            let p = Pattern::new(glob);
            if !crate::events::event_types().any(|t| p.matches(t)) {
                return Err(src.at(
                    e.span(),
                    format!(
                        "event filter {glob:?} matches no event type (known: {})",
                        crate::events::event_types().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            events.push(p);
        }
        let positive = |v: &Option<Spanned<u64>>, what: &str| -> Result<Option<u64>, ConfigError> {
            match v {
                Some(s) if *s.get_ref() == 0 => {
                    Err(src.at(s.span(), format!("{what} must be at least 1")))
                }
                Some(s) => Ok(Some(*s.get_ref())),
                None => Ok(None),
            }
        };
        let timeout =
            positive(&h.timeout_secs, "timeout_secs")?.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let connect_timeout = positive(&h.connect_timeout_secs, "connect_timeout_secs")?
            .map_or(timeout.min(Duration::from_secs(5)), Duration::from_secs);
        let max_attempts = match &h.max_attempts {
            Some(m) if !(1..=100).contains(m.get_ref()) => {
                return Err(src.at(m.span(), "max_attempts must be between 1 and 100"));
            }
            Some(m) => *m.get_ref(),
            None => DEFAULT_MAX_ATTEMPTS,
        };
        let queue = match &h.queue {
            Some(q) if !(1..=1_000_000).contains(q.get_ref()) => {
                return Err(src.at(q.span(), "queue must be between 1 and 1000000"));
            }
            Some(q) => *q.get_ref(),
            None => DEFAULT_QUEUE,
        };
        out.push(WebhookConfig {
            name: name.clone(),
            url,
            secret,
            events,
            timeout,
            connect_timeout,
            max_attempts,
            queue,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, Overrides};

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, "tollgate.toml", &Overrides::default())
    }

    const SECRET: &str = "secret = \"0123456789abcdef0123\"\n";

    #[test]
    fn a_webhook_is_read_with_its_defaults() {
        let c = load(&format!(
            "[[webhooks]]\nname = \"pagerduty\"\nurl = \"https://hooks.example/x\"\n{SECRET}"
        ))
        .unwrap();
        let h = &c.webhooks[0];
        assert_eq!(h.name, "pagerduty");
        assert_eq!(h.url.as_str(), "https://hooks.example/x");
        assert_eq!(h.secret, b"0123456789abcdef0123");
        assert!(h.events.is_empty());
        assert!(h.wants("dev.tollgate.pull.denied"));
        assert_eq!(h.timeout, super::DEFAULT_TIMEOUT);
        assert_eq!(h.max_attempts, super::DEFAULT_MAX_ATTEMPTS);
        assert!(load("").unwrap().webhooks.is_empty());
        // The key never shows in logs, nor does the URL's path (a token in many services).
        let shown = format!("{h:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(
            shown.contains("https://hooks.example/…") && !shown.contains("/x"),
            "{shown}"
        );
    }

    #[test]
    fn filters_timeouts_and_a_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook.secret"), "  from-a-file-0123456789\n").unwrap();
        let cfg = dir.path().join("tollgate.toml");
        let text = concat!(
            "[[webhooks]]\n",
            "name = \"ops\"\n",
            "url = \"http://127.0.0.1:9/hook\"\n",
            "secret_file = \"hook.secret\"\n",
            "events = [\"promotion.*\", \"breakglass.used\"]\n",
            "timeout_secs = 2\n",
            "max_attempts = 3\n",
        );
        let c = Config::from_toml(text, &cfg.display().to_string(), &Overrides::default()).unwrap();
        let h = &c.webhooks[0];
        assert_eq!(h.secret, b"from-a-file-0123456789");
        assert!(h.wants("dev.tollgate.promotion.completed"));
        assert!(h.wants("dev.tollgate.promotion.denied"));
        assert!(h.wants("dev.tollgate.breakglass.used"));
        assert!(!h.wants("dev.tollgate.pull.denied"));
        assert!(!h.wants("dev.tollgate.deployment.outcome"));
        assert_eq!(h.timeout.as_secs(), 2);
        assert_eq!(h.connect_timeout.as_secs(), 2);
        assert_eq!(h.max_attempts, 3);
    }

    #[test]
    fn webhook_errors_point_at_file_and_line() {
        let head = "[[webhooks]]\nname = \"a\"\n";
        for (text, at) in [
            // a URL that is not one, or not http(s)
            (
                format!("{head}url = \"hooks.example/x\"\n{SECRET}"),
                "tollgate.toml:3:7",
            ),
            (
                format!("{head}url = \"ftp://hooks.example/x\"\n{SECRET}"),
                "tollgate.toml:3:7",
            ),
            // no secret at all: at the name
            (format!("{head}url = \"http://h/x\"\n"), "tollgate.toml:2:8"),
            // both
            (
                format!("{head}url = \"http://h/x\"\n{SECRET}secret_file = \"x\"\n"),
                "tollgate.toml:4:10",
            ),
            // too short to be a key
            (
                format!("{head}url = \"http://h/x\"\nsecret = \"short\"\n"),
                "tollgate.toml:4:10",
            ),
            // a secret file that is not there
            (
                format!("{head}url = \"http://h/x\"\nsecret_file = \"/nonexistent/hook.secret\"\n"),
                "tollgate.toml:4:15",
            ),
            // a filter that matches nothing (a typo)
            (
                format!(
                    "{head}url = \"http://h/x\"\n{SECRET}events = [\"promotion.*\", \"promotoin.*\"]\n"
                ),
                "tollgate.toml:5:26",
            ),
            (
                format!(
                    "{head}url = \"http://h/x\"\n{SECRET}events = [\"dev.tollgate.promotion.*\"]\n"
                ),
                "tollgate.toml:5:11",
            ),
            (
                format!("{head}url = \"http://h/x\"\n{SECRET}timeout_secs = 0\n"),
                "tollgate.toml:5:16",
            ),
            (
                format!("{head}url = \"http://h/x\"\n{SECRET}max_attempts = 0\n"),
                "tollgate.toml:5:16",
            ),
            (
                format!("{head}url = \"http://h/x\"\n{SECRET}queue = 0\n"),
                "tollgate.toml:5:9",
            ),
            (
                format!("{head}url = \"http://h/x\"\n{SECRET}retries = 3\n"),
                "tollgate.toml:5:1",
            ),
            // names are metric labels: unique, and label-safe
            (
                format!(
                    "{head}url = \"http://h/x\"\n{SECRET}\n[[webhooks]]\nname = \"a\"\nurl = \"http://h/y\"\n{SECRET}"
                ),
                "tollgate.toml:7:8",
            ),
            (
                format!("[[webhooks]]\nname = \"a b\"\nurl = \"http://h/x\"\n{SECRET}"),
                "tollgate.toml:2:8",
            ),
        ] {
            let e = load(&text).unwrap_err();
            assert_eq!(e.location, at, "{text}\n{e}");
        }
    }
}
