//! Crash safety: SIGKILL the daemon in the middle of a load of opens and closes, restart it,
//! and check that every acknowledged change is in the database and nothing is half-applied.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_load_loses_nothing_acknowledged_and_half_applies_nothing() {
    let db = TestDb::new();
    let mut d = Daemon::start(&db);
    let users = seed_traders_with_signal(&db.url, "crash", 800);
    let tasks = load_open_then_close(&d.base, users, 32);
    // Let the load get going, then crash the daemon.
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let done: i64 = db
            .sql("SELECT count(*) FROM positions WHERE status = 'CLOSED'")
            .parse()
            .unwrap();
        if done >= 100 {
            break;
        }
    }
    d.kill();
    let outcomes = outcomes_of(tasks).await;
    let t = tally(&outcomes);
    assert!(
        t.refused.iter().all(|s| *s == 503),
        "only 503s may refuse under load: {:?}",
        t.refused
    );
    assert!(
        t.closed.len() >= 100 && t.unanswered > 0,
        "the kill landed mid-load: {} closed, {} unanswered",
        t.closed.len(),
        t.unanswered
    );

    // Restart: start-up is recovery.
    d.restart();

    assert_acknowledged_kept(&db, &t.opened, &t.closed);
    assert_nothing_half_applied(&db);

    // The restarted daemon serves the survivors: an open position left by the crash can be closed.
    if let Some(line) = db.sql("SELECT p.id || '|' || u.email FROM positions p JOIN users u ON u.id = p.user_id WHERE p.status = 'OPEN' LIMIT 1").lines().next() {
        let (id, email) = line.split_once('|').unwrap();
        let (status, body) = call(&d, reqwest::Method::POST, &format!("/positions/close?position_id={id}&exit_price=101"), &mint_token(email, "trader"), None).await;
        assert_eq!(status, 200, "{body}");
    }
}
