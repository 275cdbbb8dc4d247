//! Liveness and readiness.
//!
//! The database answer is a probe shared by every request: at most one `SELECT 1` is in flight,
//! and its result is reused for `DB_PROBE_FRESH`. A health route polled by load balancers and
//! monitors (tens of thousands of times a second under a load test) then costs no round trip to
//! Postgres, and an outage still shows within that interval.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{get, HttpResponse};
use serde_json::json;
use tokio::sync::Mutex;

use crate::state::Shared;

/// How long one probe's result answers for.
const DB_PROBE_FRESH: Duration = Duration::from_millis(250);
/// How long a probe may take before Postgres counts as down.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The latest database probe, shared by the health routes.
pub struct DbHealth {
    started: Instant,
    /// When the latest probe finished, in microseconds since `started`; 0 = never.
    probed_at_micros: AtomicU64,
    ok: AtomicBool,
    /// Held while a probe runs, so concurrent requests wait for that one instead of starting theirs.
    probing: Mutex<()>,
}

impl Default for DbHealth {
    fn default() -> Self {
        DbHealth {
            started: Instant::now(),
            probed_at_micros: AtomicU64::new(0),
            ok: AtomicBool::new(false),
            probing: Mutex::new(()),
        }
    }
}

impl DbHealth {
    fn fresh(&self) -> Option<bool> {
        let at = self.probed_at_micros.load(Ordering::Acquire);
        let age = (self.started.elapsed().as_micros() as u64).saturating_sub(at);
        (at != 0 && age < DB_PROBE_FRESH.as_micros() as u64).then(|| self.ok.load(Ordering::Acquire))
    }

    /// Whether Postgres answered a probe within the last `DB_PROBE_FRESH`, probing if needed.
    pub async fn is_ok(&self, store: &actors::store::Store) -> bool {
        if let Some(ok) = self.fresh() {
            return ok;
        }
        let _probing = self.probing.lock().await;
        if let Some(ok) = self.fresh() {
            return ok; // another request probed while this one waited
        }
        let check = async {
            let client = store.reader().await.ok()?;
            client.simple_query("SELECT 1").await.ok()
        };
        let ok = matches!(tokio::time::timeout(DB_PROBE_TIMEOUT, check).await, Ok(Some(_)));
        self.ok.store(ok, Ordering::Release);
        let now = (self.started.elapsed().as_micros() as u64).max(1);
        self.probed_at_micros.store(now, Ordering::Release);
        ok
    }
}

#[get("/healthz")]
pub async fn healthz(state: Shared) -> HttpResponse {
    if state.db_health.is_ok(&state.store).await {
        HttpResponse::Ok().json(json!({ "status": "ok", "db": "ok" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "degraded", "db": "down" }))
    }
}

#[get("/")]
pub async fn root() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "app": "crypto-saas", "docs": "/docs" }))
}

#[get("/ops/health")]
pub async fn ops_health(state: Shared) -> HttpResponse {
    let db = state.db_health.is_ok(&state.store).await;
    HttpResponse::Ok().json(json!({
        "system_state": if db { "OK" } else { "DEGRADED" },
        "db": if db { "ok" } else { "down" },
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(healthz).service(root).service(ops_health);
}
