//! The connection a job runs on: a shard's connection inside the batch's open transaction.
//!
//! Not `tokio_postgres::Transaction`: that one waits for `BEGIN` to be answered before the
//! first statement can be sent. The shard sends `BEGIN`, the batch's lock and the jobs' first
//! statements back to back (Postgres runs them in order), so a batch spends one round trip
//! fewer per step than it would waiting on each.

use deadpool_postgres::ClientWrapper;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row, Statement, ToStatement};

/// What a job may do inside the batch transaction. The shard owns `BEGIN`/`COMMIT`/`ROLLBACK`.
pub struct Transaction<'a> {
    client: &'a ClientWrapper,
}

impl<'a> Transaction<'a> {
    pub(super) fn new(client: &'a ClientWrapper) -> Self {
        Transaction { client }
    }

    /// A prepared statement from the connection's cache (one `Parse` round trip the first time).
    pub async fn prepare_cached(&self, query: &str) -> Result<Statement, Error> {
        self.client.prepare_cached(query).await
    }

    pub async fn query<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.client.query(statement, params).await
    }

    pub async fn query_one<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        self.client.query_one(statement, params).await
    }

    pub async fn query_opt<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.client.query_opt(statement, params).await
    }

    pub async fn execute<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        self.client.execute(statement, params).await
    }
}
