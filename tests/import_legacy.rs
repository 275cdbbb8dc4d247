//! `crypto-saas import-legacy` against a real database of the old service's schema
//! (tests/fixtures/legacy_schema.sql), whose rows carry real bcrypt hashes and Fernet tokens made
//! the way the old service made them; the imported rows are then read through the daemon.

mod common;

use std::process::{Command, Output};

use base64::Engine;
use common::*;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

const LEGACY_KEY: &str = "the old service's encryption key";
const ALICE: &str = "2f1c7e0a-5b7d-4d1e-9a53-0c7c1f7f3a01";
const ALICE_EMAIL: &str = "alice@desk.io";
const ALICE_PASSWORD: &str = "alice-old-Passw0rd";
const BOB: &str = "6a0e3c55-8e2b-4c1b-b3f4-7d9a2e1c4b02";
const BOB_EMAIL: &str = "Bob@Desk.io";
const BOB_PASSWORD: &str = "bob-old-Passw0rd";
const BOB_TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SECRET_ID: &str = "9d2b6c1e-1f3a-4e5b-8c7d-2a1b3c4d5e03";
const ASSIGNMENT_ID: &str = "c3d4e5f6-0a1b-4c2d-9e3f-4a5b6c7d8e04";
const SIGNAL_NEW: &str = "11111111-2222-4333-8444-555555555505";
const SIGNAL_DONE: &str = "11111111-2222-4333-8444-555555555506";
const POSITION_CLOSED: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeee07";
const POSITION_OPEN: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeee08";
const MISSING_SIGNAL: &str = "00000000-0000-4000-8000-000000000009";
const RISK_ID: &str = "dddddddd-eeee-4fff-8aaa-bbbbbbbbbb10";
const AUDIT_LOGIN: &str = "eeeeeeee-ffff-4aaa-8bbb-cccccccccc11";
const AUDIT_OPEN: &str = "eeeeeeee-ffff-4aaa-8bbb-cccccccccc12";
const AUDIT_SYSTEM: &str = "eeeeeeee-ffff-4aaa-8bbb-cccccccccc13";
const AUDIT_BLOCKED: &str = "eeeeeeee-ffff-4aaa-8bbb-cccccccccc14";
const API_KEY: &str = "AKIAlegacyKEY98765";
const API_SECRET: &str = "legacy-binance-secret-VALUE";

/// Every table the import writes, for before/after comparisons.
const TARGET_TABLES: &[&str] = &[
    "users",
    "trading_state",
    "exchange_secrets",
    "strategy_assignments",
    "signals",
    "positions",
    "risk_daily",
    "audit_events",
    "audit_daily",
];

/// A database of the old service's schema, dropped when the test ends.
struct LegacyDb(TestDb);

