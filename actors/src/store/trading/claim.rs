//! Claiming signals: each goes to exactly one claimer.

use super::super::{Transaction, TxFuture};
use super::signal_from_row;
use crate::domain::{Signal, UserId};

const CLAIM_SIGNALS: &str = include_str!("sql/claim_signals.sql");

pub struct Claim {
    pub user_id: UserId,
    pub limit: i64,
}

/// The caller's oldest CREATED signals, at most `limit`, now EXECUTING, oldest first.
pub fn claim_signals<'a>(tx: &'a Transaction<'a>, c: &'a Claim) -> TxFuture<'a, Vec<Signal>> {
    Box::pin(async move {
        let stmt = tx.prepare_cached(CLAIM_SIGNALS).await?;
        tx.query(&stmt, &[&c.user_id, &c.limit])
            .await?
            .iter()
            .map(signal_from_row)
            .collect()
    })
}
