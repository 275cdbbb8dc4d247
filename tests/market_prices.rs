//! `POST /ops/market/prices`: who may push quotes, what is accepted, what is refused.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

const PATH: &str = "/ops/market/prices";

#[tokio::test]
async fn admins_and_service_users_push_prices_traders_may_not() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = user_token(&db, "root@desk.io", "admin");
    let trader = user_token(&db, "trader@desk.io", "trader");
    let bot = user_token(&db, "ops.bot.feed@desk.io", "service");

    let body = json!({"exchange": "binance", "prices": {"BTCUSDT": 49000.5, "ETH/USDT": 2500}});
    let (status, answer) = call(&d, Method::POST, PATH, &admin, Some(body.clone())).await;
    assert_eq!((status, answer), (202, json!({"accepted": 2})));
    let (status, answer) = call(
        &d,
        Method::POST,
        PATH,
        &bot,
        Some(json!({"exchange": "IBKR", "prices": {"AAPL": 189.5}})),
    )
    .await;
    assert_eq!((status, answer), (202, json!({"accepted": 1})));

    // BTC/USDT and BTCUSDT are one market: one quote.
    let (status, answer) = call(
        &d,
        Method::POST,
        PATH,
        &admin,
        Some(json!({"exchange": "BINANCE", "prices": {"BTC/USDT": 1, "btcusdt": 1}})),
    )
    .await;
    assert_eq!((status, answer), (202, json!({"accepted": 1})));

    let (status, answer) = call(&d, Method::POST, PATH, &trader, Some(body.clone())).await;
    assert_eq!(
        (status, answer),
        (
            403,
            json!({ "detail": "Insufficient permissions", "code": "insufficient_permissions" })
        )
    );
    let (status, answer) = json(client().post(d.url(PATH)).json(&body).send().await.unwrap()).await;
    assert_eq!(
        (status, answer),
        (
            401,
            json!({ "detail": "Not authenticated", "code": "not_authenticated" })
        )
    );

    // The quotes went through the hub (the same path as polled prices).
    let text = get_text(&d, "/metrics").await;
    assert!(
        text.contains("market_prices_pushed_total{exchange=\"BINANCE\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("market_prices_pushed_total{exchange=\"IBKR\"} 1"),
        "{text}"
    );
}

/// A user with `role` in the database and a token for them (independent of the auth routes).
/// The token always claims `trader`: the role that counts is the database's.
fn user_token(db: &TestDb, email: &str, role: &str) -> String {
    db.sql(&format!(
        "INSERT INTO users (email, password_hash, role) VALUES ('{email}', 'x', '{role}')"
    ));
    crypto_saas::auth::jwt::JwtKeys::new(&secrecy::SecretString::from(SECRET_KEY)).issue(email, "trader")
}

#[tokio::test]
async fn bad_quotes_are_422_naming_the_field() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = user_token(&db, "root@desk.io", "admin");
    let cases = [
        (
            json!({"exchange": "KRAKEN", "prices": {"BTCUSDT": 1}}),
            json!(["body", "exchange"]),
        ),
        (json!({"exchange": "BINANCE", "prices": {}}), json!(["body", "prices"])),
        (
            json!({"exchange": "BINANCE", "prices": {"BTCUSDT": 0}}),
            json!(["body", "prices", "BTCUSDT"]),
        ),
        (
            json!({"exchange": "BINANCE", "prices": {"BTCUSDT": -5.5}}),
            json!(["body", "prices", "BTCUSDT"]),
        ),
        (
            json!({"exchange": "BINANCE", "prices": {"BTCUSDT": "abc"}}),
            json!(["body", "prices", "BTCUSDT"]),
        ),
        (
            json!({"exchange": "BINANCE", "prices": {"BTCUSDT": null}}),
            json!(["body", "prices", "BTCUSDT"]),
        ),
        (json!({"exchange": "BINANCE"}), json!(["body", "prices"])),
        (
            json!({"exchange": "BINANCE", "prices": [1, 2]}),
            json!(["body", "prices"]),
        ),
    ];
    for (body, loc) in cases {
        let (status, answer) = call(&d, Method::POST, PATH, &admin, Some(body.clone())).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{body} -> {answer}");
    }
    // A bad entry refuses the whole request: nothing was published.
    let text = get_text(&d, "/metrics").await;
    assert!(!text.contains("market_prices_pushed_total{"), "{text}");
}
