//! `/ops/execution`: pre-trade and exit checks, dry-run prepare, Binance and IBKR test orders.
//! Handlers parse, check segregation, call the pure rules or an ExchangeActor, and audit.

use actix_web::{post, web, HttpRequest, HttpResponse};
use actors::crypto::mask;
use actors::domain::{Exchange, Price, Quantity, Side, Symbol, Timeframe, UserId};
use actors::exchange::{signature_preview, OrderError, TestOrder};
use actors::notifier::Notification;
use actors::refusals::ExecutionRefused;
use actors::rules::risk::risk_day;
use actors::rules::strategy::{evaluate_exit, ExitInput, PretradeInput};
use actors::store::audit::AuditEvent;
use actors::store::risk::{PretradeOutcome, PretradeRequest};
use actors::store::secrets;
use chrono::Utc;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{AuthUser, TraderUser};
use crate::http::extract::{Json, RawJson};
use crate::http::idempotency::{run_once, IdempotencyHeader};
use crate::http::{ApiError, HttpResult};
use crate::routes::strategy::require_enabled;
use crate::routes::trading_control::require_trading;
use crate::state::Shared;

fn venue(path: &str) -> HttpResult<Exchange> {
    match path {
        "binance" => Ok(Exchange::Binance),
        "ibkr" => Ok(Exchange::Ibkr),
        _ => Err(ApiError::RouteNotFound),
    }
}

fn rr_default() -> Decimal {
    dec!(2.0)
}
fn trend_default() -> Timeframe {
    Timeframe::H4
}
fn signal_default() -> Timeframe {
    Timeframe::H1
}
fn timing_default() -> Timeframe {
    Timeframe::M15
}
fn spread_default() -> Decimal {
    dec!(5.0)
}
fn slippage_default() -> Decimal {
    dec!(10.0)
}
fn volume_default() -> Decimal {
    dec!(100000000.0)
}
fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
pub struct PretradeIn {
    symbol: Symbol,
    side: Side,
    qty: Quantity,
    #[serde(default = "rr_default")]
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    rr_estimate: Decimal,
    #[serde(default = "trend_default")]
    trend_tf: Timeframe,
    #[serde(default = "signal_default")]
    signal_tf: Timeframe,
    #[serde(default = "timing_default")]
    timing_tf: Timeframe,
    #[serde(default = "spread_default")]
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    spread_bps: Decimal,
    #[serde(default = "slippage_default")]
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    slippage_bps: Decimal,
    #[serde(default = "volume_default")]
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    volume_24h_usdt: Decimal,
    #[serde(default = "yes")]
    in_rth: bool,
    #[serde(default)]
    macro_event_block: bool,
    #[serde(default)]
    earnings_within_24h: bool,
}

#[post("/ops/execution/pretrade/{venue}/check")]
pub async fn pretrade(
    state: Shared,
    user: TraderUser,
    req: HttpRequest,
    key: IdempotencyHeader,
    path: web::Path<String>,
    body: RawJson<PretradeIn>,
) -> HttpResult<HttpResponse> {
    let exchange = venue(&path)?;
    let keyed = key.bind(&req, user.id, "/ops/execution/pretrade/{venue}/check", &body.raw);
    run_once(&state, keyed, pretrade_check(&state, &user, exchange, body.value)).await
}

