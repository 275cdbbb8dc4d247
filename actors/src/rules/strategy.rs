//! Strategy rules: which strategy applies to a user on an exchange, the pre-trade checks and the
//! exit triggers, as pure functions over plain data (the contract's tables, in its order).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

pub use crate::domain::ExitReason;
use crate::domain::{Exchange, Side, StrategyId, Timeframe};
use crate::rules::risk::{cooldown_active, daily_stop_reached, RiskProfile, RiskSnapshot};

/// Where a user's strategy on an exchange came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategySource {
    Default,
    Assignment,
}

impl StrategySource {
    pub fn as_str(&self) -> &'static str {
        match self {
            StrategySource::Default => "default",
            StrategySource::Assignment => "assignment",
        }
    }
}

/// The strategy that applies to a user on one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyResolution {
    pub strategy_id: StrategyId,
    pub enabled: bool,
    pub source: StrategySource,
}

impl StrategyResolution {
    /// No assignment row: `SWING_V1`, enabled, source `default`.
    pub const DEFAULT: StrategyResolution = StrategyResolution {
        strategy_id: StrategyId::SwingV1,
        enabled: true,
        source: StrategySource::Default,
    };

    /// From an optional assignment row `(strategy, enabled)`.
    pub fn resolve(row: Option<(StrategyId, bool)>) -> StrategyResolution {
        match row {
            None => StrategyResolution::DEFAULT,
            Some((strategy_id, enabled)) => StrategyResolution {
                strategy_id,
                enabled,
                source: StrategySource::Assignment,
            },
        }
    }
}

/// One named check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

fn check(name: &'static str, passed: bool, detail: String) -> Check {
    Check { name, passed, detail }
}

/// The strategy thresholds of one strategy on one exchange (the contract's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyRules {
    pub rr_min: Decimal,
    pub trend_tfs: &'static [Timeframe],
    pub signal_tfs: &'static [Timeframe],
    pub timing_tfs: &'static [Timeframe],
    /// BINANCE only: minimum 24 h volume (USDT), maximum spread and slippage (bps).
    pub min_volume_24h: Decimal,
    pub max_spread_bps: Decimal,
    pub max_slippage_bps: Decimal,
    /// Minutes after which an open position should be closed.
    pub time_limit_minutes: i64,
}

pub fn strategy_rules(strategy: StrategyId, exchange: Exchange) -> StrategyRules {
    let swing = strategy == StrategyId::SwingV1;
    use Timeframe::*;
    let (trend_tfs, signal_tfs, timing_tfs): (&[Timeframe], &[Timeframe], &[Timeframe]) = match (strategy, exchange) {
        (StrategyId::SwingV1, Exchange::Binance) => (&[H4], &[H1], &[M15]),
        (StrategyId::SwingV1, Exchange::Ibkr) => (&[D1, H4], &[H1, M30], &[M5, M15]),
        (StrategyId::IntradayV1, _) => (&[H1], &[M15], &[M5, M15]),
    };
    StrategyRules {
        rr_min: if swing {
            Decimal::new(15, 1)
        } else {
            Decimal::new(13, 1)
        },
        trend_tfs,
        signal_tfs,
        timing_tfs,
        min_volume_24h: if swing {
            Decimal::new(50_000_000, 0)
        } else {
            Decimal::new(80_000_000, 0)
        },
        max_spread_bps: if swing { Decimal::new(10, 0) } else { Decimal::new(8, 0) },
        max_slippage_bps: if swing {
            Decimal::new(15, 0)
        } else {
            Decimal::new(12, 0)
        },
        time_limit_minutes: if swing { 480 } else { 240 },
    }
}

/// The market-side facts of a pre-trade request.
#[derive(Debug, Clone, PartialEq)]
pub struct PretradeInput {
    pub rr_estimate: Decimal,
    pub trend_tf: Timeframe,
    pub signal_tf: Timeframe,
    pub timing_tf: Timeframe,
    pub spread_bps: Decimal,
    pub slippage_bps: Decimal,
    pub volume_24h_usdt: Decimal,
    pub in_rth: bool,
    pub macro_event_block: bool,
    pub earnings_within_24h: bool,
}

