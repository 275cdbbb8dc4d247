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
    for i in 0..64 {
        let (url, t) = (d.url("/signals"), t.clone());
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(t)
                .json(&signal_body(&format!("S{i}")))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
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
        match task.await.unwrap() {
            Ok(200) => acknowledged += 1,
            Ok(other) => panic!("unexpected status {other}"),
            Err(_) => {} // not accepted before the listener closed
        }
    }
    let stored: usize = db.sql("SELECT count(*) FROM signals").parse().unwrap();
    assert!(acknowledged > 0);
    assert!(
        stored >= acknowledged,
        "every acknowledged signal is stored ({stored} < {acknowledged})"
    );
}
