//! One persistence shard: a task that owns a connection and commits queued jobs in batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use tokio::sync::{mpsc, oneshot};

use super::{ShardKey, StoreError, Transaction, TxFn, TxFuture};
use crate::domain::UserId;

/// A queued write. `run` may be called more than once (when its batch is retried alone);
/// only `commit` or `fail` answers the caller.
pub(super) trait Job: Send {
    /// The user the write concerns: jobs of one user run in order, others side by side.
    fn key(&self) -> ShardKey;
    fn lock_user(&self) -> Option<UserId>;
    fn run<'a>(&'a mut self, tx: &'a Transaction<'a>) -> TxFuture<'a, ()>;
    fn commit(self: Box<Self>);
    fn fail(self: Box<Self>, err: StoreError);
}

pub(super) struct FnJob<I, T> {
    pub input: I,
    pub f: TxFn<I, T>,
    pub output: Option<T>,
    pub reply: Option<oneshot::Sender<Result<T, StoreError>>>,
    pub lock_user: Option<UserId>,
    pub key: ShardKey,
}

impl<I: Send + Sync + 'static, T: Send + 'static> Job for FnJob<I, T> {
    fn key(&self) -> ShardKey {
        self.key
    }

    fn lock_user(&self) -> Option<UserId> {
        self.lock_user
    }

    fn run<'a>(&'a mut self, tx: &'a Transaction<'a>) -> TxFuture<'a, ()> {
        Box::pin(async move {
            self.output = None;
            let out = (self.f)(tx, &self.input).await?;
            self.output = Some(out);
            Ok(())
        })
    }

    fn commit(mut self: Box<Self>) {
        if let (Some(reply), Some(out)) = (self.reply.take(), self.output.take()) {
            let _ = reply.send(Ok(out));
        }
    }

    fn fail(mut self: Box<Self>, err: StoreError) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(Err(err));
        }
    }
}

/// Counters a shard publishes for `/metrics`.
#[derive(Clone)]
pub struct ShardStats {
    capacity: usize,
    inner: Arc<ShardCounters>,
}

#[derive(Default)]
struct ShardCounters {
    queued: AtomicU64,
    batches: AtomicU64,
    jobs: AtomicU64,
    retried_batches: AtomicU64,
}

impl ShardStats {
    pub(super) fn new(capacity: usize) -> Self {
        ShardStats {
            capacity,
            inner: Arc::default(),
        }
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Jobs waiting in the mailbox right now.
    pub fn queued(&self) -> u64 {
        self.inner.queued.load(Ordering::Relaxed)
    }
    pub fn batches(&self) -> u64 {
        self.inner.batches.load(Ordering::Relaxed)
    }
    pub fn jobs(&self) -> u64 {
        self.inner.jobs.load(Ordering::Relaxed)
    }
    pub fn retried_batches(&self) -> u64 {
        self.inner.retried_batches.load(Ordering::Relaxed)
    }
}

pub(super) async fn run(
    index: usize,
    pool: Pool,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    stats: ShardStats,
) {
    let mut conn: Option<Object> = None;
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.inner.queued.store(rx.len() as u64, Ordering::Relaxed);
        stats.inner.batches.fetch_add(1, Ordering::Relaxed);
        stats.inner.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);

        let client = match connection(&pool, &mut conn).await {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(shard = index, error = %err, "persistence shard has no connection");
                batch.drain(..).for_each(|job| job.fail(err.clone()));
                continue;
            }
        };
        match commit_batch(client, &mut batch).await {
            Ok(()) => batch.drain(..).for_each(|job| job.commit()),
            Err(err) if batch.len() > 1 && !client.is_closed() => {
                // One job broke the shared transaction (or it hit a deadlock with another
                // daemon): run each alone so only the culprit fails.
                stats.inner.retried_batches.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(shard = index, error = %err, size = batch.len(), "batch failed, retrying jobs one by one");
                for job in batch.drain(..) {
                    let mut single = vec![job];
                    match commit_batch(client, &mut single).await {
                        Ok(()) => single.drain(..).for_each(|job| job.commit()),
                        Err(err) => single.drain(..).for_each(|job| job.fail(err.clone())),
                    }
                }
            }
            Err(err) => {
                if matches!(err, StoreError::Unavailable(_)) {
                    conn = None;
                }
                tracing::warn!(shard = index, error = %err, "batch failed");
                batch.drain(..).for_each(|job| job.fail(err.clone()));
            }
        }
        if conn.as_ref().is_some_and(|c| c.is_closed()) {
            conn = None;
        }
    }
}

