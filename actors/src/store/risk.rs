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
