//! Signals and positions: the transactional writes behind create, claim, open and close, and
//! the reads that list them. Every write re-checks its rule under row locks, so it holds when
//! two daemons share one database, not only inside one user actor.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

type Param = dyn ToSql + Sync;

use super::audit::{self, AuditEvent};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::Exchange;
use crate::error::ApiError;
use crate::rules::risk::{self, RiskProfile, RiskSnapshot};

/// A signal as the API shows it (SignalOut).
#[derive(Debug, Clone, Serialize)]
pub struct SignalRow {
    pub id: i64,
    pub user_id: i64,
    pub symbol: String,
    pub module: String,
    pub base_risk_percent: Decimal,
    pub entry_price: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub status: String,
    pub reason_codes: Option<String>,
    pub exchange: String,
    pub created_at: DateTime<Utc>,
}

const SIGNAL_COLUMNS: &str = "id, user_id, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, \
                              status, reason_codes, exchange, created_at";

impl SignalRow {
    fn from_row(row: &Row) -> SignalRow {
        SignalRow {
            id: row.get("id"),
            user_id: row.get("user_id"),
            symbol: row.get("symbol"),
            module: row.get("module"),
            base_risk_percent: normal(row.get("base_risk_percent")),
            entry_price: row.get::<_, Option<Decimal>>("entry_price").map(normal),
            stop_loss: row.get::<_, Option<Decimal>>("stop_loss").map(normal),
            take_profit: row.get::<_, Option<Decimal>>("take_profit").map(normal),
            status: row.get("status"),
            reason_codes: row.get("reason_codes"),
            exchange: row.get("exchange"),
            created_at: row.get("created_at"),
        }
    }
}

/// A position as the API shows it (PositionOut).
#[derive(Debug, Clone, Serialize)]
pub struct PositionRow {
    pub id: i64,
    pub user_id: i64,
    pub signal_id: Option<i64>,
    pub exchange: String,
    pub symbol: String,
    pub side: String,
    pub qty: Decimal,
    pub entry_price: Decimal,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub status: String,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    pub exit_price: Option<Decimal>,
    pub exit_reason: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

const POSITION_COLUMNS: &str = "id, user_id, signal_id, exchange, symbol, side, qty, entry_price, stop_loss, \
                                take_profit, status, realized_pnl, fees, exit_price, exit_reason, opened_at, closed_at";

impl PositionRow {
    fn from_row(row: &Row) -> PositionRow {
        PositionRow {
            id: row.get("id"),
            user_id: row.get("user_id"),
            signal_id: row.get("signal_id"),
            exchange: row.get("exchange"),
            symbol: row.get("symbol"),
            side: row.get("side"),
            qty: normal(row.get("qty")),
            entry_price: normal(row.get("entry_price")),
            stop_loss: row.get::<_, Option<Decimal>>("stop_loss").map(normal),
            take_profit: row.get::<_, Option<Decimal>>("take_profit").map(normal),
            status: row.get("status"),
            realized_pnl: normal(row.get("realized_pnl")),
            fees: normal(row.get("fees")),
            exit_price: row.get::<_, Option<Decimal>>("exit_price").map(normal),
            exit_reason: row.get("exit_reason"),
            opened_at: row.get("opened_at"),
            closed_at: row.get("closed_at"),
        }
    }
}

/// NUMERIC keeps the scale it was computed with; clients see the shortest exact form.
fn normal(d: Decimal) -> Decimal {
    d.normalize()
}

// ---------------------------------------------------------------- create

pub struct NewSignal {
    pub user_id: i64,
    pub exchange: Exchange,
    pub symbol: String,
    pub module: String,
    pub base_risk_percent: Decimal,
    pub entry_price: Decimal,
    pub stop_loss: Decimal,
    pub take_profit: Decimal,
}

pub fn create_signal<'a>(tx: &'a Transaction<'a>, s: &'a NewSignal) -> TxFuture<'a, SignalRow> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(&format!(
                "WITH s AS (INSERT INTO signals (user_id, exchange, symbol, module, base_risk_percent, entry_price, \
                 stop_loss, take_profit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {SIGNAL_COLUMNS}), \
                 a AS (INSERT INTO audit_events (user_id, action, entity_type, entity_id, details) \
                 SELECT $1, 'signal.create', 'signal', s.id::text, json_build_object('symbol', s.symbol, 'module', s.module)::text FROM s) \
                 SELECT * FROM s"
            ))
            .await?;
        let row = tx
            .query_one(
                &stmt,
                &[
                    &s.user_id,
                    &s.exchange.as_str(),
                    &s.symbol,
                    &s.module,
                    &s.base_risk_percent,
                    &s.entry_price,
                    &s.stop_loss,
                    &s.take_profit,
                ],
            )
            .await?;
        Ok(SignalRow::from_row(&row))
    })
}

