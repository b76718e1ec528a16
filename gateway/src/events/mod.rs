//! Deployment events out: audit entries become CloudEvents 1.0 (structured JSON mode), signed
//! with HMAC-SHA256 and delivered to the configured `[[webhooks]]`; and the dashboard metrics
//! that come from the same entries (deployment outcomes) or from the store at scrape time (what
//! each environment runs).
//!
//! The source is the audit log: the audit writer hands every entry to [`Events`] once it is
//! durable ([`crate::audit::AuditSink`]), in log order. [`MAPPINGS`] says which actions become
//! events and of which type; everything else stays in the log only. One entry makes at most
//! one event, whose id (`<audit origin>/<seq>`) is unique and the same on every attempt.
//!
//! Nothing here waits on a receiver: each webhook has a bounded queue filled with `try_send`
//! (a full queue drops the event, counted) and a task that delivers in order, retrying with
//! back-off ([`delivery`]).

pub mod delivery;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tollgate_policies::chrono::{DateTime, SecondsFormat, Utc};
use tollgate_store::{AuditEntry, Store};

use crate::metrics::Metrics;

/// Every event type starts with this; webhook filters name what follows it.
pub const TYPE_PREFIX: &str = "dev.tollgate.";

/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
pub const SIGNATURE_HEADER: &str = "x-tollgate-signature";

/// Which audit action becomes which event type (after [`TYPE_PREFIX`]).
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    pub action: &'static str,
    pub event: &'static str,
    /// The type instead when the entry's `details.verdict` is `deny`: one entry, one event,
    /// so a denial is `promotion.denied` and never also `promotion.decided`.
    pub on_deny: Option<&'static str>,
}

const fn map(action: &'static str, event: &'static str) -> Mapping {
    Mapping {
        action,
        event,
        on_deny: None,
    }
}

/// The one table of audit actions that are delivered as events.
pub const MAPPINGS: &[Mapping] = &[
    map("promotion-requested", "promotion.requested"),
    Mapping {
        action: "promotion-decided",
        event: "promotion.decided",
        on_deny: Some("promotion.denied"),
    },
    map("promotion-approved", "promotion.approved"),
    // An approver refused it (a denial by a person, not by policy).
    map("promotion-rejected", "promotion.rejected"),
    map("promotion-completed", "promotion.completed"),
    map("promotion-failed", "promotion.failed"),
    map("promotion-scheduled", "promotion.scheduled"),
    map("promotion-note", "promotion.note"),
    map("promotion-outcome", "deployment.outcome"),
    map("verification-recorded", "verification.recorded"),
    map("checklist-confirmed", "checklist.confirmed"),
    map("breakglass-used", "breakglass.used"),
    map("postmortem-closed", "postmortem.closed"),
    map("pull-denied", "pull.denied"),
    map("admission-denied", "admission.denied"),
    map("file-push-denied", "push.denied"),
    map("file-delete-denied", "delete.denied"),
];

/// Every event type, without [`TYPE_PREFIX`].
pub fn event_types() -> impl Iterator<Item = &'static str> {
    MAPPINGS
        .iter()
        .flat_map(|m| std::iter::once(m.event).chain(m.on_deny))
}

/// The full event type of an audit entry, if its action is delivered at all.
pub fn event_type(action: &str, details: &serde_json::Value) -> Option<String> {
    let m = MAPPINGS.iter().find(|m| m.action == action)?;
    let short = match m.on_deny {
        Some(deny) if details.get("verdict").and_then(|v| v.as_str()) == Some("deny") => deny,
        _ => m.event,
    };
    Some(format!("{TYPE_PREFIX}{short}"))
}

/// An event ready to send: its id, type, and the exact body bytes that are signed.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: String,
    pub event_type: String,
    pub body: bytes::Bytes,
}

/// The CloudEvent (structured mode, JSON) for `entry` of the log named `origin`, if its action
/// is delivered.
pub fn cloud_event(origin: &str, entry: &AuditEntry) -> Option<Outgoing> {
    let d = &entry.draft;
    let event_type = event_type(&d.action, &d.details)?;
    let id = format!("{origin}/{}", entry.seq);
    let time = DateTime::<Utc>::from_timestamp_millis(d.at_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut ev = serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": format!("/tollgate/{origin}"),
        "type": event_type,
        "time": time,
        "datacontenttype": "application/json",
        "tollgateseq": entry.seq,
        "data": entry,
    });
    // The subject: the promotion the entry is about, else its repository, else the image an
    // admission review named.
    if let Some(subject) = d
        .decision
        .clone()
        .or_else(|| d.repository.as_ref().map(ToString::to_string))
        .or_else(|| {
            d.details
                .get("image")
                .and_then(|i| i.as_str())
                .map(str::to_string)
        })
    {
        ev["subject"] = subject.into();
    }
    if let Some(p) = &d.decision {
        ev["tollgatepromotion"] = p.clone().into();
    }
    let body = serde_json::to_vec(&ev).ok()?;
    Some(Outgoing {
        id,
        event_type,
        body: body.into(),
    })
}

