//! The user-actor supervisor: restart after a panic (state reloaded), stop when idle, refuse
//! when the mailbox is full — with persistence stubbed at the trait boundary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actors::domain::{
    Exchange, NewSignal, Position, PositionId, PositionSide, PositionStatus, Signal, SignalId, Symbol, UserId,
};
use actors::mailbox::MailboxError;
use actors::market::{MarketHub, NullTickSink};
use actors::notifier::Notifier;
use actors::refusals::{CloseRefused, OpenRefused};
use actors::registry::UserRegistry;
use actors::rules::risk::{RiskProfile, RiskSnapshot};
use actors::store::trading::{ActorState, AlertOutcome, Claim, CloseRequest, ExitAlert, OpenRequest, Traded};
use actors::store::StoreError;
use actors::user_actor::{
    ActorDeps, ClaimSignals, Command, CountOpen, ExitMode, OpenPosition, Submitted, TradingPersistence,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;

#[derive(Default)]
struct Stub {
    loads: AtomicUsize,
    claims: AtomicUsize,
    /// Claims with this limit panic inside the actor.
    panic_limit: i64,
    /// Opens take this long (the actor waits for them, so its mailbox fills).
    open_delay_ms: u64,
}

/// A user id from a small number.
fn user(n: u128) -> UserId {
    UserId::from_uuid(uuid::Uuid::from_u128(n))
}

fn position() -> Position {
    Position {
        id: PositionId::new(),
        user_id: user(1),
        signal_id: Some(SignalId::new()),
        exchange: Exchange::Binance,
        symbol: Symbol::parse("BTCUSDT").unwrap(),
        side: PositionSide::Long,
        qty: Decimal::ONE,
        entry_price: Decimal::ONE_HUNDRED,
        stop_loss: None,
        take_profit: None,
        status: PositionStatus::Open,
        realized_pnl: None,
        fees: None,
        exit_price: None,
        exit_reason: None,
        opened_at: chrono::Utc::now(),
        closed_at: None,
    }
}

#[async_trait::async_trait]
impl TradingPersistence for Stub {
    fn create_signal(&self, _: NewSignal) -> Submitted<Signal> {
        Err(StoreError::Unavailable("not used".into()))
    }
    fn claim_signals(&self, c: Claim) -> Submitted<Vec<Signal>> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        if c.limit == self.panic_limit {
            panic!("injected failure");
        }
        Ok(Box::pin(async { Ok(Vec::new()) }))
    }
    async fn open_position(&self, _: OpenRequest) -> Result<Result<Traded, OpenRefused>, StoreError> {
        tokio::time::sleep(Duration::from_millis(self.open_delay_ms)).await;
        Ok(Err(OpenRefused::NotFound))
    }
    async fn close_position(&self, _: CloseRequest) -> Result<Result<Traded, CloseRefused>, StoreError> {
        Ok(Err(CloseRefused::NotFound))
    }
    async fn record_exit_alert(&self, _: ExitAlert) -> Result<AlertOutcome, StoreError> {
        Ok(AlertOutcome::NotOpen)
    }
    async fn load_user(&self, user_id: UserId, _: NaiveDate) -> Result<Option<ActorState>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        // User 1 holds two open positions; the others hold none.
        let open = if user_id == user(1) {
            vec![position(), position()]
        } else {
            Vec::new()
        };
        Ok((user_id != user(404)).then(|| ActorState {
            email: "u@load.test".to_string(),
            open,
            strategies: Vec::new(),
            risk: RiskSnapshot::default(),
        }))
    }
}

fn registry(stub: Arc<Stub>, idle: Duration) -> UserRegistry {
    UserRegistry::new(ActorDeps {
        persistence: stub,
        profiles: Arc::new(RiskProfile::model2()),
        caps: Default::default(),
        zone: chrono_tz::America::Bogota,
        idle,
        market: Arc::new(MarketHub::new(Arc::new(NullTickSink::default()))),
        notifier: Notifier::disabled(),
        exit_mode: ExitMode::Alert,
        trading: Arc::new(actors::rules::trading_control::TradingGate::OPEN),
        max_auto_closes_per_minute: 50,
        cluster: actors::cluster::Ownership::everything(),
    })
}

async fn count_open(users: &UserRegistry, n: u128) -> Result<usize, MailboxError> {
    users.ask(user(n), CountOpen).await
}

#[tokio::test]
async fn a_panicking_actor_is_restarted_and_reloads_its_state() {
    let stub = Arc::new(Stub {
        panic_limit: 13,
        ..Default::default()
    });
    let users = registry(stub.clone(), Duration::from_secs(60));
    assert_eq!(count_open(&users, 1).await, Ok(2));
    assert_eq!(stub.loads.load(Ordering::SeqCst), 1);

    let answer = users.ask(user(1), ClaimSignals { limit: 13 }).await;
    assert_eq!(
        answer.err(),
        Some(MailboxError::Stopped),
        "the caller of the failed message learns that the actor stopped"
    );
    for _ in 0..100 {
        if users.restarts() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(users.restarts(), 1);
    assert_eq!(
        count_open(&users, 1).await,
        Ok(2),
        "the restarted actor reloaded its open positions"
    );
    assert_eq!(stub.loads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_actors_stop_and_start_again_on_demand() {
    let stub = Arc::new(Stub::default());
    let users = registry(stub.clone(), Duration::from_millis(100));
    for n in 1..=50 {
        count_open(&users, n).await.unwrap();
    }
    assert_eq!(users.active(), 50);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        users.active(),
        1,
        "idle actors released, but not the one watching open positions"
    );
    assert_eq!(
        users.stopped(),
        49,
        "each stop is counted (the memory release keys on it)"
    );
    assert_eq!(count_open(&users, 7).await, Ok(0));
    assert_eq!(users.active(), 2);
    assert_eq!(stub.loads.load(Ordering::SeqCst), 51);
}

#[tokio::test]
async fn an_actor_whose_user_is_gone_stops_without_answering() {
    let users = registry(Arc::new(Stub::default()), Duration::from_secs(60));
    assert_eq!(count_open(&users, 404).await, Err(MailboxError::Stopped));
}

#[tokio::test]
async fn a_full_mailbox_refuses_at_once() {
    let stub = Arc::new(Stub {
        open_delay_ms: 200,
        panic_limit: -1,
        ..Default::default()
    });
    let users = registry(stub.clone(), Duration::from_secs(60));
    count_open(&users, 1).await.unwrap();
    let mut refused = 0;
    let mut pending = Vec::new();
    for _ in 0..(actors::registry::MAILBOX_CAPACITY + 20) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let open = OpenPosition {
            signal_id: SignalId::new(),
            qty: Decimal::ONE,
        };
        match users.tell(user(1), open.into_message(reply)) {
            Ok(()) => pending.push(answer),
            Err(err) => {
                assert_eq!(err, MailboxError::Busy);
                refused += 1;
            }
        }
    }
    assert!(
        refused >= 19,
        "a bounded mailbox refuses the overflow ({refused} refused)"
    );
    drop(pending);
}