// ---------------------------------------------------------------- claim

pub struct Claim {
    pub user_id: i64,
    pub limit: i64,
}

/// Moves the caller's oldest CREATED signals to EXECUTING. `SKIP LOCKED` plus the status
/// condition make each signal go to exactly one claimer, across transactions and daemons.
pub fn claim_signals<'a>(tx: &'a Transaction<'a>, c: &'a Claim) -> TxFuture<'a, Vec<SignalRow>> {
    Box::pin(async move {
        // One statement: the claim and its audit event (with the count claimed).
        let stmt = tx
            .prepare_cached(&format!(
                "WITH picked AS (SELECT id FROM signals WHERE user_id = $1 AND status = 'CREATED' ORDER BY id LIMIT $2 \
                 FOR UPDATE SKIP LOCKED), \
                 claimed AS (UPDATE signals s SET status = 'EXECUTING', updated_at = now() FROM picked WHERE s.id = picked.id \
                 RETURNING {}), \
                 a AS (INSERT INTO audit_events (user_id, action, entity_type, entity_id, details) \
                 SELECT $1, 'signal.claim', 'signal', 'batch', \
                 json_build_object('claimed_count', (SELECT count(*) FROM claimed), 'limit', $2::bigint)::text) \
                 SELECT * FROM claimed",
                SIGNAL_COLUMNS.split(", ").map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", ")
            ))
            .await?;
        let mut rows: Vec<SignalRow> = tx
            .query(&stmt, &[&c.user_id, &c.limit])
            .await?
            .iter()
            .map(SignalRow::from_row)
            .collect();
        rows.sort_by_key(|s| s.id);
        Ok(rows)
    })
}

// ---------------------------------------------------------------- open

pub struct OpenRequest {
    pub user_id: i64,
    pub signal_id: i64,
    pub qty: Decimal,
    pub profile: RiskProfile,
    pub day: NaiveDate,
    pub now: DateTime<Utc>,
    /// The user's risk snapshot for `day` as the user actor last saw it, when it has one.
    pub expected: Option<RiskSnapshot>,
}

/// A position an open or a close wrote, and the user's risk snapshot for the request's day
/// right after it (read by the same statement), so the user actor can offer it to its next open.
#[derive(Debug, Clone)]
pub struct Traded {
    pub position: PositionRow,
    pub risk_after: RiskSnapshot,
}

impl Traded {
    fn from_row(row: &Row) -> Traded {
        Traded {
            position: PositionRow::from_row(row),
            risk_after: super::risk::snapshot_from_row(Some(row)),
        }
    }
}

