//! Client tests against a tiny raw-HTTP mock on loopback, for the replies the simulator does
//! not give (HTML 5xx, truncated bodies, a listener that never answers) and for the exact
//! shape of each request.
//!
//! Long file: one mock and one recorder serve every endpoint's tests; split by endpoint, each
//! file would repeat them or reach into a shared module for all of its setup.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const APP: &str = "wx4f4bc4dec97d474b";
const SECRET: &str = "s3cr3t-AppSecret-value";
const LOGIN_CODE: &str = "login-code-0a1b2c";
const PHONE_CODE: &str = "phone-code-9f8e7d";
const TOKEN: &str = "ACCESS-TOKEN-zzzz";
const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const SESSION_OK: &str = r#"{"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"tiihtNczf5v6AKRyjwEUhQ==","unionid":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA"}"#;

/// Every secret the tests send; none may show up in any formatted error.
const SECRETS: [&str; 5] = [SECRET, LOGIN_CODE, PHONE_CODE, TOKEN, SESSION_KEY];

fn app() -> AppId {
    AppId::parse(APP).unwrap()
}

fn secret() -> AppSecret {
    AppSecret::new(SECRET)
}

/// A client for a loopback base URL; refuses anything else, so no test can reach WeChat.
fn client_for(base_url: &Url) -> WeChatClient {
    let host = base_url.host_str().unwrap_or_default();
    assert!(
        host == "127.0.0.1" || host == "localhost" || host == "[::1]",
        "tests must only talk to loopback, not {base_url}"
    );
    WeChatClient::new(ClientConfig {
        token_retry: RetryPolicy::immediate(3),
        use_system_proxy: false,
        ..ClientConfig::new(base_url.clone())
    })
    .unwrap()
}

