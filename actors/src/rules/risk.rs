//! Risk profiles, the open-position checks (in the contract's order), PnL and the risk day.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros_free::dec;
use serde::Serialize;

/// The default profile's name.
pub const MODEL2: &str = "model2_conservador_productivo";
/// The looser profile's name.
pub const LOOSE: &str = "modelo_suelto_controlado";

/// A named set of limits. Percentages and money are exact decimals. The profiles live in the
/// database (`risk_profiles`, seeded with [`RiskProfile::model2`] and [`RiskProfile::loose`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskProfile {
    pub profile_name: String,
    pub max_risk_per_trade_pct: Decimal,
    pub max_daily_loss_pct: Decimal,
    pub max_trades_per_day: i32,
    pub max_open_positions: i32,
    pub cooldown_between_trades_minutes: i32,
    pub max_leverage: Decimal,
    pub stop_loss_required: bool,
    pub min_rr: Decimal,
}

impl RiskProfile {
    /// `model2_conservador_productivo`: the default.
    pub fn model2() -> Self {
        RiskProfile {
            profile_name: MODEL2.to_string(),
            max_risk_per_trade_pct: dec(50, 2),
            max_daily_loss_pct: dec(150, 2),
            max_trades_per_day: 3,
            max_open_positions: 2,
            cooldown_between_trades_minutes: 30,
            max_leverage: dec(10, 1),
            stop_loss_required: true,
            min_rr: dec(15, 1),
        }
    }

    /// `modelo_suelto_controlado`: the looser profile.
    pub fn loose() -> Self {
        RiskProfile {
            profile_name: LOOSE.to_string(),
            max_risk_per_trade_pct: dec(75, 2),
            max_daily_loss_pct: dec(200, 2),
            max_trades_per_day: 4,
            max_open_positions: 2,
            cooldown_between_trades_minutes: 20,
            max_leverage: dec(10, 1),
            stop_loss_required: true,
            min_rr: dec(13, 1),
        }
    }

    /// The seeded profile of that name (what the database held before any change).
    pub fn seeded(name: &str) -> Option<RiskProfile> {
        match name {
            MODEL2 => Some(RiskProfile::model2()),
            LOOSE => Some(RiskProfile::loose()),
            _ => None,
        }
    }

    /// The daily stop threshold: −max_daily_loss_pct, in quote currency units (as the old service did).
    pub fn daily_stop(&self) -> Decimal {
        -self.max_daily_loss_pct
    }
}

/// What the open checks look at: the user's state at the moment of the open.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RiskSnapshot {
    pub open_positions: i32,
    pub last_trade_at: Option<DateTime<Utc>>,
    pub trades_today: i32,
    pub realized_pnl_today: Decimal,
}

/// Why an open was refused. `Display` is the contract's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenBlock {
    #[error("Risk block: max open positions reached")]
    MaxOpenPositions,
    #[error("Risk block: cooldown active ({minutes}.0m)")]
    Cooldown { minutes: i32 },
    #[error("Risk block: daily stop reached")]
    DailyStop,
    #[error("Risk block: max trades reached")]
    MaxTrades,
    #[error("Risk block: stop_loss is required by risk profile")]
    StopLossRequired,
    #[error("Risk block: invalid stop_loss distance")]
    InvalidStopDistance,
    /// The amounts in the message are USD with two decimals: the requested risk rounded up and
    /// the maximum rounded down, so the message never reads as if the request fitted.
    #[error(
        "Risk block: risk per trade exceeded (requested={} > max={})",
        usd(.0.requested_risk_amount_usd, RoundingStrategy::AwayFromZero),
        usd(.0.max_risk_amount_usd, RoundingStrategy::ToZero)
    )]
    RiskPerTrade(RiskPerTrade),
    #[error("Risk block: symbol exposure exceeded ({}>{})", .projected.normalize(), .max.normalize())]
    SymbolExposure { projected: Decimal, max: Decimal },
    #[error("Risk block: exchange exposure exceeded ({}>{})", .projected.normalize(), .max.normalize())]
    ExchangeExposure { projected: Decimal, max: Decimal },
}

