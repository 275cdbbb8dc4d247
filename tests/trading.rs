//! The trading core end to end: signals, claims, opens, closes, risk — messages, statuses and
//! audits exactly as the contract lists them.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn full_cycle_create_claim_open_close_and_risk_today() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (user_id, t) = seed_trader(&db, "cycle@desk.io");

    // `user_id` in the body is ignored: the owner is the caller.
    let mut body = signal_body("BTCUSDT");
    body["user_id"] = json!(999);
    let (status, signal) = call(&d, Method::POST, "/signals", &t, Some(body)).await;
    assert_eq!(status, 200, "{signal}");
    assert_eq!(signal["user_id"], user_id);
    assert_eq!(signal["status"], "CREATED");
    assert_eq!(signal["symbol"], "BTCUSDT");
    assert_eq!(signal["entry_price"], json!(100));
    assert_eq!(signal["exchange"], "BINANCE");
    for field in [
        "id",
        "module",
        "base_risk_percent",
        "stop_loss",
        "take_profit",
        "reason_codes",
    ] {
        assert!(signal.get(field).is_some(), "SignalOut has {field}");
    }
    let signal_id = id_of(&signal["id"]);

    let (status, claimed) = call(&d, Method::POST, "/signals/claim?limit=10", &t, None).await;
    assert_eq!(status, 200);
    assert_eq!(claimed.as_array().unwrap().len(), 1);
    assert_eq!(claimed[0]["status"], "EXECUTING");
    let (_, again) = call(&d, Method::POST, "/signals/claim", &t, None).await;
    assert_eq!(again, json!([]), "nothing left to claim");

    let (status, position) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={signal_id}&qty=2"),
        &t,
        None,
    )
    .await;
    assert_eq!(status, 200, "{position}");
    assert_eq!(position["status"], "OPEN");
    assert_eq!(position["side"], "LONG");
    assert_eq!(position["signal_id"], signal_id);
    assert_eq!(
        (
            position["entry_price"].clone(),
            position["stop_loss"].clone(),
            position["take_profit"].clone()
        ),
        (json!(100), json!(95), json!(110))
    );
    assert_eq!(position["qty"], json!(2));
    let position_id = id_of(&position["id"]);
    assert_eq!(
        db.sql(&format!("SELECT status FROM signals WHERE id = '{signal_id}'")),
        "OPENED"
    );

    let (status, closed) = call(
        &d,
        Method::POST,
        &format!("/positions/close?position_id={position_id}&exit_price=104.5&fees=0.25"),
        &t,
        None,
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["status"], "CLOSED");
    // (104.5 - 100) * 2 - 0.25
    assert_eq!(closed["realized_pnl"], json!(8.75));
    assert_eq!(closed["fees"], json!(0.25));
    assert!(closed["closed_at"].is_string());
    assert_eq!(
        db.sql(&format!("SELECT status FROM signals WHERE id = '{signal_id}'")),
        "COMPLETED"
    );

    let (status, risk) = call(&d, Method::GET, "/positions/risk/today", &t, None).await;
    assert_eq!(status, 200);
    assert_eq!(risk["user_id"], user_id);
    assert_eq!(risk["risk_profile"], "model2_conservador_productivo");
    assert_eq!(risk["trades_today"], 1);
    assert_eq!(risk["realized_pnl_today"], json!(8.75));
    assert_eq!(risk["daily_stop"], json!(-1.5));
    assert_eq!(risk["max_trades"], 3);
    assert_eq!(risk["max_open_positions"], 2);
    assert_eq!(risk["cooldown_between_trades_minutes"], 30);
    assert_eq!(risk["remaining_trades"], 2);
    assert_eq!(risk["remaining_loss_buffer"], json!(-10.25));
    let bogota_today = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::Bogota)
        .date_naive()
        .to_string();
    assert_eq!(risk["day"], bogota_today);

    let (_, positions) = call(&d, Method::GET, "/positions", &t, None).await;
    assert_eq!(positions.as_array().unwrap().len(), 1);
    let (_, signals) = call(&d, Method::GET, "/signals", &t, None).await;
    assert_eq!(signals[0]["status"], "COMPLETED");

    let actions = db.sql(&format!(
        "SELECT string_agg(action, ',' ORDER BY created_at, id) FROM audit_events WHERE user_id = '{user_id}'"
    ));
    assert_eq!(
        actions,
        "signal.create,signal.claim,signal.claim,position.open,position.close"
    );
    let claim_details = db.sql("SELECT details FROM audit_events WHERE action = 'signal.claim' ORDER BY id LIMIT 1");
    let claim_details: serde_json::Value = serde_json::from_str(&claim_details).unwrap();
    assert_eq!(claim_details, json!({"claimed_count": 1, "limit": 10}));
    let close_details: serde_json::Value =
        serde_json::from_str(&db.sql("SELECT details FROM audit_events WHERE action = 'position.close'")).unwrap();
    assert_eq!(close_details["realized_pnl"], json!(8.75));
    assert_eq!(close_details["fees"], json!(0.25));
}