/// The user-side facts: their strategy, credentials, risk profile and today's state.
#[derive(Debug, Clone)]
pub struct PretradeContext<'a> {
    pub exchange: Exchange,
    pub strategy: StrategyResolution,
    pub secret_configured: bool,
    pub profile: &'a RiskProfile,
    pub snapshot: &'a RiskSnapshot,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PretradeDecision {
    pub passed: bool,
    pub checks: Vec<Check>,
}

fn tf_check(name: &'static str, value: &Timeframe, allowed: &[Timeframe]) -> Check {
    let names: Vec<&str> = allowed.iter().map(Timeframe::as_str).collect();
    check(
        name,
        allowed.contains(value),
        format!("{value} in [{}]", names.join(", ")),
    )
}

/// Every pre-trade check, in the contract's order; passed = all pass.
pub fn evaluate_pretrade(input: &PretradeInput, ctx: &PretradeContext<'_>) -> PretradeDecision {
    let exchange = ctx.exchange;
    let strategy = ctx.strategy;
    let profile = ctx.profile;
    let snap = ctx.snapshot;
    let rules = strategy_rules(strategy.strategy_id, exchange);
    let mut checks = vec![
        check(
            "strategy_enabled",
            strategy.enabled,
            format!(
                "{} ({}) is {} on {exchange}",
                strategy.strategy_id,
                strategy.source.as_str(),
                if strategy.enabled { "enabled" } else { "disabled" }
            ),
        ),
        check(
            "exchange_secret_configured",
            ctx.secret_configured,
            if ctx.secret_configured {
                format!("{exchange} credentials configured")
            } else {
                format!("{exchange} credentials missing")
            },
        ),
        check(
            "daily_stop_not_reached",
            !daily_stop_reached(profile, snap.realized_pnl_today),
            format!(
                "realized_pnl_today={} daily_stop={}",
                snap.realized_pnl_today.normalize(),
                profile.daily_stop().normalize()
            ),
        ),
        check(
            "max_trades_not_reached",
            snap.trades_today < profile.max_trades_per_day,
            format!(
                "trades_today={} max_trades={}",
                snap.trades_today, profile.max_trades_per_day
            ),
        ),
        check(
            "max_open_positions_not_reached",
            snap.open_positions < profile.max_open_positions,
            format!(
                "open_positions={} max_open_positions={}",
                snap.open_positions, profile.max_open_positions
            ),
        ),
        {
            let active = cooldown_active(profile, snap.last_trade_at, ctx.now);
            let since = match snap.last_trade_at {
                Some(last) => format!("{} min since last trade", (ctx.now - last).num_minutes()),
                None => "no previous trade".to_string(),
            };
            check(
                "cooldown_passed",
                !active,
                format!("{since}; cooldown={}m", profile.cooldown_between_trades_minutes),
            )
        },
        check(
            "strategy_rr_min",
            input.rr_estimate >= rules.rr_min,
            format!(
                "rr_estimate={} min={}",
                input.rr_estimate.normalize(),
                rules.rr_min.normalize()
            ),
        ),
        tf_check("strategy_trend_tf", &input.trend_tf, rules.trend_tfs),
        tf_check("strategy_signal_tf", &input.signal_tf, rules.signal_tfs),
        tf_check("strategy_timing_tf", &input.timing_tf, rules.timing_tfs),
    ];
    match exchange {
        Exchange::Binance => {
            checks.push(check(
                "liq_volume_24h",
                input.volume_24h_usdt >= rules.min_volume_24h,
                format!(
                    "volume_24h_usdt={} min={}",
                    input.volume_24h_usdt.normalize(),
                    rules.min_volume_24h
                ),
            ));
            checks.push(check(
                "liq_spread_bps",
                input.spread_bps <= rules.max_spread_bps,
                format!(
                    "spread_bps={} max={}",
                    input.spread_bps.normalize(),
                    rules.max_spread_bps
                ),
            ));
            checks.push(check(
                "liq_slippage_bps",
                input.slippage_bps <= rules.max_slippage_bps,
                format!(
                    "slippage_bps={} max={}",
                    input.slippage_bps.normalize(),
                    rules.max_slippage_bps
                ),
            ));
        }
        Exchange::Ibkr => {
            checks.push(check("ibkr_in_rth", input.in_rth, format!("in_rth={}", input.in_rth)));
            checks.push(check(
                "ibkr_no_macro_block",
                !input.macro_event_block,
                format!("macro_event_block={}", input.macro_event_block),
            ));
            checks.push(check(
                "ibkr_no_earnings_24h",
                !input.earnings_within_24h,
                format!("earnings_within_24h={}", input.earnings_within_24h),
            ));
        }
    }
    PretradeDecision {
        passed: checks.iter().all(|c| c.passed),
        checks,
    }
}

