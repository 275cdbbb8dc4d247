//! The cost of the actor path alone: registry lookup → UserActor mailbox → handler → reply,
//! with persistence stubbed at the `TradingPersistence` boundary (no database).
//! Run: `cargo bench -p actors --bench actor_roundtrip`

use std::sync::Arc;
use std::time::Duration;

use actors::domain::{Exchange, NewSignal, Signal, SignalId, SignalStatus, Symbol, UserId};
use actors::market::{MarketHub, NullTickSink};
use actors::notifier::Notifier;
use actors::refusals::{CloseRefused, OpenRefused};
use actors::registry::UserRegistry;
use actors::rules::risk::{RiskProfile, RiskSnapshot};
use actors::store::trading::{ActorState, AlertOutcome, Claim, CloseRequest, ExitAlert, OpenRequest, Traded};
use actors::store::StoreError;
use actors::user_actor::{ActorDeps, ClaimSignals, CreateSignal, ExitMode, Submitted, TradingPersistence};
use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};
use rust_decimal::Decimal;

struct StubPersistence;

fn signal(user_id: UserId) -> Signal {
    Signal {
        id: SignalId::new(),
        user_id,
        symbol: Symbol::parse("BTCUSDT").unwrap(),
        module: "m".into(),
        base_risk_percent: Some(Decimal::new(5, 1)),
        entry_price: Some(Decimal::ONE_HUNDRED),
        stop_loss: Some(Decimal::new(95, 0)),
        take_profit: Some(Decimal::new(110, 0)),
        status: SignalStatus::Executing,
        reason_codes: None,
        exchange: Exchange::Binance,
        created_at: chrono::Utc::now(),
    }
}

/// The benchmark's users: ids 0..1000.
fn user(n: u128) -> UserId {
    UserId::from_uuid(uuid::Uuid::from_u128(n))
}

#[async_trait::async_trait]
impl TradingPersistence for StubPersistence {
    fn create_signal(&self, s: NewSignal) -> Submitted<Signal> {
        Ok(Box::pin(async move { Ok(signal(s.user_id)) }))
    }
    fn claim_signals(&self, c: Claim) -> Submitted<Vec<Signal>> {
        let user_id = c.user_id;
        Ok(Box::pin(async move { Ok(vec![signal(user_id)]) }))
    }
    async fn open_position(&self, _: OpenRequest) -> Result<Result<Traded, OpenRefused>, StoreError> {
        Ok(Err(OpenRefused::NotFound))
    }
    async fn close_position(&self, _: CloseRequest) -> Result<Result<Traded, CloseRefused>, StoreError> {
        Ok(Err(CloseRefused::NotFound))
    }
    async fn record_exit_alert(&self, _: ExitAlert) -> Result<AlertOutcome, StoreError> {
        Ok(AlertOutcome::NotOpen)
    }
    async fn load_user(&self, _: UserId, _: NaiveDate) -> Result<Option<ActorState>, StoreError> {
        Ok(Some(ActorState {
            email: "bench@load.test".into(),
            open: Vec::new(),
            strategies: Vec::new(),
            risk: RiskSnapshot::default(),
        }))
    }
}

fn registry() -> UserRegistry {
    UserRegistry::new(ActorDeps {
        persistence: Arc::new(StubPersistence),
        profiles: Arc::new(RiskProfile::model2()),
        caps: Default::default(),
        zone: chrono_tz::America::Bogota,
        idle: Duration::from_secs(300),
        market: Arc::new(MarketHub::new(Arc::new(NullTickSink::default()))),
        notifier: Notifier::disabled(),
        exit_mode: ExitMode::Alert,
        trading: Arc::new(actors::rules::trading_control::TradingGate::OPEN),
        max_auto_closes_per_minute: 50,
        cluster: actors::cluster::Ownership::everything(),
    })
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let users = runtime.block_on(async { registry() });
    // Warm actors for 1,000 users so the benchmark measures steady state, not start-up.
    runtime.block_on(async {
        for n in 0..1000 {
            users.ask(user(n), ClaimSignals { limit: 1 }).await.unwrap().unwrap();
        }
    });
    let mut group = c.benchmark_group("actor_roundtrip");
    group.bench_function("claim_one_user", |b| {
        b.to_async(&runtime)
            .iter(|| async { users.ask(user(7), ClaimSignals { limit: 10 }).await.unwrap().unwrap() })
    });
    let mut next = 0u128;
    group.bench_function("claim_across_1000_users", |b| {
        b.to_async(&runtime).iter(|| {
            next = (next + 1) % 1000;
            let id = user(next);
            let users = users.clone();
            async move { users.ask(id, ClaimSignals { limit: 10 }).await.unwrap().unwrap() }
        })
    });
    group.bench_function("create_signal_one_user", |b| {
        b.to_async(&runtime).iter(|| async {
            let signal = NewSignal {
                id: SignalId::new(),
                user_id: user(7),
                exchange: Exchange::Binance,
                symbol: Symbol::parse("BTCUSDT").unwrap(),
                module: "m".into(),
                base_risk_percent: Decimal::new(5, 1),
                entry_price: Decimal::ONE_HUNDRED,
                stop_loss: Decimal::new(95, 0),
                take_profit: Decimal::new(110, 0),
            };
            users.ask(user(7), CreateSignal(signal)).await.unwrap().unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
