//! Exchanges: encrypted secrets, key rotation, strategy segregation, pre-trade/exit checks,
//! prepare, and test orders against local fake Binance testnet / IBKR bridge servers.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const API_KEY: &str = "AKIAbinanceKEY123";
const API_SECRET: &str = "s3cr3t-binance-secret-VALUE";
const HEX_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A user made directly in the database (the auth routes are not this suite's subject),
/// with a token signed by the daemon's key.
fn user(db: &TestDb, email: &str, role: &str) -> (String, String) {
    if db.sql("SELECT to_regclass('users') IS NULL") == "t" {
        let out = cli(&db.url, &["migrate"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let id = db.sql(&format!(
        "WITH u AS (INSERT INTO users (email, password_hash, role) VALUES ('{email}', 'x', '{role}') RETURNING id) \
         INSERT INTO trading_state (user_id) SELECT id FROM u RETURNING user_id"
    ));
    let keys = crypto_saas::auth::jwt::JwtKeys::new(&secrecy::SecretString::from(SECRET_KEY.to_string()));
    (id, keys.issue(email, role))
}

/// JSON parsed from text, so numbers keep the digits written (`2.50` stays `2.50`).
fn raw(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn hmac_hex(secret: &str, msg: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

fn audit_count(db: &TestDb, user_id: &str, action: &str) -> i64 {
    db.sql(&format!(
        "SELECT count(*) FROM audit_events WHERE user_id = '{user_id}' AND action = '{action}'"
    ))
    .parse()
    .unwrap()
}

async fn save_secret(d: &Daemon, token: &str, exchange: &str, key: &str, secret: &str) -> (u16, Value) {
    call(
        d,
        Method::POST,
        "/users/exchange-secrets",
        token,
        Some(json!({"exchange": exchange, "api_key": key, "api_secret": secret})),
    )
    .await
}

// ---------------------------------------------------------------- fake upstream

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// (status, body, delay) the next requests get.
    reply: Arc<Mutex<(u16, String, Duration)>>,
    base: String,
}

impl Fake {
    async fn start() -> Fake {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new((200u16, "{}".to_string(), Duration::ZERO)));
        let data = (seen.clone(), reply.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .default_service(web::to(record))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Fake {
            seen,
            reply,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn respond(&self, status: u16, body: &str, delay: Duration) {
        *self.reply.lock().unwrap() = (status, body.to_string(), delay);
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type FakeData = web::Data<(Arc<Mutex<Vec<Seen>>>, Arc<Mutex<(u16, String, Duration)>>)>;

async fn record(req: HttpRequest, body: web::Bytes, data: FakeData) -> HttpResponse {
    data.0.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    });
    let (status, text, delay) = data.1.lock().unwrap().clone();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(text)
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn secrets_are_sealed_listed_and_deleted_without_leaking() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, token) = user(&db, "trader.secrets@desk.io", "trader");

    let (status, body) = save_secret(&d, &token, "binance", API_KEY, API_SECRET).await;
    assert_eq!(
        (status, body.clone()),
        (201, json!({"message": "Encrypted credentials saved for BINANCE"}))
    );
    // upsert: a second save replaces the first
    let (status, _) = save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
    assert_eq!(status, 201);
    let (status, body) = save_secret(&d, &token, "KRAKEN", API_KEY, API_SECRET).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "exchange"]));

    let (status, body) = call(&d, Method::GET, "/users/exchange-secrets", &token, None).await;
    assert_eq!(status, 200);
    let list = body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["exchange"], "BINANCE");
    assert_eq!(list[0]["configured"], true);
    assert!(list[0]["updated_at"].is_string());
    let text = body.to_string();
    assert!(!text.contains(API_KEY) && !text.contains(API_SECRET));

    // what is at rest: tagged ciphertexts, never the plaintext
    let stored = db.sql(&format!(
        "SELECT key_id || '|' || api_key_enc || '|' || api_secret_enc FROM exchange_secrets WHERE user_id = '{uid}'"
    ));
    assert!(stored.starts_with("k1|v1:k1:"), "{stored}");
    assert!(!stored.contains(API_KEY) && !stored.contains(API_SECRET));
    let audits = db.sql("SELECT string_agg(coalesce(details, ''), ' ') FROM audit_events");
    assert!(!audits.contains(API_KEY) && !audits.contains(API_SECRET), "{audits}");
    assert_eq!(audit_count(&db, &uid, "exchange.secret.upsert"), 2);

    let (status, body) = call(&d, Method::DELETE, "/users/exchange-secrets/KRAKEN", &token, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("exchange must be BINANCE or IBKR"))
    );
    let (status, body) = call(&d, Method::DELETE, "/users/exchange-secrets/ibkr", &token, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("No credentials found for this exchange"))
    );
    let (status, body) = call(&d, Method::DELETE, "/users/exchange-secrets/binance", &token, None).await;
    assert_eq!(
        (status, body),
        (200, json!({"message": "Credentials deleted for BINANCE"}))
    );
    assert_eq!(audit_count(&db, &uid, "exchange.secret.delete"), 1);
    let (_, body) = call(&d, Method::GET, "/users/exchange-secrets", &token, None).await;
    assert_eq!(body, json!([]));

    // a tampered ciphertext is a clean error, without plaintext
    save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
    db.sql(&format!(
        "UPDATE exchange_secrets SET api_secret_enc = api_key_enc WHERE user_id = '{uid}'"
    ));
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/prepare",
        &token,
        Some(json!({"exchange": "BINANCE", "symbol": "BTCUSDT", "side": "BUY", "qty": 1})),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.to_string().contains(API_KEY) && !body.to_string().contains(API_SECRET));
}

