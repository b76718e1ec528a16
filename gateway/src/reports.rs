//! Reports computed from the ledger itself — promotions, their decisions and the tokens —
//! never from numbers someone typed in: delivery metrics per environment, an access review,
//! and the traceability of every production change. The computations are plain functions of
//! records and times (unit-tested on a history worked out by hand); the handlers only gather
//! the records.
//!
//! Definitions (DORA's, made precise for promotions):
//! - *deployment*: a promotion into the environment that completed in the period;
//! - *deployment frequency*: deployments per day of the period;
//! - *lead time for changes*: completion − build time, the build time being the provenance's
//!   `finishedOn` (else `startedOn`), else the first push of the artifact;
//! - *change failure*: a deployment its owner marked `failed` or `rolled-back`
//!   (`POST /api/v1/promotions/{id}/outcome`); for one with no outcome, a deployment whose next
//!   change to the same repository of the environment, within the window, is a rollback or an
//!   emergency promotion (the fix). A `succeeded` outcome is never a failure. The rate is
//!   failures / deployments;
//! - *time to restore*: from a failed promotion, a rollback or a failed / rolled-back outcome
//!   to the next completed, non-rollback promotion into the same repository of the
//!   environment.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use tollgate_policies::RoleGrant;
use tollgate_store::{PromotionRecord, PromotionState, TokenRecord};

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: i64 = 86_400_000;

/// A promotion with the build time of what it moved, when known.
#[derive(Debug, Clone)]
pub struct Delivered<'a> {
    pub promotion: &'a PromotionRecord,
    /// Milliseconds since the epoch; `None` when neither provenance nor a push says.
    pub built_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryReport {
    pub environment: String,
    pub since_ms: i64,
    pub until_ms: i64,
    pub deployments: usize,
    pub deployments_per_day: f64,
    pub lead_time_hours_median: Option<f64>,
    pub lead_time_hours_p90: Option<f64>,
    pub change_failures: usize,
    pub change_failure_rate: Option<f64>,
    pub restores: usize,
    pub time_to_restore_hours_median: Option<f64>,
    /// Per repository of the environment: deployments and failures.
    pub repositories: BTreeMap<String, (usize, usize)>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    percentile(&mut v, 50)
}

/// Nearest-rank percentile.
fn percentile(v: &mut [f64], p: usize) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = (p * v.len()).div_ceil(100).max(1);
    Some(v[rank - 1])
}

fn completed_at(p: &PromotionRecord) -> Option<i64> {
    (p.state == PromotionState::Promoted).then_some(p.updated_at_ms)
}

