//! Pure rules of the ops dashboard: risk-day windows, rounding, utilization, the overall status
//! and the per-profile productivity roll-up. No I/O; the store gives rows, these give answers.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::Role;

/// The instants that bound one risk day: `[start, end)` in UTC, for the zone's calendar date `day`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayWindow {
    pub day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The first instant of a local date in a zone (the earliest one if midnight repeats,
/// the first existing instant if midnight is skipped by a DST change).
fn start_of(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    match zone.from_local_datetime(&midnight).earliest() {
        Some(t) => t.with_timezone(&Utc),
        // Midnight does not exist that day: DST gaps are at most a couple of hours.
        None => (1..=4)
            .find_map(|h| {
                zone.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&midnight)),
    }
}

impl DayWindow {
    /// The window of a zone's calendar date.
    pub fn of(day: NaiveDate, zone: Tz) -> DayWindow {
        let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
        DayWindow {
            day,
            start: start_of(day, zone),
            end: start_of(next, zone),
        }
    }

    /// The risk day that contains an instant.
    pub fn containing(now: DateTime<Utc>, zone: Tz) -> DayWindow {
        DayWindow::of(super::risk::risk_day(now, zone), zone)
    }

    /// The window `n` days earlier.
    pub fn days_before(&self, n: u64, zone: Tz) -> DayWindow {
        DayWindow::of(self.day.checked_sub_days(Days::new(n)).unwrap_or(self.day), zone)
    }
}

/// Percentages to 2 places (banker's rounding, as the old service's Python `round`).
pub fn round2(value: Decimal) -> Decimal {
    value.round_dp(2).normalize()
}

/// Money sums to 4 places (banker's rounding, as the old service's Python `round`).
pub fn round4(value: Decimal) -> Decimal {
    value.round_dp(4).normalize()
}

/// trades / capacity × 100, to 2 places; 0 when there is no capacity.
pub fn utilization_pct(trades: i64, capacity: i64) -> Decimal {
    if capacity <= 0 {
        return Decimal::ZERO;
    }
    round2(Decimal::from(trades) * Decimal::ONE_HUNDRED / Decimal::from(capacity))
}

/// True when an account must have 2FA and has not: admins and traders (not service accounts).
pub fn missing_2fa(role: Role, two_factor_enabled: bool) -> bool {
    matches!(role, Role::Admin | Role::Trader) && !two_factor_enabled
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    Green,
    Yellow,
    Red,
}

/// Red when any user misses 2FA or has stale secrets; else yellow when any open was blocked
/// today; else green.
pub fn overall_status(
    users_missing_2fa: i64,
    users_with_stale_secrets: i64,
    blocked_opens_today: i64,
) -> OverallStatus {
    if users_missing_2fa > 0 || users_with_stale_secrets > 0 {
        OverallStatus::Red
    } else if blocked_opens_today > 0 {
        OverallStatus::Yellow
    } else {
        OverallStatus::Green
    }
}

/// Why the status is what it is, in the order the rule weighs them (empty when green): a red
/// badge on a fresh install (its development admin has no 2FA yet) says so instead of just red.
pub fn status_reasons(users_missing_2fa: i64, users_with_stale_secrets: i64, blocked_opens_today: i64) -> Vec<String> {
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut reasons = Vec::new();
    if users_missing_2fa > 0 {
        reasons.push(plural(users_missing_2fa, "user without 2FA", "users without 2FA"));
    }
    if users_with_stale_secrets > 0 {
        reasons.push(plural(
            users_with_stale_secrets,
            "user with stale exchange secrets",
            "users with stale exchange secrets",
        ));
    }
    if blocked_opens_today > 0 {
        reasons.push(plural(blocked_opens_today, "open blocked today", "opens blocked today"));
    }
    reasons
}

/// One user's contribution to the productivity table.
#[derive(Debug, Clone)]
pub struct ProfileInput<'a> {
    pub risk_profile: &'a str,
    pub max_trades_per_day: i32,
    pub trades_today: i64,
    pub blocked_open_attempts_today: i64,
    pub realized_pnl_today: Decimal,
}

/// One row of the productivity table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileProductivity {
    pub risk_profile: String,
    pub users_count: i64,
    pub trades_today_total: i64,
    pub blocked_open_attempts_total: i64,
    pub realized_pnl_today_total: Decimal,
    pub avg_realized_pnl_per_user: Decimal,
    pub trades_utilization_pct: Decimal,
}

