//! The operator toolkit, run the way operators run it: each script of `scripts/` against a live
//! daemon whose Binance testnet is a local fake, called with the old scripts' settings. Each must
//! pass on a healthy desk, exit non-zero when a check fails (a wrong password, a missing 2FA, a
//! failed rotation), and never print a password, a token or a key. Also: the backup/restore
//! round trip and the `healthcheck` subcommand the image's HEALTHCHECK runs.

mod common;
mod fakes;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use fakes::*;
use reqwest::Method;
use serde_json::{json, Value};

const ADMIN: &str = "chief@desk.test";
const USER1: &str = "alice@desk.test";
const USER2: &str = "bob@desk.test";
const BINANCE_KEY: &str = "binance-key-000111";
const BINANCE_SECRET: &str = "binance-secret-never-printed";
const IBKR_KEY: &str = "ibkr-key-000222";
const IBKR_SECRET: &str = "ibkr-secret-never-printed";

/// A scratch directory (the scripts write their JSON files into the working directory).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("cs-ops-{name}-{nanos:x}"));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    out: String,
}

impl Run {
    fn summary_fails(&self) -> Option<u32> {
        let line = self.out.lines().rev().find(|l| l.starts_with("Summary: PASS="))?;
        line.rsplit("FAIL=").next()?.trim().parse().ok()
    }

    /// Exit 0, a summary without failures, and the given PASS lines.
    fn passed(&self, lines: &[&str]) -> &Run {
        assert_eq!(self.code, 0, "exit code 0 expected:\n{}", self.out);
        assert_eq!(self.summary_fails(), Some(0), "summary with FAIL=0:\n{}", self.out);
        assert!(!self.out.contains("FAIL |"), "{}", self.out);
        for line in lines {
            assert!(
                self.out.contains(&format!("PASS | {line}")),
                "missing PASS | {line}:\n{}",
                self.out
            );
        }
        self
    }

    /// A non-zero exit, a summary counting failures, and the given FAIL line.
    fn failed(&self, line: &str) -> &Run {
        assert_ne!(self.code, 0, "a failing exit code expected:\n{}", self.out);
        assert!(
            self.summary_fails().unwrap_or(0) > 0,
            "summary with FAIL>0:\n{}",
            self.out
        );
        assert!(
            self.out.contains(&format!("FAIL | {line}")),
            "missing FAIL | {line}:\n{}",
            self.out
        );
        self
    }

