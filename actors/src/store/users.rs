//! Users: lookups on the read pool, creation and role changes as transactional writes.

use tokio_postgres::Row;

use super::audit::{self, AuditEvent};
use super::sessions::{self, RevokeReason, RevokedSessions};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::crypto::SealedTotp;
use crate::domain::{Role, SessionId, UserId};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub display_name: Option<String>,
    pub role: Role,
    /// Sealed: opened only where a code is checked.
    pub totp_secret: Option<SealedTotp>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    /// Session-less tokens (the old service's) issued until then are refused.
    pub sessionless_tokens_revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub const USER_COLUMNS: &str = "id, email, password_hash, display_name, role, totp_secret, totp_enabled, \
                                totp_last_step, sessionless_tokens_revoked_at";

impl UserRow {
    pub fn from_row(row: &Row) -> Result<UserRow, tokio_postgres::Error> {
        Ok(UserRow {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            display_name: row.try_get("display_name")?,
            role: row.try_get("role")?,
            totp_secret: row
                .try_get::<_, Option<String>>("totp_secret")?
                .map(SealedTotp::from_stored),
            totp_enabled: row.try_get("totp_enabled")?,
            totp_last_step: row.try_get("totp_last_step")?,
            sessionless_tokens_revoked_at: row.try_get("sessionless_tokens_revoked_at")?,
        })
    }
}

/// A user by email, case-insensitively.
pub async fn find_by_email(store: &Store, email: &str) -> Result<Option<UserRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&email])
        .await?
        .map(|row| UserRow::from_row(&row))
        .transpose()?)
}

/// A user by id.
pub async fn find_by_id(store: &Store, id: UserId) -> Result<Option<UserRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id])
        .await?
        .map(|row| UserRow::from_row(&row))
        .transpose()?)
}

/// Every user, by email.
pub async fn list(store: &Store) -> Result<Vec<UserRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY lower(email), id"))
        .await?;
    Ok(client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(UserRow::from_row)
        .collect::<Result<_, _>>()?)
}

/// What creating a user needs.
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    /// The audit action to record (`auth.register.success`, `user.create`, …), if any.
    pub audit_action: Option<&'static str>,
    /// Who did it (an admin), when not the user themself.
    pub actor_id: Option<UserId>,
}

/// Creates the user and their trading row; `None` when the email is taken.
pub fn create<'a>(tx: &'a Transaction<'a>, new: &'a NewUser) -> TxFuture<'a, Option<UserRow>> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING {USER_COLUMNS}"
            ))
            .await?;
        let Some(row) = tx
            .query_opt(&stmt, &[&new.email, &new.password_hash, &new.role])
            .await?
        else {
            return Ok(None);
        };
        let user = UserRow::from_row(&row)?;
        let stmt = tx
            .prepare_cached("INSERT INTO trading_state (user_id) VALUES ($1)")
            .await?;
        tx.execute(&stmt, &[&user.id]).await?;
        if let Some(action) = new.audit_action {
            let event = AuditEvent::new(Some(new.actor_id.unwrap_or(user.id)), action)
                .entity("user", user.id)
                .details(serde_json::json!({ "email": user.email, "role": user.role.as_str() }));
            audit::record(tx, &event).await?;
        }
        Ok(Some(user))
    })
}

/// Changes a user's role; `None` when there is no such user.
pub struct RoleChange {
    pub email: String,
    pub role: Role,
    pub audit_action: &'static str,
}

pub fn set_role<'a>(tx: &'a Transaction<'a>, change: &'a RoleChange) -> TxFuture<'a, Option<UserRow>> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(&format!(
                "UPDATE users SET role = $2, updated_at = now() WHERE lower(email) = lower($1) RETURNING {USER_COLUMNS}"
            ))
            .await?;
        let Some(row) = tx.query_opt(&stmt, &[&change.email, &change.role]).await? else {
            return Ok(None);
        };
        let user = UserRow::from_row(&row)?;
        let event = AuditEvent::new(Some(user.id), change.audit_action)
            .entity("user", user.id)
            .details(serde_json::json!({ "role": user.role.as_str() }));
        audit::record(tx, &event).await?;
        Ok(Some(user))
    })
}

/// An admin changes another user's role.
pub struct AdminRoleChange {
    pub by: UserId,
    pub user_id: UserId,
    pub role: Role,
    pub reason: String,
}

/// What an admin's role change did.
#[derive(Debug)]
pub enum RoleChanged {
    /// With the sessions it revoked (every one, when the user was disabled).
    Changed(UserRow, Vec<SessionId>),
    NotFound,
    /// It would leave no admin.
    LastAdmin,
}

/// Locks every admin row (in id order, so concurrent changes queue instead of each seeing the
/// other's admin) and the target's, and reads what the decision needs.
const LOCK_FOR_ROLE_CHANGE: &str =
    "WITH admins AS (SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE), \
     target AS (SELECT id, role FROM users WHERE id = $1 FOR UPDATE) \
     SELECT t.role, (SELECT count(*) FROM admins WHERE id <> $1) AS other_admins FROM target t";