async fn pretrade_check(
    state: &Shared,
    user: &AuthUser,
    exchange: Exchange,
    b: PretradeIn,
) -> HttpResult<HttpResponse> {
    require_trading(state, user.id, "pretrade.check", exchange).await?;
    let now = Utc::now();
    let profile = state.risk_profiles.resolve(user.id, &user.email).await?.profile;
    let profile_name = profile.profile_name.clone();
    let PretradeOutcome { strategy, decision } = state
        .store
        .pretrade_check(PretradeRequest {
            user_id: user.id,
            exchange,
            day: risk_day(now, state.settings.risk_timezone),
            now,
            input: PretradeInput {
                rr_estimate: b.rr_estimate,
                trend_tf: b.trend_tf,
                signal_tf: b.signal_tf,
                timing_tf: b.timing_tf,
                spread_bps: b.spread_bps,
                slippage_bps: b.slippage_bps,
                volume_24h_usdt: b.volume_24h_usdt,
                in_rth: b.in_rth,
                macro_event_block: b.macro_event_block,
                earnings_within_24h: b.earnings_within_24h,
            },
            profile,
            symbol: b.symbol.normalized(),
            side: b.side,
            qty: b.qty.get(),
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "passed": decision.passed,
        "exchange": exchange,
        "strategy_id": strategy.strategy_id,
        "strategy_source": strategy.source,
        "risk_profile": profile_name,
        "checks": decision.checks,
    })))
}

#[derive(Debug, Deserialize)]
pub struct ExitIn {
    symbol: Symbol,
    side: Side,
    entry_price: Price,
    current_price: Price,
    stop_loss: Price,
    take_profit: Price,
    #[serde(default)]
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    opened_minutes: Decimal,
    #[serde(default)]
    trend_break: bool,
    #[serde(default)]
    signal_reverse: bool,
    #[serde(default)]
    macro_event_block: bool,
    #[serde(default)]
    earnings_within_24h: bool,
}

#[post("/ops/execution/exit/{venue}/check")]
pub async fn exit_check(
    state: Shared,
    user: TraderUser,
    path: web::Path<String>,
    body: Json<ExitIn>,
) -> HttpResult<HttpResponse> {
    let exchange = venue(&path)?;
    let route = format!("/ops/execution/exit/{}/check", path.as_str());
    let strategy = require_enabled(&state, user.id, exchange, &route).await?;
    let b = body.0;
    let decision = evaluate_exit(
        strategy.strategy_id,
        exchange,
        &ExitInput {
            side: b.side,
            entry_price: b.entry_price.get(),
            current_price: b.current_price.get(),
            stop_loss: Some(b.stop_loss.get()),
            take_profit: Some(b.take_profit.get()),
            opened_minutes: b.opened_minutes,
            trend_break: b.trend_break,
            signal_reverse: b.signal_reverse,
            macro_event_block: b.macro_event_block,
            earnings_within_24h: b.earnings_within_24h,
        },
    );
    let reasons: Vec<&str> = decision.reasons.iter().map(|r| r.as_str()).collect();
    let action = if decision.should_exit {
        "exit.check.triggered"
    } else {
        "exit.check.hold"
    };
    state
        .store
        .audit(
            AuditEvent::new(Some(user.id), action)
                .entity("exit_check", exchange.as_str())
                .details(json!({
                    "exchange": exchange.as_str(),
                    "symbol": b.symbol.normalized(),
                    "side": b.side.as_str(),
                    "strategy_id": strategy.strategy_id.as_str(),
                    "reasons": reasons,
                })),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "should_exit": decision.should_exit,
        "exchange": exchange,
        "strategy_id": strategy.strategy_id,
        "strategy_source": strategy.source,
        "reasons": reasons,
        "checks": decision.checks,
    })))
}

#[derive(Debug, Deserialize)]
pub struct PrepareIn {
    exchange: Exchange,
    symbol: Symbol,
    side: Side,
    qty: Quantity,
}

#[post("/ops/execution/prepare")]
pub async fn prepare(
    state: Shared,
    user: TraderUser,
    req: HttpRequest,
    key: IdempotencyHeader,
    body: RawJson<PrepareIn>,
) -> HttpResult<HttpResponse> {
    let keyed = key.bind(&req, user.id, "/ops/execution/prepare", &body.raw);
    run_once(&state, keyed, prepare_dry_run(&state, user.id, body.value)).await
}

