//! Security posture (one set-based query) and the smoke-user cleanup (one transaction).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::audit::{self, AuditEvent};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::{Role, UserId};

/// One user's posture row.
#[derive(Debug, Clone)]
pub struct PostureUser {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub two_factor_enabled: bool,
    pub binance_secret_configured: bool,
    pub ibkr_secret_configured: bool,
    pub oldest_secret_age_days: Option<i64>,
    pub stale_secret: bool,
}

/// Every user with their 2FA state and credential ages, by email. Age is in whole days
/// (floored) since the credential was last saved; stale = that age above `max_age_days`.
/// Re-encryption does not change the age (the credential itself is unchanged).
pub async fn posture(store: &Store, max_age_days: i64) -> Result<Vec<PostureUser>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(
            "SELECT u.id, u.email, u.role, u.totp_enabled, \
                    COALESCE(bool_or(s.exchange = 'BINANCE'), false) AS binance, \
                    COALESCE(bool_or(s.exchange = 'IBKR'), false) AS ibkr, \
                    floor(extract(epoch FROM (now() - min(s.updated_at))) / 86400)::bigint AS age_days \
             FROM users u LEFT JOIN exchange_secrets s ON s.user_id = u.id \
             GROUP BY u.id ORDER BY lower(u.email), u.id",
        )
        .await?;
    let rows = client.query(&stmt, &[]).await?;
    let mut users = Vec::with_capacity(rows.len());
    for r in &rows {
        let age: Option<i64> = r.try_get("age_days")?;
        users.push(PostureUser {
            user_id: r.try_get("id")?,
            email: r.try_get("email")?,
            role: r.try_get("role")?,
            two_factor_enabled: r.try_get("totp_enabled")?,
            binance_secret_configured: r.try_get("binance")?,
            ibkr_secret_configured: r.try_get("ibkr")?,
            oldest_secret_age_days: age,
            stale_secret: age.is_some_and(|a| a > max_age_days),
        });
    }
    Ok(users)
}

#[derive(Debug, Clone)]
pub struct CleanupSmokeUsers {
    pub admin_id: UserId,
    pub dry_run: bool,
    pub older_than_days: i64,
}

#[derive(Debug, Clone)]
pub struct CleanupUser {
    pub user_id: UserId,
    pub email: String,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub eligible_for_delete: bool,
}

#[derive(Debug, Clone)]
pub struct CleanupReport {
    pub dry_run: bool,
    pub older_than_days: i64,
    pub scanned: i64,
    pub eligible: i64,
    pub deleted: i64,
    pub users: Vec<CleanupUser>,
}

/// The smoke users and the latest of their audit events, position opens/closes, signal
/// updates, secret and assignment updates. Rows are locked so activity cannot slip in
/// between the decision and the delete.
const SMOKE_USERS_SQL: &str = "\
    SELECT u.id, u.email, GREATEST( \
        (SELECT max(created_at) FROM audit_events WHERE user_id = u.id), \
        (SELECT max(GREATEST(opened_at, closed_at)) FROM positions WHERE user_id = u.id), \
        (SELECT max(updated_at) FROM signals WHERE user_id = u.id), \
        (SELECT max(updated_at) FROM exchange_secrets WHERE user_id = u.id), \
        (SELECT max(updated_at) FROM strategy_assignments WHERE user_id = u.id) \
    ) AS last_activity_at \
    FROM users u WHERE lower(u.email) LIKE 'smoke.%' ORDER BY lower(u.email), u.id FOR UPDATE OF u";

/// Scans the smoke users; unless a dry run, deletes the eligible ones and everything they own
/// (their rows cascade from `users`; their audit events go too). Audits `ops.cleanup.smoke_users`.
pub fn cleanup_smoke_users<'a>(tx: &'a Transaction<'a>, cmd: &'a CleanupSmokeUsers) -> TxFuture<'a, CleanupReport> {
    Box::pin(async move {
        let now: DateTime<Utc> = tx.query_one("SELECT now()", &[]).await?.try_get(0)?;
        let cutoff = now - chrono::Duration::days(cmd.older_than_days);
        let stmt = tx.prepare_cached(SMOKE_USERS_SQL).await?;
        let mut users = Vec::new();
        for r in tx.query(&stmt, &[]).await? {
            let last: Option<DateTime<Utc>> = r.try_get("last_activity_at")?;
            users.push(CleanupUser {
                user_id: r.try_get("id")?,
                email: r.try_get("email")?,
                last_activity_at: last,
                eligible_for_delete: last.is_none_or(|t| t < cutoff),
            });
        }
        let eligible: Vec<UserId> = users
            .iter()
            .filter(|u| u.eligible_for_delete)
            .map(|u| u.user_id)
            .collect();
        let mut deleted = 0i64;
        if !cmd.dry_run && !eligible.is_empty() {
            let stmt = tx
                .prepare_cached("DELETE FROM audit_events WHERE user_id = ANY($1)")
                .await?;
            tx.execute(&stmt, &[&eligible]).await?;
            let stmt = tx.prepare_cached("DELETE FROM users WHERE id = ANY($1)").await?;
            deleted = tx.execute(&stmt, &[&eligible]).await? as i64;
        }
        let report = CleanupReport {
            dry_run: cmd.dry_run,
            older_than_days: cmd.older_than_days,
            scanned: users.len() as i64,
            eligible: eligible.len() as i64,
            deleted,
            users,
        };
        let event = AuditEvent::new(Some(cmd.admin_id), "ops.cleanup.smoke_users")
            .entity("users", "smoke")
            .details(json!({
                "dry_run": report.dry_run,
                "older_than_days": report.older_than_days,
                "scanned": report.scanned,
                "eligible": report.eligible,
                "deleted": report.deleted,
                "deleted_user_ids": if report.dry_run { Vec::new() } else { eligible.clone() },
            }));
        audit::record(tx, &event).await?;
        Ok(report)
    })
}
