//! `TestSim`: a simulator on 127.0.0.1:0 and a client for it.

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wxlogin_wechat_sim::{Sim, SimApp, SimConfig, SimHandle, spawn};

/// Bound to the Open Platform account "acct-1".
pub const APP_A: &str = "wx00000000000000aa";
pub const SECRET_A: &str = "secret-a";
/// Also bound to "acct-1".
pub const APP_B: &str = "wx00000000000000bb";
pub const SECRET_B: &str = "secret-b";
/// Not bound: no unionid.
pub const APP_C: &str = "wx00000000000000cc";
pub const SECRET_C: &str = "secret-c";

pub fn test_config() -> SimConfig {
    SimConfig::with_apps(vec![
        SimApp::new(APP_A, SECRET_A).bound_to("acct-1"),
        SimApp::new(APP_B, SECRET_B).bound_to("acct-1"),
        SimApp::new(APP_C, SECRET_C),
    ])
}

pub fn secret_of(appid: &str) -> &'static str {
    match appid {
        APP_A => SECRET_A,
        APP_B => SECRET_B,
        APP_C => SECRET_C,
        _ => "unknown-app-secret",
    }
}

pub struct TestSim {
    pub handle: SimHandle,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestSim {
    pub async fn spawn() -> Self {
        Self::spawn_with(test_config()).await
    }

    pub async fn spawn_with(config: SimConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        // Frozen: boundary checks must not depend on how fast a loaded machine runs them.
        let sim = Sim::new(config);
        sim.clock().freeze();
        let handle = spawn(listener, sim, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        // Never route loopback through a proxy from the environment.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Self {
            handle,
            http,
            shutdown: Some(tx),
        }
    }

    pub fn sim(&self) -> &Sim {
        self.handle.sim()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.handle.base_url(), path_and_query)
    }

    /// Triggers graceful shutdown and waits for the server task to end.
    pub async fn shut_down(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.wait().await.unwrap();
    }

    pub async fn get(&self, path_and_query: &str) -> Value {
        let res = self
            .http
            .get(self.url(path_and_query))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()["content-type"],
            "application/json; encoding=utf-8"
        );
        res.json().await.unwrap()
    }

    pub async fn post(&self, path_and_query: &str, body: &Value) -> Value {
        let res = self
            .http
            .post(self.url(path_and_query))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// A control-API call with a raw body; returns the status and the JSON body.
    pub async fn control(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("control reply is not JSON ({e}): {text:?}"));
        (status, json)
    }

    pub async fn control_ok(&self, path: &str, body: Value) -> Value {
        let (status, json) = self
            .control(Method::POST, path, Some(&body.to_string()))
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json
    }

    pub async fn login_code(&self, appid: &str, user: &str) -> String {
        let reply = self
            .control_ok(
                "/_sim/v1/login_codes",
                json!({"appid": appid, "user": user}),
            )
            .await;
        reply["code"].as_str().unwrap().to_owned()
    }

    pub async fn phone_code(&self, appid: &str, user: &str, phone: &str) -> String {
        let body = json!({"appid": appid, "user": user, "phone": phone});
        let reply = self.control_ok("/_sim/v1/phone_codes", body).await;
        reply["code"].as_str().unwrap().to_owned()
    }

    pub async fn jscode2session(&self, appid: &str, code: &str) -> Value {
        let secret = secret_of(appid);
        self.get(&format!(
            "/sns/jscode2session?appid={appid}&secret={secret}&js_code={code}&grant_type=authorization_code"
        ))
        .await
    }

    /// Mints a login code and exchanges it: the user's fresh session.
    pub async fn log_in(&self, appid: &str, user: &str) -> Value {
        let code = self.login_code(appid, user).await;
        let session = self.jscode2session(appid, &code).await;
        assert_eq!(errcode(&session), 0, "{session}");
        session
    }

    pub async fn token(&self, appid: &str) -> Value {
        let secret = secret_of(appid);
        self.get(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"
        ))
        .await
    }

    pub async fn stable_token(&self, appid: &str, force_refresh: bool) -> Value {
        let body = json!({
            "grant_type": "client_credential", "appid": appid, "secret": secret_of(appid),
            "force_refresh": force_refresh,
        });
        self.post("/cgi-bin/stable_token", &body).await
    }

    pub async fn access_token(&self, appid: &str) -> String {
        let reply = self.stable_token(appid, false).await;
        reply["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn phone_number(&self, token: &str, body: Value) -> Value {
        self.post(
            &format!("/wxa/business/getuserphonenumber?access_token={token}"),
            &body,
        )
        .await
    }

    pub async fn checksession(&self, token: &str, openid: &str, signature: &str) -> Value {
        self.get(&format!(
            "/wxa/checksession?access_token={token}&openid={openid}&signature={signature}&sig_method=hmac_sha256"
        ))
        .await
    }

    pub async fn stats(&self) -> Value {
        let (status, json) = self.control(Method::GET, "/_sim/v1/stats", None).await;
        assert_eq!(status, StatusCode::OK);
        json
    }
}

pub fn errcode(reply: &Value) -> i64 {
    reply["errcode"].as_i64().unwrap_or(0)
}

pub fn str_field<'a>(reply: &'a Value, name: &str) -> &'a str {
    reply[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name:?} in {reply}"))
}

/// The login-state signature, computed independently: lowercase hex HMAC-SHA256 of "",
/// keyed by the ASCII bytes of the base64 session_key.
pub fn signature(session_key: &str) -> String {
    let mac = Hmac::<Sha256>::new_from_slice(session_key.as_bytes()).unwrap();
    hex::encode(mac.finalize().into_bytes())
}
