//! Failed-login throttling, in memory: an account (lower-cased email) pauses after
//! `account_max` failures within `window`, a client address after `address_max`. Known and
//! unknown emails are treated alike. Only failures are recorded; a successful login clears its
//! account. Memory is bounded: each key keeps at most its limit of timestamps, expired entries
//! are pruned regularly, and the number of keys is capped.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    pub account_max: usize,
    pub address_max: usize,
    pub window: Duration,
    /// Most keys kept per table; beyond it the stalest keys are dropped.
    pub max_keys: usize,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            account_max: 10,
            address_max: 50,
            window: Duration::from_secs(15 * 60),
            max_keys: 100_000,
        }
    }
}

/// Recent failures per key, oldest first, at most `max` of them.
struct Table<K> {
    entries: HashMap<K, VecDeque<Instant>>,
    max: usize,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(max: usize) -> Self {
        Table {
            entries: HashMap::new(),
            max: max.max(1),
        }
    }

    /// Seconds until `key` may try again, when it has reached its limit within the window.
    fn blocked_for(&mut self, key: &K, now: Instant, window: Duration) -> Option<u64> {
        let times = self.entries.get_mut(key)?;
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            times.pop_front();
        }
        if times.is_empty() {
            self.entries.remove(key);
            return None;
        }
        if times.len() < self.max {
            return None;
        }
        let oldest = *times.front()?;
        let wait = window.saturating_sub(now.saturating_duration_since(oldest));
        Some(wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    fn record(&mut self, key: K, now: Instant) {
        let times = self.entries.entry(key).or_default();
        times.push_back(now);
        while times.len() > self.max {
            times.pop_front();
        }
    }

    fn prune(&mut self, now: Instant, window: Duration, max_keys: usize) {
        self.entries
            .retain(|_, times| times.back().is_some_and(|t| now.saturating_duration_since(*t) < window));
        if self.entries.len() > max_keys {
            let mut latest: Vec<(Instant, K)> = self
                .entries
                .iter()
                .filter_map(|(k, times)| times.back().map(|t| (*t, k.clone())))
                .collect();
            latest.sort_by_key(|(t, _)| *t);
            let excess = self.entries.len() - max_keys;
            for (_, key) in latest.into_iter().take(excess) {
                self.entries.remove(&key);
            }
        }
    }
}

struct Inner {
    accounts: Table<String>,
    addresses: Table<IpAddr>,
    records_since_prune: usize,
}

pub struct LoginThrottle {
    limits: ThrottleLimits,
    inner: Mutex<Inner>,
}

/// How many recorded failures between two full prunes.
const PRUNE_EVERY: usize = 1024;

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        LoginThrottle {
            limits,
            inner: Mutex::new(Inner {
                accounts: Table::new(limits.account_max),
                addresses: Table::new(limits.address_max),
                records_since_prune: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update; the tables stay usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(seconds)` when the account or the address must wait before trying again.
    pub fn check(&self, email: &str, address: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let account = email.trim().to_lowercase();
        let window = self.limits.window;
        let mut inner = self.lock();
        let by_account = inner.accounts.blocked_for(&account, now, window);
        let by_address = address.and_then(|a| inner.addresses.blocked_for(&a, now, window));
        match by_account.max(by_address) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a wrong password or a wrong code.
    pub fn record_failure(&self, email: &str, address: Option<IpAddr>, now: Instant) {
        let account = email.trim().to_lowercase();
        let limits = self.limits;
        let mut inner = self.lock();
        inner.accounts.record(account, now);
        if let Some(address) = address {
            inner.addresses.record(address, now);
        }
        inner.records_since_prune += 1;
        let over = inner.accounts.entries.len() > limits.max_keys || inner.addresses.entries.len() > limits.max_keys;
        if inner.records_since_prune >= PRUNE_EVERY || over {
            inner.records_since_prune = 0;
            inner.accounts.prune(now, limits.window, limits.max_keys);
            inner.addresses.prune(now, limits.window, limits.max_keys);
        }
    }

    /// A successful login clears the account's failures.
    pub fn clear_account(&self, email: &str) {
        let account = email.trim().to_lowercase();
        self.lock().accounts.entries.remove(&account);
    }

    /// Keys currently held (accounts, addresses), for tests and metrics.
    pub fn tracked(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.accounts.entries.len(), inner.addresses.entries.len())
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(ThrottleLimits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            account_max: 3,
            address_max: 5,
            window: Duration::from_secs(60),
            max_keys: 4,
        })
    }

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn account_pauses_after_its_limit_case_insensitively() {
        let t = small();
        let now = Instant::now();
        for i in 0..3 {
            assert_eq!(t.check("A@x.io", ip(i), now), Ok(()));
            t.record_failure(if i % 2 == 0 { "a@X.io" } else { "A@x.io" }, ip(i), now);
        }
        assert_eq!(t.check("a@x.io", ip(9), now), Err(60));
        assert_eq!(t.check("other@x.io", ip(9), now), Ok(()));
    }

    #[test]
    fn retry_after_counts_down_and_window_expires() {
        let t = small();
        let start = Instant::now();
        for i in 0..3u64 {
            t.record_failure("a@x.io", None, start + Duration::from_secs(i * 10));
        }
        let later = start + Duration::from_secs(25);
        assert_eq!(t.check("a@x.io", None, later), Err(35));
        assert_eq!(t.check("a@x.io", None, start + Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn address_pauses_across_emails_known_or_not() {
        let t = small();
        let now = Instant::now();
        for i in 0..5 {
            t.record_failure(&format!("u{i}@x.io"), ip(1), now);
        }
        assert_eq!(t.check("fresh@x.io", ip(1), now), Err(60));
        assert_eq!(t.check("fresh@x.io", ip(2), now), Ok(()));
        assert_eq!(t.check("fresh@x.io", None, now), Ok(()));
    }

    #[test]
    fn success_clears_the_account_only() {
        let t = small();
        let now = Instant::now();
        for _ in 0..3 {
            t.record_failure("a@x.io", ip(1), now);
        }
        t.clear_account("A@X.IO");
        assert_eq!(t.check("a@x.io", ip(2), now), Ok(()));
        for i in 0..2 {
            t.record_failure(&format!("b{i}@x.io"), ip(1), now);
        }
        assert_eq!(t.check("a@x.io", ip(1), now), Err(60));
    }

    #[test]
    fn memory_is_bounded() {
        let t = small();
        let now = Instant::now();
        for i in 0..50u8 {
            t.record_failure(&format!("spray{i}@x.io"), ip(i), now + Duration::from_millis(i as u64));
        }
        let (accounts, addresses) = t.tracked();
        assert!(accounts <= 5 && addresses <= 5, "{accounts} {addresses}");
        // The most recent keys survive.
        for _ in 0..2 {
            t.record_failure("spray49@x.io", None, now + Duration::from_millis(60));
        }
        assert_eq!(t.check("spray49@x.io", None, now + Duration::from_millis(61)), Err(60));
        // Expired entries go at the next prune.
        let much_later = now + Duration::from_secs(3600);
        t.record_failure("late@x.io", None, much_later);
        for _ in 0..PRUNE_EVERY {
            t.record_failure("late@x.io", None, much_later);
        }
        assert_eq!(t.tracked().0, 1);
    }
}
