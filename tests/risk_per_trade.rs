//! Risk per trade, exposure caps, the capital base and its routes, and the input bounds
//! (API.md, "Trading controls": "Risk per trade and exposure").

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A user made directly in the database with a token signed by the daemon's key (the auth
/// routes are not this suite's subject); admin routes read the role from the database.
fn seed_user(db: &TestDb, email: &str, role: &str) -> (String, String) {
    let id = db.sql(&format!(
        "WITH u AS (INSERT INTO users (email, password_hash, role) VALUES ('{email}', 'x', '{role}') RETURNING id), \
         t AS (INSERT INTO trading_state (user_id) SELECT id FROM u) SELECT id FROM u"
    ));
    assert_eq!(id.len(), 36, "a user id: {id}");
    (id, mint_token(email, role))
}

fn audit_count(db: &TestDb, user_id: &str, action: &str) -> i64 {
    db.sql(&format!(
        "SELECT count(*) FROM audit_events WHERE user_id = '{user_id}' AND action = '{action}'"
    ))
    .parse()
    .unwrap()
}

fn audit_details(db: &TestDb, user_id: &str, action: &str) -> Value {
    let raw = db.sql(&format!(
        "SELECT details FROM audit_events WHERE user_id = '{user_id}' AND action = '{action}' ORDER BY created_at DESC LIMIT 1"
    ));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("details of {action}: {raw:?}: {e}"))
}

/// Lets the cooldown of the latest trade pass.
fn age_last_trade(db: &TestDb, user_id: &str) {
    db.sql(&format!(
        "UPDATE trading_state SET last_trade_at = now() - interval '2 hours' WHERE user_id = '{user_id}'"
    ));
}

/// An EXECUTING signal of the user with these prices (via the routes).
async fn signal_with(d: &Daemon, token: &str, symbol: &str, entry: f64, stop: f64) -> String {
    let body = json!({"symbol": symbol, "module": "breakout", "base_risk_percent": 0.5,
                      "entry_price": entry, "stop_loss": stop, "take_profit": entry * 1.1});
    let (status, signal) = call(d, Method::POST, "/signals", token, Some(body)).await;
    assert_eq!(status, 200, "{signal}");
    let (status, claimed) = call(d, Method::POST, "/signals/claim?limit=1", token, None).await;
    assert_eq!((status, &claimed[0]["id"]), (200, &signal["id"]), "{claimed}");
    id_of(&signal["id"])
}

async fn open(d: &Daemon, token: &str, signal_id: &str, qty: &str) -> (u16, Value) {
    call(
        d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={signal_id}&qty={qty}"),
        token,
        None,
    )
    .await
}

fn refusal(answer: &(u16, Value)) -> (u16, Option<&str>) {
    (answer.0, answer.1["detail"].as_str())
}

fn open_positions(db: &TestDb, user_id: &str) -> i64 {
    db.sql(&format!(
        "SELECT count(*) FROM positions WHERE user_id = '{user_id}' AND status = 'OPEN'"
    ))
    .parse()
    .unwrap()
}

