//! The Postgres store: a read pool for queries, and persistence shards that own the writes.
//!
//! Every state change is a *job*: a function run inside a transaction. A shard (one task, one
//! connection) takes the jobs queued in its mailbox, runs them in order in ONE transaction and
//! commits once (group commit); each caller gets its answer only after that commit. Jobs are
//! routed by user id, so one user's writes keep their order. Mailboxes are bounded: a full one
//! answers `Unavailable` at once (the HTTP facade turns it into 503 + Retry-After).

pub mod audit;
pub mod audit_queries;
pub mod changes;
pub mod cluster;
pub mod dashboard;
pub mod idempotency;
pub mod loadtest;
pub mod login_failures;
pub mod risk;
pub mod risk_profiles;
pub mod risk_settings;
pub mod secrets;
pub mod security;
pub mod sessions;
mod shard;
pub mod strategy;
pub mod summary;
pub mod tick_suspects;
pub mod trading;
pub mod trading_control;
pub mod two_factor;
mod tx;
pub mod user_cache;
pub mod users;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::domain::UserId;

pub use shard::ShardStats;
pub use tx::Transaction;

/// Which shard runs a write, and which writes it keeps in order: one user's writes run in the
/// order they were queued; writes of different users run side by side in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardKey {
    /// A write about one user.
    User(UserId),
    /// A write about no user yet (a registration): these keep their order among themselves.
    Unowned,
    /// A write that touches many users' rows (re-encryption, cleanup): it never runs side by side
    /// with other jobs of its batch.
    Exclusive,
}

impl From<UserId> for ShardKey {
    fn from(user_id: UserId) -> Self {
        ShardKey::User(user_id)
    }
}

impl ShardKey {
    fn shard(&self, shards: usize) -> usize {
        match self {
            // The low bits of a UUID are random in every version.
            ShardKey::User(user_id) => (user_id.as_uuid().as_u128() as u64 % shards as u64) as usize,
            ShardKey::Unowned | ShardKey::Exclusive => 0,
        }
    }
}

/// What can go wrong below the domain: the database is unreachable/overloaded, or a query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Db(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        // Connection loss, server shutdown, statement timeouts, exhausted connection slots,
        // deadlocks and serialization failures are the database being unavailable (503, retry);
        // anything else — a failed statement, a stored value that does not parse — is a bug (500).
        let transient = match err.as_db_error() {
            Some(db) => {
                let code = db.code().code();
                code.starts_with("08")
                    || code.starts_with("57")
                    || code == "53300"
                    || code == "40001"
                    || code == "40P01"
            }
            None => {
                err.is_closed() || std::error::Error::source(&err).is_some_and(|source| source.is::<std::io::Error>())
            }
        };
        if transient {
            StoreError::Unavailable(err.to_string())
        } else {
            StoreError::Db(err.to_string())
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

/// The future a job returns; it may borrow the transaction and its input.
pub type TxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'a>>;

/// A write: runs inside the shard's transaction, may run again if its batch had to be retried.
pub type TxFn<I, T> = for<'a> fn(&'a Transaction<'a>, &'a I) -> TxFuture<'a, T>;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub database_url: String,
    pub read_pool_size: usize,
    pub shards: usize,
    pub mailbox_capacity: usize,
    pub max_batch: usize,
    /// How long a request may wait for a connection before it is refused with 503.
    pub acquire_timeout: Duration,
    /// Server-side limit on one statement, so a stuck database turns into errors, not hangs.
    pub statement_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            database_url: String::new(),
            read_pool_size: 16,
            shards: 4,
            mailbox_capacity: 2048,
            max_batch: 256,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// Builds a pool whose connections carry the statement timeout and a UTC session zone, with
/// Postgres' JIT compilation off: the dashboard's set-based statements cross `jit_above_cost` on
/// row estimates alone and then spent ~40 ms compiling code that runs in less (measured on a
/// 10,000-user database); nothing this service runs is long enough to repay it.
/// `generic_plans` makes Postgres plan each prepared statement once per connection instead of
/// re-planning it for each execution's parameters: right for the shards' short, index-keyed
/// statements. The read pool keeps Postgres' default; its aggregates whose plans depend on the
/// parameters run as unnamed statements, planned each time (store/dashboard.rs).
fn build_pool(
    cfg: &StoreConfig,
    size: usize,
    generic_plans: bool,
    runtime: tokio::runtime::Handle,
) -> Result<Pool, StoreError> {
    let mut pg: tokio_postgres::Config = cfg
        .database_url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Db(format!("invalid DATABASE_URL: {e}")))?;
    pg.options(format!(
        "-c statement_timeout={} -c TimeZone=UTC -c jit=off{}",
        cfg.statement_timeout.as_millis(),
        if generic_plans {
            " -c plan_cache_mode=force_generic_plan"
        } else {
            ""
        }
    ));
    pg.connect_timeout(cfg.acquire_timeout);
    let manager = Manager::from_connect(
        pg,
        ConnectOnRuntime(runtime),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        // Most recently used first: the connections that served the last requests serve the
        // next ones, so a light load keeps a few Postgres backends busy (warm caches, fewer
        // process switches) instead of rotating through all of them (docs/performance.md).
        .queue_mode(deadpool_postgres::QueueMode::Lifo)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(cfg.acquire_timeout),
            create: Some(cfg.acquire_timeout),
            recycle: Some(cfg.acquire_timeout),
        })
        .build()
        .map_err(|e| StoreError::Db(e.to_string()))
}

