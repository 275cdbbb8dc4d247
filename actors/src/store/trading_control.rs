//! The kill switch's rows (global, and per user) and the copy of them every daemon holds in
//! memory, so a request learns whether it may trade without a database read. The copy is
//! trusted only while the daemon's `ChangeFeed` listens: the table's trigger (V11) announces
//! each change with its version, applied at once; on (re)connecting the whole table is read
//! again; while the listener is down, every question goes to the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};

use super::changes::{ChangeSubscriber, Trust};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::{TradingState, UserId};
use crate::rules::trading_control::TradingGate;

/// The channel the `trading_control` trigger (V11) notifies: `<user id or *> <state> <version>`.
pub const CHANNEL: &str = "trading_control_changed";

/// One switch as stored; `updated_*` are `None` for a switch never touched (ACTIVE).
#[derive(Debug, Clone, PartialEq)]
pub struct TradingControl {
    pub user_id: Option<UserId>,
    pub state: TradingState,
    pub reason: Option<String>,
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl TradingControl {
    fn untouched(user_id: Option<UserId>) -> TradingControl {
        TradingControl {
            user_id,
            state: TradingState::Active,
            reason: None,
            updated_by: None,
            updated_at: None,
        }
    }

    fn from_row(row: &tokio_postgres::Row) -> Result<TradingControl, tokio_postgres::Error> {
        Ok(TradingControl {
            user_id: row.try_get("user_id")?,
            state: row.try_get("state")?,
            reason: row.try_get("reason")?,
            updated_by: row.try_get("updated_by")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

const READ_ONE: &str = "SELECT user_id, state, reason, updated_by, updated_at FROM trading_control \
                        WHERE user_id IS NOT DISTINCT FROM $1";
const READ_GATE: &str = "SELECT user_id, state FROM trading_control WHERE user_id IS NULL OR user_id = $1";
const READ_ALL: &str = "SELECT user_id, state, version FROM trading_control";
const SET: &str = include_str!("sql/set_trading_control.sql");

/// The switch for everyone (`None`) or for one user, as stored now.
pub async fn read(store: &Store, user_id: Option<UserId>) -> Result<TradingControl, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(READ_ONE).await?;
    Ok(match client.query_opt(&stmt, &[&user_id]).await? {
        Some(row) => TradingControl::from_row(&row)?,
        None => TradingControl::untouched(user_id),
    })
}

/// An operator's change of one switch.
#[derive(Debug, Clone)]
pub struct SetTradingControl {
    /// `None` for the global switch.
    pub user_id: Option<UserId>,
    pub state: TradingState,
    pub reason: Option<String>,
    pub by_id: UserId,
    pub by_email: String,
}

/// A switch as a change left it.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingControlSet {
    pub control: TradingControl,
    /// The state the change left.
    pub previous: TradingState,
    /// The version the change was written at (what its notification carries).
    pub version: i64,
}

/// The switch after the change; `None` when the user does not exist. Audited
/// `trading.control.updated` in the same statement.
pub fn set<'a>(tx: &'a Transaction<'a>, cmd: &'a SetTradingControl) -> TxFuture<'a, Option<TradingControlSet>> {
    Box::pin(async move {
        let stmt = tx.prepare_cached(SET).await?;
        let row = tx
            .query_opt(
                &stmt,
                &[&cmd.user_id, &cmd.state, &cmd.reason, &cmd.by_email, &cmd.by_id],
            )
            .await?;
        row.map(|row| {
            Ok(TradingControlSet {
                control: TradingControl::from_row(&row)?,
                previous: row.try_get("previous_state")?,
                version: row.try_get("version")?,
            })
        })
        .transpose()
    })
}

/// Where the switches that apply to a user are learned: the daemon's `TradingControls`, or a
/// fixed gate (for tests and benchmarks).
#[async_trait::async_trait]
pub trait TradingSwitches: Send + Sync + 'static {
    async fn gate(&self, user_id: UserId) -> Result<TradingGate, StoreError>;
}

#[async_trait::async_trait]
impl TradingSwitches for TradingGate {
    async fn gate(&self, _user_id: UserId) -> Result<TradingGate, StoreError> {
        Ok(*self)
    }
}

#[async_trait::async_trait]
impl TradingSwitches for TradingControls {
    async fn gate(&self, user_id: UserId) -> Result<TradingGate, StoreError> {
        TradingControls::gate(self, user_id).await
    }
}

/// The switches as one daemon holds them.
pub struct TradingControls {
    store: Store,
    held: Mutex<Held>,
    trust: Trust,
    me: Weak<TradingControls>,
}

/// Each switch's state with the version it was written at; a switch not held is ACTIVE.
#[derive(Debug, Default)]
struct Held {
    global: Option<(TradingState, i64)>,
    users: HashMap<UserId, (TradingState, i64)>,
}