#[tokio::test]
async fn risk_per_trade_refuses_above_the_capital_share_with_its_amounts_and_audit() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, t) = seed_user(&db, "rpt@desk.io", "trader");
    let (_, admin) = seed_user(&db, "boss@desk.io", "admin");

    // Entry 100, stop 95: 5 USD per unit; 10,000 × 0.5 % = 50 USD admits 10 units.
    let sid = signal_with(&d, &t, "BTCUSDT", 100.0, 95.0).await;
    let answer = open(&d, &t, &sid, "10.5").await;
    assert_eq!(
        refusal(&answer),
        (
            409,
            Some("Risk block: risk per trade exceeded (requested=52.50 > max=50.00)")
        )
    );
    assert_eq!(answer.1["code"], "risk_block_risk_per_trade");
    assert_eq!(audit_count(&db, &uid, "position.open.blocked.risk_per_trade"), 1);
    let details = audit_details(&db, &uid, "position.open.blocked.risk_per_trade");
    assert_eq!(details["capital_base_usd"], json!(10000));
    assert_eq!(details["max_risk_amount_usd"], json!(50));
    assert_eq!(details["requested_risk_amount_usd"], json!(52.5));
    assert_eq!(details["max_qty_allowed"], json!(10));
    assert_eq!(details["signal_id"], json!(sid));
    assert_eq!(open_positions(&db, &uid), 0);
    assert_eq!(
        db.sql(&format!("SELECT status FROM signals WHERE id = '{sid}'")),
        "EXECUTING",
        "a refused open leaves the signal as it was"
    );
    assert_eq!(
        db.sql(&format!("SELECT blocked_opens FROM risk_daily WHERE user_id = '{uid}'")),
        "1",
        "counted as a blocked open of the day"
    );

    // Exactly the maximum is admitted.
    let (status, position) = open(&d, &t, &sid, "10").await;
    assert_eq!(status, 200, "{position}");

    // A larger capital admits more, from the next open on (the actor is warm: it must not judge
    // by a capital it remembers).
    age_last_trade(&db, &uid);
    let (status, body) = call(
        &d,
        Method::PUT,
        &format!("/users/{uid}/risk-settings"),
        &admin,
        Some(json!({"capital_base_usd": 20000})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sid2 = signal_with(&d, &t, "ETHUSDT", 100.0, 95.0).await;
    let (status, position) = open(&d, &t, &sid2, "20").await;
    assert_eq!(status, 200, "20 × 5 = 100 = 20,000 × 0.5 %: {position}");

    let (status, today) = call(&d, Method::GET, "/positions/risk/today", &t, None).await;
    assert_eq!(status, 200);
    assert_eq!(today["capital_base_usd"], json!(20000));
    assert_eq!(today["max_risk_per_trade_pct"], json!(0.5));
    assert_eq!(today["max_risk_amount_usd"], json!(100));
    assert_eq!(today["risk_profile"], "model2_conservador_productivo");
}

#[tokio::test]
async fn a_signal_without_stop_or_with_the_stop_at_the_entry_is_refused() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, t) = seed_user(&db, "stops@desk.io", "trader");

    // Signals without a stop come from the old service (the route requires one).
    let no_stop = db.sql(&format!(
        "INSERT INTO signals (user_id, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, status) \
         VALUES ('{uid}', 'BTCUSDT', 'm', 0.5, 100, NULL, 110, 'EXECUTING') RETURNING id"
    ));
    let answer = open(&d, &t, &no_stop, "1").await;
    assert_eq!(
        refusal(&answer),
        (409, Some("Risk block: stop_loss is required by risk profile"))
    );
    assert_eq!(audit_count(&db, &uid, "position.open.blocked.stop_loss_required"), 1);

    let flat = signal_with(&d, &t, "ETHUSDT", 100.0, 100.0).await;
    let answer = open(&d, &t, &flat, "1").await;
    assert_eq!(refusal(&answer), (409, Some("Risk block: invalid stop_loss distance")));
    assert_eq!(audit_count(&db, &uid, "position.open.blocked.invalid_stop_distance"), 1);
    assert_eq!(open_positions(&db, &uid), 0);

    // The four existing limits come first: inside the cooldown, the cooldown answers.
    let ok = signal_with(&d, &t, "SOLUSDT", 100.0, 95.0).await;
    assert_eq!(open(&d, &t, &ok, "1").await.0, 200);
    let answer = open(&d, &t, &flat, "1").await;
    assert_eq!(refusal(&answer), (409, Some("Risk block: cooldown active (30.0m)")));
}

