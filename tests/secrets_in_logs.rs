//! No secret reaches a log line: the daemon runs a whole scenario at the most verbose level it has
//! (`RUST_LOG=trace`, every crate), its standard output and error captured in one file, and the
//! file (with the CLI's output) is scanned for every secret the scenario used — passwords, the
//! TOTP secret and codes, tokens, the signing and encryption keys, exchange credentials, the
//! Telegram bot token, a password hash — whole, URL-encoded, and any 16 characters of them.

mod common;
mod fakes;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::*;
use fakes::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::distributions::{Alphanumeric, DistString};
use reqwest::Method;
use serde_json::{json, Value};

/// Random text: every secret of the scenario is fresh, so a match in the log is that secret.
fn random(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), n)
}

fn random_key() -> [u8; 32] {
    rand::random()
}

// ---------------------------------------------------------------- the daemon, its log captured

struct LoggedDaemon {
    base: String,
    child: Child,
}

impl LoggedDaemon {
    /// Starts `serve` with stdout and stderr both written to `log`.
    fn start(db: &TestDb, env: &[(&str, &str)], log: &Path) -> LoggedDaemon {
        let out = File::create(log).unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("LOG_LEVEL", "trace")
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start the daemon");
        let started = Instant::now();
        let base = loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(rest) = text.lines().find_map(|l| l.trim().strip_prefix("listening on ")) {
                break rest.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the daemon did not start:\n{}",
                text.lines().rev().take(20).collect::<Vec<_>>().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        LoggedDaemon { base, child }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then waits for the exit, so the shutdown's lines are in the log too.
    async fn stop(&mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(20), "the daemon did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for LoggedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(d: &LoggedDaemon, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = client().request(method, d.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    json(req.send().await.unwrap()).await
}

async fn login(d: &LoggedDaemon, email: &str, password: &str, otp: Option<&str>) -> (u16, Value) {
    let mut form = vec![("username", email), ("password", password)];
    if let Some(otp) = otp {
        form.push(("otp", otp));
    }
    json(client().post(d.url("/auth/login")).form(&form).send().await.unwrap()).await
}

/// A successful login's token pair.
async fn pair(d: &LoggedDaemon, email: &str, password: &str, otp: Option<&str>) -> (String, String) {
    let (status, body) = login(d, email, password, otp).await;
    assert_eq!(status, 200, "login {email}: {body}");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn code(secret: &str, offset: i64) -> String {
    let bytes = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes).unwrap();
    totp.generate((unix_now() + offset * 30) as u64)
}

/// Waits until the current 30-second step has at least 8 seconds left.
async fn away_from_step_edge() {
    let into = unix_now() % 30;
    if into >= 22 {
        tokio::time::sleep(Duration::from_secs((31 - into) as u64)).await;
    }
}

// ---------------------------------------------------------------- the secrets and the scan

/// What the scenario must never log, by name.
#[derive(Default)]
struct Secrets {
    /// (name, text): found whole, URL-encoded, or as any 16 characters of it.
    texts: Vec<(String, String)>,
    /// (name, code): six digits, found as a number of their own.
    codes: Vec<(String, String)>,
}

impl Secrets {
    fn text(&mut self, name: &str, value: &str) {
        assert!(value.len() >= 16, "{name} is too short to scan for");
        self.texts.push((name.to_string(), value.to_string()));
    }

    /// A JWT: the whole token and its signature.
    fn token(&mut self, name: &str, token: &str) {
        self.text(name, token);
        let signature = token.rsplit('.').next().unwrap();
        self.text(&format!("{name} (signature)"), signature);
    }

    fn code(&mut self, name: &str, code: &str) {
        assert_eq!(code.len(), 6, "{name}");
        self.codes.push((name.to_string(), code.to_string()));
    }

    /// Every way a text secret may be written: as is, URL-encoded (a form body or a query).
    fn variants(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in &self.texts {
            out.push((name.clone(), value.clone()));
            let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            if encoded != *value {
                out.push((format!("{name} (URL-encoded)"), encoded));
            }
        }
        out
    }
}

const WINDOW: usize = 16;

/// A hit, described without the secret itself: its name, length and first two characters, and
/// the line with every occurrence replaced by the name.
fn describe(name: &str, value: &str, line_no: usize, line: &str) -> String {
    let shown = line.replace(value, &format!("«{name}»"));
    let shown: String = shown.chars().take(300).collect();
    format!(
        "{name} ({}…, {} chars) on log line {line_no}: {shown}",
        &value[..2],
        value.len()
    )
}

/// The log line's text without its leading timestamp (whose microseconds are six digits).
fn without_timestamp(line: &str) -> &str {
    match line.split_once(' ') {
        Some((first, rest)) if first.len() >= 20 && first.as_bytes()[4] == b'-' && first.contains('T') => rest,
        _ => line,
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.'
}

/// Every place a secret appears in `log`.
fn scan(log: &str, secrets: &Secrets) -> Vec<String> {
    let variants = secrets.variants();
    let mut windows: HashMap<&[u8], &(String, String)> = HashMap::new();
    for variant in &variants {
        for window in variant.1.as_bytes().windows(WINDOW) {
            windows.insert(window, variant);
        }
    }
    let mut hits = Vec::new();
    for (i, line) in log.lines().enumerate() {
        let mut found: Option<&(String, String)> = None;
        for variant in &variants {
            if line.contains(variant.1.as_str()) {
                found = Some(variant);
                break;
            }
        }
        if found.is_none() {
            found = line.as_bytes().windows(WINDOW).find_map(|w| windows.get(w).copied());
        }
        if let Some((name, value)) = found {
            if line.contains(value.as_str()) {
                hits.push(describe(name, value, i + 1, line));
            } else {
                let part = line
                    .as_bytes()
                    .windows(WINDOW)
                    .find(|w| value.as_bytes().windows(WINDOW).any(|v| v == *w))
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .expect("a window of the line matched");
                hits.push(describe(&format!("{name}, in part"), &part, i + 1, line));
            }
        }
        let text = without_timestamp(line);
        for (name, code) in &secrets.codes {
            let alone = text.match_indices(code.as_str()).any(|(at, _)| {
                let before = text[..at].chars().next_back();
                let after = text[at + code.len()..].chars().next();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            });
            if alone {
                hits.push(describe(name, code, i + 1, line));
            }
        }
    }
    hits
}

#[test]
fn the_scan_finds_secrets_whole_encoded_in_part_and_codes_alone() {
    let mut secrets = Secrets::default();
    secrets.text("password", "Pa55-word with spaces+plus");
    secrets.code("otp", "123456");
    let log = "2026-12-04T13:55:12.123456Z DEBUG x: fine\n\
               a body username=a&password=Pa55-word+with+spaces%2Bplus\n\
               a prefix: Pa55-word with sp\n\
               2026-12-04T13:55:12.123456Z  INFO elapsed_ms=4 otp=123456\n\
               1234567 and 0.123456 and a123456 are other numbers\n";
    let hits = scan(log, &secrets);
    assert_eq!(hits.len(), 3, "{hits:#?}");
    assert!(
        hits[0].starts_with("password (URL-encoded) (Pa…") && hits[0].contains("line 2"),
        "{}",
        hits[0]
    );
    assert!(
        hits[1].starts_with("password, in part") && hits[1].contains("line 3"),
        "{}",
        hits[1]
    );
    assert!(hits[2].starts_with("otp (12…, 6 chars) on log line 4"), "{}", hits[2]);
    assert!(hits.iter().all(|h| !h.contains("Pa55-word with spaces+plus")));
}

// ---------------------------------------------------------------- the scenario

fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fake Binance: the public ticker for the exit monitor, and an accepted test order.
fn binance() -> Responder {
    Arc::new(|r: &Received| {
        if r.path == "/api/v3/ticker/price" {
            (200, json!([{"symbol": "BTCUSDT", "price": "101.5"}]))
        } else {
            (200, json!({}))
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_scenario_logged_at_trace_leaks_no_secret() {
    let admin_email = "root.logs@desk.io";
    let trader_email = "trader.logs@desk.io";
    let admin_password = format!("Adm1n-{}", random(20));
    let trader_password = format!("Tr4der {}+/!", random(20));
    let typo_password = format!("{trader_password}x");
    let new_password = format!("N3w-{}", random(20));
    let secret_key = random(48);
    let (key_new, key_old, key_other) = (random_key(), random_key(), random_key());
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_new_b64 = b64.encode(key_new);
    let key_old_hex = hex::encode(key_old);
    let key_other_b64 = b64.encode(key_other);
    let keys = format!("k2:{key_new_b64},k1:{key_old_hex}");
    let bot_token = format!("{}:{}", 7_000_000_000u64 + rand::random::<u32>() as u64, random(35));
    let binance_key = random(64);
    let binance_secret = random(64);
    let ibkr_key = random(32);
    let ibkr_secret = random(40);

    let binance_fake = Fake::start(binance());
    let ibkr_fake = Fake::start(Arc::new(|_| (200, json!({"status": "accepted"}))));
    let telegram = Fake::start(telegram_ok());
    // The first message fails, so the notifier's retry path is logged too.
    telegram.script(vec![(
        500,
        json!({"ok": false, "description": "Internal Server Error"}),
    )]);

    let db = TestDb::new();
    let log = output_dir().join(format!("secrets_in_logs.{}.log", std::process::id()));
    let mut d = LoggedDaemon::start(
        &db,
        &[
            ("SECRET_KEY", secret_key.as_str()),
            ("ENCRYPTION_KEYS", keys.as_str()),
            ("BINANCE_TESTNET_BASE_URL", binance_fake.base.as_str()),
            ("IBKR_BRIDGE_BASE_URL", ibkr_fake.base.as_str()),
            ("TELEGRAM_BOT_TOKEN", bot_token.as_str()),
            ("TELEGRAM_CHAT_ID", "-100123"),
            ("TELEGRAM_API_BASE_URL", telegram.base.as_str()),
            ("PRICE_POLL_INTERVAL_SECONDS", "1"),
        ],
        &log,
    );
    let mut secrets = Secrets::default();
    let mut cli_output = String::new();

    // An admin made with the CLI, at the same log level.
    let out = {
        let mut child = Command::new(binary())
            .args(["admin", "create", "--email", admin_email, "--password-stdin"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("LOG_LEVEL", "trace")
            .env("RUST_LOG", "trace")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(admin_password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    cli_output.push_str(&String::from_utf8_lossy(&out.stdout));
    cli_output.push_str(&String::from_utf8_lossy(&out.stderr));

    // Register; a wrong password, an unknown email; then a password login.
    let (status, body) = send(
        &d,
        Method::POST,
        "/auth/register",
        None,
        Some(json!({"email": trader_email, "password": trader_password})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(login(&d, trader_email, &typo_password, None).await.0, 401);
    assert_eq!(login(&d, "nobody.logs@desk.io", &trader_password, None).await.0, 401);
    let (first_access, first_refresh) = pair(&d, trader_email, &trader_password, None).await;
    let (_, me) = send(&d, Method::GET, "/users/me", Some(&first_access), None).await;
    let trader_id = me["id"].as_str().unwrap().to_string();

    // 2FA: setup, a wrong code, enable; then logins without, with a wrong and with a right code.
    let (status, body) = send(&d, Method::POST, "/auth/2fa/setup", Some(&first_access), None).await;
    assert_eq!(status, 200, "{body}");
    let totp_secret = body["secret"].as_str().unwrap().to_string();
    away_from_step_edge().await;
    let wrong_code = code(&totp_secret, 4);
    let (status, _) = send(
        &d,
        Method::POST,
        "/auth/2fa/verify-enable",
        Some(&first_access),
        Some(json!({"otp": wrong_code})),
    )
    .await;
    assert_eq!(status, 400);
    let enable_code = code(&totp_secret, 0);
    let (status, body) = send(
        &d,
        Method::POST,
        "/auth/2fa/verify-enable",
        Some(&first_access),
        Some(json!({"otp": enable_code})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(login(&d, trader_email, &trader_password, None).await.0, 401);
    assert_eq!(
        login(&d, trader_email, &trader_password, Some(&wrong_code)).await.0,
        401
    );
    let login_code = code(&totp_secret, 1);
    let (otp_access, otp_refresh) = pair(&d, trader_email, &trader_password, Some(&login_code)).await;

    // Refresh: the new pair works (until the old refresh token is used again, below).
    let (status, body) = send(
        &d,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": otp_refresh})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let refreshed = body["refresh_token"].as_str().unwrap().to_string();

    // Exchange credentials, checks and test orders against the fakes.
    for (exchange, key, secret) in [
        ("BINANCE", &binance_key, &binance_secret),
        ("IBKR", &ibkr_key, &ibkr_secret),
    ] {
        let body = json!({"exchange": exchange, "api_key": key, "api_secret": secret});
        let (status, answer) = send(&d, Method::POST, "/users/exchange-secrets", Some(&access), Some(body)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let check = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.5, "trend_tf": "4h", "signal_tf": "1h", "timing_tf": "15m"});
    let (status, body) = send(
        &d,
        Method::POST,
        "/ops/execution/pretrade/binance/check",
        Some(&access),
        Some(check),
    )
    .await;
    assert_eq!((status, &body["passed"]), (200, &json!(true)), "{body}");
    let prepare = json!({"exchange": "BINANCE", "symbol": "BTCUSDT", "side": "BUY", "qty": 0.5});
    let (status, body) = send(&d, Method::POST, "/ops/execution/prepare", Some(&access), Some(prepare)).await;
    assert_eq!(status, 200, "{body}");
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 0.5});
    let (status, body) = send(
        &d,
        Method::POST,
        "/ops/execution/binance/test-order",
        Some(&access),
        Some(order.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // An upstream that echoes the credentials in its refusal.
    binance_fake.script(vec![(
        400,
        json!({"code": -2014, "msg": format!("API-key {binance_key} / {binance_secret} rejected")}),
    )]);
    let (status, body) = send(
        &d,
        Method::POST,
        "/ops/execution/binance/test-order",
        Some(&access),
        Some(order.clone()),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    let (status, body) = send(
        &d,
        Method::POST,
        "/ops/execution/ibkr/test-order",
        Some(&access),
        Some(json!({"symbol": "AAPL", "side": "BUY", "qty": 1})),
    )
    .await;
    assert_eq!((status, &body["mode"]), (200, &json!("paper_bridge_test")), "{body}");
    let signed: Vec<String> = binance_fake
        .received()
        .iter()
        .filter_map(|r| r.param("signature"))
        .collect();
    assert_eq!(signed.len(), 2, "both test orders reached the fake Binance, signed");
    for signature in &signed {
        secrets.text("a Binance request signature", signature);
    }
    let ibkr_sent = ibkr_fake.received();
    assert_eq!(ibkr_sent.len(), 1);

    // Trading: create, claim, open (Telegram hears of it), close.
    let signal = json!({"symbol": "BTCUSDT", "module": "breakout", "base_risk_percent": 0.5,
                        "entry_price": 100.0, "stop_loss": 95.0, "take_profit": 110.0});
    let (status, created) = send(&d, Method::POST, "/signals", Some(&access), Some(signal)).await;
    assert_eq!(status, 200, "{created}");
    let signal_id = created["id"].as_str().unwrap().to_string();
    let (status, claimed) = send(&d, Method::POST, "/signals/claim?limit=1", Some(&access), None).await;
    assert_eq!((status, &claimed[0]["id"]), (200, &created["id"]), "{claimed}");
    let (status, position) = send(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={signal_id}&qty=1"),
        Some(&access),
        None,
    )
    .await;
    assert_eq!(status, 200, "{position}");
    let position_id = position["id"].as_str().unwrap().to_string();
    // Let the exit monitor poll the fake ticker once with the position open.
    let polled = Instant::now();
    while !binance_fake.received().iter().any(|r| r.path == "/api/v3/ticker/price") {
        assert!(
            polled.elapsed() < Duration::from_secs(10),
            "the price poller never asked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, closed) = send(
        &d,
        Method::POST,
        &format!("/positions/close?position_id={position_id}&exit_price=104.5&fees=0.25"),
        Some(&access),
        None,
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    let sent = telegram.wait_for(3, Duration::from_secs(15)).await;
    assert!(
        sent.iter().all(|r| r.path == format!("/bot{bot_token}/sendMessage")),
        "the bot token was used"
    );

    // The refresh token used before, again: a reuse, which revokes the session.
    let (status, body) = send(
        &d,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": otp_refresh})),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["detail"], "Refresh token revoked");

    // The admin: a dry-run re-encryption with keys in the body, a password and a 2FA reset.
    let (admin_access, admin_refresh) = pair(&d, admin_email, &admin_password, None).await;
    let (status, body) = send(
        &d,
        Method::POST,
        "/ops/security/reencrypt-exchange-secrets",
        Some(&admin_access),
        Some(json!({"old_key": key_new_b64, "new_key": key_other_b64, "dry_run": true})),
    )
    .await;
    assert_eq!((status, &body["scanned"]), (200, &json!(2)), "{body}");
    let reason = "the trader asked for a reset on the phone";
    let (status, body) = send(
        &d,
        Method::PUT,
        &format!("/users/{trader_id}/password"),
        Some(&admin_access),
        Some(json!({"new_password": new_password, "reason": reason})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(
        &d,
        Method::POST,
        &format!("/users/{trader_id}/2fa/reset"),
        Some(&admin_access),
        Some(json!({"reason": reason})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Bad tokens: a tampered signature, a revoked session's, a refresh token as a bearer token.
    let mut tampered = access.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(send(&d, Method::GET, "/users/me", Some(&tampered), None).await.0, 401);
    assert_eq!(send(&d, Method::GET, "/users/me", Some(&access), None).await.0, 401);
    assert_eq!(send(&d, Method::GET, "/users/me", Some(&refreshed), None).await.0, 401);

    // The new password, then logouts.
    let (last_access, last_refresh) = pair(&d, trader_email, &new_password, None).await;
    for (token, refresh) in [(&last_access, &last_refresh), (&admin_access, &admin_refresh)] {
        let (status, body) = send(
            &d,
            Method::POST,
            "/auth/logout",
            Some(token),
            Some(json!({"refresh_token": refresh})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    d.stop().await;

    let hash = db.sql(&format!("SELECT password_hash FROM users WHERE id = '{trader_id}'"));
    let digest = hash.rsplit('$').next().unwrap().to_string();

    for (name, value) in [
        ("the admin's password", &admin_password),
        ("the trader's password", &trader_password),
        ("a mistyped password", &typo_password),
        ("the password the admin set", &new_password),
        ("SECRET_KEY", &secret_key),
        ("ENCRYPTION_KEYS' newest key (base64)", &key_new_b64),
        ("ENCRYPTION_KEYS' older key (hex)", &key_old_hex),
        ("the re-encryption's new key", &key_other_b64),
        ("the Telegram bot token", &bot_token),
        ("the Binance api key", &binance_key),
        ("the Binance api secret", &binance_secret),
        ("the IBKR api key", &ibkr_key),
        ("the IBKR api secret", &ibkr_secret),
        ("the TOTP secret (base32)", &totp_secret),
        ("the argon2 digest of the trader's password", &digest),
    ] {
        secrets.text(name, value);
    }
    let totp_bytes = data_encoding::BASE32_NOPAD.decode(totp_secret.as_bytes()).unwrap();
    secrets.text("the TOTP secret (hex)", &hex::encode(&totp_bytes));
    secrets.text("the TOTP secret (HEX)", &hex::encode_upper(&totp_bytes));
    secrets.text("the TOTP secret (base64)", &b64.encode(&totp_bytes));
    for (name, key) in [
        ("newest", key_new),
        ("older", key_old),
        ("re-encryption's new", key_other),
    ] {
        secrets.text(&format!("the {name} encryption key (hex)"), &hex::encode(key));
        secrets.text(&format!("the {name} encryption key (base64)"), &b64.encode(key));
    }
    for (name, token) in [
        ("the first access token", &first_access),
        ("the first refresh token", &first_refresh),
        ("the OTP login's access token", &otp_access),
        ("the OTP login's refresh token", &otp_refresh),
        ("the refreshed access token", &access),
        ("the refreshed refresh token", &refreshed),
        ("the tampered token", &tampered),
        ("the admin's access token", &admin_access),
        ("the admin's refresh token", &admin_refresh),
        ("the last access token", &last_access),
        ("the last refresh token", &last_refresh),
    ] {
        secrets.token(name, token);
    }
    secrets.code("the code that enabled 2FA", &enable_code);
    secrets.code("the code of the OTP login", &login_code);
    secrets.code("a wrong code", &wrong_code);

    let daemon_log = std::fs::read_to_string(&log).unwrap();
    // The scan means something only if the log is the verbose one, with the requests in it.
    let lines = daemon_log.lines().count();
    assert!(
        daemon_log.contains(" TRACE ") && daemon_log.contains(" DEBUG ") && lines > 500,
        "{lines} lines, not a trace-level log"
    );
    for route in [
        "/auth/login",
        "/auth/refresh",
        "/users/exchange-secrets",
        "/ops/execution/binance/test-order",
    ] {
        assert!(daemon_log.contains(route), "the log has no line of {route}");
    }
    let hits = scan(&format!("{daemon_log}\n{cli_output}"), &secrets);
    assert!(
        hits.is_empty(),
        "{} log lines hold a secret (log: {}):\n{}",
        hits.len(),
        log.display(),
        hits.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    std::fs::remove_file(&log).unwrap();
}
