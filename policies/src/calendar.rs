//! The release calendar: an environment's weekly deployment windows and its change freezes,
//! expanded into the instants they cover in `[from, to)`.
//!
//! Pure like the rest of the crate: the caller passes the times. Windows are wall-clock times
//! in the environment's IANA zone, so every occurrence is computed from its local date and
//! converted to UTC on its own — a 09:00–17:00 window is 08:00–16:00 UTC in Berlin before the
//! spring change and 07:00–15:00 after it. On the autumn change a repeated local time counts
//! as open both times (the occurrence runs from its first start to its last end); a local time
//! the spring change skips never happens, so an occurrence starting or ending in the gap starts
//! or ends when the gap does. Adjacent occurrences of one rule set (an overnight window written
//! as `22:00–24:00` plus `00:00–06:00` the next day) are joined into one.
//!
//! [`open_intervals`] answers what [`crate::evaluate`] would say about the `windows` and
//! `freezes` rules for one repository at every instant of a range, and [`next_open`] the
//! first instant it would say yes.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::policy::{Environment, RuleSet};

/// Half-open `[start, end)`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// Which promotions a window or freeze applies to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Scope {
    /// A repository block's pattern (`payments/*`); `None`: every repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repositories: Option<String>,
    /// An overlay's repository patterns; `None`: the base's rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlay: Option<Vec<String>>,
}

impl Scope {
    fn of(set: &RuleSet) -> Scope {
        Scope {
            repositories: set.block.as_ref().map(|p| p.as_str().to_string()),
            overlay: set
                .overlay
                .as_ref()
                .map(|ps| ps.iter().map(|p| p.as_str().to_string()).collect()),
        }
    }

    /// Whether it applies to every repository of the environment.
    pub fn is_environment(&self) -> bool {
        self.repositories.is_none() && self.overlay.is_none()
    }
}

/// One occurrence of a deployment window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowOccurrence {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The same instants as wall-clock time in the environment's zone.
    pub local_start: NaiveDateTime,
    pub local_end: NaiveDateTime,
    #[serde(flatten)]
    pub scope: Scope,
    /// `file:line` of the (first) window in the policy.
    pub source: String,
}

/// A change freeze that overlaps the range (not clipped to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FreezeOccurrence {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub local_start: NaiveDateTime,
    pub local_end: NaiveDateTime,
    pub reason: String,
    #[serde(flatten)]
    pub scope: Scope,
    pub source: String,
}

/// An environment's calendar over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentCalendar {
    pub environment: String,
    pub timezone: String,
    /// No rule set of the environment has windows: promotions are never refused for the time
    /// of day (freezes still apply).
    pub always_open: bool,
    /// Occurrences overlapping the range, by start; not clipped to it.
    pub windows: Vec<WindowOccurrence>,
    pub freezes: Vec<FreezeOccurrence>,
}

#[derive(Clone, Copy)]
enum Pick {
    Earliest,
    Latest,
}

/// The instant wall-clock time `t` names in `tz` (see the module documentation for the two
/// days a year when that is not one instant).
fn instant(tz: Tz, t: NaiveDateTime, pick: Pick) -> DateTime<Utc> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(x) => x.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => match pick {
            Pick::Earliest => a.with_timezone(&Utc),
            Pick::Latest => b.with_timezone(&Utc),
        },
        LocalResult::None => {
            // In a gap: the first local minute after it is when the clocks jumped. Gaps are
            // at most a day long (Samoa, 2011).
            let mut m = t;
            for _ in 0..2 * 1440 {
                m += Duration::minutes(1);
                match tz.from_local_datetime(&m) {
                    LocalResult::Single(x) => return x.with_timezone(&Utc),
                    LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
                    LocalResult::None => {}
                }
            }
            t.and_utc()
        }
    }
}

fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// The occurrences of one rule set's windows overlapping `[from, to)`, adjacent ones joined.
fn set_windows(
    set: &RuleSet,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<WindowOccurrence> {
    if set.windows.is_empty() || from >= to {
        return Vec::new();
    }
    let scope = Scope::of(set);
    let first_day = local(tz, from).date() - Duration::days(1);
    let last_day = local(tz, to).date() + Duration::days(1);
    let mut raw: Vec<WindowOccurrence> = Vec::new();
    let mut day: NaiveDate = first_day;
    while day <= last_day {
        let wd = day.weekday().num_days_from_monday() as usize;
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        for w in set.windows.iter().filter(|w| w.days[wd]) {
            let ls = midnight + Duration::minutes(i64::from(w.start));
            let le = midnight + Duration::minutes(i64::from(w.end));
            let (start, end) = (
                instant(tz, ls, Pick::Earliest),
                instant(tz, le, Pick::Latest),
            );
            if start >= end {
                // Entirely inside a skipped hour: it never happens.
                continue;
            }
            raw.push(WindowOccurrence {
                start,
                end,
                local_start: local(tz, start),
                local_end: local(tz, end),
                scope: scope.clone(),
                source: w.origin.to_string(),
            });
        }
        day += Duration::days(1);
    }
    raw.sort_by_key(|o| (o.start, o.end));
    let mut merged: Vec<WindowOccurrence> = Vec::new();
    for o in raw {
        match merged.last_mut() {
            Some(last) if o.start <= last.end => {
                if o.end > last.end {
                    last.end = o.end;
                    last.local_end = o.local_end;
                }
            }
            _ => merged.push(o),
        }
    }
    merged.retain(|o| o.end > from && o.start < to);
    merged
}

fn set_freezes(
    set: &RuleSet,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<FreezeOccurrence> {
    set.freezes
        .iter()
        .filter_map(|f| {
            let start = instant(tz, f.from, Pick::Earliest);
            let end = instant(tz, f.until, Pick::Latest);
            (end > from && start < to && start < end).then(|| FreezeOccurrence {
                start,
                end,
                local_start: f.from,
                local_end: f.until,
                reason: f.reason.clone(),
                scope: Scope::of(set),
                source: f.origin.to_string(),
            })
        })
        .collect()
}

/// Every window occurrence and freeze of `env` overlapping `[from, to)`, whichever
/// repositories they apply to (each labelled with its [`Scope`]).
pub fn expand(env: &Environment, from: DateTime<Utc>, to: DateTime<Utc>) -> EnvironmentCalendar {
    let mut windows = Vec::new();
    let mut freezes = Vec::new();
    for set in &env.rule_sets {
        windows.extend(set_windows(set, env.timezone, from, to));
        freezes.extend(set_freezes(set, env.timezone, from, to));
    }
    windows.sort_by_key(|o| (o.start, o.end));
    freezes.sort_by_key(|f| (f.start, f.end));
    EnvironmentCalendar {
        environment: env.name.clone(),
        timezone: env.timezone.name().to_string(),
        always_open: env.rule_sets.iter().all(|s| s.windows.is_empty()),
        windows,
        freezes,
    }
}

/// The parts of `a` inside `b` (both sorted and disjoint).
fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let start = a[i].0.max(b[j].0);
        let end = a[i].1.min(b[j].1);
        if start < end {
            out.push((start, end));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `a` without `cut`.
fn subtract(a: &[Span], cut: Span) -> Vec<Span> {
    let mut out = Vec::new();
    for &(s, e) in a {
        if cut.1 <= s || e <= cut.0 {
            out.push((s, e));
            continue;
        }
        if s < cut.0 {
            out.push((s, cut.0));
        }
        if cut.1 < e {
            out.push((cut.1, e));
        }
    }
    out
}

/// When in `[from, to)` a promotion of `repository` (named without the environment prefix)
/// into `env` passes the `windows` and `freezes` rules: inside a window of every applicable
/// rule set that has windows, and inside no applicable freeze. Sorted, disjoint.
pub fn open_intervals(
    env: &Environment,
    repository: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Span> {
    if from >= to {
        return Vec::new();
    }
    let mut open = vec![(from, to)];
    let sets: Vec<&RuleSet> = env.applicable(repository).collect();
    for set in &sets {
        if set.windows.is_empty() {
            continue;
        }
        let spans: Vec<Span> = set_windows(set, env.timezone, from, to)
            .iter()
            .map(|o| (o.start.max(from), o.end.min(to)))
            .collect();
        open = intersect(&open, &spans);
    }
    for set in &sets {
        for f in set_freezes(set, env.timezone, from, to) {
            open = subtract(&open, (f.start, f.end));
        }
    }
    open
}

/// The first instant at or after `after`, within `horizon`, at which a promotion of
/// `repository` into `env` passes the `windows` and `freezes` rules.
pub fn next_open(
    env: &Environment,
    repository: &str,
    after: DateTime<Utc>,
    horizon: Duration,
) -> Option<DateTime<Utc>> {
    open_intervals(env, repository, after, after + horizon)
        .first()
        .map(|s| s.0)
}

#[cfg(test)]
mod tests {
    use tollgate_attest::Digest;

    use super::*;
    use crate::{Facts, Policy, RuleKind, RuleStatus, evaluate};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn policy(base: &str) -> Policy {
        Policy::load(&[("base.toml", base)]).unwrap_or_else(|d| {
            panic!(
                "{}",
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
    }

    fn spans(c: &EnvironmentCalendar) -> Vec<(String, String)> {
        c.windows
            .iter()
            .map(|o| (o.start.to_rfc3339(), o.end.to_rfc3339()))
            .collect()
    }

    const OFFICE: &str = r#"
[environments.prod]
timezone = "Europe/Berlin"
[[environments.prod.windows]]
days = ["mon-fri"]
start = "09:00"
end = "17:00"
"#;

    #[test]
    fn windows_follow_the_spring_change_in_berlin() {
        let p = policy(OFFICE);
        let env = p.environment("prod").unwrap();
        // Thu 26 March .. Tue 31 March 2026; clocks go forward on Sunday 29 March.
        let c = expand(env, at("2026-03-26T00:00:00Z"), at("2026-03-31T00:00:00Z"));
        assert!(!c.always_open);
        assert_eq!(c.timezone, "Europe/Berlin");
        assert_eq!(
            spans(&c),
            [
                ("2026-03-26T08:00:00+00:00", "2026-03-26T16:00:00+00:00"),
                ("2026-03-27T08:00:00+00:00", "2026-03-27T16:00:00+00:00"),
                // after the change: the same local hours, an hour earlier in UTC
                ("2026-03-30T07:00:00+00:00", "2026-03-30T15:00:00+00:00"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        for o in &c.windows {
            assert_eq!(o.local_start.format("%H:%M").to_string(), "09:00");
            assert_eq!(o.local_end.format("%H:%M").to_string(), "17:00");
            assert!(o.scope.is_environment());
            assert_eq!(o.source, "base.toml:4");
        }
    }

    #[test]
    fn windows_across_the_autumn_change_and_the_spring_gap() {
        let p = policy(
            r#"
[environments.prod]
timezone = "Europe/Berlin"
[[environments.prod.windows]]
days = ["sun"]
start = "01:00"
end = "04:00"
[[environments.staging.windows]]
days = ["sun"]
start = "02:00"
end = "02:30"
[environments.staging]
timezone = "Europe/Berlin"
"#,
        );
        let prod = p.environment("prod").unwrap();
        // 25 October 2026: 03:00 CEST becomes 02:00 CET; the window lasts four hours.
        let c = expand(prod, at("2026-10-24T12:00:00Z"), at("2026-10-26T00:00:00Z"));
        assert_eq!(
            spans(&c),
            [("2026-10-24T23:00:00+00:00", "2026-10-25T03:00:00+00:00")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        // 29 March 2026: 02:00 CET becomes 03:00 CEST; the window ends at 04:00 CEST.
        let c = expand(prod, at("2026-03-28T12:00:00Z"), at("2026-03-30T00:00:00Z"));
        assert_eq!(
            spans(&c),
            [("2026-03-29T00:00:00+00:00", "2026-03-29T02:00:00+00:00")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        // A window inside the skipped hour never happens that day, and does the week after.
        let staging = p.environment("staging").unwrap();
        let c = expand(
            staging,
            at("2026-03-28T00:00:00Z"),
            at("2026-04-06T00:00:00Z"),
        );
        assert_eq!(
            spans(&c),
            [("2026-04-05T00:00:00+00:00", "2026-04-05T00:30:00+00:00")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn an_overnight_window_is_one_occurrence() {
        let p = policy(
            r#"
[environments.prod]
timezone = "Europe/Berlin"
[[environments.prod.windows]]
days = ["mon"]
start = "22:00"
end = "24:00"
[[environments.prod.windows]]
days = ["tue"]
start = "00:00"
end = "06:00"
"#,
        );
        let env = p.environment("prod").unwrap();
        let c = expand(env, at("2026-01-05T00:00:00Z"), at("2026-01-12T00:00:00Z"));
        assert_eq!(
            spans(&c),
            [("2026-01-05T21:00:00+00:00", "2026-01-06T05:00:00+00:00")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let o = &c.windows[0];
        assert_eq!(o.local_start.to_string(), "2026-01-05 22:00:00");
        assert_eq!(o.local_end.to_string(), "2026-01-06 06:00:00");
        // A range starting in the middle still shows the whole occurrence.
        let c = expand(env, at("2026-01-06T01:00:00Z"), at("2026-01-06T02:00:00Z"));
        assert_eq!(c.windows.len(), 1);
        assert_eq!(c.windows[0].start, at("2026-01-05T21:00:00Z"));
    }

    const BLOCKS: &str = r#"
[environments.dev]

[environments.prod]
timezone = "America/New_York"
[[environments.prod.windows]]
days = ["mon-fri"]
start = "08:00"
end = "18:00"
[[environments.prod.freezes]]
from = "2026-12-21"
until = "2026-12-27"
reason = "year-end; freeze"
[[environments.prod.repositories]]
pattern = "payments/*"
[[environments.prod.repositories.windows]]
days = ["tue", "thu"]
start = "10:00"
end = "12:00"
[[environments.prod.repositories.freezes]]
from = "2026-12-10T00:00"
until = "2026-12-11T00:00"
reason = "payments audit"
"#;

    #[test]
    fn repository_blocks_freezes_and_always_open_environments() {
        let p = policy(BLOCKS);
        let dev = expand(
            p.environment("dev").unwrap(),
            at("2026-12-01T00:00:00Z"),
            at("2026-12-31T00:00:00Z"),
        );
        assert!(dev.always_open);
        assert!(dev.windows.is_empty() && dev.freezes.is_empty());

        let prod = p.environment("prod").unwrap();
        let c = expand(prod, at("2026-12-07T00:00:00Z"), at("2026-12-14T00:00:00Z"));
        let blocks: Vec<_> = c
            .windows
            .iter()
            .filter(|o| o.scope.repositories.as_deref() == Some("payments/*"))
            .collect();
        assert_eq!(blocks.len(), 2, "Tue and Thu");
        assert_eq!(blocks[0].start, at("2026-12-08T15:00:00Z"));
        assert_eq!(c.windows.len(), 7, "five weekdays and two block windows");
        // Only the freeze overlapping the range, with its reason.
        assert_eq!(c.freezes.len(), 1);
        assert_eq!(c.freezes[0].reason, "payments audit");
        assert_eq!(c.freezes[0].start, at("2026-12-10T05:00:00Z"));
        let c = expand(prod, at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
        let f = c.freezes.iter().find(|f| f.scope.is_environment()).unwrap();
        assert_eq!(f.reason, "year-end; freeze");
        assert_eq!(f.start, at("2026-12-21T05:00:00Z"));
        // `until` is a date, inclusive: the freeze ends at the start of the next day.
        assert_eq!(f.end, at("2026-12-28T05:00:00Z"));

        // payments/api needs both windows and no freeze: Tue 8 Dec 10:00 New York.
        assert_eq!(
            next_open(
                prod,
                "payments/api",
                at("2026-12-07T12:00:00Z"),
                Duration::days(30)
            ),
            Some(at("2026-12-08T15:00:00Z"))
        );
        // Thu 10 Dec is frozen for payments: from Tue 8 Dec 12:00, the next is Tue 15 Dec.
        assert_eq!(
            next_open(
                prod,
                "payments/api",
                at("2026-12-08T17:00:00Z"),
                Duration::days(30)
            ),
            Some(at("2026-12-15T15:00:00Z"))
        );
        // Other repositories only need the environment's window.
        assert_eq!(
            next_open(prod, "web", at("2026-12-08T17:00:00Z"), Duration::days(30)),
            Some(at("2026-12-08T17:00:00Z"))
        );
        // During the year-end freeze: the first weekday after it.
        assert_eq!(
            next_open(prod, "web", at("2026-12-22T12:00:00Z"), Duration::days(30)),
            Some(at("2026-12-28T13:00:00Z"))
        );
        assert_eq!(
            next_open(prod, "web", at("2026-12-22T12:00:00Z"), Duration::days(2)),
            None
        );
    }

    /// Facts from JSON, so every field a later rule adds takes its serde default.
    fn facts(repository: &str) -> Facts {
        serde_json::from_value(serde_json::json!({
            "artifact": {
                "digest": Digest::sha256_of(b"a").to_string(),
                "repository": repository,
                "tag": "1.0.0",
            },
            "promotion": { "to": "prod", "requester": "r" },
        }))
        .unwrap()
    }

    /// The calendar and the decision agree at every quarter hour of the weeks around both
    /// clock changes, with windows, a block and freezes.
    #[test]
    fn open_intervals_agree_with_evaluate() {
        let p = policy(
            r#"
[environments.prod]
timezone = "Europe/Berlin"
[[environments.prod.windows]]
days = ["mon-fri", "sun"]
start = "01:00"
end = "17:00"
[[environments.prod.windows]]
days = ["sat"]
start = "22:00"
end = "24:00"
[[environments.prod.freezes]]
from = "2026-03-31T12:00"
until = "2026-04-01T10:00"
reason = "quarter end"
[[environments.prod.repositories]]
pattern = "payments/*"
[[environments.prod.repositories.windows]]
days = ["sun", "mon", "wed"]
start = "02:15"
end = "12:00"
"#,
        );
        let env = p.environment("prod").unwrap();
        for (from, to) in [
            ("2026-03-26T00:00:00Z", "2026-04-03T00:00:00Z"),
            ("2026-10-22T00:00:00Z", "2026-10-29T00:00:00Z"),
        ] {
            let (from, to) = (at(from), at(to));
            for repo in ["web", "payments/api"] {
                let open = open_intervals(env, repo, from, to);
                let mut t = from;
                while t < to {
                    let d = evaluate(&p, &facts(repo), t);
                    let refused = d.rules.iter().any(|r| {
                        matches!(r.kind, RuleKind::Windows | RuleKind::Freezes)
                            && r.status == RuleStatus::Fail
                    });
                    let inside = open.iter().any(|(s, e)| *s <= t && t < *e);
                    // The repeated autumn hour is the one documented over-approximation.
                    let repeated =
                        t >= at("2026-10-25T00:00:00Z") && t < at("2026-10-25T02:00:00Z");
                    if !repeated {
                        assert_eq!(inside, !refused, "{repo} at {t}: {:?}", d.rules);
                    }
                    t += Duration::minutes(15);
                }
            }
        }
    }
}
