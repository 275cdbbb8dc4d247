//! Strategy assignments per user and exchange, and the segregation audit.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::audit::{self, AuditEvent};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::{Exchange, StrategyId};
use crate::rules::strategy::StrategyResolution;

/// One assignment row, joined with the user's email.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub user_id: i64,
    pub user_email: String,
    pub exchange: Exchange,
    pub strategy_id: StrategyId,
    pub enabled: bool,
    pub updated_at: DateTime<Utc>,
}

fn from_row(row: &tokio_postgres::Row) -> Option<Assignment> {
    Some(Assignment {
        user_id: row.get("user_id"),
        user_email: row.get("email"),
        exchange: row.get::<_, String>("exchange").parse().ok()?,
        strategy_id: row.get::<_, String>("strategy_id").parse().ok()?,
        enabled: row.get("enabled"),
        updated_at: row.get("updated_at"),
    })
}

/// The strategy that applies to `user_id` on `exchange`.
pub async fn resolve(store: &Store, user_id: i64, exchange: Exchange) -> Result<StrategyResolution, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached("SELECT strategy_id, enabled FROM strategy_assignments WHERE user_id = $1 AND exchange = $2")
        .await?;
    let row = client.query_opt(&stmt, &[&user_id, &exchange.as_str()]).await?;
    Ok(StrategyResolution::resolve(row.and_then(|r| {
        let strategy: StrategyId = r.get::<_, String>("strategy_id").parse().ok()?;
        Some((strategy, r.get::<_, bool>("enabled")))
    })))
}

/// Every assignment, by email then exchange.
pub async fn list(store: &Store) -> Result<Vec<Assignment>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(
            "SELECT a.user_id, u.email, a.exchange, a.strategy_id, a.enabled, a.updated_at \
             FROM strategy_assignments a JOIN users u ON u.id = a.user_id \
             ORDER BY lower(u.email), a.exchange",
        )
        .await?;
    Ok(client.query(&stmt, &[]).await?.iter().filter_map(from_row).collect())
}

/// An admin's upsert of one user's strategy on one exchange.
#[derive(Debug, Clone)]
pub struct AssignStrategy {
    pub admin_id: i64,
    pub user_email: String,
    pub exchange: Exchange,
    pub strategy_id: StrategyId,
    pub enabled: bool,
}

/// Upserts the assignment and audits `strategy.assignment.updated`; `None` when no such user.
pub fn assign<'a>(tx: &'a Transaction<'a>, cmd: &'a AssignStrategy) -> TxFuture<'a, Option<Assignment>> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(
                "WITH target AS (SELECT id, email FROM users WHERE lower(email) = lower($1) ORDER BY id LIMIT 1) \
                 INSERT INTO strategy_assignments (user_id, exchange, strategy_id, enabled, updated_by, updated_at) \
                 SELECT id, $2, $3, $4, $5, now() FROM target \
                 ON CONFLICT (user_id, exchange) DO UPDATE SET strategy_id = EXCLUDED.strategy_id, \
                   enabled = EXCLUDED.enabled, updated_by = EXCLUDED.updated_by, updated_at = now() \
                 RETURNING user_id, (SELECT email FROM target) AS email, exchange, strategy_id, enabled, updated_at",
            )
            .await?;
        let row = tx
            .query_opt(
                &stmt,
                &[
                    &cmd.user_email,
                    &cmd.exchange.as_str(),
                    &cmd.strategy_id.as_str(),
                    &cmd.enabled,
                    &cmd.admin_id,
                ],
            )
            .await?;
        let Some(assignment) = row.as_ref().and_then(from_row) else {
            return Ok(None);
        };
        let event = AuditEvent::new(Some(cmd.admin_id), "strategy.assignment.updated")
            .entity(
                "strategy_assignment",
                format!("{}:{}", assignment.user_id, assignment.exchange),
            )
            .details(json!({
                "target_user_id": assignment.user_id,
                "target_email": assignment.user_email,
                "exchange": assignment.exchange.as_str(),
                "strategy_id": assignment.strategy_id.as_str(),
                "enabled": assignment.enabled,
            }));
        audit::record(tx, &event).await?;
        Ok(Some(assignment))
    })
}

/// The audit event of a request refused because the exchange is disabled for the caller.
pub fn blocked_event(user_id: i64, action: &'static str, exchange: Exchange, route: &str) -> AuditEvent {
    AuditEvent::new(Some(user_id), action)
        .entity("exchange", exchange.as_str())
        .details(json!({ "exchange": exchange.as_str(), "route": route, "reason": "exchange_disabled" }))
}
