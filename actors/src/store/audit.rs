//! The audit trail: every state change writes one event in the same transaction as the change.

use serde_json::Value;

use super::Transaction;

/// One audit event to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub user_id: Option<i64>,
    pub action: &'static str,
    pub entity_type: Option<&'static str>,
    pub entity_id: Option<String>,
    /// Stored JSON-encoded; returned to clients as that string.
    pub details: Option<Value>,
}

impl AuditEvent {
    pub fn new(user_id: Option<i64>, action: &'static str) -> Self {
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

pub const INSERT_AUDIT: &str =
    "INSERT INTO audit_events (user_id, action, entity_type, entity_id, details) VALUES ($1, $2, $3, $4, $5)";

/// Writes the event inside `tx`.
pub async fn record(tx: &Transaction<'_>, event: &AuditEvent) -> Result<(), tokio_postgres::Error> {
    let stmt = tx.prepare_cached(INSERT_AUDIT).await?;
    let details = event.details.as_ref().map(|d| d.to_string());
    tx.execute(
        &stmt,
        &[
            &event.user_id,
            &event.action,
            &event.entity_type,
            &event.entity_id,
            &details,
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
        let key = event.user_id.unwrap_or_default();
        self.write(key, None, event, record_only).await
    }
}
