//! WeChat's error replies: errmsg texts (`docs/wechat.md` §9.3) and the `rid` suffix.

use rand::Rng;
use serde::Serialize;

/// The errmsg WeChat sends with an errcode, before the `, rid: ...` suffix.
pub(crate) fn errmsg(errcode: i64) -> &'static str {
    match errcode {
        -1 => "system error",
        0 => "ok",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40066 => "invalid url",
        40097 => "invalid args",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40164 => "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist",
        40226 => "code blocked",
        40243 => "appsecret frozen",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        42001 => "access_token expired",
        43002 => "require POST method",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit, must slower, retry next minute",
        47001 => "data format error",
        48001 => "api unauthorized",
        87008 => "invalid sig_method",
        87009 => "invalid signature",
        _ => "simulated error",
    }
}

/// A request id shaped like WeChat's: the unix time in hex, then two random words.
pub(crate) fn rid(now_unix: i64) -> String {
    let mut rng = rand::thread_rng();
    // Truncation to 32 bits is how WeChat's first word looks (652d44d0 = Oct 2023).
    let time_word = now_unix as u32;
    format!(
        "{time_word:08x}-{:08x}-{:08x}",
        rng.r#gen::<u32>(),
        rng.r#gen::<u32>()
    )
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errcode: i64,
    errmsg: &'a str,
}

/// `{"errcode":N,"errmsg":"<text>, rid: <rid>"}` with a fresh rid.
pub(crate) fn error_body(errcode: i64, now_unix: i64) -> Vec<u8> {
    let errmsg = format!("{}, rid: {}", errmsg(errcode), rid(now_unix));
    serde_json::to_vec(&ErrorBody {
        errcode,
        errmsg: &errmsg,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_rid(rid: &str) -> bool {
        let words: Vec<&str> = rid.split('-').collect();
        words.len() == 3
            && words.iter().all(|w| {
                w.len() == 8
                    && w.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            })
    }

    #[test]
    fn error_bodies_carry_the_section_9_text_and_a_fresh_rid() {
        let body: serde_json::Value =
            serde_json::from_slice(&error_body(40163, 1_697_465_552)).unwrap();
        assert_eq!(body["errcode"], 40163);
        let errmsg = body["errmsg"].as_str().unwrap();
        let rid = errmsg.strip_prefix("code been used, rid: ").unwrap();
        assert!(is_rid(rid), "{rid}");
        assert!(rid.starts_with("652d44d0-"));
        assert_ne!(error_body(40163, 0), error_body(40163, 0));
    }

    #[test]
    fn unknown_errcodes_still_get_a_text() {
        assert_eq!(errmsg(12345), "simulated error");
        assert_eq!(errmsg(-1), "system error");
    }
}
