//! The end-of-day summary: at midnight of the risk zone, one Telegram message per user who
//! was active during the day that just ended.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::notifier::{Notification, Notifier};
use crate::rules::risk::risk_day;
use crate::store::summary::daily_summaries;
use crate::store::{Store, StoreError};

/// Queues one summary per active user of `day`; returns how many were queued.
pub async fn send_daily_summaries(
    store: &Store,
    notifier: &Notifier,
    day: NaiveDate,
    zone: Tz,
) -> Result<usize, StoreError> {
    let rows = daily_summaries(store, day, zone).await?;
    let count = rows.len();
    for row in rows {
        notifier.send(Notification::DailySummary {
            user_id: row.user_id,
            email: row.email,
            day: row.day,
            trades: row.trades,
            realized_pnl: row.realized_pnl,
            blocked_opens: row.blocked_opens,
            open_positions: row.open_positions,
            opened_positions: row.opened_positions,
        });
    }
    Ok(count)
}

/// The risk day in progress at `now` and the instant it ends (the next midnight in `zone`).
pub fn day_end(now: DateTime<Utc>, zone: Tz) -> (NaiveDate, DateTime<Utc>) {
    let day = risk_day(now, zone);
    let next = day.succ_opt().unwrap_or(day);
    let midnight = next.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A zone may skip midnight (DST): the day then ends at the first instant of the next day.
    let end = zone
        .from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            (1..=4)
                .filter_map(|h| {
                    zone.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                        .earliest()
                })
                .next()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| now + chrono::Duration::days(1));
    (day, end)
}

/// Sends the summaries at the end of every risk day, forever. Sleeps in slices of at most a
/// minute so a clock change cannot make it miss a midnight by much. A day that ends while the
/// daemon is down gets no summary.
pub async fn run_daily_summaries(store: Store, notifier: Notifier, zone: Tz) {
    let (mut day, mut end) = day_end(Utc::now(), zone);
    loop {
        let now = Utc::now();
        if now >= end {
            match send_daily_summaries(&store, &notifier, day, zone).await {
                Ok(count) => tracing::info!(%day, count, "daily summaries queued"),
                Err(err) => tracing::warn!(%day, error = %err, "daily summaries failed"),
            }
            (day, end) = day_end(now.max(end), zone);
            continue;
        }
        let wait = (end - now).to_std().unwrap_or_default().min(Duration::from_secs(60));
        tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_end_is_next_midnight_in_the_zone() {
        let bogota: Tz = "America/Bogota".parse().unwrap();
        // 2026-03-01 23:30 Bogota = 2026-03-02 04:30 UTC.
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap();
        let (day, end) = day_end(now, bogota);
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 3, 2, 5, 0, 0).unwrap());
        // Exactly at the end, the next day starts.
        let (day, end) = day_end(end, bogota);
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 3, 3, 5, 0, 0).unwrap());
    }

    #[test]
    fn day_end_survives_a_zone_that_skips_midnight() {
        // Chile (America/Santiago) has moved clocks at midnight: 2026-09-06 00:00 does not exist.
        let zone: Tz = "America/Santiago".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 9, 6, 1, 0, 0).unwrap();
        let (day, end) = day_end(now, zone);
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 9, 5).unwrap());
        assert!(end > now && end - now <= chrono::Duration::hours(3), "{end}");
    }
}
