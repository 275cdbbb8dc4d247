//! Read-side SQL of the ops dashboard and the daily risk comparison.
//!
//! Every function here is ONE set-based statement on the read pool, whatever the number of
//! users: the old service ran several queries per user and per day. Day boundaries are computed
//! by the caller in the risk zone and passed as instants, and per-day buckets use
//! `(created_at AT TIME ZONE <zone>)::date`, so a day is the risk zone's calendar date, never UTC's.
//!
//! The audit-event predicates below are written exactly as the partial indexes of
//! `V4__dashboard_indexes.sql` state them, so the planner can prove the index applies.

use chrono::{DateTime, NaiveDate, Utc};

use rust_decimal::Decimal;

use super::{Store, StoreError};
pub use crate::rules::dashboard::DayWindow;

/// Audit actions that count as errors (`*.error`, `execution.blocked.*`).
pub const ERROR_PREDICATE: &str = "(a.action LIKE '%.error' OR a.action LIKE 'execution.blocked.%')";
/// Audit actions that are blocked position opens.
pub const OPEN_BLOCKED_PREDICATE: &str = "a.action LIKE 'position.open.blocked.%'";
pub use super::risk::PRETRADE_BLOCKED_ACTION;

/// The contract's "real user" filter over `users u`, applied when `$real_only` is true. The
/// classification itself is the generated column `users.test_account` (migration V7, the same
/// rule as `domain::is_test_email`).
pub fn real_user_sql(real_only_param: &str) -> String {
    format!("(NOT {real_only_param}::bool OR NOT u.test_account)")
}

/// One user in the daily comparison.
#[derive(Debug, Clone)]
pub struct CompareRow {
    pub user_id: i64,
    pub email: String,
    pub role: String,
    pub trades_today: i32,
    pub realized_pnl_today: Decimal,
    pub open_positions_now: i32,
    pub closed_positions_today: i64,
    pub blocked_open_attempts_today: i64,
}

/// Every user (after `real_only`) with today's counters, by email.
pub async fn daily_compare(store: &Store, today: &DayWindow, real_only: bool) -> Result<Vec<CompareRow>, StoreError> {
    let sql = format!(
        "WITH closed AS (
             SELECT p.user_id, count(*) AS n FROM positions p
             WHERE p.closed_at IS NOT NULL AND p.closed_at >= $2 AND p.closed_at < $3
             GROUP BY p.user_id),
         blocked AS (
             SELECT a.user_id, count(*) AS n FROM audit_events a
             WHERE {OPEN_BLOCKED_PREDICATE} AND a.created_at >= $2 AND a.created_at < $3
             GROUP BY a.user_id)
         SELECT u.id, u.email, u.role,
                COALESCE(rd.trades_count, 0) AS trades, COALESCE(rd.realized_pnl, 0) AS pnl,
                COALESCE(ts.open_positions, 0) AS open_now,
                COALESCE(closed.n, 0) AS closed_n, COALESCE(blocked.n, 0) AS blocked_n
         FROM users u
         LEFT JOIN risk_daily rd ON rd.user_id = u.id AND rd.day = $4
         LEFT JOIN trading_state ts ON ts.user_id = u.id
         LEFT JOIN closed ON closed.user_id = u.id
         LEFT JOIN blocked ON blocked.user_id = u.id
         WHERE {real}
         ORDER BY u.email COLLATE \"C\", u.id",
        real = real_user_sql("$1"),
    );
    let client = store.reader().await?;
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client
        .query(&stmt, &[&real_only, &today.start, &today.end, &today.day])
        .await?;
    Ok(rows
        .iter()
        .map(|r| CompareRow {
            user_id: r.get(0),
            email: r.get(1),
            role: r.get(2),
            trades_today: r.get(3),
            realized_pnl_today: r.get(4),
            open_positions_now: r.get(5),
            closed_positions_today: r.get(6),
            blocked_open_attempts_today: r.get(7),
        })
        .collect())
}

/// The dashboard's user filters.
#[derive(Debug, Clone, Default)]
pub struct ScopeFilter {
    pub real_only: bool,
    pub include_service_users: bool,
    /// Case-insensitive substring of the email.
    pub email_contains: Option<String>,
    /// `BINANCE` or `IBKR`: only users with that exchange's secret configured.
    pub exchange: Option<String>,
    pub max_secret_age_days: i32,
}

/// One user in the dashboard's scope, with posture and today's activity.
#[derive(Debug, Clone)]
pub struct ScopeUserRow {
    pub user_id: i64,
    pub email: String,
    pub role: String,
    pub two_factor_enabled: bool,
    pub binance_secret_configured: bool,
    pub ibkr_secret_configured: bool,
    pub stale_secret: bool,
    pub trades_today: i32,
    pub realized_pnl_today: Decimal,
    pub open_positions_now: i32,
    pub blocked_open_attempts_today: i64,
}