/// One canned answer, for one connection.
#[derive(Clone)]
enum Reply {
    Json(&'static str),
    Status(u16, &'static str),
    /// Announces more bytes than it sends, then closes.
    Truncated(&'static str),
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    body: String,
}

struct Mock {
    url: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    /// Serves `replies` in order, one connection each (`Connection: close`).
    async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            for reply in replies {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let request = read_request(&mut stream).await;
                log.lock().unwrap().push(request);
                let (status, body, announced) = match reply {
                    Reply::Json(body) => (200, body, body.len()),
                    Reply::Status(status, body) => (status, body, body.len()),
                    Reply::Truncated(body) => (200, body, body.len() + 50),
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json; encoding=utf-8\r\n\
                     Content-Length: {announced}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn query(&self, index: usize) -> BTreeMap<String, String> {
        let seen = &self.seen()[index];
        let url = Url::parse(&format!("http://x{}", seen.target)).unwrap();
        url.query_pairs().into_owned().collect()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending a request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut words = head.split_whitespace();
    Seen {
        method: words.next().unwrap().to_owned(),
        target: words.next().unwrap().to_owned(),
        body: String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string(),
    }
}

/// Display, Debug and every `source()` of an error, in one string.
fn everything_printed(error: &(dyn std::error::Error + 'static)) -> String {
    let mut shown = format!("{error} | {error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        shown.push_str(&format!(" | {cause} | {cause:?}"));
        source = cause.source();
    }
    shown
}

fn assert_no_secrets(error: &(dyn std::error::Error + 'static)) {
    let shown = everything_printed(error);
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} leaked in: {shown}");
    }
}

#[tokio::test]
async fn code_to_session_sends_the_four_query_parameters_and_parses_the_reply() {
    let mock = Mock::start(vec![Reply::Json(SESSION_OK)]).await;
    let client = client_for(&mock.url);

    let session = client
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap();

    assert_eq!(session.openid.as_str(), "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_eq!(
        session.unionid.unwrap().as_str(),
        "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
    );
    assert_eq!(session.session_key.expose_secret(), SESSION_KEY);
    let seen = &mock.seen()[0];
    assert_eq!(seen.method, "GET");
    assert!(
        seen.target.starts_with("/sns/jscode2session?"),
        "{}",
        seen.target
    );
    let query = mock.query(0);
    assert_eq!(query["appid"], APP);
    assert_eq!(query["secret"], SECRET);
    assert_eq!(query["js_code"], LOGIN_CODE);
    assert_eq!(query["grant_type"], "authorization_code");
}

#[tokio::test]
async fn code_to_session_accepts_an_explicit_errcode_zero() {
    let reply = r#"{"errcode":0,"errmsg":"ok","openid":"o1","session_key":"k"}"#;
    let mock = Mock::start(vec![Reply::Json(reply)]).await;

    let session = client_for(&mock.url)
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap();

    assert_eq!(session.openid.as_str(), "o1");
    assert!(session.unionid.is_none());
}

#[tokio::test]
async fn a_200_with_a_nonzero_errcode_is_an_api_error_with_the_secrets_masked() {
    // A hypothetical errmsg that echoes the code: it must not survive into the error.
    let reply = r#"{"errcode":40029,"errmsg":"invalid code login-code-0a1b2c, rid: 652d44d0-1d0af18b-5b069232"}"#;
    let mock = Mock::start(vec![Reply::Json(reply)]).await;

    let error = client_for(&mock.url)
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap_err();

    let WeChatError::Api {
        endpoint,
        errcode,
        ref errmsg,
    } = error
    else {
        panic!("expected an API error, got {error:?}");
    };
    assert_eq!(
        (endpoint, errcode),
        (Endpoint::Jscode2session, Errcode::InvalidCode)
    );
    assert!(errmsg.contains("rid: 652d44d0"), "{errmsg}");
    assert_eq!(error.outcome(), Outcome::Relogin);
    assert_no_secrets(&error);
}

#[tokio::test]
async fn a_non_2xx_status_is_unavailable_and_does_not_echo_the_body() {
    let mock = Mock::start(vec![Reply::Status(
        502,
        "<html>bad gateway login-code-0a1b2c</html>",
    )])
    .await;

    let error = client_for(&mock.url)
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap_err();

    assert!(matches!(error, WeChatError::Status(502)), "{error:?}");
    assert!(error.is_unavailable());
    assert_no_secrets(&error);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_decode_error_that_does_not_echo_it() {
    let mock = Mock::start(vec![Reply::Json("session_key=tiihtNczf5v6AKRyjwEUhQ==")]).await;

    let error = client_for(&mock.url)
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap_err();

    assert!(
        matches!(error, WeChatError::Decode(DecodeError::Json { .. })),
        "{error:?}"
    );
    assert!(error.is_unavailable());
    assert_no_secrets(&error);
}

#[tokio::test]
async fn a_reply_of_the_wrong_shape_is_a_decode_error_that_does_not_quote_values() {
    let reply = r#"{"openid":"o1","session_key":["tiihtNczf5v6AKRyjwEUhQ=="]}"#;
    let mock = Mock::start(vec![Reply::Json(reply)]).await;

    let error = client_for(&mock.url)
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            WeChatError::Decode(DecodeError::Json {
                category: "data",
                ..
            })
        ),
        "{error:?}"
    );
    assert_no_secrets(&error);
}

#[tokio::test]
async fn a_truncated_body_is_unavailable() {
    let mock = Mock::start(vec![Reply::Truncated(
        r#"{"openid":"o1","session_key":"tiih"#,
    )])
    .await;

    let error = client_for(&mock.url)
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap_err();

    assert!(error.is_unavailable(), "{error:?}");
    assert_no_secrets(&error);
}

#[tokio::test]
async fn an_oversized_body_is_refused_without_being_read_whole() {
    let mock = Mock::start(vec![Reply::Json(SESSION_OK)]).await;
    let client = WeChatClient::new(ClientConfig {
        max_body_bytes: 16,
        use_system_proxy: false,
        ..ClientConfig::new(mock.url.clone())
    })
    .unwrap();

    let error = client
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            WeChatError::Decode(DecodeError::TooLarge { limit: 16 })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_without_the_url() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let client = client_for(&url);

    let login = client
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap_err();
    let token = client
        .stable_token(&app(), &secret(), false)
        .await
        .unwrap_err();
    let phone = client
        .get_user_phone_number(&WxAccessToken::new(TOKEN), PhoneCode::new(PHONE_CODE), None)
        .await
        .unwrap_err();
    let check = client
        .check_session(
            &WxAccessToken::new(TOKEN),
            &OpenId::parse("o1").unwrap(),
            &SessionKey::new(SESSION_KEY),
        )
        .await
        .unwrap_err();

    for error in [&login, &token, &check] {
        assert!(matches!(error, WeChatError::Transport(_)), "{error:?}");
        assert!(error.is_unavailable());
        assert_no_secrets(error);
    }
    assert!(
        matches!(phone, PhoneNumberError::Failed(WeChatError::Transport(_))),
        "{phone:?}"
    );
    assert_no_secrets(&phone);
    // reqwest would otherwise print the URL, query and all: prove the check can see one.
    assert!(everything_printed(&login).contains("request to wechat failed"));
    assert!(!everything_printed(&login).contains("jscode2session"));
}

#[tokio::test(start_paused = true)]
async fn a_listener_that_never_answers_times_out_without_leaking_the_url() {
    // Bound but never accepted: the kernel completes the handshake, nobody ever replies. The
    // paused clock jumps straight to the timeout once the runtime is idle.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", silent.local_addr().unwrap())).unwrap();
    let client = client_for(&url);

    let error = client
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, WeChatError::Transport(e) if e.is_timeout()),
        "{error:?}"
    );
    assert_eq!(error.metric_label(), "timeout");
    assert!(error.to_string().contains("timed out"));
    assert_no_secrets(&error);
    drop(silent);
}

#[tokio::test]
async fn stable_token_posts_json_in_normal_mode_and_reads_the_lifetime() {
    let mock = Mock::start(vec![Reply::Json(
        r#"{"access_token":"ACCESS-TOKEN-zzzz","expires_in":7200}"#,
    )])
    .await;

    let token = client_for(&mock.url)
        .stable_token(&app(), &secret(), false)
        .await
        .unwrap();

    assert_eq!(token.token.expose_secret(), TOKEN);
    assert_eq!(token.expires_in, Duration::from_secs(7200));
    let seen = &mock.seen()[0];
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/cgi-bin/stable_token")
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"grant_type":"client_credential","appid":APP,"secret":SECRET,"force_refresh":false})
    );
    assert!(!format!("{token:?}").contains(TOKEN));
}