/// Delivery metrics of `env` over `[since, until)`; `window_ms` bounds change failures.
pub fn delivery(
    env: &str,
    history: &[Delivered<'_>],
    since_ms: i64,
    until_ms: i64,
    window_ms: i64,
) -> DeliveryReport {
    let in_env: Vec<&Delivered<'_>> = history
        .iter()
        .filter(|d| d.promotion.target_environment == env)
        .collect();
    let deployments: Vec<&Delivered<'_>> = in_env
        .iter()
        .copied()
        .filter(|d| completed_at(d.promotion).is_some_and(|t| t >= since_ms && t < until_ms))
        .collect();
    let mut lead: Vec<f64> = deployments
        .iter()
        .filter_map(|d| {
            let done = completed_at(d.promotion)?;
            Some((done - d.built_at_ms?).max(0) as f64 / HOUR_MS)
        })
        .collect();
    // The environment's promotions by repository: every question below is about one
    // repository, so each looks only at its own (not at every promotion of the environment).
    let mut by_repo: BTreeMap<&str, Vec<&Delivered<'_>>> = BTreeMap::new();
    for d in &in_env {
        by_repo
            .entry(d.promotion.target_repository.as_str())
            .or_default()
            .push(d);
    }
    let same_repo = |p: &PromotionRecord| {
        by_repo
            .get(p.target_repository.as_str())
            .map_or(&[][..], Vec::as_slice)
    };
    // Change failures: a later rollback or emergency fix into the same repository, soon.
    let mut repositories: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = 0;
    for d in &deployments {
        let p = d.promotion;
        let done = completed_at(p).unwrap_or_default();
        // The next change to the same repository, if it came soon and was a fix.
        let next = same_repo(p)
            .iter()
            .map(|o| o.promotion)
            .filter(|q| {
                q.id != p.id
                    && q.target_repository == p.target_repository
                    && q.created_at_ms >= done
                    // A request withdrawn or refused changed nothing.
                    && !matches!(q.state, PromotionState::Cancelled | PromotionState::Denied)
            })
            .min_by_key(|q| (q.created_at_ms, q.id.clone()));
        // Said outright by the deployment's owner, else read from what came next.
        let failed = match &p.outcome {
            Some(o) => o.outcome.is_failure(),
            None => next.is_some_and(|q| {
                (q.rollback || q.emergency) && q.created_at_ms <= done + window_ms
            }),
        };
        let e = repositories
            .entry(p.target_repository.to_string())
            .or_default();
        e.0 += 1;
        if failed {
            failures += 1;
            e.1 += 1;
        }
    }
    // Time to restore: from each failure event to the next good completion.
    let mut restore: Vec<f64> = Vec::new();
    for d in &in_env {
        let p = d.promotion;
        let event = match (p.state, &p.outcome) {
            (PromotionState::Failed, _) => Some(p.updated_at_ms),
            // A deployment its owner marked failed or rolled back: from that moment.
            (PromotionState::Promoted, Some(o)) if o.outcome.is_failure() => Some(o.at_ms),
            (PromotionState::Promoted, _) if p.rollback => Some(p.updated_at_ms),
            _ => None,
        };
        let Some(at) = event.filter(|t| *t >= since_ms && *t < until_ms) else {
            continue;
        };
        let next_good = same_repo(p)
            .iter()
            .filter(|o| {
                o.promotion.target_repository == p.target_repository
                    && !o.promotion.rollback
                    && o.promotion.id != p.id
            })
            .filter_map(|o| completed_at(o.promotion))
            .filter(|t| *t > at)
            .min();
        if let Some(t) = next_good {
            restore.push((t - at) as f64 / HOUR_MS);
        }
    }
    let days = ((until_ms - since_ms) as f64 / DAY_MS as f64).max(f64::MIN_POSITIVE);
    let n = deployments.len();
    DeliveryReport {
        environment: env.to_string(),
        since_ms,
        until_ms,
        deployments: n,
        deployments_per_day: n as f64 / days,
        lead_time_hours_median: median(lead.clone()),
        lead_time_hours_p90: percentile(&mut lead, 90),
        change_failures: failures,
        change_failure_rate: (n > 0).then(|| failures as f64 / n as f64),
        restores: restore.len(),
        time_to_restore_hours_median: median(restore),
        repositories,
    }
}

/// One token in an access review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessEntry {
    pub token: String,
    pub revoked: bool,
    pub roles: Vec<String>,
    /// Environment → the grants that reach some repository of it.
    pub environments: BTreeMap<String, Vec<String>>,
    pub created_at_ms: i64,
    pub last_used_ms: Option<i64>,
    /// Active, and not used for the given number of days (or never, and older than that).
    pub unused: bool,
}

/// Whether a grant's repository pattern can match a repository under `prefix`.
fn reaches(grant: &RoleGrant, prefix: &str) -> bool {
    let pattern = grant.repositories.as_str();
    let literal = pattern.split(['*', '?']).next().unwrap_or_default();
    literal.starts_with(prefix) || prefix.starts_with(literal)
}

