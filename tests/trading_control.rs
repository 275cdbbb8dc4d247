//! The kill switch end to end: global and per-user states, their refusals and audits, closing
//! never blocked, automatic closes paused while halted, and a change made through one daemon
//! applied by another within a second and kept across restarts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const GLOBAL_MESSAGE: &str = "Trading is globally disabled by admin kill-switch";
const USER_MESSAGE: &str = "Trading is disabled for this user by admin";
const REASON: &str = "exchange outage, investigating";

async fn set_global(d: &Daemon, admin: &str, body: Value) -> (u16, Value) {
    call(d, Method::POST, "/ops/admin/trading-control", admin, Some(body)).await
}

async fn set_user(d: &Daemon, admin: &str, user_id: &str, body: Value) -> (u16, Value) {
    let path = format!("/ops/admin/users/{user_id}/trading-control");
    call(d, Method::POST, &path, admin, Some(body)).await
}

async fn open(d: &Daemon, token: &str, signal_id: &str) -> (u16, Value) {
    let path = format!("/positions/open_from_signal?signal_id={signal_id}&qty=1");
    call(d, Method::POST, &path, token, None).await
}

async fn pretrade(d: &Daemon, token: &str) -> (u16, Value) {
    let body = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.01});
    call(
        d,
        Method::POST,
        "/ops/execution/pretrade/binance/check",
        token,
        Some(body),
    )
    .await
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.sql(sql).parse().unwrap()
}

