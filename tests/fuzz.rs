//! schemathesis (scripts/lib/pytools.txt) over the served `/openapi.json`: every route, every
//! check, with an admin's token, a trader's and none, and the stateful phase following the
//! document's links. A failure prints schemathesis's own report (with a curl line per finding).

mod common;
mod fakes;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::*;
use reqwest::Method;
use serde_json::json;

/// Test cases per operation and phase: enough to reach every bound of the document, bounded
/// so the whole file runs in about three minutes on two cores.
const EXAMPLES: &str = "6";
/// The same seed every run: a finding reproduces with the same command.
const SEED: &str = "21";
/// Routes that end the caller's sessions: fuzzed last, with a token of their own, so the
/// other runs keep a working token.
const SESSION_ENDING: &[&str] = &["/auth/logout", "/auth/revoke-all"];

/// The `st` of the project's venv (`ensure_pytools`, which scripts/test.sh runs), else of PATH.
fn schemathesis() -> PathBuf {
    if let Ok(path) = std::env::var("SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/st");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("st")
    }
}

/// One schemathesis run; `Err` holds its report when it found anything.
fn run(d: &Daemon, label: &str, token: Option<&str>, filter: &[&str]) -> Result<(), String> {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let workdir = std::env::temp_dir().join(format!("cs-fuzz-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&workdir).unwrap();
    let mut cmd = Command::new(schemathesis());
    cmd.current_dir(&workdir)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &d.url("/openapi.json")])
        .args(["--checks", "all", "--max-examples", EXAMPLES, "--seed", SEED])
        .args(["--workers", "1", "--no-color", "--request-timeout", "30"]);
    if let Some(token) = token {
        cmd.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    cmd.args(filter);
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {} ({e}): run scripts/test.sh, or `source scripts/lib/pytools.sh && ensure_pytools`",
            schemathesis().display()
        )
    });
    let _ = std::fs::remove_dir_all(&workdir);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "=== schemathesis, {label} ===\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// What the fuzzer's requests can reach: both exchanges' credentials and a signal of each caller.
async fn seed(d: &Daemon, token: &str) {
    for exchange in ["BINANCE", "IBKR"] {
        let body = json!({"exchange": exchange, "api_key": "fuzz-api-key-1", "api_secret": "fuzz-api-secret-1"});
        let (status, answer) = call(d, Method::POST, "/users/exchange-secrets", token, Some(body)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let (status, answer) = call(d, Method::POST, "/signals", token, Some(signal_body("BTCUSDT"))).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_with_or_without_auth() {
    // Binance test orders reach a testnet that accepts them; IBKR is simulated.
    let testnet = fakes::Fake::start(Arc::new(|_| (200, json!({}))));
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("BINANCE_TESTNET_BASE_URL", testnet.base.as_str())]);
    // Every token is issued before the fuzzer's failed logins can throttle this address.
    let admin = admin(&d, "fuzz.admin@desk.io").await;
    let trader = trader(&d, "fuzz.trader@desk.io").await;
    let last = token(&d, "fuzz.trader@desk.io").await;
    seed(&d, &admin).await;
    seed(&d, &trader).await;

    let mut keep: Vec<&str> = Vec::new();
    for path in SESSION_ENDING {
        keep.extend(["--exclude-path", path]);
    }
    // The session-ending routes are in no link: their run has no stateful phase.
    let mut only: Vec<&str> = vec!["--phases", "examples,coverage,fuzzing"];
    for path in SESSION_ENDING {
        only.extend(["--include-path", path]);
    }
    // schemathesis blocks this thread while the fake testnet answers on the others.
    let reports: Vec<String> = tokio::task::block_in_place(|| {
        [
            run(&d, "admin", Some(&admin), &keep),
            run(&d, "trader", Some(&trader), &keep),
            run(&d, "anonymous", None, &[]),
            run(&d, "session-ending", Some(&last), &only),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect()
    });
    assert!(reports.is_empty(), "{}", reports.join("\n"));
}
