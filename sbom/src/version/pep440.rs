//! PEP 440 ordering, as `packaging.version` implements it.
//!
//! Versions PEP 440 rejects (`1.0-foo`) keep their leading release numbers and sort the rest as
//! a local label, so they land next to the release they name instead of at either end.

use super::{Num, split_digits, trim_zeros};

/// Field order is comparison order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    epoch: Num,
    /// Trailing zeros trimmed: `1.0` = `1.0.0`.
    release: Vec<Num>,
    pre: Pre,
    /// `None` (no post-release) sorts first.
    post: Option<Num>,
    dev: Dev,
    /// `None` (no local label) sorts first.
    local: Option<Vec<Local>>,
}

/// Declaration order is the order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Pre {
    /// A bare dev release (`1.0.dev1`) precedes every pre-release of the same version.
    DevOnly,
    /// `(a|b|rc, n)` as 0, 1, 2.
    Labelled(u8, Num),
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Dev {
    Numbered(Num),
    Absent,
}

/// Alphanumeric local segments sort before numeric ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Local {
    Text(Box<str>),
    Num(Num),
}

impl Key {
    pub(super) fn new(version: &str) -> Self {
        let v = version.trim().to_ascii_lowercase();
        let v = v.strip_prefix('v').unwrap_or(&v);
        Self::strict(v).unwrap_or_else(|| Self::lenient(v))
    }

    fn strict(v: &str) -> Option<Self> {
        let mut cur = Cursor(v);
        let epoch = match v.split_once('!') {
            Some((epoch, rest)) if !epoch.is_empty() && is_digits(epoch) => {
                cur = Cursor(rest);
                Num::new(epoch)
            }
            _ => Num::new(""),
        };
        let mut release = vec![cur.number()?];
        while let Some(n) = cur.attempt(|c| c.eat(".").then(|| c.number()).flatten()) {
            release.push(n);
        }
        trim_zeros(&mut release);

        let pre = cur.attempt(|c| {
            c.separator();
            let label = if c.eat_any(&["alpha", "a"]) {
                0
            } else if c.eat_any(&["beta", "b"]) {
                1
            } else if c.eat_any(&["rc", "c", "preview", "pre"]) {
                2
            } else {
                return None;
            };
            c.separator();
            Some((label, c.number().unwrap_or_else(|| Num::new(""))))
        });
        let post = cur
            .attempt(|c| c.eat("-").then(|| c.number()).flatten())
            .or_else(|| cur.attempt(|c| labelled(c, &["post", "rev", "r"])));
        let dev = cur.attempt(|c| labelled(c, &["dev"]));
        let local = match cur.0.strip_prefix('+') {
            Some(label) => {
                let segments: Vec<&str> = label.split(['.', '-', '_']).collect();
                let valid = segments
                    .iter()
                    .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()));
                if !valid {
                    return None;
                }
                cur.0 = "";
                Some(segments.into_iter().map(local).collect())
            }
            None => None,
        };
        if !cur.0.is_empty() {
            return None;
        }
        Some(Self {
            epoch,
            release,
            pre: match (pre, &post, &dev) {
                (Some((label, n)), _, _) => Pre::Labelled(label, n),
                (None, None, Some(_)) => Pre::DevOnly,
                (None, _, _) => Pre::Absent,
            },
            post,
            dev: dev.map_or(Dev::Absent, Dev::Numbered),
            local,
        })
    }

    fn lenient(v: &str) -> Self {
        let mut release = Vec::new();
        let mut rest = v;
        loop {
            let (digits, tail) = split_digits(rest);
            if digits.is_empty() {
                break;
            }
            release.push(Num::new(digits));
            rest = tail.strip_prefix('.').unwrap_or(tail);
            if rest.len() == tail.len() {
                break;
            }
        }
        trim_zeros(&mut release);
        let local: Vec<Local> = rest
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|s| !s.is_empty())
            .map(local)
            .collect();
        Self {
            epoch: Num::new(""),
            release,
            pre: Pre::Absent,
            post: None,
            dev: Dev::Absent,
            local: (!local.is_empty()).then_some(local),
        }
    }
}

/// `[-_.]? label [-_.]? number?`, the implicit number being 0.
fn labelled(c: &mut Cursor<'_>, labels: &[&str]) -> Option<Num> {
    c.separator();
    if !c.eat_any(labels) {
        return None;
    }
    c.separator();
    Some(c.number().unwrap_or_else(|| Num::new("")))
}

fn local(segment: &str) -> Local {
    if is_digits(segment) {
        Local::Num(Num::new(segment))
    } else {
        Local::Text(segment.into())
    }
}

fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// The unparsed rest of the version.
#[derive(Clone, Copy)]
struct Cursor<'a>(&'a str);

impl Cursor<'_> {
    /// Runs `f`, rewinding if it fails: PEP 440's optional parts each either match or consume
    /// nothing.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let saved = *self;
        let out = f(self);
        if out.is_none() {
            *self = saved;
        }
        out
    }

    fn eat(&mut self, prefix: &str) -> bool {
        match self.0.strip_prefix(prefix) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    /// Tries `options` in order; longer spellings come first where one prefixes another.
    fn eat_any(&mut self, options: &[&str]) -> bool {
        options.iter().any(|o| self.eat(o))
    }

    fn separator(&mut self) {
        let _ = self.eat(".") || self.eat("-") || self.eat("_");
    }

    fn number(&mut self) -> Option<Num> {
        let (digits, rest) = split_digits(self.0);
        if digits.is_empty() {
            return None;
        }
        self.0 = rest;
        Some(Num::new(digits))
    }
}
