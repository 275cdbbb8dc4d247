//! The audit trail: every state change writes one event in the same transaction as the change.

use serde_json::Value;

use super::Transaction;
use crate::domain::UserId;

/// One audit event to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub user_id: Option<UserId>,
    pub action: &'static str,
    pub entity_type: Option<&'static str>,
    pub entity_id: Option<String>,
    /// Stored as the JSON text PostgreSQL writes for `jsonb` (the one form every event's details
    /// take, whether built here or in SQL); returned to clients as that string.
    pub details: Option<Value>,
}

impl AuditEvent {
    pub fn new(user_id: Option<UserId>, action: &'static str) -> Self {
        AuditEvent {
            user_id,
            action,
            entity_type: None,
            entity_id: None,
            details: None,
        }
    }

    pub fn entity(mut self, entity_type: &'static str, entity_id: impl ToString) -> Self {
        self.entity_type = Some(entity_type);
        self.entity_id = Some(entity_id.to_string());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

pub const INSERT_AUDIT: &str = "INSERT INTO audit_events (user_id, action, entity_type, entity_id, details) \
     VALUES ($1, $2, $3, $4, $5::jsonb::text)";

/// Writes the event inside `tx`.
pub async fn record(tx: &Transaction<'_>, event: &AuditEvent) -> Result<(), tokio_postgres::Error> {
    let stmt = tx.prepare_cached(INSERT_AUDIT).await?;
    tx.execute(
        &stmt,
        &[
            &event.user_id,
            &event.action,
            &event.entity_type,
            &event.entity_id,
            &event.details,
        ],
    )
    .await?;
    Ok(())
}

/// Records an event on its own (for actions that change nothing else, such as a check).
pub fn record_only<'a>(tx: &'a Transaction<'a>, event: &'a AuditEvent) -> super::TxFuture<'a, ()> {
    Box::pin(record(tx, event))
}

impl super::Store {
    /// Commits one audit event, answering after the commit.
    pub async fn audit(&self, event: AuditEvent) -> Result<(), super::StoreError> {
        let key = event.user_id.map_or(super::ShardKey::Unowned, super::ShardKey::User);
        self.write(key, None, event, record_only).await
    }
}
