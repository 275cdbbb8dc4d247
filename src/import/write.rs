//! Writing into the target database, all in one transaction: every old table is streamed by
//! binary COPY into a temporary staging table, every conflict is looked for with set-based
//! queries, and only then does each table take its new rows with one `INSERT … SELECT … ON
//! CONFLICT DO NOTHING` (rows already there are left as they are).

use anyhow::Context as _;
use futures::{pin_mut, StreamExt};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use super::convert::{Context, Row, Staged};
use super::legacy::LegacyDb;
use super::{ImportError, Progress, PROGRESS_EVERY};

/// Creates `R`'s staging table and streams the old table into it; returns the rows read.
pub async fn stage<R: Staged>(legacy: &LegacyDb, tx: &Transaction<'_>, context: &Context<'_>) -> anyhow::Result<u64> {
    let table = R::LEGACY.name;
    let columns: Vec<String> = R::COLUMNS
        .iter()
        .map(|(name, ty)| format!("{name} {}", ty.name()))
        .collect();
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP",
        R::STAGING,
        columns.join(", ")
    ))
    .await
    .with_context(|| format!("creating the staging table for {table}"))?;
    let sink = tx
        .copy_in(format!("COPY {} FROM STDIN (FORMAT binary)", R::STAGING).as_str())
        .await
        .with_context(|| format!("staging {table}"))?;
    let types: Vec<Type> = R::COLUMNS.iter().map(|(_, ty)| ty.clone()).collect();
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let rows = legacy.rows(R::LEGACY).await?;
    pin_mut!(rows);
    let mut count = 0u64;
    while let Some(raw) = rows.next().await {
        let raw = raw.with_context(|| format!("reading {table} from the old database"))?;
        let converted = R::convert(&Row::new(table, &raw), context)?;
        writer
            .as_mut()
            .write(&converted.values())
            .await
            .with_context(|| format!("staging {table}"))?;
        count += 1;
        if count.is_multiple_of(PROGRESS_EVERY) {
            context.progress.say(format_args!("{table}: {count} rows read"));
        }
    }
    writer.finish().await.with_context(|| format!("staging {table}"))?;
    // Temporary tables are never analysed automatically; the checks' joins need the row counts.
    tx.batch_execute(&format!("ANALYZE {}", R::STAGING)).await?;
    context.progress.say(format_args!("{table}: {count} rows staged"));
    Ok(count)
}

/// One conflict query: it answers the offending row's id and what is wrong, or nothing.
struct Check {
    table: &'static str,
    sql: &'static str,
}

/// Every way an old row could clash with another old row or with the target database. Ids that
/// differ only in letter case in the old text columns are the same UUID here.
const CHECKS: &[Check] = &[
    Check {
        table: "users",
        sql: "SELECT id::text, 'the id appears twice in the old table' FROM import_users GROUP BY id HAVING count(*) > 1",
    },
    Check {
        table: "users",
        sql: "SELECT max(id::text), 'email ' || min(email) || ' is used by two old users (emails are unique regardless of case in the new schema)' \
              FROM import_users GROUP BY lower(email) HAVING count(*) > 1",
    },
    Check {
        table: "users",
        sql: "SELECT s.id::text, 'email ' || s.email || ' belongs to another user (' || u.id || ') in the target database' \
              FROM import_users s JOIN users u ON lower(u.email) = lower(s.email) AND u.id <> s.id",
    },
    Check {
        table: "exchange_secret",
        sql: "SELECT max(id::text), 'a second ' || exchange || ' secret of user ' || user_id FROM import_exchange_secrets \
              GROUP BY user_id, exchange HAVING count(*) > 1",
    },
    Check {
        table: "exchange_secret",
        sql: "SELECT s.id::text, 'user ' || s.user_id || ' already has a ' || s.exchange || ' secret with another id (' || t.id || ') in the target database' \
              FROM import_exchange_secrets s JOIN exchange_secrets t ON t.user_id = s.user_id AND t.exchange = s.exchange AND t.id <> s.id",
    },
    Check {
        table: "exchange_secret",
        sql: "SELECT s.id::text, 'the id belongs to another secret in the target database' \
              FROM import_exchange_secrets s JOIN exchange_secrets t ON t.id = s.id AND (t.user_id, t.exchange) <> (s.user_id, s.exchange)",
    },
    Check {
        table: "strategy_assignment",
        sql: "SELECT max(id::text), 'a second ' || exchange || ' assignment of user ' || user_id FROM import_strategy_assignments \
              GROUP BY user_id, exchange HAVING count(*) > 1",
    },
    Check {
        table: "strategy_assignment",
        sql: "SELECT s.id::text, 'user ' || s.user_id || ' already has a ' || s.exchange || ' assignment with another id (' || t.id || ') in the target database' \
              FROM import_strategy_assignments s JOIN strategy_assignments t ON t.user_id = s.user_id AND t.exchange = s.exchange AND t.id <> s.id",
    },
    Check {
        table: "strategy_assignment",
        sql: "SELECT s.id::text, 'the id belongs to another assignment in the target database' \
              FROM import_strategy_assignments s JOIN strategy_assignments t ON t.id = s.id AND (t.user_id, t.exchange) <> (s.user_id, s.exchange)",
    },
    Check {
        table: "daily_risk_state",
        sql: "SELECT max(id::text), 'a second row for user ' || user_id || ' on ' || day FROM import_risk_daily \
              GROUP BY user_id, day HAVING count(*) > 1",
    },
    Check {
        table: "daily_risk_state",
        sql: "SELECT s.id::text, 'user ' || s.user_id || ' already has a row for ' || s.day || ' with another id (' || t.id || ') in the target database' \
              FROM import_risk_daily s JOIN risk_daily t ON t.user_id = s.user_id AND t.day = s.day AND t.id <> s.id",
    },
    Check {
        table: "daily_risk_state",
        sql: "SELECT s.id::text, 'the id belongs to another row in the target database' \
              FROM import_risk_daily s JOIN risk_daily t ON t.id = s.id AND (t.user_id, t.day) <> (s.user_id, s.day)",
    },
    Check {
        table: "signals",
        sql: "SELECT id::text, 'the id appears twice in the old table' FROM import_signals GROUP BY id HAVING count(*) > 1",
    },
    Check {
        table: "signals",
        sql: "SELECT s.id::text, 'the id belongs to a signal of another user in the target database' \
              FROM import_signals s JOIN signals t ON t.id = s.id AND t.user_id <> s.user_id",
    },
    Check {
        table: "positions",
        sql: "SELECT id::text, 'the id appears twice in the old table' FROM import_positions GROUP BY id HAVING count(*) > 1",
    },
    Check {
        table: "positions",
        sql: "SELECT s.id::text, 'the id belongs to a position of another user in the target database' \
              FROM import_positions s JOIN positions t ON t.id = s.id AND t.user_id <> s.user_id",
    },
    Check {
        table: "audit_log",
        sql: "SELECT id::text, 'the id appears twice in the old table' FROM import_audit_events GROUP BY id HAVING count(*) > 1",
    },
];

