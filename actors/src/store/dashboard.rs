//! Read-side SQL of the ops dashboard and the daily risk comparison.
//!
//! Every function here is ONE set-based statement on the read pool, whatever the number of
//! users: the old service ran several queries per user and per day. A day is the risk zone's
//! calendar date, never UTC's: day boundaries are computed by the caller in the risk zone and
//! passed as instants, and the per-day counts of blocked opens and errors come from
//! `audit_daily`, the roll-up of the audit trail that triggers keep per user and risk day
//! (migration V8), built in the zone `align_audit_daily_zone` set at start-up.
//!
//! These statements are never cached: each runs as an unnamed statement with typed parameters
//! (`query_typed`: parse, bind and execute in one round trip), so Postgres plans it for its
//! parameters every time. A cached statement got the generic plan after five runs, and these
//! plans depend on the parameters (an id list, a date range) — the 7-day trend went from ~75 ms
//! to ~250 ms at 10,000 users. Planning the whole read pool per call instead cost the hot reads
//! (waking a user's actor: ~35 % fewer per second). One round trip also means the trend's query
//! is on the wire as soon as it is first polled (the summary overlaps it with serialization).

use chrono::{DateTime, NaiveDate, Utc};

use rust_decimal::Decimal;
use tokio_postgres::types::Type;

use super::{Store, StoreError};
use crate::domain::{Role, TradingState, UserId};
pub use crate::rules::dashboard::DayWindow;

/// Audit actions that count as errors (`*.error`, `execution.blocked.*`), for the last hours'
/// count over the audit trail: written exactly as the partial index of
/// `V9__uuid_ids.sql` states it, so the planner can prove the index applies, and the same test as
/// the SQL function `audit_is_error` of V8 (a test compares the two).
pub const ERROR_PREDICATE: &str = "(a.action LIKE '%.error' OR a.action LIKE 'execution.blocked.%')";
pub use super::risk::PRETRADE_BLOCKED_ACTION;

/// Makes the `audit_daily` roll-up count risk days in `zone`: a no-op when it already does,
/// else a rebuild from the audit trail (writers to it wait meanwhile). Runs at start-up, before
/// any request, so a changed `RISK_TIMEZONE` never mixes two zones' days.
pub async fn align_audit_daily_zone(store: &Store, zone: &str) -> Result<bool, StoreError> {
    let mut client = store.reader().await?;
    let tx = client.transaction().await?;
    let current: String = tx
        .query_one("SELECT zone FROM audit_daily_zone FOR UPDATE", &[])
        .await?
        .get(0);
    if current == zone {
        return Ok(false);
    }
    // A year of audit events can take longer than a request's statement timeout.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute("SELECT audit_daily_rebuild($1)", &[&zone]).await?;
    tx.commit().await?;
    Ok(true)
}

/// One user in the daily comparison.
#[derive(Debug, Clone)]
pub struct CompareRow {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub trades_today: i32,
    pub realized_pnl_today: Decimal,
    pub open_positions_now: i32,
    pub closed_positions_today: i64,
    pub blocked_open_attempts_today: i64,
}

/// Every user (after `real_only`, `$1`: the contract's "real user" filter, the generated column
/// `users.test_account` of migration V7) with today's counters, by email.
const DAILY_COMPARE: &str = "WITH closed AS (
         SELECT p.user_id, count(*) AS n FROM positions p
         WHERE p.closed_at IS NOT NULL AND p.closed_at >= $2 AND p.closed_at < $3
         GROUP BY p.user_id)
     SELECT u.id, u.email, u.role,
            COALESCE(rd.trades_count, 0) AS trades, COALESCE(rd.realized_pnl, 0) AS pnl,
            COALESCE(ts.open_positions, 0) AS open_now,
            COALESCE(closed.n, 0) AS closed_n, COALESCE(ad.blocked_opens, 0)::bigint AS blocked_n
     FROM users u
     LEFT JOIN risk_daily rd ON rd.user_id = u.id AND rd.day = $4
     LEFT JOIN trading_state ts ON ts.user_id = u.id
     LEFT JOIN closed ON closed.user_id = u.id
     LEFT JOIN audit_daily ad ON ad.user_id = u.id AND ad.day = $4
     WHERE (NOT $1::bool OR NOT u.test_account)
     ORDER BY u.email COLLATE \"C\", u.id";

