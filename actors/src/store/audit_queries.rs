//! Reading the audit trail: a user's own events, or everyone's, newest first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;

use super::{Store, StoreError};

/// One event as clients see it; `details` is the stored JSON string.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub user_id: Option<i64>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub details: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl AuditRow {
    fn from_row(row: &Row) -> AuditRow {
        AuditRow {
            id: row.get("id"),
            user_id: row.get("user_id"),
            action: row.get("action"),
            entity_type: row.get("entity_type"),
            entity_id: row.get("entity_id"),
            details: row.get("details"),
            created_at: row.get("created_at"),
        }
    }
}

const COLUMNS: &str = "id, user_id, action, entity_type, entity_id, details, created_at";

/// The latest `limit` events of one user.
pub async fn for_user(store: &Store, user_id: i64, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[&user_id, &limit])
        .await?
        .iter()
        .map(AuditRow::from_row)
        .collect())
}

/// The latest `limit` events of everyone.
pub async fn all(store: &Store, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM audit_events ORDER BY id DESC LIMIT $1"))
        .await?;
    Ok(client
        .query(&stmt, &[&limit])
        .await?
        .iter()
        .map(AuditRow::from_row)
        .collect())
}
