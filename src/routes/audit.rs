//! `/ops/audit`: the caller's own audit events, and (admins) everyone's, newest first.

use actix_web::{get, HttpResponse};
use actors::store::audit_queries;
use serde::Deserialize;

use crate::auth::{AdminUser, AuthUser};
use crate::http::extract::Query;
use crate::http::{HttpError, HttpResult};
use crate::state::Shared;

pub const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
pub struct LimitQuery {
    pub limit: Option<i64>,
}

impl LimitQuery {
    fn limit(&self, default: i64) -> Result<i64, HttpError> {
        let limit = self.limit.unwrap_or(default);
        if (1..=MAX_LIMIT).contains(&limit) {
            Ok(limit)
        } else {
            Err(HttpError::Validation(vec![crate::http::error::ValidationIssue::new(
                "query",
                Some("limit"),
                format!("Input should be between 1 and {MAX_LIMIT}"),
                "value_error",
            )]))
        }
    }
}

#[get("/ops/audit/me")]
pub async fn mine(state: Shared, user: AuthUser, Query(q): Query<LimitQuery>) -> HttpResult<HttpResponse> {
    let limit = q.limit(50)?;
    let rows = audit_queries::for_user(&state.store, user.id, limit).await?;
    Ok(HttpResponse::Ok().json(rows))
}

#[get("/ops/audit/all")]
pub async fn all(state: Shared, _admin: AdminUser, Query(q): Query<LimitQuery>) -> HttpResult<HttpResponse> {
    let limit = q.limit(100)?;
    let rows = audit_queries::all(&state.store, limit).await?;
    Ok(HttpResponse::Ok().json(rows))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(mine).service(all);
}