/// Groups users by risk profile (profiles with at least one user, by profile name).
pub fn profile_productivity<'a>(users: impl IntoIterator<Item = ProfileInput<'a>>) -> Vec<ProfileProductivity> {
    #[derive(Default)]
    struct Acc {
        users: i64,
        trades: i64,
        blocked: i64,
        pnl: Decimal,
        capacity: i64,
    }
    let mut groups: BTreeMap<&str, Acc> = BTreeMap::new();
    for u in users {
        let acc = groups.entry(u.risk_profile).or_default();
        acc.users += 1;
        acc.trades += u.trades_today;
        acc.blocked += u.blocked_open_attempts_today;
        acc.pnl += u.realized_pnl_today;
        acc.capacity += i64::from(u.max_trades_per_day);
    }
    groups
        .into_iter()
        .map(|(name, acc)| ProfileProductivity {
            risk_profile: name.to_string(),
            users_count: acc.users,
            trades_today_total: acc.trades,
            blocked_open_attempts_total: acc.blocked,
            realized_pnl_today_total: round4(acc.pnl),
            avg_realized_pnl_per_user: round4(acc.pnl / Decimal::from(acc.users.max(1))),
            trades_utilization_pct: utilization_pct(acc.trades, acc.capacity),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Bogota;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn bogota_day_window() {
        // 20:00 Bogota on the 28th is 01:00 UTC on the 29th: still the 28th's risk day.
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 1, 0, 0).unwrap();
        let w = DayWindow::containing(now, Bogota);
        assert_eq!(w.day, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
        assert_eq!(w.start, Utc.with_ymd_and_hms(2026, 11, 28, 5, 0, 0).unwrap());
        assert_eq!(w.end, Utc.with_ymd_and_hms(2026, 11, 29, 5, 0, 0).unwrap());
        let earlier = w.days_before(6, Bogota);
        assert_eq!(earlier.day, NaiveDate::from_ymd_opt(2026, 11, 22).unwrap());
    }

    #[test]
    fn dst_zone_days_have_their_real_length() {
        let zone: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08: clocks jump forward; the day lasts 23 hours.
        let w = DayWindow::of(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(), zone);
        assert_eq!((w.end - w.start).num_hours(), 23);
    }

    #[test]
    fn rounding_and_utilization() {
        assert_eq!(utilization_pct(1, 3), d("33.33"));
        assert_eq!(utilization_pct(2, 3), d("66.67"));
        assert_eq!(utilization_pct(3, 3), d("100"));
        assert_eq!(utilization_pct(5, 0), Decimal::ZERO);
        assert_eq!(round4(d("1.234567")), d("1.2346"));
        assert_eq!(round4(d("-0.00005")), d("0"));
        assert_eq!(round2(d("0.125")), d("0.12"));
    }

    #[test]
    fn status_reasons_name_each_finding() {
        assert!(status_reasons(0, 0, 0).is_empty());
        assert_eq!(status_reasons(1, 0, 0), ["1 user without 2FA"]);
        assert_eq!(
            status_reasons(2, 1, 3),
            [
                "2 users without 2FA",
                "1 user with stale exchange secrets",
                "3 opens blocked today"
            ]
        );
        for (missing, stale, blocked) in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0), (3, 2, 1)] {
            let green = overall_status(missing, stale, blocked) == OverallStatus::Green;
            assert_eq!(status_reasons(missing, stale, blocked).is_empty(), green);
        }
    }

    #[test]
    fn status_rule() {
        assert_eq!(overall_status(1, 0, 0), OverallStatus::Red);
        assert_eq!(overall_status(0, 1, 5), OverallStatus::Red);
        assert_eq!(overall_status(0, 0, 1), OverallStatus::Yellow);
        assert_eq!(overall_status(0, 0, 0), OverallStatus::Green);
        assert!(missing_2fa(Role::Trader, false));
        assert!(missing_2fa(Role::Admin, false));
        assert!(!missing_2fa(Role::Service, false));
        assert!(!missing_2fa(Role::Admin, true));
    }

    #[test]
    fn productivity_groups_by_profile() {
        let rows = profile_productivity([
            ProfileInput {
                risk_profile: "b_profile",
                max_trades_per_day: 4,
                trades_today: 1,
                blocked_open_attempts_today: 0,
                realized_pnl_today: d("1.00005"),
            },
            ProfileInput {
                risk_profile: "a_profile",
                max_trades_per_day: 3,
                trades_today: 2,
                blocked_open_attempts_today: 1,
                realized_pnl_today: d("-1"),
            },
            ProfileInput {
                risk_profile: "a_profile",
                max_trades_per_day: 3,
                trades_today: 0,
                blocked_open_attempts_today: 2,
                realized_pnl_today: d("0.5"),
            },
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].risk_profile, "a_profile");
        assert_eq!(rows[0].users_count, 2);
        assert_eq!(rows[0].trades_today_total, 2);
        assert_eq!(rows[0].blocked_open_attempts_total, 3);
        assert_eq!(rows[0].realized_pnl_today_total, d("-0.5"));
        assert_eq!(rows[0].avg_realized_pnl_per_user, d("-0.25"));
        assert_eq!(rows[0].trades_utilization_pct, d("33.33"));
        assert_eq!(rows[1].realized_pnl_today_total, d("1"));
        assert_eq!(rows[1].trades_utilization_pct, d("25"));
    }
}