fn hmac_hex(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    hex::encode(ctx.sign().as_ref())
}

/// The [`SIGNATURE_HEADER`] value for `body` sent at `timestamp` (Unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hmac_hex(secret, timestamp, body))
}

/// What a receiver does: checks a [`SIGNATURE_HEADER`] value against the body it got, and
/// refuses a timestamp further than `tolerance` from `now` (a replay).
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), &'static str> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t.ok_or("no timestamp")?;
    if now.abs_diff(t) > tolerance.as_secs() {
        return Err("timestamp outside the tolerance (replayed?)");
    }
    let want = hmac_hex(secret, t, body);
    let ok = sigs.iter().any(|s| {
        use subtle::ConstantTimeEq as _;
        s.len() == want.len() && bool::from(s.as_bytes().ct_eq(want.as_bytes()))
    });
    if ok {
        Ok(())
    } else {
        Err("signature mismatch")
    }
}

/// The deployment outcomes a `promotion-outcome` entry may carry (a bounded label set).
const OUTCOMES: &[&str] = &["succeeded", "failed", "rolled-back"];

/// The sink the audit writer feeds: dashboard counters, then one event per mapped entry,
/// offered to every webhook that wants its type.
#[derive(Debug)]
pub struct Events {
    origin: String,
    environments: Vec<String>,
    metrics: Arc<Metrics>,
    hooks: delivery::Hooks,
}

impl Events {
    /// Starts one delivery task per configured webhook.
    pub fn start(config: &crate::config::Config, metrics: Arc<Metrics>) -> Arc<Events> {
        let hooks = delivery::Hooks::start(&config.webhooks, Arc::clone(&metrics));
        Arc::new(Events {
            origin: config.audit.origin.clone(),
            environments: config.environments.iter().map(|e| e.name.clone()).collect(),
            metrics,
            hooks,
        })
    }

    /// On a graceful stop: delivers what is queued, for at most `within`.
    pub async fn flush(&self, within: Duration) {
        self.hooks.flush(within).await;
    }

    fn count_outcome(&self, entry: &AuditEntry) {
        let details = &entry.draft.details;
        let outcome = details.get("outcome").and_then(|v| v.as_str());
        let env = details.get("environment").and_then(|v| v.as_str());
        match (
            outcome.and_then(|o| OUTCOMES.iter().find(|k| **k == o)),
            env.filter(|e| self.environments.iter().any(|x| x == e)),
        ) {
            (Some(outcome), Some(env)) => self.metrics.deployment_outcome(env, outcome),
            _ => tracing::warn!(
                seq = entry.seq,
                ?outcome,
                ?env,
                "promotion-outcome entry without a known outcome and environment; not counted"
            ),
        }
    }
}

impl crate::audit::AuditSink for Events {
    fn appended(&self, entries: &[AuditEntry]) {
        for e in entries {
            if e.draft.action == "promotion-outcome" {
                self.count_outcome(e);
            }
            if self.hooks.is_empty() {
                continue;
            }
            if let Some(ev) = cloud_event(&self.origin, e) {
                self.hooks.offer(Arc::new(ev));
            }
        }
    }
}

/// `tollgate_promoted_version{environment,repository,version,digest} 1`: one series per
/// environment and repository, read from the store's current records at each scrape.
#[derive(Default)]
pub struct PromotedVersions {
    source: OnceLock<(Arc<dyn Store>, Vec<String>)>,
}

impl std::fmt::Debug for PromotedVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromotedVersions")
            .field("environments", &self.source.get().map(|(_, e)| e))
            .finish()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PromotedLabels {
    pub environment: String,
    pub repository: String,
    /// The tag it was promoted under (empty for a file).
    pub version: String,
    pub digest: String,
}

impl PromotedVersions {
    /// Reads what `environments` run from `store` from now on.
    pub fn set_source(&self, store: Arc<dyn Store>, environments: Vec<String>) {
        let _ = self.source.set((store, environments));
    }

    /// The series as they are now.
    pub fn series(&self) -> Vec<PromotedLabels> {
        let Some((store, envs)) = self.source.get() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for env in envs {
            match store.current_all(env) {
                Ok(list) => out.extend(list.into_iter().map(|c| PromotedLabels {
                    environment: env.clone(),
                    repository: c.repository.to_string(),
                    version: c.tag.map(|t| t.to_string()).unwrap_or_default(),
                    digest: c.digest.to_string(),
                })),
                Err(e) => {
                    tracing::warn!(environment = %env, error = %e, "promoted versions not read")
                }
            }
        }
        out
    }
}

