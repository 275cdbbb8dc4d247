//! Which open positions this daemon watches when several share one database. Users are split into
//! [`PARTITIONS`] partitions by their id; a daemon watches the positions of the partitions whose
//! lease it holds (`store::cluster`), so each open position has exactly one watcher while the
//! leases are current. Price ticks reach only the actors of watched users; a position opened or
//! closed through a daemon that does not watch its user is announced to the one that does, in the
//! same commit.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::UserId;
use crate::registry::UserRegistry;
use crate::store::changes::ChangeSubscriber;
use crate::store::cluster::{self as leases, LeaseRound};
use crate::store::Store;

/// How many partitions users are split into (one bit each in a `u32`).
pub const PARTITIONS: u32 = 32;

/// The partition of a user: the low five bits of the id (random in every UUID version). The
/// database computes the same with `user_partition(user_id)` (V20).
pub fn partition_of(user_id: UserId) -> u32 {
    u32::from(user_id.as_uuid().as_bytes()[15]) % PARTITIONS
}

/// The partitions in a mask, lowest first.
pub fn partitions_in(mask: u32) -> Vec<i16> {
    (0..PARTITIONS as i16).filter(|p| mask & (1 << p) != 0).collect()
}

/// The mask of a list of partitions.
pub fn mask_of(partitions: &[i16]) -> u32 {
    partitions
        .iter()
        .filter(|p| (0..PARTITIONS as i16).contains(p))
        .fold(0, |mask, p| mask | (1 << p))
}

/// The partitions this daemon watches now.
pub struct Ownership {
    owned: AtomicU32,
}

/// The payload of a `cluster_changed` notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterEvent {
    /// This user's positions or strategies changed: their watcher reloads the user.
    UserChanged(UserId),
    /// Leases were released (a graceful stop, a rebalance): the others look for work at once.
    Rebalance,
}

/// The channel of [`ClusterEvent`]s.
pub const CHANNEL: &str = "cluster_changed";

impl ClusterEvent {
    pub fn payload(&self) -> String {
        match self {
            ClusterEvent::UserChanged(user_id) => format!("user {user_id}"),
            ClusterEvent::Rebalance => "rebalance".to_string(),
        }
    }

    pub fn parse(payload: &str) -> Option<ClusterEvent> {
        match payload.split_once(' ') {
            Some(("user", user_id)) => user_id.parse().ok().map(ClusterEvent::UserChanged),
            None if payload == "rebalance" => Some(ClusterEvent::Rebalance),
            _ => None,
        }
    }
}

impl Ownership {
    /// Watching nothing until the first lease round.
    pub fn none() -> Arc<Ownership> {
        Arc::new(Ownership {
            owned: AtomicU32::new(0),
        })
    }

    /// Watching every partition, announcing nothing: a daemon alone, tests, benchmarks.
    pub fn everything() -> Arc<Ownership> {
        let ownership = Ownership::none();
        ownership.owned.store(u32::MAX, Ordering::Release);
        ownership
    }

    pub fn watches(&self, user_id: UserId) -> bool {
        self.owned.load(Ordering::Acquire) & (1 << partition_of(user_id)) != 0
    }

    /// Sets the partitions watched; returns (gained, lost) as masks.
    pub fn replace(&self, mask: u32) -> (u32, u32) {
        let before = self.owned.swap(mask, Ordering::AcqRel);
        (mask & !before, before & !mask)
    }
}

/// This daemon's part in the cluster: lease rounds every quarter of `CLUSTER_FAILOVER_SECONDS`
/// (and at once when another daemon lets leases go), with leases lasting half of it, so a dead
/// daemon's partitions are taken within three quarters of it; the actors of the users of each
/// partition gained are (re)loaded, so they watch its positions.
pub struct Cluster {
    store: Store,
    users: UserRegistry,
    ownership: Arc<Ownership>,
    round: LeaseRound,
    /// Whether positions are watched at all (`EXIT_MONITOR_MODE` not `off`).
    watching: bool,
    wake: Notify,
    /// Set when notifications may have been missed: the next round reloads every watched user.
    resync: AtomicBool,
    /// Held by each lease round and by `leave`, so no round started before a graceful stop
    /// commits after it; `left` is set under it, and no round runs after.
    rounds: tokio::sync::Mutex<()>,
    left: AtomicBool,
    me: Weak<Cluster>,
}