/// Opens a position from an EXECUTING signal, or records why not. The batch holds the user's
/// `trading_state` row lock, so the risk snapshot cannot change under us. When the actor offers
/// the snapshot it expects and the rules pass on it, one statement opens the position if the
/// database agrees; otherwise (or when that statement finds it does not) a read locks the signal
/// and learns the snapshot — or why the signal cannot be opened — and the same write follows.
pub fn open_from_signal<'a>(tx: &'a Transaction<'a>, r: &'a OpenRequest) -> TxFuture<'a, Result<Traded, ApiError>> {
    Box::pin(async move {
        if let Some(expected) = &r.expected {
            if risk::check_open(&r.profile, expected, r.now).is_ok() {
                if let Some(opened) = open_if_snapshot(tx, r, expected, Locked::No).await? {
                    return Ok(Ok(opened));
                }
            }
        }
        let read = tx
            .prepare_cached(concat!(
                "SELECT s.user_id, s.status, s.entry_price, ",
                super::risk::snapshot_columns!(),
                " FROM signals s \
                 LEFT JOIN trading_state t ON t.user_id = $2 \
                 LEFT JOIN risk_daily d ON d.user_id = $2 AND d.day = $3 \
                 WHERE s.id = $1 FOR UPDATE OF s"
            ))
            .await?;
        let Some(signal) = tx.query_opt(&read, &[&r.signal_id, &r.user_id, &r.day]).await? else {
            return Ok(Err(ApiError::SignalNotFound));
        };
        if signal.get::<_, i64>("user_id") != r.user_id {
            return Ok(Err(ApiError::ForeignSignal));
        }
        let status: String = signal.get("status");
        if status != "EXECUTING" {
            return Ok(Err(ApiError::SignalNotExecuting(status)));
        }
        if signal.get::<_, Option<Decimal>>("entry_price").is_none() {
            return Ok(Err(ApiError::SignalMissingEntryPrice));
        }
        let snapshot = super::risk::snapshot_from_row(Some(&signal));
        if let Err(block) = risk::check_open(&r.profile, &snapshot, r.now) {
            let details = json!({ "signal_id": r.signal_id, "reason": block.to_string() }).to_string();
            let blocked = tx
                .prepare_cached(
                    "WITH d AS (INSERT INTO risk_daily (user_id, day, blocked_opens) VALUES ($1, $2, 1) \
                     ON CONFLICT (user_id, day) DO UPDATE SET blocked_opens = risk_daily.blocked_opens + 1) \
                     INSERT INTO audit_events (user_id, action, entity_type, entity_id, details) \
                     VALUES ($1, $3, 'signal', $4, $5)",
                )
                .await?;
            let entity_id = r.signal_id.to_string();
            tx.execute(
                &blocked,
                &[&r.user_id, &r.day, &block.audit_action(), &entity_id, &details],
            )
            .await?;
            return Ok(Err(ApiError::RiskBlock(block)));
        }
        // Under `Locked::Yes` a missing row is already an error (`query_one`): `None` cannot come.
        let opened = open_if_snapshot(tx, r, &snapshot, Locked::Yes).await?;
        Ok(opened.ok_or(ApiError::SignalNotExecuting(status)))
    })
}

/// The open's write — position, signal, counters and audit event in one statement — applied
/// only if the signal is the caller's EXECUTING signal with an entry price and the user's risk
/// snapshot for the day is `snapshot`. Under `Locked::Yes` it must apply.
async fn open_if_snapshot(
    tx: &Transaction<'_>,
    r: &OpenRequest,
    snapshot: &RiskSnapshot,
    locked: Locked,
) -> Result<Option<Traded>, tokio_postgres::Error> {
    let insert = tx
        .prepare_cached(&format!(
            "WITH c AS (SELECT 1 FROM (SELECT 1) AS one \
             LEFT JOIN trading_state t ON t.user_id = $1 \
             LEFT JOIN risk_daily d ON d.user_id = $1 AND d.day = $5 \
             WHERE {}), \
             s AS (UPDATE signals SET status = 'OPENED', updated_at = now() \
             WHERE id = $2 AND user_id = $1 AND status = 'EXECUTING' AND entry_price IS NOT NULL \
             AND EXISTS (SELECT 1 FROM c) \
             RETURNING id, exchange, symbol, entry_price, stop_loss, take_profit), \
             p AS (INSERT INTO positions (user_id, signal_id, exchange, symbol, side, qty, entry_price, stop_loss, \
             take_profit, opened_at) SELECT $1, s.id, s.exchange, s.symbol, 'LONG', $3, s.entry_price, s.stop_loss, \
             s.take_profit, $4 FROM s RETURNING {POSITION_COLUMNS}), \
             t AS (UPDATE trading_state SET open_positions = open_positions + 1, last_trade_at = $4 \
             WHERE user_id = $1 AND EXISTS (SELECT 1 FROM p) RETURNING open_positions, last_trade_at), \
             a AS (INSERT INTO audit_events (user_id, action, entity_type, entity_id, details) \
             SELECT $1, 'position.open', 'position', p.id::text, \
             json_build_object('signal_id', p.signal_id, 'symbol', p.symbol, 'qty', p.qty, 'entry_price', p.entry_price)::text FROM p) \
             SELECT p.*, {} FROM p LEFT JOIN t ON true LEFT JOIN risk_daily d ON d.user_id = $1 AND d.day = $5",
            super::risk::snapshot_matches!("$6", "$7", "$8", "$9"),
            super::risk::snapshot_columns!(),
        ))
        .await?;
    let params: [&Param; 9] = [
        &r.user_id,
        &r.signal_id,
        &r.qty,
        &r.now,
        &r.day,
        &snapshot.open_positions,
        &snapshot.last_trade_at,
        &snapshot.trades_today,
        &snapshot.realized_pnl_today,
    ];
    let row = match locked {
        Locked::Yes => Some(tx.query_one(&insert, &params).await?),
        Locked::No => tx.query_opt(&insert, &params).await?,
    };
    Ok(row.as_ref().map(Traded::from_row))
}

