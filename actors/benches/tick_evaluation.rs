//! The exit monitor's cost of one tick: publish a price for a symbol held by P open positions
//! spread over U users, and wait until every user actor has evaluated its positions (in-band
//! price: the rules run, nothing fires, nothing is written). Persistence is stubbed.
//! Each sample = publish + a flush (one `CountOpen` ask per user, queued behind the tick);
//! the `flush_only` rows measure the flush alone, so tick cost ≈ `tick` − `flush_only`.
//! Run: `cargo bench -p actors --bench tick_evaluation`

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::domain::{Exchange, NewSignal, Position, PositionId, PositionSide, PositionStatus, Signal, Symbol, UserId};
use actors::market::{MarketHub, NullTickSink};
use actors::notifier::Notifier;
use actors::refusals::{CloseRefused, OpenRefused};
use actors::registry::UserRegistry;
use actors::rules::risk::{RiskProfile, RiskSnapshot};
use actors::store::trading::{ActorState, AlertOutcome, Claim, CloseRequest, ExitAlert, OpenRequest, Traded};
use actors::store::StoreError;
use actors::user_actor::{ActorDeps, CountOpen, ExitMode, Submitted, TradingPersistence};
use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rust_decimal::Decimal;

/// Every user holds `per_user` open BTCUSDT positions (entry 100, stop 95, take 110).
struct Positions {
    per_user: usize,
}

#[async_trait::async_trait]
impl TradingPersistence for Positions {
    fn create_signal(&self, _: NewSignal) -> Submitted<Signal> {
        Err(StoreError::Unavailable("not used".into()))
    }
    fn claim_signals(&self, _: Claim) -> Submitted<Vec<Signal>> {
        Err(StoreError::Unavailable("not used".into()))
    }
    async fn open_position(&self, _: OpenRequest) -> Result<Result<Traded, OpenRefused>, StoreError> {
        Err(StoreError::Unavailable("not used".into()))
    }
    async fn close_position(&self, _: CloseRequest) -> Result<Result<Traded, CloseRefused>, StoreError> {
        Err(StoreError::Unavailable("not used".into()))
    }
    async fn record_exit_alert(&self, _: ExitAlert) -> Result<AlertOutcome, StoreError> {
        Ok(AlertOutcome::AlreadyAlerted)
    }
    async fn load_user(&self, user_id: UserId, _: NaiveDate) -> Result<Option<ActorState>, StoreError> {
        let open = (0..self.per_user)
            .map(|_| Position {
                id: PositionId::new(),
                user_id,
                signal_id: None,
                exchange: Exchange::Binance,
                symbol: Symbol::parse("BTCUSDT").unwrap(),
                side: PositionSide::Long,
                qty: Decimal::ONE,
                entry_price: Decimal::ONE_HUNDRED,
                stop_loss: Some(Decimal::new(95, 0)),
                take_profit: Some(Decimal::new(110, 0)),
                status: PositionStatus::Open,
                realized_pnl: None,
                fees: None,
                exit_price: None,
                exit_reason: None,
                opened_at: chrono::Utc::now(),
                closed_at: None,
            })
            .collect();
        Ok(Some(ActorState {
            email: format!("u{user_id}@load.test"),
            open,
            strategies: Vec::new(),
            risk: RiskSnapshot::default(),
        }))
    }
}

/// The benchmark's users: ids 0..count.
fn user(n: i64) -> UserId {
    UserId::from_uuid(uuid::Uuid::from_u128(n as u128))
}

async fn flush(users: &UserRegistry, count: i64) {
    let asks = (0..count).map(|u| users.ask(user(u), CountOpen));
    for answer in futures::future::join_all(asks).await {
        answer.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tick_evaluation");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    for (positions, users) in [
        (1_000usize, 100i64),
        (1_000, 1_000),
        (10_000, 1_000),
        (10_000, 10_000),
        (100_000, 10_000),
    ] {
        let per_user = positions / users as usize;
        let (registry, market) = runtime.block_on(async {
            let market = Arc::new(MarketHub::new(Arc::new(NullTickSink::default())));
            let registry = UserRegistry::new(ActorDeps {
                persistence: Arc::new(Positions { per_user }),
                profiles: Arc::new(RiskProfile::model2()),
                caps: Default::default(),
                zone: chrono_tz::America::Bogota,
                idle: Duration::from_secs(3600),
                market: market.clone(),
                notifier: Notifier::disabled(),
                exit_mode: ExitMode::Alert,
                trading: Arc::new(actors::rules::trading_control::TradingGate::OPEN),
                max_auto_closes_per_minute: 50,
                cluster: actors::cluster::Ownership::everything(),
            });
            market.set_sink(Arc::new(registry.clone()));
            flush(&registry, users).await; // start every actor: they subscribe their positions
            (registry, market)
        });
        let label = format!("{positions}_positions_{users}_users");
        group.bench_function(BenchmarkId::new("tick", &label), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        market.publish(Exchange::Binance, vec![("BTCUSDT".into(), Decimal::new(1005, 1))]);
                        flush(&registry, users).await;
                    }
                    started.elapsed()
                })
            })
        });
        group.bench_function(BenchmarkId::new("flush_only", &label), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        flush(&registry, users).await;
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
