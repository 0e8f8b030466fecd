//! [`ScriptedWeChat`]: WeChat's server API answering from a script.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use wxlogin_core::ids::{AppId, OpenId, UnionId};
use wxlogin_core::secret::{LoginCode, PhoneCode, SessionKey};
use wxlogin_core::wechat::{WeChatApi, WeChatFailure, WxPhone, WxSession};

/// What WeChat answers for a login code that was already exchanged.
const CODE_USED: WeChatFailure = WeChatFailure::CodeUsed { errcode: 40163 };
/// What WeChat answers for an unknown code (also a phone code used before).
const CODE_INVALID: WeChatFailure = WeChatFailure::CodeInvalid { errcode: 40029 };

/// A [`WeChatApi`] that answers each login and phone code as the test scripted it.
///
/// Codes are single use, as WeChat's are: a code is answered from the script once; after a
/// successful exchange the same code gets `40163` (login) or `40029` (phone), and a code never
/// scripted gets `40029`. A scripted failure stays scripted (WeChat repeats a refusal). Every
/// call is counted, per kind and per code, so a test can assert that WeChat was asked once.
/// `checkencryptedmsg` answers [`ScriptedWeChat::set_payloads_issued`] (`true` at first).
#[derive(Default)]
pub struct ScriptedWeChat {
    script: Mutex<Script>,
}

#[derive(Default)]
struct Script {
    logins: HashMap<String, Result<WxSession, WeChatFailure>>,
    phones: HashMap<String, Result<WxPhone, WeChatFailure>>,
    /// Codes already exchanged with success.
    spent: Vec<String>,
    login_calls: HashMap<String, usize>,
    phone_calls: HashMap<String, usize>,
    /// The openid each phone-code call passed, in order.
    phone_openids: Vec<Option<OpenId>>,
    check_calls: usize,
    payloads_not_issued: bool,
}

impl std::fmt::Debug for ScriptedWeChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Codes and session_keys are secrets, even in a fake: counts only.
        let script = self.script.lock().unwrap();
        f.debug_struct("ScriptedWeChat")
            .field("login_codes", &script.logins.len())
            .field("phone_codes", &script.phones.len())
            .finish_non_exhaustive()
    }
}

/// What `jscode2session` answers for a user: `openid`, maybe `unionid`, and `session_key`
/// (base64 of 16 bytes, as WeChat sends it).
pub fn session(openid: &str, unionid: Option<&str>, session_key: &str) -> WxSession {
    WxSession {
        openid: OpenId::parse(openid).expect("openid"),
        unionid: unionid.map(|u| UnionId::parse(u).expect("unionid")),
        session_key: SessionKey::new(session_key),
    }
}

/// What `getuserphonenumber` answers: `pure` in country `country_code`, watermarked for
/// `appid` at `timestamp`.
pub fn phone(appid: &str, country_code: &str, pure: &str, timestamp: i64) -> WxPhone {
    let phone_number = if country_code == "86" {
        pure.to_owned()
    } else {
        format!("+{country_code}{pure}")
    };
    WxPhone {
        phone_number,
        pure_phone_number: pure.to_owned(),
        country_code: country_code.to_owned(),
        watermark_appid: appid.to_owned(),
        watermark_timestamp: timestamp,
    }
}

impl ScriptedWeChat {
    /// An empty script: every code is unknown to WeChat.
    pub fn new() -> Self {
        Self::default()
    }

    /// Login code `code` exchanges for `answer` (once).
    pub fn login(&self, code: &str, answer: WxSession) {
        let mut script = self.script.lock().unwrap();
        script.logins.insert(code.to_owned(), Ok(answer));
    }

    /// Login code `code` is refused with `failure` (every time).
    pub fn login_fails(&self, code: &str, failure: WeChatFailure) {
        let mut script = self.script.lock().unwrap();
        script.logins.insert(code.to_owned(), Err(failure));
    }

    /// Phone code `code` exchanges for `answer` (once).
    pub fn phone(&self, code: &str, answer: WxPhone) {
        let mut script = self.script.lock().unwrap();
        script.phones.insert(code.to_owned(), Ok(answer));
    }

    /// Phone code `code` is refused with `failure` (every time).
    pub fn phone_fails(&self, code: &str, failure: WeChatFailure) {
        let mut script = self.script.lock().unwrap();
        script.phones.insert(code.to_owned(), Err(failure));
    }

    /// What `checkencryptedmsg` answers from now on: whether WeChat issued a legacy payload.
    pub fn set_payloads_issued(&self, issued: bool) {
        self.script.lock().unwrap().payloads_not_issued = !issued;
    }

    /// `jscode2session` calls, all codes together.
    pub fn login_calls(&self) -> usize {
        self.script.lock().unwrap().login_calls.values().sum()
    }

    /// `jscode2session` calls with `code`.
    pub fn login_calls_with(&self, code: &str) -> usize {
        let script = self.script.lock().unwrap();
        script.login_calls.get(code).copied().unwrap_or(0)
    }