/// What the exit triggers look at. `stop_loss` / `take_profit` may be absent on a position
/// (then that trigger never fires).
#[derive(Debug, Clone, PartialEq)]
pub struct ExitInput {
    pub side: Side,
    pub entry_price: Decimal,
    pub current_price: Decimal,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub opened_minutes: Decimal,
    pub trend_break: bool,
    pub signal_reverse: bool,
    pub macro_event_block: bool,
    pub earnings_within_24h: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitDecision {
    pub should_exit: bool,
    /// Deduplicated, in the contract's order.
    pub reasons: Vec<ExitReason>,
    /// Every exit check; a check "passes" when its trigger fires.
    pub checks: Vec<Check>,
}

fn opt(value: Option<Decimal>) -> String {
    value
        .map(|v| v.normalize().to_string())
        .unwrap_or_else(|| "none".into())
}

/// The exit triggers of one position, in the contract's order.
pub fn evaluate_exit(strategy: StrategyId, exchange: Exchange, input: &ExitInput) -> ExitDecision {
    let price = input.current_price;
    let (stop_hit, take_hit) = match input.side {
        Side::Buy => (
            input.stop_loss.is_some_and(|s| price <= s),
            input.take_profit.is_some_and(|t| price >= t),
        ),
        Side::Sell => (
            input.stop_loss.is_some_and(|s| price >= s),
            input.take_profit.is_some_and(|t| price <= t),
        ),
    };
    let limit = strategy_rules(strategy, exchange).time_limit_minutes;
    let time_hit = input.opened_minutes >= Decimal::from(limit);
    let mut fired: Vec<(Check, ExitReason)> = vec![
        (
            check(
                "exit_stop_loss_hit",
                stop_hit,
                format!(
                    "{} current={} stop_loss={}",
                    input.side,
                    price.normalize(),
                    opt(input.stop_loss)
                ),
            ),
            ExitReason::StopLossHit,
        ),
        (
            check(
                "exit_take_profit_hit",
                take_hit,
                format!(
                    "{} current={} take_profit={}",
                    input.side,
                    price.normalize(),
                    opt(input.take_profit)
                ),
            ),
            ExitReason::TakeProfitHit,
        ),
        (
            check(
                "exit_time_limit",
                time_hit,
                format!("opened_minutes={} limit={limit}", input.opened_minutes.normalize()),
            ),
            ExitReason::TimeLimitReached,
        ),
        (
            check(
                "exit_trend_break",
                input.trend_break,
                format!("trend_break={}", input.trend_break),
            ),
            ExitReason::TrendBreak,
        ),
        (
            check(
                "exit_signal_reverse",
                input.signal_reverse,
                format!("signal_reverse={}", input.signal_reverse),
            ),
            ExitReason::SignalReverse,
        ),
    ];
    if exchange == Exchange::Ibkr {
        fired.push((
            check(
                "exit_event_risk",
                input.macro_event_block || input.earnings_within_24h,
                format!(
                    "macro_event_block={} earnings_within_24h={}",
                    input.macro_event_block, input.earnings_within_24h
                ),
            ),
            ExitReason::EventRiskExit,
        ));
    }
    let mut reasons: Vec<ExitReason> = Vec::new();
    for (c, reason) in &fired {
        if c.passed && !reasons.contains(reason) {
            reasons.push(*reason);
        }
    }
    reasons.sort();
    ExitDecision {
        should_exit: !reasons.is_empty(),
        reasons,
        checks: fired.into_iter().map(|(c, _)| c).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use Exchange::*;
    use StrategyId::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
    }

    fn good_input(strategy: StrategyId, exchange: Exchange) -> PretradeInput {
        let r = strategy_rules(strategy, exchange);
        PretradeInput {
            rr_estimate: d("2.0"),
            trend_tf: r.trend_tfs[0].clone(),
            signal_tf: r.signal_tfs[0].clone(),
            timing_tf: r.timing_tfs[0].clone(),
            spread_bps: d("5"),
            slippage_bps: d("10"),
            volume_24h_usdt: d("100000000"),
            in_rth: true,
            macro_event_block: false,
            earnings_within_24h: false,
        }
    }

    fn run(strategy: StrategyId, exchange: Exchange, input: &PretradeInput, snap: &RiskSnapshot) -> PretradeDecision {
        let profile = RiskProfile::model2();
        let ctx = PretradeContext {
            exchange,
            strategy: StrategyResolution {
                strategy_id: strategy,
                enabled: true,
                source: StrategySource::Assignment,
            },
            secret_configured: true,
            profile: &profile,
            snapshot: snap,
            now: now(),
        };
        evaluate_pretrade(input, &ctx)
    }

    fn outcome(decision: &PretradeDecision, name: &str) -> bool {
        decision
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
            .passed
    }

    #[test]
    fn resolution_defaults_to_swing_enabled() {
        assert_eq!(
            StrategyResolution::resolve(None),
            StrategyResolution {
                strategy_id: SwingV1,
                enabled: true,
                source: StrategySource::Default
            }
        );
        let r = StrategyResolution::resolve(Some((IntradayV1, false)));
        assert_eq!(
            (r.strategy_id, r.enabled, r.source),
            (IntradayV1, false, StrategySource::Assignment)
        );
    }

    #[test]
    fn check_names_in_contract_order() {
        let generic = [
            "strategy_enabled",
            "exchange_secret_configured",
            "daily_stop_not_reached",
            "max_trades_not_reached",
            "max_open_positions_not_reached",
            "cooldown_passed",
            "strategy_rr_min",
            "strategy_trend_tf",
            "strategy_signal_tf",
            "strategy_timing_tf",
        ];
        for (exchange, extra) in [
            (Binance, ["liq_volume_24h", "liq_spread_bps", "liq_slippage_bps"]),
            (Ibkr, ["ibkr_in_rth", "ibkr_no_macro_block", "ibkr_no_earnings_24h"]),
        ] {
            for strategy in [SwingV1, IntradayV1] {
                let dec = run(
                    strategy,
                    exchange,
                    &good_input(strategy, exchange),
                    &RiskSnapshot::default(),
                );
                let names: Vec<&str> = dec.checks.iter().map(|c| c.name).collect();
                let expected: Vec<&str> = generic.iter().chain(extra.iter()).copied().collect();
                assert_eq!(names, expected);
                assert!(dec.passed, "{strategy} {exchange}: {:?}", dec.checks);
            }
        }
    }

    #[test]
    fn rr_min_at_under_over() {
        for (strategy, exchange, bound) in [
            (SwingV1, Binance, "1.5"),
            (SwingV1, Ibkr, "1.5"),
            (IntradayV1, Binance, "1.3"),
            (IntradayV1, Ibkr, "1.3"),
        ] {
            let b = d(bound);
            for (rr, pass) in [(b, true), (b - d("0.01"), false), (b + d("0.01"), true)] {
                let input = PretradeInput {
                    rr_estimate: rr,
                    ..good_input(strategy, exchange)
                };
                let dec = run(strategy, exchange, &input, &RiskSnapshot::default());
                assert_eq!(outcome(&dec, "strategy_rr_min"), pass, "{strategy} {exchange} rr={rr}");
                assert_eq!(dec.passed, pass);
            }
        }
    }

    #[test]
    fn timeframe_table() {
        let all = ["1D", "4H", "1H", "30M", "15M", "5M", "1M"];
        /// The contract's allowed trend, signal and timing timeframes.
        type Allowed = (
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
        );
        let table: [(StrategyId, Exchange, Allowed); 4] = [
            (SwingV1, Binance, (&["4H"], &["1H"], &["15M"])),
            (SwingV1, Ibkr, (&["1D", "4H"], &["1H", "30M"], &["5M", "15M"])),
            (IntradayV1, Binance, (&["1H"], &["15M"], &["5M", "15M"])),
            (IntradayV1, Ibkr, (&["1H"], &["15M"], &["5M", "15M"])),
        ];
        for (strategy, exchange, (trend, signal, timing)) in table {
            for tf in all {
                let base = good_input(strategy, exchange);
                let cases = [
                    (
                        "strategy_trend_tf",
                        trend,
                        PretradeInput {
                            trend_tf: tf.parse().unwrap(),
                            ..base.clone()
                        },
                    ),
                    (
                        "strategy_signal_tf",
                        signal,
                        PretradeInput {
                            signal_tf: tf.parse().unwrap(),
                            ..base.clone()
                        },
                    ),
                    (
                        "strategy_timing_tf",
                        timing,
                        PretradeInput {
                            timing_tf: tf.parse().unwrap(),
                            ..base.clone()
                        },
                    ),
                ];
                for (name, allowed, input) in cases {
                    let dec = run(strategy, exchange, &input, &RiskSnapshot::default());
                    assert_eq!(
                        outcome(&dec, name),
                        allowed.contains(&tf),
                        "{strategy} {exchange} {name} {tf}"
                    );
                }
            }
        }
    }

    #[test]
    fn binance_liquidity_at_under_over() {
        for (strategy, volume, spread, slippage) in
            [(SwingV1, "50000000", "10", "15"), (IntradayV1, "80000000", "8", "12")]
        {
            let base = good_input(strategy, Binance);
            let (v, s, sl) = (d(volume), d(spread), d(slippage));
            let step = d("0.01");
            let cases = [
                (
                    "liq_volume_24h",
                    PretradeInput {
                        volume_24h_usdt: v,
                        ..base.clone()
                    },
                    true,
                ),
                (
                    "liq_volume_24h",
                    PretradeInput {
                        volume_24h_usdt: v - step,
                        ..base.clone()
                    },
                    false,
                ),
                (
                    "liq_volume_24h",
                    PretradeInput {
                        volume_24h_usdt: v + step,
                        ..base.clone()
                    },
                    true,
                ),
                (
                    "liq_spread_bps",
                    PretradeInput {
                        spread_bps: s,
                        ..base.clone()
                    },
                    true,
                ),
                (
                    "liq_spread_bps",
                    PretradeInput {
                        spread_bps: s - step,
                        ..base.clone()
                    },
                    true,
                ),
                (
                    "liq_spread_bps",
                    PretradeInput {
                        spread_bps: s + step,
                        ..base.clone()
                    },
                    false,
                ),
                (
                    "liq_slippage_bps",
                    PretradeInput {
                        slippage_bps: sl,
                        ..base.clone()
                    },
                    true,
                ),
                (
                    "liq_slippage_bps",
                    PretradeInput {
                        slippage_bps: sl - step,
                        ..base.clone()
                    },
                    true,
                ),
                (
                    "liq_slippage_bps",
                    PretradeInput {
                        slippage_bps: sl + step,
                        ..base.clone()
                    },
                    false,
                ),
            ];
            for (name, input, pass) in cases {
                let dec = run(strategy, Binance, &input, &RiskSnapshot::default());
                assert_eq!(outcome(&dec, name), pass, "{strategy} {name} {input:?}");
                assert_eq!(dec.passed, pass);
            }
        }
    }

    #[test]
    fn ibkr_session_and_event_flags() {
        for strategy in [SwingV1, IntradayV1] {
            let base = good_input(strategy, Ibkr);
            let cases = [
                (
                    "ibkr_in_rth",
                    PretradeInput {
                        in_rth: false,
                        ..base.clone()
                    },
                ),
                (
                    "ibkr_no_macro_block",
                    PretradeInput {
                        macro_event_block: true,
                        ..base.clone()
                    },
                ),
                (
                    "ibkr_no_earnings_24h",
                    PretradeInput {
                        earnings_within_24h: true,
                        ..base.clone()
                    },
                ),
            ];
            for (name, input) in cases {
                let dec = run(strategy, Ibkr, &input, &RiskSnapshot::default());
                assert!(!outcome(&dec, name), "{name}");
                assert!(!dec.passed);
                assert_eq!(dec.checks.iter().filter(|c| !c.passed).count(), 1);
            }
            // the IBKR flags do not matter on BINANCE
            let input = PretradeInput {
                in_rth: false,
                macro_event_block: true,
                earnings_within_24h: true,
                ..good_input(strategy, Binance)
            };
            assert!(run(strategy, Binance, &input, &RiskSnapshot::default()).passed);
        }
    }

    #[test]
    fn generic_checks_use_the_risk_rules() {
        let profile = RiskProfile::model2();
        let input = good_input(SwingV1, Binance);
        let at = |m: i64| Some(now() - chrono::Duration::minutes(m));
        let cases: Vec<(&str, RiskSnapshot, bool)> = vec![
            (
                "daily_stop_not_reached",
                RiskSnapshot {
                    realized_pnl_today: d("-1.50"),
                    ..Default::default()
                },
                false,
            ),
            (
                "daily_stop_not_reached",
                RiskSnapshot {
                    realized_pnl_today: d("-1.49"),
                    ..Default::default()
                },
                true,
            ),
            (
                "daily_stop_not_reached",
                RiskSnapshot {
                    realized_pnl_today: d("-1.51"),
                    ..Default::default()
                },
                false,
            ),
            (
                "max_trades_not_reached",
                RiskSnapshot {
                    trades_today: 3,
                    ..Default::default()
                },
                false,
            ),
            (
                "max_trades_not_reached",
                RiskSnapshot {
                    trades_today: 2,
                    ..Default::default()
                },
                true,
            ),
            (
                "max_trades_not_reached",
                RiskSnapshot {
                    trades_today: 4,
                    ..Default::default()
                },
                false,
            ),
            (
                "max_open_positions_not_reached",
                RiskSnapshot {
                    open_positions: 2,
                    ..Default::default()
                },
                false,
            ),
            (
                "max_open_positions_not_reached",
                RiskSnapshot {
                    open_positions: 1,
                    ..Default::default()
                },
                true,
            ),
            (
                "max_open_positions_not_reached",
                RiskSnapshot {
                    open_positions: 3,
                    ..Default::default()
                },
                false,
            ),
            (
                "cooldown_passed",
                RiskSnapshot {
                    last_trade_at: at(30),
                    ..Default::default()
                },
                true,
            ),
            (
                "cooldown_passed",
                RiskSnapshot {
                    last_trade_at: at(29),
                    ..Default::default()
                },
                false,
            ),
            (
                "cooldown_passed",
                RiskSnapshot {
                    last_trade_at: at(31),
                    ..Default::default()
                },
                true,
            ),
            (
                "cooldown_passed",
                RiskSnapshot {
                    last_trade_at: None,
                    ..Default::default()
                },
                true,
            ),
        ];
        for (name, snap, pass) in cases {
            let ctx = PretradeContext {
                exchange: Binance,
                strategy: StrategyResolution::DEFAULT,
                secret_configured: true,
                profile: &profile,
                snapshot: &snap,
                now: now(),
            };
            let dec = evaluate_pretrade(&input, &ctx);
            assert_eq!(outcome(&dec, name), pass, "{name} {snap:?}");
            assert_eq!(dec.passed, pass);
        }
        // disabled strategy and missing credentials are reported, not refused
        let snap = RiskSnapshot::default();
        let ctx = PretradeContext {
            exchange: Ibkr,
            strategy: StrategyResolution {
                enabled: false,
                ..StrategyResolution::DEFAULT
            },
            secret_configured: false,
            profile: &profile,
            snapshot: &snap,
            now: now(),
        };
        let dec = evaluate_pretrade(&good_input(SwingV1, Ibkr), &ctx);
        assert!(!outcome(&dec, "strategy_enabled"));
        assert!(!outcome(&dec, "exchange_secret_configured"));
        assert_eq!(dec.checks[0].detail, "SWING_V1 (default) is disabled on IBKR");
        assert!(!dec.passed);
    }

    fn exit_input(side: Side, current: &str) -> ExitInput {
        ExitInput {
            side,
            entry_price: d("100"),
            current_price: d(current),
            stop_loss: Some(d(if side == Side::Buy { "95" } else { "105" })),
            take_profit: Some(d(if side == Side::Buy { "110" } else { "90" })),
            opened_minutes: Decimal::ZERO,
            trend_break: false,
            signal_reverse: false,
            macro_event_block: false,
            earnings_within_24h: false,
        }
    }

    fn names(reasons: &[ExitReason]) -> Vec<&'static str> {
        reasons.iter().map(ExitReason::as_str).collect()
    }

