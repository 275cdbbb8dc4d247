//! Liveness and readiness.

use std::time::Duration;

use actix_web::{get, HttpResponse};
use serde_json::json;

use crate::state::Shared;

async fn db_ok(state: &Shared) -> bool {
    let check = async {
        let client = state.store.reader().await.ok()?;
        client.simple_query("SELECT 1").await.ok()
    };
    matches!(tokio::time::timeout(Duration::from_secs(2), check).await, Ok(Some(_)))
}

#[get("/healthz")]
pub async fn healthz(state: Shared) -> HttpResponse {
    if db_ok(&state).await {
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
    let db = db_ok(&state).await;
    HttpResponse::Ok().json(json!({
        "system_state": if db { "OK" } else { "DEGRADED" },
        "db": if db { "ok" } else { "down" },
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(healthz).service(root).service(ops_health);
}
