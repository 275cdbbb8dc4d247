//! Strategy assignments per user and exchange, and the segregation audit.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::audit::{self, AuditEvent};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::{Exchange, StrategyId, UserId};
use crate::rules::strategy::StrategyResolution;

/// One assignment row, joined with the user's email.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub user_id: UserId,
    pub user_email: String,
    pub exchange: Exchange,
    pub strategy_id: StrategyId,
    pub enabled: bool,
    pub updated_at: DateTime<Utc>,
}

fn from_row(row: &tokio_postgres::Row) -> Result<Assignment, tokio_postgres::Error> {
    Ok(Assignment {
        user_id: row.try_get("user_id")?,
        user_email: row.try_get("email")?,
        exchange: row.try_get("exchange")?,
        strategy_id: row.try_get("strategy_id")?,
        enabled: row.try_get("enabled")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The strategy that applies to `user_id` on `exchange`.
pub async fn resolve(store: &Store, user_id: UserId, exchange: Exchange) -> Result<StrategyResolution, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached("SELECT strategy_id, enabled FROM strategy_assignments WHERE user_id = $1 AND exchange = $2")
        .await?;
    let assignment = match client.query_opt(&stmt, &[&user_id, &exchange]).await? {
        Some(row) => Some((
            row.try_get::<_, StrategyId>("strategy_id")?,
            row.try_get::<_, bool>("enabled")?,
        )),
        None => None,
    };
    Ok(StrategyResolution::resolve(assignment))
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
    Ok(client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_, _>>()?)
}

/// An admin's upsert of one user's strategy on one exchange.
#[derive(Debug, Clone)]
pub struct AssignStrategy {
    pub admin_id: UserId,
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
                    &cmd.exchange,
                    &cmd.strategy_id,
                    &cmd.enabled,
                    &cmd.admin_id,
                ],
            )
            .await?;
        let Some(assignment) = row.as_ref().map(from_row).transpose()? else {
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
pub fn blocked_event(user_id: UserId, action: &'static str, exchange: Exchange, route: &str) -> AuditEvent {
    AuditEvent::new(Some(user_id), action)
        .entity("exchange", exchange.as_str())
        .details(json!({ "exchange": exchange.as_str(), "route": route, "reason": "exchange_disabled" }))
}
