//! Cached identities never outlive a change in the database, whoever made it.

mod common;

use common::*;
use reqwest::Method;

#[tokio::test]
async fn a_deleted_user_is_refused_on_the_next_request() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, t) = seed_trader(&db, "gone@desk.io");
    for _ in 0..3 {
        assert_eq!(call(&d, Method::GET, "/positions/risk/today", &t, None).await.0, 200);
    }
    db.sql(&format!("DELETE FROM users WHERE id = '{uid}'"));
    let (status, body) = eventually(&d, "/positions/risk/today", &t).await;
    assert_eq!((status, body["detail"].as_str()), (401, Some("User not found")));
}

#[tokio::test]
async fn an_email_change_by_another_process_reaches_every_daemon() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (uid, t) = seed_trader(&db, "role@desk.io");
    assert_eq!(call(&d, Method::GET, "/metrics", &t, None).await.0, 200);
    for _ in 0..3 {
        assert_eq!(call(&d, Method::GET, "/positions", &t, None).await.0, 200);
    }
    // A second daemon on the same database sees the same change.
    let other = Daemon::start(&db);
    assert_eq!(call(&other, Method::GET, "/positions", &t, None).await.0, 200);
    db.sql(&format!(
        "UPDATE users SET email = 'renamed@desk.io' WHERE id = '{uid}'"
    ));
    for daemon in [&d, &other] {
        let (status, body) = eventually(daemon, "/positions/risk/today", &t).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (401, Some("User not found")),
            "{}",
            daemon.base
        );
    }
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_routes_on_the_very_next_request() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let t = admin(&d, "boss@desk.io").await;
    for _ in 0..3 {
        assert_eq!(call(&d, Method::GET, "/users", &t, None).await.0, 200);
        assert_eq!(call(&d, Method::GET, "/users/me", &t, None).await.0, 200);
    }
    db.sql("UPDATE users SET role = 'trader' WHERE email = 'boss@desk.io'");
    let (status, body) = call(&d, Method::GET, "/users", &t, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Insufficient permissions"))
    );
}
