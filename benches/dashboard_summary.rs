//! Latency of `GET /ops/dashboard/summary` as users grow (10, 100, 1,000, 10,000 by default),
//! each with a week of activity. For every size: a fresh database, set-based seeding with
//! generate_series, the daemon binary of this build started on it, warm-up, then sequential
//! requests timed end to end (HTTP included). Prints a markdown table.
//!
//! Run: `cargo bench --bench dashboard_summary` (release build).
//! Knobs: BENCH_SIZES=10,100 BENCH_REQUESTS=30 TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
//! BENCH_EVENTS_PER_USER_DAY=12; DAEMON_BIN=path runs that daemon binary instead of this build's
//! (an older build, to compare two builds in one run).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET_KEY: &str = "bench-secret-key-0123456789-abcdefghij";
const ENCRYPTION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const ADMIN: &str = "bench.admin@corp.io";

fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn db_url(name: &str) -> String {
    let url = server_url();
    let (base, _) = url.rsplit_once('/').expect("TEST_DATABASE_URL ends with /dbname");
    format!("{base}/{name}")
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qtA", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql must be installed");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Daemon(Child, String);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(url: &str) -> Daemon {
    let bin = std::env::var("DAEMON_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_crypto-saas").to_string());
    let mut child = Command::new(bin)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("SECRET_KEY", SECRET_KEY)
        .env("ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the daemon");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "daemon exited");
        if let Some(rest) = line.trim().strip_prefix("listening on ") {
            break rest.to_string();
        }
    };
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    Daemon(child, base)
}

/// A week of activity for `n` users, all set-based.
fn seed(url: &str, n: i64, events_per_user_day: i64) {
    psql(
        url,
        &format!(
            "-- Ids are UUIDs; a stable small number per user spreads the seeded shapes.
             CREATE FUNCTION bench_n(uuid) RETURNS int LANGUAGE sql IMMUTABLE AS $$SELECT abs(hashtext($1::text))$$;
             INSERT INTO users (email, password_hash, role, totp_enabled) VALUES ('{ADMIN}', 'x', 'admin', true);
             INSERT INTO users (email, password_hash, role, totp_enabled)
             SELECT CASE WHEN i % 50 = 0 THEN 'smoke.u' || i || '@corp.io'
                         WHEN i % 97 = 0 THEN 'ops.bot.u' || i || '@corp.io'
                         ELSE 'user' || i || '@corp.io' END,
                    'x', CASE WHEN i % 97 = 0 THEN 'service' ELSE 'trader' END, i % 3 <> 0
             FROM generate_series(1, {n}) i;
             INSERT INTO exchange_secrets (user_id, exchange, key_id, api_key_enc, api_secret_enc, updated_at)
             SELECT id, ex, 'k1', 'x', 'x', now() - (bench_n(id) % 60) * interval '1 day'
             FROM users, unnest(ARRAY['BINANCE', 'IBKR']) ex
             WHERE email <> '{ADMIN}' AND (ex = 'BINANCE' AND bench_n(id) % 4 <> 0 OR ex = 'IBKR' AND bench_n(id) % 3 = 0);
             INSERT INTO trading_state (user_id, open_positions, last_trade_at)
             SELECT id, bench_n(id) % 3, now() - interval '1 hour' FROM users;
             INSERT INTO risk_daily (user_id, day, trades_count, realized_pnl, blocked_opens)
             SELECT u.id, (now() AT TIME ZONE 'America/Bogota')::date - d, (bench_n(u.id) + d) % 4,
                    ((bench_n(u.id) * 7 + d) % 200 - 100) / 37.0, (bench_n(u.id) + d) % 3
             FROM users u, generate_series(0, 6) d;
             INSERT INTO positions (user_id, symbol, qty, entry_price, status, realized_pnl, opened_at, closed_at)
             SELECT u.id, 'BTCUSDT', 1, 100, 'CLOSED', 1.5, now() - d * interval '1 day' - interval '2 hours',
                    now() - d * interval '1 day' - interval '1 hour'
             FROM users u, generate_series(0, 6) d;
             INSERT INTO audit_events (user_id, action, entity_type, created_at)
             SELECT u.id,
                    (ARRAY['position.open', 'position.close', 'signal.create', 'signal.claim',
                           'pretrade.check.passed', 'pretrade.check.blocked', 'position.open.blocked.cooldown',
                           'position.open.blocked.max_trades', 'execution.binance.test_order.error',
                           'execution.blocked.exchange_disabled', 'exit.check.hold', 'auth.login.success'])[1 + (bench_n(u.id) + k) % 12],
                    'bench', now() - (k * 7.0 * 86400 / {events_per_user_day} / 7) * interval '1 second'
             FROM users u, generate_series(0, {events_per_user_day} * 7 - 1) k;"
        ),
    );
    // As autovacuum would leave it: statistics and the visibility map (index-only scans).
    psql(url, "VACUUM ANALYZE");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes --bench; nothing else is read from the command line.
    let sizes: Vec<i64> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10,100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let requests: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let per_day: i64 = std::env::var("BENCH_EVENTS_PER_USER_DAY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let token = crypto_saas::auth::jwt::JwtKeys::new(&secrecy::SecretString::from(SECRET_KEY)).issue(ADMIN, "admin");
    let http = reqwest::Client::new();
    let mut table = vec![
        "| users | audit events | users in scope | requests | p50 ms | p99 ms | max ms | seed s |".to_string(),
        "|---:|---:|---:|---:|---:|---:|---:|---:|".to_string(),
    ];
    for &n in &sizes {
        let name = format!("cs_bench_{n}_{}", std::process::id());
        psql(&server_url(), &format!("DROP DATABASE IF EXISTS {name}"));
        psql(&server_url(), &format!("CREATE DATABASE {name}"));
        let url = db_url(&name);
        let daemon = start_daemon(&url);
        let seeded = Instant::now();
        seed(&url, n, per_day);
        let seed_secs = seeded.elapsed().as_secs_f64();
        let events = psql(&url, "SELECT count(*) FROM audit_events");
        let endpoint = format!("{}/ops/dashboard/summary", daemon.1);
        let mut scope = 0;
        for _ in 0..3 {
            let resp = http.get(&endpoint).bearer_auth(&token).send().await.unwrap();
            assert!(resp.status().is_success(), "summary answered {}", resp.status());
            let body: serde_json::Value = resp.json().await.unwrap();
            scope = body["users"].as_array().map(Vec::len).unwrap_or(0);
        }
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            let resp = http.get(&endpoint).bearer_auth(&token).send().await.unwrap();
            assert!(resp.status().is_success());
            let _ = resp.bytes().await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let row = format!(
            "| {n} | {events} | {scope} | {requests} | {} | {} | {} | {seed_secs:.1} |",
            ms(percentile(&times, 0.50)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap()),
        );
        eprintln!("{row}");
        table.push(row);
        drop(daemon);
        psql(&server_url(), &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
    println!("\n{}", table.join("\n"));
}
