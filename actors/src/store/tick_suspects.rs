//! The audit of ticks the tick-jump guard held: `market.tick.suspect`, once per market and hour
//! across every daemon sharing the database.
//!
//! Off the tick path: `MarketHub::publish` hands each report to `TickSuspects::report`, which
//! queues it (bounded; a full queue drops and counts) for one task that writes it. The write is
//! one autocommitted statement on a read-pool connection, not a shard job: it is rare (once per
//! market and hour per daemon), must never hold up trading writes, and its row lock on
//! `market_tick_suspects` never shares a transaction with the locks a close takes.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Store, StoreError};
use crate::market::{SuspectSink, SuspectTick};

/// The market's hour is recorded (unless another daemon did) and, only then, the audit event;
/// hours older than a day go, at most 100 rows per run.
const RECORD_SUSPECT: &str = "WITH first AS (
    INSERT INTO market_tick_suspects (exchange, symbol, hour) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING
    RETURNING 1
), old AS (
    DELETE FROM market_tick_suspects WHERE (exchange, symbol, hour) IN (
        SELECT exchange, symbol, hour FROM market_tick_suspects WHERE hour < $3::timestamptz - interval '1 day' LIMIT 100)
)
INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
SELECT NULL, 'market.tick.suspect', NULL, NULL, $4::jsonb::text FROM first";

/// Reports waiting to be written; beyond it they are dropped (and counted).
const QUEUE: usize = 256;

/// The hour a tick at `at` is reported in.
pub fn suspect_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::hours(1)).unwrap_or(at)
}

/// Records one held tick: true when this call wrote the audit event (the first report of that
/// market and hour), false when it was recorded already.
pub async fn record_tick_suspect(store: &Store, suspect: &SuspectTick) -> Result<bool, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(RECORD_SUSPECT).await?;
    let details = json!({
        "exchange": suspect.exchange,
        "symbol": &*suspect.symbol,
        "price": suspect.price.normalize(),
        "last_accepted_price": suspect.last_accepted_price.normalize(),
        "jump_pct": suspect.jump_pct.map(|p| p.normalize()),
    });
    let written = client
        .execute(
            &stmt,
            &[
                &suspect.exchange,
                &&*suspect.symbol,
                &suspect_hour(suspect.at),
                &details,
            ],
        )
        .await?;
    Ok(written == 1)
}

/// The `SuspectSink` of the daemon: a bounded queue in front of one writing task.
pub struct TickSuspects {
    queue: mpsc::Sender<SuspectTick>,
}

impl TickSuspects {
    /// Starts the writing task on the current runtime (the daemon's main one).
    pub fn start(store: Store) -> TickSuspects {
        let (queue, mut reports) = mpsc::channel::<SuspectTick>(QUEUE);
        tokio::spawn(async move {
            while let Some(suspect) = reports.recv().await {
                match record_tick_suspect(&store, &suspect).await {
                    Ok(true) => metrics::counter!("market_tick_suspects_audited_total").increment(1),
                    Ok(false) => {}
                    Err(err) => tracing::warn!(
                        exchange = %suspect.exchange, symbol = %suspect.symbol, error = %err,
                        "market.tick.suspect not recorded"
                    ),
                }
            }
        });
        TickSuspects { queue }
    }
}

impl SuspectSink for TickSuspects {
    fn report(&self, suspect: SuspectTick) {
        if self.queue.try_send(suspect).is_err() {
            metrics::counter!("market_tick_suspects_dropped_total").increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspect_counts_in_its_hour() {
        let at: DateTime<Utc> = "2026-12-03T00:59:59.999Z".parse().unwrap();
        assert_eq!(
            suspect_hour(at),
            "2026-12-03T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
