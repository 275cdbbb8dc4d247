//! The exit monitor end to end: ticks (pushed or polled) reach the user actors, which alert or
//! close exactly as the contract says, and the team hears about it on (a fake) Telegram.

mod common;
mod fakes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fakes::*;
use reqwest::Method;
use serde_json::json;

const BOT: &str = "42:exit-monitor-test-token";

struct Setup {
    db: TestDb,
    d: Daemon,
    admin: String,
    trader: String,
    position_id: String,
    telegram: Fake,
}

/// A trader with one open BTC/USDT position (entry 100, stop 95, take 110, qty 2).
async fn setup(mode: &str, extra: &[(&str, &str)]) -> Setup {
    let telegram = Fake::start(telegram_ok());
    let db = TestDb::new();
    let mut env = vec![
        ("EXIT_MONITOR_MODE", mode),
        ("TELEGRAM_BOT_TOKEN", BOT),
        ("TELEGRAM_CHAT_ID", "-100777"),
        ("TELEGRAM_API_BASE_URL", telegram.base.as_str()),
    ];
    env.extend_from_slice(extra);
    let d = Daemon::start_with(&db, &env);
    let admin = admin(&d, "ops@desk.io").await;
    let (_, trader) = seed_trader(&db, "watched@desk.io");
    let (status, signal) = call(
        &d,
        Method::POST,
        "/signals",
        &trader,
        Some(json!({"symbol": "BTC/USDT", "module": "m", "base_risk_percent": 0.5,
            "entry_price": 100, "stop_loss": 95, "take_profit": 110})),
    )
    .await;
    assert_eq!(status, 200, "{signal}");
    call(&d, Method::POST, "/signals/claim", &trader, None).await;
    let sid = id_of(&signal["id"]);
    let (status, position) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={sid}&qty=2"),
        &trader,
        None,
    )
    .await;
    assert_eq!(status, 200, "{position}");
    Setup {
        position_id: id_of(&position["id"]),
        db,
        d,
        admin,
        trader,
        telegram,
    }
}

async fn push(s: &Setup, symbol: &str, price: f64) {
    let (status, body) = call(
        &s.d,
        Method::POST,
        "/ops/market/prices",
        &s.admin,
        Some(json!({"exchange": "BINANCE", "prices": {symbol: price}})),
    )
    .await;
    assert_eq!((status, body.clone()), (202, json!({"accepted": 1})), "{body}");
}