#[tokio::test]
async fn exposure_caps_refuse_what_would_exceed_them() {
    let db = TestDb::new();
    let d = Daemon::start_with(
        &db,
        &[
            ("MAX_OPEN_QTY_PER_SYMBOL", "3"),
            ("MAX_OPEN_NOTIONAL_PER_EXCHANGE", "400"),
        ],
    );
    let (uid, t) = seed_user(&db, "caps@desk.io", "trader");

    let first = signal_with(&d, &t, "BTCUSDT", 100.0, 95.0).await;
    assert_eq!(open(&d, &t, &first, "2").await.0, 200);
    age_last_trade(&db, &uid);

    // The same market written another way: 2 + 2 > 3.
    let same = signal_with(&d, &t, "btc/usdt", 100.0, 95.0).await;
    let answer = open(&d, &t, &same, "2").await;
    assert_eq!(
        refusal(&answer),
        (409, Some("Risk block: symbol exposure exceeded (4>3)"))
    );
    assert_eq!(answer.1["code"], "risk_block_symbol_exposure");
    assert_eq!(audit_count(&db, &uid, "position.open.blocked.exposure.symbol_qty"), 1);
    let details = audit_details(&db, &uid, "position.open.blocked.exposure.symbol_qty");
    assert_eq!(
        (details["projected"].clone(), details["max"].clone()),
        (json!(4), json!(3))
    );

    // Notional on BINANCE: 2 × 100 open + 3 × 100 asked = 500 > 400 (3 ETH is within the symbol cap).
    let other = signal_with(&d, &t, "ETHUSDT", 100.0, 95.0).await;
    let answer = open(&d, &t, &other, "3").await;
    assert_eq!(
        refusal(&answer),
        (409, Some("Risk block: exchange exposure exceeded (500>400)"))
    );
    assert_eq!(
        audit_count(&db, &uid, "position.open.blocked.exposure.exchange_notional"),
        1
    );

    // Within both caps: 2 + 1 ≤ 3 and 200 + 100 ≤ 400.
    let (status, body) = open(&d, &t, &same, "1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(open_positions(&db, &uid), 2);
}

#[tokio::test]
async fn capital_base_routes_read_and_set_it_with_an_audit() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, t) = seed_user(&db, "cap@desk.io", "trader");
    let (admin_id, admin) = seed_user(&db, "admin@desk.io", "admin");

    let (status, mine) = call(&d, Method::GET, "/users/me/risk-settings", &t, None).await;
    assert_eq!(
        (status, mine),
        (200, json!({"user_id": uid, "capital_base_usd": 10000}))
    );
    let (status, own) = call(&d, Method::GET, "/users/me/risk-settings", &admin, None).await;
    assert_eq!(
        (status, &own["user_id"]),
        (200, &json!(admin_id)),
        "`me` is not a user id"
    );

    let path = format!("/users/{uid}/risk-settings");
    let (status, body) = call(&d, Method::GET, &path, &t, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Insufficient permissions"))
    );
    let (status, body) = call(&d, Method::PUT, &path, &t, Some(json!({"capital_base_usd": 5}))).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Insufficient permissions"))
    );

    let (status, body) = call(
        &d,
        Method::PUT,
        &path,
        &admin,
        Some(json!({"capital_base_usd": 25000.5})),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"user_id": uid, "capital_base_usd": 25000.5}))
    );
    let (status, body) = call(&d, Method::GET, &path, &admin, None).await;
    assert_eq!(
        (status, body),
        (200, json!({"user_id": uid, "capital_base_usd": 25000.5}))
    );
    let (_, mine) = call(&d, Method::GET, "/users/me/risk-settings", &t, None).await;
    assert_eq!(mine["capital_base_usd"], json!(25000.5));
    assert_eq!(audit_count(&db, &admin_id, "user.risk_settings.updated"), 1);
    let details = audit_details(&db, &admin_id, "user.risk_settings.updated");
    assert_eq!(details["target_user_id"], json!(uid));
    assert_eq!(details["capital_base_usd"], json!(25000.5));
    assert_eq!(details["previous_capital_base_usd"], json!(10000));

    for bad in [
        json!(0),
        json!(-1),
        json!(1_000_000_000.01),
        json!("NaN"),
        json!("Infinity"),
        json!(null),
    ] {
        let (status, body) = call(&d, Method::PUT, &path, &admin, Some(json!({"capital_base_usd": bad}))).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "capital_base_usd"]), "{bad}");
    }
    let (status, _) = call(
        &d,
        Method::PUT,
        &path,
        &admin,
        Some(json!({"capital_base_usd": 1_000_000_000})),
    )
    .await;
    assert_eq!(status, 200, "the maximum is allowed");

    let unknown = "/users/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/risk-settings";
    let (status, body) = call(&d, Method::GET, unknown, &admin, None).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("User not found")));
    let (status, body) = call(&d, Method::PUT, unknown, &admin, Some(json!({"capital_base_usd": 5}))).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("User not found")));
    let (status, body) = call(&d, Method::GET, "/users/42/risk-settings", &admin, None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["path", "user_id"]));
}