    #[test]
    fn stop_and_take_by_side_at_under_over() {
        let table = [
            // side, current, stop hit, take hit
            (Side::Buy, "95", true, false),
            (Side::Buy, "94.99", true, false),
            (Side::Buy, "95.01", false, false),
            (Side::Buy, "110", false, true),
            (Side::Buy, "109.99", false, false),
            (Side::Buy, "110.01", false, true),
            (Side::Sell, "105", true, false),
            (Side::Sell, "105.01", true, false),
            (Side::Sell, "104.99", false, false),
            (Side::Sell, "90", false, true),
            (Side::Sell, "90.01", false, false),
            (Side::Sell, "89.99", false, true),
        ];
        for (side, current, stop, take) in table {
            let dec = evaluate_exit(SwingV1, Binance, &exit_input(side, current));
            assert_eq!(dec.checks[0].passed, stop, "{side} {current} stop");
            assert_eq!(dec.checks[1].passed, take, "{side} {current} take");
            assert_eq!(dec.should_exit, stop || take);
        }
        let mut none = exit_input(Side::Buy, "1");
        none.stop_loss = None;
        none.take_profit = None;
        assert!(!evaluate_exit(SwingV1, Binance, &none).should_exit);
    }

    #[test]
    fn time_limit_by_strategy_at_under_over() {
        for (strategy, limit) in [(SwingV1, 480i64), (IntradayV1, 240)] {
            for exchange in [Binance, Ibkr] {
                for (minutes, hit) in [(limit, true), (limit - 1, false), (limit + 1, true)] {
                    let input = ExitInput {
                        opened_minutes: Decimal::from(minutes),
                        ..exit_input(Side::Buy, "100")
                    };
                    let dec = evaluate_exit(strategy, exchange, &input);
                    assert_eq!(dec.checks[2].name, "exit_time_limit");
                    assert_eq!(dec.checks[2].passed, hit, "{strategy} {exchange} {minutes}");
                    assert_eq!(
                        names(&dec.reasons),
                        if hit { vec!["time_limit_reached"] } else { vec![] }
                    );
                }
            }
        }
    }