fn alerts(db: &TestDb) -> Vec<serde_json::Value> {
    db.sql("SELECT details FROM audit_events WHERE action = 'exit.monitor.triggered' ORDER BY id")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn telegram_texts(f: &Fake) -> Vec<String> {
    f.received()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alert_mode_alerts_once_per_position_and_reason() {
    let s = setup("alert", &[]).await;
    // Inside the band: nothing.
    push(&s, "BTCUSDT", 100.0).await;
    push(&s, "BTCUSDT", 96.0).await;
    // Crossing the stop: one alert, however many ticks stay below it.
    push(&s, "BTC/USDT", 94.5).await;
    wait_sql(
        &s.db,
        "SELECT count(*) FROM audit_events WHERE action = 'exit.monitor.triggered'",
        "1",
    );
    push(&s, "BTCUSDT", 94.0).await;
    push(&s, "BTCUSDT", 93.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let found = alerts(&s.db);
    assert_eq!(found.len(), 1, "no duplicate alert: {found:?}");
    assert_eq!(
        found[0],
        json!({"position_id": s.position_id, "symbol": "BTC/USDT", "price": 94.5, "reasons": ["stop_loss_hit"]})
    );
    // Alert mode leaves the position open.
    assert_eq!(
        s.db.sql(&format!("SELECT status FROM positions WHERE id = '{}'", s.position_id)),
        "OPEN"
    );
    // A new reason for the same position alerts again, with just that reason.
    push(&s, "BTCUSDT", 111.0).await;
    wait_sql(
        &s.db,
        "SELECT count(*) FROM audit_events WHERE action = 'exit.monitor.triggered'",
        "2",
    );
    assert_eq!(alerts(&s.db)[1]["reasons"], json!(["take_profit_hit"]));
    // The team was told, without the bot token in any message.
    let texts = telegram_texts(&s.telegram);
    assert!(texts.iter().any(|t| t.contains("stop_loss_hit")), "{texts:?}");
    assert!(s
        .telegram
        .received()
        .iter()
        .all(|r| r.path == format!("/bot{BOT}/sendMessage") && !r.body.contains(BOT)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_mode_closes_at_the_tick_price_like_a_manual_close() {
    let s = setup("close", &[]).await;
    push(&s, "BTCUSDT", 111.25).await;
    wait_sql(
        &s.db,
        &format!("SELECT status FROM positions WHERE id = '{}'", s.position_id),
        "CLOSED",
    );
    let (_, positions) = call(&s.d, Method::GET, "/positions", &s.trader, None).await;
    let p = &positions[0];
    assert_eq!(p["exit_reason"], "take_profit_hit");
    assert_eq!(p["exit_price"], json!(111.25));
    assert_eq!(p["realized_pnl"], json!(22.5), "(111.25 - 100) * 2");
    let (_, risk) = call(&s.d, Method::GET, "/positions/risk/today", &s.trader, None).await;
    assert_eq!(
        (risk["trades_today"].clone(), risk["realized_pnl_today"].clone()),
        (json!(1), json!(22.5))
    );
    assert_eq!(s.db.sql("SELECT status FROM signals"), "COMPLETED");
    let close =
        s.db.sql("SELECT details FROM audit_events WHERE action = 'position.close'");
    let close: serde_json::Value = serde_json::from_str(&close).unwrap();
    assert_eq!(close["exit_reason"], "take_profit_hit");
    assert_eq!(close["realized_pnl"], json!(22.5));
    let started = Instant::now();
    while !telegram_texts(&s.telegram)
        .iter()
        .any(|t| t.contains("take_profit_hit"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "auto-close notification: {:?}",
            telegram_texts(&s.telegram)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_position_closed_by_hand_between_ticks_is_left_alone() {
    let s = setup("alert", &[]).await;
    let (status, _) = call(
        &s.d,
        Method::POST,
        &format!("/positions/close?position_id={}&exit_price=101", s.position_id),
        &s.trader,
        None,
    )
    .await;
    assert_eq!(status, 200);
    push(&s, "BTCUSDT", 90.0).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(alerts(&s.db).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polled_prices_close_within_one_interval_and_the_time_limit_fires_after_a_restart() {
    // A fake Binance whose ticker price the test moves.
    let price = Arc::new(std::sync::Mutex::new("100.00".to_string()));
    let served = price.clone();
    let binance = Fake::start(Arc::new(move |r: &Received| {
        let symbols: Vec<String> = serde_json::from_str(&r.param("symbols").unwrap_or_default()).unwrap_or_default();
        let p = served.lock().unwrap().clone();
        (
            200,
            json!(symbols
                .iter()
                .map(|s| json!({"symbol": s, "price": p}))
                .collect::<Vec<_>>()),
        )
    }));
    let mut s = setup(
        "close",
        &[
            ("PRICE_POLL_INTERVAL_SECONDS", "1"),
            ("BINANCE_TESTNET_BASE_URL", binance.base.as_str()),
        ],
    )
    .await;
    binance.wait_for(1, Duration::from_secs(5)).await;
    let polled = binance.received();
    assert!(polled.iter().all(|r| r.path == "/api/v3/ticker/price"));
    assert_eq!(
        polled.last().unwrap().param("symbols").as_deref(),
        Some(r#"["BTCUSDT"]"#)
    );
    assert_eq!(s.db.sql("SELECT status FROM positions"), "OPEN");

    // The time limit (480 minutes for SWING_V1): age the position, restart (boot reloads the
    // actors of users with open positions), and the next poll at an in-band price closes it.
    s.db.sql("UPDATE positions SET opened_at = now() - interval '481 minutes'");
    s.d.restart();
    let restarted = Instant::now();
    wait_sql(
        &s.db,
        "SELECT status || '/' || exit_reason FROM positions",
        "CLOSED/time_limit_reached",
    );
    assert!(
        restarted.elapsed() < Duration::from_secs(5),
        "closed within a poll interval or so: {:?}",
        restarted.elapsed()
    );

    // A second position: the stop is crossed between polls.
    let (status, signal) = call(
        &s.d,
        Method::POST,
        "/signals",
        &s.trader,
        Some(json!({"symbol": "BTCUSDT", "module": "m", "base_risk_percent": 0.5,
        "entry_price": 100, "stop_loss": 95, "take_profit": 110})),
    )
    .await;
    assert_eq!(status, 200);
    call(&s.d, Method::POST, "/signals/claim", &s.trader, None).await;
    s.db.sql("UPDATE trading_state SET last_trade_at = now() - interval '1 day'");
    let sid = id_of(&signal["id"]);
    let (status, body) = call(
        &s.d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={sid}&qty=1"),
        &s.trader,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    *price.lock().unwrap() = "94.90000000".to_string();
    let crossed = Instant::now();
    wait_sql(
        &s.db,
        &format!(
            "SELECT status || '/' || exit_reason FROM positions WHERE id = '{}'",
            id_of(&body["id"])
        ),
        "CLOSED/stop_loss_hit",
    );
    assert!(
        crossed.elapsed() < Duration::from_secs(3),
        "within one poll interval: {:?}",
        crossed.elapsed()
    );
    assert_eq!(
        s.db.sql(&format!(
            "SELECT realized_pnl FROM positions WHERE id = '{}'",
            id_of(&body["id"])
        )),
        "-5.10000000"
    );
}
