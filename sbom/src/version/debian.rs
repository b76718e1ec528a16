//! dpkg's version order (`dpkg --compare-versions`): `[epoch:]upstream[-revision]`, each part
//! compared as alternating runs of non-digits (letters before other characters, `~` before
//! anything, even the end) and numbers.

use std::cmp::Ordering;

use super::{Num, split_digits};

#[derive(Debug, Clone)]
pub(super) struct Key {
    epoch: Num,
    upstream: Box<str>,
    revision: Box<str>,
}

impl Key {
    pub(super) fn new(version: &str) -> Self {
        let v = version.trim();
        // dpkg refuses a non-numeric epoch; keeping the whole string as upstream orders it anyway.
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
                (Num::new(e), rest)
            }
            _ => (Num::new(""), v),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        Self {
            epoch,
            upstream: upstream.into(),
            revision: revision.into(),
        }
    }
}

/// dpkg's `order()`: the weight of one character of a non-digit run (`None` is its end).
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() || !b.is_empty() {
        let non_digit =
            |s: &str| s.len() - s.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
        let (ta, tb) = (&a.as_bytes()[..non_digit(a)], &b.as_bytes()[..non_digit(b)]);
        for i in 0..ta.len().max(tb.len()) {
            let order = weight(ta.get(i).copied()).cmp(&weight(tb.get(i).copied()));
            if order.is_ne() {
                return order;
            }
        }
        let (na, ra) = split_digits(&a[ta.len()..]);
        let (nb, rb) = split_digits(&b[tb.len()..]);
        let order = Num::new(na).cmp(&Num::new(nb));
        if order.is_ne() {
            return order;
        }
        (a, b) = (ra, rb);
    }
    Ordering::Equal
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(&self.upstream, &other.upstream))
            .then_with(|| verrevcmp(&self.revision, &other.revision))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Key {}