/// Every token with its roles per environment and its last use.
pub fn access_review(
    tokens: &[TokenRecord],
    environments: &[(String, String)],
    last_used: impl Fn(&TokenRecord) -> Option<i64>,
    now_ms: i64,
    unused_days: i64,
) -> Vec<AccessEntry> {
    let cutoff = now_ms - unused_days * DAY_MS;
    tokens
        .iter()
        .map(|t| {
            let used = last_used(t);
            let environments = environments
                .iter()
                .map(|(name, prefix)| {
                    let grants = t
                        .roles
                        .iter()
                        .filter(|g| reaches(g, prefix))
                        .map(ToString::to_string)
                        .collect();
                    (name.clone(), grants)
                })
                .collect();
            AccessEntry {
                token: t.name.clone(),
                revoked: t.revoked,
                roles: t.roles.iter().map(ToString::to_string).collect(),
                environments,
                created_at_ms: t.created_at_ms,
                last_used_ms: used,
                unused: !t.revoked && used.unwrap_or(t.created_at_ms) < cutoff,
            }
        })
        .collect()
}

/// One promotion into the environment, with what an auditor asks of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceEntry {
    pub promotion: String,
    pub state: String,
    pub artifact: String,
    pub repository: String,
    pub tag: Option<String>,
    pub requested_by: String,
    pub at_ms: i64,
    pub change_request: Option<String>,
    pub approvals: Vec<String>,
    pub policy_digest: Option<String>,
    pub emergency: bool,
    pub postmortem_open: bool,
    /// `breakglass`, `change-request-missing`, `postmortem-open`.
    pub exceptions: Vec<&'static str>,
}

/// Every promotion into `env` updated in `[since, until)`, newest first, with its exceptions.
pub fn traceability(
    env: &str,
    promotions: &[PromotionRecord],
    since_ms: i64,
    until_ms: i64,
) -> Vec<TraceEntry> {
    let mut out: Vec<TraceEntry> = promotions
        .iter()
        .filter(|p| {
            p.target_environment == env && p.updated_at_ms >= since_ms && p.updated_at_ms < until_ms
        })
        .map(|p| {
            let open = p
                .postmortem
                .as_ref()
                .is_some_and(|m| m.closed_at_ms.is_none());
            let mut exceptions = Vec::new();
            if p.emergency && p.postmortem.is_some() {
                exceptions.push("breakglass");
            }
            if p.state == PromotionState::Promoted
                && p.change_request.as_deref().is_none_or(str::is_empty)
            {
                exceptions.push("change-request-missing");
            }
            if open {
                exceptions.push("postmortem-open");
            }
            TraceEntry {
                promotion: p.id.clone(),
                state: serde_json::to_value(p.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                artifact: p.artifact.to_string(),
                repository: p.target_repository.to_string(),
                tag: p.tag.as_ref().map(ToString::to_string),
                requested_by: p.requested_by.clone(),
                at_ms: p.updated_at_ms,
                change_request: p.change_request.clone(),
                approvals: p
                    .approvals
                    .iter()
                    .map(|a| format!("{}:{}", a.group, a.by))
                    .collect(),
                policy_digest: p.decision["policy_digest"].as_str().map(str::to_string),
                emergency: p.emergency,
                postmortem_open: open,
                exceptions,
            }
        })
        .collect();
    out.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(b.promotion.cmp(&a.promotion)));
    out
}

/// Rows as CSV (RFC 4180 quoting), with `columns` as the header.
pub fn csv(columns: &[&str], rows: &[Vec<String>]) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let mut out = columns.join(",");
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// A JSON value as a CSV cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(";"),
        other => other.to_string(),
    }
}

