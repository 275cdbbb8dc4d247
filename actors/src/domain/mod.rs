//! Domain types parsed at the edge: once a request or a stored row has become one of these,
//! nothing re-checks it. Requests are parsed by serde (`Deserialize`), rows by tokio-postgres
//! (`FromSql`); a value that does not parse is an error there, never a silent default.

mod amounts;
mod email;
mod idempotency;
mod ids;
mod names;
mod sql;
mod symbol;
mod trading;

pub use amounts::{
    decimal_from_text, deserialize_decimal, CapitalBase, Fees, OutOfBounds, Price, Quantity, MAX_CAPITAL_BASE,
    MAX_FEES, MAX_PRICE, MAX_QTY,
};
pub use email::{is_service_email, is_test_email, Email};
pub use idempotency::{IdempotencyKey, InvalidIdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN};
pub use ids::{derived_uuid, AuditEventId, PositionId, SessionId, SignalId, UserId};
pub use names::{
    Exchange, ExitReason, PositionSide, PositionStatus, Role, Side, SignalStatus, StrategyId, Timeframe, TradingState,
};
pub use symbol::{normalize_symbol, Symbol};
pub use trading::{NewSignal, Position, Signal};
