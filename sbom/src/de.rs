//! Lenient field deserialisers shared by the CycloneDX and SPDX raw models.
//!
//! Real producers put numbers where strings belong (`"version": 2`) and `null` where a list
//! belongs; refusing a whole SBOM for that helps nobody, so these accept the obvious variants.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A string field that may also arrive as a number, a boolean or `null` (→ `None`).
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, number, boolean or null")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_any(V)
}

/// A list that may be `null` (→ empty).
pub(crate) fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A CycloneDX organisational entity (`{"name": ..}`), also accepted as a bare string; only the
/// name is kept.
pub(crate) fn entity_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an organisational entity object or a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut name = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "name" {
                    name = map.next_value_seed(StringSeed)?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(name)
        }
    }
    d.deserialize_any(V)
}

struct StringSeed;

impl<'de> de::DeserializeSeed<'de> for StringSeed {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        string(d)
    }
}

/// A string borrowed from the document when it holds no escapes (references that are only
/// looked up, never kept); numbers and booleans are accepted as [`string`] accepts them, and
/// `null` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefStr<'a>(pub std::borrow::Cow<'a, str>);

impl std::ops::Deref for RefStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// [`RefStr`] for an optional field.
pub(crate) fn ref_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RefStr<'de>>, D::Error> {
    use std::borrow::Cow;
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<RefStr<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, number, boolean or null")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(RefStr(Cow::Borrowed(v))))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(RefStr(Cow::Owned(v.to_owned()))))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(RefStr(Cow::Owned(v))))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(RefStr(Cow::Owned(v.to_string()))))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(RefStr(Cow::Owned(v.to_string()))))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(RefStr(Cow::Owned(v.to_string()))))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(RefStr(Cow::Owned(v.to_string()))))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_any(V)
}

/// A list of [`RefStr`]s that may be `null` (→ empty); `null` items are left out.
pub(crate) fn ref_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RefStr<'de>>, D::Error> {
    struct Item<'de>(Option<RefStr<'de>>);
    impl<'de> Deserialize<'de> for Item<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            ref_str(d).map(Item)
        }
    }
    let items: Vec<Item<'de>> = list(d)?;
    Ok(items.into_iter().filter_map(|i| i.0).collect())
}
