//! Opening a position from an EXECUTING signal.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use tokio_postgres::types::ToSql;

use super::super::audit::{self, AuditEvent};
use super::super::cluster;
use super::super::{Transaction, TxFuture};
use super::{Locked, Traded};
use crate::domain::{PositionId, SignalId, SignalStatus, UserId};
use crate::refusals::OpenRefused;
use crate::rules::risk::{self, ExposureCaps, RiskProfile, RiskSnapshot, TradeInput};
use crate::rules::trading_control::TradingBlocked;

const OPEN_LOCKED_READ: &str = include_str!("sql/open_locked_read.sql");
const OPEN_BLOCKED: &str = include_str!("sql/open_blocked.sql");
const OPEN_IF_SNAPSHOT: &str = include_str!("sql/open_if_snapshot.sql");

pub struct OpenRequest {
    pub user_id: UserId,
    pub signal_id: SignalId,
    /// The id the new position gets.
    pub position_id: PositionId,
    pub qty: Decimal,
    pub profile: std::sync::Arc<RiskProfile>,
    /// The exposure caps of the configuration.
    pub caps: ExposureCaps,
    pub day: NaiveDate,
    pub now: DateTime<Utc>,
    /// The user's risk snapshot for `day` as the user actor last saw it, when it has one.
    pub expected: Option<RiskSnapshot>,
    /// The operator's switch that refuses new exposure now, if one does. It is judged after the
    /// signal's own checks (a missing signal is still 404), before the risk limits.
    pub trading_blocked: Option<TradingBlocked>,
    /// Another daemon watches this user's positions: it is told in the same commit.
    pub watched_elsewhere: bool,
}

/// Opens a position from an EXECUTING signal, or records why not. The batch holds the user's
/// `trading_state` row lock, so the risk snapshot and the open positions cannot change under us.
/// When the actor offers the snapshot it expects and the rules pass on it, one statement opens
/// the position if the database agrees and the per-trade checks pass on the signal, the capital
/// base and the open positions it reads (a guard written as `check_trade`); otherwise (or when
/// that statement finds it does not) a read locks the signal and learns the snapshot and the
/// per-trade inputs — or why the signal cannot be opened — the rules judge, and the same write
/// follows unguarded. A refusal by the per-trade checks thus costs the read after the guarded
/// write; an open that passes stays one statement.
pub fn open_from_signal<'a>(tx: &'a Transaction<'a>, r: &'a OpenRequest) -> TxFuture<'a, Result<Traded, OpenRefused>> {
    Box::pin(async move {
        let opened = open(tx, r).await?;
        cluster::tell_watcher(tx, r.user_id, r.watched_elsewhere && opened.is_ok()).await?;
        Ok(opened)
    })
}

fn open<'a>(tx: &'a Transaction<'a>, r: &'a OpenRequest) -> TxFuture<'a, Result<Traded, OpenRefused>> {
    Box::pin(async move {
        if let (Some(expected), None) = (&r.expected, r.trading_blocked) {
            if risk::check_open(&r.profile, expected, r.now).is_ok() {
                if let Some(opened) = open_if_snapshot(tx, r, expected, Locked::No).await? {
                    return Ok(Ok(opened));
                }
            }
        }
        let read = tx.prepare_cached(OPEN_LOCKED_READ).await?;
        let Some(signal) = tx.query_opt(&read, &[&r.signal_id, &r.user_id, &r.day]).await? else {
            return Ok(Err(OpenRefused::NotFound));
        };
        if signal.try_get::<_, UserId>("user_id")? != r.user_id {
            return Ok(Err(OpenRefused::Foreign));
        }
        let status: SignalStatus = signal.try_get("status")?;
        if status != SignalStatus::Executing {
            return Ok(Err(OpenRefused::NotExecuting(status)));
        }
        if signal.try_get::<_, Option<Decimal>>("entry_price")?.is_none() {
            return Ok(Err(OpenRefused::MissingEntryPrice));
        }
        if let Some(blocked) = r.trading_blocked {
            let event = AuditEvent::new(Some(r.user_id), "execution.blocked.kill_switch")
                .entity("signal", r.signal_id)
                .details(json!({
                    "action": "position.open",
                    "scope": blocked.scope(),
                    "state": blocked.state(),
                    "signal_id": r.signal_id,
                }));
            audit::record(tx, &event).await?;
            return Ok(Err(OpenRefused::Trading(blocked)));
        }
        let snapshot = super::super::risk::snapshot_from_row(&signal)?;
        let trade = TradeInput {
            entry_price: signal.try_get("entry_price")?,
            stop_loss: signal.try_get("stop_loss")?,
            qty: r.qty,
            capital_base_usd: signal.try_get("capital_base_usd")?,
            open_symbol_qty: signal.try_get("open_symbol_qty")?,
            open_exchange_notional: signal.try_get("open_exchange_notional")?,
        };
        let judged = risk::check_open(&r.profile, &snapshot, r.now)
            .and_then(|()| risk::check_trade(&r.profile, &r.caps, &trade));
        if let Err(block) = judged {
            let mut details = block.audit_details();
            details.insert("signal_id".into(), json!(r.signal_id));
            details.insert("reason".into(), json!(block.to_string()));
            let details = serde_json::Value::Object(details);
            let blocked = tx.prepare_cached(OPEN_BLOCKED).await?;
            let entity_id = r.signal_id.to_string();
            tx.execute(
                &blocked,
                &[&r.user_id, &r.day, &block.audit_action(), &entity_id, &details],
            )
            .await?;
            return Ok(Err(OpenRefused::Risk(block)));
        }
        // Under `Locked::Yes` a missing row is already an error (`query_one`): `None` cannot come.
        let opened = open_if_snapshot(tx, r, &snapshot, Locked::Yes).await?;
        Ok(opened.ok_or(OpenRefused::NotExecuting(status)))
    })
}

/// The open's write, applied only if the signal is the caller's EXECUTING signal with an entry
/// price and the user's risk snapshot for the day is `snapshot`, and (under `Locked::No`) the
/// per-trade checks pass on what the statement reads. Under `Locked::Yes` it must apply.
async fn open_if_snapshot(
    tx: &Transaction<'_>,
    r: &OpenRequest,
    snapshot: &RiskSnapshot,
    locked: Locked,
) -> Result<Option<Traded>, tokio_postgres::Error> {
    let insert = tx.prepare_cached(OPEN_IF_SNAPSHOT).await?;
    let guarded = matches!(locked, Locked::No);
    let params: [&(dyn ToSql + Sync); 15] = [
        &r.user_id,
        &r.signal_id,
        &r.qty,
        &r.now,
        &r.day,
        &snapshot.open_positions,
        &snapshot.last_trade_at,
        &snapshot.trades_today,
        &snapshot.realized_pnl_today,
        &r.position_id,
        &guarded,
        &r.profile.stop_loss_required,
        &r.profile.max_risk_per_trade_pct,
        &r.caps.max_open_qty_per_symbol,
        &r.caps.max_open_notional_per_exchange,
    ];
    let row = match locked {
        Locked::Yes => Some(tx.query_one(&insert, &params).await?),
        Locked::No => tx.query_opt(&insert, &params).await?,
    };
    row.as_ref().map(Traded::from_row).transpose()
}
