//! Idempotent retries (`X-Idempotency-Key`, migration V15): a request sent again with its key gets
//! the first answer, and its change happens once.
//!
//! Two ways in, one table. A write that runs as a shard job ([`KeyedWrite`]) inserts the key first
//! in its own transaction, makes the change and records the answer beside it: change and answer
//! commit together or not at all, and a duplicate running meanwhile — on this daemon (later in the
//! same chain) or another (its insert waits on the unique index) — finds the answer instead of
//! running. A request whose effects are not one shard job (pre-trade checks, prepare, test orders)
//! claims its key first ([`claim`]), runs, then records its answer ([`record`]); a duplicate waits
//! for that answer, and a claim whose daemon died is taken over once stale.

use std::time::Duration;

use super::{Store, StoreError, Transaction, TxFn, TxFuture};
use crate::domain::{IdempotencyKey, UserId};

/// One request's key: caller, route, key and the fingerprint of what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    pub user_id: UserId,
    /// The route's path pattern, e.g. `/positions/close`.
    pub route: &'static str,
    pub key: IdempotencyKey,
    /// A digest of the request as sent (route, query, body): the same key with other content is refused.
    pub fingerprint: Vec<u8>,
}

/// An answer as sent and recorded: status and body bytes (always JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl StoredAnswer {
    /// 5xx answers are not recorded: a retry runs again.
    pub fn is_recorded(&self) -> bool {
        self.status < 500
    }
}

/// What a keyed request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyed<T> {
    /// It ran now, with this output; `StoredAnswer` is its answer (recorded unless 5xx).
    Fresh(T, StoredAnswer),
    /// It ran before: the answer recorded then.
    Replayed(StoredAnswer),
    /// The key was used before with another request.
    Reused,
    /// The first request with this key is still running (its claim is not stale yet).
    InProgress,
}

impl<T> Keyed<T> {
    /// The same outcome without the output (what a caller that only answers needs).
    pub fn answer_only(self) -> Keyed<()> {
        match self {
            Keyed::Fresh(_, answer) => Keyed::Fresh((), answer),
            Keyed::Replayed(answer) => Keyed::Replayed(answer),
            Keyed::Reused => Keyed::Reused,
            Keyed::InProgress => Keyed::InProgress,
        }
    }
}

/// A shard job's write run under a key; `render` is the answer the caller will send for its output.
pub struct KeyedWrite<I, T> {
    pub request: KeyedRequest,
    pub input: I,
    pub write: TxFn<I, T>,
    pub render: fn(&T) -> StoredAnswer,
}

/// Inserts the key, or learns the earlier answer; the insert of a key another transaction holds
/// uncommitted waits for it.
const INSERT_KEY: &str = "INSERT INTO idempotency_keys (user_id, route, key, request_hash) VALUES ($1, $2, $3, $4) \
                          ON CONFLICT DO NOTHING RETURNING true";
const READ_KEY: &str = "SELECT request_hash, answer_status, answer_body FROM idempotency_keys \
                        WHERE user_id = $1 AND route = $2 AND key = $3";
const RECORD_ANSWER: &str = "UPDATE idempotency_keys SET answer_status = $4, answer_body = $5 \
                             WHERE user_id = $1 AND route = $2 AND key = $3";
const FORGET_KEY: &str = "DELETE FROM idempotency_keys WHERE user_id = $1 AND route = $2 AND key = $3";
/// A claim for a request not yet answered: a new key, or a stale claim of the same request whose
/// daemon did not answer in time (taken over).
const CLAIM_KEY: &str =
    "INSERT INTO idempotency_keys AS k (user_id, route, key, request_hash) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (user_id, route, key) DO UPDATE SET claimed_at = now() \
                         WHERE k.answer_status IS NULL AND k.request_hash = EXCLUDED.request_hash \
                           AND k.claimed_at < now() - make_interval(secs => $5) \
                         RETURNING true";
/// At most `$2` keys older than `$1` days, oldest first.
const EXPIRE_KEYS: &str = "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY( \
                             SELECT ctid FROM idempotency_keys \
                             WHERE created_at < now() - make_interval(days => $1) \
                             ORDER BY created_at LIMIT $2))";

