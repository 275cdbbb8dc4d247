//! TOTP secrets at rest: sealed under the key ring for their user, sealed in place when an
//! older deployment left them in plaintext, and moved to the newest key by `secrets reencrypt`.

mod common;

use std::process::Output;
use std::time::Duration;

use actors::crypto::{KeyRing, SealedTotp};
use common::*;
use reqwest::Method;
use serde_json::json;

const FIXED_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const NEW_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

/// The code of the step `offset` steps away from now.
fn code(secret: &str, offset: i64) -> String {
    let at = unix_now() as i64 + offset * 30;
    crypto_saas::auth::totp::code_at(secret, at as u64).unwrap()
}

/// Waits until the current step has at least 8 seconds left, so the test's codes and the
/// daemon's clock agree on the step.
async fn away_from_step_edge() {
    let into = unix_now() % 30;
    if into >= 22 {
        tokio::time::sleep(Duration::from_secs(31 - into)).await;
    }
}

fn stored_secret(db: &TestDb, email: &str) -> String {
    db.sql(&format!("SELECT totp_secret FROM users WHERE email = '{email}'"))
}

/// Runs the CLI with a key ring (`ENCRYPTION_KEYS`, newest first).
fn cli_with_ring(db: &TestDb, ring: &str, args: &[&str]) -> Output {
    std::process::Command::new(binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("SECRET_KEY", SECRET_KEY)
        .env("ENCRYPTION_KEYS", ring)
        .env("LOG_LEVEL", "warn")
        .output()
        .expect("run the CLI")
}

#[tokio::test]
async fn setup_enable_and_login_keep_only_the_sealed_secret() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let token = trader(&d, "sealed@desk.io").await;
    let (status, body) = call(&d, Method::POST, "/auth/2fa/setup", &token, None).await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap().to_string();
    away_from_step_edge().await;
    let (status, body) = call(
        &d,
        Method::POST,
        "/auth/2fa/verify-enable",
        &token,
        Some(json!({ "otp": code(&secret, 0) })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = login_with(&d, "sealed@desk.io", PASSWORD, Some(&code(&secret, 1))).await;
    assert_eq!(status, 200, "{body}");

    let stored = stored_secret(&db, "sealed@desk.io");
    assert!(stored.starts_with("v1:k1:"), "{stored}");
    assert!(!stored.contains(&secret));
    let dump = pg_dump(&db);
    assert!(dump.contains(&stored), "the dump has the users table");
    assert!(!dump.contains(&secret), "the base32 secret is nowhere in the database");
}

#[tokio::test]
async fn plaintext_secrets_of_an_old_deployment_are_sealed_by_the_next_start() {
    let db = TestDb::new();
    {
        let d = Daemon::start(&db);
        register(&d, "old@desk.io").await;
    }
    // As an older deployment left them: plaintext, for one real user and more than one batch
    // of others.
    db.sql(&format!(
        "UPDATE users SET totp_secret = '{FIXED_SECRET}', totp_enabled = TRUE WHERE email = 'old@desk.io';
         INSERT INTO users (email, password_hash, role, totp_secret, totp_enabled)
         SELECT 'bulk' || i || '@desk.io', 'x', 'trader', '{FIXED_SECRET}', TRUE FROM generate_series(1, 1200) i"
    ));
    // Two daemons starting at once both seal; neither fails, and every row ends sealed once.
    let daemons: Vec<Daemon> = std::thread::scope(|s| {
        let starts = [s.spawn(|| Daemon::start(&db)), s.spawn(|| Daemon::start(&db))];
        starts.map(|t| t.join().unwrap()).into()
    });
    assert_eq!(
        db.sql("SELECT count(*) FROM users WHERE totp_secret NOT LIKE 'v1:k1:%'"),
        "0"
    );
    let ring = KeyRing::from_texts("ENCRYPTION_KEY", &[("k1".to_string(), ENCRYPTION_KEY)]).unwrap();
    let sample = db.sql("SELECT id || ' ' || totp_secret FROM users WHERE email = 'bulk777@desk.io'");
    let (id, sealed) = sample.split_once(' ').unwrap();
    let opened = SealedTotp::from_stored(sealed.to_string())
        .open(&ring, id.parse().unwrap())
        .unwrap();
    assert_eq!(opened.expose(), FIXED_SECRET);

    away_from_step_edge().await;
    let (status, body) = login_with(&daemons[0], "old@desk.io", PASSWORD, Some(&code(FIXED_SECRET, 0))).await;
    assert_eq!(status, 200, "{body}");

    // A later start finds nothing to seal and changes nothing.
    let before = stored_secret(&db, "old@desk.io");
    drop(daemons);
    let d = Daemon::start(&db);
    assert_eq!(stored_secret(&db, "old@desk.io"), before);
    let (status, body) = login_with(&d, "old@desk.io", PASSWORD, Some(&code(FIXED_SECRET, 1))).await;
    assert_eq!(status, 200, "{body}");
    assert!(!pg_dump(&db).contains(FIXED_SECRET));
}

#[tokio::test]
async fn reencrypt_after_a_key_rotation_reseals_totp_secrets_under_the_new_key() {
    let db = TestDb::new();
    let old_ring = format!("old:{ENCRYPTION_KEY}");
    let secret = {
        let d = Daemon::start_with(&db, &[("ENCRYPTION_KEYS", old_ring.as_str())]);
        let token = trader(&d, "rotate@desk.io").await;
        let (_, body) = call(&d, Method::POST, "/auth/2fa/setup", &token, None).await;
        let secret = body["secret"].as_str().unwrap().to_string();
        away_from_step_edge().await;
        let (status, body) = call(
            &d,
            Method::POST,
            "/auth/2fa/verify-enable",
            &token,
            Some(json!({ "otp": code(&secret, 0) })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        register(&d, "plain@desk.io").await;
        secret
    };
    assert!(stored_secret(&db, "rotate@desk.io").starts_with("v1:old:"));

    // Without the old key the secret does not open: a plain 500, not the user's fault, not a
    // failed login, and nothing of the secret in the answer.
    {
        let d = Daemon::start_with(&db, &[("ENCRYPTION_KEYS", format!("new:{NEW_KEY}").as_str())]);
        let (status, body) = login_with(&d, "rotate@desk.io", PASSWORD, Some(&code(&secret, 0))).await;
        assert_eq!(
            (status, body),
            (
                500,
                json!({ "detail": "Internal Server Error", "code": "internal_error" })
            )
        );
        assert_eq!(db.sql("SELECT count(*) FROM login_failures"), "0");
    }
    // Written while no daemon runs: only the re-encryption sees it.
    db.sql(&format!(
        "UPDATE users SET totp_secret = '{FIXED_SECRET}', totp_enabled = TRUE WHERE email = 'plain@desk.io'"
    ));

    let ring = format!("new:{NEW_KEY},{old_ring}");
    let before = stored_secret(&db, "rotate@desk.io");
    let out = cli_with_ring(&db, &ring, &["secrets", "reencrypt", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("dry_run=true scanned=0 updated=0 key_id=new totp_scanned=2 totp_updated=2 totp_plaintext=1"),
        "{stdout}"
    );
    assert_eq!(
        stored_secret(&db, "rotate@desk.io"),
        before,
        "a dry run changes nothing"
    );
    assert_eq!(stored_secret(&db, "plain@desk.io"), FIXED_SECRET);

    let out = cli_with_ring(&db, &ring, &["secrets", "reencrypt"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("totp_scanned=2 totp_updated=2 totp_plaintext=1"),
        "{stdout}"
    );
    for email in ["rotate@desk.io", "plain@desk.io"] {
        assert!(stored_secret(&db, email).starts_with("v1:new:"), "{email}");
    }
    let out = cli_with_ring(&db, &ring, &["secrets", "reencrypt"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("totp_updated=0"));
    let audit = db.sql(
        "SELECT details::jsonb->'totp_secrets' FROM audit_events WHERE action = 'security.key_rotation.reencrypt' \
         AND NOT (details::jsonb->>'dry_run')::bool ORDER BY created_at LIMIT 1",
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&audit).unwrap(),
        json!({ "scanned": 2, "updated": 2, "plaintext": 1, "failed": 0 })
    );

    // The old key can leave the ring.
    let d = Daemon::start_with(&db, &[("ENCRYPTION_KEYS", format!("new:{NEW_KEY}").as_str())]);
    away_from_step_edge().await;
    let (status, body) = login_with(&d, "rotate@desk.io", PASSWORD, Some(&code(&secret, 1))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = login_with(&d, "plain@desk.io", PASSWORD, Some(&code(FIXED_SECRET, 0))).await;
    assert_eq!(status, 200, "{body}");
    let dump = pg_dump(&db);
    assert!(!dump.contains(&secret) && !dump.contains(FIXED_SECRET));

    // The admin route re-encrypts them too, answering their counts beside the contract's.
    let admin = admin(&d, "admin.rotate@desk.io").await;
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/security/reencrypt-exchange-secrets",
        &admin,
        Some(json!({ "old_key": NEW_KEY, "new_key": NEW_KEY })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "dry_run": true, "scanned": 0, "updated": 0, "failed": 0,
            "totp_secrets": { "scanned": 2, "updated": 2, "plaintext": 0, "failed": 0 },
        })
    );
}

#[tokio::test]
async fn a_totp_secret_copied_to_another_user_does_not_open() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "one@desk.io").await;
    register(&d, "two@desk.io").await;
    db.set_totp("one@desk.io", FIXED_SECRET, true);
    db.sql(
        "UPDATE users SET totp_enabled = TRUE, \
         totp_secret = (SELECT totp_secret FROM users WHERE email = 'one@desk.io') WHERE email = 'two@desk.io'",
    );
    away_from_step_edge().await;
    let (status, _) = login_with(&d, "two@desk.io", PASSWORD, Some(&code(FIXED_SECRET, 0))).await;
    assert_eq!(status, 500);
    let (status, body) = login_with(&d, "one@desk.io", PASSWORD, Some(&code(FIXED_SECRET, 0))).await;
    assert_eq!(status, 200, "{body}");
}
