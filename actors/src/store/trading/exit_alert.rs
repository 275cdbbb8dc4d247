//! Exit-monitor alerts: once per position and reason, across restarts and daemons.

use rust_decimal::Decimal;
use serde_json::json;

use super::super::audit::{self, AuditEvent};
use super::super::{Transaction, TxFuture};
use crate::domain::{ExitReason, PositionId, Symbol, UserId};

const RECORD_EXIT_ALERT: &str = include_str!("sql/record_exit_alert.sql");
const STILL_OPEN: &str = "SELECT 1 FROM positions WHERE id = $1 AND status = 'OPEN'";

pub struct ExitAlert {
    pub user_id: UserId,
    pub position_id: PositionId,
    pub symbol: Symbol,
    pub price: Decimal,
    /// In the contract's order.
    pub reasons: Vec<ExitReason>,
}

/// What recording an alert found.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertOutcome {
    /// These reasons had not been alerted before; the audit event is written.
    Recorded(Vec<ExitReason>),
    /// Every reason was alerted already.
    AlreadyAlerted,
    /// The position is no longer open (closed by hand or by another daemon).
    NotOpen,
}

/// Records the reasons not alerted yet for a still-open position with its
/// `exit.monitor.triggered` audit event.
pub fn record_exit_alert<'a>(tx: &'a Transaction<'a>, a: &'a ExitAlert) -> TxFuture<'a, AlertOutcome> {
    Box::pin(async move {
        let stmt = tx.prepare_cached(RECORD_EXIT_ALERT).await?;
        let reasons: Vec<&str> = a.reasons.iter().map(ExitReason::as_str).collect();
        let inserted: Vec<ExitReason> = tx
            .query(&stmt, &[&a.position_id, &reasons])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        if inserted.is_empty() {
            let open = tx.prepare_cached(STILL_OPEN).await?;
            return Ok(if tx.query_opt(&open, &[&a.position_id]).await?.is_some() {
                AlertOutcome::AlreadyAlerted
            } else {
                AlertOutcome::NotOpen
            });
        }
        // Keep the contract's order of reasons.
        let new: Vec<ExitReason> = a.reasons.iter().copied().filter(|r| inserted.contains(r)).collect();
        let event = AuditEvent::new(Some(a.user_id), "exit.monitor.triggered")
            .entity("position", a.position_id)
            .details(json!({
                "position_id": a.position_id, "symbol": a.symbol, "price": a.price.normalize(), "reasons": new,
            }));
        audit::record(tx, &event).await?;
        Ok(AlertOutcome::Recorded(new))
    })
}