// ---------------------------------------------------------------- segregation

#[tokio::test]
async fn assignments_and_segregation() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (admin_id, admin) = user(&db, "admin.seg@desk.io", "admin");
    let (uid, token) = user(&db, "Trader.Seg@desk.io", "trader");

    let assign = |body: Value, tok: String| {
        let d = &d;
        async move { call(d, Method::POST, "/ops/strategy/assign", &tok, Some(body)).await }
    };
    let (status, body) = assign(
        json!({"user_email": "trader.seg@desk.io", "exchange": "BINANCE", "strategy_id": "SWING_V1"}),
        token.clone(),
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Insufficient permissions"))
    );
    let (status, body) = assign(
        json!({"user_email": "nobody@desk.io", "exchange": "BINANCE", "strategy_id": "SWING_V1"}),
        admin.clone(),
    )
    .await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("User not found")));
    for bad in [
        json!({"user_email": "trader.seg@desk.io", "exchange": "KRAKEN", "strategy_id": "SWING_V1"}),
        json!({"user_email": "trader.seg@desk.io", "exchange": "BINANCE", "strategy_id": "SCALP"}),
    ] {
        let (status, _) = assign(bad, admin.clone()).await;
        assert_eq!(status, 422);
    }
    let (status, body) = assign(
        json!({"user_email": "trader.seg@desk.io", "exchange": "binance", "strategy_id": "intraday_v1", "enabled": false}),
        admin.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"user_id": uid, "user_email": "Trader.Seg@desk.io", "exchange": "BINANCE", "strategy_id": "INTRADAY_V1", "enabled": false})
    );
    assert_eq!(audit_count(&db, &admin_id, "strategy.assignment.updated"), 1);
    let details = db.sql("SELECT details FROM audit_events WHERE action = 'strategy.assignment.updated'");
    assert!(
        details.contains("Trader.Seg@desk.io") && details.contains(&uid.to_string()),
        "{details}"
    );
    assign(
        json!({"user_email": "trader.seg@desk.io", "exchange": "IBKR", "strategy_id": "SWING_V1"}),
        admin.clone(),
    )
    .await;
    let (status, body) = call(&d, Method::GET, "/ops/strategy/assignments", &admin, None).await;
    assert_eq!(status, 200);
    let exchanges: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["exchange"].as_str().unwrap())
        .collect();
    assert_eq!(exchanges, ["BINANCE", "IBKR"]);

    // every named route answers 403 on the disabled exchange, with its audit
    let disabled = "Exchange BINANCE is disabled for this user";
    let (status, body) = save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
    assert_eq!((status, body["detail"].as_str()), (403, Some(disabled)));
    assert_eq!(audit_count(&db, &uid, "exchange.secret.upsert.blocked"), 1);
    assert_eq!(db.sql("SELECT count(*) FROM exchange_secrets"), "0");
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 1});
    let exit = json!({"symbol": "BTCUSDT", "side": "BUY", "entry_price": 100, "current_price": 100, "stop_loss": 90, "take_profit": 120});
    for (path, body) in [
        (
            "/ops/execution/prepare",
            json!({"exchange": "BINANCE", "symbol": "BTCUSDT", "side": "BUY", "qty": 1}),
        ),
        ("/ops/execution/binance/test-order", order.clone()),
        ("/ops/execution/exit/binance/check", exit.clone()),
    ] {
        let (status, answer) = call(&d, Method::POST, path, &token, Some(body)).await;
        assert_eq!((status, answer["detail"].as_str()), (403, Some(disabled)), "{path}");
    }
    assert_eq!(audit_count(&db, &uid, "execution.blocked.exchange_disabled"), 3);

    // the pre-trade check does not 403: it reports the disabled strategy
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/pretrade/binance/check",
        &token,
        Some(order.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["passed"], false);
    assert_eq!(body["strategy_id"], "INTRADAY_V1");
    assert_eq!(body["strategy_source"], "assignment");
    assert_eq!(body["checks"][0]["name"], "strategy_enabled");
    assert_eq!(body["checks"][0]["passed"], false);

    // the other exchange is unaffected
    let (status, _) = save_secret(&d, &token, "IBKR", API_KEY, API_SECRET).await;
    assert_eq!(status, 201);
    let (status, body) = call(&d, Method::POST, "/ops/execution/exit/ibkr/check", &token, Some(exit)).await;
    assert_eq!((status, body["strategy_source"].as_str()), (200, Some("assignment")));
    // re-enabling lifts the block
    assign(
        json!({"user_email": "trader.seg@desk.io", "exchange": "BINANCE", "strategy_id": "SWING_V1", "enabled": true}),
        admin.clone(),
    )
    .await;
    let (status, _) = save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
    assert_eq!(status, 201);
}

// ---------------------------------------------------------------- checks and prepare

