//! `/signals`: create, list, claim. Mutations are messages to the caller's user actor.

use actix_web::{get, post, web, HttpResponse};
use actors::domain::Exchange;
use actors::store::trading::{self, NewSignal};
use actors::user_actor::UserCommand;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::http::extract::{Json, Query};
use crate::http::{HttpError, HttpResult};
use crate::state::Shared;

#[derive(Deserialize)]
struct CreateSignal {
    symbol: String,
    module: String,
    base_risk_percent: Decimal,
    entry_price: Decimal,
    stop_loss: Decimal,
    take_profit: Decimal,
    #[serde(default)]
    exchange: Option<Exchange>,
}

/// Bounds that keep a signal meaningful; a breach is a 422 naming the field.
fn validate(body: CreateSignal, user_id: i64) -> Result<NewSignal, HttpError> {
    let symbol = body.symbol.trim().to_string();
    if symbol.is_empty()
        || symbol.len() > 32
        || !symbol.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
    {
        return Err(HttpError::invalid(
            "body",
            "symbol",
            "symbol must be 1-32 letters, digits or / - _ .",
        ));
    }
    let module = body.module.trim().to_string();
    if module.is_empty() || module.len() > 64 {
        return Err(HttpError::invalid("body", "module", "module must be 1-64 characters"));
    }
    if body.base_risk_percent <= Decimal::ZERO || body.base_risk_percent > Decimal::ONE_HUNDRED {
        return Err(HttpError::invalid(
            "body",
            "base_risk_percent",
            "base_risk_percent must be greater than 0 and at most 100",
        ));
    }
    for (field, value) in [
        ("entry_price", body.entry_price),
        ("stop_loss", body.stop_loss),
        ("take_profit", body.take_profit),
    ] {
        if value <= Decimal::ZERO {
            return Err(HttpError::invalid(
                "body",
                field,
                format!("{field} must be greater than 0"),
            ));
        }
    }
    Ok(NewSignal {
        user_id,
        exchange: body.exchange.unwrap_or(Exchange::Binance),
        symbol,
        module,
        base_risk_percent: body.base_risk_percent,
        entry_price: body.entry_price,
        stop_loss: body.stop_loss,
        take_profit: body.take_profit,
    })
}

#[post("/signals")]
async fn create(state: Shared, user: AuthUser, Json(body): Json<CreateSignal>) -> HttpResult<HttpResponse> {
    let signal = validate(body, user.id)?;
    let created = state
        .users
        .ask(user.id, |reply| UserCommand::CreateSignal { signal, reply })
        .await?;
    Ok(HttpResponse::Ok().json(created))
}

#[get("/signals")]
async fn list(state: Shared, user: AuthUser) -> HttpResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(trading::list_signals(&state.store, user.id).await?))
}

#[derive(Deserialize)]
struct ClaimQuery {
    limit: Option<i64>,
}

#[post("/signals/claim")]
async fn claim(state: Shared, user: AuthUser, Query(query): Query<ClaimQuery>) -> HttpResult<HttpResponse> {
    let limit = query.limit.unwrap_or(10);
    if !(1..=1000).contains(&limit) {
        return Err(HttpError::invalid("query", "limit", "limit must be between 1 and 1000"));
    }
    let claimed = state
        .users
        .ask(user.id, |reply| UserCommand::ClaimSignals { limit, reply })
        .await?;
    Ok(HttpResponse::Ok().json(claimed))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(claim);
}
