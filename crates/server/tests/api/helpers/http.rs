//! Talking to a [`TestApp`] over HTTP: requests that record each body for the leak scan,
//! the steps of the flow (login, phone, register, refresh), and the admin API.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{APP, APP_SECRET, Account, Res, TestApp};

impl TestApp {
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        bearer: Option<&str>,
    ) -> Res {
        let mut req = self.http.request(method, format!("{}{path}", self.addr));
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Res {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        assert!(
            status < 500 || status == 502 || status == 503,
            "unexpected {status}: {text}"
        );
        self.bodies.lock().unwrap().push(text.clone());
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Res {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.request(reqwest::Method::POST, path, Some(&body), None)
            .await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Res {
        self.request(reqwest::Method::GET, path, None, bearer).await
    }

    pub async fn login(&self, code: &str) -> Res {
        self.post("/v1/login", json!({ "code": code, "appid": APP }))
            .await
    }

    /// `wx.login` then `/v1/login`; returns the session.
    pub async fn session_for(&self, user: &str) -> String {
        let res = self.login(&self.login_code(user)).await;
        self.note_session_key(APP, user);
        res.ok()["session"].as_str().unwrap().to_owned()
    }

    pub async fn phone_by_code(&self, session: &str, code: &str) -> Res {
        self.post("/v1/phone", json!({ "session": session, "code": code }))
            .await
    }

    pub async fn phone_by_data(&self, session: &str, (data, iv): &(String, String)) -> Res {
        self.post(
            "/v1/phone",
            json!({ "session": session, "encrypted_data": data, "iv": iv }),
        )
        .await
    }

    pub async fn register(&self, ticket: &str, nickname: Option<&str>) -> Res {
        self.post(
            "/v1/register",
            json!({ "registration_ticket": ticket, "nickname": nickname }),
        )
        .await
    }

    pub async fn refresh(&self, token: &str) -> Res {
        self.post("/v1/token/refresh", json!({ "refresh_token": token }))
            .await
    }

    pub async fn me(&self, token: &str) -> Res {
        self.get("/v1/me", Some(token)).await
    }

    /// A new user up to the registration page: login, phone code; returns the ticket.
    pub async fn ticket_for(&self, user: &str, phone: &str) -> String {
        let session = self.session_for(user).await;
        let res = self
            .phone_by_code(&session, &self.phone_code(user, phone))
            .await;
        assert_eq!(res.ok()["registered"], false);
        res.body["registration_ticket"].as_str().unwrap().to_owned()
    }

    /// A new user all the way to registered: login, phone code, register.
    pub async fn register_user(&self, user: &str, phone: &str) -> Account {
        let ticket = self.ticket_for(user, phone).await;
        Account::from_tokens(self.register(&ticket, Some(user)).await.ok())
    }

    /// The WeChat access_token the server currently holds (stable_token returns the same
    /// token while it is valid), so the scan can look for it.
    pub async fn note_wechat_access_token(&self) {
        let res = self
            .http
            .post(format!("{}/cgi-bin/stable_token", self.sim_url))
            .json(&json!({ "grant_type": "client_credential", "appid": APP, "secret": APP_SECRET }))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        if let Some(token) = body["access_token"].as_str() {
            self.remember_secret(token);
        }
    }

    /// A new admin key with these scopes, as `wxlogin admin-keys create` makes one.
    pub async fn admin_key(&self, name: &str, scopes: &[wxlogin_core::admin::Scope]) -> String {
        use wxlogin_core::admin::AdminKeyStore as _;
        let (key, record) = wxlogin_core::service::admin::new_admin_key(
            name,
            scopes.to_vec(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert!(self.store.insert_admin_key(&record).await.unwrap());
        self.remember_secret(&key);
        key
    }

    /// An admin key with every scope.
    pub async fn root_key(&self) -> String {
        self.admin_key("root", &wxlogin_core::admin::Scope::ALL)
            .await
    }

    /// A request to the admin listener.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Res {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.admin_addr));
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        self.send(req).await
    }

    /// `GET` on the admin listener.
    pub async fn admin_get(&self, path: &str, key: &str) -> Res {
        self.admin(reqwest::Method::GET, path, None, Some(key))
            .await
    }
}
