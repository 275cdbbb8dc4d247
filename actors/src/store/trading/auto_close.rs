//! Automatic closes by the exit monitor, capped per minute across the cluster.
//!
//! The close takes one of the minute's slots (`exit_auto_close_minutes`, a conditional upsert)
//! in the same transaction as the close itself, so daemons sharing the database stay under the
//! cap together, and a close that does not happen (already closed, a failed batch) does not
//! consume a slot: a refusal gives it back in the transaction, an error rolls both back.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::json;

use super::super::audit::{self, AuditEvent};
use super::super::{Transaction, TxFuture};
use super::close::{close_position, CloseRequest};
use super::Traded;
use crate::domain::{ExitReason, Symbol};
use crate::refusals::CloseRefused;

const TAKE_SLOT: &str = include_str!("sql/take_auto_close_slot.sql");
const GIVE_BACK_SLOT: &str = include_str!("sql/give_back_auto_close_slot.sql");
const FORGET_MINUTES: &str = include_str!("sql/forget_auto_close_minutes.sql");

/// How long a minute's count is kept.
const KEEP_MINUTES: i64 = 60;

pub struct AutoCloseRequest {
    /// The close, with its `exit_reason`.
    pub close: CloseRequest,
    /// `EXIT_MAX_AUTO_CLOSES_PER_MINUTE`.
    pub cap: u32,
    /// What an `exit.monitor.throttled` audit says; None when it was written already for this
    /// position (the user actor writes it once per position).
    pub throttled_audit: Option<ThrottledAudit>,
}

/// The details of `exit.monitor.throttled` besides the position and the cap.
#[derive(Debug, Clone)]
pub struct ThrottledAudit {
    pub symbol: Symbol,
    pub reasons: Vec<ExitReason>,
}

/// What an automatic close did.
#[derive(Debug, Clone)]
pub enum AutoClosed {
    Closed(Box<Traded>),
    /// The minute's cap was reached: nothing changed (the audit aside).
    Throttled,
}

/// The minute a close at `now` counts in.
pub fn auto_close_minute(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(Duration::minutes(1)).unwrap_or(now)
}

/// Takes a slot of the close's minute and closes as `close_position` does; over the cap, only
/// writes the `exit.monitor.throttled` audit (when asked to).
pub fn auto_close_position<'a>(
    tx: &'a Transaction<'a>,
    r: &'a AutoCloseRequest,
) -> TxFuture<'a, Result<AutoClosed, CloseRefused>> {
    Box::pin(async move {
        let minute = auto_close_minute(r.close.now);
        let cap = i32::try_from(r.cap).unwrap_or(i32::MAX);
        let take = tx.prepare_cached(TAKE_SLOT).await?;
        let Some(slot) = tx.query_opt(&take, &[&minute, &cap]).await? else {
            if let Some(details) = &r.throttled_audit {
                let event = AuditEvent::new(Some(r.close.user_id), "exit.monitor.throttled")
                    .entity("position", r.close.position_id)
                    .details(json!({
                        "position_id": r.close.position_id,
                        "symbol": details.symbol,
                        "price": r.close.exit_price.normalize(),
                        "reasons": details.reasons,
                        "cap": r.cap,
                    }));
                audit::record(tx, &event).await?;
            }
            return Ok(Ok(AutoClosed::Throttled));
        };
        if slot.try_get::<_, i32>(0)? == 1 {
            // The minute's first close: forget old minutes (a bounded delete).
            let forget = tx.prepare_cached(FORGET_MINUTES).await?;
            tx.execute(&forget, &[&(minute - Duration::minutes(KEEP_MINUTES))])
                .await?;
        }
        match close_position(tx, &r.close).await? {
            Ok(traded) => Ok(Ok(AutoClosed::Closed(Box::new(traded)))),
            Err(refused) => {
                let give_back = tx.prepare_cached(GIVE_BACK_SLOT).await?;
                tx.execute(&give_back, &[&minute]).await?;
                Ok(Err(refused))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_counts_in_its_minute() {
        let at: DateTime<Utc> = "2026-12-03T00:41:59.999Z".parse().unwrap();
        assert_eq!(
            auto_close_minute(at),
            "2026-12-03T00:41:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let on: DateTime<Utc> = "2026-12-03T00:42:00Z".parse().unwrap();
        assert_eq!(auto_close_minute(on), on);
    }
}
