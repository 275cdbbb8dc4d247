//! `/ops/strategy`: strategy assignment per user and exchange, and the segregation guard the
//! execution routes share.

use actix_web::{get, post, web, HttpResponse};
use actors::domain::{Exchange, StrategyId, UserId};
use actors::refusals::ExecutionRefused;
use actors::rules::strategy::StrategyResolution;
use actors::store::strategy::{self as store, AssignStrategy, Assignment};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{AccountRefused, AdminUser, OperatorUser};
use crate::http::extract::Json;
use crate::http::HttpResult;
use crate::state::Shared;

#[derive(Debug, Deserialize)]
pub struct AssignIn {
    user_email: String,
    exchange: Exchange,
    strategy_id: StrategyId,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

fn out(a: &Assignment) -> Value {
    json!({
        "user_id": a.user_id,
        "user_email": a.user_email,
        "exchange": a.exchange,
        "strategy_id": a.strategy_id,
        "enabled": a.enabled,
    })
}

#[post("/ops/strategy/assign")]
pub async fn assign(state: Shared, admin: AdminUser, body: Json<AssignIn>) -> HttpResult<HttpResponse> {
    let body = body.0;
    let cmd = AssignStrategy {
        admin_id: admin.0.id,
        user_email: body.user_email.trim().to_string(),
        exchange: body.exchange,
        strategy_id: body.strategy_id,
        enabled: body.enabled,
    };
    let assignment = state
        .store
        .write(admin.0.id.into(), None, cmd, store::assign)
        .await?
        .ok_or(AccountRefused::UserNotFound)?;
    // The exit monitor judges the user's positions by the new strategy from the next tick.
    state.cluster.user_changed(assignment.user_id);
    Ok(HttpResponse::Ok().json(out(&assignment)))
}

#[get("/ops/strategy/assignments")]
pub async fn assignments(state: Shared, _operator: OperatorUser) -> HttpResult<HttpResponse> {
    let rows = store::list(&state.store).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(out).collect::<Vec<_>>()))
}

/// The caller's strategy on `exchange`; when the exchange is disabled for them, audits
/// `execution.blocked.exchange_disabled` and answers 403 `Exchange <EX> is disabled for this user`.
pub async fn require_enabled(
    state: &Shared,
    user_id: UserId,
    exchange: Exchange,
    route: &str,
) -> HttpResult<StrategyResolution> {
    let resolution = store::resolve(&state.store, user_id, exchange).await?;
    if !resolution.enabled {
        state
            .store
            .audit(store::blocked_event(
                user_id,
                "execution.blocked.exchange_disabled",
                exchange,
                route,
            ))
            .await?;
        return Err(ExecutionRefused::ExchangeDisabled(exchange).into());
    }
    Ok(resolution)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assign).service(assignments);
}