#[tokio::test]
async fn quantities_and_prices_outside_their_bounds_are_422_naming_the_field() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, t) = seed_user(&db, "bounds@desk.io", "trader");
    let (_, admin) = seed_user(&db, "prices@desk.io", "admin");

    let base = signal_body("BTCUSDT");
    for (field, bad) in [
        ("entry_price", json!(0)),
        ("entry_price", json!(10_000_000.01)),
        ("stop_loss", json!("NaN")),
        ("take_profit", json!("Infinity")),
        ("stop_loss", json!(-5)),
    ] {
        let mut body = base.clone();
        body[field] = bad.clone();
        let (status, answer) = call(&d, Method::POST, "/signals", &t, Some(body)).await;
        assert_eq!(status, 422, "{field}={bad}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", field]), "{field}={bad}");
    }
    let mut at_max = base.clone();
    at_max["take_profit"] = json!(10_000_000);
    assert_eq!(call(&d, Method::POST, "/signals", &t, Some(at_max)).await.0, 200);

    let sid = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    for qty in ["0", "-1", "1000000.5", "NaN", "inf", "Infinity"] {
        let (status, answer) = open(&d, &t, sid, qty).await;
        assert_eq!(status, 422, "qty={qty}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["query", "qty"]), "qty={qty}");
    }
    for (query, field) in [
        ("exit_price=0", "exit_price"),
        ("exit_price=10000001", "exit_price"),
        ("exit_price=NaN", "exit_price"),
        ("exit_price=1&fees=-0.01", "fees"),
        ("exit_price=1&fees=NaN", "fees"),
    ] {
        let (status, answer) = call(
            &d,
            Method::POST,
            &format!("/positions/close?position_id={sid}&{query}"),
            &t,
            None,
        )
        .await;
        assert_eq!(status, 422, "{query}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["query", field]), "{query}");
    }

    let order = |qty: Value| json!({"symbol": "BTCUSDT", "side": "BUY", "qty": qty});
    for (path, body) in [
        ("/ops/execution/pretrade/binance/check", order(json!(1_000_001))),
        ("/ops/execution/pretrade/ibkr/check", order(json!(0))),
        (
            "/ops/execution/prepare",
            json!({"exchange": "BINANCE", "symbol": "BTCUSDT", "side": "BUY", "qty": 0}),
        ),
        ("/ops/execution/binance/test-order", order(json!(0))),
        ("/ops/execution/binance/test-order", order(json!("NaN"))),
        ("/ops/execution/ibkr/test-order", order(json!(1_000_001))),
    ] {
        let (status, answer) = call(&d, Method::POST, path, &t, Some(body.clone())).await;
        assert_eq!(status, 422, "{path} {body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "qty"]), "{path} {body}");
    }
    let exit = json!({"symbol": "BTCUSDT", "side": "BUY", "entry_price": 100, "current_price": 0,
                      "stop_loss": 95, "take_profit": 110});
    let (status, answer) = call(&d, Method::POST, "/ops/execution/exit/binance/check", &t, Some(exit)).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "current_price"]));

    let (status, answer) = call(
        &d,
        Method::POST,
        "/ops/market/prices",
        &admin,
        Some(json!({"exchange": "BINANCE", "prices": {"BTCUSDT": 10_000_001}})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "prices", "BTCUSDT"]));
}
