//! The risk snapshot a user is judged by (open positions, latest trade time, today's counters),
//! and the pre-trade check that reads it.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use super::audit::{self, AuditEvent};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::{Exchange, Side, StrategyId, UserId};
use crate::rules::risk::{RiskProfile, RiskSnapshot};
use crate::rules::strategy::{evaluate_pretrade, PretradeContext, PretradeDecision, PretradeInput, StrategyResolution};

/// The user's risk snapshot for a risk day and capital base, read from the read pool (absent
/// rows count as zero; an absent user has the default capital base).
const SNAPSHOT_SQL: &str = "SELECT COALESCE(t.open_positions, 0) AS state_open_positions, \
     t.last_trade_at AS state_last_trade_at, COALESCE(d.trades_count, 0) AS state_trades_count, \
     COALESCE(d.realized_pnl, 0) AS state_realized_pnl, COALESCE(u.capital_base_usd, 10000) AS capital_base_usd \
     FROM (SELECT 1) AS one \
     LEFT JOIN users u ON u.id = $1 \
     LEFT JOIN trading_state t ON t.user_id = $1 \
     LEFT JOIN risk_daily d ON d.user_id = $1 AND d.day = $2";

/// The snapshot every statement that reads one returns, under the same four `state_` names
/// (kept apart from a position's own columns).
pub fn snapshot_from_row(row: &tokio_postgres::Row) -> Result<RiskSnapshot, tokio_postgres::Error> {
    Ok(RiskSnapshot {
        open_positions: row.try_get("state_open_positions")?,
        last_trade_at: row.try_get("state_last_trade_at")?,
        trades_today: row.try_get("state_trades_count")?,
        realized_pnl_today: row.try_get("state_realized_pnl")?,
    })
}

/// The user's snapshot for risk day `day` and capital base in USD, read from the read pool in
/// one statement.
pub async fn snapshot(store: &Store, user_id: UserId, day: NaiveDate) -> Result<(RiskSnapshot, Decimal), StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(SNAPSHOT_SQL).await?;
    let row = client.query_one(&stmt, &[&user_id, &day]).await?;
    Ok((snapshot_from_row(&row)?, row.try_get("capital_base_usd")?))
}

/// A pre-trade check as one queued write: the shard reads the user's inputs inside its
/// transaction (pipelined with the other users' jobs of the batch), the pure rules decide, and
/// the audit event is recorded in the same transaction. One job per check, no read-pool round
/// trip: the check's cost is one statement pair in a group commit.
pub struct PretradeRequest {
    pub user_id: UserId,
    pub exchange: Exchange,
    /// The risk day the snapshot is read for.
    pub day: NaiveDate,
    pub now: DateTime<Utc>,
    pub input: PretradeInput,
    pub profile: std::sync::Arc<RiskProfile>,
    /// The order being checked, as the audit event records it (symbol normalised).
    pub symbol: String,
    pub side: Side,
    pub qty: Decimal,
}

/// What a pre-trade check answers with.
pub struct PretradeOutcome {
    pub strategy: StrategyResolution,
    pub decision: PretradeDecision,
}

/// The audit action of a passed / refused pre-trade check.
pub const PRETRADE_PASSED_ACTION: &str = "pretrade.check.passed";
pub const PRETRADE_BLOCKED_ACTION: &str = "pretrade.check.blocked";

/// The pre-trade check's inputs: the assignment, whether the secret exists, the risk snapshot.
const PRETRADE_INPUTS_SQL: &str = "SELECT a.strategy_id, a.enabled, \
     EXISTS (SELECT 1 FROM exchange_secrets s WHERE s.user_id = $1 AND s.exchange = $2) AS secret_configured, \
     COALESCE(t.open_positions, 0) AS state_open_positions, t.last_trade_at AS state_last_trade_at, \
     COALESCE(d.trades_count, 0) AS state_trades_count, COALESCE(d.realized_pnl, 0) AS state_realized_pnl \
     FROM (SELECT 1) AS one \
     LEFT JOIN strategy_assignments a ON a.user_id = $1 AND a.exchange = $2 \
     LEFT JOIN trading_state t ON t.user_id = $1 \
     LEFT JOIN risk_daily d ON d.user_id = $1 AND d.day = $3";

/// The job run by the shard: read the strategy assignment, whether the exchange secret is
/// configured and the risk snapshot in one statement, evaluate, record the audit event.
pub fn pretrade_check<'a>(tx: &'a Transaction<'a>, req: &'a PretradeRequest) -> TxFuture<'a, PretradeOutcome> {
    Box::pin(async move {
        let stmt = tx.prepare_cached(PRETRADE_INPUTS_SQL).await?;
        let row = tx.query_one(&stmt, &[&req.user_id, &req.exchange, &req.day]).await?;
        let assignment = match row.try_get::<_, Option<StrategyId>>("strategy_id")? {
            Some(strategy) => Some((strategy, row.try_get::<_, bool>("enabled")?)),
            None => None,
        };
        let strategy = StrategyResolution::resolve(assignment);
        let secret_configured: bool = row.try_get("secret_configured")?;
        let snapshot = snapshot_from_row(&row)?;
        let decision = evaluate_pretrade(
            &req.input,
            &PretradeContext {
                exchange: req.exchange,
                strategy,
                secret_configured,
                profile: &req.profile,
                snapshot: &snapshot,
                now: req.now,
            },
        );
        let failed: Vec<&str> = decision.checks.iter().filter(|c| !c.passed).map(|c| c.name).collect();
        let action = if decision.passed {
            PRETRADE_PASSED_ACTION
        } else {
            PRETRADE_BLOCKED_ACTION
        };
        let event = AuditEvent::new(Some(req.user_id), action)
            .entity("pretrade", req.exchange.as_str())
            .details(json!({
                "exchange": req.exchange.as_str(),
                "symbol": req.symbol,
                "side": req.side.as_str(),
                "qty": req.qty,
                "strategy_id": strategy.strategy_id.as_str(),
                "failed_checks": failed,
            }));
        audit::record(tx, &event).await?;
        Ok(PretradeOutcome { strategy, decision })
    })
}

impl Store {
    /// Runs a pre-trade check on the user's shard; answers after its audit event is committed.
    pub async fn pretrade_check(&self, request: PretradeRequest) -> Result<PretradeOutcome, StoreError> {
        self.write(request.user_id.into(), None, request, pretrade_check).await
    }
}
