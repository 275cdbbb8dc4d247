//! Fake upstreams for tests: an in-process actix-web server on 127.0.0.1:0 that records every
//! request and answers from a script (then a default answer).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A query parameter, URL-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// How the fake answers a request: status and JSON body.
pub type Responder = Arc<dyn Fn(&Received) -> (u16, serde_json::Value) + Send + Sync>;

#[derive(Clone)]
pub struct Fake {
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<(u16, serde_json::Value)>>>,
}

struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<(u16, serde_json::Value)>>>,
    fallback: Responder,
    delay: Duration,
}

impl Fake {
    /// A fake answering `fallback(request)` whenever its script is empty.
    pub fn start(fallback: Responder) -> Fake {
        Fake::start_slow(fallback, Duration::ZERO)
    }

    /// Like `start`, but every answer comes after `delay`.
    pub fn start_slow(fallback: Responder, delay: Duration) -> Fake {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let shared = web::Data::new(Shared {
            received: received.clone(),
            script: script.clone(),
            fallback,
            delay,
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || App::new().app_data(shared.clone()).default_service(web::to(handle)))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        tokio::spawn(server);
        Fake {
            base: format!("http://127.0.0.1:{port}"),
            received,
            script,
        }
    }

    /// The next answers, in order, before the fallback applies again.
    pub fn script(&self, answers: Vec<(u16, serde_json::Value)>) {
        self.script.lock().unwrap().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (or panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < timeout,
                "expected {n} requests, got {}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let received = Received {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    shared.received.lock().unwrap().push(received.clone());
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let scripted = shared.script.lock().unwrap().pop_front();
    let (status, json) = scripted.unwrap_or_else(|| (shared.fallback)(&received));
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json)
}

/// A Telegram that accepts everything.
pub fn telegram_ok() -> Responder {
    Arc::new(|_| (200, serde_json::json!({"ok": true, "result": {"message_id": 1}})))
}

/// An address where nothing listens (connection refused).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