/// `json!` of a report row, for callers that render either format.
pub fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tollgate_attest::Digest;
    use tollgate_store::{ApprovalRecord, Postmortem};

    const H: i64 = 3_600_000;

    fn p(id: &str, repo: &str, created: i64, done: i64, state: PromotionState) -> PromotionRecord {
        PromotionRecord {
            id: id.into(),
            revision: 3,
            artifact: Digest::sha256_of(id.as_bytes()),
            source_repository: format!("staging/{repo}").parse().unwrap(),
            target_environment: "prod".into(),
            target_repository: format!("prod/{repo}").parse().unwrap(),
            tag: Some("1.0.0".parse().unwrap()),
            path: None,
            requested_by: "rel".into(),
            change_request: Some("CHG-1".into()),
            justification: None,
            emergency: false,
            rollback: false,
            bundle: None,
            state,
            decision: json!({ "policy_digest": "sha256:aa" }),
            approvals: vec![],
            postmortem: None,
            error: None,
            created_at_ms: created,
            updated_at_ms: done,
            owner: None,
            checklist: Vec::new(),
            notes: Vec::new(),
            outcome: None,
            scheduled_for_ms: None,
            cancelled_by: None,
        }
    }

    /// Worked by hand: a 10-day period with four deployments of `app` and one of `web`.
    ///
    /// app: a (built t0, done t0+2h), b (built 24h, done 30h), c (rollback at 34h, done 35h),
    /// d (built 40h, done 41h), plus e (failed at 60h), f (done 63h, built 62h);
    /// web: w (built 100h, done 104h).
    /// Deployments in period: a b c d f w = 6 (c counts: it completed).
    /// Lead times (h): a 2, b 6, c —(unknown build), d 1, f 1, w 4 → sorted 1 1 2 4 6:
    /// median 2, p90 6.
    /// Change failures (window 12h): b (c, a rollback, created 34h ≤ 30+12) → 1; a? next
    /// rollback/emergency after 2h within 12h: none → 0. d: none. Rate 1/6.
    /// Restores: c (rollback done 35h) → next good non-rollback completion d at 41h: 6h;
    /// e (failed at 60h) → f at 63h: 3h. Median of [6, 3] (nearest rank) = 3.
    #[test]
    fn delivery_matches_the_hand_worked_history() {
        let a = p("a", "app", 0, 2 * H, PromotionState::Promoted);
        let b = p("b", "app", 29 * H, 30 * H, PromotionState::Promoted);
        let mut c = p("c", "app", 34 * H, 35 * H, PromotionState::Promoted);
        c.rollback = true;
        let d = p("d", "app", 40 * H, 41 * H, PromotionState::Promoted);
        let e = p("e", "app", 59 * H, 60 * H, PromotionState::Failed);
        let f = p("f", "app", 62 * H, 63 * H, PromotionState::Promoted);
        let w = p("w", "web", 103 * H, 104 * H, PromotionState::Promoted);
        let mut staging = p("s", "app", 0, 5 * H, PromotionState::Promoted);
        staging.target_environment = "staging".into();
        let history = vec![
            Delivered {
                promotion: &a,
                built_at_ms: Some(0),
            },
            Delivered {
                promotion: &b,
                built_at_ms: Some(24 * H),
            },
            Delivered {
                promotion: &c,
                built_at_ms: None,
            },
            Delivered {
                promotion: &d,
                built_at_ms: Some(40 * H),
            },
            Delivered {
                promotion: &e,
                built_at_ms: Some(58 * H),
            },
            Delivered {
                promotion: &f,
                built_at_ms: Some(62 * H),
            },
            Delivered {
                promotion: &w,
                built_at_ms: Some(100 * H),
            },
            Delivered {
                promotion: &staging,
                built_at_ms: Some(0),
            },
        ];
        let r = delivery("prod", &history, 0, 240 * H, 12 * H);
        assert_eq!(r.deployments, 6);
        assert!((r.deployments_per_day - 0.6).abs() < 1e-9);
        assert_eq!(r.lead_time_hours_median, Some(2.0));
        assert_eq!(r.lead_time_hours_p90, Some(6.0));
        assert_eq!(r.change_failures, 1);
        assert_eq!(r.change_failure_rate, Some(1.0 / 6.0));
        assert_eq!(r.restores, 2);
        assert_eq!(r.time_to_restore_hours_median, Some(3.0));
        assert_eq!(r.repositories["prod/app"], (5, 1));
        assert_eq!(r.repositories["prod/web"], (1, 0));
        // a period that holds only the web deployment
        let r = delivery("prod", &history, 100 * H, 110 * H, 12 * H);
        assert_eq!(r.deployments, 1);
        assert_eq!(r.change_failure_rate, Some(0.0));
        assert_eq!(r.lead_time_hours_median, Some(4.0));
        let empty = delivery("qa", &history, 0, 240 * H, 12 * H);
        assert_eq!((empty.deployments, empty.change_failure_rate), (0, None));
    }

    /// Outcomes said outright win over inference: a succeeded `b` followed by a rollback is
    /// no failure; a failed `d` with nothing after it is one, and restores when `f` lands.
    #[test]
    fn outcomes_decide_change_failures_and_restores() {
        use tollgate_store::{Outcome, OutcomeRecord};
        let said = |o: Outcome, at: i64| {
            Some(OutcomeRecord {
                outcome: o,
                by: "olga".into(),
                comment: None,
                at_ms: at,
            })
        };
        let mut b = p("b", "app", 29 * H, 30 * H, PromotionState::Promoted);
        b.outcome = said(Outcome::Succeeded, 31 * H);
        let mut c = p("c", "app", 34 * H, 35 * H, PromotionState::Promoted);
        c.rollback = true;
        let mut d = p("d", "app", 40 * H, 41 * H, PromotionState::Promoted);
        d.outcome = said(Outcome::RolledBack, 43 * H);
        let f = p("f", "app", 50 * H, 52 * H, PromotionState::Promoted);
        // A rollback asked for right after f, then cancelled: it changed nothing, so f is no
        // failure.
        let mut g = p("g", "app", 53 * H, 53 * H, PromotionState::Cancelled);
        g.rollback = true;
        let history: Vec<Delivered<'_>> = [&b, &c, &d, &f, &g]
            .into_iter()
            .map(|promotion| Delivered {
                promotion,
                built_at_ms: None,
            })
            .collect();
        let r = delivery("prod", &history, 0, 240 * H, 12 * H);
        assert_eq!(r.deployments, 4);
        assert_eq!(r.change_failures, 1, "only d, which its owner marked");
        assert_eq!(r.repositories["prod/app"], (4, 1));
        // Restores: c (rollback done 35h) → d at 41h: 6h; d (rolled back at 43h) → f at 52h: 9h.
        assert_eq!(r.restores, 2);
        assert_eq!(r.time_to_restore_hours_median, Some(6.0));
    }

    #[test]
    fn access_review_per_environment_and_unused() {
        let t = |name: &str, roles: &[&str], used: Option<i64>, revoked: bool| TokenRecord {
            name: name.into(),
            hash: String::new(),
            roles: roles.iter().map(|r| r.parse().unwrap()).collect(),
            created_at_ms: 0,
            revoked,
            last_used_ms: used,
        };
        let tokens = vec![
            t("ci", &["pusher:dev/*"], Some(100 * DAY_MS), false),
            t(
                "rel",
                &["promoter", "reader:prod/app"],
                Some(10 * DAY_MS),
                false,
            ),
            t("old", &["approver(security):prod/*"], None, false),
            t("gone", &["admin"], None, true),
        ];
        let envs = vec![
            ("dev".to_string(), "dev/".to_string()),
            ("prod".to_string(), "prod/".to_string()),
        ];
        let r = access_review(&tokens, &envs, |t| t.last_used_ms, 101 * DAY_MS, 30);
        assert_eq!(r[0].environments["dev"], ["pusher:dev/*"]);
        assert!(r[0].environments["prod"].is_empty());
        assert!(!r[0].unused);
        assert_eq!(r[1].environments["prod"], ["promoter:*", "reader:prod/app"]);
        assert!(r[1].unused, "last used 91 days ago");
        assert!(r[2].unused, "never used, created 101 days ago");
        assert!(!r[3].unused, "revoked tokens need no review");
    }

    #[test]
    fn traceability_lists_exceptions() {
        let ok = {
            let mut x = p("p1", "app", 0, 10, PromotionState::Promoted);
            x.approvals.push(ApprovalRecord {
                by: "sec".into(),
                group: "security".into(),
                comment: None,
                at_ms: 5,
            });
            x
        };
        let mut glass = p("p2", "app", 0, 20, PromotionState::Promoted);
        glass.emergency = true;
        glass.change_request = None;
        glass.postmortem = Some(Postmortem {
            opened_at_ms: 20,
            link: None,
            closed_by: None,
            closed_at_ms: None,
        });
        let r = traceability("prod", &[ok, glass], 0, 100);
        assert_eq!(r[0].promotion, "p2");
        assert_eq!(
            r[0].exceptions,
            ["breakglass", "change-request-missing", "postmortem-open"]
        );
        assert_eq!(r[1].approvals, ["security:sec"]);
        assert!(r[1].exceptions.is_empty());
        assert_eq!(r[1].policy_digest.as_deref(), Some("sha256:aa"));
        assert_eq!(
            csv(&["a", "b"], &[vec!["x,y".into(), "q\"".into()]]),
            "a,b\r\n\"x,y\",\"q\"\"\"\r\n"
        );
    }
}

