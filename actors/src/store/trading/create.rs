//! Creating a signal.

use super::super::{Transaction, TxFuture};
use super::signal_from_row;
use crate::domain::{NewSignal, Signal};

const CREATE_SIGNAL: &str = include_str!("sql/create_signal.sql");

pub fn create_signal<'a>(tx: &'a Transaction<'a>, s: &'a NewSignal) -> TxFuture<'a, Signal> {
    Box::pin(async move {
        let stmt = tx.prepare_cached(CREATE_SIGNAL).await?;
        let row = tx
            .query_one(
                &stmt,
                &[
                    &s.id,
                    &s.user_id,
                    &s.exchange,
                    &s.symbol,
                    &s.module,
                    &s.base_risk_percent,
                    &s.entry_price,
                    &s.stop_loss,
                    &s.take_profit,
                ],
            )
            .await?;
        signal_from_row(&row)
    })
}