#[tokio::test]
async fn pretrade_exit_and_prepare() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, token) = user(&db, "trader.checks@desk.io", "trader");

    let req = json!({"symbol": "btc/usdt", "side": "buy", "qty": 0.5, "trend_tf": "4h", "signal_tf": "1h", "timing_tf": "15m"});
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/pretrade/binance/check",
        &token,
        Some(req.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "strategy_enabled",
            "exchange_secret_configured",
            "daily_stop_not_reached",
            "max_trades_not_reached",
            "max_open_positions_not_reached",
            "cooldown_passed",
            "strategy_rr_min",
            "strategy_trend_tf",
            "strategy_signal_tf",
            "strategy_timing_tf",
            "liq_volume_24h",
            "liq_spread_bps",
            "liq_slippage_bps"
        ]
    );
    assert_eq!(body["passed"], false, "no credentials yet");
    assert_eq!(body["strategy_source"], "default");
    assert_eq!(body["strategy_id"], "SWING_V1");
    assert_eq!(body["risk_profile"], "model2_conservador_productivo");
    let failed: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["exchange_secret_configured"]);
    assert_eq!(audit_count(&db, &uid, "pretrade.check.blocked"), 1);

    save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
    let (_, body) = call(
        &d,
        Method::POST,
        "/ops/execution/pretrade/binance/check",
        &token,
        Some(req),
    )
    .await;
    assert_eq!(body["passed"], true, "{body}");
    assert_eq!(audit_count(&db, &uid, "pretrade.check.passed"), 1);
    let (_, body) = call(
        &d,
        Method::POST,
        "/ops/execution/pretrade/ibkr/check",
        &token,
        Some(json!({"symbol": "AAPL", "side": "BUY", "qty": 1, "in_rth": false})),
    )
    .await;
    let ibkr: Vec<(String, bool)> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .skip(10)
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        ibkr,
        [
            ("ibkr_in_rth".to_string(), false),
            ("ibkr_no_macro_block".to_string(), true),
            ("ibkr_no_earnings_24h".to_string(), true)
        ]
    );

    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/exit/ibkr/check",
        &token,
        Some(
            json!({"symbol": "AAPL", "side": "sell", "entry_price": 100, "current_price": 106, "stop_loss": 105,
                    "take_profit": 90, "opened_minutes": 480, "earnings_within_24h": true}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["should_exit"], true);
    assert_eq!(
        body["reasons"],
        json!(["stop_loss_hit", "time_limit_reached", "event_risk_exit"])
    );
    assert_eq!(body["checks"].as_array().unwrap().len(), 6);
    assert_eq!(audit_count(&db, &uid, "exit.check.triggered"), 1);
    let (_, body) = call(
        &d,
        Method::POST,
        "/ops/execution/exit/binance/check",
        &token,
        Some(json!({"symbol": "BTCUSDT", "side": "BUY", "entry_price": 100, "current_price": 101, "stop_loss": 95, "take_profit": 110})),
    )
    .await;
    assert_eq!(
        (body["should_exit"].as_bool(), body["reasons"].clone()),
        (Some(false), json!([]))
    );
    assert_eq!(audit_count(&db, &uid, "exit.check.hold"), 1);

    // prepare: masked key and the signature preview over "EX|SYMBOL|SIDE|qty", qty as given
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/prepare",
        &token,
        Some(raw(
            r#"{"exchange": "binance", "symbol": "btcusdt", "side": "buy", "qty": 0.010}"#,
        )),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "dry_run");
    assert_eq!(body["exchange"], "BINANCE");
    assert_eq!(body["symbol"], "BTCUSDT");
    assert_eq!(body["side"], "BUY");
    assert_eq!(body["api_key_masked"], "AKI***123");
    let expected = &hmac_hex(API_SECRET, b"BINANCE|BTCUSDT|BUY|0.010")[..12];
    assert_eq!(body["signature_preview"], expected);
    assert!(!body.to_string().contains(API_SECRET));
    assert_eq!(audit_count(&db, &uid, "execution.prepare"), 1);
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/prepare",
        &token,
        Some(json!({"exchange": "IBKR", "symbol": "AAPL", "side": "BUY", "qty": 1})),
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Missing credentials for IBKR"))
    );
}

// ---------------------------------------------------------------- Binance

