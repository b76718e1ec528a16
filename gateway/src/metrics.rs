//! Prometheus metrics, served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabels {
    /// `in` (pushed to Tollgate) or `out` (served by it).
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PromotionLabels {
    pub environment: String,
    /// `pending`, `denied`, `copying`, `promoted`, `failed`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    pub environment: String,
    /// Reviews: `allowed`, `denied`, `warned`, `error`; mutations: `patched`, `unchanged`,
    /// `error`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionReasonLabels {
    pub environment: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub webhook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookOutcomeLabels {
    pub webhook: String,
    /// Per event: `delivered`, `dropped` (queue full), `gave-up` (attempts exhausted); per
    /// attempt: `failed`.
    pub outcome: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub bytes: Family<DirectionLabels, Counter>,
    pub upstream_errors: Family<KindLabels, Counter>,
    /// Bytes whose hash did not match the digest they were sent or asked for, by source.
    pub digest_mismatches: Family<KindLabels, Counter>,
    pub denials: Family<KindLabels, Counter>,
    pub promotions: Family<PromotionLabels, Counter>,
    pub admission_reviews: Family<AdmissionLabels, Counter>,
    pub admission_mutations: Family<AdmissionLabels, Counter>,
    pub admission_refused_images: Family<AdmissionReasonLabels, Counter>,
    /// Pulls from environment repositories, by environment and outcome (allowed, denied).
    pub pulls: Family<PromotionLabels, Counter>,
    /// Webhook deliveries by webhook and outcome (see [`WebhookOutcomeLabels`]).
    pub webhook_deliveries: Family<WebhookOutcomeLabels, Counter>,
    /// Events waiting for delivery, per webhook.
    pub webhook_queue_depth: Family<WebhookLabels, Gauge>,
    /// When each webhook last took an event (Unix seconds).
    pub webhook_last_success: Family<WebhookLabels, Gauge>,
    /// Deployment outcomes marked on promotions (`succeeded`, `failed`, `rolled-back`), by
    /// environment.
    pub deployment_outcomes: Family<PromotionLabels, Counter>,
    /// What each environment runs, computed at scrape time (`crate::events::promoted_versions`).
    pub promoted: std::sync::Arc<crate::events::PromotedVersions>,
    /// Tags recorded in upstream mode still to mirror there, after the last reconciler pass
    /// (counted up to one pass's batch).
    pub upstream_tag_mirrors_pending: Gauge,
    /// Tags the reconciler mirrored upstream after a failed or interrupted push.
    pub upstream_tag_remirrors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tollgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route class, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 100 µs to ~13 s: manifest hits sit at the low end, blob streams at the high end.
            Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 13.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route class",
            latency.clone(),
        );
        let bytes = Family::<DirectionLabels, Counter>::default();
        registry.register(
            "blob_bytes",
            "Blob bytes streamed through the gateway",
            bytes.clone(),
        );
        let upstream_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Failed upstream calls by kind",
            upstream_errors.clone(),
        );
        let digest_mismatches = Family::<KindLabels, Counter>::default();
        registry.register(
            "digest_mismatches",
            "Content whose digest did not match, by source",
            digest_mismatches.clone(),
        );
        let denials = Family::<KindLabels, Counter>::default();
        registry.register(
            "denials",
            "Requests refused by rule, by reason code",
            denials.clone(),
        );
        let promotions = Family::<PromotionLabels, Counter>::default();
        registry.register(
            "promotions",
            "Promotion decisions and copies, by target environment and outcome",
            promotions.clone(),
        );
        let pulls = Family::<PromotionLabels, Counter>::default();
        registry.register(
            "pull_decisions",
            "Manifest and blob pulls from environment repositories, by environment and outcome",
            pulls.clone(),
        );
        let admission_reviews = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "admission_reviews",
            "Admission reviews answered, by environment and outcome",
            admission_reviews.clone(),
        );
        let admission_mutations = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "admission_mutations",
            "Mutating admission reviews answered, by environment and outcome",
            admission_mutations.clone(),
        );
        let admission_refused_images = Family::<AdmissionReasonLabels, Counter>::default();
        registry.register(
            "admission_refused_images",
            "Images refused (or warned about) at admission, by environment and reason code",
            admission_refused_images.clone(),
        );
        let webhook_deliveries = Family::<WebhookOutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Deployment-event webhook deliveries: events delivered, dropped (queue full) or given up, and failed attempts",
            webhook_deliveries.clone(),
        );
        let webhook_queue_depth = Family::<WebhookLabels, Gauge>::default();
        registry.register(
            "webhook_queue_depth",
            "Deployment events waiting for delivery, per webhook",
            webhook_queue_depth.clone(),
        );
        let webhook_last_success = Family::<WebhookLabels, Gauge>::default();
        registry.register(
            "webhook_last_success_timestamp_seconds",
            "When each webhook last accepted an event (Unix time)",
            webhook_last_success.clone(),
        );
        let deployment_outcomes = Family::<PromotionLabels, Counter>::default();
        registry.register(
            "deployment_outcomes",
            "Deployment outcomes marked on promotions, by environment and outcome",
            deployment_outcomes.clone(),
        );
        let upstream_tag_mirrors_pending = Gauge::default();
        registry.register(
            "upstream_tag_mirrors_pending",
            "Tags recorded in upstream mode and not yet mirrored there, after the last reconciler pass",
            upstream_tag_mirrors_pending.clone(),
        );
        let upstream_tag_remirrors = Counter::default();
        registry.register(
            "upstream_tag_remirrors",
            "Tags mirrored upstream by the reconciler after a failed or interrupted push",
            upstream_tag_remirrors.clone(),
        );
        let promoted = std::sync::Arc::new(crate::events::PromotedVersions::default());
        registry.register_collector(Box::new(std::sync::Arc::clone(&promoted)));
        Metrics {
            upstream_tag_mirrors_pending,
            upstream_tag_remirrors,
            webhook_deliveries,
            webhook_queue_depth,
            webhook_last_success,
            deployment_outcomes,
            promoted,
            pulls,
            admission_reviews,
            admission_mutations,
            admission_refused_images,
            promotions,
            registry,
            requests,
            latency,
            bytes,
            upstream_errors,
            digest_mismatches,
            denials,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn upstream_error(&self, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&KindLabels { kind })
            .inc();
    }

    pub fn digest_mismatch(&self, kind: &'static str) {
        self.digest_mismatches
            .get_or_create(&KindLabels { kind })
            .inc();
    }

    pub fn bytes(&self, direction: &'static str, n: u64) {
        self.bytes
            .get_or_create(&DirectionLabels { direction })
            .inc_by(n);
    }

    pub fn promotion(&self, environment: &str, outcome: &'static str) {
        self.promotions
            .get_or_create(&PromotionLabels {
                environment: environment.to_string(),
                outcome,
            })
            .inc();
    }

    pub fn webhook(&self, webhook: &str, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&WebhookOutcomeLabels {
                webhook: webhook.to_string(),
                outcome,
            })
            .inc();
    }

    pub fn deployment_outcome(&self, environment: &str, outcome: &'static str) {
        self.deployment_outcomes
            .get_or_create(&PromotionLabels {
                environment: environment.to_string(),
                outcome,
            })
            .inc();
    }

    pub fn pull_decision(&self, environment: &str, outcome: &'static str) {
        self.pulls
            .get_or_create(&PromotionLabels {
                environment: environment.to_string(),
                outcome,
            })
            .inc();
    }

    pub fn admission_review(&self, environment: &str, outcome: &'static str) {
        self.admission_reviews
            .get_or_create(&AdmissionLabels {
                environment: environment.to_string(),
                outcome,
            })
            .inc();
    }

    pub fn admission_mutation(&self, environment: &str, outcome: &'static str) {
        self.admission_mutations
            .get_or_create(&AdmissionLabels {
                environment: environment.to_string(),
                outcome,
            })
            .inc();
    }

    pub fn admission_refused_image(&self, environment: &str, reason: &'static str) {
        self.admission_refused_images
            .get_or_create(&AdmissionReasonLabels {
                environment: environment.to_string(),
                reason,
            })
            .inc();
    }
}