impl Held {
    fn apply(&mut self, user_id: Option<UserId>, state: TradingState, version: i64) {
        let slot = match user_id {
            None => &mut self.global,
            Some(user_id) => {
                let slot = self.users.entry(user_id).or_insert((state, version));
                if version >= slot.1 {
                    *slot = (state, version);
                }
                return;
            }
        };
        if slot.is_none_or(|(_, held)| version >= held) {
            *slot = Some((state, version));
        }
    }

    fn gate(&self, user_id: UserId) -> TradingGate {
        TradingGate {
            global: self.global.map_or(TradingState::Active, |(state, _)| state),
            user: self
                .users
                .get(&user_id)
                .map_or(TradingState::Active, |(state, _)| *state),
        }
    }
}

/// Parses the trigger's payload: `<user id or *> <state> <version>`.
fn parse_payload(payload: &str) -> Option<(Option<UserId>, TradingState, i64)> {
    let mut parts = payload.split(' ');
    let user_id = match parts.next()? {
        "*" => None,
        id => Some(id.parse().ok()?),
    };
    let state = parts.next()?.parse().ok()?;
    let version = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((user_id, state, version))
}

impl TradingControls {
    pub fn new(store: Store) -> Arc<TradingControls> {
        Arc::new_cyclic(|me| TradingControls {
            store,
            held: Mutex::new(Held::default()),
            trust: Trust::default(),
            me: me.clone(),
        })
    }

    /// The switches that apply to `user_id` now: from memory while it is kept current, else
    /// from the database.
    pub async fn gate(&self, user_id: UserId) -> Result<TradingGate, StoreError> {
        if self.trust.is_trusted() {
            return Ok(self.lock().gate(user_id));
        }
        let client = self.store.reader().await?;
        let stmt = client.prepare_cached(READ_GATE).await?;
        let mut gate = TradingGate::OPEN;
        for row in client.query(&stmt, &[&user_id]).await? {
            let state: TradingState = row.try_get("state")?;
            match row.try_get::<_, Option<UserId>>("user_id")? {
                None => gate.global = state,
                Some(_) => gate.user = state,
            }
        }
        Ok(gate)
    }

    /// Applies a change this daemon just committed, so its own next request sees it without
    /// waiting for the notification (which then finds it applied).
    pub fn applied(&self, set: &TradingControlSet) {
        self.lock().apply(set.control.user_id, set.control.state, set.version);
    }

    /// Whether the in-memory copy answers (false while the listener is down or reloading).
    pub fn is_current(&self) -> bool {
        self.trust.is_trusted()
    }

    async fn reload(&self, generation: u64) {
        self.trust
            .reload(generation, "trading controls", || async {
                let rows = self.read_all().await?;
                let mut held = self.lock();
                for (user_id, state, version) in rows {
                    held.apply(user_id, state, version);
                }
                Ok(())
            })
            .await
    }

    async fn read_all(&self) -> Result<Vec<(Option<UserId>, TradingState, i64)>, StoreError> {
        let client = self.store.reader().await?;
        let stmt = client.prepare_cached(READ_ALL).await?;
        let rows = client.query(&stmt, &[]).await?;
        let mut all = Vec::with_capacity(rows.len());
        for row in rows {
            all.push((row.try_get("user_id")?, row.try_get("state")?, row.try_get("version")?));
        }
        Ok(all)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ChangeSubscriber for TradingControls {
    fn notified(&self, payload: &str) {
        match parse_payload(payload) {
            Some((user_id, state, version)) => self.lock().apply(user_id, state, version),
            None => tracing::warn!(payload, "unreadable trading control notification"),
        }
    }

    fn connected(&self) {
        self.trust
            .reload_on_connect(&self.me, |me, generation| async move { me.reload(generation).await });
    }

    fn disconnected(&self) {
        self.trust.disconnected();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TradingState::{Active, Halted, Reducing};

    #[test]
    fn payloads_parse_strictly() {
        let id = UserId::new();
        assert_eq!(parse_payload("* HALTED 7"), Some((None, Halted, 7)));
        assert_eq!(
            parse_payload(&format!("{id} REDUCING 12")),
            Some((Some(id), Reducing, 12))
        );
        assert_eq!(parse_payload("* HALTED"), None);
        assert_eq!(parse_payload("* STOPPED 3"), None);
        assert_eq!(parse_payload("nobody ACTIVE 3"), None);
        assert_eq!(parse_payload("* ACTIVE 3 extra"), None);
    }

    #[test]
    fn an_older_version_never_overwrites_a_newer_one() {
        let id = UserId::new();
        let mut held = Held::default();
        held.apply(None, Halted, 5);
        held.apply(None, Active, 4);
        held.apply(Some(id), Reducing, 9);
        held.apply(Some(id), Active, 8);
        assert_eq!(
            held.gate(id),
            TradingGate {
                global: Halted,
                user: Reducing
            }
        );
        held.apply(None, Active, 6);
        assert_eq!(held.gate(id).global, Active);
    }

    #[test]
    fn a_switch_never_touched_is_active() {
        let mut held = Held::default();
        held.apply(Some(UserId::new()), Halted, 1);
        assert_eq!(held.gate(UserId::new()), TradingGate::OPEN);
    }
}