/// The users in scope (posture users after `real_only`, service users hidden unless included,
/// `email_contains`, exchange), each with posture and today's counters, by email.
pub async fn scope_users(
    store: &Store,
    filter: &ScopeFilter,
    today: &DayWindow,
    now: DateTime<Utc>,
) -> Result<Vec<ScopeUserRow>, StoreError> {
    let sql = format!(
        "WITH u AS (
             SELECT u.id, u.email, u.role, u.totp_enabled
             FROM users u
             WHERE {real}
               AND ($2::bool OR NOT u.service_account)
               AND ($3::text IS NULL OR strpos(lower(u.email), lower($3::text)) > 0)),
         s AS (
             SELECT es.user_id,
                    bool_or(es.exchange = 'BINANCE') AS binance,
                    bool_or(es.exchange = 'IBKR') AS ibkr,
                    min(es.updated_at) AS oldest
             FROM exchange_secrets es JOIN u ON u.id = es.user_id
             GROUP BY es.user_id),
         blocked AS (
             SELECT a.user_id, count(*) AS n FROM audit_events a
             WHERE {OPEN_BLOCKED_PREDICATE} AND a.created_at >= $5 AND a.created_at < $6
             GROUP BY a.user_id)
         SELECT u.id, u.email, u.role, u.totp_enabled,
                COALESCE(s.binance, false), COALESCE(s.ibkr, false),
                COALESCE(s.oldest < $8::timestamptz - make_interval(days => $7::int), false),
                COALESCE(rd.trades_count, 0), COALESCE(rd.realized_pnl, 0),
                COALESCE(ts.open_positions, 0), COALESCE(blocked.n, 0)
         FROM u
         LEFT JOIN s ON s.user_id = u.id
         LEFT JOIN risk_daily rd ON rd.user_id = u.id AND rd.day = $9
         LEFT JOIN trading_state ts ON ts.user_id = u.id
         LEFT JOIN blocked ON blocked.user_id = u.id
         WHERE ($4::text IS NULL
                OR ($4::text = 'BINANCE' AND COALESCE(s.binance, false))
                OR ($4::text = 'IBKR' AND COALESCE(s.ibkr, false)))
         ORDER BY u.email COLLATE \"C\", u.id",
        real = real_user_sql("$1"),
    );
    let client = store.reader().await?;
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &stmt,
            &[
                &filter.real_only,
                &filter.include_service_users,
                &filter.email_contains,
                &filter.exchange,
                &today.start,
                &today.end,
                &filter.max_secret_age_days,
                &now,
                &today.day,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ScopeUserRow {
            user_id: r.get(0),
            email: r.get(1),
            role: r.get(2),
            two_factor_enabled: r.get(3),
            binance_secret_configured: r.get(4),
            ibkr_secret_configured: r.get(5),
            stale_secret: r.get(6),
            trades_today: r.get(7),
            realized_pnl_today: r.get(8),
            open_positions_now: r.get(9),
            blocked_open_attempts_today: r.get(10),
        })
        .collect())
}

/// Error and refused pre-trade counts since an instant, over all users.
pub async fn recent_events(store: &Store, since: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
    let sql = format!(
        "SELECT (SELECT count(*) FROM audit_events a WHERE {ERROR_PREDICATE} AND a.created_at >= $1),
                (SELECT count(*) FROM audit_events a WHERE a.action = '{PRETRADE_BLOCKED_ACTION}' AND a.created_at >= $1)"
    );
    let client = store.reader().await?;
    let stmt = client.prepare_cached(&sql).await?;
    let row = client.query_one(&stmt, &[&since]).await?;
    Ok((row.get(0), row.get(1)))
}

/// One day of the trend.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRow {
    pub day: NaiveDate,
    pub trades_total: i64,
    pub blocked_open_attempts_total: i64,
    pub errors_total: i64,
}

/// Per risk day from `first.day` to `last.day` (every day present, oldest first): trades,
/// blocked opens and errors of the given users. `zone` is the risk zone's IANA name.
pub async fn trends(
    store: &Store,
    user_ids: &[i64],
    first: &DayWindow,
    last: &DayWindow,
    zone: &str,
) -> Result<Vec<TrendRow>, StoreError> {
    let sql = format!(
        "WITH scope AS (SELECT DISTINCT unnest($1::bigint[]) AS id),
         days AS (SELECT d::date AS day FROM generate_series($2::date, $3::date, interval '1 day') AS d),
         t AS (
             SELECT rd.day, sum(rd.trades_count)::bigint AS n
             FROM risk_daily rd JOIN scope ON scope.id = rd.user_id
             WHERE rd.day BETWEEN $2 AND $3
             GROUP BY rd.day),
         b AS (
             SELECT (a.created_at AT TIME ZONE $6::text)::date AS day, count(*) AS n
             FROM audit_events a JOIN scope ON scope.id = a.user_id
             WHERE {OPEN_BLOCKED_PREDICATE} AND a.created_at >= $4 AND a.created_at < $5
             GROUP BY 1),
         e AS (
             SELECT (a.created_at AT TIME ZONE $6::text)::date AS day, count(*) AS n
             FROM audit_events a JOIN scope ON scope.id = a.user_id
             WHERE {ERROR_PREDICATE} AND a.created_at >= $4 AND a.created_at < $5
             GROUP BY 1)
         SELECT days.day, COALESCE(t.n, 0), COALESCE(b.n, 0), COALESCE(e.n, 0)
         FROM days
         LEFT JOIN t ON t.day = days.day
         LEFT JOIN b ON b.day = days.day
         LEFT JOIN e ON e.day = days.day
         ORDER BY days.day"
    );
    let client = store.reader().await?;
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &stmt,
            &[&user_ids, &first.day, &last.day, &first.start, &last.end, &zone],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TrendRow {
            day: r.get(0),
            trades_total: r.get(1),
            blocked_open_attempts_total: r.get(2),
            errors_total: r.get(3),
        })
        .collect())
}
