//! Quantities, prices and fees as the edge accepts them: exact decimals inside fixed bounds.
//! The one place the bounds live: every route that takes a quantity or a price deserializes it
//! into one of these types (a breach is a 422 naming the field), and past the edge nothing
//! re-checks them. `NaN`, `Infinity` and numbers no decimal can hold do not parse.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

/// The largest quantity accepted: 1,000,000.
pub const MAX_QTY: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// The largest price accepted: 10,000,000.
pub const MAX_PRICE: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);
/// The largest capital base a user may have: 1,000,000,000 USD.
pub const MAX_CAPITAL_BASE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// The largest fee accepted: the largest notional (MAX_QTY × MAX_PRICE = 10^13).
pub const MAX_FEES: Decimal = Decimal::from_parts(1_316_134_912, 2_328, 0, false, 0);

/// How a value outside its bounds is refused (the 422's `msg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfBounds {
    /// Must be > 0 and ≤ the maximum.
    Positive(Decimal),
    /// Must be ≥ 0 and ≤ the maximum.
    NonNegative(Decimal),
}

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutOfBounds::Positive(max) => write!(f, "Input should be greater than 0 and at most {max}"),
            OutOfBounds::NonNegative(max) => {
                write!(f, "Input should be greater than or equal to 0 and at most {max}")
            }
        }
    }
}

impl std::error::Error for OutOfBounds {}

/// The message of a value that is not a finite decimal number.
pub const NOT_A_NUMBER: &str = "Input should be a finite number from -1e28 to 1e28";

/// The largest magnitude the edge takes (a decimal holds up to about 7.9e28).
const LARGEST: Decimal = Decimal::from_parts(268_435_456, 1_042_612_833, 542_101_086, false, 0);

/// The finest digit a decimal holds (`1e-28`); finer digits of a number sent are rounded to it,
/// as a float keeps only so many, so a schema-valid `5e-324` is `0`, not a refusal.
const FINEST_PLACE: u32 = 28;

/// A number's text (`"0.1"`, `"-2"`, `"1.5e-30"`) as a decimal, rounded to `FINEST_PLACE`;
/// `None` when it is not a finite number from -1e28 to 1e28.
pub fn decimal_from_text(text: &str) -> Option<Decimal> {
    let exact = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        text.parse::<Decimal>().ok()
    };
    let value = exact.or_else(|| {
        // Too many places for an exact decimal: the float the text names, rounded.
        let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite())?;
        if value.abs() < 1e-28 {
            return Some(Decimal::ZERO);
        }
        Decimal::from_f64_retain(value).map(|d| d.round_dp(FINEST_PLACE))
    })?;
    (value.abs() <= LARGEST).then_some(value)
}

/// Reads a decimal from a JSON number (exact, through serde_json's arbitrary precision) or
/// from a query or form string, by `decimal_from_text`: `#[serde(deserialize_with = "…")]`
/// on every decimal the edge takes.
pub fn deserialize_decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    // A bare `NaN` is not JSON at all, yet the refusal names the field, as for `"NaN"`.
    deserializer
        .deserialize_any(DecimalVisitor)
        .map_err(|_| serde::de::Error::custom(NOT_A_NUMBER))
}

struct DecimalVisitor;

impl<'de> serde::de::Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a finite number")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Decimal, E> {
        decimal_from_text(text).ok_or_else(|| E::custom(NOT_A_NUMBER))
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(value))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(value))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Decimal, E> {
        self.visit_str(&value.to_string())
    }

    /// serde_json hands an arbitrary-precision number over as a one-entry map.
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Decimal, A::Error> {
        let number = serde_json::Number::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.visit_str(&number.to_string())
    }
}