/// The earlier request's row, judged against this one.
fn judge_existing<T>(row: Option<tokio_postgres::Row>, fingerprint: &[u8]) -> Result<Keyed<T>, tokio_postgres::Error> {
    let Some(row) = row else {
        // Removed between our insert and our read (expired or released): it ran to no answer.
        return Ok(Keyed::InProgress);
    };
    if row.try_get::<_, &[u8]>("request_hash")? != fingerprint {
        return Ok(Keyed::Reused);
    }
    Ok(match row.try_get::<_, Option<i16>>("answer_status")? {
        Some(status) => Keyed::Replayed(StoredAnswer {
            status: status as u16,
            body: row.try_get::<_, Option<Vec<u8>>>("answer_body")?.unwrap_or_default(),
        }),
        None => Keyed::InProgress,
    })
}

/// The shard job of a [`KeyedWrite`]: key, change and answer in the batch's transaction.
pub fn run_keyed<'a, I, T>(tx: &'a Transaction<'a>, w: &'a KeyedWrite<I, T>) -> TxFuture<'a, Keyed<T>>
where
    I: Send + Sync + 'static,
    T: Send + 'static,
{
    Box::pin(async move {
        let r = &w.request;
        let key = r.key.as_str();
        let insert = tx.prepare_cached(INSERT_KEY).await?;
        if tx
            .query_opt(&insert, &[&r.user_id, &r.route, &key, &r.fingerprint])
            .await?
            .is_none()
        {
            let read = tx.prepare_cached(READ_KEY).await?;
            let row = tx.query_opt(&read, &[&r.user_id, &r.route, &key]).await?;
            return judge_existing(row, &r.fingerprint);
        }
        let output = (w.write)(tx, &w.input).await?;
        let answer = (w.render)(&output);
        record_in(tx, r, &answer).await?;
        Ok(Keyed::Fresh(output, answer))
    })
}

async fn record_in(tx: &Transaction<'_>, r: &KeyedRequest, answer: &StoredAnswer) -> Result<(), tokio_postgres::Error> {
    let key = r.key.as_str();
    if answer.is_recorded() {
        let stmt = tx.prepare_cached(RECORD_ANSWER).await?;
        let status = answer.status as i16;
        tx.execute(&stmt, &[&r.user_id, &r.route, &key, &status, &answer.body])
            .await?;
    } else {
        forget_in(tx, r).await?;
    }
    Ok(())
}

async fn forget_in(tx: &Transaction<'_>, r: &KeyedRequest) -> Result<(), tokio_postgres::Error> {
    let stmt = tx.prepare_cached(FORGET_KEY).await?;
    tx.execute(&stmt, &[&r.user_id, &r.route, &r.key.as_str()]).await?;
    Ok(())
}

/// Claims the key for a request about to run (outside a shard job): `None` means run it, then
/// [`record`] its answer; otherwise what the earlier request with this key left. A claim older
/// than `stale_after` with no answer (its daemon died) is taken over.
pub async fn claim(store: &Store, r: &KeyedRequest, stale_after: Duration) -> Result<Option<Keyed<()>>, StoreError> {
    let client = store.reader().await?;
    let key = r.key.as_str();
    let stmt = client.prepare_cached(CLAIM_KEY).await?;
    let stale = stale_after.as_secs_f64();
    if client
        .query_opt(&stmt, &[&r.user_id, &r.route, &key, &r.fingerprint, &stale])
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let read = client.prepare_cached(READ_KEY).await?;
    let row = client.query_opt(&read, &[&r.user_id, &r.route, &key]).await?;
    Ok(Some(judge_existing(row, &r.fingerprint)?))
}

/// Releases a claim whose request answered 5xx, so a retry runs again.
pub async fn release(store: &Store, r: &KeyedRequest) -> Result<(), StoreError> {
    let client = store.reader().await?;
    Ok(forget_in(&Transaction::new(&client), r).await?)
}

/// Records the answer of a claimed request (or releases the claim for a 5xx answer, so a retry
/// runs). Each statement commits on its own.
pub async fn record(store: &Store, r: &KeyedRequest, answer: &StoredAnswer) -> Result<(), StoreError> {
    let client = store.reader().await?;
    Ok(record_in(&Transaction::new(&client), r, answer).await?)
}

/// Removes at most `limit` keys older than `max_age_days`; how many went.
pub async fn expire(store: &Store, max_age_days: i32, limit: i64) -> Result<u64, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(EXPIRE_KEYS).await?;
    Ok(client.execute(&stmt, &[&max_age_days, &limit]).await?)
}

impl Store {
    /// Runs a keyed write as a shard job (see [`run_keyed`]).
    pub async fn write_keyed<I, T>(
        &self,
        shard_key: super::ShardKey,
        lock_user: Option<UserId>,
        write: KeyedWrite<I, T>,
    ) -> Result<Keyed<T>, StoreError>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
    {
        self.write(shard_key, lock_user, write, run_keyed::<I, T>).await
    }
}
