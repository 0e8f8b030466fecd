//! Every key [`RawConfig`] accepts, found by walking its `Deserialize` implementation rather
//! than listed by hand: a field added to `file.rs` shows up here without anyone remembering
//! to. The contract tests (`contract.rs`) compare this list with `config/default.toml` and
//! `docs/configuration.md`.
//!
//! The walker is a `Deserializer` that offers every field a struct names and a placeholder
//! value for each leaf (one element for a list, `Some` for an option, the first variant of an
//! enum), recording the dotted path of each leaf. Entries of a list of tables are written
//! `apps[].appid`; a list of plain values is one key (`rate_limits.trusted_proxies`).

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::value::{Error, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::file::RawConfig;
use super::secrets::SECRET_MARKER;

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    /// A secret type: it must have a `_file` twin.
    pub secret: bool,
}

/// Every key [`RawConfig`] accepts, by dotted path.
pub(super) fn keys() -> BTreeMap<String, Key> {
    let found = RefCell::new(BTreeMap::new());
    RawConfig::deserialize(Walker {
        path: String::new(),
        found: &found,
    })
    .unwrap_or_else(|e| panic!("walking RawConfig's keys: {e}"));
    found.into_inner()
}

struct Walker<'a> {
    path: String,
    found: &'a RefCell<BTreeMap<String, Key>>,
}

impl Walker<'_> {
    /// Records a leaf: a list of plain values (`x[]`) is recorded as the list's key.
    fn leaf(&self, secret: bool) {
        let path = self
            .path
            .strip_suffix("[]")
            .unwrap_or(&self.path)
            .to_owned();
        let mut found = self.found.borrow_mut();
        let key = found.entry(path).or_insert(Key { secret: false });
        key.secret |= secret;
    }

    fn at(&self, path: String) -> Self {
        Walker {
            path,
            found: self.found,
        }
    }
}

macro_rules! leaves {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.leaf(false);
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Walker<'_> {
    type Error = Error;

    /// A type that asks the format what is there cannot be walked: say so, so that the
    /// contract tests fail loudly rather than miss its keys.
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!(
            "`{}` has a type the key walker cannot explore (deserialize_any)",
            self.path
        )))
    }

    leaves! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(1),
        deserialize_i16 => visit_i64(1),
        deserialize_i32 => visit_i64(1),
        deserialize_i64 => visit_i64(1),
        deserialize_u8 => visit_u64(1),
        deserialize_u16 => visit_u64(1),
        deserialize_u32 => visit_u64(1),
        deserialize_u64 => visit_u64(1),
        deserialize_f32 => visit_f64(1.0),
        deserialize_f64 => visit_f64(1.0),
        deserialize_char => visit_char('x'),
        deserialize_str => visit_str("x"),
        deserialize_string => visit_str("x"),
        deserialize_bytes => visit_bytes(b"x"),
        deserialize_byte_buf => visit_bytes(b"x"),
        deserialize_unit => visit_unit(),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == SECRET_MARKER {
            self.leaf(true);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let element = self.at(format!("{}[]", self.path));
        visitor.visit_seq(One(Some(element)))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!(
            "`{}` is a map with free keys: the key walker cannot list them",
            self.path
        )))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields {
            walker: self,
            fields: fields.iter(),
            next: None,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.leaf(false);
        let first: StrDeserializer<'_, Error> =
            variants.first().copied().unwrap_or("x").into_deserializer();
        visitor.visit_enum(first)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str("x")
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// A list of one element.
struct One<'a>(Option<Walker<'a>>);

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|w| seed.deserialize(w)).transpose()
    }
}

/// A struct's fields, each with a walker at its path.
struct Fields<'a> {
    walker: Walker<'a>,
    fields: std::slice::Iter<'static, &'static str>,
    next: Option<&'static str>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(&field) = self.fields.next() else {
            return Ok(None);
        };
        self.next = Some(field);
        let name: StrDeserializer<'_, Error> = field.into_deserializer();
        seed.deserialize(name).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.next.take().unwrap_or_default();
        let path = if self.walker.path.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.walker.path)
        };
        seed.deserialize(self.walker.at(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walker_finds_nested_list_and_secret_keys() {
        let keys = keys();
        assert!(keys.contains_key("public_url"));
        assert!(keys.contains_key("http.port"));
        assert!(keys.contains_key("apps[].appid"));
        assert!(keys.contains_key("rate_limits.trusted_proxies"));
        assert!(keys.contains_key("registration.policy"));
        assert!(keys["apps[].secret"].secret);
        assert!(keys["database.url"].secret);
        assert!(!keys["apps[].secret_file"].secret);
        assert!(!keys.contains_key("http"), "sections are not keys");
    }
}