    /// None of the secrets, and no JWT, appear in the output.
    fn clean(&self, secrets: &[&str]) -> &Run {
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(!self.out.contains(secret), "a secret was printed:\n{}", self.out);
        }
        assert!(!self.out.contains("eyJ"), "a token was printed:\n{}", self.out);
        self
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/<name>` with only PATH and `env` in its environment, in `dir`.
async fn script(name: &str, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Run {
    let out = tokio::process::Command::new("bash")
        .arg(repo().join("scripts").join(name))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .await
        .expect("run bash");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn fake_binance() -> Fake {
    Fake::start(Arc::new(|_| (200, json!({}))))
}

fn daemon_with(db: &TestDb, binance: &Fake) -> Daemon {
    Daemon::start_with(
        db,
        &[
            ("BINANCE_TESTNET_BASE_URL", binance.base.as_str()),
            ("EXIT_MONITOR_MODE", "off"),
        ],
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Turns 2FA on with the previous step's code, so a script logging in now uses a later step.
async fn enable_2fa(d: &Daemon, token: &str) -> String {
    let (status, body) = call(d, Method::POST, "/auth/2fa/setup", token, None).await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap().to_string();
    let code = crypto_saas::auth::totp::code_at(&secret, unix_now() - 30).unwrap();
    let (status, body) = call(
        d,
        Method::POST,
        "/auth/2fa/verify-enable",
        token,
        Some(json!({ "otp": code })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    secret
}

async fn save_secret(d: &Daemon, token: &str, exchange: &str, key: &str, secret: &str) {
    let body = json!({"exchange": exchange, "api_key": key, "api_secret": secret});
    let (status, answer) = call(d, Method::POST, "/users/exchange-secrets", token, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
}

async fn disable(d: &Daemon, admin: &str, email: &str, exchange: &str) {
    let body = json!({"user_email": email, "exchange": exchange, "strategy_id": "SWING_V1", "enabled": false});
    let (status, answer) = call(d, Method::POST, "/ops/strategy/assign", admin, Some(body)).await;
    assert_eq!(status, 200, "{answer}");
}

/// The two operating accounts and the admin, as the daily workflows expect them: USER1 on
/// BINANCE, USER2 on IBKR, each barred from the other's exchange, everyone with 2FA.
struct Desk {
    db: TestDb,
    daemon: Daemon,
    binance: Fake,
    totp: [String; 3],
    tokens: [String; 3],
}

impl Desk {
    async fn new() -> Desk {
        let binance = fake_binance();
        let db = TestDb::new();
        let daemon = daemon_with(&db, &binance);
        let admin_token = admin(&daemon, ADMIN).await;
        let t1 = trader(&daemon, USER1).await;
        let t2 = trader(&daemon, USER2).await;
        save_secret(&daemon, &t1, "BINANCE", BINANCE_KEY, BINANCE_SECRET).await;
        save_secret(&daemon, &t2, "IBKR", IBKR_KEY, IBKR_SECRET).await;
        disable(&daemon, &admin_token, USER1, "IBKR").await;
        disable(&daemon, &admin_token, USER2, "BINANCE").await;
        let totp = [
            enable_2fa(&daemon, &admin_token).await,
            enable_2fa(&daemon, &t1).await,
            enable_2fa(&daemon, &t2).await,
        ];
        Desk {
            db,
            daemon,
            binance,
            totp,
            tokens: [admin_token, t1, t2],
        }
    }

    /// The settings the workflows pass, with `extra` added (or overriding).
    fn env<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut env = vec![
            ("BASE_URL", self.daemon.base.as_str()),
            ("ADMIN_EMAIL", ADMIN),
            ("ADMIN_PASSWORD", PASSWORD),
            ("ADMIN_TOTP_SECRET", self.totp[0].as_str()),
            ("USER1_EMAIL", USER1),
            ("USER1_PASSWORD", PASSWORD),
            ("USER1_TOTP_SECRET", self.totp[1].as_str()),
            ("USER2_EMAIL", USER2),
            ("USER2_PASSWORD", PASSWORD),
            ("USER2_TOTP_SECRET", self.totp[2].as_str()),
        ];
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend_from_slice(extra);
        env
    }

    fn secrets(&self) -> Vec<&str> {
        let mut all = vec![PASSWORD, BINANCE_SECRET, IBKR_SECRET];
        all.extend(self.totp.iter().map(String::as_str));
        all
    }

    /// The masked API key the daemon holds for a user (prepare's `api_key_masked`).
    async fn masked_key(&self, user: usize, exchange: &str) -> String {
        let body = json!({"exchange": exchange, "symbol": "BTCUSDT", "side": "BUY", "qty": 1});
        let (status, answer) = call(
            &self.daemon,
            Method::POST,
            "/ops/execution/prepare",
            &self.tokens[user],
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        answer["api_key_masked"].as_str().unwrap().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_scenario_trades_one_cycle_and_a_wrong_password_fails_it() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let dir = Scratch::new("scenario");
    let env = [
        ("BASE", d.base.as_str()),
        ("EMAIL", "trader.one@desk.test"),
        ("PASSWORD", PASSWORD),
        ("QTY", "0.001"),
        ("EXIT_PRICE", "50100"),
        ("FEES", "0.01"),
    ];
    script("run_scenario.sh", &[], &env, &dir.0)
        .await
        .passed(&[
            "healthz",
            "register trader.one@desk.test",
            "trader login",
            "signal claimed",
            "risk today",
        ])
        .clean(&[PASSWORD]);
    // (50100 - 50000) × 0.001 - 0.01
    assert_eq!(
        db.sql("SELECT status || ' ' || (realized_pnl = 0.09) FROM positions"),
        "CLOSED true"
    );
    assert_eq!(db.sql("SELECT trades_count FROM risk_daily"), "1");

    let wrong = [
        ("BASE", d.base.as_str()),
        ("EMAIL", "trader.one@desk.test"),
        ("PASSWORD", "Wrong-password-123"),
    ];
    script("run_scenario.sh", &[], &wrong, &dir.0)
        .await
        .failed("trader login failed: status=401 detail=Incorrect email or password")
        .clean(&[PASSWORD, "Wrong-password-123"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_prod_checks_secrets_orders_and_audit() {
    let binance = fake_binance();
    let db = TestDb::new();
    let d = daemon_with(&db, &binance);
    let token = trader(&d, "smoke.ci@desk.test").await;
    save_secret(&d, &token, "BINANCE", BINANCE_KEY, BINANCE_SECRET).await;
    let dir = Scratch::new("smoke");
    let env = [
        ("BASE_URL", d.base.as_str()),
        ("EMAIL", "smoke.ci@desk.test"),
        ("PASSWORD", PASSWORD),
    ];
    script("smoke_prod.sh", &[], &env, &dir.0)
        .await
        .passed(&[
            "healthz",
            "auth login",
            "BINANCE secret configured",
            "execution prepare dry_run",
            "binance test-order",
            "audit auth.login.success",
            "audit execution.prepare",
            "audit binance test-order event",
        ])
        .clean(&[PASSWORD, BINANCE_SECRET]);
    let sent = binance.received();
    assert_eq!(sent.len(), 1, "one test order reached the fake: {sent:?}");
    assert_eq!(sent[0].path, "/api/v3/order/test");

    // The IBKR secret is required on demand, and a wrong password stops the run at login.
    let require_ibkr = [
        ("BASE_URL", d.base.as_str()),
        ("EMAIL", "smoke.ci@desk.test"),
        ("PASSWORD", PASSWORD),
        ("REQUIRE_IBKR_SECRET", "true"),
    ];
    script("smoke_prod.sh", &[], &require_ibkr, &dir.0)
        .await
        .failed("IBKR secret missing");
    let wrong = [
        ("BASE_URL", d.base.as_str()),
        ("EMAIL", "smoke.ci@desk.test"),
        ("PASSWORD", "not-the-password"),
    ];
    let run = script("smoke_prod.sh", &[], &wrong, &dir.0).await;
    run.failed("auth login failed: status=401 detail=Incorrect email or password")
        .clean(&[PASSWORD, "not-the-password"]);
    assert!(
        !run.out.contains("test-order"),
        "nothing runs after a failed login:\n{}",
        run.out
    );

    // As the old workflow did: a new smoke account is registered and its testnet secret stored.
    let seeded = [
        ("BASE_URL", d.base.as_str()),
        ("EMAIL", "smoke.new@desk.test"),
        ("PASSWORD", PASSWORD),
        ("SMOKE_BINANCE_API_KEY", BINANCE_KEY),
        ("SMOKE_BINANCE_API_SECRET", BINANCE_SECRET),
    ];
    script("smoke_prod.sh", &[], &seeded, &dir.0)
        .await
        .passed(&[
            "smoke user registered",
            "smoke BINANCE secret stored",
            "binance test-order",
        ])
        .clean(&[PASSWORD, BINANCE_SECRET]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_ops_daily_passes_on_a_healthy_desk_and_fails_on_a_wrong_decision() {
    let desk = Desk::new().await;
    let dir = Scratch::new("dual");
    script("dual_ops_daily.sh", &[], &desk.env(&[]), &dir.0)
        .await
        .passed(&[
            "healthz",
            "user1 login",
            "user2 login",
            "admin login",
            "user1 BINANCE pretrade passed",
            "user2 IBKR pretrade passed",
            "user1 BINANCE test-order",
            "user2 IBKR test-order (mode paper_simulated_test)",
            "user1 BINANCE exit-check expected=false",
            "user2 IBKR exit-check expected=true",
            "user1 IBKR blocked as expected",
            "user2 BINANCE blocked as expected",
            "user1 audit event",
            "user2 audit event",
            "daily compare real_only users=3",
        ])
        .clean(&desk.secrets());
    assert_eq!(
        desk.binance.received().len(),
        1,
        "only user1's Binance test order went out"
    );

    // Expecting a hold where the rules exit, with a wrong admin password: both are failures.
    // (The logins reuse this 30-second step's codes: the script waits for the next step.)
    let env = desk.env(&[("USER2_EXPECT_EXIT", "false"), ("ADMIN_PASSWORD", "Wrong-admin-pass")]);
    script("dual_ops_daily.sh", &[], &env, &dir.0)
        .await
        .failed("admin login failed: status=401 detail=Incorrect email or password")
        .clean(&desk.secrets());
    let env = desk.env(&[("USER2_EXPECT_EXIT", "false")]);
    script("dual_ops_daily.sh", &[], &env, &dir.0)
        .await
        .failed("user2 IBKR exit-check mismatch expected=false got=true")
        .clean(&desk.secrets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_posture_daily_writes_the_snapshot_and_fails_on_missing_2fa() {
    let desk = Desk::new().await;
    let dir = Scratch::new("posture");
    script("security_posture_daily.sh", &[], &desk.env(&[]), &dir.0)
        .await
        .passed(&[
            "healthz",
            "admin login",
            "security posture users=3",
            "2FA posture ok",
            "secret rotation posture ok",
            "preventive trend rule ok",
        ])
        .clean(&desk.secrets());
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("security_dashboard_snapshot.json")).unwrap())
            .unwrap();
    assert_eq!(snapshot["overall_status"], "green", "{snapshot}");
    assert_eq!(snapshot["trends_7d"].as_array().map(Vec::len), Some(7));

    // A real trader without 2FA, secrets older than the limit, and errors rising two days
    // running (1, 5, then 12 today) to the threshold of 10.
    trader(&desk.daemon, "carol@desk.test").await;
    desk.db
        .sql("UPDATE exchange_secrets SET updated_at = now() - interval '40 days'");
    for (days_ago, count) in [(2, 1), (1, 5), (0, 12)] {
        desk.db.sql(&format!(
            "INSERT INTO audit_events (user_id, action, entity_type, created_at) \
             SELECT u.id, 'execution.binance.test_order.error', 'order', now() - interval '{days_ago} days' \
             FROM users u, generate_series(1, {count}) WHERE u.email = '{USER1}'"
        ));
    }
    script("security_posture_daily.sh", &[], &desk.env(&[]), &dir.0)
        .await
        .failed("users missing 2FA: 1")
        .failed("users with stale secrets: 2")
        .failed("preventive incident: errors rose two days running, errors_today=12>=10")
        .clean(&desk.secrets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_smoke_users_reports_then_deletes() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    admin(&d, ADMIN).await;
    trader(&d, "smoke.old@desk.test").await;
    trader(&d, "dana@desk.test").await;
    let dir = Scratch::new("cleanup");
    let output = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("cleanup_smoke_users_output.json")).unwrap()).unwrap()
    };
    let env = |dry_run: &'static str, password: &'static str| {
        vec![
            ("BASE_URL", d.base.clone()),
            ("ADMIN_EMAIL", ADMIN.to_string()),
            ("ADMIN_PASSWORD", password.to_string()),
            ("OLDER_THAN_DAYS", "0".to_string()),
            ("DRY_RUN", dry_run.to_string()),
        ]
    };
    let dry = env("true", PASSWORD);
    let dry: Vec<(&str, &str)> = dry.iter().map(|(k, v)| (*k, v.as_str())).collect();
    script("cleanup_smoke_users.sh", &[], &dry, &dir.0)
        .await
        .passed(&["admin login", "cleanup scanned=1"])
        .clean(&[PASSWORD]);
    assert_eq!(output()["dry_run"], true);
    assert_eq!(output()["deleted"], 0);
    assert_eq!(db.sql("SELECT count(*) FROM users"), "3");

    // Activity "older than 0 days" is any activity before now.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let real = env("false", PASSWORD);
    let real: Vec<(&str, &str)> = real.iter().map(|(k, v)| (*k, v.as_str())).collect();
    script("cleanup_smoke_users.sh", &[], &real, &dir.0)
        .await
        .passed(&["cleanup scanned=1 eligible=1 deleted=1 dry_run=false"]);
    assert_eq!(output()["deleted"], 1);
    assert_eq!(
        db.sql("SELECT string_agg(email, ',' ORDER BY email) FROM users"),
        format!("{ADMIN},dana@desk.test")
    );

    let wrong = env("false", "Wrong-admin-pass");
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    script("cleanup_smoke_users.sh", &[], &wrong, &dir.0)
        .await
        .failed("admin login failed")
        .clean(&[PASSWORD, "Wrong-admin-pass"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarterly_rotation_applies_validates_and_rolls_back() {
    let desk = Desk::new().await;
    let dir = Scratch::new("rotation");
    let new = [
        ("NEW_USER1_BINANCE_API_KEY", "rotated-binance-key-111"),
        ("NEW_USER1_BINANCE_API_SECRET", "rotated-binance-secret-xyz"),
        ("NEW_USER2_IBKR_API_KEY", "rotated-ibkr-key-222"),
        ("NEW_USER2_IBKR_API_SECRET", "rotated-ibkr-secret-xyz"),
        ("ROLLBACK_USER1_BINANCE_API_KEY", BINANCE_KEY),
        ("ROLLBACK_USER1_BINANCE_API_SECRET", BINANCE_SECRET),
        ("ROLLBACK_USER2_IBKR_API_KEY", IBKR_KEY),
        ("ROLLBACK_USER2_IBKR_API_SECRET", IBKR_SECRET),
    ];
    let mut secrets = desk.secrets();
    secrets.extend(["rotated-binance-secret-xyz", "rotated-ibkr-secret-xyz"]);
    script("quarterly_rotation.sh", &[], &desk.env(&new), &dir.0)
        .await
        .passed(&[
            "rotation user1 BINANCE secret stored",
            "rotation user2 IBKR secret stored",
            "post-rotation user1 BINANCE test-order",
            "post-rotation user2 IBKR test-order",
            "post-rotation posture 2FA ok",
        ])
        .clean(&secrets);
    assert_eq!(desk.masked_key(1, "BINANCE").await, "rot***111");
    assert!(!desk.binance.received().is_empty());

    // Binance refuses the next key: the rotation is rolled back to the previous credentials,
    // validated again, and the run still fails (someone has to look at it).
    desk.binance.script(vec![(
        401,
        json!({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}),
    )]);
    script("quarterly_rotation.sh", &[], &desk.env(&new), &dir.0)
        .await
        .failed("post-rotation user1 BINANCE test-order failed")
        .passed_lines(&[
            "rollback user1 BINANCE secret stored",
            "rollback user2 IBKR secret stored",
            "post-rollback user1 BINANCE test-order",
            "post-rollback posture 2FA ok",
        ])
        .clean(&secrets);
    assert_eq!(desk.masked_key(1, "BINANCE").await, "bin***111");
}

impl Run {
    /// The given PASS lines, whatever the exit code.
    fn passed_lines(&self, lines: &[&str]) -> &Run {
        for line in lines {
            assert!(
                self.out.contains(&format!("PASS | {line}")),
                "missing PASS | {line}:\n{}",
                self.out
            );
        }
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_round_trip() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let token = trader(&d, "erin@desk.test").await;
    executing_signal(&d, &token, "BTCUSDT").await;
    drop(d);
    let dir = Scratch::new("backup");
    let file = dir.0.join("desk.dump");
    let file = file.to_str().unwrap();
    script("backup_db.sh", &[file], &[("DATABASE_URL", db.url.as_str())], &dir.0)
        .await
        .passed(&[
            "pg_dump custom-format archive written",
            "archive reads back",
            "checksum written",
        ]);
    assert!(dir.0.join("desk.dump.sha256").exists());
    // A database that is not there fails the backup, and its password is never shown.
    let missing = format!("{}/cs_no_such_db", server_url().rsplit_once('/').unwrap().0).replacen(
        "postgres@",
        "postgres:Pg-pass-never-shown@",
        1,
    );
    let nowhere = dir.0.join("missing.dump");
    script(
        "backup_db.sh",
        &[nowhere.to_str().unwrap()],
        &[("DATABASE_URL", missing.as_str())],
        &dir.0,
    )
    .await
    .failed("pg_dump failed")
    .clean(&["Pg-pass-never-shown"]);

    let target = EmptyDb::new();
    let dry = [("DATABASE_URL", target.url.as_str()), ("DRY_RUN", "true")];
    script("restore_db.sh", &[file], &dry, &dir.0)
        .await
        .passed(&["checksum matches", "target database is empty"]);
    assert_eq!(
        psql(
            &target.url,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );
    let restore = |args: &'static [&'static str]| {
        let mut all = vec![file];
        all.extend_from_slice(args);
        all
    };
    script(
        "restore_db.sh",
        &restore(&[]),
        &[("DATABASE_URL", target.url.as_str())],
        &dir.0,
    )
    .await
    .passed(&[
        "checksum matches",
        "target database is empty",
        "archive restored",
        "restored database answers (users=1)",
    ]);
    let rows = "SELECT (SELECT string_agg(id::text || email, ',') FROM users) || '|' || \
                (SELECT string_agg(id::text || status, ',') FROM signals)";
    assert_eq!(psql(&target.url, rows), db.sql(rows));

    // Now the target holds data: refused unless forced, and then replaced.
    script(
        "restore_db.sh",
        &restore(&[]),
        &[("DATABASE_URL", target.url.as_str())],
        &dir.0,
    )
    .await
    .failed("target database is not empty");
    script(
        "restore_db.sh",
        &restore(&["--force"]),
        &[("DATABASE_URL", target.url.as_str())],
        &dir.0,
    )
    .await
    .passed(&["archive restored"]);
    assert_eq!(psql(&target.url, rows), db.sql(rows));

    // A damaged archive is caught by its checksum before anything is touched.
    std::fs::write(dir.0.join("desk.dump"), b"not an archive").unwrap();
    script(
        "restore_db.sh",
        &restore(&["--force"]),
        &[("DATABASE_URL", target.url.as_str())],
        &dir.0,
    )
    .await
    .failed("checksum mismatch");
}

/// A database with nothing in it (no migrations), dropped at the end.
struct EmptyDb {
    name: String,
    url: String,
}

impl EmptyDb {
    fn new() -> EmptyDb {
        let name = format!(
            "cs_restore_{:x}",
            unix_now() * 1_000_000 + u64::from(std::process::id())
        );
        psql(&server_url(), &format!("CREATE DATABASE {name} TEMPLATE template0"));
        let (base, _) = server_url()
            .rsplit_once('/')
            .map(|(b, d)| (b.to_string(), d.to_string()))
            .unwrap();
        EmptyDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for EmptyDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                server_url().as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_dev_prepares_database_and_keys_once() {
    let db = TestDb::new();
    let dir = Scratch::new("bootstrap");
    let env_file = dir.0.join("dev.env");
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("CRYPTO_SAAS_BIN", binary()),
        ("DEV_ENV_FILE", env_file.to_str().unwrap()),
    ];
    let first = script("bootstrap_dev.sh", &[], &env, &dir.0).await;
    first.passed(&[
        "psql found",
        "database: DATABASE_URL from the environment",
        "generated SECRET_KEY, ENCRYPTION_KEY and DEV_ADMIN_PASSWORD",
        "migrations applied: 0",
        "configuration OK",
    ]);
    let keys = std::fs::read_to_string(&env_file).unwrap();
    let values: Vec<&str> = keys.lines().filter_map(|l| l.split_once('=').map(|(_, v)| v)).collect();
    assert_eq!(values.len(), 3, "{keys}");
    first.clean(&values);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    script("bootstrap_dev.sh", &[], &env, &dir.0)
        .await
        .passed(&["keys kept from"])
        .clean(&values);
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        keys,
        "keys are generated once"
    );

    // A binary that cannot migrate fails the bootstrap.
    let broken = [
        ("DATABASE_URL", db.url.as_str()),
        ("CRYPTO_SAAS_BIN", "/bin/false"),
        ("DEV_ENV_FILE", env_file.to_str().unwrap()),
    ];
    script("bootstrap_dev.sh", &[], &broken, &dir.0)
        .await
        .failed("migrate failed")
        .clean(&values);
}

/// The image's HEALTHCHECK command, from the Dockerfile, with the binary built here.
fn image_healthcheck() -> Vec<String> {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let line = dockerfile
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK line");
    let exec_form = line.split_once("CMD").expect("HEALTHCHECK ... CMD [...]").1.trim();
    let mut argv: Vec<String> = serde_json::from_str(exec_form).expect("exec form: no shell needed");
    assert_eq!(argv[0], "crypto-saas");
    argv[0] = binary().to_string();
    argv
}

/// Runs a command line under dash (Debian's /bin/sh) with only PATH and `env`.
fn under_dash(argv: &[String], env: &[(&str, &str)]) -> (i32, String) {
    let out = std::process::Command::new("dash")
        .arg("-c")
        .arg("exec \"$@\"")
        .arg("dash")
        .args(argv)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("dash");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_healthcheck_tells_a_live_daemon_from_nothing() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let port = d.base.rsplit(':').next().unwrap().to_string();
    let argv = image_healthcheck();

    // As in the image: HOST=0.0.0.0 and PORT, and none of the daemon's secrets.
    let (code, out) = under_dash(&argv, &[("HOST", "0.0.0.0"), ("PORT", port.as_str())]);
    assert_eq!(code, 0, "{out}");
    let mut with_url = argv.clone();
    with_url.extend(["--url".to_string(), d.url("/healthz")]);
    assert_eq!(under_dash(&with_url, &[]).0, 0);

    let nothing = closed_port_url();
    let nothing_port = nothing.rsplit(':').next().unwrap().to_string();
    let started = std::time::Instant::now();
    let (code, out) = under_dash(&argv, &[("HOST", "127.0.0.1"), ("PORT", nothing_port.as_str())]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no answer from"), "{out}");

    // A port that accepts but never answers: the quick timeout, not a hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/healthz", silent.local_addr().unwrap());
    let mut to_silent = argv.clone();
    to_silent.extend(["--url".to_string(), silent_url]);
    assert_eq!(under_dash(&to_silent, &[]).0, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    // A daemon whose database is gone answers 503 degraded: unhealthy.
    drop(db);
    let mut degraded = false;
    for _ in 0..50 {
        if under_dash(&with_url, &[]).0 == 1 {
            degraded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(degraded, "the health check fails once the database is gone");
}

/// Starts scripts/run.sh, logs the development admin in once it listens, stops it; returns what
/// it printed on standard output and its logs (standard error, a pipe).
async fn run_sh_once(db_url: &str, env_file: &Path) -> (String, String) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = std::process::Command::new("bash")
        .arg(repo().join("scripts/run.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db_url)
        .env("CRYPTO_SAAS_BIN", binary())
        .env("DEV_ENV_FILE", env_file)
        .env("PORT", "0")
        .env("EXIT_MONITOR_MODE", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let base = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "run.sh ended:\n{printed}");
        printed.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("listening on ") {
            break rest.to_string();
        }
    };
    let keys = std::fs::read_to_string(env_file).unwrap();
    let password = keys
        .lines()
        .find_map(|l| l.strip_prefix("DEV_ADMIN_PASSWORD="))
        .unwrap()
        .to_string();
    let form = [("username", "admin@crypto-saas.local"), ("password", password.as_str())];
    let answer = client()
        .post(format!("{base}/auth/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "serve created the development admin");
    let _ = child.kill();
    let _ = child.wait();
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    for value in keys.lines().filter_map(|l| l.split_once('=').map(|(_, v)| v)) {
        assert!(
            !printed.contains(value) && !logs.contains(value),
            "a generated secret was printed:\n{printed}{logs}"
        );
    }
    (printed, logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sh_names_its_database_migrates_once_and_logs_plainly() {
    let db = EmptyDb::new();
    let dir = Scratch::new("run");
    let env_file = dir.0.join("dev.env");
    let migrations = std::fs::read_dir(repo().join("migrations")).unwrap().count();

    let (printed, logs) = run_sh_once(&db.url, &env_file).await;
    assert!(
        printed.contains("database: DATABASE_URL from the environment"),
        "{printed}"
    );
    assert!(printed.contains("  data: "), "{printed}");
    assert_eq!(logs.matches("applying migration:").count(), migrations, "{logs}");
    assert!(!logs.contains('\u{1b}'), "no colour codes in a pipe:\n{logs}");

    // The second start finds the schema in place: nothing to apply, and no NOTICE about it.
    let (_, logs) = run_sh_once(&db.url, &env_file).await;
    assert_eq!(logs.matches("applying migration:").count(), 0, "{logs}");
    assert_eq!(logs.matches("no migrations to apply").count(), 1, "{logs}");
    assert!(!logs.contains("NOTICE"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "{logs}");
}
