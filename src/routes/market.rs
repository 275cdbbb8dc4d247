//! `POST /ops/market/prices`: quotes pushed by an admin or a service user, for feeds the daemon
//! cannot poll. They go through the same hub as polled prices.

use std::collections::BTreeMap;

use actix_web::{post, HttpResponse};
use actors::domain::{normalize_symbol, Exchange, Price};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::auth::PriceFeedUser;
use crate::http::extract::Json;
use crate::http::{ApiError, HttpResult};
use crate::state::Shared;

/// Most quotes accepted in one request.
pub const MAX_PRICES: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct PushPrices {
    pub exchange: Exchange,
    pub prices: BTreeMap<String, serde_json::Value>,
}

/// Turns the body's map into normalised `(symbol, price)` pairs, or a 422 naming the bad entry.
pub fn parse_prices(prices: &BTreeMap<String, serde_json::Value>) -> Result<Vec<(String, Decimal)>, ApiError> {
    if prices.is_empty() {
        return Err(ApiError::invalid("body", "prices", "must contain at least one price"));
    }
    if prices.len() > MAX_PRICES {
        return Err(ApiError::invalid(
            "body",
            "prices",
            format!("at most {MAX_PRICES} prices per request"),
        ));
    }
    let mut parsed = BTreeMap::new();
    for (raw_symbol, value) in prices {
        let field = format!("prices.{raw_symbol}");
        let symbol = normalize_symbol(raw_symbol);
        if symbol.is_empty() || symbol.len() > 32 || !symbol.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            return Err(ApiError::invalid("body", &field, "symbol is not valid"));
        }
        let price = match value {
            serde_json::Value::Number(n) => actors::domain::decimal_from_text(&n.to_string()),
            _ => None,
        };
        let Some(price) = price else {
            return Err(ApiError::invalid("body", &field, "price must be a number"));
        };
        let price = Price::parse(price).map_err(|bounds| ApiError::invalid("body", &field, bounds.to_string()))?;
        parsed.insert(symbol, price.get());
    }
    Ok(parsed.into_iter().collect())
}

#[post("/ops/market/prices")]
pub async fn push_prices(state: Shared, _feed: PriceFeedUser, body: Json<PushPrices>) -> HttpResult<HttpResponse> {
    let Json(body) = body;
    let prices = parse_prices(&body.prices)?;
    let accepted = prices.len();
    ::metrics::counter!("market_prices_pushed_total", "exchange" => body.exchange.as_str()).increment(accepted as u64);
    let delivered = state.market.publish(body.exchange, prices);
    tracing::debug!(exchange = %body.exchange, accepted, delivered, "pushed prices published");
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "accepted": accepted })))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(push_prices);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<Vec<(String, Decimal)>, serde_json::Value> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_value(json).unwrap();
        parse_prices(&map).map_err(|e| match e {
            ApiError::Validation(issues) => serde_json::to_value(issues).unwrap(),
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn normalises_and_keeps_exact_decimals() {
        let got = parse(serde_json::json!({"BTCUSDT": 49000.5, "eth/usdt": 2500})).unwrap();
        assert_eq!(
            got,
            vec![
                ("BTCUSDT".to_string(), "49000.5".parse().unwrap()),
                ("ETHUSDT".to_string(), Decimal::from(2500)),
            ]
        );
    }

    #[test]
    fn refuses_bad_prices_naming_the_symbol() {
        for bad in [
            serde_json::json!({"BTCUSDT": 0}),
            serde_json::json!({"BTCUSDT": -1}),
            serde_json::json!({"BTCUSDT": "49000"}),
            serde_json::json!({"BTCUSDT": null}),
            serde_json::json!({"BTCUSDT": 10000000.01}),
            serde_json::json!({"BTCUSDT": "NaN"}),
        ] {
            let issues = parse(bad).unwrap_err();
            assert_eq!(issues[0]["loc"], serde_json::json!(["body", "prices", "BTCUSDT"]));
        }
        let issues = parse(serde_json::json!({})).unwrap_err();
        assert_eq!(issues[0]["loc"], serde_json::json!(["body", "prices"]));
        let issues = parse(serde_json::json!({"/": 1})).unwrap_err();
        assert_eq!(issues[0]["loc"], serde_json::json!(["body", "prices", "/"]));
    }
}
