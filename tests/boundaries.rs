//! Inputs at and past the edges that a schema-driven fuzzer rarely makes: each answers a 4xx in
//! the contract's error shape (`detail` and `code`), never a 5xx, and leaves nothing behind.

mod common;

use common::*;
use serde_json::{json, Value};

const NO_SUCH_ID: &str = "7d1c0c4e-58c1-4f5e-9a53-9ad1f7c4b0a1";

/// A request with a raw body under `content_type` (none when `None`).
async fn send(d: &Daemon, path: &str, token: Option<&str>, content_type: Option<&str>, body: String) -> (u16, Value) {
    let mut req = client().post(d.url(path)).body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    json(req.send().await.unwrap()).await
}

async fn send_json(d: &Daemon, path: &str, token: &str, body: String) -> (u16, Value) {
    send(d, path, Some(token), Some("application/json"), body).await
}

/// A 422 in the FastAPI shape, its first issue at `loc`.
fn assert_422_at(answer: &(u16, Value), loc: Value, what: &str) {
    assert_eq!(answer.0, 422, "{what}: {}", answer.1);
    assert_eq!(answer.1["code"], "validation_error", "{what}: {}", answer.1);
    assert_eq!(answer.1["detail"][0]["loc"], loc, "{what}: {}", answer.1);
    assert!(answer.1["detail"][0]["msg"].is_string(), "{what}: {}", answer.1);
}

/// A signal body with one field's JSON text replaced.
fn signal_with(field: &str, raw_value: &str) -> String {
    let mut body = signal_body("BTCUSDT");
    body[field] = json!("__RAW__");
    body.to_string().replace("\"__RAW__\"", raw_value)
}

fn count(db: &TestDb, table: &str) -> String {
    db.sql(&format!("SELECT count(*) FROM {table}"))
}

#[tokio::test]
async fn huge_and_tiny_numbers_are_422_naming_the_field() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "edges@desk.io");
    for number in [
        "1e308",
        "-1e308",
        "1e-308",
        "1e400",
        "5e-324",
        "123456789012345678901234567890",
    ] {
        let answer = send_json(&d, "/signals", &token, signal_with("entry_price", number)).await;
        assert_422_at(&answer, json!(["body", "entry_price"]), number);
    }
    // Finer digits than a decimal holds (1e-28) are rounded, as a float's are: schema-valid
    // numbers reach the route (here its 404), zero fees included.
    let close = format!("/positions/close?position_id={NO_SUCH_ID}&exit_price=1e-28&fees=5e-324");
    let (status, body) = send(&d, &close, Some(&token), None, String::new()).await;
    assert_eq!(status, 404, "{body}");
    let open = format!("/positions/open_from_signal?signal_id={NO_SUCH_ID}&qty=1e400");
    let answer = send(&d, &open, Some(&token), None, String::new()).await;
    assert_422_at(&answer, json!(["query", "qty"]), "qty=1e400");
    assert_eq!(count(&db, "signals"), "0");
}

#[tokio::test]
async fn nan_and_infinity_are_422_as_strings_and_as_bare_tokens() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "edges@desk.io");
    for text in ["\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "\"inf\""] {
        let answer = send_json(&d, "/signals", &token, signal_with("stop_loss", text)).await;
        assert_422_at(&answer, json!(["body", "stop_loss"]), text);
    }
    // Bare NaN and Infinity are not JSON numbers: refused where they stand.
    for token_text in ["NaN", "Infinity", "-Infinity"] {
        let answer = send_json(&d, "/signals", &token, signal_with("take_profit", token_text)).await;
        assert_422_at(&answer, json!(["body", "take_profit"]), token_text);
    }
    for query in ["qty=NaN", "qty=Infinity", "qty=-inf"] {
        let open = format!("/positions/open_from_signal?signal_id={NO_SUCH_ID}&{query}");
        let answer = send(&d, &open, Some(&token), None, String::new()).await;
        assert_422_at(&answer, json!(["query", "qty"]), query);
    }
    let close = format!("/positions/close?position_id={NO_SUCH_ID}&exit_price=NaN");
    let answer = send(&d, &close, Some(&token), None, String::new()).await;
    assert_422_at(&answer, json!(["query", "exit_price"]), "exit_price=NaN");
    assert_eq!(count(&db, "signals"), "0");
}

