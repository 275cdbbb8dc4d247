//! Closing an open position.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use tokio_postgres::types::ToSql;

use super::super::cluster;
use super::super::{Transaction, TxFuture};
use super::{Locked, Traded};
use crate::domain::{ExitReason, PositionId, PositionStatus, UserId};
use crate::refusals::CloseRefused;
use crate::rules::risk;

const CLOSE_LOCKED_READ: &str = include_str!("sql/close_locked_read.sql");
const CLOSE_WITH_TERMS: &str = include_str!("sql/close_with_terms.sql");

pub struct CloseRequest {
    pub user_id: UserId,
    pub position_id: PositionId,
    pub exit_price: Decimal,
    pub fees: Decimal,
    /// Set by the exit monitor; None for a manual close.
    pub exit_reason: Option<ExitReason>,
    pub day: NaiveDate,
    pub now: DateTime<Utc>,
    /// The position's terms as the user actor holds them, when it holds the position.
    pub held: Option<HeldTerms>,
    /// Another daemon watches this user's positions: it is told in the same commit.
    pub watched_elsewhere: bool,
}

/// What a position was opened with; neither changes while it is open.
#[derive(Debug, Clone, Copy)]
pub struct HeldTerms {
    pub entry_price: Decimal,
    pub qty: Decimal,
}

/// Closes an OPEN position: PnL, the signal's completion, today's risk counters and the audit
/// event commit together or not at all, in one statement that only applies to the caller's
/// still-open position with these terms. When the actor holds the position, its terms are
/// tried first (one statement); otherwise, or when that finds nothing, a locked read learns the
/// terms — or why the position cannot be closed — and the write runs with them.
pub fn close_position<'a>(tx: &'a Transaction<'a>, r: &'a CloseRequest) -> TxFuture<'a, Result<Traded, CloseRefused>> {
    Box::pin(async move {
        let closed = close(tx, r).await?;
        cluster::tell_watcher(tx, r.user_id, r.watched_elsewhere && closed.is_ok()).await?;
        Ok(closed)
    })
}

fn close<'a>(tx: &'a Transaction<'a>, r: &'a CloseRequest) -> TxFuture<'a, Result<Traded, CloseRefused>> {
    Box::pin(async move {
        if let Some(held) = r.held {
            if let Some(closed) = close_with_terms(tx, r, held, Locked::No).await? {
                return Ok(Ok(closed));
            }
        }
        let read = tx.prepare_cached(CLOSE_LOCKED_READ).await?;
        let Some(position) = tx.query_opt(&read, &[&r.position_id]).await? else {
            return Ok(Err(CloseRefused::NotFound));
        };
        if position.try_get::<_, UserId>("user_id")? != r.user_id {
            return Ok(Err(CloseRefused::Foreign));
        }
        let status: PositionStatus = position.try_get("status")?;
        if status != PositionStatus::Open {
            return Ok(Err(CloseRefused::NotOpen(status)));
        }
        let terms = HeldTerms {
            entry_price: position.try_get("entry_price")?,
            qty: position.try_get("qty")?,
        };
        // Under `Locked::Yes` a missing row is already an error (`query_one`): `None` cannot come.
        let closed = close_with_terms(tx, r, terms, Locked::Yes).await?;
        Ok(closed.ok_or(CloseRefused::NotOpen(status)))
    })
}

/// The close's write, applied only if the position is the caller's, open, and has `terms`.
/// Under `Locked::Yes` it must apply: a missing row is an error, not an answer.
async fn close_with_terms(
    tx: &Transaction<'_>,
    r: &CloseRequest,
    terms: HeldTerms,
    locked: Locked,
) -> Result<Option<Traded>, tokio_postgres::Error> {
    let update = tx.prepare_cached(CLOSE_WITH_TERMS).await?;
    let pnl = risk::realized_pnl(terms.entry_price, r.exit_price, terms.qty, r.fees);
    let mut details =
        json!({ "realized_pnl": pnl.normalize(), "fees": r.fees.normalize(), "exit_price": r.exit_price.normalize() });
    if let Some(reason) = r.exit_reason {
        details["exit_reason"] = json!(reason);
    }
    let params: [&(dyn ToSql + Sync); 11] = [
        &r.position_id,
        &pnl,
        &r.fees,
        &r.exit_price,
        &r.exit_reason,
        &r.now,
        &r.user_id,
        &terms.entry_price,
        &terms.qty,
        &r.day,
        &details,
    ];
    let row = match locked {
        Locked::Yes => Some(tx.query_one(&update, &params).await?),
        Locked::No => tx.query_opt(&update, &params).await?,
    };
    row.as_ref().map(Traded::from_row).transpose()
}
