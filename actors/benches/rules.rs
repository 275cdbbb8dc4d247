//! The pure rules, alone: risk checks before an open and PnL.
//! Run: `cargo bench -p actors --bench rules`

use actors::rules::risk::{self, RiskProfile, RiskSnapshot};
use chrono::Utc;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rust_decimal::Decimal;

fn bench(c: &mut Criterion) {
    let profile = RiskProfile::model2();
    let now = Utc::now();
    let snapshot = RiskSnapshot {
        open_positions: 1,
        last_trade_at: Some(now - chrono::Duration::hours(1)),
        trades_today: 2,
        realized_pnl_today: Decimal::new(-75, 2),
    };
    c.bench_function("rules/check_open", |b| {
        b.iter(|| risk::check_open(black_box(&profile), black_box(&snapshot), now))
    });
    c.bench_function("rules/realized_pnl", |b| {
        b.iter(|| {
            risk::realized_pnl(
                black_box(Decimal::new(6512345, 2)),
                black_box(Decimal::new(6601000, 2)),
                black_box(Decimal::new(15, 3)),
                black_box(Decimal::new(12, 2)),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