impl OpenBlock {
    /// The audit action recorded for this block.
    pub fn audit_action(&self) -> &'static str {
        match self {
            OpenBlock::MaxOpenPositions => "position.open.blocked.max_open_positions",
            OpenBlock::Cooldown { .. } => "position.open.blocked.cooldown",
            OpenBlock::DailyStop => "position.open.blocked.daily_stop",
            OpenBlock::MaxTrades => "position.open.blocked.max_trades",
            OpenBlock::StopLossRequired => "position.open.blocked.stop_loss_required",
            OpenBlock::InvalidStopDistance => "position.open.blocked.invalid_stop_distance",
            OpenBlock::RiskPerTrade(_) => "position.open.blocked.risk_per_trade",
            OpenBlock::SymbolExposure { .. } => "position.open.blocked.exposure.symbol_qty",
            OpenBlock::ExchangeExposure { .. } => "position.open.blocked.exposure.exchange_notional",
        }
    }

    /// What the block's audit event records beside the signal and the message.
    pub fn audit_details(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut details = serde_json::Map::new();
        match self {
            OpenBlock::RiskPerTrade(amounts) => {
                let fields = [
                    ("capital_base_usd", amounts.capital_base_usd),
                    ("max_risk_amount_usd", amounts.max_risk_amount_usd),
                    ("requested_risk_amount_usd", amounts.requested_risk_amount_usd),
                    ("max_qty_allowed", amounts.max_qty_allowed),
                ];
                for (name, value) in fields {
                    details.insert(name.into(), serde_json::json!(value.normalize()));
                }
            }
            OpenBlock::SymbolExposure { projected, max } | OpenBlock::ExchangeExposure { projected, max } => {
                details.insert("projected".into(), serde_json::json!(projected.normalize()));
                details.insert("max".into(), serde_json::json!(max.normalize()));
            }
            _ => {}
        }
        details
    }
}

/// A USD amount with two decimals, rounded as `strategy` says.
fn usd(amount: impl std::borrow::Borrow<Decimal>, strategy: RoundingStrategy) -> String {
    format!("{:.2}", amount.borrow().round_dp_with_strategy(2, strategy))
}

/// The amounts of a risk-per-trade judgement (exact; the audit records them as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskPerTrade {
    pub capital_base_usd: Decimal,
    /// capital_base_usd × max_risk_per_trade_pct / 100.
    pub max_risk_amount_usd: Decimal,
    /// |entry − stop_loss| × qty.
    pub requested_risk_amount_usd: Decimal,
    /// The largest quantity the limit admits at this stop distance: max_risk_amount_usd / |entry − stop_loss|.
    pub max_qty_allowed: Decimal,
}

/// The exposure caps of the configuration; `None` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExposureCaps {
    /// `MAX_OPEN_QTY_PER_SYMBOL`: open quantity of one symbol (normalised, `BTC/USDT` = `BTCUSDT`).
    pub max_open_qty_per_symbol: Option<Decimal>,
    /// `MAX_OPEN_NOTIONAL_PER_EXCHANGE`: open qty × entry price on one exchange.
    pub max_open_notional_per_exchange: Option<Decimal>,
}

impl ExposureCaps {
    /// From the configured values, where 0 means off.
    pub fn from_settings(max_open_qty_per_symbol: Decimal, max_open_notional_per_exchange: Decimal) -> Self {
        let on = |cap: Decimal| (cap > Decimal::ZERO).then_some(cap);
        ExposureCaps {
            max_open_qty_per_symbol: on(max_open_qty_per_symbol),
            max_open_notional_per_exchange: on(max_open_notional_per_exchange),
        }
    }
}