impl Collector for PromotedVersions {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let series = self.series();
        if series.is_empty() {
            return Ok(());
        }
        let family = Family::<PromotedLabels, Gauge>::default();
        for s in series {
            family.get_or_create(&s).set(1);
        }
        let metric = encoder.encode_descriptor(
            "promoted_version",
            "What each environment runs: 1 per environment and repository, labelled with the version and digest last promoted there",
            None,
            family.metric_type(),
        )?;
        family.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_store::AuditDraft;

    fn entry(seq: u64, action: &str, details: serde_json::Value) -> AuditEntry {
        AuditEntry {
            seq,
            draft: AuditDraft {
                at_ms: 1_780_000_000_123,
                actor: "releaser".into(),
                action: action.into(),
                repository: Some("staging/shop".parse().unwrap()),
                digest: Some(
                    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        .parse()
                        .unwrap(),
                ),
                decision: Some("prm-000007".into()),
                policy_digest: None,
                details,
            },
        }
    }

    #[test]
    fn actions_map_to_event_types() {
        let none = serde_json::Value::Null;
        for (action, details, want) in [
            (
                "promotion-requested",
                none.clone(),
                Some("promotion.requested"),
            ),
            (
                "promotion-decided",
                serde_json::json!({"verdict": "allow"}),
                Some("promotion.decided"),
            ),
            (
                "promotion-decided",
                serde_json::json!({"verdict": "pending"}),
                Some("promotion.decided"),
            ),
            (
                "promotion-decided",
                serde_json::json!({"verdict": "deny"}),
                Some("promotion.denied"),
            ),
            (
                "promotion-completed",
                none.clone(),
                Some("promotion.completed"),
            ),
            ("promotion-failed", none.clone(), Some("promotion.failed")),
            (
                "promotion-approved",
                none.clone(),
                Some("promotion.approved"),
            ),
            (
                "promotion-rejected",
                none.clone(),
                Some("promotion.rejected"),
            ),
            ("breakglass-used", none.clone(), Some("breakglass.used")),
            ("postmortem-closed", none.clone(), Some("postmortem.closed")),
            (
                "promotion-outcome",
                serde_json::json!({"outcome": "rolled-back"}),
                Some("deployment.outcome"),
            ),
            ("promotion-note", none.clone(), Some("promotion.note")),
            (
                "verification-recorded",
                none.clone(),
                Some("verification.recorded"),
            ),
            (
                "checklist-confirmed",
                none.clone(),
                Some("checklist.confirmed"),
            ),
            (
                "promotion-scheduled",
                none.clone(),
                Some("promotion.scheduled"),
            ),
            ("pull-denied", none.clone(), Some("pull.denied")),
            ("admission-denied", none.clone(), Some("admission.denied")),
            ("file-push-denied", none.clone(), Some("push.denied")),
            ("file-delete-denied", none.clone(), Some("delete.denied")),
            // the log only
            ("manifest-push", none.clone(), None),
            ("token-create", none.clone(), None),
            ("admission-allowed", none.clone(), None),
        ] {
            assert_eq!(
                event_type(action, &details),
                want.map(|w| format!("dev.tollgate.{w}")),
                "{action} {details}"
            );
        }
        // Actions are unique in the table, and event types are too.
        let mut actions: Vec<_> = MAPPINGS.iter().map(|m| m.action).collect();
        actions.sort_unstable();
        actions.dedup();
        assert_eq!(actions.len(), MAPPINGS.len());
        let mut types: Vec<_> = event_types().collect();
        let n = types.len();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), n);
    }

    #[test]
    fn an_entry_becomes_a_structured_cloud_event() {
        let e = entry(
            41,
            "promotion-decided",
            serde_json::json!({"verdict": "deny", "reasons": ["signature-missing"]}),
        );
        let ev = cloud_event("tollgate.example/audit", &e).unwrap();
        assert_eq!(ev.id, "tollgate.example/audit/41");
        assert_eq!(ev.event_type, "dev.tollgate.promotion.denied");
        let v: serde_json::Value = serde_json::from_slice(&ev.body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], "tollgate.example/audit/41");
        assert_eq!(v["source"], "/tollgate/tollgate.example/audit");
        assert_eq!(v["type"], "dev.tollgate.promotion.denied");
        assert_eq!(v["subject"], "prm-000007");
        assert_eq!(v["time"], "2026-05-28T20:26:40.123Z");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["tollgateseq"], 41);
        assert_eq!(v["tollgatepromotion"], "prm-000007");
        assert_eq!(v["data"]["seq"], 41);
        assert_eq!(v["data"]["actor"], "releaser");
        assert_eq!(v["data"]["action"], "promotion-decided");
        assert_eq!(v["data"]["repository"], "staging/shop");
        assert_eq!(v["data"]["decision"], "prm-000007");
        assert_eq!(v["data"]["details"]["reasons"][0], "signature-missing");
        // Extension attribute names are lower-case alphanumerics (CloudEvents 1.0 §3.1.1).
        for k in v.as_object().unwrap().keys() {
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{k}"
            );
        }
        // The same entry is the same event, byte for byte (ids stable across attempts).
        assert_eq!(
            cloud_event("tollgate.example/audit", &e).unwrap().body,
            ev.body
        );
        // No promotion: the repository is the subject.
        let mut pull = entry(
            42,
            "pull-denied",
            serde_json::json!({"reason": "not-promoted"}),
        );
        pull.draft.decision = None;
        let v: serde_json::Value =
            serde_json::from_slice(&cloud_event("o", &pull).unwrap().body).unwrap();
        assert_eq!(v["subject"], "staging/shop");
        assert!(v.get("tollgatepromotion").is_none());
        assert!(cloud_event("o", &entry(43, "manifest-push", serde_json::Value::Null)).is_none());
        // An admission refusal names an image, not a repository of ours.
        let mut adm = entry(
            44,
            "admission-denied",
            serde_json::json!({"image": "ghcr.io/x/y:1"}),
        );
        (adm.draft.decision, adm.draft.repository) = (None, None);
        let v: serde_json::Value =
            serde_json::from_slice(&cloud_event("o", &adm).unwrap().body).unwrap();
        assert_eq!(v["subject"], "ghcr.io/x/y:1");
    }

    #[test]
    fn outcome_entries_feed_the_deployment_outcome_counter() {
        use crate::audit::AuditSink as _;
        let config =
            crate::config::Config::from_toml("", "t.toml", &crate::config::Overrides::default())
                .unwrap();
        let metrics = Arc::new(Metrics::new());
        let events = Events::start(&config, Arc::clone(&metrics));
        let outcome = |o: &str, env: &str| {
            entry(
                7,
                "promotion-outcome",
                serde_json::json!({"outcome": o, "environment": env, "owner": "ana"}),
            )
        };
        events.appended(&[
            outcome("succeeded", "prod"),
            outcome("rolled-back", "prod"),
            outcome("rolled-back", "prod"),
            outcome("failed", "staging"),
            // not counted: an unknown outcome or environment (label values stay bounded)
            outcome("exploded", "prod"),
            outcome("succeeded", "moon"),
            entry(8, "promotion-completed", serde_json::Value::Null),
        ]);
        let text = metrics.encode();
        for (series, n) in [
            ("{environment=\"prod\",outcome=\"succeeded\"} 1", true),
            ("{environment=\"prod\",outcome=\"rolled-back\"} 2", true),
            ("{environment=\"staging\",outcome=\"failed\"} 1", true),
            ("outcome=\"exploded\"", false),
            ("environment=\"moon\"", false),
        ] {
            assert_eq!(
                text.lines()
                    .any(|l| l.starts_with("tollgate_deployment_outcomes_total")
                        && l.contains(series)),
                n,
                "{series}\n{text}"
            );
        }
    }

    #[test]
    fn signatures_verify_and_refuse_tampering_and_replays() {
        let secret = b"0123456789abcdef0123";
        let body = br#"{"specversion":"1.0"}"#;
        let header = signature(secret, 1_780_000_000, body);
        // A known answer, computed independently:
        // printf '1780000000.{"specversion":"1.0"}' | openssl dgst -sha256 -hmac 0123456789abcdef0123
        assert_eq!(
            header,
            "t=1780000000,v1=273ebb62aaf78758fc369dd8e4467ae93cddc42e9c030bfdaa762621faa547e1"
        );
        let tol = Duration::from_secs(300);
        assert_eq!(
            verify_signature(secret, &header, body, 1_780_000_100, tol),
            Ok(())
        );
        assert_eq!(
            verify_signature(
                secret,
                &header,
                br#"{"specversion":"1.1"}"#,
                1_780_000_100,
                tol
            ),
            Err("signature mismatch")
        );
        assert_eq!(
            verify_signature(b"another-secret-0123456", &header, body, 1_780_000_100, tol),
            Err("signature mismatch")
        );
        assert_eq!(
            verify_signature(secret, &header, body, 1_780_000_301, tol),
            Err("timestamp outside the tolerance (replayed?)")
        );
        // Moving the timestamp forward breaks the signature: it is signed too.
        let forged = header.replace("t=1780000000", "t=1780000200");
        assert_eq!(
            verify_signature(secret, &forged, body, 1_780_000_200, tol),
            Err("signature mismatch")
        );
        assert_eq!(
            verify_signature(secret, "v1=00", body, 0, tol),
            Err("no timestamp")
        );
    }
}
