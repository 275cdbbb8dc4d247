//! `crypto-saas import-legacy`: copies the old service's database into this one.
//!
//! * [`legacy`] reads the old tables (one snapshot, binary COPY, streamed);
//! * [`convert`] turns each old row into the new schema's values (UUIDs, exact decimals, names
//!   checked, secrets moved from the old Fernet key to the current key ring);
//! * [`write`] stages them, looks for conflicts and inserts the rows not already there.
//!
//! Everything happens in one transaction of the target database: a conflict, a secret that does
//! not decrypt or any other error rolls it back, so nothing is half-imported; a dry run rolls it
//! back after counting.

mod convert;
mod legacy;
mod write;

use std::fmt;
use std::time::{Duration, Instant};

use actors::crypto::KeyRing;
use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::NoTls;

use convert::{AssignmentRow, AuditRow, PositionRow, RiskRow, SecretRow, SignalRow, Staged, UserRow};

/// A progress line on stderr every this many rows of a table.
const PROGRESS_EVERY: u64 = 250_000;

/// Progress lines on stderr, each with the time since the import started.
#[derive(Clone, Copy)]
pub struct Progress {
    started: Instant,
}

impl Progress {
    pub fn say(&self, what: impl fmt::Display) {
        eprintln!("import-legacy: [{:6.1} s] {what}", self.started.elapsed().as_secs_f64());
    }
}

/// An old row that cannot be imported. The text names the table and the row's id, never a
/// secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} {id}: {problem}")]
pub struct ImportError {
    pub table: &'static str,
    pub id: String,
    pub problem: String,
}

impl ImportError {
    pub fn row(table: &'static str, id: impl Into<String>, problem: impl Into<String>) -> ImportError {
        ImportError {
            table,
            id: id.into(),
            problem: problem.into(),
        }
    }
}

pub struct Options {
    /// The old service's database.
    pub from: SecretString,
    /// The old service's `ENCRYPTION_KEY`.
    pub legacy_key: SecretString,
    pub dry_run: bool,
}

/// One old table's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub table: &'static str,
    pub read: u64,
    pub imported: u64,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub tables: Vec<TableSummary>,
    pub dry_run: bool,
    pub elapsed: Duration,
}

impl Summary {
    pub fn rows_read(&self) -> u64 {
        self.tables.iter().map(|t| t.read).sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would import" } else { "imported" };
        writeln!(f, "{:<22} {:>10} {:>13} {:>14}", "table", "read", verb, "already there")?;
        for t in &self.tables {
            writeln!(
                f,
                "{:<22} {:>10} {:>13} {:>14}",
                t.table,
                t.read,
                t.imported,
                t.read.saturating_sub(t.imported)
            )?;
        }
        let seconds = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "{} rows read in {seconds:.1} s ({:.0} rows/s)",
            self.rows_read(),
            self.rows_read() as f64 / seconds.max(0.001)
        )?;
        if self.dry_run {
            writeln!(f, "dry run: nothing was written")?;
        }
        Ok(())
    }
}

/// Imports the old database into the one at `target_url` (already migrated), sealing exchange
/// secrets under `ring`.
pub async fn run(target_url: &str, ring: &KeyRing, options: &Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let progress = Progress { started };
    let fernet = convert::legacy_fernet(&options.legacy_key);
    let context = convert::Context {
        legacy_fernet: &fernet,
        ring,
        progress,
    };
    let legacy = legacy::LegacyDb::open(options.from.expose_secret()).await?;

    let (mut target, connection) = tokio_postgres::connect(target_url, NoTls)
        .await
        .context("cannot connect to the database named by DATABASE_URL")?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the connection to the target database ended");
        }
    });
    // Staging tables are temporary: larger local buffers keep them in memory; the checks'
    // hash joins and aggregates get memory to match.
    target
        .batch_execute("SET temp_buffers = '512MB'; SET work_mem = '256MB'; SET maintenance_work_mem = '512MB'")
        .await?;
    let tx = target.transaction().await?;

    let mut read = Vec::new();
    read.push(stage::<UserRow>(&legacy, &tx, &context).await?);
    legacy.check_two_factor_users().await?;
    read.push(("user_two_factor", legacy.two_factor_rows().await?));
    read.push(stage::<SecretRow>(&legacy, &tx, &context).await?);
    read.push(stage::<AssignmentRow>(&legacy, &tx, &context).await?);
    read.push(stage::<SignalRow>(&legacy, &tx, &context).await?);
    read.push(stage::<PositionRow>(&legacy, &tx, &context).await?);
    read.push(stage::<RiskRow>(&legacy, &tx, &context).await?);
    read.push(stage::<AuditRow>(&legacy, &tx, &context).await?);
    legacy.close().await;

    progress.say("checking for conflicts");
    write::check(&tx).await?;
    let imported = write::insert(&tx, progress).await?;
    if options.dry_run {
        tx.rollback().await?;
    } else {
        progress.say("committing");
        tx.commit().await.context("committing the import")?;
    }
    drop(target);
    let _ = driver.await;

    let tables = read
        .into_iter()
        .map(|(table, read)| TableSummary {
            table,
            read,
            imported: imported
                .iter()
                .find(|(name, _)| *name == table)
                .map(|(_, n)| *n)
                .unwrap_or(0),
        })
        .collect();
    Ok(Summary {
        tables,
        dry_run: options.dry_run,
        elapsed: started.elapsed(),
    })
}

async fn stage<R: Staged>(
    legacy: &legacy::LegacyDb,
    tx: &tokio_postgres::Transaction<'_>,
    context: &convert::Context<'_>,
) -> anyhow::Result<(&'static str, u64)> {
    Ok((R::LEGACY.name, write::stage::<R>(legacy, tx, context).await?))
}
