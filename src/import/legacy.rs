//! Reading the old service's database: one binary `COPY … TO STDOUT` per table, streamed row by
//! row (a million-row table is never held in memory), plus the checks that need only that side.

use anyhow::Context;
use futures::Stream;
use tokio_postgres::binary_copy::{BinaryCopyOutRow, BinaryCopyOutStream};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};

use super::ImportError;

/// One table of the old database as the importer reads it: the query and its column types.
pub struct LegacyTable {
    /// The old table's name (how the summary and errors name it).
    pub name: &'static str,
    pub query: &'static str,
    pub types: &'static [Type],
}

/// Users with their 2FA row (the new schema keeps both in `users`).
pub const USERS: LegacyTable = LegacyTable {
    name: "users",
    query: "SELECT u.id::text, u.email::text, u.hashed_password::text, u.role::text, t.secret::text, t.enabled \
            FROM users u LEFT JOIN user_two_factor t ON t.user_id = u.id",
    types: &[Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::BOOL],
};

pub const EXCHANGE_SECRETS: LegacyTable = LegacyTable {
    name: "exchange_secret",
    query: "SELECT id::text, user_id::text, exchange::text, api_key_encrypted, api_secret_encrypted, created_at, updated_at \
            FROM exchange_secret",
    types: &[
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ],
};

pub const ASSIGNMENTS: LegacyTable = LegacyTable {
    name: "strategy_assignment",
    query: "SELECT id::text, user_id::text, exchange::text, strategy_id::text, enabled, created_at, updated_at \
            FROM strategy_assignment",
    types: &[
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ],
};

pub const SIGNALS: LegacyTable = LegacyTable {
    name: "signals",
    query: "SELECT id::text, user_id::text, symbol::text, module::text, base_risk_percent, entry_price, stop_loss, \
            take_profit, status::text, reason_codes, created_at, updated_at FROM signals",
    types: &[
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ],
};

pub const POSITIONS: LegacyTable = LegacyTable {
    name: "positions",
    query: "SELECT id::text, user_id::text, signal_id::text, symbol::text, side::text, qty, entry_price, stop_loss, \
            take_profit, status::text, opened_at, closed_at, realized_pnl, fees FROM positions",
    types: &[
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::FLOAT8,
        Type::FLOAT8,
    ],
};

pub const DAILY_RISK: LegacyTable = LegacyTable {
    name: "daily_risk_state",
    query: "SELECT id::text, user_id::text, day, trades_today, realized_pnl_today FROM daily_risk_state",
    types: &[Type::TEXT, Type::TEXT, Type::DATE, Type::INT4, Type::FLOAT8],
};

pub const AUDIT: LegacyTable = LegacyTable {
    name: "audit_log",
    query: "SELECT id::text, user_id::text, action::text, entity_type::text, entity_id::text, details, created_at \
            FROM audit_log",
    types: &[
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
    ],
};

/// The old database, read in one repeatable-read snapshot so every table is seen at one instant
/// even while the old service keeps running.
pub struct LegacyDb {
    client: Client,
    driver: tokio::task::JoinHandle<()>,
}

impl LegacyDb {
    pub async fn open(url: &str) -> anyhow::Result<LegacyDb> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .context("cannot connect to the old service's database (--from / LEGACY_DATABASE_URL)")?;
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "the connection to the old database ended");
            }
        });
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .context("opening a snapshot of the old database")?;
        Ok(LegacyDb { client, driver })
    }

    /// The rows of `table`, streamed.
    pub async fn rows(
        &self,
        table: &LegacyTable,
    ) -> anyhow::Result<impl Stream<Item = Result<BinaryCopyOutRow, tokio_postgres::Error>>> {
        let sql = format!("COPY ({}) TO STDOUT (FORMAT binary)", table.query);
        let stream = self
            .client
            .copy_out(sql.as_str())
            .await
            .with_context(|| format!("reading {} from the old database", table.name))?;
        Ok(BinaryCopyOutStream::new(stream, table.types))
    }

    /// The number of 2FA rows (they are read with their users).
    pub async fn two_factor_rows(&self) -> anyhow::Result<u64> {
        let row = self
            .client
            .query_one("SELECT count(*) FROM user_two_factor", &[])
            .await
            .context("reading user_two_factor from the old database")?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// A 2FA row whose user does not exist would be lost silently: it stops the import instead.
    pub async fn check_two_factor_users(&self) -> anyhow::Result<()> {
        let orphan = self
            .client
            .query_opt(
                "SELECT t.user_id::text FROM user_two_factor t \
                 WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id) LIMIT 1",
                &[],
            )
            .await
            .context("reading user_two_factor from the old database")?;
        match orphan {
            Some(row) => Err(ImportError::row(
                "user_two_factor",
                row.get::<_, String>(0),
                "its user is not in the old users table",
            )
            .into()),
            None => Ok(()),
        }
    }

    /// Ends the snapshot and the connection.
    pub async fn close(self) {
        let _ = self.client.batch_execute("COMMIT").await;
        drop(self.client);
        let _ = self.driver.await;
    }
}
