//! Identifiers. Parse, don't validate: an [`AppId`] you hold is well-formed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value from outside failed a format check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {0}")]
pub struct InvalidValue(pub &'static str);

fn printable(raw: &str, max: usize) -> bool {
    (1..=max).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Accepts 1 to the maximum printable ASCII characters.
            pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidValue> {
                let raw = raw.into();
                if printable(&raw, $max) { Ok(Self(raw)) } else { Err(InvalidValue($what)) }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(raw: String) -> Result<Self, InvalidValue> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A Mini Program's AppID, such as `wx4f4bc4dec97d474b`.
    AppId, "appid", 64
);
id_type!(
    /// A user's id within one Mini Program. Never returned to clients, never logged in clear.
    OpenId, "openid", 128
);
id_type!(
    /// A user's id across the apps bound to one WeChat Open Platform account.
    UnionId, "unionid", 128
);
id_type!(
    /// Our own user id (a UUIDv7 in text form).
    UserId, "user_id", 64
);

id_type!(
    /// A refresh family's id: one sign-in on one device, across rotations; the `sid` claim of
    /// its access tokens.
    FamilyId, "family_id", 128
);

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({})", self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

// openid and unionid identify a person: keep them out of Debug output too.
impl fmt::Debug for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpenId([redacted])")
    }
}

impl fmt::Debug for UnionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnionId([redacted])")
    }
}

impl fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyId({})", self.0)
    }
}

impl FamilyId {
    /// A new random id (128 bits, hex).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

impl UserId {
    /// A new time-ordered id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

id_type!(
    /// The user's id in the operator's own systems (set by the admin API, import or the lookup
    /// hook): 1-128 printable ASCII characters, unique among users.
    ExternalId, "external_id", 128
);

id_type!(
    /// An event's id, `evt_` and 32 hex digits: the Standard Webhooks `webhook-id` of its
    /// deliveries, and the `after` cursor of `GET /admin/v1/events`.
    EventId, "event_id", 64
);

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalId({})", self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.0)
    }
}

impl EventId {
    /// A new random id.
    pub fn generate() -> Self {
        Self(format!("evt_{}", uuid::Uuid::new_v4().simple()))
    }
}