/// Tables whose rows belong to a user that must exist (old or already imported).
const OWNED: &[(&str, &str)] = &[
    ("exchange_secret", "import_exchange_secrets"),
    ("strategy_assignment", "import_strategy_assignments"),
    ("signals", "import_signals"),
    ("positions", "import_positions"),
    ("daily_risk_state", "import_risk_daily"),
];

/// Stops at the first conflict, naming its row.
pub async fn check(tx: &Transaction<'_>) -> anyhow::Result<()> {
    let orphans: Vec<(&str, String)> = OWNED
        .iter()
        .map(|(table, staging)| {
            (
                *table,
                format!(
                    "SELECT s.id::text, 'its user ' || s.user_id || ' is neither an old user nor in the target database' \
                     FROM {staging} s WHERE NOT EXISTS (SELECT 1 FROM import_users u WHERE u.id = s.user_id) \
                     AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id)"
                ),
            )
        })
        .collect();
    let queries = CHECKS.iter().map(|c| (c.table, c.sql.to_string())).chain(orphans);
    for (table, sql) in queries {
        let found = tx
            .query_opt(&format!("{sql} LIMIT 1"), &[])
            .await
            .with_context(|| format!("checking {table}"))?;
        if let Some(row) = found {
            return Err(ImportError::row(table, row.get::<_, String>(0), row.get::<_, String>(1)).into());
        }
    }
    Ok(())
}