#[tokio::test]
async fn stable_token_retries_system_errors_and_5xx_up_to_the_attempt_limit() {
    let ok = r#"{"access_token":"ACCESS-TOKEN-zzzz","expires_in":7200}"#;
    let busy = r#"{"errcode":-1,"errmsg":"system error"}"#;
    let mock = Mock::start(vec![
        Reply::Json(busy),
        Reply::Status(503, "busy"),
        Reply::Json(ok),
    ])
    .await;

    let token = client_for(&mock.url)
        .stable_token(&app(), &secret(), false)
        .await
        .unwrap();

    assert_eq!(token.token.expose_secret(), TOKEN);
    assert_eq!(mock.seen().len(), 3);
}

#[tokio::test]
async fn stable_token_gives_up_after_three_attempts() {
    let busy = r#"{"errcode":-1,"errmsg":"system error"}"#;
    let mock = Mock::start(vec![Reply::Json(busy); 4]).await;

    let error = client_for(&mock.url)
        .stable_token(&app(), &secret(), false)
        .await
        .unwrap_err();

    assert_eq!(error.errcode(), Some(Errcode::SystemError));
    assert_eq!(mock.seen().len(), 3);
}

#[tokio::test]
async fn stable_token_does_not_retry_a_config_error() {
    let mock = Mock::start(vec![
        Reply::Json(
            r#"{"errcode":40125,"errmsg":"invalid appsecret"}"#
        );
        2
    ])
    .await;

    let error = client_for(&mock.url)
        .stable_token(&app(), &secret(), false)
        .await
        .unwrap_err();

    assert_eq!(error.outcome(), Outcome::Config);
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test]
async fn a_force_refresh_is_sent_once_even_when_wechat_is_busy() {
    let busy = r#"{"errcode":-1,"errmsg":"system error"}"#;
    let mock = Mock::start(vec![Reply::Json(busy); 2]).await;

    let error = client_for(&mock.url)
        .stable_token(&app(), &secret(), true)
        .await
        .unwrap_err();

    assert_eq!(error.errcode(), Some(Errcode::SystemError));
    assert_eq!(mock.seen().len(), 1);
    assert!(mock.seen()[0].body.contains(r#""force_refresh":true"#));
}

#[tokio::test]
async fn token_uses_get_with_client_credential_and_a_wrong_secret_is_config() {
    let mock = Mock::start(vec![
        Reply::Json(r#"{"access_token":"ACCESS-TOKEN-zzzz","expires_in":7200}"#),
        Reply::Json(r#"{"errcode":40001,"errmsg":"invalid credential"}"#),
    ])
    .await;
    let client = client_for(&mock.url);

    let token = client.token(&app(), &secret()).await.unwrap();
    let error = client.token(&app(), &secret()).await.unwrap_err();

    assert_eq!(token.token.expose_secret(), TOKEN);
    assert!(mock.seen()[0].target.starts_with("/cgi-bin/token?"));
    let query = mock.query(0);
    assert_eq!(query["grant_type"], "client_credential");
    assert_eq!(
        (query["appid"].as_str(), query["secret"].as_str()),
        (APP, SECRET)
    );
    assert_eq!(
        error.outcome(),
        Outcome::Config,
        "40001 on /cgi-bin/token is a wrong secret"
    );
}

#[tokio::test]
async fn the_phone_call_puts_the_token_in_the_query_and_the_code_in_the_body() {
    let reply = r#"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":86,"watermark":{"timestamp":1637744274,"appid":"wx4f4bc4dec97d474b"}}}"#;
    let mock = Mock::start(vec![Reply::Json(reply)]).await;
    let openid = OpenId::parse("oGZUI0egBJY1zhBYw2KhdUfwVJJE").unwrap();

    let phone = client_for(&mock.url)
        .get_user_phone_number(
            &WxAccessToken::new(TOKEN),
            PhoneCode::new(PHONE_CODE),
            Some(&openid),
        )
        .await
        .unwrap();

    assert_eq!(phone.country_code, "86");
    assert_eq!(phone.phone_number, "13800138000");
    let seen = &mock.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.target,
        format!("/wxa/business/getuserphonenumber?access_token={TOKEN}")
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"code": PHONE_CODE, "openid": openid.as_str()})
    );
}

#[tokio::test]
async fn a_refused_token_hands_the_unused_phone_code_back() {
    let mock = Mock::start(vec![Reply::Json(
        r#"{"errcode":42001,"errmsg":"access_token expired"}"#,
    )])
    .await;

    let error = client_for(&mock.url)
        .get_user_phone_number(&WxAccessToken::new(TOKEN), PhoneCode::new(PHONE_CODE), None)
        .await
        .unwrap_err();

    let PhoneNumberError::TokenRefused { error, code } = error else {
        panic!("expected TokenRefused, got {error:?}");
    };
    assert_eq!(error.errcode(), Some(Errcode::AccessTokenExpired));
    assert_eq!(code.expose_secret(), PHONE_CODE);
}

#[tokio::test]
async fn a_code_error_on_the_phone_call_keeps_the_code() {
    let mock = Mock::start(vec![Reply::Json(
        r#"{"errcode":40029,"errmsg":"invalid code"}"#,
    )])
    .await;

    let error = client_for(&mock.url)
        .get_user_phone_number(&WxAccessToken::new(TOKEN), PhoneCode::new(PHONE_CODE), None)
        .await
        .unwrap_err();

    assert!(
        matches!(&error, PhoneNumberError::Failed(e) if e.errcode() == Some(Errcode::InvalidCode)),
        "{error:?}"
    );
}

#[tokio::test]
async fn check_session_signs_the_empty_string_with_the_ascii_session_key() {
    let mock = Mock::start(vec![
        Reply::Json(r#"{"errcode":0,"errmsg":"ok"}"#),
        Reply::Json(r#"{"errcode":87009,"errmsg":"invalid signature"}"#),
    ])
    .await;
    let client = client_for(&mock.url);
    let openid = OpenId::parse("o1").unwrap();
    let (token, key) = (WxAccessToken::new(TOKEN), SessionKey::new(SESSION_KEY));

    let first = client.check_session(&token, &openid, &key).await.unwrap();
    let second = client.check_session(&token, &openid, &key).await.unwrap();

    assert_eq!(
        (first, second),
        (SessionKeyCheck::Current, SessionKeyCheck::Stale)
    );
    assert!(mock.seen()[0].target.starts_with("/wxa/checksession?"));
    let query = mock.query(0);
    assert_eq!(
        query["signature"],
        "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735"
    );
    assert_eq!(query["sig_method"], "hmac_sha256");
    assert_eq!(
        (query["openid"].as_str(), query["access_token"].as_str()),
        ("o1", TOKEN)
    );
}

#[test]
fn check_encrypted_msg_sends_the_token_in_the_query_and_the_hex_hash_in_the_body() {
    let capture = Capture::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // WeChat's errmsg quoting the token, which must come out masked.
    let refused =
        r#"{"errcode":40001,"errmsg":"invalid credential, access_token is ACCESS-TOKEN-zzzz"}"#;
    assert!(refused.contains(TOKEN));
    let mut hash = [0u8; 32];
    hash[0] = 0xab;
    hash[31] = 0x0f;

    let (check, error, seen) = metrics::with_local_recorder(&capture, || {
        runtime.block_on(async {
            let mock = Mock::start(vec![
                Reply::Json(r#"{"errcode":0,"errmsg":"ok","vaild":true,"create_time":1629119445}"#),
                Reply::Json(refused),
            ])
            .await;
            let client = client_for(&mock.url);
            let token = WxAccessToken::new(TOKEN);
            let check = client.check_encrypted_msg(&token, &hash).await.unwrap();
            let error = client.check_encrypted_msg(&token, &hash).await.unwrap_err();
            (check, error, mock.seen())
        })
    });

    assert!(check.valid);
    assert_eq!(check.create_time, Some(1_629_119_445));
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].target,
        format!("/wxa/business/checkencryptedmsg?access_token={TOKEN}")
    );
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    let hex = format!("ab{}0f", "00".repeat(30));
    assert_eq!(body, serde_json::json!({ "encrypted_msg_hash": hex }));
    assert_eq!(error.outcome(), Outcome::Token);
    assert_no_secrets(&error);
    let metrics = capture.0.lock().unwrap().clone();
    for (key, count) in [
        (
            "wxlogin_wechat_calls_total{api=checkencryptedmsg,errcode=0}",
            1,
        ),
        (
            "wxlogin_wechat_calls_total{api=checkencryptedmsg,errcode=40001}",
            1,
        ),
        (
            "wxlogin_wechat_request_duration_seconds{api=checkencryptedmsg}",
            2,
        ),
    ] {
        assert_eq!(metrics.get(key), Some(&count), "{key} in {metrics:?}");
    }
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_keeps_it() {
    let mock = Mock::start(vec![Reply::Json(SESSION_OK)]).await;
    let prefixed = mock.url.join("/wechat/").unwrap();

    client_for(&prefixed)
        .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
        .await
        .unwrap();

    assert!(
        mock.seen()[0]
            .target
            .starts_with("/wechat/sns/jscode2session?")
    );
}

#[test]
fn base_urls_with_credentials_queries_or_odd_schemes_are_refused() {
    for bad in [
        "ftp://example.com",
        "http://u:p@127.0.0.1",
        "http://127.0.0.1/?a=b",
        "http://127.0.0.1/#x",
    ] {
        let config = ClientConfig::new(Url::parse(bad).unwrap());
        assert!(
            matches!(WeChatClient::new(config), Err(ClientBuildError::BaseUrl(_))),
            "{bad}"
        );
    }
}

#[test]
fn the_backoff_doubles_up_to_its_cap() {
    let policy = RetryPolicy {
        attempts: 5,
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_millis(500),
    };
    let waits: Vec<_> = (1..=4)
        .map(|retry| policy.backoff(retry).as_millis())
        .collect();
    assert_eq!(waits, [200, 400, 500, 500]);
}

/// Records every counter and histogram touch as `name{labels}` → total.
#[derive(Default)]
struct Capture(Arc<Mutex<BTreeMap<String, u64>>>);

struct Handle(String, Arc<Mutex<BTreeMap<String, u64>>>);

impl metrics::CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self.1.lock().unwrap().entry(self.0.clone()).or_default() += value;
    }
    fn absolute(&self, value: u64) {
        self.1.lock().unwrap().insert(self.0.clone(), value);
    }
}

impl metrics::HistogramFn for Handle {
    fn record(&self, _value: f64) {
        *self.1.lock().unwrap().entry(self.0.clone()).or_default() += 1;
    }
}

impl Capture {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        Arc::new(Handle(
            format!("{}{{{}}}", key.name(), labels.join(",")),
            Arc::clone(&self.0),
        ))
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

#[test]
fn calls_are_counted_by_api_and_errcode_and_timed_without_secrets_in_labels() {
    let capture = Capture::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    metrics::with_local_recorder(&capture, || {
        runtime.block_on(async {
            let mock = Mock::start(vec![
                Reply::Json(SESSION_OK),
                Reply::Json(r#"{"errcode":40163,"errmsg":"code been used"}"#),
                Reply::Status(503, "busy"),
            ])
            .await;
            let client = client_for(&mock.url);
            for _ in 0..3 {
                let _ = client
                    .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
                    .await;
            }
        });
    });

    let seen = capture.0.lock().unwrap().clone();
    let expected = [
        (
            "wxlogin_wechat_calls_total{api=jscode2session,errcode=0}",
            1,
        ),
        (
            "wxlogin_wechat_calls_total{api=jscode2session,errcode=40163}",
            1,
        ),
        (
            "wxlogin_wechat_calls_total{api=jscode2session,errcode=http_5xx}",
            1,
        ),
        (
            "wxlogin_wechat_request_duration_seconds{api=jscode2session}",
            3,
        ),
    ];
    for (key, count) in expected {
        assert_eq!(seen.get(key), Some(&count), "{key} in {seen:?}");
    }
    let all_keys = format!("{seen:?}");
    for secret in SECRETS {
        assert!(!all_keys.contains(secret));
    }
}

#[test]
fn breaker_openings_short_circuits_and_quota_errcodes_are_counted() {
    let capture = Capture::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let busy = r#"{"errcode":-1,"errmsg":"system error"}"#;
    let mut replies = vec![
        Reply::Json(r#"{"errcode":45011,"errmsg":"api minute-quota reach limit"}"#),
        Reply::Json(r#"{"errcode":45009,"errmsg":"reach max api daily quota limit"}"#),
    ];
    replies.extend(vec![Reply::Json(busy); 5]);

    let sent = metrics::with_local_recorder(&capture, || {
        runtime.block_on(async {
            let mock = Mock::start(replies).await;
            let client = client_for(&mock.url);
            let limited = client
                .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
                .await
                .unwrap_err();
            assert_eq!(limited.outcome(), Outcome::RateLimited);
            let quota = client.stable_token(&app(), &secret(), false).await;
            assert_eq!(quota.unwrap_err().outcome(), Outcome::RateLimited);
            for _ in 0..7 {
                let _ = client
                    .code_to_session(&app(), &secret(), LoginCode::new(LOGIN_CODE))
                    .await;
            }
            assert_eq!(
                client.breaker_state(Endpoint::Jscode2session),
                BreakerState::Open
            );
            mock.seen().len()
        })
    });

    assert_eq!(sent, 7, "two quota answers, five -1, then nothing");
    let seen = capture.0.lock().unwrap().clone();
    let expected = [
        (
            "wxlogin_wechat_rate_limited_total{api=jscode2session,errcode=45011}",
            1,
        ),
        (
            "wxlogin_wechat_rate_limited_total{api=stable_token,errcode=45009}",
            1,
        ),
        ("wxlogin_wechat_breaker_open_total{api=jscode2session}", 1),
        (
            "wxlogin_wechat_short_circuited_total{api=jscode2session}",
            2,
        ),
        (
            "wxlogin_wechat_calls_total{api=jscode2session,errcode=-1}",
            5,
        ),
    ];
    for (key, count) in expected {
        assert_eq!(seen.get(key), Some(&count), "{key} in {seen:?}");
    }
    assert!(
        !seen.keys().any(|key| key.contains("circuit_open")),
        "a refused call is not a call: {seen:?}"
    );
}