/// `tollgate report …`: the reports from a running gateway, printed as it answers them.
pub mod cli {
    use std::process::ExitCode;

    use crate::client::{Gateway, GatewayArgs, query};

    #[derive(Debug, Clone, Copy, clap::ValueEnum)]
    pub enum Kind {
        /// Deployment frequency, lead time, change-failure rate, time to restore
        Delivery,
        /// Every token, its roles per environment, last use, unused tokens
        AccessReview,
        /// Every promotion into the environment with change request, approvals, policy
        Traceability,
    }

    #[derive(Debug, clap::Args)]
    pub struct ReportArgs {
        pub kind: Kind,
        /// Environment [default: prod]
        #[arg(long)]
        pub environment: Option<String>,
        /// Start of the period (RFC 3339) [default: 30 days before --until]
        #[arg(long)]
        pub since: Option<String>,
        /// End of the period (RFC 3339) [default: now]
        #[arg(long)]
        pub until: Option<String>,
        /// Delivery: how soon after a deployment a rollback or emergency fix counts as its failure
        #[arg(long)]
        pub window_hours: Option<i64>,
        /// Access review: tokens unused this long are flagged
        #[arg(long)]
        pub unused_days: Option<i64>,
        /// json or csv
        #[arg(long, default_value = "json")]
        pub format: String,
        #[command(flatten)]
        pub gateway: GatewayArgs,
    }

