//! The per-user daily summary the notifier sends at the end of each risk day: one set-based
//! query over risk_daily, trading_state, positions and users.

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::{Store, StoreError};
use crate::domain::UserId;

/// One user's day.
#[derive(Debug, Clone, PartialEq)]
pub struct DailySummaryRow {
    pub user_id: UserId,
    pub email: String,
    pub day: NaiveDate,
    /// Closed trades counted in the day's risk row.
    pub trades: i32,
    pub realized_pnl: Decimal,
    pub blocked_opens: i32,
    /// Positions open now (at the end of the day).
    pub open_positions: i32,
    /// Positions opened during the day (by the zone's calendar).
    pub opened_positions: i64,
}

/// Users with activity on `day` (a trade, a blocked open, realized PnL, or a position opened
/// that day in `zone`), by email.
pub const DAILY_SUMMARY_SQL: &str = "\
WITH opened AS (
    SELECT user_id, count(*) AS opened
    FROM positions
    WHERE opened_at >= ($1::date)::timestamp AT TIME ZONE $2
      AND opened_at < ($1::date + 1)::timestamp AT TIME ZONE $2
    GROUP BY user_id
)
SELECT u.id, u.email,
       COALESCE(r.trades_count, 0) AS trades,
       COALESCE(r.realized_pnl, 0) AS realized_pnl,
       COALESCE(r.blocked_opens, 0) AS blocked_opens,
       COALESCE(t.open_positions, 0) AS open_positions,
       COALESCE(o.opened, 0) AS opened_positions
FROM users u
LEFT JOIN risk_daily r ON r.user_id = u.id AND r.day = $1
LEFT JOIN trading_state t ON t.user_id = u.id
LEFT JOIN opened o ON o.user_id = u.id
WHERE COALESCE(r.trades_count, 0) > 0
   OR COALESCE(r.blocked_opens, 0) > 0
   OR COALESCE(r.realized_pnl, 0) <> 0
   OR COALESCE(o.opened, 0) > 0
ORDER BY lower(u.email), u.id";

pub async fn daily_summaries(store: &Store, day: NaiveDate, zone: Tz) -> Result<Vec<DailySummaryRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(DAILY_SUMMARY_SQL).await?;
    let zone_name = zone.name();
    let rows = client.query(&stmt, &[&day, &zone_name]).await?;
    let summary = |row: &tokio_postgres::Row| -> Result<DailySummaryRow, tokio_postgres::Error> {
        Ok(DailySummaryRow {
            user_id: row.try_get("id")?,
            email: row.try_get("email")?,
            day,
            trades: row.try_get("trades")?,
            realized_pnl: row.try_get("realized_pnl")?,
            blocked_opens: row.try_get("blocked_opens")?,
            open_positions: row.try_get("open_positions")?,
            opened_positions: row.try_get("opened_positions")?,
        })
    };
    Ok(rows.iter().map(summary).collect::<Result<_, _>>()?)
}