#[tokio::test]
async fn signals_are_listed_newest_first_and_claimed_oldest_first() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, t) = seed_trader(&db, "order@desk.io");
    let mut ids = Vec::new();
    for symbol in ["AAA", "BBB", "CCC"] {
        let (_, s) = call(&d, Method::POST, "/signals", &t, Some(signal_body(symbol))).await;
        ids.push(id_of(&s["id"]));
    }
    let (_, listed) = call(&d, Method::GET, "/signals", &t, None).await;
    let listed: Vec<String> = listed.as_array().unwrap().iter().map(|s| id_of(&s["id"])).collect();
    assert_eq!(listed, ids.iter().rev().cloned().collect::<Vec<_>>());
    let (_, claimed) = call(&d, Method::POST, "/signals/claim?limit=2", &t, None).await;
    let claimed: Vec<String> = claimed.as_array().unwrap().iter().map(|s| id_of(&s["id"])).collect();
    assert_eq!(claimed, ids[..2]);
}

#[tokio::test]
async fn open_and_close_refusals_have_the_contract_messages() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, alice) = seed_trader(&db, "alice@desk.io");
    let (_, bob) = seed_trader(&db, "bob@desk.io");

    let (status, body) = call(
        &d,
        Method::POST,
        "/positions/open_from_signal?signal_id=424242&qty=1",
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 422, "a malformed id: {body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "signal_id"]));
    let (status, body) = call(
        &d,
        Method::POST,
        "/positions/open_from_signal?signal_id=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b&qty=1",
        &alice,
        None,
    )
    .await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("Signal not found")));

    let (_, created) = call(&d, Method::POST, "/signals", &alice, Some(signal_body("ETHUSDT"))).await;
    let created_id = id_of(&created["id"]);
    let (status, body) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={created_id}&qty=1"),
        &bob,
        None,
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Cannot open another user's signal"))
    );
    let (status, body) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={created_id}&qty=1"),
        &alice,
        None,
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Signal status must be EXECUTING (got CREATED)"))
    );

    let (status, body) = call(&d, Method::POST, "/positions/open_from_signal?qty=1", &alice, None).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "signal_id"]));
    let (status, _) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={created_id}&qty=-1"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 422);

    let (_, claimed) = call(&d, Method::POST, "/signals/claim?limit=1", &alice, None).await;
    let sid = id_of(&claimed[0]["id"]);
    assert_eq!(sid, created_id);
    let (_, position) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={sid}&qty=1"),
        &alice,
        None,
    )
    .await;
    let pid = id_of(&position["id"]);
    let (status, body) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={sid}&qty=1"),
        &alice,
        None,
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Signal status must be EXECUTING (got OPENED)"))
    );

    let (status, body) = call(
        &d,
        Method::POST,
        "/positions/close?position_id=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b&exit_price=1",
        &alice,
        None,
    )
    .await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("Position not found")));
    let (status, body) = call(
        &d,
        Method::POST,
        &format!("/positions/close?position_id={pid}&exit_price=1"),
        &bob,
        None,
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Cannot close another user's position"))
    );
    let (status, _) = call(
        &d,
        Method::POST,
        &format!("/positions/close?position_id={pid}&exit_price=101"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &d,
        Method::POST,
        &format!("/positions/close?position_id={pid}&exit_price=101"),
        &alice,
        None,
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Position status must be OPEN (got CLOSED)"))
    );

    let (status, body) = call(&d, Method::POST, "/signals", &alice, Some(json!({"symbol": "X"}))).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "missing");
    let (status, _) = call(
        &d,
        Method::POST,
        "/signals",
        &alice,
        Some(json!({"symbol": "X", "module": "m", "base_risk_percent": "abc",
        "entry_price": 1, "stop_loss": 1, "take_profit": 1})),
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn risk_blocks_in_contract_order_with_audits() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, t) = seed_trader(&db, "risky@desk.io");
    let open = |sid: &str| format!("/positions/open_from_signal?signal_id={sid}&qty=1");
    let age_last_trade = || {
        db.sql(&format!(
            "UPDATE trading_state SET last_trade_at = now() - interval '2 hours' WHERE user_id = '{uid}'"
        ))
    };

    let s1 = executing_signal(&d, &t, "S1").await;
    assert_eq!(call(&d, Method::POST, &open(&s1), &t, None).await.0, 200);

    // Cooldown: the open just now is the latest trade.
    let s2 = executing_signal(&d, &t, "S2").await;
    let (status, body) = call(&d, Method::POST, &open(&s2), &t, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Risk block: cooldown active (30.0m)"))
    );

    age_last_trade();
    assert_eq!(call(&d, Method::POST, &open(&s2), &t, None).await.0, 200);

    // Max open positions is checked before the cooldown.
    let s3 = executing_signal(&d, &t, "S3").await;
    let (status, body) = call(&d, Method::POST, &open(&s3), &t, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Risk block: max open positions reached"))
    );

    // Close both (at a loss reaching the daily stop), then the daily stop blocks.
    let (_, positions) = call(&d, Method::GET, "/positions", &t, None).await;
    for p in positions.as_array().unwrap() {
        let pid = id_of(&p["id"]);
        let (status, _) = call(
            &d,
            Method::POST,
            &format!("/positions/close?position_id={pid}&exit_price=99.25"),
            &t,
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    age_last_trade();
    let (status, body) = call(&d, Method::POST, &open(&s3), &t, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Risk block: daily stop reached"))
    );

    // Max trades: three trades today, PnL back above the stop.
    db.sql(&format!(
        "UPDATE risk_daily SET realized_pnl = 5, trades_count = 3 WHERE user_id = '{uid}'"
    ));
    let (status, body) = call(&d, Method::POST, &open(&s3), &t, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Risk block: max trades reached"))
    );

    let blocked = db.sql(&format!(
        "SELECT string_agg(action, ',' ORDER BY created_at, id) FROM audit_events WHERE user_id = '{uid}' AND action LIKE 'position.open.blocked.%'"
    ));
    assert_eq!(
        blocked,
        "position.open.blocked.cooldown,position.open.blocked.max_open_positions,position.open.blocked.daily_stop,position.open.blocked.max_trades"
    );
    assert_eq!(
        db.sql(&format!(
            "SELECT sum(blocked_opens) FROM risk_daily WHERE user_id = '{uid}'"
        )),
        "4"
    );
    let (_, risk) = call(&d, Method::GET, "/positions/risk/today", &t, None).await;
    assert_eq!(risk["remaining_trades"], 0);
}

/// The user actor offers the risk state it last saw to each open; when the database has moved
/// on behind it (another daemon, an operator's SQL), the rules must judge the database's state.
/// Each trader's actor starts (and reads an empty state) with its first request; then the
/// database changes, then the open.
#[tokio::test]
async fn an_open_is_judged_by_the_database_when_the_actors_view_is_stale() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let today = "(now() AT TIME ZONE 'America/Bogota')::date";
    let cases = [
        (
            "trades@desk.io",
            "INSERT INTO risk_daily (user_id, day, trades_count, realized_pnl) VALUES ('{uid}', {today}, 3, 0)",
            "Risk block: max trades reached",
        ),
        (
            "open@desk.io",
            "UPDATE trading_state SET open_positions = 2 WHERE user_id = '{uid}'",
            "Risk block: max open positions reached",
        ),
        (
            "cooldown@desk.io",
            "UPDATE trading_state SET last_trade_at = now() - interval '1 minute' WHERE user_id = '{uid}'",
            "Risk block: cooldown active (30.0m)",
        ),
        (
            "stop@desk.io",
            "INSERT INTO risk_daily (user_id, day, trades_count, realized_pnl) VALUES ('{uid}', {today}, 1, -1000000)",
            "Risk block: daily stop reached",
        ),
    ];
    for (email, change, message) in cases {
        let (uid, t) = seed_trader(&db, email);
        let sid = executing_signal(&d, &t, "BTCUSDT").await;
        db.sql(&change.replace("{uid}", &uid.to_string()).replace("{today}", today));
        let open = format!("/positions/open_from_signal?signal_id={sid}&qty=1");
        let (status, body) = call(&d, Method::POST, &open, &t, None).await;
        assert_eq!((status, body["detail"].as_str()), (409, Some(message)), "{email}");
        // Nothing of the refused open was written; the block was.
        assert_eq!(
            db.sql(&format!("SELECT status FROM signals WHERE id = '{sid}'")),
            "EXECUTING"
        );
        assert_eq!(
            db.sql(&format!("SELECT count(*) FROM positions WHERE user_id = '{uid}'")),
            "0"
        );
        assert_eq!(
            db.sql(&format!(
                "SELECT count(*) FROM audit_events WHERE user_id = '{uid}' AND action LIKE 'position.open.blocked.%'"
            )),
            "1"
        );
    }

    // A database that moved on without breaking a rule: the open goes through, counted on top of
    // the database's state (not the actor's).
    let (uid, t) = seed_trader(&db, "moved@desk.io");
    let sid = executing_signal(&d, &t, "BTCUSDT").await;
    db.sql(&format!(
        "UPDATE trading_state SET open_positions = 1, last_trade_at = now() - interval '2 hours' WHERE user_id = '{uid}'"
    ));
    let open = format!("/positions/open_from_signal?signal_id={sid}&qty=1");
    assert_eq!(call(&d, Method::POST, &open, &t, None).await.0, 200);
    assert_eq!(
        db.sql(&format!(
            "SELECT open_positions FROM trading_state WHERE user_id = '{uid}'"
        )),
        "2"
    );
}

#[tokio::test]
async fn loose_profile_is_chosen_by_email() {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("RISK_PROFILE_LOOSE_EMAIL", "Loose@Desk.io")]);
    let (_, t) = seed_trader(&db, "loose@desk.io");
    let (_, risk) = call(&d, Method::GET, "/positions/risk/today", &t, None).await;
    assert_eq!(risk["risk_profile"], "modelo_suelto_controlado");
    assert_eq!(risk["cooldown_between_trades_minutes"], 20);
    assert_eq!(risk["daily_stop"], json!(-2));
    let s1 = executing_signal(&d, &t, "S1").await;
    call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={s1}&qty=1"),
        &t,
        None,
    )
    .await;
    let s2 = executing_signal(&d, &t, "S2").await;
    let (_, body) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={s2}&qty=1"),
        &t,
        None,
    )
    .await;
    assert_eq!(body["detail"], "Risk block: cooldown active (20.0m)");
}
