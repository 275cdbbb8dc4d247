//! Closed sets of names: venues, sides, strategies, lifecycle states, roles, timeframes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::sql::text_column;

/// Declares a closed set of names, parsed case-insensitively and written as given here.
macro_rules! name_set {
    ($(#[$meta:meta])* $name:ident, $what:literal, $case:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().$case();
                match wanted.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("{} must be one of {}", $what, Self::NAMES.join(", "))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }

        text_column!($name);
    };
}

name_set!(
    /// A venue the daemon trades on.
    Exchange, "exchange", to_ascii_uppercase, { Binance => "BINANCE", Ibkr => "IBKR" }
);
name_set!(
    /// The side of an execution request.
    Side, "side", to_ascii_uppercase, { Buy => "BUY", Sell => "SELL" }
);
name_set!(
    /// A strategy's rule set.
    StrategyId, "strategy_id", to_ascii_uppercase, { SwingV1 => "SWING_V1", IntradayV1 => "INTRADAY_V1" }
);
name_set!(
    /// Where a signal is in its life: `CREATED → EXECUTING → OPENED → COMPLETED`.
    SignalStatus, "status", to_ascii_uppercase, {
        Created => "CREATED", Executing => "EXECUTING", Opened => "OPENED", Completed => "COMPLETED",
    }
);
name_set!(
    /// Whether a position is still held.
    PositionStatus, "status", to_ascii_uppercase, { Open => "OPEN", Closed => "CLOSED" }
);
name_set!(
    /// The direction of a position (positions opened from signals are long).
    PositionSide, "side", to_ascii_uppercase, { Long => "LONG", Short => "SHORT" }
);
name_set!(
    /// A user's role; the database holds the truth, tokens only carry a hint.
    Role, "role", to_ascii_lowercase, {
        Trader => "trader", Admin => "admin", Service => "service",
        Operator => "operator", Viewer => "viewer", Disabled => "disabled",
    }
);

name_set!(
    /// Whether trading is allowed, globally or for one user: `REDUCING` takes no new exposure,
    /// `HALTED` nothing new at all (automatic closes pause too). Declared from least to most strict.
    TradingState, "state", to_ascii_uppercase, { Active => "ACTIVE", Reducing => "REDUCING", Halted => "HALTED" }
);

name_set!(
    /// A reason to exit a position, in the contract's order (the derive order is that order).
    ExitReason, "exit_reason", to_ascii_lowercase, {
        StopLossHit => "stop_loss_hit",
        TakeProfitHit => "take_profit_hit",
        TimeLimitReached => "time_limit_reached",
        TrendBreak => "trend_break",
        SignalReverse => "signal_reverse",
        EventRiskExit => "event_risk_exit",
    }
);

impl Side {
    /// The exit rules' side of a position: a long position is closed by selling what was bought.
    pub fn of_position(side: PositionSide) -> Side {
        match side {
            PositionSide::Long => Side::Buy,
            PositionSide::Short => Side::Sell,
        }
    }
}

/// A chart timeframe as the pre-trade check receives it (`4H`, `15M`, …), upper-cased. The
/// strategies name the ones they accept; any other well-formed timeframe is kept as written and
/// simply fails those checks, as the old service's did.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Timeframe {
    M5,
    M15,
    M30,
    H1,
    H4,
    D1,
    Other(String),
}

impl Timeframe {
    /// The longest timeframe text accepted.
    pub const MAX_LEN: usize = 8;

    pub fn as_str(&self) -> &str {
        match self {
            Timeframe::M5 => "5M",
            Timeframe::M15 => "15M",
            Timeframe::M30 => "30M",
            Timeframe::H1 => "1H",
            Timeframe::H4 => "4H",
            Timeframe::D1 => "1D",
            Timeframe::Other(text) => text,
        }
    }
}

impl FromStr for Timeframe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        if upper.is_empty() || upper.len() > Timeframe::MAX_LEN || !upper.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "timeframe must be 1-{} letters or digits, such as 4H or 15M",
                Timeframe::MAX_LEN
            ));
        }
        Ok(match upper.as_str() {
            "5M" => Timeframe::M5,
            "15M" => Timeframe::M15,
            "30M" => Timeframe::M30,
            "1H" => Timeframe::H1,
            "4H" => Timeframe::H4,
            "1D" => Timeframe::D1,
            _ => Timeframe::Other(upper),
        })
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Timeframe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case_and_print_as_the_contract_writes_them() {
        assert_eq!("binance".parse::<Exchange>(), Ok(Exchange::Binance));
        assert_eq!(" Ibkr ".parse::<Exchange>(), Ok(Exchange::Ibkr));
        assert_eq!("sell".parse::<Side>().unwrap().to_string(), "SELL");
        assert_eq!("intraday_v1".parse::<StrategyId>(), Ok(StrategyId::IntradayV1));
        assert_eq!("ADMIN".parse::<Role>(), Ok(Role::Admin));
        assert_eq!(Role::Admin.to_string(), "admin");
        assert_eq!("executing".parse::<SignalStatus>(), Ok(SignalStatus::Executing));
        assert!("KRAKEN".parse::<Exchange>().is_err());
        assert_eq!(
            "KRAKEN".parse::<Exchange>().unwrap_err(),
            "exchange must be one of BINANCE, IBKR"
        );
    }

    #[test]
    fn timeframes_are_upper_cased_and_unknown_ones_kept() {
        assert_eq!("4h".parse::<Timeframe>(), Ok(Timeframe::H4));
        assert_eq!(" 15m ".parse::<Timeframe>(), Ok(Timeframe::M15));
        assert_eq!("2h".parse::<Timeframe>(), Ok(Timeframe::Other("2H".into())));
        assert_eq!("2h".parse::<Timeframe>().unwrap().as_str(), "2H");
        for bad in ["", "4 H", "123456789", "1h;"] {
            assert!(bad.parse::<Timeframe>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_long_position_exits_by_the_buy_rules() {
        assert_eq!(Side::of_position(PositionSide::Long), Side::Buy);
        assert_eq!(Side::of_position(PositionSide::Short), Side::Sell);
    }
}
