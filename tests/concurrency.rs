//! Exactly-once claims and never-exceeded limits under concurrency, with one daemon and with
//! two daemons sharing one database (the SQL that commits must hold across processes).

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::Method;

async fn create_signals(db: &TestDb, user_id: &str, count: usize) {
    db.sql(&format!(
        "INSERT INTO signals (user_id, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit) \
         SELECT '{user_id}', 'SYM' || g, 'm', 0.5, 100, 95, 110 FROM generate_series(1, {count}) g"
    ));
}

/// 64 concurrent claims (limit 10) over 500 signals, spread over the given daemons.
async fn claim_storm(daemons: &[&Daemon], token: &str) -> Vec<String> {
    let mut tasks = Vec::new();
    for i in 0..64 {
        let url = daemons[i % daemons.len()].url("/signals/claim?limit=10");
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            let resp = client().post(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let body: serde_json::Value = resp.json().await.unwrap();
            body.as_array()
                .unwrap()
                .iter()
                .map(|s| id_of(&s["id"]))
                .collect::<Vec<_>>()
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn assert_exactly_once(db: &TestDb, claimed: Vec<String>) {
    let unique: HashSet<&String> = claimed.iter().collect();
    assert_eq!(unique.len(), claimed.len(), "a signal was handed to two claimers");
    assert_eq!(claimed.len(), 500, "every signal claimed");
    assert_eq!(db.sql("SELECT count(*) FROM signals WHERE status = 'EXECUTING'"), "500");
    let audited: i64 = db
        .sql("SELECT sum((details::json->>'claimed_count')::int) FROM audit_events WHERE action = 'signal.claim'")
        .parse()
        .unwrap();
    assert_eq!(audited, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_hand_out_each_signal_once() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, t) = seed_trader(&db, "claims@desk.io");
    create_signals(&db, &uid, 500).await;
    assert_exactly_once(&db, claim_storm(&[&d], &t).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_across_two_daemons_hand_out_each_signal_once() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    let (uid, t) = seed_trader(&db, "claims2@desk.io");
    create_signals(&db, &uid, 500).await;
    assert_exactly_once(&db, claim_storm(&[&a, &b], &t).await);
}

/// 32 concurrent opens for one user; one position is already open and its cooldown has passed,
/// so exactly one more may open (max_open_positions = 2), whatever the interleaving.
async fn open_storm(daemons: &[&Daemon], db: &TestDb) {
    let (uid, t) = seed_trader(db, "opens@desk.io");
    create_signals(db, &uid, 33).await;
    db.sql("UPDATE signals SET status = 'EXECUTING'");
    let first = db.sql("SELECT id FROM signals ORDER BY created_at, id LIMIT 1");
    let (status, _) = call(
        daemons[0],
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={first}&qty=1"),
        &t,
        None,
    )
    .await;
    assert_eq!(status, 200);
    db.sql(&format!(
        "UPDATE trading_state SET last_trade_at = now() - interval '1 day' WHERE user_id = '{uid}'"
    ));
    let ids: Vec<String> = db
        .sql(&format!(
            "SELECT string_agg(id::text, ',') FROM signals WHERE id <> '{first}'"
        ))
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 32);
    let mut tasks = Vec::new();
    for (i, sid) in ids.into_iter().enumerate() {
        let url = daemons[i % daemons.len()].url(&format!("/positions/open_from_signal?signal_id={sid}&qty=1"));
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let resp = client().post(url).bearer_auth(t).send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"));
            (status, body["detail"].as_str().unwrap_or_default().to_string())
        }));
    }
    let mut opened = 0;
    for task in tasks {
        let (status, detail) = task.await.unwrap();
        match status {
            200 => opened += 1,
            409 => assert!(
                detail == "Risk block: max open positions reached" || detail.starts_with("Risk block: cooldown active"),
                "{detail}"
            ),
            other => panic!("unexpected {other}: {detail}"),
        }
    }
    assert_eq!(opened, 1, "exactly one more open fits");
    assert_eq!(db.sql("SELECT count(*) FROM positions WHERE status = 'OPEN'"), "2");
    assert_eq!(
        db.sql(&format!(
            "SELECT open_positions FROM trading_state WHERE user_id = '{uid}'"
        )),
        "2"
    );
    assert_eq!(db.sql("SELECT count(*) FROM signals WHERE status = 'OPENED'"), "2");
    assert_eq!(
        db.sql("SELECT count(*) FROM audit_events WHERE action LIKE 'position.open.blocked.%'"),
        "31"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_never_exceed_max_open_positions() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    open_storm(&[&d], &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_across_two_daemons_never_exceed_max_open_positions() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    open_storm(&[&a, &b], &db).await;
}

/// A close is checked against the database, not against what one daemon's actor holds: a
/// position opened through daemon A closes through daemon B, whose actor started before the
/// open (so B learns the terms from the locked row, and the PnL is right); and closing it again
/// through A, whose actor still holds it as open, is refused.
#[tokio::test]
async fn a_position_closes_through_another_daemon_exactly_once() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    let (_, token) = seed_trader(&db, "two.daemons@example.com");
    // B's actor for this user starts now, holding no position.
    let (status, claimed) = call(&b, Method::POST, "/signals/claim?limit=1", &token, None).await;
    assert_eq!((status, claimed), (200, serde_json::json!([])));
    let signal_id = executing_signal(&a, &token, "BTCUSDT").await;
    let (status, position) = call(
        &a,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={signal_id}&qty=2"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{position}");
    let pid = id_of(&position["id"]);

    let close = format!("/positions/close?position_id={pid}&exit_price=103&fees=0.5");
    let (status, closed) = call(&b, Method::POST, &close, &token, None).await;
    assert_eq!(status, 200, "{closed}");
    // (103 - 100) * 2 - 0.5
    assert_eq!(closed["realized_pnl"], serde_json::json!(5.5));
    let (status, body) = call(&a, Method::POST, &close, &token, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Position status must be OPEN (got CLOSED)"))
    );
    assert_eq!(
        db.sql(
            "SELECT (SELECT count(*) FROM audit_events WHERE action = 'position.close') || ',' || \
             trades_count || ',' || (realized_pnl = 5.5) FROM risk_daily"
        ),
        "1,1,true"
    );
}
