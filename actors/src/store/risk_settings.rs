//! A user's risk settings: the capital base risk per trade is measured against (`users.capital_base_usd`,
//! migration V13). Read on the read pool; changed as a transactional write with its audit event.

use rust_decimal::Decimal;

use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::{CapitalBase, UserId};

const CAPITAL_BASE: &str = "SELECT capital_base_usd FROM users WHERE id = $1";

/// The change and its audit event (by the admin, naming the target) in one statement.
const SET_CAPITAL_BASE: &str = "WITH old AS (SELECT id, capital_base_usd FROM users WHERE id = $2 FOR UPDATE), \
     u AS (UPDATE users SET capital_base_usd = $3, updated_at = now() FROM old WHERE users.id = old.id \
           RETURNING users.id, users.capital_base_usd, old.capital_base_usd AS previous), \
     a AS (INSERT INTO audit_events (user_id, action, entity_type, entity_id, details) \
           SELECT $1, 'user.risk_settings.updated', 'user', u.id::text, \
                  jsonb_build_object('target_user_id', u.id, 'capital_base_usd', u.capital_base_usd, \
                                     'previous_capital_base_usd', u.previous)::text FROM u) \
     SELECT capital_base_usd FROM u";

/// A user's capital base in USD; `None` when there is no such user.
pub async fn capital_base(store: &Store, user_id: UserId) -> Result<Option<Decimal>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(CAPITAL_BASE).await?;
    let row = client.query_opt(&stmt, &[&user_id]).await?;
    Ok(row
        .map(|r| r.try_get::<_, Decimal>(0))
        .transpose()?
        .map(|d| d.normalize()))
}

/// An admin sets a user's capital base.
pub struct CapitalBaseChange {
    /// The admin who changes it (the audit event's user).
    pub by: UserId,
    pub user_id: UserId,
    pub capital_base_usd: CapitalBase,
}

/// Sets the capital base and audits `user.risk_settings.updated`; `None` when there is no such
/// user. Run on the target user's shard with the user's lock, so no open of that user is judged
/// in between.
pub fn set_capital_base<'a>(tx: &'a Transaction<'a>, change: &'a CapitalBaseChange) -> TxFuture<'a, Option<Decimal>> {
    Box::pin(async move {
        let stmt = tx.prepare_cached(SET_CAPITAL_BASE).await?;
        let capital = change.capital_base_usd.get();
        let row = tx.query_opt(&stmt, &[&change.by, &change.user_id, &capital]).await?;
        Ok(row
            .map(|r| r.try_get::<_, Decimal>(0))
            .transpose()?
            .map(|d| d.normalize()))
    })
}
