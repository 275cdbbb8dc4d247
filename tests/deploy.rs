//! The sample reverse-proxy configurations of `deploy/` (docs/deploy.md), run as shipped (only
//! their ports changed) in front of two daemons on one database: requests go to both, a token
//! issued through one works through the other, and killing one daemon loses no request.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn port_of(d: &Daemon) -> String {
    d.base.rsplit(':').next().unwrap().to_string()
}

/// The shipped file with its two daemon ports and its listening port replaced.
fn configured(file: &str, a: &Daemon, b: &Daemon, listen: u16) -> String {
    let shipped = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file)).unwrap();
    for port in ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8080"] {
        assert!(shipped.contains(port), "{file} names {port}");
    }
    shipped
        .replace("127.0.0.1:8001", &format!("127.0.0.1:{}", port_of(a)))
        .replace("127.0.0.1:8002", &format!("127.0.0.1:{}", port_of(b)))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{listen}"))
}

fn start_proxy(file: &str, a: &Daemon, b: &Daemon, listen: u16) -> Proxy {
    let dir = std::env::temp_dir().join(format!("cs-proxy-{}-{listen}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, configured(file, a, b, listen)).unwrap();
    let path = path.to_str().unwrap().to_string();
    let mut cmd = match file {
        "nginx.conf" => {
            let check = Command::new("nginx")
                .args([
                    "-t",
                    "-p",
                    dir.to_str().unwrap(),
                    "-c",
                    &path,
                    "-g",
                    "pid nginx.pid; error_log stderr;",
                ])
                .output()
                .expect("nginx is installed (scripts/lib/proxy.sh)");
            assert!(
                check.status.success(),
                "nginx -t: {}",
                String::from_utf8_lossy(&check.stderr)
            );
            let mut cmd = Command::new("nginx");
            cmd.args([
                "-p",
                dir.to_str().unwrap(),
                "-c",
                &path,
                "-g",
                "pid nginx.pid; daemon off; error_log stderr;",
            ]);
            cmd
        }
        _ => {
            let check = Command::new("haproxy")
                .args(["-c", "-f", &path])
                .output()
                .expect("haproxy is installed (scripts/lib/proxy.sh)");
            assert!(
                check.status.success(),
                "haproxy -c: {}",
                String::from_utf8_lossy(&check.stdout)
            );
            let mut cmd = Command::new("haproxy");
            cmd.args(["-db", "-f", &path]);
            cmd
        }
    };
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    Proxy(child)
}

async fn through(listen: u16, path: &str, token: &str) -> (u16, serde_json::Value) {
    let url = format!("http://127.0.0.1:{listen}{path}");
    match client().get(url).bearer_auth(token).send().await {
        Ok(resp) => json(resp).await,
        Err(err) => (0, serde_json::Value::String(err.to_string())),
    }
}

async fn two_daemons_behind(file: &str) {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let mut b = Daemon::start(&db);
    let listen = free_port();
    let _proxy = start_proxy(file, &a, &b, listen);
    let admin = admin(&a, "ops@desk.io").await;

    // Both daemons answer through the proxy (each /ops/cluster names the one that answered).
    let started = Instant::now();
    let mut answered_by = HashSet::new();
    while answered_by.len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{file}: only {answered_by:?} answered"
        );
        let (status, body) = through(listen, "/ops/cluster", &admin).await;
        if status == 200 {
            answered_by.insert(body["answered_by"].to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // With one daemon killed, every request still gets its answer from the other.
    b.kill();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..20 {
        let (status, body) = through(listen, "/users/me", &admin).await;
        assert_eq!(status, 200, "{file} with one daemon down: {body}");
    }
    let (status, _) = call(&a, Method::GET, "/users/me", &admin, None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_nginx_sample_spreads_requests_and_survives_a_dead_daemon() {
    two_daemons_behind("nginx.conf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_haproxy_sample_spreads_requests_and_survives_a_dead_daemon() {
    two_daemons_behind("haproxy.cfg").await;
}
