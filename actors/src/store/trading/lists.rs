//! The lists a user reads: signals and positions, newest first.

use super::super::{Store, StoreError};
use super::{position_from_row, signal_from_row};
use crate::domain::{Position, Signal, UserId};

const LIST_SIGNALS: &str = include_str!("sql/list_signals.sql");
const LIST_POSITIONS: &str = include_str!("sql/list_positions.sql");

pub async fn list_signals(store: &Store, user_id: UserId) -> Result<Vec<Signal>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(LIST_SIGNALS).await?;
    let rows = client.query(&stmt, &[&user_id]).await?;
    Ok(rows.iter().map(signal_from_row).collect::<Result<_, _>>()?)
}

pub async fn list_positions(store: &Store, user_id: UserId) -> Result<Vec<Position>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(LIST_POSITIONS).await?;
    let rows = client.query(&stmt, &[&user_id]).await?;
    Ok(rows.iter().map(position_from_row).collect::<Result<_, _>>()?)
}