// ---------------------------------------------------------------- close

pub struct CloseRequest {
    pub user_id: i64,
    pub position_id: i64,
    pub exit_price: Decimal,
    pub fees: Decimal,
    /// Set by the exit monitor (`stop_loss_hit`, …); None for a manual close.
    pub exit_reason: Option<String>,
    pub day: NaiveDate,
    pub now: DateTime<Utc>,
    /// The position's terms as the user actor holds them, when it holds the position.
    pub held: Option<HeldTerms>,
}

/// What a position was opened with; neither changes while it is open.
#[derive(Debug, Clone, Copy)]
pub struct HeldTerms {
    pub entry_price: Decimal,
    pub qty: Decimal,
}

/// Closes an OPEN position: PnL, the signal's completion, today's risk counters and the audit
/// event commit together or not at all, in one statement that only applies to the caller's
/// still-open position with these terms. When the actor holds the position, its terms are
/// tried first (one statement); otherwise, or when that finds nothing, a locked read learns the
/// terms — or why the position cannot be closed — and the write runs with them.
pub fn close_position<'a>(tx: &'a Transaction<'a>, r: &'a CloseRequest) -> TxFuture<'a, Result<Traded, ApiError>> {
    Box::pin(async move {
        if let Some(held) = r.held {
            if let Some(row) = close_with_terms(tx, r, held, Locked::No).await? {
                return Ok(Ok(row));
            }
        }
        let stmt = tx
            .prepare_cached("SELECT user_id, status, qty, entry_price FROM positions WHERE id = $1 FOR UPDATE")
            .await?;
        let Some(position) = tx.query_opt(&stmt, &[&r.position_id]).await? else {
            return Ok(Err(ApiError::PositionNotFound));
        };
        if position.get::<_, i64>("user_id") != r.user_id {
            return Ok(Err(ApiError::ForeignPosition));
        }
        let status: String = position.get("status");
        if status != "OPEN" {
            return Ok(Err(ApiError::PositionNotOpen(status)));
        }
        let terms = HeldTerms {
            entry_price: position.get("entry_price"),
            qty: position.get("qty"),
        };
        // Under `Locked::Yes` a missing row is already an error (`query_one`): `None` cannot come.
        let row = close_with_terms(tx, r, terms, Locked::Yes).await?;
        Ok(row.ok_or(ApiError::PositionNotOpen(status)))
    })
}

/// Whether the position row is already locked and known to be the caller's open position.
enum Locked {
    Yes,
    No,
}

