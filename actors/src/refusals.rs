//! Why an operation of the trading core did not happen: a refusal by meaning, one enum per
//! operation, whose `Display` is the contract's message. Nothing here knows HTTP: the daemon's
//! `ApiError` gives each its status and stable code.

use crate::domain::{Exchange, InvalidIdempotencyKey, PositionStatus, SignalStatus};
use crate::rules::risk::OpenBlock;
use crate::rules::trading_control::TradingBlocked;
use crate::store::StoreError;

/// Why a position was not opened from a signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenRefused {
    #[error("Signal not found")]
    NotFound,
    #[error("Cannot open another user's signal")]
    Foreign,
    #[error("Signal status must be EXECUTING (got {0})")]
    NotExecuting(SignalStatus),
    #[error("Signal missing entry_price")]
    MissingEntryPrice,
    #[error("{0}")]
    Trading(TradingBlocked),
    #[error("{0}")]
    Risk(OpenBlock),
}

/// Why a position was not closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseRefused {
    #[error("Position not found")]
    NotFound,
    #[error("Cannot close another user's position")]
    Foreign,
    #[error("Position status must be OPEN (got {0})")]
    NotOpen(PositionStatus),
}

/// Why a request with an `X-Idempotency-Key` was not run (nor its earlier answer replayed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyRefused {
    #[error(transparent)]
    Invalid(#[from] InvalidIdempotencyKey),
    #[error("Idempotency key already used with different payload")]
    Reused,
    #[error("A request with this idempotency key is still running; retry shortly")]
    InProgress,
}

/// Why exchange credentials were not saved or deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefused {
    #[error("Exchange {0} is disabled for this user")]
    ExchangeDisabled(Exchange),
    #[error("No credentials found for this exchange")]
    NotFound,
}

/// Why an execution request (prepare, test order, exit check) was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionRefused {
    #[error("Exchange {0} is disabled for this user")]
    ExchangeDisabled(Exchange),
    #[error("Missing credentials for {0}")]
    MissingCredentials(Exchange),
    #[error("Stored credentials for {0} cannot be decrypted with the configured key ring")]
    Undecryptable(Exchange),
    /// The upstream refused the order or could not be reached; `reason` holds no secret.
    #[error("{} test order failed: {reason}", venue_name(*.exchange))]
    UpstreamFailed { exchange: Exchange, reason: String },
}

/// The venue as the contract's upstream messages name it.
fn venue_name(exchange: Exchange) -> &'static str {
    match exchange {
        Exchange::Binance => "Binance",
        Exchange::Ibkr => "IBKR",
    }
}

/// Why a risk profile was not shown, changed or given to a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskProfileRefused {
    #[error("Risk profile not found")]
    NotFound,
}

/// An operation that may be refused, or fail below the domain (the database).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure<R> {
    #[error("{0}")]
    Refused(R),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<R> Failure<R> {
    /// Flattens a store write whose job answers with a refusal or a value.
    pub fn flatten<T>(result: Result<Result<T, R>, StoreError>) -> Result<T, Failure<R>> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(refused)) => Err(Failure::Refused(refused)),
            Err(store) => Err(Failure::Store(store)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_contract() {
        assert_eq!(
            OpenRefused::NotExecuting(SignalStatus::Created).to_string(),
            "Signal status must be EXECUTING (got CREATED)"
        );
        assert_eq!(
            CloseRefused::NotOpen(PositionStatus::Closed).to_string(),
            "Position status must be OPEN (got CLOSED)"
        );
        assert_eq!(
            OpenRefused::Risk(OpenBlock::Cooldown { minutes: 30 }).to_string(),
            "Risk block: cooldown active (30.0m)"
        );
        assert_eq!(
            ExecutionRefused::UpstreamFailed {
                exchange: Exchange::Binance,
                reason: "Binance testnet error 400: {}".into()
            }
            .to_string(),
            "Binance test order failed: Binance testnet error 400: {}"
        );
        assert_eq!(
            ExecutionRefused::UpstreamFailed {
                exchange: Exchange::Ibkr,
                reason: "bad symbol".into()
            }
            .to_string(),
            "IBKR test order failed: bad symbol"
        );
        assert_eq!(
            SecretRefused::ExchangeDisabled(Exchange::Ibkr).to_string(),
            "Exchange IBKR is disabled for this user"
        );
    }
}
