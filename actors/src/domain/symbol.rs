//! Market symbols.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Normalises a market symbol: upper case, separators removed (`btc/usdt` = `BTCUSDT`).
pub fn normalize_symbol(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, '/' | '-' | '_' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A market symbol as a client wrote it (trimmed): 1–32 letters, digits or `/ - _ .`.
/// Signals and positions keep it as written; markets are matched by [`Symbol::normalized`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Symbol(String);

impl Symbol {
    pub const MAX_LEN: usize = 32;
    pub const RULE: &'static str = "symbol must be 1-32 letters, digits or / - _ .";

    pub fn parse(raw: &str) -> Result<Symbol, &'static str> {
        let symbol = raw.trim();
        let valid = !symbol.is_empty()
            && symbol.len() <= Self::MAX_LEN
            && symbol.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
        if valid {
            Ok(Symbol(symbol.to_string()))
        } else {
            Err(Self::RULE)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Upper case, as sent to an exchange (`btc/usdt` → `BTC/USDT`).
    pub fn upper(&self) -> String {
        self.0.to_ascii_uppercase()
    }

    /// The market key (`btc/usdt` → `BTCUSDT`).
    pub fn normalized(&self) -> String {
        normalize_symbol(&self.0)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Symbol::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Stored symbols were valid when written (or imported as the old service kept them).
super::sql::stored_as!(Symbol, &str, |symbol| symbol.as_str(), |text| Ok::<
    _,
    std::convert::Infallible,
>(Symbol(
    text.to_string()
)));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_normalise() {
        assert_eq!(normalize_symbol("btc/usdt"), "BTCUSDT");
        assert_eq!(normalize_symbol("ETH-USDT"), "ETHUSDT");
        assert_eq!(normalize_symbol("AAPL"), "AAPL");
        let symbol = Symbol::parse(" btc/usdt ").unwrap();
        assert_eq!(symbol.as_str(), "btc/usdt");
        assert_eq!(symbol.upper(), "BTC/USDT");
        assert_eq!(symbol.normalized(), "BTCUSDT");
    }

    #[test]
    fn bad_symbols_are_refused() {
        for bad in ["", "  ", "BTC USDT", "BTC;", &"A".repeat(33)] {
            assert_eq!(Symbol::parse(bad), Err(Symbol::RULE), "{bad:?}");
        }
        assert!(Symbol::parse(&"A".repeat(32)).is_ok());
    }
}