/// Polls `probe` until it answers `expected`, failing after `within`.
async fn within<F, Fut>(within: Duration, expected: u16, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let started = Instant::now();
    loop {
        let (status, body) = probe().await;
        if status == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still {status} {body} after {within:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_global_switch_blocks_new_exposure_and_never_closing() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = admin(&d, "ops@desk.io").await;
    let (_, trader) = seed_trader(&db, "t1@desk.io");
    let held = executing_signal(&d, &trader, "BTC/USDT").await;
    let (status, position) = open(&d, &trader, &held).await;
    assert_eq!(status, 200, "{position}");

    let (status, body) = call(&d, Method::GET, "/ops/admin/trading-control", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "ACTIVE");
    assert_eq!(body["trading_enabled"], true);
    assert_eq!(body["updated_by"], Value::Null);

    let (status, body) = set_global(&d, &admin, json!({"trading_enabled": false, "reason": REASON})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["state"],
            &body["trading_enabled"],
            &body["reason"],
            &body["updated_by"]
        ),
        (&json!("HALTED"), &json!(false), &json!(REASON), &json!("ops@desk.io"))
    );
    assert!(body["updated_at"].is_string(), "{body}");

    let next = executing_signal(&d, &trader, "ETH/USDT").await;
    let (status, body) = open(&d, &trader, &next).await;
    assert_eq!((status, body["detail"].as_str()), (409, Some(GLOBAL_MESSAGE)), "{body}");
    assert_eq!(body["code"], "trading_disabled_globally");
    // The signal's own checks still come first: a signal that does not exist is 404.
    let (status, _) = open(&d, &trader, "0190c6a2-0000-7000-8000-000000000000").await;
    assert_eq!(status, 404);
    let (status, body) = pretrade(&d, &trader).await;
    assert_eq!((status, body["detail"].as_str()), (409, Some(GLOBAL_MESSAGE)), "{body}");
    let prepare = json!({"exchange": "BINANCE", "symbol": "BTCUSDT", "side": "BUY", "qty": 0.01});
    let (status, _) = call(&d, Method::POST, "/ops/execution/prepare", &trader, Some(prepare)).await;
    assert_eq!(status, 409);
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.01});
    let (status, _) = call(
        &d,
        Method::POST,
        "/ops/execution/binance/test-order",
        &trader,
        Some(order),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_events WHERE action = 'execution.blocked.kill_switch'"
        ),
        4
    );
    assert_eq!(
        db.sql(&format!("SELECT status FROM signals WHERE id = '{next}'")),
        "EXECUTING",
        "a refused open changes nothing"
    );

    // Closing is always allowed.
    let path = format!("/positions/close?position_id={}&exit_price=101", id_of(&position["id"]));
    let (status, closed) = call(&d, Method::POST, &path, &trader, None).await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("CLOSED")), "{closed}");

    let (status, body) = set_global(&d, &admin, json!({"state": "ACTIVE"})).await;
    assert_eq!((status, body["trading_enabled"].as_bool()), (200, Some(true)), "{body}");
    // The close started the trader's cooldown: a second trader shows that opening works again.
    let (_, fresh) = seed_trader(&db, "t2@desk.io");
    let signal = executing_signal(&d, &fresh, "ETH/USDT").await;
    let (status, body) = open(&d, &fresh, &signal).await;
    assert_eq!(status, 200, "{body}");
    let audits = db.sql(
        "SELECT details::jsonb->>'state' || ' ' || (details::jsonb->>'previous_state') FROM audit_events \
         WHERE action = 'trading.control.updated' ORDER BY created_at, id",
    );
    assert_eq!(audits, "HALTED ACTIVE\nACTIVE HALTED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switch_is_refused_without_a_reason_or_by_a_non_admin() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = admin(&d, "ops@desk.io").await;
    let (trader_id, trader) = seed_trader(&db, "t1@desk.io");
    for body in [
        json!({"trading_enabled": false}),
        json!({"trading_enabled": false, "reason": "short"}),
        json!({"state": "REDUCING", "reason": "        "}),
        json!({"state": "PAUSED", "reason": REASON}),
        json!({"state": "HALTED", "trading_enabled": true, "reason": REASON}),
        json!({"reason": REASON}),
        json!({"state": "ACTIVE", "trading_enabled": null}),
        json!({"state": null, "trading_enabled": true}),
    ] {
        let (status, answer) = set_global(&d, &admin, body.clone()).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert!(answer["detail"][0]["loc"][0] == "body", "{answer}");
    }
    let (status, _) = set_global(&d, &trader, json!({"trading_enabled": false, "reason": REASON})).await;
    assert_eq!(status, 403);
    let (status, _) = set_user(&d, &trader, &trader_id, json!({"state": "HALTED", "reason": REASON})).await;
    assert_eq!(status, 403);
    let (status, _) = call(&d, Method::GET, "/ops/admin/trading-control", &trader, None).await;
    assert_eq!(status, 403);
    let (status, body) = set_user(&d, &admin, "not-a-uuid", json!({"state": "HALTED", "reason": REASON})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["path", "user_id"]));
    let nobody = "0190c6a2-0000-7000-8000-000000000000";
    let (status, body) = set_user(&d, &admin, nobody, json!({"state": "HALTED", "reason": REASON})).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("User not found")));
    let path = format!("/ops/admin/users/{nobody}/trading-control");
    let (status, _) = call(&d, Method::GET, &path, &admin, None).await;
    assert_eq!(status, 404);
    assert_eq!(
        count(&db, "SELECT count(*) FROM trading_control"),
        0,
        "nothing refused was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_users_switch_applies_to_that_user_only_and_the_stricter_applies() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = admin(&d, "ops@desk.io").await;
    let (reduced_id, reduced) = seed_trader(&db, "reduced@desk.io");
    let (_, other) = seed_trader(&db, "other@desk.io");

    let (status, body) = set_user(&d, &admin, &reduced_id, json!({"state": "REDUCING", "reason": REASON})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["user_id"], &body["state"]),
        (&json!(reduced_id), &json!("REDUCING"))
    );
    let path = format!("/ops/admin/users/{reduced_id}/trading-control");
    let (_, body) = call(&d, Method::GET, &path, &admin, None).await;
    assert_eq!(body["state"], "REDUCING");
    let (_, body) = call(&d, Method::GET, "/ops/admin/trading-control", &admin, None).await;
    assert_eq!(body["state"], "ACTIVE", "the global switch is untouched");

    let signal = executing_signal(&d, &reduced, "BTC/USDT").await;
    let (status, body) = open(&d, &reduced, &signal).await;
    assert_eq!((status, body["detail"].as_str()), (409, Some(USER_MESSAGE)), "{body}");
    assert_eq!(body["code"], "trading_disabled_for_user");
    let (status, body) = pretrade(&d, &reduced).await;
    assert_eq!((status, body["detail"].as_str()), (409, Some(USER_MESSAGE)), "{body}");
    let (status, body) = pretrade(&d, &other).await;
    assert_eq!(status, 200, "another user trades on: {body}");
    let theirs = executing_signal(&d, &other, "BTC/USDT").await;
    assert_eq!(open(&d, &other, &theirs).await.0, 200);

    // Both switched: the global one is named.
    set_global(&d, &admin, json!({"state": "HALTED", "reason": REASON})).await;
    let (_, body) = open(&d, &reduced, &signal).await;
    assert_eq!(body["detail"], GLOBAL_MESSAGE);
    set_global(&d, &admin, json!({"state": "ACTIVE"})).await;
    let (_, body) = open(&d, &reduced, &signal).await;
    assert_eq!(body["detail"], USER_MESSAGE);
    set_user(&d, &admin, &reduced_id, json!({"trading_enabled": true})).await;
    assert_eq!(open(&d, &reduced, &signal).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_through_one_daemon_applies_on_another_within_a_second_and_survives_restarts() {
    let db = TestDb::new();
    let mut a = Daemon::start(&db);
    let b = Daemon::start_url(&db.url, &[]);
    let admin = admin(&a, "ops@desk.io").await;
    let (user_id, trader) = seed_trader(&db, "t1@desk.io");
    // B has answered once, so its switches are loaded before the change.
    assert_eq!(pretrade(&b, &trader).await.0, 200);

    let (status, _) = set_global(&a, &admin, json!({"trading_enabled": false, "reason": REASON})).await;
    assert_eq!(status, 200);
    let took = within(Duration::from_secs(1), 409, || pretrade(&b, &trader)).await;
    eprintln!("the halt reached the other daemon in {took:?}");
    set_global(&a, &admin, json!({"trading_enabled": true})).await;
    within(Duration::from_secs(1), 200, || pretrade(&b, &trader)).await;

    set_user(&a, &admin, &user_id, json!({"state": "HALTED", "reason": REASON})).await;
    within(Duration::from_secs(1), 409, || pretrade(&b, &trader)).await;
    // A change made in the database by anyone (here SQL) is announced the same way.
    db.sql(&format!(
        "UPDATE trading_control SET state = 'ACTIVE' WHERE user_id = '{user_id}'"
    ));
    within(Duration::from_secs(1), 200, || pretrade(&b, &trader)).await;
    within(Duration::from_secs(1), 200, || pretrade(&a, &trader)).await;

    set_global(&a, &admin, json!({"state": "REDUCING", "reason": REASON})).await;
    a.restart();
    let (status, body) = pretrade(&a, &trader).await;
    assert_eq!((status, body["detail"].as_str()), (409, Some(GLOBAL_MESSAGE)), "{body}");
    let (_, body) = call(&a, Method::GET, "/ops/admin/trading-control", &admin, None).await;
    assert_eq!((&body["state"], &body["reason"]), (&json!("REDUCING"), &json!(REASON)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn halted_pauses_automatic_closes_and_reducing_lets_them_run() {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("EXIT_MONITOR_MODE", "close")]);
    let admin = admin(&d, "ops@desk.io").await;
    let (user_id, trader) = seed_trader(&db, "t1@desk.io");
    let signal = executing_signal(&d, &trader, "BTC/USDT").await;
    let (status, position) = open(&d, &trader, &signal).await;
    assert_eq!(status, 200, "{position}");
    let position_id = id_of(&position["id"]);
    let push = |price: f64| {
        let body = json!({"exchange": "BINANCE", "prices": {"BTCUSDT": price}});
        call(&d, Method::POST, "/ops/market/prices", &admin, Some(body))
    };
    let status_sql = format!("SELECT status FROM positions WHERE id = '{position_id}'");

    set_user(&d, &admin, &user_id, json!({"state": "HALTED", "reason": REASON})).await;
    assert_eq!(push(94.0).await.0, 202);
    let started = Instant::now();
    while count(
        &db,
        "SELECT count(*) FROM audit_events WHERE action = 'exit.monitor.triggered'",
    ) == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the halted position is alerted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(db.sql(&status_sql), "OPEN", "halted: alerted, not closed");

    set_user(&d, &admin, &user_id, json!({"state": "REDUCING", "reason": REASON})).await;
    assert_eq!(push(94.0).await.0, 202);
    let started = Instant::now();
    while db.sql(&status_sql) != "CLOSED" {
        assert!(started.elapsed() < Duration::from_secs(10), "reducing: the stop closes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        db.sql(&format!("SELECT exit_reason FROM positions WHERE id = '{position_id}'")),
        "stop_loss_hit"
    );
}
