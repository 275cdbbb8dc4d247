//! Several daemons on one database: every open position is watched by exactly one live daemon;
//! when it is killed, the others take its positions over within `CLUSTER_FAILOVER_SECONDS` and
//! each position is closed once; a graceful stop hands over at once; `/ops/cluster` tells it.

mod common;
mod fakes;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use fakes::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::Method;
use serde_json::{json, Value};

const FAILOVER_SECS: u64 = 4;

fn cluster_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("EXIT_MONITOR_MODE", "close"),
        ("CLUSTER_FAILOVER_SECONDS", "4"),
        ("EXIT_MAX_AUTO_CLOSES_PER_MINUTE", "1000"),
    ]
}

/// `count` traders, each with one open BTC/USDT position (entry 100, stop 95), opened through
/// the daemons in turn.
async fn open_positions(daemons: &[&Daemon], db: &TestDb, count: usize) -> Vec<String> {
    let mut positions = Vec::new();
    for i in 0..count {
        let d = daemons[i % daemons.len()];
        let (_, trader) = seed_trader(db, &format!("t{i}@desk.io"));
        let signal = json!({"symbol": "BTC/USDT", "module": "m", "base_risk_percent": 0.5,
                            "entry_price": 100, "stop_loss": 95, "take_profit": 110});
        let (status, signal) = call(d, Method::POST, "/signals", &trader, Some(signal)).await;
        assert_eq!(status, 200, "{signal}");
        assert_eq!(call(d, Method::POST, "/signals/claim", &trader, None).await.0, 200);
        let path = format!("/positions/open_from_signal?signal_id={}&qty=1", id_of(&signal["id"]));
        let (status, position) = call(d, Method::POST, &path, &trader, None).await;
        assert_eq!(status, 200, "{position}");
        positions.push(id_of(&position["id"]));
    }
    positions
}

