//! Error messages in Simplified Chinese or English, chosen by `Accept-Language`.
//!
//! Only `error.message` changes: `code` is the contract and never does. The choice follows
//! RFC 9110 §12.5.4 with the two languages wxlogin has: each is weighted by the best
//! `q` of a range that matches it (`zh`, `zh-CN`, `zh-Hans`, `zh-SG`, `zh-Hans-*` for Chinese;
//! `en`, `en-*` for English; `*` for either), the heavier wins, a tie or no match is English.
//! Traditional Chinese (`zh-TW`, `zh-HK`, `zh-Hant`) is not Simplified: it does not match.
//! The response says which was sent in `Content-Language`.

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// A language of the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// The `Content-Language` value.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh-CN",
        }
    }
}

tokio::task_local! {
    static CURRENT: Lang;
}

/// The language of the request being handled on this task (English outside one).
pub fn current() -> Lang {
    CURRENT.try_with(|l| *l).unwrap_or(Lang::En)
}

/// Middleware: reads `Accept-Language` for the handler's errors.
pub async fn layer(req: Request, next: Next) -> Response {
    let lang = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Lang::En, negotiate);
    CURRENT.scope(lang, next.run(req)).await
}

fn is_simplified_chinese(range: &str) -> bool {
    let range = range.to_ascii_lowercase();
    let mut parts = range.split('-');
    if parts.next() != Some("zh") {
        return false;
    }
    match parts.next() {
        None => true,
        Some("cn" | "sg" | "hans" | "my") => true,
        Some(_) => false,
    }
}

/// The language an `Accept-Language` value prefers, of the two wxlogin speaks.
pub fn negotiate(header: &str) -> Lang {
    let (mut zh, mut en) = (0u16, 0u16);
    // At most 32 ranges are read: a header is attacker-controlled, the work stays bounded.
    for item in header.split(',').take(32) {
        let mut fields = item.split(';');
        let range = fields.next().unwrap_or_default().trim();
        let q = fields
            .find_map(|f| f.trim().strip_prefix("q=").map(parse_q))
            .unwrap_or(Some(1000));
        let Some(q) = q else { continue };
        if range == "*" {
            zh = zh.max(q);
            en = en.max(q);
        } else if is_simplified_chinese(range) {
            zh = zh.max(q);
        } else if range.eq_ignore_ascii_case("en")
            || range
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case("en-"))
        {
            en = en.max(q);
        }
    }
    if zh > en { Lang::Zh } else { Lang::En }
}

/// A q-value in thousandths (`0.8` → 800); `None` when malformed.
fn parse_q(text: &str) -> Option<u16> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let frac: u16 = format!("{frac:0<3}").parse().ok()?;
    let q = whole + frac;
    (q <= 1000).then_some(q)
}

/// The Simplified Chinese message of a code. Every code of the contract has one (a test
/// walks `ApiError::every_kind`).
pub fn zh(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_request" => "请求无效",
        "unknown_app" => "未知的小程序 appid",
        "login_code_invalid" => "登录凭证 code 无效或已过期，请重新调用 wx.login",
        "login_code_used" => "登录凭证 code 已被使用，请重新调用 wx.login",
        "login_blocked" => "微信拒绝了此次登录",
        "session_invalid" => "会话无效或已过期，请重新登录",
        "phone_code_invalid" => "手机号授权 code 无效或已过期，请重新点击按钮授权",
        "session_key_stale" => "加密数据与当前会话不匹配，请重新调用 wx.login 后再试",
        "payload_malformed" => "encrypted_data 或 iv 格式错误",
        "appid_mismatch" => "加密数据属于其他小程序",
        "watermark_expired" => "加密数据已过期，请重新点击按钮授权",
        "ticket_invalid" => "注册凭证无效或已过期",
        "registration_closed" => "暂不开放注册",
        "already_registered" => "该手机号已注册，请直接登录",
        "unauthenticated" => "请先登录",
        "refresh_token_invalid" => "刷新令牌无效或已过期，请重新登录",
        "refresh_token_reused" => "刷新令牌已被使用，此次登录已失效，请重新登录",
        "user_disabled" => "该账号已被停用",
        "phone_bound_elsewhere" => "该手机号的账号已绑定本小程序的其他微信账号",
        "phone_taken" => "该手机号已属于其他账号",
        "admin_unauthenticated" => "需要管理密钥",
        "admin_forbidden" => "此管理密钥无权执行该操作",
        "user_not_found" => "用户不存在",
        "external_id_taken" => "该 external_id 已属于其他用户",
        "import_invalid" => "导入数据无效",
        "image_invalid" => "文件不是符合要求的 JPEG、PNG 或 WebP 图片",
        "not_found" => "接口不存在",
        "method_not_allowed" => "该接口不支持此请求方法",
        "payload_too_large" => "请求体过大",
        "rate_limited" => "请求过于频繁，请稍后再试",
        "wechat_error" => "微信接口返回错误",
        "wechat_unavailable" => "微信服务暂时不可用，请稍后再试",
        "unavailable" => "服务暂时不可用，请稍后再试",
        "internal" => "服务器内部错误",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_simplified_chinese_by_weight() {
        for zh_first in [
            "zh",
            "zh-CN",
            "zh-Hans",
            "zh-Hans-CN",
            "ZH-cn",
            "zh-CN,zh;q=0.9,en;q=0.8",
            "fr, zh;q=0.5",
            "en;q=0.5, zh;q=0.6",
            "*;q=0.1, zh",
        ] {
            assert_eq!(negotiate(zh_first), Lang::Zh, "{zh_first}");
        }
        for english in [
            "",
            "en",
            "en-US,zh;q=0.9",
            "zh-TW",
            "zh-Hant",
            "zh-HK, en;q=0.1",
            "zh;q=0.5, en;q=0.5",
            "zh;q=0",
            "zh;q=2",
            "zh;q=abc",
            "*",
            "fr",
            "zhx",
        ] {
            assert_eq!(negotiate(english), Lang::En, "{english}");
        }
    }

    #[test]
    fn q_values_parse_strictly() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("0.8"), Some(800));
        assert_eq!(parse_q("0.125"), Some(125));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("-1"), None);
    }

    #[test]
    fn every_code_has_a_chinese_message() {
        for e in crate::error::ApiError::every_kind() {
            assert!(
                zh(e.code()).is_some(),
                "no Chinese message for {}",
                e.code()
            );
        }
    }
}
