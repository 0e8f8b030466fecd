//! WeChat's errcodes (`docs/wechat.md` §9) and what each one means for us.
//!
//! Only the number is matched: `errmsg` carries a fresh request id on every reply, and its text
//! changes over time.

use std::fmt;

/// The WeChat server API a call went to. Used for metrics labels and for the one errcode
/// (40001) whose meaning depends on the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /sns/jscode2session`.
    Jscode2session,
    /// `POST /cgi-bin/stable_token`.
    StableToken,
    /// `GET /cgi-bin/token`.
    Token,
    /// `POST /wxa/business/getuserphonenumber`.
    GetUserPhoneNumber,
    /// `GET /wxa/checksession`.
    CheckSession,
    /// `POST /wxa/business/checkencryptedmsg`.
    CheckEncryptedMsg,
}

impl Endpoint {
    /// The label used in metrics (and by the simulator's stats).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jscode2session => "jscode2session",
            Self::StableToken => "stable_token",
            Self::Token => "token",
            Self::GetUserPhoneNumber => "getuserphonenumber",
            Self::CheckSession => "checksession",
            Self::CheckEncryptedMsg => "checkencryptedmsg",
        }
    }

    /// The path under the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Self::Jscode2session => "/sns/jscode2session",
            Self::StableToken => "/cgi-bin/stable_token",
            Self::Token => "/cgi-bin/token",
            Self::GetUserPhoneNumber => "/wxa/business/getuserphonenumber",
            Self::CheckSession => "/wxa/checksession",
            Self::CheckEncryptedMsg => "/wxa/business/checkencryptedmsg",
        }
    }

    /// Whether this call fetches an access token (rather than using one).
    pub fn fetches_token(self) -> bool {
        matches!(self, Self::StableToken | Self::Token)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller should do about an errcode (`docs/wechat.md` §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The client needs a fresh code (`wx.login` or another phone-button tap), or a fresh
    /// session_key.
    Relogin,
    /// WeChat is busy: `wechat_unavailable` (503). Never resend a code, though.
    RetryLater,
    /// WeChat's own rate limit: `rate_limited` (429).
    RateLimited,
    /// The user is refused: `login_blocked` (403).
    Denied,
    /// The access token was refused: drop it (by value), fetch a new one, retry once.
    Token,
    /// wxlogin is misconfigured (or quota is gone): `wechat_error` (502) and an operator alert.
    /// Errcodes we do not know land here too: nothing automatic can fix them.
    Config,
}

macro_rules! errcodes {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// A WeChat errcode: every row of the table in `docs/wechat.md` §9.3, plus [`Errcode::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Errcode {
            $($(#[$doc])* $name,)*
            /// Any errcode not in the table (0 included: success is not an errcode here).
            Other(i64),
        }

        impl Errcode {
            /// Every named errcode, in table order (not [`Errcode::Other`]).
            pub const ALL: &'static [Errcode] = &[$(Errcode::$name,)*];

            /// The variant for a number WeChat sent.
            pub fn from_code(code: i64) -> Self {
                match code {
                    $($code => Self::$name,)*
                    other => Self::Other(other),
                }
            }

            /// The number WeChat uses.
            pub fn code(self) -> i64 {
                match self {
                    $(Self::$name => $code,)*
                    Self::Other(code) => code,
                }
            }
        }
    };
}

errcodes! {
    /// `system error`: WeChat is busy.
    SystemError = -1,
    /// `invalid credential`: a token-taking call got a bad or superseded access token; on
    /// `/cgi-bin/token` it means a wrong AppSecret.
    InvalidCredential = 40001,
    /// `invalid grant_type`.
    InvalidGrantType = 40002,
    /// `invalid openid`.
    InvalidOpenid = 40003,
    /// `invalid appid`.
    InvalidAppid = 40013,
    /// `invalid access_token`.
    InvalidAccessToken = 40014,
    /// `invalid code`: unknown, expired, or another app's code.
    InvalidCode = 40029,
    /// `invalid url`.
    InvalidUrl = 40066,
    /// `invalid appsecret`.
    InvalidAppsecret = 40125,
    /// `code been used`: a login code exchanged twice.
    CodeBeenUsed = 40163,
    /// `invalid ip ..., not in whitelist`.
    IpNotWhitelisted = 40164,
    /// `code blocked`: a high-risk user.
    CodeBlocked = 40226,
    /// The AppSecret is frozen.
    AppsecretFrozen = 40243,
    /// `access_token missing`.
    AccessTokenMissing = 41001,
    /// `appid missing`.
    AppidMissing = 41002,
    /// `missing code`.
    MissingCode = 41008,
    /// `access_token expired`.
    AccessTokenExpired = 42001,
    /// `reach max api daily quota limit`.
    DailyQuotaExceeded = 45009,
    /// `api minute-quota reach limit`.
    MinuteQuotaExceeded = 45011,
    /// `data format error`.
    DataFormatError = 47001,
    /// `api unauthorized`: the app lacks the permission.
    ApiUnauthorized = 48001,
    /// `invalid sig_method`.
    InvalidSigMethod = 87008,
    /// `invalid signature`: wrong signature, or the session_key expired or was replaced.
    InvalidSignature = 87009,
}

impl Errcode {
    /// The outcome on a call that *uses* an access token (or needs none). See
    /// [`Errcode::outcome_on`] for the endpoint-aware version.
    pub fn outcome(self) -> Outcome {
        match self {
            Self::SystemError => Outcome::RetryLater,
            Self::InvalidCredential
            | Self::InvalidAccessToken
            | Self::AccessTokenMissing
            | Self::AccessTokenExpired => Outcome::Token,
            Self::InvalidOpenid
            | Self::InvalidCode
            | Self::CodeBeenUsed
            | Self::MissingCode
            | Self::InvalidSignature => Outcome::Relogin,
            Self::CodeBlocked => Outcome::Denied,
            // The daily quota too: the client should back off (until WeChat's day turns), not
            // see a generic upstream error; core sets a Retry-After to Beijing midnight.
            Self::MinuteQuotaExceeded | Self::DailyQuotaExceeded => Outcome::RateLimited,
            Self::InvalidGrantType
            | Self::InvalidAppid
            | Self::InvalidUrl
            | Self::InvalidAppsecret
            | Self::IpNotWhitelisted
            | Self::AppsecretFrozen
            | Self::AppidMissing
            | Self::DataFormatError
            | Self::ApiUnauthorized
            | Self::InvalidSigMethod
            | Self::Other(_) => Outcome::Config,
        }
    }

    /// The outcome on a given endpoint: a token error while *fetching* a token (40001 on
    /// `/cgi-bin/token` is a wrong AppSecret) cannot be cured by fetching another, so it is
    /// [`Outcome::Config`].
    pub fn outcome_on(self, endpoint: Endpoint) -> Outcome {
        match self.outcome() {
            Outcome::Token if endpoint.fetches_token() => Outcome::Config,
            outcome => outcome,
        }
    }
}

impl fmt::Display for Errcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_errcode_round_trips_through_its_number() {
        for &errcode in Errcode::ALL {
            assert_eq!(Errcode::from_code(errcode.code()), errcode);
            assert!(!matches!(errcode, Errcode::Other(_)));
        }
        assert_eq!(
            Errcode::ALL.len(),
            23,
            "one variant per row of the table in docs/wechat.md §9.3"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_number_round_trips(code in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(Errcode::from_code(code).code(), code);
        }
    }

    #[test]
    fn unknown_numbers_and_zero_become_other() {
        assert_eq!(Errcode::from_code(99999), Errcode::Other(99999));
        assert_eq!(Errcode::from_code(0), Errcode::Other(0));
        assert_eq!(Errcode::Other(12345).code(), 12345);
    }

    #[test]
    fn the_master_table_maps_each_errcode_to_its_outcome() {
        let table: &[(i64, Outcome)] = &[
            (-1, Outcome::RetryLater),
            (40001, Outcome::Token),
            (40002, Outcome::Config),
            (40003, Outcome::Relogin),
            (40013, Outcome::Config),
            (40014, Outcome::Token),
            (40029, Outcome::Relogin),
            (40066, Outcome::Config),
            (40125, Outcome::Config),
            (40163, Outcome::Relogin),
            (40164, Outcome::Config),
            (40226, Outcome::Denied),
            (40243, Outcome::Config),
            (41001, Outcome::Token),
            (41002, Outcome::Config),
            (41008, Outcome::Relogin),
            (42001, Outcome::Token),
            (45009, Outcome::RateLimited),
            (45011, Outcome::RateLimited),
            (47001, Outcome::Config),
            (48001, Outcome::Config),
            (87008, Outcome::Config),
            (87009, Outcome::Relogin),
            (12345, Outcome::Config),
        ];
        assert_eq!(table.len(), Errcode::ALL.len() + 1);
        for &(code, outcome) in table {
            assert_eq!(
                Errcode::from_code(code).outcome(),
                outcome,
                "errcode {code}"
            );
        }
    }

    #[test]
    fn a_token_error_while_fetching_a_token_is_a_config_problem() {
        for code in [40001, 40014, 41001, 42001] {
            let errcode = Errcode::from_code(code);
            assert_eq!(
                errcode.outcome_on(Endpoint::GetUserPhoneNumber),
                Outcome::Token
            );
            assert_eq!(errcode.outcome_on(Endpoint::Token), Outcome::Config);
            assert_eq!(errcode.outcome_on(Endpoint::StableToken), Outcome::Config);
        }
        assert_eq!(
            Errcode::SystemError.outcome_on(Endpoint::StableToken),
            Outcome::RetryLater
        );
    }
}