impl Cluster {
    pub fn new(
        store: Store,
        users: UserRegistry,
        ownership: Arc<Ownership>,
        node_id: Uuid,
        failover: Duration,
        watching: bool,
    ) -> Arc<Cluster> {
        Arc::new_cyclic(|me| Cluster {
            store,
            users,
            ownership,
            round: LeaseRound {
                node_id,
                started_at: Utc::now(),
                lease: failover / 2,
            },
            watching,
            wake: Notify::new(),
            resync: AtomicBool::new(false),
            rounds: tokio::sync::Mutex::new(()),
            left: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    pub fn node_id(&self) -> Uuid {
        self.round.node_id
    }

    /// How long a lease lasts: a daemon not heard from for this long is dead to the others.
    pub fn lease(&self) -> Duration {
        self.round.lease
    }

    /// Runs the first round now (a daemon alone then watches everything before it serves), then
    /// keeps renewing in the background.
    pub async fn join(&self) -> Result<(), crate::store::StoreError> {
        self.run_round().await?;
        let Some(me) = self.me.upgrade() else {
            return Ok(());
        };
        tokio::spawn(async move {
            let every = me.round.lease / 2;
            let mut last_renewed = Instant::now();
            loop {
                let _ = tokio::time::timeout(every, me.wake.notified()).await;
                if me.left.load(Ordering::Acquire) {
                    return;
                }
                match me.run_round().await {
                    Ok(()) => last_renewed = Instant::now(),
                    Err(err) => {
                        tracing::warn!(error = %err, "cluster lease round failed");
                        // Past its leases' end the others may have taken them: stop watching.
                        if last_renewed.elapsed() >= me.round.lease {
                            me.apply(0).await;
                        }
                    }
                }
            }
        });
        Ok(())
    }

    /// Something the watcher of this user holds changed here (a strategy assignment): reloaded
    /// at once when this daemon watches the user, else announced to the one that does.
    pub fn user_changed(&self, user_id: UserId) {
        if self.ownership.watches(user_id) {
            if self.watching {
                self.users.reload(user_id);
            }
        } else {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(err) = leases::announce(&store, ClusterEvent::UserChanged(user_id)).await {
                    tracing::warn!(%user_id, error = %err, "change not announced to the user's watcher");
                }
            });
        }
    }

    /// A graceful stop: the leases are handed over at once, and not taken again while the
    /// requests in flight finish.
    pub async fn leave(&self) {
        let _round = self.rounds.lock().await;
        self.left.store(true, Ordering::Release);
        self.ownership.replace(0);
        if let Err(err) = leases::leave(&self.store, self.round.node_id).await {
            tracing::warn!(error = %err, "cluster leases not handed over; they lapse instead");
        }
    }

    async fn run_round(&self) -> Result<(), crate::store::StoreError> {
        let _round = self.rounds.lock().await;
        if self.left.load(Ordering::Acquire) {
            return Ok(());
        }
        let held = leases::lease_round(&self.store, &self.round).await?;
        if held.released > 0 {
            tracing::info!(
                released = held.released,
                live_nodes = held.live_nodes,
                "cluster partitions handed over"
            );
        }
        self.apply(mask_of(&held.partitions)).await;
        Ok(())
    }

    /// Watches the partitions of `mask`; the users of those gained (or of all, after missed
    /// notifications) are loaded again.
    async fn apply(&self, mask: u32) {
        let (gained, lost) = self.ownership.replace(mask);
        metrics::gauge!("cluster_partitions_held").set(f64::from(mask.count_ones()));
        if gained != 0 {
            metrics::counter!("cluster_partitions_gained_total").increment(u64::from(gained.count_ones()));
        }
        if lost != 0 {
            metrics::counter!("cluster_partitions_lost_total").increment(u64::from(lost.count_ones()));
            tracing::info!(lost = lost.count_ones(), "cluster partitions lost");
        }
        let reload = if self.resync.swap(false, Ordering::AcqRel) {
            mask
        } else {
            gained
        };
        if reload == 0 || !self.watching {
            return;
        }
        match leases::users_with_open_positions_in(&self.store, &partitions_in(reload)).await {
            Ok(users) => {
                for user_id in users {
                    self.users.reload(user_id);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "users of the partitions taken over not loaded; retrying");
                self.resync.store(true, Ordering::Release);
            }
        }
    }
}

impl ChangeSubscriber for Cluster {
    fn notified(&self, payload: &str) {
        match ClusterEvent::parse(payload) {
            Some(ClusterEvent::UserChanged(user_id)) if self.watching && self.ownership.watches(user_id) => {
                self.users.reload(user_id)
            }
            Some(ClusterEvent::UserChanged(_)) => {}
            Some(ClusterEvent::Rebalance) => self.wake.notify_one(),
            None => tracing::warn!(payload, "unreadable cluster notification"),
        }
    }

    fn connected(&self) {
        self.resync.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn disconnected(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_users_and_masks_round_trip() {
        let mut seen = [0u32; PARTITIONS as usize];
        for _ in 0..3200 {
            seen[partition_of(UserId::new()) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 40), "every partition gets users: {seen:?}");
        assert_eq!(mask_of(&partitions_in(0b1010_0001)), 0b1010_0001);
        assert_eq!(partitions_in(u32::MAX).len(), 32);
        assert_eq!(mask_of(&[40, -1]), 0);
    }

    #[test]
    fn ownership_follows_its_mask() {
        let ownership = Ownership::none();
        let user = UserId::new();
        assert!(!ownership.watches(user));
        let (gained, lost) = ownership.replace(1 << partition_of(user));
        assert_eq!((gained, lost), (1 << partition_of(user), 0));
        assert!(ownership.watches(user));
        assert_eq!(ownership.replace(0), (0, 1 << partition_of(user)));
        assert!(Ownership::everything().watches(user));
    }

    #[test]
    fn events_round_trip_through_their_payload() {
        let user = UserId::new();
        for event in [ClusterEvent::UserChanged(user), ClusterEvent::Rebalance] {
            assert_eq!(ClusterEvent::parse(&event.payload()), Some(event));
        }
        assert_eq!(ClusterEvent::parse("user nope"), None);
        assert_eq!(ClusterEvent::parse("other"), None);
    }
}
