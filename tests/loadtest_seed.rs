//! `crypto-saas loadtest seed-users`: bulk traders for the load generator, `.test` domains only.
mod common;
use common::*;

use secrecy::SecretString;

fn seed(db: &TestDb, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["loadtest", "seed-users", "--password-stdin"];
    args.extend_from_slice(extra);
    cli(&db.url, &args, Some(PASSWORD))
}

#[tokio::test]
async fn refuses_domains_outside_the_reserved_test_tld() {
    let db = TestDb::new();
    let _d = Daemon::start(&db); // migrations
    for domain in ["example.com", "gmail.com", "load.test.com"] {
        let out = seed(&db, &["--prefix", "x.", "--count", "3", "--domain", domain]);
        assert!(!out.status.success(), "{domain} must be refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("only the reserved .test domain"), "{stderr}");
    }
    assert_eq!(db.sql("SELECT count(*) FROM users"), "0");
    let out = cli(
        &db.url,
        &["loadtest", "seed-users", "--count", "3", "--password-stdin"],
        Some("short"),
    );
    assert!(!out.status.success(), "a short password is refused");
    assert_eq!(db.sql("SELECT count(*) FROM users"), "0");
}

#[tokio::test]
async fn seeds_traders_with_one_hash_once_and_they_use_the_api() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let out = seed(&db, &["--prefix", "load.t.u", "--count", "50"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "seeded 50 new trader(s) of 50 requested"
    );
    assert_eq!(
        db.sql("SELECT count(*), count(DISTINCT password_hash), min(role), max(role) FROM users WHERE email LIKE 'load.t.u%@load.test'"),
        "50|1|trader|trader"
    );
    assert_eq!(db.sql("SELECT count(*) FROM trading_state"), "50");
    assert_eq!(
        db.sql("SELECT count(*) FROM audit_events WHERE action = 'loadtest.seed_users'"),
        "1"
    );

    // Overlapping range: only the new emails are created, the others are left alone.
    let out = seed(&db, &["--prefix", "load.t.u", "--start", "40", "--count", "20"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "seeded 10 new trader(s) of 20 requested"
    );
    assert_eq!(db.sql("SELECT count(*) FROM users"), "60");

    // The password hashed once is a real argon2 hash of what came on standard input.
    let hash = db.sql("SELECT password_hash FROM users WHERE email = 'load.t.u7@load.test'");
    assert!(
        crypto_saas::auth::password::verify(SecretString::from(PASSWORD), Some(hash.clone()))
            .await
            .unwrap()
    );
    assert!(
        !crypto_saas::auth::password::verify(SecretString::from("wrong-password"), Some(hash))
            .await
            .unwrap()
    );

    // A seeded trader is a full user: a minted token works on the trading routes.
    let token = mint_token("load.t.u7@load.test", "trader");
    let (status, body) = call(
        &d,
        reqwest::Method::POST,
        "/signals",
        &token,
        Some(signal_body("BTCUSDT")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, risk) = call(&d, reqwest::Method::GET, "/positions/risk/today", &token, None).await;
    assert_eq!((status, risk["remaining_trades"].as_i64()), (200, Some(3)), "{risk}");
}