macro_rules! bounded {
    ($(#[$meta:meta])* $name:ident, $bound:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(Decimal);

        impl $name {
            /// The bound this type enforces.
            pub const BOUND: OutOfBounds = $bound;

            pub fn parse(value: Decimal) -> Result<Self, OutOfBounds> {
                let ok = match Self::BOUND {
                    OutOfBounds::Positive(max) => value > Decimal::ZERO && value <= max,
                    OutOfBounds::NonNegative(max) => value >= Decimal::ZERO && value <= max,
                };
                if ok {
                    Ok($name(value))
                } else {
                    Err(Self::BOUND)
                }
            }

            pub fn get(self) -> Decimal {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = deserialize_decimal(deserializer)?;
                $name::parse(value).map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

bounded!(
    /// A quantity: in (0, 1,000,000].
    Quantity,
    OutOfBounds::Positive(MAX_QTY)
);
bounded!(
    /// A price: in (0, 10,000,000].
    Price,
    OutOfBounds::Positive(MAX_PRICE)
);
bounded!(
    /// A user's capital base in USD (what risk per trade is measured against): in (0, 1,000,000,000].
    CapitalBase,
    OutOfBounds::Positive(MAX_CAPITAL_BASE)
);
bounded!(
    /// Fees paid on a close: in [0, 10^13].
    Fees,
    OutOfBounds::NonNegative(MAX_FEES)
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn digits_finer_than_a_decimal_holds_are_rounded_and_non_numbers_refused() {
        assert_eq!(decimal_from_text("0.1"), Some(d("0.1")));
        assert_eq!(decimal_from_text("1.5e3"), Some(d("1500")));
        assert_eq!(decimal_from_text("5e-324"), Some(Decimal::ZERO));
        assert_eq!(decimal_from_text("-1e-300"), Some(Decimal::ZERO));
        assert_eq!(decimal_from_text("1e-28"), Some(d("0.0000000000000000000000000001")));
        assert_eq!(decimal_from_text("1.5e-28"), Some(d("0.0000000000000000000000000002")));
        assert!(decimal_from_text("1.0000000000000002e-20").is_some_and(|v| v > Decimal::ZERO));
        assert_eq!(LARGEST, d("10000000000000000000000000000"));
        assert_eq!(decimal_from_text("-1e28"), Some(-LARGEST));
        for text in ["NaN", "inf", "-Infinity", "1e400", "1e308", "1.0000001e28", "abc", ""] {
            assert_eq!(decimal_from_text(text), None, "{text}");
        }
    }

    #[test]
    fn json_numbers_and_query_strings_read_alike() {
        #[derive(Deserialize)]
        struct Q {
            qty: Quantity,
            fees: Fees,
        }
        let q: Q = serde_json::from_str(r#"{"qty": 0.30000000000000004, "fees": 5e-324}"#).unwrap();
        assert_eq!((q.qty.get(), q.fees.get()), (d("0.30000000000000004"), Decimal::ZERO));
        let q: Q = serde_urlencoded::from_str("qty=1e-28&fees=0").unwrap();
        assert_eq!(q.qty.get(), d("0.0000000000000000000000000001"));
        assert!(
            serde_json::from_str::<Q>(r#"{"qty": 5e-324, "fees": 0}"#).is_err(),
            "0 is not a quantity"
        );
    }

    #[test]
    fn the_maxima_are_the_contract() {
        assert_eq!(MAX_QTY, d("1000000"));
        assert_eq!(MAX_PRICE, d("10000000"));
        assert_eq!(MAX_FEES, MAX_QTY * MAX_PRICE);
    }

    #[test]
    fn bounds_are_exclusive_at_zero_and_inclusive_at_the_maximum() {
        assert!(Quantity::parse(Decimal::ZERO).is_err());
        assert!(Quantity::parse(d("-1")).is_err());
        assert!(Quantity::parse(d("0.00000001")).is_ok());
        assert!(Quantity::parse(d("1000000")).is_ok());
        assert!(Quantity::parse(d("1000000.0001")).is_err());
        assert!(Price::parse(d("10000000")).is_ok());
        assert!(Price::parse(d("10000000.01")).is_err());
        assert!(Price::parse(Decimal::ZERO).is_err());
        assert!(Fees::parse(Decimal::ZERO).is_ok());
        assert!(Fees::parse(d("-0.01")).is_err());
        assert!(Fees::parse(MAX_FEES).is_ok());
        assert!(CapitalBase::parse(d("1000000000")).is_ok());
        assert!(CapitalBase::parse(d("1000000000.01")).is_err());
        assert!(CapitalBase::parse(Decimal::ZERO).is_err());
    }

    #[test]
    fn json_numbers_and_strings_parse_but_not_nan_or_infinity() {
        let q: Quantity = serde_json::from_str("2.5").unwrap();
        assert_eq!(q.get(), d("2.5"));
        let q: Quantity = serde_json::from_str("\"0.010\"").unwrap();
        assert_eq!(q.get().to_string(), "0.010");
        for bad in [
            "\"NaN\"",
            "\"Infinity\"",
            "\"-Infinity\"",
            "\"inf\"",
            "1e400",
            "null",
            "\"abc\"",
        ] {
            let err = serde_json::from_str::<Price>(bad).unwrap_err().to_string();
            assert!(err.starts_with(NOT_A_NUMBER), "{bad}: {err}");
        }
        let err = serde_json::from_str::<Price>("0").unwrap_err().to_string();
        assert!(
            err.starts_with("Input should be greater than 0 and at most 10000000"),
            "{err}"
        );
        let err = serde_json::from_str::<Quantity>("1000001").unwrap_err().to_string();
        assert!(
            err.starts_with("Input should be greater than 0 and at most 1000000"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn a_parsed_quantity_is_always_within_its_bounds(m in any::<i64>(), s in 0u32..12) {
            let value = Decimal::new(m, s);
            match Quantity::parse(value) {
                Ok(q) => prop_assert!(q.get() > Decimal::ZERO && q.get() <= MAX_QTY),
                Err(_) => prop_assert!(value <= Decimal::ZERO || value > MAX_QTY),
            }
        }
    }
}
