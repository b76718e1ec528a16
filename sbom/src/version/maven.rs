//! Maven's version order: a port of `ComparableVersion` from Maven 3.9 (the order described in
//! the POM reference's "Version Order Specification").
//!
//! A version becomes a list of items. `.` separates items; `-` and a letter/digit transition
//! open a nested list, which sorts below a number in the same place (`1-1 < 1.1`) and above a
//! qualifier (`1-1 > 1-sp`). Null items (`0`, release qualifiers, empty lists) are dropped from
//! the end, so `1.0.0 = 1` and `1.0-rc1 = 1-rc1`.
//!
//! Maven 3.9 is not transitive on some versions (`4.0.0.beta.1 < 4 < 4-1 < 4.0.0.beta.1`,
//! `1-0-alpha < 1 < 1-sp < 1-0-alpha`), and a non-total order can make `sort` panic. Two
//! deviations make it total; they agree with Maven on every assertion of its own
//! `ComparableVersionTest` and differ only on such tangles:
//! - a qualifier always opens a nested list, as Maven already does when a digit or the end
//!   follows it (`1.0.0.RC1 = 1.0.0-RC1`), so `4.0.0.beta.1` reads as `4-beta.1`;
//! - a list and a qualifier in the same place are first ranked against padding (`1-0-alpha` is
//!   below `1`, `1-sp` above it), where Maven puts any list above any qualifier.

use std::cmp::Ordering::{self, Equal, Greater, Less};

use super::Num;

#[derive(Debug, Clone)]
pub(super) struct Key(Vec<Item>);

#[derive(Debug, Clone)]
enum Item {
    Int(Num),
    Str(Qualifier),
    List(Vec<Item>),
}

/// Known qualifiers by rank, then unknown ones in lexical order (declaration order is the order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Qualifier {
    /// Index into [`KNOWN`].
    Known(u8),
    Unknown(Box<str>),
}

const KNOWN: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The rank of a plain release (`""`, `ga`, `final`, `release`).
const RELEASE: Qualifier = Qualifier::Known(5);

impl Qualifier {
    fn new(text: &str, followed_by_digit: bool) -> Self {
        let text = match (text, followed_by_digit) {
            ("a", true) => "alpha",
            ("b", true) => "beta",
            ("m", true) => "milestone",
            ("cr", _) => "rc",
            ("ga" | "final" | "release", _) => "",
            (other, _) => other,
        };
        match KNOWN.iter().position(|k| *k == text) {
            Some(i) => Self::Known(i as u8),
            None => Self::Unknown(text.into()),
        }
    }
}

impl Item {
    fn parse(digits: bool, text: &str) -> Self {
        if digits {
            Self::Int(Num::new(text))
        } else {
            Self::Str(Qualifier::new(text, false))
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Self::Int(n) => n.is_zero(),
            Self::Str(q) => *q == RELEASE,
            Self::List(items) => items.is_empty(),
        }
    }

    /// The item's place relative to padding (the end of a shorter list): 0 below it, 1 equal
    /// to it, 2 above it, 3 for numbers, which Maven ranks above every other item. A number
    /// ranks above padding even when it is `0`: normalisation keeps a `0` only when a positive
    /// number follows it, so Maven's answer is the same.
    fn rank(&self) -> u8 {
        let sign = match self {
            Self::Int(_) => return 3,
            Self::Str(q) => q.cmp(&RELEASE),
            Self::List(items) => items
                .iter()
                .map(|i| i.rank().cmp(&1))
                .find(|o| o.is_ne())
                .unwrap_or(Equal),
        };
        match sign {
            Less => 0,
            Equal => 1,
            Greater => 2,
        }
    }

    /// `other == None` means "past the end of the shorter list".
    fn compare(&self, other: Option<&Item>) -> Ordering {
        use Item::{Int, List, Str};
        let rank = self.rank();
        let Some(other) = other else {
            return rank.cmp(&1);
        };
        match rank.cmp(&other.rank()) {
            Equal if rank == 1 => return Equal,
            Equal => {}
            unequal => return unequal,
        }
        match (self, other) {
            (Int(a), Int(b)) => a.cmp(b),
            (List(a), List(b)) => compare_lists(a, b),
            (Str(a), Str(b)) => a.cmp(b),
            // Within a rank, Maven's rule: a list above a qualifier (`1-1 > 1-sp`).
            (List(_), Str(_)) => Greater,
            (Str(_), List(_)) => Less,
            // Numbers have a rank of their own, so they only meet numbers here.
            (Int(_), _) | (_, Int(_)) => Equal,
        }
    }
}

fn compare_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let order = match (a.get(i), b.get(i)) {
            (Some(l), r) => l.compare(r),
            (None, Some(r)) => r.compare(None).reverse(),
            (None, None) => Equal,
        };
        if order.is_ne() {
            return order;
        }
    }
    Equal
}

/// Drops trailing null items, looking past nested lists as Maven does (`1.0-alpha` =
/// `1-alpha`).
fn normalize(items: &mut Vec<Item>) {
    for i in (0..items.len()).rev() {
        if items[i].is_null() {
            items.remove(i);
        } else if !matches!(items[i], Item::List(_)) {
            break;
        }
    }
}

impl Key {
    pub(super) fn new(version: &str) -> Self {
        let v = version.trim().to_lowercase();
        // A nested list is appended to the current one and parsing continues inside it, so the
        // nesting is a chain: `parents` holds the enclosing lists, assembled at the end.
        let mut parents: Vec<Vec<Item>> = Vec::new();
        let mut list: Vec<Item> = Vec::new();
        let mut open = |list: &mut Vec<Item>| parents.push(std::mem::take(list));
        let mut digits = false;
        let mut start = 0;
        for (i, c) in v.char_indices() {
            match c {
                '.' | '-' => {
                    if i == start {
                        list.push(Item::Int(Num::new("")));
                    } else {
                        if !digits && !list.is_empty() {
                            open(&mut list);
                        }
                        list.push(Item::parse(digits, &v[start..i]));
                    }
                    start = i + 1;
                    if c == '-' {
                        open(&mut list);
                    }
                }
                c if c.is_ascii_digit() => {
                    if !digits && i > start {
                        if !list.is_empty() {
                            open(&mut list);
                        }
                        list.push(Item::Str(Qualifier::new(&v[start..i], true)));
                        start = i;
                        open(&mut list);
                    }
                    digits = true;
                }
                _ => {
                    if digits && i > start {
                        list.push(Item::parse(true, &v[start..i]));
                        start = i;
                        open(&mut list);
                    }
                    digits = false;
                }
            }
        }
        if v.len() > start {
            if !digits && !list.is_empty() {
                open(&mut list);
            }
            list.push(Item::parse(digits, &v[start..]));
        }
        normalize(&mut list);
        while let Some(mut parent) = parents.pop() {
            parent.push(Item::List(list));
            normalize(&mut parent);
            list = parent;
        }
        Self(list)
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_lists(&self.0, &other.0)
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