    #[test]
    fn flags_event_risk_only_on_ibkr_and_reasons_in_order() {
        let input = ExitInput {
            opened_minutes: Decimal::from(500),
            trend_break: true,
            signal_reverse: true,
            macro_event_block: true,
            earnings_within_24h: true,
            ..exit_input(Side::Buy, "94")
        };
        let dec = evaluate_exit(SwingV1, Ibkr, &input);
        assert_eq!(
            dec.checks.iter().map(|c| c.name).collect::<Vec<_>>(),
            [
                "exit_stop_loss_hit",
                "exit_take_profit_hit",
                "exit_time_limit",
                "exit_trend_break",
                "exit_signal_reverse",
                "exit_event_risk"
            ]
        );
        assert_eq!(
            names(&dec.reasons),
            [
                "stop_loss_hit",
                "time_limit_reached",
                "trend_break",
                "signal_reverse",
                "event_risk_exit"
            ]
        );
        let dec = evaluate_exit(SwingV1, Binance, &input);
        assert_eq!(dec.checks.len(), 5);
        assert!(!names(&dec.reasons).contains(&"event_risk_exit"));
        for (macro_block, earnings) in [(true, false), (false, true)] {
            let input = ExitInput {
                macro_event_block: macro_block,
                earnings_within_24h: earnings,
                ..exit_input(Side::Sell, "100")
            };
            let dec = evaluate_exit(IntradayV1, Ibkr, &input);
            assert_eq!(names(&dec.reasons), ["event_risk_exit"]);
        }
        let dec = evaluate_exit(IntradayV1, Ibkr, &exit_input(Side::Sell, "100"));
        assert!(!dec.should_exit && dec.reasons.is_empty());
    }
}