/// Rows each table took: (old table name, imported).
pub async fn insert(tx: &Transaction<'_>, progress: Progress) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let count = |row: tokio_postgres::Row, i: usize| row.get::<_, i64>(i) as u64;
    let mut imported = Vec::new();

    progress.say("writing users");
    // A new user gets the trading row the daemon creates with every user.
    let row = tx
        .query_one(
            "WITH ins AS (INSERT INTO users (id, email, password_hash, role, totp_secret, totp_enabled) \
               SELECT id, email, password_hash, role, totp_secret, totp_enabled FROM import_users \
               ON CONFLICT DO NOTHING RETURNING id, totp_secret), \
             ts AS (INSERT INTO trading_state (user_id) SELECT id FROM ins) \
             SELECT count(*), count(totp_secret) FROM ins",
            &[],
        )
        .await
        .context("writing users")?;
    imported.push(("users", row.get::<_, i64>(0) as u64));
    imported.push(("user_two_factor", count(row, 1)));

    let plain: &[(&str, &str)] = &[
        (
            "exchange_secret",
            "INSERT INTO exchange_secrets (id, user_id, exchange, key_id, api_key_enc, api_secret_enc, created_at, updated_at) \
             SELECT id, user_id, exchange, key_id, api_key_enc, api_secret_enc, created_at, updated_at \
             FROM import_exchange_secrets ON CONFLICT DO NOTHING",
        ),
        (
            "strategy_assignment",
            "INSERT INTO strategy_assignments (id, user_id, exchange, strategy_id, enabled, created_at, updated_at) \
             SELECT id, user_id, exchange, strategy_id, enabled, created_at, updated_at \
             FROM import_strategy_assignments ON CONFLICT DO NOTHING",
        ),
        (
            "signals",
            "INSERT INTO signals (id, user_id, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, \
               status, reason_codes, created_at, updated_at) \
             SELECT id, user_id, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, \
               status, reason_codes, created_at, updated_at FROM import_signals ON CONFLICT (id) DO NOTHING",
        ),
    ];
    for (table, sql) in plain {
        progress.say(format_args!("writing {table}"));
        let n = tx
            .execute(*sql, &[])
            .await
            .with_context(|| format!("writing {table}"))?;
        imported.push((*table, n));
    }

    progress.say("writing positions");
    // A position whose signal is gone keeps no signal (as the schema does when a signal is
    // deleted); each user's trading row counts the open positions it got.
    let row = tx
        .query_one(
            "WITH ins AS (INSERT INTO positions (id, user_id, signal_id, symbol, side, qty, entry_price, stop_loss, \
                 take_profit, status, opened_at, closed_at, realized_pnl, fees) \
               SELECT p.id, p.user_id, g.id, p.symbol, p.side, p.qty, p.entry_price, p.stop_loss, \
                 p.take_profit, p.status, p.opened_at, p.closed_at, p.realized_pnl, p.fees \
               FROM import_positions p LEFT JOIN signals g ON g.id = p.signal_id \
               ON CONFLICT (id) DO NOTHING RETURNING user_id, status, opened_at), \
             per_user AS (SELECT user_id, count(*) AS n, count(*) FILTER (WHERE status = 'OPEN') AS open, \
                 max(opened_at) AS last FROM ins GROUP BY user_id), \
             counted AS (UPDATE trading_state t SET open_positions = t.open_positions + per_user.open, \
                 last_trade_at = greatest(t.last_trade_at, per_user.last) \
               FROM per_user WHERE t.user_id = per_user.user_id) \
             SELECT coalesce(sum(n), 0)::bigint FROM per_user",
            &[],
        )
        .await
        .context("writing positions")?;
    imported.push(("positions", count(row, 0)));

    let rest: &[(&str, &str)] = &[(
        "daily_risk_state",
        "INSERT INTO risk_daily (id, user_id, day, trades_count, realized_pnl) \
             SELECT id, user_id, day, trades_count, realized_pnl FROM import_risk_daily ON CONFLICT DO NOTHING",
    )];
    for (table, sql) in rest {
        progress.say(format_args!("writing {table}"));
        let n = tx
            .execute(*sql, &[])
            .await
            .with_context(|| format!("writing {table}"))?;
        imported.push((*table, n));
    }

    progress.say("writing audit_log");
    // The dashboard's per-day roll-up is kept by a row trigger that costs a PL/pgSQL call and an
    // upsert per counted event; here the new events are counted once, by user and day, instead.
    // The trigger is off only inside this transaction (DDL rolls back with it).
    tx.batch_execute("ALTER TABLE audit_events DISABLE TRIGGER audit_daily_insert")
        .await
        .context("writing audit_log")?;
    let row = tx
        .query_one(
            "WITH ins AS (INSERT INTO audit_events (id, user_id, action, entity_type, entity_id, details, created_at) \
                 SELECT id, user_id, action, entity_type, entity_id, details, created_at FROM import_audit_events \
                 ON CONFLICT (id) DO NOTHING RETURNING user_id, action, created_at), \
             counted AS (INSERT INTO audit_daily (user_id, day, blocked_opens, errors) \
                 SELECT ins.user_id, (ins.created_at AT TIME ZONE z.zone)::date, \
                   count(*) FILTER (WHERE audit_is_blocked_open(ins.action)), count(*) FILTER (WHERE audit_is_error(ins.action)) \
                 FROM ins, audit_daily_zone z \
                 WHERE ins.user_id IS NOT NULL AND (audit_is_blocked_open(ins.action) OR audit_is_error(ins.action)) \
                 GROUP BY 1, 2 \
                 ON CONFLICT (user_id, day) DO UPDATE SET blocked_opens = audit_daily.blocked_opens + EXCLUDED.blocked_opens, \
                   errors = audit_daily.errors + EXCLUDED.errors) \
             SELECT count(*) FROM ins",
            &[],
        )
        .await
        .context("writing audit_log")?;
    tx.batch_execute("ALTER TABLE audit_events ENABLE TRIGGER audit_daily_insert")
        .await
        .context("writing audit_log")?;
    imported.push(("audit_log", count(row, 0)));
    Ok(imported)
}
