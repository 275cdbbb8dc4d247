//! Integration-test harness: a fresh database per test and the real daemon binary on a random port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const SECRET_KEY: &str = "integration-test-secret-key-0123456789";
pub const ENCRYPTION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const PASSWORD: &str = "Sup3r-secret-pass";

/// The server that hosts the test databases.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("TEST_DATABASE_URL must end with /dbname");
    format!("{base}/{db}")
}

fn admin_sql(sql: &str) {
    let url = server_url();
    let status = Command::new("psql")
        .args([url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .status()
        .expect("psql must be installed");
    assert!(status.success(), "psql failed: {sql}");
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A fresh database with the schema migrated (so tests may seed rows before a daemon starts).
    pub fn new() -> TestDb {
        let db = TestDb::empty();
        let out = cli(&db.url, &["migrate"], None);
        assert!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        db
    }

    /// A fresh database without any schema.
    pub fn empty() -> TestDb {
        let name = format!("cs_test_{}", uuid_like());
        admin_sql(&format!("CREATE DATABASE {name} TEMPLATE template0"));
        TestDb {
            url: with_database(&server_url(), &name),
            name,
        }
    }

    /// Runs SQL against this test's database, returning psql's unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }

    /// Gives every user whose email matches the SQL `LIKE` pattern the TOTP secret `secret`
    /// (base32), stored sealed as the daemon stores it, with 2FA enabled or not.
    pub fn set_totp(&self, email_like: &str, secret: &str, enabled: bool) {
        let ids = self.sql(&format!(
            "SELECT id FROM users WHERE email LIKE '{email_like}' ORDER BY id"
        ));
        assert!(!ids.is_empty(), "no user matches {email_like}");
        for id in ids.lines() {
            self.sql(&format!(
                "UPDATE users SET totp_secret = '{}', totp_enabled = {enabled} WHERE id = '{id}'",
                sealed_totp(id, secret)
            ));
        }
    }
}

/// `secret` sealed for the user `user_id` under the harness's `ENCRYPTION_KEY` (key id `k1`).
pub fn sealed_totp(user_id: &str, secret: &str) -> String {
    let ring = actors::crypto::KeyRing::from_texts("ENCRYPTION_KEY", &[("k1".to_string(), ENCRYPTION_KEY)]).unwrap();
    let user_id = user_id.parse().expect("a user id");
    actors::crypto::SealedTotp::seal(&ring, user_id, secret)
        .unwrap()
        .stored()
        .to_string()
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = server_url();
        let _ = Command::new("psql")
            .args([
                url.as_str(),
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// The daemon as a child process; killed when dropped.
pub struct Daemon {
    pub base: String,
    pub child: Child,
    pub db_url: String,
    env: Vec<(String, String)>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_crypto-saas")
}

impl Daemon {
    pub fn start(db: &TestDb) -> Daemon {
        Daemon::start_with(db, &[])
    }

    pub fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Daemon {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Daemon::spawn(&db.url, env, "0")
    }

    fn spawn(db_url: &str, env: Vec<(String, String)>, port: &str) -> Daemon {
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", db_url)
            .env("SECRET_KEY", SECRET_KEY)
            .env("ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("HOST", "127.0.0.1")
            .env("PORT", port)
            .env("LOG_LEVEL", "warn")
            .env("BINANCE_TESTNET_BASE_URL", "http://127.0.0.1:9")
            .env("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the daemon");
        let stdout = child.stdout.take().expect("daemon stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let base = loop {
            line.clear();
            let n = reader.read_line(&mut line).expect("read daemon stdout");
            assert!(n > 0, "daemon exited before listening");
            if let Some(rest) = line.trim().strip_prefix("listening on ") {
                break rest.to_string();
            }
        };
        // Keep draining stdout so the daemon never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        Daemon {
            base,
            child,
            db_url: db_url.to_string(),
            env,
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the daemon again on the same port and database.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.base.rsplit(':').next().unwrap().to_string();
        let fresh = Daemon::spawn(&self.db_url, self.env.clone(), &port);
        *self = fresh;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI against a database, feeding `stdin`.
pub fn cli(db_url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db_url)
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    if let Some(input) = stdin {
        // The CLI may refuse before it reads standard input (a closed pipe is not a failure here).
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("CLI output")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A GET with `token` after a change made straight in the database: the change notification
/// travels from the committing session to the daemon's identity cache, so allow it a moment (it
/// takes milliseconds), never a stale answer after 500 ms.
pub async fn eventually(d: &Daemon, path: &str, token: &str) -> (u16, Value) {
    let started = std::time::Instant::now();
    loop {
        let answer = call(d, reqwest::Method::GET, path, token, None).await;
        if answer.0 != 200 || started.elapsed() > Duration::from_millis(500) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The body of an unauthenticated GET, as text (metrics, scripts).
pub async fn get_text(d: &Daemon, path: &str) -> String {
    client().get(d.url(path)).send().await.unwrap().text().await.unwrap()
}

/// A response's status and JSON body.
pub async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub async fn register(d: &Daemon, email: &str) -> (u16, Value) {
    json(
        client()
            .post(d.url("/auth/register"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn login_with(d: &Daemon, email: &str, password: &str, otp: Option<&str>) -> (u16, Value) {
    let mut form = vec![("username", email), ("password", password)];
    if let Some(otp) = otp {
        form.push(("otp", otp));
    }
    json(client().post(d.url("/auth/login")).form(&form).send().await.unwrap()).await
}

/// Registers and logs in a trader, returning the bearer token.
pub async fn trader(d: &Daemon, email: &str) -> String {
    let (status, body) = register(d, email).await;
    assert_eq!(status, 201, "register {email}: {body}");
    token(d, email).await
}

pub async fn token(d: &Daemon, email: &str) -> String {
    let (status, body) = login_with(d, email, PASSWORD, None).await;
    assert_eq!(status, 200, "login {email}: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// Creates an admin with the CLI and logs in.
pub async fn admin(d: &Daemon, email: &str) -> String {
    let out = cli(
        &d.db_url,
        &["admin", "create", "--email", email, "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(
        out.status.success(),
        "admin create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    token(d, email).await
}

/// Sends a request with a bearer token and returns status and JSON.
pub async fn call(d: &Daemon, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = client().request(method, d.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    json(req.send().await.unwrap()).await
}

/// Creates a trader directly in the database and mints their token (fast: no argon2), for
/// tests whose subject is trading, not authentication.
pub fn seed_trader(db: &TestDb, email: &str) -> (String, String) {
    let id = db.sql(&format!(
        "WITH u AS (INSERT INTO users (email, password_hash) VALUES ('{email}', 'x') RETURNING id), \
         t AS (INSERT INTO trading_state (user_id) SELECT id FROM u) SELECT id FROM u"
    ));
    assert_eq!(id.len(), 36, "a user id: {id}");
    (id, mint_token(email, "trader"))
}

/// An id from a JSON answer (ids are UUID strings on the wire).
pub fn id_of(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("an id is a string: {value}"))
        .to_string()
}

pub fn mint_token(email: &str, role: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = serde_json::json!({"sub": email, "role": role, "exp": exp, "iat": exp - 3600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET_KEY.as_bytes()),
    )
    .unwrap()
}

pub fn signal_body(symbol: &str) -> Value {
    serde_json::json!({"symbol": symbol, "module": "breakout", "base_risk_percent": 0.5,
                       "entry_price": 100.0, "stop_loss": 95.0, "take_profit": 110.0})
}

/// Creates a signal, claims it and returns its id (for tests that need an EXECUTING signal).
pub async fn executing_signal(d: &Daemon, token: &str, symbol: &str) -> String {
    let (status, signal) = call(d, reqwest::Method::POST, "/signals", token, Some(signal_body(symbol))).await;
    assert_eq!(status, 200, "{signal}");
    let (status, claimed) = call(d, reqwest::Method::POST, "/signals/claim?limit=1", token, None).await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed[0]["id"], signal["id"], "claimed the signal just created");
    id_of(&signal["id"])
}

/// A PostgreSQL cluster of the test's own (for tests that stop and start the server).
pub struct PrivateCluster {
    pub dir: std::path::PathBuf,
    pub port: u16,
    bin: std::path::PathBuf,
}

impl PrivateCluster {
    pub fn start() -> PrivateCluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("initdb");
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("cs-pg-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = PrivateCluster { dir, port, bin };
        cluster.as_postgres(&["chown", "postgres", cluster.dir.to_str().unwrap()], true);
        let initdb = cluster.bin.join("initdb");
        cluster.as_postgres(
            &[
                initdb.to_str().unwrap(),
                "-D",
                cluster.dir.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
            ],
            false,
        );
        cluster.pg_ctl("start");
        cluster
    }

    fn as_postgres(&self, args: &[&str], as_root: bool) {
        let root = unsafe_is_root();
        let mut cmd = if root && !as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).args(args);
            c
        } else {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        };
        let out = cmd.output().expect("run postgres tool");
        assert!(
            out.status.success() || as_root,
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn pg_ctl(&self, action: &str) {
        let pg_ctl = self.bin.join("pg_ctl");
        let log = self.dir.join("log");
        let opts = format!("-p {} -c listen_addresses=127.0.0.1 -k /tmp -c fsync=off", self.port);
        let mut args = vec![
            pg_ctl.to_str().unwrap(),
            "-D",
            self.dir.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-o",
            opts.as_str(),
        ];
        if action == "stop" {
            args.extend(["-m", "immediate"]);
        }
        args.push(action);
        self.as_postgres(&args, false);
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = Command::new(if unsafe_is_root() { "runuser" } else { "true" })
            .args([
                "-u",
                "postgres",
                "--",
                pg_ctl.to_str().unwrap(),
                "-D",
                self.dir.to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    /// Starts a daemon against an arbitrary database URL.
    pub fn start_url(db_url: &str, env: &[(&str, &str)]) -> Daemon {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Daemon::spawn(db_url, env, "0")
    }
}

/// Waits until `sql` returns `expected` (actors work after the request that asked them has been answered).
pub fn wait_sql(db: &TestDb, sql: &str, expected: &str) {
    let started = std::time::Instant::now();
    loop {
        let got = db.sql(sql);
        if got == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{sql}: got {got:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs SQL against any database URL, returning psql's unaligned output.
/// The whole database as `pg_dump` writes it (schema and data, plain text).
pub fn pg_dump(db: &TestDb) -> String {
    let out = Command::new("pg_dump")
        .args([db.url.as_str(), "--no-owner"])
        .output()
        .expect("pg_dump must be installed");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qtA", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql failed: {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Seeds `count` traders `prefix{i}@load.test`, each with one EXECUTING signal; returns (user id, signal id, token).
pub fn seed_traders_with_signal(db_url: &str, prefix: &str, count: usize) -> Vec<(String, String, String)> {
    let rows = psql(
        db_url,
        &format!(
            "WITH u AS (INSERT INTO users (email, password_hash) SELECT '{prefix}' || g || '@load.test', 'x' \
             FROM generate_series(1, {count}) g RETURNING id, email), \
             t AS (INSERT INTO trading_state (user_id) SELECT id FROM u), \
             s AS (INSERT INTO signals (user_id, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, status) \
             SELECT id, 'BTCUSDT', 'm', 0.5, 100, 95, 110, 'EXECUTING' FROM u RETURNING id, user_id) \
             SELECT u.id, s.id, u.email FROM u JOIN s ON s.user_id = u.id ORDER BY u.email"
        ),
    );
    rows.lines()
        .map(|line| {
            let parts: Vec<&str> = line.split('|').collect();
            (
                parts[0].to_string(),
                parts[1].to_string(),
                mint_token(parts[2], "trader"),
            )
        })
        .collect()
}

/// Every position, signal, risk counter and audit event agree: nothing is half-applied.
pub fn assert_nothing_half_applied(db: &TestDb) {
    assert_eq!(db.sql("SELECT count(*) FROM positions p JOIN signals s ON s.id = p.signal_id WHERE (p.status = 'OPEN') <> (s.status = 'OPENED')"), "0");
    assert_eq!(db.sql("SELECT count(*) FROM positions p JOIN signals s ON s.id = p.signal_id WHERE (p.status = 'CLOSED') <> (s.status = 'COMPLETED')"), "0");
    assert_eq!(db.sql("SELECT count(*) FROM signals s WHERE s.status IN ('OPENED','COMPLETED') AND NOT EXISTS (SELECT 1 FROM positions p WHERE p.signal_id = s.id)"), "0");
    assert_eq!(
        db.sql("SELECT count(*) FROM trading_state t WHERE t.open_positions <> (SELECT count(*) FROM positions p WHERE p.user_id = t.user_id AND p.status = 'OPEN')"),
        "0"
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM users u WHERE (SELECT count(*) FROM positions p WHERE p.user_id = u.id AND p.status = 'CLOSED') <> \
                COALESCE((SELECT sum(trades_count) FROM risk_daily r WHERE r.user_id = u.id), 0)"),
        "0"
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM positions"),
        db.sql("SELECT count(*) FROM audit_events WHERE action = 'position.open'")
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM positions WHERE status = 'CLOSED'"),
        db.sql("SELECT count(*) FROM audit_events WHERE action = 'position.close'")
    );
}

/// What one trader's open-then-close came to.
#[derive(Debug)]
pub enum Outcome {
    Opened { position_id: String },
    Closed { position_id: String, realized_pnl: Value },
    NoAnswer,
    Refused(u16),
}

/// Opens 2 at 100 from `signal_id`, then closes at 103 with 0.5 fees (PnL 5.5).
pub async fn open_then_close(base: &str, signal_id: &str, token: &str) -> Vec<Outcome> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let open = http
        .post(format!("{base}/positions/open_from_signal?signal_id={signal_id}&qty=2"))
        .bearer_auth(token)
        .send()
        .await;
    let position_id = match open {
        Ok(resp) if resp.status() == 200 => match resp
            .json::<Value>()
            .await
            .ok()
            .and_then(|p| p["id"].as_str().map(str::to_string))
        {
            Some(id) => id,
            None => return vec![Outcome::NoAnswer],
        },
        Ok(resp) => return vec![Outcome::Refused(resp.status().as_u16())],
        Err(_) => return vec![Outcome::NoAnswer],
    };
    let mut outcomes = vec![Outcome::Opened {
        position_id: position_id.clone(),
    }];
    let close = http
        .post(format!(
            "{base}/positions/close?position_id={position_id}&exit_price=103&fees=0.5"
        ))
        .bearer_auth(token)
        .send()
        .await;
    outcomes.push(match close {
        Ok(resp) if resp.status() == 200 => match resp.json::<Value>().await {
            Ok(p) => Outcome::Closed {
                position_id,
                realized_pnl: p["realized_pnl"].clone(),
            },
            Err(_) => Outcome::NoAnswer,
        },
        Ok(resp) => Outcome::Refused(resp.status().as_u16()),
        Err(_) => Outcome::NoAnswer,
    });
    outcomes
}

/// What a load of `open_then_close` came to.
pub struct Tally<'a> {
    pub opened: Vec<&'a String>,
    /// Each acknowledged close with the PnL it answered.
    pub closed: Vec<(&'a String, &'a Value)>,
    pub unanswered: usize,
    /// The statuses of the refusals.
    pub refused: Vec<u16>,
}

/// Each trader's `open_then_close` as a task, at most `concurrency` at once; `users` as
/// `seed_traders_with_signal` gives them.
pub fn load_open_then_close(
    base: &str,
    users: Vec<(String, String, String)>,
    concurrency: usize,
) -> Vec<tokio::task::JoinHandle<Vec<Outcome>>> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    users
        .into_iter()
        .map(|(_, signal_id, token)| {
            let (base, gate) = (base.to_string(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                open_then_close(&base, &signal_id, &token).await
            })
        })
        .collect()
}

/// Every outcome of a load's tasks, once they are done.
pub async fn outcomes_of(tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.unwrap());
    }
    outcomes
}

pub fn tally(outcomes: &[Outcome]) -> Tally<'_> {
    let mut tally = Tally {
        opened: Vec::new(),
        closed: Vec::new(),
        unanswered: 0,
        refused: Vec::new(),
    };
    for outcome in outcomes {
        match outcome {
            Outcome::Opened { position_id } => tally.opened.push(position_id),
            Outcome::Closed {
                position_id,
                realized_pnl,
            } => tally.closed.push((position_id, realized_pnl)),
            Outcome::NoAnswer => tally.unanswered += 1,
            Outcome::Refused(status) => tally.refused.push(*status),
        }
    }
    tally
}

/// Every acknowledged open and close of `open_then_close` is in the database.
pub fn assert_acknowledged_kept(db: &TestDb, opened: &[&String], closed: &[(&String, &Value)]) {
    // (103 - 100) * 2 - 0.5
    assert!(
        closed.iter().all(|(_, pnl)| pnl.as_f64() == Some(5.5)),
        "every close answered PnL 5.5"
    );
    let not_as_acknowledged = |ids: Vec<&String>, states: &str| {
        let ids: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
        db.sql(&format!(
            "SELECT string_agg(a.id::text || ' is ' || coalesce(p.status || '/' || s.status || '/' || p.realized_pnl, 'missing'), ', ') \
             FROM unnest(ARRAY[{}]::uuid[]) a(id) LEFT JOIN positions p ON p.id = a.id LEFT JOIN signals s ON s.id = p.signal_id \
             WHERE coalesce(p.status || '/' || s.status || '/' || coalesce(p.realized_pnl::text, ''), '') NOT IN ({states})",
            if ids.is_empty() { "NULL".to_string() } else { ids.join(",") }
        ))
    };
    let opens = not_as_acknowledged(opened.to_vec(), "'OPEN/OPENED/', 'CLOSED/COMPLETED/5.5'");
    assert_eq!(opens, "", "acknowledged opens");
    let closes = not_as_acknowledged(closed.iter().map(|(id, _)| *id).collect(), "'CLOSED/COMPLETED/5.5'");
    assert_eq!(closes, "", "acknowledged closes");
}