#[tokio::test]
async fn negative_and_zero_quantities_and_prices_are_422() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "edges@desk.io");
    for qty in ["0", "-1", "-0.00000001"] {
        let open = format!("/positions/open_from_signal?signal_id={NO_SUCH_ID}&qty={qty}");
        let answer = send(&d, &open, Some(&token), None, String::new()).await;
        assert_422_at(&answer, json!(["query", "qty"]), qty);
        let pretrade = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": "__RAW__"})
            .to_string()
            .replace("\"__RAW__\"", qty);
        let answer = send_json(&d, "/ops/execution/pretrade/binance/check", &token, pretrade).await;
        assert_422_at(&answer, json!(["body", "qty"]), qty);
    }
    for (query, field) in [
        ("exit_price=0", "exit_price"),
        ("exit_price=-5", "exit_price"),
        ("exit_price=100&fees=-0.01", "fees"),
    ] {
        let close = format!("/positions/close?position_id={NO_SUCH_ID}&{query}");
        let answer = send(&d, &close, Some(&token), None, String::new()).await;
        assert_422_at(&answer, json!(["query", field]), query);
    }
    for (field, value) in [("entry_price", "0"), ("stop_loss", "-95"), ("base_risk_percent", "0")] {
        let answer = send_json(&d, "/signals", &token, signal_with(field, value)).await;
        assert_422_at(&answer, json!(["body", field]), value);
    }
    assert_eq!(
        (count(&db, "signals"), count(&db, "positions")),
        ("0".into(), "0".into())
    );
}

#[tokio::test]
async fn empty_and_10_kb_strings_are_refused_before_anything_is_written() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "edges@desk.io");
    let long = "x".repeat(10 * 1024);
    for (field, value) in [
        ("symbol", ""),
        ("symbol", long.as_str()),
        ("module", ""),
        ("module", "   "),
        ("module", long.as_str()),
    ] {
        let mut body = signal_body("BTCUSDT");
        body[field] = json!(value);
        let answer = send_json(&d, "/signals", &token, body.to_string()).await;
        assert_422_at(&answer, json!(["body", field]), field);
    }
    for (email, password) in [
        (format!("{long}@desk.io"), PASSWORD.to_string()),
        ("new@desk.io".into(), String::new()),
    ] {
        let body = json!({"email": email, "password": password}).to_string();
        let answer = send(&d, "/auth/register", None, Some("application/json"), body).await;
        assert_eq!(answer.0, 422, "{}", answer.1);
        assert_eq!(answer.1["code"], "validation_error");
    }
    // A 10 kB username is an unknown account, refused like any other.
    let (status, body) = login_with(&d, &long, PASSWORD, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Incorrect email or password"))
    );
    assert_eq!(count(&db, "signals"), "0");
    assert_eq!(count(&db, "users"), "1");
}

