//! `/positions`: open from a signal, close, list, and today's risk.

use actix_web::{get, post, web, HttpResponse};
use actors::rules::risk;
use actors::store::trading;
use actors::user_actor::UserCommand;
use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use crate::auth::AuthUser;
use crate::http::extract::Query;
use crate::http::{HttpError, HttpResult};
use crate::state::Shared;

#[derive(Deserialize)]
struct OpenQuery {
    signal_id: i64,
    qty: Decimal,
}

#[post("/positions/open_from_signal")]
async fn open_from_signal(state: Shared, user: AuthUser, Query(q): Query<OpenQuery>) -> HttpResult<HttpResponse> {
    if q.qty <= Decimal::ZERO {
        return Err(HttpError::invalid("query", "qty", "qty must be greater than 0"));
    }
    let (signal_id, qty) = (q.signal_id, q.qty);
    let position = state
        .users
        .ask(user.id, |reply| UserCommand::OpenPosition { signal_id, qty, reply })
        .await?;
    Ok(HttpResponse::Ok().json(position))
}

#[derive(Deserialize)]
struct CloseQuery {
    position_id: i64,
    exit_price: Decimal,
    fees: Option<Decimal>,
}

#[post("/positions/close")]
async fn close(state: Shared, user: AuthUser, Query(q): Query<CloseQuery>) -> HttpResult<HttpResponse> {
    if q.exit_price <= Decimal::ZERO {
        return Err(HttpError::invalid(
            "query",
            "exit_price",
            "exit_price must be greater than 0",
        ));
    }
    let fees = q.fees.unwrap_or(Decimal::ZERO);
    if fees < Decimal::ZERO {
        return Err(HttpError::invalid("query", "fees", "fees must not be negative"));
    }
    let (position_id, exit_price) = (q.position_id, q.exit_price);
    let position = state
        .users
        .ask(user.id, |reply| UserCommand::ClosePosition {
            position_id,
            exit_price,
            fees,
            reply,
        })
        .await?;
    Ok(HttpResponse::Ok().json(position))
}

#[get("/positions")]
async fn list(state: Shared, user: AuthUser) -> HttpResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(trading::list_positions(&state.store, user.id).await?))
}

#[get("/positions/risk/today")]
async fn risk_today(state: Shared, user: AuthUser) -> HttpResult<HttpResponse> {
    let day = risk::risk_day(Utc::now(), state.settings.risk_timezone);
    let profile = state.settings.profile_selector().for_email(&user.email);
    let snapshot = actors::store::risk::snapshot(&state.store, user.id, day).await?;
    let daily_stop = profile.daily_stop();
    Ok(HttpResponse::Ok().json(json!({
        "user_id": user.id,
        "day": day.to_string(),
        "risk_profile": profile.profile_name,
        "trades_today": snapshot.trades_today,
        "realized_pnl_today": snapshot.realized_pnl_today.normalize(),
        "daily_stop": daily_stop.normalize(),
        "max_trades": profile.max_trades_per_day,
        "max_open_positions": profile.max_open_positions,
        "cooldown_between_trades_minutes": profile.cooldown_between_trades_minutes,
        "remaining_trades": (profile.max_trades_per_day - snapshot.trades_today).max(0),
        "remaining_loss_buffer": (daily_stop - snapshot.realized_pnl_today).normalize(),
    })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(open_from_signal)
        .service(close)
        .service(list)
        .service(risk_today);
}