/// The close's write, applied only if the position is the caller's, open, and has `terms`.
/// Under `Locked::Yes` it must apply: a missing row is an error, not an answer.
async fn close_with_terms(
    tx: &Transaction<'_>,
    r: &CloseRequest,
    terms: HeldTerms,
    locked: Locked,
) -> Result<Option<Traded>, tokio_postgres::Error> {
    let update = tx
        .prepare_cached(&format!(
            "WITH p AS (UPDATE positions SET status = 'CLOSED', realized_pnl = $2, fees = $3, exit_price = $4, \
             exit_reason = $5, closed_at = $6 \
             WHERE id = $1 AND user_id = $7 AND status = 'OPEN' AND entry_price = $8 AND qty = $9 \
             RETURNING {POSITION_COLUMNS}), \
             s AS (UPDATE signals SET status = 'COMPLETED', updated_at = now() WHERE id = (SELECT signal_id FROM p)), \
             d AS (INSERT INTO risk_daily (user_id, day, trades_count, realized_pnl) SELECT $7, $10::date, 1, $2 FROM p \
             ON CONFLICT (user_id, day) DO UPDATE SET trades_count = risk_daily.trades_count + 1, \
             realized_pnl = risk_daily.realized_pnl + EXCLUDED.realized_pnl RETURNING trades_count, realized_pnl), \
             t AS (UPDATE trading_state SET open_positions = GREATEST(open_positions - 1, 0), last_trade_at = $6 \
             WHERE user_id = $7 AND EXISTS (SELECT 1 FROM p) RETURNING open_positions, last_trade_at), \
             a AS (INSERT INTO audit_events (user_id, action, entity_type, entity_id, details) \
             SELECT $7, 'position.close', 'position', $11::text, $12::text FROM p) \
             SELECT p.*, {} FROM p LEFT JOIN t ON true LEFT JOIN d ON true",
            super::risk::snapshot_columns!(),
        ))
        .await?;
    let pnl = risk::realized_pnl(terms.entry_price, r.exit_price, terms.qty, r.fees);
    let mut details =
        json!({ "realized_pnl": pnl.normalize(), "fees": r.fees.normalize(), "exit_price": r.exit_price.normalize() });
    if let Some(reason) = &r.exit_reason {
        details["exit_reason"] = json!(reason);
    }
    let details = details.to_string();
    let entity_id = r.position_id.to_string();
    let params: [&Param; 12] = [
        &r.position_id,
        &pnl,
        &r.fees,
        &r.exit_price,
        &r.exit_reason,
        &r.now,
        &r.user_id,
        &terms.entry_price,
        &terms.qty,
        &r.day,
        &entity_id,
        &details,
    ];
    let row = match locked {
        Locked::Yes => Some(tx.query_one(&update, &params).await?),
        Locked::No => tx.query_opt(&update, &params).await?,
    };
    Ok(row.as_ref().map(Traded::from_row))
}

// ---------------------------------------------------------------- reads

/// The user's signals, newest first.
pub async fn list_signals(store: &Store, user_id: i64) -> Result<Vec<SignalRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {SIGNAL_COLUMNS} FROM signals WHERE user_id = $1 ORDER BY id DESC"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[&user_id])
        .await?
        .iter()
        .map(SignalRow::from_row)
        .collect())
}

/// The user's positions, newest first.
pub async fn list_positions(store: &Store, user_id: i64) -> Result<Vec<PositionRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {POSITION_COLUMNS} FROM positions WHERE user_id = $1 ORDER BY id DESC"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[&user_id])
        .await?
        .iter()
        .map(PositionRow::from_row)
        .collect())
}

/// What a user actor loads when it starts.
pub struct ActorState {
    pub email: String,
    pub open: Vec<PositionRow>,
    /// Assigned strategies by exchange (an exchange without a row runs the default).
    pub strategies: Vec<(Exchange, crate::domain::StrategyId)>,
    /// The risk snapshot for the day the state was loaded for.
    pub risk: RiskSnapshot,
}

