//! What a user actor loads when it starts (start-up is recovery), and who needs an actor at boot.

use chrono::NaiveDate;

use super::super::{Store, StoreError};
use super::position_from_row;
use crate::domain::{Exchange, Position, PositionId, StrategyId, UserId};
use crate::rules::risk::RiskSnapshot;

const ACTOR_STATE: &str = include_str!("sql/actor_state.sql");
pub struct ActorState {
    pub email: String,
    pub open: Vec<Position>,
    /// Assigned strategies by exchange (an exchange without a row runs the default).
    pub strategies: Vec<(Exchange, StrategyId)>,
    /// The risk snapshot for the day the state was loaded for.
    pub risk: RiskSnapshot,
}

/// The user's email, open positions, strategy assignments and risk snapshot for `day`; None
/// when there is no such user. One statement: an actor starts for every user's first request
/// after a quiet period.
pub async fn load_actor_state(
    store: &Store,
    user_id: UserId,
    day: NaiveDate,
) -> Result<Option<ActorState>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(ACTOR_STATE).await?;
    let rows = client.query(&stmt, &[&user_id, &day]).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let exchanges: Vec<Exchange> = first.try_get("strategy_exchanges")?;
    let strategies: Vec<StrategyId> = first.try_get("strategy_ids")?;
    let mut open = Vec::new();
    for row in &rows {
        if row.try_get::<_, Option<PositionId>>("id")?.is_some() {
            open.push(position_from_row(row)?);
        }
    }
    Ok(Some(ActorState {
        email: first.try_get("email")?,
        open,
        strategies: exchanges.into_iter().zip(strategies).collect(),
        risk: super::super::risk::snapshot_from_row(first)?,
    }))
}