#[tokio::test]
async fn binance_test_order_is_signed_and_failures_are_502() {
    let fake = Fake::start().await;
    let db = TestDb::new();
    let d = Daemon::start_with(
        &db,
        &[
            ("BINANCE_TESTNET_BASE_URL", fake.base.as_str()),
            ("EXCHANGE_HTTP_TIMEOUT_MS", "400"),
        ],
    );
    let (uid, token) = user(&db, "trader.binance@desk.io", "trader");
    let order = json!({"symbol": "btcusdt", "side": "sell", "qty": 0.0015});
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/binance/test-order",
        &token,
        Some(order.clone()),
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Missing credentials for BINANCE"))
    );
    save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;

    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/binance/test-order",
        &token,
        Some(order.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"exchange": "BINANCE", "mode": "testnet_order_test", "symbol": "BTCUSDT", "side": "SELL", "qty": 0.0015, "sent": true})
    );
    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/v3/order/test"));
    assert_eq!(r.header("X-MBX-APIKEY"), Some(API_KEY));
    // what Binance verifies: the HMAC of everything before `&signature=`
    let (signed, signature) = r.query.rsplit_once("&signature=").expect("signature last");
    assert_eq!(signature, hmac_hex(API_SECRET, signed.as_bytes()));
    let params: Vec<(&str, &str)> = signed.split('&').map(|p| p.split_once('=').unwrap()).collect();
    assert_eq!(
        &params[..4],
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quantity", "0.0015")
        ]
    );
    let (name, ts) = params[4];
    let ts: i64 = ts.parse().unwrap();
    assert_eq!(name, "timestamp");
    assert!((chrono::Utc::now().timestamp_millis() - ts).abs() < 60_000);
    assert_eq!(audit_count(&db, &uid, "execution.binance.test_order.success"), 1);

    // upstream 4xx / 5xx → 502 with the status and body
    for (code, text) in [
        (400, r#"{"code":-1013,"msg":"Filter failure: LOT_SIZE"}"#),
        (503, "unavailable"),
    ] {
        fake.respond(code, text, Duration::ZERO);
        let (status, body) = call(
            &d,
            Method::POST,
            "/ops/execution/binance/test-order",
            &token,
            Some(order.clone()),
        )
        .await;
        assert_eq!(status, 502);
        assert_eq!(
            body["detail"].as_str().unwrap(),
            format!("Binance test order failed: Binance testnet error {code}: {text}")
        );
    }
    // a secret echoed by the upstream is scrubbed
    fake.respond(400, &format!("bad key {API_SECRET}"), Duration::ZERO);
    let (_, body) = call(
        &d,
        Method::POST,
        "/ops/execution/binance/test-order",
        &token,
        Some(order.clone()),
    )
    .await;
    assert!(!body.to_string().contains(API_SECRET), "{body}");
    // timeout
    fake.respond(200, "{}", Duration::from_secs(3));
    let started = std::time::Instant::now();
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/binance/test-order",
        &token,
        Some(order.clone()),
    )
    .await;
    assert_eq!(status, 502);
    assert!(started.elapsed() < Duration::from_secs(3));
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Binance test order failed: ") && detail.contains("timed out"),
        "{detail}"
    );
    assert_eq!(audit_count(&db, &uid, "execution.binance.test_order.error"), 4);
    let n_before = fake.requests().len();
    assert_eq!(n_before, 5, "no automatic retry of an order");
    let audits = db.sql("SELECT string_agg(coalesce(details, ''), ' ') FROM audit_events");
    assert!(!audits.contains(API_SECRET));
}

/// A keyed test order, answered as (status, body text, replayed).
async fn keyed_order(d: &Daemon, token: &str, key: &str, order: &Value) -> (u16, String, bool) {
    let resp = client()
        .post(d.url("/ops/execution/binance/test-order"))
        .bearer_auth(token)
        .header("X-Idempotency-Key", key)
        .json(order)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let replayed = resp.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    (status, resp.text().await.unwrap(), replayed)
}

fn client_order_id(seen: &Seen) -> Option<String> {
    seen.query
        .split('&')
        .find_map(|p| p.strip_prefix("newClientOrderId="))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_keyed_test_order_reaches_binance_once_with_a_client_order_id_from_the_key() {
    let fake = Fake::start().await;
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("BINANCE_TESTNET_BASE_URL", fake.base.as_str())]);
    let (uid, token) = user(&db, "trader.keyed@desk.io", "trader");
    save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.01});

    // Six retries racing while the upstream is slow: one order goes out, six identical answers.
    fake.respond(200, "{}", Duration::from_millis(400));
    let racing: Vec<_> = (0..6)
        .map(|_| {
            let (d, token, order) = (&d, token.clone(), order.clone());
            async move { keyed_order(d, &token, "order-1", &order).await }
        })
        .collect();
    let answers = futures::future::join_all(racing).await;
    for (status, body, _) in &answers {
        assert_eq!((*status, body), (200, &answers[0].1));
    }
    assert_eq!(answers.iter().filter(|(_, _, replayed)| !replayed).count(), 1);
    let seen = fake.requests();
    assert_eq!(seen.len(), 1, "one upstream request per key");
    let id = client_order_id(&seen[0]).expect("newClientOrderId sent");
    assert!(id.len() <= 36 && !id.contains("order-1"), "{id}");
    // Still signed over everything before the signature, the client order id included.
    let (signed, signature) = seen[0].query.rsplit_once("&signature=").unwrap();
    assert_eq!(signature, hmac_hex(API_SECRET, signed.as_bytes()));
    assert_eq!(audit_count(&db, &uid, "execution.binance.test_order.success"), 1);

    // An upstream failure (502) is not kept: the retry sends again, under the same client order id.
    fake.respond(503, "unavailable", Duration::ZERO);
    let (status, _, _) = keyed_order(&d, &token, "order-2", &order).await;
    assert_eq!(status, 502);
    fake.respond(200, "{}", Duration::ZERO);
    let (status, _, replayed) = keyed_order(&d, &token, "order-2", &order).await;
    assert_eq!((status, replayed), (200, false));
    let seen = fake.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(client_order_id(&seen[1]), client_order_id(&seen[2]));
    assert_ne!(client_order_id(&seen[1]), Some(id));
    // Another order under a used key is refused before anything is sent.
    let other = json!({"symbol": "BTCUSDT", "side": "SELL", "qty": 0.01});
    let (status, body, _) = keyed_order(&d, &token, "order-1", &other).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(fake.requests().len(), 3);
}

