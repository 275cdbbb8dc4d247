//! TOTP state changes. Each accepted code moves `users.totp_last_step` forward with a conditional
//! UPDATE, so a code is accepted once even when two daemons share the database; the audit event
//! commits in the same transaction.

use super::audit::{self, AuditEvent};
use super::{Transaction, TxFuture};
use crate::domain::UserId;

/// Stores a new secret; 2FA stays disabled until a code of it is verified.
pub struct NewSecret {
    pub user_id: UserId,
    pub secret: String,
}

/// `false` when the user no longer exists.
pub fn store_secret<'a>(tx: &'a Transaction<'a>, input: &'a NewSecret) -> TxFuture<'a, bool> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(
                "UPDATE users SET totp_secret = $2, totp_enabled = FALSE, updated_at = now() WHERE id = $1 RETURNING id",
            )
            .await?;
        if tx.query_opt(&stmt, &[&input.user_id, &input.secret]).await?.is_none() {
            return Ok(false);
        }
        audit::record(
            tx,
            &AuditEvent::new(Some(input.user_id), "auth.2fa.setup").entity("user", input.user_id),
        )
        .await?;
        Ok(true)
    })
}

/// What an accepted code is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeUse {
    Login,
    Enable,
    Disable,
}

/// A code accepted by the pure check, for `step`, against `secret` (the secret it was checked with).
pub struct AcceptedCode {
    pub user_id: UserId,
    pub secret: String,
    pub step: i64,
    pub purpose: CodeUse,
}

/// Consumes the step and applies the purpose; `false` when the step was already used (a replay,
/// possibly by another daemon), the secret changed meanwhile, or the 2FA state no longer fits.
pub fn consume_code<'a>(tx: &'a Transaction<'a>, input: &'a AcceptedCode) -> TxFuture<'a, bool> {
    Box::pin(async move {
        let (sql, action) = match input.purpose {
            CodeUse::Login => (
                "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_enabled AND totp_secret = $3 \
                 AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING id",
                "auth.login.success",
            ),
            CodeUse::Enable => (
                "UPDATE users SET totp_enabled = TRUE, totp_last_step = $2, updated_at = now() \
                 WHERE id = $1 AND totp_secret = $3 \
                 AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING id",
                "auth.2fa.enabled",
            ),
            CodeUse::Disable => (
                "UPDATE users SET totp_enabled = FALSE, totp_secret = NULL, totp_last_step = $2, updated_at = now() \
                 WHERE id = $1 AND totp_enabled AND totp_secret = $3 \
                 AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING id",
                "auth.2fa.disabled",
            ),
        };
        let stmt = tx.prepare_cached(sql).await?;
        if tx
            .query_opt(&stmt, &[&input.user_id, &input.step, &input.secret])
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let mut event = AuditEvent::new(Some(input.user_id), action).entity("user", input.user_id);
        if input.purpose == CodeUse::Login {
            event = event.details(serde_json::json!({ "two_factor": true }));
        }
        audit::record(tx, &event).await?;
        Ok(true)
    })
}
