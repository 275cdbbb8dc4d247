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
    pub fn new() -> TestDb {
        let name = format!("cs_test_{}", uuid_like());
        admin_sql(&format!("CREATE DATABASE {name}"));
        TestDb {
            url: with_database(&server_url(), &name),
            name,
        }
    }

    /// Runs SQL against this test's database, returning psql's unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([self.url.as_str(), "-qtA", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql failed: {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
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
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
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