/// A claim left by a request still running waits for its answer; one left by a daemon that died
/// (older than 30 s, unanswered) is taken over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_claim_is_waited_for_and_a_dead_one_taken_over() {
    let fake = Fake::start().await;
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("BINANCE_TESTNET_BASE_URL", fake.base.as_str())]);
    let (uid, token) = user(&db, "trader.claims@desk.io", "trader");
    save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.01});
    let route = "/ops/execution/binance/test-order";
    // What the daemon binds a key to: path, query and body as sent.
    let fingerprint = Sha256::new()
        .chain_update(format!("{route}?\n").as_bytes())
        .chain_update(serde_json::to_vec(&order).unwrap())
        .finalize();
    let claim = |key: &str, age: &str| {
        db.sql(&format!(
            "INSERT INTO idempotency_keys (user_id, route, key, request_hash, claimed_at) \
             VALUES ('{uid}', '{route}', '{key}', '\\x{}', now() - interval '{age}')",
            hex::encode(fingerprint)
        ))
    };

    claim("running", "1 second");
    let waiting = {
        let (d, token, order) = (&d, token.clone(), order.clone());
        async move { keyed_order(d, &token, "running", &order).await }
    };
    let answer_later = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        db.sql(&format!(
            "UPDATE idempotency_keys SET answer_status = 200, answer_body = '{{\"sent\":true}}' \
             WHERE user_id = '{uid}' AND key = 'running'"
        ));
    };
    let ((status, body, replayed), ()) = tokio::join!(waiting, answer_later);
    assert_eq!((status, body.as_str(), replayed), (200, r#"{"sent":true}"#, true));
    assert!(fake.requests().is_empty(), "the waiting request sent nothing");

    claim("abandoned", "40 seconds");
    let (status, body, replayed) = keyed_order(&d, &token, "abandoned", &order).await;
    assert_eq!((status, replayed), (200, false), "{body}");
    assert_eq!(fake.requests().len(), 1);
    let (_, again, replayed) = keyed_order(&d, &token, "abandoned", &order).await;
    assert_eq!((again, replayed), (body, true));
}

#[tokio::test]
async fn binance_refused_connection_is_502() {
    let db = TestDb::new();
    // the harness points Binance at 127.0.0.1:9, where nothing listens
    let d = Daemon::start(&db);
    let (uid, token) = user(&db, "trader.refused@desk.io", "trader");
    save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/binance/test-order",
        &token,
        Some(json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 1})),
    )
    .await;
    assert_eq!(status, 502);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Binance test order failed: Binance testnet connection failed"),
        "{detail}"
    );
    assert!(!detail.contains(API_SECRET) && !detail.contains("signature"));
    assert_eq!(audit_count(&db, &uid, "execution.binance.test_order.error"), 1);
}

// ---------------------------------------------------------------- IBKR

