//! Risk profiles as an admin may set them: the ranges each field must lie in, and which profile
//! applies to a user (a per-user override, then the email settings, then the default).

use rust_decimal::Decimal;
use serde::Serialize;

use crate::rules::risk::{RiskProfile, LOOSE, MODEL2};

/// One side of a range: included or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Open(Decimal),
    Closed(Decimal),
}

impl Bound {
    fn below(self, value: Decimal) -> bool {
        match self {
            Bound::Open(low) => value > low,
            Bound::Closed(low) => value >= low,
        }
    }
    fn above(self, value: Decimal) -> bool {
        match self {
            Bound::Open(high) => value < high,
            Bound::Closed(high) => value <= high,
        }
    }
}

/// The range of one field, as the 422 message states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRange {
    pub field: &'static str,
    low: Bound,
    high: Bound,
}

impl FieldRange {
    const fn new(field: &'static str, low: Bound, high: Bound) -> FieldRange {
        FieldRange { field, low, high }
    }

    pub fn contains(&self, value: Decimal) -> bool {
        self.low.below(value) && self.high.above(value)
    }

    /// The 422's `msg`, e.g. `Input should be in (0, 5]`.
    pub fn message(&self) -> String {
        let (open, low) = match self.low {
            Bound::Open(v) => ('(', v),
            Bound::Closed(v) => ('[', v),
        };
        let (close, high) = match self.high {
            Bound::Open(v) => (')', v),
            Bound::Closed(v) => (']', v),
        };
        format!("Input should be in {open}{low}, {high}{close}")
    }
}

const fn int(n: i64) -> Decimal {
    Decimal::from_parts(n as u32, 0, 0, false, 0)
}

/// The contract's ranges, in the order the fields are checked (and listed).
pub const MAX_RISK_PER_TRADE_PCT: FieldRange =
    FieldRange::new("max_risk_per_trade_pct", Bound::Open(int(0)), Bound::Closed(int(5)));
pub const MAX_DAILY_LOSS_PCT: FieldRange =
    FieldRange::new("max_daily_loss_pct", Bound::Open(int(0)), Bound::Closed(int(20)));
pub const MAX_TRADES_PER_DAY: FieldRange =
    FieldRange::new("max_trades_per_day", Bound::Closed(int(1)), Bound::Closed(int(100)));
pub const MAX_OPEN_POSITIONS: FieldRange =
    FieldRange::new("max_open_positions", Bound::Closed(int(1)), Bound::Closed(int(50)));
pub const COOLDOWN_MINUTES: FieldRange = FieldRange::new(
    "cooldown_between_trades_minutes",
    Bound::Closed(int(0)),
    Bound::Closed(int(1440)),
);
pub const MAX_LEVERAGE: FieldRange = FieldRange::new("max_leverage", Bound::Closed(int(1)), Bound::Closed(int(10)));
pub const MIN_RR: FieldRange = FieldRange::new(
    "min_rr",
    Bound::Closed(Decimal::from_parts(5, 0, 0, false, 1)),
    Bound::Closed(int(10)),
);

/// The numbers of a profile an admin sends (everything but the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileLimits {
    pub max_risk_per_trade_pct: Decimal,
    pub max_daily_loss_pct: Decimal,
    pub max_trades_per_day: i64,
    pub max_open_positions: i64,
    pub cooldown_between_trades_minutes: i64,
    pub max_leverage: Decimal,
    pub stop_loss_required: bool,
    pub min_rr: Decimal,
}

/// A field outside its range: which one, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange {
    pub field: &'static str,
    pub message: String,
}