/// What the per-trade checks look at: the signal, the requested quantity, the user's capital
/// and what the user already holds open (at the moment of the open, under the user's lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeInput {
    pub entry_price: Decimal,
    pub stop_loss: Option<Decimal>,
    pub qty: Decimal,
    pub capital_base_usd: Decimal,
    /// Quantity already open in the signal's symbol.
    pub open_symbol_qty: Decimal,
    /// qty × entry price already open on the signal's exchange.
    pub open_exchange_notional: Decimal,
}

/// The most a trade may risk: capital_base_usd × max_risk_per_trade_pct / 100.
pub fn max_risk_amount(profile: &RiskProfile, capital_base_usd: Decimal) -> Decimal {
    capital_base_usd * profile.max_risk_per_trade_pct / Decimal::ONE_HUNDRED
}

/// Risk per trade at a stop distance (> 0): the amounts, and whether the quantity exceeds it.
pub fn risk_per_trade(
    profile: &RiskProfile,
    capital_base_usd: Decimal,
    distance: Decimal,
    qty: Decimal,
) -> RiskPerTrade {
    let max_risk_amount_usd = max_risk_amount(profile, capital_base_usd);
    RiskPerTrade {
        capital_base_usd,
        max_risk_amount_usd,
        requested_risk_amount_usd: distance * qty,
        max_qty_allowed: max_risk_amount_usd / distance,
    }
}

/// The checks of one trade after the four limits of [`check_open`], in the contract's order:
/// stop loss required, stop distance, risk per trade, symbol exposure, exchange exposure.
pub fn check_trade(profile: &RiskProfile, caps: &ExposureCaps, t: &TradeInput) -> Result<(), OpenBlock> {
    match t.stop_loss {
        None if profile.stop_loss_required => return Err(OpenBlock::StopLossRequired),
        None => {}
        Some(stop) if stop == t.entry_price => return Err(OpenBlock::InvalidStopDistance),
        Some(stop) => {
            let amounts = risk_per_trade(profile, t.capital_base_usd, (t.entry_price - stop).abs(), t.qty);
            if amounts.requested_risk_amount_usd > amounts.max_risk_amount_usd {
                return Err(OpenBlock::RiskPerTrade(amounts));
            }
        }
    }
    if let Some(max) = caps.max_open_qty_per_symbol {
        let projected = t.open_symbol_qty + t.qty;
        if projected > max {
            return Err(OpenBlock::SymbolExposure { projected, max });
        }
    }
    if let Some(max) = caps.max_open_notional_per_exchange {
        let projected = t.open_exchange_notional + t.qty * t.entry_price;
        if projected > max {
            return Err(OpenBlock::ExchangeExposure { projected, max });
        }
    }
    Ok(())
}

/// True while the cooldown since the latest trade has not passed.
pub fn cooldown_active(profile: &RiskProfile, last_trade_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match last_trade_at {
        None => false,
        Some(last) => now - last < chrono::Duration::minutes(profile.cooldown_between_trades_minutes as i64),
    }
}

/// True once today's realized PnL is at or below the daily stop.
pub fn daily_stop_reached(profile: &RiskProfile, realized_pnl_today: Decimal) -> bool {
    realized_pnl_today <= profile.daily_stop()
}

/// The checks before an open, in the contract's order; the first that fails is the answer.
pub fn check_open(profile: &RiskProfile, state: &RiskSnapshot, now: DateTime<Utc>) -> Result<(), OpenBlock> {
    if state.open_positions >= profile.max_open_positions {
        return Err(OpenBlock::MaxOpenPositions);
    }
    if cooldown_active(profile, state.last_trade_at, now) {
        return Err(OpenBlock::Cooldown {
            minutes: profile.cooldown_between_trades_minutes,
        });
    }
    if daily_stop_reached(profile, state.realized_pnl_today) {
        return Err(OpenBlock::DailyStop);
    }
    if state.trades_today >= profile.max_trades_per_day {
        return Err(OpenBlock::MaxTrades);
    }
    Ok(())
}