    /// `getuserphonenumber` calls, all codes together.
    pub fn phone_calls(&self) -> usize {
        self.script.lock().unwrap().phone_calls.values().sum()
    }

    /// The openid each `getuserphonenumber` call passed for WeChat to check, in order.
    pub fn phone_call_openids(&self) -> Vec<Option<OpenId>> {
        self.script.lock().unwrap().phone_openids.clone()
    }

    /// `checkencryptedmsg` calls.
    pub fn check_calls(&self) -> usize {
        self.script.lock().unwrap().check_calls
    }
}

/// Answers `code` from `answers` once: the first success spends it.
fn answer<T: Clone>(
    answers: &HashMap<String, Result<T, WeChatFailure>>,
    spent: &mut Vec<String>,
    code: &str,
    spent_failure: WeChatFailure,
) -> Result<T, WeChatFailure> {
    if spent.iter().any(|c| c == code) {
        return Err(spent_failure);
    }
    let answer = answers.get(code).cloned().unwrap_or(Err(CODE_INVALID))?;
    spent.push(code.to_owned());
    Ok(answer)
}

#[async_trait]
impl WeChatApi for ScriptedWeChat {
    async fn code_to_session(
        &self,
        _app: &AppId,
        code: LoginCode,
    ) -> Result<WxSession, WeChatFailure> {
        let code = code.expose_secret();
        let mut script = self.script.lock().unwrap();
        *script.login_calls.entry(code.to_owned()).or_default() += 1;
        let Script { logins, spent, .. } = &mut *script;
        answer(logins, spent, code, CODE_USED)
    }

    async fn phone_number(
        &self,
        _app: &AppId,
        code: PhoneCode,
        openid: Option<&OpenId>,
    ) -> Result<WxPhone, WeChatFailure> {
        let code = code.expose_secret();
        let mut script = self.script.lock().unwrap();
        *script.phone_calls.entry(code.to_owned()).or_default() += 1;
        script.phone_openids.push(openid.cloned());
        let Script { phones, spent, .. } = &mut *script;
        answer(phones, spent, code, CODE_INVALID)
    }

    async fn check_encrypted_msg(
        &self,
        _app: &AppId,
        _ciphertext_sha256: [u8; 32],
    ) -> Result<bool, WeChatFailure> {
        let mut script = self.script.lock().unwrap();
        script.check_calls += 1;
        Ok(!script.payloads_not_issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppId {
        AppId::parse("wx1").unwrap()
    }

    #[tokio::test]
    async fn a_login_code_answers_once_then_says_it_was_used() {
        let wechat = ScriptedWeChat::new();
        wechat.login(
            "c1",
            session("o-1", Some("u-1"), "a2V5a2V5a2V5a2V5a2V5aw=="),
        );

        let first = wechat
            .code_to_session(&app(), LoginCode::new("c1"))
            .await
            .unwrap();
        let again = wechat
            .code_to_session(&app(), LoginCode::new("c1"))
            .await
            .unwrap_err();
        let unknown = wechat
            .code_to_session(&app(), LoginCode::new("c2"))
            .await
            .unwrap_err();

        assert_eq!(first.openid.as_str(), "o-1");
        assert_eq!(first.unionid.unwrap().as_str(), "u-1");
        assert_eq!(again, CODE_USED);
        assert_eq!(unknown, CODE_INVALID);
        assert_eq!(
            (wechat.login_calls(), wechat.login_calls_with("c1")),
            (3, 2)
        );
    }

    #[tokio::test]
    async fn a_scripted_refusal_repeats_and_phone_codes_are_single_use_too() {
        let wechat = ScriptedWeChat::new();
        wechat.login_fails("busy", WeChatFailure::Unavailable { errcode: Some(-1) });
        wechat.phone("p1", phone("wx1", "86", "13800138000", 1_800_000_000));
        let openid = OpenId::parse("o-1").unwrap();

        for _ in 0..2 {
            let refused = wechat.code_to_session(&app(), LoginCode::new("busy")).await;
            assert_eq!(
                refused.unwrap_err(),
                WeChatFailure::Unavailable { errcode: Some(-1) }
            );
        }
        let phone = wechat
            .phone_number(&app(), PhoneCode::new("p1"), Some(&openid))
            .await
            .unwrap();
        let again = wechat
            .phone_number(&app(), PhoneCode::new("p1"), None)
            .await;

        assert_eq!(phone.pure_phone_number, "13800138000");
        assert_eq!(again.unwrap_err(), CODE_INVALID);
        assert_eq!(wechat.phone_calls(), 2);
        assert_eq!(wechat.phone_call_openids(), [Some(openid), None]);
    }

    #[tokio::test]
    async fn checkencryptedmsg_answers_as_set_and_counts() {
        let wechat = ScriptedWeChat::new();
        assert!(wechat.check_encrypted_msg(&app(), [0; 32]).await.unwrap());
        wechat.set_payloads_issued(false);
        assert!(!wechat.check_encrypted_msg(&app(), [0; 32]).await.unwrap());
        assert_eq!(wechat.check_calls(), 2);
    }
}