impl ProfileLimits {
    /// Every field in its range, checked in the contract's order; the first outside is named.
    /// On success, the profile of that name.
    pub fn validate(&self, name: &str) -> Result<RiskProfile, OutOfRange> {
        let checks = [
            (MAX_RISK_PER_TRADE_PCT, self.max_risk_per_trade_pct),
            (MAX_DAILY_LOSS_PCT, self.max_daily_loss_pct),
            (MAX_TRADES_PER_DAY, Decimal::from(self.max_trades_per_day)),
            (MAX_OPEN_POSITIONS, Decimal::from(self.max_open_positions)),
            (COOLDOWN_MINUTES, Decimal::from(self.cooldown_between_trades_minutes)),
            (MAX_LEVERAGE, self.max_leverage),
            (MIN_RR, self.min_rr),
        ];
        if let Some((range, _)) = checks.iter().find(|(range, value)| !range.contains(*value)) {
            return Err(OutOfRange {
                field: range.field,
                message: range.message(),
            });
        }
        // In range, the integers fit an i32 (at most 1440).
        Ok(RiskProfile {
            profile_name: name.to_string(),
            max_risk_per_trade_pct: self.max_risk_per_trade_pct,
            max_daily_loss_pct: self.max_daily_loss_pct,
            max_trades_per_day: self.max_trades_per_day as i32,
            max_open_positions: self.max_open_positions as i32,
            cooldown_between_trades_minutes: self.cooldown_between_trades_minutes as i32,
            max_leverage: self.max_leverage,
            stop_loss_required: self.stop_loss_required,
            min_rr: self.min_rr,
        })
    }
}

/// Where the profile that applies to a user comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileSource {
    /// An admin set one for this user (`PUT /users/{user_id}/risk-profile`).
    Override,
    /// `RISK_PROFILE_MODEL2_EMAIL` or `RISK_PROFILE_LOOSE_EMAIL` names the user's email.
    Email,
    /// Neither: `model2_conservador_productivo`.
    Default,
}

/// The emails the configuration assigns to each profile (`RISK_PROFILE_MODEL2_EMAIL`,
/// `RISK_PROFILE_LOOSE_EMAIL`); the model2 list wins when an email is in both.
#[derive(Debug, Clone, Default)]
pub struct EmailProfiles {
    pub model2_emails: Vec<String>,
    pub loose_emails: Vec<String>,
}

