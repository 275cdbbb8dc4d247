//! TOTP state changes. Each accepted code moves `users.totp_last_step` forward with a conditional
//! UPDATE, so a code is accepted once even when two daemons share the database; the audit event
//! commits in the same transaction. Secrets are stored sealed (`crypto::SealedTotp`); rows from
//! before sealing are sealed in place by [`seal_plaintext`].

use std::sync::Arc;

use super::audit::{self, AuditEvent};
use super::{ShardKey, Store, StoreError, Transaction, TxFuture};
use crate::crypto::{KeyRing, SealedTotp};
use crate::domain::UserId;

/// Stores a new secret; 2FA stays disabled until a code of it is verified.
pub struct NewSecret {
    pub user_id: UserId,
    pub sealed: SealedTotp,
}

/// `false` when the user no longer exists.
pub fn store_secret<'a>(tx: &'a Transaction<'a>, input: &'a NewSecret) -> TxFuture<'a, bool> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(
                "UPDATE users SET totp_secret = $2, totp_enabled = FALSE, updated_at = now() WHERE id = $1 RETURNING id",
            )
            .await?;
        if tx
            .query_opt(&stmt, &[&input.user_id, &input.sealed.stored()])
            .await?
            .is_none()
        {
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

/// A code accepted by the pure check, for `step`, against the secret `sealed` opens to (as read:
/// every seal has a fresh nonce, so an equal column means the secret did not change meanwhile).
pub struct AcceptedCode {
    pub user_id: UserId,
    pub sealed: SealedTotp,
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
            .query_opt(&stmt, &[&input.user_id, &input.step, &input.sealed.stored()])
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

/// Rows sealed per transaction by [`seal_plaintext`].
const SEAL_BATCH: i64 = 500;

/// One batch of [`seal_plaintext`]: the plaintext rows after `after`, in id order.
struct SealBatch {
    ring: Arc<KeyRing>,
    after: Option<UserId>,
}

struct SealedBatch {
    sealed: u64,
    /// Where the next batch starts; `None` after the last one.
    next: Option<UserId>,
}

fn seal_batch<'a>(tx: &'a Transaction<'a>, input: &'a SealBatch) -> TxFuture<'a, SealedBatch> {
    Box::pin(async move {
        // Locked in id order, so two daemons sealing at once wait for each other instead of
        // deadlocking; the one that waits finds the rows sealed and leaves them.
        let stmt = tx
            .prepare_cached(
                "SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE 'v1:%' \
                 AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2 FOR UPDATE",
            )
            .await?;
        let rows = tx.query(&stmt, &[&input.after, &SEAL_BATCH]).await?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut old = Vec::with_capacity(rows.len());
        let mut sealed = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in &rows {
            let id: UserId = row.try_get(0)?;
            let plain: String = row.try_get(1)?;
            last = Some(id);
            match SealedTotp::seal(&input.ring, id, plain.trim()) {
                Ok(value) => {
                    ids.push(id.as_uuid());
                    sealed.push(value.stored().to_string());
                    old.push(plain);
                }
                Err(error) => tracing::warn!(user_id = %id, %error, "a plaintext TOTP secret was not sealed"),
            }
        }
        let stmt = tx
            .prepare_cached(
                "UPDATE users u SET totp_secret = v.sealed \
                 FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(id, old, sealed) \
                 WHERE u.id = v.id AND u.totp_secret = v.old",
            )
            .await?;
        let sealed = tx.execute(&stmt, &[&ids, &old, &sealed]).await?;
        let next = if rows.len() as i64 == SEAL_BATCH { last } else { None };
        Ok(SealedBatch { sealed, next })
    })
}

/// Seals every plaintext `users.totp_secret` in place (rows written before secrets were sealed),
/// in batches; idempotent, and safe when several daemons start at once. Returns how many rows
/// it sealed.
pub async fn seal_plaintext(store: &Store, ring: Arc<KeyRing>) -> Result<u64, StoreError> {
    // Asked on the read pool first: once every row is sealed (every start but the first after
    // the upgrade) a start locks nothing and takes no write connection.
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM users WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE 'v1:%')",
        )
        .await?;
    let any: bool = client.query_one(&stmt, &[]).await?.try_get(0)?;
    drop(client);
    if !any {
        return Ok(0);
    }
    let mut total = 0;
    let mut after = None;
    loop {
        let job = SealBatch {
            ring: Arc::clone(&ring),
            after,
        };
        let batch = store.write(ShardKey::Exclusive, None, job, seal_batch).await?;
        total += batch.sealed;
        match batch.next {
            Some(next) => after = Some(next),
            None => return Ok(total),
        }
    }
}
