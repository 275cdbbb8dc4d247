//! The closed-loop driver: N clients, each sending its next request when the last one answered,
//! until the time is up or the request budget is spent.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, Response};

use crate::wire::{Request, Wire};

use crate::procfs::CpuPerOp;
use crate::stats::{micros, summarize, Summary};

/// One operation: given (client index, global sequence number), run it and return its outcome
/// key (`"200"`, `"404"`, `"transport"`, `"409 open"`…). The client index picks the client's
/// connection (`Wire::send`).
pub type Op = Arc<dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

/// What a measured phase produced.
pub struct Measured {
    pub summary: Summary,
    pub statuses: BTreeMap<String, u64>,
    /// Filled in by whoever can see the processes (the engine only drives requests).
    pub cpu_per_op: Option<CpuPerOp>,
}

/// Runs `op` from `clients` concurrent clients for at most `duration` and `max_ops` operations.
pub async fn run(clients: usize, duration: Duration, max_ops: u64, op: Op) -> Measured {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients.max(1) {
        let (next, op) = (next.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(4096);
            let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= max_ops {
                    break;
                }
                let began = Instant::now();
                let key = op(client, seq).await;
                samples.push(micros(began.elapsed()));
                *statuses.entry(key).or_default() += 1;
            }
            (samples, statuses, Instant::now())
        }));
    }
    let mut samples = Vec::new();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_done = start;
    for task in tasks {
        if let Ok((s, st, done)) = task.await {
            samples.extend(s);
            for (k, v) in st {
                *statuses.entry(k).or_default() += v;
            }
            last_done = last_done.max(done);
        }
    }
    let summary = summarize(&mut samples, last_done - start);
    Measured {
        summary,
        statuses,
        cpu_per_op: None,
    }
}

/// The outcome key of one request on client `slot`'s connection: its status code, or `transport`.
pub async fn outcome(wire: &Wire, slot: usize, request: &Request) -> String {
    match wire.send(slot, request).await {
        Ok(answer) => answer.status.to_string(),
        Err(_) => "transport".to_string(),
    }
}

/// The status and JSON body of a response (`None` for a body that is not JSON).
pub async fn json(req: RequestBuilder) -> Result<(u16, Option<serde_json::Value>), String> {
    let resp: Response = req.send().await.map_err(|_| "transport".to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|_| "transport".to_string())?;
    Ok((status, serde_json::from_slice(&bytes).ok()))
}

/// True when a 404 answer is the daemon's "no such route" (`{"detail":"Not Found"}`), not a
/// contract 404 such as `Signal not found`.
pub fn is_route_missing(status: u16, body: Option<&serde_json::Value>) -> bool {
    status == 404
        && body.is_none_or(|b| {
            b.get("detail")
                .and_then(|d| d.as_str())
                .is_none_or(|d| d == "Not Found")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn route_missing_is_only_the_generic_404() {
        assert!(is_route_missing(404, Some(&json!({"detail": "Not Found"}))));
        assert!(is_route_missing(404, None));
        assert!(!is_route_missing(404, Some(&json!({"detail": "Signal not found"}))));
        assert!(!is_route_missing(200, Some(&json!({"detail": "Not Found"}))));
    }

    #[tokio::test]
    async fn stops_at_the_operation_budget_and_counts_outcomes() {
        let op: Op = Arc::new(|_, seq| {
            Box::pin(async move {
                if seq % 4 == 0 {
                    "503".into()
                } else {
                    "200".into()
                }
            })
        });
        let m = run(3, Duration::from_secs(30), 100, op).await;
        assert_eq!(m.summary.requests, 100);
        assert_eq!(m.statuses["200"], 75);
        assert_eq!(m.statuses["503"], 25);
    }

    #[tokio::test]
    async fn stops_at_the_deadline() {
        let op: Op = Arc::new(|_, _| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                "200".to_string()
            })
        });
        let began = Instant::now();
        let m = run(2, Duration::from_millis(100), u64::MAX, op).await;
        assert!(began.elapsed() < Duration::from_secs(2));
        assert!(m.summary.requests > 0 && m.summary.requests <= 2 * 100 / 5 + 2);
    }
}
