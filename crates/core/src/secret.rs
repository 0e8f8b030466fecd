//! Secret values that must never be printed, logged or serialised by accident.
//!
//! Each type wraps [`secrecy::SecretString`]: `Debug` prints `Type([redacted])`, there is no
//! `Display` or `Serialize`, and the value comes out only through `expose_secret()`, so a grep
//! finds every place that touches one.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a raw value. Validation, where any, is the caller's job.
            pub fn new(raw: impl Into<String>) -> Self {
                Self(SecretString::from(raw.into()))
            }

            /// The raw value. Every call site is a place where the secret leaves its box.
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_string!(
    /// The code from `wx.login()`. WeChat accepts it once, so it is not `Clone`: handing it to
    /// the exchange moves it, and a second use does not compile.
    LoginCode
);
secret_string!(
    /// The code from the getPhoneNumber button (`e.detail.code`). Single use, like [`LoginCode`].
    PhoneCode
);
secret_string!(
    /// An app's AppSecret.
    AppSecret
);
secret_string!(
    /// A WeChat access_token (the server-to-server credential, not one of our tokens).
    WxAccessToken
);
secret_string!(
    /// The session_key from code2Session: base64 text of 16 bytes. Kept server-side only,
    /// encrypted at rest.
    SessionKey
);

impl Clone for AppSecret {
    fn clone(&self) -> Self {
        Self::new(self.expose_secret())
    }
}

impl Clone for WxAccessToken {
    fn clone(&self) -> Self {
        Self::new(self.expose_secret())
    }
}

impl Clone for SessionKey {
    fn clone(&self) -> Self {
        Self::new(self.expose_secret())
    }
}

impl PartialEq for WxAccessToken {
    fn eq(&self, other: &Self) -> bool {
        // Tokens are compared to decide "is the cached token still the one that was refused";
        // a timing leak here would reveal nothing an attacker could use, but be tidy anyway.
        subtle::ConstantTimeEq::ct_eq(
            self.expose_secret().as_bytes(),
            other.expose_secret().as_bytes(),
        )
        .into()
    }
}

impl PartialEq for SessionKey {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(
            self.expose_secret().as_bytes(),
            other.expose_secret().as_bytes(),
        )
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let shown = format!(
            "{:?} {:?} {:?} {:?} {:?}",
            LoginCode::new("code-123"),
            PhoneCode::new("phone-456"),
            AppSecret::new("hunter2"),
            WxAccessToken::new("ACCESS_TOKEN_XYZ"),
            SessionKey::new("tiihtNczf5v6AKRyjwEUhQ=="),
        );
        for secret in [
            "code-123",
            "phone-456",
            "hunter2",
            "ACCESS_TOKEN_XYZ",
            "tiihtNczf5v6AKRyjwEUhQ==",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("LoginCode([redacted])"));
    }
}