impl EmailProfiles {
    /// The profile the email settings name for `email`, if any (case-insensitive).
    pub fn for_email(&self, email: &str) -> Option<&'static str> {
        let matches = |list: &[String]| list.iter().any(|e| e.eq_ignore_ascii_case(email));
        if matches(&self.model2_emails) {
            Some(MODEL2)
        } else if matches(&self.loose_emails) {
            Some(LOOSE)
        } else {
            None
        }
    }

    /// The name of the profile that applies, and why: override > email settings > default.
    pub fn resolve<'a>(&self, override_name: Option<&'a str>, email: &str) -> (&'a str, ProfileSource) {
        match (override_name, self.for_email(email)) {
            (Some(name), _) => (name, ProfileSource::Override),
            (None, Some(name)) => (name, ProfileSource::Email),
            (None, None) => (MODEL2, ProfileSource::Default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn limits_of(p: &RiskProfile) -> ProfileLimits {
        ProfileLimits {
            max_risk_per_trade_pct: p.max_risk_per_trade_pct,
            max_daily_loss_pct: p.max_daily_loss_pct,
            max_trades_per_day: p.max_trades_per_day.into(),
            max_open_positions: p.max_open_positions.into(),
            cooldown_between_trades_minutes: p.cooldown_between_trades_minutes.into(),
            max_leverage: p.max_leverage,
            stop_loss_required: p.stop_loss_required,
            min_rr: p.min_rr,
        }
    }

    #[test]
    fn the_seeded_profiles_are_in_range() {
        for p in [RiskProfile::model2(), RiskProfile::loose()] {
            assert_eq!(limits_of(&p).validate(&p.profile_name), Ok(p.clone()));
        }
    }

    #[test]
    fn each_bound_is_open_or_closed_as_the_contract_says() {
        let cases: [(FieldRange, &str, &str, &str, &str); 7] = [
            // range, just below, low edge, high edge, just above
            (MAX_RISK_PER_TRADE_PCT, "-0.01", "0", "5", "5.0001"),
            (MAX_DAILY_LOSS_PCT, "-1", "0", "20", "20.01"),
            (MAX_TRADES_PER_DAY, "0", "1", "100", "101"),
            (MAX_OPEN_POSITIONS, "0", "1", "50", "51"),
            (COOLDOWN_MINUTES, "-1", "0", "1440", "1441"),
            (MAX_LEVERAGE, "0.99", "1", "10", "10.01"),
            (MIN_RR, "0.49", "0.5", "10", "10.1"),
        ];
        for (range, below, low, high, above) in cases {
            assert!(!range.contains(d(below)), "{} {below}", range.field);
            assert!(!range.contains(d(above)), "{} {above}", range.field);
            assert!(range.contains(d(high)), "{} {high}", range.field);
            let low_included = !matches!(range.low, Bound::Open(_));
            assert_eq!(range.contains(d(low)), low_included, "{} {low}", range.field);
        }
        assert_eq!(MAX_RISK_PER_TRADE_PCT.message(), "Input should be in (0, 5]");
        assert_eq!(MIN_RR.message(), "Input should be in [0.5, 10]");
        assert_eq!(COOLDOWN_MINUTES.message(), "Input should be in [0, 1440]");
    }

    #[test]
    fn the_first_field_out_of_range_is_named() {
        let mut limits = limits_of(&RiskProfile::model2());
        limits.min_rr = d("0.1");
        limits.max_open_positions = 0;
        let err = limits.validate("x").unwrap_err();
        assert_eq!(err.field, "max_open_positions");
        assert_eq!(err.message, "Input should be in [1, 50]");
        limits.max_open_positions = 50;
        assert_eq!(limits.validate("x").unwrap_err().field, "min_rr");
    }

    #[test]
    fn precedence_is_override_then_email_then_default() {
        let emails = EmailProfiles {
            model2_emails: vec!["both@x.io".into()],
            loose_emails: vec!["Loose@x.io".into(), "both@x.io".into()],
        };
        assert_eq!(emails.resolve(None, "loose@X.io"), (LOOSE, ProfileSource::Email));
        assert_eq!(emails.resolve(None, "both@x.io"), (MODEL2, ProfileSource::Email));
        assert_eq!(emails.resolve(None, "other@x.io"), (MODEL2, ProfileSource::Default));
        assert_eq!(
            emails.resolve(Some("custom"), "loose@x.io"),
            ("custom", ProfileSource::Override)
        );
        assert_eq!(
            emails.resolve(Some(MODEL2), "loose@x.io"),
            (MODEL2, ProfileSource::Override)
        );
        assert_eq!(serde_json::to_value(ProfileSource::Override).unwrap(), "override");
    }

    /// A decimal around a range, with up to 4 decimals.
    fn around() -> impl Strategy<Value = Decimal> {
        (-20_000i64..=20_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest! {
        /// A profile is accepted exactly when every field is in its range; a refusal names a
        /// field that is out of it, and no field checked before it is.
        #[test]
        fn accepted_exactly_when_every_field_is_in_range(
            risk in around(), loss in around(), trades in -5i64..200, open in -5i64..100,
            cooldown in -5i64..3000, leverage in around(), rr in around(), stop in any::<bool>(),
        ) {
            let limits = ProfileLimits {
                max_risk_per_trade_pct: risk,
                max_daily_loss_pct: loss,
                max_trades_per_day: trades,
                max_open_positions: open,
                cooldown_between_trades_minutes: cooldown,
                max_leverage: leverage,
                stop_loss_required: stop,
                min_rr: rr,
            };
            let fields = [
                (MAX_RISK_PER_TRADE_PCT, risk > Decimal::ZERO && risk <= d("5")),
                (MAX_DAILY_LOSS_PCT, loss > Decimal::ZERO && loss <= d("20")),
                (MAX_TRADES_PER_DAY, (1..=100).contains(&trades)),
                (MAX_OPEN_POSITIONS, (1..=50).contains(&open)),
                (COOLDOWN_MINUTES, (0..=1440).contains(&cooldown)),
                (MAX_LEVERAGE, leverage >= d("1") && leverage <= d("10")),
                (MIN_RR, rr >= d("0.5") && rr <= d("10")),
            ];
            match limits.validate("p") {
                Ok(profile) => {
                    prop_assert!(fields.iter().all(|(_, ok)| *ok));
                    prop_assert_eq!(limits_of(&profile), limits);
                }
                Err(err) => {
                    let first_bad = fields.iter().position(|(_, ok)| !*ok);
                    prop_assert!(first_bad.is_some());
                    prop_assert_eq!(err.field, fields[first_bad.unwrap()].0.field);
                }
            }
        }
    }
}