/// Realized PnL of a long position: (exit − entry) × qty − fees.
pub fn realized_pnl(entry_price: Decimal, exit_price: Decimal, qty: Decimal, fees: Decimal) -> Decimal {
    (exit_price - entry_price) * qty - fees
}

/// The risk day of an instant: its calendar date in the configured zone.
pub fn risk_day(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// Small constructor so the profile table reads as numbers.
mod rust_decimal_macros_free {
    use rust_decimal::Decimal;
    pub fn dec(mantissa: i64, scale: u32) -> Decimal {
        Decimal::new(mantissa, scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, h, m, 0).unwrap()
    }

    #[test]
    fn checks_follow_contract_order() {
        let p = RiskProfile::model2();
        let now = at(12, 0);
        let everything_bad = RiskSnapshot {
            open_positions: 2,
            last_trade_at: Some(at(11, 50)),
            trades_today: 3,
            realized_pnl_today: Decimal::new(-2, 0),
        };
        assert_eq!(check_open(&p, &everything_bad, now), Err(OpenBlock::MaxOpenPositions));
        let s = RiskSnapshot {
            open_positions: 1,
            ..everything_bad.clone()
        };
        assert_eq!(check_open(&p, &s, now), Err(OpenBlock::Cooldown { minutes: 30 }));
        let s = RiskSnapshot {
            last_trade_at: Some(at(11, 30)),
            ..s
        };
        assert_eq!(check_open(&p, &s, now), Err(OpenBlock::DailyStop));
        let s = RiskSnapshot {
            realized_pnl_today: Decimal::new(-149, 2),
            ..s
        };
        assert_eq!(check_open(&p, &s, now), Err(OpenBlock::MaxTrades));
        let s = RiskSnapshot { trades_today: 2, ..s };
        assert_eq!(check_open(&p, &s, now), Ok(()));
    }

    #[test]
    fn messages_are_the_contract() {
        assert_eq!(
            OpenBlock::Cooldown { minutes: 30 }.to_string(),
            "Risk block: cooldown active (30.0m)"
        );
        assert_eq!(
            OpenBlock::Cooldown { minutes: 20 }.to_string(),
            "Risk block: cooldown active (20.0m)"
        );
        assert_eq!(
            OpenBlock::MaxOpenPositions.to_string(),
            "Risk block: max open positions reached"
        );
        assert_eq!(OpenBlock::DailyStop.to_string(), "Risk block: daily stop reached");
        assert_eq!(OpenBlock::MaxTrades.to_string(), "Risk block: max trades reached");
    }

    #[test]
    fn daily_stop_is_inclusive() {
        let p = RiskProfile::model2();
        assert!(daily_stop_reached(&p, Decimal::new(-150, 2)));
        assert!(!daily_stop_reached(&p, Decimal::new(-149, 2)));
    }

    #[test]
    fn cooldown_ends_exactly_at_the_limit() {
        let p = RiskProfile::loose();
        assert!(cooldown_active(&p, Some(at(11, 41)), at(12, 0)));
        assert!(!cooldown_active(&p, Some(at(11, 40)), at(12, 0)));
        assert!(!cooldown_active(&p, None, at(12, 0)));
    }

    #[test]
    fn pnl() {
        let pnl = realized_pnl(
            Decimal::new(100, 0),
            Decimal::new(110, 0),
            Decimal::new(2, 0),
            Decimal::new(5, 1),
        );
        assert_eq!(pnl, Decimal::new(195, 1));
    }

    #[test]
    fn risk_day_uses_the_zone_not_utc() {
        // 01:00 UTC on the 29th is 20:00 on the 28th in Bogota (UTC-5).
        let day = risk_day(
            Utc.with_ymd_and_hms(2026, 11, 29, 1, 0, 0).unwrap(),
            chrono_tz::America::Bogota,
        );
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// Entry 100, stop 95 (distance 5), capital 10,000: model2 risks at most 50 USD = 10 units.
    fn trade(qty: &str) -> TradeInput {
        TradeInput {
            entry_price: d("100"),
            stop_loss: Some(d("95")),
            qty: d(qty),
            capital_base_usd: d("10000"),
            open_symbol_qty: Decimal::ZERO,
            open_exchange_notional: Decimal::ZERO,
        }
    }

    #[test]
    fn risk_per_trade_admits_up_to_the_maximum_and_says_by_how_much_it_refuses() {
        let p = RiskProfile::model2();
        let off = ExposureCaps::default();
        assert_eq!(check_trade(&p, &off, &trade("10")), Ok(()));
        let Err(OpenBlock::RiskPerTrade(amounts)) = check_trade(&p, &off, &trade("10.5")) else {
            panic!("10.5 × 5 = 52.5 > 50");
        };
        assert_eq!(amounts.capital_base_usd, d("10000"));
        assert_eq!(amounts.max_risk_amount_usd, d("50"));
        assert_eq!(amounts.requested_risk_amount_usd, d("52.5"));
        assert_eq!(amounts.max_qty_allowed, d("10"));
        assert_eq!(
            OpenBlock::RiskPerTrade(amounts).to_string(),
            "Risk block: risk per trade exceeded (requested=52.50 > max=50.00)"
        );
        let details = OpenBlock::RiskPerTrade(amounts).audit_details();
        assert_eq!(details["requested_risk_amount_usd"], serde_json::json!(d("52.5")));
        assert_eq!(details["max_qty_allowed"], serde_json::json!(d("10")));
        // The loose profile risks 0.75 %: 75 USD.
        assert_eq!(check_trade(&RiskProfile::loose(), &off, &trade("15")), Ok(()));
        // A stop above the entry is a distance too.
        let above = TradeInput {
            stop_loss: Some(d("105")),
            ..trade("10.01")
        };
        assert!(matches!(check_trade(&p, &off, &above), Err(OpenBlock::RiskPerTrade(_))));
        // A larger capital admits more.
        let rich = TradeInput {
            capital_base_usd: d("20000"),
            ..trade("20")
        };
        assert_eq!(check_trade(&p, &off, &rich), Ok(()));
    }

    #[test]
    fn the_message_never_reads_as_if_the_request_fitted() {
        let amounts = RiskPerTrade {
            capital_base_usd: d("10000"),
            max_risk_amount_usd: d("50.009"),
            requested_risk_amount_usd: d("50.0091"),
            max_qty_allowed: d("1"),
        };
        assert_eq!(
            OpenBlock::RiskPerTrade(amounts).to_string(),
            "Risk block: risk per trade exceeded (requested=50.01 > max=50.00)"
        );
    }

    #[test]
    fn trade_checks_follow_contract_order() {
        let p = RiskProfile::model2();
        let caps = ExposureCaps::from_settings(d("1"), d("50"));
        let everything_bad = TradeInput {
            stop_loss: None,
            open_symbol_qty: d("1"),
            open_exchange_notional: d("100"),
            ..trade("20")
        };
        assert_eq!(
            check_trade(&p, &caps, &everything_bad),
            Err(OpenBlock::StopLossRequired)
        );
        let t = TradeInput {
            stop_loss: Some(d("100")),
            ..everything_bad
        };
        assert_eq!(check_trade(&p, &caps, &t), Err(OpenBlock::InvalidStopDistance));
        let t = TradeInput {
            stop_loss: Some(d("95")),
            ..t
        };
        assert!(matches!(check_trade(&p, &caps, &t), Err(OpenBlock::RiskPerTrade(_))));
        let t = TradeInput { qty: d("0.4"), ..t };
        assert_eq!(
            check_trade(&p, &caps, &t),
            Err(OpenBlock::SymbolExposure {
                projected: d("1.4"),
                max: d("1")
            })
        );
        let t = TradeInput {
            open_symbol_qty: d("0.5"),
            ..t
        };
        assert_eq!(
            check_trade(&p, &caps, &t),
            Err(OpenBlock::ExchangeExposure {
                projected: d("140"),
                max: d("50")
            })
        );
        let t = TradeInput {
            open_exchange_notional: Decimal::ZERO,
            qty: d("0.5"),
            ..t
        };
        assert_eq!(
            check_trade(&p, &caps, &t),
            Ok(()),
            "1.0 ≤ 1 and 50 ≤ 50: the caps are inclusive"
        );
    }

    #[test]
    fn caps_of_zero_are_off_and_a_profile_may_not_require_a_stop() {
        assert_eq!(
            ExposureCaps::from_settings(Decimal::ZERO, Decimal::ZERO),
            ExposureCaps::default()
        );
        let lax = RiskProfile {
            stop_loss_required: false,
            ..RiskProfile::model2()
        };
        let no_stop = TradeInput {
            stop_loss: None,
            ..trade("1000")
        };
        assert_eq!(check_trade(&lax, &ExposureCaps::default(), &no_stop), Ok(()));
        assert_eq!(
            check_trade(&RiskProfile::model2(), &ExposureCaps::default(), &no_stop),
            Err(OpenBlock::StopLossRequired)
        );
    }

    #[test]
    fn new_messages_and_audits_are_the_contract() {
        assert_eq!(
            OpenBlock::StopLossRequired.to_string(),
            "Risk block: stop_loss is required by risk profile"
        );
        assert_eq!(
            OpenBlock::InvalidStopDistance.to_string(),
            "Risk block: invalid stop_loss distance"
        );
        let symbol = OpenBlock::SymbolExposure {
            projected: d("3.50"),
            max: d("3.0"),
        };
        assert_eq!(symbol.to_string(), "Risk block: symbol exposure exceeded (3.5>3)");
        assert_eq!(symbol.audit_action(), "position.open.blocked.exposure.symbol_qty");
        let exchange = OpenBlock::ExchangeExposure {
            projected: d("1200"),
            max: d("1000"),
        };
        assert_eq!(
            exchange.to_string(),
            "Risk block: exchange exposure exceeded (1200>1000)"
        );
        assert_eq!(
            exchange.audit_action(),
            "position.open.blocked.exposure.exchange_notional"
        );
        assert_eq!(
            OpenBlock::StopLossRequired.audit_action(),
            "position.open.blocked.stop_loss_required"
        );
    }

    mod properties {
        use super::super::*;
        use chrono::TimeZone;
        use proptest::prelude::*;

        fn money() -> impl Strategy<Value = Decimal> {
            (-1_000_000i64..1_000_000, 0u32..6).prop_map(|(m, s)| Decimal::new(m, s))
        }
        fn positive() -> impl Strategy<Value = Decimal> {
            (1i64..1_000_000, 0u32..6).prop_map(|(m, s)| Decimal::new(m, s))
        }
        /// Prices and quantities as the edge admits them, with up to 8 decimals.
        fn up_to(max: i64) -> impl Strategy<Value = Decimal> {
            (0u32..=8).prop_flat_map(move |s| (1..=max * 10i64.pow(s)).prop_map(move |m| Decimal::new(m, s)))
        }
        fn price() -> impl Strategy<Value = Decimal> {
            up_to(10_000_000)
        }
        fn quantity() -> impl Strategy<Value = Decimal> {
            up_to(1_000_000)
        }

        proptest! {
            #[test]
            fn pnl_is_exact_and_fees_only_subtract(entry in positive(), exit in positive(), qty in positive(), fees in positive()) {
                let gross = realized_pnl(entry, exit, qty, Decimal::ZERO);
                let net = realized_pnl(entry, exit, qty, fees);
                prop_assert_eq!(gross - net, fees);
                prop_assert_eq!(gross, (exit - entry) * qty);
                prop_assert_eq!(gross > Decimal::ZERO, exit > entry);
                prop_assert_eq!(gross.is_zero(), exit == entry);
            }

            /// Any sequence of open attempts and closes, at increasing times within one day,
            /// never leaves more than max_open_positions open, never opens inside the cooldown,
            /// after the daily stop, or once max trades are done.
            #[test]
            fn limits_hold_for_any_sequence(
                loose in any::<bool>(),
                steps in proptest::collection::vec((any::<bool>(), 0i64..90, money()), 1..80),
            ) {
                let profile = if loose { RiskProfile::loose() } else { RiskProfile::model2() };
                let mut state = RiskSnapshot::default();
                let mut now = Utc.with_ymd_and_hms(2026, 11, 29, 6, 0, 0).unwrap();
                for (is_open, minutes_later, pnl) in steps {
                    now += chrono::Duration::minutes(minutes_later);
                    if is_open {
                        let before = state.clone();
                        if check_open(&profile, &state, now).is_ok() {
                            prop_assert!(before.open_positions < profile.max_open_positions);
                            prop_assert!(!cooldown_active(&profile, before.last_trade_at, now));
                            prop_assert!(before.realized_pnl_today > profile.daily_stop());
                            prop_assert!(before.trades_today < profile.max_trades_per_day);
                            state.open_positions += 1;
                            state.last_trade_at = Some(now);
                        }
                    } else if state.open_positions > 0 {
                        state.open_positions -= 1;
                        state.trades_today += 1;
                        state.realized_pnl_today += pnl;
                        state.last_trade_at = Some(now);
                    }
                    prop_assert!(state.open_positions <= profile.max_open_positions);
                }
            }

            /// Risk per trade never admits a quantity above `max_qty_allowed`, and admits every
            /// quantity whose risk fits; a refusal's amounts are the judged ones.
            #[test]
            fn risk_per_trade_never_admits_more_than_max_qty_allowed(
                loose in any::<bool>(),
                entry in price(),
                stop in price(),
                qty in quantity(),
                capital in (1i64..=100_000_000_000).prop_map(|m| Decimal::new(m, 2)),
            ) {
                prop_assume!(entry != stop);
                let profile = if loose { RiskProfile::loose() } else { RiskProfile::model2() };
                let input = TradeInput {
                    entry_price: entry,
                    stop_loss: Some(stop),
                    qty,
                    capital_base_usd: capital,
                    open_symbol_qty: Decimal::ZERO,
                    open_exchange_notional: Decimal::ZERO,
                };
                let amounts = risk_per_trade(&profile, capital, (entry - stop).abs(), qty);
                match check_trade(&profile, &ExposureCaps::default(), &input) {
                    Ok(()) => {
                        prop_assert!(qty <= amounts.max_qty_allowed, "{qty} > {}", amounts.max_qty_allowed);
                        prop_assert!(amounts.requested_risk_amount_usd <= amounts.max_risk_amount_usd);
                    }
                    Err(OpenBlock::RiskPerTrade(refused)) => {
                        prop_assert_eq!(refused, amounts);
                        prop_assert!(refused.requested_risk_amount_usd > refused.max_risk_amount_usd);
                    }
                    Err(other) => prop_assert!(false, "unexpected {other:?}"),
                }
            }

            /// Bogota has kept UTC-5 without daylight saving since 1993.
            #[test]
            fn risk_day_is_the_bogota_date(secs in 946_684_800i64..4_102_444_800) {
                let at = Utc.timestamp_opt(secs, 0).unwrap();
                let expected = (at - chrono::Duration::hours(5)).date_naive();
                prop_assert_eq!(risk_day(at, chrono_tz::America::Bogota), expected);
            }
        }
    }
}
