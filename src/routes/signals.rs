//! `/signals`: create, list, claim. Mutations are messages to the caller's user actor.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::domain::{Exchange, NewSignal, Price, Signal, SignalId, SignalStatus, Symbol, UserId};
use actors::store::trading;
use actors::user_actor::{ClaimSignals, CreateSignal, TradingCommand};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthUser, TraderUser};
use crate::http::extract::{Query, RawJson};
use crate::http::idempotency::IdempotencyHeader;
use crate::http::page::{respond, ListQuery};
use crate::http::{ApiError, HttpResult};
use crate::routes::keyed;
use crate::state::Shared;

#[derive(Deserialize)]
struct CreateSignalIn {
    symbol: Symbol,
    module: String,
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    base_risk_percent: Decimal,
    entry_price: Price,
    stop_loss: Price,
    take_profit: Price,
    #[serde(default)]
    exchange: Option<Exchange>,
}

/// A signal as the contract shows it (SignalOut).
#[derive(Serialize)]
pub struct SignalOut {
    id: SignalId,
    user_id: UserId,
    symbol: String,
    module: String,
    base_risk_percent: Option<Decimal>,
    entry_price: Option<Decimal>,
    stop_loss: Option<Decimal>,
    take_profit: Option<Decimal>,
    status: SignalStatus,
    reason_codes: Option<String>,
    exchange: Exchange,
    created_at: DateTime<Utc>,
}

impl From<Signal> for SignalOut {
    fn from(s: Signal) -> Self {
        SignalOut {
            id: s.id,
            user_id: s.user_id,
            symbol: s.symbol.to_string(),
            module: s.module,
            base_risk_percent: s.base_risk_percent,
            entry_price: s.entry_price,
            stop_loss: s.stop_loss,
            take_profit: s.take_profit,
            status: s.status,
            reason_codes: s.reason_codes,
            exchange: s.exchange,
            created_at: s.created_at,
        }
    }
}

fn out(signals: Vec<Signal>) -> Vec<SignalOut> {
    signals.into_iter().map(SignalOut::from).collect()
}

/// Bounds that keep a signal meaningful; a breach is a 422 naming the field.
fn validate(body: CreateSignalIn, user_id: UserId) -> Result<NewSignal, ApiError> {
    let module = body.module.trim().to_string();
    if module.is_empty() || module.chars().count() > 64 {
        return Err(ApiError::invalid("body", "module", "module must be 1-64 characters"));
    }
    if body.base_risk_percent <= Decimal::ZERO || body.base_risk_percent > Decimal::ONE_HUNDRED {
        return Err(ApiError::invalid(
            "body",
            "base_risk_percent",
            "base_risk_percent must be greater than 0 and at most 100",
        ));
    }
    Ok(NewSignal {
        id: SignalId::new(),
        user_id,
        exchange: body.exchange.unwrap_or(Exchange::Binance),
        symbol: body.symbol,
        module,
        base_risk_percent: body.base_risk_percent,
        entry_price: body.entry_price.get(),
        stop_loss: body.stop_loss.get(),
        take_profit: body.take_profit.get(),
    })
}

#[post("/signals")]
async fn create(
    state: Shared,
    user: TraderUser,
    req: HttpRequest,
    key: IdempotencyHeader,
    body: RawJson<CreateSignalIn>,
) -> HttpResult<HttpResponse> {
    let signal = validate(body.value, user.id)?;
    if let Some(keyed) = key.bind(&req, user.id, "/signals", &body.raw) {
        return keyed::send(&state, keyed, TradingCommand::CreateSignal(CreateSignal(signal))).await;
    }
    let created = state.users.ask(user.id, CreateSignal(signal)).await??;
    Ok(HttpResponse::Ok().json(SignalOut::from(created)))
}

/// The caller's signals, newest first: the whole list, or a page of it (`limit`, `cursor`).
#[get("/signals")]
async fn list(state: Shared, user: AuthUser, req: HttpRequest, Query(q): Query<ListQuery>) -> HttpResult<HttpResponse> {
    let page = q.page::<SignalId>()?;
    let listed = trading::signals_page(&state.store, user.id, page).await?;
    Ok(respond(&req, &out(listed.items), &page, listed.next))
}

#[derive(Deserialize)]
struct ClaimQuery {
    limit: Option<i64>,
}

#[post("/signals/claim")]
async fn claim(
    state: Shared,
    user: TraderUser,
    req: HttpRequest,
    key: IdempotencyHeader,
    Query(query): Query<ClaimQuery>,
) -> HttpResult<HttpResponse> {
    let limit = query.limit.unwrap_or(10);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("query", "limit", "limit must be between 1 and 1000"));
    }
    if let Some(keyed) = key.bind(&req, user.id, "/signals/claim", b"") {
        return keyed::send(&state, keyed, TradingCommand::ClaimSignals(ClaimSignals { limit })).await;
    }
    let claimed = state.users.ask(user.id, ClaimSignals { limit }).await??;
    Ok(HttpResponse::Ok().json(out(claimed)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(claim);
}
