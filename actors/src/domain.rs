//! Domain types parsed at the edge: once a request has become one of these, nothing re-checks it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a closed set of upper-case names, parsed case-insensitively and written upper-case.
macro_rules! upper_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let upper = s.trim().to_ascii_uppercase();
                match upper.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "{} must be one of {}",
                        $what,
                        [$($text),+].join(", ")
                    )),
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
                let raw = String::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

upper_enum!(
    /// A venue the daemon trades on.
    Exchange, "exchange", { Binance => "BINANCE", Ibkr => "IBKR" }
);
upper_enum!(
    /// The side of an execution request.
    Side, "side", { Buy => "BUY", Sell => "SELL" }
);
upper_enum!(
    /// A strategy's rule set.
    StrategyId, "strategy_id", { SwingV1 => "SWING_V1", IntradayV1 => "INTRADAY_V1" }
);

/// A user's role; the database holds the truth, tokens only carry a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Trader,
    Admin,
    Service,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Trader => "trader",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trader" => Ok(Role::Trader),
            "admin" => Ok(Role::Admin),
            "service" => Ok(Role::Service),
            other => Err(format!("unknown role {other}")),
        }
    }
}

/// Normalises a market symbol: upper case, separators removed (`btc/usdt` = `BTCUSDT`).
pub fn normalize_symbol(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, '/' | '-' | '_' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// True for the emails the contract's "real user" filter leaves out.
pub fn is_test_email(email: &str) -> bool {
    let e = email.to_ascii_lowercase();
    e.starts_with("smoke.")
        || e.starts_with("disabled_")
        || e.ends_with("@example.com")
        || e.ends_with("@example.invalid")
}

/// True for the emails of service users (bots), which the dashboard hides unless asked.
pub fn is_service_email(email: &str) -> bool {
    email.to_ascii_lowercase().starts_with("ops.bot.")
}

/// A syntactically valid email address (local@domain.tld), kept as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let email = raw.trim();
        let invalid = || "value is not a valid email address".to_string();
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_any_case_and_print_upper() {
        assert_eq!("binance".parse::<Exchange>(), Ok(Exchange::Binance));
        assert_eq!(" Ibkr ".parse::<Exchange>(), Ok(Exchange::Ibkr));
        assert_eq!("sell".parse::<Side>().unwrap().to_string(), "SELL");
        assert_eq!("intraday_v1".parse::<StrategyId>(), Ok(StrategyId::IntradayV1));
        assert!("KRAKEN".parse::<Exchange>().is_err());
    }

    #[test]
    fn symbols_normalise() {
        assert_eq!(normalize_symbol("btc/usdt"), "BTCUSDT");
        assert_eq!(normalize_symbol("ETH-USDT"), "ETHUSDT");
        assert_eq!(normalize_symbol("AAPL"), "AAPL");
    }

    #[test]
    fn emails() {
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("smoke.x@example.invalid").is_ok());
        for bad in ["", "a", "a@b", "@b.co", "a b@c.d", "a@b..c", "a@.b.c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(is_test_email("smoke.a@x.io"));
        assert!(is_test_email("x@EXAMPLE.com"));
        assert!(!is_test_email("trader@desk.io"));
        assert!(is_service_email("ops.bot.1@desk.io"));
    }
}