#[tokio::test]
async fn unicode_round_trips_and_a_nul_is_422_anywhere() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "edges@desk.io");
    let admin = mint_token("edges.admin@desk.io", "admin");
    db.sql("INSERT INTO users (email, password_hash, role) VALUES ('edges.admin@desk.io', 'x', 'admin')");
    // Emoji, right-to-left text and combining marks are text like any other.
    let module = "breakout 🚀 שלום e\u{301}";
    let mut body = signal_body("BTCUSDT");
    body["module"] = json!(module);
    let (status, signal) = send_json(&d, "/signals", &token, body.to_string()).await;
    assert_eq!((status, signal["module"].as_str()), (200, Some(module)), "{signal}");
    let mut body = signal_body("BTC🚀USDT");
    body["module"] = json!("m");
    let answer = send_json(&d, "/signals", &token, body.to_string()).await;
    assert_422_at(&answer, json!(["body", "symbol"]), "emoji symbol");

    // U+0000 cannot be stored: refused at the edge, in a body, a form, a query and a path.
    let mut body = signal_body("BTCUSDT");
    body["module"] = json!("a\u{0}b");
    let answer = send_json(&d, "/signals", &token, body.to_string()).await;
    assert_422_at(&answer, json!(["body"]), "NUL in a JSON body");
    assert_eq!(answer.1["detail"][0]["type"], "string_nul");
    let form = "username=a%00b%40desk.io&password=whatever-password".to_string();
    let answer = send(&d, "/auth/login", None, Some("application/x-www-form-urlencoded"), form).await;
    assert_422_at(&answer, json!(["body", "username"]), "NUL in the login form");
    let (status, body) = json(
        client()
            .get(d.url("/ops/dashboard/summary?email_contains=a%00b"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_422_at(&(status, body), json!(["query", "email_contains"]), "NUL in a query");
    let profile = json!({"max_risk_per_trade_pct": 1, "max_daily_loss_pct": 1, "max_trades_per_day": 1,
        "max_open_positions": 1, "cooldown_between_trades_minutes": 1, "max_leverage": 1,
        "stop_loss_required": true, "min_rr": 1});
    let (status, body) = json(
        client()
            .put(d.url("/ops/admin/risk/profiles/a%00b"))
            .bearer_auth(&admin)
            .json(&profile)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_422_at(&(status, body), json!(["path", "profile_name"]), "NUL in a path");
    assert_eq!(count(&db, "signals"), "1");
}

#[tokio::test]
async fn wrong_content_types_are_422_and_create_nothing() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "edges@desk.io");
    let body = signal_body("BTCUSDT").to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/xml",
    ] {
        let answer = send(&d, "/signals", Some(&token), Some(content_type), body.clone()).await;
        assert_422_at(&answer, json!(["body"]), content_type);
        assert_eq!(answer.1["detail"][0]["type"], "model_attributes_type");
    }
    // A form where JSON is expected.
    let form = "symbol=BTCUSDT&module=m&base_risk_percent=0.5&entry_price=100&stop_loss=95&take_profit=110";
    let answer = send(
        &d,
        "/signals",
        Some(&token),
        Some("application/x-www-form-urlencoded"),
        form.into(),
    )
    .await;
    assert_422_at(&answer, json!(["body"]), "form to /signals");
    // JSON where the login form is expected: the form has no fields.
    let credentials = json!({"username": "edges@desk.io", "password": PASSWORD}).to_string();
    let (status, body) = send(&d, "/auth/login", None, Some("application/json"), credentials).await;
    assert_eq!(status, 422, "{body}");
    let missing: Vec<&Value> = body["detail"].as_array().unwrap().iter().map(|i| &i["loc"]).collect();
    assert_eq!(missing, [&json!(["body", "username"])], "{body}");
    // JSON with a charset, or a `+json` type, is still JSON.
    let answer = send(
        &d,
        "/signals",
        Some(&token),
        Some("application/json; charset=utf-8"),
        body_of("ETHUSDT"),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(count(&db, "signals"), "1");
}

fn body_of(symbol: &str) -> String {
    signal_body(symbol).to_string()
}

#[tokio::test]
async fn duplicated_json_keys_are_422() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "edges@desk.io");
    let body = body_of("BTCUSDT").replacen('{', r#"{"symbol":"ETHUSDT","#, 1);
    let answer = send_json(&d, "/signals", &token, body).await;
    assert_eq!(answer.0, 422, "{}", answer.1);
    assert!(
        answer.1["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("duplicate field"),
        "{}",
        answer.1
    );
    let register = r#"{"email":"a@desk.io","email":"b@desk.io","password":"Sup3r-secret-pass"}"#;
    let answer = send(&d, "/auth/register", None, Some("application/json"), register.into()).await;
    assert_eq!(answer.0, 422, "{}", answer.1);
    assert_eq!(count(&db, "signals"), "0");
    assert_eq!(count(&db, "users"), "1");
}

#[tokio::test]
async fn ten_thousand_levels_of_nesting_are_refused_or_skipped_never_a_stack_overflow() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "edges@desk.io");
    let deep = "[".repeat(10_000);
    let answer = send_json(&d, "/signals", &token, deep.clone()).await;
    assert_eq!(answer.0, 422, "{}", answer.1);
    assert_eq!(answer.1["code"], "validation_error");
    // Inside a field the route ignores, it is skipped without recursion (no stack to overflow),
    // as the contract ignores any unknown field: the signal is created, once.
    let closed = format!("{deep}{}", "]".repeat(10_000));
    let body = body_of("BTCUSDT").replacen('{', &format!(r#"{{"extra":{closed},"#), 1);
    let (status, signal) = send_json(&d, "/signals", &token, body).await;
    assert_eq!((status, signal["symbol"].as_str()), (200, Some("BTCUSDT")), "{signal}");
    let (status, _) = call(&d, reqwest::Method::GET, "/signals", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(count(&db, "signals"), "1");
}

#[tokio::test]
async fn every_405_names_the_allowed_methods_whatever_the_method() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    for (method, path, allow) in [
        ("HEAD", "/signals", "GET, POST"),
        ("OPTIONS", "/signals", "GET, POST"),
        ("TRACE", "/auth/login", "POST"),
        ("PROPFIND", "/users", "GET, POST"),
        ("DELETE", "/ops/cluster", "GET"),
        // A concrete path answers with its own methods, not those of `/users/{user_id}/risk-settings`.
        ("PUT", "/users/me/risk-settings", "GET"),
        ("PATCH", "/users/exchange-secrets/BINANCE", "DELETE"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = client().request(method.clone(), d.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{method} {path}");
        let allowed = resp.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
    }
}
