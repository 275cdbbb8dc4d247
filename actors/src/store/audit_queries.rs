//! Reading the audit trail: a user's own events, or everyone's, newest first.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Store, StoreError};
use crate::domain::{AuditEventId, UserId};

/// One recorded event; `details` is the stored JSON text.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: AuditEventId,
    pub user_id: Option<UserId>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub details: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl AuditRecord {
    fn from_row(row: &Row) -> Result<AuditRecord, tokio_postgres::Error> {
        Ok(AuditRecord {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            action: row.try_get("action")?,
            entity_type: row.try_get("entity_type")?,
            entity_id: row.try_get("entity_id")?,
            details: row.try_get("details")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

const FOR_USER: &str = "SELECT id, user_id, action, entity_type, entity_id, details, created_at \
     FROM audit_events WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2";
const ALL: &str = "SELECT id, user_id, action, entity_type, entity_id, details, created_at \
     FROM audit_events ORDER BY created_at DESC, id DESC LIMIT $1";

/// The latest `limit` events of one user.
pub async fn for_user(store: &Store, user_id: UserId, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(FOR_USER).await?;
    let rows = client.query(&stmt, &[&user_id, &limit]).await?;
    Ok(rows.iter().map(AuditRecord::from_row).collect::<Result<_, _>>()?)
}

/// The latest `limit` events of everyone.
pub async fn all(store: &Store, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(ALL).await?;
    let rows = client.query(&stmt, &[&limit]).await?;
    Ok(rows.iter().map(AuditRecord::from_row).collect::<Result<_, _>>()?)
}
