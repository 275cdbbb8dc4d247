//! Admin security routes: credential re-encryption, security posture, smoke-user cleanup.

use std::sync::Arc;

use actix_web::{get, post, web, HttpResponse};
use actors::crypto::KeyMaterial;
use actors::domain::{is_test_email, Role, UserId};
use actors::rules::dashboard::missing_2fa;
use actors::store::audit::AuditEvent;
use actors::store::secrets::{self, OpenWith, Reencrypt};
use actors::store::security::{self, CleanupReport, CleanupSmokeUsers, PostureUser};
use actors::store::ShardKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{AdminUser, ViewerUser};
use crate::http::extract::{Json, Query};
use crate::http::{ApiError, HttpResult};
use crate::state::Shared;

/// No `Debug`: it holds key material.
#[derive(Deserialize)]
pub struct ReencryptIn {
    old_key: String,
    new_key: String,
    #[serde(default = "yes")]
    dry_run: bool,
}

fn yes() -> bool {
    true
}

/// Opens every row (exchange secrets, then TOTP secrets) with `old_key` and seals it with
/// `new_key`, in one transaction. The rows are tagged with the id of the ring key equal to
/// `new_key` if there is one, otherwise with the newest ring id (the legacy flow: the operator then deploys `new_key` as `ENCRYPTION_KEY`).
#[post("/ops/security/reencrypt-exchange-secrets")]
pub async fn reencrypt(state: Shared, admin: AdminUser, body: Json<ReencryptIn>) -> HttpResult<HttpResponse> {
    let b = body.0;
    let old = KeyMaterial::parse(&b.old_key, "old_key", "old_key")
        .map_err(|_| ApiError::invalid("body", "old_key", "key is too short"))?;
    let new = KeyMaterial::parse(&b.new_key, "new_key", "new_key")
        .map_err(|_| ApiError::invalid("body", "new_key", "key is too short"))?;
    let new_key_id = state
        .keyring
        .id_of(&new)
        .unwrap_or_else(|| state.keyring.newest_id())
        .to_string();
    let cmd = Reencrypt {
        ring: Arc::clone(&state.keyring),
        open_with: OpenWith::Key(old),
        new_key_id,
        new_key: new,
        dry_run: b.dry_run,
        skip_current: false,
        actor_id: Some(admin.0.id),
        audit_action: "security.key_rotation.reencrypt",
    };
    let report = state
        .store
        .write(ShardKey::Exclusive, None, cmd, secrets::reencrypt)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "dry_run": b.dry_run,
        "scanned": report.scanned,
        "updated": report.updated,
        "failed": report.failed,
        "totp_secrets": {
            "scanned": report.totp.scanned,
            "updated": report.totp.updated,
            "plaintext": report.totp.plaintext,
            "failed": report.totp.failed,
        },
    })))
}

#[derive(Debug, Deserialize)]
pub struct PostureQuery {
    #[serde(default)]
    real_only: bool,
    #[serde(default = "thirty")]
    max_secret_age_days: i64,
}

fn thirty() -> i64 {
    30
}

#[get("/ops/security/posture")]
pub async fn posture(state: Shared, viewer: ViewerUser, query: Query<PostureQuery>) -> HttpResult<HttpResponse> {
    let q = query.0;
    let users: Vec<_> = security::posture(&state.store, q.max_secret_age_days)
        .await?
        .into_iter()
        .filter(|u| !q.real_only || !is_test_email(&u.email))
        .collect();
    let missing = users
        .iter()
        .filter(|u| missing_2fa(u.role, u.two_factor_enabled))
        .count();
    let stale = users.iter().filter(|u| u.stale_secret).count();
    state
        .store
        .audit(
            AuditEvent::new(Some(viewer.id), "security.posture.read")
                .entity("security", "posture")
                .details(json!({
                    "real_only": q.real_only,
                    "max_secret_age_days": q.max_secret_age_days,
                    "total_users": users.len(),
                })),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "generated_at": Utc::now(),
        "max_secret_age_days": q.max_secret_age_days,
        "real_only": q.real_only,
        "summary": {
            "total_users": users.len(),
            "users_missing_2fa": missing,
            "users_with_stale_secrets": stale,
        },
        "users": users.into_iter().map(PostureUserOut::from).collect::<Vec<_>>(),
    })))
}

/// One user's posture as the contract shows it.
#[derive(Serialize)]
pub struct PostureUserOut {
    user_id: UserId,
    email: String,
    role: Role,
    two_factor_enabled: bool,
    binance_secret_configured: bool,
    ibkr_secret_configured: bool,
    oldest_secret_age_days: Option<i64>,
    stale_secret: bool,
}

impl From<PostureUser> for PostureUserOut {
    fn from(u: PostureUser) -> Self {
        PostureUserOut {
            user_id: u.user_id,
            email: u.email,
            role: u.role,
            two_factor_enabled: u.two_factor_enabled,
            binance_secret_configured: u.binance_secret_configured,
            ibkr_secret_configured: u.ibkr_secret_configured,
            oldest_secret_age_days: u.oldest_secret_age_days,
            stale_secret: u.stale_secret,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CleanupQuery {
    #[serde(default = "yes")]
    dry_run: bool,
    #[serde(default = "fourteen")]
    older_than_days: i64,
}

fn fourteen() -> i64 {
    14
}

#[post("/ops/admin/cleanup-smoke-users")]
pub async fn cleanup_smoke_users(
    state: Shared,
    admin: AdminUser,
    query: Query<CleanupQuery>,
) -> HttpResult<HttpResponse> {
    let q = query.0;
    if !(0..=36_500).contains(&q.older_than_days) {
        return Err(ApiError::invalid(
            "query",
            "older_than_days",
            "must be between 0 and 36500",
        ));
    }
    let cmd = CleanupSmokeUsers {
        admin_id: admin.0.id,
        dry_run: q.dry_run,
        older_than_days: q.older_than_days,
    };
    let report = state
        .store
        .write(ShardKey::Exclusive, None, cmd, security::cleanup_smoke_users)
        .await?;
    Ok(HttpResponse::Ok().json(CleanupReportOut::from(report)))
}

/// The cleanup's answer as the contract shows it.
#[derive(Serialize)]
pub struct CleanupReportOut {
    dry_run: bool,
    older_than_days: i64,
    scanned: i64,
    eligible: i64,
    deleted: i64,
    users: Vec<CleanupUserOut>,
}

#[derive(Serialize)]
pub struct CleanupUserOut {
    user_id: UserId,
    email: String,
    last_activity_at: Option<DateTime<Utc>>,
    eligible_for_delete: bool,
}

impl From<CleanupReport> for CleanupReportOut {
    fn from(r: CleanupReport) -> Self {
        CleanupReportOut {
            dry_run: r.dry_run,
            older_than_days: r.older_than_days,
            scanned: r.scanned,
            eligible: r.eligible,
            deleted: r.deleted,
            users: r
                .users
                .into_iter()
                .map(|u| CleanupUserOut {
                    user_id: u.user_id,
                    email: u.email,
                    last_activity_at: u.last_activity_at,
                    eligible_for_delete: u.eligible_for_delete,
                })
                .collect(),
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(reencrypt).service(posture).service(cleanup_smoke_users);
}
