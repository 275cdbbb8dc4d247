//! `GET /metrics` in the Prometheus text format.

use ::metrics::gauge;
use actix_web::{get, HttpResponse};

use crate::state::Shared;

#[get("/metrics")]
pub async fn metrics_page(state: Shared) -> HttpResponse {
    let Some(handle) = state.metrics.as_ref() else {
        return HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "detail": "metrics recorder not installed" }));
    };
    for (index, shard) in state.store.shard_stats().iter().enumerate() {
        let shard_label = index.to_string();
        gauge!("persistence_mailbox_depth", "shard" => shard_label.clone()).set(shard.queued() as f64);
        gauge!("persistence_mailbox_capacity", "shard" => shard_label.clone()).set(shard.capacity() as f64);
        gauge!("persistence_batches_total", "shard" => shard_label.clone()).set(shard.batches() as f64);
        gauge!("persistence_jobs_total", "shard" => shard_label.clone()).set(shard.jobs() as f64);
        gauge!("persistence_retried_batches_total", "shard" => shard_label).set(shard.retried_batches() as f64);
    }
    gauge!("user_actors_active").set(state.users.active() as f64);
    gauge!("user_actors_stopped_total").set(state.users.stopped() as f64);
    gauge!("user_actor_mailbox_depth_max").set(state.users.max_mailbox_depth() as f64);
    let pool = state.store.read_pool().status();
    gauge!("db_read_pool_size").set(pool.size as f64);
    gauge!("db_read_pool_available").set(pool.available as f64);
    gauge!("db_read_pool_waiting").set(pool.waiting as f64);
    gauge!("db_read_pool_max_size").set(pool.max_size as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(metrics_page);
}
