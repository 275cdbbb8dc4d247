//! `/ops/audit`: the caller's own audit events, and (admins) everyone's, newest first.

use actix_web::{get, HttpResponse};
use actors::domain::{AuditEventId, UserId};
use actors::store::audit_queries::{self, AuditRecord};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::{AuthUser, OperatorUser};
use crate::http::error::ValidationIssue;
use crate::http::extract::Query;
use crate::http::{ApiError, HttpResult};
use crate::state::Shared;

pub const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
pub struct LimitQuery {
    pub limit: Option<i64>,
}

impl LimitQuery {
    fn limit(&self, default: i64) -> Result<i64, ApiError> {
        let limit = self.limit.unwrap_or(default);
        if (1..=MAX_LIMIT).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::Validation(vec![ValidationIssue::new(
                "query",
                Some("limit"),
                format!("Input should be between 1 and {MAX_LIMIT}"),
                "value_error",
            )]))
        }
    }
}

/// One audit event as the contract shows it; `details` is a JSON-encoded string (or null).
#[derive(Serialize)]
pub struct AuditEventOut {
    id: AuditEventId,
    user_id: Option<UserId>,
    action: String,
    entity_type: Option<String>,
    entity_id: Option<String>,
    details: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<AuditRecord> for AuditEventOut {
    fn from(e: AuditRecord) -> Self {
        AuditEventOut {
            id: e.id,
            user_id: e.user_id,
            action: e.action,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            details: e.details,
            created_at: e.created_at,
        }
    }
}

fn out(events: Vec<AuditRecord>) -> Vec<AuditEventOut> {
    events.into_iter().map(AuditEventOut::from).collect()
}

#[get("/ops/audit/me")]
pub async fn mine(state: Shared, user: AuthUser, Query(q): Query<LimitQuery>) -> HttpResult<HttpResponse> {
    let limit = q.limit(50)?;
    let rows = audit_queries::for_user(&state.store, user.id, limit).await?;
    Ok(HttpResponse::Ok().json(out(rows)))
}

#[get("/ops/audit/all")]
pub async fn all(state: Shared, _operator: OperatorUser, Query(q): Query<LimitQuery>) -> HttpResult<HttpResponse> {
    let limit = q.limit(100)?;
    let rows = audit_queries::all(&state.store, limit).await?;
    Ok(HttpResponse::Ok().json(out(rows)))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(mine).service(all);
}
