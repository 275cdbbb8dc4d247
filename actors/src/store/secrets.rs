//! Encrypted exchange credentials: upsert (refused when the exchange is disabled), list, delete,
//! load-and-decrypt, and re-encryption of every row in one transaction — which re-encrypts the
//! users' sealed TOTP secrets too (and seals any still in plaintext).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::audit::{self, AuditEvent};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::crypto::{
    self, associated_data, totp_associated_data, Credentials, CryptoError, Field, KeyMaterial, KeyRing, SealedTotp,
    SecretText,
};
use crate::domain::{Exchange, UserId};
use crate::refusals::{ExecutionRefused, Failure, SecretRefused};

/// Sealed credentials ready to store (encryption happens before the write).
#[derive(Debug, Clone)]
pub struct UpsertSecret {
    pub user_id: UserId,
    pub exchange: Exchange,
    pub key_id: String,
    pub api_key_enc: String,
    pub api_secret_enc: String,
}

/// Seals a credential pair with the newest key of the ring.
pub fn seal(
    ring: &KeyRing,
    user_id: UserId,
    exchange: Exchange,
    creds: &Credentials,
) -> Result<UpsertSecret, CryptoError> {
    Ok(UpsertSecret {
        user_id,
        exchange,
        key_id: ring.newest_id().to_string(),
        api_key_enc: ring.encrypt(
            creds.api_key.expose(),
            &associated_data(user_id, exchange, Field::ApiKey),
        )?,
        api_secret_enc: ring.encrypt(
            creds.api_secret.expose(),
            &associated_data(user_id, exchange, Field::ApiSecret),
        )?,
    })
}

/// Upserts unless an assignment disables the exchange for the user; audits either way.
pub fn upsert<'a>(tx: &'a Transaction<'a>, cmd: &'a UpsertSecret) -> TxFuture<'a, Result<(), SecretRefused>> {
    Box::pin(async move {
        let ex = cmd.exchange.as_str();
        let stmt = tx
            .prepare_cached("SELECT enabled FROM strategy_assignments WHERE user_id = $1 AND exchange = $2 FOR SHARE")
            .await?;
        let enabled = match tx.query_opt(&stmt, &[&cmd.user_id, &ex]).await? {
            Some(row) => row.try_get::<_, bool>(0)?,
            None => true,
        };
        if !enabled {
            let event = super::strategy::blocked_event(
                cmd.user_id,
                "exchange.secret.upsert.blocked",
                cmd.exchange,
                "/users/exchange-secrets",
            );
            audit::record(tx, &event).await?;
            return Ok(Err(SecretRefused::ExchangeDisabled(cmd.exchange)));
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO exchange_secrets (user_id, exchange, key_id, api_key_enc, api_secret_enc) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (user_id, exchange) DO UPDATE SET key_id = EXCLUDED.key_id, \
                   api_key_enc = EXCLUDED.api_key_enc, api_secret_enc = EXCLUDED.api_secret_enc, \
                   sealed_for = NULL, updated_at = now()",
            )
            .await?;
        tx.execute(
            &stmt,
            &[&cmd.user_id, &ex, &cmd.key_id, &cmd.api_key_enc, &cmd.api_secret_enc],
        )
        .await?;
        let event = AuditEvent::new(Some(cmd.user_id), "exchange.secret.upsert")
            .entity("exchange_secret", ex)
            .details(json!({ "exchange": ex, "key_id": cmd.key_id }));
        audit::record(tx, &event).await?;
        Ok(Ok(()))
    })
}

#[derive(Debug, Clone)]
pub struct DeleteSecret {
    pub user_id: UserId,
    pub exchange: Exchange,
}

/// Deletes the user's credentials for an exchange.
pub fn delete<'a>(tx: &'a Transaction<'a>, cmd: &'a DeleteSecret) -> TxFuture<'a, Result<(), SecretRefused>> {
    Box::pin(async move {
        let ex = cmd.exchange.as_str();
        let stmt = tx
            .prepare_cached("DELETE FROM exchange_secrets WHERE user_id = $1 AND exchange = $2")
            .await?;
        if tx.execute(&stmt, &[&cmd.user_id, &ex]).await? == 0 {
            return Ok(Err(SecretRefused::NotFound));
        }
        let event = AuditEvent::new(Some(cmd.user_id), "exchange.secret.delete")
            .entity("exchange_secret", ex)
            .details(json!({ "exchange": ex }));
        audit::record(tx, &event).await?;
        Ok(Ok(()))
    })
}

/// One configured exchange of a user (never the key or secret).
#[derive(Debug, Clone)]
pub struct SecretStatus {
    pub exchange: Exchange,
    pub updated_at: DateTime<Utc>,
}

