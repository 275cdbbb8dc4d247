//! Time to fan one price tick out to the users holding positions in that symbol.
//!
//! `hub.publish` for ONE symbol with 1,000 / 10,000 / 100,000 subscriptions (open positions)
//! spread over 100 to 10,000 users, delivered to a counting sink. Other symbols hold the same
//! number of subscriptions, so the numbers show that a tick costs what its own symbol's
//! subscribers cost, not what all subscriptions cost. (The lead extends this to the full
//! actor evaluation.) `guarded` runs the same publishes through the tick-jump guard (one map
//! lookup under a mutex per tick), with prices inside its band so every tick is delivered.
//! Run: `cargo bench -p actors --bench market_publish`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actors::domain::{Exchange, UserId};
use actors::market::{MarketHub, PriceTick, SuspectSink, SuspectTick, TickSink};
use actors::rules::exit_guard::TickJumpGuard;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rust_decimal::Decimal;

#[derive(Default)]
struct Counting(AtomicU64);

impl TickSink for Counting {
    fn deliver(&self, user_id: UserId, tick: PriceTick) {
        black_box((user_id, &tick));
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

struct NoSuspects;

impl SuspectSink for NoSuspects {
    fn report(&self, suspect: SuspectTick) {
        black_box(suspect);
    }
}

/// A hub where `symbol` has `positions` subscriptions over `users` users (round robin), plus
/// nine other symbols with as many again.
fn hub_with(positions: usize, users: usize, guarded: bool) -> (Arc<Counting>, MarketHub) {
    let sink = Arc::new(Counting::default());
    let mut hub = MarketHub::new(sink.clone());
    if guarded {
        hub = hub.with_tick_guard(TickJumpGuard::default(), Arc::new(NoSuspects));
    }
    for other in 0..10 {
        let symbol = if other == 0 {
            "BTCUSDT".to_string()
        } else {
            format!("ALT{other}USDT")
        };
        for p in 0..positions {
            hub.subscribe(
                Exchange::Binance,
                &symbol,
                UserId::from_uuid(uuid::Uuid::from_u128((p % users) as u128 + 1)),
            );
        }
    }
    (sink, hub)
}

fn publish_one_symbol(c: &mut Criterion) {
    publish_group(c, "publish_one_symbol", false);
    publish_group(c, "publish_one_symbol_guarded", true);
}

fn publish_group(c: &mut Criterion, name: &str, guarded: bool) {
    let mut group = c.benchmark_group(name);
    let price = Decimal::new(4_900_050, 2);
    for (positions, users) in [
        (1_000, 100),
        (1_000, 1_000),
        (10_000, 1_000),
        (10_000, 10_000),
        (100_000, 10_000),
    ] {
        let (sink, hub) = hub_with(positions, users, guarded);
        group.throughput(Throughput::Elements(users as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("{positions}_positions"), format!("{users}_users")),
            &hub,
            |b, hub| {
                b.iter(|| hub.publish(Exchange::Binance, vec![("BTC/USDT".to_string(), price)]));
            },
        );
        assert!(sink.0.load(Ordering::Relaxed) > 0);
    }
    group.finish();
}

criterion_group!(benches, publish_one_symbol);
criterion_main!(benches);
