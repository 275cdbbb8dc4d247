//! The risk snapshot a user is judged by: open positions, latest trade time, today's counters.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{Store, StoreError};
use crate::rules::risk::RiskSnapshot;

pub const SNAPSHOT_SQL: &str = "SELECT t.open_positions, t.last_trade_at, \
        COALESCE(r.trades_count, 0) AS trades_count, COALESCE(r.realized_pnl, 0) AS realized_pnl \
     FROM trading_state t LEFT JOIN risk_daily r ON r.user_id = t.user_id AND r.day = $2 \
     WHERE t.user_id = $1";

pub fn snapshot_from_row(row: Option<tokio_postgres::Row>) -> RiskSnapshot {
    match row {
        Some(row) => RiskSnapshot {
            open_positions: row.get("open_positions"),
            last_trade_at: row.get("last_trade_at"),
            trades_today: row.get("trades_count"),
            realized_pnl_today: row.get::<_, Decimal>("realized_pnl"),
        },
        None => RiskSnapshot::default(),
    }
}

/// The user's snapshot for risk day `day`, read from the read pool.
pub async fn snapshot(store: &Store, user_id: i64, day: NaiveDate) -> Result<RiskSnapshot, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(SNAPSHOT_SQL).await?;
    Ok(snapshot_from_row(client.query_opt(&stmt, &[&user_id, &day]).await?))
}

/// Everything a pre-trade check reads, in one round trip: the strategy assignment for the
/// exchange, whether its secret is configured, and the risk snapshot for `day`.
pub async fn pretrade_inputs(
    store: &Store,
    user_id: i64,
    exchange: crate::domain::Exchange,
    day: NaiveDate,
) -> Result<(crate::rules::strategy::StrategyResolution, bool, RiskSnapshot), StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(
            "SELECT a.strategy_id, a.enabled, \
                    EXISTS (SELECT 1 FROM exchange_secrets s WHERE s.user_id = $1 AND s.exchange = $2) AS secret_configured, \
                    COALESCE(t.open_positions, 0) AS open_positions, t.last_trade_at, \
                    COALESCE(r.trades_count, 0) AS trades_count, COALESCE(r.realized_pnl, 0) AS realized_pnl \
             FROM (SELECT 1) AS one \
             LEFT JOIN strategy_assignments a ON a.user_id = $1 AND a.exchange = $2 \
             LEFT JOIN trading_state t ON t.user_id = $1 \
             LEFT JOIN risk_daily r ON r.user_id = $1 AND r.day = $3",
        )
        .await?;
    let row = client.query_one(&stmt, &[&user_id, &exchange.as_str(), &day]).await?;
    let assignment = row
        .get::<_, Option<String>>("strategy_id")
        .and_then(|id| id.parse().ok())
        .map(|id| (id, row.get::<_, Option<bool>>("enabled").unwrap_or(true)));
    let secret_configured: bool = row.get("secret_configured");
    Ok((
        crate::rules::strategy::StrategyResolution::resolve(assignment),
        secret_configured,
        snapshot_from_row(Some(row)),
    ))
}
