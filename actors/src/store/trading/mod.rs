//! Signals and positions: the transactional writes behind create, claim, open and close (one
//! module each), the reads that list them, and what a user actor loads when it starts. Every
//! write re-checks its rule in SQL under row locks, so it holds when two daemons share one
//! database, not only inside one user actor. Each statement is a whole `.sql` file in `sql/`.

mod actor_state;
mod auto_close;
mod claim;
mod close;
mod create;
mod exit_alert;
mod keyed;
mod lists;
mod open;

pub use actor_state::{load_actor_state, ActorState};
pub use auto_close::{auto_close_minute, auto_close_position, AutoCloseRequest, AutoClosed, ThrottledAudit};
pub use claim::{claim_signals, Claim};
pub use close::{close_position, CloseRequest, HeldTerms};
pub use create::create_signal;
pub use exit_alert::{record_exit_alert, AlertOutcome, ExitAlert};
pub use keyed::{write_trading, TradingWrite, TradingWritten};
pub use lists::{positions_page, signals_page, After, Page, PageRequest};
pub use open::{open_from_signal, OpenRequest};

use rust_decimal::Decimal;
use tokio_postgres::Row;

use crate::domain::{Position, Signal};
use crate::rules::risk::RiskSnapshot;

/// A position an open or a close wrote, and the user's risk snapshot for the request's day
/// right after it (read by the same statement), so the user actor can offer it to its next open.
#[derive(Debug, Clone)]
pub struct Traded {
    pub position: Position,
    pub risk_after: RiskSnapshot,
}

impl Traded {
    fn from_row(row: &Row) -> Result<Traded, tokio_postgres::Error> {
        Ok(Traded {
            position: position_from_row(row)?,
            risk_after: super::risk::snapshot_from_row(row)?,
        })
    }
}

/// Whether the row a write applies to is already locked and known to be the caller's.
enum Locked {
    Yes,
    No,
}

/// NUMERIC keeps the scale it was computed with; clients see the shortest exact form.
fn normal(d: Decimal) -> Decimal {
    d.normalize()
}

/// A `signals` row (every statement selects the same columns by name).
pub(crate) fn signal_from_row(row: &Row) -> Result<Signal, tokio_postgres::Error> {
    Ok(Signal {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        exchange: row.try_get("exchange")?,
        symbol: row.try_get("symbol")?,
        module: row.try_get("module")?,
        base_risk_percent: row.try_get::<_, Option<Decimal>>("base_risk_percent")?.map(normal),
        entry_price: row.try_get::<_, Option<Decimal>>("entry_price")?.map(normal),
        stop_loss: row.try_get::<_, Option<Decimal>>("stop_loss")?.map(normal),
        take_profit: row.try_get::<_, Option<Decimal>>("take_profit")?.map(normal),
        status: row.try_get("status")?,
        reason_codes: row.try_get("reason_codes")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A `positions` row (every statement selects the same columns by name).
pub(crate) fn position_from_row(row: &Row) -> Result<Position, tokio_postgres::Error> {
    Ok(Position {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        signal_id: row.try_get("signal_id")?,
        exchange: row.try_get("exchange")?,
        symbol: row.try_get("symbol")?,
        side: row.try_get("side")?,
        qty: normal(row.try_get("qty")?),
        entry_price: normal(row.try_get("entry_price")?),
        stop_loss: row.try_get::<_, Option<Decimal>>("stop_loss")?.map(normal),
        take_profit: row.try_get::<_, Option<Decimal>>("take_profit")?.map(normal),
        status: row.try_get("status")?,
        realized_pnl: row.try_get::<_, Option<Decimal>>("realized_pnl")?.map(normal),
        fees: row.try_get::<_, Option<Decimal>>("fees")?.map(normal),
        exit_price: row.try_get::<_, Option<Decimal>>("exit_price")?.map(normal),
        exit_reason: row.try_get("exit_reason")?,
        opened_at: row.try_get("opened_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}