pub async fn daily_compare(store: &Store, today: &DayWindow, real_only: bool) -> Result<Vec<CompareRow>, StoreError> {
    let client = store.reader().await?;
    let rows = client
        .query_typed(
            DAILY_COMPARE,
            &[
                (&real_only, Type::BOOL),
                (&today.start, Type::TIMESTAMPTZ),
                (&today.end, Type::TIMESTAMPTZ),
                (&today.day, Type::DATE),
            ],
        )
        .await?;
    let compare = |r: &tokio_postgres::Row| -> Result<CompareRow, tokio_postgres::Error> {
        Ok(CompareRow {
            user_id: r.try_get(0)?,
            email: r.try_get(1)?,
            role: r.try_get(2)?,
            trades_today: r.try_get(3)?,
            realized_pnl_today: r.try_get(4)?,
            open_positions_now: r.try_get(5)?,
            closed_positions_today: r.try_get(6)?,
            blocked_open_attempts_today: r.try_get(7)?,
        })
    };
    Ok(rows.iter().map(compare).collect::<Result<_, _>>()?)
}

/// The dashboard's user filters.
#[derive(Debug, Clone, Default)]
pub struct ScopeFilter {
    pub real_only: bool,
    pub include_service_users: bool,
    /// Case-insensitive substring of the email.
    pub email_contains: Option<String>,
    /// Only users with that exchange's secret configured.
    pub exchange: Option<crate::domain::Exchange>,
    pub max_secret_age_days: i32,
}

/// One posture user (after `real_only`), with posture and today's activity, and whether the
/// dashboard's other filters keep them in scope.
#[derive(Debug, Clone)]
pub struct ScopeUserRow {
    /// Service users (unless included), `email_contains` and the exchange filter keep this user.
    pub in_scope: bool,
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub two_factor_enabled: bool,
    pub binance_secret_configured: bool,
    pub ibkr_secret_configured: bool,
    pub stale_secret: bool,
    pub trades_today: i32,
    pub realized_pnl_today: Decimal,
    pub open_positions_now: i32,
    pub blocked_open_attempts_today: i64,
    /// The user's own kill switch (the global one is not folded in).
    pub trading_state: TradingState,
}

/// The posture users (after `real_only`), each with posture, today's counters and whether the
/// scope's other filters (service users hidden unless included, `email_contains`, exchange)
/// keep them, by email: the security counts take every posture user, the rest of the summary
/// the users in scope.
pub async fn scope_users(
    store: &Store,
    filter: &ScopeFilter,
    today: &DayWindow,
    now: DateTime<Utc>,
) -> Result<Vec<ScopeUserRow>, StoreError> {
    let client = store.reader().await?;
    let exchange = filter.exchange.map(|e| e.as_str());
    let rows = client
        .query_typed(
            SCOPE_USERS,
            &[
                (&filter.real_only, Type::BOOL),
                (&filter.include_service_users, Type::BOOL),
                (&filter.email_contains, Type::TEXT),
                (&exchange, Type::TEXT),
                (&filter.max_secret_age_days, Type::INT4),
                (&now, Type::TIMESTAMPTZ),
                (&today.day, Type::DATE),
            ],
        )
        .await?;
    let scoped = |r: &tokio_postgres::Row| -> Result<ScopeUserRow, tokio_postgres::Error> {
        Ok(ScopeUserRow {
            user_id: r.try_get(0)?,
            email: r.try_get(1)?,
            role: r.try_get(2)?,
            two_factor_enabled: r.try_get(3)?,
            binance_secret_configured: r.try_get(4)?,
            ibkr_secret_configured: r.try_get(5)?,
            stale_secret: r.try_get(6)?,
            trades_today: r.try_get(7)?,
            realized_pnl_today: r.try_get(8)?,
            open_positions_now: r.try_get(9)?,
            blocked_open_attempts_today: r.try_get(10)?,
            in_scope: r.try_get(11)?,
            trading_state: r.try_get(12)?,
        })
    };
    Ok(rows.iter().map(scoped).collect::<Result<_, _>>()?)
}

