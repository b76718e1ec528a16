//! The ordering for ecosystems without one of their own (apk, rpm, generic, oci, ...): runs of
//! digits compare as numbers and runs of letters as case-insensitive text, so `1.10 > 1.9` and
//! `r10 > r9`. Punctuation only separates runs.

use super::{Num, split_digits};

/// `raw` breaks ties, so only identical strings are equal: plain versions have no notion of
/// "the same version spelt differently".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    runs: Vec<Run>,
    raw: Box<str>,
}

/// Text sorts before numbers (`1.0a < 1.0.1`); a shorter list before a longer one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Run {
    Text(Box<str>),
    Num(Num),
}

impl Key {
    pub(super) fn new(version: &str) -> Self {
        let raw = version.trim();
        let mut runs = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            let (digits, tail) = split_digits(rest);
            if !digits.is_empty() {
                runs.push(Run::Num(Num::new(digits)));
                rest = tail;
                continue;
            }
            let end = rest
                .find(|c: char| c.is_ascii_digit() || !c.is_alphanumeric())
                .unwrap_or(rest.len());
            if end == 0 {
                // Punctuation: skip one character.
                let skip = rest.chars().next().map_or(1, char::len_utf8);
                rest = &rest[skip..];
            } else {
                runs.push(Run::Text(rest[..end].to_lowercase().into()));
                rest = &rest[end..];
            }
        }
        Self {
            runs,
            raw: raw.into(),
        }
    }
}
