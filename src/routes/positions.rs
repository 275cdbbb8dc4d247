//! `/positions`: open from a signal, close, list, and today's risk.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::domain::{
    Exchange, ExitReason, Fees, Position, PositionId, PositionSide, PositionStatus, Price, Quantity, SignalId, UserId,
};
use actors::rules::risk;
use actors::store::trading;
use actors::user_actor::{ClosePosition, OpenPosition, TradingCommand};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{AuthUser, TraderUser};
use crate::http::extract::Query;
use crate::http::idempotency::IdempotencyHeader;
use crate::http::page::{respond, ListQuery};
use crate::http::HttpResult;
use crate::routes::keyed;
use crate::state::Shared;

/// A position as the contract shows it (PositionOut).
#[derive(Serialize)]
pub struct PositionOut {
    id: PositionId,
    user_id: UserId,
    signal_id: Option<SignalId>,
    exchange: Exchange,
    symbol: String,
    side: PositionSide,
    qty: Decimal,
    entry_price: Decimal,
    stop_loss: Option<Decimal>,
    take_profit: Option<Decimal>,
    status: PositionStatus,
    realized_pnl: Option<Decimal>,
    fees: Option<Decimal>,
    exit_price: Option<Decimal>,
    exit_reason: Option<ExitReason>,
    opened_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

impl From<Position> for PositionOut {
    fn from(p: Position) -> Self {
        PositionOut {
            id: p.id,
            user_id: p.user_id,
            signal_id: p.signal_id,
            exchange: p.exchange,
            symbol: p.symbol.to_string(),
            side: p.side,
            qty: p.qty,
            entry_price: p.entry_price,
            stop_loss: p.stop_loss,
            take_profit: p.take_profit,
            status: p.status,
            realized_pnl: p.realized_pnl,
            fees: p.fees,
            exit_price: p.exit_price,
            exit_reason: p.exit_reason,
            opened_at: p.opened_at,
            closed_at: p.closed_at,
        }
    }
}

#[derive(Deserialize)]
struct OpenQuery {
    signal_id: SignalId,
    qty: Quantity,
}

#[post("/positions/open_from_signal")]
async fn open_from_signal(
    state: Shared,
    user: TraderUser,
    req: HttpRequest,
    key: IdempotencyHeader,
    Query(q): Query<OpenQuery>,
) -> HttpResult<HttpResponse> {
    let command = OpenPosition {
        signal_id: q.signal_id,
        qty: q.qty.get(),
    };
    if let Some(keyed) = key.bind(&req, user.id, "/positions/open_from_signal", b"") {
        return keyed::send(&state, keyed, TradingCommand::OpenPosition(command)).await;
    }
    let position = state.users.ask(user.id, command).await??;
    Ok(HttpResponse::Ok().json(PositionOut::from(position)))
}

#[derive(Deserialize)]
struct CloseQuery {
    position_id: PositionId,
    exit_price: Price,
    fees: Option<Fees>,
}

#[post("/positions/close")]
async fn close(
    state: Shared,
    user: TraderUser,
    req: HttpRequest,
    key: IdempotencyHeader,
    Query(q): Query<CloseQuery>,
) -> HttpResult<HttpResponse> {
    let command = ClosePosition {
        position_id: q.position_id,
        exit_price: q.exit_price.get(),
        fees: q.fees.map_or(Decimal::ZERO, Fees::get),
    };
    if let Some(keyed) = key.bind(&req, user.id, "/positions/close", b"") {
        return keyed::send(&state, keyed, TradingCommand::ClosePosition(command)).await;
    }
    let position = state.users.ask(user.id, command).await??;
    Ok(HttpResponse::Ok().json(PositionOut::from(position)))
}

/// The caller's positions, newest first: the whole list, or a page of it (`limit`, `cursor`).
#[get("/positions")]
async fn list(state: Shared, user: AuthUser, req: HttpRequest, Query(q): Query<ListQuery>) -> HttpResult<HttpResponse> {
    let page = q.page::<PositionId>()?;
    let listed = trading::positions_page(&state.store, user.id, page).await?;
    let items: Vec<PositionOut> = listed.items.into_iter().map(PositionOut::from).collect();
    Ok(respond(&req, &items, &page, listed.next))
}

#[get("/positions/risk/today")]
async fn risk_today(state: Shared, user: AuthUser) -> HttpResult<HttpResponse> {
    let day = risk::risk_day(Utc::now(), state.settings.risk_timezone);
    let profile = state.risk_profiles.resolve(user.id, &user.email).await?.profile;
    let (snapshot, capital_base_usd) = actors::store::risk::snapshot(&state.store, user.id, day).await?;
    let daily_stop = profile.daily_stop();
    Ok(HttpResponse::Ok().json(json!({
        "user_id": user.id,
        "day": day.to_string(),
        "risk_profile": &profile.profile_name,
        "trades_today": snapshot.trades_today,
        "realized_pnl_today": snapshot.realized_pnl_today.normalize(),
        "daily_stop": daily_stop.normalize(),
        "max_trades": profile.max_trades_per_day,
        "max_open_positions": profile.max_open_positions,
        "cooldown_between_trades_minutes": profile.cooldown_between_trades_minutes,
        "remaining_trades": (profile.max_trades_per_day - snapshot.trades_today).max(0),
        "remaining_loss_buffer": (daily_stop - snapshot.realized_pnl_today).normalize(),
        "capital_base_usd": capital_base_usd.normalize(),
        "max_risk_per_trade_pct": profile.max_risk_per_trade_pct.normalize(),
        "max_risk_amount_usd": risk::max_risk_amount(&profile, capital_base_usd).normalize(),
    })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(open_from_signal)
        .service(close)
        .service(list)
        .service(risk_today);
}
