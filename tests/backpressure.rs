//! When Postgres goes away the daemon answers 503 with Retry-After quickly instead of hanging,
//! and recovers by itself when Postgres returns.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_gives_fast_503s_then_recovers() {
    let cluster = PrivateCluster::start();
    psql(&cluster.url("postgres"), "CREATE DATABASE app");
    let url = cluster.url("app");
    let d = Daemon::start_url(&url, &[("DB_ACQUIRE_TIMEOUT_MS", "500")]);
    let users = seed_traders_with_signal(&url, "bp", 8);
    let token = users[0].2.clone();
    let body = signal_body("BTCUSDT");

    let send = |base: String, token: String, body: serde_json::Value| async move {
        let started = Instant::now();
        let resp = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
            .post(format!("{base}/signals"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await;
        let elapsed = started.elapsed();
        match resp {
            Ok(r) => (r.status().as_u16(), r.headers().get("retry-after").is_some(), elapsed),
            Err(e) => panic!("the daemon must answer, not drop the request: {e}"),
        }
    };

    for _ in 0..20 {
        assert_eq!(send(d.base.clone(), token.clone(), body.clone()).await.0, 200);
    }
    cluster.pg_ctl("stop");
    let mut saw_503 = false;
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(4) {
        let mut batch = Vec::new();
        for _ in 0..8 {
            batch.push(tokio::spawn(send(d.base.clone(), token.clone(), body.clone())));
        }
        for b in batch {
            let (status, retry_after, elapsed) = b.await.unwrap();
            assert_eq!(status, 503, "during the outage every request is refused with 503");
            assert!(retry_after, "503 carries Retry-After");
            assert!(
                elapsed < Duration::from_secs(3),
                "refused quickly, not hung: {elapsed:?}"
            );
            saw_503 = true;
        }
    }
    assert!(saw_503);
    let (status, body_json) = json(client().get(d.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((status, body_json["status"].as_str()), (503, Some("degraded")));

    cluster.pg_ctl("start");
    let recovery = Instant::now();
    loop {
        let (status, _, _) = send(d.base.clone(), token.clone(), body.clone()).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            recovery.elapsed() < Duration::from_secs(20),
            "the daemon recovers by itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..20 {
        assert_eq!(
            send(d.base.clone(), token.clone(), body.clone()).await.0,
            200,
            "recovered"
        );
    }
}
