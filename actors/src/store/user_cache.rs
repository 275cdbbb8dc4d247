//! A cache of the identities requests authenticate as (id, role, 2FA state), so a request does
//! not pay a database round trip to learn who its token names. It is only trusted while a
//! `LISTEN user_changed` connection is up (the daemon's `ChangeFeed`): the `users` trigger notifies every daemon of each
//! update or delete, and the entry is dropped at once (a demoted admin loses admin routes on
//! the next request). While that connection is down, every lookup goes to the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::changes::ChangeSubscriber;
use super::users::{self, UserRow};
use super::{Store, StoreError};

/// Entries also expire after this long, as a second line of defence.
const TTL: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct UserCache {
    entries: Mutex<HashMap<String, (UserRow, Instant)>>,
    listening: AtomicBool,
    /// Bumped (under the entries lock) by every invalidation: a row read before a bump may be
    /// stale, so it is not cached.
    invalidations: AtomicU64,
}

impl UserCache {
    /// The user with this email (case-insensitive), from the cache when it can be trusted.
    pub async fn get(&self, store: &Store, email: &str) -> Result<Option<UserRow>, StoreError> {
        if self.listening.load(Ordering::Acquire) {
            if let Some((user, at)) = self.lock().get(&email.to_lowercase()) {
                if at.elapsed() < TTL {
                    return Ok(Some(user.clone()));
                }
            }
        }
        // Boxed: the read's future is kilobytes, and inlined it would make every caller's
        // future that large — allocated (and moved) per request even when the cache answers.
        Box::pin(self.refresh(store, email)).await
    }

    /// The user with this email read from the database (never from the cache), and remembered
    /// for the requests that follow — login reads the user this way, so the new token's first
    /// request finds its identity cached.
    pub async fn refresh(&self, store: &Store, email: &str) -> Result<Option<UserRow>, StoreError> {
        let epoch = self.invalidations.load(Ordering::Acquire);
        let user = users::find_by_email(store, email).await?;
        if let Some(user) = &user {
            self.remember(email, user, epoch);
        }
        Ok(user)
    }

    fn remember(&self, email: &str, user: &UserRow, read_at_epoch: u64) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.lock();
        if self.invalidations.load(Ordering::Acquire) != read_at_epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(email.to_lowercase(), (user.clone(), Instant::now()));
    }

    /// Drops the entries past their TTL (a lookup would not use them): an identity read once
    /// does not stay in memory for the life of the process.
    /// Returns how many were dropped.
    pub fn purge_expired(&self) -> usize {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, (_, at)| at.elapsed() < TTL);
        before - entries.len()
    }

    pub fn invalidate(&self, email: &str) {
        let mut entries = self.lock();
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        entries.remove(&email.to_lowercase());
    }

    fn forget_all(&self) {
        self.listening.store(false, Ordering::Release);
        let mut entries = self.lock();
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (UserRow, Instant)>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `user_changed` channel: the `users` trigger (V6) sends the email of each row updated or
/// deleted.
pub const CHANNEL: &str = "user_changed";

impl ChangeSubscriber for UserCache {
    fn notified(&self, email: &str) {
        self.invalidate(email);
    }

    fn connected(&self) {
        self.listening.store(true, Ordering::Release);
    }

    fn disconnected(&self) {
        self.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn user(email: &str) -> UserRow {
        UserRow {
            id: crate::domain::UserId::new(),
            email: email.to_string(),
            password_hash: String::new(),
            display_name: None,
            role: Role::Trader,
            totp_secret: None,
            totp_enabled: false,
            totp_last_step: None,
            sessionless_tokens_revoked_at: None,
        }
    }

    fn cached(cache: &UserCache, email: &str) -> bool {
        cache.lock().contains_key(&email.to_lowercase())
    }

    #[test]
    fn remembers_only_while_listening() {
        let cache = UserCache::default();
        cache.remember("A@x.test", &user("a@x.test"), 0);
        assert!(!cached(&cache, "a@x.test"));
        cache.listening.store(true, Ordering::Release);
        cache.remember("A@x.test", &user("a@x.test"), 0);
        assert!(cached(&cache, "a@x.test"));
    }

    #[test]
    fn purging_drops_only_expired_entries() {
        let cache = UserCache::default();
        cache.listening.store(true, Ordering::Release);
        cache.remember("fresh@x.test", &user("fresh@x.test"), 0);
        let long_ago = Instant::now()
            .checked_sub(TTL + Duration::from_secs(1))
            .expect("the monotonic clock is past the TTL");
        cache.lock().insert("old@x.test".into(), (user("old@x.test"), long_ago));
        assert_eq!(cache.purge_expired(), 1);
        assert!(cached(&cache, "fresh@x.test"));
        assert!(!cached(&cache, "old@x.test"));
    }

    #[test]
    fn a_row_read_before_an_invalidation_is_not_cached() {
        let cache = UserCache::default();
        cache.listening.store(true, Ordering::Release);
        let epoch = cache.invalidations.load(Ordering::Acquire);
        // Another user's change lands while this row is being read: it may have been this one.
        cache.invalidate("b@x.test");
        cache.remember("a@x.test", &user("a@x.test"), epoch);
        assert!(!cached(&cache, "a@x.test"));
        cache.remember(
            "a@x.test",
            &user("a@x.test"),
            cache.invalidations.load(Ordering::Acquire),
        );
        assert!(cached(&cache, "a@x.test"));
        cache.invalidate("A@X.test");
        assert!(!cached(&cache, "a@x.test"));
    }
}