async fn prepare_dry_run(state: &Shared, user_id: UserId, b: PrepareIn) -> HttpResult<HttpResponse> {
    let exchange = b.exchange;
    require_trading(state, user_id, "execution.prepare", exchange).await?;
    let qty = b.qty.get();
    require_enabled(state, user_id, exchange, "/ops/execution/prepare").await?;
    let creds = secrets::load(&state.store, &state.keyring, user_id, exchange).await?;
    let symbol = b.symbol.upper();
    let preview = signature_preview(creds.api_secret.expose(), exchange, &symbol, b.side, qty);
    let masked = mask(creds.api_key.expose());
    state
        .store
        .audit(
            AuditEvent::new(Some(user_id), "execution.prepare")
                .entity("execution", exchange.as_str())
                .details(json!({
                    "exchange": exchange.as_str(),
                    "symbol": symbol,
                    "side": b.side.as_str(),
                    "qty": qty,
                    "mode": "dry_run",
                })),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "mode": "dry_run",
        "exchange": exchange,
        "symbol": symbol,
        "side": b.side,
        "qty": qty,
        "api_key_masked": masked,
        "signature_preview": preview,
    })))
}

#[derive(Debug, Deserialize)]
pub struct TestOrderIn {
    symbol: Symbol,
    side: Side,
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    qty: Decimal,
}

/// What both test-order routes check and read before calling their exchange: the strategy is
/// enabled there, the credentials exist, and the order is normalised.
async fn test_order_inputs(
    state: &Shared,
    user_id: UserId,
    exchange: Exchange,
    route: &str,
    body: TestOrderIn,
    client_order_id: Option<String>,
) -> HttpResult<(actors::crypto::Credentials, TestOrder)> {
    require_trading(state, user_id, "execution.test_order", exchange).await?;
    let qty = order_qty(exchange, body.qty)?;
    require_enabled(state, user_id, exchange, route).await?;
    let creds = secrets::load(&state.store, &state.keyring, user_id, exchange).await?;
    let order = TestOrder {
        symbol: body.symbol.upper(),
        side: body.side,
        qty,
        client_order_id,
    };
    Ok((creds, order))
}

/// A test order's quantity within the bounds of [`Quantity`] (422 naming `qty`). On IBKR a
/// quantity ≤ 0 keeps the contract's own refusal by the venue's validation (502 `IBKR test order
/// failed: qty must be greater than 0`), as the old service answered; above the maximum is a 422.
fn order_qty(exchange: Exchange, qty: Decimal) -> HttpResult<Decimal> {
    if exchange == Exchange::Ibkr && qty <= Decimal::ZERO {
        return Ok(qty);
    }
    Quantity::parse(qty)
        .map(Quantity::get)
        .map_err(|bounds| ApiError::invalid("body", "qty", bounds.to_string()))
}

