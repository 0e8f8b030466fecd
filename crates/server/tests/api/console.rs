//! The admin console (`/console/`): sign-in and its cookie, CSRF, scopes, escaping, languages
//! and the security headers. The browser walk-through is `crates/server/console-e2e/`.

use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use wxlogin_core::admin::Scope;

use crate::helpers::{Res, TestApp};

/// A browser without a browser: no redirects followed, the session cookie kept by hand.
struct Console<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookie: Option<String>,
    accept_language: Option<&'static str>,
}

fn html(res: &Res) -> &str {
    res.body.as_str().unwrap_or_default()
}

fn location(res: &Res) -> &str {
    res.headers
        .get(LOCATION)
        .map_or("", |v| v.to_str().unwrap())
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The value of the page's CSRF field.
fn csrf(page: &Res) -> String {
    let text = html(page);
    let at = text
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF field");
    let rest = &text[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl<'a> Console<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            accept_language: None,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.app.admin_addr));
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(lang) = self.accept_language {
            req = req.header("accept-language", lang);
        }
        req
    }

    async fn get(&self, path: &str) -> Res {
        self.app
            .send(self.request(reqwest::Method::GET, path))
            .await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Res {
        let req = self.request(reqwest::Method::POST, path).form(fields);
        self.app.send(req).await
    }

    async fn sign_in(&mut self, key: &str) -> Res {
        let res = self.post("/console/sign-in", &[("key", key)]).await;
        if let Some(cookie) = set_cookies(&res.headers)
            .iter()
            .find(|c| c.starts_with("wxlogin_console="))
        {
            self.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        }
        res
    }

    async fn signed_in(app: &'a TestApp, key: &str) -> Self {
        let mut console = Self::new(app);
        assert_eq!(console.sign_in(key).await.status, 303);
        console
    }
}

#[tokio::test]
async fn signing_in_sets_a_strict_httponly_cookie_that_expires_and_never_holds_the_key() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let mut console = Console::new(&app);

    let res = console.get("/console/").await;
    assert_eq!((res.status, location(&res)), (303, "/console/sign-in"));
    let page = console.get("/console/sign-in").await;
    assert_eq!(page.status, 200);
    assert!(html(&page).contains(r#"<label for="key">Admin key</label>"#));

    let res = console.sign_in(&key).await;
    assert_eq!((res.status, location(&res)), (303, "/console/"));
    let cookies = set_cookies(&res.headers);
    assert_eq!(cookies.len(), 1);
    let cookie = &cookies[0];
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    // The admin listener is on loopback here: a `Secure` cookie would not come back over http.
    assert!(!cookie.contains("Secure"));
    assert!(!cookie.contains(&key[4..]), "the cookie holds the key");

    let overview = console.get("/console/").await;
    assert_eq!(overview.status, 200);
    for nav in ["Overview", "Users", "Events", "Keys", "Sign out"] {
        assert!(html(&overview).contains(&format!(">{nav}<")), "{nav}");
    }
    assert!(!html(&overview).contains(&key));
    assert!(!html(&overview).contains("localStorage") && !html(&overview).contains("<script>"));

    app.advance(Duration::from_secs(8 * 3600));
    let res = console.get("/console/").await;
    assert_eq!((res.status, location(&res)), (303, "/console/sign-in"));
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_sign_in_attempts_are_rate_limited_per_address() {
    let app = TestApp::spawn().await;
    let mut console = Console::new(&app);
    let res = console.sign_in("wxa_not-a-key-at-all").await;
    assert_eq!(res.status, 401);
    assert!(html(&res).contains("not valid"));
    assert!(set_cookies(&res.headers).is_empty());
    assert!(console.cookie.is_none());

    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(console.sign_in("wxa_still-wrong").await.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy_and_are_never_cached_or_framed() {
    let app = TestApp::spawn().await;
    let console = Console::signed_in(&app, &app.root_key().await).await;
    for path in [
        "/console/",
        "/console/users",
        "/console/events",
        "/console/keys",
        "/console/sign-in",
    ] {
        let res = console.get(path).await;
        assert_eq!(res.status, 200, "{path}");
        let h = |name: &str| res.headers[name].to_str().unwrap().to_owned();
        assert_eq!(
            h("content-security-policy"),
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("referrer-policy"), "no-referrer");
        assert_eq!(h("cache-control"), "no-store");
        assert!(h("content-type").starts_with("text/html"));
    }
    let css = console.get("/console/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn a_change_without_the_right_csrf_token_is_refused_and_with_it_disables_the_user() {
    let app = TestApp::spawn().await;
    let account = app.register_user("alice", crate::helpers::PHONE).await;
    let console = Console::signed_in(&app, &app.root_key().await).await;
    let page = console
        .get(&format!("/console/users/{}", account.user_id))
        .await;
    let token = csrf(&page);
    let disable = format!("/console/users/{}/disable", account.user_id);

    assert_eq!(console.post(&disable, &[]).await.status, 403);
    assert_eq!(
        console.post(&disable, &[("csrf", "forged")]).await.status,
        403
    );
    let cross_site = console
        .request(reqwest::Method::POST, &disable)
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", token.as_str())]);
    assert_eq!(app.send(cross_site).await.status, 403);
    // Another session's token does not fit this one.
    let other = Console::signed_in(&app, &app.admin_key("other", &Scope::ALL).await).await;
    let other_page = other
        .get(&format!("/console/users/{}", account.user_id))
        .await;
    assert_eq!(
        console
            .post(&disable, &[("csrf", &csrf(&other_page))])
            .await
            .status,
        403
    );
    app.refresh(&account.refresh_token).await.ok();

    let res = console.post(&disable, &[("csrf", &token)]).await;
    let back = format!("/console/users/{}?done=1", account.user_id);
    assert_eq!((res.status, location(&res)), (303, back.as_str()));
}

#[tokio::test]
async fn disabling_from_the_console_refuses_the_users_next_refresh() {
    let app = TestApp::spawn().await;
    let account = app.register_user("alice", crate::helpers::PHONE).await;
    let console = Console::signed_in(&app, &app.root_key().await).await;
    let base = format!("/console/users/{}", account.user_id);
    let token = csrf(&console.get(&base).await);

    assert_eq!(
        console
            .post(&format!("{base}/disable"), &[("csrf", &token)])
            .await
            .status,
        303
    );
    app.refresh(&account.refresh_token)
        .await
        .assert_error(403, "user_disabled");
    let page = console.get(&base).await;
    assert!(html(&page).contains(">Enable<") && !html(&page).contains(">Disable<"));
    assert_eq!(
        console
            .post(&format!("{base}/enable"), &[("csrf", &token)])
            .await
            .status,
        303
    );
    let check = app.admin_key("check", &[Scope::UsersRead]).await;
    let user = app
        .admin_get(&format!("/admin/v1/users/{}", account.user_id), &check)
        .await;
    assert_eq!(user.ok()["user"]["status"], "active");
}

#[tokio::test]
async fn a_read_only_key_sees_no_change_buttons_and_the_server_refuses_the_changes() {
    let app = TestApp::spawn().await;
    let account = app.register_user("alice", crate::helpers::PHONE).await;
    let reader = app.admin_key("reader", &[Scope::UsersRead]).await;
    let console = Console::signed_in(&app, &reader).await;
    let base = format!("/console/users/{}", account.user_id);
    let page = console.get(&base).await;
    assert_eq!(page.status, 200);
    for button in [">Disable<", ">Revoke sessions<", ">Unbind<", ">Delete<"] {
        assert!(
            !html(&page).contains(button),
            "{button} shown to a read-only key"
        );
    }
    assert!(
        html(&page).contains("138****8000"),
        "the phone is masked without users:pii"
    );
    assert!(!html(&page).contains("+8613800138000"));
    let token = csrf(&page); // the sign-out form's
    for action in ["disable", "revoke", "delete"] {
        let res = console
            .post(
                &format!("{base}/{action}"),
                &[("csrf", &token), ("confirm", &account.user_id)],
            )
            .await;
        assert_eq!(res.status, 403, "{action}");
    }
    app.refresh(&account.refresh_token).await.ok();

    let keys = console.get("/console/keys").await;
    assert!(!html(&keys).contains(">Rotate<"));
    assert!(
        !html(&keys).contains(">Events<"),
        "no Events link without events:read"
    );
    assert_eq!(
        console
            .post("/console/keys/rotate", &[("csrf", &token)])
            .await
            .status,
        403
    );
    assert_eq!(console.get("/console/events").await.status, 403);
}

#[tokio::test]
async fn a_nickname_is_escaped_wherever_it_is_shown() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket_for("mallory", crate::helpers::PHONE).await;
    let nickname = "<script>alert(1)</script>";
    let account =
        crate::helpers::Account::from_tokens(app.register(&ticket, Some(nickname)).await.ok());
    let console = Console::signed_in(&app, &app.root_key().await).await;
    for path in [
        "/console/users".to_owned(),
        format!("/console/users/{}", account.user_id),
    ] {
        let page = console.get(&path).await;
        assert!(
            html(&page).contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
        assert!(!html(&page).contains(nickname), "{path}");
    }
}

#[tokio::test]
async fn the_search_box_finds_by_phone_external_id_openid_or_nickname() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", "+8613800138000").await;
    app.register_user("bob", "+8613900139000").await;
    let console = Console::signed_in(&app, &app.root_key().await).await;
    let find = |q: &'static str| {
        let console = &console;
        async move { html(&console.get(&format!("/console/users?q={q}")).await).to_owned() }
    };
    let all = find("").await;
    assert!(all.contains(">alice<") && all.contains(">bob<"));
    assert!(all.contains(r#"type="search""#) && all.contains(">Search users<"));
    for q in ["13800138000", "%2B8613800138000", "ali"] {
        let page = find(q).await;
        assert!(
            page.contains(&format!("/console/users/{}", alice.user_id)),
            "{q}"
        );
        assert!(!page.contains(">bob<"), "{q}");
    }
    assert!(find("nobody-like-this").await.contains("No user matches"));
}

#[tokio::test]
async fn delete_needs_the_user_id_typed_and_then_deletes_the_account() {
    let app = TestApp::spawn().await;
    let account = app.register_user("alice", crate::helpers::PHONE).await;
    let console = Console::signed_in(&app, &app.root_key().await).await;
    let base = format!("/console/users/{}", account.user_id);
    let token = csrf(&console.get(&base).await);

    let res = console
        .post(
            &format!("{base}/delete"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(console.get(&base).await.status, 200);
    let res = console
        .post(
            &format!("{base}/delete"),
            &[("csrf", &token), ("confirm", &account.user_id)],
        )
        .await;
    assert_eq!(
        (res.status, location(&res)),
        (303, "/console/users?done=deleted")
    );
    assert_eq!(console.get(&base).await.status, 404);
}

#[tokio::test]
async fn a_revoked_key_ends_its_console_sessions_at_once() {
    let app = TestApp::spawn().await;
    let key = app.admin_key("temp", &Scope::ALL).await;
    let console = Console::signed_in(&app, &key).await;
    assert_eq!(console.get("/console/").await.status, 200);
    use wxlogin_core::admin::AdminKeyStore as _;
    assert!(
        app.store
            .revoke_admin_key("temp", time::OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    let res = console.get("/console/").await;
    assert_eq!((res.status, location(&res)), (303, "/console/sign-in"));
}

#[tokio::test]
async fn chinese_for_a_chinese_browser_and_the_switch_is_remembered() {
    let app = TestApp::spawn().await;
    let mut console = Console::new(&app);
    console.accept_language = Some("zh-CN,zh;q=0.9,en;q=0.8");
    let page = console.get("/console/sign-in").await;
    assert!(html(&page).contains("管理密钥") && html(&page).contains(r#"lang="zh-CN""#));

    let english = console.get("/console/sign-in?lang=en").await;
    assert!(html(&english).contains(">Admin key<"));
    let remembered = set_cookies(&english.headers)
        .into_iter()
        .find(|c| c.starts_with("wxlogin_console_lang=en"))
        .expect("the choice is remembered");
    console.cookie = Some(remembered.split(';').next().unwrap().to_owned());
    assert!(html(&console.get("/console/sign-in").await).contains(">Admin key<"));

    console.accept_language = Some("en-US");
    console.cookie = None;
    assert!(html(&console.get("/console/sign-in?lang=zh").await).contains("管理密钥"));
}

#[tokio::test]
async fn overview_events_and_keys_show_what_happened() {
    let app = TestApp::spawn().await;
    let account = app.register_user("alice", crate::helpers::PHONE).await;
    let console = Console::signed_in(&app, &app.root_key().await).await;

    let overview = html(&console.get("/console/").await).to_owned();
    assert!(overview.contains("<svg") && overview.contains("Registrations: 1"));
    assert!(
        overview.contains("jscode2session"),
        "WeChat health from the metrics"
    );
    assert!(overview.contains("local (no Redis configured)"));

    let events = html(
        &console
            .get(&format!("/console/events?user={}", account.user_id))
            .await,
    )
    .to_owned();
    assert!(events.contains("user.registered") && events.contains("identity.bound"));
    let first = events.find("/console/events/evt_").unwrap();
    let id: String = events[first + "/console/events/".len()..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let detail = html(&console.get(&format!("/console/events/{id}")).await).to_owned();
    assert!(detail.contains("&quot;user_id&quot;") || detail.contains("\"user_id\""));

    let keys = console.get("/console/keys").await;
    assert!(html(&keys).contains("current"));
    let res = console
        .post("/console/keys/rotate", &[("csrf", &csrf(&keys))])
        .await;
    assert_eq!(
        (res.status, location(&res)),
        (303, "/console/keys?done=rotated")
    );
    assert!(html(&console.get("/console/keys").await).contains(">next<"));
}

#[tokio::test]
async fn off_loopback_the_session_cookie_is_secure() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        // Every interface: not loopback, as a private-network admin listener is.
        tweak: Some(std::sync::Arc::new(|raw| raw.admin.host = "0.0.0.0".into())),
        ..crate::helpers::Options::default()
    })
    .await;
    let key = app.root_key().await;
    let port = app.admin_addr.rsplit(':').next().unwrap();
    let req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("http://127.0.0.1:{port}/console/sign-in"))
        .form(&[("key", key.as_str())]);
    let res = app.send(req).await;
    assert_eq!(res.status, 303);
    let cookies = set_cookies(&res.headers);
    assert!(cookies[0].ends_with("; Secure"), "{cookies:?}");
}

#[tokio::test]
async fn a_dead_letter_shows_on_the_overview_and_is_redelivered_from_its_page() {
    use wxlogin_core::events::{DeliveryResult, EventStore as _, EventType, Subscription};
    let app = TestApp::spawn().await;
    let subscription = Subscription {
        endpoint: "wh_0123456789abcdef".into(),
        types: EventType::ALL.to_vec(),
    };
    let now = time::OffsetDateTime::now_utc();
    // An endpoint receives no history: it is seen once before the user registers.
    app.store
        .fan_out(std::slice::from_ref(&subscription), now, 100)
        .await
        .unwrap();
    app.register_user("alice", crate::helpers::PHONE).await;
    app.store.fan_out(&[subscription], now, 100).await.unwrap();
    let later = now + Duration::from_secs(60);
    let claimed = app
        .store
        .claim_deliveries(later, Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    let dead = &claimed[0];
    let result = DeliveryResult::Dead {
        error: "HTTP 500".into(),
    };
    app.store
        .finish_delivery(&dead.endpoint, &dead.event.id, &result, later)
        .await
        .unwrap();

    let console = Console::signed_in(&app, &app.root_key().await).await;
    let overview = console.get("/console/").await;
    assert!(html(&overview).contains(r#"href="/console/events?delivery=dead""#));
    let list = console.get("/console/events?delivery=dead").await;
    assert!(html(&list).contains(&format!("/console/events/{}", dead.event.id)));
    let page = console
        .get(&format!("/console/events/{}", dead.event.id))
        .await;
    assert!(html(&page).contains("HTTP 500") && html(&page).contains(">Redeliver<"));
    let action = format!("/console/events/{}/redeliver", dead.event.id);
    let res = console.post(&action, &[("csrf", &csrf(&page))]).await;
    assert_eq!(res.status, 303);
    let page = console
        .get(&format!("/console/events/{}", dead.event.id))
        .await;
    assert!(html(&page).contains(">pending<") && !html(&page).contains(">Redeliver<"));
}