async fn cluster(d: &Daemon, token: &str) -> Value {
    let (status, body) = call(d, Method::GET, "/ops/cluster", token, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn alive(view: &Value) -> Vec<&Value> {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["alive"] == json!(true))
        .collect()
}

/// Waits until `n` live daemons share the 32 partitions, each holding some.
async fn spread_over(d: &Daemon, token: &str, n: usize) -> Value {
    let started = Instant::now();
    loop {
        let view = cluster(d, token).await;
        let live = alive(&view);
        let held: i64 = live.iter().map(|node| node["partitions_held"].as_i64().unwrap()).sum();
        if live.len() == n && held == 32 && live.iter().all(|node| node["partitions_held"].as_i64() > Some(0)) {
            return view;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not spread over {n}: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn push_price(d: &Daemon, token: &str, price: f64) {
    let body = json!({"exchange": "BINANCE", "prices": {"BTCUSDT": price}});
    let (status, answer) = call(d, Method::POST, "/ops/market/prices", token, Some(body)).await;
    assert_eq!(status, 202, "{answer}");
}

fn open_count(db: &TestDb) -> i64 {
    db.sql("SELECT count(*) FROM positions WHERE status = 'OPEN'")
        .parse()
        .unwrap()
}

/// Pushes a price to `daemons` every 100 ms, starting at `from` and moving by `step` (a new price
/// each time, so no tick is taken for a repeat), until `done`; fails with `failure` after `within`.
/// Returns how long it took.
async fn push_until(
    daemons: &[&Daemon],
    token: &str,
    (from, step): (f64, f64),
    within: Duration,
    done: impl Fn() -> bool,
    failure: impl Fn() -> String,
) -> Duration {
    let started = Instant::now();
    let mut price = from;
    while !done() {
        assert!(started.elapsed() < within, "{} after {within:?}", failure());
        for d in daemons {
            push_price(d, token, price).await;
        }
        price += step;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Pushes a price below every stop to the survivors until every position is closed; returns when.
async fn cross_every_stop(survivors: &[&Daemon], token: &str, db: &TestDb, within: Duration) -> Duration {
    let done = || open_count(db) == 0;
    let failure = || format!("{} positions still open", open_count(db));
    push_until(survivors, token, (94.0, -0.01), within, done, failure).await
}

fn assert_each_closed_once(db: &TestDb, positions: &[String]) {
    assert_eq!(
        db.sql("SELECT count(*) FROM positions WHERE status = 'CLOSED' AND exit_reason = 'stop_loss_hit'"),
        positions.len().to_string()
    );
    let closes = db.sql(
        "SELECT entity_id || ' ' || count(*) FROM audit_events WHERE action = 'position.close' \
         GROUP BY entity_id ORDER BY entity_id",
    );
    let closes: Vec<&str> = closes.lines().collect();
    assert_eq!(closes.len(), positions.len(), "{closes:?}");
    assert!(
        closes.iter().all(|line| line.ends_with(" 1")),
        "each closed once: {closes:?}"
    );
}

/// How many open positions belong to users of the partitions `node` holds.
fn open_watched_by(db: &TestDb, node: &Value) -> i64 {
    db.sql(&format!(
        "SELECT count(*) FROM positions p JOIN cluster_partitions c ON c.partition = user_partition(p.user_id) \
         WHERE p.status = 'OPEN' AND c.owner = '{}'",
        node.as_str().unwrap()
    ))
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_daemons_positions_are_taken_over_and_each_closed_once() {
    let db = TestDb::new();
    let env = cluster_env();
    let mut a = Daemon::start_with(&db, &env);
    let b = Daemon::start_with(&db, &env);
    let admin = admin(&a, "ops@desk.io").await;
    let view = spread_over(&b, &admin, 2).await;
    let positions = open_positions(&[&a, &b], &db, 20).await;

    // The killed daemon watched some of the twenty (their users' partitions are its).
    let a_id = cluster(&a, &admin).await["answered_by"].clone();
    let a_node = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == a_id)
        .unwrap()
        .clone();
    assert!(a_node["partitions_held"].as_i64().unwrap() >= 8, "{view}");
    assert!(
        open_watched_by(&db, &a_id) > 0,
        "the killed daemon watched some positions"
    );

    a.kill();
    let killed_at = Instant::now();
    let took = cross_every_stop(&[&b], &admin, &db, Duration::from_secs(FAILOVER_SECS + 6)).await;
    let since_kill = killed_at.elapsed();
    assert!(
        since_kill <= Duration::from_secs(FAILOVER_SECS),
        "all twenty closed {since_kill:?} after the kill (pushing for {took:?})"
    );
    assert_each_closed_once(&db, &positions);

    let view = cluster(&b, &admin).await;
    let live = alive(&view);
    assert_eq!(live.len(), 1, "{view}");
    assert_eq!(live[0]["partitions_held"], 32, "{view}");
    let dead = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == a_id)
        .unwrap();
    assert_eq!(dead["alive"], false, "{view}");
    // More prices change nothing: no second close, no alert.
    push_price(&b, &admin, 90.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_each_closed_once(&db, &positions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_daemons_share_the_watch_and_two_cover_for_the_third() {
    let db = TestDb::new();
    let env = cluster_env();
    let a = Daemon::start_with(&db, &env);
    let b = Daemon::start_with(&db, &env);
    let mut c = Daemon::start_with(&db, &env);
    let admin = admin(&a, "ops@desk.io").await;
    spread_over(&a, &admin, 3).await;
    let positions = open_positions(&[&a, &b, &c], &db, 15).await;
    // Exactly one watcher each: the owners of the partitions are distinct live daemons.
    assert_eq!(
        db.sql("SELECT count(DISTINCT owner) FROM cluster_partitions"),
        "3",
        "three owners"
    );

    c.kill();
    cross_every_stop(&[&a, &b], &admin, &db, Duration::from_secs(FAILOVER_SECS + 6)).await;
    assert_each_closed_once(&db, &positions);
    spread_over(&a, &admin, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_position_opened_through_one_daemon_is_watched_by_its_owner_alone() {
    let db = TestDb::new();
    let env = cluster_env();
    let a = Daemon::start_with(&db, &env);
    let b = Daemon::start_with(&db, &env);
    let admin = admin(&a, "ops@desk.io").await;
    spread_over(&a, &admin, 2).await;
    let (a_id, b_id) = (
        cluster(&a, &admin).await["answered_by"].clone(),
        cluster(&b, &admin).await["answered_by"].clone(),
    );
    let positions = open_positions(&[&a], &db, 16).await;
    let (on_a, on_b) = (open_watched_by(&db, &a_id), open_watched_by(&db, &b_id));
    assert_eq!(on_a + on_b, 16);
    assert!(on_a > 0 && on_b > 0, "both daemons watch some: {on_a} / {on_b}");

    // Prices reach B alone: it closes the positions it watches, though all were opened through A,
    // and leaves A's.
    let done = || open_watched_by(&db, &b_id) == 0;
    let failure = || "B did not close what it watches".to_string();
    push_until(&[&b], &admin, (94.0, -0.01), Duration::from_secs(5), done, failure).await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(open_watched_by(&db, &a_id), on_a, "B never closes what A watches");
    cross_every_stop(&[&a], &admin, &db, Duration::from_secs(5)).await;
    assert_each_closed_once(&db, &positions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_stop_hands_its_partitions_over_at_once() {
    let db = TestDb::new();
    let env = [("CLUSTER_FAILOVER_SECONDS", "30")];
    let a = Daemon::start_with(&db, &env);
    let b = Daemon::start_with(&db, &env);
    let admin = admin(&a, "ops@desk.io").await;
    spread_over(&b, &admin, 2).await;
    kill(Pid::from_raw(a.child.id() as i32), Signal::SIGTERM).unwrap();
    let stopped = Instant::now();
    loop {
        let view = cluster(&b, &admin).await;
        if alive(&view).len() == 1 && alive(&view)[0]["partitions_held"] == 32 {
            break;
        }
        // Leases last 15 s here: taking over sooner than that is the hand-over, not a lapse.
        assert!(stopped.elapsed() < Duration::from_secs(3), "no hand-over: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_takeover_polls_prices_at_once_rather_than_at_the_next_interval() {
    // A fake Binance whose price the test moves; the daemons poll it only every 60 s on their own.
    let price = Arc::new(Mutex::new("100.00".to_string()));
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
    let db = TestDb::new();
    let mut env = cluster_env();
    env.extend([
        ("PRICE_POLL_INTERVAL_SECONDS", "60"),
        ("BINANCE_TESTNET_BASE_URL", binance.base.as_str()),
    ]);
    let mut a = Daemon::start_with(&db, &env);
    let b = Daemon::start_with(&db, &env);
    let admin = admin(&a, "ops@desk.io").await;
    spread_over(&b, &admin, 2).await;
    let positions = open_positions(&[&a, &b], &db, 20).await;

    *price.lock().unwrap() = "94.00".to_string();
    a.kill();
    let killed_at = Instant::now();
    while open_count(&db) > 0 {
        assert!(
            killed_at.elapsed() < Duration::from_secs(FAILOVER_SECS + 2),
            "{} positions still open {:?} after the kill",
            open_count(&db),
            killed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_each_closed_once(&db, &positions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_strategy_assigned_through_one_daemon_is_used_by_the_watcher_at_once() {
    let db = TestDb::new();
    let env = cluster_env();
    let a = Daemon::start_with(&db, &env);
    let b = Daemon::start_with(&db, &env);
    let admin = admin(&a, "ops@desk.io").await;
    spread_over(&a, &admin, 2).await;
    let positions = open_positions(&[&a], &db, 1).await;
    let a_id = cluster(&a, &admin).await["answered_by"].clone();
    let (watcher, other) = if open_watched_by(&db, &a_id) == 1 {
        (&a, &b)
    } else {
        (&b, &a)
    };

    // 300 minutes old: past INTRADAY_V1's time limit (240), within SWING_V1's (480, the default).
    db.sql("UPDATE positions SET opened_at = now() - interval '300 minutes'");
    let assign = json!({"user_email": "t0@desk.io", "exchange": "BINANCE", "strategy_id": "INTRADAY_V1"});
    let (status, body) = call(other, Method::POST, "/ops/strategy/assign", &admin, Some(assign)).await;
    assert_eq!(status, 200, "{body}");
    let done = || open_count(&db) == 0;
    let failure = || "the watcher still judges by SWING_V1".to_string();
    push_until(&[watcher], &admin, (100.0, 0.01), Duration::from_secs(3), done, failure).await;
    assert_eq!(
        db.sql(&format!(
            "SELECT exit_reason FROM positions WHERE id = '{}'",
            positions[0]
        )),
        "time_limit_reached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_takeover_in_alert_mode_sends_no_alert_twice() {
    let telegram = Fake::start(telegram_ok());
    let db = TestDb::new();
    let env = [
        ("EXIT_MONITOR_MODE", "alert"),
        ("CLUSTER_FAILOVER_SECONDS", "4"),
        ("TELEGRAM_BOT_TOKEN", "42:cluster-test-token"),
        ("TELEGRAM_CHAT_ID", "-100777"),
        ("TELEGRAM_API_BASE_URL", telegram.base.as_str()),
    ];
    let mut a = Daemon::start_with(&db, &env);
    let b = Daemon::start_with(&db, &env);
    let admin = admin(&a, "ops@desk.io").await;
    spread_over(&b, &admin, 2).await;
    let positions = open_positions(&[&a, &b], &db, 12).await;
    let alerted = || -> i64 {
        db.sql("SELECT count(*) FROM audit_events WHERE action = 'exit.monitor.triggered'")
            .parse()
            .unwrap()
    };

    // Each watcher alerts its own positions once.
    let done = || alerted() >= positions.len() as i64;
    let failure = || format!("{} alerts", alerted());
    push_until(&[&a, &b], &admin, (94.0, -0.01), Duration::from_secs(5), done, failure).await;
    let mut price = 93.0;
    // The survivor takes the killed daemon's positions with no memory of their alerts: the
    // alert table still keeps each to one.
    a.kill();
    let killed_at = Instant::now();
    while killed_at.elapsed() < Duration::from_secs(FAILOVER_SECS + 1) {
        push_price(&b, &admin, price).await;
        price -= 0.01;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(cluster(&b, &admin).await["nodes"][0]["partitions_held"], 32);
    assert_eq!(alerted(), positions.len() as i64, "one alert per position");
    let per_position = db.sql(
        "SELECT count(*) FROM audit_events WHERE action = 'exit.monitor.triggered' \
         GROUP BY details::jsonb->>'position_id' HAVING count(*) > 1",
    );
    assert_eq!(per_position, "", "no position alerted twice");
    let sent = telegram
        .received()
        .iter()
        .filter(|r| r.json()["text"].as_str().unwrap_or_default().contains("Exit triggered"))
        .count();
    assert_eq!(sent, positions.len(), "one Telegram message per position");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopping_daemon_takes_no_lease_back_while_its_requests_in_flight_finish() {
    // A test order that takes 4 s upstream keeps the stopping daemon draining that long; its
    // lease rounds (every 0.5 s here) must not take back what it handed over.
    let binance = Fake::start_slow(Arc::new(|_| (200, json!({}))), Duration::from_secs(4));
    let db = TestDb::new();
    let env = [
        ("CLUSTER_FAILOVER_SECONDS", "2"),
        ("BINANCE_TESTNET_BASE_URL", binance.base.as_str()),
        ("EXCHANGE_HTTP_TIMEOUT_MS", "8000"),
    ];
    let a = Daemon::start_with(&db, &env);
    let b = Daemon::start_with(&db, &env);
    let admin = admin(&a, "ops@desk.io").await;
    spread_over(&b, &admin, 2).await;
    let a_id = cluster(&a, &admin).await["answered_by"].as_str().unwrap().to_string();
    let (_, trader) = seed_trader(&db, "slow@desk.io");
    let secret =
        json!({"exchange": "BINANCE", "api_key": "AKIAbinanceKEY123", "api_secret": "s3cr3t-binance-secret-VALUE"});
    assert_eq!(
        call(&a, Method::POST, "/users/exchange-secrets", &trader, Some(secret))
            .await
            .0,
        201
    );

    let order = client()
        .post(a.url("/ops/execution/binance/test-order"))
        .bearer_auth(&trader)
        .json(&json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.001}))
        .send();
    let in_flight = tokio::spawn(async move { order.await.map(|r| r.status().as_u16()) });
    binance.wait_for(1, Duration::from_secs(5)).await;
    kill(Pid::from_raw(a.child.id() as i32), Signal::SIGTERM).unwrap();
    let held_by_a = || {
        db.sql(&format!(
            "SELECT count(*) FROM cluster_partitions WHERE owner = '{a_id}'"
        ))
    };
    let stopped = Instant::now();
    while held_by_a() != "0" {
        assert!(stopped.elapsed() < Duration::from_secs(1), "no hand-over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while !in_flight.is_finished() {
        assert_eq!(
            held_by_a(),
            "0",
            "a lease taken back {:?} after SIGTERM",
            stopped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        200,
        "the request in flight was answered"
    );
    assert!(
        stopped.elapsed() >= Duration::from_secs(2),
        "the daemon drained for a while"
    );
}