    pub fn run(a: &ReportArgs) -> ExitCode {
        let path = match a.kind {
            Kind::Delivery => "delivery",
            Kind::AccessReview => "access-review",
            Kind::Traceability => "traceability",
        };
        let window = a.window_hours.map(|w| w.to_string());
        let unused = a.unused_days.map(|d| d.to_string());
        let q = query(&[
            ("environment", a.environment.as_deref()),
            ("since", a.since.as_deref()),
            ("until", a.until.as_deref()),
            ("window_hours", window.as_deref()),
            ("unused_days", unused.as_deref()),
            ("format", Some(a.format.as_str())),
        ]);
        let gw = Gateway::from_args(&a.gateway);
        let answer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                rt.block_on(gw.send(
                    http::Method::GET,
                    &format!("/api/v1/reports/{path}{q}"),
                    "application/json, text/csv",
                    None,
                ))
            });
        match answer {
            Ok(a) if a.status.is_success() => {
                print!("{}", String::from_utf8_lossy(&a.body));
                if !a.body.ends_with(b"\n") {
                    println!();
                }
                ExitCode::SUCCESS
            }
            Ok(a) => {
                eprintln!(
                    "tollgate report: {}",
                    crate::client::ApiFailure::from_answer(a.status, &a.body)
                );
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("tollgate report: {e:#}");
                ExitCode::from(2)
            }
        }
    }
}