/// Changes the role and audits `user.role.updated` (by the admin, naming the target), unless it
/// would demote the last admin.
pub fn change_role<'a>(tx: &'a Transaction<'a>, change: &'a AdminRoleChange) -> TxFuture<'a, RoleChanged> {
    Box::pin(async move {
        let lock = tx.prepare_cached(LOCK_FOR_ROLE_CHANGE).await?;
        let Some(current) = tx.query_opt(&lock, &[&change.user_id]).await? else {
            return Ok(RoleChanged::NotFound);
        };
        let previous: Role = current.try_get("role")?;
        let other_admins: i64 = current.try_get("other_admins")?;
        if previous == Role::Admin && change.role != Role::Admin && other_admins == 0 {
            return Ok(RoleChanged::LastAdmin);
        }
        let stmt = tx
            .prepare_cached(&format!(
                "UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING {USER_COLUMNS}"
            ))
            .await?;
        let row = tx.query_one(&stmt, &[&change.user_id, &change.role]).await?;
        let revoked = match change.role {
            Role::Disabled => sessions::revoke_all_of(tx, change.user_id, RevokeReason::Disabled).await?,
            _ => Vec::new(),
        };
        let user = UserRow::from_row(&row)?;
        let event = AuditEvent::new(Some(change.by), "user.role.updated")
            .entity("user", user.id)
            .details(serde_json::json!({
                "target_user_id": user.id,
                "email": user.email,
                "role": user.role.as_str(),
                "previous_role": previous.as_str(),
                "reason": change.reason,
            }));
        audit::record(tx, &event).await?;
        Ok(RoleChanged::Changed(user, revoked))
    })
}

/// An admin's reset of another user's credentials, with the reason given.
pub struct CredentialReset {
    pub by: UserId,
    pub user_id: UserId,
    pub reason: String,
    /// `Some(hash)`: the new password's; `None`: 2FA off and its secret forgotten.
    pub new_password_hash: Option<String>,
}

const RESET_PASSWORD: &str = "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING email";
const RESET_TWO_FACTOR: &str = "UPDATE users SET totp_enabled = false, totp_secret = NULL, totp_last_step = NULL, \
                                updated_at = now() WHERE id = $1 RETURNING email";

/// Applies the reset, revokes every session of the user, and audits `user.password.reset` or
/// `user.2fa.reset` (by the admin, with the reason; never the secret); `None` when there is no
/// such user.
pub fn reset_credentials<'a>(
    tx: &'a Transaction<'a>,
    reset: &'a CredentialReset,
) -> TxFuture<'a, Option<RevokedSessions>> {
    Box::pin(async move {
        let (row, action) = match &reset.new_password_hash {
            Some(hash) => {
                let stmt = tx.prepare_cached(RESET_PASSWORD).await?;
                (
                    tx.query_opt(&stmt, &[&reset.user_id, hash]).await?,
                    "user.password.reset",
                )
            }
            None => {
                let stmt = tx.prepare_cached(RESET_TWO_FACTOR).await?;
                (tx.query_opt(&stmt, &[&reset.user_id]).await?, "user.2fa.reset")
            }
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let email: String = row.try_get("email")?;
        let reason = match reset.new_password_hash {
            Some(_) => RevokeReason::PasswordReset,
            None => RevokeReason::TwoFactorReset,
        };
        let revoked = sessions::revoke_all_of(tx, reset.user_id, reason).await?;
        let event = AuditEvent::new(Some(reset.by), action)
            .entity("user", reset.user_id)
            .details(serde_json::json!({
                "target_user_id": reset.user_id,
                "email": email,
                "reason": reset.reason,
                "sessions_revoked": revoked.len(),
            }));
        audit::record(tx, &event).await?;
        Ok(Some(RevokedSessions {
            email,
            sessions: revoked,
        }))
    })
}

/// Replaces an old-service (bcrypt) hash by an argon2id one after a login proved the password.
pub struct PasswordUpgrade {
    pub user_id: UserId,
    /// The hash the login verified: a password changed meanwhile is not overwritten.
    pub old_hash: String,
    pub new_hash: String,
}

/// `true` when the hash was replaced; audited as `auth.password.rehash`.
pub fn upgrade_password_hash<'a>(tx: &'a Transaction<'a>, change: &'a PasswordUpgrade) -> TxFuture<'a, bool> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(
                "UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2",
            )
            .await?;
        if tx
            .execute(&stmt, &[&change.user_id, &change.old_hash, &change.new_hash])
            .await?
            == 0
        {
            return Ok(false);
        }
        let event = AuditEvent::new(Some(change.user_id), "auth.password.rehash")
            .entity("user", change.user_id)
            .details(serde_json::json!({ "from": "bcrypt", "to": "argon2id" }));
        audit::record(tx, &event).await?;
        Ok(true)
    })
}
