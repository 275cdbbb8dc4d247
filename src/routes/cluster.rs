//! `GET /ops/cluster`: the daemons sharing the database, their heartbeats and what each watches.

use actix_web::{get, HttpResponse};
use serde_json::json;

use crate::auth::OperatorUser;
use crate::http::HttpResult;
use crate::state::Shared;

#[get("/ops/cluster")]
pub async fn cluster(state: Shared, _operator: OperatorUser) -> HttpResult<HttpResponse> {
    let nodes = actors::store::cluster::nodes(&state.store, state.cluster.lease()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "nodes": nodes,
        "answered_by": state.cluster.node_id(),
        "partitions": actors::cluster::PARTITIONS,
        "failover_seconds": state.settings.cluster_failover_secs,
    })))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(cluster);
}