#[tokio::test]
async fn ibkr_bridge_and_simulated_test_orders() {
    let fake = Fake::start().await;
    let db = TestDb::new();
    let (uid, token) = user(&db, "trader.ibkr@desk.io", "trader");
    let order = raw(r#"{"symbol": "aapl", "side": "buy", "qty": 2.50}"#);
    let order_ref = &hex::encode(Sha256::digest(format!("{API_KEY}|AAPL|BUY|2.50").as_bytes()))[..16];
    {
        let d = Daemon::start_with(&db, &[("IBKR_BRIDGE_BASE_URL", fake.base.as_str())]);
        save_secret(&d, &token, "IBKR", API_KEY, API_SECRET).await;
        let (status, body) = call(
            &d,
            Method::POST,
            "/ops/execution/ibkr/test-order",
            &token,
            Some(order.clone()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            raw(&format!(
                r#"{{"exchange": "IBKR", "mode": "paper_bridge_test", "symbol": "AAPL", "side": "BUY", "qty": 2.50, "sent": true, "order_ref": "{order_ref}"}}"#
            ))
        );
        let seen = fake.requests();
        assert_eq!(seen.len(), 1);
        let r = &seen[0];
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/ibkr/paper/test-order"));
        assert_eq!(r.header("X-API-KEY"), Some(API_KEY));
        assert_eq!(r.header("X-SIGNATURE").unwrap(), hmac_hex(API_SECRET, &r.body));
        assert_eq!(
            String::from_utf8(r.body.clone()).unwrap(),
            format!(r#"{{"symbol":"AAPL","side":"BUY","qty":2.50,"order_ref":"{order_ref}","mode":"paper_test"}}"#)
        );
        assert_eq!(audit_count(&db, &uid, "execution.ibkr.test_order.success"), 1);

        fake.respond(500, "bridge down", Duration::ZERO);
        let (status, body) = call(
            &d,
            Method::POST,
            "/ops/execution/ibkr/test-order",
            &token,
            Some(order.clone()),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (502, Some("IBKR test order failed: IBKR bridge error 500: bridge down"))
        );
        // validation happens before anything is sent
        let (status, body) = call(
            &d,
            Method::POST,
            "/ops/execution/ibkr/test-order",
            &token,
            Some(json!({"symbol": "BRK.B", "side": "BUY", "qty": 1})),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (502, Some("IBKR test order failed: symbol must be alphanumeric"))
        );
        let (status, body) = call(
            &d,
            Method::POST,
            "/ops/execution/ibkr/test-order",
            &token,
            Some(json!({"symbol": "AAPL", "side": "BUY", "qty": 0})),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (502, Some("IBKR test order failed: qty must be greater than 0"))
        );
        assert_eq!(fake.requests().len(), 2);
        assert_eq!(audit_count(&db, &uid, "execution.ibkr.test_order.error"), 3);
        save_secret(&d, &token, "IBKR", "short", API_SECRET).await;
        let (status, body) = call(
            &d,
            Method::POST,
            "/ops/execution/ibkr/test-order",
            &token,
            Some(order.clone()),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (
                502,
                Some("IBKR test order failed: api_key must have at least 8 characters")
            )
        );
        save_secret(&d, &token, "IBKR", API_KEY, API_SECRET).await;
    }
    // without a bridge: simulated, nothing leaves the process
    let d = Daemon::start(&db);
    let (status, body) = call(&d, Method::POST, "/ops/execution/ibkr/test-order", &token, Some(order)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "paper_simulated_test");
    assert_eq!(body["order_ref"], order_ref);
    assert_eq!(fake.requests().len(), 2);
}

// ---------------------------------------------------------------- key rotation

fn cli_with(db_url: &str, keys: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db_url)
        .env("SECRET_KEY", SECRET_KEY)
        .env("ENCRYPTION_KEYS", keys)
        .env("LOG_LEVEL", "warn")
        .output()
        .expect("run the CLI")
}

async fn preview(d: &Daemon, token: &str, exchange: &str) -> (u16, Value) {
    call(
        d,
        Method::POST,
        "/ops/execution/prepare",
        token,
        Some(json!({"exchange": exchange, "symbol": "BTCUSDT", "side": "BUY", "qty": 1})),
    )
    .await
}

#[tokio::test]
async fn key_ring_rotation_dry_run_then_real_then_new_ring() {
    let db = TestDb::new();
    let (_, admin) = user(&db, "admin.rotate@desk.io", "admin");
    let (uid, token) = user(&db, "trader.rotate@desk.io", "trader");
    let old_ring = format!("old:{ENCRYPTION_KEY}");
    let expected = hmac_hex(API_SECRET, b"BINANCE|BTCUSDT|BUY|1")[..12].to_string();
    {
        let d = Daemon::start_with(&db, &[("ENCRYPTION_KEYS", old_ring.as_str())]);
        save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
        save_secret(&d, &token, "IBKR", API_KEY, API_SECRET).await;
        // a non-admin cannot rotate
        let (status, _) = call(
            &d,
            Method::POST,
            "/ops/security/reencrypt-exchange-secrets",
            &token,
            Some(json!({"old_key": ENCRYPTION_KEY, "new_key": HEX_KEY})),
        )
        .await;
        assert_eq!(status, 403);
        let _ = admin;
    }
    let before =
        db.sql("SELECT string_agg(api_key_enc || api_secret_enc, ',' ORDER BY exchange) FROM exchange_secrets");
    assert!(before.starts_with("v1:old:"));

    let ring = format!("new:{HEX_KEY},old:{ENCRYPTION_KEY}");
    let out = cli_with(&db.url, &ring, &["secrets", "reencrypt", "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dry_run=true scanned=2 updated=2"), "{text}");
    let after_dry =
        db.sql("SELECT string_agg(api_key_enc || api_secret_enc, ',' ORDER BY exchange) FROM exchange_secrets");
    assert_eq!(before, after_dry, "a dry run changes nothing");

    let out = cli_with(&db.url, &ring, &["secrets", "reencrypt"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry_run=false scanned=2 updated=2"));
    assert_eq!(
        db.sql("SELECT string_agg(DISTINCT key_id, ',') FROM exchange_secrets"),
        "new"
    );
    let rows = db.sql("SELECT string_agg(api_key_enc || '|' || api_secret_enc, ',') FROM exchange_secrets");
    assert_eq!(rows.matches("v1:new:").count(), 4, "{rows}");
    assert!(!rows.contains(API_KEY) && !rows.contains(API_SECRET));
    // running again moves nothing
    let out = cli_with(&db.url, &ring, &["secrets", "reencrypt"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated=0"));

    // the old key can now leave the ring
    let d = Daemon::start_with(&db, &[("ENCRYPTION_KEYS", format!("new:{HEX_KEY}").as_str())]);
    let (status, body) = preview(&d, &token, "BINANCE").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signature_preview"], expected.as_str());
    assert_eq!(body["api_key_masked"], "AKI***123");
    let (status, _) = preview(&d, &token, "IBKR").await;
    assert_eq!(status, 200);
    // the CLI audits without an acting user: a dry run, and the check before the real run
    let cli_audits: i64 = db
        .sql("SELECT count(*) FROM audit_events WHERE action = 'security.key_rotation.reencrypt' AND user_id IS NULL")
        .parse()
        .unwrap();
    assert!(cli_audits >= 3, "{cli_audits}");
    assert_eq!(audit_count(&db, &uid, "exchange.secret.upsert"), 2);
}

/// A secret saved before ids were UUIDs was sealed for the user's integer id, which the
/// migration keeps beside it: it still opens, and re-encryption seals it for the UUID.
#[tokio::test]
async fn a_secret_sealed_for_the_old_integer_id_opens_and_is_resealed_for_the_uuid() {
    use actors::crypto::{associated_data, Field, KeyRing};
    use actors::domain::Exchange;
    let db = TestDb::new();
    let (uid, token) = user(&db, "trader.preuuid@desk.io", "trader");
    let ring = KeyRing::from_texts("ENCRYPTION_KEYS", &[("old".to_string(), ENCRYPTION_KEY)]).unwrap();
    let seal = |plain: &str, field| {
        ring.encrypt(plain, &associated_data(42, Exchange::Binance, field))
            .unwrap()
    };
    db.sql(&format!(
        "INSERT INTO exchange_secrets (user_id, exchange, key_id, api_key_enc, api_secret_enc, sealed_for) \
         VALUES ('{uid}', 'BINANCE', 'old', '{}', '{}', '42')",
        seal(API_KEY, Field::ApiKey),
        seal(API_SECRET, Field::ApiSecret)
    ));
    let expected = hmac_hex(API_SECRET, b"BINANCE|BTCUSDT|BUY|1")[..12].to_string();
    let old_ring = format!("old:{ENCRYPTION_KEY}");
    {
        let d = Daemon::start_with(&db, &[("ENCRYPTION_KEYS", old_ring.as_str())]);
        let (status, body) = preview(&d, &token, "BINANCE").await;
        assert_eq!((status, &body["signature_preview"]), (200, &json!(expected)), "{body}");
    }
    let out = cli_with(&db.url, &format!("new:{HEX_KEY},{old_ring}"), &["secrets", "reencrypt"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated=1"), "{out:?}");
    assert_eq!(db.sql("SELECT sealed_for IS NULL FROM exchange_secrets"), "t");
    let d = Daemon::start_with(&db, &[("ENCRYPTION_KEYS", format!("new:{HEX_KEY}").as_str())]);
    let (status, body) = preview(&d, &token, "BINANCE").await;
    assert_eq!((status, &body["signature_preview"]), (200, &json!(expected)), "{body}");
}

#[tokio::test]
async fn legacy_reencrypt_endpoint_with_old_and_new_key() {
    let db = TestDb::new();
    let (admin_id, admin) = user(&db, "admin.legacy@desk.io", "admin");
    let (_, token) = user(&db, "trader.legacy@desk.io", "trader");
    let expected = hmac_hex(API_SECRET, b"BINANCE|BTCUSDT|BUY|1")[..12].to_string();
    {
        let d = Daemon::start(&db);
        save_secret(&d, &token, "BINANCE", API_KEY, API_SECRET).await;
        let before = db.sql("SELECT api_secret_enc FROM exchange_secrets");
        let body = json!({"old_key": ENCRYPTION_KEY, "new_key": HEX_KEY});
        let (status, answer) = call(
            &d,
            Method::POST,
            "/ops/security/reencrypt-exchange-secrets",
            &admin,
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["dry_run"], true);
        assert_eq!(
            (answer["scanned"].as_i64(), answer["updated"].as_i64()),
            (Some(1), Some(1))
        );
        assert_eq!(before, db.sql("SELECT api_secret_enc FROM exchange_secrets"));
        // a wrong old key updates nothing
        let (_, answer) = call(
            &d,
            Method::POST,
            "/ops/security/reencrypt-exchange-secrets",
            &admin,
            Some(json!({"old_key": "a wrong passphrase, long enough", "new_key": HEX_KEY, "dry_run": false})),
        )
        .await;
        assert_eq!(
            (answer["updated"].as_i64(), answer["failed"].as_i64()),
            (Some(0), Some(1))
        );
        let (_, answer) = call(
            &d,
            Method::POST,
            "/ops/security/reencrypt-exchange-secrets",
            &admin,
            Some(json!({"old_key": ENCRYPTION_KEY, "new_key": HEX_KEY, "dry_run": false})),
        )
        .await;
        assert_eq!(
            (answer["dry_run"].as_bool(), answer["updated"].as_i64()),
            (Some(false), Some(1))
        );
        assert_ne!(before, db.sql("SELECT api_secret_enc FROM exchange_secrets"));
        let (status, body) = call(
            &d,
            Method::POST,
            "/ops/security/reencrypt-exchange-secrets",
            &admin,
            Some(json!({"old_key": "short", "new_key": HEX_KEY})),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(audit_count(&db, &admin_id, "security.key_rotation.reencrypt"), 3);
        let audits = db.sql("SELECT string_agg(coalesce(details, ''), ' ') FROM audit_events");
        assert!(!audits.contains(HEX_KEY) && !audits.contains(ENCRYPTION_KEY));
    }
    // the operator deploys the new key as ENCRYPTION_KEY
    let d = Daemon::start_with(&db, &[("ENCRYPTION_KEY", HEX_KEY)]);
    let (status, body) = preview(&d, &token, "BINANCE").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signature_preview"], expected.as_str());
}

#[tokio::test]
async fn a_short_encryption_key_stops_start_up_naming_the_setting() {
    let db = TestDb::new();
    let out = std::process::Command::new(binary())
        .args(["config", "check"])
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("SECRET_KEY", SECRET_KEY)
        .env("ENCRYPTION_KEY", "too-short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ENCRYPTION_KEY: key `k1` is too short"), "{text}");
    assert!(!text.contains("too-short "), "{text}");
}

// ---------------------------------------------------------------- posture and cleanup

#[tokio::test]
async fn security_posture_and_smoke_cleanup() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (admin_id, admin) = user(&db, "admin.posture@desk.io", "admin");
    let (fresh_id, fresh) = user(&db, "fresh@desk.io", "trader");
    let (stale_id, stale) = user(&db, "stale@desk.io", "trader");
    let (old_smoke, smoke_token) = user(&db, "smoke.old@example.invalid", "trader");
    let (new_smoke, _) = user(&db, "smoke.new@example.invalid", "trader");
    let (silent_smoke, _) = user(&db, "smoke.silent@example.invalid", "trader");
    db.sql(&format!(
        "UPDATE users SET totp_enabled = true WHERE id IN ('{admin_id}', '{fresh_id}')"
    ));
    save_secret(&d, &fresh, "BINANCE", API_KEY, API_SECRET).await;
    save_secret(&d, &stale, "BINANCE", API_KEY, API_SECRET).await;
    save_secret(&d, &stale, "IBKR", API_KEY, API_SECRET).await;
    db.sql(&format!(
        "UPDATE exchange_secrets SET updated_at = now() - interval '40 days' WHERE user_id = '{stale_id}' AND exchange = 'IBKR'"
    ));
    // old activity for smoke.old: a secret, a signal, a position, audit events — all 30 days ago
    save_secret(&d, &smoke_token, "BINANCE", API_KEY, API_SECRET).await;
    db.sql(&format!(
        "UPDATE exchange_secrets SET updated_at = now() - interval '30 days' WHERE user_id = '{old_smoke}'; \
         UPDATE audit_events SET created_at = now() - interval '30 days' WHERE user_id = '{old_smoke}'; \
         INSERT INTO signals (user_id, symbol, module, base_risk_percent, updated_at) VALUES ('{old_smoke}', 'BTCUSDT', 'm', 0.5, now() - interval '31 days'); \
         INSERT INTO positions (user_id, symbol, qty, entry_price, opened_at) VALUES ('{old_smoke}', 'BTCUSDT', 1, 100, now() - interval '32 days'); \
         INSERT INTO audit_events (user_id, action, created_at) VALUES ('{new_smoke}', 'auth.login.success', now() - interval '2 days')"
    ));

    let (status, body) = call(&d, Method::GET, "/ops/security/posture", &fresh, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&d, Method::GET, "/ops/security/posture", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["max_secret_age_days"], 30);
    assert_eq!(body["real_only"], false);
    assert_eq!(
        body["summary"],
        json!({"total_users": 6, "users_missing_2fa": 4, "users_with_stale_secrets": 1})
    );
    let by_email = |email: &str| -> Value {
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        by_email("stale@desk.io"),
        json!({"user_id": stale_id, "email": "stale@desk.io", "role": "trader", "two_factor_enabled": false,
               "binance_secret_configured": true, "ibkr_secret_configured": true,
               "oldest_secret_age_days": 40, "stale_secret": true})
    );
    let f = by_email("fresh@desk.io");
    assert_eq!(
        (f["oldest_secret_age_days"].as_i64(), f["stale_secret"].as_bool()),
        (Some(0), Some(false))
    );
    let a = by_email("admin.posture@desk.io");
    assert_eq!(
        (a["oldest_secret_age_days"].clone(), a["two_factor_enabled"].clone()),
        (Value::Null, json!(true))
    );
    let emails: Vec<&str> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    let mut sorted = emails.clone();
    sorted.sort();
    assert_eq!(emails, sorted);
    let (_, body) = call(
        &d,
        Method::GET,
        "/ops/security/posture?real_only=true&max_secret_age_days=50",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        body["summary"],
        json!({"total_users": 3, "users_missing_2fa": 1, "users_with_stale_secrets": 0})
    );
    assert_eq!(audit_count(&db, &admin_id, "security.posture.read"), 2);

    // cleanup: dry run first
    let (status, body) = call(&d, Method::POST, "/ops/admin/cleanup-smoke-users", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["dry_run"].clone(),
            body["older_than_days"].clone(),
            body["scanned"].clone(),
            body["eligible"].clone(),
            body["deleted"].clone()
        ),
        (json!(true), json!(14), json!(3), json!(2), json!(0))
    );
    let verdicts: Vec<(String, bool, bool)> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap().to_string(),
                u["eligible_for_delete"].as_bool().unwrap(),
                u["last_activity_at"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("smoke.new@example.invalid".to_string(), false, false),
            ("smoke.old@example.invalid".to_string(), true, false),
            ("smoke.silent@example.invalid".to_string(), true, true)
        ]
    );
    assert_eq!(db.sql("SELECT count(*) FROM users WHERE email LIKE 'smoke.%'"), "3");

    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/admin/cleanup-smoke-users?dry_run=false&older_than_days=14",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["eligible"].as_i64(), body["deleted"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        db.sql("SELECT string_agg(email, ',') FROM users WHERE email LIKE 'smoke.%'"),
        "smoke.new@example.invalid"
    );
    for table in [
        "signals",
        "positions",
        "exchange_secrets",
        "trading_state",
        "audit_events",
    ] {
        assert_eq!(
            db.sql(&format!(
                "SELECT count(*) FROM {table} WHERE user_id IN ('{old_smoke}', '{silent_smoke}')"
            )),
            "0",
            "{table}"
        );
    }
    assert_eq!(audit_count(&db, &admin_id, "ops.cleanup.smoke_users"), 2);
    let (_, body) = call(
        &d,
        Method::POST,
        "/ops/admin/cleanup-smoke-users?older_than_days=1",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (body["scanned"].as_i64(), body["eligible"].as_i64()),
        (Some(1), Some(1))
    );
}