/// Opens pool connections on the store's runtime (the daemon's main one), whoever asks first.
/// Opened from an HTTP handler, a connection's socket and protocol task would belong to that
/// worker's runtime, which actix stops once the worker's own connections drain at SIGTERM —
/// failing reads that other workers' in-flight requests are running on it.
struct ConnectOnRuntime(tokio::runtime::Handle);

impl deadpool_postgres::Connect for ConnectOnRuntime {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> BoxFuture<'_, Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>> {
        let pg_config = pg_config.clone();
        let opened = self.0.spawn(async move {
            let (client, connection) = pg_config.connect(tokio_postgres::NoTls).await?;
            let driver = tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::warn!(error = %err, "database connection ended");
                }
            });
            Ok((client, driver))
        });
        Box::pin(async move {
            match opened.await {
                Ok(result) => result,
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                // The runtime is shutting down: no connection comes; the pool's create
                // timeout answers the caller (503).
                Err(_) => std::future::pending().await,
            }
        })
    }
}

/// The handle every actor and handler holds: cheap to clone.
#[derive(Clone)]
pub struct Store {
    read: Pool,
    shards: Arc<[mpsc::Sender<Box<dyn shard::Job>>]>,
    stats: Arc<[ShardStats]>,
}

impl Store {
    /// Starts the shards (each with its own connection) and the read pool. Must run in a Tokio runtime.
    pub fn start(cfg: &StoreConfig) -> Result<Store, StoreError> {
        let runtime = tokio::runtime::Handle::current();
        let read = build_pool(cfg, cfg.read_pool_size, false, runtime.clone())?;
        let write_pool = build_pool(cfg, cfg.shards.max(1), true, runtime)?;
        let mut senders = Vec::new();
        let mut stats = Vec::new();
        for index in 0..cfg.shards.max(1) {
            let (tx, rx) = mpsc::channel(cfg.mailbox_capacity);
            let stat = ShardStats::new(cfg.mailbox_capacity);
            tokio::spawn(shard::run(index, write_pool.clone(), rx, cfg.max_batch, stat.clone()));
            senders.push(tx);
            stats.push(stat);
        }
        Ok(Store {
            read,
            shards: senders.into(),
            stats: stats.into(),
        })
    }

    /// The pool for reads (aggregates, lists) and for work that must not queue behind writes.
    pub fn read_pool(&self) -> &Pool {
        &self.read
    }

    /// A client from the read pool; `Unavailable` when none comes in time.
    pub async fn reader(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.read.get().await?)
    }

    pub fn shard_stats(&self) -> &[ShardStats] {
        &self.stats
    }

    /// Runs `f(tx, input)` in the group-commit transaction of the shard for `shard_key`,
    /// answering after the commit. `lock_user` names the user whose
    /// `trading_state` row the batch locks before any job runs (locks are taken in id order,
    /// so two daemons sharing one database cannot deadlock on them).
    pub async fn write<I, T>(
        &self,
        shard_key: ShardKey,
        lock_user: Option<UserId>,
        input: I,
        f: TxFn<I, T>,
    ) -> Result<T, StoreError>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
    {
        self.submit(shard_key, lock_user, input, f)?.await
    }

    /// Queues the write now (so its place in the shard's order is fixed when this returns) and
    /// gives back the future of its committed result.
    pub fn submit<I, T>(
        &self,
        shard_key: ShardKey,
        lock_user: Option<UserId>,
        input: I,
        f: TxFn<I, T>,
    ) -> Result<Committed<T>, StoreError>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(shard::FnJob {
            input,
            f,
            output: None,
            reply: Some(reply),
            lock_user,
            key: shard_key,
        });
        let index = shard_key.shard(self.shards.len());
        self.shards[index].try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Unavailable("write queue full".into()),
            mpsc::error::TrySendError::Closed(_) => StoreError::Unavailable("write shard stopped".into()),
        })?;
        Ok(Committed(answer))
    }
}

/// The committed result of a submitted write.
pub struct Committed<T>(oneshot::Receiver<Result<T, StoreError>>);

impl<T> Future for Committed<T> {
    type Output = Result<T, StoreError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(StoreError::Unavailable("write shard stopped".into()))))
    }
}
