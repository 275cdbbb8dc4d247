//! SIGTERM drains: requests in flight are answered and committed, then the daemon exits cleanly.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_answers_in_flight_requests_then_exits_zero() {
    let db = TestDb::new();
    let mut d = Daemon::start(&db);
    let (_, t) = seed_trader(&db, "term@desk.io");
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (url, t) = (d.url("/signals"), t.clone());
        tasks.push(tokio::spawn(async move {
            // Keep sending until the daemon stops accepting; every answer must be a 200.
            let mut answered = 0;
            for i in 0.. {
                let sent = client()
                    .post(&url)
                    .bearer_auth(&t)
                    .json(&signal_body(&format!("S{worker}x{i}")))
                    .send()
                    .await;
                match sent {
                    Ok(resp) => {
                        assert_eq!(resp.status(), 200, "in-flight requests are served during shutdown");
                        answered += 1;
                    }
                    Err(_) => break,
                }
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill(Pid::from_raw(d.child.id() as i32), Signal::SIGTERM).unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the daemon exits after draining"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit: {status:?}");
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += task.await.unwrap();
    }
    let stored: usize = db.sql("SELECT count(*) FROM signals").parse().unwrap();
    assert!(acknowledged > 0);
    assert!(
        stored >= acknowledged,
        "every acknowledged signal is stored ({stored} < {acknowledged})"
    );
}
