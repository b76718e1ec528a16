//! The calendar as iCalendar (RFC 5545) for people's calendar applications: one `VEVENT` per
//! window occurrence, freeze and scheduled promotion, times in UTC.
//!
//! Every event's `UID` is derived from what it is (environment, kind, scope, start; a freeze
//! also by its reason; a promotion by its id), not from where the policy writes it, so
//! importing a later export updates events instead of duplicating them. Lines end in CRLF and
//! are folded at 75 octets (never inside a UTF-8 sequence); TEXT values are escaped.

use sha2::{Digest as _, Sha256};
use tollgate_policies::calendar::Scope;
use tollgate_policies::chrono::{DateTime, Duration, Utc};

use super::{Calendar, Conflict};

pub const PRODID: &str = "-//Tollgate//Release calendar//EN";

/// How long a scheduled promotion's event lasts (it is a moment; calendars want a span).
const PROMOTION_MINUTES: i64 = 15;

/// `20261201T090000Z`.
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// RFC 5545 TEXT: backslash, semicolon, comma and newline escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so no physical line exceeds 75 octets (continuations
/// start with a space), ending in CRLF.
pub fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..6])
}

fn scope_text(s: &Scope) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &s.repositories {
        parts.push(format!("repositories {r}"));
    }
    if let Some(o) = &s.overlay {
        parts.push(format!("overlay for {}", o.join(", ")));
    }
    parts.join("; ")
}

struct Event<'a> {
    uid: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    summary: String,
    description: String,
    categories: Vec<&'a str>,
    transparent: bool,
}

fn event(out: &mut String, stamp: &str, e: &Event<'_>) {
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}", e.uid));
    line(out, &format!("DTSTAMP:{stamp}"));
    line(out, &format!("DTSTART:{}", utc(e.start)));
    line(out, &format!("DTEND:{}", utc(e.end)));
    line(out, &format!("SUMMARY:{}", escape(&e.summary)));
    line(out, &format!("DESCRIPTION:{}", escape(&e.description)));
    let cats: Vec<String> = e.categories.iter().map(|c| escape(c)).collect();
    line(out, &format!("CATEGORIES:{}", cats.join(",")));
    line(
        out,
        if e.transparent {
            "TRANSP:TRANSPARENT"
        } else {
            "TRANSP:OPAQUE"
        },
    );
    line(out, "END:VEVENT");
}

/// The whole calendar as an iCalendar stream.
pub fn render(cal: &Calendar) -> String {
    let stamp = utc(cal.generated_at);
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, &format!("PRODID:{PRODID}"));
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, "X-WR-CALNAME:Tollgate release calendar");
    for env in &cal.environments {
        let name = env.name.as_str();
        for w in &env.windows {
            let scope = scope_text(&w.scope);
            let summary = if scope.is_empty() {
                format!("{name}: deployment window")
            } else {
                format!("{name}: deployment window ({scope})")
            };
            event(
                &mut out,
                &stamp,
                &Event {
                    uid: format!(
                        "window-{name}-{}-{}@tollgate",
                        utc(w.start),
                        short_hash(&[&scope])
                    ),
                    start: w.start,
                    end: w.end,
                    summary,
                    description: format!(
                        "Promotions into {name}{} may run from {} to {} ({}). Policy: {}.",
                        if scope.is_empty() {
                            String::new()
                        } else {
                            format!(" of {scope}")
                        },
                        w.local_start.format("%a %Y-%m-%d %H:%M"),
                        w.local_end.format("%a %Y-%m-%d %H:%M"),
                        env.timezone,
                        w.source
                    ),
                    categories: vec!["Deployment window", name],
                    transparent: true,
                },
            );
        }
        for f in &env.freezes {
            let scope = scope_text(&f.scope);
            event(
                &mut out,
                &stamp,
                &Event {
                    uid: format!(
                        "freeze-{name}-{}-{}@tollgate",
                        utc(f.start),
                        short_hash(&[&scope, &f.reason])
                    ),
                    start: f.start,
                    end: f.end,
                    summary: format!("{name}: change freeze: {}", f.reason),
                    description: format!(
                        "No promotions into {name}{} from {} until {} ({}): {}. Policy: {}.",
                        if scope.is_empty() {
                            String::new()
                        } else {
                            format!(" of {scope}")
                        },
                        f.local_start.format("%Y-%m-%d %H:%M"),
                        f.local_end.format("%Y-%m-%d %H:%M"),
                        env.timezone,
                        f.reason,
                        f.source
                    ),
                    categories: vec!["Change freeze", name],
                    transparent: false,
                },
            );
        }
        for s in &env.scheduled {
            let mine: Vec<&Conflict> = env
                .conflicts
                .iter()
                .filter(|c| c.promotion == s.id)
                .collect();
            let mut description = format!(
                "Promotion {} of {}{} ({}) into {}, requested by {}{}.",
                s.id,
                s.repository,
                s.tag
                    .as_deref()
                    .map(|t| format!(":{t}"))
                    .unwrap_or_default(),
                s.artifact,
                s.target_repository,
                s.requested_by,
                s.change_request
                    .as_deref()
                    .map(|c| format!(", change request {c}"))
                    .unwrap_or_default()
            );
            for c in &mine {
                description.push_str(&format!("\nConflict: {}", c.message));
            }
            let mut categories = vec!["Scheduled promotion", name];
            if !mine.is_empty() {
                categories.push("Conflict");
            }
            event(
                &mut out,
                &stamp,
                &Event {
                    uid: format!("promotion-{}@tollgate", s.id),
                    start: s.at,
                    end: s.at + Duration::minutes(PROMOTION_MINUTES),
                    summary: format!(
                        "{name}: promote {}{}",
                        s.repository,
                        s.tag
                            .as_deref()
                            .map(|t| format!(" {t}"))
                            .unwrap_or_default()
                    ),
                    description,
                    categories,
                    transparent: false,
                },
            );
        }
    }
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        let long = format!("DESCRIPTION:{}", "ä€x".repeat(40));
        line(&mut out, &long);
        assert!(out.ends_with("\r\n"));
        let physical: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(physical.len() > 1);
        for (i, l) in physical.iter().enumerate() {
            assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
            if i > 0 {
                assert!(l.starts_with(' '));
            }
        }
        // Unfolding gives the line back.
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, long);
        let mut short = String::new();
        line(&mut short, "VERSION:2.0");
        assert_eq!(short, "VERSION:2.0\r\n");
    }

    #[test]
    fn escapes_text() {
        assert_eq!(
            escape("year-end; freeze, all\\teams\nsee CHG-1"),
            "year-end\\; freeze\\, all\\\\teams\\nsee CHG-1"
        );
    }
}
