//! Faults beyond a crash (`crash.rs`) and a stopped database (`backpressure.rs`): the database
//! dropping every connection while group commits are in flight, an upstream that hangs, and an
//! exchange mailbox filled past its capacity.

mod common;
mod fakes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fakes::Fake;
use reqwest::Method;
use serde_json::json;

/// Drops every connection the daemon holds to its database, as a failover does; how many.
fn drop_daemon_connections(db: &TestDb) -> usize {
    db.sql(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_failover_mid_group_commit_loses_nothing_acknowledged_and_needs_no_restart() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let users = seed_traders_with_signal(&db.url, "failover", 3000);
    let tasks = load_open_then_close(&d.base, users, 32);
    // Cut every connection, over and over, while the shards are committing batches.
    let mut cut = 0;
    let mut rounds_under_load = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let in_flight: i64 = db
            .sql("SELECT count(*) FROM positions WHERE status = 'OPEN'")
            .parse()
            .unwrap();
        cut += drop_daemon_connections(&db);
        rounds_under_load += usize::from(in_flight > 0);
    }
    let outcomes = outcomes_of(tasks).await;
    let t = tally(&outcomes);
    eprintln!(
        "{cut} connections cut in {rounds_under_load} rounds under load: {} opened, {} closed, {} refused",
        t.opened.len(),
        t.closed.len(),
        t.refused.len()
    );
    assert!(
        rounds_under_load >= 3,
        "the cuts landed under load: {cut} connections cut"
    );
    assert_eq!(t.unanswered, 0, "every request is answered, if only with a 503");
    assert!(
        t.refused.iter().all(|s| *s == 503),
        "only 503s may refuse: {:?}",
        t.refused
    );
    assert!(
        t.closed.len() >= 100,
        "the load went on between cuts: {} closed",
        t.closed.len()
    );
    assert_acknowledged_kept(&db, &t.opened, &t.closed);
    assert_nothing_half_applied(&db);

    // The same daemon serves again once the database answers, without a restart.
    let (_, signal_id, token) = seed_traders_with_signal(&db.url, "after", 1).remove(0);
    let started = Instant::now();
    let after = loop {
        let outcomes = open_then_close(&d.base, &signal_id, &token).await;
        if !matches!(outcomes.first(), Some(Outcome::Refused(503))) || started.elapsed() > Duration::from_secs(10) {
            break outcomes;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        matches!(after.as_slice(), [Outcome::Opened { .. }, Outcome::Closed { .. }]),
        "{after:?}"
    );
}

/// A daemon whose Binance never answers, with `timeout_ms` for each call, and a trader with a
/// Binance secret saved: (the Binance, the database, the daemon, the trader's token).
async fn hanging_binance(timeout_ms: &str) -> (Fake, TestDb, Daemon, String) {
    let binance = Fake::start_slow(Arc::new(|_| (200, json!({}))), Duration::from_secs(120));
    let db = TestDb::new();
    let d = Daemon::start_with(
        &db,
        &[
            ("BINANCE_TESTNET_BASE_URL", binance.base.as_str()),
            ("EXCHANGE_HTTP_TIMEOUT_MS", timeout_ms),
        ],
    );
    let (_, token) = seed_trader(&db, "hang@desk.io");
    let secret = json!({"exchange": "BINANCE", "api_key": "AKIAfaultsKEY123", "api_secret": "faults-binance-secret"});
    let (status, body) = call(&d, Method::POST, "/users/exchange-secrets", &token, Some(secret)).await;
    assert_eq!(status, 201, "{body}");
    (binance, db, d, token)
}

/// `count` concurrent test orders: each one's status, whether it carried `Retry-After`, and how
/// long it took.
async fn test_orders(d: &Daemon, token: &str, count: usize) -> Vec<(u16, bool, Duration)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let orders = (0..count).map(|_| {
        let request = http
            .post(d.url("/ops/execution/binance/test-order"))
            .bearer_auth(token)
            .json(&json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.001}));
        async move {
            let started = Instant::now();
            let resp = request.send().await.expect("the daemon answers every order");
            (
                resp.status().as_u16(),
                resp.headers().contains_key("retry-after"),
                started.elapsed(),
            )
        }
    });
    futures::future::join_all(orders).await
}

/// How long one request takes to be answered 200.
async fn answered_in(d: &Daemon, method: Method, path: &str, token: &str, body: Option<serde_json::Value>) -> Duration {
    let started = Instant::now();
    let (status, body) = call(d, method, path, token, body).await;
    assert_eq!(status, 200, "{path}: {body}");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_that_hangs_gets_bounded_502s_while_the_rest_of_the_daemon_answers() {
    let (binance, _db, d, token) = hanging_binance("1500").await;
    let orders = {
        let (d, token) = (&d, token.clone());
        async move { test_orders(d, &token, 40).await }
    };
    let others = async {
        binance.wait_for(1, Duration::from_secs(5)).await;
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            slowest = slowest
                .max(answered_in(&d, Method::GET, "/users/me", &token, None).await)
                .max(answered_in(&d, Method::POST, "/signals", &token, Some(signal_body("BTCUSDT"))).await)
                .max(
                    answered_in(
                        &d,
                        Method::POST,
                        "/ops/execution/pretrade/binance/check",
                        &token,
                        Some(json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.001})),
                    )
                    .await,
                );
        }
        slowest
    };
    let (answers, slowest_other) = tokio::join!(orders, others);
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(statuses.iter().all(|s| *s == 502), "{statuses:?}");
    let longest = answers.iter().map(|a| a.2).max().unwrap();
    assert!(
        longest < Duration::from_secs(4),
        "a hung order held its caller {longest:?}"
    );
    assert!(
        slowest_other < Duration::from_secs(2),
        "the rest waited {slowest_other:?}"
    );
    // No slot frees before the first order's 1.5 s are up: until then at most 16 are upstream.
    let received = binance.received();
    let first = received.iter().map(|r| r.at).min().unwrap();
    let at_once = received
        .iter()
        .filter(|r| r.at < first + Duration::from_millis(1400))
        .count();
    assert!(
        at_once <= 16,
        "{at_once} orders upstream at once, more than the actor's 16 slots"
    );
}

fn rss_kib(d: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_exchange_mailbox_pushes_back_with_503_and_memory_stays_flat() {
    // 16 orders upstream and 256 queued fill the Binance actor; the rest are pushed back.
    let (_binance, _db, d, token) = hanging_binance("1000").await;
    let mut rss = Vec::new();
    for round in 0..5 {
        let answers = test_orders(&d, &token, 600).await;
        let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
        assert!(
            answers.iter().all(|a| a.0 == 502 || a.0 == 503),
            "round {round}: {:?}",
            answers.iter().map(|a| a.0).collect::<Vec<_>>()
        );
        assert!(
            !busy.is_empty() && busy.iter().all(|a| a.1),
            "round {round}: 503s with Retry-After"
        );
        let longest = answers.iter().map(|a| a.2).max().unwrap();
        assert!(
            longest < Duration::from_secs(5),
            "round {round}: an order waited {longest:?}"
        );
        rss.push(rss_kib(&d));
    }
    // The first round grows the pools once; later rounds reuse them.
    let (first, last) = (rss[0], *rss.last().unwrap());
    assert!(
        last <= first + 16 * 1024,
        "RSS grew from {first} to {last} KiB over the rounds: {rss:?}"
    );
}
