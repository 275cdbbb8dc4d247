//! Idempotent retries end to end: the same caller, route, key and request get the first answer
//! byte for byte (marked `Idempotent-Replayed: true`) and the change happens once — also when the
//! retries race each other through two daemons; another request with the key is 409; refusals
//! are answered again, 5xx answers are not kept; old keys are removed.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const REUSED: &str = "Idempotency key already used with different payload";

/// A request's status, body as sent (text) and whether it was a replay.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    body: String,
    replayed: bool,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON body: {}", self.body))
    }
}

async fn keyed(d: &Daemon, method: Method, path: &str, token: &str, key: &str, body: Option<Value>) -> Answer {
    let mut req = client()
        .request(method, d.url(path))
        .bearer_auth(token)
        .header("X-Idempotency-Key", key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let replayed = match resp.headers().get("idempotent-replayed") {
        None => false,
        Some(value) => {
            assert_eq!(value, "true", "the replay header says true");
            true
        }
    };
    Answer {
        status,
        body: resp.text().await.unwrap(),
        replayed,
    }
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.sql(sql).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_trading_route_runs_once_per_key_and_answers_the_same_again() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, trader) = seed_trader(&db, "keys@desk.io");

    let first = keyed(
        &d,
        Method::POST,
        "/signals",
        &trader,
        "create-1",
        Some(signal_body("BTC/USDT")),
    )
    .await;
    assert_eq!((first.status, first.replayed), (200, false), "{}", first.body);
    let again = keyed(
        &d,
        Method::POST,
        "/signals",
        &trader,
        "create-1",
        Some(signal_body("BTC/USDT")),
    )
    .await;
    assert_eq!((again.status, again.replayed, &again.body), (200, true, &first.body));
    assert_eq!(count(&db, "SELECT count(*) FROM signals"), 1);
    let other = keyed(
        &d,
        Method::POST,
        "/signals",
        &trader,
        "create-1",
        Some(signal_body("ETH/USDT")),
    )
    .await;
    assert_eq!(other.status, 409, "{}", other.body);
    assert_eq!(
        (other.json()["detail"].as_str(), other.json()["code"].as_str()),
        (Some(REUSED), Some("idempotency_key_reused"))
    );
    assert!(!other.replayed);
    assert_eq!(count(&db, "SELECT count(*) FROM signals"), 1);
    // Without a key nothing is deduplicated: a second signal.
    let (status, _) = call(&d, Method::POST, "/signals", &trader, Some(signal_body("BTC/USDT"))).await;
    assert_eq!(status, 200);

    let claim = keyed(&d, Method::POST, "/signals/claim?limit=1", &trader, "claim-1", None).await;
    assert_eq!((claim.status, claim.json().as_array().map(Vec::len)), (200, Some(1)));
    let reclaim = keyed(&d, Method::POST, "/signals/claim?limit=1", &trader, "claim-1", None).await;
    assert_eq!((reclaim.replayed, &reclaim.body), (true, &claim.body));
    assert_eq!(count(&db, "SELECT count(*) FROM signals WHERE status = 'EXECUTING'"), 1);
    let signal_id = id_of(&claim.json()[0]["id"]);

    let open_path = format!("/positions/open_from_signal?signal_id={signal_id}&qty=1");
    let opened = keyed(&d, Method::POST, &open_path, &trader, "open-1", None).await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    let reopened = keyed(&d, Method::POST, &open_path, &trader, "open-1", None).await;
    assert_eq!((reopened.replayed, &reopened.body), (true, &opened.body));
    // The same key on another route is another key.
    let position_id = id_of(&opened.json()["id"]);
    let close_path = format!("/positions/close?position_id={position_id}&exit_price=104&fees=0.5");
    let closed = keyed(&d, Method::POST, &close_path, &trader, "open-1", None).await;
    assert_eq!((closed.status, closed.replayed), (200, false), "{}", closed.body);
    assert_eq!(closed.json()["realized_pnl"], json!(3.5));
    for _ in 0..3 {
        let again = keyed(&d, Method::POST, &close_path, &trader, "open-1", None).await;
        assert_eq!((again.status, again.replayed, &again.body), (200, true, &closed.body));
    }
    let risk = db.sql(&format!(
        "SELECT trades_count || ' ' || realized_pnl FROM risk_daily WHERE user_id = '{uid}'"
    ));
    assert_eq!(risk.split(' ').next(), Some("1"), "one trade: {risk}");
    assert_eq!(
        risk.split(' ').nth(1).map(|p| p.parse::<f64>().unwrap()),
        Some(3.5),
        "{risk}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_events WHERE action = 'position.close'"),
        1
    );
    // A different exit price under the close's key is another request.
    let other_close = format!("/positions/close?position_id={position_id}&exit_price=90");
    let refused = keyed(&d, Method::POST, &other_close, &trader, "open-1", None).await;
    assert_eq!((refused.status, refused.json()["detail"].as_str()), (409, Some(REUSED)));
    assert_eq!(
        count(&db, "SELECT count(*) FROM idempotency_keys WHERE answer_status IS NULL"),
        0,
        "every shard-written key holds its answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refusals_are_answered_again_and_bad_keys_are_400() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, trader) = seed_trader(&db, "refused@desk.io");
    let (_, other) = seed_trader(&db, "other@desk.io");
    let signal = executing_signal(&d, &trader, "BTC/USDT").await;

    // Too large for the risk per trade: 409, recorded, answered again even after the rule would pass.
    let path = format!("/positions/open_from_signal?signal_id={signal}&qty=100");
    let refused = keyed(&d, Method::POST, &path, &trader, "big", None).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.json()["code"], "risk_block_risk_per_trade");
    db.sql("UPDATE users SET capital_base_usd = 1000000000");
    let again = keyed(&d, Method::POST, &path, &trader, "big", None).await;
    assert_eq!((again.status, again.replayed, &again.body), (409, true, &refused.body));
    assert_eq!(count(&db, "SELECT count(*) FROM positions"), 0);

    // Keys are per caller: another user's identical key and request run on their own.
    let foreign = keyed(&d, Method::POST, &path, &other, "big", None).await;
    assert_eq!((foreign.status, foreign.replayed), (403, false), "{}", foreign.body);

    let long = "k".repeat(129);
    let answer = keyed(&d, Method::POST, &path, &trader, &long, None).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        (answer.json()["detail"].as_str(), answer.json()["code"].as_str()),
        (
            Some("Idempotency key too long (max 128 chars)"),
            Some("idempotency_key_too_long")
        )
    );
    let answer = keyed(&d, Method::POST, "/signals", &trader, "", Some(signal_body("BTC/USDT"))).await;
    assert_eq!(
        (answer.status, answer.json()["code"].as_str()),
        (400, Some("idempotency_key_invalid"))
    );
    assert_eq!(count(&db, "SELECT count(*) FROM positions"), 0);
    let exactly_128 = "k".repeat(128);
    let answer = keyed(&d, Method::POST, &path, &trader, &exactly_128, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixteen_concurrent_retries_through_two_daemons_open_one_position() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    let (_, trader) = seed_trader(&db, "race@desk.io");
    let signal = executing_signal(&a, &trader, "BTC/USDT").await;
    let path = format!("/positions/open_from_signal?signal_id={signal}&qty=1");

    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let url = if i % 2 == 0 { a.url(&path) } else { b.url(&path) };
            let trader = trader.clone();
            tokio::spawn(async move {
                let resp = client()
                    .post(url)
                    .bearer_auth(trader)
                    .header("X-Idempotency-Key", "open-race")
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let replayed = resp.headers().contains_key("idempotent-replayed");
                (status, replayed, resp.text().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let first = &answers[0].2;
    for (status, _, body) in &answers {
        assert_eq!((*status, body), (200, first), "sixteen identical answers");
    }
    assert_eq!(
        answers.iter().filter(|(_, replayed, _)| !replayed).count(),
        1,
        "one ran"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM positions"), 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_events WHERE action = 'position.open'"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_older_than_the_configured_age_are_removed() {
    let db = TestDb::new();
    let (uid, _) = seed_trader(&db, "old@desk.io");
    db.sql(&format!(
        "INSERT INTO idempotency_keys (user_id, route, key, request_hash, answer_status, answer_body, created_at) VALUES \
         ('{uid}', '/signals', 'stale', '\\x00', 200, '{{}}', now() - interval '8 days'), \
         ('{uid}', '/signals', 'recent', '\\x00', 200, '{{}}', now() - interval '6 days')"
    ));
    let _d = Daemon::start_with(&db, &[("IDEMPOTENCY_KEY_MAX_AGE_DAYS", "7")]);
    wait_sql(&db, "SELECT string_agg(key, ',') FROM idempotency_keys", "recent");
}
