//! WeChat's JSON shapes, as sent and received, and their conversion to our types.
//!
//! Reply structs ignore unknown fields (an old `jscode2session` reply carried `expires_in`).
//! Nothing here derives `Debug`: these hold secrets in plain `String`s for the moment between
//! parsing and wrapping.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use wxlogin_core::ids::{AppId, OpenId, UnionId};
use wxlogin_core::secret::{SessionKey, WxAccessToken};
use wxlogin_core::wechat::{WxPhone, WxSession};

use crate::error::DecodeError;

/// The `errcode`/`errmsg` pair every reply may carry. Absent `errcode` means success.
#[derive(Deserialize)]
pub(crate) struct Envelope {
    #[serde(default)]
    pub errcode: Option<i64>,
    #[serde(default)]
    pub errmsg: Option<String>,
}

/// `POST /cgi-bin/stable_token` body.
#[derive(Serialize)]
pub(crate) struct StableTokenRequest<'a> {
    pub grant_type: &'static str,
    pub appid: &'a str,
    pub secret: &'a str,
    pub force_refresh: bool,
}

/// `POST /wxa/business/getuserphonenumber` body.
#[derive(Serialize)]
pub(crate) struct PhoneNumberRequest<'a> {
    pub code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<&'a str>,
}

/// `POST /wxa/business/checkencryptedmsg` body.
#[derive(Serialize)]
pub(crate) struct CheckEncryptedMsgRequest<'a> {
    /// Lowercase hex SHA-256 of the ciphertext bytes.
    pub encrypted_msg_hash: &'a str,
}

/// `checkencryptedmsg`'s answer. WeChat spells the verdict `vaild` (a documented typo); a
/// corrected `valid` is read too, in case WeChat ever fixes it.
#[derive(Deserialize)]
pub(crate) struct EncryptedMsgReply {
    #[serde(default)]
    vaild: Option<bool>,
    #[serde(default)]
    valid: Option<bool>,
    #[serde(default)]
    create_time: Option<i64>,
}

impl EncryptedMsgReply {
    pub fn into_check(self) -> Result<EncryptedMsgCheck, DecodeError> {
        let valid = match (self.vaild, self.valid) {
            (Some(a), Some(b)) if a != b => return Err(DecodeError::InvalidField("vaild")),
            (Some(v), _) | (None, Some(v)) => v,
            (None, None) => return Err(DecodeError::InvalidField("vaild")),
        };
        Ok(EncryptedMsgCheck {
            valid,
            // Some replies may carry 0 for "none"; only a real time is reported.
            create_time: self.create_time.filter(|&t| t > 0),
        })
    }
}

/// WeChat's verdict on a legacy `encryptedData` (`checkencryptedmsg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedMsgCheck {
    /// WeChat produced this ciphertext within the last 3 days.
    pub valid: bool,
    /// When WeChat produced it (unix seconds), if it said.
    pub create_time: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct SessionReply {
    openid: String,
    session_key: String,
    #[serde(default)]
    unionid: Option<String>,
}

impl SessionReply {
    pub fn into_session(self) -> Result<WxSession, DecodeError> {
        if self.session_key.is_empty() {
            return Err(DecodeError::InvalidField("session_key"));
        }
        let unionid = match self.unionid {
            // Some SDKs have seen `"unionid":""` from unbound apps: treat as absent.
            Some(raw) if !raw.is_empty() => {
                Some(UnionId::parse(raw).map_err(|_| DecodeError::InvalidField("unionid"))?)
            }
            _ => None,
        };
        Ok(WxSession {
            openid: OpenId::parse(self.openid).map_err(|_| DecodeError::InvalidField("openid"))?,
            unionid,
            session_key: SessionKey::new(self.session_key),
        })
    }
}

/// A fetched access token and how long WeChat says it lives.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token; prints as `WxAccessToken([redacted])`.
    pub token: WxAccessToken,
    /// `expires_in` as sent (at most 7200 s; at least 300 s from `stable_token`).
    pub expires_in: Duration,
}