/// Audits the outcome of a test order (details never hold credentials) and maps the failure.
async fn audit_order(
    state: &Shared,
    user_id: UserId,
    action: &'static str,
    order: &TestOrder,
    extra: serde_json::Value,
) -> HttpResult<()> {
    let mut details = json!({
        "symbol": order.symbol,
        "side": order.side.as_str(),
        "qty": order.qty,
    });
    if let (Some(map), Some(extra)) = (details.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    state
        .store
        .audit(
            AuditEvent::new(Some(user_id), action)
                .entity("test_order", order.symbol.clone())
                .details(details),
        )
        .await?;
    Ok(())
}

/// An order the upstream refused or that failed on the way: audit it, tell the team (the
/// reason is already free of secrets), answer 502. A busy or stopped exchange actor is a 503.
async fn order_failed(
    state: &Shared,
    user_id: UserId,
    exchange: Exchange,
    order: &TestOrder,
    err: OrderError,
) -> ApiError {
    if matches!(err, OrderError::Busy | OrderError::Stopped) {
        return ApiError::Unavailable;
    }
    let reason = err.to_string();
    let action = match exchange {
        Exchange::Binance => "execution.binance.test_order.error",
        Exchange::Ibkr => "execution.ibkr.test_order.error",
    };
    if let Err(e) = audit_order(state, user_id, action, order, json!({"error": reason})).await {
        return e;
    }
    state.notifier.send(Notification::UpstreamOrderError {
        user_id,
        exchange,
        symbol: order.symbol.clone(),
        error: reason.clone(),
    });
    ExecutionRefused::UpstreamFailed { exchange, reason }.into()
}

const BINANCE_TEST_ORDER: &str = "/ops/execution/binance/test-order";
const IBKR_TEST_ORDER: &str = "/ops/execution/ibkr/test-order";

/// With a key, Binance gets a `newClientOrderId` derived from it: the same key names the same order.
#[post("/ops/execution/binance/test-order")]
pub async fn binance_test_order(
    state: Shared,
    user: TraderUser,
    req: HttpRequest,
    key: IdempotencyHeader,
    body: RawJson<TestOrderIn>,
) -> HttpResult<HttpResponse> {
    let keyed = key.bind(&req, user.id, BINANCE_TEST_ORDER, &body.raw);
    let client_order_id = keyed.as_ref().map(|k| k.key.client_order_id(user.id));
    run_once(
        &state,
        keyed,
        send_binance_test_order(&state, user.id, body.value, client_order_id),
    )
    .await
}

async fn send_binance_test_order(
    state: &Shared,
    user_id: UserId,
    body: TestOrderIn,
    client_order_id: Option<String>,
) -> HttpResult<HttpResponse> {
    let exchange = Exchange::Binance;
    let (creds, order) = test_order_inputs(state, user_id, exchange, BINANCE_TEST_ORDER, body, client_order_id).await?;
    match state.exchanges.binance_test_order(creds, order.clone()).await {
        Ok(()) => {
            audit_order(
                state,
                user_id,
                "execution.binance.test_order.success",
                &order,
                json!({"mode": "testnet_order_test"}),
            )
            .await?;
            Ok(HttpResponse::Ok().json(json!({
                "exchange": "BINANCE",
                "mode": "testnet_order_test",
                "symbol": order.symbol,
                "side": order.side,
                "qty": order.qty,
                "sent": true,
            })))
        }
        Err(err) => Err(order_failed(state, user_id, exchange, &order, err).await),
    }
}

#[post("/ops/execution/ibkr/test-order")]
pub async fn ibkr_test_order(
    state: Shared,
    user: TraderUser,
    req: HttpRequest,
    key: IdempotencyHeader,
    body: RawJson<TestOrderIn>,
) -> HttpResult<HttpResponse> {
    let keyed = key.bind(&req, user.id, IBKR_TEST_ORDER, &body.raw);
    run_once(&state, keyed, send_ibkr_test_order(&state, user.id, body.value)).await
}

async fn send_ibkr_test_order(state: &Shared, user_id: UserId, body: TestOrderIn) -> HttpResult<HttpResponse> {
    let exchange = Exchange::Ibkr;
    let (creds, order) = test_order_inputs(state, user_id, exchange, IBKR_TEST_ORDER, body, None).await?;
    match state.exchanges.ibkr_test_order(creds, order.clone()).await {
        Ok(ack) => {
            audit_order(
                state,
                user_id,
                "execution.ibkr.test_order.success",
                &order,
                json!({"mode": ack.mode, "order_ref": ack.order_ref}),
            )
            .await?;
            Ok(HttpResponse::Ok().json(json!({
                "exchange": "IBKR",
                "mode": ack.mode,
                "symbol": order.symbol,
                "side": order.side,
                "qty": order.qty,
                "sent": true,
                "order_ref": ack.order_ref,
            })))
        }
        Err(err) => Err(order_failed(state, user_id, exchange, &order, err).await),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(pretrade)
        .service(exit_check)
        .service(prepare)
        .service(binance_test_order)
        .service(ibkr_test_order);
}
