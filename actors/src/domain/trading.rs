//! Signals and positions as the domain knows them (parsed from their rows by the store).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Exchange, ExitReason, PositionId, PositionSide, PositionStatus, SignalId, SignalStatus, Symbol, UserId};

/// A trading signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub id: SignalId,
    pub user_id: UserId,
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub module: String,
    /// Unknown only for signals imported from the old service.
    pub base_risk_percent: Option<Decimal>,
    pub entry_price: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub status: SignalStatus,
    pub reason_codes: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A signal to create: every field checked at the edge.
#[derive(Debug, Clone)]
pub struct NewSignal {
    pub id: SignalId,
    pub user_id: UserId,
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub module: String,
    pub base_risk_percent: Decimal,
    pub entry_price: Decimal,
    pub stop_loss: Decimal,
    pub take_profit: Decimal,
}

/// A position opened from a signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub id: PositionId,
    pub user_id: UserId,
    /// None once the signal is gone.
    pub signal_id: Option<SignalId>,
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub side: PositionSide,
    pub qty: Decimal,
    pub entry_price: Decimal,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub status: PositionStatus,
    /// Known once the position is closed.
    pub realized_pnl: Option<Decimal>,
    pub fees: Option<Decimal>,
    pub exit_price: Option<Decimal>,
    /// Why the exit monitor closed it; None for a manual close.
    pub exit_reason: Option<ExitReason>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}