/// The user's email, open positions, strategy assignments and risk snapshot for `day`; None
/// when there is no such user. One statement (an actor starts for every user's first request
/// after a quiet period): one row per open position, or one row with no position, each
/// carrying the email, the assignments as `EXCHANGE:STRATEGY` texts and the snapshot.
pub async fn load_actor_state(store: &Store, user_id: i64, day: NaiveDate) -> Result<Option<ActorState>, StoreError> {
    // Built once: the statement cache is keyed by the text, which need not be rebuilt per start.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT u.email, \
                    ARRAY(SELECT a.exchange || ':' || a.strategy_id FROM strategy_assignments a \
                          WHERE a.user_id = u.id) AS strategies, \
                    {}, {} \
             FROM users u LEFT JOIN positions p ON p.user_id = u.id AND p.status = 'OPEN' \
             LEFT JOIN trading_state t ON t.user_id = u.id \
             LEFT JOIN risk_daily d ON d.user_id = u.id AND d.day = $2 \
             WHERE u.id = $1 ORDER BY p.id",
            super::risk::snapshot_columns!(),
            POSITION_COLUMNS
                .split(", ")
                .map(|c| format!("p.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let client = store.reader().await?;
    let stmt = client.prepare_cached(&SQL).await?;
    let rows = client.query(&stmt, &[&user_id, &day]).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let strategies = first
        .get::<_, Vec<String>>("strategies")
        .iter()
        .filter_map(|pair| {
            let (exchange, strategy) = pair.split_once(':')?;
            Some((exchange.parse().ok()?, strategy.parse().ok()?))
        })
        .collect();
    Ok(Some(ActorState {
        email: first.get("email"),
        open: rows
            .iter()
            .filter(|row| row.get::<_, Option<i64>>("id").is_some())
            .map(PositionRow::from_row)
            .collect(),
        strategies,
        risk: super::risk::snapshot_from_row(Some(first)),
    }))
}

/// Users holding open positions: their actors are started at boot so the exit monitor watches them.
pub async fn users_with_open_positions(store: &Store) -> Result<Vec<i64>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached("SELECT DISTINCT user_id FROM positions WHERE status = 'OPEN'")
        .await?;
    Ok(client.query(&stmt, &[]).await?.iter().map(|r| r.get(0)).collect())
}

// ---------------------------------------------------------------- exit alerts

pub struct ExitAlert {
    pub user_id: i64,
    pub position_id: i64,
    pub symbol: String,
    pub price: Decimal,
    pub reasons: Vec<&'static str>,
}

/// What recording an alert found.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertOutcome {
    /// These reasons had not been alerted before; the audit event is written.
    Recorded(Vec<String>),
    /// Every reason was alerted already.
    AlreadyAlerted,
    /// The position is no longer open (closed by hand or by another daemon).
    NotOpen,
}

/// Records the reasons not alerted yet for a still-open position (once per position and
/// reason, across restarts and daemons) with its `exit.monitor.triggered` audit event.
pub fn record_exit_alert<'a>(tx: &'a Transaction<'a>, a: &'a ExitAlert) -> TxFuture<'a, AlertOutcome> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(
                "WITH open AS (SELECT id FROM positions WHERE id = $1 AND status = 'OPEN') \
                 INSERT INTO exit_alerts (position_id, reason) SELECT open.id, r FROM open, unnest($2::text[]) r \
                 ON CONFLICT DO NOTHING RETURNING reason",
            )
            .await?;
        let reasons: Vec<String> = a.reasons.iter().map(|r| r.to_string()).collect();
        let inserted: Vec<String> = tx
            .query(&stmt, &[&a.position_id, &reasons])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if inserted.is_empty() {
            let open = tx
                .prepare_cached("SELECT 1 FROM positions WHERE id = $1 AND status = 'OPEN'")
                .await?;
            return Ok(if tx.query_opt(&open, &[&a.position_id]).await?.is_some() {
                AlertOutcome::AlreadyAlerted
            } else {
                AlertOutcome::NotOpen
            });
        }
        // Keep the contract's order of reasons.
        let new: Vec<String> = reasons.into_iter().filter(|r| inserted.contains(r)).collect();
        let event = AuditEvent::new(Some(a.user_id), "exit.monitor.triggered")
            .entity("position", a.position_id)
            .details(json!({
                "position_id": a.position_id, "symbol": a.symbol, "price": a.price.normalize(), "reasons": new,
            }));
        audit::record(tx, &event).await?;
        Ok(AlertOutcome::Recorded(new))
    })
}