impl LegacyDb {
    fn new() -> LegacyDb {
        let db = TestDb::empty();
        let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/legacy_schema.sql");
        let out = Command::new("psql")
            .args([db.url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-f", schema])
            .output()
            .expect("psql");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        LegacyDb(db)
    }

    fn sql(&self, sql: &str) -> String {
        self.0.sql(sql)
    }

    /// Two users (one with 2FA), a Binance secret, an assignment, two signals, two positions
    /// (one whose signal is gone), today's risk row and four audit events (one a blocked open).
    fn seeded() -> LegacyDb {
        let db = LegacyDb::new();
        let fernet = old_fernet(LEGACY_KEY);
        let alice_hash = bcrypt::hash(ALICE_PASSWORD, 4).unwrap();
        let bob_hash = bcrypt::hash(BOB_PASSWORD, 4).unwrap();
        let key_token = fernet.encrypt(API_KEY.as_bytes());
        let secret_token = fernet.encrypt(API_SECRET.as_bytes());
        let today = "(now() AT TIME ZONE 'America/Bogota')::date";
        db.sql(&format!(
            "INSERT INTO users VALUES ('{ALICE}', '{ALICE_EMAIL}', '{alice_hash}', NULL), ('{BOB}', '{BOB_EMAIL}', '{bob_hash}', 'admin');
             INSERT INTO user_two_factor VALUES ('{BOB}', '{BOB_TOTP}', true);
             INSERT INTO exchange_secret VALUES ('{SECRET_ID}', '{ALICE}', 'BINANCE', '{key_token}', '{secret_token}',
                 '2024-03-01 09:00:00+00', '2024-03-02 09:00:00+00');
             INSERT INTO strategy_assignment VALUES ('{ASSIGNMENT_ID}', '{ALICE}', 'BINANCE', 'SWING_V1', true,
                 '2024-03-01 09:00:00+00', '2024-03-01 09:30:00+00');
             INSERT INTO signals VALUES
                 ('{SIGNAL_NEW}', '{ALICE}', 'BTCUSDT', 'breakout', 0.1, 65432.1, 64000.5, 70000.25, 'CREATED', NULL,
                  '2024-05-01 10:00:00+00', '2024-05-01 10:00:00+00'),
                 ('{SIGNAL_DONE}', '{ALICE}', 'ETHUSDT', 'breakout', NULL, 3000, 2900, 3300, 'COMPLETED', 'RR_OK',
                  '2024-04-01 10:00:00+00', '2024-04-02 10:00:00+00');
             INSERT INTO positions VALUES
                 ('{POSITION_CLOSED}', '{ALICE}', '{SIGNAL_DONE}', 'ETHUSDT', 'LONG', 0.3, 3000, 2900, 3300, 'CLOSED',
                  '2024-04-01 11:00:00+00', '2024-04-02 09:00:00+00', 0.1::float8 + 0.2::float8, 1.5),
                 ('{POSITION_OPEN}', '{ALICE}', '{MISSING_SIGNAL}', 'BTCUSDT', 'LONG', 0.01, 65000, NULL, NULL, 'OPEN',
                  '2024-05-02 11:00:00+00', NULL, NULL, NULL);
             INSERT INTO daily_risk_state VALUES ('{RISK_ID}', '{ALICE}', {today}, 2, 12.3, -5, 3);
             INSERT INTO audit_log VALUES
                 ('{AUDIT_LOGIN}', '{ALICE}', 'auth.login.success', 'user', '{ALICE}', NULL, '2024-05-01 09:59:00+00'),
                 ('{AUDIT_OPEN}', '{ALICE}', 'position.open', 'position', '{POSITION_CLOSED}', '{{\"qty\": 0.3}}',
                  '2024-04-01 11:00:00+00'),
                 ('{AUDIT_SYSTEM}', NULL, 'security.key_rotation', NULL, NULL, NULL, '2024-02-01 00:00:00+00'),
                 ('{AUDIT_BLOCKED}', '{ALICE}', 'position.open.blocked.max_trades', 'signal', '{SIGNAL_NEW}', NULL,
                  '2024-05-01 12:00:00+00');"
        ));
        db
    }
}

/// The old service's Fernet: the key is urlsafe_base64(SHA-256(ENCRYPTION_KEY)).
fn old_fernet(key: &str) -> fernet::Fernet {
    let key = base64::engine::general_purpose::URL_SAFE.encode(Sha256::digest(key.as_bytes()));
    fernet::Fernet::new(&key).unwrap()
}

/// Runs the import with the daemon's settings (the legacy key from the environment).
fn import(target: &TestDb, legacy: &LegacyDb, legacy_key: &str, extra: &[&str]) -> Output {
    Command::new(binary())
        .args(["import-legacy", "--from", legacy.0.url.as_str()])
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &target.url)
        .env("SECRET_KEY", SECRET_KEY)
        .env("ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("LEGACY_ENCRYPTION_KEY", legacy_key)
        .env("LOG_LEVEL", "warn")
        .output()
        .expect("run import-legacy")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The summary line of one table: (read, imported, already there).
fn summary_of(stdout: &str, table: &str) -> (u64, u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .unwrap_or_else(|| panic!("no summary line for {table} in:\n{stdout}"));
    let n: Vec<u64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
    (n[0], n[1], n[2])
}

/// Every row of every table the import writes, as text, to compare whole databases.
fn snapshot(db: &TestDb) -> Vec<String> {
    TARGET_TABLES
        .iter()
        .map(|t| {
            db.sql(&format!(
                "SELECT coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '') FROM {t} r"
            ))
        })
        .collect()
}

#[tokio::test]
async fn full_import_is_served_by_the_daemon_and_upgrades_bcrypt_at_login() {
    let legacy = LegacyDb::seeded();
    let db = TestDb::new();
    let out = import(&db, &legacy, LEGACY_KEY, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for (table, read) in [
        ("users", 2),
        ("user_two_factor", 1),
        ("exchange_secret", 1),
        ("strategy_assignment", 1),
        ("signals", 2),
        ("positions", 2),
        ("daily_risk_state", 1),
        ("audit_log", 4),
    ] {
        assert_eq!(summary_of(&stdout, table), (read, read, 0), "{table}:\n{stdout}");
    }
    // The dashboard's per-day roll-up counts the imported blocked open, as a rebuild would, and
    // its trigger is on again for the daemon's own events.
    assert_eq!(
        db.sql(&format!(
            "SELECT day || ' ' || blocked_opens || ' ' || errors FROM audit_daily WHERE user_id = '{ALICE}'"
        )),
        "2024-05-01 1 0"
    );
    assert_eq!(
        db.sql("SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_daily_insert'"),
        "O"
    );
    assert!(!stdout.contains(API_SECRET) && !stderr.contains(API_SECRET) && !stderr.contains(LEGACY_KEY));

    // Money is the floats' shortest decimal form; ids and times are kept.
    assert_eq!(
        db.sql(&format!(
            "SELECT base_risk_percent || ' ' || entry_price || ' ' || created_at FROM signals WHERE id = '{SIGNAL_NEW}'"
        )),
        "0.1 65432.1 2024-05-01 10:00:00+00"
    );
    assert_eq!(
        db.sql(&format!(
            "SELECT realized_pnl || ' ' || fees || ' ' || signal_id FROM positions WHERE id = '{POSITION_CLOSED}'"
        )),
        format!("0.30000000000000004 1.5 {SIGNAL_DONE}")
    );
    // The open position's signal was never in the old database: it keeps no signal.
    assert_eq!(
        db.sql(&format!(
            "SELECT coalesce(signal_id::text, 'none') FROM positions WHERE id = '{POSITION_OPEN}'"
        )),
        "none"
    );
    assert_eq!(
        db.sql(&format!(
            "SELECT open_positions FROM trading_state WHERE user_id = '{ALICE}'"
        )),
        "1"
    );
    assert_eq!(
        db.sql(&format!(
            "SELECT role || ' ' || totp_enabled FROM users WHERE id = '{BOB}'"
        )),
        "admin true"
    );
    // Bob's plaintext secret was sealed for him before it reached any table of ours.
    let sealed = db.sql(&format!("SELECT totp_secret FROM users WHERE id = '{BOB}'"));
    assert!(sealed.starts_with("v1:k1:"), "{sealed}");
    assert_eq!(
        db.sql(&format!(
            "SELECT count(*) FROM users WHERE totp_secret LIKE '%{BOB_TOTP}%' OR totp_secret NOT LIKE 'v1:%'"
        )),
        "0"
    );
    let dump = pg_dump(&db);
    assert!(dump.contains(&sealed) && !dump.contains(BOB_TOTP));
    assert!(!stdout.contains(BOB_TOTP) && !stderr.contains(BOB_TOTP));

    let d = Daemon::start(&db);
    // Alice logs in with her old password; the bcrypt hash becomes argon2id, and still works.
    let (status, body) = login_with(&d, ALICE_EMAIL, ALICE_PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(db
        .sql(&format!("SELECT password_hash FROM users WHERE id = '{ALICE}'"))
        .starts_with("$argon2id$"));
    assert_eq!(
        db.sql(&format!(
            "SELECT count(*) FROM audit_events WHERE user_id = '{ALICE}' AND action = 'auth.password.rehash'"
        )),
        "1"
    );
    let (status, _) = login_with(&d, ALICE_EMAIL, "wrong-password", None).await;
    assert_eq!(status, 401);
    let (status, body) = login_with(&d, ALICE_EMAIL, ALICE_PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
    let alice = body["access_token"].as_str().unwrap().to_string();

    // Bob's imported 2FA secret is asked for and works.
    let (status, body) = login_with(&d, BOB_EMAIL, BOB_PASSWORD, None).await;
    assert_eq!((status, body["detail"].as_str()), (401, Some("OTP required")), "{body}");
    let now = chrono::Utc::now().timestamp() as u64;
    let code = crypto_saas::auth::totp::code_at(BOB_TOTP, now).unwrap();
    let (status, body) = login_with(&d, "bob@desk.io", BOB_PASSWORD, Some(&code)).await;
    assert_eq!(status, 200, "{body}");

    // The exchange secret opens with the daemon's key ring, for that user.
    let (status, body) = call(
        &d,
        Method::POST,
        "/ops/execution/prepare",
        &alice,
        Some(json!({"exchange": "BINANCE", "symbol": "BTCUSDT", "side": "BUY", "qty": 1})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["api_key_masked"], actors::crypto::mask(API_KEY));

    let ids = |value: &serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = value
            .as_array()
            .unwrap_or_else(|| panic!("a list: {value}"))
            .iter()
            .map(|v| id_of(&v["id"]))
            .collect();
        ids.sort();
        ids
    };
    let (_, signals) = call(&d, Method::GET, "/signals", &alice, None).await;
    assert_eq!(ids(&signals), [SIGNAL_NEW, SIGNAL_DONE]);
    let (_, positions) = call(&d, Method::GET, "/positions", &alice, None).await;
    assert_eq!(ids(&positions), [POSITION_CLOSED, POSITION_OPEN]);
    let (status, risk) = call(&d, Method::GET, "/positions/risk/today", &alice, None).await;
    assert_eq!(status, 200, "{risk}");
    assert_eq!(risk["trades_today"], 2);
    assert_eq!(risk["realized_pnl_today"], json!(12.3));
    let (_, audit) = call(&d, Method::GET, "/ops/audit/me?limit=50", &alice, None).await;
    let audit_ids = ids(&audit);
    for id in [AUDIT_LOGIN, AUDIT_OPEN] {
        assert!(audit_ids.contains(&id.to_string()), "{id} in {audit}");
    }
}

#[tokio::test]
async fn dry_run_writes_nothing_and_a_second_import_changes_nothing() {
    let legacy = LegacyDb::seeded();
    let db = TestDb::new();
    let empty = snapshot(&db);
    let out = import(&db, &legacy, LEGACY_KEY, &["--dry-run"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("dry run: nothing was written"), "{stdout}");
    assert_eq!(summary_of(&stdout, "audit_log"), (4, 4, 0));
    assert_eq!(summary_of(&stdout, "exchange_secret"), (1, 1, 0));
    assert_eq!(snapshot(&db), empty, "a dry run writes nothing");

    let out = import(&db, &legacy, LEGACY_KEY, &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let after_first = snapshot(&db);
    assert_ne!(after_first, empty);

    let out = import(&db, &legacy, LEGACY_KEY, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for (table, read) in [("users", 2), ("user_two_factor", 1), ("signals", 2), ("audit_log", 4)] {
        assert_eq!(summary_of(&stdout, table), (read, 0, read), "{table}:\n{stdout}");
    }
    assert_eq!(snapshot(&db), after_first, "a second import changes nothing");

    // A row added to the old database meanwhile is the only thing a later run brings.
    legacy.sql(&format!(
        "INSERT INTO audit_log VALUES ('eeeeeeee-ffff-4aaa-8bbb-cccccccccc99', '{ALICE}', 'auth.logout', NULL, NULL, NULL, now())"
    ));
    let out = import(&db, &legacy, LEGACY_KEY, &[]);
    let (stdout, _) = text(&out);
    assert_eq!(summary_of(&stdout, "audit_log"), (5, 1, 4), "{stdout}");
    assert_eq!(summary_of(&stdout, "signals"), (2, 0, 2), "{stdout}");
}

#[tokio::test]
async fn the_same_email_with_another_id_stops_the_import_naming_the_row() {
    let legacy = LegacyDb::seeded();
    let db = TestDb::new();
    let (other_id, _) = seed_trader(&db, "bob@desk.io");
    let before = snapshot(&db);
    let out = import(&db, &legacy, LEGACY_KEY, &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "users {BOB}: email {BOB_EMAIL} belongs to another user ({other_id})"
        )),
        "{stderr}"
    );
    assert_eq!(snapshot(&db), before);
}

#[tokio::test]
async fn a_wrong_legacy_key_names_the_secret_row_and_writes_nothing() {
    let legacy = LegacyDb::seeded();
    let db = TestDb::new();
    let before = snapshot(&db);
    let wrong = "not the old service's key";
    for extra in [&[][..], &["--dry-run"][..]] {
        let out = import(&db, &legacy, wrong, extra);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{stdout}");
        assert!(
            stderr.contains(&format!(
                "exchange_secret {SECRET_ID}: api_key_encrypted does not decrypt with the legacy encryption key"
            )),
            "{stderr}"
        );
        assert!(!stderr.contains(wrong) && !stderr.contains(API_KEY), "{stderr}");
        assert_eq!(snapshot(&db), before);
    }
}
