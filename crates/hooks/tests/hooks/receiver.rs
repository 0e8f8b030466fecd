//! A real HTTP receiver on 127.0.0.1:0 that records every request and answers from a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use url::Url;

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This status and body.
    With(u16, &'static str),
    /// Never answers.
    Stall,
    /// Answers 200 with headers, then never finishes the body.
    StallBody,
}

pub struct Receiver {
    pub base: Url,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Answers with `script` in turn, then with `then` for ever.
    pub async fn start(script: Vec<Answer>, then: Answer) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let log = Arc::clone(&received);
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let answer = script.lock().unwrap().pop_front().unwrap_or(then.clone());
            log.lock().unwrap().push(Received {
                path: uri.path().to_owned(),
                headers,
                body: body.to_vec(),
            });
            respond(answer)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: Url::parse(&format!("http://{addr}/")).unwrap(),
            received,
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn respond(answer: Answer) -> Response {
    match answer {
        Answer::With(status, body) => {
            let status = StatusCode::from_u16(status).unwrap();
            let json = [("content-type", "application/json")];
            (status, json, body).into_response()
        }
        Answer::Stall => std::future::pending().await,
        Answer::StallBody => {
            let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
            Response::new(Body::from_stream(never))
        }
    }
}

/// A loopback URL on which nothing listens.
pub fn closed_port_url() -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Url::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap()
}
