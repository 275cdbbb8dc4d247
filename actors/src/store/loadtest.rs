//! Load-test seeding: many traders at once, all sharing one password hash, in one transaction.
//! Only the `crypto-saas loadtest seed-users` command uses it (which refuses non-test domains).

use super::audit::{self, AuditEvent};
use super::{Transaction, TxFuture};

/// Rows per INSERT statement, so no single statement runs into the statement timeout.
const CHUNK: usize = 5_000;

/// What seeding needs: the emails (already checked by the caller) and one argon2 hash.
pub struct SeedTraders {
    pub emails: Vec<String>,
    pub password_hash: String,
}

/// Creates every email not yet taken as a trader with its trading row; returns how many were
/// created (emails already present are left untouched). One audit event records the batch.
pub fn seed_traders<'a>(tx: &'a Transaction<'a>, input: &'a SeedTraders) -> TxFuture<'a, u64> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(
                "WITH created AS ( \
                   INSERT INTO users (email, password_hash, role) \
                   SELECT e, $2, 'trader' FROM unnest($1::text[]) AS e \
                   ON CONFLICT DO NOTHING RETURNING id) \
                 INSERT INTO trading_state (user_id) SELECT id FROM created",
            )
            .await?;
        let mut created = 0;
        for chunk in input.emails.chunks(CHUNK) {
            created += tx.execute(&stmt, &[&chunk, &input.password_hash]).await?;
        }
        let event = AuditEvent::new(None, "loadtest.seed_users").details(serde_json::json!({
            "requested": input.emails.len(),
            "created": created,
            "first": input.emails.first(),
            "last": input.emails.last(),
        }));
        audit::record(tx, &event).await?;
        Ok(created)
    })
}
