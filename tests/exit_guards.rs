//! Exit-monitor guards end to end (close mode, ticks pushed through `POST /ops/market/prices`):
//! one bad price never closes a position until a second tick confirms it, a held price is
//! audited once per market and hour across daemons, and automatic closes are capped per minute
//! across the cluster (beyond the cap: alerts and `exit.monitor.throttled`).

mod common;
mod fakes;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use common::*;
use fakes::*;
use reqwest::Method;
use serde_json::{json, Value};

const BOT: &str = "42:exit-guards-test-token";

/// The value of one counter on a daemon's `/metrics` (0 when it was never incremented).
async fn metric(d: &Daemon, series: &str) -> u64 {
    let text = get_text(d, "/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits until a counter reaches `at_least`.
async fn wait_metric(d: &Daemon, series: &str, at_least: u64) {
    let started = Instant::now();
    while metric(d, series).await < at_least {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{series} stayed below {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const HELD: &str = r#"market_ticks_held_total{exchange="BINANCE"}"#;
const DELIVERED: &str = r#"market_tick_deliveries_total{exchange="BINANCE"}"#;

/// Waits, when needed, so that the next `seconds` stay inside one clock unit of `unit_secs`
/// (a minute or an hour): the caps and the suspect audit count per unit.
async fn clear_of_boundary(unit_secs: u32, seconds: u32) {
    let now = Utc::now();
    let into = if unit_secs == 60 {
        now.second()
    } else {
        now.minute() * 60 + now.second()
    };
    if into + seconds >= unit_secs {
        tokio::time::sleep(Duration::from_secs(u64::from(unit_secs - into + 1))).await;
    }
}

async fn push(d: &Daemon, admin: &str, symbol: &str, price: f64) {
    let (status, body) = call(
        d,
        Method::POST,
        "/ops/market/prices",
        admin,
        Some(json!({"exchange": "BINANCE", "prices": {symbol: price}})),
    )
    .await;
    assert_eq!((status, body.clone()), (202, json!({"accepted": 1})), "{body}");
}

/// Opens a position from `signal_id` (entry 100, stop 95, take 110).
async fn open(d: &Daemon, token: &str, signal_id: &str, qty: u32) -> String {
    let (status, position) = call(
        d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={signal_id}&qty={qty}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{position}");
    id_of(&position["id"])
}

fn audits(db: &TestDb, action: &str) -> Vec<Value> {
    db.sql(&format!(
        "SELECT details FROM audit_events WHERE action = '{action}' ORDER BY created_at, id"
    ))
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

fn status_of(db: &TestDb, position_id: &str) -> String {
    db.sql(&format!("SELECT status FROM positions WHERE id = '{position_id}'"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_bad_tick_never_closes_and_a_confirming_tick_does() {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("EXIT_MONITOR_MODE", "close")]);
    let admin = admin(&d, "ops@desk.io").await;
    let (_, trader) = seed_trader(&db, "guarded@desk.io");
    let signal = executing_signal(&d, &trader, "BTC/USDT").await;
    let position = open(&d, &trader, &signal, 2).await;
    clear_of_boundary(3600, 20).await;

    push(&d, &admin, "BTCUSDT", 100.0).await;
    // 30 % below the last accepted price, 26 % beyond the stop: held, not delivered.
    push(&d, &admin, "BTCUSDT", 70.0).await;
    assert_eq!(metric(&d, HELD).await, 1, "the bad tick was held");
    // Back to normal: the bad tick is forgotten. Another bad tick, held again.
    push(&d, &admin, "BTC/USDT", 99.0).await;
    push(&d, &admin, "BTCUSDT", 70.0).await;
    assert_eq!(metric(&d, HELD).await, 2);
    assert_eq!(metric(&d, DELIVERED).await, 2, "only 100 and 99 reached the actor");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_of(&db, &position), "OPEN");
    assert!(audits(&db, "position.close").is_empty());

    // A second tick within the band of the held one confirms the move: it closes.
    push(&d, &admin, "BTCUSDT", 71.0).await;
    wait_sql(
        &db,
        &format!(
            "SELECT status || '/' || exit_reason || '/' || exit_price::float8 FROM positions WHERE id = '{position}'"
        ),
        "CLOSED/stop_loss_hit/71",
    );
    assert_eq!(metric(&d, HELD).await, 2, "the confirming tick was delivered");

    // Two suspects of BTCUSDT in this hour: one audit, about the first, on no user.
    wait_sql(
        &db,
        "SELECT count(*) FROM audit_events WHERE action = 'market.tick.suspect' AND user_id IS NULL",
        "1",
    );
    assert_eq!(
        audits(&db, "market.tick.suspect"),
        vec![json!({"exchange": "BINANCE", "symbol": "BTCUSDT", "price": 70,
            "last_accepted_price": 100, "jump_pct": 30})]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_tick_is_audited_once_per_symbol_and_hour_across_daemons() {
    let db = TestDb::new();
    let a = Daemon::start_with(&db, &[("EXIT_MONITOR_MODE", "alert")]);
    let admin = admin(&a, "ops@desk.io").await;
    let (_, trader) = seed_trader(&db, "watched@desk.io");
    let signal = executing_signal(&a, &trader, "ETHUSDT").await;
    open(&a, &trader, &signal, 1).await;
    // Both daemons hold the market: a second trader opens through the second daemon (whichever
    // daemon watches each trader, each daemon has an actor holding ETHUSDT and screens its ticks).
    let b = Daemon::start_with(&db, &[("EXIT_MONITOR_MODE", "alert")]);
    let (_, other) = seed_trader(&db, "also.watched@desk.io");
    let second = executing_signal(&b, &other, "ETHUSDT").await;
    open(&b, &other, &second, 1).await;
    let started = Instant::now();
    while metric(&b, DELIVERED).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "daemon b never watched the position"
        );
        push(&b, &admin, "ETHUSDT", 100.0).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    clear_of_boundary(3600, 20).await;
    push(&a, &admin, "ETHUSDT", 100.0).await;
    push(&a, &admin, "ETHUSDT", 250.0).await;
    wait_sql(
        &db,
        "SELECT count(*) FROM audit_events WHERE action = 'market.tick.suspect'",
        "1",
    );
    // The other daemon holds the same jump: recorded already, no second audit.
    push(&b, &admin, "ETHUSDT", 250.0).await;
    assert_eq!(metric(&b, HELD).await, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        audits(&db, "market.tick.suspect"),
        vec![json!({"exchange": "BINANCE", "symbol": "ETHUSDT", "price": 250,
            "last_accepted_price": 100, "jump_pct": 150})]
    );
    assert_eq!(db.sql("SELECT count(*) FROM market_tick_suspects"), "1");
    // Neither daemon alerted on the held price.
    assert!(audits(&db, "exit.monitor.triggered").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn automatic_closes_beyond_the_cap_are_alerted_and_throttled() {
    let telegram = Fake::start(telegram_ok());
    let db = TestDb::new();
    let d = Daemon::start_with(
        &db,
        &[
            ("EXIT_MONITOR_MODE", "close"),
            ("EXIT_MAX_AUTO_CLOSES_PER_MINUTE", "2"),
            ("TELEGRAM_BOT_TOKEN", BOT),
            ("TELEGRAM_CHAT_ID", "-100777"),
            ("TELEGRAM_API_BASE_URL", telegram.base.as_str()),
        ],
    );
    let admin = admin(&d, "ops@desk.io").await;
    let mut positions = BTreeSet::new();
    for (_, signal, token) in seed_traders_with_signal(&db.url, "capped", 4) {
        positions.insert(open(&d, &token, &signal, 1).await);
    }
    clear_of_boundary(60, 25).await;

    // Every stop is crossed at once (the first tick of the symbol: accepted).
    push(&d, &admin, "BTCUSDT", 94.0).await;
    wait_sql(&db, "SELECT count(*) FROM positions WHERE status = 'CLOSED'", "2");
    wait_sql(
        &db,
        "SELECT count(*) FROM audit_events WHERE action = 'exit.monitor.throttled'",
        "2",
    );
    wait_sql(
        &db,
        "SELECT count(*) FROM audit_events WHERE action = 'exit.monitor.triggered'",
        "2",
    );
    let still_open: BTreeSet<String> = db
        .sql("SELECT id FROM positions WHERE status = 'OPEN'")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(still_open.len(), 2);
    let throttled = audits(&db, "exit.monitor.throttled");
    let throttled_ids: BTreeSet<String> = throttled.iter().map(|t| id_of(&t["position_id"])).collect();
    assert_eq!(
        throttled_ids, still_open,
        "the throttled positions are the ones left open"
    );
    for t in &throttled {
        assert_eq!(
            (&t["symbol"], &t["price"], &t["reasons"], &t["cap"]),
            (&json!("BTCUSDT"), &json!(94), &json!(["stop_loss_hit"]), &json!(2)),
            "{t}"
        );
    }
    let alerted: BTreeSet<String> = audits(&db, "exit.monitor.triggered")
        .iter()
        .map(|a| id_of(&a["position_id"]))
        .collect();
    assert_eq!(alerted, still_open, "alerted instead of closed");
    assert_eq!(db.sql("SELECT sum(closes) FROM exit_auto_close_minutes"), "2");
    // The team hears of both kinds.
    let started = Instant::now();
    loop {
        let texts: Vec<String> = telegram
            .received()
            .iter()
            .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
            .collect();
        let closed = texts.iter().filter(|t| t.contains("auto-closed")).count();
        let triggered = texts.iter().filter(|t| t.contains("Exit triggered")).count();
        if (closed, triggered) == (2, 2) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{texts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The next tick in the same minute: still throttled, audited once per position only.
    push(&d, &admin, "BTCUSDT", 93.5).await;
    wait_metric(&d, "exit_monitor_throttled_total", 4).await;
    assert_eq!(db.sql("SELECT count(*) FROM positions WHERE status = 'CLOSED'"), "2");
    assert_eq!(audits(&db, "exit.monitor.throttled").len(), 2);
    assert_eq!(audits(&db, "exit.monitor.triggered").len(), 2);

    // A new minute (its count starts again): the next tick closes the rest.
    db.sql("DELETE FROM exit_auto_close_minutes");
    push(&d, &admin, "BTCUSDT", 93.0).await;
    wait_sql(&db, "SELECT count(*) FROM positions WHERE status = 'CLOSED'", "4");
    assert_eq!(
        db.sql("SELECT exit_price::float8 FROM positions WHERE status = 'CLOSED' ORDER BY closed_at DESC LIMIT 1"),
        "93"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_close_that_does_not_happen_leaves_its_slot() {
    let db = TestDb::new();
    let d = Daemon::start_with(
        &db,
        &[("EXIT_MONITOR_MODE", "close"), ("EXIT_MAX_AUTO_CLOSES_PER_MINUTE", "1")],
    );
    let admin = admin(&d, "ops@desk.io").await;
    let (_, eth_trader) = seed_trader(&db, "eth@desk.io");
    let (_, btc_trader) = seed_trader(&db, "btc@desk.io");
    let eth_signal = executing_signal(&d, &eth_trader, "ETHUSDT").await;
    let eth = open(&d, &eth_trader, &eth_signal, 1).await;
    let btc_signal = executing_signal(&d, &btc_trader, "BTCUSDT").await;
    let btc = open(&d, &btc_trader, &btc_signal, 1).await;
    clear_of_boundary(60, 20).await;
    // The ETH position is closed behind its actor's back (as another daemon would): the
    // automatic close finds it closed and gives the minute's only slot back.
    db.sql(&format!(
        "UPDATE positions SET status = 'CLOSED', closed_at = now() WHERE id = '{eth}'"
    ));
    push(&d, &admin, "ETHUSDT", 94.0).await;
    wait_sql(&db, "SELECT closes FROM exit_auto_close_minutes", "0");
    assert_eq!(
        db.sql(&format!("SELECT exit_reason IS NULL FROM positions WHERE id = '{eth}'")),
        "t"
    );
    // So the BTC position's close, in the same minute, still finds it.
    push(&d, &admin, "BTCUSDT", 94.0).await;
    wait_sql(
        &db,
        &format!("SELECT status || '/' || coalesce(exit_reason, '') FROM positions WHERE id = '{btc}'"),
        "CLOSED/stop_loss_hit",
    );
    assert_eq!(db.sql("SELECT closes FROM exit_auto_close_minutes"), "1");
    assert!(audits(&db, "exit.monitor.throttled").is_empty());
}