#[derive(Deserialize)]
pub(crate) struct TokenReply {
    access_token: String,
    expires_in: u64,
}

impl TokenReply {
    pub fn into_token(self) -> Result<AccessToken, DecodeError> {
        if self.access_token.is_empty() {
            return Err(DecodeError::InvalidField("access_token"));
        }
        if self.expires_in == 0 {
            return Err(DecodeError::InvalidField("expires_in"));
        }
        Ok(AccessToken {
            token: WxAccessToken::new(self.access_token),
            expires_in: Duration::from_secs(self.expires_in),
        })
    }
}

#[derive(Deserialize)]
pub(crate) struct PhoneReply {
    phone_info: PhoneInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo {
    phone_number: String,
    pure_phone_number: String,
    #[serde(deserialize_with = "string_or_number")]
    country_code: String,
    watermark: Watermark,
}

#[derive(Deserialize)]
struct Watermark {
    timestamp: i64,
    appid: String,
}

impl PhoneReply {
    pub fn into_phone(self) -> Result<WxPhone, DecodeError> {
        let info = self.phone_info;
        if info.pure_phone_number.is_empty() {
            return Err(DecodeError::InvalidField("purePhoneNumber"));
        }
        // Checked for shape only: the adapter has no reason to refuse a billed answer over it.
        AppId::parse(info.watermark.appid.as_str())
            .map_err(|_| DecodeError::InvalidField("watermark.appid"))?;
        Ok(WxPhone {
            phone_number: info.phone_number,
            pure_phone_number: info.pure_phone_number,
            country_code: info.country_code,
            watermark_appid: info.watermark.appid,
            watermark_timestamp: info.watermark.timestamp,
        })
    }
}

/// `countryCode`: the field table says string, the doc example shows the number `86`.
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Text(text) => Ok(text),
        Raw::Number(number) => Ok(number.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(json: &str) -> Result<WxPhone, DecodeError> {
        serde_json::from_str::<PhoneReply>(json)?.into_phone()
    }

    const STRING_CC: &str = r#"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":1637744274,"appid":"wx4f4bc4dec97d474b"}}}"#;
    const NUMBER_CC: &str = r#"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":86,"watermark":{"timestamp":1637744274,"appid":"wx4f4bc4dec97d474b"}}}"#;

    #[test]
    fn country_code_as_a_string_stays_a_string() {
        let phone = phone(STRING_CC).unwrap();
        assert_eq!(phone.country_code, "86");
        assert_eq!(phone.pure_phone_number, "13800138000");
        assert_eq!(phone.watermark_appid, "wx4f4bc4dec97d474b");
        assert_eq!(phone.watermark_timestamp, 1_637_744_274);
    }

    #[test]
    fn country_code_as_a_number_becomes_the_same_string() {
        assert_eq!(phone(NUMBER_CC).unwrap(), phone(STRING_CC).unwrap());
    }

    #[test]
    fn country_code_of_another_type_is_a_decode_error() {
        let json = STRING_CC.replace(r#""86""#, "[86]");
        assert!(matches!(
            phone(&json),
            Err(DecodeError::Json {
                category: "data",
                ..
            })
        ));
        let json = STRING_CC.replace(r#""86""#, "-86");
        assert!(phone(&json).is_err());
    }

    #[test]
    fn a_phone_reply_without_phone_info_is_a_decode_error() {
        assert!(phone(r#"{"errcode":0,"errmsg":"ok"}"#).is_err());
    }

    #[test]
    fn a_session_reply_ignores_unknown_fields_and_may_lack_unionid() {
        let json = r#"{"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ==","expires_in":7200}"#;
        let session = serde_json::from_str::<SessionReply>(json)
            .unwrap()
            .into_session()
            .unwrap();
        assert_eq!(session.openid.as_str(), "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        assert!(session.unionid.is_none());
        assert_eq!(
            session.session_key.expose_secret(),
            "tiihtNczf5v6AKRyjwEUhQ=="
        );
    }

    #[test]
    fn a_session_reply_reads_lowercase_unionid_only() {
        let lower = r#"{"openid":"o1","session_key":"k","unionid":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA"}"#;
        let session = serde_json::from_str::<SessionReply>(lower)
            .unwrap()
            .into_session()
            .unwrap();
        assert_eq!(
            session.unionid.unwrap().as_str(),
            "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
        );
        // camelCase belongs to decrypted legacy data, not to jscode2session.
        let camel = r#"{"openId":"o1","session_key":"k"}"#;
        assert!(serde_json::from_str::<SessionReply>(camel).is_err());
    }

    #[test]
    fn an_empty_openid_or_session_key_is_refused() {
        let no_openid = r#"{"openid":"","session_key":"k"}"#;
        let err = serde_json::from_str::<SessionReply>(no_openid)
            .unwrap()
            .into_session();
        assert_eq!(err.unwrap_err(), DecodeError::InvalidField("openid"));
        let no_key = r#"{"openid":"o1","session_key":""}"#;
        let err = serde_json::from_str::<SessionReply>(no_key)
            .unwrap()
            .into_session();
        assert_eq!(err.unwrap_err(), DecodeError::InvalidField("session_key"));
    }

    #[test]
    fn a_token_reply_needs_a_token_and_a_lifetime() {
        let ok = serde_json::from_str::<TokenReply>(r#"{"access_token":"T","expires_in":7200}"#);
        assert_eq!(
            ok.unwrap().into_token().unwrap().expires_in,
            Duration::from_secs(7200)
        );
        let zero = serde_json::from_str::<TokenReply>(r#"{"access_token":"T","expires_in":0}"#);
        assert!(zero.unwrap().into_token().is_err());
        assert!(serde_json::from_str::<TokenReply>(r#"{"expires_in":7200}"#).is_err());
    }

    fn check(json: &str) -> Result<EncryptedMsgCheck, DecodeError> {
        serde_json::from_str::<EncryptedMsgReply>(json)?.into_check()
    }

    #[test]
    fn the_encrypted_msg_verdict_is_read_from_wechats_vaild_spelling() {
        let ok = check(r#"{"errcode":0,"errmsg":"ok","vaild":true,"create_time":1629119445}"#);
        assert_eq!(
            ok.unwrap(),
            EncryptedMsgCheck {
                valid: true,
                create_time: Some(1_629_119_445),
            }
        );
        let no = check(r#"{"errcode":0,"errmsg":"ok","vaild":false}"#).unwrap();
        assert_eq!(
            no,
            EncryptedMsgCheck {
                valid: false,
                create_time: None,
            }
        );
    }

    #[test]
    fn the_encrypted_msg_verdict_is_also_read_from_a_corrected_valid() {
        let fixed = check(r#"{"errcode":0,"errmsg":"ok","valid":true,"create_time":0}"#);
        assert_eq!(
            fixed.unwrap(),
            EncryptedMsgCheck {
                valid: true,
                create_time: None,
            }
        );
        assert!(check(r#"{"vaild":true,"valid":true}"#).unwrap().valid);
    }

    #[test]
    fn an_encrypted_msg_reply_without_a_clear_verdict_is_a_decode_error() {
        let missing = check(r#"{"errcode":0,"errmsg":"ok"}"#);
        assert_eq!(missing.unwrap_err(), DecodeError::InvalidField("vaild"));
        let torn = check(r#"{"vaild":true,"valid":false}"#);
        assert_eq!(torn.unwrap_err(), DecodeError::InvalidField("vaild"));
        assert!(check(r#"{"vaild":"true"}"#).is_err());
    }

    #[test]
    fn the_phone_request_omits_openid_when_absent() {
        let body = serde_json::to_string(&PhoneNumberRequest {
            code: "c",
            openid: None,
        })
        .unwrap();
        assert_eq!(body, r#"{"code":"c"}"#);
    }
}