/// The posture users: `$1` real only; in scope: `$2` service users included, `$3` email
/// substring, `$4` exchange; `$5` days after which a secret is stale as of `$6`; `$7` the risk day. A user
/// has at most one secret per exchange (the primary key), and the exchanges are BINANCE and
/// IBKR: two key lookups instead of grouping every secret.
const SCOPE_USERS: &str = "SELECT u.id, u.email, u.role, u.totp_enabled,
            sb.user_id IS NOT NULL, si.user_id IS NOT NULL,
            COALESCE(LEAST(sb.updated_at, si.updated_at) < $6::timestamptz - make_interval(days => $5::int), false),
            COALESCE(rd.trades_count, 0), COALESCE(rd.realized_pnl, 0),
            COALESCE(ts.open_positions, 0), COALESCE(ad.blocked_opens, 0)::bigint,
            ($2::bool OR NOT u.service_account)
            AND ($3::text IS NULL OR strpos(lower(u.email), lower($3::text)) > 0)
            AND ($4::text IS NULL
                 OR ($4::text = 'BINANCE' AND sb.user_id IS NOT NULL)
                 OR ($4::text = 'IBKR' AND si.user_id IS NOT NULL)),
            COALESCE(tc.state, 'ACTIVE')
     FROM users u
     LEFT JOIN exchange_secrets sb ON sb.user_id = u.id AND sb.exchange = 'BINANCE'
     LEFT JOIN exchange_secrets si ON si.user_id = u.id AND si.exchange = 'IBKR'
     LEFT JOIN risk_daily rd ON rd.user_id = u.id AND rd.day = $7
     LEFT JOIN trading_state ts ON ts.user_id = u.id
     LEFT JOIN audit_daily ad ON ad.user_id = u.id AND ad.day = $7
     LEFT JOIN trading_control tc ON tc.user_id = u.id
     WHERE (NOT $1::bool OR NOT u.test_account)
     ORDER BY u.email COLLATE \"C\", u.id";

/// Error and refused pre-trade counts since `$1`, over all users: the error test is written
/// exactly as the partial index of V9 states it, so the planner can prove the index applies.
const RECENT_EVENTS: &str = "SELECT
     (SELECT count(*) FROM audit_events a
      WHERE (a.action LIKE '%.error' OR a.action LIKE 'execution.blocked.%') AND a.created_at >= $1),
     (SELECT count(*) FROM audit_events a WHERE a.action = 'pretrade.check.blocked' AND a.created_at >= $1)";

pub async fn recent_events(store: &Store, since: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
    let client = store.reader().await?;
    let row = client
        .query_typed_one(RECENT_EVENTS, &[(&since, Type::TIMESTAMPTZ)])
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// One day of the trend.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRow {
    pub day: NaiveDate,
    pub trades_total: i64,
    pub blocked_open_attempts_total: i64,
    pub errors_total: i64,
}

/// Per risk day from `first` to `last` (every day present, oldest first): trades, blocked opens
/// and errors of the given users, from the per-user day rows of `risk_daily` and `audit_daily`.
pub async fn trends(
    store: &Store,
    user_ids: &[UserId],
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<TrendRow>, StoreError> {
    // `= ANY` of the id array is one hashed lookup per row; a join with the unnested array cost
    // twice as much at 10,000 users.
    const SQL: &str =
        "WITH days AS (SELECT d::date AS day FROM generate_series($2::date, $3::date, interval '1 day') AS d),
         t AS (
             SELECT rd.day, sum(rd.trades_count)::bigint AS n
             FROM risk_daily rd
             WHERE rd.day BETWEEN $2 AND $3 AND rd.user_id = ANY($1)
             GROUP BY rd.day),
         a AS (
             SELECT ad.day, sum(ad.blocked_opens)::bigint AS blocked, sum(ad.errors)::bigint AS errors
             FROM audit_daily ad
             WHERE ad.day BETWEEN $2 AND $3 AND ad.user_id = ANY($1)
             GROUP BY ad.day)
         SELECT days.day, COALESCE(t.n, 0), COALESCE(a.blocked, 0), COALESCE(a.errors, 0)
         FROM days
         LEFT JOIN t ON t.day = days.day
         LEFT JOIN a ON a.day = days.day
         ORDER BY days.day";
    let client = store.reader().await?;
    let rows = client
        .query_typed(
            SQL,
            &[(&user_ids, Type::UUID_ARRAY), (&first, Type::DATE), (&last, Type::DATE)],
        )
        .await?;
    let trend = |r: &tokio_postgres::Row| -> Result<TrendRow, tokio_postgres::Error> {
        Ok(TrendRow {
            day: r.try_get(0)?,
            trades_total: r.try_get(1)?,
            blocked_open_attempts_total: r.try_get(2)?,
            errors_total: r.try_get(3)?,
        })
    };
    Ok(rows.iter().map(trend).collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_events_count_uses_the_error_and_pretrade_tests() {
        assert!(RECENT_EVENTS.contains(ERROR_PREDICATE));
        assert!(RECENT_EVENTS.contains(&format!("a.action = '{PRETRADE_BLOCKED_ACTION}'")));
    }
}
