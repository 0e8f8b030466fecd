//! The WeChat APIs the simulator counts and can fault, by their control-API names.

use std::fmt;

/// One simulated WeChat API, named as in the control API's `api` field and in stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `GET /sns/jscode2session`
    Jscode2session,
    /// `POST /wxa/business/getuserphonenumber`
    GetUserPhoneNumber,
    /// `POST /cgi-bin/stable_token`
    StableToken,
    /// `GET /cgi-bin/token`
    Token,
    /// `GET /wxa/checksession`
    CheckSession,
    /// `GET /wxa/resetusersessionkey`
    ResetUserSessionKey,
    /// `POST /wxa/business/checkencryptedmsg`
    CheckEncryptedMsg,
}

impl Api {
    /// Every API, in the order stats list them.
    pub const ALL: [Api; 7] = [
        Api::Jscode2session,
        Api::GetUserPhoneNumber,
        Api::StableToken,
        Api::Token,
        Api::CheckSession,
        Api::ResetUserSessionKey,
        Api::CheckEncryptedMsg,
    ];

    /// The control-API name, e.g. `"jscode2session"`.
    pub fn name(self) -> &'static str {
        match self {
            Api::Jscode2session => "jscode2session",
            Api::GetUserPhoneNumber => "getuserphonenumber",
            Api::StableToken => "stable_token",
            Api::Token => "token",
            Api::CheckSession => "checksession",
            Api::ResetUserSessionKey => "resetusersessionkey",
            Api::CheckEncryptedMsg => "checkencryptedmsg",
        }
    }

    /// The API with this control-API name.
    pub fn from_name(name: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|api| api.name() == name)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indexes_follow_the_listing_order() {
        for (i, api) in Api::ALL.into_iter().enumerate() {
            assert_eq!(Api::from_name(api.name()), Some(api));
            assert_eq!(api.index(), i);
        }
        assert_eq!(Api::from_name("Jscode2session"), None);
    }
}