pub async fn list(store: &Store, user_id: UserId) -> Result<Vec<SecretStatus>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached("SELECT exchange, updated_at FROM exchange_secrets WHERE user_id = $1 ORDER BY exchange")
        .await?;
    let rows = client.query(&stmt, &[&user_id]).await?;
    let status = |r: &tokio_postgres::Row| -> Result<SecretStatus, tokio_postgres::Error> {
        Ok(SecretStatus {
            exchange: r.try_get(0)?,
            updated_at: r.try_get(1)?,
        })
    };
    Ok(rows.iter().map(status).collect::<Result<_, _>>()?)
}

/// Whom a stored row was sealed for: its user, or the integer id its user had before V9.
fn sealed_owner(user_id: UserId, sealed_for: Option<String>) -> String {
    sealed_for.unwrap_or_else(|| user_id.to_string())
}

/// Loads and decrypts the caller's credentials: refused as missing when there are none, as
/// undecryptable (without details) when the key ring cannot open them.
pub async fn load(
    store: &Store,
    ring: &KeyRing,
    user_id: UserId,
    exchange: Exchange,
) -> Result<Credentials, Failure<ExecutionRefused>> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(
            "SELECT api_key_enc, api_secret_enc, sealed_for FROM exchange_secrets WHERE user_id = $1 AND exchange = $2",
        )
        .await
        .map_err(StoreError::from)?;
    let row = client
        .query_opt(&stmt, &[&user_id, &exchange])
        .await
        .map_err(StoreError::from)?
        .ok_or(Failure::Refused(ExecutionRefused::MissingCredentials(exchange)))?;
    let owner = sealed_owner(user_id, row.try_get(2).map_err(StoreError::from)?);
    let open = |column: usize, field: Field| {
        let sealed: &str = row.try_get(column).map_err(StoreError::from)?;
        ring.decrypt(sealed, &associated_data(&owner, exchange, field))
            .map_err(|e| {
                tracing::error!(%user_id, exchange = exchange.as_str(), field = field.as_str(), error = %e, "stored credentials do not decrypt");
                Failure::Refused(ExecutionRefused::Undecryptable(exchange))
            })
    };
    Ok(Credentials {
        api_key: open(0, Field::ApiKey)?,
        api_secret: open(1, Field::ApiSecret)?,
    })
}

/// Which key opens the rows during a re-encryption.
#[derive(Debug, Clone)]
pub enum OpenWith {
    /// The key each row is tagged with, from the ring (key-ring rotation).
    Ring,
    /// One explicit key for every row, whatever its tag (the contract's `old_key`).
    Key(KeyMaterial),
}

impl OpenWith {
    fn open(&self, ring: &KeyRing, sealed: &str, aad: &[u8]) -> Result<SecretText, CryptoError> {
        match self {
            OpenWith::Ring => ring.decrypt(sealed, aad),
            OpenWith::Key(key) => crypto::open_with(key, sealed, aad),
        }
    }
}

/// Moves every row to `new_key` (tagged `new_key_id`), in the one transaction of this job.
#[derive(Debug, Clone)]
pub struct Reencrypt {
    pub ring: Arc<KeyRing>,
    pub open_with: OpenWith,
    pub new_key_id: String,
    pub new_key: KeyMaterial,
    pub dry_run: bool,
    /// Skip rows already sealed with `new_key_id` (key-ring rotation).
    pub skip_current: bool,
    /// Who asked (an admin), for the audit event; `None` from the CLI.
    pub actor_id: Option<UserId>,
    pub audit_action: &'static str,
}

/// Counts of exchange-secret rows (the contract's fields) and, apart, of TOTP secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReencryptReport {
    pub scanned: i64,
    pub updated: i64,
    /// Rows that did not open with the given key (left as they were).
    pub failed: i64,
    pub totp: TotpCounts,
}

/// The users' TOTP secrets a re-encryption saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TotpCounts {
    pub scanned: i64,
    /// Moved to the new key, plaintext ones included.
    pub updated: i64,
    /// Of those updated, how many were still plaintext.
    pub plaintext: i64,
    /// Did not open with the given key (left as they were).
    pub failed: i64,
}