async fn connection<'c>(pool: &Pool, conn: &'c mut Option<Object>) -> Result<&'c mut Object, StoreError> {
    if conn.as_ref().is_some_and(|c| c.is_closed()) {
        // Its slot goes back before a new one is asked for: the write pool holds one
        // connection per shard, so holding a dead one would wait for itself.
        *conn = None;
    }
    if conn.is_none() {
        *conn = Some(pool.get().await?);
    }
    Ok(conn.as_mut().expect("connection was just set"))
}

/// Locks the `trading_state` rows of the users whose jobs ask for it, in id order.
const LOCK_USERS: &str = "SELECT user_id FROM trading_state WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE";

async fn commit_batch(client: &mut Object, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    let mut lock_ids: Vec<UserId> = batch.iter().filter_map(|job| job.lock_user()).collect();
    lock_ids.sort_unstable();
    lock_ids.dedup();
    // Prepared before BEGIN goes out, so the lock is the first statement the transaction runs
    // (a first-time `Parse` inside the pipeline could let a job's statement overtake it).
    let lock = match lock_ids.is_empty() {
        true => None,
        false => Some((client.prepare_cached(LOCK_USERS).await?, lock_ids)),
    };
    match run_jobs(client, lock, batch).await {
        Ok(()) => Ok(client.batch_execute("COMMIT").await?),
        Err(err) => {
            // A broken connection fails this too; the shard then replaces the connection.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(err.into())
        }
    }
}

/// Sends `BEGIN`, the lock and the jobs back to back: Postgres runs them in that order, and no
/// round trip is spent waiting for `BEGIN` or the lock to be answered before the jobs start.
async fn run_jobs(
    client: &Object,
    lock: Option<(tokio_postgres::Statement, Vec<UserId>)>,
    batch: &mut [Box<dyn Job>],
) -> Result<(), tokio_postgres::Error> {
    let tx = Transaction::new(client);
    let begin = client.batch_execute("BEGIN");
    let lock = async {
        if let Some((stmt, ids)) = &lock {
            client.query(stmt, &[ids]).await?;
        }
        Ok(())
    };
    // One chain per user, in queue order; the chains run side by side, so their statements
    // are pipelined on the connection instead of waiting for each other's round trips. A job
    // keyed `Exclusive` (it touches many users' rows) runs alone between what came before and
    // what comes after it.
    let jobs = async {
        let mut segment: Vec<(ShardKey, Vec<&mut Box<dyn Job>>)> = Vec::new();
        for job in batch.iter_mut() {
            let key = job.key();
            if key == ShardKey::Exclusive {
                run_chains(&tx, std::mem::take(&mut segment)).await?;
                job.run(&tx).await?;
                continue;
            }
            match segment.iter_mut().find(|(k, _)| *k == key) {
                Some((_, chain)) => chain.push(job),
                None => segment.push((key, vec![job])),
            }
        }
        run_chains(&tx, segment).await
    };
    // `try_join!` polls in argument order, so the three are sent in this order.
    futures::try_join!(begin, lock, jobs)?;
    Ok(())
}

async fn run_chains(
    tx: &Transaction<'_>,
    chains: Vec<(ShardKey, Vec<&mut Box<dyn Job>>)>,
) -> Result<(), tokio_postgres::Error> {
    futures::future::try_join_all(chains.into_iter().map(|(_, chain)| async move {
        for job in chain {
            job.run(tx).await?;
        }
        Ok::<(), tokio_postgres::Error>(())
    }))
    .await?;
    Ok(())
}
