//! The four trading writes a client may retry with an idempotency key, as one job type: the key
//! is claimed and answered in the same transaction as whichever of them runs.

use super::super::{Transaction, TxFuture};
use super::{claim_signals, close_position, create_signal, open_from_signal, Claim, CloseRequest, OpenRequest, Traded};
use crate::domain::{NewSignal, Signal, UserId};
use crate::refusals::{CloseRefused, OpenRefused};

pub enum TradingWrite {
    Create(NewSignal),
    Claim(Claim),
    Open(OpenRequest),
    Close(CloseRequest),
}

/// What each write produced.
#[derive(Debug)]
pub enum TradingWritten {
    Created(Signal),
    Claimed(Vec<Signal>),
    Opened(Result<Traded, OpenRefused>),
    Closed(Result<Traded, CloseRefused>),
}

impl TradingWrite {
    /// The user whose `trading_state` row the batch must lock: opens and closes judge the risk state.
    pub fn lock_user(&self) -> Option<UserId> {
        match self {
            TradingWrite::Create(_) | TradingWrite::Claim(_) => None,
            TradingWrite::Open(r) => Some(r.user_id),
            TradingWrite::Close(r) => Some(r.user_id),
        }
    }
}

pub fn write_trading<'a>(tx: &'a Transaction<'a>, w: &'a TradingWrite) -> TxFuture<'a, TradingWritten> {
    Box::pin(async move {
        Ok(match w {
            TradingWrite::Create(s) => TradingWritten::Created(create_signal(tx, s).await?),
            TradingWrite::Claim(c) => TradingWritten::Claimed(claim_signals(tx, c).await?),
            TradingWrite::Open(r) => TradingWritten::Opened(open_from_signal(tx, r).await?),
            TradingWrite::Close(r) => TradingWritten::Closed(close_position(tx, r).await?),
        })
    })
}