pub fn reencrypt<'a>(tx: &'a Transaction<'a>, cmd: &'a Reencrypt) -> TxFuture<'a, ReencryptReport> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(
                "SELECT user_id, exchange, key_id, api_key_enc, api_secret_enc, sealed_for FROM exchange_secrets \
                 ORDER BY user_id, exchange FOR UPDATE",
            )
            .await?;
        let rows = tx.query(&stmt, &[]).await?;
        let update = tx
            .prepare_cached(
                "UPDATE exchange_secrets SET key_id = $3, api_key_enc = $4, api_secret_enc = $5, sealed_for = NULL \
                 WHERE user_id = $1 AND exchange = $2",
            )
            .await?;
        let mut report = ReencryptReport {
            scanned: rows.len() as i64,
            updated: 0,
            failed: 0,
            totp: TotpCounts::default(),
        };
        for row in &rows {
            let user_id: UserId = row.try_get(0)?;
            let exchange: Exchange = row.try_get(1)?;
            let key_id: &str = row.try_get(2)?;
            if cmd.skip_current && key_id == cmd.new_key_id {
                continue;
            }
            let sealed_key: &str = row.try_get(3)?;
            let sealed_secret: &str = row.try_get(4)?;
            let owner = sealed_owner(user_id, row.try_get(5)?);
            let resealed = (|| -> Result<(String, String), CryptoError> {
                let mut out = Vec::with_capacity(2);
                for (sealed, field) in [(sealed_key, Field::ApiKey), (sealed_secret, Field::ApiSecret)] {
                    let aad = associated_data(&owner, exchange, field);
                    let plain = cmd.open_with.open(&cmd.ring, sealed, &aad)?;
                    let new_aad = associated_data(user_id, exchange, field);
                    out.push(crypto::seal(&cmd.new_key_id, &cmd.new_key, plain.expose(), &new_aad)?);
                }
                let secret = out.pop().unwrap_or_default();
                let key = out.pop().unwrap_or_default();
                Ok((key, secret))
            })();
            match resealed {
                Ok((key_enc, secret_enc)) => {
                    if !cmd.dry_run {
                        tx.execute(&update, &[&user_id, &exchange, &cmd.new_key_id, &key_enc, &secret_enc])
                            .await?;
                    }
                    report.updated += 1;
                }
                Err(e) => {
                    tracing::warn!(%user_id, exchange = exchange.as_str(), error = %e, "secret not re-encrypted");
                    report.failed += 1;
                }
            }
        }
        report.totp = reencrypt_totp(tx, cmd).await?;
        let event = AuditEvent::new(cmd.actor_id, cmd.audit_action)
            .entity("exchange_secrets", "*")
            .details(json!({
                "dry_run": cmd.dry_run,
                "scanned": report.scanned,
                "updated": report.updated,
                "failed": report.failed,
                "new_key_id": cmd.new_key_id,
                "totp_secrets": {
                    "scanned": report.totp.scanned,
                    "updated": report.totp.updated,
                    "plaintext": report.totp.plaintext,
                    "failed": report.totp.failed,
                },
            }));
        audit::record(tx, &event).await?;
        Ok(report)
    })
}

/// The TOTP half of [`reencrypt`], in its transaction: every sealed secret moves to the new key
/// as the exchange rows do, and a plaintext one (from before sealing) is sealed.
async fn reencrypt_totp(tx: &Transaction<'_>, cmd: &Reencrypt) -> Result<TotpCounts, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL ORDER BY id FOR UPDATE")
        .await?;
    let rows = tx.query(&stmt, &[]).await?;
    let update = tx
        .prepare_cached("UPDATE users SET totp_secret = $2 WHERE id = $1")
        .await?;
    let mut counts = TotpCounts {
        scanned: rows.len() as i64,
        ..TotpCounts::default()
    };
    for row in &rows {
        let user_id: UserId = row.try_get(0)?;
        let stored: &str = row.try_get(1)?;
        let aad = totp_associated_data(user_id);
        let plaintext = !SealedTotp::is_sealed(stored);
        if !plaintext && cmd.skip_current && KeyRing::key_id_of(stored) == Ok(cmd.new_key_id.as_str()) {
            continue;
        }
        let resealed = if plaintext {
            crypto::seal(&cmd.new_key_id, &cmd.new_key, stored.trim(), &aad)
        } else {
            cmd.open_with
                .open(&cmd.ring, stored, &aad)
                .and_then(|plain| crypto::seal(&cmd.new_key_id, &cmd.new_key, plain.expose(), &aad))
        };
        match resealed {
            Ok(sealed) => {
                if !cmd.dry_run {
                    tx.execute(&update, &[&user_id, &sealed]).await?;
                }
                counts.updated += 1;
                counts.plaintext += i64::from(plaintext);
            }
            Err(error) => {
                tracing::warn!(%user_id, %error, "TOTP secret not re-encrypted");
                counts.failed += 1;
            }
        }
    }
    Ok(counts)
}
