//! Risk profiles, the open-position checks (in the contract's order), PnL and the risk day.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rust_decimal_macros_free::dec;
use serde::Serialize;

/// A named set of limits. Percentages and money are exact decimals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskProfile {
    pub profile_name: &'static str,
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
            profile_name: "model2_conservador_productivo",
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
            profile_name: "modelo_suelto_controlado",
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

    /// The daily stop threshold: −max_daily_loss_pct, in quote currency units (as the old service did).
    pub fn daily_stop(&self) -> Decimal {
        -self.max_daily_loss_pct
    }
}

/// Which profile applies to an email, given the configured profile emails.
#[derive(Debug, Clone, Default)]
pub struct ProfileSelector {
    pub model2_emails: Vec<String>,
    pub loose_emails: Vec<String>,
}

impl ProfileSelector {
    pub fn for_email(&self, email: &str) -> RiskProfile {
        let matches = |list: &[String]| list.iter().any(|e| e.eq_ignore_ascii_case(email));
        if matches(&self.model2_emails) {
            RiskProfile::model2()
        } else if matches(&self.loose_emails) {
            RiskProfile::loose()
        } else {
            RiskProfile::model2()
        }
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
}

impl OpenBlock {
    /// The audit action recorded for this block.
    pub fn audit_action(&self) -> &'static str {
        match self {
            OpenBlock::MaxOpenPositions => "position.open.blocked.max_open_positions",
            OpenBlock::Cooldown { .. } => "position.open.blocked.cooldown",
            OpenBlock::DailyStop => "position.open.blocked.daily_stop",
            OpenBlock::MaxTrades => "position.open.blocked.max_trades",
        }
    }
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

    #[test]
    fn profiles_by_email() {
        let sel = ProfileSelector {
            model2_emails: vec!["a@x.io".into()],
            loose_emails: vec!["B@x.io".into()],
        };
        assert_eq!(sel.for_email("b@X.io").profile_name, "modelo_suelto_controlado");
        assert_eq!(sel.for_email("a@x.io").profile_name, "model2_conservador_productivo");
        assert_eq!(sel.for_email("c@x.io").profile_name, "model2_conservador_productivo");
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
