//! Failed logins shared by every daemon (migration V17): recent failures per throttled key.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// The database's clock and the recent failures of each asked key that has any.
pub struct RecentFailures {
    pub now: DateTime<Utc>,
    pub by_key: HashMap<String, Vec<DateTime<Utc>>>,
}

const READ: &str = "SELECT now() AS now, k AS key, f.failures FROM unnest($1::text[]) k \
                    LEFT JOIN login_failures f ON f.key = k";
/// Appends a failure to each key, keeping the newest `$3` within the window of `$2` seconds.
const RECORD: &str = "INSERT INTO login_failures AS l (key, failures, last_failure_at) \
     SELECT k, ARRAY[now()], now() FROM unnest($1::text[]) k \
     ON CONFLICT (key) DO UPDATE SET last_failure_at = now(), failures = ( \
         SELECT coalesce(array_agg(t ORDER BY t), '{}') FROM ( \
             SELECT t FROM unnest(l.failures || now()) t \
             WHERE t > now() - make_interval(secs => $2) ORDER BY t DESC LIMIT $3) newest)";
const CLEAR: &str = "DELETE FROM login_failures WHERE key = $1";
const PRUNE: &str = "DELETE FROM login_failures WHERE last_failure_at < now() - make_interval(secs => $1)";

pub async fn recent(store: &Store, keys: &[String]) -> Result<RecentFailures, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(READ).await?;
    let rows = client.query(&stmt, &[&keys]).await?;
    let mut recent = RecentFailures {
        now: Utc::now(),
        by_key: HashMap::new(),
    };
    for row in rows {
        recent.now = row.try_get("now")?;
        if let Some(failures) = row.try_get::<_, Option<Vec<DateTime<Utc>>>>("failures")? {
            recent.by_key.insert(row.try_get("key")?, failures);
        }
    }
    Ok(recent)
}

/// Counts one failure for each key, keeping at most `keep` per key within `window`.
pub async fn record(store: &Store, keys: &[String], window: Duration, keep: i64) -> Result<(), StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(RECORD).await?;
    client.execute(&stmt, &[&keys, &window.as_secs_f64(), &keep]).await?;
    Ok(())
}

pub async fn clear(store: &Store, key: &str) -> Result<(), StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(CLEAR).await?;
    client.execute(&stmt, &[&key]).await?;
    Ok(())
}

/// Removes the keys whose last failure left the window; how many went.
pub async fn prune(store: &Store, window: Duration) -> Result<u64, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(PRUNE).await?;
    Ok(client.execute(&stmt, &[&window.as_secs_f64()]).await?)
}
