//! Failed-login throttling shared by every daemon on the database: an account (lower-cased email)
//! pauses after `account_max` failures within `window`, a client address after `address_max`.
//! Known and unknown emails are treated alike. Only failures are written (one upsert each); a
//! successful login clears its account. The counts live in `login_failures` (store), each key
//! keeping at most `address_max` timestamps, and rows out of the window are pruned regularly.

use std::net::IpAddr;
use std::time::Duration;

use actors::store::{login_failures, Store, StoreError};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    pub account_max: usize,
    pub address_max: usize,
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            account_max: 10,
            address_max: 50,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Seconds until a key with these failures (oldest first) may try again, when `max` of them fall
/// within `window` before `now`.
pub fn blocked_for(failures: &[DateTime<Utc>], max: usize, window: Duration, now: DateTime<Utc>) -> Option<u64> {
    let window = chrono::Duration::from_std(window).ok()?;
    let recent: Vec<&DateTime<Utc>> = failures.iter().filter(|t| now - **t < window).collect();
    if recent.len() < max.max(1) {
        return None;
    }
    // The failure whose expiry brings the count below the limit.
    let deciding = recent[recent.len() - max.max(1)];
    let wait = (window - (now - *deciding)).num_milliseconds().max(0) as f64 / 1000.0;
    Some(wait.ceil().max(1.0) as u64)
}

fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

fn address_key(address: IpAddr) -> String {
    format!("address:{address}")
}

#[derive(Default)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        LoginThrottle { limits }
    }

    pub fn limits(&self) -> ThrottleLimits {
        self.limits
    }

    /// `Ok(Err(seconds))` when the account or the address must wait before trying again.
    pub async fn check(
        &self,
        store: &Store,
        email: &str,
        address: Option<IpAddr>,
    ) -> Result<Result<(), u64>, StoreError> {
        let account = account_key(email);
        let mut keys = vec![account.clone()];
        keys.extend(address.map(address_key));
        let recent = login_failures::recent(store, &keys).await?;
        let limits = self.limits;
        let wait = keys
            .iter()
            .filter_map(|key| {
                let max = match *key == account {
                    true => limits.account_max,
                    false => limits.address_max,
                };
                recent
                    .by_key
                    .get(key)
                    .and_then(|failures| blocked_for(failures, max, limits.window, recent.now))
            })
            .max();
        Ok(wait.map_or(Ok(()), Err))
    }

    /// Counts a wrong password or a wrong code, for the account and the address.
    pub async fn record_failure(&self, store: &Store, email: &str, address: Option<IpAddr>) -> Result<(), StoreError> {
        let mut keys = vec![account_key(email)];
        keys.extend(address.map(address_key));
        let keep = self.limits.account_max.max(self.limits.address_max) as i64;
        login_failures::record(store, &keys, self.limits.window, keep).await
    }

    /// A successful login clears the account's failures.
    pub async fn clear_account(&self, store: &Store, email: &str) -> Result<(), StoreError> {
        login_failures::clear(store, &account_key(email)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_key_pauses_at_its_limit_until_the_deciding_failure_leaves_the_window() {
        let failures = [at(0), at(10), at(20)];
        assert_eq!(blocked_for(&failures[..2], 3, MINUTE, at(25)), None);
        assert_eq!(blocked_for(&failures, 3, MINUTE, at(25)), Some(35));
        assert_eq!(blocked_for(&failures, 3, MINUTE, at(59)), Some(1));
        assert_eq!(
            blocked_for(&failures, 3, MINUTE, at(60)),
            None,
            "the first left the window"
        );
        // With more failures kept than the limit, the wait follows the newest `max` of them.
        let more = [at(0), at(10), at(20), at(30)];
        assert_eq!(blocked_for(&more, 3, MINUTE, at(30)), Some(40));
    }

    #[test]
    fn keys_are_case_insensitive_per_account_and_per_address() {
        assert_eq!(account_key(" A@X.io "), account_key("a@x.io"));
        assert_ne!(account_key("a@x.io"), address_key(IpAddr::from([10, 0, 0, 1])));
    }

    #[test]
    fn the_defaults_are_ten_per_account_and_fifty_per_address_in_fifteen_minutes() {
        let limits = ThrottleLimits::default();
        assert_eq!(
            (limits.account_max, limits.address_max, limits.window),
            (10, 50, Duration::from_secs(900))
        );
    }
}
